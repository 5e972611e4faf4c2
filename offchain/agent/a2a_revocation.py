"""Revocation of A2A callers' TLS client certificates (mutual TLS, a2a_mtls.py): a certificate its
CA has revoked is refused, by CRL (RFC 5280) or OCSP (RFC 6960).

:class:`Revocation` is the policy a :class:`~offchain.agent.a2a_mtls.MutualTLS` checks each
verified chain against (the caller's certificate and every intermediate, each against the CA that
issued it; the trust anchor itself is not checked). Its ``mode``:

* ``none``: no check;
* ``crl``: the issuer's X.509 v2 CRL (DER or PEM), from a configured file (``crl_files``: matched by
  issuer name, re-read when the file changes) or else fetched from the certificate's CRL
  Distribution Points (http or https);
* ``ocsp``: a request (SHA-1 CertID, a random nonce) POSTed as ``application/ocsp-request`` to the
  responder the certificate's Authority Information Access names;
* ``either``: OCSP, falling back to the CRL when OCSP gives no answer (no responder named, or it
  could not be reached).

A CRL is taken only when its issuer name is the CA's subject, its signature verifies under the
CA's key, it has a ``nextUpdate`` and ``thisUpdate`` is not in the future (``skew_s`` allowed).
Past ``nextUpdate`` a CRL is stale: the configured file is re-read and a distribution point fetched
again, and a CRL still stale (beyond ``crl_grace_s``, 0 by default) refuses the certificate (fail
closed; A2ARevocationStaleError). An OCSP response is taken only when its status is
``successful``, it answers for this certificate (CertID: serial, issuer name and key hashes), it
is signed by the CA itself or by a responder certificate the CA issued with id-kp-OCSPSigning and
valid now (anything else: A2ARevocationResponderError), the signature verifies, the nonce is the
one sent (a response without one is taken unless ``require_nonce``: responders serving
pre-produced responses omit it), ``thisUpdate`` is not in the future and it is current: before
``nextUpdate``, or without one, ``thisUpdate`` within ``ocsp_max_age_s``. ``revoked`` refuses;
``unknown`` refuses unless ``accept_unknown``.

Fetches go through webfetch.Fetcher (SSRF-safe: public addresses only unless the fetcher admits
loopback, no redirects, bounded size and time). A CRL is cached (per distribution point) until its
``nextUpdate``, an OCSP answer (per CA and serial) until its ``nextUpdate`` (or ``ocsp_max_age_s``
after ``thisUpdate``), so a request does not fetch every time; a source that could not be reached
is not asked again for ``retry_s``.

``fail_closed`` (the default) refuses a certificate whose status could not be fetched
(A2ARevocationUnavailableError). With ``fail_closed=False`` (soft-fail) such a certificate is let
through, logged — only then: a bad signature, an unauthorized responder, a stale or malformed
answer, a CRL of another issuer, a refused URL or a certificate naming no source refuse it under
either policy. Every refusal is a kind of A2AClientCertificateError (UNAUTHENTICATED on the wire).
"""

from __future__ import annotations

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
    A2ARevocationFormatError,
    A2ARevocationIssuerError,
    A2ARevocationNonceError,
    A2ARevocationNoSourceError,
    A2ARevocationResponderError,
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


def _urls(cert: x509.Certificate, kind: str) -> list[str]:
    """The http(s) URLs a certificate names: its CRL distribution points (``crl``) or OCSP
    responders (``ocsp``)."""
    names: list[x509.GeneralName] = []
    try:
        if kind == "crl":
            for dp in cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value:
                names += dp.full_name or []
        else:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            names = [d.access_location for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    except x509.ExtensionNotFound:
        return []
    return [
        n.value
        for n in names
        if isinstance(n, x509.UniformResourceIdentifier)
        and n.value.lower().startswith(("http://", "https://"))
    ]


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
    `require_nonce`, `accept_unknown`, `retry_s` (how long an unreachable source rests), `fetcher`
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
        self.mode = mode
        self.fail_closed = fail_closed
        self.crl_grace_s = crl_grace_s
        self.ocsp_max_age_s = ocsp_max_age_s
        self.skew_s = skew_s
        self.require_nonce = require_nonce
        self.accept_unknown = accept_unknown
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

    def _file_crl(self, issuer: x509.Certificate) -> x509.CertificateRevocationList | None:
        """The configured CRL of `issuer` (re-read when its file changed), if any."""
        for path in list(self._files):
            try:
                crl = self._load_file(path)
            except (OSError, A2ARevocationFormatError) as exc:
                raise A2ARevocationFormatError(f"the CRL file {path}: {str(exc)[:160]}") from None
            if crl.issuer == issuer.subject:
                return crl
        return None

    def _check_crl(self, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        crl = self._file_crl(issuer)
        if crl is None:
            urls = _urls(cert, "crl")
            if not urls:
                raise A2ARevocationNoSourceError(
                    f"no CRL for {_name(cert)}: none configured for its issuer and it names no distribution point"
                )
            crl = self._fetch_crl(urls, issuer)
        else:
            self._crl_current(crl, issuer, "the configured CRL")
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise A2AClientCertificateRevokedError(
                f"the client certificate {_name(cert)} (serial {cert.serial_number:x}) is revoked by its CA's CRL"
            )

    def _crl_current(self, crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str) -> None:
        """`crl` issued and signed by `issuer` and current (the module's notes)."""
        if crl.issuer != issuer.subject:
            raise A2ARevocationIssuerError(
                f"{what} is issued by {crl.issuer.rfc4514_string()[:128]!r}, not the certificate's CA "
                f"{issuer.subject.rfc4514_string()[:128]!r}"
            )
        try:
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (UnsupportedAlgorithm, TypeError, ValueError):
            valid = False
        if not valid:
            raise A2ARevocationSignatureError(f"{what}'s signature does not verify under its CA's key")
        now, nxt = self._now(), crl.next_update_utc
        if nxt is None:
            raise A2ARevocationFormatError(f"{what} has no nextUpdate")
        if crl.last_update_utc > now + timedelta(seconds=self.skew_s):
            raise A2ARevocationStaleError(
                f"{what} is from the future ({crl.last_update_utc:%Y-%m-%dT%H:%M:%SZ})"
            )
        if now > nxt + timedelta(seconds=self.crl_grace_s):
            raise A2ARevocationStaleError(f"{what} is stale: its nextUpdate was {nxt:%Y-%m-%dT%H:%M:%SZ}")

    def _fetch_crl(self, urls: Sequence[str], issuer: x509.Certificate) -> x509.CertificateRevocationList:
        """The CRL of the first distribution point that answers, checked (and cached until its
        nextUpdate; a CRL within its grace past nextUpdate for `retry_s`)."""
        last: A2ARevocationUnavailableError | None = None
        for url in urls:
            now = self.clock()
            with self._lock:
                held = self._crls.get(url)
            if held is not None and now < held.until:
                if isinstance(held.value, A2ARevocationUnavailableError):
                    last = held.value
                    continue
                self._crl_current(held.value, issuer, f"the CRL at {url[:128]}")  # (within its grace)
                return held.value
            try:
                crl = load_crl(self._get(url, "application/pkix-crl"), f"the CRL at {url[:128]}")
            except A2ARevocationUnavailableError as exc:
                self._remember(self._crls, url, exc, now + self.retry_s)
                last = exc
                continue
            self._crl_current(crl, issuer, f"the CRL at {url[:128]}")
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
            urls = _urls(cert, "ocsp")
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
        nonce = secrets.token_bytes(16)
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 (RFC 6960's CertID; responders expect it)
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        body = self._get(url, OCSP_RESPONSE, (OCSP_REQUEST, request.public_bytes(Encoding.DER)))
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
        if sent and sent != [nonce]:
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
