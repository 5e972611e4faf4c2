"""RewardsCoordinator (contracts/rewards; docs/rewards.md): submissions and their validations, the
per-AVS escrow, fees into the FeeVault, operator splits, roots posted per AVS by a bonded updater,
claims (EigenLayer's published claim-proof vectors replayed against roots of the same value),
claimers, recipients and batch claims.

`RewardsWorld` (the other test_rewards_* modules use it) deploys EIGEN and the rewards contracts
over the session's core exactly as ``deploy_rewards`` does for ``ape run deploy``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from offchain import settings as eigen_settings
from offchain.chain.deploy import RewardsConfig, deploy_rewards
from offchain.rewards.merkle import Claim, DistributionTree
from tests.contracts.support import ZERO, TokenWorld, reverts

DAY = 86_400
WAD = 10**18
BOND = WAD
TEST_REWARDS = RewardsConfig(
    activation_delay_s=3_600,
    updater_bond_wei=BOND,
    auction_period_s=3_600,
    auction_step_s=60,
    auction_decay_wad=98 * 10**16,  # -2 % a minute
    auction_discovery_decay_wad=9 * 10**17,  # -10 % a minute until a token's first fill ...
    auction_start_factor_wad=2 * WAD,
    auction_initial_reference_price=1000 * WAD,  # ... from 2 x a ceiling of 1,000 EIGEN a token
    sink_delay_s=600,
)
SUB_ABI = "((address,uint96)[],address,uint256,uint32,uint32)"
OD_ABI = "((address,uint96)[],address,(address,uint256)[],uint32,uint32,string)"


def vectors_dir() -> Path:
    return Path(eigen_settings.shared_dir()) / "vectors" / "rewards"


class RewardsWorld:
    """EIGEN and the rewards contracts over the core; the owner is governance and the bonded
    rewards updater; `avs` and `avs2` pay, operators and stakers earn."""

    def __init__(self, project, chain, accounts, d, config: RewardsConfig = TEST_REWARDS):
        self.tw = tw = TokenWorld(project, chain, accounts, d)
        self.project, self.chain = project, chain
        self.owner, self.avs, self.avs2, self.op = tw.owner, tw.avs, tw.avs2, tw.op
        self.staker, self.staker2, self.recipient, self.other = tw.staker, tw.staker2, tw.recipient, tw.other
        self.tokens, self.eigen = tw.tokens, tw.eigen
        r = deploy_rewards(project, tw.owner, tw.d, config)
        self.rc, self.vault, self.bb, self.rd = r.coordinator, r.fee_vault, r.buyback, r.distributor
        self.rch, self.steps = r.challenger, r.challenge_steps
        self.rch.depositBond(value=BOND, sender=self.owner)
        self.strats = tw.sorted_strats

    # --- time
    def now(self) -> int:
        return self.chain.pending_timestamp

    def day_start(self, days: int = 0) -> int:
        return (self.now() // DAY + days) * DAY

    def advance(self, seconds: int) -> None:
        self.chain.pending_timestamp = self.chain.pending_timestamp + seconds
        self.chain.mine()

    # --- submissions
    def sub(self, token, amount, start=None, duration=DAY, strategies=None):
        strategies = strategies if strategies is not None else [(s.address, WAD) for s in self.strats[:2]]
        start = self.day_start(-1) if start is None else start
        return (strategies, token.address if hasattr(token, "address") else token, amount, start, duration)

    def fund(self, who, token, amount):
        token.mint(who, amount, sender=who)
        token.approve(self.rc, amount, sender=who)

    def submit(self, avs, token, amount, **kw):
        self.fund(avs, token, amount)
        return self.rc.createAVSRewardsSubmission([self.sub(token, amount, **kw)], sender=avs)

    # --- roots and claims
    def post(self, avs, tree_or_root, end=None):
        root = tree_or_root.root if isinstance(tree_or_root, DistributionTree) else tree_or_root
        end = self.rc.currRewardsCalculationEndTimestamp(avs) + 1 if end is None else end
        end = max(end, 1)
        receipt = self.rc.submitRoot(avs, root, end, sender=self.owner)
        return receipt.events[0].rootIndex

    def activate(self):
        self.advance(self.rc.activationDelay() + 1)


@pytest.fixture(scope="module")
def rw(project, chain, accounts, deployment):
    return RewardsWorld(project, chain, accounts, deployment)


def submission_hash(avs, nonce, sub, abi_type=SUB_ABI) -> bytes:
    return keccak(encode(["address", "uint256", abi_type], [avs, nonce, sub]))


# ------------------------------------------------------------------ submissions


def test_submission_escrows_for_its_avs_and_records_eigenlayers_hash(rw):
    tka = rw.tokens["TKA"]
    sub = rw.sub(tka, 1_000)
    rw.fund(rw.avs, tka, 1_000)
    receipt = rw.rc.createAVSRewardsSubmission([sub], sender=rw.avs)
    assert rw.rc.avsEscrow(rw.avs, tka) == 1_000
    assert rw.rc.avsEscrow(rw.avs2, tka) == 0
    assert tka.balanceOf(rw.rc) == 1_000
    ev = [e for e in receipt.events if e.event_name == "AVSRewardsSubmissionCreated"][0]
    h = submission_hash(rw.avs.address, 0, sub)
    assert ev.rewardsSubmissionHash == h and ev.submissionNonce == 0
    assert rw.rc.isAVSRewardsSubmissionHash(rw.avs, h)
    assert rw.rc.submissionNonce(rw.avs) == 1


def _invalid_cases(rw):
    s = [(x.address, WAD) for x in rw.strats[:2]]
    now_day = rw.day_start()
    return [
        ("input array length zero", dict(strategies=[])),
        ("duration is zero", dict(duration=0)),
        ("duration exceeds max", dict(duration=rw.rc.MAX_REWARDS_DURATION() + DAY)),
        ("invalid duration remainder", dict(duration=DAY + 1)),
        ("invalid start timestamp remainder", dict(start=now_day - DAY + 1)),
        ("start timestamp too far in past", dict(start=now_day - rw.rc.MAX_RETROACTIVE_LENGTH() - DAY)),
        ("start timestamp too far in future", dict(start=now_day + rw.rc.MAX_FUTURE_LENGTH() + DAY)),
        ("strategies not in ascending order", dict(strategies=s[::-1])),
        ("strategies not in ascending order", dict(strategies=[s[0], s[0]])),
        ("strategy not whitelisted", dict(strategies=[("0x" + "11" * 20, WAD)])),
    ]


def test_invalid_submissions_are_refused_with_eigenlayers_reasons(rw):
    tka = rw.tokens["TKA"]
    rw.fund(rw.avs, tka, 10**40)
    for reason, kw in _invalid_cases(rw):
        reverts(reason, rw.rc.createAVSRewardsSubmission, [rw.sub(tka, 100, **kw)], sender=rw.avs)
    reverts("amount is zero", rw.rc.createAVSRewardsSubmission, [rw.sub(tka, 0)], sender=rw.avs)
    reverts("amount exceeds max", rw.rc.createAVSRewardsSubmission, [rw.sub(tka, 10**38)], sender=rw.avs)
    # the largest amount and the edges of the windows are accepted
    rw.rc.createAVSRewardsSubmission([rw.sub(tka, 10**38 - 1)], sender=rw.avs)
    far = rw.day_start() + (rw.rc.MAX_FUTURE_LENGTH() // DAY) * DAY
    rw.rc.createAVSRewardsSubmission(
        [rw.sub(tka, 1, start=far, duration=rw.rc.MAX_REWARDS_DURATION())], sender=rw.avs
    )
    assert rw.rc.avsEscrow(rw.avs, tka) == 10**38


def test_a_token_that_fails_a_transfer_pays_nothing_and_keeps_the_escrow(rw, project):
    bad = rw.owner.deploy(project.MockFalseERC20, "False", "FLS")
    rw.fund(rw.avs, bad, 100)
    rw.rc.createAVSRewardsSubmission([rw.sub(bad, 100)], sender=rw.avs)
    t = DistributionTree({rw.staker.address: {bad.address: 60}})
    i = rw.post(rw.avs, t)
    rw.activate()
    c = t.claim(rw.staker.address, root_index=i).as_tuple()
    bad.setFailTransfers(True, sender=rw.owner)
    reverts("transfer failed", rw.rc.processClaim, c, rw.staker, sender=rw.staker)
    bad.setFailTransfers(False, sender=rw.owner)
    bad.setRevertTransfers(True, sender=rw.owner)
    reverts("transfers paused", rw.rc.processClaim, c, rw.staker, sender=rw.staker)
    assert rw.rc.avsEscrow(rw.avs, bad) == 100 and rw.rc.cumulativeClaimedFor(rw.avs, rw.staker, bad) == 0
    bad.setRevertTransfers(False, sender=rw.owner)
    rw.rc.processClaim(c, rw.staker, sender=rw.staker)
    assert bad.balanceOf(rw.staker) == 60 and rw.rc.avsEscrow(rw.avs, bad) == 40


def test_operator_set_submissions_need_the_set_and_its_avs(rw):
    tw, tka = rw.tw, rw.tokens["TKA"]
    tw.create_sets(ids=(1,))
    rw.fund(rw.avs, tka, 300)
    sub = rw.sub(tka, 100)
    reverts(
        "invalid operator set", rw.rc.createUniqueStakeRewardsSubmission, (rw.avs, 7), [sub], sender=rw.avs
    )
    reverts(
        "unauthorized caller", rw.rc.createTotalStakeRewardsSubmission, (rw.avs, 1), [sub], sender=rw.avs2
    )
    r1 = rw.rc.createUniqueStakeRewardsSubmission((rw.avs, 1), [sub], sender=rw.avs)
    r2 = rw.rc.createTotalStakeRewardsSubmission((rw.avs, 1), [sub, sub], sender=rw.avs)
    assert rw.rc.avsEscrow(rw.avs, tka) == 300
    h0 = [e for e in r1.events if e.event_name == "UniqueStakeRewardsSubmissionCreated"][
        0
    ].rewardsSubmissionHash
    assert h0 == submission_hash(rw.avs.address, 0, sub) and rw.rc.isUniqueStakeRewardsSubmissionHash(
        rw.avs, h0
    )
    hs = [e.rewardsSubmissionHash for e in r2.events if e.event_name == "TotalStakeRewardsSubmissionCreated"]
    assert hs == [submission_hash(rw.avs.address, n, sub) for n in (1, 2)]


def _od(rw, token, rewards, start=None, duration=DAY, description="od"):
    start = rw.day_start(-3) if start is None else start
    return ([(s.address, WAD) for s in rw.strats[:2]], token.address, rewards, start, duration, description)


def test_operator_directed_submissions(rw):
    tw, tka = rw.tw, rw.tokens["TKA"]
    a, b = sorted([rw.op.address, tw.op2.address], key=lambda x: int(x, 16))
    rw.fund(rw.avs, tka, 10_000)
    fn = rw.rc.createOperatorDirectedAVSRewardsSubmission
    reverts("unauthorized caller", fn, rw.avs, [_od(rw, tka, [(a, 1)])], sender=rw.avs2)
    reverts(
        "submission not retroactive",
        fn,
        rw.avs,
        [_od(rw, tka, [(a, 1)], start=rw.day_start())],
        sender=rw.avs,
    )
    reverts("operators not in ascending order", fn, rw.avs, [_od(rw, tka, [(b, 1), (a, 1)])], sender=rw.avs)
    reverts("invalid address zero", fn, rw.avs, [_od(rw, tka, [(ZERO, 1)])], sender=rw.avs)
    reverts("amount is zero", fn, rw.avs, [_od(rw, tka, [(a, 0)])], sender=rw.avs)
    reverts("input array length zero", fn, rw.avs, [_od(rw, tka, [])], sender=rw.avs)
    od = _od(rw, tka, [(a, 300), (b, 700)])
    r = fn(rw.avs, [od], sender=rw.avs)
    assert rw.rc.avsEscrow(rw.avs, tka) == 1_000
    ev = [e for e in r.events if e.event_name == "OperatorDirectedAVSRewardsSubmissionCreated"][0]
    assert ev.operatorDirectedRewardsSubmissionHash == submission_hash(rw.avs.address, 0, od, OD_ABI)
    tw.create_sets(ids=(1,))
    r = rw.rc.createOperatorDirectedOperatorSetRewardsSubmission((rw.avs, 1), [od], sender=rw.avs)
    assert rw.rc.avsEscrow(rw.avs, tka) == 2_000
    reverts(
        "invalid operator set",
        rw.rc.createOperatorDirectedOperatorSetRewardsSubmission,
        (rw.avs, 9),
        [od],
        sender=rw.avs,
    )


# ------------------------------------------------------------------ fees (ELIP-12)


def test_protocol_fee_is_opt_in_and_goes_to_the_vault(rw):
    tka = rw.tokens["TKA"]
    rw.submit(rw.avs, tka, 1_000)
    assert rw.vault.balanceOf(tka) == 0 and rw.rc.avsEscrow(rw.avs, tka) == 1_000
    reverts("unauthorized caller", rw.rc.setOptInForProtocolFee, rw.avs, True, sender=rw.other)
    rw.rc.setOptInForProtocolFee(rw.avs, True, sender=rw.avs)
    assert rw.rc.PROTOCOL_FEE_BIPS() == 2_000
    r = rw.submit(rw.avs, tka, 1_001)
    fee = 1_001 * 2_000 // 10_000
    assert rw.vault.balanceOf(tka) == fee == tka.balanceOf(rw.vault)
    assert rw.rc.avsEscrow(rw.avs, tka) == 1_000 + 1_001 - fee
    paid = [e for e in r.events if e.event_name == "FeePaid"][0]
    assert paid.source == rw.avs.address and paid.amount == fee and paid.payer == rw.rc.address
    # the hash commits to the amount after the fee, as EigenLayer's
    ev = [e for e in r.events if e.event_name == "AVSRewardsSubmissionCreated"][0]
    assert ev.rewardsSubmission[2] == 1_001 - fee
    # operator-directed: the fee is cut per operator reward
    a, b = sorted([rw.op.address, rw.tw.op2.address], key=lambda x: int(x, 16))
    rw.fund(rw.avs, tka, 1_009)
    rw.rc.createOperatorDirectedAVSRewardsSubmission(
        rw.avs, [_od(rw, tka, [(a, 4), (b, 1_005)])], sender=rw.avs
    )
    fee2 = 4 * 2_000 // 10_000 + 1_005 * 2_000 // 10_000
    assert rw.vault.balanceOf(tka) == fee + fee2
    assert rw.rc.avsEscrow(rw.avs, tka) == 2_001 - fee + 1_009 - fee2


# ------------------------------------------------------------------ splits


def test_operator_splits_activate_after_the_delay(rw):
    tw, rc, op = rw.tw, rw.rc, rw.op
    assert rc.defaultOperatorSplitBips() == 1_000
    assert rc.getOperatorAVSSplit(op, rw.avs) == 1_000 and rc.getOperatorPISplit(op) == 1_000
    reverts("unauthorized caller", rc.setOperatorAVSSplit, op, rw.avs, 500, sender=rw.other)
    reverts("split exceeds max", rc.setOperatorAVSSplit, op, rw.avs, 10_001, sender=op)
    r = rc.setOperatorAVSSplit(op, rw.avs, 500, sender=op)
    ev = r.events[0]
    assert (ev.oldOperatorAVSSplitBips, ev.newOperatorAVSSplitBips) == (1_000, 500)
    assert ev.activatedAt == r.timestamp + rc.activationDelay()
    assert rc.getOperatorAVSSplit(op, rw.avs) == 1_000  # the first split waits for the delay
    reverts("previous split pending", rc.setOperatorAVSSplit, op, rw.avs, 700, sender=op)
    rw.activate()
    assert rc.getOperatorAVSSplit(op, rw.avs) == 500
    assert rc.getOperatorAVSSplit(op, rw.avs2) == 1_000  # per AVS
    rc.setOperatorAVSSplit(op, rw.avs, 0, sender=op)
    assert rc.getOperatorAVSSplit(op, rw.avs) == 500  # the old split until the new one activates
    rw.activate()
    assert rc.getOperatorAVSSplit(op, rw.avs) == 0
    # PI and operator-set splits follow the same rules
    rc.setOperatorPISplit(op, 10_000, sender=op)
    tw.create_sets(ids=(1,))
    reverts("invalid operator set", rc.setOperatorSetSplit, op, (rw.avs, 5), 200, sender=op)
    rc.setOperatorSetSplit(op, (rw.avs, 1), 200, sender=op)
    assert rc.getOperatorPISplit(op) == 1_000 and rc.getOperatorSetSplit(op, (rw.avs, 1)) == 1_000
    rw.activate()
    assert rc.getOperatorPISplit(op) == 10_000 and rc.getOperatorSetSplit(op, (rw.avs, 1)) == 200
    # the default applies to unset splits, and the owner may change it
    rc.setDefaultOperatorSplit(2_500, sender=rw.owner)
    assert rc.getOperatorSetSplit(rw.tw.op2, (rw.avs, 1)) == 2_500
    reverts("only owner", rc.setDefaultOperatorSplit, 1, sender=rw.other)


# ------------------------------------------------------------------ roots


def test_roots_need_the_bonded_updater_and_a_new_elapsed_period(rw, accounts):
    rc, root = rw.rc, b"\x42" * 32
    end = rw.now() - 10
    reverts("unauthorized caller", rc.submitRoot, rw.avs, root, end, sender=rw.other)
    reverts("invalid root", rc.submitRoot, rw.avs, b"\x00" * 32, end, sender=rw.owner)
    reverts("rewards end timestamp not elapsed", rc.submitRoot, rw.avs, root, rw.now() + 100, sender=rw.owner)
    i = rw.post(rw.avs, root, end)
    reverts("new root must be for new calculated period", rc.submitRoot, rw.avs, root, end, sender=rw.owner)
    rw.post(rw.avs2, root, end - 100)  # periods are per AVS
    assert rc.currRewardsCalculationEndTimestamp(rw.avs) == end
    assert (
        rc.rootAVS(i) == rw.avs.address and rc.avsRootCount(rw.avs) == 1 and rc.avsRootIndex(rw.avs, 0) == i
    )
    dr = rc.getDistributionRootAtIndex(i)
    assert dr.root == root and dr.rewardsCalculationEndTimestamp == end and not dr.disabled
    # a new updater must bond first; the bond stays until its last root activates
    new = rw.tw.resolver
    rc.setRewardsUpdater(new, sender=rw.owner)
    reverts("updater bond too small", rc.submitRoot, rw.avs, root, end + 1, sender=new)
    rw.rch.depositBond(value=BOND, sender=new)
    rc.submitRoot(rw.avs, root, end + 1, sender=new)
    reverts("bond locked", rw.rch.withdrawBond, BOND, sender=new)
    reverts("unauthorized caller", rw.rch.lockBond, new, 2**32 - 1, sender=new)
    rw.activate()
    before = new.balance
    r = rw.rch.withdrawBond(BOND, sender=new)
    assert rw.rch.bondOf(new) == 0 and new.balance == before + BOND - r.total_fees_paid


def test_a_root_can_be_disabled_by_the_updater_or_its_avs_before_activation(rw):
    rc = rw.rc
    i = rw.post(rw.avs, b"\x42" * 32, rw.now() - 10)
    j = rw.post(rw.avs, b"\x43" * 32, rw.now() - 5)
    reverts("unauthorized caller", rc.disableRoot, i, sender=rw.avs2)
    rc.disableRoot(i, sender=rw.avs)  # the AVS whose escrow it would pay from
    reverts("root disabled", rc.disableRoot, i, sender=rw.owner)
    reverts("invalid root index", rc.disableRoot, 99, sender=rw.owner)
    assert rc.getDistributionRootAtIndex(i).disabled
    rw.activate()
    reverts("root already activated", rc.disableRoot, j, sender=rw.owner)


# ------------------------------------------------------------------ claims


def _vector_files():
    d = vectors_dir()
    return sorted(d.glob("*.json")) if d.is_dir() else []


def _token_at(rw, address):
    """A working ERC-20 at `address` (the vector's token): MockERC20's code placed there."""
    code = rw.chain.provider.web3.eth.get_code(rw.tokens["TKA"].address)
    rw.chain.provider.set_code(address, code)
    return rw.project.MockERC20.at(address)


def _earner(rw, address, accounts):
    rw.chain.set_balance(address, 10 * WAD)
    return accounts[address]


@pytest.mark.parametrize("name", [p.name for p in _vector_files()] or ["(no vectors)"])
def test_eigenlayer_claim_vectors_verify_and_pay(rw, accounts, name):
    if name == "(no vectors)":
        pytest.skip(f"EigenLayer's claim vectors are not here ({vectors_dir()})")
    data = json.loads((vectors_dir() / name).read_text())
    claim, root = Claim.from_json(data)
    tokens = {t.token: _token_at(rw, t.token) for t in claim.token_leaves}
    for t in claim.token_leaves:
        rw.submit(rw.avs, tokens[t.token], t.cumulative_earnings)
    i = rw.post(rw.avs, root, rw.now() - 1)
    claim = Claim(i, *[getattr(claim, f) for f in list(claim.__dataclass_fields__)[1:]])
    earner = _earner(rw, claim.earner, accounts)
    reverts("root not activated", rw.rc.processClaim, claim.as_tuple(), rw.recipient, sender=earner)
    rw.activate()
    r = rw.rc.processClaim(claim.as_tuple(), rw.recipient, sender=earner)
    for t in claim.token_leaves:
        assert tokens[t.token].balanceOf(rw.recipient) == t.cumulative_earnings
        assert rw.rc.avsEscrow(rw.avs, t.token) == 0
        assert rw.rc.cumulativeClaimedFor(rw.avs, claim.earner, t.token) == t.cumulative_earnings
    events = [e for e in r.events if e.event_name == "RewardsClaimed"]
    assert [e.claimedAmount for e in events] == [t.cumulative_earnings for t in claim.token_leaves]
    assert all(e.root == root and e.claimer == earner.address for e in events)
    # the same cumulative amount pays nothing more
    reverts(
        "earnings not greater than claimed", rw.rc.processClaim, claim.as_tuple(), rw.recipient, sender=earner
    )


def test_tampered_claims_are_refused(rw, accounts):
    files = _vector_files()
    if not files:
        pytest.skip(f"EigenLayer's claim vectors are not here ({vectors_dir()})")
    claim, root = Claim.from_json((vectors_dir() / "processClaimProofs_Root1.json").read_text())
    i = rw.post(rw.avs, root, rw.now() - 1)
    rw.activate()
    earner = _earner(rw, claim.earner, accounts)
    base = list(claim.as_tuple())
    base[0] = i
    fn = rw.rc.processClaim

    def tweak(pos, value):
        c = list(base)
        c[pos] = value
        return tuple(c)

    leaves = list(base[6])
    leaves[0] = (leaves[0][0], leaves[0][1] + 1)
    reverts("invalid claim proof", fn, tweak(6, leaves), rw.recipient, sender=earner)
    reverts("invalid claim proof", fn, tweak(1, base[1] ^ 1), rw.recipient, sender=earner)
    reverts("invalid earner leaf index", fn, tweak(1, 8), rw.recipient, sender=earner)
    reverts("invalid token leaf index", fn, tweak(4, [64] + base[4][1:]), rw.recipient, sender=earner)
    reverts("invalid proof length", fn, tweak(2, base[2] + b"\x00"), rw.recipient, sender=earner)
    reverts("input array length mismatch", fn, tweak(5, base[5][:-1]), rw.recipient, sender=earner)
    reverts("invalid root index", fn, tweak(0, 99), rw.recipient, sender=earner)
    reverts("unauthorized caller", fn, tuple(base), rw.recipient, sender=rw.other)
    # a valid proof but no escrow behind it: nothing is paid
    reverts("avs escrow exceeded", fn, tuple(base), rw.recipient, sender=earner)


def test_a_wrong_root_cannot_touch_another_avss_escrow(rw):
    """AVS A escrows 100 TKA, AVS B escrows 1,000 TKA and 50 TKB. A root posted for A that pays
    an attacker 1,000 TKA and 50 TKB pays nothing (A's escrow is short); one that pays A's 100 TKA
    drains only A. B's escrow and B's earners are untouched and B's own root still pays in full."""
    tka, tkb = rw.tokens["TKA"], rw.tokens["TKB"]
    rw.submit(rw.avs, tka, 100)
    rw.submit(rw.avs2, tka, 1_000)
    rw.submit(rw.avs2, tkb, 50)
    attacker, honest = rw.other, rw.staker
    greedy = DistributionTree({attacker.address: {tka.address: 1_000, tkb.address: 50}})
    i = rw.post(rw.avs, greedy)
    honest_b = DistributionTree({honest.address: {tka.address: 1_000, tkb.address: 50}})
    j = rw.post(rw.avs2, honest_b)
    rw.activate()
    for c in (greedy.claim(attacker.address, root_index=i), greedy.claim(attacker.address, [tkb.address], i)):
        reverts("avs escrow exceeded", rw.rc.processClaim, c.as_tuple(), attacker, sender=attacker)
    # a root for A that pays A's whole escrow to the attacker drains A only
    drain = DistributionTree({attacker.address: {tka.address: 100}})
    k = rw.post(rw.avs, drain)
    rw.activate()
    rw.rc.processClaim(drain.claim(attacker.address, root_index=k).as_tuple(), attacker, sender=attacker)
    assert tka.balanceOf(attacker) == 100 and rw.rc.avsEscrow(rw.avs, tka) == 0
    assert rw.rc.avsEscrow(rw.avs2, tka) == 1_000 and rw.rc.avsEscrow(rw.avs2, tkb) == 50
    rw.rc.processClaim(honest_b.claim(honest.address, root_index=j).as_tuple(), honest, sender=honest)
    assert tka.balanceOf(honest) == 1_000 and tkb.balanceOf(honest) == 50
    assert tka.balanceOf(rw.rc) == 0 and tkb.balanceOf(rw.rc) == 0


def test_claimer_recipient_cumulative_and_batch_claims(rw):
    tka, tkb = rw.tokens["TKA"], rw.tokens["TKB"]
    op, staker, claimer = rw.op, rw.staker, rw.other
    rw.submit(rw.avs, tka, 1_000)
    rw.submit(rw.avs, tkb, 1_000)
    rw.submit(rw.avs2, tka, 1_000)
    t1 = DistributionTree(
        {op.address: {tka.address: 100}, staker.address: {tka.address: 300, tkb.address: 7}}
    )
    i = rw.post(rw.avs, t1)
    rw.activate()
    # the earner names a claimer; the claimer claims to any recipient, the earner no longer can
    rw.rc.setClaimerFor(claimer, sender=staker)
    assert rw.rc.claimerFor(staker) == claimer.address
    c = t1.claim(staker.address, root_index=i)
    reverts("unauthorized caller", rw.rc.processClaim, c.as_tuple(), staker, sender=staker)
    rw.rc.processClaim(c.as_tuple(), rw.recipient, sender=claimer)
    assert tka.balanceOf(rw.recipient) == 300 and tkb.balanceOf(rw.recipient) == 7
    # the two-argument form is for operators and AVSs
    reverts("invalid earner", rw.rc.setClaimerFor, staker, claimer, sender=staker)
    reverts("unauthorized caller", rw.rc.setClaimerFor, op, claimer, sender=staker)
    rw.tw.register_operator(op)
    rw.rc.setClaimerFor(op, claimer, sender=op)
    assert rw.rc.claimerFor(op) == claimer.address
    # a later root carries cumulative amounts: only the difference is paid, from the same AVS;
    # one batch claims against both AVSs' roots
    t2 = DistributionTree(
        {op.address: {tka.address: 250}, staker.address: {tka.address: 300, tkb.address: 9}}
    )
    k = rw.post(rw.avs, t2)
    tb = DistributionTree({op.address: {tka.address: 40}})
    m = rw.post(rw.avs2, tb)
    rw.activate()
    batch = [t2.claim(op.address, root_index=k).as_tuple(), tb.claim(op.address, root_index=m).as_tuple()]
    reverts("unauthorized caller", rw.rc.processClaims, batch, op, sender=op)
    r = rw.rc.processClaims(batch, op, sender=claimer)
    assert [e.claimedAmount for e in r.events if e.event_name == "RewardsClaimed"] == [250, 40]
    assert (
        rw.rc.cumulativeClaimedFor(rw.avs, op, tka) == 250
        and rw.rc.cumulativeClaimedFor(rw.avs2, op, tka) == 40
    )
    assert rw.rc.avsEscrow(rw.avs, tka) == 1_000 - 300 - 250 and rw.rc.avsEscrow(rw.avs2, tka) == 960
    rw.rc.processClaim(t2.claim(staker.address, [tkb.address], k).as_tuple(), staker, sender=claimer)
    assert tkb.balanceOf(staker) == 2


def test_claims_respect_disabling_and_pausing(rw):
    tka = rw.tokens["TKA"]
    rw.submit(rw.avs, tka, 10)
    t = DistributionTree({rw.staker.address: {tka.address: 10}})
    i = rw.post(rw.avs, t)
    rw.rc.disableRoot(i, sender=rw.avs)
    rw.activate()
    c = t.claim(rw.staker.address, root_index=i).as_tuple()
    reverts("root disabled", rw.rc.processClaim, c, rw.staker, sender=rw.staker)
    j = rw.post(rw.avs, t)
    rw.activate()
    c = t.claim(rw.staker.address, root_index=j).as_tuple()
    reg = rw.tw.d.pauser_registry
    reg.pause(rw.rc, 1 << 2, sender=rw.owner)
    reverts("paused", rw.rc.processClaim, c, rw.staker, sender=rw.staker)
    reg.unpause(rw.rc, 0, sender=rw.owner)
    rw.rc.processClaim(c, rw.staker, sender=rw.staker)
    assert tka.balanceOf(rw.staker) == 10


def test_set_claimer_forms_are_told_apart_by_selector(rw):
    """`setClaimerFor(claimer)` with bytes appended is still the one-argument form."""
    w3 = rw.chain.provider.web3
    sel = keccak(b"setClaimerFor(address)")[:4]
    data = sel + encode(["address"], [rw.other.address]) + b"\x00" * 12 + bytes.fromhex(rw.staker.address[2:])
    tx = w3.eth.send_transaction({"from": rw.staker.address, "to": rw.rc.address, "data": data})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert rw.rc.claimerFor(rw.staker) == rw.other.address
