"""docs/avs-quickstart.md, run as written: its `eigen chain` commands, in order, on a devnet this
module starts (in a temporary folder, on a free port) and stops."""

import re
import shlex
import time

import pytest

from offchain.chain import devnet, sdk
from offchain.cli import main
from offchain.settings import ROOT

QUICKSTART = ROOT / "docs" / "avs-quickstart.md"


def quickstart_commands() -> list[list[str]]:
    """The page's indented `eigen chain ...` command lines (section 2), as argv lists."""
    text = QUICKSTART.read_text().split("## 2.")[1].split("## 3.")[0]
    lines = [ln.strip() for ln in text.splitlines() if ln.startswith("    eigen chain ")]
    return [shlex.split(ln)[1:] for ln in lines]


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    folder = tmp_path_factory.mktemp("devnet")
    info = devnet.up(folder, log=lambda s: None)
    yield folder, info
    devnet.down(folder, log=lambda s: None)
    assert devnet.running(folder) is None


def test_the_page_names_the_five_steps():
    verbs = [tuple(c[1:3]) for c in quickstart_commands()]
    assert verbs[:6] == [
        ("avs", "create-set"),
        ("operator", "register"),
        ("operator", "allocate"),
        ("operator", "status"),
        ("avs", "slash"),
        ("avs", "release"),
    ]


def test_quickstart_runs_as_written(net, capsys):
    folder, info = net
    d = sdk.Deployment.load("devnet", devnet_dir=folder)
    resolve_block = None
    for argv in quickstart_commands():
        if argv[1:3] == ["avs", "release"]:
            assert resolve_block is not None
            deadline = time.monotonic() + 40
            while d.w3.eth.block_number < resolve_block and time.monotonic() < deadline:
                time.sleep(0.25)
        rc = main([argv[0], "--devnet", str(folder), *argv[1:]])
        out, err = capsys.readouterr()
        assert rc == 0, (argv, out, err)
        if argv[1:3] == ["avs", "slash"]:
            resolve_block = int(re.search(r"releasable from block (\d+)", out).group(1))
            assert "slash 1 of set 2" in out and "2.5 stETH" in out and "1.25 rETH" in out
    # the chain shows each step: set 2 exists, operator-1 is in it with 90% of a quarter, the slash released
    avs, op = d.resolve("avs"), d.resolve("operator-1")
    am, esc = d.contract("allocation_manager"), d.contract("slash_escrow")
    assert am.functions.isMemberOfOperatorSet(op, (avs, 2)).call()
    steth = d.strategy("stETH")
    assert am.functions.getAllocation(op, (avs, 2), steth).call()[0] == 225 * 10**15
    assert esc.functions.getSlash(avs, 2, 1).call()[2] == 2  # released
    # set 1 (seeded) kept its half: the slash touched set 2's stake only
    assert am.functions.getAllocation(op, (avs, 1), steth).call()[0] == 5 * 10**17


def test_release_before_the_window_is_refused_in_one_line(net, capsys):
    folder, _ = net
    d = sdk.Deployment.load("devnet", devnet_dir=folder)
    base = ["chain", "--devnet", str(folder)]
    # blocks on transactions only while this runs: the devnet's one block a second would pass the 10-block
    # window by itself on a machine slow enough
    d.w3.provider.make_request("evm_setIntervalMining", [0])
    d.w3.provider.make_request("evm_setAutomine", [True])
    try:
        assert (
            main(
                [
                    *base,
                    "avs",
                    "slash",
                    "--key",
                    "avs",
                    "--operator",
                    "operator-2",
                    "--set",
                    "1",
                    "--wad",
                    "1%",
                ]
            )
            == 0
        )
        capsys.readouterr()
        slash_id = d.contract("allocation_manager").functions.getSlashCount((d.resolve("avs"), 1)).call()
        rc = main([*base, "avs", "release", "--key", "avs", "--set", "1", "--slash-id", str(slash_id)])
        err = capsys.readouterr().err
    finally:
        d.w3.provider.make_request("evm_setIntervalMining", [devnet.BLOCK_TIME_S])
    assert rc == 2 and "can be released from block" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, match",
    [
        (
            [
                "avs",
                "slash",
                "--key",
                "operator-2",
                "--operator",
                "operator-1",
                "--set",
                "1",
                "--avs",
                "avs",
                "--wad",
                "1%",
            ],
            "is not the slasher",
        ),
        (
            ["avs", "slash", "--key", "avs", "--operator", "nobody", "--set", "1", "--wad", "1%"],
            "unknown operator 'nobody'",
        ),
        (
            ["avs", "slash", "--key", "avs", "--operator", "operator-1", "--set", "1", "--wad", "150%"],
            "--wad must be in",
        ),
        (
            ["avs", "slash", "--key", "0x1234", "--operator", "operator-1", "--set", "1", "--wad", "1%"],
            "bad key",
        ),
        (["avs", "create-set", "--key", "avs", "--set", "1", "--strategies", "stETH"], "exists already"),
        (
            ["avs", "create-set", "--key", "avs", "--set", "9", "--strategies", "DOGE"],
            "unknown strategy 'DOGE'",
        ),
        (
            [
                "operator",
                "allocate",
                "--key",
                "operator-1",
                "--avs",
                "avs",
                "--set",
                "99",
                "--magnitude",
                "1%",
            ],
            "no operator set 99",
        ),
        (
            [
                "operator",
                "register",
                "--key",
                "staker-1",
                "--avs",
                "avs",
                "--set",
                "1",
                "--allocation-delay",
                "1",
            ],
            None,
        ),
    ],
)
def test_wrong_keys_and_unknown_names_are_one_line_and_status_2(net, capsys, args, match):
    folder, _ = net
    rc = main(["chain", "--devnet", str(folder), *args])
    out, err = capsys.readouterr()
    if match is None:  # a staker who is delegated cannot become an operator: the contract's reason
        assert rc == 2 and "refused by the contract" in err, (out, err)
    else:
        assert rc == 2 and match in err, (out, err)
    assert len(err.strip().splitlines()) == 1
