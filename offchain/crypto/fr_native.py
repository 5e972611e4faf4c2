"""Number-theoretic transforms over the scalar fields of BN254 and BLS12-381 in the native kernel
(``offchain/crypto/kernels/fr_native.c``): the Reed-Solomon extension, recovery and PeerDAS cell
conversions of :mod:`offchain.da` call :func:`offchain.crypto.ntt.ntt`, which uses this kernel for the
two scalar fields when native kernels are on (numpy backend) and the array code otherwise.

Values cross the boundary as canonical little-endian 4 x 64-bit words (repacked from and to the array
code's 29-bit Montgomery limbs by vectorised shifts), so the transform's results are the same field
elements as the array code's; ``tests/offchain/crypto/test_fr_native.py`` checks that.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from offchain import native
from offchain.crypto.errors import FrKernelError
from offchain.crypto.field import field_to_words, words_to_field

SOURCE = "crypto/kernels/fr_native.c"
FLAGS = ("-fopenmp",)

Array = Any


_u64p = ctypes.POINTER(ctypes.c_uint64)


def _ptr(a: np.ndarray) -> Any:
    return a.ctypes.data_as(_u64p)


def _words(x: int) -> list[int]:
    return [(x >> (64 * i)) & ((1 << 64) - 1) for i in range(4)]


class FrKernel:
    """The native NTT over one prime field below 2^256 (the array code's ``PrimeField``)."""

    def __init__(self, fr: Any) -> None:
        p = fr.p
        if p >= 1 << 256 or p % 2 == 0:
            raise FrKernelError(f"no native NTT for a {p.bit_length()}-bit modulus")
        self.fr = fr
        R = 1 << 256
        self.params = np.array(
            _words(p) + [(-pow(p, -1, 1 << 64)) % (1 << 64)] + _words(R * R % p), dtype=np.uint64
        )
        lib = native.load(SOURCE, FLAGS)
        self._ntt = lib.fr_ntt
        self._ntt.restype = ctypes.c_long
        self._ntt.argtypes = [_u64p, _u64p, ctypes.c_long, ctypes.c_long, _u64p, ctypes.c_int, _u64p]
        self._mul = lib.fr_mul_batch
        self._mul.restype = None
        self._mul.argtypes = [_u64p, _u64p, _u64p, ctypes.c_long]
        self._roots: dict[tuple[int, bool, int], np.ndarray] = {}

    def to_words(self, a: Array) -> np.ndarray:
        """Array-code batch (limbs, *shape) -> canonical uint64 (*shape, 4)."""
        shape = a.shape[1:]
        return field_to_words(self.fr, a.reshape(self.fr.n, -1), 4).reshape(shape + (4,))

    def from_words(self, w: np.ndarray) -> Array:
        """Canonical uint64 (*shape, 4) -> array-code batch (limbs, *shape)."""
        shape = w.shape[:-1]
        return words_to_field(self.fr, w.reshape(-1, 4)).reshape((self.fr.n,) + shape)

    def ntt_words(self, x: np.ndarray, roots: np.ndarray, inverse: bool, ninv: int) -> np.ndarray:
        """NTT of canonical words (N, K, 4) along axis 0 (a copy); ``roots`` (>= N/2, 4) canonical."""
        if x.dtype != np.uint64 or x.ndim != 3 or x.shape[2] != 4:
            raise FrKernelError(f"NTT input must be uint64 (N, K, 4), got {x.dtype} {x.shape}")
        N, K = x.shape[:2]
        if N & (N - 1) or N == 0:
            raise FrKernelError(f"NTT size {N} is not a power of two")
        if roots.shape[0] < N // 2 or roots.dtype != np.uint64:
            raise FrKernelError(f"{roots.shape[0]} roots for an NTT of size {N}")
        out = np.ascontiguousarray(x).copy()
        r = np.ascontiguousarray(roots[: max(1, N // 2)])
        s = np.array(_words(ninv), dtype=np.uint64)
        bad = int(self._ntt(_ptr(self.params), _ptr(out), N, K, _ptr(r), int(inverse), _ptr(s)))
        if bad < 0:
            raise native.NativeError("native NTT could not allocate its scratch memory")
        if bad:
            what = f"root {bad - 1 - N * K}" if bad > N * K else f"element {bad - 1}"
            raise FrKernelError(f"NTT input {what} is not a canonical field element (>= p)")
        return out

    def mul_words(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise product of canonical words (n, 4) (a test hook for the arithmetic)."""
        out = np.ascontiguousarray(a, dtype=np.uint64).copy()
        bb = np.ascontiguousarray(b, dtype=np.uint64)
        if out.shape != bb.shape or out.ndim != 2 or out.shape[1] != 4:
            raise FrKernelError("mul_words expects two uint64 (n, 4) arrays")
        self._mul(_ptr(self.params), _ptr(out), _ptr(bb), out.shape[0])
        return out

    def ntt(self, a: Array, domain: Any, inverse: bool = False) -> Array:
        """:func:`offchain.crypto.ntt.ntt` on the kernel: array-code batch (limbs, N, *rest) in and out."""
        N = a.shape[1]
        rest = a.shape[2:]
        x = self.to_words(a).reshape(N, -1, 4)
        key = (N, inverse, domain.omega)
        roots = self._roots.get(key)
        if roots is None:
            src = domain.roots_inv if inverse else domain.roots
            roots = self._roots[key] = self.to_words(src[:, : max(1, N // 2)])
        y = self.ntt_words(x, roots, inverse, domain.n_inv)
        return self.from_words(y.reshape((N,) + rest + (4,)))


_kernels: dict[int, FrKernel] = {}


def kernel_for(fr: Any) -> FrKernel | None:
    """The native NTT for ``fr`` when native kernels are on and ``fr`` is a numpy field, else None."""
    if fr.xp is not np or not native.enabled():
        return None
    k = _kernels.get(fr.p)
    if k is None:
        k = _kernels[fr.p] = FrKernel(fr)
    return k
