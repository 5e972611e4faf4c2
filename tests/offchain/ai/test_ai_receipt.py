import json
from dataclasses import replace

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.ai.errors import InferenceReceiptError
from offchain.ai.receipt import (
    DOMAIN,
    Receipt,
    merkle_proof,
    merkle_root,
    receipt_abi_type,
    receipt_field_order,
    verify_merkle_proof,
)
from offchain.ai.sampler import SamplingParams
from tests.offchain.ai.support import tiny_service

KEY = keccak(b"test operator key")
CLIENT = "0x" + "c1" * 20


@pytest.fixture(scope="module")
def receipt() -> Receipt:
    svc = tiny_service()
    return svc.complete(
        svc.prompt_tokens(None, "hello"),
        SamplingParams(seed=9, temperature_milli=700, max_tokens=5),
        client=CLIENT,
    ).receipt.signed(KEY)


def test_abi_type_and_order():
    assert (
        receipt_abi_type()
        == "(bytes32,bytes32,bytes32,bytes32,address,address,uint64,uint32,uint32,uint32,uint32,uint32[],uint32[],bytes32,uint8)"
    )
    names = [n for n, _ in receipt_field_order()]
    assert names[0] == "domain" and names[-1] == "finishReason" and len(names) == 15
    assert names[4:6] == ["operator", "client"]


def test_encoding_decodes_and_hashes(receipt):
    enc = receipt.encode()
    vals = abi_decode([t for _, t in receipt_field_order()], enc)
    assert vals[0] == DOMAIN and list(vals[12]) == list(receipt.output_tokens)
    assert vals[4].lower() == receipt.operator.lower()
    assert vals[5].lower() == CLIENT
    assert receipt.digest() == keccak(enc)


def test_signature_recovers_operator(receipt):
    addr = keys.PrivateKey(KEY).public_key.to_checksum_address()
    assert receipt.operator == addr and receipt.recover_signer() == addr and receipt.signature_valid()
    assert receipt.signature[64] in (27, 28)
    from eth_account import Account

    v, r, s = receipt.signature[64], receipt.signature[:32], receipt.signature[32:64]
    assert (
        Account._recover_hash(receipt.digest(), vrs=(v, int.from_bytes(r, "big"), int.from_bytes(s, "big")))
        == addr
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda r: replace(r, output_tokens=(r.output_tokens[0] ^ 1, *r.output_tokens[1:])),
        lambda r: replace(r, prompt_tokens=r.prompt_tokens[:-1]),
        lambda r: replace(r, params=replace(r.params, seed=r.params.seed + 1)),
        lambda r: replace(r, params=replace(r.params, temperature_milli=701)),
        lambda r: replace(r, model_hash=b"\x01" * 32),
        lambda r: replace(r, logits_hashes=(b"\x02" * 32, *r.logits_hashes[1:])),
        lambda r: replace(r, finish_reason=1),
        lambda r: replace(r, client="0x" + "c2" * 20),
    ],
)
def test_any_change_breaks_signature(receipt, change):
    assert not change(receipt).signature_valid()


def test_json_roundtrip_is_canonical(receipt):
    text = receipt.to_json()
    back = Receipt.from_json(text)
    assert back == receipt and back.to_json() == text


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.update(version=1), "version"),
        (lambda d: d.pop("client"), "missing"),
        (lambda d: d.update(client="0x1234"), "client"),
        (lambda d: d.update(client=5), "client"),
        (lambda d: d.pop("seed"), "missing"),
        (lambda d: d.update(extra=1), "unknown"),
        (lambda d: d.update(modelHash="0x1234"), "32 bytes"),
        (lambda d: d.update(modelHash="zz" * 32), "hex"),
        (lambda d: d.update(stepsRoot="0x" + "00" * 32), "stepsRoot"),
        (lambda d: d.update(digest="0x" + "00" * 32), "digest"),
        (lambda d: d.update(seed=-1), "seed"),
        (lambda d: d.update(topPMicro=0), "sampling"),
        (lambda d: d.update(outputTokens="abc"), "list"),
        (lambda d: d.update(logitsHashes=[]), "logits hash"),
        (lambda d: d.update(finishReason=7), "finish"),
        (lambda d: d.update(operator="nope"), "operator"),
        (lambda d: d.update(signature="0x1234"), "65 bytes"),
        (lambda d: d.update(domain="0x" + "11" * 32), "domain"),
    ],
)
def test_from_json_rejects(receipt, mutate, match):
    d = json.loads(receipt.to_json())
    mutate(d)
    with pytest.raises(InferenceReceiptError, match=match):
        Receipt.from_json(json.dumps(d))


def test_client_binding(receipt):
    assert receipt.client.lower() == CLIENT
    # the client is bound by the signature but does not change what is computed: same request,
    # same output whoever asks
    other = tiny_service().complete(receipt.prompt_tokens, receipt.params, client="0x" + "c2" * 20).receipt
    assert other.output_tokens == receipt.output_tokens and other.steps_root == receipt.steps_root
    assert other.digest() != replace(receipt, operator=other.operator).digest()
    with pytest.raises(InferenceReceiptError, match="client"):
        replace(receipt, client="0xnot-an-address-of-the-right-length")


def test_from_json_not_json():
    with pytest.raises(InferenceReceiptError):
        Receipt.from_json("{not json")
    with pytest.raises(InferenceReceiptError):
        Receipt.from_json("[1, 2]")


def test_unsigned_and_bad_key(receipt):
    with pytest.raises(InferenceReceiptError):
        replace(receipt, signature=b"").recover_signer()
    with pytest.raises(InferenceReceiptError):
        receipt.signed(b"\x00" * 32)
    bad_v = receipt.signature[:64] + b"\x05"
    assert not replace(receipt, signature=bad_v).signature_valid()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_merkle_proofs(n):
    leaves = [keccak(bytes([i])) for i in range(n)]
    root = merkle_root(leaves)
    for i in range(n):
        proof = merkle_proof(leaves, i)
        assert verify_merkle_proof(root, leaves[i], i, proof)
        assert not verify_merkle_proof(root, leaves[(i + 1) % n] if n > 1 else b"\x00" * 32, i, proof)
    with pytest.raises(InferenceReceiptError):
        merkle_proof(leaves, n)
    assert merkle_root([]) == b"\x00" * 32
