"""`ape run prediction_market`: the AI-settled prediction market on a local devnet (docs/agent.md,
*The AI-settled prediction market*).

On the main job's world (scripts/_demo/world.py: the restaking core; the token step's ForkManager; the
inference step's InferenceDisputes with operators A, B and C; the DA devnet on the same chain) it
deploys a stable token and contracts/agent/PredictionMarket.vy and tells the story:

1. a question is created; its input record (the question and the evidence) is dispersed to DA and the
   certificate checked on chain (``checkDACert``); the question fixes the inference request
   (model, parameters, the prompt's tokens, the YES/NO grammar) and the record's reference;
2. Carol, Dave and Erin bet in USDC; the market closes;
3. operator A posts a tampered verdict (the opposite of what the model says); Erin re-executes it from
   the DA record alone, challenges it, B and C's re-execution proves it wrong: A is slashed and the
   market discards the verdict;
4. A posts the honest verdict; a loser challenges it anyway and B and C uphold it; the loser appeals
   to the fork (burning an EIGEN bond, accusing B and C); the market freezes until governance rejects
   the fork; the market then settles to the verdict and the winners collect (pari-mutuel).

The model is the inference step's (``EIGEN_DEMO_AI_MODEL=tiny`` forces the tiny test model).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from eth_hash.auto import keccak

from offchain.agent.prediction import (
    OUTCOMES,
    InputRecord,
    Question,
    answer,
    check_verdict,
    inputs_ref,
    proposal_args,
    request_hash,
    verdict_of,
)
from offchain.ai.receipt import Receipt, text_hash
from offchain.chain.inference_disputes import options_binding, receipt_args, reexecute_with
from scripts._demo import ai as ai_step
from scripts._demo import da as da_step
from scripts._demo import token as token_step
from scripts._demo.common import event, fmt

USDC = 10**6
APPEAL_S = 600  # the market's appeal window after the inference set's decision deadline
MIN_CHALLENGE_S = 300  # of a receipt's challenge window left when it is posted
CLOSE_S = 3_600
RESOLVE_S = 7 * 86_400
QUESTION = Question("Did the quarterly report say that revenue grew?")
INPUTS = "Quarterly report, Q3: revenue 10.2M USD (Q2: 11.0M USD). Guidance: flat."
BETS = (("carol", True, 100), ("dave", False, 300), ("erin", True, 50))  # (who, YES?, USDC)


def forged_verdict(svc: Any, honest: Receipt, text: str, key: bytes) -> Receipt:
    """What a dishonest operator signs instead of `honest`: `text` as the answer, with made-up logits
    commitments (the text hash matches the forged text, so only re-execution shows it)."""
    out = (*svc.tokenizer.encode(text), svc.tokenizer.eos_id)
    hashes = tuple(keccak(b"made up %d" % i) for i in range(len(out)))
    forged = replace(
        honest, output_tokens=out, logits_hashes=hashes, finish_reason=1, text_hash=text_hash(text)
    )
    return replace(forged, signature=b"").signed(key)


def register(disputes: Any, receipt: Receipt, sender: Any) -> Any:
    """Register a version 3 receipt with InferenceDisputes (its options' preimage published first)."""
    binding = options_binding(receipt)
    if binding is not None:
        disputes.bindReceiptOptions(*binding, sender=sender)
    return disputes.registerReceipt(*receipt_args(receipt), sender=sender)


def refusal(method: Any, *args: Any, sender: Any) -> str | None:
    """The revert reason of calling `method(*args)` from `sender` now (eth_call), None if it would pass."""
    from web3.exceptions import ContractLogicError

    tx = {"to": method.contract.address, "from": sender.address, "data": method.encode_input(*args)}
    try:
        method.provider.web3.eth.call(tx)
    except ContractLogicError as exc:
        return str(exc.message).removeprefix("execution reverted: ")
    return None


def warp(seconds: int) -> None:
    from ape import chain

    chain.pending_timestamp = chain.pending_timestamp + seconds
    chain.mine()


def story(demo: Any) -> dict[str, Any]:
    """Run the story on `demo` (a scripts._demo.world.Demo) and print it; returns the key facts."""
    from ape import chain, project

    net = da_step.start(demo)  # the DA devnet comes up while the model loads
    token_step._setup(demo)
    w = demo.ai_world = ai_step._setup(demo)
    svc, c, fm = w.svc, w.c, demo.d.fork_manager
    people = {"carol": demo.carol, "dave": demo.dave, "erin": demo.erin}
    names = {a.address: n.capitalize() for n, a in people.items()}
    print("\n##### The AI-settled prediction market")
    usdc = demo.deployer.deploy(project.StableToken, "USD Coin", "USDC", demo.deployer)
    market = demo.deployer.deploy(project.PredictionMarket, usdc, c, fm, APPEAL_S, MIN_CHALLENGE_S)
    print(f"PredictionMarket at {market.address}: bets in USDC ({usdc.address}); verdicts from InferenceDisputes "
          f"({c.address}); the ForkManager ({fm.address}) as last resort; appeal window {APPEAL_S} s.")  # fmt: skip

    # 1. the question, its inputs on DA, the request it fixes
    record = InputRecord(QUESTION, INPUTS)
    t0 = time.perf_counter()
    records = net.records()
    cert = records.put(record.to_json())
    print(f"\nThe input record ({len(record.to_json())} bytes) is dispersed to DA; its certificate passes "
          f"checkDACert on chain ({time.perf_counter() - t0:.1f} s incl. waiting for the devnet).")  # fmt: skip
    req = request_hash(svc, record)
    q = QUESTION
    now = chain.pending_timestamp
    r = market.createQuestion(q.question_hash(), q.template_hash(), inputs_ref(cert), req, now + CLOSE_S,
                              now + RESOLVE_S, sender=demo.erin)  # fmt: skip
    qid = event(r, "QuestionCreated").questionId
    print(f"Question {qid}: {q.text!r}\n  request {req.hex()[:16]}… (model, parameters, prompt tokens, the "
          "YES/NO grammar); bets close in 1 h.")  # fmt: skip

    # 2. bets
    for who, yes, amount in BETS:
        acct = people[who]
        usdc.mint(acct, amount * USDC, sender=demo.deployer)
        usdc.approve(market, amount * USDC, sender=acct)
        market.bet(qid, yes, amount * USDC, sender=acct)
        print(f"  {who.capitalize()} bets {amount} USDC on {'YES' if yes else 'NO'}.")
    warp(CLOSE_S + 1)
    print("The market closes.")

    # 3. a tampered verdict, proven wrong from the DA record
    a_key = w.signing[demo.op_a.address].to_bytes()
    honest = answer(svc, a_key, record, demo.erin.address)
    truth = verdict_of(honest)
    lie = "NO" if truth == "YES" else "YES"
    bad = forged_verdict(svc, honest, f'{{"answer":"{lie}"}}', a_key)
    register(c, bad, demo.op_a)
    market.proposeVerdict(qid, *proposal_args(bad), sender=demo.op_a)
    print(f"\nOperator A posts the verdict {lie} (receipt {bad.digest().hex()[:16]}…).")
    check = check_verdict(cert, records, svc, bad, bytes(market.getQuestion(qid).requestHash))
    print(f"  Erin fetches the input record from DA by its certificate and re-executes: the model says "
          f"{check.correct}, the receipt says {check.claimed}: dispute.")  # fmt: skip
    c.challengeReceipt(bad.digest(), sender=demo.erin, value=c.CHALLENGE_BOND())
    rex = reexecute_with(svc, bad)
    _, ev, before, after = w.prove_wrong(bad.digest(), rex.correct_output, demo.erin)
    slashed = before - after
    print(f"  B and C re-execute and sign the correct output: A is slashed {fmt(slashed)} {demo.syms[0]} shares "
          f"(slash {ev.slashId}); Erin's bond comes back.")  # fmt: skip
    warp(ai_step.WINDOW_S + APPEAL_S + 1)
    market.settle(qid, sender=demo.erin)
    print("  After the appeal window the market discards A's verdict.")

    # 4. the honest verdict, disputed anyway, appealed to the fork, settled
    register(c, honest, demo.op_a)
    market.proposeVerdict(qid, *proposal_args(honest), sender=demo.op_a)
    loser = next(people[n] for n, yes, _ in BETS if yes != (truth == "YES"))
    print(f"\nOperator A posts the honest verdict {truth}; {names[loser.address]}, who bet the other way, "
          "challenges it anyway.")  # fmt: skip
    c.challengeReceipt(honest.digest(), sender=loser, value=c.CHALLENGE_BOND())
    w.post_verdict(honest.digest(), reexecute_with(svc, honest).correct_output, demo.erin)
    print("  B and C re-execute and uphold it; the bond goes to operator A.")
    bond = fm.bondAmount()
    demo.d.eigen.transfer(loser, bond, sender=demo.deployer)
    demo.d.eigen.approve(fm, bond, sender=loser)
    fm.challenge([demo.op_b, w.op_c], market.appealEvidence(qid), sender=loser)
    cid = fm.challengeCount()
    market.appealToFork(qid, cid, sender=loser)
    print(f"  {names[loser.address]} appeals to the fork: burns {fmt(bond)} EIGEN to accuse B and C "
          f"(ForkManager challenge {cid}); the question freezes.")  # fmt: skip
    warp(ai_step.WINDOW_S + APPEAL_S + 1)
    frozen = refusal(market.settle, qid, sender=demo.erin)
    print(f"  Past the appeal window, settle is refused: {frozen!r}.")
    chain.mine(fm.challengeWindowBlocks())
    fm.queueResolution(cid, False, sender=demo.deployer)
    chain.mine(fm.timelockBlocks())
    fm.executeResolution(cid, sender=demo.deployer)
    r = market.settle(qid, sender=demo.erin)
    outcome = OUTCOMES[event(r, "Settled").outcome]
    print(f"  Governance rejects the fork (the bond stays burned); the market settles: {outcome}.")
    paid = {}
    for who, acct in people.items():
        due = market.payoutOf(qid, acct)
        if due:
            market.claim(qid, sender=acct)
        paid[who] = due
        print(f"  {who.capitalize()} collects {due / USDC:,.6f} USDC.")
    assert usdc.balanceOf(market) == 0
    return {
        "market": market.address,
        "question": qid,
        "truth": truth,
        "outcome": outcome,
        "slashed_shares": slashed,
        "refused_while_frozen": frozen,
        "fork_challenge": cid,
        "paid": paid,
    }


def main() -> None:
    from scripts._demo.world import Demo

    demo = Demo()
    try:
        story(demo)
    finally:
        da_step.stop(demo)
