"""The x402 world of the agent tests and the bench: the stablecoin and the upto settler deployed on
the test chain (anvil through ape), a facilitator over web3, a priced Starlette resource server
behind the payment middleware, and a paying client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from offchain.agent.client import PayingClient
from offchain.agent.evm import EvmFacilitator
from offchain.agent.server import PaymentMiddleware, PricedRoute
from offchain.chain.agent import Settler, StableToken
from offchain.chain.sdk import load_abis

PRICE = 10_000  # 0.01 USDC per request
MAX_TOKENS_PRICE = 50_000  # upto: the most one inference may cost
PER_TOKEN = 100  # upto: the price of one generated token
FUNDS = 100_000_000  # 100 USDC minted to each payer


@dataclass
class World:
    w3: Any
    token: StableToken
    settler: Settler
    facilitator: EvmFacilitator
    keys: dict[str, Any]
    addresses: dict[str, str]

    def fresh_facilitator(self) -> EvmFacilitator:
        """A new facilitator (its nonce counter starts from the chain's, which ape rewinds
        between tests)."""
        self.facilitator = EvmFacilitator(self.w3, self.keys["facilitator"], [self.token], self.settler)
        return self.facilitator

    def clock(self) -> float:
        """The chain's time (the tests move it): clients sign against it."""
        return float(self.w3.eth.get_block("pending")["timestamp"])

    def balance(self, who: str) -> int:
        return self.token.balance_of(self.addresses.get(who, who))

    def client(self, who: str = "payer", budget: int = 1_000_000, **kw: Any) -> PayingClient:
        return PayingClient(
            self.keys[who], self.w3.eth.chain_id, self.token.address, budget, clock=self.clock, **kw
        )


def build_world(project: Any, accounts: Any, chain: Any) -> World:
    deployer = accounts[0]
    names = {"facilitator": accounts[1], "seller": accounts[2], "payer": accounts[3], "payer2": accounts[4]}
    token = deployer.deploy(project.StableToken, "USD Coin", "USDC", deployer)
    settler = deployer.deploy(project.UptoSettler)
    for who in ("payer", "payer2"):
        token.mint(names[who], FUNDS, sender=deployer)
    w3 = chain.provider.web3
    abis = load_abis()
    t = StableToken(w3, token.address, abis["StableToken"])
    s = Settler(w3, settler.address, abis["UptoSettler"])
    fac = EvmFacilitator(w3, names["facilitator"].private_key, [t], s)
    return World(
        w3,
        t,
        s,
        fac,
        {k: a.private_key for k, a in names.items()},
        {k: a.address for k, a in names.items()},
    )


def resource_app(world: World, facilitator: Any) -> ASGIApp:
    """A data agent: GET /price costs PRICE (exact); POST /infer bills PER_TOKEN per generated
    token, up to MAX_TOKENS_PRICE (upto); GET /free is free; GET /broken fails (never settled)."""
    seller = world.addresses["seller"]

    async def price(request: Request) -> JSONResponse:
        pay = PaymentMiddleware.payment(request)
        return JSONResponse({"pair": "ETH/USD", "price": "3120.55", "payer": pay.payer})

    async def infer(request: Request) -> JSONResponse:
        body = await request.json()
        tokens = int(body["max_tokens"])
        PaymentMiddleware.payment(request).charge = tokens * PER_TOKEN
        return JSONResponse({"text": "buy " * tokens, "tokens": tokens})

    async def free(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def broken(request: Request) -> JSONResponse:
        return JSONResponse({"error": "upstream down"}, status_code=503)

    app = Starlette(
        routes=[
            Route("/price", price),
            Route("/infer", infer, methods=["POST"]),
            Route("/free", free),
            Route("/broken", broken),
        ]
    )
    fac = world.facilitator
    routes = [
        PricedRoute(
            "/price", (fac.requirements("exact", world.token.address, seller, PRICE),), "GET", "ETH price"
        ),
        PricedRoute(
            "/infer",
            (fac.requirements("upto", world.token.address, seller, MAX_TOKENS_PRICE),),
            "POST",
            "inference",
        ),
        PricedRoute("/broken", (fac.requirements("exact", world.token.address, seller, PRICE),)),
    ]
    return PaymentMiddleware(app, routes, facilitator)
