"""Re-execution verifier: recompute a receipt's generation and report a match or the first divergence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from offchain.ai.engine import Engine
from offchain.ai.errors import AIError
from offchain.ai.options import Decoder
from offchain.ai.receipt import (
    ENGINE_ID,
    FINISH_LENGTH,
    FINISH_NAMES,
    FINISH_STOP,
    FINISH_STOP_SEQUENCE,
    Receipt,
    logits_hash,
    text_hash,
)
from offchain.ai.sampler import sample
from offchain.ai.tokenizer import Tokenizer


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
    tokenizer: Tokenizer | None = None,
) -> VerifyReport:
    """Check signature and bindings, then re-execute along the receipt's tokens (teacher forcing).
    The report names the first check that fails, in the order below. A version 3 receipt (request
    options) needs the ``tokenizer``: stop strings, the grammar and the text hash are on the text."""
    decoder = None
    if receipt.options is not None:
        if tokenizer is None or tokenizer.hash != tokenizer_hash:
            return VerifyReport(False, "a version 3 receipt needs the verifier's tokenizer")
        decoder = Decoder(receipt.options, tokenizer)
    return (
        _check_signature(receipt, expected_operator, expected_client)
        or _check_identity(receipt, engine, tokenizer_hash)
        or _check_lengths(receipt, engine)
        or _replay(receipt, engine, eos_id, prefill_chunk, decoder)
        or _check_finish(receipt, eos_id, decoder)
        or VerifyReport(True, "match")
    )


def _check_signature(
    receipt: Receipt, expected_operator: str | None, expected_client: str | None
) -> VerifyReport | None:
    """The signature recovers to the operator; operator and client are the expected ones."""
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
    return None


def _check_identity(receipt: Receipt, engine: Engine, tokenizer_hash: bytes) -> VerifyReport | None:
    """The receipt is for this verifier's model, tokenizer and engine."""
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
    return None


def _check_lengths(receipt: Receipt, engine: Engine) -> VerifyReport | None:
    """Token ids in the vocabulary, a prompt, and an output length the request allows."""
    p = receipt.params
    prompt, out = list(receipt.prompt_tokens), list(receipt.output_tokens)
    vocab = engine.config.vocab_size
    if not prompt or any(t >= vocab for t in prompt + out):
        return VerifyReport(False, "token id out of the model's vocabulary or empty prompt")
    if not out or len(out) > p.max_tokens or len(prompt) + p.max_tokens > engine.config.context_length:
        return VerifyReport(False, "output length inconsistent with maxTokens / context length")
    return None


def _replay(
    receipt: Receipt, engine: Engine, eos_id: int, prefill_chunk: int | None, decoder: Decoder | None
) -> VerifyReport | None:
    """Re-execute step by step: each step's logits hash and sampled token equal the receipt's (the
    token sampled from the options' adjusted logits and grammar mask, if any), and nothing follows
    the end-of-sequence token or a stop string."""
    p, digest = receipt.params, receipt.request_digest
    out = list(receipt.output_tokens)
    cache = engine.new_cache()
    lg = engine.prefill(cache, list(receipt.prompt_tokens), chunk=prefill_chunk)[-1]
    for step, claimed in enumerate(out):
        lh = logits_hash(lg)
        try:
            if decoder is None:
                tok = sample(lg, p, digest, step)
            else:
                tok = sample(decoder.logits(lg), p, digest, step, decoder.allowed())
        except AIError as exc:
            return VerifyReport(False, f"the request's options cannot be applied: {exc}", step=step)
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
        if decoder is not None:
            decoder.accept(claimed)
            if decoder.stop_hit and step != len(out) - 1:
                return VerifyReport(False, "tokens continue after a stop string", step=step)
        if step + 1 < len(out):
            lg = engine.forward([(cache, [claimed])])[0][-1]
    return None


def _check_finish(receipt: Receipt, eos_id: int, decoder: Decoder | None) -> VerifyReport | None:
    """The finish reason is the one the tokens imply (stop at EOS, stop sequence when a stop string
    occurred, else length at maxTokens); a version 3 receipt's text hash is the returned text's."""
    out = receipt.output_tokens
    want_finish = FINISH_STOP if out[-1] == eos_id else FINISH_LENGTH
    if want_finish == FINISH_LENGTH and decoder is not None and decoder.stop_hit:
        want_finish = FINISH_STOP_SEQUENCE
    if decoder is not None and receipt.text_hash != text_hash(decoder.returned_text()):
        return VerifyReport(
            False,
            "textHash is not the hash of the returned text",
            expected={"textHash": "0x" + text_hash(decoder.returned_text()).hex()},
            got={"textHash": "0x" + (receipt.text_hash or b"").hex()},
        )
    if want_finish == FINISH_LENGTH and len(out) != receipt.params.max_tokens:
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
    return None
