"""The disperser of EigenDA V2: accept signed blobs, encode, send validators their chunks, certify.

``DisperseBlob`` checks the payer's signature over the blob key (:func:`check_request_signature`) and
that the header's commitment is the blob's, records the blob QUEUED in the metadata database and
acknowledges it. A batcher thread then takes the queued blobs in batches: encodes each (ENCODED: chunks
with FK20 proofs), builds the batch (certificates, wealdtech Merkle root, batch header), sends each
validator its ``StoreChunks`` (its assigned chunks of every blob, signed by the disperser's key;
GATHERING_SIGNATURES), aggregates the BLS signatures (:func:`attestation.aggregate`), and marks the blobs
COMPLETE with their inclusion proof, or FAILED when any quorum's signed stake is below the confirmation
threshold: a certificate is never issued without the stake behind it. With a claim keeper
(:mod:`offchain.da.network.claims`), the on-demand payments it accepted are claimed in the PaymentVault
after each batch (the DA fees).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from offchain.bls import group
from offchain.bls.keys import PublicKey
from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.eigenda.encoder import Encoder
from offchain.da.errors import (
    AssignmentError,
    DAError,
    DisperserRequestError,
    GrpcCallError,
    NetworkMessageError,
    OperatorStateError,
    PaymentReplayError,
)
from offchain.da.files import bundle_bytes
from offchain.da.network import wire
from offchain.da.network.assignment import BlobParams, assignments_for_blob
from offchain.da.network.attestation import Attestation, aggregate
from offchain.da.network.claims import ClaimKeeper
from offchain.da.network.metadata import BlobStatus, MetadataStore
from offchain.da.network.node import StoreChunksRequest
from offchain.da.network.operators import OperatorSource, OperatorState, StaticOperators
from offchain.da.network.payments import PaymentMeter
from offchain.da.network.signing import SigningRates
from offchain.da.network.types import (
    BatchHeader,
    BlobCertificate,
    BlobCommitment,
    BlobHeader,
    MerkleTree,
    PaymentHeader,
    check_request_signature,
    dispersal_anchor_hash,
    payment_state_request_digest,
    payment_state_request_hash,
    sign_digest,
    signer_of,
)
from offchain.httpservice import logger

log = logger("da.disperser")
V0_PARAMS = BlobParams()


@dataclass
class EncodedChunks:
    """A blob's chunks: proofs (gnark G1, 32 bytes each, chunk order) and coefficients (uint8 (n, L, 32))."""

    proofs: np.ndarray
    coeffs: np.ndarray
    L: int


def blob_commitment(encoder: Encoder, blob: bytes) -> BlobCommitment:
    """``GetBlobCommitment``: commitment, length commitment and proof of ``blob`` (32-byte symbols)."""
    coeffs = encoder.blob_to_coeffs(blob)
    return BlobCommitment.from_points(
        encoder.commit(coeffs),
        encoder.length_commitment(coeffs),
        encoder.length_proof(coeffs),
        len(blob) // 32,
    )


def encode_chunks(encoder: Encoder, blob: bytes) -> EncodedChunks:
    frames = encoder.frames(encoder.blob_to_coeffs(blob))
    L = frames.params.chunk_length
    proofs = np.frombuffer(bn254.g1_compress(frames.proofs), np.uint8).reshape(-1, 32)
    return EncodedChunks(proofs, encoder.c.fr.to_bytes(frames.coeffs).reshape(-1, L, 32), L)


def bundle_for(chunks: EncodedChunks, indices: list[int]) -> bytes:
    """EigenDA's bundle of the chunks at ``indices`` (empty when none is assigned)."""
    if not indices:
        return b""
    idx = np.asarray(indices)
    return bundle_bytes(chunks.L, chunks.proofs[idx].tobytes(), chunks.coeffs[idx])


def signed_store_request(
    key: bytes, disperser_id: int, header: BatchHeader, certs: list[BlobCertificate], bundles: list[bytes],
    timestamp: int | None = None,
) -> StoreChunksRequest:  # fmt: skip
    """A ``StoreChunks`` request signed by the disperser's secp256k1 ``key``."""
    ts = int(time.time()) if timestamp is None else timestamp
    unsigned = StoreChunksRequest(header, certs, disperser_id, ts, b"\x00" * 65, bundles)
    return StoreChunksRequest(header, certs, disperser_id, ts, sign_digest(key, unsigned.digest()), bundles)


def _g1(p: Any) -> list[str] | None:
    return None if p is None else [hex(v) for v in p]


def _g2(q: Any) -> list[list[str]] | None:
    if q is None:
        return None
    (x1, x0), (y1, y0) = group.g2_to_evm(q)
    return [[hex(x1), hex(x0)], [hex(y1), hex(y0)]]


def attestation_json(att: Attestation) -> dict[str, Any]:
    """``disperser.v2.Attestation`` with points as EVM integers (G2 as [[x1, x0], [y1, y0]]); ``registry_signature``
    (an addition) is the same with each signer counted once, what the BLSRegistry's checker takes."""
    once = {}
    if att.once is not None:
        once = {"registry_signature": {
            "non_signer_pubkeys": [_g1(p) for p in att.once.non_signer_pubkeys],
            "apk_g2": _g2(att.once.apk_g2), "sigma": _g1(att.once.sigma),
        }}  # fmt: skip
    return {
        **once,
        "non_signer_pubkeys": [_g1(p) for p in att.non_signer_pubkeys],
        "apk_g2": _g2(att.apk_g2),
        "quorum_apks": [_g1(p) for p in att.quorum_apks],
        "sigma": _g1(att.sigma),
        "quorum_numbers": att.quorum_numbers,
        "quorum_signed_percentages": att.quorum_signed_percentages,
    }


class Disperser:
    def __init__(
        self,
        key: bytes,
        disperser_id: int,
        encoder: Encoder,
        stakes: Mapping[int, Mapping[bytes, int]],
        urls: Mapping[bytes, str],
        public_keys: Mapping[bytes, PublicKey],
        db: MetadataStore,
        *,
        params: BlobParams = V0_PARAMS,
        confirmation_threshold: int = 55,
        reference_block_number: int = 0,
        max_blob_symbols: int | None = None,
        batch_size: int = 32,
        batches_in_flight: int = 1,
        store_timeout_s: float = 60.0,
        meter: PaymentMeter | None = None,
        operators: OperatorSource | None = None,
        claims: ClaimKeeper | None = None,
        chain_id: int | None = None,
        require_anchor: bool = False,
        grpc_tls: wire.ClientTLS | None = None,
        signing: SigningRates | None = None,
    ) -> None:
        self.key, self.disperser_id, self.encoder = key, disperser_id, encoder
        # DisperseBlobRequest.anchor_signature: checked against this chain and disperser id when present;
        # required only with require_anchor (EigenDA's TolerateMissingAnchorSignature, default true)
        self.chain_id, self.require_anchor = chain_id, require_anchor
        self.grpc_tls = grpc_tls  # trust (and client certificate) for validators at grpcs:// URLs
        # where each batch's reference block and the operators' stakes and keys at it come from
        self.operators = operators or StaticOperators(stakes, public_keys, reference_block_number)
        self.stakes, self.urls, self.public_keys, self.db = stakes, urls, public_keys, db
        self.params, self.threshold = params, confirmation_threshold
        self.reference_block_number = reference_block_number
        self.max_blob_symbols = max_blob_symbols or encoder.srs.g1.shape[-1]
        self.batch_size, self.store_timeout_s = batch_size, store_timeout_s
        self.meter = meter
        self.claims = claims  # claims the accepted on-demand payments in the PaymentVault (claims.py)
        # each validator's signing per quorum, GetValidatorSigningRate (signing.py; default: in memory)
        self.signing = signing if signing is not None else SigningRates()
        self._seen_state_requests: dict[bytes, int] = {}  # GetPaymentState replay guard: hash -> timestamp
        self._seen_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.batches_in_flight = batches_in_flight
        self._threads: list[threading.Thread] = []
        self._claimed: set[bytes] = set()  # the blobs of the batches in flight (no two batches take one)
        self._claim_lock = threading.Lock()

    # ----- API --------------------------------------------------------------------------------------

    def check_blob(self, blob: bytes) -> None:
        n = len(blob) // 32
        if not blob or len(blob) % 32 or n & (n - 1):
            raise DisperserRequestError(
                400, f"blob: {len(blob)} bytes is not a power of two of 32-byte symbols"
            )
        if n > self.max_blob_symbols:
            raise DisperserRequestError(
                413, f"blob: {n} symbols, this disperser takes at most {self.max_blob_symbols}"
            )
        try:
            self.encoder.blob_to_coeffs(blob)
        except DAError as exc:
            raise DisperserRequestError(400, f"blob: {exc}") from exc

    def get_blob_commitment(self, blob: bytes) -> BlobCommitment:
        self.check_blob(blob)
        return blob_commitment(self.encoder, blob)

    def check_anchor(
        self, header: BlobHeader, key: bytes, anchor: bytes, disperser_id: int, chain_id: bytes
    ) -> None:
        """EigenDA's ``validateAnchorSignature``: ``anchor`` (``DisperseBlobRequest.anchor_signature``) is the
        account's signature over :func:`dispersal_anchor_hash` of this disperser's chain id and id and the blob
        key, so a request signed for another disperser or chain cannot be replayed here. A missing anchor is
        accepted unless ``require_anchor``. Every refusal is 400 (INVALID_ARGUMENT, as EigenDA's)."""
        if not anchor:
            if self.require_anchor:
                raise DisperserRequestError(
                    400, "anchor_signature: required by this disperser but not provided"
                )
            return
        if len(anchor) != 65:
            raise DisperserRequestError(400, f"anchor_signature: {len(anchor)} bytes, expected 65")
        if self.chain_id is None:
            raise DisperserRequestError(
                400, "anchor_signature: this disperser has no chain_id configured and cannot check anchors"
            )
        if disperser_id != self.disperser_id:
            raise DisperserRequestError(
                400, f"anchor_signature: disperser id mismatch: the request names {disperser_id}, "
                f"this disperser is {self.disperser_id}",
            )  # fmt: skip
        if len(chain_id) != 32:
            raise DisperserRequestError(
                400, f"chain_id: {len(chain_id)} bytes, expected 32 (uint256 big-endian)"
            )
        named = int.from_bytes(chain_id, "big")
        if named != self.chain_id:
            raise DisperserRequestError(
                400, f"anchor_signature: chain id mismatch: the request names chain {named}, "
                f"this disperser is on chain {self.chain_id}",
            )  # fmt: skip
        try:
            signer = signer_of(dispersal_anchor_hash(named, disperser_id, key), anchor)
        except NetworkMessageError as exc:
            raise DisperserRequestError(400, f"anchor_signature: {exc}") from exc
        account = header.payment_header.account
        if signer != account:
            raise DisperserRequestError(
                400, f"anchor_signature: signed by {signer}, not by the account {account}"
            )

    def disperse_blob(
        self, blob: bytes, header: BlobHeader, signature: bytes, anchor: bytes = b"", disperser_id: int = 0,
        chain_id: bytes = b"",
    ) -> tuple[BlobStatus, bytes]:  # fmt: skip
        """``DisperseBlob``: ``signature`` is the payer's over the blob key; ``anchor`` (optional unless
        ``require_anchor``) its anchor signature for ``disperser_id`` on chain ``chain_id`` (32 bytes)."""
        self.check_blob(blob)
        try:
            key = check_request_signature(header, signature)
        except NetworkMessageError as exc:
            raise DisperserRequestError(401, str(exc)) from exc
        self.check_anchor(header, key, anchor, disperser_id, chain_id)
        if header.version != 0:
            raise DisperserRequestError(
                400, f"blob_header.version: {header.version}, only version 0 is known"
            )
        try:
            current = self.operators.state_at(self.operators.reference_block()).stakes
        except OperatorStateError as exc:
            raise DisperserRequestError(503, f"operator state: {exc}") from exc
        unknown = [q for q in header.quorum_numbers if not current.get(q)]
        if unknown:
            raise DisperserRequestError(400, f"blob_header.quorum_numbers: no operators in quorums {unknown}")
        if header.commitment.length != len(blob) // 32:
            raise DisperserRequestError(400, "blob_header.commitment.length: not the blob's length")
        if blob_commitment(self.encoder, blob) != header.commitment:
            raise DisperserRequestError(400, "blob_header.commitment: not the blob's commitment")
        if self.db.has_blob(key):
            raise DisperserRequestError(409, f"blob {key.hex()} was already dispersed")
        pay = header.payment_header
        charge = None
        if self.meter is not None:
            charge = self.meter.authorize(header, self.db.cumulative_payment(pay.account))
        on_demand = None if pay.is_reservation else (pay.account, pay.cumulative_payment)
        try:
            added = self.db.add_blob(key, header.to_json(), signature, blob, on_demand)
        except PaymentReplayError:
            if charge is not None:
                self.meter.revert(charge)
            raise
        if not added:
            if charge is not None:
                self.meter.revert(charge)
            raise DisperserRequestError(409, f"blob {key.hex()} was already dispersed")
        log.info(
            "blob_queued", extra={"blob_key": key.hex(), "symbols": len(blob) // 32, "anchored": bool(anchor)}
        )
        self._wake.set()
        return BlobStatus.QUEUED, key

    def payment_state(self, account_id: str, timestamp: int, signature: bytes) -> dict[str, Any]:
        """``GetPaymentState``: the account's reservation, its last accepted on-demand total, its deposit and
        the vault's parameters; signed by the account over :func:`payment_state_request_digest`, the
        timestamp (ns) within the dispersal window and not seen before (EigenDA's replay guardian)."""
        if self.meter is None:
            raise DisperserRequestError(501, "GetPaymentState: this disperser does not meter payments")
        account = PaymentHeader(account_id, 0).account
        try:
            signer = signer_of(payment_state_request_digest(account_id, timestamp), signature)
        except NetworkMessageError as exc:
            raise DisperserRequestError(401, str(exc)) from exc
        if signer != account:
            raise DisperserRequestError(401, f"signature: signed by {signer}, not by the account {account}")
        self.meter.check_time(timestamp)
        h = payment_state_request_hash(account_id, timestamp)
        now = self.meter.wall_ns()
        with self._seen_lock:
            horizon = now - self.meter.max_age_ns - self.meter.max_future_ns
            self._seen_state_requests = {k: t for k, t in self._seen_state_requests.items() if t >= horizon}
            if h in self._seen_state_requests:
                raise PaymentReplayError("GetPaymentState: this request was already answered")
            self._seen_state_requests[h] = timestamp
        return self.meter.state(account, self.db.cumulative_payment(account))

    def signing_rate(self, validator_id: bytes, quorum: int, start_s: int, end_s: int) -> dict[str, Any]:
        """``GetValidatorSigningRate``: the validator's signed and unsigned batches (and bytes, and signing
        latency) in ``quorum`` over the buckets overlapping ``[start_s, end_s)`` (:mod:`.signing`)."""
        if len(validator_id) != 32:
            raise DisperserRequestError(400, f"validator_id: {len(validator_id)} bytes, expected 32")
        if end_s < start_s:
            raise DisperserRequestError(400, f"end_timestamp {end_s} is before start_timestamp {start_s}")
        return {"validator_signing_rate": self.signing.rate(validator_id, quorum, start_s, end_s)}

    def blob_status(self, key: bytes) -> dict[str, Any]:
        row = self.db.blob(key)
        if row is None:
            raise DisperserRequestError(404, f"blob {key.hex()}: unknown")
        reply: dict[str, Any] = {"status": row["status"].name}
        if row["reason"]:
            reply["failure_reason"] = row["reason"]
        if row["status"] == BlobStatus.COMPLETE:
            reply["signed_batch"] = row["signed_batch"]
            reply["blob_inclusion_info"] = row["inclusion"]
        return reply

    # ----- batcher ----------------------------------------------------------------------------------

    def start(self) -> None:
        """``batches_in_flight`` batcher threads: while one batch waits for the validators' signatures, another
        encodes the next blobs (each batch takes blobs no other batch in flight holds)."""
        for i in range(self.batches_in_flight):
            t = threading.Thread(target=self._loop, name=f"da-batcher-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.claims is not None:
            self.claims.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(self.store_timeout_s + 5)
        if self.claims is not None:
            self.claims.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.run_batch():
                    self._wake.wait(1.0)
                    self._wake.clear()
            except Exception:  # noqa: BLE001 - the batcher logs and keeps serving
                log.exception("batch_error")
                time.sleep(1.0)

    def run_batch(self) -> bool:
        """Disperse one batch of pending blobs; False when none is pending (or the operators' state cannot be
        read: the blobs stay pending)."""
        try:
            state = self.operator_state()
        except OperatorStateError as exc:
            log.warning("operator_state_unavailable", extra={"reason": str(exc)})
            return False
        with self._claim_lock:  # the oldest pending blobs no batch in flight holds
            pending = [
                p for p in self.db.pending(self.batch_size + len(self._claimed)) if p[0] not in self._claimed
            ]
            pending = pending[: self.batch_size]
            self._claimed.update(k for k, _, _, _ in pending)
        if not pending:
            return False
        try:
            return self._run_batch(state, pending)
        finally:
            with self._claim_lock:
                self._claimed.difference_update(k for k, _, _, _ in pending)
            if self.claims is not None:  # the batch's on-demand payments can be claimed now
                self.claims.wake()

    def _run_batch(self, state: OperatorState, pending: list[tuple[bytes, dict, bytes, bytes]]) -> bool:
        t0 = time.perf_counter()
        keys = [k for k, _, _, _ in pending]
        certs = [BlobCertificate(BlobHeader.from_json(h), s, (0,)) for _, h, s, _ in pending]
        chunks = [encode_chunks(self.encoder, d) for _, _, _, d in pending]
        self.db.set_status(keys, BlobStatus.ENCODED)
        tree = MerkleTree([c.hash() for c in certs])
        header = BatchHeader(tree.root, state.reference_block)
        quorums = sorted({q for c in certs for q in c.blob_header.quorum_numbers})
        try:
            assignments = [
                assignments_for_blob(state.stakes, self.params, c.blob_header.quorum_numbers) for c in certs
            ]
        except AssignmentError as exc:  # a quorum emptied since the blobs were accepted
            reason = f"no assignment at reference block {state.reference_block}: {exc}"
            self.db.set_status(keys, BlobStatus.FAILED, reason)
            log.info("batch_failed", extra={"batch_header_hash": header.hash().hex(), "reason": reason})
            return True
        self.db.set_status(keys, BlobStatus.GATHERING_SIGNATURES)
        operators = sorted({op for a in assignments for op in a})

        def timed(op: bytes) -> tuple[Any, int]:
            t = time.perf_counter_ns()
            return self._store(op, header, certs, chunks, assignments), time.perf_counter_ns() - t

        with ThreadPoolExecutor(max(1, len(operators))) as pool:
            results = dict(zip(operators, pool.map(timed, operators), strict=True))
        replies = {op: sig for op, (sig, _) in results.items()}
        stakes = {q: state.stakes[q] for q in quorums}
        att = aggregate(header.hash(), quorums, stakes, state.public_keys, replies)
        self.signing.report_batch(
            quorums, stakes, {op: results[op][1] for op in att.signers if op in results},
            sum(len(d) for _, _, _, d in pending),
        )  # fmt: skip
        low = [
            f"quorum {q}: {p}% signed" for q, p in zip(att.quorum_numbers, att.quorum_signed_percentages, strict=False)
            if p < self.threshold
        ]  # fmt: skip
        if low:
            reason = f"signed stake below the {self.threshold}% confirmation threshold ({', '.join(low)})"
            self.db.set_status(keys, BlobStatus.FAILED, reason)
            log.info("batch_failed", extra={"batch_header_hash": header.hash().hex(), "reason": reason})
            return True
        self.db.add_batch(header.hash(), header.to_json(), attestation_json(att))
        inclusion = {
            k: {"blob_certificate": c.to_json(), "blob_index": i, "inclusion_proof": tree.proof(i).hex()}
            for i, (k, c) in enumerate(zip(keys, certs, strict=True))
        }
        self.db.set_status(keys, BlobStatus.COMPLETE, inclusion=inclusion, batch_header_hash=header.hash())
        log.info(
            "batch_complete",
            extra={
                "batch_header_hash": header.hash().hex(), "blobs": len(keys),
                "signed_percentages": att.quorum_signed_percentages, "seconds": round(time.perf_counter() - t0, 3),
            },
        )  # fmt: skip
        return True

    def operator_state(self) -> OperatorState:
        """The operators at the reference block a new batch names (the chain head minus the source's offset)."""
        return self.operators.state_at(self.operators.reference_block())

    def _store(
        self, op: bytes, header: BatchHeader, certs: list[BlobCertificate], chunks: list[EncodedChunks],
        assignments: list[dict[bytes, list[int]]],
    ) -> Any:  # fmt: skip
        """One validator's StoreChunks; its BLS signature, or None (down, refused, malformed reply)."""
        url = self.urls.get(op)
        if not url:
            return None
        bundles = [bundle_for(ch, a.get(op, [])) for ch, a in zip(chunks, assignments, strict=True)]
        req = signed_store_request(self.key, self.disperser_id, header, certs, bundles)
        try:
            if wire.is_grpc(url):  # validator.Dispersal over gRPC (grpcs://: over TLS)
                try:
                    reply = wire.grpc_call(
                        url, "validator.Dispersal", "StoreChunks", req.to_json(), self.store_timeout_s,
                        self.grpc_tls,
                    )  # fmt: skip
                except GrpcCallError as exc:
                    log.info(
                        "store_chunks_refused",
                        extra={"operator_id": op.hex(), "status": exc.code, "reason": exc.message},
                    )
                    return None
            else:
                r = httpx.post(f"{url}/v2/StoreChunks", json=req.to_json(), timeout=self.store_timeout_s)
                if r.status_code != 200:
                    log.info("store_chunks_refused", extra={"operator_id": op.hex(), "status": r.status_code})
                    return None
                reply = r.json()
            return bn254.g1_to_ints(bn254.g1_decompress(bytes.fromhex(reply["signature"])))[0]
        except (httpx.HTTPError, ValueError, KeyError, TypeError, DAError, PointError) as exc:
            log.info("store_chunks_unreachable", extra={"operator_id": op.hex(), "reason": str(exc)})
            return None
