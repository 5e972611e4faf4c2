"""`eigen da node --config FILE` as a process on loopback: StoreChunks, GetChunks, refusals over HTTP."""

import json

import httpx
import pytest

from offchain.bls.keys import verify_single
from offchain.crypto import bn254
from offchain.da.errors import NetworkConfigError
from offchain.da.network.config import node_config
from tests.offchain.da.network.support import (
    encoded_blob,
    node_state,
    operator_keys,
    start_node,
    store_request,
    write_node_config,
)


@pytest.fixture
def node_process(tmp_path):
    keys = operator_keys()
    state = node_state(keys)
    cfg = write_node_config(tmp_path, keys[2], state)
    proc, info = start_node(cfg)
    try:
        yield info["url"], keys, state, info
    finally:
        proc.terminate()
        proc.wait(30)


def test_node_process_stores_signs_and_serves(node_process):
    url, keys, state, info = node_process
    me = keys[2].public_key().operator_id
    assert info["operator_id"] == me.hex()
    blob = encoded_blob(3)
    req = store_request([blob], state, me)
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post("/v2/StoreChunks", json=req.to_json())
        assert r.status_code == 200, r.text
        sigma = bn254.g1_to_ints(bn254.g1_decompress(bytes.fromhex(r.json()["signature"])))[0]
        assert verify_single(req.header.hash(), keys[2].public_key(), sigma)
        key = blob.header.blob_key().hex()
        r = http.post("/v2/GetChunks", json={"blob_key": key, "quorum_id": 0})
        assert r.status_code == 200 and r.json()["chunk_encoding_format"] == 1
        assert len(r.json()["chunks"]) == (len(req.bundles[0]) - 8) // (32 + 32 * blob.L)
        # refusals: typed JSON errors with the check's status
        bad = req.to_json()
        bad["signature"] = "00" * 65
        r = http.post("/v2/StoreChunks", json=bad)
        assert r.status_code == 401 and "signature" in r.json()["error"]["message"]
        r = http.post("/v2/StoreChunks", json={"batch": {}})
        assert r.status_code == 400
        r = http.post("/v2/StoreChunks", content=b"{not json")
        assert r.status_code == 400
        r = http.post("/v2/GetChunks", json={"blob_key": "00" * 32, "quorum_id": 0})
        assert r.status_code == 404
        r = http.post("/v2/GetChunks", json={"blob_key": "00", "quorum_id": 0})
        assert r.status_code == 400
        info = http.get("/v2/GetNodeInfo").json()
        assert info["chunks_stored"] == 1 and info["num_cpu"] >= 1 and info["mem_bytes"] > 0
        assert set(info) == {"semver", "arch", "os", "num_cpu", "mem_bytes", "operator_id", "chunks_stored"}
        assert "da_node_blobs_stored 1" in http.get("/metrics").text


def test_node_config_errors(tmp_path):
    keys = operator_keys()
    state = node_state(keys)
    good = write_node_config(tmp_path, keys[0], state, ".json")
    cfg = node_config(good)
    assert cfg.state.stakes == state.stakes and cfg.port == 0
    base = json.loads(good.read_text())
    for change in (
        {"extra": 1},
        {"port": 70000},
        {"srs": {}},
        {"network": {"operators": [{"operator_id": "00"}]}},
    ):
        p = tmp_path / "bad.json"
        p.write_text(json.dumps({**base, **change}))
        with pytest.raises(NetworkConfigError):
            node_config(p)
    (tmp_path / "broken.yaml").write_text("a: [")
    with pytest.raises(NetworkConfigError):
        node_config(tmp_path / "broken.yaml")
    with pytest.raises(NetworkConfigError):
        node_config(tmp_path / "absent.json")
