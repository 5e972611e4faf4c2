"""The native integer kernels (intkernel.c) against the array (numpy) path: identical integers.

Linear layer: both implementations (AVX2 and portable C), 1-3 threads, token counts on both sides of the
array path's block/full-GEMM switch, the tiny model end to end and layers of the real SmolLM2. Element-wise
steps (exp table, SiLU gate, RMSNorm, attention) against fixedpoint/engine; typed errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from offchain import native
from offchain.ai import intkernel
from offchain.ai.engine import BlockLinear, Engine, RMSNorm
from offchain.ai.errors import EngineError
from offchain.ai.intkernel import NativeLinear
from offchain.ai.model_file import RawTensor
from offchain.errors import EigenError
from tests.offchain.ai.support import smol_service, tiny_service

IMPLS = intkernel.implementations()


@pytest.fixture(autouse=True)
def _native_on(monkeypatch):
    """These tests are about the kernels: on even where the suite runs with EIGEN_NATIVE=0."""
    monkeypatch.setenv("EIGEN_NATIVE", "1")


def _pair(raws, monkeypatch) -> tuple[BlockLinear, BlockLinear]:
    """The same layer built with the native kernel and with the array code."""
    nat = BlockLinear(raws, np)
    with monkeypatch.context() as m:
        m.setenv("EIGEN_NATIVE", "0")
        ref = BlockLinear(raws, np)
    assert nat.native is not None and ref.native is None
    return nat, ref


def _activations(rng, t: int, cols: int, bits: int) -> np.ndarray:
    """Quantized activations in [-2^bits, 2^bits] with both extremes present (+2^15 is the value int16 lacks)."""
    x = rng.integers(-(1 << bits), (1 << bits) + 1, size=(t, cols)).astype(np.int64)
    x[0, :: max(1, cols // 7)] = 1 << bits
    x[-1, 1 :: max(1, cols // 5)] = -(1 << bits)
    return x


def _check_layer(nat: BlockLinear, ref: BlockLinear, rng, token_counts=(1, 2, 5, 16, 17, 40)) -> None:
    for t in token_counts:
        x = rng.integers(-(1 << 40), 1 << 40, size=(t, nat.cols)).astype(np.int64)
        x[t // 2] >>= 26  # a row needing no quantization shift
        x[0, 3] = (1 << 41) - 1  # rounds up to +2^act_bits after the shift
        expect = ref(x, 20, 16)
        assert np.array_equal(nat(x, 20, 16), expect)
        xq = _activations(rng, t, nat.cols, nat.act_bits)
        assert nat.native is not None
        base = nat.native(xq, 1, "portable")
        for impl in IMPLS:
            for threads in (1, 2):
                assert np.array_equal(nat.native(xq, threads, impl), base)


def test_tiny_layers_native_equals_array(monkeypatch):
    model = tiny_service().model
    rng = np.random.default_rng(5)
    names = [["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"], "blk.1.ffn_down.weight"]
    for n in names:
        raws = [model.tensor(k) for k in n] if isinstance(n, list) else model.tensor(n)
        _check_layer(*_pair(raws, monkeypatch), rng)
    _check_layer(*_pair(model.tensor("token_embd.weight"), monkeypatch), rng)  # Q8_0 head


def _row_slice(raw: RawTensor, lo: int, hi: int) -> RawTensor:
    per_row = np.asarray(raw.data).reshape(raw.shape[0], -1)
    return RawTensor(raw.name, raw.ggml_type, (hi - lo, raw.shape[1]), per_row[lo:hi].reshape(-1))


def test_smollm2_layer_slices_native_equals_array(monkeypatch):
    model = smol_service().model
    rng = np.random.default_rng(9)
    for name, lo, hi in (
        ("blk.0.attn_q.weight", 0, 203),  # not a multiple of the 8-row group
        ("blk.17.ffn_down.weight", 100, 228),  # 1536 columns
        ("blk.29.ffn_gate.weight", 1000, 1256),
        ("token_embd.weight", 40000, 40300),  # Q8_0 tied head
    ):
        nat, ref = _pair(_row_slice(model.tensor(name), lo, hi), monkeypatch)
        _check_layer(nat, ref, rng, token_counts=(1, 4, 17))


def test_tiny_engine_native_equals_array(monkeypatch):
    model = tiny_service().model
    nat = Engine(model, threads=2)
    with monkeypatch.context() as m:
        m.setenv("EIGEN_NATIVE", "0")
        ref = Engine(model)
    assert nat.head.native is not None and ref.head.native is None
    toks = list(range(3, 60))
    cn, cr = nat.new_cache(), ref.new_cache()
    assert np.array_equal(nat.prefill(cn, toks, all_logits=True), ref.prefill(cr, toks, all_logits=True))
    for tok in (7, 100, 250):
        assert np.array_equal(nat.forward([(cn, [tok])])[0], ref.forward([(cr, [tok])])[0])


def test_kernel_is_registered_and_switchable(monkeypatch):
    assert (intkernel.SOURCE, intkernel.FLAGS) in native.KERNELS
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    assert BlockLinear(tiny_service().model.tensor("blk.0.ffn_up.weight"), np).native is None


def test_bad_inputs_raise_typed_errors():
    rng = np.random.default_rng(2)
    q = rng.integers(-8, 8, size=(10, 2, 32))
    d = rng.integers(-1000, 1000, size=(10, 2))
    lin = NativeLinear(q, d, d)
    good = rng.integers(-100, 100, size=(3, 64))
    assert lin(good).shape == (3, 10)
    for bad in (
        good[:, :32],  # wrong width
        good[0],  # not a matrix
        np.zeros((0, 64), dtype=np.int64),  # no tokens
        good.astype(np.float64),  # not integers
        np.full((1, 64), (1 << 15) + 1),  # outside the activation range
        np.full((1, 64), -(1 << 63), dtype=np.int64),  # |x| overflows int64
    ):
        with pytest.raises(EngineError):
            lin(bad)
    with pytest.raises(EngineError):
        lin(good, impl="sse9")
    for args in (
        (q[:, :, :16], d, d),  # blocks not of 32
        (q * 20, d, d),  # weights beyond int8
        (q.astype(np.float32), d, d),
        (q, d[:, :1], None),  # scale shape
        (q, d + 0.5, None),  # scales not integers
        (q, d << 20, None),  # scales beyond 2^24
    ):
        with pytest.raises(EngineError):
            NativeLinear(*args)
    assert issubclass(EngineError, EigenError)


def test_engine_thread_setting(monkeypatch):
    model = tiny_service().model
    assert Engine(model, threads=1).head.threads == 1
    monkeypatch.setenv("EIGEN_AI_THREADS", "3")
    assert Engine(model).layers[0].w_down.threads == 3
    monkeypatch.setenv("EIGEN_AI_THREADS", "two")
    with pytest.raises(EngineError):
        Engine(model)
    with pytest.raises(EngineError):
        Engine(model, threads=-1)


def test_output_rounding_is_rint_of_ldexp():
    """Ties to even, left shifts and shifts past the width, against numpy's rint(ldexp(y, e))."""
    shifts = np.array([0, 1, 2, 3, 5, -4, 61, 62, 63, 70], dtype=np.int64)
    rows = shifts.size
    q = np.zeros((rows, 1, 32), dtype=np.int64)
    q[:, 0, 0] = 1
    lin = NativeLinear(q, np.ones((rows, 1), dtype=np.int64), None, s_row=shifts, act_bits=15)
    v = np.arange(-40, 41, dtype=np.int64)
    x = np.zeros((v.size, 32), dtype=np.int64)
    x[:, 0] = v
    for impl in IMPLS:
        got = lin.apply(x, 0, 1, impl)
        expect = np.rint(np.ldexp(v[:, None].astype(np.float64), -shifts[None, :])).astype(np.int64)
        assert np.array_equal(got, expect)


def test_apply_bad_inputs_raise_typed_errors():
    rng = np.random.default_rng(3)
    lin = NativeLinear(rng.integers(-8, 8, size=(9, 1, 32)), rng.integers(-99, 99, size=(9, 1)), None)
    x = rng.integers(-(1 << 40), 1 << 40, size=(2, 32))
    assert np.array_equal(lin.apply((x >> 20).astype(np.int32), 3), lin.apply(x >> 20, 3))
    for bad in (x[:, :31], x.astype(np.float32), np.full((1, 32), 1 << 62), np.full((1, 32), -(1 << 62))):
        with pytest.raises(EngineError):
            lin.apply(bad, 0)
    with pytest.raises(EngineError):
        lin.apply(np.full((1, 32), 1 << 62, dtype=np.uint64), 0)
    with pytest.raises(EngineError):
        lin.apply(x, 0, threads=-1)
    for kw in (
        {"act_bits": 16},
        {"act_bits": 0},
        {"s_row": np.zeros(8, dtype=np.int64)},
        {"s_row": np.zeros(9)},
    ):
        with pytest.raises(EngineError):
            NativeLinear(rng.integers(-8, 8, size=(9, 1, 32)), rng.integers(-9, 9, size=(9, 1)), None, **kw)


def test_threaded_product_equals_int64_reference():
    """A product large enough for the kernel to split rows over threads (>= 2^23 multiply-adds),
    against a plain int64 computation of the same formula."""
    rng = np.random.default_rng(11)
    rows, nb, t = 2049, 32, 9
    q = rng.integers(-8, 8, size=(rows, nb, 32))
    d = rng.integers(-(1 << 23), 1 << 23, size=(rows, nb))
    mc = rng.integers(-(1 << 23), 1 << 23, size=(rows, nb))
    lin = NativeLinear(q, d, mc)
    x = _activations(rng, t, nb * 32, 15)
    xb = x.reshape(t, nb, 32)
    expect = np.einsum("rb,tbr->tr", d, np.einsum("rbi,tbi->tbr", q, xb)) + np.einsum(
        "rb,tb->tr", mc, xb.sum(2)
    )
    for impl in IMPLS:
        for threads in (1, 2, 3):
            got = lin(x, threads, impl)
            assert np.array_equal(got, expect.astype(np.float64)) and np.array_equal(
                got.astype(np.int64), expect
            )


@pytest.mark.parametrize("qlo,qhi", [(-128, 127), (-8, 7)])
def test_extreme_products_equal_int64_reference(qlo, qhi):
    """The bounds of intkernel.c at their limits (every implementation): NB_MAX blocks, weights and
    scales at their extremes, activations at +-2^15 (the sums most likely to wrap a narrower lane)."""
    rng = np.random.default_rng(17)
    rows, nb, t = 33, intkernel.NB_MAX, 3
    q = rng.choice([qlo, qhi], size=(rows, nb, 32))
    q[0], q[1] = qlo, qhi  # rows of one sign throughout
    top = (1 << 24) - 1
    d = rng.choice([-top, top], size=(rows, nb))
    d[:2] = top
    mc = rng.choice([-top, top], size=(rows, nb)) if qhi == 7 else None
    x = rng.choice([-(1 << 15), 1 << 15], size=(t, nb * 32))
    x[0], x[1] = 1 << 15, -(1 << 15)
    xb = x.reshape(t, nb, 32)
    expect = np.einsum("rb,tbr->tr", d, np.einsum("rbi,tbi->tbr", q, xb))
    if mc is not None:
        expect += np.einsum("rb,tb->tr", mc, xb.sum(2))
    lin = NativeLinear(q, d, mc)
    for impl in IMPLS:
        for threads in (1, 2):
            assert np.array_equal(lin.product(x, threads, impl), expect), (impl, threads)


def test_exp_neg_native_equals_array():
    from offchain.ai import fixedpoint as fx

    rng = np.random.default_rng(4)
    d = np.concatenate(
        [
            np.arange(0, 1 << 16, dtype=np.int64),  # one unit of the exponent, every value
            rng.integers(0, fx.EXP_D_MAX + 1, size=200_000),
            np.array([fx.EXP_D_MAX - 1, fx.EXP_D_MAX, fx.EXP_D_MAX + 1, 1 << 40, (1 << 62)], dtype=np.int64),
        ]
    )
    for bits in (14, 16, 24, 30):
        assert np.array_equal(intkernel.exp_neg(d, bits), fx.exp_neg(np, d, bits))
    grid = d[:1000].reshape(10, 100)
    assert np.array_equal(intkernel.exp_neg(grid, 16), fx.exp_neg(np, grid, 16))
    for bad, bits in ((np.array([-1]), 16), (d.astype(np.int32), 16), (d, 31), (d, 13)):
        with pytest.raises(EngineError):
            intkernel.exp_neg(bad, bits)


def test_silu_mul_native_equals_array(monkeypatch):
    """Every implementation (the AVX-512 lanes where the CPU has them, the scalar code when the linear
    kernel is pinned to portable or AVX2) against the array code, widths with and without a lane tail."""
    rng = np.random.default_rng(6)
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    ref = Engine(tiny_service().model)
    lim = (1 << 30) + 5  # beyond the clip on both sides
    for hidden in (96, 13):
        gu = rng.integers(-lim, lim, size=(40, 2 * hidden))
        gu[:5] >>= 14  # the usual range: |gate| a few units
        gu[5, :8] = [0, 1, -1, lim, -lim, (1 << 30) - 1, -(1 << 30) + 1, 1 << 16]
        gu[6, :hidden] = (np.arange(hidden) - hidden // 2) << 10  # sigma's division near its ties
        gu[7:20, :hidden] = rng.integers(-(1 << 22), 1 << 22, size=(13, hidden))
        expect = ref._silu_mul(gu[:, :hidden], gu[:, hidden:])
        try:
            for impl in IMPLS:
                intkernel.set_default_implementation(impl)
                assert np.array_equal(intkernel.silu_mul(gu, hidden), expect), impl
        finally:
            intkernel.set_default_implementation("auto")
    hidden = 13
    for bad, h in ((gu, hidden + 1), (gu[0], hidden), (gu.astype(np.float64), hidden)):
        with pytest.raises(EngineError):
            intkernel.silu_mul(bad, h)


def test_rmsnorm_native_equals_array(monkeypatch):
    model = tiny_service().model
    raw = model.tensor("blk.0.attn_norm.weight")
    nat = RMSNorm(raw, model.config.rms_eps, np)
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    ref = RMSNorm(raw, model.config.rms_eps, np)
    assert nat.native and not ref.native
    rng = np.random.default_rng(8)
    n = raw.shape[0]
    h = rng.integers(-(1 << 40), 1 << 40, size=(64, n))
    for i, bits in enumerate(range(0, 41, 2)):
        h[i] >>= 40 - bits  # every normalisation shift from -24 up
    h[30] = 0  # all zero: the eps term alone
    h[31, :] = 1 << 40  # constant row: ties in the rounding
    h[32, ::2] = -(1 << 61)  # the largest magnitude the engine could hand over
    assert np.array_equal(nat(h), ref(h))
    with pytest.raises(EngineError):
        nat(np.full((1, n), 1 << 62))
    with pytest.raises(EngineError):
        intkernel.rmsnorm(h[:, 1:], nat.G, nat.K, nat.eps_tbl)


def test_builds_without_openmp(monkeypatch, tmp_path):
    """A compiler that rejects the OpenMP flag still gives the kernel (single-threaded, same numbers)."""
    monkeypatch.setenv("EIGEN_NATIVE_DIR", str(tmp_path))
    monkeypatch.setattr(intkernel, "FLAGS", ("-fno-such-openmp-flag",))
    monkeypatch.setattr(native, "_loaded", {})
    rng = np.random.default_rng(12)
    q, d = rng.integers(-8, 8, size=(16, 2, 32)), rng.integers(-99, 99, size=(16, 2))
    lin = NativeLinear(q, d, None)
    x = rng.integers(-(1 << 15), 1 << 15, size=(3, 64))
    y = lin(x, 2)
    assert [p.name.split("-")[0] for p in tmp_path.glob("*.so")] == ["intkernel"]  # built without the flag
    monkeypatch.undo()
    with_omp = NativeLinear(q, d, None)
    assert with_omp.lib is not lin.lib
    assert np.array_equal(y, with_omp(x, 2))


def test_attend_native_equals_array(monkeypatch):
    model = tiny_service().model
    nat = Engine(model)
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    ref = Engine(model)
    assert nat.native_ops and not ref.native_ops
    cfg = model.config
    rng = np.random.default_rng(10)
    for start, n in ((0, 1), (0, 9), (5, 1), (37, 4), (60, 70)):
        total = start + n
        cache = ref.new_cache()
        cache._reserve(total)
        k, ek, v = cache.k[0], cache.ek[0], cache.v[0]
        k[:, :total] = rng.integers(-(1 << 20) + 1, 1 << 20, size=(cfg.n_kv_heads, total, cfg.head_dim))
        ek[:, :total] = rng.integers(0, 12, size=(cfg.n_kv_heads, total))
        v[:, :total] = rng.integers(-(1 << 24) + 1, 1 << 24, size=(cfg.n_kv_heads, total, cfg.head_dim))
        q = rng.integers(-(1 << 20) + 1, 1 << 20, size=(n, cfg.n_heads, cfg.head_dim))
        eq = rng.integers(0, 12, size=(n, cfg.n_heads))
        q[0] >>= 12  # a flat softmax row
        expect = ref._attend(0, cache, q, eq, start, n)
        got = intkernel.attend(q, eq, k, ek, v, start, cfg.n_kv_heads, nat.score_shift)
        assert np.array_equal(got, expect)
    for bad_start in (cache.cap, 8192):
        with pytest.raises(EngineError):
            intkernel.attend(q, eq, k, ek, v, bad_start, cfg.n_kv_heads, nat.score_shift)
    with pytest.raises(EngineError):
        intkernel.attend(q, eq[:, :-1], k, ek, v, 0, cfg.n_kv_heads, nat.score_shift)
    with pytest.raises(EngineError):
        intkernel.attend(q, eq, k, ek, v, 0, 0, nat.score_shift)
    with pytest.raises(EngineError):
        intkernel.attend(q, eq, k.astype(np.float32), ek, v, 0, cfg.n_kv_heads, nat.score_shift)


def _attention_case(rng, n, start, kvh, g, hd, qbits=20, e_hi=12):
    """Random q, eq, cache k, ek, v for ``intkernel.attend`` within the kernel's bounds."""
    cap = start + n + 3
    q = rng.integers(-(1 << qbits) + 1, 1 << qbits, size=(n, kvh * g, hd))
    eq = rng.integers(0, e_hi, size=(n, kvh * g))
    k = rng.integers(-(1 << 20), (1 << 20) + 1, size=(kvh, cap, hd)).astype(np.int32)
    ek = rng.integers(0, e_hi, size=(kvh, cap))
    v = rng.integers(-(1 << 24) + 1, 1 << 24, size=(kvh, cap, hd)).astype(np.int32)
    return q, eq, k, ek, v


@pytest.mark.parametrize(
    "n, start, kvh, g, hd, shift, qbits",
    [
        (1, 0, 3, 3, 64, -19, 20),  # the first decode step
        (1, 917, 3, 3, 64, -40, 20),  # a decode step split into position segments over threads
        (300, 0, 3, 3, 64, -42, 20),  # a prefill: row chunks spanning tokens
        (37, 100, 2, 4, 16, -30, 20),  # chunked prefill, the tiny model's head size
        (5, 600, 1, 1, 8, -35, 20),
        (2, 1500, 3, 3, 128, -45, 20),  # two 64-dimension windows of P.V
        (1, 700, 2, 2, 72, -38, 20),  # a partial window
        (4, 40, 3, 3, 24, 3, 3),  # e = eq + ek + shift >= 0: scores shifted left
        (1, 64, 1, 3, 64, -80, 20),  # e < -62: every score 0, a flat softmax
        (3, 20, 2, 2, 12, -30, 20),  # a head size the blocked kernel leaves to the reference
    ],
)
def test_blocked_attention_equals_reference(n, start, kvh, g, hd, shift, qbits):
    """The blocked attention (AVX-512: row chunks, vector softmax, decode positions split over threads)
    gives the reference kernel's integers on every thread count."""
    rng = np.random.default_rng(n * 7919 + start)
    q, eq, k, ek, v = _attention_case(rng, n, start, kvh, g, hd, qbits)
    expect = intkernel.attend(q, eq, k, ek, v, start, kvh, shift, 1, "reference")
    for impl in intkernel.attention_implementations() + ["auto"]:
        for threads in (1, 2, 3, 0):
            assert np.array_equal(intkernel.attend(q, eq, k, ek, v, start, kvh, shift, threads, impl), expect)


def test_blocked_attention_at_its_bounds():
    """8192 positions, |q| = 2^20 - 1, |k| = 2^20 and |v| = 2^24 - 1 with a flat softmax (every weight
    2^16): P.V reaches its 2^53 bound and q.k 2^46 (first token; the second one's scores are 0).
    Blocked = reference, 1-3 threads, and both equal the exact mean of the values."""
    kvh, g, hd, n, total = 2, 3, 64, 2, 8192
    q = np.full((n, kvh * g, hd), (1 << 20) - 1, dtype=np.int64)
    q[1, :, ::2] = -((1 << 20) - 1)
    eq = np.zeros((n, kvh * g), dtype=np.int64)
    k = np.full((kvh, total, hd), 1 << 20, dtype=np.int32)
    ek = np.zeros((kvh, total), dtype=np.int64)
    v = np.full((kvh, total, hd), (1 << 24) - 1, dtype=np.int32)
    v[:, :, 1::2] = -((1 << 24) - 1)
    for shift in (-46, -30):
        expect = intkernel.attend(q, eq, k, ek, v, total - n, kvh, shift, 1, "reference")
        assert np.array_equal(expect, np.broadcast_to(v[0, 0], (n, kvh * g, hd)).reshape(n, -1))
        for impl in intkernel.attention_implementations():
            for threads in (1, 2, 3):
                got = intkernel.attend(q, eq, k, ek, v, total - n, kvh, shift, threads, impl)
                assert np.array_equal(got, expect), (shift, impl, threads)


def test_attention_implementation_choice_errors():
    rng = np.random.default_rng(5)
    q, eq, k, ek, v = _attention_case(rng, 1, 4, 1, 2, 16)
    assert "reference" in intkernel.attention_implementations()
    with pytest.raises(EngineError, match="not available"):
        intkernel.attend(q, eq, k, ek, v, 4, 1, -30, 1, "fast")
    with pytest.raises(EngineError, match="threads"):
        intkernel.attend(q, eq, k, ek, v, 4, 1, -30, -1)
    t1, t2, l2e = intkernel._tables()
    out = np.empty((1, 2 * 16), dtype=np.int64)
    ptrs = [a.ctypes.data for a in (q, eq)] + [1, 1, 2, 16] + [a.ctypes.data for a in (k, ek, v)]
    args = (*ptrs, k.shape[1], 4, -30, t1.ctypes.data, t2.ctypes.data, l2e, out.ctypes.data, 1)
    lib = intkernel.library()
    assert lib.il_attend_ex(*args, intkernel.ATT_IMPLS["reference"]) == 0
    assert lib.il_attend_ex(*args, 7) == -1  # an unknown implementation code: refused, not run
    try:
        for name in intkernel.attention_implementations():
            intkernel.set_default_attention(name)
            assert intkernel.default_attention() == name
            assert lib.il_set_default_att(9) == -1 and intkernel.default_attention() == name
        with pytest.raises(EngineError, match="not available"):
            intkernel.set_default_attention("flash")
    finally:
        intkernel.set_default_attention("auto")
    assert intkernel.default_attention() == "auto"


def _attn_step_array(ref: Engine, cache, qkv: np.ndarray, start: int) -> np.ndarray:
    """The array code of Engine._forward between the qkv product and the output projection."""
    from offchain.ai import fixedpoint as fx
    from offchain.ai.engine import F_ACT, F_V, V_LIMIT

    cfg = ref.config
    nh, kvh, hd, n = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, qkv.shape[0]
    pos = np.arange(start, start + n)
    q = ref._rope(qkv[:, : nh * hd].reshape(n, nh, hd), pos)
    k = ref._rope(qkv[:, nh * hd : (nh + kvh) * hd].reshape(n, kvh, hd), pos)
    v = qkv[:, (nh + kvh) * hd :].reshape(n, kvh, hd)
    qs, eq = ref._qk_scale(q)
    ks, ek = ref._qk_scale(k)
    cache.k[0][:, start : start + n] = ks.transpose(1, 0, 2)
    cache.ek[0][:, start : start + n] = ek.T
    cache.v[0][:, start : start + n] = np.clip(
        fx.round_shift(np, v, F_ACT - F_V), -V_LIMIT, V_LIMIT
    ).transpose(1, 0, 2)
    return ref._attend(0, cache, qs, eq, start, n)


def test_attn_step_native_equals_array(monkeypatch):
    """RoPE, the q/k shifts, the value rounding, the cache writes and attention in one C call: the same
    integers (output and cache) as the array code, with values beyond every clip, 1 and 2 threads
    (200 new tokens are enough to split heads over threads)."""
    model = tiny_service().model
    nat = Engine(model)
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    ref = Engine(model)
    cfg = model.config
    width = (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim
    rng = np.random.default_rng(13)
    for threads in (1, 2):
        c_nat, c_ref = nat.new_cache(), ref.new_cache()
        start = 0
        for n in (1, 9, 200, 1, 3):
            c_nat._reserve(n)
            c_ref._reserve(n)
            qkv = rng.integers(-(1 << 33), 1 << 33, size=(n, width))
            qkv[0] >>= rng.integers(0, 30)  # rows of every magnitude
            qkv[-1, ::3] = (1 << 40) * rng.choice([-1, 1])  # beyond the RoPE and value clips
            expect = _attn_step_array(ref, c_ref, qkv, start)
            got = intkernel.attn_step(
                qkv, cfg.n_heads, cfg.n_kv_heads, nat._cos_np, nat._sin_np, start,
                c_nat.k[0], c_nat.ek[0], c_nat.v[0], nat.score_shift, threads,
            )  # fmt: skip
            assert np.array_equal(got, expect)
            for a, b in ((c_nat.k, c_ref.k), (c_nat.ek, c_ref.ek), (c_nat.v, c_ref.v)):
                assert np.array_equal(a[0][:, : start + n], b[0][:, : start + n])
            start += n
            c_nat.length = c_ref.length = start
    k, ek, v = c_nat.k[0], c_nat.ek[0], c_nat.v[0]
    args = (cfg.n_heads, cfg.n_kv_heads, nat._cos_np, nat._sin_np)
    for bad in (
        (qkv[:, :-1], *args, 0, k, ek, v, nat.score_shift),  # width not (heads + 2 kv) * hd
        (qkv, cfg.n_heads, 3, *args[2:], 0, k, ek, v, nat.score_shift),  # heads not a multiple
        (qkv, *args, c_nat.cap, k, ek, v, nat.score_shift),  # past the cache
        (qkv, *args, 0, k.astype(np.float32), ek, v, nat.score_shift),
        (qkv.astype(np.float64), *args, 0, k, ek, v, nat.score_shift),
        (qkv, *args, 0, k, ek, v, nat.score_shift, -1),
    ):
        with pytest.raises(EngineError):
            intkernel.attn_step(*bad)


def test_native_layer_matches_step_by_step_and_rejects_bad_input():
    """One C call per layer (single sequence) against the same layer run kernel by kernel (the
    multi-sequence path of Engine._forward), and typed errors for bad arguments."""
    eng = Engine(tiny_service().model)
    assert eng._native_layers is not None
    toks = [5, 17, 99, 3, 250, 8, 41]
    c1, c2, c3 = eng.new_cache(), eng.new_cache(), eng.new_cache()
    fused = eng.forward([(c1, toks)], all_logits=True)[0]  # one item: il_layer
    stepwise = eng.forward([(c2, toks), (c3, toks[:2])], all_logits=True)[0]  # two items: kernel by kernel
    assert np.array_equal(fused, stepwise)
    for a, b in ((c1.k, c2.k), (c1.ek, c2.ek), (c1.v, c2.v)):
        assert all(np.array_equal(x[:, : len(toks)], y[:, : len(toks)]) for x, y in zip(a, b, strict=True))
    nl, cache = eng._native_layers[0], eng.new_cache()
    cache._reserve(4)
    k, ek, v = cache.k[0], cache.ek[0], cache.v[0]
    h = np.zeros((2, eng.config.d_model), dtype=np.int64)
    for bad in (
        (h.astype(np.int32), 0, k, ek, v),
        (np.asfortranarray(np.zeros((2, eng.config.d_model, 2), dtype=np.int64))[..., 0], 0, k, ek, v),
        (h[:, :-1], 0, k, ek, v),
        (h, 0, k[:, :, :-1], ek, v),
        (h, 0, k, ek.astype(np.float64), v),
        (h, cache.cap - 1, k, ek, v),  # past the cache
        (h, 0, k, ek, v, -1),
    ):
        with pytest.raises(EngineError):
            nl(*bad)
    ly = eng.layers[0]
    with pytest.raises(EngineError):  # shapes that do not fit together
        intkernel.NativeLayer(
            ly.attn_norm.params(), ly.wqkv.native, ly.wqkv.native, ly.ffn_norm.params(), ly.w_gate_up.native,
            ly.w_down.native, eng.config.n_heads, eng.config.n_kv_heads, eng._cos_np, eng._sin_np, eng.score_shift,
        )  # fmt: skip


def test_set_threads_changes_every_kernel_not_the_result():
    eng = Engine(tiny_service().model, threads=1)
    toks = list(range(3, 40))
    one = eng.prefill(eng.new_cache(), toks, all_logits=True)
    eng.set_threads(2)
    assert eng.threads == 2 and eng.head.threads == 2
    assert all(bl.threads == 2 for ly in eng.layers for bl in (ly.wqkv, ly.wo, ly.w_gate_up, ly.w_down))
    assert np.array_equal(eng.prefill(eng.new_cache(), toks, all_logits=True), one)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(EngineError):
            eng.set_threads(bad)  # type: ignore[arg-type]
    assert eng.threads == 2


def test_kernel_setting_selects_the_implementation(monkeypatch):
    """EIGEN_AI_KERNEL picks what the engine's "auto" runs (same integers); a bad or unavailable
    one is a typed error naming the setting's choices."""
    try:
        for impl in IMPLS:
            monkeypatch.setenv("EIGEN_AI_KERNEL", impl)
            eng = Engine(tiny_service().model)
            assert intkernel.default_implementation() == impl
            assert intkernel.library().il_set_default_impl(9) == -1  # rejected, default unchanged
            assert intkernel.default_implementation() == impl
            logits = eng.prefill(eng.new_cache(), [1, 2, 3])
            if impl == IMPLS[0]:
                base = logits
            assert np.array_equal(logits, base), impl
        monkeypatch.setenv("EIGEN_AI_KERNEL", "sse9")
        with pytest.raises(EngineError, match="EIGEN_AI_KERNEL"):
            Engine(tiny_service().model)
        with pytest.raises(EngineError, match="not available"):
            intkernel.set_default_implementation("mmx")
    finally:
        intkernel.set_default_implementation("auto")
    assert intkernel.default_implementation() == "auto"


def test_concurrent_threaded_products_are_exact():
    """Products from several Python threads at once (ctypes releases the GIL) share the kernel's
    thread team: each gets its own exact result, on every thread count."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(23)
    q = rng.integers(-8, 8, size=(1024, 16, 32))
    d = rng.integers(-(1 << 20), 1 << 20, size=(1024, 16))
    lin = NativeLinear(q, d, d)
    xs = [_activations(rng, t, 512, 15) for t in (1, 3, 1, 7, 1, 2)]
    expect = [lin.product(x, 1, "portable") for x in xs]

    def run(i: int) -> bool:
        return all(np.array_equal(lin.product(xs[i], 1 + (i + k) % 3), expect[i]) for k in range(20))

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(run, range(len(xs))))


def test_forked_child_runs_threaded_products():
    """Children forked while another thread is inside a threaded product (os.fork copies no threads,
    and the team's locks may be held) get a fresh team and the same exact products, never a hang."""
    import os
    import select
    import threading

    rng = np.random.default_rng(29)
    q = rng.integers(-8, 8, size=(1024, 16, 32))
    d = rng.integers(-(1 << 20), 1 << 20, size=(1024, 16))
    lin = NativeLinear(q, d, d)
    x = _activations(rng, 2, 512, 15)
    expect = lin.product(x, 2)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            lin.product(x, 2)

    th = threading.Thread(target=busy)
    th.start()
    try:
        for _ in range(6):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through the pipe
                ok = all(np.array_equal(lin.product(x, t), expect) for t in (2, 3, 1, 2))
                os.write(w, b"1" if ok else b"0")
                os._exit(0)
            os.close(w)
            ready, _, _ = select.select([r], [], [], 30)
            if not ready:
                os.kill(pid, 9)
            os.waitpid(pid, 0)
            got = os.read(r, 1) if ready else b""
            os.close(r)
            assert got == b"1", "the forked child hung or computed wrong products"
    finally:
        stop.set()
        th.join()
