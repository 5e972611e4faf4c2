"""Unit tests for SlashEscrow: recording, release to the recipient or the burn address, cancel by
the resolver (tokens and the very shares taken back into the strategies, the slash undone in the
slashing-factor history), the resolution window at its exact boundary blocks, and every revert.

Expected amounts are recomputed from the Strategy exchange rate (virtual offsets 1e3) and the
DelegationManager slashing factor (sf' = sf * m' // m on a slash, scaled back by m / m' on a
cancel). Every transaction, reverting or not, is mined in block head + 1.
"""

import ape
import pytest

from tests.contracts.support import (
    BURN,
    NO_SIG,
    SALT0,
    TEST_CONFIG,
    WAD,
    ZERO,
    ceil_div,
    evs,
    head,
    mine_to,
    oset,
)

R = TEST_CONFIG.slash_resolution_delay_blocks  # 10
WD = TEST_CONFIG.withdrawal_delay_blocks  # 20
OFF = 10**3
DEP_A = 1000 * WAD + 7
DEP_A2 = 400 * WAD + 11
DONATION = 123_456_789 * 10**9 + 5  # makes the TKA exchange rate differ from 1
DEP_B = 300 * WAD + 3
MAG_A, MAG_B = WAD // 2, 4 * WAD // 10


# ---------------------------------------------------------------- helpers and model


class Vault:
    """Python model of Strategy share accounting."""

    def __init__(self):
        self.total = 0
        self.balance = 0

    def deposit(self, amount):
        shares = amount * (self.total + OFF) // (self.balance + OFF)
        self.total += shares
        self.balance += amount
        return shares

    def donate(self, amount):
        self.balance += amount

    def withdraw(self, shares):
        amount = (self.balance + OFF) * shares // (self.total + OFF)
        self.total -= shares
        self.balance -= amount
        return amount


class Model:
    def __init__(self):
        self.va, self.vb = Vault(), Vault()
        self.s1a = self.va.deposit(DEP_A)
        self.va.donate(DONATION)
        self.s2a = self.va.deposit(DEP_A2)
        self.s1b = self.vb.deposit(DEP_B)


def slash_set1(w, wad_a, wad_b, m):
    """Slash set 1 (TKA by wad_a, TKB by wad_b); returns the receipt and the expected
    (strategy, token, amount, shares, new sf) per strategy in ascending order."""
    r = w.slash(w.op, 1, {"TKA": wad_a, "TKB": wad_b})
    exp = {}
    for sym, mag, wad, vault, scaled in (
        ("TKA", MAG_A, wad_a, m.va, m.s1a + m.s2a),
        ("TKB", MAG_B, wad_b, m.vb, m.s1b),
    ):
        new_max = WAD - ceil_div(mag * wad, WAD)
        sf = WAD * new_max // WAD
        shares = scaled - scaled * sf // WAD
        amount = vault.withdraw(shares)
        exp[sym] = dict(
            strategy=w.strats[sym].address, token=w.tokens[sym].address, amount=amount, shares=shares, sf=sf
        )
    order = sorted(exp, key=lambda s: int(w.strats[s].address, 16))
    return r, [exp[s] for s in order], order


@pytest.fixture
def world(w):
    """Operator with two delegated stakers; redistributing set 1 (TKA, TKB; resolver) and burning
    set 2 (TKA; no resolver); 0.5/0.4 of TKA/TKB allocated to set 1 and 0.2 of TKA to set 2."""
    w.register_operator(w.op, delay=0)
    w.deposit(w.staker, "TKA", DEP_A)
    w.tokens["TKA"].mint(w.strats["TKA"], DONATION, sender=w.owner)
    w.deposit(w.staker2, "TKA", DEP_A2)
    w.deposit(w.staker, "TKB", DEP_B)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker2)
    w.create_sets(ids=(1,), syms=("TKA", "TKB"), redistributing=True, resolver=w.resolver)
    w.create_sets(ids=(2,), syms=("TKA",))
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1, 2))
    w.allocate(w.op, 1, {"TKA": MAG_A, "TKB": MAG_B})
    w.allocate(w.op, 2, {"TKA": WAD // 5})
    return w, Model()


# ---------------------------------------------------------------- construction and access


def test_constructor_and_immutables(w, project):
    assert w.esc.strategyManager() == w.sm.address
    assert w.esc.delegation() == w.dm.address
    assert w.esc.allocationManager() == w.am.address
    assert w.esc.SLASH_RESOLUTION_DELAY_BLOCKS() == R
    with ape.reverts("resolution window exceeds withdrawal delay"):
        w.owner.deploy(project.SlashEscrow, w.sm, w.dm, w.am, WD + 1)
    e = w.owner.deploy(project.SlashEscrow, w.sm, w.dm, w.am, WD)
    assert e.SLASH_RESOLUTION_DELAY_BLOCKS() == WD


def test_record_slash_only_strategy_manager(w):
    with ape.reverts("only strategy manager"):
        w.esc.recordSlash(w.op, w.avs, 1, 1, w.strats["TKA"], w.tokens["TKA"], 1, 1, 1, False, sender=w.other)
    with ape.reverts("only strategy manager"):
        w.esc.recordSlash(w.op, w.avs, 1, 1, w.strats["TKA"], w.tokens["TKA"], 1, 1, 1, False, sender=w.avs)


def test_unknown_slash(w):
    rec = w.esc.getSlash(w.avs, 1, 1)
    assert (rec.operator, rec.resolveBlock, rec.status, list(rec.amounts)) == (ZERO, 0, 0, [])
    with ape.reverts("slash not pending"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    with ape.reverts("slash not pending"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)


# ---------------------------------------------------------------- recording


def test_slash_is_recorded(world):
    w, m = world
    esc_a0 = w.tokens["TKA"].balanceOf(w.esc)
    r, exp, order = slash_set1(w, WAD // 3, WAD // 4, m)
    b = r.block_number
    got = evs(r, "SlashEscrowed", w.esc)
    assert [
        (oset(e.operatorSet), e.slashId, e.operator, e.strategy, e.token, e.amount, e.resolveBlock)
        for e in got
    ] == [
        ((w.avs.address.lower(), 1), 1, w.op.address, x["strategy"], x["token"], x["amount"], b + R)
        for x in exp
    ]
    rec = w.esc.getSlash(w.avs, 1, 1)
    assert rec.operator == w.op.address and rec.resolveBlock == b + R and rec.status == 1
    assert list(rec.strategies) == [x["strategy"] for x in exp]
    assert list(rec.tokens) == [x["token"] for x in exp]
    assert list(rec.amounts) == [x["amount"] for x in exp]
    assert list(r.return_value[1]) == [x["shares"] for x in exp]
    ea = exp[order.index("TKA")]
    assert ea["amount"] != ea["shares"]  # the exchange rate really matters here
    assert w.tokens["TKA"].balanceOf(w.esc) - esc_a0 == ea["amount"]
    assert w.tokens["TKB"].balanceOf(w.esc) == exp[order.index("TKB")]["amount"]
    assert w.strats["TKA"].totalShares() == m.va.total
    assert w.tokens["TKA"].balanceOf(w.strats["TKA"]) == m.va.balance
    # another set's slash id 1 is a separate record
    assert w.esc.getSlash(w.avs, 2, 1).status == 0


def test_zero_share_slash_records_zero_amount(world):
    w, m = world
    # TKC: magnitude allocated but no stake delegated, so the slash moves no tokens
    w.am.addStrategiesToOperatorSet(w.avs, 2, [w.strats["TKC"]], sender=w.avs)
    w.allocate(w.op, 2, {"TKC": WAD // 2})
    r = w.slash(w.op, 2, {"TKC": WAD // 2})
    (e,) = evs(r, "SlashEscrowed", w.esc)
    assert (e.amount, e.strategy) == (0, w.strats["TKC"].address)
    rec = w.esc.getSlash(w.avs, 2, 1)
    assert (rec.status, list(rec.amounts)) == (1, [0]) and rec.magnitudes[0] > 0
    mine_to(w, r.block_number + R + 1)
    r2 = w.esc.releaseSlash(w.avs, 2, 1, sender=w.other)
    (e,) = evs(r2, "SlashReleased")
    assert (e.recipient, e.token, e.amount) == (BURN, w.tokens["TKC"].address, 0)
    assert evs(r2, "Transfer") == []
    assert w.esc.getSlash(w.avs, 2, 1).status == 2


# ---------------------------------------------------------------- release


def test_release_to_recipient_at_exact_boundary(world):
    w, m = world
    r, exp, order = slash_set1(w, WAD // 3, WAD // 4, m)
    rb = r.block_number + R
    mine_to(w, rb)
    with ape.reverts("resolution window open"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert head(w) == rb
    r = w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)  # anyone, in block rb + 1
    assert r.block_number == rb + 1
    got = evs(r, "SlashReleased")
    assert [(oset(e.operatorSet), e.slashId, e.recipient, e.token, e.amount) for e in got] == [
        ((w.avs.address.lower(), 1), 1, w.recipient.address, x["token"], x["amount"]) for x in exp
    ]
    for x, sym in zip(exp, order, strict=False):
        assert w.tokens[sym].balanceOf(w.recipient) == x["amount"]
        assert w.tokens[sym].balanceOf(w.esc) == 0
    assert w.esc.getSlash(w.avs, 1, 1).status == 2
    with ape.reverts("slash not pending"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    with ape.reverts("slash not pending"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    # the stakers keep the slashed balance
    sf = exp[order.index("TKA")]["sf"]
    assert w.withdrawable(w.staker, "TKA") == m.s1a * sf // WAD


def test_release_burning_set_to_burn_address(world):
    w, m = world
    r = w.slash(w.op, 2, {"TKA": WAD})
    sm = WAD // 5
    scaled = m.s1a + m.s2a
    shares = scaled - scaled * (WAD - sm) // WAD
    amount = m.va.withdraw(shares)
    assert list(r.return_value[1]) == [shares]
    mine_to(w, r.block_number + R + 1)
    r = w.esc.releaseSlash(w.avs, 2, 1, sender=w.staker)
    (e,) = evs(r, "SlashReleased")
    assert (oset(e.operatorSet), e.slashId, e.recipient, e.amount) == (
        (w.avs.address.lower(), 2),
        1,
        BURN,
        amount,
    )
    assert w.tokens["TKA"].balanceOf(BURN) == amount
    assert w.tokens["TKA"].balanceOf(w.esc) == 0


def test_slashes_are_released_and_cancelled_independently(world):
    w, m = world
    r1 = w.slash(w.op, 1, {"TKA": WAD // 10})
    r2 = w.slash(w.op, 1, {"TKA": WAD // 10})
    a1 = w.esc.getSlash(w.avs, 1, 1).amounts[0]
    a2 = w.esc.getSlash(w.avs, 1, 2).amounts[0]
    assert w.esc.getSlash(w.avs, 1, 2).resolveBlock == r2.block_number + R
    # slash 1's window closes one block before slash 2's
    assert r2.block_number == r1.block_number + 1
    mine_to(w, r2.block_number + R)
    w.esc.cancelSlash(w.avs, 1, 2, sender=w.resolver)  # last block of slash 2's window
    with ape.reverts("resolution window closed"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    with ape.reverts("slash not pending"):
        w.esc.releaseSlash(w.avs, 1, 2, sender=w.other)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert w.tokens["TKA"].balanceOf(w.recipient) == a1
    assert (w.esc.getSlash(w.avs, 1, 1).status, w.esc.getSlash(w.avs, 1, 2).status) == (2, 3)
    assert a2 > 0 and w.tokens["TKA"].balanceOf(w.esc) == 0


# ---------------------------------------------------------------- cancel


def test_cancel_reverts(world):
    w, m = world
    r1, _, _ = slash_set1(w, WAD // 3, WAD // 4, m)
    r2 = w.slash(w.op, 2, {"TKA": WAD // 2})
    with ape.reverts("only resolver"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.other)
    with ape.reverts("only resolver"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.avs)
    with ape.reverts("only resolver"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.op)
    # set 2 has no resolver: nobody can cancel, not even set 1's resolver or the AVS
    with ape.reverts("only resolver"):
        w.esc.cancelSlash(w.avs, 2, 1, sender=w.resolver)
    with ape.reverts("only resolver"):
        w.esc.cancelSlash(w.avs, 2, 1, sender=w.avs)
    mine_to(w, r1.block_number + R + 1)
    with ape.reverts("resolution window closed"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert w.esc.getSlash(w.avs, 1, 1).status == 1
    mine_to(w, r2.block_number + R + 1)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    w.esc.releaseSlash(w.avs, 2, 1, sender=w.other)


def test_cancel_in_last_block_undoes_the_slash_exactly(world):
    w, m = world
    before = (
        w.withdrawable(w.staker, "TKA"),
        w.withdrawable(w.staker2, "TKA"),
        w.withdrawable(w.staker, "TKB"),
    )
    assert before == (m.s1a, m.s2a, m.s1b)
    vaults0 = {sym: (v.total, v.balance) for sym, v in (("TKA", m.va), ("TKB", m.vb))}
    r, exp, order = slash_set1(w, WAD // 3, 7 * WAD // 10, m)
    rb = r.block_number + R
    mine_to(w, rb)
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert r.block_number == rb
    got = evs(r, "SlashCancelled")
    assert [
        (oset(e.operatorSet), e.slashId, e.operator, e.strategy, e.amount, e.restoredShares) for e in got
    ] == [((w.avs.address.lower(), 1), 1, w.op.address, x["strategy"], x["amount"], x["shares"]) for x in exp]
    assert w.esc.getSlash(w.avs, 1, 1).status == 3
    # tokens and the very shares taken are back: the strategies are as before the slash
    for sym in ("TKA", "TKB"):
        assert w.tokens[sym].balanceOf(w.esc) == 0
        assert (w.strats[sym].totalShares(), w.tokens[sym].balanceOf(w.strats[sym])) == vaults0[sym]
    # the slashing factor is scaled back by prevMax / newMax: exactly WAD again here
    for sym in ("TKA", "TKB"):
        assert w.dm.slashingFactor(w.op, w.strats[sym]) == WAD
    after = (
        w.withdrawable(w.staker, "TKA"),
        w.withdrawable(w.staker2, "TKA"),
        w.withdrawable(w.staker, "TKB"),
    )
    assert after == before
    assert w.op_shares(w.op, "TKA") == m.s1a + m.s2a
    with ape.reverts("slash not pending"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    with ape.reverts("slash not pending"):
        w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)


def test_cancel_restores_queued_withdrawal_too(world):
    w, m = world
    # staker2 queues half its TKA before the slash: still slashable, so the cancel restores it
    half = m.s2a // 2
    rq = w.dm.queueWithdrawals([([w.strats["TKA"]], [half], w.staker2)], sender=w.staker2)
    (ev,) = evs(rq, "SlashingWithdrawalQueued")
    wd = tuple(list(x) if isinstance(x, (list, tuple)) else x for x in ev.withdrawal)
    r = w.slash(w.op, 1, {"TKA": WAD // 2})
    held = m.s1a + m.s2a
    op_scaled = held - half
    sf1 = WAD * (WAD - MAG_A // 2) // WAD
    shares = op_scaled + half - (op_scaled * sf1 // WAD + half * sf1 // WAD)
    assert list(r.return_value[1]) == [shares]
    assert w.dm.getSlashableSharesInQueue(w.op, w.strats["TKA"]) == half * sf1 // WAD
    w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert w.dm.slashingFactor(w.op, w.strats["TKA"]) == WAD
    assert w.dm.getSlashableSharesInQueue(w.op, w.strats["TKA"]) == half
    # the withdrawal completes at the pre-slash rate, in full
    mine_to(w, rq.block_number + WD + 1)
    bal0 = w.tokens["TKA"].balanceOf(w.staker2)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKA"]], True, sender=w.staker2)
    assert w.tokens["TKA"].balanceOf(w.staker2) - bal0 == m.va.withdraw(half)


def test_cancel_zero_amount_slash(world):
    w, m = world
    w.am.addStrategiesToOperatorSet(w.avs, 1, [w.strats["TKC"]], sender=w.avs)
    w.allocate(w.op, 1, {"TKC": WAD // 2})
    w.slash(w.op, 1, {"TKC": WAD // 2})
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    (e,) = evs(r, "SlashCancelled")
    assert (e.strategy, e.amount, e.restoredShares) == (w.strats["TKC"].address, 0, 0)
    assert evs(r, "OperatorSharesRestored") == []
    assert w.esc.getSlash(w.avs, 1, 1).status == 3


def test_cancel_when_the_whole_slashed_stake_was_queued(world):
    """The staker's whole TKB stake was queued for withdrawal and the slash landed in the last
    block it was slashable. Before issue 12 the cancel gave the TKB tokens to the strategy's other
    holders and the withdrawal stayed at the slashed rate. Now the withdrawal waits for the slash
    to be resolved ("pending slash") and the cancel restores it in full."""
    w, m = world
    rq = w.dm.queueWithdrawals([([w.strats["TKB"]], [m.s1b], w.staker)], sender=w.staker)
    (wd,) = w.withdrawal_from_event(rq)
    mine_to(w, rq.block_number + WD)
    r, exp, order = slash_set1(w, WAD // 2, WAD // 2, m)
    assert all(x["shares"] > 0 for x in exp)  # the queued TKB shares were slashed
    mine_to(w, r.block_number + R - 1)
    with ape.reverts("pending slash"):
        w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKB"]], True, sender=w.staker)
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    got = {e.strategy: (e.amount, e.restoredShares) for e in evs(r, "SlashCancelled")}
    assert got == {x["strategy"]: (x["amount"], x["shares"]) for x in exp}
    assert w.strats["TKB"].totalShares() == m.s1b
    bal0 = w.tokens["TKB"].balanceOf(w.staker)
    w.dm.completeQueuedWithdrawal(wd, [w.tokens["TKB"]], True, sender=w.staker)
    assert w.tokens["TKB"].balanceOf(w.staker) - bal0 == (DEP_B + OFF) * m.s1b // (m.s1b + OFF)
    assert w.esc.getSlash(w.avs, 1, 1).status == 3


def test_cancel_with_dust_entry_is_not_blocked(w):
    """A slash entry whose tokens are worth less than one strategy share (possible once the
    exchange rate is above 1) must not make the whole slash impossible to cancel: before the fix,
    re-depositing it reverted with "zero new shares" in Strategy.deposit, so the slasher could
    shield a wrongful slash from the resolver by adding a dust strategy to it. The exact undo mints
    the taken share back with its token."""
    w.register_operator(w.op, delay=0)
    w.deposit(w.staker, "TKA", DEP_A)
    w.deposit(w.staker, "TKC", 1000)  # 1000 shares
    w.tokens["TKC"].mint(w.strats["TKC"], 1500, sender=w.owner)  # rate (2500+1e3)/(1000+1e3)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.create_sets(ids=(1,), syms=("TKA", "TKC"), redistributing=True, resolver=w.resolver)
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD // 2, "TKC": WAD // 2})
    w.slash(w.op, 1, {"TKA": WAD // 2, "TKC": 1})
    va = Vault()
    va.deposit(DEP_A)
    sf_a = WAD - WAD // 4
    shares_a = DEP_A - DEP_A * sf_a // WAD
    amount_a = va.withdraw(shares_a)
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    got = {e.strategy: (e.amount, e.restoredShares) for e in evs(r, "SlashCancelled")}
    assert got == {w.strats["TKA"].address: (amount_a, shares_a), w.strats["TKC"].address: (1, 1)}
    assert w.tokens["TKC"].balanceOf(w.strats["TKC"]) == 2500
    assert w.tokens["TKC"].balanceOf(w.esc) == 0
    assert w.strats["TKC"].totalShares() == 1000
    assert w.dm.slashingFactor(w.op, w.strats["TKA"]) == WAD
    assert w.withdrawable(w.staker, "TKA") == DEP_A
    assert w.withdrawable(w.staker, "TKC") == 1000
    assert w.esc.getSlash(w.avs, 1, 1).status == 3


def test_token_transfer_returning_false(w, project):
    """cancelSlash checks the ERC-20 return value ("transfer failed"); releaseSlash leaves a
    payment returning false claimable."""
    tok = w.owner.deploy(project.MockFalseERC20, "False", "FLS")
    strat = project.Strategy.at(
        w.sm.deployNewStrategy(tok, sender=w.owner).return_value or w.sm.deployedStrategies(tok)
    )
    w.register_operator(w.op, delay=0)
    tok.mint(w.staker, 10 * WAD, sender=w.staker)
    tok.approve(w.sm, 10 * WAD, sender=w.staker)
    w.sm.depositIntoStrategy(strat, tok, 10 * WAD, sender=w.staker)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    w.am.createRedistributingOperatorSets(
        w.avs, [(1, [strat], ZERO)], [w.recipient], [w.resolver], sender=w.avs
    )
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1,))
    w.am.modifyAllocations(w.op, [(w.opset(1), [strat], [WAD // 2], [0])], sender=w.op)
    r = w.am.slashOperator(w.avs, (w.op, 1, [strat], [WAD // 2], "x"), sender=w.avs)
    amount = w.esc.getSlash(w.avs, 1, 1).amounts[0]
    assert amount == 10 * WAD - 10 * WAD * (WAD - WAD // 4) // WAD
    tok.setFailTransfers(True, sender=w.owner)
    with ape.reverts("transfer failed"):
        w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    mine_to(w, r.block_number + R + 1)
    # the release does not revert: the payment stays claimable (item 5 of issue 12)
    rr = w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert [e.amount for e in evs(rr, "SlashPaymentFailed")] == [amount]
    assert list(w.esc.getUnpaid(w.avs, 1, 1)) == [amount]
    assert w.esc.getSlash(w.avs, 1, 1).status == 2
    tok.setFailTransfers(False, sender=w.owner)
    w.esc.releaseSlash(w.avs, 1, 1, sender=w.other)
    assert list(w.esc.getUnpaid(w.avs, 1, 1)) == [0]
    assert tok.balanceOf(w.recipient) == amount


def test_cancel_gives_back_the_slashed_magnitude_unallocated(w):
    """50/50 between two sets; set 1 slashes 100% of its half and the resolver cancels: the other
    set's stake must not grow (it was 500 before; without the magnitude coming back it would be
    1000), the max magnitude is whole again and the freed half is unallocated."""
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000 * WAD)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.create_sets(ids=(1,), syms=("TKA",), redistributing=True, resolver=w.resolver)
    w.create_sets(ids=(2,), syms=("TKA",))
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1, 2))
    w.allocate(w.op, 1, {"TKA": WAD // 2})
    w.allocate(w.op, 2, {"TKA": WAD // 2})
    strat = w.strats["TKA"]

    def stake(set_id):
        return w.am.getAllocatedStake(w.opset(set_id), [w.op], [strat])[0][0]

    assert stake(1) == stake(2) == 500 * WAD
    w.slash(w.op, 1, {"TKA": WAD})
    assert (stake(1), stake(2)) == (0, 500 * WAD)
    assert w.am.getMaxMagnitude(w.op, strat) == WAD // 2
    rec = w.esc.getSlash(w.avs, 1, 1)
    assert list(rec.magnitudes) == [WAD // 2]
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert w.am.getMaxMagnitude(w.op, strat) == WAD
    assert stake(2) == 500 * WAD
    assert stake(1) == 0
    assert w.am.getAllocatableMagnitude(w.op, strat) == WAD // 2
    assert w.withdrawable(w.staker, "TKA") == 1000 * WAD
    ev = [e for e in r.events if e.event_name == "MaxMagnitudeUpdated"]
    assert len(ev) == 1 and ev[0].maxMagnitude == WAD


def test_restore_magnitude_only_by_escrow(w):
    with ape.reverts("only slash escrow"):
        w.am.restoreSlashedMagnitude(w.op, w.strats["TKA"], 1, sender=w.op)
