"""The JSON-object automaton of constrained decoding and the token masks it induces."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.ai.errors import GrammarError, SamplingError
from offchain.ai.grammar import START, compile_schema, complete, grammar_for, json_grammar, step
from offchain.ai.options import Decoder, RequestOptions
from offchain.ai.sampler import SamplingParams, sample
from tests.offchain.ai.support import tiny_service


def _run(data: bytes):
    s = START
    for b in data:
        s = step(s, b)
        if s is None:
            return None
    return s


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json, max_size=4))
def test_every_compact_json_object_and_its_prefixes_are_accepted(obj):
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    s = START
    for i, b in enumerate(data):
        s = step(s, b)
        assert s is not None, data[: i + 1]
        assert complete(s) == (i == len(data) - 1)
    assert step(s, ord("}")) is None and step(s, ord(" ")) is None  # nothing after the object


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b'"x"',
        b"1",
        b"{ }",
        b'{"a":1,}',
        b'{"a" :1}',
        b'{"a":01}',
        b'{"a":1.}',
        b'{"a":-}',
        b'{"a":tru}',
        b'{"a":"\\x"}',
        b'{"a":"\\u12g4"}',
        b'{"a":"\x01"}',
        b'{"a":"\xc0\x80"}',  # overlong
        b'{"a":"\xed\xa0\x80"}',  # surrogate
        b'{"a":"\xf4\x90\x80\x80"}',  # above U+10FFFF
        b'{"a":"\x80"}',
        b'{"a":[1}',
        b'{"a":{"b":1]}',
        b"{1:2}",
    ],
)
def test_invalid_documents_are_refused(text):
    s = _run(text)
    assert s is None or not complete(s)
    if s is not None:  # a prefix that cannot be completed would be a bug: the refusal is on a byte
        pytest.fail(f"{text!r} was accepted as a prefix")


def test_nesting_is_bounded():
    assert _run(b'{"a":' + b"[" * 31) is not None
    assert _run(b'{"a":' + b"[" * 32) is None


def test_masks_agree_with_the_automaton_on_every_token():
    svc = tiny_service()
    g = json_grammar(svc.tokenizer)
    states = [START]
    for prefix in (b"{", b'{"ab', b'{"a":', b'{"a":12', b'{"a":"x\xe2', b'{"a":[true,', b"{}"):
        states.append(_run(prefix))
    for s in states:
        mask = g.mask(s)
        for tok in range(g.vocab):
            b = g.token_bytes[tok]
            if tok == svc.tokenizer.eos_id:
                assert mask[tok] == complete(s)
            elif not b:
                assert not mask[tok]
            else:
                ok = _run_from(s, b) is not None and not complete(s)
                assert mask[tok] == ok, (s, tok, b)
    with pytest.raises(GrammarError):
        g.advance(START, svc.tokenizer.eos_id)
    with pytest.raises(GrammarError):
        g.advance(START, 3 + ord("["))


def _run_from(s, data):
    for b in data:
        s = step(s, b)
        if s is None:
            return None
    return s


def test_sampling_under_a_mask_picks_only_allowed_tokens_in_id_terms():
    rng = np.random.default_rng(0)
    lg = rng.integers(-(1 << 16), 1 << 16, size=50).astype(np.int64)
    mask = np.zeros(50, dtype=bool)
    mask[[3, 17, 41]] = True
    p = SamplingParams.from_user(seed=1, temperature=1.3, max_tokens=4)
    picks = {sample(lg, p, b"\x01" * 32, step, mask) for step in range(64)}
    assert picks <= {3, 17, 41} and len(picks) > 1
    # greedy under a mask: the allowed maximum (lowest id on ties)
    g = SamplingParams()
    assert sample(lg, g, b"\x00" * 32, 0, mask) == [3, 17, 41][int(np.argmax(lg[[3, 17, 41]]))]
    # the same draw as sampling the sub-vector directly
    assert sample(lg, p, b"\x02" * 32, 5, mask) == [3, 17, 41][sample(lg[[3, 17, 41]], p, b"\x02" * 32, 5)]
    for bad in (np.zeros(50, dtype=bool), np.ones(49, dtype=bool), np.ones(50, dtype=np.int64)):
        with pytest.raises(SamplingError):
            sample(lg, p, b"\x00" * 32, 0, bad)


def test_penalties_and_bias_are_integer_exact():
    svc = tiny_service()
    o = RequestOptions(presence_milli=500, frequency_milli=-300, logit_bias=((5, 3), (9, -100)))
    d = Decoder(o, svc.tokenizer)
    raw = np.arange(278, dtype=np.int64) * 1000
    for t in (7, 7, 8):
        d.accept(t)
    lg = d.logits(raw)
    assert lg[5] == raw[5] + (3 << 16) and lg[9] == raw[9] - (100 << 16)
    assert lg[7] == raw[7] - (((500 - 600) << 16) // 1000)  # presence 0.5, frequency -0.3 x 2
    assert lg[8] == raw[8] - (((500 - 300) << 16) // 1000)
    assert np.array_equal(np.delete(lg, [5, 7, 8, 9]), np.delete(raw, [5, 7, 8, 9]))
    assert d.logits(raw) is not raw and np.array_equal(raw, np.arange(278) * 1000)  # raw untouched


@pytest.mark.parametrize(
    "kw",
    [
        {"stop": ("",)},
        {"stop": ("a",) * 5},
        {"presence_milli": 2001},
        {"logit_bias": ((5, 1), (5, 2))},
        {"logit_bias": ((9, 1), (5, 2))},
        {"logit_bias": ((5, 101),)},
        {"grammar": "yaml"},
    ],
)
def test_bad_options_are_refused(kw):
    with pytest.raises(SamplingError):
        RequestOptions(**kw)


def test_options_hash_and_json_roundtrip():
    o = RequestOptions(
        stop=("x", "\u2603"), presence_milli=-2000, logit_bias=((1, -5),), grammar="json_object"
    )
    assert RequestOptions.from_dict(o.to_dict()) == o
    assert o.hash() != RequestOptions(stop=("x",)).hash() and RequestOptions().is_default
    with pytest.raises(SamplingError):
        RequestOptions.from_dict({**o.to_dict(), "extra": 1})


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "a name"},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b\u00e9"]}},
        "ok": {"type": "boolean"},
        "none": {"type": "null"},
        "kind": {"const": "cat"},
        "sub": {
            "type": "object",
            "properties": {"xs": {"type": "array", "items": {"type": "integer"}}},
            "required": ["xs"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "score", "tags", "ok", "none", "kind", "sub"],
    "additionalProperties": False,
}


def _run_schema(sch, data):
    s = sch.start
    for b in data:
        s = sch.step(s, b)
        if s is None:
            return None
    return s


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=6),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.sampled_from(["a", "b\u00e9"]), max_size=3),
    st.booleans(),
    st.lists(st.integers(-5, 10**6), max_size=3),
)
def test_schema_instances_are_accepted_and_complete_only_at_their_end(name, age, score, tags, ok, xs):
    sch = compile_schema(SCHEMA)
    doc = {
        "name": name,
        "age": age,
        "score": score,
        "tags": tags,
        "ok": ok,
        "none": None,
        "kind": "cat",
        "sub": {"xs": xs},
    }
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    s = sch.start
    for i, b in enumerate(data):
        s = sch.step(s, b)
        assert s is not None, data[: i + 1]
        assert sch.is_complete(s) == (i == len(data) - 1)


@pytest.mark.parametrize(
    "mutation",
    [
        {"age": 1.5},
        {"age": "1"},
        {"tags": ["c"]},
        {"ok": None},
        {"none": 0},
        {"kind": "dog"},
        {"sub": {}},
        {"sub": {"xs": [1.0]}},
    ],
)
def test_schema_violations_are_refused(mutation):
    doc = {
        "name": "x",
        "age": 1,
        "score": 2,
        "tags": [],
        "ok": True,
        "none": None,
        "kind": "cat",
        "sub": {"xs": []},
    }
    good = json.dumps(doc, separators=(",", ":")).encode()
    assert _run_schema(compile_schema(SCHEMA), good) == ()
    bad = json.dumps({**doc, **mutation}, separators=(",", ":")).encode()
    assert _run_schema(compile_schema(SCHEMA), bad) is None
    reordered = json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")).encode()
    assert _run_schema(compile_schema(SCHEMA), reordered) is None  # properties come in schema order


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": []},
        {"type": "object", "properties": {}, "additionalProperties": True},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"anyOf": []}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"enum": [1]}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "array"}}, "required": ["a"]},
        "nope",
    ],
)
def test_unsupported_schemas_are_refused(schema):
    with pytest.raises(GrammarError):
        compile_schema(schema)
    with pytest.raises(SamplingError):
        RequestOptions(grammar="json_schema:" + json.dumps(schema))


def test_schema_masks_agree_with_the_automaton():
    svc = tiny_service()
    g = grammar_for(svc.tokenizer, "json_schema:" + json.dumps(SCHEMA, separators=(",", ":")))
    sch = compile_schema(SCHEMA)
    for prefix in (
        b"",
        b'{"name":"a',
        b'{"name":"a","age":1',
        b'{"name":"","age":0,"score":1e',
        b'{"name":"","age":0,"score":0,"tags":[',
    ):
        s = _run_schema(sch, prefix)
        mask = g.mask(s)
        for tok in range(g.vocab):
            b = g.token_bytes[tok]
            want = bool(b) and _run_schema_from(sch, s, b) is not None
            assert mask[tok] == want, (prefix, tok, b)
    assert not g.mask(sch.start)[svc.tokenizer.eos_id]


def _run_schema_from(sch, s, data):
    for b in data:
        s = sch.step(s, b)
        if s is None:
            return None
    return s
