"""A local test CA that produces well-formed, correctly signed TDX quotes with collateral and
Nitro-format attestation documents, chained to its own roots.

Its roots are never trusted by default: a verifier accepts this evidence only when the caller
passes the root explicitly (``TrustStore.with_roots`` plus the fingerprint in the policy). Keys are
derived from a seed so runs are reproducible. Every knob of :class:`TdxSpec` / :class:`NitroSpec`
exists so tests can break one signature, link, field, time window or policy rule at a time.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from offchain.compute import cbor
from offchain.compute.der import SGX_EXT_OID, build_sgx_extension
from offchain.compute.eventlog import EV_NO_ACTION, SPEC_ID_SIGNATURE, Event
from offchain.compute.nitro import PROTECTED_ES384, sig_structure
from offchain.compute.pki import fingerprint
from offchain.compute.tdx import ATTR_SEPT_VE_DISABLE, INTEL_QE_VENDOR_ID, TdxCollateral

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
FAR = datetime(2050, 1, 1, tzinfo=UTC)
QE_MRSIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")


def derive_key(seed: bytes, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    order = {
        256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        384: int(
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
            16,
        ),
    }
    d = (
        int.from_bytes(hashlib.sha512(seed + b"/" + label.encode()).digest(), "big")
        % (order[curve.key_size] - 1)
        + 1
    )
    return ec.derive_private_key(d, curve)


def raw_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """Deterministic (RFC 6979) ECDSA signature as raw r||s (SHA-256 on P-256, SHA-384 on P-384)."""
    size = key.curve.key_size // 8
    algo: hashes.HashAlgorithm = hashes.SHA384() if size == 48 else hashes.SHA256()
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(algo, deterministic_signing=True)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Eigen test CA"),
        ]
    )


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_len: int | None = None,
    not_before: datetime = EPOCH,
    not_after: datetime = FAR,
    serial: int = 1,
    extensions: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    algo: hashes.HashAlgorithm = hashes.SHA384() if issuer_key.curve.key_size == 384 else hashes.SHA256()
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
    )
    for ext in extensions:
        b = b.add_extension(ext, critical=False)
    return b.sign(issuer_key, algo, ecdsa_deterministic=True)


def make_crl(
    issuer: str,
    key: ec.EllipticCurvePrivateKey,
    revoked: tuple[int, ...],
    this: datetime,
    nxt: datetime,
    *,
    number: int = 1,
    extensions: tuple[x509.ExtensionType, ...] = (),
    entries: dict[int, tuple[x509.ExtensionType, ...]] | None = None,
) -> x509.CertificateRevocationList:
    """A CRL of `issuer` revoking `revoked` (in that order), CRLNumber `number`, with `extensions`
    (a delta CRL indicator, an issuing distribution point, ...) and each entry's own extensions
    (`entries`, by serial: a reason, a certificate issuer)."""
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(issuer))
        .last_update(this)
        .next_update(nxt)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    for ext in extensions:
        b = b.add_extension(
            ext, critical=isinstance(ext, x509.DeltaCRLIndicator | x509.IssuingDistributionPoint)
        )
    for serial in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this)
        for ext in (entries or {}).get(serial, ()):
            entry = entry.add_extension(ext, critical=isinstance(ext, x509.CertificateIssuer))
        b = b.add_revoked_certificate(entry.build())
    return b.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- TDX -----------------------------------------------------------------------------------------

ROOT_CN = "Eigen Test SGX Root CA"
PLATFORM_CN = "Intel SGX PCK Platform CA"
PCK_CN = "Intel SGX PCK Certificate"
TCB_SIGNER_CN = "Intel SGX TCB Signing"


def _levels(svn: int, status: str, date: str = "2024-03-13T00:00:00Z") -> dict[str, Any]:
    return {"tcb": {"isvsvn": svn}, "tcbDate": date, "tcbStatus": status}


@dataclass(frozen=True)
class TdxSpec:
    """Every field of a test quote and its collateral; defaults give a quote that verifies UpToDate
    at ``TdxSpec().at``."""

    version: int = 4
    body_type: int = 2  # v5 only: 2 = TD10, 3 = TD15
    td_attributes: int = ATTR_SEPT_VE_DISABLE
    tee_tcb_svn: bytes = bytes([3, 1, 2]) + bytes(13)
    mrsignerseam: bytes = bytes(48)
    seam_attributes: bytes = bytes(8)
    mrtd: bytes = bytes(range(48))
    mrconfigid: bytes = bytes(48)
    rtmrs: tuple[bytes, ...] = (bytes(48), bytes(48), bytes(48), bytes(48))
    reportdata: bytes = bytes(64)
    mrservicetd: bytes = bytes(48)
    tee_tcb_svn2: bytes = bytes([3, 1, 2]) + bytes(13)
    trailing: bytes = b""
    # platform (PCK certificate)
    pck_comps: tuple[int, ...] = (3, 3, 2, 2, 4, 1, 0, 5) + (0,) * 8
    pcesvn: int = 11
    fmspc: bytes = bytes.fromhex("b0c06f000000")
    pceid: bytes = bytes(2)
    pck_not_before: datetime = EPOCH
    pck_not_after: datetime = FAR
    pck_serial: int = 0x1001
    platform_serial: int = 0x2002
    # QE
    qe_mrsigner: bytes = QE_MRSIGNER
    qe_isvprodid: int = 2
    qe_isvsvn: int = 4
    qe_attributes: bytes = bytes.fromhex("11000000000000000000000000000000")
    qe_auth_data: bytes = bytes(range(32))
    # collateral
    issue: datetime = datetime(2025, 6, 1, tzinfo=UTC)
    next_update: datetime = datetime(2025, 7, 1, tzinfo=UTC)
    level_sgx: tuple[int, ...] = (2, 2, 2, 2, 3, 1, 0, 3) + (0,) * 8
    level_pcesvn: int = 11
    level_tdx: tuple[int, ...] = (3, 0, 2) + (0,) * 13
    level_status: str = "UpToDate"
    level_advisories: tuple[str, ...] = ()
    module_isvsvn: int = 3
    module_status: str = "UpToDate"
    module_id: str = "TDX_01"
    qe_level_isvsvn: int = 4
    qe_status: str = "UpToDate"
    qe_identity_id: str = "TD_QE"
    tcb_info_id: str = "TDX"
    tcb_info_fmspc: str = "B0C06F000000"
    revoked_pck: bool = False
    revoked_platform: bool = False
    revoked_tcb_signer: bool = False
    crl_this: datetime = datetime(2025, 6, 1, tzinfo=UTC)
    crl_next: datetime = datetime(2025, 7, 1, tzinfo=UTC)
    tcb_signer_not_after: datetime = FAR
    tcb_info_patch: Callable[[dict[str, Any]], None] | None = None

    @property
    def at(self) -> datetime:
        return datetime(2025, 6, 15, tzinfo=UTC)


@dataclass
class TdxTestCA:
    seed: bytes = b"eigen-test-ca"
    root_key: ec.EllipticCurvePrivateKey = field(init=False)
    platform_key: ec.EllipticCurvePrivateKey = field(init=False)
    pck_key: ec.EllipticCurvePrivateKey = field(init=False)
    tcb_key: ec.EllipticCurvePrivateKey = field(init=False)
    ak: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        c = ec.SECP256R1()
        self.root_key, self.platform_key, self.pck_key, self.tcb_key, self.ak = (
            derive_key(self.seed, n, c) for n in ("root", "platform", "pck", "tcb", "ak")
        )
        self.root = make_cert(ROOT_CN, self.root_key, ROOT_CN, self.root_key, ca=True, path_len=1, serial=7)
        self._cache: dict[tuple[Any, ...], x509.Certificate] = {}

    @property
    def root_fingerprint(self) -> str:
        return fingerprint(self.root)

    def _cert(self, key: tuple[Any, ...], make: Callable[[], x509.Certificate]) -> x509.Certificate:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def chain(self, s: TdxSpec) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
        platform = self._cert(
            ("platform", s.platform_serial),
            lambda: make_cert(
                PLATFORM_CN,
                self.platform_key,
                ROOT_CN,
                self.root_key,
                ca=True,
                path_len=0,
                serial=s.platform_serial,
            ),
        )
        ext = x509.UnrecognizedExtension(
            x509.ObjectIdentifier(SGX_EXT_OID),
            build_sgx_extension(list(s.pck_comps), s.pcesvn, bytes(s.pck_comps), s.fmspc, s.pceid),
        )
        pck = self._cert(
            ("pck", s.pck_comps, s.pcesvn, s.fmspc, s.pceid, s.pck_not_before, s.pck_not_after, s.pck_serial),
            lambda: make_cert(
                PCK_CN,
                self.pck_key,
                PLATFORM_CN,
                self.platform_key,
                ca=False,
                not_before=s.pck_not_before,
                not_after=s.pck_not_after,
                serial=s.pck_serial,
                extensions=(ext,),
            ),
        )
        return pck, platform, self.root

    def tcb_signer(self, s: TdxSpec) -> x509.Certificate:
        return self._cert(
            ("tcb", s.tcb_signer_not_after),
            lambda: make_cert(
                TCB_SIGNER_CN,
                self.tcb_key,
                ROOT_CN,
                self.root_key,
                ca=False,
                serial=0x3003,
                not_after=s.tcb_signer_not_after,
            ),
        )

    def quote(self, s: TdxSpec) -> bytes:
        header = struct.pack("<HHIHH", s.version, 2, 0x81, 0, 0) + INTEL_QE_VENDOR_ID + bytes(20)
        body = (
            s.tee_tcb_svn
            + bytes(48)
            + s.mrsignerseam
            + s.seam_attributes
            + s.td_attributes.to_bytes(8, "little")
            + bytes(8)
            + s.mrtd
            + s.mrconfigid
            + bytes(96)
            + b"".join(s.rtmrs)
            + s.reportdata
        )
        if s.version == 5 and s.body_type == 3:
            body += s.tee_tcb_svn2 + s.mrservicetd
        signed = header + (struct.pack("<HI", s.body_type, len(body)) if s.version == 5 else b"") + body
        ak_raw = self.ak.public_key().public_bytes(
            Encoding.X962,
            __import__(
                "cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]
            ).PublicFormat.UncompressedPoint,
        )[1:]
        qe = bytearray(384)
        qe[0:16] = bytes(s.pck_comps)
        qe[48:64] = s.qe_attributes
        qe[128:160] = s.qe_mrsigner
        qe[256:258] = s.qe_isvprodid.to_bytes(2, "little")
        qe[258:260] = s.qe_isvsvn.to_bytes(2, "little")
        qe[320:384] = hashlib.sha256(ak_raw + s.qe_auth_data).digest() + bytes(32)
        chain_pem = b"".join(pem(c) for c in self.chain(s)) + b"\x00"
        cert_data = (
            bytes(qe)
            + raw_sign(self.pck_key, bytes(qe))
            + struct.pack("<H", len(s.qe_auth_data))
            + s.qe_auth_data
            + struct.pack("<HI", 5, len(chain_pem))
            + chain_pem
        )
        sig_data = raw_sign(self.ak, signed) + ak_raw + struct.pack("<HI", 6, len(cert_data)) + cert_data
        return signed + struct.pack("<I", len(sig_data)) + sig_data + s.trailing

    def _sign_json(self, obj: dict[str, Any]) -> tuple[str, str]:
        raw = json.dumps(obj, separators=(",", ":"))
        return raw, self.sign_collateral(raw)

    def sign_collateral(self, raw: str) -> str:
        """This CA's TCB signer's signature (hex r||s) over a TCB info or QE identity body, as served."""
        return raw_sign(self.tcb_key, raw.encode()).hex()

    def tcb_issuer_chain(self, s: TdxSpec | None = None) -> str:
        """The PEM issuer chain (TCB signer, then this CA's root) that goes with :meth:`sign_collateral`."""
        return (pem(self.tcb_signer(s or TdxSpec())) + pem(self.root)).decode()

    def collateral(self, s: TdxSpec) -> TdxCollateral:
        pck, platform, root = self.chain(s)
        comps = [{"svn": v} for v in s.level_sgx]
        tcb_info: dict[str, Any] = {
            "id": s.tcb_info_id,
            "version": 3,
            "issueDate": _iso(s.issue),
            "nextUpdate": _iso(s.next_update),
            "fmspc": s.tcb_info_fmspc,
            "pceId": "0000",
            "tcbType": 0,
            "tcbEvaluationDataNumber": 17,
            "tdxModule": {
                "mrsigner": "00" * 48,
                "attributes": "0000000000000000",
                "attributesMask": "FFFFFFFFFFFFFFFF",
            },
            "tdxModuleIdentities": [
                {
                    "id": s.module_id,
                    "mrsigner": "00" * 48,
                    "attributes": "0000000000000000",
                    "attributesMask": "FFFFFFFFFFFFFFFF",
                    "tcbLevels": [_levels(s.module_isvsvn, s.module_status)],
                }
            ],
            "tcbLevels": [
                {
                    "tcb": {
                        "sgxtcbcomponents": comps,
                        "pcesvn": s.level_pcesvn,
                        "tdxtcbcomponents": [{"svn": v} for v in s.level_tdx],
                    },
                    "tcbDate": "2024-03-13T00:00:00Z",
                    "tcbStatus": s.level_status,
                    **({"advisoryIDs": list(s.level_advisories)} if s.level_advisories else {}),
                }
            ],
        }
        if s.tcb_info_patch is not None:
            s.tcb_info_patch(tcb_info)
        qe_identity = {
            "id": s.qe_identity_id,
            "version": 2,
            "issueDate": _iso(s.issue),
            "nextUpdate": _iso(s.next_update),
            "tcbEvaluationDataNumber": 17,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": QE_MRSIGNER.hex().upper(),
            "isvprodid": 2,
            "tcbLevels": [_levels(s.qe_level_isvsvn, s.qe_status)],
        }
        tcb_raw, tcb_sig = self._sign_json(tcb_info)
        qe_raw, qe_sig = self._sign_json(qe_identity)
        signer_chain = self.tcb_issuer_chain(s)
        root_revoked = tuple(
            x for x, on in ((s.platform_serial, s.revoked_platform), (0x3003, s.revoked_tcb_signer)) if on
        )
        root_crl = make_crl(ROOT_CN, self.root_key, root_revoked, s.crl_this, s.crl_next)
        pck_crl = make_crl(
            PLATFORM_CN,
            self.platform_key,
            (s.pck_serial,) if s.revoked_pck else (99,),
            s.crl_this,
            s.crl_next,
        )
        return TdxCollateral(
            {
                "pck_crl_issuer_chain": (pem(platform) + pem(root)).decode(),
                "root_ca_crl": root_crl.public_bytes(Encoding.DER).hex(),
                "pck_crl": pck_crl.public_bytes(Encoding.DER).hex(),
                "tcb_info_issuer_chain": signer_chain,
                "tcb_info": tcb_raw,
                "tcb_info_signature": tcb_sig,
                "qe_identity_issuer_chain": signer_chain,
                "qe_identity": qe_raw,
                "qe_identity_signature": qe_sig,
            }
        )

    def evidence(self, s: TdxSpec | None = None, **changes: Any) -> tuple[bytes, TdxCollateral]:
        spec = replace(s or TdxSpec(), **changes)
        return self.quote(spec), self.collateral(spec)


# ---- TDX CCEL event log --------------------------------------------------------------------------

_HASHES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}


def ccel_log(
    events: Sequence[Event],
    *,
    algorithms: tuple[int, ...] = (0x000B, 0x000C),
    no_action_at: tuple[int, ...] = (),
    padding: bytes = b"\xff" * 64,
) -> bytes:
    """A binary TCG2 crypto-agile log, as the TDX CCEL table's log area holds it: the Spec ID header
    listing ``algorithms``, then one TCG_PCR_EVENT2 record per event (MR index = RTMR + 1; SHA-384 is
    the event's digest, other algorithms hash its payload), an EV_NO_ACTION record before each
    position in ``no_action_at``, then ``padding``."""
    spec = (
        SPEC_ID_SIGNATURE
        + struct.pack("<IBBBB", 0, 0, 2, 0, 2)
        + struct.pack("<I", len(algorithms))
        + b"".join(struct.pack("<HH", a, hashlib.new(_HASHES[a]).digest_size) for a in algorithms)
        + b"\x00"
    )
    out = struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(spec)) + spec

    def record(mr: int, etype: int, sha384: bytes, payload: bytes) -> bytes:
        digests = b"".join(
            struct.pack("<H", a) + (sha384 if a == 0x000C else hashlib.new(_HASHES[a], payload).digest())
            for a in algorithms
        )
        return (
            struct.pack("<III", mr, etype, len(algorithms))
            + digests
            + struct.pack("<I", len(payload))
            + payload
        )

    for i, e in enumerate(events):
        if i in no_action_at:
            out += record(0, EV_NO_ACTION, bytes(48), b"StartupLocality\x00\x00")
        out += record(e.index + 1, 0x0D if e.event_type is None else e.event_type, e.digest, e.payload or b"")
    return out + padding


# ---- Nitro format --------------------------------------------------------------------------------

NITRO_ROOT_CN = "Eigen Dev TEE Root"


@dataclass(frozen=True)
class NitroSpec:
    module_id: str = "i-0000000000000000-enc0000000000000000"
    timestamp: datetime = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    pcrs: dict[int, bytes] = field(
        default_factory=lambda: {i: (bytes([i + 1]) * 48 if i < 3 else bytes(48)) for i in range(16)}
    )
    public_key: bytes | None = None
    user_data: bytes | None = None
    nonce: bytes | None = None
    leaf_not_before: datetime = datetime(2025, 6, 15, 11, 0, tzinfo=UTC)
    leaf_not_after: datetime = datetime(2025, 6, 15, 14, 0, tzinfo=UTC)
    indefinite: bool = False
    tagged: bool = False
    digest: str = "SHA384"
    protected: bytes = PROTECTED_ES384


@dataclass
class NitroTestCA:
    """P-384 root -> intermediate -> per-document leaf, like AWS's (shorter) chain."""

    seed: bytes = b"eigen-dev-tee"
    root_key: ec.EllipticCurvePrivateKey = field(init=False)
    inter_key: ec.EllipticCurvePrivateKey = field(init=False)
    leaf_key: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)
    inter: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        c = ec.SECP384R1()
        self.root_key, self.inter_key, self.leaf_key = (
            derive_key(self.seed, n, c) for n in ("root", "inter", "leaf")
        )
        self.root = make_cert(
            NITRO_ROOT_CN, self.root_key, NITRO_ROOT_CN, self.root_key, ca=True, path_len=2, serial=11
        )
        self.inter = make_cert(
            "Eigen Dev TEE Intermediate",
            self.inter_key,
            NITRO_ROOT_CN,
            self.root_key,
            ca=True,
            path_len=1,
            serial=12,
        )
        self._leaves: dict[tuple[datetime, datetime], x509.Certificate] = {}

    @property
    def root_fingerprint(self) -> str:
        return fingerprint(self.root)

    def leaf(self, s: NitroSpec) -> x509.Certificate:
        key = (s.leaf_not_before, s.leaf_not_after)
        if key not in self._leaves:
            self._leaves[key] = make_cert(
                s.module_id[:60],
                self.leaf_key,
                "Eigen Dev TEE Intermediate",
                self.inter_key,
                ca=False,
                not_before=s.leaf_not_before,
                not_after=s.leaf_not_after,
                serial=13,
            )
        return self._leaves[key]

    def payload(self, s: NitroSpec) -> bytes:
        body: dict[str, Any] = {
            "module_id": s.module_id,
            "digest": s.digest,
            "timestamp": int(s.timestamp.timestamp() * 1000),
            "pcrs": dict(s.pcrs),
            "certificate": self.leaf(s).public_bytes(Encoding.DER),
            "cabundle": [c.public_bytes(Encoding.DER) for c in (self.root, self.inter)],
            "public_key": s.public_key,
            "user_data": s.user_data,
            "nonce": s.nonce,
        }
        return cbor.dumps(body, indefinite_maps=s.indefinite)

    def document(self, s: NitroSpec | None = None, *, payload: bytes | None = None, **changes: Any) -> bytes:
        spec = replace(s or NitroSpec(), **changes)
        body = self.payload(spec) if payload is None else payload
        sig = raw_sign(self.leaf_key, sig_structure(spec.protected, body))
        doc = cbor.dumps([spec.protected, {}, body, sig])
        return (b"\xd2" + doc) if spec.tagged else doc

    def export(self) -> dict[str, str]:
        """Keys and certificates as PEM text (what ``eigen compute devtee init`` writes)."""

        def key_pem(k: ec.EllipticCurvePrivateKey) -> str:
            return k.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()

        return {
            "seed": self.seed.hex(),
            "root_pem": pem(self.root).decode(),
            "root_key": key_pem(self.root_key),
        }


def at_plus(t: datetime, **kw: float) -> datetime:
    return t + timedelta(**kw)
