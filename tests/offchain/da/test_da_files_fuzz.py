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
