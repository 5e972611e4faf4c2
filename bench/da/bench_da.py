"""Benchmark of EigenDA encoding on CPU (numpy) or GPU (cupy): frames, commitments, verification, recovery.

Usage: ``python bench/da/bench_da.py --backend cpu --sizes 128KiB [--reps 1]``. Commitments and FK20 use the
G1 kernel (C on CPU, CUDA on GPU) unless ``EIGEN_NATIVE=0``; ``OMP_NUM_THREADS`` sets the CPU threads. Prints a table and writes
``bench/results/da-<backend>-<host>.json`` with the machine recorded. Sizes beyond the 3,000-point real SRS
prefix use the INSECURE test SRS (timings do not depend on the secret). Fixed seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain import native  # noqa: E402
from offchain.backend import get_backend  # noqa: E402
from offchain.crypto import bn254 as B  # noqa: E402
from offchain.da.eigenda.encoder import Encoder  # noqa: E402
from offchain.da.eigenda.params import NUM_CHUNKS, EncodingParams, Sample  # noqa: E402
from offchain.da.srs import insecure_test_srs  # noqa: E402

SIZES = {"128KiB": 4096, "1MiB": 32768, "16MiB": 1 << 19, "64KiB": 2048, "4KiB": 128, "64B": 2}


def machine(backend: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "native_g1_kernel": native.enabled(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if backend == "gpu":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cupy"] = cupy.__version__
    return info


def sync(xp: Any) -> None:
    if xp is not np:
        xp.cuda.Stream.null.synchronize()


def timed(fn: Any, xp: Any, reps: int, what: str = "") -> tuple[float, Any]:
    times = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        sync(xp)
        times.append(time.perf_counter() - t0)
    if what:
        print(f"[bench]   {what}: {statistics.median(times):.4f} s", file=sys.stderr, flush=True)
    return statistics.median(times), out


def bench_size(
    label: str, n: int, backend: str, reps: int, batch: int, length_proof: bool = False
) -> dict[str, Any]:
    xp = get_backend(backend)
    t0 = time.perf_counter()
    srs = insecure_test_srs(n, xp=xp, with_g2=length_proof)
    sync(xp)
    t_srs = time.perf_counter() - t0
    enc = Encoder(srs, backend)
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    raw[:, 0] = 0
    p = enc.c.fr.from_bytes(raw)
    params = EncodingParams(n)
    row: dict[str, Any] = {
        "size": label,
        "symbols": n,
        "chunk_length": params.chunk_length,
        "srs_setup_s": t_srs,
    }
    row["commit_s"], C = timed(lambda: enc.commit(p), xp, reps, "commit")
    if (
        length_proof
    ):  # EigenDA's BlobCommitment also has LC and LP: two G2 MSMs of n points (native G2 kernel, CPU)
        row["length_commit_proof_s"], _ = timed(
            lambda: (enc.length_commitment(p), enc.length_proof(p)), xp, reps, "length commitment + proof"
        )
    row["chunks_s"], coeffs = timed(lambda: enc.chunk_coeffs(p, params), xp, reps, "chunks")
    t0 = time.perf_counter()
    enc._toeplitz_table(params)
    sync(xp)
    row["fk20_table_s"] = time.perf_counter() - t0
    print(
        f"[bench]   srs setup {t_srs:.3f} s; fk20 table {row['fk20_table_s']:.3f} s",
        file=sys.stderr,
        flush=True,
    )
    row["proofs_s"], proofs = timed(lambda: enc.proofs(p, params), xp, reps, "proofs (table cached)")
    row["frames_s"] = row["chunks_s"] + row["proofs_s"]
    idx = rng.choice(NUM_CHUNKS, batch, replace=False)
    s = Sample(
        np.zeros(batch, np.int64),
        idx,
        enc.c.fr.take(coeffs, xp.asarray(idx)),
        enc.c.g1.take(proofs, xp.asarray(idx)),
    )
    row["verify_batch_s"], ok = timed(lambda: enc.verify_batch(C, s), xp, reps, f"verify batch of {batch}")
    assert ok, "batch verification failed"
    row["verify_batch_size"] = batch
    row["verify_per_chunk_in_batch_s"] = row["verify_batch_s"] / batch
    one = enc.sub_sample(s, np.array([0]))
    row["verify_single_s"], ok = timed(lambda: enc.verify_batch(C, one), xp, reps, "verify single")
    assert ok
    sel = rng.choice(NUM_CHUNKS, NUM_CHUNKS // 8, replace=False)
    sub = enc.c.fr.take(coeffs, xp.asarray(sel))
    row["recover_s"], rec = timed(lambda: enc.recover_coeffs(params, sel, sub), xp, reps, "recover from 1/8")
    assert enc.coeffs_to_blob(rec) == enc.coeffs_to_blob(p), "recovery mismatch"
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--sizes", default="128KiB")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64, help="chunks per verification batch")
    ap.add_argument(
        "--length-proof",
        action="store_true",
        help="also time the length commitment and proof (G2 powers in the test SRS: slower setup)",
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    rows = []
    for label in args.sizes.split(","):
        n = SIZES[label]
        print(f"[bench] {label} ({n} symbols) on {args.backend} ...", file=sys.stderr, flush=True)
        rows.append(bench_size(label, n, args.backend, args.reps, args.batch, args.length_proof))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {
        "machine": machine(args.backend),
        "backend": args.backend,
        "reps": args.reps,
        "rows": rows,
        "targets": {"cpu_128KiB_frames_s": 8.0, "gpu_16MiB_frames_s": 1.26, "gpu_16MiB_proofs_s": 0.27},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"da-{args.backend}-{socket.gethostname()}.json"
    path.write_text(json.dumps(result, indent=2))
    cols = [
        "size",
        "commit_s",
        "chunks_s",
        "fk20_table_s",
        "proofs_s",
        "frames_s",
        "verify_single_s",
        "verify_per_chunk_in_batch_s",
        "recover_s",
    ] + (["length_commit_proof_s"] if args.length_proof else [])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    print(f"machine: {result['machine']}")
    print(f"wrote {path}")
    _ = B
    return 0


if __name__ == "__main__":
    sys.exit(main())
