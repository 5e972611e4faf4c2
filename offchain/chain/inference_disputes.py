"""Off-chain side of contracts/avs/InferenceDisputes.vy: receipt arguments, re-execution, verdicts.

A receipt (``offchain.ai.receipt.Receipt``) goes on-chain as the ``InferenceReceipt`` struct (the
fields of ``RECEIPT_FIELDS`` in order) with its ``(v, r, s)`` signature; the contract recomputes the
same digest. When a receipt is challenged each operator of the inference set re-executes it here
(:func:`reexecute`, with ``offchain.ai``'s engine and verifier), and signs the verdict statement
naming the correct output commitment (:class:`Verdict`). Encodings (``abi.encode`` + keccak256)::

    OUTPUT_TAG = keccak256("eigen.ai.dispute.Output.v1")
    output  = keccak256(abi.encode(OUTPUT_TAG, uint32[] outputTokens, bytes32 stepsRoot, uint8 finishReason))
    INVALID_REQUEST = keccak256("eigen.ai.dispute.InvalidRequest.v1")   # correct output of an unrunnable request
                                                                         # or of a receipt whose textHash lies
    VERDICT_DOMAIN = keccak256("eigen.ai.dispute.Verdict.v1")
    verdict = keccak256(abi.encode(VERDICT_DOMAIN, uint256 chainId, address disputes, bytes32 receiptDigest,
                                   bytes32 correctOutput))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain import abi
from offchain.ai.engine import Engine
from offchain.ai.errors import AIError
from offchain.ai.generate import Request, generate
from offchain.ai.options import Decoder
from offchain.ai.receipt import (
    ENGINE_ID,
    FINISH_LENGTH,
    FINISH_STOP,
    FINISH_STOP_SEQUENCE,
    Receipt,
    logits_hash,
    merkle_root,
    step_hash,
    text_hash,
)
from offchain.ai.sampler import sample
from offchain.ai.tokenizer import Tokenizer
from offchain.ai.verify import VerifyReport, verify_receipt
from offchain.chain.compute_avs import Signature, threshold_signatures
from offchain.chain.errors import DisputeError

OUTPUT_TAG = keccak(b"eigen.ai.dispute.Output.v1")
VERDICT_DOMAIN = keccak(b"eigen.ai.dispute.Verdict.v1")
INVALID_REQUEST = keccak(b"eigen.ai.dispute.InvalidRequest.v1")
MAX_PROMPT_TOKENS = 512
MAX_OUTPUT_TOKENS = 512


_b32 = partial(abi.b32, err=DisputeError, text=False)
_addr = partial(abi.address, err=DisputeError)


def output_commitment(output_tokens: Iterable[int], steps_root: bytes, finish_reason: int) -> bytes:
    """The output commitment a verdict names (InferenceDisputes.outputCommitment)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint32[]", "bytes32", "uint8"],
            [OUTPUT_TAG, list(output_tokens), _b32(steps_root, "steps_root"), finish_reason],
        )
    )


def receipt_output(receipt: Receipt) -> bytes:
    """The output commitment of what a receipt claims."""
    return output_commitment(receipt.output_tokens, receipt.steps_root, receipt.finish_reason)


def options_binding(receipt: Receipt) -> tuple[bytes, bytes] | None:
    """(optionsHash, textHash) for InferenceDisputes.bindReceiptOptions, which a version 3 receipt
    needs before registerReceipt (it publishes the preimage of the receipt's domain word); None for
    version 2."""
    if receipt.options is None:
        return None
    assert receipt.text_hash is not None
    return receipt.options.hash(), receipt.text_hash


def receipt_args(receipt: Receipt) -> tuple[tuple, Signature]:
    """(InferenceReceipt tuple, (v, r, s)) for InferenceDisputes.registerReceipt (a version 3 receipt
    first needs ``bindReceiptOptions(*options_binding(receipt))``)."""
    if len(receipt.signature) != 65:
        raise DisputeError("receipt is not signed")
    if int(receipt.client, 16) == 0:
        raise DisputeError("receipt is bound to no client (the zero address): the contract refuses it")
    if len(receipt.prompt_tokens) > MAX_PROMPT_TOKENS or len(receipt.output_tokens) > MAX_OUTPUT_TOKENS:
        raise DisputeError(
            f"the contract takes at most {MAX_PROMPT_TOKENS} prompt and {MAX_OUTPUT_TOKENS} output tokens"
        )
    sig = receipt.signature
    return tuple(receipt.abi_values()), (sig[64], sig[:32], sig[32:64])


def verdict_digest(chain_id: int, disputes: str, receipt_digest: bytes, correct_output: bytes) -> bytes:
    """What the set's operators sign (InferenceDisputes.verdictDigest)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "bytes32", "bytes32"],
            [
                VERDICT_DOMAIN,
                chain_id,
                _addr(disputes),
                _b32(receipt_digest, "receipt_digest"),
                _b32(correct_output, "correct_output"),
            ],
        )
    )


@dataclass(frozen=True)
class Reexecution:
    """An operator's re-execution of a receipt: the correct output commitment and, when the receipt
    is wrong, the verifier's report (first divergent step with both values)."""

    receipt_digest: bytes
    claimed_output: bytes
    correct_output: bytes
    output_tokens: tuple[int, ...]
    report: VerifyReport | None

    @property
    def receipt_correct(self) -> bool:
        return self.correct_output == self.claimed_output


def _generate_with_options(
    engine: Engine, receipt: Receipt, decoder: Decoder, eos_id: int
) -> tuple[list[int], list[bytes], int]:
    """Free-running generation under a version 3 receipt's options, exactly as the server's scheduler
    runs it: the options adjust the logits and mask the grammar, the raw logits are committed, and a
    stop string ends generation. Returns (tokens, logits hashes, finish reason)."""
    p, digest = receipt.params, receipt.request_digest
    cache = engine.new_cache()
    lg = engine.prefill(cache, list(receipt.prompt_tokens))[-1]
    tokens: list[int] = []
    hashes: list[bytes] = []
    while True:
        tok = sample(decoder.logits(lg), p, digest, len(tokens), decoder.allowed())
        decoder.accept(tok)
        tokens.append(tok)
        hashes.append(logits_hash(lg))
        if tok == eos_id:
            return tokens, hashes, FINISH_STOP
        if decoder.stop_hit:
            return tokens, hashes, FINISH_STOP_SEQUENCE
        if len(tokens) >= p.max_tokens:
            return tokens, hashes, FINISH_LENGTH
        lg = engine.forward([(cache, [tok])])[0][-1]


def reexecute(
    receipt: Receipt,
    engine: Engine,
    *,
    tokenizer_hash: bytes,
    eos_id: int,
    tokenizer: Tokenizer | None = None,
) -> Reexecution:
    """Recompute a receipt's request from scratch with the engine and return the correct output
    commitment (INVALID_REQUEST for a request the engine cannot run, or for a version 3 receipt whose
    textHash is not the hash of the text its own tokens return under its options). Refuses
    (DisputeError) a receipt that is not validly signed or is for another model, tokenizer or engine:
    such a receipt cannot be registered on-chain, and this operator could not judge it. A version 3
    receipt (request options) needs the ``tokenizer``: stop strings and the grammar act on text."""
    if not receipt.signature_valid():
        raise DisputeError("receipt signature does not recover to its operator")
    for name, want, got in (
        ("model", engine.model.sha256, receipt.model_hash),
        ("tokenizer", tokenizer_hash, receipt.tokenizer_hash),
        ("engine", ENGINE_ID, receipt.engine_id),
    ):
        if want != got:
            raise DisputeError(f"receipt is for another {name} than this re-executor's")
    claimed = receipt_output(receipt)
    prompt = receipt.prompt_tokens
    vocab = engine.config.vocab_size
    if not prompt or any(t >= vocab for t in prompt):
        return Reexecution(receipt.digest(), claimed, INVALID_REQUEST, (), None)
    decoder = None
    if receipt.options is not None:
        if tokenizer is None or tokenizer.hash != tokenizer_hash:
            raise DisputeError("a version 3 receipt (request options) needs the re-executor's tokenizer")
        try:
            decoder = Decoder(receipt.options, tokenizer)
        except AIError:
            return Reexecution(receipt.digest(), claimed, INVALID_REQUEST, (), None)
    try:
        if decoder is None:
            tr = generate(
                engine, [Request(tuple(prompt), receipt.params)], tokenizer_hash=tokenizer_hash, eos_id=eos_id
            )[0]
            tokens, hashes, finish = tr.output_tokens, tr.logits_hashes, tr.finish_reason
        else:
            if len(prompt) + receipt.params.max_tokens > engine.config.context_length:
                return Reexecution(receipt.digest(), claimed, INVALID_REQUEST, (), None)
            tokens, hashes, finish = _generate_with_options(engine, receipt, decoder, eos_id)
    except AIError:
        return Reexecution(receipt.digest(), claimed, INVALID_REQUEST, (), None)
    root = merkle_root([step_hash(i, t, h) for i, (t, h) in enumerate(zip(tokens, hashes, strict=True))])
    correct = output_commitment(tokens, root, finish)
    if correct == claimed and decoder is not None and text_hash(decoder.returned_text()) != receipt.text_hash:
        correct = INVALID_REQUEST  # the right tokens, but the text the receipt binds is not theirs
    report = None
    if correct != claimed:
        report = verify_receipt(
            receipt, engine, tokenizer_hash=tokenizer_hash, eos_id=eos_id, tokenizer=tokenizer
        )
    return Reexecution(receipt.digest(), claimed, correct, tuple(tokens), report)


def reexecute_with(service: Any, receipt: Receipt) -> Reexecution:
    """:func:`reexecute` with an ``offchain.ai.service.InferenceService`` (its engine and tokenizer)."""
    with service.lock:
        return reexecute(
            receipt,
            service.engine,
            tokenizer_hash=service.tokenizer.hash,
            eos_id=service.tokenizer.eos_id,
            tokenizer=service.tokenizer,
        )


@dataclass(frozen=True)
class Verdict:
    """The statement a stake-weighted threshold of the inference set signs to resolve a challenge."""

    chain_id: int
    disputes: str
    receipt_digest: bytes
    correct_output: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "disputes", _addr(self.disputes))
        _b32(self.receipt_digest, "receipt_digest")
        _b32(self.correct_output, "correct_output")
        if self.correct_output == abi.ZERO32:
            raise DisputeError("the correct output cannot be zero")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 0:
            raise DisputeError("chain_id must be a non-negative integer")

    @classmethod
    def of(cls, chain_id: int, disputes: str, rex: Reexecution) -> Verdict:
        return cls(chain_id, disputes, rex.receipt_digest, rex.correct_output)

    def digest(self) -> bytes:
        return verdict_digest(self.chain_id, self.disputes, self.receipt_digest, self.correct_output)

    def sign(self, signing_keys: Iterable[keys.PrivateKey]) -> list[Signature]:
        """Signatures of the given operators' signing keys, ordered by ascending key address as the
        contract requires (duplicates refused)."""
        return threshold_signatures(self.digest(), signing_keys, DisputeError)
