"""G1 batch operations of BN254 and BLS12-381 in the native kernel (``offchain/crypto/kernels/g1_native.c``).

Kernel form: a uint64 array of shape ``(*batch, 3, NL)`` holding Jacobian points in Montgomery form
with 64-bit limbs (NL = 4 for BN254, 6 for BLS12-381), made only by :meth:`G1Kernel.import_affine`
(which checks every point: coordinates below p, on the curve) or by the kernel's own operations.
Scalars are canonical little-endian ``(*batch, 4)`` uint64. Conversions to and from the array code's
representation (29-bit Montgomery limbs, projective) go through canonical affine coordinates, repacked
between 29-bit limbs and 64-bit words by vectorised shifts (numpy or cupy): no per-element Python loops.

Results are exact group elements, so once encoded (affine, compressed) they equal the array code's
bit for bit; tests/offchain/crypto/test_g1_native.py checks that.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import to_numpy
from offchain.crypto.errors import G1KernelError
from offchain.crypto.field import field_to_words, words_to_field
from offchain.crypto.params import LIMBS

SOURCE = "crypto/kernels/g1_native.c"
FLAGS = ("-fopenmp",)

PIPPENGER_MIN = 1024  # MSMs from this many terms use the bucket method on the CPU

Array = Any


_u64p = ctypes.POINTER(ctypes.c_uint64)
_u8p = ctypes.POINTER(ctypes.c_uint8)


def _ptr(a: np.ndarray) -> Any:
    return a.ctypes.data_as(_u8p if a.dtype == np.uint8 else _u64p)


# odd multiples per base -> NAF width, for precomputed (fixed-base) row MSMs
PRE_TABLE_SIZES = {1 << (w - 2): w for w in range(3, 9)}


class PointKernel:
    """What the CPU G1 and G2 kernels share over their C entry points ``normalize`` and ``export``:
    argument checks, point counts, normalisation and affine export. A subclass sets ``Error`` (its typed
    error), ``POINT_TAIL`` (a point's shape before the limb axis: (3,) for G1, (3, 2) for G2) and
    ``AFFINE_COORDS`` (base-field words of an affine point: 2 or 4), and has ``name``, ``nl``, ``_fn``
    and a ``_points`` check."""

    xp = np  # array module of the kernel's points
    Error: type[Exception] = native.NativeError
    POINT_TAIL: tuple[int, ...] = (3,)
    AFFINE_COORDS = 2
    name: str
    nl: int
    _fn: dict[str, Any]

    def _points(self, pts: Any) -> Array:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _count(self, pts: Any) -> int:
        return int(np.prod(pts.shape[: -(len(self.POINT_TAIL) + 1)], dtype=np.int64))

    def _scalars(self, sc: Any, count: int) -> Array:
        if not isinstance(sc, self.xp.ndarray) or sc.dtype != np.uint64 or sc.ndim < 1 or sc.shape[-1] != 4:
            raise self.Error(
                f"{self.name}: scalars must be uint64 (..., 4), got {getattr(sc, 'shape', None)}"
            )
        if sc.size // 4 != count:
            raise self.Error(f"{self.name}: {sc.size // 4} scalars for {count} points")
        return self.xp.ascontiguousarray(sc)

    def _check(self, err: int, op: str) -> None:
        if err:
            raise native.NativeError(f"{self.name}: native {op} could not allocate its scratch memory")

    def normalized(self, pts: Any) -> np.ndarray:
        """A copy with every point affine (Z = 1) or infinity (Z = 0): cheaper to add (mixed formula)."""
        p = self._points(pts).copy()
        self._check(self._fn["normalize"](_ptr(p), self._count(p)), "normalize")
        return p

    def export_affine(self, pts: Any) -> tuple[np.ndarray, np.ndarray]:
        """Kernel points -> canonical affine uint64 (n, AFFINE_COORDS, NL) and infinity flags (n,) (flattened)."""
        p = self.normalized(pts)
        n = self._count(p)
        xy = np.empty((n, self.AFFINE_COORDS, self.nl), dtype=np.uint64)
        inf = np.empty(n, dtype=np.uint8)
        self._fn["export"](_ptr(p), n, _ptr(xy), _ptr(inf))
        return xy, inf.astype(bool)


class G1Kernel(PointKernel):
    """The native G1 operations of one curve (``"bn254"`` or ``"bls12_381"``) over its array-code groups."""

    xp = np  # array module of the kernel's points
    PRE_WIDTH = 6  # NAF width of fixed-base row MSMs (table of 2^(w-2) odd multiples per base)

    Error = G1KernelError

    def __init__(self, name: str, groups: Any, extra_flags: tuple[str, ...] = ()) -> None:
        """``extra_flags``: further compiler flags for the C kernel (tests build variants, e.g. ``-DG1_MUL32``)."""
        if name not in LIMBS:
            raise G1KernelError(f"no native G1 kernel for curve {name!r}")
        self.name = name
        self.nl = LIMBS[name]
        self.groups = groups
        if groups.fp.nbytes != 8 * self.nl or groups.fr.nbytes != 32:
            raise G1KernelError(f"{name}: field sizes do not match the kernel's limb count")
        lib = native.load(SOURCE, FLAGS + tuple(extra_flags))
        self.lib = lib
        pre = name + "_"
        n_, i_, p_, b_ = ctypes.c_long, ctypes.c_int, _u64p, _u8p
        sigs = {
            "import": (n_, [p_, b_, n_, p_]),
            "normalize": (i_, [p_, n_]),
            "export": (None, [p_, n_, p_, b_]),
            "scalar_mul": (None, [p_, p_, n_, p_]),
            "rows_msm": (i_, [p_, p_, n_, n_, p_]),
            "odd_multiples": (None, [p_, n_, i_, p_]),
            "rows_msm_pre": (i_, [p_, p_, n_, n_, i_, p_]),
            "sum": (None, [p_, n_, p_]),
            "fft": (i_, [p_, n_, n_, p_]),
            "msm_pippenger": (i_, [p_, p_, n_, i_, p_]),
            "scalar_mul1_exact": (None, [p_, p_, n_, p_]),
            "sqrt_rhs": (None, [p_, n_, p_, b_]),
            "fixed_base": (i_, [p_, p_, n_, p_]),
            "import_proj": (n_, [p_, n_, p_]),
        }
        self._fn = {}
        for op, (res, args) in sigs.items():
            f = getattr(lib, pre + op)
            f.restype = res
            f.argtypes = args
            self._fn[op] = f

    # ----- checks -------------------------------------------------------------------------
    def _points(self, pts: Any, what: str = "points") -> Array:
        if (
            not isinstance(pts, self.xp.ndarray)
            or pts.dtype != np.uint64
            or pts.ndim < 2
            or pts.shape[-2:] != (3, self.nl)
        ):
            shape = getattr(pts, "shape", None)
            raise G1KernelError(
                f"{self.name}: {what} must be uint64 (..., 3, {self.nl}) kernel points, got {shape}"
            )
        return self.xp.ascontiguousarray(pts)

    def _affine_args(self, xy: Any, inf: Any) -> tuple[Array, Array, int]:
        xp = self.xp
        if (
            not isinstance(xy, xp.ndarray)
            or xy.dtype != np.uint64
            or xy.ndim != 3
            or xy.shape[1:] != (2, self.nl)
        ):
            raise G1KernelError(
                f"{self.name}: affine coordinates must be uint64 (n, 2, {self.nl}), got {getattr(xy, 'shape', None)}"
            )
        n = xy.shape[0]
        if not isinstance(inf, xp.ndarray) or inf.shape != (n,) or inf.dtype not in (np.uint8, np.bool_):
            raise G1KernelError(
                f"{self.name}: infinity flags must be uint8/bool ({n},), got {getattr(inf, 'shape', None)}"
            )
        return xp.ascontiguousarray(xy), xp.ascontiguousarray(inf.astype(np.uint8)), n

    def _bad_point(self, bad: int) -> None:
        if bad:
            raise G1KernelError(
                f"{self.name}: point {bad - 1} is not a valid affine G1 point (range, curve or infinity encoding)"
            )

    # ----- boundary -----------------------------------------------------------------------
    def import_affine(self, xy: Any, inf: Any) -> np.ndarray:
        """Canonical affine coordinates uint64 (n, 2, NL) and infinity flags uint8 (n,) -> kernel points (n, 3, NL)."""
        xy, flags, n = self._affine_args(xy, inf)
        out = np.empty((n, 3, self.nl), dtype=np.uint64)
        self._bad_point(int(self._fn["import"](_ptr(xy), _ptr(flags), n, _ptr(out))))
        return out

    def from_group(self, P: Array) -> np.ndarray:
        """Array-code G1 batch (3, limbs, n) -> kernel points (n, 3, NL), normalised (Z in {0, 1}): the
        projective coordinates cross as canonical words and the kernel does the one inversion (the
        array code's batch inversion of a large batch costs seconds)."""
        fp = self.groups.fp
        if P.ndim != 3:
            raise G1KernelError(f"{self.name}: expected a one-dimensional G1 batch, got shape {P.shape}")
        xyz = np.stack([to_numpy(field_to_words(fp, P[k], self.nl)) for k in range(3)], axis=1)
        out = np.empty((P.shape[-1], 3, self.nl), dtype=np.uint64)
        bad = int(self._fn["import_proj"](_ptr(np.ascontiguousarray(xyz)), xyz.shape[0], _ptr(out)))
        if bad:
            raise G1KernelError(
                f"{self.name}: point {bad - 1} is not a valid projective G1 point (range or curve)"
            )
        return self.normalized(out)

    def _from_group_affine(self, P: Array) -> Array:
        """Array-code G1 batch -> kernel points through affine coordinates (the kernel's import_affine;
        the GPU kernel's path)."""
        g1, fp = self.groups.g1, self.groups.fp
        if P.ndim != 3:
            raise G1KernelError(f"{self.name}: expected a one-dimensional G1 batch, got shape {P.shape}")
        x, y, inf = g1.to_affine(P)
        n = P.shape[-1]
        xy = g1.xp.stack([field_to_words(fp, x, self.nl), field_to_words(fp, y, self.nl)], axis=1)
        return self.import_affine(self.xp.asarray(xy), self.xp.asarray(inf.astype(np.uint8).reshape(n)))

    def to_group(self, pts: Any) -> Array:
        """Kernel points (..., 3, NL) -> array-code G1 batch (3, limbs, n) of affine points."""
        g1, fp = self.groups.g1, self.groups.fp
        xy, inf = self.export_affine(pts)
        xy = g1.xp.asarray(xy)
        return g1.from_affine(words_to_field(fp, xy[:, 0]), words_to_field(fp, xy[:, 1]), g1.xp.asarray(inf))

    def scalars_from_fr(self, s: Array) -> Array:
        """Fr batch (limbs, *shape) -> canonical scalars uint64 (*shape, 4)."""
        fr = self.groups.fr
        shape = s.shape[1:]
        flat = s.reshape(fr.n, -1)
        return self.xp.asarray(field_to_words(fr, flat, 4).reshape(shape + (4,)))

    # ----- operations ---------------------------------------------------------------------
    def scalar_mul(self, pts: Any, sc: Any) -> np.ndarray:
        """Elementwise s_i * P_i."""
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n)
        out = np.empty_like(p)
        self._fn["scalar_mul"](_ptr(p), _ptr(s), n, _ptr(out))
        return out

    def fixed_base_mul(self, base: Any, sc: Any) -> np.ndarray:
        """s_i * B for one point B (kernel form (3, NL) or (1, 3, NL)) and scalars (n, 4): an 8-bit comb
        (a table of 8,160 affine multiples of B, then 31 mixed additions per scalar)."""
        b = self._points(np.asarray(base).reshape(1, 3, self.nl))
        n = int(np.asarray(sc).size // 4)
        s = self._scalars(sc, n)
        out = np.empty((n, 3, self.nl), dtype=np.uint64)
        self._check(self._fn["fixed_base"](_ptr(b), _ptr(s), n, _ptr(out)), "fixed_base")
        return out

    def in_subgroup(self, pts: Any) -> np.ndarray:
        """Bool per point: r * P == O, computed exactly (no GLV; r the prime group order)."""
        p = self._points(pts)
        n = self._count(p)
        r = self.groups.g1.order
        order = np.array([(r >> (64 * i)) & ((1 << 64) - 1) for i in range(4)], dtype=np.uint64)
        out = np.empty_like(p)
        self._fn["scalar_mul1_exact"](_ptr(p), _ptr(order), n, _ptr(out))
        return ~out.reshape(n, 3, self.nl)[:, 2].any(axis=1)

    def rows_msm(self, pts: Any, sc: Any) -> np.ndarray:
        """Points (R, n, 3, NL), scalars (R, n, 4) -> (R, 3, NL): out_r = sum_l s_rl P_rl."""
        p = self._points(pts)
        if p.ndim != 4:
            raise G1KernelError(
                f"{self.name}: rows_msm expects points (rows, n, 3, {self.nl}), got {p.shape}"
            )
        rows, n = p.shape[:2]
        s = self._scalars(sc, rows * n)
        out = np.empty((rows, 3, self.nl), dtype=np.uint64)
        self._check(self._fn["rows_msm"](_ptr(p), _ptr(s), rows, n, _ptr(out)), "rows_msm")
        return out

    def _table(self, tab: Any) -> tuple[Any, int, int, int]:
        """Check a rows_precompute result: uint64 (rows, n, 2^(w-2), 3, NL); returns it, rows, n, w."""
        ok = (
            isinstance(tab, self.xp.ndarray)
            and tab.dtype == np.uint64
            and tab.ndim == 5
            and tab.shape[3:] == (3, self.nl)
        )
        cnt = tab.shape[2] if ok else 0
        if not ok or cnt not in PRE_TABLE_SIZES:
            raise G1KernelError(
                f"{self.name}: precomputed rows must be uint64 (rows, n, T, 3, {self.nl}) with T in "
                f"{sorted(PRE_TABLE_SIZES)}, got {getattr(tab, 'shape', None)}"
            )
        return self.xp.ascontiguousarray(tab), tab.shape[0], tab.shape[1], PRE_TABLE_SIZES[cnt]

    def rows_precompute(self, pts: Any, width: int | None = None) -> Any:
        """Fixed bases (R, n, 3, NL) -> their odd multiples (R, n, 2^(w-2), 3, NL), normalised (Z in {0, 1}),
        for rows_msm_precomputed with width-w NAF digits (w = ``width`` or the kernel's PRE_WIDTH, 3..8;
        FK20's Toeplitz table is such a fixed set of bases)."""
        w = self.PRE_WIDTH if width is None else width
        if w not in PRE_TABLE_SIZES.values():
            raise G1KernelError(f"{self.name}: NAF width {w} for precomputed rows is not in 3..8")
        p = self._points(pts)
        if p.ndim != 4:
            raise G1KernelError(
                f"{self.name}: rows_precompute expects points (rows, n, 3, {self.nl}), got {p.shape}"
            )
        rows, n = p.shape[:2]
        tab = self._odd_multiples(p, rows * n, 1 << (w - 2))
        return self.normalized(tab).reshape(rows, n, 1 << (w - 2), 3, self.nl)

    def _odd_multiples(self, p: Any, count: int, cnt: int) -> Any:
        tab = np.empty((count, cnt, 3, self.nl), dtype=np.uint64)
        self._fn["odd_multiples"](_ptr(p), count, cnt, _ptr(tab))
        return tab

    def rows_msm_precomputed(self, tab: Any, sc: Any) -> Any:
        """rows_msm over rows_precompute's tables: (R, n, T, 3, NL), scalars (R, n, 4) -> (R, 3, NL)."""
        t, rows, n, w = self._table(tab)
        s = self._scalars(sc, rows * n)
        out = np.empty((rows, 3, self.nl), dtype=np.uint64)
        self._check(self._fn["rows_msm_pre"](_ptr(t), _ptr(s), rows, n, w, _ptr(out)), "rows_msm_pre")
        return out

    def sum(self, pts: Any) -> np.ndarray:
        p = self._points(pts)
        out = np.empty((3, self.nl), dtype=np.uint64)
        self._fn["sum"](_ptr(p), self._count(p), _ptr(out))
        return out

    def msm(self, pts: Any, sc: Any, chunk: int = 128, method: str = "auto") -> np.ndarray:
        """sum_i s_i P_i over a 1-D batch: the bucket method (``"pippenger"``, windows in parallel; the
        default from PIPPENGER_MIN terms) or Straus rows (``"straus"``: chunks of ``chunk`` terms in
        parallel, then their sum)."""
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n).reshape(n, 4)
        p = p.reshape(n, 3, self.nl)
        if method not in ("auto", "straus", "pippenger"):
            raise G1KernelError(f"unknown MSM method {method!r}")
        if method == "pippenger" or (method == "auto" and n >= PIPPENGER_MIN):
            c = max(4, min(16, n.bit_length() - 3))
            out = np.empty((3, self.nl), dtype=np.uint64)
            self._check(self._fn["msm_pippenger"](_ptr(p), _ptr(s), n, c, _ptr(out)), "msm_pippenger")
            return out
        rows = max(1, -(-n // chunk))
        pad = rows * chunk - n
        if pad:
            p = np.concatenate([p, np.zeros((pad, 3, self.nl), np.uint64)])  # Z = 0: infinity
            s = np.concatenate([s, np.zeros((pad, 4), np.uint64)])
        part = self.rows_msm(p.reshape(rows, chunk, 3, self.nl), s.reshape(rows, chunk, 4))
        return self.sum(part)

    def fft(self, pts: Any, roots: np.ndarray) -> np.ndarray:
        """Unscaled FFT of size N along axis 0 of an (N, K) batch (natural order in and out);
        ``roots`` uint64 (>= N/2, 4): w^i for the domain's generator w (inverse: its inverse)."""
        p = self._points(pts, "FFT input").copy()
        if p.ndim != 4:
            raise G1KernelError(f"{self.name}: fft expects points (N, K, 3, {self.nl}), got {p.shape}")
        N, K = p.shape[:2]
        if N & (N - 1) or N == 0:
            raise G1KernelError(f"{self.name}: FFT size {N} is not a power of two")
        r = self._scalars(roots, roots.size // 4) if roots.size // 4 >= N // 2 else None
        if r is None:
            raise G1KernelError(f"{self.name}: {roots.size // 4} roots for an FFT of size {N}")
        self._check(self._fn["fft"](_ptr(p), N, K, _ptr(r)), "fft")
        return p

    def sqrt_rhs(self, x_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical x uint64 (n, NL) (each < p) -> (ok (n,) bool, y (n, NL) canonical) with
        y = (x^3 + b)^((p+1)/4), a square root of x^3 + b where ok (point decompression)."""
        x = np.ascontiguousarray(x_words, dtype=np.uint64)
        if x.ndim != 2 or x.shape[1] != self.nl:
            raise G1KernelError(f"{self.name}: x must be uint64 (n, {self.nl}), got {x.shape}")
        n = x.shape[0]
        y = np.empty_like(x)
        ok = np.empty(n, dtype=np.uint8)
        self._fn["sqrt_rhs"](_ptr(x), n, _ptr(y), _ptr(ok))
        return ok.astype(bool), y


_host_kernels: dict[str, G1Kernel] = {}


def host_kernel(name: str, groups: Any) -> G1Kernel | None:
    """The shared CPU G1 kernel of curve ``name`` for numpy batches, or None when kernels are off."""
    if not native.enabled():
        return None
    k = _host_kernels.get(name)
    if k is None:
        k = _host_kernels[name] = G1Kernel(name, groups)
    return k


def g1_subgroup_mask(name: str, groups: Any, P: Array) -> np.ndarray | None:
    """Bool per point of the numpy G1 batch ``P``: in the order-r subgroup (exact r * P == O on the
    kernel), or None when native kernels are off (callers use the array code)."""
    k = host_kernel(name, groups)
    return None if k is None else k.in_subgroup(k.from_group(P))


def g1_sqrt_rhs(name: str, groups: Any, x_be: np.ndarray) -> tuple[np.ndarray, Array] | None:
    """Decompression's square root on the kernel: big-endian canonical x bytes (n, 8 NL) -> (ok mask,
    y = (x^3 + b)^((p+1)/4) as a numpy field batch), the array code's ``is_square_and_sqrt`` of x^3 + b
    value for value; None when native kernels are off."""
    k = host_kernel(name, groups)
    if k is None:
        return None
    words = np.ascontiguousarray(x_be[:, ::-1]).view("<u8")
    ok, y = k.sqrt_rhs(words)
    return ok, words_to_field(groups.fp, y)


def available() -> bool:
    """Whether the native G1 path should be used (``EIGEN_NATIVE`` not 0)."""
    return native.enabled()
