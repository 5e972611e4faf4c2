"""Typed errors of the deterministic-inference component (all subclasses of ``AIError``)."""

from offchain.errors import AIError


class ModelFileError(AIError):
    """The model file is missing, unreadable, or not a supported GGUF layout."""


class TokenizerError(AIError):
    """Tokenizer metadata is missing/inconsistent, or text/tokens cannot be encoded."""


class EngineError(AIError):
    """Bad engine input (token ids, lengths, positions) or an exactness bound was violated."""


class SamplingError(AIError):
    """Sampling parameters out of range."""


class ReceiptError(AIError):
    """A receipt is malformed, has an unknown version, or carries a bad signature."""


class BackendError(AIError):
    """The requested array backend (cupy) is unavailable or misconfigured."""


__all__ = [
    "AIError",
    "BackendError",
    "EngineError",
    "ModelFileError",
    "ReceiptError",
    "SamplingError",
    "TokenizerError",
]
