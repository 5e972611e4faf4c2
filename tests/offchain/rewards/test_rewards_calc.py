"""offchain.rewards.calc: the sidecar's worked example reproduced exactly, the rounding rules, the
operator-set split, and bad input as typed errors."""

from __future__ import annotations

from fractions import Fraction

import pytest

from offchain.rewards import calc
from offchain.rewards.errors import CalculationError

E18, E36 = 10**18, 10**36


def test_the_sidecar_worked_example():
    """tokensPerDay 1e18; weights 3e36, 1e36, 2e36 -> 5e17, 166666666666666000, 333333333333333000;
    with the operator's 10 % the first staker keeps 4.5e17 and the operator earns 5e16 of it."""
    assert calc.tokens_per_day(7 * E18, 7 * 86_400) == E18
    weights = {"s1": 3 * E36, "s2": E36, "s3": 2 * E36}
    pay = calc.payouts(E18, weights)
    assert pay == {"s1": 5 * 10**17, "s2": 166666666666666000, "s3": 333333333333333000}
    day = calc.avs_day(E18, {s: ("op", w) for s, w in weights.items()}, 1_000)
    assert day.stakers["s1"] == 45 * 10**16
    assert calc.commission(pay["s1"], 1_000) == 5 * 10**16
    assert day.operators["op"] == sum(calc.commission(p, 1_000) for p in pay.values())
    assert day.total() == sum(pay.values()) <= E18


def test_truncation_and_fractional_tokens_per_day():
    assert calc.tokens_per_day(10, 3 * 86_400) == Fraction(10, 3)
    # 15-decimal proportions: 1/3 -> 0.333333333333333
    assert calc.proportions({"a": 1, "b": 2}) == {"a": 333333333333333, "b": 666666666666666}
    assert calc.payouts(Fraction(10, 3), {"a": 1, "b": 1}) == {"a": 1, "b": 1}
    assert calc.payouts(E18, {"a": 1, "b": 0}) == {"a": E18, "b": 0}


def test_per_operator_splits_and_weights():
    day = calc.avs_day(1_000, {"s1": ("op1", 1), "s2": ("op2", 1)}, {"op1": 0, "op2": 10_000})
    assert day.stakers == {"s1": 500, "s2": 0} and day.operators == {"op1": 0, "op2": 500}
    assert calc.weight({"st1": 2, "st2": 3, "x": 100}, {"st1": 10, "st2": 1}) == 23


def test_operator_set_day():
    day = calc.operator_set_day(1_000, {"op1": 3, "op2": 1}, {"op1": {"a": 1, "b": 1}}, 1_000)
    # op1: 750 -> 75 commission, 675 over two stakers (337 each, truncated); op2 has no stakers: 250
    assert day.operators == {"op1": 75, "op2": 250}
    assert day.stakers == {"a": 337, "b": 337}
    assert day.total() <= 1_000
    cum = calc.cumulative([day, day], "0x" + "01" * 20, {"a": {"0x" + "02" * 20: 5}})
    assert cum["a"] == {"0x" + "02" * 20: 5, "0x" + "01" * 20: 674}
    assert cum["op2"] == {"0x" + "01" * 20: 500}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: calc.tokens_per_day(1, 0), "multiple"),
        (lambda: calc.tokens_per_day(1, 86_401), "multiple"),
        (lambda: calc.tokens_per_day(-1, 86_400), "non-negative"),
        (lambda: calc.payouts(1, {"a": 0}), "no weight"),
        (lambda: calc.payouts(1, {"a": -1}), "non-negative"),
        (lambda: calc.payouts(-1, {"a": 1}), "non-negative"),
        (lambda: calc.commission(1, 10_001), "bips"),
        (lambda: calc.commission(1, -1), "bips"),
    ],
)
def test_bad_input_is_a_calculation_error(call, match):
    with pytest.raises(CalculationError, match=match):
        call()


def test_allocated_stake():
    assert calc.allocated_stake(10**21, E18 // 2, E18) == 5 * 10**20
    # after a slash the max magnitude is below WAD: the rest of the allocation is of the rest
    assert calc.allocated_stake(900, 3 * 10**17, 9 * 10**17) == 300
    assert calc.allocated_stake(7, 1, 3) == 2  # floored
    assert calc.allocated_stake(10**21, 0, 0) == 0


def test_operator_set_distribution_the_sidecar_example_by_unique_stake():
    """The sidecar's weights as the operators' allocated weights: the same three shares; each
    operator's pool goes to its stakers by delegated weight over the operator's delegated weight."""
    split = {"o1": 3 * E36, "o2": E36, "o3": 2 * E36}
    delegated = {"o1": 6 * E36, "o2": E36, "o3": 4 * E36}  # o1 and o3 allocated half their stake
    stakers = {"o1": {"o1": 2 * E36, "s1": 4 * E36}, "o2": {"s2": E36}, "o3": {"o3": 4 * E36}}
    day = calc.operator_set_distribution(E18, split, delegated, stakers, 1_000)
    shares = {"o1": 5 * 10**17, "o2": 166666666666666000, "o3": 333333333333333000}
    cut = {o: v // 10 for o, v in shares.items()}
    assert day.operators == cut
    assert day.stakers["s1"] == (4 * E36 * 10**15 // (6 * E36)) * (shares["o1"] - cut["o1"]) // 10**15
    assert day.stakers["o3"] == shares["o3"] - cut["o3"]
    assert day.earnings()["o1"] == cut["o1"] + 149999999999999850
    assert day.total() <= E18


def test_operator_set_distribution_leaves_what_stakers_cannot_claim():
    # an operator slashed: its stakers' floored shares sum below its own; the rest stays escrowed
    day = calc.operator_set_distribution(1_000, {"o": 1}, {"o": 10}, {"o": {"a": 4, "b": 4}}, 0)
    assert day.stakers == {"a": 400, "b": 400} and day.operators == {"o": 0}
    # an operator without split weight gets nothing, whatever it delegates
    day = calc.operator_set_distribution(1_000, {"o": 1, "p": 0}, {"o": 1, "p": 5}, {"p": {"x": 5}})
    assert "p" not in day.operators and "x" not in day.stakers


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, {"o": 1}, {"o": 1}, {}), "amount"),
        ((1, {"o": 0}, {"o": 1}, {}), "no weight"),
        ((1, {"o": 1}, {}, {}), "no delegated weight"),
        ((1, {"o": 1}, {"o": 2}, {"o": {"a": 3}}), "exceed"),
        ((1, {"o": 1}, {"o": 2}, {"o": {"a": -1}}), "non-negative"),
        ((1, {"o": True}, {"o": 2}, {}), "non-negative"),
    ],
)
def test_operator_set_distribution_refuses_bad_input(args, match):
    with pytest.raises(CalculationError, match=match):
        calc.operator_set_distribution(*args)


@pytest.mark.parametrize(
    ("args", "match"), [((1, 2, 1), "exceeds"), ((-1, 0, 1), "shares"), ((1, 1.0, 1), "magnitude")]
)
def test_allocated_stake_refuses_bad_input(args, match):
    with pytest.raises(CalculationError, match=match):
        calc.allocated_stake(*args)


def test_total_stake_day_is_the_on_chain_rule():
    """Two operators (weights 3 and 1, splits 10 % and 25 %), 1,000 tokens over two days: op1's
    payout floor(floor(3e15 / 4) * 500 / 1e15) = 374, commission 37, the rest 337 split by W_s /
    W_o (the operator's own weight, not the sum of the stakers listed)."""
    day = calc.total_stake_day(
        1_000,
        2 * 86_400,
        {"op1": 3, "op2": 1, "op3": 0},
        {"op1": {"op1": 1, "s1": 2}, "op2": {"s2": 1}, "op3": {"s3": 5}},
        {"op1": 1_000, "op2": 2_500, "op3": 0},
    )
    p1 = (3 * 10**15 // 4) * 500 // 10**15
    p2 = (1 * 10**15 // 4) * 500 // 10**15
    assert (p1, p2) == (375, 125)
    assert day.operators == {"op1": 37, "op2": 31}
    assert day.stakers == {
        "op1": (10**15 // 3) * (375 - 37) // 10**15,
        "s1": (2 * 10**15 // 3) * (375 - 37) // 10**15,
        "s2": 125 - 31,
    }
    assert day.total() <= 500
    # the stakers' denominator is W_o: a staker listed with less than the operator's weight
    # leaves the rest in escrow (a slashed operator's floored shares)
    short = calc.total_stake_day(100, 86_400, {"op": 10}, {"op": {"s": 4}}, {"op": 0})
    assert short.stakers == {"s": 40} and short.operators == {"op": 0}
    # a day with no stake pays nothing; a fractional tokens-per-day floors once per earner
    assert calc.total_stake_day(100, 86_400, {"op": 0}, {}, {"op": 0}).total() == 0
    third = calc.total_stake_day(10, 3 * 86_400, {"op": 1}, {"op": {"op": 1}}, {"op": 0})
    assert third.earnings() == {"op": 3}


def test_total_stake_day_refuses_bad_input():
    with pytest.raises(CalculationError, match="multiple of 86400"):
        calc.total_stake_day(1, 100, {"op": 1}, {}, {"op": 0})
    with pytest.raises(CalculationError, match="split must be bips"):
        calc.total_stake_day(1, 86_400, {"op": 1}, {}, {"op": 10_001})
    with pytest.raises(CalculationError, match="weight of op"):
        calc.total_stake_day(1, 86_400, {"op": -1, "op2": 2}, {}, {"op": 0, "op2": 0})


def test_unique_stake_day_splits_by_allocation_and_pays_stakers_by_delegation():
    """op1 allocated 1 of its delegated 4, op2 all of its 1: the day's 800 tokens split 1:1 by
    allocation (400 each), then op1's stakers share its rest by W_s over its delegated 4."""
    day = calc.unique_stake_day(
        1_600,
        2 * 86_400,
        {"op1": 1, "op2": 1, "op3": 0},
        {"op1": 4, "op2": 1, "op3": 7},
        {"op1": {"op1": 1, "s1": 3}, "op2": {"s2": 1}, "op3": {"s3": 7}},
        {"op1": 1_000, "op2": 2_500, "op3": 0},
    )
    assert day.operators == {"op1": 40, "op2": 100}
    assert day.stakers == {
        "op1": (10**15 // 4) * 360 // 10**15,
        "s1": (3 * 10**15 // 4) * 360 // 10**15,
        "s2": 300,
    }
    # by delegation (total stake) the same day splits 4:1
    total = calc.total_stake_day(
        1_600,
        2 * 86_400,
        {"op1": 4, "op2": 1},
        {"op1": {"op1": 1, "s1": 3}, "op2": {"s2": 1}},
        {"op1": 1_000, "op2": 2_500},
    )
    assert total.operators == {"op1": 64, "op2": 40}
    # nothing allocated: nothing paid
    assert calc.unique_stake_day(10, 86_400, {"op": 0}, {"op": 5}, {"op": {"op": 5}}, {"op": 0}).total() == 0
    with pytest.raises(CalculationError, match="multiple of 86400"):
        calc.unique_stake_day(1, 100, {"op": 1}, {"op": 1}, {}, {"op": 0})


def test_operator_directed_day_pays_each_named_member_its_daily_amount():
    """1,000 to op1 and 301 to op2 over three days; op3 named but not a member that day; op1's
    stakers share 333 - 33 by delegated weight; op2 has no delegated weight (only its commission)."""
    day = calc.operator_directed_day(
        {"op1": 1_000, "op2": 301, "op3": 900},
        3 * 86_400,
        {"op1", "op2"},
        {"op1": 3, "op2": 0},
        {"op1": {"op1": 1, "s1": 2}, "op2": {}},
        {"op1": 1_000, "op2": 5_000},
    )
    assert day.operators == {"op1": 33, "op2": 50}
    assert day.stakers == {"op1": (10**15 // 3) * 300 // 10**15, "s1": (2 * 10**15 // 3) * 300 // 10**15}
    assert "op3" not in day.earnings()
    with pytest.raises(CalculationError, match="amount of op1"):
        calc.operator_directed_day({"op1": -1}, 86_400, {"op1"}, {}, {}, {"op1": 0})
    with pytest.raises(CalculationError, match="multiple of 86400"):
        calc.operator_directed_day({"op1": 1}, 86_401, {"op1"}, {}, {}, {"op1": 0})
