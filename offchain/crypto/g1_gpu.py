"""The G1 kernel on a CUDA GPU: ``offchain/crypto/kernels/g1_cuda.cu`` (the arithmetic of ``g1_curve.h``,
the same source as the CPU kernel) compiled with nvrtc through ``cupy.RawModule``.

:class:`G1GpuKernel` has the methods of :class:`offchain.crypto.g1_native.G1Kernel` on cupy arrays
(same kernel form, same checks and typed errors), so :class:`offchain.da.eigenda.fk20.KernelFK20` runs
FK20 and commitments on either. Each loop of the CPU kernel is one thread per iteration here; the only
GPU-specific choices are the launch shapes (row MSMs split into short rows and summed, for parallelism).
The first use compiles the module (minutes; cupy caches it on disk).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from offchain import native, settings
from offchain.crypto.errors import G1KernelError
from offchain.crypto.g1_native import G1Kernel
from offchain.crypto.ntt import bitrev_indices
from offchain.crypto.params import LIMBS

SOURCE = native.PKG / "crypto" / "kernels" / "g1_cuda.cu"
THREADS = 128
ROW_CHUNK = 16  # terms per thread in row MSMs
NORM_RUN = 64  # points per thread in batch normalisation
FFT4_MAX = 1 << 16  # FFTs of at most this many butterflies a stage take two stages at a time (radix 4)

Array = Any

_modules: dict[str, Any] = {}


def cuda_source() -> str:
    """g1_cuda.cu with its headers pasted in (so cupy's compile cache, keyed by the source text, sees
    every edit of the headers too)."""
    text = SOURCE.read_text()
    for name in ("g1_bn254.h", "g1_bls12_381.h", "g1_curve_params.h", "g1_curve.h"):  # outer first
        text = text.replace(f'#include "{name}"', (SOURCE.parent / name).read_text())
    return text


def extra_options() -> tuple[str, ...]:
    """Further nvrtc options from ``EIGEN_G1_NVRTC_OPTIONS`` (space-separated), for tuning runs: e.g.
    ``-DG1_MIN_BLOCKS_BN254=4`` (launch bounds) or ``-DG1_MUL64`` (64-bit-limb products); see g1_cuda.cu."""
    return settings.g1_nvrtc_options()


def _load_module(curve: str) -> Any:
    """The compiled module holding one curve's kernels (the other curve is left out: faster to build)."""
    if curve not in _modules:
        import cupy  # type: ignore[import-not-found]

        other = "BLS12_381" if curve == "bn254" else "BN254"
        options = ("--std=c++14", f"-DG1_NO_{other}", f"-DG1_THREADS={THREADS}", *extra_options())
        try:
            mod = cupy.RawModule(code=cuda_source(), options=options)
            mod.compile()
        except Exception as exc:  # nvrtc reports compile errors as cupy's own exception types
            raise native.NativeError(f"compiling {SOURCE.name} with nvrtc failed: {exc}") from exc
        _modules[curve] = mod
    return _modules[curve]


class G1GpuKernel(G1Kernel):
    """The G1 operations of one curve on the GPU (cupy arrays in and out)."""

    PRE_WIDTH = (
        7  # fixed-base rows: 32 odd multiples per base (3.2 GB for BN254 16 MiB), 1 addition per 8 bits
    )

    def __init__(self, name: str, groups: Any) -> None:  # noqa: D107 - documented on the class
        import cupy

        if name not in LIMBS:
            raise G1KernelError(f"no G1 kernel for curve {name!r}")
        self.name = name
        self.nl = LIMBS[name]
        self.groups = groups
        self.xp = cupy
        if groups.fp.nbytes != 8 * self.nl or groups.fr.nbytes != 32:
            raise G1KernelError(f"{name}: field sizes do not match the kernel's limb count")
        mod = _load_module(name)
        self._k = {
            op: mod.get_function(f"{name}_{op}")
            for op in (
                "import",
                "normalize",
                "export",
                "scalar_mul",
                "rows_msm",
                "rows_sum",
                "fft_stage",
                "odd_multiples",
                "rows_msm_pre",
                "fft4_twiddle",
                "fft4_combine",
            )
        }

    def _launch(self, op: str, count: int, *args: Any) -> None:
        if count <= 0:
            return
        blocks = (count + THREADS - 1) // THREADS
        self._k[op]((blocks,), (THREADS,), args)

    # ----- boundary -----------------------------------------------------------------------
    def import_affine(self, xy: Any, inf: Any) -> Array:
        cp = self.xp
        xy, flags, n = self._affine_args(xy, inf)
        out = cp.empty((n, 3, self.nl), dtype=cp.uint64)
        bad = cp.full(1, n, dtype=cp.uint64)
        self._launch("import", n, xy, flags, np.int64(n), out, bad)
        first = int(cp.asnumpy(bad)[0])
        self._bad_point(0 if first == n else first + 1)
        return out

    def from_group(self, P: Array) -> Array:
        """Array-code G1 batch -> kernel points on the GPU, through affine coordinates (its import kernel)."""
        return self._from_group_affine(P)

    def normalized(self, pts: Any) -> Array:
        cp = self.xp
        p = self._points(pts).copy()
        n = self._count(p)
        pref = cp.empty(max(1, n) * self.nl, dtype=cp.uint64)
        self._launch("normalize", -(-n // NORM_RUN), p, np.int64(n), np.int64(NORM_RUN), pref)
        return p

    def export_affine(self, pts: Any) -> tuple[Array, Array]:
        cp = self.xp
        p = self.normalized(pts)
        n = self._count(p)
        xy = cp.empty((n, 2, self.nl), dtype=cp.uint64)
        inf = cp.empty(n, dtype=cp.uint8)
        self._launch("export", n, p, np.int64(n), xy, inf)
        return xy, inf.astype(bool)

    # ----- operations ---------------------------------------------------------------------
    def scalar_mul(self, pts: Any, sc: Any) -> Array:
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n)
        out = self.xp.empty_like(p)
        self._launch("scalar_mul", n, p, s, np.int64(n), out)
        return out

    def _rows_msm(self, p: Array, s: Array, rows: int, n: int) -> Array:
        cp = self.xp
        out = cp.empty((rows, 3, self.nl), dtype=cp.uint64)
        tab = cp.empty(max(1, rows * n * 16 * 3 * self.nl), dtype=cp.uint64)
        dig = cp.empty(max(1, rows * n * 2 * 260), dtype=cp.int8)  # WNAF_MAX = 260 digits per half scalar
        self._launch("rows_msm", rows, p, s, np.int64(rows), np.int64(n), out, tab, dig)
        return out

    def _rows_sum(self, p: Array, rows: int, n: int) -> Array:
        out = self.xp.empty((rows, 3, self.nl), dtype=self.xp.uint64)
        self._launch("rows_sum", rows, p, np.int64(rows), np.int64(n), out)
        return out

    def rows_msm(self, pts: Any, sc: Any) -> Array:
        p = self._points(pts)
        if p.ndim != 4:
            raise G1KernelError(
                f"{self.name}: rows_msm expects points (rows, n, 3, {self.nl}), got {p.shape}"
            )
        rows, n = p.shape[:2]
        s = self._scalars(sc, rows * n).reshape(rows, n, 4)
        return self._split_rows(self._rows_msm, p, s, rows, n)

    def _split_rows(self, run: Any, p: Array, s: Array, rows: int, n: int) -> Array:
        """Row MSMs of n terms (bases p (rows, n, ...), scalars s (rows, n, 4)) by ``run(p, s, rows, n)``:
        one thread per row up to ROW_CHUNK terms, else rows cut into ROW_CHUNK-term pieces (padded with
        infinity times 0) whose partial sums are then added up."""
        cp = self.xp
        if n <= ROW_CHUNK:
            return run(p, s, rows, n)
        parts = -(-n // ROW_CHUNK)
        pad = parts * ROW_CHUNK - n
        if pad:  # padding terms: infinity (Z = 0) times 0
            p = cp.concatenate([p, cp.zeros((rows, pad) + p.shape[2:], cp.uint64)], axis=1)
            s = cp.concatenate([s, cp.zeros((rows, pad, 4), cp.uint64)], axis=1)
        partial = run(cp.ascontiguousarray(p), cp.ascontiguousarray(s), rows * parts, ROW_CHUNK)
        return self._tree_sum(partial.reshape(rows, parts, 3, self.nl))

    def _odd_multiples(self, p: Array, count: int, cnt: int) -> Array:
        tab = self.xp.empty((count, cnt, 3, self.nl), dtype=self.xp.uint64)
        self._launch("odd_multiples", count, p, np.int64(count), np.int64(cnt), tab)
        return tab

    def rows_msm_precomputed(self, tab: Any, sc: Any) -> Array:
        """As rows_msm, over rows_precompute's odd multiples: rows split into ROW_CHUNK-term threads."""
        t, rows, n, w = self._table(tab)
        s = self._scalars(sc, rows * n).reshape(rows, n, 4)

        def run(t: Array, s: Array, rows: int, n: int) -> Array:
            cp = self.xp
            out = cp.empty((rows, 3, self.nl), dtype=cp.uint64)
            dig = cp.empty(max(1, rows * n * 2 * 260), dtype=cp.int8)  # WNAF_MAX = 260 digits per half scalar
            self._launch("rows_msm_pre", rows, t, s, np.int64(rows), np.int64(n), np.int64(w), out, dig)
            return out

        return self._split_rows(run, t, s, rows, n)

    def _tree_sum(self, p: Array) -> Array:
        """(rows, k) points -> (rows,) sums, ROW_CHUNK at a time per thread, level by level."""
        cp = self.xp
        rows, k = p.shape[:2]
        while k > ROW_CHUNK:
            groups = -(-k // ROW_CHUNK)
            pad = groups * ROW_CHUNK - k
            if pad:
                p = cp.concatenate([p, cp.zeros((rows, pad, 3, self.nl), cp.uint64)], axis=1)
            p = self._rows_sum(cp.ascontiguousarray(p), rows * groups, ROW_CHUNK).reshape(
                rows, groups, 3, self.nl
            )
            k = groups
        return self._rows_sum(cp.ascontiguousarray(p), rows, k)

    def sum(self, pts: Any) -> Array:
        p = self._points(pts)
        return self._tree_sum(p.reshape(1, self._count(p), 3, self.nl))[0]

    def msm(self, pts: Any, sc: Any, chunk: int = ROW_CHUNK) -> Array:
        p = self._points(pts)
        n = self._count(p)
        s = self._scalars(sc, n)
        return self.rows_msm(p.reshape(1, n, 3, self.nl), s.reshape(1, n, 4))[0]

    def fft(self, pts: Any, roots: Any) -> Array:
        cp = self.xp
        p = self._points(pts, "FFT input")
        if p.ndim != 4:
            raise G1KernelError(f"{self.name}: fft expects points (N, K, 3, {self.nl}), got {p.shape}")
        N, K = p.shape[:2]
        if N & (N - 1) or N == 0:
            raise G1KernelError(f"{self.name}: FFT size {N} is not a power of two")
        if roots.size // 4 < N // 2:
            raise G1KernelError(f"{self.name}: {roots.size // 4} roots for an FFT of size {N}")
        r = self._scalars(roots, roots.size // 4)
        x = cp.ascontiguousarray(p[cp.asarray(bitrev_indices(N))])
        h = 1
        radix4 = N // 2 * K <= FFT4_MAX  # latency-bound: halve the chain of scalar multiplications
        if radix4 and N.bit_length() % 2 == 0:  # odd number of stages: one radix-2 stage first
            self._launch("fft_stage", N // 2 * K, x, np.int64(N), np.int64(K), np.int64(h), r)
            h = 2
        prod = cp.empty((5 * (N // 4) * K, 3, self.nl), dtype=cp.uint64) if radix4 and h < N else None
        while h < N:
            if prod is not None:
                args = (np.int64(N), np.int64(K), np.int64(h))
                self._launch("fft4_twiddle", 5 * (N // 4) * K, x, *args, r, prod)
                self._launch("fft4_combine", N // 4 * K, x, *args, prod)
                h *= 4
            else:
                self._launch("fft_stage", N // 2 * K, x, np.int64(N), np.int64(K), np.int64(h), r)
                h *= 2
        return x
