"""Attestation verification throughput: TDX quotes and Nitro documents per second, and dcap-qvl
(Rust, PyPI) on the same TDX quote as the reference.

Run: ``.venv/bin/python bench/attest/bench_attest.py [--seconds S] [--repeats R]``. Prints a table
and writes ``bench/results/attest.json``. Uses the shared real vectors when ../shared/vectors is
present, else the seeded test CA (fixed seed, so the same bytes every run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from offchain.compute.nitro import verify_nitro
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy, parse_time
from offchain.compute.tdx import TdxCollateral, verify_tdx
from offchain.compute.testca import NitroSpec, NitroTestCA, TdxSpec, TdxTestCA

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT.parent / "shared" / "vectors" / "tee"


def _once(fn: Callable[[], object], seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def rates(fns: list[Callable[[], object]], seconds: float, repeats: int) -> list[list[float]]:
    """Verifications/s of each function, ``repeats`` rounds, interleaved so that machine noise
    affects every function of a round alike (ratios are taken per round)."""
    for fn in fns:
        fn()  # warm up
    return [[_once(fn, seconds) for fn in fns] for _ in range(repeats)]


def cases() -> list[dict]:
    out = []
    if (VECTORS / "tdx" / "dcapqvl_tdx_quote.bin").exists():
        q = (VECTORS / "tdx" / "dcapqvl_tdx_quote.bin").read_bytes()
        col_text = (VECTORS / "tdx" / "dcapqvl_tdx_quote.collateral.json").read_text()
        out.append(
            {
                "name": "tdx dcapqvl_tdx_quote (real)",
                "kind": "tdx",
                "quote": q,
                "col": TdxCollateral.from_json(col_text),
                "col_text": col_text,
                "at": parse_time("2025-07-01T00:00:00Z"),
                "trust": None,
                "policy": None,
                "root_der": None,
            }
        )
        doc = (VECTORS / "nitro" / "oyster_aws.cose").read_bytes()
        out.append(
            {
                "name": "nitro oyster_aws (real)",
                "kind": "nitro",
                "doc": doc,
                "at": datetime(2024, 12, 13, 7, 37, 58, 960000, tzinfo=UTC),
                "trust": None,
                "policy": None,
            }
        )
    ca = TdxTestCA(seed=b"bench")
    q, col = ca.evidence()
    out.append(
        {
            "name": "tdx test CA v4",
            "kind": "tdx",
            "quote": q,
            "col": col,
            "col_text": json.dumps(col.parts),
            "at": TdxSpec().at,
            "trust": TrustStore.default().with_roots([ca.root]),
            "policy": Policy(trusted_roots=(ca.root_fingerprint,)),
            "root_der": ca.root.public_bytes(Encoding.DER),
        }
    )
    n = NitroTestCA(seed=b"bench")
    out.append(
        {
            "name": "nitro test CA",
            "kind": "nitro",
            "doc": n.document(),
            "at": NitroSpec().timestamp,
            "trust": TrustStore.default().with_roots([n.root]),
            "policy": Policy(trusted_roots=(n.root_fingerprint,)),
        }
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    try:
        import dcap_qvl
    except ImportError:  # pragma: no cover - optional reference
        dcap_qvl = None
    rows = []
    for c in cases():
        if c["kind"] == "tdx":

            def ours(c=c):
                v = verify_tdx(c["quote"], c["col"], at=c["at"], policy=c["policy"], trust=c["trust"])
                assert v.accepted

            ref = None
            if dcap_qvl is not None:
                qcol = dcap_qvl.QuoteCollateralV3.from_json(c["col_text"])
                ts = int(c["at"].timestamp())
                if c["root_der"] is None:
                    ref = lambda c=c, qcol=qcol, ts=ts: dcap_qvl.verify(c["quote"], qcol, ts)  # noqa: E731
                else:
                    ref = lambda c=c, qcol=qcol, ts=ts: dcap_qvl.verify_with_root_ca(  # noqa: E731
                        c["quote"], qcol, c["root_der"], ts
                    )
        else:

            def ours(c=c):
                v = verify_nitro(c["doc"], at=c["at"], policy=c["policy"], trust=c["trust"])
                assert v.accepted

            ref = None
        runs = rates([ours] + ([ref] if ref is not None else []), args.seconds, args.repeats)
        med = statistics.median(r[0] for r in runs)
        row = {
            "case": c["name"],
            "ours_per_s": round(med, 1),
            "ours_runs": [round(r[0], 1) for r in runs],
            "ours_ms": round(1000 / med, 3),
        }
        if ref is not None:
            row.update(
                dcapqvl_per_s=round(statistics.median(r[1] for r in runs), 1),
                dcapqvl_runs=[round(r[1], 1) for r in runs],
                ratio_ours_over_dcapqvl=round(statistics.median(r[0] / r[1] for r in runs), 3),
            )
        rows.append(row)
    machine = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu(),
        "cores": os.cpu_count(),
    }
    print(
        f"machine: {machine['cpu']} ({machine['cores']} cores), {machine['platform']}, Python {machine['python']}"
    )
    print(f"{'case':34} {'ours/s':>10} {'ms':>8} {'dcap-qvl/s':>11} {'ours/dcap':>10}")
    for r in rows:
        print(
            f"{r['case']:34} {r['ours_per_s']:>10} {r['ours_ms']:>8} {r.get('dcapqvl_per_s', '-'):>11} {r.get('ratio_ours_over_dcapqvl', '-'):>10}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "attest.json").write_text(
        json.dumps(
            {"machine": machine, "seconds": args.seconds, "repeats": args.repeats, "rows": rows}, indent=2
        )
        + "\n"
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
