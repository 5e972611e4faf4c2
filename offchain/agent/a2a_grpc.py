"""A2A's gRPC binding on the wire: the service's methods and their messages (the stubs generated
from offchain/agent/a2a.proto), the ProtoJSON bridge between those messages and the JSON shapes the
shared handlers and the client parse (offchain/agent/a2a.py), A2A errors as gRPC statuses (the
specification's code mapping, with a ``google.rpc.ErrorInfo`` carrying the A2A reason in the
``grpc-status-details-bin`` trailer) and back, and the client side of a channel.

Metadata and ``Part.data`` are ``google.protobuf.Struct``/``Value``: their numbers are doubles on
the wire. The bridge gives an integral number back as an integer, and refuses to send an integer
that a double cannot hold exactly (beyond 2**53): an amount that large travels as a string, as
x402's do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from offchain.agent import a2a_pb2 as pb
from offchain.agent import a2a_pb2_grpc as pb_grpc
from offchain.agent import rpc_status_pb2
from offchain.agent.errors import (
    A2A_BY_REASON,
    A2AError,
    A2AInvalidParamsError,
    A2AMethodNotFoundError,
    A2AResponseError,
    A2AUnauthenticatedError,
)

GRPC = "GRPC"
SERVICE = "lf.a2a.v1.A2AService"
DETAILS_KEY = "grpc-status-details-bin"
ERROR_INFO_URL = "type.googleapis.com/google.rpc.ErrorInfo"
ERROR_DOMAIN = "a2a-protocol.org"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
EXACT_INT = 2**53

# method -> (request message, response message, server-streaming)
METHODS: dict[str, tuple[type[ProtoMessage], type[ProtoMessage], bool]] = {
    "SendMessage": (pb.SendMessageRequest, pb.SendMessageResponse, False),
    "SendStreamingMessage": (pb.SendMessageRequest, pb.StreamResponse, True),
    "GetTask": (pb.GetTaskRequest, pb.Task, False),
    "ListTasks": (pb.ListTasksRequest, pb.ListTasksResponse, False),
    "CancelTask": (pb.CancelTaskRequest, pb.Task, False),
    "SubscribeToTask": (pb.SubscribeToTaskRequest, pb.StreamResponse, True),
    "CreateTaskPushNotificationConfig": (pb.TaskPushNotificationConfig, pb.TaskPushNotificationConfig, False),
    "GetTaskPushNotificationConfig": (
        pb.GetTaskPushNotificationConfigRequest,
        pb.TaskPushNotificationConfig,
        False,
    ),
    "ListTaskPushNotificationConfigs": (
        pb.ListTaskPushNotificationConfigsRequest,
        pb.ListTaskPushNotificationConfigsResponse,
        False,
    ),
    "GetExtendedAgentCard": (pb.GetExtendedAgentCardRequest, pb.AgentCard, False),
    "DeleteTaskPushNotificationConfig": (pb.DeleteTaskPushNotificationConfigRequest, empty_pb2.Empty, False),
}

# gRPC status of each A2A error (A2AError.status names it), the specification's table
STATUS_CODES = {c.name: c for c in grpc.StatusCode}
# a status without an ErrorInfo (another implementation's, or a transport failure) -> A2A error
_BY_CODE: dict[grpc.StatusCode, type[A2AError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: A2AInvalidParamsError,
    grpc.StatusCode.UNIMPLEMENTED: A2AMethodNotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: A2AUnauthenticatedError,
}


# ---------------------------------------------------------------- ProtoJSON bridge


def _exact(v: Any, where: str, err: type[A2AError]) -> None:
    if isinstance(v, bool):
        return
    if isinstance(v, int) and abs(v) > EXACT_INT:
        raise err(f"{where}: {v} does not fit a protobuf double exactly; send it as a string")
    if isinstance(v, dict):
        for k, x in v.items():
            _exact(x, f"{where}.{k}", err)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _exact(x, f"{where}[{i}]", err)


def _ints(v: Any) -> Any:
    """JSON from a message: a double that is an integer becomes one."""
    if isinstance(v, float) and v.is_integer() and abs(v) <= EXACT_INT:
        return int(v)
    if isinstance(v, dict):
        return {k: _ints(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_ints(x) for x in v]
    return v


def reshape(
    v: Any,
    desc: Descriptor,
    drop: Callable[[Descriptor, FieldDescriptor, Any], bool],
    keep_unknown: bool,
    finish: Callable[[Descriptor, dict[str, Any]], None] | None = None,
) -> Any:
    """The ProtoJSON object `v` of message `desc`, walked at every depth (JSON values such as
    Struct kept whole): a field `drop` says is left out, an unknown one kept or not, and each
    object handed to `finish` once walked."""
    if not isinstance(v, dict) or desc.full_name.startswith("google.protobuf."):
        return v

    def again(x: Any, d: Descriptor) -> Any:
        return reshape(x, d, drop, keep_unknown, finish)

    fields = {f.json_name: f for f in desc.fields} | {f.name: f for f in desc.fields}
    out: dict[str, Any] = {}
    for k, x in v.items():
        f = fields.get(k)
        if f is None:
            if keep_unknown:
                out[k] = x
            continue
        if drop(desc, f, x):
            continue
        sub = f.message_type
        if sub is None:
            out[k] = x
        elif sub.GetOptions().map_entry:
            vf = sub.fields_by_name["value"].message_type
            out[k] = (
                {mk: again(mx, vf) for mk, mx in x.items()} if vf is not None and isinstance(x, dict) else x
            )
        elif f.is_repeated and isinstance(x, list):
            out[k] = [again(e, sub) for e in x]
        else:
            out[k] = again(x, sub)
    if finish is not None:
        finish(desc, out)
    return out


def _known(v: Any, desc: Descriptor) -> Any:
    """`v` without the fields `desc` does not define."""
    return reshape(v, desc, lambda d, f, x: False, keep_unknown=False)


def to_proto(v: Any, cls: type[ProtoMessage], what: str, err: type[A2AError]) -> ProtoMessage:
    """The `cls` message of a ProtoJSON value (`err` when it is none: a wrong type, an unknown
    enum name, an integer a double cannot carry); unknown fields are ignored, as the
    specification asks, unknown enum values are not."""
    if not isinstance(v, dict):
        raise err(f"{what} must be a JSON object")
    _exact(v, what, err)
    try:
        return json_format.ParseDict(_known(v, cls.DESCRIPTOR), cls())
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise err(f"{what} is no {cls.DESCRIPTOR.full_name}: {exc}") from None


def to_json(msg: ProtoMessage) -> dict[str, Any]:
    """A message as ProtoJSON (camelCase, enums by name, default scalars left out)."""
    out: dict[str, Any] = _ints(json_format.MessageToDict(msg))
    return out


# ---------------------------------------------------------------- errors as statuses


def status_of(exc: A2AError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """(code, message, trailing metadata) of an A2A error: the specification's status code and a
    google.rpc.Status whose ErrorInfo carries the A2A reason."""
    code = STATUS_CODES.get(exc.status, grpc.StatusCode.INTERNAL)
    info = rpc_status_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN)
    status = rpc_status_pb2.Status(code=code.value[0], message=str(exc)[:1024])
    detail = status.details.add()
    detail.type_url = ERROR_INFO_URL
    detail.value = info.SerializeToString()
    return code, str(exc)[:1024], ((DETAILS_KEY, status.SerializeToString()),)


def error_of(exc: grpc.RpcError, what: str) -> A2AError:
    """The typed A2A error of a failed call: by the ErrorInfo reason when the status carries one,
    else by the status code (an unreachable agent: A2AResponseError)."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    trailers = (exc.trailing_metadata() if isinstance(exc, grpc.Call) else None) or ()
    reason = None
    for key, value in trailers:
        if key == DETAILS_KEY and isinstance(value, bytes):
            try:
                status = rpc_status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer: fall back on the status code
                break
            for d in status.details:
                if d.type_url == ERROR_INFO_URL:
                    info = rpc_status_pb2.ErrorInfo.FromString(d.value)
                    if info.domain == ERROR_DOMAIN:
                        reason = info.reason
    if reason is not None and reason in A2A_BY_REASON:
        cls = A2A_BY_REASON[reason]
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        cls = A2AResponseError
    else:
        cls = _BY_CODE.get(code, A2AError)
    return cls(f"{what}: {message} ({reason or code.name})")


# ---------------------------------------------------------------- the client's channel


def _loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GrpcChannel:
    """A client's channel to an agent's gRPC interface at `target` (``host:port``, as the card's
    interface names it). TLS with the system's roots unless `credentials` says otherwise; a
    loopback target without credentials is plain (a local agent)."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        if not target or "/" in target:
            raise A2AResponseError(f"a gRPC interface is host:port, not {target!r}")
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if credentials is None and _loopback(target):
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            creds = credentials or grpc.ssl_channel_credentials()
            self.channel = grpc.secure_channel(target, creds, options=options)
        self.stub = pb_grpc.A2AServiceStub(self.channel)
        self.target = target

    def close(self) -> None:
        self.channel.close()

    def _request(self, method: str, params: dict[str, Any]) -> tuple[Any, ProtoMessage]:
        if method not in METHODS:
            raise A2AMethodNotFoundError(f"{method} is no method of {SERVICE}")
        req_cls = METHODS[method][0]
        return getattr(self.stub, method), to_proto(params, req_cls, method, A2AInvalidParamsError)

    def call(
        self, method: str, params: dict[str, Any], metadata: Mapping[str, str], timeout_s: float
    ) -> dict[str, Any]:
        """One unary call; the answer as ProtoJSON (a refusal: its typed A2AError)."""
        fn, req = self._request(method, params)
        try:
            answer = fn(req, metadata=tuple((k.lower(), v) for k, v in metadata.items()), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise error_of(exc, method) from None
        return to_json(answer)

    def stream(
        self, method: str, params: dict[str, Any], metadata: Mapping[str, str], timeout_s: float
    ) -> Iterator[dict[str, Any]]:
        """The StreamResponses of a server-streaming call, as ProtoJSON."""
        fn, req = self._request(method, params)
        md = tuple((k.lower(), v) for k, v in metadata.items())
        call = fn(req, metadata=md, timeout=timeout_s)
        try:
            for answer in call:
                yield to_json(answer)
        except grpc.RpcError as exc:
            raise error_of(exc, method) from None
        finally:
            call.cancel()
