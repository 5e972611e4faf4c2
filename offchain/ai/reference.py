"""Float32 reference implementation of the same GGUF weights (quality and speed anchor, NOT deterministic).

Ordinary numpy float arithmetic (BLAS float32 GEMMs, ``np.exp``, float RoPE): what a typical engine
does. Used only to measure the exact engine's quality (greedy agreement, perplexity) and its overhead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from offchain.ai.errors import EngineError, ModelFileError
from offchain.ai.model_file import GGML_F32, GGML_Q4_1, GGML_Q8_0, ModelFile, RawTensor


def dequantize(raw: RawTensor) -> np.ndarray:
    """Float32 weights [rows, cols] of a Q4_1 / Q8_0 / F32 tensor."""
    if raw.ggml_type == GGML_F32:
        return np.asarray(raw.data, dtype=np.float32).reshape(raw.shape)
    rows, cols = raw.shape
    nb = cols // 32
    if raw.ggml_type == GGML_Q4_1:
        blk = np.asarray(raw.data).reshape(rows, nb, 20)
        d = np.ascontiguousarray(blk[..., 0:2]).view(np.float16).astype(np.float32)
        m = np.ascontiguousarray(blk[..., 2:4]).view(np.float16).astype(np.float32)
        qs = blk[..., 4:]
        q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.float32)
        return (d * q + m).reshape(rows, cols)
    if raw.ggml_type == GGML_Q8_0:
        blk = np.asarray(raw.data).reshape(rows, nb, 34)
        d = np.ascontiguousarray(blk[..., 0:2]).view(np.float16).astype(np.float32)
        q = np.ascontiguousarray(blk[..., 2:]).view(np.int8).astype(np.float32)
        return (d * q).reshape(rows, cols)
    raise ModelFileError(f"{raw.name}: unsupported type {raw.ggml_type}")


@dataclass
class FloatCache:
    k: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)
    length: int = 0


class FloatReference:
    def __init__(self, model: ModelFile) -> None:
        self.model = model
        self.config = cfg = model.config
        t = model.tensor
        self.layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            wqkv = np.concatenate([dequantize(t(p + n + ".weight")) for n in ("attn_q", "attn_k", "attn_v")])
            wgu = np.concatenate([dequantize(t(p + n + ".weight")) for n in ("ffn_gate", "ffn_up")])
            self.layers.append(
                (
                    dequantize(t(p + "attn_norm.weight")),
                    wqkv,
                    dequantize(t(p + "attn_output.weight")),
                    dequantize(t(p + "ffn_norm.weight")),
                    wgu,
                    dequantize(t(p + "ffn_down.weight")),
                )
            )
        self.out_norm = dequantize(t("output_norm.weight"))
        self.emb = dequantize(t("token_embd.weight"))
        self.head = dequantize(model.tensors.get("output.weight", t("token_embd.weight")))
        half = cfg.head_dim // 2
        inv = float(cfg.rope_base) ** (-np.arange(half, dtype=np.float64) * 2 / cfg.head_dim)
        ang = np.arange(cfg.context_length, dtype=np.float64)[:, None] * inv[None, :]
        self.cos, self.sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
        self.eps = np.float32(float(cfg.rms_eps))

    def new_cache(self) -> FloatCache:
        return FloatCache()

    def _norm(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps) * g

    def _rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        c, s = self.cos[pos][:, None, :], self.sin[pos][:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def forward(
        self, cache: FloatCache, tokens: list[int] | tuple[int, ...], *, all_logits: bool = False
    ) -> np.ndarray:
        cfg = self.config
        n = len(tokens)
        if n == 0 or cache.length + n > cfg.context_length:
            raise EngineError("bad token count for the float reference")
        st = cache.length
        pos = np.arange(st, st + n)
        h = self.emb[np.asarray(tokens)]
        nh, kvh, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        g = nh // kvh
        dq, dk = nh * hd, kvh * hd
        mask = np.arange(st + n)[None, :] <= pos[:, None]
        for li, (an, wqkv, wo, fnorm, wgu, wd) in enumerate(self.layers):
            qkv = self._norm(h, an) @ wqkv.T
            q = self._rope(qkv[:, :dq].reshape(n, nh, hd), pos)
            k = self._rope(qkv[:, dq : dq + dk].reshape(n, kvh, hd), pos)
            v = qkv[:, dq + dk :].reshape(n, kvh, hd)
            if len(cache.k) <= li:
                cache.k.append(k)
                cache.v.append(v)
            else:
                cache.k[li] = np.concatenate([cache.k[li], k])
                cache.v[li] = np.concatenate([cache.v[li], v])
            kk, vv = cache.k[li], cache.v[li]
            qg = q.reshape(n, kvh, g, hd).transpose(1, 2, 0, 3)  # [kvh, g, n, hd]
            s = np.einsum("kgnd,tkd->kgnt", qg, kk) / np.float32(np.sqrt(hd))
            s = np.where(mask[None, None], s, -np.inf)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            o = np.einsum("kgnt,tkd->nkgd", s, vv).reshape(n, dq)
            h = h + o @ wo.T
            gu = self._norm(h, fnorm) @ wgu.T
            gate, up = gu[:, : cfg.d_ff], gu[:, cfg.d_ff :]
            h = h + (gate / (1 + np.exp(-gate)) * up) @ wd.T
        cache.length += n
        hs = h if all_logits else h[-1:]
        return self._norm(hs, self.out_norm) @ self.head.T
