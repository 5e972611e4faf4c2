"""Demo step for rewards, fees and the buyback (contracts/rewards; docs/rewards.md).

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py after the other steps: it deploys the rewards
component (FeeVault, RewardsCoordinator, RewardsDistributor, BuybackAuction) over the demo's core and
token, and the AVS whose set 1 operators A and B served pays them for the block just mined: 1,000 service
tokens distributed fully on-chain by the delegated stake of each operator and staker at that block (no
root, no updater), the operators' 10 % commission first. The AVS opted in to the protocol fee, so 20 % of
the amount goes to the fee vault, where the cloud's fees collect. Every earner's amount is read from the
contract and claimed. The cloud's service fees reach the same vault (ELIP-12), in the same token: the
compute step's app (Carol's word counter) posts a task to the TaskMailbox, whose executor set (operators A
and B) certifies the result; of its fee the mailbox's fee split goes to the vault and the rest pays the two
signers; and an inference client pays operator A per generated token over x402 ``upto``, the settler
taking the inference fee into the vault. The DA step's on-demand payment, claimed by the disperser in the
PaymentVault, is swept into the same vault as WETH (the PaymentVault wired to it by its governance, the
sweep by anyone). Then anyone starts the vault's buyback: a descending-price auction of each fee token for
EIGEN, searched from above (a ceiling falling steeply until the token's first sale, restarting lower if
nothing fills); a market maker fills each once the price falls to what it is willing to pay, and the EIGEN
it paid is burned (the EIGEN supply falls by exactly that).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ape import accounts, chain, project
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.agent.evm import EvmFacilitator, create_payment
from offchain.chain.agent import Settler, StableToken
from offchain.chain.deploy import (
    TaskMailboxConfig,
    deploy_rewards,
    deploy_task_mailbox,
    load_rewards_config,
    wad_pow,
    wire_fees,
)
from offchain.chain.sdk import load_abis
from offchain.chain.task_mailbox import CERT_ECDSA, TaskParams, certificate_digest, ecdsa_certificate
from scripts._demo import compute as demo_compute
from scripts._demo import da as demo_da
from scripts._demo.common import bls_keys, event, fmt, join_set

AMOUNT = 1_000 * WAD
SET = 1
MARKET_PRICE = 9 * WAD // 10  # the market maker pays at most 0.9 EIGEN per service token
TASK_FEE = 50 * WAD  # a word-count task on the compute network
TOKEN_PRICE = WAD // 100  # inference: 0.01 sUSD a generated token ...
MAX_TOKENS = 1_000  # ... authorized for up to 1,000 tokens
GENERATED = 640  # ... of which the answer took 640
WETH_MARKET_PRICE = 2_000 * WAD  # the market maker pays at most 2,000 EIGEN per WETH


def run(demo: Any) -> dict[str, Any]:
    d = demo.d
    if d.eigen is None:  # the token step deploys EIGEN when the world lacks it
        from scripts._demo import token

        token.run(demo)
    cfg = load_rewards_config("local")
    r = deploy_rewards(project, demo.deployer, d, cfg)
    avs = demo.avs
    # the service fee token: an EIP-3009 stablecoin (x402 pays with it), minted by the deployer
    fee_token = demo.deployer.deploy(project.StableToken, "Service fee USD", "sUSD", demo.deployer)
    print(f"\n=== Rewards and the buyback (block {chain.blocks.head.number})")
    print(
        f"RewardsDistributor {r.distributor.address}, FeeVault {r.fee_vault.address}, BuybackAuction {r.buyback.address}"
    )

    r.coordinator.setOptInForProtocolFee(avs, True, sender=avs)
    snapshot = chain.blocks.head.number
    chain.mine(1)
    strategies = demo.sorted_strats()
    fee_token.mint(avs, AMOUNT, sender=demo.deployer)
    fee_token.approve(r.distributor, AMOUNT, sender=avs)
    receipt = r.distributor.createOperatorSetDistribution(
        (avs, SET), fee_token, AMOUNT, snapshot, [(s, WAD) for s in strategies], sender=avs
    )
    did = event(receipt, "OperatorSetDistributionCreated").distributionId
    to_vault = r.fee_vault.balanceOf(fee_token)
    print(
        f"The AVS paid set {SET}'s operators {fmt(AMOUNT)} sUSD for block {snapshot}, split on-chain by delegated "
        f"stake at that block; {fmt(to_vault)} sUSD (the 20% protocol fee it opted in to) went to the fee vault."
    )
    earners = [(demo.op_a, demo.op_a), (demo.carol, demo.op_a), (demo.dave, demo.op_a)]
    earners += [(demo.op_b, demo.op_b), (demo.erin, demo.op_b)]
    paid = {}
    print(f"{'earner':24}{'via':>14}{'claimable':>16}{'claimed':>16}")
    for earner, op in earners:
        due = r.distributor.claimable(did, earner, op)
        before = fee_token.balanceOf(earner)
        r.distributor.claim(earner, [(did, op)], earner, sender=earner)
        paid[demo.names[earner.address]] = got = fee_token.balanceOf(earner) - before
        assert got == due and r.distributor.claimable(did, earner, op) == 0
        print(f"{demo.names[earner.address]:24}{demo.names[op.address]:>14}{fmt(due):>16}{fmt(got):>16}")
    left = fee_token.balanceOf(r.distributor)
    assert sum(paid.values()) + left + to_vault == AMOUNT
    print(f"Claimed {fmt(sum(paid.values()))}; rounding left {left} wei in the distribution's escrow.")

    task_fee, task_paid = _compute_task_fee(demo, r, fee_token, cfg)
    inference_fee, inference_paid = _inference_fee(demo, r, fee_token, cfg)
    weth, da_fee = _da_fee(demo, r, cfg)
    in_vault = r.fee_vault.balanceOf(fee_token)
    assert in_vault == to_vault + task_fee + inference_fee == fee_token.balanceOf(r.fee_vault)
    print(
        f"The fee vault holds {fmt(in_vault)} sUSD before the buyback: {fmt(to_vault)} protocol fee on rewards, "
        f"{fmt(task_fee)} compute task fees, {fmt(inference_fee)} inference fees; and {da_fee:,} wei of WETH, "
        f"the DA fee."
    )

    buyer = demo.deployer  # a market maker holding EIGEN
    supply = d.eigen.totalSupply()
    bb = r.buyback
    print(
        f"\nCarol starts the buyback of the vault's sUSD: a token's first auctions search its price from above, "
        f"from {fmt(bb.INITIAL_REFERENCE_PRICE() * bb.START_FACTOR_WAD() // WAD)} EIGEN a token falling "
        f"{(WAD - bb.DISCOVERY_DECAY_WAD()) * 100 / WAD:g}% every {bb.STEP_SECONDS()} s (an unfilled one restarts "
        f"lower after {bb.AUCTION_PERIOD()} s); once a token has sold, from 1.5x its last price falling "
        f"{(WAD - bb.DECAY_WAD()) * 100 / WAD:g}% a step."
    )
    sale = _buy_back(demo, r, fee_token, MARKET_PRICE, buyer)
    lot, price, burned_amount = sale["lot"], sale["price"], sale["eigen_paid"]
    after = d.eigen.totalSupply()
    print(
        f"{sale['auctions']} auction(s), {sale['waited']} s: the price reached {fmt(price)} EIGEN per sUSD, at or "
        f"under the market maker's 0.9: it bought the {fmt(lot)} sUSD for {fmt(burned_amount)} EIGEN, burned in the "
        f"same transaction: EIGEN supply {fmt(supply)} -> {fmt(after)}."
    )
    weth_sale = _weth_buyback(demo, r, weth, buyer)
    return {
        "distribution": did,
        "paid": paid,
        "protocol_fee": to_vault,
        "task_fee": task_fee,
        "task_paid": task_paid,
        "inference_fee": inference_fee,
        "inference_paid": inference_paid,
        "lot": lot,
        "clearing_price": price,
        "eigen_burned": supply - after,
        "eigen_paid": burned_amount,
        "da_fee": da_fee,
        **weth_sale,
    }


def _da_fee(demo: Any, r: Any, cfg: Any) -> tuple[Any, int]:
    """The DA step's on-demand payment, claimed in the PaymentVault by the disperser, swept into the fee vault
    as WETH: the PaymentVault's governance (the DA devnet's funder, impersonated on this local chain) names
    the vault and WETH9, and anyone sweeps. Returns (WETH9, the wei swept into the vault)."""
    da = demo.results[demo_da.__name__]
    pv = project.PaymentVault.at(da["payment_vault"])
    weth = demo.deployer.deploy(project.WETH9)
    governance = accounts[demo_da.funder().address]
    wire_fees(governance, r.fee_vault.address, cfg, payment_vault=pv, weth=weth.address)
    due = pv.totalConsumed() - pv.totalSwept()
    swept = event(pv.sweep(sender=demo.erin), "FeesSwept")
    assert due == da["on_demand"]["consumed"] == swept.toFeeVault + swept.toOperators > 0
    assert r.fee_vault.balanceOf(weth) == swept.toFeeVault == weth.balanceOf(r.fee_vault)
    print(
        f"DA: the on-demand blob's {due:,} wei, claimed in the PaymentVault {pv.address} by the disperser, swept by "
        f"Erin (anyone may): {swept.toOperators:,} wei to the operators (operatorFeeBips {pv.operatorFeeBips()}), "
        f"{swept.toFeeVault:,} wei wrapped as WETH into the fee vault."
    )
    return weth, swept.toFeeVault


def _weth_buyback(demo: Any, r: Any, weth: Any, buyer: Any) -> dict[str, int]:
    """The vault's WETH in its own auction (one per fee token), filled by the market maker at the current price
    when that is at most what it values WETH at. Returns the WETH sale's figures."""
    supply = demo.d.eigen.totalSupply()
    sale = _buy_back(demo, r, weth, WETH_MARKET_PRICE, buyer)
    after = demo.d.eigen.totalSupply()
    print(
        f"Carol started the WETH auction too, searched from above the same way: after {sale['auctions']} "
        f"auction(s), {sale['waited']} s, the price reached {fmt(sale['price'])} EIGEN per WETH and the market "
        f"maker, valuing WETH at {fmt(WETH_MARKET_PRICE)} EIGEN, bought the {sale['lot']:,} wei of WETH for "
        f"{sale['eigen_paid']:,} wei of EIGEN, burned: supply {fmt(supply)} -> {fmt(after)} "
        f"({supply - after:,} wei less)."
    )
    return {"weth_lot": sale["lot"], "weth_price": sale["price"], "weth_eigen_paid": sale["eigen_paid"],
            "weth_eigen_burned": supply - after}  # fmt: skip


def _buy_back(demo: Any, r: Any, token: Any, market: int, buyer: Any) -> dict[str, int]:
    """Sell the vault's `token` by auction to a market maker that pays at most `market` (EIGEN wei per token
    wei x 1e18): anyone (Carol) starts an auction; the local chain's clock jumps to the first price step at or
    under the market, or to the period's end, where an unfilled auction is restarted lower. Returns the lot,
    the fill's price and EIGEN paid, the auctions run and the seconds waited."""
    bb, auctions, waited = r.buyback, 0, 0
    step, steps = bb.STEP_SECONDS(), bb.AUCTION_PERIOD() // bb.STEP_SECONDS()
    while True:
        start = event(bb.startAuction(token, sender=demo.carol), "AuctionStarted")
        auctions += 1
        a = bb.auctions(token)
        prices = (max(a.startPrice * wad_pow(a.decayWad, k) // WAD, 1) for k in range(steps + 1))
        k = next((k for k, p in enumerate(prices) if p <= market), None)
        chain.pending_timestamp = a.startTime + (steps if k is None else k) * step
        chain.mine(1)
        waited += (steps if k is None else k) * step
        if k is not None:
            break
    assert bb.currentPrice(token) <= market
    demo.d.eigen.approve(bb, start.lot * market // WAD + 1, sender=buyer)
    filled = event(bb.fill(token, start.lot, market, sender=buyer), "AuctionFilled")
    return {"lot": start.lot, "price": filled.price, "eigen_paid": filled.eigenPaid, "auctions": auctions,
            "waited": waited}  # fmt: skip


def _compute_task_fee(demo: Any, r: Any, fee_token: Any, cfg: Any) -> tuple[int, dict[str, int]]:
    """A task of the compute step's app on the TaskMailbox, certified by operators A and B: the fee
    split (cfg.task_fee_split_bips) is owed to the vault, the rest pays the signers by stake; the
    vault collects its part. Returns (the vault's part, each operator's)."""
    compute = demo.results[demo_compute.__name__]
    app_id, image = (
        keccak(b"demo app: word count"),
        keccak(b"demo image: wordcount v1.0.0"),
    )  # scripts/_demo/compute.py
    mailbox, _, registry = deploy_task_mailbox(
        project,
        demo.deployer,
        demo.d,
        compute["avs"],
        TaskMailboxConfig(bls_rotation_delay_blocks=10, bls_max_staleness_blocks=100),
    )
    wire_fees(demo.deployer, r.fee_vault.address, cfg, mailbox=mailbox)
    ops = [demo.op_a, demo.op_b]
    strategies = demo.sorted_strats()
    set_id = mailbox.createExecutorOperatorSet(
        app_id, strategies, demo.arbiter, demo.victim, 6667, sender=demo.carol
    ).return_value
    signing = {op.address: keys.PrivateKey(keccak(b"demo executor key " + op.address.encode())) for op in ops}
    bls = bls_keys(b"demo executor bls key ", ops)  # the mailbox's sets take BLS keys too
    join_set(
        demo, mailbox.address, set_id, ops, signing, 10 * WAD, allocation_delay=2, bls=bls, registry=registry
    )
    timeout = mailbox.MAX_TASK_TIMEOUT()
    task_type = mailbox.registerTaskType(
        set_id, image, fee_token, TASK_FEE, timeout, CERT_ECDSA, 6667, sender=demo.carol
    ).return_value
    fee_token.mint(demo.carol, TASK_FEE, sender=demo.deployer)
    fee_token.approve(mailbox, TASK_FEE, sender=demo.carol)
    params = TaskParams(
        demo.carol.address, task_type, TASK_FEE, b"the quick brown fox jumps over the lazy dog"
    )
    h = mailbox.createTask(params.as_tuple(), sender=demo.carol).return_value
    result = b"9"
    cert = ecdsa_certificate(certificate_digest(chain.chain_id, mailbox.address, h, result), signing.values())
    rc = mailbox.submitResult(h, cert, result, b"\x00" * 32, [], sender=demo.dave)
    paid = {
        demo.names[e.operator]: e.amount
        for e in rc.events
        if e.event_name == "FeePaid" and e.operator != r.fee_vault.address
    }
    for op in ops:
        mailbox.withdrawFees(fee_token, sender=op)
    owed = mailbox.feesOwed(r.fee_vault, fee_token)
    got = r.fee_vault.collect(mailbox, fee_token, sender=demo.erin).return_value
    assert got == owed == TASK_FEE * mailbox.feeSplit() // 10_000 and sum(paid.values()) + got == TASK_FEE
    print(
        f"\nCompute: Carol's app posted a word-count task to the TaskMailbox {mailbox.address} for {fmt(TASK_FEE)} sUSD; "
        f"operators A and B certified the result (ECDSA, {timeout}-block timeout). Of the fee, the {mailbox.feeSplit() / 100:g}% "
        f"fee split ({fmt(got)} sUSD) went to the fee vault (anyone collects it) and the signers were paid by stake: "
        + ", ".join(f"{k} {fmt(v)}" for k, v in paid.items())
        + " sUSD."
    )
    return got, paid


def _inference_fee(demo: Any, r: Any, fee_token: Any, cfg: Any) -> tuple[int, int]:
    """An x402 ``upto`` inference payment to operator A (per generated token) through the UptoSettler,
    wired to the vault: returns (the vault's fee, what operator A received)."""
    w3 = chain.provider.web3
    abis = load_abis()
    settler_c = demo.deployer.deploy(project.UptoSettler)
    wire_fees(demo.deployer, r.fee_vault.address, cfg, settler=settler_c)
    client_key, fac_key = keccak(b"demo inference client"), keccak(b"demo inference facilitator")
    client = Account.from_key(client_key).address
    demo.deployer.transfer(Account.from_key(fac_key).address, WAD)  # the facilitator's gas
    fee_token.mint(client, TOKEN_PRICE * MAX_TOKENS, sender=demo.deployer)
    fac = EvmFacilitator(
        w3,
        fac_key,
        [StableToken(w3, fee_token.address, abis["StableToken"])],
        Settler(w3, settler_c.address, abis["UptoSettler"]),
    )
    req = fac.requirements("upto", fee_token.address, demo.op_a.address, TOKEN_PRICE * MAX_TOKENS)
    payload = create_payment(client_key, req, now=w3.eth.get_block("pending")["timestamp"])
    before = fee_token.balanceOf(demo.op_a)
    charge = TOKEN_PRICE * GENERATED
    settled = fac.settle(payload, replace(req, amount=charge))  # the settle request names the charge
    received = fee_token.balanceOf(demo.op_a) - before
    fee = charge - received
    assert settled.success and settled.amount == charge and fee == settler_c.feeOf(charge) > 0
    assert fee_token.balanceOf(client) == TOKEN_PRICE * (MAX_TOKENS - GENERATED)
    vault, bips = fac.settler.fee_terms()
    assert vault == r.fee_vault.address != ZERO_ADDRESS
    print(
        f"Inference: a client authorized up to {fmt(TOKEN_PRICE * MAX_TOKENS)} sUSD (x402 upto, {fmt(TOKEN_PRICE)} a token) "
        f"for operator A's model; the answer took {GENERATED} tokens, so the facilitator settled {fmt(charge)} sUSD "
        f"(the PAYMENT-RESPONSE amount): {fmt(received)} to operator A, the {bips / 100:g}% inference fee "
        f"({fmt(fee)}) to the fee vault, the unused {fmt(TOKEN_PRICE * (MAX_TOKENS - GENERATED))} back to the client."
    )
    return fee, received
