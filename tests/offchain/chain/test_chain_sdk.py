"""offchain.chain.sdk without a chain: finding a deployment, ABIs, keys, addresses and fractions,
each bad input a typed error."""

import json

import pytest

from offchain.abi import WAD
from offchain.chain import devnet, sdk
from offchain.chain.errors import ChainInputError, DevnetError
from offchain.errors import ChainError

ADDRS = {
    "allocation_manager": "0x" + "11" * 20,
    "slash_escrow": "0x" + "22" * 20,
    "strategies": {"stETH": "0x" + "33" * 20},
    "tokens": {"stETH": "0x" + "44" * 20},
}
KEY = "0x" + "01" * 32


def devnet_file(folder, **extra):
    folder.mkdir(exist_ok=True)
    data = {
        "rpc_url": "http://127.0.0.1:9",
        "chain_id": 31338,
        "addresses": ADDRS,
        "accounts": {"avs": {"address": "0x" + "55" * 20, "key": KEY}},
        **extra,
    }
    (folder / sdk.DEVNET_FILE).write_text(json.dumps(data))
    return folder


def test_load_devnet_file(tmp_path):
    d = sdk.Deployment.load("devnet", devnet_dir=devnet_file(tmp_path / "dn"))
    assert d.chain_id == 31338 and d.rpc_url == "http://127.0.0.1:9"
    assert d.address("allocation_manager") == "0x" + "11" * 20
    assert d.resolve("avs") == "0x" + "55" * 20
    assert d.resolve("allocation_manager") == "0x" + "11" * 20
    assert d.key("avs").address == d.key(KEY).address
    assert d.symbol("0x" + "33" * 20) == "stETH"


def test_load_a_record_file(tmp_path):
    p = tmp_path / "31337.json"
    p.write_text(json.dumps({**ADDRS, "parameters": {"core": {}}}))
    d = sdk.Deployment.load(p, rpc="http://127.0.0.1:9")
    assert d.rpc_url == "http://127.0.0.1:9" and "parameters" not in d.addresses


def test_no_devnet_is_a_devnet_error(tmp_path):
    with pytest.raises(DevnetError, match="make devnet"):
        sdk.Deployment.load("devnet", devnet_dir=tmp_path)


def test_stopped_devnet_is_a_devnet_error(tmp_path):
    # nothing listens on port 9 (discard) on loopback here
    d = sdk.Deployment.load("devnet", devnet_dir=devnet_file(tmp_path / "dn"))
    with pytest.raises(DevnetError, match="no node answers at http://127.0.0.1:9"):
        d.check_live()


@pytest.mark.parametrize(
    "content, match",
    [("{bad", "unreadable"), ("[1]", "not a JSON object"), ('{"addresses": {}}', "no deployment")],
)
def test_bad_deployment_files(tmp_path, content, match):
    p = tmp_path / "x.json"
    p.write_text(content)
    with pytest.raises(ChainInputError, match=match):
        sdk.Deployment.load(p)


def test_unknown_chain_id_and_bad_chain(tmp_path):
    with pytest.raises(ChainInputError, match="no recorded deployment for chain id 987654321"):
        sdk.Deployment.load(987654321)
    with pytest.raises(ChainInputError, match="cannot find a deployment"):
        sdk.Deployment.load(3.5)


@pytest.mark.parametrize("ref", ["nobody", "0x1234", "0x" + "zz" * 20, ""])
def test_unknown_addresses(tmp_path, ref):
    d = sdk.Deployment.load("devnet", devnet_dir=devnet_file(tmp_path / "dn"))
    with pytest.raises(ChainInputError, match="unknown operator"):
        d.resolve(ref, "operator")


@pytest.mark.parametrize("ref", ["0x1234", "0x" + "g" * 64, "operator-9", "0x" + "00" * 32, "0x" + "ff" * 32])
def test_bad_keys(tmp_path, ref):
    d = sdk.Deployment.load("devnet", devnet_dir=devnet_file(tmp_path / "dn"))
    with pytest.raises(ChainInputError, match="bad key"):
        d.key(ref)


def test_key_from_a_file(tmp_path):
    d = sdk.Deployment.load("devnet", devnet_dir=devnet_file(tmp_path / "dn"))
    f = tmp_path / "k"
    f.write_text(KEY + "\n")
    assert d.key(str(f)).address == d.key("avs").address
    with pytest.raises(ChainInputError, match="no delegation_manager"):
        d.address("delegation_manager")


@pytest.mark.parametrize(
    "text, want", [("25%", WAD // 4), ("0.5", WAD // 2), ("1", WAD), ("100%", WAD), ("1e-18", 1)]
)
def test_parse_fraction(text, want):
    assert sdk.parse_fraction(text, "x") == want


@pytest.mark.parametrize("text", ["0", "0%", "1.5", "-0.1", "abc", "1e-19", "nan", "inf", "101%"])
def test_parse_fraction_refuses(text):
    with pytest.raises(ChainInputError, match="x must be"):
        sdk.parse_fraction(text, "x")
    assert sdk.parse_fraction("0", "x", allow_zero=True) == 0


def test_export_abis_matches_the_artifacts(tmp_path):
    written = sdk.export_abis(tmp_path / "abi")
    names = {p.stem for p in written}
    assert {
        "AllocationManager",
        "SlashEscrow",
        "ComputeAVS",
        "InferenceDisputes",
        "Strategy",
        "MockERC20",
    } <= names
    abis = sdk.load_abis()
    for p in written:
        assert json.loads(p.read_text()) == abis[p.stem]
    # a folder of exported ABIs serves as well as ape's artifacts
    assert sdk.load_abis(tmp_path / "abi")["AllocationManager"] == abis["AllocationManager"]


def test_artifacts_are_parsed_once_while_unchanged(tmp_path):
    """An artifacts file's ABIs are parsed once while the file stays the same (each call gets its own copy), and
    read again once it changes; a file that is not ape's artifacts is a typed error."""
    art = tmp_path / "__local__.json"
    art.write_text(
        json.dumps({"contractTypes": {"A": {"abi": [{"type": "function", "name": "f"}]}, "B": {}}})
    )
    first = sdk.load_abis(art)
    assert first == {"A": [{"type": "function", "name": "f"}]}
    first["A"].append("changed by a caller")
    assert sdk.load_abis(art) == {"A": [{"type": "function", "name": "f"}]}  # a copy each time
    art.write_text(json.dumps({"contractTypes": {"A": {"abi": []}, "C": {"abi": [{"type": "event"}]}}}))
    assert sdk.load_abis(art) == {"A": [], "C": [{"type": "event"}]}  # changed (size, mtime): read again
    art.write_text(json.dumps({"no contractTypes": 1}))
    with pytest.raises(ChainInputError, match="unreadable"):
        sdk.load_abis(art)
    art.unlink()
    with pytest.raises(ChainInputError, match="ape compile"):
        sdk.load_abis(art)


def test_export_abis_bad_places(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ChainInputError, match="not a folder"):
        sdk.export_abis(f)
    with pytest.raises(ChainInputError, match="ape compile"):
        sdk.load_abis(tmp_path / "missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChainInputError, match="no ABI files"):
        sdk.load_abis(tmp_path / "empty")
    assert issubclass(ChainInputError, ChainError)


# ---- on the test chain ape provides ---------------------------------------------------------------


def test_load_ape_chain_and_act_over_web3(project, accounts, networks, chain, tmp_path, monkeypatch):
    """`Deployment.load(chain)` with ape's chain finds the record for its chain id and talks to the
    same node over web3: an AVS creates a set, an operator registers and allocates, a slash lands."""
    from offchain.chain.components import Parameters, deploy_components
    from tests.offchain.chain.test_chain_components import CONFIG

    monkeypatch.setattr(sdk, "ROOT", tmp_path)
    record = tmp_path / ".deploy" / f"{chain.chain_id}.json"
    deploy_components(
        project, accounts[0], Parameters(CONFIG), ("core",), record=record, provider=networks.provider
    )
    d = sdk.Deployment.load(chain)
    assert d.chain_id == chain.chain_id and d.rpc_url == networks.provider.uri
    d.check_live()
    keys = devnet.accounts()  # the same mnemonic as ape's test accounts
    avs, op, staker = (d.key(keys[n]["key"]) for n in ("avs", "operator-1", "staker-1"))
    assert avs.address == accounts[1].address
    sdk.register_operator(d, op, allocation_delay=1)
    sdk.deposit(d, staker, "TKA", 10 * WAD, mint=True)
    sdk.delegate(d, staker, op.address)
    sdk.create_set(d, avs, 7, [d.strategy("TKA")])
    with pytest.raises(ChainInputError, match="exists already"):
        sdk.create_set(d, avs, 7, [d.strategy("TKA")])
    sdk.register_operator(d, op, avs=avs.address, set_ids=[7])
    sdk.allocate(d, op, avs.address, 7, WAD // 2)
    with pytest.raises(ChainInputError, match="not the slasher"):
        sdk.slash(d, op, op.address, 7, WAD // 10, avs=avs.address)
    chain.mine(2)
    s = sdk.slash(d, avs, op.address, 7, WAD // 10)
    assert s["slash_id"] == 1 and s["amounts"] == [WAD // 2]  # 10% of the 5 TKA allocated
    with pytest.raises(ChainInputError, match="can be released from block"):
        sdk.release(d, staker, avs.address, 7, 1)
    chain.mine(CONFIG.slash_resolution_delay_blocks + 1)
    r = sdk.release(d, staker, avs.address, 7, 1)
    assert r["amounts"] == [WAD // 2] and r["recipient"] == "0x00000000000000000000000000000000000E16E4"
    with pytest.raises(ChainInputError, match="already released"):
        sdk.release(d, staker, avs.address, 7, 1)
