"""The rewards component of `ape run deploy` (offchain/chain/components.py): deployed when named
(with the token it buys back), wired (fees into the vault, the auction its one releaser, the
updater bonded by nobody yet), recorded with its parameters, and reused on the next run."""

from __future__ import annotations

import json

import pytest

from offchain.abi import BURN_ADDRESS
from offchain.chain.components import Parameters, deploy_components, parse_components
from offchain.chain.deploy import RewardsConfig, deploy_rewards
from offchain.chain.errors import DeployConfigError
from tests.contracts.support import TEST_CONFIG


def test_rewards_component_deploys_wires_records_and_is_reused(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    params = Parameters(TEST_CONFIG, rewards=RewardsConfig(activation_delay_s=60))
    kw = dict(record=record, provider=networks.provider)
    assert parse_components("rewards") == ("core", "token", "rewards")
    first = deploy_components(project, accounts[0], params, ("rewards",), **kw)
    assert first.deployed == ["core", "token", "rewards"]
    data = json.loads(record.read_text())
    rc = project.RewardsCoordinator.at(data["rewards_coordinator"])
    vault = project.FeeVault.at(data["fee_vault"])
    bb = project.BuybackAuction.at(data["buyback_auction"])
    rch = project.RewardsRootChallenger.at(data["rewards_root_challenger"])
    assert rc.feeRecipient() == vault.address and vault.buyback() == bb.address
    assert bb.EIGEN() == data["eigen"] and bb.VAULT() == vault.address
    assert rc.allocationManager() == data["allocation_manager"] and rc.activationDelay() == 60
    assert rc.CALCULATION_INTERVAL_SECONDS() == 86_400 and rc.GENESIS_REWARDS_TIMESTAMP() == 1_710_979_200
    assert (
        rc.rewardsUpdater() == accounts[0].address and rch.UPDATER_BOND() == RewardsConfig().updater_bond_wei
    )
    assert rc.ROOT_CHALLENGER() == rch.address and rch.rewardsCoordinator() == rc.address
    assert rch.CHALLENGER_REWARD_BIPS() == 5000 and rch.SLASH_RECIPIENT() == BURN_ADDRESS
    assert data["parameters"]["rewards"]["activation_delay_s"] == 60
    second = deploy_components(project, accounts[0], params, ("rewards",), **kw)
    assert "rewards" in second.reused and second.avs["rewards_coordinator"].address == rc.address


def test_rewards_need_eigen(project, accounts, deployment):
    with pytest.raises(DeployConfigError, match="needs the token component"):
        deploy_rewards(project, accounts[0], deployment, RewardsConfig())
