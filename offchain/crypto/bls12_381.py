"""BLS12-381: fields, G1/G2 in batches and ZCash-compressed point encodings (48 / 96 bytes).

ZCash format (used by Ethereum's KZG ceremony, EIP-4844/7594): big-endian x (G2: ``x.c1 || x.c0``) with
three flag bits in byte 0 — 0x80 compressed (must be set), 0x40 infinity (then every other bit is
zero), 0x20 sign: y is the lexicographically larger root (G2: compare y.c1, or y.c0 when y.c1 == 0).
Every decoded point is checked on the curve and in the order-r subgroup (``r * P == O``; both groups
have a cofactor); failures raise :class:`~offchain.crypto.errors.PointError` with the first bad index.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import backend_of, to_numpy
from offchain.crypto import pairing_native, params
from offchain.crypto.curve import Curve, PairingGroups, encoded_rows
from offchain.crypto.errors import PointError
from offchain.crypto.field import PrimeField
from offchain.crypto.fp2 import Fp2
from offchain.crypto.g1_native import g1_sqrt_rhs, g1_subgroup_mask
from offchain.crypto.g2_native import g2_sqrt_rhs, subgroup_mask

P = params.BLS12_381.p
R = params.BLS12_381.r
# EIP-4844 / 7594: the primitive root 7 of Fr gives the 2^32-th root of unity
PRIMITIVE_ROOT = 7
TWO_ADICITY = params.BLS12_381.two_adicity
ROOT_OF_UNITY_2_32 = params.BLS12_381.root_of_unity

C_FLAG, I_FLAG, S_FLAG = 0x80, 0x40, 0x20

Array = Any


BLS12381 = PairingGroups


@functools.lru_cache(maxsize=4)
def bls12_381(xp: ModuleType = np) -> PairingGroups:
    """The BLS12-381 fields and groups over ``xp`` (the standard generators, as py_ecc's; cached)."""
    fp = PrimeField(P, xp, "bls12_381.Fp")
    fr = PrimeField(R, xp, "bls12_381.Fr")
    fp2 = Fp2(fp)
    g1 = Curve(fp, fp.const(params.BLS12_381.b), R, "bls12_381.G1")
    g1.set_small_b3(3 * params.BLS12_381.b)
    g2 = Curve(fp2, fp2.const(*params.BLS12_381.twist_b), R, "bls12_381.G2")
    (x1, y1), (x2, y2) = params.BLS12_381.g1, params.BLS12_381.g2
    g1.generator = g1.from_affine(fp.from_ints([x1]), fp.from_ints([y1]))
    g2.generator = g2.from_affine(fp2.from_pairs([x2]), fp2.from_pairs([y2]))
    return PairingGroups(xp, fp, fr, fp2, g1, g2)


def _flags(rows: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    b0 = rows[:, 0]
    if not (b0 & C_FLAG).all():
        raise PointError(f"{what} {int(np.argmin((b0 & C_FLAG) != 0))}: compression flag not set")
    inf = (b0 & I_FLAG) != 0
    sign = (b0 & S_FLAG) != 0
    rows[:, 0] &= 0x1F
    bad_inf = inf & (sign | rows.any(axis=1))
    if bad_inf.any():
        raise PointError(f"{what} {int(np.argmax(bad_inf))}: infinity with other bits set")
    return inf, sign


def _finish(
    curve: Curve, x: Array, root: tuple[Array, Array], inf: np.ndarray, sign: np.ndarray, what: str
) -> Array:
    F, xp = curve.F, curve.xp
    ok, y = root
    ok = to_numpy(ok) | inf
    if not ok.all():
        raise PointError(f"{what} {int(np.argmin(ok))}: not on the curve")
    flip = F.is_lexicographically_largest(y) != xp.asarray(sign)
    y = F.select(flip, F.neg(y), y)
    pts = curve.from_affine(x, y, xp.asarray(inf))
    in_group = None
    if what == "G2 point" and pts.shape[-1]:
        in_group = subgroup_mask("bls12_381", bls12_381(xp), pts)  # exact r * Q on the native kernel
    elif pts.shape[-1] and xp is np:
        in_group = g1_subgroup_mask("bls12_381", bls12_381(np), pts)  # exact r * P, no GLV
    if in_group is None:
        in_group = to_numpy(curve.is_inf(curve.mul_int(pts, R)))
    if not in_group.all():
        raise PointError(f"{what} {int(np.argmin(in_group))}: not in the order-r subgroup")
    return pts


def g1_decompress(data: bytes, xp: ModuleType = np) -> Array:
    """ZCash-compressed G1 points (48 B) -> projective batch, checked on-curve and in the subgroup."""
    c = bls12_381(xp)
    rows = encoded_rows(data, 48, "G1 point")
    inf, sign = _flags(rows, "G1 point")
    lt = c.fp.lt_p_bytes(rows)
    if not lt.all():
        raise PointError(f"G1 point {int(np.argmin(lt))}: x coordinate >= p")
    x = c.fp.from_bytes(rows)
    root = None
    if xp is np and rows.shape[0]:
        root = g1_sqrt_rhs("bls12_381", c, rows)  # the same root on the native kernel
    if root is None:
        root = c.fp.is_square_and_sqrt(c.fp.add(c.fp.mul(c.fp.sqr(x), x), c.fp.const(4, x.shape[1:])))
    return _finish(c.g1, x, root, inf, sign, "G1 point")


def g2_decompress(data: bytes, xp: ModuleType = np) -> Array:
    """ZCash-compressed G2 points (96 B: x.c1 || x.c0) -> projective batch, fully checked."""
    c = bls12_381(xp)
    rows = encoded_rows(data, 96, "G2 point")
    inf, sign = _flags(rows, "G2 point")
    c1, c0 = rows[:, :48], rows[:, 48:]
    lt = c.fp.lt_p_bytes(c1) & c.fp.lt_p_bytes(c0)
    if not lt.all():
        raise PointError(f"G2 point {int(np.argmin(lt))}: coordinate >= p")
    x = xp.stack([c.fp.from_bytes(c0), c.fp.from_bytes(c1)], axis=1)
    root = None
    if xp is np and rows.shape[0]:
        root = g2_sqrt_rhs("bls12_381", c, c0, c1)  # a root on the native kernel (the flag picks the sign)
    if root is None:
        b = c.g2.b.reshape(c.g2.b.shape + (1,))
        root = c.fp2.sqrt(c.fp2.add(c.fp2.mul(c.fp2.sqr(x), x), b))
    return _finish(c.g2, x, root, inf, sign, "G2 point")


def _compress(out: np.ndarray, largest: Array, inf: Array) -> bytes:
    infn = to_numpy(inf)
    out[:, 0] |= np.where(to_numpy(largest), C_FLAG | S_FLAG, C_FLAG).astype(np.uint8)
    out[infn] = 0
    out[infn, 0] = C_FLAG | I_FLAG
    return out.tobytes()


def g1_compress(Pts: Array) -> bytes:
    c = bls12_381(backend_of(Pts))
    x, y, inf = c.g1.to_affine(Pts)
    return _compress(c.fp.to_bytes(x), c.fp.is_lexicographically_largest(y), inf)


def g2_compress(Q: Array) -> bytes:
    c = bls12_381(backend_of(Q))
    x, y, inf = c.g2.to_affine(Q)
    out = np.concatenate([c.fp.to_bytes(x[:, 1]), c.fp.to_bytes(x[:, 0])], axis=1)
    return _compress(out, c.fp2.is_lexicographically_largest(y), inf)


def pairing_check(pairs: list[tuple[Array, Array]]) -> bool:
    """True iff prod_k e(P_k, Q_k) == 1 (single G1 / G2 points, one final exponentiation): the native
    kernel (offchain/crypto/kernels/pairing_native.c) when the C kernels are enabled, else py_ecc
    (:func:`pairing_check_py_ecc`, same answer)."""
    if native.enabled():
        return pairing_native.check_points("bls12_381", pairs)
    return pairing_check_py_ecc(pairs)


def pairing_check_py_ecc(pairs: list[tuple[Array, Array]]) -> bool:
    """:func:`pairing_check` with py_ecc (the reference; the path when ``EIGEN_NATIVE=0``)."""
    from py_ecc.optimized_bls12_381 import FQ, FQ2, FQ12, final_exponentiate, pairing

    acc = FQ12.one()
    for P_, Q in pairs:
        c = bls12_381(backend_of(P_))
        x1, y1, i1 = c.g1.to_affine(P_[..., None])
        x2, y2, i2 = c.g2.to_affine(Q[..., None])
        if bool(to_numpy(i1)[0]) or bool(to_numpy(i2)[0]):
            continue
        (a0, a1), (b0, b1) = c.fp2.to_pairs(x2)[0], c.fp2.to_pairs(y2)[0]
        pp = (FQ(c.fp.to_ints(x1)[0]), FQ(c.fp.to_ints(y1)[0]), FQ.one())
        qq = (FQ2([a0, a1]), FQ2([b0, b1]), FQ2.one())
        acc = acc * pairing(qq, pp, final_exponentiate=False)
    return final_exponentiate(acc) == FQ12.one()
