"""Bounded, SSRF-safe HTTP GETs for what a verifier fetches on a credential's word: an issuer's
``/.well-known/jwt-vc-issuer`` metadata and ``jwks_uri`` (issuers.py), a Status List Token
(status_list.py), an OAuth 2.0 / OpenID Connect issuer's discovery document and key set
(a2a_auth.py, which reads the answer's cache headers too: `Fetched.headers`); and the wallet's side of OpenID4VP (oid4vp_http.py): a Request Object fetched
by reference (GET, or a form POST for ``request_uri_method=post``) and the response posted to the
verifier (``direct_post``); and a TLS client certificate's revocation status (a2a_revocation.py): a CRL
from its distribution point, an OCSP response to a request POSTed to its responder.

The rules are A2A push notifications' (a2a_push.py): the URL carries no credentials, its scheme is
one allowed (``https`` unless told otherwise), and the host reaches only public addresses (loopback,
private, link-local, shared, multicast, reserved and unspecified refused, IPv4 inside IPv6
included; loopback admitted only when the caller says so, for local tests); a name is resolved
once, every address checked, and the request goes to the checked address (the name kept for
``Host`` and TLS), so DNS rebinding cannot redirect it; redirects are not followed. Bounds: the
connect and each read within `timeout_s`, the whole body within `timeout_s` of the answer's start,
at most `max_bytes` (read in pieces, abandoned beyond), a 200 answer only. Every refusal is the
caller's error class, naming why.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from offchain.agent.a2a_push import address_allowed, check_public_url
from offchain.errors import AgentError

MAX_URL = 2048


@dataclass(frozen=True)
class Fetcher:
    """GETs under the rules above: `schemes` allowed, loopback only with `loopback`, at most
    `max_bytes` in `timeout_s`; https checked with `verify` (default: the system's roots)."""

    timeout_s: float = 5.0
    max_bytes: int = 256 * 1024
    schemes: tuple[str, ...] = ("https",)
    loopback: bool = False
    verify: ssl.SSLContext | bool = True

    def check_url(self, url: object, error: type[AgentError]) -> tuple[str, str, int]:
        """(scheme, host, port) of a URL fit to be fetched (`error` otherwise)."""
        return check_public_url(
            url, what="URL to fetch", error=error, schemes=self.schemes, loopback=self.loopback
        )

    def resolve(
        self, host: str, port: int, error: type[AgentError], refused: type[AgentError] | None = None
    ) -> str:
        """The checked address to reach `host` at: every address it has is public (or loopback,
        when allowed), else `refused` (default `error`)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise error(f"the host {host} does not resolve: {exc}") from None
        addrs = {str(info[4][0]).split("%")[0] for info in infos}
        for a in sorted(addrs):
            if not address_allowed(ipaddress.ip_address(a), self.loopback):
                raise (refused or error)(f"the host {host} resolves to {a}, which is not public: refused")
        if not addrs:
            raise error(f"the host {host} has no address")
        return sorted(addrs)[0]

    def get(
        self,
        url: str,
        accept: str,
        error: type[AgentError],
        *,
        refused: type[AgentError] | None = None,
        too_large: type[AgentError] | None = None,
    ) -> bytes:
        """The body of a 200 answer to GET `url` (`error` for anything else; `refused`, when
        given, for a URL or address the rules refuse; `too_large` for a body over the bound)."""
        return self.fetch(url, accept, error, refused=refused, too_large=too_large).body

    def fetch(
        self,
        url: str,
        accept: str,
        error: type[AgentError],
        *,
        form: Mapping[str, str] | None = None,
        content: tuple[str, bytes] | None = None,
        refused: type[AgentError] | None = None,
        too_large: type[AgentError] | None = None,
        absent: type[AgentError] | None = None,
    ) -> Fetched:
        """The body and content type of a 200 answer to GET `url`, or to a POST of `form`
        (``application/x-www-form-urlencoded``) when given: OpenID4VP's ``request_uri_method=post``
        and ``direct_post``; or of `content` (its media type, its bytes) as is: an OCSP request
        (a2a_revocation.py). The same rules and bounds for both; `error`, `refused`, `too_large`
        as :meth:`get`; `absent`, when given, for a 404 or 410 answer."""
        scheme, host, port = self.check_url(url, refused or error)
        ip = self.resolve(host, port, error, refused)
        target = httpx.URL(url).copy_with(host=ip)
        ext = {"sni_hostname": host} if scheme == "https" else {}
        headers = {"Accept": accept, "Host": urlsplit(url).netloc}
        method, body_out = "GET", None
        if form is not None:
            method, body_out = "POST", urlencode(dict(form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif content is not None:
            method, body_out = "POST", content[1]
            headers["Content-Type"] = content[0]
        try:
            with (
                httpx.Client(
                    timeout=self.timeout_s, follow_redirects=False, trust_env=False, verify=self.verify
                ) as client,
                client.stream(method, target, headers=headers, extensions=ext, content=body_out) as r,
            ):
                deadline = time.monotonic() + self.timeout_s  # the body too, not each read alone
                if r.status_code != 200:
                    gone = absent is not None and r.status_code in (404, 410)
                    raise (absent if gone and absent else error)(
                        f"{method} {url[:128]} answered {r.status_code}"
                    )
                declared = r.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise (too_large or error)(
                        f"{method} {url[:128]}: {declared} bytes, more than {self.max_bytes}"
                    )
                body = bytearray()
                for piece in r.iter_bytes():
                    body += piece
                    if len(body) > self.max_bytes:
                        raise (too_large or error)(f"{method} {url[:128]}: more than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise error(f"{method} {url[:128]}: slower than {self.timeout_s} s")
                ctype = r.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                return Fetched(bytes(body), ctype, r.headers)
        except httpx.HTTPError as exc:
            raise error(f"{method} {url[:128]} failed: {type(exc).__name__}") from None


@dataclass(frozen=True)
class Fetched:
    """A 200 answer: its body, its media type (lower case, parameters dropped; "" if none) and its
    headers."""

    body: bytes
    content_type: str
    headers: httpx.Headers


def json_object(body: bytes, error: type[AgentError], what: str) -> dict[str, Any]:
    """A fetched `body` as a JSON object; `error` naming `what` when it is not JSON or not an object."""
    try:
        v = json.loads(body)
    except (ValueError, RecursionError):
        raise error(f"{what} is not JSON") from None
    if not isinstance(v, dict):
        raise error(f"{what} is not a JSON object")
    return v
