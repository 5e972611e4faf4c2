"""Array backends, one vocabulary for every component: ``cpu`` (numpy) and ``gpu`` (cupy).

Field, curve and inference code takes its array module (``xp``) from here and uses only operations
that both modules compute exactly (integer arithmetic, shifts, masks, indexing, and float products
whose every partial result is an exactly representable integer), so a computation gives the same
bits on either backend. Every ``--backend`` option takes ``cpu|gpu``; the library also accepts the
module names ``numpy``/``cupy``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from offchain.errors import BackendError

BACKENDS = ("cpu", "gpu")
_ALIASES = {"cpu": "cpu", "numpy": "cpu", "gpu": "gpu", "cupy": "gpu", "cuda": "gpu"}


def canonical(name: str) -> str:
    """``cpu`` or ``gpu`` for any accepted spelling; a :class:`BackendError` for anything else."""
    try:
        return _ALIASES[name]
    except (KeyError, TypeError):
        raise BackendError(f"unknown backend {name!r} (expected 'cpu' or 'gpu')") from None


def get_backend(name: str = "cpu") -> ModuleType:
    """The array module for ``name``: ``cpu`` -> numpy, ``gpu`` -> cupy (checked to see a device)."""
    if canonical(name) == "cpu":
        return np
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
    """``cpu`` or ``gpu`` for an array module."""
    return "cpu" if xp is np else "gpu"
