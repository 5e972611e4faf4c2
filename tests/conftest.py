"""Suite-wide test configuration.

Hypothesis profiles: ``ci`` (default; sized so the whole suite stays well inside CI's budget on
2 cores) and ``long`` (``EIGEN_PROFILE=long``) for deep fuzzing runs. Both have no deadline (a
transaction on a local chain can take tens of milliseconds) and no example database.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"

settings.register_profile(
    "ci",
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
)
settings.register_profile(
    "long",
    max_examples=500,
    stateful_step_count=60,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("EIGEN_PROFILE", "ci"))


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
