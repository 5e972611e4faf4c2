"""Integer-exact Llama inference: bit-identical logits on any machine, thread count, batch or chunking.

Numeric specification (engine ``ENGINE_VERSION``); all values are integers with fixed power-of-two
scales, every reduction is exact:

* Linear layers keep the GGUF blocks exactly: Q4_1 weight ``w = d*q + m`` is split into ``d*(q-8)`` and a
  per-block offset ``mc = m + 8d``; ``d`` and ``mc`` are put on one power-of-two scale per output row
  (``B`` bits, exact unless a row's block scales span more than ``B - 11`` binades). Activations are
  quantized per token to 16 bits (12 bits for Q8_0 blocks) with a power-of-two step. The block dot
  products ``sum_{i<32} (q-8)*x`` are float32 GEMMs whose every partial sum is an integer of magnitude
  at most 2^24 (exact on any BLAS / GPU without TF32). Block
  results are combined with the row scales in float64, every partial sum an integer below 2^53. For many
  tokens (prefill) the same integers go through one float64 GEMM with the full integer weights
  ``D*(q-8) + Mc``; the same bound makes every partial sum exact, so both paths give identical bits.
* RMSNorm: exact integer sum of squares, exact integer square root, rounded integer division.
* RoPE: 2^-30 cos/sin tables built by exact integer procedures (see ``fixedpoint``).
* Attention: integer q.k in float64 (exact), scores in 2^-16 units, softmax weights from the integer
  exp table (max weight exactly 2^16), P.V in float64 (exact for contexts up to 8192), rounded division.
* SiLU via the integer exp table; residual stream in 2^-16 units.

Rows never interact except through attention over their own sequence, so results do not depend on
batch composition, and the KV cache holds exactly what a one-shot prefill computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain import native, settings
from offchain.ai import fixedpoint as fx
from offchain.ai import intkernel
from offchain.ai.backend import get_backend, to_numpy
from offchain.ai.errors import EngineError, ModelFileError
from offchain.ai.intkernel import NativeLayer, NativeLinear
from offchain.ai.model_file import GGML_F32, GGML_Q4_1, GGML_Q8_0, ModelFile, RawTensor
from offchain.errors import SettingError

ENGINE_VERSION = "eigen-ai-int/1"

ACT_BITS = 15  # GEMM inputs: |x| <= 2^15 after per-token power-of-two quantization
F_ACT = 16  # activations, residual, q/k/v from GEMMs: 2^-16 units
F_V = 14  # value cache: 2^-14 units, |v| < 2^24
V_LIMIT = (1 << 24) - 1
QK_BITS = 20  # q and k are shifted per (token, head) below 2^20 for the score product
RESID_LIMIT = (1 << 40) - 1
GATE_LIMIT = (1 << 30) - 1
ROPE_LIMIT = (1 << 31) - 1
MASKED = -(1 << 60)
F32_EXACT = 1 << 24
FULL_GEMM_MIN_TOKENS = 16  # above this many rows, one float64 GEMM beats the per-block float32 GEMMs
F64_EXACT = 1 << 53


def _f16(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.float16)[..., 0].astype(np.float64)


class BlockLinear:
    """y = W x for a Q4_1 or Q8_0 matrix, computed exactly (see module docstring)."""

    def __init__(self, raws: RawTensor | Sequence[RawTensor], xp: Any, threads: int = 0) -> None:
        parts = [raws] if isinstance(raws, RawTensor) else list(raws)
        for r in parts:
            if len(r.shape) != 2 or r.shape[1] != parts[0].shape[1] or r.ggml_type != parts[0].ggml_type:
                raise ModelFileError(f"{r.name}: expected matrices of one type and row length, got {r.shape}")
        self.splits = [r.shape[0] for r in parts]
        raw = parts[0]
        if len(parts) > 1:
            raw = RawTensor(
                "+".join(r.name for r in parts),
                raw.ggml_type,
                (sum(self.splits), raw.shape[1]),
                np.concatenate([np.asarray(r.data) for r in parts], axis=0),
            )
        rows, cols = raw.shape
        if cols % 32:
            raise ModelFileError(f"{raw.name}: row length {cols} is not a multiple of 32")
        nb = cols // 32
        self.xp, self.rows, self.cols, self.nb, self.name = xp, rows, cols, nb, raw.name
        if raw.ggml_type == GGML_Q4_1:
            blk = np.asarray(raw.data).reshape(rows, nb, 20)
            d, m = _f16(blk[..., 0:2]), _f16(blk[..., 2:4])
            qs = blk[..., 4:]
            q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.int16) - 8
            qmax, mc = 8, m + 8.0 * d  # exact in float64
        elif raw.ggml_type == GGML_Q8_0:
            blk = np.asarray(raw.data).reshape(rows, nb, 34)
            d = _f16(blk[..., 0:2])
            q = np.ascontiguousarray(blk[..., 2:]).view(np.int8).astype(np.int16)
            qmax, mc = 128, None
        else:
            raise ModelFileError(f"{raw.name}: unsupported weight type {raw.ggml_type} for a linear layer")
        # largest activation width keeping every float32 partial block sum an integer <= 2^24
        self.act_bits = min(ACT_BITS, (F32_EXACT // (32 * qmax)).bit_length() - 1)
        s_max = 32 * qmax * (1 << self.act_bits)  # |sum (q) x| per block
        if s_max > F32_EXACT:
            raise EngineError("float32 block product bound violated")  # pragma: no cover
        x_blk = 32 * (1 << self.act_bits)  # |sum x| per block
        b = 24
        while nb * (1 << b) * (s_max + (x_blk if mc is not None else 0)) >= F64_EXACT:
            b -= 1
        self.scale_bits = b
        amax = np.abs(d).max(axis=1)
        if mc is not None:
            amax = np.maximum(amax, np.abs(mc).max(axis=1))
        _, e = np.frexp(amax)  # exact: amax < 2^e
        s_row = (b - e).astype(np.int64)
        self.s_row = s_row
        dd = np.rint(np.ldexp(d, s_row[:, None]))
        mcc = np.rint(np.ldexp(mc, s_row[:, None])) if mc is not None else None
        self.D = xp.asarray(np.ascontiguousarray(dd.T))  # [nb, rows] float64 integers
        self.McT = xp.asarray(np.ascontiguousarray(mcc.T)) if mcc is not None else None
        self.s_row_x = xp.asarray(s_row)
        self._w64: Any = None
        self._q: Any = None
        self.threads = threads
        # The C kernel (numpy backend, EIGEN_NATIVE unset) computes the same exact integers from int8
        # weights; the array path below stays the reference (EIGEN_NATIVE=0) and the cupy path.
        self.native: NativeLinear | None = None
        if xp is np and native.enabled():
            self.native = NativeLinear(q, dd, mcc, s_row, self.act_bits)
        else:
            self._q = self._float_blocks(q)

    def _float_blocks(self, q: np.ndarray) -> Any:
        return self.xp.asarray(
            np.ascontiguousarray(q.transpose(1, 2, 0)).astype(np.float32)
        )  # [nb, 32, rows]

    @property
    def Q(self) -> Any:
        """Integer weights q as float32 [nb, 32, rows] for the block GEMMs (built on first use)."""
        if self._q is None:
            self._q = self._float_blocks(self.native.weights())  # type: ignore[union-attr]
        return self._q

    def full_weights(self) -> Any:
        """Integer weights W[k, r] = D*(q-8) + Mc as float64 [cols, rows] (built on first use).

        Every partial sum of x @ W obeys the same bound as the block path (checked above), so a float64
        GEMM over the whole row is exact too; it is faster than the block path for many tokens."""
        if self._w64 is None:
            w = self.Q.astype(np.float64) * self.D[:, None, :]
            if self.McT is not None:
                w = w + self.McT[:, None, :]
            self._w64 = self.xp.ascontiguousarray(w.reshape(self.cols, self.rows))
        return self._w64

    def __call__(self, x: Any, f_in: int, f_out: int) -> Any:
        """x: int64 [T, cols] in 2^-f_in units -> int64 [T, rows] in 2^-f_out units."""
        if self.native is not None:  # the same exact integers from the C kernel
            return self.native.apply(x, f_out - f_in, self.threads)
        xp = self.xp
        t = x.shape[0]
        amax = xp.abs(x).max(axis=1)
        sh = xp.maximum(fx.bitlen(xp, amax) - self.act_bits, 0)
        xq = fx.round_shift(xp, x, sh[:, None])  # |xq| <= 2^act_bits
        if t > FULL_GEMM_MIN_TOKENS:
            y = xq.astype(np.float64) @ self.full_weights()  # exact: same bound as the block path
        else:
            xb = xp.ascontiguousarray(xq.reshape(t, self.nb, 32).transpose(1, 0, 2))  # [nb, T, 32]
            s = xp.matmul(xb.astype(np.float32), self.Q).astype(np.float64)  # [nb, T, rows], exact
            y = (self.D[:, None, :] * s).sum(axis=0)
            if self.McT is not None:
                y = y + xb.sum(axis=2).T.astype(np.float64) @ self.McT
        e = (f_out - f_in - self.s_row_x)[None, :] + sh[:, None]
        return xp.rint(xp.ldexp(y, e)).astype(np.int64)

    def split_out(self, y: Any) -> list[Any]:
        """Split a fused output [T, sum(rows)] back into the parts given at construction."""
        out, o = [], 0
        for n in self.splits:
            out.append(y[:, o : o + n])
            o += n
        return out


class RMSNorm:
    """Exact integer RMSNorm; output in 2^-f_out units with f_out = self.f_out."""

    def __init__(self, raw: RawTensor, eps: Any, xp: Any) -> None:
        if raw.ggml_type != GGML_F32:
            raise ModelFileError(f"{raw.name}: norm weights must be F32")
        g = np.asarray(raw.data, dtype=np.float64).reshape(-1)
        n = g.shape[0]
        _, e = np.frexp(np.abs(g).max())
        sg = int(15 - e)
        self.G = xp.asarray(np.rint(np.ldexp(g, sg)).astype(np.int64))  # |G| < 2^15
        sq = math.isqrt(n)
        kk = 21 - (sq + 1).bit_length()
        self.K = math.isqrt(n << (2 * kk))  # ~ sqrt(n) 2^kk < 2^21
        self.f_out = sg + kk
        # eps in units of xs^2 for each normalisation shift sh in [-24, 40]: n * eps * 2^(2(F_ACT - sh))
        tbl = []
        for sh in range(-24, 41):
            k2 = 2 * (F_ACT - sh)
            num, den = n * eps.numerator, eps.denominator
            val = (num << k2) // den if k2 >= 0 else num // (den << -k2)
            tbl.append(min(val, 1 << 60))
        self.eps_tbl = xp.asarray(np.array(tbl, dtype=np.int64))
        self.xp = xp
        self.native = xp is np and native.enabled()  # the same integers in C

    def params(self) -> tuple[Any, int, Any, int]:
        """(gains, K, eps table, f_out): what the native layer kernel needs."""
        return self.G, self.K, self.eps_tbl, self.f_out

    def __call__(self, h: Any) -> Any:
        if self.native:
            return intkernel.rmsnorm(h, self.G, self.K, self.eps_tbl)
        xp = self.xp
        amax = xp.abs(h).max(axis=1)
        sh = fx.bitlen(xp, amax) - 24
        xs = fx.shift_signed(xp, h, sh[:, None])  # max |xs| in [2^23, 2^24]
        ss = (xs * xs).sum(axis=1)
        v = ss + self.eps_tbl[sh + 24]
        r = xp.maximum(fx.isqrt(xp, v), 1)
        return fx.rdiv(xp, xs * self.G[None, :] * self.K, r[:, None])


@dataclass
class Layer:
    attn_norm: RMSNorm
    wqkv: BlockLinear
    wo: BlockLinear
    ffn_norm: RMSNorm
    w_gate_up: BlockLinear
    w_down: BlockLinear


class KVCache:
    """Per-sequence key/value cache: integer keys (with per-token-head exponents) and values, as float64
    for the array code's GEMMs, as int32 for the native kernels (|k| <= 2^20, |v| < 2^24: half the
    memory traffic per decode step); the same integers either way."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.length = 0
        self.cap = 0
        self.k: list[Any] = []
        self.ek: list[Any] = []
        self.v: list[Any] = []

    def _reserve(self, n: int) -> None:
        need = self.length + n
        if need > self.engine.config.context_length:
            raise EngineError(
                f"sequence length {need} exceeds the context length {self.engine.config.context_length}"
            )
        if need <= self.cap:
            return
        xp, cfg = self.engine.xp, self.engine.config
        cap = min(max(need, 2 * self.cap, 64), cfg.context_length)
        kvh, hd = cfg.n_kv_heads, cfg.head_dim
        kv_dtype = np.int32 if self.engine.native_ops else np.float64
        for i in range(cfg.n_layers):
            for store, shape, dt in (
                (self.k, (kvh, cap, hd), kv_dtype),
                (self.ek, (kvh, cap), np.int64),
                (self.v, (kvh, cap, hd), kv_dtype),
            ):
                new = xp.zeros(shape, dtype=dt)
                if self.cap:
                    new[:, : self.length] = store[i][:, : self.length]
                if len(store) > i:
                    store[i] = new
                else:
                    store.append(new)
        self.cap = cap


class Engine:
    """Exact engine over a GGUF llama model; ``backend`` is "cpu" (numpy) or "gpu" (cupy): same bits."""

    version = ENGINE_VERSION

    def __init__(self, model: ModelFile, backend: str = "cpu", threads: int | None = None) -> None:
        """``threads``: CPU threads of the native linear kernel (default ``$EIGEN_AI_THREADS``, else the
        OpenMP default, i.e. ``$OMP_NUM_THREADS`` or all cores); results never depend on it."""
        if threads is None:
            try:
                threads = settings.ai_threads()
            except SettingError as exc:
                raise EngineError(str(exc)) from None
        if threads < 0:
            raise EngineError("threads must be >= 0 (0 = OpenMP default)")
        self.threads = threads
        self.model = model
        self.config = cfg = model.config
        self.backend = backend
        self.xp = xp = get_backend(backend)
        if xp is np and native.enabled():
            try:
                intkernel.set_default_implementation(settings.ai_kernel())  # what "auto" runs
            except SettingError as exc:
                raise EngineError(str(exc)) from None
        eps = cfg.rms_eps
        self.layers: list[Layer] = []
        for i in range(cfg.n_layers):
            t = lambda n, i=i: model.tensor(f"blk.{i}.{n}.weight")  # noqa: E731
            self.layers.append(
                Layer(
                    RMSNorm(t("attn_norm"), eps, xp),
                    BlockLinear([t("attn_q"), t("attn_k"), t("attn_v")], xp, threads),
                    BlockLinear(t("attn_output"), xp, threads),
                    RMSNorm(t("ffn_norm"), eps, xp),
                    BlockLinear([t("ffn_gate"), t("ffn_up")], xp, threads),
                    BlockLinear(t("ffn_down"), xp, threads),
                )
            )
        if any(ly.w_gate_up.splits != [cfg.d_ff, cfg.d_ff] for ly in self.layers):
            raise ModelFileError("ffn_gate and ffn_up must both have d_ff rows")
        # the element-wise steps in C too (same integers), with the native linear kernel
        self.native_ops = xp is np and native.enabled()
        self.out_norm = RMSNorm(model.tensor("output_norm.weight"), eps, xp)
        emb = model.tensor("token_embd.weight")
        head = model.tensors.get("output.weight", emb)
        self.head = BlockLinear(head, xp, threads)
        if emb.ggml_type != GGML_Q8_0 and emb.ggml_type != GGML_Q4_1:
            raise ModelFileError("token_embd must be Q8_0 or Q4_1")
        self._emb = emb
        nb = cfg.d_model // 32
        if emb.ggml_type == GGML_Q8_0:
            blk = np.asarray(emb.data).reshape(cfg.vocab_size, nb, 34)
            self._emb_d = _f16(blk[..., 0:2])
            self._emb_q = np.ascontiguousarray(blk[..., 2:]).view(np.int8)
            self._emb_m = None
        else:
            blk = np.asarray(emb.data).reshape(cfg.vocab_size, nb, 20)
            self._emb_d, self._emb_m = _f16(blk[..., 0:2]), _f16(blk[..., 2:4])
            qs = blk[..., 4:]
            self._emb_q = np.concatenate([qs & 15, qs >> 4], axis=-1)
        base = cfg.rope_base
        cos, sin = fx.rope_tables(base.numerator, base.denominator, cfg.head_dim, cfg.context_length)
        self.cos, self.sin = xp.asarray(cos), xp.asarray(sin)
        self._cos_np, self._sin_np = (
            np.ascontiguousarray(cos, dtype=np.int64),
            np.ascontiguousarray(sin, dtype=np.int64),
        )
        self.score_shift = F_ACT - 2 * F_ACT - (cfg.head_dim.bit_length() - 1) // 2
        # one C call per layer for a single sequence (the same kernels, so the same integers)
        self._native_layers: list[NativeLayer] | None = None
        if self.native_ops and all(
            bl.native is not None for ly in self.layers for bl in (ly.wqkv, ly.wo, ly.w_gate_up, ly.w_down)
        ):
            self._native_layers = [
                NativeLayer(
                    ly.attn_norm.params(),
                    ly.wqkv.native,
                    ly.wo.native,
                    ly.ffn_norm.params(),  # type: ignore[arg-type]
                    ly.w_gate_up.native,
                    ly.w_down.native,
                    cfg.n_heads,
                    cfg.n_kv_heads,  # type: ignore[arg-type]
                    self._cos_np,
                    self._sin_np,
                    self.score_shift,
                )  # fmt: skip
                for ly in self.layers
            ]
        self._blas = None
        if xp is np:
            try:
                from threadpoolctl import ThreadpoolController

                self._blas = ThreadpoolController()
            except ImportError:  # optional: only a speed matter
                self._blas = None

    def set_threads(self, threads: int) -> None:
        """Change the thread count of the native kernels (0 = OpenMP default); results never depend on it."""
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise EngineError(f"threads must be an integer >= 0 (0 = OpenMP default), got {threads!r}")
        self.threads = threads
        for ly in self.layers:
            for bl in (ly.wqkv, ly.wo, ly.w_gate_up, ly.w_down):
                bl.threads = threads
        self.head.threads = threads

    # -- pieces ---------------------------------------------------------------------------------

    def new_cache(self) -> KVCache:
        return KVCache(self)

    def embed(self, ids: np.ndarray) -> Any:
        w = self._emb_d[ids][..., None] * self._emb_q[ids].astype(np.float64)
        if self._emb_m is not None:
            w = w + self._emb_m[ids][..., None]
        h = np.rint(np.ldexp(w, F_ACT)).astype(np.int64).reshape(len(ids), -1)
        return self.xp.asarray(h)

    def _rope(self, x: Any, pos: Any) -> Any:
        xp = self.xp
        x = xp.clip(x, -ROPE_LIMIT, ROPE_LIMIT)
        c = self.cos[pos][:, None, :]
        s = self.sin[pos][:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = xp.empty_like(x)
        out[..., 0::2] = fx.round_shift(xp, x0 * c - x1 * s, fx.EXP_ONE_BITS)
        out[..., 1::2] = fx.round_shift(xp, x0 * s + x1 * c, fx.EXP_ONE_BITS)
        return out

    def _qk_scale(self, x: Any) -> tuple[Any, Any]:
        xp = self.xp
        e = xp.maximum(fx.bitlen(xp, xp.abs(x).max(axis=-1)) - QK_BITS, 0)
        return fx.round_shift(xp, x, e[..., None]), e

    def _attend(self, li: int, cache: KVCache, q: Any, eq: Any, start: int, n: int) -> Any:
        """q: int64 [n, H, hd] (scaled), eq: [n, H]; cache already holds positions < start + n."""
        if self.native_ops:
            k, ek, v, kvh = cache.k[li], cache.ek[li], cache.v[li], self.config.n_kv_heads
            return intkernel.attend(q, eq, k, ek, v, start, kvh, self.score_shift)
        xp, cfg = self.xp, self.config
        kvh, hd = cfg.n_kv_heads, cfg.head_dim
        g = cfg.n_heads // kvh
        total = start + n
        qf = q.reshape(n, kvh, g, hd).transpose(1, 2, 0, 3).reshape(kvh, g * n, hd).astype(np.float64)
        eqf = eq.reshape(n, kvh, g).transpose(1, 2, 0).reshape(kvh, g * n)
        k = cache.k[li][:, :total]
        s = xp.matmul(qf, k.transpose(0, 2, 1))  # exact: |q|,|k| < 2^20, hd <= 256
        e = eqf[:, :, None] + cache.ek[li][:, None, :total] + self.score_shift
        s = xp.rint(xp.ldexp(s, e)).astype(np.int64)
        qpos = xp.tile(xp.arange(start, total, dtype=np.int64), g)
        mask = xp.arange(total, dtype=np.int64)[None, :] <= qpos[:, None]  # [g*n, total]
        s = xp.where(mask[None], s, MASKED)
        m = s.max(axis=-1, keepdims=True)
        d = xp.where(mask[None], m - s, fx.EXP_D_MAX)
        p = fx.exp_neg(xp, d, 16)  # max weight exactly 2^16
        z = p.sum(axis=-1, keepdims=True)
        o = xp.matmul(p.astype(np.float64), cache.v[li][:, :total]).astype(np.int64)  # exact below 2^53
        o = fx.rdiv(xp, o, z)  # [kvh, g*n, hd] in 2^-F_V
        return o.reshape(kvh, g, n, hd).transpose(2, 0, 1, 3).reshape(n, kvh * g * hd)

    def _mlp_act(self, gate_up: BlockLinear, y: Any) -> Any:
        """silu(gate) * up of a fused gate|up product."""
        if self.native_ops:
            return intkernel.silu_mul(y, gate_up.splits[0])
        return self._silu_mul(*gate_up.split_out(y))

    def _silu_mul(self, gate: Any, up: Any) -> Any:
        xp = self.xp
        gate = xp.clip(gate, -GATE_LIMIT, GATE_LIMIT)
        up = xp.clip(up, -GATE_LIMIT, GATE_LIMIT)
        one = 1 << fx.EXP_ONE_BITS
        e = fx.exp_neg(xp, xp.abs(gate), fx.EXP_ONE_BITS)
        num = xp.where(gate >= 0, xp.int64(one) << fx.EXP_ONE_BITS, e << fx.EXP_ONE_BITS)
        sig = fx.rdiv(xp, num, one + e)  # sigma(g) for g >= 0 is 1/(1+e^-g), else e^g/(1+e^g)
        silu = fx.round_shift(xp, gate * sig, fx.EXP_ONE_BITS)  # 2^-16
        return silu * up  # 2^-32, |.| < 2^60

    def _ffn(self, layer: Layer, h: Any) -> Any:
        """The MLP half of a layer with its residual: h + down(silu(gate) * up) of the normed h."""
        xn = layer.ffn_norm(h)
        mlp = self._mlp_act(layer.w_gate_up, layer.w_gate_up(xn, layer.ffn_norm.f_out, F_ACT))
        return self.xp.clip(h + layer.w_down(mlp, 2 * F_ACT, F_ACT), -RESID_LIMIT, RESID_LIMIT)

    # -- forward --------------------------------------------------------------------------------

    def forward(
        self, items: Sequence[tuple[KVCache, Sequence[int]]], *, all_logits: bool = False
    ) -> list[np.ndarray]:
        """Run new tokens of several sequences together; returns int64 logits (2^-16 units) per item:
        shape [len(tokens), vocab] with ``all_logits`` else [1, vocab] for the last token."""
        n_tok = sum(len(t) for _, t in items)
        if self._blas is not None and n_tok <= FULL_GEMM_MIN_TOKENS:
            # Decode runs thousands of tiny per-block GEMVs: BLAS threading only adds synchronisation
            # (and spins badly on a shared machine). Results are exact either way.
            with self._blas.limit(limits=1, user_api="blas"):
                return self._forward(items, all_logits=all_logits)
        return self._forward(items, all_logits=all_logits)

    def _forward(
        self, items: Sequence[tuple[KVCache, Sequence[int]]], *, all_logits: bool = False
    ) -> list[np.ndarray]:
        """Unthrottled forward pass (see ``forward``)."""
        xp, cfg = self.xp, self.config
        if not items:
            return []
        ids_list, pos_list, spans = [], [], []
        off = 0
        for cache, toks in items:
            if not isinstance(cache, KVCache) or cache.engine is not self:
                raise EngineError("cache does not belong to this engine")
            arr = np.asarray(list(toks), dtype=np.int64)
            if arr.ndim != 1 or arr.size == 0:
                raise EngineError("each item needs at least one token id")
            if arr.min() < 0 or arr.max() >= cfg.vocab_size:
                raise EngineError(f"token id out of range [0, {cfg.vocab_size})")
            cache._reserve(arr.size)
            ids_list.append(arr)
            pos_list.append(np.arange(cache.length, cache.length + arr.size, dtype=np.int64))
            spans.append((off, arr.size))
            off += arr.size
        ids = np.concatenate(ids_list)
        pos = xp.asarray(np.concatenate(pos_list))
        h = self.embed(ids)
        hd, nh, kvh = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
        t = ids.size
        if self._native_layers is not None and len(items) == 1:
            cache = items[0][0]
            h = np.ascontiguousarray(h)
            for li, nl in enumerate(self._native_layers):
                nl(h, cache.length, cache.k[li], cache.ek[li], cache.v[li], self.threads)
        for li, layer in enumerate(self.layers if self._native_layers is None or len(items) > 1 else ()):
            xn = layer.attn_norm(h)
            fn = layer.attn_norm.f_out
            qkv = layer.wqkv(xn, fn, F_ACT)
            if self.native_ops:  # rope, shifts, cache writes and attention in one C call per sequence
                outs = [
                    intkernel.attn_step(
                        qkv[o0 : o0 + n],
                        nh,
                        kvh,
                        self._cos_np,
                        self._sin_np,
                        cache.length,
                        cache.k[li],
                        cache.ek[li],
                        cache.v[li],
                        self.score_shift,
                        self.threads,
                    )
                    for (cache, _), (o0, n) in zip(items, spans, strict=True)
                ]
                att = np.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
                h = self._ffn(layer, np.clip(h + layer.wo(att, F_V, F_ACT), -RESID_LIMIT, RESID_LIMIT))
                continue
            q, k, v = layer.wqkv.split_out(qkv)
            q = self._rope(q.reshape(t, nh, hd), pos)
            k = self._rope(k.reshape(t, kvh, hd), pos)
            v = v.reshape(t, kvh, hd)
            qs, eq = self._qk_scale(q)
            ks, ek = self._qk_scale(k)
            vs = xp.clip(fx.round_shift(xp, v, F_ACT - F_V), -V_LIMIT, V_LIMIT)
            outs = []
            for (cache, _), (o0, n) in zip(items, spans, strict=True):
                st = cache.length
                cache.k[li][:, st : st + n] = ks[o0 : o0 + n].transpose(1, 0, 2).astype(np.float64)
                cache.ek[li][:, st : st + n] = ek[o0 : o0 + n].T
                cache.v[li][:, st : st + n] = vs[o0 : o0 + n].transpose(1, 0, 2).astype(np.float64)
                outs.append(self._attend(li, cache, qs[o0 : o0 + n], eq[o0 : o0 + n], st, n))
            att = xp.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
            h = self._ffn(layer, xp.clip(h + layer.wo(att, F_V, F_ACT), -RESID_LIMIT, RESID_LIMIT))
        for cache, (_, n) in zip((c for c, _ in items), spans, strict=True):
            cache.length += n
        if all_logits:
            rows = np.arange(t)
        else:
            rows = np.array([o0 + n - 1 for o0, n in spans])
        hn = self.out_norm(h[xp.asarray(rows)])
        logits = to_numpy(self.head(hn, self.out_norm.f_out, F_ACT))
        if all_logits:
            return [logits[o0 : o0 + n] for o0, n in spans]
        return [logits[i : i + 1] for i in range(len(spans))]

    def prefill(
        self, cache: KVCache, tokens: Sequence[int], *, chunk: int | None = None, all_logits: bool = False
    ) -> np.ndarray:
        """Feed ``tokens`` to one sequence, optionally in chunks; returns the logits (last or all)."""
        toks = list(tokens)
        if not toks:
            raise EngineError("prefill needs at least one token")
        step = len(toks) if chunk is None else chunk
        if step < 1:
            raise EngineError("chunk must be >= 1")
        outs = []
        for i in range(0, len(toks), step):
            outs.append(self.forward([(cache, toks[i : i + step])], all_logits=all_logits)[0])
        return np.concatenate(outs, axis=0) if all_logits else outs[-1]
