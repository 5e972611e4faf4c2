"""Differential test against dcap-qvl (PyPI, Rust) on the shared TDX vectors and test-CA quotes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy, parse_time
from offchain.compute.tdx import TdxCollateral, verify_tdx
from offchain.compute.testca import TdxSpec, TdxTestCA
from tests.support import vector_path

dcap_qvl = pytest.importorskip("dcap_qvl", reason="dcap-qvl (PyPI) is not installed")


def _theirs(quote: bytes, col: TdxCollateral, at: int, root_der: bytes | None = None) -> str | None:
    c = dcap_qvl.QuoteCollateralV3.from_json(json.dumps({k: v for k, v in col.parts.items()}))
    try:
        r = (
            dcap_qvl.verify(quote, c, at)
            if root_der is None
            else dcap_qvl.verify_with_root_ca(quote, c, root_der, at)
        )
    except Exception:  # dcap-qvl raises ValueError/RuntimeError with a message
        return None
    return str(r.status)


@pytest.mark.parametrize(
    "quote,col,at",
    [
        ("dcapqvl_tdx_quote.bin", "dcapqvl_tdx_quote.collateral.json", "2025-07-01T00:00:00Z"),
        ("dcapqvl_tdx_quote.bin", "dcapqvl_tdx_quote.collateral.json", "2025-07-19T10:00:34Z"),
        ("dcapqvl_tdx_quote.bin", "dcapqvl_tdx_quote.collateral.json", "2025-07-19T10:00:35Z"),
        ("dcapqvl_tdx_quote.bin", "dcapqvl_tdx_quote.collateral.json", "2025-06-19T10:32:26Z"),
        ("dcapqvl_tdx_quote.bin", "dcapqvl_tdx_quote.collateral.json", "2025-07-20T00:00:00Z"),
        (
            "dcapqvl_tdx_quote_outdated.bin",
            "dcapqvl_tdx_quote_outdated.collateral.json",
            "2026-03-01T00:00:00Z",
        ),
    ],
)
def test_agrees_on_shared_vectors(quote: str, col: str, at: str) -> None:
    q = vector_path("tee", "tdx", quote).read_bytes()
    c = TdxCollateral.from_json(vector_path("tee", "tdx", col).read_text())
    t = parse_time(at)
    ours = verify_tdx(q, c, at=t)
    theirs = _theirs(q, c, int(t.timestamp()))
    assert (ours.tcb_status if ours.accepted else None) == theirs


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"version": 5},
        {"version": 5, "body_type": 3},
        {"level_status": "OutOfDate"},
        {"pck_comps": (1,) * 8 + (0,) * 8},
        {"revoked_pck": True},
        {"next_update": TdxSpec().at.replace(day=10)},
        {"revoked_platform": True},
        {"crl_next": TdxSpec().at.replace(day=10)},
        {"issue": TdxSpec().at.replace(day=16)},
        {"td_attributes": 1 | 1 << 28},
        {"qe_mrsigner": b"\x11" * 32},
        {"qe_isvprodid": 1},
        {"fmspc": b"\x00" * 6},
        {"pcesvn": 10},
        {"tee_tcb_svn": bytes([3, 1, 1]) + bytes(13)},
        {"tcb_info_id": "SGX"},
        {"version": 5, "body_type": 3, "mrservicetd": b"\x01" * 48},
        # Intel QVL rule: TDX components 0 and 1 are skipped when the module major version is non-zero
        # (dcap-qvl 0.7.0 does the same); with major version 0 they are compared.
        {"level_tdx": (9, 9, 2) + (0,) * 13},
        {"tee_tcb_svn": bytes([3, 0, 2]) + bytes(13), "level_tdx": (9, 0, 2) + (0,) * 13},
        {"tee_tcb_svn": bytes([2, 1, 2]) + bytes(13)},
        {"module_id": "TDX_02"},
    ],
)
def test_agrees_on_test_ca_quotes(changes: dict) -> None:
    ca = TdxTestCA()
    q, c = ca.evidence(**changes)
    at = TdxSpec().at
    ours = verify_tdx(
        q,
        c,
        at=at,
        trust=TrustStore.default().with_roots([ca.root]),
        policy=Policy(trusted_roots=(ca.root_fingerprint,), allowed_tcb_statuses=("UpToDate", "OutOfDate")),
    )
    theirs = _theirs(q, c, int(at.timestamp()), ca.root.public_bytes(Encoding.DER))
    assert (ours.tcb_status if ours.accepted else None) == theirs


def _resigned_qe_identity(ca: TdxTestCA, col: TdxCollateral, **fields: str) -> TdxCollateral:
    qe = json.loads(col.parts["qe_identity"])
    qe.update(fields)
    body = json.dumps(qe, separators=(",", ":"))
    return TdxCollateral(
        {**col.parts, "qe_identity": body, "qe_identity_signature": ca.sign_collateral(body)}
    )


def _iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "edge,ours_ok,theirs_ok",
    [
        # dcap-qvl: TCB info and QE identity are current on [issueDate, nextUpdate] (nextUpdate inclusive);
        # ours: [issueDate, nextUpdate) (stricter by exactly the instant nextUpdate)
        ("tcb_info_next_update", False, True),
        ("qe_identity_next_update", False, True),
        ("tcb_info_issue_date", True, True),
        # both: CRLs are current on [thisUpdate, nextUpdate), nextUpdate exclusive ...
        ("crl_next_update", False, False),
        ("crl_this_update", True, True),
        # ... but dcap-qvl does not refuse a CRL issued after `at`; we do (the CRL is from the future)
        ("crl_this_update_future", False, True),
    ],
)
def test_validity_window_edges(edge: str, ours_ok: bool, theirs_ok: bool) -> None:
    """What docs/attestation.md says about validity windows, pinned against dcap-qvl itself."""
    ca = TdxTestCA()
    at = TdxSpec().at
    one = timedelta(seconds=1)
    changes = {
        "tcb_info_next_update": {"next_update": at},
        "qe_identity_next_update": {},
        "tcb_info_issue_date": {"issue": at},
        "crl_next_update": {"crl_next": at},
        "crl_this_update": {"crl_this": at},
        "crl_this_update_future": {"crl_this": at + one},
    }[edge]
    q, c = ca.evidence(**changes)
    if edge == "qe_identity_next_update":
        c = _resigned_qe_identity(ca, c, nextUpdate=_iso(at))
        assert json.loads(c.parts["tcb_info"])["nextUpdate"] != _iso(at)
    ours = verify_tdx(
        q,
        c,
        at=at,
        trust=TrustStore.default().with_roots([ca.root]),
        policy=Policy(trusted_roots=(ca.root_fingerprint,)),
    )
    theirs = _theirs(q, c, int(at.timestamp()), ca.root.public_bytes(Encoding.DER))
    assert ours.accepted is ours_ok
    assert (theirs == "UpToDate") is theirs_ok
