"""Off-chain side of contracts/avs/ComputeAVS.vy: signing keys, enrolment statements, receipts.

An enclave key becomes usable on-chain when a stake-weighted threshold of the app's compute
operator set signs that they verified the key's evidence under the image's policy. Each operator
does that here: :func:`verify_enclave` runs ``offchain.compute``'s verifier on the evidence and
checks that it binds the enclave key and the image, then :func:`enrolment_digest` builds the
statement (mirroring ``ComputeAVS.enrolmentDigest``) and :func:`sign_digest` signs it.

Encodings (all ``abi.encode`` + keccak256; signatures are ``(v, r, s)`` over the digest itself)::

    SIGNING_KEY_DOMAIN = keccak256("eigen.avs.SigningKey.v1")
    possession = keccak256(abi.encode(SIGNING_KEY_DOMAIN, chainId, avs, operator, signingKey))
    ENROLMENT_DOMAIN = keccak256("eigen.avs.EnclaveEnrolment.v1")
    enrolment = keccak256(abi.encode(ENROLMENT_DOMAIN, chainId, avs, appId, imageDigest, policyHash,
                                     enclaveKey, evidenceHash, operator, verifiedAt))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain import abi
from offchain.chain.errors import EnrolmentError
from offchain.compute.attest import verify_evidence
from offchain.compute.errors import AttestationError
from offchain.compute.eventlog import first_mismatch, image_event_digest, image_measurement, parse_events
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy, Verdict, require_utc
from offchain.compute.receipt import ReceiptBundle, address_of, key_binding, signature_vrs
from offchain.compute.tdx import TdxCollateral

SIGNING_KEY_DOMAIN = keccak(b"eigen.avs.SigningKey.v1")
ENROLMENT_DOMAIN = keccak(b"eigen.avs.EnclaveEnrolment.v1")


Signature = tuple[int, bytes, bytes]  # (v, r, s) as the contracts take them


_addr = partial(abi.address, err=EnrolmentError)
_b32 = partial(abi.b32, err=EnrolmentError, text=False)


def sign_digest(key: keys.PrivateKey, digest: bytes) -> Signature:
    """Sign a 32-byte digest (no prefix) with low s; returns (v, r, s) with v in {27, 28}."""
    sig = key.sign_msg_hash(_b32(digest, "digest"))
    return signature_vrs(sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27]))


def key_address(key: keys.PrivateKey) -> str:
    return key.public_key.to_checksum_address().lower()


def threshold_signatures(
    digest: bytes, signing_keys: Iterable[keys.PrivateKey], error: type[Exception]
) -> list[Signature]:
    """Signatures over `digest` by the given signing keys, ordered by ascending key address as
    OperatorSetSigCheck requires; a repeated key raises `error`."""
    ks = sorted(signing_keys, key=lambda k: int(key_address(k), 16))
    addrs = [key_address(k) for k in ks]
    if len(set(addrs)) != len(addrs):
        raise error("duplicate signing key")
    return [sign_digest(k, digest) for k in ks]


def possession_digest(chain_id: int, avs: str, operator: str, signing_key: str) -> bytes:
    """What a signing key signs to prove possession for `operator` (OperatorSetSigCheck)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "address", "address"],
            [SIGNING_KEY_DOMAIN, chain_id, _addr(avs), _addr(operator), _addr(signing_key)],
        )
    )


def registration_data(chain_id: int, avs: str, operator: str, key: keys.PrivateKey) -> bytes:
    """The `data` of AllocationManager.registerForOperatorSets: the signing key and its proof of possession."""
    addr = key_address(key)
    v, r, s = sign_digest(key, possession_digest(chain_id, avs, operator, addr))
    return abi_encode(["address", "uint8", "bytes32", "bytes32"], [addr, v, r, s])


@dataclass(frozen=True)
class EnrolmentStatement:
    """What a threshold of the compute set signs: this enclave key's evidence verified under the
    image's policy, and `operator` answers for the key."""

    chain_id: int
    avs: str
    app_id: bytes
    image_digest: bytes
    policy_hash: bytes
    enclave_key: str
    evidence_hash: bytes
    operator: str
    verified_at: int

    def __post_init__(self) -> None:
        for name in ("app_id", "image_digest", "policy_hash", "evidence_hash"):
            _b32(getattr(self, name), name)
        for name in ("avs", "enclave_key", "operator"):
            object.__setattr__(self, name, _addr(getattr(self, name)))
        for name in ("chain_id", "verified_at"):
            abi.uint(getattr(self, name), 256, name, EnrolmentError)

    def digest(self) -> bytes:
        return keccak(
            abi_encode(
                [
                    "bytes32",
                    "uint256",
                    "address",
                    "bytes32",
                    "bytes32",
                    "bytes32",
                    "address",
                    "bytes32",
                    "address",
                    "uint256",
                ],
                [
                    ENROLMENT_DOMAIN,
                    self.chain_id,
                    self.avs,
                    self.app_id,
                    self.image_digest,
                    self.policy_hash,
                    self.enclave_key,
                    self.evidence_hash,
                    self.operator,
                    self.verified_at,
                ],
            )
        )

    def sign(self, signing_keys: Iterable[keys.PrivateKey]) -> list[Signature]:
        """Signatures of the given operators' signing keys, ordered by ascending key address as the
        contract requires (duplicates refused)."""
        return threshold_signatures(self.digest(), signing_keys, EnrolmentError)


@dataclass(frozen=True)
class VerifiedEnclave:
    enclave_key: str
    evidence_hash: bytes
    policy_hash: bytes
    verdict: Verdict


def verify_enclave(
    evidence: bytes,
    *,
    image_digest: bytes,
    policy: Policy,
    at: datetime,
    trust: TrustStore | None = None,
    collateral: TdxCollateral | None = None,
    event_log: list[dict] | None = None,
    enclave_key: str | None = None,
) -> VerifiedEnclave:
    """What an operator checks before signing an enrolment: the evidence verifies under `policy` at
    `at` (roots trusted only through `trust`), the policy names measurements, the evidence binds an
    enclave key (Nitro: public_key; TDX: REPORTDATA[0:32] = key_binding(enclave_key), which must then
    be given) and the image (Nitro: PCR16; TDX: an RTMR3 event in a log that replays to the quote).
    Raises EnrolmentError naming the first failed check."""
    _b32(image_digest, "image_digest")
    if not policy.measurements:
        raise EnrolmentError("the app's policy must name expected measurements")
    try:
        v = verify_evidence(evidence, collateral, at=require_utc(at), policy=policy, trust=trust)
    except AttestationError as exc:
        raise EnrolmentError(f"evidence rejected: {type(exc).__name__}: {exc}") from exc
    if not v.accepted:
        f = v.first_failure
        raise EnrolmentError(f"evidence rejected: {f.name if f else '?'}: {f.detail if f else ''}")
    if v.evidence_type == "nitro":
        pk = bytes.fromhex(v.claims.get("public_key") or "")
        if len(pk) != 64:
            raise EnrolmentError("the document carries no 64-byte enclave public key")
        key = address_of(pk)
        if enclave_key is not None and _addr(enclave_key) != key:
            raise EnrolmentError("the document's public key is not the named enclave key")
        if v.claims.get("pcr16") != image_measurement(image_digest).hex():
            raise EnrolmentError("PCR16 is not the measurement of the image digest")
    else:
        if enclave_key is None:
            raise EnrolmentError("TDX evidence binds a key by hash: name the enclave key")
        key = _addr(enclave_key)
        if bytes.fromhex(v.claims["reportdata"])[:32] != key_binding(key):
            raise EnrolmentError("REPORTDATA[0:32] does not bind the enclave key")
        try:
            events = parse_events(event_log or [])
        except AttestationError as exc:
            raise EnrolmentError(f"bad event log: {exc}") from exc
        if first_mismatch(events, [bytes.fromhex(v.claims[f"rtmr{i}"]) for i in range(4)]) is not None:
            raise EnrolmentError("event log does not replay to the quote's RTMRs")
        if not any(e.index == 3 and e.digest == image_event_digest(image_digest) for e in events):
            raise EnrolmentError("no RTMR3 event for the image digest")
    return VerifiedEnclave(key, keccak(evidence), policy.hash(), v)


def receipt_args(bundle: ReceiptBundle) -> tuple[tuple, Signature]:
    """(receipt tuple, (v, r, s)) for ComputeAVS.submitReceipt / proveFault."""
    return tuple(bundle.receipt.values()), signature_vrs(bundle.signature)
