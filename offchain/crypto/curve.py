"""Short Weierstrass curves y^2 = x^3 + b over Fp or Fp2, in batches, as array code.

Points are homogeneous projective ``(X : Y : Z)`` stored as one array of shape ``(3, *element, *batch)``
(``element`` is ``(nlimbs,)`` over Fp, ``(nlimbs, 2)`` over Fp2); the point at infinity is ``(0 : 1 : 0)``.
Addition and doubling use the complete formulas of Renes, Costello and Batina (2016, algorithms 7
and 9 for a = 0): no branches, so a whole batch runs the same instruction stream on CPU or GPU and
special cases (P = Q, P = -Q, infinity) need no masks.

Multi-scalar multiplication: the bucket method (Pippenger) with buckets filled by a padded gather
and a tree reduction, windowed double-and-add for small batches, and fixed-base tables
(:class:`FixedBaseMSM`) for points known in advance (SRS).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from offchain.backend import to_numpy
from offchain.crypto.errors import CurveError, PointError
from offchain.crypto.field import PrimeField
from offchain.crypto.fp2 import Fp2

Array = Any


def scalars_to_bytes(values: list[int] | np.ndarray, nbytes: int = 32) -> np.ndarray:
    """Python ints (or an existing uint8 (N, nbytes) array) -> uint8 (N, nbytes) big-endian."""
    if isinstance(values, np.ndarray):
        return values.astype(np.uint8).reshape(-1, nbytes)
    raw = b"".join(int(v).to_bytes(nbytes, "big") for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), nbytes)


def scalar_digits(scalars_be: np.ndarray, c: int) -> np.ndarray:
    """uint8 (N, nbytes) big-endian scalars -> int64 digits (W, N) base 2**c, least significant first."""
    n, nbytes = scalars_be.shape
    bits = np.unpackbits(scalars_be[:, ::-1], axis=1, bitorder="little")  # (N, 8*nbytes) LSB first
    w = -(-8 * nbytes // c)
    pad = w * c - bits.shape[1]
    if pad:
        bits = np.concatenate([bits, np.zeros((n, pad), np.uint8)], axis=1)
    weights = np.int64(1) << np.arange(c, dtype=np.int64)
    digits = bits.reshape(n, w, c).astype(np.int64) @ weights
    return np.ascontiguousarray(digits.T)


def encoded_rows(data: bytes, size: int, what: str) -> np.ndarray:
    """Encoded points of ``size`` bytes each -> a writable uint8 (n, size) copy (a point decoder's first step)."""
    if len(data) % size:
        raise PointError(f"{what}: {len(data)} bytes is not a multiple of {size}")
    return np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, size).copy()


class Curve:
    """y^2 = x^3 + b over the field object ``F`` (PrimeField or Fp2)."""

    def __init__(self, F: Any, b: Array, order: int, name: str, generator: Array | None = None) -> None:
        self.F = F
        self.xp = F.xp
        self.b = b  # element of shape elem + () (no batch axes)
        self.b3 = F.add(F.add(b, b), b)
        self.order = order
        self.name = name
        self.boff = F.boff + 1  # leading non-batch axes of a point batch
        self.generator = generator
        self._b3_small: int | None = None

    def set_small_b3(self, k: int) -> None:
        """Use ``mul_small(k)`` for 3b when 3b is a small integer (G1: b3 = 9 or 12)."""
        self._b3_small = k

    def _mul_b3(self, a: Array) -> Array:
        if self._b3_small is not None:
            return self.F.mul_small(a, self._b3_small)
        nb = a.ndim - self.F.boff
        return self.F.mul(a, self.b3.reshape(self.b3.shape + (1,) * nb))

    # ----- construction ------------------------------------------------------------------
    def batch_shape(self, P: Array) -> tuple[int, ...]:
        return tuple(P.shape[self.boff :])

    def infinity(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        F = self.F
        return self.xp.stack([F.zeros(shape), F.ones(shape), F.zeros(shape)])

    def from_affine(self, x: Array, y: Array, inf: Array | None = None) -> Array:
        F = self.F
        shape = x.shape[F.boff :]
        P = self.xp.stack([x, y, F.ones(shape)])
        if inf is not None:
            P = self.select(inf, self.infinity(shape), P)
        return P

    def to_affine(self, P: Array) -> tuple[Array, Array, Array]:
        """(x, y, is_infinity); x = y = 0 at infinity. One batch inversion for the whole batch."""
        F = self.F
        zinv = F.inv(P[2])
        return F.mul(P[0], zinv), F.mul(P[1], zinv), F.is_zero(P[2])

    def select(self, mask: Array, P: Array, Q: Array) -> Array:
        return self.xp.where(mask.reshape((1,) * self.boff + mask.shape), P, Q)

    # ----- predicates --------------------------------------------------------------------
    def is_inf(self, P: Array) -> Array:
        return self.F.is_zero(P[2])

    def is_on_curve(self, P: Array) -> Array:
        """Y^2 Z == X^3 + b Z^3 (true at infinity)."""
        F = self.F
        X, Y, Z = P[0], P[1], P[2]
        lhs = F.mul(F.sqr(Y), Z)
        z3 = F.mul(F.sqr(Z), Z)
        nb = Z.ndim - F.boff
        rhs = F.add(F.mul(F.sqr(X), X), F.mul(z3, self.b.reshape(self.b.shape + (1,) * nb)))
        return F.eq(lhs, rhs)

    def eq(self, P: Array, Q: Array) -> Array:
        F = self.F
        ex = F.eq(F.mul(P[0], Q[2]), F.mul(Q[0], P[2]))
        ey = F.eq(F.mul(P[1], Q[2]), F.mul(Q[1], P[2]))
        return ex & ey

    # ----- group law ---------------------------------------------------------------------
    def neg(self, P: Array) -> Array:
        return self.xp.stack([P[0], self.F.neg(P[1]), P[2]])

    def add(self, P: Array, Q: Array) -> Array:
        F = self.F
        X1, Y1, Z1 = P[0], P[1], P[2]
        X2, Y2, Z2 = Q[0], Q[1], Q[2]
        t0 = F.mul(X1, X2)
        t1 = F.mul(Y1, Y2)
        t2 = F.mul(Z1, Z2)
        t3 = F.mul(F.add(X1, Y1), F.add(X2, Y2))
        t4 = F.add(t0, t1)
        t3 = F.sub(t3, t4)
        t4 = F.mul(F.add(Y1, Z1), F.add(Y2, Z2))
        t4 = F.sub(t4, F.add(t1, t2))
        X3 = F.mul(F.add(X1, Z1), F.add(X2, Z2))
        Y3 = F.sub(X3, F.add(t0, t2))
        X3 = F.add(t0, t0)
        t0 = F.add(X3, t0)
        t2 = self._mul_b3(t2)
        Z3 = F.add(t1, t2)
        t1 = F.sub(t1, t2)
        Y3 = self._mul_b3(Y3)
        X3 = F.mul(t4, Y3)
        t2 = F.mul(t3, t1)
        X3 = F.sub(t2, X3)
        Y3 = F.mul(Y3, t0)
        t1 = F.mul(t1, Z3)
        Y3 = F.add(t1, Y3)
        t0 = F.mul(t0, t3)
        Z3 = F.mul(Z3, t4)
        Z3 = F.add(Z3, t0)
        return self.xp.stack([X3, Y3, Z3])

    def double(self, P: Array) -> Array:
        F = self.F
        X, Y, Z = P[0], P[1], P[2]
        t0 = F.sqr(Y)
        Z3 = F.add(t0, t0)
        Z3 = F.add(Z3, Z3)
        Z3 = F.add(Z3, Z3)
        t1 = F.mul(Y, Z)
        t2 = self._mul_b3(F.sqr(Z))
        X3 = F.mul(t2, Z3)
        Y3 = F.add(t0, t2)
        Z3 = F.mul(t1, Z3)
        t1 = F.add(t2, t2)
        t2 = F.add(t1, t2)
        t0 = F.sub(t0, t2)
        Y3 = F.mul(t0, Y3)
        Y3 = F.add(X3, Y3)
        t1 = F.mul(X, Y)
        X3 = F.mul(t0, t1)
        X3 = F.add(X3, X3)
        return self.xp.stack([X3, Y3, Z3])

    # ----- batch structure ---------------------------------------------------------------
    def take(self, P: Array, idx: Array, axis: int = 0) -> Array:
        return self.xp.take(P, idx, axis=self.boff + axis)

    def concat(self, Ps: list[Array], axis: int = 0) -> Array:
        return self.xp.concatenate(Ps, axis=self.boff + axis)

    def sum(self, P: Array, axis: int = 0) -> Array:
        """Sum a batch along ``axis`` by a tree of vectorised additions (halves, contiguous)."""
        xp = self.xp
        ax = self.boff + axis
        P = xp.ascontiguousarray(xp.moveaxis(P, ax, self.boff))
        lead = [slice(None)] * self.boff
        while P.shape[self.boff] > 1:
            n = P.shape[self.boff]
            half = n // 2
            lo = P[tuple(lead + [slice(0, half)])]
            hi = P[tuple(lead + [slice(half, 2 * half)])]
            s = self.add(lo, hi)
            if n % 2:
                s = xp.concatenate([s, P[tuple(lead + [slice(n - 1, n)])]], axis=self.boff)
            P = s
        return P[tuple(lead + [0])]

    def _gather_table(self, table: Array, digit: Array) -> Array:
        """table (K, 3, *elem, B) and digit (B,) -> (3, *elem, B) picking table[digit[b], ..., b]."""
        xp = self.xp
        K = table.shape[0]
        B = table.shape[-1]
        flat = table.reshape(K, -1, B)
        picked = flat[digit, :, xp.arange(B)]  # (B, X)
        return picked.T.reshape(table.shape[1:])

    # ----- scalar multiplication ---------------------------------------------------------
    def mul_int(self, P: Array, k: int) -> Array:
        """Multiply a whole batch by the same public integer ``k`` >= 0 (double and add)."""
        R = self.infinity(self.batch_shape(P))
        for bit in bin(k)[2:]:
            R = self.double(R)
            if bit == "1":
                R = self.add(R, P)
        return R

    def scalar_mul(self, P: Array, scalars: np.ndarray, window: int = 4) -> Array:
        """Per-element scalar multiplication: ``scalars`` uint8 (B, nbytes) big-endian, P batch (B,)."""
        xp = self.xp
        shape = self.batch_shape(P)
        if len(shape) != 1:
            raise CurveError("scalar_mul expects a one-dimensional batch")
        digits = xp.asarray(scalar_digits(scalars, window))  # (W, B)
        table = [self.infinity(shape), P]
        for k in range(2, 1 << window):
            table.append(self.double(table[k // 2]) if k % 2 == 0 else self.add(table[k - 1], P))
        T = xp.stack(table)
        top = int(to_numpy(digits).any(axis=1).nonzero()[0].max(initial=-1))
        R = self.infinity(shape)
        for w in range(top, -1, -1):
            for _ in range(window):
                R = self.double(R)
            R = self.add(R, self._gather_table(T, digits[w]))
        return R

    def msm(self, P: Array, scalars: np.ndarray, c: int | None = None) -> Array:
        """One multi-scalar multiplication sum_i s_i P_i (bucket method). P batch (N,); scalars (N, nbytes)."""
        N = self.batch_shape(P)[0]
        if N == 0:
            return self.infinity(())
        if N < 16:
            return self.sum(self.scalar_mul(P, scalars))
        if c is None:
            c = max(2, min(12, int(np.log2(N)) - 2))
        digits = scalar_digits(scalars, c)  # (W, N)
        W = digits.shape[0]
        # Window-shifted bases are not precomputed here: bucket sums per window, then Horner.
        window_sums = self._bucket_window_sums(P, digits, c)  # (W,)
        R = self.infinity(())
        for w in range(W - 1, -1, -1):
            for _ in range(c):
                R = self.double(R)
            R = self.add(R, window_sums[tuple([slice(None)] * self.boff + [w])])
        return R

    def _bucket_window_sums(self, P: Array, digits: np.ndarray, c: int) -> Array:
        """For digits (W, N) and points P (N,): S_w = sum_i digits[w, i] * P_i for every window w."""
        W, N = digits.shape
        nb = 1 << c
        # bucket id = w * nb + digit; digit 0 contributes nothing.
        key = (np.arange(W, dtype=np.int64)[:, None] * nb + digits).reshape(-1)
        src = np.tile(np.arange(N, dtype=np.int64), W)
        keep = digits.reshape(-1) != 0
        key, src = key[keep], src[keep]
        buckets = self._bucket_sums(P, key, src, W * nb)  # (W*nb,)
        # S_w = sum_k k * B_{w,k}: multiply buckets by their c-bit index, tree-sum per window.
        weighted = self._small_scalar_mul(buckets, np.tile(np.arange(nb, dtype=np.int64), W), c)
        weighted = weighted.reshape(weighted.shape[: self.boff] + (W, nb))
        return self.sum(weighted, axis=1)

    def _small_scalar_mul(self, P: Array, k: np.ndarray, bits: int) -> Array:
        """Per-element multiplication by small non-negative integers k < 2**bits (double and add)."""
        xp = self.xp
        shape = self.batch_shape(P)
        kk = xp.asarray(k)
        R = self.infinity(shape)
        for i in range(bits - 1, -1, -1):
            R = self.double(R)
            bit = ((kk >> i) & 1).astype(bool)
            R = self.select(bit, self.add(R, P), R)
        return R

    def _bucket_sums(
        self, P: Array, key: np.ndarray, src: np.ndarray, nbuckets: int, width: int = 4
    ) -> Array:
        """Sum points P[src[j]] into buckets key[j] (reduce by key).

        Entries are sorted by key and packed into rows of ``width`` slots (padding = infinity); each
        level sums the rows with a vectorised tree, which divides the number of entries per bucket by
        ``width``, until every bucket holds one entry. Work is about N (1 + 1/width + ...) additions,
        whatever the distribution of the digits.
        """
        xp = self.xp
        lead = tuple([slice(None)] * self.boff)
        order = np.argsort(key, kind="stable")
        key, src = key[order], src[order]
        V = self.take(P, xp.asarray(src))
        while True:
            M = key.size
            counts = np.bincount(key, minlength=nbuckets)
            if M == 0 or counts.max() <= 1:
                out = self.infinity(nbuckets)
                if M:
                    out[lead + (xp.asarray(key),)] = V
                return out
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            rank = np.arange(M) - starts[key]
            rows_per_key = -(-counts // width)
            row_start = np.concatenate([[0], np.cumsum(rows_per_key)[:-1]])
            nrows = int(rows_per_key.sum())
            row = row_start[key] + rank // width
            gather = np.full((nrows, width), M, dtype=np.int64)
            gather[row, rank % width] = np.arange(M)
            Vi = self.concat([V, self.infinity(1)])
            G = self.take(Vi, xp.asarray(gather.reshape(-1)))
            G = G.reshape(G.shape[: self.boff] + (nrows, width))
            V = self.sum(G, axis=1)
            key = np.repeat(np.arange(nbuckets), rows_per_key)


class FixedBaseMSM:
    """MSMs over a fixed list of bases with precomputed window-shifted tables.

    For bases P_i and windows of ``c`` bits the table holds ``2**(c w) P_i`` for every window w,
    so an MSM is one bucket pass over N*W (point, digit) pairs with no final doublings.
    """

    def __init__(self, curve: Curve, bases: Array, c: int = 8, scalar_bytes: int = 32) -> None:
        self.curve = curve
        self.c = c
        self.scalar_bytes = scalar_bytes
        self.W = -(-8 * scalar_bytes // c)
        self.N = curve.batch_shape(bases)[0]
        rows = [bases]
        cur = bases
        for _ in range(1, self.W):
            for _ in range(c):
                cur = curve.double(cur)
            rows.append(cur)
        self.table = curve.concat(rows)  # (W*N,) window-major

    def msm(self, scalars: np.ndarray) -> Array:
        """sum_i s_i P_i for scalars uint8 (n <= N, nbytes); uses the first n bases."""
        C = self.curve
        n = scalars.shape[0]
        if n > self.N:
            raise CurveError(f"MSM of {n} scalars over a table of {self.N} bases")
        digits = scalar_digits(scalars, self.c)  # (W, n)
        nb = 1 << self.c
        key = digits.reshape(-1)
        src = (np.arange(self.W, dtype=np.int64)[:, None] * self.N + np.arange(n)[None, :]).reshape(-1)
        keep = key != 0
        buckets = C._bucket_sums(self.table, key[keep], src[keep], nb)
        weighted = C._small_scalar_mul(buckets, np.arange(nb, dtype=np.int64), self.c)
        return C.sum(weighted)


@dataclass(frozen=True)
class PairingGroups:
    """Fields and groups of a pairing-friendly curve over one array module (what
    :func:`offchain.crypto.bn254.bn254` and :func:`offchain.crypto.bls12_381.bls12_381` return)."""

    xp: ModuleType
    fp: PrimeField
    fr: PrimeField
    fp2: Fp2
    g1: Curve
    g2: Curve
