"""EigenTrust in exact fixed point: the task's C kernel and the Python reference on the same graphs.

Run: ``PYTHONPATH=. .venv/bin/python bench/compute/bench_eigentrust.py [--sizes 100,1000,10000]
[--degree 10] [--iterations 50]``. Random graphs (seeded) of N peers with ``degree`` out-edges each,
N/10 pre-trusted, ``epsilon`` 0 and a fixed iteration cap (so every run does the same work). Per size:
the kernel's wall time (the static binary run directly, medians of 3; the sandbox adds its start,
bench/compute/bench_sandbox.py), the reference's (one run: it is the verifier's, not the executor's),
the input size, and a check that both printed the same 160 bytes. Writes
bench/results/eigentrust.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.bls.bench_bls import write_results  # noqa: E402
from offchain import native  # noqa: E402
from offchain.compute.eigentrust import KERNEL, WAD, TrustGraph, run  # noqa: E402
from offchain.compute.imagebuild import KERNEL_FLAGS  # noqa: E402


def random_graph(n: int, degree: int, iterations: int, seed: int = 7) -> TrustGraph:
    rng = random.Random(seed)
    peers = sorted({rng.randbytes(20) for _ in range(n)})
    n = len(peers)
    edges = set()
    for i in range(n):
        for j in rng.sample(range(n - 1), min(degree, n - 1)):
            edges.add((i, j if j < i else j + 1))  # any peer but i
    return TrustGraph(
        0,
        WAD // 5,
        0,
        iterations,
        tuple(peers),
        tuple((i, rng.randint(1, 9)) for i in range(0, n, 10)),
        tuple(sorted((i, j, rng.randint(1, 1000)) for i, j in edges)),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--degree", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=50)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "eigentrust"
        subprocess.run([native.compiler(), *KERNEL_FLAGS, "-o", str(binary), str(KERNEL)], check=True)
        for n in (int(x) for x in args.sizes.split(",")):
            g = random_graph(n, args.degree, args.iterations)
            data = g.encode()
            times, out = [], b""
            for _ in range(3):
                t0 = time.perf_counter()
                out = subprocess.run([str(binary)], input=data, capture_output=True, check=True).stdout
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = run(data)
            t_ref = time.perf_counter() - t0
            rows.append(
                {
                    "peers": len(g.peers),
                    "edges": len(g.edges),
                    "iterations": args.iterations,
                    "input_bytes": len(data),
                    "kernel_s": round(statistics.median(times), 4),
                    "reference_s": round(t_ref, 3),
                    "identical": out == ref,
                }
            )
            r = rows[-1]
            print(
                f"{r['peers']:>7} peers {r['edges']:>8} edges {r['input_bytes']:>10} B: kernel "
                f"{r['kernel_s'] * 1000:9.1f} ms, reference {r['reference_s']:8.2f} s, identical {r['identical']}"
            )
    write_results("eigentrust.json", {"degree": args.degree, "rows": rows})
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
