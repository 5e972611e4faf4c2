"""Signed A2A agent cards: the card's ``signatures`` are JSON Web Signatures (RFC 7515, flattened:
``protected``, ``signature``, optional unprotected ``header``) over the card's canonical form, with
a detached payload (it is the card itself).

The canonical form (A2A section 8.4): the card without ``signatures``, with every field left out
that holds its default and has no presence in the protobuf definition (an empty string, zero,
false, an empty list or map), unless the specification marks it required; fields with presence
(``optional``, messages) and required ones stay, a required one that is absent being written with
its default (protobuf's wire form cannot tell an empty required list from none: a card that came
over gRPC is reconstructed so); then JSON Canonicalization (RFC 8785: keys sorted
by UTF-16 code units, ECMAScript number form, minimal string escapes, UTF-8, no whitespace).
Unknown fields are kept as they are: a signer who added them signed them.

Algorithms: ``ES256`` (P-256) and ``ES256K`` (secp256k1, RFC 8812: an agent's Ethereum key signs
its card, ``kid`` its address), the signature being r || s, 32 bytes each. The protected header
holds ``alg``, ``typ: JOSE`` and ``kid``. A client trusts keys by id (`keys`: kid -> public key);
a card verifies when one signature by a trusted key does (A2ACardSignatureError's kinds
otherwise: tampered, no trusted signer, unsupported algorithm).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from offchain.agent import a2a_pb2 as pb
from offchain.agent.a2a_auth import KeySetFetcher
from offchain.agent.a2a_grpc import reshape
from offchain.agent.errors import (
    A2ACardAlgorithmError,
    A2ACardSignatureError,
    A2ACardTamperedError,
    A2ACardUntrustedKeyError,
    A2AError,
    A2AKeySetError,
    A2AKeySetPolicyError,
)

ALGORITHMS = {"ES256": ec.SECP256R1, "ES256K": ec.SECP256K1}
EXACT_INT = 2**53

# fields the specification marks REQUIRED (kept in the canonical form even when default)
REQUIRED: dict[str, frozenset[str]] = {
    "AgentCard": frozenset(
        {
            "name",
            "description",
            "supported_interfaces",
            "version",
            "capabilities",
            "default_input_modes",
            "default_output_modes",
            "skills",
        }
    ),
    "AgentInterface": frozenset({"url", "protocol_binding", "protocol_version"}),
    "AgentProvider": frozenset({"url", "organization"}),
    "AgentSkill": frozenset({"id", "name", "description", "tags"}),
    "AgentCardSignature": frozenset({"protected", "signature"}),
    "APIKeySecurityScheme": frozenset({"location", "name"}),
    "HTTPAuthSecurityScheme": frozenset({"scheme"}),
    "OAuth2SecurityScheme": frozenset({"flows"}),
    "OpenIdConnectSecurityScheme": frozenset({"open_id_connect_url"}),
    "AuthorizationCodeOAuthFlow": frozenset({"authorization_url", "token_url", "scopes"}),
    "ClientCredentialsOAuthFlow": frozenset({"token_url", "scopes"}),
    "DeviceCodeOAuthFlow": frozenset({"device_authorization_url", "token_url", "scopes"}),
}


# ---------------------------------------------------------------- RFC 8785


def _number(v: float) -> str:
    """ECMAScript's Number.prototype.toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    _, digits, exp = Decimal(repr(abs(v))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0")
    exp = int(exp) + (len(digits) - len(ds))  # the trailing zeros moved into the exponent
    k, n = len(ds), int(exp) + len(ds)
    if k <= n <= 21:
        return sign + ds + "0" * (n - k)
    if 0 < n <= 21:
        return sign + ds[:n] + "." + ds[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + ds
    e = n - 1
    mantissa = ds if k == 1 else ds[0] + "." + ds[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("a lone surrogate has no canonical JSON form")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _jcs(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > EXACT_INT:
            raise ValueError(f"{v} is no I-JSON number (beyond 2**53)")
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("NaN and infinities have no JSON form")
        return _number(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(_jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):
            raise ValueError("JSON object keys are strings")
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_string(k) + ":" + _jcs(v[k]) for k in keys) + "}"
    raise ValueError(f"{type(v).__name__} is no JSON value")


def jcs(value: Any) -> bytes:
    """The RFC 8785 canonical form of a JSON value (ValueError for what has none)."""
    return _jcs(value).encode()


# ---------------------------------------------------------------- the card's canonical form


def _default(f: FieldDescriptor, v: Any) -> bool:
    if f.is_repeated or (f.message_type is not None and f.message_type.GetOptions().map_entry):
        return v in ([], {})
    if f.enum_type is not None:
        return v in (0, f.enum_type.values[0].name)
    if isinstance(v, bool):
        return v is False
    return v == "" or (isinstance(v, int | float) and v == 0)


def _drop_default(desc: Descriptor, f: FieldDescriptor, v: Any) -> bool:
    return f.name not in REQUIRED.get(desc.name, ()) and not f.has_presence and _default(f, v)


def _fill_required(desc: Descriptor, out: dict[str, Any]) -> None:
    """A required field is in the canonical form even when it is absent."""
    for f in desc.fields:
        if f.name in REQUIRED.get(desc.name, ()) and f.json_name not in out and f.name not in out:
            out[f.json_name] = _default_json(f)


def _prune(v: Any, desc: Descriptor) -> Any:
    """Unknown fields kept: a signer who added them signed them."""
    return reshape(v, desc, _drop_default, keep_unknown=True, finish=_fill_required)


def _default_json(f: FieldDescriptor) -> Any:
    """The JSON of a field holding its default (what protobuf's wire form cannot tell from absent)."""
    sub = f.message_type
    if f.is_repeated and not (sub is not None and sub.GetOptions().map_entry):
        return []
    if sub is not None:
        return {} if sub.GetOptions().map_entry else _prune({}, sub)
    if f.enum_type is not None:
        return f.enum_type.values[0].name
    return {FieldDescriptor.CPPTYPE_STRING: "", FieldDescriptor.CPPTYPE_BOOL: False}.get(f.cpp_type, 0)


def card_payload(card: Mapping[str, Any]) -> bytes:
    """The bytes a card's signatures cover: its canonical form, without ``signatures``."""
    body = {k: v for k, v in card.items() if k != "signatures"}
    return jcs(_prune(body, pb.AgentCard.DESCRIPTOR))


# ---------------------------------------------------------------- JWS


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: Any) -> bytes:
    if not isinstance(s, str) or "=" in s:
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def card_key(key: Any) -> ec.EllipticCurvePrivateKey:
    """A signing key: a P-256 or secp256k1 private key, or an Ethereum private key (hex or bytes)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    raw = bytes.fromhex(key.removeprefix("0x")) if isinstance(key, str) else bytes(key)
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256K1())


def _alg(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    for alg, curve in ALGORITHMS.items():
        if isinstance(key.curve, curve):
            return alg
    raise ValueError(f"cards are signed with P-256 or secp256k1 keys, not {key.curve.name}")


def sign_card(card: Mapping[str, Any], key: Any, kid: str, jku: str | None = None) -> dict[str, Any]:
    """The card with one more signature, by `key` under the id `kid`."""
    sk = card_key(key)
    header = {"alg": _alg(sk), "typ": "JOSE", "kid": kid} | ({} if jku is None else {"jku": jku})
    protected = _b64(json.dumps(header, separators=(",", ":")).encode())
    der = sk.sign(f"{protected}.{_b64(card_payload(card))}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = {"protected": protected, "signature": _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}
    return dict(card) | {"signatures": [*card.get("signatures", []), sig]}


def verify_card(card: Any, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> str:
    """The id of the trusted key whose signature verifies over `card` (A2ACardTamperedError: a
    trusted key's signature does not verify; A2ACardAlgorithmError: the only signatures by trusted
    keys use an algorithm not verified here; A2ACardUntrustedKeyError: no signature by a trusted
    key)."""
    if not isinstance(card, dict):
        raise A2ACardTamperedError("an agent card is a JSON object")
    sigs = card.get("signatures", [])
    if not isinstance(sigs, list) or not sigs:
        raise A2ACardUntrustedKeyError("the agent card is not signed")
    try:
        payload = _b64(card_payload(card))
    except ValueError as exc:
        raise A2ACardTamperedError(f"the agent card has no canonical form: {exc}") from None
    refusals: list[A2ACardSignatureError] = []
    for sig in sigs:
        try:
            if not isinstance(sig, dict):
                raise ValueError("a signature is an object")
            header = json.loads(_unb64(sig.get("protected")))
            raw = _unb64(sig.get("signature"))
            if not isinstance(header, dict):
                raise ValueError("the protected header is an object")
        except (ValueError, binascii.Error) as exc:
            refusals.append(A2ACardTamperedError(f"a malformed signature: {exc}"))
            continue
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or kid not in keys:
            refusals.append(A2ACardUntrustedKeyError(f"signed by {str(kid)[:80]!r}, a key not trusted"))
            continue
        pk = keys[kid]
        if alg not in ALGORITHMS or "crit" in header:
            what = "critical header parameters" if "crit" in header else f"algorithm {str(alg)[:16]!r}"
            refusals.append(A2ACardAlgorithmError(f"key {kid}: {what} not supported (ES256, ES256K)"))
            continue
        if _alg(pk) != alg:
            refusals.append(A2ACardTamperedError(f"key {kid} is no {alg} key: the signature is not its"))
            continue
        if len(raw) != 64:
            refusals.append(A2ACardTamperedError(f"key {kid}: an {alg} signature is 64 bytes"))
            continue
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            pk.verify(der, f"{sig['protected']}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            refusals.append(A2ACardTamperedError(f"the signature by key {kid} does not verify over the card"))
            continue
        return kid
    for kind in (A2ACardTamperedError, A2ACardAlgorithmError):
        found = [r for r in refusals if type(r) is kind]
        if found:
            raise found[0]
    raise refusals[0]


# ---------------------------------------------------------------- keys named by the card (jku)


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").rstrip("."), p.port or {"https": 443, "http": 80}.get(p.scheme)


@dataclass(frozen=True)
class JkuPolicy:
    """Which ``jku`` (key set URLs in a card signature's protected header) a client fetches keys
    from: the card's own origin (`same_origin`: scheme, host and port), and the URLs of `allowed`
    (an entry ending in ``/`` admits the URLs under it, any other one that URL exactly)."""

    same_origin: bool = True
    allowed: tuple[str, ...] = ()

    def admits(self, jku: str, card_url: str) -> bool:
        if self.same_origin and _origin(jku) == _origin(card_url):
            return True
        return any(jku == a or (a.endswith("/") and jku.startswith(a)) for a in self.allowed)


def verify_card_keys(
    card: Any,
    card_url: str,
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    policy: JkuPolicy | None,
    fetcher: KeySetFetcher | None,
) -> str:
    """`verify_card` with the trusted `keys`, then, if none of them signed, with the keys the
    signatures name by ``jku`` where `policy` admits the URL (each signature checked against the
    key of its own set). The refusals of verify_card, and A2AKeySetError's kinds (a jku off
    policy, not public, too large, unreachable) when no signature verified and one was refused so."""
    try:
        return verify_card(card, keys)
    except A2ACardUntrustedKeyError as exc:
        if policy is None or fetcher is None:
            raise
        first: A2AError = exc
    refusals: list[A2AError] = []
    for sig in card.get("signatures", []):
        try:
            header = json.loads(_unb64(sig.get("protected")))
        except (ValueError, binascii.Error, AttributeError):
            continue
        jku, kid = (header.get("jku"), header.get("kid")) if isinstance(header, dict) else (None, None)
        if not isinstance(jku, str) or not isinstance(kid, str):
            continue
        if not policy.admits(jku, card_url):
            refusals.append(A2AKeySetPolicyError(f"the card's jku {jku[:128]} is not trusted (policy)"))
            continue
        try:
            found = fetcher.keys(jku, kid).get(kid)
        except A2AKeySetError as err:
            refusals.append(err)
            continue
        if found is None or not isinstance(found.key, ec.EllipticCurvePublicKey):
            refusals.append(
                A2ACardUntrustedKeyError(f"the key set at {jku[:128]} has no EC key {kid[:64]!r}")
            )
            continue
        if found.alg is not None and found.alg != header.get("alg"):
            refusals.append(
                A2ACardAlgorithmError(f"key {kid[:64]!r} is for {found.alg[:16]}, not the signature's alg")
            )
            continue
        return verify_card(dict(card) | {"signatures": [sig]}, {kid: found.key})
    raise refusals[0] if refusals else first
