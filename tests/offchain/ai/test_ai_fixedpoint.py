import hashlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.ai import fixedpoint as fx
from offchain.ai.errors import EngineError


def test_log2e_constant_is_correctly_rounded():
    assert fx.log2e_q32() == round(2**32 / math.log(2))


def test_exp_tables_golden_and_accurate():
    t1, t2 = fx.exp_tables()
    digest = hashlib.sha256(t1.tobytes() + t2.tobytes()).hexdigest()
    assert digest == "884e29fa9fb07848de05a84ee97f31ee5a711d5d6c91a3da3acc1f86d6c9a485"
    k = np.arange(1024)
    assert np.max(np.abs(t1 - np.round(2**30 * 2.0 ** (-k / 1024)))) <= 1
    assert np.max(np.abs(t2 - np.round(2**30 * 2.0 ** (-k / 2**20)))) <= 1


def test_exp_neg_relative_error():
    d = np.arange(0, 20 << 16, 331, dtype=np.int64)
    e = fx.exp_neg(np, d, 30)
    ref = np.exp(-d / 65536.0) * 2**30
    assert np.all(np.abs(e - ref) <= ref * 1e-6 + 1)
    assert int(fx.exp_neg(np, np.array([0]), 16)[0]) == 1 << 16
    assert int(fx.exp_neg(np, np.array([1 << 40]), 30)[0]) == 0  # clipped, no overflow


@given(st.lists(st.integers(0, (1 << 62) - 1), min_size=1, max_size=20))
def test_isqrt_exact(vals):
    r = fx.isqrt(np, np.array(vals, dtype=np.int64))
    assert [int(x) for x in r] == [math.isqrt(v) for v in vals]


@given(st.lists(st.integers(0, (1 << 62)), min_size=1, max_size=20))
def test_bitlen(vals):
    assert [int(x) for x in fx.bitlen(np, np.array(vals, dtype=np.int64))] == [v.bit_length() for v in vals]


@given(st.integers(-(1 << 50), 1 << 50), st.integers(0, 40))
def test_round_shift_and_rdiv(x, s):
    got = int(fx.round_shift(np, np.array([x], dtype=np.int64), s)[0])
    assert got == math.floor(x / 2**s + 0.5) if s else got == x
    d = (1 << s) + 3
    assert int(fx.rdiv(np, np.array([x], dtype=np.int64), np.array([d]))[0]) == math.floor(x / d + 0.5)


def test_rope_tables_golden_and_accurate():
    c, s = fx.rope_tables(10000, 1, 16, 256)
    assert (
        hashlib.sha256(c.tobytes() + s.tobytes()).hexdigest()
        == "778b4455fb7d4d46e9a83d81aab66e403c033e12ed8d738db9f1f5611708deb9"
    )
    c, s = fx.rope_tables(100000, 1, 64, 8192)
    p = np.arange(8192)[:, None]
    th = 100000.0 ** (-np.arange(32) * 2 / 64)
    assert np.max(np.abs(c / 2**30 - np.cos(p * th))) < 1e-8
    assert np.max(np.abs(s / 2**30 - np.sin(p * th))) < 1e-8


def test_isqrt_rejects_nothing_silently():
    with pytest.raises(EngineError):
        fx.isqrt(np, np.array([-5], dtype=np.int64))
