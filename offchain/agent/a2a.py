"""A2A (Agent2Agent protocol v1.0) messages, the agent card and the JSON-RPC binding, with the x402
payments extension (a2a-x402 v0.2) and AP2 mandates in message metadata; and the client that talks
to an agent and pays it when asked.

Shapes are A2A v1.0's ProtoJSON (``specification/a2a.proto``): camelCase fields, enums by name
(``TASK_STATE_INPUT_REQUIRED``, ``ROLE_USER``), a ``Part`` holding exactly one of ``text``, ``raw``
(base64), ``url`` or ``data``. JSON-RPC method names are the PascalCase ones (``SendMessage``,
``GetTask``); errors carry A2A's codes (offchain.agent.errors, ``A2A_BY_CODE``).

The x402 extension's flow (standalone): the agent answers a priced request with a Task in
``TASK_STATE_INPUT_REQUIRED`` whose status message metadata holds ``x402.payment.status:
payment-required`` and ``x402.payment.required`` (an x402 PaymentRequired); the client sends a
message with the task's id, ``payment-submitted`` and ``x402.payment.payload`` (a PaymentPayload);
the agent verifies, works, settles through the facilitator and completes the task with
``payment-completed`` and ``x402.payment.receipts`` (SettleResponses) — or answers
``payment-failed`` with ``x402.payment.error`` and leaves the offer open.

Parsing is strict: a field of the wrong type is ``A2AInvalidParamsError`` in a request (the agent's
side) and ``A2AResponseError`` in an answer (the client's side).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import grpc
import httpx

from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.a2a_auth import KeySetFetcher
from offchain.agent.a2a_card import JkuPolicy, verify_card_keys
from offchain.agent.a2a_grpc import GRPC, GrpcChannel
from offchain.agent.a2a_mtls import ClientCertificate
from offchain.agent.client import PayingClient
from offchain.agent.errors import (
    A2A_BY_CODE,
    A2A_BY_REASON,
    A2AError,
    A2AInvalidParamsError,
    A2AResponseError,
    A2AUnsupportedOperationError,
    MandateError,
    MandateMismatchError,
    PaymentRefusedError,
    X402Error,
)
from offchain.agent.x402 import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse

A2A_VERSION = "1.0"
JSONRPC, HTTP_JSON = "JSONRPC", "HTTP+JSON"  # the protocol bindings served (and GRPC)
BINDINGS = (JSONRPC, HTTP_JSON, GRPC)
ERROR_DOMAIN = "a2a-protocol.org"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
VERSION_HEADER = "A2A-Version"
EXTENSIONS_HEADER = "A2A-Extensions"
# a2a-x402 v0.2 names the older header; the agent reads both.
EXTENSIONS_HEADERS = (EXTENSIONS_HEADER, "X-A2A-Extensions")
X402_EXTENSION = "https://github.com/google-agentic-commerce/a2a-x402/blob/main/spec/v0.2"
# The URIs a client may activate the x402 extension by: the extension's own (v0.2), and the one
# x402's A2A transport spec (coinbase/x402 specs/transports-v2/a2a.md) names for the same flow.
X402_EXTENSION_URIS = frozenset({X402_EXTENSION, "https://github.com/google-a2a/a2a-x402/v0.1"})
# AP2 v0.2: the closed Checkout and Payment Mandates (Delegate SD-JWT chains, offchain.agent.ap2)
# in the payment message's metadata under AP2's A2A data keys, the receipts in the task's.
AP2_EXTENSION = "https://github.com/google-agentic-commerce/ap2/v1"
ERC8004_EXTENSION = "https://eips.ethereum.org/EIPS/eip-8004"
AP2_CHECKOUT_JWT = "ap2.CheckoutJwt"  # this project's key: the merchant-signed checkout of the task
AP2_CHECKOUT_MANDATE = "ap2.mandates.CheckoutMandateSdJwt"
AP2_PAYMENT_MANDATE = "ap2.mandates.PaymentMandateSdJwt"
AP2_CHECKOUT_RECEIPT = "ap2.CheckoutReceipt"
AP2_PAYMENT_RECEIPT = "ap2.PaymentReceipt"

# the x402 extension's metadata keys and payment states
X402_STATUS = "x402.payment.status"
X402_REQUIRED = "x402.payment.required"
X402_PAYLOAD = "x402.payment.payload"
X402_RECEIPTS = "x402.payment.receipts"
X402_ERROR = "x402.payment.error"
PAYMENT_REQUIRED = "payment-required"
PAYMENT_SUBMITTED = "payment-submitted"
PAYMENT_REJECTED = "payment-rejected"
PAYMENT_VERIFIED = "payment-verified"
PAYMENT_COMPLETED = "payment-completed"
PAYMENT_FAILED = "payment-failed"

# A2A task states; the first four end a task, the next two wait for the client
SUBMITTED, WORKING = "TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"
COMPLETED, FAILED = "TASK_STATE_COMPLETED", "TASK_STATE_FAILED"
CANCELED, REJECTED = "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"
INPUT_REQUIRED, AUTH_REQUIRED = "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED, REJECTED})
INTERRUPTED = frozenset({INPUT_REQUIRED, AUTH_REQUIRED})
STATES = TERMINAL | INTERRUPTED | {SUBMITTED, WORKING}
USER, AGENT = "ROLE_USER", "ROLE_AGENT"

MAX_PARTS = 64
BEARER = "bearer"  # the card's security scheme name for bearer tokens
MAX_ID_CHARS = 128

# x402 reason code -> the extension's error code (x402.payment.error, a2a-x402 v0.2 §9.1); others
# keep their own, upper-cased (extension_error)
ERROR_CODES = {
    E.PaymentUnderfundedError.code: "INSUFFICIENT_FUNDS",
    E.PaymentSignatureError.code: "INVALID_SIGNATURE",
    E.PaymentExpiredError.code: "EXPIRED_PAYMENT",
    E.PaymentReplayedError.code: "DUPLICATE_NONCE",
    E.PaymentNetworkError.code: "NETWORK_MISMATCH",
    E.PaymentAmountError.code: "INVALID_AMOUNT",
    E.SettlementError.code: "SETTLEMENT_FAILED",
}


def extension_error(reason: str) -> str:
    """The x402 extension's error code of an x402 reason code, ours or one a facilitator speaking
    the official SDKs' codes answered (read as the same refusal: errors.BY_CODE)."""
    cls = E.BY_CODE.get(reason)
    return ERROR_CODES.get(reason if cls is None else cls.code, reason.upper())


def new_id() -> str:
    return str(uuid.uuid4())


def _obj(v: Any, what: str, err: type[A2AError]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise err(f"{what} must be a JSON object")
    return v


def _opt_str(d: dict[str, Any], key: str, what: str, err: type[A2AError], limit: int | None = None) -> Any:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or (limit is not None and not 0 < len(v) <= limit):
        raise err(f"{what}.{key} must be a string" + (f" of 1 to {limit} characters" if limit else ""))
    return v


def _req_str(d: dict[str, Any], key: str, what: str, err: type[A2AError], limit: int | None = None) -> str:
    v = _opt_str(d, key, what, err, limit)
    if v is None:
        raise err(f"{what}.{key} is required")
    return v


def _meta(d: dict[str, Any], what: str, err: type[A2AError]) -> dict[str, Any]:
    v = d.get("metadata", {})
    return dict(_obj(v, f"{what}.metadata", err))


def _str_list(d: dict[str, Any], key: str, what: str, err: type[A2AError]) -> list[str]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise err(f"{what}.{key} must be a list of strings")
    return list(v)


@dataclass(frozen=True)
class Part:
    """One piece of content: exactly one of `text`, `raw` (bytes), `url` or `data` (any JSON)."""

    text: str | None = None
    raw: bytes | None = None
    url: str | None = None
    data: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None
    media_type: str | None = None

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError]) -> Part:
        d = _obj(v, "part", err)
        present = [k for k in ("text", "raw", "url", "data") if k in d]
        if len(present) != 1:
            raise err("a part holds exactly one of text, raw, url, data")
        raw = None
        if "raw" in d:
            try:
                raw = base64.b64decode(_req_str(d, "raw", "part", err), validate=True)
            except (binascii.Error, ValueError):
                raise err("part.raw must be base64") from None
        return cls(
            _opt_str(d, "text", "part", err),
            raw,
            _opt_str(d, "url", "part", err),
            d.get("data"),
            _meta(d, "part", err),
            _opt_str(d, "filename", "part", err),
            _opt_str(d, "mediaType", "part", err),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text is not None:
            out["text"] = self.text
        elif self.raw is not None:
            out["raw"] = base64.b64encode(self.raw).decode()
        elif self.url is not None:
            out["url"] = self.url
        else:
            out["data"] = self.data
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.filename is not None:
            out["filename"] = self.filename
        if self.media_type is not None:
            out["mediaType"] = self.media_type
        return out


def _parts(d: dict[str, Any], what: str, err: type[A2AError], required: bool = True) -> tuple[Part, ...]:
    v = d.get("parts", [] if not required else None)
    if not isinstance(v, list) or (required and not v) or len(v) > MAX_PARTS:
        raise err(f"{what}.parts must be a list of {'1' if required else '0'} to {MAX_PARTS} parts")
    return tuple(Part.from_json(p, err) for p in v)


@dataclass(frozen=True)
class Message:
    """One turn: who speaks (`role`), its parts, the task and context it belongs to, metadata."""

    message_id: str
    role: str
    parts: tuple[Part, ...]
    context_id: str | None = None
    task_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()
    reference_task_ids: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError]) -> Message:
        d = _obj(v, "message", err)
        role = d.get("role")
        if role not in (USER, AGENT):
            raise err(f"message.role must be {USER} or {AGENT}: got {role!r}")
        return cls(
            _req_str(d, "messageId", "message", err, MAX_ID_CHARS),
            role,
            _parts(d, "message", err),
            _opt_str(d, "contextId", "message", err, MAX_ID_CHARS),
            _opt_str(d, "taskId", "message", err, MAX_ID_CHARS),
            _meta(d, "message", err),
            tuple(_str_list(d, "extensions", "message", err)),
            tuple(_str_list(d, "referenceTaskIds", "message", err)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"messageId": self.message_id, "role": self.role}
        if self.context_id is not None:
            out["contextId"] = self.context_id
        if self.task_id is not None:
            out["taskId"] = self.task_id
        out["parts"] = [p.to_json() for p in self.parts]
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        if self.extensions:
            out["extensions"] = list(self.extensions)
        if self.reference_task_ids:
            out["referenceTaskIds"] = list(self.reference_task_ids)
        return out

    def text(self) -> str:
        """The text parts, joined."""
        return "\n".join(p.text for p in self.parts if p.text is not None)

    def data(self) -> Any:
        """The first data part's value (None: none)."""
        return next((p.data for p in self.parts if p.text is None and p.raw is None and p.url is None), None)


def user_message(
    text: str | None = None,
    data: Any = None,
    *,
    task_id: str | None = None,
    context_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    extensions: tuple[str, ...] = (),
) -> Message:
    """A client's message (a text part and/or a data part)."""
    parts = tuple(p for p in (Part(text=text) if text is not None else None, _data_part(data)) if p)
    return Message(new_id(), USER, parts or (Part(text=""),), context_id, task_id, metadata or {}, extensions)


def _data_part(data: Any) -> Part | None:
    return None if data is None else Part(data=data, media_type="application/json")


@dataclass(frozen=True)
class TaskStatus:
    state: str
    message: Message | None = None
    timestamp: str | None = None

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError]) -> TaskStatus:
        d = _obj(v, "status", err)
        if d.get("state") not in STATES:
            raise err(f"status.state is no A2A task state: {d.get('state')!r}")
        msg = d.get("message")
        return cls(
            d["state"],
            None if msg is None else Message.from_json(msg, err),
            _opt_str(d, "timestamp", "status", err),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.message is not None:
            out["message"] = self.message.to_json()
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        return {} if self.message is None else self.message.metadata


@dataclass(frozen=True)
class Artifact:
    artifact_id: str
    parts: tuple[Part, ...]
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError]) -> Artifact:
        d = _obj(v, "artifact", err)
        return cls(
            _req_str(d, "artifactId", "artifact", err, MAX_ID_CHARS),
            _parts(d, "artifact", err),
            _opt_str(d, "name", "artifact", err),
            _opt_str(d, "description", "artifact", err),
            _meta(d, "artifact", err),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"artifactId": self.artifact_id}
        if self.name is not None:
            out["name"] = self.name
        if self.description is not None:
            out["description"] = self.description
        out["parts"] = [p.to_json() for p in self.parts]
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True)
class Task:
    id: str
    context_id: str
    status: TaskStatus
    artifacts: tuple[Artifact, ...] = ()
    history: tuple[Message, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError] = A2AResponseError) -> Task:
        d = _obj(v, "task", err)
        arts, hist = d.get("artifacts", []), d.get("history", [])
        if not isinstance(arts, list) or not isinstance(hist, list):
            raise err("task.artifacts and task.history must be lists")
        return cls(
            _req_str(d, "id", "task", err, MAX_ID_CHARS),
            _req_str(d, "contextId", "task", err, MAX_ID_CHARS),
            TaskStatus.from_json(d.get("status"), err),
            tuple(Artifact.from_json(a, err) for a in arts),
            tuple(Message.from_json(m, err) for m in hist),
            _meta(d, "task", err),
        )

    def to_json(self, history_length: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "contextId": self.context_id, "status": self.status.to_json()}
        if self.artifacts:
            out["artifacts"] = [a.to_json() for a in self.artifacts]
        hist = self.history if history_length is None else self.history[len(self.history) - history_length :]
        if history_length == 0:
            hist = ()
        if hist:
            out["history"] = [m.to_json() for m in hist]
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out

    def payment_status(self) -> str | None:
        return self.status.metadata.get(X402_STATUS)

    def receipts(self) -> list[SettleResponse]:
        """The task's x402 receipts (SettleResponses), as the agent listed them."""
        raw = self.status.metadata.get(X402_RECEIPTS, [])
        if not isinstance(raw, list):
            raise A2AResponseError(f"{X402_RECEIPTS} must be a list")
        try:
            return [SettleResponse.from_json(r) for r in raw]
        except X402Error as exc:
            raise A2AResponseError(f"a receipt is malformed: {exc}") from None

    def result(self) -> Any:
        """The first artifact's first data part (or text), the usual answer of a skill."""
        for a in self.artifacts:
            for p in a.parts:
                return p.data if p.text is None and p.raw is None and p.url is None else p.text
        return None


@dataclass(frozen=True)
class TaskStatusUpdateEvent:
    """A stream's news of a task's status (SendStreamingMessage, SubscribeToTask)."""

    task_id: str
    context_id: str
    status: TaskStatus
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError] = A2AResponseError) -> TaskStatusUpdateEvent:
        d = _obj(v, "statusUpdate", err)
        return cls(
            _req_str(d, "taskId", "statusUpdate", err, MAX_ID_CHARS),
            _req_str(d, "contextId", "statusUpdate", err, MAX_ID_CHARS),
            TaskStatus.from_json(d.get("status"), err),
            _meta(d, "statusUpdate", err),
        )

    def to_json(self) -> dict[str, Any]:
        out = {"taskId": self.task_id, "contextId": self.context_id, "status": self.status.to_json()}
        return out | ({"metadata": dict(self.metadata)} if self.metadata else {})


@dataclass(frozen=True)
class TaskArtifactUpdateEvent:
    """A stream's news of an artifact: a new one, or (``append``) more parts of one already sent."""

    task_id: str
    context_id: str
    artifact: Artifact
    append: bool = False
    last_chunk: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError] = A2AResponseError) -> TaskArtifactUpdateEvent:
        d = _obj(v, "artifactUpdate", err)
        append, last = d.get("append", False), d.get("lastChunk", True)
        if not isinstance(append, bool) or not isinstance(last, bool):
            raise err("artifactUpdate.append and artifactUpdate.lastChunk must be booleans")
        return cls(
            _req_str(d, "taskId", "artifactUpdate", err, MAX_ID_CHARS),
            _req_str(d, "contextId", "artifactUpdate", err, MAX_ID_CHARS),
            Artifact.from_json(d.get("artifact"), err),
            append,
            last,
            _meta(d, "artifactUpdate", err),
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "taskId": self.task_id,
            "contextId": self.context_id,
            "artifact": self.artifact.to_json(),
            "append": self.append,
            "lastChunk": self.last_chunk,
        }
        return out | ({"metadata": dict(self.metadata)} if self.metadata else {})


StreamEvent = Task | Message | TaskStatusUpdateEvent | TaskArtifactUpdateEvent


def stream_event(v: Any, err: type[A2AError] = A2AResponseError) -> StreamEvent:
    """A StreamResponse (exactly one of task, message, statusUpdate, artifactUpdate) parsed."""
    d = _obj(v, "StreamResponse", err)
    kinds = [k for k in ("task", "message", "statusUpdate", "artifactUpdate") if k in d]
    if len(kinds) != 1:
        raise err("a StreamResponse holds exactly one of task, message, statusUpdate, artifactUpdate")
    k = kinds[0]
    if k == "task":
        return Task.from_json(d[k], err)
    if k == "message":
        return Message.from_json(d[k], err)
    if k == "statusUpdate":
        return TaskStatusUpdateEvent.from_json(d[k], err)
    return TaskArtifactUpdateEvent.from_json(d[k], err)


def stream_response(event: StreamEvent) -> dict[str, Any]:
    """An event as a StreamResponse (JSON)."""
    key = {
        Task: "task",
        Message: "message",
        TaskStatusUpdateEvent: "statusUpdate",
        TaskArtifactUpdateEvent: "artifactUpdate",
    }[type(event)]
    return {key: event.to_json()}


def apply_event(task: Task, event: StreamEvent) -> Task:
    """The task as a stream's event leaves it (a status replaces the status; an artifact is added,
    replaces the one of its id, or, with ``append``, extends its parts)."""
    if isinstance(event, Task):
        return event
    if isinstance(event, Message) or event.task_id != task.id:
        raise A2AResponseError(f"a stream of task {task.id} carried an event of another task or no task")
    if isinstance(event, TaskStatusUpdateEvent):
        return replace(task, status=event.status)
    arts = list(task.artifacts)
    i = next((n for n, a in enumerate(arts) if a.artifact_id == event.artifact.artifact_id), None)
    if i is None:
        arts.append(event.artifact)
    elif event.append:
        arts[i] = replace(arts[i], parts=arts[i].parts + event.artifact.parts)
    else:
        arts[i] = event.artifact
    return replace(task, artifacts=tuple(arts))


def ends_stream(event: StreamEvent) -> bool:
    """Whether a stream ends after this event: a message, or a status that ends the task or waits
    for the client."""
    if isinstance(event, Message):
        return True
    return isinstance(event, TaskStatusUpdateEvent) and event.status.state in TERMINAL | INTERRUPTED


def sse(data: dict[str, Any]) -> bytes:
    """One server-sent event carrying `data` as JSON."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The data of each server-sent event in a stream of lines (multi-line data joined by newlines;
    comments and other fields skipped)."""
    buf: list[str] = []
    for line in lines:
        if line == "":
            if buf:
                yield "\n".join(buf)
            buf = []
        elif line.startswith("data:"):
            buf.append(line[5:].removeprefix(" "))
    if buf:
        yield "\n".join(buf)


# ---------------------------------------------------------------- agent card


@dataclass(frozen=True)
class AgentSkill:
    id: str
    name: str
    description: str
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "tags": list(self.tags),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class AgentCard:
    """The parts of an agent card a client acts on: name, the endpoint of each binding it serves
    (``JSONRPC``, ``HTTP+JSON``, ``GRPC``) in A2A 1.x, in the agent's order of preference, whether
    it streams, sends push notifications and has an extended card, the skills and the extensions
    (by URI -> required)."""

    name: str
    description: str
    version: str
    interfaces: dict[str, str]
    streaming: bool
    skills: tuple[str, ...]
    extensions: dict[str, bool]
    raw: dict[str, Any]
    push_notifications: bool = False
    extended_card: bool = False

    @property
    def preferred(self) -> str:
        """The binding the agent prefers among those this client speaks (its first listed)."""
        return next(iter(self.interfaces))

    @property
    def url(self) -> str:
        """The JSON-RPC endpoint (A2AResponseError if none)."""
        return self.endpoint(JSONRPC)

    def endpoint(self, binding: str) -> str:
        if binding not in self.interfaces:
            raise A2AResponseError(f"the agent offers no {binding} interface of A2A {A2A_VERSION}")
        return self.interfaces[binding]

    @classmethod
    def from_json(cls, v: Any) -> AgentCard:
        err = A2AResponseError
        d = _obj(v, "agent card", err)
        ifaces = d.get("supportedInterfaces")
        if not isinstance(ifaces, list):
            raise err("agentCard.supportedInterfaces must be a list")
        urls: dict[str, str] = {}
        for i in ifaces:
            if (
                isinstance(i, dict)
                and i.get("protocolBinding") in BINDINGS
                and isinstance(i.get("url"), str)
                and str(i.get("protocolVersion", "")).split(".")[0] == A2A_VERSION.split(".")[0]
            ):
                urls.setdefault(i["protocolBinding"], i["url"].rstrip("/"))
        if not urls:
            raise err(f"the agent offers no {' or '.join(BINDINGS)} interface of A2A {A2A_VERSION}")
        caps = _obj(d.get("capabilities", {}), "agentCard.capabilities", err)
        exts = caps.get("extensions", [])
        skills = d.get("skills", [])
        if not isinstance(exts, list) or not isinstance(skills, list):
            raise err("agentCard.capabilities.extensions and agentCard.skills must be lists")
        for flag in ("streaming", "pushNotifications", "extendedAgentCard"):
            if not isinstance(caps.get(flag, False), bool):
                raise err(f"agentCard.capabilities.{flag} must be a boolean")
        return cls(
            _req_str(d, "name", "agentCard", err),
            _req_str(d, "description", "agentCard", err),
            _req_str(d, "version", "agentCard", err),
            urls,
            caps.get("streaming", False),
            tuple(str(_obj(s, "skill", err).get("id")) for s in skills),
            {
                _req_str(_obj(e, "extension", err), "uri", "extension", err): bool(e.get("required"))
                for e in exts
            },
            dict(d),
            caps.get("pushNotifications", False),
            caps.get("extendedAgentCard", False),
        )


def agent_card(
    name: str,
    description: str,
    url: str | None,
    skills: list[AgentSkill],
    *,
    version: str = "1.0.0",
    provider: dict[str, str] | None = None,
    x402_required: bool = True,
    merchant_jwk: dict[str, str] | None = None,
    registrations: list[dict[str, Any]] | None = None,
    rest_url: str | None = None,
    streaming: bool = False,
    grpc_url: str | None = None,
    preferred: str = JSONRPC,
    push_notifications: bool = False,
    extended_card: bool = False,
    bearer_auth: bool = False,
    security_schemes: Mapping[str, Any] | None = None,
    security_requirements: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An A2A v1.0 agent card (JSON) for an agent whose JSON-RPC endpoint is `url` (and, given,
    whose HTTP+JSON binding is served under `rest_url` and whose gRPC service listens at
    `grpc_url`, ``host:port``), the `preferred` binding listed first; `streaming`: it serves
    SendStreamingMessage and SubscribeToTask; `push_notifications`: it posts task updates to
    webhooks; `bearer_auth`: it authenticates callers by bearer token (``securitySchemes``), and
    with `extended_card` serves authenticated callers an extended card; `security_schemes` (name
    -> SecurityScheme) are declared beside it, and `security_requirements` (each
    ``{"schemes": {name: {"list": [scopes]}}}``, one of them to be met) make authentication
    mandatory."""
    exts: list[dict[str, Any]] = [
        {
            "uri": X402_EXTENSION,
            "description": "Supports payments using the x402 protocol for on-chain settlement.",
            "required": x402_required,
        }
    ]
    if merchant_jwk is not None:
        exts.append(
            {
                "uri": AP2_EXTENSION,
                "description": "AP2 v0.2: the agent signs a checkout for each priced task; payments carry "
                "closed Checkout and Payment Mandates (dc+sd-jwt Delegate SD-JWT chains, ES256); "
                "the agent answers with signed receipts.",
                "required": False,
                "params": {
                    "checkoutKey": AP2_CHECKOUT_JWT,
                    "mandateKeys": [AP2_CHECKOUT_MANDATE, AP2_PAYMENT_MANDATE],
                    "receiptKeys": [AP2_CHECKOUT_RECEIPT, AP2_PAYMENT_RECEIPT],
                    "merchantJwk": merchant_jwk,
                },
            }
        )
    if registrations:  # ERC-8004: the on-chain identities this agent holds (the card has no free field)
        exts.append(
            {
                "uri": ERC8004_EXTENSION,
                "description": "ERC-8004 identities of this agent (agentRegistry: eip155:<chain>:<registry>).",
                "required": False,
                "params": {"registrations": list(registrations)},
            }
        )
    served = [(b, u) for b, u in ((JSONRPC, url), (HTTP_JSON, rest_url), (GRPC, grpc_url)) if u is not None]
    if preferred not in {b for b, _ in served}:
        raise ValueError(f"the preferred binding {preferred} is not served")
    served.sort(key=lambda bu: bu[0] != preferred)
    caps: dict[str, Any] = {
        "streaming": streaming,
        "pushNotifications": push_notifications,
        "extensions": exts,
    }
    if extended_card:
        caps["extendedAgentCard"] = True
    card: dict[str, Any] = {
        "name": name,
        "description": description,
        "supportedInterfaces": [
            {"url": u, "protocolBinding": b, "protocolVersion": A2A_VERSION} for b, u in served
        ],
        "version": version,
        "capabilities": caps,
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["application/json", "text/plain"],
        "skills": [s.to_json() for s in skills],
    }
    if bearer_auth:
        card["securitySchemes"] = {
            BEARER: {
                "httpAuthSecurityScheme": {
                    "scheme": "Bearer",
                    "description": "Optional: an authenticated caller owns its tasks (only it sees "
                    "them, ListTasks lists them) and gets the extended card.",
                }
            }
        }
    if security_schemes:
        card["securitySchemes"] = card.get("securitySchemes", {}) | dict(security_schemes)
    if security_requirements:
        card["securityRequirements"] = list(security_requirements)
    if provider is not None:
        card["provider"] = dict(provider)
    return card


# ---------------------------------------------------------------- JSON-RPC


def rpc_error(req_id: Any, exc: A2AError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": exc.rpc_code, "message": str(exc)}}


def rpc_result(req_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def rest_error(exc: A2AError, http_status: int | None = None) -> dict[str, Any]:
    """An HTTP+JSON error body (AIP-193: google.rpc.Status with an ErrorInfo)."""
    info = {"@type": ERROR_INFO, "reason": exc.reason, "domain": ERROR_DOMAIN}
    code = http_status or exc.http_status
    return {"error": {"code": code, "status": exc.status, "message": str(exc), "details": [info]}}


def raise_rest_error(status: int, body: Any, what: str) -> None:
    """Raise the typed error of an HTTP+JSON error answer (A2AResponseError if it is none)."""
    e = body.get("error") if isinstance(body, dict) else None
    if not isinstance(e, dict):
        raise A2AResponseError(f"{what}: HTTP {status} without an A2A error body")
    details = e.get("details") if isinstance(e.get("details"), list) else []
    reason = next(
        (x.get("reason") for x in details if isinstance(x, dict) and x.get("@type") == ERROR_INFO), None
    )
    cls = A2A_BY_REASON.get(reason, A2AError) if isinstance(reason, str) else A2AError
    raise cls(f"{what}: {e.get('message')} ({reason or e.get('status')}, HTTP {status})")


# ---------------------------------------------------------------- listing, push notifications


@dataclass(frozen=True)
class TaskPage:
    """A ListTasks answer: the page's tasks, the token of the next page ("" after the last), the
    page size used and how many tasks match in all."""

    tasks: tuple[Task, ...]
    next_page_token: str
    page_size: int
    total_size: int

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError] = A2AResponseError) -> TaskPage:
        d = _obj(v, "ListTasksResponse", err)
        tasks = d.get("tasks", [])
        size, total = d.get("pageSize", 0), d.get("totalSize", 0)
        if not isinstance(tasks, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (size, total)
        ):
            raise err("ListTasksResponse: tasks must be a list, pageSize and totalSize counts")
        token = d.get("nextPageToken", "")
        if not isinstance(token, str):
            raise err("ListTasksResponse.nextPageToken must be a string")
        return cls(tuple(Task.from_json(t, err) for t in tasks), token, size, total)


@dataclass(frozen=True)
class PushConfig:
    """Where an agent posts a task's updates (TaskPushNotificationConfig): the webhook `url`, the
    client's `token` echoed with each post, and the ``Authorization`` it sends (`scheme`,
    `credentials`)."""

    url: str
    id: str | None = None
    task_id: str | None = None
    token: str | None = None
    scheme: str | None = None
    credentials: str | None = None

    @classmethod
    def from_json(cls, v: Any, err: type[A2AError] = A2AResponseError) -> PushConfig:
        d = _obj(v, "TaskPushNotificationConfig", err)
        auth = d.get("authentication")
        scheme = credentials = None
        if auth is not None:
            a = _obj(auth, "TaskPushNotificationConfig.authentication", err)
            scheme = _req_str(a, "scheme", "authentication", err, 64)
            credentials = _opt_str(a, "credentials", "authentication", err, 4096)
        return cls(
            _req_str(d, "url", "TaskPushNotificationConfig", err, 2048),
            _opt_str(d, "id", "TaskPushNotificationConfig", err, MAX_ID_CHARS),
            _opt_str(d, "taskId", "TaskPushNotificationConfig", err, MAX_ID_CHARS),
            _opt_str(d, "token", "TaskPushNotificationConfig", err, 4096),
            scheme,
            credentials,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url}
        for k, v in (("id", self.id), ("taskId", self.task_id), ("token", self.token)):
            if v is not None:
                out[k] = v
        if self.scheme is not None:
            out["authentication"] = {"scheme": self.scheme} | (
                {} if self.credentials is None else {"credentials": self.credentials}
            )
        return out


def _query(params: dict[str, Any]) -> dict[str, str]:
    """Request fields as HTTP+JSON query parameters (booleans lowercase, numbers in decimal)."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}


# ---------------------------------------------------------------- client


@dataclass
class Exchange:
    """What one paid request to an agent came to: the final task, the offer paid and the settlement."""

    task: Task
    requirements: PaymentRequirements | None = None
    receipt: SettleResponse | None = None


class A2AClient:
    """Talks to the agent at `base_url` (its card at ``/.well-known/agent-card.json``) over the
    card's `binding` (``JSONRPC``, ``HTTP+JSON`` or ``GRPC``; None: the card's preferred one the
    client speaks), paying with `wallet` (a PayingClient: its key, budget, per-request cap, payee
    list and AP2 open payment mandate) when a task asks for payment; with `stream` it follows each
    request over SendStreamingMessage (server-sent events, or a gRPC server stream) instead of
    polling GetTask. `mandates(offer, checkout_jwt, task_id)`, when given (an Ap2Mandates),
    returns the AP2 closed mandates (metadata keys -> SD-JWT chains) the payment carries.
    `token`: a bearer token the agent knows (its tasks are then this caller's own: ListTasks, the
    extended card; an OAuth 2.0 / OpenID Connect access token goes the same way). `grpc_credentials`:
    the channel's (default: TLS with the system's roots, plain to a loopback agent). `card_keys`
    (kid -> public key) and `jku` (a JkuPolicy: key set URLs trusted, fetched by `key_sets`) make
    the client accept only a card signed by a trusted key. `tenant`: the tenant every request
    names (JSON-RPC and gRPC: the request's ``tenant``; HTTP+JSON: the path's first segment).
    `client_cert` (an a2a_mtls.ClientCertificate): the TLS client certificate presented to the
    agent (mutual TLS) in every binding: the HTTP client and the gRPC channel credentials are
    made from it (so give neither `http` nor `grpc_credentials` with it)."""

    def __init__(
        self,
        base_url: str,
        wallet: PayingClient | None = None,
        *,
        http: httpx.Client | None = None,
        mandates: Callable[[PaymentRequirements, str | None, str], dict[str, Any]] | None = None,
        poll_s: float = 0.05,
        timeout_s: float = 60.0,
        binding: str | None = JSONRPC,
        stream: bool = False,
        token: str | None = None,
        grpc_credentials: grpc.ChannelCredentials | None = None,
        card_keys: Mapping[str, Any] | None = None,
        jku: JkuPolicy | None = None,
        key_sets: KeySetFetcher | None = None,
        tenant: str | None = None,
        client_cert: ClientCertificate | None = None,
    ) -> None:
        if binding is not None and binding not in BINDINGS:
            raise ValueError(f"binding is one of {', '.join(BINDINGS)}")
        if client_cert is not None:
            if http is not None or grpc_credentials is not None:
                raise ValueError("client_cert makes the HTTP client and the gRPC credentials: give neither")
            http = client_cert.http_client()
            grpc_credentials = client_cert.grpc_credentials()
        self.base_url = base_url.rstrip("/")
        self.wallet = wallet
        # the HTTP client this one made (for a certificate, or by default) is its own to close
        self._owns_http = http is None and wallet is None or client_cert is not None
        self.http = http or (wallet.http if wallet is not None else httpx.Client(timeout=60))
        self.mandates = mandates
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self._binding = binding
        self.stream = stream
        self.token = token
        self.grpc_credentials = grpc_credentials
        self.card_keys = card_keys
        self.jku = jku
        self.key_sets = key_sets if key_sets is not None or jku is None else KeySetFetcher()
        if tenant is not None and (not tenant or "/" in tenant):
            raise ValueError("a tenant is a non-empty name without '/'")
        self.tenant = tenant
        self._card: AgentCard | None = None
        self._grpc: GrpcChannel | None = None
        self._ids = 0

    def card(self) -> AgentCard:
        """The agent's public card (with `card_keys`, kid -> public key, only once a signature by
        one of them verifies over it: A2ACardSignatureError's kinds otherwise)."""
        if self._card is None:
            try:
                r = self.http.get(self.base_url + "/.well-known/agent-card.json")
                r.raise_for_status()
                raw = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise A2AResponseError(f"no agent card at {self.base_url}: {exc}") from None
            self._verify(raw, self.base_url + "/.well-known/agent-card.json")
            self._card = AgentCard.from_json(raw)
        return self._card

    def _verify(self, raw: Any, url: str) -> None:
        if self.card_keys is not None or self.jku is not None:
            verify_card_keys(raw, url, self.card_keys or {}, self.jku, self.key_sets)

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request's params with the client's tenant (HTTP+JSON names it in the path)."""
        if self.tenant is None or self.binding == HTTP_JSON:
            return params
        return {"tenant": self.tenant} | params

    @property
    def binding(self) -> str:
        return self._binding or self.card().preferred

    def close(self) -> None:
        """Close the gRPC channel and the HTTP client this client made (not one it was given, nor
        the wallet's): a keep-alive connection left open would hold a server's shutdown."""
        if self._grpc is not None:
            self._grpc.close()
            self._grpc = None
        if self._owns_http:
            self.http.close()

    def _channel(self) -> GrpcChannel:
        if self._grpc is None:
            self._grpc = GrpcChannel(self.card().endpoint(GRPC), self.grpc_credentials)
        return self._grpc

    def _merchant_key(self) -> sdjwt.PublicKey:
        """The agent's AP2 receipt key, from its card (A2AResponseError if it names none)."""
        ext = [
            e for e in self.card().raw.get("capabilities", {}).get("extensions", []) if isinstance(e, dict)
        ]
        jwk = next(
            (e.get("params", {}).get("merchantJwk") for e in ext if e.get("uri") == AP2_EXTENSION), None
        )
        try:
            return sdjwt.key_of(jwk)
        except MandateError:
            raise A2AResponseError(
                f"{self.base_url}'s card names no AP2 merchant key (merchantJwk)"
            ) from None

    def _headers(self) -> dict[str, str]:
        h = {VERSION_HEADER: A2A_VERSION, EXTENSIONS_HEADER: ", ".join(self.card().extensions)}
        if self.token is not None:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def _rpc_body(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        return {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}

    def _rpc_answer(self, answer: Any, method: str, req_id: int) -> Any:
        url = self.card().url
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or answer.get("id") != req_id:
            raise A2AResponseError(f"{url} answered no JSON-RPC 2.0 response to request {req_id}")
        if "error" in answer:
            e = _obj(answer["error"], "error", A2AResponseError)
            code = e.get("code")
            raise A2A_BY_CODE.get(code if isinstance(code, int) else 0, A2AError)(
                f"{method}: {e.get('message')} (code {code})"
            )
        if "result" not in answer:
            raise A2AResponseError(f"{url} answered neither result nor error")
        return answer["result"]

    def _rest_request(self, method: str, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """(HTTP method, URL, httpx keyword arguments) of an operation over HTTP+JSON."""
        base = self.card().endpoint(HTTP_JSON) + ("" if self.tenant is None else "/" + quote(self.tenant))
        if method in ("SendMessage", "SendStreamingMessage"):
            path = "/message:send" if method == "SendMessage" else "/message:stream"
            return "POST", base + path, {"json": params}
        if method == "ListTasks":
            return "GET", base + "/tasks", {"params": _query(params)}
        if method == "GetExtendedAgentCard":
            return "GET", base + "/extendedAgentCard", {}
        key = "taskId" if "PushNotificationConfig" in method else "id"
        task_id = params.get(key)
        if not isinstance(task_id, str) or not task_id or "/" in task_id:
            raise A2AInvalidParamsError(f"{method} takes a task id")
        if method == "GetTask":
            q = {} if params.get("historyLength") is None else {"historyLength": params["historyLength"]}
            return "GET", f"{base}/tasks/{task_id}", {"params": q}
        if method in ("SubscribeToTask", "CancelTask"):
            verb = "subscribe" if method == "SubscribeToTask" else "cancel"
            return "POST", f"{base}/tasks/{task_id}:{verb}", {}
        configs = f"{base}/tasks/{task_id}/pushNotificationConfigs"
        if method == "CreateTaskPushNotificationConfig":
            return "POST", configs, {"json": params}
        if method == "ListTaskPushNotificationConfigs":
            return "GET", configs, {"params": _query({k: v for k, v in params.items() if k != "taskId"})}
        config_id = params.get("id")
        if not isinstance(config_id, str) or not config_id or "/" in config_id:
            raise A2AInvalidParamsError(f"{method} takes a config id")
        if method == "GetTaskPushNotificationConfig":
            return "GET", f"{configs}/{config_id}", {}
        if method == "DeleteTaskPushNotificationConfig":
            return "DELETE", f"{configs}/{config_id}", {}
        raise A2AInvalidParamsError(f"{method} is not served over {HTTP_JSON} here")

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One request over the client's binding; an error answer raises its typed A2AError."""
        params = self._params(params)
        if self.binding == GRPC:
            return self._channel().call(method, params, self._headers(), self.timeout_s)
        if self.binding == HTTP_JSON:
            verb, url, kw = self._rest_request(method, params)
            try:
                r = self.http.request(verb, url, headers=self._headers(), **kw)
                answer = r.json() if r.content or r.status_code >= 400 else {}
            except (httpx.HTTPError, ValueError) as exc:
                raise A2AResponseError(f"{url} gave no JSON answer: {exc}") from None
            if r.status_code >= 400:
                raise_rest_error(r.status_code, answer, method)
            return answer
        body = self._rpc_body(method, params)
        try:
            answer = self.http.post(self.card().url, json=body, headers=self._headers()).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise A2AResponseError(f"{self.card().url} gave no JSON-RPC answer: {exc}") from None
        return self._rpc_answer(answer, method, body["id"])

    def events(self, method: str, params: dict[str, Any]) -> Iterator[StreamEvent]:
        """The events of a streaming operation (SendStreamingMessage, SubscribeToTask), as the agent
        sends them; a refusal before the stream opens, or an error event, raises its typed error."""
        params = self._params(params)
        if self.binding == GRPC:
            for v in self._channel().stream(method, params, self._headers(), self.timeout_s):
                yield stream_event(v)
            return
        headers = self._headers() | {"Accept": "text/event-stream"}
        if self.binding == HTTP_JSON:
            verb, url, kw = self._rest_request(method, params)
            req_id = None
        else:
            body = self._rpc_body(method, params)
            verb, url, kw, req_id = "POST", self.card().url, {"json": body}, body["id"]
        try:
            with self.http.stream(verb, url, headers=headers, **kw) as r:
                if not r.headers.get("content-type", "").startswith("text/event-stream"):
                    r.read()
                    try:
                        answer = r.json()
                    except ValueError:
                        raise A2AResponseError(f"{url} answered {method} with no event stream") from None
                    if req_id is None:
                        raise_rest_error(r.status_code, answer, method)
                    self._rpc_answer(answer, method, req_id)
                    raise A2AResponseError(f"{url} answered {method} with no event stream")
                for data in sse_data(r.iter_lines()):
                    try:
                        v = json.loads(data)
                    except ValueError:
                        raise A2AResponseError(f"{url} sent an event that is not JSON") from None
                    if req_id is not None:
                        v = self._rpc_answer(v, method, req_id)
                    elif isinstance(v, dict) and "error" in v:
                        raise_rest_error(r.status_code, v, method)
                    yield stream_event(v)
        except httpx.HTTPError as exc:
            raise A2AResponseError(f"{url}: the {method} stream broke: {exc}") from None

    def list_tasks(
        self,
        *,
        context_id: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        history_length: int | None = None,
        status_timestamp_after: str | None = None,
        include_artifacts: bool | None = None,
    ) -> TaskPage:
        """One page of this caller's tasks, most recently updated first (ListTasks)."""
        params = {
            k: v
            for k, v in (
                ("contextId", context_id),
                ("status", status),
                ("pageSize", page_size),
                ("pageToken", page_token),
                ("historyLength", history_length),
                ("statusTimestampAfter", status_timestamp_after),
                ("includeArtifacts", include_artifacts),
            )
            if v is not None
        }
        return TaskPage.from_json(self.call("ListTasks", params))

    def extended_card(self) -> AgentCard:
        """The extended card the agent shows this (authenticated) caller; it replaces the public
        one for this client."""
        raw = self.call("GetExtendedAgentCard", {})
        self._verify(raw, self.base_url + "/.well-known/agent-card.json")
        card = AgentCard.from_json(raw)
        self._card = card
        return card

    def set_push(self, task_id: str, config: PushConfig) -> PushConfig:
        """Have the agent post the task's updates to `config.url` (CreateTaskPushNotificationConfig)."""
        return PushConfig.from_json(
            self.call("CreateTaskPushNotificationConfig", config.to_json() | {"taskId": task_id})
        )

    def get_push(self, task_id: str, config_id: str) -> PushConfig:
        return PushConfig.from_json(
            self.call("GetTaskPushNotificationConfig", {"taskId": task_id, "id": config_id})
        )

    def list_push(self, task_id: str) -> list[PushConfig]:
        res = _obj(
            self.call("ListTaskPushNotificationConfigs", {"taskId": task_id}), "configs", A2AResponseError
        )
        configs = res.get("configs", [])
        if not isinstance(configs, list):
            raise A2AResponseError("ListTaskPushNotificationConfigsResponse.configs must be a list")
        return [PushConfig.from_json(c) for c in configs]

    def delete_push(self, task_id: str, config_id: str) -> None:
        self.call("DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": config_id})

    def send_streaming(self, message: Message) -> Iterator[StreamEvent]:
        return self.events("SendStreamingMessage", {"message": message.to_json()})

    def subscribe(self, task_id: str) -> Iterator[StreamEvent]:
        return self.events("SubscribeToTask", {"id": task_id})

    def follow(self, events: Iterator[StreamEvent]) -> Task | Message:
        """The task (or message) a stream leaves: its first event, then every update applied, until
        the task ends or waits for the client (A2AResponseError if the stream stops before)."""
        task: Task | None = None
        for ev in events:
            if isinstance(ev, Message) and task is None:
                return ev
            if task is None and not isinstance(ev, Task):
                raise A2AResponseError("a stream must open with the task (or a message)")
            task = ev if task is None else apply_event(task, ev)
            if ends_stream(ev):
                return task
        raise A2AResponseError(
            "the stream ended before the task did" + ("" if task is None else f" ({task.status.state})")
        )

    def send(self, message: Message, return_immediately: bool = False) -> Task | Message:
        params: dict[str, Any] = {"message": message.to_json()}
        if return_immediately:
            params["configuration"] = {"returnImmediately": True}
        res = _obj(self.call("SendMessage", params), "SendMessageResponse", A2AResponseError)
        if "task" in res:
            return Task.from_json(res["task"])
        if "message" in res:
            return Message.from_json(res["message"], A2AResponseError)
        raise A2AResponseError("SendMessageResponse holds neither a task nor a message")

    def _send(self, message: Message, return_immediately: bool) -> Task | Message:
        """Send a message and follow it: over a stream when the client streams, else one answer."""
        if self.stream:
            if not self.card().streaming:
                raise A2AUnsupportedOperationError("the agent's card does not offer streaming")
            return self.follow(self.send_streaming(message))
        return self.send(message, return_immediately)

    def get_task(self, task_id: str, history_length: int | None = None) -> Task:
        params: dict[str, Any] = {"id": task_id}
        if history_length is not None:
            params["historyLength"] = history_length
        return Task.from_json(self.call("GetTask", params))

    def cancel(self, task_id: str) -> Task:
        """Cancel a task waiting for the client (A2ATaskNotCancelableError once it is worked on or
        over)."""
        return Task.from_json(self.call("CancelTask", {"id": task_id}))

    def wait(self, task_id: str) -> Task:
        """Poll GetTask until the task ends or waits for the client."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            task = self.get_task(task_id)
            if task.status.state in TERMINAL | INTERRUPTED:
                return task
            if time.monotonic() > deadline:
                raise A2AResponseError(f"task {task_id} still {task.status.state} after {self.timeout_s} s")
            time.sleep(self.poll_s)

    def ask(
        self,
        text: str | None = None,
        data: Any = None,
        *,
        skill: str | None = None,
        return_immediately: bool = False,
    ) -> Exchange:
        """Send a request; pay if the agent asks (within the wallet's limits); wait for the end."""
        meta = {} if skill is None else {"skill": skill}
        first = self._send(user_message(text, data, metadata=meta), return_immediately)
        if not isinstance(first, Task):
            return Exchange(Task(new_id(), first.context_id or "", TaskStatus(COMPLETED, first)))
        task = first if first.status.state in TERMINAL | INTERRUPTED else self.wait(first.id)
        if task.payment_status() != PAYMENT_REQUIRED:
            return Exchange(task)
        return self.pay(task, return_immediately)

    def pay(self, task: Task, return_immediately: bool = False) -> Exchange:
        """Pay a task that asks for payment; the settled amount is spent from the wallet's budget.
        A refused payment is PaymentRefusedError with the agent's x402 reason."""
        if self.wallet is None:
            raise PaymentRefusedError(f"task {task.id} asks for payment and this client has no wallet")
        t0 = time.perf_counter()
        try:
            offers = PaymentRequired.from_json(task.status.metadata.get(X402_REQUIRED))
        except X402Error as exc:
            raise A2AResponseError(f"task {task.id}'s payment requirements are malformed: {exc}") from None
        req = self.wallet.reserve(offers.accepts)
        try:
            payload = self.wallet.sign(req, offers.resource, offers.extensions)
            meta: dict[str, Any] = {X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: payload.to_json()}
            if self.mandates is not None:
                checkout = task.status.metadata.get(AP2_CHECKOUT_JWT)
                if checkout is not None and not isinstance(checkout, str):
                    raise A2AResponseError(f"task {task.id}'s checkout is no JWT string")
                meta |= self.mandates(req, checkout, task.id)
            msg = user_message(
                "payment",
                task_id=task.id,
                context_id=task.context_id,
                metadata=meta,
                extensions=(X402_EXTENSION,),
            )
            answer = self._send(msg, return_immediately)
            if not isinstance(answer, Task):
                raise A2AResponseError(f"the agent answered the payment for {task.id} with no task")
            done = answer if answer.status.state in TERMINAL | INTERRUPTED else self.wait(answer.id)
            status = done.payment_status()
            if status == PAYMENT_FAILED or done.status.state == INPUT_REQUIRED:
                if isinstance(self.mandates, Ap2Mandates):
                    self.mandates.keep(task.id, meta, done.status.metadata, self._merchant_key())
                reasons = [r.error_reason for r in done.receipts() if not r.success]
                reason = reasons[-1] if reasons else None
                raise PaymentRefusedError(
                    f"the agent refused the payment for task {task.id}: "
                    f"{done.status.metadata.get(X402_ERROR)} ({reason})",
                    reason,
                )
            settled = [r for r in done.receipts() if r.success]
            if status != PAYMENT_COMPLETED or not settled:
                # the work failed before settlement: nothing was paid
                return Exchange(done, req)
            receipt = settled[-1]
            self.wallet.record(f"{self.base_url}#{task.id}", req, receipt, time.perf_counter() - t0)
            if isinstance(self.mandates, Ap2Mandates):  # after the spending is recorded: nothing lost
                self.mandates.keep(task.id, meta, done.status.metadata, self._merchant_key())
            return Exchange(done, req, receipt)
        finally:
            self.wallet.release(req)

    def reject(self, task: Task) -> Task:
        """Decline a task's payment request (``payment-rejected``)."""
        msg = user_message(
            "no", task_id=task.id, context_id=task.context_id, metadata={X402_STATUS: PAYMENT_REJECTED}
        )
        out = self.send(msg)
        if not isinstance(out, Task):
            raise A2AResponseError("the agent answered the rejection with no task")
        return out


@dataclass(frozen=True)
class Ap2Evidence:
    """One payment's AP2 evidence: the closed mandates sent and the verified receipts' claims
    (metadata key -> claims; absent when the agent sent none)."""

    task_id: str
    checkout_mandate: str
    payment_mandate: str
    receipts: dict[str, dict[str, Any]]


@dataclass
class Ap2Mandates:
    """A2AClient's `mandates`: the agent's AP2 open mandates (chains the user delegated to
    `agent_key`: `open_checkout`, and `open_payment` whose ``payment.reference`` names it), closed
    for each payment over the merchant's checkout JWT: the checkout mandate with the open checkout
    link as delegated, the payment mandate revealing only the payee paid. `payer` is the x402
    paying address (the payment instrument). The checkout must be the offer's: its merchant the
    payee, its total the amount, its currency the token (MandateMismatchError otherwise). The
    A2AClient keeps each payment's closed mandates and verified receipts in `evidence` (the
    receipts checked against the merchant key the agent's card names)."""

    agent_key: sdjwt.PrivateKey
    open_checkout: str
    open_payment: str
    payer: str
    clock: Callable[[], float] = time.time
    evidence: list[Ap2Evidence] = field(default_factory=list)

    def keep(
        self, task_id: str, sent: dict[str, Any], answer: dict[str, Any], merchant: sdjwt.PublicKey
    ) -> None:
        """Keep the closed mandates sent for `task_id` with the receipts the agent answered (AP2's
        dispute evidence), each receipt verified: the merchant's signature, and a ``reference``
        that is this closed mandate's digest (MandateError otherwise: a receipt for something
        else, or forged)."""
        receipts: dict[str, dict[str, Any]] = {}
        for mandate_key, receipt_key in (
            (AP2_CHECKOUT_MANDATE, AP2_CHECKOUT_RECEIPT),
            (AP2_PAYMENT_MANDATE, AP2_PAYMENT_RECEIPT),
        ):
            if receipt_key in answer:
                ref = sdjwt.digest(sdjwt.last_link(sent[mandate_key]))
                receipts[receipt_key] = ap2.verify_receipt(answer[receipt_key], merchant, reference=ref)
        self.evidence.append(
            Ap2Evidence(task_id, sent[AP2_CHECKOUT_MANDATE], sent[AP2_PAYMENT_MANDATE], receipts)
        )

    def __call__(self, offer: PaymentRequirements, checkout_jwt: str | None, task_id: str) -> dict[str, Any]:
        if checkout_jwt is None:
            raise A2AResponseError(f"task {task_id} carries no checkout to close mandates over")
        merchant = ap2.payee(offer.pay_to)
        co = ap2.read_checkout(checkout_jwt)
        m_id = (co.get("merchant") or {}).get("id") if isinstance(co.get("merchant"), dict) else None
        terms = (m_id.lower() if isinstance(m_id, str) else None, co.get("total"), co.get("currency"))
        if terms != (merchant["id"].lower(), offer.amount, ap2.x402_currency(offer)):
            raise MandateMismatchError(
                f"task {task_id}'s checkout is not the offer's payee, amount and token"
            )
        now = int(self.clock())
        closed_co = ap2.close(
            self.open_checkout,
            self.agent_key,
            ap2.closed_checkout(checkout_jwt),
            aud=merchant["id"],
            nonce=task_id,
            iat=now,
        )
        instrument = ap2.x402_instrument(offer.network, self.payer)
        pm = ap2.closed_payment(
            ap2.checkout_hash(checkout_jwt), merchant, offer.amount, ap2.x402_currency(offer), instrument
        )
        closed_pm = ap2.close(
            self.open_payment,
            self.agent_key,
            pm,
            aud=merchant["id"],
            nonce=task_id,
            iat=now,
            reveal=[merchant, instrument],
        )
        return {AP2_CHECKOUT_MANDATE: closed_co, AP2_PAYMENT_MANDATE: closed_pm}


def payload_of(message: Message) -> PaymentPayload:
    """The PaymentPayload a payment-submitted message carries (x402 errors when malformed)."""
    return PaymentPayload.from_json(message.metadata.get(X402_PAYLOAD))
