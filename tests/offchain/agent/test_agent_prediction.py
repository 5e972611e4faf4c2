"""The AI-settled prediction market (offchain/agent/prediction.py, scripts/prediction_market.py) end
to end on anvil with the tiny model and the DA devnet on the same chain: the story (a tampered verdict
proven wrong from the DA record and slashed, the honest verdict disputed, upheld, appealed to the
fork, frozen until governance rejects it, settled, paid out exactly); the demo step on the same world
(inputs recorded after the close by the feed's signature, a verdict disputed and upheld, the payouts);
the off-chain checks of a recording and of a verdict over recorded inputs; every refusal of malformed
questions, records, recordings and verdicts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from offchain.agent.errors import PredictionError, RecordUnavailableError
from offchain.agent.prediction import (
    InputRecord,
    Question,
    Recording,
    answer,
    check_recording,
    check_verdict,
    proposal_args,
    receipt_request_hash,
    recording_of,
    request_hash,
    verdict_of,
)
from scripts.prediction_market import BETS, INPUTS, QUESTION, USDC, forged_verdict


@pytest.fixture(scope="module")
def told(chain):
    from scripts._demo import da as da_step
    from scripts._demo.world import Demo
    from scripts.prediction_market import story

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EIGEN_DEMO_AI_MODEL", "tiny")
        demo = Demo()
        try:
            facts = story(demo)
            yield demo, facts
        finally:
            da_step.stop(demo)


def test_the_story_settles_to_the_model_verdict(told):
    demo, facts = told
    assert facts["outcome"] == facts["truth"]
    assert facts["slashed_shares"] > 0  # operator A paid for the tampered verdict
    assert facts["refused_while_frozen"] == "fork pending"
    # pari-mutuel: the winners share the whole pool, in proportion, nothing left behind
    pool = sum(a for _, _, a in BETS) * USDC
    winners = [(w, a * USDC) for w, yes, a in BETS if yes == (facts["truth"] == "YES")]
    stake = sum(a for _, a in winners)
    assert sum(facts["paid"].values()) == pool
    first, a0 = winners[0]
    assert facts["paid"][first] == pool * a0 // stake
    assert all(facts["paid"][w] == 0 for w, yes, _ in BETS if yes != (facts["truth"] == "YES"))


def test_reexecution_from_da_and_refusals(told):
    demo, _ = told
    w, records = demo.ai_world, demo.da_net.records()
    record = InputRecord(QUESTION, INPUTS)
    cert = records.put(record.to_json())
    key = w.signing[demo.op_b.address].to_bytes()
    honest = answer(w.svc, key, record, demo.carol.address)
    ok = check_verdict(cert, records, w.svc, honest, request_hash(w.svc, record))
    assert ok.matches and not ok.should_dispute and ok.correct == ok.claimed == verdict_of(honest)
    lie = "NO" if verdict_of(honest) == "YES" else "YES"
    bad = check_verdict(cert, records, w.svc, forged_verdict(w.svc, honest, f'{{"answer":"{lie}"}}', key))
    assert bad.should_dispute and bad.claimed == lie and bad.correct == verdict_of(honest)
    # a receipt for other inputs, a record that is not the market's, a tampered certificate
    other = answer(w.svc, key, InputRecord(QUESTION, "Revenue: 12M."), demo.carol.address)
    with pytest.raises(PredictionError, match="another request"):
        check_verdict(cert, records, w.svc, other)
    with pytest.raises(PredictionError, match="not the one the market"):
        check_verdict(cert, records, w.svc, honest, b"\x01" * 32)
    v = cert["blob_key"]
    bent = {**cert, "blob_key": v[:-2] + ("00" if v[-2:] != "00" else "11")}
    with pytest.raises(RecordUnavailableError):
        check_verdict(bent, records, w.svc, honest)


def test_questions_records_and_verdicts_refuse_bad_input(told):
    demo, _ = told
    svc = demo.ai_world.svc
    for bad in (
        {"text": ""},
        {"template": "no slots"},
        {"template": "{question}{question}{inputs}"},
        {"max_tokens": 0},
    ):
        with pytest.raises(PredictionError):
            replace(QUESTION, **bad)
    # the inputs are substituted once: slot names inside them stay text
    q = Question("Q?", template="{inputs}|{question}")
    assert q.prompt("{question}") == "{question}|Q?"
    raw = InputRecord(QUESTION, INPUTS).to_json()
    assert InputRecord.from_json(raw) == InputRecord(QUESTION, INPUTS)
    for broken, why in (
        (b"not json", "not JSON"),
        (raw.replace(b'"version":1', b'"version":2'), "type/version"),
        (raw.replace(b'{"inputs"', b'{ "inputs"'), "canonical"),
        (raw[:-1] + b',"extra":1}', "exactly the fields"),
        (b"x" * (16 * 1024 + 1), "at most"),
    ):
        with pytest.raises(PredictionError, match=why):
            InputRecord.from_json(broken)
    with pytest.raises(PredictionError, match="at most"):
        InputRecord(QUESTION, "x" * 20_000).to_json()
    # a verdict must be YES or NO, grammar-bound
    key = demo.ai_world.signing[demo.op_a.address].to_bytes()
    honest = answer(svc, key, InputRecord(QUESTION, INPUTS), demo.carol.address)
    with pytest.raises(PredictionError, match="not a YES/NO verdict"):
        proposal_args(forged_verdict(svc, honest, '{"answer":"MAYBE"}', key))
    with pytest.raises(PredictionError, match="not grammar-bound"):
        receipt_request_hash(replace(honest, options=None, text_hash=None))


def test_demo_step_records_inputs_after_the_close(told, capsys):
    """scripts/_demo/prediction.py on the story's world (its model, InferenceDisputes, DA devnet)."""
    from scripts._demo import prediction as step

    demo, _ = told
    capsys.readouterr()
    facts = step.run(demo)
    out = capsys.readouterr().out
    with capsys.disabled():
        print(out)  # the step as make demo prints it
    assert (
        facts["refused_before_close"] == "market open"
        and facts["refused_wrong_signer"] == "invalid signature"
    )
    assert facts["dissent_votes"] == 1 and len(facts["sources"]) == step.FEEDS  # feed C alone records nothing
    assert facts["cert_status"] == 1 and facts["dispute_upheld"] and facts["outcome"] == facts["truth"]
    pool = sum(a for _, _, a in step.BETS) * step.USDC
    won = [(w, a * step.USDC) for w, yes, a in step.BETS if yes == (facts["truth"] == "YES")]
    stake = sum(a for _, a in won)
    assert sum(facts["paid"].values()) == pool and facts["left"] == 0
    assert facts["paid"][won[0][0]] == pool * won[0][1] // stake
    assert f"recorded inputs: {step.AT_CLOSE!r}" in out and f"the verdict is {facts['truth']}" in out
    assert f"the market settles: {facts['outcome']}" in out


def test_recordings_are_checked_against_the_da_record(told):
    demo, _ = told
    w, records = demo.ai_world, demo.da_net.records()
    record = InputRecord(QUESTION, INPUTS)
    cert = records.put(record.to_json())
    rec = recording_of(w.svc, record, cert, 31337, demo.erin.address, 1)
    assert check_recording(cert, records, w.svc, rec, QUESTION) == record
    other_cert = records.put(InputRecord(QUESTION, "Revenue: 12M.").to_json())
    with pytest.raises(PredictionError, match="not the recorded one"):
        check_recording(other_cert, records, w.svc, rec, QUESTION)
    with pytest.raises(PredictionError, match="another question"):
        check_recording(cert, records, w.svc, rec, Question("Did the report say that costs fell?"))
    wrong_prompt = Recording(rec.chain_id, rec.market, 1, rec.inputs_ref, b"\x01" * 32)
    with pytest.raises(PredictionError, match="not the template rendered"):
        check_recording(cert, records, w.svc, wrong_prompt, QUESTION)
    # a verdict over recorded inputs: the recorded request, checked from the DA record
    key = w.signing[demo.op_b.address].to_bytes()
    honest = answer(w.svc, key, record, demo.dave.address)
    want = request_hash(w.svc, record, recorded=True)
    assert check_verdict(cert, records, w.svc, honest, want, recorded=True).matches
    with pytest.raises(PredictionError, match="not the one the market"):
        check_verdict(cert, records, w.svc, honest, request_hash(w.svc, record), recorded=True)
