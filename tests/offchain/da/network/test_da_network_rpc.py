"""The gRPC fronts (rpc.py) on loopback, in process: four validators (StoreChunks over HTTP, validator.Retrieval
over gRPC), a disperser serving disperser.v2.Disperser, a relay serving relay.Relay. The client puts over gRPC,
gets the certificate, and gets the bytes back over gRPC from the relay and from the validators; every refusal
has its gRPC status and message, through the client and through the generated stubs; malformed protobuf bytes
are INVALID_ARGUMENT and the server keeps serving."""

from __future__ import annotations

import platform
import time

import grpc
import pytest

from offchain import __version__
from offchain.da.errors import DispersalError, DisperserRequestError, GrpcCallError, NetworkConfigError
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
from offchain.da.network.signing import FIELDS, SigningRates
from offchain.da.network.types import ChunkRequest
from offchain.httpservice import ServiceError
from offchain.store import Store
from tests.offchain.da.network.support import (
    CLIENT_KEY,
    DISPERSER_KEY,
    eigen,
    encoded_blob,
    encoder,
    node_state,
    operator_keys,
    store_request,
)

DISPERSER = "disperser.v2.Disperser"
CHAIN_ID = 31337


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
            DISPERSER_KEY, 0, encoder(), state.stakes, grpc_urls, pks, db, reference_block_number=100,
            chain_id=CHAIN_ID,
        )  # fmt: skip
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
               "db": db, "relay_obj": relay, "disperser_obj": d}  # fmt: skip
    finally:
        for stop in reversed(stops):
            stop()
        for s in stores:
            s.close()


def test_put_and_get_over_grpc(net):
    """put over gRPC to its certificate (the disperser's StoreChunks to the validators over gRPC too); get it back
    over gRPC from the relay, then from the validators."""
    payload = b"over grpc " * 150
    t0 = int(time.time())
    # the client signs EigenDA's anchor for this disperser's chain and id; the disperser checks it
    cert = client.put(net["disperser"], payload, CLIENT_KEY, timeout_s=120, chain_id=CHAIN_ID, disperser_id=0)
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

    # GetValidatorSigningRate: every validator signed the batch (its bytes, a latency), none missed one
    blob_bytes = 32 * cert["blob_inclusion_info"]["blob_certificate"]["blob_header"]["commitment"]["length"]
    with grpc.insecure_channel(net["disperser"][7:]) as ch:
        rate = (
            disperser_v2_pb2_grpc.DisperserStub(ch)
            .GetValidatorSigningRate(
                disperser_v2_pb2.GetValidatorSigningRateRequest(
                    validator_id=big, quorum=1, start_timestamp=t0, end_timestamp=int(time.time()) + 1
                )
            )
            .validator_signing_rate
        )
    assert rate.validator_id == big and rate.signed_batches >= 1 and rate.unsigned_batches == 0
    assert rate.signed_bytes >= blob_bytes and rate.signing_latency > 0
    # a range before the batch's bucket, and an operator the disperser never asked: zeros
    body = {"validator_id": big.hex(), "quorum": 0, "start_timestamp": 0, "end_timestamp": 600}
    got = wire.grpc_call(net["disperser"], DISPERSER, "GetValidatorSigningRate", body, 30)[
        "validator_signing_rate"
    ]
    assert got == {"validator_id": big.hex(), **dict.fromkeys(FIELDS, 0)}
    body = {**body, "validator_id": "77" * 32, "start_timestamp": t0, "end_timestamp": t0 + 3600}
    got = wire.grpc_call(net["disperser"], DISPERSER, "GetValidatorSigningRate", body, 30)[
        "validator_signing_rate"
    ]
    assert got["signed_batches"] == got["unsigned_batches"] == 0

    # GetNodeInfo on both of a validator's services: EigenDA's fields, this machine's values
    for stub in (node_v2_pb2_grpc.DispersalStub, node_v2_pb2_grpc.RetrievalStub):
        with grpc.insecure_channel(net["validators"][big][7:]) as ch:
            info = stub(ch).GetNodeInfo(node_v2_pb2.GetNodeInfoRequest())
        assert info.semver == __version__ and info.os == platform.system().lower() and info.arch
        assert info.num_cpu >= 1 and info.mem_bytes > 1 << 20


def _refused(url: str, service: str, method: str, body: dict, code: str, words: str) -> None:
    with pytest.raises(GrpcCallError) as exc:
        wire.grpc_call(url, service, method, body, 30)
    assert exc.value.code == code and words in exc.value.message, exc.value


def test_disperser_refusals_over_grpc(net):
    url = net["disperser"]
    b, other = encoded_blob(21, time.time_ns(), chunks=False), encoded_blob(22, time.time_ns(), chunks=False)
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
    # the anchor: signed by another key, for another disperser or chain, malformed: INVALID_ARGUMENT, named
    anchor = client.anchor_fields(CLIENT_KEY, b.header.blob_key(), CHAIN_ID, 0)
    forged = client.anchor_fields(DISPERSER_KEY, b.header.blob_key(), CHAIN_ID, 0)
    for change, words in (
        (forged, "anchor_signature: signed by"),
        (
            client.anchor_fields(CLIENT_KEY, b.header.blob_key(), CHAIN_ID, 3),
            "disperser id mismatch: the request names 3",
        ),
        (
            client.anchor_fields(CLIENT_KEY, b.header.blob_key(), 1, 0),
            "chain id mismatch: the request names chain 1",
        ),
        ({**anchor, "anchor_signature": "11" * 64}, "anchor_signature: 64 bytes, expected 65"),
        ({**anchor, "chain_id": "7a69"}, "chain_id: 2 bytes, expected 32"),
        ({**anchor, "anchor_signature": "00" * 65}, "anchor_signature: signature"),
        (
            {
                **anchor,
                "anchor_signature": client.anchor_fields(CLIENT_KEY, other.header.blob_key(), CHAIN_ID, 0)[
                    "anchor_signature"
                ],
            },
            "anchor_signature: signed by",
        ),  # another blob's anchor
    ):
        _refused(url, DISPERSER, "DisperseBlob", {**body, **change}, "INVALID_ARGUMENT", words)
    _refused(url, DISPERSER, "GetBlobStatus", {"blob_key": "00" * 32}, "NOT_FOUND", "unknown")
    _refused(url, DISPERSER, "GetBlobStatus", {"blob_key": "00" * 31}, "INVALID_ARGUMENT", "31 bytes")
    _refused(url, DISPERSER, "GetPaymentState", {"account_id": "0x" + "11" * 20, "signature": "00" * 65}, "UNIMPLEMENTED",
             "does not meter payments")  # fmt: skip
    # over the process's max_request_bytes (64 KiB here): gRPC's own limit
    _refused(url, DISPERSER, "GetBlobCommitment", {"blob": "00" * (1 << 17)}, "RESOURCE_EXHAUSTED", "")

    # GetValidatorSigningRate's refusals
    rate = {"validator_id": "11" * 32, "quorum": 0, "start_timestamp": 10, "end_timestamp": 20}
    _refused(url, DISPERSER, "GetValidatorSigningRate", {**rate, "validator_id": "11" * 31}, "INVALID_ARGUMENT",
             "validator_id: 31 bytes, expected 32")  # fmt: skip
    _refused(url, DISPERSER, "GetValidatorSigningRate", {**rate, "end_timestamp": 9}, "INVALID_ARGUMENT",
             "before start_timestamp")  # fmt: skip
    _refused(url, DISPERSER, "GetValidatorSigningRate", {**rate, "quorum": 256}, "INVALID_ARGUMENT",
             "quorum: 256 is not a uint8")  # fmt: skip

    # accepted once (with its anchor), then ALREADY_EXISTS; the client names the code
    assert wire.grpc_call(url, DISPERSER, "DisperseBlob", {**body, **anchor}, 30)["result"] == "QUEUED"
    _refused(url, DISPERSER, "DisperseBlob", body, "ALREADY_EXISTS", "already dispersed")
    with pytest.raises(DispersalError, match=r"GetBlobStatus: refused \(gRPC NOT_FOUND\)") as exc:
        client._call(url, "GetBlobStatus", {"blob_key": "00" * 32}, 30)
    assert exc.value.code == "NOT_FOUND"
    # a client without a metering disperser sends a reservation header, as over HTTP
    assert client.payment_state(url, CLIENT_KEY) is None

    # malformed protobuf bytes, through a raw channel: INVALID_ARGUMENT, and the server still answers
    with grpc.insecure_channel(url[7:]) as ch:
        for method in (
            "DisperseBlob", "GetBlobStatus", "GetBlobCommitment", "GetPaymentState", "GetValidatorSigningRate"
        ):  # fmt: skip
            with pytest.raises(grpc.RpcError) as err:
                ch.unary_unary(f"/{DISPERSER}/{method}")(b"\x0a\xff\xff\xff\x0f", timeout=10)
            assert (
                err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                and "malformed protobuf" in err.value.details()
            )
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary(f"/{DISPERSER}/GetBlob")(b"", timeout=10)  # not a method of the disperser
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        stub = disperser_v2_pb2_grpc.DisperserStub(ch)
        reply = stub.GetBlobCommitment(disperser_v2_pb2.BlobCommitmentRequest(blob=b.raw))
        assert (
            reply.blob_commitment.length == 64
            and reply.blob_commitment.commitment == b.header.commitment.commitment
        )


def test_relay_and_validator_refusals_over_grpc(net):
    key = encoded_blob(23, chunks=False).header.blob_key()
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


def test_anchor_settings(tmp_path):
    """``require_anchor_signature`` (EigenDA's TolerateMissingAnchorSignature negated; off by default, as
    EigenDA's default tolerates a missing anchor) and ``chain_id`` in the disperser's configuration; a disperser
    without a chain id refuses anchors rather than accept them unchecked; ``dispersal_url`` in the network file."""
    import yaml

    from offchain.da.network.config import dispersal_urls, disperser_config
    from tests.offchain.da.network.support import network_file, write_disperser_config

    keys = operator_keys(4)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    b = encoded_blob(41, time.time_ns(), chunks=False)
    anchor = client.anchor_fields(CLIENT_KEY, b.header.blob_key(), CHAIN_ID, 0)
    db = MetadataStore(str(tmp_path / "m.db"))
    try:
        strict = Disperser(DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db, reference_block_number=1,
                           chain_id=CHAIN_ID, require_anchor=True)  # fmt: skip
        with pytest.raises(DisperserRequestError, match="required by this disperser but not provided") as exc:
            strict.disperse_blob(b.raw, b.header, b.signature)
        assert exc.value.grpc_code == "INVALID_ARGUMENT" and exc.value.status == 400
        no_chain = Disperser(DISPERSER_KEY, 0, encoder(), state.stakes, {}, pks, db, reference_block_number=1)
        with pytest.raises(DisperserRequestError, match="no chain_id configured"):
            no_chain.disperse_blob(b.raw, b.header, b.signature, bytes.fromhex(anchor["anchor_signature"]), 0,
                                   bytes.fromhex(anchor["chain_id"]))  # fmt: skip
        assert not db.has_blob(b.header.blob_key())  # nothing recorded by a refusal
        # the strict disperser takes it with its anchor, the tolerant one without
        signed = strict.disperse_blob(b.raw, b.header, b.signature, bytes.fromhex(anchor["anchor_signature"]), 0,
                                      bytes.fromhex(anchor["chain_id"]))  # fmt: skip
        assert signed[1] == b.header.blob_key()
        b2 = encoded_blob(42, time.time_ns(), chunks=False)
        assert no_chain.disperse_blob(b2.raw, b2.header, b2.signature)[1] == b2.header.blob_key()
    finally:
        db.close()

    net = network_file(
        tmp_path / "n.json", keys, state, {k.public_key().operator_id: "http://127.0.0.1:1" for k in keys}
    )
    path = write_disperser_config(tmp_path, net)
    cfg = disperser_config(path)
    assert cfg.chain_id is None and cfg.require_anchor_signature is False
    base = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**base, "chain_id": CHAIN_ID, "require_anchor_signature": True}))
    cfg = disperser_config(path)
    assert cfg.chain_id == CHAIN_ID and cfg.require_anchor_signature is True
    for bad, words in (
        ({"require_anchor_signature": True}, "needs chain_id"),
        ({"chain_id": 0}, "chain_id"),
        ({"chain_id": "31337"}, "chain_id"),
        ({"chain_id": 1, "require_anchor_signature": "yes"}, "require_anchor_signature"),
    ):
        path.write_text(yaml.safe_dump({**base, **bad}))
        with pytest.raises(NetworkConfigError, match=words):
            disperser_config(path)

    # dispersal_url: the StoreChunks target (validator.Dispersal over gRPC), else url
    import json

    obj = json.loads(net.read_text())
    obj["operators"][1]["dispersal_url"] = "grpc://127.0.0.1:7"
    urls = dispersal_urls(obj, tmp_path)
    assert urls[keys[1].public_key().operator_id] == "grpc://127.0.0.1:7"
    assert urls[keys[0].public_key().operator_id] == "http://127.0.0.1:1"
    obj["operators"][0]["dispersal_url"] = "grpcs://localhost:8"  # over TLS
    assert dispersal_urls(obj, tmp_path)[keys[0].public_key().operator_id] == "grpcs://localhost:8"
    obj["operators"][1]["dispersal_url"] = "127.0.0.1:7"
    with pytest.raises(NetworkConfigError, match="dispersal_url"):
        dispersal_urls(obj, tmp_path)


def test_signing_rate_buckets():
    """EigenDA's bucketed signing rate: a query sums the buckets overlapping [start, end); members that did not
    sign count as unsigned; buckets older than the retention are dropped."""
    now = [1_000_000.0]
    r = SigningRates(bucket_s=600, retention_s=3600, clock=lambda: now[0])
    a, b = b"\xaa" * 32, b"\xbb" * 32
    members = {0: [a, b], 1: [a]}
    r.report_batch([0, 1], members, {a: 5_000}, 1024)  # a signed (5 µs), b did not
    now[0] += 600
    r.report_batch([0], members, {a: 7_000, b: 1_000}, 2048)
    t0 = 1_000_000 // 600 * 600
    assert r.rate(a, 0, t0, t0 + 1200) == {
        "validator_id": a.hex(), "signed_batches": 2, "unsigned_batches": 0, "signed_bytes": 3072,
        "unsigned_bytes": 0, "signing_latency": 12_000,
    }  # fmt: skip
    assert (
        r.rate(b, 0, t0, t0 + 1200)["unsigned_batches"] == 1
        and r.rate(b, 0, t0, t0 + 1200)["signed_bytes"] == 2048
    )
    assert r.rate(b, 1, t0, t0 + 1200)["unsigned_batches"] == 0  # b is not in quorum 1
    assert r.rate(a, 0, t0 + 600, t0 + 601)["signed_batches"] == 1  # only the second bucket overlaps
    assert r.rate(a, 0, t0 + 599, t0 + 600)["signed_batches"] == 1  # only the first: the second starts at end
    assert r.rate(a, 1, t0, t0 + 1200)["signed_batches"] == 1
    now[0] += 3600 + 600  # past the retention: the first buckets go
    r.report_batch([0], members, {}, 1)
    assert r.rate(a, 0, t0, t0 + 1200)["signed_batches"] == 0
    with pytest.raises(ValueError):
        SigningRates(bucket_s=0)


def _pki(folder):
    """A CA, a server certificate for 127.0.0.1 / localhost and a client certificate signed by it, and a second
    CA (PEM files in ``folder``), made with ``cryptography``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(name, key, issuer, issuer_key, *, ca=False, san=None, usage=None):
        b = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )  # fmt: skip
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if usage:
            b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(name, obj):
        path = folder / name
        if isinstance(obj, x509.Certificate):
            path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
        else:
            path.write_bytes(obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ))  # fmt: skip
        return path

    out = {}
    for ca_name in ("ca", "other_ca"):
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
        out[ca_name] = (cert(ca_name, k, name, k, ca=True), k)
        write(f"{ca_name}.pem", out[ca_name][0])
    ca, ca_key = out["ca"]
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    for who, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        k = ec.generate_private_key(ec.SECP256R1())
        write(
            f"{who}.pem", cert(who, k, ca.subject, ca_key, san=san if who == "server" else None, usage=usage)
        )
        write(f"{who}.key", k)
    return {n: (folder / n).read_bytes() for n in
            ("ca.pem", "other_ca.pem", "server.pem", "server.key", "client.pem", "client.key")}  # fmt: skip


def test_grpc_over_tls(tmp_path):
    """TLS on the gRPC ports: two validators require client certificates (mutual TLS), the disperser serves TLS
    and sends its StoreChunks to them over TLS with its own certificate; a put over grpcs:// certifies and the
    blob comes back from the validators over grpcs://. A caller without the CA's trust, without a client
    certificate, or in plaintext gets UNAVAILABLE; the grpc_tls section's errors are typed."""
    from offchain.da.network.config import GrpcTLS, grpc_tls
    from offchain.da.network.wire import ClientTLS

    pem = _pki(tmp_path)
    server = GrpcTLS(pem["server.pem"], pem["server.key"], client_ca=pem["ca.pem"])
    me = ClientTLS(pem["ca.pem"], pem["client.pem"], pem["client.key"])
    keys = operator_keys(2)
    state = node_state(keys)
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    stops, stores, urls = [], [], {}
    try:
        for i, k in enumerate(keys):
            store = Store([str(tmp_path / f"v{i}")])
            stores.append(store)
            g = node_grpc(ValidatorNode(k, state, encoder(), store), "127.0.0.1", 0, tls=server).start()
            stops.append(g.stop)
            urls[k.public_key().operator_id] = g.url
        assert all(u.startswith("grpcs://") for u in urls.values())
        db = MetadataStore(str(tmp_path / "meta.db"))
        d = Disperser(DISPERSER_KEY, 0, encoder(), state.stakes, urls, pks, db, reference_block_number=100,
                      grpc_tls=me)  # fmt: skip
        dg = disperser_grpc(d, "127.0.0.1", 0, tls=GrpcTLS(pem["server.pem"], pem["server.key"])).start()
        d.start()
        stops += [dg.stop, d.stop, db.close]
        payload = b"over tls " * 100
        cert = client.put(dg.url, payload, CLIENT_KEY, timeout_s=120, tls=ClientTLS(pem["ca.pem"]))
        assert cert["signed_batch"]["attestation"]["quorum_signed_percentages"] == [100, 100]
        got, served = client.get(cert, state.stakes, urls, encoder(), tls=me)
        assert got == payload and served.served_by == "validators"

        v = next(iter(urls.values()))
        info = {"blob_key": "00" * 32}
        for url, tls, why in (
            (v, ClientTLS(pem["ca.pem"]), "no client certificate"),
            (
                v,
                ClientTLS(pem["other_ca.pem"], pem["client.pem"], pem["client.key"]),
                "a CA that did not sign it",
            ),
            (v.replace("grpcs://", "grpc://"), None, "plaintext"),
            (dg.url, ClientTLS(pem["other_ca.pem"]), "the disperser under another CA"),
        ):
            with pytest.raises(GrpcCallError) as exc:
                wire.grpc_call(url, "validator.Retrieval", "GetChunks", info, 10, tls)
            assert exc.value.code == "UNAVAILABLE", (why, exc.value)
        # the disperser's TLS does not ask for a client certificate; the CA's trust is enough
        _refused(dg.url.replace("grpcs://", "grpc://"), DISPERSER, "GetBlobStatus", info, "UNAVAILABLE", "")
        with pytest.raises(DispersalError, match=r"NOT_FOUND"):
            client._call(dg.url, "GetBlobStatus", info, 10, ClientTLS(pem["ca.pem"]))
        # the command line: --grpc-ca trusts the disperser's CA (the put reaches it and is refused: this payload
        # is larger than its 64-symbol SRS); a CA file that is not PEM, or another CA, is one line, exit 2
        (tmp_path / "key").write_text(CLIENT_KEY.hex())
        (tmp_path / "big").write_bytes(b"x" * 4096)
        base = ("put", str(tmp_path / "big"), "--disperser", dg.url, "--key", str(tmp_path / "key"))
        for extra, words in (
            (("--grpc-ca", str(tmp_path / "ca.pem")), b"GetBlobCommitment: refused (gRPC INVALID_ARGUMENT)"),
            (("--grpc-ca", str(tmp_path / "other_ca.pem")), b"gRPC UNAVAILABLE"),
            (("--grpc-ca", str(tmp_path / "client.key")), b"grpc_tls.ca"),
        ):
            r = eigen(*base, *extra)
            assert r.returncode == 2 and words in r.stderr and r.stderr.count(b"\n") == 1, r.stderr
    finally:
        for stop in reversed(stops):
            stop()
        for s in stores:
            s.close()

    # the grpc_tls section: files relative to the configuration, each parsed; typed errors
    names = {"cert": "server.pem", "key": "server.key", "client_ca": "ca.pem", "ca": "ca.pem"}
    tls = grpc_tls(names, tmp_path)
    assert tls.cert == pem["server.pem"] and tls.client_ca == pem["ca.pem"]
    assert grpc_tls(None, tmp_path) is None and grpc_tls({"ca": "ca.pem"}, tmp_path).cert is None
    (tmp_path / "junk.pem").write_text("not a certificate")
    for bad, words in (
        ({"cert": "server.pem"}, "cert and key go together"),
        ({"client_ca": "ca.pem"}, "client_ca needs"),
        ({**names, "key": "client.key"}, "not the key of cert"),
        ({**names, "cert": "junk.pem"}, "not PEM certificates"),
        ({**names, "key": "server.pem"}, "not an unencrypted PEM private key"),
        ({**names, "ca": "missing.pem"}, "missing.pem"),
        ({**names, "extra": 1}, "expected {cert, key, client_ca, ca}"),
        ("yes", "expected"),
    ):
        with pytest.raises(NetworkConfigError, match=words):
            grpc_tls(bad, tmp_path)
