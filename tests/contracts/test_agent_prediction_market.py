"""PredictionMarket (contracts/agent/PredictionMarket.vy) over InferenceDisputes and the ForkManager,
with receipts of the tiny model: pari-mutuel bets and exact payouts, an honest verdict settling after
its challenge window, an honest verdict disputed and upheld, a tampered verdict proven wrong (its
operator slashed, the verdict discarded, the correct one settling), voids with refunds, the fork as
last resort (adopted: void; rejected: the set's decision), and every refusal. Recorded questions:
inputs recorded after the close by the data source's EIP-712 signature (any relayer; an ERC-1271
source too), a contradicting recording voiding the question, no recording by the deadline voiding it,
and every refusal of the recording. k of n sources: votes relayed in one call or accumulated,
source bonds, equivocation proven (the vote struck, the bond forfeited, a broken quorum void), a
conflicting quorum void when 2k <= n, the recorded inputs appealed to the fork (adopted: void;
rejected: the question goes on), every refusal, and a Hypothesis property over random honest,
lying, equivocating and silent sources (the honest inputs or void); the contract's size under
EIP-170."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError

from offchain.agent.errors import PredictionError
from offchain.agent.prediction import (
    InputRecord,
    Question,
    Recording,
    answer,
    appeal_evidence,
    inputs_appeal_evidence,
    prompt_hash,
    proposal_args,
    receipt_request_hash,
    recorded_request_hash,
    request_base,
    request_hash,
    verdict_of,
)
from offchain.ai.receipt import text_hash
from offchain.chain.inference_disputes import receipt_args
from scripts.prediction_market import forged_verdict
from tests.contracts.support import (
    BOND,
    CHALLENGE_WINDOW,
    RESOLUTION_WINDOW,
    TokenWorld,
    evs,
    example_settings,
    one,
    reverts,
)

APPEAL = 300
MIN_CHALLENGE = 120
CLOSE_IN = 1000
RESOLVE_IN = 5000
UNIT = 10**6
ZERO32 = b"\x00" * 32
QUESTION = Question("Did the quarterly report say that revenue grew?")
INPUTS = "Revenue: 10.2M (prior quarter: 11.0M). Outlook: flat."
RECORD = InputRecord(QUESTION, INPUTS)


@pytest.fixture(scope="module")
def pm(project, chain, accounts, deployment, dworld):
    d, w = dworld, dworld.w
    tw = TokenWorld(project, chain, accounts, deployment)
    usd = w.owner.deploy(project.StableToken, "USD Coin", "USDC", w.owner)
    market = w.owner.deploy(project.PredictionMarket, usd, d.c, tw.fm, APPEAL, MIN_CHALLENGE)
    d.tw, d.usd, d.market = tw, usd, market
    d.alice, d.bob, d.carol = w.avs2, w.recipient, w.resolver
    for who in (d.alice, d.bob, d.carol):
        usd.mint(who, 1_000 * UNIT, sender=w.owner)
        usd.approve(market, 2**256 - 1, sender=who)
    d.honest = answer(d.svc, d.keys[0].to_bytes(), RECORD, d.client.address)
    d.truth = verdict_of(d.honest)  # what the tiny model answers; the tests hold for either
    d.lie = "NO" if d.truth == "YES" else "YES"
    d.code = 1 if d.truth == "YES" else 2
    return d


def now(d):
    return d.chain.pending_timestamp


def create(d, record=RECORD, close_in=CLOSE_IN, resolve_in=RESOLVE_IN):
    q = record.question
    r = d.market.createQuestion(
        q.question_hash(), q.template_hash(), keccak(b"cert"), request_hash(d.svc, record),
        now(d) + close_in, now(d) + resolve_in, sender=d.watcher,
    )  # fmt: skip
    return one(r, "QuestionCreated").questionId


def bets(d, qid):
    """alice 100 on the wrong answer, bob 300 and carol 50 on the right one (a pool of 450)."""
    right = d.truth == "YES"
    d.market.bet(qid, not right, 100 * UNIT, sender=d.alice)
    d.market.bet(qid, right, 300 * UNIT, sender=d.bob)
    d.market.bet(qid, right, 50 * UNIT, sender=d.carol)


def warp(d, seconds):
    """Move the clock and mine a block, so eth_calls (``reverts``) see the new time too."""
    d.warp(seconds)
    d.chain.mine()


def close(d, qid):
    q = d.market.getQuestion(qid)
    warp(d, q.closeTime - now(d) + 1)


def closed_market(d):
    """A question with the default bets, closed."""
    qid = create(d)
    bets(d, qid)
    close(d, qid)
    return qid


def disputed(d):
    """A closed question whose honest verdict was posted and challenged."""
    qid = closed_market(d)
    d.register(d.honest)
    propose(d, qid, d.honest)
    d.challenge(d.honest)
    return qid


def propose(d, qid, receipt, sender=None, expect=None):
    args = proposal_args(receipt)
    if expect is not None:
        return reverts(expect, d.market.proposeVerdict, qid, *args, sender=sender or d.watcher)
    return d.market.proposeVerdict(qid, *args, sender=sender or d.watcher)


def forged(d, receipt, text, key_index=0):
    """What a dishonest operator signs: `text` as the answer (scripts/prediction_market.py)."""
    return forged_verdict(d.svc, receipt, text, d.keys[key_index].to_bytes())


def balance(d, who):
    return d.usd.balanceOf(who)


def test_request_hash_matches_the_contract(pm):
    d = pm
    struct, options_hash, _ = proposal_args(d.honest)
    assert bytes(d.market.requestHashOf(struct, options_hash)) == receipt_request_hash(d.honest)
    assert receipt_request_hash(d.honest) == request_hash(d.svc, RECORD)
    assert bytes(d.market.YES_TEXT()) == text_hash('{"answer":"YES"}')
    qid = create(d)
    ev = appeal_evidence(d.chain.chain_id, d.market.address, qid, ZERO32)
    assert bytes(d.market.appealEvidence(qid)) == ev


def test_bets_honest_verdict_and_exact_payouts(pm):
    d = pm
    qid = create(d)
    reverts("zero amount", d.market.bet, qid, True, 0, sender=d.alice)
    reverts("unknown question", d.market.bet, qid + 1, True, 1, sender=d.alice)
    reverts("market open", d.market.settle, qid, sender=d.watcher)
    bets(d, qid)
    q = d.market.getQuestion(qid)
    assert sorted((q.yesPool, q.noPool)) == [100 * UNIT, 350 * UNIT]
    d.register(d.honest)  # registered before the close: refused as a verdict
    reverts("market open", d.market.proposeVerdict, qid, *proposal_args(d.honest), sender=d.watcher)
    close(d, qid)
    reverts("market closed", d.market.bet, qid, True, 1, sender=d.alice)
    propose(d, qid, d.honest, expect="receipt registered before close")
    reverts("no verdict yet", d.market.settle, qid, sender=d.watcher)
    honest = answer(d.svc, d.keys[1].to_bytes(), RECORD, d.client.address)  # a fresh registration
    d.register(honest)
    r = propose(d, qid, honest)
    assert one(r, "VerdictProposed").verdict == d.code
    propose(d, qid, honest, expect="verdict pending")
    reverts("dispute window open", d.market.settle, qid, sender=d.watcher)
    reverts("not settled", d.market.claim, qid, sender=d.bob)
    warp(d, CHALLENGE_WINDOW + 1)
    r = d.market.settle(qid, sender=d.watcher)
    assert one(r, "Settled").outcome == d.code
    reverts("market settled", d.market.settle, qid, sender=d.watcher)
    propose(d, qid, honest, expect="market settled")
    # pari-mutuel: pool 450 to the right side's 350; bob floor(450*300/350), carol the rest
    assert d.market.payoutOf(qid, d.bob) == 450 * UNIT * 300 // 350
    before = balance(d, d.bob), balance(d, d.carol)
    d.market.claim(qid, sender=d.bob)
    d.market.claim(qid, sender=d.carol)
    paid = balance(d, d.bob) - before[0], balance(d, d.carol) - before[1]
    assert paid == (450 * UNIT * 300 // 350, 450 * UNIT - 450 * UNIT * 300 // 350)
    assert balance(d, d.market) == 0
    reverts("nothing to claim", d.market.claim, qid, sender=d.bob)
    reverts("nothing to claim", d.market.claim, qid, sender=d.alice)


def test_honest_verdict_disputed_is_upheld(pm):
    d = pm
    qid = disputed(d)
    reverts("verdict disputed", d.market.settle, qid, sender=d.watcher)
    r = d.resolve(d.honest)
    assert one(r, "ChallengeRejected", d.c).bondForfeited == BOND  # the challenger loses its bond
    reverts("appeal window open", d.market.settle, qid, sender=d.watcher)
    warp(d, RESOLUTION_WINDOW + APPEAL + 1)
    reverts("appeal window closed", d.market.appealToFork, qid, 1, sender=d.watcher)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code


def test_tampered_verdict_is_proven_wrong_slashed_and_replaced(pm):
    d = pm
    qid = closed_market(d)
    bad = forged(d, d.honest, f'{{"answer":"{d.lie}"}}')
    assert verdict_of(bad) == d.lie
    d.register(bad)
    propose(d, qid, bad)
    d.challenge(bad)
    r = d.resolve(bad)
    ev = one(r, "ReceiptProvenWrong", d.c)
    assert ev.operator == d.ops[0].address and ev.slashId != 0  # the resolver's operator is slashed
    propose(d, qid, d.honest, expect="verdict pending")
    reverts("appeal window open", d.market.settle, qid, sender=d.watcher)
    warp(d, RESOLUTION_WINDOW + APPEAL + 1)
    r = d.market.settle(qid, sender=d.watcher)
    assert one(r, "VerdictDiscarded").receiptStatus == 4
    assert d.market.getQuestion(qid).receiptDigest == ZERO32
    # the correct verdict, freshly registered, settles the question: it flips
    d.register(d.honest)
    propose(d, qid, d.honest)
    warp(d, CHALLENGE_WINDOW + 1)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code
    reverts("nothing to claim", d.market.claim, qid, sender=d.alice)


def test_void_refunds_everyone(pm):
    d = pm
    qid = closed_market(d)
    reverts("no verdict yet", d.market.settle, qid, sender=d.watcher)
    warp(d, RESOLVE_IN)
    d.register(d.honest)
    propose(d, qid, d.honest, expect="resolution deadline passed")
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3
    before = [balance(d, x) for x in (d.alice, d.bob, d.carol)]
    for x in (d.alice, d.bob, d.carol):
        d.market.claim(qid, sender=x)
    after = [balance(d, x) for x in (d.alice, d.bob, d.carol)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [100 * UNIT, 300 * UNIT, 50 * UNIT]
    assert balance(d, d.market) == 0
    # nobody on the winning side: void as well
    q2 = create(d)
    d.market.bet(q2, d.lie == "YES", 7 * UNIT, sender=d.alice)
    close(d, q2)
    honest = answer(d.svc, d.keys[2].to_bytes(), RECORD, d.client.address)
    d.register(honest)
    propose(d, q2, honest)
    warp(d, CHALLENGE_WINDOW + 1)
    assert one(d.market.settle(q2, sender=d.watcher), "Settled").outcome == 3
    assert d.market.claim(q2, sender=d.alice).return_value == 7 * UNIT


def test_expired_challenge_discards_the_verdict(pm):
    d = pm
    qid = disputed(d)
    warp(d, RESOLUTION_WINDOW + 1)
    d.c.expireChallenge(d.honest.digest(), sender=d.watcher)
    assert one(d.market.settle(qid, sender=d.watcher), "VerdictDiscarded").receiptStatus == 5


def _upheld_and_appealed(d):
    qid = closed_market(d)
    d.register(d.honest)
    propose(d, qid, d.honest)
    reverts("set has not decided", d.market.appealToFork, qid, 1, sender=d.watcher)
    d.challenge(d.honest)
    reverts("set has not decided", d.market.appealToFork, qid, 1, sender=d.watcher)
    d.resolve(d.honest)
    tw = d.tw
    reverts("fork challenge not pending", d.market.appealToFork, qid, 1, sender=d.watcher)
    _, other, _ = tw.open_challenge(tw.other, [d.ops[1]], evidence=b"\x22" * 32)
    reverts("fork challenge is about something else", d.market.appealToFork, qid, other, sender=d.watcher)
    tw.resolve(other, False)  # one challenge at a time: clear it
    evidence = bytes(d.market.appealEvidence(qid))
    _, cid, _ = tw.open_challenge(tw.other, [d.ops[1], d.ops[2]], evidence=evidence)
    r = d.market.appealToFork(qid, cid, sender=d.watcher)
    assert one(r, "AppealedToFork").challengeId == cid
    reverts("already appealed", d.market.appealToFork, qid, cid, sender=d.watcher)
    warp(d, RESOLUTION_WINDOW + APPEAL + 1)
    reverts("fork pending", d.market.settle, qid, sender=d.watcher)
    return qid, cid


def test_fork_adoption_voids_an_upheld_verdict(pm):
    d = pm
    qid, cid = _upheld_and_appealed(d)
    d.tw.resolve(cid, True)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3
    assert d.market.claim(qid, sender=d.alice).return_value == 100 * UNIT


def test_fork_rejection_lets_the_set_decide(pm):
    d = pm
    qid, cid = _upheld_and_appealed(d)
    d.tw.resolve(cid, False)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code


def test_fork_adoption_restores_a_verdict_the_set_called_wrong(pm):
    """Adoption says the set's decision was corrupt: over a verdict it proved wrong, the verdict
    stands. A fork challenge opened before the verdict was posted cannot freeze it."""
    d, tw = pm, pm.tw
    qid = closed_market(d)
    bad = forged(d, d.honest, f'{{"answer":"{d.lie}"}}')
    evidence = appeal_evidence(d.chain.chain_id, d.market.address, qid, bad.digest())
    _, early, _ = tw.open_challenge(tw.other, [d.ops[1], d.ops[2]], evidence=evidence)
    d.register(bad)
    propose(d, qid, bad)
    d.challenge(bad)
    d.resolve(bad)
    reverts("fork challenge predates the verdict", d.market.appealToFork, qid, early, sender=d.watcher)
    tw.resolve(early, False)
    _, cid, _ = tw.open_challenge(tw.other, [d.ops[1], d.ops[2]], evidence=evidence)
    d.market.appealToFork(qid, cid, sender=d.watcher)
    tw.resolve(cid, True)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3 - d.code  # the lie stands
    assert d.market.claim(qid, sender=d.alice).return_value == 450 * UNIT


def test_hostile_verdicts_are_refused(pm):
    d = pm
    qid = create(d)
    close(d, qid)
    # another question's receipt
    other = answer(d.svc, d.keys[0].to_bytes(), InputRecord(QUESTION, "Revenue: 12M."), d.client.address)
    d.register(other)
    propose(d, qid, other, expect="receipt is for another request")
    struct, opts, th = proposal_args(d.honest)
    reverts(
        "receipt is for another request",
        d.market.proposeVerdict,
        qid,
        struct,
        keccak(b"x"),
        th,
        sender=d.watcher,
    )
    reverts(
        "receipt options not bound",
        d.market.proposeVerdict,
        qid,
        struct,
        opts,
        keccak(b"x"),
        sender=d.watcher,
    )
    # a signed answer outside the grammar
    maybe = forged(d, d.honest, '{"answer":"MAYBE"}')
    with pytest.raises(PredictionError, match="not a YES/NO verdict"):
        proposal_args(maybe)
    struct_m, _ = receipt_args(maybe)
    reverts(
        "verdict is not YES or NO",
        d.market.proposeVerdict,
        qid,
        struct_m,
        opts,
        maybe.text_hash,
        sender=d.watcher,
    )
    propose(d, qid, d.honest, expect="receipt not registered")
    d.register(d.honest)
    d.challenge(d.honest)
    propose(d, qid, d.honest, expect="receipt already disputed")
    late = answer(d.svc, d.keys[1].to_bytes(), RECORD, d.client.address)
    d.register(late)
    warp(d, CHALLENGE_WINDOW - MIN_CHALLENGE + 5)
    propose(d, qid, late, expect="receipt's challenge window too short")
    reverts("unknown question", d.market.proposeVerdict, 999, struct, opts, th, sender=d.watcher)
    reverts("no verdict", d.market.appealToFork, qid, 1, sender=d.watcher)
    # creation and deployment
    w = d.w
    q = QUESTION
    reverts(
        "close time passed",
        d.market.createQuestion,
        q.question_hash(),
        ZERO32,
        ZERO32,
        ZERO32,
        now(d) - 1,
        now(d) + 9,
        sender=w.other,
    )
    reverts(
        "deadline before close",
        d.market.createQuestion,
        q.question_hash(),
        ZERO32,
        ZERO32,
        ZERO32,
        now(d) + 9,
        now(d) + 9,
        sender=w.other,
    )
    zero = "0x" + "00" * 20
    with pytest.raises(Exception, match="zero address"):
        w.owner.deploy(d.project.PredictionMarket, zero, d.c, d.tw.fm, APPEAL, MIN_CHALLENGE)
    with pytest.raises(Exception, match="bad window"):
        w.owner.deploy(d.project.PredictionMarket, d.usd, d.c, d.tw.fm, APPEAL, CHALLENGE_WINDOW + 1)


def test_token_that_returns_false_is_refused(pm, project):
    d = pm
    bad = d.w.owner.deploy(project.MockFalseERC20, "Bad", "BAD")
    market = d.w.owner.deploy(project.PredictionMarket, bad, d.c, d.tw.fm, APPEAL, MIN_CHALLENGE)
    bad.mint(d.alice, 10, sender=d.w.owner)
    bad.approve(market, 10, sender=d.alice)
    qid = one(
        market.createQuestion(ZERO32, ZERO32, ZERO32, ZERO32, now(d) + 10, now(d) + 20, sender=d.alice),
        "QuestionCreated",
    ).questionId
    market.bet(qid, True, 10, sender=d.alice)
    warp(d, 30)
    market.settle(qid, sender=d.alice)  # void: no verdict
    bad.setFailTransfers(True, sender=d.w.owner)
    reverts("transfer failed", market.claim, qid, sender=d.alice)
    assert market.yesStake(qid, d.alice) == 10  # nothing lost: the claim can be retried
    bad.setFailTransfers(False, sender=d.w.owner)
    assert market.claim(qid, sender=d.alice).return_value == 10


# ---------------------------------------------------------------- recorded questions

SOURCE = Account.from_key(keccak(b"prediction market test data source"))
INTRUDER = Account.from_key(keccak(b"not the data source"))
RECORD_IN = 2000  # the recording deadline, after the close (CLOSE_IN) and before RESOLVE_IN
SRCS = [Account.from_key(keccak(b"prediction market source %d" % i)) for i in range(8)]
N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def create_recorded(d, source=SOURCE.address, close_in=CLOSE_IN, record_in=RECORD_IN, resolve_in=RESOLVE_IN,
                    sources=None, k=1, bond=0, sender=None):  # fmt: skip
    q = QUESTION
    r = d.market.createRecordedQuestion(
        q.question_hash(), q.template_hash(), request_base(d.svc, q), sources or [source], k, bond,
        now(d) + close_in, now(d) + record_in, now(d) + resolve_in, sender=sender or d.watcher,
    )  # fmt: skip
    return one(r, "RecordedQuestionCreated").questionId


def recording(d, qid, record=RECORD, cert=b"cert"):
    return Recording(d.chain.chain_id, d.market.address, qid, keccak(cert), prompt_hash(d.svc, record))


def fresh_answer(d, record=RECORD):
    """An honest verdict with a receipt of its own (a client address never used before)."""
    d.fresh = getattr(d, "fresh", 0) + 1
    return answer(d.svc, d.keys[0].to_bytes(), record, "0x" + keccak(b"client %d" % d.fresh)[:20].hex())


def test_recorded_question_hashes_match_the_contract(pm):
    d = pm
    receipt = fresh_answer(d)
    struct, options_hash, _ = proposal_args(receipt)
    assert bytes(d.market.requestBaseOf(struct, options_hash)) == request_base(d.svc, QUESTION)
    rec = recording(d, 7)
    assert bytes(d.market.recordingDigest(7, rec.inputs_ref, rec.prompt_hash)) == rec.digest()
    assert rec.signer(rec.sign(SOURCE.key)) == SOURCE.address
    want = recorded_request_hash(request_base(d.svc, QUESTION), prompt_hash(d.svc, RECORD))
    assert receipt_request_hash(receipt, recorded=True) == request_hash(d.svc, RECORD, recorded=True) == want
    with pytest.raises(PredictionError, match="not a recording signature"):
        rec.signer(b"\x01" * 10)


def test_inputs_recorded_after_the_close_settle_the_question(pm):
    d = pm
    qid = create_recorded(d)
    q = d.market.getQuestion(qid)
    assert d.market.sourcesOf(qid) == [SOURCE.address] and q.threshold == 1
    assert q.requestHash == ZERO32 and q.inputsRef == ZERO32
    assert q.recordBy == q.closeTime + RECORD_IN - CLOSE_IN
    rec = recording(d, qid)
    sig = rec.sign(SOURCE.key)
    reverts("market open", d.market.recordInputs, *rec.args((SOURCE.address, sig)), sender=d.watcher)
    bets(d, qid)
    close(d, qid)
    receipt = fresh_answer(d)
    d.register(receipt)
    propose(d, qid, receipt, expect="inputs not recorded")
    reverts(
        "source has not signed",
        d.market.contestRecording,
        *rec.contest_args(SOURCE.address, sig),
        sender=d.watcher,
    )
    reverts("no verdict yet", d.market.settle, qid, sender=d.watcher)
    # every refusal of a recording: the wrong signer, a malformed signature, another question's, empty
    r_, s_, v_ = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high = r_ + (2 * N_HALF + 1 - s_).to_bytes(32, "big") + bytes([55 - v_])  # the same signature, high s
    for why, bad in (("invalid signature", rec.sign(INTRUDER.key)), ("invalid signature length", sig[:64]),
                     ("invalid signature v", sig[:64] + b"\x1d"), ("invalid signature s", high)):  # fmt: skip
        reverts(why, d.market.recordInputs, *rec.args((SOURCE.address, bad)), sender=d.watcher)
    other_q = recording(d, qid + 1000)
    reverts("invalid signature", d.market.recordInputs, qid, rec.inputs_ref, rec.prompt_hash,
            [SOURCE.address], [other_q.sign(SOURCE.key)], sender=d.watcher)  # fmt: skip
    empty = Recording(d.chain.chain_id, d.market.address, qid, ZERO32, rec.prompt_hash)
    reverts(
        "empty recording",
        d.market.recordInputs,
        *empty.args((SOURCE.address, empty.sign(SOURCE.key))),
        sender=d.watcher,
    )
    # anyone relays the source's recording
    r = d.market.recordInputs(*rec.args((SOURCE.address, sig)), sender=d.alice)
    ev = one(r, "InputsRecorded")
    assert ev.recorder == d.alice.address and bytes(ev.promptHash) == rec.prompt_hash
    q = d.market.getQuestion(qid)
    assert bytes(q.inputsRef) == rec.inputs_ref
    assert bytes(q.requestHash) == request_hash(d.svc, RECORD, recorded=True)
    reverts("duplicate signer", d.market.recordInputs, *rec.args((SOURCE.address, sig)), sender=d.watcher)
    reverts(
        "same recording", d.market.contestRecording, *rec.contest_args(SOURCE.address, sig), sender=d.watcher
    )
    # a verdict over other inputs is refused; the one over the recorded inputs settles
    other = fresh_answer(d, InputRecord(QUESTION, "Revenue: 12M."))
    d.register(other)
    propose(d, qid, other, expect="receipt is for another request")
    r = propose(d, qid, receipt)
    assert one(r, "VerdictProposed").verdict == d.code
    warp(d, CHALLENGE_WINDOW + 1)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code
    assert d.market.payoutOf(qid, d.bob) == 450 * UNIT * 300 // 350
    reverts(
        "market settled", d.market.contestRecording, *rec.contest_args(SOURCE.address, sig), sender=d.watcher
    )


def test_a_contradicting_recording_voids_the_question(pm):
    d = pm
    qid = create_recorded(d)
    bets(d, qid)
    close(d, qid)
    rec = recording(d, qid)
    d.market.recordInputs(*rec.args((SOURCE.address, rec.sign(SOURCE.key))), sender=d.watcher)
    receipt = fresh_answer(d)
    d.register(receipt)
    propose(d, qid, receipt)  # a verdict pending does not protect a recording the source contradicted
    second = recording(d, qid, InputRecord(QUESTION, "Revenue: 12M."), cert=b"another cert")
    reverts("invalid signature", d.market.contestRecording, *second.contest_args(SOURCE.address, second.sign(INTRUDER.key)),
            sender=d.watcher)  # fmt: skip
    same_cert = recording(d, qid, InputRecord(QUESTION, "Revenue: 12M."))  # same certificate, other prompt
    r = d.market.contestRecording(
        *same_cert.contest_args(SOURCE.address, same_cert.sign(SOURCE.key)), sender=d.bob
    )
    assert one(r, "RecordingContested").contester == d.bob.address
    assert one(r, "Settled").outcome == 3
    reverts(
        "market settled",
        d.market.recordInputs,
        *second.args((SOURCE.address, second.sign(SOURCE.key))),
        sender=d.watcher,
    )
    assert d.market.claim(qid, sender=d.alice).return_value == 100 * UNIT


def test_no_recording_by_the_deadline_voids(pm):
    d = pm
    qid = create_recorded(d)
    bets(d, qid)
    warp(d, RECORD_IN + 1)
    rec = recording(d, qid)
    reverts(
        "recording deadline passed",
        d.market.recordInputs,
        *rec.args((SOURCE.address, rec.sign(SOURCE.key))),
        sender=d.watcher,
    )
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3
    assert d.market.claim(qid, sender=d.bob).return_value == 300 * UNIT


def test_a_contract_source_answers_erc1271(pm, project):
    d = pm
    wallet = d.w.owner.deploy(project.MockERC1271Wallet, SOURCE.address)
    qid = create_recorded(d, source=wallet.address)
    close(d, qid)
    rec = recording(d, qid)
    reverts(
        "invalid signature",
        d.market.recordInputs,
        *rec.args((wallet.address, rec.sign(INTRUDER.key))),
        sender=d.watcher,
    )
    d.market.recordInputs(*rec.args((wallet.address, rec.sign(SOURCE.key))), sender=d.watcher)
    assert bytes(d.market.getQuestion(qid).inputsRef) == rec.inputs_ref


def test_recorded_question_refusals_at_creation(pm):
    d = pm
    q = QUESTION
    base = request_base(d.svc, q)
    t = now(d)
    zero = "0x" + "00" * 20
    args = (q.question_hash(), q.template_hash(), base)
    one_source = ([SOURCE.address], 1, 0)
    reverts("zero address", d.market.createRecordedQuestion, *args, [zero], 1, 0, t + 10, t + 20, t + 30,
            sender=d.watcher)  # fmt: skip
    reverts("recording deadline before close", d.market.createRecordedQuestion, *args, *one_source,
            t + 10, t + 10, t + 30, sender=d.watcher)  # fmt: skip
    reverts("deadline before recording deadline", d.market.createRecordedQuestion, *args, *one_source,
            t + 10, t + 20, t + 20, sender=d.watcher)  # fmt: skip
    reverts("close time passed", d.market.createRecordedQuestion, *args, *one_source,
            t - 1, t + 20, t + 30, sender=d.watcher)  # fmt: skip
    # the sources and the threshold: k of n, 1 <= k <= n, n <= MAX_SOURCES, distinct, non-zero
    times = (t + 10, t + 20, t + 30)
    three = [SOURCE.address, INTRUDER.address, SRCS[0].address]
    for sources, k, why in (([], 0, "bad threshold"), ([], 1, "bad threshold"), (three, 0, "bad threshold"),
                            (three, 4, "bad threshold"), ([SOURCE.address, zero], 1, "zero address"),
                            ([SOURCE.address, INTRUDER.address, SOURCE.address], 2, "duplicate source")):  # fmt: skip
        reverts(why, d.market.createRecordedQuestion, *args, sources, k, 0, *times, sender=d.watcher)
    # more than MAX_SOURCES does not even decode (a bare revert)
    eight = [a.address for a in SRCS[:7]] + [SOURCE.address]
    method = d.market.createRecordedQuestion
    tx = {
        "to": d.market.address,
        "from": d.watcher.address,
        "data": method.encode_input(*args, eight, 5, 0, *times),
    }
    with pytest.raises(ContractLogicError):
        method.provider.web3.eth.call(tx)
    assert d.market.MAX_SOURCES() == 7
    # a question whose inputs were fixed at creation takes no recording
    fixed = create(d)
    close(d, fixed)
    rec = recording(d, fixed)
    sig = rec.sign(SOURCE.key)
    reverts(
        "inputs fixed at creation", d.market.recordInputs, *rec.args((SOURCE.address, sig)), sender=d.watcher
    )
    reverts(
        "inputs fixed at creation",
        d.market.contestRecording,
        *rec.contest_args(SOURCE.address, sig),
        sender=d.watcher,
    )
    reverts(
        "unknown question",
        d.market.recordInputs,
        999_999,
        *rec.args((SOURCE.address, sig))[1:],
        sender=d.watcher,
    )


# ---------------------------------------------------------------- k of n sources

LIE = InputRecord(QUESTION, "Revenue: 12.4M (prior quarter: 11.0M). Outlook: strong.")
SOURCE_BOND = 40 * UNIT


def signed(rec, who):
    """(source, its signature of `rec`): an eth_account key or an ape test account."""
    key = who.key if isinstance(who, type(SOURCE)) else who.private_key
    return who.address, rec.sign(key)


def funded(d):
    """Top up the bettors (earlier tests leave their stakes in unclaimed questions)."""
    for who in (d.alice, d.bob, d.carol):
        d.usd.mint(who, 1_000 * UNIT, sender=d.w.owner)


def test_two_of_three_sources_record_across_calls(pm):
    d = pm
    funded(d)
    s0, s1, s2 = SRCS[:3]
    qid = create_recorded(d, sources=[s0.address, s1.address, s2.address], k=2)
    assert d.market.sourcesOf(qid) == [s0.address, s1.address, s2.address]
    bets(d, qid)
    close(d, qid)
    rec, lie = recording(d, qid), recording(d, qid, LIE, cert=b"lie cert")
    base = request_base(d.svc, QUESTION)
    record = d.market.recordInputs
    # every refusal of a relay
    reverts("no signatures", record, *rec.args(), sender=d.watcher)
    reverts("signers and signatures differ", record, qid, rec.inputs_ref, rec.prompt_hash, [s0.address], [],
            sender=d.watcher)  # fmt: skip
    reverts("unknown source", record, *rec.args(signed(rec, INTRUDER)), sender=d.watcher)
    reverts("duplicate signer", record, *rec.args(signed(rec, s0), signed(rec, s0)), sender=d.watcher)
    reverts("invalid signature", record, *rec.args((s0.address, rec.sign(s1.key))), sender=d.watcher)
    # one vote counts but does not record
    r = record(*rec.args(signed(rec, s0)), sender=d.alice)
    assert one(r, "SourceSigned").signatures == 1 and not evs(r, "InputsRecorded")
    assert d.market.tally(qid, rec.key(base)) == 1 and bytes(d.market.votes(qid, s0.address)) == rec.key(base)
    assert d.market.getQuestion(qid).requestHash == ZERO32
    receipt = fresh_answer(d)
    d.register(receipt)
    propose(d, qid, receipt, expect="inputs not recorded")
    reverts("duplicate signer", record, *rec.args(signed(rec, s0)), sender=d.watcher)  # across calls too
    # a minority's other recording counts for it alone; the same source's second recording is refused
    record(*lie.args(signed(lie, s1)), sender=d.bob)
    assert d.market.tally(qid, lie.key(base)) == 1
    reverts("source signed another recording", record, *rec.args(signed(rec, s1)), sender=d.watcher)
    # the second vote for the same recording records it
    r = record(*rec.args(signed(rec, s2)), sender=d.carol)
    ev = one(r, "InputsRecorded")
    assert ev.recorder == d.carol.address and one(r, "SourceSigned").signatures == 2
    q = d.market.getQuestion(qid)
    assert bytes(q.inputsRef) == rec.inputs_ref
    assert bytes(q.requestHash) == request_hash(d.svc, RECORD, recorded=True)
    reverts("source signed another recording", record, *lie.args(signed(lie, s2)), sender=d.watcher)
    propose(d, qid, receipt)
    warp(d, CHALLENGE_WINDOW + 1)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code


def test_an_equivocating_source_forfeits_its_bond_and_breaks_the_quorum(pm):
    d = pm
    funded(d)
    s1, s2 = SRCS[3], SRCS[4]
    held = balance(d, d.market)
    before = balance(d, d.alice)
    # the creator is a named source: its bond is taken at creation
    qid = create_recorded(d, sources=[d.alice.address, s1.address, s2.address], k=2, bond=SOURCE_BOND,
                          sender=d.alice)  # fmt: skip
    assert d.market.bonds(qid, d.alice) == SOURCE_BOND and before - balance(d, d.alice) == SOURCE_BOND
    assert d.market.sourcing(qid).sourceBond == SOURCE_BOND
    reverts("already bonded", d.market.bondSource, qid, d.alice, sender=d.bob)
    reverts("unknown source", d.market.bondSource, qid, INTRUDER.address, sender=d.bob)
    r = d.market.bondSource(qid, s1.address, sender=d.bob)  # anyone pays a source's bond
    assert one(r, "SourceBonded").payer == d.bob.address
    no_bond = create_recorded(d)
    reverts("no bond required", d.market.bondSource, no_bond, SOURCE.address, sender=d.bob)
    fixed = create(d)
    reverts("inputs fixed at creation", d.market.bondSource, fixed, SOURCE.address, sender=d.bob)
    bets(d, qid)
    close(d, qid)
    reverts("market closed", d.market.bondSource, qid, s2.address, sender=d.bob)
    rec, lie = recording(d, qid), recording(d, qid, LIE, cert=b"lie cert")
    reverts("source not bonded", d.market.recordInputs, *rec.args(signed(rec, s2)), sender=d.watcher)
    # two signatures in one call record it
    r = d.market.recordInputs(*rec.args(signed(rec, d.alice), signed(rec, s1)), sender=d.watcher)
    assert len(evs(r, "SourceSigned")) == 2 and one(r, "InputsRecorded")
    reverts("not settled", d.market.releaseBond, qid, d.alice, sender=d.watcher)
    # every refusal of a proof
    contest = d.market.contestRecording
    reverts("unknown source", contest, *lie.contest_args(*signed(lie, INTRUDER)), sender=d.watcher)
    reverts("source has not signed", contest, *lie.contest_args(*signed(lie, s2)), sender=d.watcher)
    reverts("same recording", contest, *rec.contest_args(*signed(rec, s1)), sender=d.watcher)
    reverts("invalid signature", contest, *lie.contest_args(s1.address, lie.sign(s2.key)), sender=d.watcher)
    # s1 also signed the lie: its vote is struck, the recording falls below k and the question voids
    paid_before = balance(d, d.carol)
    r = contest(*lie.contest_args(*signed(lie, s1)), sender=d.carol)
    ev = one(r, "RecordingContested")
    assert (ev.source, ev.contester, ev.bond, ev.reward) == (s1.address, d.carol.address, SOURCE_BOND,
                                                             SOURCE_BOND // 2)  # fmt: skip
    assert balance(d, d.carol) - paid_before == SOURCE_BOND // 2
    assert one(r, "Settled").outcome == 3
    assert (
        d.market.equivocated(qid, s1.address)
        and d.market.tally(qid, rec.key(request_base(d.svc, QUESTION))) == 1
    )
    # void: the stakes back, plus the forfeited half of the bond, pro rata (R / S never decreases)
    left, stakes = 450 * UNIT + SOURCE_BOND // 2, 450 * UNIT
    for who, stake in ((d.alice, 100 * UNIT), (d.bob, 300 * UNIT), (d.carol, 50 * UNIT)):
        due = left * stake // stakes
        assert d.market.payoutOf(qid, who) == due
        assert d.market.claim(qid, sender=who).return_value == due >= stake
        left, stakes = left - due, stakes - stake
    assert left == 0 and stakes == 0
    # the honest source's bond comes back; the equivocator's and an unbonded one's are gone
    reverts("no bond", d.market.releaseBond, qid, s1.address, sender=d.watcher)
    reverts("no bond", d.market.releaseBond, qid, s2.address, sender=d.watcher)
    r = d.market.releaseBond(qid, d.alice, sender=d.watcher)
    assert r.return_value == SOURCE_BOND and one(r, "BondReleased").source == d.alice.address
    assert balance(d, d.market) == held


def test_equivocation_before_the_recording_strikes_the_vote(pm):
    """Nobody bet: the whole bond goes to the prover. The struck source cannot vote again and the
    others still record."""
    d = pm
    s0, s1, s2 = SRCS[5:8]
    qid = create_recorded(d, sources=[s0.address, s1.address, s2.address], k=2, bond=SOURCE_BOND)
    d.usd.mint(d.bob, 3 * SOURCE_BOND, sender=d.w.owner)
    for s in (s0, s1, s2):
        d.market.bondSource(qid, s.address, sender=d.bob)
    close(d, qid)
    rec, lie = recording(d, qid), recording(d, qid, LIE, cert=b"lie cert")
    base = request_base(d.svc, QUESTION)
    d.market.recordInputs(*lie.args(signed(lie, s0)), sender=d.watcher)
    before = balance(d, d.carol)
    r = d.market.contestRecording(*rec.contest_args(*signed(rec, s0)), sender=d.carol)
    assert one(r, "RecordingContested").reward == SOURCE_BOND and not evs(r, "Settled")
    assert balance(d, d.carol) - before == SOURCE_BOND and d.market.tally(qid, lie.key(base)) == 0
    assert d.market.sourcing(qid).forfeited == 0
    reverts(
        "source equivocated", d.market.contestRecording, *rec.contest_args(*signed(rec, s0)), sender=d.watcher
    )
    reverts("source equivocated", d.market.recordInputs, *rec.args(signed(rec, s0)), sender=d.watcher)
    r = d.market.recordInputs(*rec.args(signed(rec, s1), signed(rec, s2)), sender=d.watcher)
    assert bytes(one(r, "InputsRecorded").inputsRef) == rec.inputs_ref


def test_votes_after_the_recording_strengthen_it_or_void_a_conflict(pm):
    """With 2k <= n two disjoint groups can each reach k: the second voids the question, so a verdict
    waits for the recording deadline. Votes for the recorded recording keep it above k when one of
    its signers is struck."""
    d = pm
    funded(d)
    s0, s1, s2, s3 = SRCS[:4]
    base = request_base(d.svc, QUESTION)
    qid = create_recorded(d, sources=[s.address for s in (s0, s1, s2, s3)], k=2)  # 2k <= n
    bets(d, qid)
    close(d, qid)
    rec, lie = recording(d, qid), recording(d, qid, LIE, cert=b"lie cert")
    d.market.recordInputs(*rec.args(signed(rec, s0), signed(rec, s1)), sender=d.watcher)
    receipt = fresh_answer(d)
    d.register(receipt)
    propose(d, qid, receipt)
    warp(d, CHALLENGE_WINDOW + 1)
    assert now(d) <= d.market.getQuestion(qid).recordBy
    reverts("recording open", d.market.settle, qid, sender=d.watcher)
    r = d.market.recordInputs(*lie.args(signed(lie, s2)), sender=d.watcher)
    assert not evs(r, "Settled") and d.market.tally(qid, lie.key(base)) == 1
    r = d.market.recordInputs(*lie.args(signed(lie, s3)), sender=d.watcher)
    assert one(r, "Settled").outcome == 3  # k said one thing, k another
    assert d.market.claim(qid, sender=d.bob).return_value == 300 * UNIT
    # 2k > n: a third vote for the recorded recording keeps it when one of the first two is struck
    q2 = create_recorded(d, sources=[s0.address, s1.address, s2.address], k=2)
    close(d, q2)
    rec2, lie2 = recording(d, q2), recording(d, q2, LIE, cert=b"lie cert")
    d.market.recordInputs(*rec2.args(signed(rec2, s0), signed(rec2, s1)), sender=d.watcher)
    r = d.market.recordInputs(*rec2.args(signed(rec2, s2)), sender=d.watcher)
    assert one(r, "SourceSigned").signatures == 3 and not evs(r, "InputsRecorded")
    r = d.market.contestRecording(*lie2.contest_args(*signed(lie2, s0)), sender=d.watcher)
    assert not evs(r, "Settled") and d.market.tally(q2, rec2.key(base)) == 2
    assert bytes(d.market.getQuestion(q2).inputsRef) == rec2.inputs_ref
    warp(d, RECORD_IN)
    reverts(
        "recording deadline passed", d.market.recordInputs, *rec2.args(signed(rec2, s0)), sender=d.watcher
    )


def test_recorded_inputs_appealed_to_the_fork_and_adopted_void(pm):
    """A majority of sources lying consistently is not provable on-chain: the bettors escalate the
    recorded inputs to the fork; adoption voids the question, whatever the verdict."""
    d, tw = pm, pm.tw
    funded(d)
    qid = create_recorded(d)
    bets(d, qid)
    close(d, qid)
    rec = recording(d, qid)
    reverts("inputs not recorded", d.market.appealInputsToFork, qid, 1, sender=d.watcher)
    request = request_hash(d.svc, RECORD, recorded=True)
    evidence = inputs_appeal_evidence(d.chain.chain_id, d.market.address, qid, rec.inputs_ref, request)
    _, early, _ = tw.open_challenge(tw.other, [d.ops[1]], evidence=evidence)  # computable in advance
    d.market.recordInputs(*rec.args(signed(rec, SOURCE)), sender=d.watcher)
    assert bytes(d.market.inputsAppealEvidence(qid)) == evidence
    appeal = d.market.appealInputsToFork
    reverts("fork challenge predates the recording", appeal, qid, early, sender=d.watcher)
    tw.resolve(early, False)
    reverts("fork challenge not pending", appeal, qid, early, sender=d.watcher)
    _, other, _ = tw.open_challenge(tw.other, [d.ops[1]], evidence=b"\x22" * 32)
    reverts("fork challenge is about something else", appeal, qid, other, sender=d.watcher)
    tw.resolve(other, False)
    _, cid, _ = tw.open_challenge(tw.other, [d.ops[1]], evidence=evidence)
    r = appeal(qid, cid, sender=d.bob)
    assert one(r, "InputsAppealedToFork").challengeId == cid and d.market.sourcing(qid).appealId == cid
    reverts("already appealed", appeal, qid, cid, sender=d.watcher)
    receipt = fresh_answer(d)
    d.register(receipt)
    propose(d, qid, receipt)
    warp(d, CHALLENGE_WINDOW + 1)
    reverts("fork pending", d.market.settle, qid, sender=d.watcher)
    tw.resolve(cid, True)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3
    assert d.market.claim(qid, sender=d.alice).return_value == 100 * UNIT


def test_inputs_appeal_rejected_and_its_window(pm):
    """Rejection lets the question go on; a verdict cannot settle before the inputs' appeal window
    closes, and the window closes."""
    d, tw = pm, pm.tw
    funded(d)
    qid = create_recorded(d)
    bets(d, qid)
    close(d, qid)
    receipt = fresh_answer(d)
    d.register(receipt)  # computed from the published data before the recording
    warp(d, CHALLENGE_WINDOW - MIN_CHALLENGE - 60)
    rec = recording(d, qid)
    d.market.recordInputs(*rec.args(signed(rec, SOURCE)), sender=d.watcher)
    recorded_at = d.market.sourcing(qid).recordedAt
    propose(d, qid, receipt)
    deadline = d.c.claims(receipt.digest()).deadline
    warp(d, deadline - now(d) + 1)
    assert now(d) <= recorded_at + APPEAL
    reverts("inputs appeal window open", d.market.settle, qid, sender=d.watcher)
    evidence = bytes(d.market.inputsAppealEvidence(qid))
    _, cid, _ = tw.open_challenge(tw.other, [d.ops[1]], evidence=evidence)
    d.market.appealInputsToFork(qid, cid, sender=d.watcher)
    tw.resolve(cid, False)
    assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == d.code
    # another question: past the window the appeal is refused
    q2 = create_recorded(d)
    close(d, q2)
    rec2 = recording(d, q2)
    d.market.recordInputs(*rec2.args(signed(rec2, SOURCE)), sender=d.watcher)
    warp(d, APPEAL + 1)
    reverts("appeal window closed", d.market.appealInputsToFork, q2, cid, sender=d.watcher)


ROLES = ("honest", "liar", "equivocator", "silent")


@example_settings(ci=5, long=30)
@given(data=st.data())
def test_property_a_minority_of_liars_cannot_decide(pm, data):
    """Random honest, lying (consistently), equivocating (signing both) and silent sources, any k
    with fewer consistent liars than k; their signatures are relayed in a random order and random
    batches by an eager relayer who proves every equivocation it sees. The recorded inputs are the
    honest ones or the question is void; with no equivocator and k honest sources the honest ones
    are recorded. The tally always counts the live votes."""
    d = pm
    n = data.draw(st.integers(1, 7), label="n")
    k = data.draw(st.integers(1, n), label="k")
    roles = data.draw(st.lists(st.sampled_from(ROLES), min_size=n, max_size=n), label="roles")
    if roles.count("liar") >= k:  # k consistent liars: the fork's case, not this property's
        roles = ["honest" if r == "liar" else r for r in roles]
    srcs = SRCS[:n]
    qid = create_recorded(d, sources=[s.address for s in srcs], k=k)
    close(d, qid)
    truth, lie = recording(d, qid), recording(d, qid, LIE, cert=b"lie cert")
    wants = {"honest": (truth,), "liar": (lie,), "equivocator": (truth, lie), "silent": ()}
    events = [(s, rec) for s, role in zip(srcs, roles, strict=True) for rec in wants[role]]
    order = data.draw(st.permutations(events), label="order")
    sigs = [(s.address, rec, rec.sign(s.key)) for s, rec in order]
    voted, struck = {}, set()
    i = 0
    while i < len(sigs) and d.market.getQuestion(qid).outcome == 0:
        size = data.draw(st.integers(1, 3), label="batch")
        chunk, i = sigs[i : i + size], i + size
        for rec in (truth, lie):
            pairs = [(a, sig) for a, r, sig in chunk if r == rec and a not in voted]
            proofs = [(a, sig) for a, r, sig in chunk if r == rec and a in voted and voted[a] != rec]
            q = d.market.getQuestion(qid)
            if pairs and q.outcome == 0:
                d.market.recordInputs(*rec.args(*pairs), sender=d.watcher)
                voted.update((a, rec) for a, _ in pairs)
            for a, sig in proofs:
                if d.market.getQuestion(qid).outcome == 0:
                    d.market.contestRecording(*rec.contest_args(a, sig), sender=d.watcher)
                    struck.add(a)
    base = request_base(d.svc, QUESTION)
    q = d.market.getQuestion(qid)
    if q.outcome == 0:
        for rec in (truth, lie):
            live = sum(1 for a, r in voted.items() if r == rec and a not in struck)
            assert d.market.tally(qid, rec.key(base)) == live
    recorded = q.inputsRef != ZERO32
    if recorded and q.outcome == 0:
        assert bytes(q.inputsRef) == truth.inputs_ref
        assert bytes(q.requestHash) == request_hash(d.svc, RECORD, recorded=True)
    if "equivocator" not in roles and roles.count("honest") >= k:
        assert recorded and q.outcome == 0 and bytes(q.inputsRef) == truth.inputs_ref
    if not recorded and q.outcome == 0:  # nothing recorded by the deadline: void
        warp(d, RECORD_IN)
        assert one(d.market.settle(qid, sender=d.watcher), "Settled").outcome == 3


def test_code_size_under_eip170(project):
    code = project.get_contract("PredictionMarket").contract_type.runtime_bytecode.bytecode
    assert len(bytes.fromhex(code[2:])) <= 24_576
