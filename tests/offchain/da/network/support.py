"""A small network for the DA network tests: an encoded blob, BLS operators, a disperser key, batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from eth_keys import keys as eth_keys

from offchain.bls.keys import SecretKey
from offchain.da.eigenda.encoder import Encoder
from offchain.da.network.assignment import BlobParams, assignments_for_blob
from offchain.da.network.disperser import (
    EncodedChunks,
    blob_commitment,
    bundle_for,
    encode_chunks,
    signed_store_request,
)
from offchain.da.network.node import NodeState, StoreChunksRequest
from offchain.da.network.types import (
    BatchHeader,
    BlobCertificate,
    BlobHeader,
    MerkleTree,
    PaymentHeader,
    sign_digest,
)
from offchain.da.srs import insecure_test_srs

N_SYMBOLS = 64  # L = 1 (8192 chunks of one symbol each)
DISPERSER_KEY = bytes.fromhex("8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f")
CLIENT_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@cache
def encoder() -> Encoder:
    return Encoder(insecure_test_srs(N_SYMBOLS))


def operator_keys(n: int = 4) -> list[SecretKey]:
    return [SecretKey(1000 + 7 * i) for i in range(n)]


def node_state(keys: list[SecretKey], stakes: list[int] | None = None) -> NodeState:
    stakes = stakes or [1, 2, 3, 4][: len(keys)]
    ids = [k.public_key().operator_id for k in keys]
    address = eth_keys.PrivateKey(DISPERSER_KEY).public_key.to_checksum_address()
    table = {q: dict(zip(ids, stakes, strict=True)) for q in (0, 1)}
    return NodeState(table, {0: address}, BlobParams())


@dataclass
class EncodedBlob:
    header: BlobHeader
    signature: bytes
    chunks: EncodedChunks | None  # the disperser's encoding: proofs (8192, 32), coefficients (8192, L, 32)
    raw: bytes

    @property
    def L(self) -> int:
        return self.chunks.L


def encoded_blob(seed: int, timestamp: int = 1, chunks: bool = True) -> EncodedBlob:
    """A random 64-symbol blob, its header (quorums 0 and 1, a reservation payment) signed by the client, and
    its chunks (``chunks=False``: none, for tests that only disperse it; encoding takes seconds)."""
    enc = encoder()
    rng = np.random.default_rng(seed)
    raw = bytearray(rng.integers(0, 256, (N_SYMBOLS, 32), dtype=np.uint8).tobytes())
    for k in range(N_SYMBOLS):
        raw[32 * k] = 0  # every symbol below r
    com = blob_commitment(enc, bytes(raw))
    account = eth_keys.PrivateKey(CLIENT_KEY).public_key.to_checksum_address()
    header = BlobHeader(0, (0, 1), com, PaymentHeader(account, timestamp, 0))
    return EncodedBlob(
        header, sign_digest(CLIENT_KEY, header.blob_key()), encode_chunks(enc, bytes(raw)) if chunks else None,
        bytes(raw),
    )  # fmt: skip


def store_request(
    blobs: list[EncodedBlob], state: NodeState, operator: bytes, rbn: int = 100, timestamp: int | None = None
) -> StoreChunksRequest:
    """The disperser's StoreChunks request to ``operator`` for a batch of ``blobs``."""
    certs = [BlobCertificate(b.header, b.signature, (0,)) for b in blobs]
    header = BatchHeader(MerkleTree([c.hash() for c in certs]).root, rbn)
    assignment = assignments_for_blob(state.stakes, state.params, [0, 1]).get(operator, [])
    bundles = [bundle_for(b.chunks, assignment) for b in blobs]
    return signed_store_request(DISPERSER_KEY, 0, header, certs, bundles, timestamp)


ROOT = Path(__file__).resolve().parents[4]


def write_node_config(tmp: Path, key: SecretKey, state: NodeState, suffix: str = ".yaml") -> Path:
    """A node's key, network description and configuration file in ``tmp``."""
    (tmp / "node.key").write_text(key.to_bytes().hex())
    network = {
        "operators": [
            {"operator_id": oid.hex(), "stakes": {str(q): state.stakes[q][oid] for q in state.stakes}}
            for oid in state.stakes[0]
        ],
        "dispersers": {str(k): v for k, v in state.dispersers.items()},
    }
    (tmp / "network.json").write_text(json.dumps(network))
    cfg = {
        "port": 0,
        "bls_key_file": "node.key",
        "store_dir": "db",
        "srs": {"insecure_test_symbols": N_SYMBOLS},
        "network": "network.json",
        "log_level": "warning",
    }
    path = tmp / f"node{suffix}"
    path.write_text(yaml.safe_dump(cfg) if suffix == ".yaml" else json.dumps(cfg))
    return path


def start_process(args: list[str]) -> tuple[subprocess.Popen, dict]:
    """``eigen da ARGS`` as a process serving HTTP; returns it and its first line (the bound URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli", "da", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise RuntimeError(f"{args[0]} did not start: {proc.stderr.read()[-2000:]}")
    return proc, json.loads(line)


def start_node(config: Path) -> tuple[subprocess.Popen, dict]:
    """``eigen da node --config`` as a process; returns it and its first line (the bound URL)."""
    return start_process(["node", "--config", str(config)])


def network_file(path: Path, keys: list[SecretKey], state: NodeState, urls: dict[bytes, str]) -> Path:
    """The network description with the operators' URLs and BLS public keys (the disperser's, the client's)."""
    ops = []
    for k in keys:
        oid = k.public_key().operator_id
        ops.append({
            "operator_id": oid.hex(), "stakes": {str(q): state.stakes[q][oid] for q in state.stakes},
            "url": urls.get(oid, ""), "bls_public_key": k.public_key().to_json(),
        })  # fmt: skip
    path.write_text(
        json.dumps({"operators": ops, "dispersers": {str(k): v for k, v in state.dispersers.items()}})
    )
    return path


def write_disperser_config(tmp: Path, network: Path) -> Path:
    (tmp / "disperser.key").write_text(DISPERSER_KEY.hex())
    cfg = {
        "port": 0, "key_file": "disperser.key", "srs": {"insecure_test_symbols": N_SYMBOLS},
        "network": str(network), "metadata": "sqlite:///" + str(tmp / "meta.db"), "reference_block_number": 100,
        "log_level": "warning",
    }  # fmt: skip
    path = tmp / "disperser.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def eigen(*args: str) -> subprocess.CompletedProcess:
    """``eigen da ARGS`` run to completion (the client commands)."""
    return subprocess.run(
        [sys.executable, "-m", "offchain.cli", "da", *args], capture_output=True, timeout=180, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def relay_holds(url: str, blob_key: str, timeout_s: float = 60.0) -> bool:
    """Whether the relay at ``url`` serves the blob within ``timeout_s`` (it copies certified blobs as it polls)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.post(f"{url}/v2/GetBlob", json={"blob_key": blob_key}, timeout=10).status_code == 200:
            return True
        time.sleep(0.2)
    return False


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 now."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A PostgreSQL cluster of the machine's binaries (initdb, pg_ctl; they refuse root, so run as ``nobody``)
    in a temporary folder owned by nobody, on a free loopback port; yields its DSN and stops it after.
    Fails, naming what is missing, where the binaries or ``runuser`` are not on PATH."""
    import pwd
    import shutil
    import tempfile

    missing = [b for b in ("initdb", "pg_ctl", "postgres", "runuser") if shutil.which(b) is None]
    assert not missing, f"PostgreSQL test cluster: {missing} not on PATH"
    as_nobody = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="eigen-pg-", dir="/tmp"))
    if as_nobody:
        os.chown(folder, pwd.getpwnam("nobody").pw_uid, -1)
    data, port = folder / "data", free_port()

    def run(*args: str) -> None:
        r = subprocess.run([*as_nobody, *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{args[0]}: {r.stdout[-1000:]} {r.stderr[-1000:]}"

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
