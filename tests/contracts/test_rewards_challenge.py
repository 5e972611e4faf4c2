"""Disputable roots (contracts/rewards/RewardsRootChallenger.vy, docs/rewards.md "Challenging a
root"): days recorded on-chain, a root built by offchain.chain.rewards from the recorded days and
the share histories survives every leaf's challenge; a root with one earner's amount inflated, an
earner added or an amount moved between earners is challenged, voided (its claims refused) and
its updater's bond slashed to the challenger and the burn address; a challenge after activation,
with a bad proof, the wrong token, another AVS's submissions or a wrong base is refused.

The world: set 1 of `avs` with operators `op` (staker `staker` delegated) and `op2` (staker
`staker2`), a total-stake submission of 2,000 TKB over two days starting tomorrow, both days
recorded, stake changed between them (ape runs each test from a snapshot of it)."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from offchain.abi import BURN_ADDRESS
from offchain.chain import rewards, sdk
from offchain.chain.errors import ChainInputError
from offchain.cli import main
from offchain.rewards.calc import operator_directed_day, total_stake_day, unique_stake_day
from offchain.rewards.merkle import DistributionTree
from tests.contracts.support import NO_SIG, SALT0, ZERO, Batch, example_settings, reverts
from tests.contracts.test_rewards import BOND, DAY, TEST_REWARDS, WAD, RewardsWorld

SET = 1
AMOUNT = 2_000 * WAD


class ChallengeWorld:
    """`avs_days`: also a set 2 of `op2` alone, `op`'s AVS split at 3,000 bips, and the AVS's
    operators recorded (recordAVSDay) beside set 1 on both days (test_rewards_challenge_avs.py).
    `extra`: that many more operators in set 1 (the first with 50 TKA of its own), so that its
    days are recorded in chunks (recordMembers; test_rewards_challenge_large.py), and with
    `avs_days` the AVS's too (recordAVSMembers); registered through one Batch (a few blocks)."""

    def __init__(self, rw: RewardsWorld, chain, avs_days: bool = False, extra: int = 0):
        self.rw, self.tw, self.chain = rw, rw.tw, chain
        tw = rw.tw
        self.rc, self.rch, self.steps = rw.rc, rw.rch, rw.steps
        self.d = sdk.Deployment(
            chain_id=chain.chain_id,
            rpc_url=chain.provider.uri,
            addresses={
                "allocation_manager": tw.am.address,
                "delegation_manager": tw.dm.address,
                "rewards_coordinator": rw.rc.address,
                "rewards_root_challenger": rw.rch.address,
                "rewards_challenge_steps": rw.steps.address,
            },
        )
        self.ops = [tw.op, tw.op2]
        tw.create_sets(ids=(SET, 2) if avs_days else (SET,), syms=("TKA", "TKB"))
        for op in self.ops:
            tw.register_operator(op)
            tw.register_for_sets(op, ids=(SET, 2) if avs_days and op == tw.op2 else (SET,))
        self.extra = []
        batch = Batch(chain)
        for _ in range(extra):
            a = Account.create().address
            batch.add(a, tw.dm.registerAsOperator, ZERO, 0, "https://op.example/meta.json")
            batch.add(a, tw.am.registerForOperatorSets, a, (tw.avs.address, [SET], b""))
            self.extra.append(a)  # (addresses: an ape account of each costs ~0.6 s)
        if extra:  # the first with 50 TKA of its own
            x, tka = self.extra[0], tw.tokens["TKA"]
            batch.add(x, tka.mint, x, 50 * WAD)
            batch.add(x, tka.approve, tw.sm, 50 * WAD)
            batch.add(x, tw.sm.depositIntoStrategy, tw.strats["TKA"], tka, 50 * WAD)
        batch.send()
        for s, op in ((tw.staker, tw.op), (tw.staker2, tw.op2)):
            tw.dm.delegateTo(op, NO_SIG, SALT0, sender=s)
        self.opset = (tw.avs.address, SET)
        self.strats = sorted((tw.strats[s] for s in ("TKA", "TKB")), key=lambda c: int(c.address, 16))
        self.sams = [(self.strats[0].address, WAD), (self.strats[1].address, 2 * WAD)]
        self.deposit(tw.op, "TKA", 100 * WAD)
        self.deposit(tw.op2, "TKB", 50 * WAD)
        self.deposit(tw.staker, "TKA", 300 * WAD)
        self.deposit(tw.staker2, "TKB", 70 * WAD)
        # unique stake: op allocates half its TKA to the set, op2 a quarter of its TKA, all its TKB
        tw.allocate(tw.op, SET, {"TKA": WAD // 2})
        tw.allocate(tw.op2, SET, {"TKA": WAD // 4, "TKB": WAD})
        rw.rc.setOperatorSetSplit(tw.op2, self.opset, 2_500, sender=tw.op2)
        if avs_days:
            rw.rc.setOperatorAVSSplit(tw.op, tw.avs, 3_000, sender=tw.op)
        self.token = rw.tokens["TKB"]
        # the first whole UTC day after op2's split is active (it activates after the activation
        # delay: late in a UTC day, the next day would still see the default split)
        self.day0 = (rw.now() + TEST_REWARDS.activation_delay_s) // DAY * DAY + DAY
        self.submit(self.day0, 2 * DAY)
        rw.advance(self.day0 + 100 - rw.now())
        self.rch.recordDay(self.opset, sender=tw.other)
        self.record_members()
        self.avs_days = avs_days
        self.record_avs_day()
        self.deposit(tw.staker2, "TKA", 200 * WAD)  # day 2 differs
        rw.advance(DAY)
        self.rch.recordDay(self.opset, sender=tw.other)
        self.record_members()
        self.record_avs_day()
        rw.advance(DAY)
        self.end = self.day0 + 2 * DAY

    def record_members(self):
        if self.extra:
            day = self.rw.now() // DAY * DAY
            rewards.record_members(self.d, key(self.tw.other), self.tw.avs.address, SET, day)

    def record_avs_day(self):
        if self.avs_days:
            ops = self.operators()
            day = self.rw.now() // DAY * DAY
            self.rch.recordAVSDay(
                self.tw.avs, day, [SET, 2], ops[: rewards.MAX_OPERATORS + 1], sender=self.tw.other
            )
            if len(ops) > rewards.MAX_OPERATORS:  # recorded as too large: the list in chunks
                self.avs_members_gas = rewards.record_avs_members(
                    self.d, key(self.tw.other), self.tw.avs.address, day
                )

    def operators(self) -> list[str]:
        """Every operator's address (op, op2 and the extra ones), ascending."""
        return sorted([*(o.address for o in self.ops), *self.extra], key=lambda a: int(a, 16))

    def deposit(self, who, sym, amount):
        tok = self.tw.tokens[sym]
        tok.mint(who, amount, sender=who)
        tok.approve(self.tw.sm, amount, sender=who)
        self.tw.sm.depositIntoStrategy(self.tw.strats[sym], tok, amount, sender=who)

    def submit(self, start, duration, kind="Total", amount=AMOUNT, token=None):
        token = token or self.token
        avs = self.tw.avs
        self.rw.fund(avs, token, amount)
        fn = getattr(self.rc, f"create{kind}StakeRewardsSubmission")
        return fn(self.opset, [(self.sams, token.address, amount, start, duration)], sender=avs)

    def submit_directed(self, start, duration, amounts, token, for_set=True):
        """An operator-directed submission (retroactive): `amounts` {operator address: amount}."""
        avs = self.tw.avs
        self.rw.fund(avs, token, sum(amounts.values()))
        rewards_ = sorted(amounts.items(), key=lambda kv: int(kv[0], 16))
        sub = (self.sams, token.address, rewards_, start, duration, "directed")
        if for_set:
            return self.rc.createOperatorDirectedOperatorSetRewardsSubmission(self.opset, [sub], sender=avs)
        return self.rc.createOperatorDirectedAVSRewardsSubmission(avs, [sub], sender=avs)

    def correct(self) -> dict[str, dict[str, int]]:
        return rewards.build_distribution(self.d, self.tw.avs.address, self.end)

    def post(self, earnings) -> tuple[int, DistributionTree]:
        tree = DistributionTree(earnings)
        return self.rw.post(self.tw.avs, tree, self.end), tree

    def args(self, index, tree, earner, token=None):
        check = rewards.check_root(self.d, index)
        return rewards.challenge_args(self.d, check, tree, None, earner, token or self.token.address)


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    return ChallengeWorld(RewardsWorld(project, chain, accounts, deployment), chain)  # ape isolates each test


def key(account):
    return Account.from_key(account.private_key)


def reference_days(cw) -> list[tuple[dict[str, int], dict[str, dict[str, int]]]]:
    """The two recorded days' weights by hand, in WAD^2 (both strategies at multipliers 1 and 2):
    each operator's delegated weight and its stakers' (itself included): op 100 of its own and
    staker 300; op2 100 (50 TKB) and staker2 140 (70 TKB), then 340 (200 TKA more); the first
    extra operator, if any, 50 of its own (every other extra operator none)."""
    tw, W = cw.tw, WAD * WAD
    op, op2, st, st2 = (a.address for a in (tw.op, tw.op2, tw.staker, tw.staker2))
    out = []
    for s2 in (140, 340):
        stakers = {op: {op: 100 * W, st: 300 * W}, op2: {op2: 100 * W, st2: s2 * W}}
        if cw.extra:
            x = cw.extra[0]
            stakers[x] = {x: 50 * W}
        out.append(({o: sum(v.values()) for o, v in stakers.items()}, stakers))
    return out


def reference(cw, rule) -> dict[str, int]:
    """Each earner's amount over the two recorded days: `rule(delegated, stakers)` (a day rule of
    offchain.rewards.calc on reference_days's weights), summed."""
    want: dict[str, int] = {}
    for delegated, stakers in reference_days(cw):
        for e, v in rule(delegated, stakers).earnings().items():
            want[e.lower()] = want.get(e.lower(), 0) + v
    return want


def test_days_are_recorded_once_with_the_block_before_and_the_members(cw):
    recs = rewards.day_records(cw.d, cw.tw.avs.address)
    assert sorted(recs) == [(SET, cw.day0), (SET, cw.day0 + DAY)]
    r = recs[(SET, cw.day0)]
    assert set(r.members) == {cw.tw.op.address, cw.tw.op2.address} and not r.too_large
    assert dict(zip(r.members, r.splits, strict=True)) == {cw.tw.op.address: 1000, cw.tw.op2.address: 2500}
    tx = cw.rch.recordDay(cw.opset, sender=cw.tw.staker)  # today: the first call fixes it
    ev = tx.events[0]
    assert ev.blockNumber == tx.block_number - 1 and ev.day == cw.rw.now() // DAY * DAY
    reverts("day already recorded", cw.rch.recordDay, cw.opset, sender=cw.tw.other)


def test_the_distribution_is_the_on_chain_rule_day_by_day(cw):
    tw = cw.tw
    dist = cw.correct()
    tok = cw.token.address.lower()
    splits = {tw.op.address: 1000, tw.op2.address: 2500}
    want = reference(cw, lambda w, s: total_stake_day(AMOUNT, 2 * DAY, w, s, splits))
    assert {e: row[tok] for e, row in dist.items()} == want
    assert sum(want.values()) <= AMOUNT and len(want) == 4


def test_a_correct_root_survives_every_leaf_challenge(cw):
    dist = cw.correct()
    i, tree = cw.post(dist)
    for e in dist:
        args = cw.args(i, tree, e)
        reverts("root correct for this leaf", cw.rch.challengeRoot, *args, sender=cw.tw.other)
    # an earner absent from the root that earned nothing: correct too (proven by its neighbours)
    args = cw.args(i, tree, cw.tw.recipient.address)
    reverts("root correct for this leaf", cw.rch.challengeRoot, *args, sender=cw.tw.other)
    assert not cw.rc.getDistributionRootAtIndex(i).disabled


def _inflated(dist, e, tok):
    out = {k: dict(v) for k, v in dist.items()}
    out[e][tok] += 1
    return out, [e]


def _added(dist, e, tok):
    out = {k: dict(v) for k, v in dist.items()}
    out[e] = {tok: 10**18}
    return out, [e]


def _moved(dist, e, tok):
    out = {k: dict(v) for k, v in dist.items()}
    other = sorted(k for k in out if k != e)[0]
    out[e][tok] += 5 * 10**17
    out[other][tok] -= 5 * 10**17
    return out, [e, other]


@pytest.mark.parametrize("wrong", [_inflated, _added, _moved])
@pytest.mark.parametrize("kind", ["Total", "Unique", "Directed"])
def test_a_wrong_root_is_voided_and_its_updater_slashed(cw, kind, wrong, chain):
    """In the fixture's total-stake token, or in TKA paid by a unique-stake or operator-directed
    submission over the same recorded days."""
    tw = cw.tw
    tok = (cw.token if kind == "Total" else _pay(cw, kind)).address.lower()
    dist = cw.correct()
    target = tw.recipient.address.lower() if wrong is _added else tw.staker.address.lower()
    earnings, differing = wrong(dist, target, tok)
    i, tree = cw.post(earnings)
    check = rewards.check_root(cw.d, i)
    found = rewards.differences(check, tree)
    assert sorted(e.lower() for e, *_ in found) == sorted(differing)
    e, t, posted, want = found[0]
    assert posted != want
    challenger = tw.staker2
    bal, burn = challenger.balance, chain.provider.get_balance(BURN_ADDRESS)
    bond = cw.rch.bondOf(tw.owner)
    assert bond == BOND
    out = rewards.challenge(cw.d, key(challenger), check, tree, None, e, t)
    assert (out["posted"], out["recomputed"], out["slashed"], out["reward"]) == (
        posted,
        want,
        BOND,
        BOND // 2,
    )
    txh = out["tx"] if out["tx"].startswith("0x") else "0x" + out["tx"]
    tx_fee = out["gas_used"] * chain.provider.web3.eth.get_transaction_receipt(txh)["effectiveGasPrice"]
    assert challenger.balance == bal + BOND // 2 - tx_fee
    assert chain.provider.get_balance(BURN_ADDRESS) == burn + BOND - BOND // 2
    assert cw.rch.bondOf(tw.owner) == 0 and cw.rc.getDistributionRootAtIndex(i).disabled
    # voided: it can never be claimed against, nor challenged again; no new root without a new bond
    cw.rw.activate()
    c = tree.claim(e, [t], i)
    accounts = {a.address: a for a in (tw.op, tw.op2, tw.staker, tw.staker2, tw.recipient)}
    reverts("root disabled", cw.rc.processClaim, c.as_tuple(), e, sender=accounts[e])
    reverts(
        "root disabled",
        cw.rch.challengeRoot,
        *rewards.challenge_args(cw.d, check, tree, None, e, t),
        sender=cw.tw.other,
    )
    reverts("updater bond too small", cw.rc.submitRoot, tw.avs, tree.root, cw.end + 1, sender=tw.owner)


def test_a_challenge_after_activation_is_refused(cw):
    earnings, _ = _inflated(cw.correct(), cw.tw.staker.address.lower(), cw.token.address.lower())
    i, tree = cw.post(earnings)
    args = cw.args(i, tree, cw.tw.staker.address)
    cw.rw.activate()
    reverts("root already activated", cw.rch.challengeRoot, *args, sender=cw.tw.other)


def test_hostile_challenges_get_clear_reverts(cw):
    tw = cw.tw
    earnings, _ = _inflated(cw.correct(), tw.staker.address.lower(), cw.token.address.lower())
    i, tree = cw.post(earnings)
    good = cw.args(i, tree, tw.staker.address)

    def with_(k, v):
        a = list(good)
        a[k] = v
        return a

    # a tampered proof
    (e_q, t_q) = good[5]
    lo = list(e_q[1])
    lo[1] = bytes(len(lo[1])) if lo[1] else b"\x01" * 32
    reverts(
        "invalid claim proof",
        cw.rch.challengeRoot,
        *with_(5, ((e_q[0], tuple(lo), e_q[2], e_q[3]), t_q)),
        sender=cw.tw.other,
    )
    # the leaf of another earner presented as this one's (an absence proof that does not hold)
    other = cw.args(i, tree, tw.staker2.address)[5]
    below = int(tw.staker2.address, 16) < int(tw.staker.address, 16)
    reverts(
        "neighbours not adjacent" if below else "invalid neighbour",
        cw.rch.challengeRoot,
        *with_(5, other),
        sender=cw.tw.other,
    )
    # the proof of TKB presented for TKA: TKA is absent (so 0, and 0 is right) or the proof fails
    tka, tkb = tw.tokens["TKA"].address, cw.token.address
    why = "invalid neighbour" if int(tkb, 16) > int(tka, 16) else "root correct for this leaf"
    for_tka = cw.args(i, tree, tw.staker.address, tka)
    assert for_tka[10] == []  # no TKA submission: no days
    for_tka[5] = good[5]
    reverts(why, cw.rch.challengeRoot, *for_tka, sender=cw.tw.other)
    # positions: not the root's, a base that is not active
    reverts("invalid root position", cw.rch.challengeRoot, *with_(1, 5), sender=cw.tw.other)
    reverts("invalid base position", cw.rch.challengeRoot, *with_(2, 1), sender=cw.tw.other)
    # submissions: one missing, one altered, another AVS's
    reverts(
        "incomplete submissions",
        cw.rch.challengeRoot,
        *with_(8, good[8][:-1] if good[8] else []),
        sender=cw.tw.other,
    )
    entry = list(good[8][0])
    entry[4] = entry[4] + DAY
    reverts("submission record mismatch", cw.rch.challengeRoot, *with_(8, [tuple(entry)]), sender=cw.tw.other)
    reverts("incomplete submissions", cw.rch.challengeRoot, *with_(7, 1), sender=cw.tw.other)
    # snapshots and day inputs
    snap = good[9][0]
    reverts(
        "snapshot mismatch",
        cw.rch.challengeRoot,
        *with_(9, [(snap[0], [s + 1 for s in snap[1]])] + good[9][1:]),
        sender=cw.tw.other,
    )
    reverts(
        "invalid snapshot index",
        cw.rch.challengeRoot,
        *with_(10, [(7, z) for _, z in good[10]]),
        sender=cw.tw.other,
    )
    reverts("day inputs missing", cw.rch.challengeRoot, *with_(10, good[10][:-1]), sender=cw.tw.other)
    reverts(
        "too many day inputs", cw.rch.challengeRoot, *with_(10, good[10] + [good[10][0]]), sender=cw.tw.other
    )
    # a wrong operator hint costs a scan, not the verdict: the root is still proven wrong
    hinted = [(s, tw.op2.address) for s, _ in good[10]]
    tx = cw.rch.challengeRoot(*with_(10, hinted), sender=tw.other)
    assert tx.events[-1].recomputed == cw.correct()[tw.staker.address.lower()][cw.token.address.lower()]


def test_another_avss_root_is_checked_against_its_own_submissions(cw):
    tw = cw.tw
    earnings = cw.correct()
    i, tree = cw.post(earnings)
    # the same distribution posted for avs2: avs2 made no submission, so every amount is wrong
    j = cw.rw.post(tw.avs2, tree, cw.end)
    good = cw.args(i, tree, tw.staker.address)
    forged = list(good)
    forged[0] = j  # avs's submission offered as avs2's (avs2 made none)
    reverts("incomplete submissions", cw.rch.challengeRoot, *forged, sender=cw.tw.other)
    check = rewards.check_root(cw.d, j)
    assert check.expected == {}
    args = rewards.challenge_args(cw.d, check, tree, None, tw.staker.address, cw.token.address)
    assert args[8] == []
    tx = cw.rch.challengeRoot(*args, sender=tw.other)
    assert tx.events[-1].recomputed == 0 and cw.rc.getDistributionRootAtIndex(j).disabled
    assert not cw.rc.getDistributionRootAtIndex(i).disabled


def test_an_unrecorded_day_pays_nothing(cw):
    tw = cw.tw
    # a second submission over tomorrow, which nobody records: a root paying for it is wrong
    start = cw.rw.day_start(1)
    cw.submit(start, DAY)
    cw.rw.advance(2 * DAY)
    cw.end = start + DAY
    try:
        dist = cw.correct()
        tok = cw.token.address.lower()
        assert dist == rewards.build_distribution(cw.d, tw.avs.address, cw.day0 + 2 * DAY)
        earnings, _ = _inflated(dist, tw.staker.address.lower(), tok)
        i, tree = cw.post(earnings)
        tx = cw.rch.challengeRoot(*cw.args(i, tree, tw.staker.address), sender=tw.other)
        assert tx.events[-1].recomputed == dist[tw.staker.address.lower()][tok]
    finally:
        cw.end = cw.day0 + 2 * DAY


def test_an_avs_wide_submission_over_days_the_avs_never_recorded_pays_nothing(cw):
    """Only set 1's days are recorded here, not the AVS's (recordAVSDay): an operator-directed
    AVS-wide submission over them pays nothing, so a root paying it is wrong and voided (the AVS's
    recorded days: test_rewards_challenge_avs.py)."""
    tw = cw.tw
    cw.submit_directed(cw.day0, DAY, {tw.op.address: 10 * WAD}, cw.token, for_set=False)
    dist = cw.correct()
    bad = {e: dict(v) for e, v in dist.items()}
    bad[tw.op.address.lower()][cw.token.address.lower()] += 9 * WAD
    i, tree = cw.post(bad)
    check = rewards.check_root(cw.d, i)
    assert check.unsupported == set()
    args = rewards.challenge_args(cw.d, check, tree, None, tw.op.address, cw.token.address)
    tx = cw.rch.challengeRoot(*args, sender=cw.tw.other)
    assert tx.events[-1].posted == tx.events[-1].recomputed + 9 * WAD
    assert cw.rc.getDistributionRootAtIndex(i).disabled


# ------------------------------------------------------------ unique-stake and operator-directed

DIRECTED = {"op": 900 * WAD, "op2": 301 * WAD}


def _pay(cw, kind):
    """The fixture's two recorded days paid in TKA by one submission of `kind` (made now: the
    unique-stake form may start in the past, the operator-directed one must)."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    if kind == "Unique":
        cw.submit(cw.day0, 2 * DAY, kind="Unique", amount=AMOUNT, token=tka)
    else:
        cw.submit_directed(cw.day0, 2 * DAY, {getattr(tw, k).address: v for k, v in DIRECTED.items()}, tka)
    return tka


def _expected_by_hand(cw, kind) -> dict[str, int]:
    """Each earner's TKA from the deposits and allocations, not from the chain's views: delegated
    weights (op 400, op2 240 then 440, in WAD^2), allocated (op half its 400 TKA; op2 all its 120
    of TKB weight plus a quarter of its TKA: 0 on day 1, 200 on day 2)."""
    tw = cw.tw
    op, op2, st, st2 = (a.address for a in (tw.op, tw.op2, tw.staker, tw.staker2))
    W = WAD * WAD
    stakers = [
        {op: {op: 100 * W, st: 300 * W}, op2: {op2: 100 * W, st2: 140 * W}},
        {op: {op: 100 * W, st: 300 * W}, op2: {op2: 100 * W, st2: 340 * W}},
    ]
    delegated = [{op: 400 * W, op2: 240 * W}, {op: 400 * W, op2: 440 * W}]
    allocated = [{op: 200 * W, op2: 240 * W}, {op: 200 * W, op2: 290 * W}]
    splits = {op: 1000, op2: 2500}
    want: dict[str, int] = {}
    for day in (0, 1):
        if kind == "Unique":
            res = unique_stake_day(AMOUNT, 2 * DAY, allocated[day], delegated[day], stakers[day], splits)
        else:
            amounts = {getattr(tw, k).address: v for k, v in DIRECTED.items()}
            res = operator_directed_day(amounts, 2 * DAY, {op, op2}, delegated[day], stakers[day], splits)
        for e, v in res.earnings().items():
            want[e.lower()] = want.get(e.lower(), 0) + v
    return want


@pytest.mark.parametrize("kind", ["Unique", "Directed"])
def test_unique_and_directed_distributions_are_the_on_chain_rule(cw, kind):
    tka = _pay(cw, kind).address.lower()
    dist = cw.correct()
    assert {e: row[tka] for e, row in dist.items() if tka in row} == _expected_by_hand(cw, kind)
    # TKB is still the total-stake submission's alone
    assert all(set(row) <= {tka, cw.token.address.lower()} for row in dist.values())


@pytest.mark.parametrize("kind", ["Unique", "Directed"])
def test_a_correct_unique_or_directed_root_survives_every_leaf(cw, kind):
    tka = _pay(cw, kind)
    dist = cw.correct()
    i, tree = cw.post(dist)
    for e in dist:
        for t in (tka.address, cw.token.address):
            reverts(
                "root correct for this leaf",
                cw.rch.challengeRoot,
                *cw.args(i, tree, e, t),
                sender=cw.tw.other,
            )
    args = cw.args(i, tree, cw.tw.recipient.address, tka.address)
    reverts("root correct for this leaf", cw.rch.challengeRoot, *args, sender=cw.tw.other)
    assert not cw.rc.getDistributionRootAtIndex(i).disabled


def test_a_directed_operator_outside_the_set_earns_nothing(cw):
    """An operator the AVS named that is not a member on a recorded day is paid nothing for it (the
    amount stays in the AVS's escrow): a root paying it is wrong."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    cw.submit_directed(cw.day0, 2 * DAY, {tw.op.address: 10 * WAD, tw.other.address: 50 * WAD}, tka)
    dist = cw.correct()
    assert tw.other.address.lower() not in dist
    earnings, _ = _added(dist, tw.other.address.lower(), tka.address.lower())
    i, tree = cw.post(earnings)
    tx = cw.rch.challengeRoot(*cw.args(i, tree, tw.other.address, tka.address), sender=tw.staker)
    assert tx.events[-1].recomputed == 0 and cw.rc.getDistributionRootAtIndex(i).disabled


def _moved_leaf_root(cw, kind, amount, amount2, who, delta):
    """TKA paid over the recorded days by a unique-stake submission of `amount` or an operator-
    directed one (`amount` to op, `amount2` to op2, 0: not named); a root posted with the amount
    of earner `who[0]` moved by `delta` (+1 where that would be negative). Returns TKA, the root
    index, its tree, that earner, another one (`who[1]`) and the first one's correct amount."""
    tw = cw.tw
    tka = cw.rw.tokens["TKA"]
    if kind == "Unique":
        cw.submit(cw.day0, 2 * DAY, kind="Unique", amount=amount, token=tka)
    else:
        named = {tw.op.address: amount, tw.op2.address: amount2}
        cw.submit_directed(cw.day0, 2 * DAY, {o: a for o, a in named.items() if a}, tka)
    dist = cw.correct()
    earners = [tw.op, tw.op2, tw.staker, tw.staker2, tw.recipient]
    wrong, right = (earners[k].address for k in who[:2])
    t = tka.address.lower()
    want = dist.get(wrong.lower(), {}).get(t, 0)
    earnings = {e: dict(row) for e, row in dist.items()}
    earnings.setdefault(wrong.lower(), {})[t] = want + delta if want + delta >= 0 else want + 1
    i, tree = cw.post(earnings)
    return tka, i, tree, wrong, right, want


# _moved_leaf_root's arguments
MOVED_LEAF = dict(
    kind=st.sampled_from(["Unique", "Directed"]),
    amount=st.integers(1, 10**30),
    amount2=st.integers(0, 10**30),
    who=st.permutations(range(5)),
    delta=st.integers(-3, 3).filter(bool),
)


@example_settings(2, 30)
@given(**MOVED_LEAF)
def test_property_the_challenge_agrees_with_the_off_chain_rule(cw, chain, kind, amount, amount2, who, delta):
    """Any amounts of a unique-stake submission (`amount`) or an operator-directed one (`amount` to
    op, `amount2` to op2, 0: not named) over the recorded days, any earner's amount moved by
    `delta`: the challenge of that leaf voids the root with the off-chain amount as the recomputed
    one, and another earner's (correct) leaf of the same root is refused."""
    tw = cw.tw
    snap = chain.snapshot()
    try:
        tka, i, tree, wrong, right, want = _moved_leaf_root(cw, kind, amount, amount2, who, delta)
        args = cw.args(i, tree, right, tka.address)
        reverts("root correct for this leaf", cw.rch.challengeRoot, *args, sender=tw.other)
        tx = cw.rch.challengeRoot(*cw.args(i, tree, wrong, tka.address), sender=tw.other)
        assert tx.events[-1].recomputed == want and cw.rc.getDistributionRootAtIndex(i).disabled
    finally:
        chain.restore(snap)


def _inflated_root(cw, kind):
    """A root with staker's TKA (paid by a submission of `kind`) inflated: its index and the
    arguments of a challenge that voids it."""
    tka = _pay(cw, kind)
    earnings, _ = _inflated(cw.correct(), cw.tw.staker.address.lower(), tka.address.lower())
    i, tree = cw.post(earnings)
    return i, cw.args(i, tree, cw.tw.staker.address, tka.address)


def test_hostile_directed_inputs_get_clear_reverts(cw):
    tw = cw.tw
    i, good = _inflated_root(cw, "Directed")
    (sub,) = good[11]
    with_ = lambda v: [*good[:11], v]  # noqa: E731
    reverts("directed submission missing", cw.rch.challengeRoot, *with_([]), sender=tw.other)
    reverts("too many directed submissions", cw.rch.challengeRoot, *with_([sub, sub]), sender=tw.other)
    altered = list(sub)
    altered[2] = [(o, a + 1) for o, a in sub[2]]  # more than the AVS directed
    reverts("submission mismatch", cw.rch.challengeRoot, *with_([tuple(altered)]), sender=tw.other)
    # the directed submission inline in its entry instead: not read, so still missing
    entries = [
        (*x[:6], (sub[0], sub[1], 1, sub[3], sub[4])) if x[0] == rewards.KIND_DIRECTED_SET else x
        for x in good[8]
    ]
    reverts(
        "directed submission missing",
        cw.rch.challengeRoot,
        *good[:8],
        entries,
        *good[9:11],
        [],
        sender=tw.other,
    )
    cw.rch.challengeRoot(*good, sender=tw.other)
    assert cw.rc.getDistributionRootAtIndex(i).disabled


def test_hostile_unique_inputs_get_clear_reverts(cw):
    tw = cw.tw
    _, good = _inflated_root(cw, "Unique")
    unique = next(k for k, x in enumerate(good[8]) if x[0] == rewards.KIND_UNIQUE)
    entries = list(good[8])
    sub = list(entries[unique][6])
    sub[2] += 1  # a larger amount than the AVS escrowed
    entries[unique] = (*entries[unique][:6], tuple(sub))
    reverts("submission mismatch", cw.rch.challengeRoot, *good[:8], entries, *good[9:], sender=tw.other)
    # presented as a total-stake submission: the record does not match
    entries = list(good[8])
    entries[unique] = (rewards.KIND_TOTAL, *entries[unique][1:])
    reverts(
        "submission record mismatch", cw.rch.challengeRoot, *good[:8], entries, *good[9:], sender=tw.other
    )
    # a snapshot with a member dropped
    snap = good[9][0]
    bad = [(snap[0][:1], snap[1][:1])] + good[9][1:]
    reverts("snapshot mismatch", cw.rch.challengeRoot, *good[:9], bad, *good[10:], sender=tw.other)
    # a wrong hint still voids it
    hinted = [(s, tw.op2.address) for s, _ in good[10]]
    tx = cw.rch.challengeRoot(*good[:10], hinted, good[11], sender=tw.other)
    assert tx.events[-1].recomputed == cw.correct()[tw.staker.address.lower()][good[4].lower()]


def test_a_later_root_is_checked_from_its_active_base(cw):
    tw = cw.tw
    i, tree = cw.post(cw.correct())
    cw.rw.activate()
    # a new day of a new submission, recorded; the next root adds it to the base's amounts
    start = cw.rw.day_start(1)
    cw.submit(start, DAY)
    cw.rw.advance(start + 50 - cw.rw.now())
    cw.rch.recordDay(cw.opset, sender=tw.other)
    cw.rw.advance(DAY)
    end = start + DAY
    dist2 = rewards.build_distribution(cw.d, tw.avs.address, end, tree)
    tok = cw.token.address.lower()
    assert all(dist2[e][tok] > v[tok] for e, v in tree.earnings.items())
    tree2 = DistributionTree(dist2)
    j = cw.rw.post(tw.avs, tree2, end)
    check = rewards.check_root(cw.d, j, tree)
    assert check.base.index == i and check.base_position == 1 and rewards.differences(check, tree2) == []
    for e in dist2:
        args = rewards.challenge_args(cw.d, check, tree2, tree, e, tok)
        assert args[7] == 1  # the first submission ended by the base's end: not given again
        reverts("root correct for this leaf", cw.rch.challengeRoot, *args, sender=cw.tw.other)
    with pytest.raises(ChainInputError, match="distribution is needed"):
        rewards.check_root(cw.d, j)


def _watch_args(cw, chain, tmp_path):
    """`eigen rewards watch`'s arguments (the deployment, staker2's key, a trees folder) and the folder."""
    trees = tmp_path / "trees"
    trees.mkdir()
    record = tmp_path / "record.json"
    record.write_text(json.dumps(cw.d.addresses))
    kf = tmp_path / "key"
    kf.write_text(cw.tw.staker2.private_key)
    common = [
        "--deployment",
        str(record),
        "--rpc",
        chain.provider.uri,
        "--trees",
        str(trees),
        "--key",
        str(kf),
    ]
    return common, trees


def test_the_watcher_records_days_and_challenges_a_wrong_root_end_to_end(cw, chain, tmp_path, capsys):
    tw = cw.tw
    tok = cw.token.address.lower()
    # today is paid by a new submission: the watcher records it (once) for the set
    start = cw.rw.day_start(0)
    cw.submit(start, DAY)
    dist = cw.correct()
    i_ok, tree_ok = cw.post(dist)
    j = cw.rw.post(cw.tw.avs2, DistributionTree({tw.staker.address: {tok: 5}}), cw.end)
    common, trees = _watch_args(cw, chain, tmp_path)
    (trees / f"0x{tree_ok.root.hex()}.json").write_text(json.dumps(dist))
    assert main(["rewards", "watch", *common, "--once"]) == 0
    reps = {r["root_index"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert reps[i_ok]["status"] == "correct" and reps[j]["status"] == "unpublished"
    assert rewards.day_records(cw.d, tw.avs.address)[(SET, start)].block > 0
    # the updater's next root (after the first activates) inflates one staker: the watcher voids it
    cw.rw.activate()
    cw.rw.advance(DAY)
    end = start + DAY
    dist2 = rewards.build_distribution(cw.d, tw.avs.address, end, tree_ok)
    bad = {e: dict(v) for e, v in dist2.items()}
    bad[tw.staker.address.lower()][tok] += 7
    tree_bad = DistributionTree(bad)
    k = cw.rw.post(tw.avs, tree_bad, end)
    (trees / f"0x{tree_bad.root.hex()}.json").write_text(json.dumps(bad))
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once", "--no-record"]) == 0
    (rep,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert rep["root_index"] == k and rep["status"] == "challenged" and rep["differences"] == 1
    ch = rep["challenge"]
    assert ch["earner"] == tw.staker.address and ch["posted"] == ch["recomputed"] + 7
    assert cw.rc.getDistributionRootAtIndex(k).disabled and cw.rch.bondOf(tw.owner) == 0
    # a second pass finds nothing pending
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once", "--no-record"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kind", ["Unique", "Directed"])
def test_the_watcher_records_the_days_unique_and_directed_sets_need(cw, kind):
    """A unique-stake submission paying today, or an operator-directed one paid before (they are
    retroactive: the days must be recorded before the AVS submits), makes the watcher record today."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    today = cw.rw.day_start(0)
    assert rewards.record_days(cw.d, key(tw.staker2), tw.avs.address) == []  # the total-stake one ended
    if kind == "Unique":
        cw.submit(today, DAY, kind="Unique", amount=WAD, token=tka)
    else:
        cw.submit_directed(cw.day0, DAY, {tw.op.address: WAD}, tka)
    assert rewards.record_days(cw.d, key(tw.staker2), tw.avs.address) == [SET]
    assert rewards.day_records(cw.d, tw.avs.address)[(SET, today)].block > 0
    assert rewards.record_days(cw.d, key(tw.staker2), tw.avs.address) == []  # once a day


@pytest.mark.parametrize("kind", ["Unique", "Directed"])
def test_the_watcher_challenges_wrong_unique_and_directed_roots(cw, kind, chain, tmp_path, capsys):
    tw = cw.tw
    tka = _pay(cw, kind).address.lower()
    dist = cw.correct()
    bad = {e: dict(v) for e, v in dist.items()}
    bad[tw.staker2.address.lower()][tka] += 3
    tree = DistributionTree(bad)
    k = cw.rw.post(tw.avs, tree, cw.end)
    common, trees = _watch_args(cw, chain, tmp_path)
    (trees / f"0x{tree.root.hex()}.json").write_text(json.dumps(bad))
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once", "--no-record"]) == 0
    (rep,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert rep["root_index"] == k and rep["status"] == "challenged" and rep["unsupported_tokens"] == []
    ch = rep["challenge"]
    assert ch["earner"] == tw.staker2.address and ch["token"].lower() == tka
    assert ch["posted"] == ch["recomputed"] + 3 and cw.rc.getDistributionRootAtIndex(k).disabled
