"""IETF OAuth Token Status List, JWT form: an issuer revokes or suspends the credentials it issued,
and a verifier (the merchant) refuses them.

**Referenced token.** A credential carries ``status: {status_list: {idx, uri}}`` in its signed
payload: its index in the list published at ``uri``.

**Status List Token.** A JWT (``typ: statuslist+jwt``, ES256) signed by the credential's issuer
(its key looked up as the credential's: issuers.IssuerRegistry or configured keys, by ``kid``):
``sub`` (the list's URI, equal to the credential's ``uri``), ``iat``, optional ``exp`` and ``ttl``,
and ``status_list: {bits, lst}``: ``bits`` per credential (1, 2, 4 or 8), ``lst`` the base64url of
the ZLIB-compressed byte array in which credential ``idx`` is the ``bits``-wide field starting at
bit ``idx * bits`` (bits counted from the least significant of each byte). Values: 0 VALID,
1 INVALID (revoked), 2 SUSPENDED; others (application-specific) are refused too.

**Checks** (:meth:`StatusLists.check`): the ``status`` claim's form; the token fetched under
webfetch's SSRF rules and bounds (at most `max_token_bytes`), its signature, type, ``sub``,
``exp``; the list decompressed into at most `max_list_bytes` (a compression bomb is abandoned
there); ``idx`` inside it; the value VALID. A token is cached until ``iat + ttl`` (``ttl`` capped at
`max_cache_s`), its ``exp``, or, with neither, `default_cache_s` after it was fetched; a failed
fetch is remembered for `retry_s`; at most `max_entries` lists are kept (the oldest dropped
first). A credential without a ``status`` claim passes unless the
verifier requires one.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offchain.agent import sdjwt
from offchain.agent.errors import (
    CredentialRevokedError,
    CredentialSuspendedError,
    SdJwtError,
    SdJwtIssuerError,
    SdJwtSignatureError,
    StatusListError,
    StatusListExpiredError,
    StatusListSignatureError,
)
from offchain.agent.webfetch import Fetcher

TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
VALID, INVALID, SUSPENDED = 0, 1, 2
BITS = (1, 2, 4, 8)


def status_claim(uri: str, idx: int) -> dict[str, Any]:
    """The ``status`` claim of a credential at index `idx` of the list at `uri`."""
    return {"status_list": {"idx": idx, "uri": uri}}


def pack(statuses: Iterable[int], bits: int) -> bytes:
    """The byte array of `statuses`, `bits` each, least significant bits first."""
    if bits not in BITS:
        raise StatusListError(f"bits is one of {BITS}")
    values = list(statuses)
    out = bytearray((len(values) * bits + 7) // 8)
    for i, v in enumerate(values):
        if not 0 <= v < 1 << bits:
            raise StatusListError(f"status {v} does not fit {bits} bits")
        pos = i * bits
        out[pos // 8] |= v << (pos % 8)
    return bytes(out)


def status_at(raw: bytes, bits: int, idx: int) -> int:
    """The status of index `idx` in a byte array (StatusListError when out of range)."""
    pos = idx * bits
    if idx < 0 or pos // 8 >= len(raw):
        raise StatusListError(f"index {idx} is outside the status list ({len(raw) * 8 // bits} entries)")
    return (raw[pos // 8] >> (pos % 8)) & ((1 << bits) - 1)


def sign_token(
    key: sdjwt.PrivateKey,
    *,
    uri: str,
    statuses: Iterable[int],
    bits: int,
    iat: int,
    exp: int | None = None,
    ttl: int | None = None,
    kid: str | None = None,
) -> str:
    """An issuer's Status List Token for the list at `uri`."""
    lst = sdjwt.b64url(zlib.compress(pack(statuses, bits), 9))
    payload: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": {"bits": bits, "lst": lst}}
    payload |= ({} if exp is None else {"exp": exp}) | ({} if ttl is None else {"ttl": ttl})
    return sdjwt.sign_jwt(key, {"typ": TYP} | ({} if kid is None else {"kid": kid}), payload)


def inflate(data: bytes, max_bytes: int) -> bytes:
    """ZLIB-decompressed `data`, refused beyond `max_bytes` (a compression bomb stops there)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, max_bytes + 1)
    except zlib.error:
        raise StatusListError("the status list (lst) is not ZLIB data") from None
    if len(out) > max_bytes or d.unconsumed_tail:
        raise StatusListError(f"the status list inflates to more than {max_bytes} bytes: refused")
    if not d.eof or d.unused_data:
        raise StatusListError("the status list (lst) is truncated or followed by other data")
    return out


@dataclass(frozen=True)
class StatusList:
    """A verified Status List Token: its list (decompressed), and until when it may be used."""

    uri: str
    bits: int
    raw: bytes
    iat: int
    exp: int | None
    until: float


def _int(v: Any, what: str, positive: bool = False) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < (1 if positive else 0):
        raise StatusListError(
            f"the status list token's {what} must be a {'positive' if positive else 'non-negative'} integer"
        )
    return v


def verify_token(
    token: Any,
    issuers: Mapping[str, Any],
    iss: str,
    *,
    uri: str,
    now: float,
    max_list_bytes: int,
    default_cache_s: float,
    max_cache_s: float,
) -> StatusList:
    """A Status List Token checked: signed by the key `issuers` trusts for the credential issuer
    `iss` (StatusListSignatureError), of type ``statuslist+jwt``, ``sub`` `uri`, not expired
    (StatusListExpiredError), its list well formed (StatusListError)."""
    if not isinstance(token, str):
        raise StatusListError("a status list token is a compact JWS")
    try:
        header = sdjwt.jwt_header(token, "status list token")
        key = sdjwt.trusted_key(issuers, iss, header, "status list token")
        payload = sdjwt.verify_jwt(token, key, TYP, "status list token")
    except SdJwtIssuerError:
        raise
    except SdJwtSignatureError as exc:
        raise StatusListSignatureError(f"the status list at {uri[:128]}: {exc}") from None
    except SdJwtError as exc:
        raise StatusListError(f"the status list at {uri[:128]}: {exc}") from None
    if payload.get("sub") != uri:
        raise StatusListError(f"the status list token's sub is not {uri[:128]!r}, the credential's uri")
    iat = _int(payload.get("iat"), "iat")
    exp = None if payload.get("exp") is None else _int(payload["exp"], "exp")
    ttl = None if payload.get("ttl") is None else _int(payload["ttl"], "ttl", positive=True)
    if exp is not None and now >= exp:
        raise StatusListExpiredError(f"the status list token at {uri[:128]} expired at {exp}")
    sl = payload.get("status_list")
    if not isinstance(sl, dict) or sl.get("bits") not in BITS or not isinstance(sl.get("lst"), str):
        raise StatusListError(f"status_list is {{bits: one of {BITS}, lst: base64url}}")
    try:
        compressed = sdjwt.unb64url(sl["lst"], "status_list.lst")
    except SdJwtError as exc:
        raise StatusListError(str(exc)) from None
    raw = inflate(compressed, max_list_bytes)
    # kept ttl seconds from now (at most max_cache_s), never past exp; default_cache_s without either
    until = now + (
        min(ttl, max_cache_s) if ttl is not None else max_cache_s if exp is not None else default_cache_s
    )
    if exp is not None:
        until = min(until, exp)
    return StatusList(uri, sl["bits"], raw, iat, exp, until)


@dataclass
class _Entry:
    status_list: StatusList | None
    error: StatusListError | None
    until: float


class StatusLists:
    """A verifier's status checks: tokens fetched with `fetcher`, verified with the keys of
    `issuers` (the same mapping the credentials are verified with), cached as the module says."""

    def __init__(
        self,
        issuers: Mapping[str, Any],
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
        require: bool = False,
        max_list_bytes: int = 1 << 20,
        default_cache_s: float = 300.0,
        max_cache_s: float = 86_400.0,
        retry_s: float = 30.0,
        max_entries: int = 1024,
    ) -> None:
        self.issuers = issuers
        self.max_entries = max_entries
        self.fetcher = fetcher or Fetcher(max_bytes=256 * 1024)
        self.clock = clock
        self.require = require
        self.max_list_bytes = max_list_bytes
        self.default_cache_s, self.max_cache_s, self.retry_s = default_cache_s, max_cache_s, retry_s
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # tokens fetched (tests, metrics)

    def check(self, credential: Mapping[str, Any]) -> None:
        """Refuse the credential (its signed payload: ``iss``, ``status``) unless its status is
        VALID: CredentialRevokedError, CredentialSuspendedError, or a StatusListError when it
        cannot be established."""
        status = credential.get("status")
        if status is None:
            if self.require:
                raise StatusListError(
                    "the credential carries no status claim, and this verifier requires one"
                )
            return
        ref = status.get("status_list") if isinstance(status, dict) else None
        if not isinstance(ref, dict) or not isinstance(ref.get("uri"), str):
            raise StatusListError("the credential's status is {status_list: {idx, uri}}")
        idx = ref.get("idx")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise StatusListError("the credential's status_list.idx is a non-negative integer")
        iss = credential.get("iss")
        if not isinstance(iss, str):
            raise StatusListError("the credential names no issuer (iss) to check its status list against")
        sl = self.status_list(iss, ref["uri"])
        value = status_at(sl.raw, sl.bits, idx)
        if value == INVALID:
            raise CredentialRevokedError(
                f"the issuer revoked this credential (status list {ref['uri'][:128]}, index {idx})"
            )
        if value == SUSPENDED:
            raise CredentialSuspendedError(f"the issuer suspended this credential (index {idx})")
        if value != VALID:
            raise StatusListError(f"the credential's status is {value:#04x}, not VALID")

    def status_list(self, iss: str, uri: str) -> StatusList:
        """The verified list of issuer `iss` at `uri`, from the cache while it may be used."""
        now = self.clock()
        with self._lock:
            e = self._cache.get((iss, uri))
        if e is not None and now < e.until:
            if e.error is not None:
                raise e.error
            assert e.status_list is not None
            return e.status_list
        try:
            self.fetches += 1
            token = self.fetcher.get(uri, MEDIA_TYPE, StatusListError)
            sl = verify_token(
                token.decode("ascii", "replace").strip(),
                self.issuers,
                iss,
                uri=uri,
                now=now,
                max_list_bytes=self.max_list_bytes,
                default_cache_s=self.default_cache_s,
                max_cache_s=self.max_cache_s,
            )
        except StatusListError as exc:
            self._keep((iss, uri), _Entry(None, exc, now + self.retry_s))
            raise
        self._keep((iss, uri), _Entry(sl, None, sl.until))
        return sl

    def _keep(self, key: tuple[str, str], entry: _Entry) -> None:
        with self._lock:
            self._cache.pop(key, None)
            self._cache[key] = entry
            while len(self._cache) > self.max_entries:  # the oldest first
                self._cache.pop(next(iter(self._cache)))


def prefetch(texts: Iterable[Any], issuers: Mapping[str, Any], lists: StatusLists | None) -> None:
    """Fetch, ahead of a check, what checking mandate chains `texts` will need: the keys of each
    root's issuer where `issuers` discovers them (issuers.IssuerRegistry) and each root's status
    list (with `lists`), once the root's signature is its issuer's: nothing is fetched on the word
    of an unsigned claim but the metadata of an allowed issuer. Failures are not raised here: they
    are remembered and raised by the check itself. For a server: run this in a thread, so its
    event loop never waits on a fetch."""
    for text in texts:
        try:
            root = text.split("~", 1)[0]
            header, unverified = sdjwt.jwt_header(root, "root"), sdjwt.jwt_payload(root, "root")
            key = sdjwt.trusted_key(issuers, unverified.get("iss"), header, "root")
            payload = sdjwt.verify_jwt(root, key, sdjwt.TYP, "root")
            if lists is not None:
                lists.check(payload)
        except (SdJwtError, TypeError, AttributeError):
            continue
