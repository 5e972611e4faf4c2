"""Decoding arbitrary bytes never crashes: every on-disk format of the DA commands (frames files, EigenDA
bundles, PeerDAS cells files, FK20 table cache files) either parses or raises its typed error."""

from __future__ import annotations

import functools
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from offchain.da.errors import CellFileError, FrameFileError
from offchain.da.files import bundle_bytes, parse_bundle, read_cells, read_frames
from offchain.errors import DAError

_TMP = Path(tempfile.mkdtemp(prefix="eigen-da-fuzz-"))


def _write(name: str, data: bytes) -> Path:
    p = _TMP / name
    p.write_bytes(data)
    return p


def _valid_bundle() -> bytes:
    coeffs = np.arange(2 * 4 * 32, dtype=np.uint8).reshape(2, 4, 32)
    return bundle_bytes(4, bytes(64), coeffs)


@given(st.binary(max_size=600))
def test_bundle_parsing_never_crashes(data: bytes) -> None:
    try:
        L, proofs, coeffs = parse_bundle(data)
    except FrameFileError:
        return
    assert coeffs.shape == (len(proofs) // 32, L, 32) and len(data) == 8 + len(proofs) + coeffs.size


@given(st.integers(0, 8 + 2 * 160 - 1), st.integers(0, 255))
def test_bundle_single_byte_changes(pos: int, val: int) -> None:
    data = bytearray(_valid_bundle())
    data[pos] = val
    try:
        L, proofs, coeffs = parse_bundle(bytes(data))
    except FrameFileError:
        assert pos < 8  # only the header can make a well-sized bundle unreadable
        return
    assert L * 32 + 32 == (len(data) - 8) // coeffs.shape[0]


# (reader, file name, its error, plausible headers to start from: arbitrary tails after a valid start)
_READERS = [
    (
        read_frames,
        "frames.bin",
        FrameFileError,
        [b"", b"EDAF\x01", b"EDAF\x01\x00\x00\x00\x01\x00\x00\x00\x01"],
    ),
    (read_cells, "cells.bin", CellFileError, [b"", b"EPDC", b"EPDC\x01\x00\x00\x00\x01"]),
]


@given(st.data())
def test_chunk_files_never_crash(data: st.DataObject) -> None:
    read, name, error, heads = data.draw(st.sampled_from(_READERS))
    blob = data.draw(st.sampled_from(heads)) + data.draw(st.binary(max_size=400))
    try:
        read(_write(name, blob))
    except error:
        pass


@given(st.binary(max_size=200))
def test_table_cache_file_never_crashes(body: bytes) -> None:
    """A cache file of arbitrary content is reported (TableCacheError or a kernel import error) and the
    encoder falls back to building the table; here only the reader is exercised."""
    from offchain import native
    from offchain.da.eigenda.fk20 import TABLE_MAGIC
    from offchain.da.errors import TableCacheError

    if not native.enabled():
        return
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.eigenda.params import EncodingParams
    from offchain.da.srs import insecure_test_srs

    enc = _encoder(Encoder, insecure_test_srs)
    params = EncodingParams(8, num_chunks=16, coding_rate=2)
    data = (
        TABLE_MAGIC
        + struct.pack("<QQQ", 8, params.chunk_length, 2 * params.rows * params.chunk_length)
        + body
    )
    try:
        enc.kernel()._read_table(_write("table.bin", data), params)
    except (TableCacheError, native.NativeError):
        pass


@functools.lru_cache(maxsize=1)
def _encoder(Encoder, insecure_test_srs):  # noqa: N803 - classes passed in to keep imports lazy
    return Encoder(insecure_test_srs(8, with_g2=False))


def test_errors_are_da_errors() -> None:
    assert issubclass(FrameFileError, DAError) and issubclass(CellFileError, DAError)


# ----- frames headers: every degenerate header is a FrameFileError ------------------------------
def _frames(L: int, K: int, index: list[int] | None = None) -> bytes:
    from offchain.da.files import write_frames

    idx = np.array(index if index is not None else range(K), dtype=np.int64)
    coeffs = np.arange(K * L * 32, dtype=np.uint64).astype(np.uint8).reshape(K, L, 32)
    p = _TMP / "valid-frames.bin"
    write_frames(p, L, idx, bytes(32 * K), coeffs)
    return p.read_bytes()


def _header(L: int, K: int) -> bytes:
    return b"EDAF\x01" + L.to_bytes(4, "big") + K.to_bytes(4, "big")


def test_frames_zero_records_is_a_typed_error() -> None:
    """A header declaring zero chunks (nothing to verify) is refused, not read as an empty set."""
    import pytest

    for L in (1, 2, 1 << 15):
        with pytest.raises(FrameFileError, match="chunk count 0"):
            read_frames(_write("frames.bin", _header(L, 0)))


_INTERESTING = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    1 << 13,
    (1 << 13) + 1,
    1 << 15,
    (1 << 15) + 1,
    (1 << 31),
    (1 << 32) - 1,
]


@given(
    st.sampled_from(_INTERESTING) | st.integers(0, (1 << 32) - 1), st.sampled_from(_INTERESTING), st.data()
)
def test_frames_header_values(L: int, K: int, data: st.DataObject) -> None:
    """Any (L, K) in the header, with a body sized for it (when small enough) or not: either a well-formed
    chunk set (1 <= K <= 8192, L a power of two <= 2^15) or FrameFileError."""
    size = 4 + 32 + 32 * L
    fits = 0 < K * size <= 1 << 16
    body_len = data.draw(
        st.sampled_from([K * size, K * size + 1, max(K * size - 1, 0), 0]) if fits else st.just(0)
    )
    body = bytearray(body_len)
    for k in range(min(K, body_len // size)):  # distinct indices where records are whole
        body[k * size : k * size + 4] = k.to_bytes(4, "big")
    try:
        cs = read_frames(_write("frames.bin", _header(L, K) + bytes(body)))
    except FrameFileError:
        return
    assert 1 <= cs.index.size <= 8192 and cs.L == L and L & (L - 1) == 0 and L <= 1 << 15
    assert cs.coeffs.shape == (cs.index.size, L, 32) and len(cs.proofs) == 32 * cs.index.size


@given(st.integers(0, 12), st.integers(1, 255))
def test_frames_header_byte_mutations(pos: int, xor: int) -> None:
    """Any change to a header byte of a valid file is refused: magic, version, or a chunk length / count
    that no longer matches the body."""
    good = bytearray(_frames(2, 3))
    good[pos] ^= xor
    try:
        read_frames(_write("frames.bin", bytes(good)))
    except FrameFileError:
        return
    raise AssertionError(f"header byte {pos} ^ {xor:#x} still read as a frames file")


@given(st.integers(0, 2), st.integers(8192, (1 << 32) - 1))
def test_frames_index_out_of_range(record: int, index: int) -> None:
    import pytest

    data = bytearray(_frames(1, 3))
    off = 13 + record * (4 + 32 + 32)
    data[off : off + 4] = index.to_bytes(4, "big")
    with pytest.raises(FrameFileError, match="chunk index"):
        read_frames(_write("frames.bin", bytes(data)))
