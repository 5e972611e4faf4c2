from fractions import Fraction

import numpy as np
import pytest

from offchain.ai.engine import BlockLinear, Engine
from offchain.ai.errors import EngineError, ModelFileError
from offchain.ai.generate import Request, generate
from offchain.ai.model_file import load_model_file
from offchain.ai.sampler import SamplingParams
from tests.offchain.ai.support import TINY_GOLDEN, golden_digest, tiny_service


def _int_reference(lin: BlockLinear, x: np.ndarray, f_in: int, f_out: int) -> list[list[int]]:
    """The same linear map in Python integers / int64 einsum (no float anywhere)."""
    t = x.shape[0]
    sh = [max(0, int(abs(row).max()).bit_length() - lin.act_bits) for row in x]
    xq = np.array(
        [[(int(v) + ((1 << (s - 1)) if s else 0)) >> s for v in row] for row, s in zip(x, sh, strict=True)],
        dtype=np.int64,
    )
    xb = xq.reshape(t, lin.nb, 32)
    q = lin.Q.astype(np.int64)  # [nb, 32, rows]
    s_blk = np.einsum("tbi,bir->btr", xb, q)
    y = np.einsum("br,btr->tr", lin.D.astype(np.int64), s_blk)
    if lin.McT is not None:
        y = y + np.einsum("tb,br->tr", xb.sum(axis=2), lin.McT.astype(np.int64))
    out = []
    for ti in range(t):
        row = []
        for r in range(lin.rows):
            e = f_out - f_in - int(lin.s_row[r]) + sh[ti]
            row.append(round(Fraction(int(y[ti, r])) * Fraction(2) ** e))  # ties to even, like rint
        out.append(row)
    return out


def test_block_linear_equals_integer_reference():
    eng = tiny_service().engine
    rng = np.random.default_rng(1)
    for lin in (eng.layers[0].wqkv, eng.layers[1].w_down, eng.head):
        for rows in (3, 20):  # per-block float32 path and full float64 GEMM path
            x = rng.integers(-(1 << 40), 1 << 40, size=(rows, lin.cols)).astype(np.int64)
            x[1] //= 1 << 30  # small row: no quantization shift
            got = lin(x, 20, 16)
            assert got.tolist() == _int_reference(lin, x, 20, 16)


def test_golden_transcripts():
    assert golden_digest(tiny_service()) == TINY_GOLDEN


def _run(svc, prompts, params, **kw):
    reqs = [Request(tuple(svc.prompt_tokens(None, p)), params) for p in prompts]
    trs = generate(svc.engine, reqs, tokenizer_hash=svc.tokenizer.hash, eos_id=svc.tokenizer.eos_id, **kw)
    return [(tuple(t.output_tokens), tuple(t.logits_hashes)) for t in trs]


def test_batch_invariance_mixed_prompts():
    svc = tiny_service()
    params = SamplingParams.from_user(seed=3, temperature=0.8, max_tokens=10)
    target = "the theory of everything"
    alone = _run(svc, [target], params)[0]
    others = ["a", "hello there, how are you today?", "1234 + 5678 = ?", "x" * 40, "the", "zz top", "42"]
    for size in (4, 8):
        batch = [*others[: size - 1]]
        batch.insert(size // 2, target)
        res = _run(svc, batch, params)
        assert res[size // 2] == alone
        assert res[0] == _run(svc, [batch[0]], params)[0]


def test_chunked_prefill_matches_whole():
    eng = tiny_service().engine
    toks = list(range(3, 60))
    whole = eng.prefill(eng.new_cache(), toks, all_logits=True)
    for chunk in (1, 3, 17):
        got = eng.prefill(eng.new_cache(), toks, chunk=chunk, all_logits=True)
        assert np.array_equal(got, whole)
    svc = tiny_service()
    params = SamplingParams.from_user(seed=1, temperature=1.0, max_tokens=6)
    assert _run(svc, ["hello there"], params, prefill_chunk=2) == _run(svc, ["hello there"], params)


def test_decode_matches_prefill_positions():
    eng = tiny_service().engine
    toks = list(range(10, 30))
    whole = eng.prefill(eng.new_cache(), toks, all_logits=True)
    c = eng.new_cache()
    eng.prefill(c, toks[:5])
    step = [eng.forward([(c, [t])])[0][0] for t in toks[5:]]
    assert np.array_equal(np.stack(step), whole[5:])


def test_engine_input_errors():
    eng = tiny_service().engine
    with pytest.raises(EngineError):
        eng.forward([(eng.new_cache(), [])])
    with pytest.raises(EngineError):
        eng.forward([(eng.new_cache(), [eng.config.vocab_size])])
    with pytest.raises(EngineError):
        eng.forward([(eng.new_cache(), [-1])])
    with pytest.raises(EngineError):
        eng.forward([(object(), [1])])  # type: ignore[list-item]
    with pytest.raises(EngineError, match="context"):
        eng.prefill(eng.new_cache(), [5] * (eng.config.context_length + 1))
    with pytest.raises(EngineError):
        eng.prefill(eng.new_cache(), [5], chunk=0)
    svc = tiny_service()
    with pytest.raises(EngineError, match="exceeds context"):
        generate(
            eng,
            [Request((5,) * 200, SamplingParams(max_tokens=100))],
            tokenizer_hash=svc.tokenizer.hash,
            eos_id=2,
        )
    with pytest.raises(EngineError):
        generate(eng, [Request((), SamplingParams())], tokenizer_hash=svc.tokenizer.hash, eos_id=2)


def test_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError):
        load_model_file(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelFileError):
        load_model_file(bad)
    mf = tiny_service().model
    with pytest.raises(ModelFileError, match="hash mismatch"):
        load_model_file(mf.path, expected_sha256=b"\x00" * 32)
    with pytest.raises(ModelFileError):
        mf.tensor("blk.99.attn_q.weight")
    with pytest.raises(ModelFileError):
        BlockLinear(mf.tensor("output_norm.weight"), np)


def test_model_file_missing_package(monkeypatch):
    import importlib.metadata

    from offchain.ai import model_file

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delenv("EIGEN_AI_MODEL", raising=False)
    monkeypatch.setattr(model_file.importlib.metadata, "distribution", missing)
    with pytest.raises(ModelFileError, match="not installed"):
        model_file.locate_smollm2()
    monkeypatch.setenv("EIGEN_AI_MODEL", "/nonexistent/model.gguf")
    with pytest.raises(ModelFileError):
        model_file.locate_smollm2()


def test_engine_rejects_unknown_backend():
    from offchain.ai.errors import AIBackendError

    with pytest.raises(AIBackendError):
        Engine(tiny_service().model, backend="torch")
