"""Policy objects, verdict JSON and time parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from offchain.compute.errors import PolicyError
from offchain.compute.pki import AWS_NITRO_ROOT_SHA256, INTEL_SGX_ROOT_SHA256
from offchain.compute.policy import Check, Policy, Verdict, parse_time, require_utc


def test_defaults_fail_closed() -> None:
    p = Policy()
    assert p.allowed_tcb_statuses == ("UpToDate",) and not p.allow_debug and p.require_sept_ve_disable
    assert set(p.trusted_roots) == {INTEL_SGX_ROOT_SHA256, AWS_NITRO_ROOT_SHA256}
    assert p.measurements == {}


def test_json_roundtrip_and_hash() -> None:
    p = Policy(measurements={"pcr0": "0xAB" + "00" * 47}, max_age_s=60)
    q = Policy.from_json(json.loads(json.dumps(p.to_json())))
    assert q == p and q.hash() == p.hash() and q.measurements["pcr0"].startswith("ab")
    assert Policy(max_age_s=61).hash() != p.hash()


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"nope": 1},
        {"allow_debug": "yes"},
        {"max_age_s": "1"},
        {"max_age_s": True},
        {"max_age_s": -1},
        {"allowed_tcb_statuses": "UpToDate"},
        {"measurements": []},
        {"measurements": {"pcr99": "00"}},
        {"measurements": {"mrtd": "zz"}},
        {"trusted_roots": ["xyz"]},
        {"trusted_roots": ["ab"]},
        {"max_collateral_age_s": "1"},
    ],
)
def test_bad_policies(obj) -> None:
    with pytest.raises(PolicyError):
        Policy.from_json(obj)


def test_policy_file_errors(tmp_path) -> None:
    with pytest.raises(PolicyError):
        Policy.from_file(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PolicyError):
        Policy.from_file(str(tmp_path / "bad.json"))


def test_parse_time() -> None:
    assert parse_time("2025-07-01T00:00:00Z") == datetime(2025, 7, 1, tzinfo=UTC)
    assert parse_time("2025-07-01T00:00:00.5+00:00").microsecond == 500000
    for bad in ("2025-07-01T00:00:00", "2025-07-01T02:00:00+02:00", "yesterday", ""):
        with pytest.raises(PolicyError):
            parse_time(bad)
    with pytest.raises(PolicyError):
        require_utc(datetime(2025, 1, 1))
    assert require_utc(datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == datetime(
        2025, 1, 1, tzinfo=UTC
    )


def test_verdict_names_first_failure() -> None:
    v = Verdict("tdx", datetime(2025, 1, 1, tzinfo=UTC))
    assert not v.accepted  # no checks: nothing was shown, so nothing is accepted
    v.checks += [Check("a", True), Check("b", False, "why"), Check("c", False, "later")]
    out = v.to_json()
    assert out["accepted"] is False and out["first_failure"] == {"check": "b", "detail": "why"}
    assert [c["check"] for c in out["checks"]] == ["a", "b", "c"]
    with pytest.raises(KeyError):
        v.check("zz")
