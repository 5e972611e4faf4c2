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


class InferenceReceiptError(AIError):
    """An inference receipt is malformed, has an unknown version, or carries a bad signature."""


class AIBackendError(AIError):
    """The requested array backend (cupy) is unavailable or misconfigured."""


class ServerError(AIError):
    """Bad server configuration (e.g. a non-loopback bind address)."""


class GrammarError(AIError):
    """Constrained decoding: a token the grammar does not allow, or no token continues the output."""


class SchedulerError(AIError):
    """A generation cannot be queued (bad lengths, shut down, or the queue is full)."""


class APIRequestError(AIError):
    """An OpenAI-API request the server refuses: HTTP ``status``, the offending ``param``, a ``code``."""

    def __init__(self, message: str, param: str | None = None, *, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


__all__ = [
    "AIBackendError",
    "AIError",
    "APIRequestError",
    "EngineError",
    "GrammarError",
    "InferenceReceiptError",
    "ModelFileError",
    "SamplingError",
    "SchedulerError",
    "ServerError",
    "TokenizerError",
]
