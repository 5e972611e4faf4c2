"""A server agent selling deterministic inference over x402, and the client that buys it
(docs/agent.md "Verified settlement", the inference kind).

:class:`InferenceSeller` answers an inference request (a prompt, and the sampling parameters and
request options its `request` function derives from the query) with an inference service's
output and a receipt that an operator's key signs for the paying client, registered on
InferenceDisputes from the seller's gas account (a version 3 receipt's options bound first). It
sells under ``verified`` (kind inference: the offer is conditioned on the request's digest, the
payment held in a VerifiedEscrow, released to the seller once the receipt's challenge window
passed or it was upheld, refunded to the client when it is proven wrong and the slash is final),
``exact`` (a fixed price) or ``upto`` (a price per generated token). It serves as an HTTP route
behind the x402 payment middleware (:meth:`InferenceSeller.http_app`) and as an A2A skill
(:meth:`InferenceSeller.skill`).

:class:`InferenceBuyer` is the client's side: given a prompt it computes the request digest
itself, pays only a ``verified`` offer conditioned on it (through a PayingClient, whose wallet may
be an agent's vault), and checks the receipt it gets answers that very request for the payer."""

from __future__ import annotations

import queue
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from eth_utils import to_checksum_address
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from offchain.agent.a2a import AgentSkill, Message
from offchain.agent.a2a_server import Skill
from offchain.agent.errors import A2AInvalidParamsError, AgentError
from offchain.agent.evm import escrow_of
from offchain.agent.server import Payment, PaymentMiddleware, PricedRoute
from offchain.agent.x402 import EscrowTerms, PaymentRequirements
from offchain.ai.options import stop_position
from offchain.ai.receipt import ENGINE_ID, Receipt, request_digest
from offchain.ai.sampler import SamplingParams
from offchain.ai.scheduler import DoneEvent, FailedEvent, Job, Scheduler
from offchain.chain.agent import Sender
from offchain.chain.inference_disputes import options_binding, receipt_args

__all__ = [
    "SCHEMES",
    "InferenceBuyer",
    "InferenceRequest",
    "InferenceSaleError",
    "InferenceSeller",
    "grammar_request",
    "query_request",
    "receipt_text",
    "run_inference",
]

SCHEMES = ("verified", "exact", "upto")


class InferenceSaleError(AgentError):
    """An inference sale cannot go on: the seller's terms are unusable (an unknown scheme, a price
    that is no positive integer), the request is malformed (no prompt, a seed or max_tokens that is
    no integer), the inference failed, or the answer bought is not the request's (another request
    digest, another client, no receipt)."""


@dataclass(frozen=True)
class InferenceRequest:
    """What determines an inference's output: the prompt's tokens, the sampling parameters, the
    request options (None: a version 2 receipt) and the request digest a verified payment is
    conditioned on (offchain.ai.receipt.request_digest; options are bound by the receipt)."""

    prompt_tokens: tuple[int, ...]
    params: SamplingParams
    options: Any
    digest: bytes

    @classmethod
    def of(cls, svc: Any, prompt_tokens: tuple[int, ...], params: SamplingParams, options: Any = None) -> Any:
        d = request_digest(svc.model.sha256, svc.tokenizer.hash, ENGINE_ID, params, prompt_tokens)
        return cls(tuple(prompt_tokens), params, options, d)


def _prompt(q: Mapping[str, Any]) -> str:
    prompt = q.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InferenceSaleError("an inference request names a prompt (a non-empty string)")
    return prompt


def query_request(svc: Any, q: Mapping[str, Any], temperature: float = 0.7) -> InferenceRequest:
    """The request of a query {prompt, seed? (1), max_tokens? (8)} at `temperature` (no options)."""
    prompt = _prompt(q)
    try:
        seed, most = int(q.get("seed", "1")), int(q.get("max_tokens", "8"))
    except (TypeError, ValueError):
        raise InferenceSaleError("an inference request's seed and max_tokens are integers") from None
    params = SamplingParams.from_user(seed=seed, temperature=temperature, max_tokens=most)
    return InferenceRequest.of(svc, svc.prompt_tokens(None, prompt), params)


def grammar_request(svc: Any, bound: Any) -> Callable[[Mapping[str, Any]], InferenceRequest]:
    """The requests of queries {prompt} under `bound`'s sampling parameters and request options
    (``bound.params()``, ``bound.options()``: a trading strategy's decision grammar)."""

    def request(q: Mapping[str, Any]) -> InferenceRequest:
        return InferenceRequest.of(svc, svc.prompt_tokens(None, _prompt(q)), bound.params(), bound.options())

    return request


def run_inference(svc: Any, operator_key: bytes, req: InferenceRequest, client: str) -> Receipt:
    """The service's answer to `req`: a receipt bound to `client`, signed by `operator_key` (a
    version 3 receipt when the request has options)."""
    if req.options is None:
        return svc.complete(req.prompt_tokens, req.params, client=client).receipt.signed(operator_key)
    done: queue.Queue[Any] = queue.Queue()

    def sink(ev: Any) -> None:
        if isinstance(ev, DoneEvent | FailedEvent):
            done.put(ev)

    sched = Scheduler(svc, max_batch=1, max_queue=1)
    try:
        sched.submit(Job(req.prompt_tokens, req.params, sink, client=client, options=req.options))
        ev = done.get(timeout=600)
    finally:
        sched.close()
    if isinstance(ev, FailedEvent):
        raise InferenceSaleError(f"inference failed: {ev.reason}: {ev.message}")
    return ev.completion.receipt.signed(operator_key)


def receipt_text(svc: Any, receipt: Receipt) -> str:
    """The text a receipt returns (the decoded output tokens; a version 3 receipt's cut before its
    first stop string)."""
    text = svc.text_of(receipt.output_tokens)
    if receipt.options is not None:
        at = stop_position(text, receipt.options.stop)
        text = text if at is None else text[:at]
    return text


@dataclass
class InferenceSeller:
    """Sells `svc`'s deterministic inference under `scheme` for `price` (``upto``: `per_token`
    a generated token, max_tokens of them at most), paid to `pay_to` in `token`; offers come from
    `requirements` (an EvmFacilitator's ``requirements``: a verified one needs its escrow). A
    verified offer's refund deadline is `window_s` after the first offer for that request (on
    `clock`, the chain's). `answer` signs the receipt with `operator_key` for the payer and
    registers it on `disputes` (an InferenceDisputes web3 contract) from `sender`; `tamper`
    (receipt -> receipt) makes it a cheating operator (the demo's and the tests' misbehaviour)."""

    svc: Any
    operator_key: bytes
    requirements: Callable[..., PaymentRequirements]
    token: str
    pay_to: str
    disputes: Any
    sender: Sender
    clock: Callable[[], float]
    scheme: str = "verified"
    price: int = 0
    per_token: int = 0
    window_s: int = 3600
    request: Callable[[Mapping[str, Any]], InferenceRequest] | None = None
    tamper: Callable[[Receipt], Receipt] | None = None
    deadlines: dict[bytes, int] = field(default_factory=dict)  # request digest -> refund deadline offered

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise InferenceSaleError(
                f"an inference seller sells under {', '.join(SCHEMES)}, not {self.scheme!r}"
            )
        amount = self.per_token if self.scheme == "upto" else self.price
        if type(amount) is not int or amount <= 0:
            what = "per_token" if self.scheme == "upto" else "price"
            raise InferenceSaleError(f"an inference seller's {what} is a positive integer, got {amount!r}")
        if self.request is None:
            self.request = lambda q: query_request(self.svc, q)

    def request_of(self, q: Mapping[str, Any]) -> InferenceRequest:
        assert self.request is not None
        return self.request(q)

    def offers(self, q: Mapping[str, Any]) -> tuple[PaymentRequirements, ...]:
        """The offers for the query `q` (verified: conditioned on its request digest)."""
        req = self.request_of(q)
        if self.scheme == "exact":
            return (self.requirements("exact", self.token, self.pay_to, self.price),)
        if self.scheme == "upto":
            most = req.params.max_tokens * self.per_token
            return (self.requirements("upto", self.token, self.pay_to, most),)
        deadline = self.deadlines.setdefault(req.digest, int(self.clock()) + self.window_s)
        offer = self.requirements(
            "verified", self.token, self.pay_to, self.price, request=req.digest, deadline=deadline
        )
        return (offer,)

    def answer(self, q: Mapping[str, Any], pay: Payment) -> dict[str, Any]:
        """Run the inference for the payer, register its receipt; the text, the receipt, its
        digest and (verified) the escrow id."""
        req = self.request_of(q)
        verified = self.scheme == "verified"
        if verified and EscrowTerms.of(pay.requirements).ref != req.digest:
            raise InferenceSaleError("the payment is conditioned on another inference request")
        receipt = run_inference(self.svc, self.operator_key, req, pay.payer)
        if self.tamper is not None:
            receipt = self.tamper(receipt)
        binding = options_binding(receipt)
        f = self.disputes.functions
        if binding is not None:
            self.sender.send(f.bindReceiptOptions(*binding), gas=200_000)
        self.sender.send(f.registerReceipt(*receipt_args(receipt)), gas=3_000_000)
        if self.scheme == "upto":
            pay.charge = len(receipt.output_tokens) * self.per_token
        return {
            "text": receipt_text(self.svc, receipt),
            "receipt": receipt.to_dict(),
            "receiptDigest": "0x" + receipt.digest().hex(),
            "escrow": "0x" + escrow_of(pay.payload).hex() if verified else None,
        }

    def http_app(self, facilitator: Any, path: str = "/inference") -> ASGIApp:
        """GET `path`?prompt=..(&seed=..&max_tokens=..) behind the x402 middleware over
        `facilitator`: offered for that very request, answered as :meth:`answer` does."""

        def query(scope: Any) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}

        async def offers(scope: Any) -> tuple[Any, ...]:
            q = query(scope)
            return self.offers(q) if "prompt" in q else ()

        async def infer(request: Request) -> JSONResponse:
            return JSONResponse(self.answer(query(request.scope), PaymentMiddleware.payment(request)))

        app = Starlette(routes=[Route(path, infer)])
        what = f"deterministic inference, paid {self.scheme}"
        return PaymentMiddleware(app, [PricedRoute(path, (), "GET", what, offers=offers)], facilitator)

    def skill(self, name: str = "inference") -> Skill:
        """The A2A skill `name`: a message's data part {prompt, seed?, max_tokens?} is the query."""

        async def offers(msg: Message) -> tuple[PaymentRequirements, ...]:
            return self.offers(_a2a_query(msg))

        async def run(msg: Message, pay: Payment | None) -> Any:
            if pay is None:
                raise InferenceSaleError("inference is sold, not given")
            return self.answer(_a2a_query(msg), pay)

        card = AgentSkill(
            name,
            "deterministic inference",
            f"the model's answer and its InferenceDisputes receipt, paid {self.scheme}",
            ("inference", "receipt"),
        )
        return Skill(card, run, offers)


def _a2a_query(msg: Message) -> dict[str, str]:
    data = msg.data()
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        raise A2AInvalidParamsError("an inference request is a data part {prompt, seed?, max_tokens?}")
    return {k: str(v) for k, v in data.items() if k in ("prompt", "seed", "max_tokens")}


@dataclass
class InferenceBuyer:
    """Buys inference from the seller at `url` (its HTTP route) with `payer` (a PayingClient; its
    wallet may be a vault), paying only a ``verified`` offer conditioned on the request digest it
    computes with `request`; calling it with a prompt returns the receipt, checked to answer that
    request for the payer. `bought` keeps each purchase: {receipt, escrow, settlement}."""

    payer: Any
    url: str
    request: Callable[[Mapping[str, Any]], InferenceRequest]
    bought: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, prompt: str) -> Receipt:
        req = self.request({"prompt": prompt})
        r = self.payer.get(self.url, params={"prompt": prompt}, expect_ref=req.digest)
        if r.status_code != 200:
            raise InferenceSaleError(f"the inference seller answered {r.status_code}: {r.text[:200]}")
        body = r.json()
        try:
            receipt = Receipt.from_dict(body["receipt"])
            escrow = bytes.fromhex(str(body["escrow"]).removeprefix("0x"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InferenceSaleError(
                f"the inference seller's answer has no receipt or escrow: {exc}"
            ) from None
        if receipt.request_digest != req.digest:
            raise InferenceSaleError("the receipt answers another request than the one paid for")
        if to_checksum_address(receipt.client) != to_checksum_address(self.payer.address):
            raise InferenceSaleError(f"the receipt answers to {receipt.client}, not the payer")
        self.bought.append({"receipt": receipt, "escrow": escrow, "settlement": self.payer.receipts[-1]})
        return receipt
