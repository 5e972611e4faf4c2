"""Retrieval from validator processes on loopback: one killed, one serving corrupted chunks."""

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.da.errors import RecoveryError
from offchain.da.network.retrieval import retrieve_blob
from offchain.httpservice import ServiceServer
from tests.offchain.da.network.support import (
    encoded_blob,
    encoder,
    node_state,
    operator_keys,
    start_node,
    store_request,
    write_node_config,
)


def corrupting_proxy(upstream: str) -> ServiceServer:
    """A validator that answers GetChunks with its real chunks, one coefficient byte flipped in each."""

    async def get_chunks(request: Request) -> JSONResponse:
        r = httpx.post(f"{upstream}/v2/GetChunks", content=await request.body(), timeout=30)
        body = r.json()
        chunks = []
        for c in body["chunks"]:
            raw = bytearray(bytes.fromhex(c))
            raw[-1] ^= 1
            chunks.append(raw.hex())
        return JSONResponse({**body, "chunks": chunks})

    return ServiceServer(Starlette(routes=[Route("/v2/GetChunks", get_chunks, methods=["POST"])]))


@pytest.fixture
def network(tmp_path):
    keys = operator_keys()
    state = node_state(keys)
    procs, urls = [], {}
    try:
        for i, k in enumerate(keys):
            d = tmp_path / f"node{i}"
            d.mkdir()
            proc, info = start_node(write_node_config(d, k, state))
            procs.append(proc)
            urls[k.public_key().operator_id] = info["url"]
        yield keys, state, procs, urls
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)


def test_retrieve_with_a_killed_and_a_lying_validator(network):
    keys, state, procs, urls = network
    blob = encoded_blob(7)
    ids = [k.public_key().operator_id for k in keys]
    with httpx.Client(timeout=60) as http:
        for oid in ids:
            r = http.post(f"{urls[oid]}/v2/StoreChunks", json=store_request([blob], state, oid).to_json())
            assert r.status_code == 200, r.text
    procs[0].terminate()
    procs[0].wait(30)
    with corrupting_proxy(urls[ids[1]]) as liar:
        served = {ids[0]: urls[ids[0]], ids[1]: liar.url, ids[2]: urls[ids[2]]}
        got = retrieve_blob(blob.header, state.stakes, served, encoder())
        assert got.blob == blob.raw and got.validators_used == [ids[2]]
        assert ids[1] not in got.validators_used and ids[0] not in got.validators_used
        for oid, why in got.skipped.items():
            assert oid != ids[2]
            assert ("unavailable" in why) if oid == ids[0] else True
            assert ("fail verification" in why) if oid == ids[1] else True
        with pytest.raises(RecoveryError) as err:
            retrieve_blob(blob.header, state.stakes, {ids[0]: urls[ids[0]], ids[1]: liar.url}, encoder())
        assert "unavailable" in str(err.value) and "fail verification" in str(err.value)
