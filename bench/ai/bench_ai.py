"""Benchmark of the exact engine (eigen-ai-int/1) vs the float32 reference of the same weights, in one process.

    .venv/bin/python bench/ai/bench_ai.py [--quick] [--no-quality] [--backend cpu|gpu]
                                          [--llama-python PATH/TO/python-with-llama_cpp]

Prints a table and writes bench/results/ai.json (git-ignored) with the machine description.
Fixed prompts, fixed seeds; figures are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain.ai.engine import Engine  # noqa: E402
from offchain.ai.evaluate import EVAL_PROMPTS, greedy_agreement, perplexity  # noqa: E402
from offchain.ai.reference import FloatReference  # noqa: E402
from offchain.ai.service import InferenceService  # noqa: E402
from offchain.backend import BACKENDS  # noqa: E402

TEXT = (ROOT / "bench" / "ai" / "ppl_text.txt").read_text()


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy as np

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "threads_env": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "EIGEN_AI_THREADS", "OMP_WAIT_POLICY")
        },
        "native_kernel": _native(),
    }


def _native() -> dict[str, object]:
    """Which linear-layer code the exact engine runs (the C kernel unless EIGEN_NATIVE=0)."""
    from offchain import native
    from offchain.ai import intkernel

    if not native.enabled():
        return {"enabled": False}
    return {"enabled": True, "avx2": intkernel.has_avx2()}


def med(f, n: int) -> float:
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


class _Float:
    """Adapter giving the float reference the engine's forward([(cache, tokens)]) shape."""

    def __init__(self, ref: FloatReference) -> None:
        self.ref = ref

    def new_cache(self):
        return self.ref.new_cache()

    def forward(self, items):
        return [self.ref.forward(c, list(t)) for c, t in items]


def bench_pair(
    engines: dict[str, object], prompt: list[int], steps: int, reps: int
) -> dict[str, dict[str, float]]:
    """Prefill and single-stream decode for several engines, interleaved step by step so that a
    varying machine load hits all of them alike. Medians."""
    pre: dict[str, list[float]] = {k: [] for k in engines}
    dec: dict[str, list[float]] = {k: [] for k in engines}
    for _ in range(reps):
        for k, e in engines.items():
            t = time.perf_counter()
            e.forward([(e.new_cache(), prompt)])
            pre[k].append(time.perf_counter() - t)
    caches = {}
    for k, e in engines.items():
        caches[k] = e.new_cache()
        e.forward([(caches[k], prompt[:32])])
    for i in range(steps):
        for k, e in engines.items():
            t = time.perf_counter()
            e.forward([(caches[k], [100 + i])])
            dec[k].append(time.perf_counter() - t)
    return {
        k: {
            "prefill_tokens": len(prompt),
            "prefill_tok_s": len(prompt) / statistics.median(pre[k]),
            "decode_tok_s": 1 / statistics.median(dec[k]),
        }
        for k in engines
    }


def bench_batched(eng: Engine, batch: int, steps: int) -> float:
    caches = [eng.new_cache() for _ in range(batch)]
    eng.forward([(c, list(range(50, 60 + 3 * i))) for i, c in enumerate(caches)])
    ts = []
    for s in range(steps):
        t = time.perf_counter()
        eng.forward([(c, [200 + s]) for c in caches])
        ts.append(time.perf_counter() - t)
    return batch / statistics.median(ts)


_LLAMA = r"""
import json, sys, time
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_threads=2, n_ctx=1024, verbose=False, seed=0)
prompt = sys.argv[2]
def run(n):
    llm.reset()  # no prompt-cache reuse between runs
    t = time.perf_counter(); llm.create_completion(prompt, max_tokens=n, temperature=0.0); return time.perf_counter() - t
run(1)
t1 = sorted(run(1) for _ in range(3))[1]; t33 = sorted(run(33) for _ in range(3))[1]
ntok = len(llm.tokenize(prompt.encode()))
print(json.dumps({"prefill_tok_s": ntok / t1, "decode_tok_s": 32 / max(t33 - t1, 1e-9), "prefill_tokens": ntok}))
"""


def bench_llama(python: str, model_path: str, prompt: str) -> dict[str, object]:
    try:
        res = subprocess.run(
            [python, "-c", _LLAMA, model_path, prompt], capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 4 agreement prompts")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--backend", default="cpu", choices=BACKENDS)
    ap.add_argument("--llama-python", default=None, help="python interpreter that has llama_cpp installed")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ai.json"))
    args = ap.parse_args()
    reps, steps = (2, 12) if args.quick else (3, 32)
    out: dict[str, object] = {"machine": machine(), "backend": args.backend}
    t = time.perf_counter()
    svc = InferenceService(backend=args.backend)
    out["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ref = FloatReference(svc.model)
    out["reference_load_s"] = time.perf_counter() - t
    prompt = svc.tokenizer.encode(TEXT)[:128]
    res = bench_pair({"exact": svc.engine, "float": _Float(ref)}, prompt, steps, reps)
    ex, fl = res["exact"], res["float"]
    out["exact"], out["float_reference"] = ex, fl
    out["overhead_vs_float"] = {
        "prefill": fl["prefill_tok_s"] / ex["prefill_tok_s"],
        "decode": fl["decode_tok_s"] / ex["decode_tok_s"],
    }
    out["exact_batched_decode_tok_s"] = {
        str(b): bench_batched(svc.engine, b, max(4, steps // 4)) for b in (4, 8)
    }
    if args.llama_python:
        out["llama_cpp"] = bench_llama(args.llama_python, str(svc.model.path), TEXT[:600])
    if not args.no_quality:
        prompts = EVAL_PROMPTS[:4] if args.quick else EVAL_PROMPTS
        out["quality"] = {
            "greedy_agreement_32": greedy_agreement(svc, ref, prompts, 32).as_dict(),
            "perplexity": perplexity(svc, ref, TEXT),
        }
    out["loadavg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    rows = [
        ("prefill tok/s (128-token prompt)", f"{ex['prefill_tok_s']:.1f}", f"{fl['prefill_tok_s']:.1f}"),
        ("decode tok/s (1 stream)", f"{ex['decode_tok_s']:.1f}", f"{fl['decode_tok_s']:.1f}"),
    ]
    for b, v in out["exact_batched_decode_tok_s"].items():  # type: ignore[union-attr]
        rows.append((f"decode tok/s (batch {b}, aggregate)", f"{v:.1f}", "-"))
    print(
        f"machine: {out['machine']['cpu']} x{out['machine']['cpu_count']}, load {out['machine']['loadavg_at_start']}"
        f" -> {out['loadavg_at_end']}, native kernel {out['machine']['native_kernel']}"
    )  # type: ignore[index]
    print(f"{'metric':40s} {'exact':>10s} {'float ref':>10s}")
    for r in rows:
        print(f"{r[0]:40s} {r[1]:>10s} {r[2]:>10s}")
    ov = out["overhead_vs_float"]
    print(f"overhead vs float reference: prefill {ov['prefill']:.2f}x, decode {ov['decode']:.2f}x")  # type: ignore[index]
    if "llama_cpp" in out:
        print("llama.cpp:", out["llama_cpp"])
    if "quality" in out:
        print("quality:", json.dumps(out["quality"]))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
