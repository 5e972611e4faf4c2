"""The validator node's StoreChunks/GetChunks checks, in process, on a real encoded blob."""

import dataclasses

import pytest

from offchain.bls.keys import verify_single
from offchain.da.errors import NetworkMessageError, NodeRequestError
from offchain.da.network.node import StoreChunksRequest, ValidatorNode
from offchain.da.network.types import sign_digest
from offchain.store import Store
from tests.offchain.da.network.support import (
    DISPERSER_KEY,
    encoded_blob,
    encoder,
    node_state,
    operator_keys,
    store_request,
)


@pytest.fixture(scope="module")
def blobs():
    return [encoded_blob(1), encoded_blob(2, timestamp=2)]


@pytest.fixture
def world(tmp_path):
    keys = operator_keys()
    state = node_state(keys)
    store = Store([str(tmp_path / "db")])
    node = ValidatorNode(keys[1], state, encoder(), store)
    yield keys, state, node
    store.close()


def test_store_verify_sign_and_serve(world, blobs):
    keys, state, node = world
    req = store_request(blobs, state, node.operator_id)
    assert StoreChunksRequest.from_json(req.to_json()) == req
    sigma = node.store_chunks(req)
    assert verify_single(req.header.hash(), keys[1].public_key(), sigma)
    for b, bundle in zip(blobs, req.bundles, strict=True):
        reply = node.get_chunks(b.header.blob_key())
        assert reply["chunk_encoding_format"] == 1
        assert len(reply["chunks"]) == len(node.assigned(req.certificates[0])) > 0
        assert bytes.fromhex(reply["chunks"][0]) == bundle[8 : 8 + 32 + 32 * b.L]
    with pytest.raises(NodeRequestError) as err:
        node.get_chunks(b"\x00" * 32)
    assert err.value.status == 404


def _refused(node, req, status):
    with pytest.raises(NodeRequestError) as err:
        node.store_chunks(req)
    assert err.value.status == status, err.value.message
    return err.value.message


def test_corrupted_chunk_is_refused_and_nothing_stored(world, blobs):
    keys, state, node = world
    req = store_request(blobs, state, node.operator_id)
    bad = bytearray(req.bundles[1])
    bad[8 + 32 + 31] ^= 1  # first chunk's last coefficient byte (still canonical)
    tampered = dataclasses.replace(req, bundles=[req.bundles[0], bytes(bad)])
    assert "do not verify" in _refused(node, tampered, 400)
    assert node.table.key_count() == 0
    short = dataclasses.replace(req, bundles=[req.bundles[0], req.bundles[1][: -(32 + 32 * blobs[1].L)]])
    assert "assigned" in _refused(node, short, 400)


def test_disperser_signature_and_timestamp(world, blobs):
    keys, state, node = world
    req = store_request(blobs[:1], state, node.operator_id)
    other = sign_digest(b"\x11" * 32, req.digest())
    _refused(node, dataclasses.replace(req, signature=other), 401)
    _refused(node, dataclasses.replace(req, disperser_id=5), 403)
    # the timestamp is signed: changing it breaks the signature; an old signed request is too old
    _refused(node, dataclasses.replace(req, timestamp=req.timestamp + 1), 401)
    old = store_request(blobs[:1], state, node.operator_id, timestamp=req.timestamp - 3600)
    assert "clock" in _refused(node, old, 400)


def test_batch_root_and_stale_reference_block(world, blobs):
    keys, state, node = world
    req = store_request(blobs[:1], state, node.operator_id, rbn=1000)
    wrong_root = store_request(blobs[1:], state, node.operator_id, rbn=1000)
    mixed = dataclasses.replace(wrong_root, certificates=req.certificates, bundles=req.bundles)
    mixed = dataclasses.replace(mixed, signature=sign_digest(DISPERSER_KEY, mixed.digest()))
    assert "Merkle root" in _refused(node, mixed, 400)
    node.store_chunks(req)
    assert node.latest_reference_block == 1000
    node.store_chunks(store_request(blobs[1:], state, node.operator_id, rbn=700))  # 300 behind: accepted
    assert "stale" in _refused(node, store_request(blobs[1:], state, node.operator_id, rbn=699), 409)


def test_malformed_request_json():
    for bad in ({}, {"batch": {}, "disperser_id": 0, "timestamp": 0, "signature": "", "bundles": []}):
        with pytest.raises(NetworkMessageError):
            StoreChunksRequest.from_json(bad)
