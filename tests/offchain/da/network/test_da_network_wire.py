"""The DA network's protobuf messages (offchain/da/network/proto, wire.py): the committed generated modules are
what grpcio-tools makes of the committed .proto files; the package, service, message and field names and numbers
are EigenDA's; the JSON forms convert to protobuf and back unchanged; malformed input is a typed error."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.da.errors import NetworkMessageError
from offchain.da.network import wire
from offchain.da.network.attestation import aggregate
from offchain.da.network.disperser import attestation_json
from offchain.da.network.node import StoreChunksRequest
from offchain.da.network.proto import common_v2_pb2, disperser_v2_pb2, node_v2_pb2, relay_pb2
from offchain.da.network.types import ChunkRequest
from tests.offchain.da.network.support import encoded_blob, node_state, operator_keys, store_request

ROOT = Path(__file__).resolve().parents[4]
PROTO = ROOT / "offchain/da/network/proto"
SERVICE_PROTOS = ("disperser_v2.proto", "relay.proto", "node_v2.proto")


def test_committed_stubs_are_what_grpc_tools_generates(tmp_path):
    """Regenerate every module from the committed .proto files (the command in proto/__init__.py) into a temp
    dir: the same files, byte for byte, and no other generated file is committed."""
    rel = PROTO.relative_to(ROOT)
    protos = sorted(p.name for p in PROTO.glob("*.proto"))
    assert protos == [
        "common.proto", "common_v2.proto", "disperser_v2.proto", "node_v2.proto", "relay.proto", "signing_rate.proto",
    ]  # fmt: skip
    base = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT), f"--python_out={tmp_path}"]
    for name in protos:
        extra = [f"--grpc_python_out={tmp_path}"] if name in SERVICE_PROTOS else []
        subprocess.run([*base, *extra, str(rel / name)], check=True, cwd=ROOT, capture_output=True)
    made = sorted(p.name for p in (tmp_path / rel).glob("*.py"))
    committed = sorted(p.name for p in PROTO.glob("*_pb2*.py"))
    assert made == committed
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / rel, PROTO, made, shallow=False)
    assert mismatch == [] and errors == []


# EigenDA's numbers (api/proto at commit 61019b4e, compared field by field: name, number, type, label, message
# type, oneof; docs/da-network.md "gRPC"), kept here so a renumbering cannot slip in.
EIGENDA_FIELDS = {
    "common.BlobCommitment": {"commitment": 1, "length_commitment": 2, "length_proof": 3, "length": 4},
    "common.v2.BlobHeader": {"version": 1, "quorum_numbers": 2, "commitment": 3, "payment_header": 4},
    "common.v2.BlobCertificate": {"blob_header": 1, "signature": 2, "relay_keys": 3},
    "common.v2.BatchHeader": {"batch_root": 1, "reference_block_number": 2},
    "common.v2.Batch": {"header": 1, "blob_certificates": 2},
    "common.v2.PaymentHeader": {"account_id": 1, "timestamp": 2, "cumulative_payment": 3},
    "disperser.v2.DisperseBlobRequest": {
        "blob": 1, "blob_header": 2, "signature": 3, "anchor_signature": 5, "disperser_id": 6, "chain_id": 7,
    },
    "disperser.v2.DisperseBlobReply": {"result": 1, "blob_key": 2},
    "disperser.v2.BlobStatusRequest": {"blob_key": 1},
    "disperser.v2.BlobStatusReply": {
        "status": 1, "signed_batch": 2, "blob_inclusion_info": 3, "failure_reason": 100,
    },
    "disperser.v2.BlobCommitmentRequest": {"blob": 1},
    "disperser.v2.BlobCommitmentReply": {"blob_commitment": 1},
    "disperser.v2.GetPaymentStateRequest": {"account_id": 1, "signature": 2, "timestamp": 3},
    "disperser.v2.GetPaymentStateReply": {
        "payment_global_params": 1, "period_records": 2, "reservation": 3, "cumulative_payment": 4,
        "onchain_cumulative_payment": 5,
    },
    "disperser.v2.SignedBatch": {"header": 1, "attestation": 2},
    "disperser.v2.BlobInclusionInfo": {"blob_certificate": 1, "blob_index": 2, "inclusion_proof": 3},
    "disperser.v2.Attestation": {
        "non_signer_pubkeys": 1, "apk_g2": 2, "quorum_apks": 3, "sigma": 4, "quorum_numbers": 5,
        "quorum_signed_percentages": 6, "registry_signature": 100,
    },
    "disperser.v2.PaymentGlobalParams": {
        "global_symbols_per_second": 1, "min_num_symbols": 2, "price_per_symbol": 3, "reservation_window": 4,
        "on_demand_quorum_numbers": 5,
    },
    "disperser.v2.Reservation": {
        "symbols_per_second": 1, "start_timestamp": 2, "end_timestamp": 3, "quorum_numbers": 4, "quorum_splits": 5,
    },
    "disperser.v2.PeriodRecord": {"index": 1, "usage": 2},
    "relay.GetBlobRequest": {"blob_key": 1},
    "relay.GetBlobReply": {"blob": 1},
    "relay.GetChunksRequest": {"chunk_requests": 1, "operator_id": 2, "timestamp": 3, "operator_signature": 4},
    "relay.ChunkRequestByIndex": {"blob_key": 1, "chunk_indices": 2},
    "relay.ChunkRequestByRange": {"blob_key": 1, "start_index": 2, "end_index": 3},
    "relay.ChunkRequest": {"by_index": 1, "by_range": 2},
    "relay.GetChunksReply": {"data": 1},
    "validator.StoreChunksRequest": {"batch": 1, "disperserID": 2, "timestamp": 3, "signature": 4, "bundles": 100},
    "validator.StoreChunksReply": {"signature": 1},
    "validator.GetChunksRequest": {"blob_key": 1, "quorum_id": 2},
    "validator.GetChunksReply": {"chunks": 1, "chunk_encoding_format": 2},
    "validator.GetNodeInfoRequest": {},
    "validator.GetNodeInfoReply": {"semver": 1, "arch": 2, "os": 3, "num_cpu": 4, "mem_bytes": 5},
    "validator.ValidatorSigningRate": {
        "validator_id": 1, "signed_batches": 2, "unsigned_batches": 3, "signed_bytes": 4, "unsigned_bytes": 5,
        "signing_latency": 6,
    },
    "disperser.v2.GetValidatorSigningRateRequest": {
        "validator_id": 1, "quorum": 2, "start_timestamp": 3, "end_timestamp": 4,
    },
    "disperser.v2.GetValidatorSigningRateReply": {"validator_signing_rate": 1},
}  # fmt: skip
ADDITIONS = {
    ("disperser.v2.BlobStatusReply", "failure_reason"),
    ("disperser.v2.Attestation", "registry_signature"),
    ("validator.StoreChunksRequest", "bundles"),
}


def test_names_and_numbers_are_eigendas():
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for name, fields in EIGENDA_FIELDS.items():
        d = pool.FindMessageTypeByName(name)
        assert {f.name: f.number for f in d.fields} == fields, name
    for msg, field in ADDITIONS:
        assert pool.FindMessageTypeByName(msg).fields_by_name[field].number >= 100  # additions stay clear
    methods = {s: sorted(d.methods_by_name) for s, d in wire.SERVICES.items()}
    assert methods == {
        "disperser.v2.Disperser": [
            "DisperseBlob",
            "GetBlobCommitment",
            "GetBlobStatus",
            "GetPaymentState",
            "GetValidatorSigningRate",
        ],
        "relay.Relay": ["GetBlob", "GetChunks"],
        "validator.Dispersal": ["GetNodeInfo", "StoreChunks"],
        "validator.Retrieval": ["GetChunks", "GetNodeInfo"],
    }
    assert [v.name for v in disperser_v2_pb2.BlobStatus.DESCRIPTOR.values] == [
        "UNKNOWN", "QUEUED", "ENCODED", "GATHERING_SIGNATURES", "COMPLETE", "FAILED",
    ]  # fmt: skip
    assert node_v2_pb2.ChunkEncodingFormat.Value("GNARK") == 1


def test_wire_bytes_of_a_blob_header():
    """The encoding itself, by hand: field 1 version (varint), 2 quorums (packed), 4 payment header's
    account (string, field 1 inside) as EigenDA's generated code writes them."""
    h = common_v2_pb2.BlobHeader(version=0, quorum_numbers=[0, 1])
    h.payment_header.account_id = "0xab"
    h.payment_header.timestamp = 5
    assert (
        h.SerializeToString() == bytes.fromhex("12020001") + bytes.fromhex("2208") + b"\x0a\x040xab\x10\x05"
    )


def test_json_forms_round_trip():
    b = encoded_blob(1, timestamp=7)
    body = {"blob": b.raw.hex(), "blob_header": b.header.to_json(), "signature": b.signature.hex()}
    msg = wire.from_json(disperser_v2_pb2.DisperseBlobRequest, body)
    assert msg.blob_header.commitment.length == 64 and msg.blob_header.payment_header.timestamp == 7
    back = wire.to_json(wire.parse(disperser_v2_pb2.DisperseBlobRequest, msg.SerializeToString()))
    assert back == {**body, "anchor_signature": "", "disperser_id": 0, "chain_id": ""}

    # an attestation: EVM integers in JSON, gnark-compressed points on the wire, and back the same
    keys = operator_keys(4)
    state = node_state(keys)
    m = b"\x11" * 32
    pks = {k.public_key().operator_id: k.public_key() for k in keys}
    sigs = {k.public_key().operator_id: k.sign(m) for k in keys[1:]}  # one non-signer
    att = attestation_json(aggregate(m, [0, 1], state.stakes, pks, sigs))
    reply = {
        "status": "COMPLETE",
        "signed_batch": {
            "header": {"batch_root": "22" * 32, "reference_block_number": 9},
            "attestation": att,
        },
    }
    proto = wire.from_json(disperser_v2_pb2.BlobStatusReply, reply)
    a = proto.signed_batch.attestation
    assert len(a.sigma) == 32 and len(a.apk_g2) == 64 and [len(p) for p in a.non_signer_pubkeys] == [32]
    assert a.quorum_signed_percentages == bytes(att["quorum_signed_percentages"])
    assert a.HasField("registry_signature") == ("registry_signature" in att)
    again = wire.to_json(wire.parse(disperser_v2_pb2.BlobStatusReply, proto.SerializeToString()))
    assert again == {**reply, "failure_reason": ""}

    # StoreChunks: EigenDA's field disperserID is the JSON's disperser_id; the request signs the same digest
    req = store_request([b], state, keys[0].public_key().operator_id)
    proto = wire.from_json(node_v2_pb2.StoreChunksRequest, req.to_json())
    assert (
        proto.disperserID == 0
        and proto.batch.header.reference_block_number == 100
        and len(proto.bundles) == 1
    )
    raw = proto.SerializeToString()
    back = StoreChunksRequest.from_json(wire.to_json(wire.parse(node_v2_pb2.StoreChunksRequest, raw)))
    assert back == req and back.digest() == req.digest()
    with pytest.raises(NetworkMessageError, match=r"unknown fields \['disperserID'\]"):
        wire.from_json(node_v2_pb2.StoreChunksRequest, {"disperserID": 1})

    # a oneof: only the set member; the node's enum stays a number, the disperser's a name
    req = ChunkRequest(b"\x01" * 32, None, 2, 5).to_json()
    out = wire.to_json(wire.from_json(relay_pb2.ChunkRequest, req))
    assert out == req and set(out) == {"by_range"}
    assert wire.to_json(node_v2_pb2.GetChunksReply(chunks=[b"\x01"], chunk_encoding_format=1)) == {
        "chunks": ["01"], "chunk_encoding_format": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "body", "match"),
    [
        (disperser_v2_pb2.BlobStatusRequest, {"blob_key": "zz"}, "blob_key: not hex"),
        (disperser_v2_pb2.BlobStatusRequest, {"blob_key": 5}, "expected a hex string"),
        (disperser_v2_pb2.BlobStatusRequest, {"key": "00"}, r"unknown fields \['key'\]"),
        (disperser_v2_pb2.BlobStatusRequest, [], "expected an object"),
        (node_v2_pb2.GetChunksRequest, {"quorum_id": 1 << 32}, "not a uint32"),
        (node_v2_pb2.GetChunksRequest, {"quorum_id": True}, "not an integer"),
        (common_v2_pb2.PaymentHeader, {"timestamp": 1 << 63}, "not an int64"),
        (common_v2_pb2.BlobHeader, {"quorum_numbers": 0}, "expected a list"),
        (disperser_v2_pb2.DisperseBlobReply, {"result": "DONE"}, "not a disperser.v2.BlobStatus"),
        (disperser_v2_pb2.Attestation, {"sigma": ["0x1", "0x3"]}, "not on the curve"),
        (disperser_v2_pb2.Attestation, {"sigma": ["0x1"]}, r"expected \[x, y\]"),
        (disperser_v2_pb2.Attestation, {"apk_g2": [["0x1", "0x2"], ["0x3", "0x4"]]}, "apk_g2"),
        (disperser_v2_pb2.Attestation, {"quorum_signed_percentages": [300]}, "0..255"),
        (disperser_v2_pb2.Attestation, {"extra": 1}, "unknown fields"),
    ],
)
def test_malformed_json_is_typed(cls, body, match):
    with pytest.raises(NetworkMessageError, match=match):
        wire.from_json(cls, body)


def test_malformed_wire_bytes_are_typed():
    with pytest.raises(NetworkMessageError, match="malformed protobuf"):
        wire.parse(disperser_v2_pb2.DisperseBlobRequest, b"\xff\xff\xff")
    # a compressed point that is not on the curve, in a reply the client converts
    bad = disperser_v2_pb2.Attestation(sigma=b"\x01" * 32)
    with pytest.raises(NetworkMessageError, match="sigma"):
        wire.to_json(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_typed(data):
    for service in wire.SERVICES:
        for method in wire.SERVICES[service].methods_by_name:
            req_cls, _ = wire.method_types(service, method)
            try:
                wire.to_json(wire.parse(req_cls, data))
            except NetworkMessageError:
                pass
