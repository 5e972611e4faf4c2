"""Off-chain side of contracts/avs/InferenceDisputes.vy: receipt arguments, re-execution, verdicts.

A receipt (``offchain.ai.receipt.Receipt``) goes on-chain as the ``InferenceReceipt`` struct (the
fields of ``RECEIPT_FIELDS`` in order) with its ``(v, r, s)`` signature; the contract recomputes the
same digest. When a receipt is challenged each operator of the inference set re-executes it here
(:func:`reexecute`, with ``offchain.ai``'s engine and verifier), and signs the verdict statement
naming the correct output commitment (:class:`Verdict`). Encodings (``abi.encode`` + keccak256)::

    OUTPUT_TAG = keccak256("eigen.ai.dispute.Output.v1")
    output  = keccak256(abi.encode(OUTPUT_TAG, uint32[] outputTokens, bytes32 stepsRoot, uint8 finishReason))
    INVALID_REQUEST = keccak256("eigen.ai.dispute.InvalidRequest.v1")   # correct output of an unrunnable request
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
from offchain.ai.receipt import ENGINE_ID, Receipt, merkle_root, step_hash
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


_V3_REFUSED = (
    "a version 3 receipt (request options: stop, penalties, logit bias, grammar) is not accepted by "
    "InferenceDisputes yet; its InferenceReceipt struct has no optionsHash/textHash"
)


def receipt_args(receipt: Receipt) -> tuple[tuple, Signature]:
    """(InferenceReceipt tuple, (v, r, s)) for InferenceDisputes.registerReceipt."""
    if len(receipt.signature) != 65:
        raise DisputeError("receipt is not signed")
    if receipt.options is not None:
        raise DisputeError(_V3_REFUSED)
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


def reexecute(receipt: Receipt, engine: Engine, *, tokenizer_hash: bytes, eos_id: int) -> Reexecution:
    """Recompute a receipt's request from scratch with the engine and return the correct output
    commitment (INVALID_REQUEST for a request the engine cannot run). Refuses (DisputeError) a
    receipt that is not validly signed or is for another model, tokenizer or engine: such a receipt
    cannot be registered on-chain, and this operator could not judge it."""
    if receipt.options is not None:
        raise DisputeError(_V3_REFUSED)
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
    try:
        tr = generate(
            engine, [Request(tuple(prompt), receipt.params)], tokenizer_hash=tokenizer_hash, eos_id=eos_id
        )[0]
    except AIError:
        return Reexecution(receipt.digest(), claimed, INVALID_REQUEST, (), None)
    root = merkle_root(
        [step_hash(i, t, h) for i, (t, h) in enumerate(zip(tr.output_tokens, tr.logits_hashes, strict=True))]
    )
    correct = output_commitment(tr.output_tokens, root, tr.finish_reason)
    report = None
    if correct != claimed:
        report = verify_receipt(receipt, engine, tokenizer_hash=tokenizer_hash, eos_id=eos_id)
    return Reexecution(receipt.digest(), claimed, correct, tuple(tr.output_tokens), report)


def reexecute_with(service: Any, receipt: Receipt) -> Reexecution:
    """:func:`reexecute` with an ``offchain.ai.service.InferenceService`` (its engine and tokenizer)."""
    with service.lock:
        return reexecute(
            receipt, service.engine, tokenizer_hash=service.tokenizer.hash, eos_id=service.tokenizer.eos_id
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
