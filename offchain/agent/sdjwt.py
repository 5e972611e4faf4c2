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
    SdJwtDisclosureError,
    SdJwtError,
    SdJwtExpiredError,
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


def _parse_jwt(token: str, what: str, typ: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise SdJwtError(f"the {what} is no compact JWS")
    header, payload = _json_of(parts[0], f"the {what} header"), _json_of(parts[1], f"the {what} payload")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError(f"the {what} header and payload are JSON objects")
    if header.get("alg") != ALG:
        raise SdJwtError(f"the {what} must be signed {ALG}, not {header.get('alg')!r}")
    if header.get("typ") != typ:
        raise SdJwtError(f"the {what} must have typ {typ}, not {header.get('typ')!r}")
    if "crit" in header:
        raise SdJwtError(f"the {what} names critical header parameters this verifier does not know")
    return header, payload, (parts[0] + "." + parts[1]).encode(), unb64url(parts[2], f"the {what} signature")


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
) -> str:
    """An SD-JWT: `claims` signed by `issuer_key` as issuer `iss`, those named in `disclosable`
    (top-level claims) only as digests (with `decoys` random digests beside them, so their number
    says nothing), binding the `holder` key; valid from `iat` to `exp`."""
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
    jwt = sign_jwt(issuer_key, {"typ": TYP}, payload)
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
    _, payload, signing_input, sig = _parse_jwt(parts[0], "credential", TYP)
    iss = payload.get("iss")
    key = issuers.get(iss) if isinstance(iss, str) else None
    if key is None:
        raise SdJwtSignatureError(f"the credential's issuer {iss!r} is not trusted here")
    _check_signature(key, signing_input, sig, "credential")
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise SdJwtError(f"the credential's _sd_alg must be {SD_ALG}")
    exp = _int_claim(payload, "exp", "credential", True)
    nbf = _int_claim(payload, "nbf", "credential", False)
    assert exp is not None
    if now >= exp:
        raise SdJwtExpiredError(f"the credential expired at {exp}")
    if nbf is not None and now + leeway_s < nbf:
        raise SdJwtExpiredError(f"the credential is valid from {nbf}")
    disclosures = [Disclosure.parse(p) for p in parts[1:-1]]
    by_digest = {d.digest: d for d in disclosures}
    if len(by_digest) != len(disclosures):
        raise SdJwtDisclosureError("a disclosure is sent twice")
    used: set[str] = set()
    claims = _resolve(payload, by_digest, used)
    unreferenced = set(by_digest) - used
    if unreferenced:
        raise SdJwtDisclosureError(
            f"{len(unreferenced)} disclosure(s) match no digest of the signed credential (tampered?)"
        )
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
    if iat > now + leeway_s or iat < now - max_age_s:
        raise SdJwtExpiredError(f"the key-binding JWT was made at {iat}, outside [now - {max_age_s} s, now]")
    if kb.get("sd_hash") != digest("~".join(parts[:-1]) + "~"):
        raise SdJwtBindingError("the key-binding JWT's sd_hash is not this presentation's")
    claims.pop("cnf", None)
    return Presentation(claims, dict(holder_jwk), kb)
