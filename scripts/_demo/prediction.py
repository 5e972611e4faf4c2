"""Demo step for the AI-settled prediction market with inputs recorded after the close
(contracts/agent/PredictionMarket.vy, docs/agent.md, *The AI-settled prediction market*).

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py after the inference step (its model,
InferenceDisputes and operators A, B and C: ``demo.ai_world``) and with the demo's DA devnet up
(``demo.da_net``, which the DA step stops later). It deploys a stable token and a PredictionMarket and
tells a short story: a question whose inputs do not exist yet ("did ETH close the session above
3,000 USDC?") fixes the model, the parameters and the YES/NO grammar and names three data sources (price
feeds' keys), two of which must sign the same recording; Carol, Dave and Erin bet; after the close feed C
signs a recording of a different close (counted alone: not recorded), feed A disperses its data to DA
and feeds A and B sign that recording, which Carol relays on-chain in one call (a recording before the
close, and one not signed by the feed it names, are refused); Erin checks the recording against the DA
record; operator A answers from exactly those inputs (computing while the feed disperses them) and
posts the verdict; the losing bettor re-executes it from the DA record and challenges it anyway: B and C
uphold it and the bond goes to A; the market settles and the winners collect. About 20-30 s on the shared 2-core machine, most of it the dispersal.
(`ape run prediction_market` tells the longer story of a question fixed at creation, a tampered verdict
and the fork.)
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak

from offchain.agent.prediction import (
    OUTCOMES,
    InputRecord,
    Question,
    answer,
    check_recording,
    check_verdict,
    proposal_args,
    recording_of,
    request_base,
    verdict_of,
)
from scripts._demo.common import event
from scripts.prediction_market import BETS, MIN_CHALLENGE_S, RESOLVE_S, USDC, refusal, register, warp

APPEAL_S = 60  # the market's appeal window after the inference set's decision deadline
CLOSE_S = 60
RECORD_S = 600  # the recording deadline, after the close
QUESTION = Question("Did ETH/USDC close the session above 3,000 USDC?")
# what the feed publishes at the close (it did not exist when the bets were made)
AT_CLOSE = "ETH/USDC session close: 3,120.50 USDC (high 3,201.00, low 2,954.25); 24 h volume 1.2B USDC."
FEED_SEED = b"demo ETH/USDC price feed"
FEEDS = 3  # named sources
THRESHOLD = 2  # of them must sign the same recording
# what feed C signs instead (a minority: it cannot record it)
DISSENT_CLOSE = "2,954.25 USDC"
DISSENT = f"ETH/USDC session close: {DISSENT_CLOSE}; 24 h volume 1.2B USDC."


def fmt_usdc(x: int) -> str:
    return f"{x / USDC:,.6f}"


def run(demo: Any) -> dict[str, Any]:
    """Run the prediction-market step on `demo` and print what happened; returns the key facts."""
    # beside the others' work: the DA client's setup, operator A's answer, Erin's check of the recording
    with ThreadPoolExecutor(1) as pool:
        return _story(demo, pool, time.perf_counter())


def _story(demo: Any, pool: ThreadPoolExecutor, t0: float) -> dict[str, Any]:
    from ape import chain, project

    w = demo.ai_world  # set by the ai step (scripts/_demo/ai.py)
    svc, c = w.svc, w.c
    net = demo.da_net  # started by the ai step, used by the trading step; the DA step stops it
    people = {"carol": demo.carol, "dave": demo.dave, "erin": demo.erin}
    feeds = [Account.from_key(keccak(FEED_SEED + (b"" if i == 0 else b" %d" % i))) for i in range(FEEDS)]
    feed = feeds[0]
    da_client = pool.submit(net.records)  # the DA client (its SRS loaded) while the market is set up
    print(
        "\n##### The AI-settled prediction market: inputs recorded after the close, a verdict disputed and upheld"
    )
    usdc = demo.deployer.deploy(project.StableToken, "USD Coin", "USDC", demo.deployer)
    market = demo.deployer.deploy(
        project.PredictionMarket, usdc, c, demo.d.fork_manager, APPEAL_S, MIN_CHALLENGE_S
    )
    q = QUESTION
    now = chain.pending_timestamp
    r = market.createRecordedQuestion(q.question_hash(), q.template_hash(), request_base(svc, q),
                                      [f.address for f in feeds], THRESHOLD, 0, now + CLOSE_S, now + RECORD_S,
                                      now + RESOLVE_S, sender=demo.erin)  # fmt: skip
    qid = event(r, "QuestionCreated").questionId
    print(
        f"PredictionMarket at {market.address} (bets in USDC, verdicts from InferenceDisputes {c.address})."
    )
    print(f"Question {qid}: {q.text!r}; the model, parameters and YES/NO grammar are fixed now; the inputs are "
          f"the ETH/USDC feeds' data at the close (feeds A {feeds[0].address[:10]}…, B {feeds[1].address[:10]}…, "
          f"C {feeds[2].address[:10]}…), recorded when {THRESHOLD} of the {FEEDS} sign the same recording within "
          f"{RECORD_S // 60} min after it.")  # fmt: skip
    start = {}
    for who, yes, amount in BETS:
        acct = people[who]
        usdc.mint(acct, amount * USDC, sender=demo.deployer)
        start[who] = usdc.balanceOf(acct)
        usdc.approve(market, amount * USDC, sender=acct)
        market.bet(qid, yes, amount * USDC, sender=acct)
        print(f"  {who.capitalize()} bets {amount} USDC on {'YES' if yes else 'NO'}.")

    # the close; the feed's data, dispersed to DA and signed; anyone relays the recording
    record = InputRecord(q, AT_CLOSE)
    records = da_client.result()
    early = recording_of(svc, record, {"not yet": "dispersed"}, chain.chain_id, market.address, qid)
    before_close = refusal(
        market.recordInputs, *early.args((feed.address, early.sign(feed.key))), sender=demo.carol
    )
    warp(CLOSE_S + 1)
    # feed C signs another close (a record it never dispersed): alone, it records nothing
    dissent = recording_of(
        svc, InputRecord(q, DISSENT), {"feed C's": "record"}, chain.chain_id, market.address, qid
    )
    r = market.recordInputs(*dissent.args((feeds[2].address, dissent.sign(feeds[2].key))), sender=demo.dave)
    dissent_votes = event(r, "SourceSigned").signatures
    # operator A computes its answer from the feed's published data while the feed disperses it (the model runs in
    # one thread at a time: the worker here, the main thread after)
    a_answer = pool.submit(answer, svc, w.signing[demo.op_a.address].to_bytes(), record, demo.erin.address)
    cert = records.put(record.to_json())
    honest = a_answer.result()
    rec = recording_of(svc, record, cert, chain.chain_id, market.address, qid)
    forged = refusal(
        market.recordInputs, *rec.args((feed.address, rec.sign(demo.dave.private_key))), sender=demo.dave
    )
    r = market.recordInputs(
        *rec.args(*((f.address, rec.sign(f.key)) for f in feeds[:THRESHOLD])), sender=demo.carol
    )
    recorded = event(r, "InputsRecorded")
    status = net.checker().check_da_cert(cert)
    print(f"The market closes. A recording before the close was refused ({before_close!r}); after it, feed C "
          f"signs another close ({DISSENT_CLOSE}): relayed, it counts {dissent_votes} of {THRESHOLD}, nothing "
          f"is recorded. Feed A disperses its data to DA (blob {cert['blob_key'][:12]}…, checkDACert: {status}); "
          f"feeds A and B sign that recording:")  # fmt: skip
    print(f"  recorded inputs: {AT_CLOSE!r}")
    print(f"  Carol relays it (recordInputs, both signatures in one call: inputs ref "
          f"{bytes(recorded.inputsRef).hex()[:16]}…, request {bytes(recorded.requestHash).hex()[:16]}…); one Dave "
          f"signed in feed A's name: {forged!r}.")  # fmt: skip
    erin_check = pool.submit(
        check_recording, cert, records, svc, rec, q
    )  # while operator A posts its verdict

    # the verdict over exactly the recorded inputs; a losing bettor disputes it anyway
    truth = verdict_of(honest)
    register(c, honest, demo.op_a)
    market.proposeVerdict(qid, *proposal_args(honest), sender=demo.op_a)
    erin_check.result()
    print(
        "  Erin fetches the record from DA by its certificate: the question and the prompt the recording names match it."
    )
    print(
        f"Operator A posts its answer over the recorded inputs (computed while they were dispersed): the verdict "
        f"is {truth} (receipt {honest.digest().hex()[:16]}…, registered after the close)."
    )
    loser_name = next(n for n, yes, _ in BETS if yes != (truth == "YES"))
    loser = people[loser_name]
    check = check_verdict(
        cert, records, svc, honest, bytes(market.getQuestion(qid).requestHash), recorded=True
    )
    bond = c.CHALLENGE_BOND()
    c.challengeReceipt(honest.digest(), sender=loser, value=bond)
    r = w.post_verdict(honest.digest(), check.reexecution.correct_output, demo.erin)
    upheld = event(r, "ChallengeRejected").bondForfeited == bond
    print(f"  {loser_name.capitalize()}, who bet the other way, re-executes it from the DA record (the model says "
          f"{check.correct}, as the receipt) and challenges anyway: B and C's re-execution upholds it; the "
          f"{bond / 10**18:g} ETH bond goes to operator A.")  # fmt: skip
    warp(c.RESOLUTION_WINDOW() + APPEAL_S + 1)
    outcome = OUTCOMES[event(market.settle(qid, sender=demo.erin), "Settled").outcome]
    print(
        f"After the appeal window the market settles: {outcome}. Payouts (pari-mutuel, the whole pool to the winners):"
    )
    paid, balances = {}, {}
    for who, yes, amount in BETS:
        acct = people[who]
        due = market.payoutOf(qid, acct)
        if due:
            market.claim(qid, sender=acct)
        paid[who], balances[who] = due, usdc.balanceOf(acct)
        print(f"  {who.capitalize()} (bet {amount} USDC on {'YES' if yes else 'NO'}) collects {fmt_usdc(due)} USDC; "
              f"balance {fmt_usdc(start[who])} -> {fmt_usdc(balances[who])} USDC.")  # fmt: skip
    left = usdc.balanceOf(market)
    print(f"The market keeps {fmt_usdc(left)} USDC ({time.perf_counter() - t0:.1f} s for this step).")
    return {
        "market": market.address,
        "question": qid,
        "source": feed.address,
        "sources": [f.address for f in feeds],
        "dissent_votes": dissent_votes,
        "inputs_ref": bytes(recorded.inputsRef).hex(),
        "cert_status": status,
        "refused_before_close": before_close,
        "refused_wrong_signer": forged,
        "truth": truth,
        "outcome": outcome,
        "dispute_upheld": upheld,
        "paid": paid,
        "balances": balances,
        "left": left,
    }
