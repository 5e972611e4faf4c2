"""The real client libraries against `eigen ai serve` (a separate process, uvicorn on a free port,
the tiny model): the official `openai` client, `langchain-openai` and `litellm` for chat, streaming,
legacy completions, stop, n, logprobs and JSON mode."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from offchain.ai.receipt import Receipt
from offchain.ai.sampler import SamplingParams, choice_seed
from tests.offchain.ai.support import tiny_service

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no network

ROOT = Path(__file__).resolve().parents[3]
MODEL = "eigen-tiny-seed0"
MSG = [{"role": "user", "content": "hello there"}]
JSON_MODE = {"type": "json_object"}
# the random tiny model closes a JSON object quickly with a bias towards '"' and '}' (byte tokens)
CLOSING = {"37": 6, "128": 6}
CLOSING_SCHEMA = {"37": 6, "47": 6, "128": 6}  # and ','
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "ok": {"type": "boolean"}},
    "required": ["name", "n", "ok"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`eigen ai serve --tiny 0 --port 0` in its own process; yields its base URL."""
    err = tmp_path_factory.mktemp("serve") / "stderr.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with err.open("wb") as ef:
        proc = subprocess.Popen(
            [sys.executable, "-m", "offchain.cli", "ai", "serve", "--tiny", "0", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=ef,
            env=env,
            cwd=ROOT,
        )
        try:
            line = proc.stdout.readline().decode()
            m = re.search(r"(http://127\.0\.0\.1:\d+)/v1/chat/completions", line)
            assert m, (line, err.read_text())
            yield m.group(1)
        finally:
            proc.terminate()
            rc = proc.wait(30)
    log = err.read_text()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit status -15)
    assert rc in (0, -15) and "Application shutdown complete" in log
    assert "Traceback" not in log and '"level": "error"' not in log
    # structured logs: every line but the development-key warning is one JSON object
    lines = [ln for ln in log.splitlines() if ln and not ln.startswith("eigen ai: warning")]
    events = [json.loads(ln)["event"] for ln in lines]
    assert "request" in events and ("response" in events or "client_disconnected" in events)


def _solo(prompt, **kw):
    svc = tiny_service()
    return svc.complete(prompt, SamplingParams.from_user(**kw))


def _chat_solo(**kw):
    svc = tiny_service()
    return _solo(svc.prompt_tokens(MSG), **kw)


# -- openai ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oa(served):
    import openai

    return openai.OpenAI(base_url=served + "/v1", api_key="unused", max_retries=0)


def test_openai_chat_stream_and_headers(oa):
    solo = _chat_solo(seed=3, temperature=0.8, max_tokens=10)
    raw = oa.chat.completions.with_raw_response.create(
        model=MODEL, messages=MSG, seed=3, temperature=0.8, max_tokens=10
    )
    res = raw.parse()
    assert res.choices[0].message.content == solo.text
    assert res.choices[0].finish_reason == solo.finish_reason
    assert raw.headers["x-eigen-receipt-digest"] == "0x" + solo.receipt.digest().hex()
    assert Receipt.from_json(httpx.get(raw.headers["x-eigen-receipt-url"]).text) == solo.receipt
    assert res.usage.completion_tokens == len(solo.receipt.output_tokens)
    chunks = list(
        oa.chat.completions.create(
            model=MODEL,
            messages=MSG,
            seed=3,
            temperature=0.8,
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == solo.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == solo.finish_reason
    assert chunks[-1].usage.completion_tokens == len(solo.receipt.output_tokens)
    models = oa.models.list()
    assert [m.id for m in models.data] == [MODEL] and models.data[0].created > 0


def test_openai_legacy_stop_n_logprobs(oa):
    svc = tiny_service()
    solo = _solo(tuple(svc.tokenizer.encode("the theory")), seed=4, temperature=1, max_tokens=12)
    res = oa.completions.create(model=MODEL, prompt="the theory", seed=4, max_tokens=12)
    assert res.choices[0].text == solo.text
    streamed = "".join(
        c.choices[0].text
        for c in oa.completions.create(model=MODEL, prompt="the theory", seed=4, max_tokens=12, stream=True)
    )
    assert streamed == solo.text
    stop = solo.text[3:5]
    cut = oa.completions.create(model=MODEL, prompt="the theory", seed=4, max_tokens=12, stop=[stop])
    assert cut.choices[0].text == solo.text[: solo.text.find(stop)] and cut.choices[0].finish_reason == "stop"
    res = oa.chat.completions.create(
        model=MODEL, messages=MSG, seed=6, n=2, max_tokens=6, logprobs=True, top_logprobs=2
    )
    assert len(res.choices) == 2
    for i, c in enumerate(res.choices):
        assert c.message.content == _chat_solo(seed=choice_seed(6, i), temperature=1, max_tokens=6).text
        assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in c.logprobs.content)
    res = oa.chat.completions.create(
        model=MODEL, messages=MSG, seed=1, max_tokens=100, response_format=JSON_MODE, logit_bias=CLOSING
    )
    assert isinstance(json.loads(res.choices[0].message.content), dict)
    res = oa.chat.completions.create(
        model=MODEL,
        messages=MSG,
        seed=1,
        max_tokens=100,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        logit_bias=CLOSING_SCHEMA,
    )
    out = json.loads(res.choices[0].message.content)
    assert list(out) == ["name", "n", "ok"] and type(out["n"]) is int
    legacy_lp = oa.completions.create(model=MODEL, prompt="hi", max_tokens=4, logprobs=2)
    assert len(legacy_lp.choices[0].logprobs.token_logprobs) == len(legacy_lp.choices[0].logprobs.tokens)


def test_openai_errors(oa):
    import openai

    with pytest.raises(openai.NotFoundError) as ei:
        oa.chat.completions.create(model="gpt-4o", messages=MSG)
    assert ei.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as ei:
        oa.chat.completions.create(
            model=MODEL, messages=MSG, response_format={"type": "json_schema", "json_schema": {"name": "x"}}
        )
    assert ei.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as ei:
        oa.chat.completions.create(model=MODEL, messages=MSG, max_tokens=300, stream=True)
    assert ei.value.code == "context_length_exceeded"


# -- langchain-openai ------------------------------------------------------------------------------


def test_langchain_chat_stream_stop_n_logprobs(served):
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI, OpenAI

    solo = _chat_solo(seed=3, temperature=0.8, max_tokens=10)
    kw = dict(model=MODEL, base_url=served + "/v1", api_key="unused", max_retries=0, seed=3, temperature=0.8)
    llm = ChatOpenAI(max_tokens=10, include_response_headers=True, **kw)
    msg = llm.invoke([HumanMessage("hello there")])
    assert msg.content == solo.text
    headers = msg.response_metadata["headers"]
    assert headers["x-eigen-receipt-digest"] == "0x" + solo.receipt.digest().hex()  # the receipt survives
    assert "".join(c.content for c in ChatOpenAI(max_tokens=10, **kw).stream("hello there")) == solo.text
    stop = solo.text[2:4]
    cut = ChatOpenAI(max_tokens=10, **kw).invoke("hello there", stop=[stop])
    assert cut.content == solo.text[: solo.text.find(stop)]
    gens = ChatOpenAI(max_tokens=10, n=2, **kw).generate([[HumanMessage("hello there")]]).generations[0]
    assert [g.text for g in gens] == [
        _chat_solo(seed=choice_seed(3, i), temperature=0.8, max_tokens=10).text for i in range(2)
    ]
    js = ChatOpenAI(max_tokens=100, logit_bias=CLOSING, **kw).invoke("hello there", response_format=JSON_MODE)
    assert isinstance(json.loads(js.content), dict)
    structured = ChatOpenAI(max_tokens=100, logit_bias=CLOSING_SCHEMA, **kw).with_structured_output(
        {"title": "Person", **PERSON}, method="json_schema", strict=True
    )
    person = structured.invoke("hello there")
    assert list(person) == ["name", "n", "ok"] and isinstance(person["ok"], bool)
    lp = ChatOpenAI(max_tokens=4, logprobs=True, top_logprobs=2, **kw).invoke("hello there")
    assert all(len(t["top_logprobs"]) == 2 for t in lp.response_metadata["logprobs"]["content"])
    svc = tiny_service()
    legacy = OpenAI(max_tokens=12, **{**kw, "seed": 4, "temperature": 1}).invoke("the theory")
    assert (
        legacy == _solo(tuple(svc.tokenizer.encode("the theory")), seed=4, temperature=1, max_tokens=12).text
    )


# -- litellm ---------------------------------------------------------------------------------------


def test_litellm_chat_stream_legacy_stop_n_logprobs(served):
    import litellm

    solo = _chat_solo(seed=3, temperature=0.8, max_tokens=10)
    kw = dict(model="openai/" + MODEL, api_base=served + "/v1", api_key="unused", seed=3, temperature=0.8)
    res = litellm.completion(messages=MSG, max_tokens=10, **kw)
    assert res.choices[0].message.content == solo.text
    stream = litellm.completion(messages=MSG, max_tokens=10, stream=True, **kw)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == solo.text
    stop = solo.text[2:4]
    cut = litellm.completion(messages=MSG, max_tokens=10, stop=[stop], **kw)
    assert cut.choices[0].message.content == solo.text[: solo.text.find(stop)]
    two = litellm.completion(messages=MSG, max_tokens=10, n=2, **kw)
    assert [c.message.content for c in two.choices] == [
        _chat_solo(seed=choice_seed(3, i), temperature=0.8, max_tokens=10).text for i in range(2)
    ]
    lp = litellm.completion(messages=MSG, max_tokens=4, logprobs=True, top_logprobs=2, **kw)
    assert all(len(t.top_logprobs) == 2 for t in lp.choices[0].logprobs.content)
    svc = tiny_service()
    legacy = litellm.text_completion(
        model="text-completion-openai/" + MODEL,
        api_base=served + "/v1",
        api_key="unused",
        prompt="the theory",
        seed=4,
        temperature=1,
        max_tokens=12,
    )
    assert (
        legacy.choices[0].text
        == _solo(tuple(svc.tokenizer.encode("the theory")), seed=4, temperature=1, max_tokens=12).text
    )
    js = litellm.completion(messages=MSG, max_tokens=100, response_format=JSON_MODE, logit_bias=CLOSING, **kw)
    assert isinstance(json.loads(js.choices[0].message.content), dict)
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(messages=MSG, presence_penalty=3, **kw)


def test_openai_timeouts_and_retries_do_not_queue_generations(served):
    """Issue 14's fault: a client that times out (and retries) used to leave each attempt generating.
    Now every abandoned attempt is cancelled: the three attempts together generate less than two
    (uncancelled they would finish all three, 690 tokens; how far each gets before its disconnect is
    noticed depends on the machine's load)."""
    import openai

    before = httpx.get(served + "/health").json()
    impatient = openai.OpenAI(base_url=served + "/v1", api_key="unused", timeout=0.05, max_retries=2)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(model=MODEL, messages=MSG, max_tokens=230)
    deadline = time.monotonic() + 20
    while httpx.get(served + "/health").json()["active"] and time.monotonic() < deadline:
        time.sleep(0.02)
    after = httpx.get(served + "/health").json()
    assert after["active"] == 0 and after["waiting"] == 0
    assert 0 < after["tokens_out"] - before["tokens_out"] < 2 * 230  # the attempts started, then stopped
