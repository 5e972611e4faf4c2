"""offchain.chain.rewards and `eigen rewards status|claim` against the contracts on anvil: an
earner's standing, a claim sent through web3 to a recipient, and each claim the contract would
refuse reported before anything is sent."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from offchain.chain import rewards, sdk
from offchain.chain.errors import ChainInputError
from offchain.cli import main
from offchain.rewards.merkle import DistributionTree
from tests.contracts.test_rewards import RewardsWorld


@pytest.fixture(scope="module")
def rw(project, chain, accounts, deployment):
    return RewardsWorld(project, chain, accounts, deployment)


def deployment_of(rw, chain):
    return sdk.Deployment(
        chain_id=chain.chain_id,
        rpc_url=chain.provider.uri,
        addresses={"allocation_manager": rw.tw.am.address, "rewards_coordinator": rw.rc.address},
    )


def key(account):
    return Account.from_key(account.private_key)


def test_status_and_claim(rw, chain):
    d = deployment_of(rw, chain)
    tka, tkb = rw.tokens["TKA"], rw.tokens["TKB"]
    rw.submit(rw.avs, tka, 1_000)
    tree = DistributionTree(
        {rw.staker.address: {tka.address: 600, tkb.address: 5}, rw.op.address: {tka.address: 2_000}}
    )
    i = rw.post(rw.avs, tree)
    st = rewards.status(d, rw.avs.address, tree, rw.staker.address)
    assert st["root_index"] == i and not st["claimable_now"] and st["claimer"] == rw.staker.address
    row = {r["token"]: r for r in st["tokens"]}[tka.address]
    assert (row["cumulative"], row["claimed"], row["claimable"], row["escrow"], row["covered"]) == (
        600,
        0,
        600,
        1_000,
        True,
    )
    with pytest.raises(ChainInputError, match="activates at"):
        rewards.claim(d, key(rw.staker), rw.avs.address, tree, tokens=[tka.address])
    rw.activate()
    with pytest.raises(ChainInputError, match="may not claim"):
        rewards.claim(d, key(rw.other), rw.avs.address, tree, earner=rw.staker.address)
    with pytest.raises(ChainInputError, match="does not cover"):
        rewards.claim(d, key(rw.staker), rw.avs.address, tree)  # TKB: nothing escrowed
    out = rewards.claim(
        d, key(rw.staker), rw.avs.address, tree, recipient=rw.recipient.address, tokens=[tka.address]
    )
    assert out["paid"] == {tka.address: 600} and tka.balanceOf(rw.recipient) == 600
    after = rewards.status(d, rw.avs.address, tree, rw.staker.address)["tokens"]
    assert {r["token"]: r["claimable"] for r in after} == {tka.address: 0, tkb.address: 5}
    with pytest.raises(ChainInputError, match="already claimed"):
        rewards.claim(d, key(rw.staker), rw.avs.address, tree, tokens=[tka.address])
    with pytest.raises(ChainInputError, match="does not cover"):
        rewards.claim(d, key(rw.op), rw.avs.address, tree)
    with pytest.raises(ChainInputError, match="no root of"):
        rewards.status(d, rw.avs2.address, tree, rw.staker.address)
    with pytest.raises(ChainInputError, match="not this distribution"):
        rewards.status(
            d, rw.avs.address, DistributionTree({rw.op.address: {tka.address: 1}}), rw.op.address, i
        )
    with pytest.raises(ChainInputError, match="earns nothing"):
        rewards.status(d, rw.avs.address, tree, rw.other.address)
    assert [r.index for r in rewards.roots_of(d, rw.avs.address)] == [i]


def test_the_cli_routes_status_and_claim(rw, chain, tmp_path, capsys):
    tka = rw.tokens["TKA"]
    rw.submit(rw.avs, tka, 100)
    earnings = {rw.staker.address: {tka.address: 40}}
    tree = DistributionTree(earnings)
    rw.post(rw.avs, tree)
    rw.activate()
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps({"allocation_manager": rw.tw.am.address, "rewards_coordinator": rw.rc.address})
    )
    ef = tmp_path / "earnings.json"
    ef.write_text(json.dumps(earnings))
    common = [
        "--deployment",
        str(record),
        "--rpc",
        chain.provider.uri,
        "--earnings",
        str(ef),
        "--avs",
        rw.avs.address,
    ]
    assert main(["rewards", "status", *common, "--earner", rw.staker.address]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"][0]["claimable"] == 40
    kf = tmp_path / "key"
    kf.write_text(rw.staker.private_key)
    assert main(["rewards", "claim", *common, "--key", str(kf)]) == 0
    assert json.loads(capsys.readouterr().out)["paid"] == {tka.address: 40}
    assert tka.balanceOf(rw.staker) == 40
    assert main(["rewards", "claim", *common, "--key", str(kf)]) == 2
    assert "nothing left to claim" in capsys.readouterr().err
