"""`eigen chain ...` without a chain: bad input is one line on stderr and exit status 2."""

import json

import pytest

from offchain.chain import sdk
from offchain.cli import main


def _one_line_2(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and match in err, err


def test_no_devnet(tmp_path, capsys):
    base = ["chain", "--devnet", str(tmp_path)]
    _one_line_2(capsys, [*base, "operator", "status", "operator-1"], "no devnet here")
    _one_line_2(
        capsys,
        [*base, "avs", "create-set", "--key", "avs", "--set", "2", "--strategies", "stETH"],
        "make devnet",
    )


def test_stopped_devnet(tmp_path, capsys):
    (tmp_path / sdk.DEVNET_FILE).write_text(
        json.dumps(
            {
                "rpc_url": "http://127.0.0.1:9",
                "chain_id": 31338,
                "addresses": {"allocation_manager": "0x" + "11" * 20},
            }
        )
    )
    _one_line_2(capsys, ["chain", "--devnet", str(tmp_path), "operator", "status", "x"], "no node answers")


def test_abi_export(tmp_path, capsys):
    assert main(["chain", "abi", "--out", str(tmp_path / "abi")]) == 0
    assert (tmp_path / "abi" / "AllocationManager.json").exists()
    f = tmp_path / "f"
    f.write_text("")
    _one_line_2(capsys, ["chain", "abi", "--out", str(f)], "not a folder")


def test_addresses_and_bad_deployment_file(tmp_path, capsys):
    p = tmp_path / "rec.json"
    p.write_text(json.dumps({"allocation_manager": "0x" + "11" * 20}))
    assert main(["chain", "--deployment", str(p), "addresses"]) == 0
    assert json.loads(capsys.readouterr().out)["allocation_manager"] == "0x" + "11" * 20
    p.write_text("nope")
    _one_line_2(capsys, ["chain", "--deployment", str(p), "addresses"], "unreadable")


@pytest.mark.parametrize("argv", [["chain"], ["chain", "operator"], ["chain", "avs"], ["chain", "devnet"]])
def test_bare_groups_print_help_and_exit_2(argv, capsys):
    assert main(argv) == 2


def test_devnet_status_and_down_when_none_runs(tmp_path, capsys):
    assert main(["chain", "--devnet", str(tmp_path), "devnet", "status"]) == 1
    assert "not running" in capsys.readouterr().out
    assert main(["chain", "--devnet", str(tmp_path), "devnet", "down"]) == 0
    assert "no devnet running" in capsys.readouterr().out
