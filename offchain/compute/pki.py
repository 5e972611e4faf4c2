"""X.509 helpers shared by the TDX and Nitro verifiers: pinned roots, chain links, CRLs, ECDSA.

``cryptography``'s ``verify_directly_issued_by`` checks only the issuer name and the signature, so
validity windows, BasicConstraints, path length and key usage are checked here, all at an explicit
time ``at``. Nothing in this module reads the wall clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from offchain.compute.errors import CheckFailed, PolicyError

INTEL_SGX_ROOT_PEM = b"""-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
"""

AWS_NITRO_ROOT_PEM = b"""-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
"""

INTEL_SGX_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
AWS_NITRO_ROOT_SHA256 = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex: how roots are pinned."""
    return hashlib.sha256(der(cert)).hexdigest()


@dataclass(frozen=True)
class TrustStore:
    """The root certificates a caller trusts, by SHA-256(DER). Test roots are added only explicitly."""

    roots: tuple[x509.Certificate, ...]

    @classmethod
    def default(cls) -> TrustStore:
        return cls((_INTEL_ROOT, _AWS_ROOT))

    def with_roots(self, extra: Iterable[x509.Certificate]) -> TrustStore:
        have = {fingerprint(c) for c in self.roots}
        return TrustStore(self.roots + tuple(c for c in extra if fingerprint(c) not in have))

    def restricted(self, fingerprints: Iterable[str]) -> TrustStore:
        """The roots that are both held here and pinned by a policy: both must name a root."""
        allowed = set(fingerprints)
        return TrustStore(tuple(c for c in self.roots if fingerprint(c) in allowed))

    def find(self, fp: str) -> x509.Certificate | None:
        for c in self.roots:
            if fingerprint(c) == fp:
                return c
        return None


def touch(cert: x509.Certificate) -> x509.Certificate:
    """Force ``cryptography``'s lazy parsing of every field we later read; raises ValueError if bad."""
    _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number)
    _ = [e.value for e in cert.extensions]
    cert.public_key()
    return cert


def touch_crl(crl: x509.CertificateRevocationList) -> x509.CertificateRevocationList:
    """Force the lazy parsing of every CRL field we later read (issuer, update times, entries, extensions),
    so a malformed CRL fails where it is loaded, with a typed error, not later inside a check."""
    _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.signature_hash_algorithm)
    _ = [(r.serial_number, r.revocation_date_utc, [e.value for e in r.extensions]) for r in crl]
    _ = [e.value for e in crl.extensions]
    return crl


def load_certs(data: bytes, *, der_form: bool, what: str, error: type[Exception]) -> list[x509.Certificate]:
    """Load one DER certificate or a PEM list, fully parsed; any problem raises ``error``."""
    try:
        certs = [x509.load_der_x509_certificate(data)] if der_form else x509.load_pem_x509_certificates(data)
        return [touch(c) for c in certs]
    except Exception as exc:  # noqa: BLE001 - parsing boundary: cryptography raises several unrelated types
        raise error(f"{what}: malformed certificate ({exc})") from exc


def load_pem_certs(data: bytes, what: str = "PEM") -> list[x509.Certificate]:
    return load_certs(data, der_form=False, what=what, error=PolicyError)


_INTEL_ROOT = x509.load_pem_x509_certificate(INTEL_SGX_ROOT_PEM)
_AWS_ROOT = x509.load_pem_x509_certificate(AWS_NITRO_ROOT_PEM)


def raw_to_der_sig(raw: bytes) -> bytes:
    """r||s (big-endian, equal halves) to a DER ECDSA signature."""
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def ecdsa_verify(key: ec.EllipticCurvePublicKey, raw_sig: bytes, message: bytes, what: str) -> None:
    """Verify a raw r||s ECDSA signature (SHA-256 for P-256, SHA-384 for P-384)."""
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.key_size not in (256, 384):
        raise CheckFailed(f"{what}: signing key is not a P-256 or P-384 key")
    if len(raw_sig) != 2 * ((key.curve.key_size + 7) // 8):
        raise CheckFailed(f"{what}: signature has the wrong length")
    algo: hashes.HashAlgorithm = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
    try:
        key.verify(raw_to_der_sig(raw_sig), message, ec.ECDSA(algo))
    except InvalidSignature as exc:
        raise CheckFailed(f"{what}: signature does not verify") from exc


def p256_key_from_raw(xy: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + xy)
    except ValueError as exc:
        raise CheckFailed("attestation key is not a P-256 point") from exc


def check_validity(cert: x509.Certificate, at: datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise CheckFailed(
            f"{what} not valid at {at.isoformat()} "
            f"(window {cert.not_valid_before_utc.isoformat()}..{cert.not_valid_after_utc.isoformat()})"
        )


def _is_ca(cert: x509.Certificate) -> tuple[bool, int | None]:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False, None
    return bc.ca, bc.path_length


def verify_chain(
    chain: Sequence[x509.Certificate], trust: TrustStore, at: datetime, what: str
) -> x509.Certificate:
    """Verify ``chain`` = [leaf, intermediates..., root] at ``at``; return the trusted root.

    The last certificate must be byte-identical to a root of ``trust`` (pinned by SHA-256 of its
    DER, so its self-signature is not re-checked). Every link: issuer name and signature, validity at ``at``, issuer is a CA
    (BasicConstraints) whose path length allows the remaining depth, and keyCertSign if KeyUsage
    is present. The leaf must not be a CA.
    """
    if len(chain) < 2:
        raise CheckFailed(f"{what}: chain has {len(chain)} certificate(s), need a leaf and a root")
    root = trust.find(fingerprint(chain[-1]))
    if root is None:
        raise CheckFailed(f"{what}: root {fingerprint(chain[-1])} is not a trusted (pinned) root")
    certs = list(chain[:-1]) + [root]
    if _is_ca(certs[0])[0]:
        raise CheckFailed(f"{what}: leaf certificate is a CA")
    try:
        if not certs[0].extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            raise CheckFailed(f"{what}: leaf certificate lacks digitalSignature")
    except x509.ExtensionNotFound:
        pass
    for depth, cert in enumerate(certs):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            check_validity(cert, at, f"{what}[{depth}] {cert.subject.rfc4514_string()}")
        if depth > 0:
            is_ca, path_len = _is_ca(cert)
            if not is_ca:
                raise CheckFailed(f"{what}[{depth}] is not a CA certificate")
            if path_len is not None and depth - 1 > path_len:
                raise CheckFailed(f"{what}[{depth}] path length {path_len} exceeded")
            try:
                ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
                if not ku.key_cert_sign:
                    raise CheckFailed(f"{what}[{depth}] lacks keyCertSign")
            except x509.ExtensionNotFound:
                pass
        if depth == len(certs) - 1:
            break  # the root is trusted by its exact DER (pinned), not by its self-signature
        try:
            cert.verify_directly_issued_by(certs[depth + 1])
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CheckFailed(
                f"{what}[{depth}] is not signed by its issuer ({exc or 'bad signature'})"
            ) from exc
    return root


def check_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    at: datetime,
    what: str,
    serials: Sequence[int] = (),
) -> None:
    """CRL signed by ``issuer``, issuer name equal, ``at`` in [thisUpdate, nextUpdate), serials absent."""
    if crl.issuer != issuer.subject:
        raise CheckFailed(
            f"{what}: issuer {crl.issuer.rfc4514_string()} is not {issuer.subject.rfc4514_string()}"
        )
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CheckFailed(f"{what}: signature does not verify")
    nxt = crl.next_update_utc
    if nxt is None or not crl.last_update_utc <= at < nxt:
        raise CheckFailed(f"{what}: not current at {at.isoformat()}")
    for serial in serials:
        if crl.get_revoked_certificate_by_serial_number(serial) is not None:
            raise CheckFailed(f"{what}: certificate serial {serial:x} is revoked")
