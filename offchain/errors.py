"""Error hierarchy: one base class for the package, one subclass per component.

Every failure the package reports on bad input is an instance of :class:`EigenError`, so callers
can catch one type; each component raises its own subclass (and may refine it further).
"""


class EigenError(Exception):
    """Base class of every error raised deliberately by the ``offchain`` package."""


class SettingError(EigenError):
    """An ``EIGEN_*`` variable holds a value that cannot be used (e.g. a non-integer thread count)."""


class BackendError(EigenError):
    """The requested array backend is unknown or not usable here (e.g. ``gpu`` without cupy or a device)."""


class NativeError(EigenError):
    """A C kernel could not be compiled or loaded (no compiler, compile error, bad library), or was
    called with arguments it refuses."""


class CryptoError(EigenError):
    """Field, curve, encoding or pairing error (bad point, wrong length, not in subgroup...)."""


class BLSError(EigenError):
    """BLS keys, signatures, keystores and operator-set certificates (BN254)."""


class DAError(EigenError):
    """Data-availability error: bad payload, blob, chunk, proof or SRS."""


class AttestationError(EigenError):
    """TEE evidence could not be parsed or verified."""


class ComputeError(EigenError):
    """Receipts, image digests and other verifiable-compute errors."""


class AIError(EigenError):
    """Deterministic-inference error: model file, tokenizer, engine, receipt."""


class ChainError(EigenError):
    """On-chain interaction error: deployment, configuration, transactions."""


class StoreError(EigenError):
    """Storage-engine error: bad key or value, closed or locked store, corrupt file, full disk."""


class AgentError(EigenError):
    """Agent economy error (``offchain.agent``): x402 payments refused or malformed, a client's
    budget, AP2 mandates."""


class ServiceError(EigenError):
    """HTTP service error (``offchain.httpservice``): bad bind address, a request refused with a status."""
