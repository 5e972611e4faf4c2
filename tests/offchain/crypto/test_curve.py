"""BN254 G1/G2 batches, MSM, encodings and pairing against py_ecc; every bad encoding is a typed error."""

import random

import numpy as np
import py_ecc.optimized_bn128 as pe
import pytest

from offchain.crypto import bn254 as B
from offchain.crypto.curve import FixedBaseMSM, scalars_to_bytes
from offchain.crypto.errors import PointError
from offchain.crypto.ntt import Domain, group_fft, group_fft_sparse
from offchain.errors import CryptoError

c = B.bn254


def _ref_g1(k: int) -> tuple[int, int]:
    x, y = pe.normalize(pe.multiply(pe.G1, k))
    return int(x), int(y)


def _ref_g2(k: int):
    x, y = pe.normalize(pe.multiply(pe.G2, k))
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


def _mul_gen(curve, ks):
    return curve.scalar_mul(curve.concat([curve.generator] * len(ks)), scalars_to_bytes(ks))


def test_g1_scalar_mul_add_double_match_py_ecc() -> None:
    g1 = c().g1
    rng = random.Random(5)
    ks = [rng.randrange(B.R) for _ in range(6)] + [0, 1, 2, B.R - 1]
    P = _mul_gen(g1, ks)
    expect = [None if k == 0 else _ref_g1(k) for k in ks]
    assert B.g1_to_ints(P) == expect
    # complete formulas: P + P, P + (-P), P + O, O + O
    assert B.g1_to_ints(g1.add(P, P)) == B.g1_to_ints(g1.double(P))
    assert all(v is None for v in B.g1_to_ints(g1.add(P, g1.neg(P))))
    assert B.g1_to_ints(g1.add(P, g1.infinity(len(ks)))) == expect
    assert np.asarray(g1.is_on_curve(P)).all()


def test_g2_scalar_mul_matches_py_ecc_and_subgroup() -> None:
    g2 = c().g2
    ks = [3, 12345, B.R - 7]
    Q = _mul_gen(g2, ks)
    assert B.g2_to_ints(Q) == [_ref_g2(k) for k in ks]
    assert np.asarray(g2.is_inf(g2.mul_int(Q, B.R))).all()


def test_msm_bucket_and_fixed_base_match_naive() -> None:
    g1 = c().g1
    rng = random.Random(6)
    N = 40
    bases_k = [rng.randrange(B.R) for _ in range(N)]
    scal = [rng.randrange(B.R) for _ in range(N)]
    scal[3] = 0
    P = _mul_gen(g1, bases_k)
    want = _ref_g1(sum(a * b for a, b in zip(bases_k, scal, strict=False)) % B.R)
    assert B.g1_to_ints(g1.msm(P, scalars_to_bytes(scal))[..., None]) == [want]
    fb = FixedBaseMSM(g1, P, c=6)
    assert B.g1_to_ints(fb.msm(scalars_to_bytes(scal))[..., None]) == [want]
    sub = _ref_g1(sum(a * b for a, b in zip(bases_k[:10], scal[:10], strict=False)) % B.R)
    assert B.g1_to_ints(fb.msm(scalars_to_bytes(scal[:10]))[..., None]) == [sub]


def test_group_fft_matches_naive() -> None:
    cc = c()
    rng = random.Random(7)
    m = 4
    ks = [rng.randrange(B.R) for _ in range(m)]
    H = _mul_gen(cc.g1, ks)
    d = Domain(cc.fr, m, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY)
    F = group_fft(cc.g1, cc.fr, H, d)
    exp = [sum(ks[e] * pow(d.omega, j * e, B.R) for e in range(m)) % B.R for j in range(m)]
    assert np.asarray(cc.g1.eq(F, _mul_gen(cc.g1, exp))).all()
    assert np.asarray(cc.g1.eq(group_fft(cc.g1, cc.fr, F, d, inverse=True), H)).all()
    M = 16
    S = group_fft_sparse(cc.g1, cc.fr, H, M, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY)
    w = pow(B.ROOT_OF_UNITY_2_28, 1 << (28 - 4), B.R)
    exp = [sum(ks[e] * pow(w, j * e, B.R) for e in range(m)) % B.R for j in range(M)]
    assert np.asarray(cc.g1.eq(S, _mul_gen(cc.g1, exp))).all()


def test_g1_encodings_roundtrip() -> None:
    g1 = c().g1
    ks = [1, 2, 99, B.R - 1, 0]
    P = _mul_gen(g1, ks)
    comp = B.g1_compress(P)
    assert comp[4 * 32] == 0x40 and not any(comp[4 * 32 + 1 : 5 * 32])
    assert B.g1_compress(B.g1_decompress(comp)) == comp
    evm = B.g1_to_evm(P)
    assert evm[:64] == (1).to_bytes(32, "big") + (2).to_bytes(32, "big")
    assert B.g1_to_evm(B.g1_from_evm(evm)) == evm
    assert evm[4 * 64 :] == bytes(64)


def test_g2_encodings_roundtrip_evm_order() -> None:
    g2 = c().g2
    Q = _mul_gen(g2, [1, 5])
    comp = B.g2_compress(Q)
    assert B.g2_compress(B.g2_decompress(comp)) == comp
    evm = B.g2_to_evm(Q)
    (x0, x1), (y0, y1) = B.G2_GEN
    assert evm[:128] == b"".join(v.to_bytes(32, "big") for v in (x1, x0, y1, y0))
    assert B.g2_to_evm(B.g2_from_evm(evm)) == evm


def _non_residue_x() -> int:
    x = 4
    while pow(x**3 + 3, (B.P - 1) // 2, B.P) == 1:
        x += 1
    return x


@pytest.mark.parametrize(
    "data,match",
    [
        (bytes(31), "multiple of 32"),
        (bytes([0x00]) + bytes(31), "flag bits 00"),
        (bytes([0x40]) + bytes(30) + b"\x01", "infinity with non-zero"),
        (bytes([0x80 | 0x3F]) + b"\xff" * 31, "x coordinate >= p"),
        ((0x80 << 248 | _non_residue_x()).to_bytes(32, "big"), "not on the curve"),
    ],
)
def test_g1_bad_encodings_are_typed_errors(data: bytes, match: str) -> None:
    with pytest.raises(B.PointError, match=match):
        B.g1_decompress(data)


def test_g1_evm_not_on_curve() -> None:
    with pytest.raises(B.PointError, match="not on the curve"):
        B.g1_from_evm((1).to_bytes(32, "big") + (3).to_bytes(32, "big"))
    with pytest.raises(B.PointError, match=">= p"):
        B.g1_from_evm(B.P.to_bytes(32, "big") + (2).to_bytes(32, "big"))


def test_g2_point_outside_subgroup_rejected() -> None:
    cc = c()
    fp2 = cc.fp2
    # find a point on the twist curve y^2 = x^3 + b' that is not in the order-r subgroup
    for x0 in range(1, 50):
        x = fp2.from_pairs([(x0, 1)])
        rhs = fp2.add(fp2.mul(fp2.sqr(x), x), cc.g2.b[..., None])
        ok, y = fp2.sqrt(rhs)
        if bool(np.asarray(ok)[0]):
            break
    Q = cc.g2.from_affine(x, y)
    assert np.asarray(cc.g2.is_on_curve(Q)).all()
    with pytest.raises(B.PointError, match="subgroup"):
        B.g2_decompress(B.g2_compress(Q))
    with pytest.raises(B.PointError, match="subgroup"):
        B.g2_from_evm(B.g2_to_evm(Q))
    assert issubclass(PointError, CryptoError)


def test_pairing_check_bilinear() -> None:
    cc = c()
    P = _mul_gen(cc.g1, [6])
    Q = _mul_gen(cc.g2, [7])
    P2 = _mul_gen(cc.g1, [42])
    assert B.pairing_check([(P[..., 0], Q[..., 0]), (cc.g1.neg(P2)[..., 0], cc.g2.generator[..., 0])])
    assert not B.pairing_check([(P[..., 0], Q[..., 0]), (cc.g1.neg(P)[..., 0], cc.g2.generator[..., 0])])
