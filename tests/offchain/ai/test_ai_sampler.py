import numpy as np
import pytest

from offchain.ai import fixedpoint as fx
from offchain.ai.errors import SamplingError
from offchain.ai.sampler import (
    TEMP_SCALE,
    TOP_P_SCALE,
    WEIGHT_BITS,
    ZERO_WEIGHT_D,
    SamplingParams,
    draw_u64,
    sample,
)

DIGEST = b"\x11" * 32


def test_draw_golden_and_keyed():
    assert draw_u64(1, DIGEST, 3) == 9362409239277385305
    assert len({draw_u64(s, DIGEST, st) for s in range(3) for st in range(3)}) == 9
    assert draw_u64(1, DIGEST, 4) != draw_u64(2, DIGEST, 3)  # no seed+step aliasing


def test_greedy_ties_lowest_id():
    lg = np.array([5, 9, 9, 1], dtype=np.int64)
    assert sample(lg, SamplingParams(), DIGEST, 0) == 1
    assert sample(lg, SamplingParams(temperature_milli=500, top_k=1), DIGEST, 0) == 1


def test_top_k_and_top_p_restrict_support():
    lg = (np.array([0, 1, 2, 3, 4, 5, 6, 7], dtype=np.int64) << 16) * 2
    seen_k = {sample(lg, SamplingParams(temperature_milli=5000, top_k=3), DIGEST, s) for s in range(300)}
    assert seen_k == {5, 6, 7}
    # weights e^{-2k}: token 7 alone is 86.5% of the mass, 7+6 is 98.2%
    seen_p = {
        sample(lg, SamplingParams(temperature_milli=1000, top_p_micro=900_000), DIGEST, s) for s in range(300)
    }
    assert seen_p == {6, 7}
    seen_p1 = {
        sample(lg, SamplingParams(temperature_milli=1000, top_p_micro=800_000), DIGEST, s) for s in range(300)
    }
    assert seen_p1 == {7}


def test_frequencies_match_softmax():
    logits = np.array([0.0, 0.5, 1.0, -1.0, 2.0])
    lg = np.round(logits * 65536).astype(np.int64)
    n = 4000
    counts = np.bincount(
        [sample(lg, SamplingParams(temperature_milli=1000), DIGEST, s) for s in range(n)], minlength=5
    )
    p = np.exp(logits) / np.exp(logits).sum()
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 20.5  # 4 dof, p ~ 0.0004


def test_temperature_sharpens():
    lg = np.array([0, 1 << 16], dtype=np.int64)
    cold = sum(sample(lg, SamplingParams(temperature_milli=200), DIGEST, s) for s in range(500))
    hot = sum(sample(lg, SamplingParams(temperature_milli=5000), DIGEST, s) for s in range(500))
    assert cold > 490 and 250 < hot < 400


def test_from_user_canonicalises():
    p = SamplingParams.from_user(seed=5, temperature=0.7, top_p=0.95, top_k=40, max_tokens=10)
    assert (p.temperature_milli, p.top_p_micro, p.top_k) == (700, 950_000, 40)
    assert SamplingParams.from_user(temperature="1.3").temperature_milli == 1300


@pytest.mark.parametrize(
    "kw",
    [
        {"seed": -1},
        {"seed": 2**64},
        {"temperature": -0.1},
        {"temperature": 101},
        {"temperature": "nan"},
        {"temperature": "abc"},
        {"top_p": 0},
        {"top_p": 1.5},
        {"top_k": -1},
        {"max_tokens": 0},
        {"seed": 1.5},
        {"max_tokens": "3"},
        {"top_k": True},
    ],
)
def test_bad_params(kw):
    with pytest.raises(SamplingError):
        SamplingParams.from_user(**kw)


def test_bad_logits():
    with pytest.raises(SamplingError):
        sample(np.array([1.0, 2.0]), SamplingParams(), DIGEST, 0)
    with pytest.raises(SamplingError):
        sample(np.array([], dtype=np.int64), SamplingParams(), DIGEST, 0)
    with pytest.raises(SamplingError):
        SamplingParams(temperature_milli=1.5)  # type: ignore[arg-type]


def _sample_full_sort(lg, params, digest, step):
    """The sampler as specified: every token sorted by (weight desc, id asc) over the whole vocabulary."""
    d = (lg.max() - lg) * TEMP_SCALE // params.temperature_milli
    w = fx.exp_neg(np, d, WEIGHT_BITS)
    order = np.lexsort((np.arange(lg.size), -w))
    ws = w[order][: params.top_k or None]
    cum = np.cumsum(ws)
    n = cum.size
    if params.top_p_micro < TOP_P_SCALE:
        need = -(-params.top_p_micro * int(cum[-1]) // TOP_P_SCALE)
        n = int(np.searchsorted(cum, need, side="left")) + 1
    target = (draw_u64(params.seed, digest, step) * int(cum[n - 1])) >> 64
    return int(order[int(np.searchsorted(cum[:n], target, side="right"))])


def test_skipping_zero_weights_draws_the_specified_token():
    """The sampler sorts only tokens whose weight can be nonzero; the token equals the full sort's."""
    d = np.arange(ZERO_WEIGHT_D - 70_000, fx.EXP_D_MAX + 10, dtype=np.int64)
    w = fx.exp_neg(np, d, 24)
    assert w[d >= ZERO_WEIGHT_D].max() == 0 and w[d == ZERO_WEIGHT_D - 70_000][0] > 0
    rng = np.random.default_rng(1)
    for i in range(600):
        size = int(rng.integers(2, 300))
        lg = (rng.standard_normal(size) * float(rng.choice([1, 4, 16, 64])) * 65536).astype(np.int64)
        if i % 3 == 0:
            lg = (lg // 65536) * 65536  # ties
        p = SamplingParams(
            seed=int(rng.integers(0, 2**63)),
            temperature_milli=int(rng.integers(1, 3000)),
            top_k=int(rng.choice([0, 1, 3, 50, 1000])),
            top_p_micro=int(rng.choice([1, 500_000, 900_000, 1_000_000])),
            max_tokens=1,
        )
        assert sample(lg, p, b"\x01" * 32, i) == _sample_full_sort(lg, p, b"\x01" * 32, i)
