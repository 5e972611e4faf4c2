"""The native G1 kernel (offchain/crypto/kernels/g1_native.c) against the array code: same group elements, bit for bit
once encoded, on both curves; typed errors at its boundary; FK20 and commitments through the Encoder
with EIGEN_NATIVE=1 and 0 give identical bytes."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.crypto import bls12_381 as BL
from offchain.crypto import bn254 as BN
from offchain.crypto.errors import G1KernelError
from offchain.crypto.field import field_to_words, words_to_field
from offchain.crypto.g1_native import G1Kernel
from offchain.crypto.ntt import Domain, _group_fft_columns
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import EncodingParams
from offchain.da.srs import insecure_test_srs
from offchain.errors import EigenError

CURVES = {
    "bn254": (BN, BN.ROOT_OF_UNITY_2_28, BN.TWO_ADICITY),
    "bls12_381": (BL, BL.ROOT_OF_UNITY_2_32, BL.TWO_ADICITY),
}


def _groups(name):
    mod = CURVES[name][0]
    return mod, getattr(mod, name)(np)


# every differential test below runs on the default build and on the 32-bit-word Montgomery product
# (-DG1_MUL32, the CUDA build's default; g1_curve.h)
VARIANTS = {"": (), "mul32": ("-DG1_MUL32",)}


@pytest.fixture(
    scope="module",
    params=[(c, v) for c in sorted(CURVES) for v in VARIANTS],
    ids=lambda p: "-".join(filter(None, p)),
)
def curve(request):
    name, variant = request.param
    mod, G = _groups(name)
    return name, mod, G, G1Kernel(name, G, extra_flags=VARIANTS[variant])


@pytest.mark.parametrize("name", sorted(CURVES))
def test_g1_mul32_build_matches_default_build(name):
    """The two Montgomery products give the same Jacobian coordinates word for word (not only the same
    group elements): random points times random full-width scalars, and their affine export."""
    mod, G = _groups(name)
    n = 64
    P = _points(G, np.random.default_rng(12), n)
    sc = np.random.default_rng(11).integers(
        0, np.iinfo(np.uint64).max, size=(n, 4), dtype=np.uint64, endpoint=True
    )
    sc[0] = np.iinfo(np.uint64).max
    sc[1] = 0
    outs = []
    for flags in VARIANTS.values():
        K = G1Kernel(name, G, extra_flags=flags)
        kp = K.from_group(P)
        prod = K.scalar_mul(kp, sc)
        xy, inf = K.export_affine(prod)
        outs.append((kp.tobytes(), prod.tobytes(), xy.tobytes(), inf.tobytes()))
    assert outs[0] == outs[1]
    assert len(set(outs[0][1][i : i + 8] for i in range(0, len(outs[0][1]), 8))) > n  # not degenerate


def _points(G, rng, n):
    """n random points (random multiples of the generator) as an array-code batch."""
    g1 = G.g1
    ks = [int.from_bytes(rng.bytes(32), "big") % G.fr.p for _ in range(n)]
    sc = np.frombuffer(b"".join(k.to_bytes(32, "big") for k in ks), np.uint8).reshape(n, 32)
    return g1.scalar_mul(np.repeat(g1.generator, n, axis=-1), sc)


def _enc(mod, P) -> bytes:
    return mod.g1_compress(P)


def test_g1_limb_repacking_round_trips(curve):
    name, mod, G, K = curve
    rng = np.random.default_rng(2)
    for F, words in ((G.fp, K.nl), (G.fr, 4)):
        vals = [0, 1, F.p - 1, (1 << 64) - 1, 1 << 63] + [
            int.from_bytes(rng.bytes(F.nbytes), "big") % F.p for _ in range(20)
        ]
        w = field_to_words(F, F.from_ints(vals), words)
        assert [sum(int(v) << (64 * i) for i, v in enumerate(row)) for row in w] == vals
        assert F.to_ints(words_to_field(F, w)) == vals


def test_g1_scalar_mul_and_msm_match_array_code(curve):
    name, mod, G, K = curve
    g1, fr = G.g1, G.fr
    rng = np.random.default_rng(3)
    n = 12
    P = _points(G, rng, n)
    P = g1.concat([P[..., :10], g1.infinity(1), P[..., 10:11]])  # an infinity input
    r = fr.p
    edge = [0, 1, 2, r - 1, r - 2, (1 << 256) - 1 - r, 1 << 128, (1 << 127) - 1]
    ints = edge + [int.from_bytes(rng.bytes(32), "big") % r for _ in range(n - len(edge))]
    s = fr.from_ints(ints)
    ref = g1.scalar_mul(P, fr.to_bytes(s))
    kp, ks = K.from_group(P), K.scalars_from_fr(s)
    assert _enc(mod, K.to_group(K.scalar_mul(kp, ks))) == _enc(mod, ref)
    # scalars >= r work as integers too (the kernel never reduces them)
    big = np.full((n, 4), np.iinfo(np.uint64).max, dtype=np.uint64)
    ref_big = g1.scalar_mul(P, np.full((n, 32), 255, np.uint8))
    assert _enc(mod, K.to_group(K.scalar_mul(kp, big))) == _enc(mod, ref_big)
    # MSM, also with P + (-P) = infinity and P + P (doubling inside the addition) among the terms
    twice = np.concatenate([kp[:1], kp[:1]])
    opp = K.scalars_from_fr(fr.from_ints([5, r - 5]))
    same = K.scalars_from_fr(fr.from_ints([3, 3]))
    six = _enc(mod, g1.scalar_mul(P[..., :1], fr.to_bytes(fr.from_ints([6]))))
    for method in ("straus", "pippenger"):
        assert _enc(mod, K.to_group(K.msm(kp, ks, chunk=5, method=method)[None])) == _enc(
            mod, g1.sum(ref)[..., None]
        )
        assert bool(K.export_affine(K.msm(twice, opp, method=method)[None])[1][0])  # 5P - 5P = infinity
        assert _enc(mod, K.to_group(K.msm(twice, same, method=method)[None])) == six
    # a bucket MSM with large windows against Straus rows (the latter checked against the array code above)
    many = np.concatenate([kp] * 100)
    sc_many = K.scalars_from_fr(
        fr.from_ints([int.from_bytes(rng.bytes(32), "big") % r for _ in range(many.shape[0])])
    )
    assert K.msm(many, sc_many).tobytes() != K.msm(many, sc_many[::-1].copy()).tobytes()
    assert (
        K.export_affine(K.msm(many, sc_many, method="pippenger")[None])[0].tobytes()
        == K.export_affine(K.msm(many, sc_many, method="straus")[None])[0].tobytes()
    )
    with pytest.raises(G1KernelError):
        K.msm(kp, ks, method="naive")
    rows = K.rows_msm(kp[:12].reshape(3, 4, 3, K.nl), ks[:12].reshape(3, 4, 4))
    want = g1.sum(ref.reshape(ref.shape[:2] + (3, 4)), axis=1)
    assert _enc(mod, K.to_group(rows)) == _enc(mod, want)
    # the same rows over precomputed odd multiples (fixed bases: mixed additions, no per-call tables)
    for width in (3, 5, 8):  # NAF widths: 2^(width-2) odd multiples per base
        tab = K.rows_precompute(kp[:12].reshape(3, 4, 3, K.nl), width)
        assert tab.shape == (3, 4, 1 << (width - 2), 3, K.nl)
        assert _enc(mod, K.to_group(K.rows_msm_precomputed(tab, ks[:12].reshape(3, 4, 4)))) == _enc(mod, want)
    big_rows = K.rows_msm_precomputed(K.rows_precompute(kp.reshape(1, n, 3, K.nl)), big.reshape(1, n, 4))
    assert _enc(mod, K.to_group(big_rows)) == _enc(mod, g1.sum(ref_big)[..., None])
    with pytest.raises(G1KernelError):
        K.rows_msm_precomputed(kp[:12].reshape(3, 4, 3, K.nl), ks[:12].reshape(3, 4, 4))  # not a table
    with pytest.raises(G1KernelError):
        K.rows_precompute(kp)
    with pytest.raises(G1KernelError):
        K.rows_precompute(kp[:12].reshape(3, 4, 3, K.nl), 9)


@pytest.mark.parametrize("inverse", [False, True])
def test_g1_fft_matches_array_code(curve, inverse):
    name, mod, G, K = curve
    g1, fr = G.g1, G.fr
    _, root, adic = CURVES[name]
    N, cols = 8, 2
    P = _points(G, np.random.default_rng(4), N * cols)
    d = Domain(fr, N, root, adic)
    ref = _group_fft_columns(g1, fr, P.reshape(P.shape[:2] + (N, cols)), d, inverse)
    roots = K.scalars_from_fr(d.roots_inv if inverse else d.roots)
    got = K.fft(K.from_group(P).reshape(N, cols, 3, K.nl), roots)
    assert _enc(mod, K.to_group(got)) == _enc(mod, ref.reshape(ref.shape[:2] + (-1,)))


def test_g1_boundary_rejects_bad_input(curve):
    name, mod, G, K = curve
    P = _points(G, np.random.default_rng(5), 3)
    kp = K.from_group(P)
    xy, inf = K.export_affine(kp)
    assert K.export_affine(K.import_affine(xy, inf.astype(np.uint8)))[0].tobytes() == xy.tobytes()
    off = xy.copy()
    off[1, 1, 0] ^= np.uint64(1)  # y changed: off the curve
    with pytest.raises(G1KernelError, match="point 1"):
        K.import_affine(off, inf)
    big = xy.copy()
    big[2, 0] = [(G.fp.p >> (64 * i)) & ((1 << 64) - 1) for i in range(K.nl)]
    with pytest.raises(G1KernelError, match="point 2"):  # x = p (not canonical)
        K.import_affine(big, inf)
    flagged = inf.astype(np.uint8).copy()
    flagged[0] = 1  # infinity with non-zero coordinates
    with pytest.raises(G1KernelError, match="point 0"):
        K.import_affine(xy, flagged)
    flagged[0] = 7
    with pytest.raises(G1KernelError):
        K.import_affine(np.zeros_like(xy), flagged)
    bad_inputs = [
        lambda: K.import_affine(xy.astype(np.int64), inf),
        lambda: K.import_affine(xy[:, :1], inf),
        lambda: K.import_affine(xy, inf[:2]),
        lambda: K.scalar_mul(kp.astype(np.int64), np.zeros((3, 4), np.uint64)),
        lambda: K.scalar_mul(kp[..., :2], np.zeros((3, 4), np.uint64)),
        lambda: K.scalar_mul(kp, np.zeros((2, 4), np.uint64)),
        lambda: K.scalar_mul(kp, np.zeros((3, 4), np.int32)),
        lambda: K.rows_msm(kp, np.zeros((3, 4), np.uint64)),
        lambda: K.fft(np.concatenate([kp, kp[:0]])[:3, None], np.zeros((2, 4), np.uint64)),
        lambda: K.fft(np.repeat(kp[:1], 4, axis=0)[:, None], np.zeros((1, 4), np.uint64)),
        lambda: K.from_group(P[..., 0]),
        lambda: K.export_affine([[1, 2, 3]]),
    ]
    for bad in bad_inputs:
        with pytest.raises(G1KernelError) as info:
            bad()
        assert isinstance(info.value, EigenError)
    with pytest.raises(G1KernelError):
        G1Kernel("secp256k1", G)


def _random_coeffs(enc, n, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    raw[:, 0] &= 0x1F
    return enc.c.fr.from_bytes(raw)


def _both_paths(monkeypatch, enc, coeffs, params):
    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        assert (enc.kernel() is not None) == (flag == "1")
        g1c = enc.suite.g1_compress
        msm = enc._g1_msm(enc.srs.g1_prefix(coeffs.shape[1]), coeffs)  # the verifier's MSMs
        out[flag] = (g1c(enc.commit(coeffs)), g1c(enc.proofs(coeffs, params)), g1c(msm[..., None]))
    return out


@pytest.mark.parametrize("n,chunks,rate", [(16, 32, 8), (8, 16, 4)])
def test_fk20_bn254_matches_array_path(monkeypatch, n, chunks, rate):
    enc = Encoder(insecure_test_srs(n, with_g2=False))
    params = EncodingParams(n, num_chunks=chunks, coding_rate=rate)
    assert params.chunk_length > 1
    out = _both_paths(monkeypatch, enc, _random_coeffs(enc, n, n), params)
    assert out["1"] == out["0"]


def test_fk20_bls12_381_matches_array_path(monkeypatch):
    from offchain.da.peerdas.cells import BLS_SUITE
    from offchain.da.srs import SRS

    _, G = _groups("bls12_381")
    n = 16
    pts = _points(
        G, np.random.default_rng(9), n
    )  # any points serve as a (non-)SRS for the differential check
    enc = Encoder(SRS(g1=pts, g2_pow2=None, name="random-bls-points"), suite=BLS_SUITE)
    params = EncodingParams(n, num_chunks=16, coding_rate=4)
    out = _both_paths(monkeypatch, enc, _random_coeffs(enc, n, 1), params)
    assert out["1"] == out["0"]


def _bls_point_outside_subgroup(G):
    """A point of E(Fp): y^2 = x^3 + 4 that is not in the order-r subgroup (the cofactor is > 1)."""
    fp = G.fp
    for x0 in range(1, 200):
        x = fp.from_ints([x0])
        ok, y = fp.is_square_and_sqrt(fp.add(fp.mul(fp.sqr(x), x), fp.const(4, (1,))))
        if bool(np.asarray(ok)[0]):
            P = G.g1.from_affine(x, y)
            if not bool(G.g1.is_inf(G.g1.mul_int(P, BL.R))[0]):
                return P
    raise AssertionError("no point found")


def test_g1_exact_subgroup_check(monkeypatch):
    """BLS12-381 G1 decoding checks r * P == O on the kernel without GLV (which would be wrong off the
    subgroup); the kernel and the array code accept and reject the same points."""
    mod, G = _groups("bls12_381")
    K = G1Kernel("bls12_381", G)
    good = _points(G, np.random.default_rng(21), 4)
    bad = _bls_point_outside_subgroup(G)
    mask = K.in_subgroup(K.from_group(G.g1.concat([good, bad, G.g1.infinity(1)])))
    assert mask.tolist() == [True] * 4 + [False, True]
    data = BL.g1_compress(G.g1.concat([good, bad]))
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        with pytest.raises(BN.PointError, match="G1 point 4: not in the order-r subgroup"):
            BL.g1_decompress(data)
        assert bool(np.all(G.g1.eq(BL.g1_decompress(data[: 4 * 48]), good)))


@pytest.mark.parametrize("name", sorted(CURVES))
def test_g1_decompression_root_matches_array_code(name, monkeypatch):
    """Point decompression takes its square root from the kernel: the same points as the array code,
    the same 'not on the curve' error for an x with no point, both flag encodings, infinity."""
    mod, G = _groups(name)
    P = G.g1.concat([_points(G, np.random.default_rng(31), 40), G.g1.infinity(1)])
    data = mod.g1_compress(P)
    size = len(data) // 41
    got = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        Q = mod.g1_decompress(data)
        assert bool(np.all(G.g1.eq(Q, P)))
        got[flag] = mod.g1_compress(Q)
    assert got["1"] == got["0"] == data
    # an x with no point on the curve: find one by trial (x^3 + b a non-square)
    b = 3 if name == "bn254" else 4
    x0 = next(v for v in range(1, 100) if pow(v**3 + b, (mod.P - 1) // 2, mod.P) != 1)
    row = bytearray(x0.to_bytes(size, "big"))
    row[0] |= 0x80  # gnark: "smallest y"; ZCash: the compression flag
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        with pytest.raises(BN.PointError, match="point 1: not on the curve"):
            mod.g1_decompress(data[:size] + bytes(row))


@pytest.mark.parametrize("name", sorted(CURVES))
def test_g1_projective_import_checks_points(name):
    mod, G = _groups(name)
    K = G1Kernel(name, G)
    P = _points(G, np.random.default_rng(8), 5)
    z = G.fp.from_ints(
        [int.from_bytes(np.random.default_rng(k).bytes(32), "big") % (mod.P - 1) + 1 for k in range(5)]
    )
    Pz = np.stack([G.fp.mul(P[0], z), G.fp.mul(P[1], z), G.fp.mul(P[2], z)])
    assert bool(np.all(G.g1.eq(K.to_group(K.from_group(Pz)), P)))
    bad = Pz.copy()
    bad[1, :, 3] = Pz[0, :, 3]
    with pytest.raises(G1KernelError, match="point 3 is not a valid projective G1 point"):
        K.from_group(bad)
    bad = Pz.copy()
    bad[2, :, 1] = 0
    with pytest.raises(G1KernelError, match="point 1"):
        K.from_group(bad)
