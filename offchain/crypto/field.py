"""Prime-field arithmetic as array code (numpy or cupy), Montgomery form on 29-bit limbs.

An element batch is an ``int64`` array of shape ``(nlimbs, *batch)``: limb ``i`` (weight ``2**(29*i)``)
first, so each limb of the whole batch is one contiguous vector. Values are kept in Montgomery form
``a*R mod p`` with ``R = 2**(29*nlimbs)`` chosen with at least 30 bits of headroom over ``p``, which
lets additions and subtractions stay *lazy*: they never compare or reduce, they only add a multiple
of ``p`` (``sub``) and do one carry round. Every multiplication brings the value back below ``2p``.

Invariants (checked by the tests, relied upon by the curve code):
- limbs are in ``[-3, 2**29 + 8]`` (one parallel carry round after every operation);
- the represented integer ``sum(limb_i * 2**(29 i))`` is non-negative and below ``2**12 * p`` at the
  inputs of ``mul`` (the curve formulas chain at most a few additions between multiplications);
- column sums of a product stay below ``2**63`` (``2 * nlimbs * 2**58`` at most).

The same integer operations run on numpy and cupy, so both give identical bits.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from offchain.backend import to_numpy
from offchain.crypto.errors import FieldError

LIMB_BITS = 29
MASK = (1 << LIMB_BITS) - 1

Array = Any  # numpy.ndarray or cupy.ndarray


def _int_to_limbs(x: int, n: int) -> list[int]:
    return [(x >> (LIMB_BITS * i)) & MASK for i in range(n)]


def pow_fixed(F: Any, a: Array, e: int, one: Array) -> Array:
    """Square-and-multiply by a public exponent over any field object with ``mul``/``sqr``."""
    if e < 0:
        raise FieldError("negative exponent")
    if e == 0:
        return one
    result = a.copy()
    for bit in bin(e)[3:]:
        result = F.sqr(result)
        if bit == "1":
            result = F.mul(result, a)
    return result


class PrimeField:
    """Arithmetic modulo the prime ``p`` over the array module ``xp``."""

    boff = 1  # leading non-batch axes of an element: (limbs,)

    def __init__(self, p: int, xp: ModuleType = np, name: str = "F") -> None:
        self.p = p
        self.xp = xp
        self.name = name
        self.bits = p.bit_length()
        self.nbytes = (self.bits + 7) // 8
        self.n = -(-(self.bits + 30) // LIMB_BITS)
        self.R = 1 << (LIMB_BITS * self.n)
        self.r_mod = self.R % p
        self.r2_mod = (self.R * self.R) % p
        self.pinv = (-pow(p, -1, 1 << LIMB_BITS)) % (1 << LIMB_BITS)
        self._P = xp.asarray(np.array(_int_to_limbs(p, self.n), dtype=np.int64))
        # K = 2**13 * p, added by ``sub`` so that a - b stays non-negative for b < 2**13 p.
        self._K = xp.asarray(np.array(_int_to_limbs(p << 13, self.n), dtype=np.int64))
        self._R2 = xp.asarray(np.array(_int_to_limbs(self.r2_mod, self.n), dtype=np.int64))
        self._ONE = xp.asarray(np.array(_int_to_limbs(self.r_mod, self.n), dtype=np.int64))
        self._kernel: Any = _cuda_mont_mul(self) if xp is not np else None

    def __repr__(self) -> str:
        return f"PrimeField({self.name}, {self.bits} bits, {self.n} limbs, {self.xp.__name__})"

    # ----- shapes and constants -------------------------------------------------------------
    def _bc(self, c: Array, ndim: int) -> Array:
        return c.reshape((self.n,) + (1,) * ndim)

    def zeros(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self.xp.zeros((self.n,) + shape, dtype=self.xp.int64)

    def ones(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        z = self.xp.zeros((self.n,) + shape, dtype=self.xp.int64)
        return z + self._bc(self._ONE, len(shape))

    def const(self, value: int, shape: tuple[int, ...] | int = ()) -> Array:
        """A batch filled with the constant ``value`` (any integer, reduced mod p)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        limbs = np.array(_int_to_limbs((value % self.p) * self.R % self.p, self.n), dtype=np.int64)
        z = self.xp.zeros((self.n,) + shape, dtype=self.xp.int64)
        return z + self._bc(self.xp.asarray(limbs), len(shape))

    # ----- conversions (host side; not hot paths) --------------------------------------------
    def _limbs_from_be_bytes(self, raw: np.ndarray) -> np.ndarray:
        """uint8 (batch, nbytes) big-endian -> canonical int64 limbs (n, batch) on the host."""
        raw = np.ascontiguousarray(raw, dtype=np.uint8)
        bits = np.unpackbits(raw[:, ::-1], axis=1, bitorder="little")  # little-endian bit order
        total = self.n * LIMB_BITS
        if bits.shape[1] < total:
            bits = np.concatenate([bits, np.zeros((bits.shape[0], total - bits.shape[1]), np.uint8)], axis=1)
        else:
            bits = bits[:, :total]
        weights = np.int64(1) << np.arange(LIMB_BITS, dtype=np.int64)
        limbs = bits.reshape(bits.shape[0], self.n, LIMB_BITS).astype(np.int64) @ weights
        return np.ascontiguousarray(limbs.T)

    def _be_bytes_from_limbs(self, limbs: np.ndarray) -> np.ndarray:
        """Canonical limbs (n, batch) -> uint8 (batch, nbytes) big-endian."""
        flat = limbs.reshape(self.n, -1).T  # (batch, n)
        bits = ((flat[:, :, None] >> np.arange(LIMB_BITS, dtype=np.int64)) & 1).astype(np.uint8)
        bits = bits.reshape(flat.shape[0], -1)[:, : 8 * self.nbytes]
        return np.packbits(bits, axis=1, bitorder="little")[:, ::-1].copy()

    def lt_p_bytes(self, raw: np.ndarray) -> np.ndarray:
        """Boolean mask: which big-endian rows encode an integer below p (host, vectorised)."""
        raw = np.ascontiguousarray(raw, dtype=np.uint8)
        pb = np.frombuffer(self.p.to_bytes(raw.shape[1], "big"), dtype=np.uint8)
        diff = raw.astype(np.int16) - pb.astype(np.int16)
        nz = diff != 0
        first = np.where(nz.any(axis=1), nz.argmax(axis=1), raw.shape[1] - 1)
        d = diff[np.arange(raw.shape[0]), first]
        return d < 0

    def from_bytes(self, data: bytes | np.ndarray, strict: bool = True) -> Array:
        """Big-endian ``nbytes``-byte rows -> Montgomery batch (batch,). Rejects values >= p if strict."""
        raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else np.asarray(data)
        raw = raw.reshape(-1, self.nbytes) if raw.ndim == 1 else raw
        if raw.shape[1] != self.nbytes:
            raise FieldError(f"{self.name}: expected {self.nbytes}-byte elements, got {raw.shape[1]}")
        if strict and raw.shape[0] and not bool(self.lt_p_bytes(raw).all()):
            bad = int(np.argmin(self.lt_p_bytes(raw)))
            raise FieldError(f"{self.name}: element {bad} is not canonical (>= modulus)")
        limbs = self.xp.asarray(self._limbs_from_be_bytes(raw))
        return self.to_mont(limbs)

    def to_bytes(self, a: Array) -> np.ndarray:
        """Montgomery batch -> uint8 (batch, nbytes) canonical big-endian (on the host)."""
        return self._be_bytes_from_limbs(to_numpy(self.canonical(self.from_mont(a))))

    def from_ints(self, values: list[int] | tuple[int, ...]) -> Array:
        """Python ints (any range; reduced mod p) -> Montgomery batch. For constants and tests."""
        raw = b"".join((v % self.p).to_bytes(self.nbytes, "big") for v in values)
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(len(values), self.nbytes)
        return self.from_bytes(arr, strict=False)

    def to_ints(self, a: Array) -> list[int]:
        """Montgomery batch -> flat list of canonical Python ints. For tests and interop."""
        rows = self.to_bytes(a)
        return [int.from_bytes(r.tobytes(), "big") for r in rows]

    def to_mont(self, canonical_limbs: Array) -> Array:
        return self.mul(canonical_limbs, self._bc(self._R2, canonical_limbs.ndim - 1))

    def from_mont(self, a: Array) -> Array:
        one = self.xp.zeros_like(a)
        one[0] = 1
        return self.mul(a, one)

    # ----- carries ----------------------------------------------------------------------------
    def _carry_round(self, t: Array) -> Array:
        c = t[:-1] >> LIMB_BITS
        t[:-1] &= MASK
        t[1:] += c
        return t

    def canonical(self, a: Array) -> Array:
        """Fully reduce a non-negative value below ``2p`` (e.g. a ``mul`` output) to ``[0, p)``."""
        xp = self.xp
        t = a.copy()
        for i in range(self.n - 1):
            c = t[i] >> LIMB_BITS
            t[i] &= MASK
            t[i + 1] += c
        # t < 2p here: subtract p once where t >= p (sequential borrow).
        d = t - self._bc(self._P, t.ndim - 1)
        for i in range(self.n - 1):
            c = d[i] >> LIMB_BITS
            d[i] &= MASK
            d[i + 1] += c
        ge = d[-1] >= 0
        return xp.where(ge[None], d, t)

    # ----- arithmetic -------------------------------------------------------------------------
    def add(self, a: Array, b: Array) -> Array:
        return self._carry_round(a + b)

    def sub(self, a: Array, b: Array) -> Array:
        t = a - b
        t += self._bc(self._K, t.ndim - 1)
        return self._carry_round(t)

    def neg(self, a: Array) -> Array:
        t = self._bc(self._K, a.ndim - 1) - a
        return self._carry_round(t)

    def mul_small(self, a: Array, k: int) -> Array:
        """Multiply by a small non-negative integer constant (k < 2**12)."""
        return self._carry_round(a * k)

    def mul(self, a: Array, b: Array) -> Array:
        """Montgomery product ``a*b/R``; output below ``2p`` with limbs in the invariant range."""
        xp = self.xp
        n = self.n
        a, b = xp.broadcast_arrays(a, b)
        shape = a.shape[1:]
        if self._kernel is not None:
            return self._mul_fused(a, b, shape)
        t = xp.zeros((2 * n,) + shape, dtype=xp.int64)
        for i in range(n):
            t[i : i + n] += a[i] * b
        P = self._bc(self._P, len(shape))
        pinv = self.pinv
        for i in range(n):
            m = ((t[i] & MASK) * pinv) & MASK
            t[i : i + n] += m * P
            t[i + 1] += t[i] >> LIMB_BITS
        r = t[n : 2 * n].copy()
        self._carry_round(r)
        return self._carry_round(r)

    def _mul_fused(self, a: Array, b: Array, shape: tuple[int, ...]) -> Array:
        """GPU: the same limb algorithm as ``mul`` (same integer operations, same bits) in one kernel."""
        xp = self.xp
        a2 = xp.ascontiguousarray(a.reshape(self.n, -1))
        b2 = xp.ascontiguousarray(b.reshape(self.n, -1))
        count = a2.shape[1]
        out = xp.empty_like(a2)
        if count:
            threads = 128
            self._kernel(((count + threads - 1) // threads,), (threads,), (a2, b2, out, np.int64(count)))
        return out.reshape((self.n,) + shape)

    def sqr(self, a: Array) -> Array:
        return self.mul(a, a)

    def pow(self, a: Array, e: int) -> Array:
        """``a**e`` for a fixed public exponent, the same for the whole batch (square and multiply)."""
        return pow_fixed(self, a, e, self.ones(a.shape[1:]))

    def is_zero(self, a: Array) -> Array:
        """Boolean batch: value == 0 mod p."""
        c = self.canonical(self.from_mont(a))
        return (c == 0).all(axis=0)

    def eq(self, a: Array, b: Array) -> Array:
        return self.is_zero(self.sub(a, b))

    def select(self, mask: Array, a: Array, b: Array) -> Array:
        """Elementwise ``mask ? a : b`` (mask has the batch shape)."""
        return self.xp.where(mask[None], a, b)

    def inv(self, a: Array) -> Array:
        """Batch inversion (Montgomery's trick as a product tree); inverse of 0 is 0."""
        xp = self.xp
        shape = a.shape[1:]
        flat = a.reshape(self.n, -1)
        count = flat.shape[1]
        if count == 0:
            return a.copy()
        zero = self.is_zero(flat)
        one = self.ones(count)
        flat = xp.where(zero[None], one, flat)
        size = 1 << max(0, (count - 1).bit_length())
        if size > count:
            flat = xp.concatenate([flat, self.ones(size - count)], axis=1)
        levels = [flat]
        while levels[-1].shape[1] > 1:
            cur = levels[-1]
            levels.append(self.mul(cur[:, 0::2], cur[:, 1::2]))
        # the root of the tree is one non-zero element: invert it on the host (Python's modular inverse,
        # microseconds) rather than as a Fermat power (~1.5 log2 p array products: ~35 ms for BN254)
        inv = self.from_ints([pow(self.to_ints(levels[-1])[0], -1, self.p)])
        for lvl in reversed(levels[:-1]):
            left = lvl[:, 0::2]
            right = lvl[:, 1::2]
            nxt = xp.empty_like(lvl)
            nxt[:, 0::2] = self.mul(inv, right)
            nxt[:, 1::2] = self.mul(inv, left)
            inv = nxt
        out = inv[:, :count]
        out = xp.where(zero[None], xp.zeros_like(out), out)
        return out.reshape((self.n,) + shape)

    def is_square_and_sqrt(self, a: Array) -> tuple[Array, Array]:
        """For p = 3 mod 4: (is_square mask, a square root where one exists)."""
        if self.p % 4 != 3:
            raise FieldError(f"{self.name}: sqrt implemented only for p = 3 mod 4")
        s = self.pow(a, (self.p + 1) // 4)
        return self.eq(self.sqr(s), a), s

    def is_lexicographically_largest(self, a: Array) -> Array:
        """Boolean batch: canonical value > (p-1)/2 (gnark 'largest')."""
        c = self.canonical(self.from_mont(a))
        half = self.xp.asarray(np.array(_int_to_limbs((self.p - 1) // 2, self.n), dtype=np.int64))
        d = self._bc(half, c.ndim - 1) - c  # negative iff c > half
        for i in range(self.n - 1):
            carry = d[i] >> LIMB_BITS
            d[i] &= MASK
            d[i + 1] += carry
        return d[-1] < 0

    # ----- batch helpers ----------------------------------------------------------------------
    def take(self, a: Array, idx: Array, axis: int = 0) -> Array:
        return self.xp.take(a, idx, axis=axis + 1)

    def concat(self, arrays: list[Array], axis: int = 0) -> Array:
        return self.xp.concatenate(arrays, axis=axis + 1)

    def stack(self, arrays: list[Array], axis: int = 0) -> Array:
        return self.xp.stack(arrays, axis=axis + 1)


# ----- canonical 64-bit words (the native kernels' form) ------------------------------------------
def field_to_words(F: Any, a: Array, words: int) -> Array:
    """Montgomery batch (limbs, batch) of the field ``F`` -> canonical uint64 (batch, words), little-endian,
    by shifts of the canonical 29-bit limbs (array code on ``F.xp``, so it stays on the GPU there)."""
    xp = F.xp
    c = F.canonical(F.from_mont(a)).astype(xp.uint64)
    out = xp.zeros((c.shape[1], words), dtype=xp.uint64)
    for i in range(F.n):
        for w in range(words):
            shift = LIMB_BITS * i - 64 * w
            if 0 <= shift < 64:
                out[:, w] |= c[i] << xp.uint64(shift)
            elif -LIMB_BITS < shift < 0:
                out[:, w] |= c[i] >> xp.uint64(-shift)
    return out


def words_to_field(F: Any, w: Array) -> Array:
    """Canonical uint64 (batch, words) little-endian -> Montgomery batch (limbs, batch) of ``F``."""
    xp = F.xp
    w = xp.asarray(w, dtype=xp.uint64)
    words = w.shape[1]
    limbs = xp.zeros((F.n, w.shape[0]), dtype=xp.uint64)
    for i in range(F.n):
        j, o = divmod(LIMB_BITS * i, 64)
        if j < words:
            limbs[i] = w[:, j] >> xp.uint64(o)
            if o > 64 - LIMB_BITS and j + 1 < words:
                limbs[i] |= w[:, j + 1] << xp.uint64(64 - o)
    return F.to_mont((limbs & xp.uint64(MASK)).astype(xp.int64))


_CUDA_SOURCE = r"""
extern "C" __global__ void mont_mul(const long long* a, const long long* b, long long* r, const long long count) {
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= count) return;
    const long long P[NL] = {PLIMBS};
    long long t[2 * NL];
    long long bb[NL];
    #pragma unroll
    for (int i = 0; i < 2 * NL; i++) t[i] = 0;
    #pragma unroll
    for (int k = 0; k < NL; k++) bb[k] = b[k * count + j];
    #pragma unroll
    for (int i = 0; i < NL; i++) {
        const long long ai = a[i * count + j];
        #pragma unroll
        for (int k = 0; k < NL; k++) t[i + k] += ai * bb[k];
    }
    #pragma unroll
    for (int i = 0; i < NL; i++) {
        const long long m = ((t[i] & MASKV) * PINVV) & MASKV;
        #pragma unroll
        for (int k = 0; k < NL; k++) t[i + k] += m * P[k];
        t[i + 1] += t[i] >> 29;
    }
    long long res[NL];
    #pragma unroll
    for (int k = 0; k < NL; k++) res[k] = t[NL + k];
    #pragma unroll
    for (int round = 0; round < 2; round++) {
        long long c[NL];
        #pragma unroll
        for (int k = 0; k < NL - 1; k++) c[k] = res[k] >> 29;
        #pragma unroll
        for (int k = 0; k < NL - 1; k++) res[k] &= MASKV;
        #pragma unroll
        for (int k = 0; k < NL - 1; k++) res[k + 1] += c[k];
    }
    #pragma unroll
    for (int k = 0; k < NL; k++) r[k * count + j] = res[k];
}
"""


def _cuda_mont_mul(F: PrimeField) -> Any:
    """A cupy RawKernel computing exactly ``PrimeField.mul`` (word-by-word REDC, two carry rounds)."""
    import cupy  # type: ignore[import-not-found]

    src = (
        _CUDA_SOURCE.replace("NL", str(F.n))
        .replace("PLIMBS", ", ".join(f"{v}LL" for v in _int_to_limbs(F.p, F.n)))
        .replace("MASKV", f"{MASK}LL")
        .replace("PINVV", f"{F.pinv}LL")
    )
    return cupy.RawKernel(src, "mont_mul")
