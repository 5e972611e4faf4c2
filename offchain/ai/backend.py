"""The inference engine's array backend: :mod:`offchain.backend` (``cpu`` numpy, ``gpu`` cupy), plus
the one rule exact inference adds on a GPU.

Only exact operations run on the backend: integer arithmetic, float32/float64 products and sums whose
every partial result is an integer below the format's exact-integer limit, power-of-two scaling and
rounding of exactly computed values. Such operations have one correct answer, so any IEEE device,
BLAS, thread count or kernel shape returns the same bits, except when cupy is told to use TF32 tensor
cores, which truncate float32 GEMM inputs to 10 mantissa bits: that setting is refused.
"""

from __future__ import annotations

import os
from types import ModuleType

from offchain import backend
from offchain.ai.errors import AIBackendError
from offchain.backend import to_numpy
from offchain.errors import BackendError

__all__ = ["get_backend", "to_numpy"]


def get_backend(name: str = "cpu") -> ModuleType:
    """The array module for ``name`` (``cpu``/``numpy`` or ``gpu``/``cupy``), as an :class:`AIBackendError`
    when it cannot be used for exact inference."""
    try:
        if backend.canonical(name) == "gpu" and os.environ.get("CUPY_TF32", "0") not in ("", "0"):
            raise AIBackendError("CUPY_TF32 is set: float32 GEMMs would not be exact; unset it")
        return backend.get_backend(name)
    except BackendError as exc:
        raise AIBackendError(str(exc)) from exc
