"""Array backend selection: numpy (reference) or cupy (same code, same bits).

Only exact operations run on the backend: integer arithmetic, float32/float64 products and sums whose
every partial result is an integer below the format's exact-integer limit, power-of-two scaling and
rounding of exactly computed values. Such operations have one correct answer, so any IEEE device,
BLAS, thread count or kernel shape returns the same bits.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

from offchain.ai.errors import AIBackendError as BackendError


def get_backend(name: str = "numpy") -> ModuleType:
    """Return the array module for ``name`` ("numpy" or "cupy")."""
    if name == "numpy":
        return np
    if name == "cupy":
        if os.environ.get("CUPY_TF32", "0") not in ("", "0"):
            # TF32 tensor cores truncate float32 GEMM inputs to 10 mantissa bits: not exact.
            raise BackendError("CUPY_TF32 is set: float32 GEMMs would not be exact; unset it")
        try:
            import cupy  # type: ignore[import-not-found]

            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise BackendError("cupy sees no CUDA device")
        except BackendError:
            raise
        except Exception as exc:  # ImportError, CUDA driver errors
            raise BackendError(f"cupy backend unavailable: {exc}") from exc
        return cupy
    raise BackendError(f"unknown backend {name!r} (expected 'numpy' or 'cupy')")


def to_numpy(a: Any) -> np.ndarray:
    """Bring a backend array to host memory as a numpy array."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    if get is None:
        return np.asarray(a)
    return get()
