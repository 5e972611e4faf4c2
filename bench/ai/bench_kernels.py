"""The native kernels of the exact engine against an earlier version of themselves, in one process.

    .venv/bin/python bench/ai/bench_kernels.py [--baseline REV] [--threads 1,2] [--rounds 5]
        [--steps 32] [--impls avx2,avx512vnni] [--cases linear,silu,engine] [--positions 104,918]
        [--kernel auto|portable|avx2|avx512vnni]

``--baseline REV`` builds ``offchain/ai/kernels/intkernel.c`` as it was at git revision REV (default
``HEAD``) beside the working tree's, and every case runs on both libraries in alternation (each round
times the baseline, then the current code), so that the load of a shared machine hits both alike; the
table gives medians, the ratio baseline / current (> 1: faster now) and the load average. Cases: the
linear products (1 thread, CPU time of the calling thread) of real SmolLM2 layers (Q4_1 gate|up 3072x576, down 576x1536, the Q8_0 head
49152x576) for 1 and 64 tokens on each implementation, the SiLU gate, and whole decode steps of the
engine (after 104 and 918 prompt tokens) on each thread count, where every kernel call of the engine
goes to one library or the other (``--kernel avx2``: what a CPU without AVX-512 runs). Every case checks that both libraries give the same integers.
Decode steps report the median and the fastest step: on a machine shared with other jobs the fastest
is the closest to what free cores give.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain import native  # noqa: E402
from offchain.ai import intkernel  # noqa: E402
from offchain.ai.service import InferenceService  # noqa: E402


def baseline_library(rev: str, tmp: Path) -> ctypes.CDLL:
    """intkernel.c at git revision ``rev``, built (cached like any kernel) and typed as intkernel does."""
    src = subprocess.run(
        ["git", "show", f"{rev}:offchain/{intkernel.SOURCE}"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = tmp / "intkernel_base.c"
    path.write_bytes(src)
    lib = ctypes.CDLL(str(native.build(path, intkernel.FLAGS)))
    for name, sig in intkernel._SIGNATURES.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes = [intkernel._KINDS[c] for c in sig]
            fn.restype = ctypes.c_int
    return lib


@contextlib.contextmanager
def using(lib: ctypes.CDLL, eng) -> Iterator[None]:
    """Every kernel call of ``eng`` (and intkernel's module functions) goes to ``lib`` inside."""
    saved = intkernel.library
    lins = [
        bl.native
        for ly in eng.layers
        for bl in (ly.wqkv, ly.wo, ly.w_gate_up, ly.w_down)
        if bl.native is not None
    ]
    lins.append(eng.head.native)
    old = [x.lib for x in lins]
    layers = eng._native_layers or []
    old_fn = [nl._fn for nl in layers]
    intkernel.library = lambda: lib
    for x in lins:
        x.lib = lib
    for nl in layers:
        nl._fn = lib.il_layer
    try:
        yield
    finally:
        intkernel.library = saved
        for x, o in zip(lins, old, strict=True):
            x.lib = o
        for nl, f in zip(layers, old_fn, strict=True):
            nl._fn = f


def timed(fn: Callable[[], object], reps: int) -> float:
    """CPU time of this thread per call (the single-threaded cases: on a loaded machine wall time
    measures the scheduler more than the code)."""
    t = time.thread_time()
    for _ in range(reps):
        fn()
    return (time.thread_time() - t) / reps


def report(name: str, base: list[float], cur: list[float], unit: str = "ms") -> None:
    b, c = statistics.median(base), statistics.median(cur)
    print(
        f"{name:52s} {b * 1e3:9.3f} -> {c * 1e3:9.3f} {unit}  {b / c:5.2f}x  (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="HEAD")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=32, help="decode steps per round and thread count")
    ap.add_argument("--impls", default=",".join(i for i in intkernel.implementations() if i != "portable"))
    ap.add_argument("--cases", default="linear,silu,engine", help="which of linear, silu, engine to run")
    ap.add_argument("--positions", default="104,918", help="prompt lengths of the engine decode cases")
    ap.add_argument(
        "--kernel",
        default="auto",
        help="what the engine's linear kernel runs (EIGEN_AI_KERNEL), on both sides",
    )
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    impls = [i for i in args.impls.split(",") if i]
    with tempfile.TemporaryDirectory() as tmp:
        libs = {"base": baseline_library(args.baseline, Path(tmp)), "cur": intkernel.library()}
    for lib in libs.values():
        if lib.il_set_default_impl(intkernel.IMPLS[args.kernel]) != 0:
            raise SystemExit(f"kernel {args.kernel!r} is not available")
    svc = InferenceService()
    eng = svc.engine
    print(
        f"baseline {args.baseline} vs working tree, load {os.getloadavg()}; ms per call, medians", flush=True
    )
    rng = np.random.default_rng(0)
    layer = eng.layers[0]
    cases = [
        ("gate|up Q4_1 3072x576", layer.w_gate_up.native),
        ("down Q4_1 576x1536", layer.w_down.native),
        ("head Q8_0 49152x576", eng.head.native),
    ]
    for impl in impls if "linear" in args.cases else ():
        for name, lin in cases:
            for t, reps in ((1, 20 if lin.rows < 10000 else 3), (64, 2)):
                x = rng.integers(-(1 << 15), 1 << 15, size=(t, lin.cols))
                out = {}
                times: dict[str, list[float]] = {"base": [], "cur": []}
                for _ in range(args.rounds):
                    for k, lib in libs.items():
                        lin.lib = lib
                        out[k] = lin.product(x, 1, impl)
                        times[k].append(timed(lambda lin=lin, x=x, impl=impl: lin.product(x, 1, impl), reps))
                lin.lib = libs["cur"]
                assert np.array_equal(out["base"], out["cur"])
                report(f"{impl} {name}, {t} token(s), 1 thread", times["base"], times["cur"])
    gu = rng.integers(-(1 << 20), 1 << 20, size=(918, 2 * 1536))
    for t in (1, 918) if "silu" in args.cases else ():
        times = {"base": [], "cur": []}
        res = {}
        for _ in range(args.rounds):
            for k, lib in libs.items():
                with using(lib, eng):
                    res[k] = intkernel.silu_mul(gu[:t], 1536)
                    times[k].append(timed(lambda t=t: intkernel.silu_mul(gu[:t], 1536), 200 if t == 1 else 3))
        assert np.array_equal(res["base"], res["cur"])
        report(f"SiLU gate, {t} token(s) x 1536", times["base"], times["cur"])
    if "engine" not in args.cases:
        return 0
    ids = svc.tokenizer.encode((ROOT / "bench" / "ai" / "ppl_text.txt").read_text())
    for n in (int(p) for p in args.positions.split(",")):
        toks = (ids * (n // len(ids) + 1))[:n]
        for th in threads:
            eng.set_threads(th)
            caches, last = {}, {}
            for k, lib in libs.items():
                with using(lib, eng):
                    caches[k] = eng.new_cache()
                    last[k] = eng.forward([(caches[k], toks)])[0]
            assert np.array_equal(last["base"], last["cur"])
            steps: dict[str, list[float]] = {"base": [], "cur": []}
            for _ in range(args.rounds):
                for k, lib in libs.items():
                    with using(lib, eng):
                        for i in range(args.steps):
                            t0 = time.perf_counter()
                            last[k] = eng.forward([(caches[k], [100 + i])])[0]
                            steps[k].append(time.perf_counter() - t0)
                            caches[k].length -= 1  # every step at n positions
                assert np.array_equal(last["base"], last["cur"])
            report(f"decode step at {n} positions, {th} thread(s), median", steps["base"], steps["cur"])
            report(
                f"decode step at {n} positions, {th} thread(s), fastest",
                [min(steps["base"])],
                [min(steps["cur"])],
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
