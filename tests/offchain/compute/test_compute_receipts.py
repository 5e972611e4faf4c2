"""Receipts: canonical encoding, dev-TEE receipts (Nitro format) and TDX receipts with an RTMR3 log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys
from hypothesis import given
from hypothesis import strategies as st

from offchain.abi import ZERO_ADDRESS
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.errors import ComputeReceiptError
from offchain.compute.eventlog import ZERO48, Event, dstack_event_digest, extend, image_event_digest, replay
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.receipt import (
    KEY_BINDING_DOMAIN,
    PLATFORM_TDX,
    RECEIPT_DOMAIN,
    Receipt,
    ReceiptBundle,
    key_binding,
    receipt_abi,
    recover,
    sign,
    signature_vrs,
    verify_receipt,
)
from offchain.compute.testca import NitroTestCA, TdxSpec, TdxTestCA

T = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IMAGE = bytes.fromhex("11" * 32)
KEY = keys.PrivateKey(bytes(31) + b"\x07")


@pytest.fixture(scope="module")
def ca() -> NitroTestCA:
    return NitroTestCA(seed=b"receipts")


@pytest.fixture(scope="module")
def bundle(ca: NitroTestCA) -> ReceiptBundle:
    return DevTEE(ca, IMAGE, KEY).run(b"input", b"output", T, app_id=b"\x05" * 32, chain_id=31337)


def _trust(ca) -> TrustStore:
    return TrustStore.default().with_roots([ca.root])


def test_abi_type_and_field_order() -> None:
    typ, names = receipt_abi()
    assert typ == "(bytes32,bytes32,bytes32,bytes32,uint256,address,bytes32,bytes32,bytes32,uint256,uint256)"
    assert names == (
        "appId",
        "imageDigest",
        "inputHash",
        "outputHash",
        "timestamp",
        "enclaveSigner",
        "evidenceHash",
        "collateralHash",
        "policyHash",
        "platform",
        "chainId",
    )
    assert RECEIPT_DOMAIN == keccak(b"eigen.compute.Receipt.v1")


def test_encoding_is_domain_word_then_static_fields(bundle: ReceiptBundle) -> None:
    r = bundle.receipt
    enc = r.encode()
    assert len(enc) == 32 * 12 and enc[:32] == RECEIPT_DOMAIN
    typ, names = receipt_abi()
    assert enc == abi_encode(
        ["bytes32", *typ[1:-1].split(",")], [RECEIPT_DOMAIN, *(getattr(r, n) for n in names)]
    )
    assert r.digest() == keccak(enc)
    assert enc[6 * 32 : 7 * 32] == bytes(12) + bytes.fromhex(r.enclaveSigner[2:])
    assert int.from_bytes(enc[-32:], "big") == 31337


def test_key_binding_definition() -> None:
    addr = "0x" + "ab" * 20
    assert key_binding(addr) == keccak(KEY_BINDING_DOMAIN + bytes(12) + bytes.fromhex("ab" * 20))


def test_dev_receipt_verifies_only_with_named_root(ca: NitroTestCA, bundle: ReceiptBundle) -> None:
    v = verify_receipt(ReceiptBundle.loads(bundle.dumps()), trust=_trust(ca))
    assert v.accepted, v.to_json()
    assert [c.name for c in v.checks][-5:] == [
        "receipt.hashes",
        "receipt.key_binding",
        "receipt.image",
        "receipt.time",
        "receipt.signature",
    ]
    v = verify_receipt(bundle)
    assert not v.accepted and v.first_failure.name == "evidence.cert_chain"


def test_signature_vrs_for_ecrecover(bundle: ReceiptBundle) -> None:
    v, r, s = signature_vrs(bundle.signature)
    assert v in (27, 28) and r + s + bytes([v]) == bundle.signature
    with pytest.raises(ComputeReceiptError):
        signature_vrs(b"\x00" * 64)


def test_signature_is_low_s_and_recovers(bundle: ReceiptBundle) -> None:
    s = int.from_bytes(bundle.signature[32:64], "big")
    assert s <= 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
    assert recover(bundle.receipt.digest(), bundle.signature) == KEY.public_key.to_checksum_address().lower()


def _high_s(sig: bytes) -> bytes:
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = n - int.from_bytes(sig[32:64], "big")
    return sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])


def _tamper(bundle: ReceiptBundle, **fields) -> ReceiptBundle:
    return replace(bundle, receipt=replace(bundle.receipt, **fields))


OTHER = keys.PrivateKey(b"\x09" * 32)
CASES = [
    ("output_changed", lambda b, ca: _tamper(b, outputHash=keccak(b"other")), "receipt.signature"),
    ("input_changed", lambda b, ca: _tamper(b, inputHash=keccak(b"other")), "receipt.signature"),
    ("image_changed", lambda b, ca: _tamper(b, imageDigest=b"\x22" * 32), "receipt.image"),
    ("signer_changed", lambda b, ca: _tamper(b, enclaveSigner=ZERO_ADDRESS), "receipt.key_binding"),
    ("evidence_hash_changed", lambda b, ca: _tamper(b, evidenceHash=b"\x01" * 32), "receipt.hashes"),
    ("collateral_hash_changed", lambda b, ca: _tamper(b, collateralHash=b"\x01" * 32), "receipt.hashes"),
    ("platform_changed", lambda b, ca: _tamper(b, platform=PLATFORM_TDX), "receipt.hashes"),
    ("policy_hash_changed", lambda b, ca: _tamper(b, policyHash=b"\x01" * 32), "receipt.policy"),
    (
        "time_long_after_evidence",
        lambda b, ca: _tamper(b, timestamp=b.receipt.timestamp + 2 * 86400),
        "evidence.cert_chain",
    ),
    ("signed_by_other_key", lambda b, ca: replace(b, signature=sign(b.receipt, OTHER)), "receipt.signature"),
    ("high_s_twin", lambda b, ca: replace(b, signature=_high_s(b.signature)), "receipt.signature"),
    ("short_signature", lambda b, ca: replace(b, signature=b.signature[:64]), "receipt.signature"),
    (
        "evidence_from_other_enclave",
        lambda b, ca: replace(b, evidence=DevTEE(ca, IMAGE, OTHER).evidence(T)),
        "receipt.hashes",
    ),
    (
        "policy_without_measurements",
        lambda b, ca: _resign_policy(b, ca, Policy(trusted_roots=(ca.root_fingerprint,))),
        "receipt.policy",
    ),
    ("evidence_not_parseable", lambda b, ca: replace(b, evidence=b"\x84\x00"), "evidence.parse"),
    ("evidence_debug", lambda b, ca: _debug(b, ca), "evidence.debug"),
]


def _resign_policy(b: ReceiptBundle, ca: NitroTestCA, pol: Policy) -> ReceiptBundle:
    r = replace(b.receipt, policyHash=pol.hash())
    return replace(b, receipt=r, signature=sign(r, KEY), policy=pol.to_json())


def _debug(b: ReceiptBundle, ca: NitroTestCA) -> ReceiptBundle:
    from offchain.compute.testca import NitroSpec

    doc = ca.document(
        NitroSpec(
            timestamp=T,
            pcrs={i: bytes(48) for i in range(17)},
            public_key=KEY.public_key.to_bytes(),
            leaf_not_before=T - timedelta(hours=1),
            leaf_not_after=T + timedelta(hours=1),
        )
    )
    r = replace(b.receipt, evidenceHash=keccak(doc))
    return replace(b, receipt=r, evidence=doc, signature=sign(r, KEY))


@pytest.mark.parametrize("name,make,check", CASES, ids=[c[0] for c in CASES])
def test_receipt_negative(ca: NitroTestCA, bundle: ReceiptBundle, name: str, make, check: str) -> None:
    v = verify_receipt(make(bundle, ca), trust=_trust(ca))
    assert not v.accepted
    assert v.first_failure.name == check, v.to_json()


def test_caller_policy_must_match(ca: NitroTestCA, bundle: ReceiptBundle) -> None:
    same = dev_policy(ca, IMAGE)
    assert verify_receipt(bundle, trust=_trust(ca), policy=same).accepted
    v = verify_receipt(
        bundle, trust=_trust(ca), policy=Policy(trusted_roots=(ca.root_fingerprint,), max_age_s=5)
    )
    assert v.first_failure.name == "receipt.policy"


def test_bundle_json_errors() -> None:
    for text in (
        "[]",
        "{}",
        '{"version": 1}',
        "not json",
        '{"version":1,"signature":"zz","evidence":"","policy":{}}',
    ):
        with pytest.raises(ComputeReceiptError):
            ReceiptBundle.loads(text)
    with pytest.raises(ComputeReceiptError):
        Receipt.from_json({"appId": "0x00"})


@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**64), st.binary(min_size=20, max_size=20))
def test_receipt_json_roundtrip(h: bytes, t: int, addr: bytes) -> None:
    r = Receipt(h, h, h, h, t, "0x" + addr.hex(), h, h, h, 2, t)
    assert Receipt.from_json(json.loads(json.dumps(r.to_json()))) == r


# ---- TDX receipts: key in REPORTDATA, image in an RTMR3 event log ---------------------------------


def test_rtmr_replay_and_event_digests() -> None:
    a, b = b"\x01" * 48, b"\x02" * 48
    regs = replay([Event(3, a), Event(0, b), Event(3, b)])
    assert regs[3] == extend(extend(ZERO48, a), b) and regs[0] == extend(ZERO48, b) and regs[1] == ZERO48
    assert len(dstack_event_digest("compose-hash", b"\x00" * 32)) == 48


def _tdx_bundle(
    tca: TdxTestCA,
    events: list[Event],
    key: keys.PrivateKey = KEY,
    image: bytes = IMAGE,
    event_digests: dict | None = None,
) -> ReceiptBundle:
    addr = key.public_key.to_checksum_address().lower()
    rtmrs = tuple(replay(events))
    quote, col = tca.evidence(reportdata=key_binding(addr) + b"\x00" * 32, rtmrs=rtmrs)
    pol = Policy(
        trusted_roots=(tca.root_fingerprint,),
        measurements={"mrtd": bytes(range(48)).hex()},
        event_digests=event_digests or {},
    )
    at = TdxSpec().at
    r = Receipt(
        appId=bytes(32),
        imageDigest=image,
        inputHash=keccak(b"i"),
        outputHash=keccak(b"o"),
        timestamp=int(at.timestamp()),
        enclaveSigner=addr,
        evidenceHash=keccak(quote),
        collateralHash=col.hash(),
        policyHash=pol.hash(),
        platform=PLATFORM_TDX,
        chainId=1,
    )
    return ReceiptBundle(
        r, sign(r, key), quote, pol.to_json(), dict(col.parts), [e.to_json() for e in events]
    )


def test_tdx_receipt_accepted() -> None:
    tca = TdxTestCA()
    events = [Event(3, dstack_event_digest("system-ready", b"")), Event(3, image_event_digest(IMAGE))]
    b = ReceiptBundle.loads(_tdx_bundle(tca, events).dumps())
    v = verify_receipt(b, trust=TrustStore.default().with_roots([tca.root]))
    assert v.accepted, v.to_json()
    assert v.check("receipt.key_binding").detail == "TDX REPORTDATA"


def test_tdx_receipt_policy_with_event_digests_replays_the_receipts_log() -> None:
    tca = TdxTestCA()
    trust = TrustStore.default().with_roots([tca.root])
    ev = Event(3, image_event_digest(IMAGE))
    v = verify_receipt(_tdx_bundle(tca, [ev], event_digests={"rtmr3": [ev.digest.hex()]}), trust=trust)
    assert v.accepted, v.first_failure
    assert v.check("evidence.event_log").detail.endswith("1 policy digest(s) match")
    v = verify_receipt(_tdx_bundle(tca, [ev], event_digests={"rtmr3": ["00" * 48]}), trust=trust)
    assert not v.accepted and v.first_failure.name == "evidence.event_log"


def test_tdx_receipt_wrong_image_or_log() -> None:
    tca = TdxTestCA()
    trust = TrustStore.default().with_roots([tca.root])
    other = [Event(3, image_event_digest(b"\x33" * 32))]
    v = verify_receipt(_tdx_bundle(tca, other), trust=trust)
    assert v.first_failure.name == "receipt.image" and "no event" in v.first_failure.detail
    b = _tdx_bundle(tca, [Event(3, image_event_digest(IMAGE))])
    v = verify_receipt(replace(b, event_log=[]), trust=trust)
    # the evidence's own replay of the receipt's log fails first, and the image check too
    assert v.first_failure.name == "evidence.event_log" and "RTMR3" in v.first_failure.detail
    assert not v.check("receipt.image").ok and "RTMR3" in v.check("receipt.image").detail
    v = verify_receipt(replace(b, event_log=[{"imr": 9, "digest": "00"}]), trust=trust)
    assert v.first_failure.name == "receipt.image"


def test_dstack_style_events_must_recompute() -> None:
    from offchain.compute.errors import EvidenceFormatError
    from offchain.compute.eventlog import DSTACK_EVENT_TYPE, parse_events

    good = {
        "imr": 3,
        "event_type": DSTACK_EVENT_TYPE,
        "event": "compose-hash",
        "event_payload": "ab" * 32,
        "digest": dstack_event_digest("compose-hash", b"\xab" * 32).hex(),
    }
    assert parse_events([good])[0].digest.hex() == good["digest"]
    for bad in (
        {**good, "event_payload": "cd" * 32},
        {**good, "event": "app-id"},
        {**good, "event_payload": "zz"},
        {"imr": 4, "digest": "00" * 48},
        {"imr": 0, "digest": "00" * 47},
        {"digest": "00" * 48},
        "x",
    ):
        with pytest.raises(EvidenceFormatError):
            parse_events([bad])
    with pytest.raises(EvidenceFormatError):
        parse_events({"imr": 0})
