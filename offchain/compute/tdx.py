"""Intel TDX DCAP quotes (v4 and v5): strict parsing and verification against collateral.

Algorithm (see docs/attestation.md): PCK chain to the pinned Intel root with the root and PCK
CRLs; QE report signed by the PCK key; attestation key bound by the QE report data; quote signed
by the attestation key; TCB info and QE identity signed by the TCB signing chain, inside their
validity windows; TCB level matching with Intel QVL semantics (TDX components 0 and 1 skipped
when the TDX module major version is non-zero); TDX module identity; status convergence; TD
attributes; expected measurements. Everything is evaluated at the caller's explicit time.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from eth_hash.auto import keccak

from offchain.abi import ZERO32
from offchain.compute.codec import bounded_bytes, load_json
from offchain.compute.der import SGX_EXT_OID, parse_sgx_extension
from offchain.compute.errors import CheckFailed, CollateralError, EvidenceFormatError, PolicyError
from offchain.compute.eventlog import Event, locate_mismatch
from offchain.compute.pki import (
    TrustStore,
    check_crl,
    ecdsa_verify,
    fingerprint,
    load_certs,
    p256_key_from_raw,
    touch_crl,
    verify_chain,
)
from offchain.compute.policy import (
    EVENT_REGISTERS,
    NEVER_ACCEPTED,
    TCB_STATUSES,
    TDX_MEASUREMENTS,
    CheckTable,
    Policy,
    Verdict,
    check_measurements,
    parse_time,
    require_utc,
)

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
TEE_TYPE_TDX = 0x81
HEADER_LEN = 48
TD10_LEN = 584
TD15_LEN = 648
MAX_QUOTE = 1 << 16

ATTR_DEBUG = 1 << 0
ATTR_SEPT_VE_DISABLE = 1 << 28
# TUD bits 1-7, SEC bits 8-27 and 29, OTHER bits 32-62 must be zero (PKS 30, KL 31, PERFMON 63 allowed).
ATTR_RESERVED = (0xFE) | (0x0FFFFF00) | (1 << 29) | (0x7FFFFFFF << 32)

_STATUS_RANK = {s: i for i, s in enumerate(TCB_STATUSES)}


@dataclass(frozen=True)
class TdReport:
    tee_tcb_svn: bytes
    mrseam: bytes
    mrsignerseam: bytes
    seam_attributes: bytes
    td_attributes: int
    xfam: bytes
    mrtd: bytes
    mrconfigid: bytes
    mrowner: bytes
    mrownerconfig: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    reportdata: bytes
    tee_tcb_svn2: bytes | None = None
    mrservicetd: bytes | None = None


@dataclass(frozen=True)
class QeReport:
    raw: bytes
    cpusvn: bytes
    miscselect: int
    attributes: bytes
    mrenclave: bytes
    mrsigner: bytes
    isvprodid: int
    isvsvn: int
    reportdata: bytes


@dataclass(frozen=True)
class TdxQuote:
    raw: bytes
    version: int
    body_type: int
    signed: bytes
    report: TdReport
    signature: bytes
    attestation_key: bytes
    qe_report: QeReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_chain: tuple[x509.Certificate, ...]
    trailing: bytes

    def measurements(self) -> dict[str, bytes]:
        r = self.report
        out = {
            "mrtd": r.mrtd,
            "mrconfigid": r.mrconfigid,
            "mrowner": r.mrowner,
            "mrownerconfig": r.mrownerconfig,
            "reportdata": r.reportdata,
        }
        out.update({f"rtmr{i}": v for i, v in enumerate(r.rtmrs)})
        return out


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise EvidenceFormatError(f"TDX quote truncated in {what} (offset {self.pos}, need {n})")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, what: str) -> int:
        return int(struct.unpack("<H", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])


def _td_report(body: bytes) -> TdReport:
    f = [
        body[o : o + n]
        for o, n in (
            (0, 16),
            (16, 48),
            (64, 48),
            (112, 8),
            (120, 8),
            (128, 8),
            (136, 48),
            (184, 48),
            (232, 48),
            (280, 48),
        )
    ]
    rt = tuple(body[328 + 48 * i : 376 + 48 * i] for i in range(4))
    return TdReport(
        tee_tcb_svn=f[0],
        mrseam=f[1],
        mrsignerseam=f[2],
        seam_attributes=f[3],
        td_attributes=int.from_bytes(f[4], "little"),
        xfam=f[5],
        mrtd=f[6],
        mrconfigid=f[7],
        mrowner=f[8],
        mrownerconfig=f[9],
        rtmrs=rt,
        reportdata=body[520:584],  # type: ignore[arg-type]
        tee_tcb_svn2=body[584:600] if len(body) == TD15_LEN else None,
        mrservicetd=body[600:648] if len(body) == TD15_LEN else None,
    )


def _qe_report(raw: bytes) -> QeReport:
    return QeReport(
        raw=raw,
        cpusvn=raw[0:16],
        miscselect=int.from_bytes(raw[16:20], "little"),
        attributes=raw[48:64],
        mrenclave=raw[64:96],
        mrsigner=raw[128:160],
        isvprodid=int.from_bytes(raw[256:258], "little"),
        isvsvn=int.from_bytes(raw[258:260], "little"),
        reportdata=raw[320:384],
    )


def _pem_chain(pem: bytes) -> tuple[x509.Certificate, ...]:
    if pem.endswith(b"\x00"):
        pem = pem[:-1]
    if b"\x00" in pem:
        raise EvidenceFormatError("NUL bytes inside the PCK certificate chain")
    certs = load_certs(pem, der_form=False, what="PCK certificate chain", error=EvidenceFormatError)
    if len(certs) != 3:
        raise EvidenceFormatError(f"PCK chain has {len(certs)} certificates, expected 3")
    if pem != b"".join(c.public_bytes(Encoding.PEM) for c in certs):
        raise EvidenceFormatError("PCK certificate chain is not canonical PEM (64-column lines, LF)")
    return tuple(certs)


def parse_quote(raw: bytes) -> TdxQuote:
    """Parse a TDX quote v4/v5 strictly; trailing bytes are kept for the policy to judge."""
    raw = bounded_bytes(raw, MAX_QUOTE, "quote", EvidenceFormatError)
    r = _Reader(raw)
    version = r.u16("header")
    if version not in (4, 5):
        raise EvidenceFormatError(f"unsupported quote version {version} (need 4 or 5)")
    if r.u16("header") != 2:
        raise EvidenceFormatError("attestation key type is not ECDSA-256-with-P-256")
    if r.u32("header") != TEE_TYPE_TDX:
        raise EvidenceFormatError("quote is not a TDX quote (tee_type != 0x81)")
    r.take(4, "header")
    if r.take(16, "header") != INTEL_QE_VENDOR_ID:
        raise EvidenceFormatError("QE vendor id is not Intel's")
    r.take(20, "header")
    if version == 4:
        body_type, body = 2, r.take(TD10_LEN, "TD report")
    else:
        body_type = r.u16("body header")
        size = r.u32("body header")
        expected = {2: TD10_LEN, 3: TD15_LEN}.get(body_type)
        if expected is None:
            raise EvidenceFormatError(f"v5 body type {body_type} is not a TD report (2 or 3)")
        if size != expected:
            raise EvidenceFormatError(f"v5 body size {size} does not match body type {body_type}")
        body = r.take(size, "TD report")
    signed = raw[: r.pos]
    sig_len = r.u32("signature length")
    sig = _Reader(r.take(sig_len, "signature data"))
    signature = sig.take(64, "quote signature")
    ak = sig.take(64, "attestation key")
    if sig.u16("certification data type") != 6:
        raise EvidenceFormatError("certification data type is not 6 (QE report)")
    cert_size = sig.u32("certification data size")
    cert = _Reader(sig.take(cert_size, "certification data"))
    if sig.pos != len(sig.buf):
        raise EvidenceFormatError("signature data length does not match its contents")
    qe_raw = cert.take(384, "QE report")
    qe_sig = cert.take(64, "QE report signature")
    auth = cert.take(cert.u16("QE auth data size"), "QE auth data")
    if cert.u16("inner certification type") != 5:
        raise EvidenceFormatError("inner certification data type is not 5 (PCK chain)")
    pem = cert.take(cert.u32("PCK chain size"), "PCK chain")
    if cert.pos != len(cert.buf):
        raise EvidenceFormatError("certification data length does not match its contents")
    return TdxQuote(
        raw=raw,
        version=version,
        body_type=body_type,
        signed=signed,
        report=_td_report(body),
        signature=signature,
        attestation_key=ak,
        qe_report=_qe_report(qe_raw),
        qe_report_signature=qe_sig,
        qe_auth_data=auth,
        pck_chain=_pem_chain(pem),
        trailing=raw[r.pos :],
    )


# ---- collateral ----------------------------------------------------------------------------------

COLLATERAL_FIELDS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)


def slice_json_member(text: str, key: str) -> str:
    """Raw text of the top-level member ``key`` of a JSON object, exactly as served (never re-encoded)."""
    dec = json.JSONDecoder()
    s = text.strip()
    if not s.startswith("{"):
        raise CollateralError("collateral document is not a JSON object")
    pos = 1
    found: str | None = None
    ws = " \t\r\n"
    try:
        while True:
            while s[pos] in ws:
                pos += 1
            if s[pos] == "}":
                break
            k, pos = json.decoder.scanstring(s, pos + 1)  # type: ignore[attr-defined]
            while s[pos] in ws:
                pos += 1
            if s[pos] != ":":
                raise CollateralError("malformed JSON object")
            pos += 1
            while s[pos] in ws:
                pos += 1
            _, end = dec.raw_decode(s, pos)
            if k == key:
                if found is not None:
                    raise CollateralError(f"duplicate key {key!r}")
                found = s[pos:end]
            pos = end
            while s[pos] in ws:
                pos += 1
            if s[pos] == ",":
                pos += 1
            elif s[pos] != "}":
                raise CollateralError("malformed JSON object")
        if s[pos + 1 :].strip(ws):
            raise CollateralError("bytes after the collateral JSON object")
    except (IndexError, ValueError) as exc:
        raise CollateralError(f"malformed collateral JSON: {exc}") from exc
    if found is None:
        raise CollateralError(f"collateral JSON lacks {key!r}")
    return found


@dataclass(frozen=True)
class TdxCollateral:
    """Collateral in dcap-qvl's ``QuoteCollateralV3`` shape; absent parts are ``None``."""

    parts: dict[str, str | None] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.parts.get(name)

    def hash(self) -> bytes:
        """keccak256 of the canonical JSON of all nine fields (absent ones as null)."""
        canon = {k: self.parts.get(k) for k in COLLATERAL_FIELDS}
        return keccak(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode())

    @classmethod
    def from_json(cls, text: str | bytes) -> TdxCollateral:
        obj = load_json(text, "collateral", CollateralError)
        if not isinstance(obj, dict):
            raise CollateralError("collateral JSON must be an object")
        unknown = set(obj) - set(COLLATERAL_FIELDS)
        if unknown:
            raise CollateralError(f"unknown collateral field(s): {sorted(unknown)}")
        if not all(v is None or isinstance(v, str) for v in obj.values()):
            raise CollateralError("collateral fields must be strings")
        return cls({k: obj.get(k) for k in COLLATERAL_FIELDS})

    @classmethod
    def from_files(cls, blobs: Iterable[bytes]) -> TdxCollateral:
        """Assemble collateral from files: dcap-qvl JSON (the only form that carries the issuer
        chains), Intel PCS ``{"tcbInfo": ..., "signature": ...}`` and ``{"enclaveIdentity": ...}``
        responses, and DER CRLs (the one whose issuer CN ends in "Root CA" is the root CRL)."""
        parts: dict[str, str | None] = dict.fromkeys(COLLATERAL_FIELDS)
        for blob in blobs:
            if blob[:1] == b"{":
                head = load_json(blob, "collateral file", CollateralError)
                text = blob.decode()
                for key, body, sig in (
                    ("tcbInfo", "tcb_info", "tcb_info_signature"),
                    ("enclaveIdentity", "qe_identity", "qe_identity_signature"),
                ):
                    if key in head:
                        if not isinstance(head.get("signature"), str):
                            raise CollateralError(f"PCS {key} response lacks a signature string")
                        parts[body], parts[sig] = slice_json_member(text, key), head["signature"]
                        break
                else:
                    full = cls.from_json(text)
                    parts.update({k: v for k, v in full.parts.items() if v is not None})
            else:
                try:
                    crl = x509.load_der_x509_crl(blob)
                    cn = crl.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
                except Exception as exc:  # noqa: BLE001 - parsing boundary (lazy DER fields)
                    raise CollateralError("collateral file is neither JSON nor a DER CRL") from exc
                is_root = bool(cn) and str(cn[0].value).endswith("Root CA")
                parts["root_ca_crl" if is_root else "pck_crl"] = blob.hex()
        return cls(parts)


# ---- verification --------------------------------------------------------------------------------


def _need(col: TdxCollateral | None, name: str) -> str:
    v = None if col is None else col.get(name)
    if v is None:
        raise CheckFailed(f"collateral lacks {name}")
    return v


def _crl(col: TdxCollateral | None, name: str) -> x509.CertificateRevocationList:
    text = _need(col, name)
    try:
        return touch_crl(x509.load_der_x509_crl(bytes.fromhex(text)))
    except Exception as exc:  # noqa: BLE001 - parsing boundary: cryptography raises several unrelated types
        raise CheckFailed(f"{name} is not a well-formed hex DER CRL ({type(exc).__name__}: {exc})") from exc


def _chain(col: TdxCollateral | None, name: str) -> list[x509.Certificate]:
    return load_certs(_need(col, name).encode(), der_form=False, what=name, error=CheckFailed)


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _signed_json(
    col: TdxCollateral | None,
    body: str,
    sig: str,
    chain: str,
    anchor: x509.Certificate,
    root_crl: Any,
    at: datetime,
    verified: dict[str, list[x509.Certificate]],
) -> dict[str, Any]:
    """Verify a signed collateral JSON (TCB info or QE identity) and return the decoded object.

    Its issuer chain must end at ``anchor``, the root the evidence's own PCK chain ended at: any
    other root the caller trusts (a test CA, the dev TEE) cannot vouch for collateral of this quote."""
    text = _need(col, chain)
    if text not in verified:  # TCB info and QE identity usually share one issuer chain
        certs = _chain(col, chain)
        if len(certs) != 2:
            raise CheckFailed(f"{chain} has {len(certs)} certificates, expected signer + root")
        if fingerprint(certs[-1]) != fingerprint(anchor):
            raise CheckFailed(
                f"{chain} ends at root {fingerprint(certs[-1])}, not at the evidence's root "
                f"{fingerprint(anchor)}: collateral must chain to the root the quote chains to"
            )
        verify_chain(certs, TrustStore((anchor,)), at, chain)
        if _cn(certs[0]) != "Intel SGX TCB Signing":
            raise CheckFailed(f"{chain} signer is {_cn(certs[0])!r}, not 'Intel SGX TCB Signing'")
        verified[text] = certs
    certs = verified[text]
    if root_crl is not None and root_crl.get_revoked_certificate_by_serial_number(certs[0].serial_number):
        raise CheckFailed(f"{chain} signer is revoked by the root CRL")
    raw = _need(col, body)
    try:
        sig_raw = bytes.fromhex(_need(col, sig))
    except ValueError as exc:
        raise CheckFailed(f"{sig} is not hex") from exc
    if len(sig_raw) != 64:
        raise CheckFailed(f"{sig} is not a 64-byte r||s signature")
    ecdsa_verify(certs[0].public_key(), sig_raw, raw.encode(), body)  # type: ignore[arg-type]
    obj = load_json(raw, body, CheckFailed)
    try:
        issue, nxt = parse_time(obj["issueDate"]), parse_time(obj["nextUpdate"])
    except (ValueError, KeyError, TypeError, PolicyError) as exc:
        raise CheckFailed(f"{body} is malformed: {exc}") from exc
    if not isinstance(obj, dict):
        raise CheckFailed(f"{body} is not an object")
    if not issue <= at < nxt:
        raise CheckFailed(f"{body} not current at {at.isoformat()} ({obj['issueDate']}..{obj['nextUpdate']})")
    return obj


def _svns(items: Any, n: int, what: str) -> list[int]:
    if not isinstance(items, list) or len(items) != n:
        raise CheckFailed(f"{what} must list {n} components")
    try:
        return [int(c["svn"]) for c in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"{what} component lacks an svn") from exc


def _masked_eq(value: bytes, want_hex: str, mask_hex: str) -> bool:
    want, mask = bytes.fromhex(want_hex), bytes.fromhex(mask_hex)
    if len(want) != len(value) or len(mask) != len(value):
        return False
    v = int.from_bytes(value, "big") & int.from_bytes(mask, "big")
    return v == int.from_bytes(want, "big") & int.from_bytes(mask, "big")


def converge(statuses: Iterable[str]) -> str:
    """Worst status wins; OutOfDate combined with a configuration status is OutOfDateConfigurationNeeded."""
    seen = list(statuses)
    for s in seen:
        if s not in _STATUS_RANK:
            raise CheckFailed(f"unknown TCB status {s!r}")
    worst = max(seen, key=_STATUS_RANK.__getitem__)
    if worst == "OutOfDate" and any("Configuration" in s for s in seen):
        return "OutOfDateConfigurationNeeded"
    return worst


def match_tcb_level(tcb_info: dict[str, Any], pck: dict[str, Any], tee_tcb_svn: bytes) -> dict[str, Any]:
    """First TCB level (in the given, descending order) that the platform meets; Intel QVL rule:
    TDX components 0 and 1 are not compared when TEE_TCB_SVN[1] (module major) is non-zero."""
    start = 2 if tee_tcb_svn[1] > 0 else 0
    for level in tcb_info.get("tcbLevels", []):
        tcb = level.get("tcb", {}) if isinstance(level, dict) else {}
        sgx = _svns(tcb.get("sgxtcbcomponents"), 16, "sgxtcbcomponents")
        tdx = _svns(tcb.get("tdxtcbcomponents"), 16, "tdxtcbcomponents")
        if (
            all(p >= s for p, s in zip(pck["sgx_tcb_components"], sgx, strict=True))
            and pck["pcesvn"] >= int(tcb.get("pcesvn", 1 << 30))
            and all(tee_tcb_svn[i] >= tdx[i] for i in range(start, 16))
        ):
            return level
    raise CheckFailed("no TCB level matches the platform (TCB not supported)")


def _module_status(tcb_info: dict[str, Any], report: TdReport) -> tuple[str | None, list[str]]:
    mod = tcb_info.get("tdxModule")
    if not isinstance(mod, dict) or not _masked_eq(
        report.seam_attributes, mod.get("attributes", ""), mod.get("attributesMask", "")
    ):
        raise CheckFailed("SEAM attributes do not match tdxModule")
    if report.mrsignerseam.hex() != str(mod.get("mrsigner", "")).lower():
        raise CheckFailed("MRSIGNERSEAM does not match tdxModule.mrsigner")
    major = report.tee_tcb_svn[1]
    if major == 0:
        return None, []
    ident = f"TDX_{major:02X}"
    for m in tcb_info.get("tdxModuleIdentities", []) or []:
        if m.get("id") == ident:
            if report.mrsignerseam.hex() != str(m.get("mrsigner", "")).lower() or not _masked_eq(
                report.seam_attributes, m.get("attributes", ""), m.get("attributesMask", "")
            ):
                raise CheckFailed(f"TDX module {ident} identity does not match")
            for lvl in m.get("tcbLevels", []):
                if int(lvl["tcb"]["isvsvn"]) <= report.tee_tcb_svn[0]:
                    return str(lvl["tcbStatus"]), list(lvl.get("advisoryIDs", []))
            raise CheckFailed(f"no TCB level of module {ident} matches ISVSVN {report.tee_tcb_svn[0]}")
    raise CheckFailed(f"TCB info has no module identity {ident}")


@dataclass
class TdxContext:
    """What the checks of :func:`verify_tdx` share: the quote and its inputs, the verdict being built,
    and what earlier checks established (a later check that lacks it fails, naming why)."""

    quote: TdxQuote
    collateral: TdxCollateral | None
    at: datetime
    policy: Policy
    store: TrustStore
    verdict: Verdict
    pck: dict[str, Any] | None = None  # the PCK certificate's SGX extension, when it parses
    root: x509.Certificate | None = None  # set by pck_chain
    root_crl: x509.CertificateRevocationList | None = None  # set by root_crl
    tcb_info: dict[str, Any] | None = None  # set by tcb_info (verified)
    qe_identity: dict[str, Any] | None = None  # set by qe_identity (verified)
    unverified: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # collateral bodies decoded, not trusted
    qe_status: tuple[str, list[str]] | None = None  # set by qe_identity_match: (QE TCB status, advisories)
    chains: dict[str, list[x509.Certificate]] = field(default_factory=dict)  # issuer chains verified so far
    events: list[Event] | None = None  # the event log given with the quote, if any

    def signed_json(self, body: str, sig: str, chain: str) -> dict[str, Any]:
        if self.root is None:
            raise CheckFailed(f"{chain}: the PCK chain did not verify, so there is no root to anchor it to")
        obj = _signed_json(self.collateral, body, sig, chain, self.root, self.root_crl, self.at, self.chains)
        self.verdict.roots[chain] = fingerprint(self.root)
        return obj

    def peek(self, name: str) -> None:
        """Decode (without trusting) a collateral body, so later checks can still report what it says."""
        try:
            obj = load_json(_need(self.collateral, name), name, CheckFailed)
        except CheckFailed:
            return
        if isinstance(obj, dict):
            self.unverified[name] = obj

    def check_collateral_age(self, obj: dict[str, Any]) -> None:
        if self.policy.max_collateral_age_s is not None:
            age = (self.at - parse_time(obj["issueDate"])).total_seconds()
            if age > self.policy.max_collateral_age_s:
                raise CheckFailed(
                    f"collateral issued {age:.0f} s before `at`, limit {self.policy.max_collateral_age_s}"
                )


def check_trailing_bytes(ctx: TdxContext) -> str:
    q = ctx.quote
    if not q.trailing:
        return "none"
    if ctx.policy.allow_trailing_zeros and not any(q.trailing):
        return f"{len(q.trailing)} zero bytes"
    raise CheckFailed(f"{len(q.trailing)} trailing bytes after the signature data are not all zero")


def check_pck_chain(ctx: TdxContext) -> str:
    q, v = ctx.quote, ctx.verdict
    leaf, inter, _ = q.pck_chain
    root = verify_chain(q.pck_chain, ctx.store, ctx.at, "PCK chain")
    if _cn(leaf) != "Intel SGX PCK Certificate" or _cn(inter) not in (
        "Intel SGX PCK Platform CA",
        "Intel SGX PCK Processor CA",
    ):
        raise CheckFailed(f"unexpected PCK chain names {_cn(leaf)!r} / {_cn(inter)!r}")
    v.root_fingerprint = fingerprint(root)
    v.roots["pck_chain"] = v.root_fingerprint
    ctx.root = root
    if ctx.pck is None:
        raise CheckFailed("PCK certificate lacks a valid SGX extension")
    return f"root {v.root_fingerprint}"


def check_root_crl(ctx: TdxContext) -> str:
    if ctx.root is None:
        raise CheckFailed("PCK chain not verified")
    crl = _crl(ctx.collateral, "root_ca_crl")
    check_crl(crl, ctx.root, ctx.at, "root CA CRL", [ctx.quote.pck_chain[1].serial_number])
    ctx.root_crl = crl
    return f"{len(crl)} revoked"


def check_pck_crl(ctx: TdxContext) -> str:
    q = ctx.quote
    crl = _crl(ctx.collateral, "pck_crl")
    check_crl(crl, q.pck_chain[1], ctx.at, "PCK CRL", [q.pck_chain[0].serial_number])
    return f"{len(crl)} revoked"


def check_tcb_info(ctx: TdxContext) -> str:
    ctx.peek("tcb_info")
    obj = ctx.signed_json("tcb_info", "tcb_info_signature", "tcb_info_issuer_chain")
    if obj.get("id") != "TDX" or obj.get("version") != 3:
        raise CheckFailed(f"TCB info id/version {obj.get('id')}/{obj.get('version')} is not TDX/3")
    ctx.check_collateral_age(obj)
    ctx.tcb_info = obj
    return f"eval {obj.get('tcbEvaluationDataNumber')}, {obj['issueDate']}..{obj['nextUpdate']}"


def check_qe_identity(ctx: TdxContext) -> str:
    ctx.peek("qe_identity")
    obj = ctx.signed_json("qe_identity", "qe_identity_signature", "qe_identity_issuer_chain")
    if obj.get("id") != "TD_QE" or obj.get("version") not in (2, 3):
        raise CheckFailed(f"QE identity id/version {obj.get('id')}/{obj.get('version')} is not TD_QE/2")
    ctx.check_collateral_age(obj)
    ctx.qe_identity = obj
    return f"eval {obj.get('tcbEvaluationDataNumber')}"


def check_qe_report_signature(ctx: TdxContext) -> str:
    q = ctx.quote
    ecdsa_verify(q.pck_chain[0].public_key(), q.qe_report_signature, q.qe_report.raw, "QE report")  # type: ignore[arg-type]
    return "signed by the PCK key"


def check_qe_report_data(ctx: TdxContext) -> str:
    q = ctx.quote
    want = hashlib.sha256(q.attestation_key + q.qe_auth_data).digest() + b"\x00" * 32
    if q.qe_report.reportdata != want:
        raise CheckFailed("QE report data does not bind the attestation key")
    return "binds the attestation key"


def check_quote_signature(ctx: TdxContext) -> str:
    q = ctx.quote
    ecdsa_verify(p256_key_from_raw(q.attestation_key), q.signature, q.signed, "quote")
    return "signed by the attestation key"


def check_qe_identity_match(ctx: TdxContext) -> str:
    qi = ctx.qe_identity if ctx.qe_identity is not None else ctx.unverified.get("qe_identity")
    if qi is None:
        raise CheckFailed("no QE identity")
    qe = ctx.quote.qe_report
    try:
        if qe.mrsigner.hex() != qi["mrsigner"].lower() or qe.isvprodid != int(qi["isvprodid"]):
            raise CheckFailed("QE MRSIGNER/ISVPRODID do not match the QE identity")
        if not _masked_eq(qe.miscselect.to_bytes(4, "big"), qi["miscselect"], qi["miscselectMask"]):
            raise CheckFailed("QE MISCSELECT does not match")
        if not _masked_eq(qe.attributes, qi["attributes"], qi["attributesMask"]):
            raise CheckFailed("QE ATTRIBUTES do not match (debug QE?)")
        for lvl in qi["tcbLevels"]:
            if int(lvl["tcb"]["isvsvn"]) <= qe.isvsvn:
                ctx.qe_status = (str(lvl["tcbStatus"]), list(lvl.get("advisoryIDs", [])))
                return f"QE TCB {ctx.qe_status[0]}"
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"QE identity is malformed: {exc}") from exc
    raise CheckFailed(f"no QE TCB level matches ISVSVN {qe.isvsvn}")


def check_tcb_level(ctx: TdxContext) -> str:
    v, rep, pck = ctx.verdict, ctx.quote.report, ctx.pck
    info = ctx.tcb_info if ctx.tcb_info is not None else ctx.unverified.get("tcb_info")
    if info is None or pck is None:
        raise CheckFailed("no TCB info or no PCK SGX extension")
    if (
        pck["fmspc"].hex() != str(info.get("fmspc", "")).lower()
        or pck["pceid"].hex() != str(info.get("pceId", "")).lower()
    ):
        raise CheckFailed("FMSPC/PCE-ID of the PCK do not match the TCB info")
    try:
        level = match_tcb_level(info, pck, rep.tee_tcb_svn)
        mod_status, mod_adv = _module_status(info, rep)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckFailed(f"TCB info is malformed: {exc}") from exc
    statuses = [str(level.get("tcbStatus"))]
    adv = list(level.get("advisoryIDs", []))
    if mod_status is not None:
        statuses.append(mod_status)
        adv += mod_adv
    if ctx.qe_status is None:
        raise CheckFailed("QE TCB status unknown")
    statuses.append(ctx.qe_status[0])
    adv += ctx.qe_status[1]
    status, advisories = converge(statuses), sorted(set(adv))
    if ctx.tcb_info is not None and ctx.qe_identity is not None:
        v.tcb_status, v.advisory_ids = status, advisories
        return f"platform level {level.get('tcbDate')} {statuses[0]}; converged {status}"
    v.claims["unverified_tcb_status"] = status  # reported, never used for acceptance
    return f"platform level {level.get('tcbDate')} {statuses[0]}; converged {status} (from UNVERIFIED collateral)"


def check_tcb_status(ctx: TdxContext) -> str:
    v, policy = ctx.verdict, ctx.policy
    if "unverified_tcb_status" in v.claims:
        raise CheckFailed(f"TCB status {v.claims['unverified_tcb_status']} comes from unverified collateral")
    if v.tcb_status is None:
        raise CheckFailed("TCB status unknown")
    if v.tcb_status in NEVER_ACCEPTED:
        raise CheckFailed(f"TCB status {v.tcb_status} is never accepted, whatever the policy says")
    if v.tcb_status not in policy.allowed_tcb_statuses:
        raise CheckFailed(f"TCB status {v.tcb_status} not in {list(policy.allowed_tcb_statuses)}")
    bad = [a for a in v.advisory_ids if a not in policy.allowed_advisories]
    if v.tcb_status != "UpToDate" and bad:
        raise CheckFailed(f"advisories not allowed by policy: {bad}")
    return v.tcb_status


def check_td_attributes(ctx: TdxContext) -> str:
    rep, policy = ctx.quote.report, ctx.policy
    a = rep.td_attributes
    if a & ATTR_DEBUG and not policy.allow_debug:
        raise CheckFailed("TD is in DEBUG mode")
    if a & ATTR_RESERVED:
        raise CheckFailed(f"reserved TD attribute bits set: {a & ATTR_RESERVED:#x}")
    if policy.require_sept_ve_disable and not a & ATTR_SEPT_VE_DISABLE:
        raise CheckFailed("SEPT_VE_DISABLE is not set")
    if rep.mrservicetd is not None and any(rep.mrservicetd):
        raise CheckFailed("MRSERVICETD is not zero")
    return f"{a:#018x}"


def check_tdx_measurements(ctx: TdxContext) -> str:
    return check_measurements(ctx.policy, ctx.quote.measurements(), TDX_MEASUREMENTS)


def check_event_log(ctx: TdxContext) -> str:
    """Replay the event log into RTMR0-3 and compare with the quote (and with the policy's event
    digests); the first event that does not fit is named."""
    policy = ctx.policy
    if ctx.events is None:
        if policy.event_digests:
            raise CheckFailed("policy names event digests but no event log was given")
        return "no event log given"
    expected = {
        EVENT_REGISTERS.index(r): [bytes.fromhex(d) for d in ds] for r, ds in policy.event_digests.items()
    }
    bad = locate_mismatch(ctx.events, ctx.quote.report.rtmrs, expected)
    if bad is not None:
        raise CheckFailed(bad.reason)
    named = f"; {sum(map(len, expected.values()))} policy digest(s) match" if expected else ""
    return f"{len(ctx.events)} event(s) replay to RTMR0-3{named}"


# The rows of a TDX verdict, in order (docs/attestation.md, "What is checked").
TDX_CHECKS: CheckTable[TdxContext] = (
    ("trailing_bytes", check_trailing_bytes),
    ("pck_chain", check_pck_chain),
    ("root_crl", check_root_crl),
    ("pck_crl", check_pck_crl),
    ("tcb_info", check_tcb_info),
    ("qe_identity", check_qe_identity),
    ("qe_report_signature", check_qe_report_signature),
    ("qe_report_data", check_qe_report_data),
    ("quote_signature", check_quote_signature),
    ("qe_identity_match", check_qe_identity_match),
    ("tcb_level", check_tcb_level),
    ("tcb_status", check_tcb_status),
    ("td_attributes", check_td_attributes),
    ("measurements", check_tdx_measurements),
    ("event_log", check_event_log),
)


def _pck_extension(q: TdxQuote) -> dict[str, Any] | None:
    try:
        ext = q.pck_chain[0].extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXT_OID)).value
        return parse_sgx_extension(ext.value)  # type: ignore[attr-defined]
    except (x509.ExtensionNotFound, EvidenceFormatError):
        return None


def verify_tdx(
    quote: TdxQuote | bytes,
    collateral: TdxCollateral | None,
    *,
    at: datetime,
    policy: Policy | None = None,
    trust: TrustStore | None = None,
    events: Sequence[Event] | None = None,
) -> Verdict:
    """Verify a TDX quote at time ``at`` (and, when ``events`` is given, replay that event log against
    its RTMRs). Malformed quotes raise EvidenceFormatError; everything else yields a Verdict whose
    ``accepted`` is True only when every check of ``TDX_CHECKS`` passed."""
    at = require_utc(at)
    policy = policy or Policy()
    q = quote if isinstance(quote, TdxQuote) else parse_quote(quote)
    store = (trust or TrustStore.default()).restricted(policy.trusted_roots)
    v = Verdict("tdx", at, evidence_hash=keccak(q.raw), policy_hash=policy.hash())
    v.collateral_hash = collateral.hash() if collateral is not None else ZERO32
    rep = q.report
    v.claims = {k: b.hex() for k, b in q.measurements().items()}
    v.claims.update(
        quote_version=q.version,
        body_type=q.body_type,
        td_attributes=f"{rep.td_attributes:016x}",
        tee_tcb_svn=rep.tee_tcb_svn.hex(),
        xfam=rep.xfam.hex(),
        mrseam=rep.mrseam.hex(),
    )
    ctx = TdxContext(
        q,
        collateral,
        at,
        policy,
        store,
        v,
        pck=_pck_extension(q),
        events=None if events is None else list(events),
    )
    v.run_table(TDX_CHECKS, ctx)
    return v
