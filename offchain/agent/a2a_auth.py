"""A2A callers and keys fetched by URL: JSON Web Key Sets (RFC 7517) fetched with protections
against server-side request forgery and cached with a bound, and OAuth 2.0 / OpenID Connect access
tokens (JWTs, RFC 9068) verified against their issuer's key set.

A key set URL must be ``https`` (``http`` only to a loopback host, and only where loopback is
allowed: local tests), carry no credentials, and reach only public addresses: the host is
resolved, every address it has is checked as push webhooks' are (``a2a_push``: loopback, private,
link-local, shared, multicast, reserved and unspecified refused, IPv4 inside IPv6 included), and
the GET goes to the checked address, the name kept for ``Host`` and TLS (SNI, certificate), so a
DNS answer that changes in between cannot turn it inwards; redirects are not followed. The answer
is bounded (64 KiB, 32 keys, 5 s) and cached (5 minutes, 64 sets, the least recently used
forgotten first); a ``kid`` the cached set lacks refetches it, at most once per 30 s per set.

An access token is accepted when: it is a compact JWS of at most 8 KiB; its ``iss`` is a trusted
issuer; its ``alg`` is on that issuer's allow-list (ES256, RS256, EdDSA at most: ``none`` and
HMAC never, so a public key is never taken for an HMAC secret) and matches the type of the key its
``kid`` names in the issuer's key set (and the key's own ``alg``, when it states one); the
signature verifies; ``exp`` is in the future and ``nbf``/``iat`` not (60 s leeway); ``aud`` names
the agent; ``sub`` names the caller; and its ``scope`` holds the scopes the issuer requires.

An issuer configured by its URL alone has its key set URL discovered (:class:`IssuerDiscovery`):
its OpenID Connect Discovery document (``{issuer}/.well-known/openid-configuration``) or its RFC
8414 metadata (``https://host/.well-known/oauth-authorization-server{path}``), the other tried
when the first answers 404, fetched under the key sets' rules (https, public addresses, 64 KiB,
5 s); its ``issuer`` must be exactly the one configured and its ``jwks_uri`` a URL those rules
accept. A document is kept as long as its ``Cache-Control: max-age`` (or ``Expires``) says, within
1 minute and 1 day (``no-store``/``no-cache``: the minute; neither: an hour); a failed discovery
is remembered for 30 s. A ``kid`` that the key set lacks even after its own refetch discovers the
document again, at most once per 30 s, in case the issuer moved its keys.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from offchain.agent.a2a_push import check_public_url
from offchain.agent.errors import (
    A2AIssuerMetadataError,
    A2AIssuerMismatchError,
    A2AKeySetAddressError,
    A2AKeySetError,
    A2AKeySetSizeError,
    A2ATokenAlgorithmError,
    A2ATokenAudienceError,
    A2ATokenExpiredError,
    A2ATokenIssuerError,
    A2ATokenKeyError,
    A2ATokenNotYetValidError,
    A2ATokenScopeError,
    A2ATokenSignatureError,
    SdJwtError,
)
from offchain.agent.sdjwt import unb64url
from offchain.agent.webfetch import Fetcher, json_object

MAX_BYTES = 64 * 1024  # a key set larger than this is refused
MAX_KEYS = 32
TIMEOUT_S = 5.0
TTL_S = 300.0  # a cached key set is fetched again after this
MAX_SETS = 64  # cached key sets; beyond, the least recently used is forgotten
REFRESH_S = 30.0  # an unknown kid refetches a set at most this often
MAX_TOKEN = 8 * 1024
LEEWAY_S = 60
TOKEN_ALGORITHMS = ("ES256", "RS256", "EdDSA")  # what access tokens may be signed with
MIN_RSA_BITS = 2048
OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"
DISCOVERY_TTL_S = 3600.0  # a discovery document without cache headers is kept this long
MIN_TTL_S = 60.0  # ... and one with them at least this long (no-store, no-cache: this long)
MAX_TTL_S = 86400.0  # ... and at most this long
RETRY_S = 30.0  # a failed discovery is remembered this long

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "secp256k1": ec.SECP256K1}


@dataclass(frozen=True)
class Jwk:
    """A public key from a key set, and the ``alg`` the set restricts it to (None: not stated)."""

    key: PublicKey
    alg: str | None = None


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: Any, what: str, err: type[Exception]) -> bytes:
    try:
        return unb64url(s, what)
    except SdJwtError:
        raise err(f"{what} is not base64url") from None


def jwk_of(key: Any, kid: str) -> dict[str, str]:
    """The public JWK (with ``kid``, ``use: sig`` and ``alg``) of a P-256, secp256k1, RSA or
    Ed25519 key (private or public)."""
    pub = key.public_key() if hasattr(key, "private_bytes") else key
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv = next(c for c, cls in _CURVES.items() if isinstance(pub.curve, cls))
        n = pub.public_numbers()
        xy = {"x": _b64(n.x.to_bytes(32, "big")), "y": _b64(n.y.to_bytes(32, "big"))}
        return {
            "kty": "EC",
            "crv": crv,
            **xy,
            "kid": kid,
            "use": "sig",
            "alg": "ES256" if crv == "P-256" else "ES256K",
        }
    if isinstance(pub, rsa.RSAPublicKey):
        rn = pub.public_numbers()
        ne = {
            "n": _b64(rn.n.to_bytes((rn.n.bit_length() + 7) // 8, "big")),
            "e": _b64(rn.e.to_bytes(3, "big").lstrip(b"\0")),
        }
        return {"kty": "RSA", **ne, "kid": kid, "use": "sig", "alg": "RS256"}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes_raw()
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": kid, "use": "sig", "alg": "EdDSA"}
    raise ValueError(f"no JWK for a {type(pub).__name__}")


def _key(j: dict[str, Any]) -> PublicKey | None:
    """The public key of one JWK (None: a type not used here); A2AKeySetError if malformed."""
    kty, crv = j.get("kty"), j.get("crv")
    if "d" in j or "p" in j:
        raise A2AKeySetError("a key set holds public keys only (this one has private parts)")
    try:
        if kty == "EC" and crv in _CURVES:
            x, y = _unb64(j.get("x"), "x", A2AKeySetError), _unb64(j.get("y"), "y", A2AKeySetError)
            if len(x) != 32 or len(y) != 32:
                raise A2AKeySetError(f"an {crv} key's x and y are 32 bytes each")
            return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[crv](), b"\x04" + x + y)
        if kty == "RSA":
            n = int.from_bytes(_unb64(j.get("n"), "n", A2AKeySetError), "big")
            e = int.from_bytes(_unb64(j.get("e"), "e", A2AKeySetError), "big")
            if n.bit_length() < MIN_RSA_BITS:
                raise A2AKeySetError(f"an RSA key has at least {MIN_RSA_BITS} bits")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kty == "OKP" and crv == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(_unb64(j.get("x"), "x", A2AKeySetError))
    except ValueError as exc:
        raise A2AKeySetError(f"a malformed {kty} key: {exc}") from None
    return None


def parse_key_set(body: Any) -> dict[str, Jwk]:
    """kid -> key of a JWKS (signature keys with an id, of the types used here; others skipped)."""
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise A2AKeySetError('a key set is a JSON object with a "keys" list')
    if len(body["keys"]) > MAX_KEYS:
        raise A2AKeySetSizeError(f"a key set holds at most {MAX_KEYS} keys, not {len(body['keys'])}")
    out: dict[str, Jwk] = {}
    for j in body["keys"]:
        if not isinstance(j, dict) or j.get("use", "sig") != "sig" or not isinstance(j.get("kid"), str):
            continue
        key = _key(j)
        if key is None:
            continue
        if j["kid"] in out:
            raise A2AKeySetError(f"the key set names kid {j['kid'][:64]!r} twice")
        alg = j.get("alg")
        out[j["kid"]] = Jwk(key, alg if isinstance(alg, str) else None)
    return out


def check_key_url(url: Any, loopback: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a key set URL fit to be fetched (A2AKeySetAddressError otherwise):
    webfetch's rules, https only (http only to loopback, when allowed); a host name is checked
    again, resolved, before the fetch."""
    schemes = ("https", "http") if loopback else ("https",)
    scheme, host, port = check_public_url(
        url, what="key set", error=A2AKeySetAddressError, schemes=schemes, loopback=loopback
    )
    if scheme == "http":
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host == "localhost" or host.endswith(".localhost")
        if not local:
            raise A2AKeySetAddressError("a key set is fetched over https (http only from loopback, in tests)")
    return scheme, host, port


def _web(loopback: bool, verify: ssl.SSLContext | None, max_bytes: int, timeout_s: float) -> Fetcher:
    """The bounded GETs of key sets and discovery documents (https; http too to loopback, when
    allowed)."""
    schemes = ("https", "http") if loopback else ("https",)
    return Fetcher(
        timeout_s=timeout_s,
        max_bytes=max_bytes,
        schemes=schemes,
        loopback=loopback,
        verify=True if verify is None else verify,
    )


class KeySetFetcher:
    """Fetches and caches key sets (see the module's notes). `loopback`: allow loopback hosts
    (local tests only); `verify`: the TLS context https sets are
    checked with (default: the system's roots); `discovery`: where issuers' key set URLs are
    discovered (default: an IssuerDiscovery through this fetcher's GETs). Thread-safe; `fetches` counts
    the GETs sent."""

    def __init__(
        self,
        *,
        loopback: bool = False,
        verify: ssl.SSLContext | None = None,
        max_bytes: int = MAX_BYTES,
        timeout_s: float = TIMEOUT_S,
        ttl_s: float = TTL_S,
        max_sets: int = MAX_SETS,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
        discovery: IssuerDiscovery | None = None,
    ) -> None:
        self.loopback = loopback
        self._web = _web(loopback, verify, max_bytes, timeout_s)
        # issuers configured by URL alone: their discovery documents, under the same rules
        self.discovery = discovery or IssuerDiscovery(self._web, clock=clock)
        self.ttl_s = ttl_s
        self.max_sets = max_sets
        self.refresh_s = refresh_s
        self.clock = clock
        self.fetches = 0
        self._cache: OrderedDict[str, tuple[float, dict[str, Jwk]]] = OrderedDict()
        self._lock = threading.Lock()

    def keys(self, url: str, kid: str | None = None) -> dict[str, Jwk]:
        """The key set at `url`: cached while fresh, refetched when `kid` is not in it (at most
        once per `refresh_s`). A2AKeySetError's kinds when it cannot be had."""
        now = self.clock()
        with self._lock:
            hit = self._cache.get(url)
            if hit is not None:
                self._cache.move_to_end(url)
                age = now - hit[0]
                if age < self.ttl_s and (kid is None or kid in hit[1] or age < self.refresh_s):
                    return hit[1]
        keys = self._fetch(url)
        with self._lock:
            self._cache[url] = (self.clock(), keys)
            self._cache.move_to_end(url)
            while len(self._cache) > self.max_sets:
                self._cache.popitem(last=False)
        return keys

    def _fetch(self, url: str) -> dict[str, Jwk]:
        check_key_url(url, self.loopback)
        self.fetches += 1
        body = self._web.get(
            url,
            "application/jwk-set+json, application/json",
            A2AKeySetError,
            refused=A2AKeySetAddressError,
            too_large=A2AKeySetSizeError,
        )
        try:
            doc = json.loads(bytes(body))
        except (ValueError, RecursionError):
            raise A2AKeySetError(f"the key set at {url[:128]} is not JSON") from None
        return parse_key_set(doc)


# ---------------------------------------------------------------- discovery


def discovery_urls(issuer: str, openid: bool = True) -> tuple[str, str]:
    """Where `issuer` publishes its metadata, the document of its kind first: OpenID Connect
    Discovery's ``{issuer}/.well-known/openid-configuration`` and RFC 8414's
    ``{scheme}://{host}/.well-known/oauth-authorization-server{path}`` (ValueError: `issuer` is no
    URL without query and fragment)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"an issuer is a URL without query or fragment, not {issuer[:128]!r}")
    path = parts.path.rstrip("/")
    oidc = f"{parts.scheme}://{parts.netloc}{path}{OIDC_WELL_KNOWN}"
    oauth = f"{parts.scheme}://{parts.netloc}{OAUTH_WELL_KNOWN}{path}"
    return (oidc, oauth) if openid else (oauth, oidc)


def cache_ttl(headers: Mapping[str, str], default: float, lo: float, hi: float, now: float) -> float:
    """How long an answer may be kept by its ``Cache-Control`` (``no-store``/``no-cache``: `lo`;
    ``max-age``) or else ``Expires`` (against its ``Date``, else `now`, a Unix time), within
    [`lo`, `hi`]; `default` without either."""
    directives = {}
    for d in (headers.get("cache-control") or "").lower().split(","):
        k, _, v = d.strip().partition("=")
        directives[k] = v.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return lo
    age = directives.get("max-age")
    ttl: float | None = float(age) if age is not None and age.isdigit() else None
    if ttl is None and headers.get("expires"):
        try:
            exp = parsedate_to_datetime(headers["expires"]).timestamp()
            date = parsedate_to_datetime(headers["date"]).timestamp() if headers.get("date") else now
            ttl = exp - date
        except (TypeError, ValueError, IndexError):
            ttl = lo  # an invalid Expires means already expired (RFC 9111 5.3)
    return default if ttl is None else min(max(ttl, lo), hi)


class _NotFound(A2AIssuerMetadataError):
    """A discovery URL answered 404 or 410 (the other kind of document is tried)."""


@dataclass
class _Discovered:
    doc: dict[str, Any] | None
    error: A2AKeySetError | None
    fetched: float
    until: float


class IssuerDiscovery:
    """Issuers' discovery documents (see the module's notes), fetched by `web` (default: the key
    sets' rules, https and public addresses only; a KeySetFetcher hands its own); kept by their
    cache headers within [`min_ttl_s`, `max_ttl_s`] (`ttl_s` without any), a failure for
    `retry_s`, rediscovered on demand at most once per `refresh_s`. Thread-safe; `fetches`
    counts the GETs sent."""

    def __init__(
        self,
        web: Fetcher | None = None,
        *,
        ttl_s: float = DISCOVERY_TTL_S,
        min_ttl_s: float = MIN_TTL_S,
        max_ttl_s: float = MAX_TTL_S,
        retry_s: float = RETRY_S,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._web = web or _web(False, None, MAX_BYTES, TIMEOUT_S)
        self.loopback = self._web.loopback
        self.ttl_s, self.min_ttl_s, self.max_ttl_s = ttl_s, min_ttl_s, max_ttl_s
        self.retry_s, self.refresh_s = retry_s, refresh_s
        self.clock = clock
        self.fetches = 0
        self._cache: dict[tuple[str, bool], _Discovered] = {}
        self._lock = threading.Lock()

    def metadata(self, issuer: str, openid: bool = True, refresh: bool = False) -> dict[str, Any]:
        """`issuer`'s discovery document (cached; `refresh`: fetched again unless the last fetch
        is younger than `refresh_s`). A2AKeySetError's kinds when it cannot be had:
        A2AKeySetAddressError (a URL the rules refuse), A2AKeySetSizeError,
        A2AIssuerMismatchError, A2AIssuerMetadataError."""
        now = self.clock()
        with self._lock:
            hit = self._cache.get((issuer, openid))
            if hit is not None and now < hit.until and not (refresh and now - hit.fetched >= self.refresh_s):
                if hit.error is not None:
                    raise hit.error
                assert hit.doc is not None
                return hit.doc
        try:
            doc, ttl = self._fetch(issuer, openid)
        except A2AKeySetError as exc:
            with self._lock:
                self._cache[(issuer, openid)] = _Discovered(None, exc, now, now + self.retry_s)
            raise
        with self._lock:
            self._cache[(issuer, openid)] = _Discovered(doc, None, now, now + ttl)
        return doc

    def jwks_uri(self, issuer: str, openid: bool = True, refresh: bool = False) -> str:
        """The key set URL `issuer`'s discovery document names (as `metadata`)."""
        return str(self.metadata(issuer, openid, refresh)["jwks_uri"])

    def _fetch(self, issuer: str, openid: bool) -> tuple[dict[str, Any], float]:
        try:
            urls = discovery_urls(issuer, openid)
        except ValueError as exc:
            raise A2AKeySetAddressError(str(exc)) from None
        for url in urls:
            check_key_url(url, self.loopback)
        body, headers = b"", None
        for url in urls:
            self.fetches += 1
            try:
                got = self._web.fetch(
                    url,
                    "application/json",
                    A2AIssuerMetadataError,
                    refused=A2AKeySetAddressError,
                    too_large=A2AKeySetSizeError,
                    absent=_NotFound,
                )
                body, headers = got.body, got.headers
                break
            except _NotFound:
                continue
        if headers is None:
            raise A2AIssuerMetadataError(
                f"{issuer[:128]} publishes no discovery document ({' nor '.join(urls)})"
            )
        doc = json_object(body, A2AIssuerMetadataError, f"the discovery document at {url[:128]}")
        if doc.get("issuer") != issuer:
            raise A2AIssuerMismatchError(
                f"the discovery document at {url[:128]} is for issuer {str(doc.get('issuer'))[:128]!r}, not {issuer!r}"
            )
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise A2AIssuerMetadataError(f"the discovery document at {url[:128]} names no jwks_uri")
        check_key_url(uri, self.loopback)
        ttl = cache_ttl(headers, self.ttl_s, self.min_ttl_s, self.max_ttl_s, datetime.now(UTC).timestamp())
        return doc, ttl


# ---------------------------------------------------------------- access tokens


@dataclass(frozen=True)
class Issuer:
    """An OAuth 2.0 authorization server (or OpenID Connect provider) whose access tokens the agent
    takes: tokens with ``iss`` = `issuer` and `audience` in ``aud``, signed by a key of the set at
    `jwks_url` (None: the ``jwks_uri`` of the issuer's discovery document) with one of
    `algorithms`, holding `scopes`. The card declares it as scheme `name`:
    ``openIdConnectSecurityScheme`` (`openid`: the discovery document under `issuer`) or
    ``oauth2SecurityScheme`` (the client-credentials flow at `token_url`)."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = TOKEN_ALGORITHMS
    scopes: tuple[str, ...] = ()
    openid: bool = False
    token_url: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in TOKEN_ALGORITHMS]
        if bad or not self.algorithms:
            raise ValueError(f"access tokens are signed with {', '.join(TOKEN_ALGORITHMS)}, not {bad}")
        if not self.openid and self.token_url is None:
            raise ValueError("an OAuth 2.0 issuer's card entry names its token_url")
        discovery_urls(self.issuer, self.openid)  # (ValueError: no URL to discover it at)

    @property
    def scheme_name(self) -> str:
        return self.name or ("oidc" if self.openid else "oauth2")

    def scheme(self) -> dict[str, Any]:
        """Its entry in the card's ``securitySchemes``."""
        what = "OpenID Connect" if self.openid else "OAuth 2.0"
        desc = f"{what} access tokens (JWT, {', '.join(self.algorithms)}) for audience {self.audience}"
        if self.openid:
            return {
                "openIdConnectSecurityScheme": {
                    "description": desc,
                    "openIdConnectUrl": discovery_urls(self.issuer, True)[0],
                }
            }
        flow = {"tokenUrl": self.token_url, "scopes": {s: s for s in self.scopes}}
        return {
            "oauth2SecurityScheme": {
                "description": desc,
                "flows": {"clientCredentials": flow},
                "oauth2MetadataUrl": discovery_urls(self.issuer, False)[0],
            }
        }


def sign_token(key: Any, alg: str, kid: str, claims: Mapping[str, Any], typ: str = "at+jwt") -> str:
    """A compact JWS access token (an issuer's side: tests, local issuers), ES256, RS256 or EdDSA."""
    header = {"alg": alg, "typ": typ, "kid": kid}
    si = ".".join(_b64(json.dumps(v, separators=(",", ":")).encode()) for v in (header, dict(claims)))
    data = si.encode()
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "EdDSA":
        sig = key.sign(data)
    else:
        raise ValueError(f"tokens are signed with {', '.join(TOKEN_ALGORITHMS)}")
    return si + "." + _b64(sig)


def _fits(alg: str, jwk: Jwk) -> bool:
    k = jwk.key
    if jwk.alg is not None and jwk.alg != alg:
        return False
    if alg == "ES256":
        return isinstance(k, ec.EllipticCurvePublicKey) and isinstance(k.curve, ec.SECP256R1)
    if alg == "RS256":
        return isinstance(k, rsa.RSAPublicKey)
    return alg == "EdDSA" and isinstance(k, ed25519.Ed25519PublicKey)


def _verify_signature(alg: str, key: Any, data: bytes, sig: bytes) -> None:
    if alg == "ES256":
        if len(sig) != 64:
            raise InvalidSignature
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    elif alg == "RS256":
        key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        key.verify(sig, data)


def _time(claims: dict[str, Any], name: str) -> float | None:
    v = claims.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise A2ATokenSignatureError(f"the access token's {name} is a number (seconds)")
    return float(v)


def verify_token(
    token: str, issuers: Mapping[str, Issuer], fetcher: KeySetFetcher, now: float
) -> tuple[Issuer, dict[str, Any]]:
    """The issuer and the claims of a valid access token (A2ATokenError's kinds otherwise)."""
    if len(token) > MAX_TOKEN:
        raise A2ATokenSignatureError(f"an access token is at most {MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise A2ATokenSignatureError("the access token is no compact JWS")
    try:
        header = json.loads(_unb64(parts[0], "header", A2ATokenSignatureError))
        claims = json.loads(_unb64(parts[1], "payload", A2ATokenSignatureError))
    except (ValueError, RecursionError):
        raise A2ATokenSignatureError("the access token's header and payload are base64url JSON") from None
    sig = _unb64(parts[2], "signature", A2ATokenSignatureError)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise A2ATokenSignatureError("the access token's header and payload are JSON objects")
    iss = claims.get("iss")
    issuer = issuers.get(iss) if isinstance(iss, str) else None
    if issuer is None:
        raise A2ATokenIssuerError(f"the access token's issuer {str(iss)[:80]!r} is not trusted")
    alg, kid = header.get("alg"), header.get("kid")
    if "crit" in header:
        raise A2ATokenAlgorithmError("the access token names critical header parameters")
    if alg not in issuer.algorithms:
        raise A2ATokenAlgorithmError(
            f"the access token's alg {str(alg)[:16]!r} is not allowed ({', '.join(issuer.algorithms)})"
        )
    if not isinstance(kid, str) or not kid:
        raise A2ATokenKeyError("the access token names no key (kid)")
    try:
        url = issuer.jwks_url or fetcher.discovery.jwks_uri(issuer.issuer, issuer.openid)
        keys = fetcher.keys(url, kid)
        if kid not in keys and issuer.jwks_url is None:  # moved keys? discover again (rate-limited)
            moved = fetcher.discovery.jwks_uri(issuer.issuer, issuer.openid, refresh=True)
            keys = keys if moved == url else fetcher.keys(moved, kid)
    except A2AKeySetError as exc:
        raise A2ATokenKeyError(f"the issuer's keys are not available: {exc}") from None
    jwk = keys.get(kid)
    if jwk is None:
        raise A2ATokenKeyError(f"the issuer has no key {kid[:64]!r}")
    if not _fits(alg, jwk):
        raise A2ATokenAlgorithmError(f"key {kid[:64]!r} is not an {alg} key")
    try:
        _verify_signature(alg, jwk.key, f"{parts[0]}.{parts[1]}".encode(), sig)
    except InvalidSignature:
        raise A2ATokenSignatureError(
            f"the access token's signature does not verify under {kid[:64]!r}"
        ) from None
    exp, nbf, iat = _time(claims, "exp"), _time(claims, "nbf"), _time(claims, "iat")
    if exp is None or now >= exp + LEEWAY_S:
        raise A2ATokenExpiredError(
            "the access token has expired" if exp is not None else "the access token has no exp"
        )
    for name, t in (("nbf", nbf), ("iat", iat)):
        if t is not None and t > now + LEEWAY_S:
            raise A2ATokenNotYetValidError(f"the access token's {name} is in the future")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if issuer.audience not in auds:
        raise A2ATokenAudienceError(f"the access token is not for audience {issuer.audience}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise A2ATokenSignatureError("the access token names no subject (sub)")
    scope = claims.get("scope", "")
    held = set(scope.split()) if isinstance(scope, str) else set()
    missing = [s for s in issuer.scopes if s not in held]
    if missing:
        raise A2ATokenScopeError(f"the access token lacks scope {' '.join(missing)}")
    return issuer, claims
