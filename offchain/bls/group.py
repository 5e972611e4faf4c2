"""BN254 group operations on affine integer points, on the project's native kernels.

Points cross this module's boundary as Python integers, the way contracts and files carry them:
G1 = ``(x, y)``, G2 = ``((x.a0, x.a1), (y.a0, y.a1))`` (a0 the real part, as py_ecc orders Fp2), and
``None`` for the point at infinity. Scalar multiplications, sums and the pairing run on the C kernels of
:mod:`offchain.crypto` (``g1_native``, ``g2_native``, ``pairing_native``); with ``EIGEN_NATIVE=0`` (or no
C compiler) they run on py_ecc, which gives the same points. Every point read from outside goes through
:func:`check_g1` / :func:`check_g2` (coordinates below p, on the curve, G2 in the order-r subgroup).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from offchain import native
from offchain.bls.errors import BLSKeyError
from offchain.crypto import bn254, g1_native, g2_native, pairing_native

P = bn254.P
R = bn254.R
G1 = tuple[int, int]
G2 = tuple[tuple[int, int], tuple[int, int]]
G1_GEN: G1 = bn254.G1_GEN
G2_GEN: G2 = bn254.G2_GEN
NL = 4


def _kernels() -> tuple[Any, Any] | None:
    if not native.enabled():
        return None
    groups = bn254.bn254(np)
    return g1_native.host_kernel("bn254", groups), g2_native.kernel("bn254", groups)


def _scalars(values: Sequence[int]) -> np.ndarray:
    return pairing_native.ints_to_words([v % R for v in values], NL).reshape(len(values), NL)


# ----- validation ------------------------------------------------------------------------------
def _coord(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < P:
        raise BLSKeyError(f"{what}: coordinate {v!r} is not an integer in [0, p)")
    return v


def check_g1(pt: Any, what: str = "G1 point") -> G1 | None:
    """A G1 point (or None) with canonical coordinates on y^2 = x^3 + 3; raises :class:`BLSKeyError`."""
    if pt is None:
        return None
    if not isinstance(pt, tuple | list) or len(pt) != 2:
        raise BLSKeyError(f"{what}: expected (x, y), got {pt!r}")
    x, y = (_coord(v, what) for v in pt)
    if (y * y - x * x * x - 3) % P:
        raise BLSKeyError(f"{what}: not on the curve")
    return x, y


def check_g2(pt: Any, what: str = "G2 point") -> G2 | None:
    """A G2 point (or None) with canonical coordinates on the twist and in the order-r subgroup."""
    if pt is None:
        return None
    try:
        (x0, x1), (y0, y1) = pt
    except (TypeError, ValueError):
        raise BLSKeyError(f"{what}: expected ((x.a0, x.a1), (y.a0, y.a1)), got {pt!r}") from None
    q = ((_coord(x0, what), _coord(x1, what)), (_coord(y0, what), _coord(y1, what)))
    ks = _kernels()
    if ks is not None:
        try:
            pts = _g2_import([q], ks[1])
        except native.NativeError:
            raise BLSKeyError(f"{what}: not on the twist") from None
        ok = bool(ks[1].in_subgroup(pts)[0])
    else:
        from py_ecc.optimized_bn128 import b2, is_inf, is_on_curve, multiply

        pq = _py_g2(q)
        if not is_on_curve(pq, b2):
            raise BLSKeyError(f"{what}: not on the twist")
        ok = is_inf(multiply(pq, R))
    if not ok:
        raise BLSKeyError(f"{what}: not in the order-r subgroup")
    return q


# ----- kernel conversions ----------------------------------------------------------------------
def _g1_import(points: Sequence[G1 | None], k: Any) -> np.ndarray:
    flat = [v for p in points for v in ((0, 0) if p is None else p)]
    xy = pairing_native.ints_to_words(flat, NL).reshape(len(points), 2, NL)
    return k.import_affine(xy, np.array([p is None for p in points], dtype=np.uint8))


def _g1_export(pts: np.ndarray, k: Any) -> list[G1 | None]:
    xy, inf = k.export_affine(pts)
    v = pairing_native.words_to_ints(xy)
    return [None if inf[i] else (v[2 * i], v[2 * i + 1]) for i in range(len(inf))]


def _g2_import(points: Sequence[G2 | None], k: Any) -> np.ndarray:
    flat = [v for q in points for v in ((0, 0, 0, 0) if q is None else (*q[0], *q[1]))]
    xy = pairing_native.ints_to_words(flat, NL).reshape(len(points), 4, NL)
    return k.import_affine(xy, np.array([q is None for q in points], dtype=np.uint8))


def _g2_export(pts: np.ndarray, k: Any) -> list[G2 | None]:
    xy, inf = k.export_affine(pts)
    v = pairing_native.words_to_ints(xy)
    return [
        None if inf[i] else ((v[4 * i], v[4 * i + 1]), (v[4 * i + 2], v[4 * i + 3])) for i in range(len(inf))
    ]


# ----- py_ecc fallback (and the tests' oracle form) --------------------------------------------
def _py_g1(p: G1 | None) -> Any:
    from py_ecc.fields import optimized_bn128_FQ as FQ

    return (FQ(1), FQ(1), FQ(0)) if p is None else (FQ(p[0]), FQ(p[1]), FQ(1))


def _py_g2(q: G2 | None) -> Any:
    from py_ecc.fields import optimized_bn128_FQ2 as FQ2

    if q is None:
        return (FQ2.one(), FQ2.one(), FQ2.zero())
    return (FQ2(list(q[0])), FQ2(list(q[1])), FQ2.one())


def _from_py_g1(p: Any) -> G1 | None:
    from py_ecc.optimized_bn128 import is_inf, normalize

    if is_inf(p):
        return None
    x, y = normalize(p)
    return int(x), int(y)


def _from_py_g2(q: Any) -> G2 | None:
    from py_ecc.optimized_bn128 import is_inf, normalize

    if is_inf(q):
        return None
    x, y = normalize(q)
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


# ----- operations ------------------------------------------------------------------------------
# (kernel index, import, export, to py_ecc, from py_ecc) per group
_G1 = (0, _g1_import, _g1_export, _py_g1, _from_py_g1)
_G2 = (1, _g2_import, _g2_export, _py_g2, _from_py_g2)


def _mul(group_ops: tuple, points: Sequence[Any], scalars: Sequence[int]) -> list[Any]:
    if not points:
        return []
    which, imp, exp, to_py, from_py = group_ops
    ks = _kernels()
    if ks is not None:
        k = ks[which]
        return exp(k.scalar_mul(imp(points, k), _scalars(scalars)), k)
    from py_ecc.optimized_bn128 import multiply

    return [from_py(multiply(to_py(p), s % R)) for p, s in zip(points, scalars, strict=True)]


def g1_mul(points: Sequence[G1 | None], scalars: Sequence[int]) -> list[G1 | None]:
    """[s_i * P_i] elementwise (scalars reduced mod r)."""
    return _mul(_G1, points, scalars)


def g2_mul(points: Sequence[G2 | None], scalars: Sequence[int]) -> list[G2 | None]:
    """[s_i * Q_i] elementwise (scalars reduced mod r)."""
    return _mul(_G2, points, scalars)


def g1_sum(points: Sequence[G1 | None]) -> G1 | None:
    """The sum of G1 points (None for an empty list)."""
    ks = _kernels()
    if ks is not None and points:
        k = ks[0]
        return _g1_export(k.sum(_g1_import(points, k)), k)[0]
    from py_ecc.optimized_bn128 import Z1, add

    acc = Z1
    for p in points:
        acc = add(acc, _py_g1(p))
    return _from_py_g1(acc)


def g2_sum(points: Sequence[G2 | None]) -> G2 | None:
    """The sum of G2 points (None for an empty list)."""
    if not points:
        return None
    ks = _kernels()
    if ks is not None:
        k = ks[1]
        acc = _g2_import(points, k)
        # the G2 kernel has no sum entry: its MSM with unit scalars adds the points
        return _g2_export(k.msm(acc, _scalars([1] * len(points))).reshape(1, 3, 2, NL), k)[0]
    from py_ecc.optimized_bn128 import Z2, add

    acc = Z2
    for q in points:
        acc = add(acc, _py_g2(q))
    return _from_py_g2(acc)


def g1_neg(p: G1 | None) -> G1 | None:
    return None if p is None else (p[0], (P - p[1]) % P)


def g2_neg(q: G2 | None) -> G2 | None:
    return None if q is None else (q[0], ((P - q[1][0]) % P, (P - q[1][1]) % P))


def pairing_check(pairs: Sequence[tuple[G1 | None, G2 | None]]) -> bool:
    """prod_k e(P_k, Q_k) == 1 (one final exponentiation; infinity terms contribute 1)."""
    if native.enabled():
        return pairing_native.check_ints("bn254", list(pairs))
    from py_ecc.fields import optimized_bn128_FQ12 as FQ12
    from py_ecc.optimized_bn128 import final_exponentiate, pairing

    acc = FQ12.one()
    for p, q in pairs:
        if p is not None and q is not None:
            acc = acc * pairing(_py_g2(q), _py_g1(p), final_exponentiate=False)
    return final_exponentiate(acc) == FQ12.one()


# ----- encodings -------------------------------------------------------------------------------
def g1_to_evm(p: G1 | None) -> tuple[int, int]:
    """(X, Y) as a contract's G1Point holds it ((0, 0) for infinity)."""
    return (0, 0) if p is None else p


def g2_to_evm(q: G2 | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """G2Point{X: [a1, a0], Y: [a1, a0]} (EIP-197 order, as BN254.sol holds it)."""
    if q is None:
        return (0, 0), (0, 0)
    return (q[0][1], q[0][0]), (q[1][1], q[1][0])


def g1_from_evm(v: Any, what: str = "G1 point") -> G1 | None:
    x, y = v
    return None if (x, y) == (0, 0) else check_g1((int(x), int(y)), what)


def g2_from_evm(v: Any, what: str = "G2 point") -> G2 | None:
    (x1, x0), (y1, y0) = v
    if (x1, x0, y1, y0) == (0, 0, 0, 0):
        return None
    return check_g2(((int(x0), int(x1)), (int(y0), int(y1))), what)


def g1_words(p: G1 | None) -> bytes:
    """64 bytes X || Y (the abi.encodePacked form; zeros for infinity)."""
    x, y = g1_to_evm(p)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def g2_words(q: G2 | None) -> bytes:
    """128 bytes X[0] || X[1] || Y[0] || Y[1] in EVM order (X[0] = a1)."""
    (a, b), (c, d) = g2_to_evm(q)
    return b"".join(v.to_bytes(32, "big") for v in (a, b, c, d))
