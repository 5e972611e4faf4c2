"""`eigen rewards root|proof|verify` end to end, and bad input as one line with exit status 2
(a claim that does not verify: exit 1). `status` and `claim` against a chain are tested on anvil in
tests/contracts/test_rewards_client.py."""

from __future__ import annotations

import json

import pytest

from offchain import settings
from offchain.cli import main
from offchain.rewards.merkle import DistributionTree

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
T1, T2 = "0x" + "01" * 20, "0x" + "02" * 20
EARNINGS = {A: {T1: "1000", T2: 5}, B: {T1: 7}}


def run(capsys, argv):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def bad(capsys, argv, match, code=2):
    rc, _, err = run(capsys, argv)
    assert rc == code, err
    assert len(err.strip().splitlines()) == 1 and match in err, err


@pytest.fixture
def earnings(tmp_path):
    p = tmp_path / "earnings.json"
    p.write_text(json.dumps(EARNINGS))
    return p


def test_root_proof_verify(capsys, tmp_path, earnings):
    rc, out, _ = run(capsys, ["rewards", "root", "--earnings", str(earnings)])
    assert rc == 0 and json.loads(out) == {"root": "0x" + DistributionTree(EARNINGS).root.hex(), "earners": 2}
    claim = tmp_path / "claim.json"
    rc, _, err = run(
        capsys,
        ["rewards", "proof", "--earnings", str(earnings), "--earner", A, "--token", T2, "--out", str(claim)],
    )
    assert rc == 0, err
    data = json.loads(claim.read_text())
    assert data["TokenLeaves"] == [{"Token": T2, "CumulativeEarnings": 5}] and data["EarnerIndex"] == 0
    rc, out, _ = run(capsys, ["rewards", "verify", "--claim", str(claim)])
    assert rc == 0 and out.startswith("VALID")
    rc, out, _ = run(capsys, ["rewards", "verify", "--claim", str(claim), "--root", "0x" + "11" * 32])
    assert rc == 1 and out.startswith("INVALID")


def test_eigenlayer_vectors_verify_from_the_command_line(capsys):
    d = settings.shared_dir() / "vectors" / "rewards"
    if not d.is_dir():
        pytest.skip(f"EigenLayer's claim vectors are not here ({d})")
    for p in sorted(d.glob("*.json")):
        rc, out, err = run(capsys, ["rewards", "verify", "--claim", str(p)])
        assert rc == 0 and out.startswith("VALID"), (p.name, err)


def test_bad_input_is_one_line(capsys, tmp_path, earnings):
    bad(capsys, ["rewards", "root", "--earnings", str(tmp_path / "none.json")], "none.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{nope")
    bad(capsys, ["rewards", "root", "--earnings", str(junk)], "not JSON")
    bad(
        capsys,
        ["rewards", "proof", "--earnings", str(earnings), "--earner", "0x" + "cc" * 20],
        "not in this distribution",
    )
    bad(capsys, ["rewards", "proof", "--earnings", str(earnings), "--earner", "nobody"], "bad address")
    bad(
        capsys,
        ["rewards", "proof", "--earnings", str(earnings), "--earner", A, "--root-index", "-1"],
        "root-index",
    )
    claim = tmp_path / "c.json"
    claim.write_text(json.dumps({"EarnerIndex": 0}))
    bad(capsys, ["rewards", "verify", "--claim", str(claim)], "lacks")
    good = tmp_path / "g.json"
    good.write_text(json.dumps(DistributionTree(EARNINGS).claim(A).to_json()))
    bad(capsys, ["rewards", "verify", "--claim", str(good)], "give --root")
    bad(capsys, ["rewards", "verify", "--claim", str(good), "--root", "0x12"], "32 bytes")
    bad(
        capsys,
        [
            "rewards",
            "status",
            "--earnings",
            str(earnings),
            "--avs",
            A,
            "--earner",
            A,
            "--devnet",
            str(tmp_path),
        ],
        "make devnet",
    )


def test_watch_refuses_bad_input_before_reaching_a_chain(capsys, tmp_path):
    bad(capsys, ["rewards", "watch", "--trees", "", "--key", "k"], "empty path")
    bad(capsys, ["rewards", "watch", "--trees", str(tmp_path), "--key", "k", "--interval", "0"], "interval")
    bad(
        capsys,
        ["rewards", "watch", "--trees", str(tmp_path), "--key", "k", "--once", "--devnet", str(tmp_path)],
        "make devnet",
    )


def test_refund_refuses_bad_input_before_reaching_a_chain(capsys, tmp_path):
    bad(capsys, ["rewards", "refund"], "--avs")
    bad(capsys, ["rewards", "refund", "--avs", A, "--nonce", "-1"], "--nonce")
    bad(capsys, ["rewards", "refund", "--avs", A, "--distribution", "x"], "--distribution")
    bad(capsys, ["rewards", "refund", "--avs", A, "--devnet", str(tmp_path)], "make devnet")
