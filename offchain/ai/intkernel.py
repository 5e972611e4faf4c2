"""ctypes front of ``intkernel.c``: the exact integer steps of the engine on the CPU.

The linear layer (int8 weights, int16 activations, int32 block sums, integer-valued double
accumulation below 2^53), RMSNorm, the SiLU gate, the exp table and attention compute the same exact
integers as the array code of ``engine``/``fixedpoint`` and are used for the numpy backend unless
``EIGEN_NATIVE=0``. Inputs are checked here (shape, dtype, range) and bad ones raise ``EngineError``;
the C code checks again and reports by return code, never by crashing.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from offchain import native
from offchain.ai import fixedpoint as fx  # the one definition of the exp tables
from offchain.ai.errors import EngineError

SOURCE = "ai/kernels/intkernel.c"
FLAGS = ("-fopenmp",)
ROW_GROUP = 16
X_LIMIT = 1 << 15
NB_MAX = 512  # blocks per row the kernel accepts (its int64 bound, see intkernel.c)
IMPLS = {"auto": 0, "portable": 1, "avx2": 2, "avx512vnni": 3}
# attention: "reference" (one query row at a time, any CPU), "blocked" (AVX-512: rows in chunks sharing
# each cache row, vector softmax, decode steps split over threads by position); the same integers.
# "auto" is blocked where it runs, unless the linear kernel is pinned to portable or avx2.
ATT_IMPLS = {"auto": 0, "reference": 1, "blocked": 2}

# argument kinds of the C entry points (all return int): p pointer, q int64_t, i int
_KINDS = {"p": ctypes.c_void_p, "q": ctypes.c_int64, "i": ctypes.c_int}
_SIGNATURES = {
    "il_linear": "ppppqqipqpii",
    "il_block_linear": "ppppqqiqpqiqppii",
    "il_exp_neg": "pqippqp",
    "il_silu_mul": "pqqppqp",
    "il_rmsnorm": "pqqpqpp",
    "il_attend": "ppqqqqpppqqqppqp",
    "il_attend_ex": "ppqqqqpppqqqppqpii",
    "il_att_available": "i",
    "il_set_default_att": "i",
    "il_get_default_att": "",
    "il_has_avx2": "",
    "il_impl_available": "i",
    "il_set_default_impl": "i",
    "il_get_default_impl": "",
    "il_attn_step": "pqqqqppqqppqqqppqpi",
    "il_layer": "ppqqpppqi",
}


def library() -> ctypes.CDLL:
    try:
        lib = native.load(SOURCE, FLAGS)
    except native.NativeError as first:
        try:  # a compiler without OpenMP: the same code on one thread
            lib = native.load(SOURCE)
        except native.NativeError:
            raise first from None
    if not getattr(lib, "_il_typed", False):
        for name, sig in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.argtypes = [_KINDS[c] for c in sig]
            fn.restype = ctypes.c_int
        lib._il_typed = True
    return lib


def has_avx2() -> bool:
    return bool(library().il_has_avx2())


def implementations() -> list[str]:
    """The linear-kernel implementations this CPU runs ("portable" always; "auto" picks the last)."""
    lib = library()
    return [name for name, code in IMPLS.items() if code and lib.il_impl_available(code)]


def set_default_implementation(name: str) -> None:
    """What "auto" runs in this process: "auto" (the best this CPU has) or one of ``implementations()``
    (``EIGEN_AI_KERNEL``, for measurements; every implementation computes the same integers)."""
    if name not in IMPLS or (name != "auto" and name not in implementations()):
        raise EngineError(
            f"linear kernel {name!r} is not available on this CPU (choose from auto, {', '.join(implementations())})"
        )
    library().il_set_default_impl(IMPLS[name])


def default_implementation() -> str:
    """What "auto" runs in this process (see ``set_default_implementation``)."""
    code = library().il_get_default_impl()
    return next(name for name, c in IMPLS.items() if c == code)


_ERRORS = {-1: "bad sizes, thread count or null pointers", -2: "activation out of range", -3: "out of memory"}
X_IN_LIMIT = 1 << 62


class NativeLinear:
    """Packed weights of one linear layer and the call into the C kernel.

    ``q``: integer weights [rows, nb, 32] (|q| <= 128), ``d``/``mc``: integer row-block scales [rows, nb]
    (|.| < 2^24; ``mc`` None for Q8_0). Weights all in [-8, 7] (Q4_1) are stored as 4-bit w = q + 8, two
    per byte; others as bytes (see intkernel.c for the layout and the arithmetic)."""

    def __init__(
        self,
        q: np.ndarray,
        d: np.ndarray,
        mc: np.ndarray | None,
        s_row: np.ndarray | None = None,
        act_bits: int = 15,
    ) -> None:
        q = np.asarray(q)
        if q.ndim != 3 or q.shape[2] != 32 or q.shape[0] < 1 or q.shape[1] < 1:
            raise EngineError(f"native linear: weights must be [rows, blocks, 32], got {q.shape}")
        rows, nb, _ = q.shape
        if nb > NB_MAX:
            raise EngineError(
                f"native linear: at most {NB_MAX} blocks ({NB_MAX * 32} columns) per row, got {nb}"
            )
        if not np.issubdtype(q.dtype, np.integer) or q.size and (q.min() < -128 or q.max() > 127):
            raise EngineError("native linear: weights must be integers in [-128, 127]")
        scales = [np.asarray(d)] + ([np.asarray(mc)] if mc is not None else [])
        for s in scales:
            if s.shape != (rows, nb):
                raise EngineError(f"native linear: scales must be [{rows}, {nb}], got {s.shape}")
            if not np.all(np.rint(s) == s) or np.abs(s).max() >= 1 << 24:
                raise EngineError("native linear: scales must be integers below 2^24 in magnitude")
        if not 1 <= act_bits <= 15:
            raise EngineError("native linear: act_bits must be in [1, 15]")
        s_row = np.zeros(rows, dtype=np.int64) if s_row is None else np.asarray(s_row)
        if s_row.shape != (rows,) or not np.issubdtype(s_row.dtype, np.integer):
            raise EngineError(f"native linear: row shifts must be integers [{rows}]")
        self.rows, self.nb, self.cols = rows, nb, nb * 32
        self.groups = -(-rows // ROW_GROUP)
        pad = self.groups * ROW_GROUP - rows
        q64 = q.astype(np.int64)
        self.nibble = bool(q.size and q.min() >= -8 and q.max() <= 7)
        off = 8 if self.nibble else 0
        w = np.pad(q64 + off, ((0, pad), (0, 0), (0, 0)))  # padded rows: w = 0, D = E = 0
        # [g, r, b, p, j] -> [g, b, p, r, j]: for each (group, block) the column quads of the 16 rows
        wq = w.reshape(self.groups, ROW_GROUP, nb, 8, 4).transpose(0, 2, 3, 1, 4)
        if self.nibble:
            packed = (wq[:, :, :4] | (wq[:, :, 4:] << 4)).astype(np.uint8)
        else:
            packed = wq.astype(np.int8).view(np.uint8)
        self.w = np.ascontiguousarray(packed).reshape(-1)
        d64 = np.rint(scales[0]).astype(np.int64)
        mc64 = np.rint(scales[1]).astype(np.int64) if mc is not None else np.zeros_like(d64)
        self.D = self._pack_scales(d64, pad)
        self.E = self._pack_scales(mc64 - off * d64, pad)  # |E| < 9 * 2^24: int32
        wsum = np.pad(w.sum(axis=2), ((0, pad), (0, 0)))[: self.groups * ROW_GROUP]
        dpad = np.pad(d64, ((0, pad), (0, 0)))
        self.C = np.ascontiguousarray(-(1 << 15) * (dpad * wsum).sum(axis=1), dtype=np.int64)
        self.s_row = np.ascontiguousarray(s_row, dtype=np.int64)
        self.act_bits = act_bits
        self.lib = library()

    def _pack_scales(self, s: np.ndarray, pad: int) -> np.ndarray:
        sp = np.pad(s.astype(np.int32), ((0, pad), (0, 0)))
        return np.ascontiguousarray(sp.reshape(self.groups, ROW_GROUP, self.nb).transpose(0, 2, 1))

    def weights(self) -> np.ndarray:
        """The integer weights back as int8 [rows, nb, 32] (inverse of the packing)."""
        if self.nibble:
            v = self.w.reshape(self.groups, self.nb, 4, ROW_GROUP, 4)
            wq = np.concatenate([v & 15, v >> 4], axis=2).astype(np.int8) - 8
        else:
            wq = self.w.view(np.int8).reshape(self.groups, self.nb, 8, ROW_GROUP, 4)
        q = wq.transpose(0, 3, 1, 2, 4).reshape(self.groups * ROW_GROUP, self.nb, 32)
        return np.ascontiguousarray(q[: self.rows])

    def _run(self, fn: Any, *args: Any) -> None:
        """Call a kernel entry point with the packed weights in front of ``args``; a C error code is
        raised as ``EngineError``."""
        rc = fn(
            self.w.ctypes.data,
            self.D.ctypes.data,
            self.E.ctypes.data,
            self.C.ctypes.data,
            self.groups,
            self.nb,
            int(self.nibble),
            *args,
        )
        if rc != 0:
            raise EngineError(f"native linear kernel failed: {_ERRORS.get(rc, rc)}")

    def _check(self, x: Any, threads: int, impl: str) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.cols or x.shape[0] < 1:
            raise EngineError(f"native linear: activations must be [T >= 1, {self.cols}], got {x.shape}")
        if not np.issubdtype(x.dtype, np.integer):
            raise EngineError(f"native linear: activations must be integers, got {x.dtype}")
        if impl not in IMPLS:
            raise EngineError(f"native linear: unknown implementation {impl!r}")
        if not isinstance(threads, int | np.integer) or threads < 0:
            raise EngineError(f"native linear: threads must be an integer >= 0, got {threads!r}")
        return x

    def apply(self, x: Any, out_shift: int, threads: int = 0, impl: str = "auto") -> np.ndarray:
        """The whole layer step as ``BlockLinear`` defines it: int64 x [T, cols] (|x| < 2^62) in 2^-f_in
        units -> int64 [T, rows] in 2^-f_out units, ``out_shift = f_out - f_in``."""
        x = self._check(x, threads, impl)
        if x.dtype != np.int64:
            if x.size and (int(x.min()) <= -X_IN_LIMIT or int(x.max()) >= X_IN_LIMIT):
                raise EngineError("native linear: activations must lie below 2^62 in magnitude")
            x = x.astype(np.int64)
        x = np.ascontiguousarray(x)
        out = np.empty((x.shape[0], self.rows), dtype=np.int64)
        self._run(
            self.lib.il_block_linear,
            self.rows,
            x.ctypes.data,
            x.shape[0],
            self.act_bits,
            int(out_shift),
            self.s_row.ctypes.data,
            out.ctypes.data,
            int(threads),
            IMPLS[impl],
        )
        return out

    def __call__(self, x: Any, threads: int = 0, impl: str = "auto") -> np.ndarray:
        """x: quantized integer activations [T, cols], |x| <= 2^15 -> the exact products y as
        integer-valued float64 [T, rows] (before the output scaling; exact, as the engine's bounds keep
        |y| < 2^53)."""
        return self.product(x, threads, impl).astype(np.float64)

    def product(self, x: Any, threads: int = 0, impl: str = "auto") -> np.ndarray:
        """The exact products y as int64 [T, rows] (see ``__call__``)."""
        x = self._check(x, threads, impl)
        if int(x.min()) < -X_LIMIT or int(x.max()) > X_LIMIT:
            raise EngineError("native linear: activations must lie in [-2^15, 2^15]")
        x32 = np.ascontiguousarray(x, dtype=np.int32)
        t = x32.shape[0]
        y = np.empty((t, self.groups * ROW_GROUP), dtype=np.int64)
        self._run(self.lib.il_linear, x32.ctypes.data, t, y.ctypes.data, int(threads), IMPLS[impl])
        return y[:, : self.rows] if y.shape[1] != self.rows else y


def _tables() -> tuple[np.ndarray, np.ndarray, int]:
    t1, t2 = fx.exp_tables()
    return np.ascontiguousarray(t1, dtype=np.int64), np.ascontiguousarray(t2, dtype=np.int64), fx.log2e_q32()


def _int64(a: Any, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.int64:
        raise EngineError(f"native {what}: expected int64, got {a.dtype}")
    return np.ascontiguousarray(a)


def _check_rc(rc: int, what: str) -> None:
    if rc != 0:
        raise EngineError(f"native {what} failed: {_ERRORS.get(rc, rc)}")


def exp_neg(d: Any, out_bits: int) -> np.ndarray:
    """``fixedpoint.exp_neg(np, d, out_bits)`` in C: int64 d >= 0 (any shape), 14 <= out_bits <= 30
    (every shift then stays below 63 bits). The C attention and SiLU use the same function inside; this
    entry point lets it be compared with the array code over whole ranges of d."""
    d = _int64(d, "exp_neg")
    if not 14 <= out_bits <= 30:
        raise EngineError("native exp_neg: out_bits must be in [14, 30]")
    t1, t2, l2e = _tables()
    out = np.empty_like(d)
    rc = library().il_exp_neg(
        d.ctypes.data, d.size, out_bits, t1.ctypes.data, t2.ctypes.data, l2e, out.ctypes.data
    )
    _check_rc(rc, "exp_neg (d must be >= 0)")
    return out


def silu_mul(gate_up: Any, hidden: int) -> np.ndarray:
    """``Engine._silu_mul(gate, up)`` in C for a fused int64 [T, 2*hidden] gate|up product."""
    gu = _int64(gate_up, "silu_mul")
    if gu.ndim != 2 or hidden < 1 or gu.shape[1] != 2 * hidden:
        raise EngineError(f"native silu_mul: expected [T, {2 * hidden}], got {gu.shape}")
    t1, t2, l2e = _tables()
    out = np.empty((gu.shape[0], hidden), dtype=np.int64)
    rc = library().il_silu_mul(
        gu.ctypes.data, gu.shape[0], hidden, t1.ctypes.data, t2.ctypes.data, l2e, out.ctypes.data
    )
    _check_rc(rc, "silu_mul")
    return out


def rmsnorm(h: Any, g: np.ndarray, k: int, eps_tbl: np.ndarray) -> np.ndarray:
    """``RMSNorm.__call__`` in C: int64 h [T, n], int64 gains g [n], the integer constant k and the
    65-entry eps table of that norm."""
    h = _int64(h, "rmsnorm")
    g, eps_tbl = _int64(g, "rmsnorm gains"), _int64(eps_tbl, "rmsnorm eps table")
    if h.ndim != 2 or g.shape != (h.shape[1],) or eps_tbl.shape != (65,):
        raise EngineError(f"native rmsnorm: shapes {h.shape}, {g.shape}, {eps_tbl.shape} do not fit")
    out = np.empty_like(h)
    rc = library().il_rmsnorm(
        h.ctypes.data, h.shape[0], h.shape[1], g.ctypes.data, int(k), eps_tbl.ctypes.data, out.ctypes.data
    )
    _check_rc(rc, "rmsnorm (sum of squares outside [0, 2^62))")
    return out


def attention_implementations() -> list[str]:
    """The attention implementations this CPU runs ("reference" always)."""
    lib = library()
    return [name for name, code in ATT_IMPLS.items() if code and lib.il_att_available(code)]


def _check_attention(name: str) -> None:
    if name not in ATT_IMPLS or (name != "auto" and name not in attention_implementations()):
        raise EngineError(
            f"attention {name!r} is not available on this CPU (choose from auto, "
            f"{', '.join(attention_implementations())})"
        )


def set_default_attention(name: str) -> None:
    """What attention "auto" runs in this process: "auto" (blocked where it runs, unless the linear kernel
    is pinned to portable or avx2) or one of ``attention_implementations()``; for measurements, as every
    implementation computes the same integers."""
    _check_attention(name)
    library().il_set_default_att(ATT_IMPLS[name])


def default_attention() -> str:
    """What attention "auto" runs in this process (see ``set_default_attention``)."""
    code = library().il_get_default_att()
    return next(name for name, c in ATT_IMPLS.items() if c == code)


def attend(
    q: Any,
    eq: Any,
    k: np.ndarray,
    ek: np.ndarray,
    v: np.ndarray,
    start: int,
    kv_heads: int,
    score_shift: int,
    threads: int = 1,
    impl: str = "auto",
) -> np.ndarray:
    """``Engine._attend`` in C for one sequence and layer: q int64 [n, heads, hd] (scaled), eq int64
    [n, heads]; the layer's cache k, v int32 (or the array code's float64) [kv_heads, cap, hd] and ek
    int64 [kv_heads, cap] already holding positions < start + n. Returns int64 [n, heads * hd] in 2^-14
    units, the same for every ``threads`` (0: the OpenMP default) and ``impl`` (see ``ATT_IMPLS``; the
    blocked kernel takes head sizes that are a multiple of 8 and leaves others to the reference)."""
    _check_attention(impl)
    if not isinstance(threads, int | np.integer) or threads < 0:
        raise EngineError(f"native attend: threads must be an integer >= 0, got {threads!r}")
    q, eq, ek = _int64(q, "attend q"), _int64(eq, "attend eq"), _int64(ek, "attend ek")
    k, v = np.asarray(k), np.asarray(v)
    if (
        kv_heads < 1
        or q.ndim != 3
        or q.shape[1] % kv_heads
        or eq.shape != q.shape[:2]
        or k.dtype not in (np.float64, np.int32)
        or v.dtype not in (np.float64, np.int32)
    ):
        raise EngineError(
            "native attend: q [n, heads, hd] int64, eq [n, heads] and int32 or float64 k, v expected"
        )
    if k.dtype == np.float64:  # the array code's cache: the same integers (|k| <= 2^20, |v| < 2^24)
        k, v = k.astype(np.int32), v.astype(np.int32)
    n, heads, hd = q.shape
    cap = k.shape[1] if k.ndim == 3 else -1
    if k.shape != (kv_heads, cap, hd) or v.shape != k.shape or ek.shape != (kv_heads, cap):
        raise EngineError(
            f"native attend: cache shapes {k.shape}, {ek.shape}, {v.shape} do not fit q {q.shape}"
        )
    if not (k.flags.c_contiguous and v.flags.c_contiguous):
        raise EngineError("native attend: the cache must be contiguous")
    t1, t2, l2e = _tables()
    out = np.empty((n, heads * hd), dtype=np.int64)
    rc = library().il_attend_ex(
        q.ctypes.data,
        eq.ctypes.data,
        n,
        kv_heads,
        heads // kv_heads,
        hd,
        k.ctypes.data,
        ek.ctypes.data,
        v.ctypes.data,
        cap,
        int(start),
        int(score_shift),
        t1.ctypes.data,
        t2.ctypes.data,
        l2e,
        out.ctypes.data,
        int(threads),
        ATT_IMPLS[impl],
    )
    _check_rc(rc, "attend (positions beyond the cache or the 8192 limit)")
    return out


def attn_step(
    qkv: Any,
    heads: int,
    kv_heads: int,
    cos: np.ndarray,
    sin: np.ndarray,
    start: int,
    k: np.ndarray,
    ek: np.ndarray,
    v: np.ndarray,
    score_shift: int,
    threads: int = 0,
) -> np.ndarray:
    """The attention half of ``Engine._forward`` for one sequence and layer, in C: qkv int64
    [n, (heads + 2 kv_heads) * hd] (the fused q|k|v product, 2^-16 units) -> RoPE (tables cos, sin int64
    [positions, hd/2]), the q/k shifts, the value rounding, the writes into the layer's cache (k, ek, v
    at positions start..start+n-1) and the attention; returns int64 [n, heads * hd] in 2^-14 units."""
    qkv = _int64(qkv, "attn_step qkv")
    cos, sin, ek = _int64(cos, "attn_step cos"), _int64(sin, "attn_step sin"), np.asarray(ek)
    if kv_heads < 1 or heads < 1 or heads % kv_heads or qkv.ndim != 2 or qkv.shape[0] < 1:
        raise EngineError(
            "native attn_step: qkv [n >= 1, (heads + 2 kv_heads) * hd], heads a multiple of kv_heads"
        )
    hd = qkv.shape[1] // (heads + 2 * kv_heads)
    cap = k.shape[1] if k.ndim == 3 else -1
    if (
        hd < 2
        or hd % 2
        or qkv.shape[1] != (heads + 2 * kv_heads) * hd
        or cos.shape != sin.shape
        or cos.ndim != 2
        or cos.shape[1] != hd // 2
        or k.shape != (kv_heads, cap, hd)
        or v.shape != k.shape
        or ek.shape != (kv_heads, cap)
        or k.dtype != np.int32
        or v.dtype != np.int32
        or ek.dtype != np.int64
        or not (k.flags.c_contiguous and v.flags.c_contiguous and ek.flags.c_contiguous)
    ):
        raise EngineError(
            f"native attn_step: shapes qkv {qkv.shape}, tables {cos.shape}, cache {k.shape}/{ek.shape}/{v.shape}"
            " do not fit (contiguous int32 k, v and int64 ek expected)"
        )
    if not isinstance(threads, int | np.integer) or threads < 0:
        raise EngineError(f"native attn_step: threads must be an integer >= 0, got {threads!r}")
    t1, t2, l2e = _tables()
    n = qkv.shape[0]
    out = np.empty((n, heads * hd), dtype=np.int64)
    rc = library().il_attn_step(
        qkv.ctypes.data,
        n,
        heads,
        kv_heads,
        hd,
        cos.ctypes.data,
        sin.ctypes.data,
        cos.shape[0],
        int(start),
        k.ctypes.data,
        ek.ctypes.data,
        v.ctypes.data,
        cap,
        int(score_shift),
        t1.ctypes.data,
        t2.ctypes.data,
        l2e,
        out.ctypes.data,
        int(threads),
    )
    _check_rc(rc, "attn_step (positions beyond the cache, the tables or the 8192 limit)")
    return out


class _Lin(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("w", "D", "E", "C", "s_row")] + [
        (n, ctypes.c_int64) for n in ("groups", "nb", "rows", "nibble", "act_bits")
    ]


class _Norm(ctypes.Structure):
    _fields_ = [
        ("G", ctypes.c_void_p),
        ("eps_tbl", ctypes.c_void_p),
        ("K", ctypes.c_int64),
        ("f_out", ctypes.c_int64),
    ]


class _LayerDesc(ctypes.Structure):
    _fields_ = [
        ("attn_norm", _Norm),
        ("wqkv", _Lin),
        ("wo", _Lin),
        ("ffn_norm", _Norm),
        ("gate_up", _Lin),
        ("down", _Lin),
        *((n, ctypes.c_int64) for n in ("d_model", "heads", "kv_heads", "head_dim", "d_ff")),
        ("cos", ctypes.c_void_p),
        ("sin", ctypes.c_void_p),
        ("npos", ctypes.c_int64),
        ("score_shift", ctypes.c_int64),
        ("t1", ctypes.c_void_p),
        ("t2", ctypes.c_void_p),
        ("log2e", ctypes.c_int64),
    ]


NormParams = tuple[np.ndarray, int, np.ndarray, int]  # gains G, constant K, eps table, f_out


class NativeLayer:
    """A whole transformer layer in one C call (``il_layer``): RMSNorm, qkv, attention, output
    projection, residual, RMSNorm, gate|up, SiLU gate, down projection, residual; each step the C
    kernel the engine otherwise calls one at a time, so the same integers. The descriptor holds
    pointers into the arrays given here, which this object keeps alive."""

    def __init__(
        self,
        attn_norm: NormParams,
        wqkv: NativeLinear,
        wo: NativeLinear,
        ffn_norm: NormParams,
        gate_up: NativeLinear,
        down: NativeLinear,
        heads: int,
        kv_heads: int,
        cos: np.ndarray,
        sin: np.ndarray,
        score_shift: int,
    ) -> None:
        cos, sin = _int64(cos, "layer cos"), _int64(sin, "layer sin")
        t1, t2, l2e = _tables()
        d_model, d_ff, hd = wo.rows, down.cols, cos.shape[1] * 2
        self._keep = [cos, sin, t1, t2]

        def norm(p: NormParams) -> _Norm:
            g, k, eps, f_out = (
                _int64(p[0], "layer gains"),
                int(p[1]),
                _int64(p[2], "layer eps table"),
                int(p[3]),
            )
            if g.shape != (d_model,) or eps.shape != (65,):
                raise EngineError("native layer: norm gains [d_model] and a 65-entry eps table expected")
            self._keep += [g, eps]
            return _Norm(g.ctypes.data, eps.ctypes.data, k, f_out)

        def lin(x: NativeLinear) -> _Lin:
            return _Lin(
                x.w.ctypes.data, x.D.ctypes.data, x.E.ctypes.data, x.C.ctypes.data, x.s_row.ctypes.data,
                x.groups, x.nb, x.rows, int(x.nibble), x.act_bits,
            )  # fmt: skip

        self._lins = (wqkv, wo, gate_up, down)
        if (
            wqkv.rows != (heads + 2 * kv_heads) * hd
            or wqkv.cols != d_model
            or wo.cols != heads * hd
            or gate_up.rows != 2 * d_ff
            or gate_up.cols != d_model
            or down.rows != d_model
        ):
            raise EngineError("native layer: the linear layers' shapes do not fit together")
        self.d_model = d_model
        self.desc = _LayerDesc(
            norm(attn_norm), lin(wqkv), lin(wo), norm(ffn_norm), lin(gate_up), lin(down),
            d_model, heads, kv_heads, hd, d_ff, cos.ctypes.data, sin.ctypes.data, cos.shape[0],
            int(score_shift), t1.ctypes.data, t2.ctypes.data, l2e,
        )  # fmt: skip
        self._ref = ctypes.byref(self.desc)
        self._fn = library().il_layer

    def __call__(
        self, h: np.ndarray, start: int, k: np.ndarray, ek: np.ndarray, v: np.ndarray, threads: int = 0
    ) -> None:
        """Run the layer on h (int64 [T, d_model], C-contiguous, replaced in place) for positions
        start..start+T-1 of one sequence whose layer cache is k, ek, v (see ``attn_step``)."""
        if h.dtype != np.int64 or h.ndim != 2 or h.shape[1] != self.d_model or not h.flags.c_contiguous:
            raise EngineError(f"native layer: h must be C-contiguous int64 [T, {self.d_model}]")
        hd, kvh = self.desc.head_dim, self.desc.kv_heads
        cap = k.shape[1] if k.ndim == 3 else -1
        if (
            k.shape != (kvh, cap, hd)
            or v.shape != k.shape
            or ek.shape != (kvh, cap)
            or (k.dtype, v.dtype, ek.dtype) != (np.int32, np.int32, np.int64)
            or not (k.flags.c_contiguous and v.flags.c_contiguous and ek.flags.c_contiguous)
        ):
            raise EngineError(
                "native layer: cache k, v float64 [kv_heads, cap, hd] and ek int64 [kv_heads, cap]"
            )
        if not isinstance(threads, int | np.integer) or threads < 0:
            raise EngineError(f"native layer: threads must be an integer >= 0, got {threads!r}")
        rc = self._fn(self._ref, h.ctypes.data, h.shape[0], int(start), k.ctypes.data, ek.ctypes.data,
                      v.ctypes.data, cap, int(threads))  # fmt: skip
        _check_rc(rc, "layer (positions beyond the cache or the tables, or values out of range)")
