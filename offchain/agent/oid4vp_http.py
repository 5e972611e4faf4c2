"""OpenID4VP 1.0 over HTTP: the verifier's (a merchant's) signed Authorization Request, fetched by
reference, and the wallet's (the user's device or its agent) response posted back — the transport
for the presentations, ``transaction_data`` and AP2 delegations of oid4vp.py.

**Client identifiers.** The verifier signs Request Objects (RFC 9101 JAR: a JWS, ``typ:
oauth-authz-req+jwt``, ES256) with the key of an X.509 certificate whose chain it sends in the
``x5c`` header, and names itself by that certificate: ``x509_san_dns:<DNS name>`` (a dNSName of the
certificate; the ``response_uri`` must be on that host) or ``x509_hash:<base64url SHA-256 of the
leaf's DER>``. This fits the project's keys: merchants already sign AP2 checkout JWTs with an ES256
key, and an X.509 certificate for it (a web PKI or a marketplace CA the wallet pins, as pki.py pins
attestation roots) is what lets a wallet that has never met the merchant know whom it is paying.
``redirect_uri:<response_uri>`` is taken too, unsigned and by value only (OpenID4VP: such requests
cannot be signed): the wallet then knows no more than where its answer goes, so the response URI
is the identity. ``decentralized_identifier:`` (needs DID resolution) and ``verifier_attestation:``
(needs an attestation issuer the wallet trusts) are not implemented; a wallet refuses them.

**Request** (:class:`Verifier`): :meth:`Verifier.authorization_request` keeps a session (``state``,
``nonce``, the DCQL query and transaction data, an expiry) and gives the wallet ``client_id``,
``request_uri`` and, when asked, ``request_uri_method=post``. ``GET {path}/request/{id}`` answers
the Request Object (``application/oauth-authz-req+jwt``); ``POST`` (a form with ``wallet_metadata``
and ``wallet_nonce``) answers one that carries the ``wallet_nonce`` back and is addressed (``aud``)
to the wallet's ``issuer`` when its metadata names one (else ``https://self-issued.me/v2``). The
object holds ``iss``/``client_id``, ``aud``, ``iat``, ``exp``, ``response_type: vp_token``,
``response_mode``, ``response_uri``, ``state``, ``nonce``, ``dcql_query``, ``transaction_data`` and
``client_metadata`` (``vp_formats_supported``; for ``direct_post.jwt`` the session's own P-256
encryption key, ``ECDH-ES``, and ``encrypted_response_enc_values_supported``).

**Response.** ``direct_post``: the wallet POSTs a form with ``vp_token`` (JSON) and ``state`` to
``{path}/response``; ``direct_post.jwt``: a form with ``response``, a compact JWE (``ECDH-ES``
direct key agreement with the Concat KDF of RFC 7518 §4.6, ``A128GCM`` or ``A256GCM``) of
``{vp_token, state}`` to the key of the request's ``client_metadata`` (each session has its own, so
nothing a response reveals outlives it). The verifier checks the mode is the one it asked for, the
``state`` names a pending session (not answered, not expired), then oid4vp.verify_response (issuer
signatures, ``aud`` = its client_id, the session's ``nonce``, the transaction data hashes, optional
status lists). It answers ``200 {}``, or ``{"redirect_uri": ...#response_code=...}`` when it has a
redirect URI; every refusal is ``400 {"error", "error_description"}``.

**Wallet** (:class:`Wallet`): fetches the Request Object with webfetch (SSRF rules, size and time
bounds; a form POST for ``request_uri_method=post``, with a fresh ``wallet_nonce``), checks it
(``alg`` ES256 — ``none`` refused —, ``typ``, the ``x5c`` chain to a pinned root at the request's
time, the signature, the client_id prefix and its binding, ``client_id`` equal to the one it was
given, ``aud``, ``wallet_nonce``, ``iat``/``exp``, the response mode and URI), answers the DCQL
query with the credentials it holds (format ``dc+sd-jwt``, ``meta.vct_values``, the claims named),
builds the ``vp_token`` with oid4vp.respond and posts it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from starlette.applications import Starlette
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from offchain.agent import oid4vp, sdjwt
from offchain.agent.errors import (
    AuthorizationRequestError,
    AuthorizationResponseError,
    ClientIdError,
    DcqlUnmatchedError,
    RequestExpiredError,
    RequestObjectSignatureError,
    RequestObjectTypeError,
    RequestUriError,
    ResponseModeError,
    ResponseStateError,
    SdJwtError,
    SdJwtSignatureError,
    WalletNonceError,
)
from offchain.agent.status_list import StatusLists
from offchain.agent.webfetch import Fetcher
from offchain.compute import pki
from offchain.compute.errors import CheckFailed
from offchain.httpservice import HTTPError, read_body

TYP = "oauth-authz-req+jwt"
MEDIA_TYPE = "application/oauth-authz-req+jwt"
STATIC_AUD = "https://self-issued.me/v2"
X509_SAN_DNS, X509_HASH, REDIRECT_URI = "x509_san_dns", "x509_hash", "redirect_uri"
PREFIXES = (X509_SAN_DNS, X509_HASH, REDIRECT_URI)
DIRECT_POST, DIRECT_POST_JWT = "direct_post", "direct_post.jwt"
RESPONSE_MODES = (DIRECT_POST, DIRECT_POST_JWT)
ENCS = {"A128GCM": 16, "A256GCM": 32}
MAX_URI = 2048
MAX_FORM = 128 * 1024
LEEWAY_S = 30


def _nonce() -> str:
    return sdjwt.b64url(secrets.token_bytes(16))


def _x5c_hash(cert: x509.Certificate) -> str:
    return sdjwt.b64url(hashlib.sha256(pki.der(cert)).digest())


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def _prefix(client_id: Any) -> tuple[str, str]:
    if not isinstance(client_id, str) or ":" not in client_id:
        raise ClientIdError(f"the client_id {str(client_id)[:128]!r} carries no prefix this wallet takes")
    prefix, value = client_id.split(":", 1)
    if prefix not in PREFIXES or not value:
        raise ClientIdError(f"the client identifier prefix {prefix[:64]!r} is not one of {PREFIXES}")
    return prefix, value


# ---------------------------------------------------------------- JWE (ECDH-ES, AES-GCM)


def _epk_jwk(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> dict[str, str]:
    return sdjwt.jwk(key)


def _cek(
    private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey, enc: str, apu: bytes, apv: bytes
) -> bytes:
    """The content key of ECDH-ES direct key agreement (RFC 7518 §4.6.2: Concat KDF, SHA-256)."""
    z = private.exchange(ec.ECDH(), public)
    size = ENCS[enc]

    def part(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b

    other = part(enc.encode()) + part(apu) + part(apv) + (size * 8).to_bytes(4, "big")
    return ConcatKDFHash(hashes.SHA256(), size, other).derive(z)


def encrypt(payload: Mapping[str, Any], public: ec.EllipticCurvePublicKey, kid: str, enc: str) -> str:
    """A compact JWE of `payload` (JSON) to the P-256 key `public` (``ECDH-ES``, `enc`)."""
    if enc not in ENCS:
        raise ResponseModeError(f"the encryption {enc!r} is not one of {sorted(ENCS)}")
    eph = ec.generate_private_key(ec.SECP256R1())
    header = {"alg": "ECDH-ES", "enc": enc, "kid": kid, "epk": _epk_jwk(eph)}
    h64 = sdjwt.b64url(json.dumps(header, separators=(",", ":")).encode())
    iv = secrets.token_bytes(12)
    sealed = AESGCM(_cek(eph, public, enc, b"", b"")).encrypt(
        iv, json.dumps(dict(payload), separators=(",", ":")).encode(), h64.encode()
    )
    return ".".join([h64, "", sdjwt.b64url(iv), sdjwt.b64url(sealed[:-16]), sdjwt.b64url(sealed[-16:])])


def jwe_kid(token: Any) -> str:
    """The ``kid`` of a compact JWE's header (which key it is for)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 5:
        raise AuthorizationResponseError("the response is no compact JWE (five parts)")
    try:
        header = json.loads(sdjwt.unb64url(parts[0], "JWE header"))
    except (SdJwtError, ValueError, RecursionError):
        raise AuthorizationResponseError("the JWE header is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
        raise AuthorizationResponseError("the JWE header names no key (kid)")
    return header["kid"]


def decrypt(token: str, private: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The JSON object a compact JWE (``ECDH-ES``, A128GCM/A256GCM) to `private` carries
    (AuthorizationResponseError for anything else)."""
    parts = token.split(".")
    if len(parts) != 5 or parts[1] != "":
        raise AuthorizationResponseError("an ECDH-ES JWE is five parts with no encrypted key")
    try:
        header = json.loads(sdjwt.unb64url(parts[0], "JWE header"))
        iv, ct, tag = (sdjwt.unb64url(p, "JWE part") for p in parts[2:])
        apu, apv = (sdjwt.unb64url(header.get(k, ""), k) for k in ("apu", "apv"))
        if header.get("alg") != "ECDH-ES" or header.get("enc") not in ENCS or "zip" in header:
            raise AuthorizationResponseError(
                f"the JWE must be ECDH-ES with one of {sorted(ENCS)}, uncompressed"
            )
        epk = sdjwt.key_of(header.get("epk"))
        clear = AESGCM(_cek(private, epk, header["enc"], apu, apv)).decrypt(iv, ct + tag, parts[0].encode())
        obj = json.loads(clear)
    except (SdJwtError, ValueError, RecursionError, AttributeError, InvalidTag) as exc:
        if isinstance(exc, AuthorizationResponseError):
            raise
        raise AuthorizationResponseError(f"the response does not decrypt: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise AuthorizationResponseError("the decrypted response is a JSON object")
    return obj


# ---------------------------------------------------------------- the verifier


@dataclass
class _Session:
    id: str
    state: str
    nonce: str
    request: oid4vp.Request
    response_mode: str
    method: str
    exp: float
    enc_key: ec.EllipticCurvePrivateKey | None = None
    enc_kid: str | None = None
    answered: bool = False
    response_code: str | None = None
    result: dict[str, oid4vp.Presented] | None = None


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the wallet is given (a QR code, a link, an A2A message): ``params`` and as an
    ``openid4vp://`` URL; ``state`` finds the session's result later."""

    params: dict[str, str]
    state: str

    @property
    def url(self) -> str:
        return "openid4vp://?" + urlencode(self.params)


class Verifier:
    """A verifier (the merchant) at `base_url` (its public URL; `path` is where :meth:`app`'s
    routes are) signing Request Objects with `key` under the certificate chain `chain` (leaf
    first; ``x5c``), named by `prefix`; responses verified with `issuers` (and `status`, a
    status_list.StatusLists) at `clock`; a request lives `ttl_s`; at most `max_sessions` kept
    (the oldest dropped); `redirect_uri` answered to a wallet after a good response."""

    def __init__(
        self,
        *,
        issuers: Mapping[str, Any],
        key: ec.EllipticCurvePrivateKey | None = None,
        chain: Sequence[x509.Certificate] = (),
        prefix: str = X509_SAN_DNS,
        base_url: str | None = None,
        path: str = "/oid4vp",
        status: StatusLists | None = None,
        clock: Callable[[], float] = time.time,
        ttl_s: float = 300.0,
        redirect_uri: str | None = None,
        max_sessions: int = 1024,
        root_typs: frozenset[str] = frozenset({sdjwt.TYP}),
    ) -> None:
        if prefix not in PREFIXES:
            raise ValueError(f"the client identifier prefix is one of {PREFIXES}")
        if prefix != REDIRECT_URI and (key is None or not chain):
            raise ValueError(f"a {prefix} verifier signs its requests: give its key and certificate chain")
        if key is not None and (not chain or chain[0].public_key() != key.public_key()):
            raise ValueError("the key is not the one the chain's leaf certificate certifies")
        self.key, self.chain, self.prefix = key, tuple(chain), prefix
        self.issuers, self.status, self.clock = issuers, status, clock
        self.path, self.ttl_s, self.redirect_uri = path.rstrip("/"), ttl_s, redirect_uri
        self.max_sessions, self.root_typs = max_sessions, root_typs
        self.base_url = base_url
        self._sessions: dict[str, _Session] = {}  # by id
        self._by_state: dict[str, str] = {}
        self._by_kid: dict[str, str] = {}
        self._lock = threading.Lock()

    # ---- names and URLs

    def _base(self) -> str:
        if not self.base_url:
            raise ValueError("the verifier's base_url is not known yet")
        return self.base_url.rstrip("/") + self.path

    @property
    def response_uri(self) -> str:
        return self._base() + "/response"

    @property
    def client_id(self) -> str:
        if self.prefix == X509_HASH:
            return f"{X509_HASH}:{_x5c_hash(self.chain[0])}"
        if self.prefix == REDIRECT_URI:
            return f"{REDIRECT_URI}:{self.response_uri}"
        host = (urlsplit(self.base_url or "").hostname or "").lower()
        if host not in _dns_names(self.chain[0]):
            raise ValueError(f"the certificate names no DNS name {host!r} (the base URL's host)")
        return f"{X509_SAN_DNS}:{host}"

    # ---- requests

    def authorization_request(
        self,
        credentials: Iterable[dict[str, Any]],
        transaction_data: Iterable[str] = (),
        *,
        response_mode: str = DIRECT_POST,
        request_uri_method: str = "get",
    ) -> AuthorizationRequest:
        """A new session and what the wallet is given for it (by reference; by value for a
        ``redirect_uri`` verifier)."""
        if response_mode not in RESPONSE_MODES:
            raise ResponseModeError(f"the response mode is one of {RESPONSE_MODES}")
        if request_uri_method not in ("get", "post"):
            raise RequestUriError("request_uri_method is get or post")
        nonce, state, sid = _nonce(), _nonce(), _nonce()
        req = oid4vp.request(self.client_id, nonce, credentials, transaction_data)
        req = oid4vp.Request(req.client_id, nonce, req.credentials, req.transaction_data, response_mode)
        s = _Session(sid, state, nonce, req, response_mode, request_uri_method, self.clock() + self.ttl_s)
        if response_mode == DIRECT_POST_JWT:
            s.enc_key, s.enc_kid = ec.generate_private_key(ec.SECP256R1()), _nonce()
        with self._lock:
            self._sessions[sid], self._by_state[state] = s, sid
            if s.enc_kid is not None:
                self._by_kid[s.enc_kid] = sid
            # the oldest first: past max_sessions, and those expired long enough that no result is
            # still to be read (kept ttl_s after their expiry)
            while len(self._sessions) > self.max_sessions or (
                self._sessions and next(iter(self._sessions.values())).exp + self.ttl_s < self.clock()
            ):
                self._forget(next(iter(self._sessions)))
        if self.prefix == REDIRECT_URI:  # unsigned: by value
            claims = self._claims(s, None, None)
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
            return AuthorizationRequest(params, state)
        params = {"client_id": self.client_id, "request_uri": f"{self._base()}/request/{sid}"}
        if request_uri_method == "post":
            params["request_uri_method"] = "post"
        return AuthorizationRequest(params, state)

    def _forget(self, sid: str) -> None:
        s = self._sessions.pop(sid)
        self._by_state.pop(s.state, None)
        if s.enc_kid is not None:
            self._by_kid.pop(s.enc_kid, None)

    def _claims(self, s: _Session, aud: str | None, wallet_nonce: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"vp_formats_supported": {oid4vp.FORMAT: {"sd-jwt_alg_values": [sdjwt.ALG]}}}
        if s.enc_key is not None:
            jwk = sdjwt.jwk(s.enc_key) | {"use": "enc", "alg": "ECDH-ES", "kid": s.enc_kid}
            meta |= {"jwks": {"keys": [jwk]}, "encrypted_response_enc_values_supported": list(ENCS)}
        claims = s.request.to_dict() | {
            "response_uri": self.response_uri,
            "state": s.state,
            "client_metadata": meta,
        }
        if aud is not None:
            now = int(self.clock())
            claims |= {"iss": self.client_id, "aud": aud, "iat": now, "exp": int(s.exp)}
        return claims | ({} if wallet_nonce is None else {"wallet_nonce": wallet_nonce})

    def request_object(
        self, sid: str, wallet_metadata: Mapping[str, Any] | None = None, wallet_nonce: str | None = None
    ) -> str:
        """The signed Request Object of session `sid` (AuthorizationResponseError when there is
        no such pending session)."""
        s = self._pending(self._sessions.get(sid))
        if self.key is None:
            raise AuthorizationRequestError("a redirect_uri verifier passes its requests by value")
        iss = (wallet_metadata or {}).get("issuer")
        aud = iss if isinstance(iss, str) and iss else STATIC_AUD
        x5c = [base64.b64encode(pki.der(c)).decode() for c in self.chain]
        return sdjwt.sign_jwt(self.key, {"typ": TYP, "x5c": x5c}, self._claims(s, aud, wallet_nonce))

    def _pending(self, s: _Session | None) -> _Session:
        if s is None:
            raise ResponseStateError("no request of this verifier has this state (or id)")
        if s.answered:
            raise ResponseStateError("this request was already answered: a response is taken once")
        if self.clock() >= s.exp:
            raise ResponseStateError("this request has expired")
        return s

    # ---- responses

    def receive(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Take an Authorization Response (the posted form): the body to answer, or a typed
        error. The verified presentations are then :meth:`result`."""
        if "response" in form:
            kid = jwe_kid(form["response"])
            with self._lock:
                s = self._pending(self._sessions.get(self._by_kid.get(kid, "")))
            if s.response_mode != DIRECT_POST_JWT or s.enc_key is None:
                raise ResponseModeError("an encrypted response to a request for direct_post")
            fields = decrypt(form["response"], s.enc_key)
            if fields.get("state") != s.state:
                raise ResponseStateError("the encrypted response's state is not its request's")
        else:
            fields = dict(form)
        state = fields.get("state")
        if not isinstance(state, str):
            raise ResponseStateError("the response carries no state")
        with self._lock:
            s = self._pending(self._sessions.get(self._by_state.get(state, "")))
        if "response" not in form and s.response_mode != DIRECT_POST:
            raise ResponseModeError(f"the request asked for {s.response_mode}: a plain response is refused")
        if "error" in fields:
            raise AuthorizationResponseError(
                f"the wallet answered {str(fields['error'])[:64]}: {str(fields.get('error_description'))[:200]}"
            )
        vp = fields.get("vp_token")
        if isinstance(vp, str):
            try:
                vp = json.loads(vp)
            except (ValueError, RecursionError):
                raise AuthorizationResponseError("vp_token is not JSON") from None
        if vp is None:
            raise AuthorizationResponseError("the response carries no vp_token")
        result = oid4vp.verify_response(
            s.request,
            vp,
            self.issuers,
            now=self.clock(),
            status=None if self.status is None else self.status.check,
            root_typs=self.root_typs,
        )
        with self._lock:
            self._pending(s)  # answered meanwhile: the second one loses
            s.answered, s.result, s.response_code = True, result, _nonce()
        if self.redirect_uri is None:
            return {}
        return {"redirect_uri": f"{self.redirect_uri}#response_code={s.response_code}"}

    def result(self, state: str, response_code: str | None = None) -> dict[str, oid4vp.Presented]:
        """The verified presentations of the answered session `state` (with `response_code`, the
        one its redirect carried, when the verifier redirects)."""
        with self._lock:
            s = self._sessions.get(self._by_state.get(state, ""))
        if s is None or s.result is None:
            raise ResponseStateError("no answered request has this state")
        if self.redirect_uri is not None and response_code != s.response_code:
            raise ResponseStateError("the response_code is not the one this response was answered with")
        return s.result

    # ---- HTTP

    def app(self) -> Starlette:
        """``GET``/``POST {path}/request/{id}`` and ``POST {path}/response``."""

        def refusal(exc: Exception, status: int = 400) -> JSONResponse:
            code = "invalid_request"
            if isinstance(exc, HTTPError):
                status, msg = exc.status, exc.message
            else:
                msg = str(exc)
            return JSONResponse(
                {"error": code, "error_description": msg[:500]},
                status_code=status,
                headers={"Cache-Control": "no-store"},
            )

        async def form(request: HTTPRequest) -> dict[str, str]:
            ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise HTTPError(415, "the body is application/x-www-form-urlencoded")
            raw = await read_body(request, MAX_FORM)
            try:
                pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
            except (UnicodeDecodeError, ValueError):
                raise HTTPError(400, "the form is not URL-encoded ASCII") from None
            out = dict(pairs)
            if len(out) != len(pairs):
                raise HTTPError(400, "a form field is repeated")
            return out

        async def request_object(request: HTTPRequest) -> Response:
            sid = request.path_params["sid"]
            try:
                meta: Any = None
                wallet_nonce = None
                if request.method == "POST":
                    f = await form(request)
                    wallet_nonce = f.get("wallet_nonce") or None
                    meta = _json_object(f.get("wallet_metadata"))
                s = self._sessions.get(sid)
                if s is None:
                    raise HTTPError(404, "no such request")
                if request.method == "GET" and s.method == "post":
                    raise HTTPError(405, "this request is fetched with POST (request_uri_method=post)")
                body = self.request_object(sid, meta, wallet_nonce)
            except (HTTPError, SdJwtError) as exc:
                return refusal(exc, 404 if isinstance(exc, ResponseStateError) else 400)
            return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})

        async def response(request: HTTPRequest) -> Response:
            try:
                body = self.receive(await form(request))
            except (HTTPError, SdJwtError) as exc:
                return refusal(exc)
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        return Starlette(
            routes=[
                Route(self.path + "/request/{sid}", request_object, methods=["GET", "POST"]),
                Route(self.path + "/response", response, methods=["POST"]),
            ]
        )


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):
        raise HTTPError(400, "wallet_metadata is not JSON") from None
    if not isinstance(v, dict):
        raise HTTPError(400, "wallet_metadata is a JSON object")
    return v


# ---------------------------------------------------------------- the wallet


@dataclass(frozen=True)
class Held:
    """A credential the wallet holds: an issued SD-JWT (or a mandate chain delegated to it) and
    the key its last link binds."""

    text: str
    key: sdjwt.PrivateKey


@dataclass(frozen=True)
class Resolved:
    """A verified Authorization Request: its claims, the oid4vp.Request in it, and where and how
    to answer."""

    claims: dict[str, Any]
    request: oid4vp.Request
    response_uri: str
    response_mode: str
    state: str
    certificate: x509.Certificate | None


@dataclass
class Wallet:
    """A wallet holding `held`, trusting verifiers whose certificates chain to `trust` (pinned
    roots), fetching with `fetcher`; `issuer` is its own identifier (``aud`` of the Request
    Objects it fetches with POST); Request Objects living longer than `max_lifetime_s` are refused."""

    held: Sequence[Held]
    trust: pki.TrustStore
    fetcher: Fetcher = field(default_factory=lambda: Fetcher(max_bytes=64 * 1024))
    clock: Callable[[], float] = time.time
    issuer: str | None = None
    prefixes: tuple[str, ...] = PREFIXES
    max_lifetime_s: float = 3600.0

    def metadata(self) -> dict[str, Any]:
        """The ``wallet_metadata`` it sends with ``request_uri_method=post``."""
        meta: dict[str, Any] = {
            "vp_formats_supported": {oid4vp.FORMAT: {"sd-jwt_alg_values": [sdjwt.ALG]}},
            "client_id_prefixes_supported": list(self.prefixes),
            "request_object_signing_alg_values_supported": [sdjwt.ALG],
            "response_modes_supported": list(RESPONSE_MODES),
        }
        return meta | ({} if self.issuer is None else {"issuer": self.issuer})

    def resolve(self, authorization_request: str | Mapping[str, str]) -> Resolved:
        """The Authorization Request (an ``openid4vp://`` URL or its parameters) fetched when by
        reference and verified (typed errors, see the module)."""
        params = self._params(authorization_request)
        client_id = params.get("client_id")
        prefix, value = _prefix(client_id)
        if prefix not in self.prefixes:
            raise ClientIdError(f"this wallet does not take the {prefix} prefix")
        now = self.clock()
        cert = None
        if prefix == REDIRECT_URI:
            if "request" in params or "request_uri" in params:
                raise ClientIdError("a redirect_uri: request cannot be signed: it is passed by value only")
            claims = self._by_value(params)
        else:
            if "request" in params and "request_uri" in params:
                raise AuthorizationRequestError("a request has request or request_uri, not both")
            token, wallet_nonce = (params["request"], None) if "request" in params else self._fetch(params)
            claims, cert = self._verify_jar(token, now, wallet_nonce)
            if claims.get("client_id") != client_id:
                raise ClientIdError("the Request Object's client_id is not the one the wallet was given")
            if claims.get("iss", client_id) != client_id:
                raise ClientIdError("the Request Object's iss is not its client_id")
            self._times(claims, now)
            self._bind(prefix, value, cert)
        return self._checked(prefix, value, claims, cert)

    def _params(self, ar: str | Mapping[str, str]) -> dict[str, str]:
        if isinstance(ar, str):
            parts = urlsplit(ar)
            if len(ar) > 64 * 1024 or not parts.query:
                raise AuthorizationRequestError("an authorization request URL carries its parameters")
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            out = dict(pairs)
            if len(out) != len(pairs):
                raise AuthorizationRequestError("an authorization request parameter is repeated")
            return out
        return {str(k): str(v) for k, v in ar.items()}

    def _by_value(self, params: Mapping[str, str]) -> dict[str, Any]:
        claims: dict[str, Any] = dict(params)
        for k in ("dcql_query", "transaction_data", "client_metadata"):
            if k in claims:
                try:
                    claims[k] = json.loads(claims[k])
                except (ValueError, RecursionError):
                    raise AuthorizationRequestError(f"{k} is not JSON") from None
        return claims

    def _fetch(self, params: Mapping[str, str]) -> tuple[str, str | None]:
        uri = params.get("request_uri")
        method = params.get("request_uri_method", "get")
        if not isinstance(uri, str) or not uri:
            raise RequestUriError("the request names neither request nor request_uri")
        if len(uri) > MAX_URI:
            raise RequestUriError(f"the request_uri is longer than {MAX_URI} characters")
        if method not in ("get", "post"):
            raise RequestUriError(f"request_uri_method {method[:16]!r} is neither get nor post")
        form, wallet_nonce = None, None
        if method == "post":
            wallet_nonce = _nonce()
            form = {"wallet_metadata": json.dumps(self.metadata()), "wallet_nonce": wallet_nonce}
        got = self.fetcher.fetch(
            uri, MEDIA_TYPE, RequestUriError, form=form, refused=RequestUriError, too_large=RequestUriError
        )
        if got.content_type != MEDIA_TYPE:
            raise RequestObjectTypeError(
                f"the request_uri answered {got.content_type[:64]!r}, not {MEDIA_TYPE}"
            )
        try:
            return got.body.decode("ascii").strip(), wallet_nonce
        except UnicodeDecodeError:
            raise RequestObjectSignatureError("the Request Object is no compact JWS") from None

    def _verify_jar(
        self, token: str, now: float, wallet_nonce: str | None
    ) -> tuple[dict[str, Any], x509.Certificate]:
        try:
            header = sdjwt.jwt_header(token, "Request Object")
        except SdJwtError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        if header.get("alg") != sdjwt.ALG:
            raise RequestObjectSignatureError(
                f"the Request Object must be signed {sdjwt.ALG}, not {header.get('alg')!r}"
            )
        if header.get("typ") != TYP:
            raise RequestObjectTypeError(f"the Request Object's typ is {header.get('typ')!r}, not {TYP}")
        x5c = header.get("x5c")
        if not isinstance(x5c, list) or not 0 < len(x5c) <= 8 or not all(isinstance(c, str) for c in x5c):
            raise RequestObjectSignatureError("the Request Object carries no x5c certificate chain")
        try:
            certs = [
                pki.load_certs(
                    base64.b64decode(c, validate=True),
                    der_form=True,
                    what="x5c",
                    error=RequestObjectSignatureError,
                )[0]
                for c in x5c
            ]
        except (ValueError, binascii.Error):
            raise RequestObjectSignatureError("an x5c entry is not base64 DER") from None
        chain = list(certs)
        if self.trust.find(pki.fingerprint(chain[-1])) is None:
            chain += [r for r in self.trust.roots if r.subject == chain[-1].issuer][:1]
        try:
            pki.verify_chain(chain, self.trust, datetime.fromtimestamp(now, tz=UTC), "x5c")
        except CheckFailed as exc:
            raise RequestObjectSignatureError(f"the verifier's certificate is not trusted: {exc}") from None
        leaf = certs[0].public_key()
        if not isinstance(leaf, ec.EllipticCurvePublicKey) or leaf.curve.name != "secp256r1":
            raise RequestObjectSignatureError("the x5c leaf key is not a P-256 key (ES256)")
        try:
            claims = sdjwt.verify_jwt(token, leaf, TYP, "Request Object")
        except SdJwtSignatureError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        except SdJwtError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:
            raise WalletNonceError("the Request Object does not carry the wallet_nonce this wallet sent")
        aud = claims.get("aud")
        if aud != STATIC_AUD and (self.issuer is None or aud != self.issuer):
            raise WalletNonceError(f"the Request Object is for audience {str(aud)[:128]!r}, not this wallet")
        return claims, certs[0]

    def _times(self, claims: Mapping[str, Any], now: float) -> None:
        exp, iat = claims.get("exp"), claims.get("iat", now)
        if not isinstance(exp, int) or isinstance(exp, bool) or not isinstance(iat, int | float):
            raise RequestExpiredError("a Request Object names its expiry (exp, and iat) in seconds")
        if now >= exp:
            raise RequestExpiredError(f"the Request Object expired at {exp}")
        if iat > now + LEEWAY_S:
            raise RequestExpiredError(f"the Request Object was issued at {iat}, in the future")
        if exp - iat > self.max_lifetime_s:
            raise RequestExpiredError(f"the Request Object lives more than {self.max_lifetime_s:.0f} s")

    def _bind(self, prefix: str, value: str, cert: x509.Certificate) -> None:
        if prefix == X509_SAN_DNS and value.lower() not in _dns_names(cert):
            raise ClientIdError(f"the verifier's certificate does not name {value[:128]!r} (dNSName)")
        if prefix == X509_HASH and value != _x5c_hash(cert):
            raise ClientIdError("the verifier's certificate is not the one x509_hash names")

    def _checked(
        self, prefix: str, value: str, claims: dict[str, Any], cert: x509.Certificate | None
    ) -> Resolved:
        mode = claims.get("response_mode")
        if mode not in RESPONSE_MODES:
            raise ResponseModeError(f"the response_mode {str(mode)[:32]!r} is not one of {RESPONSE_MODES}")
        uri = claims.get("response_uri")
        if not isinstance(uri, str) or "redirect_uri" in claims:
            raise AuthorizationRequestError(f"a {mode} request names a response_uri and no redirect_uri")
        self.fetcher.check_url(uri, ClientIdError)
        if prefix == X509_SAN_DNS and (urlsplit(uri).hostname or "").lower() != value.lower():
            raise ClientIdError(f"the response_uri is not on {value[:128]!r}, the host the client_id names")
        if prefix == REDIRECT_URI and uri != value:
            raise ClientIdError("a redirect_uri: client_id is its response_uri")
        state = claims.get("state")
        if not isinstance(state, str) or not state:
            raise AuthorizationRequestError("the request carries no state")
        req = oid4vp.Request.from_dict(claims)
        return Resolved(claims, req, uri, mode, state, cert)

    def match(self, request: oid4vp.Request) -> dict[str, tuple[str, sdjwt.PrivateKey]]:
        """For each DCQL credential query, the first held credential that answers it (format,
        ``meta.vct_values``, every claim named available) (DcqlUnmatchedError)."""
        out: dict[str, tuple[str, sdjwt.PrivateKey]] = {}
        for q in request.credentials:
            found = next((h for h in self.held if _answers(q, h.text)), None)
            if found is None:
                raise DcqlUnmatchedError(f"this wallet holds no credential answering the query {q['id']!r}")
            out[q["id"]] = (found.text, found.key)
        return out

    def present(self, authorization_request: str | Mapping[str, str]) -> dict[str, Any]:
        """Resolve the request, answer it and post the answer: the verifier's reply (its
        ``redirect_uri`` when it gives one). Refusals typed; a verifier's refusal of the answer is
        an AuthorizationResponseError naming its error."""
        r = self.resolve(authorization_request)
        vp = oid4vp.respond(r.request, self.match(r.request), iat=int(self.clock()))
        if r.response_mode == DIRECT_POST:
            form = {"vp_token": json.dumps(vp), "state": r.state}
        else:
            form = {"response": self._encrypt({"vp_token": vp, "state": r.state}, r.claims)}
        got = self.fetcher.fetch(
            r.response_uri, "application/json", AuthorizationResponseError, form=form, refused=ClientIdError
        )
        try:
            reply = json.loads(got.body or b"{}")
        except (ValueError, RecursionError):
            raise AuthorizationResponseError("the verifier's reply is not JSON") from None
        return reply if isinstance(reply, dict) else {}

    def _encrypt(self, payload: dict[str, Any], claims: Mapping[str, Any]) -> str:
        meta = claims.get("client_metadata")
        keys = meta.get("jwks", {}).get("keys") if isinstance(meta, dict) else None
        jwk = next(
            (
                k
                for k in keys or []
                if isinstance(k, dict)
                and k.get("use", "enc") == "enc"
                and k.get("alg", "ECDH-ES") == "ECDH-ES"
            ),
            None,
        )
        if jwk is None or not isinstance(jwk.get("kid"), str):
            raise ResponseModeError("a direct_post.jwt request carries no ECDH-ES P-256 key (with a kid)")
        encs = (
            meta.get("encrypted_response_enc_values_supported", ["A128GCM"]) if isinstance(meta, dict) else []
        )
        enc = next((e for e in encs if e in ENCS), None) if isinstance(encs, list) else None
        if enc is None:
            raise ResponseModeError(f"the request allows no response encryption of {sorted(ENCS)}")
        try:
            public = sdjwt.key_of({f: jwk.get(f) for f in ("kty", "crv", "x", "y")})
        except SdJwtError as exc:
            raise ResponseModeError(f"the request's encryption key: {exc}") from None
        return encrypt(payload, public, jwk["kid"], enc)


def _answers(q: Mapping[str, Any], text: str) -> bool:
    """Whether the credential `text` (an SD-JWT or a mandate chain) answers the DCQL query `q`."""
    if q.get("format") != oid4vp.FORMAT:
        return False
    root = text.split("~", 1)[0]
    try:
        payload = sdjwt.jwt_payload(root, "credential")
        first = text.split("~~", 1)[0].rstrip("~").split("~")[1:]  # the root's disclosures
        names = set(payload) | {d.name for d in map(sdjwt.Disclosure.parse, first)}
    except SdJwtError:
        return False
    meta = q.get("meta")
    vcts = meta.get("vct_values") if isinstance(meta, dict) else None
    if vcts is not None and payload.get("vct") not in vcts:
        return False
    for c in q.get("claims", []):
        path = c.get("path") if isinstance(c, dict) else None
        if not isinstance(path, list) or not path or path[0] not in names:
            return False
    return True
