"""The native G2 kernel (offchain/g2_native.c over g2_curve.h) against the array code: the same group
elements on both curves (scalar multiplication, bucket MSM, subgroup checks), typed errors at its
boundary, and the places that use it (EigenDA length commitment / proof, the test SRS, G2 decoding)
giving identical results with EIGEN_NATIVE=1 and 0."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from offchain.crypto import bls12_381 as BL
from offchain.crypto import bn254 as BN
from offchain.crypto.curve import scalars_to_bytes
from offchain.crypto.errors import G2KernelError
from offchain.crypto.field import field_to_words
from offchain.crypto.g2_native import G2Kernel
from offchain.da.eigenda.encoder import Encoder
from offchain.da.srs import insecure_test_srs
from offchain.errors import EigenError

CURVES = {"bn254": BN, "bls12_381": BL}


@pytest.fixture(scope="module", params=sorted(CURVES))
def curve(request):
    name = request.param
    mod = CURVES[name]
    G = getattr(mod, name)(np)
    return name, mod, G, G2Kernel(name, G)


def _points(G, mod, n, rng):
    ks = [int(rng.integers(1, 1 << 62)) * int(rng.integers(1, 1 << 62)) % mod.R for _ in range(n)]
    return G.g2.scalar_mul(G.g2.concat([G.g2.generator] * n), scalars_to_bytes(ks))


def _words(values):
    return np.array([[(v >> (64 * i)) & ((1 << 64) - 1) for i in range(4)] for v in values], dtype=np.uint64)


def _eq(G, A, B):
    return bool(np.all(G.g2.eq(A, B)))


def test_g2_roundtrip_and_scalar_mul(curve):
    name, mod, G, K = curve
    rng = np.random.default_rng(1)
    n = 24
    Q = _points(G, mod, n, rng)
    kp = K.from_group(Q)
    assert _eq(G, K.to_group(kp), Q)
    # full-width scalars (up to 2^256 - 1, i.e. above r), zero, one, r - 1, r
    vals = [secrets.randbelow(1 << 256) for _ in range(n)]
    vals[:5] = [0, 1, mod.R - 1, mod.R, (1 << 256) - 1]
    got = K.to_group(K.scalar_mul(kp, _words(vals)))
    want = G.g2.scalar_mul(Q, scalars_to_bytes([v % mod.R for v in vals]))
    assert _eq(G, got, want)
    assert bool(G.g2.is_inf(got[..., 0:1])[0]) and bool(G.g2.is_inf(got[..., 3:4])[0])


def test_g2_msm_matches_array_code(curve):
    name, mod, G, K = curve
    rng = np.random.default_rng(2)
    n = 40
    Q = _points(G, mod, n, rng)
    # repeated and opposite points exercise the doubling and P + (-P) cases inside the buckets
    Q = G.g2.concat([Q, Q[..., :5], G.g2.neg(Q[..., 5:8]), G.g2.infinity(2)])
    vals = [secrets.randbelow(mod.R) for _ in range(Q.shape[-1])]
    vals[n : n + 3] = vals[:3]
    vals[n + 5 : n + 8] = vals[5:8]
    kp = K.from_group(Q)
    got = K.to_group(K.msm(kp, _words(vals)))
    want = G.g2.msm(Q, scalars_to_bytes(vals))[..., None]
    assert _eq(G, got, want)
    assert not bool(G.g2.is_inf(got)[0])
    # a wrong scalar changes the result
    vals[0] = (vals[0] + 1) % mod.R
    assert not _eq(G, K.to_group(K.msm(kp, _words(vals))), want)


def _twist_point_outside_subgroup(G, mod):
    """A point on the twist that is not in the order-r subgroup (the twists have cofactors > 1)."""
    fp2 = G.fp2
    b = G.g2.b.reshape(G.g2.b.shape + (1,))
    for x0 in range(1, 200):
        x = fp2.from_pairs([(x0, 1)])
        ok, y = fp2.sqrt(fp2.add(fp2.mul(fp2.sqr(x), x), b))
        if bool(np.asarray(ok).reshape(-1)[0]):
            Q = G.g2.from_affine(x, y)
            if not bool(G.g2.is_inf(G.g2.mul_int(Q, mod.R))[0]):
                return Q
    raise AssertionError("no twist point found")


def test_g2_subgroup_check(curve, monkeypatch):
    name, mod, G, K = curve
    good = _points(G, mod, 3, np.random.default_rng(3))
    bad = _twist_point_outside_subgroup(G, mod)
    mask = K.in_subgroup(K.from_group(G.g2.concat([good, bad, G.g2.infinity(1)])))
    assert mask.tolist() == [True, True, True, False, True]
    # the decoders reject it with the kernel and with the array code
    enc = BN.g2_compress if name == "bn254" else BL.g2_compress
    dec = BN.g2_decompress if name == "bn254" else BL.g2_decompress
    data = enc(G.g2.concat([good, bad]))
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        with pytest.raises(BN.PointError, match="point 3: not in the order-r subgroup"):
            dec(data)
        assert _eq(G, dec(data[: 3 * len(data) // 4]), good)


def test_g2_rejects_bad_input(curve):
    name, mod, G, K = curve
    nl = K.nl
    Q = _points(G, mod, 2, np.random.default_rng(4))
    x, y, _ = G.g2.to_affine(Q)
    xy = np.stack([field_to_words(G.fp, a[:, k], nl) for a in (x, y) for k in (0, 1)], axis=1)
    inf = np.zeros(2, np.uint8)
    K.import_affine(xy, inf)
    p_words = (
        _words([mod.P])[0]
        if nl == 4
        else np.array([(mod.P >> (64 * i)) & ((1 << 64) - 1) for i in range(nl)], np.uint64)
    )
    cases = []
    t = xy.copy()
    t[1, 2] = p_words  # y.c0 = p: out of range
    cases.append((t, inf, "point 1"))
    t = xy.copy()
    t[0, 0, 0] ^= np.uint64(1)  # off the twist
    cases.append((t, inf, "point 0"))
    cases.append((xy, np.array([0, 1], np.uint8), "point 1"))  # infinity flag with coordinates
    cases.append((xy, np.array([2, 0], np.uint8), "point 0"))  # bad flag value
    for pts, flags, where in cases:
        with pytest.raises(G2KernelError, match=where):
            K.import_affine(pts, flags)
    with pytest.raises(G2KernelError, match="affine G2 coordinates"):
        K.import_affine(xy[:, :3], inf)
    with pytest.raises(G2KernelError, match="infinity flags"):
        K.import_affine(xy, np.zeros(3, np.uint8))
    kp = K.import_affine(xy, inf)
    with pytest.raises(G2KernelError, match="scalars"):
        K.scalar_mul(kp, np.zeros((3, 4), np.uint64))
    with pytest.raises(G2KernelError, match="points must be"):
        K.msm(kp[:, :2], np.zeros((2, 4), np.uint64))
    assert issubclass(G2KernelError, EigenError)


def test_g2_length_commitment_and_test_srs_match_array_code(monkeypatch):
    """The insecure test SRS and EigenDA's length commitment / proof are the same points with the
    kernels on and off, and the length proof verifies."""
    n = 16
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    srs0 = insecure_test_srs(n)
    monkeypatch.setenv("EIGEN_NATIVE", "1")
    srs1 = insecure_test_srs(n)
    G = BN.bn254(np)
    for attr, grp in (
        ("g1", G.g1),
        ("g1_reverse_pow2", G.g1),
        ("g2", G.g2),
        ("g2_trailing", G.g2),
        ("g2_pow2", G.g2),
    ):
        assert bool(np.all(grp.eq(getattr(srs0, attr), getattr(srs1, attr)))), attr
    enc = Encoder(srs1)
    coeffs = G.fr.from_ints([secrets.randbelow(BN.R) for _ in range(n)])
    lc1, lp1 = enc.length_commitment(coeffs), enc.length_proof(coeffs)
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    lc0, lp0 = enc.length_commitment(coeffs), enc.length_proof(coeffs)
    assert bool(np.all(G.g2.eq(lc0, lc1))) and bool(np.all(G.g2.eq(lp0, lp1)))
    monkeypatch.setenv("EIGEN_NATIVE", "1")
    C = enc.commit(coeffs)
    assert enc.verify_length_proof(C, lc1, lp1, n)
    # a shorter claimed length fails the second pairing
    assert not enc.verify_length_proof(C, lc1, lp1, n // 2)


def test_g2_kernel_is_prebuilt():
    from offchain import native
    from offchain.crypto import g2_native

    assert (g2_native.SOURCE, g2_native.FLAGS) in native.KERNELS


def test_g2_projective_import_checks_points(curve):
    """from_group imports projective coordinates (random Z) and checks them on the twist; a point with
    Z = 0 and X != 0, or off the twist, is a typed error."""
    name, mod, G, K = curve
    Q = _points(G, mod, 6, np.random.default_rng(7))
    z = G.fp2.from_pairs([(secrets.randbelow(mod.P - 1) + 1, secrets.randbelow(mod.P)) for _ in range(6)])
    Qz = G.g2.xp.stack([G.fp2.mul(Q[0], z), G.fp2.mul(Q[1], z), G.fp2.mul(Q[2], z)])  # same points
    kp = K.from_group(Qz)
    assert _eq(G, K.to_group(kp), Q)
    bad = Qz.copy()
    bad[1, :, :, 2] = Qz[0, :, :, 2]  # Y := X: off the twist
    with pytest.raises(G2KernelError, match="point 2 is not a valid projective G2 point"):
        K.from_group(bad)
    bad = Qz.copy()
    bad[2, :, :, 4] = 0  # Z = 0 with X != 0
    with pytest.raises(G2KernelError, match="point 4"):
        K.from_group(bad)


@pytest.mark.parametrize("n", [1, 2, 300, 3000])
def test_g2_msm_matches_sum_of_products(curve, n):
    """The bucket MSM (signed digits, affine buckets with batched inversions) against the sum of the
    kernel's independent wNAF products, for sizes from one point to several batches per bucket set;
    repeated points and opposite points exercise the doubling and cancellation paths."""
    name, mod, G, K = curve
    rng = np.random.default_rng(n)
    base = _points(G, mod, min(n, 40), rng)
    idx = rng.integers(0, base.shape[-1], n)
    Q = G.g2.take(base, idx)
    flip = rng.random(n) < 0.3
    Q = G.g2.select(flip, G.g2.neg(Q), Q)
    vals = [secrets.randbelow(1 << 256) for _ in range(n)]
    kp = K.from_group(Q)
    got = K.to_group(K.msm(kp, _words(vals)))
    want = G.g2.sum(K.to_group(K.scalar_mul(kp, _words(vals))))
    assert _eq(G, got, want[..., None] if want.ndim == 3 else want)
    # Jacobian (non-affine) input points are normalised on a copy first: sum s_i (2 Q_i) = sum (2 s_i) Q_i
    jac = K.scalar_mul(kp, _words([2] * n))
    assert n < 2 or not np.all(jac[:, 2, 0] == kp[:, 2, 0])  # really not affine
    twice = K.to_group(K.msm(kp, _words([2 * v % mod.R for v in vals])))
    assert _eq(G, K.to_group(K.msm(jac, _words(vals))), twice)


def test_g2_decompression_matches_array_code(curve, monkeypatch):
    """G2 decompression takes its square root from the kernel: the same points as the array code for
    both sign flags, infinity, and the same 'not on the curve' error for an x with no point."""
    name, mod, G, K = curve
    Q = G.g2.concat([_points(G, mod, 6, np.random.default_rng(9)), G.g2.infinity(1)])
    enc = BN.g2_compress if name == "bn254" else BL.g2_compress
    dec = BN.g2_decompress if name == "bn254" else BL.g2_decompress
    data = enc(Q)
    size = len(data) // 7
    assert len({data[i * size] & 0xE0 for i in range(6)}) == 2  # both sign flags among the points
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        assert dec(data) is not None and _eq(G, dec(data), Q)
    # find an x whose x^3 + b' is not a square in Fp2 (about half of them), encode it as a point
    fp2 = G.fp2
    b = G.g2.b.reshape(G.g2.b.shape + (1,))
    for x0 in range(1, 100):
        x = fp2.from_pairs([(x0, 1)])
        ok, _ = fp2.sqrt(fp2.add(fp2.mul(fp2.sqr(x), x), b))
        if not bool(np.asarray(ok).reshape(-1)[0]):
            break
    half = size // 2
    row = bytearray((1).to_bytes(half, "big") + x0.to_bytes(half, "big"))  # x.c1 || x.c0
    row[0] |= 0x80  # gnark "smallest y" / ZCash compression flag
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        with pytest.raises(BN.PointError, match="point 1: not on the curve"):
            dec(data[:size] + bytes(row))
