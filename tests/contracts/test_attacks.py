"""The attacks of issue 12 (an adversarial review of the undoable slashes and fork-and-challenge),
each reproduced on anvil: every test failed before its fix (noted per test) and now checks the rule
that stops the attack. docs/restaking.md ("Security") lists each attack and its rule.
"""

import functools
import json
import subprocess
import sys
from dataclasses import replace

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak

from offchain.chain.deploy import deploy_core
from tests.contracts.support import (
    NO_SIG,
    SALT0,
    TEST_CONFIG,
    WAD,
    ZERO,
    A,
    TokenWorld,
    World,
    head,
    mine_to,
    one,
)

R = TEST_CONFIG.slash_resolution_delay_blocks  # 10
WD = TEST_CONFIG.withdrawal_delay_blocks  # 20
OFF = 10**3
DEP_VICTIM = 1000 * WAD + 7
DEP_OP = 250 * WAD + 3
DEP_OTHER = 400 * WAD + 11


def _tokens_for(w, sym, shares):
    s = w.strats[sym]
    return (w.tokens[sym].balanceOf(s) + OFF) * shares // (s.totalShares() + OFF)


def _self_resolving_operator(w, mag):
    """An operator that is its own AVS: a burning set whose resolver is the operator itself (no
    redistribution consent needed), `mag` of TKA allocated to it; a victim staker and another
    staker delegated to it, and the operator's own TKA stake."""
    w.register_operator(w.op, delay=0)
    w.deposit(w.op, "TKA", DEP_OP)
    w.deposit(w.staker, "TKA", DEP_VICTIM)
    w.deposit(w.staker2, "TKA", DEP_OTHER)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    w.create_sets(ids=(1,), syms=("TKA",), resolver=w.op)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": mag})
    mine_to(w, head(w) + 2)


@pytest.mark.parametrize("mag,wad", [(WAD, WAD), (WAD // 2, 3 * WAD // 5)], ids=["full", "partial"])
def test_cancelled_slash_cannot_take_an_exiting_stakers_stake(w, mag, wad):
    """Item 1. The operator force-undelegates the victim, slashes so that the victim's slashable
    window ends while the slash can still be cancelled, then cancels. Before the fix the victim
    was paid at the slashed rate (nothing, for a full slash) and the cancel gave its part to the
    others. Now a withdrawal whose window ended while a cancellable slash of its operator and
    strategy is pending waits for the slash to be resolved, and a cancel undoes the slash in the
    slashing-factor history itself: every party ends exactly as if the slash never happened."""
    _self_resolving_operator(w, mag)
    sa = w.strats["TKA"]
    before = {who: w.withdrawable(who, "TKA") for who in (w.op, w.staker2)}
    rq = w.dm.undelegate(w.staker, sender=w.op)
    (wd,) = w.withdrawal_from_event(rq)
    until = rq.block_number + WD
    mine_to(w, until - R + 2)
    rs = w.slash(w.op, 1, {"TKA": wad})
    assert rs.block_number + R > until
    mine_to(w, until + 1)
    with ape.reverts("pending slash"):
        w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker)
    expected_tokens = _tokens_for(w, "TKA", DEP_VICTIM) if mag == WAD else None
    w.esc.cancelSlash(w.avs, 1, 1, sender=w.op)
    assert w.dm.slashingFactor(w.op, sa) == WAD
    assert w.dm.slashingFactorAtBlock(w.op, sa, until) == WAD
    for who, amount in before.items():
        assert w.withdrawable(who, "TKA") == amount
    bal0 = w.tokens["TKA"].balanceOf(w.staker)
    if expected_tokens is None:
        expected_tokens = _tokens_for(w, "TKA", DEP_VICTIM)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker)
    assert w.tokens["TKA"].balanceOf(w.staker) - bal0 == expected_tokens
    # the strategy is exactly as before the slash: every claim is still paid at the same rate
    assert sa.totalShares() == DEP_OP + DEP_OTHER
    assert w.tokens["TKA"].balanceOf(sa) == DEP_OP + DEP_OTHER
    assert w.tokens["TKA"].balanceOf(w.esc) == 0


def test_withdrawal_completed_before_the_slash_window_is_not_held(w):
    """The hold is scoped: a withdrawal whose slashable window ended more than the resolution
    window before now cannot be touched by any slash still cancellable, and completes."""
    _self_resolving_operator(w, WAD // 2)
    rq = w.dm.queueWithdrawals([([w.strats["TKA"]], [DEP_OTHER], w.staker2)], sender=w.staker2)
    (wd,) = w.withdrawal_from_event(rq)
    until = rq.block_number + WD
    mine_to(w, until + 1)
    w.slash(w.op, 1, {"TKA": WAD // 2})  # after the window: does not touch the withdrawal
    mine_to(w, until + R + 1)
    bal0 = w.tokens["TKA"].balanceOf(w.staker2)
    expected = _tokens_for(w, "TKA", DEP_OTHER)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker2)
    assert w.tokens["TKA"].balanceOf(w.staker2) - bal0 == expected


# ---------------------------------------------------------------- item 3


@functools.cache
def _dm_slot(name):
    """The storage slot of a DelegationManager variable, from the compiler's layout."""
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "layout", "-p", ".", "contracts/core/DelegationManager.vy"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    layout = json.loads(out)["storage_layout"]
    # the state is in the delegation_storage module the contract initializes ("ds")
    return layout.get(name, layout["ds"].get(name))["slot"]


def _slot(base, *keys):
    for k in keys:
        base = int.from_bytes(keccak(base.to_bytes(32, "big") + k.to_bytes(32, "big")), "big")
    return base


def _force_slashing_factor(w, op, strategy, sf):
    """Write a slashing-factor checkpoint directly, as the bug of item 1 could (far above WAD)."""
    key = keccak(encode(["uint256", "address", "address"], [0, op.address, strategy.address]))
    k = int.from_bytes(key, "big")
    blk = head(w)
    w.chain.provider.set_storage(
        w.dm.address, _slot(_dm_slot("_checkpointCount"), k), (1).to_bytes(32, "big")
    )
    w.chain.provider.set_storage(
        w.dm.address, _slot(_dm_slot("_checkpoints"), k, 0), ((blk << 224) | sf).to_bytes(32, "big")
    )
    assert w.dm.slashingFactor(op, strategy) == sf


@pytest.mark.parametrize("sf", [WAD + 1, 10**36, 10**54])
def test_no_path_sets_a_scaling_factor_from_an_invalid_slashing_factor(w, sf):
    """Item 3. With a slashing factor far above WAD (what item 1 let a cancel produce), a new
    delegator was credited about 1e18 times its deposit (before the fix delegateTo went through).
    Every writer of a deposit scaling factor (delegation, deposit, completion as shares) now
    goes through one guard that refuses it."""
    sa = w.strats["TKA"]
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000 * WAD)
    _force_slashing_factor(w, w.op, sa, sf)
    with ape.reverts("invalid slashing factor"):
        w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.fund(w.op, "TKA", WAD)
    with ape.reverts("invalid slashing factor"):
        w.sm.depositIntoStrategy(sa, w.tokens["TKA"], WAD, sender=w.op)
    assert w.withdrawable(w.staker, "TKA") == 1000 * WAD


# ---------------------------------------------------------------- item 5


@pytest.mark.parametrize("mode", ["revert", "false"])
def test_a_failing_token_never_freezes_the_operator(w, project, mode):
    """Item 5. Paying one token of a slash fails (a paused or blacklisting token reverts, another
    returns false). Before the fix releaseSlash reverted for every token of the slash, the
    pending-slash count never fell and the operator stayed closed to new stake for good. Now
    each token is paid on its own; a failed one stays claimable by calling release again."""
    tok = w.owner.deploy(project.MockFalseERC20, "Pausable", "PSE")
    bad = project.Strategy.at(w.sm.deployNewStrategy(tok, sender=w.owner).return_value)
    w.register_operator(w.op)
    tok.mint(w.staker, 10 * WAD, sender=w.staker)
    tok.approve(w.sm, 10 * WAD, sender=w.staker)
    w.sm.depositIntoStrategy(bad, tok, 10 * WAD, sender=w.staker)
    w.deposit(w.staker, "TKA", 10 * WAD)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    sa = w.strats["TKA"]
    strategies = sorted([sa, bad], key=lambda s: int(s.address, 16))
    w.am.createRedistributingOperatorSets(
        w.avs, [(1, strategies, ZERO)], [w.recipient], [w.resolver], sender=w.avs
    )
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1,))
    w.am.modifyAllocations(w.op, [(w.opset(1), strategies, [WAD // 2] * 2, [0, 0])], sender=w.op)
    r = w.am.slashOperator(w.avs, (w.op, 1, strategies, [WAD // 2] * 2, "x"), sender=w.avs)
    amounts = dict(zip([s.address for s in strategies], w.esc.getSlash(w.avs, 1, 1).amounts, strict=True))
    assert w.dm.pendingSlashes(w.op, bad) == 1 and w.dm.pendingSlashes(w.op, sa) == 1
    if mode == "revert":
        tok.setRevertTransfers(True, sender=w.owner)
    else:
        tok.setFailTransfers(True, sender=w.owner)
    mine_to(w, r.block_number + R + 1)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert w.tokens["TKA"].balanceOf(w.recipient) == amounts[sa.address]
    assert tok.balanceOf(w.recipient) == 0
    # the operator is open to new stake again in both strategies
    assert w.dm.pendingSlashes(w.op, bad) == 0 and w.dm.pendingSlashes(w.op, sa) == 0
    w.deposit(w.staker, "TKA", WAD)
    # the failed token is paid once it works again, and only once
    tok.setRevertTransfers(False, sender=w.owner)
    tok.setFailTransfers(False, sender=w.owner)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert tok.balanceOf(w.recipient) == amounts[bad.address]
    assert w.tokens["TKA"].balanceOf(w.recipient) == amounts[sa.address]
    with ape.reverts("slash not pending"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)


# ---------------------------------------------------------------- items 2, 6 and 8 (bEIGEN)


@pytest.fixture(scope="module")
def t(project, chain, accounts, deployment):
    return TokenWorld(project, chain, accounts, deployment)


def _beigen_set(t):
    """op holds 100 bEIGEN of a staker and 50 of its own, half allocated to a redistributing set
    (resolver) of the AVS; op2 is an operator with no stake."""
    t.register_operator(t.op)
    t.register_operator(t.op2)
    t.stake(t.op, 50 * WAD)
    t.stake(t.staker, 100 * WAD, t.op)
    t.am.updateAVSMetadataURI(t.avs, "m", sender=t.avs)
    t.am.createRedistributingOperatorSets(
        t.avs, [(1, [t.bstrat], ZERO)], [t.recipient], [t.resolver], sender=t.avs
    )
    t.am.setRedistributionConsent(t.op, t.opset(1), True, sender=t.op)
    t.register_for_sets(t.op, (1,))
    t.am.modifyAllocations(t.op, [(t.opset(1), [t.bstrat], [WAD // 2], [0])], sender=t.op)
    mine_to(t, head(t) + 2)


def _slash_beigen(t, wad=WAD // 5):
    return t.am.slashOperator(t.avs, (t.op, 1, [t.bstrat], [wad], "fault"), sender=t.avs)


def test_a_bogus_challenge_stops_neither_slashing_nor_cancelling(t):
    """Items 2 and 8. An accomplice opens a cheap challenge against an operator with no stake.
    Before the fix every slash of the bEIGEN strategy reverted while it was pending ("challenge
    pending"), so the guilty operator could deregister and sit out its slashable window, and the
    resolver could not cancel a wrong bEIGEN slash either. Now the slash keeps the slashed shares
    in the strategy (held by the escrow) and moves no bEIGEN, so it needs no token movement during
    the challenge, and a cancel just undoes it."""
    _beigen_set(t)
    before = t.staked(t.staker)
    total0, bal0 = t.bstrat.totalShares(), t.canonical().balanceOf(t.bstrat)
    _slash_beigen(t)  # a wrong slash just before the challenge
    t.open_challenge(t.other, [t.op2])
    assert t.fm.challengePending()
    _slash_beigen(t)  # and one while it is pending
    assert t.staked(t.staker) < before
    assert (t.bstrat.totalShares(), t.canonical().balanceOf(t.bstrat)) == (total0, bal0)  # nothing moved
    t.esc.cancelSlash(t.avs, 1, 2, sender=t.resolver)
    t.esc.cancelSlash(t.avs, 1, 1, sender=t.resolver)
    assert t.staked(t.staker) == before
    assert t.dm.pendingSlashes(t.op, t.bstrat) == 0


def test_a_beigen_release_follows_the_canonical_fork(t):
    """Item 6. A bEIGEN slash released while a challenge was pending paid the recipient in the
    parent bEIGEN, which adoption then abandoned: the recipient ended with nothing in the adopted
    fork (before the fix its fork balance was 0). Now the release of held shares waits while the
    strategy cannot move tokens, stays claimable, and pays in the canonical fork."""
    _beigen_set(t)
    r = _slash_beigen(t)
    shares = t.esc.getSlash(t.avs, 1, 1).amounts[0]
    assert shares > 0
    _, cid, fork = t.open_challenge(t.other, [t.op2])
    mine_to(t, r.block_number + R + 1)
    rr = t.esc.releaseSlash(t.avs, 1, 1, sender=t.other)
    assert [e.amount for e in rr.events if e.event_name == "SlashPaymentFailed"] == [shares]
    assert list(t.esc.getUnpaid(t.avs, 1, 1)) == [shares]
    assert t.dm.pendingSlashes(t.op, t.bstrat) == 0
    owed = t.bstrat.sharesToUnderlyingView(shares)
    t.resolve(cid, True)
    assert t.fm.canonicalToken() == fork.address
    t.esc.releaseSlash(t.avs, 1, 1, sender=t.other)
    assert fork.balanceOf(t.recipient) == owed
    assert list(t.esc.getUnpaid(t.avs, 1, 1)) == [0]


# ---------------------------------------------------------------- item 7


def test_no_role_can_name_itself_fork_slasher(t):
    """Item 7. The strategy whitelister could name itself fork slasher at any time and burn any
    operator's bEIGEN stake (before the fix setForkSlasher went through and the burn followed).
    The fork slasher is now set once, at deployment, and never again."""
    _beigen_set(t)
    before = t.staked(t.staker)
    assert t.dm.forkSlasher() == t.fm.address
    whitelister = t.sm.strategyWhitelister()
    with ape.reverts("fork slasher already set"):
        t.dm.setForkSlasher(whitelister, sender=whitelister)
    with ape.reverts("only fork slasher"):
        t.dm.slashOperatorSharesForFork(t.op, t.bstrat, 10**30, sender=whitelister)
    assert t.staked(t.staker) == before


# ---------------------------------------------------------------- item 9


@pytest.mark.parametrize("outcome", ["cancel", "release"])
def test_dust_slashes_cannot_keep_an_operator_closed(w, outcome):
    """Item 9. A set with a resolver kept an operator closed to new stake with slashes of ~1,000
    wei, one per resolution window (before the fix the newcomer's deposit and delegation reverted
    "pending slash"). A cancellable slash below 1/10,000 of the operator's magnitude now closes
    nothing: new stake joins priced as if it will be cancelled, so a cancel gives the newcomer
    nothing and a release costs it at most the dust."""
    _self_resolving_operator(w, WAD // 2)
    old = w.withdrawable(w.staker, "TKA")
    r = w.slash(w.op, 1, {"TKA": 10**6})  # 5e11 of WAD: about 1e-6 of the stake
    new = 5 * WAD + 3
    w.deposit(w.staker, "TKA", new)  # a staker of the operator adds stake
    w.deposit(w.other, "TKA", new)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.other)  # a newcomer joins
    assert w.dm.pendingDustSlashes(w.op, w.strats["TKA"]) == 1
    assert w.dm.pendingSlashes(w.op, w.strats["TKA"]) == 0
    if outcome == "cancel":
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.op)
        assert new - 10 <= w.withdrawable(w.other, "TKA") <= new  # never more than it brought
        # its stake from before the slash is restored, up to the factor's rounding (1e-18)
        assert old + new - (old + new) // 10**17 <= w.withdrawable(w.staker, "TKA") <= old + new
    else:
        mine_to(w, r.block_number + R + 1)
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
        got = w.withdrawable(w.other, "TKA")
        assert new - new // 10**5 <= got <= new
    assert w.dm.pendingDustSlashes(w.op, w.strats["TKA"]) == 0
    w.deposit(w.other, "TKA", WAD)


# ---------------------------------------------------------------- item 4

MIN_DELAY = 30  # > the withdrawal delay (20): delegators can leave before an allocation applies


@pytest.fixture
def floored(project, accounts, chain):
    """A core deployed with a minimum allocation delay longer than the withdrawal delay."""
    d = deploy_core(project, accounts[0], replace(TEST_CONFIG, min_allocation_delay_blocks=MIN_DELAY))
    return World(project, chain, accounts, d)


def test_allocation_delay_floor_lets_delegators_leave_first(floored):
    """Item 4 (ELIP-016). With allocation delay 0 an operator could allocate to a redistributing
    set that pays itself and slash its delegators in the same block (before the fix a delay of 0
    was accepted). The deployment now sets a minimum allocation delay; with it longer than the
    withdrawal delay, a staker who sees the allocation leaves with everything."""
    w = floored
    assert w.am.MIN_ALLOCATION_DELAY() == MIN_DELAY
    with ape.reverts("allocation delay below minimum"):
        w.register_operator(w.op, delay=0)
    w.register_operator(w.op, delay=MIN_DELAY)
    with ape.reverts("allocation delay below minimum"):
        w.am.setAllocationDelay(w.op, MIN_DELAY - 1, sender=w.op)
    w.deposit(w.staker, "TKA", 100 * WAD)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    # the operator is its own AVS with a redistributing set that pays the operator
    w.am.updateAVSMetadataURI(w.op, "m", sender=w.op)
    w.am.createRedistributingOperatorSets(w.op, [(1, [w.strats["TKA"]], ZERO)], [w.op], sender=w.op)
    w.am.setRedistributionConsent(w.op, (w.op.address, 1), True, sender=w.op)
    w.am.registerForOperatorSets(w.op, (w.op, [1], b""), sender=w.op)
    ra = w.am.modifyAllocations(w.op, [((w.op.address, 1), [w.strats["TKA"]], [WAD], [0])], sender=w.op)
    rq = w.dm.undelegate(w.staker, sender=w.staker)  # the staker sees it and leaves at once
    (wd,) = w.withdrawal_from_event(rq)
    mine_to(w, ra.block_number + MIN_DELAY)
    w.am.slashOperator(w.op, (w.op, 1, [w.strats["TKA"]], [WAD], "drain"), sender=w.op)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker)
    assert w.tokens["TKA"].balanceOf(w.staker) == 100 * WAD


def test_pauser_registry_roles_and_flags(w):
    """Item 4. Nothing could stop a release, a slash, deposits or withdrawals. A PauserRegistry
    (EigenLayer's roles: pausers pause, one unpauser unpauses and appoints pausers) now sets the
    flags each guarded contract keeps in its own bitmap (EigenLayer's Pausable, indices as
    EigenLayer's): StrategyManager 0 deposits, DelegationManager 2 withdrawal completion,
    AllocationManager 1 slashing, SlashEscrow 0 escrow release."""
    pr = w.project.PauserRegistry.at(w.sm.pauserRegistry())
    for c in (w.dm, w.am, w.esc):
        assert c.pauserRegistry() == pr.address
    assert pr.isPauser(w.owner) and pr.unpauser() == w.owner.address
    assert [c.paused() for c in (w.sm, w.dm, w.am, w.esc)] == [0] * 4
    with ape.reverts("only pauser"):
        pr.pause(w.sm, 1, sender=w.other)
    with ape.reverts("only pauser"):
        pr.pauseAll(w.sm, sender=w.other)
    with ape.reverts("only unpauser"):
        pr.setIsPauser(w.other, True, sender=w.other)
    for c in (w.sm, w.dm, w.am, w.esc):  # only the registry writes a contract's flags
        with ape.reverts("only pauser registry"):
            c.setPausedStatus(1, sender=w.owner)
    pr.setIsPauser(w.resolver, True, sender=w.owner)
    pr.setUnpauser(w.recipient, sender=w.owner)
    _self_resolving_operator(w, WAD // 2)
    rq = w.dm.queueWithdrawals([([w.strats["TKA"]], [WAD], w.staker2)], sender=w.staker2)
    (wd,) = w.withdrawal_from_event(rq)
    rs = w.slash(w.op, 1, {"TKA": WAD // 2})
    mine_to(w, max(rq.block_number + WD, rs.block_number + R) + 1)
    flags = {w.sm: 0b1, w.dm: 0b100, w.am: 0b10, w.esc: 0b1}
    for c, f in flags.items():
        r = pr.pause(c, f, sender=w.resolver)
        e = one(r, "Paused", pr)
        assert (A(e.account), A(e.target), e.newPausedStatus) == (A(w.resolver), A(c), f)
        assert c.paused() == f and pr.isPaused(c, f.bit_length() - 1)
        assert not pr.isPaused(c, f.bit_length())
    with ape.reverts("invalid new paused status"):
        pr.pause(w.dm, 0b001, sender=w.resolver)  # a pause only adds flags
    with ape.reverts("only unpauser"):
        pr.unpause(w.dm, 0, sender=w.resolver)
    w.fund(w.staker, "TKA", WAD)
    with ape.reverts("paused"):
        w.sm.depositIntoStrategy(w.strats["TKA"], w.tokens["TKA"], WAD, sender=w.staker)
    with ape.reverts("paused"):
        w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker2)
    with ape.reverts("paused"):
        w.slash(w.op, 1, {"TKA": WAD // 2})
    with ape.reverts("paused"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    with ape.reverts("invalid new paused status"):
        pr.unpause(w.dm, 0b1100, sender=w.recipient)  # an unpause only clears flags
    for c in (w.dm, w.am):  # deposits and release stay paused
        r = pr.unpause(c, 0, sender=w.recipient)
        e = one(r, "Unpaused", pr)
        assert (A(e.account), A(e.target), e.newPausedStatus) == (A(w.recipient), A(c), 0)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker2)
    w.slash(w.op, 1, {"TKA": WAD // 2})
    with ape.reverts("paused"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    pr.unpause(w.esc, 0, sender=w.recipient)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    with ape.reverts("paused"):  # the StrategyManager's flag is its own
        w.deposit(w.other, "TKA", WAD)
    pr.unpause(w.sm, 0, sender=w.recipient)
    w.deposit(w.other, "TKA", WAD)  # an undelegated staker (the operator has a slash pending)
    pr.pauseAll(w.am, sender=w.resolver)
    assert w.am.paused() == 2**256 - 1 and w.sm.paused() == 0
