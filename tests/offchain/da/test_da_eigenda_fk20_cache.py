"""The on-disk cache of FK20 Toeplitz tables (KernelFK20, Encoder(table_cache=...)): a second encoder
loads the table instead of rebuilding it and gives the same proofs; a truncated, altered or foreign file
is ignored with a warning and rebuilt; a file whose digest was recomputed over altered points is still
rejected (every point is checked on import)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from offchain import native
from offchain.crypto import bn254
from offchain.da.cli import options
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.fk20 import TABLE_MAGIC
from offchain.da.eigenda.params import EncodingParams
from offchain.da.srs import insecure_test_srs

pytestmark = pytest.mark.skipif(not native.enabled(), reason="the table cache belongs to the kernel path")

N = 64
PARAMS = EncodingParams(N, num_chunks=128, coding_rate=8)  # L = 4, m = 16


@pytest.fixture(scope="module")
def srs():
    return insecure_test_srs(N, with_g2=False)


@pytest.fixture(scope="module")
def coeffs(srs):
    enc = Encoder(srs)
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 256, size=(N, 32), dtype=np.uint8)
    raw[:, 0] = 0
    return enc.c.fr.from_bytes(raw)


def _proofs(enc, coeffs) -> bytes:
    return bn254.g1_compress(enc.proofs(coeffs, PARAMS))


def _no_rebuild(enc, monkeypatch):
    k = enc.kernel()

    def boom(*a, **kw):
        raise AssertionError("the table was rebuilt instead of loaded")

    monkeypatch.setattr(k.K, "fft", boom)


def test_table_cache_round_trip(srs, coeffs, tmp_path: Path, monkeypatch) -> None:
    want = _proofs(Encoder(srs), coeffs)  # no cache
    first = Encoder(srs, table_cache=str(tmp_path))
    assert first.kernel().toeplitz_table(PARAMS) is not None
    files = list(tmp_path.glob("fk20-bn254-*-n64-L4.bin"))
    assert len(files) == 1 and files[0].read_bytes().startswith(TABLE_MAGIC)
    second = Encoder(srs, table_cache=str(tmp_path))
    # a loaded table needs no G1 FFT: make any FFT call fail, then build only the table
    k = second.kernel()
    real_fft = k.K.fft
    _no_rebuild(second, monkeypatch)
    table = k.toeplitz_table(PARAMS)
    monkeypatch.setattr(k.K, "fft", real_fft)
    assert table.shape == (2 * PARAMS.rows, PARAMS.chunk_length, 3, 4)
    assert _proofs(second, coeffs) == want
    # another SRS gets its own file
    Encoder(insecure_test_srs(N, secret=7, with_g2=False), table_cache=str(tmp_path)).kernel().toeplitz_table(
        PARAMS
    )
    assert len(list(tmp_path.glob("fk20-bn254-*-n64-L4.bin"))) == 2


def _corrupt_cases(data: bytes) -> dict[str, bytes]:
    head = len(TABLE_MAGIC) + 24
    body = bytearray(data[head + 32 :])
    body[5] ^= 1  # a coordinate bit, digest kept: digest mismatch
    altered = bytes(body)
    # the same altered body with its digest recomputed: only the point check can catch it
    resigned = data[:head] + hashlib.sha256(altered).digest() + altered
    return {
        "truncated": data[:-7],
        "altered": data[: head + 32] + altered,
        "resigned": resigned,
        "magic": b"XXXXXXXX" + data[8:],
        "header": data[: len(TABLE_MAGIC)] + (999).to_bytes(8, "little") + data[len(TABLE_MAGIC) + 8 :],
    }


@pytest.mark.parametrize("case", ["truncated", "altered", "resigned", "magic", "header"])
def test_table_cache_rejects_bad_files(srs, coeffs, tmp_path: Path, case: str) -> None:
    want = _proofs(Encoder(srs), coeffs)
    Encoder(srs, table_cache=str(tmp_path)).kernel().toeplitz_table(PARAMS)
    (path,) = tmp_path.glob("fk20-*.bin")
    good = path.read_bytes()
    path.write_bytes(_corrupt_cases(good)[case])
    enc = Encoder(srs, table_cache=str(tmp_path))
    with pytest.warns(RuntimeWarning, match="ignoring the FK20 table cache"):
        got = _proofs(enc, coeffs)
    assert got == want
    assert path.read_bytes() == good  # rebuilt and rewritten


def test_table_cache_unwritable_dir_still_encodes(srs, coeffs, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    enc = Encoder(srs, table_cache=str(blocker / "sub"))
    with pytest.warns(RuntimeWarning, match="could not write the FK20 table cache"):
        got = _proofs(enc, coeffs)
    assert got == _proofs(Encoder(srs), coeffs)


def test_cli_table_cache_setting(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EIGEN_DA_CACHE", "off")
    assert options.table_cache_dir() is None
    monkeypatch.setenv("EIGEN_DA_CACHE", str(tmp_path))
    assert options.table_cache_dir() == str(tmp_path)
    monkeypatch.delenv("EIGEN_DA_CACHE")
    assert options.table_cache_dir().endswith(".cache/da")
