"""Collateral must chain to the root the evidence chains to, whatever else the caller trusts.

The attack: a caller trusts a second root (a test CA, the dev TEE's root) next to Intel's. Whoever
holds that root's key signs TCB info or a QE identity of their choosing; before the fix, a genuine
Intel quote was then judged under that collateral (an unmatched, out-of-date platform came out
UpToDate) while the verdict named only the Intel root.
"""

from __future__ import annotations

import json

import pytest

from offchain.compute.errors import PolicyError
from offchain.compute.pki import INTEL_SGX_ROOT_SHA256, TrustStore
from offchain.compute.policy import Policy, parse_time
from offchain.compute.tdx import TdxCollateral, verify_tdx
from offchain.compute.testca import TdxSpec, TdxTestCA
from tests.support import vector_path

OUTDATED_AT = parse_time("2026-03-01T00:00:00Z")
GOOD_AT = parse_time("2025-07-01T00:00:00Z")


def _real(name: str) -> tuple[bytes, dict[str, str]]:
    q = vector_path("tee", "tdx", name + ".bin").read_bytes()
    return q, json.loads(vector_path("tee", "tdx", name + ".collateral.json").read_text())


def _both_roots(ca: TdxTestCA) -> tuple[TrustStore, Policy]:
    """What `--trust-root test.pem` gives: the default store plus the test root, both pinned."""
    return TrustStore.default().with_roots([ca.root]), Policy(
        trusted_roots=(INTEL_SGX_ROOT_SHA256, ca.root_fingerprint)
    )


def _lift_every_level(tcb_info: dict) -> None:
    """The forgery: every level UpToDate and a last level that any platform meets."""
    for lvl in tcb_info["tcbLevels"]:
        lvl["tcbStatus"] = "UpToDate"
        lvl.pop("advisoryIDs", None)
    floor = json.loads(json.dumps(tcb_info["tcbLevels"][-1]))
    for part in ("sgxtcbcomponents", "tdxtcbcomponents"):
        for comp in floor["tcb"][part]:
            comp["svn"] = 0
    floor["tcb"]["pcesvn"] = 0
    tcb_info["tcbLevels"].append(floor)
    for mod in tcb_info.get("tdxModuleIdentities", []):
        for lvl in mod["tcbLevels"]:
            lvl["tcbStatus"] = "UpToDate"
            lvl.pop("advisoryIDs", None)


def _resign(ca: TdxTestCA, parts: dict[str, str], which: str, body: str) -> dict[str, str]:
    out = dict(parts)
    out[which] = body
    out[which + "_signature"] = ca.sign_collateral(body)
    out[which + "_issuer_chain"] = ca.tcb_issuer_chain()
    return out


def test_forged_tcb_info_under_a_second_root_cannot_lift_an_outdated_intel_platform() -> None:
    q, parts = _real("dcapqvl_tdx_quote_outdated")
    ca = TdxTestCA(seed=b"attacker")
    tcb = json.loads(parts["tcb_info"])
    _lift_every_level(tcb)
    forged = _resign(ca, parts, "tcb_info", json.dumps(tcb))
    trust, policy = _both_roots(ca)
    policy = Policy(**{**policy.__dict__, "allowed_tcb_statuses": ("UpToDate", "OutOfDate")})
    v = verify_tdx(q, TdxCollateral(forged), at=OUTDATED_AT, trust=trust, policy=policy)
    assert not v.accepted and v.tcb_status is None
    assert v.first_failure is not None and v.first_failure.name == "tcb_info"
    assert ca.root_fingerprint in v.first_failure.detail and INTEL_SGX_ROOT_SHA256 in v.first_failure.detail
    # the genuine collateral still verifies its signatures (and rejects the platform on its own terms)
    genuine = verify_tdx(q, TdxCollateral(parts), at=OUTDATED_AT, trust=trust, policy=policy)
    assert genuine.check("tcb_info").ok and genuine.first_failure.name == "tcb_level"


def test_qe_identity_under_a_second_root_is_refused_for_an_intel_quote() -> None:
    q, parts = _real("dcapqvl_tdx_quote")
    ca = TdxTestCA(seed=b"attacker")
    forged = _resign(ca, parts, "qe_identity", parts["qe_identity"])  # same body, other root
    trust, policy = _both_roots(ca)
    assert verify_tdx(q, TdxCollateral(parts), at=GOOD_AT, trust=trust, policy=policy).accepted
    v = verify_tdx(q, TdxCollateral(forged), at=GOOD_AT, trust=trust, policy=policy)
    assert not v.accepted and v.first_failure.name == "qe_identity"
    assert v.check("tcb_info").ok and v.tcb_status is None


def test_test_ca_quote_refuses_intel_signed_collateral() -> None:
    """The other direction: evidence under the test root, TCB info under Intel's (both trusted)."""
    ca = TdxTestCA()
    aug = parse_time("2025-08-01T00:00:00Z")
    q, col = ca.evidence(next_update=aug, crl_next=aug)  # windows that hold Intel's collateral's too
    _, parts = _real("dcapqvl_tdx_quote")
    mixed = dict(col.parts)
    for k in ("tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"):
        mixed[k] = parts[k]
    trust, policy = _both_roots(ca)
    assert verify_tdx(q, col, at=GOOD_AT, trust=trust, policy=policy).accepted
    v = verify_tdx(q, TdxCollateral(mixed), at=GOOD_AT, trust=trust, policy=policy)
    assert not v.check("tcb_info").ok and INTEL_SGX_ROOT_SHA256 in v.check("tcb_info").detail


def test_verdict_names_every_root_it_used() -> None:
    q, parts = _real("dcapqvl_tdx_quote")
    v = verify_tdx(q, TdxCollateral(parts), at=GOOD_AT)
    assert v.accepted
    assert v.roots == {
        "pck_chain": INTEL_SGX_ROOT_SHA256,
        "tcb_info_issuer_chain": INTEL_SGX_ROOT_SHA256,
        "qe_identity_issuer_chain": INTEL_SGX_ROOT_SHA256,
    }
    assert v.to_json()["roots"] == v.roots
    ca = TdxTestCA()
    tq, tcol = ca.evidence()
    trust, policy = _both_roots(ca)
    tv = verify_tdx(tq, tcol, at=TdxSpec().at, trust=trust, policy=policy)
    assert tv.accepted and set(tv.roots.values()) == {ca.root_fingerprint}


# ---- Revoked is never accepted ---------------------------------------------------------------------


def test_policy_cannot_allow_revoked_or_unknown_statuses() -> None:
    for statuses in (("UpToDate", "Revoked"), ("UptoDate",)):
        with pytest.raises(PolicyError):
            Policy(allowed_tcb_statuses=statuses)
        with pytest.raises(PolicyError):
            Policy.from_json({"allowed_tcb_statuses": list(statuses)})


@pytest.mark.parametrize("where", ["level_status", "module_status", "qe_status"])
def test_revoked_tcb_is_rejected_even_by_a_policy_that_lists_it(where: str) -> None:
    ca = TdxTestCA()
    q, col = ca.evidence(**{where: "Revoked"})
    lax = Policy(trusted_roots=(ca.root_fingerprint,))
    # a policy object that lists Revoked anyway (built around the constructor's refusal)
    object.__setattr__(lax, "allowed_tcb_statuses", ("UpToDate", "Revoked"))
    v = verify_tdx(q, col, at=TdxSpec().at, trust=TrustStore.default().with_roots([ca.root]), policy=lax)
    assert not v.accepted and v.tcb_status == "Revoked"
    assert v.first_failure.name == "tcb_status" and "never accepted" in v.first_failure.detail
