"""Demo step for the DA network (docs/da-network.md): the demo's records kept where no single party can delete them.

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py: it brings up a DA devnet on the demo's own chain
(``eigen da devnet up``'s code: a BLSRegistry over the demo's core with 4 validators registered as operators with
stake and BLS keys, a PaymentVault with the payer's reservation, an EigenDACertVerifier; 4 validator processes, a
disperser and a relay on loopback), disperses the demo's records (the deployment's addresses and what each earlier step returned, as JSON,
packed into as few blobs as hold them) with reservation payments, prints each certificate's ``checkDACert`` status from the chain, kills one validator, and
retrieves every record from the remaining validators' chunks (the relay not asked), each chunk and each blob
verified against the certificate's commitment, then compares the bytes. The SRS is EigenDA's when
``EIGEN_DA_SRS`` names it, else the insecure test SRS of 256 symbols (the output says which).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from offchain import settings
from offchain.chain.bls_registry import BLSRegistryReader
from offchain.chain.da_contracts import CertVerifierClient
from offchain.da.codec import GROUP
from offchain.da.eigenda.encoder import Encoder
from offchain.da.network import client, devnet
from offchain.da.network.config import load_srs, network_state, operators_config, read_file
from offchain.da.network.devchain import ChainSpec
from offchain.da.network.operators import RegistryOperators

VALIDATORS = 4
TEST_SYMBOLS = 256
KILLED = "v2"


def _records(demo: Any, limit: int) -> list[tuple[str, str]]:
    """The demo's records: the deployment's addresses, then each step's result as JSON; one longer than ``limit``
    characters is cut into parts."""
    out = [("restaking deployment", json.dumps(demo.d.addresses(), sort_keys=True))]
    out += [(name.rsplit(".", 1)[-1], json.dumps(res, sort_keys=True, default=str))
            for name, res in demo.results.items()]  # fmt: skip
    parts = []
    for name, data in out:
        pieces = [data[i : i + limit] for i in range(0, len(data), limit)] or [""]
        parts += [
            (f"{name} ({i + 1}/{len(pieces)})" if len(pieces) > 1 else name, p) for i, p in enumerate(pieces)
        ]
    return parts


def _blobs(records: list[tuple[str, str]], limit: int) -> list[list[tuple[str, str]]]:
    """The records packed in order into as few payloads as hold at most ``limit`` bytes each (as a JSON list of
    [name, record]): a blob's encoding costs about the same for 64 or 256 symbols (8,192 chunks either way)."""
    blobs: list[list[tuple[str, str]]] = [[]]
    for r in records:
        if blobs[-1] and len(_payload(blobs[-1] + [r])) > limit:
            blobs.append([])
        blobs[-1].append(r)
    return blobs


def _payload(records: list[tuple[str, str]]) -> bytes:
    return json.dumps([list(r) for r in records]).encode()


def run(demo: Any) -> dict[str, Any]:
    """Run the DA step on ``demo`` and print what happened; returns the key facts."""
    from ape import networks

    t0 = time.monotonic()
    print(
        "\n##### Data availability: the demo's records dispersed, certified on-chain, retrieved with a validator down"
    )
    srs_dir = settings.da_srs_dir()
    symbols = None if srs_dir else TEST_SYMBOLS
    spec = ChainSpec(networks.provider.uri, demo.d.addresses(), demo.deployer.private_key)
    folder = Path(tempfile.mkdtemp(prefix="eigen-demo-da-"))
    try:
        info = devnet.up(folder, VALIDATORS, srs_dir=srs_dir, test_srs_symbols=symbols, chain=spec,
                         log_level="warning")  # fmt: skip
        rec = info["chain"]
        t_up = time.monotonic() - t0
        print(
            f"DA devnet on chain {rec['chain_id']}: BLSRegistry {rec['registry']} (operator set {rec['operator_set']}, "
            f"quorums 0 and 1 = {', '.join(rec['strategies'])}), PaymentVault {rec['payment_vault']}, "
            f"EigenDACertVerifier {rec['cert_verifier']}; {VALIDATORS} validators registered with equal stake and "
            f"BLS keys (proof of possession), a disperser and a relay on loopback "
            f"({'SRS ' + srs_dir if srs_dir else f'insecure test SRS, {TEST_SYMBOLS} symbols'}); up in {t_up:.1f} s."
        )
        cfg_path = Path(info["client_config"])
        cfg = read_file(cfg_path)
        encoder = Encoder(load_srs(cfg["srs"], cfg_path.parent))
        limit = (encoder.srs.g1.shape[-1] - 1) * GROUP
        records = _records(demo, limit // 2)  # a part and its JSON escaping fit in one blob
        blobs = _blobs(records, limit)
        checker = CertVerifierClient(rec["rpc_url"], rec["cert_verifier"])
        payer = bytes.fromhex((folder / "keys" / "payer.key").read_text())
        with ThreadPoolExecutor(len(blobs)) as pool:  # in flight together: one batch or two
            certs = list(pool.map(lambda b: client.put(info["disperser"], _payload(b), payer, (0, 1), timeout_s=120,
                                                       cert_checker=checker), blobs))  # fmt: skip
        t_put = time.monotonic() - t0 - t_up
        print(f"{len(records)} records in {len(blobs)} blob(s) dispersed and certified in {t_put:.1f} s:")
        statuses = []
        for b, cert in zip(blobs, certs, strict=True):
            status = checker.check_da_cert(cert)
            statuses.append(status)
            pct = cert["signed_batch"]["attestation"]["quorum_signed_percentages"]
            print(f"  blob {cert['blob_key'][:12]}… ({len(_payload(b))} bytes: {', '.join(n for n, _ in b)}): signed "
                  f"by {pct[0]}%/{pct[1]}% of quorums 0/1, checkDACert: {status} ({checker.status_text(status)})")  # fmt: skip

        killed = next(p for p in info["processes"] if p["name"] == KILLED)
        os.kill(killed["pid"], signal.SIGKILL)
        print(
            f"Validator {KILLED} (25% of the stake) killed; the relay is not asked: every record from the others' chunks."
        )
        _, urls = network_state(cfg["network"], cfg_path.parent)
        ops = operators_config(cfg["operators"])
        source = RegistryOperators(BLSRegistryReader(ops.rpc, ops.registry), ops.quorums)
        served = []
        for b, cert in zip(blobs, certs, strict=True):
            stakes = source.state_at(int(cert["signed_batch"]["header"]["reference_block_number"])).stakes
            got, path = client.get(cert, stakes, urls, encoder, relays={}, cert_checker=checker)
            if got != _payload(b) or [tuple(r) for r in json.loads(got)] != b:
                raise AssertionError(f"blob {cert['blob_key']}: the retrieved bytes differ from the records")
            served.append(path.served_by)
        print(f"All {len(records)} records retrieved from {VALIDATORS - 1} validators, each chunk verified against its "
              f"commitment, the bytes equal to the records ({time.monotonic() - t0:.1f} s for this step).")  # fmt: skip
        return {"records": len(records), "blobs": len(blobs), "statuses": statuses, "served_by": served, "killed": KILLED,
                "cert_verifier": rec["cert_verifier"]}  # fmt: skip
    finally:
        devnet.down(folder)
        shutil.rmtree(folder, ignore_errors=True)
