"""Re-execution verifier: recompute a receipt's generation and report a match or the first divergence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from offchain.ai.engine import Engine
from offchain.ai.receipt import ENGINE_ID, FINISH_LENGTH, FINISH_NAMES, FINISH_STOP, Receipt, logits_hash
from offchain.ai.sampler import sample


@dataclass
class VerifyReport:
    ok: bool
    reason: str
    step: int | None = None
    expected: dict[str, Any] = field(default_factory=dict)
    got: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "step": self.step,
            "expected": self.expected,
            "got": self.got,
        }


def verify_receipt(
    receipt: Receipt,
    engine: Engine,
    *,
    tokenizer_hash: bytes,
    eos_id: int,
    expected_operator: str | None = None,
    expected_client: str | None = None,
    prefill_chunk: int | None = None,
) -> VerifyReport:
    """Check signature and bindings, then re-execute along the receipt's tokens (teacher forcing)."""
    if not receipt.signature_valid():
        return VerifyReport(False, "signature does not recover to the receipt's operator")
    for name, want, got, reason in (
        ("operator", expected_operator, receipt.operator, "receipt signed by another operator"),
        ("client", expected_client, receipt.client, "receipt bound to another client"),
    ):
        if want is not None and to_checksum_address(want) != to_checksum_address(got):
            return VerifyReport(
                False,
                reason,
                expected={name: to_checksum_address(want)},
                got={name: to_checksum_address(got)},
            )
    for name, want, got in (
        ("modelHash", engine.model.sha256, receipt.model_hash),
        ("tokenizerHash", tokenizer_hash, receipt.tokenizer_hash),
        ("engineId", ENGINE_ID, receipt.engine_id),
    ):
        if want != got:
            return VerifyReport(
                False,
                f"{name} differs from the verifier's",
                expected={name: "0x" + want.hex()},
                got={name: "0x" + got.hex()},
            )
    p = receipt.params
    prompt, out = list(receipt.prompt_tokens), list(receipt.output_tokens)
    vocab = engine.config.vocab_size
    if not prompt or any(t >= vocab for t in prompt + out):
        return VerifyReport(False, "token id out of the model's vocabulary or empty prompt")
    if not out or len(out) > p.max_tokens or len(prompt) + p.max_tokens > engine.config.context_length:
        return VerifyReport(False, "output length inconsistent with maxTokens / context length")
    digest = receipt.request_digest
    cache = engine.new_cache()
    lg = engine.prefill(cache, prompt, chunk=prefill_chunk)[-1]
    for step, claimed in enumerate(out):
        lh = logits_hash(lg)
        tok = sample(lg, p, digest, step)
        if lh != receipt.logits_hashes[step] or tok != claimed:
            return VerifyReport(
                False,
                "first divergent step",
                step=step,
                expected={"token": tok, "logitsHash": "0x" + lh.hex()},
                got={"token": claimed, "logitsHash": "0x" + receipt.logits_hashes[step].hex()},
            )
        if claimed == eos_id and step != len(out) - 1:
            return VerifyReport(False, "tokens continue after the end-of-sequence token", step=step)
        if step + 1 < len(out):
            lg = engine.forward([(cache, [claimed])])[0][-1]
    want_finish = FINISH_STOP if out[-1] == eos_id else FINISH_LENGTH
    if want_finish == FINISH_LENGTH and len(out) != p.max_tokens:
        return VerifyReport(
            False, "generation stopped before maxTokens without an end-of-sequence token", step=len(out)
        )
    if receipt.finish_reason != want_finish:
        return VerifyReport(
            False,
            "finish reason mismatch",
            expected={"finishReason": FINISH_NAMES[want_finish]},
            got={"finishReason": FINISH_NAMES[receipt.finish_reason]},
        )
    return VerifyReport(True, "match")
