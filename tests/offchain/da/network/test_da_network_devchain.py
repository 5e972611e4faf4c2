"""``eigen da devnet up --chain``: the devnet's contracts on a chain with the restaking core (a BLSRegistry with the
validators registered as operators with stake and BLS keys, a PaymentVault, an EigenDACertVerifier), the processes
reading stakes from the registry and metering payments against the vault; certificates checked on chain. Then the
faults on that devnet: validators killed while the disperser waits for their signatures (below and above the
adversary threshold), and the disperser killed mid-batch and restarted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from eth_keys import keys as eth_keys

from offchain.bls.keys import SecretKey
from offchain.chain.bls_registry import BLSRegistryReader
from offchain.chain.components import Parameters, deploy_components
from offchain.chain.da_contracts import CertVerifierClient, PaymentVaultReader
from offchain.chain.deploy import deploy_core, deploy_da, load_da_config
from offchain.da.errors import DevnetProcessError, DispersalError
from offchain.da.network import client, devchain
from offchain.da.network import devnet as da_devnet
from offchain.da.network.devchain import DISPERSER_GAS_WEI, MAGNITUDE, STAKE
from offchain.da.network.metadata import BlobStatus
from offchain.da.network.operators import RegistryOperators
from tests.contracts.support import TEST_CONFIG
from tests.offchain.da.network.support import eigen, free_port, port_free
from tests.offchain.da.network.test_da_network_devnet import gone, run

PAYLOAD = b"an agent's record, certified on chain " * 20


@pytest.fixture(scope="module")
def devnet(project, accounts, networks, tmp_path_factory):
    """A 4-validator devnet on the test chain's core (deployed here); its folder and chain record."""
    d = deploy_core(project, accounts[0], TEST_CONFIG)
    tmp = tmp_path_factory.mktemp("dachain")
    record = tmp / "chain-record.json"
    record.write_text(json.dumps({
        "rpc_url": networks.provider.uri, "addresses": d.addresses(),
        "accounts": {"deployer": {"key": accounts[0].private_key}},
    }))  # fmt: skip
    folder = tmp / "dn"
    up = ("devnet", "up", "--dir", str(folder), "--validators", "4", "--test-srs", "64", "--chain", str(record),
          "--log-level", "warning")  # fmt: skip
    rc, info = run(*up)
    assert rc == 0 and info["running"], info
    yield folder, up, info
    run("devnet", "down", "--dir", str(folder))


def up_again(devnet) -> dict:
    """``up`` (restarting whatever is gone); every process runs."""
    _, up, _ = devnet
    rc, info = run(*up)
    assert rc == 0 and info["running"], info
    return info


def checker(info) -> CertVerifierClient:
    return CertVerifierClient(info["chain"]["rpc_url"], info["chain"]["cert_verifier"])


def payer_key(folder: Path) -> bytes:
    return bytes.fromhex((folder / "keys" / "payer.key").read_text())


def test_devnet_registers_its_validators_on_chain(devnet, chain) -> None:
    folder, up, info = devnet
    rec = info["chain"]
    assert rec == json.loads((folder / "chain.json").read_text())
    ids = [o["operator_id"] for o in json.loads((folder / "network.json").read_text())["operators"]]
    assert rec["operator_ids"] == ["0x" + i for i in ids]
    # the registry's state: the 4 validators' keys, each with the half of its stake allocated, in both quorums
    source = RegistryOperators(BLSRegistryReader(rec["rpc_url"], rec["registry"]), {0: (1, 0), 1: (1, 1)})
    state = source.state_at(chain.blocks.head.number)
    want = STAKE * MAGNITUDE // 10**18
    assert state.stakes == {q: {bytes.fromhex(i): want for i in ids} for q in (0, 1)}
    # every process reads the registry; the disperser and the validators meter against the vault
    for name in ("v0", "disperser"):
        cfg = json.loads((folder / f"{name}.json").read_text())
        assert (
            cfg["operators"]["registry"] == rec["registry"]
            and cfg["payments"]["vault"] == rec["payment_vault"]
        )
    payer = eth_keys.PrivateKey(payer_key(folder)).public_key.to_checksum_address()
    vault = PaymentVaultReader(rec["rpc_url"], rec["payment_vault"])
    assert vault.reservations([payer])[0].symbols_per_second > 0 and vault.deposits([payer])[0] > 0
    # the disperser's account pays the gas of its on-demand payment claims
    disperser = eth_keys.PrivateKey(bytes.fromhex((folder / "keys" / "disperser.key").read_text()))
    assert (
        chain.provider.web3.eth.get_balance(disperser.public_key.to_checksum_address()) == DISPERSER_GAS_WEI
    )
    # up again: the same deployment and processes
    rc, again = run(*up)
    assert rc == 0 and again["chain"] == rec
    assert [p["pid"] for p in again["processes"]] == [p["pid"] for p in info["processes"]]


def test_put_certified_on_chain_and_get(devnet, tmp_path) -> None:
    folder, _, info = devnet
    rec = info["chain"]
    (tmp_path / "rec.txt").write_bytes(PAYLOAD)
    cert = tmp_path / "rec.cert"
    r = eigen("put", str(tmp_path / "rec.txt"), "--disperser", info["disperser"], "--key",
              str(folder / "keys" / "payer.key"), "--cert-verifier", rec["cert_verifier"], "--rpc", rec["rpc_url"],
              "--timeout", "120", "-o", str(cert))  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    c = json.loads(cert.read_text())
    assert checker(info).check_da_cert(c) == 1
    assert c["signed_batch"]["attestation"]["quorum_signed_percentages"] == [100, 100]
    # the client signed the anchor for the chain --rpc serves, and the disperser checks it against its chain id:
    # an anchor for another chain is refused
    r = eigen("put", str(tmp_path / "rec.txt"), "--disperser", info["disperser"], "--key",
              str(folder / "keys" / "payer.key"), "--chain-id", str(rec["chain_id"] + 1), "-o", str(tmp_path / "x"))  # fmt: skip
    assert r.returncode == 2 and b"INVALID_ARGUMENT" in r.stderr and b"chain id mismatch" in r.stderr, (
        r.stderr
    )
    assert json.loads((folder / "disperser.json").read_text())["chain_id"] == rec["chain_id"]
    r = eigen(
        "get", str(cert), "--config", info["client_config"]
    )  # checks checkDACert, stakes from the registry
    assert r.returncode == 0 and r.stdout == PAYLOAD, r.stderr[-2000:]


def _wait_status(folder: Path, status: BlobStatus, since_ns: int, timeout_s: float = 60.0) -> bytes:
    """The key of a blob requested after ``since_ns`` that is in ``status`` in the disperser's database (read
    beside it, as the relay does)."""
    deadline = time.monotonic() + timeout_s
    db = sqlite3.connect(f"file:{folder / 'data' / 'meta.db'}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            rows = db.execute(
                "SELECT blob_key FROM blobs WHERE status = ? AND requested_at_ns > ?", (int(status), since_ns)
            ).fetchall()
            if rows:
                return bytes.fromhex(rows[0][0].removeprefix("0x"))
            time.sleep(0.05)
    finally:
        db.close()
    raise AssertionError(f"no blob reached {status.name} within {timeout_s:g} s")


def _put_in_background(info, folder, payload) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go():
        try:
            out["cert"] = client.put(info["disperser"], payload, payer_key(folder), (0, 1), timeout_s=120,
                                     cert_checker=checker(info))  # fmt: skip
        except DispersalError as exc:
            out["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def _kill_during_dispersal(devnet, victims: list[str], payload: bytes) -> tuple[dict, list[str]]:
    """Freeze ``victims`` (SIGSTOP: they take the StoreChunks connection and never answer), put ``payload``,
    and once the disperser waits for their signatures (GATHERING_SIGNATURES) kill them; the put's outcome."""
    folder, since = devnet[0], time.time_ns()
    info = up_again(devnet)
    pids = {p["name"]: p["pid"] for p in info["processes"]}
    ids = [o["operator_id"] for o in json.loads((folder / "network.json").read_text())["operators"]]
    for v in victims:
        os.kill(pids[v], signal.SIGSTOP)
    try:
        t, out = _put_in_background(info, folder, payload)
        _wait_status(folder, BlobStatus.GATHERING_SIGNATURES, since)
        time.sleep(0.5)  # the StoreChunks requests are out, to validators that will never answer
    finally:
        for v in victims:
            os.kill(pids[v], signal.SIGKILL)
    for v in victims:
        assert gone(pids[v])
    t.join(150)
    assert not t.is_alive()
    return out, [ids[int(v[1:])] for v in victims]


def test_validator_killed_during_dispersal_below_the_adversary_threshold(devnet) -> None:
    """One of 4 equal validators (25 % < 33 %) dies while the disperser waits for it: the certificate holds with
    75 %, it names the dead validator as a non-signer, and checkDACert accepts it."""
    out, dead = _kill_during_dispersal(devnet, ["v1"], PAYLOAD + b"1")
    assert "error" not in out, out.get("error")
    cert = out["cert"]
    att = cert["signed_batch"]["attestation"]
    assert att["quorum_signed_percentages"] == [75, 75]
    non = att["registry_signature"]["non_signer_pubkeys"]
    sk = SecretKey.from_bytes(bytes.fromhex((devnet[0] / "keys" / "v1.bls").read_text()))
    assert non == [[hex(int(v)) for v in sk.public_key().g1]]  # the dead validator, and only it
    info = up_again(devnet)  # the dead validator restarted: the chain deployment is found live and kept
    assert info["chain"] == devnet[2]["chain"]
    assert checker(info).check_da_cert(cert) == 1


def test_validators_killed_during_dispersal_above_the_adversary_threshold(devnet) -> None:
    """Two of 4 (50 % > 33 %, and 50 % < the 55 % confirmation threshold) die mid-dispersal: the blob is FAILED
    with the percentages, and no certificate is issued."""
    since = time.time_ns()
    out, _ = _kill_during_dispersal(devnet, ["v0", "v3"], PAYLOAD + b"2")
    assert "cert" not in out
    assert "FAILED" in str(out["error"]) and "quorum 0: 50% signed" in str(out["error"]), out["error"]
    folder = devnet[0]
    key = _wait_status(folder, BlobStatus.FAILED, since, timeout_s=5)
    st = httpx.post(
        f"{up_again(devnet)['disperser']}/v2/GetBlobStatus", json={"blob_key": key.hex()}, timeout=10
    )
    assert st.json()["status"] == "FAILED" and "signed_batch" not in st.json()


def test_disperser_killed_mid_batch_loses_no_acknowledged_blob(devnet) -> None:
    """Every validator frozen, a blob acknowledged and its batch gathering signatures when the disperser is
    killed: after ``up`` the blob's status is kept, the new disperser finishes it, and its certificate passes."""
    folder, since = devnet[0], time.time_ns()
    info = up_again(devnet)
    pids = {p["name"]: p["pid"] for p in info["processes"]}
    validators = [p for p in pids if p.startswith("v")]
    for v in validators:
        os.kill(pids[v], signal.SIGSTOP)
    try:
        t, out = _put_in_background(info, folder, PAYLOAD + b"3")
        key = _wait_status(folder, BlobStatus.GATHERING_SIGNATURES, since)
        os.kill(pids["disperser"], signal.SIGKILL)
        assert gone(pids["disperser"])
    finally:
        for v in validators:
            os.kill(pids[v], signal.SIGCONT)
    t.join(150)
    assert "cert" not in out  # the client lost its disperser
    info = up_again(devnet)
    deadline = time.monotonic() + 120
    while True:
        st = httpx.post(
            f"{info['disperser']}/v2/GetBlobStatus", json={"blob_key": key.hex()}, timeout=10
        ).json()
        if st["status"] in ("COMPLETE", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st["status"] == "COMPLETE", st
    cert = {
        "blob_key": key.hex(),
        "signed_batch": st["signed_batch"],
        "blob_inclusion_info": st["blob_inclusion_info"],
    }
    assert checker(info).check_da_cert(cert) == 1
    (folder / "restarted.cert").write_text(json.dumps(cert))
    r = eigen("get", str(folder / "restarted.cert"), "--config", info["client_config"])
    assert r.returncode == 0 and r.stdout == PAYLOAD + b"3", r.stderr[-2000:]


def test_devnet_on_an_ape_run_deploy_record_pays_its_fees_into_the_fee_vault(
    project, accounts, networks, tmp_path
) -> None:
    """``eigen da devnet up --deployment RECORD``: the devnet uses the DA contracts `ape run deploy
    --components rewards,da` recorded (its key is their AVS and owner) instead of deploying its own; a blob paid
    on demand is certified by the recorded verifier, claimed by the disperser and swept as WETH into the
    rewards component's FeeVault."""
    record = tmp_path / "deployment.json"
    dport, nport = free_port(), free_port()
    while not port_free(nport + 1):  # two validators: nport and nport + 1
        nport = free_port()
    da_params = replace(
        load_da_config("local"), operator_set_id=3, disperser_grpc_port=dport, node_grpc_port=nport
    )
    deployed = deploy_components(
        project, accounts[0], Parameters(TEST_CONFIG, da=da_params), ("rewards", "da"), record=record,
        provider=networks.provider,
    )  # fmt: skip
    da = json.loads(record.read_text())["da"]
    assert da["grpc"] == {"host": "127.0.0.1", "disperser_port": dport, "node_port": nport}
    chain_record = tmp_path / "chain-record.json"
    chain_record.write_text(json.dumps({
        "rpc_url": networks.provider.uri, "addresses": deployed.core.addresses(),
        "accounts": {"deployer": {"key": accounts[0].private_key}},
    }))  # fmt: skip
    folder = tmp_path / "dn"
    up = ("devnet", "up", "--dir", str(folder), "--validators", "2", "--test-srs", "64", "--chain",
          str(chain_record), "--deployment", str(record), "--log-level", "warning")  # fmt: skip
    try:
        rc, info = run(*up)
        assert rc == 0 and info["running"], info
        rec = info["chain"]
        assert (rec["registry"], rec["payment_vault"], rec["cert_verifier"], rec["avs"], rec["operator_set"]) == (
            da["bls_registry"], da["payment_vault"], da["cert_verifier"], accounts[0].address, 3,
        )  # fmt: skip
        # the processes serve gRPC where the record says: a client needs nothing but the record
        assert info["disperser_grpc"] == f"grpc://127.0.0.1:{dport}"
        state = json.loads((folder / "devnet.json").read_text())
        assert [v["grpc_url"] for v in state["validators"]] == [
            f"grpc://127.0.0.1:{nport + i}" for i in (0, 1)
        ]
        (tmp_path / "blob.txt").write_bytes(PAYLOAD)
        cert = tmp_path / "blob.cert"
        r = eigen("put", str(tmp_path / "blob.txt"), "--deployment", str(record), "--key",
                  str(folder / "keys" / "payer.key"), "--payment", "on-demand", "--cert-verifier", da["cert_verifier"],
                  "--rpc", rec["rpc_url"], "--timeout", "120", "-o", str(cert))  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        c = json.loads(cert.read_text())
        assert checker(info).check_da_cert(c) == 1
        pay = c["blob_inclusion_info"]["blob_certificate"]["blob_header"]["payment_header"]
        total = int(pay["cumulative_payment"], 16)
        pv = deployed.da.payment_vault
        deadline = time.monotonic() + 60
        while pv.consumedOnDemand(pay["account_id"]) < total:  # the disperser's claim keeper
            assert time.monotonic() < deadline, "the disperser did not claim the on-demand payment"
            time.sleep(0.2)
        swept = pv.sweep(sender=accounts[1]).return_value
        fee_vault = deployed.avs["fee_vault"]
        assert swept == total > 0 and fee_vault.balanceOf(deployed.da.weth) == total
    finally:
        run("devnet", "down", "--dir", str(folder))


def test_devchain_over_a_recorded_da_deployment(project, accounts, networks, tmp_path) -> None:
    """The chain half alone (no processes): a second devnet (new keys) over the same record finds the AVS's set,
    registrar and quorums made and registers its own validators; a record whose AVS or vault owner is not the
    devnet's key, or a record naming no live DA contracts, is refused with a DevnetProcessError."""
    local = load_da_config("local")
    d = deploy_components(project, accounts[0], Parameters(TEST_CONFIG, da=local), ("da",))
    addresses = d.addresses()
    spec = devchain.ChainSpec(networks.provider.uri, addresses, accounts[0].private_key)
    recs = []
    for name in ("a", "b"):
        bls, eth, _, payer = da_devnet.keys(tmp_path / name, 1)
        payer_address = eth_keys.PrivateKey(payer).public_key.to_checksum_address()
        recs.append(devchain.deploy(tmp_path / name, spec, bls, eth, payer_address))
    assert recs[0]["registry"] == recs[1]["registry"] == addresses["da"]["bls_registry"]
    reg = project.BLSRegistry.at(addresses["da"]["bls_registry"])
    strategies = list(addresses["strategies"].values())[:2]
    assert list(reg.quorums(0)) == strategies
    assert all(reg.isMember(0, op) for rec in recs for op in rec["operators"])  # both in the one set
    # another AVS: the devnet cannot act for it
    other = deploy_da(project, accounts[0], d.core, replace(local, avs=accounts[3].address))
    bls, eth, _, payer = da_devnet.keys(tmp_path / "c", 1)
    with pytest.raises(DevnetProcessError, match="must be both"):
        devchain.deploy(
            tmp_path / "c",
            replace(spec, addresses={**addresses, "da": other.addresses()}),
            bls,
            eth,
            accounts[4].address,
        )
    gone_da = {**addresses, "da": {**addresses["da"], "payment_vault": accounts[5].address}}
    with pytest.raises(DevnetProcessError, match="not live"):
        devchain.deploy(tmp_path / "c", replace(spec, addresses=gone_da), bls, eth, accounts[4].address)
