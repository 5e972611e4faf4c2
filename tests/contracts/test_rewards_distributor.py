"""On-chain distribution for small operator sets (contracts/rewards/RewardsDistributor.vy,
docs/rewards.md "On-chain distribution"): the split by delegated stake at a block, the operator's
split, stakers' claims from the DelegationManager's share histories; checked against the
sidecar's rules in offchain/rewards/calc.py (`operator_set_day`) over random stakes, splits,
multipliers and stake changes after the snapshot. Each Hypothesis example runs from a chain
snapshot and restores it."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from offchain import settings as eigen_settings
from offchain.rewards.calc import DEFAULT_SPLIT_BIPS, operator_set_day
from tests.contracts.support import NO_SIG, SALT0, ZERO, Batch, reverts
from tests.contracts.test_rewards import RewardsWorld

WAD = 10**18
SYMS = ("TKA", "TKB")
SET = 1


class DistWorld:
    """Three operators in set 1 of `avs` (strategies TKA, TKB), four stakers, the distributor."""

    def __init__(self, rw: RewardsWorld):
        self.rw, self.tw, self.rd, self.chain = rw, rw.tw, rw.rd, rw.chain
        tw = rw.tw
        self.ops = [tw.op, tw.op2, tw.resolver]
        self.stakers = [tw.staker, tw.staker2, tw.other, tw.recipient]
        tw.create_sets(ids=(SET,), syms=SYMS)
        for op in self.ops:
            tw.register_operator(op)
            tw.register_for_sets(op, ids=(SET,))
        for who in [*self.ops, *self.stakers]:
            for sym in SYMS:
                tw.tokens[sym].approve(tw.sm, 2**256 - 1, sender=who)
        self.opset = (tw.avs.address, SET)
        self.strats = {sym: tw.strats[sym] for sym in SYMS}
        self.reward = rw.tokens["TKB"]

    def sams(self, mults: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(((self.strats[s].address, m) for s, m in mults.items()), key=lambda x: int(x[0], 16))

    def deposit(self, who, sym, amount):
        self.tw.tokens[sym].mint(who, amount, sender=who)
        self.tw.sm.depositIntoStrategy(self.strats[sym], self.tw.tokens[sym], amount, sender=who)

    def distribute(self, amount, snapshot, mults):
        avs = self.tw.avs
        self.reward.mint(avs, amount, sender=avs)
        self.reward.approve(self.rd, amount, sender=avs)
        fn = self.rd.createOperatorSetDistribution
        return fn(self.opset, self.reward, amount, snapshot, self.sams(mults), sender=avs)

    def refused(self, reason, amount, snapshot, mults):
        """The creation is refused with `reason` (funded and approved: only the reason stops it)."""
        avs = self.tw.avs
        self.reward.mint(avs, amount, sender=avs)
        self.reward.approve(self.rd, amount, sender=avs)
        self.chain.mine()  # the snapshot is final in the eth_call's block
        fn = self.rd.createOperatorSetDistribution
        reverts(reason, fn, self.opset, self.reward, amount, snapshot, self.sams(mults), sender=avs)


@pytest.fixture(scope="module")
def dist(project, chain, accounts, deployment):
    return DistWorld(RewardsWorld(project, chain, accounts, deployment))


def _profile():
    n = 5 if eigen_settings.hypothesis_profile() == "ci" else 60
    base = settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    return base


amounts = st.integers(1, 10**24)


@_profile()
@given(
    deposits=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(SYMS), amounts), min_size=1, max_size=8),
    delegation=st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=4, max_size=4),
    splits=st.lists(st.one_of(st.none(), st.integers(0, 10_000)), min_size=3, max_size=3),
    mults=st.dictionaries(st.sampled_from(SYMS), st.integers(1, 2**96 - 1), min_size=1),
    amount=st.integers(1, 10**30),
    later=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(SYMS), amounts), max_size=3),
    undelegate_later=st.integers(0, 4),
    seed_stake=st.tuples(st.integers(0, 2), amounts),
)
def test_every_earner_gets_the_reference_amount_and_never_more_than_escrowed(
    dist, deposits, delegation, splits, mults, amount, later, undelegate_later, seed_stake
):
    tw, rd, chain = dist.tw, dist.rd, dist.chain
    snap = chain.snapshot()
    try:
        earners = [*dist.ops, *dist.stakers]  # 0-2 operators, 3-6 stakers
        operator_of = {op.address: op for op in dist.ops}
        for op, split in zip(dist.ops, splits, strict=True):
            if split is not None:
                dist.rw.rc.setOperatorSetSplit(op, dist.opset, split, sender=op)
        dist.rw.activate()
        for s, j in zip(dist.stakers, delegation, strict=True):
            if j is not None:
                tw.dm.delegateTo(dist.ops[j], NO_SIG, SALT0, sender=s)
                operator_of[s.address] = dist.ops[j]
        shares: dict[str, dict[str, int]] = {}  # earner -> sym -> shares (1:1: nothing moves the rate)
        # one operator always has stake in both strategies, so every example distributes
        deposits = [(seed_stake[0], sym, seed_stake[1]) for sym in SYMS] + deposits
        for i, sym, a in deposits:
            dist.deposit(earners[i], sym, a)
            row = shares.setdefault(earners[i].address, {})
            row[sym] = row.get(sym, 0) + a
        snapshot = chain.blocks.head.number
        # stake changes after the snapshot block count for nothing
        for i, sym, a in later:
            dist.deposit(earners[i], sym, a)
        if undelegate_later < 4 and delegation[undelegate_later] is not None:
            s = dist.stakers[undelegate_later]
            tw.dm.undelegate(s, sender=s)

        def weight(addr):
            return sum(mults.get(sym, 0) * n for sym, n in shares.get(addr, {}).items())

        staker_shares = {
            op.address: {e.address: weight(e.address) for e in earners if operator_of.get(e.address) == op}
            for op in dist.ops
        }
        op_stakes = {op: sum(ws.values()) for op, ws in staker_shares.items()}
        split_map = {
            op.address: (DEFAULT_SPLIT_BIPS if s is None else s)
            for op, s in zip(dist.ops, splits, strict=True)
        }
        ref = operator_set_day(amount, op_stakes, staker_shares, split_map)
        r = dist.distribute(amount, snapshot, mults)
        did = r.return_value
        assert rd.getDistribution(did).amount == amount
        expected = ref.earnings()
        paid = 0
        for e in earners:
            op = operator_of.get(e.address)
            want = expected.get(e.address, 0)
            if op is None:
                assert want == 0
                continue
            assert rd.claimable(did, e, op) == want, e
            if want == 0:
                reverts("nothing to claim", rd.claim, e, [(did, op)], e, sender=e)
                continue
            before = dist.reward.balanceOf(e)
            rd.claim(e, [(did, op)], e, sender=e)
            assert dist.reward.balanceOf(e) - before == want
            paid += want
            assert rd.claimable(did, e, op) == 0
            reverts("already claimed", rd.claim, e, [(did, op)], e, sender=e)
        assert paid <= amount and rd.getDistribution(did).claimed == paid
        assert dist.reward.balanceOf(rd) == amount - paid
    finally:
        chain.restore(snap)


def test_sidecar_worked_example_on_chain(dist):
    """The sidecar's worked example as a set of three operators, each its own only staker, split 0:
    weights 3e36, 1e36, 2e36 over 1e18 give 5e17, 166666666666666000, 333333333333333000."""
    rd, chain = dist.rd, dist.chain
    snap = chain.snapshot()
    try:
        for op, n in zip(dist.ops, (3, 1, 2), strict=True):
            dist.rw.rc.setOperatorSetSplit(op, dist.opset, 0, sender=op)
            dist.deposit(op, "TKA", n * WAD)
        dist.rw.activate()
        did = dist.distribute(WAD, chain.blocks.head.number, {"TKA": WAD}).return_value
        got = [rd.claimable(did, op, op) for op in dist.ops]
        assert got == [5 * 10**17, 166_666_666_666_666_000, 333_333_333_333_333_000]
        assert [rd.operatorCommission(did, op) for op in dist.ops] == [0, 0, 0]
    finally:
        chain.restore(snap)


def test_split_claimer_recipient_batch_and_refusals(dist):
    tw, rd, rc, chain = dist.tw, dist.rd, dist.rw.rc, dist.chain
    op, staker = dist.ops[0], dist.stakers[0]
    snap = chain.snapshot()
    try:
        tw.dm.delegateTo(op, NO_SIG, SALT0, sender=staker)
        dist.deposit(staker, "TKA", 900)
        dist.deposit(op, "TKA", 100)
        b1 = chain.blocks.head.number
        mults = {"TKA": 1}
        # refusals before anything moves
        reverts(
            "only avs",
            rd.createOperatorSetDistribution,
            dist.opset,
            dist.reward,
            1,
            b1,
            dist.sams(mults),
            sender=op,
        )
        dist.refused("snapshot not final", 1, chain.blocks.head.number + 100, mults)
        dist.refused("amount is zero", 0, b1, mults)
        dist.refused("no stake", 10, b1, {"TKB": 1})
        dist.refused("zero multiplier", 10, b1, {"TKA": 0})
        tw.create_sets(ids=(2,), syms=("TKA",))
        tkb = [(dist.strats["TKB"].address, 1)]
        reverts(
            "strategy not in operator set",
            rd.createOperatorSetDistribution,
            (tw.avs.address, 2),
            dist.reward,
            1,
            b1,
            tkb,
            sender=tw.avs,
        )
        d1 = dist.distribute(10_000, b1, mults).return_value
        # default split 10 %: op gets 1,000 + 10 % of 9,000 by its own stake; staker 90 % of 9,000
        assert rd.operatorCommission(d1, op) == 1_000 and rd.stakersPool(d1, op) == 9_000
        assert rd.claimable(d1, staker, op) == 8_100 and rd.claimable(d1, op, op) == 1_900
        assert rd.claimable(d1, staker, dist.ops[1]) == 0  # delegated to op, not op2
        # a second distribution at a later block, after the staker doubled its stake
        dist.deposit(staker, "TKA", 900)
        b2 = chain.blocks.head.number
        d2 = dist.distribute(1_900, b2, mults).return_value
        # op has all the set's weight: 1,900, 10 % commission, 1,710 to its stakers by weight
        d2_staker = (1_800 * 10**15 // 1_900) * 1_710 // 10**15
        assert rd.claimable(d2, staker, op) == d2_staker
        # claim to another recipient, by the earner's claimer, both distributions in one call
        reverts("unauthorized caller", rd.claim, staker, [(d1, op)], tw.other, sender=tw.other)
        rc.setClaimerFor(tw.other, sender=staker)
        reverts("unknown distribution", rd.claim, staker, [(d2 + 1, op)], tw.other, sender=tw.other)
        reverts("zero address", rd.claim, staker, [(d1, op)], ZERO, sender=tw.other)
        before = dist.reward.balanceOf(tw.recipient)
        r = rd.claim(staker, [(d1, op), (d2, op)], tw.recipient, sender=tw.other)
        assert dist.reward.balanceOf(tw.recipient) - before == 8_100 + d2_staker
        transfers = [e for e in r.events if e.event_name == "Transfer"]
        assert len(transfers) == 1  # one token, one transfer
        reverts("already claimed", rd.claim, staker, [(d2, op)], staker, sender=staker)
        reverts("nothing to claim", rd.claim, staker, [(d1, dist.ops[1])], staker, sender=staker)
        # the escrow of each distribution bounds its claims
        reverts("already claimed", rd.claim, op, [(d1, op), (d1, op)], op, sender=op)  # twice in a batch
        assert not rd.isClaimed(d1, op, op) and rd.isClaimed(d1, staker, op)
        rd.claim(op, [(d1, op), (d2, op)], op, sender=op)
        assert rd.isClaimed(d1, op, op) and rd.isClaimed(d2, op, op) and not rd.isClaimed(d2, op, dist.ops[1])
        assert rd.getDistribution(d1).claimed == 10_000
        d2_op = 190 + (100 * 10**15 // 1_900) * 1_710 // 10**15
        assert rd.getDistribution(d2).claimed == d2_staker + d2_op <= 1_900
        assert dist.reward.balanceOf(rd) == 1_900 - d2_staker - d2_op
    finally:
        chain.restore(snap)


def test_protocol_fee_opt_in_goes_to_the_fee_vault(dist):
    tw, rd, rc, chain = dist.tw, dist.rd, dist.rw.rc, dist.chain
    snap = chain.snapshot()
    try:
        dist.deposit(dist.ops[0], "TKA", 100)
        rc.setOptInForProtocolFee(tw.avs, True, sender=tw.avs)
        did = dist.distribute(10_000, chain.blocks.head.number, {"TKA": 1}).return_value
        assert rd.getDistribution(did).amount == 8_000
        assert dist.reward.balanceOf(dist.rw.vault) == 2_000
        assert rd.claimable(did, dist.ops[0], dist.ops[0]) == 8_000
    finally:
        chain.restore(snap)


def test_sets_of_up_to_64_operators(dist):
    """64 members distribute (each paid by its weight); a 65th member makes the set too large."""
    tw, rd, chain = dist.tw, dist.rd, dist.chain
    snap = chain.snapshot()
    try:
        extra = [Account.create().address for _ in range(62)]
        for a in extra:
            chain.set_balance(a, 10**20)
        b = Batch(chain)
        for a in extra:
            b.add(a, tw.dm.registerAsOperator, ZERO, 0, "")
        b.send()
        for a in extra[:61]:
            b.add(a, tw.am.registerForOperatorSets, a, (tw.avs.address, [SET], b""))
        b.send()
        assert tw.am.getMemberCount(dist.opset) == 64
        dist.deposit(dist.ops[0], "TKA", 3)
        dist.deposit(dist.ops[1], "TKA", 1)
        did = dist.distribute(1_000, chain.blocks.head.number, {"TKA": 1}).return_value
        assert rd.operatorCommission(did, dist.ops[0]) + rd.stakersPool(did, dist.ops[0]) == 750
        assert rd.operatorCommission(did, dist.ops[1]) + rd.stakersPool(did, dist.ops[1]) == 250
        assert rd.claimable(did, extra[0], extra[0]) == 0
        b.add(extra[61], tw.am.registerForOperatorSets, extra[61], (tw.avs.address, [SET], b""))
        b.send()
        dist.refused("too many operators", 1_000, chain.blocks.head.number, {"TKA": 1})
    finally:
        chain.restore(snap)
