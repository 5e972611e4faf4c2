"""TDX verification against quotes and collateral from the local test CA: one valid quote, then
every signature, chain link, field, time window and policy rule broken in turn."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from offchain.compute.errors import EvidenceFormatError
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.tdx import ATTR_DEBUG, ATTR_SEPT_VE_DISABLE, TdxCollateral, parse_quote, verify_tdx
from offchain.compute.testca import TdxSpec, TdxTestCA

AT = TdxSpec().at
SEPT = ATTR_SEPT_VE_DISABLE
D = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


@pytest.fixture(scope="module")
def ca() -> TdxTestCA:
    return TdxTestCA()


def _policy(ca: TdxTestCA, **kw: object) -> Policy:
    return Policy(trusted_roots=(ca.root_fingerprint,), **kw)  # type: ignore[arg-type]


def _verify(
    ca: TdxTestCA, quote: bytes, col: TdxCollateral | None, policy: Policy | None = None, at: datetime = AT
):
    return verify_tdx(
        quote, col, at=at, policy=policy or _policy(ca), trust=TrustStore.default().with_roots([ca.root])
    )


@pytest.mark.parametrize(
    "changes", [{}, {"version": 5}, {"version": 5, "body_type": 3}, {"trailing": bytes(70)}]
)
def test_valid_quotes_accepted(ca: TdxTestCA, changes: dict) -> None:
    q, col = ca.evidence(**changes)
    v = _verify(ca, q, col)
    assert v.accepted, v.to_json()
    assert v.tcb_status == "UpToDate" and v.first_failure is None
    assert v.root_fingerprint == ca.root_fingerprint
    assert v.claims["mrtd"] == bytes(range(48)).hex()
    assert [c.name for c in v.checks][:3] == ["trailing_bytes", "pck_chain", "root_crl"]


def test_intel_qvl_skip_rule_for_module_components(ca: TdxTestCA) -> None:
    # TEE_TCB_SVN[1] = 1 > 0: components 0 and 1 are not compared with the level (Intel QVL semantics).
    q, col = ca.evidence(level_tdx=(9, 9, 2) + (0,) * 13)
    assert _verify(ca, q, col).accepted
    # With a zero module major version they are compared, and the level no longer matches.
    q, col = ca.evidence(tee_tcb_svn=bytes([3, 0, 2]) + bytes(13), level_tdx=(9, 0, 2) + (0,) * 13)
    v = _verify(ca, q, col)
    assert not v.accepted and v.first_failure.name == "tcb_level"


def test_allowed_swhardening_with_allowlisted_advisory(ca: TdxTestCA) -> None:
    q, col = ca.evidence(level_status="SWHardeningNeeded", level_advisories=("INTEL-SA-00615",))
    pol = _policy(
        ca, allowed_tcb_statuses=("UpToDate", "SWHardeningNeeded"), allowed_advisories=("INTEL-SA-00615",)
    )
    v = _verify(ca, q, col, pol)
    assert v.accepted and v.tcb_status == "SWHardeningNeeded" and v.advisory_ids == ["INTEL-SA-00615"]


def _patch_levels(obj: dict) -> None:
    del obj["tcbLevels"][0]["tcb"]["sgxtcbcomponents"]


# (name, spec changes, expected first failing check)
SPEC_CASES = [
    ("debug_td", {"td_attributes": SEPT | ATTR_DEBUG}, "td_attributes"),
    ("sept_ve_disable_clear", {"td_attributes": 0}, "td_attributes"),
    ("reserved_tud_bit", {"td_attributes": SEPT | 1 << 5}, "td_attributes"),
    ("reserved_sec_bit", {"td_attributes": SEPT | 1 << 12}, "td_attributes"),
    ("reserved_other_bit", {"td_attributes": SEPT | 1 << 40}, "td_attributes"),
    ("mrservicetd_nonzero", {"version": 5, "body_type": 3, "mrservicetd": b"\x01" * 48}, "td_attributes"),
    ("pck_expired", {"pck_not_after": D(2025, 6, 1)}, "pck_chain"),
    ("pck_not_yet_valid", {"pck_not_before": D(2025, 6, 20)}, "pck_chain"),
    ("pck_revoked", {"revoked_pck": True}, "pck_crl"),
    ("platform_ca_revoked", {"revoked_platform": True}, "root_crl"),
    ("tcb_signer_revoked", {"revoked_tcb_signer": True}, "tcb_info"),
    ("crls_expired", {"crl_next": D(2025, 6, 10)}, "root_crl"),
    ("crls_not_yet_current", {"crl_this": D(2025, 6, 16)}, "root_crl"),
    ("collateral_expired", {"next_update": D(2025, 6, 10)}, "tcb_info"),
    ("collateral_issued_in_future", {"issue": D(2025, 6, 16)}, "tcb_info"),
    ("tcb_signer_expired", {"tcb_signer_not_after": D(2025, 6, 1)}, "tcb_info"),
    ("tcb_info_id_sgx", {"tcb_info_id": "SGX"}, "tcb_info"),
    ("qe_identity_id_wrong", {"qe_identity_id": "QE"}, "qe_identity"),
    ("fmspc_mismatch", {"tcb_info_fmspc": "00906ED50000"}, "tcb_level"),
    ("qe_mrsigner_mismatch", {"qe_mrsigner": b"\x11" * 32}, "qe_identity_match"),
    ("qe_isvprodid_mismatch", {"qe_isvprodid": 1}, "qe_identity_match"),
    ("qe_debug_attribute", {"qe_attributes": bytes.fromhex("13") + bytes(15)}, "qe_identity_match"),
    ("qe_isvsvn_below_levels", {"qe_isvsvn": 3}, "qe_identity_match"),
    ("qe_tcb_out_of_date", {"qe_status": "OutOfDate"}, "tcb_status"),
    ("platform_sgx_svn_below", {"pck_comps": (1,) * 8 + (0,) * 8}, "tcb_level"),
    ("platform_pcesvn_below", {"pcesvn": 10}, "tcb_level"),
    ("tdx_component_below", {"tee_tcb_svn": bytes([3, 1, 1]) + bytes(13)}, "tcb_level"),
    ("module_isvsvn_below", {"tee_tcb_svn": bytes([2, 1, 2]) + bytes(13)}, "tcb_level"),
    ("module_identity_missing", {"module_id": "TDX_02"}, "tcb_level"),
    ("mrsignerseam_nonzero", {"mrsignerseam": b"\x01" * 48}, "tcb_level"),
    ("seam_attributes_nonzero", {"seam_attributes": b"\x01" + bytes(7)}, "tcb_level"),
    ("platform_out_of_date", {"level_status": "OutOfDate"}, "tcb_status"),
    ("platform_revoked", {"level_status": "Revoked"}, "tcb_status"),
    (
        "platform_swhardening_default_policy",
        {"level_status": "SWHardeningNeeded", "level_advisories": ("INTEL-SA-1",)},
        "tcb_status",
    ),
    ("platform_configuration_needed", {"level_status": "ConfigurationNeeded"}, "tcb_status"),
    ("unknown_tcb_status", {"level_status": "Bogus"}, "tcb_level"),
    ("module_out_of_date", {"module_status": "OutOfDate"}, "tcb_status"),
    ("tcb_info_levels_malformed", {"tcb_info_patch": _patch_levels}, "tcb_level"),
    ("trailing_nonzero", {"trailing": b"extra bytes"}, "trailing_bytes"),
]


@pytest.mark.parametrize("name,changes,check", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_spec_negative(ca: TdxTestCA, name: str, changes: dict, check: str) -> None:
    q, col = ca.evidence(**changes)
    v = _verify(ca, q, col)
    assert not v.accepted
    assert v.first_failure.name == check, v.to_json()


def _flip(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)


def _col(col: TdxCollateral, **parts: str | None) -> TdxCollateral:
    return TdxCollateral({**col.parts, **parts})


def _flip_hex(text: str, index: int) -> str:
    return text[:index] + ("1" if text[index] != "1" else "2") + text[index + 1 :]


# offsets in a v4 quote: signed [0, 632); signature 636; AK 700; QE report 770; QE sig 1154; auth 1220
QUOTE_MUTATIONS = [
    ("quote_signature_flipped", lambda q, c: (_flip(q, 640), c), "quote_signature"),
    ("td_report_mrtd_flipped", lambda q, c: (_flip(q, 184), c), "quote_signature"),
    ("header_user_data_flipped", lambda q, c: (_flip(q, 30), c), "quote_signature"),
    ("qe_report_flipped", lambda q, c: (_flip(q, 770 + 258), c), "qe_report_signature"),
    ("qe_report_signature_flipped", lambda q, c: (_flip(q, 1160), c), "qe_report_signature"),
    ("qe_auth_data_flipped", lambda q, c: (_flip(q, 1225), c), "qe_report_data"),
    ("attestation_key_flipped", lambda q, c: (_flip(q, 710), c), "qe_report_data"),
    (
        "tcb_info_whitespace",
        lambda q, c: (q, _col(c, tcb_info=c.get("tcb_info").replace(",", ", ", 1))),
        "tcb_info",
    ),
    (
        "tcb_info_signature_flipped",
        lambda q, c: (q, _col(c, tcb_info_signature=_flip_hex(c.get("tcb_info_signature"), 5))),
        "tcb_info",
    ),
    (
        "qe_identity_signature_flipped",
        lambda q, c: (q, _col(c, qe_identity_signature=_flip_hex(c.get("qe_identity_signature"), 70))),
        "qe_identity",
    ),
    (
        "qe_identity_body_changed",
        lambda q, c: (q, _col(c, qe_identity=c.get("qe_identity").replace('"isvprodid":2', '"isvprodid":3'))),
        "qe_identity",
    ),
    ("pck_crl_replaced_by_root_crl", lambda q, c: (q, _col(c, pck_crl=c.get("root_ca_crl"))), "pck_crl"),
    ("root_crl_replaced_by_pck_crl", lambda q, c: (q, _col(c, root_ca_crl=c.get("pck_crl"))), "root_crl"),
    (
        "tcb_chain_without_root",
        lambda q, c: (
            q,
            _col(
                c,
                tcb_info_issuer_chain=c.get("tcb_info_issuer_chain").split("-----END CERTIFICATE-----")[0]
                + "-----END CERTIFICATE-----\n",
            ),
        ),
        "tcb_info",
    ),
    ("tcb_info_missing", lambda q, c: (q, _col(c, tcb_info=None)), "tcb_info"),
    ("no_collateral", lambda q, c: (q, None), "root_crl"),
    ("pck_crl_not_hex", lambda q, c: (q, _col(c, pck_crl="zz")), "pck_crl"),
]


@pytest.mark.parametrize("name,mutate,check", QUOTE_MUTATIONS, ids=[c[0] for c in QUOTE_MUTATIONS])
def test_mutation_negative(ca: TdxTestCA, name: str, mutate, check: str) -> None:
    q, col = mutate(*ca.evidence())
    v = _verify(ca, q, col)
    assert not v.accepted
    assert v.first_failure.name == check, v.to_json()


POLICY_CASES = [
    ("mrtd_mismatch", {"measurements": {"mrtd": "00" * 48}}, "measurements"),
    ("reportdata_mismatch", {"measurements": {"reportdata": "01" * 64}}, "measurements"),
    ("nitro_measurement_on_tdx", {"measurements": {"pcr0": "00" * 48}}, "measurements"),
    ("collateral_too_old", {"max_collateral_age_s": 3600}, "tcb_info"),
    ("trailing_zeros_refused", {"allow_trailing_zeros": False}, "trailing_bytes"),
]


@pytest.mark.parametrize("name,kw,check", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_policy_negative(ca: TdxTestCA, name: str, kw: dict, check: str) -> None:
    q, col = ca.evidence(trailing=bytes(4))
    v = _verify(ca, q, col, _policy(ca, **kw))
    assert not v.accepted and v.first_failure.name == check, v.to_json()


def test_expected_measurements_accept(ca: TdxTestCA) -> None:
    q, col = ca.evidence(reportdata=b"\x07" * 64)
    pol = _policy(
        ca, measurements={"mrtd": bytes(range(48)).hex(), "reportdata": "07" * 64, "rtmr3": "00" * 48}
    )
    assert _verify(ca, q, col, pol).accepted


def test_test_root_not_trusted_by_default(ca: TdxTestCA) -> None:
    q, col = ca.evidence()
    v = verify_tdx(q, col, at=AT)  # default policy and trust store: Intel and AWS roots only
    assert not v.accepted and v.first_failure.name == "pck_chain"
    # naming the root in the trust store without the policy also trusting it is not enough
    v = verify_tdx(q, col, at=AT, trust=TrustStore.default().with_roots([ca.root]))
    assert not v.accepted and v.first_failure.name == "pck_chain"


def test_other_ca_chain_rejected(ca: TdxTestCA) -> None:
    q, col = TdxTestCA(seed=b"another").evidence()
    v = _verify(ca, q, col)
    assert not v.accepted and v.first_failure.name == "pck_chain"


@pytest.mark.parametrize(
    "t,ok",
    [
        (D(2025, 6, 1), True),
        (datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2025, 5, 31, 23, 59, 59, tzinfo=UTC), False),
        (D(2025, 7, 1), False),
    ],
)
def test_time_window_boundaries(ca: TdxTestCA, t: datetime, ok: bool) -> None:
    q, col = ca.evidence()
    assert _verify(ca, q, col, at=t).accepted is ok


def _set(q: bytes, off: int, data: bytes) -> bytes:
    return q[:off] + data + q[off + len(data) :]


PARSE_CASES = [
    ("version_3", lambda q: _set(q, 0, b"\x03\x00")),
    ("att_key_type", lambda q: _set(q, 2, b"\x03\x00")),
    ("tee_type_sgx", lambda q: _set(q, 4, b"\x00\x00\x00\x00")),
    ("vendor_id", lambda q: _set(q, 12, b"\x00")),
    ("cert_data_type_5", lambda q: _set(q, 764, b"\x05\x00")),
    (
        "signature_length_short",
        lambda q: _set(q, 632, (int.from_bytes(q[632:636], "little") - 1).to_bytes(4, "little")),
    ),
    (
        "signature_length_long",
        lambda q: _set(q, 632, (int.from_bytes(q[632:636], "little") + 1).to_bytes(4, "little")),
    ),
    ("truncated", lambda q: q[:2000]),
    ("empty", lambda q: b""),
    ("inner_cert_type_3", lambda q: _set(q, 1252, b"\x03\x00")),
]


@pytest.mark.parametrize("name,mutate", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_negative(ca: TdxTestCA, name: str, mutate) -> None:
    q, _ = ca.evidence()
    with pytest.raises(EvidenceFormatError):
        parse_quote(mutate(q))


def test_v5_body_size_mismatch(ca: TdxTestCA) -> None:
    q, _ = ca.evidence(version=5)
    with pytest.raises(EvidenceFormatError, match="body size"):
        parse_quote(_set(q, 50, (600).to_bytes(4, "little")))
    with pytest.raises(EvidenceFormatError, match="body type"):
        parse_quote(_set(q, 48, (1).to_bytes(2, "little")))


def test_pck_chain_with_two_certs_rejected(ca: TdxTestCA) -> None:
    spec = TdxSpec()
    orig = ca.chain
    try:
        ca.chain = lambda s: orig(s)[:2]  # type: ignore[assignment,return-value]
        q = ca.quote(replace(spec))
    finally:
        ca.chain = orig  # type: ignore[method-assign]
    with pytest.raises(EvidenceFormatError, match="2 certificates"):
        parse_quote(q)


def test_negative_variant_count() -> None:
    assert len(SPEC_CASES) + len(QUOTE_MUTATIONS) + len(POLICY_CASES) + len(PARSE_CASES) >= 60


@pytest.mark.parametrize(
    "blob", [b"{not json", b'{"x": \xff}', b"\x30\x00", b"", b'{"tcb_info": 5}', b'{"bogus": "x"}']
)
def test_collateral_files_errors(blob: bytes) -> None:
    from offchain.compute.errors import CollateralError

    with pytest.raises(CollateralError):
        TdxCollateral.from_files([blob])


def test_collateral_json_errors() -> None:
    from offchain.compute.errors import CollateralError

    for text in ("[]", "nope", '{"tcb_info": 1}', '{"extra": "x"}'):
        with pytest.raises(CollateralError):
            TdxCollateral.from_json(text)


def test_collateral_hash_changes_with_any_part(ca: TdxTestCA) -> None:
    _, col = ca.evidence()
    hashes = {col.hash()} | {TdxCollateral({**col.parts, k: None}).hash() for k in col.parts}
    assert len(hashes) == 1 + len(col.parts)


def test_pcs_response_without_signature_rejected() -> None:
    from offchain.compute.errors import CollateralError

    with pytest.raises(CollateralError, match="signature"):
        TdxCollateral.from_files([b'{"tcbInfo": {"id": "TDX"}}'])
    with pytest.raises(CollateralError, match="signature"):
        TdxCollateral.from_files([b'{"enclaveIdentity": {}, "signature": 5}'])


def test_tcb_signer_must_be_named_tcb_signing(ca: TdxTestCA) -> None:
    from offchain.compute.testca import ROOT_CN, make_cert

    q, col = ca.evidence()
    wrong = make_cert("Intel SGX PCK Platform CA", ca.tcb_key, ROOT_CN, ca.root_key, ca=False, serial=0x3003)
    chain = (wrong.public_bytes(Encoding.PEM) + ca.root.public_bytes(Encoding.PEM)).decode()
    v = _verify(ca, q, TdxCollateral({**col.parts, "tcb_info_issuer_chain": chain}))
    assert v.first_failure.name == "tcb_info" and "TCB Signing" in v.first_failure.detail
