"""End to end through a devnet (``eigen da devnet up``: N validators, a disperser and a relay as processes on
loopback): ``put`` from the payload to the certified blob (GetBlobCommitment, DisperseBlob, the disperser's
batch: encode, StoreChunks to every validator, BLS aggregation; GetBlobStatus polling at 50 ms), ``get`` from
the relay and ``get`` from the validators' chunks, for 1 to 8 validators; beside it the encoder alone in this
process (commitment, length proof, chunks with FK20 proofs) on blobs of the same size, so the network's
overhead is a ratio. Both are medians of ``--repeats`` random payloads (the first dispersal of a devnet, which
builds the disperser's FK20 table, is run once before and not counted).

Run: `.venv/bin/python bench/da-network/bench_e2e.py [--kib 120] [--validators 1,2,4,8] [--repeats 3]`.
Writes bench/results/da-network-e2e.json. Uses the INSECURE test SRS (the timing does not depend on the
secret), CPU encoding; start-up of the processes is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain.da.codec import encode_payload  # noqa: E402
from offchain.da.eigenda.encoder import Encoder  # noqa: E402
from offchain.da.network import client, devnet  # noqa: E402
from offchain.da.network.config import load_srs, network_state, read_file  # noqa: E402
from offchain.da.network.disperser import blob_commitment, encode_chunks  # noqa: E402


def payload(kib: int) -> bytes:
    """Random bytes: the encoder's multi-scalar multiplications are cheaper on zero or repeated symbols, so a
    constant payload would flatter every figure (and the encoder alone)."""
    return os.urandom(kib * 1024)


def nearest_rank(samples: list[float], pct: int) -> float:
    """The ``pct``-th percentile by nearest rank (with fewer than 100 samples, p99 is the largest)."""
    ordered = sorted(samples)
    return ordered[max(0, -(-pct * len(ordered) // 100) - 1)]


def run(n: int, kib: int, repeats: int, symbols: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"bench-da-e2e-{n}-"))
    try:
        t0 = time.perf_counter()
        info = devnet.up(folder, n, test_srs_symbols=symbols, log_level="warning")
        startup = time.perf_counter() - t0
        key = bytes.fromhex((folder / "keys" / "payer.key").read_text())
        cfg = read_file(folder / "client.json")
        state, urls = network_state(cfg["network"], folder)
        enc = Encoder(load_srs(cfg["srs"], folder))
        relays = {int(k): u for k, u in cfg["relays"].items()}
        client.put(info["disperser"], payload(kib), key, timeout_s=600, poll_s=0.05)  # warm-up, not counted
        puts, via_relay, via_validators = [], [], []
        for _ in range(repeats):
            data = payload(kib)
            t = time.perf_counter()
            cert = client.put(info["disperser"], data, key, timeout_s=600, poll_s=0.05)
            puts.append(time.perf_counter() - t)
            deadline = time.monotonic() + 60
            while True:  # the relay copies certified blobs as it polls the disperser's metadata
                t = time.perf_counter()
                got, served = client.get(cert, state.stakes, urls, enc, relays)
                if served.served_by.startswith("relay") or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert got == data and served.served_by.startswith("relay"), served
            via_relay.append(time.perf_counter() - t)
            t = time.perf_counter()
            got, served = client.get(cert, state.stakes, urls, enc, {})
            via_validators.append(time.perf_counter() - t)
            assert got == data and served.served_by == "validators"
        put_s = statistics.median(puts)
        relay_s, validators_s = statistics.median(via_relay), statistics.median(via_validators)
        return {
            "validators": n,
            "startup_s": round(startup, 2),
            "put_median_s": round(put_s, 3),
            "put_p99_s": round(nearest_rank(puts, 99), 3),
            "put_max_s": round(max(puts), 3),
            "put_MiB_per_s": round(kib / 1024 / put_s, 4),
            "get_relay_median_s": round(relay_s, 3),
            "get_relay_MiB_per_s": round(kib / 1024 / relay_s, 4),
            "get_validators_median_s": round(validators_s, 3),
            "get_validators_MiB_per_s": round(kib / 1024 / validators_s, 4),
            "puts_s": [round(x, 3) for x in puts],
        }
    finally:
        devnet.down(folder)


def throughput(n: int, kib: int, blobs: int, in_flight: int, symbols: int) -> dict:
    """``blobs`` payloads put at once, one blob per batch (``batch_size`` 1), the disperser keeping ``in_flight``
    batches in flight: seconds from the first put to the last certificate, and MiB/s of payload."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-da-tput-{in_flight}-"))
    opts = {"batch_size": 1, "batches_in_flight": in_flight}
    try:
        info = devnet.up(folder, n, test_srs_symbols=symbols, log_level="warning", disperser_options=opts)
        key = bytes.fromhex((folder / "keys" / "payer.key").read_text())
        client.put(info["disperser"], payload(kib), key, timeout_s=600, poll_s=0.05)  # warm-up, not counted
        data = [payload(kib) for _ in range(blobs)]
        t = time.perf_counter()
        with ThreadPoolExecutor(blobs) as pool:
            list(pool.map(lambda d: client.put(info["disperser"], d, key, timeout_s=900, poll_s=0.05), data))
        s = time.perf_counter() - t
        return {"batches_in_flight": in_flight, "blobs": blobs, "seconds": round(s, 2),
                "MiB_per_s": round(blobs * kib / 1024 / s, 4)}  # fmt: skip
    finally:
        devnet.down(folder)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kib", type=int, default=120, help="payload KiB (120 KiB fills a 4,096-symbol blob)")
    ap.add_argument("--validators", default="1,2,4,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "da-network-e2e.json"))
    ap.add_argument(
        "--throughput", type=int, default=0, metavar="BLOBS",
        help="instead: BLOBS payloads put at once through 4 validators, with 1 then --in-flight batches in flight",
    )  # fmt: skip
    ap.add_argument("--in-flight", type=int, default=2, help="batches in flight for --throughput (default 2)")
    args = ap.parse_args()
    blob = encode_payload(payload(args.kib))
    symbols = len(blob) // 32
    if args.throughput:
        rows = []
        for k in (1, args.in_flight):
            rows.append(throughput(4, args.kib, args.throughput, k, symbols))
            print(json.dumps(rows[-1]), flush=True)
        out = {"bench": "da-network-throughput", "payload_kib": args.kib, "blob_symbols": symbols, "validators": 4,
               "rows": rows, "ratio": round(rows[0]["seconds"] / rows[1]["seconds"], 2),
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}  # fmt: skip
        print(json.dumps(out), flush=True)
        path = Path(args.out).with_name("da-network-throughput.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1) + "\n")
        return
    encoder = Encoder(load_srs({"insecure_test_symbols": symbols}, ROOT))
    encode_chunks(encoder, blob)  # the FK20 table, as the devnet's warm-up builds it
    alone = []
    for _ in range(args.repeats):  # what the disperser computes per blob: the commitment, then the chunks
        blob = encode_payload(payload(args.kib))
        t = time.perf_counter()
        blob_commitment(encoder, blob)
        encode_chunks(encoder, blob)
        alone.append(time.perf_counter() - t)
    encode_s = statistics.median(alone)
    rows = []
    for n in (int(v) for v in args.validators.split(",")):
        row = run(n, args.kib, args.repeats, symbols)
        row["put_over_encode"] = round(row["put_median_s"] / encode_s, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {
        "bench": "da-network-e2e",
        "payload_kib": args.kib,
        "blob_symbols": symbols,
        "repeats": args.repeats,
        "encode_alone_s": round(encode_s, 3),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "srs": "insecure test SRS (timing does not depend on the secret)",
        "anchor": "EigenDA V2 mainnet: 100 MB/s, 5 s average, 10 s p99 (a cluster with GPU encoders)",
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"encode_alone_s": out["encode_alone_s"], "out": args.out}))


if __name__ == "__main__":
    main()
