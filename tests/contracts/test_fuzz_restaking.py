"""Hypothesis state-machine fuzzing of the restaking core on anvil.

Random sequences of deposit, delegate, undelegate, queue and complete withdrawal, register,
deregister, allocate, deallocate, mine blocks, slash, cancel and release; after every step the
protocol invariants are checked against the chain (see `check_invariants`). One token (TKF) can
refuse payment at release time, by reverting or returning false as a paused or blacklisting
token does (issue 12 item 5): the release still pays the other tokens, TKF stays claimable and a
later release call pays it. The CI profile runs a
few hundred steps; EIGEN_PROFILE=long runs thousands.
"""

from __future__ import annotations

import ape
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from offchain import settings as eigen_settings
from tests.contracts.support import BURN, NO_SIG, SALT0, WAD, ZERO, World

SYMS = ("TKA", "TKB", "TKF")  # TKF: a MockFalseERC20 whose transfers can fail
SETS = (1, 2)  # 1: redistributing with a resolver, 2: burning without one
REL = 10**12  # relative tolerance for pro-rata checks (rounding of the slashing factor)


def approx_le(a: int, b: int, slack: int = 2) -> bool:
    return a <= b + slack + b // REL


def run_machine(w: World, chain) -> None:
    stakers = [w.staker, w.staker2, w.other]
    w.tokens, w.strats = dict(w.tokens), dict(w.strats)  # TKF is this test's only
    operators = [w.op, w.op2]

    class Restaking(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.minted = {s: 0 for s in SYMS}
            self.delegated = {}  # staker -> operator
            self.pending = []  # (withdrawal tuple, start block)
            self.slashes = []  # [set_id, slash_id, block, status]
            self.unpaid = []  # released slashes with a payment still owed
            self.max_seen = {}
            self.history = {}  # block -> {(op, sym, staker or None): shares at the block's end}
            self.alloc_history = {}  # block -> {(op, set, sym or None): allocation or membership}

        def teardown(self):
            chain.restore(self.snap)

        def _parties(self, op, strategies, slash_block):
            """Value of each party's stake with `op` in `strategies` that a slash at
            `slash_block` touched: delegated stakers (and the operator) now, and queued
            withdrawals from `op` whose window reached the slash, at the factor of its end."""
            out = {}
            delay = w.dm.minWithdrawalDelayBlocks()
            op = op.lower()
            for a in strategies:
                for s in stakers:
                    if str(self.delegated.get(s.address, "")).lower() == op:
                        out[(a, s.address)] = w.dm.getWithdrawableShares(s, [a])[0][0]
                out[(a, op)] = w.dm.getWithdrawableShares(op, [a])[0][0]
                for n, (wd, start) in enumerate(self.pending):
                    names = [str(x).lower() for x in wd[5]]
                    if str(wd[1]).lower() == op and a.lower() in names and start + delay >= slash_block:
                        sc = wd[6][names.index(a.lower())]
                        sf = w.dm.slashingFactorAtBlock(op, a, min(start + delay, chain.blocks.head.number))
                        out[(a, n)] = sc * sf // WAD
            return out

        @initialize()
        def setup(self):
            tkf = w.owner.deploy(w.project.MockFalseERC20, "Token F", "TKF")
            w.sm.deployNewStrategy(tkf, sender=w.sm.strategyWhitelister())
            w.tokens["TKF"] = tkf
            w.strats["TKF"] = w.project.Strategy.at(w.sm.deployedStrategies(tkf))
            w.am.updateAVSMetadataURI(w.avs, "avs", sender=w.avs)
            params = [(1, [w.strats[s] for s in SYMS], ZERO)]
            w.am.createRedistributingOperatorSets(w.avs, params, [w.recipient], [w.resolver], sender=w.avs)
            w.am.createOperatorSets(w.avs, [(2, [w.strats[s] for s in SYMS], ZERO)], sender=w.avs)
            for op in operators:
                w.register_operator(op)
                w.am.setRedistributionConsent(op, w.opset(1), True, sender=op)
            for s in stakers:
                for sym in SYMS:
                    w.tokens[sym].approve(w.sm, 2**256 - 1, sender=s)

        # ------------------------------------------------------------------ staker rules
        @rule(i=st.integers(0, 2), sym=st.sampled_from(SYMS), amount=st.integers(1, 10**24))
        def deposit(self, i, sym, amount):
            s = stakers[i]
            op = self.delegated.get(s.address)
            if op and w.dm.slashingFactor(op, w.strats[sym]) == 0:
                return
            w.tokens[sym].mint(s, amount, sender=s)
            self.minted[sym] += amount
            if op and w.dm.pendingSlashes(op, w.strats[sym]) > 0:
                with ape.reverts("pending slash"):  # no stake joins during a cancellable slash
                    w.sm.depositIntoStrategy(w.strats[sym], w.tokens[sym], amount, sender=s)
                return
            before = w.withdrawable(s, sym)
            op_before = w.op_shares(op, sym) if op else 0
            try:
                w.sm.depositIntoStrategy(w.strats[sym], w.tokens[sym], amount, sender=s)
            except ape.exceptions.ContractLogicError as exc:
                # tiny deposits into a strategy whose exchange rate rose can mint zero shares
                assert "zero new shares" in str(exc) or "invalid deposit scaling factor" in str(exc), str(exc)
                return
            after = w.withdrawable(s, sym)
            added = after - before
            shares_minted = w.sm.stakerDepositShares(s, w.strats[sym])  # monotone check below
            assert shares_minted > 0
            if op:
                # operator shares grow by the deposit; the staker's withdrawable by at most that
                assert approx_le(added, w.op_shares(op, sym) - op_before)

        @rule(i=st.integers(0, 2), j=st.integers(0, 1))
        def delegate(self, i, j):
            s, op = stakers[i], operators[j]
            if s.address in self.delegated:
                return
            if any(
                w.dm.slashingFactor(op, w.strats[sym]) == 0 and w.sm.stakerDepositShares(s, w.strats[sym])
                for sym in SYMS
            ):
                return
            if any(
                w.dm.pendingSlashes(op, w.strats[sym]) and w.sm.stakerDepositShares(s, w.strats[sym])
                for sym in SYMS
            ):
                with ape.reverts("pending slash"):
                    w.dm.delegateTo(op, NO_SIG, SALT0, sender=s)
                return
            before = {sym: w.withdrawable(s, sym) for sym in SYMS}
            w.dm.delegateTo(op, NO_SIG, SALT0, sender=s)
            self.delegated[s.address] = op.address
            for sym in SYMS:  # delegating never changes what a staker can withdraw
                assert abs(w.withdrawable(s, sym) - before[sym]) <= 1 + before[sym] // REL

        @rule(i=st.integers(0, 2))
        def undelegate(self, i):
            s = stakers[i]
            if s.address not in self.delegated:
                return
            r = w.dm.undelegate(s, sender=s)
            del self.delegated[s.address]
            for wd in w.withdrawal_from_event(r):
                self.pending.append((wd, r.block_number))
            for sym in SYMS:
                assert w.sm.stakerDepositShares(s, w.strats[sym]) == 0

        @rule(i=st.integers(0, 2), sym=st.sampled_from(SYMS), frac=st.integers(1, 100))
        def queue_withdrawal(self, i, sym, frac):
            s = stakers[i]
            have = w.sm.stakerDepositShares(s, w.strats[sym])
            x = have * frac // 100
            if x == 0:
                return
            r = w.dm.queueWithdrawals([([w.strats[sym]], [x], s)], sender=s)
            for wd in w.withdrawal_from_event(r):
                self.pending.append((wd, r.block_number))

        @rule(k=st.integers(0, 50), as_tokens=st.booleans())
        def complete_withdrawal(self, k, as_tokens):
            if not self.pending:
                return
            wd, start = self.pending[k % len(self.pending)]
            staker = wd[0]
            early = chain.blocks.head.number + 1 <= start + w.dm.minWithdrawalDelayBlocks()
            tokens = [w.project.Strategy.at(a).underlyingToken() for a in wd[5]]
            if early:
                with ape.reverts("withdrawal delay not passed"):
                    w.dm.completeQueuedWithdrawal(wd, tokens, as_tokens, sender=staker)
                return
            until = start + w.dm.minWithdrawalDelayBlocks()
            if (
                wd[1] != ZERO
                and any(w.dm.pendingSlashes(wd[1], a) + w.dm.pendingDustSlashes(wd[1], a) for a in wd[5])
                and chain.blocks.head.number + 1 <= until + w.dm.slashResolutionDelayBlocks()
            ):
                # its window ended while a cancellable slash may be pending: held until resolved
                with ape.reverts("pending slash"):
                    w.dm.completeQueuedWithdrawal(wd, tokens, as_tokens, sender=staker)
                return
            op_now = self.delegated.get(staker)
            if (
                not as_tokens
                and op_now
                and any(w.dm.slashingFactor(op_now, a) == 0 or w.dm.pendingSlashes(op_now, a) for a in wd[5])
            ):
                as_tokens = True
            w.dm.completeQueuedWithdrawal(wd, tokens, as_tokens, sender=staker)
            self.pending.remove((wd, start))
            with ape.reverts("withdrawal not queued"):  # completes once
                w.dm.completeQueuedWithdrawal(wd, tokens, as_tokens, sender=staker)

        # ------------------------------------------------------------------ operator rules
        @rule(j=st.integers(0, 1), set_id=st.sampled_from(SETS))
        def register(self, j, set_id):
            op = operators[j]
            if w.am.isOperatorSlashable(op, w.opset(set_id)):
                return
            w.register_for_sets(op, (set_id,))

        @rule(j=st.integers(0, 1), set_id=st.sampled_from(SETS))
        def deregister(self, j, set_id):
            op = operators[j]
            if not w.am.isMemberOfOperatorSet(op, w.opset(set_id)):
                return
            w.am.deregisterFromOperatorSets((op, w.avs, [set_id]), sender=op)

        @rule(
            j=st.integers(0, 1),
            set_id=st.sampled_from(SETS),
            sym=st.sampled_from(SYMS),
            frac=st.integers(0, 100),
        )
        def allocate(self, j, set_id, sym, frac):
            op, strat = operators[j], w.strats[sym]
            a = w.am.getAllocation(op, w.opset(set_id), strat)
            if a.effectBlock != 0:
                return
            free = w.am.getAllocatableMagnitude(op, strat)
            new = frac * (a.currentMagnitude + free) // 100
            if new == a.currentMagnitude:
                return
            w.allocate(op, set_id, {sym: new})

        @rule(n=st.integers(1, 30))
        def mine(self, n):
            chain.mine(n)

        # ------------------------------------------------------------------ slashing rules
        @rule(
            j=st.integers(0, 1),
            set_id=st.sampled_from(SETS),
            sym=st.sampled_from(SYMS),
            wad=st.integers(1, WAD),
        )
        def slash(self, j, set_id, sym, wad):
            op, strat = operators[j], w.strats[sym]
            if not w.am.isOperatorSlashable(op, w.opset(set_id)):
                with ape.reverts("operator not slashable"):
                    w.slash(op, set_id, {sym: wad})
                return
            other = 3 - set_id
            cur = w.am.getAllocation(op, w.opset(set_id), strat).currentMagnitude
            max_before = w.am.getMaxMagnitude(op, strat)
            op_sh = w.op_shares(op, sym)
            queued = w.dm.getSlashableSharesInQueue(op, strat)
            other_stake = w.am.getAllocatedStake(w.opset(other), [op], [strat])[0][0]
            stakers_before = {
                s.address: w.withdrawable(s, sym)
                for s in stakers
                if self.delegated.get(s.address) == op.address
            }
            esc_before = w.tokens[sym].balanceOf(w.esc)
            r = w.slash(op, set_id, {sym: wad})
            slash_id = w.am.getSlashCount(w.opset(set_id))
            if w.esc.getSlash(w.avs, set_id, slash_id).status == 1:  # escrowed (something was slashed)
                self.slashes.append([set_id, slash_id, r.block_number, "pending"])
            if cur == 0:
                assert w.am.getMaxMagnitude(op, strat) == max_before
                return
            max_after = w.am.getMaxMagnitude(op, strat)
            slashed_mag = max_before - max_after
            assert slashed_mag >= 1, "a slash never rounds down to nothing"
            assert slashed_mag == -(-cur * wad // WAD)
            # no set can take more than its allocated share of (delegated + still-slashable queued) stake
            slashed_shares = op_sh + queued - w.op_shares(op, sym) - w.dm.getSlashableSharesInQueue(op, strat)
            assert approx_le(slashed_shares, (op_sh + queued) * cur // max_before)
            assert w.tokens[sym].balanceOf(w.esc) >= esc_before
            # unique stake: the other set's allocated stake is unchanged
            after_other = w.am.getAllocatedStake(w.opset(other), [op], [strat])[0][0]
            assert abs(after_other - other_stake) <= 2 + other_stake // REL
            # every staker loses exactly the same fraction
            for addr, before in stakers_before.items():
                now = w.dm.getWithdrawableShares(addr, [strat])[0][0]
                assert abs(now * max_before - before * max_after) <= max_before * (2 + before // REL)

        @rule(k=st.integers(0, 50))
        def cancel(self, k):
            pend = [x for x in self.slashes if x[3] == "pending" and x[0] == 1]
            if not pend:
                return
            x = pend[k % len(pend)]
            rec = w.esc.getSlash(w.avs, x[0], x[1])
            if chain.blocks.head.number + 1 > rec.resolveBlock:
                with ape.reverts("resolution window closed"):
                    w.esc.cancelSlash(w.avs, x[0], x[1], sender=w.resolver)
                return
            op = rec.operator
            before = {a: w.am.getMaxMagnitude(op, a) for a in rec.strategies}
            # every party that bore the slash (delegated stakers, the operator, withdrawals whose
            # window reached the slash, completed or not) must be restored by the same factor
            parties = self._parties(op, rec.strategies, x[2])
            w.esc.cancelSlash(w.avs, x[0], x[1], sender=w.resolver)
            x[3] = "cancelled"
            self.history.clear()  # a cancel rewrites the slashing-factor history, as if never slashed
            after = self._parties(op, rec.strategies, x[2])
            for a in rec.strategies:
                ratios = [(after[k], v) for k, v in parties.items() if k[0] == a and v > 10**9 and k in after]
                for (n1, d1), (n2, d2) in zip(ratios, ratios[1:], strict=False):
                    assert n1 >= d1 and n2 >= d2, "a cancel took stake from someone"
                    assert abs(n1 / d1 - n2 / d2) <= 1e-9 + 4 / d1 + 4 / d2, (
                        "a cancel restored parties unequally"
                    )
            # the only way max magnitude rises: a cancelled slash gives back exactly what it took
            for a, mag in zip(rec.strategies, rec.magnitudes, strict=False):
                after = w.am.getMaxMagnitude(op, a)
                assert after == before[a] + mag
                sym = next(s for s in SYMS if w.strats[s].address == a)
                self.max_seen[(op, sym)] = after

        def _release_with(self, x, failing):
            """releaseSlash while TKF's transfers revert, return false, or work (None)."""
            tkf = w.tokens["TKF"]
            if failing == "revert":
                tkf.setRevertTransfers(True, sender=w.other)
            elif failing == "false":
                tkf.setFailTransfers(True, sender=w.other)
            try:
                return w.esc.releaseSlash(w.avs, x[0], x[1], sender=w.other)
            finally:
                if failing:
                    tkf.setRevertTransfers(False, sender=w.other)
                    tkf.setFailTransfers(False, sender=w.other)

        def _check_paid(self, x, receipt, failing):
            rec = w.esc.getSlash(w.avs, x[0], x[1])
            unpaid = list(w.esc.getUnpaid(w.avs, x[0], x[1]))
            tkf = w.tokens["TKF"].address
            failed = {(e.token, e.amount) for e in receipt.events if e.event_name == "SlashPaymentFailed"}
            for tok, amount, owed in zip(rec.tokens, rec.amounts, unpaid, strict=True):
                # only the failing token is owed, exactly its amount; every other token was paid
                assert owed == (amount if failing and tok == tkf and amount else 0), "wrong token held back"
                assert ((tok, amount) in failed) == bool(owed)
            if any(unpaid):
                event(f"release held TKF ({failing})")
                if x not in self.unpaid:
                    self.unpaid.append(x)
            else:
                if x in self.unpaid:
                    self.unpaid.remove(x)
                with ape.reverts("slash not pending"):
                    w.esc.releaseSlash(w.avs, x[0], x[1], sender=w.other)

        @rule(k=st.integers(0, 50), failing=st.sampled_from([None, None, "revert", "false"]))
        def release(self, k, failing):
            pend = [x for x in self.slashes if x[3] == "pending"]
            if not pend:
                return
            x = pend[k % len(pend)]
            rec = w.esc.getSlash(w.avs, x[0], x[1])
            if chain.blocks.head.number + 1 <= rec.resolveBlock:
                with ape.reverts("resolution window open"):
                    w.esc.releaseSlash(w.avs, x[0], x[1], sender=w.other)
                return
            r = self._release_with(x, failing)
            x[3] = "released"
            # a held payment does not keep the slash pending (nor the operator closed to new stake)
            assert w.esc.getSlash(w.avs, x[0], x[1]).status == 2
            self._check_paid(x, r, failing)

        @rule(k=st.integers(0, 50), failing=st.sampled_from([None, "revert"]))
        def claim_unpaid(self, k, failing):
            """Call releaseSlash again for a payment held back: paid once TKF works again."""
            if not self.unpaid:
                return
            x = self.unpaid[k % len(self.unpaid)]
            r = self._release_with(x, failing)
            self._check_paid(x, r, failing)

        # ------------------------------------------------------------------ invariants
        @invariant()
        def magnitudes(self):
            for op in operators:
                for sym in SYMS:
                    strat = w.strats[sym]
                    mx = w.am.getMaxMagnitude(op, strat)
                    key = (op.address, sym)
                    assert mx <= WAD and mx <= self.max_seen.get(key, WAD), (
                        "max magnitude rose outside a cancel"
                    )
                    self.max_seen[key] = mx
                    enc = w.am.getEncumberedMagnitude(op, strat)
                    total = 0
                    for set_id in SETS:
                        a = w.am.getAllocation(op, w.opset(set_id), strat)
                        total += a.currentMagnitude + max(a.pendingDiff, 0)
                        assert a.currentMagnitude + a.pendingDiff >= 0
                    assert enc == total, f"encumbered {enc} != sum of allocations {total}"
                    assert enc <= mx

        @invariant()
        def share_histories(self):
            # operatorSharesAt / stakerSharesAt at the head equal the current shares (stakers
            # delegated elsewhere: 0), their stakers never exceed them, and every block recorded
            # earlier still reads what it had at its end. One strategy a step, in turn (each
            # check is a dozen eth_calls).
            now = chain.blocks.head.number
            snap = {}
            sym = SYMS[len(self.history) % len(SYMS)]
            for op in operators:
                strat = w.strats[sym]
                total = w.dm.operatorSharesAt(op, strat, now)
                assert total == w.op_shares(op, sym), "operatorSharesAt(head) != operatorShares"
                snap[(op.address, sym, None)] = total
                parts = 0
                for s in [*stakers, op]:
                    got = w.dm.stakerSharesAt(s, op, strat, now)
                    mine = s == op or self.delegated.get(s.address) == op.address
                    assert got == (w.withdrawable(s, sym) if mine else 0), "stakerSharesAt(head)"
                    snap[(op.address, sym, s.address)] = got
                    parts += got
                assert parts <= total, "stakers above their operator"
            earlier = [b for b in sorted(self.history)[-3:] if b != now]
            for b in earlier[:1]:  # the oldest of the last three steps' blocks
                for (op, sym, s), v in self.history[b].items():
                    strat = w.strats[sym]
                    got = (
                        w.dm.operatorSharesAt(op, strat, b)
                        if s is None
                        else w.dm.stakerSharesAt(s, op, strat, b)
                    )
                    assert got == v, f"history at block {b} changed"
            self.history[now] = snap

        @invariant()
        def allocation_histories(self):
            # The AllocationManager's histories at the head equal the current views (allocation,
            # allocated stake, membership, member count), and an earlier block still reads what
            # it had at its end (a cancel restores max magnitude, never an allocation or a
            # registration). One set and one strategy a step, in turn (each check is a few calls
            # per operator; every pair comes round within six steps).
            now = chain.blocks.head.number
            step = len(self.alloc_history)
            sym = SYMS[(step // len(SETS)) % len(SYMS)]
            strat = w.strats[sym]
            snap = {}
            for set_id in (SETS[step % len(SETS)],):
                opset = w.opset(set_id)
                assert w.am.getMemberCountAt(opset, now) == w.am.getMemberCount(opset)
                for op in operators:
                    member = w.am.isMemberOfOperatorSetAt(op, opset, now)
                    assert member == w.am.isMemberOfOperatorSet(op, opset), "isMemberOfOperatorSetAt(head)"
                    a = tuple(w.am.getAllocationAt(op, opset, strat, now))
                    assert a == tuple(w.am.getAllocation(op, opset, strat)), "getAllocationAt(head)"
                    snap[(op.address, set_id, None)] = member
                    snap[(op.address, set_id, sym)] = a
                at = w.am.getAllocatedStakeAt(opset, operators, [strat], now)
                assert at == w.am.getAllocatedStake(opset, operators, [strat]), "getAllocatedStakeAt(head)"
            earlier = [b for b in sorted(self.alloc_history)[-3:] if b != now]
            for b in earlier[:1]:
                for (op, set_id, sym_), v in self.alloc_history[b].items():
                    opset = w.opset(set_id)
                    if sym_ is None:
                        assert w.am.isMemberOfOperatorSetAt(op, opset, b) == v, f"membership at {b} changed"
                    else:
                        got = tuple(w.am.getAllocationAt(op, opset, w.strats[sym_], b))
                        assert got == v, f"allocation at block {b} changed"
            self.alloc_history[now] = snap

        @invariant()
        def scaling_factors_bounded(self):
            # issue 12 item 3: no slashing factor above WAD; every deposit scaling factor in (0, 1e36]
            for sym in SYMS:
                strat = w.strats[sym]
                for op in operators:
                    assert w.dm.slashingFactor(op, strat) <= WAD
                for s in [*stakers, *operators]:
                    assert 0 < w.dm.depositScalingFactor(s, strat) <= 10**36

        @invariant()
        def shares_and_tokens(self):
            for sym in SYMS:
                strat = w.strats[sym]
                claims = 0
                for op in operators:
                    mine = [s for s in stakers if self.delegated.get(s.address) == op.address]
                    total = sum(w.withdrawable(s, sym) for s in mine) + (w.withdrawable(op, sym))
                    claims += total
                    assert w.op_shares(op, sym) >= total, "operator shares below its stakers' withdrawable"
                claims += sum(w.withdrawable(s, sym) for s in stakers if s.address not in self.delegated)
                now = chain.blocks.head.number
                delay = w.dm.minWithdrawalDelayBlocks()
                for wd, start in self.pending:
                    for a, sc in zip(wd[5], wd[6], strict=False):
                        if a == strat.address:
                            sf = (
                                WAD
                                if wd[1] == ZERO
                                else w.dm.slashingFactorAtBlock(wd[1], a, min(now, start + delay))
                            )
                            claims += sc * sf // WAD
                assert claims <= strat.totalShares(), "strategy cannot pay every claim"
                tok = w.tokens[sym]
                held = (
                    tok.balanceOf(strat)
                    + tok.balanceOf(w.esc)
                    + tok.balanceOf(BURN)
                    + tok.balanceOf(w.recipient)
                )
                wallets = sum(tok.balanceOf(s) for s in stakers)
                assert held + wallets == self.minted[sym], "tokens not conserved"

    # About 1.2 s a step on anvil (each step is checked against the chain, the share and allocation
    # histories included): the CI profile runs 5 x 20 = 100 steps (about 2 minutes on 2 cores; the
    # suite's budget); EIGEN_PROFILE=long runs its own larger budget.
    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=5, stateful_step_count=20)
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_state_machine_as_test(Restaking, settings=base)


def test_restaking_state_machine(w, chain):
    run_machine(w, chain)
