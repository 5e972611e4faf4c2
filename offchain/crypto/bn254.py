"""BN254 (alt_bn128): fields, G1/G2 in batches, point encodings and pairing checks.

Encodings:
- gnark compressed (EigenDA SRS files, frames, certificates' off-chain form): G1 = 32-byte big-endian
  X with flags in the top two bits of byte 0 (``0b10`` Y is the smaller root, ``0b11`` the larger,
  ``0b01`` infinity); G2 = 64 bytes ``X.A1 || X.A0`` with the same flags (compare Y.A1, or Y.A0 when
  Y.A1 == 0).
- EVM precompile order (uncompressed): G1 = ``x || y`` (64 B), G2 = ``X.A1 || X.A0 || Y.A1 || Y.A0``
  (128 B); the point at infinity is all zeros.
Every decoded point is checked to be on the curve and (G2) in the order-r subgroup; failures raise
:class:`PointError` with the index of the first bad point.
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
from offchain.crypto.g1_native import g1_sqrt_rhs
from offchain.crypto.g2_native import g2_sqrt_rhs, subgroup_mask

P = params.BN254.p
R = params.BN254.r
G1_GEN = params.BN254.g1
G2_GEN = params.BN254.g2
# primitive 2^28-th root of unity of Fr (gnark fft.Generator, EigenDA Scale2RootOfUnity[28])
ROOT_OF_UNITY_2_28 = params.BN254.root_of_unity
TWO_ADICITY = params.BN254.two_adicity

Array = Any

FLAG_MASK = 0xC0
FLAG_SMALLEST = 0x80
FLAG_LARGEST = 0xC0
FLAG_INFINITY = 0x40


@functools.lru_cache(maxsize=4)
def bn254(xp: ModuleType = np) -> PairingGroups:
    """The BN254 fields and groups over the array module ``xp`` (cached)."""
    fp = PrimeField(P, xp, "bn254.Fp")
    fr = PrimeField(R, xp, "bn254.Fr")
    fp2 = Fp2(fp)
    g1 = Curve(fp, fp.const(params.BN254.b), R, "bn254.G1")
    g1.set_small_b3(9)
    # b' = 3 / (9 + u)
    nine_u = fp2.from_pairs([(9, 1)])
    b2 = fp2.mul(fp2.const(3, 0, 1), fp2.inv(nine_u))[:, :, 0]
    g2 = Curve(fp2, b2, R, "bn254.G2")
    g1.generator = g1.from_affine(fp.from_ints([G1_GEN[0]]), fp.from_ints([G1_GEN[1]]))
    g2.generator = g2.from_affine(fp2.from_pairs([G2_GEN[0]]), fp2.from_pairs([G2_GEN[1]]))
    return PairingGroups(xp, fp, fr, fp2, g1, g2)


BN254 = PairingGroups


# ---------------------------------------------------------------------------------------------
# gnark compressed encodings
# ---------------------------------------------------------------------------------------------
def _check_flags(rows: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    flags = rows[:, 0] & FLAG_MASK
    bad = flags == 0
    if bad.any():
        raise PointError(f"{what} {int(np.argmax(bad))}: not a compressed point (flag bits 00)")
    inf = flags == FLAG_INFINITY
    body = rows.copy()
    body[:, 0] &= 0x3F
    if inf.any() and body[inf].any():
        raise PointError(f"{what} {int(np.argmax(inf & body.any(axis=1)))}: infinity with non-zero bytes")
    return flags, inf


def g1_decompress(data: bytes, xp: ModuleType = np) -> Array:
    """gnark-compressed G1 points (32 B each) -> projective batch; checks on-curve (cofactor 1)."""
    c = bn254(xp)
    rows = encoded_rows(data, 32, "G1 point")
    flags, inf = _check_flags(rows, "G1 point")
    rows[:, 0] &= 0x3F
    fp = c.fp
    lt = fp.lt_p_bytes(rows)
    if not lt.all():
        raise PointError(f"G1 point {int(np.argmin(lt))}: x coordinate >= p")
    x = fp.from_bytes(rows)
    root = None
    if xp is np and rows.shape[0]:
        root = g1_sqrt_rhs("bn254", c, rows)  # the same root on the native kernel
    if root is None:
        root = fp.is_square_and_sqrt(fp.add(fp.mul(fp.sqr(x), x), fp.const(3, x.shape[1:])))
    return _lift_x(c.g1, x, root, flags, inf, "G1")


def _lift_x(
    curve: Curve, x: Array, root: tuple[Array, Array], flags: np.ndarray, inf: np.ndarray, what: str
) -> Array:
    """Point with abscissa x and the square root ``root`` = (exists, y) of x^3 + b, sign chosen by the flags."""
    F, xp = curve.F, curve.xp
    ok, y = root
    ok = to_numpy(ok) | inf
    if not ok.all():
        raise PointError(f"{what} point {int(np.argmin(ok))}: not on the curve")
    flip = F.is_lexicographically_largest(y) != xp.asarray(flags == FLAG_LARGEST)
    y = F.select(flip, F.neg(y), y)
    return curve.from_affine(x, y, xp.asarray(inf))


def g1_compress(P: Array) -> bytes:
    """Projective G1 batch -> gnark-compressed bytes (32 B per point)."""
    c = bn254(backend_of(P))
    x, y, inf = c.g1.to_affine(P)
    xb = c.fp.to_bytes(x)
    return _set_flags(xb, c.fp.is_lexicographically_largest(y), inf)


def _set_flags(out: np.ndarray, largest: Array, inf: Array) -> bytes:
    """Write gnark's flag bits into byte 0 of each row (infinity rows become 0x40 00..)."""
    infn = to_numpy(inf)
    out[:, 0] |= np.where(to_numpy(largest), FLAG_LARGEST, FLAG_SMALLEST).astype(np.uint8)
    out[infn] = 0
    out[infn, 0] = FLAG_INFINITY
    return out.tobytes()


def g2_decompress(data: bytes, xp: ModuleType = np, subgroup_check: bool = True) -> Array:
    """gnark-compressed G2 points (64 B: X.A1 || X.A0) -> projective batch; on-curve + subgroup checks."""
    c = bn254(xp)
    rows = encoded_rows(data, 64, "G2 point")
    flags, inf = _check_flags(rows, "G2 point")
    rows[:, 0] &= 0x3F
    fp, fp2 = c.fp, c.fp2
    a1, a0 = rows[:, :32], rows[:, 32:]
    lt = fp.lt_p_bytes(a1) & fp.lt_p_bytes(a0)
    if not lt.all():
        raise PointError(f"G2 point {int(np.argmin(lt))}: coordinate >= p")
    x = xp.stack([fp.from_bytes(a0), fp.from_bytes(a1)], axis=1)
    root = None
    if xp is np and rows.shape[0]:
        root = g2_sqrt_rhs("bn254", c, a0, a1)  # a root on the native kernel (the flag picks the sign)
    if root is None:
        b = c.g2.b.reshape(c.g2.b.shape + (1,))
        root = fp2.sqrt(fp2.add(fp2.mul(fp2.sqr(x), x), b))
    Q = _lift_x(c.g2, x, root, flags, inf, "G2")
    if subgroup_check:
        g2_check_subgroup(Q)
    return Q


def g2_check_subgroup(Q: Array) -> None:
    c = bn254(backend_of(Q))
    ok = subgroup_mask("bn254", c, Q) if Q.shape[-1] else None
    if ok is None:
        ok = to_numpy(c.g2.is_inf(c.g2.mul_int(Q, R)))
    if not ok.all():
        raise PointError(f"G2 point {int(np.argmin(ok))}: not in the order-r subgroup")


def g2_compress(Q: Array) -> bytes:
    c = bn254(backend_of(Q))
    x, y, inf = c.g2.to_affine(Q)
    a0 = c.fp.to_bytes(x[:, 0])
    a1 = c.fp.to_bytes(x[:, 1])
    out = np.concatenate([a1, a0], axis=1)
    return _set_flags(out, c.fp2.is_lexicographically_largest(y), inf)


# ---------------------------------------------------------------------------------------------
# EVM (precompile) order, uncompressed
# ---------------------------------------------------------------------------------------------
def g1_from_evm(data: bytes, xp: ModuleType = np) -> Array:
    c = bn254(xp)
    rows = encoded_rows(data, 64, "G1 point")
    xr, yr = rows[:, :32], rows[:, 32:]
    lt = c.fp.lt_p_bytes(xr) & c.fp.lt_p_bytes(yr)
    if not lt.all():
        raise PointError(f"G1 point {int(np.argmin(lt))}: coordinate >= p")
    inf = ~rows.any(axis=1)
    P_ = c.g1.from_affine(c.fp.from_bytes(xr), c.fp.from_bytes(yr), xp.asarray(inf))
    ok = to_numpy(c.g1.is_on_curve(P_))
    if not ok.all():
        raise PointError(f"G1 point {int(np.argmin(ok))}: not on the curve")
    return P_


def g1_to_evm(P_: Array) -> bytes:
    c = bn254(backend_of(P_))
    x, y, inf = c.g1.to_affine(P_)
    out = np.concatenate([c.fp.to_bytes(x), c.fp.to_bytes(y)], axis=1)
    out[to_numpy(inf)] = 0
    return out.tobytes()


def g2_from_evm(data: bytes, xp: ModuleType = np) -> Array:
    c = bn254(xp)
    rows = encoded_rows(data, 128, "G2 point")
    parts = [rows[:, 32 * i : 32 * (i + 1)] for i in range(4)]
    lt = np.logical_and.reduce([c.fp.lt_p_bytes(q) for q in parts])
    if not lt.all():
        raise PointError(f"G2 point {int(np.argmin(lt))}: coordinate >= p")
    xa1, xa0, ya1, ya0 = (c.fp.from_bytes(q) for q in parts)
    inf = ~rows.any(axis=1)
    Q = c.g2.from_affine(xp.stack([xa0, xa1], axis=1), xp.stack([ya0, ya1], axis=1), xp.asarray(inf))
    ok = to_numpy(c.g2.is_on_curve(Q))
    if not ok.all():
        raise PointError(f"G2 point {int(np.argmin(ok))}: not on the curve")
    g2_check_subgroup(Q)
    return Q


def g2_to_evm(Q: Array) -> bytes:
    c = bn254(backend_of(Q))
    x, y, inf = c.g2.to_affine(Q)
    fp = c.fp
    out = np.concatenate(
        [fp.to_bytes(x[:, 1]), fp.to_bytes(x[:, 0]), fp.to_bytes(y[:, 1]), fp.to_bytes(y[:, 0])], axis=1
    )
    out[to_numpy(inf)] = 0
    return out.tobytes()


# ---------------------------------------------------------------------------------------------
# affine integers and pairings (native kernel, or py_ecc)
# ---------------------------------------------------------------------------------------------
def g1_to_ints(P_: Array) -> list[tuple[int, int] | None]:
    c = bn254(backend_of(P_))
    x, y, inf = c.g1.to_affine(P_)
    xs, ys, infs = c.fp.to_ints(x), c.fp.to_ints(y), to_numpy(inf).reshape(-1)
    return [None if i else (a, b) for a, b, i in zip(xs, ys, infs, strict=True)]


def g2_to_ints(Q: Array) -> list[tuple[tuple[int, int], tuple[int, int]] | None]:
    c = bn254(backend_of(Q))
    x, y, inf = c.g2.to_affine(Q)
    xs, ys, infs = c.fp2.to_pairs(x), c.fp2.to_pairs(y), to_numpy(inf).reshape(-1)
    return [None if i else (a, b) for a, b, i in zip(xs, ys, infs, strict=True)]


def g1_from_ints(points: list[tuple[int, int]], xp: ModuleType = np) -> Array:
    c = bn254(xp)
    P_ = c.g1.from_affine(c.fp.from_ints([p[0] for p in points]), c.fp.from_ints([p[1] for p in points]))
    ok = to_numpy(c.g1.is_on_curve(P_))
    if not ok.all():
        raise PointError(f"G1 point {int(np.argmin(ok))}: not on the curve")
    return P_


def hash_to_g1(message: bytes) -> tuple[int, int]:
    """``BN254.hashToG1`` (eigenlayer-middleware) / EigenDA's ``MapToCurve``, try-and-increment: x = m mod p
    (m the 32-byte message as a big-endian integer), then x + 1 until x^3 + 3 is a square; y = (x^3 + 3)^((p +
    1) / 4) (no sign normalisation). Not constant time (the messages it hashes are public)."""
    x = int.from_bytes(message, "big") % P
    while True:
        beta = (x * x * x + 3) % P
        y = pow(beta, (P + 1) // 4, P)
        if y * y % P == beta:
            return x, y
        x = (x + 1) % P


def pairing_check(pairs: list[tuple[Array, Array]]) -> bool:
    """True iff prod_k e(P_k, Q_k) == 1 for single G1 points P_k and G2 points Q_k (one final exp).

    The native kernel (offchain/crypto/kernels/pairing_native.c) when the C kernels are enabled, else
    py_ecc (:func:`pairing_check_py_ecc`, same answer)."""
    if native.enabled():
        return pairing_native.check_points("bn254", pairs)
    return pairing_check_py_ecc(pairs)


def pairing_check_py_ecc(pairs: list[tuple[Array, Array]]) -> bool:
    """:func:`pairing_check` with py_ecc (the reference; the path when ``EIGEN_NATIVE=0``)."""
    from py_ecc.fields import optimized_bn128_FQ as FQ
    from py_ecc.fields import optimized_bn128_FQ2 as FQ2
    from py_ecc.fields import optimized_bn128_FQ12 as FQ12
    from py_ecc.optimized_bn128 import final_exponentiate, pairing

    acc = FQ12.one()
    for P_, Q in pairs:
        (p1,) = g1_to_ints(P_)
        (q1,) = g2_to_ints(Q)
        if p1 is None or q1 is None:
            continue
        pp = (FQ(p1[0]), FQ(p1[1]), FQ.one())
        qq = (FQ2([q1[0][0], q1[0][1]]), FQ2([q1[1][0], q1[1][1]]), FQ2.one())
        acc = acc * pairing(qq, pp, final_exponentiate=False)
    return final_exponentiate(acc) == FQ12.one()
