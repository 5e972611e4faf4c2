"""Nitro-format documents from the test CA: valid forms, and each check and parse rule broken in turn."""

from __future__ import annotations

from datetime import timedelta

import pytest

from offchain.compute import cbor
from offchain.compute.errors import CBORError, EvidenceFormatError
from offchain.compute.nitro import parse_document, verify_nitro
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.testca import NitroSpec, NitroTestCA, raw_sign

T = NitroSpec().timestamp


@pytest.fixture(scope="module")
def ca() -> NitroTestCA:
    return NitroTestCA()


def _verify(ca: NitroTestCA, doc: bytes, policy: Policy | None = None, at=T):
    pol = policy or Policy(trusted_roots=(ca.root_fingerprint,))
    return verify_nitro(doc, at=at, policy=pol, trust=TrustStore.default().with_roots([ca.root]))


@pytest.mark.parametrize(
    "kw", [{}, {"indefinite": True}, {"tagged": True}, {"public_key": b"\x04" * 64, "nonce": b"n"}]
)
def test_valid_documents(ca: NitroTestCA, kw: dict) -> None:
    v = _verify(ca, ca.document(**kw))
    assert v.accepted, v.to_json()
    assert v.claims["pcr0"] == "01" * 48


def test_indefinite_and_definite_payload_encodings_differ_but_both_parse(ca: NitroTestCA) -> None:
    a, b = ca.payload(NitroSpec()), ca.payload(NitroSpec(indefinite=True))
    assert a[0] == 0xA9 and b[0] == 0xBF and cbor.loads(a) == cbor.loads(b)


CHECK_CASES = [
    ("leaf_expired", {"leaf_not_after": T - timedelta(seconds=1)}, {}, "cert_chain"),
    ("leaf_not_yet_valid", {"leaf_not_before": T + timedelta(seconds=1)}, {}, "cert_chain"),
    ("debug_pcrs_zero", {"pcrs": {i: bytes(48) for i in range(16)}}, {}, "debug"),
    (
        "timestamp_in_future",
        {"timestamp": T + timedelta(seconds=301), "leaf_not_after": T + timedelta(hours=5)},
        {},
        "freshness",
    ),
    (
        "too_old",
        {"timestamp": T - timedelta(days=2), "leaf_not_before": T - timedelta(days=3)},
        {},
        "freshness",
    ),
    ("pcr0_mismatch", {}, {"measurements": {"pcr0": "02" * 48}}, "measurements"),
    ("pcr16_expected_missing", {}, {"measurements": {"pcr16": "02" * 48}}, "measurements"),
    (
        "public_key_mismatch",
        {"public_key": b"\x01" * 64},
        {"measurements": {"public_key": "02" * 64}},
        "measurements",
    ),
    ("user_data_absent", {}, {"measurements": {"user_data": "00"}}, "measurements"),
    ("tdx_measurement_on_nitro", {}, {"measurements": {"mrtd": "00" * 48}}, "measurements"),
]


@pytest.mark.parametrize("name,spec,pol,check", CHECK_CASES, ids=[c[0] for c in CHECK_CASES])
def test_check_negative(ca: NitroTestCA, name: str, spec: dict, pol: dict, check: str) -> None:
    v = _verify(ca, ca.document(**spec), Policy(trusted_roots=(ca.root_fingerprint,), **pol))
    assert not v.accepted and v.first_failure.name == check, v.to_json()


def test_signature_and_payload_flips(ca: NitroTestCA) -> None:
    doc = bytearray(ca.document())
    sig_at = len(doc) - 10
    doc[sig_at] ^= 1
    assert _verify(ca, bytes(doc)).first_failure.name == "cose_signature"
    doc = bytearray(ca.document())
    i = doc.find(b"\x01" * 48)  # PCR0 inside the signed payload
    doc[i] ^= 2
    assert _verify(ca, bytes(doc)).first_failure.name == "cose_signature"


def test_untrusted_root_and_other_ca(ca: NitroTestCA) -> None:
    doc = ca.document()
    assert verify_nitro(doc, at=T).first_failure.name == "cert_chain"  # default: AWS root only
    other = NitroTestCA(seed=b"other").document()
    assert _verify(ca, other).first_failure.name == "cert_chain"


def test_debug_allowed_only_by_policy(ca: NitroTestCA) -> None:
    doc = ca.document(pcrs={i: bytes(48) for i in range(16)})
    assert _verify(ca, doc, Policy(trusted_roots=(ca.root_fingerprint,), allow_debug=True)).accepted


def _resign(ca: NitroTestCA, payload: bytes, **kw) -> bytes:
    return ca.document(payload=payload, **kw)


def _payload_with(ca: NitroTestCA, **changes) -> bytes:
    body = cbor.loads(ca.payload(NitroSpec()))
    body.update(changes)
    return cbor.dumps(body)


PARSE_CASES = [
    ("protected_es256", lambda ca: ca.document(protected=b"\xa1\x01\x26")),
    ("protected_extra_header", lambda ca: ca.document(protected=b"\xa2\x01\x38\x22\x04\x41\x00")),
    ("digest_sha256", lambda ca: ca.document(digest="SHA256")),
    ("trailing_after_document", lambda ca: ca.document() + b"\x00"),
    ("trailing_in_payload", lambda ca: _resign(ca, ca.payload(NitroSpec()) + b"\x00")),
    (
        "duplicate_payload_key",
        lambda ca: _resign(
            ca,
            b"\xa2"
            + cbor.dumps("digest")
            + cbor.dumps("SHA384") * 1
            + cbor.dumps("digest")
            + cbor.dumps("SHA384"),
        ),
    ),
    (
        "non_minimal_map_length",
        lambda ca: _resign(ca, ca.payload(NitroSpec()).replace(b"\x64pcrs\xb0", b"\x64pcrs\xb8\x10", 1)),
    ),
    (
        "non_minimal_string_length",
        lambda ca: _resign(ca, ca.payload(NitroSpec()).replace(b"\x66SHA384", b"\x78\x06SHA384", 1)),
    ),
    (
        "non_minimal_pcr_index",
        lambda ca: _resign(
            ca, ca.payload(NitroSpec()).replace(b"\xb0\x00\x58\x30", b"\xb0\x18\x00\x58\x30", 1)
        ),
    ),
    ("unknown_payload_key", lambda ca: _resign(ca, _payload_with(ca, extra=1))),
    ("pcr_wrong_length", lambda ca: _resign(ca, _payload_with(ca, pcrs={0: b"\x01" * 32}))),
    ("pcr_index_out_of_range", lambda ca: _resign(ca, _payload_with(ca, pcrs={32: b"\x01" * 48}))),
    (
        "missing_certificate",
        lambda ca: _resign(
            ca,
            cbor.dumps({k: v for k, v in cbor.loads(ca.payload(NitroSpec())).items() if k != "certificate"}),
        ),
    ),
    ("empty_cabundle", lambda ca: _resign(ca, _payload_with(ca, cabundle=[]))),
    ("certificate_not_der", lambda ca: _resign(ca, _payload_with(ca, certificate=b"\x30\x03abc"))),
    ("timestamp_negative", lambda ca: _resign(ca, _payload_with(ca, timestamp=-5))),
    ("module_id_empty", lambda ca: _resign(ca, _payload_with(ca, module_id=""))),
    (
        "unprotected_not_empty",
        lambda ca: cbor.dumps([b"\xa1\x01\x38\x22", {4: b"k"}, ca.payload(NitroSpec()), b"\x00" * 96]),
    ),
    ("wrong_tag", lambda ca: b"\xd8\x62" + ca.document()),
    ("three_elements", lambda ca: cbor.dumps([b"\xa1\x01\x38\x22", {}, ca.payload(NitroSpec())])),
    (
        "short_signature",
        lambda ca: cbor.dumps(
            [b"\xa1\x01\x38\x22", {}, ca.payload(NitroSpec()), raw_sign(ca.leaf_key, b"x")[:95]]
        ),
    ),
    ("indefinite_byte_string", lambda ca: b"\x84\x5f\x44\xa1\x01\x38\x22\xff\xa0\x40\x40"),
    ("float_value", lambda ca: _resign(ca, b"\xa1\x64abcd\xf9\x3c\x00")),
]


@pytest.mark.parametrize("name,make", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_negative(ca: NitroTestCA, name: str, make) -> None:
    with pytest.raises(EvidenceFormatError):
        parse_document(make(ca))


def test_cbor_strictness() -> None:
    assert cbor.loads(b"\x18\x18") == 24
    for bad in (
        b"\x18\x17",
        b"\x19\x00\xff",
        b"\x1a\x00\x00\xff\xff",
        b"\x1b\x00\x00\x00\x00\xff\xff\xff\xff",
        b"\xa2\x01\x01\x01\x02",
        b"\x01\x00",
        b"\x5f\xff",
        b"\x1c",
        b"\xf7",
        b"\xfa\x00\x00\x00\x00",
        b"\x9f\x01",
        b"\xbf\x01",
        b"\x62\xff\xfe",
        b"\x9a\xff\xff\xff\xff",
    ):
        with pytest.raises(CBORError):
            cbor.loads(bad)
    assert cbor.loads(b"\xbf\x01\x02\xff") == {1: 2}
    assert cbor.loads(b"\x9f\x01\x02\xff") == [1, 2]
    value = {"a": [1, -2, b"x", None, True, False], 3: cbor.Tag(18, "t")}
    assert cbor.loads(cbor.dumps(value)) == value
    assert cbor.loads(cbor.dumps(value, indefinite_maps=True)) == value


def test_nested_depth_limit() -> None:
    with pytest.raises(CBORError, match="deep"):
        cbor.loads(b"\x81" * 40 + b"\x00")
