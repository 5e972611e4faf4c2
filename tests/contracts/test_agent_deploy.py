"""The agent component of the one deployment path (offchain/chain/deploy.py, components.py):
named explicitly, deployed wired together, recorded, reused from the record, and refused with
typed errors for bad parameters."""

from __future__ import annotations

import json

import pytest

from offchain.chain.components import COMPONENTS, Parameters, deploy_components, parse_components
from offchain.chain.deploy import AGENT_CONTRACTS, AMM_FEE_BIPS, deploy_agent
from offchain.chain.errors import DeployConfigError
from tests.contracts.support import TEST_CONFIG


def test_agent_is_opt_in():
    assert parse_components("agent") == ("core", "agent")
    assert parse_components("all,agent") == (*COMPONENTS, "agent")
    assert "agent" not in parse_components("all")
    with pytest.raises(DeployConfigError, match="unknown components"):
        parse_components("agents")


def test_deploy_record_and_reuse(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("agent",), **kw)
    assert first.deployed == ["core", "agent"] and set(first.agent) == set(AGENT_CONTRACTS)
    data = json.loads(record.read_text())
    for key in AGENT_CONTRACTS:
        assert data[key] == first.agent[key].address
    ident = first.agent["identity_registry"].address
    assert first.agent["reputation_registry"].getIdentityRegistry() == ident
    assert first.agent["validation_registry"].getIdentityRegistry() == ident
    token = first.agent["stable_token"]
    assert (token.name(), token.symbol(), token.decimals(), token.owner()) == (
        "USD Coin",
        "USDC",
        6,
        accounts[0],
    )
    amm = first.agent["amm"]  # the trading agent's venue: the stablecoin against the demo asset
    assert (amm.token0(), amm.token1(), amm.feeBips(), amm.totalSupply()) == (
        token.address,
        first.agent["amm_asset"].address,
        AMM_FEE_BIPS,
        0,
    )
    second = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("agent",), **kw)
    assert second.reused == ["core", "agent"] and second.deployed == []
    assert {k: c.address for k, c in second.agent.items()} == {k: data[k] for k in AGENT_CONTRACTS}
    # a core-only run keeps the agent's addresses in the record
    deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("core",), **kw)
    assert json.loads(record.read_text())["stable_token"] == data["stable_token"]
    # a record naming a dead agent deploys anew
    rec = json.loads(record.read_text())
    rec["upto_settler"] = "0x" + "42" * 20
    record.write_text(json.dumps(rec))
    third = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("agent",), **kw)
    assert third.deployed == ["agent"] and third.agent["upto_settler"].address != data["upto_settler"]


def test_bad_agent_parameters(project, accounts):
    with pytest.raises(DeployConfigError, match="minter"):
        deploy_agent(project, accounts[0], minter="0x12")
    with pytest.raises(DeployConfigError, match="1 to 32 bytes"):
        deploy_agent(project, accounts[0], token_name="")
