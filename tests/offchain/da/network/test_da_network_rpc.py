"""The gRPC fronts (rpc.py) on loopback, in process: four validators (StoreChunks over HTTP, validator.Retrieval
over gRPC), a disperser serving disperser.v2.Disperser, a relay serving relay.Relay. The client puts over gRPC,
gets the certificate, and gets the bytes back over gRPC from the relay and from the validators; every refusal
has its gRPC status and message, through the client and through the generated stubs; malformed protobuf bytes
are INVALID_ARGUMENT and the server keeps serving."""

from __future__ import annotations

import time

import grpc
import pytest

from offchain.da.errors import DispersalError, GrpcCallError
from offchain.da.network import client, wire
from offchain.da.network.disperser import Disperser
from offchain.da.network.metadata import MetadataStore
from offchain.da.network.node import ValidatorNode
from offchain.da.network.proto import (
    disperser_v2_pb2,
    disperser_v2_pb2_grpc,
    node_v2_pb2,
    node_v2_pb2_grpc,
    relay_pb2,
    relay_pb2_grpc,
)
from offchain.da.network.relay import Relay, signed_get_chunks
from offchain.da.network.rpc import GrpcServer, disperser_grpc, node_grpc, relay_grpc
from offchain.da.network.types import ChunkRequest
from offchain.httpservice import ServiceError
from offchain.store import Store
from tests.offchain.da.network.support import (
    CLIENT_KEY,
    DISPERSER_KEY,
    encoded_blob,
    encoder,
    node_state,
    operator_keys,
    store_request,
)

DISPERSER = "disperser.v2.Disperser"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grpcnet")
    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    stops, stores, grpc_urls = [], [], {}
    try:
        for i, k in enumerate(
            keys
        ):  # validators on gRPC only: StoreChunks (validator.Dispersal) and GetChunks
            store = Store([str(tmp / f"v{i}")])
            stores.append(store)
            g = node_grpc(ValidatorNode(k, state, encoder(), store), "127.0.0.1", 0).start()
            stops.append(g.stop)
            grpc_urls[k.public_key().operator_id] = g.url
        db = MetadataStore(str(tmp / "meta.db"))
        d = Disperser(
            DISPERSER_KEY, 0, encoder(), state.stakes, grpc_urls, pks, db, reference_block_number=100
        )
        dg = disperser_grpc(d, "127.0.0.1", 0, max_request_bytes=1 << 16).start()
        d.start()
        stops += [dg.stop, d.stop, db.close]
        rstore = Store([str(tmp / "relay")])
        stores.append(rstore)
        relay = Relay(encoder(), rstore, pks, MetadataStore(str(tmp / "meta.db")), poll_s=0.1)
        rg = relay_grpc(relay, "127.0.0.1", 0).start()
        relay.start()
        stops += [rg.stop, relay.stop]
        yield {"keys": keys, "state": state, "disperser": dg.url, "relay": rg.url, "validators": grpc_urls,
               "db": db, "relay_obj": relay}  # fmt: skip
    finally:
        for stop in reversed(stops):
            stop()
        for s in stores:
            s.close()


def test_put_and_get_over_grpc(net):
    """put over gRPC to its certificate (the disperser's StoreChunks to the validators over gRPC too); get it back
    over gRPC from the relay, then from the validators."""
    payload = b"over grpc " * 150
    cert = client.put(net["disperser"], payload, CLIENT_KEY, timeout_s=120)
    att = cert["signed_batch"]["attestation"]
    assert att["quorum_signed_percentages"] == [100, 100] and att["non_signer_pubkeys"] == []
    # the certificate over gRPC is the disperser's own record (points through compression and back)
    row = net["db"].blob(bytes.fromhex(cert["blob_key"]))
    assert cert["signed_batch"] == row["signed_batch"] and cert["blob_inclusion_info"] == row["inclusion"]

    deadline = time.monotonic() + 60
    while not net["relay_obj"].blobs.exists(bytes.fromhex(cert["blob_key"])) and time.monotonic() < deadline:
        time.sleep(0.1)
    got, served = client.get(cert, net["state"].stakes, {}, encoder(), relays={0: net["relay"]})
    assert got == payload and served.served_by == "relay 0"
    got, served = client.get(cert, net["state"].stakes, net["validators"], encoder())
    assert got == payload and served.served_by == "validators"

    # the stock generated stubs (as any gRPC client would call them) read the same replies
    with grpc.insecure_channel(net["relay"][7:]) as ch:
        reply = relay_pb2_grpc.RelayStub(ch).GetBlob(
            relay_pb2.GetBlobRequest(blob_key=bytes.fromhex(cert["blob_key"]))
        )
    assert (
        len(reply.blob)
        == 32 * cert["blob_inclusion_info"]["blob_certificate"]["blob_header"]["commitment"]["length"]
    )
    key = bytes.fromhex(cert["blob_key"])
    big = net["keys"][3].public_key().operator_id
    with grpc.insecure_channel(net["validators"][big][7:]) as ch:
        chunks = node_v2_pb2_grpc.RetrievalStub(ch).GetChunks(node_v2_pb2.GetChunksRequest(blob_key=key))
    assert chunks.chunk_encoding_format == node_v2_pb2.GNARK and len(chunks.chunks) > 0
    with grpc.insecure_channel(net["disperser"][7:]) as ch:
        st = disperser_v2_pb2_grpc.DisperserStub(ch).GetBlobStatus(
            disperser_v2_pb2.BlobStatusRequest(blob_key=key)
        )
    assert st.status == disperser_v2_pb2.COMPLETE and st.blob_inclusion_info.blob_certificate.relay_keys == [
        0
    ]
    assert (
        st.signed_batch.header.reference_block_number == 100 and len(st.signed_batch.attestation.sigma) == 32
    )


def _refused(url: str, service: str, method: str, body: dict, code: str, words: str) -> None:
    with pytest.raises(GrpcCallError) as exc:
        wire.grpc_call(url, service, method, body, 30)
    assert exc.value.code == code and words in exc.value.message, exc.value


def test_disperser_refusals_over_grpc(net):
    url = net["disperser"]
    b, other = encoded_blob(21, timestamp=time.time_ns()), encoded_blob(22, timestamp=time.time_ns())
    body = {"blob": b.raw.hex(), "blob_header": b.header.to_json(), "signature": b.signature.hex()}

    _refused(url, DISPERSER, "DisperseBlob", {**body, "signature": other.signature.hex()}, "UNAUTHENTICATED",
             "not by the account")  # fmt: skip
    _refused(
        url, DISPERSER, "DisperseBlob", {**body, "blob": other.raw.hex()}, "INVALID_ARGUMENT", "commitment"
    )
    _refused(url, DISPERSER, "DisperseBlob", {**body, "blob": (b.raw * 2).hex()}, "INVALID_ARGUMENT",
             "takes at most 64")  # fmt: skip
    _refused(url, DISPERSER, "DisperseBlob", {**body, "blob": "01" * 31}, "INVALID_ARGUMENT", "power of two")
    _refused(url, DISPERSER, "DisperseBlob", {**body, "signature": "00" * 64}, "INVALID_ARGUMENT", "65")
    no_header = {"blob": body["blob"], "signature": body["signature"]}
    _refused(url, DISPERSER, "DisperseBlob", no_header, "INVALID_ARGUMENT", "missing ['blob_header']")
    _refused(url, DISPERSER, "DisperseBlob", {**body, "anchor_signature": "11" * 65}, "INVALID_ARGUMENT",
             "anchor_signature")  # fmt: skip
    _refused(url, DISPERSER, "GetBlobStatus", {"blob_key": "00" * 32}, "NOT_FOUND", "unknown")
    _refused(url, DISPERSER, "GetBlobStatus", {"blob_key": "00" * 31}, "INVALID_ARGUMENT", "31 bytes")
    _refused(url, DISPERSER, "GetPaymentState", {"account_id": "0x" + "11" * 20, "signature": "00" * 65}, "UNIMPLEMENTED",
             "does not meter payments")  # fmt: skip
    # over the process's max_request_bytes (64 KiB here): gRPC's own limit
    _refused(url, DISPERSER, "GetBlobCommitment", {"blob": "00" * (1 << 17)}, "RESOURCE_EXHAUSTED", "")

    # accepted once, then ALREADY_EXISTS; the client names the code
    assert wire.grpc_call(url, DISPERSER, "DisperseBlob", body, 30)["result"] == "QUEUED"
    _refused(url, DISPERSER, "DisperseBlob", body, "ALREADY_EXISTS", "already dispersed")
    with pytest.raises(DispersalError, match=r"GetBlobStatus: refused \(gRPC NOT_FOUND\)") as exc:
        client._call(url, "GetBlobStatus", {"blob_key": "00" * 32}, 30)
    assert exc.value.code == "NOT_FOUND"
    # a client without a metering disperser sends a reservation header, as over HTTP
    assert client.payment_state(url, CLIENT_KEY) is None

    # malformed protobuf bytes, through a raw channel: INVALID_ARGUMENT, and the server still answers
    with grpc.insecure_channel(url[7:]) as ch:
        for method in ("DisperseBlob", "GetBlobStatus", "GetBlobCommitment", "GetPaymentState"):
            with pytest.raises(grpc.RpcError) as err:
                ch.unary_unary(f"/{DISPERSER}/{method}")(b"\x0a\xff\xff\xff\x0f", timeout=10)
            assert (
                err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                and "malformed protobuf" in err.value.details()
            )
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary(f"/{DISPERSER}/GetValidatorSigningRate")(b"", timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        stub = disperser_v2_pb2_grpc.DisperserStub(ch)
        reply = stub.GetBlobCommitment(disperser_v2_pb2.BlobCommitmentRequest(blob=b.raw))
        assert (
            reply.blob_commitment.length == 64
            and reply.blob_commitment.commitment == b.header.commitment.commitment
        )


def test_relay_and_validator_refusals_over_grpc(net):
    key = encoded_blob(23).header.blob_key()
    _refused(net["relay"], "relay.Relay", "GetBlob", {"blob_key": key.hex()}, "NOT_FOUND", "not held")
    reqs = [ChunkRequest(key, (1,))]
    stranger = signed_get_chunks(reqs, operator_keys(5)[4])
    _refused(net["relay"], "relay.Relay", "GetChunks", stranger, "PERMISSION_DENIED", "not a known requester")
    forged = {
        **signed_get_chunks(reqs, net["keys"][2]),
        "operator_id": net["keys"][1].public_key().operator_id.hex(),
    }
    _refused(net["relay"], "relay.Relay", "GetChunks", forged, "UNAUTHENTICATED", "not operator")
    _refused(
        net["relay"],
        "relay.Relay",
        "GetChunks",
        signed_get_chunks(reqs, net["keys"][1]),
        "NOT_FOUND",
        "not held",
    )
    _refused(net["relay"], "relay.Relay", "GetChunks", {**stranger, "chunk_requests": []}, "INVALID_ARGUMENT",
             "non-empty")  # fmt: skip
    v = next(iter(net["validators"].values()))
    _refused(v, "validator.Retrieval", "GetChunks", {"blob_key": key.hex()}, "NOT_FOUND", "not stored here")
    _refused(
        v,
        "validator.Retrieval",
        "GetChunks",
        {"blob_key": "00", "quorum_id": 0},
        "INVALID_ARGUMENT",
        "1 bytes",
    )
    _refused(v, "validator.Retrieval", "GetChunks", {"blob_key": key.hex(), "quorum_id": 300}, "INVALID_ARGUMENT",
             "quorum number")  # fmt: skip


def test_store_chunks_refusals_over_grpc(net):
    """validator.Dispersal/StoreChunks: a batch signed by no known disperser, a tampered signature, malformed
    bundles, malformed bytes: refused with their codes; the request unaltered is signed."""
    keys, state = net["keys"], net["state"]
    op = keys[0].public_key().operator_id
    url = net["validators"][op]
    b = encoded_blob(31, timestamp=time.time_ns())
    req = store_request([b], state, op, timestamp=int(time.time())).to_json()
    _refused(
        url,
        "validator.Dispersal",
        "StoreChunks",
        {**req, "disperser_id": 7},
        "PERMISSION_DENIED",
        "disperser",
    )
    _refused(
        url, "validator.Dispersal", "StoreChunks", {**req, "signature": "11" * 65}, "UNAUTHENTICATED", ""
    )
    _refused(url, "validator.Dispersal", "StoreChunks", {**req, "bundles": []}, "INVALID_ARGUMENT", "bundles")
    with grpc.insecure_channel(url[7:]) as ch:
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/validator.Dispersal/StoreChunks")(b"\x0a\x05\x0a\x03", timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    reply = wire.grpc_call(url, "validator.Dispersal", "StoreChunks", req, 60)
    assert len(bytes.fromhex(reply["signature"])) == 32


def test_server_and_client_input_errors(net):
    with pytest.raises(ServiceError, match="loopback only"):
        disperser_grpc(None, "10.1.2.3", 0)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        GrpcServer({DISPERSER: {"Nope": lambda body, peer: {}}})
    with pytest.raises(GrpcCallError, match="grpc://host:port"):
        wire.grpc_call("http://127.0.0.1:1", DISPERSER, "GetBlobStatus", {}, 5)
    # nothing listening: the client's error says so, with the status
    with pytest.raises(DispersalError, match=r"unreachable \(gRPC UNAVAILABLE\)") as exc:
        client._call("grpc://127.0.0.1:9", "GetBlobStatus", {"blob_key": "00" * 32}, 5)
    assert exc.value.code == "UNAVAILABLE"
    # a request the client cannot even encode is a typed error before any call
    with pytest.raises(DispersalError, match="not hex"):
        client._call(net["disperser"], "GetBlobStatus", {"blob_key": "zz"}, 5)


def test_grpc_settings_and_config(tmp_path, monkeypatch):
    """``EIGEN_DA_GRPC_WORKERS`` must be a positive integer; ``grpc_port`` is optional, a port number when given."""
    import json

    from offchain.da.errors import NetworkConfigError
    from offchain.da.network.config import grpc_port, retrieval_urls
    from offchain.settings import SettingError

    monkeypatch.setenv("EIGEN_DA_GRPC_WORKERS", "0")
    with pytest.raises(SettingError, match="EIGEN_DA_GRPC_WORKERS"):
        GrpcServer({DISPERSER: {}})
    monkeypatch.delenv("EIGEN_DA_GRPC_WORKERS")
    assert (
        grpc_port({}) is None and grpc_port({"grpc_port": 0}) == 0 and grpc_port({"grpc_port": 9201}) == 9201
    )
    for bad in (-1, 65536, "9201", True):
        with pytest.raises(NetworkConfigError, match="grpc_port"):
            grpc_port({"grpc_port": bad})
    op = {"operator_id": "0x" + "11" * 32, "stakes": {"0": 1}, "url": "http://127.0.0.1:1"}
    net = {"operators": [op, {**op, "operator_id": "0x" + "22" * 32, "retrieval_url": "grpc://127.0.0.1:2"}]}
    (tmp_path / "n.json").write_text(json.dumps(net))
    assert retrieval_urls("n.json", tmp_path) == {
        b"\x11" * 32: "http://127.0.0.1:1",
        b"\x22" * 32: "grpc://127.0.0.1:2",
    }
    net["operators"][1]["retrieval_url"] = "127.0.0.1:2"
    with pytest.raises(NetworkConfigError, match="retrieval_url"):
        retrieval_urls(net, tmp_path)
