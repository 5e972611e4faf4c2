"""Issuer keys for SD-JWT VC verification: keys configured, or discovered from the issuer's
metadata (SD-JWT VC, ``/.well-known/jwt-vc-issuer``) for issuers on an allow-list.

For an issuer ``https://host/path`` the metadata is at ``https://host/.well-known/jwt-vc-issuer/path``
(the well-known segment between the host and the path, a trailing ``/`` dropped). It is a JSON
object whose ``issuer`` is exactly the credential's ``iss`` and which carries the issuer's keys
inline (``jwks``) or names where they are (``jwks_uri``), not both. The P-256 keys of the set are
kept by ``kid`` (keys of other kinds are skipped: credentials here are ES256); a credential's
header ``kid`` picks its key (sdjwt.trusted_key). Every fetch follows webfetch's SSRF rules and
bounds. The keys are kept `ttl_s` seconds (a credential naming a ``kid`` not in the kept set
fetches them again, at most once per `refresh_s`); a failed discovery is remembered for
`retry_s`, so a verifier is not made to fetch again and again.

:class:`IssuerRegistry` is a mapping ``iss -> key or key set`` as sdjwt.verify, sdjwt.verify_chain
and the ap2 checks take: an issuer neither configured nor allowed is absent (SdJwtIssuerError);
an allowed one whose discovery fails raises IssuerMetadataError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from offchain.agent import sdjwt
from offchain.agent.errors import IssuerMetadataError, SdJwtError
from offchain.agent.webfetch import Fetcher, json_object

WELL_KNOWN = "/.well-known/jwt-vc-issuer"
MAX_KEYS = 16


def metadata_url(iss: str) -> str:
    """Where the issuer `iss` publishes its metadata."""
    parts = urlsplit(iss)
    if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
        raise IssuerMetadataError(f"the issuer {iss[:128]!r} is no URL without query or fragment")
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{parts.path.rstrip('/')}"


def keys_of(jwks: Any) -> dict[str, sdjwt.PublicKey]:
    """The P-256 keys of a JWK Set by ``kid`` ("" for the one key without a kid)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= MAX_KEYS:
        raise IssuerMetadataError(f"a JWK set is {{keys: [1 to {MAX_KEYS} JWKs]}}")
    out: dict[str, sdjwt.PublicKey] = {}
    for k in keys:
        if not isinstance(k, dict) or k.get("kty") != "EC" or k.get("crv") != "P-256":
            continue
        if k.get("use", "sig") != "sig" or k.get("alg", sdjwt.ALG) != sdjwt.ALG:
            continue
        kid = k.get("kid", "")
        if not isinstance(kid, str) or kid in out:
            raise IssuerMetadataError("the JWK set's kids are strings, each used once")
        try:
            out[kid] = sdjwt.key_of({f: k.get(f) for f in ("kty", "crv", "x", "y")})
        except SdJwtError as exc:
            raise IssuerMetadataError(f"the JWK set holds a bad key: {exc}") from None
    if not out:
        raise IssuerMetadataError("the JWK set holds no ES256 (P-256) signing key")
    if "" in out and len(out) > 1:
        raise IssuerMetadataError("a JWK set of several keys names each by its kid")
    return out


@dataclass
class _Entry:
    keys: dict[str, sdjwt.PublicKey] | None
    error: IssuerMetadataError | None
    until: float
    fetched: float


class IssuerRegistry(Mapping[str, Any]):
    """Issuers trusted: `keys` (``iss`` -> public key, configured) and `allowed` (issuer URLs whose
    keys are discovered from their metadata with `fetcher`)."""

    def __init__(
        self,
        keys: Mapping[str, sdjwt.PublicKey] | None = None,
        allowed: Iterable[str] = (),
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
        ttl_s: float = 3600.0,
        retry_s: float = 30.0,
        refresh_s: float = 60.0,
    ) -> None:
        self.keys = dict(keys or {})
        self.allowed = frozenset(allowed)
        for iss in self.allowed:
            metadata_url(iss)
        self.fetcher = fetcher or Fetcher()
        self.clock = clock
        self.ttl_s, self.retry_s, self.refresh_s = ttl_s, retry_s, refresh_s
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # metadata documents fetched (tests, metrics)

    def __getitem__(self, iss: str) -> Any:
        if iss in self.keys:
            return self.keys[iss]
        if iss not in self.allowed:
            raise KeyError(iss)
        return _KeySet(self, iss)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys.keys() | self.allowed)

    def __len__(self) -> int:
        return len(self.keys.keys() | self.allowed)

    def discover(self, iss: str, kid: str | None = None) -> dict[str, sdjwt.PublicKey]:
        """The keys of the allowed issuer `iss` (cached; fetched again when `kid` is not among
        them and the last fetch is older than `refresh_s`)."""
        now = self.clock()
        with self._lock:
            e = self._cache.get(iss)
            stale = e is None or now >= e.until
            if not stale and e is not None and e.keys is not None and kid is not None and kid not in e.keys:
                stale = now - e.fetched >= self.refresh_s
            if not stale and e is not None:
                if e.error is not None:
                    raise e.error
                assert e.keys is not None
                return e.keys
        try:
            keys = self._fetch(iss)
        except IssuerMetadataError as exc:
            with self._lock:
                self._cache[iss] = _Entry(None, exc, now + self.retry_s, now)
            raise
        with self._lock:
            self._cache[iss] = _Entry(keys, None, now + self.ttl_s, now)
        return keys

    def _fetch(self, iss: str) -> dict[str, sdjwt.PublicKey]:
        self.fetches += 1
        meta = _json(self.fetcher.get(metadata_url(iss), "application/json", IssuerMetadataError), "metadata")
        if meta.get("issuer") != iss:
            raise IssuerMetadataError(
                f"the metadata at {metadata_url(iss)[:128]} is for issuer {str(meta.get('issuer'))[:128]!r}, not {iss!r}"
            )
        if ("jwks" in meta) == ("jwks_uri" in meta):
            raise IssuerMetadataError("issuer metadata carries exactly one of jwks and jwks_uri")
        if "jwks" in meta:
            return keys_of(meta["jwks"])
        uri = meta["jwks_uri"]
        return keys_of(
            _json(
                self.fetcher.get(uri, "application/jwk-set+json, application/json", IssuerMetadataError),
                "JWK set",
            )
        )


def _json(body: bytes, what: str) -> dict[str, Any]:
    return json_object(body, IssuerMetadataError, f"the issuer's {what}")


class _KeySet(Mapping[str, sdjwt.PublicKey]):
    """An allowed issuer's discovered keys, fetched when first looked up (by ``kid``)."""

    def __init__(self, registry: IssuerRegistry, iss: str) -> None:
        self.registry, self.iss = registry, iss

    def __getitem__(self, kid: str) -> sdjwt.PublicKey:
        return self.registry.discover(self.iss, kid)[kid]

    def __contains__(self, kid: object) -> bool:
        return isinstance(kid, str) and kid in self.registry.discover(self.iss, kid)

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry.discover(self.iss))

    def __len__(self) -> int:
        return len(self.registry.discover(self.iss))
