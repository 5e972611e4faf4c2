"""Sets of more than 64 members (docs/rewards.md, "Sets of more than 64 members"): recordDay fixes
the day's block, the member list is recorded in chunks (RewardsChallengeSteps.recordMembers: each a
member at that block, strictly ascending, the count the set's at that block, a chained hash), and a
challenge folds such a day's members in chunks (foldMembers) before its payout: the same rule and
verdict as a day of 64 members.

The world: test_rewards_challenge's (set 1 with `op` and `op2` and their stakers, a two-day
total-stake submission in TKB) with 66 more operators in set 1 (68 members), the first with 50 TKA
of its own; both days recorded in chunks of 64."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from web3 import Web3

from offchain.chain import rewards
from offchain.chain.errors import ChainInputError
from offchain.rewards.calc import total_stake_day
from tests.contracts.support import reverts
from tests.contracts.test_rewards import DAY, WAD, RewardsWorld
from tests.contracts.test_rewards_challenge import AMOUNT, SET, ChallengeWorld, key

EXTRA = 66


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    return ChallengeWorld(RewardsWorld(project, chain, accounts, deployment), chain, extra=EXTRA)


def _members(cw):
    return sorted([o.address for o in (*cw.ops, *cw.extra)], key=lambda a: int(a, 16))


def _reference(cw) -> dict[str, int]:
    """Each earner's TKB by hand: weights op 400, op2 240 then 440, the first extra operator 50
    (in WAD^2), every other member 0; splits op 1,000, op2 2,500, the rest the default 1,000."""
    tw = cw.tw
    op, op2, st, st2, x = (a.address for a in (tw.op, tw.op2, tw.staker, tw.staker2, cw.extra[0]))
    W = WAD * WAD
    want: dict[str, int] = {}
    for w2, s2 in ((240, 140), (440, 340)):
        weights = {op: 400 * W, op2: w2 * W, x: 50 * W}
        stakers = {op: {op: 100 * W, st: 300 * W}, op2: {op2: 100 * W, st2: s2 * W}, x: {x: 50 * W}}
        splits = {op: 1000, op2: 2500, x: 1000}
        for e, v in total_stake_day(AMOUNT, 2 * DAY, weights, stakers, splits).earnings().items():
            want[e.lower()] = want.get(e.lower(), 0) + v
    return want


def _record_key(cw):
    return Web3.keccak(abi_encode(["address", "uint32"], [cw.tw.avs.address, SET]))


def _wrong_root(cw, earner, delta=1):
    tok = cw.token.address.lower()
    bad = {e: dict(v) for e, v in cw.correct().items()}
    bad[earner.lower()][tok] += delta
    return cw.post(bad)


def _begin(cw, i, tree, e, who):
    check = rewards.check_root(cw.d, i)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, e, cw.token.address, 4)
    cw.steps.beginChallenge(*inputs.head, sender=who)
    return inputs


def test_a_large_sets_days_are_recorded_in_chunks(cw):
    recs = rewards.day_records(cw.d, cw.tw.avs.address)
    for day in (cw.day0, cw.day0 + DAY):
        r = recs[(SET, day)]
        assert r.chunked and not r.too_large and list(r.members) == _members(cw)
        splits = dict(zip(r.members, r.splits, strict=True))
        assert splits[cw.tw.op2.address] == 2500 and splits[cw.extra[0].address] == 1000
        word = cw.rch.dayRecord(_record_key(cw), day)
        assert word & rewards.LARGE and word & ((1 << 64) - 1) == r.block


def test_hostile_member_lists_get_their_own_reasons(cw, capsys):
    tw, st = cw.tw, cw.steps
    today = cw.rw.now() // DAY * DAY
    cw.rch.recordDay(cw.opset, sender=tw.other)  # 68 members: the list is pending
    m = _members(cw)
    for reason, args in (
        ("not a member", (cw.opset, today, [tw.recipient.address], False)),
        ("members not ascending", (cw.opset, today, [m[1], m[0]], False)),
        ("duplicate member", (cw.opset, today, [m[0], m[0]], False)),
        ("missing member", (cw.opset, today, m[:64], True)),
        ("day over", (cw.opset, cw.day0, m[:1], False)),
        ("no member list pending", ((tw.avs.address, 7), today, m[:1], False)),
    ):
        reverts(reason, st.recordMembers, *args, sender=tw.staker)
    reverts("unauthorized caller", cw.rch.completeMembers, _record_key(cw), today, 1 << 64, sender=tw.other)
    # a griefer's list skipping a member can never complete, and blocks nobody else's
    st.recordMembers(cw.opset, today, [m[0], m[2]], False, sender=tw.staker)
    reverts("members not ascending", st.recordMembers, cw.opset, today, [m[1]], False, sender=tw.staker)
    gas = rewards.record_members(cw.d, key(tw.other), tw.avs.address, SET, today)
    assert len(gas) == 2 and max(gas) < 5_000_000  # 64 members, then 4
    with capsys.disabled():
        print("\nrecordMembers, 64 then 4 members (gas):", gas)
    assert rewards.day_records(cw.d, tw.avs.address)[(SET, today)].chunked
    reverts("no member list pending", st.recordMembers, cw.opset, today, [m[3]], False, sender=tw.staker)
    with pytest.raises(ChainInputError, match="no member list pending"):
        rewards.record_members(cw.d, key(tw.other), tw.avs.address, SET, today)


def test_the_distribution_over_a_large_set_is_the_reference_rule(cw):
    tok = cw.token.address.lower()
    assert {e: row[tok] for e, row in cw.correct().items()} == _reference(cw)


def test_a_wrong_root_over_chunked_days_is_voided_in_steps(cw, capsys):
    tw = cw.tw
    i, tree = _wrong_root(cw, tw.staker.address)
    check = rewards.check_root(cw.d, i)
    with pytest.raises(ChainInputError, match="more than one transaction"):
        rewards.challenge_args(cw.d, check, tree, None, tw.staker.address, cw.token.address)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, tw.staker.address, cw.token.address, 4)
    # the first step walks to day 0 and stops there; each day then folds 64 + 4 members
    assert [n for n, _ in inputs.calls()] == ["continueChallenge"] + ["foldMembers"] * 4
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, tw.staker.address, cw.token.address, 4)
    ref = _reference(cw)[tw.staker.address.lower()]
    assert out["recomputed"] == ref and out["posted"] == ref + 1 and out["steps"] == 5
    assert cw.rc.getDistributionRootAtIndex(i).disabled
    assert max(out["step_gas"]) < 15_000_000
    with capsys.disabled():
        print("\nchallenge in steps over 2 days of 68 members (gas):", out["step_gas"])


@pytest.mark.parametrize("who", ["op", "op2", "extra"])
def test_a_correct_leaf_over_chunked_days_is_refused_at_the_finish(cw, who):
    """The operators' leaves (commission and own stake), one with its own stake among the extra
    operators: the root is correct for them, wrong only for staker."""
    tw = cw.tw
    e = (cw.extra[0] if who == "extra" else getattr(tw, who)).address
    i, tree = _wrong_root(cw, tw.staker.address)
    inputs = _begin(cw, i, tree, e, tw.staker2)
    for name, args in inputs.calls():
        getattr(cw.steps, name)(i, e, cw.token.address, *args, sender=tw.staker2)
    reverts("root correct for this leaf", cw.steps.finishChallenge, i, e, cw.token.address, sender=tw.staker2)
    c = cw.steps.challenges(cw.steps.challengeId(tw.staker2, i, e, cw.token.address))
    assert c.expected == _reference(cw)[e.lower()]


def test_hostile_folds_get_their_own_reasons(cw):
    tw, st = cw.tw, cw.steps
    e, t = tw.staker.address, cw.token.address
    i, tree = _wrong_root(cw, e)
    inputs = _begin(cw, i, tree, e, tw.staker2)
    calls = inputs.calls()
    entry, directed, members, splits = calls[1][1]
    fold = (i, e, t, entry, directed, members, splits)
    reverts("no large day at the cursor", st.foldMembers, *fold, sender=tw.staker2)  # cursor at (0, 0)
    reverts("no such challenge", st.foldMembers, *fold, sender=tw.other)
    st.continueChallenge(i, e, t, *calls[0][1], sender=tw.staker2)
    reverts("empty chunk", st.continueChallenge, i, e, t, 0, cw.day0, [entry], [], [], [], sender=tw.staker2)
    altered = list(entry)
    altered[3] += DAY
    reverts(
        "submission record mismatch",
        st.foldMembers,
        i,
        e,
        t,
        altered,
        directed,
        members,
        splits,
        sender=tw.staker2,
    )
    reverts(
        "invalid member chunk",
        st.foldMembers,
        i,
        e,
        t,
        entry,
        directed,
        members,
        splits[:-1],
        sender=tw.staker2,
    )
    reverts("invalid member chunk", st.foldMembers, i, e, t, entry, directed, [], [], sender=tw.staker2)
    # a forged list (a stranger in place of a member) never reaches the record: nothing is paid
    forged = [*members[:-1], tw.recipient.address]
    st.foldMembers(i, e, t, entry, directed, forged, splits, sender=tw.staker2)
    st.foldMembers(i, e, t, *calls[2][1], sender=tw.staker2)
    c = st.challenges(st.challengeId(tw.staker2, i, e, t))
    assert c.day == cw.day0 and c.expected == 0
    reverts("challenge not folded", st.finishChallenge, i, e, t, sender=tw.staker2)
