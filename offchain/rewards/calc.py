"""The sidecar's reward calculation (EigenLayer sidecar ``docs/calculation.mdx``), as an exact
reference: the on-chain distribution (contracts/rewards/RewardsDistributor.vy) is checked against
:func:`operator_set_day` (tests/contracts/test_rewards_distributor.py).

Per reward submission and daily snapshot:

- ``tokensPerDay = amount / (duration / 86400)`` (exact, a fraction when it does not divide);
- each earner's weight ``w = sum over strategies of multiplier * shares``;
- its proportion, truncated to 15 decimals: ``prop = floor(w / sum(w) * 1e15) / 1e15``;
- its payout ``floor(prop * tokensPerDay)``;
- the operator's commission on a staker's payout ``floor(payout * split / 10000)`` (split in bips,
  EigenLayer's default 1000 = 10 %), the staker keeps the rest.

The sidecar's worked example (tokensPerDay 1e18; weights 3e36, 1e36, 2e36) gives payouts 5e17,
166666666666666000 and 333333333333333000; with a 10 % split the operator earns 5e16 of the
first. The truncation makes the sum of payouts at most tokensPerDay; what is left is not rolled
over (EigenLayer refunds days with no operator for v2.1+ submissions).

For operator sets (v2.2 unique / total stake), the same truncation splits a day's tokens over the
operators by stake, then each operator's share is split again: the commission to the operator, the
rest to its stakers by their shares (:func:`operator_set_day`).

The on-chain distribution (RewardsDistributor) follows :func:`operator_set_distribution`: the
operators' shares by *split weights* (delegated stake, or allocated stake for the unique-stake
form, :func:`allocated_stake`), each staker's part of an operator's pool by its delegated weight
over the operator's *delegated* weight at the block (not the sum of its stakers' weights, which
the chain cannot enumerate), so every amount follows from on-chain views alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from offchain.rewards.errors import CalculationError

SNAPSHOT_CADENCE = 86_400
PRECISION = 10**15  # proportions are truncated to 15 decimals
ONE_HUNDRED_IN_BIPS = 10_000
DEFAULT_SPLIT_BIPS = 1_000


def tokens_per_day(amount: int, duration: int) -> Fraction:
    """``amount / (duration / 86400)``, exact. The duration must be a positive number of days."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise CalculationError(f"amount must be a non-negative integer: got {amount!r}")
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or duration <= 0
        or duration % SNAPSHOT_CADENCE
    ):
        raise CalculationError(
            f"duration must be a positive multiple of {SNAPSHOT_CADENCE} s: got {duration!r}"
        )
    return Fraction(amount * SNAPSHOT_CADENCE, duration)


def weight(shares: Mapping[str, int], multipliers: Mapping[str, int]) -> int:
    """``sum(multiplier * shares)`` over the strategies the submission rewards (others weigh 0)."""
    return sum(multipliers[s] * n for s, n in shares.items() if s in multipliers)


def proportions(weights: Mapping[str, int]) -> dict[str, int]:
    """Each earner's ``floor(w / sum(w) * 1e15)`` (the proportion in units of 1e-15)."""
    for k, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise CalculationError(f"weight of {k} must be a non-negative integer: got {w!r}")
    total = sum(weights.values())
    if total == 0:
        raise CalculationError("no weight to split by (no stake in the rewarded strategies)")
    return {k: w * PRECISION // total for k, w in weights.items()}


def payouts(per_day: Fraction | int, weights: Mapping[str, int]) -> dict[str, int]:
    """Each earner's ``floor(prop * tokensPerDay)`` for one day."""
    tpd = Fraction(per_day)
    if tpd < 0:
        raise CalculationError("tokens per day must be non-negative")
    return {k: int(Fraction(p, PRECISION) * tpd) for k, p in proportions(weights).items()}


def commission(payout: int, split_bips: int) -> int:
    """The operator's cut ``floor(payout * split / 10000)``."""
    if (
        isinstance(split_bips, bool)
        or not isinstance(split_bips, int)
        or not 0 <= split_bips <= ONE_HUNDRED_IN_BIPS
    ):
        raise CalculationError(f"split must be bips in [0, {ONE_HUNDRED_IN_BIPS}]: got {split_bips!r}")
    return payout * split_bips // ONE_HUNDRED_IN_BIPS


@dataclass
class DayResult:
    """One day's payouts: to each staker (after commission) and each operator (its commissions)."""

    stakers: dict[str, int] = field(default_factory=dict)
    operators: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.stakers.values()) + sum(self.operators.values())

    def earnings(self) -> dict[str, int]:
        """Per earner (a staker that is also an operator gets both)."""
        out = dict(self.stakers)
        for k, v in self.operators.items():
            out[k] = out.get(k, 0) + v
        return out


def avs_day(
    per_day: Fraction | int,
    stakers: Mapping[str, tuple[str, int]],
    split_bips: Mapping[str, int] | int = DEFAULT_SPLIT_BIPS,
) -> DayResult:
    """One day of an AVS rewards submission (v1): ``stakers`` maps each staker to (its operator,
    its weight); ``split_bips`` is one split for all or a split per operator."""
    pay = payouts(per_day, {s: w for s, (_, w) in stakers.items()})
    out = DayResult()
    for s, p in pay.items():
        op = stakers[s][0]
        cut = commission(
            p, split_bips if isinstance(split_bips, int) else split_bips.get(op, DEFAULT_SPLIT_BIPS)
        )
        out.operators[op] = out.operators.get(op, 0) + cut
        out.stakers[s] = out.stakers.get(s, 0) + p - cut
    return out


def operator_set_day(
    per_day: Fraction | int,
    operator_stakes: Mapping[str, int],
    staker_shares: Mapping[str, Mapping[str, int]],
    split_bips: Mapping[str, int] | int = DEFAULT_SPLIT_BIPS,
) -> DayResult:
    """One day of an operator-set submission (v2.2): the day's tokens split over operators by their
    (unique or total) stake weight, the operator's commission taken, the rest split over its
    stakers by ``staker_shares[operator]`` (staker -> weight) with the same truncation. An operator
    with no stakers keeps its whole share."""
    out = DayResult()
    for op, share in payouts(per_day, operator_stakes).items():
        cut = commission(
            share, split_bips if isinstance(split_bips, int) else split_bips.get(op, DEFAULT_SPLIT_BIPS)
        )
        stakers = {s: w for s, w in (staker_shares.get(op) or {}).items() if w}
        rest = share - cut
        if not stakers or rest == 0:
            out.operators[op] = out.operators.get(op, 0) + share
            continue
        out.operators[op] = out.operators.get(op, 0) + cut
        for s, p in payouts(rest, stakers).items():
            out.stakers[s] = out.stakers.get(s, 0) + p
    return out


def total_stake_day(
    amount: int,
    duration: int,
    operator_weights: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_bips: Mapping[str, int],
    interval: int = SNAPSHOT_CADENCE,
) -> DayResult:
    """One day of a total-stake operator-set submission by the on-chain rule (the RewardsDistributor's,
    which contracts/rewards/RewardsRootChallenger.vy recomputes; docs/rewards.md "Challenging a
    root"): ``operator_weights`` are the day's members' ``sum(multiplier * operatorSharesAt)``,
    ``staker_weights[op]`` its stakers' (the operator included, for its own stake) ``sum(multiplier *
    stakerSharesAt)``, ``split_bips[op]`` its split as recorded for the day.

    An operator's payout is ``floor(floor(W_o * 1e15 / sum W) * amount * interval / (duration *
    1e15))`` (:func:`payouts` with ``tokensPerDay = amount * interval / duration``), its commission
    ``floor(payout * split / 10000)``, and each staker gets ``floor(floor(W_s * 1e15 / W_o) *
    (payout - commission) / 1e15)``: the stakers' denominator is the operator's own weight, so each
    amount follows from on-chain state alone (the sidecar's :func:`operator_set_day` sums the
    stakers instead; the remainder stays in escrow)."""
    return unique_stake_day(
        amount, duration, operator_weights, operator_weights, staker_weights, split_bips, interval
    )


def unique_stake_day(
    amount: int,
    duration: int,
    allocated_weights: Mapping[str, int],
    delegated_weights: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_bips: Mapping[str, int],
    interval: int = SNAPSHOT_CADENCE,
) -> DayResult:
    """One day of a unique-stake operator-set submission by the on-chain rule (the RewardsDistributor's
    ``createUniqueStakeDistribution``, recomputed by the root challenge): as :func:`total_stake_day`
    but the day's tokens are split over the members by ``allocated_weights`` (``sum(multiplier *
    getAllocatedStakeAt)`` at the day's block); each operator's stakers share the rest by their
    delegated weight over ``delegated_weights[op]`` (``sum(multiplier * operatorSharesAt)``)."""
    _check_days(duration, interval)
    if sum(allocated_weights.values()) == 0:
        return DayResult()
    per_day = Fraction(amount * interval, duration)
    return _split(per_day, allocated_weights, delegated_weights, staker_weights, lambda op: split_bips[op])


def operator_directed_day(
    operator_amounts: Mapping[str, int],
    duration: int,
    members: Collection[str],
    delegated_weights: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_bips: Mapping[str, int],
    interval: int = SNAPSHOT_CADENCE,
) -> DayResult:
    """One day of an operator-directed operator-set submission (EigenLayer v2.1's
    ``OperatorDirectedRewardsSubmission``) by the on-chain rule the root challenge recomputes: each
    operator the AVS named that is one of the day's ``members`` gets ``floor(amount * interval /
    duration)`` of its amount (EigenLayer's ``tokensPerDay``; a day it is not a member pays it
    nothing), its commission by its recorded split, the rest to its stakers by delegated weight
    over ``delegated_weights[op]`` (an operator with no delegated weight pays its stakers
    nothing)."""
    _check_days(duration, interval)
    shares = {}
    for op, a in operator_amounts.items():
        if isinstance(a, bool) or not isinstance(a, int) or a < 0:
            raise CalculationError(f"amount of {op} must be a non-negative integer: got {a!r}")
        if op in members and a * interval // duration:
            shares[op] = a * interval // duration
    return _pay(shares, delegated_weights, staker_weights, lambda op: split_bips[op])


def _check_days(duration: int, interval: int) -> None:
    if interval <= 0 or duration <= 0 or duration % interval:
        raise CalculationError(f"duration must be a positive multiple of {interval} s: got {duration!r}")


def cumulative(
    days: list[DayResult], token: str, before: Mapping[str, Mapping[str, int]] | None = None
) -> dict[str, dict[str, int]]:
    """Cumulative earnings ``{earner: {token: amount}}`` after adding `days` (paid in `token`) to
    `before` (the last root's amounts): the input of :class:`offchain.rewards.merkle.DistributionTree`."""
    out = {e: dict(t) for e, t in (before or {}).items()}
    for d in days:
        for e, v in d.earnings().items():
            if v:
                row = out.setdefault(e, {})
                row[token] = row.get(token, 0) + v
    return out


def allocated_stake(shares: int, magnitude: int, max_magnitude: int) -> int:
    """Shares allocated to a set: ``floor(operatorShares * magnitude / maxMagnitude)`` (the
    AllocationManager's ``getAllocatedStake`` and, on the histories, ``getAllocatedStakeAt``);
    0 for a zero magnitude. The magnitude cannot exceed the max magnitude."""
    for name, v in (("shares", shares), ("magnitude", magnitude), ("max magnitude", max_magnitude)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CalculationError(f"{name} must be a non-negative integer: got {v!r}")
    if magnitude > max_magnitude:
        raise CalculationError(f"magnitude {magnitude} exceeds the max magnitude {max_magnitude}")
    return 0 if magnitude == 0 else shares * magnitude // max_magnitude


def operator_set_distribution(
    amount: int,
    split_weights: Mapping[str, int],
    delegated_weights: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_bips: Mapping[str, int] | int = DEFAULT_SPLIT_BIPS,
) -> DayResult:
    """The RewardsDistributor's amounts for one distribution of ``amount`` (net of any fee).

    - ``split_weights[o]``: the weight splitting the amount over the operators, ``sum multiplier *
      stake`` at the snapshot block, where stake is ``getAllocatedStakeAt`` (unique stake, members
      at the block only) or ``operatorSharesAt`` (total stake);
    - ``delegated_weights[o]``: ``sum multiplier * operatorSharesAt`` (the stakers' denominator);
    - ``staker_weights[o][s]``: ``sum multiplier * stakerSharesAt(s, o)`` (the operator is its own
      staker).

    Operator share ``floor(floor(W_o * 1e15 / sum W) * amount / 1e15)``, its commission
    ``floor(share * split / 10000)``, a staker's amount ``floor(floor(W_s * 1e15 / D_o) *
    (share - commission) / 1e15)``. Every step rounds down, so the total never exceeds ``amount``;
    what is left stays in the distribution's escrow."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise CalculationError(f"amount must be a non-negative integer: got {amount!r}")
    for op in proportions(split_weights):
        if split_weights[op] == 0:
            continue
        denom = delegated_weights.get(op, 0)
        stakers = staker_weights.get(op) or {}
        for k, w in [(op, denom), *stakers.items()]:
            if isinstance(w, bool) or not isinstance(w, int) or w < 0:
                raise CalculationError(f"weight of {k} must be a non-negative integer: got {w!r}")
        if denom == 0:
            raise CalculationError(f"operator {op} has split weight but no delegated weight")
        if sum(stakers.values()) > denom:
            raise CalculationError(f"the stakers' weights of {op} exceed its delegated weight")

    def split_of(op: str) -> int:
        return split_bips if isinstance(split_bips, int) else split_bips.get(op, DEFAULT_SPLIT_BIPS)

    return _split(amount, split_weights, delegated_weights, staker_weights, split_of)


def _split(
    per_day: Fraction | int,
    split_weights: Mapping[str, int],
    denominators: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_of: Callable[[str], int],
) -> DayResult:
    """The on-chain rule shared by the RewardsDistributor and the root challenge: each operator's
    ``floor(floor(W * 1e15 / sum W) * per_day / 1e15)`` by its split weight, then :func:`_pay`."""
    shares = {op: share for op, share in payouts(per_day, split_weights).items() if split_weights[op]}
    return _pay(shares, denominators, staker_weights, split_of)


def _pay(
    shares: Mapping[str, int],
    denominators: Mapping[str, int],
    staker_weights: Mapping[str, Mapping[str, int]],
    split_of: Callable[[str], int],
) -> DayResult:
    """Each operator's share paid out: its commission ``floor(share * split / 10000)``, and each
    staker ``floor(floor(W_s * 1e15 / D_o) * (share - commission) / 1e15)`` with ``D_o`` the
    operator's denominator (its delegated weight); what no staker weighs stays unpaid."""
    out = DayResult()
    for op, share in shares.items():
        cut = commission(share, split_of(op))
        out.operators[op] = out.operators.get(op, 0) + cut
        denom = denominators[op]
        for s, w in (staker_weights.get(op) or {}).items():
            if w:
                out.stakers[s] = out.stakers.get(s, 0) + (w * PRECISION // denom) * (share - cut) // PRECISION
    return out
