"""Demo step for the main job: an intersubjective fault challenged by forking bEIGEN.

``run(demo)`` takes the ``Demo`` of ``scripts/_demo/world.py`` (its deployment ``demo.d``, named accounts and
``report``) and, on the same devnet: stakes bEIGEN with operators A and B, lets operator A misbehave in
a way no contract can judge, has a challenger burn a bond of EIGEN to open a fork in which A's stake
(its own and its stakers') is slashed, has governance adopt the fork through the timelock, and prints
the balances before and after: EIGEN holders follow the fork with no action, B's staker keeps exactly
its stake and unstakes in the canonical fork, the challenger is paid in the fork.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.chain.deploy import deploy_token
from offchain.errors import ChainError
from scripts._demo.common import fmt


class TokenDemoError(ChainError):
    """The token demo step could not run (missing deployment pieces or accounts)."""


def _event(receipt: Any, name: str) -> Any:
    found = [e for e in receipt.events if e.event_name == name]
    if not found:
        raise TokenDemoError(f"expected a {name} event in transaction {receipt.txn_hash}")
    return found[0]


class _World:
    """The token system on the demo's devnet: the accounts of this step and its balance sheet."""

    def __init__(self, demo: Any) -> None:
        from ape import project

        self.demo, self.project, d = demo, project, demo.d
        self.eigen, self.fm, self.strat = d.eigen, d.fork_manager, d.beigen_strategy
        self.dm, self.sm = d.delegation_manager, d.strategy_manager
        self.challenger = demo.victim
        self.names = {
            demo.op_a.address: "operator A",
            demo.op_b.address: "operator B",
            demo.carol.address: "Carol",
            demo.dave.address: "Dave",
            demo.erin.address: "Erin",
            self.challenger.address: "challenger",
        }

    def canonical(self) -> Any:
        return self.project.BackingEigen.at(self.fm.canonicalToken())

    def give_beigen(self, who: Any, amount: int) -> None:
        self.eigen.unwrap(amount, sender=self.demo.deployer)
        self.canonical().transfer(who, amount, sender=self.demo.deployer)

    def stake(self, who: Any, amount: int) -> None:
        self.give_beigen(who, amount)
        self.canonical().approve(self.sm, amount, sender=who)
        self.sm.depositIntoStrategy(self.strat, self.canonical(), amount, sender=who)

    def staked(self, who: Any) -> int:
        return self.dm.getWithdrawableShares(who, [self.strat])[0][0]

    def report(self, title: str) -> None:
        from ape import chain

        demo, eigen, strat = self.demo, self.eigen, self.strat
        tok = self.canonical()
        print(f"\n=== {title}  (block {chain.blocks.head.number}; canonical bEIGEN {tok.address})")
        print(f"{'':22}{'staked bEIGEN':>16}{'bEIGEN':>16}{'EIGEN':>16}")
        for who in (demo.op_a, demo.carol, demo.op_b, demo.dave, demo.erin, self.challenger):
            print(
                f"{self.names[who.address]:22}{fmt(self.staked(who)):>16}{fmt(tok.balanceOf(who)):>16}"
                f"{fmt(eigen.balanceOf(who)):>16}"
            )
        print(f"{'EIGEN supply':22}{'':16}{'':16}{fmt(eigen.totalSupply()):>16}")
        print(f"{'bEIGEN held by EIGEN':22}{'':16}{fmt(tok.balanceOf(eigen)):>16}")
        print(f"{'bEIGEN in strategy':22}{'':16}{fmt(tok.balanceOf(strat)):>16}")
        print(f"{'bEIGEN total supply':22}{'':16}{fmt(tok.totalSupply()):>16}")


def run(demo: Any) -> dict[str, int]:
    """Run the fork-and-challenge step on `demo`'s devnet; print an account and return key figures."""
    w = _setup(demo)
    opened, adopted, before = _challenge_and_adopt(w)
    fork = _check_fork(w, opened, adopted, before)
    _unstake(w, fork)
    return {
        "slashed": adopted.slashedStake,
        "reward": adopted.reward,
        "erin": fork.balanceOf(demo.erin),
        "fork_supply": fork.totalSupply(),
    }


def _setup(demo: Any) -> _World:
    """Deploy the token system if the world lacks it; A and B are operators, Carol and Erin delegate."""
    from ape import project

    d = demo.d
    if d.eigen is None:
        config = (
            demo.config
            if demo.config.eigen_enabled
            else replace(
                demo.config,
                eigen_enabled=True,
                eigen_initial_supply=1_000_000 * WAD,
                challenge_bond=10 * WAD,
                challenge_window_blocks=5,
                fork_timelock_blocks=3,
                beigen_extra_withdrawal_delay_blocks=10,
            )
        )
        deploy_token(project, demo.deployer, d, config)
    dm = d.delegation_manager
    for op in (demo.op_a, demo.op_b):
        if not dm.isOperator(op):
            dm.registerAsOperator(ZERO_ADDRESS, 0, "https://operator.example/metadata.json", sender=op)
    for who, op in ((demo.carol, demo.op_a), (demo.erin, demo.op_b)):
        if dm.delegatedTo(who) == ZERO_ADDRESS:
            dm.delegateTo(op, (b"", 0), b"\x00" * 32, sender=who)
        elif dm.delegatedTo(who) != op.address:
            raise TokenDemoError(f"{who} is delegated to {dm.delegatedTo(who)}, not {op}")
    return _World(demo)


def _challenge_and_adopt(w: _World) -> tuple[Any, Any, dict[str, int]]:
    """Stake with A and B; A misbehaves; the challenger opens a fork slashing A's stake; governance
    adopts it through the timelock. Returns the ForkCreated and ForkAdopted events and the balances
    before the challenge (Carol's and Erin's stake, Dave's EIGEN)."""
    from ape import chain

    demo, eigen, fm, dm, strat = w.demo, w.eigen, w.fm, w.dm, w.strat
    carol, dave, erin, challenger = demo.carol, demo.dave, demo.erin, w.challenger
    print("\n--- EIGEN / bEIGEN: an intersubjective fault, settled by forking bEIGEN ---")
    print(
        f"bEIGEN withdrawal delay: {dm.minWithdrawalDelayBlocks()} + {dm.strategyWithdrawalDelayBlocks(strat)} blocks; "
        f"challenge bond {fmt(fm.bondAmount())} EIGEN, window {fm.challengeWindowBlocks()} blocks, "
        f"timelock {fm.timelockBlocks()} blocks, challenger reward {fm.rewardBps() / 100:.0f}%"
    )

    w.stake(demo.op_a, 500 * WAD)
    w.stake(carol, 1_000 * WAD)
    w.stake(demo.op_b, 500 * WAD)
    w.stake(erin, 2_000 * WAD)
    eigen.transfer(dave, 300 * WAD, sender=demo.deployer)  # Dave is a DeFi holder: EIGEN only
    eigen.transfer(challenger, fm.bondAmount(), sender=demo.deployer)
    print(
        "Operator A (500) and Carol (1,000) stake bEIGEN with A; operator B (500) and Erin (2,000) with B; "
        "Dave holds 300 EIGEN and never touches bEIGEN; the challenger holds the bond in EIGEN."
    )
    w.report("Before the fault")

    # Operator A withholds data it attested to: every observer can see it, no contract can judge it.
    evidence = bytes.fromhex("6a" * 32)
    eigen.approve(fm, fm.bondAmount(), sender=challenger)
    carol_before, erin_before, dave_before = w.staked(carol), w.staked(erin), eigen.balanceOf(dave)
    r = fm.challenge([demo.op_a], evidence, sender=challenger)
    opened = _event(r, "ForkCreated")
    cid = fm.challengeCount()
    fork = w.project.BackingEigen.at(opened.fork)
    print(
        f"\nOperator A withheld data it had attested to. The challenger burned {fmt(fm.bondAmount())} EIGEN and "
        f"opened challenge {cid}: fork {fork.address} of {opened.parent} at block {opened.forkBlock}, "
        f"slashing {fmt(opened.slashedStake)} staked bEIGEN (A and its stakers), reward {fmt(opened.reward)}."
    )
    print(
        "Until it is resolved, wrapping, unwrapping, staking and unstaking bEIGEN pause; EIGEN transfers go on."
    )

    chain.mine(fm.challengeWindowBlocks())
    fm.queueResolution(cid, True, sender=demo.deployer)
    print(
        f"After the {fm.challengeWindowBlocks()}-block window, governance (social consensus) queued adoption; "
        f"timelock {fm.timelockBlocks()} blocks."
    )
    chain.mine(fm.timelockBlocks())
    r = fm.executeResolution(cid, sender=dave)
    adopted = _event(r, "ForkAdopted")
    print(
        f"Anyone executed it: the fork is canonical; {fmt(adopted.slashedStake)} bEIGEN slashed, "
        f"{fmt(adopted.reward)} paid to the challenger in the fork, {fmt(adopted.sharesBurned)} strategy shares burned."
    )
    w.report("After adoption")
    return opened, adopted, {"carol": carol_before, "erin": erin_before, "dave": dave_before}


def _check_fork(w: _World, opened: Any, adopted: Any, before: dict[str, int]) -> Any:
    """EIGEN follows the adopted fork, and its balances are what the mechanism says (docs/token.md)."""
    demo, eigen = w.demo, w.eigen
    dave, erin, carol = demo.dave, demo.erin, demo.carol
    carol_before, erin_before, dave_before = before["carol"], before["erin"], before["dave"]
    fork = w.project.BackingEigen.at(opened.fork)
    parent = w.project.BackingEigen.at(opened.parent)
    b = opened.forkBlock
    if not (
        w.canonical().address == fork.address == eigen.bEIGEN()
        and eigen.totalSupply() == fork.balanceOf(eigen)
    ):
        raise TokenDemoError("EIGEN does not follow the adopted fork")
    if not (
        eigen.balanceOf(dave) == dave_before
        and w.staked(erin) == erin_before
        and w.staked(carol) == 0 < carol_before
        and fork.totalSupply() == parent.totalSupplyAt(b) - adopted.slashedStake + adopted.reward
    ):
        raise TokenDemoError("the adopted fork's balances do not match the mechanism (see docs/token.md)")
    print(
        f"\nChecks: EIGEN supply = bEIGEN held by EIGEN in the fork; Dave's {fmt(dave_before)} EIGEN untouched and "
        f"now redeemable in the fork; Erin kept exactly {fmt(erin_before)} staked; Carol lost her stake with A; "
        f"fork supply = parent supply at block {b} ({fmt(parent.totalSupplyAt(b))}) - slashed + reward."
    )
    return fork


def _unstake(w: _World, fork: Any) -> None:
    """Erin unstakes after the longer bEIGEN delay and Dave unwraps EIGEN: both are paid in the fork."""
    from ape import chain

    demo, eigen, dm, sm, strat = w.demo, w.eigen, w.dm, w.sm, w.strat
    dave, erin = demo.dave, demo.erin
    # Erin unstakes: paid in the canonical fork. Dave unwraps some EIGEN: also the fork.
    shares = sm.stakerDepositShares(erin, strat)
    r = dm.queueWithdrawals([([strat], [shares], erin)], sender=erin)
    q = list(_event(r, "SlashingWithdrawalQueued").withdrawal)  # a struct in an event decodes as a list
    wd = (q[0], q[1], q[2], q[3], q[4], list(q[5]), list(q[6]))
    chain.mine(dm.minWithdrawalDelayBlocks() + dm.strategyWithdrawalDelayBlocks(strat) + 1)
    dm.completeQueuedWithdrawal(wd, [fork], True, sender=erin)
    eigen.unwrap(100 * WAD, sender=dave)
    print(
        f"Erin unstaked after the longer bEIGEN delay and received {fmt(fork.balanceOf(erin))} bEIGEN of the "
        f"canonical fork; Dave unwrapped 100 EIGEN into {fmt(fork.balanceOf(dave))} fork bEIGEN."
    )
    w.report("Final token state")
