"""The native pairing (offchain/pairing_native.c) against py_ecc on BN254 and BLS12-381: the Fp12 tower
operation by operation, the full GT value of single pairings coefficient by coefficient, bilinearity,
products that must and must not be one, infinity, typed errors for bad input; and bn254/bls12_381
``pairing_check`` (native) against the py_ecc path (EIGEN_NATIVE=0) on array-code points and on real DA
verifications."""

from __future__ import annotations

import random

import numpy as np
import pytest
from py_ecc import optimized_bls12_381 as BLE
from py_ecc import optimized_bn128 as BNE
from py_ecc.fields import optimized_bls12_381_FQ12, optimized_bn128_FQ12

from offchain import native
from offchain.crypto import bls12_381 as BL
from offchain.crypto import bn254 as BN
from offchain.crypto import pairing_native as PN
from offchain.crypto.errors import PairingKernelError
from offchain.crypto.pairing_native import PairingKernel
from offchain.errors import CryptoError, EigenError

pytestmark = pytest.mark.skipif(
    not native.enabled(), reason="native kernels disabled (EIGEN_NATIVE=0 or no C compiler)"
)

CURVES = {
    "bn254": (BNE, optimized_bn128_FQ12, BN),
    "bls12_381": (BLE, optimized_bls12_381_FQ12, BL),
}


@pytest.fixture(scope="module", params=sorted(CURVES))
def curve(request):
    name = request.param
    E, FQ12, mod = CURVES[name]
    return name, E, FQ12, mod, PN.kernel(name)


def _ints(E, pt):
    """py_ecc point (projective) -> affine ints for the kernel, None at infinity."""
    if E.is_inf(pt):
        return None
    x, y = E.normalize(pt)
    if isinstance(x, E.FQ):
        return (int(x), int(y))
    return (tuple(int(c) for c in x.coeffs), tuple(int(c) for c in y.coeffs))


def _gt(name, K, pairs):
    g1, g2 = PN.affine_words(name, pairs)
    return K.gt(g1, g2)


def _check(name, K, pairs):
    g1, g2 = PN.affine_words(name, pairs)
    return K.check(g1, g2)


def _random_fp12(name, rnd, p):
    return PN.ints_to_words([rnd.randrange(p) for _ in range(12)], PN.LIMBS[name])


def _to_py(name, FQ12, E, a):
    return FQ12(PN.to_pyecc_coeffs(name, a, E.field_modulus))


def _coeffs(x):
    return [int(c) for c in x.coeffs]


# ----- constants ---------------------------------------------------------------------------------
def test_pairing_kernel_is_listed():
    assert (PN.SOURCE, PN.FLAGS) in native.KERNELS


def test_pairing_pyecc_map_round_trips(curve):
    name, E, FQ12, _, K = curve
    rnd = random.Random(3)
    a = _random_fp12(name, rnd, E.field_modulus)
    assert np.array_equal(
        PN.from_pyecc_coeffs(name, PN.to_pyecc_coeffs(name, a, E.field_modulus), E.field_modulus), a
    )
    # the map is a ring isomorphism onto py_ecc's FQ12: w -> W, u -> W^6 - XI0
    w = np.zeros((12, PN.LIMBS[name]), np.uint64)
    w[6, 0] = 1  # c1.c0.c0 = 1: the element w
    assert PN.to_pyecc_coeffs(name, w, E.field_modulus) == [0, 1] + [0] * 10


# ----- the tower, operation by operation ----------------------------------------------------------
def test_pairing_tower_ops_match_pyecc(curve):
    name, E, FQ12, _, K = curve
    p = E.field_modulus
    rnd = random.Random(hash(name) & 0xFFFF)
    for _ in range(3):
        a, b = _random_fp12(name, rnd, p), _random_fp12(name, rnd, p)
        A, B = _to_py(name, FQ12, E, a), _to_py(name, FQ12, E, b)
        assert PN.to_pyecc_coeffs(name, K.fp12_op("mul", a, b), p) == _coeffs(A * B)
        assert PN.to_pyecc_coeffs(name, K.fp12_op("sqr", a), p) == _coeffs(A * A)
        assert PN.to_pyecc_coeffs(name, K.fp12_op("inv", a), p) == _coeffs(A.inv())
        Ap = A
        for k in (1, 2, 3):
            Ap = Ap**p
            assert PN.to_pyecc_coeffs(name, K.fp12_op(f"frob{k}", a), p) == _coeffs(Ap), k
        assert PN.to_pyecc_coeffs(name, K.fp12_op("conj", a), p) == _coeffs(Ap ** (p**3))  # a^(p^6)


def test_pairing_sparse_line_product_matches_dense(curve):
    """f * line (sparse) equals f times the line written out as a full Fp12 element, D-type (BN254:
    a + b w + c w^3) or M-type (BLS12-381: a + b w^2 + c w^3), and py_ecc's product."""
    name, E, FQ12, _, K = curve
    p, nl = E.field_modulus, PN.LIMBS[name]
    rnd = random.Random(9)
    f = _random_fp12(name, rnd, p)
    line = _random_fp12(name, rnd, p)
    line[6:] = 0  # coefficients a, b, c in the first three Fp2 slots (fp12_op's convention)
    dense = np.zeros((12, nl), np.uint64)
    dense[0:2] = line[0:2]  # a at 1 = c0.c0
    if name == "bn254":
        dense[6:8] = line[2:4]  # b at w = c1.c0
    else:
        dense[2:4] = line[2:4]  # b at w^2 = v = c0.c1
    dense[8:10] = line[4:6]  # c at w^3 = v w = c1.c1
    sparse = K.fp12_op("mul_line", f, line)
    assert np.array_equal(sparse, K.fp12_op("mul", f, dense))
    F, D = _to_py(name, FQ12, E, f), _to_py(name, FQ12, E, dense)
    assert PN.to_pyecc_coeffs(name, sparse, p) == _coeffs(F * D)


def _cyclotomic(name, K, FQ12, E, rnd):
    """A random element of the cyclotomic subgroup: (conj(a)/a)^(p^2 + 1)."""
    p = E.field_modulus
    a = _to_py(name, FQ12, E, _random_fp12(name, rnd, p))
    t = (a ** (p**6)) / a
    t = (t ** (p**2)) * t
    return t, PN.from_pyecc_coeffs(name, _coeffs(t), p)


def test_pairing_cyclotomic_squaring_and_exponentiation(curve):
    name, E, FQ12, _, K = curve
    p = E.field_modulus
    t, tw = _cyclotomic(name, K, FQ12, E, random.Random(4))
    assert PN.to_pyecc_coeffs(name, K.fp12_op("cyc_sqr", tw), p) == _coeffs(t * t)
    assert PN.to_pyecc_coeffs(name, K.fp12_op("cyc_exp_x", tw), p) == _coeffs(t ** abs(PN.X[name]))
    # Granger-Scott squaring is only valid in the subgroup: a random element is squared wrongly
    a = _random_fp12(name, random.Random(5), p)
    assert not np.array_equal(K.fp12_op("cyc_sqr", a), K.fp12_op("sqr", a))


def test_pairing_final_exponentiation_matches_pyecc(curve):
    """The exact exponent (p^12 - 1)/r (not a multiple): equal to py_ecc's final_exponentiate."""
    name, E, FQ12, _, K = curve
    p = E.field_modulus
    a = _random_fp12(name, random.Random(6), p)
    ref = E.final_exponentiate(_to_py(name, FQ12, E, a))
    assert PN.to_pyecc_coeffs(name, K.fp12_op("final_exp", a), p) == _coeffs(ref)


def test_pairing_fp12_op_errors(curve):
    name, E, FQ12, _, K = curve
    a = _random_fp12(name, random.Random(7), E.field_modulus)
    with pytest.raises(PairingKernelError, match="unknown"):
        K.fp12_op("nope", a)
    bad = a.copy()
    bad[3] = PN.ints_to_words([E.field_modulus], PN.LIMBS[name])[0]
    with pytest.raises(PairingKernelError, match="bad argument"):
        K.fp12_op("sqr", bad)


# ----- pairings ----------------------------------------------------------------------------------
def test_pairing_gt_matches_pyecc(curve):
    """e(P, Q) itself, coefficient by coefficient, for the generators and random multiples."""
    name, E, FQ12, _, K = curve
    rnd = random.Random(11)
    cases = [(1, 1), (rnd.randrange(1, E.curve_order), rnd.randrange(1, E.curve_order))]
    for a, b in cases:
        P, Q = E.multiply(E.G1, a), E.multiply(E.G2, b)
        gt = _gt(name, K, [(_ints(E, P), _ints(E, Q))])
        assert PN.to_pyecc_coeffs(name, gt, E.field_modulus) == _coeffs(E.pairing(Q, P))


def test_pairing_bilinear(curve):
    name, E, FQ12, _, K = curve
    r, p = E.curve_order, E.field_modulus
    rnd = random.Random(12)
    a, b = rnd.randrange(2, r), rnd.randrange(2, r)
    P, Q = E.multiply(E.G1, 5), E.multiply(E.G2, 7)
    base = _gt(name, K, [(_ints(E, P), _ints(E, Q))])
    G = _to_py(name, FQ12, E, base)
    assert G != FQ12.one() and G**r == FQ12.one()  # non-degenerate, order r
    lhs = _gt(name, K, [(_ints(E, E.multiply(P, a)), _ints(E, E.multiply(Q, b)))])
    assert PN.to_pyecc_coeffs(name, lhs, p) == _coeffs(G ** (a * b % r))
    # e(abP, Q) = e(P, abQ) = e(aP, bQ)
    ab = a * b % r
    assert np.array_equal(lhs, _gt(name, K, [(_ints(E, E.multiply(P, ab)), _ints(E, Q))]))
    assert np.array_equal(lhs, _gt(name, K, [(_ints(E, P), _ints(E, E.multiply(Q, ab)))]))
    # a product of several pairs is the product of the single pairings
    two = _gt(name, K, [(_ints(E, P), _ints(E, Q)), (_ints(E, E.multiply(P, a)), _ints(E, E.multiply(Q, b)))])
    assert PN.to_pyecc_coeffs(name, two, p) == _coeffs(G * G**ab)


def test_pairing_products_true_and_false(curve):
    name, E, FQ12, _, K = curve
    r = E.curve_order
    rnd = random.Random(13)
    a, b, c, d = (rnd.randrange(2, r) for _ in range(4))
    P, Q = E.multiply(E.G1, rnd.randrange(2, r)), E.multiply(E.G2, rnd.randrange(2, r))
    aP, aQ, nP = E.multiply(P, a), E.multiply(Q, a), E.neg(P)
    pts = lambda *pq: [(_ints(E, x), _ints(E, y)) for x, y in pq]  # noqa: E731
    # e(aP, Q) e(-P, aQ) = 1, and the KZG-shaped 3-pair e(aP, bQ) e(cP, dQ) e(-(ab + cd) P, Q) = 1
    assert _check(name, K, pts((aP, Q), (nP, aQ)))
    s = (a * b + c * d) % r
    assert _check(
        name, K, pts((aP, E.multiply(Q, b)), (E.multiply(P, c), E.multiply(Q, d)), (E.multiply(nP, s), Q))
    )
    # a flipped sign, a wrong scalar, random points: not one
    assert not _check(name, K, pts((aP, Q), (P, aQ)))
    assert not _check(name, K, pts((aP, Q), (nP, E.multiply(Q, a + 1))))
    assert not _check(
        name, K, pts((E.multiply(E.G1, a), E.multiply(E.G2, b)), (E.multiply(E.G1, c), E.multiply(E.G2, d)))
    )
    assert not _check(name, K, pts((P, Q)))


def test_pairing_infinity_pairs_are_skipped(curve):
    name, E, FQ12, _, K = curve
    P, Q = E.multiply(E.G1, 3), E.multiply(E.G2, 4)
    p_, q_ = _ints(E, P), _ints(E, Q)
    assert _check(name, K, [])
    assert _check(name, K, [(None, q_)]) and _check(name, K, [(p_, None)]) and _check(name, K, [(None, None)])
    assert _check(name, K, [(p_, q_), (None, q_), (_ints(E, E.neg(P)), q_), (p_, None)])
    assert not _check(name, K, [(p_, q_), (None, q_)])
    one = _gt(name, K, [(None, q_)])
    assert PN.to_pyecc_coeffs(name, one, E.field_modulus) == _coeffs(FQ12.one())


def test_pairing_projective_input(curve):
    """check_projective normalises (X : Y : Z) itself: random Z, Z = 0 for infinity."""
    name, E, FQ12, _, K = curve
    p, nl = E.field_modulus, PN.LIMBS[name]
    rnd = random.Random(14)
    P, Q = E.multiply(E.G1, 6), E.multiply(E.G2, 10)
    pairs = [(_ints(E, P), _ints(E, Q)), (_ints(E, E.neg(P)), _ints(E, Q)), (_ints(E, P), _ints(E, Q))]

    def proj(pairs, inf1=(), inf2=()):
        g1, g2 = [], []
        for k, ((x, y), ((x0, x1), (y0, y1))) in enumerate(pairs):
            z = rnd.randrange(1, p)
            g1 += [0, 1, 0] if k in inf1 else [x * z % p, y * z % p, z]
            z0, z1 = rnd.randrange(p), rnd.randrange(p)
            xz = ((x0 * z0 - x1 * z1) % p, (x0 * z1 + x1 * z0) % p)  # (x0 + x1 u)(z0 + z1 u)
            yz = ((y0 * z0 - y1 * z1) % p, (y0 * z1 + y1 * z0) % p)
            g2 += [0, 1, 0, 0, 0, 0] if k in inf2 else [*xz, *yz, z0, z1]
        n = len(pairs)
        return PN.ints_to_words(g1, nl).reshape(n, 3, nl), PN.ints_to_words(g2, nl).reshape(n, 6, nl)

    assert not K.check_projective(*proj(pairs))
    assert K.check_projective(*proj(pairs, inf1=(2,)))
    assert K.check_projective(*proj(pairs, inf2=(2,)))
    assert not K.check_projective(*proj(pairs, inf1=(1,)))
    g1, g2 = proj(pairs[:2])
    assert K.check_projective(g1, g2)
    bad = g1.copy()
    bad[1, 1, 0] ^= np.uint64(1)  # Y changed: the affine point is off the curve
    with pytest.raises(PairingKernelError, match="G1 point is not on the curve") as ei:
        K.check_projective(bad, g2)
    assert ei.value.index == 1
    bad = g2.copy()
    bad[0, 5] = PN.ints_to_words([p], nl)[0]  # Z.c1 = p
    with pytest.raises(PairingKernelError, match="G2 coordinate is not below p"):
        K.check_projective(g1, bad)


def test_pairing_bad_input_is_typed(curve):
    name, E, FQ12, _, K = curve
    p, nl = E.field_modulus, PN.LIMBS[name]
    P, Q = E.multiply(E.G1, 3), E.multiply(E.G2, 4)
    g1, g2 = PN.affine_words(name, [(_ints(E, P), _ints(E, Q)), (_ints(E, E.neg(P)), _ints(E, Q))])
    assert K.check(g1, g2)
    pw = PN.ints_to_words([p], nl)[0]
    for coord in range(2):  # x, y = p: not canonical (p = 0 mod p would otherwise be accepted)
        bad = g1.copy()
        bad[1, coord] = pw
        with pytest.raises(PairingKernelError, match="G1 coordinate is not below p") as ei:
            K.check(bad, g2)
        assert (ei.value.code, ei.value.index) == (-1, 1)
    for coord in range(4):
        bad = g2.copy()
        bad[0, coord] = pw
        with pytest.raises(PairingKernelError, match="G2 coordinate is not below p") as ei:
            K.check(g1, bad)
        assert (ei.value.code, ei.value.index) == (-3, 0)
    bad = g1.copy()
    bad[0, 1, 0] ^= np.uint64(1)
    with pytest.raises(PairingKernelError, match="G1 point is not on the curve"):
        K.check(bad, g2)
    bad = g2.copy()
    bad[1, 2, 0] ^= np.uint64(1)
    with pytest.raises(PairingKernelError, match="G2 point is not on the twist") as ei:
        K.check(g1, bad)
    assert ei.value.index == 1
    # a G2 point off the twist is rejected even when its G1 partner is the point at infinity
    g1z = g1.copy()
    g1z[1] = 0
    with pytest.raises(PairingKernelError, match="twist"):
        K.check(g1z, bad)
    with pytest.raises(PairingKernelError, match="uint64"):
        K.check(g1.astype(np.int64), g2)
    with pytest.raises(PairingKernelError, match="pairs"):
        K.check(g1, g2[:1])
    with pytest.raises(PairingKernelError):
        PN.ints_to_words([-1], nl)
    err = PairingKernelError("x")
    assert (
        isinstance(err, CryptoError) and isinstance(err, native.NativeError) and isinstance(err, EigenError)
    )
    with pytest.raises(PairingKernelError, match="no native pairing"):
        PairingKernel("secp256k1")


def test_pairing_mul32_build_agrees():
    """The kernel on g1_curve.h's 32-bit-word Montgomery product (-DG1_MUL32) gives the same GT."""
    E = BNE
    K32 = PairingKernel("bn254", extra_flags=("-DG1_MUL32",))
    pairs = [(_ints(E, E.multiply(E.G1, 12345)), _ints(E, E.multiply(E.G2, 678)))]
    assert np.array_equal(_gt("bn254", K32, pairs), _gt("bn254", PN.kernel("bn254"), pairs))


# ----- the package's pairing_check: native vs py_ecc ------------------------------------------------
def _array_points(mod, name, seed):
    G = getattr(mod, name)(np)
    rng = np.random.default_rng(seed)

    def sc(k):
        return np.frombuffer(int(k).to_bytes(32, "big"), np.uint8).reshape(1, 32)

    a = int(rng.integers(2, 2**62))
    P = G.g1.scalar_mul(G.g1.generator, sc(a))  # projective, Z != 1
    Q = G.g2.scalar_mul(G.g2.generator, sc(a + 3))
    aQ = G.g2.scalar_mul(G.g2.generator, sc(a * (a + 3) % mod.R))
    return G, P, Q, aQ, a


@pytest.mark.parametrize("name", sorted(CURVES))
def test_pairing_check_matches_pyecc_path(name, monkeypatch):
    _, _, mod = CURVES[name]
    G, P, Q, aQ, a = _array_points(mod, name, 21)
    g1, g2 = G.g1, G.g2
    negG = g1.neg(g1.generator)
    cases = {
        "true": [(P[..., 0], Q[..., 0]), (negG[..., 0], aQ[..., 0])],
        "flipped": [(P[..., 0], Q[..., 0]), (g1.generator[..., 0], aQ[..., 0])],
        "wrong scalar": [(P[..., 0], aQ[..., 0]), (negG[..., 0], Q[..., 0])],
        "infinity skipped": [
            (P[..., 0], Q[..., 0]),
            (g1.infinity(1)[..., 0], Q[..., 0]),
            (negG[..., 0], aQ[..., 0]),
            (P[..., 0], g2.add(Q, g2.neg(Q))[..., 0]),
        ],
        "single": [(P[..., 0], Q[..., 0])],
        "empty": [],
    }
    monkeypatch.setenv("EIGEN_NATIVE", "1")
    got = {k: mod.pairing_check(v) for k, v in cases.items()}
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    ref = {k: mod.pairing_check(v) for k, v in cases.items()}
    assert (
        got
        == ref
        == {
            "true": True,
            "flipped": False,
            "wrong scalar": False,
            "infinity skipped": True,
            "single": False,
            "empty": True,
        }
    )


def test_pairing_check_rejects_batches():
    G = BN.bn254(np)
    with pytest.raises(PairingKernelError, match="single points"):
        PN.check_points("bn254", [(G.g1.concat([G.g1.generator, G.g1.generator]), G.g2.generator[..., 0])])


@pytest.mark.parametrize("cert", ["cert_v3.sepolia.rlp.hex", "cert_v2.sepolia.rlp.hex"])
def test_pairing_da_certificate_checks_both_paths(cert, monkeypatch):
    """A real EigenDA certificate's commitment and length-proof pairings (and a length-proof pairing
    with a wrong point, which fails) on the native kernel and on py_ecc."""
    from offchain.da.cert import commitment_matches_length_commitment, length_proof_holds, parse_cert
    from tests.support import vector_path

    bc = parse_cert(vector_path("da", cert).read_text()).blob_commitment
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        out.append(
            (
                commitment_matches_length_commitment(bc),
                length_proof_holds(bc),  # EigenDA's embedded [tau^(2^28 - length)]_1
                length_proof_holds(bc, BN.bn254().g1.generator[..., 0]),  # a wrong point
            )
        )
    assert out == [(True, True, False), (True, True, False)]


def test_pairing_da_batch_verification_both_paths(monkeypatch):
    """verify_batch (one 2-pairing product) and verify_length_proof of a small code, on both paths."""
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.eigenda.params import EncodingParams, Sample
    from offchain.da.srs import insecure_test_srs

    n, num_chunks = 8, 16
    e = Encoder(insecure_test_srs(n))
    params = EncodingParams(n, num_chunks=num_chunks, coding_rate=8)
    p = e.c.fr.from_ints(list(range(3, 3 + n)))
    C = e.commit(p)
    fr = e.frames(p, params)
    idx = np.arange(num_chunks)
    s = Sample(np.zeros(num_chunks, np.int64), idx, fr.coeffs, fr.proofs)
    s_bad = Sample(s.blob, (idx + 1) % num_chunks, fr.coeffs, fr.proofs)
    LC, LP = e.length_commitment(p), e.length_proof(p)
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        out.append(
            (
                e.verify_batch(C, s, num_chunks),
                e.verify_batch(C, s_bad, num_chunks),
                e.verify_length_proof(C, LC, LP, n),
                e.verify_length_proof(C, LC, LP, 2 * n),
            )
        )
    assert out == [(True, False, True, False)] * 2
