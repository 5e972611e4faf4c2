"""The trading agent's vault pays x402 ``verified`` offers (contracts/agent/AgentVault.vy,
docs/agent.md, *The vault pays its running costs*): on test_agent_vault's world (a real
TaskMailbox and ECDSA executor set, an EIP-3009 stablecoin, a vault with feed terms) plus a
VerifiedEscrow serving tasks and inference requests (a real InferenceDisputes with no inference
set: an inference payment here is refunded at its deadline, which reads nothing of it).
authorizeVerifiedPayment records the escrow's ReceiveWithAuthorization under the nonce the vault
computes from the terms, the escrow pulls it (the vault's ERC-1271 answer for exactly that
digest), a task payment is released to the payee, an inference one refunded and credited back
once, an unused one reclaimed; every refusal; a policy fee's deposit under the same nonce is not
credited twice. Off chain: a PayingClient whose wallet is the vault pays a verified task offer
through the payment middleware and the EvmFacilitator, and a VaultFeedWallet rebuilt from the chain
after a restart squares the feed budget exactly as the wallet that recorded the payments."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from web3.logs import DISCARD

from offchain.agent.errors import VaultInputError, VaultRefusedError
from offchain.chain.agent import ESCROW_KIND_INFERENCE, ESCROW_KIND_TASK, escrow_id, escrow_nonce
from tests.contracts.support import evs, reverts
from tests.contracts.test_agent_vault import (
    BUY,
    ESCROW_FEE,
    FEE_DEADLINE,
    FEED_PRICE,
    INVALID,
    MAX_UPTO,
    ZERO,
    CostWorld,
    VaultWorld,
    feed_term_refusals,
    fresh,  # noqa: F401 - the per-test chain snapshot (pytestmark)
    one_ev,
)

DEADLINE_S = 300  # a verified offer's refund deadline, from now
MAGIC = bytes.fromhex("1626ba7e")
RESULT = b"job done"
pytestmark = pytest.mark.usefixtures("fresh")


class VerifiedVaultWorld:
    """VaultWorld and CostWorld plus a VerifiedEscrow on the vault's mailbox and a fresh
    InferenceDisputes (task window 0) that the owner allowed on the cost world's vault; the seller
    is the vault's allowed data agent."""

    def __init__(self, project, chain, accounts, deployment):
        from offchain.chain.deploy import deploy_inference_disputes, deploy_verified_escrow

        self.vw = vw = VaultWorld(project, chain, accounts, deployment)
        self.cw = cw = CostWorld(vw, project)
        self.chain, self.v, o = chain, cw.vault, vw.owner
        w = vw.mw.w
        disputes = deploy_inference_disputes(project, w.owner, w.d)
        self.escrow = deploy_verified_escrow(
            project, o, vw.mw.mailbox.address, disputes.address, task_window_s=0
        )
        self.v.setVerifiedEscrow(self.escrow, True, sender=o)
        self.seller = cw.data

    def task(self, payload=b"job"):
        """A task of the cost world's type (no mailbox fee) the seller's offer names."""
        mw = self.vw.mw
        h, _ = mw.create(mw.params(task_type=self.cw.type, fee=0, payload=payload + keccak(payload)))
        return bytes(h)

    def certify(self, h, result=RESULT):
        """The executor set certifies `result` for task `h`; its signers (what release takes)."""
        mw = self.vw.mw
        return list(evs(mw.submit(h, mw.ecdsa(h, result), result=result), "TaskVerified")[0].signers)

    def args(self, **over):
        """authorizeVerifiedPayment's arguments (an inference request, a fresh salt unless given)."""
        now = self.cw.now()
        a = dict(
            token=self.cw.usd.address, escrow=self.escrow.address, to=self.seller, kind=ESCROW_KIND_INFERENCE,
            ref=keccak(b"request digest"), expected=bytes(32), deadline=now + DEADLINE_S,
            salt=keccak(repr(over).encode() + b"verified salt"), value=FEED_PRICE, after=now - 600,
            before=now + 600,
        )  # fmt: skip
        a.update(over)
        return list(a.values())

    def nonce(self, args):
        return escrow_nonce(*args[2:8])

    def eid(self, args):
        return escrow_id(args[0], self.v.address, self.nonce(args))

    def record(self, args):
        """reclaimFeedPayment's arguments for the payment `args` (to: its escrow)."""
        token, escrow, *_, value, after, before = args
        return [token, escrow, value, after, before, self.nonce(args)]

    def authorize(self, args):
        return self.v.authorizeVerifiedPayment(*args, sender=self.vw.agent)

    def deposit_args(self, args, **over):
        """The escrow's deposit of the vault's payment `args` (arbitrary signature bytes: the vault
        answers ERC-1271 from its record), terms changed by `over` (value, to, expected)."""
        token, escrow, to, kind, ref, expected, deadline, salt, value, after, before = args
        d = dict(value=value, to=to, expected=expected) | over
        return [
            token,
            self.v,
            d["value"],
            after,
            before,
            d["to"],
            kind,
            ref,
            d["expected"],
            deadline,
            salt,
            b"\x01",
        ]

    def deposit(self, args):
        """The facilitator's settlement: the escrow pulls the vault's payment."""
        return self.escrow.deposit(*self.deposit_args(args), sender=self.vw.lp)

    def warp(self, t):
        self.chain.pending_timestamp = t
        self.chain.mine(1)


@pytest.fixture(scope="module")
def vvw(project, chain, accounts, deployment):
    return VerifiedVaultWorld(project, chain, accounts, deployment)


def test_a_verified_payment_is_held_refunded_and_credited_back_once(vvw):
    """authorizeVerifiedPayment (an inference request) records the ReceiveWithAuthorization to the
    escrow under escrowNonce of its terms and debits the feed budget; the vault answers ERC-1271 for
    that digest only, so the escrow pulls exactly these terms (another amount, payee or expected
    result: the token's "invalid signature"); refunded at the deadline to the vault,
    creditRefundedPayment (anyone) returns it to the feed budget once. A task payment released to
    the payee stays spent."""
    cw, v, vw = vvw.cw, vvw.v, vvw.vw
    budget, held = v.feedBudget(), cw.usd.balanceOf(v)
    args = vvw.args(deadline=cw.now() + 60)
    rc = vvw.authorize(args)
    digest, nonce, eid = bytes(rc.return_value), vvw.nonce(args), vvw.eid(args)
    token, escrow, to, *_, value, after, before = args
    assert digest == cw.digest(token, escrow, value, after, before, nonce, "ReceiveWithAuthorization")
    ev = one_ev(rc, "VerifiedPaymentAuthorized", v)
    assert (
        bytes(ev.digest), ev.payee, bytes(ev.escrowId), ev.escrow, bytes(ev.nonce), ev.value, ev.validAfter,
        ev.validBefore,
    ) == (digest, to, eid, escrow, nonce, value, after, before)  # fmt: skip
    assert v.feedBudget() == budget - value and v.verifiedEscrowOf(eid) == escrow
    assert v.feedNonceToken(nonce) == token and bytes(v.isValidSignature(digest, b"")) == MAGIC
    reverts("payment not deposited", v.creditRefundedPayment, eid, sender=vw.lp)
    reverts("unknown payment", v.creditRefundedPayment, keccak(b"no payment"), sender=vw.lp)
    for over in ({"value": value + 1}, {"to": vw.lp.address}, {"expected": keccak(b"other")}):
        reverts("invalid signature", vvw.escrow.deposit, *vvw.deposit_args(args, **over), sender=vw.lp)
    vvw.deposit(args)
    e = vvw.escrow.escrows(eid)
    assert (e.payer, e.payee, e.amount, e.kind, bytes(e.ref), e.state) == (
        v.address, to, value, ESCROW_KIND_INFERENCE, args[4], 1,
    )  # fmt: skip
    assert cw.usd.balanceOf(v) == held - value
    reverts("payment still held", v.creditRefundedPayment, eid, sender=vw.lp)
    vvw.warp(args[6] + 1)
    vvw.escrow.refund(eid, [], sender=vw.lp)
    assert cw.usd.balanceOf(v) == held
    rc = v.creditRefundedPayment(eid, sender=vw.lp)  # anyone
    assert rc.return_value == value and v.feedBudget() == budget and v.paymentRefundCredited(eid)
    ev = one_ev(rc, "PaymentRefundCredited", v)
    assert (bytes(ev.escrowId), ev.amount) == (eid, value)
    reverts("payment already credited", v.creditRefundedPayment, eid, sender=vw.lp)
    # a task payment conditioned on its result, released to the payee: stays spent
    h = vvw.task()
    paid = vvw.args(kind=ESCROW_KIND_TASK, ref=h, expected=keccak(RESULT))
    vvw.authorize(paid)
    vvw.deposit(paid)
    before_pay = cw.usd.balanceOf(to)
    vvw.escrow.release(vvw.eid(paid), vvw.certify(h), sender=vw.lp)
    assert cw.usd.balanceOf(to) == before_pay + value and v.feedBudget() == budget - value
    reverts("payment released", v.creditRefundedPayment, vvw.eid(paid), sender=vw.lp)


def test_verified_payment_refusals(vvw, project):
    cw, v, vw = vvw.cw, vvw.v, vvw.vw
    a, o = vw.agent, vw.owner
    now = cw.now()
    feed_term_refusals(
        vw, cw, project, v.authorizeVerifiedPayment, vvw.args, FEED_PRICE,
        extra=[
            ({"escrow": cw.escrow.address}, "escrow not allowed"),  # the policy fee's escrow: not implied
            ({"kind": 3}, "unknown kind"),
            ({"deadline": now + 604_800 + 60}, "deadline too far"),
        ],
    )  # fmt: skip
    assert v.MAX_ESCROW_DEADLINE() == 604_800
    v.setFeedBudget(3 * FEED_PRICE, sender=o)
    args = vvw.args()
    vvw.authorize(args)
    # the same terms again, or their nonce as an exact payment's: refused
    reverts("nonce already used", v.authorizeVerifiedPayment, *args, sender=a)
    reverts("nonce already used", v.authorizeFeedPayment, *cw.feed_args(nonce=vvw.nonce(args)), sender=a)
    # the owner's escrows
    reverts("not the owner", v.setVerifiedEscrow, vvw.escrow, True, sender=a)
    reverts("zero escrow", v.setVerifiedEscrow, ZERO, True, sender=o)
    rc = v.setVerifiedEscrow(vvw.escrow, False, sender=o)
    assert (one_ev(rc, "VerifiedEscrowSet", v).allowed, v.verifiedEscrow(vvw.escrow)) == (False, False)
    reverts("escrow not allowed", v.authorizeVerifiedPayment, *vvw.args(), sender=a)


def test_an_unused_verified_authorization_is_reclaimed(vvw):
    """reclaimFeedPayment takes a verified payment too (`to`: its escrow; the vault's record of
    the escrow id says which digest): once expired unused, by the owner or the agent; one the
    escrow pulled is refused, and so is one named with another `to`."""
    cw, v, vw = vvw.cw, vvw.v, vvw.vw
    budget = v.feedBudget()
    args = vvw.args(before=cw.now() + 30)
    digest = bytes(vvw.authorize(args).return_value)
    pulled = vvw.args(before=cw.now() + 30, kind=ESCROW_KIND_TASK, ref=vvw.task())
    vvw.authorize(pulled)
    vvw.deposit(pulled)
    rec = vvw.record(args)
    reverts("authorization still valid", v.reclaimFeedPayment, *rec, sender=vw.agent)
    vvw.warp(args[-1] + 1)
    reverts("authorization is expired", vvw.escrow.deposit, *vvw.deposit_args(args), sender=vw.lp)
    reverts("payment settled", v.reclaimFeedPayment, *vvw.record(pulled), sender=vw.agent)
    reverts("payment not authorized", v.reclaimFeedPayment, rec[0], cw.data, *rec[2:], sender=vw.agent)
    rc = v.reclaimFeedPayment(*rec, sender=vw.owner)
    assert rc.return_value == budget - FEED_PRICE == v.feedBudget()
    assert bytes(one_ev(rc, "FeedPaymentReclaimed", v).digest) == digest
    assert bytes(v.isValidSignature(digest, b"")) == INVALID
    reverts("payment not authorized", v.reclaimFeedPayment, *rec, sender=vw.agent)
    reverts("payment not deposited", v.creditRefundedPayment, vvw.eid(args), sender=vw.lp)


def test_a_policy_fee_under_a_verified_payments_nonce_is_credited_once(vvw):
    """The agent records a verified payment (of 1) on exactly the terms of the policy fee the vault
    deposits next (the fee escrow, its payee, the next task's hash as ref and salt, its deadline):
    the fee's deposit uses that escrow nonce, so the escrow's record is the fee's.
    creditRefundedPayment refuses it ("a policy fee's escrow", before and after the fee's own
    credit); creditRefundedFee credits the fee once."""
    from offchain.chain.task_mailbox import TaskParams

    cw, v, vw = vvw.cw, vvw.v, vvw.vw
    a, o, mw = vw.agent, vw.owner, vw.mw
    v.setVerifiedEscrow(cw.escrow, True, sender=o)
    v.setFeedPayee(cw.payee, True, sender=o)
    t = cw.now() + 100
    payload = vw.input(BUY)
    h = TaskParams(v.address, cw.type, 0, payload).task_hash(
        mw.mailbox.taskCount(), mw.mailbox.address, vvw.chain.chain_id
    )
    args = vvw.args(
        escrow=cw.escrow.address,
        to=cw.payee,
        kind=ESCROW_KIND_TASK,
        ref=h,
        deadline=t + FEE_DEADLINE,
        salt=h,
        value=1,
    )
    vvw.authorize(args)
    vvw.chain.pending_timestamp = t
    rc = v.postPolicyTaskEscrowed(payload, ESCROW_FEE, sender=a)
    eid = bytes(one_ev(rc, "FeeEscrowed", v).escrowId)
    assert eid == vvw.eid(args) and cw.escrow.escrows(eid).amount == ESCROW_FEE
    vvw.warp(t + FEE_DEADLINE + 1)
    cw.escrow.refund(eid, [], sender=vw.lp)
    feed, fee = v.feedBudget(), v.feeBudget()
    reverts("a policy fee's escrow", v.creditRefundedPayment, eid, sender=vw.lp)
    assert v.creditRefundedFee(eid, sender=vw.lp).return_value == ESCROW_FEE
    reverts("a policy fee's escrow", v.creditRefundedPayment, eid, sender=vw.lp)
    assert (v.feedBudget(), v.feeBudget()) == (feed, fee + ESCROW_FEE)


def _facilitator(vvw, name, settler=None):
    """An EvmFacilitator (a funded key of its own) settling the stablecoin into the escrow."""
    from offchain.agent.evm import EvmFacilitator
    from offchain.chain.agent import Escrow, Settler, StableToken
    from offchain.chain.sdk import load_abis

    w3, abis = vvw.chain.provider.web3, load_abis()
    acct = Account.from_key(keccak(name))
    vvw.vw.owner.transfer(acct.address, 10**18)
    return EvmFacilitator(
        w3, acct.key, [StableToken(w3, vvw.cw.usd.address, abis["StableToken"])],
        None if settler is None else Settler(w3, settler, abis["UptoSettler"]),
        escrow=Escrow(w3, vvw.escrow.address, abis["VerifiedEscrow"]),
    )  # fmt: skip


def test_client_vault_pays_a_verified_task_offer_end_to_end(vvw):
    """A PayingClient whose wallet is the vault pays a route's verified offer for a task (the
    payment middleware, the EvmFacilitator depositing into the escrow with the vault as an
    ERC-1271 payer); the payment stays open in the wallet while held, the executor set certifies
    the expected result, the escrow releases it to the seller and the wallet forgets it with
    nothing to credit. The client's refusals before sending are VaultInputError."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from offchain.agent.client import PayingClient
    from offchain.agent.evm import create_payment
    from offchain.agent.facilitator import LocalFacilitator
    from offchain.agent.server import PaymentMiddleware, PricedRoute
    from offchain.agent.vault import AgentVault, VaultFeedWallet
    from offchain.agent.x402 import EscrowTerms
    from offchain.httpservice import ServiceServer

    cw, vw, chain = vvw.cw, vvw.vw, vvw.chain
    w3, agent_key = chain.provider.web3, vw.agent.private_key
    client = AgentVault(w3, vvw.v.address)
    fac = _facilitator(vvw, b"vault verified facilitator")
    h = vvw.task()
    offer = fac.requirements(
        "verified", cw.usd.address, vvw.seller, FEED_PRICE, task=h, deadline=cw.now() + DEADLINE_S,
        expected_result=keccak(RESULT),
    )  # fmt: skip

    async def job(request):
        return JSONResponse({"task": "0x" + h.hex()})

    app = PaymentMiddleware(
        Starlette(routes=[Route("/job", job)]),
        [PricedRoute("/job", (offer,), "GET", "job")],
        LocalFacilitator(fac),
    )
    wallet = VaultFeedWallet(client, agent_key)
    payer = PayingClient(
        agent_key, chain.chain_id, cw.usd.address, 10 * FEED_PRICE, wallet=wallet, clock=cw.now
    )
    budget, paid = vvw.v.feedBudget(), cw.usd.balanceOf(vvw.seller)
    with ServiceServer(app, log_level="warning") as srv:
        r = payer.get(srv.url + "/job", expect_ref=h)
    assert r.status_code == 200 and r.json()["task"] == "0x" + h.hex()
    assert payer.spent == FEED_PRICE and payer.receipts[0].settlement.payer == client.address
    rc = w3.eth.get_transaction_receipt(payer.receipts[0].settlement.transaction)
    (dep,) = fac.escrow.contract.events.Deposited().process_receipt(rc, errors=DISCARD)
    eid = bytes(dep.args.id)
    e = vvw.escrow.escrows(eid)
    assert (e.payer, e.payee, e.amount, bytes(e.ref), bytes(e.expectedResult), e.state) == (
        client.address, vvw.seller, FEED_PRICE, h, keccak(RESULT), 1,
    )  # fmt: skip
    assert vvw.v.feedBudget() == budget - FEED_PRICE and wallet.pending == 1
    assert wallet.reconcile() == 0 and wallet.pending == 1  # held
    vvw.escrow.release(eid, vvw.certify(h), sender=vw.lp)
    assert cw.usd.balanceOf(vvw.seller) == paid + FEED_PRICE
    assert wallet.reconcile() == 0 and wallet.pending == 0 and vvw.v.feedBudget() == budget - FEED_PRICE
    # refused before sending: another payer, another escrow, a nonce of other terms
    p = create_payment(agent_key, offer, now=cw.now(), payer=client.address)
    a, salt, terms = p.payload.authorization, p.payload.salt, EscrowTerms.of(offer)
    for bad, match in (
        (replace(a, from_=vw.agent.address), "not the vault"),
        (replace(a, to=cw.escrow.address), "pays the escrow"),
        (replace(a, nonce=keccak(b"x")), "escrow nonce"),
    ):
        with pytest.raises(VaultInputError, match=match):
            client.authorize_verified_payment(agent_key, cw.usd.address, bad, vvw.seller, terms, salt)
    with pytest.raises(VaultRefusedError, match="payment over the cap"):
        payer.sign(replace(offer, amount=10**9))


def test_a_restarted_wallet_recovers_its_open_payments(vvw, project):
    """Payments of every scheme recorded by one wallet (an exact one settled and one never sent,
    an upto one settled but not reconciled and one never sent, verified ones refunded, released,
    never sent and still held), then: that wallet's reconcile, and a new wallet of the same vault
    that recovered them from the chain, credit the same amount and leave the same feed budget
    and the same payment open (the held one)."""
    from offchain.agent.client import PayingClient
    from offchain.agent.evm import escrow_of
    from offchain.agent.vault import AgentVault, VaultFeedWallet

    cw, vw, chain, v = vvw.cw, vvw.vw, vvw.chain, vvw.v
    w3, agent_key = chain.provider.web3, vw.agent.private_key
    settler = vw.owner.deploy(project.UptoSettler)
    v.setUptoSettler(settler, True, sender=vw.owner)
    v.setFeedBudget(10**6, sender=vw.owner)
    fac = _facilitator(vvw, b"vault restart facilitator", settler.address)
    client = AgentVault(w3, v.address)
    wallet = VaultFeedWallet(client, agent_key)
    payer = PayingClient(agent_key, chain.chain_id, cw.usd.address, 10**6, wallet=wallet, clock=cw.now)
    start = chain.blocks.head.number + 1
    exact = fac.requirements("exact", cw.usd.address, vvw.seller, FEED_PRICE)
    upto = fac.requirements("upto", cw.usd.address, vvw.seller, MAX_UPTO)

    def verified(task, deadline_s=DEADLINE_S):
        return fac.requirements(
            "verified", cw.usd.address, vvw.seller, FEED_PRICE, task=task, deadline=cw.now() + deadline_s
        )

    fac.settle(payer.sign(exact), exact)
    payer.sign(exact)
    fac.settle(payer.sign(upto), replace(upto, amount=13_000))
    payer.sign(upto)
    paid = {}
    for name, deadline_s in (("refunded", 30), ("released", DEADLINE_S), ("held", 3_000)):
        task = vvw.task(name.encode())
        req = verified(task, deadline_s)
        p = paid[name] = payer.sign(req)
        fac.settle(p, req)
        if name == "released":
            signers = vvw.certify(task)
    payer.sign(verified(vvw.task(b"never sent")))
    assert wallet.pending == 8
    vvw.warp(cw.now() + 120)  # every authorization expired, the refunded one's deadline passed
    vvw.escrow.refund(escrow_of(paid["refunded"]), [], sender=vw.lp)
    vvw.escrow.release(escrow_of(paid["released"]), signers, sender=vw.lp)

    snap = chain.snapshot()
    credited, left, budget = wallet.reconcile(), wallet.pending, v.feedBudget()
    assert credited == FEED_PRICE + (MAX_UPTO - 13_000) + MAX_UPTO + 2 * FEED_PRICE and left == 1
    chain.restore(snap)
    again = VaultFeedWallet(AgentVault(w3, v.address), agent_key)
    assert again.recover(from_block=start) == 7  # all but the exact one settled
    assert again.recover(from_block=start) == 0
    assert (again.reconcile(), again.pending, v.feedBudget()) == (credited, left, budget)


def test_the_keeper_credits_what_it_refunded_to_the_vault(vvw, capsys):
    """Given the vault, the keeper follows its refund of a vault-paid escrowed policy fee with
    creditRefundedFee and of a vault-paid verified payment with creditRefundedPayment (each once:
    then "settled"); a refund to another payer is not followed by a credit, and neither is one
    without the vault. The CLI's `agent settle --vault` does the same."""
    from offchain.agent.keeper import Keeper
    from offchain.agent.vault import AgentVault
    from offchain.chain.agent import (
        RECEIVE_WITH_AUTHORIZATION,
        Authorization,
        Escrow,
        Sender,
        authorization_data,
        sign,
    )
    from offchain.chain.sdk import load_abis
    from offchain.cli import main

    cw, vw, v, chain = vvw.cw, vvw.vw, vvw.v, vvw.chain
    w3, abis = chain.provider.web3, load_abis()
    acct = Account.from_key(keccak(b"vault keeper"))
    vw.owner.transfer(acct.address, 10**18)
    vault = AgentVault(w3, v.address)

    def keeper(escrow, with_vault=True):
        handle = Escrow(w3, escrow.address, abis["VerifiedEscrow"])
        return Keeper(
            handle, Sender(w3, acct.key), abis["TaskMailbox"], abis["InferenceDisputes"],
            vault=vault if with_vault else None,
        )  # fmt: skip

    # a policy fee the vault escrowed, refunded uncertified past its deadline, then credited
    fee_budget = v.feeBudget()
    rc = v.postPolicyTaskEscrowed(vw.input(BUY), ESCROW_FEE, sender=vw.agent)
    fee_id = bytes(one_ev(rc, "FeeEscrowed", v).escrowId)
    # a verified payment the vault made, and one an account made, both refunded at their deadline
    feed_budget = v.feedBudget()
    args = vvw.args(deadline=cw.now() + 60)
    vvw.authorize(args)
    vvw.deposit(args)
    other = vvw.args(deadline=cw.now() + 60, salt=keccak(b"account"))
    cw.usd.mint(vw.lp, FEED_PRICE, sender=vw.owner)
    token, escrow, to, kind, ref, expected, deadline, salt, value, after, before = other
    n = escrow_nonce(to, kind, ref, expected, deadline, salt)
    data = authorization_data(
        RECEIVE_WITH_AUTHORIZATION,
        "USD Coin",
        chain.chain_id,
        token,
        Authorization(vw.lp.address, escrow, value, after, before, n),
    )
    vvw.escrow.deposit(
        token, vw.lp, value, after, before, to, kind, ref, expected, deadline, salt,
        sign(vw.lp.private_key, data), sender=vw.lp,
    )  # fmt: skip
    vvw.warp(cw.now() + FEE_DEADLINE + 1)
    steps = keeper(cw.escrow).run([fee_id])
    assert [s.action for s in steps] == ["refund", "credit"] and v.feeBudget() == fee_budget
    assert [(s.action, s.reason) for s in keeper(cw.escrow).run([fee_id])] == [("settled", "refunded")]
    account_id = escrow_id(token, vw.lp.address, n)
    assert [s.action for s in keeper(vvw.escrow).run([account_id])] == ["refund"]
    # without the vault: the refund alone; then the CLI with --vault credits it
    assert [s.action for s in keeper(vvw.escrow, with_vault=False).run([vvw.eid(args)])] == ["refund"]
    assert v.feedBudget() == feed_budget - FEED_PRICE
    cli = ["agent", "settle", "0x" + vvw.eid(args).hex(), "--rpc", w3.provider.endpoint_uri]
    cli += [
        "--escrow",
        vvw.escrow.address,
        "--key",
        "0x" + acct.key.hex().removeprefix("0x"),
        "--vault",
        v.address,
    ]
    assert main(cli) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["credit"]
    assert v.feedBudget() == feed_budget and v.paymentRefundCredited(vvw.eid(args))
    assert [s.action for s in keeper(vvw.escrow).run([vvw.eid(args)])] == ["settled"]
