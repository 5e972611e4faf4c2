"""Batched generation with receipts' raw material (tokens, per-step logits hashes, finish reason).

Requests of any prompt length run together: prefill (optionally chunked) and decode steps stack the new
tokens of every active sequence into one forward pass. Because the engine is exact and row-local, each
request's tokens and logits are the same as when it runs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from offchain.ai.engine import Engine
from offchain.ai.errors import EngineError
from offchain.ai.receipt import ENGINE_ID, FINISH_LENGTH, FINISH_STOP, logits_hash, request_digest
from offchain.ai.sampler import SamplingParams, sample


@dataclass(frozen=True)
class Request:
    prompt_tokens: tuple[int, ...]
    params: SamplingParams


@dataclass
class Transcript:
    request: Request
    digest: bytes
    output_tokens: list[int] = field(default_factory=list)
    logits_hashes: list[bytes] = field(default_factory=list)
    finish_reason: int = FINISH_LENGTH
    done: bool = False


TokenCallback = Callable[[int, int, int], None]  # (request index, step, token)


def request_digest_for(engine: Engine, tokenizer_hash: bytes, req: Request) -> bytes:
    return request_digest(engine.model.sha256, tokenizer_hash, ENGINE_ID, req.params, req.prompt_tokens)


def generate(
    engine: Engine,
    requests: Sequence[Request],
    *,
    tokenizer_hash: bytes,
    eos_id: int,
    prefill_chunk: int | None = None,
    on_token: TokenCallback | None = None,
) -> list[Transcript]:
    """Generate for all ``requests`` together; returns one transcript per request, in order."""
    if prefill_chunk is not None and prefill_chunk < 1:
        raise EngineError("prefill_chunk must be >= 1")
    ctx = engine.config.context_length
    for r in requests:
        if not r.prompt_tokens:
            raise EngineError("empty prompt")
        if len(r.prompt_tokens) + r.params.max_tokens > ctx:
            raise EngineError(
                f"prompt ({len(r.prompt_tokens)}) + max_tokens ({r.params.max_tokens}) exceeds context {ctx}"
            )
    trs = [Transcript(r, request_digest_for(engine, tokenizer_hash, r)) for r in requests]
    caches = [engine.new_cache() for _ in requests]
    # prefill: all prompts together, chunk by chunk
    pending = {i: 0 for i in range(len(requests))}
    last: dict[int, np.ndarray] = {}
    while pending:
        items, idx = [], []
        for i, off in pending.items():
            toks = requests[i].prompt_tokens
            end = len(toks) if prefill_chunk is None else min(len(toks), off + prefill_chunk)
            items.append((caches[i], toks[off:end]))
            idx.append((i, end))
        outs = engine.forward(items)
        for (i, end), lg in zip(idx, outs, strict=True):
            if end == len(requests[i].prompt_tokens):
                last[i] = lg[-1]
                del pending[i]
            else:
                pending[i] = end
    # decode
    active = list(range(len(requests)))
    while active:
        feed = []
        for i in active:
            tr = trs[i]
            step = len(tr.output_tokens)
            lg = last[i]
            tok = sample(lg, tr.request.params, tr.digest, step)
            tr.output_tokens.append(tok)
            tr.logits_hashes.append(logits_hash(lg))
            if on_token is not None:
                on_token(i, step, tok)
            if tok == eos_id:
                tr.finish_reason, tr.done = FINISH_STOP, True
            elif len(tr.output_tokens) >= tr.request.params.max_tokens:
                tr.finish_reason, tr.done = FINISH_LENGTH, True
            else:
                feed.append(i)
        if not feed:
            break
        outs = engine.forward([(caches[i], [trs[i].output_tokens[-1]]) for i in feed])
        for i, lg in zip(feed, outs, strict=True):
            last[i] = lg[-1]
        active = feed
    return trs
