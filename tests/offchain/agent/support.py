"""The x402 world of the agent tests and the bench: the stablecoin and the upto settler deployed on
the test chain (anvil through ape), a facilitator over web3, a priced Starlette resource server
behind the payment middleware, and a paying client; for verified settlement, a TaskMailbox world
with a VerifiedEscrow and a server agent selling certified compute jobs, optionally an
InferenceDisputes world and a server agent selling inference paid on its receipt; a data agent over
A2A."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from offchain.agent.a2a import AgentSkill, Message
from offchain.agent.a2a_server import A2AServer, Skill
from offchain.agent.client import PayingClient
from offchain.agent.evm import EvmFacilitator, escrow_of
from offchain.agent.facilitator import HTTPFacilitator, create_app
from offchain.agent.inference_agent import InferenceSeller, query_request
from offchain.agent.server import Payment, PaymentMiddleware, PricedRoute
from offchain.agent.x402 import EscrowTerms, PaymentRequirements
from offchain.ai.sampler import SamplingParams
from offchain.chain.agent import Escrow, Sender, Settler, StableToken
from offchain.chain.deploy import deploy_core
from offchain.chain.sdk import load_abis
from offchain.chain.task_mailbox import TaskParams
from offchain.httpservice import ServiceServer
from tests.contracts.support import CHALLENGE_WINDOW, TEST_CONFIG, DisputeWorld
from tests.contracts.support import World as CoreWorld
from tests.contracts.test_task_mailbox import MailboxWorld

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


@contextmanager
def serving(
    world: World, fac: EvmFacilitator, app_of: Callable[[World, str], ASGIApp] | None = None
) -> Iterator[tuple[str, str]]:
    """Our facilitator service (settling through `fac`) on its own HTTP port and a resource server
    on another, `app_of(world, facilitator URL)` (default: resource_app reaching the facilitator
    over HTTP); yields (facilitator URL, resource server URL)."""
    with ServiceServer(create_app(fac), log_level="warning") as f:
        app = resource_app(world, HTTPFacilitator(f.url)) if app_of is None else app_of(world, f.url)
        with ServiceServer(app, log_level="warning") as r:
            yield f.url, r.url


# ---------------------------------------------------------------- verified settlement

JOB_PRICE = 250_000  # verified: the price of one certified compute job
JOB_FUNDS = 10_000_000  # verified: minted to the client
WINDOW_S = 3600  # the client's refund deadline: an hour after the offer


class VerifiedWorld:
    """A MailboxWorld (executor set, ECDSA task type) plus a stablecoin, a VerifiedEscrow on the
    mailbox (a task payment's challenge window: `task_window` seconds), a facilitator settling
    into it, and the server agent (the task creator) it pays. With `inference`, also a
    DisputeWorld on its own core (three inference operators, the tiny model, receipts challengeable
    for `challenge_window` seconds) whose receipts the escrow serves too (``self.d``)."""

    def __init__(
        self,
        project: Any,
        chain: Any,
        accounts: Any,
        funds: int = JOB_FUNDS,
        task_window: int = 0,
        inference: bool = False,
        challenge_window: int = CHALLENGE_WINDOW,
    ) -> None:
        w = CoreWorld(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
        self.mw = MailboxWorld(w, project, chain, accounts)
        self.w3 = chain.provider.web3
        self.chain = chain
        abis = load_abis()
        self.abis = abis
        self.usdc = usdc = w.owner.deploy(project.StableToken, "USD Coin", "USDC", w.owner)
        self.d: DisputeWorld | None = None
        disputes = "0x" + "00" * 20
        if inference:
            core = CoreWorld(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
            self.d = DisputeWorld(core, project, chain, challenge_window)
            disputes = self.d.c.address
        escrow = w.owner.deploy(project.VerifiedEscrow, self.mw.mailbox, disputes, task_window)
        self.settler = Settler(self.w3, w.owner.deploy(project.UptoSettler).address, abis["UptoSettler"])
        self.seller, self.payer, self.fac_account = w.staker, w.avs2, w.resolver
        usdc.mint(self.payer, funds, sender=w.owner)
        self.token = StableToken(self.w3, usdc.address, abis["StableToken"])
        self.escrow = Escrow(self.w3, escrow.address, abis["VerifiedEscrow"])
        self.mailbox = self.w3.eth.contract(address=self.mw.mailbox.address, abi=abis["TaskMailbox"])
        self.facilitator = self.fresh_facilitator()

    def clock(self) -> int:
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def fresh_facilitator(self) -> EvmFacilitator:
        """A new facilitator on the escrow (its nonce counter starts from the chain's, which ape
        rewinds between tests)."""
        self.facilitator = EvmFacilitator(
            self.w3, self.fac_account.private_key, [self.token], self.settler, escrow=self.escrow
        )
        return self.facilitator

    def warp(self, seconds: int) -> None:
        """Move the chain's clock `seconds` ahead (one block mined there)."""
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds
        self.chain.mine(1)


def create_job(vw: VerifiedWorld, sender: Sender, payload: str) -> bytes:
    """The server agent creates a TaskMailbox task for `payload` (paying the executors' fee)."""
    p = TaskParams(vw.seller.address, vw.mw.ecdsa_type, 1_000_000, payload.encode())
    h = p.task_hash(vw.mailbox.functions.taskCount().call(), vw.mailbox.address, vw.w3.eth.chain_id)
    sender.send(vw.mailbox.functions.createTask((vw.seller.address, *p.as_tuple()[1:])), gas=1_000_000)
    return h


def job_server(vw: VerifiedWorld, facilitator: Any) -> ASGIApp:
    """The server agent: POST /jobs creates a TaskMailbox task for the payload (the agent pays the
    executors' fee); GET /jobs/result?task=0x.. is priced under ``verified`` for that very task and
    answers the task reference and the escrow id (the result comes from the executor set)."""
    sender = Sender(vw.w3, vw.seller.private_key)
    jobs: dict[bytes, int] = {}  # task -> refund deadline offered

    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        h = create_job(vw, sender, body["payload"])
        jobs[h] = vw.clock() + WINDOW_S
        return JSONResponse({"task": "0x" + h.hex()})

    async def result(request: Request) -> JSONResponse:
        pay = PaymentMiddleware.payment(request)
        terms = EscrowTerms.of(pay.requirements)
        return JSONResponse({"task": "0x" + terms.task.hex(), "escrow": "0x" + escrow_of(pay.payload).hex()})

    async def offers(scope: Any) -> tuple[Any, ...]:
        q = parse_qs(scope.get("query_string", b"").decode())
        try:
            h = bytes.fromhex(q["task"][0].removeprefix("0x"))
        except (KeyError, ValueError):
            return ()
        if h not in jobs:
            return ()
        req = vw.facilitator.requirements(
            "verified", vw.token.address, vw.seller.address, JOB_PRICE, task=h, deadline=jobs[h]
        )
        return (req,)

    app = Starlette(routes=[Route("/jobs", create, methods=["POST"]), Route("/jobs/result", result)])
    route = PricedRoute("/jobs/result", (), "GET", "a certified compute job", offers=offers)
    return PaymentMiddleware(app, [route], facilitator)


# ---------------------------------------------------------------- A2A


def a2a_agent(world: World, facilitator: Any, **kw: Any) -> A2AServer:
    """A data agent over A2A: skill ``price`` costs PRICE (exact), ``infer`` bills PER_TOKEN per
    token up to MAX_TOKENS_PRICE (upto), ``free`` is free, ``broken`` is priced and always fails."""
    seller, fac = world.addresses["seller"], world.facilitator

    async def exact(msg: Message) -> tuple[PaymentRequirements, ...]:
        return (fac.requirements("exact", world.token.address, seller, PRICE),)

    async def upto(msg: Message) -> tuple[PaymentRequirements, ...]:
        return (fac.requirements("upto", world.token.address, seller, MAX_TOKENS_PRICE),)

    async def price(msg: Message, pay: Payment | None) -> Any:
        return {"pair": "ETH/USD", "price": "3120.55", "payer": None if pay is None else pay.payer}

    async def infer(msg: Message, pay: Payment | None) -> Any:
        tokens = int(msg.data()["max_tokens"])
        assert pay is not None
        pay.charge = tokens * PER_TOKEN
        return {"text": "buy " * tokens, "tokens": tokens}

    async def broken(msg: Message, pay: Payment | None) -> Any:
        raise RuntimeError("upstream down")

    skills = [
        Skill(AgentSkill("price", "ETH price", "the ETH/USD price", ("market-data",)), price, exact),
        Skill(AgentSkill("infer", "inference", "billed per generated token"), infer, upto),
        Skill(AgentSkill("free", "free price", "the price, free"), price),
        Skill(AgentSkill("broken", "broken", "always fails"), broken, exact),
    ]
    kw.setdefault("store", ":memory:")
    return A2AServer("data-agent", "sells ETH/USD market data", skills, facilitator, clock=world.clock, **kw)


def a2a_job_agent(vw: VerifiedWorld, facilitator: Any, inference: str = "verified") -> A2AServer:
    """The server agent over A2A. Skill ``job`` creates a TaskMailbox task for the message's text
    and asks to be paid under ``verified`` for that task; once paid it answers the task and the
    escrow id (the executor set certifies the result, which releases the payment). With an
    inference world, skill ``inference`` sells deterministic inference for the message's data
    (prompt, seed, max_tokens) as the HTTP inference route does (`inference`: ``verified`` on the
    request digest, ``exact`` at JOB_PRICE, or ``upto`` billed INFER_PER_TOKEN per generated
    token) and answers the text and its registered receipt."""
    sender = Sender(vw.w3, vw.seller.private_key)

    async def offers(msg: Message) -> tuple[PaymentRequirements, ...]:
        h = create_job(vw, sender, msg.text())
        deadline = vw.clock() + WINDOW_S
        return (
            vw.facilitator.requirements(
                "verified", vw.token.address, vw.seller.address, JOB_PRICE, task=h, deadline=deadline
            ),
        )

    async def run(msg: Message, pay: Payment | None) -> Any:
        assert pay is not None
        task = EscrowTerms.of(pay.requirements).task
        return {"task": "0x" + task.hex(), "escrow": "0x" + escrow_of(pay.payload).hex()}

    skills = [Skill(AgentSkill("job", "certified compute job", "paid on a certified result"), run, offers)]
    if vw.d is not None:
        skills.append(inference_seller(vw, inference).skill())
    return A2AServer(
        "job-agent",
        "sells certified compute jobs and inference",
        skills,
        facilitator,
        clock=vw.clock,
        store=":memory:",
    )


# ---------------------------------------------------------------- verified inference


def inference_request(
    d: DisputeWorld, query: dict[str, str]
) -> tuple[tuple[int, ...], SamplingParams, bytes]:
    """(prompt tokens, sampling parameters, request digest) of an inference query (prompt, seed,
    max_tokens): what the client's payment is conditioned on (offchain.ai.receipt.request_digest)."""
    req = query_request(d.svc, query)
    return req.prompt_tokens, req.params, req.digest


INFER_PER_TOKEN = 20_000  # upto: the price of one generated token of deterministic inference


def inference_seller(vw: VerifiedWorld, scheme: str = "verified", tamper: Any = None) -> InferenceSeller:
    """The server agent's deterministic inference (offchain.agent.inference_agent), sold under
    `scheme`: ``verified`` (kind inference, on the request's digest) or ``exact`` at JOB_PRICE, or
    ``upto`` at INFER_PER_TOKEN a token; receipts signed with inference operator 0's key for the
    payer and registered on InferenceDisputes from the server agent's key (it pays the gas);
    `tamper(receipt) -> receipt` makes it a cheating operator."""
    assert vw.d is not None
    return InferenceSeller(
        vw.d.svc,
        vw.d.keys[0].to_bytes(),
        vw.facilitator.requirements,
        vw.token.address,
        vw.seller.address,
        vw.w3.eth.contract(address=vw.d.c.address, abi=vw.abis["InferenceDisputes"]),
        Sender(vw.w3, vw.seller.private_key),
        vw.clock,
        scheme=scheme,
        price=JOB_PRICE,
        per_token=INFER_PER_TOKEN,
        window_s=WINDOW_S,
        tamper=tamper,
    )


def inference_server(
    vw: VerifiedWorld, facilitator: Any, tamper: Any = None, scheme: str = "verified"
) -> ASGIApp:
    """The server agent selling deterministic inference over HTTP x402 (InferenceSeller.http_app):
    GET /inference?prompt=..&seed=..&max_tokens=.. is offered for that very request (under
    ``verified``, its digest). ``scheme="exact"`` sells the same work paid outright (the bench's
    baseline)."""
    return inference_seller(vw, scheme, tamper).http_app(facilitator)


def self_signed(san: x509.GeneralName) -> tuple[bytes, bytes]:
    """A P-256 key and a self-signed certificate naming only `san`, valid for an hour (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a2a test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([san]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)
