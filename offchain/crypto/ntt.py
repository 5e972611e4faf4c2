"""Radix-2 number-theoretic transforms over a prime field, and FFTs over a curve group, in batches.

Layout: the transform runs along the first batch axis of an element batch (Fr: ``(nlimbs, N, *rest)``;
G1: ``(3, nlimbs, N, *rest)``); trailing axes ``rest`` are independent columns transformed together.
Each stage is one vectorised butterfly over the whole array (no per-element Python loops).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from offchain.crypto.errors import DomainError
from offchain.crypto.field import PrimeField
from offchain.crypto.fr_native import kernel_for

Array = Any


def bitrev_indices(n: int) -> np.ndarray:
    """The bit-reversal permutation of range(n) (n a power of two)."""
    if n & (n - 1) or n <= 0:
        raise DomainError(f"size {n} is not a power of two")
    bits = n.bit_length() - 1
    idx = np.arange(n, dtype=np.int64)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):  # loop over bit positions, not elements
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


class Domain:
    """The multiplicative subgroup of size N of a field with a known primitive 2^s-th root."""

    def __init__(self, fr: PrimeField, N: int, root_2s: int, two_adicity: int) -> None:
        if N & (N - 1) or N <= 0 or N.bit_length() - 1 > two_adicity:
            raise DomainError(f"domain size {N} is not a power of two <= 2^{two_adicity}")
        self.fr = fr
        self.N = N
        self.logN = N.bit_length() - 1
        self.omega = pow(root_2s, 1 << (two_adicity - self.logN), fr.p)
        self.omega_inv = pow(self.omega, -1, fr.p) if N > 1 else 1
        self.n_inv = pow(N, -1, fr.p)
        self.roots = powers(fr, self.omega, N)  # Montgomery (nlimbs, N)
        self.roots_inv = powers(fr, self.omega_inv, N)

    def roots_ints(self) -> list[int]:
        return self.fr.to_ints(self.roots)


def powers(fr: PrimeField, g: int, n: int, start: int = 1) -> Array:
    """[start * g^i for i < n] as a Montgomery batch, by doubling (log n vectorised steps)."""
    out = fr.from_ints([start % fr.p])
    gk = g % fr.p
    while out.shape[1] < n:
        out = fr.concat([out, fr.mul(out, fr.const(gk, out.shape[1:]))])
        gk = gk * gk % fr.p
    return out[:, :n]


@functools.lru_cache(maxsize=64)
def _cached_domain(fr: PrimeField, N: int, root: int, adicity: int) -> Domain:
    return Domain(fr, N, root, adicity)


def _split(a: Array, boff: int, h: int) -> tuple[Array, Array, tuple[int, ...]]:
    """Reshape axis ``boff`` (length N) into (N/(2h), 2, h) and return the even/odd halves."""
    shape = a.shape
    N = shape[boff]
    new = shape[:boff] + (N // (2 * h), 2, h) + shape[boff + 1 :]
    b = a.reshape(new)
    lead = (slice(None),) * (boff + 1)
    return b[lead + (0,)], b[lead + (1,)], shape


def _tw_shape(tw: Array, boff: int, nrest: int) -> Array:
    """Twiddles (elem..., h) -> broadcastable to (elem..., blocks, h, *rest)."""
    return tw.reshape(tw.shape[:boff] + (1, tw.shape[-1]) + (1,) * nrest)


def ntt(fr: PrimeField, a: Array, domain: Domain, inverse: bool = False) -> Array:
    """Forward (or inverse) NTT along the first batch axis; natural order in and out."""
    xp = fr.xp
    N = a.shape[1]
    if N != domain.N:
        raise DomainError(f"transform of length {N} on a domain of size {domain.N}")
    if N > 1 and a.size:
        k = kernel_for(fr)  # the native kernel (same field elements), numpy backend with kernels on
        if k is not None:
            return k.ntt(a, domain, inverse)
    nrest = a.ndim - 2
    perm = xp.asarray(bitrev_indices(N))
    x = xp.take(a, perm, axis=1)
    roots = domain.roots_inv if inverse else domain.roots
    h = 1
    while h < N:
        tw = roots[:, :: N // (2 * h)][:, :h]
        u, v, shape = _split(x, 1, h)
        v = fr.mul(v, _tw_shape(tw, 1, nrest))
        x = xp.stack([fr.add(u, v), fr.sub(u, v)], axis=2).reshape(shape)
        h *= 2
    if inverse:
        x = fr.mul(x, fr.const(domain.n_inv, (1,) * (a.ndim - 1)))
    return x


def coset_scale(fr: PrimeField, a: Array, g: int) -> Array:
    """Multiply entry i (first batch axis) by g^i."""
    N = a.shape[1]
    pw = powers(fr, g, N)
    return fr.mul(a, pw.reshape(pw.shape + (1,) * (a.ndim - 2)))


def group_fft(curve: Any, fr: PrimeField, P: Array, domain: Domain, inverse: bool = False) -> Array:
    """FFT of a 1-D batch of curve points (length N); twiddles are batched scalar multiplications."""
    boff = curve.boff
    if P.shape[boff] != domain.N or P.ndim != boff + 1:
        raise DomainError("group_fft expects a 1-D batch of the domain's size")
    x = _group_fft_columns(curve, fr, P[..., None], domain, inverse)[..., 0]
    if inverse:
        n_inv = np.frombuffer(domain.n_inv.to_bytes(fr.nbytes, "big"), np.uint8)
        x = curve.scalar_mul(x, np.tile(n_inv, (domain.N, 1)))
    return x


def group_fft_sparse(curve: Any, fr: PrimeField, H: Array, M: int, root_2s: int, adicity: int) -> Array:
    """Evaluate sum_e H_e z^e at all M-th roots of unity z = w_M^j, j natural, for m = len(H) | M.

    Splits the size-M FFT of an input with only m non-zero entries into M/m twisted FFTs of size m:
    out[s + (M/m) t] = FFT_m(H_e * w_M^(s e))[t].
    """
    xp = curve.xp
    boff = curve.boff
    m = H.shape[boff]
    if M % m:
        raise DomainError("sparse FFT: m must divide M")
    k = M // m
    dM = _cached_domain(fr, M, root_2s, adicity)
    dm = _cached_domain(fr, m, root_2s, adicity)
    # twist row e (e >= 1) by w_M^(s e) for every column s; row 0 is multiplied by 1.
    e = np.arange(1, m, dtype=np.int64)[:, None]
    s = np.arange(k, dtype=np.int64)[None, :]
    expo = (e * s) % M  # (m-1, k)
    roots_bytes = fr.to_bytes(dM.roots)  # (M, nbytes)
    scal = roots_bytes[expo.reshape(-1)]  # ((m-1)*k, nbytes), e-major
    lead = (slice(None),) * boff
    Hrep = xp.repeat(H[lead + (slice(1, m),)], k, axis=boff)
    T1 = curve.scalar_mul(Hrep, scal) if m > 1 else Hrep
    T0 = xp.repeat(H[lead + (slice(0, 1),)], k, axis=boff)
    T = xp.concatenate([T0, T1], axis=boff)
    T = T.reshape(T.shape[:boff] + (m, k))
    # FFT of size m along axis boff for each column s: run as a batch of k columns.
    out = _group_fft_columns(curve, fr, T, dm)  # (.., m, k): out[t, s]
    return out.reshape(out.shape[:boff] + (M,))


def _group_fft_columns(curve: Any, fr: PrimeField, T: Array, domain: Domain, inverse: bool = False) -> Array:
    """Unscaled group FFT along axis boff of a (.., N, K) batch (K independent columns)."""
    xp = curve.xp
    boff = curve.boff
    N, K = T.shape[boff], T.shape[boff + 1]
    x = xp.take(T, xp.asarray(bitrev_indices(N)), axis=boff)
    h = 1
    while h < N:
        roots = domain.roots_inv if inverse else domain.roots
        tw = roots[:, :: N // (2 * h)][:, :h]
        u, v, shape = _split(x, boff, h)  # (.., blocks, h, K)
        blocks = N // (2 * h)
        if h > 1:
            # twiddle 0 is 1: multiply only v[:, :, 1:, :]
            twb = fr.to_bytes(tw)[1:]  # (h-1, nbytes)
            scal = np.broadcast_to(twb[None, :, None, :], (blocks, h - 1, K, twb.shape[1])).reshape(
                -1, twb.shape[1]
            )
            lead = (slice(None),) * (boff + 1)
            v1 = xp.ascontiguousarray(v[lead + (slice(1, h),)])
            vflat = curve.scalar_mul(v1.reshape(v1.shape[:boff] + (-1,)), scal)
            v = xp.concatenate([v[lead + (slice(0, 1),)], vflat.reshape(v1.shape)], axis=boff + 1)
        x = xp.stack([curve.add(u, v), curve.add(u, curve.neg(v))], axis=boff + 1).reshape(shape)
        h *= 2
    return x
