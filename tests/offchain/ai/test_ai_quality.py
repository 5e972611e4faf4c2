"""Exact engine vs the float32 reference of the same weights (quality guard for the quantisation choices)."""

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from offchain import settings as eigen_settings
from offchain.ai.engine import F_ACT
from offchain.ai.evaluate import EVAL_PROMPTS, greedy_agreement, perplexity
from offchain.ai.reference import FloatReference
from tests.offchain.ai.support import smol_service, tiny_service

TEXT = (Path(__file__).resolve().parents[3] / "bench" / "ai" / "ppl_text.txt").read_text()


@cache
def _smol_ref() -> FloatReference:
    return FloatReference(smol_service().model)


def test_tiny_logits_close_to_float_reference():
    svc = tiny_service()
    ref = FloatReference(svc.model)
    toks = svc.prompt_tokens(None, "the theory of everything")
    a = svc.engine.prefill(svc.engine.new_cache(), toks, all_logits=True) / float(1 << F_ACT)
    b = ref.forward(ref.new_cache(), toks, all_logits=True)
    assert np.abs(a - b).max() < 0.05 * b.std()


def test_smollm2_perplexity_and_teacher_forced_agreement():
    svc, ref = smol_service(), _smol_ref()
    ppl = perplexity(svc, ref, TEXT[:400])
    assert abs(ppl["exact"] / ppl["float_reference"] - 1) < 0.01
    agr = greedy_agreement(svc, ref, EVAL_PROMPTS[:2], 12)
    assert agr.teacher_forced_top1 >= 0.9


@pytest.mark.slow
def test_smollm2_greedy_agreement_20_prompts_32_tokens():
    if not eigen_settings.slow_tests():
        pytest.skip("slow (several minutes on 2 cores): set EIGEN_SLOW=1")
    svc, ref = smol_service(), _smol_ref()
    agr = greedy_agreement(svc, ref, EVAL_PROMPTS, 32)
    assert agr.identical_sequences >= 14 and agr.teacher_forced_top1 >= 0.97
    ppl = perplexity(svc, ref, TEXT)
    assert abs(ppl["exact"] / ppl["float_reference"] - 1) < 0.005
