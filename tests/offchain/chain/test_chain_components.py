"""offchain.chain.components: choosing components, the parameters printed and recorded, and a
recorded deployment reused (with a warning for each differing parameter) or replaced."""

import json
from dataclasses import replace

import pytest

from offchain.chain.components import (
    COMPONENTS,
    Parameters,
    configured_networks,
    deploy_components,
    differences,
    parse_components,
)
from offchain.chain.deploy import DeployConfig, InferenceDisputesConfig, load_config
from offchain.chain.errors import DeployConfigError

CONFIG = DeployConfig(
    withdrawal_delay_blocks=20,
    deallocation_delay_blocks=20,
    allocation_configuration_delay_blocks=25,
    slash_resolution_delay_blocks=10,
    mock_tokens=(("Token A", "TKA"),),
    eigen_initial_supply=10**24,
    challenge_bond=10**19,
    challenge_window_blocks=5,
    fork_timelock_blocks=3,
    beigen_extra_withdrawal_delay_blocks=10,
)


@pytest.mark.parametrize(
    "text, want",
    [
        (None, COMPONENTS),
        ("all", COMPONENTS),
        ("compute-avs", ("core", "compute-avs")),
        ("inference-disputes, token", ("core", "token", "inference-disputes")),
        ("core", ("core",)),
    ],
)
def test_parse_components(text, want):
    assert parse_components(text) == want


@pytest.mark.parametrize("text, match", [("bogus", "unknown components"), (" , ", "at least one")])
def test_parse_components_refuses_bad_names(text, match):
    with pytest.raises(DeployConfigError, match=match):
        parse_components(text)


def test_parameters_lines_cover_each_chosen_component():
    p = Parameters(load_config("mainnet"))
    lines = p.lines(COMPONENTS)
    assert "core.withdrawal_delay_blocks = 100800" in lines
    assert "core.challenge_bond = 100000000000000000000000" in lines
    assert any(ln.startswith("compute_avs.fault_wad = ") for ln in lines)
    assert any(ln.startswith("inference_disputes.challenge_bond_wei = ") for ln in lines)
    core_only = p.lines(("core",))
    assert not any(
        ln.startswith(("compute_avs.", "inference_disputes.", "core.challenge_bond")) for ln in core_only
    )


def test_configured_networks():
    assert {"local", "sepolia"} <= configured_networks()
    assert "mainnet" not in configured_networks()


def test_differences_name_each_changed_parameter():
    p = Parameters(CONFIG)
    recorded = p.as_dict()
    assert differences(recorded, p, COMPONENTS) == []
    q = replace(
        p,
        core=replace(CONFIG, withdrawal_delay_blocks=30),
        inference_disputes=InferenceDisputesConfig(slash_wad=1),
    )
    diff = differences(recorded, q, COMPONENTS)
    assert diff == [
        "core.withdrawal_delay_blocks: 20 -> 30",
        f"inference_disputes.slash_wad: {InferenceDisputesConfig().slash_wad!r} -> 1",
    ]
    assert differences(recorded, q, ("core",)) == ["core.withdrawal_delay_blocks: 20 -> 30"]
    assert differences(None, p, COMPONENTS) == ["the record holds no parameters"]


def test_deploy_chosen_components_then_all_then_changed(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], Parameters(CONFIG), ("compute-avs",), **kw)
    data = json.loads(record.read_text())
    assert first.deployed == ["core", "compute-avs"] and first.reused == []
    assert "compute_avs" in data and "inference_disputes" not in data and "eigen" not in data
    assert set(data["parameters"]) == {"core", "compute_avs"}
    assert project.ComputeAVS.at(data["compute_avs"]).allocationManager() == data["allocation_manager"]

    second = deploy_components(project, accounts[0], Parameters(CONFIG), COMPONENTS, **kw)
    data2 = json.loads(record.read_text())
    assert second.reused == ["core", "compute-avs"] and second.deployed == ["token", "inference-disputes"]
    assert second.differences == []
    assert (
        data2["compute_avs"] == data["compute_avs"]
        and data2["allocation_manager"] == data["allocation_manager"]
    )
    assert data2["eigen"] and data2["inference_disputes"]

    changed = Parameters(replace(CONFIG, withdrawal_delay_blocks=30))
    third = deploy_components(project, accounts[0], changed, COMPONENTS, **kw)
    assert third.reused == ["core", "token", "compute-avs", "inference-disputes"]
    assert third.differences == ["core.withdrawal_delay_blocks: 20 -> 30"]
    # the record still describes what is on chain
    assert json.loads(record.read_text())["parameters"]["core"]["withdrawal_delay_blocks"] == 20

    fourth = deploy_components(project, accounts[0], changed, ("core",), redeploy=True, **kw)
    data4 = json.loads(record.read_text())
    assert fourth.deployed == ["core"] and data4["allocation_manager"] != data["allocation_manager"]
    assert fourth.core.delegation_manager.minWithdrawalDelayBlocks() == 30
    assert "compute_avs" not in data4 and data4["parameters"]["core"]["withdrawal_delay_blocks"] == 30


def test_token_needs_the_deployer_as_whitelister(project, accounts, networks):
    cfg = replace(CONFIG, strategy_whitelister=accounts[5].address)
    with pytest.raises(DeployConfigError, match="strategy_whitelister"):
        deploy_components(project, accounts[0], Parameters(cfg), ("token",))


def test_corrupt_record_is_a_typed_error(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    record.write_text("{not json")
    with pytest.raises(DeployConfigError, match="corrupt"):
        deploy_components(
            project, accounts[0], Parameters(CONFIG), ("core",), record=record, provider=networks.provider
        )
