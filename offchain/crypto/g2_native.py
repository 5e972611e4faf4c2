"""G2 batch operations of BN254 and BLS12-381 in the native kernel (``offchain/crypto/kernels/g2_native.c``).

What it is for: EigenDA's length commitment and length proof (two G2 MSMs of the blob's length, the
bulk of a client's commitment cost), test SRS generation, and subgroup checks of decoded G2 points
(``r * Q == O``). The array code does the same in numpy at ~5 ms per point operation batch step; this
kernel is ~100x faster on one core.

Kernel form: a uint64 array of shape ``(*batch, 3, 2, NL)`` holding Jacobian points over
Fp2 = Fp[u]/(u^2 + 1) in Montgomery form with 64-bit limbs (NL = 4 for BN254, 6 for BLS12-381),
made only by :meth:`G2Kernel.import_affine` (which checks every point: coordinates below p, on the
twist) or by the kernel's own operations. Scalars are canonical little-endian ``(*batch, 4)`` uint64.
Conversions to and from the array code's G2 batches go through canonical affine coordinates
(vectorised limb repacking, no per-element Python loops). Results are exact group elements, equal
to the array code's once encoded; tests/offchain/crypto/test_g2_native.py checks that.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import to_numpy
from offchain.crypto.errors import G2KernelError
from offchain.crypto.field import field_to_words, words_to_field
from offchain.crypto.g1_native import PointKernel, _ptr
from offchain.crypto.params import LIMBS

SOURCE = "crypto/kernels/g2_native.c"
FLAGS = ("-fopenmp",)

Array = Any


_u64p = ctypes.POINTER(ctypes.c_uint64)
_u8p = ctypes.POINTER(ctypes.c_uint8)


class G2Kernel(PointKernel):
    """The native G2 operations of one curve (``"bn254"`` or ``"bls12_381"``) over its array-code groups."""

    Error = G2KernelError
    POINT_TAIL = (3, 2)
    AFFINE_COORDS = 4

    def __init__(self, name: str, groups: Any) -> None:
        if name not in LIMBS:
            raise G2KernelError(f"no native G2 kernel for curve {name!r}")
        self.name = name
        self.nl = LIMBS[name]
        self.groups = groups
        if groups.fp.nbytes != 8 * self.nl:
            raise G2KernelError(f"{name}: field size does not match the kernel's limb count")
        lib = native.load(SOURCE, FLAGS)
        n_, i_, p_, b_ = ctypes.c_long, ctypes.c_int, _u64p, _u8p
        sigs = {
            "import": (n_, [p_, b_, n_, p_]),
            "normalize": (i_, [p_, n_]),
            "export": (None, [p_, n_, p_, b_]),
            "scalar_mul": (None, [p_, p_, n_, p_]),
            "scalar_mul1": (None, [p_, p_, n_, p_]),
            "msm_pippenger": (i_, [p_, p_, n_, i_, p_]),
            "fixed_base": (i_, [p_, p_, n_, p_]),
            "import_proj": (n_, [p_, n_, p_]),
            "sqrt_rhs": (None, [p_, n_, p_, b_]),
        }
        self._fn = {}
        for op, (res, args) in sigs.items():
            f = getattr(lib, f"{name}_g2_{op}")
            f.restype = res
            f.argtypes = args
            self._fn[op] = f
        self._order = np.array(
            [(groups.g2.order >> (64 * i)) & ((1 << 64) - 1) for i in range(4)], dtype=np.uint64
        )

    # ----- checks -------------------------------------------------------------------------
    def _points(self, pts: Any) -> np.ndarray:
        if (
            not isinstance(pts, np.ndarray)
            or pts.dtype != np.uint64
            or pts.ndim < 3
            or pts.shape[-3:] != (3, 2, self.nl)
        ):
            raise G2KernelError(
                f"{self.name}: points must be uint64 (..., 3, 2, {self.nl}) G2 kernel points, "
                f"got {getattr(pts, 'shape', None)}"
            )
        return np.ascontiguousarray(pts)

    # ----- boundary -----------------------------------------------------------------------
    def import_affine(self, xy: Any, inf: Any) -> np.ndarray:
        """Canonical affine uint64 (n, 4, NL) as (x.c0, x.c1, y.c0, y.c1) and infinity flags (n,) ->
        kernel points (n, 3, 2, NL). Raises G2KernelError naming the first invalid point."""
        if (
            not isinstance(xy, np.ndarray)
            or xy.dtype != np.uint64
            or xy.ndim != 3
            or xy.shape[1:] != (4, self.nl)
        ):
            raise G2KernelError(
                f"{self.name}: affine G2 coordinates must be uint64 (n, 4, {self.nl}), "
                f"got {getattr(xy, 'shape', None)}"
            )
        n = xy.shape[0]
        if not isinstance(inf, np.ndarray) or inf.shape != (n,) or inf.dtype not in (np.uint8, np.bool_):
            raise G2KernelError(
                f"{self.name}: infinity flags must be uint8/bool ({n},), got {getattr(inf, 'shape', None)}"
            )
        xy = np.ascontiguousarray(xy)
        flags = np.ascontiguousarray(inf.astype(np.uint8))
        out = np.empty((n, 3, 2, self.nl), dtype=np.uint64)
        bad = int(self._fn["import"](_ptr(xy), _ptr(flags), n, _ptr(out)))
        if bad:
            raise G2KernelError(
                f"{self.name}: point {bad - 1} is not a valid affine G2 point (range, twist or infinity encoding)"
            )
        return out

    def from_group(self, Q: Array) -> np.ndarray:
        """Array-code G2 batch (3, limbs, 2, n) -> kernel points (n, 3, 2, NL), normalised (Z in {0, 1}):
        the projective coordinates cross as canonical words, checked on the twist by the kernel, which
        also does the one inversion."""
        fp = self.groups.fp
        if Q.ndim != 4:
            raise G2KernelError(f"{self.name}: expected a one-dimensional G2 batch, got shape {Q.shape}")
        cols = [to_numpy(field_to_words(fp, Q[c][:, k], self.nl)) for c in range(3) for k in (0, 1)]
        xyz = np.ascontiguousarray(np.stack(cols, axis=1))
        out = np.empty((Q.shape[-1], 3, 2, self.nl), dtype=np.uint64)
        bad = int(self._fn["import_proj"](_ptr(xyz), xyz.shape[0], _ptr(out)))
        if bad:
            raise G2KernelError(
                f"{self.name}: point {bad - 1} is not a valid projective G2 point (range or twist)"
            )
        return self.normalized(out)

    def to_group(self, pts: Any, xp: Any = np) -> Array:
        """Kernel points (..., 3, 2, NL) -> array-code G2 batch (3, limbs, 2, n) of affine points on ``xp``."""
        g2 = self.groups.g2
        fp = self.groups.fp
        xy, inf = self.export_affine(pts)
        xy = xp.asarray(xy)
        x = xp.stack([words_to_field(fp, xy[:, 0]), words_to_field(fp, xy[:, 1])], axis=1)
        y = xp.stack([words_to_field(fp, xy[:, 2]), words_to_field(fp, xy[:, 3])], axis=1)
        return g2.from_affine(x, y, xp.asarray(inf))

    def scalars_from_fr(self, s: Array) -> np.ndarray:
        """Fr batch (limbs, *shape) -> canonical scalars uint64 (*shape, 4)."""
        fr = self.groups.fr
        shape = s.shape[1:]
        return to_numpy(field_to_words(fr, s.reshape(fr.n, -1), 4)).reshape(shape + (4,))

    # ----- operations ---------------------------------------------------------------------
    def scalar_mul(self, pts: Any, sc: Any) -> np.ndarray:
        """Elementwise s_i * Q_i (width-5 NAF per point, points in parallel)."""
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n)
        out = np.empty_like(p)
        self._fn["scalar_mul"](_ptr(p), _ptr(s), n, _ptr(out))
        return out

    def sqrt_rhs(self, x_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical x uint64 (n, 2, NL) as (c0, c1), each below p -> (ok (n,) bool, y (n, 2, NL)): y a
        square root of x^3 + b' where ok (decompression; the caller picks the sign)."""
        x = np.ascontiguousarray(x_words, dtype=np.uint64)
        if x.ndim != 3 or x.shape[1:] != (2, self.nl):
            raise G2KernelError(f"{self.name}: x must be uint64 (n, 2, {self.nl}), got {x.shape}")
        y = np.empty_like(x)
        ok = np.empty(x.shape[0], dtype=np.uint8)
        self._fn["sqrt_rhs"](_ptr(x), x.shape[0], _ptr(y), _ptr(ok))
        return ok.astype(bool), y

    def fixed_base_mul(self, base: Any, sc: Any) -> np.ndarray:
        """s_i * B for one point B (kernel form (3, 2, NL) or (1, 3, 2, NL)) and scalars (n, 4): an 8-bit
        comb (8,160 affine multiples of B, then 31 mixed additions per scalar; ~10x a plain multiply)."""
        b = self._points(np.asarray(base).reshape(1, 3, 2, self.nl))
        n = int(np.asarray(sc).size // 4)
        s = self._scalars(sc, n)
        out = np.empty((n, 3, 2, self.nl), dtype=np.uint64)
        self._check(self._fn["fixed_base"](_ptr(b), _ptr(s), n, _ptr(out)), "fixed_base")
        return out

    def in_subgroup(self, pts: Any) -> np.ndarray:
        """Bool per point: r * Q == O (r the prime group order)."""
        p = self._points(pts)
        n = self._count(p)
        out = np.empty_like(p)
        self._fn["scalar_mul1"](_ptr(p), _ptr(self._order), n, _ptr(out))
        z = out.reshape(n, 3, 2, self.nl)[:, 2]
        return ~z.reshape(n, -1).any(axis=1)

    def msm(self, pts: Any, sc: Any) -> np.ndarray:
        """sum_i s_i Q_i over a 1-D batch -> (3, 2, NL): the bucket method with signed digits and affine
        buckets (batched inversions), windows in parallel."""
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n)
        c = max(
            2, min(13, n.bit_length() - 5)
        )  # signed digits: 2^(c-1) buckets; c = 13 measured best at 2^17-2^19
        out = np.empty((3, 2, self.nl), dtype=np.uint64)
        self._check(self._fn["msm_pippenger"](_ptr(p), _ptr(s), n, c, _ptr(out)), "msm")
        return out


_kernels: dict[tuple[str, str], G2Kernel] = {}


def kernel(name: str, groups: Any) -> G2Kernel | None:
    """The shared G2 kernel of curve ``name``, or None when native kernels are off (``EIGEN_NATIVE=0``,
    no C compiler): callers then use the array code, which gives the same group elements."""
    if not native.enabled() or name not in LIMBS:
        return None
    key = (name, groups.xp.__name__)
    k = _kernels.get(key)
    if k is None:
        k = _kernels[key] = G2Kernel(name, groups)
    return k


def subgroup_mask(name: str, groups: Any, Q: Array) -> np.ndarray | None:
    """Bool per point of the array-code G2 batch ``Q``: in the order-r subgroup (r * Q == O, computed
    exactly by the kernel), or None when native kernels are off (callers use the array code)."""
    k = kernel(name, groups)
    if k is None:
        return None
    return k.in_subgroup(k.from_group(Q))


def g2_sqrt_rhs(
    name: str, groups: Any, c0_be: np.ndarray, c1_be: np.ndarray
) -> tuple[np.ndarray, Array] | None:
    """Decompression's square root on the kernel: big-endian canonical x components (n, 8 NL) each ->
    (ok mask, y as a numpy Fp2 batch) with y^2 = x^3 + b' where ok (either root); None when native
    kernels are off (callers use the array code's Fp2 square root)."""
    k = kernel(name, groups)
    if k is None:
        return None
    words = np.stack([np.ascontiguousarray(c[:, ::-1]).view("<u8") for c in (c0_be, c1_be)], axis=1)
    ok, y = k.sqrt_rhs(words)
    fp = groups.fp
    return ok, np.stack([words_to_field(fp, y[:, 0]), words_to_field(fp, y[:, 1])], axis=1)
