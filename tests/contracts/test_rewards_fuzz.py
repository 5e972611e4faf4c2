"""Hypothesis state machine over the RewardsCoordinator on anvil: random submissions (two AVSs, two
tokens, the protocol fee on or off), roots posted for either AVS with arbitrary cumulative amounts
(honest or not: the updater is not trusted here), time passing, roots disabled, single and batch
claims, and refunds (RewardsChallengeSteps.refundSubmission, sent by anyone: no day is ever
recorded here, so each submission, over yesterday, is wholly beyond any correct root and refundable
once, to its AVS, as far as its AVS's escrow still holds it after the untrusted roots' claims). Each
claim's and refund's outcome is predicted from a model (paid, or refused with the exact reason);
after every step the chain must match the model (every AVS's escrow: a refund moves only its own
AVS's), and per AVS and token the claims plus the refunds never exceed what that AVS escrowed. Each example runs from a chain snapshot and restores it (as
test_fuzz_restaking does), so examples are independent.
"""

from __future__ import annotations

from collections import Counter

import pytest
from eth_utils import to_checksum_address
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
from offchain.rewards.merkle import DistributionTree
from tests.contracts.support import reverts
from tests.contracts.test_rewards import RewardsWorld

FEE_BIPS = 2_000
BOUNDARY_S = 5  # claims this close to a root's activation are skipped (block times are not exact)


def run_machine(rw: RewardsWorld, chain) -> None:
    avss = [rw.avs, rw.avs2]
    tokens = [rw.tokens["TKA"], rw.tokens["TKB"]]
    earners = [rw.op, rw.staker, rw.staker2, rw.other]
    rc = rw.rc
    seen: Counter[str] = Counter()  # outcomes over all examples

    class Rewards(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.escrow = {}  # (avs, token) -> escrow
            self.funded = {}  # (avs, token) -> net of fees
            self.claimed = {}  # (avs, earner, token) -> cumulative claimed
            self.roots = []  # [index, avs, tree, activatedAt, disabled]
            self.subs = []  # [avs, nonce, entry, refunded]
            self.refunded = Counter()  # (avs, token) -> refunded

        def teardown(self):
            chain.restore(self.snap)

        @initialize()
        def setup(self):
            for a in avss:
                for t in tokens:
                    self.escrow[(a.address, t.address)] = 0
                    self.funded[(a.address, t.address)] = 0
            # a claimable root to start from: one leaf within the AVS's escrow, one beyond it
            self.submit(0, 0, 10**6, False)
            self.post_root(0, {0: {0: 1_000}, 1: {0: 5 * 10**6}}, activate=True)
            tka = [tokens[0].address.lower()]
            self._claim(self.roots[0], earners[1], tka)  # beyond the escrow: refused
            self._claim(self.roots[0], earners[0], tka)  # within: paid
            # a refund of all of a submission of avs2's (paid), then of the first (beyond the
            # escrow the claim left)
            self.submit(1, 1, 5_000, False)
            self._refund(self.subs[1], rw.other)
            self._refund(self.subs[0], rw.other)

        @rule(
            a=st.sampled_from(range(2)),
            t=st.sampled_from(range(2)),
            amount=st.integers(1, 10**6),
            fee=st.booleans(),
        )
        def submit(self, a, t, amount, fee):
            avs, tok = avss[a], tokens[t]
            if rc.isOptedInForProtocolFee(avs) != fee:
                rc.setOptInForProtocolFee(avs, fee, sender=avs)
            nonce = rc.submissionNonce(avs)
            sub = rw.sub(tok, amount)
            tx = rw.submit(avs, tok, amount)
            net = amount - (amount * FEE_BIPS // 10_000 if fee else 0)
            h = tx.events.filter(rc.AVSRewardsSubmissionCreated)[0].rewardsSubmissionHash
            entry = (0, 0, tok.address, sub[3], sub[4], h, (sub[0], sub[1], net, sub[3], sub[4]))
            self.subs.append([avs, nonce, entry, False])
            self.escrow[(avs.address, tok.address)] += net
            self.funded[(avs.address, tok.address)] += net

        @rule(
            a=st.sampled_from(range(2)),
            rows=st.dictionaries(
                st.sampled_from(range(4)),
                st.dictionaries(st.sampled_from(range(2)), st.integers(1, 2 * 10**6), min_size=1),
                min_size=1,
            ),
            activate=st.booleans(),
        )
        def post_root(self, a, rows, activate=False):
            avs = avss[a]
            tree = DistributionTree(
                {
                    earners[e].address: {tokens[t].address: v for t, v in row.items()}
                    for e, row in rows.items()
                }
            )
            i = rw.post(avs, tree)
            self.roots.append([i, avs, tree, rc.getDistributionRootAtIndex(i).activatedAt, False])
            if activate:
                rw.activate()

        @rule(seconds=st.sampled_from([1, 600, 3_601, 7_200]))
        def advance(self, seconds):
            rw.advance(seconds)

        @precondition(lambda self: self.roots)
        @rule(data=st.data())
        def disable(self, data):
            r = data.draw(st.sampled_from(self.roots))
            now = chain.blocks.head.timestamp
            if abs(r[3] - now) <= BOUNDARY_S:
                return
            who = data.draw(st.sampled_from([r[1], rw.owner, rw.other]))
            if who not in (r[1], rw.owner):
                reverts("unauthorized caller", rc.disableRoot, r[0], sender=who)
            elif r[4]:
                reverts("root disabled", rc.disableRoot, r[0], sender=who)
            elif now >= r[3]:
                reverts("root already activated", rc.disableRoot, r[0], sender=who)
            else:
                rc.disableRoot(r[0], sender=who)
                r[4] = True
                event("disabled")

        def _predict(self, r, earner, toks):
            """(reason or None, payouts) of a claim against root r."""
            now = chain.blocks.head.timestamp
            if r[4]:
                return "root disabled", {}
            if now < r[3]:
                return "root not activated", {}
            avs, pay, escrow = r[1].address, {}, dict(self.escrow)
            for t in toks:
                cum = r[2].earnings[earner.address.lower()][t]
                key = (avs, earner.address, to_checksum_address(t))
                before = self.claimed.get(key, 0)
                if cum <= before:
                    return "earnings not greater than claimed", {}
                if cum - before > escrow[(avs, key[2])]:
                    return "avs escrow exceeded", {}
                escrow[(avs, key[2])] -= cum - before
                pay[key] = cum
            return None, pay

        def _apply(self, pay):
            for (avs, e, t), cum in pay.items():
                self.escrow[(avs, t)] -= cum - self.claimed.get((avs, e, t), 0)
                self.claimed[(avs, e, t)] = cum

        def _claimable(self, data):
            r = data.draw(st.sampled_from(self.roots))
            if abs(r[3] - chain.blocks.head.timestamp) <= BOUNDARY_S:
                return None
            earner_addr = data.draw(st.sampled_from(r[2].earners))
            earner = next(e for e in earners if e.address.lower() == earner_addr)
            toks = sorted(r[2].earnings[earner_addr], key=lambda x: int(x, 16))
            toks = data.draw(st.lists(st.sampled_from(toks), min_size=1, max_size=len(toks), unique=True))
            return r, earner, toks

        @precondition(lambda self: self.roots)
        @rule(data=st.data())
        def claim(self, data):
            picked = self._claimable(data)
            if picked is not None:
                self._claim(*picked)

        def _claim(self, r, earner, toks):
            """Claim and check the outcome against the model's prediction."""
            c = r[2].claim(earner.address, toks, r[0]).as_tuple()
            reason, pay = self._predict(r, earner, toks)
            if reason:
                reverts(reason, rc.processClaim, c, earner, sender=earner)
                event(f"claim refused: {reason}")
            else:
                rc.processClaim(c, earner, sender=earner)
                self._apply(pay)
                event("claim paid")
            seen[reason or "paid"] += 1

        @precondition(lambda self: len(self.roots) > 1)
        @rule(data=st.data())
        def batch_claim(self, data):
            first = self._claimable(data)
            if first is None:
                return
            r1, earner, t1 = first
            others = [r for r in self.roots if r is not r1 and earner.address.lower() in r[2].earnings]
            if not others:
                return
            r2 = data.draw(st.sampled_from(others))
            if abs(r2[3] - chain.blocks.head.timestamp) <= BOUNDARY_S:
                return
            t2 = sorted(r2[2].earnings[earner.address.lower()], key=lambda x: int(x, 16))
            saved = (dict(self.escrow), dict(self.claimed))
            reason, pay = self._predict(r1, earner, t1)
            if reason is None:
                self._apply(pay)
                reason, pay = self._predict(r2, earner, t2)
                if reason is None:
                    self._apply(pay)
            if reason:
                self.escrow, self.claimed = saved
            claims = [
                r1[2].claim(earner.address, t1, r1[0]).as_tuple(),
                r2[2].claim(earner.address, t2, r2[0]).as_tuple(),
            ]
            if reason:
                reverts(reason, rc.processClaims, claims, earner, sender=earner)
                event(f"batch refused: {reason}")
            else:
                rc.processClaims(claims, earner, sender=earner)
                event("batch paid")
            seen[reason or "paid"] += 1

        @precondition(lambda self: self.subs)
        @rule(data=st.data())
        def refund(self, data):
            s = data.draw(st.sampled_from(self.subs))
            self._refund(s, data.draw(st.sampled_from([s[0], rw.other, rw.owner])))

        def _refund(self, s, who):
            """Refund submission s from `who` and check the outcome against the model's."""
            avs, nonce, entry, done = s
            tok = next(t for t in tokens if t.address == entry[2])
            net, key = entry[6][2], (avs.address, entry[2])
            if done:
                reverts("already refunded", rw.steps.refundSubmission, avs, nonce, entry, [], sender=who)
                reason = "already refunded"
            elif net > self.escrow[key]:  # the untrusted roots' claims took it
                reverts("avs escrow exceeded", rw.steps.refundSubmission, avs, nonce, entry, [], sender=who)
                reason = "avs escrow exceeded"
            else:
                before = tok.balanceOf(avs)
                rw.steps.refundSubmission(avs, nonce, entry, [], sender=who)
                assert tok.balanceOf(avs) - before == net, "the refund did not go to the AVS"
                self.escrow[key] -= net
                self.refunded[key] += net
                s[3], reason = True, None
            event(f"refund {reason or 'paid'}")
            seen[f"refund {reason or 'paid'}"] += 1

        @invariant()
        def matches_the_chain(self):
            for (avs, tok), v in self.escrow.items():
                assert rc.avsEscrow(avs, tok) == v, "escrow differs from the model"
            for t in tokens:
                held = sum(v for (a, tok), v in self.escrow.items() if tok == t.address)
                assert t.balanceOf(rc) == held, "the coordinator's balance is not the sum of escrows"
            for (avs, e, t), cum in self.claimed.items():
                assert rc.cumulativeClaimedFor(avs, e, t) == cum

        @invariant()
        def claims_and_refunds_never_exceed_escrow_per_avs(self):
            for (avs, tok), funded in self.funded.items():
                paid = sum(cum for (a, _e, t), cum in self.claimed.items() if a == avs and t == tok)
                assert paid + self.refunded[(avs, tok)] <= funded, "an AVS paid out more than it escrowed"

    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=6, stateful_step_count=20)
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_state_machine_as_test(Rewards, settings=base)
    print("rewards state machine outcomes:", dict(seen))


@pytest.fixture(scope="module")
def rw(project, chain, accounts, deployment):
    return RewardsWorld(project, chain, accounts, deployment)


def test_rewards_state_machine(rw, chain):
    run_machine(rw, chain)
