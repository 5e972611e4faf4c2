"""Helpers for the EIGEN / bEIGEN fork-and-challenge tests: the token system deployed by
offchain.chain.deploy.deploy_token on top of the shared core, with small delays."""

from __future__ import annotations

from dataclasses import replace

from offchain.chain.deploy import deploy_token
from tests.contracts.conftest import NO_SIG, SALT0, TEST_CONFIG, WAD, World

TOKEN_CONFIG = replace(
    TEST_CONFIG,
    eigen_enabled=True,
    eigen_initial_supply=1_000_000 * WAD,
    challenge_bond=10 * WAD,
    challenge_window_blocks=5,
    fork_timelock_blocks=3,
    challenger_reward_bps=1_000,
    beigen_extra_withdrawal_delay_blocks=10,
)
EVIDENCE = b"\x11" * 32


class TokenWorld(World):
    """The core World plus EIGEN, bEIGEN, the ForkManager and the bEIGEN strategy."""

    def __init__(self, project, chain, accounts, d):
        # a copy: the session-wide core deployment must not keep handles to token contracts that
        # a later snapshot restore removes
        d = replace(d, tokens=dict(d.tokens), strategies=dict(d.strategies))
        super().__init__(project, chain, accounts, d)
        deploy_token(project, self.owner, d, TOKEN_CONFIG)
        self.eigen, self.fm, self.bstrat = d.eigen, d.fork_manager, d.beigen_strategy
        self.genesis = d.beigen
        self.gov = self.owner

    def canonical(self):
        return self.project.BackingEigen.at(self.fm.canonicalToken())

    def give_eigen(self, who, amount):
        self.eigen.transfer(who, amount, sender=self.owner)

    def give_beigen(self, who, amount):
        """Unwrap from the deployer's EIGEN and send canonical bEIGEN to `who`."""
        self.eigen.unwrap(amount, sender=self.owner)
        self.canonical().transfer(who, amount, sender=self.owner)

    def stake(self, who, amount, op=None):
        tok = self.canonical()
        self.give_beigen(who, amount)
        tok.approve(self.sm, amount, sender=who)
        self.sm.depositIntoStrategy(self.bstrat, tok, amount, sender=who)
        if op is not None and self.dm.delegatedTo(who) != op.address:
            self.dm.delegateTo(op, NO_SIG, SALT0, sender=who)

    def staked(self, who):
        return self.dm.getWithdrawableShares(who, [self.bstrat])[0][0]

    def open_challenge(self, challenger, ops, evidence=EVIDENCE):
        self.give_eigen(challenger, self.fm.bondAmount())
        self.eigen.approve(self.fm, self.fm.bondAmount(), sender=challenger)
        r = self.fm.challenge(list(ops), evidence, sender=challenger)
        cid = self.fm.challengeCount()
        fork = self.project.BackingEigen.at(self.fm.getChallenge(cid).fork)
        return r, cid, fork

    def resolve(self, cid, adopt):
        c = self.fm.getChallenge(cid)
        wait = c.forkBlock + self.fm.challengeWindowBlocks() - self.chain.blocks.head.number - 1
        if wait > 0:
            self.chain.mine(wait)
        self.fm.queueResolution(cid, adopt, sender=self.gov)
        self.chain.mine(self.fm.timelockBlocks())
        return self.fm.executeResolution(cid, sender=self.other)
