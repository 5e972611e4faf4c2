"""The errors of :mod:`offchain.crypto`, one class per kind of bad input.

The array code's errors derive from :class:`offchain.errors.CryptoError`; the native kernels' boundary
errors derive from :class:`offchain.errors.NativeError` (what a failed build or load raises too), and
the pairing kernel's from both. (:class:`offchain.errors.BackendError` is shared by every component.)
"""

from __future__ import annotations

from offchain.errors import CryptoError, NativeError


class FieldError(CryptoError):
    """A value is not a valid field element (out of range, wrong length)."""


class CurveError(CryptoError):
    """Invalid curve point or curve operation."""


class PointError(CryptoError):
    """A point encoding is malformed, not on the curve, or not in the prime-order subgroup."""


class DomainError(CryptoError):
    """Unsupported transform size or malformed input to a transform."""


class G1KernelError(NativeError):
    """Bad input at the native G1 boundary: wrong shape or dtype, a point off the curve or out of range."""


class G2KernelError(NativeError):
    """Bad input at the native G2 boundary: wrong shape or dtype, a point off the twist or out of range."""


class FrKernelError(NativeError):
    """Bad input at the native NTT boundary: a non-canonical value, a wrong shape, an unsupported field."""


class PairingKernelError(NativeError, CryptoError):
    """Bad input at the native pairing boundary: wrong shape, a coordinate >= p, a point off its curve.

    ``code`` is the kernel's status (negative), ``index`` the first bad pair (or -1)."""

    def __init__(self, msg: str, code: int = 0, index: int = -1) -> None:
        super().__init__(msg)
        self.code = code
        self.index = index
