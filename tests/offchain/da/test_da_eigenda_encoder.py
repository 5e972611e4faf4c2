"""KZG commitments, RS chunks, FK20 proofs, verification and recovery: EigenDA vectors and properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain import native
from offchain import settings as eigen_settings
from offchain.crypto import bn254
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import EncodingParams, Sample
from offchain.da.errors import EncodingError, RecoveryError, SRSError, VerificationError
from offchain.da.srs import SRS, insecure_test_srs, load_eigenda_srs, load_g1
from offchain.errors import EigenError
from tests.support import VECTORS, vector_path

# FK20 and commitments run on the native kernel unless EIGEN_NATIVE=0; the full-size runs are long only
# on the array code.
slow_without_native = (lambda f: f) if native.enabled() else pytest.mark.slow

BLOB_1234 = b"".join(i.to_bytes(32, "big") for i in [1, 2, 3, 4])


@pytest.fixture(scope="module")
def real_srs() -> SRS:
    vector_path("da", "g1_mainnet_first3000.point")
    return load_eigenda_srs(VECTORS / "da", g1_count=64)


@pytest.fixture(scope="module")
def enc(real_srs: SRS) -> Encoder:
    return Encoder(real_srs)


@pytest.fixture(scope="module")
def encoded(enc: Encoder):
    p = enc.blob_to_coeffs(BLOB_1234)
    return p, enc.commit(p), enc.frames(p)


def test_da_params() -> None:
    assert (EncodingParams(4096).chunk_length, EncodingParams(4096).rows) == (4, 1024)
    assert EncodingParams(1 << 19).chunk_length == 512
    assert (EncodingParams(4).chunk_length, EncodingParams(4).rows) == (1, 4)
    assert EncodingParams(1 << 19).num_evaluations == 1 << 22
    with pytest.raises(EncodingError):
        EncodingParams(12)
    with pytest.raises(EncodingError):
        EncodingParams(1 << 26)
    with pytest.raises(EncodingError):
        EncodingParams(4, num_chunks=12)


def test_da_vectors_commitments(enc: Encoder) -> None:
    p = enc.blob_to_coeffs(BLOB_1234)
    assert (
        bn254.g1_compress(enc.commit(p)).hex()
        == "a3e97c98a3d7bba9a4e4ca906f3285a2939b2c8b05ad4ef2f7ac475de71345d2"
    )
    hello = bytes.fromhex("0000" + "00000005" + "00" * 26 + "0068656c6c6f" + "00" * 26)
    assert bn254.g1_compress(enc.commit(enc.blob_to_coeffs(hello))).hex() == (
        "c77c6035a37651f197e3aa3034cba5f6422f97df7ec13573d430d0fca12bed42"
    )


FK20_VECTOR_1234 = (
    "d4a06377d14f7d126fee590781996a2f72185f2b0808e819fc2a6990d7c56a87"
    "a0e0fe867d2e7d735c56e0f184168fd890e16aa5cb4eab1708aecc1f126a3eca"
    "c72d27999b01a6f3c080f14d2fa49bed3ad82b74f00954ee6123467f69667b59"
)


def test_da_vectors_fk20_proofs(encoded) -> None:
    _, _, fr = encoded
    assert bn254.g1_compress(fr.proofs[..., :3]).hex() == FK20_VECTOR_1234


def test_da_vectors_fk20_proofs_array_path(enc: Encoder, monkeypatch) -> None:
    """The array (numpy) FK20 and commitment code stays the reference (and the fallback without the
    native kernel): the same EigenDA vectors with EIGEN_NATIVE=0."""
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    assert enc.kernel() is None
    p = enc.blob_to_coeffs(BLOB_1234)
    assert (
        bn254.g1_compress(enc.commit(p)).hex()
        == "a3e97c98a3d7bba9a4e4ca906f3285a2939b2c8b05ad4ef2f7ac475de71345d2"
    )
    assert bn254.g1_compress(enc.proofs(p, EncodingParams(4))[..., :3]).hex() == FK20_VECTOR_1234


def test_da_chunk_coefficients_are_evaluations_for_L1(enc: Encoder, encoded) -> None:
    _, _, fr = encoded
    w = pow(bn254.ROOT_OF_UNITY_2_28, 1 << (28 - 13), bn254.R)
    rev = [int(f"{i:013b}"[::-1], 2) for i in range(8192)]
    got = enc.c.fr.to_ints(fr.coeffs)
    for i in [0, 1, 2, 5, 4097, 8191]:
        z = pow(w, rev[i], bn254.R)
        assert got[i] == sum(c * pow(z, k, bn254.R) for k, c in enumerate([1, 2, 3, 4])) % bn254.R


def test_da_verify_single_and_batch(enc: Encoder, encoded) -> None:
    _, C, fr = encoded
    assert enc.verify_chunk(C, 7, fr.coeffs[:, 7], fr.proofs[..., 7])
    assert not enc.verify_chunk(C, 8, fr.coeffs[:, 7], fr.proofs[..., 7])  # wrong index
    idx = np.arange(0, 8192, 1024)
    s = Sample(
        np.zeros(idx.size, np.int64), idx, enc.c.fr.take(fr.coeffs, idx), enc.c.g1.take(fr.proofs, idx)
    )
    assert enc.verify_batch(C, s)
    bad = enc.c.fr.take(fr.coeffs, idx).copy()
    bad[:, 5] = enc.c.fr.add(bad[:, 5], enc.c.fr.ones((1,)))
    s_bad = Sample(s.blob, s.index, bad, s.proofs)
    assert not enc.verify_batch(C, s_bad)
    assert enc.find_invalid(C, s_bad) == [5]
    with pytest.raises(VerificationError):
        enc.verify_batch(C, Sample(s.blob, s.index + 9000, s.coeffs, s.proofs))


def test_da_find_invalid_bounded_with_progress(enc: Encoder, encoded) -> None:
    """Bisection reports every chunk as resolved exactly once, counts the bad ones as it goes, and stops
    at ``limit`` bad chunks (``--fail-fast``) without resolving the rest."""
    _, C, fr = encoded
    idx = np.arange(0, 8192, 512)  # 16 chunks, 3 of them corrupted
    coeffs = enc.c.fr.take(fr.coeffs, idx).copy()
    for k in (2, 9, 13):
        coeffs[:, k] = enc.c.fr.add(coeffs[:, k], enc.c.fr.ones((1,)))
    s = Sample(np.zeros(idx.size, np.int64), idx, coeffs, enc.c.g1.take(fr.proofs, idx))
    events: list[tuple[int, int]] = []
    assert enc.find_invalid(C, s, on_resolved=lambda k, bad: events.append((k, bad))) == [2, 9, 13]
    assert sum(k for k, _ in events) == 16 and events[-1][1] == 3
    assert [b for _, b in events] == sorted(b for _, b in events)
    events.clear()
    assert enc.find_invalid(C, s, limit=1, on_resolved=lambda k, bad: events.append((k, bad))) == [2]
    assert sum(k for k, _ in events) == 3  # chunks 0, 1 (one passing half) and 2; the rest unresolved
    assert enc.find_invalid(C, s, limit=2) == [2, 9]


@settings(max_examples=6)
@given(pos=st.integers(0, 8191), byte=st.integers(0, 63), bit=st.integers(0, 7))
def test_da_any_changed_byte_fails(enc: Encoder, encoded, pos: int, byte: int, bit: int) -> None:
    """Flip one bit of a chunk's 32-byte coefficient or 32-byte compressed proof: rejected or fails."""
    _, C, fr = encoded
    coeff = enc.c.fr.to_bytes(fr.coeffs[:, pos]).reshape(-1)
    proof = bn254.g1_compress(fr.proofs[..., pos : pos + 1])
    raw = bytearray(bytes(coeff) + proof)
    raw[byte] ^= 1 << bit
    try:
        co = enc.c.fr.from_bytes(bytes(raw[:32]))
        P = bn254.g1_decompress(bytes(raw[32:]))
    except EigenError:
        return
    assert not enc.verify_chunk(C, pos, co.reshape(enc.c.fr.n, 1), P[..., 0])


@settings(max_examples=4)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(0, 1020))
def test_da_recover_from_random_subsets(enc: Encoder, encoded, seed: int, extra: int) -> None:
    p, _, fr = encoded
    rng = np.random.default_rng(seed)
    k = fr.params.rows + extra  # from the minimum up to 1/8 of the chunks
    sel = rng.choice(8192, k, replace=False)
    rec = enc.recover_coeffs(fr.params, sel, enc.c.fr.take(fr.coeffs, sel))
    assert enc.coeffs_to_blob(rec) == BLOB_1234


def test_da_recover_eighth_exactly(enc: Encoder, encoded) -> None:
    _, _, fr = encoded
    sel = np.random.default_rng(9).choice(8192, 1024, replace=False)
    rec = enc.recover_coeffs(fr.params, sel, enc.c.fr.take(fr.coeffs, sel))
    assert enc.coeffs_to_blob(rec) == BLOB_1234


def test_da_recover_errors(enc: Encoder, encoded) -> None:
    _, _, fr = encoded
    sel = np.array([1, 2, 3])
    with pytest.raises(RecoveryError, match="at least 4"):
        enc.recover_coeffs(fr.params, sel, enc.c.fr.take(fr.coeffs, sel))
    sel = np.array([1, 2, 3, 3])
    with pytest.raises(RecoveryError, match="duplicate"):
        enc.recover_coeffs(fr.params, sel, enc.c.fr.take(fr.coeffs, sel))
    sel = np.arange(10, 20)
    bad = enc.c.fr.take(fr.coeffs, sel).copy()
    bad[:, 3] = enc.c.fr.add(bad[:, 3], enc.c.fr.ones((1,)))
    with pytest.raises(RecoveryError, match="inconsistent"):
        enc.recover_coeffs(fr.params, sel, bad)


def test_da_blob_errors(enc: Encoder) -> None:
    with pytest.raises(EncodingError, match="multiple of 32"):
        enc.blob_to_coeffs(b"\x00" * 33)
    with pytest.raises(EncodingError, match="power of two"):
        enc.blob_to_coeffs(b"\x00" * 96)
    with pytest.raises(EncodingError, match="canonical"):
        enc.blob_to_coeffs(b"\xff" * 32)
    with pytest.raises(SRSError, match="only 64"):
        enc.commit(enc.c.fr.zeros(128))


@pytest.mark.parametrize("n,num_chunks,rate", [(8, 16, 8), (16, 32, 4)])
def test_da_small_codes_with_longer_chunks(n: int, num_chunks: int, rate: int) -> None:
    """Same machinery with L > 1 (smaller chunk counts keep CI fast); insecure SRS with G2 powers."""
    srs = insecure_test_srs(n)
    e = Encoder(srs)
    params = EncodingParams(n, num_chunks=num_chunks, coding_rate=rate)
    assert params.chunk_length > 1
    vals = list(range(5, 5 + n))
    p = e.c.fr.from_ints(vals)
    C = e.commit(p)
    fr = e.frames(p, params)
    idx = np.arange(num_chunks)
    assert e.verify_batch(C, Sample(np.zeros(num_chunks, np.int64), idx, fr.coeffs, fr.proofs), num_chunks)
    sel = np.random.default_rng(n).choice(num_chunks, params.rows, replace=False)
    assert e.c.fr.to_ints(e.recover_coeffs(params, sel, e.c.fr.take(fr.coeffs, sel))) == vals
    LC, LP = e.length_commitment(p), e.length_proof(p)
    assert e.verify_length_proof(C, LC, LP, n)
    assert not e.verify_length_proof(C, LC, LP, 2 * n)


def test_da_batch_over_two_blobs() -> None:
    srs = insecure_test_srs(8, with_g2=False)
    e = Encoder(srs)
    params = EncodingParams(8, num_chunks=16, coding_rate=8)
    blobs = [e.c.fr.from_ints(list(range(1, 9))), e.c.fr.from_ints(list(range(11, 19)))]
    Cs = e.c.g1.concat([e.commit(b) for b in blobs])
    frs = [e.frames(b, params) for b in blobs]
    idx = np.array([0, 3, 5, 1])
    which = np.array([0, 1, 1, 0])
    co = e.c.fr.stack([frs[w].coeffs[:, i] for w, i in zip(which, idx, strict=False)])
    pr = e.c.g1.concat([frs[w].proofs[..., i : i + 1] for w, i in zip(which, idx, strict=False)])
    assert e.verify_batch(Cs, Sample(which, idx, co, pr), 16)
    assert not e.verify_batch(Cs, Sample(1 - which, idx, co, pr), 16)


def test_da_srs_digest_checked(tmp_path) -> None:
    src = vector_path("da", "g1_mainnet_first3000.point")
    data = bytearray(src.read_bytes())
    data[100] ^= 1
    (tmp_path / "g1_mainnet_first3000.point").write_bytes(bytes(data))
    (tmp_path / "g2.point.powerOf2").write_bytes(vector_path("da", "g2.point.powerOf2").read_bytes())
    with pytest.raises(SRSError, match="sha256"):
        load_eigenda_srs(tmp_path)
    with pytest.raises(SRSError, match="not found"):
        load_g1(tmp_path / "nope.point")
    with pytest.raises(SRSError, match="no g1.point"):
        (tmp_path / "g1_mainnet_first3000.point").unlink()
        load_eigenda_srs(tmp_path)


def test_da_insecure_srs_is_marked() -> None:
    srs = insecure_test_srs(4, with_g2=False)
    assert srs.insecure and "INSECURE" in srs.name


@slow_without_native
@pytest.mark.skipif(
    not native.enabled() and not eigen_settings.slow_tests(),
    reason="long run on the array code: set EIGEN_SLOW=1 (fast with the native kernel)",
)
def test_da_full_code_with_chunk_length_two() -> None:
    """The real 8,192-chunk code with L = 2 (a 64 KiB blob): FK20 over 1,024-point G1 FFTs, batch
    verification of random chunks and recovery from a random 1/8."""
    n = 2048
    e = Encoder(insecure_test_srs(n, with_g2=False))
    rng = np.random.default_rng(5)
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    raw[:, 0] = 0
    p = e.c.fr.from_bytes(raw)
    C = e.commit(p)
    fr = e.frames(p)
    assert fr.params.chunk_length == 2
    idx = rng.choice(8192, 32, replace=False)
    s = Sample(np.zeros(32, np.int64), idx, e.c.fr.take(fr.coeffs, idx), e.c.g1.take(fr.proofs, idx))
    assert e.verify_batch(C, s)
    sel = rng.choice(8192, 1024, replace=False)
    assert e.coeffs_to_blob(e.recover_coeffs(fr.params, sel, e.c.fr.take(fr.coeffs, sel))) == raw.tobytes()
