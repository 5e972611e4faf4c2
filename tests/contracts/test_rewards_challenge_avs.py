"""Roots paying v1 AVS submissions (createAVSRewardsSubmission) and operator-directed AVS-wide ones
(createOperatorDirectedAVSRewardsSubmission) are challengeable (docs/rewards.md, "The AVS's
operators"): recordAVSDay fixes, per day, the operators of any of the AVS's operator sets (their
union, proven complete) and their operator-AVS splits; a day of such a submission is recomputed over
them like a total-stake (or operator-directed) set day. The earner's part needs only its own shares
and its operator's delegated total at the day's block (the DelegationManager's histories), never the
operator's list of stakers.

The world: test_rewards_challenge's, with a set 2 of `op2` alone (so the AVS's operators are the
union of {op, op2} and {op2}), `op`'s AVS split at 3,000 bips, and the AVS's operators recorded
beside set 1 on both days."""

from __future__ import annotations

import json

import pytest

from offchain.chain import rewards
from offchain.cli import main
from offchain.rewards.calc import operator_directed_day, total_stake_day
from tests.contracts.support import reverts
from tests.contracts.test_rewards import DAY, WAD, RewardsWorld
from tests.contracts.test_rewards_challenge import (
    AMOUNT,
    SET,
    ChallengeWorld,
    _inflated,
    _moved,
    _watch_args,
    key,
    reference,
)
from tests.contracts.test_rewards_challenge_steps import _in_steps, _one_transaction

DIRECTED = {"op": 700 * WAD, "op2": 333 * WAD}


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    return ChallengeWorld(RewardsWorld(project, chain, accounts, deployment), chain, avs_days=True)


def _ops(cw):
    return sorted((o.address for o in cw.ops), key=lambda a: int(a, 16))


def _pay(cw, kind):
    """The two recorded days paid in TKA by a v1 submission or an operator-directed AVS-wide one."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    if kind == "V1":
        cw.rw.fund(tw.avs, tka, AMOUNT)
        cw.rc.createAVSRewardsSubmission([(cw.sams, tka.address, AMOUNT, cw.day0, 2 * DAY)], sender=tw.avs)
    else:
        amounts = {getattr(tw, k).address: v for k, v in DIRECTED.items()}
        cw.submit_directed(cw.day0, 2 * DAY, amounts, tka, for_set=False)
    return tka


def _reference(cw, kind) -> dict[str, int]:
    """Each earner's TKA by hand: calc's day rules over the AVS's operators (every extra operator
    too, of which only the first has stake), their AVS splits, and reference_days's weights."""
    tw = cw.tw
    splits = dict.fromkeys(cw.operators(), 1000)
    splits[tw.op.address] = 3000  # the AVS splits, not set 1's (op2 2,500 there)
    if kind == "V1":
        return reference(cw, lambda w, s: total_stake_day(AMOUNT, 2 * DAY, w, s, splits))
    amounts = {getattr(tw, k).address: v for k, v in DIRECTED.items()}
    return reference(cw, lambda w, s: operator_directed_day(amounts, 2 * DAY, splits, w, s, splits))


def test_the_avs_days_hold_the_union_of_its_sets_and_the_avs_splits(cw):
    recs = rewards.day_records(cw.d, cw.tw.avs.address)
    for day in (cw.day0, cw.day0 + DAY):
        r = recs[(rewards.AVS_RECORD, day)]
        assert list(r.members) == _ops(cw) and not r.too_large
        assert dict(zip(r.members, r.splits, strict=True)) == {
            cw.tw.op.address: 3000,
            cw.tw.op2.address: 1000,
        }
        assert r.block == recs[(SET, day)].block + 1  # recorded in the transaction after set 1's
    assert rewards.avs_operators(cw.d, cw.tw.avs.address) == ([SET, 2], _ops(cw))


def test_hostile_avs_day_records_get_their_own_reasons(cw):
    tw, rch = cw.tw, cw.rch
    today = cw.rw.now() // DAY * DAY
    a, b = _ops(cw)
    forged = sorted([a, b, tw.recipient.address], key=lambda x: int(x, 16))
    for reason, day, ids, ops in (
        ("wrong day", today - DAY, [SET, 2], [a, b]),
        ("missing operator set", today, [SET], [a, b]),
        ("operator sets not ascending", today, [2, SET], [a, b]),
        ("not an operator set", today, [SET, 3], [a, b]),
        ("not an operator of the avs", today, [SET, 2], forged),  # a forged operator
        ("operators not ascending", today, [SET, 2], [b, a]),
        ("duplicate operator", today, [SET, 2], [a, a, b]),
        ("missing operator", today, [SET, 2], [a]),
        ("missing operator", today, [SET, 2], [tw.op2.address]),
    ):
        reverts(reason, rch.recordAVSDay, tw.avs, day, ids, ops, sender=tw.other)
    rch.recordAVSDay(tw.avs, today, [SET, 2], [a, b], sender=tw.other)
    reverts("day already recorded", rch.recordAVSDay, tw.avs, today, [SET, 2], [a, b], sender=tw.other)


@pytest.mark.parametrize("kind", ["V1", "DirectedAVS"])
def test_the_distribution_is_the_reference_rule(cw, kind):
    tka = _pay(cw, kind).address.lower()
    dist = cw.correct()
    assert {e: row[tka] for e, row in dist.items() if tka in row} == _reference(cw, kind)


@pytest.mark.parametrize("kind", ["V1", "DirectedAVS"])
def test_a_correct_root_survives_every_leaf_in_one_transaction_and_in_steps(cw, chain, kind):
    tka = _pay(cw, kind).address
    dist = cw.correct()
    i, tree = cw.post(dist)
    for e in [*sorted(dist), cw.tw.recipient.address.lower()]:
        one = _one_transaction(cw, chain, i, tree, e, tka)
        snap = chain.snapshot()
        try:
            many, n = _in_steps(cw, i, tree, e, tka, 1, cw.tw.staker2)
        finally:
            chain.restore(snap)
        assert "root correct for this leaf" in one and "root correct for this leaf" in many and n == 2
    assert not cw.rc.getDistributionRootAtIndex(i).disabled


@pytest.mark.parametrize("wrong", [_inflated, _moved])
@pytest.mark.parametrize("kind", ["V1", "DirectedAVS"])
def test_a_wrong_root_is_voided_in_steps_with_the_reference_verdict(cw, chain, kind, wrong):
    tw = cw.tw
    tka = _pay(cw, kind).address
    ref = _reference(cw, kind)
    earnings, differing = wrong(cw.correct(), tw.staker.address.lower(), tka.lower())
    i, tree = cw.post(earnings)
    for e in differing:
        one = _one_transaction(cw, chain, i, tree, e, tka)
        snap = chain.snapshot()
        try:
            many, n = _in_steps(cw, i, tree, e, tka, 1, tw.staker2)
            assert n == 2 and many == one == (earnings[e][tka.lower()], ref[e])
            assert cw.rc.getDistributionRootAtIndex(i).disabled
        finally:
            chain.restore(snap)
    # and by the watcher's function, in steps of one day
    check = rewards.check_root(cw.d, i)
    assert [x[0].lower() for x in rewards.differences(check, tree)] == sorted(
        differing, key=lambda a: int(a, 16)
    )
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, differing[0], tka, 1)
    assert out["steps"] == 2 and out["recomputed"] == ref[differing[0]] and len(out["step_gas"]) == 4
    assert cw.rc.getDistributionRootAtIndex(i).disabled


def test_a_snapshot_that_is_not_the_avs_record_is_refused(cw):
    """The AVS's operators in a challenge are checked against the day's record: a list forged, out
    of order, with a duplicate or a member missing, or another day's list, is refused."""
    tw = cw.tw
    tka = _pay(cw, "V1").address
    bad = {e: dict(v) for e, v in cw.correct().items()}
    bad[tw.staker.address.lower()][tka.lower()] += 1
    i, tree = cw.post(bad)
    good = cw.args(i, tree, tw.staker.address, tka)
    members, splits = good[9][0]
    a, b = members
    for snap in (
        ([a, tw.recipient.address], splits),  # forged
        ([b, a], splits[::-1]),  # out of order
        ([a, a, b], [splits[0], *splits]),  # duplicated
        ([a], splits[:1]),  # a member missing
        ([a, b], [1000, 1000]),  # other splits
    ):
        reverts("snapshot mismatch", cw.rch.challengeRoot, *good[:9], [snap], *good[10:], sender=tw.other)
    # another day: the AVS's operators recorded today (a set 1 of op alone) are not day0's
    cw.tw.am.deregisterFromOperatorSets((tw.op2, tw.avs, [SET, 2]), sender=tw.op2)
    today = cw.rw.now() // DAY * DAY
    cw.rch.recordAVSDay(tw.avs, today, [SET, 2], [tw.op.address], sender=tw.other)
    other_day = rewards.day_records(cw.d, tw.avs.address)[(rewards.AVS_RECORD, today)]
    snap = (list(other_day.members), list(other_day.splits))
    reverts("snapshot mismatch", cw.rch.challengeRoot, *good[:9], [snap], *good[10:], sender=tw.other)
    tx = cw.rch.challengeRoot(*good, sender=tw.other)
    assert tx.events[-1].posted == tx.events[-1].recomputed + 1


def test_an_avs_day_nobody_recorded_pays_nothing(cw):
    """A v1 submission over a day recorded for set 1 but not for the AVS pays nothing that day."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    cw.rw.advance(DAY)
    day = cw.rw.now() // DAY * DAY
    cw.rch.recordDay(cw.opset, sender=tw.other)  # the set's day only
    cw.rw.advance(DAY)
    cw.rw.fund(tw.avs, tka, AMOUNT)
    cw.rc.createAVSRewardsSubmission([(cw.sams, tka.address, AMOUNT, day, DAY)], sender=tw.avs)
    dist = rewards.build_distribution(cw.d, tw.avs.address, day + DAY)
    assert not any(tka.address.lower() in row for row in dist.values())


def watch_a_wrong_v1_root(cw, chain, tmp_path, capsys, check_today):
    """A v1 submission in TKA over the two recorded days and today: the watcher's first pass
    records today for the AVS (then `check_today(today's record)`), its next one challenges a root
    with staker2's TKA inflated by 5 (the challenge's earner, token and amounts checked here, the
    root voided); returns the report."""
    tw = cw.tw
    tka = cw.rw.tokens["TKA"]
    today = cw.rw.day_start(0)
    cw.rw.fund(tw.avs, tka, AMOUNT)
    cw.rc.createAVSRewardsSubmission([(cw.sams, tka.address, AMOUNT, cw.day0, 3 * DAY)], sender=tw.avs)
    common, trees = _watch_args(cw, chain, tmp_path)
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once"]) == 0
    assert capsys.readouterr().out == ""  # no root yet; today recorded for the AVS (a v1 day)
    check_today(rewards.day_records(cw.d, tw.avs.address)[(rewards.AVS_RECORD, today)])
    bad = {e: dict(v) for e, v in cw.correct().items()}
    want = bad[tw.staker2.address.lower()][tka.address.lower()]
    bad[tw.staker2.address.lower()][tka.address.lower()] += 5
    i, tree = cw.post(bad)
    (trees / f"0x{tree.root.hex()}.json").write_text(json.dumps(bad))
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once", "--no-record"]) == 0
    (rep,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert rep["root_index"] == i and rep["status"] == "challenged" and rep["unsupported_tokens"] == []
    ch = rep["challenge"]
    assert ch["earner"] == tw.staker2.address and ch["token"] == tka.address
    assert ch["posted"] == ch["recomputed"] + 5 == want + 5
    assert cw.rc.getDistributionRootAtIndex(i).disabled
    return rep


def test_the_watcher_records_the_avs_day_and_challenges_a_wrong_v1_root(cw, chain, tmp_path, capsys):
    tw = cw.tw

    def check_today(rec):
        assert list(rec.members) == _ops(cw) and not rec.chunked
        assert rewards.record_avs_day(cw.d, key(tw.staker2), tw.avs.address) is False  # once a day

    assert rewards.record_avs_day(cw.d, key(tw.staker2), tw.avs.address) is False  # nothing pays today
    rep = watch_a_wrong_v1_root(cw, chain, tmp_path, capsys, check_today)
    assert rep["mode"] == "one transaction"


def test_the_watchers_challenge_voids_a_wrong_avs_wide_root_in_steps(cw):
    tw = cw.tw
    tka = _pay(cw, "DirectedAVS")
    bad = {e: dict(v) for e, v in cw.correct().items()}
    bad[tw.op.address.lower()][tka.address.lower()] -= 4
    i, tree = cw.post(bad)
    check = rewards.check_root(cw.d, i)
    assert rewards.differences(check, tree)[0][:2] == (tw.op.address, tka.address)
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, tw.op.address, tka.address, 1)
    assert out["posted"] + 4 == out["recomputed"] == _reference(cw, "DirectedAVS")[tw.op.address.lower()]
    assert cw.rc.getDistributionRootAtIndex(i).disabled
