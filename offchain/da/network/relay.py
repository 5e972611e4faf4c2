"""The relay of EigenDA V2: holds certified blobs and serves ``GetBlob`` and ``GetChunks``.

Where its blobs come from: EigenDA's relays read the blobs the disperser wrote to its blob store, listed in
its metadata store; here the relay reads the disperser's metadata database (``MetadataStore``, SQLite in WAL
mode: readers do not block the disperser) and copies every COMPLETE blob into its own ``offchain/store``
tables, the blob in ``blobs`` and its encoded chunks (EigenDA's bundle, every chunk) in ``chunks``, both
with the validators' store duration as TTL. The disperser is unchanged: a relay only needs its database.

``GetBlob`` (``{blob_key}``) is public, as EigenDA's. ``GetChunks`` carries the requester's id, a timestamp
and its BLS signature over :func:`get_chunks_request_digest`; the relay checks it against the operator's key
from the network file (unknown operator 403, bad signature 401, timestamp too far from the clock 400).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from offchain.bls.keys import PublicKey, SecretKey, verify_single
from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.eigenda.encoder import Encoder
from offchain.da.errors import DAError, NetworkMessageError, RelayRateLimitError, RelayRequestError
from offchain.da.files import parse_bundle
from offchain.da.network.disperser import bundle_for, encode_chunks
from offchain.da.network.metadata import MetadataStore
from offchain.da.network.node import BLOCK_STALE_MEASURE, BLOCK_TIME_S, STORE_DURATION_BLOCKS
from offchain.da.network.payments import LeakyBucket
from offchain.da.network.types import ChunkRequest, get_chunks_request_digest, hex_field, is_u32, json_fields
from offchain.httpservice import logger
from offchain.store import Store

log = logger("da.relay")


def signed_get_chunks(requests: list[ChunkRequest], key: SecretKey, timestamp: int | None = None) -> dict:
    """A ``GetChunksRequest`` JSON signed by the operator ``key``."""
    ts = int(time.time()) if timestamp is None else timestamp
    oid = key.public_key().operator_id
    sig = key.sign(get_chunks_request_digest(requests, oid))
    return {
        "chunk_requests": [r.to_json() for r in requests],
        "operator_id": oid.hex(),
        "timestamp": ts,
        "operator_signature": bn254.g1_compress(bn254.g1_from_ints([sig])).hex(),
    }


@dataclass(frozen=True)
class RateLimits:
    """Leaky buckets of bytes served (EigenDA's relay limits GetChunks per requesting operator and GetBlob; here
    GetBlob per client address): each requester's bucket holds ``rate × burst_s`` bytes and leaks at ``rate``; a
    reply is served while any room is left (it may overfill once), else refused with 429 and nothing served.
    A rate of 0 leaves that method unlimited."""

    get_chunks_bytes_per_s: float = 0.0
    get_chunks_burst_s: float = 10.0
    get_blob_bytes_per_s: float = 0.0
    get_blob_burst_s: float = 10.0
    # EigenDA's operation limits (relay/limiter): requests per second as token buckets of ``*_ops_burst`` requests
    # (golang.org/x/time/rate's semantics), all requesters together and per operator, and requests in progress
    get_blob_ops_per_s: float = 0.0  # MaxGetBlobOpsPerSecond (all clients)
    get_blob_ops_burst: float = 1.0  # GetBlobOpsBurstiness
    get_chunks_ops_per_s: float = 0.0  # MaxGetChunkOpsPerSecond (all operators)
    get_chunks_ops_burst: float = 1.0  # GetChunkOpsBurstiness
    get_chunks_ops_per_s_operator: float = 0.0  # MaxGetChunkOpsPerSecondClient
    get_chunks_ops_burst_operator: float = 1.0  # GetChunkOpsBurstinessClient
    max_concurrent_get_blob: float = 0.0  # MaxConcurrentGetBlobOperations (0: unlimited)
    max_concurrent_get_chunks: float = 0.0  # MaxConcurrentGetChunkOperations


class OpsLimiter:
    """Requests per second as token buckets (x/time/rate's ``Allow``: ``burst`` tokens, refilled at ``rate``, one
    per request; none left: refused, nothing taken), one per requester (``per_requester``) or one for all; and at
    most ``max_concurrent`` requests in progress (0: any). A rate of 0 leaves the requests per second unlimited."""

    def __init__(
        self, what: str, rate: float, burst: float, max_concurrent: float = 0, max_buckets: int = 10_000
    ):
        self.what, self.rate, self.burst, self.max_buckets = what, rate, max(1.0, burst), max_buckets
        self.max_concurrent, self.running = int(max_concurrent), 0
        self.tokens: dict[str, tuple[float, float]] = {}  # requester -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, requester: str, now: float) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            if requester not in self.tokens and len(self.tokens) >= self.max_buckets:
                self.tokens = {k: v for k, v in self.tokens.items() if self._at(v, now) < self.burst}
            tokens = self._at(self.tokens.get(requester, (self.burst, now)), now)
            if tokens < 1:
                wait = (1 - tokens) / self.rate
                raise RelayRateLimitError(
                    f"{self.what}: {self.rate:g} requests/s for {requester} spent; retry in {wait:.2f} s",
                    wait,
                )
            self.tokens[requester] = (tokens - 1, now)

    def _at(self, state: tuple[float, float], now: float) -> float:
        tokens, at = state
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    @contextmanager
    def running_one(self) -> Iterator[None]:
        """One request in progress; refused (429) when ``max_concurrent`` already are."""
        with self._lock:
            if self.max_concurrent and self.running >= self.max_concurrent:
                raise RelayRateLimitError(
                    f"{self.what}: {self.max_concurrent} requests already in progress; retry shortly", 0.1
                )
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


class RateLimiter:
    """Per-requester :class:`~offchain.da.network.payments.LeakyBucket` s of bytes; buckets that have leaked
    empty are dropped once more than ``max_buckets`` exist (so spoofed requesters cannot grow it unbounded)."""

    def __init__(self, what: str, rate: float, burst_s: float, max_buckets: int = 10_000) -> None:
        self.what, self.rate, self.burst_s, self.max_buckets = what, rate, burst_s, max_buckets
        self.buckets: dict[str, LeakyBucket] = {}
        self._lock = threading.Lock()

    def take(self, requester: str, nbytes: int, now: float) -> None:
        if self.rate <= 0 or nbytes <= 0:
            return
        with self._lock:
            b = self.buckets.get(requester)
            if b is None:
                if len(self.buckets) >= self.max_buckets:
                    self.buckets = {k: v for k, v in self.buckets.items() if v.remaining(now) < v.capacity}
                b = self.buckets[requester] = LeakyBucket(self.rate, self.burst_s, False, now)
            if not b.fill(now, nbytes):
                wait = b.wait_s(now)
                raise RelayRateLimitError(
                    f"{self.what}: rate limit of {self.rate:g} bytes/s for {requester} spent "
                    f"({nbytes} bytes asked); retry in {wait:.1f} s",
                    wait,
                )


class Relay:
    def __init__(
        self,
        encoder: Encoder,
        store: Store,
        keys: Mapping[bytes, PublicKey],
        source: MetadataStore | None,
        *,
        ttl_s: float = (STORE_DURATION_BLOCKS + BLOCK_STALE_MEASURE) * BLOCK_TIME_S,
        max_request_age_s: float = 60.0,
        poll_s: float = 0.5,
        clock: Any = time.time,
        limits: RateLimits | None = None,
    ) -> None:
        self.encoder, self.keys, self.source = encoder, keys, source
        limits = limits or RateLimits()
        self.chunk_limiter = RateLimiter(
            "GetChunks", limits.get_chunks_bytes_per_s, limits.get_chunks_burst_s
        )
        self.blob_limiter = RateLimiter("GetBlob", limits.get_blob_bytes_per_s, limits.get_blob_burst_s)
        self.blob_ops = OpsLimiter(
            "GetBlob", limits.get_blob_ops_per_s, limits.get_blob_ops_burst, limits.max_concurrent_get_blob
        )
        self.chunk_ops = OpsLimiter(
            "GetChunks",
            limits.get_chunks_ops_per_s,
            limits.get_chunks_ops_burst,
            limits.max_concurrent_get_chunks,
        )
        self.chunk_ops_operator = OpsLimiter(
            "GetChunks", limits.get_chunks_ops_per_s_operator, limits.get_chunks_ops_burst_operator
        )
        self.blobs = store.table("blobs", ttl_s=ttl_s)
        self.chunks = store.table("chunks", ttl_s=ttl_s)
        self.max_request_age_s, self.poll_s, self.clock = max_request_age_s, poll_s, clock
        self._since: tuple[int, str] = (0, "")
        self.batch = 64
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- ingest -----------------------------------------------------------------------------

    def add_blob(self, key: bytes, blob: bytes) -> None:
        """Hold a certified blob and its chunks (every chunk, EigenDA's bundle)."""
        if self.blobs.exists(key):
            return
        ch = encode_chunks(self.encoder, blob)
        self.chunks.put(key, bundle_for(ch, list(range(ch.proofs.shape[0]))))
        self.blobs.put(key, blob)
        self.blobs.flush()
        self.chunks.flush()
        log.info("blob_held", extra={"blob_key": key.hex(), "symbols": len(blob) // 32})

    def sync(self) -> int:
        """Copy the disperser's newly COMPLETE blobs; how many were new."""
        if self.source is None:
            return 0
        rows = self.source.completed_since(self._since, self.batch)
        for key, data, cursor in rows:
            self.add_blob(key, data)
            self._since = cursor
        return len(rows)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="da-relay-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.sync():
                    self._stop.wait(self.poll_s)
            except Exception:  # noqa: BLE001 - the relay logs and keeps serving
                log.exception("sync_error")
                self._stop.wait(1.0)

    # ----- API --------------------------------------------------------------------------------

    def get_blob(self, key: bytes, client: str = "") -> bytes:
        """The blob; ``client`` (its address) is charged its size against the GetBlob rate limit; the request counts
        against the relay's GetBlob requests per second and in progress first."""
        self.blob_ops.allow("all clients", self.clock())
        with self.blob_ops.running_one():
            return self._get_blob(key, client)

    def _get_blob(self, key: bytes, client: str) -> bytes:
        value = self.blobs.get(key)
        if value is None:
            raise RelayRequestError(404, f"blob {key.hex()}: not held by this relay")
        self.blob_limiter.take(f"client {client}", len(value), self.clock())
        return bytes(value)

    def get_chunks(self, req: dict[str, Any]) -> dict[str, Any]:
        """``GetChunksReply``: one bundle-format byte string per request (all or nothing). The request counts
        against the relay's GetChunks requests per second and in progress before any work, and against the
        operator's own requests per second once its signature is checked."""
        self.chunk_ops.allow("all operators", self.clock())
        with self.chunk_ops.running_one():
            return self._get_chunks(req)

    def _get_chunks(self, req: dict[str, Any]) -> dict[str, Any]:
        f = json_fields(
            req, ("chunk_requests", "operator_id", "timestamp", "operator_signature"), "GetChunksRequest"
        )
        if not isinstance(f["chunk_requests"], list) or not f["chunk_requests"]:
            raise NetworkMessageError("chunk_requests: a non-empty list")
        requests = [ChunkRequest.from_json(r, i) for i, r in enumerate(f["chunk_requests"])]
        oid = hex_field(f["operator_id"], "operator_id", 32)
        ts = f["timestamp"]
        if not is_u32(ts):
            raise NetworkMessageError(f"timestamp: {ts!r} is not a uint32")
        sig_raw = hex_field(f["operator_signature"], "operator_signature", 32)
        pk = self.keys.get(oid)
        if pk is None:
            raise RelayRequestError(403, f"operator {oid.hex()} is not a known requester")
        if abs(self.clock() - ts) > self.max_request_age_s:
            raise RelayRequestError(
                400, f"timestamp {ts} is more than {self.max_request_age_s:g} s from the clock"
            )
        try:
            (sig,) = bn254.g1_to_ints(bn254.g1_decompress(sig_raw))
        except (PointError, DAError, ValueError) as exc:
            raise RelayRequestError(401, f"operator_signature: {exc}") from exc
        if not verify_single(get_chunks_request_digest(requests, oid), pk, sig):
            raise RelayRequestError(
                401, f"operator_signature: not operator {oid.hex()}'s signature over the request"
            )
        self.chunk_ops_operator.allow(f"operator {oid.hex()}", self.clock())
        data = []
        for r in requests:
            value = self.chunks.get(r.blob_key)
            if value is None:
                raise RelayRequestError(404, f"blob {r.blob_key.hex()}: not held by this relay")
            L, proofs, coeffs = parse_bundle(bytes(value))
            last = max(r.indices) if r.indices is not None else r.end - 1
            if last >= coeffs.shape[0]:  # checked before a range is expanded
                raise RelayRequestError(400, f"chunk index {last}: the blob has {coeffs.shape[0]} chunks")
            wanted = r.wanted()
            data.append(b"".join(proofs[32 * k : 32 * k + 32] + coeffs[k].tobytes() for k in wanted))
        # charged after the signature check (no one spends an operator's budget) and before anything is served
        self.chunk_limiter.take(f"operator {oid.hex()}", sum(len(d) for d in data), self.clock())
        return {"data": [d.hex() for d in data]}
