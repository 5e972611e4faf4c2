"""Quality of the exact engine against the float reference: greedy agreement and perplexity.

Measurement code only (uses float logs on logits for perplexity); nothing here is on the receipt path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from offchain.ai.engine import F_ACT
from offchain.ai.generate import Request, generate
from offchain.ai.reference import FloatReference
from offchain.ai.sampler import SamplingParams
from offchain.ai.service import InferenceService

EVAL_PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "List three prime numbers.",
    "What is 12 times 7?",
    "Give me a name for a pet turtle.",
    "Translate 'good morning' into Spanish.",
    "What color is the sky on a clear day?",
    "Write one sentence about the moon.",
    "Who wrote Romeo and Juliet?",
    "Suggest a healthy breakfast.",
    "What is the boiling point of water in Celsius?",
    "Describe a cat in five words.",
    "Why do leaves change color in autumn?",
    "Name a famous painting.",
    "What does a bee make?",
    "How many days are in a week?",
    "Give a tip for learning to code.",
    "What is the largest planet in our solar system?",
    "Write a short greeting for a birthday card.",
)


@dataclass
class Agreement:
    prompts: int
    tokens: int
    identical_sequences: int
    mean_common_prefix: float
    teacher_forced_top1: float  # exact engine's argmax == reference token, on the reference's path

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def float_greedy(ref: FloatReference, prompt: Sequence[int], n: int, eos: int) -> list[int]:
    cache = ref.new_cache()
    lg = ref.forward(cache, list(prompt))
    out: list[int] = []
    for _ in range(n):
        t = int(np.argmax(lg[-1]))
        out.append(t)
        if t == eos or len(out) == n:
            break
        lg = ref.forward(cache, [t])
    return out


def greedy_agreement(
    svc: InferenceService, ref: FloatReference, prompts: Sequence[str] = EVAL_PROMPTS, n: int = 32
) -> Agreement:
    eos = svc.tokenizer.eos_id
    toks = [tuple(svc.prompt_tokens(None, p)) for p in prompts]
    exact = generate(
        svc.engine,
        [Request(t, SamplingParams(max_tokens=n)) for t in toks],
        tokenizer_hash=svc.tokenizer.hash,
        eos_id=eos,
    )
    same, prefix, hits, total = 0, 0, 0, 0
    for t, tr in zip(toks, exact, strict=True):
        fr = float_greedy(ref, t, n, eos)
        ex = tr.output_tokens
        same += int(ex == fr)
        k = 0
        while k < min(len(ex), len(fr)) and ex[k] == fr[k]:
            k += 1
        prefix += k
        lg = svc.engine.prefill(svc.engine.new_cache(), list(t) + fr[:-1], all_logits=True)[len(t) - 1 :]
        hits += int((np.argmax(lg, axis=1) == np.asarray(fr)).sum())
        total += len(fr)
    return Agreement(len(prompts), n, same, prefix / len(prompts), hits / max(total, 1))


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float((lse - z[np.arange(len(targets)), targets]).sum())


def perplexity(svc: InferenceService, ref: FloatReference, text: str) -> dict[str, float | int]:
    ids = svc.tokenizer.encode(text)
    if len(ids) < 2:
        raise ValueError("text too short")
    tgt = np.asarray(ids[1:])
    ex = svc.engine.prefill(svc.engine.new_cache(), ids[:-1], all_logits=True) / float(1 << F_ACT)
    fl = ref.forward(ref.new_cache(), ids[:-1], all_logits=True)
    n = len(tgt)
    return {
        "tokens": n,
        "exact": float(np.exp(_nll(ex, tgt) / n)),
        "float_reference": float(np.exp(_nll(fl, tgt) / n)),
    }
