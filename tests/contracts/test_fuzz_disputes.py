"""Hypothesis state machine over InferenceDisputes: receipts (honest and tampered, made by the tiny
model once) are registered, challenged, resolved by the set's verdict, expired, compensated, their
slashes cancelled by the set's resolver, bonds settled by the slash's fate and withdrawn, in random
order and at random times, against a model of every claim. Invariants: the contract's ETH equals
the bonds it holds (each claim's, as its `bond` field says) plus the credits it owes, it never keeps
slashed tokens after forwarding them, and every claim's status is the model's."""

from __future__ import annotations

import ape
from hypothesis import settings
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
from offchain.chain.inference_disputes import reexecute_with
from tests.contracts.support import BOND, CHALLENGE_WINDOW, ESCROW_BLOCKS, RESOLUTION_WINDOW, tamper

NONE, REGISTERED, CHALLENGED, UPHELD, FAULTY, EXPIRED = range(6)


def _pool(dworld):
    """(receipt, accused index, correct output, receipt is correct) for 3 honest and 3 tampered receipts,
    bound to three different clients (whoever registers them, the bound client is compensated)."""
    out = []
    clients = [dworld.client, dworld.watcher, dworld.w.recipient]
    for i in range(3):
        honest = dworld.answer(op_index=i, seed=100 + i, max_tokens=4, client=clients[i].address)
        for rec in (honest, tamper(honest, dworld.keys[i])):
            rex = reexecute_with(dworld.svc, rec)
            out.append((rec, i, rex.correct_output, rex.receipt_correct))
    return out


def test_dispute_state_machine(dworld, chain):
    pool = _pool(dworld)
    c, tka = dworld.c, dworld.w.tokens["TKA"]
    people = [dworld.client, dworld.watcher, dworld.w.recipient]

    class Disputes(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.status = [NONE] * len(pool)
            self.deadline = [0] * len(pool)
            self.client = [None] * len(pool)
            self.challenger = [None] * len(pool)
            self.slash_block = [None] * len(pool)
            self.paid = [False] * len(pool)
            self.held = [False] * len(pool)  # a bond held past the verdict, until the slash's fate
            self.cancelled = [False] * len(pool)
            self.credits = {}

        def teardown(self):
            chain.restore(self.snap)

        def now(self):
            return chain.blocks.head.timestamp

        def pick(self, k, wanted):
            """The k-th receipt (mod count) in status `wanted`, else pool index k (exercises reverts)."""
            cands = [i for i, x in enumerate(self.status) if x == wanted]
            if wanted == FAULTY:
                cands = [i for i in cands if not self.paid[i] and (self.held[i] or not self.cancelled[i])]
            return cands[k % len(cands)] if cands else k % len(pool)

        def credit(self, who, amount):
            self.credits[who] = self.credits.get(who, 0) + amount

        @initialize(whos=st.lists(st.integers(0, 2), min_size=len(pool) // 2, max_size=len(pool) // 2))
        def register_some(self, whos):
            for k, who in enumerate(whos):
                self.register(2 * k + who % 2, who)

        @rule(k=st.integers(0, len(pool) - 1), who=st.integers(0, 2))
        def register(self, k, who):
            i = self.pick(k, NONE)
            rec = pool[i][0]
            if self.status[i] != NONE:
                with ape.reverts("receipt registered"):
                    dworld.register(rec, sender=people[who])
                return
            tx = dworld.register(rec, sender=people[who])
            # the receipt's signed client, not the registrant, is the one a slash compensates
            self.status[i], self.client[i] = REGISTERED, rec.client
            self.deadline[i] = chain.blocks.head.timestamp + CHALLENGE_WINDOW
            assert tx.return_value in (None, rec.digest())

        @precondition(lambda self: REGISTERED in self.status)
        @rule(k=st.integers(0, len(pool) - 1), who=st.integers(0, 2))
        def challenge(self, k, who):
            i = self.pick(k, REGISTERED)
            rec = pool[i][0]
            if self.status[i] == NONE:
                with ape.reverts("unknown receipt"):
                    dworld.challenge(rec, sender=people[who])
            elif self.status[i] != REGISTERED:
                with ape.reverts("receipt not challengeable"):
                    dworld.challenge(rec, sender=people[who])
            elif chain.pending_timestamp > self.deadline[i] + 1:
                with ape.reverts("challenge window closed"):
                    dworld.challenge(rec, sender=people[who])
            else:
                try:
                    dworld.challenge(rec, sender=people[who])
                except ape.exceptions.ContractLogicError as exc:  # the block's timestamp crossed the deadline
                    assert "challenge window closed" in str(exc)
                    return
                self.status[i], self.challenger[i] = CHALLENGED, people[who].address
                self.deadline[i] = chain.blocks.head.timestamp + RESOLUTION_WINDOW

        @precondition(lambda self: CHALLENGED in self.status)
        @rule(k=st.integers(0, len(pool) - 1))
        def resolve(self, k):
            i = self.pick(k, CHALLENGED)
            rec, accused, correct, ok = pool[i]
            signers = [j for j in range(3) if j != accused]
            if self.status[i] != CHALLENGED:
                with ape.reverts("not challenged"):
                    dworld.resolve(rec, signers=signers, correct=correct)
                return
            if chain.pending_timestamp > self.deadline[i] + 1:
                with ape.reverts("resolution deadline passed"):
                    dworld.resolve(rec, signers=signers, correct=correct)
                return
            try:
                tx = dworld.resolve(rec, signers=signers, correct=correct)
            except ape.exceptions.ContractLogicError as exc:
                assert "resolution deadline passed" in str(exc)
                return
            if ok:
                self.status[i] = UPHELD
                self.credit(dworld.ops[accused].address, BOND)
                assert [e for e in tx.events if e.event_name == "ChallengeRejected"]
            else:
                self.status[i] = FAULTY
                self.slash_block[i] = chain.blocks.head.number
                self.held[i] = True  # until the slash's fate is known
                ev = [e for e in tx.events if e.event_name == "ReceiptProvenWrong"][0]
                assert ev.slashId != 0 and ev.correctOutput == correct

        @precondition(lambda self: CHALLENGED in self.status)
        @rule(k=st.integers(0, len(pool) - 1))
        def expire(self, k):
            i = self.pick(k, CHALLENGED)
            rec = pool[i][0]
            if self.status[i] != CHALLENGED:
                with ape.reverts("not challenged"):
                    c.expireChallenge(rec.digest(), sender=dworld.client)
            elif chain.pending_timestamp < self.deadline[i] - 2:
                with ape.reverts("resolution window open"):
                    c.expireChallenge(rec.digest(), sender=dworld.client)
            else:
                try:
                    c.expireChallenge(rec.digest(), sender=dworld.client)
                except ape.exceptions.ContractLogicError as exc:  # within a few seconds of the deadline
                    assert "resolution window open" in str(exc)
                    assert chain.pending_timestamp <= self.deadline[i] + 2
                    return
                assert chain.blocks.head.timestamp > self.deadline[i]
                self.status[i] = EXPIRED
                self.credit(self.challenger[i], BOND)

        @precondition(lambda self: FAULTY in self.status)
        @rule(k=st.integers(0, len(pool) - 1))
        def claim(self, k):
            i = self.pick(k, FAULTY)
            rec = pool[i][0]
            refusal = None
            if self.status[i] != FAULTY:
                refusal = "receipt not proven wrong"
            elif self.paid[i]:
                refusal = "already compensated"
            elif self.cancelled[i]:
                refusal = "slash cancelled"
            elif chain.blocks.head.number + 1 <= self.slash_block[i] + ESCROW_BLOCKS:
                refusal = "resolution window open"
            if refusal is not None:
                with ape.reverts(refusal):
                    c.claimCompensation(rec.digest(), sender=dworld.watcher)
                return
            before = tka.balanceOf(self.client[i])
            tx = c.claimCompensation(rec.digest(), sender=dworld.watcher)
            got = sum(e.amount for e in tx.events if e.event_name == "ClientCompensated")
            assert got > 0 and tka.balanceOf(self.client[i]) == before + got
            self.paid[i] = True
            if self.held[i]:  # the slash is final: the bond comes back with it
                self.held[i] = False
                self.credit(self.challenger[i], BOND)

        @precondition(lambda self: FAULTY in self.status)
        @rule(k=st.integers(0, len(pool) - 1))
        def cancel(self, k):
            """The set's resolver cancels the slash (the verdict overturned), inside the window only."""
            i = self.pick(k, FAULTY)
            if self.status[i] != FAULTY or self.cancelled[i] or self.paid[i]:
                return
            slash_id = c.claims(pool[i][0].digest()).slashId
            if chain.blocks.head.number + 1 > self.slash_block[i] + ESCROW_BLOCKS:
                with ape.reverts():  # released ("slash not pending") or past the window
                    dworld.w.esc.cancelSlash(c, dworld.set_id, slash_id, sender=dworld.w.resolver)
                return
            dworld.w.esc.cancelSlash(c, dworld.set_id, slash_id, sender=dworld.w.resolver)
            self.cancelled[i] = True

        @precondition(lambda self: FAULTY in self.status)
        @rule(k=st.integers(0, len(pool) - 1))
        def settle_bond(self, k):
            i = self.pick(k, FAULTY)
            rec, accused = pool[i][0], pool[i][1]
            if self.status[i] != FAULTY:
                with ape.reverts("receipt not proven wrong"):
                    c.settleBond(rec.digest(), sender=dworld.client)
            elif not self.held[i]:
                with ape.reverts("bond settled"):
                    c.settleBond(rec.digest(), sender=dworld.client)
            elif self.cancelled[i]:
                tx = c.settleBond(rec.digest(), sender=dworld.client)
                assert [e.bondForfeited for e in tx.events if e.event_name == "VerdictOverturned"] == [BOND]
                self.held[i] = False
                self.credit(dworld.ops[accused].address, BOND)
            elif chain.blocks.head.number + 1 <= self.slash_block[i] + ESCROW_BLOCKS:
                with ape.reverts("slash pending"):
                    c.settleBond(rec.digest(), sender=dworld.client)
            else:
                c.settleBond(rec.digest(), sender=dworld.client)
                self.held[i] = False
                self.credit(self.challenger[i], BOND)

        @precondition(lambda self: any(self.credits.values()))
        @rule(who=st.sampled_from(["client", "watcher", "recipient", "op0", "op1", "op2"]))
        def withdraw(self, who):
            acct = {
                "client": dworld.client,
                "watcher": dworld.watcher,
                "recipient": dworld.w.recipient,
                "op0": dworld.ops[0],
                "op1": dworld.ops[1],
                "op2": dworld.ops[2],
            }[who]
            owed = self.credits.get(acct.address, 0)
            if owed == 0:
                with ape.reverts("nothing to withdraw"):
                    c.withdraw(sender=acct)
                return
            tx = c.withdraw(sender=acct)
            assert [e.amount for e in tx.events if e.event_name == "BondWithdrawn"] == [owed]
            self.credits[acct.address] = 0

        @rule(seconds=st.one_of(st.integers(1, CHALLENGE_WINDOW // 3), st.integers(1, 2 * RESOLUTION_WINDOW)))
        def warp(self, seconds):
            dworld.warp(seconds)
            chain.mine(1)

        @rule(blocks=st.integers(1, ESCROW_BLOCKS + 2))
        def mine(self, blocks):
            chain.mine(blocks)

        @invariant()
        def accounting(self):
            held = sum(BOND for i, s in enumerate(self.status) if s == CHALLENGED or self.held[i])
            owed = sum(self.credits.values())
            assert c.totalCredits() == owed
            assert c.balance == held + owed
            assert tka.balanceOf(c) == 0
            for i, (rec, *_rest) in enumerate(pool):
                if self.status[i] != NONE:
                    cl = c.claims(rec.digest())
                    assert cl.status == self.status[i] and bool(cl.compensated) == self.paid[i]
                    assert cl.bond == (BOND if self.status[i] == CHALLENGED or self.held[i] else 0)

    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=4, stateful_step_count=25)
    run_state_machine_as_test(Disputes, settings=base)
