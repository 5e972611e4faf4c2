"""AP2 (Agent Payments Protocol) mandates as signed objects, checked before any payment.

Three closed mandates, as AP2 v0.1 names them, each a JSON object signed by the party it binds:

* **IntentMandate** (signed by the user): what the shopping agent (``agent``, its address) may buy:
  a description, the token and network, a total ``budget``, an ``amount_range`` per payment, the
  ``allowed_payees`` (empty: any) and an ``expiry``.
* **CartMandate** (signed by the merchant): the cart: ``merchant`` (the payee), ``items``, the
  ``total`` in a token on a network, and a ``cart_expiry``.
* **PaymentMandate** (signed by the agent the intent names): the hashes of the intent and cart it
  pays, the payee, amount, token, network and a timestamp.

:func:`check_payment` accepts a payment only if all three signatures are the right parties', the
hashes chain, neither mandate has expired, and the payment is the cart's total, to an allowed
payee, within the range and what is left of the budget. :func:`check_offer` applies the intent's
limits to an x402 offer (the paying client calls it before signing anything).

Signing: the keccak-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the mandate's
body, signed as an EIP-191 personal message by a secp256k1 key; an object is ``{"mandate": body,
"signature": "0x..."}``.

**The user's authorization** (AP2's ``user_authorization`` of a PaymentMandate): an SD-JWT with key
binding (offchain.agent.sdjwt, ES256) issued to the user by a credential issuer the merchant
trusts, holding the user's ``wallet`` (the address that signs the intent) among claims the user
need not reveal, and binding the user's device key. For each payment the device presents it,
revealing only ``wallet``, with a KB-JWT for the merchant (``aud``, its address), the cart's id as
``nonce`` and ``transaction_data_hashes``: the SHA-256 of the cart's and the payment mandate's
canonical JSON. :func:`check_user_authorization` verifies it before any payment; the PaymentMandate
object carries it as ``user_authorization`` beside ``mandate`` and ``signature``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils import is_hex_address, to_checksum_address

from offchain.agent import sdjwt
from offchain.agent.errors import (
    MandateError,
    MandateExpiredError,
    MandateLimitError,
    MandateMismatchError,
    MandateSignatureError,
    SdJwtBindingError,
    SdJwtError,
)
from offchain.agent.x402 import PaymentRequirements

INTENT = "ap2.IntentMandate"
CART = "ap2.CartMandate"
PAYMENT = "ap2.PaymentMandate"
MAX_MANDATE_BYTES = 16 * 1024
USER_AUTHORIZATION = "user_authorization"  # the PaymentMandate object's field holding it
WALLET_CLAIM = "wallet"  # the credential's claim naming the user's address


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def mandate_hash(body: dict[str, Any]) -> bytes:
    """keccak-256 of the mandate body's canonical JSON."""
    return keccak(canonical(body))


@dataclass(frozen=True)
class Signed:
    """A mandate body and its signer's signature."""

    body: dict[str, Any]
    signature: bytes

    @property
    def hash(self) -> bytes:
        return mandate_hash(self.body)

    def signer(self) -> str:
        try:
            return Account.recover_message(encode_defunct(self.hash), signature=self.signature)
        except Exception:  # malformed signature bytes
            raise MandateSignatureError(f"the {self.body.get('type')} signature is malformed") from None

    def to_json(self) -> dict[str, Any]:
        return {"mandate": self.body, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, v: Any, kind: str) -> Signed:
        if (
            not isinstance(v, dict)
            or not isinstance(v.get("mandate"), dict)
            or not isinstance(v.get("signature"), str)
        ):
            raise MandateError(f"a {kind} is {{mandate: object, signature: 0x hex}}")
        if len(canonical(v["mandate"])) > MAX_MANDATE_BYTES:
            raise MandateError(f"the {kind} is larger than {MAX_MANDATE_BYTES} bytes")
        if v["mandate"].get("type") != kind:
            raise MandateError(f"expected a {kind}, got type {v['mandate'].get('type')!r}")
        try:
            sig = bytes.fromhex(v["signature"].removeprefix("0x"))
        except ValueError:
            raise MandateError(f"the {kind} signature is not hex") from None
        return cls(dict(v["mandate"]), sig)


def sign_mandate(key: Any, body: dict[str, Any]) -> Signed:
    """Sign a mandate body (its ``type`` must be one of the three)."""
    if body.get("type") not in (INTENT, CART, PAYMENT):
        raise MandateError(f"unknown mandate type {body.get('type')!r}")
    sig = Account.sign_message(encode_defunct(mandate_hash(body)), key).signature
    return Signed(dict(body), bytes(sig))


def _int(body: dict[str, Any], *path: str) -> int:
    v: Any = body
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    if not isinstance(v, str) or not v.isdigit() or len(v) > 78:
        raise MandateError(f"{'.'.join(path)} must be a decimal integer string")
    return int(v)


def _addr(v: Any, what: str) -> str:
    if not isinstance(v, str) or not is_hex_address(v):
        raise MandateError(f"{what} must be a 20-byte hex address")
    return to_checksum_address(v)


@dataclass(frozen=True)
class Intent:
    """The limits of a checked IntentMandate."""

    user: str
    agent: str
    asset: str
    network: str
    budget: int
    min_amount: int
    max_amount: int
    allowed_payees: frozenset[str]
    expiry: int
    hash: bytes

    def allows(self, pay_to: str, asset: str, network: str, amount: int, spent: int, now: float) -> None:
        """Raise unless a payment of `amount` to `pay_to` fits this intent after `spent`."""
        if now >= self.expiry:
            raise MandateExpiredError(f"the intent expired at {self.expiry}")
        if asset != self.asset or network != self.network:
            raise MandateMismatchError(f"the intent pays in {self.asset} on {self.network}")
        if self.allowed_payees and pay_to not in self.allowed_payees:
            raise MandateLimitError(f"{pay_to} is not an allowed payee")
        if not self.min_amount <= amount <= self.max_amount:
            raise MandateLimitError(f"{amount} is outside [{self.min_amount}, {self.max_amount}]")
        if spent + amount > self.budget:
            raise MandateLimitError(f"{amount} more would exceed the budget {self.budget} ({spent} spent)")


def check_intent(intent: Signed, user: str) -> Intent:
    """The limits of an IntentMandate signed by `user`."""
    b = intent.body
    if b.get("type") != INTENT:
        raise MandateError("not an IntentMandate")
    if intent.signer() != to_checksum_address(user):
        raise MandateSignatureError("the intent is not signed by the user")
    payees = b.get("allowed_payees", [])
    if not isinstance(payees, list):
        raise MandateError("allowed_payees must be a list")
    network = b.get("network")
    if not isinstance(network, str):
        raise MandateError("network must be a CAIP-2 string")
    lo, hi = _int(b, "amount_range", "min"), _int(b, "amount_range", "max")
    if lo > hi:
        raise MandateError("amount_range.min exceeds amount_range.max")
    return Intent(
        to_checksum_address(user),
        _addr(b.get("agent"), "agent"),
        _addr(b.get("asset"), "asset"),
        network,
        _int(b, "budget"),
        lo,
        hi,
        frozenset(_addr(p, "allowed_payees[]") for p in payees),
        _int(b, "expiry"),
        intent.hash,
    )


def check_offer(intent: Intent, offer: PaymentRequirements, spent: int, now: float) -> None:
    """Raise unless an x402 offer fits the intent (before the agent signs anything)."""
    intent.allows(offer.pay_to, offer.asset, offer.network, offer.amount, spent, now)


def check_payment(intent: Signed, cart: Signed, payment: Signed, user: str, spent: int, now: float) -> int:
    """Check the three mandates together; returns the amount the payment may move."""
    lim = check_intent(intent, user)
    c, p = cart.body, payment.body
    if c.get("type") != CART or p.get("type") != PAYMENT:
        raise MandateError("expected a CartMandate and a PaymentMandate")
    merchant = _addr(c.get("merchant"), "merchant")
    if cart.signer() != merchant:
        raise MandateSignatureError("the cart is not signed by its merchant")
    if payment.signer() != lim.agent:
        raise MandateSignatureError("the payment is not signed by the intent's agent")
    if now >= _int(c, "cart_expiry"):
        raise MandateExpiredError("the cart has expired")
    if p.get("intent_hash") != "0x" + intent.hash.hex() or p.get("cart_hash") != "0x" + cart.hash.hex():
        raise MandateMismatchError("the payment names another intent or cart")
    amount, total = _int(p, "amount"), _int(c, "total", "amount")
    terms = (_addr(p.get("payee"), "payee"), _addr(p.get("asset"), "asset"), p.get("network"))
    cart_terms = (merchant, _addr((c.get("total") or {}).get("asset"), "total.asset"), c.get("network"))
    if terms != cart_terms or amount != total:
        raise MandateMismatchError("the payment's payee, token, network or amount is not the cart's")
    lim.allows(terms[0], terms[1], str(terms[2]), amount, spent, now)
    return amount


def transaction_hashes(cart: Signed, payment: Signed) -> list[str]:
    """What a user authorization's KB-JWT binds: the SHA-256 (base64url) of the cart's and the
    payment mandate's canonical JSON."""
    return [sdjwt.b64url(hashlib.sha256(canonical(m.body)).digest()) for m in (cart, payment)]


def authorize(credential: str, device_key: Any, cart: Signed, payment: Signed, now: float) -> str:
    """The user's authorization of `payment` against `cart`: the `credential` (an issued SD-JWT)
    presented by the user's device, revealing only the wallet, bound to the merchant, the cart and
    the payment."""
    merchant = _addr(cart.body.get("merchant"), "merchant")
    return sdjwt.present(
        credential,
        [WALLET_CLAIM],
        device_key,
        aud=merchant,
        nonce=str(cart.body.get("id")),
        iat=int(now),
        transaction_data_hashes=transaction_hashes(cart, payment),
    )


def check_user_authorization(
    presentation: Any, issuers: Mapping[str, Any], cart: Signed, payment: Signed, user: str, now: float
) -> dict[str, Any]:
    """Verify the user's authorization of `payment` against `cart` (SdJwtError subclasses
    otherwise): a trusted issuer's credential, presented by its holder to the cart's merchant for
    this cart, binding this cart and this payment, whose disclosed wallet is `user`. Returns the
    disclosed claims."""
    if not isinstance(presentation, str):
        raise SdJwtError(f"the payment mandate carries no {USER_AUTHORIZATION} (an SD-JWT+KB string)")
    merchant = _addr(cart.body.get("merchant"), "merchant")
    p = sdjwt.verify(presentation, issuers, aud=merchant, nonce=str(cart.body.get("id")), now=now)
    if p.kb.get("transaction_data_hashes") != transaction_hashes(cart, payment):
        raise SdJwtBindingError("the user authorized another cart or payment")
    if p.kb.get("transaction_data_hashes_alg") != sdjwt.SD_ALG:
        raise SdJwtBindingError(f"transaction_data_hashes_alg must be {sdjwt.SD_ALG}")
    wallet = p.claims.get(WALLET_CLAIM)
    if not isinstance(wallet, str) or not is_hex_address(wallet):
        raise SdJwtBindingError(f"the presentation discloses no {WALLET_CLAIM} address")
    if to_checksum_address(wallet) != to_checksum_address(user):
        raise SdJwtBindingError(f"the credential's wallet {wallet} is not the intent's user {user}")
    return p.claims
