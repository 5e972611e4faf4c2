"""A2A callers by TLS client certificate (mutual TLS, the card's ``mtlsSecurityScheme``) and
certificate-bound access tokens (RFC 8705).

The server side is :class:`MutualTLS`: the CAs that sign callers' certificates, and the callers
they name. It builds the TLS layer of both bindings — :meth:`MutualTLS.server_context` for the
HTTP ones (uvicorn through httpservice.ServiceServer(tls=...), which hands the application the
certificate in the ASGI TLS extension, httptls) and :meth:`MutualTLS.grpc_credentials` for gRPC
(``require_client_auth``: the certificate comes back through the call's ``auth_context()``) — so
a certificate of another CA, expired or not yet valid never completes the handshake. The agent
then checks the certificate again against the same CAs at its own clock (so the policy holds
whatever context the TLS layer was given: :meth:`MutualTLS.verify`) and names the caller
(:meth:`MutualTLS.identify`): the first of these configured for it —

* ``sha256:<hex>``: the certificate's SHA-256 fingerprint (of its DER), pinning one certificate;
* ``uri:<uri>``, ``dns:<name>``, ``email:<address>``: a subject alternative name it holds (a
  SPIFFE id, for one), across re-issued certificates;
* ``subject:<RFC 4514 name>``: its subject, as cryptography writes it (``CN=alice,O=Acme``).

A certificate that matches nothing, or names two callers, is refused. An access token presented
over the same connection names the caller instead (``<iss>#<sub>``); if it carries
``cnf {"x5t#S256": <base64url SHA-256 of the certificate's DER>}`` it is taken only over a
connection presenting that certificate, and with ``bound_tokens`` every access token must be so
bound. With a :class:`~offchain.agent.a2a_revocation.Revocation` policy, a certificate (or one of
its chain) its CA revoked is refused too (by CRL or OCSP: a2a_revocation.py). Every refusal is a
kind of A2AClientCertificateError or A2ATokenError (UNAUTHENTICATED on the wire).

The client side is :class:`ClientCertificate`: a certificate and key to present (and the CAs the
agent's own certificate is checked against), as an httpx client and as gRPC channel credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from offchain.agent.a2a_revocation import Revocation
from offchain.agent.errors import (
    A2AClientCertificateExpiredError,
    A2AClientCertificateMissingError,
    A2AClientCertificateUnknownError,
    A2AClientCertificateUntrustedError,
    A2ATokenBindingError,
    A2ATokenUnboundError,
)
from offchain.httptls import server_context

__all__ = ["ClientCertificate", "MutualTLS", "grpc_peer_chain", "thumbprint"]

MTLS = "mtls"
SAN_KINDS: dict[str, type[x509.GeneralName]] = {
    "uri": x509.UniformResourceIdentifier,
    "dns": x509.DNSName,
    "email": x509.RFC822Name,
}
KINDS = ("sha256", *SAN_KINDS, "subject")


def thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705's ``x5t#S256``: base64url (unpadded) of the SHA-256 of the certificate's DER."""
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _names(cert: x509.Certificate) -> list[str]:
    """What a caller may be configured by, most specific first."""
    out = ["sha256:" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    for kind, cls in SAN_KINDS.items():
        out += [f"{kind}:{v}" for v in (san.get_values_for_type(cls) if san is not None else ())]  # type: ignore[arg-type]
    return out + ["subject:" + cert.subject.rfc4514_string()]


class MutualTLS:
    """Callers by client certificate: `ca_pem` (PEM, the CAs signing callers' certificates),
    `callers` (``sha256:…``, ``uri:…``, ``dns:…``, ``email:…`` or ``subject:…`` -> the caller's
    name), `bound_tokens` (access tokens must be bound to the certificate presented), `name` (the
    card's scheme name), `revocation` (a2a_revocation.Revocation: revoked certificates refused).
    See the module's notes."""

    def __init__(
        self,
        ca_pem: bytes,
        callers: Mapping[str, str],
        *,
        bound_tokens: bool = False,
        name: str = MTLS,
        clock: Callable[[], float] = time.time,
        revocation: Revocation | None = None,
    ) -> None:
        try:
            self.cas = x509.load_pem_x509_certificates(ca_pem)
        except ValueError as exc:
            raise ValueError(f"the client CAs are PEM certificates: {exc}") from None
        for key, caller in callers.items():
            kind, _, value = key.partition(":")
            if kind not in KINDS or not value:
                raise ValueError(
                    f"a caller's certificate is named by {', '.join(k + ':' for k in KINDS)}, not {key!r}"
                )
            if not isinstance(caller, str) or not caller or "#" in caller:
                raise ValueError("a certificate caller's name is a non-empty string without '#'")
        self.ca_pem = ca_pem
        self.callers = {(k.lower() if k.startswith("sha256:") else k): c for k, c in callers.items()}
        self.bound_tokens = bound_tokens
        self.name = name
        self.clock = clock
        self.revocation = revocation
        self._store = Store(self.cas)

    # ---- the TLS layer

    def server_context(
        self, certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str], *, required: bool = True
    ) -> ssl.SSLContext:
        """The HTTP bindings' TLS context (for ServiceServer(tls=...)): the agent's certificate
        and key files, callers' certificates verified against this policy's CAs; `required`
        False lets a connection without one through (for callers by token, or anonymous ones)."""
        return server_context(
            certfile, keyfile, self.ca_pem, client_certs="required" if required else "optional"
        )

    def grpc_credentials(self, cert_pem: bytes, key_pem: bytes) -> grpc.ServerCredentials:
        """The gRPC binding's credentials (A2AServer(grpc_credentials=...)): the agent's
        certificate chain and key (PEM), a caller's certificate required and verified against this
        policy's CAs."""
        return grpc.ssl_server_credentials(
            [(key_pem, cert_pem)], root_certificates=self.ca_pem, require_client_auth=True
        )

    def scheme(self) -> dict[str, Any]:
        """Its entry in the card's ``securitySchemes``."""
        return {"mtlsSecurityScheme": {"description": "TLS client certificates of the agent's caller CAs"}}

    # ---- callers

    def verify(self, chain: Sequence[x509.Certificate]) -> x509.Certificate:
        """The caller's certificate (`chain`: its own first, then intermediates), once it chains to
        one of the CAs, it and its chain are valid now and, with `revocation`, none of them is
        revoked (A2AClientCertificateError's kinds otherwise; the revocation check may fetch a CRL
        or an OCSP answer: call it off the event loop)."""
        if not chain:
            raise A2AClientCertificateMissingError("no client certificate was presented")
        now = datetime.fromtimestamp(self.clock(), UTC)
        for c in chain:
            if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
                raise A2AClientCertificateExpiredError(
                    f"the client certificate {c.subject.rfc4514_string()[:128]!r} is valid from "
                    f"{c.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to {c.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
                )
        verifier = PolicyBuilder().store(self._store).time(now).build_client_verifier()
        try:
            verified = verifier.verify(chain[0], list(chain[1:]))
        except VerificationError as exc:
            raise A2AClientCertificateUntrustedError(
                f"the client certificate {chain[0].subject.rfc4514_string()[:128]!r} does not chain "
                f"to a CA trusted for callers: {str(exc)[:160]}"
            ) from None
        if self.revocation is not None:
            self.revocation.check(verified.chain)
        return chain[0]

    def identify(self, chain: Sequence[x509.Certificate]) -> str:
        """The caller a verified certificate names (A2AClientCertificateUnknownError: none, or
        several)."""
        cert = self.verify(chain)
        found = [self.callers[n] for n in _names(cert) if n in self.callers]
        if not found:
            raise A2AClientCertificateUnknownError(
                f"the client certificate {cert.subject.rfc4514_string()[:128]!r} names no caller of this agent"
            )
        if len(set(found)) > 1:
            raise A2AClientCertificateUnknownError(
                f"the client certificate {cert.subject.rfc4514_string()[:128]!r} names several callers"
            )
        return found[0]

    def check_binding(self, claims: Mapping[str, Any], chain: Sequence[x509.Certificate]) -> None:
        """RFC 8705 for an access token's `claims` over a connection presenting `chain` (empty:
        none): a token bound to a certificate (``cnf.x5t#S256``) only with that certificate, and
        with `bound_tokens` none unbound (A2ATokenBindingError, A2ATokenUnboundError)."""
        if chain:
            self.verify(chain)
        check_binding(claims, chain, self.bound_tokens)


def check_binding(claims: Mapping[str, Any], chain: Sequence[x509.Certificate], required: bool) -> None:
    """An access token's certificate binding (see MutualTLS.check_binding); also for agents
    without mutual TLS (`chain` empty), which refuse a bound token as they cannot check it."""
    cnf = claims.get("cnf")
    x5t = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if x5t is None:
        if required:
            raise A2ATokenUnboundError("the access token is not bound to a client certificate (cnf x5t#S256)")
        return
    if not isinstance(x5t, str):
        raise A2ATokenBindingError("the access token's cnf x5t#S256 is a base64url string")
    if not chain:
        raise A2ATokenBindingError(
            "the access token is bound to a client certificate and none was presented over this connection"
        )
    if not hmac.compare_digest(x5t.encode(), thumbprint(chain[0]).encode()):
        raise A2ATokenBindingError(
            "the access token is bound to another client certificate than the one presented"
        )


def grpc_peer_chain(context: Any) -> list[x509.Certificate]:
    """The client certificate of a gRPC call (its ``auth_context()``; empty: none, or no TLS)."""
    try:
        pems = (context.auth_context() or {}).get("x509_pem_cert") or ()
    except (AttributeError, ValueError):
        return []
    return [x509.load_pem_x509_certificate(p) for p in pems[:1]]


@dataclass(frozen=True)
class ClientCertificate:
    """What a client presents: `certfile` (its certificate, then any intermediates, PEM) and
    `keyfile` (its key, PEM); `cafile` (PEM): the CAs the agent's certificate is checked against
    (None: the system's roots)."""

    certfile: str | os.PathLike[str]
    keyfile: str | os.PathLike[str]
    cafile: str | os.PathLike[str] | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context presenting the certificate."""
        ctx = ssl.create_default_context(cafile=None if self.cafile is None else str(self.cafile))
        ctx.load_cert_chain(self.certfile, self.keyfile)
        return ctx

    def http_client(self, timeout_s: float = 60.0) -> httpx.Client:
        """An httpx client presenting the certificate."""
        return httpx.Client(timeout=timeout_s, verify=self.ssl_context())

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials presenting the certificate."""
        ca = None if self.cafile is None else Path(self.cafile).read_bytes()
        return grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=Path(self.keyfile).read_bytes(),
            certificate_chain=Path(self.certfile).read_bytes(),
        )
