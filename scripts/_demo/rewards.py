"""Demo step for rewards, fees and the buyback (contracts/rewards; docs/rewards.md).

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py after the other steps: it deploys the rewards
component (FeeVault, RewardsCoordinator, RewardsDistributor, BuybackAuction) over the demo's core and
token, and the AVS whose set 1 operators A and B served pays them for the block just mined: 1,000 service
tokens distributed fully on-chain by the delegated stake of each operator and staker at that block (no
root, no updater), the operators' 10 % commission first. The AVS opted in to the protocol fee, so 20 % of
the amount goes to the fee vault, where the cloud's fees collect. Every earner's amount is read from the
contract and claimed. Then anyone starts the vault's buyback: a descending-price auction of the fees for
EIGEN; a market maker fills it once the price falls to what it is willing to pay, and the EIGEN it paid is
burned (the EIGEN supply falls by exactly that).
"""

from __future__ import annotations

from typing import Any

from ape import chain, project

from offchain.abi import WAD
from offchain.chain.deploy import deploy_rewards, load_rewards_config
from scripts._demo.common import event, fmt

AMOUNT = 1_000 * WAD
SET = 1
MARKET_PRICE = 9 * WAD // 10  # the market maker pays at most 0.9 EIGEN per service token


def run(demo: Any) -> dict[str, Any]:
    d = demo.d
    if d.eigen is None:  # the token step deploys EIGEN when the world lacks it
        from scripts._demo import token

        token.run(demo)
    r = deploy_rewards(project, demo.deployer, d, load_rewards_config("local"))
    avs = demo.avs
    fee_token = demo.deployer.deploy(project.MockERC20, "Service fee USD", "sUSD")
    print(f"\n=== Rewards and the buyback (block {chain.blocks.head.number})")
    print(
        f"RewardsDistributor {r.distributor.address}, FeeVault {r.fee_vault.address}, BuybackAuction {r.buyback.address}"
    )

    r.coordinator.setOptInForProtocolFee(avs, True, sender=avs)
    snapshot = chain.blocks.head.number
    chain.mine(1)
    strategies = demo.sorted_strats()
    fee_token.mint(avs, AMOUNT, sender=avs)
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

    buyer = demo.deployer  # a market maker holding EIGEN
    supply = d.eigen.totalSupply()
    start = event(r.buyback.startAuction(fee_token, sender=demo.carol), "AuctionStarted")
    print(
        f"\nCarol started the buyback of {fmt(start.lot)} sUSD at {fmt(start.startPrice)} EIGEN per sUSD, "
        f"falling {(WAD - r.buyback.DECAY_WAD()) * 100 / WAD:g}% every {r.buyback.STEP_SECONDS()} s."
    )
    if r.buyback.floorPrice(fee_token) > MARKET_PRICE:  # the auction never falls that far (a config change)
        raise RuntimeError(
            f"the auction's floor {fmt(r.buyback.floorPrice(fee_token))} is above the market's price"
        )
    waited = 0
    while r.buyback.currentPrice(fee_token) > MARKET_PRICE:
        chain.pending_timestamp += r.buyback.STEP_SECONDS()
        waited += r.buyback.STEP_SECONDS()
        chain.mine(1)
    price = r.buyback.currentPrice(fee_token)
    d.eigen.approve(r.buyback, start.lot * MARKET_PRICE // WAD + 1, sender=buyer)
    filled = event(r.buyback.fill(fee_token, start.lot, MARKET_PRICE, sender=buyer), "AuctionFilled")
    price, burned_amount = filled.price, filled.eigenPaid
    after = d.eigen.totalSupply()
    print(
        f"After {waited} s the price was {fmt(price)} EIGEN per sUSD, at or under the market maker's 0.9: it bought the "
        f"lot for {fmt(burned_amount)} EIGEN, burned in the same transaction: EIGEN supply {fmt(supply)} -> "
        f"{fmt(after)}."
    )
    return {
        "distribution": did,
        "paid": paid,
        "protocol_fee": to_vault,
        "clearing_price": price,
        "eigen_burned": supply - after,
        "eigen_paid": burned_amount,
    }
