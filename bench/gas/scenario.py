"""The gas bench's scenario, written once and run against each implementation (the project's core
in bench_gas.py, EigenLayer v1.12 in eigenlayer_ref.py), so both sides make the very same calls in
the same order with the same amounts; a `Side` supplies the deployed contracts and the three calls
whose ABI differs between them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WAD = 10**18
SYMBOLS = ("A", "B", "C")
# Every measured operation, in table order (eigenlayer_ref.CALLS names EigenLayer's call for each).
OPERATIONS = (
    "register as operator",
    "deposit (first, cold)",
    "deposit (again, warm)",
    "delegate (3 strategies)",
    "deposit (delegated, warm)",
    "register for 1 operator set",
    "modify allocations (1 set, 3 strategies)",
    "modify allocations (1 set, 1 strategy)",
    "queue withdrawal (1 strategy)",
    "slash (1 strategy)",
    "slash (3 strategies)",
    "complete withdrawal as tokens",
    "release escrow (1 strategy)",
    "release escrow (3 strategies)",
    "undelegate (3 strategies)",
)


@dataclass
class Side:
    """One implementation, deployed on the connected chain, ready for `run`: the AVS has created
    `set_ids` (at least 2 per repetition) over the three strategies."""

    funder: Any  # funds each repetition's operator and staker
    avs: Any
    strategy_manager: Any
    delegation_manager: Any
    allocation_manager: Any
    tokens: dict[str, Any]  # symbol -> mintable ERC-20 (anyone may mint)
    strategies: dict[str, Any]  # symbol -> strategy
    set_ids: list[int]
    withdrawal_delay_blocks: int
    # allocate(operator, set_id, strategies, magnitudes) -> receipt
    allocate: Callable[[Any, int, list[str], list[int]], Any]
    # queue(staker, strategy, deposit_shares) -> receipt
    queue: Callable[[Any, Any, int], Any]
    # release(sender, set_id, slash_id) -> receipt: pay a slash's tokens out
    release: Callable[[Any, int, int], Any]
    # check(operation, receipt): raise when the call did not do its work (optional)
    check: Callable[[str, Any], None] | None = None


def withdrawal_tuple(wd: Any) -> tuple[Any, ...]:
    """A decoded `Withdrawal` struct (ape gives a list or a struct object) as call arguments."""
    if isinstance(wd, (list, tuple)):
        return (wd[0], wd[1], wd[2], wd[3], wd[4], list(wd[5]), list(wd[6]))
    fields = (wd.staker, wd.delegatedTo, wd.withdrawer, wd.nonce, wd.startBlock)
    return (*fields, list(wd.strategies), list(wd.scaledShares))


def run(side: Side, reps: int) -> dict[str, list[int]]:
    """Run the scenario `reps` times (a fresh operator and staker each time); gas used per operation
    (whole transactions)."""
    from ape import accounts, chain

    if len(side.set_ids) < 2 * reps:
        raise ValueError(
            f"{reps} repetitions need {2 * reps} operator sets, the side has {len(side.set_ids)}"
        )
    sm, dm, am, avs = side.strategy_manager, side.delegation_manager, side.allocation_manager, side.avs
    tokens, by_sym = side.tokens, side.strategies
    strats = sorted((by_sym[s].address for s in SYMBOLS), key=lambda x: int(x, 16))
    results: dict[str, list[int]] = {}

    def rec(name: str, receipt: Any) -> Any:
        assert name in OPERATIONS, name
        if side.check is not None:
            side.check(name, receipt)
        results.setdefault(name, []).append(receipt.gas_used)
        return receipt

    zero = "0x" + "00" * 20
    for rep in range(reps):
        op = accounts.test_accounts.generate_test_account()
        staker = accounts.test_accounts.generate_test_account()
        for acct in (op, staker):
            side.funder.transfer(acct, 10**20)
        # allocation delay 0: takes effect at once for a newly registered operator
        rec("register as operator", dm.registerAsOperator(zero, 0, "https://op", sender=op))
        for s in SYMBOLS:
            tokens[s].mint(staker, 10**24, sender=staker)
            tokens[s].approve(sm.address, 2**256 - 1, sender=staker)
        rec("deposit (first, cold)", sm.depositIntoStrategy(by_sym["A"], tokens["A"], 10**21, sender=staker))
        rec("deposit (again, warm)", sm.depositIntoStrategy(by_sym["A"], tokens["A"], 10**21, sender=staker))
        sm.depositIntoStrategy(by_sym["B"], tokens["B"], 10**21, sender=staker)
        sm.depositIntoStrategy(by_sym["C"], tokens["C"], 10**21, sender=staker)
        rec("delegate (3 strategies)", dm.delegateTo(op, (b"", 0), b"\x00" * 32, sender=staker))
        rec(
            "deposit (delegated, warm)",
            sm.depositIntoStrategy(by_sym["A"], tokens["A"], 10**21, sender=staker),
        )
        set_a, set_b = side.set_ids[2 * rep], side.set_ids[2 * rep + 1]
        rec("register for 1 operator set", am.registerForOperatorSets(op, (avs, [set_a], b""), sender=op))
        am.registerForOperatorSets(op, (avs, [set_b], b""), sender=op)
        rec("modify allocations (1 set, 3 strategies)", side.allocate(op, set_a, strats, [WAD // 2] * 3))
        rec("modify allocations (1 set, 1 strategy)", side.allocate(op, set_b, strats[:1], [WAD // 4]))
        rec("queue withdrawal (1 strategy)", side.queue(staker, by_sym["A"], 10**20))
        r = side.queue(staker, by_sym["B"], 10**20)
        wd = [e for e in r.events if e.event_name == "SlashingWithdrawalQueued"][0].withdrawal
        rec(
            "slash (1 strategy)", am.slashOperator(avs, (op, set_a, strats[:1], [WAD // 10], "x"), sender=avs)
        )
        rec(
            "slash (3 strategies)",
            am.slashOperator(avs, (op, set_a, strats, [WAD // 10] * 3, "y"), sender=avs),
        )
        chain.mine(side.withdrawal_delay_blocks + 1)
        rec(
            "complete withdrawal as tokens",
            dm.completeQueuedWithdrawal(withdrawal_tuple(wd), [tokens["B"]], True, sender=staker),
        )
        rec("release escrow (1 strategy)", side.release(staker, set_a, 1))
        rec("release escrow (3 strategies)", side.release(staker, set_a, 2))
        rec("undelegate (3 strategies)", dm.undelegate(staker, sender=staker))
    return results
