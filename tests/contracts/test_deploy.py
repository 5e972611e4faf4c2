"""Deployment: configuration loading and validation, and idempotent redeployment."""

import json
from dataclasses import replace

import pytest

from offchain.chain.deploy import DeployConfig, DeployConfigError, deploy_core, load_config
from offchain.errors import ChainError
from tests.contracts.support import TEST_CONFIG


def test_default_config_is_mainnet_sized():
    c = load_config("mainnet")
    assert (c.withdrawal_delay_blocks, c.deallocation_delay_blocks) == (100800, 100800)
    assert c.allocation_configuration_delay_blocks == 126000
    assert c.slash_resolution_delay_blocks == 50400
    assert c.mock_tokens == ()
    # security backstops (issue 12): an allocation delay floor longer than the withdrawal delay
    assert c.min_allocation_delay_blocks == 126000 > c.withdrawal_delay_blocks
    assert (c.pausers, c.unpauser) == (("deployer",), "deployer")


def test_local_config_overrides_delays():
    c = load_config("local")
    assert c.withdrawal_delay_blocks < 100 and c.mock_tokens


@pytest.mark.parametrize(
    "text, match",
    [
        ("[1, 2]", "needs a 'default' mapping"),
        ("default: {withdrawal_delay_blocks: 1}\n", "missing required keys"),
        ("default: {bogus: 1}\n", "unknown keys"),
        ("default: [\n", "not valid YAML"),
    ],
)
def test_bad_config_files(tmp_path, text, match):
    p = tmp_path / "deploy.yaml"
    p.write_text(text)
    with pytest.raises(DeployConfigError, match=match):
        load_config("local", p)


def test_missing_config_file(tmp_path):
    with pytest.raises(DeployConfigError, match="not found"):
        load_config("local", tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"withdrawal_delay_blocks": -1}, "withdrawal_delay_blocks"),
        ({"deallocation_delay_blocks": 2**32}, "deallocation_delay_blocks"),
        ({"slash_resolution_delay_blocks": 30}, "must not exceed"),
        ({"allocation_configuration_delay_blocks": True}, "allocation_configuration_delay_blocks"),
        ({"min_allocation_delay_blocks": -1}, "min_allocation_delay_blocks"),
        ({"pausers": ("nobody",)}, "pausers and unpauser"),
        ({"unpauser": "0x12"}, "pausers and unpauser"),
    ],
)
def test_config_validation(kwargs, match):
    base = dict(
        withdrawal_delay_blocks=20,
        deallocation_delay_blocks=20,
        allocation_configuration_delay_blocks=25,
        slash_resolution_delay_blocks=10,
    )
    base.update(kwargs)
    with pytest.raises(DeployConfigError, match=match):
        DeployConfig(**base)


def test_deploy_twice_reuses_live_deployment(project, accounts, networks, tmp_path):
    record = tmp_path / "31337.json"
    first = deploy_core(project, accounts[0], TEST_CONFIG, record=record, provider=networks.provider)
    assert (
        not first.reused
        and json.loads(record.read_text())["delegation_manager"] == first.delegation_manager.address
    )
    second = deploy_core(project, accounts[0], TEST_CONFIG, record=record, provider=networks.provider)
    assert second.reused
    assert second.addresses() == first.addresses()
    # the wiring was checked, not assumed
    assert second.strategy_manager.delegation() == second.delegation_manager.address


def test_stale_record_is_replaced(project, accounts, networks, tmp_path):
    record = tmp_path / "31337.json"
    record.write_text(
        json.dumps(
            {
                k: "0x" + "11" * 20
                for k in ("strategy_manager", "delegation_manager", "allocation_manager", "slash_escrow")
            }
        )
    )
    d = deploy_core(project, accounts[0], TEST_CONFIG, record=record, provider=networks.provider)
    assert not d.reused
    assert json.loads(record.read_text())["slash_escrow"] == d.slash_escrow.address


def test_corrupt_record_is_an_error(project, accounts, networks, tmp_path):
    record = tmp_path / "31337.json"
    record.write_text("{not json")
    with pytest.raises(ChainError, match="corrupt"):
        deploy_core(project, accounts[0], TEST_CONFIG, record=record, provider=networks.provider)


def test_deployment_wiring_and_parameters(deployment):
    d = deployment
    assert d.strategy_manager.delegation() == d.delegation_manager.address
    assert d.strategy_manager.slashEscrow() == d.slash_escrow.address
    assert d.delegation_manager.allocationManager() == d.allocation_manager.address
    assert d.delegation_manager.minWithdrawalDelayBlocks() == TEST_CONFIG.withdrawal_delay_blocks
    assert d.allocation_manager.DEALLOCATION_DELAY() == TEST_CONFIG.deallocation_delay_blocks
    assert (
        d.allocation_manager.ALLOCATION_CONFIGURATION_DELAY()
        == TEST_CONFIG.allocation_configuration_delay_blocks
    )
    assert d.slash_escrow.SLASH_RESOLUTION_DELAY_BLOCKS() == TEST_CONFIG.slash_resolution_delay_blocks
    for sym, strat in d.strategies.items():
        assert d.strategy_manager.deployedStrategies(d.tokens[sym]) == strat.address
        assert strat.underlyingToken() == d.tokens[sym].address


def test_initialize_only_once_and_only_deployer(deployment, accounts):
    import ape

    with ape.reverts("already initialized"):
        deployment.strategy_manager.initialize(accounts[1], accounts[1], sender=accounts[0])
    with ape.reverts("only deployer"):
        deployment.delegation_manager.initialize(accounts[1], accounts[1], sender=accounts[1])


def test_escrow_window_cannot_exceed_withdrawal_delay(project, accounts, deployment):
    import ape

    d = deployment
    with ape.reverts("resolution window exceeds withdrawal delay"):
        accounts[0].deploy(
            project.SlashEscrow, d.strategy_manager, d.delegation_manager, d.allocation_manager, 21
        )


def test_token_config():
    c = load_config("mainnet")
    assert not c.eigen_enabled and c.beigen_extra_withdrawal_delay_blocks == 72000
    assert load_config("local").eigen_enabled


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"challenge_bond": 0}, "challenge_bond"),
        ({"eigen_initial_supply": 2**224}, "eigen_initial_supply"),
        ({"challenger_reward_bps": 10_001}, "challenger_reward_bps"),
        ({"challenge_window_blocks": -1}, "challenge_window_blocks"),
        ({"beigen_extra_withdrawal_delay_blocks": 1}, "must cover"),
        ({"eigen_governance": "alice"}, "eigen_governance"),
        ({"eigen_governance": "0x" + "zz" * 20}, "eigen_governance"),
    ],
)
def test_token_config_validation(kwargs, match):
    with pytest.raises(DeployConfigError, match=match):
        replace(TEST_CONFIG, **kwargs)
