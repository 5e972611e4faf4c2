"""Hypothesis state-machine fuzzing of EIGEN / bEIGEN fork-and-challenge on anvil.

Random sequences of bEIGEN transfers, wraps, unwraps, stakes, queued and completed withdrawals,
challenges, fork claims and fork transfers, adoptions and rejections, ordinary slashes of the
bEIGEN strategy with their cancels and releases (issue 12: a pending challenge never makes a slash
or a cancel fail, and a release pays only the canonical bEIGEN), and mined blocks. After every
step: EIGEN supply = bEIGEN held by EIGEN in the canonical token; the canonical supply equals the
model (so every bond is burned exactly once, and an adopted fork's supply is its parent's at the
fork block minus the slashed stake plus the reward paid out of it); no account claims a fork
balance twice or above its parent balance at the fork block; unaccused holders keep exactly their
balances in a fork; unaccused stakers keep exactly their stake across an adoption.
"""

from __future__ import annotations

import ape
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from offchain import settings as eigen_settings
from tests.contracts.support import EVIDENCE, NO_SIG, SALT0, WAD, ZERO, TokenWorld


def run_machine(t: TokenWorld, chain) -> None:
    holders = [t.staker, t.staker2, t.other, t.recipient, t.resolver]  # t.avs2: the slash recipient
    operators = [t.op, t.op2]
    delay = t.dm.minWithdrawalDelayBlocks() + t.dm.strategyWithdrawalDelayBlocks(t.bstrat)

    class Forks(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.supply = t.canonical().totalSupply()  # model of the canonical supply
            self.pending = []  # (withdrawal tuple, start block)
            self.challenge = None  # open challenge: dict
            self.forks = []  # every fork: dict(fork, parent, block, challenger, claimed{addr: amount})
            self.slashes = []  # ordinary bEIGEN slashes: [slash id, status]

        def teardown(self):
            chain.restore(self.snap)

        @initialize()
        def setup(self):
            for op in operators:
                t.register_operator(op)
            # an AVS set with a resolver over the bEIGEN strategy; both operators half allocated
            t.am.updateAVSMetadataURI(t.avs, "avs", sender=t.avs)
            t.am.createRedistributingOperatorSets(
                t.avs, [(1, [t.bstrat], ZERO)], [t.avs2], [t.resolver], sender=t.avs
            )
            for op in operators:
                t.am.setRedistributionConsent(op, t.opset(1), True, sender=op)
                t.register_for_sets(op, (1,))
                t.am.modifyAllocations(op, [(t.opset(1), [t.bstrat], [WAD // 2], [0])], sender=op)
            for h in holders:
                t.give_beigen(h, 1_000 * WAD)
                t.give_eigen(h, 100 * WAD)

        def paused(self):
            return self.challenge is not None

        # -------------------------------------------------------------- plain token moves
        @rule(i=st.integers(0, 4), j=st.integers(0, 4), amount=st.integers(0, 300 * WAD))
        def transfer(self, i, j, amount):
            tok = t.canonical()
            a, b = holders[i], holders[j]
            if tok.balanceOf(a) < amount:
                with ape.reverts("insufficient balance"):
                    tok.transfer(b, amount, sender=a)
                return
            before = tok.balanceOf(b)
            tok.transfer(b, amount, sender=a)
            assert tok.balanceOf(b) == before + (amount if a != b else 0)

        @rule(i=st.integers(0, 4), amount=st.integers(1, 200 * WAD), wrap=st.booleans())
        def wrap_unwrap(self, i, amount, wrap):
            h, tok = holders[i], t.canonical()
            if wrap:
                amount = min(amount, tok.balanceOf(h))
                if amount == 0:
                    return
                tok.approve(t.eigen, amount, sender=h)
                if self.paused():
                    with ape.reverts("challenge pending"):
                        t.eigen.wrap(amount, sender=h)
                    return
                t.eigen.wrap(amount, sender=h)
            else:
                amount = min(amount, t.eigen.balanceOf(h))
                if amount == 0:
                    return
                if self.paused():
                    with ape.reverts("challenge pending"):
                        t.eigen.unwrap(amount, sender=h)
                    return
                t.eigen.unwrap(amount, sender=h)

        # -------------------------------------------------------------- staking
        @rule(i=st.integers(0, 3), j=st.integers(0, 1), amount=st.integers(1, 300 * WAD))
        def stake(self, i, j, amount):
            # i < 3: a holder staking and delegating to operator j; i == 3: operator j's own stake
            op = operators[j]
            s = holders[i] if i < 3 else op
            tok = t.canonical()
            delegated = t.dm.delegatedTo(s)
            if delegated != ZERO:
                op = None
                if t.dm.slashingFactor(delegated, t.bstrat) == 0:
                    return
            elif t.dm.slashingFactor(op, t.bstrat) == 0:
                return
            if i == 3 and tok.balanceOf(s) < amount and not self.paused():
                t.give_beigen(s, amount)
            amount = min(amount, tok.balanceOf(s))
            if amount == 0:
                return
            tok.approve(t.sm, amount, sender=s)
            if self.paused():
                with ape.reverts("challenge pending"):
                    t.sm.depositIntoStrategy(t.bstrat, tok, amount, sender=s)
                return
            try:
                t.sm.depositIntoStrategy(t.bstrat, tok, amount, sender=s)
            except ape.exceptions.ContractLogicError as exc:
                # after an adoption the exchange rate is slightly above 1: a few wei mint no share;
                # no stake joins an operator while a material cancellable slash of it is pending
                assert "zero new shares" in str(exc) or "pending slash" in str(exc), str(exc)
                return
            if op is not None:
                try:
                    t.dm.delegateTo(op, NO_SIG, SALT0, sender=s)
                except ape.exceptions.ContractLogicError as exc:
                    assert "pending slash" in str(exc), str(exc)

        @rule(i=st.integers(0, 2), frac=st.integers(1, 100))
        def queue(self, i, frac):
            s = holders[i]
            have = t.sm.stakerDepositShares(s, t.bstrat)
            x = have * frac // 100
            if x == 0:
                return
            r = t.dm.queueWithdrawals([([t.bstrat], [x], s)], sender=s)
            if self.paused():
                self.challenge["moved"].add(s.address)
            for wd in t.withdrawal_from_event(r):
                self.pending.append((wd, r.block_number))

        @precondition(lambda self: self.pending)
        @rule(k=st.integers(0, 20))
        def complete(self, k):
            if not self.pending:
                return
            wd, start = self.pending[k % len(self.pending)]
            staker = wd[0]
            tok = t.canonical()
            if chain.blocks.head.number + 1 <= start + delay:
                with ape.reverts("withdrawal delay not passed"):
                    t.dm.completeQueuedWithdrawal(wd, [tok], True, sender=staker)
                return
            before = tok.balanceOf(staker)
            if self.paused():
                try:
                    t.dm.completeQueuedWithdrawal(wd, [tok], True, sender=staker)
                except ape.exceptions.ContractLogicError as exc:
                    assert "challenge pending" in str(exc) or "pending slash" in str(exc), str(exc)
                    return
                # only a withdrawal worth nothing (fully slashed) completes without touching the strategy
                assert tok.balanceOf(staker) == before
                self.pending.remove((wd, start))
                return
            try:
                t.dm.completeQueuedWithdrawal(wd, [tok], True, sender=staker)
            except ape.exceptions.ContractLogicError as exc:
                # held while a cancellable slash that may have touched it is pending (item 1)
                assert "pending slash" in str(exc), str(exc)
                return
            self.pending.remove((wd, start))
            assert tok.balanceOf(staker) >= before

        # -------------------------------------------------------------- ordinary bEIGEN slashes
        def _touch(self, op):
            # stake of op's stakers moved by an ordinary slash or cancel during a challenge
            if self.paused():
                for h in holders[:3] + operators:
                    if t.dm.delegatedTo(h) == op.address:
                        self.challenge["moved"].add(h.address)

        @rule(j=st.integers(0, 1), wad=st.integers(1, WAD))
        def slash(self, j, wad):
            op = operators[j]
            if t.am.getAllocation(op, t.opset(1), t.bstrat).currentMagnitude == 0:
                return
            total, bal = t.bstrat.totalShares(), t.canonical().balanceOf(t.bstrat)
            # item 2: a pending challenge never makes an ordinary slash fail
            t.am.slashOperator(t.avs, (op, 1, [t.bstrat], [wad], "fault"), sender=t.avs)
            # the slashed shares stay in the strategy, held by the escrow: no bEIGEN moves
            assert (t.bstrat.totalShares(), t.canonical().balanceOf(t.bstrat)) == (total, bal)
            self.slashes.append([t.am.getSlashCount(t.opset(1)), "pending"])
            self._touch(op)
            event(f"slash (challenge pending: {self.paused()})")

        @precondition(lambda self: self.slashes)
        @rule(k=st.integers(0, 20))
        def cancel_slash(self, k):
            now = chain.blocks.head.number + 1
            pend = [
                x
                for x in self.slashes
                if x[1] == "pending" and t.esc.getSlash(t.avs, 1, x[0]).resolveBlock >= now
            ]
            if not pend:
                return
            x = pend[k % len(pend)]
            rec = t.esc.getSlash(t.avs, 1, x[0])
            op = rec.operator
            before = {h.address: t.staked(h) for h in holders[:3] if t.dm.delegatedTo(h) == op}
            # item 8: cancellation stays possible while a challenge is pending
            t.esc.cancelSlash(t.avs, 1, x[0], sender=t.resolver)
            x[1] = "cancelled"
            event(f"cancel (challenge pending: {self.paused()})")
            for addr, v in before.items():
                assert t.dm.getWithdrawableShares(addr, [t.bstrat])[0][0] >= v
            if self.paused():
                for addr in before:
                    self.challenge["moved"].add(addr)
                self.challenge["moved"].add(op)

        @precondition(lambda self: self.slashes)
        @rule(k=st.integers(0, 20))
        def release_slash(self, k):
            due = [x for x in self.slashes if x[1] in ("pending", "unpaid")]
            if not due:
                return
            x = due[k % len(due)]
            rec = t.esc.getSlash(t.avs, 1, x[0])
            wait = rec.resolveBlock - chain.blocks.head.number
            if wait > 0:
                chain.mine(wait)  # past the resolution window
            shares = rec.amounts[0]
            tok = t.canonical()
            bal = tok.balanceOf(t.avs2)
            owed = t.bstrat.sharesToUnderlyingView(shares)
            t.esc.releaseSlash(t.avs, 1, x[0], sender=t.other)
            if self.paused() and shares:
                # item 6: no payment in the parent while a challenge is pending; it stays claimable
                assert tok.balanceOf(t.avs2) == bal
                assert list(t.esc.getUnpaid(t.avs, 1, x[0])) == [shares]
                x[1] = "unpaid"
                event("release held during a challenge")
                return
            # paid in the canonical bEIGEN of now
            assert tok.balanceOf(t.avs2) == bal + owed
            assert list(t.esc.getUnpaid(t.avs, 1, x[0])) == [0]
            event(f"release paid (after being held: {x[1] == 'unpaid'})")
            x[1] = "released"

        # -------------------------------------------------------------- challenges and forks
        @rule(mask=st.integers(1, 3), who=st.integers(3, 4))
        def challenge(self, mask, who):
            ops = [op for k, op in enumerate(operators) if mask >> k & 1]
            c = holders[who]
            if t.eigen.balanceOf(c) < t.fm.bondAmount():
                return
            t.eigen.approve(t.fm, t.fm.bondAmount(), sender=c)
            if self.paused():
                with ape.reverts("challenge pending"):
                    t.fm.challenge(ops, EVIDENCE, sender=c)
                return
            eig = t.eigen.balanceOf(c)
            stake = {h.address: (t.staked(h), t.dm.delegatedTo(h)) for h in holders[:3] + operators}
            r = t.fm.challenge(ops, EVIDENCE, sender=c)
            cid = t.fm.challengeCount()
            ch = t.fm.getChallenge(cid)
            self.supply -= ch.bond
            assert t.eigen.balanceOf(c) == eig - ch.bond
            fork = t.project.BackingEigen.at(ch.fork)
            self.challenge = dict(id=cid, ops={o.address for o in ops}, stake=stake, moved=set())
            self.forks.append(
                dict(
                    fork=fork,
                    parent=t.canonical(),
                    block=r.block_number,
                    challenger=c.address,
                    strategy=t.bstrat.address,
                    claimed={},
                )
            )

        @precondition(lambda self: self.forks)
        @rule(i=st.integers(0, 4), k=st.integers(0, 10))
        def claim(self, i, k):
            if not self.forks:
                return
            f = self.forks[k % len(self.forks)]
            h = holders[i].address
            fork = f["fork"]
            if h == f["challenger"] and not fork.settled():
                with ape.reverts("fork not settled"):
                    fork.claim(h, sender=holders[i])
                return
            if h in f["claimed"] or fork.isClaimed(h):
                with ape.reverts("already claimed"):
                    fork.claim(h, sender=holders[i])
                return
            r = fork.claim(h, sender=holders[i])
            amount = [e for e in r.events if e.event_name == "ForkBalanceClaimed"][0].amount
            f["claimed"][h] = amount

        @precondition(lambda self: self.forks)
        @rule(i=st.integers(0, 4), j=st.integers(0, 4), frac=st.integers(0, 100), k=st.integers(0, 10))
        def fork_transfer(self, i, j, frac, k):
            if not self.forks:
                return
            f = self.forks[k % len(self.forks)]
            a, b = holders[i], holders[j]
            fork = f["fork"]
            if not fork.settled() and f["challenger"] in (a.address, b.address):
                return
            for x in (a.address, b.address):
                if not fork.isClaimed(x) and x not in f["claimed"]:
                    f["claimed"][x] = fork.balanceOf(x)
            amount = fork.balanceOf(a) * frac // 100
            fork.transfer(b, amount, sender=a)

        @precondition(lambda self: self.challenge is not None)
        @rule(adopt=st.booleans())
        def resolve(self, adopt):
            if not self.paused():
                return
            cid = self.challenge["id"]
            f = self.forks[-1]
            t.resolve(cid, adopt)
            ch = t.fm.getChallenge(cid)
            if adopt:
                assert ch.status == 3 and t.fm.canonicalToken() == f["fork"].address
                parent_supply = f["parent"].totalSupplyAt(f["block"])
                self.supply = parent_supply - ch.slashedStake + ch.reward
                for addr, (before, op_then) in self.challenge["stake"].items():
                    if op_then in self.challenge["ops"] or addr in self.challenge["moved"]:
                        continue
                    assert abs(t.staked(addr) - before) <= 1, "unaccused stake changed by adoption"
                for o in self.challenge["ops"]:
                    assert t.dm.operatorShares(o, t.bstrat) == 0
            else:
                assert ch.status == 4 and t.fm.canonicalToken() == f["parent"].address
            self.challenge = None

        @rule(n=st.integers(1, 12))
        def mine(self, n):
            chain.mine(n)

        # -------------------------------------------------------------- invariants
        @invariant()
        def eigen_fully_backed(self):
            assert t.eigen.totalSupply() == t.canonical().balanceOf(t.eigen)
            assert t.eigen.bEIGEN() == t.fm.canonicalToken()

        @invariant()
        def canonical_supply_matches_model(self):
            assert t.canonical().totalSupply() == self.supply

        @invariant()
        def fork_claims(self):
            for f in self.forks:
                fork, parent, b = f["fork"], f["parent"], f["block"]
                ch = t.fm.getChallenge(t.fm.forkChallengeId(fork))
                assert fork.totalSupplyAt(b) <= parent.totalSupplyAt(b) - ch.slashedStake + ch.reward
                assert ch.reward <= ch.slashedStake
                for addr, amount in f["claimed"].items():
                    cap = parent.balanceOfAt(addr, b) + (ch.reward if addr == f["challenger"] else 0)
                    assert amount <= cap
                    if addr not in (f["challenger"], f["strategy"]):
                        assert amount == parent.balanceOfAt(addr, b)  # unaccused holders keep exactly
                    assert fork.isClaimed(addr) or amount == fork.balanceOf(addr)
                for h in holders:
                    if h.address != f["challenger"]:
                        assert fork.balanceOfAt(h, b) == parent.balanceOfAt(h, b)

    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=6, stateful_step_count=25)
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_state_machine_as_test(Forks, settings=base)


def test_fork_state_machine(project, chain, accounts, deployment):
    run_machine(TokenWorld(project, chain, accounts, deployment), chain)
