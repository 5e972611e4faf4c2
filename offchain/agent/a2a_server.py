"""An A2A agent over HTTP (Starlette, served with httpservice.ServiceServer) whose skills are paid
through x402 (the a2a-x402 extension's standalone flow) and settled by a facilitator, with AP2
v0.2 checkout and payment mandates checked before any settlement when the agent asks for them, and
AP2 receipts answering them.

Routes: ``GET /.well-known/agent-card.json`` (the card), ``POST /a2a`` (JSON-RPC 2.0:
``SendMessage``, ``SendStreamingMessage``, ``GetTask``, ``SubscribeToTask``, ``CancelTask``) and
the HTTP+JSON binding of the same operations (``POST /message:send``, ``POST /message:stream``,
``GET /tasks/{id}``, ``POST /tasks/{id}:subscribe``, ``POST /tasks/{id}:cancel``; errors as AIP-193
bodies with their HTTP status). The streaming operations answer server-sent events: the task first, then each status
update and artifact, until the task ends or waits for the client (a payment asked for, or
refused, ends the stream with its x402 metadata).

A request (a message without ``taskId``) to a priced skill creates a task in
``TASK_STATE_INPUT_REQUIRED`` with ``payment-required`` and the offers; each offer's
``extra.a2aTaskId`` names the task, so a payment made for one task is refused on another. The
client's ``payment-submitted`` message (with ``taskId``) is matched against the task's offers,
the mandates are checked (when required), the facilitator verifies, the skill runs, the payment
settles, and the task completes with ``payment-completed``, the receipts and the skill's result as
an artifact. A refused payment leaves the task waiting (``payment-failed``, ``x402.payment.error``,
a failed receipt, the offers again); a skill that fails ends the task ``TASK_STATE_FAILED``
unsettled. ``configuration.returnImmediately`` answers the payment at ``TASK_STATE_WORKING`` and
works in the background (the client polls ``GetTask``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from offchain.agent import ap2, sdjwt
from offchain.agent.a2a import (
    A2A_VERSION,
    AGENT,
    AP2_CHECKOUT_JWT,
    AP2_CHECKOUT_MANDATE,
    AP2_CHECKOUT_RECEIPT,
    AP2_PAYMENT_MANDATE,
    AP2_PAYMENT_RECEIPT,
    CANCELED,
    COMPLETED,
    ERROR_CODES,
    EXTENSIONS_HEADERS,
    FAILED,
    INPUT_REQUIRED,
    INTERRUPTED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REJECTED,
    PAYMENT_REQUIRED,
    PAYMENT_SUBMITTED,
    PAYMENT_VERIFIED,
    TERMINAL,
    USER,
    VERSION_HEADER,
    WORKING,
    X402_ERROR,
    X402_EXTENSION,
    X402_RECEIPTS,
    X402_REQUIRED,
    X402_STATUS,
    AgentSkill,
    Artifact,
    Message,
    Part,
    StreamEvent,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatus,
    TaskStatusUpdateEvent,
    agent_card,
    ends_stream,
    new_id,
    payload_of,
    rest_error,
    rpc_error,
    rpc_result,
    sse,
    stream_response,
)
from offchain.agent.errors import (
    A2AError,
    A2AExtensionRequiredError,
    A2AInvalidParamsError,
    A2AInvalidRequestError,
    A2AMethodNotFoundError,
    A2AParseError,
    A2ATaskNotCancelableError,
    A2ATaskNotFoundError,
    A2AUnsupportedOperationError,
    A2AVersionError,
    MandateAmountError,
    MandateBudgetError,
    MandateConstraintError,
    MandateError,
    MandateExpiredError,
    MandateHashError,
    MandateLimitError,
    MandateMismatchError,
    MandateNotYetValidError,
    MandatePayeeError,
    MandateReplayError,
    MandateSignatureError,
    MandateTypeError,
    MandateWidenedError,
    PaymentRequirementsError,
    SdJwtBindingError,
    SdJwtChainError,
    SdJwtDisclosureError,
    SdJwtIssuerError,
    X402Error,
)
from offchain.agent.server import Facilitator, Payment, settle_payment, verify_payment
from offchain.agent.x402 import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo
from offchain.httpservice import HTTPError, logger, read_json

LOG = logger("agent.a2a")
MAX_BODY = 256 * 1024
TASK_KEY = "a2aTaskId"  # the offer's extra naming the task it is for
CHECKOUT_TTL_S = 600
# a mandate refusal -> the x402 receipt's errorReason (the most specific class first)
MANDATE_REASONS: tuple[tuple[type[MandateError], str], ...] = (
    (SdJwtDisclosureError, "mandate_disclosure"),
    (SdJwtIssuerError, "mandate_issuer"),
    (SdJwtChainError, "mandate_chain"),
    (SdJwtBindingError, "mandate_binding"),
    (MandateReplayError, "mandate_replay"),
    (MandateWidenedError, "mandate_widened"),
    (MandateHashError, "mandate_hash"),
    (MandateTypeError, "mandate_type"),
    (MandateNotYetValidError, "mandate_not_yet_valid"),
    (MandateExpiredError, "mandate_expired"),
    (MandateSignatureError, "mandate_signature"),
    (MandateAmountError, "mandate_amount"),
    (MandatePayeeError, "mandate_payee"),
    (MandateBudgetError, "mandate_budget"),
    (MandateConstraintError, "mandate_constraint"),
    (MandateMismatchError, "mandate_mismatch"),
    (MandateLimitError, "mandate_limit"),
    (MandateError, "mandate_invalid"),
)


@dataclass(frozen=True)
class Skill:
    """A skill: its card entry, what it costs for a request (`offers`, awaited with the request
    message; None or no offers: free) and the work (`run`, awaited with the request and the
    verified payment, returns the JSON result; an upto skill sets ``payment.charge``)."""

    card: AgentSkill
    run: Callable[[Message, Payment | None], Awaitable[Any]]
    offers: Callable[[Message], Awaitable[tuple[PaymentRequirements, ...]]] | None = None


@dataclass
class _Record:
    task: Task
    skill: Skill
    request: Message
    offers: tuple[PaymentRequirements, ...] = ()
    checkout: str | None = None  # the merchant-signed checkout JWT (AP2) of the first offer
    history: list[Message] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    streams: list[_Stream] = field(default_factory=list)


class _Stream:
    """One open stream: the events of the tasks it follows, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.records: list[_Record] = []

    def attach(self, rec: _Record) -> None:
        """Follow `rec` from now: its task as it is first, then its updates."""
        rec.streams.append(self)
        self.records.append(rec)
        self.queue.put_nowait(rec.task)

    def close(self) -> None:
        for rec in self.records:
            rec.streams.remove(self)
        self.records.clear()


@dataclass(frozen=True)
class _Refused:
    """A payment's AP2 mandates refused: why, and the receipts (metadata key -> JWT) to send."""

    error: MandateError
    receipts: dict[str, str]


@dataclass(frozen=True)
class _Mandated:
    """A payment's verified AP2 mandates and the ledger's reservation of it."""

    checkout: ap2.Verified
    payment: ap2.Verified
    reservation: ap2.Reservation


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _mandate_reason(exc: MandateError) -> str:
    return next(code for cls, code in MANDATE_REASONS if isinstance(exc, cls))


class A2AServer:
    """An agent named `name` selling `skills`, settling through `facilitator`. With
    `merchant_key` (an ES256 key, sdjwt.new_key) it signs an AP2 checkout JWT for each priced task
    (its first offer: the payee, the skill as the line item, the amount in the token's CAIP-19
    currency); with `require_mandates` it settles only payments carrying a Checkout Mandate and a
    Payment Mandate (AP2 v0.2, Delegate SD-JWT chains rooted in one of `mandate_issuers`: ``iss``
    or ``kid`` -> an ES256 public key) that close over this checkout for this merchant (``aud``,
    the payee address) and this task (``nonce``), pay the offer's amount to the payee from the
    x402 payer, and meet every constraint (budget and recurrence counted over the payments this
    agent has taken, in its Ledger; `digits` names the minor digits of token currencies); each
    answered with AP2 checkout and payment receipts it signs."""

    def __init__(
        self,
        name: str,
        description: str,
        skills: list[Skill],
        facilitator: Facilitator,
        *,
        version: str = "1.0.0",
        public_url: str | None = None,
        merchant_key: Any = None,
        require_mandates: bool = False,
        max_tasks: int = 10_000,
        clock: Callable[[], float] = time.time,
        registrations: list[dict[str, Any]] | None = None,
        mandate_issuers: dict[str, Any] | None = None,
        digits: dict[str, int] | None = None,
    ) -> None:
        if not skills:
            raise ValueError("an agent has at least one skill")
        if require_mandates and (merchant_key is None or not mandate_issuers):
            raise ValueError(
                "checking mandates needs the merchant's key (checkouts, receipts) and the issuers trusted"
            )
        self.mandate_issuers = mandate_issuers or {}
        self.digits = ap2.MINOR_DIGITS | (digits or {})
        self.name = name
        self.description = description
        self.skills = {s.card.id: s for s in skills}
        self.facilitator = facilitator
        self.version = version
        self.public_url = public_url
        self.merchant_key = merchant_key
        self.require_mandates = require_mandates
        self.max_tasks = max_tasks
        self.clock = clock
        self.registrations = registrations
        self.tasks: OrderedDict[str, _Record] = OrderedDict()
        self.ledger = ap2.Ledger()
        self._background: set[asyncio.Task[None]] = set()

    # ---- the card

    def card(self, base_url: str) -> dict[str, Any]:
        return agent_card(
            self.name,
            self.description,
            (self.public_url or base_url.rstrip("/")) + "/a2a",
            [s.card for s in self.skills.values()],
            version=self.version,
            merchant_jwk=None if self.merchant_key is None else sdjwt.jwk(self.merchant_key),
            registrations=self.registrations,
            rest_url=self.public_url or base_url.rstrip("/"),
            streaming=True,
        )

    # ---- tasks

    def _status(self, rec: _Record, state: str, text: str, meta: dict[str, Any]) -> Task:
        msg = Message(new_id(), AGENT, (Part(text=text),), rec.task.context_id, rec.task.id, meta)
        rec.history.append(msg)
        rec.task = replace(rec.task, status=TaskStatus(state, msg, _now_iso()), history=tuple(rec.history))
        self._emit(rec, TaskStatusUpdateEvent(rec.task.id, rec.task.context_id, rec.task.status))
        return rec.task

    def _emit(self, rec: _Record, event: StreamEvent) -> None:
        for st in rec.streams:
            st.queue.put_nowait(event)

    def _store(self, rec: _Record) -> None:
        while len(self.tasks) >= self.max_tasks:
            old = next((k for k, r in self.tasks.items() if r.task.status.state != WORKING), None)
            if old is None:
                raise A2AError(f"{self.max_tasks} tasks are being worked on: try again later")
            del self.tasks[old]
        self.tasks[rec.task.id] = rec

    def _required(self, rec: _Record) -> dict[str, Any]:
        pr = PaymentRequired(ResourceInfo(f"a2a:{rec.task.id}", rec.skill.card.description), rec.offers)
        meta: dict[str, Any] = {X402_STATUS: PAYMENT_REQUIRED, X402_REQUIRED: pr.to_json()}
        if rec.checkout is not None:
            meta[AP2_CHECKOUT_JWT] = rec.checkout
        return meta

    def _checkout(self, task_id: str, skill: Skill, offer: PaymentRequirements) -> str:
        now = int(self.clock())
        body = {
            "id": task_id,
            "merchant": ap2.payee(offer.pay_to, self.name),
            "line_items": [
                {"id": "line_1", "item": {"id": skill.card.id, "title": skill.card.name}, "quantity": 1}
            ],
            "currency": ap2.x402_currency(offer),
            "total": offer.amount,
            "iat": now,
            "exp": now + CHECKOUT_TTL_S,
        }
        return ap2.sign_checkout(self.merchant_key, body)

    async def _new_task(self, msg: Message, stream: _Stream | None) -> Task:
        name = msg.metadata.get("skill", next(iter(self.skills)))
        skill = self.skills.get(name) if isinstance(name, str) else None
        if skill is None:
            raise A2AInvalidParamsError(f"this agent has no skill {name!r} (it has {', '.join(self.skills)})")
        task_id, context = new_id(), msg.context_id or new_id()
        msg = replace(msg, task_id=task_id, context_id=context)
        rec = _Record(Task(task_id, context, TaskStatus(WORKING)), skill, msg, history=[msg])
        offers = () if skill.offers is None else await skill.offers(msg)
        if not offers:
            self._store(rec)
            if stream is not None:
                stream.attach(rec)
            await self._work(rec, None)
            return rec.task
        rec.offers = tuple(replace(o, extra={**o.extra, TASK_KEY: task_id}) for o in offers)
        if self.merchant_key is not None:
            rec.checkout = self._checkout(task_id, skill, rec.offers[0])
        self._store(rec)
        if stream is not None:
            stream.attach(rec)
        return self._status(rec, INPUT_REQUIRED, "Payment is required.", self._required(rec))

    def _fail(
        self, rec: _Record, reason: str, message: str, network: str, extra: dict[str, Any] | None = None
    ) -> Task:
        """A refused payment: the task waits again, with the reason and the offers (and `extra`
        metadata: AP2's error receipts)."""
        LOG.info("a2a_payment_refused", extra={"task": rec.task.id, "reason": reason, "detail": message})
        rec.receipts.append({"success": False, "errorReason": reason, "transaction": "", "network": network})
        meta = (
            self._required(rec)
            | {
                X402_STATUS: PAYMENT_FAILED,
                X402_ERROR: ERROR_CODES.get(reason, reason.upper()),
                X402_RECEIPTS: list(rec.receipts),
            }
            | (extra or {})
        )
        return self._status(rec, INPUT_REQUIRED, f"Payment failed: {message}", meta)

    def _check_mandates(
        self, rec: _Record, msg: Message, payload: PaymentPayload, offer: PaymentRequirements
    ) -> _Mandated | _Refused:
        """The verified mandates and the ledger's reservation, or the refusal with AP2's receipts
        of the mandates it judged."""
        assert rec.checkout is not None
        meta, now = msg.metadata, self.clock()
        merchant = ap2.payee(offer.pay_to)["id"]
        co_text, pay_text = meta.get(AP2_CHECKOUT_MANDATE), meta.get(AP2_PAYMENT_MANDATE)
        if not isinstance(co_text, str) or not isinstance(pay_text, str):
            keys = f"{AP2_CHECKOUT_MANDATE} and {AP2_PAYMENT_MANDATE}"
            return _Refused(MandateError(f"this agent settles only payments carrying {keys}"), {})
        try:
            co = ap2.check_checkout(
                co_text,
                self.mandate_issuers,
                merchant=merchant,
                nonce=rec.task.id,
                checkout_jwt=rec.checkout,
                now=now,
            )
        except MandateError as exc:
            return _Refused(
                exc, self._receipts(offer, {AP2_CHECKOUT_RECEIPT: (co_text, exc, {"order_id": rec.task.id})})
            )
        payer = payload.payload.authorization.from_
        expected = ap2.Expected(
            ap2.checkout_hash(rec.checkout),
            merchant,
            offer.amount,
            ap2.x402_currency(offer),
            ap2.x402_instrument(offer.network, payer)["id"],
        )
        try:
            pay, reservation = ap2.check_payment(
                pay_text,
                self.mandate_issuers,
                aud=merchant,
                nonce=rec.task.id,
                expected=expected,
                now=now,
                ledger=self.ledger,
                checkout=co,
                digits=self.digits,
            )
        except MandateError as exc:
            judged = {
                AP2_CHECKOUT_RECEIPT: (co_text, None, {"order_id": rec.task.id}),
                AP2_PAYMENT_RECEIPT: (pay_text, exc, {"payment_id": expected.transaction_id}),
            }
            return _Refused(exc, self._receipts(offer, judged))
        return _Mandated(co, pay, reservation)

    def _receipts(
        self, offer: PaymentRequirements, judged: dict[str, tuple[str, MandateError | None, dict[str, Any]]]
    ) -> dict[str, str]:
        """AP2's receipts (metadata key -> JWT) of closed mandates judged: each its verdict (None:
        accepted) and its own claims; a mandate with no link to refer to gets none."""
        out: dict[str, str] = {}
        iss = ap2.payee(offer.pay_to)["id"]
        for key, (text, exc, claims) in judged.items():
            try:
                ref = sdjwt.digest(sdjwt.last_link(text))
            except MandateError:
                continue
            out[key] = ap2.sign_receipt(
                self.merchant_key, iss=iss, reference=ref, iat=int(self.clock()), error=exc, **claims
            )
        return out

    def _success_receipts(
        self, rec: _Record, offer: PaymentRequirements, m: _Mandated, tx: str
    ) -> dict[str, Any]:
        """AP2's receipts of a settled payment: the checkout's (its ``order_id`` the task) and the
        payment's (``payment_id`` the transaction id; the settlement transaction as the PSP's and
        the network's confirmation, self-declared: ``rail_confirmation_verified`` false)."""
        now, iss = int(self.clock()), ap2.payee(offer.pay_to)["id"]
        return {
            AP2_CHECKOUT_RECEIPT: ap2.sign_receipt(
                self.merchant_key, iss=iss, reference=m.checkout.reference, iat=now, order_id=rec.task.id
            ),
            AP2_PAYMENT_RECEIPT: ap2.sign_receipt(
                self.merchant_key,
                iss=iss,
                reference=m.payment.reference,
                iat=now,
                payment_id=m.payment.closed["transaction_id"],
                psp_confirmation_id=tx,
                network_confirmation_id=f"{offer.network}:{tx}",
                rail_confirmation_verified=False,
            ),
        }

    async def _pay(self, rec: _Record, msg: Message, return_immediately: bool) -> Task:
        network = rec.offers[0].network
        try:
            payload = payload_of(msg)
        except X402Error as exc:
            return self._fail(rec, exc.code, str(exc), network)
        offer = next((o for o in rec.offers if o.to_json() == payload.accepted.to_json()), None)
        if offer is None:
            other = payload.accepted.extra.get(TASK_KEY)
            what = (
                f"the payment is for task {other}" if other != rec.task.id else "the payment accepts no offer"
            )
            return self._fail(rec, PaymentRequirementsError.code, f"{what} of task {rec.task.id}", network)
        reserved: _Mandated | None = None
        if self.require_mandates:
            checked = self._check_mandates(rec, msg, payload, offer)
            if isinstance(checked, _Refused):
                exc = checked.error
                return self._fail(rec, _mandate_reason(exc), str(exc), network, checked.receipts)
            reserved = checked
        meta = {X402_STATUS: PAYMENT_SUBMITTED, X402_RECEIPTS: list(rec.receipts)}
        self._status(rec, WORKING, "Payment received.", meta)
        job = self._settle(rec, payload, offer, reserved)
        if not return_immediately:
            await job
            return rec.task
        bg = asyncio.ensure_future(job)
        self._background.add(bg)
        bg.add_done_callback(self._background.discard)
        return rec.task

    async def _settle(
        self,
        rec: _Record,
        payload: PaymentPayload,
        offer: PaymentRequirements,
        reserved: _Mandated | None,
    ) -> None:
        settled = False
        try:
            try:
                payment = await verify_payment(self.facilitator, payload, offer)
            except X402Error as exc:
                self._fail(rec, exc.code, str(exc), offer.network)
                return
            meta = {X402_STATUS: PAYMENT_VERIFIED, X402_RECEIPTS: list(rec.receipts)}
            self._status(rec, WORKING, "Payment verified; working.", meta)
            if not await self._work(rec, payment):
                return
            try:
                receipt = await settle_payment(self.facilitator, payment)
            except X402Error as exc:
                self._fail(rec, exc.code, str(exc), offer.network)
                rec.task = replace(rec.task, artifacts=())
                return
            settled = True
            rec.receipts.append(receipt.to_json())
            meta = {X402_STATUS: PAYMENT_COMPLETED, X402_RECEIPTS: list(rec.receipts)}
            if reserved is not None:
                meta |= self._success_receipts(rec, offer, reserved, receipt.transaction)
            self._status(rec, COMPLETED, "Payment successful.", meta)
        except Exception as exc:  # the facilitator unreachable, a bug: the task fails, unsettled
            LOG.exception("a2a_task_error", extra={"task": rec.task.id})
            self._status(
                rec, FAILED, f"internal error: {type(exc).__name__}", {X402_RECEIPTS: list(rec.receipts)}
            )
        finally:
            if reserved is not None and not settled:
                self.ledger.release(reserved.reservation)

    async def _work(self, rec: _Record, payment: Payment | None) -> bool:
        """Run the skill; its result becomes the task's artifact (a failure ends the task)."""
        try:
            result = await rec.skill.run(rec.request, payment)
        except Exception as exc:  # the skill's own failure: reported, nothing settled
            LOG.info("a2a_skill_failed", extra={"task": rec.task.id, "error": repr(exc)})
            meta = (
                {} if payment is None else {X402_STATUS: PAYMENT_VERIFIED, X402_RECEIPTS: list(rec.receipts)}
            )
            self._status(rec, FAILED, f"The skill failed: {exc}", meta)
            return False
        art = Artifact(new_id(), (Part(data=result, media_type="application/json"),), rec.skill.card.id)
        rec.task = replace(rec.task, artifacts=(art,))
        self._emit(rec, TaskArtifactUpdateEvent(rec.task.id, rec.task.context_id, art))
        if payment is None:
            self._status(rec, COMPLETED, "Done.", {})
        return True

    # ---- JSON-RPC methods

    async def send_message(self, params: dict[str, Any], stream: _Stream | None = None) -> dict[str, Any]:
        """SendMessage; with `stream`, the task's events go to it as well (from its first state)."""
        msg = Message.from_json(params.get("message"), A2AInvalidParamsError)
        if msg.role != USER:
            raise A2AInvalidParamsError(f"a client's message has role {USER}")
        config = params.get("configuration", {})
        if not isinstance(config, dict) or not isinstance(config.get("returnImmediately", False), bool):
            raise A2AInvalidParamsError("configuration.returnImmediately must be a boolean")
        if msg.task_id is None:
            return {"task": (await self._new_task(msg, stream)).to_json()}
        rec = self.tasks.get(msg.task_id)
        if rec is None:
            raise A2ATaskNotFoundError(f"no task {msg.task_id}")
        if msg.context_id is not None and msg.context_id != rec.task.context_id:
            raise A2AInvalidParamsError(f"task {msg.task_id} belongs to another context")
        state = rec.task.status.state
        if state in TERMINAL:
            raise A2AUnsupportedOperationError(f"task {msg.task_id} is {state}: it takes no more messages")
        if state != INPUT_REQUIRED:
            raise A2AUnsupportedOperationError(f"task {msg.task_id} is {state}: it awaits no input")
        status = msg.metadata.get(X402_STATUS)
        if status not in (PAYMENT_SUBMITTED, PAYMENT_REJECTED):
            raise A2AInvalidParamsError(
                f"task {msg.task_id} awaits payment: {X402_STATUS} must be {PAYMENT_SUBMITTED} or {PAYMENT_REJECTED}"
            )
        rec.history.append(msg)
        rec.task = replace(rec.task, history=tuple(rec.history))
        if stream is not None:
            stream.attach(rec)
        if status == PAYMENT_REJECTED:
            return {
                "task": self._status(
                    rec, CANCELED, "Payment rejected.", {X402_STATUS: PAYMENT_REJECTED}
                ).to_json()
            }
        task = await self._pay(rec, msg, bool(config.get("returnImmediately", False)))
        return {"task": task.to_json()}

    def _record(self, params: dict[str, Any], method: str) -> _Record:
        """The task `params.id` names (InvalidParams, TaskNotFound otherwise)."""
        task_id = params.get("id")
        if not isinstance(task_id, str):
            raise A2AInvalidParamsError(f"{method} takes params.id, a string")
        rec = self.tasks.get(task_id)
        if rec is None:
            raise A2ATaskNotFoundError(f"no task {task_id}")
        return rec

    async def get_task(self, params: dict[str, Any]) -> dict[str, Any]:
        hist = params.get("historyLength")
        if hist is not None and (not isinstance(hist, int) or isinstance(hist, bool) or hist < 0):
            raise A2AInvalidParamsError("params.historyLength must be a non-negative integer")
        return self._record(params, "GetTask").task.to_json(hist)

    async def cancel_task(self, params: dict[str, Any]) -> dict[str, Any]:
        """CancelTask: a task waiting for the client (its payment) is cancelled; one being worked on
        (a payment being verified or settled) or ended is not."""
        rec = self._record(params, "CancelTask")
        state = rec.task.status.state
        if state not in INTERRUPTED:
            raise A2ATaskNotCancelableError(f"task {rec.task.id} is {state}: it cannot be cancelled")
        return self._status(rec, CANCELED, "Cancelled by the client.", {}).to_json()

    # ---- streams

    async def _events(self, st: _Stream, job: asyncio.Future[Any] | None) -> AsyncIterator[StreamEvent]:
        """The stream's events until one ends it; a job that fails with nothing left to send
        raises its error (before the first event: the refusal of the request)."""
        try:
            while True:
                if job is not None and job.done() and st.queue.empty() and job.exception() is not None:
                    raise job.exception()  # type: ignore[misc]
                getter = asyncio.ensure_future(st.queue.get())
                waits: set[asyncio.Future[Any]] = {getter}
                if job is not None and not job.done():
                    waits.add(job)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                ev = getter.result()
                yield ev
                if ends_stream(ev):
                    return
        finally:
            st.close()

    async def _opened(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        """`events` with its first event awaited now (so that a refusal is answered as one, before
        any event is sent)."""
        first = await events.__anext__()

        async def rest() -> AsyncIterator[StreamEvent]:
            yield first
            async for ev in events:
                yield ev

        return rest()

    async def send_streaming_message(self, params: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        """SendStreamingMessage: SendMessage's work, its events streamed as they happen."""
        st = _Stream()
        job = asyncio.ensure_future(self.send_message(params, st))
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return await self._opened(self._events(st, job))

    async def subscribe(self, params: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        """SubscribeToTask: a task that has not ended, then its updates."""
        rec = self._record(params, "SubscribeToTask")
        if rec.task.status.state in TERMINAL:
            raise A2AUnsupportedOperationError(
                f"task {rec.task.id} is {rec.task.status.state}: it has no updates"
            )
        st = _Stream()
        st.attach(rec)
        return await self._opened(self._events(st, None))

    # ---- the bindings

    def _check_headers(self, request: Request, sends: bool) -> None:
        version = request.headers.get(VERSION_HEADER)
        if version is not None and version.split(".")[0] != A2A_VERSION.split(".")[0]:
            raise A2AVersionError(f"this agent speaks A2A {A2A_VERSION}, not {version}")
        active = {u.strip() for h in EXTENSIONS_HEADERS for u in request.headers.get(h, "").split(",")}
        if sends and X402_EXTENSION not in active:
            raise A2AExtensionRequiredError(
                f"activate the x402 extension: {EXTENSIONS_HEADERS[0]}: {X402_EXTENSION}"
            )

    async def dispatch(self, request: Request, body: Any) -> dict[str, Any] | AsyncIterator[StreamEvent]:
        """A JSON-RPC request's answer (a streaming method: its events)."""
        if not isinstance(body, dict):
            raise A2AInvalidRequestError("a JSON-RPC request is one object (batches are not served)")
        req_id = body.get("id")
        if body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str):
            raise A2AInvalidRequestError('a JSON-RPC 2.0 request has "jsonrpc": "2.0" and a method')
        if "id" not in body or isinstance(req_id, bool) or not isinstance(req_id, str | int):
            raise A2AInvalidRequestError("the request id must be a string or an integer")
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise A2AInvalidParamsError("params must be an object")
        method = body["method"]
        served = ("SendMessage", "SendStreamingMessage", "GetTask", "SubscribeToTask", "CancelTask")
        if method not in served:
            raise A2AMethodNotFoundError(f"method {method[:64]!r} is not served ({', '.join(served)})")
        self._check_headers(request, method.startswith("Send"))
        if method == "GetTask":
            return rpc_result(req_id, await self.get_task(params))
        if method == "CancelTask":
            return rpc_result(req_id, await self.cancel_task(params))
        if method == "SubscribeToTask":
            return await self.subscribe(params)
        if method == "SendStreamingMessage":
            return await self.send_streaming_message(params)
        return rpc_result(req_id, await self.send_message(params))

    def app(self) -> Starlette:
        async def card(request: Request) -> JSONResponse:
            return JSONResponse(self.card(str(request.base_url)))

        def event_stream(
            events: AsyncIterator[StreamEvent],
            wrap: Callable[[Any], dict[str, Any]],
            fail: Callable[[A2AError], dict[str, Any]],
        ) -> StreamingResponse:
            async def body() -> AsyncIterator[bytes]:
                try:
                    async for ev in events:
                        yield sse(wrap(stream_response(ev)))
                except A2AError as exc:  # after the stream opened: its last event
                    yield sse(fail(exc))
                except Exception as exc:
                    LOG.exception("a2a_stream_error")
                    yield sse(fail(A2AError(f"internal error: {type(exc).__name__}")))

            return StreamingResponse(
                body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )

        async def rpc(request: Request) -> Response:
            try:
                body = await read_json(request, MAX_BODY)
            except HTTPError as exc:
                err = A2AInvalidRequestError(exc.message) if exc.status == 413 else A2AParseError(exc.message)
                return JSONResponse(rpc_error(None, err), status_code=413 if exc.status == 413 else 200)
            req_id = body.get("id") if isinstance(body, dict) else None
            req_id = req_id if isinstance(req_id, str | int) and not isinstance(req_id, bool) else None
            try:
                answer = await self.dispatch(request, body)
            except A2AError as exc:
                return JSONResponse(rpc_error(req_id, exc))
            if isinstance(answer, dict):
                return JSONResponse(answer)
            return event_stream(answer, lambda r: rpc_result(req_id, r), lambda e: rpc_error(req_id, e))

        def refusal(exc: A2AError, status: int | None = None) -> JSONResponse:
            return JSONResponse(rest_error(exc, status), status_code=status or exc.http_status)

        async def rest_body(request: Request) -> dict[str, Any]:
            self._check_headers(request, True)
            try:
                body = await read_json(request, MAX_BODY)
            except HTTPError as exc:
                if exc.status == 413:
                    raise _TooLarge(exc.message) from None
                raise A2AParseError(exc.message) from None
            if not isinstance(body, dict):
                raise A2AInvalidParamsError("a SendMessageRequest is a JSON object")
            return body

        async def rest_send(request: Request) -> Response:
            try:
                return JSONResponse(await self.send_message(await rest_body(request)))
            except _TooLarge as exc:
                return refusal(A2AInvalidRequestError(str(exc)), 413)
            except A2AError as exc:
                return refusal(exc)

        async def rest_stream(request: Request) -> Response:
            try:
                events = await self.send_streaming_message(await rest_body(request))
            except _TooLarge as exc:
                return refusal(A2AInvalidRequestError(str(exc)), 413)
            except A2AError as exc:
                return refusal(exc)
            return event_stream(events, lambda r: r, rest_error)

        def history_length(request: Request) -> int | None:
            raw = request.query_params.get("historyLength")
            if raw is None:
                return None
            if not raw.isdigit() or len(raw) > 9:
                raise A2AInvalidParamsError("historyLength must be a non-negative integer")
            return int(raw)

        async def rest_task(request: Request) -> Response:
            try:
                self._check_headers(request, False)
                params = {"id": request.path_params["id"], "historyLength": history_length(request)}
                return JSONResponse(await self.get_task(params))
            except A2AError as exc:
                return refusal(exc)

        async def rest_cancel(request: Request) -> Response:
            try:
                self._check_headers(request, False)
                return JSONResponse(await self.cancel_task({"id": request.path_params["id"]}))
            except A2AError as exc:
                return refusal(exc)

        async def rest_subscribe(request: Request) -> Response:
            try:
                self._check_headers(request, False)
                events = await self.subscribe({"id": request.path_params["id"]})
            except A2AError as exc:
                return refusal(exc)
            return event_stream(events, lambda r: r, rest_error)

        async def not_found(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            what = f"{request.method} {request.url.path[:128]}"
            if exc.status_code == 405:
                return refusal(A2AMethodNotFoundError(f"{what}: method not allowed"), 405)
            return refusal(A2AMethodNotFoundError(f"{what} is no operation of this agent"), exc.status_code)

        return Starlette(
            routes=[
                Route("/.well-known/agent-card.json", card, methods=["GET"]),
                Route("/a2a", rpc, methods=["POST"]),
                Route("/message:send", rest_send, methods=["POST"]),
                Route("/message:stream", rest_stream, methods=["POST"]),
                Route("/tasks/{id}:subscribe", rest_subscribe, methods=["POST"]),
                Route("/tasks/{id}:cancel", rest_cancel, methods=["POST"]),
                Route("/tasks/{id}", rest_task, methods=["GET"]),
            ],
            exception_handlers={404: not_found, 405: not_found},
        )


class _TooLarge(Exception):
    """A request body over MAX_BODY (answered 413)."""
