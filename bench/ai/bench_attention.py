"""The attention kernels of the exact engine side by side in one process: reference vs blocked.

    .venv/bin/python bench/ai/bench_attention.py [--threads 1,2] [--rounds 3] [--engine-steps 16]

Real inputs: SmolLM2's first layer on the 918-token prompt of ``bench_ai.py`` (its q, k, v through the
engine's own RoPE, shifts and cache writes). Cases: prefill of 918 and 104 tokens, one decode step at
918 and at 104 positions. Each round times both implementations back to back (interleaved, so that the
load of a shared machine hits both alike) and checks that they return the same integers; medians of
the rounds, the speedup, and the load average at each case (on a shared machine the absolute times
move with it, the ratio much less). Then the whole engine (unless ``--engine-steps 0``): prefill of the
918 tokens and that many decode steps, with each attention as the process default
(``intkernel.set_default_attention``), interleaved rounds, the same logits checked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain.ai import intkernel  # noqa: E402
from offchain.ai.engine import F_ACT  # noqa: E402
from offchain.ai.service import InferenceService  # noqa: E402

CASES = (
    ("prefill 918", 918, 0, 2),
    ("decode at 918", 1, 917, 200),
    ("prefill 104", 104, 0, 20),
    ("decode at 104", 1, 103, 500),
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engine-steps", type=int, default=16)
    args = ap.parse_args()
    impls = intkernel.attention_implementations()
    if "blocked" not in impls:
        print(f"only {impls} run on this CPU: nothing to compare")
        return 0
    svc = InferenceService()
    eng, cfg = svc.engine, svc.engine.config
    ids = svc.tokenizer.encode((ROOT / "bench" / "ai" / "ppl_text.txt").read_text())
    toks = np.array((ids * (918 // len(ids) + 1))[:918])
    layer, hd, nh, kvh = eng.layers[0], cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
    qkv = layer.wqkv(layer.attn_norm(np.ascontiguousarray(eng.embed(toks))), layer.attn_norm.f_out, F_ACT)
    cache = eng.new_cache()
    cache._reserve(len(toks))
    intkernel.attn_step(
        qkv, nh, kvh, eng._cos_np, eng._sin_np, 0, cache.k[0], cache.ek[0], cache.v[0], eng.score_shift, 1
    )
    q = eng._rope(layer.wqkv.split_out(qkv)[0].reshape(len(toks), nh, hd), np.arange(len(toks)))
    qs, eq = (np.ascontiguousarray(a, dtype=np.int64) for a in eng._qk_scale(q))
    k, ek, v = cache.k[0], cache.ek[0], cache.v[0]

    def run(n: int, start: int, threads: int, impl: str) -> np.ndarray:
        sl = slice(start, start + n)
        return intkernel.attend(qs[sl], eq[sl], k, ek, v, start, kvh, eng.score_shift, threads, impl)

    for threads in (int(t) for t in args.threads.split(",")):
        for name, n, start, reps in CASES:
            assert np.array_equal(run(n, start, threads, "reference"), run(n, start, threads, "blocked"))
            times: dict[str, list[float]] = {"reference": [], "blocked": []}
            for _ in range(args.rounds):
                for impl in times:
                    t = time.perf_counter()
                    for _ in range(reps):
                        run(n, start, threads, impl)
                    times[impl].append((time.perf_counter() - t) / reps)
            r, b = statistics.median(times["reference"]), statistics.median(times["blocked"])
            print(
                f"threads {threads}, {name}: reference {r * 1e3:.3f} ms, blocked {b * 1e3:.3f} ms,"
                f" speedup {r / b:.1f}x (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    if args.engine_steps:
        for threads in (int(t) for t in args.threads.split(",")):
            engine_rounds(eng, list(toks), threads, args.engine_steps, args.rounds)
    return 0


def engine_rounds(eng, toks: list[int], threads: int, steps: int, rounds: int) -> None:
    """Prefill and decode of the whole engine with each attention as the default, interleaved."""
    eng.set_threads(threads)
    res: dict[str, list[tuple[float, float]]] = {"reference": [], "blocked": []}
    logits: dict[str, list[np.ndarray]] = {}
    try:
        for _ in range(rounds):
            for impl in res:
                intkernel.set_default_attention(impl)
                cache = eng.new_cache()
                t0 = time.perf_counter()
                out = [eng.forward([(cache, toks)])[0]]
                t1 = time.perf_counter()
                for _ in range(steps):
                    out.append(eng.forward([(cache, [int(np.argmax(out[-1][-1]))])])[0])
                res[impl].append((t1 - t0, time.perf_counter() - t1))
                logits.setdefault(impl, out)
    finally:
        intkernel.set_default_attention("auto")
    assert all(np.array_equal(a, b) for a, b in zip(logits["reference"], logits["blocked"], strict=True))
    med = {i: [statistics.median(r[k] for r in res[i]) for k in (0, 1)] for i in res}
    (rp, rd), (bp, bd) = med["reference"], med["blocked"]
    print(
        f"engine, threads {threads}, {len(toks)}-token prefill: {len(toks) / rp:.1f} -> {len(toks) / bp:.1f} tok/s"
        f" ({rp / bp:.2f}x); decode after it: {steps / rd:.1f} -> {steps / bd:.1f} tok/s ({rd / bd:.2f}x)"
        f" (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
