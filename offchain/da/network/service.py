"""HTTP+JSON front of the DA network processes, on the shared service stack (:mod:`offchain.httpservice`).

Validator node routes (EigenDA's ``validator.Dispersal`` / ``validator.Retrieval`` methods, JSON bodies
with the protobuf field names):

- ``POST /v2/StoreChunks``: a :class:`StoreChunksRequest` -> ``{"signature": G1 gnark-compressed hex}``,
  the node's BLS signature over the batch header hash;
- ``POST /v2/GetChunks``: ``{"blob_key", "quorum_id"}`` -> ``{"chunks": [hex], "chunk_encoding_format": 1}``;
- ``GET /v2/GetNodeInfo``: EigenDA's node info (version, arch, os, CPUs, memory), the node's operator id and
  blobs stored; ``GET /metrics``.

Refusals are JSON errors with the status the check maps to (400 malformed or invalid chunks, 401 bad
disperser signature, 403 unknown disperser, 404 unknown blob, 409 stale reference block, 413 too large) and,
as their ``code``, the gRPC status name the gRPC front (:mod:`offchain.da.network.rpc`) answers with.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from offchain import __version__, settings
from offchain.bls.keys import SecretKey
from offchain.crypto import bn254
from offchain.da.eigenda.encoder import Encoder
from offchain.da.errors import (
    DisperserRequestError,
    NetworkConfigError,
    NetworkMessageError,
    NodeRequestError,
    RelayRequestError,
)
from offchain.da.network.claims import ClaimKeeper, ClaimSubmitter
from offchain.da.network.config import (
    DisperserConfig,
    GrpcTLS,
    NodeConfig,
    OperatorsConfig,
    PaymentsConfig,
    RelayConfig,
)
from offchain.da.network.disperser import Disperser
from offchain.da.network.metadata import MetadataStore
from offchain.da.network.node import StoreChunksRequest, ValidatorNode
from offchain.da.network.operators import OperatorSource
from offchain.da.network.payments import (
    DISPERSER_BUCKET_S,
    VALIDATOR_BUCKET_S,
    PaymentMeter,
    VaultCache,
    VaultReader,
)
from offchain.da.network.relay import Relay
from offchain.da.network.signing import SigningRates
from offchain.da.network.types import BlobHeader, hex_field, json_fields
from offchain.da.network.wire import ClientTLS
from offchain.httpservice import HTTPError, Metrics, ServiceServer, logger, read_json
from offchain.store import Store

log = logger("da.node")


def node_methods(node: ValidatorNode) -> dict[str, Any]:
    """The node's ``validator.Dispersal`` (StoreChunks) and ``validator.Retrieval`` (GetChunks) methods on their
    JSON forms (the HTTP routes' and the gRPC services', :mod:`offchain.da.network.rpc`): ``fn(body, peer) ->
    reply``, raising :class:`NodeRequestError` or :class:`NetworkMessageError` (a refused batch is logged)."""

    def store_chunks(body: Any, peer: str) -> dict:
        t0 = time.perf_counter()
        try:
            req = StoreChunksRequest.from_json(body)
            sigma = node.store_chunks(req)
        except (NodeRequestError, NetworkMessageError) as exc:
            log.info("store_chunks_refused", extra={"reason": str(exc)})
            raise
        log.info("store_chunks", extra={
            "batch_header_hash": req.header.hash().hex(), "blobs": len(req.certificates),
            "reference_block_number": req.header.reference_block_number, "seconds": round(time.perf_counter() - t0, 4),
        })  # fmt: skip
        return {"signature": bn254.g1_compress(bn254.g1_from_ints([sigma])).hex()}

    def get_chunks(body: Any, peer: str) -> dict:
        f = json_fields(body, ("blob_key", "quorum_id"), "GetChunksRequest")
        key = hex_field(f["blob_key"], "blob_key", 32)
        q = f["quorum_id"]
        if not isinstance(q, int) or isinstance(q, bool) or not 0 <= q < 256:
            raise NetworkMessageError(f"quorum_id: {q!r} is not a quorum number")
        return node.get_chunks(key)

    def get_node_info(body: Any, peer: str) -> dict:
        json_fields(body, (), "GetNodeInfoRequest")
        return node_info()

    return {"StoreChunks": store_chunks, "GetChunks": get_chunks, "GetNodeInfo": get_node_info}


GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


def node_info() -> dict[str, Any]:
    """EigenDA's ``GetNodeInfoReply``: the software version, the machine's architecture and OS as Go's
    ``runtime.GOARCH`` / ``GOOS`` name them, the CPUs this process may run on (Go's ``GOMAXPROCS``), the
    machine's memory in bytes (0 when unknown)."""
    machine = platform.machine().lower()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        mem = 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {
        "semver": __version__, "arch": GO_ARCH.get(machine, machine), "os": platform.system().lower(),
        "num_cpu": cpus, "mem_bytes": max(0, mem),
    }  # fmt: skip


def node_app(node: ValidatorNode, max_request_bytes: int = 64 << 20) -> Any:
    metrics = Metrics(["/v2/StoreChunks", "/v2/GetChunks", "/v2/GetNodeInfo", "/metrics"])

    async def body(request: Request) -> Any:
        return await read_json(request, max_request_bytes)

    def refuse(exc: Exception) -> HTTPError:
        if isinstance(exc, NodeRequestError):
            return HTTPError(exc.status, exc.message, code=exc.grpc_code)
        return HTTPError(400, str(exc), code="INVALID_ARGUMENT")

    methods = node_methods(node)

    async def call(request: Request, name: str) -> JSONResponse:
        try:
            f = await body(request)
            peer = request.client.host if request.client else ""
            return JSONResponse(await run_in_threadpool(methods[name], f, peer))
        except (NodeRequestError, NetworkMessageError) as exc:
            return refuse(exc).response()
        except HTTPError as exc:
            return exc.response()

    async def store_chunks(request: Request) -> JSONResponse:
        return await call(request, "StoreChunks")

    async def get_chunks(request: Request) -> JSONResponse:
        return await call(request, "GetChunks")

    async def node_info_route(request: Request) -> JSONResponse:
        return JSONResponse(
            {**node_info(), "operator_id": node.operator_id.hex(), "chunks_stored": node.table.key_count()}
        )

    async def metrics_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render({"da_node_blobs_stored": node.table.key_count()}))

    app = Starlette(
        routes=[
            Route("/v2/StoreChunks", store_chunks, methods=["POST"]),
            Route("/v2/GetChunks", get_chunks, methods=["POST"]),
            Route("/v2/GetNodeInfo", node_info_route, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ]
    )
    return metrics.wrap(app)


def payment_meter(cfg: PaymentsConfig | None, vault: VaultReader | None, bucket_s: float, who: Any) -> Any:
    """The meter of a process's ``payments`` section (None without one: logged as unmetered)."""
    if cfg is None:
        who.warning(
            "payments_unmetered", extra={"reason": "no payments section: every payment header is accepted"}
        )
        return None
    if vault is None:
        raise NetworkConfigError("payments: configured, but no payment vault reader was given")
    return PaymentMeter(
        VaultCache(vault, cfg.refresh_s), bucket_s=bucket_s, max_age_s=cfg.max_dispersal_age_s,
        max_future_s=cfg.max_future_dispersal_s,
    )  # fmt: skip


def chain_operators(cfg: OperatorsConfig | None, source: OperatorSource | None) -> OperatorSource | None:
    """The operator source an ``operators`` section names (the command builds it from ``offchain.chain``)."""
    if cfg is not None and source is None:
        raise NetworkConfigError("operators: configured, but no registry reader was given")
    return source


def node_server(
    cfg: NodeConfig, vault: VaultReader | None = None, operators: OperatorSource | None = None
) -> tuple[ServiceServer, ValidatorNode, Store]:
    """The node of ``cfg`` and its server (not started); ``vault`` reads the PaymentVault its ``payments`` names
    (the node meters reservations with its own 120 s buckets); ``operators`` reads the stakes at each batch's
    reference block when ``cfg`` has an ``operators`` section (else the network file's)."""
    meter = payment_meter(cfg.payments, vault, VALIDATOR_BUCKET_S, log)
    operators = chain_operators(cfg.operators, operators)
    store = Store(cfg.store_dirs)
    node = ValidatorNode(
        SecretKey.from_bytes(cfg.bls_key),
        cfg.state,
        Encoder(cfg.srs),
        store,
        stale_blocks=cfg.stale_blocks,
        max_request_age_s=cfg.max_request_age_s,
        meter=meter,
        operators=operators,
    )
    server = ServiceServer(
        node_app(node, cfg.max_request_bytes),
        cfg.host,
        cfg.port,
        log_level=cfg.log_level,
        loopback_only=not cfg.public,
    )
    return server, node, store


async def json_call(request: Request, max_bytes: int, fn: Any, refusal: type, log_to: Any) -> JSONResponse:
    """``fn(body)`` in a worker thread as the JSON reply; ``refusal`` errors (with their status), malformed
    messages (400) and oversized or non-JSON bodies become JSON errors."""
    try:
        return JSONResponse(await run_in_threadpool(fn, await read_json(request, max_bytes)))
    except refusal as exc:
        log_to.info("request_refused", extra={"path": request.url.path, "reason": exc.message})
        return HTTPError(exc.status, exc.message, code=exc.grpc_code).response()
    except NetworkMessageError as exc:
        return HTTPError(400, str(exc), code="INVALID_ARGUMENT").response()
    except HTTPError as exc:
        return exc.response()


# ----- the disperser ------------------------------------------------------------------------------

dlog = logger("da.disperser")
SIGNING_RATE_FIELDS = ("validator_id", "quorum", "start_timestamp", "end_timestamp")
DISPERSE_FIELDS = ("blob", "blob_header", "signature", "anchor_signature", "disperser_id", "chain_id")


def disperser_methods(disperser: Disperser) -> dict[str, Any]:
    """The disperser's ``disperser.v2.Disperser`` methods on their JSON forms (the HTTP routes' and the gRPC
    service's, :mod:`offchain.da.network.rpc`): ``fn(body, peer) -> reply``, raising
    :class:`DisperserRequestError` or :class:`NetworkMessageError`."""

    def disperse(body: Any, peer: str) -> dict:
        # EigenDA's anchor fields are optional in the JSON form (the protobuf's defaults when absent)
        full = (
            {"anchor_signature": "", "disperser_id": 0, "chain_id": "", **body}
            if isinstance(body, dict)
            else body
        )
        f = json_fields(full, DISPERSE_FIELDS, "DisperseBlobRequest")
        blob = hex_field(f["blob"], "blob")
        header = BlobHeader.from_json(f["blob_header"])
        did = f["disperser_id"]
        if not isinstance(did, int) or isinstance(did, bool) or not 0 <= did < 1 << 32:
            raise NetworkMessageError(f"disperser_id: {did!r} is not a uint32")
        status, key = disperser.disperse_blob(
            blob, header, hex_field(f["signature"], "signature", 65),
            hex_field(f["anchor_signature"], "anchor_signature"), did, hex_field(f["chain_id"], "chain_id"),
        )  # fmt: skip
        return {"result": status.name, "blob_key": key.hex()}

    def blob_status(body: Any, peer: str) -> dict:
        f = json_fields(body, ("blob_key",), "BlobStatusRequest")
        return disperser.blob_status(hex_field(f["blob_key"], "blob_key", 32))

    def blob_commitment(body: Any, peer: str) -> dict:
        f = json_fields(body, ("blob",), "BlobCommitmentRequest")
        return {"blob_commitment": disperser.get_blob_commitment(hex_field(f["blob"], "blob")).to_json()}

    def payment_state(body: Any, peer: str) -> dict:
        f = json_fields(body, ("account_id", "timestamp", "signature"), "GetPaymentStateRequest")
        ts = f["timestamp"]
        if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 1 << 64:
            raise NetworkMessageError(f"timestamp: {ts!r} is not a uint64 (ns)")
        return disperser.payment_state(f["account_id"], ts, hex_field(f["signature"], "signature", 65))

    def signing_rate(body: Any, peer: str) -> dict:
        f = json_fields(body, SIGNING_RATE_FIELDS, "GetValidatorSigningRateRequest")
        for name, bits in (("quorum", 8), ("start_timestamp", 64), ("end_timestamp", 64)):
            v = f[name]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
                raise NetworkMessageError(f"{name}: {v!r} is not a uint{bits}")
        vid = hex_field(f["validator_id"], "validator_id")
        return disperser.signing_rate(vid, f["quorum"], f["start_timestamp"], f["end_timestamp"])

    return {
        "DisperseBlob": disperse,
        "GetBlobStatus": blob_status,
        "GetBlobCommitment": blob_commitment,
        "GetPaymentState": payment_state,
        "GetValidatorSigningRate": signing_rate,
    }


def disperser_app(disperser: Disperser, max_request_bytes: int = 64 << 20) -> Any:
    """EigenDA's ``disperser.v2.Disperser`` methods as JSON routes (protobuf field names, bytes as hex):

    - ``POST /v2/DisperseBlob``: ``{blob, blob_header, signature}`` -> ``{result: "QUEUED", blob_key}``;
    - ``POST /v2/GetBlobStatus``: ``{blob_key}`` -> ``{status, signed_batch, blob_inclusion_info}``;
    - ``POST /v2/GetBlobCommitment``: ``{blob}`` -> ``{blob_commitment}``;
    - ``POST /v2/GetPaymentState``: ``{account_id, timestamp, signature}`` -> the account's payment state.

    A refused payment's error carries EigenDA's gRPC status name as its ``code``.
    """
    metrics = Metrics([
        "/v2/DisperseBlob", "/v2/GetBlobStatus", "/v2/GetBlobCommitment", "/v2/GetPaymentState",
        "/v2/GetValidatorSigningRate", "/metrics",
    ])  # fmt: skip

    methods = disperser_methods(disperser)

    def route(name: str) -> Route:
        async def call(request: Request) -> JSONResponse:
            return await json_call(
                request, max_request_bytes, lambda body: methods[name](body, ""), DisperserRequestError, dlog
            )

        return Route(f"/v2/{name}", call, methods=["POST"])

    async def metrics_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render())

    app = Starlette(
        routes=[
            *(route(name) for name in methods),
            Route("/metrics", metrics_route, methods=["GET"]),
        ]
    )
    return metrics.wrap(app)


def client_tls(tls: GrpcTLS | None) -> ClientTLS | None:
    """What a process presents and trusts on its own ``grpcs://`` calls, from its ``grpc_tls`` section."""
    return None if tls is None else ClientTLS(tls.ca, tls.cert, tls.key)


def disperser_server(
    cfg: DisperserConfig, vault: VaultReader | None = None, operators: OperatorSource | None = None,
    claims: ClaimSubmitter | None = None,
) -> tuple[ServiceServer, Disperser]:  # fmt: skip
    """The disperser of ``cfg`` (its batcher not started) and its server (not started). With ``payments`` in
    ``cfg``, ``vault`` reads the PaymentVault it names and ``claims`` (when given) claims the on-demand payments
    it accepts there, every ``EIGEN_DA_CLAIM_INTERVAL`` seconds and after each batch (the command builds both
    from ``offchain.chain``)."""
    meter = payment_meter(cfg.payments, vault, DISPERSER_BUCKET_S, dlog)
    operators = chain_operators(cfg.operators, operators)
    db = MetadataStore(cfg.metadata)
    keeper = None
    interval = settings.da_claim_interval()
    if claims is not None and interval is not None:
        keeper = ClaimKeeper(db, claims, batch_size=settings.da_claim_batch(), interval_s=interval)
    elif cfg.payments is not None:
        dlog.warning("payments_unclaimed", extra={
            "reason": "EIGEN_DA_CLAIM_INTERVAL is off" if claims is not None else "no claim submitter",
        })  # fmt: skip
    disperser = Disperser(
        cfg.key,
        cfg.disperser_id,
        Encoder(cfg.srs, cfg.backend, table_cache=settings.da_table_cache()),
        cfg.state.stakes,
        cfg.urls,
        cfg.public_keys,
        db,
        params=cfg.state.params,
        confirmation_threshold=cfg.confirmation_threshold,
        reference_block_number=cfg.reference_block_number,
        batch_size=cfg.batch_size,
        batches_in_flight=cfg.batches_in_flight,
        meter=meter,
        operators=operators,
        claims=keeper,
        chain_id=cfg.chain_id,
        require_anchor=cfg.require_anchor_signature,
        grpc_tls=client_tls(cfg.grpc_tls),
        signing=SigningRates(cfg.signing_rates, retention_s=cfg.signing_rate_retention_s),
    )
    server = ServiceServer(
        disperser_app(disperser, cfg.max_request_bytes), cfg.host, cfg.port, log_level=cfg.log_level,
        loopback_only=not cfg.public,
    )  # fmt: skip
    return server, disperser


# ----- the relay ----------------------------------------------------------------------------------

rlog = logger("da.relay")


def relay_methods(relay: Relay) -> dict[str, Any]:
    """The relay's ``relay.Relay`` methods on their JSON forms (the HTTP routes' and the gRPC service's):
    ``fn(body, peer) -> reply``; ``peer`` (the client's address) is charged GetBlob's bytes."""

    def get_blob(body: Any, peer: str) -> dict:
        f = json_fields(body, ("blob_key",), "GetBlobRequest")
        return {"blob": relay.get_blob(hex_field(f["blob_key"], "blob_key", 32), peer).hex()}

    return {"GetBlob": get_blob, "GetChunks": lambda body, peer: relay.get_chunks(body)}


def relay_app(relay: Relay, max_request_bytes: int = 1 << 20) -> Any:
    """EigenDA's ``relay.Relay`` methods as JSON routes (protobuf field names, bytes as hex):

    - ``POST /v2/GetBlob``: ``{blob_key}`` -> ``{blob}``;
    - ``POST /v2/GetChunks``: ``{chunk_requests, operator_id, timestamp, operator_signature}`` -> ``{data}``.
    """
    metrics = Metrics(["/v2/GetBlob", "/v2/GetChunks", "/metrics"])

    async def call(request: Request, fn: Any) -> JSONResponse:
        return await json_call(request, max_request_bytes, fn, RelayRequestError, rlog)

    methods = relay_methods(relay)

    async def get_blob(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        return await call(request, lambda body: methods["GetBlob"](body, client))

    async def get_chunks(request: Request) -> JSONResponse:
        return await call(request, lambda body: methods["GetChunks"](body, ""))

    async def metrics_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render({"da_relay_blobs_held": relay.blobs.key_count()}))

    routes = [
        Route("/v2/GetBlob", get_blob, methods=["POST"]),
        Route("/v2/GetChunks", get_chunks, methods=["POST"]),
    ]
    return metrics.wrap(Starlette(routes=[*routes, Route("/metrics", metrics_route, methods=["GET"])]))


def relay_server(cfg: RelayConfig) -> tuple[ServiceServer, Relay, Store]:
    """The relay of ``cfg`` (its sync thread not started) and its server (not started)."""
    store = Store(cfg.store_dirs)
    relay = Relay(
        Encoder(cfg.srs), store, cfg.public_keys, MetadataStore(cfg.source),
        max_request_age_s=cfg.max_request_age_s, limits=cfg.rate_limits,
    )  # fmt: skip
    server = ServiceServer(
        relay_app(relay, cfg.max_request_bytes), cfg.host, cfg.port, log_level=cfg.log_level,
        loopback_only=not cfg.public,
    )  # fmt: skip
    return server, relay, store
