"""AP2 mandates (offchain/agent/ap2.py): intent, cart and payment mandates signed by the user, the
merchant and the agent, checked together before any payment: signatures, hash chaining, expiry,
payee, token, network, amount, range and budget; x402 offers against an intent."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from offchain.agent import errors as E
from offchain.agent.ap2 import (
    CART,
    INTENT,
    PAYMENT,
    Signed,
    check_intent,
    check_offer,
    check_payment,
    sign_mandate,
)
from offchain.agent.x402 import PaymentRequirements

USER, AGENT, MERCHANT, OTHER = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3, 4))
TOKEN = to_checksum_address("0x" + "aa" * 20)
NET = "eip155:31337"
NOW = 1_800_000_000


def intent_body(**kw):
    body = {
        "type": INTENT,
        "natural_language_description": "market data for ETH/USD, at most 1 USDC a day",
        "agent": AGENT.address,
        "asset": TOKEN,
        "network": NET,
        "budget": "1000000",
        "amount_range": {"min": "1", "max": "50000"},
        "allowed_payees": [MERCHANT.address],
        "expiry": str(NOW + 3600),
        "user_cart_confirmation_required": False,
    }
    return body | kw


def cart_body(**kw):
    body = {
        "type": CART,
        "id": "cart-1",
        "merchant": MERCHANT.address,
        "items": [{"sku": "eth-usd-tick", "quantity": 1}],
        "total": {"asset": TOKEN, "amount": "10000"},
        "network": NET,
        "cart_expiry": str(NOW + 600),
    }
    return body | kw


def payment_body(intent, cart, **kw):
    body = {
        "type": PAYMENT,
        "intent_hash": "0x" + intent.hash.hex(),
        "cart_hash": "0x" + cart.hash.hex(),
        "payee": MERCHANT.address,
        "asset": TOKEN,
        "network": NET,
        "amount": "10000",
        "timestamp": str(NOW),
    }
    return body | kw


def trio(intent_kw=None, cart_kw=None, pay_kw=None, signers=(USER, MERCHANT, AGENT)):
    i = sign_mandate(signers[0].key, intent_body(**(intent_kw or {})))
    c = sign_mandate(signers[1].key, cart_body(**(cart_kw or {})))
    p = sign_mandate(signers[2].key, payment_body(i, c, **(pay_kw or {})))
    return i, c, p


def test_a_good_payment_passes_and_round_trips():
    i, c, p = trio()
    assert check_payment(i, c, p, USER.address, spent=0, now=NOW) == 10000
    for m, kind in ((i, INTENT), (c, CART), (p, PAYMENT)):
        assert Signed.from_json(m.to_json(), kind) == m
    # the hash is over canonical JSON: key order does not matter
    assert sign_mandate(USER.key, dict(reversed(list(intent_body().items())))).hash == i.hash


@pytest.mark.parametrize(
    "args, err",
    [
        ({"signers": (OTHER, MERCHANT, AGENT)}, E.MandateSignatureError),  # intent not the user's
        ({"signers": (USER, OTHER, AGENT)}, E.MandateSignatureError),  # cart not the merchant's
        ({"signers": (USER, MERCHANT, OTHER)}, E.MandateSignatureError),  # payment not the agent's
        ({"cart_kw": {"cart_expiry": str(NOW)}}, E.MandateExpiredError),
        ({"intent_kw": {"expiry": str(NOW)}}, E.MandateExpiredError),
        ({"pay_kw": {"intent_hash": "0x" + "00" * 32}}, E.MandateMismatchError),
        ({"pay_kw": {"cart_hash": "0x" + "00" * 32}}, E.MandateMismatchError),
        ({"pay_kw": {"amount": "10001"}}, E.MandateMismatchError),  # not the cart's total
        ({"pay_kw": {"payee": OTHER.address}}, E.MandateMismatchError),  # not the cart's merchant
        ({"pay_kw": {"network": "eip155:1"}}, E.MandateMismatchError),
        ({"pay_kw": {"asset": "0x" + "bb" * 20}}, E.MandateMismatchError),
        ({"intent_kw": {"allowed_payees": [OTHER.address]}}, E.MandateLimitError),  # payee not allowed
        ({"intent_kw": {"amount_range": {"min": "1", "max": "9999"}}}, E.MandateLimitError),
        ({"intent_kw": {"amount_range": {"min": "10001", "max": "20000"}}}, E.MandateLimitError),
        ({"intent_kw": {"budget": "9999"}}, E.MandateLimitError),
        ({"intent_kw": {"network": "eip155:1"}}, E.MandateMismatchError),  # cart on another chain
    ],
)
def test_every_refusal(args, err):
    i, c, p = trio(
        **{k: v for k, v in args.items() if k != "signers"},
        signers=args.get("signers", (USER, MERCHANT, AGENT)),
    )
    with pytest.raises(err):
        check_payment(i, c, p, USER.address, spent=0, now=NOW)


def test_budget_counts_what_was_spent():
    i, c, p = trio()
    check_payment(i, c, p, USER.address, spent=990_000, now=NOW)
    with pytest.raises(E.MandateLimitError, match="exceed the budget"):
        check_payment(i, c, p, USER.address, spent=990_001, now=NOW)


def test_tampered_mandates_are_refused():
    i, c, p = trio()
    raised = Signed(i.body | {"budget": "999999999"}, i.signature)  # the user never signed this
    with pytest.raises(E.MandateSignatureError):
        check_payment(raised, c, p, USER.address, spent=0, now=NOW)
    with pytest.raises(E.MandateSignatureError):
        check_payment(Signed(i.body, b"\x01" * 10), c, p, USER.address, spent=0, now=NOW)


def test_malformed_mandates():
    i, _, _ = trio()
    for bad in (None, {"mandate": 1, "signature": "0x"}, {"mandate": intent_body(), "signature": "zz"}):
        with pytest.raises(E.MandateError):
            Signed.from_json(bad, INTENT)
    with pytest.raises(E.MandateError, match="expected a"):
        Signed.from_json(i.to_json(), CART)
    with pytest.raises(E.MandateError, match="larger than"):
        Signed.from_json({"mandate": intent_body(pad="x" * 20_000), "signature": "0x00"}, INTENT)
    for body in (
        intent_body(budget=5),
        intent_body(agent="0x12"),
        intent_body(amount_range={"min": "5", "max": "4"}),
        intent_body(allowed_payees="all"),
    ):
        with pytest.raises(E.MandateError):
            check_intent(sign_mandate(USER.key, body), USER.address)
    with pytest.raises(E.MandateError, match="unknown mandate type"):
        sign_mandate(USER.key, {"type": "ap2.Other"})


def test_offers_against_an_intent():
    lim = check_intent(sign_mandate(USER.key, intent_body()), USER.address)
    offer = PaymentRequirements("exact", NET, 10_000, TOKEN, MERCHANT.address, 60, {})
    check_offer(lim, offer, spent=0, now=NOW)
    for bad, err in (
        (replace(offer, pay_to=OTHER.address), E.MandateLimitError),
        (replace(offer, amount=50_001), E.MandateLimitError),
        (replace(offer, network="eip155:1"), E.MandateMismatchError),
    ):
        with pytest.raises(err):
            check_offer(lim, bad, spent=0, now=NOW)
    with pytest.raises(E.MandateLimitError):
        check_offer(lim, offer, spent=995_000, now=NOW)
    with pytest.raises(E.MandateExpiredError):
        check_offer(lim, offer, spent=0, now=NOW + 3600)
