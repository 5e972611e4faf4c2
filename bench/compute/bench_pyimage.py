"""Python images: build time and size, reproducibility, unpack time and the module's import time in the sandbox.

Run: ``PYTHONPATH=. .venv/bin/python bench/compute/bench_pyimage.py [--module offchain.agent.trading]
[--runs 3] [--gzip]``. Builds the image of ``python3 -m MODULE`` ``runs`` times uncompressed (the
digests must all be equal: the build is reproducible), once gzip'd with ``--gzip``; unpacks it and
imports MODULE in the sandbox (no pyc is packed, so this is the start-up cost of an app), medians.
Writes bench/results/compute_pyimage.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.bls.bench_bls import write_results  # noqa: E402
from offchain.compute.image import open_image  # noqa: E402
from offchain.compute.pyimage import build_python_image  # noqa: E402
from offchain.compute.sandbox import AppLimits, run_sandboxed  # noqa: E402
from offchain.compute.unpack import unpack_image  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", default="offchain.agent.trading", help="module of the image")
    ap.add_argument("--runs", type=int, default=3, help="builds, unpacks and imports (default 3)")
    ap.add_argument("--gzip", action="store_true", help="also build once with gzip'd layers (slow)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eigen-bench-pyimage-"))
    os.chmod(work, 0o711)
    try:
        builds, unpacks, imports, digests = [], [], [], set()
        for i in range(args.runs):
            t0 = time.perf_counter()
            built = build_python_image(work / f"img{i}", module=args.module)
            builds.append(time.perf_counter() - t0)
            digests.add(built.digest)
        if len(digests) != 1:
            raise SystemExit(f"the build is not reproducible: {sorted(digests)}")
        for i in range(args.runs):
            with open_image(built.out, built.digest) as img:
                t0 = time.perf_counter()
                unpack_image(img, work / f"rootfs{i}")
                unpacks.append(time.perf_counter() - t0)
                python = img.config.entrypoint[0]
                env = img.config.env
            t0 = time.perf_counter()
            run_sandboxed(
                work / f"rootfs{i}",
                [python, "-c", f"import {args.module}"],
                env=env,
                cwd="/app",
                limits=AppLimits(wall_s=300),
            )
            imports.append(time.perf_counter() - t0)
        row = {
            "module": args.module,
            "digest": built.digest,
            "runs": args.runs,
            "bytes": built.size,
            "layer_bytes": [layer["size"] for layer in built.manifest["layers"]],
            "build_s": round(statistics.median(builds), 2),
            "unpack_s": round(statistics.median(unpacks), 2),
            "import_in_sandbox_s": round(statistics.median(imports), 2),
        }
        if args.gzip:
            t0 = time.perf_counter()
            gz = build_python_image(work / "gz", module=args.module, compression="gzip")
            row["gzip_build_s"] = round(time.perf_counter() - t0, 2)
            row["gzip_bytes"] = gz.size
            row["gzip_layer_bytes"] = [layer["size"] for layer in gz.manifest["layers"]]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(row)
    write_results("compute_pyimage.json", {"pyimage": row})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
