"""Strict JSON everywhere evidence, collateral, policies, receipts and images are read: a duplicate
key (at any depth) or a non-JSON constant is a typed error, never "the last one wins"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.compute.codec import load_json
from offchain.compute.devtee import DEVTEE_FILE, init_dir, load_dir
from offchain.compute.errors import CollateralError, ComputeReceiptError, ImageError, PolicyError
from offchain.compute.oci import image_digest
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.receipt import ReceiptBundle
from offchain.compute.tdx import TdxCollateral, verify_tdx
from offchain.compute.testca import TdxSpec, TdxTestCA
from offchain.errors import ComputeError, EigenError
from tests.support import vector_path


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"x": {"b": 1, "b": 1}}',
        '[{"k": 0}, {"k": 0, "k": 1}]',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        "{",
        b"\xff",
    ],
)
def test_load_json_refuses_duplicates_and_constants(text: str | bytes) -> None:
    with pytest.raises(PolicyError):
        load_json(text, "doc", PolicyError)


def test_load_json_accepts_equal_keys_in_different_objects() -> None:
    assert load_json('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}', "doc", PolicyError)["b"][1] == {"a": 3}


def _dup_member(text: str, key: str, value: str) -> str:
    """``text`` (a JSON object) with a second ``key`` member appended, whose value is ``value``."""
    return text.rstrip()[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"


def test_collateral_bundle_with_a_duplicate_field_is_refused() -> None:
    ca = TdxTestCA()
    _, col = ca.evidence()
    _, forged = ca.evidence(level_status="OutOfDate")
    text = _dup_member(json.dumps(col.parts), "tcb_info", forged.parts["tcb_info"])
    with pytest.raises(CollateralError, match="duplicate key 'tcb_info'"):
        TdxCollateral.from_json(text)
    with pytest.raises(CollateralError, match="duplicate"):
        TdxCollateral.from_files([text.encode()])


def test_pcs_response_with_a_nested_duplicate_is_refused() -> None:
    raw = vector_path("tee", "tdx", "gotdx_spr_e4.tcbinfo.json").read_text()
    doctored = raw.replace('"tcbInfo":{', '"tcbInfo":{"fmspc":"00606A000000",', 1)
    assert doctored != raw
    with pytest.raises(CollateralError, match="duplicate key 'fmspc'"):
        TdxCollateral.from_files([doctored.encode()])


def test_signed_tcb_info_with_a_duplicate_key_fails_its_check() -> None:
    """Even a correctly signed body is refused when its keys repeat (parsers disagree on which wins)."""
    ca = TdxTestCA()
    q, col = ca.evidence()
    body = col.parts["tcb_info"]
    doubled = body[:-1] + ',"tcbLevels":[]}'
    parts = {**col.parts, "tcb_info": doubled, "tcb_info_signature": ca.sign_collateral(doubled)}
    v = verify_tdx(
        q,
        TdxCollateral(parts),
        at=TdxSpec().at,
        trust=TrustStore.default().with_roots([ca.root]),
        policy=Policy(trusted_roots=(ca.root_fingerprint,)),
    )
    assert not v.check("tcb_info").ok and "duplicate key 'tcbLevels'" in v.check("tcb_info").detail
    assert not v.accepted


def test_policy_file_with_a_duplicate_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text('{"allow_debug": false, "allow_debug": true}')
    with pytest.raises(PolicyError, match="duplicate key 'allow_debug'"):
        Policy.from_file(str(p))


def test_receipt_file_with_a_duplicate_is_refused() -> None:
    with pytest.raises(ComputeReceiptError, match="duplicate key 'version'"):
        ReceiptBundle.loads('{"version": 1, "version": 1}')


def test_devtee_file_with_a_duplicate_is_refused(tmp_path: Path) -> None:
    init_dir(tmp_path, bytes(32))
    (tmp_path / DEVTEE_FILE).write_text(f'{{"seed": "{"00" * 32}", "seed": "{"11" * 32}"}}')
    with pytest.raises(ComputeError, match="duplicate key 'seed'"):
        load_dir(tmp_path)


def test_image_index_with_a_duplicate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": [], "manifests": []}')
    with pytest.raises(ImageError, match="duplicate key 'manifests'"):
        image_digest(str(tmp_path))


def test_every_strict_json_error_is_an_eigen_error() -> None:
    for error in (CollateralError, ComputeReceiptError, ImageError, PolicyError, ComputeError):
        assert issubclass(error, EigenError)
