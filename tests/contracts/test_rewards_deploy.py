"""The rewards component of `ape run deploy` (offchain/chain/components.py): deployed when named
(with the token it buys back), wired (fees into the vault, the auction its one releaser, the
updater bonded by nobody yet), recorded with its parameters, and reused on the next run."""

from __future__ import annotations

import json

import pytest

from offchain.abi import BURN_ADDRESS, ZERO_ADDRESS
from offchain.chain.components import Parameters, deploy_components, parse_components
from offchain.chain.deploy import RewardsConfig, deploy_rewards, wire_fees
from offchain.chain.errors import DeployConfigError
from tests.contracts.support import TEST_CONFIG

EIP170 = 24_576
REWARDS_CONTRACTS = (
    "RewardsCoordinator",
    "RewardsRootChallenger",
    "RewardsChallengeSteps",
    "RewardsDistributor",
    "FeeVault",
    "BuybackAuction",
)


def test_rewards_contracts_fit_eip_170(project, capsys) -> None:
    sizes = {
        name: len(bytes.fromhex(project.get_contract(name).contract_type.runtime_bytecode.bytecode[2:]))
        for name in REWARDS_CONTRACTS
    }
    with capsys.disabled():
        print("\nruntime code (bytes, EIP-170 24,576):", ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    assert all(v <= EIP170 for v in sizes.values()), sizes


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
    steps = project.RewardsChallengeSteps.at(data["rewards_challenge_steps"])
    assert rch.STEP_CHALLENGER() == steps.address and steps.rootChallenger() == rch.address
    assert steps.rewardsCoordinator() == rc.address and steps.CALCULATION_INTERVAL_SECONDS() == 86_400
    assert data["parameters"]["rewards"]["activation_delay_s"] == 60
    second = deploy_components(project, accounts[0], params, ("rewards",), **kw)
    assert "rewards" in second.reused and second.avs["rewards_coordinator"].address == rc.address
    assert second.avs["rewards_challenge_steps"].address == steps.address


def test_rewards_need_eigen(project, accounts, deployment):
    with pytest.raises(DeployConfigError, match="needs the token component"):
        deploy_rewards(project, accounts[0], deployment, RewardsConfig())


def test_rewards_wire_the_cloud_fees_into_the_vault(project, accounts, networks, tmp_path):
    """Deployed with the task mailbox and the agent contracts, the rewards component points the
    mailbox's fee split and the upto settler's inference fee at its FeeVault, with the configured
    bips; a second run with other bips changes only those."""
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    comps = ("task-mailbox", "agent", "rewards")
    params = Parameters(TEST_CONFIG, rewards=RewardsConfig(task_fee_split_bips=1500, inference_fee_bips=0))
    first = deploy_components(project, accounts[0], params, comps, **kw)
    vault = first.avs["fee_vault"].address
    mailbox, settler = first.avs["task_mailbox"], first.agent["upto_settler"]
    assert (mailbox.feeSplitCollector(), mailbox.feeSplit()) == (vault, 1500)
    assert (settler.feeVault(), settler.feeBips()) == (vault, 0)
    params = Parameters(TEST_CONFIG, rewards=RewardsConfig(task_fee_split_bips=1500, inference_fee_bips=250))
    second = deploy_components(project, accounts[0], params, comps, **kw)
    assert second.avs["task_mailbox"].address == mailbox.address and settler.feeBips() == 250
    # without the rewards component nothing is wired: no vault, no fee taken
    alone = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("agent",))
    assert alone.agent["upto_settler"].feeVault() == ZERO_ADDRESS


@pytest.mark.parametrize("key", ["task_fee_split_bips", "inference_fee_bips"])
def test_cloud_fee_bips_bounded(key):
    for bad in (-1, 5001, True, "2000"):
        with pytest.raises(DeployConfigError, match=f"rewards.{key} must be"):
            RewardsConfig(**{key: bad})
    assert getattr(RewardsConfig(**{key: 5000}), key) == 5000


def test_wire_fees_refuses_a_bad_vault_or_owner(project, accounts, deployment):
    settler = accounts[1].deploy(project.UptoSettler)
    with pytest.raises(DeployConfigError, match="fee vault must be a non-zero address"):
        wire_fees(accounts[0], ZERO_ADDRESS, RewardsConfig(), settler=settler)
    with pytest.raises(DeployConfigError, match="owned by"):
        wire_fees(accounts[0], accounts[2].address, RewardsConfig(), settler=settler)


def test_wire_fees_points_the_payment_vault_at_the_fee_vault(project, accounts, deployment):
    """DA fees: the PaymentVault's consumed payments are swept as WETH into the FeeVault it names."""
    from offchain.chain.deploy import PaymentVaultParams, deploy_payment_vault

    pv = deploy_payment_vault(project, accounts[0], accounts[1].address, PaymentVaultParams())
    weth, vault = accounts[0].deploy(project.WETH9), accounts[0].deploy(project.FeeVault, accounts[0])
    with pytest.raises(DeployConfigError, match="swept as WETH"):
        wire_fees(accounts[1], vault.address, RewardsConfig(), payment_vault=pv)
    with pytest.raises(DeployConfigError, match="owned by"):
        wire_fees(accounts[0], vault.address, RewardsConfig(), payment_vault=pv, weth=weth.address)
    done = wire_fees(accounts[1], vault.address, RewardsConfig(), payment_vault=pv, weth=weth.address)
    assert done == [f"payment_vault: fee vault {vault.address}, WETH {weth.address}"]
    assert (pv.feeVault(), pv.weth()) == (vault.address, weth.address)
    assert wire_fees(accounts[1], vault.address, RewardsConfig(), payment_vault=pv, weth=weth.address) == []
