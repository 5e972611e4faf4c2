"""Every shared real-hardware vector (../shared/vectors/tee) gives its expected verdict."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.compute.errors import AttestationError, CollateralError, EvidenceFormatError
from offchain.compute.nitro import parse_document, verify_nitro
from offchain.compute.pki import (
    AWS_NITRO_ROOT_PEM,
    AWS_NITRO_ROOT_SHA256,
    INTEL_SGX_ROOT_PEM,
    INTEL_SGX_ROOT_SHA256,
    CheckFailed,
    TrustStore,
    der,
    ecdsa_verify,
    fingerprint,
    load_pem_certs,
)
from offchain.compute.policy import Policy, parse_time
from offchain.compute.tdx import TdxCollateral, parse_quote, slice_json_member, verify_tdx
from tests.support import vector_path


def _tdx(name: str) -> bytes:
    return vector_path("tee", "tdx", name).read_bytes()


def _col(name: str) -> TdxCollateral:
    return TdxCollateral.from_json(vector_path("tee", "tdx", name).read_text())


def _gotdx_collateral() -> TdxCollateral:
    names = (
        "gotdx_spr_e4.tcbinfo.json",
        "gotdx_spr_e4.qeidentity.json",
        "gotdx_spr_e4.pckcrl.der",
        "gotdx_spr_e4.rootcrl.der",
    )
    return TdxCollateral.from_files([_tdx(n) for n in names])


def test_pinned_roots_hash_to_their_fingerprints() -> None:
    for pem, fp in ((INTEL_SGX_ROOT_PEM, INTEL_SGX_ROOT_SHA256), (AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256)):
        (cert,) = load_pem_certs(pem)
        assert hashlib.sha256(der(cert)).hexdigest() == fp == fingerprint(cert)


# The shared README gives the window's end as 10:16:03 (TCB info nextUpdate); the PCK CRL's nextUpdate
# is earlier, 2025-07-19T10:00:35Z, and dcap-qvl also rejects from then on (CrlExpired). Windows are
# half-open: [thisUpdate/issueDate, nextUpdate).
@pytest.mark.parametrize("at", ["2025-06-19T10:32:27Z", "2025-07-01T00:00:00Z", "2025-07-19T10:00:34Z"])
def test_dcapqvl_quote_accepted_inside_window(at: str) -> None:
    v = verify_tdx(
        _tdx("dcapqvl_tdx_quote.bin"), _col("dcapqvl_tdx_quote.collateral.json"), at=parse_time(at)
    )
    assert v.accepted, v.to_json()
    assert v.tcb_status == "UpToDate" and v.advisory_ids == []
    assert v.root_fingerprint == INTEL_SGX_ROOT_SHA256
    assert v.claims["quote_version"] == 4 and v.claims["td_attributes"] == "0000000010000000"


@pytest.mark.parametrize(
    "at,check",
    [
        ("2025-06-19T10:32:26Z", "qe_identity"),
        ("2025-07-19T10:00:35Z", "pck_crl"),
        ("2025-07-19T10:16:04Z", "tcb_info"),
    ],
)
def test_dcapqvl_quote_rejected_outside_window(at: str, check: str) -> None:
    v = verify_tdx(
        _tdx("dcapqvl_tdx_quote.bin"), _col("dcapqvl_tdx_quote.collateral.json"), at=parse_time(at)
    )
    assert not v.accepted
    assert check in [c.name for c in v.checks if not c.ok]


def test_dcapqvl_outdated_v5_quote_no_tcb_level() -> None:
    q = parse_quote(_tdx("dcapqvl_tdx_quote_outdated.bin"))
    assert (q.version, q.body_type) == (5, 3)
    v = verify_tdx(
        q, _col("dcapqvl_tdx_quote_outdated.collateral.json"), at=parse_time("2026-03-01T00:00:00Z")
    )
    assert not v.accepted
    assert v.first_failure.name == "tcb_level" and "no TCB level" in v.first_failure.detail
    # every signature and chain check before it passed
    assert all(c.ok for c in v.checks[: [c.name for c in v.checks].index("tcb_level")])


def test_gotdx_spr_e4_rejected_no_tcb_level_and_sept_ve_clear() -> None:
    v = verify_tdx(_tdx("gotdx_spr_e4_quote.bin"), _gotdx_collateral(), at=parse_time("2023-07-01T01:00:00Z"))
    assert not v.accepted
    assert not v.check("tcb_level").ok and "no TCB level" in v.check("tcb_level").detail
    assert not v.check("td_attributes").ok and "SEPT_VE_DISABLE" in v.check("td_attributes").detail
    assert not v.check("trailing_bytes").ok  # 39 ASCII bytes after the signature data
    for name in (
        "pck_chain",
        "root_crl",
        "pck_crl",
        "qe_report_signature",
        "qe_report_data",
        "quote_signature",
    ):
        assert v.check(name).ok, name


def test_trustee_debug_td_rejected_for_debug_only() -> None:
    v = verify_tdx(
        _tdx("trustee_debug_td_quote.bin"), _gotdx_collateral(), at=parse_time("2023-07-01T01:00:00Z")
    )
    assert not v.accepted
    assert not v.check("td_attributes").ok and "DEBUG" in v.check("td_attributes").detail
    # its TCB would otherwise evaluate UpToDate (the collateral here lacks issuer chains, so unverified)
    assert v.check("tcb_level").ok and "UpToDate" in v.check("tcb_level").detail
    assert v.tcb_status is None and v.claims["unverified_tcb_status"] == "UpToDate"
    assert "unverified" in v.check("tcb_status").detail
    assert v.check("quote_signature").ok and v.check("pck_chain").ok


def _nitro(name: str) -> bytes:
    return vector_path("tee", "nitro", name).read_bytes()


def test_oyster_aws_accepted_at_own_timestamp() -> None:
    d = parse_document(_nitro("oyster_aws.cose"))
    assert d.timestamp == datetime(2024, 12, 13, 7, 37, 58, 960000, tzinfo=UTC)
    v = verify_nitro(d, at=d.timestamp)
    assert v.accepted, v.to_json()
    assert v.root_fingerprint == AWS_NITRO_ROOT_SHA256
    assert len(d.public_key or b"") == 64


@pytest.mark.parametrize("at", ["2024-12-13T08:57:46Z", "2024-12-13T05:57:41Z"])
def test_oyster_aws_rejected_outside_leaf_window(at: str) -> None:
    v = verify_nitro(
        _nitro("oyster_aws.cose"), at=parse_time(at), policy=Policy(max_age_s=10**9, max_future_skew_s=10**9)
    )
    assert not v.accepted and v.first_failure.name == "cert_chain"


def test_oyster_aws_too_old_for_default_max_age() -> None:
    v = verify_nitro(
        _nitro("oyster_aws.cose"), at=parse_time("2024-12-14T08:00:00Z"), policy=Policy(max_future_skew_s=0)
    )
    assert not v.accepted and "freshness" in [c.name for c in v.checks if not c.ok]


def test_oyster_custom_root_rejected_unless_named() -> None:
    raw = _nitro("oyster_custom_testroot.cose")
    d = parse_document(raw)
    v = verify_nitro(d, at=d.timestamp)
    assert (
        not v.accepted and v.first_failure.name == "cert_chain" and "not a trusted" in v.first_failure.detail
    )
    root = d.cabundle[0]
    v = verify_nitro(
        d,
        at=d.timestamp,
        trust=TrustStore.default().with_roots([root]),
        policy=Policy(trusted_roots=(fingerprint(root),)),
    )
    assert v.accepted, v.to_json()


def test_evervault_debug_rejected() -> None:
    d = parse_document(_nitro("evervault_debug.cose"))
    v = verify_nitro(d, at=d.timestamp)
    assert not v.accepted and v.first_failure.name == "debug"
    assert v.check("cert_chain").ok and v.check("cose_signature").ok


def test_pcs_format_collateral_is_sliced_not_reencoded(tmp_path) -> None:
    """Intel PCS responses ({"tcbInfo": ..., "signature": ...}) are verified over the raw member bytes."""
    full = json.loads(vector_path("tee", "tdx", "dcapqvl_tdx_quote.collateral.json").read_text())
    pcs_tcb = (
        '{ "tcbInfo" :  ' + full["tcb_info"] + ' ,\n "signature":"' + full["tcb_info_signature"] + '"}'
    ).encode()
    pcs_qe = (
        '{"enclaveIdentity":' + full["qe_identity"] + ',"signature":"' + full["qe_identity_signature"] + '"}'
    ).encode()
    rest = {
        k: v
        for k, v in full.items()
        if k not in ("tcb_info", "tcb_info_signature", "qe_identity", "qe_identity_signature")
    }
    col = TdxCollateral.from_files([json.dumps(rest).encode(), pcs_tcb, pcs_qe])
    assert col.parts == TdxCollateral.from_json(json.dumps(full)).parts
    v = verify_tdx(_tdx("dcapqvl_tdx_quote.bin"), col, at=parse_time("2025-07-01T00:00:00Z"))
    assert v.accepted
    # the real 2023 PCS response of go-tdx-guest verifies with Intel's TCB signing key (same key since 2023)
    raw = _tdx("gotdx_spr_e4.tcbinfo.json").decode()
    body, sig = slice_json_member(raw, "tcbInfo"), json.loads(raw)["signature"]
    signer = load_pem_certs(full["tcb_info_issuer_chain"].encode())[0]
    ecdsa_verify(signer.public_key(), bytes.fromhex(sig), body.encode(), "tcbInfo")
    with pytest.raises(CheckFailed):
        ecdsa_verify(
            signer.public_key(), bytes.fromhex(sig), json.dumps(json.loads(body)).encode(), "tcbInfo"
        )


@pytest.mark.parametrize("text", ["[]", '{"a":1,"a":2}', '{"a" 1}', '{"a":1', '{"b":1}', '{"a":1}x'])
def test_slice_json_member_errors(text: str) -> None:
    with pytest.raises(CollateralError):
        slice_json_member(text, "a")


@given(st.integers(0, 10**6), st.integers(0, 7))
@settings(max_examples=40)
def test_real_quote_bit_flips_never_accept(pos: int, bit: int) -> None:
    q = bytearray(_tdx("dcapqvl_tdx_quote.bin"))
    pos %= len(q) - 70  # the 70-byte zero tail is not signed (and any non-zero byte there is refused)
    q[pos] ^= 1 << bit
    try:
        v = verify_tdx(
            bytes(q), _col("dcapqvl_tdx_quote.collateral.json"), at=parse_time("2025-07-01T00:00:00Z")
        )
    except AttestationError:
        return
    assert not v.accepted


@given(st.integers(0, 10**6), st.integers(0, 7))
@settings(max_examples=40)
def test_real_nitro_bit_flips_never_accept(pos: int, bit: int) -> None:
    d = bytearray(_nitro("oyster_aws.cose"))
    pos %= len(d)
    d[pos] ^= 1 << bit
    try:
        v = verify_nitro(bytes(d), at=datetime(2024, 12, 13, 7, 37, 58, 960000, tzinfo=UTC))
    except AttestationError:
        return
    assert not v.accepted


def test_every_truncation_of_real_evidence_is_a_typed_error() -> None:
    q = _tdx("dcapqvl_tdx_quote.bin")
    for cut in range(0, len(q) - 70, 7):
        with pytest.raises(EvidenceFormatError):
            parse_quote(q[:cut])
    d = _nitro("oyster_aws.cose")
    for cut in range(0, len(d), 5):
        with pytest.raises(EvidenceFormatError):
            parse_document(d[:cut])
