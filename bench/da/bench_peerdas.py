"""PeerDAS mode side by side with ckzg in the same process (ratio = ours / ckzg, single-threaded ckzg).

Usage: ``python bench/da/bench_peerdas.py --backend cpu [--reps 1]``; writes
``bench/results/peerdas-<backend>-<host>.json``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.da.bench_da import machine, sync  # noqa: E402
from offchain.da.peerdas.cells import PARAMS, PeerDAS, load_trusted_setup  # noqa: E402


def med(fn, xp, reps):  # type: ignore[no-untyped-def]
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        sync(xp)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def main() -> int:
    import ckzg

    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--setup", help="trusted_setup.txt (default: the copy inside py-evm)")
    args = ap.parse_args()
    if args.setup:
        path = args.setup
    else:
        import eth

        path = str(Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt")
    ts = ckzg.load_trusted_setup(path, 0)
    pd = PeerDAS(load_trusted_setup(path, args.backend), args.backend)
    xp = pd.xp
    raw = np.random.default_rng(1).integers(0, 256, size=(4096, 32), dtype=np.uint8)
    raw[:, 0] &= 0x1F
    blob = raw.tobytes()
    rows = {}
    t_ref, (cells, proofs) = med(lambda: ckzg.compute_cells_and_kzg_proofs(blob, ts), np, args.reps)
    pd.enc._toeplitz_table(PARAMS)  # precomputed once per setup, like ckzg's tables
    sync(xp)
    t_ours, ours = med(lambda: pd.compute_cells_and_kzg_proofs(blob), xp, args.reps)
    assert ours == (list(cells), list(proofs)), "not byte-identical to ckzg"
    rows["compute_cells_and_kzg_proofs"] = (t_ours, t_ref)
    com = ckzg.blob_to_kzg_commitment(blob, ts)
    t_ref, ok = med(
        lambda: ckzg.verify_cell_kzg_proof_batch([com] * 128, list(range(128)), cells, proofs, ts),
        np,
        args.reps,
    )
    t_ours, ok2 = med(
        lambda: pd.verify_cell_kzg_proof_batch([com] * 128, list(range(128)), list(cells), list(proofs)),
        xp,
        args.reps,
    )
    assert ok and ok2
    rows["verify_cell_kzg_proof_batch(128)"] = (t_ours, t_ref)
    sel = list(range(0, 128, 2))
    t_ref, _ = med(lambda: ckzg.recover_cells_and_kzg_proofs(sel, [cells[i] for i in sel], ts), np, args.reps)
    t_ours, rec = med(lambda: pd.recover_cells_and_kzg_proofs(sel, [cells[i] for i in sel]), xp, args.reps)
    assert rec == (list(cells), list(proofs))
    rows["recover_cells_and_kzg_proofs(64)"] = (t_ours, t_ref)
    result = {
        "machine": machine(args.backend),
        "backend": args.backend,
        "rows": {k: {"ours_s": a, "ckzg_s": b, "ratio": a / b} for k, (a, b) in rows.items()},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"peerdas-{args.backend}-{socket.gethostname()}.json").write_text(json.dumps(result, indent=2))
    print("operation | ours (s) | ckzg (s) | ratio")
    for k, (a, b) in rows.items():
        print(f"{k} | {a:.4g} | {b:.4g} | {a / b:.1f}x")
    print(f"machine: {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
