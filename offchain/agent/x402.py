"""x402 v2 messages: PaymentRequired, PaymentRequirements, PaymentPayload, the exact/upto EVM
payloads, VerifyResponse, SettleResponse, SupportedResponse, and the HTTP transport's headers.

Every parser is strict: a missing or mistyped field, an amount that is no decimal integer, an
address that is no 20-byte hex string, a header that is not base64 of one JSON object, is a
``PaymentPayloadError`` (``PaymentRequirementsError`` for requirements, ``PaymentVersionError`` for
a version other than 2). ``to_json`` gives the spec's camelCase JSON, amounts as decimal strings.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from eth_utils import is_hex_address, to_checksum_address

from offchain import abi
from offchain.agent.errors import (
    PaymentPayloadError,
    PaymentRequirementsError,
    PaymentVersionError,
    X402Error,
)
from offchain.chain.agent import (
    ESCROW_KIND_INFERENCE,
    ESCROW_KIND_TASK,
    ESCROW_KINDS,
    Authorization,
    escrow_nonce,
)

X402_VERSION = 2
# HTTP transport v2 header names.
PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
MAX_HEADER_BYTES = 16 * 1024
MAX_JSON_DEPTH = 16
UINT256_MAX = 2**256 - 1
SCHEMES = ("exact", "upto", "verified")
# Schemes whose payload carries the salt its EIP-3009 nonce is derived from.
SALTED = ("upto", "verified")


def caip2(chain_id: int) -> str:
    """The CAIP-2 network id of an EVM chain: ``eip155:<chain id>``."""
    return f"eip155:{chain_id}"


def chain_id_of(network: str, err: type[X402Error] = PaymentPayloadError) -> int:
    """The chain id of an ``eip155:<id>`` network (another namespace or a bad id -> `err`)."""
    ns, _, ref = network.partition(":")
    if ns != "eip155" or not ref.isdigit() or len(ref) > 20:
        raise err(f"network {network!r} is not an EVM CAIP-2 id (eip155:<chain id>)")
    return int(ref)


def _obj(v: Any, what: str, err: type[X402Error]) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise err(f"{what} must be a JSON object")
    return v


def _str(d: dict[str, Any], key: str, what: str, err: type[X402Error], optional: bool = False) -> Any:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise err(f"{what}.{key} must be a string")
    return v


def _amount(d: dict[str, Any], key: str, what: str, err: type[X402Error]) -> int:
    v = _str(d, key, what, err)
    if not v.isdigit() or len(v) > 78 or int(v) > UINT256_MAX:
        raise err(f"{what}.{key} must be a decimal integer string below 2^256: got {v[:80]!r}")
    return int(v)


def _address(d: dict[str, Any], key: str, what: str, err: type[X402Error]) -> str:
    v = _str(d, key, what, err)
    if not is_hex_address(v):
        raise err(f"{what}.{key} must be a 20-byte hex address: got {v[:80]!r}")
    return to_checksum_address(v)


def _nonempty(d: dict[str, Any], key: str, what: str, err: type[X402Error]) -> str:
    v = _str(d, key, what, err)
    if not v:
        raise err(f"{what}.{key} must be a non-empty string")
    return v


def _optional_obj(d: dict[str, Any], key: str, what: str, err: type[X402Error]) -> dict[str, Any]:
    """An optional JSON object field (absent or null: empty), copied."""
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise err(f"{what}.{key} must be a JSON object")
    return dict(v)


def _hexbytes(d: dict[str, Any], key: str, what: str, err: type[X402Error], size: int | None = None) -> bytes:
    v = _str(d, key, what, err)
    try:
        out = bytes.fromhex(v.removeprefix("0x"))
    except ValueError:
        raise err(f"{what}.{key} must be 0x-prefixed hex") from None
    if not v.startswith("0x") or (size is not None and len(out) != size):
        raise err(f"{what}.{key} must be 0x-prefixed hex{f' of {size} bytes' if size else ''}")
    return out


def _version(d: dict[str, Any], what: str) -> None:
    v = d.get("x402Version")
    if v != X402_VERSION or isinstance(v, bool):
        raise PaymentVersionError(f"{what}.x402Version must be {X402_VERSION}: got {v!r}")


@dataclass(frozen=True)
class ResourceInfo:
    url: str
    description: str | None = None
    mime_type: str | None = None

    @classmethod
    def from_json(cls, v: Any, err: type[X402Error] = PaymentPayloadError) -> ResourceInfo:
        d = _obj(v, "resource", err)
        return cls(
            _str(d, "url", "resource", err),
            _str(d, "description", "resource", err, optional=True),
            _str(d, "mimeType", "resource", err, optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url}
        if self.description is not None:
            out["description"] = self.description
        if self.mime_type is not None:
            out["mimeType"] = self.mime_type
        return out


@dataclass(frozen=True)
class PaymentRequirements:
    """One way to pay: `amount` atomic units of `asset` on `network` to `pay_to` (for ``upto``,
    the maximum; the charge is settled later), within `max_timeout_seconds`. `extra` carries the
    token's EIP-712 domain (name, version) and, for upto, the settler and facilitator."""

    scheme: str
    network: str
    amount: int
    asset: str
    pay_to: str
    max_timeout_seconds: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any, err: type[X402Error] = PaymentRequirementsError) -> PaymentRequirements:
        """An offer on an EVM network (``eip155:*``) names its asset and payee by 20-byte hex
        address (checksummed here); one on another network (a Solana mint, an ISO 4217 code, a
        role such as "merchant": x402 §5.1.2) keeps them as the non-empty strings given, so a 402
        offering several networks parses and a client picks the offer on its own."""
        what = "paymentRequirements"
        d = _obj(v, what, err)
        timeout = d.get("maxTimeoutSeconds")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 < timeout <= 86_400:
            raise err(f"{what}.maxTimeoutSeconds must be an integer in (0, 86400]: got {timeout!r}")
        extra = _optional_obj(d, "extra", what, err)
        network = _str(d, "network", what, err)
        field_of = _address if network.startswith("eip155:") else _nonempty
        return cls(
            _str(d, "scheme", what, err),
            network,
            _amount(d, "amount", what, err),
            field_of(d, "asset", what, err),
            field_of(d, "payTo", what, err),
            timeout,
            extra,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "network": self.network,
            "amount": str(self.amount),
            "asset": self.asset,
            "payTo": self.pay_to,
            "maxTimeoutSeconds": self.max_timeout_seconds,
            "extra": dict(self.extra),
        }

    def domain(self, err: type[X402Error] = PaymentRequirementsError) -> tuple[str, str]:
        """The token's EIP-712 (name, version) from `extra`."""
        name, version = self.extra.get("name"), self.extra.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise err("paymentRequirements.extra must name the token's EIP-712 name and version")
        return name, version

    def extra_address(self, key: str, err: type[X402Error] = PaymentRequirementsError) -> str:
        v = self.extra.get(key)
        if not isinstance(v, str) or not is_hex_address(v):
            raise err(f"paymentRequirements.extra.{key} must be a 20-byte hex address")
        return to_checksum_address(v)


# The requirements' ``extra`` key naming the work of each escrow kind.
ESCROW_REF_KEY = {ESCROW_KIND_TASK: "task", ESCROW_KIND_INFERENCE: "request"}


@dataclass(frozen=True)
class EscrowTerms:
    """What a ``verified`` payment is conditioned on (the requirements' ``extra``): the
    VerifiedEscrow holding it, the kind of work (``extra.kind``: ``task``, the default, or
    ``inference``) and the work itself (``extra.task``: a TaskMailbox task hash;
    ``extra.request``: an inference request digest, offchain.ai.receipt.request_digest), the
    expected result (task: its hash; inference: the output commitment; zero: any) and the refund
    deadline (unix seconds)."""

    escrow: str
    ref: bytes
    expected_result: bytes
    deadline: int
    kind: int = ESCROW_KIND_TASK

    @property
    def task(self) -> bytes:
        """The task hash of a task kind's terms (its ref)."""
        return self.ref

    @classmethod
    def of(cls, req: PaymentRequirements, err: type[X402Error] = PaymentRequirementsError) -> EscrowTerms:
        what = "paymentRequirements.extra"
        d = req.extra
        name = d.get("kind", "task")
        if name not in ESCROW_KINDS:
            raise err(f"{what}.kind must be one of {', '.join(ESCROW_KINDS)}: got {str(name)[:40]!r}")
        kind = ESCROW_KINDS[name]
        expected = (
            _hexbytes(d, "expectedResult", what, err, 32)
            if d.get("expectedResult") is not None
            else bytes(32)
        )
        return cls(
            req.extra_address("escrow", err),
            _hexbytes(d, ESCROW_REF_KEY[kind], what, err, 32),
            expected,
            _amount(d, "deadline", what, err),
            kind,
        )

    def condition(self) -> tuple[int, bytes, bytes, int]:
        """(kind, ref, expected result, deadline): what the escrow's nonce and deposit bind."""
        return self.kind, self.ref, self.expected_result, self.deadline

    def nonce(self, pay_to: str, salt: bytes) -> bytes:
        """The EIP-3009 nonce of a payment to `pay_to` on these terms (VerifiedEscrow.escrowNonce)."""
        return escrow_nonce(pay_to, *self.condition(), salt)

    def to_extra(self) -> dict[str, Any]:
        out = {
            "escrow": self.escrow,
            ESCROW_REF_KEY[self.kind]: "0x" + self.ref.hex(),
            "deadline": str(self.deadline),
        }
        if self.kind != ESCROW_KIND_TASK:
            out["kind"] = next(k for k, v in ESCROW_KINDS.items() if v == self.kind)
        if self.expected_result != bytes(32):
            out["expectedResult"] = "0x" + self.expected_result.hex()
        return out


@dataclass(frozen=True)
class PaymentRequired:
    resource: ResourceInfo
    accepts: tuple[PaymentRequirements, ...]
    error: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any) -> PaymentRequired:
        d = _obj(v, "PaymentRequired", PaymentPayloadError)
        _version(d, "PaymentRequired")
        accepts = d.get("accepts")
        if not isinstance(accepts, list) or not accepts or len(accepts) > 32:
            raise PaymentPayloadError("PaymentRequired.accepts must be a list of 1 to 32 requirements")
        return cls(
            ResourceInfo.from_json(d.get("resource")),
            tuple(PaymentRequirements.from_json(a, PaymentPayloadError) for a in accepts),
            _str(d, "error", "PaymentRequired", PaymentPayloadError, optional=True),
            _optional_obj(d, "extensions", "PaymentRequired", PaymentPayloadError),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"x402Version": X402_VERSION}
        if self.error is not None:
            out["error"] = self.error
        out["resource"] = self.resource.to_json()
        out["accepts"] = [a.to_json() for a in self.accepts]
        out["extensions"] = dict(self.extensions)
        return out


@dataclass(frozen=True)
class EvmAuthorization(Authorization):
    """The EIP-3009 fields of an exact/upto EVM payload (x402's ``authorization`` object)."""

    @classmethod
    def from_json(cls, v: Any) -> EvmAuthorization:
        what = "payload.authorization"
        d = _obj(v, what, PaymentPayloadError)
        e = PaymentPayloadError
        return cls(
            _address(d, "from", what, e),
            _address(d, "to", what, e),
            _amount(d, "value", what, e),
            _amount(d, "validAfter", what, e),
            _amount(d, "validBefore", what, e),
            _hexbytes(d, "nonce", what, e, 32),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.from_,
            "to": self.to,
            "value": str(self.value),
            "validAfter": str(self.valid_after),
            "validBefore": str(self.valid_before),
            "nonce": "0x" + self.nonce.hex(),
        }


@dataclass(frozen=True)
class EvmPayload:
    """The scheme payload: the payer's signature over the authorization; for upto also the salt
    that, with payTo and the facilitator, makes the nonce (verified: with payTo and the escrow
    terms)."""

    signature: bytes
    authorization: EvmAuthorization
    salt: bytes | None = None

    @classmethod
    def from_json(cls, v: Any, scheme: str) -> EvmPayload:
        d = _obj(v, "payload", PaymentPayloadError)
        sig = _hexbytes(d, "signature", "payload", PaymentPayloadError)
        if not 1 <= len(sig) <= 256:
            raise PaymentPayloadError("payload.signature must be 1 to 256 bytes")
        salt = _hexbytes(d, "salt", "payload", PaymentPayloadError, 32) if scheme in SALTED else None
        return cls(sig, EvmAuthorization.from_json(d.get("authorization")), salt)

    def to_json(self) -> dict[str, Any]:
        out = {"signature": "0x" + self.signature.hex(), "authorization": self.authorization.to_json()}
        if self.salt is not None:
            out["salt"] = "0x" + self.salt.hex()
        return out


@dataclass(frozen=True)
class PaymentPayload:
    accepted: PaymentRequirements
    payload: EvmPayload
    resource: ResourceInfo | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, v: Any) -> PaymentPayload:
        d = _obj(v, "PaymentPayload", PaymentPayloadError)
        _version(d, "PaymentPayload")
        accepted = PaymentRequirements.from_json(d.get("accepted"), PaymentPayloadError)
        res = d.get("resource")
        return cls(
            accepted,
            EvmPayload.from_json(d.get("payload"), accepted.scheme),
            None if res is None else ResourceInfo.from_json(res),
            _optional_obj(d, "extensions", "PaymentPayload", PaymentPayloadError),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"x402Version": X402_VERSION}
        if self.resource is not None:
            out["resource"] = self.resource.to_json()
        out["accepted"] = self.accepted.to_json()
        out["payload"] = self.payload.to_json()
        out["extensions"] = dict(self.extensions)
        return out


@dataclass(frozen=True)
class VerifyResponse:
    """A facilitator's /verify verdict; `invalid_message` is the human-readable reason the official
    SDKs add beside the code (``invalidMessage``)."""

    is_valid: bool
    invalid_reason: str | None = None
    payer: str | None = None
    invalid_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"isValid": self.is_valid}
        if self.invalid_reason is not None:
            out["invalidReason"] = self.invalid_reason
        if self.invalid_message is not None:
            out["invalidMessage"] = self.invalid_message
        if self.payer is not None:
            out["payer"] = self.payer
        return out

    @classmethod
    def from_json(cls, v: Any) -> VerifyResponse:
        d = _obj(v, "VerifyResponse", PaymentPayloadError)
        if not isinstance(d.get("isValid"), bool):
            raise PaymentPayloadError("VerifyResponse.isValid must be a boolean")
        return cls(
            d["isValid"],
            _str(d, "invalidReason", "VerifyResponse", PaymentPayloadError, optional=True),
            _str(d, "payer", "VerifyResponse", PaymentPayloadError, optional=True),
            _str(d, "invalidMessage", "VerifyResponse", PaymentPayloadError, optional=True),
        )


@dataclass(frozen=True)
class SettleResponse:
    """A settlement (SettlementResponse); `error_message` is the human-readable reason the
    official SDKs add beside the code (``errorMessage``)."""

    success: bool
    transaction: str
    network: str
    payer: str | None = None
    error_reason: str | None = None
    amount: int | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": self.success}
        if self.error_reason is not None:
            out["errorReason"] = self.error_reason
        if self.error_message is not None:
            out["errorMessage"] = self.error_message
        if self.payer is not None:
            out["payer"] = self.payer
        out["transaction"] = self.transaction
        out["network"] = self.network
        if self.amount is not None:
            out["amount"] = str(self.amount)
        return out

    @classmethod
    def from_json(cls, v: Any) -> SettleResponse:
        what = "SettleResponse"
        d = _obj(v, what, PaymentPayloadError)
        if not isinstance(d.get("success"), bool):
            raise PaymentPayloadError(f"{what}.success must be a boolean")
        amount = None if d.get("amount") is None else _amount(d, "amount", what, PaymentPayloadError)
        return cls(
            d["success"],
            _str(d, "transaction", what, PaymentPayloadError),
            _str(d, "network", what, PaymentPayloadError),
            _str(d, "payer", what, PaymentPayloadError, optional=True),
            _str(d, "errorReason", what, PaymentPayloadError, optional=True),
            amount,
            _str(d, "errorMessage", what, PaymentPayloadError, optional=True),
        )


def encode_header(obj: Any) -> str:
    """base64 of the compact JSON of a message (or a plain JSON value)."""
    data = obj.to_json() if hasattr(obj, "to_json") else obj
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode("ascii")


def decode_header(text: str | None, name: str) -> Any:
    """The JSON value in a base64 header (at most 16 KiB, nesting at most 16 deep)."""
    if text is None:
        raise PaymentPayloadError(f"the {name} header is missing")
    if len(text) > MAX_HEADER_BYTES:
        raise PaymentPayloadError(f"the {name} header is longer than {MAX_HEADER_BYTES} bytes")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PaymentPayloadError(f"the {name} header is not base64") from None
    abi.json_depth(raw, f"the {name} header", PaymentPayloadError, MAX_JSON_DEPTH)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise PaymentPayloadError(f"the {name} header is not base64 of JSON") from None
