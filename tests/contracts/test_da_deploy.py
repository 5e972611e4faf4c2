"""The da component of `ape run deploy` (offchain/chain/components.py): the DA AVS's BLSRegistry,
the PaymentVault and the EigenDACertVerifier deployed with the configured parameters, recorded in
the record's ``da`` section and reused; the vault's consumed payments wired into the rewards
component's FeeVault (deployed now or recorded) or a configured one, and swept there end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from offchain.abi import ZERO_ADDRESS
from offchain.chain.components import Parameters, deploy_components, parse_components
from offchain.chain.deploy import DAConfig, RewardsConfig, load_da_config
from offchain.chain.errors import DeployConfigError
from offchain.da.network.types import sign_digest
from tests.contracts.support import TEST_CONFIG

LOCAL_DA = load_da_config("local")
PAYER_KEY = keccak(b"da deploy payer")
PAYER = Account.from_key(PAYER_KEY).address
INNER = keccak(b"abi.encode(version, quorumNumbers, commitment)")


def params(**da) -> Parameters:
    return Parameters(TEST_CONFIG, rewards=RewardsConfig(activation_delay_s=60), da=replace(LOCAL_DA, **da))


def claim(pv, cumulative: int, sender) -> int:
    """The payer's signed dispersal of a blob for `cumulative` wei in all, claimed as the disperser's
    keeper does (offchain/da/network/claims.py): returns the wei newly consumed."""
    ts = 1_700_000_000_000_000_000
    phh = keccak(abi_encode(["(string,int64,uint256)"], [(PAYER, ts, cumulative)]))
    blob_key = keccak(abi_encode(["bytes32", "bytes32"], [INNER, phh]))
    sig = sign_digest(PAYER_KEY, blob_key)
    return pv.claimOnDemandPayment((PAYER, ts, cumulative), INNER, sig, sender=sender).return_value


def test_da_is_opt_in():
    assert parse_components("da") == ("core", "da")
    assert "da" not in parse_components("all")
    assert parse_components("rewards,da") == ("core", "token", "rewards", "da")


def test_da_component_deploys_records_reuses_and_reports_differences(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], params(), ("da",), **kw)
    assert first.deployed == ["core", "da"] and first.reused == []
    data = json.loads(record.read_text())
    da = data["da"]
    assert set(da) == set("bls_registry payment_vault cert_verifier weth avs operator_set_id grpc".split())
    assert da["grpc"] == {
        "host": "127.0.0.1",
        "disperser_port": 9201,
        "node_port": 9101,
    }  # where clients connect
    assert (da["avs"], da["operator_set_id"]) == (accounts[0].address, 0)
    reg = project.BLSRegistry.at(da["bls_registry"])
    assert (reg.avs(), reg.allocationManager()) == (accounts[0].address, data["allocation_manager"])
    assert (reg.rotationDelay(), reg.maxStaleness()) == (10, 14_400)
    pv = project.PaymentVault.at(da["payment_vault"])
    getters = "minNumSymbols pricePerSymbol priceUpdateCooldown globalSymbolsPerPeriod"
    got = tuple(
        getattr(pv, g)() for g in (*getters.split(), "reservationPeriodInterval", "globalRatePeriodInterval")
    )
    assert got == (64, 447_000_000, 1, 1 << 24, 300, 30)  # the local section's sizes, mainnet's price
    cv = project.EigenDACertVerifier.at(da["cert_verifier"])
    assert (cv.blsRegistry(), cv.operatorSetId(), cv.recencyWindow()) == (reg.address, 0, 14_400)
    assert (cv.confirmationThreshold(), cv.adversaryThreshold(), cv.requiredQuorumsBitmap()) == (55, 33, 0b11)
    assert tuple(cv.getBlobParams(0)) == (3537, 8192, 8)
    assert pv.owner() == cv.owner() == accounts[0].address
    assert networks.provider.get_code(da["weth"])  # `weth: deploy` on the local network
    # no rewards component and `fee_vault: none`: left unset off a live network, and said so
    assert pv.feeVault() == ZERO_ADDRESS and any("names no fee vault" in n for n in first.notes)
    recorded = data["parameters"]["da"]
    assert recorded["price_wei_per_symbol"] == 447_000_000 and recorded["required_quorums"] == [0, 1]

    second = deploy_components(project, accounts[0], params(), ("da",), **kw)
    assert second.reused == ["core", "da"] and second.deployed == [] and second.differences == []
    assert json.loads(record.read_text())["da"] == da
    moved = deploy_components(
        project, accounts[0], params(grpc_host="da.example", node_grpc_port=7000), ("da",), **kw
    )
    assert (
        moved.reused == ["core", "da"] and moved.differences == []
    )  # not on chain: applied, not a difference
    moved_rec = json.loads(record.read_text())
    assert moved_rec["da"] == {
        **da,
        "grpc": {"host": "da.example", "disperser_port": 9201, "node_port": 7000},
    }
    assert moved_rec["parameters"]["da"]["node_grpc_port"] == 7000

    changed = params(price_wei_per_symbol=1, required_quorums=(0,))
    third = deploy_components(project, accounts[0], changed, ("da",), **kw)
    assert third.reused == ["core", "da"]
    assert third.differences == [
        "da.price_wei_per_symbol: 447000000 -> 1",
        "da.required_quorums: [0, 1] -> [0]",
    ]
    assert pv.pricePerSymbol() == 447_000_000  # reused as it is; the record still says so
    assert json.loads(record.read_text())["parameters"]["da"]["price_wei_per_symbol"] == 447_000_000

    fourth = deploy_components(project, accounts[0], changed, ("da",), redeploy=True, **kw)
    new = json.loads(record.read_text())
    assert fourth.deployed == ["core", "da"] and new["da"]["payment_vault"] != da["payment_vault"]
    assert project.PaymentVault.at(new["da"]["payment_vault"]).pricePerSymbol() == 1
    assert project.EigenDACertVerifier.at(new["da"]["cert_verifier"]).requiredQuorumsBitmap() == 0b1


def test_da_fees_flow_into_the_rewards_fee_vault_and_its_buyback(project, accounts, networks, tmp_path):
    """With the rewards component, the PaymentVault's fee vault is its FeeVault: an on-demand payment
    the payer signed is claimed, swept as WETH into the FeeVault (the operators' share in ETH) and
    put up for sale by the buyback auction."""
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    ops = accounts[5]
    p = params(operator_fee_bips=1000, operator_fee_recipient=ops.address)
    d = deploy_components(project, accounts[0], p, ("rewards", "da"), **kw)
    assert d.deployed == ["core", "token", "rewards", "da"]
    fee_vault, buyback = d.avs["fee_vault"], d.avs["buyback_auction"]
    pv, weth = d.da.payment_vault, d.da.weth
    assert (pv.feeVault(), pv.weth()) == (fee_vault.address, weth.address)
    assert (pv.operatorFeeRecipient(), pv.operatorFeeBips()) == (ops.address, 1000)
    assert f"payment_vault: fee vault {fee_vault.address}, WETH {weth.address}" in d.notes

    pv.depositOnDemand(PAYER, value=10**18, sender=accounts[2])
    assert claim(pv, 3 * 10**17, accounts[3]) == 3 * 10**17
    before = ops.balance
    swept = pv.sweep(sender=accounts[4]).return_value
    assert swept == 27 * 10**16 and ops.balance == before + 3 * 10**16
    assert fee_vault.balanceOf(weth) == swept == weth.balanceOf(fee_vault)
    rc = buyback.startAuction(weth, sender=accounts[4])
    (started,) = [e for e in rc.events if e.event_name == "AuctionStarted"]
    assert started.lot == swept and fee_vault.balanceOf(weth) == 0 and weth.balanceOf(buyback) == swept

    again = deploy_components(project, accounts[0], p, ("rewards", "da"), **kw)
    assert again.reused == ["core", "token", "rewards", "da"] and again.notes == []


def test_da_wired_to_a_rewards_component_recorded_later(project, accounts, networks, tmp_path):
    """DA first (no fee vault), rewards added later: the next run of da wires the recorded FeeVault;
    da alone over a record with rewards keeps it."""
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], params(), ("da",), **kw)
    pv = first.da.payment_vault
    assert pv.feeVault() == ZERO_ADDRESS
    deploy_components(project, accounts[0], params(), ("rewards",), **kw)
    data = json.loads(record.read_text())
    assert data["da"]["payment_vault"] == pv.address  # kept in the record while rewards was deployed
    third = deploy_components(project, accounts[0], params(), ("da",), **kw)
    assert third.reused == ["core", "da"] and pv.feeVault() == data["fee_vault"]
    assert pv.weth() == data["da"]["weth"]
    # the operators' share and the owner are applied to the reused vault: not differences, and recorded
    ops, gov = accounts[5].address, accounts[6].address
    fourth = deploy_components(
        project,
        accounts[0],
        params(operator_fee_bips=500, operator_fee_recipient=ops, governance=gov),
        ("da",),
        **kw,
    )
    assert fourth.differences == [] and (pv.operatorFeeRecipient(), pv.operatorFeeBips(), pv.owner()) == (
        ops,
        500,
        gov,
    )
    assert first.da.cert_verifier.owner() == gov
    recorded = json.loads(record.read_text())["parameters"]["da"]
    assert (recorded["operator_fee_bips"], recorded["operator_fee_recipient"], recorded["governance"]) == (
        500,
        ops,
        gov,
    )


def test_da_fee_vault_without_rewards_and_governance(project, accounts, networks, tmp_path):
    """Without rewards the configured FeeVault is wired; then both contracts pass to governance, and a
    later run that would change the wiring is refused (the deployer no longer owns them)."""
    vault = accounts[0].deploy(project.FeeVault, accounts[0])
    gov = accounts[6]
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    d = deploy_components(
        project,
        accounts[0],
        params(fee_vault=vault.address, governance=gov.address),
        ("da",),
        live=True,
        **kw,
    )
    pv, cv = d.da.payment_vault, d.da.cert_verifier
    assert pv.feeVault() == vault.address and pv.owner() == cv.owner() == gov.address
    assert f"payment_vault: owned by {gov.address}" in d.notes
    other = accounts[0].deploy(project.FeeVault, accounts[0])
    with pytest.raises(DeployConfigError, match="owned by .*not the deployer"):
        deploy_components(
            project, accounts[0], params(fee_vault=other.address, governance=gov.address), ("da",), **kw
        )
    assert pv.feeVault() == vault.address


@pytest.mark.parametrize(
    "da, comps, live, match",
    [
        ({}, ("da",), True, "da.fee_vault is none and no rewards component"),
        ({"fee_vault": "0x" + "11" * 20}, ("da",), False, "da.fee_vault: no contract at"),
        ({"weth": "0x" + "22" * 20}, ("da",), False, "da.weth: no contract at"),
        ({"fee_vault": "weth"}, ("rewards", "da"), False, "the DA fees go to the rewards component's"),
    ],
)
def test_da_destinations_refused_before_anything_is_deployed(
    project, accounts, networks, tmp_path, da, comps, live, match
):
    record = tmp_path / "rec.json"
    if da.get("fee_vault") == "weth":  # a contract, but not the rewards component's FeeVault
        da = {"fee_vault": accounts[0].deploy(project.WETH9).address}
    nonce = accounts[0].nonce
    with pytest.raises(DeployConfigError, match=match):
        deploy_components(
            project, accounts[0], params(**da), comps, record=record, provider=networks.provider, live=live
        )
    assert accounts[0].nonce == nonce and not record.exists()  # nothing deployed, nothing recorded


def test_default_da_parameters_are_eigenda_mainnets():
    main = load_da_config("mainnet")
    assert main == DAConfig()
    assert main.vault_params() == main.vault_params().__class__()  # PaymentVaultParams' mainnet values
    assert (main.price_wei_per_symbol, main.min_num_symbols, main.global_symbols_per_period) == (
        447_000_000,
        4096,
        131_072,
    )
    v = main.verifier_params()
    assert (v.confirmation_threshold, v.adversary_threshold, v.required_quorums) == (55, 33, b"\x00\x01")
    assert v.blob_params() == (3537, 8192, 8)
