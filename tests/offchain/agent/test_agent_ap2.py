"""AP2 v0.2 mandates (offchain/agent/ap2.py): Checkout and Payment mandates as Delegate SD-JWT
chains rooted in the user's credential (or an agent provider), open mandates closed by the agent
they bind, delegation to a sub-agent that may only narrow, receipts; every refusal typed."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.x402 import PaymentRequirements

NOW = 1_800_000_000
ISS = "https://credentials.example"
ISSUER, DEVICE, AGENT, SUB, MERCHANT_KEY, OTHER = (sdjwt.new_key() for _ in range(6))
ISSUERS = {ISS: ISSUER.public_key()}
USER = Account.from_key(b"\x07" * 32)
M1 = ap2.payee("0x" + "11" * 20, "Feeds Inc.")
M2 = ap2.payee("0x" + "22" * 20, "Other Feeds")
M3 = ap2.payee("0x" + "33" * 20, "Not Allowed")
NET = "eip155:31337"
TOKEN = "0x" + "aA" * 20
CUR = f"{NET}/erc20:{TOKEN}"
DIGITS = ap2.MINOR_DIGITS | {CUR: 6}
PAYER = Account.from_key(b"\x08" * 32).address
INSTRUMENT = ap2.x402_instrument(NET, PAYER)
TICK = {"id": "eth-usd", "title": "ETH/USD tick"}
TASK = "task-1"


def credential(key=ISSUER, iss=ISS, exp=NOW + 7 * 86_400, **kw):
    claims = {"wallet": USER.address, "name": "Ada", "email": "ada@example.com"}
    return sdjwt.issue(key, iss, claims, ["name", "email"], DEVICE, iat=NOW - 60, exp=exp, **kw)


def checkout_jwt(merchant=M1, items=((TICK, 1),), cid="co-1"):
    return ap2.sign_checkout(
        MERCHANT_KEY,
        {
            "id": cid,
            "merchant": merchant,
            "line_items": [{"id": f"l{i}", "item": it, "quantity": q} for i, (it, q) in enumerate(items)],
            "currency": CUR,
            "total": 10_000,
            "iat": NOW,
            "exp": NOW + 600,
        },
    )


def open_checkout(agent=AGENT, exp=NOW + 3600, merchants=(M1, M2), items=(TICK,), cred=None):
    m = ap2.open_mandate(
        ap2.CHECKOUT_OPEN,
        agent,
        [ap2.line_items([("feed", items, 1)]), ap2.allowed_merchants(merchants)],
        iat=NOW - 10,
        exp=exp,
    )
    return ap2.delegate(cred or credential(), DEVICE, m, aud="agent", nonce="d-1", iat=NOW - 10)


def constraints(oc, lo=1, hi=50_000, payees=(M1, M2), budget="1", times=10, extra=()):
    return [
        ap2.reference(sdjwt.digest(sdjwt.last_link(oc))),
        ap2.amount_range(CUR, hi, lo),
        ap2.allowed_payees(payees),
        ap2.budget(CUR, budget),
        ap2.recurrence("ON_DEMAND", times),
        *extra,
    ]


def open_payment(oc, agent=AGENT, exp=NOW + 3600, cs=None, **fixed):
    m = ap2.open_mandate(ap2.PAYMENT_OPEN, agent, cs or constraints(oc), iat=NOW - 10, exp=exp, **fixed)
    return ap2.delegate(credential(), DEVICE, m, aud="agent", nonce="d-2", iat=NOW - 10)


def closed_checkout(oc, cj, key=AGENT, aud=M1["id"], nonce=TASK, iat=NOW):
    return ap2.close(oc, key, ap2.closed_checkout(cj), aud=aud, nonce=nonce, iat=iat)


def closed_payment(
    op, cj, amount=10_000, to=M1, key=AGENT, aud=M1["id"], nonce=TASK, iat=NOW, prune=True, **kw
):
    m = ap2.closed_payment(ap2.checkout_hash(cj), to, amount, CUR, INSTRUMENT, **kw)
    return ap2.close(op, key, m, aud=aud, nonce=nonce, iat=iat, reveal=[to] if prune else None)


def expected(cj, amount=10_000, to=M1):
    return ap2.Expected(ap2.checkout_hash(cj), to["id"], amount, CUR, INSTRUMENT["id"])


def check_co(text, cj, now=NOW, merchant=M1["id"], nonce=TASK):
    return ap2.check_checkout(text, ISSUERS, merchant=merchant, nonce=nonce, checkout_jwt=cj, now=now)


def check_pay(text, cj, co=None, ledger=None, amount=10_000, to=M1, now=NOW, nonce=TASK):
    return ap2.check_payment(
        text,
        ISSUERS,
        aud=to["id"],
        nonce=nonce,
        expected=expected(cj, amount, to),
        now=now,
        ledger=ledger or ap2.Ledger(),
        checkout=co,
        digits=DIGITS,
    )


def world():
    oc = open_checkout()
    cj = checkout_jwt()
    co_text = closed_checkout(oc, cj)
    op = open_payment(oc)
    return oc, op, cj, co_text


def test_autonomous_checkout_and_payment_round_trip_with_receipts():
    oc, op, cj, co_text = world()
    co = check_co(co_text, cj)
    assert co.closed["checkout_jwt"] == cj and co.closed["checkout_hash"] == ap2.checkout_hash(cj)
    assert [ln.content.get("vct") for ln in co.chain.links] == [None, ap2.CHECKOUT_OPEN, ap2.CHECKOUT]
    assert co.chain.iss == ISS and co.chain.links[0].content["wallet"] == USER.address
    ledger = ap2.Ledger()
    pay_text = closed_payment(op, cj)
    v, res = check_pay(pay_text, cj, co, ledger)
    assert v.closed["transaction_id"] == ap2.checkout_hash(cj) and res.amount == 10_000
    assert ledger.get(v.open_ids[0]).spent == 10_000 and ledger.transactions == {ap2.checkout_hash(cj)}
    # the agent revealed only the payee it pays, not the other allowed one
    allowed = next(c for c in v.opens[0]["constraints"] if c["type"] == ap2.ALLOWED_PAYEES)["allowed"]
    assert allowed == [M1]
    assert "Other Feeds" not in pay_text.encode().decode() and len(pay_text.split("~~")) == 3
    # receipts: the merchant's, bound to the closed mandates' links
    r = ap2.sign_receipt(MERCHANT_KEY, iss=M1["id"], reference=v.reference, iat=NOW, payment_id="p-1")
    body = ap2.verify_receipt(r, MERCHANT_KEY.public_key(), reference=v.reference)
    assert body["status"] == "Success" and body["payment_id"] == "p-1"
    assert v.reference == sdjwt.digest(pay_text.rsplit("~~", 1)[1])
    with pytest.raises(E.MandateHashError, match="another mandate"):
        ap2.verify_receipt(r, MERCHANT_KEY.public_key(), reference=co.reference)
    with pytest.raises(E.SdJwtSignatureError):
        ap2.verify_receipt(r, OTHER.public_key(), reference=v.reference)
    err = ap2.sign_receipt(
        MERCHANT_KEY, iss=M1["id"], reference=v.reference, iat=NOW, error=E.MandateReplayError("used")
    )
    body = ap2.verify_receipt(err, MERCHANT_KEY.public_key(), reference=v.reference)
    assert (body["status"], body["error"], body["error_description"]) == (
        "Error",
        "mandate_already_used",
        "used",
    )
    # a failed settlement releases the reservation: the same transaction may be paid again
    ledger.release(res)
    assert ledger.get(v.open_ids[0]).spent == 0
    check_pay(pay_text, cj, co, ledger)


def test_human_present_and_agent_provider_roots():
    cj = checkout_jwt()
    # the user signs the closed mandates themselves: no open mandate, no constraints
    m = ap2.closed_payment(ap2.checkout_hash(cj), M1, 10_000, CUR, INSTRUMENT)
    direct = ap2.delegate(credential(), DEVICE, m, aud=M1["id"], nonce=TASK, iat=NOW)
    v, _ = check_pay(direct, cj)
    assert v.opens == () and v.closed["payee"] == M1
    # an agent provider's root: its SD-JWT (named by kid, no iss) discloses the open mandate
    provider = sdjwt.new_key()
    open_co = ap2.open_mandate(
        ap2.CHECKOUT_OPEN, AGENT, [ap2.line_items([("f", [TICK], 1)])], iat=NOW, exp=NOW + 60
    )
    arr, ds = sdjwt.conceal([sdjwt.Sd(open_co)])
    jwt = sdjwt.sign_jwt(
        provider, {"typ": sdjwt.TYP, "kid": "provider-1"}, {"delegate_payload": arr, "_sd_alg": "sha-256"}
    )
    root = "~".join([jwt, *(d.encoded for d in ds)]) + "~"
    text = closed_checkout(root, cj)
    v = ap2.check_checkout(
        text, {"provider-1": provider.public_key()}, merchant=M1["id"], nonce=TASK, checkout_jwt=cj, now=NOW
    )
    assert v.chain.iss == "provider-1" and v.opens[0]["vct"] == ap2.CHECKOUT_OPEN


def test_delegation_to_a_sub_agent_may_only_narrow():
    oc, op, cj, co_text = world()
    co = check_co(co_text, cj)

    def sub(cs, exp=NOW + 1800):
        m = ap2.open_mandate(ap2.PAYMENT_OPEN, SUB, cs, iat=NOW - 5, exp=exp)
        chain = ap2.delegate(sdjwt.prune(op, lambda d: True), AGENT, m, aud="sub", nonce="d-3", iat=NOW - 5)
        return closed_payment(chain, cj, key=SUB, prune=False)  # the sub-agent's payees all revealed

    narrow = constraints(oc, lo=5, hi=20_000, payees=(M1,), budget="0.5", times=3)
    v, _ = check_pay(sub(narrow), cj, co)
    assert [o["cnf"]["jwk"] for o in v.opens] == [sdjwt.jwk(AGENT), sdjwt.jwk(SUB)]
    for wide, what in [
        (constraints(oc, hi=60_000), "widens the payment.amount_range"),
        (constraints(oc, lo=0), "widens the payment.amount_range"),
        (constraints(oc, budget="2"), "widens the payment.budget"),
        (constraints(oc, payees=(M1, M3)), "widens the payment.allowed_payees"),
        (constraints(oc, times=11), "widens the payment.agent_recurrence"),
        ([c for c in narrow if c["type"] != ap2.BUDGET], "drops the payment.budget"),
    ]:
        with pytest.raises(E.MandateWidenedError, match=what):
            check_pay(sub(wide), cj, co)
    with pytest.raises(E.MandateWidenedError, match="outlives"):
        check_pay(sub(narrow, exp=NOW + 7200), cj, co)
    # the sub-agent closing with the agent's key, or the agent with the sub-agent's: broken chain
    m = ap2.open_mandate(ap2.PAYMENT_OPEN, SUB, narrow, iat=NOW - 5, exp=NOW + 60)
    chain = ap2.delegate(op, OTHER, m, aud="sub", nonce="d-3", iat=NOW - 5)
    with pytest.raises(E.SdJwtChainError, match="link 2 is not signed by the key link 1 binds"):
        check_pay(closed_payment(chain, cj, key=SUB), cj, co)
    with pytest.raises(E.SdJwtChainError, match="link 2 is not signed by the key link 1 binds"):
        check_pay(closed_payment(op, cj, key=SUB), cj, co)
    # a link whose predecessor binds no key (a closed mandate delegated further)
    closed = closed_payment(op, cj)
    m = ap2.closed_payment(ap2.checkout_hash(cj), M1, 10_000, CUR, INSTRUMENT)
    with pytest.raises(E.SdJwtChainError, match="ends the chain"):
        check_pay(
            sdjwt.delegate(closed, AGENT, [m], aud=M1["id"], nonce=TASK, iat=NOW, binds_key=False), cj, co
        )
    with pytest.raises(E.SdJwtChainError, match="nothing closed"):
        check_pay(op, cj, co)


def test_refusals_of_the_chain():
    oc, op, cj, co_text = world()
    co = check_co(co_text, cj)
    cases = [
        # a root signed by another key than the one trusted for its issuer; an unknown issuer
        (
            lambda: closed_payment(_op(credential(key=OTHER), oc), cj),
            E.SdJwtSignatureError,
            "does not verify",
        ),
        (
            lambda: closed_payment(_op(credential(iss="https://evil.example"), oc), cj),
            E.SdJwtIssuerError,
            "not trusted",
        ),
        # the credential, an open mandate, a stale closing
        (lambda: closed_payment(_op(credential(exp=NOW), oc), cj), E.SdJwtExpiredError, "expired"),
        (
            lambda: closed_payment(open_payment(oc, exp=NOW - 1), cj),
            E.SdJwtExpiredError,
            "link 1's content expired",
        ),
        (lambda: closed_payment(op, cj, iat=NOW - 301), E.SdJwtExpiredError, "more than 300 s ago"),
        (lambda: closed_payment(op, cj, iat=NOW + 31), E.SdJwtNotYetValidError, "after now"),
        (lambda: closed_payment(op, cj, nbf=NOW + 100), E.SdJwtNotYetValidError, "valid from"),
        # key binding: another audience or nonce
        (lambda: closed_payment(op, cj, aud=M2["id"]), E.SdJwtBindingError, "audience"),
        (lambda: closed_payment(op, cj, nonce="task-0"), E.SdJwtBindingError, "nonce"),
        # the wrong kind of mandate in each place
        (
            lambda: ap2.close(op, AGENT, ap2.closed_checkout(cj), aud=M1["id"], nonce=TASK, iat=NOW),
            E.MandateTypeError,
            "closed mandate is a 'mandate.checkout.1'",
        ),
        (lambda: closed_payment(oc, cj), E.MandateTypeError, "link 1 is a 'mandate.checkout.open.1'"),
        # a closed payment for another checkout
        (lambda: closed_payment(op, checkout_jwt(cid="co-2")), E.MandateHashError, "transaction_id"),
    ]
    for make, err, match in cases:
        with pytest.raises(err, match=match):
            check_pay(make(), cj, co)


def _op(cred, oc):
    m = ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT, constraints(oc), iat=NOW - 10, exp=NOW + 3600)
    return ap2.delegate(cred, DEVICE, m, aud="agent", nonce="d-2", iat=NOW - 10)


def test_tampered_encodings_are_refused():
    oc, op, cj, co_text = world()
    co = check_co(co_text, cj)
    text = closed_payment(op, cj)
    links = text.split("~~")
    # a disclosure of the open mandate changed (its amount range widened)
    parts = links[1].split("~")
    i = next(i for i, p in enumerate(parts[1:], 1) if "vct" in json.dumps(sdjwt.Disclosure.parse(p).value))
    d = sdjwt.Disclosure.parse(parts[i])
    value = json.loads(json.dumps(d.value).replace("50000", "99999999"))
    parts[i] = sdjwt.b64url(json.dumps([d.salt, value]).encode())
    with pytest.raises(E.SdJwtDisclosureError, match="match no digest"):
        check_pay("~~".join([links[0], "~".join(parts), links[2]]), cj, co)
    # a disclosure of the open mandate dropped after the agent bound it: sd_hash no longer matches
    dropped = [p for p in links[1].split("~") if not p or "Feeds Inc" not in json.dumps(_value(p))]
    with pytest.raises(E.SdJwtBindingError, match="sd_hash"):
        check_pay("~~".join([links[0], "~".join(dropped), links[2]]), cj, co)
    # the closed link's signature corrupted; the separator between links lost
    jwt = links[2].split("~")[0]
    bad = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    with pytest.raises(E.SdJwtChainError):
        check_pay("~~".join([links[0], links[1], bad + links[2][len(jwt) :]]), cj, co)
    with pytest.raises(E.SdJwtError):
        check_pay(text.replace("~~", "~"), cj, co)
    with pytest.raises(E.SdJwtChainError, match="empty link"):
        check_pay(text.replace("~~", "~~~", 1), cj, co)
    # two disclosed delegate payloads in one link
    m1 = ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT, constraints(oc), iat=NOW, exp=NOW + 60)
    two = sdjwt.delegate(
        credential(), DEVICE, [m1, m1 | {"iat": NOW - 1}], aud="a", nonce="n", iat=NOW, binds_key=True
    )
    m = ap2.closed_payment(ap2.checkout_hash(cj), M1, 10_000, CUR, INSTRUMENT)
    with pytest.raises(E.SdJwtDisclosureError, match="exactly one"):
        check_pay(sdjwt.delegate(two, AGENT, [m], aud=M1["id"], nonce=TASK, iat=NOW, binds_key=False), cj, co)


def _value(p):
    try:
        return sdjwt.Disclosure.parse(p).value
    except E.SdJwtError:
        return None


def test_refusals_of_the_constraints_and_bindings():
    oc, op, cj, co_text = world()
    co = check_co(co_text, cj)
    # amount outside the range (over it, under it)
    with pytest.raises(E.MandateAmountError, match="outside the amount range"):
        check_pay(closed_payment(op, cj, amount=60_000), cj, co, amount=60_000)
    low = open_payment(oc, cs=constraints(oc, lo=20_000))
    with pytest.raises(E.MandateAmountError, match="outside"):
        check_pay(closed_payment(low, cj), cj, co)
    # a payee the user did not allow
    cj3 = checkout_jwt(merchant=M3)
    with pytest.raises(E.MandatePayeeError, match="not among the allowed payees"):
        check_pay(closed_payment(op, cj3, to=M3, aud=M3["id"]), cj3, co, to=M3)
    # the mandate pays another amount, payee or instrument than the payment made
    with pytest.raises(E.MandateMismatchError, match="pays 10000"):
        check_pay(closed_payment(op, cj), cj, co, amount=9_999)
    # a payment.reference naming another open checkout mandate
    with pytest.raises(E.MandateHashError, match="payment.reference"):
        check_pay(closed_payment(open_payment(open_checkout()), cj), cj, co)
    with pytest.raises(E.MandateHashError, match="without the checkout"):
        check_pay(closed_payment(op, cj), cj, None)
    # an unknown constraint fails; a claim the open mandate fixes changed
    odd = open_payment(oc, cs=constraints(oc, extra=[{"type": "payment.moon_phase", "phase": "full"}]))
    with pytest.raises(E.MandateConstraintError, match="unknown constraint"):
        check_pay(closed_payment(odd, cj), cj, co)
    fixed = open_payment(oc, payment_instrument={"id": "eip155:1:" + PAYER, "type": "x402"})
    with pytest.raises(E.MandateMismatchError, match="payment_instrument"):
        check_pay(closed_payment(fixed, cj), cj, co)
    # replay: the same transaction twice, and an open mandate without recurrence used twice
    ledger = ap2.Ledger()
    check_pay(closed_payment(op, cj), cj, co, ledger)
    with pytest.raises(E.MandateReplayError, match="already accepted"):
        check_pay(closed_payment(op, cj), cj, co, ledger)
    once = open_payment(oc, cs=[c for c in constraints(oc) if c["type"] not in (ap2.RECURRENCE, ap2.BUDGET)])
    ledger = ap2.Ledger()
    check_pay(closed_payment(once, cj), cj, co, ledger)
    cj2 = checkout_jwt(cid="co-2")
    with pytest.raises(E.MandateReplayError, match="pays once"):
        check_pay(closed_payment(once, cj2), cj2, co, ledger)
    # a recurrence's count, a daily one's spacing
    twice = open_payment(oc, cs=constraints(oc, times=1))
    ledger = ap2.Ledger()
    check_pay(closed_payment(twice, cj), cj, co, ledger)
    with pytest.raises(E.MandateBudgetError, match="allows 1 payments"):
        check_pay(closed_payment(twice, cj2), cj2, co, ledger)
    daily = open_payment(oc, exp=NOW + 2 * 86_400, cs=[*constraints(oc)[:4], ap2.recurrence("DAILY")])
    ledger = ap2.Ledger()
    check_pay(closed_payment(daily, cj), cj, co, ledger)
    with pytest.raises(E.MandateBudgetError, match="DAILY"):
        check_pay(closed_payment(daily, cj2, iat=NOW + 3600), cj2, co, ledger, now=NOW + 3600)
    check_pay(closed_payment(daily, cj2, iat=NOW + 86_400), cj2, co, ledger, now=NOW + 86_400 + 1)
    # an execution date window; a budget in an unknown currency's major units
    dated = open_payment(oc, cs=constraints(oc, extra=[ap2.execution_date(not_after="2020-01-01T00:00:00Z")]))
    with pytest.raises(E.MandateLimitError, match="executes after"):
        check_pay(closed_payment(dated, cj), cj, co)
    with pytest.raises(E.MandateConstraintError, match="not a whole number of minor units"):
        ap2.to_minor(1e-7, CUR, DIGITS)
    with pytest.raises(E.MandateConstraintError, match="no minor unit"):
        ap2.to_minor(1, "XTS", DIGITS)
    assert ap2.to_minor(0.03, CUR, DIGITS) == 30_000 and ap2.budget(CUR, "0.03")["max"] == 0.03
    assert ap2.budget(CUR, "2")["max"] == 2 and isinstance(ap2.budget(CUR, "2.0")["max"], int)
    # a budget is a JSON number (AP2's schema), not a string
    texty = open_payment(oc, cs=[c | {"max": "1"} if c["type"] == ap2.BUDGET else c for c in constraints(oc)])
    with pytest.raises(E.MandateError, match="must be a number"):
        check_pay(closed_payment(texty, cj), cj, co)


def test_refusals_of_the_checkout():
    oc, op, cj, co_text = world()
    # the mandate's checkout_hash not the hash of its checkout_jwt
    m = ap2.closed_checkout(cj) | {"checkout_hash": ap2.checkout_hash(cj + "x")}
    with pytest.raises(E.MandateHashError, match="not the hash of the checkout_jwt"):
        check_co(ap2.close(oc, AGENT, m, aud=M1["id"], nonce=TASK, iat=NOW), cj)
    # a mandate for another checkout than the one this merchant issued
    with pytest.raises(E.MandateHashError, match="another checkout"):
        check_co(co_text, checkout_jwt(cid="co-9"))
    # a merchant not allowed; items the mandate does not allow
    cj3 = checkout_jwt(merchant=M3)
    with pytest.raises(E.MandatePayeeError, match="allowed merchants"):
        check_co(closed_checkout(oc, cj3, aud=M1["id"]), cj3)
    cj4 = checkout_jwt(items=((TICK, 2),))
    with pytest.raises(E.MandateLimitError, match="line items"):
        check_co(closed_checkout(oc, cj4), cj4)
    # an open checkout mandate without line items; a payment mandate presented as a checkout
    bare = ap2.open_mandate(ap2.CHECKOUT_OPEN, AGENT, [ap2.allowed_merchants([M1])], iat=NOW, exp=NOW + 60)
    chain = ap2.delegate(credential(), DEVICE, bare, aud="agent", nonce="d", iat=NOW)
    with pytest.raises(E.MandateConstraintError, match="checkout.line_items"):
        check_co(closed_checkout(chain, cj), cj)
    with pytest.raises(E.MandateTypeError):
        check_co(closed_payment(op, cj), cj)


def _bought(**quantities):
    return {ap2._key(k): q for k, q in quantities.items()}


def test_line_items_as_a_maximum_flow():
    red, blue, socks = ({"id": i, "title": i} for i in ("red", "blue", "socks"))
    reqs = [
        {"id": "shoe", "acceptable_items": [red, blue], "quantity": 1},
        {"id": "sock", "acceptable_items": [socks], "quantity": 1},
    ]
    ok = [_bought(red=1, socks=1), _bought(blue=1, socks=1)]
    bad = [_bought(red=1, blue=1), _bought(red=1), _bought(blue=1), _bought(socks=1), _bought(red=1, socks=2)]
    assert all(ap2._items_match(reqs, b) for b in ok)
    assert not any(ap2._items_match(reqs, b) for b in bad)
    # a unit must be rerouted: both accept red, only the first blue
    reqs = [
        {"id": "a", "acceptable_items": [red, blue], "quantity": 1},
        {"id": "b", "acceptable_items": [red], "quantity": 1},
    ]
    assert ap2._items_match(reqs, _bought(red=1, blue=1)) and not ap2._items_match(reqs, _bought(blue=2))


@pytest.mark.parametrize(
    "constraint",
    [
        {"type": ap2.AMOUNT_RANGE, "currency": CUR, "max": "50000"},
        {"type": ap2.AMOUNT_RANGE, "currency": CUR, "max": True},
        {"type": ap2.ALLOWED_PAYEES, "allowed": {"id": "x"}},
        {"type": ap2.BUDGET, "currency": CUR, "max": [1]},
        {"type": ap2.BUDGET, "currency": CUR, "max": float("nan")},
        {"type": ap2.RECURRENCE, "frequency": ["DAILY"]},
        {"type": ap2.RECURRENCE, "frequency": "ON_DEMAND", "max_occurrences": "3"},
        {"type": ap2.EXECUTION_DATE, "not_after": "the day after tomorrow"},
        {"type": ap2.EXECUTION_DATE, "not_before": 5},
    ],
)
def test_malformed_constraints_are_typed_refusals(constraint):
    """Whatever JSON a user's open mandate holds, its evaluation is a MandateError, never a crash."""
    oc, _, cj, co_text = world()
    co = check_co(co_text, cj)
    bad = open_payment(oc, cs=[*constraints(oc)[:1], constraint])
    with pytest.raises(E.MandateError):
        check_pay(closed_payment(bad, cj), cj, co)


@settings(max_examples=60, deadline=None)
@given(
    lo=st.integers(0, 1_000),
    hi=st.integers(0, 1_000),
    budget_cents=st.integers(0, 3_000),
    times=st.integers(1, 6),
    amounts=st.lists(st.integers(0, 1_200), min_size=1, max_size=8),
)
def test_constraints_against_amounts(lo, hi, budget_cents, times, amounts):
    """A model of amount_range, budget (major units) and max_occurrences decides each payment; the
    ledger agrees and refuses with the typed error the model names."""
    cs = [
        ap2.amount_range("USD", hi, lo),
        ap2.budget("USD", f"{budget_cents // 100}.{budget_cents % 100:02d}"),
        ap2.recurrence("ON_DEMAND", times),
    ]
    mandate = {"vct": ap2.PAYMENT_OPEN, "constraints": cs}
    ledger, spent, count = ap2.Ledger(), 0, 0
    for i, amount in enumerate(amounts):
        closed = ap2.closed_payment(f"t{i}", M1, amount, "USD", INSTRUMENT)
        v = ap2.Verified(sdjwt.Chain(ISS, ()), (mandate,), ("open",), closed)
        if not lo <= amount <= hi:
            want = E.MandateAmountError
        elif spent + amount > budget_cents:
            want = E.MandateBudgetError
        elif count >= times:
            want = E.MandateBudgetError
        else:
            want = None
        if want is None:
            ledger.check_and_reserve(v, now=NOW, digits=ap2.MINOR_DIGITS, checkout_links=None)
            spent, count = spent + amount, count + 1
        else:
            with pytest.raises(want):
                ledger.check_and_reserve(v, now=NOW, digits=ap2.MINOR_DIGITS, checkout_links=None)
        assert ledger.get("open") == ap2.Usage(count, spent, None if count == 0 else NOW)


def test_an_agent_checks_x402_offers_against_its_open_mandate():
    oc = open_checkout()
    mandate = ap2.plain(
        ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT, constraints(oc, hi=20_000), iat=NOW, exp=NOW + 60)
    )

    def offer(amount=10_000, to=M1["id"]):
        return PaymentRequirements("exact", NET, amount, TOKEN, to, 60, {})

    ap2.check_offer(mandate, offer(), PAYER, ap2.Usage(), NOW, DIGITS)
    with pytest.raises(E.MandateAmountError):
        ap2.check_offer(mandate, offer(30_000), PAYER, ap2.Usage(), NOW, DIGITS)
    with pytest.raises(E.MandatePayeeError):
        ap2.check_offer(mandate, offer(to=M3["id"]), PAYER, ap2.Usage(), NOW, DIGITS)
    with pytest.raises(E.MandateBudgetError):
        ap2.check_offer(mandate, offer(), PAYER, ap2.Usage(1, 995_000, NOW), NOW, DIGITS)
    with pytest.raises(E.MandateExpiredError):
        ap2.check_offer(mandate, offer(), PAYER, ap2.Usage(), NOW + 60, DIGITS)
    with pytest.raises(E.MandateTypeError):
        ap2.check_offer(mandate | {"vct": ap2.CHECKOUT_OPEN}, offer(), PAYER, ap2.Usage(), NOW, DIGITS)


def test_error_codes_are_ap2s():
    assert ap2.ap2_error(E.SdJwtChainError("x")) == "invalid_credential"
    assert ap2.ap2_error(E.MandateTypeError("x")) == "invalid_credential"
    assert ap2.ap2_error(E.MandateConstraintError("x")) == "unresolved_constraint"
    assert ap2.ap2_error(E.MandateAmountError("x")) == "invalid_mandate"
    assert ap2.ap2_error(E.MandateHashError("x")) == "invalid_mandate"
    assert ap2.ap2_error(E.MandateReplayError("x")) == "mandate_already_used"
