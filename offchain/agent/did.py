"""Offline DID resolution for OpenID4VP's ``decentralized_identifier:`` client identifiers
(offchain/agent/oid4vp_http.py): the DID methods whose document is a function of the DID itself,
so a wallet resolves them without asking anyone.

- ``did:jwk:<base64url of a public JWK (JSON)>``: one verification method, ``<DID>#0``
  (EC P-256 or secp256k1, OKP Ed25519; a key whose ``use`` is ``enc`` signs nothing).
- ``did:key:z<base58btc of multicodec(key type) || public key>``: one verification method,
  ``<DID>#<the same multibase value>``; P-256 (``0x1200``, a compressed point), secp256k1
  (``0xe7``, compressed) and Ed25519 (``0xed``, 32 bytes).

Any other method (``did:web`` and the rest, which need the network) is refused
(DidResolutionError), as is a DID that does not decode to a public key. :func:`signing_key` is
the key a JWS ``kid`` (a DID URL) names in the DID's document (DidKeyError when it names none).

A DID's key signs JWSs with the algorithm of its type (:func:`jws_alg`): ``ES256`` (P-256),
``ES256K`` (secp256k1, RFC 8812) or ``EdDSA`` (Ed25519, RFC 8037); :func:`sign_jws` and
:func:`verify_jws` are the compact JWS of those (ES256 as sdjwt.py has it).
"""

from __future__ import annotations

import json
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from offchain.agent import sdjwt
from offchain.agent.errors import DidKeyError, DidResolutionError, SdJwtError, SdJwtSignatureError

__all__ = [
    "ALGS",
    "METHODS",
    "PrivateKey",
    "PublicKey",
    "did_jwk",
    "did_key",
    "jws_alg",
    "resolve",
    "sign_jws",
    "signing_key",
    "verify_jws",
]

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
ALGS = ("ES256", "ES256K", "EdDSA")  # the JWS algorithms of P-256, secp256k1 and Ed25519 keys
METHODS = ("jwk", "key")
MAX_DID = 2048
P256, SECP256K1, ED25519 = 0x1200, 0xE7, 0xED  # multicodec codes of the public keys
_CURVES: dict[int, ec.EllipticCurve] = {P256: ec.SECP256R1(), SECP256K1: ec.SECP256K1()}


def _b58encode(data: bytes) -> str:
    return base58.b58encode(data).decode()


def _b58decode(text: str) -> bytes:
    try:
        return base58.b58decode(text)
    except ValueError:  # a character outside the base58btc alphabet
        raise DidResolutionError("a did:key is base58btc (multibase z)") from None


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unvarint(data: bytes) -> tuple[int, bytes]:
    n = 0
    for i, b in enumerate(data[:3]):
        n |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return n, data[i + 1 :]
    raise DidResolutionError("a did:key's multicodec prefix is no varint")


def _compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def _public(key: Any) -> PublicKey:
    return (
        key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) else key
    )


def _jwk_of(key: PublicKey) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": sdjwt.b64url(raw)}
    if isinstance(key.curve, ec.SECP256R1):
        return sdjwt.jwk(key)
    if isinstance(key.curve, ec.SECP256K1):
        n = key.public_numbers()
        x, y = (sdjwt.b64url(v.to_bytes(32, "big")) for v in (n.x, n.y))
        return {"kty": "EC", "crv": "secp256k1", "x": x, "y": y}
    raise ValueError(f"no DID here for a key on {key.curve.name}")


def did_jwk(key: Any) -> str:
    """The ``did:jwk`` of `key` (its public JWK; P-256, secp256k1 or Ed25519)."""
    text = json.dumps(_jwk_of(_public(key)), separators=(",", ":"), sort_keys=True)
    return "did:jwk:" + sdjwt.b64url(text.encode())


def did_key(key: Any) -> str:
    """The ``did:key`` of `key` (P-256, secp256k1 or Ed25519)."""
    pub = _public(key)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        body = _varint(ED25519) + pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        code = next((c for c, curve in _CURVES.items() if curve.name == pub.curve.name), None)
        if code is None:
            raise ValueError(f"no did:key here for a key on {pub.curve.name}")
        body = _varint(code) + _compressed(pub)
    return "did:key:z" + _b58encode(body)


def _from_jwk(j: Any) -> PublicKey:
    if not isinstance(j, dict) or "d" in j:
        raise DidResolutionError("a did:jwk holds a public JWK (a JSON object, no d)")
    try:
        if j.get("kty") == "EC" and j.get("crv") == "P-256":
            return sdjwt.key_of({f: j.get(f) for f in ("kty", "crv", "x", "y")})
        if j.get("kty") == "EC" and j.get("crv") == "secp256k1":
            x, y = sdjwt.unb64url(j.get("x"), "jwk.x"), sdjwt.unb64url(j.get("y"), "jwk.y")
            if len(x) != 32 or len(y) != 32:
                raise DidResolutionError("a secp256k1 JWK's x and y are 32 bytes each")
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), b"\x04" + x + y)
        if j.get("kty") == "OKP" and j.get("crv") == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(sdjwt.unb64url(j.get("x"), "jwk.x"))
    except (SdJwtError, ValueError) as exc:
        if isinstance(exc, DidResolutionError):
            raise
        raise DidResolutionError(f"the did:jwk's key does not decode: {exc}") from None
    raise DidResolutionError(
        f"a did:jwk of {str(j.get('kty'))[:8]}/{str(j.get('crv'))[:16]}: P-256, secp256k1 or Ed25519 only"
    )


def _from_multikey(value: str) -> PublicKey:
    if not value.startswith("z"):
        raise DidResolutionError("a did:key is multibase base58btc (z...)")
    code, raw = _unvarint(_b58decode(value[1:]))
    try:
        if code in _CURVES and len(raw) in (33, 65):
            return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[code], raw)
        if code == ED25519 and len(raw) == 32:
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise DidResolutionError("the did:key's point is not on its curve") from None
    raise DidResolutionError(
        f"a did:key of multicodec {code:#x} ({len(raw)} bytes): P-256, secp256k1 or Ed25519 keys only"
    )


def resolve(did: Any) -> dict[str, PublicKey]:
    """The verification methods of `did`'s DID document (DID URL -> public key), resolved
    offline (DidResolutionError for another method or a DID that does not decode)."""
    if not isinstance(did, str) or len(did) > MAX_DID or not did.startswith("did:"):
        raise DidResolutionError(
            f"{str(did)[:64]!r} is not a DID (did:<method>:<id>, {MAX_DID} chars at most)"
        )
    parts = did.split(":")
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise DidResolutionError(f"{did[:64]!r} is not a DID (did:<method>:<id>)")
    method, value = parts[1], ":".join(parts[2:])
    if method not in METHODS:
        raise DidResolutionError(
            f"the DID method {method[:32]!r} needs resolving online: this wallet resolves did:jwk and did:key only"
        )
    if any(c in value for c in "#?/:"):
        raise DidResolutionError(f"{did[:64]!r} is not a did:{method} (no path, query, fragment or colon)")
    if method == "jwk":
        try:
            j = json.loads(sdjwt.unb64url(value, "did:jwk"))
        except (SdJwtError, ValueError, RecursionError):
            raise DidResolutionError("a did:jwk is the base64url of a JSON JWK") from None
        key = _from_jwk(j)
        if j.get("use") == "enc":
            return {}  # a key agreement key: no verification method that signs
        return {did + "#0": key}
    return {f"{did}#{value}": _from_multikey(value)}


def signing_key(did: str, kid: Any) -> PublicKey:
    """The key of `did`'s verification method that the JWS ``kid`` `kid` names: a DID URL of
    `did` (DidResolutionError when `did` does not resolve, DidKeyError for a kid naming another
    DID or no method of its document)."""
    methods = resolve(did)
    if not isinstance(kid, str) or "#" not in kid:
        raise DidKeyError("a decentralized_identifier: request names its key by a DID URL (kid: <DID>#<id>)")
    if kid.split("#", 1)[0] != did:
        raise DidKeyError(f"the kid {kid[:96]!r} is not a DID URL of {did[:96]!r}, the client_id's DID")
    if kid not in methods:
        raise DidKeyError(f"the kid {kid[:96]!r} names no verification method of the DID document")
    return methods[kid]


def jws_alg(key: Any) -> str:
    """The JWS ``alg`` a key of this type signs with (ValueError for another type)."""
    pub = _public(key)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "EdDSA"
    name = pub.curve.name if isinstance(pub, ec.EllipticCurvePublicKey) else ""
    alg = {"secp256r1": "ES256", "secp256k1": "ES256K"}.get(name)
    if alg is None:
        raise ValueError(f"no JWS algorithm here for a {type(pub).__name__} {name}".rstrip())
    return alg


def _b64json(v: Any) -> str:
    return sdjwt.b64url(json.dumps(v, separators=(",", ":")).encode())


def sign_jws(key: PrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A compact JWS of `payload` under `header`, ``alg`` that of `key` (:func:`jws_alg`)."""
    alg = jws_alg(key)
    if alg == sdjwt.ALG:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return sdjwt.sign_jwt(key, header, payload)
    signing_input = (_b64json(header | {"alg": alg}) + "." + _b64json(payload)).encode()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        sig = key.sign(signing_input)
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input.decode() + "." + sdjwt.b64url(sig)


def verify_jws(token: Any, key: PublicKey, typ: str, what: str) -> dict[str, Any]:
    """The payload of the compact JWS `token` (``typ`` `typ`) once `key` verifies it with its own
    algorithm (SdJwtError for another ``alg`` or a malformed token, SdJwtSignatureError for a bad
    signature)."""
    alg = jws_alg(key)
    if alg == sdjwt.ALG:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return sdjwt.verify_jwt(token, key, typ, what)
    header, payload = sdjwt.jwt_header(token, what), sdjwt.jwt_payload(token, what)
    if header.get("alg") != alg:
        raise SdJwtError(f"the {what} must be signed {alg} (its key's), not {str(header.get('alg'))[:16]!r}")
    if header.get("typ") != typ or "crit" in header:
        raise SdJwtError(f"the {what} must have typ {typ} and no critical header parameters")
    h64, p64, s64 = token.split(".")
    sig, signing_input = sdjwt.unb64url(s64, f"the {what} signature"), f"{h64}.{p64}".encode()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, signing_input)
        elif len(sig) != 64:
            raise InvalidSignature
        else:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise SdJwtSignatureError(f"the {what} signature does not verify") from None
    return payload
