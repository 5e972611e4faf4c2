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
import base64
import binascii
import contextlib
import hashlib
import json
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from offchain.agent import a2a_card, a2a_pb2, a2a_pb2_grpc, ap2, sdjwt
from offchain.agent.a2a import (
    A2A_VERSION,
    AGENT,
    AP2_CHECKOUT_JWT,
    AP2_CHECKOUT_MANDATE,
    AP2_CHECKOUT_RECEIPT,
    AP2_PAYMENT_MANDATE,
    AP2_PAYMENT_RECEIPT,
    BEARER,
    BINDINGS,
    CANCELED,
    COMPLETED,
    EXTENSIONS_HEADERS,
    FAILED,
    INPUT_REQUIRED,
    INTERRUPTED,
    JSONRPC,
    MAX_ID_CHARS,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REJECTED,
    PAYMENT_REQUIRED,
    PAYMENT_SUBMITTED,
    PAYMENT_VERIFIED,
    STATES,
    TERMINAL,
    USER,
    WORKING,
    X402_ERROR,
    X402_EXTENSION,
    X402_EXTENSION_URIS,
    X402_RECEIPTS,
    X402_REQUIRED,
    X402_STATUS,
    AgentSkill,
    Artifact,
    Message,
    Part,
    PushConfig,
    StreamEvent,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatus,
    TaskStatusUpdateEvent,
    agent_card,
    ends_stream,
    extension_error,
    new_id,
    payload_of,
    rest_error,
    rpc_error,
    rpc_result,
    sse,
    stream_response,
)
from offchain.agent.a2a_auth import Issuer, KeySetFetcher, jwk_of, verify_token
from offchain.agent.a2a_grpc import GRPC, MAX_MESSAGE_BYTES, METHODS, status_of, to_json, to_proto
from offchain.agent.a2a_mtls import MutualTLS, check_binding, grpc_peer_chain
from offchain.agent.a2a_push import PushSender, check_webhook
from offchain.agent.agent_store import AgentStore, TaskRow, default_url
from offchain.agent.errors import (
    A2AClientCertificateMissingError,
    A2AError,
    A2AExtensionRequiredError,
    A2AInvalidParamsError,
    A2AInvalidRequestError,
    A2AMethodNotFoundError,
    A2AParseError,
    A2APushNotificationNotSupportedError,
    A2AResponseError,
    A2ATaskNotCancelableError,
    A2ATaskNotFoundError,
    A2ATenantError,
    A2AUnauthenticatedError,
    A2AUnsupportedOperationError,
    A2AVersionError,
    AgentStoreError,
    CredentialRevokedError,
    CredentialSuspendedError,
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
    StatusListError,
    X402Error,
)
from offchain.agent.issuers import IssuerRegistry
from offchain.agent.oid4vp_http import Verifier
from offchain.agent.server import Facilitator, Payment, settle_payment, verify_payment
from offchain.agent.status_list import StatusLists, prefetch
from offchain.agent.x402 import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo
from offchain.errors import ServiceError
from offchain.httpservice import HTTPError, check_loopback, logger, read_json
from offchain.httptls import client_chain

# first path segments of the A2A routes (an OpenID4VP verifier mounted beside them takes another)
RESERVED_SEGMENTS = frozenset(
    {"", ".well-known", "a2a", "message:send", "message:stream", "tasks", "extendedAgentCard"}
)

LOG = logger("agent.a2a")
MAX_BODY = 256 * 1024
TASK_KEY = "a2aTaskId"  # the offer's extra naming the task it is for
CHECKOUT_TTL_S = 600
DEFAULT_PAGE, MAX_PAGE = 50, 100  # ListTasks page sizes
OPERATIONS = tuple(METHODS)
MAX_PUSH_CONFIGS = 8  # webhooks per task
STALE_WORKING_S = 3600.0  # a task WORKING this long without news: its process stopped (forgettable)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HTTP_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,4096}")
COUNT_FIELDS = ("historyLength", "pageSize")  # HTTP+JSON query parameters that are integers
BOOL_FIELDS = ("includeArtifacts",)

# a mandate refusal -> the x402 receipt's errorReason (the most specific class first)
MANDATE_REASONS: tuple[tuple[type[MandateError], str], ...] = (
    (SdJwtDisclosureError, "mandate_disclosure"),
    (CredentialRevokedError, "mandate_revoked"),
    (CredentialSuspendedError, "mandate_suspended"),
    (StatusListError, "mandate_status"),
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
    """A task as a request handles it (read from the agent's store, written back at each change
    over the `version` it was read at)."""

    task: Task
    skill: Skill | None  # None: a stored task whose skill this agent no longer serves
    request: Message
    offers: tuple[PaymentRequirements, ...] = ()
    checkout: str | None = None  # the merchant-signed checkout JWT (AP2) of the first offer
    owner: str | None = None  # the authenticated caller that created it (None: anyone with its id)
    tenant: str = ""  # the tenant it was created under: it exists for that tenant only
    history: list[Message] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0


class _Stream:
    """One open stream: the events of the tasks it follows, in order (`registry`: the agent's
    task id -> the streams following it, in this process)."""

    def __init__(self, registry: dict[str, list[_Stream]]) -> None:
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.registry = registry
        self.ids: list[str] = []

    def attach(self, rec: _Record) -> None:
        """Follow `rec` from now: its task as it is first, then its updates."""
        self.registry.setdefault(rec.task.id, []).append(self)
        self.ids.append(rec.task.id)
        self.queue.put_nowait(rec.task)

    def close(self) -> None:
        for tid in self.ids:
            followers = self.registry.get(tid, [])
            followers.remove(self)
            if not followers:
                self.registry.pop(tid, None)
        self.ids.clear()


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
    """Now, as ProtoJSON writes a Timestamp (so that a task reads the same over every binding)."""
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return ts.ToJsonString()


def _micros(timestamp: str | None) -> int:
    """A status timestamp as microseconds since the epoch (how the store orders tasks)."""
    return (_instant(timestamp, "a task's status timestamp") - _EPOCH) // timedelta(microseconds=1)


def _mandate_reason(exc: MandateError) -> str:
    return next(code for cls, code in MANDATE_REASONS if isinstance(exc, cls))


class A2AServer:
    """An agent named `name` selling `skills`, settling through `facilitator`. With
    `merchant_key` (an ES256 key, sdjwt.new_key) it signs an AP2 checkout JWT for each priced task
    (its first offer: the payee, the skill as the line item, the amount in the token's CAIP-19
    currency); with `require_mandates` it settles only payments carrying a Checkout Mandate and a
    Payment Mandate (AP2 v0.2, Delegate SD-JWT chains rooted in one of `mandate_issuers`: ``iss``
    or ``kid`` -> an ES256 public key, or an issuers.IssuerRegistry discovering allowed issuers'
    keys; with `mandate_status`, a status_list.StatusLists, a root credential revoked or suspended
    by its issuer is refused) that close over this checkout for this merchant (``aud``,
    the payee address) and this task (``nonce``), pay the offer's amount to the payee from the
    x402 payer, and meet every constraint (budget and recurrence counted over the payments this
    agent has taken, in its Ledger; `digits` names the minor digits of token currencies); each
    answered with AP2 checkout and payment receipts it signs.

    Callers: `bearer_tokens` (token -> caller) and `issuers` (OAuth 2.0 / OpenID Connect issuers
    whose JWT access tokens it takes, their keys fetched by `key_sets`, configured or discovered)
    and `mtls` (an a2a_mtls.MutualTLS: callers by TLS client certificate, and certificate-bound
    tokens; its server_context and grpc_credentials make the bindings' TLS) are the security
    schemes its card declares; with `require_auth` the card requires one of them and every operation
    refuses an anonymous caller. `tenants` (tenant -> its member callers, None: any caller): each
    request names one (``tenant``; HTTP+JSON ``/{tenant}/...``) and sees only its tasks.
    `card_jku`: the key set URL card signatures name (True: the agent's ``/.well-known/jwks.json``,
    which serves the card key).

    Its tasks, their push configs and its AP2 payment memory live in `store` (an AgentStore, or
    its URL: a SQLite path, ``sqlite:///PATH``, ``:memory:`` or a ``postgresql://…`` DSN; default
    ``EIGEN_A2A_STORE``, else ``.cache/agent/<name>.sqlite``), so a restart forgets none of them,
    and processes of one agent sharing a database never take one payment twice or overspend a
    mandate; at most `max_tasks` tasks are kept there (the oldest not being worked on forgotten
    first)."""

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
        mandate_issuers: Mapping[str, Any] | None = None,
        mandate_status: StatusLists | None = None,
        digits: dict[str, int] | None = None,
        bearer_tokens: Mapping[str, str] | None = None,
        extended_skills: list[Skill] | None = None,
        grpc_listen: str | None = None,
        grpc_credentials: grpc.ServerCredentials | None = None,
        grpc_public: str | None = None,
        preferred: str = JSONRPC,
        push_notifications: bool = True,
        push_sent: Callable[[str, dict[str, Any], int | None], None] | None = None,
        push_verify: ssl.SSLContext | None = None,
        card_key: Any = None,
        card_kid: str | None = None,
        card_jku: str | bool = False,
        issuers: list[Issuer] | None = None,
        key_sets: KeySetFetcher | None = None,
        require_auth: bool = False,
        tenants: Mapping[str, Collection[str] | None] | None = None,
        store: str | AgentStore | None = None,
        mtls: MutualTLS | None = None,
        oid4vp: Verifier | None = None,
    ) -> None:
        if not skills:
            raise ValueError("an agent has at least one skill")
        if (extended_skills or require_auth) and not (bearer_tokens or issuers or mtls):
            raise ValueError("authenticated callers need a scheme: give bearer_tokens, issuers or mtls")
        if issuers and any("#" in c for c in (bearer_tokens or {}).values()):
            raise ValueError("a bearer caller's name has no '#' (access token callers are <iss>#<sub>)")
        # OAuth 2.0 / OpenID Connect issuers, by iss; their keys fetched from their key sets
        self.issuers = {i.issuer: i for i in issuers or ()}
        self.mtls = mtls  # callers by TLS client certificate
        # the merchant's OpenID4VP verifier (oid4vp_http.py), served beside the A2A routes
        if oid4vp is not None and oid4vp.path.lstrip("/").split("/")[0] in RESERVED_SEGMENTS:
            raise ValueError(f"the OpenID4VP verifier's path {oid4vp.path} is one of the A2A routes")
        self.oid4vp = oid4vp
        names = [BEARER] * bool(bearer_tokens) + [i.scheme_name for i in self.issuers.values()]
        names += [mtls.name] if mtls is not None else []
        if len(set(names)) != len(names) or len(self.issuers) != len(issuers or ()):
            raise ValueError("each security scheme (and issuer) is declared once: name them apart")
        self.key_sets = key_sets or KeySetFetcher()
        self.require_auth = require_auth
        self.tenants = (
            None if tenants is None else {t: None if c is None else frozenset(c) for t, c in tenants.items()}
        )
        self.card_jku = card_jku
        if preferred not in BINDINGS or (preferred == GRPC and grpc_listen is None):
            raise ValueError(f"the preferred binding {preferred} is not served")
        if grpc_listen is not None and grpc_credentials is None:
            check_loopback(grpc_listen.rsplit(":", 1)[0].strip("[]"))  # plain gRPC only on loopback
        # sha256(token) -> caller: the tokens themselves are not kept
        self._callers = {hashlib.sha256(t.encode()).digest(): c for t, c in (bearer_tokens or {}).items()}
        self.extended_skills = {s.card.id: s for s in extended_skills or ()}
        self.grpc_listen = grpc_listen
        self.grpc_credentials = grpc_credentials
        self.grpc_public = grpc_public
        self.grpc_address: str | None = None  # host:port once the gRPC server listens
        self.preferred = preferred
        self._http_base: str | None = None  # where the HTTP bindings were last reached
        self.push_notifications = push_notifications
        # the card's signer: an Ethereum key (ES256K, kid: its address) or a P-256/secp256k1 key
        self.card_key = None if card_key is None else a2a_card.card_key(card_key)
        if card_key is not None and card_kid is None and isinstance(card_key, ec.EllipticCurvePrivateKey):
            raise ValueError("name the card key's id (card_kid)")
        self.card_kid = card_kid or (None if card_key is None else Account.from_key(card_key).address)
        self._push = PushSender(push_sent, push_verify)
        if require_mandates and (merchant_key is None or not mandate_issuers):
            raise ValueError(
                "checking mandates needs the merchant's key (checkouts, receipts) and the issuers trusted"
            )
        self.mandate_issuers = mandate_issuers or {}
        self.mandate_status = mandate_status
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
        self.store = store if isinstance(store, AgentStore) else AgentStore(store or default_url(name), name)
        self.ledger = self.store.ledger
        self.streams: dict[str, list[_Stream]] = {}  # task id -> the streams following it here
        self._background: set[asyncio.Task[None]] = set()

    # ---- the card

    def card(self, base_url: str | None, extended: bool = False) -> dict[str, Any]:
        """The public card (`extended`: the one authenticated callers get, with the extended
        skills); the HTTP bindings are at `public_url`, else `base_url`, else where they were last
        reached (none yet: the card lists the gRPC interface alone)."""
        if base_url is not None:
            self._http_base = base_url.rstrip("/")
        http = self.public_url or self._http_base
        skills = list(self.skills.values()) + (list(self.extended_skills.values()) if extended else [])
        grpc_url = self.grpc_public or self.grpc_address
        preferred = JSONRPC if self.preferred == GRPC and grpc_url is None else self.preferred
        card = agent_card(
            self.name,
            self.description,
            None if http is None else http + "/a2a",
            [s.card for s in skills],
            version=self.version,
            merchant_jwk=None if self.merchant_key is None else sdjwt.jwk(self.merchant_key),
            registrations=self.registrations,
            rest_url=http,
            streaming=True,
            grpc_url=grpc_url,
            preferred=GRPC if http is None else preferred,  # (no HTTP base known: gRPC alone)
            extended_card=bool(self.extended_skills),
            push_notifications=self.push_notifications,
            bearer_auth=bool(self._callers),
            security_schemes={i.scheme_name: i.scheme() for i in self.issuers.values()}
            | ({} if self.mtls is None else {self.mtls.name: self.mtls.scheme()}),
            security_requirements=self._requirements() if self.require_auth else None,
        )
        if self.card_key is None:
            return card
        assert self.card_kid is not None
        jku = self.card_jku if isinstance(self.card_jku, str) else None
        if self.card_jku is True and http is not None:
            jku = http + "/.well-known/jwks.json"
        return a2a_card.sign_card(card, self.card_key, self.card_kid, jku)

    def _requirements(self) -> list[dict[str, Any]]:
        """The card's securityRequirements: any one of the schemes declared (with its scopes)."""
        reqs = [{"schemes": {BEARER: {"list": []}}}] if self._callers else []
        reqs += [{"schemes": {self.mtls.name: {"list": []}}}] if self.mtls is not None else []
        return reqs + [{"schemes": {i.scheme_name: {"list": list(i.scopes)}}} for i in self.issuers.values()]

    # ---- tasks

    def _status(self, rec: _Record, state: str, text: str, meta: dict[str, Any]) -> Task:
        msg = Message(new_id(), AGENT, (Part(text=text),), rec.task.context_id, rec.task.id, meta)
        rec.history.append(msg)
        rec.task = replace(rec.task, status=TaskStatus(state, msg, _now_iso()), history=tuple(rec.history))
        self._save(rec)
        self._emit(rec, TaskStatusUpdateEvent(rec.task.id, rec.task.context_id, rec.task.status))
        return rec.task

    def _emit(self, rec: _Record, event: StreamEvent) -> None:
        for st in self.streams.get(rec.task.id, ()):
            st.queue.put_nowait(event)
        if not self.push_notifications:
            return
        for config in self.store.push_configs(rec.task.id):  # queued: a webhook never holds up the task
            self._push.post(f"{rec.task.id}/{config['id']}", config, stream_response(event))

    def _row(self, rec: _Record) -> TaskRow:
        body = {
            "task": rec.task.to_json(),
            "skill": None if rec.skill is None else rec.skill.card.id,
            "request": rec.request.to_json(),
            "offers": [o.to_json() for o in rec.offers],
            "checkout": rec.checkout,
            "receipts": rec.receipts,
        }
        t = rec.task
        return TaskRow(
            t.id,
            rec.owner,
            t.context_id,
            t.status.state,
            _micros(t.status.timestamp),
            body,
            rec.version,
            rec.tenant,
        )

    def _from_row(self, row: TaskRow) -> _Record:
        b = row.body
        try:
            task = Task.from_json(b["task"])
            request = Message.from_json(b["request"], A2AResponseError)
            offers = tuple(PaymentRequirements.from_json(o) for o in b["offers"])
        except (KeyError, TypeError, A2AError, X402Error) as exc:
            raise AgentStoreError(f"task {row.id} in the agent store is malformed: {exc}") from exc
        skill = (self.skills | self.extended_skills).get(b.get("skill") or "")
        history = list(task.history) or [request]
        return _Record(
            task,
            skill,
            request,
            offers,
            b.get("checkout"),
            row.owner,
            row.tenant,
            history,
            list(b["receipts"]),
            row.version,
        )

    def _save(self, rec: _Record) -> None:
        row = self._row(rec)
        self.store.save_task(row)
        rec.version = row.version

    def _store(self, rec: _Record) -> None:
        row = self._row(rec)
        self.store.create_task(row, self.max_tasks, STALE_WORKING_S)
        rec.version = row.version

    def _required(self, rec: _Record) -> dict[str, Any]:
        what = "" if rec.skill is None else rec.skill.card.description
        pr = PaymentRequired(ResourceInfo(f"a2a:{rec.task.id}", what), rec.offers)
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

    async def _new_task(
        self,
        msg: Message,
        stream: _Stream | None,
        caller: str | None,
        push: dict[str, Any] | None,
        tenant: str = "",
    ) -> Task:
        skills = self.skills | (self.extended_skills if caller is not None else {})
        name = msg.metadata.get("skill", next(iter(self.skills)))
        skill = skills.get(name) if isinstance(name, str) else None
        if skill is None:
            raise A2AInvalidParamsError(f"this agent has no skill {name!r} (it has {', '.join(skills)})")
        task_id, context = new_id(), msg.context_id or new_id()
        msg = replace(msg, task_id=task_id, context_id=context)
        task = Task(task_id, context, TaskStatus(WORKING, None, _now_iso()))
        rec = _Record(task, skill, msg, owner=caller, history=[msg], tenant=tenant)
        config = None if push is None else self._push_config(push, task_id)
        offers = () if skill.offers is None else await skill.offers(msg)
        if offers:
            rec.offers = tuple(replace(o, extra={**o.extra, TASK_KEY: task_id}) for o in offers)
            if self.merchant_key is not None:
                rec.checkout = self._checkout(task_id, skill, rec.offers[0])
        self._store(rec)
        if config is not None:
            self._add_push(rec, config)
        if stream is not None:
            stream.attach(rec)
        if not offers:
            await self._work(rec, None)
            return rec.task
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
                X402_ERROR: extension_error(reason),
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
                status=None if self.mandate_status is None else self.mandate_status.check,
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
                status=None if self.mandate_status is None else self.mandate_status.check,
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
            if isinstance(self.mandate_issuers, IssuerRegistry) or self.mandate_status is not None:
                texts = [msg.metadata.get(k) for k in (AP2_CHECKOUT_MANDATE, AP2_PAYMENT_MANDATE)]
                await asyncio.to_thread(prefetch, texts, self.mandate_issuers, self.mandate_status)
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
                rec.task = replace(rec.task, artifacts=())
                self._fail(rec, exc.code, str(exc), offer.network)
                return
            settled = True
            rec.receipts.append(receipt.to_json())
            meta = {X402_STATUS: PAYMENT_COMPLETED, X402_RECEIPTS: list(rec.receipts)}
            if reserved is not None:
                ap2_receipts = self._success_receipts(rec, offer, reserved, receipt.transaction)
                self.ledger.settle(reserved.reservation, ap2_receipts | {"settlement": receipt.to_json()})
                meta |= ap2_receipts
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
        assert rec.skill is not None
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
        self._save(rec)
        self._emit(rec, TaskArtifactUpdateEvent(rec.task.id, rec.task.context_id, art))
        if payment is None:
            self._status(rec, COMPLETED, "Done.", {})
        return True

    # ---- JSON-RPC methods

    async def send_message(
        self, params: dict[str, Any], stream: _Stream | None = None, caller: str | None = None
    ) -> dict[str, Any]:
        """SendMessage; with `stream`, the task's events go to it as well (from its first state)."""
        msg = Message.from_json(params.get("message"), A2AInvalidParamsError)
        if msg.role != USER:
            raise A2AInvalidParamsError(f"a client's message has role {USER}")
        config = params.get("configuration", {})
        if not isinstance(config, dict) or not isinstance(config.get("returnImmediately", False), bool):
            raise A2AInvalidParamsError("configuration.returnImmediately must be a boolean")
        push = config.get("taskPushNotificationConfig")
        if push is not None and not self.push_notifications:
            raise A2APushNotificationNotSupportedError("this agent sends no push notifications")
        if msg.task_id is None:
            tenant = params.get("tenant", "")
            return {"task": (await self._new_task(msg, stream, caller, push, tenant)).to_json()}
        rec = self._record({"id": msg.task_id, "tenant": params.get("tenant", "")}, "SendMessage", caller)
        if push is not None:
            self._add_push(rec, self._push_config(push, rec.task.id))
        if msg.context_id is not None and msg.context_id != rec.task.context_id:
            raise A2AInvalidParamsError(f"task {msg.task_id} belongs to another context")
        state = rec.task.status.state
        if state in TERMINAL:
            raise A2AUnsupportedOperationError(f"task {msg.task_id} is {state}: it takes no more messages")
        if state != INPUT_REQUIRED:
            raise A2AUnsupportedOperationError(f"task {msg.task_id} is {state}: it awaits no input")
        if rec.skill is None:
            raise A2AUnsupportedOperationError(
                f"task {msg.task_id}'s skill is no longer served by this agent"
            )
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

    def _record(self, params: dict[str, Any], method: str, caller: str | None, key: str = "id") -> _Record:
        """The task `params[key]` names, if `caller` may see it: a task an authenticated caller
        created is its own, and to anyone else it does not exist, as a task of another tenant
        (`params["tenant"]`) does not (InvalidParams, TaskNotFound)."""
        task_id = params.get(key)
        if not isinstance(task_id, str) or not task_id:
            raise A2AInvalidParamsError(f"{method} takes params.{key}, a task id")
        row = self.store.load_task(task_id)
        if (
            row is None
            or (row.owner is not None and row.owner != caller)
            or row.tenant != params.get("tenant", "")
        ):
            raise A2ATaskNotFoundError(f"no task {task_id[:MAX_ID_CHARS]}")
        return self._from_row(row)

    async def get_task(self, params: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        hist = _count(params, "historyLength")
        return self._record(params, "GetTask", caller).task.to_json(hist)

    async def list_tasks(self, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        """ListTasks: the caller's own tasks (an anonymous caller has none it could be shown: the
        tasks of others are reachable only by their ids), filtered, most recently updated first,
        a page at a time behind an opaque cursor bound to the filters."""
        if caller is None:
            raise A2AUnauthenticatedError("ListTasks lists the caller's own tasks: authenticate (Bearer)")
        tenant = params.get("tenant", "")
        context = params.get("contextId")
        if context is not None and not isinstance(context, str):
            raise A2AInvalidParamsError("params.contextId must be a string")
        state = params.get("status")
        if state == "TASK_STATE_UNSPECIFIED":
            state = None
        if state is not None and state not in STATES:
            raise A2AInvalidParamsError(f"params.status must be one of {', '.join(sorted(STATES))}")
        size = _count(params, "pageSize")
        if size is not None and not 1 <= size <= MAX_PAGE:
            raise A2AInvalidParamsError(f"params.pageSize must be between 1 and {MAX_PAGE}, got {size}")
        size = size or DEFAULT_PAGE
        hist = _count(params, "historyLength")
        after = params.get("statusTimestampAfter")
        since = None if after is None else _instant(after, "params.statusTimestampAfter")
        arts = params.get("includeArtifacts", False)
        if not isinstance(arts, bool):
            raise A2AInvalidParamsError("params.includeArtifacts must be a boolean")
        token = params.get("pageToken", "")
        if not isinstance(token, str):
            raise A2AInvalidParamsError("params.pageToken must be a string")
        scope = hashlib.sha256(
            json.dumps([caller, context, state, since and since.isoformat(), tenant]).encode()
        ).hexdigest()[:16]
        cursor = None if token == "" else _cursor(token, scope)
        rows, total = self.store.list_tasks(
            caller,
            tenant=tenant,
            context_id=context,
            state=state,
            since_us=None if since is None else (since - _EPOCH) // timedelta(microseconds=1),
            before=None if cursor is None else ((cursor[0] - _EPOCH) // timedelta(microseconds=1), cursor[1]),
            limit=size + 1,
        )
        page = [self._from_row(r).task for r in rows[:size]]
        nxt = "" if len(rows) <= size else _token(page[-1].status.timestamp or "", page[-1].id, scope)
        tasks = []
        for task in page:
            t = task.to_json(hist)
            if not arts:
                t.pop("artifacts", None)
            else:
                t["artifacts"] = [a.to_json() for a in task.artifacts]
            tasks.append(t)
        return {"tasks": tasks, "nextPageToken": nxt, "pageSize": size, "totalSize": total}

    async def extended_card(self, caller: str | None, base_url: str | None) -> dict[str, Any]:
        """GetExtendedAgentCard: the card with the extended skills, for an authenticated caller."""
        if not self.extended_skills:
            raise A2AUnsupportedOperationError(
                "this agent has no extended card (capabilities.extendedAgentCard)"
            )
        if caller is None:
            raise A2AUnauthenticatedError("the extended card is for authenticated callers (Bearer)")
        return self.card(base_url, extended=True)

    async def cancel_task(self, params: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        """CancelTask: a task waiting for the client (its payment) is cancelled; one being worked on
        (a payment being verified or settled) or ended is not."""
        rec = self._record(params, "CancelTask", caller)
        state = rec.task.status.state
        if state not in INTERRUPTED:
            raise A2ATaskNotCancelableError(f"task {rec.task.id} is {state}: it cannot be cancelled")
        return self._status(rec, CANCELED, "Cancelled by the client.", {}).to_json()

    # ---- push notifications

    def _push_config(self, v: Any, task_id: str) -> dict[str, Any]:
        """A TaskPushNotificationConfig checked (its webhook against SSRF, its header values
        against injection), with its id (given, or a new one) and task."""
        cfg = PushConfig.from_json(v, A2AInvalidParamsError)
        if cfg.task_id not in (None, "", task_id):
            raise A2AInvalidParamsError(f"the config names task {cfg.task_id[:MAX_ID_CHARS]}, not {task_id}")
        check_webhook(cfg.url)
        if cfg.scheme is not None and not _HTTP_TOKEN.fullmatch(cfg.scheme):
            raise A2AInvalidParamsError("authentication.scheme is an HTTP authentication scheme name")
        for what, value in (("authentication.credentials", cfg.credentials), ("token", cfg.token)):
            if value is not None and not _HEADER_VALUE.fullmatch(value):
                raise A2AInvalidParamsError(f"{what} must be printable ASCII (it is sent in a header)")
        return cfg.to_json() | {"id": cfg.id or new_id(), "taskId": task_id}

    def _add_push(self, rec: _Record, config: dict[str, Any]) -> None:
        if not self.store.put_push(rec.task.id, config["id"], config, MAX_PUSH_CONFIGS):
            raise A2AInvalidParamsError(f"a task has at most {MAX_PUSH_CONFIGS} push notification configs")
        self._push.forget(f"{rec.task.id}/{config['id']}")

    def _push_record(self, params: dict[str, Any], method: str, caller: str | None) -> _Record:
        if not self.push_notifications:
            raise A2APushNotificationNotSupportedError("this agent sends no push notifications")
        return self._record(params, method, caller, key="taskId")

    def _config_id(self, params: dict[str, Any], method: str) -> str:
        cid = params.get("id")
        if not isinstance(cid, str) or not cid:
            raise A2AInvalidParamsError(f"{method} takes params.id, a config id")
        return cid

    async def create_push(self, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        """CreateTaskPushNotificationConfig: post the task's updates to a webhook (a config with
        the id of one the task has replaces it)."""
        rec = self._push_record(params, "CreateTaskPushNotificationConfig", caller)
        config = self._push_config({k: v for k, v in params.items() if k != "tenant"}, rec.task.id)
        self._add_push(rec, config)
        return dict(config)

    async def get_push(self, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        rec = self._push_record(params, "GetTaskPushNotificationConfig", caller)
        cid = self._config_id(params, "GetTaskPushNotificationConfig")
        config = next((c for c in self.store.push_configs(rec.task.id) if c["id"] == cid), None)
        if config is None:
            raise A2ATaskNotFoundError(
                f"task {rec.task.id} has no push notification config {cid[:MAX_ID_CHARS]}"
            )
        return config

    async def list_push(self, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        """ListTaskPushNotificationConfigs: all of them on one page (a task has few)."""
        rec = self._push_record(params, "ListTaskPushNotificationConfigs", caller)
        _count(params, "pageSize")
        if params.get("pageToken") not in (None, ""):
            raise A2AInvalidParamsError("params.pageToken: the configs fit one page, there is no other")
        return {"configs": self.store.push_configs(rec.task.id), "nextPageToken": ""}

    async def delete_push(self, params: dict[str, Any], caller: str | None) -> dict[str, Any]:
        """DeleteTaskPushNotificationConfig: idempotent (deleting a config the task lacks is no
        error); nothing more is posted to it."""
        rec = self._push_record(params, "DeleteTaskPushNotificationConfig", caller)
        cid = self._config_id(params, "DeleteTaskPushNotificationConfig")
        self.store.delete_push(rec.task.id, cid)
        self._push.forget(f"{rec.task.id}/{cid}")
        return {}

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

    async def send_streaming_message(
        self, params: dict[str, Any], caller: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """SendStreamingMessage: SendMessage's work, its events streamed as they happen."""
        st = _Stream(self.streams)
        job = asyncio.ensure_future(self.send_message(params, st, caller))
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return await self._opened(self._events(st, job))

    async def subscribe(
        self, params: dict[str, Any], caller: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """SubscribeToTask: a task that has not ended, then its updates."""
        rec = self._record(params, "SubscribeToTask", caller)
        if rec.task.status.state in TERMINAL:
            raise A2AUnsupportedOperationError(
                f"task {rec.task.id} is {rec.task.status.state}: it has no updates"
            )
        st = _Stream(self.streams)
        st.attach(rec)
        return await self._opened(self._events(st, None))

    # ---- the bindings

    async def service_params(
        self, get: Callable[[str], str | None], method: str, peer: Sequence[x509.Certificate] = ()
    ) -> str | None:
        """Check a request's A2A service parameters (`get` reads a header or gRPC metadata by its
        lowercase name): the version, the x402 extension on a SendMessage, and the credentials
        (``Authorization: Bearer``, a token of this agent's or an access token of one of its
        issuers; with `mtls`, the TLS client certificate `peer` presented, its own first); the
        authenticated caller (None: anonymous, refused when authentication is required). An
        access token's caller is ``<iss>#<sub>``, a certificate's the name `mtls` gives it."""
        version = get("a2a-version")
        if version is not None and version.split(".")[0] != A2A_VERSION.split(".")[0]:
            raise A2AVersionError(f"this agent speaks A2A {A2A_VERSION}, not {version[:32]}")
        active = {u.strip() for h in EXTENSIONS_HEADERS for u in (get(h.lower()) or "").split(",")}
        if method.startswith("Send") and not active & X402_EXTENSION_URIS:
            raise A2AExtensionRequiredError(
                f"activate the x402 extension: {EXTENSIONS_HEADERS[0]}: {X402_EXTENSION}"
            )
        peer = peer if self.mtls is not None else ()  # (an agent without mtls looks at none)
        try:
            return await self._caller(get("authorization"), peer)
        except A2AUnauthenticatedError as exc:
            LOG.info("a2a_caller_refused", extra={"kind": type(exc).__name__, "reason": str(exc)[:200]})
            raise

    async def _caller(self, auth: str | None, peer: Sequence[x509.Certificate]) -> str | None:
        if auth is None:
            if peer and self.mtls is not None:  # (off the loop: a revocation check may fetch)
                return await asyncio.to_thread(self.mtls.identify, peer)
            if self.require_auth and self.mtls is not None:
                raise A2AClientCertificateMissingError(
                    "this agent serves authenticated callers only: present a client certificate"
                    + (" or a bearer token" if self._callers or self.issuers else "")
                )
            if self.require_auth:
                raise A2AUnauthenticatedError(
                    "this agent serves authenticated callers only (securityRequirements)"
                )
            return None
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        caller = self._callers.get(hashlib.sha256(token.encode()).digest())
        if scheme.lower() == "bearer" and caller is not None:
            return caller
        if scheme.lower() == "bearer" and self.issuers and token.count(".") == 2:
            _, claims = await asyncio.to_thread(
                verify_token, token, self.issuers, self.key_sets, time.time()
            )  # (wall time: the issuer's, not the agent's clock)
            if self.mtls is not None:
                await asyncio.to_thread(self.mtls.check_binding, claims, peer)
            else:
                check_binding(claims, (), False)  # a bound token where no certificate is seen: refused
            return f"{claims['iss']}#{claims['sub']}"
        raise A2AUnauthenticatedError("the Authorization presented is no bearer token of this agent")

    async def handle(
        self, method: str, params: dict[str, Any], caller: str | None, base_url: str | None
    ) -> dict[str, Any] | AsyncIterator[StreamEvent]:
        """An operation's answer, the same for every binding (a streaming one: its events)."""
        tenant = params.get("tenant") or ""
        if not isinstance(tenant, str):
            raise A2AInvalidParamsError("params.tenant must be a string")
        if self.tenants is None and tenant:
            raise A2AInvalidParamsError("this agent serves no tenants: leave tenant empty")
        if self.tenants is not None:
            members = self.tenants.get(tenant, frozenset())
            if tenant not in self.tenants or (members is not None and caller not in members):
                raise A2ATenantError(f"tenant {tenant[:64]!r} is not served to this caller")
        params = params | {"tenant": tenant}
        operations: dict[str, Callable[[dict[str, Any], str | None], Awaitable[Any]]] = {
            "SendMessage": lambda p, c: self.send_message(p, None, c),
            "SendStreamingMessage": self.send_streaming_message,
            "GetTask": self.get_task,
            "ListTasks": self.list_tasks,
            "CancelTask": self.cancel_task,
            "SubscribeToTask": self.subscribe,
            "GetExtendedAgentCard": lambda p, c: self.extended_card(c, base_url),
            "CreateTaskPushNotificationConfig": self.create_push,
            "GetTaskPushNotificationConfig": self.get_push,
            "ListTaskPushNotificationConfigs": self.list_push,
            "DeleteTaskPushNotificationConfig": self.delete_push,
        }
        if method in operations:
            answer: dict[str, Any] | AsyncIterator[StreamEvent] = await operations[method](params, caller)
            return answer
        raise A2AMethodNotFoundError(f"method {method[:64]!r} is not served ({', '.join(OPERATIONS)})")

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
        if method not in OPERATIONS:
            raise A2AMethodNotFoundError(f"method {method[:64]!r} is not served ({', '.join(OPERATIONS)})")
        caller = await self.service_params(request.headers.get, method, client_chain(request.scope))
        answer = await self.handle(method, params, caller, str(request.base_url))
        return rpc_result(req_id, answer) if isinstance(answer, dict) else answer

    def app(self) -> Starlette:
        """The HTTP bindings (JSON-RPC, HTTP+JSON) and the card; with `grpc_listen`, the gRPC
        binding is served alongside, on the same event loop (the same tasks)."""

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
            try:
                body = await read_json(request, MAX_BODY)
            except HTTPError as exc:
                if exc.status == 413:
                    raise _TooLarge(exc.message) from None
                raise A2AParseError(exc.message) from None
            if not isinstance(body, dict):
                raise A2AInvalidParamsError("the request body is a JSON object")
            return body

        def query(request: Request) -> dict[str, Any]:
            """Query parameters as request fields (numbers and booleans parsed)."""
            out: dict[str, Any] = {}
            for k, v in request.query_params.items():
                if k in COUNT_FIELDS:
                    if not v.isdigit() or len(v) > 9:
                        raise A2AInvalidParamsError(f"{k} must be a non-negative integer")
                    out[k] = int(v)
                elif k in BOOL_FIELDS:
                    if v not in ("true", "false"):
                        raise A2AInvalidParamsError(f"{k} is true or false")
                    out[k] = v == "true"
                else:
                    out[k] = v
            return out

        def rest(method: str, has_body: bool = False) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    caller = await self.service_params(
                        request.headers.get, method, client_chain(request.scope)
                    )
                    params = query(request) | (await rest_body(request) if has_body else {})
                    if "tenant" in request.path_params:  # /{tenant}/...: the path names it
                        if params.get("tenant") not in (None, "", request.path_params["tenant"]):
                            raise A2AInvalidParamsError("the body names another tenant than the path")
                        params["tenant"] = request.path_params["tenant"]
                    params |= {
                        "taskId" if "PushNotification" in method else "id": v
                        for k, v in request.path_params.items()
                        if k == "id"
                    }
                    if "config" in request.path_params:
                        params["id"] = request.path_params["config"]
                    answer = await self.handle(method, params, caller, str(request.base_url))
                except _TooLarge as exc:
                    return refusal(A2AInvalidRequestError(str(exc)), 413)
                except A2AError as exc:
                    return refusal(exc)
                if isinstance(answer, dict):
                    return JSONResponse(answer)
                return event_stream(answer, lambda r: r, rest_error)

            return endpoint

        async def not_found(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            what = f"{request.method} {request.url.path[:128]}"
            if exc.status_code == 405:
                return refusal(A2AMethodNotFoundError(f"{what}: method not allowed"), 405)
            return refusal(A2AMethodNotFoundError(f"{what} is no operation of this agent"), exc.status_code)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            server = None if self.grpc_listen is None else await self._start_grpc()
            try:
                yield
            finally:
                await self._push.close()
                if server is not None:
                    await server.stop(grace=1)
                    self.grpc_address = None

        configs = "/tasks/{id}/pushNotificationConfigs"
        operations = [  # HTTP+JSON, each also under /{tenant} (after all of them: /tasks/{id} first)
            ("/message:send", rest("SendMessage", True), ["POST"]),
            ("/message:stream", rest("SendStreamingMessage", True), ["POST"]),
            ("/tasks", rest("ListTasks"), ["GET"]),
            ("/extendedAgentCard", rest("GetExtendedAgentCard"), ["GET"]),
            ("/tasks/{id}:subscribe", rest("SubscribeToTask"), ["POST", "GET"]),
            ("/tasks/{id}:cancel", rest("CancelTask"), ["POST"]),
            (configs, rest("CreateTaskPushNotificationConfig", True), ["POST"]),
            (configs, rest("ListTaskPushNotificationConfigs"), ["GET"]),
            (configs + "/{config}", rest("GetTaskPushNotificationConfig"), ["GET"]),
            (configs + "/{config}", rest("DeleteTaskPushNotificationConfig"), ["DELETE"]),
            ("/tasks/{id}", rest("GetTask"), ["GET"]),
        ]

        async def jwks(request: Request) -> JSONResponse:
            """The card key's JWK Set (what a card signature's jku names)."""
            assert self.card_key is not None and self.card_kid is not None
            return JSONResponse({"keys": [jwk_of(self.card_key, self.card_kid)]})

        tenanted = [] if self.tenants is None else [("/{tenant}" + p, e, m) for p, e, m in operations]
        return Starlette(
            routes=[
                Route("/.well-known/agent-card.json", card, methods=["GET"]),
                *(
                    [Route("/.well-known/jwks.json", jwks, methods=["GET"])]
                    if self.card_key is not None
                    else []
                ),
                Route("/a2a", rpc, methods=["POST"]),
                *(Route(p, e, methods=m) for p, e, m in operations),
                *(self.oid4vp.app().routes if self.oid4vp is not None else []),
                *(Route(p, e, methods=m) for p, e, m in tenanted),
            ],
            exception_handlers={404: not_found, 405: not_found},
            lifespan=lifespan,
        )

    async def _start_grpc(self) -> grpc.aio.Server:
        """Listen on `grpc_listen` (TLS with `grpc_credentials`), serving A2AService on this loop."""
        assert self.grpc_listen is not None
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_BODY),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        a2a_pb2_grpc.add_A2AServiceServicer_to_server(_Servicer(self), server)
        if self.grpc_credentials is None:
            port = server.add_insecure_port(self.grpc_listen)
        else:
            port = server.add_secure_port(self.grpc_listen, self.grpc_credentials)
        if port == 0:
            raise ServiceError(f"cannot listen for gRPC on {self.grpc_listen}")
        await server.start()
        self.grpc_address = f"{self.grpc_listen.rsplit(':', 1)[0]}:{port}"
        return server


class _TooLarge(Exception):
    """A request body over MAX_BODY (answered 413)."""


class _Servicer(a2a_pb2_grpc.A2AServiceServicer):
    """The gRPC binding: each method's request as ProtoJSON to A2AServer.handle, its answer (or
    events) back as messages, a refusal as the A2A error's gRPC status."""

    def __init__(self, agent: A2AServer) -> None:
        self.agent = agent

    async def _params(
        self, method: str, request: Any, context: grpc.aio.ServicerContext
    ) -> tuple[dict[str, Any], str | None]:
        md = {k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        caller = await self.agent.service_params(md.get, method, grpc_peer_chain(context))
        return to_json(request), caller

    async def _unary(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        resp_cls = METHODS[method][1]
        try:
            params, caller = await self._params(method, request, context)
            answer = await self.agent.handle(method, params, caller, None)
            assert isinstance(answer, dict)
            return to_proto(answer, resp_cls, method, A2AError)
        except A2AError as exc:
            await context.abort(*status_of(exc))
        except Exception:
            LOG.exception("a2a_grpc_error", extra={"method": method})
            await context.abort(*status_of(A2AError("internal error")))

    async def _stream(
        self, method: str, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            params, caller = await self._params(method, request, context)
            events = await self.agent.handle(method, params, caller, None)
            assert not isinstance(events, dict)
            async for ev in events:
                yield to_proto(stream_response(ev), a2a_pb2.StreamResponse, method, A2AError)
        except A2AError as exc:
            await context.abort(*status_of(exc))
        except Exception:
            LOG.exception("a2a_grpc_error", extra={"method": method})
            await context.abort(*status_of(A2AError("internal error")))


def _unary_method(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: _Servicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._unary(name, request, context)

    return method


def _stream_method(name: str) -> Callable[..., AsyncIterator[Any]]:
    async def method(self: _Servicer, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for answer in self._stream(name, request, context):  # (an async generator: a stream)
            yield answer

    return method


for _name, (_, _, _streams) in METHODS.items():  # each of the service's methods, by its own name
    setattr(_Servicer, _name, (_stream_method if _streams else _unary_method)(_name))


def _count(params: dict[str, Any], key: str) -> int | None:
    v = params.get(key)
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
        raise A2AInvalidParamsError(f"params.{key} must be a non-negative integer")
    return v


def _instant(v: Any, what: str) -> datetime:
    """An ISO 8601 timestamp with its zone (InvalidParams for `what` otherwise)."""
    try:
        t = datetime.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise A2AInvalidParamsError(
            f"{what} must be an ISO 8601 timestamp with its zone (2026-01-01T00:00:00Z)"
        )
    return t


def _token(timestamp: str, task_id: str, scope: str) -> str:
    raw = json.dumps([timestamp, task_id, scope], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(token: str, scope: str) -> tuple[datetime, str]:
    """The (timestamp, task id) a page token continues after (InvalidParams if it is none of this
    agent's, or was issued for other filters)."""
    try:
        v = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        v = None
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, str) for x in v)):
        raise A2AInvalidParamsError("params.pageToken is no page token of this agent")
    if v[2] != scope:
        raise A2AInvalidParamsError("params.pageToken was issued for other filters")
    return _instant(v[0], "params.pageToken"), v[1]
