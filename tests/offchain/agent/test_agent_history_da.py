"""``eigen agent history`` with the DA network (offchain/agent/history.py): the DA records the chain
names (``eigenda:<blob key>`` in a validation request's or a feedback's URI, a task's TaskVerified
record) fetched by their certificates from a DA devnet, verified and decoded: a trading step record
(offchain.agent.trading.StepRecord) shows its step, order, receipt and feed payment beside what the
chain holds (the payment is the agent's exact x402 payment on chain); other payloads show their type
or only their size and hash; a malformed step record or a blob the network does not know keeps its
error while the rest stand; without DA access only the references are listed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_hash.auto import keccak

from offchain.agent.history import agent_history
from offchain.agent.trading import RECORD_TYPE
from offchain.chain.deploy import deploy_core
from offchain.chain.sdk import Deployment
from offchain.cli import main
from offchain.da.errors import DispersalError
from offchain.da.network import client as da_client
from tests.contracts.support import TEST_CONFIG, one
from tests.offchain.agent.test_agent_trading import (  # the trading tests' fixtures, and their agent
    agent_for,
    da,  # noqa: F401
    market,  # noqa: F401
    run_step,
    svc,  # noqa: F401
)

ZERO32 = b"\x00" * 32


def test_history_decodes_the_da_records_the_chain_names(market, svc, da, project, accounts, tmp_path, capsys):  # noqa: F811
    w, _ = market
    owner, client = accounts[3], accounts[6]  # the trading agent's wallet owns the agent
    assert owner.address == w.addresses["payer"]
    ident = accounts[0].deploy(project.IdentityRegistry)
    val = accounts[0].deploy(project.ValidationRegistry, ident)
    rep = accounts[0].deploy(project.ReputationRegistry, ident)
    agent_id = one(ident.register("https://trader.example/card.json", sender=owner), "Registered").agentId
    agent = replace(agent_for(market), agent_id=agent_id, registry=ident.address)
    res = run_step(agent, svc, 2)
    key = da.put(res.raw)["blob_key"]
    blob = da.put(b"\x00 not json")["blob_key"]
    typed = da.put(json.dumps({"type": "eigen.other.Record", "version": 1}).encode())["blob_key"]
    bad = da.put(json.dumps({"type": RECORD_TYPE, "version": 2}).encode())["blob_key"]
    unknown = "ab" * 32
    v = accounts[5].address  # any validator: the request's URI is what the history reads
    for i, uri in enumerate(
        (f"eigenda:{key}", f"eigenda:0x{bad}", f"eigenda:{unknown}", "ipfs://x", "eigenda:12")
    ):
        val.validationRequest(v, agent_id, uri, keccak(b"%d" % i), sender=owner)
    rep.giveFeedback(agent_id, 90, 0, "step", "", f"eigenda:{typed}", "", ZERO32, sender=client)
    rep.giveFeedback(agent_id, 80, 0, "step", "", "", f"eigenda:{blob}", ZERO32, sender=client)
    record = tmp_path / "record.json"
    core = deploy_core(project, accounts[0], TEST_CONFIG)  # a deployment record names its core
    addresses = {
        "allocation_manager": core.allocation_manager.address,
        "identity_registry": ident.address,
        "validation_registry": val.address,
        "reputation_registry": rep.address,
        "stable_token": w.token.address,
        "upto_settler": w.settler.address,
    }
    rpc = w.w3.provider.endpoint_uri
    record.write_text(json.dumps({"chain_id": w.w3.eth.chain_id, "rpc_url": rpc, **addresses}))
    d = Deployment.load(record)

    h = agent_history(d, agent_id, records=da)
    by = {r["blob_key"]: r for r in h["da_records"]}
    assert list(by) == ["0x" + x for x in (key, bad, unknown, typed, blob)]  # "ipfs:", "eigenda:12": none
    step = by["0x" + key]
    assert (step["fetched"], step["type"], step["error"]) == (True, RECORD_TYPE, None)
    assert step["keccak"] == "0x" + keccak(res.raw).hex() and step["bytes"] == len(res.raw)
    assert step["referenced_by"] == [{"from": "validation", "request_hash": "0x" + keccak(b"0").hex()}]
    got = step["contents"]
    assert got["names_agent"] and got["step"] == 2 and got["order"] == res.record.order.to_dict()
    assert got["receipt"] == "0x" + res.record.receipt.digest().hex() and not got["receipt_on_chain"]
    assert got["strategy_hash"] == "0x" + res.record.strategy.hash().hex()
    # the feed's payment the record claims is the agent's exact x402 payment on chain
    (paid,) = h["payments"]
    assert got["payment"]["on_chain"] and (paid["scheme"], paid["role"]) == ("exact", "payer")
    assert paid["payee"] == w.addresses["seller"] and got["payment"]["transaction"].lower().endswith(
        paid["tx"][2:]
    )
    assert got["trade"] == res.record.trade
    malformed = by["0x" + bad]
    assert malformed["fetched"] and malformed["contents"] is None
    assert malformed["error"].startswith("a malformed step record")
    assert not by["0x" + unknown]["fetched"] and by["0x" + unknown]["error"].startswith("not fetched")
    other = by["0x" + typed]
    assert (other["type"], other["contents"], other["error"]) == ("eigen.other.Record", None, None)
    assert other["referenced_by"] == [{"from": "feedback", "client": client.address, "index": 1}]
    raw = by["0x" + blob]
    assert (raw["fetched"], raw["type"], raw["bytes"]) == (True, None, len(b"\x00 not json"))
    assert "da" in h["read"]

    # without DA access: where the chain names each record, nothing fetched
    bare = agent_history(d, agent_id)
    assert [r["blob_key"] for r in bare["da_records"]] == list(by)
    assert not any(r["fetched"] or r["error"] for r in bare["da_records"]) and "da" not in bare["read"]

    # the command: the same history as JSON; the DA options go together
    args = ["agent", "history", str(agent_id), "--deployment", str(record), "--json"]
    da_args = ["--disperser", da.disperser, "--da-config", str(da.client_config)]
    assert main([*args, *da_args]) == 0
    assert json.loads(capsys.readouterr().out)["da_records"] == json.loads(json.dumps(h["da_records"]))
    assert main([*args[:-1], *da_args]) == 0  # the table: one row per record
    table = capsys.readouterr().out
    assert "DA records (5)" in table and "not fetched" in table and "eigen.other.Record" in table
    assert main([*args, "--disperser", da.disperser]) == 2
    assert "go together" in capsys.readouterr().err
    # a certificate by blob key: one the disperser does not know, or no blob key at all, is refused
    with pytest.raises(DispersalError, match="unknown"):
        da_client.certificate(da.disperser, bytes.fromhex(unknown))
    with pytest.raises(DispersalError, match="32 bytes"):
        da_client.certificate(da.disperser, b"\x01")
