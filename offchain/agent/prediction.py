"""The AI-settled prediction market, off-chain half (docs/agent.md, *The AI-settled prediction market*;
contract: contracts/agent/PredictionMarket.vy).

A question is decided by one deterministic inference request fixed when the question is created:

1. **Question.** A :class:`Question` is its text, a prompt template with ``{question}`` and
   ``{inputs}`` slots, and the sampling parameters. The answer is grammar-bound: the request's
   options restrict the output to ``{"answer":"YES"}`` or ``{"answer":"NO"}`` (:data:`VERDICT_SCHEMA`).
2. **Inputs.** The evidence the model reads is one JSON document (:class:`InputRecord`: the question
   and the inputs) dispersed to the DA network with the trading agent's :class:`DARecords` (the
   certificate checked by ``checkDACert`` when given a checker); the market stores
   :func:`inputs_ref` of the certificate.
3. **Request.** :func:`request_hash` is what the contract's ``requestHashOf`` computes from any
   receipt for the question: model, tokenizer, engine, parameters, the prompt's tokens and the
   options hash. A receipt for anything else is refused on-chain.
4. **Verdict.** An inference operator answers (:func:`answer`, the trading agent's ``infer_with``); the
   receipt is registered with InferenceDisputes and posted with :func:`proposal_args`.
5. **Check.** Anyone re-executes the verdict from the DA record alone (:func:`check_verdict`): the
   record is fetched by its certificate, the prompt rebuilt, the receipt's request compared and the
   inference re-run; a wrong verdict is challenged in InferenceDisputes.

Recorded inputs (``createRecordedQuestion``): the question fixes :func:`request_base` (everything of
the request but the prompt), n named data sources and a threshold k; after the close a source
disperses the record and the sources sign a :class:`Recording` (the record's :func:`inputs_ref` and
:func:`prompt_hash`, EIP-712), which anyone relays with ``recordInputs`` (:func:`quorum` picks the
recording k sources signed); once k agree the request is :func:`recorded_request_hash`. A source
that signed two recordings is proven with ``contestRecording`` (:func:`equivocations`). Anyone checks
the recording against the DA record (:func:`check_recording`) and the verdict with
``check_verdict(..., recorded=True)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

from offchain.agent.errors import PredictionError, RecordError
from offchain.agent.trading import GrammarBound, bounded_canonical, canonical, infer_with, typed_json
from offchain.ai.receipt import ENGINE_ID, Receipt, text_hash
from offchain.ai.sampler import SamplingParams
from offchain.chain import agent as typed
from offchain.chain.inference_disputes import Reexecution, receipt_args, reexecute_with
from offchain.errors import EigenError

INPUTS_TYPE = "eigen.prediction.Inputs"
INPUTS_VERSION = 1
MAX_INPUTS_BYTES = 16 * 1024
REQUEST_TAG = keccak(b"eigen.agent.prediction.Request.v1")
APPEAL_TAG = keccak(b"eigen.agent.prediction.Appeal.v1")
INPUTS_APPEAL_TAG = keccak(b"eigen.agent.prediction.InputsAppeal.v1")
BASE_TAG = keccak(b"eigen.agent.prediction.RequestBase.v1")
RECORDED_TAG = keccak(b"eigen.agent.prediction.RecordedRequest.v1")
RECORDING = "Recording"
RECORDING_FIELDS = (("questionId", "uint256"), ("inputsRef", "bytes32"), ("promptHash", "bytes32"))
MARKET_DOMAIN = ("PredictionMarket", "1")
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"enum": ["YES", "NO"]}},
    "required": ["answer"],
    "additionalProperties": False,
}
VERDICT_TEXTS = {"YES": '{"answer":"YES"}', "NO": '{"answer":"NO"}'}
VERDICT_HASHES = {text_hash(t): v for v, t in VERDICT_TEXTS.items()}
OUTCOMES = {0: None, 1: "YES", 2: "NO", 3: "VOID"}
DEFAULT_TEMPLATE = "Question: {question}\nEvidence:\n{inputs}\nAnswer YES or NO.\n"


@dataclass(frozen=True)
class Question(GrammarBound):
    """A binary question and how the model is asked it (a GrammarBound request, as the trading
    agent's Strategy is, so ``infer_with`` serves both), its answer bound to VERDICT_SCHEMA."""

    text: str
    template: str = DEFAULT_TEMPLATE
    seed: int = 1
    temperature: str = "0"
    max_tokens: int = 32
    SCHEMA = VERDICT_SCHEMA
    ERROR = PredictionError

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise PredictionError("a question has a non-empty text")
        if (
            not isinstance(self.template, str)
            or self.template.count("{question}") != 1
            or (self.template.count("{inputs}") != 1)
        ):
            raise PredictionError("the template has exactly one {question} and one {inputs} slot")
        try:
            self.params()
        except (EigenError, ValueError, TypeError) as exc:
            raise PredictionError(f"bad sampling parameters: {exc}") from None

    def question_hash(self) -> bytes:
        return keccak(self.text.encode())

    def template_hash(self) -> bytes:
        return keccak(self.template.encode())

    def prompt(self, inputs: str) -> str:
        """The prompt: the template with the question and the inputs in their slots (one pass, so
        text inside the inputs is never substituted again)."""
        t, q, i = self.template, "{question}", "{inputs}"
        iq, ii = t.index(q), t.index(i)
        if iq < ii:
            return t[:iq] + self.text + t[iq + len(q) : ii] + inputs + t[ii + len(i) :]
        return t[:ii] + inputs + t[ii + len(i) : iq] + self.text + t[iq + len(q) :]


@dataclass(frozen=True)
class InputRecord:
    """What the model reads, as dispersed to DA: the question and its inputs."""

    question: Question
    inputs: str

    def to_json(self) -> bytes:
        body = {
            "type": INPUTS_TYPE,
            "version": INPUTS_VERSION,
            "question": self.question.to_dict(),
            "inputs": self.inputs,
        }
        return bounded_canonical(body, MAX_INPUTS_BYTES, "an input record", PredictionError)

    @classmethod
    def from_json(cls, raw: bytes) -> InputRecord:
        kind = (INPUTS_TYPE, INPUTS_VERSION)
        d = typed_json(
            raw, MAX_INPUTS_BYTES, "an input record", PredictionError, kind, {"question", "inputs"}
        )
        if not isinstance(d["inputs"], str):
            raise PredictionError("the record's inputs are not a string")
        rec = cls(Question.from_dict(d["question"]), d["inputs"])
        if rec.to_json() != raw:
            raise PredictionError("the input record is not in canonical form")
        return rec

    def prompt(self) -> str:
        return self.question.prompt(self.inputs)


def inputs_ref(cert: Any) -> bytes:
    """The market's reference to an input record: keccak256 of its DA certificate's canonical JSON."""
    try:
        return keccak(canonical(cert))
    except (TypeError, ValueError) as exc:
        raise PredictionError(f"the certificate is not a JSON object: {exc}") from None


def _request_hash(
    model: tuple[bytes, bytes, bytes], p: SamplingParams, prompt_tokens: list[int], options_hash: bytes
) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32"] * 4 + ["uint64", "uint32", "uint32", "uint32", "uint32", "bytes32", "bytes32"],
            [REQUEST_TAG, *model, p.seed, p.temperature_milli, p.top_k, p.top_p_micro, p.max_tokens]
            + [keccak(abi_encode(["uint32[]"], [prompt_tokens])), options_hash],
        )
    )


def _request_base(model: tuple[bytes, bytes, bytes], p: SamplingParams, options_hash: bytes) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32"] * 4 + ["uint64", "uint32", "uint32", "uint32", "uint32", "bytes32"],
            [
                BASE_TAG,
                *model,
                p.seed,
                p.temperature_milli,
                p.top_k,
                p.top_p_micro,
                p.max_tokens,
                options_hash,
            ],
        )
    )


def _tokens_hash(tokens: list[int]) -> bytes:
    return keccak(abi_encode(["uint32[]"], [tokens]))


def recorded_request_hash(base: bytes, prompt_hash_: bytes) -> bytes:
    """A recorded question's request once its inputs are recorded: keccak256(abi.encode(RECORDED_TAG,
    requestBase, promptHash)) (PredictionMarket.recordInputs)."""
    return keccak(abi_encode(["bytes32"] * 3, [RECORDED_TAG, base, prompt_hash_]))


def _model(svc: Any) -> tuple[bytes, bytes, bytes]:
    return (svc.model.sha256, svc.tokenizer.hash, ENGINE_ID)


def request_hash(svc: Any, record: InputRecord, recorded: bool = False) -> bytes:
    """The request the question's verdict must answer (PredictionMarket.requestHashOf; `recorded`:
    the request of a recorded question once `record` is recorded) when `svc`'s model, tokenizer and
    engine run it."""
    q = record.question
    if recorded:
        return recorded_request_hash(request_base(svc, q), prompt_hash(svc, record))
    tokens = list(svc.prompt_tokens(None, record.prompt()))
    return _request_hash(_model(svc), q.params(), tokens, q.options().hash())


def request_base(svc: Any, question: Question) -> bytes:
    """A recorded question's request without the prompt (PredictionMarket.requestBaseOf): the
    model, tokenizer and engine of `svc`, the question's sampling parameters and options."""
    return _request_base(_model(svc), question.params(), question.options().hash())


def prompt_hash(svc: Any, record: InputRecord) -> bytes:
    """keccak256(abi.encode(uint32[] promptTokens)) of the record's prompt as `svc` tokenizes it."""
    return _tokens_hash(list(svc.prompt_tokens(None, record.prompt())))


def receipt_request_hash(receipt: Receipt, recorded: bool = False) -> bytes:
    """The request a receipt answers (PredictionMarket.requestHashOf(receipt, optionsHash); `recorded`:
    the recorded form, from requestBaseOf and the receipt's prompt)."""
    if receipt.options is None:
        raise PredictionError("the receipt has no request options: it is not grammar-bound")
    model = (receipt.model_hash, receipt.tokenizer_hash, receipt.engine_id)
    if recorded:
        base = _request_base(model, receipt.params, receipt.options.hash())
        return recorded_request_hash(base, _tokens_hash(list(receipt.prompt_tokens)))
    return _request_hash(model, receipt.params, list(receipt.prompt_tokens), receipt.options.hash())


@dataclass(frozen=True)
class Recording:
    """What a recorded question's data source signs (EIP-712 ``Recording(uint256 questionId, bytes32
    inputsRef, bytes32 promptHash)`` in the market's domain): the input record's reference and the
    hash of the prompt the template renders over it."""

    chain_id: int
    market: str
    question_id: int
    inputs_ref: bytes
    prompt_hash: bytes

    def typed_data(self) -> dict[str, Any]:
        msg = {"questionId": self.question_id, "inputsRef": self.inputs_ref, "promptHash": self.prompt_hash}
        return typed.typed_data(RECORDING, RECORDING_FIELDS, MARKET_DOMAIN, self.chain_id, self.market, msg)

    def digest(self) -> bytes:
        """PredictionMarket.recordingDigest(questionId, inputsRef, promptHash)."""
        return typed.digest(self.typed_data())

    def sign(self, key: bytes) -> bytes:
        """The source's 65-byte signature (r || s || v, low s)."""
        return typed.sign(key, self.typed_data())

    def signer(self, signature: bytes) -> str:
        """The address that signed (ECDSA)."""
        try:
            return typed.recover(self.typed_data(), signature)
        except (ValueError, TypeError, ValidationError, BadSignature) as exc:
            raise PredictionError(f"not a recording signature: {exc}") from None

    def key(self, base: bytes) -> bytes:
        """The recording's identity on-chain (PredictionMarket.tally's key) for a question of request
        base `base`: keccak256(abi.encode(inputsRef, recorded_request_hash(base, promptHash)))."""
        request = recorded_request_hash(base, self.prompt_hash)
        return keccak(abi_encode(["bytes32", "bytes32"], [self.inputs_ref, request]))

    def args(self, *signed: tuple[str, bytes]) -> tuple[int, bytes, bytes, list[str], list[bytes]]:
        """(questionId, inputsRef, promptHash, signers, signatures) for recordInputs: `signed` are
        (source address, its signature) pairs."""
        return (
            self.question_id,
            self.inputs_ref,
            self.prompt_hash,
            [a for a, _ in signed],
            [s for _, s in signed],
        )

    def contest_args(self, source: str, signature: bytes) -> tuple[int, str, bytes, bytes, bytes]:
        """(questionId, source, inputsRef, promptHash, signature) for contestRecording: this recording,
        signed by `source`, against the other recording its vote is for."""
        return self.question_id, source, self.inputs_ref, self.prompt_hash, signature


def quorum(
    signed: Iterable[tuple[str, Recording, bytes]], threshold: int
) -> tuple[Recording, list[tuple[str, bytes]]] | None:
    """What a relayer submits: among (source, recording, signature) triples gathered from the named
    sources, the recording that `threshold` distinct sources signed and did not contradict, with
    their (source, signature) pairs for ``recordInputs``; None when no recording reaches it.
    A source that signed two different recordings counts for neither (PredictionMarket
    refuses its second vote and contestRecording voids the first: see :func:`equivocations`)."""
    signed = list(signed)
    bad = {source for source, *_ in equivocations(signed)}
    votes: dict[Recording, dict[str, bytes]] = {}
    for source, rec, sig in signed:
        if source not in bad:
            votes.setdefault(rec, {}).setdefault(source, sig)
    for rec, by in votes.items():
        if len(by) >= threshold:
            return rec, list(by.items())[:threshold]
    return None


def equivocations(
    signed: Iterable[tuple[str, Recording, bytes]],
) -> list[tuple[str, Recording, bytes, Recording, bytes]]:
    """The sources that signed two different recordings of the same question, with both (the first
    seen, then the other): each is the proof ``contestRecording`` takes (the other recording's
    ``contest_args``, against whichever the source's on-chain vote is for)."""
    first: dict[tuple[int, str], tuple[Recording, bytes]] = {}
    found: dict[tuple[int, str], tuple[str, Recording, bytes, Recording, bytes]] = {}
    for source, rec, sig in signed:
        k = (rec.question_id, source)
        seen = first.setdefault(k, (rec, sig))
        if seen[0] != rec and k not in found:
            found[k] = (source, seen[0], seen[1], rec, sig)
    return list(found.values())


def recording_of(
    svc: Any, record: InputRecord, cert: Any, chain_id: int, market: str, question_id: int
) -> Recording:
    """The source's recording of `record`, dispersed with certificate `cert`, for a question of `market`."""
    return Recording(chain_id, market, question_id, inputs_ref(cert), prompt_hash(svc, record))


def check_recording(
    cert: Any, records: Any, svc: Any, recording: Recording, question: Question
) -> InputRecord:
    """Check a recording against the DA record: fetch it by `cert` (verified), and refuse
    (PredictionError) a certificate that is not the recorded one, a record of another question than
    the market's `question`, or a prompt hash that is not the template rendered over the record."""
    if inputs_ref(cert) != recording.inputs_ref:
        raise PredictionError("the certificate is not the recorded one")
    rec = InputRecord.from_json(records.get(cert))
    if rec.question != question:
        raise PredictionError("the recorded record is for another question")
    if prompt_hash(svc, rec) != recording.prompt_hash:
        raise PredictionError("the recorded prompt is not the template rendered over the record")
    return rec


def verdict_of(receipt: Receipt) -> str:
    """ "YES" or "NO": what the receipt's returned text says (by its text hash, as the contract reads it)."""
    v = VERDICT_HASHES.get(receipt.text_hash or b"")
    if v is None:
        raise PredictionError("the receipt's text is not a YES/NO verdict")
    return v


def answer(svc: Any, operator_key: bytes, record: InputRecord, client: str) -> Receipt:
    """An inference operator's verdict on the record: a version 3 receipt, grammar-bound to YES/NO,
    for `client`, signed by `operator_key`."""
    try:
        return infer_with(svc, operator_key, record.question, client, record.prompt())
    except RecordError as exc:
        raise PredictionError(str(exc)) from None


def proposal_args(receipt: Receipt) -> tuple[tuple, bytes, bytes]:
    """(InferenceReceipt tuple, optionsHash, textHash) for PredictionMarket.proposeVerdict; refuses
    a receipt that is not a YES/NO verdict."""
    verdict_of(receipt)
    assert receipt.options is not None and receipt.text_hash is not None
    struct, _ = receipt_args(receipt)
    return struct, receipt.options.hash(), receipt.text_hash


def inputs_appeal_evidence(
    chain_id: int, market: str, question_id: int, inputs_ref_: bytes, request: bytes
) -> bytes:
    """The evidence hash a ForkManager challenge carries to appeal a recorded question's inputs
    (PredictionMarket.inputsAppealEvidence): the accusation that the recording's signers lied."""
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "uint256", "bytes32", "bytes32"],
            [INPUTS_APPEAL_TAG, chain_id, market, question_id, inputs_ref_, request],
        )
    )


def appeal_evidence(chain_id: int, market: str, question_id: int, receipt_digest: bytes) -> bytes:
    """The evidence hash a ForkManager challenge carries to appeal a question's verdict
    (PredictionMarket.appealEvidence)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "uint256", "bytes32"],
            [APPEAL_TAG, chain_id, market, question_id, receipt_digest],
        )
    )


@dataclass
class VerdictCheck:
    """A verdict re-executed from the DA record."""

    record: InputRecord
    reexecution: Reexecution
    claimed: str  # what the receipt says
    correct: str | None  # what the model says (None: not a YES/NO answer)
    matches: bool  # the receipt is exactly what the model computes

    @property
    def should_dispute(self) -> bool:
        return not self.matches


def check_verdict(
    cert: Any,
    records: Any,
    svc: Any,
    receipt: Receipt,
    expected_request: bytes | None = None,
    recorded: bool = False,
) -> VerdictCheck:
    """Re-execute a verdict from the DA record alone: fetch the record by `cert` from `records` (the
    trading agent's DARecords: the certificate and the blob are verified), rebuild the prompt, check
    that `receipt` answers the question's request (and, given, the market's `expected_request`;
    `recorded`: a recorded question's), re-run the inference and compare. A receipt for another
    request is PredictionError."""
    rec = InputRecord.from_json(records.get(cert))
    want = request_hash(svc, rec, recorded)
    if expected_request is not None and want != expected_request:
        raise PredictionError("the DA record is not the one the market's question was created with")
    if receipt_request_hash(receipt, recorded) != want:
        raise PredictionError("the receipt is for another request than the record's question")
    claimed = verdict_of(receipt)
    rex = reexecute_with(svc, receipt)
    correct_text = svc.text_of(rex.output_tokens) if rex.output_tokens else ""
    correct = {t: v for v, t in VERDICT_TEXTS.items()}.get(correct_text)
    return VerdictCheck(rec, rex, claimed, correct, rex.receipt_correct)


__all__ = [
    "APPEAL_TAG",
    "DEFAULT_TEMPLATE",
    "INPUTS_APPEAL_TAG",
    "OUTCOMES",
    "REQUEST_TAG",
    "VERDICT_SCHEMA",
    "InputRecord",
    "Question",
    "Recording",
    "VerdictCheck",
    "answer",
    "appeal_evidence",
    "equivocations",
    "inputs_appeal_evidence",
    "check_recording",
    "check_verdict",
    "inputs_ref",
    "prompt_hash",
    "proposal_args",
    "quorum",
    "receipt_request_hash",
    "recorded_request_hash",
    "recording_of",
    "request_base",
    "request_hash",
    "verdict_of",
]
