"""gRPC front of the DA network processes, beside their HTTP+JSON one (:mod:`offchain.da.network.service`).

Each process serves EigenDA's service on its ``grpc_port`` (TLS with its ``grpc_tls``): the disperser
``disperser.v2.Disperser`` (DisperseBlob, GetBlobStatus, GetBlobCommitment, GetPaymentState, GetValidatorSigningRate),
the relay ``relay.Relay`` (GetBlob, GetChunks), a validator ``validator.Dispersal`` (StoreChunks, GetNodeInfo) and
``validator.Retrieval`` (GetChunks, GetNodeInfo); the messages are EigenDA's
(:mod:`offchain.da.network.proto`). A call runs the same method as the HTTP route (``*_methods`` in
``service.py``) on the request's JSON form (:mod:`offchain.da.network.wire`), so both fronts check and
answer alike. Refusals carry the refusal's gRPC status (``grpc_code``: the table of docs/da-network.md)
and its message; protobuf bytes that do not parse, or a field of the wrong form, are INVALID_ARGUMENT; a
request over the process's ``max_request_bytes`` is RESOURCE_EXHAUSTED (gRPC's own limit); an unexpected
failure is INTERNAL, logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from offchain import settings
from offchain.da.errors import NetworkMessageError, RequestRefusedError
from offchain.da.network import wire
from offchain.da.network.config import GrpcTLS
from offchain.da.network.disperser import Disperser
from offchain.da.network.node import ValidatorNode
from offchain.da.network.relay import Relay
from offchain.da.network.service import disperser_methods, dlog, log, node_methods, relay_methods, rlog
from offchain.httpservice import ServiceError, check_loopback

Method = Callable[[dict[str, Any], str], dict[str, Any]]


def _peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` -> the address (what the relay charges GetBlob to)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return peer or "unknown"


class GrpcServer:
    """``services`` (service -> method name -> ``fn(body, peer)``) on ``host:port`` (port 0: a free one, see
    :attr:`port`), requests up to ``max_request_bytes``."""

    def __init__(
        self,
        services: Mapping[str, Mapping[str, Method]],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_request_bytes: int = 64 << 20,
        loopback_only: bool = True,
        who: Any = log,
        tls: GrpcTLS | None = None,
    ) -> None:
        if loopback_only:
            check_loopback(host)
        self.host, self.who = host, who
        generic = []
        for service, methods in services.items():
            handlers = {}
            for name, fn in methods.items():
                # KeyError: not one of the service's methods
                req_cls, rep_cls = wire.method_types(service, name)
                handler = self._handler(f"{service}/{name}", fn, req_cls, rep_cls)
                handlers[name] = grpc.unary_unary_rpc_method_handler(handler)
            generic.append(grpc.method_handlers_generic_handler(service, handlers))
        self.server = grpc.server(
            ThreadPoolExecutor(settings.da_grpc_workers(), thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", max_request_bytes),
                ("grpc.max_send_message_length", wire.GRPC_MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.server.add_generic_rpc_handlers(tuple(generic))
        h = f"[{host}]" if ":" in host else host
        self.tls = tls is not None and tls.cert is not None
        try:
            if (
                self.tls
            ):  # TLS only on this port; with a client CA, callers must present a certificate it signed
                creds = grpc.ssl_server_credentials(
                    [(tls.key, tls.cert)], root_certificates=tls.client_ca,
                    require_client_auth=tls.client_ca is not None,
                )  # fmt: skip
                self.port = self.server.add_secure_port(f"{h}:{port}", creds)
            else:
                self.port = self.server.add_insecure_port(f"{h}:{port}")
        except RuntimeError as exc:
            raise ServiceError(f"cannot bind gRPC {host}:{port}: {exc}") from exc
        if not self.port:
            raise ServiceError(f"cannot bind gRPC {host}:{port}")

    @property
    def url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'grpcs' if self.tls else 'grpc'}://{h}:{self.port}"

    def _handler(self, name: str, fn: Method, req_cls: Any, rep_cls: Any) -> Callable[[bytes, Any], bytes]:
        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            t0 = time.perf_counter()
            try:
                body = wire.to_json(wire.parse(req_cls, raw))
                reply = wire.from_json(rep_cls, fn(body, _peer_host(context.peer())))
                return reply.SerializeToString()
            except NetworkMessageError as exc:
                code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
            except RequestRefusedError as exc:
                code, message = getattr(grpc.StatusCode, exc.grpc_code, grpc.StatusCode.UNKNOWN), exc.message
            except Exception as exc:  # noqa: BLE001 - answered INTERNAL and logged, never a dropped call
                self.who.exception("grpc_internal_error", extra={"method": name, "error": repr(exc)})
                code, message = grpc.StatusCode.INTERNAL, f"{name}: internal error"
            self.who.info("grpc_refused", extra={
                "method": name, "code": code.name, "reason": message,
                "seconds": round(time.perf_counter() - t0, 4),
            })  # fmt: skip
            context.abort(code, message)
            raise AssertionError("unreachable: abort raises")

        return handle

    def start(self) -> GrpcServer:
        self.server.start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        self.server.stop(grace_s).wait(grace_s + 1)

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def disperser_grpc(disperser: Disperser, host: str, port: int, *, max_request_bytes: int = 64 << 20,
                   loopback_only: bool = True, tls: GrpcTLS | None = None) -> GrpcServer:  # fmt: skip
    """``disperser.v2.Disperser`` on ``host:port`` (not started; TLS with ``tls``'s cert and key)."""
    return GrpcServer(
        {"disperser.v2.Disperser": disperser_methods(disperser)}, host, port, max_request_bytes=max_request_bytes,
        loopback_only=loopback_only, tls=tls, who=dlog,
    )  # fmt: skip


def relay_grpc(relay: Relay, host: str, port: int, *, max_request_bytes: int = 1 << 20,
               loopback_only: bool = True, tls: GrpcTLS | None = None) -> GrpcServer:  # fmt: skip
    """``relay.Relay`` (GetBlob, GetChunks) on ``host:port`` (not started; TLS with ``tls``'s cert and key)."""
    return GrpcServer(
        {"relay.Relay": relay_methods(relay)}, host, port, max_request_bytes=max_request_bytes,
        loopback_only=loopback_only, tls=tls, who=rlog,
    )  # fmt: skip


def node_grpc(node: ValidatorNode, host: str, port: int, *, max_request_bytes: int = 64 << 20,
              loopback_only: bool = True, tls: GrpcTLS | None = None) -> GrpcServer:  # fmt: skip
    """``validator.Dispersal`` (StoreChunks, GetNodeInfo) and ``validator.Retrieval`` (GetChunks, GetNodeInfo) on
    ``host:port`` (not started; TLS with ``tls``'s cert and key)."""
    m = node_methods(node)
    services = {
        "validator.Dispersal": {"StoreChunks": m["StoreChunks"], "GetNodeInfo": m["GetNodeInfo"]},
        "validator.Retrieval": {"GetChunks": m["GetChunks"], "GetNodeInfo": m["GetNodeInfo"]},
    }
    return GrpcServer(
        services, host, port, max_request_bytes=max_request_bytes,
        loopback_only=loopback_only, tls=tls, who=log,
    )  # fmt: skip
