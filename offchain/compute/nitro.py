"""AWS Nitro Enclaves attestation documents (COSE_Sign1, ES384) and development-TEE documents.

Strict CBOR (see :mod:`offchain.compute.cbor`), protected header exactly ``{1: -35}``, payload
fields typed and bounded, cabundle chain to a pinned root (AWS by default; a test root only when
the caller names it), COSE signature by the leaf key, debug enclaves (PCR0-2 all zero) refused,
document timestamp within ``max_age`` of ``at`` and not in its future beyond the allowed skew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from eth_hash.auto import keccak

from offchain.compute import cbor, cose
from offchain.compute.codec import bounded_bytes
from offchain.compute.cose import sig_structure
from offchain.compute.errors import CheckFailed, EvidenceFormatError
from offchain.compute.pki import (
    TrustStore,
    der,
    ecdsa_verify,
    fingerprint,
    load_certs,
    verify_chain,
)
from offchain.compute.policy import (
    NITRO_MEASUREMENTS,
    CheckTable,
    Policy,
    Verdict,
    check_measurements,
    require_utc,
)

MAX_DOC = 1 << 16
PROTECTED_ES384 = b"\xa1\x01\x38\x22"
_REQUIRED = ("module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle")
_OPTIONAL = ("public_key", "user_data", "nonce")


@dataclass(frozen=True)
class NitroDocument:
    raw: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    module_id: str
    timestamp_ms: int
    pcrs: dict[int, bytes]
    certificate: x509.Certificate
    cabundle: tuple[x509.Certificate, ...]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    def measurements(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {f"pcr{i}": v for i, v in self.pcrs.items()}
        out.update(public_key=self.public_key, user_data=self.user_data, nonce=self.nonce)
        return out


def _bytes(value: Any, what: str, lo: int, hi: int) -> bytes:
    if not isinstance(value, bytes) or not lo <= len(value) <= hi:
        raise EvidenceFormatError(f"Nitro {what} must be a byte string of {lo}..{hi} bytes")
    return value


def _cert(value: bytes, what: str) -> x509.Certificate:
    return load_certs(value, der_form=True, what=f"Nitro {what}", error=EvidenceFormatError)[0]


def is_nitro(raw: bytes) -> bool:
    """Cheap type detection: an untagged (0x84) or tag-18 (0xd2 0x84) COSE_Sign1 array."""
    return raw[:1] == b"\x84" or raw[:2] == b"\xd2\x84"


def parse_document(raw: bytes) -> NitroDocument:
    raw = bounded_bytes(raw, MAX_DOC, "attestation document", EvidenceFormatError)
    msg = cose.parse_sign1(raw, EvidenceFormatError)
    protected, payload, signature = msg.protected, msg.payload, msg.signature
    if msg.unprotected:
        raise EvidenceFormatError("COSE_Sign1 unprotected header must be an empty map")
    if protected != PROTECTED_ES384:
        raise EvidenceFormatError(f"protected header {msg.header!r} is not exactly {{1: -35}} (ES384)")
    if len(signature) != 96:
        raise EvidenceFormatError("ES384 signature must be 96 bytes")
    body = cbor.loads(payload)
    if not isinstance(body, dict):
        raise EvidenceFormatError("payload is not a CBOR map")
    missing = [k for k in _REQUIRED if k not in body]
    if missing:
        raise EvidenceFormatError(f"payload lacks {missing}")
    unknown = [k for k in body if k not in _REQUIRED + _OPTIONAL]
    if unknown:
        raise EvidenceFormatError(f"payload has unknown keys {unknown}")
    module_id = body["module_id"]
    if not isinstance(module_id, str) or not module_id:
        raise EvidenceFormatError("module_id must be a non-empty text string")
    if body["digest"] != "SHA384":
        raise EvidenceFormatError(f"digest {body['digest']!r} is not SHA384")
    ts = body["timestamp"]
    if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
        raise EvidenceFormatError("timestamp must be a positive integer (ms)")
    pcrs = body["pcrs"]
    if not isinstance(pcrs, dict) or not pcrs:
        raise EvidenceFormatError("pcrs must be a non-empty map")
    for k, val in pcrs.items():
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < 32:
            raise EvidenceFormatError(f"PCR index {k!r} out of range")
        if not isinstance(val, bytes) or len(val) != 48:
            raise EvidenceFormatError(f"PCR{k} must be 48 bytes (SHA-384)")
    cabundle = body["cabundle"]
    if not isinstance(cabundle, list) or not cabundle:
        raise EvidenceFormatError("cabundle must be a non-empty array")
    opt = {
        k: (None if body.get(k) is None else _bytes(body[k], k, 0 if k != "public_key" else 1, 1024))
        for k in _OPTIONAL
    }
    return NitroDocument(
        raw=raw,
        protected=protected,
        payload=payload,
        signature=signature,
        module_id=module_id,
        timestamp_ms=ts,
        pcrs=dict(sorted(pcrs.items())),
        certificate=_cert(_bytes(body["certificate"], "certificate", 1, 1024), "certificate"),
        cabundle=tuple(_cert(_bytes(c, "cabundle entry", 1, 1024), "cabundle entry") for c in cabundle),
        public_key=opt["public_key"],
        user_data=opt["user_data"],
        nonce=opt["nonce"],
    )


@dataclass(frozen=True)
class NitroContext:
    """What the checks of :func:`verify_nitro` share: the document, the time, the policy, the trust
    store and the verdict being built."""

    doc: NitroDocument
    at: datetime
    policy: Policy
    store: TrustStore
    verdict: Verdict


def check_cert_chain(ctx: NitroContext) -> str:
    d, v = ctx.doc, ctx.verdict
    certs = (d.certificate, *reversed(d.cabundle))
    root = verify_chain(certs, ctx.store, ctx.at, "cabundle chain")
    v.root_fingerprint = fingerprint(root)
    v.roots["cabundle"] = v.root_fingerprint
    return f"{len(certs)} certificates to root {v.root_fingerprint}"


def check_cose_signature(ctx: NitroContext) -> str:
    d = ctx.doc
    key = d.certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise CheckFailed("leaf key is not P-384")
    ecdsa_verify(key, d.signature, sig_structure(d.protected, d.payload), "COSE_Sign1")
    return "ES384 by the leaf key"


def check_debug(ctx: NitroContext) -> str:
    pcrs = ctx.doc.pcrs
    zero = [i for i in (0, 1, 2) if i in pcrs and not any(pcrs[i])]
    if any(i not in pcrs for i in (0, 1, 2)):
        raise CheckFailed("PCR0-2 missing")
    if len(zero) == 3 and not ctx.policy.allow_debug:
        raise CheckFailed("debug enclave (PCR0, PCR1 and PCR2 are all zero)")
    return "production enclave" if len(zero) < 3 else "debug enclave allowed by policy"


def check_freshness(ctx: NitroContext) -> str:
    age = (ctx.at - ctx.doc.timestamp).total_seconds()
    if age < -ctx.policy.max_future_skew_s:
        raise CheckFailed(f"document is {-age:.3f} s in the future of `at`")
    if age > ctx.policy.max_age_s:
        raise CheckFailed(f"document is {age:.0f} s old, limit {ctx.policy.max_age_s}")
    return f"age {age:.3f} s"


def check_nitro_measurements(ctx: NitroContext) -> str:
    if ctx.policy.event_digests:
        raise CheckFailed("policy names TDX event digests; a Nitro document has no event log")
    return check_measurements(ctx.policy, ctx.doc.measurements(), NITRO_MEASUREMENTS)


# The rows of a Nitro verdict, in order (docs/attestation.md, "What is checked").
NITRO_CHECKS: CheckTable[NitroContext] = (
    ("cert_chain", check_cert_chain),
    ("cose_signature", check_cose_signature),
    ("debug", check_debug),
    ("freshness", check_freshness),
    ("measurements", check_nitro_measurements),
)


def verify_nitro(
    doc: NitroDocument | bytes,
    *,
    at: datetime,
    policy: Policy | None = None,
    trust: TrustStore | None = None,
) -> Verdict:
    """Verify a Nitro(-format) document at ``at``. Certificates are checked at ``at`` too."""
    at = require_utc(at)
    policy = policy or Policy()
    d = doc if isinstance(doc, NitroDocument) else parse_document(doc)
    store = (trust or TrustStore.default()).restricted(policy.trusted_roots)
    v = Verdict("nitro", at, evidence_hash=keccak(d.raw), policy_hash=policy.hash())
    v.collateral_hash = keccak(der(d.cabundle[0]))
    v.claims = {f"pcr{i}": p.hex() for i, p in d.pcrs.items()}
    v.claims.update(
        module_id=d.module_id,
        timestamp_ms=d.timestamp_ms,
        public_key=None if d.public_key is None else d.public_key.hex(),
        user_data=None if d.user_data is None else d.user_data.hex(),
        nonce=None if d.nonce is None else d.nonce.hex(),
    )
    ctx = NitroContext(d, at, policy, store, v)
    v.run_table(NITRO_CHECKS, ctx)
    return v
