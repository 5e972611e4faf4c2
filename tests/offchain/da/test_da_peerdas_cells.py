"""PeerDAS mode (BLS12-381, EIP-7594) differential tests against ckzg with the real Ethereum setup."""

from pathlib import Path

import ckzg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain import native
from offchain import settings as eigen_settings
from offchain.da.errors import PeerDASError
from offchain.da.peerdas.cells import PeerDAS, load_trusted_setup


def _setup_path() -> str:
    import eth

    p = Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt"
    if not p.exists():
        pytest.skip(f"Ethereum trusted setup not found at {p}")
    return str(p)


@pytest.fixture(scope="module")
def ckzg_setup():
    return ckzg.load_trusted_setup(_setup_path(), 0)


@pytest.fixture(scope="module")
def pd() -> PeerDAS:
    return PeerDAS(load_trusted_setup(_setup_path(), g1_count=64))


def _blob(seed: int) -> bytes:
    raw = np.random.default_rng(seed).integers(0, 256, size=(4096, 32), dtype=np.uint8)
    raw[:, 0] &= 0x1F  # below r
    return raw.tobytes()


@pytest.fixture(scope="module")
def ref(ckzg_setup):
    blob = _blob(1)
    cells, proofs = ckzg.compute_cells_and_kzg_proofs(blob, ckzg_setup)
    return blob, ckzg.blob_to_kzg_commitment(blob, ckzg_setup), list(cells), list(proofs)


@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1))
def test_da_peerdas_cells_match_ckzg(pd: PeerDAS, ckzg_setup, seed: int) -> None:
    blob = _blob(seed)
    assert pd.compute_cells(blob) == list(ckzg.compute_cells(blob, ckzg_setup))


def test_da_peerdas_verifies_ckzg_cells(pd: PeerDAS, ref) -> None:
    _, com, cells, proofs = ref
    idx = [0, 9, 64, 127]
    assert pd.verify_cell_kzg_proof_batch([com] * 4, idx, [cells[i] for i in idx], [proofs[i] for i in idx])
    bad = bytearray(cells[9])
    bad[100] ^= 1
    args = [[com] * 4, idx, [cells[0], bytes(bad), cells[64], cells[127]], [proofs[i] for i in idx]]
    assert not pd.verify_cell_kzg_proof_batch(*args)
    assert not ckzg.verify_cell_kzg_proof_batch(*args, ckzg.load_trusted_setup(_setup_path(), 0))
    with pytest.raises(PeerDASError):
        pd.verify_cell_kzg_proof_batch([com], [200], [cells[0]], [proofs[0]])


@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(0, 64))
def test_da_peerdas_recovery_random_erasures(pd: PeerDAS, ref, seed: int, extra: int) -> None:
    _, _, cells, _ = ref
    sel = sorted(np.random.default_rng(seed).choice(128, 64 + extra, replace=False).tolist())
    assert pd.cells_from_coeffs(pd.recover_coeffs(sel, [cells[i] for i in sel])) == cells


def test_da_peerdas_input_errors(pd: PeerDAS) -> None:
    with pytest.raises(PeerDASError, match="blob must be"):
        pd.blob_to_coeffs(b"\x00" * 100)
    with pytest.raises(PeerDASError, match="canonical"):
        pd.blob_to_coeffs(b"\xff" * 32 * 4096)
    with pytest.raises(PeerDASError, match="bytes"):
        pd.cells_to_frames(np.array([0]), [b"\x00" * 10])


@((lambda f: f) if native.enabled() else pytest.mark.slow)
@pytest.mark.skipif(
    not native.enabled() and not eigen_settings.slow_tests(),
    reason="long run (~2 min of FK20 on the array code): set EIGEN_SLOW=1 (fast with the native kernel)",
)
def test_da_peerdas_proofs_and_recovery_byte_identical(ckzg_setup) -> None:
    full = PeerDAS(load_trusted_setup(_setup_path()))
    blob = _blob(7)
    cells, proofs = ckzg.compute_cells_and_kzg_proofs(blob, ckzg_setup)
    assert full.commitment(blob) == ckzg.blob_to_kzg_commitment(blob, ckzg_setup)
    assert full.compute_cells_and_kzg_proofs(blob) == (list(cells), list(proofs))
    sel = list(range(0, 128, 2))
    rc, rp = ckzg.recover_cells_and_kzg_proofs(sel, [cells[i] for i in sel], ckzg_setup)
    assert full.recover_cells_and_kzg_proofs(sel, [cells[i] for i in sel]) == (list(rc), list(rp))
