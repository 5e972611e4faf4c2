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


def run(demo: Any) -> dict[str, int]:
    """Run the fork-and-challenge step on `demo`'s devnet; print an account and return key figures."""
    from ape import chain, project

    d = demo.d
    if d.eigen is None:
        config = demo.config if demo.config.eigen_enabled else replace(
            demo.config, eigen_enabled=True, eigen_initial_supply=1_000_000 * WAD, challenge_bond=10 * WAD,
            challenge_window_blocks=5, fork_timelock_blocks=3, beigen_extra_withdrawal_delay_blocks=10)
        deploy_token(project, demo.deployer, d, config)
    eigen, fm, strat, dm, sm = d.eigen, d.fork_manager, d.beigen_strategy, d.delegation_manager, d.strategy_manager
    gov = demo.deployer
    op_a, op_b, carol, dave, erin = demo.op_a, demo.op_b, demo.carol, demo.dave, demo.erin
    challenger = demo.victim
    for op in (op_a, op_b):
        if not dm.isOperator(op):
            dm.registerAsOperator(ZERO_ADDRESS, 0, "https://operator.example/metadata.json", sender=op)
    for who, op in ((carol, op_a), (erin, op_b)):
        if dm.delegatedTo(who) == ZERO_ADDRESS:
            dm.delegateTo(op, (b"", 0), b"\x00" * 32, sender=who)
        elif dm.delegatedTo(who) != op.address:
            raise TokenDemoError(f"{who} is delegated to {dm.delegatedTo(who)}, not {op}")

    def canonical():
        return project.BackingEigen.at(fm.canonicalToken())

    def give_beigen(who, amount):
        eigen.unwrap(amount, sender=demo.deployer)
        canonical().transfer(who, amount, sender=demo.deployer)

    def stake(who, amount):
        give_beigen(who, amount)
        canonical().approve(sm, amount, sender=who)
        sm.depositIntoStrategy(strat, canonical(), amount, sender=who)

    names = {op_a.address: "operator A", op_b.address: "operator B", carol.address: "Carol",
             dave.address: "Dave", erin.address: "Erin", challenger.address: "challenger"}

    def staked(who):
        return dm.getWithdrawableShares(who, [strat])[0][0]

    def report(title):
        tok = canonical()
        print(f"\n=== {title}  (block {chain.blocks.head.number}; canonical bEIGEN {tok.address})")
        print(f"{'':22}{'staked bEIGEN':>16}{'bEIGEN':>16}{'EIGEN':>16}")
        for who in (op_a, carol, op_b, dave, erin, challenger):
            print(f"{names[who.address]:22}{fmt(staked(who)):>16}{fmt(tok.balanceOf(who)):>16}"
                  f"{fmt(eigen.balanceOf(who)):>16}")
        print(f"{'EIGEN supply':22}{'':16}{'':16}{fmt(eigen.totalSupply()):>16}")
        print(f"{'bEIGEN held by EIGEN':22}{'':16}{fmt(tok.balanceOf(eigen)):>16}")
        print(f"{'bEIGEN in strategy':22}{'':16}{fmt(tok.balanceOf(strat)):>16}")
        print(f"{'bEIGEN total supply':22}{'':16}{fmt(tok.totalSupply()):>16}")

    print("\n--- EIGEN / bEIGEN: an intersubjective fault, settled by forking bEIGEN ---")
    print(f"bEIGEN withdrawal delay: {dm.minWithdrawalDelayBlocks()} + {dm.strategyWithdrawalDelayBlocks(strat)} blocks; "
          f"challenge bond {fmt(fm.bondAmount())} EIGEN, window {fm.challengeWindowBlocks()} blocks, "
          f"timelock {fm.timelockBlocks()} blocks, challenger reward {fm.rewardBps() / 100:.0f}%")

    stake(op_a, 500 * WAD)
    stake(carol, 1_000 * WAD)
    stake(op_b, 500 * WAD)
    stake(erin, 2_000 * WAD)
    eigen.transfer(dave, 300 * WAD, sender=demo.deployer)  # Dave is a DeFi holder: EIGEN only
    eigen.transfer(challenger, fm.bondAmount(), sender=demo.deployer)
    print("Operator A (500) and Carol (1,000) stake bEIGEN with A; operator B (500) and Erin (2,000) with B; "
          "Dave holds 300 EIGEN and never touches bEIGEN; the challenger holds the bond in EIGEN.")
    report("Before the fault")

    # Operator A withholds data it attested to: every observer can see it, no contract can judge it.
    evidence = bytes.fromhex("6a" * 32)
    eigen.approve(fm, fm.bondAmount(), sender=challenger)
    carol_before, erin_before, dave_before = staked(carol), staked(erin), eigen.balanceOf(dave)
    r = fm.challenge([op_a], evidence, sender=challenger)
    opened = _event(r, "ForkCreated")
    cid = fm.challengeCount()
    fork = project.BackingEigen.at(opened.fork)
    print(f"\nOperator A withheld data it had attested to. The challenger burned {fmt(fm.bondAmount())} EIGEN and "
          f"opened challenge {cid}: fork {fork.address} of {opened.parent} at block {opened.forkBlock}, "
          f"slashing {fmt(opened.slashedStake)} staked bEIGEN (A and its stakers), reward {fmt(opened.reward)}.")
    print("Until it is resolved, wrapping, unwrapping, staking and unstaking bEIGEN pause; EIGEN transfers go on.")

    chain.mine(fm.challengeWindowBlocks())
    fm.queueResolution(cid, True, sender=gov)
    print(f"After the {fm.challengeWindowBlocks()}-block window, governance (social consensus) queued adoption; "
          f"timelock {fm.timelockBlocks()} blocks.")
    chain.mine(fm.timelockBlocks())
    r = fm.executeResolution(cid, sender=dave)
    adopted = _event(r, "ForkAdopted")
    print(f"Anyone executed it: the fork is canonical; {fmt(adopted.slashedStake)} bEIGEN slashed, "
          f"{fmt(adopted.reward)} paid to the challenger in the fork, {fmt(adopted.sharesBurned)} strategy shares burned.")
    report("After adoption")

    parent = project.BackingEigen.at(opened.parent)
    b = opened.forkBlock
    if not (canonical().address == fork.address == eigen.bEIGEN() and eigen.totalSupply() == fork.balanceOf(eigen)):
        raise TokenDemoError("EIGEN does not follow the adopted fork")
    if not (eigen.balanceOf(dave) == dave_before and staked(erin) == erin_before and staked(carol) == 0 < carol_before
            and fork.totalSupply() == parent.totalSupplyAt(b) - adopted.slashedStake + adopted.reward):
        raise TokenDemoError("the adopted fork's balances do not match the mechanism (see docs/token.md)")
    print(f"\nChecks: EIGEN supply = bEIGEN held by EIGEN in the fork; Dave's {fmt(dave_before)} EIGEN untouched and "
          f"now redeemable in the fork; Erin kept exactly {fmt(erin_before)} staked; Carol lost her stake with A; "
          f"fork supply = parent supply at block {b} ({fmt(parent.totalSupplyAt(b))}) - slashed + reward.")

    # Erin unstakes: paid in the canonical fork. Dave unwraps some EIGEN: also the fork.
    shares = sm.stakerDepositShares(erin, strat)
    r = dm.queueWithdrawals([([strat], [shares], erin)], sender=erin)
    w = list(_event(r, "SlashingWithdrawalQueued").withdrawal)  # a struct in an event decodes as a list
    wd = (w[0], w[1], w[2], w[3], w[4], list(w[5]), list(w[6]))
    chain.mine(dm.minWithdrawalDelayBlocks() + dm.strategyWithdrawalDelayBlocks(strat) + 1)
    dm.completeQueuedWithdrawal(wd, [fork], True, sender=erin)
    eigen.unwrap(100 * WAD, sender=dave)
    print(f"Erin unstaked after the longer bEIGEN delay and received {fmt(fork.balanceOf(erin))} bEIGEN of the "
          f"canonical fork; Dave unwrapped 100 EIGEN into {fmt(fork.balanceOf(dave))} fork bEIGEN.")
    report("Final token state")
    return {"slashed": adopted.slashedStake, "reward": adopted.reward, "erin": fork.balanceOf(erin),
            "fork_supply": fork.totalSupply()}
