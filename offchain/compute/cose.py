"""COSE_Sign1 (RFC 9052 §4.2) over the strict CBOR of :mod:`offchain.compute.cbor`: the one place
that parses, builds and verifies single-signer COSE messages — AWS Nitro attestation documents
(nitro.py, ES384) and CWT Status List Tokens and Referenced Tokens (agent/status_list.py, ES256).

A message is ``[protected (bstr of a header map), unprotected (map), payload (bstr), signature
(bstr)]``, tagged 18 (``COSE_Sign1_Tagged``) or untagged; the signature is ECDSA ``r || s`` over
the ``Sig_structure`` ``["Signature1", protected, external_aad, payload]``. Callers pick the
error class every refusal raises, so each component keeps its own typed errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from offchain.compute import cbor
from offchain.compute.errors import CBORError

SIGN1_TAG = 18
MAC0_TAG = 17
CWT_TAG = 61
# header labels (RFC 9052 §3.1; typ: RFC 9596)
ALG, CRIT, CTY, KID, TYP = 1, 2, 3, 4, 16
ES256, ES384 = -7, -35
_CURVES = {ES256: ("secp256r1", hashes.SHA256, 32), ES384: ("secp384r1", hashes.SHA384, 48)}


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1: the protected header as sent (bytes, what the signature covers) and
    decoded, the unprotected header, the payload and the raw signature."""

    protected: bytes
    header: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes
    tagged: bool

    def param(self, label: int) -> Any:
        """A header parameter, protected first (RFC 9052 §3: a label is in one bucket only)."""
        return self.header.get(label, self.unprotected.get(label))


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The COSE Sig_structure a COSE_Sign1 signature covers."""
    return cbor.dumps(["Signature1", protected, external_aad, payload])


def parse_sign1(raw: Any, error: type[Exception], *, require_tag: bool = False) -> Sign1:
    """A COSE_Sign1 (`error` for anything else: bad CBOR, another tag, a malformed array or header,
    a label in both buckets); with `require_tag`, tagged 18 only."""
    if not isinstance(raw, bytes | bytearray):
        raise error("a COSE_Sign1 message is bytes")
    try:
        outer = cbor.loads(bytes(raw))
    except CBORError as exc:
        if issubclass(CBORError, error):  # the caller's class already covers it: keep its type
            raise
        raise error(f"not CBOR: {exc}") from None
    tagged = isinstance(outer, cbor.Tag)
    if isinstance(outer, cbor.Tag):
        if outer.tag != SIGN1_TAG:
            raise error(f"CBOR tag {outer.tag} is not COSE_Sign1 ({SIGN1_TAG})")
        outer = outer.value
    elif require_tag:
        raise error(f"a COSE_Sign1_Tagged message (tag {SIGN1_TAG}) is required")
    if not isinstance(outer, list) or len(outer) != 4:
        raise error("COSE_Sign1 must be a 4-element array")
    protected, unprotected, payload, signature = outer
    if not isinstance(protected, bytes) or not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise error("COSE_Sign1 protected/payload/signature must be byte strings")
    if not isinstance(unprotected, dict):
        raise error("COSE_Sign1 unprotected header must be a map")
    try:
        header = cbor.loads(protected) if protected else {}
    except CBORError as exc:
        raise error(f"the protected header is not CBOR: {exc}") from None
    if not isinstance(header, dict):
        raise error("the protected header is not a map")
    both = set(header) & set(unprotected)
    if both:
        raise error(f"header labels {sorted(map(str, both))} are both protected and unprotected")
    return Sign1(protected, header, unprotected, payload, signature, tagged)


def _raw(key: ec.EllipticCurvePrivateKey, message: bytes, algo: hashes.HashAlgorithm, size: int) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(algo)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign1(
    key: ec.EllipticCurvePrivateKey,
    payload: bytes,
    protected: Mapping[int, Any],
    unprotected: Mapping[int, Any] | None = None,
    *,
    tag: bool = True,
) -> bytes:
    """A COSE_Sign1 of `payload` by `key` (P-256: ES256, P-384: ES384; ``alg`` set in the
    protected header), tagged 18 unless told otherwise."""
    alg = ES384 if key.curve.key_size == 384 else ES256
    _, algo, size = _CURVES[alg]
    prot = cbor.dumps({ALG: alg} | dict(protected))
    sig = _raw(key, sig_structure(prot, payload), algo(), size)
    msg = [prot, dict(unprotected or {}), payload, sig]
    return cbor.dumps(cbor.Tag(SIGN1_TAG, msg) if tag else msg)


def verify_sign1(msg: Sign1, key: ec.EllipticCurvePublicKey, error: type[Exception]) -> None:
    """`error` unless `msg` is signed by `key` with the algorithm its protected header names
    (ES256 on P-256, ES384 on P-384; a critical header parameter refuses it)."""
    alg = msg.header.get(ALG)
    if alg not in _CURVES:
        raise error(f"the COSE algorithm {alg!r} is not ES256 or ES384 (in the protected header)")
    if CRIT in msg.header:
        raise error("the COSE message names critical header parameters this verifier does not know")
    curve, algo, size = _CURVES[alg]
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
        raise error(f"the key is not the {curve} key {'ES256' if alg == ES256 else 'ES384'} needs")
    if len(msg.signature) != 2 * size:
        raise error(f"the COSE signature is not {2 * size} bytes (r || s)")
    der = encode_dss_signature(
        int.from_bytes(msg.signature[:size], "big"), int.from_bytes(msg.signature[size:], "big")
    )
    try:
        key.verify(der, sig_structure(msg.protected, msg.payload), ec.ECDSA(algo()))
    except InvalidSignature:
        raise error("the COSE signature does not verify") from None
