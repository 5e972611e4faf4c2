"""SD-JWT with key binding (RFC 9901), the form of AP2's user authorization: a credential issuer
signs a JWT whose selectively disclosable claims appear only as digests (``_sd``), binding the
holder's key (``cnf.jwk``); the holder presents it with the disclosures it chooses to reveal and a
key-binding JWT (KB-JWT) signed by that key over the audience, a nonce, the time, the hash of the
presentation (``sd_hash``) and, for AP2, the hashes of the transaction it authorizes.

Algorithms: ES256 (ECDSA on P-256 with SHA-256, JWS signatures as raw ``r || s``), as AP2's
reference mandates use; disclosure digests and ``sd_hash`` are SHA-256 (``_sd_alg: sha-256``).
Disclosures are object properties (``[salt, name, value]``, referenced from an ``_sd`` list at any
depth) or array elements (``[salt, value]``, referenced as ``{"...": digest}``).

Wire form: ``<issuer JWT>~<disclosure>~...~`` issued; ``<issuer JWT>~<disclosure>~...~<KB-JWT>``
presented. :func:`verify` checks, in order: the shape and algorithms, the issuer's signature (a key
trusted for the JWT's ``iss``), the credential's validity window, every disclosure (each digest
referenced exactly once by the signed payload, no claim name repeated or reserved), then the KB-JWT
(signed by ``cnf.jwk``, its ``aud``, ``nonce``, ``iat`` and ``sd_hash``). Each refusal is a typed
SdJwtError (offchain.agent.errors).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from offchain.agent.errors import (
    SdJwtBindingError,
    SdJwtChainError,
    SdJwtDisclosureError,
    SdJwtError,
    SdJwtExpiredError,
    SdJwtIssuerError,
    SdJwtNotYetValidError,
    SdJwtSignatureError,
)

ALG = "ES256"
SD_ALG = "sha-256"
TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
MAX_CHARS = 64 * 1024  # a presentation longer than this is refused unread
MAX_DISCLOSURES = 64
RESERVED = frozenset({"_sd", "...", "_sd_alg"})

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str, what: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise SdJwtError(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SdJwtError(f"{what} is not base64url") from None


def _json_of(text: str, what: str) -> Any:
    try:
        return json.loads(unb64url(text, what))
    except (ValueError, RecursionError):
        raise SdJwtError(f"{what} is not base64url JSON") from None


def _b64json(v: Any) -> str:
    return b64url(json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode())


def digest(text: str) -> str:
    """The SHA-256 digest (base64url) of a disclosure or presentation, as ``_sd`` and ``sd_hash``
    hold it."""
    return b64url(hashlib.sha256(text.encode("ascii")).digest())


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """The public JWK of a P-256 key."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    n = pub.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(n.x.to_bytes(32, "big")),
        "y": b64url(n.y.to_bytes(32, "big")),
    }


def key_of(j: Any) -> PublicKey:
    """The P-256 public key of a JWK (SdJwtError unless it is one, on the curve)."""
    if not isinstance(j, dict) or j.get("kty") != "EC" or j.get("crv") != "P-256" or "d" in j:
        raise SdJwtError("the holder key must be a public EC P-256 JWK")
    x, y = unb64url(j.get("x"), "jwk.x"), unb64url(j.get("y"), "jwk.y")
    if len(x) != 32 or len(y) != 32:
        raise SdJwtError("a P-256 JWK's x and y are 32 bytes each")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        raise SdJwtError("the JWK's point is not on P-256") from None


def sign_jwt(key: PrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A compact JWS (ES256) of `payload` under `header` (``alg`` set to ES256)."""
    signing_input = _b64json(header | {"alg": ALG}) + "." + _b64json(payload)
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def _parse_jwt(
    token: str, what: str, typ: str | frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise SdJwtError(f"the {what} is no compact JWS")
    header, payload = _json_of(parts[0], f"the {what} header"), _json_of(parts[1], f"the {what} payload")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError(f"the {what} header and payload are JSON objects")
    if header.get("alg") != ALG:
        raise SdJwtError(f"the {what} must be signed {ALG}, not {header.get('alg')!r}")
    typs = frozenset({typ}) if isinstance(typ, str) else typ
    if header.get("typ") not in typs:
        raise SdJwtError(f"the {what} must have typ {' or '.join(sorted(typs))}, not {header.get('typ')!r}")
    if "crit" in header:
        raise SdJwtError(f"the {what} names critical header parameters this verifier does not know")
    return header, payload, (parts[0] + "." + parts[1]).encode(), unb64url(parts[2], f"the {what} signature")


def trusted_key(issuers: Mapping[str, Any], iss: Any, header: Mapping[str, Any], what: str) -> PublicKey:
    """The key `issuers` trusts for `iss` to have signed a JWT with `header`: the issuer's one key,
    or, where it has a key set (``kid`` -> key: keys discovered from its metadata), the one its
    header's ``kid`` names (SdJwtIssuerError for an issuer not trusted or no such key)."""
    found = issuers.get(iss) if isinstance(iss, str) else None
    if found is None:
        raise SdJwtIssuerError(f"the {what}'s issuer {iss!r} is not trusted here")
    if isinstance(found, ec.EllipticCurvePublicKey):
        return found
    kid = header.get("kid")
    if isinstance(found, Mapping):
        if isinstance(kid, str) and kid in found:
            return found[kid]
        if kid is None and len(found) == 1:
            return next(iter(found.values()))
        raise SdJwtIssuerError(f"the issuer {iss!r} has no key {kid!r} for the {what}")
    raise SdJwtIssuerError(f"the key trusted for {iss!r} is no P-256 key")


def _check_signature(key: PublicKey, signing_input: bytes, sig: bytes, what: str) -> None:
    if len(sig) != 64:
        raise SdJwtSignatureError(f"the {what} signature is not 64 bytes (r || s)")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SdJwtSignatureError(f"the {what} signature does not verify") from None


@dataclass(frozen=True)
class Disclosure:
    """One disclosure: an object property (`name` set) or an array element (`name` None)."""

    salt: str
    name: str | None
    value: Any
    encoded: str

    @classmethod
    def make(cls, name: str | None, value: Any) -> Disclosure:
        salt = b64url(secrets.token_bytes(16))
        arr = [salt, value] if name is None else [salt, name, value]
        return cls(salt, name, value, _b64json(arr))

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        v = _json_of(encoded, "a disclosure")
        if not isinstance(v, list) or len(v) not in (2, 3) or not isinstance(v[0], str):
            raise SdJwtDisclosureError("a disclosure is [salt, name, value] or [salt, value]")
        if len(v) == 2:
            return cls(v[0], None, v[1], encoded)
        if not isinstance(v[1], str) or v[1] in RESERVED:
            raise SdJwtDisclosureError(f"a disclosure's claim name must be a string, not reserved: {v[1]!r}")
        return cls(v[0], v[1], v[2], encoded)

    @property
    def digest(self) -> str:
        return digest(self.encoded)


def issue(
    issuer_key: PrivateKey,
    iss: str,
    claims: Mapping[str, Any],
    disclosable: Iterable[str],
    holder: PublicKey | PrivateKey,
    *,
    iat: int,
    exp: int,
    vct: str | None = None,
    decoys: int = 2,
    kid: str | None = None,
) -> str:
    """An SD-JWT: `claims` signed by `issuer_key` as issuer `iss`, those named in `disclosable`
    (top-level claims) only as digests (with `decoys` random digests beside them, so their number
    says nothing), binding the `holder` key; valid from `iat` to `exp` (`kid`: the issuer key's id,
    in the header, for a verifier that discovers the issuer's keys)."""
    names = set(disclosable)
    if names - set(claims) or names & (RESERVED | {"iss", "iat", "exp", "cnf", "vct"}):
        raise SdJwtError("the disclosable claims must be the credential's own, not iss/iat/exp/cnf/vct")
    disclosures = [Disclosure.make(n, claims[n]) for n in sorted(names)]
    sd = sorted(
        [d.digest for d in disclosures] + [digest(b64url(secrets.token_bytes(16))) for _ in range(decoys)]
    )
    payload: dict[str, Any] = {k: v for k, v in claims.items() if k not in names}
    payload |= {"iss": iss, "iat": iat, "exp": exp, "cnf": {"jwk": jwk(holder)}, "_sd": sd, "_sd_alg": SD_ALG}
    if vct is not None:
        payload["vct"] = vct
    jwt = sign_jwt(issuer_key, {"typ": TYP} | ({} if kid is None else {"kid": kid}), payload)
    return "~".join([jwt, *(d.encoded for d in disclosures)]) + "~"


def present(
    sd_jwt: str,
    reveal: Iterable[str],
    holder_key: PrivateKey,
    *,
    aud: str,
    nonce: str,
    iat: int,
    transaction_data_hashes: list[str] | None = None,
) -> str:
    """The holder's presentation of an issued SD-JWT: the disclosures of the claims in `reveal`
    only, and a KB-JWT signed by `holder_key` for `aud` and `nonce` at `iat` (with AP2's
    `transaction_data_hashes`, the hashes of what it authorizes)."""
    parts = sd_jwt.split("~")
    if len(parts) < 2 or parts[-1] != "":
        raise SdJwtError("an issued SD-JWT is <jwt>~<disclosure>~...~")
    wanted = set(reveal)
    kept = [e for e in parts[1:-1] if Disclosure.parse(e).name in wanted]
    missing = wanted - {Disclosure.parse(e).name for e in kept}
    if missing:
        raise SdJwtError(f"the credential holds no disclosable {', '.join(sorted(missing))}")
    body = "~".join([parts[0], *kept]) + "~"
    kb: dict[str, Any] = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": digest(body)}
    if transaction_data_hashes is not None:
        kb |= {
            "transaction_data_hashes": list(transaction_data_hashes),
            "transaction_data_hashes_alg": SD_ALG,
        }
    return body + sign_jwt(holder_key, {"typ": KB_TYP}, kb)


@dataclass(frozen=True)
class Presentation:
    """A verified presentation: the credential's claims with the disclosed ones in place (no
    ``_sd``, ``_sd_alg``), the holder's key and the KB-JWT's payload."""

    claims: dict[str, Any]
    holder: dict[str, str]
    kb: dict[str, Any]


def _int_claim(payload: dict[str, Any], name: str, what: str, required: bool) -> int | None:
    v = payload.get(name)
    if v is None and not required:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise SdJwtError(f"the {what}'s {name} must be an integer (seconds)")
    return v


def _resolve(node: Any, by_digest: dict[str, Disclosure], used: set[str]) -> Any:
    """`node` with every disclosed digest replaced by its claim (undisclosed ones dropped)."""
    if isinstance(node, list):
        out = []
        for el in node:
            if isinstance(el, dict) and "..." in el:
                if len(el) != 1 or not isinstance(el["..."], str):
                    raise SdJwtDisclosureError('an array digest is {"...": digest} alone')
                d = _take(el["..."], by_digest, used)
                if d is not None:
                    if d.name is not None:
                        raise SdJwtDisclosureError(
                            "an object-property disclosure is referenced as an array element"
                        )
                    out.append(_resolve(d.value, by_digest, used))
            else:
                out.append(_resolve(el, by_digest, used))
        return out
    if not isinstance(node, dict):
        return node
    sd = node.get("_sd", [])
    if not isinstance(sd, list) or not all(isinstance(x, str) for x in sd):
        raise SdJwtDisclosureError("_sd must be a list of digests")
    out_d = {k: _resolve(v, by_digest, used) for k, v in node.items() if k not in ("_sd", "_sd_alg")}
    for h in sd:
        d = _take(h, by_digest, used)
        if d is None:
            continue
        if d.name is None:
            raise SdJwtDisclosureError("an array-element disclosure is referenced from _sd")
        if d.name in out_d:
            raise SdJwtDisclosureError(f"the disclosed claim {d.name!r} is already in the payload")
        out_d[d.name] = _resolve(d.value, by_digest, used)
    return out_d


def resolve(node: Any, encoded: Iterable[str], what: str) -> Any:
    """`node` (a value with digests in place of its selectively disclosable parts) with the
    `encoded` disclosures in place; each must be referenced exactly once (SdJwtDisclosureError)."""
    disclosures = [Disclosure.parse(e) for e in encoded]
    by_digest = {d.digest: d for d in disclosures}
    if len(by_digest) != len(disclosures):
        raise SdJwtDisclosureError(f"a disclosure of the {what} is sent twice")
    used: set[str] = set()
    out = _resolve(node, by_digest, used)
    if set(by_digest) - used:
        raise SdJwtDisclosureError(
            f"{len(set(by_digest) - used)} disclosure(s) match no digest of the {what} (tampered?)"
        )
    return out


def _take(h: str, by_digest: dict[str, Disclosure], used: set[str]) -> Disclosure | None:
    if h in used:
        raise SdJwtDisclosureError("a digest is referenced twice")
    used.add(h)
    return by_digest.get(h)


def verify(
    presentation: str,
    issuers: Mapping[str, PublicKey],
    *,
    aud: str,
    nonce: str,
    now: float,
    max_age_s: int = 300,
    leeway_s: int = 30,
) -> Presentation:
    """Verify a presentation for `aud` and `nonce` at `now`, by an issuer in `issuers` (``iss`` ->
    its public key); the KB-JWT must be at most `max_age_s` old. Typed errors otherwise."""
    if not isinstance(presentation, str) or len(presentation) > MAX_CHARS:
        raise SdJwtError(f"a presentation is a string of at most {MAX_CHARS} characters")
    parts = presentation.split("~")
    if len(parts) < 2 or not parts[-1]:
        raise SdJwtError("a presentation is <jwt>~<disclosure>~...~<kb-jwt> (no key binding)")
    if len(parts) - 2 > MAX_DISCLOSURES or any(not p for p in parts[1:-1]):
        raise SdJwtError(f"a presentation holds at most {MAX_DISCLOSURES} non-empty disclosures")
    header, payload, signing_input, sig = _parse_jwt(parts[0], "credential", TYP)
    _check_signature(
        trusted_key(issuers, payload.get("iss"), header, "credential"), signing_input, sig, "credential"
    )
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise SdJwtError(f"the credential's _sd_alg must be {SD_ALG}")
    exp = _int_claim(payload, "exp", "credential", True)
    nbf = _int_claim(payload, "nbf", "credential", False)
    assert exp is not None
    if now >= exp:
        raise SdJwtExpiredError(f"the credential expired at {exp}")
    if nbf is not None and now + leeway_s < nbf:
        raise SdJwtNotYetValidError(f"the credential is valid from {nbf}")
    claims = resolve(payload, parts[1:-1], "signed credential")
    cnf = payload.get("cnf")
    holder_jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    holder = key_of(holder_jwk)
    _, kb, kb_input, kb_sig = _parse_jwt(parts[-1], "key-binding JWT", KB_TYP)
    _check_signature(holder, kb_input, kb_sig, "key-binding JWT")
    if kb.get("aud") != aud:
        raise SdJwtBindingError(f"the key-binding JWT is for audience {kb.get('aud')!r}, not {aud!r}")
    if kb.get("nonce") != nonce:
        raise SdJwtBindingError("the key-binding JWT carries another nonce")
    iat = _int_claim(kb, "iat", "key-binding JWT", True)
    assert iat is not None
    if iat > now + leeway_s:
        raise SdJwtNotYetValidError(f"the key-binding JWT was made at {iat}, after now ({int(now)})")
    if iat < now - max_age_s:
        raise SdJwtExpiredError(f"the key-binding JWT was made at {iat}, more than {max_age_s} s ago")
    if kb.get("sd_hash") != digest("~".join(parts[:-1]) + "~"):
        raise SdJwtBindingError("the key-binding JWT's sd_hash is not this presentation's")
    claims.pop("cnf", None)
    return Presentation(claims, dict(holder_jwk), kb)


# ---------------------------------------------------------------- Delegate SD-JWT (chains)
#
# draft-gco-oauth-delegate-sd-jwt, as AP2 v0.2 secures its mandates: a key-binding JWT may itself
# be an SD-JWT (a KB-SD-JWT) whose ``delegate_payload`` array holds, as array-element disclosures,
# new claims (the delegate payload); with ``typ: kb+sd-jwt+kb`` that payload binds the next
# holder's key (``cnf``), which signs the next link. Compact form: the links joined by an empty
# component, ``<SD-JWT>~<d>~...~~<KB-SD-JWT>~<d>~...~``; each KB-SD-JWT's ``sd_hash`` is the digest
# of the link before it (its JWT and the disclosures presented with it).

KB_SD_TYP = "kb+sd-jwt"  # the last link of a chain (binds no further key)
KB_SD_KB_TYP = "kb+sd-jwt+kb"  # a link whose delegate payload binds the next link's key
DELEGATE = "delegate_payload"
MAX_LINKS = 8


@dataclass(frozen=True)
class Sd:
    """A value to be made selectively disclosable by :func:`conceal` (an object property's value,
    or an array element)."""

    value: Any


def conceal(node: Any) -> tuple[Any, list[Disclosure]]:
    """`node` with every :class:`Sd` value replaced by its digest (``_sd`` in objects, ``{"...":
    digest}`` in arrays; nested ones too), and the disclosures (inner ones first)."""
    out: list[Disclosure] = []
    if isinstance(node, Sd):
        raise SdJwtError("a selectively disclosable value sits in an object or an array")
    if isinstance(node, list):
        arr = []
        for el in node:
            if isinstance(el, Sd):
                inner, ds = conceal(el.value)
                d = Disclosure.make(None, inner)
                out += [*ds, d]
                arr.append({"...": d.digest})
            else:
                v, ds = conceal(el)
                out += ds
                arr.append(v)
        return arr, out
    if not isinstance(node, dict):
        return node, out
    if RESERVED & set(node):
        raise SdJwtError("_sd, ... and _sd_alg are reserved claim names")
    obj: dict[str, Any] = {}
    sd: list[str] = []
    for k, v in node.items():
        inner, ds = conceal(v.value if isinstance(v, Sd) else v)
        out += ds
        if isinstance(v, Sd):
            d = Disclosure.make(k, inner)
            out.append(d)
            sd.append(d.digest)
        else:
            obj[k] = inner
    if sd:
        obj["_sd"] = sorted(sd)
    return obj, out


def _links(text: str) -> list[list[str]]:
    """The links of a chain (each ``[jwt, disclosure, ...]``); SdJwtChainError unless it is
    ``<jwt>~<d>~...~(~<jwt>~<d>~...~)*``."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        raise SdJwtError(f"a mandate chain is a string of at most {MAX_CHARS} characters")
    parts = text.split("~")
    if len(parts) < 2 or parts[-1] != "" or parts[0] == "":
        raise SdJwtChainError("a chain is <SD-JWT>~<disclosures>~~<KB-SD-JWT>~<disclosures>~ (ends with ~)")
    links: list[list[str]] = [[]]
    for p in parts[:-1]:
        if p:
            links[-1].append(p)
        elif not links[-1]:
            raise SdJwtChainError("two link separators in a row: an empty link")
        else:
            links.append([])
    if not links[-1]:
        links.pop()
    if len(links) > MAX_LINKS or any(len(ln) - 1 > MAX_DISCLOSURES for ln in links):
        raise SdJwtError(f"a chain has at most {MAX_LINKS} links of at most {MAX_DISCLOSURES} disclosures")
    return links


def _serialize(link: list[str]) -> str:
    return "~".join(link) + "~"


def last_link(text: str) -> str:
    """The last link of a chain (or the SD-JWT itself), as its digest covers it."""
    return _serialize(_links(text)[-1])


def prune(text: str, keep: Any) -> str:
    """`text` with its last link's disclosures cut to those `keep(disclosure)` accepts and the
    signed payload still references (through kept disclosures): what a holder does before binding
    it, to reveal no more than a verifier needs."""
    links = _links(text)
    _, payload, _, _ = _parse_jwt_any(links[-1][0])
    by_digest = {d.digest: d for d in map(Disclosure.parse, links[-1][1:])}
    kept: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for el in node:
                if isinstance(el, dict) and isinstance(el.get("..."), str) and len(el) == 1:
                    visit(el["..."])
                else:
                    walk(el)
        elif isinstance(node, dict):
            for h in node.get("_sd", []) if isinstance(node.get("_sd"), list) else []:
                visit(h)
            for k, v in node.items():
                if k != "_sd":
                    walk(v)

    def visit(h: Any) -> None:
        d = by_digest.get(h) if isinstance(h, str) else None
        if d is not None and d.encoded not in kept and keep(d):
            kept.append(d.encoded)
            walk(d.value)

    walk(payload)
    order = [e for e in links[-1][1:] if e in kept]
    links[-1] = [links[-1][0], *order]
    return "~".join(_serialize(ln) for ln in links)


def _parse_jwt_any(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise SdJwtError("a link is no compact JWS")
    header, payload = _json_of(parts[0], "a link's header"), _json_of(parts[1], "a link's payload")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError("a link's header and payload are JSON objects")
    return header, payload, (parts[0] + "." + parts[1]).encode(), unb64url(parts[2], "a link's signature")


def delegate(
    text: str,
    key: PrivateKey,
    payloads: list[Any],
    *,
    aud: str,
    nonce: str,
    iat: int,
    binds_key: bool,
    claims: Mapping[str, Any] | None = None,
    inner: list[str] | None = None,
) -> str:
    """Append a KB-SD-JWT to the SD-JWT or chain `text`, signed by `key` (the private half of the
    ``cnf`` key its last link binds) for `aud` and `nonce` at `iat`: each of `payloads` (which may
    hold :class:`Sd` values) becomes one disclosed element of ``delegate_payload``. With
    `binds_key` (``typ: kb+sd-jwt+kb``) each payload must bind the next holder's key (``cnf``).
    `claims` adds claims to the KB-SD-JWT (OpenID4VP's ``transaction_data_hashes``); with `inner`
    (encoded disclosures, OpenID4VP's ``delegate_disclosures``) the payloads are already concealed
    (their digests in place) and `inner` travels with them."""
    if not payloads:
        raise SdJwtError("a delegation carries at least one delegate payload")
    if binds_key and not all(isinstance(p, dict) and isinstance(p.get("cnf"), dict) for p in payloads):
        raise SdJwtError("a kb+sd-jwt+kb delegate payload binds the next holder's key (cnf)")
    if inner is None:
        arr, disclosures = conceal([Sd(p) for p in payloads])
        encoded = [d.encoded for d in disclosures]
    else:
        elements = [Disclosure.make(None, p) for p in payloads]
        arr, encoded = [{"...": d.digest} for d in elements], [*inner, *(d.encoded for d in elements)]
    kb = dict(claims or {}) | {
        DELEGATE: arr,
        "iat": iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": digest(last_link(text)),
    }
    jwt = sign_jwt(key, {"typ": KB_SD_KB_TYP if binds_key else KB_SD_TYP}, kb | {"_sd_alg": SD_ALG})
    return text + "~" + _serialize([jwt, *encoded])


@dataclass(frozen=True)
class Link:
    """A verified link: its JWT header and (unresolved) payload, its content (the claims with the
    disclosed ones in place: the root's own, or the one disclosed ``delegate_payload`` element),
    and its serialization (``<jwt>~<disclosure>~...~``, what the next link's ``sd_hash`` covers)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    content: dict[str, Any]
    serialized: str
    contents: tuple[dict[str, Any], ...] = ()  # every disclosed delegate payload (``many``)

    @property
    def digest(self) -> str:
        """The link's digest, as ``sd_hash`` (and AP2's receipt ``reference``) compute it."""
        return digest(self.serialized)

    @property
    def jwt_digest(self) -> str:
        """The digest of the link's signed JWT alone (the same whatever disclosures travel with
        it: what identifies an open mandate across its presentations)."""
        return digest(self.serialized.split("~", 1)[0])


@dataclass(frozen=True)
class Chain:
    """A verified chain: the root's issuer and the links, root first."""

    iss: str
    links: tuple[Link, ...]


def _validity(claims: dict[str, Any], what: str, now: float, leeway_s: int) -> None:
    exp = _int_claim(claims, "exp", what, False)
    nbf = _int_claim(claims, "nbf", what, False)
    if exp is not None and now >= exp:
        raise SdJwtExpiredError(f"the {what} expired at {exp}")
    if nbf is not None and now + leeway_s < nbf:
        raise SdJwtNotYetValidError(f"the {what} is valid from {nbf}")


def _content(
    payload: dict[str, Any], claims: dict[str, Any], what: str, root: bool, many: bool = False
) -> list[dict[str, Any]]:
    if DELEGATE not in payload:
        if not root:
            raise SdJwtError(f"the {what} carries no {DELEGATE}")
        return [claims]
    arr = payload[DELEGATE]
    if (
        not isinstance(arr, list)
        or not arr
        or not all(isinstance(e, dict) and set(e) == {"..."} for e in arr)
    ):
        raise SdJwtDisclosureError(f"the {what}'s {DELEGATE} is a non-empty list of digests only")
    shown = claims[DELEGATE]
    if not (many and shown or len(shown) == 1) or not all(isinstance(e, dict) for e in shown):
        raise SdJwtDisclosureError(
            f"the {what} must disclose exactly one {DELEGATE} object, not {len(shown)}"
        )
    return shown


def verify_chain(
    text: str,
    issuers: Mapping[str, PublicKey],
    *,
    aud: str,
    nonce: str,
    now: float,
    root_typs: frozenset[str] = frozenset({TYP}),
    max_age_s: int = 300,
    leeway_s: int = 30,
    open_end: bool = False,
) -> Chain:
    """Verify a Delegate SD-JWT chain ending in a KB-SD-JWT for `aud` and `nonce` at `now`: the
    root signed by the key trusted for its ``iss`` (or, without one, its header's ``kid``: AP2's
    agent-provider mandates name no issuer) (SdJwtIssuerError for an unknown issuer,
    SdJwtSignatureError for another key), each later link by the key its predecessor's content
    binds (SdJwtChainError), each ``sd_hash`` the digest of the link before (SdJwtBindingError),
    the validity windows of every link's JWT and content, every disclosure referenced once; links
    before the last are ``kb+sd-jwt+kb`` binding a key, the last is ``kb+sd-jwt``, at most
    `max_age_s` old. With `open_end` (a holder checking the delegation it was just given, as
    OpenID4VP answers it), the last link may also be an open ``kb+sd-jwt+kb`` and may disclose
    several delegate payloads (each binding a key; all in :attr:`Link.contents`)."""
    raw = _links(text)
    if len(raw) < 2:
        raise SdJwtChainError("a mandate chain has the root and at least one delegated link")
    links: list[Link] = []
    iss: Any = None
    for i, link in enumerate(raw):
        last = i == len(raw) - 1
        what = "root" if i == 0 else f"link {i}"
        if i == 0:
            header, payload, signing_input, sig = _parse_jwt(link[0], what, root_typs)
            iss = payload.get("iss", header.get("kid"))  # a provider's root may name its key only
            key_header = header if "iss" in payload else {}
            _check_signature(trusted_key(issuers, iss, key_header, "root"), signing_input, sig, what)
        else:
            header, payload, signing_input, sig = _parse_jwt(
                link[0], what, frozenset({KB_SD_TYP, KB_SD_KB_TYP})
            )
            if header["typ"] == KB_SD_TYP and not last:
                raise SdJwtChainError(f"{what} ends the chain ({KB_SD_TYP}) and yet link {i + 1} follows it")
            if header["typ"] == KB_SD_KB_TYP and last and not open_end:
                raise SdJwtChainError(
                    f"the chain ends in {what}, an open delegation ({KB_SD_KB_TYP}): nothing closed"
                )
            cnf = links[-1].content.get("cnf")
            if not isinstance(cnf, dict) or "jwk" not in cnf:
                raise SdJwtChainError(f"link {i - 1} binds no key (cnf.jwk) to sign link {i}")
            try:
                _check_signature(key_of(cnf["jwk"]), signing_input, sig, what)
            except SdJwtSignatureError:
                raise SdJwtChainError(f"{what} is not signed by the key link {i - 1} binds") from None
            if "sd_hash" in payload:
                if payload["sd_hash"] != links[-1].digest:
                    raise SdJwtBindingError(
                        f"{what}'s sd_hash is not the digest of link {i - 1} as presented"
                    )
            elif payload.get("issuer_jwt_hash") != links[-1].jwt_digest:
                raise SdJwtBindingError(f"{what} binds link {i - 1} by neither sd_hash nor issuer_jwt_hash")
            iat = _int_claim(payload, "iat", what, True)
            assert iat is not None
            if iat > now + leeway_s:
                raise SdJwtNotYetValidError(f"{what} was made at {iat}, after now ({int(now)})")
            if last:
                if iat < now - max_age_s:
                    raise SdJwtExpiredError(f"{what} was made at {iat}, more than {max_age_s} s ago")
                if payload.get("aud") != aud:
                    raise SdJwtBindingError(f"{what} is for audience {payload.get('aud')!r}, not {aud!r}")
                if payload.get("nonce") != nonce:
                    raise SdJwtBindingError(f"{what} carries another nonce")
        if payload.get("_sd_alg", SD_ALG) != SD_ALG:
            raise SdJwtError(f"the {what}'s _sd_alg must be {SD_ALG}")
        _validity(payload, what, now, leeway_s)
        claims = resolve(payload, link[1:], what)
        contents = _content(payload, claims, what, i == 0, many=open_end and last)
        for content in contents:
            _validity(content, f"{what}'s content", now, leeway_s)
            binds = not last or header.get("typ") == KB_SD_KB_TYP
            if binds and (i > 0 or DELEGATE in payload) and "cnf" not in content:
                raise SdJwtChainError(f"the {what}'s delegate payload binds no key for the next link")
        links.append(Link(header, payload, contents[0], _serialize(link), tuple(contents)))
    assert isinstance(iss, str)
    if _int_claim(links[0].payload, "exp", "root", False) is None and "exp" not in links[0].content:
        raise SdJwtError("the root (its JWT or its delegate payload) must have an expiry (exp)")
    return Chain(iss, tuple(links))


def _unverified(token: Any, what: str, index: int, part: str) -> dict[str, Any]:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise SdJwtError(f"the {what} is no compact JWS")
    obj = _json_of(parts[index], f"the {what}'s {part}")
    if not isinstance(obj, dict):
        raise SdJwtError(f"the {what}'s {part} is a JSON object")
    return obj


def jwt_payload(token: Any, what: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (SdJwtError unless it is one with a JSON object
    payload): for a JWT whose signature is checked otherwise (a merchant comparing the checkout it
    issued)."""
    return _unverified(token, what, 1, "payload")


def jwt_header(token: Any, what: str) -> dict[str, Any]:
    """The header of a compact JWS, unverified (to pick the key that verifies it: ``kid``)."""
    return _unverified(token, what, 0, "header")


def verify_jwt(token: Any, key: PublicKey, typ: str, what: str) -> dict[str, Any]:
    """The payload of a compact JWS (ES256, `typ`) once its signature is `key`'s (typed errors)."""
    if not isinstance(token, str):
        raise SdJwtError(f"the {what} is a compact JWS string")
    _, payload, signing_input, sig = _parse_jwt(token, what, typ)
    _check_signature(key, signing_input, sig, what)
    return payload
