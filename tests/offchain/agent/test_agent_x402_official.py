"""x402 v2 interoperability with the official Python SDK (PyPI ``x402``, the test extra), on the test
chain, both ways: the official client pays our resource server (our facilitator settling on
anvil); our PayingClient pays a resource server built with the official SDK's FastAPI/Starlette
middleware, whose facilitator is ours over HTTP; the official HTTP facilitator client talks to
our facilitator service (/supported, /verify, /settle, a refusal). Money moving is checked on
chain every time."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from eth_account import Account
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from x402 import x402Client, x402Facilitator, x402ResourceServer
from x402.http import (
    FacilitatorConfig,
    HTTPFacilitatorClient,
    HTTPFacilitatorClientSync,
    PaymentOption,
    RouteConfig,
    decode_payment_required_header,
    decode_payment_response_header,
)
from x402.http.clients.httpx import PaymentError, x402AsyncTransport
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.mechanisms.evm import FacilitatorWeb3Signer
from x402.mechanisms.evm.exact import (
    ExactEvmClientScheme,
    ExactEvmServerScheme,
    register_exact_evm_facilitator,
)
from x402.mechanisms.evm.upto import UptoEvmClientScheme
from x402.schemas import PaymentPayload as SdkPaymentPayload
from x402.schemas import PaymentRequired as SdkPaymentRequired
from x402.schemas import PaymentRequirements as SdkRequirements

from offchain.agent import errors as E
from offchain.agent.facilitator import HTTPFacilitator
from offchain.agent.server import PaymentMiddleware, PricedRoute
from offchain.agent.x402 import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    VerifyResponse,
)
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import PRICE, build_world, resource_app, serving


@pytest.fixture(scope="module")
def sdk_world(project, accounts, chain):
    world = build_world(project, accounts, chain)
    world.keys["official"] = accounts[5].private_key  # the official facilitator's
    # The official SDK dates by the wall clock (its client's validBefore, its facilitator's expiry check),
    # ours by the chain's; each snapshot revert sets anvil's clock back, so late in a worker's session the
    # chain lags the wall clock by minutes. Bring the chain up to the wall clock once: every test here
    # reverts to this block, within seconds of it.
    lag = int(time.time()) - chain.pending_timestamp
    if lag > 0:
        chain.pending_timestamp += lag
        chain.mine()
    return world


@pytest.fixture
def sdk_servers(sdk_world):
    """Our facilitator and our resource server, each on its own HTTP port."""
    with serving(sdk_world, sdk_world.fresh_facilitator()) as urls:
        yield urls


def official_client(world, who="payer", **controls) -> x402Client:
    """The official client with its EVM ``exact`` scheme on an eth-account signer; our token is
    no default asset of the SDK's, so the payer allows it (the SDK refuses unknown assets)."""
    net = f"eip155:{world.w3.eth.chain_id}"
    client = x402Client()
    client.set_spend_controls(
        controls or {"allowed_assets": [{"network": net, "asset": world.token.address}]}
    )
    client.register("eip155:*", ExactEvmClientScheme(Account.from_key(world.keys[who])))
    return client


def official_get(client: x402Client, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=x402AsyncTransport(client)) as c:
            return await c.get(url)

    return anyio.run(go)


def test_official_client_pays_our_server(sdk_world, sdk_servers):
    _, url = sdk_servers
    seller, payer = sdk_world.addresses["seller"], sdk_world.addresses["payer"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    r = official_get(official_client(sdk_world), url + "/price")
    assert r.status_code == 200, r.text
    assert r.json()["payer"] == payer
    settled = decode_payment_response_header(r.headers["PAYMENT-RESPONSE"])
    assert settled.success and settled.payer == payer
    assert settled.network == f"eip155:{sdk_world.w3.eth.chain_id}"
    receipt = sdk_world.w3.eth.get_transaction_receipt(settled.transaction)
    assert receipt["status"] == 1 and receipt["to"] == sdk_world.token.address
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)


# ---------------------------------------------------------------- (b) our client, the official server


def official_server_app(world, fac_url: str) -> Starlette:
    """A resource server built with the official SDK: its ASGI payment middleware and resource
    server, the ``exact`` EVM server scheme, and OUR facilitator over HTTP. GET /price costs PRICE
    of our token (an AssetAmount with the token's EIP-712 domain: it is no default asset of the
    SDK's)."""

    async def price(request: Request) -> JSONResponse:
        payload = request.state.payment_payload
        return JSONResponse({"price": "3120.55", "payer": payload.payload["authorization"]["from"]})

    async def raced(request: Request) -> JSONResponse:
        # the same authorization settled first by someone else: the middleware's settlement fails
        payment = PaymentPayload.from_json(request.state.payment_payload.model_dump(by_alias=True))
        req = PaymentRequirements.from_json(request.state.payment_requirements.model_dump(by_alias=True))
        await anyio.to_thread.run_sync(world.facilitator.settle, payment, req)
        return JSONResponse({"price": "3120.55"})

    server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=fac_url)))
    server.register("eip155:*", ExactEvmServerScheme())
    name, version = world.facilitator.requirements(
        "exact", world.token.address, world.addresses["seller"], PRICE
    ).domain()
    offer = PaymentOption(
        scheme="exact",
        pay_to=world.addresses["seller"],
        price={
            "amount": str(PRICE),
            "asset": world.token.address,
            "extra": {"name": name, "version": version},
        },
        network=f"eip155:{world.w3.eth.chain_id}",
    )
    routes = {
        "GET /price": RouteConfig(accepts=offer, description="ETH price", mime_type="application/json"),
        "GET /raced": RouteConfig(accepts=offer),
    }
    return Starlette(
        routes=[Route("/price", price), Route("/raced", raced)],
        middleware=[Middleware(PaymentMiddlewareASGI, routes=routes, server=server)],
    )


@pytest.fixture
def official_server(sdk_world):
    """Our facilitator on its port, the official resource server on another."""
    with serving(sdk_world, sdk_world.fresh_facilitator(), official_server_app) as (_, url):
        yield url


def test_our_client_pays_the_official_server(sdk_world, official_server):
    url = official_server + "/price"
    seller, payer = sdk_world.addresses["seller"], sdk_world.addresses["payer"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    unpaid = httpx.get(url)
    assert unpaid.status_code == 402
    client = sdk_world.client(budget=2 * PRICE)
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.json()["payer"] == payer
    (receipt,) = client.receipts
    assert receipt.settlement.success and receipt.settlement.payer == payer
    assert receipt.settlement.amount == PRICE
    tx = sdk_world.w3.eth.get_transaction_receipt(receipt.settlement.transaction)
    assert tx["status"] == 1 and tx["to"] == sdk_world.token.address
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)


# ---------------------------------------------------------------- (c) the official facilitator client


def test_official_facilitator_client_against_ours(sdk_world, sdk_servers):
    fac_url, url = sdk_servers
    sync = HTTPFacilitatorClientSync(FacilitatorConfig(url=fac_url))
    supported = sync.get_supported()
    net = f"eip155:{sdk_world.w3.eth.chain_id}"
    assert [(k.x402_version, k.scheme, k.network) for k in supported.kinds][:2] == [
        (2, "exact", net),
        (2, "upto", net),
    ]
    assert supported.signers == {"eip155:*": [sdk_world.addresses["facilitator"]]}
    offer = sdk_world.facilitator.requirements(
        "exact", sdk_world.token.address, sdk_world.addresses["seller"], PRICE
    )
    required = SdkPaymentRequired.model_validate(
        PaymentRequired(ResourceInfo(url + "/price"), (offer,)).to_json()
    )
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))

    async def go():
        client = official_client(sdk_world)
        payload = await client.create_payment_payload(required)
        fac = HTTPFacilitatorClient(FacilitatorConfig(url=fac_url))
        req = payload.accepted
        verdict = await fac.verify(payload, req)
        settled = await fac.settle(payload, req)
        again = await fac.verify(payload, req)
        bad = payload.model_copy(update={"payload": {**payload.payload, "signature": "0x" + "11" * 65}})
        forged = await fac.verify(bad, req)
        other = req.model_copy(update={"pay_to": sdk_world.addresses["payer2"]})
        payee = await fac.verify(payload.model_copy(update={"accepted": other}), other)
        elsewhere = req.model_copy(update={"network": "eip155:1"})
        network = await fac.verify(payload.model_copy(update={"accepted": elsewhere}), elsewhere)
        bare = await fac.verify(payload.model_copy(update={"payload": {"signature": "0x11"}}), req)
        failed = await fac.settle(bad, req)
        return verdict, settled, again, forged, (payee, network, bare), failed

    verdict, settled, again, forged, refused, failed = anyio.run(go)
    assert verdict.is_valid and verdict.payer == payer and verdict.invalid_reason is None
    assert settled.success and settled.payer == payer and settled.network == net
    assert sdk_world.w3.eth.get_transaction_receipt(settled.transaction)["status"] == 1
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)
    assert not again.is_valid and again.invalid_reason == "invalid_exact_evm_nonce_already_used"
    assert not forged.is_valid and forged.invalid_reason == "invalid_exact_evm_payload_signature"
    assert forged.invalid_message and forged.payer == payer
    assert [(v.is_valid, v.invalid_reason) for v in refused] == [
        (False, "invalid_exact_evm_payload_recipient_mismatch"),
        (False, "invalid_network"),
        (False, "invalid_payload"),
    ]
    assert not failed.success and failed.error_reason == "invalid_exact_evm_payload_signature"
    assert failed.error_message == forged.invalid_message
    assert failed.transaction == "" and failed.network == net


# ---------------------------------------------------------------- what the official client does with our other offers


def official_post(client: x402Client, url: str, body: dict) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=x402AsyncTransport(client)) as c:
            return await c.post(url, json=body)

    return anyio.run(go)


def test_official_client_refusals_and_offers_it_cannot_pay(sdk_world, sdk_servers):
    _, url = sdk_servers
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    # its default spend controls allow only the SDK's known assets (USDC on known chains)
    strict = x402Client().register(
        "eip155:*", ExactEvmClientScheme(Account.from_key(sdk_world.keys["payer"]))
    )
    with pytest.raises(PaymentError, match="rejected by spend_controls"):
        official_get(strict, url + "/price")
    # our upto offer (EIP-3009 to the UptoSettler): no exact offer to pay...
    with pytest.raises(PaymentError, match="No payment requirements match registered schemes"):
        official_post(official_client(sdk_world), url + "/infer", {"max_tokens": 3})
    # ...and the official upto client (Permit2 through its proxy) wants extra.facilitatorAddress
    upto = official_client(sdk_world).register(
        "eip155:*", UptoEvmClientScheme(Account.from_key(sdk_world.keys["payer"]))
    )
    with pytest.raises(PaymentError, match="facilitatorAddress"):
        official_post(upto, url + "/infer", {"max_tokens": 3})
    # a route that fails is not settled
    assert official_get(official_client(sdk_world), url + "/broken").status_code == 503
    # a payer without funds: our 402 names the reason, as the official client decodes it
    sdk_world.keys["pauper"] = "0x" + "77" * 32
    r = official_get(official_client(sdk_world, "pauper"), url + "/price")
    assert r.status_code == 402
    assert decode_payment_required_header(r.headers["PAYMENT-REQUIRED"]).error == "insufficient_funds"
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == before


def raced_app(world, fac_url: str) -> PaymentMiddleware:
    """Our resource server with one route, GET /raced, that settles the very authorization it was
    paid with before answering (someone else got it on chain first): the middleware's settlement
    then fails."""

    async def raced(request: Request) -> JSONResponse:
        pay = PaymentMiddleware.payment(request)
        await anyio.to_thread.run_sync(world.facilitator.settle, pay.payload, pay.requirements)
        return JSONResponse({"price": "3120.55"})

    offer = world.facilitator.requirements("exact", world.token.address, world.addresses["seller"], PRICE)
    return PaymentMiddleware(
        Starlette(routes=[Route("/raced", raced)]),
        [PricedRoute("/raced", (offer,))],
        HTTPFacilitator(fac_url),
    )


def test_official_client_reads_our_failed_settlement(sdk_world):
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    with serving(sdk_world, sdk_world.fresh_facilitator(), raced_app) as (_, url):
        r = official_get(official_client(sdk_world), url + "/raced")
    assert r.status_code == 402
    failed = decode_payment_response_header(r.headers["PAYMENT-RESPONSE"])
    assert not failed.success and failed.transaction == "" and failed.payer == payer
    assert failed.error_reason == E.PaymentReplayedError.code
    # paid once, by the racing settlement
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)


def test_official_server_refusals_reach_our_client_typed(sdk_world, official_server):
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    sdk_world.keys["pauper"] = "0x" + "77" * 32
    with pytest.raises(E.PaymentRefusedError) as refused:
        sdk_world.client("pauper").get(official_server + "/price")
    assert refused.value.reason == "insufficient_funds"
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == before
    # a settlement that fails (the authorization raced on chain): its PAYMENT-RESPONSE, typed
    client = sdk_world.client()
    with pytest.raises(E.PaymentRefusedError) as failed:
        client.get(official_server + "/raced")
    assert failed.value.reason == E.PaymentReplayedError.code
    assert client.spent == 0 and client.receipts == []
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)


def test_official_client_pays_the_official_server_through_our_facilitator(sdk_world, official_server):
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    r = official_get(official_client(sdk_world), official_server + "/price")
    assert r.status_code == 200 and r.json()["payer"] == payer
    settled = decode_payment_response_header(r.headers["PAYMENT-RESPONSE"])
    assert settled.success and sdk_world.w3.eth.get_transaction_receipt(settled.transaction)["status"] == 1
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)


# ---------------------------------------------------------------- (d) the official facilitator


class OfficialFacilitator:
    """Our middleware's facilitator handle on the official SDK's own facilitator (``x402Facilitator``
    with its ``exact`` EVM scheme and web3 signer on the test chain), the messages converted at
    the boundary through their JSON."""

    def __init__(self, world) -> None:
        signer = FacilitatorWeb3Signer(world.keys["official"], world.w3.provider.endpoint_uri)
        self.sdk = register_exact_evm_facilitator(
            x402Facilitator(), signer, f"eip155:{world.w3.eth.chain_id}"
        )

    @staticmethod
    def _sdk(payload: PaymentPayload, req: PaymentRequirements):
        return SdkPaymentPayload.model_validate(payload.to_json()), SdkRequirements.model_validate(
            req.to_json()
        )

    async def verify(self, payload: PaymentPayload, req: PaymentRequirements) -> VerifyResponse:
        out = await self.sdk.verify(*self._sdk(payload, req))
        return VerifyResponse.from_json(out.model_dump(by_alias=True, exclude_none=True))

    async def settle(self, payload: PaymentPayload, req: PaymentRequirements) -> SettleResponse:
        out = await self.sdk.settle(*self._sdk(payload, req))
        return SettleResponse.from_json(out.model_dump(by_alias=True, exclude_none=True))


def test_the_official_facilitator_settles_our_clients_payment(sdk_world):
    """Our client's exact payment on our StableToken, behind our middleware, verified and settled
    by the official facilitator (its signature check, its simulation of the (v, r, s)
    transferWithAuthorization, its settlement); a payer without funds is refused with the official
    code, which it finds in the token's revert (USDC's words: no Multicall3 needed to diagnose)."""
    payer, seller = sdk_world.addresses["payer"], sdk_world.addresses["seller"]
    before = (sdk_world.balance(payer), sdk_world.balance(seller))
    app = resource_app(sdk_world, OfficialFacilitator(sdk_world))
    with ServiceServer(app, log_level="warning") as r:
        client = sdk_world.client()
        res = client.get(r.url + "/price")
        assert res.status_code == 200, res.text
        (receipt,) = client.receipts
        tx = sdk_world.w3.eth.get_transaction_receipt(receipt.settlement.transaction)
        assert tx["status"] == 1 and tx["from"] == Account.from_key(sdk_world.keys["official"]).address
        assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)
        sdk_world.keys["pauper"] = "0x" + "77" * 32
        with pytest.raises(E.PaymentRefusedError) as refused:
            sdk_world.client("pauper").get(r.url + "/price")
    assert refused.value.reason == "invalid_exact_evm_insufficient_balance"
    assert (sdk_world.balance(payer), sdk_world.balance(seller)) == (before[0] - PRICE, before[1] + PRICE)
