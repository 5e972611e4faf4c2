"""IETF OAuth Token Status List (draft-ietf-oauth-status-list), JWT and CWT forms: an issuer
revokes or suspends the credentials it issued, and a verifier (the merchant) refuses them.

**Referenced token.** A credential carries ``status: {status_list: {idx, uri}}`` in its signed
payload: its index in the list published at ``uri``.

**Status List Token.** A JWT (``typ: statuslist+jwt``, ES256) signed by the credential's issuer
(its key looked up as the credential's: issuers.IssuerRegistry or configured keys, by ``kid``):
``sub`` (the list's URI, equal to the credential's ``uri``), ``iat``, optional ``exp`` and ``ttl``,
and ``status_list: {bits, lst}``: ``bits`` per credential (1, 2, 4 or 8), ``lst`` the base64url of
the ZLIB-compressed byte array in which credential ``idx`` is the ``bits``-wide field starting at
bit ``idx * bits`` (bits counted from the least significant of each byte). Values: 0 VALID,
1 INVALID (revoked), 2 SUSPENDED; others (application-specific) are refused too.

**CWT form** (:func:`sign_token_cwt`, :func:`verify_token_cwt`): a ``COSE_Sign1_Tagged`` (tag
18; not wrapped in the CWT tag 61; ``COSE_Mac0`` refused: a MAC needs a key shared with the
issuer) signed ES256, protected header ``{1: -7, 16: "application/statuslist+cwt"}``, ``kid``
(4) in either header; CBOR claims ``2`` (sub), ``6`` (iat), ``4`` (exp), ``5`` (nbf, honoured),
``65534`` (ttl) and ``65533`` (the status list: ``{"bits", "lst": ZLIB bytes,
"aggregation_uri"?}``). The HTTP answer's content type picks the form
(``application/statuslist+jwt`` or ``application/statuslist+cwt``; anything else is refused); both
give the same :class:`StatusList` and share the cache. A Referenced Token in CWT form carries
``65535`` (status) ``{"status_list": {"idx", "uri"}}`` and ``1`` (iss): :func:`verify_referenced_cwt`
checks one and :meth:`StatusLists.check` takes its claims as it takes a JWT payload.

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
    StatusListFormatError,
    StatusListIndexError,
    StatusListSignatureError,
    StatusListTypeError,
)
from offchain.agent.webfetch import Fetcher
from offchain.compute import cbor, cose

TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
CWT_TYP = CWT_MEDIA_TYPE = "application/statuslist+cwt"
ACCEPT = f"{MEDIA_TYPE}, {CWT_MEDIA_TYPE}"
# CWT claim keys (RFC 8392; the draft's registrations)
CWT_ISS, CWT_SUB, CWT_EXP, CWT_NBF, CWT_IAT = 1, 2, 4, 5, 6
CWT_STATUS_LIST, CWT_TTL, CWT_STATUS = 65533, 65534, 65535
MAX_TOKEN_CBOR = 1 << 20
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
        raise StatusListIndexError(f"index {idx} is outside the status list ({len(raw) * 8 // bits} entries)")
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
    aggregation_uri: str | None = None,
    cwt: bool = False,
) -> Any:
    """An issuer's Status List Token for the list at `uri`: a compact JWS (str), or with `cwt`
    the CWT form (bytes, as served; :func:`sign_token_cwt`)."""
    compressed = zlib.compress(pack(statuses, bits), 9)
    sl: dict[str, Any] = {"bits": bits, "lst": compressed if cwt else sdjwt.b64url(compressed)}
    sl |= {} if aggregation_uri is None else {"aggregation_uri": aggregation_uri}
    times = {"iat": iat} | ({} if exp is None else {"exp": exp}) | ({} if ttl is None else {"ttl": ttl})
    if not cwt:
        payload = {"sub": uri, "status_list": sl} | times
        return sdjwt.sign_jwt(key, {"typ": TYP} | ({} if kid is None else {"kid": kid}), payload)
    keys = {"iat": CWT_IAT, "exp": CWT_EXP, "ttl": CWT_TTL}
    claims = {CWT_SUB: uri} | {keys[k]: v for k, v in times.items()} | {CWT_STATUS_LIST: sl}
    unprotected = {} if kid is None else {cose.KID: kid.encode()}
    return cose.sign1(key, cbor.dumps(claims), {cose.TYP: CWT_TYP}, unprotected)


def sign_token_cwt(key: sdjwt.PrivateKey, **fields: Any) -> bytes:
    """A Status List Token in CWT form (the arguments of :func:`sign_token`)."""
    out: bytes = sign_token(key, cwt=True, **fields)
    return out


def sign_referenced_cwt(key: sdjwt.PrivateKey, claims: dict[int, Any], *, kid: str | None = None) -> bytes:
    """A Referenced Token in CWT form: `claims` (CBOR claim keys; ``65535`` the status, see
    :func:`cwt_status_claim`) signed ES256."""
    return cose.sign1(key, cbor.dumps(claims), {}, {} if kid is None else {cose.KID: kid.encode()})


def cwt_status_claim(uri: str, idx: int) -> dict[int, Any]:
    """The ``status`` claim (65535) of a CWT Referenced Token at index `idx` of the list at `uri`."""
    return {CWT_STATUS: status_claim(uri, idx)}


def inflate(data: bytes, max_bytes: int) -> bytes:
    """ZLIB-decompressed `data`, refused beyond `max_bytes` (a compression bomb stops there)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, max_bytes + 1)
    except zlib.error:
        raise StatusListFormatError("the status list (lst) is not ZLIB data") from None
    if len(out) > max_bytes or d.unconsumed_tail:
        raise StatusListError(f"the status list inflates to more than {max_bytes} bytes: refused")
    if not d.eof or d.unused_data:
        raise StatusListFormatError("the status list (lst) is truncated or followed by other data")
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
    `iss` (StatusListSignatureError), of type ``statuslist+jwt`` (StatusListTypeError), ``sub``
    `uri`, not expired (StatusListExpiredError), its list well formed (StatusListFormatError)."""
    if not isinstance(token, str):
        raise StatusListFormatError("a status list token in JWT form is a compact JWS")
    try:
        header = sdjwt.jwt_header(token, "status list token")
    except SdJwtError as exc:
        raise StatusListFormatError(f"the status list at {uri[:128]}: {exc}") from None
    if header.get("typ") != TYP:
        raise StatusListTypeError(f"the status list token's typ is {header.get('typ')!r}, not {TYP}")
    try:
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
    sl = payload.get("status_list")
    if not isinstance(sl, dict) or sl.get("bits") not in BITS or not isinstance(sl.get("lst"), str):
        raise StatusListFormatError(f"status_list is {{bits: one of {BITS}, lst: base64url}}")
    try:
        compressed = sdjwt.unb64url(sl["lst"], "status_list.lst")
    except SdJwtError as exc:
        raise StatusListFormatError(str(exc)) from None
    return _status_list(
        uri,
        sl["bits"],
        compressed,
        payload,
        ("iat", "exp", "ttl", "nbf"),
        now,
        max_list_bytes,
        default_cache_s,
        max_cache_s,
    )


def _status_list(
    uri: str,
    bits: int,
    compressed: bytes,
    claims: Mapping[Any, Any],
    names: tuple[Any, Any, Any, Any],
    now: float,
    max_list_bytes: int,
    default_cache_s: float,
    max_cache_s: float,
) -> StatusList:
    """The checked times (`names`: the iat, exp, ttl and nbf claim keys of the form) and list."""
    iat_k, exp_k, ttl_k, nbf_k = names
    iat = _int(claims.get(iat_k), "iat")
    exp = None if claims.get(exp_k) is None else _int(claims[exp_k], "exp")
    ttl = None if claims.get(ttl_k) is None else _int(claims[ttl_k], "ttl", positive=True)
    nbf = None if claims.get(nbf_k) is None else _int(claims[nbf_k], "nbf")
    if exp is not None and now >= exp:
        raise StatusListExpiredError(f"the status list token at {uri[:128]} expired at {exp}")
    if nbf is not None and now < nbf:
        raise StatusListError(f"the status list token at {uri[:128]} is valid from {nbf} only")
    raw = inflate(compressed, max_list_bytes)
    # kept ttl seconds from now (at most max_cache_s), never past exp; default_cache_s without either
    until = now + (
        min(ttl, max_cache_s) if ttl is not None else max_cache_s if exp is not None else default_cache_s
    )
    if exp is not None:
        until = min(until, exp)
    return StatusList(uri, bits, raw, iat, exp, until)


def _cwt(raw: Any, issuers: Mapping[str, Any], iss: Any, what: str) -> tuple[cose.Sign1, dict[Any, Any]]:
    """A COSE_Sign1_Tagged CWT signed by the key `issuers` trusts for `iss` (its ``kid``: COSE
    header 4, UTF-8), and its claims map."""
    if not isinstance(raw, bytes | bytearray) or len(raw) > MAX_TOKEN_CBOR:
        raise StatusListFormatError(f"a {what} in CWT form is at most {MAX_TOKEN_CBOR} bytes")
    if bytes(raw[:2]) == b"\xd8\x3d":  # tag 61
        raise StatusListFormatError(f"a {what} must not be tagged as a CWT (61): COSE_Sign1_Tagged only")
    if bytes(raw[:1]) == b"\xd1":
        raise StatusListFormatError(f"a {what} as COSE_Mac0 needs a key shared with its issuer: not taken")
    msg = cose.parse_sign1(bytes(raw), StatusListFormatError, require_tag=True)
    kid = msg.param(cose.KID)
    if kid is not None and not isinstance(kid, bytes):
        raise StatusListFormatError(f"the {what}'s kid (COSE header 4) is a byte string")
    try:
        header = {} if kid is None else {"kid": kid.decode()}
        key = sdjwt.trusted_key(issuers, iss, header, what)
    except UnicodeDecodeError:
        raise StatusListFormatError(f"the {what}'s kid is not UTF-8") from None
    cose.verify_sign1(msg, key, StatusListSignatureError)
    try:
        claims = cbor.loads(msg.payload)
    except cbor.CBORError as exc:
        raise StatusListFormatError(f"the {what}'s claims are not CBOR: {exc}") from None
    if not isinstance(claims, dict):
        raise StatusListFormatError(f"the {what}'s claims are a CBOR map")
    return msg, claims


def verify_token_cwt(
    token: Any,
    issuers: Mapping[str, Any],
    iss: str,
    *,
    uri: str,
    now: float,
    max_list_bytes: int = 1 << 20,
    default_cache_s: float = 300.0,
    max_cache_s: float = 86_400.0,
) -> StatusList:
    """A Status List Token in CWT form checked as :func:`verify_token` checks the JWT form:
    signed by the key `issuers` trusts for `iss` (StatusListSignatureError), its type
    ``application/statuslist+cwt`` (StatusListTypeError), ``sub`` `uri`, not expired
    (StatusListExpiredError), well formed (StatusListFormatError: bad or truncated CBOR too)."""
    msg, claims = _cwt(token, issuers, iss, "status list token")
    if msg.header.get(cose.TYP) != CWT_TYP:
        raise StatusListTypeError(
            f"the status list token's protected typ (16) is {msg.header.get(cose.TYP)!r}, not {CWT_TYP}"
        )
    if claims.get(CWT_SUB) != uri:
        raise StatusListError(f"the status list token's sub is not {uri[:128]!r}, the credential's uri")
    sl = claims.get(CWT_STATUS_LIST)
    if (
        not isinstance(sl, dict)
        or sl.get("bits") not in BITS
        or isinstance(sl.get("bits"), bool)
        or not isinstance(sl.get("lst"), bytes)
        or not isinstance(sl.get("aggregation_uri", ""), str)
    ):
        raise StatusListFormatError(
            f"the status list claim (65533) is {{bits: one of {BITS}, lst: bytes, aggregation_uri?: text}}"
        )
    return _status_list(
        uri,
        sl["bits"],
        sl["lst"],
        claims,
        (CWT_IAT, CWT_EXP, CWT_TTL, CWT_NBF),
        now,
        max_list_bytes,
        default_cache_s,
        max_cache_s,
    )


def verify_referenced_cwt(token: Any, issuers: Mapping[str, Any], *, now: float) -> dict[Any, Any]:
    """A Referenced Token in CWT form: signed by the key trusted for its ``iss`` (1), not expired;
    its claims (CBOR keys), for :meth:`StatusLists.check`."""
    try:
        pre = cose.parse_sign1(token, StatusListFormatError, require_tag=True)
        iss = cbor.loads(pre.payload).get(CWT_ISS)
    except (cbor.CBORError, AttributeError):
        raise StatusListFormatError("the referenced token's claims are not a CBOR map") from None
    _, claims = _cwt(token, issuers, iss, "referenced token")
    exp = claims.get(CWT_EXP)
    if exp is not None:
        if _int(exp, "exp") <= now:
            raise StatusListExpiredError(f"the referenced token expired at {exp}")
    return claims


def _bounds(max_list_bytes: int, default_cache_s: float, max_cache_s: float) -> dict[str, Any]:
    return {"max_list_bytes": max_list_bytes, "default_cache_s": default_cache_s, "max_cache_s": max_cache_s}


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

    def check(self, credential: Mapping[Any, Any]) -> None:
        """Refuse the credential (its signed payload: ``iss``, ``status``; or a CWT's claims,
        verify_referenced_cwt: ``1``, ``65535``) unless its status is VALID:
        CredentialRevokedError, CredentialSuspendedError, or a StatusListError when it cannot be
        established."""
        cwt = CWT_STATUS in credential or "status" not in credential and CWT_ISS in credential
        status = credential.get(CWT_STATUS if cwt else "status")
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
        iss = credential.get(CWT_ISS if cwt else "iss")
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
            got = self.fetcher.fetch(uri, ACCEPT, StatusListError)
            bounds = (self.max_list_bytes, self.default_cache_s, self.max_cache_s)
            if got.content_type == MEDIA_TYPE:
                text = got.body.decode("ascii", "replace").strip()
                sl = verify_token(text, self.issuers, iss, uri=uri, now=now, **_bounds(*bounds))
            elif got.content_type == CWT_MEDIA_TYPE:
                sl = verify_token_cwt(got.body, self.issuers, iss, uri=uri, now=now, **_bounds(*bounds))
            else:
                raise StatusListTypeError(
                    f"GET {uri[:128]} answered content type {got.content_type[:64]!r}, "
                    f"neither {MEDIA_TYPE} nor {CWT_MEDIA_TYPE}"
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
