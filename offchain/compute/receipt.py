"""Execution receipts: one canonical encoding shared with the contracts, signed by the enclave key.

Encoding (mirror it in Vyper with ``keccak256(abi_encode(RECEIPT_DOMAIN, r.appId, ...))``)::

    digest = keccak256(abi.encode(bytes32 RECEIPT_DOMAIN, <the fields of RECEIPT_FIELDS, in order>))
    RECEIPT_DOMAIN = keccak256("eigen.compute.Receipt.v1")

All fields are static ABI types, so ``abi.encode`` is 12 words of 32 bytes. The signature is a
65-byte ``r || s || v`` (v = 27 or 28, s <= n/2) by the enclave's secp256k1 key over ``digest``
itself (no EIP-191 prefix): ``ecrecover(digest, v, r, s) == enclaveSigner``.

The evidence binds that key: a Nitro(-format) document carries the 64-byte uncompressed public key
``x || y`` in ``public_key`` (address = last 20 bytes of keccak256(x || y)); a TDX quote carries
``key_binding(address)`` in REPORTDATA[0:32] (REPORTDATA[32:64] is free for a nonce), with
``key_binding(a) = keccak256(abi.encode(bytes32 KEY_BINDING_DOMAIN, address a))``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError

from offchain import abi
from offchain.compute.attest import detect, verify_evidence
from offchain.compute.codec import load_json
from offchain.compute.errors import AttestationError, CheckFailed, ComputeReceiptError
from offchain.compute.eventlog import (
    Event,
    first_mismatch,
    image_event_digest,
    image_measurement,
    parse_events,
)
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Check, CheckTable, Policy, Verdict
from offchain.compute.tdx import TdxCollateral

RECEIPT_DOMAIN = keccak(b"eigen.compute.Receipt.v1")
KEY_BINDING_DOMAIN = keccak(b"eigen.compute.EnclaveKey.v1")
PLATFORM_TDX = 1
PLATFORM_NITRO = 2
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

RECEIPT_FIELDS: tuple[tuple[str, str], ...] = (
    ("appId", "bytes32"),
    ("imageDigest", "bytes32"),
    ("inputHash", "bytes32"),
    ("outputHash", "bytes32"),
    ("timestamp", "uint256"),
    ("enclaveSigner", "address"),
    ("evidenceHash", "bytes32"),
    ("collateralHash", "bytes32"),
    ("policyHash", "bytes32"),
    ("platform", "uint256"),
    ("chainId", "uint256"),
)


def receipt_abi() -> tuple[str, tuple[str, ...]]:
    """The ABI tuple type of a receipt (without the domain word) and its field names, in order."""
    return "(" + ",".join(t for _, t in RECEIPT_FIELDS) + ")", tuple(n for n, _ in RECEIPT_FIELDS)


def address_of(public_key: bytes) -> str:
    """Checksum-free lower-case 0x address of a 64-byte uncompressed secp256k1 key."""
    if len(public_key) != 64:
        raise ComputeReceiptError("enclave public key must be 64 bytes (x || y)")
    return "0x" + keccak(public_key)[12:].hex()


def key_binding(address: str) -> bytes:
    return keccak(
        abi_encode(["bytes32", "address"], [KEY_BINDING_DOMAIN, abi.address(address, ComputeReceiptError)])
    )


# How each ABI type of RECEIPT_FIELDS is parsed (hex strings are accepted for bytes32).
_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "bytes32": lambda v, name: abi.b32(v, name, ComputeReceiptError),
    "address": lambda v, name: abi.address(v, ComputeReceiptError),
    "uint256": lambda v, name: abi.uint(v, 256, name, ComputeReceiptError),
}


@dataclass(frozen=True)
class Receipt:
    appId: bytes  # noqa: N815 - names mirror the Solidity/Vyper struct
    imageDigest: bytes  # noqa: N815
    inputHash: bytes  # noqa: N815
    outputHash: bytes  # noqa: N815
    timestamp: int
    enclaveSigner: str  # noqa: N815
    evidenceHash: bytes  # noqa: N815
    collateralHash: bytes  # noqa: N815
    policyHash: bytes  # noqa: N815
    platform: int
    chainId: int  # noqa: N815

    def __post_init__(self) -> None:
        for name, typ in RECEIPT_FIELDS:
            object.__setattr__(self, name, _PARSERS[typ](getattr(self, name), name))

    def values(self) -> list[Any]:
        return [getattr(self, n) for n, _ in RECEIPT_FIELDS]

    def encode(self) -> bytes:
        """abi.encode(RECEIPT_DOMAIN, fields...): the exact bytes the contract hashes."""
        return abi_encode(["bytes32"] + [t for _, t in RECEIPT_FIELDS], [RECEIPT_DOMAIN, *self.values()])

    def digest(self) -> bytes:
        return keccak(self.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            n: ("0x" + v.hex()) if isinstance(v, bytes) else v
            for n, v in zip((f.name for f in fields(self)), self.values(), strict=True)
        }

    @classmethod
    def from_json(cls, obj: Any) -> Receipt:
        if not isinstance(obj, dict) or set(obj) != {n for n, _ in RECEIPT_FIELDS}:
            raise ComputeReceiptError(
                f"receipt must have exactly the fields {[n for n, _ in RECEIPT_FIELDS]}"
            )
        return cls(**obj)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, tz=UTC)


def sign(receipt: Receipt, key: keys.PrivateKey) -> bytes:
    """65-byte r||s||v signature over the receipt digest (eth-keys emits low-s)."""
    sig = key.sign_msg_hash(receipt.digest())
    return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])


def signature_vrs(signature: bytes) -> tuple[int, bytes, bytes]:
    """(v, r, s) as a contract's ``ecrecover(digest, v, r, s)`` takes them."""
    if len(signature) != 65:
        raise ComputeReceiptError("signature must be 65 bytes r||s||v")
    return signature[64], signature[:32], signature[32:64]


def recover(digest: bytes, signature: bytes) -> str:
    """What ``ecrecover`` returns, with the rules the contract applies: 65 bytes, v in {27, 28}, low s."""
    if len(signature) != 65:
        raise ComputeReceiptError("signature must be 65 bytes r||s||v")
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if v not in (27, 28):
        raise ComputeReceiptError("signature v must be 27 or 28")
    if not 0 < s <= SECP256K1_N // 2 or not 0 < r < SECP256K1_N:
        raise ComputeReceiptError("signature r/s out of range (high-s signatures are refused)")
    try:
        pub = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as exc:
        raise ComputeReceiptError(f"signature does not recover: {exc}") from exc
    return pub.to_checksum_address().lower()


@dataclass(frozen=True)
class ReceiptBundle:
    """What a receipt file holds: the receipt, its signature and everything needed to re-verify it."""

    receipt: Receipt
    signature: bytes
    evidence: bytes
    policy: dict[str, Any]
    collateral: dict[str, Any] | None = None
    event_log: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "receipt": self.receipt.to_json(),
            "digest": "0x" + self.receipt.digest().hex(),
            "signature": "0x" + self.signature.hex(),
            "evidence": base64.b64encode(self.evidence).decode(),
            "collateral": self.collateral,
            "policy": self.policy,
            "event_log": self.event_log,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def loads(cls, text: str | bytes) -> ReceiptBundle:
        obj = load_json(text, "receipt file", ComputeReceiptError)
        if not isinstance(obj, dict) or obj.get("version") != 1:
            raise ComputeReceiptError("receipt file must be a JSON object with version 1")
        try:
            sig = bytes.fromhex(str(obj["signature"]).removeprefix("0x"))
            evidence = base64.b64decode(obj["evidence"], validate=True)
            policy = obj["policy"]
        except (KeyError, ValueError, TypeError) as exc:
            raise ComputeReceiptError(f"receipt file field missing or malformed: {exc}") from exc
        if not isinstance(policy, dict):
            raise ComputeReceiptError("receipt policy must be an object")
        collateral, events = obj.get("collateral"), obj.get("event_log")
        if collateral is not None and not isinstance(collateral, dict):
            raise ComputeReceiptError("collateral must be an object or null")
        if events is not None and not isinstance(events, list):
            raise ComputeReceiptError("event_log must be a list or null")
        return cls(Receipt.from_json(obj.get("receipt")), sig, evidence, policy, collateral, events)


# ---- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptContext:
    """What the checks of :func:`verify_receipt` share: the bundle, the verdict on its evidence, the
    verification time, the receipt's own policy and the verifier's (if it named one)."""

    bundle: ReceiptBundle
    inner: Verdict
    at: datetime
    policy: Policy
    verifier_policy: Policy | None

    @property
    def receipt(self) -> Receipt:
        return self.bundle.receipt


def check_receipt_policy(ctx: ReceiptContext) -> str:
    r = ctx.receipt
    if ctx.policy.hash() != r.policyHash:
        raise CheckFailed("receipt policyHash is not the hash of the enclosed policy")
    if ctx.verifier_policy is not None and ctx.verifier_policy.hash() != r.policyHash:
        raise CheckFailed("receipt was made under a different policy than the verifier's")
    if not ctx.policy.measurements:
        raise CheckFailed("a receipt's policy must name expected measurements")
    return "0x" + r.policyHash.hex()


def check_receipt_hashes(ctx: ReceiptContext) -> str:
    r, inner = ctx.receipt, ctx.inner
    if inner.evidence_hash != r.evidenceHash:
        raise CheckFailed("evidenceHash does not match the enclosed evidence")
    if inner.collateral_hash != r.collateralHash:
        raise CheckFailed("collateralHash does not match the collateral used")
    want = PLATFORM_TDX if inner.evidence_type == "tdx" else PLATFORM_NITRO
    if r.platform != want:
        raise CheckFailed(f"platform {r.platform} does not match {inner.evidence_type} evidence")
    return "evidence, collateral and platform match"


def check_key_binding(ctx: ReceiptContext) -> str:
    r, inner = ctx.receipt, ctx.inner
    if inner.evidence_type == "nitro":
        pk = bytes.fromhex(inner.claims.get("public_key") or "")
        if len(pk) != 64 or address_of(pk) != r.enclaveSigner:
            raise CheckFailed("the document's public_key is not the receipt's enclave key")
        return "Nitro public_key"
    if bytes.fromhex(inner.claims["reportdata"])[:32] != key_binding(r.enclaveSigner):
        raise CheckFailed("REPORTDATA[0:32] does not bind the receipt's enclave key")
    return "TDX REPORTDATA"


def check_image(ctx: ReceiptContext) -> str:
    r, inner = ctx.receipt, ctx.inner
    if inner.evidence_type == "nitro":
        if inner.claims.get("pcr16") != image_measurement(r.imageDigest).hex():
            raise CheckFailed("PCR16 is not the measurement of the receipt's image digest")
        return "PCR16"
    try:
        events = parse_events(ctx.bundle.event_log or [])
    except AttestationError as exc:
        raise CheckFailed(str(exc)) from exc
    rtmrs = [bytes.fromhex(inner.claims[f"rtmr{i}"]) for i in range(4)]
    bad = first_mismatch(events, rtmrs)
    if bad is not None:
        raise CheckFailed(f"event log does not replay to RTMR{bad}")
    ev = image_event_digest(r.imageDigest)
    if not any(e.index == 3 and e.digest == ev for e in events):
        raise CheckFailed("the replayed RTMR3 log has no event for the receipt's image digest")
    return "RTMR3 event log"


def check_time(ctx: ReceiptContext) -> str:
    t, pol = ctx.receipt.time, ctx.policy
    if t > ctx.at + timedelta(seconds=pol.max_future_skew_s):
        raise CheckFailed("receipt time is after the verification time")
    ts = ctx.inner.claims.get("timestamp_ms")
    if ts is not None:
        age = (t - datetime.fromtimestamp(ts / 1000, tz=UTC)).total_seconds()
        if age < -pol.max_future_skew_s or age > pol.max_age_s:
            raise CheckFailed(f"receipt time is {age:.0f} s after the evidence, outside [0, {pol.max_age_s}]")
    return t.isoformat()


def check_signature(ctx: ReceiptContext) -> str:
    r = ctx.receipt
    try:
        who = recover(r.digest(), ctx.bundle.signature)
    except ComputeReceiptError as exc:
        raise CheckFailed(str(exc)) from exc
    if who != r.enclaveSigner:
        raise CheckFailed(f"signature is by {who}, not the enclave key {r.enclaveSigner}")
    return "ecrecover == enclaveSigner"


# The rows a receipt adds to its evidence's verdict: the policy first, then (after the evidence's
# own rows, prefixed "evidence.") these, in order.
RECEIPT_POLICY_CHECKS: CheckTable[ReceiptContext] = (("receipt.policy", check_receipt_policy),)
RECEIPT_CHECKS: CheckTable[ReceiptContext] = (
    ("receipt.hashes", check_receipt_hashes),
    ("receipt.key_binding", check_key_binding),
    ("receipt.image", check_image),
    ("receipt.time", check_time),
    ("receipt.signature", check_signature),
)


def _tdx_events(bundle: ReceiptBundle) -> list[Event] | None:
    """The bundle's event log for the quote's own replay (and the policy's event digests), when the
    evidence is a TDX quote and the log parses; a log that does not parse fails ``receipt.image``."""
    if bundle.event_log is None or detect(bundle.evidence) != "tdx":
        return None
    try:
        return parse_events(bundle.event_log)
    except AttestationError:
        return None


def verify_receipt(
    bundle: ReceiptBundle,
    *,
    at: datetime | None = None,
    trust: TrustStore | None = None,
    policy: Policy | None = None,
) -> Verdict:
    """Verify the evidence under the receipt's policy, that the evidence binds the signing key and the
    image, and the signature. ``at`` defaults to the receipt's own time (evidence valid when it was
    made). Test roots are trusted only through ``trust``; a caller ``policy`` must equal the receipt's."""
    r = bundle.receipt
    at = r.time if at is None else at
    rpol = Policy.from_json(bundle.policy)
    try:
        collateral = (
            None if bundle.collateral is None else TdxCollateral.from_json(json.dumps(bundle.collateral))
        )
        inner = verify_evidence(
            bundle.evidence, collateral, at=at, policy=rpol, trust=trust, events=_tdx_events(bundle)
        )
    except AttestationError as exc:
        v = Verdict("receipt", at)
        v.checks.append(Check("evidence.parse", False, f"{type(exc).__name__}: {exc}"))
        return v
    v = Verdict(
        f"receipt/{inner.evidence_type}",
        inner.at,
        claims=inner.claims,
        tcb_status=inner.tcb_status,
        advisory_ids=inner.advisory_ids,
        evidence_hash=inner.evidence_hash,
        collateral_hash=inner.collateral_hash,
        policy_hash=inner.policy_hash,
        root_fingerprint=inner.root_fingerprint,
        roots=inner.roots,
    )
    ctx = ReceiptContext(bundle, inner, at, rpol, policy)
    v.run_table(RECEIPT_POLICY_CHECKS, ctx)
    v.checks.extend(Check("evidence." + c.name, c.ok, c.detail) for c in inner.checks)
    v.run_table(RECEIPT_CHECKS, ctx)
    return v
