"""Refunds of escrow no correct root can pay (docs/rewards.md, "Refunds"): once a submission's
period is over, RewardsChallengeSteps.refundSubmission pays its AVS the days nobody recorded (or
recorded with no member) and the rounding of its per-day amounts, once, through the coordinator's
refundEscrow (callable by the steps contract alone); a correct root built afterwards is still paid
in full. Every refusal has its reason; `eigen rewards refund` shows and sends them.

The world: test_rewards_challenge's (set 1 of `op` and `op2`, a total-stake submission of 2,000
TKB over two recorded days)."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode
from eth_utils import keccak

from offchain.chain import rewards, sdk
from offchain.chain.errors import ChainInputError
from offchain.cli import main
from tests.contracts.support import reverts
from tests.contracts.test_rewards import DAY, WAD, RewardsWorld
from tests.contracts.test_rewards_challenge import ChallengeWorld, key

# The challenger's hash part of a day recorded with no member (the steps contract's EMPTY_DAY).
EMPTY_DAY = int.from_bytes(keccak(encode(["address[]", "uint16[]"], [[], []])), "big") >> 65 << 65


@pytest.fixture(scope="module")
def refund_world(project, chain, accounts, deployment):
    return ChallengeWorld(RewardsWorld(project, chain, accounts, deployment), chain)


def _sub(cw, nonce):
    return next(s for s in rewards.submissions(cw.d, cw.tw.avs.address) if s.nonce == nonce)


def _row(cw, nonce):
    return next(r for r in rewards.refunds(cw.d, cw.tw.avs.address)["submissions"] if r["nonce"] == nonce)


def _refund(cw, nonce, sender=None):
    entry, directed = rewards.refund_args(_sub(cw, nonce))
    return cw.steps.refundSubmission(cw.tw.avs, nonce, entry, directed, sender=sender or cw.tw.other)


def _earner_accounts(cw):
    tw = cw.tw
    return {a.address.lower(): a for a in (tw.op, tw.op2, tw.staker, tw.staker2)}


def test_unrecorded_days_are_refunded_once_and_a_correct_root_is_still_paid_in_full(refund_world, chain):
    cw, tw, tkb = refund_world, refund_world.tw, refund_world.token
    snap = chain.snapshot()
    try:
        start, amount = cw.rw.day_start(1), 3_000 * WAD + 2
        cw.submit(start, 3 * DAY, amount=amount)
        assert _row(cw, 0)["reason"] == "nothing to refund"  # both days recorded, 2,000 TKB even
        assert _row(cw, 1)["reason"] == "submission period not over"
        entry, directed = rewards.refund_args(_sub(cw, 1))
        reverts(
            "submission period not over",
            cw.steps.refundSubmission,
            tw.avs,
            1,
            entry,
            directed,
            sender=tw.other,
        )
        cw.rw.advance(start + 100 - cw.rw.now())
        cw.rch.recordDay(cw.opset, sender=tw.other)  # day 1 recorded, days 2 and 3 never
        cw.rw.advance(3 * DAY)
        want = amount - amount // 3
        assert _row(cw, 1) | {"refundable": want, "reason": None} == _row(cw, 1)
        escrow, before = cw.rc.avsEscrow(tw.avs, tkb), tkb.balanceOf(tw.avs)
        out = rewards.refund(cw.d, key(tw.other), tw.avs.address)  # anyone: paid to the AVS
        assert out["submissions"] == [1] and out["paid"] == {tkb.address: want}
        assert tkb.balanceOf(tw.avs) - before == want
        assert cw.rc.avsEscrow(tw.avs, tkb) == escrow - want
        assert cw.steps.refunded(tw.avs, 1) == want and _row(cw, 1)["refundable"] == 0
        reverts("already refunded", cw.steps.refundSubmission, tw.avs, 1, entry, directed, sender=tw.avs)
        with pytest.raises(ChainInputError, match="nothing to refund now"):
            rewards.refund(cw.d, key(tw.other), tw.avs.address)
        # the correct root over all three submissions' days: every earner claims all of it
        cw.end = start + 3 * DAY
        dist = cw.correct()
        i, tree = cw.post(dist)
        cw.rw.activate()
        accounts, paid = _earner_accounts(cw), 0
        for e, row in dist.items():
            toks = sorted(row, key=lambda t: int(t, 16))
            cw.rc.processClaim(tree.claim(e, toks, i).as_tuple(), accounts[e], sender=accounts[e])
            paid += row.get(tkb.address.lower(), 0)
        assert paid > 0 and paid + want <= 2_000 * WAD + amount
        assert cw.rc.avsEscrow(tw.avs, tkb) == 2_000 * WAD + amount - paid - want
    finally:
        cw.end = cw.day0 + 2 * DAY
        chain.restore(snap)


def test_hostile_refunds_get_their_own_reasons(refund_world):
    cw, tw = refund_world, refund_world.tw
    entry, _ = rewards.refund_args(_sub(cw, 0))
    steps = cw.steps
    reverts("unknown submission", steps.refundSubmission, tw.avs, 5, entry, [], sender=tw.other)
    reverts("unknown submission", steps.refundSubmission, tw.avs2, 0, entry, [], sender=tw.other)
    wrong_token = (*entry[:2], cw.rw.tokens["TKA"].address, *entry[3:])
    reverts("submission record mismatch", steps.refundSubmission, tw.avs, 0, wrong_token, [], sender=tw.other)
    sub = entry[6]
    inflated = (*entry[:6], (sub[0], sub[1], sub[2] * 2, sub[3], sub[4]))
    reverts("submission mismatch", steps.refundSubmission, tw.avs, 0, inflated, [], sender=tw.other)
    directed = (sub[0], sub[1], [(tw.op.address, 1)], sub[3], sub[4], "x")
    reverts(
        "too many directed submissions", steps.refundSubmission, tw.avs, 0, entry, [directed], sender=tw.other
    )
    reverts("nothing to refund", steps.refundSubmission, tw.avs, 0, entry, [], sender=tw.other)
    # the coordinator's escrow moves for the steps contract alone
    for who in (tw.avs, tw.owner, tw.other):
        reverts("unauthorized caller", cw.rc.refundEscrow, tw.avs, cw.token, 1, sender=who)


def test_days_recorded_empty_directed_rounding_and_avs_wide_days_never_recorded(refund_world, chain):
    """Set 3 has no member: its recorded day pays nothing (the record's hash is EMPTY_DAY). An
    operator-directed set submission over the two recorded days pays each operator at most
    floor(amount / 2) a day: the odd wei comes back. An AVS-wide one over them pays nothing (the
    AVS's own days, recordAVSDay, were never recorded here)."""
    cw, tw, tka = refund_world, refund_world.tw, refund_world.rw.tokens["TKA"]
    snap = chain.snapshot()
    try:
        directed = {tw.op.address: 7 * WAD + 1, tw.op2.address: 5 * WAD + 1}
        cw.submit_directed(cw.day0, 2 * DAY, directed, tka)  # nonce 1
        cw.submit_directed(cw.day0, 2 * DAY, {tw.op2.address: 9 * WAD}, tka, for_set=False)  # nonce 2
        tw.create_sets(ids=(3,), syms=("TKA", "TKB"))
        start, empty_set = cw.rw.day_start(1), (tw.avs.address, 3)
        cw.rw.fund(tw.avs, tka, 11 * WAD)
        cw.rc.createTotalStakeRewardsSubmission(
            empty_set, [(cw.sams, tka.address, 11 * WAD, start, DAY)], sender=tw.avs
        )  # nonce 3
        cw.rw.advance(start + 100 - cw.rw.now())
        cw.rch.recordDay(empty_set, sender=tw.other)
        key3 = keccak(encode(["address", "uint32"], [tw.avs.address, 3]))
        assert cw.rch.dayRecord(key3, start) >> 64 << 64 == EMPTY_DAY
        cw.rw.advance(DAY)
        got = rewards.refunds(cw.d, tw.avs.address)
        assert [r["refundable"] for r in got["submissions"]] == [0, 2, 9 * WAD, 11 * WAD]
        assert got["refundable"] == {tka.address: 9 * WAD + 11 * WAD + 2}
        before = tka.balanceOf(tw.avs)
        out = rewards.refund(cw.d, key(tw.other), tw.avs.address, nonces=[1, 3])
        assert out["paid"] == {tka.address: 11 * WAD + 2}
        assert tka.balanceOf(tw.avs) - before == 11 * WAD + 2
        with pytest.raises(ChainInputError, match="submission 1: already refunded"):
            rewards.refund(cw.d, key(tw.other), tw.avs.address, nonces=[1])
        with pytest.raises(ChainInputError, match="submission 0: nothing to refund"):
            rewards.refund(cw.d, key(tw.other), tw.avs.address, nonces=[0])
        with pytest.raises(ChainInputError, match="no submission 9"):
            rewards.refund(cw.d, key(tw.other), tw.avs.address, nonces=[9])
        entry, _ = rewards.refund_args(_sub(cw, 2))
        reverts(
            "directed submission missing", cw.steps.refundSubmission, tw.avs, 2, entry, [], sender=tw.other
        )
    finally:
        chain.restore(snap)


def test_eigen_rewards_refund_shows_and_sends(refund_world, chain, tmp_path, capsys):
    cw, tw, tka = refund_world, refund_world.tw, refund_world.rw.tokens["TKA"]
    snap = chain.snapshot()
    try:
        cw.submit_directed(cw.day0, 2 * DAY, {tw.op2.address: 4 * WAD}, tka, for_set=False)
        record, kf = tmp_path / "record.json", tmp_path / "key"
        record.write_text(json.dumps(cw.d.addresses))
        kf.write_text(tw.other.private_key)
        common = ["--deployment", str(record), "--rpc", chain.provider.uri, "--avs", tw.avs.address]
        assert main(["rewards", "refund", *common]) == 0  # no key: shows only
        shown = json.loads(capsys.readouterr().out)
        assert shown["refundable"] == {tka.address: 4 * WAD}
        assert [r["reason"] for r in shown["submissions"]] == ["nothing to refund", None]
        before = tka.balanceOf(tw.avs)
        assert main(["rewards", "refund", *common, "--key", str(kf)]) == 0
        sent = json.loads(capsys.readouterr().out)
        assert sent["paid"] == {tka.address: 4 * WAD} and tka.balanceOf(tw.avs) - before == 4 * WAD
        assert main(["rewards", "refund", *common, "--key", str(kf)]) == 2
        assert "nothing to refund now" in capsys.readouterr().err
    finally:
        chain.restore(snap)


def test_the_client_refunds_an_on_chain_distributions_rounding(refund_world, chain):
    """`refunds` lists the AVS's RewardsDistributor distributions with what each left to no operator;
    `refund` sends refundDistribution for those named (or every one refundable)."""
    cw, tw, tka = refund_world, refund_world.tw, refund_world.rw.tokens["TKA"]
    rd = cw.rw.rd
    d = sdk.Deployment(
        chain_id=cw.d.chain_id,
        rpc_url=cw.d.rpc_url,
        addresses={**cw.d.addresses, rewards.DISTRIBUTOR_KEY: rd.address},
    )
    snap = chain.snapshot()
    try:
        tka.mint(tw.avs, 10**18 + 1, sender=tw.avs)
        tka.approve(rd, 10**18 + 1, sender=tw.avs)
        chain.mine()
        tx = rd.createOperatorSetDistribution(
            cw.opset, tka, 10**18 + 1, chain.blocks.head.number - 1, cw.sams, sender=tw.avs
        )
        i = tx.events.filter(rd.OperatorSetDistributionCreated)[0].distributionId
        left = rd.undistributed(i)
        assert left > 0
        (row,) = rewards.refunds(d, tw.avs.address)["distributions"]
        assert row == {
            "distribution": i,
            "token": tka.address,
            "amount": 10**18 + 1,
            "undistributed": left,
            "refunded": 0,
            "refundable": left,
        }
        with pytest.raises(ChainInputError, match="no on-chain distribution 7"):
            rewards.refund(d, key(tw.other), tw.avs.address, nonces=[], distribution_ids=[7])
        before = tka.balanceOf(tw.avs)
        out = rewards.refund(d, key(tw.other), tw.avs.address, nonces=[], distribution_ids=[i])
        assert out["paid"] == {tka.address: left} and tka.balanceOf(tw.avs) - before == left
        with pytest.raises(ChainInputError, match=f"distribution {i}: already refunded"):
            rewards.refund(d, key(tw.other), tw.avs.address, nonces=[], distribution_ids=[i])
    finally:
        chain.restore(snap)
