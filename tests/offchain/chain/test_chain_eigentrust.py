"""EigenTrust as a compute-network task on anvil: the kernel's image registered for the app, a graph
posted as a task, three executors run it in the sandbox and certify the score root, the root is
published to EigenTrustScores and each peer's score read there with its proof; an executor that
signs a tampered score vector is found out by re-execution (not by vote) and slashed."""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from offchain.abi import WAD
from offchain.chain import sdk
from offchain.chain.deploy import deploy_core, deploy_eigentrust_scores
from offchain.chain.eigentrust import EigenTrustVerifier, ScoreRegistry
from offchain.chain.errors import ChainRevertError, DeployConfigError
from offchain.chain.task_mailbox import CERT_ECDSA, BlsSigner, EcdsaSigner, OperatorSigner, Web3TaskMailbox
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.eigentrust import EigenTrustResult, TrustGraph, build_eigentrust_image, compute, run
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.taskrun import Aggregator, Executor, ImageStore, Response
from tests.contracts.support import TEST_CONFIG, World, reverts
from tests.contracts.test_task_mailbox import (
    FAULT_WAD,
    FEE,
    TIMEOUT,
    MailboxWorld,
    released_to_app,
    tka_stake,
)
from tests.offchain.compute.support import eigen, reachable_dir
from tests.offchain.compute.test_compute_sandbox import TEST_UID, needs_bwrap

PEERS = [bytes([0x10 * k]) * 20 for k in range(1, 6)]


def graph(epoch: int) -> TrustGraph:
    a, b, c, d, e = PEERS
    edges = [(a, b, 3), (a, c, 1), (b, c, 2), (c, a, 1), (c, d, 1), (d, b, 5), (e, a, 1)]
    return TrustGraph.from_edges(edges, {a: 2, b: 1}, epoch=epoch, alpha=WAD // 5, max_iterations=200)


@contextmanager
def image_world(project, chain, accounts, networks, build, label: bytes):
    """MailboxWorld (executors with stake 25, 15, 10; threshold 66.67%) with the image `build(out)`
    builds registered for the app (the dev TEE's policy) and an ECDSA task type running it
    (``image_type``), the executors' image store, a web3 Deployment and a funded aggregator key."""
    mw = MailboxWorld(
        World(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG)),
        project,
        chain,
        accounts,
    )
    with reachable_dir() as work:
        store = work / "images"
        store.mkdir()
        built = build(work / "image.tar")
        (work / "image.tar").rename(store / built.digest[7:])
        raw = bytes.fromhex(built.digest[7:])
        cw = mw.cw
        cw.avs.registerImage(
            cw.app_id,
            raw,
            label.decode(),
            dev_policy(cw.ca, raw).hash(),
            chain.pending_timestamp + 10**8,
            sender=cw.app_owner,
        )
        mw.image_type = mw.mailbox.registerTaskType(
            mw.set_id, raw, mw.token, FEE, TIMEOUT, CERT_ECDSA, 6667, sender=mw.app
        ).return_value
        mw.work, mw.store, mw.image = work, store, raw
        mw.d = sdk.Deployment(
            chain_id=chain.chain_id,
            rpc_url=networks.provider.uri,
            addresses={"task_mailbox": mw.mailbox.address, "allocation_manager": mw.w.am.address},
        )
        mw.agg_key = Account.from_key(keccak(label + b" aggregator"))
        accounts[0].transfer(mw.agg_key.address, 10**18)
        yield mw


@pytest.fixture(scope="module")
def et(project, chain, accounts, networks):
    """image_world of the EigenTrust image, the score registry whose source is the task creator,
    and a funded verifier key."""
    with image_world(project, chain, accounts, networks, build_eigentrust_image, b"eigentrust") as mw:
        mw.et_type = mw.image_type
        mw.scores = deploy_eigentrust_scores(
            project, accounts[0], mw.mailbox.address, mw.set_id, mw.image, mw.creator.address
        )
        mw.d.addresses["eigentrust_scores"] = mw.scores.address
        mw.verifier_key = Account.from_key(keccak(b"eigentrust verifier"))
        accounts[0].transfer(mw.verifier_key.address, 10**18)
        yield mw


def executors(et, tmp_path, sink, run_by=None, enclave_by=None):
    view = Web3TaskMailbox(et.d)
    head = view.head()
    return [
        Executor(
            mailbox=view,
            signer=OperatorSigner(
                EcdsaSigner(et.ops[i].address, et.keys[i]), BlsSigner(et.ops[i].address, et.sks[i])
            ),
            images=ImageStore(et.store),
            operator_set_id=et.set_id,
            enclave=(enclave_by or {}).get(i, dev_enclave(et.cw.ca)),
            sink=sink,
            state=tmp_path / f"executor{i}.json",
            start_block=head + 1,
            workdir=et.work,
            uid=TEST_UID,
            run=(run_by or {}).get(i, execute_task),
        )
        for i in (0, 1, 2)
    ]


def root_tampering(label: bytes):
    """An executor's run that executes the image honestly, then signs a result whose score root is
    replaced (well formed, wrong)."""

    def tamper(*a, **k):
        out = execute_task(*a, **k)
        r = bytearray(out.output)
        r[64:96] = keccak(label)
        return dataclasses.replace(out, output=bytes(r))

    return tamper


def post(et, g: TrustGraph, sender=None) -> bytes:
    h, _ = et.create(et.params(task_type=et.et_type, payload=g.encode()), sender=sender)
    return bytes(h)


@needs_bwrap
def test_scores_certified_published_and_read_with_proofs(et, tmp_path):
    g = graph(epoch=1)
    agg = Aggregator(Web3TaskMailbox(et.d, account=et.agg_key), tmp_path / "evidence")
    exs = executors(et, tmp_path, agg.add)
    h = post(et, g)
    outs = [ex.poll() for ex in exs]
    assert all(o[0].result == run(g.encode()) for o in outs)
    cert = agg.done[h]
    assert cert.result == run(g.encode()) and tuple(et.mailbox.getTaskResult(h))[0] == keccak(cert.result)

    # anyone re-executes from the chain alone and agrees
    audit = EigenTrustVerifier(Web3TaskMailbox(et.d)).audit(h)
    assert audit.certified_ok and audit.input_error is None and audit.responses == []

    reg = ScoreRegistry(et.d, account=et.verifier_key)
    tx = reg.publish(h, cert.result)
    (ev,) = et.scores.ScoresPublished.from_receipt(et.chain.get_receipt("0x" + bytes(tx).hex()))
    s = compute(g)
    assert (ev.epoch, ev.taskHash, ev.root, ev.peers, ev.iterations) == (1, h, s.root, 5, s.iterations)
    assert reg.epoch(1)["root"] == "0x" + s.root.hex() and et.scores.latestEpoch() == 1
    for peer in g.peers:
        assert reg.score_of(s, peer) == s.of(peer)
    assert sum(s.scores) <= WAD and s.of(PEERS[4]) < s.of(PEERS[0])  # e: trusted by nobody
    index, score, proof = s.proof(PEERS[1])
    words = [proof[k : k + 32] for k in range(0, len(proof), 32)]
    peer = "0x" + PEERS[1].hex()
    assert et.scores.verifyScore(1, peer, score, index, words)
    assert not et.scores.verifyScore(1, peer, score + 1, index, words)
    reverts("invalid score proof", et.scores.scoreOf, 1, peer, score + 1, index, words, sender=et.w.other)
    reverts("wrong proof length", et.scores.scoreOf, 1, peer, score, index, words[:-1], sender=et.w.other)
    reverts("index past the peers", et.scores.scoreOf, 1, peer, score, 5, words, sender=et.w.other)
    reverts("unknown epoch", et.scores.scoreOf, 2, peer, score, index, words, sender=et.w.other)
    with pytest.raises(ChainRevertError, match="epoch published"):
        reg.publish(h, cert.result)


@needs_bwrap
def test_publish_refusals(et, tmp_path):
    reg = ScoreRegistry(et.d, account=et.verifier_key)
    g = graph(epoch=5)
    agg = Aggregator(Web3TaskMailbox(et.d, account=et.agg_key), tmp_path / "evidence")
    exs = executors(et, tmp_path, agg.add)
    h = post(et, g)
    with pytest.raises(ChainRevertError, match="task not verified"):
        reg.publish(h, run(g.encode()))
    for ex in exs:
        ex.poll()
    good = run(g.encode())
    r = EigenTrustResult.decode(good)
    other_root = bytes(32 - 1) + b"\x01"
    reverts(
        "result mismatch", et.scores.publish, h, r.epoch, other_root, r.peers, r.iterations, sender=et.w.other
    )
    reverts(
        "result mismatch", et.scores.publish, h, r.epoch + 1, r.root, r.peers, r.iterations, sender=et.w.other
    )
    # a graph posted by someone else than the source is certified all the same, but is no epoch's
    stranger = et.w.staker2
    et.fund(stranger, 10 * FEE)
    h2 = post(et, graph(epoch=6), sender=stranger)
    for ex in exs:
        ex.poll()
    assert et.mailbox.getTaskStatus(h2) == 2
    with pytest.raises(ChainRevertError, match="not the source's task"):
        reg.publish(h2, run(graph(epoch=6).encode()))
    # a verified task of another type (the app's other image) from the source
    h3, _ = et.create(et.params(payload=b"2+2"))
    et.submit(h3, et.ecdsa(h3, b"4"))
    reverts("not an eigentrust task", et.scores.publish, h3, 0, bytes(32), 0, 0, sender=et.w.other)
    reg.publish(h, good)
    assert et.scores.latestEpoch() == 5


@needs_bwrap
def test_a_tampered_score_vector_is_proven_wrong_by_re_execution_and_slashed(et, tmp_path, capsys):
    """Executor 2 runs the image but signs a result with its own peer's leaf in the root changed; the
    aggregator only keeps it as evidence (prove_faults off); the verifier recomputes the task from
    its on-chain input, finds the response wrong and proves it: operator 2 alone is slashed and the
    slash is released to the app."""

    tamper = root_tampering(b"a better score for me")
    w = et.w
    tka, shares, alloc = tka_stake(et, 2)
    agg = Aggregator(Web3TaskMailbox(et.d, account=et.agg_key), tmp_path / "evidence", prove_faults=False)
    exs = executors(et, tmp_path, agg.add, run_by={2: tamper})
    g = graph(epoch=9)
    h = post(et, g)
    liar = exs[2].poll()[0]
    exs[0].poll()
    exs[1].poll()
    assert agg.done[h].result == run(g.encode()) != liar.result
    ev = json.loads((tmp_path / "evidence" / f"0x{h.hex()}.json").read_text())
    responses = [Response.from_json(r) for r in ev["responses"]]
    assert [r.operator for r in responses] == [et.ops[2].address] and "fault_proof" not in ev["responses"][0]
    # a forged response (a share by nobody) proves nothing
    forged = dataclasses.replace(responses[0], result=responses[0].result[:-1] + b"\x07")

    audit = EigenTrustVerifier(Web3TaskMailbox(et.d, account=et.verifier_key)).audit(h, [*responses, forged])
    assert audit.certified_ok
    (wrong, fake) = audit.responses
    assert wrong["verdict"] == "wrong" and fake["verdict"] == "forged"
    (fault,) = et.slasher.TaskFaultProven.from_receipt(et.chain.get_receipt(wrong["fault_proof"]["tx"]))
    assert (fault.taskHash, fault.operator, fault.kind) == (h, et.ops[2].address, 3)
    assert [et.slasher.faultSlashed(h, op) for op in et.ops] == [False, False, True]
    slashed = alloc * FAULT_WAD // WAD
    assert w.dm.operatorShares(et.ops[2], tka) == shares - slashed
    released_to_app(et, fault.slashId, slashed)
    # proving again is refused by the slasher, and recorded as such
    again = EigenTrustVerifier(Web3TaskMailbox(et.d, account=et.verifier_key)).audit(h, responses)
    assert "fault already proven" in again.responses[0]["fault_proof"]["error"]

    # the same from the command line: `eigen compute eigentrust audit` (judging only, without --key)
    rec = tmp_path / "deployment.json"
    rec.write_text(
        json.dumps({"chain_id": et.d.chain_id, "rpc_url": et.d.rpc_url, "addresses": et.d.addresses})
    )
    base = ("compute", "eigentrust", "audit", "--deployment", str(rec), "0x" + h.hex())
    evidence = str(tmp_path / "evidence" / f"0x{h.hex()}.json")
    rc, out, _ = eigen(capsys, *base, "--evidence", evidence)
    doc = json.loads(out)
    assert rc == 0 and doc["certified_ok"] and doc["expected"] == "0x" + run(g.encode()).hex()
    assert [(r["verdict"], "fault_proof" in r) for r in doc["responses"]] == [("wrong", False)]
    (tmp_path / "junk.json").write_text('{"responses": 3}')
    rc, out, err = eigen(capsys, *base, "--evidence", str(tmp_path / "junk.json"))
    assert (rc, out) == (2, "") and "not an aggregator's evidence file" in err
    rc, _, err = eigen(capsys, *base[:-1], "0x1234")
    assert rc == 2 and "task hash" in err


def test_deploy_refusals(project, accounts):
    z = "0x" + "00" * 20
    a = accounts[1].address
    with pytest.raises(DeployConfigError, match="mailbox"):
        deploy_eigentrust_scores(project, accounts[0], z, 1, b"\x01" * 32, a)
    with pytest.raises(DeployConfigError, match="source"):
        deploy_eigentrust_scores(project, accounts[0], a, 1, b"\x01" * 32, z)
    with pytest.raises(DeployConfigError, match="image digest"):
        deploy_eigentrust_scores(project, accounts[0], a, 1, bytes(32), a)
    with pytest.raises(DeployConfigError, match="uint32"):
        deploy_eigentrust_scores(project, accounts[0], a, 2**32, b"\x01" * 32, a)


@needs_bwrap
def test_a_malformed_graph_gets_no_result_and_a_certified_one_is_judged_wrong(et, tmp_path, capsys):
    """Honest executors refuse a payload that is no graph's encoding (the kernel exits 2: nothing is
    signed, the task would expire and refund). Should a majority certify a result for it anyway, the
    verifier finds that no result is right; likewise for a wrong result on a good graph."""
    agg = Aggregator(Web3TaskMailbox(et.d, account=et.agg_key), tmp_path / "evidence")
    exs = executors(et, tmp_path, agg.add)
    bad = graph(epoch=20).encode() + b"\x00"
    h, _ = et.create(et.params(task_type=et.et_type, payload=bad))
    h = bytes(h)
    assert [ex.poll() for ex in exs] == [[], [], []]
    assert all(ex.failures[-1].kind == "SandboxCrashed" and ex.failures[-1].task_hash == h for ex in exs)
    assert h not in agg.done and et.mailbox.getTaskStatus(h) == 1

    lie = bytes(160)
    et.submit(h, et.ecdsa(h, lie), result=lie)  # operators 0 and 1 (80% of the stake) certify it
    verifier = EigenTrustVerifier(Web3TaskMailbox(et.d))
    audit = verifier.audit(h)
    assert not audit.certified_ok and audit.expected is None
    assert audit.input_error.startswith("TrustGraphEncodingError")

    g = graph(epoch=21)
    h2, _ = et.create(et.params(task_type=et.et_type, payload=g.encode()))
    h2 = bytes(h2)
    wrong = bytearray(run(g.encode()))
    wrong[-1] ^= 1  # one more iteration than it ran
    et.submit(h2, et.ecdsa(h2, bytes(wrong)), result=bytes(wrong))
    audit = verifier.audit(h2)
    assert not audit.certified_ok and audit.expected == run(g.encode()) and audit.input_error is None
    rec = tmp_path / "deployment.json"
    rec.write_text(
        json.dumps({"chain_id": et.d.chain_id, "rpc_url": et.d.rpc_url, "addresses": et.d.addresses})
    )
    rc, out, _ = eigen(capsys, "compute", "eigentrust", "audit", "--deployment", str(rec), "0x" + h2.hex())
    assert rc == 1 and json.loads(out)["certified_ok"] is False


@needs_bwrap
def test_a_lying_majority_is_proven_wrong_by_the_minoritys_enclave_receipt(et, tmp_path):
    """Operators 0 and 1 (40 of 50) certify a tampered root; operator 2 answers right, its enclave
    key enrolled in ComputeAVS for the app and the image. The verifier recomputes, judges the
    certified result wrong, and proves it with operator 2's receipt (proveReceiptFault): both
    certifiers are slashed."""

    tamper = root_tampering(b"a root the majority agreed on")
    cw = et.cw
    tee = DevTEE(cw.ca, et.image)
    cw.enrol(tee, op_index=2, st=cw.statement(tee, 2, image=et.image, policy=dev_policy(cw.ca, et.image)))
    agg = Aggregator(Web3TaskMailbox(et.d, account=et.agg_key), tmp_path / "evidence", prove_faults=False)
    exs = executors(et, tmp_path, agg.add, run_by={0: tamper, 1: tamper}, enclave_by={2: lambda digest: tee})
    g = graph(epoch=30)
    h = post(et, g)
    honest = exs[2].poll()[0]
    exs[0].poll()
    exs[1].poll()
    assert agg.done[h].result != run(g.encode()) == honest.result
    assert bytes.fromhex(honest.receipt["receipt"]["appId"][2:]) == cw.app_id  # the executor names the app
    responses = [
        Response.from_json(r)
        for r in json.loads((tmp_path / "evidence" / f"0x{h.hex()}.json").read_text())["responses"]
    ]
    audit = EigenTrustVerifier(Web3TaskMailbox(et.d, account=et.verifier_key)).audit(h, responses)
    assert not audit.certified_ok
    (entry,) = audit.responses
    assert entry["verdict"] == "correct" and "tx" in entry["receipt_fault_proof"], entry
    proven = et.slasher.TaskFaultProven.from_receipt(et.chain.get_receipt(entry["receipt_fault_proof"]["tx"]))
    assert sorted((e.operator, e.kind) for e in proven) == sorted((op.address, 2) for op in et.ops[:2])
    assert [et.slasher.faultSlashed(h, op) for op in et.ops] == [True, True, False]
