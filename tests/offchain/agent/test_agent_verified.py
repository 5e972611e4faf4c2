"""The x402 ``verified`` scheme end to end over HTTP (docs/agent.md "Verified settlement"): a server
agent sells a compute job; it creates the TaskMailbox task, offers it under ``verified``, and the
facilitator's settlement deposits the client's payment into the VerifiedEscrow. The server agent
is paid only once the executor set certifies the result and the escrow's challenge window passed
(release refused before); the facilitator refuses payments conditioned on other terms, with typed
errors. The inference kind: a server agent sells deterministic inference conditioned on the
client's request digest; the keeper (``eigen agent settle``) binds the registered receipt and
releases after InferenceDisputes' challenge window, or refunds once the receipt is proven wrong
(its operator slashed) and the slash is final; it waits while the set's resolver may still cancel
the slash, and releases to the server agent if the resolver does (the verdict overturned)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from offchain.agent import errors as E
from offchain.agent.a2a import COMPLETED, A2AClient
from offchain.agent.client import PayingClient
from offchain.agent.evm import EvmFacilitator, Offers, create_payment, escrow_of
from offchain.agent.facilitator import HTTPFacilitator, LocalFacilitator, create_app
from offchain.agent.inference_agent import InferenceBuyer, InferenceSaleError, InferenceSeller, query_request
from offchain.agent.server import Payment
from offchain.agent.x402 import PAYMENT_RESPONSE, PAYMENT_SIGNATURE, decode_header, encode_header
from offchain.ai.receipt import Receipt
from offchain.chain.agent import Sender
from offchain.chain.errors import ChainRevertError
from offchain.chain.sdk import load_abis
from offchain.cli import main
from offchain.httpservice import ServiceServer
from tests.contracts.support import CHALLENGE_WINDOW, ESCROW_BLOCKS, A, evs, tamper
from tests.offchain.agent.support import (
    INFER_PER_TOKEN,
    JOB_PRICE,
    WINDOW_S,
    VerifiedWorld,
    a2a_job_agent,
    inference_request,
    inference_seller,
    inference_server,
    job_server,
)

ROOT = Path(__file__).resolve().parents[3]
TASK_WINDOW_S = 30  # the escrow's challenge window after a task's confirmation


@pytest.fixture(scope="module")
def vw(project, chain, accounts):
    return VerifiedWorld(project, chain, accounts, task_window=TASK_WINDOW_S, inference=True)


def keeper_cli(vw, key_file, *ids: str) -> list[str]:
    return ["agent", "settle", *ids, "--rpc", vw.w3.provider.endpoint_uri, "--escrow", vw.escrow.address]


def test_verified_payment_end_to_end_over_http(vw, capsys, tmp_path):
    seller, payer = vw.seller.address, vw.payer.address
    with ServiceServer(create_app(vw.facilitator), log_level="warning") as f:
        with ServiceServer(job_server(vw, HTTPFacilitator(f.url)), log_level="warning") as r:
            # /supported names the escrow
            kinds = httpx.get(f.url + "/supported").json()["kinds"]
            extra = {"escrow": vw.escrow.address, "kinds": ["task", "inference"]}
            assert {"scheme": "verified", "extra": extra}.items() <= kinds[-1].items()
            task = httpx.post(r.url + "/jobs", json={"payload": "2+2"}).json()["task"]
            h = bytes.fromhex(task[2:])
            # unpaid: the offer names the escrow and this task
            offer = httpx.get(r.url + "/jobs/result", params={"task": task}).json()["accepts"][0]
            assert offer["scheme"] == "verified" and offer["extra"]["task"] == task
            assert offer["extra"]["escrow"] == vw.escrow.address and offer["payTo"] == seller
            before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
            client = PayingClient(
                vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
            )
            resp = client.get(r.url + "/jobs/result", params={"task": task})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            settled = decode_header(resp.headers[PAYMENT_RESPONSE], PAYMENT_RESPONSE)
            assert settled["success"] is True and settled["amount"] == str(JOB_PRICE)
            receipt = vw.w3.eth.get_transaction_receipt(settled["transaction"])
            assert receipt["to"] == vw.escrow.address and receipt["status"] == 1
            # the server takes a verified payment only for this request's task: a payment
            # conditioned on another task is refused before the route runs, nothing deposited
            other = httpx.post(r.url + "/jobs", json={"payload": "3+3"}).json()["task"]
            req = vw.facilitator.requirements(
                "verified",
                vw.token.address,
                seller,
                JOB_PRICE,
                task=h,
                deadline=int(offer["extra"]["deadline"]),
            )
            stray = create_payment(vw.payer.private_key, req, now=vw.clock())
            refused = httpx.get(
                r.url + "/jobs/result",
                params={"task": other},
                headers={PAYMENT_SIGNATURE: encode_header(stray)},
            )
            assert refused.status_code == 402
            assert refused.json()["error"] == E.PaymentRequirementsError.code
    assert body["task"] == task
    eid = bytes.fromhex(body["escrow"][2:])
    # the payment sits in escrow, conditioned on the task
    rec = vw.escrow.get(eid)
    assert (rec.payer, rec.payee, rec.amount, rec.ref, rec.state) == (payer, seller, JOB_PRICE, h, "held")
    assert vw.token.balance_of(payer) == before[0] - JOB_PRICE and vw.token.balance_of(seller) == before[1]
    assert vw.token.balance_of(vw.escrow.address) == JOB_PRICE
    # anyone (here the client) releases; refused until the executor set certifies the result
    client_tx = Sender(vw.w3, vw.payer.private_key)
    with pytest.raises(ChainRevertError, match="task not verified"):
        client_tx.simulate(vw.escrow.release(eid, []))
    with pytest.raises(ChainRevertError, match="not refundable"):
        client_tx.simulate(vw.escrow.refund(eid, []))
    # the client releases from the command line: refused (typed, one line) until certified
    key_file = tmp_path / "client.key"
    key_file.write_text(str(vw.payer.private_key))
    cli = ["agent", "escrow", "release", body["escrow"], "--rpc", vw.w3.provider.endpoint_uri]
    cli += ["--escrow", vw.escrow.address, "--key", str(key_file)]
    assert main(cli) == 2 and "task not verified" in capsys.readouterr().err
    assert vw.escrow.task_signers(h, load_abis()["TaskMailbox"]) == []
    rc = vw.mw.submit(h, vw.mw.ecdsa(h, b"4"))
    signers = [A(s) for s in evs(rc, "TaskVerified")[0].signers]
    assert vw.escrow.task_signers(h, load_abis()["TaskMailbox"]) == signers
    # certified: the escrow's challenge window must open (the keeper confirms) and pass
    assert main(cli) == 2 and "window not started" in capsys.readouterr().err
    settle = keeper_cli(vw, key_file, body["escrow"]) + ["--key", str(key_file)]
    assert main(settle) == 0
    steps = json.loads(capsys.readouterr().out)
    assert [s["action"] for s in steps] == ["confirm", "waiting"]
    assert steps[1]["reason"] == "challenge window open"
    assert vw.escrow.get(eid).window_end > 0 and vw.escrow.get(eid).state == "held"
    vw.warp(TASK_WINDOW_S + 1)
    assert main(cli) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "released" and out["payee"] == seller and out["amount"] == JOB_PRICE
    assert vw.w3.eth.get_transaction_receipt(out["transaction"])["status"] == 1
    assert vw.token.balance_of(seller) == before[1] + JOB_PRICE and vw.escrow.get(eid).state == "released"
    assert main([*cli[:2], "show", *cli[3:8]]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "released"
    assert main([*cli[:2], "refund", *cli[3:]]) == 2 and "escrow settled" in capsys.readouterr().err
    assert main([*cli[:3], "0x12", *cli[4:]]) == 2 and "escrow id" in capsys.readouterr().err
    assert main(cli[:8]) == 2 and "give --key" in capsys.readouterr().err
    with pytest.raises(ChainRevertError, match="escrow settled"):
        client_tx.simulate(vw.escrow.release(eid, signers))


def test_task_fault_keeper_follows_the_slash(vw, capsys, tmp_path):
    # a fault proof slashes a certifying operator of a paid task: the keeper waits while the set's
    # resolver may cancel the slash, and releases to the server agent once it did
    mw, payer, seller = vw.mw, vw.payer.address, vw.seller.address
    h, _ = mw.create()
    fac = vw.fresh_facilitator()
    req = fac.requirements(
        "verified", vw.token.address, seller, JOB_PRICE, task=h, deadline=vw.clock() + 3600
    )
    payload = create_payment(vw.payer.private_key, req, now=vw.clock())
    assert fac.settle(payload, req).success
    eid = escrow_of(payload)
    signers = list(evs(mw.submit(h, mw.ecdsa(h, b"4")), "TaskVerified")[0].signers)
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=mw.w.other)
    slash_id = evs(rc, "TaskFaultProven")[0].slashId
    key_file = tmp_path / "keeper.key"
    key_file.write_text(str(vw.seller.private_key))
    settle = keeper_cli(vw, key_file, "0x" + eid.hex()) + ["--key", str(key_file)]
    assert main(settle) == 0
    steps = [(s["action"], s.get("reason")) for s in json.loads(capsys.readouterr().out)]
    assert steps == [("confirm", None), ("waiting", "challenge window open")]
    vw.warp(TASK_WINDOW_S + 1)
    assert main(settle) == 0
    assert [s.get("reason") for s in json.loads(capsys.readouterr().out)] == ["slash pending"]
    mw.w.esc.cancelSlash(mw.mailbox, mw.set_id, slash_id, sender=mw.w.resolver)
    before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
    assert main(settle) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["release"]
    assert vw.escrow.get(eid).state == "released"
    assert (vw.token.balance_of(payer), vw.token.balance_of(seller)) == (before[0], before[1] + JOB_PRICE)


def test_facilitator_refuses_other_terms_typed(vw):
    fac = EvmFacilitator(vw.w3, vw.fac_account.private_key, [vw.token], escrow=vw.escrow)
    h, _ = vw.mw.create()
    deadline = vw.clock() + WINDOW_S
    req = fac.requirements(
        "verified", vw.token.address, vw.seller.address, JOB_PRICE, task=h, deadline=deadline
    )
    key = vw.payer.private_key
    assert fac.verify(create_payment(key, req, now=vw.clock()), req) == vw.payer.address
    # the payment names another task, deadline or expected result than the offer
    for extra in (
        {"task": "0x" + "11" * 32},
        {"deadline": str(deadline + 1)},
        {"expectedResult": "0x" + "22" * 32},
    ):
        other = replace(req, extra=req.extra | extra)
        with pytest.raises(E.PaymentRequirementsError):
            fac.verify(create_payment(key, other, now=vw.clock()), req)
    # a task the mailbox does not know; a deadline already past
    unknown = replace(req, extra=req.extra | {"task": "0x" + "33" * 32})
    with pytest.raises(E.PaymentRequirementsError, match="unknown task"):
        fac.verify(create_payment(key, unknown, now=vw.clock()), unknown)
    past = replace(req, extra=req.extra | {"deadline": str(vw.clock() - 1)})
    with pytest.raises(E.PaymentExpiredError):
        fac.verify(create_payment(key, past, now=vw.clock()), past)
    # a settled payment cannot be deposited twice
    p = create_payment(key, req, now=vw.clock())
    fac.settle(p, req)
    with pytest.raises(E.PaymentReplayedError):
        fac.settle(p, req)
    # malformed terms and a facilitator without an escrow
    with pytest.raises(E.PaymentRequirementsError):
        fac.requirements(
            "verified", vw.token.address, vw.seller.address, JOB_PRICE, task=b"\x01", deadline=deadline
        )
    bad = replace(req, extra={k: v for k, v in req.extra.items() if k != "task"})
    with pytest.raises(E.PaymentRequirementsError):
        create_payment(key, bad, now=vw.clock())
    plain = EvmFacilitator(vw.w3, vw.fac_account.private_key, [vw.token])
    with pytest.raises(E.PaymentSchemeError):
        plain.requirements(
            "verified", vw.token.address, vw.seller.address, JOB_PRICE, task=h, deadline=deadline
        )
    with pytest.raises(E.PaymentSchemeError):
        plain.verify(p, req)
    assert json.loads(json.dumps(req.to_json()))["extra"]["deadline"] == str(deadline)


def test_verified_payment_over_a2a(vw):
    """The same job bought over A2A: the task's offer is ``verified`` for the mailbox task the skill
    created; the payment waits in escrow until the executor set certifies the result."""
    seller, payer = vw.seller.address, vw.payer.address
    fac = EvmFacilitator(vw.w3, vw.fac_account.private_key, [vw.token], escrow=vw.escrow)
    with ServiceServer(a2a_job_agent(vw, LocalFacilitator(fac)).app(), log_level="warning") as s:
        wallet = PayingClient(
            vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
        )
        before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
        ex = A2AClient(s.url, wallet).ask("2+2", skill="job")
    assert ex.task.status.state == COMPLETED and ex.requirements.scheme == "verified"
    assert ex.receipt.amount == JOB_PRICE and wallet.spent == JOB_PRICE
    out = ex.task.result()
    h, eid = bytes.fromhex(out["task"][2:]), bytes.fromhex(out["escrow"][2:])
    assert ex.requirements.extra["task"] == out["task"]
    rec = vw.escrow.get(eid)
    assert (rec.payer, rec.payee, rec.amount, rec.ref, rec.state) == (payer, seller, JOB_PRICE, h, "held")
    assert vw.token.balance_of(payer) == before[0] - JOB_PRICE and vw.token.balance_of(seller) == before[1]
    rc = vw.mw.submit(h, vw.mw.ecdsa(h, b"4"))
    signers = [A(x) for x in evs(rc, "TaskVerified")[0].signers]
    sender = Sender(vw.w3, vw.payer.private_key)
    sender.send(vw.escrow.confirm_task(eid))
    vw.warp(TASK_WINDOW_S + 1)
    sender.send(vw.escrow.release(eid, signers))
    assert vw.token.balance_of(seller) == before[1] + JOB_PRICE and vw.escrow.get(eid).state == "released"


@pytest.mark.parametrize("scheme", ["verified", "exact", "upto"])
def test_inference_sold_over_a2a_with_its_receipt(vw, scheme):
    """The job agent's A2A card lists the inference skill beside the compute job; a client buys a
    deterministic-inference answer over A2A, paid as the HTTP route is (verified on the request's
    digest, exact, or upto per generated token), and the answer's receipt is registered on chain
    for the paying client."""
    d, seller, payer = vw.d, vw.seller.address, vw.payer.address
    q = {"prompt": f"what is 2+2, {scheme}?", "seed": 7, "max_tokens": 6}
    _, _, digest = inference_request(d, {k: str(v) for k, v in q.items()})
    agent = a2a_job_agent(vw, LocalFacilitator(vw.fresh_facilitator()), inference=scheme)
    with ServiceServer(agent.app(), log_level="warning") as s:
        wallet = PayingClient(
            vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, 2 * JOB_PRICE, clock=vw.clock
        )
        c = A2AClient(s.url, wallet)
        assert c.card().skills == ("job", "inference")
        before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
        ex = c.ask(data=q, skill="inference")
        # a request that is no inference query is refused before any offer
        with pytest.raises(E.A2AInvalidParamsError, match="inference request"):
            c.ask(data={"prompt": 4}, skill="inference")
    assert ex.task.status.state == COMPLETED and ex.requirements.scheme == scheme
    out = ex.task.result()
    receipt = Receipt.from_dict(out["receipt"])
    assert (
        out["receiptDigest"] == "0x" + receipt.digest().hex()
        and d.svc.text_of(receipt.output_tokens) == out["text"]
    )
    assert d.c.claims(receipt.digest()).client == payer  # registered, answering to the payer
    paid = {"verified": JOB_PRICE, "exact": JOB_PRICE, "upto": len(receipt.output_tokens) * INFER_PER_TOKEN}[
        scheme
    ]
    assert ex.receipt.amount == paid and wallet.spent == paid
    assert vw.token.balance_of(payer) == before[0] - paid
    if scheme == "verified":
        assert ex.requirements.extra["request"] == "0x" + digest.hex()
        rec = vw.escrow.get(bytes.fromhex(out["escrow"][2:]))
        assert (rec.kind, rec.ref, rec.payer, rec.amount, rec.state) == (2, digest, payer, paid, "held")
        assert vw.token.balance_of(seller) == before[1]  # held until the receipt is final
    else:
        assert out["escrow"] is None and vw.token.balance_of(seller) == before[1] + paid


def test_verified_inference_end_to_end_release_after_the_window(vw, capsys, tmp_path):
    d, seller, payer = vw.d, vw.seller.address, vw.payer.address
    q = {"prompt": "what is 2+2?", "seed": "3", "max_tokens": "6"}
    _, _, digest = inference_request(d, q)  # the client computes what it asks for
    key_file = tmp_path / "keeper.key"
    key_file.write_text(str(vw.seller.private_key))
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        with ServiceServer(inference_server(vw, HTTPFacilitator(f.url)), log_level="warning") as r:
            offer = httpx.get(r.url + "/inference", params=q).json()["accepts"][0]
            assert offer["scheme"] == "verified" and offer["extra"]["kind"] == "inference"
            assert offer["extra"]["request"] == "0x" + digest.hex() and "task" not in offer["extra"]
            client = PayingClient(
                vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, 2 * JOB_PRICE, clock=vw.clock
            )
            # a client that expects another request pays nothing
            with pytest.raises(E.NoAcceptablePaymentError, match="verified on"):
                client.get(r.url + "/inference", params=q, expect_ref=bytes(32))
            before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
            resp = client.get(r.url + "/inference", params=q, expect_ref=digest)
            assert resp.status_code == 200, resp.text
    body = resp.json()
    eid = bytes.fromhex(body["escrow"][2:])
    rec = vw.escrow.get(eid)
    assert (rec.kind, rec.ref, rec.payer, rec.payee, rec.state) == (2, digest, payer, seller, "held")
    assert vw.token.balance_of(payer) == before[0] - JOB_PRICE and vw.token.balance_of(seller) == before[1]
    receipt_digest = bytes.fromhex(body["receiptDigest"][2:])
    assert d.c.claims(receipt_digest).client == payer  # the receipt answers to the paying client
    # the keeper binds the receipt it finds on chain, then waits for the challenge window
    settle = keeper_cli(vw, key_file, body["escrow"]) + ["--key", str(key_file)]
    assert main(settle) == 0
    steps = json.loads(capsys.readouterr().out)
    assert [s["action"] for s in steps] == ["bind", "waiting"]
    assert steps[1]["reason"] == "challenge window open"
    assert vw.escrow.get(eid).receipt == receipt_digest
    vw.warp(CHALLENGE_WINDOW + 1)
    assert main(settle) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["release"]
    assert vw.escrow.get(eid).state == "released" and vw.token.balance_of(seller) == before[1] + JOB_PRICE
    assert main(settle) == 0  # settles once
    assert json.loads(capsys.readouterr().out) == [
        {"escrow": body["escrow"], "action": "settled", "reason": "released"}
    ]
    assert main([*settle[:2], "0x12", *settle[3:]]) == 2 and "escrow id" in capsys.readouterr().err


def _serve_cli(argv: list[str], log: Any) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`eigen` ARGV as a process; its first line of output (JSON)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        raise AssertionError(f"eigen {' '.join(argv[:2])} printed nothing (exit {proc.poll()})")
    return proc, json.loads(line)


def test_the_inference_seller_command_sells_verified_inference(vw, capsys, tmp_path):
    """``eigen agent inference-seller``: the tiny model sold under verified through a facilitator over
    HTTP; the offer is conditioned on the request's digest, the payment held in the escrow, the
    receipt (signed by the operator key, bound to the payer) registered on InferenceDisputes. Start-up
    refusals are one line and exit status 2."""
    d, payer = vw.d, vw.payer.address
    op_key = tmp_path / "operator.key"
    op_key.write_text("0x" + d.keys[0].to_bytes().hex())
    q = {"prompt": "what is 3+3?", "seed": "5", "max_tokens": "6"}
    _, _, digest = inference_request(d, q)
    base = ["agent", "inference-seller", "--rpc", vw.w3.provider.endpoint_uri, "--operator-key", str(op_key)]
    base += ["--key", str(vw.seller.private_key), "--disputes", d.c.address, "--token", vw.token.address]
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        argv = [*base, "--facilitator", f.url, "--price", str(JOB_PRICE), "--tiny", "0", "--port", "0"]
        with (tmp_path / "seller.log").open("w") as log:
            proc, out = _serve_cli(argv, log)
            try:
                assert out["scheme"] == "verified" and out["payee"] == vw.seller.address
                signer = d.keys[0].public_key.to_checksum_address()
                assert out["operator"] == signer and out["model"] == "0x" + d.svc.model.sha256.hex()
                offer = httpx.get(out["url"], params=q).json()["accepts"][0]
                assert (
                    offer["extra"]["request"] == "0x" + digest.hex() and offer["extra"]["kind"] == "inference"
                )
                client = PayingClient(
                    vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
                )
                resp = client.get(out["url"], params=q, expect_ref=digest)
                assert resp.status_code == 200, resp.text
            finally:
                proc.terminate()
                proc.wait(20)
        body = resp.json()
        rec = vw.escrow.get(bytes.fromhex(body["escrow"][2:]))
        assert (rec.kind, rec.ref, rec.payer, rec.payee, rec.state) == (
            2,
            digest,
            payer,
            vw.seller.address,
            "held",
        )
        receipt = Receipt.from_dict(body["receipt"])
        assert receipt.digest().hex() == body["receiptDigest"][2:] and receipt.recover_signer() == signer
        assert d.c.claims(receipt.digest()).client == payer
        # refusals before serving: a price of zero, a scheme the facilitator does not settle, no facilitator
        for extra, err in (
            (["--facilitator", f.url, "--price", "0", "--tiny", "0"], "--price above zero"),
            (["--facilitator", "http://127.0.0.1:1", "--price", "1", "--tiny", "0"], "did not answer"),
        ):
            assert main([*base, *extra]) == 2
            assert err in capsys.readouterr().err
    no_escrow = EvmFacilitator(vw.w3, vw.fac_account.private_key, [vw.token])
    with ServiceServer(create_app(no_escrow), log_level="warning") as f:
        assert main([*base, "--facilitator", f.url, "--price", "1", "--tiny", "0"]) == 2
        assert "settles no verified inference" in capsys.readouterr().err
        assert (
            main([*base, "--facilitator", f.url, "--scheme", "upto", "--per-token", "1", "--tiny", "0"]) == 2
        )
        assert "no upto settler" in capsys.readouterr().err


def test_offers_from_a_facilitators_supported_answer(vw):
    """Offers.from_supported builds what EvmFacilitator.requirements builds, from /supported alone;
    a malformed answer, or one without exact on the network, is PaymentRequirementsError."""
    fac = vw.fresh_facilitator()
    net, tokens = fac.network, {vw.token.address: vw.token.name}
    offers = Offers.from_supported(fac.supported(), tokens, net)
    assert offers == fac.offers()
    for args, kw in (
        (("exact", vw.token.address, vw.seller.address, 5), {}),
        (("upto", vw.token.address, vw.seller.address, 9), {}),
        (("verified", vw.token.address, vw.seller.address, 7), {"request": b"\x01" * 32, "deadline": 99}),
    ):
        assert offers.requirements(*args, **kw) == fac.requirements(*args, **kw)
    exact_only = {"kinds": [{"x402Version": 2, "scheme": "exact", "network": net}]}
    bare = Offers.from_supported(exact_only, tokens, net)
    with pytest.raises(E.PaymentSchemeError, match="no upto settler"):
        bare.requirements("upto", vw.token.address, vw.seller.address, 9)
    with pytest.raises(E.PaymentSchemeError, match="no verified escrow"):
        bare.requirements("verified", vw.token.address, vw.seller.address, 9, request=bytes(32), deadline=9)
    with pytest.raises(E.PaymentAssetError, match="settles no token"):
        bare.requirements("exact", vw.seller.address, vw.seller.address, 9)
    bad_upto = {
        "kinds": [*exact_only["kinds"], {"scheme": "upto", "network": net, "extra": {"settler": "0x12"}}]
    }
    for answer, why in (
        ([], "no list of kinds"),
        ({"kinds": "exact"}, "no list of kinds"),
        ({"kinds": [1]}, "no list of kinds"),
        ({"kinds": [{"scheme": "exact", "network": "eip155:1"}]}, "no exact payments"),
        (bad_upto, "extra is malformed"),
    ):
        with pytest.raises(E.PaymentRequirementsError, match=why):
            Offers.from_supported(answer, tokens, net)


def test_verified_inference_proven_wrong_refunds_and_slashes(vw, capsys, tmp_path):
    d, payer = vw.d, vw.payer.address
    q = {"prompt": "a wrong answer", "seed": "5", "max_tokens": "6"}
    _, _, digest = inference_request(d, q)
    cheat = lambda r: tamper(r, d.keys[0])  # noqa: E731
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        with ServiceServer(inference_server(vw, HTTPFacilitator(f.url), cheat), log_level="warning") as r:
            client = PayingClient(
                vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
            )
            body = client.get(r.url + "/inference", params=q, expect_ref=digest).json()
    eid, rd = bytes.fromhex(body["escrow"][2:]), bytes.fromhex(body["receiptDigest"][2:])
    key_file = tmp_path / "keeper.key"
    key_file.write_text(str(vw.payer.private_key))
    settle = keeper_cli(vw, key_file) + ["--key", str(key_file), "--payer", payer]
    assert main(settle) == 0  # every held escrow the payer paid: this one
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["bind", "waiting"]
    # the client re-executes, challenges; the inference set proves the receipt wrong
    receipt = Receipt.from_dict(body["receipt"])
    assert receipt.digest() == rd
    d.challenge(receipt)
    tka = d.strats[0]
    shares = d.w.dm.operatorShares(d.ops[0], tka)
    d.resolve(receipt)
    assert d.w.dm.operatorShares(d.ops[0], tka) < shares
    # the set's resolver may still cancel the slash: the payment waits for its fate
    assert main(settle) == 0
    assert [(s["action"], s.get("reason")) for s in json.loads(capsys.readouterr().out)] == [
        ("waiting", "slash pending")
    ]
    vw.chain.mine(ESCROW_BLOCKS + 1)  # past the slash escrow's window: the fault stands
    before = vw.token.balance_of(payer)
    assert main(settle) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["refund"]
    assert vw.escrow.get(eid).state == "refunded" and vw.token.balance_of(payer) == before + JOB_PRICE


def test_verified_inference_overturned_verdict_pays_the_server(vw, capsys, tmp_path):
    # an honest answer "proven wrong" by a lying majority; the set's resolver cancels the slash:
    # the keeper releases the payment to the server agent, the client gets nothing back
    d, payer, seller = vw.d, vw.payer.address, vw.seller.address
    q = {"prompt": "an honest answer", "seed": "7", "max_tokens": "6"}
    _, _, digest = inference_request(d, q)
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        with ServiceServer(inference_server(vw, HTTPFacilitator(f.url)), log_level="warning") as r:
            client = PayingClient(
                vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
            )
            body = client.get(r.url + "/inference", params=q, expect_ref=digest).json()
    eid = bytes.fromhex(body["escrow"][2:])
    key_file = tmp_path / "keeper.key"
    key_file.write_text(str(vw.seller.private_key))
    settle = keeper_cli(vw, key_file, body["escrow"]) + ["--key", str(key_file)]
    assert main(settle) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["bind", "waiting"]
    receipt = Receipt.from_dict(body["receipt"])
    d.challenge(receipt)
    slash_id = evs(d.resolve(receipt, correct=b"\x55" * 32), "ReceiptProvenWrong")[0].slashId  # the lie
    assert main(settle) == 0
    assert [s.get("reason") for s in json.loads(capsys.readouterr().out)] == ["slash pending"]
    d.w.esc.cancelSlash(d.c, d.c.operatorSetId(), slash_id, sender=d.w.resolver)
    before = (vw.token.balance_of(payer), vw.token.balance_of(seller))
    assert main(settle) == 0
    assert [s["action"] for s in json.loads(capsys.readouterr().out)] == ["release"]
    assert vw.escrow.get(eid).state == "released"
    assert (vw.token.balance_of(payer), vw.token.balance_of(seller)) == (before[0], before[1] + JOB_PRICE)


def test_facilitator_refuses_other_inference_terms_typed(vw):
    fac = vw.fresh_facilitator()
    _, _, digest = inference_request(vw.d, {"prompt": "terms"})
    deadline = vw.clock() + WINDOW_S
    req = fac.requirements(
        "verified", vw.token.address, vw.seller.address, JOB_PRICE, request=digest, deadline=deadline
    )
    key = vw.payer.private_key
    assert fac.verify(create_payment(key, req, now=vw.clock()), req) == vw.payer.address
    # another request, a task instead of the request, another output commitment
    h, _ = vw.mw.create()
    task_terms = {k: v for k, v in req.extra.items() if k not in ("kind", "request")} | {
        "task": "0x" + h.hex()
    }
    for extra in (
        req.extra | {"request": "0x" + "11" * 32},
        task_terms,
        req.extra | {"expectedResult": "0x" + "22" * 32},
    ):
        other = replace(req, extra=extra)
        with pytest.raises(E.PaymentRequirementsError, match="other escrow terms"):
            fac.verify(create_payment(key, other, now=vw.clock()), req)
    with pytest.raises(E.PaymentRequirementsError, match="kind"):
        create_payment(key, replace(req, extra=req.extra | {"kind": "lottery"}), now=vw.clock())
    with pytest.raises(E.PaymentRequirementsError, match="a task or an inference request"):
        fac.requirements(
            "verified", vw.token.address, vw.seller.address, 1, task=h, request=digest, deadline=deadline
        )
    # an escrow serving only tasks offers and settles no inference payment
    task_only = EvmFacilitator(vw.w3, vw.fac_account.private_key, [vw.token], escrow=_task_only_escrow(vw))
    with pytest.raises(E.PaymentSchemeError, match="no inference"):
        task_only.requirements(
            "verified", vw.token.address, vw.seller.address, 1, request=digest, deadline=deadline
        )


def _task_only_escrow(vw):
    from offchain.chain.agent import Escrow

    c = vw.mw.w.owner.deploy(vw.mw.project.VerifiedEscrow, vw.mw.mailbox, "0x" + "00" * 20, 0)
    return Escrow(vw.w3, c.address, load_abis()["VerifiedEscrow"])


def test_inference_seller_and_buyer_refusals_typed(vw):
    """The package's inference seller refuses unusable terms and requests, and a payment for another
    request, with InferenceSaleError; the buyer refuses a failed sale and a receipt bound to another
    client than the payer (both typed)."""
    d, fac = vw.d, vw.fresh_facilitator()
    args = (vw.d.svc, d.keys[0].to_bytes(), fac.requirements, vw.token.address, vw.seller.address)
    chain_args = (
        vw.w3.eth.contract(address=d.c.address, abi=vw.abis["InferenceDisputes"]),
        Sender(vw.w3, vw.seller.private_key),
        vw.clock,
    )
    for kw, match in (
        ({"scheme": "lottery", "price": 1}, "not 'lottery'"),
        ({"price": 0}, "price is a positive integer"),
        ({"scheme": "upto", "price": 1}, "per_token is a positive integer"),
    ):
        with pytest.raises(InferenceSaleError, match=match):
            InferenceSeller(*args, *chain_args, **kw)
    for q, match in (({}, "names a prompt"), ({"prompt": "x", "seed": "one"}, "are integers")):
        with pytest.raises(InferenceSaleError, match=match):
            query_request(d.svc, q)
    seller = inference_seller(vw)
    offer = seller.offers({"prompt": "one request"})[0]
    pay = Payment(vw.payer.address, offer, create_payment(vw.payer.private_key, offer, now=vw.clock()))
    with pytest.raises(InferenceSaleError, match="another inference request"):
        seller.answer({"prompt": "another request"}, pay)
    # the buyer: a sale that fails (the forged receipt does not register) and a receipt for another client
    other = vw.seller.address
    for forge, match in (
        (lambda r: replace(r, signature=b"\x00" * 65), "answered 500"),
        (lambda r: replace(r, client=other).signed(d.keys[0].to_bytes()), "not the payer"),
    ):
        with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
            app = inference_server(vw, HTTPFacilitator(f.url), forge)
            with ServiceServer(app, log_level="error") as r:
                client = PayingClient(
                    vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE, clock=vw.clock
                )
                buyer = InferenceBuyer(client, r.url + "/inference", lambda q: query_request(d.svc, q))
                with pytest.raises(InferenceSaleError, match=match):
                    buyer("what is 3+3?")
                assert buyer.bought == []
