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
is the identity. ``decentralized_identifier:<DID>``: the request is signed by a verification method
of the DID, which the JOSE ``kid`` names by its DID URL; only DIDs that resolve offline are taken
(``did:jwk`` and ``did:key``, did.py), a wallet refuses other methods rather than go to the network;
the DID's key signs with its own algorithm (``ES256`` for P-256, ``ES256K`` for secp256k1, ``EdDSA``
for Ed25519: the only prefix whose requests are not ES256, and the wallet's metadata says so).
``verifier_attestation:<sub>``: the request carries a Verifier Attestation JWT (``typ:
verifier-attestation+jwt``, :func:`verifier_attestation`) in its ``jwt`` header, signed by an
attester the wallet trusts (``Wallet.attesters``), whose ``sub`` is the client identifier's value,
valid now (``exp``, ``iat``, ``nbf``), and the request is signed by the key of its ``cnf.jwk``; when
it names ``redirect_uris``, the ``response_uri`` is one of them. Each refusal has its class
(DidResolutionError, DidKeyError, the VerifierAttestationError family).

**Verifier info.** A verifier may attach ``verifier_info`` (attestations about itself: a non-empty
array of ``{format, data, credential_ids?}``) to every request or to one; the wallet checks its
shape (:func:`check_verifier_info`: ``format`` a string, ``data`` an object or a string,
``credential_ids`` naming the request's DCQL credential queries; VerifierInfoError) and hands it to
the holder uninterpreted (``Resolved.verifier_info``): a format it does not know passes as it is.

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

**Encrypted Request Objects.** When the POSTed ``wallet_metadata`` carries ``jwks``, the signed
Request Object is nested in a JWE to the wallet's key (RFC 9101: signed, then encrypted; ``cty:
JWT`` as RFC 7519 §5.2 has it for a nested JWT; ``kid`` of the key; the same media type): the first
key whose ``use`` is absent or ``enc``, whose ``alg`` is absent or ``ECDH-ES``, that is an EC P-256
key (a key of another type or curve is passed over), ``ECDH-ES`` direct key agreement and the first
of the wallet's ``request_object_encryption_enc_values_supported`` implemented here (``A128GCM``
when it names none). ``request_object_encryption_alg_values_supported`` without ``ECDH-ES``, no
usable key, a malformed set or key, ``request_object_signing_alg_values_supported`` without ES256,
``authorization_encryption_alg_values_supported`` / ``_enc_values_supported`` (for a
``direct_post.jwt`` request: they narrow ``encrypted_response_enc_values_supported``) that leave
nothing, and a ``wallet_nonce`` out of form are WalletMetadataError: HTTP 400 ``invalid_request``.

**Digital Credentials API** (Appendix A): :meth:`Verifier.dc_api_request` keeps a session and
builds the ``{protocol, data}`` the browser API takes: ``openid4vp-v1-unsigned`` (the parameters,
no ``client_id``), ``openid4vp-v1-signed`` (``{request: <Request Object>}`` with ``client_id`` and
``expected_origins``) or ``openid4vp-v1-multisigned`` (``{request: <JWS JSON serialization>}``, one
signature per client identifier, each ``client_id`` in its protected header only); response mode
``dc_api`` or ``dc_api.jwt`` (the session's key, as for ``direct_post.jwt``). ``GET
{path}/dc_api/request/{id}`` serves it; ``POST {path}/dc_api/response/{id}`` takes the
``DigitalCredential`` (``{protocol, data}``) the page posts back: its ``Origin`` must be one of the
verifier's origins and every presentation bound to ``origin:<that origin>``, the session's nonce.

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
(``alg`` ES256, or the DID key's own — ``none`` refused —, ``typ``, the signer's key — the ``x5c`` chain to a pinned root
at the request's time, the DID document's method, the attested ``cnf`` key —, the signature, the
client_id prefix and its binding, ``client_id`` equal to the one it was
given, ``aud``, ``wallet_nonce``, ``iat``/``exp``, the response mode and URI), answers the DCQL
query with the credentials it holds (format ``dc+sd-jwt``, ``meta.vct_values``, the claims named),
builds the ``vp_token`` with oid4vp.respond and posts it. With ``encrypt_requests`` it sends a
fresh key of its own in its metadata and takes the Request Object encrypted to it only. Over the
DC API (:meth:`Wallet.dc_api`, the request and the origin the platform hands it) it checks the
protocol against the data, a signed request's signature, client identifier and
``expected_origins``, ignores an unsigned one's ``client_id`` and ``expected_origins``, and binds
its presentations to ``origin:<origin>``; :func:`dc_api_error` is what it returns instead of a
presentation it refuses.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
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

from offchain.agent import did as dids
from offchain.agent import oid4vp, sdjwt
from offchain.agent.errors import (
    AuthorizationRequestError,
    AuthorizationResponseError,
    ClientIdError,
    DcApiProtocolError,
    DcqlUnmatchedError,
    DidKeyError,
    OriginError,
    RequestExpiredError,
    RequestObjectEncryptionError,
    RequestObjectSignatureError,
    RequestObjectTypeError,
    RequestUriError,
    ResponseModeError,
    ResponseStateError,
    SdJwtError,
    SdJwtIssuerError,
    TransactionDataError,
    VerifierAttestationError,
    VerifierAttestationExpiredError,
    VerifierAttestationIssuerError,
    VerifierAttestationKeyError,
    VerifierAttestationNotYetValidError,
    VerifierAttestationRedirectError,
    VerifierAttestationSignatureError,
    VerifierAttestationSubjectError,
    VerifierAttestationTypeError,
    VerifierInfoError,
    WalletMetadataError,
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
DECENTRALIZED_IDENTIFIER, VERIFIER_ATTESTATION = "decentralized_identifier", "verifier_attestation"
X509_PREFIXES = (X509_SAN_DNS, X509_HASH)
PREFIXES = (X509_SAN_DNS, X509_HASH, REDIRECT_URI, DECENTRALIZED_IDENTIFIER, VERIFIER_ATTESTATION)
VA_TYP = "verifier-attestation+jwt"  # a Verifier Attestation JWT's typ
MAX_VERIFIER_INFO = 16
DIRECT_POST, DIRECT_POST_JWT = "direct_post", "direct_post.jwt"
RESPONSE_MODES = (DIRECT_POST, DIRECT_POST_JWT)
ENCS = {"A128GCM": 16, "A256GCM": 32}
ECDH_ES = "ECDH-ES"
NESTED_CTY = "JWT"  # a nested JWT's content type (RFC 7519 section 5.2)
MAX_WALLET_NONCE = 256
DC_API, DC_API_JWT = "dc_api", "dc_api.jwt"
DC_MODES = (DC_API, DC_API_JWT)
UNSIGNED, SIGNED, MULTISIGNED = "openid4vp-v1-unsigned", "openid4vp-v1-signed", "openid4vp-v1-multisigned"
PROTOCOLS = (UNSIGNED, SIGNED, MULTISIGNED)
ORIGIN = "origin"  # the reserved prefix of a DC API presentation's audience
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


def verifier_attestation(
    attester: ec.EllipticCurvePrivateKey,
    iss: str,
    sub: str,
    key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey,
    *,
    iat: int,
    exp: int,
    redirect_uris: Sequence[str] = (),
    kid: str | None = None,
) -> str:
    """A Verifier Attestation JWT (``typ: verifier-attestation+jwt``) by the attester `iss` (signed
    with `attester`, named by `kid` when it has several keys): `sub` (the verifier's
    ``verifier_attestation:`` value) holds `key` (``cnf.jwk``), from `iat` until `exp`; with
    `redirect_uris`, the only URIs its requests may send answers to."""
    claims: dict[str, Any] = {"iss": iss, "sub": sub, "iat": iat, "exp": exp, "cnf": {"jwk": sdjwt.jwk(key)}}
    if redirect_uris:
        claims["redirect_uris"] = list(redirect_uris)
    return sdjwt.sign_jwt(attester, {"typ": VA_TYP} | ({} if kid is None else {"kid": kid}), claims)


def check_verifier_info(info: Any, query_ids: Iterable[str] | None) -> tuple[dict[str, Any], ...]:
    """``verifier_info`` checked for its shape (VerifierInfoError): a non-empty array of objects,
    each with a string ``format`` and ``data`` (an object or a string) and, optionally,
    ``credential_ids`` naming DCQL credential queries among `query_ids` (not checked when None).
    The attestations are not interpreted: a format unknown here passes as it is."""
    if not isinstance(info, list) or not 0 < len(info) <= MAX_VERIFIER_INFO:
        raise VerifierInfoError(f"verifier_info is an array of 1 to {MAX_VERIFIER_INFO} objects")
    ids = None if query_ids is None else set(query_ids)
    for i, entry in enumerate(info):
        if not isinstance(entry, dict):
            raise VerifierInfoError(f"verifier_info[{i}] is not an object")
        if not isinstance(entry.get("format"), str) or not entry["format"]:
            raise VerifierInfoError(f"verifier_info[{i}] names its format (a non-empty string)")
        if not isinstance(entry.get("data"), dict | str):
            raise VerifierInfoError(f"verifier_info[{i}]'s data is an object or a string")
        if "credential_ids" in entry:
            cids = entry["credential_ids"]
            if not isinstance(cids, list) or not cids or not all(isinstance(c, str) for c in cids):
                raise VerifierInfoError(f"verifier_info[{i}]'s credential_ids is a non-empty list of strings")
            if ids is not None and not set(cids) <= ids:
                unknown = sorted(set(cids) - ids)[:4]
                raise VerifierInfoError(
                    f"verifier_info[{i}] names credential ids {unknown} no DCQL credential query has"
                )
    return tuple(dict(e) for e in info)


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


def _seal(plaintext: bytes, public: ec.EllipticCurvePublicKey, enc: str, header: Mapping[str, Any]) -> str:
    """A compact JWE of `plaintext` to the P-256 key `public`: ``ECDH-ES`` direct key agreement
    with a fresh ephemeral key, `enc` (AES-GCM), `header`'s parameters beside those."""
    eph = ec.generate_private_key(ec.SECP256R1())
    full = dict(header) | {"alg": ECDH_ES, "enc": enc, "epk": _epk_jwk(eph)}
    h64 = sdjwt.b64url(json.dumps(full, separators=(",", ":")).encode())
    iv = secrets.token_bytes(12)
    sealed = AESGCM(_cek(eph, public, enc, b"", b"")).encrypt(iv, plaintext, h64.encode())
    return ".".join([h64, "", sdjwt.b64url(iv), sdjwt.b64url(sealed[:-16]), sdjwt.b64url(sealed[-16:])])


def encrypt(payload: Mapping[str, Any], public: ec.EllipticCurvePublicKey, kid: str, enc: str) -> str:
    """A compact JWE of `payload` (JSON) to the P-256 key `public` (``ECDH-ES``, `enc`)."""
    if enc not in ENCS:
        raise ResponseModeError(f"the encryption {enc!r} is not one of {sorted(ENCS)}")
    return _seal(json.dumps(dict(payload), separators=(",", ":")).encode(), public, enc, {"kid": kid})


def encrypt_request_object(token: str, public: ec.EllipticCurvePublicKey, kid: str | None, enc: str) -> str:
    """A signed Request Object nested in a JWE to the wallet's key (RFC 9101: signed, then
    encrypted; RFC 7519 section 5.2: ``cty: JWT``)."""
    return _seal(
        token.encode("ascii"), public, enc, {"cty": NESTED_CTY} | ({} if kid is None else {"kid": kid})
    )


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


def _jwe_header(token: Any, error: type[SdJwtError]) -> dict[str, Any]:
    """The header of a compact ``ECDH-ES`` JWE (A128GCM/A256GCM), checked (`error` otherwise)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 5 or parts[1] != "":
        raise error("an ECDH-ES JWE is five parts with no encrypted key")
    try:
        header = json.loads(sdjwt.unb64url(parts[0], "JWE header"))
    except (SdJwtError, ValueError, RecursionError):
        raise error("the JWE header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise error("the JWE header is a JSON object")
    if header.get("alg") != ECDH_ES or header.get("enc") not in ENCS or "zip" in header:
        raise error(f"the JWE must be ECDH-ES with one of {sorted(ENCS)}, uncompressed")
    return header


def _open(
    token: Any, private: ec.EllipticCurvePrivateKey, error: type[SdJwtError]
) -> tuple[dict[str, Any], bytes]:
    """The header and plaintext of a compact JWE (``ECDH-ES``, A128GCM/A256GCM) to `private`
    (`error` for anything else)."""
    header = _jwe_header(token, error)
    parts = token.split(".")
    try:
        iv, ct, tag = (sdjwt.unb64url(p, "JWE part") for p in parts[2:])
        apu, apv = (sdjwt.unb64url(header.get(k, ""), k) for k in ("apu", "apv"))
        epk = sdjwt.key_of(header.get("epk"))
        clear = AESGCM(_cek(private, epk, header["enc"], apu, apv)).decrypt(iv, ct + tag, parts[0].encode())
    except (SdJwtError, ValueError, AttributeError, InvalidTag) as exc:
        raise error(f"the JWE does not decrypt: {type(exc).__name__}") from None
    return header, clear


def decrypt(token: str, private: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The JSON object a compact JWE (``ECDH-ES``, A128GCM/A256GCM) to `private` carries
    (AuthorizationResponseError for anything else)."""
    _, clear = _open(token, private, AuthorizationResponseError)
    try:
        obj = json.loads(clear)
    except (ValueError, RecursionError):
        raise AuthorizationResponseError("the decrypted response is not JSON") from None
    if not isinstance(obj, dict):
        raise AuthorizationResponseError("the decrypted response is a JSON object")
    return obj


def _strings(meta: Mapping[str, Any], name: str) -> list[str] | None:
    """A wallet metadata parameter that is a list of strings (None when absent)."""
    v = meta.get(name)
    if v is None:
        return None
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise WalletMetadataError(f"wallet_metadata's {name} is a non-empty list of strings")
    return v


def _wallet_key(meta: Mapping[str, Any]) -> tuple[ec.EllipticCurvePublicKey, str | None, str] | None:
    """The wallet's Request Object encryption key (its ``jwks``), its ``kid`` and the ``enc``
    chosen (the wallet's first one implemented here); None when it asks for no encryption."""
    algs = _strings(meta, "request_object_encryption_alg_values_supported")
    encs = _strings(meta, "request_object_encryption_enc_values_supported")
    if "jwks" not in meta:
        return None
    jwks = meta["jwks"]
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= 16 or not all(isinstance(k, dict) for k in keys):
        raise WalletMetadataError("wallet_metadata's jwks is a JWK Set: {keys: [1 to 16 JWK objects]}")
    if algs is not None and ECDH_ES not in algs:
        raise WalletMetadataError(
            f"the wallet's request object encryption algorithms {algs[:8]} do not include {ECDH_ES}"
        )
    enc = next((e for e in encs or ["A128GCM"] if e in ENCS), None)
    if enc is None:
        raise WalletMetadataError(
            f"the wallet's request object encryption methods {(encs or [])[:8]} include none of {sorted(ENCS)}"
        )
    skipped = []
    for k in keys:
        if k.get("use", "enc") != "enc" or k.get("alg", ECDH_ES) != ECDH_ES:
            skipped.append(f"{k.get('use')}/{k.get('alg')}")
            continue
        if k.get("kty") != "EC" or k.get("crv") != "P-256":
            skipped.append(f"{str(k.get('kty'))[:8]}/{str(k.get('crv'))[:8]}")
            continue
        if "d" in k:
            raise WalletMetadataError("wallet_metadata's jwks holds a private key (d)")
        kid = k.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise WalletMetadataError("a JWK's kid is a string")
        try:
            public = sdjwt.key_of({f: k.get(f) for f in ("kty", "crv", "x", "y")})
        except SdJwtError as exc:
            raise WalletMetadataError(f"wallet_metadata's P-256 key is malformed: {exc}") from None
        return public, kid, enc
    raise WalletMetadataError(
        f"wallet_metadata's jwks holds no P-256 {ECDH_ES} encryption key (found {skipped[:4]})"
    )


def _response_encs(meta: Mapping[str, Any]) -> list[str]:
    """The response encryption methods both sides implement (the wallet's
    ``authorization_encryption_*`` values, when it names them)."""
    algs = _strings(meta, "authorization_encryption_alg_values_supported")
    encs = _strings(meta, "authorization_encryption_enc_values_supported")
    if algs is not None and ECDH_ES not in algs:
        raise WalletMetadataError(
            f"the wallet's response encryption algorithms {algs[:8]} do not include {ECDH_ES}"
        )
    both = [e for e in ENCS if encs is None or e in encs]
    if not both:
        raise WalletMetadataError(
            f"the wallet's response encryption methods {(encs or [])[:8]} include none of {sorted(ENCS)}"
        )
    return both


def _check_wallet_nonce(v: Any) -> None:
    if not isinstance(v, str) or not 0 < len(v) <= MAX_WALLET_NONCE or not all(" " < c < "\x7f" for c in v):
        raise WalletMetadataError(
            f"a wallet_nonce is 1 to {MAX_WALLET_NONCE} printable ASCII characters without spaces"
        )


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
    dc_request: dict[str, Any] | None = None  # a DC API session: {protocol, data}
    verifier_info: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the wallet is given (a QR code, a link, an A2A message): ``params`` and as an
    ``openid4vp://`` URL; ``state`` finds the session's result later."""

    params: dict[str, str]
    state: str

    @property
    def url(self) -> str:
        return "openid4vp://?" + urlencode(self.params)


@dataclass(frozen=True)
class DcApiRequest:
    """A Digital Credentials API request: ``protocol`` and ``data`` (one entry of the browser API's
    ``digital.requests``); ``id`` names it on the verifier's routes, ``state`` finds its result."""

    id: str
    state: str
    protocol: str
    data: dict[str, Any]

    @property
    def digital(self) -> dict[str, Any]:
        """What ``navigator.credentials.get({digital: ...})`` takes."""
        return {"requests": [{"protocol": self.protocol, "data": self.data}]}


def web_origin(url: str) -> str:
    """The origin (``scheme://host[:port]``, RFC 6454) of `url` (ValueError unless https, or http
    on a loopback host: the plain-http origins OpenID4VP allows only for local development)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    local = host in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError(f"an origin is https (http only on a loopback host), not {url[:64]!r}")
    if parts.username or parts.password or not host:
        raise ValueError(f"{url[:64]!r} has no origin of the form scheme://host[:port]")
    hostport = parts.netloc.lower()
    if parts.port == {"https": 443, "http": 80}[parts.scheme]:  # a browser names no default port
        hostport = hostport[: hostport.rfind(":")]
    return f"{parts.scheme}://{hostport}"


def _kb_aud(presentation: Any) -> Any:
    """The ``aud`` of a presentation's key binding (its last link's, for a delegation chain),
    unverified: None when it has none to read (verification refuses it later)."""
    try:
        last = sdjwt.last_link(presentation).split("~", 1)[0] if presentation.endswith("~") else None
        return sdjwt.jwt_payload(last or presentation.rsplit("~", 1)[-1], "key binding").get("aud")
    except (SdJwtError, AttributeError):
        return None


def _signer_client_id(prefix: str, chain: Sequence[x509.Certificate], host: str) -> str:
    if prefix == X509_HASH:
        return f"{X509_HASH}:{_x5c_hash(chain[0])}"
    if host not in _dns_names(chain[0]):
        raise ValueError(f"the certificate names no DNS name {host!r} (the base URL's host)")
    return f"{X509_SAN_DNS}:{host}"


class Verifier:
    """A verifier (the merchant) at `base_url` (its public URL; `path` is where :meth:`app`'s
    routes are) signing Request Objects with `key` under the certificate chain `chain` (leaf
    first; ``x5c``), named by `prefix`; responses verified with `issuers` (and `status`, a
    status_list.StatusLists) at `clock`; a request lives `ttl_s`; at most `max_sessions` kept
    (the oldest dropped); `redirect_uri` answered to a wallet after a good response. For the
    Digital Credentials API, `origins` are the web origins its pages are served from (default: the
    base URL's), and `co_signers` (``(key, chain, prefix)``) sign multi-signed requests beside it.

    Named by ``decentralized_identifier:``, it signs with `key` as the verification method of `did`
    (a ``did:jwk`` or ``did:key`` of that key; default: its ``did:jwk``), the ``kid`` being that
    method's DID URL; by ``verifier_attestation:``, it signs with `key` and carries `attestation`
    (a Verifier Attestation JWT whose ``cnf.jwk`` is that key, see :func:`verifier_attestation`)
    in the ``jwt`` header, its ``sub`` being the client identifier. `verifier_info` (attestations
    about the verifier, see :func:`check_verifier_info`) goes into every request unless one names
    its own."""

    def __init__(
        self,
        *,
        issuers: Mapping[str, Any],
        key: dids.PrivateKey | None = None,
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
        origins: Sequence[str] = (),
        co_signers: Sequence[tuple[ec.EllipticCurvePrivateKey, Sequence[x509.Certificate], str]] = (),
        did: str | None = None,
        attestation: str | None = None,
        verifier_info: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if prefix not in PREFIXES:
            raise ValueError(f"the client identifier prefix is one of {PREFIXES}")
        if prefix in X509_PREFIXES and (key is None or not chain):
            raise ValueError(f"a {prefix} verifier signs its requests: give its key and certificate chain")
        if prefix in (DECENTRALIZED_IDENTIFIER, VERIFIER_ATTESTATION) and key is None:
            raise ValueError(f"a {prefix} verifier signs its requests: give its key")
        if key is not None and prefix != DECENTRALIZED_IDENTIFIER and dids.jws_alg(key) != sdjwt.ALG:
            raise ValueError(f"a {prefix} verifier signs {sdjwt.ALG}: its key is a P-256 key")
        signers = [*([(key, chain, prefix)] if prefix in X509_PREFIXES else []), *co_signers]
        for k, c, _ in signers:
            if k is not None and (not c or c[0].public_key() != k.public_key()):
                raise ValueError("the key is not the one the chain's leaf certificate certifies")
        self.did, self.kid, self.attestation, self._sub = None, None, None, ""
        if prefix == DECENTRALIZED_IDENTIFIER:
            assert key is not None
            self.did = did or dids.did_jwk(key)
            methods = dids.resolve(self.did)
            self.kid = next((m for m, k in methods.items() if k == key.public_key()), None)
            if self.kid is None:
                raise ValueError(f"{self.did[:64]!r} has no verification method for the verifier's key")
        if prefix == VERIFIER_ATTESTATION:
            assert key is not None
            try:
                head = sdjwt.jwt_header(attestation, "Verifier Attestation JWT")
                body = sdjwt.jwt_payload(attestation, "Verifier Attestation JWT")
            except SdJwtError as exc:
                raise ValueError(f"give the verifier's Verifier Attestation JWT: {exc}") from None
            cnf = body.get("cnf")
            if head.get("typ") != VA_TYP or not isinstance(body.get("sub"), str) or not body["sub"]:
                raise ValueError(f"a Verifier Attestation JWT has typ {VA_TYP} and a sub")
            if not isinstance(cnf, dict) or cnf.get("jwk") != sdjwt.jwk(key):  # type: ignore[arg-type]
                raise ValueError("the Verifier Attestation JWT does not hold the verifier's key (cnf.jwk)")
            self.attestation, self._sub = attestation, body["sub"]
        self.verifier_info = check_verifier_info(list(verifier_info), None) if verifier_info else ()
        if any(p not in (X509_SAN_DNS, X509_HASH) for _, _, p in co_signers):
            raise ValueError(f"a co-signer's prefix is {X509_SAN_DNS} or {X509_HASH}")
        for o in origins:
            if web_origin(o) != o:
                raise ValueError(f"{o[:64]!r} is not an origin (scheme://host[:port], lower case, no path)")
        self.key, self.chain, self.prefix = key, tuple(chain), prefix
        self.issuers, self.status, self.clock = issuers, status, clock
        self.path, self.ttl_s, self.redirect_uri = path.rstrip("/"), ttl_s, redirect_uri
        self.max_sessions, self.root_typs = max_sessions, root_typs
        self.base_url = base_url
        self.origins = tuple(origins)
        self.co_signers = tuple((k, tuple(c), p) for k, c, p in co_signers)
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
        if self.prefix == REDIRECT_URI:
            return f"{REDIRECT_URI}:{self.response_uri}"
        if self.prefix == DECENTRALIZED_IDENTIFIER:
            return f"{DECENTRALIZED_IDENTIFIER}:{self.did}"
        if self.prefix == VERIFIER_ATTESTATION:
            return f"{VERIFIER_ATTESTATION}:{self._sub}"
        return _signer_client_id(
            self.prefix, self.chain, (urlsplit(self.base_url or "").hostname or "").lower()
        )

    def expected_origins(self) -> tuple[str, ...]:
        """The origins a DC API response may come from (``expected_origins`` of its signed requests)."""
        if self.origins:
            return self.origins
        return (web_origin(self._base()),)

    # ---- requests

    def _session(
        self,
        credentials: Iterable[dict[str, Any]],
        transaction_data: Iterable[str],
        response_mode: str,
        method: str,
        verifier_info: Sequence[Mapping[str, Any]] | None = None,
    ) -> _Session:
        nonce, state, sid = _nonce(), _nonce(), _nonce()
        # a DC API presentation's audience is the origin it comes from: set when it arrives
        client_id = ORIGIN + ":" if response_mode in DC_MODES else self.client_id
        req = oid4vp.request(client_id, nonce, credentials, transaction_data)
        req = oid4vp.Request(req.client_id, nonce, req.credentials, req.transaction_data, response_mode)
        s = _Session(sid, state, nonce, req, response_mode, method, self.clock() + self.ttl_s)
        info = self.verifier_info if verifier_info is None else list(verifier_info)
        if info:
            s.verifier_info = check_verifier_info(list(info), [c["id"] for c in req.credentials])
        if response_mode in (DIRECT_POST_JWT, DC_API_JWT):
            s.enc_key, s.enc_kid = ec.generate_private_key(ec.SECP256R1()), _nonce()
        return s

    def _keep(self, s: _Session) -> None:
        with self._lock:
            self._sessions[s.id], self._by_state[s.state] = s, s.id
            if s.enc_kid is not None:
                self._by_kid[s.enc_kid] = s.id
            # the oldest first: past max_sessions, and those expired long enough that no result is
            # still to be read (kept ttl_s after their expiry)
            while len(self._sessions) > self.max_sessions or (
                self._sessions and next(iter(self._sessions.values())).exp + self.ttl_s < self.clock()
            ):
                self._forget(next(iter(self._sessions)))

    def authorization_request(
        self,
        credentials: Iterable[dict[str, Any]],
        transaction_data: Iterable[str] = (),
        *,
        response_mode: str = DIRECT_POST,
        request_uri_method: str = "get",
        verifier_info: Sequence[Mapping[str, Any]] | None = None,
    ) -> AuthorizationRequest:
        """A new session and what the wallet is given for it (by reference; by value for a
        ``redirect_uri`` verifier); `verifier_info` replaces the verifier's own for it."""
        if response_mode not in RESPONSE_MODES:
            raise ResponseModeError(f"the response mode is one of {RESPONSE_MODES}")
        if request_uri_method not in ("get", "post"):
            raise RequestUriError("request_uri_method is get or post")
        s = self._session(credentials, transaction_data, response_mode, request_uri_method, verifier_info)
        self._keep(s)
        if self.prefix == REDIRECT_URI:  # unsigned: by value
            claims = self._claims(s, None, None)
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
            return AuthorizationRequest(params, s.state)
        params = {"client_id": self.client_id, "request_uri": f"{self._base()}/request/{s.id}"}
        if request_uri_method == "post":
            params["request_uri_method"] = "post"
        return AuthorizationRequest(params, s.state)

    def _forget(self, sid: str) -> None:
        s = self._sessions.pop(sid)
        self._by_state.pop(s.state, None)
        if s.enc_kid is not None:
            self._by_kid.pop(s.enc_kid, None)

    def _metadata(self, s: _Session, encs: Sequence[str] = tuple(ENCS)) -> dict[str, Any]:
        meta: dict[str, Any] = {"vp_formats_supported": {oid4vp.FORMAT: {"sd-jwt_alg_values": [sdjwt.ALG]}}}
        if s.enc_key is not None:
            jwk = sdjwt.jwk(s.enc_key) | {"use": "enc", "alg": ECDH_ES, "kid": s.enc_kid}
            meta |= {"jwks": {"keys": [jwk]}, "encrypted_response_enc_values_supported": list(encs)}
        return meta

    def _claims(
        self, s: _Session, aud: str | None, wallet_nonce: str | None, encs: Sequence[str] = tuple(ENCS)
    ) -> dict[str, Any]:
        claims = s.request.to_dict() | {
            "response_uri": self.response_uri,
            "state": s.state,
            "client_metadata": self._metadata(s, encs),
        }
        if s.verifier_info:
            claims["verifier_info"] = [dict(e) for e in s.verifier_info]
        if aud is not None:
            now = int(self.clock())
            claims |= {"iss": self.client_id, "aud": aud, "iat": now, "exp": int(s.exp)}
        return claims | ({} if wallet_nonce is None else {"wallet_nonce": wallet_nonce})

    def _x5c(self, chain: Sequence[x509.Certificate]) -> list[str]:
        return [base64.b64encode(pki.der(c)).decode() for c in chain]

    def _jose(self) -> dict[str, Any]:
        """The JOSE header of its Request Objects: what binds the signing key to its client_id."""
        if self.prefix == DECENTRALIZED_IDENTIFIER:
            return {"typ": TYP, "kid": self.kid}
        if self.prefix == VERIFIER_ATTESTATION:
            return {"typ": TYP, "jwt": self.attestation}
        return {"typ": TYP, "x5c": self._x5c(self.chain)}

    def request_object(
        self, sid: str, wallet_metadata: Mapping[str, Any] | None = None, wallet_nonce: str | None = None
    ) -> str:
        """The signed Request Object of session `sid`, nested in a JWE to the wallet's key when
        its `wallet_metadata` carries ``jwks`` (ResponseStateError when there is no such pending
        session, WalletMetadataError for metadata it cannot satisfy)."""
        s = self._pending(self._sessions.get(sid))
        if self.key is None or s.dc_request is not None:
            raise AuthorizationRequestError("this request is not passed by reference")
        meta = wallet_metadata or {}
        if wallet_nonce is not None:
            _check_wallet_nonce(wallet_nonce)
        signing = _strings(meta, "request_object_signing_alg_values_supported")
        alg = dids.jws_alg(self.key)
        if signing is not None and alg not in signing:
            raise WalletMetadataError(f"the wallet takes no Request Object signed {alg} (only {signing[:8]})")
        sealed = _wallet_key(meta)
        encs = _response_encs(meta) if s.response_mode == DIRECT_POST_JWT else list(ENCS)
        iss = meta.get("issuer")
        aud = iss if isinstance(iss, str) and iss else STATIC_AUD
        token = dids.sign_jws(self.key, self._jose(), self._claims(s, aud, wallet_nonce, encs))
        if sealed is None:
            return token
        public, kid, enc = sealed
        return encrypt_request_object(token, public, kid, enc)

    def _pending(self, s: _Session | None) -> _Session:
        if s is None:
            raise ResponseStateError("no request of this verifier has this state (or id)")
        if s.answered:
            raise ResponseStateError("this request was already answered: a response is taken once")
        if self.clock() >= s.exp:
            raise ResponseStateError("this request has expired")
        return s

    # ---- the Digital Credentials API (OpenID4VP 1.0 Appendix A)

    def dc_api_request(
        self,
        credentials: Iterable[dict[str, Any]],
        transaction_data: Iterable[str] = (),
        *,
        response_mode: str = DC_API,
        protocol: str = SIGNED,
        verifier_info: Sequence[Mapping[str, Any]] | None = None,
    ) -> DcApiRequest:
        """A new session and the request a page hands the browser's Digital Credentials API:
        unsigned (the parameters as they are, no ``client_id``), signed (``request``: a Request
        Object with ``client_id`` and ``expected_origins``) or multi-signed (``request``: a JWS JSON
        serialization, one signature per client identifier, each in its protected header)."""
        if response_mode not in DC_MODES:
            raise ResponseModeError(f"a DC API response mode is one of {DC_MODES}")
        if protocol not in PROTOCOLS:
            raise DcApiProtocolError(f"the protocol is one of {PROTOCOLS}")
        if protocol != UNSIGNED and (self.key is None or self.prefix == REDIRECT_URI):
            raise DcApiProtocolError(
                "a verifier without a signing key (or named by redirect_uri:) makes unsigned requests only"
            )
        s = self._session(credentials, transaction_data, response_mode, "dc_api", verifier_info)
        params = s.request.to_dict() | {"client_metadata": self._metadata(s)}
        if s.verifier_info:
            params["verifier_info"] = [dict(e) for e in s.verifier_info]
        del params["client_id"]
        now = int(self.clock())
        signed = params | {"expected_origins": list(self.expected_origins()), "iat": now, "exp": int(s.exp)}
        if protocol == UNSIGNED:
            data: dict[str, Any] = params
        elif protocol == SIGNED:
            assert self.key is not None
            data = {"request": dids.sign_jws(self.key, self._jose(), signed | {"client_id": self.client_id})}
        else:
            assert self.key is not None
            host = (urlsplit(self.base_url or "").hostname or "").lower()
            signatures, payload = [], ""
            headers = [(self.key, self._jose() | {"client_id": self.client_id})] + [
                (
                    key,
                    {
                        "typ": TYP,
                        "x5c": self._x5c(chain),
                        "client_id": _signer_client_id(prefix, chain, host),
                    },
                )
                for key, chain, prefix in self.co_signers
            ]
            for key, header in headers:
                protected, payload, sig = dids.sign_jws(key, header, signed).split(".")
                signatures.append({"protected": protected, "signature": sig})
            data = {"request": {"payload": payload, "signatures": signatures}}
        s.dc_request = {"protocol": protocol, "data": data}
        self._keep(s)
        return DcApiRequest(s.id, s.state, protocol, data)

    def dc_api_response(self, sid: str, origin: Any, response: Any) -> dict[str, Any]:
        """Take what the page posts back for DC API session `sid`: the ``DigitalCredential``'s
        ``{protocol, data}`` and the `origin` it was posted from (the browser's ``Origin``). The
        verified presentations are then :meth:`result` of the session's state."""
        with self._lock:
            s = self._pending(self._sessions.get(sid))
        if s.dc_request is None:
            raise ResponseModeError("this request was not made for the Digital Credentials API")
        if not isinstance(origin, str) or origin not in self.expected_origins():
            raise OriginError(f"the origin {str(origin)[:128]!r} is not one this verifier serves")
        if not isinstance(response, dict) or not isinstance(response.get("data"), dict):
            raise AuthorizationResponseError("a DC API response is {protocol, data: {...}}")
        if response.get("protocol") != s.dc_request["protocol"]:
            raise DcApiProtocolError(
                f"the response's protocol is not the request's, {s.dc_request['protocol']}"
            )
        data = response["data"]
        if "error" in data:
            raise AuthorizationResponseError(
                f"the wallet answered {str(data['error'])[:64]}: {str(data.get('error_description'))[:200]}"
            )
        if s.response_mode == DC_API_JWT:
            if "response" not in data:
                raise ResponseModeError("the request asked for dc_api.jwt: a plain response is refused")
            assert s.enc_key is not None
            if jwe_kid(data["response"]) != s.enc_kid:
                raise AuthorizationResponseError(
                    "the response is encrypted to another key than this request's"
                )
            fields = decrypt(data["response"], s.enc_key)
        elif "response" in data:
            raise ResponseModeError("an encrypted response to a request for dc_api")
        else:
            fields = data
        vp = fields.get("vp_token")
        if not isinstance(vp, dict):
            raise AuthorizationResponseError("the response carries no vp_token object")
        aud = f"{ORIGIN}:{origin}"
        for answers in vp.values():
            for text in answers if isinstance(answers, list) else []:
                bound = _kb_aud(text)
                if isinstance(bound, str) and bound != aud:
                    raise OriginError(f"a presentation is bound to {bound[:128]!r}, not {aud!r}")
        self._settle(s, dataclasses.replace(s.request, client_id=aud), vp, None)
        return {}

    # ---- responses

    def _settle(self, s: _Session, req: oid4vp.Request, vp: Any, response_code: str | None) -> None:
        """Verify the presentations answering `s` (for `req`: its audience) and close it."""
        result = oid4vp.verify_response(
            req,
            vp,
            self.issuers,
            now=self.clock(),
            status=None if self.status is None else self.status.check,
            root_typs=self.root_typs,
        )
        with self._lock:
            self._pending(s)  # answered meanwhile: the second one loses
            s.answered, s.result, s.response_code = True, result, response_code

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
        self._settle(s, s.request, vp, _nonce())
        if self.redirect_uri is None:
            return {}
        return {"redirect_uri": f"{self.redirect_uri}#response_code={s.response_code}"}

    def result(self, state: str, response_code: str | None = None) -> dict[str, oid4vp.Presented]:
        """The verified presentations of the answered session `state` (with `response_code`, the
        one its redirect carried, when the verifier redirects; a DC API response has none: the page
        that posted it is the one its origin binds)."""
        with self._lock:
            s = self._sessions.get(self._by_state.get(state, ""))
        if s is None or s.result is None:
            raise ResponseStateError("no answered request has this state")
        if self.redirect_uri is not None and s.dc_request is None and response_code != s.response_code:
            raise ResponseStateError("the response_code is not the one this response was answered with")
        return s.result

    # ---- HTTP

    def app(self) -> Starlette:
        """``GET``/``POST {path}/request/{id}`` and ``POST {path}/response``; for the Digital
        Credentials API, ``GET {path}/dc_api/request/{id}`` (``{"digital": {"requests": [...]}}``,
        what the page hands ``navigator.credentials.get``) and ``POST {path}/dc_api/response/{id}``
        (JSON: the ``DigitalCredential``'s ``{protocol, data}``; the browser's ``Origin`` header
        names the origin)."""

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
                    wallet_nonce = f.get("wallet_nonce")
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

        async def dc_request(request: HTTPRequest) -> Response:
            with self._lock:
                s = self._sessions.get(request.path_params["sid"])
            try:
                if s is None or s.dc_request is None:
                    raise HTTPError(404, "no such DC API request")
                self._pending(s)
            except (HTTPError, SdJwtError) as exc:
                return refusal(exc, 404)
            return JSONResponse(
                {"digital": {"requests": [s.dc_request]}}, headers={"Cache-Control": "no-store"}
            )

        async def dc_response(request: HTTPRequest) -> Response:
            try:
                ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if ctype != "application/json":
                    raise HTTPError(415, "the body is application/json")
                try:
                    body = json.loads(await read_body(request, MAX_FORM))
                except (ValueError, RecursionError):
                    raise HTTPError(400, "the body is not JSON") from None
                origin = request.headers.get("origin")
                answer = self.dc_api_response(request.path_params["sid"], origin, body)
            except (HTTPError, SdJwtError) as exc:
                return refusal(exc)
            return JSONResponse(answer, headers={"Cache-Control": "no-store"})

        return Starlette(
            routes=[
                Route(self.path + "/request/{sid}", request_object, methods=["GET", "POST"]),
                Route(self.path + "/response", response, methods=["POST"]),
                Route(self.path + "/dc_api/request/{sid}", dc_request, methods=["GET"]),
                Route(self.path + "/dc_api/response/{sid}", dc_response, methods=["POST"]),
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
    to answer (a DC API request has no ``response_uri`` nor ``state``: both empty; its answer goes
    back through the API)."""

    claims: dict[str, Any]
    request: oid4vp.Request
    response_uri: str
    response_mode: str
    state: str
    certificate: x509.Certificate | None
    verifier_attestation: dict[str, Any] | None = None  # the checked Verifier Attestation JWT's claims
    did_url: str | None = None  # the DID URL of a decentralized_identifier: request's key
    verifier_info: tuple[dict[str, Any], ...] = ()  # checked for shape, not interpreted


@dataclass(frozen=True)
class Signer:
    """The key a Request Object was verified with, and what bound it to the client_id: a
    certificate (``x509_*``), a DID URL (``decentralized_identifier``) or a Verifier Attestation
    JWT's claims (``verifier_attestation``)."""

    key: dids.PublicKey
    certificate: x509.Certificate | None = None
    did_url: str | None = None
    attestation: dict[str, Any] | None = None


def _resolved(
    claims: dict[str, Any], req: oid4vp.Request, uri: str, mode: str, state: str, signer: Signer | None
) -> Resolved:
    """The verified request, its ``verifier_info`` checked against its DCQL query ids."""
    info = ()
    if "verifier_info" in claims:
        info = check_verifier_info(claims["verifier_info"], [c["id"] for c in req.credentials])
    if signer is None:
        return Resolved(claims, req, uri, mode, state, None, verifier_info=info)
    return Resolved(
        claims, req, uri, mode, state, signer.certificate, signer.attestation, signer.did_url, info
    )


@dataclass
class Wallet:
    """A wallet holding `held`, trusting verifiers whose certificates chain to `trust` (pinned
    roots), fetching with `fetcher`; `issuer` is its own identifier (``aud`` of the Request
    Objects it fetches with POST); Request Objects living longer than `max_lifetime_s` are refused.
    With `encrypt_requests` it asks, when it fetches with POST, for the Request Object encrypted to
    a fresh key of its own (``jwks`` in its metadata, `request_encs` its content encryption
    methods) and refuses a plain one; `response_encs` are the response encryption methods it
    names; `require_signed` refuses unsigned Digital Credentials API requests. `attesters` are the
    issuers of Verifier Attestation JWTs it trusts (``iss`` -> a P-256 public key, a ``kid`` -> key
    map, or a certificate whose key it is, used within its validity): a ``verifier_attestation:``
    request whose attestation none of them signed is refused."""

    held: Sequence[Held]
    trust: pki.TrustStore
    fetcher: Fetcher = field(default_factory=lambda: Fetcher(max_bytes=64 * 1024))
    clock: Callable[[], float] = time.time
    issuer: str | None = None
    prefixes: tuple[str, ...] = PREFIXES
    max_lifetime_s: float = 3600.0
    encrypt_requests: bool = False
    request_encs: tuple[str, ...] = tuple(ENCS)
    response_encs: tuple[str, ...] = tuple(ENCS)
    require_signed: bool = False
    attesters: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self, jwk: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``wallet_metadata`` it sends with ``request_uri_method=post`` (with `jwk`, its
        Request Object encryption key, and the algorithms for it)."""
        meta: dict[str, Any] = {
            "vp_formats_supported": {oid4vp.FORMAT: {"sd-jwt_alg_values": [sdjwt.ALG]}},
            "client_id_prefixes_supported": list(self.prefixes),
            "request_object_signing_alg_values_supported": list(
                dids.ALGS if DECENTRALIZED_IDENTIFIER in self.prefixes else [sdjwt.ALG]
            ),
            "response_modes_supported": list(RESPONSE_MODES),
            "authorization_encryption_alg_values_supported": [ECDH_ES],
            "authorization_encryption_enc_values_supported": list(self.response_encs),
        }
        if jwk is not None:
            meta |= {
                "jwks": {"keys": [dict(jwk)]},
                "request_object_encryption_alg_values_supported": [ECDH_ES],
                "request_object_encryption_enc_values_supported": list(self.request_encs),
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
        signer = None
        if prefix == REDIRECT_URI:
            if "request" in params or "request_uri" in params:
                raise ClientIdError("a redirect_uri: request cannot be signed: it is passed by value only")
            claims = self._by_value(params)
        else:
            if "request" in params and "request_uri" in params:
                raise AuthorizationRequestError("a request has request or request_uri, not both")
            if "request" in params:
                token, wallet_nonce = self._unseal(params["request"], None, None), None
            else:
                token, wallet_nonce = self._fetch(params)
            # `iss`, when present, is ignored (OpenID4VP 1.0: the client_id and its prefix identify the
            # Verifier); the signature is bound to the client_id through the prefix instead
            claims, signer, _ = self._verify_jar(token, now, wallet_nonce, client_id)
            self._times(claims, now)
        return self._checked(prefix, value, claims, signer)

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
        for k in ("dcql_query", "transaction_data", "client_metadata", "verifier_info"):
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
        form, wallet_nonce, key, kid = None, None, None, None
        if method == "post":
            wallet_nonce, jwk = _nonce(), None
            if self.encrypt_requests:  # a fresh key for this Request Object alone
                key, kid = ec.generate_private_key(ec.SECP256R1()), _nonce()
                jwk = sdjwt.jwk(key) | {"use": "enc", "alg": ECDH_ES, "kid": kid}
            form = {"wallet_metadata": json.dumps(self.metadata(jwk)), "wallet_nonce": wallet_nonce}
        got = self.fetcher.fetch(
            uri, MEDIA_TYPE, RequestUriError, form=form, refused=RequestUriError, too_large=RequestUriError
        )
        if got.content_type != MEDIA_TYPE:
            raise RequestObjectTypeError(
                f"the request_uri answered {got.content_type[:64]!r}, not {MEDIA_TYPE}"
            )
        try:
            body = got.body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise RequestObjectSignatureError("the Request Object is no compact JWS") from None
        return self._unseal(body, key, kid), wallet_nonce

    def _unseal(self, token: str, key: ec.EllipticCurvePrivateKey | None, kid: str | None) -> str:
        """The signed Request Object, out of the JWE it asked for with `key` (RFC 9101 section
        6.1; RequestObjectEncryptionError, OAuth's ``invalid_request_object``)."""
        jwe = token.count(".") == 4
        if key is None:
            if jwe:
                raise RequestObjectEncryptionError("an encrypted Request Object this wallet gave no key for")
            return token
        if not jwe:
            raise RequestObjectEncryptionError(
                "this wallet asked for an encrypted Request Object: a plain one is refused"
            )
        header = _jwe_header(token, RequestObjectEncryptionError)
        if header.get("kid", kid) != kid:
            raise RequestObjectEncryptionError(
                "the Request Object is encrypted to another key than this wallet's"
            )
        cty = header.get("cty")
        if not isinstance(cty, str) or cty.lower() not in (NESTED_CTY.lower(), TYP, MEDIA_TYPE):
            raise RequestObjectEncryptionError(f"the JWE's cty {str(cty)[:64]!r} names no nested JWT")
        _, clear = _open(token, key, RequestObjectEncryptionError)
        try:
            return clear.decode("ascii")
        except UnicodeDecodeError:
            raise RequestObjectEncryptionError("the decrypted Request Object is no compact JWS") from None

    def _verify_jar(
        self,
        token: str,
        now: float,
        wallet_nonce: str | None,
        client_id: str,
        dc: bool = False,
        given: bool = True,
    ) -> tuple[dict[str, Any], Signer, dict[str, Any]]:
        """The claims of the Request Object `token` signed by `client_id` (its prefix names where the
        key comes from and how it is bound), the signer and the JOSE header; with `given`, the
        Request Object's own ``client_id`` must be `client_id`."""
        try:
            header = sdjwt.jwt_header(token, "Request Object")
        except SdJwtError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        prefix, value = _prefix(client_id)
        # a DID's key signs with its own algorithm; a certificate's or an attestation's, ES256
        algs = dids.ALGS if prefix == DECENTRALIZED_IDENTIFIER else (sdjwt.ALG,)
        if header.get("alg") not in algs:
            raise RequestObjectSignatureError(
                f"the Request Object must be signed {' or '.join(algs)}, not {header.get('alg')!r}"
            )
        if header.get("typ") != TYP:
            raise RequestObjectTypeError(f"the Request Object's typ is {header.get('typ')!r}, not {TYP}")
        signer = self._signer(prefix, value, header, now)
        try:
            claims = dids.verify_jws(token, signer.key, TYP, "Request Object")
        except SdJwtError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        if given and claims.get("client_id") != client_id:
            raise ClientIdError("the Request Object's client_id is not the one the wallet was given")
        self._bind(prefix, value, signer)
        if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:
            raise WalletNonceError("the Request Object does not carry the wallet_nonce this wallet sent")
        aud = claims.get("aud")
        if (aud is not None or not dc) and aud != STATIC_AUD and (self.issuer is None or aud != self.issuer):
            raise WalletNonceError(f"the Request Object is for audience {str(aud)[:128]!r}, not this wallet")
        return claims, signer, header

    def _signer(self, prefix: str, value: str, header: Mapping[str, Any], now: float) -> Signer:
        """The key that is to have signed a request of client identifier `prefix`:`value`: the
        ``x5c`` leaf (chained to a pinned root), the DID document's method the ``kid`` names, or
        the ``cnf`` key of the Verifier Attestation JWT in ``jwt``."""
        if prefix == DECENTRALIZED_IDENTIFIER:
            key = dids.signing_key(value, header.get("kid"))
            if dids.jws_alg(key) != header.get("alg"):
                raise DidKeyError(
                    f"the kid {str(header.get('kid'))[:96]!r} names a {dids.jws_alg(key)} key,"
                    f" the request is signed {str(header.get('alg'))[:16]}"
                )
            return Signer(key, did_url=header["kid"])
        if prefix == VERIFIER_ATTESTATION:
            att = self._attestation(header.get("jwt"), value, now)
            return Signer(sdjwt.key_of(att["cnf"]["jwk"]), attestation=att)
        if prefix not in X509_PREFIXES:
            raise ClientIdError(f"a {prefix} request cannot be signed")
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
        return Signer(leaf, certificate=certs[0])

    def _attester_key(self, iss: Any, header: Mapping[str, Any], now: float) -> ec.EllipticCurvePublicKey:
        found = self.attesters.get(iss) if isinstance(iss, str) else None
        if isinstance(found, x509.Certificate):
            if (
                not found.not_valid_before_utc
                <= datetime.fromtimestamp(now, tz=UTC)
                <= found.not_valid_after_utc
            ):
                raise VerifierAttestationIssuerError(f"the attester {iss!r}'s certificate is not valid now")
            found = found.public_key()
        try:
            return sdjwt.trusted_key(
                {} if found is None else {iss: found}, iss, header, "Verifier Attestation JWT"
            )
        except SdJwtIssuerError as exc:
            raise VerifierAttestationIssuerError(str(exc)) from None

    def _attestation(self, token: Any, sub: str, now: float) -> dict[str, Any]:
        """The claims of the Verifier Attestation JWT `token` (the request's ``jwt`` header) once it
        is checked: its type, a trusted attester's signature, ``sub`` = `sub`, its validity at
        `now`, a ``cnf.jwk`` and ``redirect_uris`` when present (a typed error for each)."""
        what = "Verifier Attestation JWT"
        if not isinstance(token, str):
            raise VerifierAttestationError(
                f"a {VERIFIER_ATTESTATION}: request carries its {what} in the jwt header"
            )
        try:
            header, payload = sdjwt.jwt_header(token, what), sdjwt.jwt_payload(token, what)
        except SdJwtError as exc:
            raise VerifierAttestationError(str(exc)) from None
        if header.get("typ") != VA_TYP or header.get("alg") != sdjwt.ALG:
            raise VerifierAttestationTypeError(
                f"the {what} has typ {str(header.get('typ'))[:64]!r} and alg {str(header.get('alg'))[:16]!r},"
                f" not {VA_TYP} and {sdjwt.ALG}"
            )
        if not isinstance(payload.get("iss"), str) or not payload["iss"]:
            raise VerifierAttestationIssuerError(f"the {what} names no issuer (iss)")
        key = self._attester_key(payload["iss"], header, now)
        try:
            claims = sdjwt.verify_jwt(token, key, VA_TYP, what)
        except SdJwtError as exc:
            raise VerifierAttestationSignatureError(str(exc)) from None
        if claims.get("sub") != sub:
            raise VerifierAttestationSubjectError(
                f"the {what}'s sub {str(claims.get('sub'))[:128]!r} is not the client_id's {sub[:128]!r}"
            )
        exp, iat, nbf = (claims.get(k) for k in ("exp", "iat", "nbf"))

        def numeric(v: Any) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool)

        if not numeric(exp):
            raise VerifierAttestationExpiredError(f"the {what} names no expiry (exp)")
        if not all(v is None or numeric(v) for v in (iat, nbf)):
            raise VerifierAttestationError(f"the {what}'s iat and nbf are times in seconds")
        if now >= exp:
            raise VerifierAttestationExpiredError(f"the {what} expired at {exp}")
        if iat is not None and iat > now + LEEWAY_S:
            raise VerifierAttestationNotYetValidError(f"the {what} was issued at {iat}, in the future")
        if iat is not None and exp <= iat:
            raise VerifierAttestationNotYetValidError(
                f"the {what} expires ({exp}) before it was issued ({iat})"
            )
        if nbf is not None and nbf > now + LEEWAY_S:
            raise VerifierAttestationNotYetValidError(f"the {what} is valid from {nbf} only")
        cnf = claims.get("cnf")
        try:
            sdjwt.key_of(cnf.get("jwk") if isinstance(cnf, dict) else None)
        except SdJwtError as exc:
            raise VerifierAttestationKeyError(f"the {what} binds no P-256 key (cnf.jwk): {exc}") from None
        uris = claims.get("redirect_uris")
        if uris is not None and (
            not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris)
        ):
            raise VerifierAttestationRedirectError(f"the {what}'s redirect_uris is a non-empty list of URIs")
        return claims

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

    def _bind(self, prefix: str, value: str, signer: Signer) -> None:
        """The x509 prefixes' binding of the certificate to the client_id (the others' keys are
        found through the client_id itself: the DID's document, the attestation's ``sub``)."""
        cert = signer.certificate
        if prefix == X509_SAN_DNS and (cert is None or value.lower() not in _dns_names(cert)):
            raise ClientIdError(f"the verifier's certificate does not name {value[:128]!r} (dNSName)")
        if prefix == X509_HASH and (cert is None or value != _x5c_hash(cert)):
            raise ClientIdError("the verifier's certificate is not the one x509_hash names")

    def _checked(self, prefix: str, value: str, claims: dict[str, Any], signer: Signer | None) -> Resolved:
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
        att = None if signer is None else signer.attestation
        if att is not None and "redirect_uris" in att and uri not in att["redirect_uris"]:
            raise VerifierAttestationRedirectError(
                f"the response_uri {uri[:128]!r} is not one of the Verifier Attestation JWT's redirect_uris"
            )
        state = claims.get("state")
        if not isinstance(state, str) or not state:
            raise AuthorizationRequestError("the request carries no state")
        req = oid4vp.Request.from_dict(claims)
        return _resolved(claims, req, uri, mode, state, signer)

    # ---- the Digital Credentials API (OpenID4VP 1.0 Appendix A)

    def resolve_dc_api(self, request: Mapping[str, Any], origin: str) -> Resolved:
        """A Digital Credentials API request (``{protocol, data}``, one entry of
        ``digital.requests``) as the platform hands it, with the `origin` of the page that made it,
        verified; its presentations are to be bound to ``origin:<origin>`` (typed errors)."""
        if not isinstance(request, Mapping):
            raise DcApiProtocolError("a DC API request is {protocol, data}")
        protocol, data = request.get("protocol"), request.get("data")
        if protocol not in PROTOCOLS:
            raise DcApiProtocolError(f"the protocol {str(protocol)[:64]!r} is not one of {PROTOCOLS}")
        if not isinstance(data, dict):
            raise DcApiProtocolError("a DC API request's data is an object")
        if not isinstance(origin, str) or not origin:
            raise OriginError("the platform named no origin")
        now, signer = self.clock(), None
        if protocol == UNSIGNED:
            if self.require_signed:
                raise DcApiProtocolError("an unsigned request: this wallet takes signed ones only")
            if "request" in data:
                raise DcApiProtocolError(
                    f"an {UNSIGNED} request carries its parameters, not a request object"
                )
            # an unsigned request's client_id and expected_origins prove nothing: ignored (A.2)
            claims = {k: v for k, v in data.items() if k not in ("client_id", "expected_origins")}
        else:
            carried = data.get("request") if set(data) == {"request"} else None
            if protocol == MULTISIGNED and set(data) == {"payload", "signatures"}:
                carried = data  # the JWS JSON object as data itself, as Appendix A's example shows it
            if protocol == SIGNED and isinstance(carried, str):
                claims, signer = self._dc_signed(carried, now)
            elif protocol == MULTISIGNED and isinstance(carried, dict):
                claims, signer = self._dc_multisigned(carried, now)
            else:
                form = "compact JWS" if protocol == SIGNED else "JWS JSON serialization"
                raise DcApiProtocolError(f"an {protocol} request's data is {{request: <{form}>}} alone")
            self._times(claims, now)
            expected = claims.get("expected_origins")
            if (
                not isinstance(expected, list)
                or not expected
                or not all(isinstance(o, str) for o in expected)
            ):
                raise OriginError("a signed DC API request names its expected_origins (strings)")
            if origin not in expected:  # simple string comparison (A.2)
                raise OriginError(
                    f"the request was made from {origin[:128]!r}, not one of its expected_origins"
                )
        mode = claims.get("response_mode")
        if mode not in DC_MODES:
            raise ResponseModeError(
                f"a DC API request's response_mode is one of {DC_MODES}, not {str(mode)[:32]!r}"
            )
        req = oid4vp.Request.from_dict(claims | {"client_id": f"{ORIGIN}:{origin}"})
        return _resolved(claims, req, "", mode, "", signer)

    def _dc_client(self, client_id: Any) -> str:
        """`client_id` when this wallet takes signed DC API requests of its prefix."""
        if isinstance(client_id, str) and client_id.startswith(ORIGIN + ":"):
            raise OriginError("the origin: client identifier prefix is reserved: no request may name it")
        prefix, _ = _prefix(client_id)
        if prefix not in self.prefixes or prefix == REDIRECT_URI:
            raise ClientIdError(f"this wallet does not take signed requests of the {prefix} prefix")
        return client_id

    def _dc_signed(self, token: str, now: float) -> tuple[dict[str, Any], Signer]:
        token = self._unseal(token, None, None)
        try:
            named = sdjwt.jwt_payload(token, "Request Object").get("client_id")
        except SdJwtError as exc:
            raise RequestObjectSignatureError(str(exc)) from None
        claims, signer, _ = self._verify_jar(token, now, None, self._dc_client(named), dc=True)
        return claims, signer

    def _dc_multisigned(self, jws: Mapping[str, Any], now: float) -> tuple[dict[str, Any], Signer]:
        """The payload of a JWS JSON serialization once one of its signatures verifies for this
        wallet (a client identifier it takes, in that signature's protected header)."""
        payload, sigs = jws.get("payload"), jws.get("signatures")
        if not isinstance(payload, str) or not isinstance(sigs, list) or not 0 < len(sigs) <= 8:
            raise DcApiProtocolError("a multi-signed request is {payload, signatures: [1 to 8]}")
        refused = []
        for sig in sigs:
            if (
                not isinstance(sig, dict)
                or set(sig) != {"protected", "signature"}
                or not all(isinstance(v, str) for v in sig.values())
            ):
                raise DcApiProtocolError("each signature of a multi-signed request is {protected, signature}")
            compact = f"{sig['protected']}.{payload}.{sig['signature']}"
            try:
                try:
                    named = sdjwt.jwt_header(compact, "Request Object").get("client_id")
                except SdJwtError as exc:
                    raise RequestObjectSignatureError(str(exc)) from None
                client_id = self._dc_client(named)
                claims, signer, _ = self._verify_jar(compact, now, None, client_id, dc=True, given=False)
            except AuthorizationRequestError as exc:  # one this wallet cannot use: try the next
                refused.append(str(exc)[:120])
                continue
            if "client_id" in claims:
                raise DcApiProtocolError("a multi-signed request names client_id in protected headers only")
            return claims | {"client_id": client_id}, signer
        raise DcApiProtocolError(
            f"no signature of the multi-signed request verifies for this wallet: {refused[:3]}"
        )

    def dc_api(self, request: Mapping[str, Any], origin: str) -> dict[str, Any]:
        """Answer a Digital Credentials API request made from `origin`: the ``data`` of the
        ``DigitalCredential`` it returns (``{vp_token}``, or ``{response}`` encrypted for
        ``dc_api.jwt``). Refusals typed; :func:`dc_api_error` is the data the wallet returns instead."""
        r = self.resolve_dc_api(request, origin)
        vp = oid4vp.respond(r.request, self.match(r.request), iat=int(self.clock()))
        if r.response_mode == DC_API:
            return {"vp_token": vp}
        return {"response": self._encrypt({"vp_token": vp}, r.claims)}

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


def dc_api_error(exc: Exception) -> dict[str, str]:
    """The ``data`` a wallet returns through the DC API for a request it refuses (its error code
    alone: OpenID4VP 1.0 A.4 and the privacy considerations on DC API errors)."""
    if isinstance(exc, DcqlUnmatchedError):
        return {"error": "access_denied"}
    if isinstance(exc, TransactionDataError):
        return {"error": "invalid_transaction_data"}
    return {"error": "invalid_request"}


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
