"""Exact integer building blocks: rounding shifts, bit lengths, integer square root, exp2 tables, RoPE tables.

Everything here is integer arithmetic (int64 on the array backend, Python ints for table construction).
No platform math library (libm, SIMD transcendental loops, vendor intrinsics) is used to produce a value:
tables are built by exact integer procedures (integer square roots, big-integer series) or by Python's
``decimal`` module, whose ``ln``/``exp`` are specified as correctly rounded, so every machine builds the
same tables bit for bit.
"""

from __future__ import annotations

import decimal
import math
from functools import cache, lru_cache
from typing import Any

import numpy as np

from offchain.ai.errors import EngineError

# Fixed-point constants shared by the engine and sampler.
EXP_ONE_BITS = 30  # exp tables are in units of 2^-30
LOG_FRAC_BITS = 16  # logits, scores and activations use 2^-16 units unless stated otherwise
_LOG2E_BITS = 32
_U_BITS = LOG_FRAC_BITS + _LOG2E_BITS  # u = d * LOG2E has 48 fractional bits
EXP_D_MAX = 32 << LOG_FRAC_BITS  # exp(-32) < 2^-46: clipping d here changes nothing at <= 30 bits
_BIG = 160  # bits of precision for table construction


def _ln2_fixed(bits: int) -> int:
    """floor(ln 2 * 2^bits) from ln 2 = sum_{k>=1} 1/(k 2^k), in exact integers (guard bits included)."""
    g = bits + 16
    acc = 0
    k = 1
    while k <= g + 8:
        acc += (1 << g) // (k << k)
        k += 1
    return acc >> 16


@cache
def log2e_q32() -> int:
    """round(log2(e) * 2^32) as an integer (= 2^32 / ln 2)."""
    ln2 = _ln2_fixed(_BIG)
    return ((1 << (_BIG + _LOG2E_BITS)) + ln2 // 2) // ln2


@cache
def _root_chain(depth: int) -> tuple[int, ...]:
    """r_j = 2^(1/2^j) in 2^-_BIG units for j = 0..depth (iterated exact integer square roots)."""
    roots = [2 << _BIG]
    for _ in range(depth):
        roots.append(math.isqrt(roots[-1] << _BIG))
    return tuple(roots)


def _exp2_neg_table(lo_bit: int, n: int) -> np.ndarray:
    """T[k] = round(2^30 * 2^(-k * 2^-lo_bit)) for k < n (n a power of two), exact integer procedure."""
    roots = _root_chain(lo_bit)
    one = 1 << _BIG
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        acc = one
        for i in range(n.bit_length() - 1):
            if (k >> i) & 1:
                acc = (acc * roots[lo_bit - i]) >> _BIG
        inv = (one << _BIG) // acc  # 2^(-k/2^lo_bit) in 2^-_BIG units
        out[k] = (inv + (1 << (_BIG - EXP_ONE_BITS - 1))) >> (_BIG - EXP_ONE_BITS)
    return out


@cache
def exp_tables() -> tuple[np.ndarray, np.ndarray]:
    """Two 1024-entry tables: 2^(-a/2^10) and 2^(-b/2^20), both in 2^-30 units."""
    return _exp2_neg_table(10, 1024), _exp2_neg_table(20, 1024)


_POW2 = np.array([1 << i for i in range(63)], dtype=np.int64)
_POW2_DEV: dict[str, Any] = {}


def pow2_table(xp: Any) -> Any:
    if xp is np:
        return _POW2
    key = xp.__name__
    if key not in _POW2_DEV:
        _POW2_DEV[key] = xp.asarray(_POW2)
    return _POW2_DEV[key]


def bitlen(xp: Any, a: Any) -> Any:
    """Bit length of non-negative int64 values (0 -> 0), by exact comparison with powers of two."""
    return xp.searchsorted(pow2_table(xp), a, side="right").astype(np.int64)


def round_shift(xp: Any, x: Any, s: Any) -> Any:
    """round(x / 2^s) (halves toward +inf) for int64 x and int64 s >= 0 (broadcastable)."""
    if isinstance(s, int):
        return xp.right_shift(x + (1 << (s - 1)), s) if s > 0 else x
    s = xp.asarray(s, dtype=np.int64)
    half = xp.where(s > 0, xp.left_shift(xp.int64(1), xp.maximum(s - 1, 0)), 0)
    return xp.right_shift(x + half, s)


def shift_signed(xp: Any, x: Any, s: Any) -> Any:
    """x * 2^-s exactly when s <= 0 (left shift), rounded when s > 0."""
    s = xp.asarray(s, dtype=np.int64)
    return xp.where(s >= 0, round_shift(xp, x, xp.maximum(s, 0)), xp.left_shift(x, xp.maximum(-s, 0)))


def rdiv(xp: Any, n: Any, d: Any) -> Any:
    """round(n / d) (halves toward +inf) for int64 n and positive int64 d; needs |2n + d| < 2^63."""
    return xp.floor_divide(2 * n + d, 2 * d)


def isqrt(xp: Any, v: Any) -> Any:
    """Exact floor(sqrt(v)) for int64 0 <= v < 2^62.

    A float estimate only seeds the search; integer comparisons then fix the result, so the answer does
    not depend on how the estimate was rounded.
    """
    if bool(xp.any(v < 0)) or bool(xp.any(v >= (1 << 62))):
        raise EngineError("integer square root argument outside [0, 2^62)")
    r = xp.sqrt(v.astype(np.float64)).astype(np.int64)
    for _ in range(4):
        r = xp.where(r * r > v, r - 1, r)
        r = xp.where((r + 1) * (r + 1) <= v, r + 1, r)
    if bool(xp.any((r * r > v) | ((r + 1) * (r + 1) <= v))):
        raise EngineError("integer square root did not converge")
    return r


def exp_neg(xp: Any, d: Any, out_bits: int) -> Any:
    """round-ish(2^out_bits * exp(-d / 2^16)) for int64 d >= 0, exact integer procedure.

    exp(-t) = 2^-(t log2 e): the integer part of the exponent is a shift, the top 20 fractional bits
    index two 1024-entry tables; the rest (< 2^-20 of the exponent) is truncated.
    """
    t1, t2 = exp_tables() if xp is np else (xp.asarray(t) for t in exp_tables())
    d = xp.minimum(d, EXP_D_MAX)
    u = d * log2e_q32()  # <= 2^21 * 2^32.53 < 2^54
    n = xp.right_shift(u, _U_BITS)
    f = u & ((1 << _U_BITS) - 1)
    a = xp.right_shift(f, _U_BITS - 10)
    b = xp.right_shift(f, _U_BITS - 20) & 1023
    val = xp.right_shift(t1[a] * t2[b] + (1 << (EXP_ONE_BITS - 1)), EXP_ONE_BITS)
    return round_shift(xp, val, n + (EXP_ONE_BITS - out_bits))


def _dec_to_fixed(x: decimal.Decimal, bits: int) -> int:
    with decimal.localcontext() as ctx:
        ctx.prec = 90
        return int((x * (decimal.Decimal(2) ** bits)).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))


def _cos_sin_fixed(theta: int, bits: int) -> tuple[int, int]:
    """cos/sin of theta (in 2^-bits units, |theta| <= 2) by Taylor series in exact integers."""
    one = 1 << bits
    c, s = 0, 0
    term = one  # theta^k / k!
    k = 0
    while term != 0:
        sign = -1 if (k // 2) % 2 else 1
        if k % 2 == 0:
            c += sign * term
        else:
            s += sign * term
        k += 1
        term = (term * theta >> bits) // k
    return c, s


@lru_cache(maxsize=8)
def rope_tables(base_num: int, base_den: int, head_dim: int, n_pos: int) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin(p * base^(-2i/head_dim)) in 2^-30 units, shape [n_pos, head_dim/2], int64.

    The base frequencies come from ``decimal`` ln/exp (correctly rounded by specification); rotation
    powers from exact big-integer complex products; the final table from int64 products of two
    2^-30 tables (p = 64 j + r), rounded once.
    """
    half = head_dim // 2
    bits = 128
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        ln_base = (decimal.Decimal(base_num) / decimal.Decimal(base_den)).ln()
        thetas = [(decimal.Decimal(-2 * i) / decimal.Decimal(head_dim) * ln_base).exp() for i in range(half)]
    n_hi = (n_pos + 63) // 64
    a_cos = np.empty((n_hi, half), dtype=np.int64)
    a_sin = np.empty((n_hi, half), dtype=np.int64)
    b_cos = np.empty((64, half), dtype=np.int64)
    b_sin = np.empty((64, half), dtype=np.int64)
    shift = bits - EXP_ONE_BITS
    rnd = 1 << (shift - 1)

    def mul(x: tuple[int, int], y: tuple[int, int]) -> tuple[int, int]:
        return ((x[0] * y[0] - x[1] * y[1]) >> bits, (x[0] * y[1] + x[1] * y[0]) >> bits)

    for i, th in enumerate(thetas):
        w = _cos_sin_fixed(_dec_to_fixed(th, bits), bits)
        z = (1 << bits, 0)
        w64 = w
        for _ in range(6):
            w64 = mul(w64, w64)
        for r in range(64):
            b_cos[r, i], b_sin[r, i] = (z[0] + rnd) >> shift, (z[1] + rnd) >> shift
            z = mul(z, w)
        z = (1 << bits, 0)
        for j in range(n_hi):
            a_cos[j, i], a_sin[j, i] = (z[0] + rnd) >> shift, (z[1] + rnd) >> shift
            z = mul(z, w64)
    one_half = 1 << (EXP_ONE_BITS - 1)
    ac, as_ = a_cos[:, None, :], a_sin[:, None, :]
    bc, bs = b_cos[None, :, :], b_sin[None, :, :]
    cos = ((ac * bc - as_ * bs + one_half) >> EXP_ONE_BITS).reshape(-1, half)[:n_pos]
    sin = ((as_ * bc + ac * bs + one_half) >> EXP_ONE_BITS).reshape(-1, half)[:n_pos]
    return np.ascontiguousarray(cos), np.ascontiguousarray(sin)
