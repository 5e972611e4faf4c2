#!/usr/bin/env bash
# Run every test in one pytest session under ape (contracts on anvil, off-chain code in-process).
# EIGEN_PROFILE=long selects the long Hypothesis profile; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ape compile >/dev/null
set +e
ape test tests "$@"
rc=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: CI must always run tests.
exit $rc
