"""The `eigen attest` and `eigen compute` commands, end to end through offchain.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from offchain.cli import main
from offchain.compute.testca import NitroSpec, NitroTestCA, TdxSpec, TdxTestCA
from tests.support import vector_path


def _run(capsys, *argv: str) -> tuple[int, dict | None]:
    rc = main(list(argv))
    out = capsys.readouterr().out
    return rc, (json.loads(out) if out.strip().startswith("{") else None)


def test_attest_verify_real_tdx_vector(capsys) -> None:
    q = vector_path("tee", "tdx", "dcapqvl_tdx_quote.bin")
    c = vector_path("tee", "tdx", "dcapqvl_tdx_quote.collateral.json")
    rc, out = _run(capsys, "attest", "verify", str(q), "--collateral", str(c), "--at", "2025-07-01T00:00:00Z")
    assert rc == 0 and out["accepted"] and out["tcb_status"] == "UpToDate" and out["evidence_type"] == "tdx"
    rc, out = _run(capsys, "attest", "verify", str(q), "--collateral", str(c), "--at", "2026-07-01T00:00:00Z")
    assert rc == 1 and out["first_failure"]["check"] == "root_crl"


def test_attest_verify_real_tdx_with_split_collateral(capsys) -> None:
    parts = [
        str(vector_path("tee", "tdx", n))
        for n in (
            "gotdx_spr_e4.tcbinfo.json",
            "gotdx_spr_e4.qeidentity.json",
            "gotdx_spr_e4.pckcrl.der",
            "gotdx_spr_e4.rootcrl.der",
        )
    ]
    args = [
        "attest",
        "verify",
        str(vector_path("tee", "tdx", "trustee_debug_td_quote.bin")),
        "--at",
        "2023-07-01T01:00:00Z",
    ]
    for p in parts:
        args += ["--collateral", p]
    rc, out = _run(capsys, *args)
    assert rc == 1 and any(c["check"] == "td_attributes" and not c["ok"] for c in out["checks"])


def test_attest_verify_nitro_vectors(capsys) -> None:
    rc, out = _run(
        capsys,
        "attest",
        "verify",
        str(vector_path("tee", "nitro", "oyster_aws.cose")),
        "--at",
        "2024-12-13T07:37:58.960Z",
    )
    assert rc == 0 and out["evidence_type"] == "nitro"
    rc, out = _run(
        capsys,
        "attest",
        "verify",
        str(vector_path("tee", "nitro", "evervault_debug.cose")),
        "--at",
        "2022-10-12T13:50:06.081Z",
    )
    assert rc == 1 and out["first_failure"]["check"] == "debug"


def test_attest_verify_test_ca_with_trust_root_and_policy(tmp_path: Path, capsys) -> None:
    ca = TdxTestCA()
    q, col = ca.evidence()
    (tmp_path / "q.bin").write_bytes(q)
    (tmp_path / "c.json").write_text(json.dumps(col.parts))
    (tmp_path / "root.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    at = TdxSpec().at.strftime("%Y-%m-%dT%H:%M:%SZ")
    base = ["attest", "verify", str(tmp_path / "q.bin"), "--collateral", str(tmp_path / "c.json"), "--at", at]
    assert _run(capsys, *base)[0] == 1
    assert _run(capsys, *base, "--trust-root", str(tmp_path / "root.pem"))[0] == 0
    (tmp_path / "p.json").write_text(json.dumps({"measurements": {"mrtd": "00" * 48}}))
    rc, out = _run(
        capsys, *base, "--trust-root", str(tmp_path / "root.pem"), "--policy", str(tmp_path / "p.json")
    )
    assert rc == 1 and out["first_failure"]["check"] == "measurements"


def test_attest_verify_nitro_indefinite_and_garbage(tmp_path: Path, capsys) -> None:
    n = NitroTestCA()
    (tmp_path / "d.cose").write_bytes(n.document(indefinite=True, tagged=True))
    (tmp_path / "root.pem").write_bytes(n.root.public_bytes(Encoding.PEM))
    at = NitroSpec().timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        _run(
            capsys,
            "attest",
            "verify",
            str(tmp_path / "d.cose"),
            "--at",
            at,
            "--trust-root",
            str(tmp_path / "root.pem"),
        )[0]
        == 0
    )
    (tmp_path / "junk").write_bytes(b"\x00garbage")
    rc, out = _run(capsys, "attest", "verify", str(tmp_path / "junk"), "--at", at)
    assert rc == 1 and out["first_failure"]["check"] == "parse"


@pytest.mark.parametrize(
    "argv",
    [
        ["attest", "verify", "/nonexistent/file"],
        ["attest", "verify", "/etc/hostname", "--at", "yesterday"],
        ["attest", "verify", "/etc/hostname", "--at", "2025-01-01T00:00:00+02:00"],
        ["compute", "receipt", "verify", "/nonexistent"],
        ["compute", "digest", "/nonexistent"],
    ],
)
def test_usage_and_input_errors_exit_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2


def test_argparse_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["attest", "verify"])
    assert exc.value.code == 2


def test_devtee_receipt_roundtrip(tmp_path: Path, capsys) -> None:
    d = tmp_path / "tee"
    rc, out = _run(capsys, "compute", "devtee", "init", str(d), "--seed", "aa")
    assert rc == 0 and (d / "root.pem").exists()
    (tmp_path / "in").write_bytes(b"in")
    (tmp_path / "out").write_bytes(b"out")
    digest = "sha256:" + "ab" * 32
    rc, out = _run(
        capsys,
        "compute",
        "receipt",
        "make",
        "--devtee",
        str(d),
        "--image-digest",
        digest,
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--at",
        "2026-02-01T00:00:00Z",
        "--chain-id",
        "31337",
        "-o",
        str(tmp_path / "r.json"),
    )
    assert rc == 0 and out["digest"].startswith("0x")
    rc, out = _run(
        capsys, "compute", "receipt", "verify", str(tmp_path / "r.json"), "--trust-root", str(d / "root.pem")
    )
    assert rc == 0 and out["accepted"]
    rc, out = _run(capsys, "compute", "receipt", "verify", str(tmp_path / "r.json"))
    assert rc == 1 and out["first_failure"]["check"] == "evidence.cert_chain"
    rc, _ = _run(
        capsys,
        "compute",
        "receipt",
        "make",
        "--devtee",
        str(d),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
    )
    assert rc == 2  # neither --image nor --image-digest


def test_abi_command(capsys) -> None:
    rc, out = _run(capsys, "compute", "receipt", "abi")
    assert rc == 0 and out["fields"][0] == "appId" and out["type"].startswith("(bytes32")
