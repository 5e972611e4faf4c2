"""offchain.chain.inference_disputes without a chain: re-execution with the tiny model (honest,
tampered, unrunnable and foreign receipts), the output and verdict encodings, signatures, typed errors."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.abi import ZERO_ADDRESS
from offchain.ai.options import RequestOptions
from offchain.ai.receipt import text_hash
from offchain.ai.sampler import SamplingParams
from offchain.chain.compute_avs import key_address
from offchain.chain.inference_disputes import (
    INVALID_REQUEST,
    OUTPUT_TAG,
    VERDICT_DOMAIN,
    DisputeError,
    Verdict,
    output_commitment,
    receipt_args,
    receipt_output,
    reexecute_with,
    verdict_digest,
)
from offchain.errors import ChainError, EigenError

KEY = keys.PrivateKey(keccak(b"operator"))
DISPUTES = "0x" + "ab" * 20
N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@cache
def svc():
    from offchain.ai.service import InferenceService
    from offchain.ai.tiny import tiny_model

    return InferenceService(tiny_model(0))


CLIENT = "0x" + "c1" * 20


def answer(seed=3, temperature=0.8, max_tokens=6):
    s = svc()
    p = SamplingParams.from_user(seed=seed, temperature=temperature, max_tokens=max_tokens)
    return s.complete(s.prompt_tokens(None, "hello there"), p, client=CLIENT).receipt.signed(KEY.to_bytes())


def test_honest_receipt_reexecutes_to_its_own_output():
    rec = answer()
    rex = reexecute_with(svc(), rec)
    assert rex.receipt_correct and rex.report is None
    assert rex.correct_output == receipt_output(rec) and rex.output_tokens == rec.output_tokens
    assert rex.receipt_digest == rec.digest()


@pytest.mark.parametrize("step", [0, 2, 5])
def test_tampered_receipt_points_at_the_first_divergent_step(step):
    rec = answer()
    out = list(rec.output_tokens)
    out[step] = (out[step] + 7) % 256
    bad = replace(rec, output_tokens=tuple(out), signature=b"").signed(KEY.to_bytes())
    rex = reexecute_with(svc(), bad)
    assert not rex.receipt_correct and rex.correct_output == receipt_output(rec)
    assert rex.report is not None and rex.report.step == step and rex.report.got["token"] == out[step]


def test_tampered_logits_commitment_is_wrong_too():
    rec = answer()
    hs = list(rec.logits_hashes)
    hs[1] = keccak(b"fake")
    bad = replace(rec, logits_hashes=tuple(hs), signature=b"").signed(KEY.to_bytes())
    rex = reexecute_with(svc(), bad)
    assert not rex.receipt_correct and rex.report.step == 1


def test_unrunnable_request_is_invalid():
    rec = answer()
    vocab = svc().engine.config.vocab_size
    for prompt in ((vocab,), rec.prompt_tokens + (vocab + 1,)):
        bad = replace(rec, prompt_tokens=prompt, signature=b"").signed(KEY.to_bytes())
        assert reexecute_with(svc(), bad).correct_output == INVALID_REQUEST
    ctx = svc().engine.config.context_length
    long = replace(rec, params=replace(rec.params, max_tokens=ctx), signature=b"").signed(KEY.to_bytes())
    assert reexecute_with(svc(), long).correct_output == INVALID_REQUEST


def test_refuses_what_it_cannot_judge():
    rec = answer()
    for bad in (
        replace(rec, model_hash=keccak(b"m"), signature=b"").signed(KEY.to_bytes()),
        replace(rec, tokenizer_hash=keccak(b"t"), signature=b"").signed(KEY.to_bytes()),
        replace(rec, engine_id=keccak(b"e"), signature=b"").signed(KEY.to_bytes()),
        replace(rec, operator="0x" + "11" * 20),  # signature no longer recovers to the operator
    ):
        with pytest.raises(DisputeError):
            reexecute_with(svc(), bad)
    assert issubclass(DisputeError, ChainError) and issubclass(DisputeError, EigenError)


def answer_v3(options, seed=3, temperature=0.8, max_tokens=8):
    """A version 3 receipt as `eigen ai serve` produces it: through the server's scheduler."""
    import threading

    from offchain.ai.scheduler import DoneEvent, FailedEvent, Job, Scheduler

    s = svc()
    done, events = threading.Event(), []

    def sink(ev):
        events.append(ev)
        if isinstance(ev, DoneEvent | FailedEvent):
            done.set()

    p = SamplingParams.from_user(seed=seed, temperature=temperature, max_tokens=max_tokens)
    sch = Scheduler(s, max_batch=2)
    try:
        sch.submit(Job(s.prompt_tokens(None, "hello there"), p, sink, client=CLIENT, options=options))
        assert done.wait(60) and isinstance(events[-1], DoneEvent)
    finally:
        sch.close()
    return events[-1].completion.receipt.signed(KEY.to_bytes())


def test_version_3_receipts_reexecute_and_text_lies_are_caught():
    """A receipt with request options re-executes under them (penalties, bias, stop strings); one
    whose textHash is not its tokens' returned text is judged INVALID_REQUEST (the operator signed a
    text its tokens do not give), one with other tokens gets the correct output."""
    for opts in (
        RequestOptions(presence_milli=500, frequency_milli=300, logit_bias=((5, 3),)),
        RequestOptions(stop=("e",)),
    ):
        rec = answer_v3(opts)
        assert rec.version == 3
        rex = reexecute_with(svc(), rec)
        assert rex.receipt_correct and rex.report is None, opts
        assert receipt_args(rec)[0][0] == rec.abi_values()[0] != rec.domain  # the bound domain word
        liar = replace(rec, text_hash=text_hash("something else"), signature=b"").signed(KEY.to_bytes())
        rex = reexecute_with(svc(), liar)
        assert rex.correct_output == INVALID_REQUEST and not rex.report.ok
    from offchain.chain.inference_disputes import reexecute

    s = svc()
    with pytest.raises(DisputeError, match="tokenizer"):
        reexecute(rec, s.engine, tokenizer_hash=s.tokenizer.hash, eos_id=s.tokenizer.eos_id)


def test_encodings():
    rec = answer()
    assert output_commitment([1, 2], b"\x01" * 32, 1) == keccak(
        abi_encode(
            ["bytes32", "uint32[]", "bytes32", "uint8"],
            [keccak(b"eigen.ai.dispute.Output.v1"), [1, 2], b"\x01" * 32, 1],
        )
    )
    assert OUTPUT_TAG == keccak(b"eigen.ai.dispute.Output.v1") and VERDICT_DOMAIN == keccak(
        b"eigen.ai.dispute.Verdict.v1"
    )
    d = verdict_digest(31337, DISPUTES, rec.digest(), INVALID_REQUEST)
    assert d == keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "bytes32", "bytes32"],
            [VERDICT_DOMAIN, 31337, DISPUTES, rec.digest(), INVALID_REQUEST],
        )
    )
    assert verdict_digest(1, DISPUTES, rec.digest(), INVALID_REQUEST) != d
    args, (v, r, s) = receipt_args(rec)
    assert (
        len(args) == 15
        and args[5].lower() == CLIENT
        and v in (27, 28)
        and r + s + bytes([v]) == rec.signature
    )
    with pytest.raises(DisputeError, match="no client"):
        receipt_args(replace(rec, client=ZERO_ADDRESS, signature=b"").signed(KEY.to_bytes()))
    with pytest.raises(DisputeError):
        output_commitment([1], b"\x01" * 31, 0)
    with pytest.raises(DisputeError):
        receipt_args(replace(rec, prompt_tokens=(1,) * 513, signature=b"").signed(KEY.to_bytes()))


def test_verdict_signatures_sorted_and_recoverable():
    ks = [keys.PrivateKey(keccak(b"k%d" % i)) for i in range(4)]
    v = Verdict(31337, DISPUTES, keccak(b"r"), keccak(b"o"))
    sigs = v.sign(reversed(ks))
    signers = []
    for sv, r, s in sigs:
        sig = keys.Signature(vrs=(sv - 27, int.from_bytes(r, "big"), int.from_bytes(s, "big")))
        signers.append(sig.recover_public_key_from_msg_hash(v.digest()).to_checksum_address().lower())
        assert int.from_bytes(s, "big") <= N_HALF  # low s, as the contract requires
    assert signers == sorted((key_address(k) for k in ks), key=lambda a: int(a, 16))
    for bad in (
        lambda: Verdict(1, DISPUTES, b"\x00" * 31, keccak(b"o")),
        lambda: Verdict(1, DISPUTES, keccak(b"r"), b"\x00" * 32),
        lambda: Verdict(-1, DISPUTES, keccak(b"r"), keccak(b"o")),
        lambda: Verdict(True, DISPUTES, keccak(b"r"), keccak(b"o")),
        lambda: Verdict(1, "0xzz", keccak(b"r"), keccak(b"o")),
        lambda: v.sign([ks[0], ks[0]]),
    ):
        with pytest.raises(DisputeError):
            bad()
