"""The verifiable trading agent (offchain/agent/trading.py) on anvil with the tiny model and a DA
devnet: a paid, signed feed; steps that trade on the ConstantProductAMM; records dispersed to DA and
re-executed from them alone (matching); and every refusal: a payment in the wrong token, a feed
signed by someone else or altered, a tampered record (prompt, strategy, order), a tampered
certificate, a tampered inference output (the re-execution disagrees), and HOLD on any answer the
parser cannot read."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from starlette.testclient import TestClient

from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.a2a import AP2_CHECKOUT_RECEIPT, AP2_PAYMENT_RECEIPT, FAILED, A2AClient, Ap2Mandates
from offchain.agent.facilitator import LocalFacilitator
from offchain.agent.trading import (
    AMM_IMMUTABLE_BYTES,
    AMM_RESERVE_SLOTS,
    ASSET_UNIT,
    FEED_SKILL,
    USDC_UNIT,
    AgentImage,
    DARecords,
    PolicyNetwork,
    PolicyReexecutor,
    PolicyVerifier,
    SignedFeed,
    StepRecord,
    Strategy,
    TradingAgent,
    build_prompt,
    certified_order,
    check_agent_enclave,
    check_feed,
    check_feed_state,
    check_record,
    data_agent_a2a,
    data_agent_app,
    decide,
    infer_with,
    policy_input,
    prove_feed,
    read_feed,
    receipt_text,
    reexecute_step,
    sign_feed,
)
from offchain.chain import agent as chain_agent
from offchain.chain.sdk import load_abis
from offchain.compute.trading_policy import run as policy_run
from offchain.httpservice import ServiceServer
from scripts._demo.trading import tampered_decision, tampered_policy
from tests.offchain.agent.support import PRICE, build_world
from tests.offchain.compute.test_compute_sandbox import needs_bwrap

STRATEGY = Strategy(max_buy_usdc=20 * USDC_UNIT, max_sell_asset=ASSET_UNIT // 100)
OPERATOR_KEY = keccak(b"trading test inference operator")
FAR = 2**40


@pytest.fixture(scope="module")
def svc():
    from offchain.ai.service import InferenceService
    from offchain.ai.tiny import tiny_model

    return InferenceService(tiny_model(0))


@pytest.fixture(scope="module")
def market(project, accounts, chain):
    w = build_world(project, accounts, chain)
    deployer = accounts[0]
    usdc = project.StableToken.at(w.token.address)
    asset = deployer.deploy(project.MockERC20, "Demo Ether", "dETH")
    amm = deployer.deploy(project.ConstantProductAMM, usdc, asset, 30, "AMM USDC/dETH", "LP")
    usdc.mint(deployer, 100_000 * USDC_UNIT, sender=deployer)
    asset.mint(deployer, 50 * ASSET_UNIT, sender=deployer)
    asset.mint(w.addresses["payer"], ASSET_UNIT, sender=deployer)
    usdc.approve(amm, 2**256 - 1, sender=deployer)
    asset.approve(amm, 2**256 - 1, sender=deployer)
    amm.addLiquidity(100_000 * USDC_UNIT, 50 * ASSET_UNIT, 0, 0, deployer, FAR, sender=deployer)
    abis = load_abis()
    contracts = {
        "amm": w.w3.eth.contract(address=amm.address, abi=abis["ConstantProductAMM"]),
        "usdc": w.w3.eth.contract(address=usdc.address, abi=abis["StableToken"]),
        "asset": w.w3.eth.contract(address=asset.address, abi=abis["MockERC20"]),
    }
    return w, contracts


def agent_for(market, data_key=None, asset=None, a2a_url=None):
    """The trading agent, buying the feed over HTTP (a TestClient of the data agent), or over A2A
    from the data agent served at `a2a_url`."""
    w, c = market
    fac = w.fresh_facilitator()
    offer = fac.requirements("exact", w.token.address, w.addresses["seller"], PRICE)
    app = data_agent_app(w.w3, c["amm"], data_key or w.keys["seller"], (offer,), LocalFacilitator(fac))
    payer = w.client("payer", budget=10 * PRICE, http=TestClient(app))
    if asset is not None:
        payer.asset = asset
    agent = TradingAgent(
        w.w3, w.keys["payer"], 7, "0x" + "00" * 19 + "01", STRATEGY, c["amm"], c["usdc"], c["asset"],
        "http://testserver/feed", w.addresses["seller"], payer, w.addresses["payer2"],
        A2AClient(a2a_url, w.client("payer", budget=10 * PRICE)) if a2a_url else None,
    )  # fmt: skip
    agent.approve()  # ape rewinds the chain between tests
    return agent


def run_step(agent, svc, step, key=OPERATOR_KEY):
    return agent.step(
        step, lambda p: infer_with(svc, key, STRATEGY, agent.client, p), lambda r: receipt_text(svc, r)
    )


@pytest.fixture(scope="module")
def da(tmp_path_factory):
    from offchain.da.network import devnet

    folder = tmp_path_factory.mktemp("trading-da")
    info = devnet.up(
        folder, 4, test_srs_symbols=512, log_level="warning"
    )  # a record with its feed proof: 8 to 12 KB
    key = bytes.fromhex((folder / "keys" / "payer.key").read_text().strip())
    try:
        yield DARecords(info["disperser"], key, folder / "client.json")
    finally:
        devnet.down(folder)


# ---------------------------------------------------------------- the parser fails closed


def test_decide_reads_only_the_grammar_answer():
    w_feed = SignedFeed  # noqa: F841 - the feed below is enough
    from offchain.agent.trading import Feed, reference_price

    feed = Feed(1, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 30, 0, 5, 10**11, 5 * 10**19,
                reference_price(0))  # fmt: skip
    buy = decide(STRATEGY, feed, '{"action":"BUY","size":"large"}')
    assert (buy.action, buy.amount_in) == ("BUY", STRATEGY.max_buy_usdc)
    assert buy.min_out == feed.amount_out(feed.token0, buy.amount_in) * 9_900 // 10_000 > 0
    sell = decide(STRATEGY, feed, '{"action":"SELL","size":"small"}')
    assert (sell.action, sell.amount_in) == ("SELL", STRATEGY.max_sell_asset // 4)
    for text in (
        "",
        '{"action":"BUY","size":"lar',  # truncated at max_tokens
        '{"action":"BUY","size":"huge"}',
        '{"action":"BUY","size":"large","amount":1e30}',
        "BUY 1000000",
        '{"action":"buy","size":"large"}',
        '{"action":"HOLD","size":"large"}',
    ):
        o = decide(STRATEGY, feed, text)
        assert (o.action, o.amount_in, o.min_out) == ("HOLD", 0, 0), text
    empty = replace(feed, reserve0=0, reserve1=0)
    assert decide(STRATEGY, empty, '{"action":"BUY","size":"large"}').action == "HOLD"


# ---------------------------------------------------------------- steps on anvil


def test_steps_trade_and_refusals(market, svc, accounts):
    w, c = market
    agent = agent_for(market)
    seller0 = w.balance("seller")
    usdc0, asset0 = (
        c["usdc"].functions.balanceOf(agent.wallet).call(),
        c["asset"].functions.balanceOf(agent.wallet).call(),
    )
    res = run_step(agent, svc, 0)
    rec = res.record
    assert w.balance("seller") - seller0 == PRICE  # the feed was paid for, exact
    assert rec.payment["amount"] == str(PRICE) and rec.payment["scheme"] == "exact"
    assert rec.feed.signer() == w.addresses["seller"]
    assert rec.prompt == build_prompt(STRATEGY, rec.feed.feed)
    assert rec.order == decide(STRATEGY, rec.feed.feed, res.completion_text)
    usdc1, asset1 = (
        c["usdc"].functions.balanceOf(agent.wallet).call(),
        c["asset"].functions.balanceOf(agent.wallet).call(),
    )
    if rec.order.action == "BUY":
        assert usdc0 - usdc1 == rec.order.amount_in + PRICE and asset1 - asset0 == int(
            rec.trade["amount_out"]
        )
    elif rec.order.action == "SELL":
        assert asset0 - asset1 == rec.order.amount_in
    else:
        assert rec.trade is None
    assert StepRecord.from_json(res.raw) == rec
    check_record(rec, svc, w.addresses["seller"], STRATEGY.hash())

    # a feed signed by another key is refused before anything is decided
    forged = agent_for(market, data_key=w.keys["payer2"])
    with pytest.raises(E.FeedError, match="not signed by the data agent"):
        forged.buy_feed(1)
    # an altered feed no longer recovers to the data agent
    altered = replace(rec.feed, feed=replace(rec.feed.feed, reserve0=rec.feed.feed.reserve0 + 1))
    with pytest.raises(E.FeedError, match="not signed"):
        check_feed(altered, w.addresses["seller"])
    # a client paying in another token finds no acceptable offer and pays nothing
    wrong = agent_for(market, asset=c["asset"].address)
    before = w.balance("payer")
    with pytest.raises(E.NoAcceptablePaymentError):
        wrong.buy_feed(1)
    assert w.balance("payer") == before
    # the feed read straight from the pool is what the data agent signed at that block
    fresh = read_feed(w.w3, c["amm"], 5)
    assert fresh.reserve0 == c["amm"].functions.reserve0().call()


def test_a_feed_is_proven_against_its_block(market, svc):
    """The data agent sends the state proof of the reserves it signed; the buyer checks it against the
    block's hash and the pool's code, so a data agent cannot sell reserves the pool did not have."""
    w, c = market
    agent = agent_for(market)
    signed, _ = agent.buy_feed(4)  # checked on purchase: it would raise otherwise
    assert signed.proof is not None and signed.proof.address == signed.feed.amm
    check_feed_state(signed, w.w3)
    f, key = signed.feed, w.keys["seller"]
    # the pool trades on: the feed's proof still proves the reserves at the feed's block, not now's
    run_step(agent, svc, 5)
    assert (c["amm"].functions.reserve0().call(), c["amm"].functions.reserve1().call()) != (
        f.reserve0,
        f.reserve1,
    )
    check_feed_state(signed, w.w3)
    refusals = [
        # reserves the pool did not have, signed by the data agent with the proof of the real ones
        (sign_feed(key, replace(f, reserve0=f.reserve0 * 2), signed.proof), "reserves at block"),
        (sign_feed(key, replace(f, reserve1=f.reserve1 - 1), signed.proof), "reserves at block"),
        # no proof; a proof of another block; of another contract; of other slots
        (sign_feed(key, f), "carries no state proof"),
        (sign_feed(key, replace(f, block=f.block - 1), signed.proof), "does not hash to the block hash"),
        (sign_feed(key, f, prove_feed(w.w3, replace(f, amm=c["usdc"].address))), "not of the feed's pool"),
        (sign_feed(key, f, replace(signed.proof, storage_proofs=signed.proof.storage_proofs[::-1])),
         "not of the feed's pool"),
        # the real reserves, but under other tokens, another fee or another chain
        (sign_feed(key, replace(f, token1=w.token.address), signed.proof), "other tokens"),
        (sign_feed(key, replace(f, fee_bips=f.fee_bips + 1), signed.proof), "another fee"),
        (sign_feed(key, replace(f, chain_id=f.chain_id + 1), signed.proof), "for chain"),
        (sign_feed(key, replace(f, block=10**9), signed.proof), "no block"),
    ]  # fmt: skip
    for bad, why in refusals:
        with pytest.raises(E.FeedProofError, match=why):
            check_feed_state(bad, w.w3)
    # a feed's JSON with a malformed proof is refused as it is parsed
    body = signed.to_json()
    body["proof"] = {**body["proof"], "accountProof": []}
    with pytest.raises(E.FeedProofError, match="1 to 64 nodes"):
        SignedFeed.from_json(body)
    assert SignedFeed.from_json(signed.to_json()) == signed


def test_the_pools_layout_is_the_compilers():
    """AMM_RESERVE_SLOTS and AMM_IMMUTABLE_BYTES are ConstantProductAMM's layout as Vyper compiles it."""
    import subprocess
    import sys
    from pathlib import Path

    vyper = Path(sys.executable).parent / "vyper"  # the pinned compiler, beside this interpreter
    out = subprocess.run(
        [str(vyper), "-f", "layout", "-p", "contracts", "contracts/agent/ConstantProductAMM.vy"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    layout = json.loads(out.stdout)
    storage, code = layout["storage_layout"], layout["code_layout"]
    assert (storage["reserve0"]["slot"], storage["reserve1"]["slot"]) == AMM_RESERVE_SLOTS
    assert [(k, v["offset"], v["length"]) for k, v in code.items()] == [
        ("token0", 0, 32), ("token1", 32, 32), ("feeBips", 64, 32)
    ]  # fmt: skip
    assert sum(v["length"] for v in code.values()) == AMM_IMMUTABLE_BYTES


def test_tampered_records_are_refused(market, svc):
    w, _ = market
    rec = run_step(agent_for(market), svc, 1).record
    seller = w.addresses["seller"]
    other = replace(rec, prompt=rec.prompt + " Buy everything.")
    with pytest.raises(E.RecordError, match="prompt is not the one"):
        check_record(other, svc, seller)
    with pytest.raises(E.RecordError, match="strategy is not the one"):
        check_record(rec, svc, seller, keccak(b"another strategy"))
    looser = replace(rec, strategy=replace(STRATEGY, max_buy_usdc=10**12))
    with pytest.raises(E.RecordError, match="prompt is not the one"):
        check_record(looser, svc, seller)
    unsigned = replace(rec, receipt=replace(rec.receipt, signature=b"\x01" * 65))
    with pytest.raises(E.RecordError, match="signature"):
        check_record(unsigned, svc, seller)
    rebound = replace(rec, agent={**rec.agent, "client": w.addresses["seller"]})
    with pytest.raises(E.RecordError, match="another client"):
        check_record(rebound, svc, seller)
    # the record's bytes: a changed strategy hash or a malformed body
    body = json.loads(rec.to_json())
    body["strategy_hash"] = "0x" + "00" * 32
    with pytest.raises(E.RecordError, match="strategy hash"):
        StepRecord.from_json(json.dumps(body).encode())
    with pytest.raises(E.RecordError, match="not JSON"):
        StepRecord.from_json(b"{")
    with pytest.raises(E.RecordError, match="fields"):
        StepRecord.from_json(b'{"type": "x"}')
    # a record's feed must carry its state proof
    unproven = replace(rec, feed=replace(rec.feed, proof=None))
    with pytest.raises(E.RecordError, match="no state proof"):
        StepRecord.from_json(unproven.to_json())


# ---------------------------------------------------------------- re-execution from DA


def test_reexecution_from_da(market, svc, da):
    w, c = market
    agent = agent_for(market)
    res = run_step(agent, svc, 2)
    cert = da.put(res.raw)
    check = reexecute_step(cert, da, svc, w.addresses["seller"], STRATEGY.hash(), w.w3, c["amm"])
    assert check.matches and check.problems == [] and check.reexecution.receipt_correct
    assert check.recomputed == res.record.order

    # the record's feed checked against the chain: its pool must be the one named, its proof must hold
    class Held:  # the record's bytes as DA returned them above (DARecords is tested on its own)
        def __init__(self, raw):
            self.raw = raw

        def get(self, _cert):
            return self.raw

    other_pool = reexecute_step(cert, Held(res.raw), svc, w.addresses["seller"], None, w.w3, c["usdc"])
    assert (
        f"the feed is for the pool {res.record.feed.feed.amm}, not {c['usdc'].address}" in other_pool.problems
    )
    p = res.record.feed.proof
    bent = replace(
        res.record, feed=replace(res.record.feed, proof=replace(p, storage_proofs=p.storage_proofs[::-1]))
    )
    unproven = reexecute_step(cert, Held(bent.to_json()), svc, w.addresses["seller"], None, w.w3, c["amm"])
    assert not unproven.matches
    assert unproven.problems == ["the feed: the state proof is not of the feed's pool's reserves"]

    # the operator tampered with the output: the agent acted on the forged answer
    forged = tampered_decision(svc, res.record.receipt, OPERATOR_KEY)
    text = receipt_text(svc, forged)
    bad = replace(res.record, receipt=forged, order=decide(STRATEGY, res.record.feed.feed, text), trade=None)
    cert_bad = da.put(bad.to_json())
    check = reexecute_step(cert_bad, da, svc, w.addresses["seller"], STRATEGY.hash())
    assert not check.matches and not check.reexecution.receipt_correct
    assert "the receipt's output is not what the model computes" in check.problems
    assert check.recomputed == res.record.order  # the honest decision, recovered from the record alone

    # a tampered certificate: another blob key, or a signed batch that was altered
    for path in (("blob_key",), ("signed_batch", "header", "batch_root")):
        bent = json.loads(json.dumps(cert))
        node = bent
        for k in path[:-1]:
            node = node[k]
        v = node[path[-1]]
        node[path[-1]] = v[:-2] + ("00" if v[-2:] != "00" else "11")
        with pytest.raises(E.RecordUnavailableError):
            reexecute_step(bent, da, svc, w.addresses["seller"])


def test_records_checked_on_chain_are_refused_without_a_verifier(market, svc, da, networks):
    """With a cert checker, DARecords accepts a certificate only when checkDACert says SUCCESS: a chain
    with no EigenDACertVerifier at the address cannot vouch for it, so neither put nor get accepts it."""
    from offchain.chain.da_contracts import CertVerifierClient

    w, c = market
    res = run_step(agent_for(market), svc, 3)
    cert = da.put(res.raw)  # no checker: the DA client's own checks only
    assert StepRecord.from_json(da.get(cert)) == res.record
    checker = CertVerifierClient(networks.provider.uri, c["amm"].address)  # a contract, not a verifier
    checked = DARecords(da.disperser, da.key, da.client_config, cert_checker=checker)
    with pytest.raises(E.RecordUnavailableError, match="checkDACert"):
        checked.get(cert)
    with pytest.raises(E.RecordUnavailableError, match="checkDACert"):
        checked.put(res.raw)


@pytest.fixture
def a2a_data_agent(market):
    """The data agent over A2A (skill FEED_SKILL, x402 exact), on its own port; (url, its key)."""
    w, c = market
    fac = w.fresh_facilitator()
    offer = fac.requirements("exact", w.token.address, w.addresses["seller"], PRICE)
    server = data_agent_a2a(
        w.w3, c["amm"], w.keys["seller"], (offer,), LocalFacilitator(fac), clock=w.clock, store=":memory:"
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        yield s.url


def test_feed_bought_over_a2a(market, svc, a2a_data_agent):
    w, c = market
    agent = agent_for(market, a2a_url=a2a_data_agent)
    card = agent.a2a.card()
    assert list(card.skills) == [FEED_SKILL]
    seller0 = w.balance("seller")
    res = run_step(agent, svc, 4)
    rec = res.record
    assert w.balance("seller") - seller0 == PRICE  # paid through the A2A x402 extension, settled once
    assert rec.payment["amount"] == str(PRICE) and rec.payment["scheme"] == "exact"
    assert rec.payment["payee"] == w.addresses["seller"] and rec.payment["a2a_task"]
    assert rec.feed.signer() == w.addresses["seller"] and rec.feed.feed.step == 4
    assert StepRecord.from_json(res.raw) == rec
    check_record(rec, svc, w.addresses["seller"], STRATEGY.hash())

    # a request the skill cannot answer fails its task and nothing is settled
    before = w.balance("payer")
    ex = agent.a2a.ask(data={"step": "-1"}, skill=FEED_SKILL)
    assert ex.task.status.state == FAILED and ex.receipt is None
    assert w.balance("payer") == before
    with pytest.raises(E.FeedError, match="TASK_STATE_FAILED"):
        agent.buy_feed(2**256)
    assert w.balance("payer") == before


MERCHANT_KEY, ISSUER_KEY, DEVICE_KEY, AGENT_KEY = (sdjwt.new_key() for _ in range(4))


def test_feed_bought_over_a2a_under_ap2_mandates(market):
    """The data agent settling only AP2-mandated payments; the trading agent's purchase carries the
    user's open mandates (two feeds' budget), closed over each checkout; a third is refused."""
    w, c = market
    cur = f"eip155:{w.w3.eth.chain_id}/erc20:{w.token.address}"
    fac = w.fresh_facilitator()
    offer = fac.requirements("exact", w.token.address, w.addresses["seller"], PRICE)
    server = data_agent_a2a(
        w.w3, c["amm"], w.keys["seller"], (offer,), LocalFacilitator(fac), clock=w.clock,
        merchant_key=MERCHANT_KEY, require_mandates=True,
        mandate_issuers={"https://id.example": ISSUER_KEY.public_key()}, digits={cur: 6}, store=":memory:",
    )  # fmt: skip
    now = int(w.clock())
    cred = sdjwt.issue(
        ISSUER_KEY,
        "https://id.example",
        {"wallet": w.addresses["payer2"]},
        [],
        DEVICE_KEY,
        iat=now,
        exp=now + 3600,
    )
    seller = [ap2.payee(w.addresses["seller"])]
    item = {"id": FEED_SKILL, "title": "USDC/dETH market feed"}
    oc = ap2.delegate(
        cred, DEVICE_KEY,
        ap2.open_mandate(ap2.CHECKOUT_OPEN, AGENT_KEY, [ap2.line_items([("feed", [item], 1)])], iat=now, exp=now + 600),
        aud="trading-agent", nonce="d1", iat=now,
    )  # fmt: skip
    cs = [
        ap2.reference(sdjwt.digest(sdjwt.last_link(oc))),
        ap2.allowed_payees(seller),
        ap2.budget(cur, f"{2 * PRICE / 1e6:.2f}"),
        ap2.recurrence("ON_DEMAND"),
    ]
    op = ap2.delegate(
        cred, DEVICE_KEY, ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT_KEY, cs, iat=now, exp=now + 600),
        aud="trading-agent", nonce="d2", iat=now,
    )  # fmt: skip
    with ServiceServer(server.app(), log_level="warning") as s:
        agent = agent_for(market, a2a_url=s.url)
        agent.a2a.mandates = Ap2Mandates(AGENT_KEY, oc, op, w.addresses["payer"], w.clock)
        seller0 = w.balance("seller")
        for step in (1, 2):
            feed, payment = agent.buy_feed(step)
            assert feed.feed.step == step and payment["a2a_task"]
            task = agent.a2a.get_task(payment["a2a_task"])
            assert {AP2_CHECKOUT_RECEIPT, AP2_PAYMENT_RECEIPT} <= set(task.status.metadata)
        with pytest.raises(E.PaymentRefusedError) as info:
            agent.buy_feed(3)
        assert info.value.reason == "mandate_budget"
        assert w.balance("seller") - seller0 == 2 * PRICE


def test_feed_over_a2a_from_another_signer_is_refused(market, a2a_data_agent):
    w, c = market
    # the agent expects the feed of payer2's key: the data agent's signature does not recover to it
    agent = agent_for(market, a2a_url=a2a_data_agent)
    agent.data_agent = w.addresses["payer2"]
    with pytest.raises(E.FeedError, match="not signed by the data agent"):
        agent.buy_feed(1)


# ---------------------------------------------------------------- the policy on the compute network


@pytest.fixture(scope="module")
def policy_net(project, chain, accounts, networks):
    """The policy image registered for a compute app and an ECDSA task type running it on a
    TaskMailbox (three executors with stake 25, 15, 10, threshold 66.67%; ``image_world``); the
    agent pays the task fee in TKC."""
    from offchain.compute.trading_policy import build_trading_policy_image
    from tests.offchain.chain.test_chain_eigentrust import image_world

    with image_world(project, chain, accounts, networks, build_trading_policy_image, b"trading policy") as mw:
        mw.policy_type = mw.image_type
        yield mw


def policy_for(
    net, market, tmp_path, run=None, image=None, run_by=None, prove_faults=True, task_type=None, fee=None,
    admit=None,
):  # fmt: skip
    """A PolicyNetwork paid by the agent's wallet whose `drive` has the three executors (each
    running the image with `run`, or executor i with ``run_by[i]``, default execute_task; each
    admitting a task with `admit`) answer in order and the aggregator certify (proving every
    minority share wrong, with `prove_faults`); tasks of `task_type` (default the policy type), paid
    through `fee` (a TaskFee) when given."""
    from offchain.chain.task_mailbox import Web3TaskMailbox
    from offchain.compute.taskrun import Aggregator
    from tests.offchain.chain.test_chain_eigentrust import executors

    w, _ = market
    tmp_path.mkdir(parents=True, exist_ok=True)
    payer = Account.from_key(w.keys["payer"])
    net.token.mint(payer.address, 10**21, sender=net.creator)
    agg = Aggregator(
        Web3TaskMailbox(net.d, account=net.agg_key), tmp_path / "evidence", prove_faults=prove_faults
    )
    exs = executors(net, tmp_path, agg.add, run_by={i: run for i in range(3)} if run else run_by)
    for ex in exs:
        ex.admit = admit

    def drive(task_hash):
        for ex in exs:
            ex.poll()

    pn = PolicyNetwork(
        Web3TaskMailbox(net.d), payer, task_type or net.policy_type, image or net.image, drive, timeout_s=5,
        fee=fee,
    )  # fmt: skip
    pn.executors = exs
    return pn


def policy_verifier(net, image=None):
    from offchain.chain.task_mailbox import Web3TaskMailbox
    from offchain.compute.executor import dev_enclave, execute_task
    from tests.offchain.compute.test_compute_sandbox import TEST_UID

    def rerun(payload):
        out = execute_task(
            net.store / net.image.hex(), "sha256:" + net.image.hex(), payload,
            enclave=dev_enclave(net.cw.ca), workdir=net.work, uid=TEST_UID,
        )  # fmt: skip
        return out.output

    return PolicyVerifier(Web3TaskMailbox(net.d), net.policy_type, image or net.image, rerun)


def policy_step(market, svc, net, tmp_path, step):
    """An agent whose policy runs on `net` takes `step`: (the agent, its StepResult)."""
    agent = agent_for(market)
    agent.policy = policy_for(net, market, tmp_path)
    return agent, run_step(agent, svc, step)


@needs_bwrap
def test_a_step_trades_on_the_certified_policy_output(market, svc, da, policy_net, tmp_path):
    w, c = market
    _, res = policy_step(market, svc, policy_net, tmp_path, 5)
    rec, task = res.record, res.record.policy
    payload = policy_input(STRATEGY, rec.feed, rec.receipt.digest(), res.completion_text).encode()
    assert task is not None and task.image_digest == policy_net.image and len(task.signers) >= 2
    assert task.output == policy_run(payload)  # the image's output, certified, is the reference's
    assert rec.order == certified_order(task, payload) == decide(STRATEGY, rec.feed.feed, res.completion_text)
    assert StepRecord.from_json(res.raw) == rec

    # re-executed from DA: the certified output is the local re-run's and the parser's
    cert = da.put(res.raw)
    verifier = policy_verifier(policy_net)
    check = reexecute_step(
        cert, da, svc, w.addresses["seller"], STRATEGY.hash(), w.w3, c["amm"], policy_check=verifier
    )
    assert check.matches and check.problems == []

    # a record whose policy output was altered, or checked against another declared image, does not
    lie = replace(rec, policy=replace(task, output=task.output[:-1] + b"\x01"))
    problems = verifier.problems(lie, payload)
    assert "the recorded policy output is not the certified one" in problems
    assert any("does not parse" in p for p in problems)
    problems = policy_verifier(policy_net, image=keccak(b"another image")).problems(rec, payload)
    assert problems == ["the policy task's image is not the declared policy image"]
    # a record whose input is not the certified task's (its receipt text answered otherwise)
    other = policy_input(STRATEGY, rec.feed, rec.receipt.digest(), '{"action":"HOLD","size":"small"}')
    assert "the policy task's certified input is not the step's" in verifier.problems(rec, other.encode())
    assert "the step has no policy task" in verifier.problems(replace(rec, policy=None), payload)


@needs_bwrap
def test_policy_refusals(market, svc, policy_net, tmp_path):
    import dataclasses

    from offchain.compute.executor import execute_task

    w, c = market
    agent = agent_for(market)
    usdc0 = c["usdc"].functions.balanceOf(agent.wallet).call()
    # the task type runs another image than the one the agent declared: refused before posting
    agent.policy = policy_for(policy_net, market, tmp_path / "a", image=keccak(b"another image"))
    with pytest.raises(E.PolicyTaskError, match="not the declared policy image"):
        run_step(agent, svc, 6)

    # the executors certify the policy's output for another input
    def other_input(image, digest, payload, **kw):
        p = policy_input(
            STRATEGY, SignedFeed(replace(read_feed(w.w3, c["amm"], 6), reserve0=1), b""), bytes(32), ""
        )
        return execute_task(image, digest, p.encode(), **kw)

    agent.policy = policy_for(policy_net, market, tmp_path / "b", run=other_input)
    with pytest.raises(E.PolicyTaskError, match="another input"):
        run_step(agent, svc, 6)

    # the executors certify an output that is no order
    def garbage(*a, **kw):
        return dataclasses.replace(execute_task(*a, **kw), output=b"BUY everything")

    agent.policy = policy_for(policy_net, market, tmp_path / "c", run=garbage)
    with pytest.raises(E.PolicyTaskError, match="does not parse"):
        run_step(agent, svc, 6)

    # the executors certify a well-formed order for the input that is not the policy's: refused too
    agent.policy = policy_for(policy_net, market, tmp_path / "d", run=tampered_policy(STRATEGY))
    with pytest.raises(E.PolicyRefusedError, match="where the policy gives"):
        run_step(agent, svc, 6)
    # nobody runs the task: not certified within the agent's wait
    agent.policy = replace(
        policy_for(policy_net, market, tmp_path / "e"), drive=None, timeout_s=0.5, poll_s=0.1
    )
    with pytest.raises(E.PolicyTaskError, match=r"not certified \(status CREATED\)"):
        run_step(agent, svc, 6)
    # nothing was traded on any of them (the feeds were paid for)
    assert usdc0 - c["usdc"].functions.balanceOf(agent.wallet).call() == 5 * PRICE


# ---------------------------------------------------------------- a wrong certified output, proven


@pytest.fixture(scope="module")
def enrolled(policy_net):
    """Executor 2's enclave, enrolled in ComputeAVS for the app and the policy image (the compute
    set's operators 0 and 1 verified its evidence and signed)."""
    from offchain.compute.devtee import DevTEE, dev_policy

    cw, image = policy_net.cw, policy_net.image
    tee = DevTEE(cw.ca, image)
    cw.enrol(tee, op_index=2, st=cw.statement(tee, 2, image=image, policy=dev_policy(cw.ca, image)))
    return tee


def policy_reexecutor(net, enclave, account=None, image=None, app_id=None, run=None):
    """A PolicyReexecutor of the agent's declared task type (declaring `image`, default the policy
    image's) re-running the image in `enclave` for `app_id` (default the task's app) with `run`
    (default execute_task); proofs from `account`."""
    from offchain.chain.task_mailbox import Web3TaskMailbox
    from offchain.compute.executor import execute_task
    from tests.offchain.compute.test_compute_sandbox import TEST_UID

    view = Web3TaskMailbox(net.d, account=account)

    def rerun(payload):
        return (run or execute_task)(
            net.store / net.image.hex(), "sha256:" + net.image.hex(), payload, enclave=lambda d: enclave,
            app_id=net.cw.app_id if app_id is None else app_id, chain_id=view.chain_id, workdir=net.work,
            uid=TEST_UID,
        )  # fmt: skip

    return PolicyReexecutor(view, net.policy_type, image or net.image, rerun)


@needs_bwrap
def test_a_wrong_certified_policy_output_is_proven_from_its_da_record(
    market, svc, da, policy_net, enrolled, tmp_path, chain, accounts
):
    """Executors 0 and 1 (40 of 50, over the 66.67% threshold) certify a flipped order; executor 2
    answers right. The agent refuses it, trades nothing and records the refused step; from that DA
    record alone, the re-executor re-runs the image on the certified input in executor 2's enrolled
    enclave, finds the certified output wrong and builds proveReceiptFault's arguments, which the
    contract accepts: the two certifiers slashed, executor 2 not. An honest step's record: no fault."""
    from offchain.chain.errors import ChainRevertError
    from tests.contracts.support import evs

    w, c = market
    agent = agent_for(market)
    usdc0, asset0 = (c[t].functions.balanceOf(agent.wallet).call() for t in ("usdc", "asset"))
    lie = tampered_policy(STRATEGY)
    # (an aggregator that proved executor 2's outvoted share wrong would have it slashed too, until the
    # set's resolver cancels that slash: this one keeps the share as evidence)
    agent.policy = policy_for(
        policy_net, market, tmp_path / "lie", run_by={0: lie, 1: lie}, prove_faults=False
    )
    with pytest.raises(E.PolicyRefusedError, match="where the policy gives") as refused:
        run_step(agent, svc, 7)
    res = refused.value.result
    rec, task = res.record, res.record.policy
    assert rec.order.action == "HOLD" and rec.order.reason.startswith("refused: ") and rec.trade is None
    assert StepRecord.from_json(res.raw) == rec
    assert c["usdc"].functions.balanceOf(agent.wallet).call() == usdc0 - PRICE  # the feed only
    assert c["asset"].functions.balanceOf(agent.wallet).call() == asset0

    prover = Account.from_key(keccak(b"trading test policy prover"))
    accounts[0].transfer(prover.address, 10**18)
    rex = policy_reexecutor(policy_net, enrolled, account=prover)
    fault = rex.fault(da.get(da.put(res.raw)))
    payload = policy_input(STRATEGY, rec.feed, rec.receipt.digest(), res.completion_text).encode()
    assert fault is not None and fault.task_hash == task.task_hash
    assert fault.certified == task.output != fault.correct == policy_run(payload)
    ops = [op.address for op in policy_net.ops]
    assert sorted(fault.signers) == sorted(ops[:2])
    slasher = policy_net.slasher
    snap = chain.snapshot()
    try:  # the arguments as they are, sent by anyone
        rc = slasher.proveReceiptFault(*fault.args(), sender=accounts[1])
        assert sorted(e.operator for e in evs(rc, "TaskFaultProven")) == sorted(ops[:2])
    finally:
        chain.restore(snap)
    rc = chain.get_receipt("0x" + bytes(rex.prove(fault)).hex())
    proven = slasher.TaskFaultProven.from_receipt(rc)
    assert sorted((e.operator, e.kind) for e in proven) == sorted((a, 2) for a in ops[:2])
    assert [slasher.faultSlashed(task.task_hash, a) for a in ops] == [True, True, False]
    with pytest.raises(ChainRevertError, match="fault already proven"):
        rex.prove(fault)
    # a re-run that cannot be trusted proves nothing: not the reference's output, or a receipt that
    # does not bind the task's app
    with pytest.raises(E.PolicyTaskError, match="not the reference policy's output"):
        policy_reexecutor(policy_net, enrolled, run=lie).fault(res.raw)
    with pytest.raises(E.PolicyTaskError, match="does not bind"):
        policy_reexecutor(policy_net, enrolled, app_id=keccak(b"another app")).fault(res.raw)

    # an honest step's record: the certified output is the image's, no fault
    agent.policy = policy_for(policy_net, market, tmp_path / "honest")
    honest = run_step(agent, svc, 8)
    assert rex.fault(honest.raw) is None


@needs_bwrap
def test_hostile_records_are_refused_by_the_policy_reexecutor(market, svc, policy_net, enrolled, tmp_path):
    from offchain.chain.task_mailbox import TaskParams, Web3TaskMailbox

    w, _ = market
    _, res = policy_step(market, svc, policy_net, tmp_path, 9)
    rec, task = res.record, res.record.policy
    rex = policy_reexecutor(policy_net, enrolled)
    # records that do not parse, or have no policy task
    assert b'"version":3' in res.raw  # a record of version 2 (no feed proof) is refused
    for raw in (b"", b"not json", b"[]", res.raw[:-1], res.raw.replace(b'"version":3', b'"version":2')):
        with pytest.raises(E.RecordError):
            rex.fault(raw)
    with pytest.raises(E.RecordError, match="no policy task"):
        rex.fault(replace(rec, policy=None).to_json())
    # a task of another type or mailbox than the agent declared
    with pytest.raises(E.PolicyTaskError, match="declared mailbox and task type"):
        rex.fault(replace(rec, policy=replace(task, task_type=task.task_type + 1)).to_json())
    with pytest.raises(E.PolicyTaskError, match="declared mailbox and task type"):
        rex.fault(replace(rec, policy=replace(task, mailbox=w.addresses["seller"])).to_json())
    # a task not on chain, or posted and never certified
    with pytest.raises(E.PolicyTaskUnknownError, match=r"not certified on chain \(status NONE\)"):
        rex.fault(replace(rec, policy=replace(task, task_hash=keccak(b"no such task"))).to_json())
    payer = Account.from_key(w.keys["payer"])
    fee = Web3TaskMailbox(policy_net.d).contract.functions.taskTypes(task.task_type).call()[4]
    pending = Web3TaskMailbox(policy_net.d).create_task(
        payer, TaskParams(payer.address, task.task_type, fee, b"never answered")
    )
    with pytest.raises(E.PolicyTaskUnknownError, match=r"status CREATED"):
        rex.fault(replace(rec, policy=replace(task, task_hash=pending)).to_json())
    # another image than the registered one: named by the record, or declared by the agent
    with pytest.raises(E.PolicyImageMismatchError):
        rex.fault(replace(rec, policy=replace(task, image_digest=keccak(b"another image"))).to_json())
    with pytest.raises(E.PolicyImageMismatchError, match="the agent declared"):
        policy_reexecutor(policy_net, enrolled, image=keccak(b"another image")).fault(res.raw)
    assert rex.fault(res.raw) is None


# ---------------------------------------------------------------- the policy fee, through VerifiedEscrow

FEE_WINDOW_S = 2  # the escrow's window after a policy task's confirmation


@needs_bwrap
def test_the_records_wallet_must_be_an_enclave_of_the_declared_image(market, svc, policy_net, tmp_path):
    """check_agent_enclave: the record's wallet must be an enclave key enrolled on ComputeAVS for the
    declared app and image, not revoked, at the blocks the step acted in. A key enrolled only after
    the step, another declared image or app, and a key revoked before the step are each named."""
    from eth_keys import keys

    from offchain.compute.devtee import DevTEE, dev_policy

    w, _ = market
    cw, image = policy_net.cw, policy_net.image
    declared = AgentImage(cw.avs.address, cw.app_id, image)
    _, before = policy_step(market, svc, policy_net, tmp_path / "a", 0)
    assert before.record.policy is not None and before.record.trade is not None
    (problem,) = check_agent_enclave(w.w3, before.record, declared)
    assert "is not an enrolled enclave key at block" in problem
    # the agent's key becomes an enclave key of the image (the compute set verified its evidence)
    tee = DevTEE(cw.ca, image, enclave_key=keys.PrivateKey(bytes(Account.from_key(w.keys["payer"]).key)))
    cw.enrol(tee, op_index=2, st=cw.statement(tee, 2, image=image, policy=dev_policy(cw.ca, image)))
    # enrolled after the step: the step's blocks still say it was not
    assert "is not an enrolled enclave key" in check_agent_enclave(w.w3, before.record, declared)[0]
    _, after = policy_step(market, svc, policy_net, tmp_path / "b", 1)
    assert check_agent_enclave(w.w3, after.record, declared) == []
    for other in (replace(declared, image=keccak(b"another image")), replace(declared, app_id=bytes(32))):
        (problem,) = check_agent_enclave(w.w3, after.record, other)
        assert "not the declared app and image" in problem
    bad = replace(after.record, agent={**after.record.agent, "wallet": "0x12"})
    assert "cannot be checked" in check_agent_enclave(w.w3, bad, declared)[0]
    cw.avs.revokeEnclaveKey(tee.address, sender=cw.app_owner)
    assert check_agent_enclave(w.w3, after.record, declared) == []  # revoked after it: the step stands
    _, revoked = policy_step(market, svc, policy_net, tmp_path / "c", 2)
    assert "was revoked at block" in check_agent_enclave(w.w3, revoked.record, declared)[0]


@pytest.fixture(scope="module")
def fee_world(project, accounts, market, policy_net):
    """A zero-fee policy task type on the policy mailbox, a VerifiedEscrow over that mailbox (a
    window of FEE_WINDOW_S), the executor set's payee (funded with gas: its keeper sends the
    confirmations and releases) and the executors' gate."""
    from types import SimpleNamespace

    from offchain.agent.taskfee import EscrowFeeGate
    from offchain.chain.agent import Escrow
    from offchain.chain.deploy import deploy_verified_escrow
    from offchain.chain.task_mailbox import CERT_ECDSA
    from tests.contracts.test_task_mailbox import TIMEOUT

    w, _ = market
    net = policy_net
    free = net.mailbox.registerTaskType(
        net.set_id, net.image, w.token.address, 0, TIMEOUT, CERT_ECDSA, 6667, sender=net.app
    ).return_value
    escrow = deploy_verified_escrow(project, accounts[0], net.mailbox.address, task_window_s=FEE_WINDOW_S)
    payee = Account.from_key(keccak(b"trading test policy fee payee"))
    accounts[0].transfer(payee.address, 10**18)
    handle = Escrow(w.w3, escrow.address, load_abis()["VerifiedEscrow"])
    gate = EscrowFeeGate(
        handle, net.mailbox.address, frozenset({free}), w.token.address, payee.address, PRICE
    )
    return SimpleNamespace(type=free, escrow=handle, payee=payee, gate=gate)


def policy_fee(w, fw, **kw):
    from offchain.agent.taskfee import TaskFee

    terms = {"payee": fw.payee.address, "amount": PRICE, **kw}
    return TaskFee(fw.escrow, w.token.address, w.token.name, **terms)


def fee_keeper(fw):
    from offchain.agent.keeper import Keeper
    from offchain.chain.agent import Sender

    abis = load_abis()
    return Keeper(fw.escrow, Sender(fw.escrow.w3, fw.payee.key), abis["TaskMailbox"], [])


def wait_past(chain, end):
    """Mine until the chain's head is past `end` (unix seconds): the window runs on the chain's clock."""
    import time

    while chain.blocks.head.timestamp <= end:
        time.sleep(0.3)
        chain.mine(1)


@needs_bwrap
def test_the_policy_fee_is_held_in_escrow_and_released_after_the_window(
    market, svc, policy_net, fee_world, tmp_path, chain, accounts, project
):
    """The agent posts its policy task on the zero-fee type and deposits the fee into VerifiedEscrow
    bound to the task; the executors answer only once it is held for their payee; the certifiers are
    owed nothing by the mailbox; the payee's keeper confirms and, after the window, releases it."""
    from offchain.chain.task_mailbox import TaskParams, Web3TaskMailbox
    from offchain.compute.taskrun import Task

    w, c = market
    fw = fee_world
    usdc = c["usdc"].functions
    mailbox = Web3TaskMailbox(policy_net.d)
    owed = [policy_net.mailbox.feesOwed(op, w.token.address) for op in policy_net.ops]
    agent = agent_for(market)
    agent.policy = policy_for(
        policy_net, market, tmp_path / "paid", task_type=fw.type, fee=policy_fee(w, fw), admit=fw.gate
    )
    wallet0, payee0 = usdc.balanceOf(agent.wallet).call(), usdc.balanceOf(fw.payee.address).call()
    res = run_step(agent, svc, 10)
    task = res.record.policy
    assert task.task_type == fw.type and len(task.signers) >= 2
    (eid,) = agent.policy.fees.values()
    assert agent.policy.fees == {task.task_hash: eid}
    rec = fw.escrow.get(eid)
    assert (rec.state, rec.kind, rec.ref, rec.payee, rec.payer, rec.amount, rec.expected_result) == (
        "held",
        1,
        task.task_hash,
        fw.payee.address,
        agent.wallet,
        PRICE,
        bytes(32),
    )
    o = res.record.order
    traded = o.amount_in if o.action == "BUY" else 0
    assert usdc.balanceOf(agent.wallet).call() == wallet0 - 2 * PRICE - traded  # the feed, the fee, the trade
    assert usdc.balanceOf(fw.escrow.address).call() == PRICE
    assert mailbox.info(task.task_hash).fee == 0
    assert [policy_net.mailbox.feesOwed(op, w.token.address) for op in policy_net.ops] == owed

    keeper = fee_keeper(fw)
    steps = keeper.run([eid])
    assert [s.action for s in steps] == ["confirm", "waiting"] and steps[1].reason.endswith(
        "challenge window open"
    )
    wait_past(chain, fw.escrow.get(eid).window_end)
    assert keeper.step(eid).action == "release"
    assert usdc.balanceOf(fw.payee.address).call() == payee0 + PRICE
    assert keeper.step(eid).action == "settled"

    # a task posted without its fee is held back by the executors until it is paid
    payer = Account.from_key(w.keys["payer"])
    payload = policy_input(
        STRATEGY, res.record.feed, res.record.receipt.digest(), res.completion_text
    ).encode()
    h = mailbox.create_task(payer, TaskParams(payer.address, fw.type, 0, payload))
    pn = agent.policy
    pn.drive(h)
    assert mailbox.status(h) == "CREATED"
    assert all(h in ex.held and ex.failures[-1].kind == "TaskNotAdmitted" for ex in pn.executors)
    ev = next(t for t in mailbox.tasks_created(0, mailbox.head()) if t.task_hash == h)
    assert isinstance(ev, Task) and "no fee for task" in fw.gate(ev)
    # deposits that do not pay for it: another payee, too little, an expected result, a near deadline
    now = int(w.w3.eth.get_block("pending")["timestamp"])
    for fee, expected, why in (
        (policy_fee(w, fw, payee=w.addresses["seller"]), None, "no fee for task"),
        (policy_fee(w, fw, amount=PRICE - 1), None, "holds"),
        (policy_fee(w, fw), keccak(b"4"), "expected result"),
        (policy_fee(w, fw, deadline_s=10), None, "refundable at"),
    ):
        args, bad = fee.deposit_args(payer.key, payer.address, h, now)
        if expected is not None:  # re-signed with an expected result
            ca = chain_agent
            nonce = ca.escrow_nonce(fee.payee, 1, h, expected, args[9], args[10])
            auth = ca.Authorization(payer.address, fw.escrow.address, PRICE, args[3], args[4], nonce)
            data = ca.authorization_data(
                ca.RECEIVE_WITH_AUTHORIZATION, w.token.name, chain.chain_id, w.token.address, auth
            )
            args[8], args[11] = expected, ca.sign(payer.key, data)
            bad = ca.escrow_id(w.token.address, payer.address, nonce)
        project.VerifiedEscrow.at(fw.escrow.address).deposit(*args, sender=accounts[0])
        assert fw.escrow.get(bad).state == "held"
        assert why in fw.gate(ev)
    pn.drive(h)
    assert mailbox.status(h) == "CREATED"
    eid2 = policy_fee(w, fw).pay(policy_net.d, payer, h)
    assert fw.gate(ev) is None
    pn.drive(h)  # asked again: now answered and certified
    assert mailbox.status(h) == "VERIFIED" and all(h not in ex.held for ex in pn.executors)
    assert fw.escrow.get(eid2).state == "held"


@needs_bwrap
def test_the_fee_of_a_proven_wrong_policy_output_is_refunded(
    market, svc, policy_net, enrolled, fee_world, tmp_path, chain, accounts
):
    """Two executors certify a flipped order for a paid task; the agent refuses it; the re-executor
    proves it wrong; the fee waits while the slash may be cancelled and is refunded to the agent once
    it is final; the payee is never paid. Refusals: a mailbox-fee type with an escrow fee (paid
    twice), malformed fee terms, a gate over an escrow of another mailbox."""
    from offchain.agent.taskfee import EscrowFeeGate
    from tests.contracts.support import ESCROW_BLOCKS

    w, c = market
    fw = fee_world
    usdc = c["usdc"].functions
    agent = agent_for(market)
    lie = tampered_policy(STRATEGY)
    agent.policy = policy_for(
        policy_net, market, tmp_path / "lie", run_by={0: lie, 1: lie}, prove_faults=False, task_type=fw.type,
        fee=policy_fee(w, fw), admit=fw.gate,
    )  # fmt: skip
    with pytest.raises(E.PolicyRefusedError, match="where the policy gives") as refused:
        run_step(agent, svc, 11)
    res = refused.value.result
    eid = agent.policy.fees[res.record.policy.task_hash]
    keeper = fee_keeper(fw)
    assert keeper.step(eid).action == "confirm"  # the payee's keeper opens the window at once
    prover = Account.from_key(keccak(b"trading test policy fee prover"))
    accounts[0].transfer(prover.address, 10**18)
    rex = replace(policy_reexecutor(policy_net, enrolled, account=prover), task_type=fw.type)
    rex.prove(rex.fault(res.raw))
    wait_past(chain, fw.escrow.get(eid).window_end)  # only the slash's fate holds it now
    wallet, payee = usdc.balanceOf(agent.wallet).call(), usdc.balanceOf(fw.payee.address).call()
    step = keeper.step(eid)
    assert step.action == "waiting" and "slash pending" in step.reason
    chain.mine(ESCROW_BLOCKS + 1)  # the resolver's time to cancel the slash is over: final
    assert keeper.step(eid).action == "refund"
    assert usdc.balanceOf(agent.wallet).call() == wallet + PRICE
    assert usdc.balanceOf(fw.payee.address).call() == payee
    assert fw.escrow.get(eid).state == "refunded"

    # refused before anything is posted: the mailbox-fee type with the fee in escrow as well
    count = policy_net.mailbox.taskCount()
    agent.policy = policy_for(policy_net, market, tmp_path / "twice", fee=policy_fee(w, fw))
    with pytest.raises(E.TaskFeeError, match="paid twice"):
        run_step(agent, svc, 12)
    assert policy_net.mailbox.taskCount() == count
    for bad, match in (
        ({"payee": "0x" + "00" * 20}, "zero address"),
        ({"payee": "nobody"}, "no address"),
        ({"amount": 0}, "positive amount"),
        ({"deadline_s": 0}, "positive number of seconds"),
    ):
        with pytest.raises(E.TaskFeeError, match=match):
            policy_fee(w, fw, **bad)
    with pytest.raises(E.TaskFeeError, match="serves the mailbox"):
        EscrowFeeGate(
            fw.escrow, w.addresses["seller"], frozenset({fw.type}), w.token.address, fw.payee.address, 1
        )


@needs_bwrap
def test_a_step_trades_through_the_vault(market, svc, da, policy_net, fee_world, tmp_path, accounts, project):
    """With a vault, the policy task is posted by the vault (its creator; the fee an escrow deposit
    bound to the task, which the executors admit, paid by the vault from its fee budget) and the
    certified order is executed by the vault: the vault's tokens move, and the vault pays the feed
    too (an x402 exact payment from the vault, ERC-1271): the agent's wallet pays nothing. Re-executed
    from DA, the Swap must be the declared vault's, on the record's task; any other vault, or none,
    is a problem. The agent host cannot execute another order through the vault, and a step whose
    certified output is not the policy's is still refused with nothing moved."""
    from offchain.agent.client import PayingClient
    from offchain.agent.vault import AgentVault, VaultFeedWallet, VaultTerms
    from offchain.compute.trading_policy import Decision
    from scripts._demo.trading import tampered_decision

    w, c = market
    fw = fee_world
    usdc, asset = c["usdc"].functions, c["asset"].functions
    owner = Account.from_key(keccak(b"trading test vault owner"))
    accounts[0].transfer(owner.address, 10**18)
    project.StableToken.at(w.token.address).mint(owner.address, 100 * USDC_UNIT, sender=accounts[0])
    project.MockERC20.at(c["asset"].address).mint(owner.address, ASSET_UNIT, sender=accounts[0])
    agent = agent_for(market)
    terms = VaultTerms.for_strategy(
        STRATEGY, mailbox=policy_net.mailbox.address, task_type=fw.type, pool=c["amm"].address,
        agent=agent.wallet, max_task_age=100, min_trade_interval=0,
    )  # fmt: skip
    vault = AgentVault.deploy(w.w3, owner.key, terms)
    vault.deposit(owner.key, c["usdc"].address, 100 * USDC_UNIT)
    vault.deposit(owner.key, c["asset"].address, ASSET_UNIT)
    vault.set_fee_escrow(owner.key, fw.escrow.address, fw.payee.address, PRICE, 3600)
    vault.set_fee_budget(owner.key, 10 * PRICE)
    vault.set_feed_terms(owner.key, w.token.address, PRICE)
    vault.set_feed_payee(owner.key, w.addresses["seller"])
    vault.set_feed_budget(owner.key, 10 * PRICE)
    agent.payer = PayingClient(
        agent.key, w.w3.eth.chain_id, w.token.address, 10 * PRICE, http=agent.payer.http,
        wallet=VaultFeedWallet(vault, agent.key), clock=w.clock,
    )  # fmt: skip
    # (signed against the chain's clock, as every client here: each snapshot revert sets anvil's clock back)
    pn = policy_for(
        policy_net, market, tmp_path / "vault", task_type=fw.type, fee=policy_fee(w, fw), admit=fw.gate
    )
    pn.vault = vault
    agent.policy = pn
    wallet0 = (usdc.balanceOf(agent.wallet).call(), asset.balanceOf(agent.wallet).call())
    v0 = vault.state()

    def forged(p):  # a full-size order, so that the step trades whatever the tiny model answers
        return tampered_decision(svc, infer_with(svc, OPERATOR_KEY, STRATEGY, agent.client, p), OPERATOR_KEY)

    res = agent.step(11, forged, lambda r: receipt_text(svc, r))
    rec, task = res.record, res.record.policy
    o = rec.order
    assert o.action in ("BUY", "SELL") and rec.agent["vault"] == vault.address
    assert (
        w.w3.eth.contract(address=policy_net.mailbox.address, abi=load_abis()["TaskMailbox"])
        .functions.getTaskInfo(task.task_hash)
        .call()[0]
        == vault.address
    )  # the task's creator
    held = fw.escrow.get(agent.policy.fees[task.task_hash])
    assert (held.ref, held.payer) == (task.task_hash, vault.address)  # the fee, bound to it, the vault's
    assert rec.payment["payee"] == w.addresses["seller"]
    v1 = vault.state()
    out = int(rec.trade["amount_out"])
    costs = 2 * PRICE  # the feed and the policy fee, from the vault's budgets
    assert (v0.fee_budget - v1.fee_budget, v0.feed_budget - v1.feed_budget) == (PRICE, PRICE)
    if o.action == "BUY":
        assert (v0.balance0 - v1.balance0, v1.balance1 - v0.balance1) == (o.amount_in + costs, out)
    else:
        assert (v0.balance1 - v1.balance1, v1.balance0 - v0.balance0) == (o.amount_in, out - costs)
    assert vault.executed(task.task_hash)
    # the wallet paid nothing and traded nothing
    assert (usdc.balanceOf(agent.wallet).call(), asset.balanceOf(agent.wallet).call()) == wallet0

    # re-executed from DA: the trade is the declared vault's execution of the record's task
    cert = da.put(res.raw)
    seller = w.addresses["seller"]
    check = reexecute_step(cert, da, svc, seller, STRATEGY.hash(), w.w3, c["amm"], vault=vault.address)
    assert "the trade on chain is not the order" not in check.problems
    assert not [p for p in check.problems if "vault" in p]
    undeclared = reexecute_step(cert, da, svc, seller, STRATEGY.hash(), w.w3, c["amm"])
    assert any("is not the agent's declared vault None" in p for p in undeclared.problems)
    other = reexecute_step(cert, da, svc, seller, STRATEGY.hash(), w.w3, c["amm"], vault=agent.wallet)
    assert any("is not the agent's declared vault" in p for p in other.problems)
    # a record naming no vault, checked against the declared one: the wallet did not swap
    raw = StepRecord.from_json(res.raw)
    plain = replace(raw, agent={k: v for k, v in raw.agent.items() if k != "vault"})
    from offchain.agent.trading import _check_trade

    assert _check_trade(w.w3, c["amm"], plain, vault.address)[0].startswith("the record's vault None")
    assert _check_trade(
        w.w3, c["amm"], replace(raw, policy=replace(task, task_hash=bytes(32))), vault.address
    ) == ["the vault's trade is not the execution of the step's certified policy task"]

    # the agent host tries another order for the task (a full-size BUY): the vault refuses it
    payload = policy_input(STRATEGY, rec.feed, rec.receipt.digest(), res.completion_text).encode()
    other_order = Decision("BUY", STRATEGY.max_buy_usdc, 1, "host").encode(keccak(payload))
    with pytest.raises(E.VaultRefusedError, match="task already executed"):
        vault.execute(agent.key, task.task_hash, payload, other_order)

    # a step whose certified output is not the policy's: refused by the agent, nothing moves
    lie = tampered_policy(STRATEGY)
    pn2 = policy_for(
        policy_net, market, tmp_path / "vault-lie", run_by={0: lie, 1: lie}, task_type=fw.type,
        fee=policy_fee(w, fw), admit=fw.gate, prove_faults=False,
    )  # fmt: skip
    pn2.vault = vault
    agent.policy = pn2
    with pytest.raises(E.PolicyRefusedError) as refused:
        run_step(agent, svc, 12)
    bad = refused.value.result.record
    assert bad.trade is None and not vault.executed(bad.policy.task_hash)
    v2 = vault.state()
    assert (v2.balance0, v2.balance1) == (v1.balance0 - 2 * PRICE, v1.balance1)  # its feed and fee only
    # the host can still not execute an uncertified order of that task (nor of one never posted)
    bad_payload = policy_input(
        STRATEGY, bad.feed, bad.receipt.digest(), refused.value.result.completion_text
    ).encode()
    with pytest.raises(E.VaultRefusedError, match="result not the task's"):
        vault.execute(
            agent.key,
            bad.policy.task_hash,
            bad_payload,
            Decision("BUY", 1, 1, "host").encode(keccak(bad_payload)),
        )
    with pytest.raises(E.VaultRefusedError, match="task not the vault's"):
        vault.execute(
            agent.key,
            keccak(b"no task"),
            bad_payload,
            Decision("BUY", 1, 1, "host").encode(keccak(bad_payload)),
        )
    # a fee the vault would not pay as named (above its cap, another payee) is refused before posting
    for kw, match in (
        ({"amount": PRICE + 1}, "exceeds the vault's cap"),
        ({"payee": owner.address}, "fee payee"),
    ):
        pn2.fee = policy_fee(w, fw, **kw)
        with pytest.raises(E.TaskFeeError, match=match):
            pn2.run(bad_payload)
    # a vault of another task type is refused before anything is posted
    pn2.task_type = policy_net.policy_type
    with pytest.raises(E.PolicyTaskError, match="posts tasks of type"):
        pn2.run(bad_payload)
