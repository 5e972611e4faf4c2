"""TaskValidator over InferenceDisputes (contracts/agent/TaskValidator.vy): a receipt's validation
request answered 100 once the receipt is final (unchallenged past its window, or upheld), 0 when
the inference set proved it wrong (`inference-fault-pending` while the slash can be cancelled,
`inference-faulty` once final, 100 `inference-overturned` once cancelled) or a challenge expired
unresolved, 0 for another agent's receipt;
no answer while the receipt can still be challenged or is under challenge; the agent's history
(offchain/agent/history.py) shows the receipts, the slash and the answers. (A module of its own:
the dispute world's operators cannot share a chain with the mailbox world's.)"""

from __future__ import annotations

import json

import pytest

from offchain.agent.history import agent_history
from offchain.chain.agent import VALIDATION_KIND_INFERENCE
from offchain.chain.sdk import Deployment
from tests.contracts.support import BOND, CHALLENGE_WINDOW, ESCROW_BLOCKS, RESOLUTION_WINDOW, reverts, tamper
from tests.contracts.test_agent_validator import SALT, ZERO32, Registries


@pytest.fixture
def iw(project, chain, dworld):
    r = Registries(project, chain, dworld.w.owner, disputes=dworld.c)
    r.d = dworld
    r.agent_id = r.agent(dworld.client)  # the agent whose decision the receipt answered
    return r


def history(iw, tmp_path) -> dict:
    """The agent's history (offchain/agent/history.py) from a record of the dispute world's contracts."""
    d = iw.d
    record = tmp_path / "record.json"
    addresses = {
        "allocation_manager": d.w.am.address,
        "identity_registry": iw.ident.address,
        "validation_registry": iw.val.address,
        "inference_disputes": d.c.address,
    }
    rpc = d.chain.provider.web3.provider.endpoint_uri
    record.write_text(json.dumps({"chain_id": d.chain.chain_id, "rpc_url": rpc, **addresses}))
    return agent_history(Deployment.load(record), iw.agent_id)


def test_final_receipt_answers_100(iw):
    d = iw.d
    rec = iw.d.answer()
    d.register(rec)
    digest = rec.digest()
    rh = iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, digest)
    reverts("no verdict yet", iw.v.respondInference, iw.agent_id, digest, SALT, sender=d.watcher)
    d.warp(CHALLENGE_WINDOW + 1)
    iw.v.respondInference(iw.agent_id, digest, SALT, sender=d.watcher)
    assert iw.status(rh) == (100, bytes(d.c.claims(digest).output), "inference-final")
    # upheld after a challenge: final too
    rec2 = d.answer(seed=2)
    d.register(rec2)
    d.challenge(rec2)
    rh2 = iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, rec2.digest())
    reverts("no verdict yet", iw.v.respondInference, iw.agent_id, rec2.digest(), SALT, sender=d.watcher)
    d.resolve(rec2)
    iw.v.respondInference(iw.agent_id, rec2.digest(), SALT, sender=d.watcher)
    assert iw.status(rh2)[0] == 100


def test_wrong_or_unresolved_receipt_answers_0(iw, tmp_path):
    d = iw.d
    bad = tamper(d.answer(), d.keys[0])
    d.register(bad)
    d.challenge(bad)
    rh = iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, bad.digest())
    d.resolve(bad)
    # 0 at once, pending while the set's resolver may still cancel the slash, final after it
    iw.v.respondInference(iw.agent_id, bad.digest(), SALT, sender=d.watcher)
    assert iw.status(rh)[0] == 0 and iw.status(rh)[2] == "inference-fault-pending"
    d.chain.mine(ESCROW_BLOCKS + 1)
    iw.v.respondInference(iw.agent_id, bad.digest(), SALT, sender=d.watcher)
    assert iw.status(rh)[0] == 0 and iw.status(rh)[2] == "inference-faulty"
    rec = d.answer(seed=3)
    d.register(rec)
    d.challenge(rec)
    d.warp(RESOLUTION_WINDOW + 1)
    d.c.expireChallenge(rec.digest(), sender=d.client)
    rh2 = iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, rec.digest())
    iw.v.respondInference(iw.agent_id, rec.digest(), SALT, sender=d.watcher)
    assert iw.status(rh2)[0] == 0 and iw.status(rh2)[2] == "inference-unresolved"
    # someone else's receipt: 0; an unknown one: no answer
    stranger = iw.agent(d.watcher)
    rh3 = iw.request(d.watcher, stranger, VALIDATION_KIND_INFERENCE, rec.digest())
    iw.v.respondInference(stranger, rec.digest(), SALT, sender=d.watcher)
    assert iw.status(rh3)[2] == "not-agent-receipt"
    ghost = b"\x66" * 32
    iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, ghost)
    reverts("unknown receipt", iw.v.respondInference, iw.agent_id, ghost, SALT, sender=d.watcher)
    reverts("no mailbox", iw.v.respondTask, iw.agent_id, ghost, ZERO32, SALT, [], sender=d.watcher)
    # the agent's history shows both receipts, their dispute status, the slash and the answers
    h = history(iw, tmp_path)
    assert [(r["receipt"], r["role"], r["status"]) for r in h["receipts"]] == [
        ("0x" + bad.digest().hex(), "client", "faulty"),
        ("0x" + rec.digest().hex(), "client", "expired"),
    ]
    (slash,) = h["slashes"]
    assert (slash["kind"], slash["ref"], slash["operator"]) == (
        "inference-fault",
        "0x" + bad.digest().hex(),
        d.ops[0].address,
    )
    assert [v["tag"] for v in h["validations"]] == ["inference-faulty", "inference-unresolved", None]
    assert h["tasks"] == [] and h["escrows"] == [] and "task_mailbox" not in h["read"]


def test_a_lying_majoritys_verdict_overturned_by_the_resolver(iw, tmp_path):
    """Operators 1 and 2 (a stake majority without the accused) sign a false "correct output" for operator
    0's honest receipt, and it is slashed; the set's resolver cancels the slash within the escrow window.
    Nobody profits: the client's compensation is refused, the operator's stake is back, the
    challenger's bond is forfeited to the operator it accused; and the validation answer, 0 while the verdict
    stood, turns to 100 `inference-overturned`, as the agent's history shows the receipt overturned."""
    d, w = iw.d, iw.d.w
    rec = d.answer(seed=21)
    d.register(rec)
    digest = rec.digest()
    opset = (d.c.address, d.c.operatorSetId())
    strat = w.strats["TKA"]
    stake = lambda: (w.am.getMaxMagnitude(d.ops[0], strat), w.dm.operatorShares(d.ops[0], strat))  # noqa: E731
    before = stake()
    credit0 = d.c.credits(d.watcher)
    d.challenge(rec)
    tx = d.resolve(rec, signers=(1, 2), correct=b"\x55" * 32)  # the lie
    (ev,) = [e for e in tx.events if e.event_name == "ReceiptProvenWrong"]
    assert ev.slashId != 0 and stake()[0] < before[0] and stake()[1] < before[1]
    rh = iw.request(d.client, iw.agent_id, VALIDATION_KIND_INFERENCE, digest)
    iw.v.respondInference(iw.agent_id, digest, SALT, sender=d.watcher)
    assert iw.status(rh)[0] == 0 and iw.status(rh)[2] == "inference-fault-pending"
    w.esc.cancelSlash(d.c, opset[1], ev.slashId, sender=w.resolver)
    assert stake() == before  # its stake back in full (as unallocated magnitude: docs/restaking.md)
    reverts("slash cancelled", d.c.claimCompensation, digest, sender=d.client)
    # the challenger accused falsely: its bond goes to the operator, as for a confirmed receipt
    op_credit0 = d.c.credits(d.ops[0])
    d.c.settleBond(digest, sender=d.client)
    assert d.c.credits(d.watcher) == credit0 and d.c.credits(d.ops[0]) == op_credit0 + BOND
    iw.v.respondInference(iw.agent_id, digest, SALT, sender=d.watcher)
    assert iw.status(rh) == (100, bytes(d.c.claims(digest).output), "inference-overturned")
    h = history(iw, tmp_path)
    assert [(r["receipt"], r["status"]) for r in h["receipts"]] == [("0x" + digest.hex(), "overturned")]
    assert [(s["slash_id"], s["cancelled"], s["compensated"]) for s in h["slashes"]] == [
        (ev.slashId, True, 0)
    ]
