"""A blob through N validator processes on loopback: encode, StoreChunks to every validator (verify, store,
BLS-sign), then retrieval from validators (GetChunks, verify, decode). This process plays the
disperser with the disperser's own functions (offchain/da/network/disperser.py: encoding, bundles, signed
StoreChunks); `eigen da disperser` itself is tested in tests/offchain/da/network/test_da_network_disperser.py.

Run: `.venv/bin/python bench/da-network/bench_node_roundtrip.py [--kib 128] [--validators 4]`.
Writes bench/results/da-network-roundtrip.json. Uses the INSECURE test SRS (the timing does not depend on
the secret); every validator generates its own at start-up (not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from eth_keys import keys as eth_keys  # noqa: E402

from offchain.bls.keys import SecretKey, verify_single  # noqa: E402
from offchain.crypto import bn254  # noqa: E402
from offchain.da.eigenda.encoder import Encoder  # noqa: E402
from offchain.da.network import types as v2  # noqa: E402
from offchain.da.network.assignment import BlobParams, assignments_for_blob  # noqa: E402
from offchain.da.network.disperser import (  # noqa: E402
    blob_commitment,
    bundle_for,
    encode_chunks,
    signed_store_request,
)
from offchain.da.network.retrieval import retrieve_blob  # noqa: E402
from offchain.da.srs import insecure_test_srs  # noqa: E402

DISPERSER = bytes(31) + b"\x07"
CLIENT = bytes(31) + b"\x09"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kib", type=int, default=128)
    ap.add_argument("--validators", type=int, default=4)
    args = ap.parse_args()
    n = args.kib * 1024 // 32
    keys = [SecretKey(5000 + i) for i in range(args.validators)]
    ids = [k.public_key().operator_id for k in keys]
    stakes = {q: {oid: 10 + i for i, oid in enumerate(ids)} for q in (0, 1)}
    disperser = eth_keys.PrivateKey(DISPERSER).public_key.to_checksum_address()
    tmp = Path(tempfile.mkdtemp(prefix="bench-da-net-"))
    network = {
        "operators": [
            {"operator_id": o.hex(), "stakes": {str(q): stakes[q][o] for q in stakes}} for o in ids
        ],
        "dispersers": {"0": disperser},
    }
    procs, urls = [], {}
    t = time.perf_counter()
    for i, k in enumerate(keys):
        d = tmp / f"v{i}"
        d.mkdir()
        (d / "key").write_text(k.to_bytes().hex())
        cfg = {"port": 0, "bls_key_file": "key", "store_dir": "db", "srs": {"insecure_test_symbols": n},
               "network": network, "log_level": "warning"}  # fmt: skip
        (d / "node.json").write_text(json.dumps(cfg))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "offchain.cli", "da", "node", "--config", str(d / "node.json")],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                cwd=ROOT,
            )  # fmt: skip
        )
    enc = Encoder(insecure_test_srs(n))
    for oid, p in zip(ids, procs, strict=True):
        urls[oid] = json.loads(p.stdout.readline())["url"]
    startup = time.perf_counter() - t
    try:
        rng = np.random.default_rng(1)
        raw = bytearray(rng.integers(0, 256, (n, 32), dtype=np.uint8).tobytes())
        raw[::32] = bytes(n)
        t0 = time.perf_counter()
        com = blob_commitment(enc, bytes(raw))
        chunks = encode_chunks(enc, bytes(raw))
        t_encode = time.perf_counter() - t0
        account = eth_keys.PrivateKey(CLIENT).public_key.to_checksum_address()
        header = v2.BlobHeader(0, (0, 1), com, v2.PaymentHeader(account, time.time_ns(), 0))
        cert = v2.BlobCertificate(header, v2.sign_digest(CLIENT, header.blob_key()), (0,))
        batch = v2.BatchHeader(v2.MerkleTree([cert.hash()]).root, 100)
        assignment = assignments_for_blob(stakes, BlobParams(), [0, 1])

        def send(i: int) -> float:
            oid = ids[i]
            req = signed_store_request(DISPERSER, 0, batch, [cert], [bundle_for(chunks, assignment[oid])])
            r = httpx.post(f"{urls[oid]}/v2/StoreChunks", json=req.to_json(), timeout=300)
            r.raise_for_status()
            sigma = bn254.g1_to_ints(bn254.g1_decompress(bytes.fromhex(r.json()["signature"])))[0]
            assert verify_single(batch.hash(), keys[i].public_key(), sigma)
            return time.perf_counter()

        t1 = time.perf_counter()
        with ThreadPoolExecutor(len(ids)) as pool:
            list(pool.map(send, range(len(ids))))
        t_store = time.perf_counter() - t1
        t2 = time.perf_counter()
        got = retrieve_blob(header, stakes, urls, enc)
        t_get = time.perf_counter() - t2
        assert got.blob == bytes(raw)
        out = {
            "blob_kib": args.kib, "validators": len(ids), "startup_s": round(startup, 2),
            "encode_s": round(t_encode, 3), "store_and_sign_all_s": round(t_store, 3),
            "retrieve_s": round(t_get, 3), "validators_used_for_retrieval": len(got.validators_used),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        }  # fmt: skip
        print(json.dumps(out, indent=2))
        res = ROOT / "bench" / "results"
        res.mkdir(parents=True, exist_ok=True)
        (res / "da-network-roundtrip.json").write_text(json.dumps(out, indent=2) + "\n")
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


if __name__ == "__main__":
    main()
