"""TLS for the HTTP service stack (httpservice.ServiceServer): a server context that can require
client certificates (mutual TLS), and the ASGI TLS extension, which uvicorn does not provide.

uvicorn terminates TLS but hands the application nothing of it: no client certificate, no version,
no cipher. :class:`TLSProtocol` is uvicorn's own h11 protocol (``uvicorn.Config(http=...)`` takes a
protocol class) that, once a connection's handshake is done, adds the ASGI TLS extension to the
scope of every request on it (``scope["extensions"]["tls"]``, the ASGI specification's "TLS"
extension): ``server_cert`` (the server's certificate, PEM), ``client_cert_chain`` (the client's
certificates, PEM, its own first: the verified chain where Python exposes it (3.13+), else the
leaf), ``client_cert_name`` (the leaf's subject, RFC 4514), ``client_cert_error`` (None: a
certificate that failed verification never completes the handshake), ``tls_version`` (0x0303 for
TLS 1.2, 0x0304 for TLS 1.3) and ``cipher_suite`` (its 16-bit IANA number). :func:`client_chain`
reads the certificates back from a scope.

:func:`server_context` builds the context (TLS 1.2 at least): with `client_ca`, a client
certificate chaining to one of its CAs is asked for — ``required`` (``CERT_REQUIRED``: a
connection without one fails its handshake) or ``optional`` (``CERT_OPTIONAL``: one without a
certificate is let through, for the application to decide); a certificate that does not verify
(another CA, expired, not yet valid) fails the handshake either way.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TLSProtocol", "client_chain", "server_context", "tls_extension"]

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
CLIENT_CERTS = ("required", "optional")


def server_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    client_ca: bytes | None = None,
    *,
    client_certs: str = "required",
) -> ssl.SSLContext:
    """A server context for `certfile` (its chain, PEM) and `keyfile`; with `client_ca` (PEM CA
    certificates), client certificates are verified against them, ``required`` or ``optional``
    (see the module's notes). ValueError for a setting it does not know; ssl.SSLError or OSError
    for files that cannot be loaded."""
    if client_certs not in CLIENT_CERTS:
        raise ValueError(f"client_certs is one of {', '.join(CLIENT_CERTS)}, not {client_certs!r}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        ctx.load_verify_locations(cadata=client_ca.decode("ascii"))
        ctx.verify_mode = ssl.CERT_REQUIRED if client_certs == "required" else ssl.CERT_OPTIONAL
    with open(certfile, "rb") as f:
        leaf = x509.load_pem_x509_certificates(f.read())[0]
    ctx.server_cert_pem = leaf.public_bytes(Encoding.PEM).decode()  # type: ignore[attr-defined]
    ctx.cipher_ids = {c["name"]: c["id"] & 0xFFFF for c in ctx.get_ciphers()}  # type: ignore[attr-defined]
    return ctx


def _pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension's fields for a connection whose handshake is done."""
    ctx = ssl_object.context
    chain: list[str] = []
    verified = getattr(ssl_object, "get_verified_chain", None)  # Python 3.13+
    if verified is not None:
        chain = [_pem(der) for der in verified()]  # (DER, the client's own first)
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = [_pem(leaf)] if leaf else []
    name = x509.load_pem_x509_certificate(chain[0].encode()).subject.rfc4514_string() if chain else None
    cipher = ssl_object.cipher()
    ids: dict[str, int] = getattr(ctx, "cipher_ids", {})
    return {
        "server_cert": getattr(ctx, "server_cert_pem", None),
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else ids.get(cipher[0]),
    }


class TLSProtocol(H11Protocol):
    """uvicorn's h11 protocol with the ASGI TLS extension in each request's scope (a plain
    connection's scope is left as it was)."""

    def connection_made(self, transport: Any) -> None:  # (the handshake is done by now)
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        tls = tls_extension(ssl_object)
        app = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**scope.get("extensions", {}), "tls": tls}
            await app(scope, receive, send)

        self.app = with_tls


def client_chain(scope: Scope) -> Sequence[x509.Certificate]:
    """The client's certificates in a request's scope (its own first; empty: none presented, or
    no TLS extension)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    return [x509.load_pem_x509_certificate(p.encode()) for p in tls.get("client_cert_chain") or ()]
