"""Typed errors of the chain component (all subclasses of ``ChainError``)."""

from offchain.errors import ChainError


class DeployConfigError(ChainError):
    """The deployment configuration is missing, malformed or inconsistent."""


class EnrolmentError(ChainError):
    """Evidence does not justify enrolling an enclave key, or an enrolment input is malformed."""


class DisputeError(ChainError):
    """A receipt cannot be disputed or re-executed here, or a dispute input is malformed."""


__all__ = ["ChainError", "DeployConfigError", "DisputeError", "EnrolmentError"]
