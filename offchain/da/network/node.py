"""A DA validator node: ``StoreChunks`` (verify, store, BLS-sign) and ``GetChunks``, as EigenDA V2's node.

``StoreChunks`` takes EigenDA's ``StoreChunksRequest`` fields (``batch{header, blob_certificates}``,
``disperser_id``, ``timestamp``, ``signature``) plus ``bundles``: one EigenDA bundle per certificate with
this node's assigned chunks (EigenDA's nodes pull them from relays; until the relay exists the disperser
sends them in the request). The node signs only when every check passes, in this order:

1. the disperser's secp256k1 signature over :func:`store_chunks_request_digest`, by the address the
   configuration lists for ``disperser_id``, and the request timestamp within ``max_request_age_s``;
2. the reference block is not stale: no older than ``stale_blocks`` below the newest reference block
   this node has accepted (the chain head when the node is wired to a chain);
3. the batch root is the Merkle root of the certificates (EigenDA audit EDA-03);
4. per blob: the length commitment and length proof pairings, the bundle's chunk length and chunk count
   against this node's assignment (:func:`assignments_for_blob`), and every chunk's KZG opening against
   the blob commitment (one universal batch check per blob, :mod:`offchain.da.eigenda.verify`).

It then stores each bundle under its blob key in the storage engine (``offchain/store``; the table's TTL
is the blobs' store duration), and returns its BLS signature over the batch header hash. ``GetChunks``
returns the stored bundle's chunks (EigenDA's ``GetChunksReply{chunks, chunk_encoding_format}``).
A refused request raises :class:`NodeRequestError` with the HTTP status it maps to; nothing is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.bls.keys import SecretKey
from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import EncodingParams, Sample
from offchain.da.errors import (
    AssignmentError,
    FrameFileError,
    NetworkMessageError,
    NodeRequestError,
    OperatorStateError,
    PaymentError,
)
from offchain.da.files import BUNDLE_FORMAT_GNARK, parse_bundle
from offchain.da.network.assignment import BlobParams, assignments_for_blob, chunk_length
from offchain.da.network.operators import OperatorSource
from offchain.da.network.payments import PaymentMeter
from offchain.da.network.types import (
    BatchHeader,
    BlobCertificate,
    MerkleTree,
    hex_field,
    json_fields,
    signer_of,
    store_chunks_request_digest,
)
from offchain.store import Store

# EigenDA node constants (node/node.go): blocks a blob is kept, and how far behind a reference block may be
STORE_DURATION_BLOCKS = 100_800
BLOCK_STALE_MEASURE = 300
BLOCK_TIME_S = 12


@dataclass(frozen=True)
class StoreChunksRequest:
    header: BatchHeader
    certificates: list[BlobCertificate]
    disperser_id: int
    timestamp: int
    signature: bytes
    bundles: list[bytes]

    @classmethod
    def from_json(cls, obj: Any) -> StoreChunksRequest:
        f = json_fields(
            obj, ("batch", "disperser_id", "timestamp", "signature", "bundles"), "StoreChunksRequest"
        )
        batch = json_fields(f["batch"], ("header", "blob_certificates"), "batch")
        certs = batch["blob_certificates"]
        bundles = f["bundles"]
        if not isinstance(certs, list) or not certs:
            raise NetworkMessageError("batch.blob_certificates: expected a non-empty list")
        if not isinstance(bundles, list) or len(bundles) != len(certs):
            raise NetworkMessageError("bundles: expected one bundle (hex) per blob certificate")
        for name in ("disperser_id", "timestamp"):
            v = f[name]
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
                raise NetworkMessageError(f"{name}: {v!r} is not a uint32")
        return cls(
            BatchHeader.from_json(batch["header"]),
            [BlobCertificate.from_json(c) for c in certs],
            f["disperser_id"],
            f["timestamp"],
            hex_field(f["signature"], "signature", 65),
            [hex_field(b, f"bundles[{i}]") for i, b in enumerate(bundles)],
        )

    def digest(self) -> bytes:
        return store_chunks_request_digest(self.header, self.certificates, self.disperser_id, self.timestamp)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": {
                "header": self.header.to_json(),
                "blob_certificates": [c.to_json() for c in self.certificates],
            },
            "disperser_id": self.disperser_id,
            "timestamp": self.timestamp,
            "signature": self.signature.hex(),
            "bundles": [b.hex() for b in self.bundles],
        }


@dataclass
class NodeState:
    """What a node knows of the network: stakes per quorum and the dispersers' signing addresses."""

    stakes: Mapping[int, Mapping[bytes, int]]
    dispersers: Mapping[int, str]
    params: BlobParams = BlobParams()


class ValidatorNode:
    """One validator: its BLS key, its view of the network, its encoder (verification) and store."""

    def __init__(
        self,
        key: SecretKey,
        state: NodeState,
        encoder: Encoder,
        store: Store,
        *,
        stale_blocks: int = BLOCK_STALE_MEASURE,
        max_request_age_s: float = 60.0,
        ttl_s: float = (STORE_DURATION_BLOCKS + BLOCK_STALE_MEASURE) * BLOCK_TIME_S,
        clock: Any = time.time,
        meter: PaymentMeter | None = None,
        operators: OperatorSource | None = None,
    ) -> None:
        self.key = key
        self.meter = meter
        self.operators = operators  # None: the stakes of ``state`` at every reference block
        self.operator_id = key.public_key().operator_id
        self.state = state
        self.encoder = encoder
        self.table = store.table("chunks", ttl_s=ttl_s)
        self.stale_blocks = stale_blocks
        self.max_request_age_s = max_request_age_s
        self.clock = clock
        self.latest_reference_block = 0
        self._lock = threading.Lock()

    # ----- StoreChunks -------------------------------------------------------------------
    def store_chunks(self, req: StoreChunksRequest) -> tuple[int, int]:
        """Check, store and sign; returns the BLS signature (G1 affine integers) over the batch header hash."""
        self._check_disperser(req)
        rbn = req.header.reference_block_number
        if rbn + self.stale_blocks < self.latest_reference_block:
            raise NodeRequestError(
                409,
                f"stale reference block {rbn}: {self.latest_reference_block - rbn} blocks behind the newest seen",
            )
        stakes = self.stakes_at(rbn)
        cert_hashes = [c.hash() for c in req.certificates]
        if MerkleTree(cert_hashes).root != req.header.batch_root:
            raise NodeRequestError(400, "batch_root is not the Merkle root of the blob certificates")
        items = []
        for i, (cert, bundle) in enumerate(zip(req.certificates, req.bundles, strict=True)):
            key = cert.blob_header.blob_key()
            self._verify_bundle(i, cert, bundle, stakes)
            items.append((key, bundle))
        with self._lock:
            fresh = [(k, v) for k, v in dict(items).items() if not self.table.exists(k)]
            if self.meter is not None:  # blobs stored before were paid for then
                new = {k for k, _ in fresh}
                headers = [c.blob_header for c in req.certificates if c.blob_header.blob_key() in new]
                try:
                    self.meter.meter_reservations(headers)
                except PaymentError as exc:
                    raise NodeRequestError(exc.status, f"payment: {exc.message}") from exc
            if fresh:
                self.table.put_batch(fresh)
                self.table.flush()
            self.latest_reference_block = max(self.latest_reference_block, rbn)
        return self.key.sign(req.header.hash())

    def _check_disperser(self, req: StoreChunksRequest) -> None:
        address = self.state.dispersers.get(req.disperser_id)
        if address is None:
            raise NodeRequestError(403, f"unknown disperser_id {req.disperser_id}")
        try:
            signer = signer_of(req.digest(), req.signature)
        except NetworkMessageError as exc:
            raise NodeRequestError(401, f"disperser signature: {exc}") from exc
        if signer.lower() != address.lower():
            raise NodeRequestError(401, f"request signed by {signer}, not by disperser {req.disperser_id}")
        age = abs(self.clock() - req.timestamp)
        if age > self.max_request_age_s:
            raise NodeRequestError(
                400, f"request timestamp {req.timestamp} is {age:.0f} s from this node's clock"
            )

    def stakes_at(self, rbn: int) -> Mapping[int, Mapping[bytes, int]]:
        """The stakes a batch with reference block ``rbn`` is assigned by: the network file's, or with an
        operator source the chain's at ``rbn``, which must be mined and at most ``stale_blocks`` behind the head."""
        if self.operators is None:
            return self.state.stakes
        try:
            head = self.operators.head()
            if head is not None and rbn > head:
                raise NodeRequestError(400, f"reference block {rbn} is ahead of the chain head {head}")
            if head is not None and rbn + self.stale_blocks < head:
                raise NodeRequestError(
                    409, f"stale reference block {rbn}: {head - rbn} blocks behind the chain head"
                )
            return self.operators.state_at(rbn).stakes
        except OperatorStateError as exc:
            raise NodeRequestError(503, f"operator state: {exc}") from exc

    def assigned(
        self, cert: BlobCertificate, stakes: Mapping[int, Mapping[bytes, int]] | None = None
    ) -> list[int]:
        """This node's chunk indices for the blob (empty when it is in none of the blob's quorums)."""
        stakes = self.state.stakes if stakes is None else stakes
        quorums = cert.blob_header.quorum_numbers
        mine = [q for q in quorums if self.operator_id in stakes.get(q, {})]
        if not mine:
            return []
        try:
            return assignments_for_blob(stakes, self.state.params, quorums).get(self.operator_id, [])
        except AssignmentError as exc:
            raise NodeRequestError(400, f"blob quorums {list(quorums)}: {exc}") from exc

    def _verify_bundle(
        self, i: int, cert: BlobCertificate, bundle: bytes, stakes: Mapping[int, Mapping[bytes, int]]
    ) -> None:
        what = f"bundles[{i}]"
        com = cert.blob_header.commitment
        indices = self.assigned(cert, stakes)
        if not indices:
            if bundle:
                raise NodeRequestError(400, f"{what}: chunks for a blob this node is not assigned")
            return
        try:
            L, proofs, coeff_raw = parse_bundle(bundle, what)
        except FrameFileError as exc:
            raise NodeRequestError(400, str(exc)) from exc
        params = self.state.params
        want_L = chunk_length(com.length, params)
        if L != want_L or coeff_raw.shape[0] != len(indices):
            raise NodeRequestError(
                400,
                f"{what}: {coeff_raw.shape[0]} chunks of length {L}; assigned {len(indices)} of length {want_L}",
            )
        enc = self.encoder
        C, LC, LP = com.points()
        if not enc.verify_length_proof(C, LC, LP, com.length):
            raise NodeRequestError(400, f"{what}: the blob's length commitment or length proof is invalid")
        if not enc.c.fr.lt_p_bytes(coeff_raw.reshape(-1, 32)).all():
            raise NodeRequestError(400, f"{what}: a chunk coefficient is not a canonical field element")
        try:
            P = bn254.g1_decompress(proofs, enc.xp)
        except PointError as exc:
            raise NodeRequestError(400, f"{what}: chunk proof: {exc}") from exc
        K = len(indices)
        coeffs = enc.c.fr.from_bytes(coeff_raw.reshape(-1, 32)).reshape(enc.c.fr.n, K, L)
        sample = Sample(np.zeros(K, np.int64), np.asarray(indices, np.int64), coeffs, P)
        EncodingParams(com.length, params.num_chunks, params.coding_rate)
        if not enc.verify_batch(C, sample, params.num_chunks):
            raise NodeRequestError(400, f"{what}: chunk openings do not verify against the blob commitment")

    # ----- GetChunks ---------------------------------------------------------------------
    def get_chunks(self, blob_key: bytes) -> dict[str, Any]:
        """EigenDA's ``GetChunksReply``: this node's chunks of the blob (proof || coefficients each)."""
        value = self.table.get(blob_key)
        if value is None:
            raise NodeRequestError(404, f"blob {blob_key.hex()} is not stored here")
        L, proofs, coeffs = parse_bundle(bytes(value))
        chunks = [proofs[32 * k : 32 * k + 32] + coeffs[k].tobytes() for k in range(coeffs.shape[0])]
        return {"chunks": [c.hex() for c in chunks], "chunk_encoding_format": BUNDLE_FORMAT_GNARK}
