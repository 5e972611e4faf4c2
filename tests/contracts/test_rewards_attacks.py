"""Profit attacks on the rewards contracts, each reproduced on anvil (docs/rewards.md, "Attacks").

A cancelled slash rewrites the DelegationManager's share histories from the slash's block on
(`undoSlash`, docs/restaking.md): a distribution whose snapshot falls after a slash that is
cancelled once the distribution exists sees its stakers' weights grow after its split was fixed.
Before the fix the stakers of the slashed operator claimed their grown weight against the weight
stored at creation, more than their operator's pool, and the last claimers of *other* operators
were refused ("distribution escrow exceeded"): one operator's slash-and-cancel took another's
stakers' rewards. Now claims through an operator never exceed its pool, and a staker's part is its
weight over its operator's weight read from the same (rewritten) history.
"""

from __future__ import annotations

import pytest

from tests.contracts.support import NO_SIG, SALT0, mine_to
from tests.contracts.test_rewards import RewardsWorld

WAD = 10**18
R_SET = 1


@pytest.fixture(scope="module")
def cancel_world(project, chain, accounts, deployment):
    """Set 1 of `avs` (strategy TKA) with `op` as its slash resolver; operators `op` and `op2`, each
    with its own stake and one staker; `op` allocates half its TKA to the set."""
    rw = RewardsWorld(project, chain, accounts, deployment)
    tw = rw.tw
    tw.create_sets(ids=(R_SET,), syms=("TKA",), resolver=tw.op)
    for op, staker in ((tw.op, tw.staker), (tw.op2, tw.staker2)):
        tw.register_operator(op)
        tw.register_for_sets(op, ids=(R_SET,))
        for who, amount in ((op, 300 * WAD), (staker, 700 * WAD)):
            tw.deposit(who, "TKA", amount)
        tw.dm.delegateTo(op, NO_SIG, SALT0, sender=staker)
    tw.allocate(tw.op, R_SET, {"TKA": WAD // 2})
    mine_to(tw, chain.blocks.head.number + 2)
    return rw


def test_a_cancelled_slash_cannot_take_another_operators_rewards(cancel_world, chain):
    rw = cancel_world
    tw, rd = rw.tw, rw.rd
    sa = tw.strats["TKA"]
    snap = chain.snapshot()
    try:
        tw.slash(tw.op, R_SET, {"TKA": WAD})  # half of op's stake: its allocation to the set
        chain.mine()
        snapshot = chain.blocks.head.number
        chain.mine()
        reward = rw.tokens["TKB"]
        amount = 1_000 * WAD
        reward.mint(tw.avs, amount, sender=tw.avs)
        reward.approve(rd, amount, sender=tw.avs)
        rd.createOperatorSetDistribution(
            (tw.avs.address, R_SET), reward, amount, snapshot, [(sa.address, WAD)], sender=tw.avs
        )
        did = rd.distributionCount() - 1
        pools = {op: rd.stakersPool(did, op) for op in (tw.op, tw.op2)}
        # the resolver cancels the slash: op's history at the snapshot is as if it never happened
        tw.esc.cancelSlash(tw.avs, R_SET, 1, sender=tw.op)
        chain.mine()
        paid = {}
        for op, staker in ((tw.op, tw.staker), (tw.op2, tw.staker2)):
            for earner in (staker, op):
                before = reward.balanceOf(earner)
                rd.claim(earner, [(did, op)], earner, sender=earner)
                paid[(earner, op)] = reward.balanceOf(earner) - before
        for op, staker in ((tw.op, tw.staker), (tw.op2, tw.staker2)):
            stakers_part = paid[(staker, op)] + paid[(op, op)] - rd.operatorCommission(did, op)
            assert stakers_part <= pools[op]
            # each staker keeps its share of its own operator's pool (700 of 1000 shares)
            assert paid[(staker, op)] == pools[op] * 7 // 10 or paid[(staker, op)] == pools[op] * 7 // 10 - 1
        assert sum(paid.values()) <= rd.getDistribution(did).amount
    finally:
        chain.restore(snap)
