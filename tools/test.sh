#!/usr/bin/env bash
# Run every test under ape (contracts on anvil, off-chain code in-process), a test module per process
# across EIGEN_TEST_WORKERS processes (pytest-xdist; default the CPU count up to 4, 0 for one process:
# docs/settings.md). EIGEN_PROFILE=long selects the long Hypothesis profile; extra arguments go to
# pytest (a later -n overrides the worker count).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/compile.sh
workers=$(python -c 'from offchain.settings import test_workers; print(test_workers())') || exit 2
parallel=()
if [ "$workers" -gt 0 ]; then
    # loadfile: a module's tests share its fixtures (one deployment per module), so they stay together.
    parallel=(-n "$workers" --dist loadfile)
fi
set +e
ape test tests "${parallel[@]}" "$@"
rc=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: CI must always run tests.
exit $rc
