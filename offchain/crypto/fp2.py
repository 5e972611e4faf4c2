"""Quadratic extension Fp2 = Fp[u]/(u^2 + 1) as array code over a :class:`PrimeField`.

An element batch is an int64 array of shape ``(nlimbs, 2, *batch)``: component 0 is the real part
(c0), component 1 the imaginary part (c1). Additions reuse the base field directly (the component
axis is just one more batch axis); a product is one base-field multiplication over a stacked batch
(Karatsuba: three products computed together).
"""

from __future__ import annotations

from typing import Any

from offchain.crypto.errors import FieldError
from offchain.crypto.field import PrimeField, pow_fixed

Array = Any


class Fp2:
    """Fp2 with u^2 = -1 (valid for BN254 and BLS12-381, both with p = 3 mod 4)."""

    boff = 2  # leading non-batch axes of an element: (limbs, component)

    def __init__(self, fp: PrimeField) -> None:
        if fp.p % 4 != 3:
            raise FieldError("Fp2 with u^2 = -1 needs p = 3 mod 4")
        self.fp = fp
        self.xp = fp.xp
        self.p = fp.p
        self.nbytes = 2 * fp.nbytes

    # ----- construction ------------------------------------------------------------------
    def zeros(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self.fp.zeros((2,) + shape)

    def ones(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        z = self.fp.zeros((2,) + shape)
        z[:, 0] = self.fp.ones(shape)
        return z

    def const(self, c0: int, c1: int, shape: tuple[int, ...] | int = ()) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        z = self.fp.zeros((2,) + shape)
        z[:, 0] = self.fp.const(c0, shape)
        z[:, 1] = self.fp.const(c1, shape)
        return z

    def from_pairs(self, pairs: list[tuple[int, int]]) -> Array:
        c0 = self.fp.from_ints([a for a, _ in pairs])
        c1 = self.fp.from_ints([b for _, b in pairs])
        return self.xp.stack([c0, c1], axis=1)

    def to_pairs(self, a: Array) -> list[tuple[int, int]]:
        c0 = self.fp.to_ints(a[:, 0])
        c1 = self.fp.to_ints(a[:, 1])
        return list(zip(c0, c1, strict=True))

    # ----- arithmetic --------------------------------------------------------------------
    def add(self, a: Array, b: Array) -> Array:
        return self.fp.add(a, b)

    def sub(self, a: Array, b: Array) -> Array:
        return self.fp.sub(a, b)

    def neg(self, a: Array) -> Array:
        return self.fp.neg(a)

    def mul_small(self, a: Array, k: int) -> Array:
        return self.fp.mul_small(a, k)

    def mul(self, a: Array, b: Array) -> Array:
        xp = self.xp
        fp = self.fp
        a, b = xp.broadcast_arrays(a, b)
        a0, a1 = a[:, 0], a[:, 1]
        b0, b1 = b[:, 0], b[:, 1]
        lhs = xp.stack([a0, a1, fp.add(a0, a1)], axis=1)
        rhs = xp.stack([b0, b1, fp.add(b0, b1)], axis=1)
        t = fp.mul(lhs, rhs)
        t0, t1, t2 = t[:, 0], t[:, 1], t[:, 2]
        c0 = fp.sub(t0, t1)
        c1 = fp.sub(t2, fp.add(t0, t1))
        return xp.stack([c0, c1], axis=1)

    def sqr(self, a: Array) -> Array:
        xp = self.xp
        fp = self.fp
        a0, a1 = a[:, 0], a[:, 1]
        # (a0 + a1 u)^2 = (a0+a1)(a0-a1) + 2 a0 a1 u
        lhs = xp.stack([fp.add(a0, a1), a0], axis=1)
        rhs = xp.stack([fp.sub(a0, a1), a1], axis=1)
        t = fp.mul(lhs, rhs)
        return xp.stack([t[:, 0], fp.add(t[:, 1], t[:, 1])], axis=1)

    def conj(self, a: Array) -> Array:
        return self.xp.stack([a[:, 0], self.fp.neg(a[:, 1])], axis=1)

    def mul_fp(self, a: Array, s: Array) -> Array:
        """Multiply by a base-field batch ``s`` of shape (nlimbs, *batch)."""
        return self.fp.mul(a, s[:, None])

    def norm(self, a: Array) -> Array:
        t = self.fp.mul(a, a)
        return self.fp.add(t[:, 0], t[:, 1])

    def inv(self, a: Array) -> Array:
        n_inv = self.fp.inv(self.norm(a))
        return self.mul_fp(self.conj(a), n_inv)

    def pow(self, a: Array, e: int) -> Array:
        return pow_fixed(self, a, e, self.ones(a.shape[2:]))

    def is_zero(self, a: Array) -> Array:
        z = self.fp.is_zero(a)
        return z[0] & z[1]

    def eq(self, a: Array, b: Array) -> Array:
        return self.is_zero(self.sub(a, b))

    def select(self, mask: Array, a: Array, b: Array) -> Array:
        return self.xp.where(mask[None, None], a, b)

    def sqrt(self, a: Array) -> tuple[Array, Array]:
        """(is_square mask, a square root where one exists), for p = 3 mod 4 (Adj, Rodriguez-Henriquez)."""
        xp = self.xp
        p = self.p
        a1 = self.pow(a, (p - 3) // 4)
        alpha = self.mul(self.sqr(a1), a)
        x0 = self.mul(a1, a)
        minus_one = self.const(-1, 0, alpha.shape[2:])
        alpha_is_m1 = self.eq(alpha, minus_one)
        # alpha == -1: x = u * x0
        ux0 = xp.stack([self.fp.neg(x0[:, 1]), x0[:, 0]], axis=1)
        b = self.pow(self.add(self.ones(alpha.shape[2:]), alpha), (p - 1) // 2)
        bx0 = self.mul(b, x0)
        x = self.select(alpha_is_m1, ux0, bx0)
        ok = self.eq(self.sqr(x), a)
        return ok, x

    def is_lexicographically_largest(self, a: Array) -> Array:
        """gnark's rule: compare c1, or c0 when c1 == 0."""
        fp = self.fp
        c1_zero = fp.is_zero(a[:, 1])
        return self.xp.where(
            c1_zero, fp.is_lexicographically_largest(a[:, 0]), fp.is_lexicographically_largest(a[:, 1])
        )

    # ----- batch helpers -----------------------------------------------------------------
    def take(self, a: Array, idx: Array, axis: int = 0) -> Array:
        return self.xp.take(a, idx, axis=axis + 2)

    def concat(self, arrays: list[Array], axis: int = 0) -> Array:
        return self.xp.concatenate(arrays, axis=axis + 2)

    def stack(self, arrays: list[Array], axis: int = 0) -> Array:
        return self.xp.stack(arrays, axis=axis + 2)
