"""The challenge over several transactions (contracts/rewards/RewardsChallengeSteps.vy, docs/rewards.md
"A challenge in steps"), on test_rewards_challenge.py's world: its verdict is challengeRoot's on
every leaf challengeRoot takes (differential, and a property over amounts, earners and step sizes);
a leaf wider than one transaction (five operator-directed submissions) is challenged in steps, by
hand and by the watcher; every hostile step is refused with its own reason (out of order, repeated,
skipped, altered, beyond the chunk, empty, after the window, before all chunks, another's
challenge, a changed base); two challengers run at once and a griefer cannot stall an honest one."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.chain import rewards
from offchain.chain.errors import ChainInputError
from offchain.cli import main
from offchain.rewards.merkle import DistributionTree
from tests.contracts.support import example_settings, reverts
from tests.contracts.test_rewards import BOND, DAY, WAD, RewardsWorld
from tests.contracts.test_rewards_challenge import (
    MOVED_LEAF,
    ChallengeWorld,
    _inflated,
    _moved,
    _moved_leaf_root,
    _pay,
    _watch_args,
    key,
)


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    return ChallengeWorld(RewardsWorld(project, chain, accounts, deployment), chain)  # ape isolates each test


def _token(cw, kind):
    return cw.token if kind == "Total" else _pay(cw, kind)


def _one_transaction(cw, chain, i, tree, e, t):
    """challengeRoot's verdict on (e, t): (posted, recomputed), or its revert reason; undone."""
    snap = chain.snapshot()
    try:
        tx = cw.rch.challengeRoot(*cw.args(i, tree, e, t), sender=cw.tw.other)
        ev = tx.events[-1]
        return ev.posted, ev.recomputed
    except Exception as exc:  # noqa: BLE001 - the reason is the verdict compared
        return str(exc)
    finally:
        chain.restore(snap)


def _in_steps(cw, i, tree, e, t, days_per_step, who):
    """Every step of `who`'s challenge of (e, t) by the contracts directly: (posted, recomputed)
    from RootChallenged, or the finish's revert reason; the number of steps."""
    check = rewards.check_root(cw.d, i)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, e, t, days_per_step)
    cw.steps.beginChallenge(*inputs.head, sender=who)
    for args in inputs.step_args():
        cw.steps.continueChallenge(i, e, t, *args, sender=who)
    try:
        tx = cw.steps.finishChallenge(i, e, t, sender=who)
    except Exception as exc:  # noqa: BLE001
        return str(exc), len(inputs.chunks)
    ev = next(x for x in tx.events if x.event_name == "RootChallenged")
    return (ev.posted, ev.recomputed), len(inputs.chunks)


@pytest.mark.parametrize("wrong", [_inflated, _moved])
@pytest.mark.parametrize("kind", ["Total", "Unique", "Directed"])
def test_steps_reach_challenge_roots_verdict_on_every_leaf(cw, chain, kind, wrong):
    """The same worlds as the one-transaction tests: every leaf of a wrong root (wrong ones voided
    with the same amounts, correct ones refused with the same reason), one recorded day a step."""
    tok = _token(cw, kind).address
    dist = cw.correct()
    earnings, differing = wrong(dist, cw.tw.staker.address.lower(), tok.lower())
    i, tree = cw.post(earnings)
    for e in sorted(dist):
        one = _one_transaction(cw, chain, i, tree, e, tok)
        snap = chain.snapshot()
        try:
            many, n = _in_steps(cw, i, tree, e, tok, 1, cw.tw.staker2)
            assert n == 2  # one step per recorded day
            if isinstance(one, str):
                assert "root correct for this leaf" in one and "root correct for this leaf" in many
                assert e not in differing
            else:
                assert many == one and e in differing and cw.rc.getDistributionRootAtIndex(i).disabled
        finally:
            chain.restore(snap)


@example_settings(2, 25)
@given(**MOVED_LEAF, days_per_step=st.sampled_from([1, 2]))
def test_property_steps_equal_one_transaction(cw, chain, kind, amount, amount2, who, delta, days_per_step):
    """Any amounts, any earner's amount moved by `delta`, any step size: the steps' verdict on the
    wrong leaf and on a correct one is challengeRoot's, and the wrong one's is the off-chain amount."""
    tw = cw.tw
    snap = chain.snapshot()
    try:
        tka, i, tree, wrong, right, want = _moved_leaf_root(cw, kind, amount, amount2, who, delta)
        one_right = _one_transaction(cw, chain, i, tree, right, tka.address)
        many_right, _ = _in_steps(cw, i, tree, right, tka.address, days_per_step, tw.staker)
        assert "root correct for this leaf" in one_right and "root correct for this leaf" in many_right
        one = _one_transaction(cw, chain, i, tree, wrong, tka.address)
        many, n = _in_steps(cw, i, tree, wrong, tka.address, days_per_step, tw.staker2)
        assert many == one and many[1] == want and n == 2 // days_per_step
        assert cw.rc.getDistributionRootAtIndex(i).disabled
    finally:
        chain.restore(snap)


# ------------------------------------------------------------ a leaf wider than one transaction

WIDE = 5  # operator-directed submissions in one token: one transaction counts 4


def _wide(cw):
    """Five operator-directed submissions in TKA over the two recorded days, and a root with
    staker's TKA inflated by 1: its index, tree and the correct amount."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    for k in range(WIDE):
        cw.submit_directed(cw.day0, 2 * DAY, {tw.op.address: (k + 1) * WAD, tw.op2.address: 3 * WAD}, tka)
    dist = cw.correct()
    earnings, _ = _inflated(dist, tw.staker.address.lower(), tka.address.lower())
    i, tree = cw.post(earnings)
    return i, tree, tka.address, dist[tw.staker.address.lower()][tka.address.lower()]


def test_a_leaf_wider_than_one_transaction_is_challenged_in_steps(cw, chain):
    tw = cw.tw
    i, tree, tka, want = _wide(cw)
    check = rewards.check_root(cw.d, i)
    with pytest.raises(ChainInputError, match="more than one transaction"):
        rewards.challenge_args(cw.d, check, tree, None, tw.staker.address, tka)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, tw.staker.address, tka)
    assert [len(c.directed) for c in inputs.chunks] == [4, 1]
    bal = tw.staker2.balance
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, tw.staker.address, tka, 2)
    # 10 directed days, 2 a step: 5 steps (the directed submission a step stops in is given again)
    assert out["steps"] == 5 and len(out["step_gas"]) == 7
    assert (out["posted"], out["recomputed"], out["slashed"], out["reward"]) == (
        want + 1,
        want,
        BOND,
        BOND // 2,
    )
    assert cw.rc.getDistributionRootAtIndex(i).disabled and cw.rch.bondOf(tw.owner) == 0
    assert tw.staker2.balance > bal
    reverts("root disabled", cw.steps.beginChallenge, *inputs.head, sender=tw.other)


def test_a_leaf_after_more_submissions_than_one_transaction_takes(cw):
    """33 total-stake submissions in TKA after the fixture's TKB one: a TKB leaf's challenge must
    pass all 34 (one transaction takes 32): two steps, cut at the 32nd submission."""
    tw, tka = cw.tw, cw.rw.tokens["TKA"]
    sub = (cw.sams, tka.address, WAD, cw.day0, DAY)
    cw.rw.fund(tw.avs, tka, 33 * WAD)
    for n in (16, 16, 1):
        cw.rc.createTotalStakeRewardsSubmission(cw.opset, [sub] * n, sender=tw.avs)
    tok = cw.token.address
    dist = cw.correct()
    earnings, _ = _inflated(dist, tw.staker.address.lower(), tok.lower())
    i, tree = cw.post(earnings)
    check = rewards.check_root(cw.d, i)
    with pytest.raises(ChainInputError, match="more than one transaction"):
        rewards.challenge_args(cw.d, check, tree, None, tw.staker.address, tok)
    inputs = rewards.challenge_inputs(cw.d, check, tree, None, tw.staker.address, tok)
    assert [(c.from_nonce, c.from_day, len(c.entries), len(c.days)) for c in inputs.chunks] == [
        (0, 0, 32, 2),
        (32, 0, 2, 0),
    ]
    out = rewards.challenge(cw.d, key(tw.staker2), check, tree, None, tw.staker.address, tok, 4)
    want = dist[tw.staker.address.lower()][tok.lower()]
    assert out["steps"] == 2 and (out["posted"], out["recomputed"]) == (want + 1, want)
    assert cw.rc.getDistributionRootAtIndex(i).disabled


def test_the_watcher_challenges_a_wide_leaf_in_steps(cw, chain, tmp_path, capsys):
    i, tree, tka, want = _wide(cw)
    common, trees = _watch_args(cw, chain, tmp_path)
    (trees / f"0x{tree.root.hex()}.json").write_text(json.dumps(tree.earnings))
    args = ["rewards", "watch", *common, "--avs", cw.tw.avs.address, "--once", "--no-record"]
    assert main([*args, "--step-days", "3"]) == 0
    (rep,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert rep["root_index"] == i and rep["status"] == "challenged" and rep["mode"] == "steps"
    ch = rep["challenge"]
    assert ch["earner"] == cw.tw.staker.address and ch["recomputed"] == want and ch["posted"] == want + 1
    assert ch["steps"] == 4 and cw.rc.getDistributionRootAtIndex(i).disabled


def test_the_watcher_prefers_one_transaction(cw, chain, tmp_path, capsys):
    tw = cw.tw
    tok = cw.token.address.lower()
    earnings, _ = _inflated(cw.correct(), tw.staker.address.lower(), tok)
    i, tree = cw.post(earnings)
    common, trees = _watch_args(cw, chain, tmp_path)
    (trees / f"0x{tree.root.hex()}.json").write_text(json.dumps(earnings))
    assert main(["rewards", "watch", *common, "--avs", tw.avs.address, "--once", "--no-record"]) == 0
    (rep,) = map(json.loads, capsys.readouterr().out.splitlines())
    assert rep["status"] == "challenged" and rep["mode"] == "one transaction"
    assert "steps" not in rep["challenge"]


def test_a_step_size_out_of_range_is_refused(cw):
    earnings, _ = _inflated(cw.correct(), cw.tw.staker.address.lower(), cw.token.address.lower())
    i, tree = cw.post(earnings)
    check = rewards.check_root(cw.d, i)
    for n in (0, 33):
        with pytest.raises(ChainInputError, match="days per step"):
            rewards.challenge_inputs(cw.d, check, tree, None, cw.tw.staker.address, cw.token.address, n)


# ------------------------------------------------------------ hostile steps


def _begun(cw, who=None, days_per_step=1):
    """staker's TKB inflated; `who`'s challenge of it begun: (root index, args head, steps)."""
    tw = cw.tw
    earnings, _ = _inflated(cw.correct(), tw.staker.address.lower(), cw.token.address.lower())
    i, tree = cw.post(earnings)
    inputs = rewards.challenge_inputs(
        cw.d, rewards.check_root(cw.d, i), tree, None, tw.staker.address, cw.token.address, days_per_step
    )
    cw.steps.beginChallenge(*inputs.head, sender=who or tw.other)
    return i, inputs.head, inputs.step_args()


def test_hostile_steps_get_their_own_reasons(cw):
    tw = cw.tw
    i, head, (s0, s1) = _begun(cw)
    e, t = head[3], head[4]
    cont = cw.steps.continueChallenge
    reverts("no such challenge", cont, i, e, t, *s0, sender=tw.staker)  # not the caller's
    reverts("chunk out of order", cont, i, e, t, *s1, sender=tw.other)  # skipped: the second first
    reverts("chunk out of order", cont, i, e, t, s0[0] + 1, *s0[1:], sender=tw.other)
    reverts("invalid chunk length", cont, i, e, t, s0[0], s0[1], [], *s0[3:], sender=tw.other)
    altered = list(s0[2][0])
    altered[4] += DAY  # another duration than the one recorded
    reverts(
        "submission record mismatch", cont, i, e, t, s0[0], s0[1], [tuple(altered)], *s0[3:], sender=tw.other
    )
    sub = list(altered[6])
    sub[2] += 1  # another amount than the one hashed
    inflated = (*s0[2][0][:6], tuple(sub))
    reverts("submission mismatch", cont, i, e, t, s0[0], s0[1], [inflated], *s0[3:], sender=tw.other)
    snap = s0[3][0]
    reverts(
        "snapshot mismatch",
        cont,
        i,
        e,
        t,
        *s0[:3],
        [(snap[0], [x + 1 for x in snap[1]])],
        *s0[4:],
        sender=tw.other,
    )
    reverts(
        "invalid snapshot index", cont, i, e, t, *s0[:4], [(3, z) for _, z in s0[4]], s0[5], sender=tw.other
    )
    reverts("challenge not folded", cw.steps.finishChallenge, i, e, t, sender=tw.other)
    cont(i, e, t, *s0, sender=tw.other)
    reverts("chunk out of order", cont, i, e, t, *s0, sender=tw.other)  # repeated
    # no day input where the cursor stands at a recorded day: nothing folded
    reverts("empty chunk", cont, i, e, t, *s1[:4], [], s1[5], sender=tw.other)
    reverts("challenge not folded", cw.steps.finishChallenge, i, e, t, sender=tw.other)
    # both days in one step, from the cursor: the second day plus a day input too many
    reverts("too many day inputs", cont, i, e, t, *s1[:4], s1[4] + s1[4], s1[5], sender=tw.other)
    cont(i, e, t, *s1, sender=tw.other)
    reverts("chunk out of order", cont, i, e, t, *s1, sender=tw.other)
    reverts("invalid chunk length", cont, i, e, t, 1, 0, *s1[2:], sender=tw.other)  # nothing left
    reverts("unauthorized caller", cw.rch.slashFor, i, tw.other, e, t, 1, 2, sender=tw.other)
    tx = cw.steps.finishChallenge(i, e, t, sender=tw.other)
    assert next(x for x in tx.events if x.event_name == "RootChallenged").challenger == tw.other.address
    reverts("no such challenge", cw.steps.finishChallenge, i, e, t, sender=tw.other)


def test_a_chunk_stops_where_its_days_run_out_and_nowhere_else(cw):
    """A step given two submissions and one day input for the first's two days stops inside the
    first: entries after it are refused."""
    tw = cw.tw
    cw.submit(cw.day0, DAY, token=cw.rw.tokens["TKA"])  # a second submission (another token)
    i, head, (s0, s1) = _begun(cw)
    e, t = head[3], head[4]
    assert len(s0[2]) == 1 and len(s1[2]) == 2  # the second step resumes in the first submission
    extra = s1[2][1]
    reverts(
        "entries beyond the chunk",
        cw.steps.continueChallenge,
        i,
        e,
        t,
        s0[0],
        s0[1],
        [*s0[2], extra],
        *s0[3:],
        sender=tw.other,
    )
    cw.steps.continueChallenge(i, e, t, *s0, sender=tw.other)
    cw.steps.continueChallenge(i, e, t, *s1, sender=tw.other)
    cw.steps.finishChallenge(i, e, t, sender=tw.other)
    assert cw.rc.getDistributionRootAtIndex(i).disabled


def test_a_wrong_proof_is_refused_at_the_beginning(cw):
    tw = cw.tw
    earnings, _ = _inflated(cw.correct(), tw.staker.address.lower(), cw.token.address.lower())
    i, tree = cw.post(earnings)
    head = rewards.challenge_inputs(
        cw.d, rewards.check_root(cw.d, i), tree, None, tw.staker.address, cw.token.address
    ).head
    (e_q, t_q) = head[5]
    lo = list(e_q[1])
    lo[1] = b"\x01" * 32 if not lo[1] else bytes(len(lo[1]))
    bad = [*head[:5], ((e_q[0], tuple(lo), e_q[2], e_q[3]), t_q), *head[6:]]
    reverts("invalid claim proof", cw.steps.beginChallenge, *bad, sender=tw.other)
    reverts("invalid root position", cw.steps.beginChallenge, *head[:1], 5, *head[2:], sender=tw.other)
    reverts("incomplete submissions", cw.steps.beginChallenge, *head[:7], 1, sender=tw.other)


def test_a_root_activating_mid_challenge_ends_it(cw):
    """The root is not held: a challenge must finish inside the activation window. Once the root
    activates, no step, finish or new challenge is taken (claims may already have used it)."""
    tw = cw.tw
    i, head, (s0, s1) = _begun(cw)
    e, t = head[3], head[4]
    cw.steps.continueChallenge(i, e, t, *s0, sender=tw.other)
    cw.rw.activate()
    reverts("root already activated", cw.steps.continueChallenge, i, e, t, *s1, sender=tw.other)
    reverts("challenge not folded", cw.steps.finishChallenge, i, e, t, sender=tw.other)
    reverts("root already activated", cw.steps.beginChallenge, *head, sender=tw.other)
    assert not cw.rc.getDistributionRootAtIndex(i).disabled


def test_a_root_activating_after_the_last_step_cannot_be_voided(cw):
    tw = cw.tw
    i, head, steps_ = _begun(cw)
    e, t = head[3], head[4]
    for s in steps_:
        cw.steps.continueChallenge(i, e, t, *s, sender=tw.other)
    cw.rw.activate()
    reverts("root already activated", cw.steps.finishChallenge, i, e, t, sender=tw.other)


def test_a_base_that_changed_mid_challenge_is_refused(cw):
    """Root A pending, root B posted after it (its base: none); A activates while B's challenge
    runs: A is B's base now, so the challenge begun without it cannot finish."""
    tw = cw.tw
    first = rewards.build_distribution(cw.d, tw.avs.address, cw.day0 + DAY)
    a = cw.rw.post(tw.avs, DistributionTree(first), cw.day0 + DAY)
    cw.rw.advance(cw.rc.activationDelay() // 2)
    i, head, steps_ = _begun(cw)
    assert head[2] == 0
    e, t = head[3], head[4]
    for s in steps_:
        cw.steps.continueChallenge(i, e, t, *s, sender=tw.other)
    cw.rw.advance(cw.rc.activationDelay() // 2 + 1)
    assert not cw.rc.getDistributionRootAtIndex(a).disabled
    reverts("not the newest active base", cw.steps.finishChallenge, i, e, t, sender=tw.other)


def test_two_challengers_run_at_once_and_a_griefer_blocks_nobody(cw):
    """A griefer begins the same leaf and stalls (or feeds garbage to its own challenge); the
    honest challenger's steps are its own and finish; the second finisher finds the root voided."""
    tw = cw.tw
    i, head, steps_ = _begun(cw, tw.staker)
    e, t = head[3], head[4]
    cw.steps.beginChallenge(*head, sender=tw.staker2)  # the griefer
    cw.steps.continueChallenge(i, e, t, *steps_[0], sender=tw.staker2)
    reverts("chunk out of order", cw.steps.continueChallenge, i, e, t, *steps_[0], sender=tw.staker2)
    cw.steps.beginChallenge(*head, sender=tw.staker2)  # beginning again restarts only its own
    idh = cw.steps.challengeId(tw.staker, i, e, t)
    idg = cw.steps.challengeId(tw.staker2, i, e, t)
    assert idh != idg and cw.steps.challenges(idg).nonce == head[7] and cw.steps.challenges(idg).steps == 0
    for s in steps_:
        cw.steps.continueChallenge(i, e, t, *s, sender=tw.staker)
    assert cw.steps.challenges(idh).steps == len(steps_)
    tx = cw.steps.finishChallenge(i, e, t, sender=tw.staker)
    assert next(x for x in tx.events if x.event_name == "RootChallenged").reward == BOND // 2
    for s in steps_[:1]:
        reverts("root disabled", cw.steps.continueChallenge, i, e, t, *s, sender=tw.staker2)


def test_a_correct_leaf_is_refused_at_the_finish_and_stays_correct(cw):
    tw = cw.tw
    dist = cw.correct()
    i, tree = cw.post(dist)
    many, n = _in_steps(cw, i, tree, tw.staker.address, cw.token.address, 1, tw.other)
    assert "root correct for this leaf" in many and n == 2
    assert not cw.rc.getDistributionRootAtIndex(i).disabled
