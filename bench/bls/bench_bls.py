"""Off-chain BN254 BLS rates: sign, aggregate and verify (the γ-combined check) on the project's kernels
(offchain.bls, native C kernels), beside py_ecc doing the same work.

Run: `.venv/bin/python bench/bls/bench_bls.py [--reps N]`. Prints medians (with min and max) over the
repetitions and writes bench/results/bls.json. Each figure is operations per second of one call:
sign = sk * hashToG1(m); aggregate = sum of 100 G1 signatures (and of 100 G2 keys); verify = the
γ-combined pairing check of one aggregate (two pairings with one final exponentiation, as
BLSSignatureChecker does); hashToG1 is shared (pure Python) and included in sign and verify.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eth_hash.auto import keccak  # noqa: E402
from py_ecc import optimized_bn128 as O  # noqa: E402
from py_ecc.fields import optimized_bn128_FQ12 as FQ12  # noqa: E402

from offchain.bls import group, keys  # noqa: E402
from offchain.crypto.bn254 import hash_to_g1  # noqa: E402

N_AGG = 100


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def py_verify(m, apk, apk_g2, sigma) -> bool:
    g = keys.signature_gamma(m, apk, apk_g2, sigma)
    h = hash_to_g1(m)
    left = O.add(group._py_g1(sigma), O.multiply(group._py_g1(apk), g))
    right = O.add(group._py_g1(h), O.multiply(O.G1, g))
    acc = O.pairing(group._py_g2(group.g2_neg(group.G2_GEN)), left, final_exponentiate=False)
    acc = acc * O.pairing(group._py_g2(apk_g2), right, final_exponentiate=False)
    return O.final_exponentiate(acc) == FQ12.one()


def write_results(name: str, payload: dict) -> Path:
    """bench/results/<name>: the time, the machine and ``payload`` as JSON (the BLS benches share it)."""
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    head = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    out.write_text(json.dumps({**head, **payload}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    reps = a.reps
    m = keccak(b"bench message")
    sks = [
        keys.SecretKey(int.from_bytes(keccak(b"k%d" % i), "big") % (group.R - 1) + 1) for i in range(N_AGG)
    ]
    pks = [k.public_key() for k in sks]
    sigs = [k.sign(m) for k in sks]
    agg = keys.aggregate_keys(pks)
    sigma = keys.aggregate_signatures(sigs)
    assert keys.verify(m, agg.g1, agg.g2, sigma) and py_verify(m, agg.g1, agg.g2, sigma)
    sk0 = sks[0]
    py_sigs = [group._py_g1(s) for s in sigs]
    py_pk2 = [group._py_g2(p.g2) for p in pks]

    def py_sign():
        return O.multiply(group._py_g1(hash_to_g1(m)), sk0._sk)  # the same 254-bit scalar

    def py_aggregate():
        acc1, acc2 = O.Z1, O.Z2
        for s, q in zip(py_sigs, py_pk2, strict=True):
            acc1, acc2 = O.add(acc1, s), O.add(acc2, q)
        return acc1, acc2

    cases = {
        "sign": (lambda: sk0.sign(m), py_sign, 1),
        f"aggregate {N_AGG} signatures + {N_AGG} G2 keys": (
            lambda: (keys.aggregate_signatures(sigs), group.g2_sum([p.g2 for p in pks])),
            py_aggregate,
            1,
        ),
        "verify (γ-combined, aggregate)": (
            lambda: keys.verify(m, agg.g1, agg.g2, sigma),
            lambda: py_verify(m, agg.g1, agg.g2, sigma),
            1,
        ),
        "hashToG1 (shared)": (lambda: hash_to_g1(m), lambda: hash_to_g1(m), 1),
    }
    rows = []
    for name, (ours, theirs, _) in cases.items():
        ours()  # warm (kernel load)
        t_o = timed(ours, reps)
        t_p = timed(theirs, max(3, reps // 2))
        mo, mp = statistics.median(t_o), statistics.median(t_p)
        rows.append(
            {
                "operation": name,
                "ours_per_s": round(1 / mo, 1),
                "ours_median_ms": round(mo * 1e3, 3),
                "ours_min_ms": round(min(t_o) * 1e3, 3),
                "ours_max_ms": round(max(t_o) * 1e3, 3),
                "py_ecc_per_s": round(1 / mp, 2),
                "py_ecc_median_ms": round(mp * 1e3, 3),
                "speedup_vs_py_ecc": round(mp / mo, 1),
                "reps": len(t_o),
            }
        )
    print(f"{'operation':48} {'ours/s':>10} {'py_ecc/s':>10} {'x':>8}")
    for r in rows:
        print(
            f"{r['operation']:48} {r['ours_per_s']:>10,} {r['py_ecc_per_s']:>10,} {r['speedup_vs_py_ecc']:>8}"
        )
    write_results("bls.json", {"results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
