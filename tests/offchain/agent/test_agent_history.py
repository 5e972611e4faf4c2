"""``eigen agent history ID`` (offchain/agent/history.py): an agent's record read from the chain
alone: its ERC-8004 identity, feedback (revoked left out of the mean), validation requests and the
TaskValidator's answers, the TaskMailbox tasks it created, the verified-escrow payments it received
(released on a certificate, refunded after a proven fault), its x402 exact and upto payments (EIP-3009
authorized transfers and UptoSettler settlements; a plain transfer is none) and the slash of the
faulty signer."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.abi import ZERO_ADDRESS
from offchain.agent.errors import AgentNotFoundError
from offchain.agent.evm import create_payment, escrow_of
from offchain.agent.history import agent_history, render
from offchain.chain.agent import VALIDATION_KIND_TASK, Sender, validation_request_hash
from offchain.chain.sdk import Deployment
from offchain.cli import main
from offchain.compute.devtee import DevTEE
from tests.contracts.support import ESCROW_BLOCKS, A, evs, one
from tests.offchain.agent.support import JOB_PRICE, VerifiedWorld

ZERO32 = b"\x00" * 32
EXACT_PRICE, UPTO_MAX, UPTO_CHARGE, AGENT_PAYS = 3_000, 50_000, 1_234, 500
H4 = bytes.fromhex("13600b294191fc92924bb3ce4b969c1e7e2bab8f4c93c3fc6d0a51733df3c060")  # keccak(b"4")


@pytest.fixture(scope="module")
def hw(project, chain, accounts, tmp_path_factory):
    """A verified world whose seller is ERC-8004 agent; two paid tasks: one certified and
    released, one certified, proven faulty (a signer slashed) and refunded; feedback; two
    validations answered by the TaskValidator."""
    vw = VerifiedWorld(project, chain, accounts)
    mw, owner, seller, payer = vw.mw, vw.mw.w.owner, vw.seller, vw.payer
    ident = owner.deploy(project.IdentityRegistry)
    rep = owner.deploy(project.ReputationRegistry, ident)
    val = owner.deploy(project.ValidationRegistry, ident)
    validator = owner.deploy(project.TaskValidator, val, mw.mailbox, ZERO_ADDRESS, ZERO_ADDRESS)
    agent_id = one(ident.register("https://seller.example/card.json", sender=seller), "Registered").agentId
    ident.setAgentURI(agent_id, "https://seller.example/v2.json", sender=seller)
    sender = Sender(vw.w3, payer.private_key)
    hashes, escrows = [], []
    for fault in (False, True):
        h, _ = mw.create()
        req = vw.facilitator.requirements(
            "verified", vw.token.address, seller.address, JOB_PRICE, task=h, deadline=vw.clock() + 3600
        )
        payload = create_payment(payer.private_key, req, now=vw.clock())
        assert vw.facilitator.settle(payload, req).success
        signers = list(evs(mw.submit(h, mw.ecdsa(h, b"4")), "TaskVerified")[0].signers)
        rh = validation_request_hash(A(validator), chain.chain_id, agent_id, VALIDATION_KIND_TASK, h, H4)
        val.validationRequest(validator, agent_id, "ipfs://job", rh, sender=seller)
        if fault:
            mw.slasher.proveConflict(
                h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=mw.w.other
            )
            chain.mine(ESCROW_BLOCKS + 1)  # the slash final: the escrow refunds
        validator.respondTask(agent_id, h, H4, ZERO32, signers, sender=mw.w.other)
        eid = escrow_of(payload)
        sender.send((vw.escrow.refund if fault else vw.escrow.release)(eid, signers))
        hashes.append(h)
        escrows.append(eid)
    # x402 payments: exact and upto to the agent, exact by the agent; a plain transfer is no payment
    fac, usdc = vw.facilitator, vw.token.address
    paid = []
    for scheme, frm, to, amount, charge in (
        ("exact", payer, seller, EXACT_PRICE, None),
        ("upto", payer, seller, UPTO_MAX, UPTO_CHARGE),
        ("exact", seller, mw.w.other, AGENT_PAYS, None),
    ):
        req = fac.requirements(scheme, usdc, to.address, amount)
        pay = create_payment(frm.private_key, req, now=vw.clock())
        paid.append(fac.settle(pay, req if charge is None else replace(req, amount=charge)).transaction)
    vw.usdc.transfer(seller, 7, sender=payer)
    rep.giveFeedback(agent_id, 87, 0, "quality", "eth", "", "", ZERO32, sender=payer)
    rep.giveFeedback(agent_id, -5, 1, "quality", "", "", "", ZERO32, sender=payer)
    rep.giveFeedback(agent_id, 3, 0, "speed", "", "", "", ZERO32, sender=mw.w.other)
    rep.revokeFeedback(agent_id, 1, sender=mw.w.other)  # mw.w.other's first (index 1) feedback
    record = tmp_path_factory.mktemp("history") / "record.json"
    addresses = {
        "allocation_manager": mw.w.am.address,
        "task_mailbox": mw.mailbox.address,
        "task_slasher": mw.slasher.address,
        "verified_escrow": vw.escrow.address,
        "identity_registry": ident.address,
        "reputation_registry": rep.address,
        "validation_registry": val.address,
        "task_validator": validator.address,
        "stable_token": vw.usdc.address,
        "upto_settler": vw.settler.address,
        "compute_avs": mw.cw.avs.address,
    }
    rpc = vw.w3.provider.endpoint_uri
    record.write_text(json.dumps({"chain_id": chain.chain_id, "rpc_url": rpc, **addresses}))
    return {
        "vw": vw,
        "agent_id": agent_id,
        "record": record,
        "tasks": hashes,
        "escrows": escrows,
        "validator": validator.address,
        "paid": paid,
        "ident": ident,
        "d": Deployment.load(record),
    }


def test_history_reads_every_part_from_the_chain(hw):
    vw, agent_id = hw["vw"], hw["agent_id"]
    h = agent_history(hw["d"], agent_id)
    seller = vw.seller.address
    i = h["identity"]
    assert (i["owner"], i["wallet"], i["uri"], i["uri_updates"]) == (
        seller,
        seller,
        "https://seller.example/v2.json",
        1,
    )
    assert i["registered"]["owner"] == seller and i["transfers"] == []
    assert h["accounts"] == [seller]
    fb = h["feedback"]
    assert (fb["count"], fb["revoked"]) == (2, 1)
    assert [e["value"] for e in fb["entries"]] == ["87", "-0.5", "3"]
    assert [e["revoked"] for e in fb["entries"]] == [False, False, True]
    assert fb["mean"] == str((87 + -0.5) / 2)
    vals = h["validations"]
    assert [(v["response"], v["tag"]) for v in vals] == [(100, "task-certified"), (0, "fault-proven")]
    assert all(v["validator"] == hw["validator"] for v in vals)
    tasks = h["tasks"]
    assert [t["task"] for t in tasks] == ["0x" + x.hex() for x in hw["tasks"]]
    assert [(t["status"], t["result_hash"], t["faults"]) for t in tasks] == [
        ("verified", "0x" + H4.hex(), 0),
        ("verified", "0x" + H4.hex(), 1),
    ]
    es = h["escrows"]
    assert {e["kind"] for e in es} == {"task"}
    assert [(e["escrow"], e["state"], e["refund_reason"]) for e in es] == [
        ("0x" + hw["escrows"][0].hex(), "released", None),
        ("0x" + hw["escrows"][1].hex(), "refunded", "fault proven"),
    ]
    assert all(e["role"] == "payee" and e["amount"] == JOB_PRICE for e in es)
    pays = h["payments"]
    other = A(vw.mw.w.other)
    assert [(p["scheme"], p["role"], p["payer"], p["payee"], p["amount"], p["max_amount"]) for p in pays] == [
        ("exact", "payee", vw.payer.address, seller, EXACT_PRICE, None),
        ("upto", "payee", vw.payer.address, seller, UPTO_CHARGE, UPTO_MAX),
        ("exact", "payer", seller, other, AGENT_PAYS, None),
    ]
    assert [p["tx"] for p in pays] == [t.lower() for t in hw["paid"]]
    assert pays[1]["fee"] == 0 and all(len(p["nonce"]) == 66 for p in pays)
    (slash,) = h["slashes"]
    assert slash["kind"] == "task-fault" and slash["ref"] == tasks[1]["task"]
    assert slash["operator"] == A(vw.mw.ops[0])
    assert h["receipts"] == [] and "inference_disputes" not in h["read"]
    # from a later block: only what came after
    late = agent_history(hw["d"], agent_id, from_block=tasks[1]["block"])
    assert [t["task"] for t in late["tasks"]] == [tasks[1]["task"]]


def test_history_says_whether_the_wallet_is_an_enclave_of_the_declared_image(hw):
    """The agent declares an image (metadata agentImage, agentApp); its wallet becomes the key of an
    enclave the compute set enrolled for it: the history shows both and that they agree; declared
    for another image, they do not; revoked, the enrolment says so."""
    vw, agent_id, d = hw["vw"], hw["agent_id"], hw["d"]
    cw, seller = vw.mw.cw, vw.seller
    assert agent_history(d, agent_id)["identity"]["enclave"] is None  # nothing declared, not enrolled
    project_ident = hw["ident"]
    project_ident.setMetadata(agent_id, "agentImage", cw.image, sender=seller)
    project_ident.setMetadata(agent_id, "agentApp", cw.app_id, sender=seller)
    enc = agent_history(d, agent_id)["identity"]["enclave"]
    assert enc["declared"] == {"image": "sha256:" + cw.image.hex(), "app": "0x" + cw.app_id.hex()}
    assert enc["enrolled"] is None and enc["wallet_runs_declared_image"] is False
    tee = DevTEE(
        cw.ca, cw.image, enclave_key=keys.PrivateKey(bytes(Account.from_key(seller.private_key).key))
    )
    cw.enrol(tee, op_index=2)
    h = agent_history(d, agent_id)
    enc = h["identity"]["enclave"]
    assert enc["wallet_runs_declared_image"] is True and enc["enrolled"]["operator"] == A(cw.ops[2])
    assert [e["event"] for e in enc["enrolled"]["events"]] == ["enrolled"] and not enc["enrolled"]["revoked"]
    assert "its wallet is the enclave key of sha256:" in render(h) and "the declared image" in render(h)
    project_ident.setMetadata(agent_id, "agentImage", keccak(b"another image"), sender=seller)
    h = agent_history(d, agent_id)
    assert h["identity"]["enclave"]["wallet_runs_declared_image"] is False
    assert "NOT the declared image" in render(h)
    project_ident.setMetadata(agent_id, "agentImage", cw.image, sender=seller)
    cw.avs.revokeEnclaveKey(tee.address, sender=cw.app_owner)
    enc = agent_history(d, agent_id)["identity"]["enclave"]
    assert enc["enrolled"]["revoked"] and [e["event"] for e in enc["enrolled"]["events"]] == [
        "enrolled",
        "revoked",
    ]


def test_history_command_prints_tables_and_json(hw, capsys):
    args = ["agent", "history", str(hw["agent_id"]), "--deployment", str(hw["record"])]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads(json.dumps(agent_history(hw["d"], hw["agent_id"])))
    assert main(args) == 0
    table = capsys.readouterr().out
    assert table == render(agent_history(hw["d"], hw["agent_id"])) + "\n"
    for line in (
        "feedback: 2 live",
        "validations (2)",
        "tasks (2)",
        "escrows (2)",
        "slashes (1)",
        "payments (3)",
        "fault-proven",
    ):
        assert line in table
    # an unknown agent, a bad id: one line, exit 2
    assert main(["agent", "history", "99", "--deployment", str(hw["record"])]) == 2
    assert "no agent 99" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["agent", "history", "x", "--deployment", str(hw["record"])])
    assert bad.value.code == 2 and "not an integer" in capsys.readouterr().err
    with pytest.raises(AgentNotFoundError):
        agent_history(hw["d"], -1)
