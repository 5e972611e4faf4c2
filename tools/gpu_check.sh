#!/usr/bin/env bash
# GPU checks, for a machine with a CUDA GPU and cupy (the project's GPU machine has no network and
# Python 3.12). Runs every GPU test (crypto, DA and AI: cupy must give the same bits as numpy) and, with
# --bench, the DA GPU benchmark. Optional inputs, carried beside the checkout:
#   .whl/        wheels of the pure-Python dependencies the GPU machine lacks (installed --no-deps)
#   shared/      a copy of ../shared (test vectors)            -> EIGEN_SHARED
#   .devcheck/smol4.gguf  SmolLM2's first blocks (tools/gguf_prefix.py) when the whole model cannot
#                travel                                         -> EIGEN_AI_MODEL
# Results go to $OUT (or ./gpu-check-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
[ -d shared ] && export EIGEN_SHARED=$PWD/shared
[ -f .devcheck/smol4.gguf ] && export EIGEN_AI_MODEL=$PWD/.devcheck/smol4.gguf
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
rc=0
$PY -m pytest -q -rs -p no:cacheprovider -o 'filterwarnings=ignore::DeprecationWarning' -m gpu tests/offchain/crypto tests/offchain/da tests/offchain/ai 2>&1 | tee "$OUT/gpu-tests.log"
rc=${PIPESTATUS[0]}
if [ "${1:-}" = "--bench" ]; then
    shift
    $PY bench/da/bench_da.py --backend gpu "$@" 2>&1 | tee "$OUT/bench-da-gpu.log"
    cp bench/results/*.json "$OUT/" 2>/dev/null || true
fi
exit $rc
