"""x402 v2 end to end on the test chain: a resource server behind the payment middleware, a
facilitator settling on anvil (over HTTP and in-process), a client paying within a budget, with
balances checked on chain; every refusal as its typed error and x402 reason code; the messages
and headers as the spec has them."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import anyio
import httpx
import pytest

from offchain.abi import ZERO_ADDRESS
from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.client import PayingClient, parse_payment_required
from offchain.agent.evm import create_payment
from offchain.agent.facilitator import LocalFacilitator, error_of, parse_request
from offchain.agent.x402 import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    EvmPayload,
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    decode_header,
    encode_header,
)
from offchain.chain.agent import StableToken
from offchain.chain.sdk import load_abis
from tests.offchain.agent.support import (
    FUNDS,
    MAX_TOKENS_PRICE,
    PER_TOKEN,
    PRICE,
    build_world,
    resource_app,
    serving,
)

ADDR = "0x" + "11" * 20


@pytest.fixture(scope="module")
def x402_world(project, accounts, chain):
    return build_world(project, accounts, chain)


@pytest.fixture
def fac(x402_world):
    return x402_world.fresh_facilitator()


@pytest.fixture
def servers(x402_world, fac):
    """The facilitator and the resource server, each on its own HTTP port."""
    with serving(x402_world, fac) as urls:
        yield urls


def exact_req(x402_world, amount=PRICE, **kw):
    return x402_world.facilitator.requirements(
        "exact", x402_world.token.address, x402_world.addresses["seller"], amount, **kw
    )


def upto_req(x402_world, amount=MAX_TOKENS_PRICE):
    return x402_world.facilitator.requirements(
        "upto", x402_world.token.address, x402_world.addresses["seller"], amount
    )


def pay(x402_world, req, who="payer", **kw):
    return create_payment(x402_world.keys[who], req, now=x402_world.clock(), **kw)


# ---------------------------------------------------------------- end to end over HTTP


def test_exact_end_to_end_over_http(x402_world, servers):
    fac_url, url = servers
    seller, payer = x402_world.addresses["seller"], x402_world.addresses["payer"]
    before = (x402_world.balance(payer), x402_world.balance(seller))
    # unpaid: 402 with the offers in PAYMENT-REQUIRED (base64 JSON, v2), the same in the body
    r = httpx.get(url + "/price")
    assert r.status_code == 402
    pr = json.loads(base64.b64decode(r.headers[PAYMENT_REQUIRED]))
    assert pr == r.json()
    assert pr["x402Version"] == 2 and pr["error"] == "PAYMENT-SIGNATURE header is required"
    assert pr["resource"] == {
        "url": url + "/price",
        "description": "ETH price",
        "mimeType": "application/json",
    }
    (offer,) = pr["accepts"]
    assert offer == {
        "scheme": "exact",
        "network": f"eip155:{x402_world.w3.eth.chain_id}",
        "amount": str(PRICE),
        "asset": x402_world.token.address,
        "payTo": seller,
        "maxTimeoutSeconds": 60,
        "extra": {"name": "USD Coin", "version": "2"},
    }
    # a free route stays free
    assert httpx.get(url + "/free").json() == {"ok": True}
    client = x402_world.client(budget=3 * PRICE)
    r = client.get(url + "/price")
    assert r.status_code == 200 and r.json()["payer"] == payer
    settled = json.loads(base64.b64decode(r.headers[PAYMENT_RESPONSE]))
    assert settled["success"] is True and settled["payer"] == payer and settled["amount"] == str(PRICE)
    assert settled["network"] == offer["network"]
    receipt = x402_world.w3.eth.get_transaction_receipt(settled["transaction"])
    assert receipt["status"] == 1 and receipt["to"] == x402_world.token.address
    assert (x402_world.balance(payer), x402_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)
    assert client.spent == PRICE and client.left == 2 * PRICE and len(client.receipts) == 1
    # the facilitator pays the gas, never the tokens
    assert x402_world.balance(x402_world.addresses["facilitator"]) == 0
    # /supported as x402 v2 has it
    sup = httpx.get(fac_url + "/supported").json()
    net = offer["network"]
    assert sup["kinds"][0] == {"x402Version": 2, "scheme": "exact", "network": net}
    assert (
        sup["kinds"][1]["scheme"] == "upto"
        and sup["kinds"][1]["extra"]["settler"] == x402_world.settler.address
    )
    assert sup["extensions"] == [] and sup["signers"] == {"eip155:*": [x402_world.addresses["facilitator"]]}


def test_replayed_signature_is_refused_and_costs_nothing(x402_world, servers):
    _, url = servers
    payload = pay(x402_world, exact_req(x402_world))
    header = {PAYMENT_SIGNATURE: encode_header(payload)}
    assert httpx.get(url + "/price", headers=header).status_code == 200
    before = x402_world.balance("payer")
    r = httpx.get(url + "/price", headers=header)
    assert r.status_code == 402
    assert (
        decode_header(r.headers[PAYMENT_REQUIRED], PAYMENT_REQUIRED)["error"] == E.PaymentReplayedError.code
    )
    assert x402_world.balance("payer") == before


def test_upto_bills_the_tokens_generated(x402_world, servers):
    _, url = servers
    seller, payer = x402_world.addresses["seller"], x402_world.addresses["payer"]
    before = (x402_world.balance(payer), x402_world.balance(seller))
    client = x402_world.client(budget=MAX_TOKENS_PRICE, schemes=("upto",))
    r = client.post(url + "/infer", json={"max_tokens": 37})
    assert r.status_code == 200 and r.json()["tokens"] == 37
    settled = SettleResponse.from_json(decode_header(r.headers[PAYMENT_RESPONSE], PAYMENT_RESPONSE))
    assert settled.amount == 37 * PER_TOKEN
    assert (x402_world.balance(payer), x402_world.balance(seller)) == (
        before[0] - 37 * PER_TOKEN,
        before[1] + 37 * PER_TOKEN,
    )
    assert x402_world.token.balance_of(x402_world.settler.address) == 0
    # the budget is spent by the charge, not by the maximum held while in flight
    assert client.spent == 37 * PER_TOKEN and client.left == MAX_TOKENS_PRICE - 37 * PER_TOKEN
    with pytest.raises(E.BudgetExceededError):  # the maximum is held while in flight
        client.post(url + "/infer", json={"max_tokens": 1})
    # a route charging above the maximum is refused, and nothing moves
    rich = x402_world.client(budget=10 * MAX_TOKENS_PRICE)
    before = x402_world.balance(payer)
    with pytest.raises(E.PaymentRefusedError) as info:
        rich.post(url + "/infer", json={"max_tokens": MAX_TOKENS_PRICE // PER_TOKEN + 1})
    assert info.value.reason == E.PaymentAmountError.code
    assert x402_world.balance(payer) == before and rich.spent == 0


def test_failed_route_is_not_settled(x402_world, servers):
    _, url = servers
    client = x402_world.client()
    before = x402_world.balance("payer")
    r = client.get(url + "/broken")
    assert r.status_code == 503 and PAYMENT_RESPONSE not in r.headers
    assert x402_world.balance("payer") == before and client.spent == 0 and client.left == client.budget


# ---------------------------------------------------------------- the client's own refusals


def test_client_budget_and_offers(x402_world, servers):
    _, url = servers
    with pytest.raises(E.BudgetExceededError, match="exceeds what is left"):
        x402_world.client(budget=PRICE - 1).get(url + "/price")
    with pytest.raises(E.BudgetExceededError):
        x402_world.client(budget=10 * PRICE, max_per_request=PRICE - 1).get(url + "/price")
    other = PayingClient(x402_world.keys["payer"], x402_world.w3.eth.chain_id, ADDR, 10**9)
    with pytest.raises(E.NoAcceptablePaymentError):
        other.get(url + "/price")
    wrong_chain = PayingClient(x402_world.keys["payer"], 1, x402_world.token.address, 10**9)
    with pytest.raises(E.NoAcceptablePaymentError):
        wrong_chain.get(url + "/price")
    with pytest.raises(E.NoAcceptablePaymentError):
        x402_world.client(allowed_payees={ADDR}).get(url + "/price")
    # two payments within budget, the third is refused
    c = x402_world.client(budget=2 * PRICE)
    c.get(url + "/price")
    c.get(url + "/price")
    with pytest.raises(E.BudgetExceededError):
        c.get(url + "/price")
    assert c.spent == 2 * PRICE


def test_server_refusal_reaches_the_client_typed(x402_world, servers):
    _, url = servers
    broke = x402_world.client(who="seller")  # the seller holds no USDC of its own
    with pytest.raises(E.PaymentRefusedError) as info:
        broke.get(url + "/price")
    assert info.value.reason == E.PaymentUnderfundedError.code
    assert broke.spent == 0 and broke.left == broke.budget


# ---------------------------------------------------------------- the facilitator's refusals


def refused(fac, payload, req, cls):
    with pytest.raises(cls) as info:
        fac.verify(payload, req)
    assert info.value.code == cls.code
    return info.value


def test_every_refusal_of_an_exact_payment(x402_world, fac, project, accounts):
    req = exact_req(x402_world)
    good = pay(x402_world, req)
    assert fac.verify(good, req) == x402_world.addresses["payer"]
    a = good.payload.authorization
    t = x402_world.clock()

    def with_auth(**kw):
        return replace(good, payload=replace(good.payload, authorization=replace(a, **kw)))

    # tampered: the signature no longer covers the fields
    refused(fac, with_auth(value=PRICE + 1), replace(req, amount=PRICE + 1), E.PaymentSignatureError)
    sig = bytearray(good.payload.signature)
    sig[5] ^= 0xFF
    refused(
        fac, replace(good, payload=replace(good.payload, signature=bytes(sig))), req, E.PaymentSignatureError
    )
    refused(
        fac,
        replace(good, payload=replace(good.payload, signature=b"\x01" * 10)),
        req,
        E.PaymentSignatureError,
    )
    # signed by another key for the payer's address
    forged = pay(x402_world, req, who="payer2")
    forged = replace(
        forged,
        payload=replace(forged.payload, authorization=replace(forged.payload.authorization, from_=a.from_)),
    )
    refused(fac, forged, req, E.PaymentSignatureError)
    # wrong payee, wrong amount (signed honestly, but not what the server asks)
    refused(fac, pay(x402_world, replace(req, pay_to=ADDR)), req, E.PaymentPayeeError)
    refused(fac, with_auth(to=ADDR), req, E.PaymentPayeeError)
    refused(fac, pay(x402_world, replace(req, amount=PRICE - 1)), req, E.PaymentAmountError)
    low = pay(x402_world, req)
    low = replace(
        low, payload=replace(low.payload, authorization=replace(low.payload.authorization, value=PRICE - 1))
    )
    refused(fac, low, req, E.PaymentAmountError)
    # wrong network (chain id), wrong asset
    refused(fac, good, replace(req, network="eip155:1"), E.PaymentNetworkError)
    refused(fac, replace(good, accepted=replace(req, network="eip155:8453")), req, E.PaymentNetworkError)
    other = accounts[0].deploy(project.StableToken, "USD Coin", "USDC", accounts[0])
    refused(fac, pay(x402_world, replace(req, asset=other.address)), req, E.PaymentAssetError)
    refused(fac, good, replace(req, asset=other.address), E.PaymentAssetError)
    # time window
    not_yet = create_payment(x402_world.keys["payer"], req, now=t + 1200)  # valid after t + 600
    refused(fac, not_yet, req, E.PaymentNotYetValidError)
    expired = create_payment(x402_world.keys["payer"], req, now=t - 120)  # valid before t - 60
    refused(fac, expired, req, E.PaymentExpiredError)
    # underfunded
    refused(fac, pay(x402_world, req, who="seller"), req, E.PaymentUnderfundedError)
    # replay: settled once, refused after; the balance moved once
    before = x402_world.balance("payer")
    out = fac.settle(good, req)
    assert out.success and out.amount == PRICE and x402_world.balance("payer") == before - PRICE
    refused(fac, good, req, E.PaymentReplayedError)
    with pytest.raises(E.PaymentReplayedError):
        fac.settle(good, req)
    assert x402_world.balance("payer") == before - PRICE
    # unsupported scheme
    refused(fac, good, replace(req, scheme="deferred"), E.PaymentSchemeError)


def test_upto_refusals(x402_world, fac):
    req = upto_req(x402_world)
    good = pay(x402_world, req)
    assert fac.verify(good, req) == x402_world.addresses["payer"]
    # the nonce binds the payee: a payload re-pointed at another payee is refused
    refused(
        fac,
        replace(good, accepted=replace(good.accepted, pay_to=ADDR)),
        replace(req, pay_to=ADDR),
        E.PaymentPayeeError,
    )
    # a charge above the maximum
    with pytest.raises(E.PaymentAmountError):
        fac.settle(good, replace(req, amount=MAX_TOKENS_PRICE + 1))
    # an authorization to someone else than the settler
    bad = replace(
        good, payload=replace(good.payload, authorization=replace(good.payload.authorization, to=ADDR))
    )
    refused(fac, bad, req, E.PaymentPayeeError)
    # requirements naming another settler or facilitator
    refused(fac, good, replace(req, extra=req.extra | {"settler": ADDR}), E.PaymentRequirementsError)
    refused(fac, good, replace(req, extra=req.extra | {"facilitator": ADDR}), E.PaymentRequirementsError)
    out = fac.settle(good, replace(req, amount=1234))
    assert out.amount == 1234 and x402_world.balance("payer") == FUNDS - 1234
    with pytest.raises(E.PaymentReplayedError):
        fac.settle(good, replace(req, amount=1))


def test_http_verify_and_settle_answer_reason_codes(x402_world, servers):
    fac_url, _ = servers
    req = exact_req(x402_world)
    good = pay(x402_world, req)
    body = {"x402Version": 2, "paymentPayload": good.to_json(), "paymentRequirements": req.to_json()}
    assert httpx.post(fac_url + "/verify", json=body).json() == {
        "isValid": True,
        "payer": x402_world.addresses["payer"],
    }
    wrong = body | {"paymentRequirements": replace(req, amount=PRICE + 1).to_json()}
    refused = httpx.post(fac_url + "/verify", json=wrong).json()
    # the reason's words beside its code, as the official SDKs' invalidMessage
    assert refused.pop("invalidMessage") == f"the authorization is for {PRICE}, the price is {PRICE + 1}"
    assert refused == {
        "isValid": False,
        "invalidReason": "invalid_exact_evm_payload_authorization_value_mismatch",
        "payer": x402_world.addresses["payer"],
    }
    s = httpx.post(fac_url + "/settle", json=body).json()
    assert s["success"] is True and s["transaction"].startswith("0x") and len(s["transaction"]) == 66
    again = httpx.post(fac_url + "/settle", json=body).json()
    assert "used" in again.pop("errorMessage")
    assert again == {
        "success": False,
        "errorReason": E.PaymentReplayedError.code,
        "payer": x402_world.addresses["payer"],
        "transaction": "",
        "network": req.network,
    }
    assert (
        httpx.post(fac_url + "/verify", json=body | {"x402Version": 1}).json()["invalidReason"]
        == "invalid_x402_version"
    )
    assert httpx.post(fac_url + "/verify", content=b"{not json").status_code == 400
    assert (
        httpx.post(fac_url + "/verify", json={"paymentPayload": 3}).json()["invalidReason"]
        == "invalid_payload"
    )


def test_in_process_facilitator(x402_world, fac):
    app = resource_app(x402_world, LocalFacilitator(fac))

    async def run():  # httpx's ASGI transport is async-only
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as c:
            r = await c.get("/price")
            offer = parse_payment_required(r.headers, r.content).accepts[0]
            p = create_payment(x402_world.keys["payer2"], offer, now=x402_world.clock())
            return await c.get("/price", headers={PAYMENT_SIGNATURE: encode_header(p)})

    r = anyio.run(run)
    assert r.status_code == 200 and x402_world.balance("payer2") == FUNDS - PRICE


# ---------------------------------------------------------------- messages and headers


def test_messages_round_trip_and_refusals(x402_world):
    req = exact_req(x402_world)
    p = pay(x402_world, req)
    assert PaymentPayload.from_json(decode_header(encode_header(p), PAYMENT_SIGNATURE)) == p
    pr = PaymentRequired(ResourceInfo("http://x/y"), (req,), "why")
    assert PaymentRequired.from_json(pr.to_json()) == pr
    j = p.to_json()
    assert set(j) == {"x402Version", "accepted", "payload", "extensions"}
    assert set(j["payload"]["authorization"]) == {"from", "to", "value", "validAfter", "validBefore", "nonce"}
    assert parse_request({"paymentPayload": j, "paymentRequirements": req.to_json()}) == (p, req)
    bad_cases = [
        (None, E.PaymentPayloadError, "missing"),
        ("!!!", E.PaymentPayloadError, "not base64"),
        (base64.b64encode(b"[1,2").decode(), E.PaymentPayloadError, "not base64 of JSON"),
        (base64.b64encode(b"[" * 40 + b"]" * 40).decode(), E.PaymentPayloadError, "nest"),
        ("A" * 20000, E.PaymentPayloadError, "longer"),
    ]
    for raw, cls, match in bad_cases:
        with pytest.raises(cls, match=match):
            decode_header(raw, PAYMENT_SIGNATURE)
    with pytest.raises(E.PaymentVersionError):
        PaymentPayload.from_json(j | {"x402Version": 1})
    for field, value in (
        ("amount", "-1"),
        ("amount", "1e6"),
        ("amount", 5),
        ("payTo", "0x12"),
        ("maxTimeoutSeconds", 0),
    ):
        with pytest.raises(E.PaymentPayloadError):
            PaymentPayload.from_json(j | {"accepted": j["accepted"] | {field: value}})
        with pytest.raises(E.PaymentRequirementsError):
            PaymentRequirements.from_json(req.to_json() | {field: value})
    auth = j["payload"]["authorization"]
    for field, value in (("nonce", "0x12"), ("nonce", "zz"), ("value", "0x10"), ("from", 7)):
        with pytest.raises(E.PaymentPayloadError):
            PaymentPayload.from_json(j | {"payload": j["payload"] | {"authorization": auth | {field: value}}})
    with pytest.raises(E.PaymentPayloadError):
        EvmPayload.from_json({"signature": "0x", "authorization": auth}, "exact")
    with pytest.raises(E.PaymentPayloadError):  # upto needs its salt
        EvmPayload.from_json(j["payload"], "upto")
    with pytest.raises(E.PaymentPayloadError):
        PaymentRequired.from_json(pr.to_json() | {"accepts": []})
    assert isinstance(error_of("insufficient_funds", "m"), E.PaymentUnderfundedError)
    assert isinstance(error_of("something else", "m"), E.FacilitatorError)


def test_token_handle_reads(x402_world):
    t = StableToken(x402_world.w3, x402_world.token.address, load_abis()["StableToken"])
    assert t.name == "USD Coin" and t.balance_of(x402_world.addresses["payer"]) == FUNDS


# ---------------------------------------------------------------- eigen agent


def test_cli_pay_and_bad_inputs(x402_world, servers, capsys, tmp_path, monkeypatch):
    from offchain.agent import client
    from offchain.cli import main

    # The command signs with its machine's clock; the test chain's clock may run ahead of it (earlier
    # tests advance anvil's time), so the command's client reads the chain's, as the other tests do.
    class ChainClockClient(client.PayingClient):
        def __init__(self, *args, **kw):
            super().__init__(*args, clock=x402_world.clock, **kw)

    monkeypatch.setattr(client, "PayingClient", ChainClockClient)
    _, url = servers
    key_file = tmp_path / "payer.key"
    key_file.write_text(str(x402_world.keys["payer"]))
    cid = str(x402_world.w3.eth.chain_id)
    before = x402_world.balance("payer")
    common = ["--key", str(key_file), "--token", x402_world.token.address, "--chain-id", cid]
    assert main(["agent", "pay", url + "/price", *common, "--budget", str(PRICE)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == 200 and out["spent"] == PRICE and out["settlement"]["success"] is True
    assert x402_world.balance("payer") == before - PRICE
    assert main(["agent", "pay", url + "/price", *common, "--budget", str(PRICE - 1)]) == 2
    assert "BudgetExceededError" in capsys.readouterr().err
    assert (
        main(
            [
                "agent",
                "pay",
                url + "/price",
                "--key",
                "0x12",
                "--token",
                ADDR,
                "--chain-id",
                cid,
                "--budget",
                "1",
            ]
        )
        == 2
    )
    assert "a key is 0x and 64 hex digits" in capsys.readouterr().err
    bad_token = ["--key", str(key_file), "--token", "0x12", "--chain-id", cid, "--budget", "1"]
    assert main(["agent", "pay", url + "/price", *bad_token]) == 2
    assert "--token must be a 20-byte hex address" in capsys.readouterr().err
    assert main(["agent"]) == 2
    fac = ["agent", "facilitator", "--key", str(key_file), "--token", x402_world.token.address]
    assert main([*fac, "--rpc", "http://127.0.0.1:9"]) == 2
    assert "no node answers" in capsys.readouterr().err
    assert main([*fac[:-1], "0x12", "--rpc", "http://127.0.0.1:9"]) == 2


def test_client_pays_only_within_its_ap2_open_payment_mandate(x402_world, servers):
    """The agent's own AP2 v0.2 open payment mandate (amount range, allowed payees, budget in the
    token's major units, recurrence) applied to every offer before anything is signed."""
    _, url = servers
    network = f"eip155:{x402_world.w3.eth.chain_id}"
    currency = f"{network}/erc20:{x402_world.token.address}"
    digits = {currency: 6}
    seller = x402_world.addresses["seller"]
    now = int(x402_world.clock())

    def mandate(max_amount, payees, times=10):
        cs = [
            ap2.reference("the open checkout's digest"),
            ap2.amount_range(currency, max_amount, 1),
            ap2.allowed_payees([ap2.payee(p) for p in payees]),
            ap2.budget(currency, f"{2 * PRICE / 1e6:.2f}"),  # two requests' worth, in USDC
            ap2.recurrence("ON_DEMAND", times),
        ]
        return ap2.open_mandate(ap2.PAYMENT_OPEN, sdjwt.new_key(), cs, iat=now, exp=now + 3600)

    before = x402_world.balance("payer")
    with pytest.raises(E.MandateAmountError, match="outside"):
        x402_world.client(mandate=mandate(PRICE - 1, [seller]), digits=digits).get(url + "/price")
    with pytest.raises(E.MandatePayeeError, match="allowed payees"):
        x402_world.client(mandate=mandate(PRICE, [ADDR]), digits=digits).get(url + "/price")
    once = x402_world.client(mandate=mandate(PRICE, [seller], times=1), digits=digits)
    once.get(url + "/price")
    with pytest.raises(E.MandateBudgetError, match="allows 1 payments"):
        once.get(url + "/price")
    assert x402_world.balance("payer") == before - PRICE
    c = x402_world.client(mandate=mandate(PRICE, [seller]), digits=digits)
    c.get(url + "/price")
    c.get(url + "/price")
    with pytest.raises(E.MandateBudgetError, match="exceed the budget"):  # the mandate's, not the client's
        c.get(url + "/price")
    assert x402_world.balance("payer") == before - 3 * PRICE


def test_upto_fee_goes_to_the_vault_and_the_response_keeps_the_charge(project, accounts, x402_world, servers):
    """With the settler's fee vault named, an upto settlement charges the payer the billed amount
    (the PAYMENT-RESPONSE amount), pays floor(amount * feeBips / 10,000) into the FeeVault and the
    rest to the seller; /supported states the fee terms."""
    fac_url, url = servers
    owner = accounts[0]
    settler = project.UptoSettler.at(x402_world.settler.address)
    vault = owner.deploy(project.FeeVault, owner)
    settler.setFeeVault(vault, sender=owner)
    settler.setFeeBips(1250, sender=owner)
    try:
        extra = httpx.get(fac_url + "/supported").json()["kinds"][1]["extra"]
        assert (extra["feeVault"], extra["feeBips"]) == (vault.address, 1250)
        seller, payer = x402_world.addresses["seller"], x402_world.addresses["payer"]
        before = (x402_world.balance(payer), x402_world.balance(seller))
        client = x402_world.client(budget=MAX_TOKENS_PRICE, schemes=("upto",))
        r = client.post(url + "/infer", json={"max_tokens": 37})
        settled = SettleResponse.from_json(decode_header(r.headers[PAYMENT_RESPONSE], PAYMENT_RESPONSE))
        charge = 37 * PER_TOKEN
        fee = charge * 1250 // 10_000
        assert settled.amount == charge == client.spent
        assert x402_world.balance(payer) == before[0] - charge
        assert x402_world.balance(seller) == before[1] + charge - fee
        assert vault.balanceOf(x402_world.token.address) == fee > 0
    finally:
        settler.setFeeVault(ZERO_ADDRESS, sender=owner)
    assert httpx.get(fac_url + "/supported").json()["kinds"][1]["extra"]["feeBips"] == 0
