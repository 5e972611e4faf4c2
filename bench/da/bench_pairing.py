"""Benchmark of the 2-pairing product check that KZG verification runs (e(A, B) e(C, D) == 1): the native
kernel (offchain/crypto/kernels/pairing_native.c) against py_ecc, both curves, in the same process.

Usage: ``python bench/da/bench_pairing.py [--reps 21] [--pyecc-reps 3]``. Rows per curve:
- ``native_s``: the kernel on affine words (``PairingKernel.check``), the pairing alone;
- ``native_points_s``: ``pairing_check`` as the DA code calls it (array-code projective points ->
  canonical words -> the kernel's projective entry), i.e. the pairing plus the conversion;
- ``pyecc_s``: ``pairing_check_py_ecc`` on the same points (the ``EIGEN_NATIVE=0`` path).
Medians; one thread. Prints a table and writes ``bench/results/pairing-<host>.json`` with the machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.da.bench_da import machine  # noqa: E402
from offchain import native  # noqa: E402
from offchain.crypto import bls12_381 as BL  # noqa: E402
from offchain.crypto import bn254 as BN  # noqa: E402
from offchain.crypto import pairing_native as PN  # noqa: E402


def median_time(fn: Any, reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def pairs_for(mod: Any, name: str) -> list[tuple[Any, Any]]:
    """[(aG1, G2), (-G1, aG2)] as array-code single points (projective, Z != 1): a true product."""
    G = getattr(mod, name)(np)
    a = 0x1234567890ABCDEF1234567890ABCDEF
    sc = np.frombuffer(a.to_bytes(32, "big"), np.uint8).reshape(1, 32)
    aP = G.g1.scalar_mul(G.g1.generator, sc)
    aQ = G.g2.scalar_mul(G.g2.generator, sc)
    return [(aP[..., 0], G.g2.generator[..., 0]), (G.g1.neg(G.g1.generator)[..., 0], aQ[..., 0])]


def bench_curve(name: str, mod: Any, reps: int, pyecc_reps: int) -> dict[str, Any]:
    pairs = pairs_for(mod, name)
    G = getattr(mod, name)(np)
    ints = []
    for P, Q in pairs:
        x1, y1, _ = G.g1.to_affine(P[..., None])
        x2, y2, _ = G.g2.to_affine(Q[..., None])
        ints.append(
            ((G.fp.to_ints(x1)[0], G.fp.to_ints(y1)[0]), (G.fp2.to_pairs(x2)[0], G.fp2.to_pairs(y2)[0]))
        )
    g1, g2 = PN.affine_words(name, ints)
    K = PN.kernel(name)
    K.check(g1, g2)  # build/load outside the timing
    row: dict[str, Any] = {"curve": name, "pairs": len(pairs)}
    row["native_s"], ok1 = median_time(lambda: K.check(g1, g2), reps)
    row["native_points_s"], ok2 = median_time(lambda: PN.check_points(name, pairs), reps)
    row["pyecc_s"], ok3 = median_time(lambda: mod.pairing_check_py_ecc(pairs), pyecc_reps)
    assert ok1 and ok2 and ok3, "the benchmark product must be one on every path"
    row["speedup"] = row["pyecc_s"] / row["native_s"]
    row["speedup_points"] = row["pyecc_s"] / row["native_points_s"]
    print(
        f"[bench] {name}: native {row['native_s'] * 1e3:.3f} ms, native from points "
        f"{row['native_points_s'] * 1e3:.3f} ms, py_ecc {row['pyecc_s'] * 1e3:.1f} ms",
        file=sys.stderr,
        flush=True,
    )
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--pyecc-reps", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    if not native.enabled():
        print(
            "native kernels are disabled (EIGEN_NATIVE=0 or no C compiler): nothing to compare",
            file=sys.stderr,
        )
        return 1
    rows = [
        bench_curve(name, mod, args.reps, args.pyecc_reps) for name, mod in (("bn254", BN), ("bls12_381", BL))
    ]
    result = {
        "machine": machine("cpu"),
        "reps": args.reps,
        "pyecc_reps": args.pyecc_reps,
        "rows": rows,
        "targets": {"bn254_native_2pairing_s": 0.005},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"pairing-{socket.gethostname()}.json"
    path.write_text(json.dumps(result, indent=2))
    print("curve | 2-pairing native (ms) | from array points (ms) | py_ecc (ms) | speedup")
    for r in rows:
        print(
            f"{r['curve']} | {r['native_s'] * 1e3:.3f} | {r['native_points_s'] * 1e3:.3f} | {r['pyecc_s'] * 1e3:.1f} | "
            f"{r['speedup']:.0f}x"
        )
    print(f"machine: {result['machine']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
