"""Sets of more than 64 members (docs/rewards.md, "Sets of more than 64 members"): recordDay fixes
the day's block, the member list is recorded in chunks (RewardsChallengeSteps.recordMembers: each a
member at that block, strictly ascending, the count the set's at that block, a chained hash), and a
challenge folds such a day's members in chunks (foldMembers) before its payout: the same rule and
verdict as a day of 64 members. AVSs of more than 64 operators likewise (recordAVSMembers: the union
of the AVS's sets' members at the block of recordAVSDay, each operator's memberships counted against
the sets' member counts), for v1 and operator-directed AVS-wide submissions, by the watcher too.

The world: test_rewards_challenge's with test_rewards_challenge_avs's AVS days (set 1 with `op`
and `op2` and their stakers, a set 2 of `op2` alone, `op`'s AVS split at 3,000 bips, a two-day
total-stake submission in TKB) with 66 more operators in set 1 (68 members, 68 operators of the
AVS), the first with 50 TKA of its own; both days recorded in chunks of 64, for set 1 and the AVS.
The 66 operators join through one Batch (a few blocks)."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from web3 import Web3

from offchain.chain import rewards
from offchain.chain.errors import ChainInputError
from offchain.rewards.calc import total_stake_day
from tests.contracts.support import reverts
from tests.contracts.test_rewards import DAY, RewardsWorld
from tests.contracts.test_rewards_challenge import AMOUNT, SET, ChallengeWorld, key, reference
from tests.contracts.test_rewards_challenge_avs import _pay as _pay_avs
from tests.contracts.test_rewards_challenge_avs import _reference as _avs_reference
from tests.contracts.test_rewards_challenge_avs import watch_a_wrong_v1_root

EXTRA = 66


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    return ChallengeWorld(
        RewardsWorld(project, chain, accounts, deployment), chain, avs_days=True, extra=EXTRA
    )


def _members(cw):
    return cw.operators()


def _reference(cw) -> dict[str, int]:
    """Each earner's TKB by hand: reference_days's weights (the first extra operator 50 of its own,
    every other extra member none); splits op 1,000, op2 2,500, the rest the default 1,000."""
    splits = dict.fromkeys(cw.operators(), 1000)
    splits[cw.tw.op2.address] = 2500
    return reference(cw, lambda w, s: total_stake_day(AMOUNT, 2 * DAY, w, s, splits))


def _record_key(cw, set_id=SET):
    if set_id is rewards.AVS_RECORD:
        return Web3.keccak(abi_encode(["address"], [cw.tw.avs.address]))
    return Web3.keccak(abi_encode(["address", "uint32"], [cw.tw.avs.address, set_id]))


def _wrong_root(cw, earner, delta=1):
    tok = cw.token.address.lower()
    bad = {e: dict(v) for e, v in cw.correct().items()}
    bad[earner.lower()][tok] += delta
    return cw.post(bad)


def _begin(cw, i, tree, e, who, token=None, check=None):
    check = check or rewards.check_root(cw.d, i)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, e, token or cw.token.address, 4)
    cw.steps.beginChallenge(*inputs.head, sender=who)
    return inputs


def _folded(cw, check, tree, e, token, who):
    """Every step of `who`'s challenge of (e, token) in `check`'s root sent: the challenge's
    expected amount."""
    i = check.root.index
    inputs = _begin(cw, i, tree, e, who, token, check)
    for name, args in inputs.calls():
        getattr(cw.steps, name)(i, e, token, *args, sender=who)
    return cw.steps.challenges(cw.steps.challengeId(who, i, e, token)).expected


def test_a_large_sets_days_are_recorded_in_chunks(cw):
    recs = rewards.day_records(cw.d, cw.tw.avs.address)
    for day in (cw.day0, cw.day0 + DAY):
        r = recs[(SET, day)]
        assert r.chunked and not r.too_large and list(r.members) == _members(cw)
        splits = dict(zip(r.members, r.splits, strict=True))
        assert splits[cw.tw.op2.address] == 2500 and splits[cw.extra[0]] == 1000
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
    e = cw.extra[0] if who == "extra" else getattr(tw, who).address
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


# ------------------------------------------------------------ an AVS of more than 64 operators


def test_an_avs_of_more_than_64_operators_is_recorded_in_chunks(cw, capsys):
    tw = cw.tw
    recs = rewards.day_records(cw.d, tw.avs.address)
    for day in (cw.day0, cw.day0 + DAY):
        r = recs[(rewards.AVS_RECORD, day)]
        assert r.chunked and not r.too_large and list(r.members) == _members(cw)  # the union
        splits = dict(zip(r.members, r.splits, strict=True))
        assert splits[tw.op.address] == 3000 and splits[tw.op2.address] == 1000  # the AVS splits
        assert splits[cw.extra[0]] == 1000
        word = cw.rch.dayRecord(_record_key(cw, rewards.AVS_RECORD), day)
        assert word & rewards.LARGE and word & ((1 << 64) - 1) == r.block > recs[(SET, day)].block
    assert len(cw.avs_members_gas) == 2 and max(cw.avs_members_gas) < 5_000_000  # 64 operators, then 4
    with capsys.disabled():
        print("\nrecordAVSMembers, 64 then 4 operators (gas):", cw.avs_members_gas)


def test_hostile_avs_operator_lists_get_their_own_reasons(cw):
    tw, st = cw.tw, cw.steps
    today = cw.rw.now() // DAY * DAY
    m = _members(cw)
    tw.register_operator(tw.recipient)
    cw.rch.recordAVSDay(tw.avs, today, [SET, 2], m[:65], sender=tw.other)  # 68 operators: pending
    tw.register_for_sets(tw.recipient, ids=(SET,))  # a member now, none at the day's block
    ids = [SET, 2]
    for reason, args in (
        ("not an operator of the avs", (tw.avs, today, ids, [tw.resolver.address], False)),
        ("not an operator of the avs", (tw.avs, today, ids, [tw.recipient.address], False)),
        ("operators not ascending", (tw.avs, today, ids, [m[1], m[0]], False)),
        ("duplicate operator", (tw.avs, today, ids, [m[0], m[0]], False)),
        ("missing operator", (tw.avs, today, ids, m[:64], True)),  # (64 of 68)
        ("missing operator set", (tw.avs, today, [SET], m[:1], False)),
        ("operator sets not ascending", (tw.avs, today, [2, SET], m[:1], False)),
        ("not an operator set", (tw.avs, today, [SET, 3], m[:1], False)),
        ("day over", (tw.avs, cw.day0, ids, m[:1], False)),
        ("no operator list pending", (tw.avs2, today, ids, m[:1], False)),
    ):
        reverts(reason, st.recordAVSMembers, *args, sender=tw.staker)
    # a griefer's list skipping an operator can never complete, and blocks nobody else's
    st.recordAVSMembers(tw.avs, today, ids, [m[0], m[2]], False, sender=tw.staker)
    reverts(
        "operators not ascending", st.recordAVSMembers, tw.avs, today, ids, [m[1]], False, sender=tw.staker
    )
    reverts("missing operator", st.recordAVSMembers, tw.avs, today, ids, m[3:67], True, sender=tw.staker)
    assert rewards.day_records(cw.d, tw.avs.address)[(rewards.AVS_RECORD, today)].too_large
    assert len(rewards.record_avs_members(cw.d, key(tw.other), tw.avs.address, today)) == 2
    r = rewards.day_records(cw.d, tw.avs.address)[(rewards.AVS_RECORD, today)]
    assert r.chunked and list(r.members) == m  # without the late member
    reverts(
        "no operator list pending", st.recordAVSMembers, tw.avs, today, ids, [m[3]], False, sender=tw.staker
    )
    with pytest.raises(ChainInputError, match="no operator list pending"):
        rewards.record_avs_members(cw.d, key(tw.other), tw.avs.address, today)


def test_an_avs_day_left_too_large_is_not_recomputed(cw):
    """A day recorded as too large whose operator list nobody completed: a v1 submission paying it
    is reported (the watcher's unsupported_tokens), not recomputed."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    today = cw.rw.now() // DAY * DAY
    cw.rch.recordAVSDay(tw.avs, today, [SET, 2], _members(cw)[:65], sender=tw.other)
    cw.rw.advance(DAY)
    cw.rw.fund(tw.avs, tka, AMOUNT)
    cw.rc.createAVSRewardsSubmission([(cw.sams, tka.address, AMOUNT, today, DAY)], sender=tw.avs)
    i = cw.rw.post(tw.avs, b"\x01" * 32, today + DAY)
    assert rewards.check_root(cw.d, i).unsupported == {tka.address.lower()}
    with pytest.raises(ChainInputError, match="not recomputed here"):
        rewards.build_distribution(cw.d, tw.avs.address, today + DAY)


@pytest.mark.parametrize("kind", ["V1", "DirectedAVS"])
def test_a_large_avs_day_is_the_reference_rule_in_steps(cw, kind, capsys):
    """The distribution is the reference's; a correct root survives its leaves' challenges in steps
    (an operator's commission and own stake, a staker's part, the extra operator's own stake);
    a wrong root is voided in steps, by the watcher's function, with the reference amount."""
    tw = cw.tw
    tka = _pay_avs(cw, kind).address
    ref = _avs_reference(cw, kind)
    dist = cw.correct()
    assert {e: row[tka.lower()] for e, row in dist.items() if tka.lower() in row} == ref
    snap = cw.chain.snapshot()
    i, tree = cw.post(dist)
    leaves = (tw.op.address, tw.staker2.address, cw.extra[0]) if kind == "V1" else (tw.op.address,)
    check = rewards.check_root(cw.d, i)
    for e in leaves:
        assert _folded(cw, check, tree, e, tka, tw.staker2) == ref[e.lower()]
        reverts("root correct for this leaf", cw.steps.finishChallenge, i, e, tka, sender=tw.staker2)
    cw.chain.restore(snap)  # (a later root of the same end: instead of the correct one)
    e, delta = (tw.staker.address, 1) if kind == "V1" else (tw.staker2.address, -4)
    bad = {x: dict(v) for x, v in dist.items()}
    bad[e.lower()][tka.lower()] += delta
    i, tree = cw.post(bad)
    check = rewards.check_root(cw.d, i)
    assert check.unsupported == set()
    with pytest.raises(ChainInputError, match="more than one transaction"):
        rewards.challenge_args(cw.d, check, tree, None, e, tka)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, e, tka, 4)
    assert [n for n, _ in inputs.calls()] == ["continueChallenge"] + ["foldMembers"] * 4
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, e, tka, 4)
    assert out["recomputed"] == ref[e.lower()] and out["posted"] == ref[e.lower()] + delta
    assert cw.rc.getDistributionRootAtIndex(i).disabled and max(out["step_gas"]) < 15_000_000
    with capsys.disabled():
        print(f"\nchallenge in steps over 2 AVS days of 68 operators, {kind} (gas):", out["step_gas"])


def test_a_forged_avs_operator_chunk_never_completes_the_day(cw):
    """A fold of the AVS's day with a stranger in place of an operator, or an operator's AVS split
    altered, never reaches the record: the day is not paid and the challenge cannot finish."""
    tw, st = cw.tw, cw.steps
    tka = _pay_avs(cw, "V1").address
    e = tw.staker.address
    i, tree = cw.post({e.lower(): {tka.lower(): 1}})  # any root: the challenge never finishes
    calls = _begin(cw, i, tree, e, tw.staker2, tka).calls()
    st.continueChallenge(i, e, tka, *calls[0][1], sender=tw.staker2)
    entry, directed, members, splits = calls[1][1]
    at = members.index(tw.op.address) if tw.op.address in members else calls[2][1][2].index(tw.op.address)
    chunk = 1 if tw.op.address in members else 2
    for forged in ("stranger", "split"):
        snap = cw.chain.snapshot()
        try:
            for k in (1, 2):
                e_, d_, m_, s_ = calls[k][1]
                if forged == "stranger" and k == 2:
                    m_ = [*m_[:-1], tw.recipient.address]
                if forged == "split" and k == chunk:
                    s_ = [*s_[:at], 1000, *s_[at + 1 :]]
                st.foldMembers(i, e, tka, e_, d_, m_, s_, sender=tw.staker2)
            c = st.challenges(st.challengeId(tw.staker2, i, e, tka))
            assert c.day == cw.day0 and c.expected == 0
            reverts("challenge not folded", st.finishChallenge, i, e, tka, sender=tw.staker2)
        finally:
            cw.chain.restore(snap)


def test_the_watcher_records_a_large_avs_day_and_challenges_in_steps(cw, chain, tmp_path, capsys):
    def check_today(rec):  # 68 operators: recordAVSDay, then recordAVSMembers 64 and 4
        assert rec.chunked and list(rec.members) == _members(cw)

    rep = watch_a_wrong_v1_root(cw, chain, tmp_path, capsys, check_today)
    assert rep["mode"] == "steps" and rep["challenge"]["steps"] == 1 + 4
