"""Demo step for the DA network (docs/da-network.md): the demo's records kept where no single party can delete them.

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py: it brings up a DA devnet on the demo's own chain
(``eigen da devnet up``'s code: a BLSRegistry over the demo's core with 4 validators registered as operators with
stake and BLS keys, a PaymentVault with the payer's reservation, an EigenDACertVerifier; 4 validator processes, a
disperser and a relay on loopback), disperses the demo's records (the deployment's addresses and what each earlier step returned, as JSON,
packed into as few blobs as hold them) with reservation payments but the last, paid on demand from the payer's
deposit (a DA fee: the disperser claims it in the PaymentVault with the payer's signed header, and the rewards
step sweeps it into the fee vault), prints each certificate's ``checkDACert`` status from the chain, kills one validator, and
retrieves every record from the remaining validators' chunks (the relay not asked), each chunk and each blob
verified against the certificate's commitment, then compares the bytes. The SRS is EigenDA's when
``EIGEN_DA_SRS`` names it, else the insecure test SRS of 512 symbols (the output says which).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak

from offchain import settings
from offchain.agent.trading import DARecords
from offchain.chain.bls_registry import BLSRegistryReader
from offchain.chain.da_contracts import CertVerifierClient
from offchain.da.codec import GROUP
from offchain.da.eigenda.encoder import Encoder
from offchain.da.network import client, devnet
from offchain.da.network.config import load_srs, network_state, operators_config, read_file
from offchain.da.network.devchain import ChainSpec
from offchain.da.network.operators import RegistryOperators

VALIDATORS = 4
# a trading step record with its feed's state proof is 8 to 12 KB; 256 symbols carry 7,936 bytes
TEST_SYMBOLS = 512
KILLED = "v2"
FUNDER_WEI = 10**20  # the devnet setup's gas and deposits
FUNDER_SEED = b"demo DA devnet funder"  # the devnet's funder and the governance of its PaymentVault
CLAIM_WAIT_S = 60.0  # the disperser claims an on-demand payment right after its batch


def funder() -> Any:
    """The DA devnet's funder: it deploys the devnet's contracts and owns its PaymentVault."""
    return Account.from_key(keccak(FUNDER_SEED))


class DemoDA:
    """The demo's one DA devnet, on its chain: started once (:func:`start`, in a background thread, by
    the first step that needs it: the trading agent's records), used by the trading and DA steps
    (:meth:`wait`), stopped by the DA step or when the demo ends (:func:`stop`)."""

    def __init__(self, demo: Any) -> None:
        from ape import networks

        self.srs_dir = settings.da_srs_dir()
        self.symbols = None if self.srs_dir else TEST_SYMBOLS
        self.folder = Path(tempfile.mkdtemp(prefix="eigen-demo-da-"))
        self.t0 = time.monotonic()
        self.up_s = 0.0
        self._out: dict[str, Any] = {}
        # a funder of its own: the devnet's setup transactions go out beside the other steps' (no nonce shared)
        payer = funder()
        demo.deployer.transfer(payer.address, FUNDER_WEI)
        spec = ChainSpec(networks.provider.uri, demo.d.addresses(), "0x" + bytes(payer.key).hex())
        self._thread = threading.Thread(target=self._up, args=(spec,), daemon=True)
        self._thread.start()

    def _up(self, spec: ChainSpec) -> None:
        try:
            self._out["info"] = devnet.up(self.folder, VALIDATORS, srs_dir=self.srs_dir,
                                          test_srs_symbols=self.symbols, chain=spec, log_level="warning")  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - re-raised by wait()
            self._out["error"] = exc
        self.up_s = time.monotonic() - self.t0

    def wait(self) -> dict[str, Any]:
        """The devnet's info (``devnet.up``'s), once it is up."""
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["info"]

    def payer_key(self) -> bytes:
        return bytes.fromhex((self.folder / "keys" / "payer.key").read_text().strip())

    def checker(self) -> CertVerifierClient:
        rec = self.wait()["chain"]
        return CertVerifierClient(rec["rpc_url"], rec["cert_verifier"])

    def records(self) -> Any:
        """The trading agent's :class:`DARecords` through this devnet, every certificate checked on chain."""
        info = self.wait()
        return DARecords(
            info["disperser"], self.payer_key(), info["client_config"], cert_checker=self.checker()
        )

    def down(self) -> None:
        self._thread.join()
        devnet.down(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


def start(demo: Any) -> DemoDA:
    """The demo's DA devnet, started (in the background) on the first call."""
    if getattr(demo, "da_net", None) is None:
        demo.da_net = DemoDA(demo)
    return demo.da_net


def stop(demo: Any) -> None:
    """Stop the demo's DA devnet, if one was started."""
    net = getattr(demo, "da_net", None)
    if net is not None:
        demo.da_net = None
        net.down()


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
    [name, record]): a blob's encoding costs about the same for 64 to 512 symbols (8,192 chunks either way)."""
    blobs: list[list[tuple[str, str]]] = [[]]
    for r in records:
        if blobs[-1] and len(_payload(blobs[-1] + [r])) > limit:
            blobs.append([])
        blobs[-1].append(r)
    return blobs


def _payload(records: list[tuple[str, str]]) -> bytes:
    return json.dumps([list(r) for r in records]).encode()


def _claimed(rec: dict[str, Any], payer_key: bytes, cert: dict[str, Any]) -> dict[str, Any]:
    """The on-demand blob's payment, once the disperser claimed it in the PaymentVault (its claim keeper runs
    after each batch): what the payer's signed header says it paid in all, and what the vault counts consumed."""
    from ape import project

    pay = cert["blob_inclusion_info"]["blob_certificate"]["blob_header"]["payment_header"]
    account, total = pay["account_id"], int(pay["cumulative_payment"] or "0", 16)
    pv = project.PaymentVault.at(rec["payment_vault"])
    assert account == Account.from_key(payer_key).address and total > 0
    deadline = time.monotonic() + CLAIM_WAIT_S
    while pv.consumedOnDemand(account) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the disperser did not claim {account}'s on-demand payment within {CLAIM_WAIT_S:g} s"
            )
        time.sleep(0.2)
    consumed = pv.consumedOnDemand(account)
    price = pv.pricePerSymbol()
    print(f"  blob {cert['blob_key'][:12]}… was paid on demand: {total:,} wei from the payer's deposit "
          f"({total // price} billed symbols at EigenDA's {price:,} wei a symbol); the disperser claimed it in the "
          f"PaymentVault with the payer's signed header (consumedOnDemand {consumed:,} wei): a DA fee for the fee vault.")  # fmt: skip
    return {"blob_key": cert["blob_key"], "account": account, "paid": total, "consumed": consumed}


def run(demo: Any) -> dict[str, Any]:
    """Run the DA step on ``demo`` and print what happened; returns the key facts."""
    t0 = time.monotonic()
    print(
        "\n##### Data availability: the demo's records dispersed, certified on-chain, retrieved with a validator down"
    )
    reused = getattr(demo, "da_net", None) is not None
    net = start(demo)
    srs_dir = net.srs_dir
    try:
        info = net.wait()
        rec = info["chain"]
        t_up = time.monotonic() - t0
        print(
            f"DA devnet on chain {rec['chain_id']}: BLSRegistry {rec['registry']} (operator set {rec['operator_set']}, "
            f"quorums 0 and 1 = {', '.join(rec['strategies'])}), PaymentVault {rec['payment_vault']}, "
            f"EigenDACertVerifier {rec['cert_verifier']}; {VALIDATORS} validators registered with equal stake and "
            f"BLS keys (proof of possession), a disperser and a relay on loopback "
            f"({'SRS ' + srs_dir if srs_dir else f'insecure test SRS, {TEST_SYMBOLS} symbols'}); "
            + (f"the one the trading agent's records went to (up in {net.up_s:.1f} s)." if reused
               else f"up in {t_up:.1f} s.")
        )  # fmt: skip
        cfg_path = Path(info["client_config"])
        cfg = read_file(cfg_path)
        encoder = Encoder(load_srs(cfg["srs"], cfg_path.parent))
        limit = (encoder.srs.g1.shape[-1] - 1) * GROUP
        records = _records(demo, limit // 2)  # a part and its JSON escaping fit in one blob
        blobs = _blobs(records, limit)
        checker = net.checker()
        payer = net.payer_key()
        # the last blob paid on demand (the payer's deposit: a DA fee), the others from its reservation
        payments = ["reservation"] * (len(blobs) - 1) + ["on-demand"]
        with ThreadPoolExecutor(len(blobs)) as pool:  # in flight together: one batch or two
            certs = list(pool.map(lambda b, p: client.put(info["disperser"], _payload(b), payer, (0, 1), timeout_s=120,
                                                          payment=p, cert_checker=checker), blobs, payments))  # fmt: skip
        t_put = time.monotonic() - t0 - t_up
        print(f"{len(records)} records in {len(blobs)} blob(s) dispersed and certified in {t_put:.1f} s:")
        statuses = []
        for b, cert in zip(blobs, certs, strict=True):
            status = checker.check_da_cert(cert)
            statuses.append(status)
            pct = cert["signed_batch"]["attestation"]["quorum_signed_percentages"]
            print(f"  blob {cert['blob_key'][:12]}… ({len(_payload(b))} bytes: {', '.join(n for n, _ in b)}): signed "
                  f"by {pct[0]}%/{pct[1]}% of quorums 0/1, checkDACert: {status} ({checker.status_text(status)})")  # fmt: skip
        on_demand = _claimed(rec, payer, certs[-1])

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
                "cert_verifier": rec["cert_verifier"], "payment_vault": rec["payment_vault"],
                "on_demand": on_demand}  # fmt: skip
    finally:
        stop(demo)
