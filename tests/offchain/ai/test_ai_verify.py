from dataclasses import replace

import pytest
from eth_hash.auto import keccak

from offchain.ai.receipt import FINISH_STOP
from offchain.ai.sampler import SamplingParams
from tests.offchain.ai.support import tiny_service

KEY = keccak(b"operator under test")


@pytest.fixture(scope="module")
def honest():
    svc = tiny_service()
    return svc.complete(
        svc.prompt_tokens(None, "hello there"), SamplingParams(seed=4, temperature_milli=900, max_tokens=8)
    ).receipt.signed(KEY)


def test_honest_receipt_matches(honest):
    rep = tiny_service().verify(honest, expected_operator=honest.operator)
    assert rep.ok and rep.reason == "match"


def test_tampered_token_reports_first_divergent_step(honest):
    out = list(honest.output_tokens)
    out[3] = (out[3] + 1) % 278
    bad = replace(honest, output_tokens=tuple(out)).signed(KEY)
    rep = tiny_service().verify(bad)
    assert not rep.ok and rep.step == 3
    assert rep.expected["token"] == honest.output_tokens[3] and rep.got["token"] == out[3]
    assert rep.expected["logitsHash"] == rep.got["logitsHash"]


def test_tampered_logits_hash(honest):
    lh = list(honest.logits_hashes)
    lh[5] = b"\x00" * 32
    rep = tiny_service().verify(replace(honest, logits_hashes=tuple(lh)).signed(KEY))
    assert not rep.ok and rep.step == 5 and rep.expected["token"] == rep.got["token"]


def test_changed_seed_diverges_at_a_sampled_step(honest):
    rep = tiny_service().verify(replace(honest, params=replace(honest.params, seed=5)).signed(KEY))
    assert not rep.ok and rep.step is not None


def test_bad_signature_and_wrong_operator(honest):
    assert tiny_service().verify(replace(honest)).ok  # an unchanged copy still verifies
    forged = replace(
        honest, signature=honest.signature[:10] + bytes([honest.signature[10] ^ 1]) + honest.signature[11:]
    )
    assert "signature" in tiny_service().verify(forged).reason
    rep = tiny_service().verify(honest, expected_operator="0x" + "11" * 20)
    assert not rep.ok and "another operator" in rep.reason


def test_binding_mismatches(honest):
    svc = tiny_service()
    assert "modelHash" in svc.verify(replace(honest, model_hash=b"\x01" * 32).signed(KEY)).reason
    assert "tokenizerHash" in svc.verify(replace(honest, tokenizer_hash=b"\x01" * 32).signed(KEY)).reason
    assert "engineId" in svc.verify(replace(honest, engine_id=b"\x01" * 32).signed(KEY)).reason


def test_truncated_and_finish_reason(honest):
    svc = tiny_service()
    cut = replace(
        honest, output_tokens=honest.output_tokens[:4], logits_hashes=honest.logits_hashes[:4]
    ).signed(KEY)
    assert "stopped before maxTokens" in svc.verify(cut).reason
    assert "finish reason" in svc.verify(replace(honest, finish_reason=FINISH_STOP).signed(KEY)).reason
    too_long = replace(honest, params=replace(honest.params, max_tokens=2)).signed(KEY)
    assert not svc.verify(too_long).ok
    oov = replace(honest, prompt_tokens=(*honest.prompt_tokens, 10**6)).signed(KEY)
    assert "vocabulary" in svc.verify(oov).reason
