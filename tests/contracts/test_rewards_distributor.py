"""On-chain distribution for small operator sets (contracts/rewards/RewardsDistributor.vy,
docs/rewards.md "On-chain distribution"): the split by delegated stake at a block, the operator's
split, stakers' claims from the DelegationManager's share histories; checked against the
sidecar's rules in offchain/rewards/calc.py (`operator_set_day`) over random stakes, splits,
multipliers and stake changes after the snapshot. The unique-stake form (the split by allocated
stake of the members at the block, from the AllocationManager's histories) is checked against
`operator_set_distribution` with the magnitudes and membership modelled here, over random
allocations, slashes, deregistrations and changes after the snapshot, and in scenarios of
pending allocations and deallocations and late registration. Each Hypothesis example runs from
a chain snapshot and restores it."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from offchain.rewards.calc import (
    DEFAULT_SPLIT_BIPS,
    allocated_stake,
    operator_set_day,
    operator_set_distribution,
)
from tests.contracts.support import (
    NO_SIG,
    SALT0,
    TEST_CONFIG,
    ZERO,
    Batch,
    ceil_div,
    example_settings,
    reverts,
)
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

    def split_and_delegate(self, splits, delegation):
        """Set each operator's split (None: the default), activate, delegate staker i to operator
        delegation[i] (None: nobody); returns earner -> its operator (operators their own)."""
        operator_of = {op.address: op for op in self.ops}
        for op, split in zip(self.ops, splits, strict=True):
            if split is not None:
                self.rw.rc.setOperatorSetSplit(op, self.opset, split, sender=op)
        self.rw.activate()
        for s, j in zip(self.stakers, delegation, strict=True):
            if j is not None:
                self.tw.dm.delegateTo(self.ops[j], NO_SIG, SALT0, sender=s)
                operator_of[s.address] = self.ops[j]
        return operator_of

    def deposit(self, who, sym, amount):
        self.tw.tokens[sym].mint(who, amount, sender=who)
        self.tw.sm.depositIntoStrategy(self.strats[sym], self.tw.tokens[sym], amount, sender=who)

    def _create(self, amount, snapshot, mults, operators):
        """The creation call, funded and approved: by delegated stake (operators None) or by
        unique stake (operators: the members at the snapshot, () for the current ones)."""
        avs = self.tw.avs
        self.reward.mint(avs, amount, sender=avs)
        self.reward.approve(self.rd, amount, sender=avs)
        args = [self.opset, self.reward, amount, snapshot, self.sams(mults)]
        if operators is None:
            return self.rd.createOperatorSetDistribution, args
        return self.rd.createUniqueStakeDistribution, [*args, [getattr(o, "address", o) for o in operators]]

    def distribute(self, amount, snapshot, mults, operators=None):
        fn, args = self._create(amount, snapshot, mults, operators)
        return fn(*args, sender=self.tw.avs)

    def distribute_unique(self, amount, snapshot, mults, operators=()):
        return self.distribute(amount, snapshot, mults, operators)

    def refused(self, reason, amount, snapshot, mults, operators=None):
        """The creation is refused with `reason` (funded and approved: only the reason stops it)."""
        fn, args = self._create(amount, snapshot, mults, operators)
        self.chain.mine()  # the snapshot is final in the eth_call's block
        reverts(reason, fn, *args, sender=self.tw.avs)

    def refused_unique(self, reason, amount, snapshot, mults, operators=()):
        self.refused(reason, amount, snapshot, mults, operators)

    def allocate(self, op, mags):
        """Set op's magnitudes in set 1 ({sym: magnitude}) from their current values."""
        syms = sorted(mags)
        cur = [self.tw.am.getAllocation(op, self.opset, self.strats[s]).currentMagnitude for s in syms]
        params = [(self.opset, [self.strats[s] for s in syms], [mags[s] for s in syms], cur)]
        return self.tw.am.modifyAllocations(op, params, sender=op)

    def deregister(self, op):
        return self.tw.am.deregisterFromOperatorSets((op, self.tw.avs, [SET]), sender=op)

    def reference(self, amount, snapshot, mults, members, mags, maxes, splits):
        """`operator_set_distribution` with the magnitudes (mags[op][sym], maxes[op][sym]) and the
        members modelled by the test; shares from the DelegationManager's histories."""
        dm, blk = self.tw.dm, snapshot

        def w(fn):
            return sum(m * fn(self.strats[sym]) for sym, m in mults.items())

        split_w, deleg_w, staker_w = {}, {}, {}
        for op in self.ops:
            a = op.address
            deleg_w[a] = w(lambda s, a=a: dm.operatorSharesAt(a, s, blk))
            if a not in members:
                continue
            split_w[a] = sum(
                m
                * allocated_stake(
                    dm.operatorSharesAt(a, self.strats[sym], blk), mags[a].get(sym, 0), maxes[a].get(sym, WAD)
                )
                for sym, m in mults.items()
            )
            staker_w[a] = {
                e.address: w(lambda s, e=e, a=a: dm.stakerSharesAt(e, a, s, blk))
                for e in [*self.ops, *self.stakers]
            }
        if not sum(split_w.values()):
            return None, split_w
        return operator_set_distribution(amount, split_w, deleg_w, staker_w, splits), split_w


@pytest.fixture(scope="module")
def dist(project, chain, accounts, deployment):
    return DistWorld(RewardsWorld(project, chain, accounts, deployment))


amounts = st.integers(1, 10**24)


@example_settings(5, 60)
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
        operator_of = dist.split_and_delegate(splits, delegation)
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
        paid = _claim_all(dist, did, ref.earnings(), operator_of, amount)
        assert dist.reward.balanceOf(rd) == amount - paid
    finally:
        chain.restore(snap)


@pytest.mark.parametrize("unique", [False, True])
def test_sidecar_worked_example_on_chain(dist, unique):
    """The sidecar's worked example as a set of three operators, each its own only staker, split 0:
    weights 3e36, 1e36, 2e36 over 1e18 give 5e17, 166666666666666000, 333333333333333000. By
    delegated stake: 3e18 / 1e18 / 2e18 shares. By unique stake: each allocates half of 6e18 /
    2e18 / 4e18 shares (the delegated weights, twice those, only divide each pool among its
    stakers)."""
    rd, chain = dist.rd, dist.chain
    snap = chain.snapshot()
    try:
        for op, n in zip(dist.ops, (3, 1, 2), strict=True):
            dist.rw.rc.setOperatorSetSplit(op, dist.opset, 0, sender=op)
            dist.deposit(op, "TKA", (2 if unique else 1) * n * WAD)
            if unique:
                dist.allocate(op, {"TKA": WAD // 2})
        dist.rw.activate()
        did = dist.distribute(
            WAD, chain.blocks.head.number, {"TKA": WAD}, () if unique else None
        ).return_value
        got = [rd.claimable(did, op, op) for op in dist.ops]
        assert got == [5 * 10**17, 166_666_666_666_666_000, 333_333_333_333_333_000]
        assert [rd.operatorCommission(did, op) for op in dist.ops] == [0, 0, 0]
        f = 2 if unique else 1
        assert [rd.operatorWeight(did, op) for op in dist.ops] == [f * n * 10**36 for n in (3, 1, 2)]
        assert rd.isUniqueStake(did) == unique
    finally:
        chain.restore(snap)


def test_the_undistributed_rounding_is_refunded_to_the_avs_once(dist):
    """The sidecar example leaves 1,000 wei to no operator (its shares' 15-decimal rounding): anyone
    pays it back to the AVS, at once and once; the claims of every earner and the refund then sum
    to the amount exactly. A split with no rounding (weights 3, 3, 2) has nothing to refund."""
    rd, chain, tw = dist.rd, dist.chain, dist.tw
    snap = chain.snapshot()
    try:
        for op, n in zip(dist.ops, (3, 1, 2), strict=True):
            dist.rw.rc.setOperatorSetSplit(op, dist.opset, 0, sender=op)
            dist.deposit(op, "TKA", n * WAD)
        dist.rw.activate()
        did = dist.distribute(WAD, chain.blocks.head.number, {"TKA": WAD}).return_value
        assert rd.undistributed(did) == 1_000 and rd.refunded(did) == 0
        before = dist.reward.balanceOf(tw.avs)
        tx = rd.refundDistribution(did, sender=tw.other)
        assert tx.events[-1].amount == 1_000 and tx.events[-1].avs == tw.avs.address
        assert dist.reward.balanceOf(tw.avs) - before == 1_000 and rd.refunded(did) == 1_000
        reverts("already refunded", rd.refundDistribution, did, sender=tw.avs)
        for op in dist.ops:
            rd.claim(op, [(did, op)], op, sender=op)
        assert rd.getDistribution(did).claimed + rd.refunded(did) == WAD
        assert dist.reward.balanceOf(rd) == 0
        reverts("unknown distribution", rd.refundDistribution, did + 1, sender=tw.other)
        dist.deposit(dist.ops[1], "TKA", 2 * WAD)  # weights 3, 3, 2 of 8: exact fractions
        one = dist.distribute(WAD, chain.blocks.head.number, {"TKA": WAD}).return_value
        assert rd.undistributed(one) == 0
        reverts("nothing to refund", rd.refundDistribution, one, sender=tw.other)
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


# ---------------------------------------------------------------- unique stake

DD = TEST_CONFIG.deallocation_delay_blocks


def _claim_all(dist, did, expected, operator_of, amount):
    """Every earner's claimable and claim equal the reference; claims stay within the escrow."""
    rd = dist.rd
    paid = 0
    for e in [*dist.ops, *dist.stakers]:
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
    return paid


mags_st = st.integers(0, WAD)


@example_settings(5, 60)
@given(
    deposits=st.lists(st.tuples(st.integers(0, 6), st.sampled_from(SYMS), amounts), max_size=6),
    delegation=st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=4, max_size=4),
    mags=st.lists(st.tuples(mags_st, mags_st), min_size=3, max_size=3),
    slash=st.one_of(st.none(), st.tuples(st.integers(0, 2), st.sampled_from(SYMS), st.integers(1, WAD))),
    leave_before=st.lists(st.booleans(), min_size=3, max_size=3),
    leave_after=st.lists(st.booleans(), min_size=3, max_size=3),
    realloc_after=st.lists(st.one_of(st.none(), mags_st), min_size=3, max_size=3),
    splits=st.lists(st.one_of(st.none(), st.integers(0, 10_000)), min_size=3, max_size=3),
    mults=st.dictionaries(st.sampled_from(SYMS), st.integers(1, 2**96 - 1), min_size=1),
    amount=st.integers(1, 10**30),
    seed_stake=amounts,
)
def test_unique_stake_every_earner_gets_the_reference_amount(
    dist,
    deposits,
    delegation,
    mags,
    slash,
    leave_before,
    leave_after,
    realloc_after,
    splits,
    mults,
    amount,
    seed_stake,
):
    """Allocations, a slash and deregistrations before the snapshot count; deregistrations,
    reallocations and deposits after it do not; non-members at the block get nothing."""
    tw, rd, chain = dist.tw, dist.rd, dist.chain
    snap = chain.snapshot()
    try:
        earners = [*dist.ops, *dist.stakers]
        operator_of = dist.split_and_delegate(splits, delegation)
        for i, sym, a in [(0, "TKA", seed_stake), (0, "TKB", seed_stake), *deposits]:
            dist.deposit(earners[i], sym, a)
        model_mag = {op.address: {} for op in dist.ops}
        model_max = {op.address: {} for op in dist.ops}
        for op, (ma, mb) in zip(dist.ops, mags, strict=True):
            m = {sym: v for sym, v in zip(SYMS, (ma, mb), strict=True) if v}
            if m:
                dist.allocate(op, m)  # allocation delay 0: effective in its own block
                model_mag[op.address].update(m)
        if slash is not None:
            i, sym, wad = slash
            a = dist.ops[i].address
            cur = model_mag[a].get(sym, 0)
            tw.am.slashOperator(tw.avs, (a, SET, [dist.strats[sym]], [wad], "x"), sender=tw.avs)
            if cur:
                cut = ceil_div(cur * wad, WAD)
                model_mag[a][sym] = cur - cut
                model_max[a][sym] = WAD - cut
        members = {op.address for op in dist.ops}
        for op, leave in zip(dist.ops, leave_before, strict=True):
            if leave:
                dist.deregister(op)
                members.discard(op.address)
        snapshot = chain.blocks.head.number
        # after the snapshot: nothing of this counts
        changed = False
        for op, leave, re in zip(dist.ops, leave_after, realloc_after, strict=True):
            if leave and op.address in members:
                dist.deregister(op)
                changed = True
            re = None if re is None else min(re, model_max[op.address].get("TKA", WAD))
            if re is not None and re != model_mag[op.address].get("TKA", 0):
                dist.allocate(op, {"TKA": re})
        dist.deposit(dist.stakers[0], "TKA", 12345)
        ref, split_w = dist.reference(
            amount, snapshot, mults, members, model_mag, model_max, splits_map(dist, splits)
        )
        listed = sorted(members, key=lambda a: int(a, 16)) if changed or len(members) < 3 else []
        if sum(split_w.values()) == 0:
            dist.refused_unique("no stake", amount, snapshot, mults, listed)
            return
        did = dist.distribute_unique(amount, snapshot, mults, listed).return_value
        assert rd.isUniqueStake(did) and rd.getDistribution(did).amount == amount
        for op in dist.ops:
            a = op.address
            if split_w.get(a):
                assert rd.operatorWeight(did, op) == sum(
                    m * tw.dm.operatorSharesAt(a, dist.strats[sym], snapshot) for sym, m in mults.items()
                )
            else:  # not a member at the block, or no allocated weight: nothing
                assert rd.operatorCommission(did, op) == rd.stakersPool(did, op) == 0
        paid = _claim_all(dist, did, ref.earnings(), operator_of, amount)
        assert dist.reward.balanceOf(rd) == amount - paid
    finally:
        chain.restore(snap)


def splits_map(dist, splits):
    return {
        op.address: (DEFAULT_SPLIT_BIPS if s is None else s) for op, s in zip(dist.ops, splits, strict=True)
    }


def test_unique_stake_pending_allocation_deallocation_and_late_registration(dist):
    """A pending allocation counts from its effect block, a deallocation until its effect block;
    an operator registering after the snapshot is not a member at it, and one that left before
    it is not either (both refused when named; the current members must be named when they
    differ from the snapshot's)."""
    tw, rd, chain, am = dist.tw, dist.rd, dist.chain, dist.tw.am
    op0, op1, op2 = dist.ops
    snap = chain.snapshot()
    try:
        for op in dist.ops:
            dist.rw.rc.setOperatorSetSplit(op, dist.opset, 0, sender=op)
            dist.deposit(op, "TKA", 1_000)
        dist.rw.activate()
        am.setAllocationDelay(op1, 5, sender=op1)
        chain.mine(tw.am.ALLOCATION_CONFIGURATION_DELAY() + 1)
        dist.allocate(op0, {"TKA": WAD // 2})  # 500 allocated at once
        r = dist.allocate(op1, {"TKA": WAD})  # pending until r + 5
        effect = r.block_number + 5
        mults = {"TKA": 1}

        def paid_by_allocation(did, a0, a1):  # amount a0 + a1 over allocated stakes a0, a1
            want = [_pro(a, a0 + a1, a0 + a1) for a in (a0, a1)]
            assert [rd.claimable(did, op, op) for op in (op0, op1)] == want

        # op1's allocation pending at the snapshot: op0 takes all
        did = dist.distribute_unique(1_000, r.block_number, mults).return_value
        assert rd.claimable(did, op0, op0) == 1_000 and rd.claimable(did, op1, op1) == 0
        while chain.blocks.head.number < effect:
            chain.mine()
        did = dist.distribute_unique(1_500, effect, mults).return_value
        paid_by_allocation(did, 500, 1_000)
        # op0 deallocates to 0.1: slashable, so its 0.5 counts until the deallocation's effect block
        r = dist.allocate(op0, {"TKA": WAD // 10})
        d_effect = r.block_number + DD + 1
        chain.mine()
        did = dist.distribute_unique(1_500, r.block_number, mults).return_value
        paid_by_allocation(did, 500, 1_000)
        while chain.blocks.head.number < d_effect:
            chain.mine()
        did = dist.distribute_unique(1_100, d_effect, mults).return_value
        paid_by_allocation(did, 100, 1_000)
        # op2 leaves; it allocated nothing, but it is no member at the snapshot after it left
        dist.deregister(op2)
        left = chain.blocks.head.number
        dist.refused_unique("not a member at snapshot", 1, left, mults, sorted([op0, op1, op2], key=_key))
        dist.refused_unique("members at snapshot missing", 1, left, mults, [op0])
        dist.refused_unique(
            "operators not in ascending order", 1, left, mults, sorted([op0, op1], key=_key)[::-1]
        )
        dup = sorted([op0, op1], key=_key)
        dist.refused_unique("operators not in ascending order", 1, left, mults, [dup[0], dup[0], dup[1]])
        # late re-registration: a member now, not at `left`: the current members no longer do
        chain.mine(DD + 1)
        tw.register_for_sets(op2, ids=(SET,))
        dist.refused_unique("not a member at snapshot", 1, left, mults)
        did = dist.distribute_unique(1_100, left, mults, sorted([op0, op1], key=_key)).return_value
        assert [rd.claimable(did, op, op) for op in (op0, op1, op2)] == [
            _pro(100, 1_100, 1_100),
            _pro(1_000, 1_100, 1_100),
            0,
        ]
        assert rd.claimable(did, op2, op2) == 0
        reverts("nothing to claim", rd.claim, op2, [(did, op2)], op2, sender=op2)
    finally:
        chain.restore(snap)


def _pro(w, total, amount):
    """An operator's share: its weight's proportion, truncated to 15 decimals, of the amount."""
    return (w * 10**15 // total) * amount // 10**15


def _key(a):
    return int(a.address, 16)


def test_unique_stake_slash_before_the_snapshot_counts_after_it_does_not(dist):
    tw, rd, chain = dist.tw, dist.rd, dist.chain
    op0, op1 = dist.ops[:2]
    snap = chain.snapshot()
    try:
        for op in (op0, op1):
            dist.rw.rc.setOperatorSetSplit(op, dist.opset, 0, sender=op)
            dist.deposit(op, "TKA", 1_000)
            dist.allocate(op, {"TKA": WAD // 2})
        dist.rw.activate()
        tw.slash(op0, SET, {"TKA": WAD // 2})  # op0: 1,000 shares -> 750, magnitude 0.25 of 0.75
        b = chain.blocks.head.number
        tw.slash(op1, SET, {"TKA": WAD})  # after the snapshot: op1 keeps its weight at b
        shares0 = tw.dm.operatorSharesAt(op0, dist.strats["TKA"], b)
        a0 = allocated_stake(shares0, WAD // 4, 3 * WAD // 4)
        a1 = 500
        assert tw.am.getAllocatedStakeAt(dist.opset, [op0, op1], [dist.strats["TKA"]], b) == [[a0], [a1]]
        did = dist.distribute_unique(10**6, b, {"TKA": 1}).return_value
        s0 = (a0 * 10**15 // (a0 + a1)) * 10**6 // 10**15
        s1 = (a1 * 10**15 // (a0 + a1)) * 10**6 // 10**15
        assert rd.claimable(did, op0, op0) == s0 and rd.claimable(did, op1, op1) == s1
    finally:
        chain.restore(snap)


def test_unique_stake_refusals(dist):
    tw, rd, chain = dist.tw, dist.rd, dist.chain
    op0 = dist.ops[0]
    snap = chain.snapshot()
    try:
        dist.deposit(op0, "TKA", 100)
        dist.allocate(op0, {"TKA": WAD})
        b = chain.blocks.head.number
        fn = rd.createUniqueStakeDistribution
        reverts("only avs", fn, dist.opset, dist.reward, 1, b, dist.sams({"TKA": 1}), [], sender=op0)
        dist.refused_unique("snapshot not final", 1, b + 100, {"TKA": 1})
        dist.refused_unique("amount is zero", 0, b, {"TKA": 1})
        dist.refused_unique("zero multiplier", 1, b, {"TKA": 0})
        dist.refused_unique("no stake", 1, b, {"TKB": 1})  # nothing allocated in TKB
        dist.refused_unique("not a member at snapshot", 1, b, {"TKA": 1}, [tw.other])
        # before the set's operators registered: the current members were not members then
        dist.refused_unique("not a member at snapshot", 1, 1, {"TKA": 1}, [])
    finally:
        chain.restore(snap)
