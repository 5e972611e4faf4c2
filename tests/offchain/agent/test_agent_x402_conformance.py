"""x402 v2 conformance: the messages, headers, reason codes and HTTP behaviour of the official
specification (coinbase/x402 specs/: x402-specification-v2.md, transports-v2/http.md,
schemes/exact/scheme_exact_evm.md) and of its reference SDKs, pinned against our parsers,
serializers, resource server, facilitator client and paying client.

The spec's example messages are re-typed here field by field (their values are the spec's); our
code must parse each and write it back unchanged, and must read what the official SDKs send
beside it (null optional fields, ``invalidMessage`` / ``errorMessage``, offers on other networks,
a refusal answered with an HTTP error)."""

from __future__ import annotations

import base64
import json

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.agent import errors as E
from offchain.agent.a2a import ERROR_CODES, extension_error
from offchain.agent.client import PayingClient, parse_payment_required
from offchain.agent.evm import create_payment
from offchain.agent.facilitator import HTTPFacilitator, LocalFacilitator, error_of
from offchain.agent.server import PaymentMiddleware, PricedRoute
from offchain.agent.x402 import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    SettleResponse,
    VerifyResponse,
    decode_header,
    encode_header,
)
from tests.offchain.agent.support import MAX_TOKENS_PRICE, build_world

# the transport spec's header names
PAYMENT_REQUIRED, PAYMENT_SIGNATURE, PAYMENT_RESPONSE = (
    "PAYMENT-REQUIRED",
    "PAYMENT-SIGNATURE",
    "PAYMENT-RESPONSE",
)
# the values of the spec's examples (Base Sepolia USDC)
NETWORK = "eip155:84532"
USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PAYER = "0x857b06519E91e3A54538791bDbb0E22373e36b66"
TX = "0x" + "1234567890abcdef" * 4
KEY = "0x" + "42" * 32

RESOURCE = {
    "url": "https://api.example.com/premium-data",
    "description": "Access to premium market data",
    "mimeType": "application/json",
}
REQUIREMENTS = {
    "scheme": "exact",
    "network": NETWORK,
    "amount": "10000",
    "asset": USDC,
    "payTo": PAY_TO,
    "maxTimeoutSeconds": 60,
    "extra": {"name": "USDC", "version": "2"},
}
PAYMENT_REQUIRED_EXAMPLE = {
    "x402Version": 2,
    "error": "PAYMENT-SIGNATURE header is required",
    "resource": RESOURCE,
    "accepts": [REQUIREMENTS],
    "extensions": {},
}
PAYMENT_PAYLOAD_EXAMPLE = {
    "x402Version": 2,
    "resource": RESOURCE,
    "accepted": REQUIREMENTS,
    "payload": {
        "signature": "0x" + "2d6a7588" * 16 + "1c",
        "authorization": {
            "from": PAYER,
            "to": PAY_TO,
            "value": "10000",
            "validAfter": "1740672089",
            "validBefore": "1740672154",
            "nonce": "0x" + "f3746613" * 8,
        },
    },
    "extensions": {},
}
SETTLED = {"success": True, "transaction": TX, "network": NETWORK, "payer": PAYER}
NOT_SETTLED = {
    "success": False,
    "errorReason": "insufficient_funds",
    "transaction": "",
    "network": NETWORK,
    "payer": PAYER,
}

# x402 v2 §9: the error codes the specification defines
SPEC_CODES = {
    "insufficient_funds",
    "invalid_exact_evm_payload_authorization_valid_after",
    "invalid_exact_evm_payload_authorization_valid_before",
    "invalid_exact_evm_payload_authorization_value_mismatch",
    "invalid_exact_evm_payload_signature",
    "invalid_exact_evm_payload_recipient_mismatch",
    "invalid_network",
    "invalid_payload",
    "invalid_payment_requirements",
    "invalid_scheme",
    "unsupported_scheme",
    "invalid_x402_version",
    "invalid_transaction_state",
    "unexpected_verify_error",
    "unexpected_settle_error",
}


def official_header(obj: dict) -> str:
    """A header as the reference SDKs write it: standard, padded base64 of the JSON."""
    return base64.b64encode(json.dumps(obj).encode()).decode()


# ---------------------------------------------------------------- the messages


def test_spec_payment_required_round_trips_through_the_header():
    pr = PaymentRequired.from_json(decode_header(official_header(PAYMENT_REQUIRED_EXAMPLE), PAYMENT_REQUIRED))
    assert pr.to_json() == PAYMENT_REQUIRED_EXAMPLE
    assert pr.accepts[0].amount == 10_000 and pr.accepts[0].domain() == ("USDC", "2")
    # what we send decodes to the same object, and is the spec's base64 flavour (standard, padded)
    ours = encode_header(pr)
    assert json.loads(base64.b64decode(ours, validate=True)) == PAYMENT_REQUIRED_EXAMPLE
    assert "-" not in ours and "_" not in ours and len(ours) % 4 == 0
    # optional members absent (the transport spec's example has no extensions) or null (SDKs)
    bare = {k: v for k, v in PAYMENT_REQUIRED_EXAMPLE.items() if k not in ("extensions", "error")}
    assert PaymentRequired.from_json(bare).extensions == {}
    nulls = PAYMENT_REQUIRED_EXAMPLE | {"extensions": None, "error": None}
    assert PaymentRequired.from_json(nulls).error is None
    assert PaymentRequired.from_json(nulls).accepts[0].extra == {"name": "USDC", "version": "2"}
    assert PaymentRequirements.from_json(REQUIREMENTS | {"extra": None}).extra == {}


def test_spec_payment_payload_round_trips_and_keeps_its_encodings():
    p = PaymentPayload.from_json(decode_header(official_header(PAYMENT_PAYLOAD_EXAMPLE), PAYMENT_SIGNATURE))
    j = p.to_json()
    assert j == PAYMENT_PAYLOAD_EXAMPLE
    assert set(j) == {"x402Version", "resource", "accepted", "payload", "extensions"}
    auth = j["payload"]["authorization"]
    # amounts and times as decimal strings, the nonce 32 bytes of lowercase 0x-hex
    assert all(isinstance(auth[k], str) and auth[k].isdigit() for k in ("value", "validAfter", "validBefore"))
    assert auth["nonce"] == auth["nonce"].lower() and len(bytes.fromhex(auth["nonce"][2:])) == 32
    assert PaymentPayload.from_json(PAYMENT_PAYLOAD_EXAMPLE | {"extensions": None}).extensions == {}
    # the exact scheme spec's `extra.assetTransferMethod` is carried as it is
    eip3009 = REQUIREMENTS | {"extra": {"assetTransferMethod": "eip3009", "name": "USDC", "version": "2"}}
    assert PaymentRequirements.from_json(eip3009).to_json() == eip3009


def test_client_payload_has_the_spec_shape():
    req = PaymentRequirements.from_json(REQUIREMENTS)
    p = create_payment(
        KEY, req, PaymentRequired.from_json(PAYMENT_REQUIRED_EXAMPLE).resource, now=1_740_672_089
    )
    j = p.to_json()
    assert j.keys() == PAYMENT_PAYLOAD_EXAMPLE.keys() and j["accepted"] == REQUIREMENTS
    assert j["payload"].keys() == {"signature", "authorization"}  # exact: no salt
    assert j["payload"]["authorization"].keys() == PAYMENT_PAYLOAD_EXAMPLE["payload"]["authorization"].keys()
    assert len(bytes.fromhex(j["payload"]["signature"][2:])) == 65
    auth = j["payload"]["authorization"]
    # the reference client's window: from 10 minutes before now until maxTimeoutSeconds after
    assert (int(auth["validAfter"]), int(auth["validBefore"])) == (1_740_672_089 - 600, 1_740_672_089 + 60)
    assert (auth["to"], auth["value"]) == (PAY_TO, "10000")


def test_settle_and_verify_responses_as_the_spec_and_the_sdks_write_them():
    for example in (SETTLED, NOT_SETTLED):
        assert (
            SettleResponse.from_json(decode_header(official_header(example), PAYMENT_RESPONSE)).to_json()
            == example
        )
    # the SDKs' extra members (human message, extensions) and nulls for absent ones are read
    sdk = NOT_SETTLED | {"errorMessage": "balance too low", "extensions": {}, "amount": None}
    assert SettleResponse.from_json(sdk).error_reason == "insufficient_funds"
    assert SettleResponse.from_json(sdk).error_message == "balance too low"
    assert SettleResponse.from_json(NOT_SETTLED | {"errorMessage": "low"}).to_json() == NOT_SETTLED | {
        "errorMessage": "low"
    }
    upto = SETTLED | {"amount": "1500"}
    assert SettleResponse.from_json(upto).amount == 1500 and SettleResponse.from_json(upto).to_json() == upto
    valid = {"isValid": True, "payer": PAYER}
    invalid = {"isValid": False, "invalidReason": "insufficient_funds", "payer": PAYER}
    for example in (valid, invalid):
        assert VerifyResponse.from_json(example).to_json() == example
    v = VerifyResponse.from_json(invalid | {"invalidMessage": "balance too low", "extensions": None})
    assert (v.is_valid, v.invalid_reason, v.payer) == (False, "insufficient_funds", PAYER)
    assert v.invalid_message == "balance too low"
    assert v.to_json() == invalid | {"invalidMessage": "balance too low"}
    with pytest.raises(E.PaymentPayloadError):
        VerifyResponse.from_json(invalid | {"invalidMessage": 3})
    with pytest.raises(E.PaymentPayloadError):
        SettleResponse.from_json(NOT_SETTLED | {"errorMessage": ["low"]})
    with pytest.raises(E.PaymentPayloadError):
        SettleResponse.from_json({k: v for k, v in SETTLED.items() if k != "transaction"})
    with pytest.raises(E.PaymentPayloadError):
        VerifyResponse.from_json({"isValid": "false"})


def test_offers_on_other_networks_parse_and_are_left_to_their_clients():
    solana = REQUIREMENTS | {
        "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
        "payTo": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5",
    }
    fiat = REQUIREMENTS | {"network": "ach:us", "asset": "USD", "payTo": "merchant"}
    pr = PaymentRequired.from_json(PAYMENT_REQUIRED_EXAMPLE | {"accepts": [solana, fiat, REQUIREMENTS]})
    assert [a.to_json() for a in pr.accepts] == [solana, fiat, REQUIREMENTS]  # kept as given
    client = PayingClient(KEY, 84532, USDC, 1_000_000)
    assert client.reserve(pr.accepts) == pr.accepts[2]  # the one on its chain
    # an EVM offer still names hex addresses; another network's members are non-empty strings
    for bad in (REQUIREMENTS | {"payTo": "merchant"}, solana | {"payTo": ""}, solana | {"asset": 7}):
        with pytest.raises(E.PaymentRequirementsError):
            PaymentRequirements.from_json(bad)


def test_reason_codes_are_the_specs_and_the_sdks_read_back():
    ours = {c.code for c in E.BY_CODE.values()}
    # every code we answer is §9's, but for the two §9 has none for: a used nonce (the SDKs'
    # code) and an asset mismatch (ours)
    assert ours - SPEC_CODES == {
        "invalid_exact_evm_nonce_already_used",
        "invalid_exact_evm_payload_asset_mismatch",
    }
    assert E.PaymentAmountError.code == "invalid_exact_evm_payload_authorization_value_mismatch"
    assert E.PaymentUnderfundedError.code == "insufficient_funds"
    assert E.PaymentReplayedError.code == "invalid_exact_evm_nonce_already_used"
    # each of our codes reads back as its own error; the codes the official facilitators
    # answer instead read as the same refusal
    for cls in set(E.BY_CODE.values()):
        assert type(error_of(cls.code, "m")) is cls
    for code, cls in (
        ("invalid_exact_evm_insufficient_balance", E.PaymentUnderfundedError),
        ("invalid_exact_evm_signature", E.PaymentSignatureError),
        ("invalid_exact_evm_authorization_value", E.PaymentAmountError),
        ("invalid_exact_evm_payload_authorization_value", E.PaymentAmountError),
        ("invalid_exact_evm_recipient_mismatch", E.PaymentPayeeError),
        ("invalid_exact_evm_network_mismatch", E.PaymentNetworkError),
        ("invalid_scheme", E.PaymentSchemeError),
        ("invalid_exact_evm_transaction_failed", E.SettlementError),
        ("unexpected_verify_error", E.FacilitatorError),
    ):
        err = error_of(code, "m", PAYER)
        assert type(err) is cls and err.payer == PAYER, code
    assert type(error_of("permit2_allowance_required", "m")) is E.FacilitatorError


def test_a2a_extension_error_codes_are_its_own():
    """a2a-x402 v0.2 §9.1: the common error codes of ``x402.payment.error``, reached from our
    reason codes and from the codes the official facilitators answer."""
    assert set(ERROR_CODES.values()) == {
        "INSUFFICIENT_FUNDS",
        "INVALID_SIGNATURE",
        "EXPIRED_PAYMENT",
        "DUPLICATE_NONCE",
        "NETWORK_MISMATCH",
        "INVALID_AMOUNT",
        "SETTLEMENT_FAILED",
    }
    assert extension_error("insufficient_funds") == "INSUFFICIENT_FUNDS"
    assert extension_error("invalid_exact_evm_insufficient_balance") == "INSUFFICIENT_FUNDS"
    assert extension_error("invalid_exact_evm_payload_authorization_value_mismatch") == "INVALID_AMOUNT"
    assert extension_error("invalid_exact_evm_nonce_already_used") == "DUPLICATE_NONCE"
    assert extension_error("invalid_exact_evm_transaction_failed") == "SETTLEMENT_FAILED"
    assert extension_error("mandate_budget") == "MANDATE_BUDGET"  # none of its: ours, upper-cased


# ---------------------------------------------------------------- the facilitator client


def test_facilitator_refusal_as_an_http_error_is_read_as_the_refusal():
    """A facilitator may answer a refusal with HTTP 400 and the verdict as its body (the official
    clients read it so); an error without a negative verdict is no answer."""
    answers = {
        "/verify": (400, {"isValid": False, "invalidReason": "invalid_exact_evm_signature", "payer": PAYER}),
        "/settle": (402, NOT_SETTLED),
    }

    async def handler(request: Request) -> JSONResponse:
        status, body = answers[request.url.path]
        return JSONResponse(body, status_code=status)

    app = Starlette(routes=[Route(p, handler, methods=["POST"]) for p in ("/verify", "/settle")])
    payload = PaymentPayload.from_json(PAYMENT_PAYLOAD_EXAMPLE)
    req = payload.accepted

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f") as c:
            f = HTTPFacilitator("http://f", client=c)
            v = await f.verify(payload, req)
            s = await f.settle(payload, req)
            out = [(v.is_valid, v.invalid_reason), (s.success, s.error_reason)]
            for path, body in (
                ("/verify", {"isValid": True, "payer": PAYER}),  # a 4xx cannot say valid
                ("/verify", {"error": "bad request"}),
                ("/settle", {"success": True, "transaction": TX, "network": NETWORK}),
            ):
                answers[path] = (400, body)
                with pytest.raises(E.FacilitatorError, match="HTTP 400"):
                    await (f.verify if path == "/verify" else f.settle)(payload, req)
            return out

    assert anyio.run(run) == [(False, "invalid_exact_evm_signature"), (False, "insufficient_funds")]


# ---------------------------------------------------------------- the paying client


def test_client_echoes_extensions_and_reads_a_failed_settlement():
    """Against a server that behaves as the reference one: a 402 declaring an extension, then,
    for the payment, the 402 of a failed settlement, which carries only PAYMENT-RESPONSE."""
    ext = {"bazaar": {"info": {"input": {"type": "http"}}, "schema": {"type": "object"}}}
    seen: list[dict] = []

    def server(request: httpx.Request) -> httpx.Response:
        raw = request.headers.get(PAYMENT_SIGNATURE)
        if raw is None:
            header = official_header(PAYMENT_REQUIRED_EXAMPLE | {"extensions": ext})
            return httpx.Response(402, headers={PAYMENT_REQUIRED: header}, json={})
        seen.append(json.loads(base64.b64decode(raw)))
        failed = NOT_SETTLED | {"payer": seen[-1]["payload"]["authorization"]["from"]}
        return httpx.Response(402, headers={PAYMENT_RESPONSE: official_header(failed)}, json={})

    client = PayingClient(KEY, 84532, USDC, 50_000, http=httpx.Client(transport=httpx.MockTransport(server)))
    with pytest.raises(E.PaymentRefusedError, match="could not settle") as info:
        client.get("https://api.example.com/premium-data")
    assert info.value.reason == "insufficient_funds"
    assert seen[0]["extensions"] == ext and seen[0]["resource"] == RESOURCE
    assert seen[0]["accepted"] == REQUIREMENTS
    assert client.spent == 0 and client.left == 50_000  # nothing paid, nothing held


# ---------------------------------------------------------------- our resource server and facilitator


@pytest.fixture(scope="module")
def conform_world(project, accounts, chain):
    return build_world(project, accounts, chain)


def test_supported_has_the_spec_shape(conform_world):
    s = conform_world.fresh_facilitator().supported()
    assert set(s) == {"kinds", "extensions", "signers"} and s["extensions"] == []
    for kind in s["kinds"]:
        assert (
            {"x402Version", "scheme", "network"} <= set(kind) <= {"x402Version", "scheme", "network", "extra"}
        )
        assert kind["x402Version"] == 2 and kind["network"] == f"eip155:{conform_world.w3.eth.chain_id}"
    assert [k["scheme"] for k in s["kinds"]] == ["exact", "upto"]
    assert s["signers"] == {"eip155:*": [conform_world.addresses["facilitator"]]}


def test_server_answers_a_failed_settlement_with_payment_response(conform_world):
    """A route that bills more than the payer authorized (upto) cannot be settled: the 402 names
    the reason in PAYMENT-RESPONSE (success false, no transaction), as the HTTP transport spec's
    failure example, and the client reads it as the refusal."""
    w = conform_world
    fac = w.fresh_facilitator()
    offer = fac.requirements("upto", w.token.address, w.addresses["seller"], MAX_TOKENS_PRICE)

    async def over(request: Request) -> JSONResponse:
        PaymentMiddleware.payment(request).charge = MAX_TOKENS_PRICE + 1
        return JSONResponse({"text": "too long"})

    app = PaymentMiddleware(
        Starlette(routes=[Route("/infer", over, methods=["POST"])]),
        [PricedRoute("/infer", (offer,), "POST", "inference")],
        LocalFacilitator(fac),
    )

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as c:
            first = await c.post("/infer")
            pr = parse_payment_required(first.headers, first.content)
            p = create_payment(w.keys["payer"], pr.accepts[0], pr.resource, now=w.clock())
            return first, await c.post("/infer", headers={PAYMENT_SIGNATURE: encode_header(p)})

    before = w.balance("payer")
    first, second = anyio.run(run)
    assert first.status_code == 402 and PAYMENT_RESPONSE not in first.headers
    assert second.status_code == 402 and PAYMENT_REQUIRED not in second.headers
    failed = decode_header(second.headers[PAYMENT_RESPONSE], PAYMENT_RESPONSE)
    assert failed == {
        "success": False,
        "errorReason": "invalid_exact_evm_payload_authorization_value_mismatch",
        "payer": w.addresses["payer"],
        "transaction": "",
        "network": offer.network,
    }
    assert second.json() == failed and w.balance("payer") == before
