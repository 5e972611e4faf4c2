"""OpenID4VP ``transaction_data`` (offchain/agent/oid4vp.py) and AP2 v0.2's delegation through it:
a verifier's request, the wallet's presentation binding the transaction data (hashes, nonce, aud;
a Delegate SD-JWT link for ``delegate``), the verifier's checks, and the mandates that come out of
it passing ap2's checks; every refusal typed."""

from __future__ import annotations

import pytest

from offchain.agent import ap2, oid4vp, sdjwt
from offchain.agent import errors as E
from tests.offchain.agent.test_agent_ap2 import (
    AGENT,
    CUR,
    DEVICE,
    DIGITS,
    INSTRUMENT,
    ISSUERS,
    M1,
    M2,
    NOW,
    OTHER,
    TASK,
    TICK,
    check_co,
    check_pay,
    checkout_jwt,
    closed_checkout,
    closed_payment,
    constraints,
    credential,
)

CARD = oid4vp.payment_card_data(["user"], "Feeds Inc.", "0.01 USDC")


def query(claims=("name",)):
    return oid4vp.credential_query("user", claims=claims)


def closed_pair(cj):
    co = ap2.closed_checkout(cj)
    pay = ap2.closed_payment(ap2.checkout_hash(cj), M1, 10_000, CUR, INSTRUMENT)
    return co, pay


def human_present(cj, client_id=M1["id"], nonce=TASK, td=None):
    """The merchant's request for the user's closed mandates (AP2's example: a payment card to show
    and the delegate)."""
    tds = td if td is not None else [CARD, oid4vp.delegate_data(closed_pair(cj), ["user"])]
    return oid4vp.request(client_id, nonce, [query()], tds)


def wallet(req, cred=None, key=DEVICE, iat=NOW):
    return oid4vp.respond(req.to_dict(), {"user": (cred or credential(), key)}, iat=iat)


def test_human_present_closed_mandates_through_openid4vp_pass_the_merchants_checks():
    cj = checkout_jwt()
    req = human_present(cj)
    vp = wallet(req)
    got = oid4vp.verify_response(req, vp, ISSUERS, now=NOW)["user"]
    # the key binding binds both transaction data entries, aud and nonce
    assert got.kb["transaction_data_hashes"] == [oid4vp.data_hash(t) for t in req.transaction_data]
    assert got.kb["transaction_data_hashes_alg"] == "sha-256"
    assert (got.kb["aud"], got.kb["nonce"]) == (M1["id"], TASK)
    assert got.chain is not None and got.chain.links[-1].header["typ"] == sdjwt.KB_SD_TYP
    assert [c["vct"] for c in got.chain.links[-1].contents] == [ap2.CHECKOUT, ap2.PAYMENT]
    # the credential reveals what the query names only
    assert got.claims["name"] == "Ada" and "email" not in got.claims
    assert [t["type"] for t in got.transaction_data] == [oid4vp.PAYMENT_CARD, oid4vp.DELEGATE]
    co_text, pay_text = oid4vp.split(got.text)
    co = check_co(co_text, cj)
    assert co.closed["checkout_jwt"] == cj and co.opens == ()
    v, _ = check_pay(pay_text, cj, co)
    assert v.closed["payee"] == M1
    # each split chain carries one mandate only: the payment chain does not show the checkout JWT
    assert cj not in pay_text


def test_human_not_present_open_mandates_delegated_through_openid4vp_then_closed_by_the_agent():
    # 1. the agent asks the user's wallet for its open checkout mandate
    open_co = ap2.open_mandate(
        ap2.CHECKOUT_OPEN,
        AGENT,
        [ap2.line_items([("feed", [TICK], 1)]), ap2.allowed_merchants([M1, M2])],
        iat=NOW - 10,
        exp=NOW + 3600,
    )
    req1 = oid4vp.request("agent", "d-1", [query(())], [oid4vp.delegate_data([open_co], ["user"])])
    got1 = oid4vp.verify_response(req1, wallet(req1, iat=NOW - 10), ISSUERS, now=NOW - 5)["user"]
    oc = got1.text
    assert got1.chain is not None and got1.chain.links[-1].header["typ"] == sdjwt.KB_SD_KB_TYP
    # the allowed merchants stayed selectively disclosable (their disclosures were the request's)
    assert "_sd" not in str(got1.chain.links[-1].content["constraints"][1]["allowed"])
    # 2. then its open payment mandate, referencing the open checkout link
    open_pay = ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT, constraints(oc), iat=NOW - 10, exp=NOW + 3600)
    req2 = oid4vp.request("agent", "d-2", [query(())], [oid4vp.delegate_data([open_pay], ["user"])])
    op = oid4vp.verify_response(req2, wallet(req2, iat=NOW - 10), ISSUERS, now=NOW - 5)["user"].text
    # 3. the agent closes both for the merchant, who checks them as any AP2 chain
    cj = checkout_jwt()
    co = check_co(closed_checkout(oc, cj), cj)
    v, _ = check_pay(closed_payment(op, cj), cj, co)
    assert len(v.opens) == 1 and v.closed["payment_amount"]["amount"] == 10_000


def test_the_merchant_asks_the_agent_to_close_its_open_mandate_through_openid4vp():
    cj = checkout_jwt()
    open_co = ap2.open_mandate(
        ap2.CHECKOUT_OPEN, AGENT, [ap2.line_items([("feed", [TICK], 1)])], iat=NOW - 10, exp=NOW + 3600
    )
    oc = ap2.delegate(credential(), DEVICE, open_co, aud="agent", nonce="d-1", iat=NOW - 10)
    req = oid4vp.request(
        M1["id"], TASK, [query(())], [oid4vp.delegate_data([ap2.closed_checkout(cj)], ["user"])]
    )
    vp = oid4vp.respond(req.to_dict(), {"user": (oc, AGENT)}, iat=NOW)
    got = oid4vp.verify_response(req, vp, ISSUERS, now=NOW)["user"]
    assert got.chain is not None and len(got.chain.links) == 3
    assert check_co(got.text, cj).opens[0]["vct"] == ap2.CHECKOUT_OPEN


def test_a_plain_presentation_binds_transaction_data_with_its_kb_jwt():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    got = oid4vp.verify_response(req, wallet(req), ISSUERS, now=NOW)["user"]
    assert got.chain is None and got.kb["transaction_data_hashes"] == [oid4vp.data_hash(CARD)]
    # no transaction data: a plain presentation without hashes
    req0 = oid4vp.request("verifier", "n-1", [query()])
    got0 = oid4vp.verify_response(req0, wallet(req0), ISSUERS, now=NOW)["user"]
    assert "transaction_data_hashes" not in got0.kb and got0.transaction_data == ()


# ---------------------------------------------------------------- refusals: the verifier


def kb_jwt(req, **claims):
    """A presentation whose KB-JWT the test writes itself."""
    body = sdjwt.prune(credential(), lambda d: d.name == "name")
    kb = {"iat": NOW, "aud": req.client_id, "nonce": req.nonce, "sd_hash": sdjwt.digest(body)} | claims
    return {"user": [body + sdjwt.sign_jwt(DEVICE, {"typ": sdjwt.KB_TYP}, kb)]}


def test_a_wrong_transaction_data_hash_is_refused():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    other = oid4vp.request(
        "verifier", "n-1", [query()], [oid4vp.payment_card_data(["user"], "Evil", "99 USDC")]
    )
    with pytest.raises(E.TransactionDataHashError, match="matches none"):
        oid4vp.verify_response(req, wallet(other), ISSUERS, now=NOW)


def test_a_missing_transaction_data_hash_is_refused():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    bare = oid4vp.request("verifier", "n-1", [query()])
    with pytest.raises(E.TransactionDataHashError, match="bound by 0 presentations"):
        oid4vp.verify_response(req, wallet(bare), ISSUERS, now=NOW)
    with pytest.raises(E.TransactionDataHashError, match="without transaction_data_hashes"):
        oid4vp.verify_response(req, kb_jwt(req, transaction_data_hashes_alg="sha-256"), ISSUERS, now=NOW)


def test_a_wrong_or_missing_hash_algorithm_is_refused():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    h = [oid4vp.data_hash(CARD)]
    assert oid4vp.verify_response(
        req, kb_jwt(req, transaction_data_hashes=h, transaction_data_hashes_alg="sha-256"), ISSUERS, now=NOW
    )
    with pytest.raises(E.TransactionDataHashError, match="not one the request allows"):
        oid4vp.verify_response(
            req,
            kb_jwt(req, transaction_data_hashes=h, transaction_data_hashes_alg="sha-384"),
            ISSUERS,
            now=NOW,
        )
    with pytest.raises(E.TransactionDataHashError, match="is required"):
        oid4vp.verify_response(req, kb_jwt(req, transaction_data_hashes=h), ISSUERS, now=NOW)
    with pytest.raises(E.TransactionDataHashError, match="non-empty list"):
        oid4vp.verify_response(
            req,
            kb_jwt(req, transaction_data_hashes=h[0], transaction_data_hashes_alg="sha-256"),
            ISSUERS,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("client_id", "nonce", "match"), [("evil", "n-1", "audience"), ("verifier", "n-2", "nonce")]
)
def test_a_presentation_for_another_verifier_or_exchange_is_refused(client_id, nonce, match):
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    other = oid4vp.request(client_id, nonce, [query()], [CARD])
    with pytest.raises(E.SdJwtBindingError, match=match):
        oid4vp.verify_response(req, wallet(other), ISSUERS, now=NOW)
    # delegations too
    cj = checkout_jwt()
    with pytest.raises(E.SdJwtBindingError, match=match):
        oid4vp.verify_response(
            human_present(cj),
            wallet(human_present(cj, M1["id"] if client_id == "verifier" else client_id, nonce)),
            ISSUERS,
            now=NOW,
        )


def test_a_delegation_other_than_the_one_requested_is_refused():
    cj = checkout_jwt()
    req = human_present(cj)
    td = req.transaction_data[1]
    # the wallet's link binds the right hashes but delegates another payment
    co, _ = closed_pair(cj)
    worse = ap2.closed_payment(ap2.checkout_hash(cj), M2, 99_000, CUR, INSTRUMENT)
    body = sdjwt.prune(credential(), lambda d: d.name == "name")
    text = sdjwt.delegate(
        body,
        DEVICE,
        [co, worse],
        aud=M1["id"],
        nonce=TASK,
        iat=NOW,
        binds_key=False,
        claims={
            "transaction_data_hashes": [oid4vp.data_hash(CARD), oid4vp.data_hash(td)],
            "transaction_data_hashes_alg": "sha-256",
        },
    )
    with pytest.raises(E.TransactionDataError, match="not the delegate_payload requested"):
        oid4vp.verify_response(req, {"user": [text]}, ISSUERS, now=NOW)
    # a delegate request answered by a plain presentation
    with pytest.raises(E.TransactionDataError, match="without delegating"):
        oid4vp.verify_response(
            req,
            kb_jwt(
                req, transaction_data_hashes=[oid4vp.data_hash(td)], transaction_data_hashes_alg="sha-256"
            ),
            ISSUERS,
            now=NOW,
        )
    # a delegation nobody asked for
    plain = oid4vp.request(M1["id"], TASK, [query()], [CARD])
    with pytest.raises(E.TransactionDataHashError, match="matches none"):
        oid4vp.verify_response(plain, wallet(req), ISSUERS, now=NOW)


def test_a_vp_token_that_does_not_answer_the_queries_is_refused():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    vp = wallet(req)
    for bad in ({}, {"user": vp["user"], "x": vp["user"]}, {"user": vp["user"] * 2}, {"user": "text"}):
        with pytest.raises(E.TransactionDataError, match="vp_token"):
            oid4vp.verify_response(req, bad, ISSUERS, now=NOW)


def test_a_tampered_or_untrusted_presentation_is_refused():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    with pytest.raises(E.SdJwtIssuerError):
        oid4vp.verify_response(req, wallet(req), {}, now=NOW)
    with pytest.raises(E.SdJwtSignatureError):
        oid4vp.verify_response(req, wallet(req, key=OTHER), ISSUERS, now=NOW)
    with pytest.raises(E.SdJwtExpiredError):
        oid4vp.verify_response(req, wallet(req, iat=NOW - 3600), ISSUERS, now=NOW)


# ---------------------------------------------------------------- refusals: the wallet, the request


def encoded(**obj):
    return oid4vp.encode({"credential_ids": ["user"]} | obj)


@pytest.mark.parametrize(
    ("td", "match"),
    [
        (encoded(type="wire_transfer"), "unknown transaction data type"),
        (encoded(type="payment_card", merchant_name="m", amount="1", colour="red"), "unknown fields"),
        (encoded(type="payment_card", merchant_name="m"), "amount must be a string"),
        (encoded(type="payment_card", merchant_name="m", amount="1", credential_ids=[]), "credential_ids"),
        (
            oid4vp.encode(
                {"type": "payment_card", "credential_ids": ["card"], "merchant_name": "m", "amount": "1"}
            ),
            "does not query",
        ),
        (
            encoded(
                type="payment_card", merchant_name="m", amount="1", transaction_data_hashes_alg=["sha-512"]
            ),
            "no hash algorithm known",
        ),
        (encoded(type="delegate", format="jwt_vc_json", delegate_payload=[{}]), "format"),
        (encoded(type="delegate", format="dc+sd-jwt", delegate_payload=[]), "delegate_payload"),
        (
            encoded(
                type="delegate",
                format="dc+sd-jwt",
                delegate_payload=[{"a": 1}],
                delegate_disclosures=["WyJzIiwiYiIsMl0"],
            ),
            "do not fit",
        ),
        ("not base64!", "base64url"),
        (sdjwt.b64url(b"[1]"), "JSON object"),
    ],
)
def test_malformed_transaction_data_is_refused_by_request_and_wallet(td, match):
    with pytest.raises(E.TransactionDataError, match=match):
        oid4vp.request("verifier", "n-1", [query()], [td])
    raw = oid4vp.Request("verifier", "n-1", (query(),), (td,)).to_dict()
    with pytest.raises(E.TransactionDataError, match=match):
        oid4vp.respond(raw, {"user": (credential(), DEVICE)}, iat=NOW)


def test_the_wallet_refuses_requests_it_cannot_answer():
    req = oid4vp.request("verifier", "n-1", [query()], [CARD])
    with pytest.raises(E.TransactionDataError, match="holds none"):
        oid4vp.respond(req.to_dict(), {}, iat=NOW)
    typed = oid4vp.request("verifier", "n-1", [oid4vp.credential_query("user", ["com.emvco.dpc"])])
    with pytest.raises(E.TransactionDataError, match="vct"):
        oid4vp.respond(typed.to_dict(), {"user": (credential(), DEVICE)}, iat=NOW)
    cj = checkout_jwt()
    two = oid4vp.request("v", "n", [query()], [oid4vp.delegate_data(closed_pair(cj), ["user"])] * 2)
    with pytest.raises(E.TransactionDataError, match="at most one delegate"):
        oid4vp.respond(two.to_dict(), {"user": (credential(), DEVICE)}, iat=NOW)
    for bad in (
        {"response_type": "code"},
        req.to_dict() | {"nonce": ""},
        req.to_dict() | {"transaction_data": []},
    ):
        with pytest.raises(E.TransactionDataError):
            oid4vp.respond(bad, {"user": (credential(), DEVICE)}, iat=NOW)


def test_transaction_data_refusals_map_to_ap2_error_codes():
    assert ap2.ap2_error(E.TransactionDataHashError("x")) == ap2.INVALID_CREDENTIAL
    assert DIGITS[CUR] == 6  # the shared fixtures are the AP2 tests'
