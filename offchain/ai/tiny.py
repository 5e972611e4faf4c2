"""A tiny Llama model generated from a fixed seed, written as a real GGUF file (fast tests, no download).

Weights come from SHA-256 in counter mode keyed by (seed, tensor name), so the file's bytes (and hash)
are the same everywhere. Same tensor types as SmolLM2 (Q4_1 layers, Q8_0 embedding and (untied) output, F32 norms),
byte-level BPE vocabulary with a few merges, a ChatML chat template.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from offchain.ai.model_file import ModelFile, load_model_file
from offchain.ai.tokenizer import bytes_to_unicode

TINY_LAYERS, TINY_D, TINY_HEADS, TINY_KV, TINY_FF, TINY_CTX = 2, 64, 4, 2, 128, 256
_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_MERGES = [("Ġ", c) for c in "etaoinshrw"] + [
    ("t", "h"),
    ("h", "e"),
    ("i", "n"),
    ("e", "r"),
    ("a", "n"),
    ("r", "e"),
    ("o", "n"),
    ("Ġt", "h"),
    ("Ġth", "e"),
]
_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _stream(seed: int, name: str, n: int) -> np.ndarray:
    out = bytearray()
    ctr = 0
    key = b"eigencloud/ai/tiny/v1" + seed.to_bytes(8, "big") + name.encode()
    while len(out) < n:
        out += hashlib.sha256(key + ctr.to_bytes(8, "big")).digest()
        ctr += 1
    return np.frombuffer(bytes(out[:n]), dtype=np.uint8)


def _f16_bytes(x: np.ndarray) -> np.ndarray:
    return x.astype("<f2").view(np.uint8).reshape(*x.shape, 2)


def _q4_1(seed: int, name: str, rows: int, cols: int) -> np.ndarray:
    nb = cols // 32
    s = _stream(seed, name, rows * nb * 18).reshape(rows, nb, 18)
    d = (1.0 + (s[..., 0] % 8)) / 256.0
    m = -(7.5 + ((s[..., 1] % 5) - 2.0) / 4.0) * d
    blk = np.concatenate([_f16_bytes(d), _f16_bytes(m), np.repeat(s[..., 2:], 1, axis=-1)], axis=-1)
    return np.ascontiguousarray(blk.reshape(rows, nb * 20))


def _q8_0(seed: int, name: str, rows: int, cols: int, denom: float = 256.0) -> np.ndarray:
    nb = cols // 32
    s = _stream(seed, name, rows * nb * 33).reshape(rows, nb, 33)
    d = (1.0 + (s[..., 0] % 4)) / denom
    blk = np.concatenate([_f16_bytes(d), s[..., 1:]], axis=-1)
    return np.ascontiguousarray(blk.reshape(rows, nb * 34))


def tiny_vocab() -> tuple[list[str], list[str], list[int]]:
    b2u = bytes_to_unicode()
    tokens = list(_SPECIALS) + [b2u[b] for b in range(256)] + [a + b for a, b in _MERGES]
    types = [3] * len(_SPECIALS) + [1] * (len(tokens) - len(_SPECIALS))
    return tokens, [f"{a} {b}" for a, b in _MERGES], types


def write_tiny_gguf(path: Path | str, seed: int = 0) -> Path:
    import gguf  # type: ignore[import-untyped]

    path = Path(path)
    tokens, merges, types = tiny_vocab()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"eigen-tiny-seed{seed}")
    w.add_block_count(TINY_LAYERS)
    w.add_context_length(TINY_CTX)
    w.add_embedding_length(TINY_D)
    w.add_feed_forward_length(TINY_FF)
    w.add_head_count(TINY_HEADS)
    w.add_head_count_kv(TINY_KV)
    w.add_rope_dimension_count(TINY_D // TINY_HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_merges(merges)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template(_TEMPLATE)
    q41 = gguf.GGMLQuantizationType.Q4_1
    hd = TINY_D // TINY_HEADS
    w.add_tensor(
        "token_embd.weight",
        _q8_0(seed, "token_embd", len(tokens), TINY_D),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    w.add_tensor(
        "output.weight",
        _q8_0(seed, "output", len(tokens), TINY_D, 1024.0),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    for i in range(TINY_LAYERS):
        for name, rows, cols in (
            ("attn_q", TINY_D, TINY_D),
            ("attn_k", TINY_KV * hd, TINY_D),
            ("attn_v", TINY_KV * hd, TINY_D),
            ("attn_output", TINY_D, TINY_D),
            ("ffn_gate", TINY_FF, TINY_D),
            ("ffn_up", TINY_FF, TINY_D),
            ("ffn_down", TINY_D, TINY_FF),
        ):
            w.add_tensor(f"blk.{i}.{name}.weight", _q4_1(seed, f"{i}.{name}", rows, cols), raw_dtype=q41)
        for name in ("attn_norm", "ffn_norm"):
            g = (1.0 + (_stream(seed, f"{i}.{name}", TINY_D).astype(np.float32) - 128.0) / 512.0).astype(
                np.float32
            )
            w.add_tensor(f"blk.{i}.{name}.weight", g)
    g = (1.0 + (_stream(seed, "output_norm", TINY_D).astype(np.float32) - 128.0) / 512.0).astype(np.float32)
    w.add_tensor("output_norm.weight", g)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny_model(seed: int = 0) -> ModelFile:
    """Generate the tiny model for ``seed`` and load it.

    The file is written fresh, then kept under a name derived from its own SHA-256, so a stale file
    from another version of this generator can never be picked up."""
    tmpdir = Path(tempfile.gettempdir())
    fd, tmp = tempfile.mkstemp(suffix=".gguf", dir=tmpdir)
    os.close(fd)
    try:
        write_tiny_gguf(tmp, seed)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        target = tmpdir / f"eigen-ai-tiny-{digest[:24]}.gguf"
        if target.is_file():
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return load_model_file(target)
