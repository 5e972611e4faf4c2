"""Helpers shared by tests: ``from tests.support import vector_path, gpu_available``."""

from pathlib import Path

import pytest

from offchain import settings

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; EIGEN_SHARED points elsewhere (e.g. a copy carried to a GPU machine).
SHARED = settings.shared_dir()
VECTORS = SHARED / "vectors"


def vector_path(*parts: str) -> Path:
    """Path to a file in ../shared/vectors; skips the calling test with the reason if it is absent."""
    p = VECTORS.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test vector not found: {p} (../shared/vectors is absent here)")
    return p


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
