"""The disperser and the client end to end on loopback: four ``eigen da node`` processes, one ``eigen da
disperser`` process, ``eigen da put`` / ``eigen da get``; a validator killed before get, the disperser
restarted (statuses survive), validators down below the threshold (FAILED, no certificate); bad input."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from offchain.da.network.metadata import BlobStatus, MetadataStore
from tests.offchain.da.network.support import (
    CLIENT_KEY,
    eigen,
    network_file,
    node_state,
    operator_keys,
    relay_holds,
    start_node,
    start_process,
    write_disperser_config,
    write_node_config,
)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dnet")
    keys = operator_keys(4)  # stakes 1, 2, 3, 4 in quorums 0 and 1
    state = node_state(keys)
    nodes, urls = {}, {}
    try:
        for i, k in enumerate(keys):
            d = tmp / f"v{i}"
            d.mkdir()
            proc, info = start_node(write_node_config(d, k, state))
            nodes[k.public_key().operator_id] = proc
            urls[k.public_key().operator_id] = info["url"]
        network = network_file(tmp / "network.json", keys, state, urls)
        cfg = write_disperser_config(tmp, network)
        disperser = {}
        disperser["proc"], info = start_process(["disperser", "--config", str(cfg)])
        disperser["url"] = info["url"]
        (tmp / "client.json").write_text(
            json.dumps({"network": str(network), "srs": {"insecure_test_symbols": 64}})
        )
        # a relay copying the disperser's certified blobs from its metadata database
        (tmp / "relay.json").write_text(json.dumps({
            "port": 0, "store_dir": "relay", "srs": {"insecure_test_symbols": 64}, "network": str(network),
            "disperser_metadata": "meta.db", "log_level": "warning",
        }))  # fmt: skip
        disperser["relay"], info = start_process(["relay", "--config", str(tmp / "relay.json")])
        (tmp / "client-relay.json").write_text(
            json.dumps(
                {"network": str(network), "srs": {"insecure_test_symbols": 64}, "relays": {"0": info["url"]}}
            )
        )
        (tmp / "payer.key").write_text(CLIENT_KEY.hex())
        yield {"tmp": tmp, "keys": keys, "nodes": nodes, "disperser": disperser, "cfg": cfg, "state": state}
    finally:
        for p in [*nodes.values(), *(disperser[k] for k in ("proc", "relay") if k in disperser)]:
            p.terminate()
            p.wait(30)


def put(net, name: str, payload: bytes) -> subprocess.CompletedProcess:
    src = net["tmp"] / name
    src.write_bytes(payload)
    return eigen("put", str(src), "--disperser", net["disperser"]["url"], "--key", str(net["tmp"] / "payer.key"),
                 "--timeout", "120")  # fmt: skip


def test_put_restart_kill_get(net):
    tmp = net["tmp"]
    payload = bytes(range(256)) * 4 + b"record"
    r = put(net, "rec.bin", payload)
    assert r.returncode == 0, r.stderr.decode()
    cert = json.loads((tmp / "rec.bin.cert.json").read_text())
    att = cert["signed_batch"]["attestation"]
    assert att["quorum_numbers"] == [0, 1] and att["quorum_signed_percentages"] == [100, 100]
    assert att["non_signer_pubkeys"] == []

    # the relay holds the certified blob (copied from the disperser's database): get is served by it
    out = tmp / "rec.relay.out"
    relay_url = json.loads((tmp / "client-relay.json").read_text())["relays"]["0"]
    assert relay_holds(relay_url, cert["blob_key"]), "the relay did not copy the certified blob within 60 s"
    g = eigen(
        "get", str(tmp / "rec.bin.cert.json"), "--config", str(tmp / "client-relay.json"), "-o", str(out)
    )
    assert g.returncode == 0, g.stderr.decode()
    assert json.loads(g.stderr.splitlines()[-1]) == {
        "event": "retrieved",
        "served_by": "relay 0",
        "relay_error": None,
    }
    assert out.read_bytes() == payload

    # the disperser restarted: the acknowledged blob's status and certificate are still there
    d = net["disperser"]
    d["proc"].terminate()
    d["proc"].wait(30)
    d["proc"], info = start_process(["disperser", "--config", str(net["cfg"])])
    d["url"] = info["url"]
    st = httpx.post(f"{d['url']}/v2/GetBlobStatus", json={"blob_key": cert["blob_key"]}, timeout=30).json()
    assert st["status"] == "COMPLETE"
    assert (
        st["blob_inclusion_info"] == cert["blob_inclusion_info"]
        and st["signed_batch"] == cert["signed_batch"]
    )

    # one validator (the largest stake) killed before get: the blob comes from the others' verified chunks
    big = net["keys"][3].public_key().operator_id
    net["nodes"][big].terminate()
    net["nodes"][big].wait(30)
    out = tmp / "rec.out"
    g = eigen("get", str(tmp / "rec.bin.cert.json"), "--config", str(tmp / "client.json"), "-o", str(out))
    assert g.returncode == 0, g.stderr.decode()
    assert out.read_bytes() == payload

    # a certificate whose inclusion proof was altered is refused with one line, exit 2
    bad = json.loads((tmp / "rec.bin.cert.json").read_text())
    bad["blob_inclusion_info"]["blob_index"] = 1
    (tmp / "bad.cert.json").write_text(json.dumps(bad))
    g = eigen("get", str(tmp / "bad.cert.json"), "--config", str(tmp / "client.json"))
    assert g.returncode == 2 and b"inclusion proof" in g.stderr and g.stderr.count(b"\n") == 1

    # two more validators down: 1 + 2 of 10 stake would sign at most, below 55 %: FAILED, no certificate
    for k in net["keys"][1:3]:
        oid = k.public_key().operator_id
        net["nodes"][oid].terminate()
        net["nodes"][oid].wait(30)
    r = put(net, "late.bin", b"too late")
    assert r.returncode == 2 and b"FAILED" in r.stderr and b"confirmation threshold" in r.stderr, r.stderr
    assert not (tmp / "late.bin.cert.json").exists()


def test_bad_input_one_line_exit_2(net, tmp_path):
    tmp = net["tmp"]
    cases = [
        ("put", str(tmp_path / "missing.bin"), "--disperser", net["disperser"]["url"], "--key", str(tmp / "payer.key")),
        ("get", str(tmp_path / "missing.cert"), "--config", str(tmp / "client.json")),
    ]  # fmt: skip
    (tmp_path / "junk.cert").write_text("{not json")
    (tmp_path / "fields.cert").write_text(json.dumps({"blob_key": "00"}))
    cases += [
        ("get", str(tmp_path / n), "--config", str(tmp / "client.json")) for n in ("junk.cert", "fields.cert")
    ]
    for args in cases:
        r = eigen(*args)
        assert r.returncode == 2 and r.stderr.startswith(b"eigen: error:") and r.stderr.count(b"\n") == 1, (
            args,
            r,
        )
    big = put(net, "big.bin", b"x" * 4000)  # 4000 bytes: 256 symbols, the disperser takes 64
    assert big.returncode == 2 and b"413" in big.stderr and big.stderr.count(b"\n") == 1, big.stderr


def test_metadata_survives_reopen(tmp_path):
    url = "sqlite:///" + str(tmp_path / "m.db")
    db = MetadataStore(url)
    assert db.add_blob(b"\x01" * 32, {"h": 1}, b"\x02" * 65, b"data")
    assert not db.add_blob(b"\x01" * 32, {"h": 1}, b"\x02" * 65, b"data")  # a repeat is not a second blob
    db.close()
    db = MetadataStore(url)
    assert db.pending(10) == [(b"\x01" * 32, {"h": 1}, b"\x02" * 65, b"data")]
    assert db.blob(b"\x01" * 32)["status"] == BlobStatus.QUEUED
    db.set_status([b"\x01" * 32], BlobStatus.FAILED, "below threshold")
    assert db.pending(10) == [] and db.blob(b"\x01" * 32)["reason"] == "below threshold"
    db.close()


def test_disperse_blob_checks_in_process(tmp_path):
    """The API's refusals (typed, with EigenDA's statuses) and FAILED when no validator signs."""
    from starlette.testclient import TestClient

    from offchain.da.network import client
    from offchain.da.network.disperser import Disperser
    from offchain.da.network.service import disperser_app
    from tests.offchain.da.network.support import CLIENT_KEY, DISPERSER_KEY, encoded_blob, encoder

    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    db = MetadataStore(str(tmp_path / "meta.db"))
    d = Disperser(DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db)  # no validator reachable
    b, other = encoded_blob(1, timestamp=5, chunks=False), encoded_blob(2, timestamp=6, chunks=False)
    body = {"blob": b.raw.hex(), "blob_header": b.header.to_json(), "signature": b.signature.hex()}
    with TestClient(disperser_app(d)) as http:

        def call(method: str, payload: dict, status: int) -> dict:
            r = http.post(f"/v2/{method}", json=payload)
            assert r.status_code == status, r.text
            return r.json()

        com = call("GetBlobCommitment", {"blob": b.raw.hex()}, 200)["blob_commitment"]
        assert com == b.header.commitment.to_json()
        assert (
            "not by the account"
            in call("DisperseBlob", {**body, "signature": other.signature.hex()}, 401)["error"]["message"]
        )
        assert (
            "commitment" in call("DisperseBlob", {**body, "blob": other.raw.hex()}, 400)["error"]["message"]
        )
        call("DisperseBlob", {**body, "blob": (b.raw * 2).hex()}, 413)
        call("DisperseBlob", {**body, "extra": 1}, 400)
        # an anchor signature (optional over HTTP too) that a disperser without a chain id cannot check
        anchor = client.anchor_fields(CLIENT_KEY, b.header.blob_key(), 1, 0)
        err = call("DisperseBlob", {**body, **anchor}, 400)["error"]
        assert err["code"] == "INVALID_ARGUMENT" and "no chain_id configured" in err["message"]
        assert call("DisperseBlob", body, 200) == {"result": "QUEUED", "blob_key": b.header.blob_key().hex()}
        call("DisperseBlob", body, 409)
        call("GetBlobStatus", {"blob_key": other.header.blob_key().hex()}, 404)
        assert d.run_batch() and not d.run_batch()
        st = call("GetBlobStatus", {"blob_key": b.header.blob_key().hex()}, 200)
        assert st["status"] == "FAILED" and "quorum 0: 0% signed" in st["failure_reason"]
        assert "blob_inclusion_info" not in st
        # the failed batch counts as unsigned for every operator of its quorums (GetValidatorSigningRate)
        op = keys[0].public_key().operator_id.hex()
        q = {"validator_id": op, "quorum": 1, "start_timestamp": 0, "end_timestamp": 1 << 40}
        rate = call("GetValidatorSigningRate", q, 200)["validator_signing_rate"]
        assert rate["unsigned_batches"] == 1 and rate["signed_batches"] == 0
        assert rate["unsigned_bytes"] == len(b.raw) and rate["signing_latency"] == 0
    db.close()


@pytest.mark.parametrize("in_flight", [1, 2])
def test_batches_in_flight(tmp_path, in_flight):
    """With ``batches_in_flight`` 2 a second batch is dispersed while the first waits for the validators'
    signatures (each blob in one batch only); with 1 it waits its turn. Both end COMPLETE in their own batches."""
    import threading

    from offchain.da.network.disperser import Disperser
    from offchain.da.network.metadata import BlobStatus
    from offchain.da.network.node import ValidatorNode
    from offchain.da.network.service import node_app
    from offchain.httpservice import ServiceServer
    from offchain.store import Store
    from tests.offchain.da.network.support import DISPERSER_KEY, encoded_blob, encoder

    keys = operator_keys(4)
    state = node_state(keys)
    gate = threading.Event()  # every validator holds its StoreChunks until the gate opens
    servers, stores, urls = [], [], {}
    for i, k in enumerate(keys):
        store = Store([str(tmp_path / f"v{i}")])
        node = ValidatorNode(k, state, encoder(), store)
        real = node.store_chunks
        node.store_chunks = lambda req, real=real: (gate.wait(60), real(req))[1]
        srv = ServiceServer(node_app(node), log_level="warning").__enter__()
        servers.append(srv)
        stores.append(store)
        urls[k.public_key().operator_id] = srv.url
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    db = MetadataStore(str(tmp_path / "meta.db"))
    d = Disperser(
        DISPERSER_KEY, 0, encoder(), state.stakes, urls, pks, db, batch_size=1, batches_in_flight=in_flight
    )
    blobs = [encoded_blob(10 + i, timestamp=time.time_ns() + i, chunks=False) for i in range(2)]
    d.start()
    try:
        for b in blobs:
            d.disperse_blob(b.raw, b.header, b.signature)
        keys_ = [b.header.blob_key() for b in blobs]

        def statuses():
            return [db.blob(k)["status"] for k in keys_]

        deadline = time.monotonic() + 60
        while BlobStatus.GATHERING_SIGNATURES not in statuses() and time.monotonic() < deadline:
            time.sleep(0.05)
        if in_flight > 1:  # each batcher takes a blob: wait for the second
            while (
                statuses().count(BlobStatus.GATHERING_SIGNATURES) < in_flight and time.monotonic() < deadline
            ):
                time.sleep(0.05)
        else:
            time.sleep(
                1.5
            )  # time enough for a second batcher (there is none) to encode and send the other blob
        gathering = statuses().count(BlobStatus.GATHERING_SIGNATURES)
        assert gathering == in_flight, statuses()
        gate.set()
        while time.monotonic() < deadline and statuses() != [BlobStatus.COMPLETE] * 2:
            time.sleep(0.05)
        rows = [db.blob(k) for k in keys_]
        assert [r["status"] for r in rows] == [BlobStatus.COMPLETE] * 2, [r["reason"] for r in rows]
        roots = {r["signed_batch"]["header"]["batch_root"] for r in rows}
        assert len(roots) == 2 and all(r["inclusion"]["blob_index"] == 0 for r in rows)  # one batch each
    finally:
        gate.set()
        d.stop()
        for s in servers:
            s.__exit__(None, None, None)
        for s in stores:
            s.close()
        db.close()


def test_backend_setting(tmp_path, monkeypatch):
    """``backend`` picks the encoder's array module (``cpu`` by default, any spelling ``--backend`` takes),
    an unknown one is a typed configuration error, and ``gpu`` on a machine without a device fails when the
    disperser is built, naming the backend; the encoder keeps its FK20 tables in ``EIGEN_DA_CACHE``."""
    import yaml

    from offchain import backend, settings
    from offchain.da.errors import NetworkConfigError
    from offchain.da.network.config import disperser_config
    from offchain.da.network.service import disperser_server
    from offchain.errors import BackendError

    monkeypatch.setenv(settings.DA_CACHE.name, str(tmp_path / "tables"))
    keys = operator_keys(4)
    cfg = write_disperser_config(
        tmp_path, network_file(tmp_path / "network.json", keys, node_state(keys), {})
    )
    base = yaml.safe_load(cfg.read_text())
    assert disperser_config(cfg).backend == "cpu"
    _, disperser = disperser_server(disperser_config(cfg))
    assert disperser.encoder.backend == "cpu"
    assert disperser.encoder.table_cache == str(tmp_path / "tables")
    for spelling, name in (("numpy", "cpu"), ("cupy", "gpu")):
        cfg.write_text(yaml.safe_dump({**base, "backend": spelling}))
        assert disperser_config(cfg).backend == name
    for bad in ("tpu", 1, None):
        cfg.write_text(yaml.safe_dump({**base, "backend": bad}))
        with pytest.raises(NetworkConfigError, match="backend"):
            disperser_config(cfg)
    try:
        backend.get_backend("gpu")
    except BackendError:
        cfg.write_text(yaml.safe_dump({**base, "backend": "gpu"}))
        with pytest.raises(BackendError, match="gpu"):
            disperser_server(disperser_config(cfg))
