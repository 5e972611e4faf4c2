"""Where FK20 time goes, stage by stage, on the G1 kernel (CPU or GPU), plus launch-shape variants.

    python bench/da/profile_fk20.py --backend gpu --sizes 128KiB,16MiB [--variants]

Prints one JSON line per measurement (median of --reps runs, synchronised): the Toeplitz scalars,
the Toeplitz row MSMs, the inverse G1 FFT, the sparse-FFT twists and FFTs, the conversion back, and
(with --variants) the row-MSM time for other terms-per-thread and threads-per-block settings and the
throughput of independent scalar multiplications.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.da.bench_da import SIZES, sync  # noqa: E402
from offchain.backend import get_backend  # noqa: E402
from offchain.da.eigenda import fk20  # noqa: E402
from offchain.da.eigenda.encoder import Encoder  # noqa: E402
from offchain.da.eigenda.params import EncodingParams, chunk_cosets  # noqa: E402
from offchain.da.srs import insecure_test_srs  # noqa: E402


def med(fn: Any, xp: Any, reps: int) -> tuple[float, Any]:
    ts, out = [], None
    for _ in range(reps):
        sync(xp)
        t0 = time.perf_counter()
        out = fn()
        sync(xp)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def emit(**kw: Any) -> None:
    print(json.dumps(kw), flush=True)


def profile(label: str, backend: str, reps: int, variants: bool) -> None:
    n = SIZES[label]
    xp = get_backend(backend)
    enc = Encoder(insecure_test_srs(n, xp=xp, with_g2=False), backend)
    raw = np.random.default_rng(1).integers(0, 256, size=(n, 32), dtype=np.uint8)
    raw[:, 0] = 0
    coeffs = enc.c.fr.from_bytes(raw)
    params = EncodingParams(n)
    fk = enc.kernel()
    K = fk.K
    m, M = params.rows, params.num_chunks
    t, Y = med(lambda: fk.toeplitz_table(params), xp, 1)
    emit(size=label, stage="table (first call, cached after)", s=t)
    t, Cf = med(lambda: fk20.toeplitz_scalars(enc.c.fr, enc.suite, coeffs, params), xp, reps)
    emit(size=label, stage="toeplitz scalars (Fr NTT)", s=t)
    t, sc = med(lambda: K.scalars_from_fr(Cf), xp, reps)
    emit(size=label, stage="scalars to kernel form", s=t)
    t, tab = med(lambda: fk.toeplitz_rows(params), xp, 1)
    emit(size=label, stage="row tables: odd multiples of the table (first call, cached after)", s=t)
    t, U = med(lambda: K.rows_msm_precomputed(tab, sc), xp, reps)
    emit(
        size=label, stage=f"toeplitz row MSMs, precomputed bases ({2 * m} rows x {params.chunk_length})", s=t
    )
    t, U0 = med(lambda: K.rows_msm(Y, sc), xp, reps)
    same = bool(xp.array_equal(K.normalized(U0), K.normalized(U)))
    emit(
        size=label,
        stage=f"toeplitz row MSMs, tables per call ({2 * m} rows x {params.chunk_length})",
        s=t,
        same=same,
    )
    t, conv = med(lambda: K.fft(U[:, None], fk.roots(2 * m, inverse=True)), xp, reps)
    emit(size=label, stage=f"inverse G1 FFT size {2 * m}", s=t)
    H = fk.h_vector(coeffs, params)
    t, P = med(lambda: fk.sparse_fft(H, M), xp, reps)
    emit(size=label, stage=f"sparse G1 FFT ({m} -> {M})", s=t)
    order = chunk_cosets(np.arange(M), M)
    t, _ = med(lambda: K.to_group(P[fk.kx.asarray(order)]), xp, reps)
    emit(size=label, stage="back to array form", s=t)
    t, _ = med(lambda: enc.proofs(coeffs, params), xp, reps)
    emit(size=label, stage="proofs total", s=t)
    if not variants:
        return
    import offchain.crypto.g1_gpu as G

    base = (G.ROW_CHUNK, G.THREADS)
    for chunk in (4, 8, 16, 32, 64):
        for threads in (64, 128):  # at most the THREADS the module was compiled for (launch bounds)
            G.ROW_CHUNK, G.THREADS = chunk, threads
            try:
                t, U2 = med(lambda: K.rows_msm_precomputed(tab, sc), xp, reps)
                same = bool(xp.array_equal(K.normalized(U2), K.normalized(U)))
                emit(
                    size=label,
                    variant="rows_msm_precomputed",
                    row_chunk=chunk,
                    threads=threads,
                    s=t,
                    same=same,
                )
            except Exception as exc:  # noqa: BLE001 - a variant that does not fit is reported, not fatal
                emit(
                    size=label,
                    variant="rows_msm_precomputed",
                    row_chunk=chunk,
                    threads=threads,
                    error=str(exc)[:200],
                )
    G.ROW_CHUNK, G.THREADS = base
    pts = Y.reshape(-1, 3, K.nl)
    for cnt in (4096, 65536, min(1 << 20, pts.shape[0])):
        s = sc.reshape(-1, 4)[:cnt]
        t, _ = med(lambda cnt=cnt, s=s: K.scalar_mul(pts[:cnt], s), xp, reps)
        emit(size=label, variant="independent scalar_mul", count=cnt, s=t, us_per_mult=1e6 * t / cnt)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="gpu", choices=["cpu", "gpu"])
    ap.add_argument("--sizes", default="128KiB")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", action="store_true")
    a = ap.parse_args()
    for label in a.sizes.split(","):
        profile(label, a.backend, a.reps, a.variants)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
