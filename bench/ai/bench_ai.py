"""Benchmark of the exact engine (eigen-ai-int/1) against llama.cpp and the float32 reference.

    .venv/bin/python bench/ai/bench_ai.py [--quick] [--no-quality] [--no-float] [--backend cpu|gpu]
        [--llama-python /work/llama-venv/bin/python] [--reps 5] [--steps 64] [--threads 1,2]

With ``--llama-python`` (an interpreter with llama-cpp-python): the engine and llama.cpp on the same
GGUF file and the same token ids (104- and 918-token prompts), greedy, ``--steps`` decode steps, 1 and 2
threads; llama.cpp runs in a worker process with a clean environment, and every repetition runs both
sides back to back (interleaved) so that a shared machine's load hits both alike; medians and the
ratios engine/llama.cpp per case. Then (unless ``--no-float``) the exact engine vs the float32
reference of the same weights in one process, and the quality figures (unless ``--no-quality``).
Prints tables and JSON and writes bench/results/ai.json (git-ignored) with the machine description.
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

import numpy as np

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


# The llama.cpp side runs in its own interpreter (a venv with llama-cpp-python, outside the repository)
# as a long-lived worker, so its repetitions interleave with the engine's. It gets an explicit minimal
# environment: nothing this process set or inherited (OMP_WAIT_POLICY=PASSIVE from offchain.native, BLAS
# thread limits, EIGEN_*) reaches it; OMP_WAIT_POLICY=PASSIVE alone slows llama.cpp's decode ~4x.
_LLAMA_WORKER = r"""
import json, sys, time
import numpy as np
from llama_cpp import Llama
models = {}
def model(t):
    if t not in models:
        models[t] = Llama(model_path=sys.argv[1], n_threads=t, n_threads_batch=t, n_ctx=2048, n_batch=2048,
                          verbose=False, seed=0)
    return models[t]
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    llm = model(req["threads"])
    llm.reset()  # n_tokens = 0: eval() drops every cached position (no prompt-cache reuse)
    t0 = time.perf_counter()
    llm.eval(req["tokens"])
    t1 = time.perf_counter()
    out = []
    for _ in range(req["steps"]):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
        tok = int(np.argmax(logits))  # greedy, on the last position's logits
        out.append(tok)
        llm.eval([tok])
    t2 = time.perf_counter()
    print(json.dumps({"prefill_s": t1 - t0, "decode_s": t2 - t1, "tokens": out}), flush=True)
"""

CLEAN_ENV_KEYS = ("PATH", "HOME", "LANG", "TMPDIR")


def clean_env() -> dict[str, str]:
    """The reference's whole environment: PATH, HOME, LANG and TMPDIR, nothing else."""
    return {k: os.environ[k] for k in CLEAN_ENV_KEYS if k in os.environ}


class LlamaWorker:
    """llama-cpp-python in a subprocess with a clean environment, driven one run at a time."""

    def __init__(self, python: str, model_path: str) -> None:
        self.proc = subprocess.Popen(
            [python, "-c", _LLAMA_WORKER, model_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_env(),
            cwd="/",
        )
        self._read()

    def _read(self) -> dict[str, object]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"llama.cpp worker exited with code {self.proc.wait()}")
        return json.loads(line)

    def run(self, threads: int, tokens: list[int], steps: int) -> dict[str, object]:
        req = {"threads": threads, "tokens": tokens, "steps": steps}
        self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=60)


def engine_run(eng: Engine, tokens: list[int], steps: int) -> dict[str, object]:
    """The engine's side of one run: prefill of ``tokens``, then ``steps`` greedy decode steps."""
    cache = eng.new_cache()
    t0 = time.perf_counter()
    logits = eng.forward([(cache, tokens)])[0]
    t1 = time.perf_counter()
    out = []
    for _ in range(steps):
        tok = int(np.argmax(logits[-1]))
        out.append(tok)
        logits = eng.forward([(cache, [tok])])[0]
    t2 = time.perf_counter()
    return {"prefill_s": t1 - t0, "decode_s": t2 - t1, "tokens": out}


def bench_vs_llama(
    eng: Engine,
    worker: LlamaWorker,
    prompts: dict[str, list[int]],
    threads: tuple[int, ...],
    steps: int,
    reps: int,
) -> list[dict[str, object]]:
    """Engine vs llama.cpp on the same token ids: every repetition runs each (threads, prompt) case on
    both sides back to back, so the load of a shared machine hits both alike; medians per case."""
    runs: dict[tuple[int, str, str], list[dict[str, object]]] = {}
    for rep in range(reps):
        for th in threads:
            eng.set_threads(th)
            for name, toks in prompts.items():
                e = engine_run(eng, toks, steps)
                ll = worker.run(th, toks, steps)
                runs.setdefault((th, name, "engine"), []).append(e)
                runs.setdefault((th, name, "llama"), []).append(ll)
                print(
                    f"rep {rep + 1}/{reps} threads {th} prompt {name}: prefill {e['prefill_s']:.2f} s vs"
                    f" {ll['prefill_s']:.2f} s, decode {e['decode_s']:.2f} s vs {ll['decode_s']:.2f} s (load"
                    f" {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                    flush=True,
                )
    rows = []
    for th in threads:
        for name, toks in prompts.items():
            row: dict[str, object] = {
                "threads": th,
                "prompt": name,
                "prompt_tokens": len(toks),
                "steps": steps,
            }
            for side in ("engine", "llama"):
                rs = runs[(th, name, side)]
                row[side] = {
                    "prefill_tok_s": len(toks) / statistics.median(r["prefill_s"] for r in rs),  # type: ignore[misc]
                    "decode_tok_s": steps / statistics.median(r["decode_s"] for r in rs),  # type: ignore[misc]
                    "prefill_s": [r["prefill_s"] for r in rs],
                    "decode_s": [r["decode_s"] for r in rs],
                }
            e, ll = row["engine"], row["llama"]
            row["ratio"] = {
                k: e[k] / ll[k]  # type: ignore[index]
                for k in ("prefill_tok_s", "decode_tok_s")
            }
            a, b = runs[(th, name, "engine")][0]["tokens"], runs[(th, name, "llama")][0]["tokens"]
            row["greedy_common_prefix"] = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a)
            )  # type: ignore[arg-type]
            rows.append(row)
    return rows


def llama_prompts(svc: InferenceService) -> dict[str, list[int]]:
    """The two prompts (token ids): 104 and 918 tokens of the perplexity text, repeated as needed."""
    ids = svc.tokenizer.encode(TEXT)
    long = (ids * (918 // len(ids) + 1))[:918]
    return {"104": ids[:104], "918": long}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 4 agreement prompts")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-float", action="store_true", help="skip the float32 reference and batched decode")
    ap.add_argument("--backend", default="cpu", choices=BACKENDS)
    ap.add_argument("--llama-python", default=None, help="python interpreter that has llama_cpp installed")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions of the llama.cpp comparison")
    ap.add_argument("--steps", type=int, default=64, help="greedy decode steps of the llama.cpp comparison")
    ap.add_argument("--threads", default="1,2", help="thread counts of the llama.cpp comparison")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ai.json"))
    args = ap.parse_args()
    reps, steps = (2, 12) if args.quick else (3, 32)
    out: dict[str, object] = {"machine": machine(), "backend": args.backend}
    t = time.perf_counter()
    svc = InferenceService(backend=args.backend)
    out["load_s"] = time.perf_counter() - t
    rows: list[tuple[str, str, str]] = []
    if args.llama_python:
        worker = LlamaWorker(args.llama_python, str(svc.model.path))
        try:
            threads = tuple(int(x) for x in args.threads.split(","))
            engine_run(svc.engine, [1, 2, 3], 2)  # warm-up (kernel load, first-touch pages)
            worker.run(threads[0], [1, 2, 3], 2)
            out["llama_cpp"] = {
                "python": args.llama_python,
                "env": sorted(clean_env()),
                "reps": args.reps,
                "runs": bench_vs_llama(
                    svc.engine, worker, llama_prompts(svc), threads, args.steps, args.reps
                ),
            }
        finally:
            worker.close()
        svc.engine.set_threads(0)
    if not args.no_float:
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
        rows += [
            ("prefill tok/s (128-token prompt)", f"{ex['prefill_tok_s']:.1f}", f"{fl['prefill_tok_s']:.1f}"),
            ("decode tok/s (1 stream)", f"{ex['decode_tok_s']:.1f}", f"{fl['decode_tok_s']:.1f}"),
        ]
        for b, v in out["exact_batched_decode_tok_s"].items():  # type: ignore[union-attr]
            rows.append((f"decode tok/s (batch {b}, aggregate)", f"{v:.1f}", "-"))
        if not args.no_quality:
            prompts = EVAL_PROMPTS[:4] if args.quick else EVAL_PROMPTS
            out["quality"] = {
                "greedy_agreement_32": greedy_agreement(svc, ref, prompts, 32).as_dict(),
                "perplexity": perplexity(svc, ref, TEXT),
            }
    out["loadavg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))
    m = out["machine"]
    print(
        f"machine: {m['cpu']} x{m['cpu_count']}, load {m['loadavg_at_start']} -> {out['loadavg_at_end']},"  # type: ignore[index]
        f" native kernel {m['native_kernel']}"  # type: ignore[index]
    )
    if "llama_cpp" in out:
        lc = out["llama_cpp"]
        print(f"vs llama.cpp (same GGUF and token ids, greedy, medians of {lc['reps']} interleaved runs):")  # type: ignore[index]
        print(
            f"{'threads':>7s} {'prompt':>6s} | {'prefill tok/s':>13s} {'llama.cpp':>9s} {'ratio':>6s} |"
            f" {'decode tok/s':>12s} {'llama.cpp':>9s} {'ratio':>6s} | same greedy tokens"
        )
        for r in lc["runs"]:  # type: ignore[index]
            e, ll, q = r["engine"], r["llama"], r["ratio"]
            print(
                f"{r['threads']:>7d} {r['prompt']:>6s} | {e['prefill_tok_s']:>13.1f} {ll['prefill_tok_s']:>9.1f}"
                f" {q['prefill_tok_s']:>5.2f}x | {e['decode_tok_s']:>12.1f} {ll['decode_tok_s']:>9.1f}"
                f" {q['decode_tok_s']:>5.2f}x | {r['greedy_common_prefix']}/{r['steps']}"
            )
    if rows:
        print(f"{'metric':40s} {'exact':>10s} {'float ref':>10s}")
        for r in rows:
            print(f"{r[0]:40s} {r[1]:>10s} {r[2]:>10s}")
        ov = out["overhead_vs_float"]
        print(f"overhead vs float reference: prefill {ov['prefill']:.2f}x, decode {ov['decode']:.2f}x")  # type: ignore[index]
    if "quality" in out:
        print("quality:", json.dumps(out["quality"]))
    print("wrote", args.out)
    print(json.dumps({k: out[k] for k in ("llama_cpp",) if k in out}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
