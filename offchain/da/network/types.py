"""EigenDA V2 message types and every hash the network signs or commits to.

Field names follow EigenDA's protobufs (``common.v2.BlobHeader``, ``common.v2.PaymentHeader``,
``common.BlobCommitment``, ``common.v2.BlobCertificate``, ``common.v2.BatchHeader``); hashes follow
``core/v2/serialization.go``, ``EigenDAHasher.sol`` and ``api/hashing``:

- ``PaymentHeader.hash()`` = keccak256(abi.encode((string accountId, int64 timestamp, uint256
  cumulativePayment))), the account id written as its EIP-55 hex string (go-ethereum ``Address.Hex()``);
- ``BlobHeader.blob_key()`` = keccak256(abi.encode(keccak256(abi.encode(uint16 version, bytes
  quorumNumbers, BlobCommitment)), bytes32 paymentHeaderHash)), quorum numbers sorted ascending,
  G2 points in the EVM order (X.A1, X.A0, Y.A1, Y.A0);
- ``BlobCertificate.hash()`` = keccak256(abi.encode(bytes32 blobKey, bytes signature, uint32[] relayKeys));
- ``BatchHeader.hash()`` = keccak256(abi.encode(bytes32 batchRoot, uint32 referenceBlockNumber)): what
  validators BLS-sign;
- the batch root is the keccak Merkle root of wealdtech's ``go-merkletree`` over the certificate hashes:
  leaf = keccak256(certHash), leaves padded with 32 zero bytes to a power of two, node =
  keccak256(left || right); a one-leaf tree's root is its leaf. Proofs are the concatenated siblings,
  bottom up, as ``Merkle.verifyInclusionKeccak`` folds them;
- the disperser request: ``signature`` is the client's 65-byte secp256k1 signature (r || s || v, v in
  {0, 1}) over the 32-byte blob key itself; ``anchor_signature`` signs
  keccak256("disperser.DisperseBlobRequest" || uint256 chainId || uint32 BE disperserId || blobKey).

Points travel as EigenDA's protobufs carry them: gnark-compressed (G1 32 bytes, G2 64 bytes); every
point is decompressed with its on-curve (and, for G2, subgroup) check before it is hashed. Every
malformed field raises :class:`NetworkMessageError` naming the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys as eth_keys
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import to_checksum_address

from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.cert import merkle_root
from offchain.da.errors import NetworkMessageError

COMMITMENT_ABI = "((uint256,uint256),(uint256[2],uint256[2]),(uint256[2],uint256[2]),uint32)"
DISPERSE_BLOB_REQUEST_DOMAIN = b"disperser.DisperseBlobRequest"
STORE_CHUNKS_REQUEST_DOMAIN = b"validator.StoreChunksRequest"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# ----- field checks -----------------------------------------------------------------------------
def _uint(value: Any, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise NetworkMessageError(f"{what}: {value!r} is not a uint{bits}")
    return value


def _bytes(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise NetworkMessageError(f"{what}: expected bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise NetworkMessageError(f"{what}: {len(value)} bytes, expected {size}")
    return bytes(value)


def hex_field(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise NetworkMessageError(f"{what}: expected a hex string, got {type(value).__name__}")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise NetworkMessageError(f"{what}: not hex") from None
    return _bytes(raw, what, size)


def json_fields(obj: Any, names: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise NetworkMessageError(f"{what}: expected an object, got {type(obj).__name__}")
    missing = [n for n in names if n not in obj]
    extra = sorted(set(obj) - set(names))
    if missing or extra:
        raise NetworkMessageError(f"{what}: missing {missing}, unknown {extra}")
    return obj


def _quorums(value: Any, what: str = "quorum_numbers") -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise NetworkMessageError(f"{what}: expected a non-empty list of quorum numbers")
    qs = tuple(_uint(q, 8, f"{what}[{i}]") for i, q in enumerate(value))
    if len(set(qs)) != len(qs):
        raise NetworkMessageError(f"{what}: repeated quorum in {list(qs)}")
    return qs


# ----- payment header ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentHeader:
    """``common.v2.PaymentHeader``: who pays, when (ns, also the dispersal nonce), cumulative on-demand payment."""

    account_id: str
    timestamp: int
    cumulative_payment: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.account_id, str):
            raise NetworkMessageError("payment_header.account_id: expected a 0x address string")
        try:
            raw = bytes.fromhex(self.account_id.removeprefix("0x"))
        except ValueError:
            raise NetworkMessageError(f"payment_header.account_id: {self.account_id!r} is not hex") from None
        if not self.account_id.startswith("0x") or len(raw) != 20:
            raise NetworkMessageError(
                f"payment_header.account_id: {self.account_id!r} is not a 20-byte 0x address"
            )
        if not isinstance(self.timestamp, int) or not INT64_MIN <= self.timestamp <= INT64_MAX:
            raise NetworkMessageError(f"payment_header.timestamp: {self.timestamp!r} is not an int64")
        _uint(self.cumulative_payment, 256, "payment_header.cumulative_payment")

    @property
    def account(self) -> str:
        """The account as go-ethereum's ``Address.Hex()`` writes it (EIP-55), which is what is hashed."""
        return to_checksum_address(self.account_id)

    @property
    def is_reservation(self) -> bool:
        """A zero cumulative payment selects the reservation; non-zero, on-demand (no fallback between them)."""
        return self.cumulative_payment == 0

    def hash(self) -> bytes:
        return keccak(
            abi_encode(["(string,int64,uint256)"], [(self.account, self.timestamp, self.cumulative_payment)])
        )

    def to_json(self) -> dict[str, Any]:
        # proto bytes of a big.Int: big-endian, minimal, empty for zero
        n = self.cumulative_payment
        return {
            "account_id": self.account_id,  # as given: the StoreChunks digest hashes the string itself
            "timestamp": self.timestamp,
            "cumulative_payment": n.to_bytes((n.bit_length() + 7) // 8, "big").hex(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> PaymentHeader:
        f = json_fields(obj, ("account_id", "timestamp", "cumulative_payment"), "payment_header")
        if isinstance(f["timestamp"], bool):
            raise NetworkMessageError("payment_header.timestamp: not an integer")
        cum = hex_field(f["cumulative_payment"], "payment_header.cumulative_payment")
        if len(cum) > 32:
            raise NetworkMessageError("payment_header.cumulative_payment: more than 32 bytes")
        return cls(f["account_id"], f["timestamp"], int.from_bytes(cum, "big"))


# ----- blob commitment --------------------------------------------------------------------------
@dataclass(frozen=True)
class BlobCommitment:
    """``common.BlobCommitment``: gnark-compressed C (G1), length commitment and length proof (G2), length."""

    commitment: bytes
    length_commitment: bytes
    length_proof: bytes
    length: int

    def __post_init__(self) -> None:
        _bytes(self.commitment, "commitment.commitment", 32)
        _bytes(self.length_commitment, "commitment.length_commitment", 64)
        _bytes(self.length_proof, "commitment.length_proof", 64)
        n = _uint(self.length, 32, "commitment.length")
        if n == 0 or n & (n - 1):
            raise NetworkMessageError(f"commitment.length: {n} symbols is not a positive power of two")

    @classmethod
    def from_points(
        cls, commitment: Any, length_commitment: Any, length_proof: Any, length: int
    ) -> BlobCommitment:
        """From batches of one point each (the encoder's and the certificate parser's form)."""
        return cls(
            bn254.g1_compress(commitment),
            bn254.g2_compress(length_commitment),
            bn254.g2_compress(length_proof),
            length,
        )

    def points(self) -> tuple[Any, Any, Any]:
        """Decompressed (C, LC, LP), each checked on the curve and (G2) in the subgroup."""
        try:
            return (
                bn254.g1_decompress(self.commitment),
                bn254.g2_decompress(self.length_commitment),
                bn254.g2_decompress(self.length_proof),
            )
        except PointError as exc:
            raise NetworkMessageError(f"commitment: {exc}") from exc

    def abi_ints(self) -> tuple:
        """The (C, LC, LP, length) tuple as ``abi.encode`` takes it, G2 in EVM order."""
        C, LC, LP = self.points()
        (c,) = bn254.g1_to_ints(C)
        if c is None:
            raise NetworkMessageError("commitment.commitment: the point at infinity")
        g2 = []
        for Q, what in ((LC, "length_commitment"), (LP, "length_proof")):
            (q,) = bn254.g2_to_ints(Q)
            if q is None:
                raise NetworkMessageError(f"commitment.{what}: the point at infinity")
            (x0, x1), (y0, y1) = q
            g2.append(([x1, x0], [y1, y0]))
        return (c, g2[0], g2[1], self.length)

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment": self.commitment.hex(),
            "length_commitment": self.length_commitment.hex(),
            "length_proof": self.length_proof.hex(),
            "length": self.length,
        }

    @classmethod
    def from_json(cls, obj: Any) -> BlobCommitment:
        f = json_fields(obj, ("commitment", "length_commitment", "length_proof", "length"), "commitment")
        return cls(
            hex_field(f["commitment"], "commitment.commitment", 32),
            hex_field(f["length_commitment"], "commitment.length_commitment", 64),
            hex_field(f["length_proof"], "commitment.length_proof", 64),
            f["length"],
        )


# ----- blob header and key ----------------------------------------------------------------------
def blob_key_of(
    version: int, quorum_numbers: bytes, commitment_abi: tuple, payment_header_hash: bytes
) -> bytes:
    """``EigenDAHasher.hashBlobHeaderV2`` on the on-chain form (what a certificate carries)."""
    inner = blob_header_hash(version, quorum_numbers, commitment_abi)
    return keccak(abi_encode(["bytes32", "bytes32"], [inner, payment_header_hash]))


def blob_header_hash(version: int, quorum_numbers: bytes, commitment_abi: tuple) -> bytes:
    """keccak256(abi.encode(version, quorumNumbers, commitment)): the blob key's first half, what the
    PaymentVault's ``claimOnDemandPayment`` takes beside the payment header."""
    return keccak(abi_encode(["uint16", "bytes", COMMITMENT_ABI], [version, quorum_numbers, commitment_abi]))


@dataclass(frozen=True)
class BlobHeader:
    """``common.v2.BlobHeader``: blob version, quorums, commitment, payment header."""

    version: int
    quorum_numbers: tuple[int, ...]
    commitment: BlobCommitment
    payment_header: PaymentHeader

    def __post_init__(self) -> None:
        _uint(self.version, 16, "version")
        object.__setattr__(self, "quorum_numbers", _quorums(self.quorum_numbers))
        if not isinstance(self.commitment, BlobCommitment) or not isinstance(
            self.payment_header, PaymentHeader
        ):
            raise NetworkMessageError("blob_header: commitment and payment_header must be typed")

    @property
    def sorted_quorums(self) -> bytes:
        return bytes(sorted(self.quorum_numbers))

    def blob_key(self) -> bytes:
        """``ComputeBlobKey``: quorums sorted, so their order does not change the key."""
        return blob_key_of(
            self.version, self.sorted_quorums, self.commitment.abi_ints(), self.payment_header.hash()
        )

    def header_hash(self) -> bytes:
        """:func:`blob_header_hash` of this header (quorums sorted, as in the key)."""
        return blob_header_hash(self.version, self.sorted_quorums, self.commitment.abi_ints())

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "quorum_numbers": list(self.quorum_numbers),
            "commitment": self.commitment.to_json(),
            "payment_header": self.payment_header.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Any) -> BlobHeader:
        f = json_fields(obj, ("version", "quorum_numbers", "commitment", "payment_header"), "blob_header")
        return cls(
            f["version"],
            _quorums(f["quorum_numbers"]),
            BlobCommitment.from_json(f["commitment"]),
            PaymentHeader.from_json(f["payment_header"]),
        )


# ----- certificate, batch, Merkle tree ----------------------------------------------------------
def blob_certificate_hash(
    blob_key: bytes, signature: bytes, relay_keys: list[int] | tuple[int, ...]
) -> bytes:
    """``EigenDAHasher.hashBlobCertificate``."""
    return keccak(abi_encode(["bytes32", "bytes", "uint32[]"], [blob_key, signature, list(relay_keys)]))


@dataclass(frozen=True)
class BlobCertificate:
    """``common.v2.BlobCertificate``: the header, the client's signature over its key, the relays holding it."""

    blob_header: BlobHeader
    signature: bytes
    relay_keys: tuple[int, ...]

    def __post_init__(self) -> None:
        _bytes(self.signature, "signature")
        keys = tuple(_uint(k, 32, f"relay_keys[{i}]") for i, k in enumerate(self.relay_keys))
        object.__setattr__(self, "relay_keys", keys)

    def hash(self) -> bytes:
        return blob_certificate_hash(self.blob_header.blob_key(), self.signature, self.relay_keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "blob_header": self.blob_header.to_json(),
            "signature": self.signature.hex(),
            "relay_keys": list(self.relay_keys),
        }

    @classmethod
    def from_json(cls, obj: Any) -> BlobCertificate:
        f = json_fields(obj, ("blob_header", "signature", "relay_keys"), "blob_certificate")
        if not isinstance(f["relay_keys"], list):
            raise NetworkMessageError("relay_keys: expected a list")
        return cls(
            BlobHeader.from_json(f["blob_header"]),
            hex_field(f["signature"], "signature"),
            tuple(f["relay_keys"]),
        )


@dataclass(frozen=True)
class BatchHeader:
    """``common.v2.BatchHeader``: Merkle root of the batch's certificates and the reference block."""

    batch_root: bytes
    reference_block_number: int

    def __post_init__(self) -> None:
        _bytes(self.batch_root, "batch_root", 32)
        _uint(self.reference_block_number, 32, "reference_block_number")

    def hash(self) -> bytes:
        """The message every validator BLS-signs."""
        return keccak(abi_encode(["bytes32", "uint32"], [self.batch_root, self.reference_block_number]))

    def to_json(self) -> dict[str, Any]:
        return {"batch_root": self.batch_root.hex(), "reference_block_number": self.reference_block_number}

    @classmethod
    def from_json(cls, obj: Any) -> BatchHeader:
        f = json_fields(obj, ("batch_root", "reference_block_number"), "batch_header")
        return cls(hex_field(f["batch_root"], "batch_root", 32), f["reference_block_number"])


class MerkleTree:
    """wealdtech ``go-merkletree`` with keccak256 over the certificate hashes, as ``BuildMerkleTree``."""

    def __init__(self, cert_hashes: list[bytes]) -> None:
        if not cert_hashes:
            raise NetworkMessageError("a batch needs at least one blob certificate")
        for i, h in enumerate(cert_hashes):
            _bytes(h, f"certificate hash {i}", 32)
        width = 1 << (len(cert_hashes) - 1).bit_length()
        level = [keccak(h) for h in cert_hashes] + [bytes(32)] * (width - len(cert_hashes))
        self.size = len(cert_hashes)
        self.levels = [level]
        while len(level) > 1:
            level = [keccak(level[k] + level[k + 1]) for k in range(0, len(level), 2)]
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> bytes:
        """The inclusion proof of leaf ``index``: its siblings from the bottom up, concatenated."""
        if not isinstance(index, int) or not 0 <= index < self.size:
            raise NetworkMessageError(f"blob index {index!r} outside the batch of {self.size}")
        out = []
        for level in self.levels[:-1]:
            out.append(level[index ^ 1])
            index //= 2
        return b"".join(out)


def inclusion_root(cert_hash: bytes, proof: bytes, index: int) -> bytes:
    """``Merkle.processInclusionProofKeccak`` on leaf keccak256(certHash)."""
    if len(proof) % 32:
        raise NetworkMessageError(f"inclusion_proof: {len(proof)} bytes, not a multiple of 32")
    if not 0 <= index < 1 << (len(proof) // 32):
        raise NetworkMessageError(f"blob_index {index} does not fit a proof of {len(proof) // 32} levels")
    return merkle_root(keccak(cert_hash), proof, index)


# ----- request signatures -----------------------------------------------------------------------
def dispersal_anchor_hash(chain_id: int, disperser_id: int, blob_key: bytes) -> bytes:
    """``ComputeDispersalAnchorHash``: binds a dispersal to one disperser on one chain."""
    _uint(chain_id, 256, "chain_id")
    _uint(disperser_id, 32, "disperser_id")
    _bytes(blob_key, "blob_key", 32)
    return keccak(
        DISPERSE_BLOB_REQUEST_DOMAIN
        + chain_id.to_bytes(32, "big")
        + disperser_id.to_bytes(4, "big")
        + blob_key
    )


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """go-ethereum ``crypto.Sign``: 65 bytes r || s || v with v in {0, 1}."""
    _bytes(digest, "digest", 32)
    return eth_keys.PrivateKey(_bytes(private_key, "private key", 32)).sign_msg_hash(digest).to_bytes()


def signer_of(digest: bytes, signature: bytes) -> str:
    """The EIP-55 address that produced ``signature`` over ``digest``; :class:`NetworkMessageError` if none."""
    _bytes(digest, "digest", 32)
    _bytes(signature, "signature", 65)
    try:
        sig = eth_keys.Signature(signature)
        return sig.recover_public_key_from_msg_hash(digest).to_checksum_address()
    except (BadSignature, ValidationError) as exc:
        raise NetworkMessageError(f"signature: {exc}") from exc


def check_request_signature(header: BlobHeader, signature: bytes) -> bytes:
    """The disperser's check of ``DisperseBlobRequest.signature``: the payer signed the blob key.

    Returns the blob key; raises :class:`NetworkMessageError` when the signer is not the account.
    """
    key = header.blob_key()
    signer = signer_of(key, signature)
    if signer != header.payment_header.account:
        raise NetworkMessageError(
            f"signature: signed by {signer}, not by the account {header.payment_header.account}"
        )
    return key


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def store_chunks_request_digest(
    header: BatchHeader, certificates: list[BlobCertificate], disperser_id: int, timestamp: int
) -> bytes:
    """``HashStoreChunksRequest``: keccak256 of the domain then the request, big-endian, byte strings and
    arrays length-prefixed (uint32), the quorum count written twice, the reference block as uint64, the
    account id as the string's bytes and the cumulative payment as its minimal big-endian bytes."""
    _uint(disperser_id, 32, "disperser_id")
    _uint(timestamp, 32, "timestamp")
    out = [
        STORE_CHUNKS_REQUEST_DOMAIN,
        _lp(header.batch_root),
        header.reference_block_number.to_bytes(8, "big"),
    ]
    out.append(len(certificates).to_bytes(4, "big"))
    for cert in certificates:
        bh, com, pay = cert.blob_header, cert.blob_header.commitment, cert.blob_header.payment_header
        q = len(bh.quorum_numbers).to_bytes(4, "big")
        cum = pay.cumulative_payment
        out += [
            bh.version.to_bytes(4, "big"),
            q,
            q,
            b"".join(n.to_bytes(4, "big") for n in bh.quorum_numbers),
            _lp(com.commitment),
            _lp(com.length_commitment),
            _lp(com.length_proof),
            com.length.to_bytes(4, "big"),
            _lp(pay.account_id.encode()),
            pay.timestamp.to_bytes(8, "big", signed=True),
            _lp(cum.to_bytes((cum.bit_length() + 7) // 8, "big")),
            _lp(cert.signature),
            len(cert.relay_keys).to_bytes(4, "big"),
            b"".join(k.to_bytes(4, "big") for k in cert.relay_keys),
        ]
    out += [disperser_id.to_bytes(4, "big"), timestamp.to_bytes(4, "big")]
    return keccak(b"".join(out))


# ----- relay requests ---------------------------------------------------------------------------

GET_CHUNKS_REQUEST_DOMAIN = b"relay.GetChunksRequest"


def is_u32(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 32


@dataclass(frozen=True)
class ChunkRequest:
    """``relay.ChunkRequest``: ``by_index`` (``indices``) or ``by_range`` ([``start``, ``end``))."""

    blob_key: bytes
    indices: tuple[int, ...] | None = None
    start: int = 0
    end: int = 0

    def wanted(self) -> list[int]:
        return list(self.indices) if self.indices is not None else list(range(self.start, self.end))

    def to_json(self) -> dict[str, Any]:
        if self.indices is not None:
            return {"by_index": {"blob_key": self.blob_key.hex(), "chunk_indices": list(self.indices)}}
        return {
            "by_range": {"blob_key": self.blob_key.hex(), "start_index": self.start, "end_index": self.end}
        }

    @classmethod
    def from_json(cls, obj: Any, i: int) -> ChunkRequest:
        what = f"chunk_requests[{i}]"
        if not isinstance(obj, dict) or len(obj) != 1 or not set(obj) <= {"by_index", "by_range"}:
            raise NetworkMessageError(f"{what}: expected exactly one of by_index, by_range")
        if "by_index" in obj:
            f = json_fields(obj["by_index"], ("blob_key", "chunk_indices"), f"{what}.by_index")
            idx = f["chunk_indices"]
            if not isinstance(idx, list) or not idx or not all(is_u32(v) for v in idx):
                raise NetworkMessageError(f"{what}.by_index.chunk_indices: a non-empty list of uint32")
            return cls(hex_field(f["blob_key"], "blob_key", 32), tuple(idx))
        f = json_fields(obj["by_range"], ("blob_key", "start_index", "end_index"), f"{what}.by_range")
        s, e = f["start_index"], f["end_index"]
        if not (is_u32(s) and is_u32(e) and s < e):
            raise NetworkMessageError(f"{what}.by_range: start_index < end_index, both uint32 ({s!r}, {e!r})")
        return cls(hex_field(f["blob_key"], "blob_key", 32), None, s, e)


def get_chunks_request_digest(requests: list[ChunkRequest], operator_id: bytes) -> bytes:
    """``HashGetChunksRequest``: keccak256 of the domain, the operator id (length-prefixed), the request
    count (uint32), then per request 'i' ‖ blob key (length-prefixed) ‖ indices (uint32 count, uint32 each)
    or 'r' ‖ blob key (length-prefixed) ‖ uint32 start ‖ uint32 end; big-endian. As upstream, the timestamp
    is not part of the digest."""
    out = [GET_CHUNKS_REQUEST_DOMAIN, _lp(operator_id), len(requests).to_bytes(4, "big")]
    for r in requests:
        if r.indices is not None:
            out += [b"i", _lp(r.blob_key), len(r.indices).to_bytes(4, "big")]
            out += [k.to_bytes(4, "big") for k in r.indices]
        else:
            out += [b"r", _lp(r.blob_key), r.start.to_bytes(4, "big"), r.end.to_bytes(4, "big")]
    return keccak(b"".join(out))


# ----- payment state requests -------------------------------------------------------------------


def payment_state_request_hash(account_id: str, timestamp: int) -> bytes:
    """``HashGetPaymentStateRequest``: keccak256(uint32 length ‖ the account's 20 bytes ‖ uint64 timestamp),
    big-endian; the timestamp in ns (also the replay guard's nonce)."""
    account = PaymentHeader(account_id, 0).account_id
    _uint(timestamp, 64, "timestamp")
    return keccak(_lp(bytes.fromhex(account.removeprefix("0x"))) + timestamp.to_bytes(8, "big"))


def payment_state_request_digest(account_id: str, timestamp: int) -> bytes:
    """What the account signs for ``GetPaymentState``: sha256 of :func:`payment_state_request_hash`
    (EigenDA's ``SignPaymentStateRequest`` / ``AuthenticatePaymentStateRequest``)."""
    return hashlib.sha256(payment_state_request_hash(account_id, timestamp)).digest()
