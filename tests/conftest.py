"""Suite-wide test configuration.

Hypothesis profiles: ``ci`` (default; sized so the whole suite stays well inside CI's budget on
2 cores) and ``long`` (``EIGEN_PROFILE=long``) for deep fuzzing runs. Both have no deadline (a
transaction on a local chain can take tens of milliseconds) and no example database.
"""

import os
import tempfile

from hypothesis import HealthCheck, settings

from offchain import settings as eigen_settings

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
settings.load_profile(eigen_settings.hypothesis_profile())

# `eigen da encode` keeps FK20 tables in $EIGEN_DA_CACHE (default .cache/da in the checkout): tests use a
# fresh directory per run, so no run reads a table another run wrote.
if eigen_settings.DA_CACHE.raw() is None:  # unset (an empty value means off)
    os.environ[eigen_settings.DA_CACHE.name] = tempfile.mkdtemp(prefix="eigen-da-cache-")
