"""Sandbox start overhead per task: the same program run directly and under the bubblewrap sandbox.

Run: ``PYTHONPATH=. .venv/bin/python bench/compute/bench_sandbox.py [--runs N] [--out FILE]``. Prints a
table and writes ``bench/results/compute_sandbox.json``.

Cases (each image built with ``eigen compute image build`` and unpacked once):

- ``static``: a static C binary that copies stdin to stdout (when a C compiler can link statically);
- ``sh``: a ``#!/bin/sh`` script (the interpreter layer's dash) that reads a line and prints it.

For each case and run, interleaved: ``direct`` runs the rootfs's program on the host
(``subprocess.run``, no namespaces, no limits: the floor), ``sandbox`` runs it with
:func:`offchain.compute.sandbox.run_sandboxed` (namespaces, read-only root, limits), and ``task`` is
the whole executor step (:func:`offchain.compute.executor.execute_task`: open and verify the image,
unpack it, run it, sign the receipt with the development TEE). Medians over the runs, the ratio
sandbox/direct and the overhead sandbox - direct in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.image import open_image
from offchain.compute.imagebuild import build_image
from offchain.compute.sandbox import Limits, run_sandboxed
from offchain.compute.testca import NitroTestCA
from offchain.compute.unpack import unpack_image

ROOT = Path(__file__).resolve().parents[2]
COPY_C = "#include <stdio.h>\nint main(void){int c; while((c=getchar())!=EOF) putchar(c); return 0;}\n"
INPUT = b"hello sandbox\n"


def _static_copy(work: Path) -> Path | None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    (work / "copy.c").write_text(COPY_C)
    src = work / "static"
    src.mkdir()
    proc = subprocess.run(
        [cc, "-static", "-O2", "-o", str(src / "copy"), str(work / "copy.c")], capture_output=True
    )
    return src if proc.returncode == 0 else None


def _script(work: Path) -> Path:
    src = work / "sh"
    src.mkdir()
    (src / "run.sh").write_text('#!/bin/sh\nread x; echo "$x"\n')
    (src / "run.sh").chmod(0o755)
    return src


def _timed(fn: Callable[[], bytes]) -> float:
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    if out != INPUT:
        raise SystemExit(f"wrong output {out!r}")
    return dt


def bench_case(name: str, src: Path, work: Path, runs: int, ca: NitroTestCA) -> dict:
    built = build_image(src, work / f"{name}.img")
    rootfs = work / f"{name}.rootfs"
    with open_image(built.out, built.digest) as img:
        unpack_image(img, rootfs)
        argv = img.config.argv
    host_argv = (
        [str(rootfs / argv[0].lstrip("/"))] if name == "static" else ["/bin/sh", str(rootfs / "app/run.sh")]
    )
    limits = Limits()
    fns = {
        "direct": lambda: subprocess.run(host_argv, input=INPUT, capture_output=True, check=True).stdout,
        "sandbox": lambda: run_sandboxed(rootfs, argv, stdin=INPUT, cwd="/app", limits=limits).output,
        "task": lambda: execute_task(
            built.out, built.digest, INPUT, enclave=dev_enclave(ca), workdir=work
        ).output,
    }
    for fn in fns.values():
        _timed(fn)  # warm up (page cache, imports)
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            samples[k].append(_timed(fn))
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "case": name,
        "image": built.digest,
        "runs": runs,
        "direct_ms": round(med["direct"] * 1000, 3),
        "sandbox_ms": round(med["sandbox"] * 1000, 3),
        "task_ms": round(med["task"] * 1000, 3),
        "ratio_sandbox_over_direct": round(med["sandbox"] / med["direct"], 2),
        "overhead_ms": round((med["sandbox"] - med["direct"]) * 1000, 3),
        "p90_sandbox_ms": round(sorted(samples["sandbox"])[int(0.9 * (runs - 1))] * 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40, help="runs per case and mode (default 40)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "compute_sandbox.json")
    args = ap.parse_args()
    ca = NitroTestCA(seed=b"bench-sandbox")
    work = Path(tempfile.mkdtemp(prefix="eigen-bench-"))
    os.chmod(work, 0o711)
    try:
        cases = [("sh", _script(work))]
        static = _static_copy(work)
        if static is not None:
            cases.insert(0, ("static", static))
        else:
            print("no C compiler that links statically: the static case is left out")
        rows = [bench_case(name, src, work, args.runs, ca) for name, src in cases]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {machine['platform']}, {machine['cores']} cores, {bwrap}")
    print(f"{'case':8} {'direct ms':>10} {'sandbox ms':>11} {'ratio':>7} {'overhead ms':>12} {'task ms':>9}")
    for r in rows:
        print(
            f"{r['case']:8} {r['direct_ms']:>10} {r['sandbox_ms']:>11} {r['ratio_sandbox_over_direct']:>7} "
            f"{r['overhead_ms']:>12} {r['task_ms']:>9}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "bwrap": bwrap, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
