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


# ---- bad input: one line on stderr, exit 2, nothing written --------------------------------------

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def work(tmp_path: Path, capsys) -> Path:
    """A dev-TEE directory ``tee``, an input, an output, a directory and a non-JSON file."""
    assert main(["compute", "devtee", "init", str(tmp_path / "tee"), "--seed", "aa"]) == 0
    (tmp_path / "in").write_bytes(b"in")
    (tmp_path / "out").write_bytes(b"out")
    (tmp_path / "adir").mkdir()
    (tmp_path / "text").write_text("not json, not PEM\n")
    with open(tmp_path / "huge", "wb") as fh:  # sparse: 1 GiB that takes no disk and is never read
        fh.truncate(1 << 30)
    capsys.readouterr()
    return tmp_path


def _make(w: Path, *extra: str) -> list[str]:
    return [
        "compute", "receipt", "make", "--devtee", str(w / "tee"), "--image-digest", DIGEST,
        "--input", str(w / "in"), "--output", str(w / "out"), *extra,
    ]  # fmt: skip


BAD_INPUTS = {
    "policy is a directory": lambda w: ["attest", "verify", str(w / "in"), "--policy", str(w / "adir")],
    "policy missing": lambda w: ["attest", "verify", str(w / "in"), "--policy", str(w / "nope")],
    "policy not JSON": lambda w: ["attest", "verify", str(w / "in"), "--policy", str(w / "text")],
    "policy allows Revoked": lambda w: [
        "attest",
        "verify",
        str(w / "in"),
        "--policy",
        str(w / "revoked.json"),
    ],
    "trust root a directory": lambda w: ["attest", "verify", str(w / "in"), "--trust-root", str(w / "adir")],
    "trust root not PEM": lambda w: ["attest", "verify", str(w / "in"), "--trust-root", str(w / "text")],
    "evidence a directory": lambda w: ["attest", "verify", str(w / "adir")],
    "collateral a directory": lambda w: ["attest", "verify", str(w / "in"), "--collateral", str(w / "adir")],
    "collateral garbage": lambda w: ["attest", "verify", str(w / "in"), "--collateral", str(w / "text")],
    "event log a directory": lambda w: ["attest", "verify", str(w / "in"), "--event-log", str(w / "adir")],
    "event log missing": lambda w: ["attest", "verify", str(w / "in"), "--event-log", str(w / "nope")],
    "bad --at": lambda w: ["attest", "verify", str(w / "in"), "--at", "noon"],
    "policy too large": lambda w: ["attest", "verify", str(w / "in"), "--policy", str(w / "huge")],
    "evidence too large": lambda w: ["attest", "verify", str(w / "huge")],
    "collateral too large": lambda w: ["attest", "verify", str(w / "in"), "--collateral", str(w / "huge")],
    "receipt a directory": lambda w: ["compute", "receipt", "verify", str(w / "adir")],
    "receipt policy a directory": lambda w: [
        "compute",
        "receipt",
        "verify",
        str(w / "in"),
        "--policy",
        str(w / "adir"),
    ],
    "digest of a non-image file": lambda w: ["compute", "digest", str(w / "text")],
    "digest of a directory": lambda w: ["compute", "digest", str(w / "adir")],
    "devtee init over a file": lambda w: ["compute", "devtee", "init", str(w / "in")],
    "devtee init bad seed": lambda w: ["compute", "devtee", "init", str(w / "new"), "--seed", "zz"],
    "devtee init empty seed": lambda w: ["compute", "devtee", "init", str(w / "new"), "--seed", ""],
    "devtee init over an existing CA": lambda w: ["compute", "devtee", "init", str(w / "tee")],
    "make: devtee not a directory": lambda w: _make(w, "--devtee", str(w / "in")),
    "make: input a directory": lambda w: _make(w, "--input", str(w / "adir")),
    "make: out is a directory": lambda w: _make(w, "-o", str(w / "adir")),
    "make: out in a missing folder": lambda w: _make(w, "-o", str(w / "missing" / "r.json")),
    "make: bad chain id": lambda w: _make(w, "--chain-id", "-1"),
    "make: bad app id": lambda w: _make(w, "--app-id", "abcd"),
    "make: bad image digest": lambda w: _make(w, "--image-digest", "sha256:zz"),
    "make: bad --at": lambda w: _make(w, "--at", "2025-13-01T00:00:00Z"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(case: str, work: Path, capsys) -> None:
    (work / "revoked.json").write_text(json.dumps({"allowed_tcb_statuses": ["UpToDate", "Revoked"]}))
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    seed = (work / "tee" / "devtee.json").read_bytes()
    try:
        rc = main(BAD_INPUTS[case](work))
    except SystemExit as exc:  # a value refused by its argument type, as argparse exits
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2, (case, out, err)
    assert err.startswith("eigen: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert out == ""  # no verdict, no half-written receipt
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before  # nothing written
    assert (work / "tee" / "devtee.json").read_bytes() == seed  # the CA is never replaced


def test_output_path_is_checked_before_the_work(work: Path, capsys, monkeypatch) -> None:
    """A bad -o fails before the dev TEE runs (no attestation, no signature made and then lost)."""
    from offchain.compute import cli

    ran = []
    monkeypatch.setattr(cli.DevTEE, "run", lambda *a, **k: ran.append(1))
    for out in (work / "missing" / "r.json", work / "adir"):
        with pytest.raises(SystemExit) as exc:  # refused by the argument's type, as argparse exits
            main(_make(work, "-o", str(out)))
        assert exc.value.code == 2
    assert ran == []


def test_devtee_init_force_replaces_and_keeps_the_seed_private(work: Path, capsys) -> None:
    d = work / "tee"
    old = (d / "root.pem").read_bytes()
    assert main(["compute", "devtee", "init", str(d)]) == 2
    assert (d / "root.pem").read_bytes() == old
    capsys.readouterr()
    assert main(["compute", "devtee", "init", str(d), "--force", "--seed", "bb"]) == 0
    assert (d / "root.pem").read_bytes() != old
    assert (d / "devtee.json").stat().st_mode & 0o777 == 0o600
    fresh = work / "fresh"
    assert main(["compute", "devtee", "init", str(fresh)]) == 0
    assert (fresh / "devtee.json").stat().st_mode & 0o777 == 0o600


def _walk(parser, path=()):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_option_has_help_and_shows_its_default() -> None:
    import argparse

    from offchain.cli import build_parser

    top = build_parser()
    seen = 0
    for path, parser in _walk(top):
        if not path or path[0] not in ("attest", "compute"):
            continue
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            seen += 1
            assert action.help, (path, action.dest)
            if action.option_strings and not action.required and action.default is not argparse.SUPPRESS:
                line = " ".join(text.split())
                shown = " ".join((action.help % {"default": action.default, "prog": ""}).split())
                assert "default" in shown or f"(default: {action.default})" in line, (path, action.dest)
    assert seen > 20


def test_receipt_with_one_byte_of_output_changed_is_a_mismatch_not_bad_input(work: Path, capsys) -> None:
    assert main(_make(work, "--at", "2026-02-01T00:00:00Z", "-o", str(work / "r.json"))) == 0
    bundle = json.loads((work / "r.json").read_text())
    bundle["receipt"]["outputHash"] = "0x" + "00" * 32
    (work / "r2.json").write_text(json.dumps(bundle))
    capsys.readouterr()
    rc = main(
        [
            "compute",
            "receipt",
            "verify",
            str(work / "r2.json"),
            "--trust-root",
            str(work / "tee" / "root.pem"),
        ]
    )
    assert rc == 1
