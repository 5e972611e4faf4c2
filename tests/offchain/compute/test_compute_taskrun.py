"""Executors and the aggregator on anvil: a task created on chain is run by three executors in the
sandbox, their ECDSA shares certified by stake and the result submitted; a lying executor is outvoted
and its response kept as evidence; a missing one does not stop the rest; a wrong image never runs."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from offchain.abi import WAD
from offchain.bls.keys import SecretKey
from offchain.chain import sdk
from offchain.chain.deploy import deploy_core
from offchain.chain.errors import ChainRevertError
from offchain.chain.task_mailbox import (
    CERT_BLS,
    CERT_ECDSA,
    BlsSigner,
    EcdsaSigner,
    OperatorSigner,
    Web3TaskMailbox,
)
from offchain.compute.devtee import dev_policy
from offchain.compute.errors import TaskRunError
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.imagebuild import build_image
from offchain.compute.taskrun import Aggregator, Executor, ImageStore, Response, Share, Task
from tests.contracts.support import TEST_CONFIG, World
from tests.contracts.test_task_mailbox import (
    FAULT_WAD,
    FEE,
    STAKE,
    TIMEOUT,
    MailboxWorld,
    released_to_app,
    tka_stake,
)
from tests.offchain.compute.support import eigen, reachable_dir, script_app
from tests.offchain.compute.test_compute_sandbox import _NO_SANDBOX, TEST_UID

needs_bwrap = pytest.mark.skipif(_NO_SANDBOX is not None, reason=str(_NO_SANDBOX))
SCRIPT = 'read x; echo "sum of $x"\n'


@pytest.fixture(scope="module")
def images():
    """An image directory holding the task image (named by its digest) and a decoy."""
    with reachable_dir() as work:
        store = work / "images"
        store.mkdir()
        good = build_image(script_app(work, SCRIPT), work / "good.tar")
        other = build_image(script_app(work, "echo other\n", name="src2"), work / "other.tar")
        (work / "good.tar").rename(store / good.digest[7:])
        yield work, store, good.digest, other.digest, work / "other.tar"


@pytest.fixture(scope="module")
def tw(project, chain, accounts, networks, images):
    """MailboxWorld (three executors with stake 25, 15, 10 in set 1, threshold 66.67%) and an ECDSA
    task type running the built image; a web3 view of the mailbox; a funded aggregator key."""
    mw = MailboxWorld(
        World(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG)),
        project,
        chain,
        accounts,
    )
    _, _, digest, other, _ = images
    cw = mw.cw
    for d in (digest, other):
        raw = bytes.fromhex(d[7:])
        cw.avs.registerImage(
            cw.app_id,
            raw,
            d[7:15],
            dev_policy(cw.ca, raw).hash(),
            chain.pending_timestamp + 10**8,
            sender=cw.app_owner,
        )
    raw = bytes.fromhex(digest[7:])
    mw.image_type = mw.mailbox.registerTaskType(
        mw.set_id, raw, mw.token, FEE, TIMEOUT, CERT_ECDSA, 6667, sender=mw.app
    ).return_value
    mw.other_type = mw.mailbox.registerTaskType(
        mw.set_id, bytes.fromhex(other[7:]), mw.token, FEE, TIMEOUT, CERT_ECDSA, 6667, sender=mw.app
    ).return_value
    mw.bls_image_type = mw.mailbox.registerTaskType(
        mw.set_id, raw, mw.token, FEE, TIMEOUT, CERT_BLS, 6667, sender=mw.app
    ).return_value
    mw.d = sdk.Deployment(
        chain_id=chain.chain_id,
        rpc_url=networks.provider.uri,
        addresses={"task_mailbox": mw.mailbox.address, "allocation_manager": mw.w.am.address},
    )
    mw.agg_key = Account.from_key(keccak(b"aggregator"))
    accounts[0].transfer(mw.agg_key.address, 10**18)
    return mw


def executors(tw, tmp_path, images, which=(0, 1, 2), sink=None, run=None):
    work, store, *_ = images
    view = Web3TaskMailbox(tw.d)
    head = view.head()
    return [
        Executor(
            mailbox=view,
            signer=signer(tw, i),
            images=ImageStore(store),
            operator_set_id=tw.set_id,
            enclave=dev_enclave(tw.cw.ca),
            sink=sink or (lambda r: None),
            state=tmp_path / f"executor{i}.json",
            start_block=head + 1,
            workdir=work,
            uid=TEST_UID,
            run=(run or {}).get(i, execute_task),
        )
        for i in which
    ]


def signer(tw, i):
    """Operator i's two keys as registered: ECDSA shares for ECDSA types, BLS for BLS types."""
    return OperatorSigner(EcdsaSigner(tw.ops[i].address, tw.keys[i]), BlsSigner(tw.ops[i].address, tw.sks[i]))


def aggregator(tw, tmp_path):
    return Aggregator(Web3TaskMailbox(tw.d, account=tw.agg_key), tmp_path / "evidence")


def create(tw, payload=b"2+2\n", task_type=None):
    p = tw.params(task_type=task_type or tw.image_type, payload=payload)
    h, _ = tw.create(p)
    return bytes(h)


def owed(tw):
    return [tw.mailbox.feesOwed(op, tw.token) for op in tw.ops]


@needs_bwrap
def test_three_executors_certify_and_fees_are_paid(tw, tmp_path, images):
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, sink=agg.add)
    h = create(tw)
    before = owed(tw)
    out = [ex.poll() for ex in exs]
    assert [len(o) for o in out] == [1, 1, 1]
    assert all(o[0].result == b"sum of 2+2\n" for o in out)
    cert = agg.done[h]
    assert cert.result == b"sum of 2+2\n" and cert.tx is not None
    assert sorted(cert.signers) == sorted(o.address for o in tw.ops[:2])  # 25 + 15 of 50 >= 66.67%
    assert tuple(tw.mailbox.getTaskResult(h)) == (keccak(b"sum of 2+2\n"), bytes(32))
    assert tw.mailbox.getTaskStatus(h) == 2
    paid = [a - b for a, b in zip(owed(tw), before, strict=True)]
    assert sum(paid) == FEE and paid[2] == 0 and paid[0] > paid[1] > 0
    assert not (tmp_path / "evidence").exists()  # nobody disagreed
    # restart-safe: the cursor moved on; a fresh process on the same state answers nothing again
    assert [ex.poll() for ex in exs] == [[], [], []]
    again = executors(tw, tmp_path, images, sink=agg.add)
    assert [ex.poll() for ex in again] == [[], [], []]


@needs_bwrap
def test_a_lying_executor_is_outvoted_and_its_response_kept(tw, tmp_path, images):
    def tamper(*a, **k):
        return dataclasses.replace(execute_task(*a, **k), output=b"sum of 2+2 is 5\n")

    w = tw.w
    tka, shares, alloc = tka_stake(tw, 2)
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, which=(2, 0, 1), sink=agg.add, run={2: tamper})
    h = create(tw)
    liar = exs[0].poll()[0]  # first in: alone it is below the threshold
    assert h not in agg.done and tw.mailbox.getTaskStatus(h) == 1
    exs[1].poll()
    assert h not in agg.done  # 25 of 50
    exs[2].poll()
    assert agg.done[h].result == b"sum of 2+2\n"
    assert tuple(tw.mailbox.getTaskResult(h))[0] == keccak(b"sum of 2+2\n")
    ev = json.loads((tmp_path / "evidence" / f"0x{h.hex()}.json").read_text())
    assert ev["certified_result"] == "0x" + b"sum of 2+2\n".hex()
    (r,) = ev["responses"]
    assert r["operator"] == tw.ops[2].address and r["result"] == "0x" + liar.result.hex()
    # the liar's receipt binds the honest output: it proves the lie
    assert r["receipt"] == liar.receipt and r["share"]["signature"] == "0x" + liar.share.signature.hex()
    # and its share over the lie is a fault proof: the aggregator submitted it, the liar alone is
    # slashed through the AllocationManager, and the slash is released to the app
    tx = r["fault_proof"]["tx"]
    (ev,) = tw.slasher.TaskFaultProven.from_receipt(tw.chain.get_receipt(tx))
    assert (ev.taskHash, ev.operator, ev.kind) == (h, tw.ops[2].address, 3)
    assert [tw.slasher.faultSlashed(h, op) for op in tw.ops] == [False, False, True]
    slashed = alloc * FAULT_WAD // WAD
    assert w.dm.operatorShares(tw.ops[2], tka) == shares - slashed
    released_to_app(tw, ev.slashId, slashed)


@needs_bwrap
def test_bls_shares_certified_at_the_reference_block(tw, tmp_path, images):
    """A BLS task type: each executor signs with its BLS key as registered; the aggregator reads the
    members' keys and stakes at the task's reference block from the BLSRegistry, aggregates and
    submits a BLS certificate; a lying executor is outvoted by stake and kept as evidence."""

    def tamper(*a, **k):
        return dataclasses.replace(execute_task(*a, **k), output=b"sum of 2+2 is 5\n")

    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, which=(2, 0, 1), sink=agg.add, run={2: tamper})
    h = create(tw, task_type=tw.bls_image_type)
    before = owed(tw)
    liar = exs[0].poll()[0]
    oid = [sk.public_key().operator_id for sk in tw.sks]
    assert liar.share.key == oid[2] and len(liar.share.signature) == 64
    exs[1].poll()
    assert h not in agg.done  # 25 of 50 for the honest result, 10 for the lie
    exs[2].poll()
    cert = agg.done[h]
    assert cert.result == b"sum of 2+2\n" and cert.tx is not None
    assert list(cert.signer_ids) == sorted([oid[0], oid[1]])
    by_id = dict(zip(oid, (o.address for o in tw.ops), strict=True))
    assert cert.signers == [by_id[i] for i in cert.signer_ids]
    assert (cert.signed_stake, cert.total_stake) == (STAKE[0] + STAKE[1], sum(STAKE))
    assert int.from_bytes(cert.certificate[:32], "big") == tw.mailbox.getTaskInfo(h).referenceBlock
    assert tw.mailbox.getTaskStatus(h) == 2
    assert tuple(tw.mailbox.getTaskResult(h))[0] == keccak(b"sum of 2+2\n")
    paid = [a - b for a, b in zip(owed(tw), before, strict=True)]
    assert sum(paid) == FEE and paid[2] == 0 and paid[0] > paid[1] > 0
    ev = json.loads((tmp_path / "evidence" / f"0x{h.hex()}.json").read_text())
    (r,) = ev["responses"]
    assert r["operator"] == tw.ops[2].address and r["share"]["key"] == "0x" + oid[2].hex()
    (fault,) = tw.slasher.TaskFaultProven.from_receipt(tw.chain.get_receipt(r["fault_proof"]["tx"]))
    assert (fault.taskHash, fault.operator) == (h, tw.ops[2].address)
    assert [tw.slasher.faultSlashed(h, op) for op in tw.ops] == [False, False, True]


def test_the_aggregator_refuses_a_forged_or_foreign_bls_share(tw, tmp_path):
    agg = aggregator(tw, tmp_path)
    h = create(tw, task_type=tw.bls_image_type)
    ref = tw.mailbox.getTaskInfo(h).referenceBlock
    view = Web3TaskMailbox(tw.d)
    result = b"sum of 2+2\n"
    task = Task(h, tw.bls_image_type, tw.set_id, ref, 0, b"", 0)
    good = BlsSigner(tw.ops[0].address, tw.sks[0])
    share = good.sign(task, CERT_BLS, view.digest(h, result))

    def resp(op, sh, res=result):
        return Response(h, op, res, sh, {}, "sha256:00")

    with pytest.raises(TaskRunError, match="does not verify"):
        agg.add(resp(tw.ops[0].address, share, b"other"))
    late = Task(h, tw.bls_image_type, tw.set_id, ref + 1, 0, b"", 0)  # signed for another block
    with pytest.raises(TaskRunError, match="does not verify"):
        agg.add(resp(tw.ops[0].address, good.sign(late, CERT_BLS, view.digest(h, result))))
    with pytest.raises(TaskRunError, match="is not .*'s"):
        agg.add(resp(tw.ops[1].address, share))  # another operator's key
    stranger = BlsSigner(tw.ops[0].address, SecretKey(12345))
    with pytest.raises(TaskRunError, match="no BLS member"):
        agg.add(resp(tw.ops[0].address, stranger.sign(task, CERT_BLS, view.digest(h, result))))
    with pytest.raises(TaskRunError, match="64 bytes"):
        agg.add(resp(tw.ops[0].address, Share(share.key, share.signature[:63])))
    with pytest.raises(TaskRunError, match="infinity"):
        agg.add(resp(tw.ops[0].address, Share(share.key, bytes(64))))
    with pytest.raises(TaskRunError):
        agg.add(resp(tw.ops[0].address, Share(share.key, (1).to_bytes(32, "big") * 2)))  # off the curve
    ecdsa = EcdsaSigner(tw.ops[0].address, tw.keys[0])
    with pytest.raises(TaskRunError, match="takes bls certificates, this executor signs ECDSA"):
        ecdsa.sign(task, CERT_BLS, view.digest(h, result))
    with pytest.raises(TaskRunError, match="32 bytes"):
        agg.add(resp(tw.ops[0].address, Share(tw.keys[0].public_key.to_canonical_address(), share.signature)))
    with pytest.raises(TaskRunError, match="signs BLS"):
        good.sign(task, CERT_ECDSA, view.digest(h, result))
    assert agg.add(resp(tw.ops[0].address, share)) is None  # valid, 25 of 50
    assert tw.mailbox.getTaskStatus(h) == 1


@needs_bwrap
def test_an_executor_down_the_rest_certify(tw, tmp_path, images):
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, which=(0, 2), sink=agg.add)
    h = create(tw)
    for ex in exs:
        ex.poll()
    assert sorted(agg.done[h].signers) == sorted([tw.ops[0].address, tw.ops[2].address])  # 35 of 50
    assert tw.mailbox.getTaskStatus(h) == 2


@needs_bwrap
def test_below_threshold_waits_and_nothing_is_submitted(tw, tmp_path, images):
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, which=(1, 2), sink=agg.add)  # 25 of 50
    h = create(tw)
    for ex in exs:
        ex.poll()
    assert h not in agg.done and tw.mailbox.getTaskStatus(h) == 1


def test_an_expired_task_is_skipped_not_run(tw, tmp_path, images, chain):
    ran = []
    (ex,) = executors(tw, tmp_path, images, which=(0,), run={0: lambda *a, **k: ran.append(1)})
    h = create(tw)
    chain.mine(TIMEOUT)  # head == deadline: a result could land at deadline + 1 only
    assert ex.poll() == [] and ran == []
    (f,) = ex.failures
    assert f.task_hash == h and f.kind == "TaskExpired" and "not run" in f.error


@needs_bwrap
def test_executors_down_the_task_expires_and_the_aggregator_refunds(tw, tmp_path, images, chain):
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, which=(1, 2), sink=agg.add)  # 25 of 50: below threshold
    h = create(tw)
    collector = tw.mailbox.getTaskInfo(h).refundCollector
    for ex in exs:
        ex.poll()
    assert h in agg.groups and agg.expire() == []  # not expired yet: kept
    chain.mine(TIMEOUT + 1)
    before = tw.token.balanceOf(collector)
    assert agg.expire() == [h] and h not in agg.groups
    info = tw.mailbox.getTaskInfo(h)
    assert tw.mailbox.getTaskStatus(h) == 3 and info.refunded
    assert tw.token.balanceOf(collector) == before + FEE
    assert agg.expire() == []


@needs_bwrap
def test_an_image_whose_digest_does_not_match_is_refused_before_running(tw, tmp_path, images):
    work, store, _, other, other_file = images
    ran = []

    def counting(*a, **k):
        ran.append(1)
        return execute_task(*a, **k)

    # the file under the other type's digest is the good image: its content does not match
    wrong = store / other[7:]
    os.link(store / images[2][7:], wrong)
    try:
        (ex,) = executors(tw, tmp_path, images, which=(0,), run={0: counting})
        h = create(tw, task_type=tw.other_type)
        assert ex.poll() == []
        (f,) = ex.failures
        assert f.task_hash == h and f.kind == "ImageDigestMismatch"
        assert len(ran) == 1 and not [p for p in os.listdir(work) if p.startswith("eigen-task-")]
    finally:
        wrong.unlink()
    # no image at all: a typed failure too, and the loop goes on
    (ex,) = executors(tw, tmp_path, images, which=(0,), run={0: counting})
    (tmp_path / "empty").mkdir()
    ex.images = ImageStore(tmp_path / "empty")
    ex.state = tmp_path / "again.json"
    create(tw, task_type=tw.other_type)
    assert ex.poll() == [] and ex.failures[0].kind == "TaskRunError" and len(ran) == 1


def test_the_aggregator_refuses_a_forged_or_foreign_share(tw, tmp_path):
    agg = aggregator(tw, tmp_path)
    h = create(tw)
    view = Web3TaskMailbox(tw.d)
    result = b"sum of 2+2\n"
    good = EcdsaSigner(tw.ops[0].address, tw.keys[0])
    task = Task(h, tw.image_type, tw.set_id, 0, 0, b"", 0)
    share = good.sign(task, CERT_ECDSA, view.digest(h, result))

    def resp(op, sh, res=result):
        return Response(h, op, res, sh, {}, "sha256:00")

    with pytest.raises(TaskRunError, match="not by the key it names"):
        agg.add(resp(tw.ops[0].address, share, b"other"))
    with pytest.raises(TaskRunError, match="signing key"):
        agg.add(resp(tw.ops[1].address, share))
    with pytest.raises(TaskRunError, match="65 bytes"):
        agg.add(resp(tw.ops[0].address, Share(share.key, share.signature[:64])))
    stranger = EcdsaSigner(tw.ops[0].address, type(tw.keys[0])(keccak(b"stranger")))
    with pytest.raises(TaskRunError, match="signing key"):
        agg.add(resp(tw.ops[0].address, stranger.sign(task, CERT_ECDSA, view.digest(h, result))))
    assert agg.add(resp(tw.ops[0].address, share)) is None  # valid, 25 of 50
    assert agg.add(resp(tw.ops[0].address, share)) is None  # the same again: nothing new
    other = good.sign(task, CERT_ECDSA, view.digest(h, b"other"))
    with pytest.raises(TaskRunError, match="twice, differently"):
        agg.add(resp(tw.ops[0].address, other, b"other"))
    with pytest.raises(TaskRunError, match="no task"):
        agg.add(Response(b"\x07" * 32, tw.ops[0].address, result, share, {}, "sha256:00"))
    assert tw.mailbox.getTaskStatus(h) == 1


def test_submit_after_the_deadline_is_a_typed_refusal(tw, tmp_path, chain):
    agg = aggregator(tw, tmp_path)
    h = create(tw)
    chain.mine(TIMEOUT + 1)
    view = Web3TaskMailbox(tw.d)
    result = b"r"
    task = Task(h, tw.image_type, tw.set_id, 0, 0, b"", 0)
    for i in (0, 1):
        sh = EcdsaSigner(tw.ops[i].address, tw.keys[i]).sign(task, CERT_ECDSA, view.digest(h, result))
        if i == 0:
            agg.add(Response(h, tw.ops[i].address, result, sh, {}, "sha256:00"))
        else:
            with pytest.raises(ChainRevertError, match="expired"):
                agg.add(Response(h, tw.ops[i].address, result, sh, {}, "sha256:00"))


def test_executor_state_and_image_dir_errors(tmp_path, tw):
    with pytest.raises(TaskRunError, match="not a folder"):
        ImageStore(tmp_path / "missing")
    ex = Executor(
        mailbox=Web3TaskMailbox(tw.d),
        signer=EcdsaSigner(tw.ops[0].address, tw.keys[0]),
        images=ImageStore(tmp_path),
        operator_set_id=tw.set_id,
        enclave=dev_enclave(tw.cw.ca),
        sink=lambda r: None,
        state=tmp_path / "s.json",
    )
    (tmp_path / "s.json").write_text("{")
    with pytest.raises(TaskRunError, match="unreadable"):
        ex.poll()
    (tmp_path / "s.json").write_text('{"next_block": -1}')
    with pytest.raises(TaskRunError, match="next_block"):
        ex.poll()


# ---- eigen compute task submit|status|result ------------------------------------------------------


def task_cli(tw, tmp_path):
    """`eigen compute task --deployment FILE`, FILE a record of the test chain's mailbox."""
    rec = tmp_path / "deployment.json"
    rec.write_text(
        json.dumps({"chain_id": tw.d.chain_id, "rpc_url": tw.d.rpc_url, "addresses": tw.d.addresses})
    )
    return ("compute", "task", "--deployment", str(rec))


def json_objects(text):
    """The JSON objects printed one after another (each may span lines)."""
    dec, out, i = json.JSONDecoder(), [], 0
    while text[i:].strip():
        obj, i = dec.raw_decode(text, i + len(text[i:]) - len(text[i:].lstrip()))
        out.append(obj)
    return out


_eigen = eigen  # (exit status, stdout, stderr) of an in-process `eigen` run


@needs_bwrap
def test_cli_submit_status_result(tw, tmp_path, images, accounts, capsys):
    creator = Account.from_key(keccak(b"cli creator"))
    accounts[0].transfer(creator.address, 10**18)
    tw.token.mint(creator.address, 10 * FEE, sender=accounts[0])
    base = task_cli(tw, tmp_path)
    (tmp_path / "in").write_bytes(b"40+2\n")
    agg = aggregator(tw, tmp_path)
    exs = executors(tw, tmp_path, images, sink=agg.add)  # watching from the next block on
    rc, out, err = _eigen(
        capsys,
        *base,
        "submit",
        "--type",
        str(tw.image_type),
        "--payload",
        str(tmp_path / "in"),
        "--key",
        "0x" + creator.key.hex()[-64:],
    )
    assert rc == 0, err
    h = out.strip()
    assert len(h) == 66 and tw.token.balanceOf(creator.address) == 9 * FEE
    rc, out, _ = _eigen(capsys, *base, "status", h)
    st = json.loads(out)
    assert rc == 0 and st["status"] == "CREATED" and st["input_hash"] == "0x" + keccak(b"40+2\n").hex()
    assert st["refund_collector"] == creator.address
    rc, _, err = _eigen(capsys, *base, "result", h)
    assert rc == 2 and "no result (status CREATED)" in err and len(err.strip().splitlines()) == 1
    for ex in exs:
        ex.poll()
    rc, out, err = _eigen(capsys, *base, "result", h, "-o", str(tmp_path / "out"))
    assert rc == 0, err
    r = json.loads(out)
    assert (
        r["result"] == "0x" + b"sum of 40+2\n".hex() and (tmp_path / "out").read_bytes() == b"sum of 40+2\n"
    )
    assert r["signed_stake"] * 10000 >= 6667 * r["total_stake"] and len(r["signers"]) == 2
    assert json.loads(_eigen(capsys, *base, "status", h)[1])["status"] == "VERIFIED"


def test_cli_refund(tw, tmp_path, capsys, chain, accounts):
    base = task_cli(tw, tmp_path)
    payer = Account.from_key(keccak(b"refund sender"))
    accounts[0].transfer(payer.address, 10**18)
    key = "0x" + payer.key.hex()[-64:]
    since = chain.blocks.head.number + 1
    h1, h2 = create(tw, payload=b"a"), create(tw, payload=b"b")
    collector = tw.mailbox.getTaskInfo(h1).refundCollector
    rc, _, err = _eigen(capsys, *base, "refund", "0x" + h1.hex(), "--key", key)
    assert rc == 2 and "CREATED, not expired" in err and len(err.strip().splitlines()) == 1
    rc, _, err = _eigen(capsys, *base, "refund", "--key", key)
    assert rc == 2 and "--since-block" in err
    chain.mine(TIMEOUT + 1)
    before = tw.token.balanceOf(collector)
    rc, out, err = _eigen(capsys, *base, "refund", "0x" + h1.hex(), "--key", key)
    assert rc == 0, err
    (r,) = json.loads(out)["refunded"]
    assert (r["task_hash"], r["amount"], r["refund_collector"]) == ("0x" + h1.hex(), FEE, collector)
    assert tw.token.balanceOf(collector) == before + FEE
    rc, _, err = _eigen(capsys, *base, "refund", "0x" + h1.hex(), "--key", key)
    assert rc == 2 and "already refunded" in err
    # every expired, unrefunded task since a block: only h2 is left
    rc, out, err = _eigen(capsys, *base, "refund", "--since-block", str(since), "--key", key)
    assert rc == 0, err
    assert [r["task_hash"] for r in json.loads(out)["refunded"]] == ["0x" + h2.hex()]
    assert tw.mailbox.getTaskInfo(h2).refunded


def test_cli_task_bad_input_is_one_line_exit_2(tw, tmp_path, capsys):
    base = task_cli(tw, tmp_path)
    (tmp_path / "big").write_bytes(b"x" * 4097)
    cases = [
        ((*base, "status", "0x1234"), "64 hex digits"),
        ((*base, "status", "nothex"), "must be hex"),
        ((*base, "submit", "--payload", str(tmp_path / "big"), "--key", "x"), "--type"),
        (
            (*base, "submit", "--type", "1", "--payload", str(tmp_path / "big"), "--key", "avs"),
            "larger than 4096",
        ),
        (
            (*base, "submit", "--type", "1", "--payload", str(tmp_path / "none"), "--key", "avs"),
            "cannot read",
        ),
        ((*base, "submit", "--type", "-1", "--payload", str(tmp_path / "big"), "--key", "avs"), "type"),
    ]
    for argv, msg in cases:
        rc, _, err = _eigen(capsys, *argv)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)
    (tmp_path / "in").write_bytes(b"1")
    rc, _, err = _eigen(
        capsys, *base, "submit", "--type", "999", "--payload", str(tmp_path / "in"), "--key", "0x" + "11" * 32
    )
    assert rc == 2 and "no task type 999" in err
    rc, out, _ = _eigen(capsys, *base, "status", "0x" + "07" * 32)
    assert rc == 1 and json.loads(out)["status"] == "NONE"


# ---- the aggregator over HTTP ---------------------------------------------------------------------


@needs_bwrap
def test_executors_post_to_the_aggregator_over_http(tw, tmp_path, images):
    import httpx

    from offchain.compute.taskrun import http_sink
    from offchain.httpservice import ServiceServer

    def tamper(*a, **k):
        return dataclasses.replace(execute_task(*a, **k), output=b"lie\n")

    agg = aggregator(tw, tmp_path)
    with ServiceServer(agg.app(), log_level="warning").start() as srv:
        sink = http_sink(srv.url)
        # the liar answers last, after the certificate: its response is kept all the same
        exs = executors(tw, tmp_path, images, which=(0, 1, 2), sink=sink, run={2: tamper})
        h = create(tw)
        for ex in exs:
            ex.poll()
        assert agg.done[h].result == b"sum of 2+2\n" and tw.mailbox.getTaskStatus(h) == 2
        ev = json.loads((tmp_path / "evidence" / f"0x{h.hex()}.json").read_text())
        assert [r["result"] for r in ev["responses"]] == ["0x" + b"lie\n".hex()]
        url = f"{srv.url}/v1/responses"
        assert httpx.post(url, content=b"{").status_code == 400
        bad = httpx.post(url, json={"task_hash": "0x12"})
        assert bad.status_code == 400 and "share" in bad.json()["error"]["message"]
        forged = Response(
            h, tw.ops[1].address, b"x", Share(b"\x01" * 20, b"\x02" * 64 + b"\x1b"), {}, "sha256:00"
        )
        r = httpx.post(url, json=forged.to_json())
        assert r.status_code == 422, r.text
        with pytest.raises(TaskRunError, match="refused the response \\(422\\)"):
            sink(forged)
        assert httpx.post(url, content=b"x" * (2 << 20)).status_code == 413
    with pytest.raises(TaskRunError, match="does not answer"):
        sink(forged)


def test_response_json_round_trip_and_malformed():
    r = Response(
        b"\x01" * 32, "0x" + "ab" * 20, b"out", Share(b"\x02" * 20, b"\x03" * 65), {"a": 1}, "sha256:ff"
    )
    assert Response.from_json(json.loads(json.dumps(r.to_json()))) == r
    good = r.to_json()
    for bad, msg in [
        ([], "JSON object"),
        ({**good, "share": None}, "share"),
        ({**good, "task_hash": "0x12"}, "32 bytes"),
        ({**good, "result": "zz"}, "0x-prefixed"),
        ({**good, "result": "0xzz"}, "not hex"),
        ({**good, "receipt": "x"}, "receipt"),
    ]:
        with pytest.raises(TaskRunError, match=msg):
            Response.from_json(bad)


@needs_bwrap
def test_cli_executors_post_to_an_aggregator(tw, tmp_path, images, capsys):
    from offchain.bls import keystore
    from offchain.compute.devtee import init_dir
    from offchain.httpservice import ServiceServer

    _, store, *_ = images
    init_dir(tmp_path / "tee", b"\x05" * 32)
    (tmp_path / "pw").write_text("executor password\n")
    for i, sk in enumerate(tw.sks):
        keystore.save(keystore.encrypt(sk, "executor password", "pbkdf2"), tmp_path / f"bls{i}.json")
    base = task_cli(tw, tmp_path)
    agg = aggregator(tw, tmp_path)
    h = create(tw, payload=b"1+1\n")
    hb = create(tw, payload=b"1+2\n", task_type=tw.bls_image_type)  # both keys: an ECDSA and a BLS task
    start = tw.mailbox.getTaskInfo(h).createdBlock
    with ServiceServer(agg.app(), log_level="warning").start() as srv:
        for i in range(3):
            rc, out, err = _eigen(
                capsys,
                *base,
                "executor",
                "--operator",
                tw.ops[i].address,
                "--signing-key",
                "0x" + tw.keys[i].to_bytes().hex(),
                "--bls-keystore",
                str(tmp_path / f"bls{i}.json"),
                "--bls-password-file",
                str(tmp_path / "pw"),
                "--set",
                str(tw.set_id),
                "--images",
                str(store),
                "--devtee",
                str(tmp_path / "tee"),
                "--state",
                str(tmp_path / f"cli-state{i}.json"),
                "--aggregator",
                srv.url,
                "--from-block",
                str(start),
                "--once",
            )
            assert rc == 0, err
            assert [o["result"] for o in json_objects(out)] == [
                "0x" + b"sum of 1+1\n".hex(),
                "0x" + b"sum of 1+2\n".hex(),
            ]
    assert agg.done[h].result == b"sum of 1+1\n" and tw.mailbox.getTaskStatus(h) == 2
    assert agg.done[hb].result == b"sum of 1+2\n" and len(agg.done[hb].signer_ids) == 2
    assert tw.mailbox.getTaskStatus(hb) == 2
    assert json.loads((tmp_path / "cli-state0.json").read_text())["next_block"] > start


def test_cli_executor_and_aggregator_bad_input(tw, tmp_path, capsys):
    base = task_cli(tw, tmp_path)
    ex = (
        *base,
        "executor",
        "--operator",
        tw.ops[0].address,
        "--signing-key",
        "0x" + "11" * 32,
        "--set",
        "1",
        "--images",
        str(tmp_path),
        "--state",
        str(tmp_path / "s.json"),
        "--aggregator",
        "http://127.0.0.1:9",
        "--once",
    )
    cases = [
        ((*ex, "--devtee", str(tmp_path / "none")), "not a dev-TEE directory"),
        ((*ex, "--devtee", str(tmp_path), "--interval", "0"), "--interval"),
        ((*ex[:-2], "--devtee", str(tmp_path)), "--aggregator"),
        ((*ex[:7], *ex[9:], "--devtee", str(tmp_path)), "--signing-key (ECDSA task types), --bls-keystore"),
        ((*ex, "--devtee", str(tmp_path), "--bls-keystore", str(tmp_path)), "go together"),
        (
            (*base, "aggregator", "--key", "0x" + "11" * 32, "--evidence", str(tmp_path), "--port", "70000"),
            "port",
        ),
        (
            (
                *base,
                "aggregator",
                "--key",
                "0x" + "11" * 32,
                "--evidence",
                str(tmp_path),
                "--refund-interval",
                "-1",
            ),
            "--refund-interval",
        ),
        (
            (
                *base,
                "aggregator",
                "--key",
                "0x" + "11" * 32,
                "--evidence",
                str(tmp_path),
                "--disperser",
                "http://127.0.0.1:9",
            ),
            "--disperser, --da-key and --records go together",
        ),
        (
            (
                *base,
                "aggregator",
                "--key",
                "0x" + "11" * 32,
                "--evidence",
                str(tmp_path),
                "--host",
                "0.0.0.0",
            ),
            "loopback",
        ),
    ]
    for argv, msg in cases:
        rc, _, err = _eigen(capsys, *argv)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)


# ---- DA records of input, output and receipt ------------------------------------------------------

DA_SYMBOLS = 256  # 8 KiB blobs: a record with the dev TEE's receipt (~5.3 KB) fits


@pytest.fixture(scope="module")
def danet(tmp_path_factory):
    """An in-process DA network: four validators (stakes 1-4) and a disperser on loopback, and a
    client config (`eigen da get --config`) naming them."""
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.network.disperser import Disperser
    from offchain.da.network.metadata import MetadataStore
    from offchain.da.network.node import ValidatorNode
    from offchain.da.network.service import disperser_app, node_app
    from offchain.da.srs import insecure_test_srs
    from offchain.httpservice import ServiceServer
    from offchain.store import Store
    from tests.offchain.da.network.support import DISPERSER_KEY, network_file, node_state, operator_keys

    tmp = tmp_path_factory.mktemp("danet")
    enc = Encoder(insecure_test_srs(DA_SYMBOLS))
    keys = operator_keys(4)
    state = node_state(keys)
    servers, stores, urls = [], [], {}
    d = None
    try:
        for i, k in enumerate(keys):
            stores.append(Store([str(tmp / f"v{i}")]))
            srv = ServiceServer(node_app(ValidatorNode(k, state, enc, stores[-1])), log_level="warning")
            servers.append(srv.__enter__())
            urls[k.public_key().operator_id] = srv.url
        pks = {k.public_key().operator_id: k.public_key() for k in keys}
        d = Disperser(DISPERSER_KEY, 0, enc, state.stakes, urls, pks, MetadataStore(str(tmp / "meta.db")))
        d.start()
        network_file(tmp / "network.json", keys, state, urls)
        (tmp / "client.json").write_text(
            json.dumps({"network": "network.json", "srs": {"insecure_test_symbols": DA_SYMBOLS}})
        )
        with ServiceServer(disperser_app(d), log_level="warning") as srv:
            yield {
                "url": srv.url,
                "config": tmp / "client.json",
                "stakes": state.stakes,
                "urls": urls,
                "encoder": enc,
            }
    finally:
        if d is not None:
            d.stop()
            d.db.close()
        for srv in servers:
            srv.__exit__(None, None, None)
        for st in stores:
            st.close()


@needs_bwrap
def test_every_task_is_recorded_to_da_and_the_result_verifies_it(tw, tmp_path, images, danet, capsys):
    from offchain.chain.task_mailbox import DARecorder, record_hash
    from tests.offchain.da.network.support import CLIENT_KEY

    certifier = Web3TaskMailbox(tw.d, account=tw.agg_key)
    recorder = DARecorder(certifier, danet["url"], CLIENT_KEY, tmp_path / "records", timeout_s=120)
    agg = Aggregator(certifier, tmp_path / "evidence", recorder=recorder)
    exs = executors(tw, tmp_path, images, sink=agg.add)
    h = create(tw, payload=b"3+4\n")
    for ex in exs:
        ex.poll()
    done = agg.done[h]
    cert = json.loads((tmp_path / "records" / f"0x{h.hex()}.cert.json").read_text())
    assert done.record == record_hash(cert) != bytes(32)
    assert tw.mailbox.getTaskInfo(h).record == done.record
    assert tuple(tw.mailbox.getTaskResult(h)) == (keccak(b"sum of 3+4\n"), done.record)
    # a DA record that cannot be made stops the submission (no result goes on chain without its
    # record); the executor's response sent again retries it
    down = Aggregator(
        certifier,
        tmp_path / "ev2",
        recorder=DARecorder(certifier, "http://127.0.0.1:9", CLIENT_KEY, tmp_path / "r2", timeout_s=5),
    )
    (tmp_path / "down").mkdir()
    exs = executors(tw, tmp_path / "down", images)
    h3 = create(tw, payload=b"1+0\n")
    answers = [ex.poll()[0] for ex in exs]
    assert down.add(answers[0]) is None
    with pytest.raises(TaskRunError, match="recording task .* to DA failed"):
        down.add(answers[1])
    assert h3 not in down.done and tw.mailbox.getTaskStatus(h3) == 1
    down.recorder = recorder
    assert down.add(answers[1]).record == tw.mailbox.getTaskInfo(h3).record != bytes(32)
    # `eigen compute task result` fetches the record from DA and checks it against the chain
    base = task_cli(tw, tmp_path)
    da = (
        "--record-cert",
        str(tmp_path / "records" / f"0x{h.hex()}.cert.json"),
        "--da-config",
        str(danet["config"]),
    )
    rc, out, err = _eigen(capsys, *base, "result", "0x" + h.hex(), *da)
    assert rc == 0, err
    rec = json.loads(out)["da_record"]
    assert rec["verified"] and rec["input"] == "0x" + b"3+4\n".hex()
    # and in Python, from the validators' verified chunks: the same record
    got = certifier.fetch_record(
        h, cert, stakes=danet["stakes"], urls=danet["urls"], encoder=danet["encoder"]
    )
    assert (got["input"], got["output"], got["served_by"]) == (b"3+4\n", b"sum of 3+4\n", "validators")
    receipt = got["receipt"]
    assert (rec["enclave_signer"], rec["receipt_digest"]) == (
        receipt["receipt"]["enclaveSigner"],
        receipt["digest"],
    )
    assert receipt["receipt"]["outputHash"] == "0x" + keccak(b"sum of 3+4\n").hex()
    # another task's certificate is not this task's record
    (tmp_path / "forged.json").write_text(json.dumps({**cert, "blob_key": "00" * 32}))
    rc, _, err = _eigen(capsys, *base, "result", "0x" + h.hex(), "--record-cert", str(tmp_path / "forged.json"),
                        "--da-config", str(danet["config"]))  # fmt: skip
    assert rc == 2 and "not task" in err and len(err.strip().splitlines()) == 1
    rc, _, err = _eigen(
        capsys, *base, "result", "0x" + h.hex(), "--record-cert", str(tmp_path / "forged.json")
    )
    assert rc == 2 and "go together" in err
    # a task certified without a recorder has no record to fetch
    (tmp_path / "plain").mkdir()
    plain = aggregator(tw, tmp_path / "plain")
    exs = executors(tw, tmp_path / "plain", images, sink=plain.add)
    h2 = create(tw, payload=b"5+5\n")
    for ex in exs:
        ex.poll()
    assert plain.done[h2].record == bytes(32)
    with pytest.raises(TaskRunError, match="without a DA record"):
        certifier.fetch_record(h2, cert)


def test_a_da_record_is_checked_against_the_chain(tw):
    """check_record: every mismatch between a fetched record and the chain is named."""
    from offchain.chain.task_mailbox import TaskInfo, check_record, task_record
    from offchain.compute.receipt import Receipt, ReceiptBundle, sign

    key = type(tw.keys[0])(keccak(b"enclave"))
    h, payload, out = b"\x01" * 32, b"2+2", b"4"

    def bundle(inp=payload, output=out, signer=key):
        r = Receipt(b"\x00" * 32, b"\x00" * 32, keccak(inp), keccak(output), 1, key.public_key.to_checksum_address(),
                    b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, 1, 1)  # fmt: skip
        return ReceiptBundle(r, sign(r, signer), b"", {}).to_json()

    info = TaskInfo(
        *([None] * 7), keccak(payload), "VERIFIED", False, keccak(out), b"\x00" * 32, b"\x00" * 32
    )
    good = check_record(task_record(h, payload, out, bundle()), info, h, keccak(out))
    assert (good["input"], good["output"]) == (payload, out)
    cases = [
        (task_record(b"\x02" * 32, payload, out, bundle()), "for task 0x0202"),
        (task_record(h, b"2+3", out, bundle()), "input is not the task's"),
        (task_record(h, payload, b"5", bundle()), "output is not the certified"),
        (task_record(h, payload, out, bundle(output=b"5")), "receipt is over another"),
        (
            task_record(h, payload, out, bundle(signer=type(key)(keccak(b"other")))),
            "not signed by the enclave",
        ),
        (b"garbage", "not a task record"),
        (task_record(h, payload, out, {"version": 2}), "receipt is malformed"),
    ]
    for data, msg in cases:
        with pytest.raises(TaskRunError, match=msg):
            check_record(data, info, h, keccak(out))


def test_cli_deploy(tw, tmp_path, capsys):
    """`eigen compute deploy IMAGE`: the image is registered for the executor set's app under its dev-TEE
    policy and a task type runs it; deployed again, the image is kept and a second type added; published
    into the executors' image directory; a foreign key, another policy and an unknown set are refused."""
    from offchain.compute.devtee import init_dir, load_dir

    work = tmp_path / "w"
    work.mkdir()
    built = build_image(script_app(work, "echo deployed\n", name="src3"), work / "app.tar")
    raw = bytes.fromhex(built.digest[7:])
    init_dir(tmp_path / "tee", b"\x07" * 32)
    base = task_cli(tw, tmp_path)[:1] + ("deploy", str(work / "app.tar")) + task_cli(tw, tmp_path)[2:]
    owner = "0x" + bytes.fromhex(tw.cw.app_owner.private_key[2:]).hex()
    args = (*base, "--set", str(tw.set_id), "--fee-token", tw.token.address, "--fee", str(FEE))
    args = (*args, "--timeout", str(TIMEOUT), "--devtee", str(tmp_path / "tee"), "--key", owner)
    rc, out, err = _eigen(capsys, *args, "--publish", str(tmp_path / "images"))
    assert rc == 0, err
    first = json.loads(out)
    policy = dev_policy(load_dir(tmp_path / "tee"), raw)
    assert first["image_digest"] == built.digest and first["image_tx"] is not None
    assert tw.cw.avs.images(tw.cw.app_id, raw).policyHash == policy.hash()
    assert tw.cw.avs.isImageActive(tw.cw.app_id, raw)
    t = tw.mailbox.taskTypes(first["task_type"])
    assert (bytes(t.imageDigest), t.operatorSetId, t.fee, t.timeout, t.certKind, t.thresholdBps) == (
        raw,
        tw.set_id,
        FEE,
        TIMEOUT,
        CERT_ECDSA,
        6667,
    )
    assert ImageStore(tmp_path / "images").path(raw) == tmp_path / "images" / (raw.hex() + ".tar")
    rc, out, err = _eigen(capsys, *args, "--cert", "ecdsa", "--threshold-bps", "8000")
    assert rc == 0, err
    again = json.loads(out)
    assert again["image_tx"] is None and again["task_type"] == first["task_type"] + 1
    assert tw.mailbox.taskTypes(again["task_type"]).thresholdBps == 8000
    other = tmp_path / "policy.json"
    other.write_text(json.dumps({**policy.to_json(), "measurements": {"pcr0": "00" * 48}}))
    stranger = "0x" + keccak(b"not the owner").hex()
    i = args.index("--devtee")
    cases = [
        ((*args[:i], "--policy", str(other), *args[i + 2 :]), "registered under policy"),
        ((*args[:-1], stranger), "only the app's owner"),
        ((*base, "--set", "77", *args[len(base) + 2 :]), "executor set 77 has no app"),
        ((*args, "--policy", str(other)), "not allowed with argument"),
        ((*args[:i], *args[i + 2 :]), "one of the arguments --policy --devtee is required"),
        ((*args, "--threshold-bps", "10"), "bad threshold bps"),
        ((*args[:i], "--policy", str(tmp_path / "none.json"), *args[i + 2 :]), "none.json"),
        ((*args[:i], "--policy", str(tmp_path), *args[i + 2 :]), str(tmp_path)),
        ((*base[:2], str(other), *args[3:]), "policy.json"),
        ((*args, "--publish", str(other)), "cannot publish the image"),
    ]
    types = tw.mailbox.taskTypeCount()
    for argv, msg in cases:
        rc, out, err = _eigen(capsys, *argv)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)
    # a refused deploy registers nothing, a failed --publish included
    assert tw.mailbox.taskTypeCount() == types
