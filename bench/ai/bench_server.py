"""Throughput of `eigen ai serve` under 1, 4 and 16 concurrent clients (continuous batching).

    .venv/bin/python bench/ai/bench_server.py [--tiny] [--clients 1,4,16] [--requests 4] [--max-tokens 64]
                                              [--repeats 3] [--out bench/results/ai_server.json]

Starts the server as its own process (`python -m offchain.cli ai serve`, the real uvicorn server on a
free port; SmolLM2 unless --tiny), then for each concurrency level C runs C clients, each sending
``--requests`` chat completions one after another (distinct prompts, fixed seeds, temperature 0.8,
``--max-tokens`` each, non-streaming). Reported per level: completion tokens per second of wall time
(median of ``--repeats`` runs), median request latency, and the server's peak batch. Prints a table
and writes JSON (machine description included). Every completion's receipt is checked to be the same
across concurrency levels, so the figures are for bit-identical work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain import settings  # noqa: E402

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "Name three prime numbers.",
    "What does a compiler do?",
    "Give me a synonym for happy.",
    "How many legs does a spider have?",
    "Translate 'good morning' to Spanish.",
]


def start_server(tiny: bool) -> tuple[subprocess.Popen[bytes], str, float]:
    cmd = [sys.executable, "-m", "offchain.cli", "ai", "serve", "--port", "0"]
    if tiny:
        cmd += ["--tiny", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), settings.AI_MAX_QUEUE.name: "256"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    m = re.search(r"(http://[^/]+)/v1/chat/completions", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    url = m.group(1)
    while True:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url, time.perf_counter() - t0


async def run_level(url: str, model: str, clients: int, requests: int, max_tokens: int) -> dict[str, object]:
    lat: list[float] = []
    toks = 0
    digests: dict[tuple[int, int], str] = {}

    async def client(ci: int, http: httpx.AsyncClient) -> None:
        nonlocal toks
        for ri in range(requests):
            k = ci * requests + ri
            body = {
                "model": model,
                "messages": [{"role": "user", "content": PROMPTS[k % len(PROMPTS)]}],
                "seed": k % 8,
                "temperature": 0.8,
                "max_tokens": max_tokens,
            }
            t = time.perf_counter()
            r = await http.post("/v1/chat/completions", json=body)
            lat.append(time.perf_counter() - t)
            r.raise_for_status()
            toks += r.json()["usage"]["completion_tokens"]
            digests[(k % len(PROMPTS), k % 8)] = r.headers["x-eigen-receipt-digest"]

    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=3600, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        wall = time.perf_counter() - t0
        peak = (await http.get("/health")).json()["peak_batch"]
    return {
        "tok_s": toks / wall,
        "completion_tokens": toks,
        "wall_s": wall,
        "latency_median_s": statistics.median(lat),
        "peak_batch": peak,
        "digests": digests,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the seeded tiny model instead of SmolLM2")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=4, help="requests per client per run")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    proc, url, startup = start_server(args.tiny)
    try:
        model = httpx.get(url + "/v1/models").json()["data"][0]["id"]
        out: dict[str, object] = {
            "model": model,
            "startup_s": startup,
            "max_tokens": args.max_tokens,
            "requests_per_client": args.requests,
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "loadavg_at_start": os.getloadavg(),
                "ai_threads": settings.ai_threads(),
            },
            "levels": {},
        }
        # warm-up (first forward passes, allocations)
        asyncio.run(run_level(url, model, 1, 1, 4))
        seen: dict[tuple[int, int], str] = {}
        print(f"model {model}, server start {startup:.1f} s, {args.max_tokens} tokens per request")
        print(f"{'clients':>8} {'tok/s (median)':>15} {'runs':>24} {'latency p50 s':>14} {'peak batch':>11}")
        for c in levels:
            runs = [
                asyncio.run(run_level(url, model, c, args.requests, args.max_tokens))
                for _ in range(args.repeats)
            ]
            for r in runs:
                for k, d in r.pop("digests").items():  # type: ignore[union-attr]
                    assert seen.setdefault(k, d) == d, "a receipt changed with the concurrency level"
            tps = [float(r["tok_s"]) for r in runs]  # type: ignore[arg-type]
            level = {
                "tok_s_median": statistics.median(tps),
                "tok_s_runs": tps,
                "latency_median_s": statistics.median(float(r["latency_median_s"]) for r in runs),  # type: ignore[arg-type]
                "peak_batch": max(int(r["peak_batch"]) for r in runs),  # type: ignore[call-overload]
            }
            out["levels"][str(c)] = level  # type: ignore[index]
            runs_s = ",".join(f"{t:.1f}" for t in tps)
            print(
                f"{c:>8} {level['tok_s_median']:>15.1f} {runs_s:>24} {level['latency_median_s']:>14.2f} "
                f"{level['peak_batch']:>11}"
            )
        dest = (
            Path(args.out)
            if args.out
            else ROOT / "bench" / "results" / f"ai_server{'_tiny' if args.tiny else ''}.json"
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(out, indent=2, default=str))
        print(
            json.dumps(
                {"model": model, "tok_s_median": {k: v["tok_s_median"] for k, v in out["levels"].items()}}
            )
        )  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
