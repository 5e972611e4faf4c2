"""Same bits from fresh processes, different thread counts / hash seeds, and (where present) the GPU."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from offchain.ai.sampler import SamplingParams
from tests.offchain.ai.support import TINY_GOLDEN, smol_service, tiny_service

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

_TINY = """
from tests.offchain.ai.support import golden_digest, tiny_service
print(golden_digest(tiny_service()))
"""

_SMOL = """
from tests.offchain.ai.support import smol_service
from offchain.ai.sampler import SamplingParams
svc = smol_service()
c = svc.complete(svc.prompt_tokens(None, "Name a color."), SamplingParams(seed=2, temperature_milli=800, max_tokens=5))
print(c.receipt.to_json())
"""


def _py(code: str, threads: int, hashseed: str) -> str:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        PYTHONHASHSEED=hashseed,
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("threads, hashseed", [(1, "0"), (2, "12345")])
def test_tiny_golden_in_fresh_processes(threads, hashseed):
    assert _py(_TINY, threads, hashseed) == TINY_GOLDEN


def test_smollm2_receipt_same_in_single_thread_process():
    svc = smol_service()
    c = svc.complete(
        svc.prompt_tokens(None, "Name a color."), SamplingParams(seed=2, temperature_milli=800, max_tokens=5)
    )
    assert _py(_SMOL, 1, "7") == c.receipt.to_json()


def _gpu() -> bool:
    from tests.support import gpu_available

    return gpu_available()


@pytest.mark.gpu
def test_cupy_matches_numpy_bit_for_bit():
    if not _gpu():
        pytest.skip("no CUDA GPU / cupy here: the cupy path is exercised only where a GPU is present")
    from offchain.ai.engine import Engine

    for svc in (tiny_service(), smol_service()):
        gpu = Engine(svc.model, backend="cupy")
        toks = svc.prompt_tokens(None, "The quick brown fox jumps over the lazy dog.")
        want = svc.engine.prefill(svc.engine.new_cache(), toks, all_logits=True)
        got = gpu.prefill(gpu.new_cache(), toks, all_logits=True)
        assert np.array_equal(got, want)
        c1, c2 = svc.engine.new_cache(), gpu.new_cache()
        svc.engine.prefill(c1, toks)
        gpu.prefill(c2, toks)
        for t in (5, 6, 7):
            assert np.array_equal(svc.engine.forward([(c1, [t])])[0], gpu.forward([(c2, [t])])[0])
