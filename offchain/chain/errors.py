"""Typed errors of the chain component (all subclasses of ``ChainError``)."""

from offchain.errors import ChainError


class DeployConfigError(ChainError):
    """The deployment configuration is missing, malformed or inconsistent."""


class EnrolmentError(ChainError):
    """Evidence does not justify enrolling an enclave key, or an enrolment input is malformed."""


class DisputeError(ChainError):
    """A receipt cannot be disputed or re-executed here, or a dispute input is malformed."""


class ChainInputError(ChainError):
    """A bad argument for the chain SDK or ``eigen chain``: an unknown address or account name, a
    malformed key or amount, a deployment that names no such contract."""


class DevnetError(ChainError):
    """The devnet (or the node named) is not running or not reachable, or cannot be started or
    stopped, or its folder holds something else."""


class ChainRevertError(ChainError):
    """A transaction (or the call that checks it first) was reverted by a contract; the message
    carries the contract's reason string."""


__all__ = [
    "ChainError",
    "ChainInputError",
    "ChainRevertError",
    "DeployConfigError",
    "DevnetError",
    "DisputeError",
    "EnrolmentError",
]
