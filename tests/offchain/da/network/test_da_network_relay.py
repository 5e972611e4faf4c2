"""The relay: GetBlob / GetChunks with the requester's signature checked, blobs copied from the disperser's
metadata database by an ``eigen da relay`` process; ``get`` through the relay, and its fallback to the
validators when the relay is down or lies."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import yaml
from eth_keys import keys as eth_keys
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from offchain.bls.keys import SecretKey
from offchain.da.codec import encode_payload
from offchain.da.errors import DispersalError, NetworkConfigError, NetworkMessageError, RelayRequestError
from offchain.da.network import client
from offchain.da.network.disperser import blob_commitment, encode_chunks
from offchain.da.network.metadata import BlobStatus, MetadataStore
from offchain.da.network.relay import ChunkRequest, Relay, signed_get_chunks
from offchain.da.network.service import relay_app
from offchain.da.network.types import (
    BatchHeader,
    BlobCertificate,
    BlobHeader,
    MerkleTree,
    PaymentHeader,
    sign_digest,
)
from offchain.httpservice import ServiceServer
from offchain.store import Store
from tests.offchain.da.network.support import (
    CLIENT_KEY,
    N_SYMBOLS,
    EncodedBlob,
    eigen,
    encoded_blob,
    encoder,
    network_file,
    node_state,
    operator_keys,
    start_node,
    start_process,
    store_request,
    write_node_config,
)

PAYLOAD = b"an agent's record " * 20


def payload_blob(payload: bytes = PAYLOAD) -> EncodedBlob:
    """``payload`` as a dispersed blob (codec-encoded, so that ``get`` decodes it)."""
    raw = encode_payload(payload)
    assert len(raw) // 32 <= N_SYMBOLS
    account = eth_keys.PrivateKey(CLIENT_KEY).public_key.to_checksum_address()
    header = BlobHeader(0, (0, 1), blob_commitment(encoder(), raw), PaymentHeader(account, 9, 0))
    return EncodedBlob(header, sign_digest(CLIENT_KEY, header.blob_key()), encode_chunks(encoder(), raw), raw)


def certificate(b: EncodedBlob) -> dict:
    """A one-blob batch's certificate for ``b`` (what ``put`` writes; the attestation is not read by ``get``)."""
    bc = BlobCertificate(b.header, b.signature, (0,))
    tree = MerkleTree([bc.hash()])
    return {
        "blob_key": b.header.blob_key().hex(),
        "signed_batch": {"header": BatchHeader(tree.root, 100).to_json(), "attestation": {}},
        "blob_inclusion_info": {
            "blob_certificate": bc.to_json(),
            "blob_index": 0,
            "inclusion_proof": tree.proof(0).hex(),
        },
    }


@pytest.fixture
def relay(tmp_path):
    keys = operator_keys(4)
    store = Store([str(tmp_path / "relay")])
    r = Relay(encoder(), store, {k.public_key().operator_id: k.public_key() for k in keys}, None)
    yield r, keys
    store.close()


def test_get_blob_and_signed_get_chunks(relay):
    r, keys = relay
    b = encoded_blob(3)
    key = b.header.blob_key()
    r.add_blob(key, b.raw)
    with TestClient(relay_app(r)) as http:
        got = http.post("/v2/GetBlob", json={"blob_key": key.hex()})
        assert got.status_code == 200 and bytes.fromhex(got.json()["blob"]) == b.raw
        assert http.post("/v2/GetBlob", json={"blob_key": "00" * 32}).status_code == 404

        reqs = [ChunkRequest(key, (5, 0, 8191)), ChunkRequest(key, None, 10, 13)]
        reply = http.post("/v2/GetChunks", json=signed_get_chunks(reqs, keys[1]))
        assert reply.status_code == 200, reply.text
        size = 32 + 32 * b.L
        for req, data in zip(reqs, reply.json()["data"], strict=True):
            raw = bytes.fromhex(data)
            want = req.wanted()
            assert len(raw) == size * len(want)
            for j, k in enumerate(want):
                chunk = raw[size * j : size * (j + 1)]
                assert (
                    chunk[:32] == b.chunks.proofs[k].tobytes() and chunk[32:] == b.chunks.coeffs[k].tobytes()
                )

        def refused(body: dict, status: int, words: str) -> None:
            res = http.post("/v2/GetChunks", json=body)
            assert res.status_code == status and words in res.json()["error"]["message"], res.text

        good = signed_get_chunks(reqs, keys[1])
        # a signature by another operator's key, claiming keys[1]'s id
        forged = {**signed_get_chunks(reqs, keys[2]), "operator_id": good["operator_id"]}
        refused(forged, 401, "not operator")
        # the signed request altered (another range) keeps no signature
        refused({**good, "chunk_requests": [ChunkRequest(key, None, 0, 4).to_json()]}, 401, "not operator")
        refused(signed_get_chunks(reqs, SecretKey(4242)), 403, "not a known requester")
        refused(signed_get_chunks(reqs, keys[1], timestamp=int(time.time()) - 3600), 400, "from the clock")
        refused({**good, "operator_signature": "ff" * 32}, 401, "operator_signature")
        refused(signed_get_chunks([ChunkRequest(key, (8192,))], keys[1]), 400, "8192 chunks")
        huge = ChunkRequest(key, None, 0, (1 << 32) - 1)  # refused before 2^32 indices are listed
        refused(signed_get_chunks([huge], keys[1]), 400, "chunk index 4294967294")
        refused(signed_get_chunks([ChunkRequest(b"\1" * 32, (1,))], keys[1]), 404, "not held")
        for bad in ({"by_range": {"blob_key": key.hex(), "start_index": 4, "end_index": 4}},
                    {"by_index": {"blob_key": key.hex(), "chunk_indices": []}}, {"by_index": {}, "by_range": {}}):  # fmt: skip
            refused({**good, "chunk_requests": [bad]}, 400, "chunk_requests[0]")
        refused({**good, "extra": 1}, 400, "extra")


def test_get_chunks_request_digest_layout():
    """HashGetChunksRequest's byte layout, written out: domain, length-prefixed operator id, request count,
    'i' requests with their index arrays and 'r' requests with start and end (the timestamp is not hashed)."""
    from eth_hash.auto import keccak

    from offchain.da.network.types import get_chunks_request_digest

    oid, k1, k2 = b"\x11" * 32, b"\x22" * 32, b"\x33" * 32
    u32 = lambda v: v.to_bytes(4, "big")  # noqa: E731
    want = keccak(
        b"relay.GetChunksRequest" + u32(32) + oid + u32(2)
        + b"i" + u32(32) + k1 + u32(3) + u32(7) + u32(0) + u32(70000)
        + b"r" + u32(32) + k2 + u32(5) + u32(9)
    )  # fmt: skip
    reqs = [ChunkRequest(k1, (7, 0, 70000)), ChunkRequest(k2, None, 5, 9)]
    assert get_chunks_request_digest(reqs, oid) == want
    assert get_chunks_request_digest(reqs[::-1], oid) != want


def test_chunk_request_json_errors():
    with pytest.raises(NetworkMessageError, match="uint32"):
        ChunkRequest.from_json({"by_index": {"blob_key": "00" * 32, "chunk_indices": [-1]}}, 0)
    with pytest.raises(NetworkMessageError, match="start_index < end_index"):
        ChunkRequest.from_json({"by_range": {"blob_key": "00" * 32, "start_index": 2, "end_index": 1}}, 0)


def test_relay_copies_only_complete_blobs(relay, tmp_path):
    r, _ = relay
    db = MetadataStore(str(tmp_path / "meta.db"))
    r.source = db
    done, queued = encoded_blob(4, timestamp=2, chunks=False), encoded_blob(5, timestamp=3, chunks=False)
    for b in (done, queued):
        db.add_blob(b.header.blob_key(), b.header.to_json(), b.signature, b.raw)
    assert r.sync() == 0
    db.set_status([done.header.blob_key()], BlobStatus.COMPLETE, inclusion={done.header.blob_key(): {}})
    assert r.sync() == 1 and r.sync() == 0
    assert r.get_blob(done.header.blob_key()) == done.raw
    with pytest.raises(RelayRequestError):
        r.get_blob(queued.header.blob_key())
    # one batch's blobs share an update time: a sync page smaller than the batch still copies every blob
    more = [encoded_blob(10 + i, timestamp=10 + i, chunks=False) for i in range(3)]
    for b in more:
        db.add_blob(b.header.blob_key(), b.header.to_json(), b.signature, b.raw)
    db.set_status(
        [b.header.blob_key() for b in more],
        BlobStatus.COMPLETE,
        inclusion={b.header.blob_key(): {} for b in more},
    )
    r.batch = 2
    assert r.sync() == 2 and r.sync() == 1 and r.sync() == 0
    assert all(r.get_blob(b.header.blob_key()) == b.raw for b in more)
    db.close()


def lying_relay(upstream: str) -> ServiceServer:
    """A relay that answers GetBlob with the real blob, one byte flipped (still canonical symbols)."""

    async def get_blob(request: Request) -> JSONResponse:
        body = httpx.post(f"{upstream}/v2/GetBlob", content=await request.body(), timeout=30).json()
        raw = bytearray(bytes.fromhex(body["blob"]))
        raw[-1] ^= 1
        return JSONResponse({"blob": raw.hex()})

    return ServiceServer(Starlette(routes=[Route("/v2/GetBlob", get_blob, methods=["POST"])]))


def test_relay_process_get_and_fallback(tmp_path):
    """``eigen da relay`` copies a COMPLETE blob from the disperser's database and serves it; ``get`` uses it,
    and falls back to the validators' chunks when the relay lies or is down (one validator process, 40 % of
    the stake, holds enough chunks)."""
    keys = operator_keys(4)
    state = node_state(keys)
    b = payload_blob()
    key = b.header.blob_key()
    db = MetadataStore("sqlite:///" + str(tmp_path / "meta.db"))
    db.add_blob(key, b.header.to_json(), b.signature, b.raw)
    db.set_status([key], BlobStatus.COMPLETE, inclusion={key: {}})
    db.close()
    (tmp_path / "v").mkdir()
    node, info = start_node(write_node_config(tmp_path / "v", keys[3], state))
    big = keys[3].public_key().operator_id
    urls = {big: info["url"]}
    network = network_file(tmp_path / "network.json", keys, state, urls)
    cfg = {
        "port": 0, "store_dir": "rdb", "srs": {"insecure_test_symbols": N_SYMBOLS}, "network": str(network),
        "disperser_metadata": "meta.db", "log_level": "warning",
    }  # fmt: skip
    (tmp_path / "relay.yaml").write_text(yaml.safe_dump(cfg))
    with lying_relay("http://127.0.0.1:9") as gone:
        liar_url = gone.url  # a port that was bound and is closed again: the relay is down
    relay_proc, rinfo = start_process(["relay", "--config", str(tmp_path / "relay.yaml")])
    try:
        r = httpx.post(
            f"{info['url']}/v2/StoreChunks", json=store_request([b], state, big).to_json(), timeout=60
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 60
        while (
            got := httpx.post(f"{rinfo['url']}/v2/GetBlob", json={"blob_key": key.hex()}, timeout=30)
        ).status_code != 200:
            assert got.status_code == 404 and time.monotonic() < deadline, got.text
            time.sleep(0.2)
        assert bytes.fromhex(got.json()["blob"]) == b.raw
        cert = certificate(b)
        payload, served = client.get(cert, state.stakes, urls, encoder(), relays={0: rinfo["url"]})
        assert payload == PAYLOAD and served == client.Served("relay 0")
        with lying_relay(rinfo["url"]) as liar:
            with pytest.raises(DispersalError, match="commitment is not the certificate's"):
                client.blob_from_relay(liar.url, b.header, encoder())
            payload, served = client.get(cert, state.stakes, urls, encoder(), relays={0: liar.url})
            assert payload == PAYLOAD and served.served_by == "validators"
            assert "commitment is not the certificate's" in served.relay_error
        # the relay down: `eigen da get` says the validators served it, and why the relay did not
        (tmp_path / "c.cert.json").write_text(json.dumps(cert))
        (tmp_path / "client.json").write_text(json.dumps(
            {"network": str(network), "srs": {"insecure_test_symbols": N_SYMBOLS}, "relays": {"0": liar_url}}
        ))  # fmt: skip
        out = tmp_path / "out.bin"
        g = eigen(
            "get", str(tmp_path / "c.cert.json"), "--config", str(tmp_path / "client.json"), "-o", str(out)
        )
        assert g.returncode == 0, g.stderr.decode()
        assert out.read_bytes() == PAYLOAD
        event = json.loads(g.stderr.decode().strip().splitlines()[-1])
        assert event["served_by"] == "validators" and "unreachable" in event["relay_error"]
    finally:
        relay_proc.terminate()
        relay_proc.wait(30)
        node.terminate()
        node.wait(30)


def test_relay_config_errors(tmp_path):
    from offchain.da.errors import NetworkConfigError
    from offchain.da.network.config import relay_config

    keys = operator_keys(4)
    network = network_file(tmp_path / "network.json", keys, node_state(keys), {})
    base = {
        "store_dir": "s",
        "srs": {"insecure_test_symbols": 64},
        "network": str(network),
        "disperser_metadata": "m.db",
    }
    path = tmp_path / "relay.yaml"
    path.write_text(yaml.safe_dump(base))
    cfg = relay_config(path)
    assert cfg.source == str(tmp_path / "m.db") and set(cfg.public_keys) == {
        k.public_key().operator_id for k in keys
    }
    for bad, words in (({**base, "extra": 1}, "unknown keys"), ({"store_dir": "s"}, "srs is required"),
                       ({**base, "port": -1}, "port")):  # fmt: skip
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(NetworkConfigError, match=words):
            relay_config(path)


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def test_rate_limits(tmp_path):
    """GetChunks per operator and GetBlob per client address, leaky buckets of bytes: 429 once spent (nothing
    served, another requester unaffected), served again once enough has leaked; a refused request is not charged."""
    from offchain.da.errors import RelayRateLimitError
    from offchain.da.network.config import rate_limits_config
    from offchain.da.network.relay import RateLimits

    keys = operator_keys(4)
    clock = Clock()
    store = Store([str(tmp_path / "relay")])
    b = encoded_blob(3)
    key = b.header.blob_key()
    size = 32 + 32 * b.L  # one chunk's bytes
    # an operator may take 100 chunks per 10 s burst, 10 chunks/s; a client 1.5 blobs per 10 s burst
    limits = RateLimits(get_chunks_bytes_per_s=10 * size, get_chunks_burst_s=10,
                        get_blob_bytes_per_s=1.5 * len(b.raw) / 10, get_blob_burst_s=10)  # fmt: skip
    r = Relay(encoder(), store, {k.public_key().operator_id: k.public_key() for k in keys}, None,
              clock=clock, limits=limits)  # fmt: skip
    r.add_blob(key, b.raw)

    def chunks(k: SecretKey, n: int) -> dict:
        return signed_get_chunks([ChunkRequest(key, None, 0, n)], k, timestamp=int(clock.t))

    r.get_chunks(chunks(keys[0], 60))
    r.get_chunks(chunks(keys[0], 60))  # 60 + 60 > 100: overfills once, while room was left
    with pytest.raises(
        RelayRateLimitError, match=r"GetChunks: rate limit .* for operator .*retry in 2\.0 s"
    ) as err:
        r.get_chunks(chunks(keys[0], 1))
    assert err.value.status == 429 and err.value.retry_after_s == pytest.approx(2.0, abs=0.01)
    r.get_chunks(chunks(keys[1], 60))  # another operator has its own bucket
    clock.t += 1.0  # 10 chunks leak: still full (110 of 100)
    with pytest.raises(RelayRateLimitError):
        r.get_chunks(chunks(keys[0], 1))
    clock.t += 1.5
    assert len(r.get_chunks(chunks(keys[0], 1))["data"]) == 1
    # a forged request is refused before any bucket is touched
    forged = {**chunks(keys[2], 1), "operator_id": keys[3].public_key().operator_id.hex()}
    with pytest.raises(RelayRequestError, match="not operator"):
        r.get_chunks(forged)
    assert r.chunk_limiter.buckets.keys() == {
        f"operator {keys[i].public_key().operator_id.hex()}" for i in (0, 1)
    }

    with TestClient(relay_app(r)) as http:  # the test client's address is "testclient"
        assert http.post("/v2/GetBlob", json={"blob_key": key.hex()}).status_code == 200
        assert http.post("/v2/GetBlob", json={"blob_key": key.hex()}).status_code == 200  # overfills once
        res = http.post("/v2/GetBlob", json={"blob_key": key.hex()})
        assert res.status_code == 429 and res.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
        assert (
            "GetBlob: rate limit" in res.json()["error"]["message"]
            and "client testclient" in res.json()["error"]["message"]
        )
        assert (
            http.post("/v2/GetBlob", json={"blob_key": "00" * 32}).status_code == 404
        )  # unknown: not charged
        clock.t += 10.1
        assert http.post("/v2/GetBlob", json={"blob_key": key.hex()}).status_code == 200
    r.get_blob(key, "10.0.0.9")  # another address has its own bucket
    unlimited = Relay(encoder(), store, {}, None, clock=clock)
    for _ in range(5):
        unlimited.get_blob(key, "x")

    assert rate_limits_config({"get_blob_bytes_per_s": 5}) == RateLimits(get_blob_bytes_per_s=5.0)
    for bad, words in (({"get_blob_burst_s": 0}, "seconds"), ({"get_chunks_bytes_per_s": -1}, "rate"),
                       ({"per_ip": 1}, "expected keys"), ({"get_blob_bytes_per_s": True}, "rate")):  # fmt: skip
        with pytest.raises(NetworkConfigError, match=words):
            rate_limits_config(bad)
    store.close()


def test_request_rate_and_concurrency_limits(tmp_path):
    """EigenDA's operation limits: GetBlob and GetChunks requests per second for all requesters together, GetChunks
    per operator (counted only once its signature is checked), and requests in progress; 429 with when to retry."""
    import threading

    from offchain.da.errors import RelayRateLimitError
    from offchain.da.network.config import rate_limits_config
    from offchain.da.network.relay import RateLimits

    keys = operator_keys(4)
    clock = Clock()
    store = Store([str(tmp_path / "relay")])
    b = encoded_blob(4, chunks=False)
    key = b.header.blob_key()
    limits = RateLimits(get_blob_ops_per_s=2, get_blob_ops_burst=3, get_chunks_ops_per_s=100, get_chunks_ops_burst=6,
                        get_chunks_ops_per_s_operator=1, get_chunks_ops_burst_operator=2)  # fmt: skip
    r = Relay(encoder(), store, {k.public_key().operator_id: k.public_key() for k in keys}, None,
              clock=clock, limits=limits)  # fmt: skip
    r.add_blob(key, b.raw)
    for who in ("a", "b", "c"):  # a burst of 3 GetBlob, whoever asks
        r.get_blob(key, who)
    with pytest.raises(
        RelayRateLimitError, match=r"GetBlob: 2 requests/s for all clients spent; retry in 0\.50 s"
    ):
        r.get_blob(key, "d")
    clock.t += 0.5  # one request's token back
    r.get_blob(key, "d")
    with pytest.raises(RelayRateLimitError):
        r.get_blob(key, "e")

    def chunks(k: SecretKey) -> dict:
        return signed_get_chunks([ChunkRequest(key, None, 0, 1)], k, timestamp=int(clock.t))

    r.get_chunks(chunks(keys[0]))
    r.get_chunks(chunks(keys[0]))  # the operator's burst of 2
    with pytest.raises(RelayRateLimitError, match=r"GetChunks: 1 requests/s for operator .* spent") as err:
        r.get_chunks(chunks(keys[0]))
    assert err.value.status == 429 and err.value.retry_after_s == pytest.approx(1.0)
    r.get_chunks(chunks(keys[1]))  # another operator: its own budget
    forged = {**chunks(keys[2]), "operator_id": keys[1].public_key().operator_id.hex()}
    with pytest.raises(
        RelayRequestError, match="not operator"
    ):  # a forged request spends no operator's budget
        r.get_chunks(forged)
    r.get_chunks(chunks(keys[1]))
    with pytest.raises(
        RelayRateLimitError, match="requests/s for all operators spent"
    ):  # 6 counted (refused ones too): the relay's burst
        r.get_chunks(chunks(keys[3]))
    clock.t += 1.0
    r.get_chunks(chunks(keys[0]))

    # requests in progress: a second GetBlob while one is held is refused at once, served after
    busy = Relay(encoder(), store, {}, None, clock=clock, limits=RateLimits(max_concurrent_get_blob=1))
    inside, release = threading.Event(), threading.Event()
    real = busy._get_blob

    def slow(k, c):
        inside.set()
        release.wait(10)
        return real(k, c)

    busy._get_blob = slow
    t = threading.Thread(target=busy.get_blob, args=(key, "x"))
    t.start()
    assert inside.wait(10)
    with pytest.raises(RelayRateLimitError, match="GetBlob: 1 requests already in progress"):
        busy.get_blob(key, "y")
    release.set()
    t.join(10)
    busy._get_blob = real
    assert busy.get_blob(key, "y") == b.raw and busy.blob_ops.running == 0

    assert rate_limits_config(
        {"get_chunks_ops_per_s_operator": 3, "max_concurrent_get_chunks": 8}
    ) == RateLimits(get_chunks_ops_per_s_operator=3.0, max_concurrent_get_chunks=8.0)
    for bad, words in (({"get_blob_ops_burst": 0}, "whole number"), ({"get_blob_ops_burst": 1.5}, "whole number"),
                       ({"max_concurrent_get_blob": -1}, "whole number"), ({"get_blob_ops_per_s": -2}, "rate")):  # fmt: skip
        with pytest.raises(NetworkConfigError, match=words):
            rate_limits_config(bad)
    store.close()
