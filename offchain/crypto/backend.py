"""Array backends: ``numpy`` on the CPU, ``cupy`` on a CUDA GPU.

All field and curve code takes the array module (``xp``) from here and uses only integer operations
that both modules implement identically (int64 add/sub/mul, shifts, masks, indexing), so a computation
gives the same bits on either backend.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from offchain.errors import CryptoError


class BackendError(CryptoError):
    """The requested array backend is unknown or not usable here (e.g. no GPU / no cupy)."""


def get_backend(name: str = "cpu") -> ModuleType:
    """Return the array module for ``name``: ``cpu`` -> numpy, ``gpu`` -> cupy."""
    if name in ("cpu", "numpy"):
        return np
    if name in ("gpu", "cupy", "cuda"):
        try:
            import cupy  # type: ignore[import-not-found]
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise BackendError(f"backend 'gpu' needs cupy, which is not importable: {exc}") from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise BackendError(f"backend 'gpu': no usable CUDA device ({exc})") from exc
        if count < 1:  # pragma: no cover
            raise BackendError("backend 'gpu': no CUDA device found")
        return cupy
    raise BackendError(f"unknown backend {name!r} (expected 'cpu' or 'gpu')")


def to_numpy(a: Any) -> np.ndarray:
    """Copy an array of either backend to host memory as a numpy array."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    if get is not None:
        return get()
    return np.asarray(a)


def backend_of(a: Any) -> ModuleType:
    """The array module an array belongs to."""
    if isinstance(a, np.ndarray):
        return np
    import cupy  # type: ignore[import-not-found]

    return cupy


def backend_name(xp: ModuleType) -> str:
    return "cpu" if xp is np else "gpu"
