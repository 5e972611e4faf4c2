"""Revocation of A2A callers' TLS client certificates (mutual TLS, a2a_mtls.py): a certificate its
CA has revoked is refused, by CRL (RFC 5280) or OCSP (RFC 6960).

:class:`Revocation` is the policy a :class:`~offchain.agent.a2a_mtls.MutualTLS` checks each
verified chain against (the caller's certificate and every intermediate, each against the CA that
issued it; the trust anchor itself is not checked). Its ``mode``:

* ``none``: no check;
* ``crl``: the issuer's X.509 v2 CRL (DER or PEM), from a configured file (``crl_files``: matched by
  issuer name, re-read when the file changes) or else fetched from the certificate's CRL
  Distribution Points (http or https), with its delta CRL when there is one, or the indirect CRL
  of the CRL issuer a distribution point names (below);
* ``ocsp``: a request (SHA-1 CertID, a random nonce) POSTed as ``application/ocsp-request`` to the
  responder the certificate's Authority Information Access names; with ``ocsp_get``, a request
  without nonce sent as ``GET {responder}/{url-encoded base64 of the DER request}`` (RFC 6960
  A.1, RFC 5019 §5: when that is under 255 bytes, as a one-certificate request without nonce
  nearly always is; else POSTed, still without nonce), so that responders and HTTP caches may serve pre-produced answers. A nonce-less
  request cannot require a nonce back: ``ocsp_get`` with ``require_nonce`` is refused when the
  policy is made (A2ARevocationPolicyError, a ValueError); a nonce in an answer to a request
  without one means nothing and is not checked;
* ``either``: OCSP, falling back to the CRL when OCSP gives no answer (no responder named, or it
  could not be reached).

A CRL is taken only when its issuer name is the CA's subject, its signature verifies under the
CA's key, it has a ``nextUpdate`` and ``thisUpdate`` is not in the future (``skew_s`` allowed);
a CRL with deltaCRLIndicator is never taken as the complete CRL (A2ARevocationDeltaError), and its
issuingDistributionPoint, when it has one, must cover the certificate (RFC 5280 §5.2.5: not
user-only for a CA certificate, not CA-only for an end entity's, not attribute certificates only,
not only some reasons, and naming the distribution point it was fetched from; else
A2ARevocationScopeError). Past ``nextUpdate`` a CRL is stale: the configured file is re-read
and a distribution point fetched again, and a CRL still stale (beyond ``crl_grace_s``, 0 by
default) refuses the certificate (fail closed; A2ARevocationStaleError).

An OCSP response is taken only when its status is ``successful``, it answers for this certificate
(CertID: serial, issuer name and key hashes), it is signed by the CA itself or by a responder
certificate the CA issued with id-kp-OCSPSigning and valid now (anything else:
A2ARevocationResponderError), the signature verifies, the nonce is the one sent (a response without
one is taken unless ``require_nonce``: responders serving pre-produced responses omit it),
``thisUpdate`` is not in the future and it is current: before ``nextUpdate``, or without one,
``thisUpdate`` within ``ocsp_max_age_s``. ``revoked`` refuses; ``unknown`` refuses unless
``accept_unknown``.

Delta CRLs (RFC 5280 §5.2.4, §5.2.6): when the complete CRL (or else the certificate) names a
Freshest CRL point, or a delta CRL of the same issuer is configured (``crl_files``, told apart by
its deltaCRLIndicator), the delta is fetched (cached like a complete CRL) and checked as one is —
same issuer and signer, current — and also: it has a deltaCRLIndicator, its BaseCRLNumber is at
most the complete CRL's CRLNumber, its own CRLNumber is above its base and not below the complete
CRL's, and its issuingDistributionPoint is the complete CRL's (A2ARevocationDeltaError
otherwise). It is applied: an entry of the delta revokes; a ``removeFromCRL`` entry lifts a
``certificateHold`` of the complete CRL (and nothing else). A delta that could not be fetched
refuses as unavailable, and a certificate the complete CRL lists stays revoked under soft-fail.

Indirect CRLs (RFC 5280 §5.2.5, §5.3.3): a distribution point naming a cRLIssuer (a directory
name other than the CA's) is served only by that CRL issuer's CRL: its certificate must be given
(``crl_issuers``: certificates or PEM files), issued by the certificate's CA, with keyUsage
cRLSign, valid now; the CRL must be issued and signed by it and say indirectCRL in its
issuingDistributionPoint (A2ARevocationIndirectError otherwise). In an indirect CRL an entry is
for the certificate issuer its most recent certificateIssuer extension names (before any, the CRL
issuer): only entries for the certificate's own CA count.

Fetches go through webfetch.Fetcher (SSRF-safe: public addresses only unless the fetcher admits
loopback, no redirects, bounded size and time). A CRL is cached (per distribution point) until its
``nextUpdate``, an OCSP answer (per CA and serial) until its ``nextUpdate`` (or ``ocsp_max_age_s``
after ``thisUpdate``), so a request does not fetch every time; a source that could not be reached
is not asked again for ``retry_s``.

``fail_closed`` (the default) refuses a certificate whose status could not be fetched
(A2ARevocationUnavailableError). With ``fail_closed=False`` (soft-fail) such a certificate is let
through, logged — only then: a bad signature, an unauthorized responder, a stale or malformed
answer, a CRL of another issuer, a refused URL, a delta, indirect CRL or scope that does not fit,
or a certificate naming no source refuse it under either policy. Every refusal is a kind of
A2AClientCertificateError (UNAUTHENTICATED on the wire).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from offchain.agent.errors import (
    A2AClientCertificateRevokedError,
    A2ARevocationAddressError,
    A2ARevocationDeltaError,
    A2ARevocationFormatError,
    A2ARevocationIndirectError,
    A2ARevocationIssuerError,
    A2ARevocationNonceError,
    A2ARevocationNoSourceError,
    A2ARevocationPolicyError,
    A2ARevocationResponderError,
    A2ARevocationScopeError,
    A2ARevocationSignatureError,
    A2ARevocationStaleError,
    A2ARevocationUnavailableError,
    A2ARevocationUnknownError,
)
from offchain.agent.webfetch import Fetcher
from offchain.httpservice import logger

__all__ = ["MODES", "Revocation", "load_crl"]  # (its errors: offchain.agent.errors, A2ARevocation*Error)

LOG = logger("agent.a2a")
MODES = ("none", "crl", "ocsp", "either")
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
OCSP_GET_MAX = 255  # bytes of the encoded request a GET carries; longer ones are POSTed (RFC 5019 §5)
MAX_CACHED = 4096  # entries per cache (an attacker cannot grow it without the CA issuing certificates)
_UNAVAILABLE_STATUS = (ocsp.OCSPResponseStatus.TRY_LATER, ocsp.OCSPResponseStatus.INTERNAL_ERROR)


def load_crl(data: bytes, what: str = "the CRL") -> x509.CertificateRevocationList:
    """A CRL from DER or PEM bytes, its fields parsed (A2ARevocationFormatError otherwise)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
        _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, [r.serial_number for r in crl])
    except ValueError as exc:
        raise A2ARevocationFormatError(f"{what} is no X.509 CRL (DER or PEM): {str(exc)[:120]}") from None
    return crl


def _http(names: Iterable[x509.GeneralName]) -> tuple[str, ...]:
    """The http(s) URLs among `names`."""
    return tuple(
        n.value
        for n in names
        if isinstance(n, x509.UniformResourceIdentifier)
        and n.value.lower().startswith(("http://", "https://"))
    )


def _ocsp_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """The http(s) OCSP responders a certificate's Authority Information Access names."""
    aia = _ext(cert, x509.AuthorityInformationAccess, "the certificate")
    if aia is None:
        return ()
    return _http(d.access_location for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP)


@dataclass(frozen=True)
class _Point:
    """A distribution point (RFC 5280 §4.2.1.13): its http(s) URLs, all its names, and the CRL
    issuer it names (`names_issuer`; `crl_issuer` None when named by no directory name)."""

    urls: tuple[str, ...]
    names: tuple[x509.GeneralName, ...]
    names_issuer: bool
    crl_issuer: x509.Name | None


def _points(
    holder: x509.Certificate | x509.CertificateRevocationList,
    kind: type[x509.CRLDistributionPoints] | type[x509.FreshestCRL],
) -> list[_Point]:
    """The distribution points a certificate's CRL Distribution Points or Freshest CRL (or a
    CRL's Freshest CRL) names."""
    found = _ext(holder, kind, "the certificate" if isinstance(holder, x509.Certificate) else "the CRL")
    out = []
    for dp in found or ():
        names = tuple(dp.full_name or ())
        dirs = [n.value for n in dp.crl_issuer or () if isinstance(n, x509.DirectoryName)]
        out.append(_Point(_http(names), names, dp.crl_issuer is not None, dirs[0] if dirs else None))
    return out


def _ext(holder: Any, kind: type[Any], what: str) -> Any:
    """The value of `holder`'s extension of class `kind` (None without; A2ARevocationFormatError
    when its extensions do not parse)."""
    try:
        return holder.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:
        raise A2ARevocationFormatError(f"{what}'s extensions are malformed: {str(exc)[:120]}") from None


def _crl_number(crl: x509.CertificateRevocationList, what: str) -> int | None:
    number = _ext(crl, x509.CRLNumber, what)
    return None if number is None else number.crl_number


def _reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    reason = _ext(entry, x509.CRLReason, "a CRL entry")
    return None if reason is None else reason.reason


def _entry(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> x509.RevokedCertificate | None:
    """`crl`'s entry for `cert`. In an indirect CRL an entry is for the certificate issuer its
    most recent certificateIssuer extension names (RFC 5280 §5.3.3; before any, the CRL's
    issuer), and only an entry for `cert`'s issuer counts."""
    idp = _ext(crl, x509.IssuingDistributionPoint, "the CRL")
    if idp is None or not idp.indirect_crl:
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    current: x509.Name | None = crl.issuer
    for entry in crl:
        named = _ext(entry, x509.CertificateIssuer, "a CRL entry")
        if named is not None:  # (an issuer named by no directory name: no certificate of this CA)
            dirs = named.get_values_for_type(x509.DirectoryName)
            current = dirs[0] if dirs else None
        if entry.serial_number == cert.serial_number and current == cert.issuer:
            return entry
    return None


def _certificates(given: Iterable[x509.Certificate | str | os.PathLike[str]]) -> list[x509.Certificate]:
    """Certificates, given as such or as PEM files (each may hold several); ValueError otherwise."""
    out: list[x509.Certificate] = []
    for c in given:
        if isinstance(c, x509.Certificate):
            out.append(c)
            continue
        try:
            out += x509.load_pem_x509_certificates(Path(c).read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"the CRL issuer certificate file {c}: {str(exc)[:160]}") from None
    return out


def _verify(key: Any, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> None:
    """`signature` over `data` under the public `key` (InvalidSignature otherwise)."""
    if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None:
        key.verify(signature, data, algorithm)
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(signature, data)
    else:
        raise InvalidSignature(f"no verification for a {type(key).__name__} with {algorithm}")


def _name(cert: x509.Certificate) -> str:
    return repr(cert.subject.rfc4514_string()[:128])


@dataclass
class _Cached:
    value: Any  # a CRL, an OCSP status, or the A2ARevocationUnavailableError last met
    until: float


class Revocation:
    """Client certificates' revocation, per the module's notes: `mode` (``none``, ``crl``,
    ``ocsp``, ``either``), `crl_files` (CRLs, DER or PEM, over the distribution points of their
    issuers' certificates), `fail_closed` (False: soft-fail, only on a source that could not be
    reached), `crl_grace_s` (how long past ``nextUpdate`` a CRL is still taken), `ocsp_max_age_s`
    (an OCSP answer without ``nextUpdate``), `skew_s` (clock skew allowed on ``thisUpdate``),
    `require_nonce`, `accept_unknown`, `ocsp_get` (nonce-less OCSP requests by GET: cacheable;
    not with `require_nonce`), `crl_issuers` (certificates, or PEM files, of the CRL issuers whose
    indirect CRLs are taken), `retry_s` (how long an unreachable source rests), `fetcher`
    (default: http and https, public addresses, 1 MiB, 5 s)."""

    def __init__(
        self,
        mode: str = "crl",
        *,
        crl_files: Iterable[str | os.PathLike[str]] = (),
        fail_closed: bool = True,
        crl_grace_s: float = 0.0,
        ocsp_max_age_s: float = 3600.0,
        skew_s: float = 300.0,
        require_nonce: bool = False,
        accept_unknown: bool = False,
        ocsp_get: bool = False,
        crl_issuers: Iterable[x509.Certificate | str | os.PathLike[str]] = (),
        retry_s: float = 30.0,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"the revocation mode is one of {', '.join(MODES)}, not {mode!r}")
        for name, v in (("crl_grace_s", crl_grace_s), ("skew_s", skew_s), ("retry_s", retry_s)):
            if not 0 <= v <= 30 * 86400:
                raise ValueError(f"{name} is 0 to 30 days in seconds, not {v!r}")
        if not 0 < ocsp_max_age_s <= 30 * 86400:
            raise ValueError(f"ocsp_max_age_s is more than 0 and at most 30 days, not {ocsp_max_age_s!r}")
        if ocsp_get and require_nonce:
            raise A2ARevocationPolicyError(
                "ocsp_get sends nonce-less requests (cacheable, pre-produced answers): it cannot require_nonce"
            )
        self.mode = mode
        self.fail_closed = fail_closed
        self.crl_grace_s = crl_grace_s
        self.ocsp_max_age_s = ocsp_max_age_s
        self.skew_s = skew_s
        self.require_nonce = require_nonce
        self.accept_unknown = accept_unknown
        self.ocsp_get = ocsp_get
        self.crl_issuers = _certificates(crl_issuers)
        self.retry_s = retry_s
        self.fetcher = fetcher or Fetcher(timeout_s=5.0, max_bytes=1 << 20, schemes=("http", "https"))
        self.clock = clock
        self.fetches = 0  # CRLs and OCSP answers fetched (the cache's effect shows here)
        self._files: dict[Path, tuple[float, x509.CertificateRevocationList]] = {}
        self._crls: dict[str, _Cached] = {}
        self._ocsp: dict[tuple[str, int], _Cached] = {}
        self._lock = threading.Lock()
        for f in crl_files:
            try:
                self._load_file(Path(f))
            except (OSError, A2ARevocationFormatError) as exc:
                raise ValueError(f"the CRL file {f}: {exc}") from None

    # ---- the check

    def check(self, chain: Sequence[x509.Certificate]) -> None:
        """Check a verified chain (the caller's certificate first, its trust anchor last): each
        certificate but the anchor against its issuer, the next in the chain. A refusal is a kind
        of A2AClientCertificateError (see the module's notes)."""
        if self.mode == "none":
            return
        for cert, issuer in zip(chain, chain[1:], strict=False):
            try:
                self._check_one(cert, issuer)
            except A2ARevocationUnavailableError as exc:
                if self.fail_closed or isinstance(exc, A2ARevocationNoSourceError):
                    raise
                LOG.warning(
                    "a2a_revocation_soft_fail",
                    extra={"subject": cert.subject.rfc4514_string()[:128], "reason": str(exc)[:200]},
                )

    def _check_one(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        if self.mode in ("ocsp", "either"):
            try:
                return self._check_ocsp(cert, issuer)
            except A2ARevocationUnavailableError:
                if self.mode == "ocsp":
                    raise
        self._check_crl(cert, issuer)

    # ---- CRLs

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _load_file(self, path: Path) -> x509.CertificateRevocationList:
        mtime = path.stat().st_mtime
        held = self._files.get(path)
        if held is None or held[0] != mtime:
            held = (mtime, load_crl(path.read_bytes(), f"the CRL file {path}"))
            self._files[path] = held
        return held[1]

    def _file_crl(self, issuer: x509.Name, delta: bool = False) -> x509.CertificateRevocationList | None:
        """The configured CRL (`delta`: delta CRL) issued by `issuer` (re-read when its file
        changed), if any."""
        for path in list(self._files):
            try:
                crl = self._load_file(path)
            except (OSError, A2ARevocationFormatError) as exc:
                raise A2ARevocationFormatError(f"the CRL file {path}: {str(exc)[:160]}") from None
            if (
                crl.issuer == issuer
                and (_ext(crl, x509.DeltaCRLIndicator, "a CRL file") is not None) == delta
            ):
                return crl
        return None

    def _check_crl(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        crl, signer = self._complete_crl(cert, issuer)
        entry = _entry(crl, cert)
        try:
            delta = self._delta_crl(cert, crl, issuer, signer)
        except A2ARevocationUnavailableError:
            if entry is not None:  # only the delta could lift a hold: revoked, whatever the policy
                raise A2AClientCertificateRevokedError(
                    f"the client certificate {_name(cert)} (serial {cert.serial_number:x}) is revoked by its "
                    "CA's CRL (its delta CRL could not be fetched)"
                ) from None
            raise
        by = "CRL"
        if delta is not None and (d := _entry(delta, cert)) is not None:
            if _reason(d) != x509.ReasonFlags.remove_from_crl:
                entry, by = d, "delta CRL"
            elif entry is None or _reason(entry) == x509.ReasonFlags.certificate_hold:
                entry = None  # a hold lifted (removeFromCRL); it lifts nothing else
        if entry is not None:
            via = (
                ""
                if signer is issuer
                else f" (the indirect CRL of {signer.subject.rfc4514_string()[:128]!r})"
            )
            raise A2AClientCertificateRevokedError(
                f"the client certificate {_name(cert)} (serial {cert.serial_number:x}) is revoked by its CA's "
                f"{by}{via}"
            )

    def _complete_crl(
        self, cert: x509.Certificate, issuer: x509.Certificate
    ) -> tuple[x509.CertificateRevocationList, x509.Certificate]:
        """The complete CRL for `cert`, checked, and its signer: the CA, or the CRL issuer its
        distribution point names (an indirect CRL)."""
        points = _points(cert, x509.CRLDistributionPoints)
        delegated = [p for p in points if p.crl_issuer != issuer.subject and p.names_issuer]
        if delegated:  # the CRL issuer's CRL serves it (RFC 5280 §4.2.1.13), not the CA's own
            points = delegated[:1]
            signer = self._crl_signer(points[0], issuer)
        else:
            points = [p for p in points if not p.names_issuer or p.crl_issuer == issuer.subject]
            signer = issuer

        def take(crl: x509.CertificateRevocationList, what: str, point: _Point | None) -> None:
            if _ext(crl, x509.DeltaCRLIndicator, what) is not None:
                raise A2ARevocationDeltaError(
                    f"{what} is a delta CRL (deltaCRLIndicator), not a complete CRL"
                )
            self._crl_current(crl, signer, what, issuer)
            self._scope(crl, cert, point, what, indirect=signer is not issuer)

        crl = self._file_crl(signer.subject)
        if crl is not None:
            take(crl, "the configured CRL", None)
            return crl, signer
        if not any(p.urls for p in points):
            raise A2ARevocationNoSourceError(
                f"no CRL for {_name(cert)}: none configured for its issuer and it names no distribution point"
            )
        return self._fetch_crl(points, take), signer

    def _delta_crl(
        self,
        cert: x509.Certificate,
        base: x509.CertificateRevocationList,
        issuer: x509.Certificate,
        signer: x509.Certificate,
    ) -> x509.CertificateRevocationList | None:
        """The delta CRL of `base` (RFC 5280 §5.2.4), checked: a configured one, else from the
        Freshest CRL point the complete CRL (or else the certificate) names; None without one."""

        def take(delta: x509.CertificateRevocationList, what: str, _point: _Point | None) -> None:
            indicator = _ext(delta, x509.DeltaCRLIndicator, what)
            if indicator is None:
                raise A2ARevocationDeltaError(f"{what} is no delta CRL (no deltaCRLIndicator)")
            self._crl_current(delta, signer, what, issuer)
            if _ext(delta, x509.IssuingDistributionPoint, what) != _ext(
                base, x509.IssuingDistributionPoint, "the complete CRL"
            ):  # (RFC 5280 §6.3.3: a delta's IDP matches its complete CRL's; scope checked there)
                raise A2ARevocationDeltaError(
                    f"{what}'s issuingDistributionPoint (its scope) differs from the complete CRL's"
                )
            base_no = _crl_number(base, "the complete CRL")
            number = _crl_number(delta, what)
            if base_no is None or number is None:
                raise A2ARevocationDeltaError(
                    f"{what} cannot apply: a CRLNumber is missing (complete or delta)"
                )
            if indicator.crl_number > base_no:
                raise A2ARevocationDeltaError(
                    f"{what}'s BaseCRLNumber {indicator.crl_number} is above the complete CRL's number {base_no}"
                )
            if number <= indicator.crl_number:
                raise A2ARevocationDeltaError(
                    f"{what}'s CRLNumber {number} is not above its BaseCRLNumber {indicator.crl_number}"
                )
            if number < base_no:
                raise A2ARevocationDeltaError(
                    f"{what} (number {number}) is older than the complete CRL ({base_no})"
                )

        delta = self._file_crl(signer.subject, delta=True)
        if delta is not None:
            take(delta, "the configured delta CRL", None)
            return delta
        points = _points(base, x509.FreshestCRL) or _points(cert, x509.FreshestCRL)
        if not any(p.urls for p in points):
            return None
        return self._fetch_crl(points, take, "delta CRL")

    def _crl_signer(self, point: _Point, issuer: x509.Certificate) -> x509.Certificate:
        """The configured certificate of the CRL issuer `point` names: issued by `issuer` (the
        certificate's CA), keyUsage cRLSign, valid now (RFC 5280 §5.2.5, §4.2.1.3)."""
        if point.crl_issuer is None:
            raise A2ARevocationIndirectError(
                "the distribution point names its CRL issuer by no directory name"
            )
        who = repr(point.crl_issuer.rfc4514_string()[:128])
        candidates = [c for c in self.crl_issuers if c.subject == point.crl_issuer]
        if not candidates:
            raise A2ARevocationIndirectError(
                f"no certificate of the CRL issuer {who} is configured (crl_issuers)"
            )
        problem = ""
        for c in candidates:
            try:
                c.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                problem = f"the CRL issuer {who} is not issued by the certificate's CA"
                continue
            usage = _ext(c, x509.KeyUsage, f"the CRL issuer {who}")
            if usage is None or not usage.crl_sign:
                problem = f"the CRL issuer {who} has no keyUsage cRLSign"
                continue
            if not c.not_valid_before_utc <= self._now() <= c.not_valid_after_utc:
                problem = f"the CRL issuer's certificate {who} is not valid now"
                continue
            return c
        raise A2ARevocationIndirectError(problem)

    def _scope(
        self,
        crl: x509.CertificateRevocationList,
        cert: x509.Certificate,
        point: _Point | None,
        what: str,
        indirect: bool,
    ) -> None:
        """`crl`'s issuingDistributionPoint (RFC 5280 §5.2.5) covers `cert` (fetched from `point`)."""
        idp = _ext(crl, x509.IssuingDistributionPoint, what)
        if indirect and (idp is None or not idp.indirect_crl):
            raise A2ARevocationIndirectError(
                f"{what} is signed by a CRL issuer, not the CA, and its issuingDistributionPoint does not say "
                "indirectCRL"
            )
        if idp is None:
            return
        ca = _ext(cert, x509.BasicConstraints, "the certificate")
        is_ca = ca is not None and ca.ca
        if idp.only_contains_user_certs and is_ca:
            raise A2ARevocationScopeError(
                f"{what} covers end-entity certificates only, and {_name(cert)} is a CA"
            )
        if idp.only_contains_ca_certs and not is_ca:
            raise A2ARevocationScopeError(f"{what} covers CA certificates only, and {_name(cert)} is none")
        if idp.only_contains_attribute_certs:
            raise A2ARevocationScopeError(f"{what} covers attribute certificates only")
        if idp.only_some_reasons:
            raise A2ARevocationScopeError(
                f"{what} covers only some revocation reasons (partitioned CRLs are not combined here)"
            )
        if point is not None and idp.full_name and not set(idp.full_name) & set(point.names):
            raise A2ARevocationScopeError(
                f"{what} is the CRL of another distribution point than the one fetched"
            )

    def _crl_current(
        self,
        crl: x509.CertificateRevocationList,
        signer: x509.Certificate,
        what: str,
        issuer: x509.Certificate | None = None,
    ) -> None:
        """`crl` issued and signed by `signer` (the CA `issuer`, or its CRL issuer) and current
        (the module's notes)."""
        whose = "the certificate's CA" if issuer is None or signer is issuer else "its CRL issuer"
        if crl.issuer != signer.subject:
            raise A2ARevocationIssuerError(
                f"{what} is issued by {crl.issuer.rfc4514_string()[:128]!r}, not {whose} "
                f"{signer.subject.rfc4514_string()[:128]!r}"
            )
        try:
            valid = crl.is_signature_valid(signer.public_key())  # type: ignore[arg-type]
        except (UnsupportedAlgorithm, TypeError, ValueError):
            valid = False
        if not valid:
            raise A2ARevocationSignatureError(f"{what}'s signature does not verify under {whose}'s key")
        now, nxt = self._now(), crl.next_update_utc
        if nxt is None:
            raise A2ARevocationFormatError(f"{what} has no nextUpdate")
        if crl.last_update_utc > now + timedelta(seconds=self.skew_s):
            raise A2ARevocationStaleError(
                f"{what} is from the future ({crl.last_update_utc:%Y-%m-%dT%H:%M:%SZ})"
            )
        if now > nxt + timedelta(seconds=self.crl_grace_s):
            raise A2ARevocationStaleError(f"{what} is stale: its nextUpdate was {nxt:%Y-%m-%dT%H:%M:%SZ}")

    def _fetch_crl(
        self,
        points: Sequence[_Point],
        take: Callable[[x509.CertificateRevocationList, str, _Point | None], None],
        kind: str = "CRL",
    ) -> x509.CertificateRevocationList:
        """The CRL of the first distribution point URL that answers, checked by `take` (and
        cached until its nextUpdate; a CRL within its grace past nextUpdate for `retry_s`)."""
        last: A2ARevocationUnavailableError | None = None
        for point in points:
            for url in point.urls:
                what = f"the {kind} at {url[:128]}"
                now = self.clock()
                with self._lock:
                    held = self._crls.get(url)
                if held is not None and now < held.until:
                    if isinstance(held.value, A2ARevocationUnavailableError):
                        last = held.value
                        continue
                    take(held.value, what, point)  # (within its grace)
                    return held.value
                try:
                    crl = load_crl(self._get(url, "application/pkix-crl"), what)
                except A2ARevocationUnavailableError as exc:
                    self._remember(self._crls, url, exc, now + self.retry_s)
                    last = exc
                    continue
                take(crl, what, point)
                nxt = crl.next_update_utc.timestamp()  # type: ignore[union-attr] (checked)
                self._remember(self._crls, url, crl, max(nxt, now + self.retry_s) if now > nxt else nxt)
                return crl
        assert last is not None
        raise last

    # ---- OCSP

    def _check_ocsp(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        key = (hashlib.sha256(issuer.public_bytes(Encoding.DER)).hexdigest(), cert.serial_number)
        now = self.clock()
        with self._lock:
            held = self._ocsp.get(key)
        if held is None or now >= held.until:
            urls = _ocsp_urls(cert)
            if not urls:
                raise A2ARevocationNoSourceError(
                    f"the client certificate {_name(cert)} names no OCSP responder"
                )
            try:
                status, until = self._ask(urls[0], cert, issuer)
            except A2ARevocationUnavailableError as exc:
                self._remember(self._ocsp, key, exc, now + self.retry_s)
                raise
            held = _Cached(status, until)
            self._remember(self._ocsp, key, status, until)
        if isinstance(held.value, A2ARevocationUnavailableError):
            raise held.value
        if held.value == ocsp.OCSPCertStatus.REVOKED:
            raise A2AClientCertificateRevokedError(
                f"the client certificate {_name(cert)} (serial {cert.serial_number:x}) is revoked (OCSP)"
            )
        if held.value == ocsp.OCSPCertStatus.UNKNOWN and not self.accept_unknown:
            raise A2ARevocationUnknownError(
                f"the OCSP responder does not know the client certificate {_name(cert)}"
            )

    def _ask(
        self, url: str, cert: x509.Certificate, issuer: x509.Certificate
    ) -> tuple[ocsp.OCSPCertStatus, float]:
        """The certificate's status from the responder at `url`, checked, and until when it holds."""
        nonce = None if self.ocsp_get else secrets.token_bytes(16)
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            cert,
            issuer,
            hashes.SHA1(),  # noqa: S303 (RFC 6960's CertID; responders expect it)
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        der = builder.build().public_bytes(Encoding.DER)
        encoded = quote(base64.b64encode(der).decode(), safe="")
        if self.ocsp_get and len(encoded) < OCSP_GET_MAX:  # RFC 6960 A.1, RFC 5019 §5
            body = self._get(url.rstrip("/") + "/" + encoded, OCSP_RESPONSE)
        else:
            body = self._get(url, OCSP_RESPONSE, (OCSP_REQUEST, der))
        try:
            resp = ocsp.load_der_ocsp_response(body)
        except ValueError as exc:
            raise A2ARevocationFormatError(
                f"the OCSP answer of {url[:128]} is malformed: {str(exc)[:120]}"
            ) from None
        if resp.response_status in _UNAVAILABLE_STATUS:
            raise A2ARevocationUnavailableError(
                f"the OCSP responder {url[:128]} answered {resp.response_status.name}"
            )
        if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise A2ARevocationFormatError(
                f"the OCSP responder {url[:128]} answered {resp.response_status.name}"
            )
        try:
            single = self._single(resp, cert, issuer)
            self._check_signer(resp, issuer)
            sent = [e.value.nonce for e in resp.extensions if isinstance(e.value, x509.OCSPNonce)]
            this, nxt = single.this_update_utc, single.next_update_utc
            status = single.certificate_status
        except ValueError as exc:  # (lazily parsed fields)
            raise A2ARevocationFormatError(
                f"the OCSP answer of {url[:128]} is malformed: {str(exc)[:120]}"
            ) from None
        if nonce is not None and sent and sent != [nonce]:
            raise A2ARevocationNonceError(
                "the OCSP answer carries another nonce than the request's (a replay)"
            )
        if not sent and self.require_nonce:
            raise A2ARevocationNonceError("the OCSP answer carries no nonce and this agent requires one")
        now = self._now()
        if this > now + timedelta(seconds=self.skew_s):
            raise A2ARevocationStaleError(f"the OCSP answer is from the future ({this:%Y-%m-%dT%H:%M:%SZ})")
        until = (nxt or this + timedelta(seconds=self.ocsp_max_age_s)).timestamp()
        if now.timestamp() >= until:
            raise A2ARevocationStaleError(
                f"the OCSP answer is stale: thisUpdate {this:%Y-%m-%dT%H:%M:%SZ}, nextUpdate "
                + (f"{nxt:%Y-%m-%dT%H:%M:%SZ}" if nxt else f"none (at most {self.ocsp_max_age_s:g} s old)")
            )
        return status, until

    @staticmethod
    def _single(resp: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate) -> Any:
        """The response's answer for `cert` (its CertID under the response's own hash)."""
        for single in resp.responses:
            try:
                mine = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
            if (single.serial_number, single.issuer_name_hash, single.issuer_key_hash) == (
                mine.serial_number,
                mine.issuer_name_hash,
                mine.issuer_key_hash,
            ):
                return single
        raise A2ARevocationFormatError(f"the OCSP answer is not for the client certificate {_name(cert)}")

    def _check_signer(self, resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
        """The response signed by the CA or a responder it authorized (RFC 6960 §4.2.2.2)."""

        def names(c: x509.Certificate) -> bool:
            if resp.responder_name is not None:
                return resp.responder_name == c.subject
            kid = x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest  # type: ignore[arg-type]
            return resp.responder_key_hash == kid

        if names(issuer):
            signer = issuer
        else:
            delegated = [c for c in resp.certificates if names(c)]
            if not delegated:
                raise A2ARevocationResponderError(
                    "the OCSP answer is signed by a responder that is neither the certificate's CA "
                    "nor a certificate the answer carries"
                )
            signer = delegated[0]
            self._authorized(signer, issuer)
        try:
            _verify(
                signer.public_key(), resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm
            )
        except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
            raise A2ARevocationSignatureError(
                "the OCSP answer's signature does not verify under its responder's key"
            ) from None

    def _authorized(self, responder: x509.Certificate, issuer: x509.Certificate) -> None:
        """A delegated responder: issued (and signed) by the CA, id-kp-OCSPSigning, valid now."""
        try:
            responder.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise A2ARevocationResponderError(
                f"the OCSP responder {_name(responder)} is not issued by the certificate's CA"
            ) from None
        try:
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            raise A2ARevocationResponderError(
                f"the OCSP responder {_name(responder)} is not authorized by its CA (no id-kp-OCSPSigning)"
            )
        now = self._now()
        if not responder.not_valid_before_utc <= now <= responder.not_valid_after_utc:
            raise A2ARevocationResponderError(
                f"the OCSP responder's certificate {_name(responder)} is not valid now"
            )

    # ---- fetching and caching

    def _get(self, url: str, accept: str, content: tuple[str, bytes] | None = None) -> bytes:
        self.fetches += 1
        return self.fetcher.fetch(
            url,
            accept,
            A2ARevocationUnavailableError,
            content=content,
            refused=A2ARevocationAddressError,
            too_large=A2ARevocationFormatError,
        ).body

    def _remember(self, cache: dict[Any, _Cached], key: Any, value: Any, until: float) -> None:
        with self._lock:
            if len(cache) >= MAX_CACHED:
                now = self.clock()
                for k in [k for k, v in cache.items() if v.until <= now] or list(cache)[: MAX_CACHED // 4]:
                    del cache[k]
            cache[key] = _Cached(value, until)
