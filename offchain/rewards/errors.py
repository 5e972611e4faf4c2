"""Typed errors of :mod:`offchain.rewards`. The component's base, :class:`RewardsError`, derives from
:class:`offchain.errors.EigenError` directly (the package-level hierarchy lists one class per
component; this one may move there)."""

from __future__ import annotations

from offchain.errors import EigenError


class RewardsError(EigenError):
    """Rewards error: distribution trees, claims, reward calculations."""


class RewardsInputError(RewardsError):
    """A malformed input: an address, amount, index, proof or a distribution/claim file that does not
    parse or breaks a rule (duplicate earner or token, a negative or too large amount)."""


class ProofError(RewardsError):
    """A proof does not verify against its root, or no proof exists (an earner or token not in the
    tree)."""


class CalculationError(RewardsError):
    """A reward calculation cannot be made: a period that is not day-aligned, no weight to split by,
    a split outside [0, 10000] bips."""
