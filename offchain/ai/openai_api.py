"""The OpenAI API surface: request parsing (every parameter honoured or refused with a 400 naming it),
stop strings on the detokenized text, logprobs objects, response and chunk bodies.

Honoured: ``model`` (unknown -> 404 ``model_not_found``), ``messages`` (content a string or a list of
text parts), ``prompt`` (legacy: a string, a list of strings, a list of token ids or a list of such
lists), ``max_tokens`` / ``max_completion_tokens``, ``temperature``, ``top_p``, ``top_k`` (extension),
``seed``, ``n`` (choice i > 0 uses :func:`~offchain.ai.sampler.choice_seed`), ``stop``, ``stream``,
``stream_options.include_usage``, ``logprobs`` / ``top_logprobs`` (chat) or ``logprobs`` (legacy: an
integer), ``presence_penalty`` / ``frequency_penalty`` / ``logit_bias`` (exact integer arithmetic,
:mod:`offchain.ai.options`), ``response_format`` ``text`` or ``json_object`` (constrained decoding,
:mod:`offchain.ai.grammar`), ``client`` (extension: the address the receipts are bound to), ``user``
(recorded nowhere; it does not change the output). A request with stop strings, penalties, a logit
bias or JSON mode gets version 3 receipts (options and returned text bound). ``echo: false``,
``best_of: 1``, no ``tools``: accepted as the defaults they are. Anything else -> 400 naming the
parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from offchain import abi
from offchain.abi import ZERO_ADDRESS
from offchain.ai.errors import AIError, APIRequestError, GrammarError
from offchain.ai.grammar import SCHEMA_PREFIX, compile_schema
from offchain.ai.options import RequestOptions
from offchain.ai.sampler import SamplingParams, _fixed, choice_seed
from offchain.ai.service import InferenceService

DEFAULT_MAX_TOKENS = 256
MAX_N = 16
MAX_STOP = 4
MAX_TOP_LOGPROBS = 20
MAX_LEGACY_LOGPROBS = 5

# accepted when equal to the default, refused otherwise (named in the 400)
_DEFAULT_ONLY: dict[str, tuple[Any, ...]] = {
    "tools": (None, []),
    "functions": (None, []),
    "tool_choice": (None, "none"),
    "function_call": (None, "none"),
    "parallel_tool_calls": (None, True, False),
    "echo": (None, False),
    "best_of": (None, 1),
    "suffix": (None, ""),
    "store": (None, False),
    "service_tier": (None, "auto", "default"),
    "modalities": (None, ["text"]),
    "audio": (None,),
    "prediction": (None,),
    "reasoning_effort": (None,),
    "web_search_options": (None,),
}


def _response_format(rf: Any) -> str:
    """The grammar string of a ``response_format`` (json_object, or json_schema with its schema)."""
    if rf == {"type": "json_object"}:
        return "json_object"
    if not isinstance(rf, dict) or rf.get("type") != "json_schema":
        raise _err("response_format type must be text, json_object or json_schema", "response_format")
    js = rf.get("json_schema")
    if set(rf) != {"type", "json_schema"} or not isinstance(js, dict) or not isinstance(js.get("name"), str):
        raise _err("response_format.json_schema needs a name and a schema", "response_format")
    if set(js) - {"name", "schema", "strict", "description"} or not isinstance(js.get("schema"), dict):
        raise _err("response_format.json_schema takes name, schema, strict, description", "response_format")
    if js.get("strict") not in (None, True, False):
        raise _err("response_format.json_schema.strict must be a boolean", "response_format")
    grammar = SCHEMA_PREFIX + json.dumps(js["schema"], separators=(",", ":"), ensure_ascii=False)
    try:
        compile_schema(js["schema"])
    except GrammarError as exc:
        raise _err(f"response_format: {exc}", "response_format") from None
    return grammar


_COMMON = {
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "n",
    "stop",
    "stream",
    "stream_options",
    "logprobs",
    "client",
    "user",
    "metadata",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    *_DEFAULT_ONLY,
}
CHAT_KEYS = _COMMON | {"messages", "max_completion_tokens", "top_logprobs"}
TEXT_KEYS = _COMMON | {"prompt"}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def _err(message: str, param: str | None, **kw: Any) -> APIRequestError:
    return APIRequestError(message, param, **kw)


@dataclass(frozen=True)
class Plan:
    """What a request asks for: one prompt per entry of ``prompts``, ``n`` choices each."""

    kind: str  # "chat" or "text"
    model: str
    prompts: tuple[tuple[int, ...], ...]
    params: SamplingParams  # choice 0's; choice i uses choice_seed(params.seed, i)
    n: int
    stream: bool
    include_usage: bool
    stop: tuple[str, ...]
    top_logprobs: int | None  # None: no logprobs
    client: str
    options: RequestOptions | None = None  # None: a plain request (version 2 receipts)

    def choice_params(self, i: int) -> SamplingParams:
        p = self.params
        return SamplingParams(
            seed=choice_seed(p.seed, i),
            temperature_milli=p.temperature_milli,
            top_k=p.top_k,
            top_p_micro=p.top_p_micro,
            max_tokens=p.max_tokens,
        )

    def choices(self) -> list[tuple[int, tuple[int, ...], SamplingParams]]:
        """(choice index, prompt, params) for every choice, prompt-major as OpenAI numbers them."""
        return [
            (pi * self.n + i, prompt, self.choice_params(i))
            for pi, prompt in enumerate(self.prompts)
            for i in range(self.n)
        ]


def _int(body: dict[str, Any], name: str, default: int | None, lo: int, hi: int) -> int | None:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(f"'{name}' must be an integer", name)
    if not lo <= v <= hi:
        raise _err(f"'{name}' must be in [{lo}, {hi}]", name)
    return v


def _number(body: dict[str, Any], name: str, default: float) -> float | int:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _err(f"'{name}' must be a number", name)
    return v


def _common(body: Any, svc: InferenceService, model_name: str, keys: set[str], kind: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _err("the request body must be a JSON object", None)
    for k in body:
        if k not in keys:
            raise _err(f"unknown or unsupported parameter '{k}'", k)
    for k, allowed in _DEFAULT_ONLY.items():
        if k in body and not any(body[k] == a and type(body[k]) is type(a) for a in allowed if a is not None):
            if body[k] is None:
                continue
            raise _err(f"'{k}' is not supported (only its default is accepted)", k)
    model = body.get("model", model_name)
    if not isinstance(model, str):
        raise _err("'model' must be a string", "model")
    if model != model_name:
        raise _err(
            f"the model '{model}' does not exist (this server serves '{model_name}')",
            "model",
            status=404,
            code="model_not_found",
        )
    rf = body.get("response_format")
    grammar = ""
    if rf is not None and rf != {"type": "text"}:
        grammar = _response_format(rf)
    penalties = {}
    for name in ("presence_penalty", "frequency_penalty"):
        v = _number(body, name, 0)
        if not -2 <= v <= 2:
            raise _err(f"'{name}' must be in [-2, 2]", name)
        penalties[name] = _fixed(v, 1000, name)
    lb = body.get("logit_bias")
    bias: list[tuple[int, int]] = []
    if lb is not None:
        if not isinstance(lb, dict):
            raise _err("'logit_bias' must map token ids to numbers in [-100, 100]", "logit_bias")
        vocab = svc.engine.config.vocab_size
        for k, v in lb.items():
            try:
                tid = int(k)
            except ValueError:
                raise _err(f"logit_bias key {k!r} is not a token id", "logit_bias") from None
            if str(tid) != k.strip() or not 0 <= tid < vocab:
                raise _err(f"logit_bias key {k!r} is not a token id in [0, {vocab})", "logit_bias")
            if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or not -100 <= v <= 100:
                raise _err("logit_bias values must be integers in [-100, 100]", "logit_bias")
            bias.append((tid, int(v)))
        if len({t for t, _ in bias}) != len(bias):
            raise _err("logit_bias names a token id twice", "logit_bias")
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        raise _err("'metadata' must be an object", "metadata")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise _err("'user' must be a string", "user")
    max_tokens = _int(body, "max_tokens", None, 1, 2**32 - 1)
    if kind == "chat":
        mct = _int(body, "max_completion_tokens", None, 1, 2**32 - 1)
        if max_tokens is not None and mct is not None and mct != max_tokens:
            raise _err("give 'max_tokens' or 'max_completion_tokens', not two different values", "max_tokens")
        max_tokens = max_tokens if max_tokens is not None else mct
    seed = _int(body, "seed", 0, 0, 2**64 - 1)
    top_k = _int(body, "top_k", 0, 0, 2**32 - 1)
    temperature = _number(body, "temperature", 1)
    top_p = _number(body, "top_p", 1)
    if not 0 <= temperature <= 2:
        raise _err("'temperature' must be in [0, 2]", "temperature")
    if not 0 < top_p <= 1:
        raise _err("'top_p' must be in (0, 1]", "top_p")
    n = _int(body, "n", 1, 1, MAX_N)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _err("'stream' must be a boolean", "stream")
    so = body.get("stream_options")
    include_usage = False
    if so is not None:
        if not stream:
            raise _err("'stream_options' is only allowed with stream: true", "stream_options")
        if not isinstance(so, dict) or any(k != "include_usage" for k in so):
            raise _err("'stream_options' accepts only include_usage", "stream_options")
        iu = so.get("include_usage", False)
        if not isinstance(iu, bool):
            raise _err("'stream_options.include_usage' must be a boolean", "stream_options")
        include_usage = iu
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise _err("'stop' must be a string or a list of strings", "stop")
    if len(stops) > MAX_STOP or any(not s for s in stops):
        raise _err(f"'stop' takes at most {MAX_STOP} non-empty strings", "stop")
    client = body.get("client", ZERO_ADDRESS)
    try:
        abi.address(client, ValueError)
    except (ValueError, TypeError):
        raise _err("'client' must be a 0x-prefixed 20-byte address", "client") from None
    try:
        params = SamplingParams.from_user(
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            max_tokens=max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
        )
    except AIError as exc:
        raise _err(str(exc), None) from None
    try:
        options = RequestOptions(
            stop=stops,
            presence_milli=penalties["presence_penalty"],
            frequency_milli=penalties["frequency_penalty"],
            logit_bias=tuple(sorted(bias)),
            grammar=grammar,
        )
    except AIError as exc:
        raise _err(
            str(exc), "response_format" if "grammar" in str(exc) or "schema" in str(exc) else "stop"
        ) from None
    return {
        "model": model,
        "params": params,
        "options": None if options.is_default else options,
        "n": n,
        "stream": stream,
        "include_usage": include_usage,
        "stop": stops,
        "client": client,
        "explicit_max": max_tokens is not None,
    }


def _check_context(
    svc: InferenceService, prompts: list[tuple[int, ...]], c: dict[str, Any], prompt_param: str = "messages"
) -> SamplingParams:
    """OpenAI's behaviour: a request whose prompt plus max_tokens exceeds the context is a 400 before
    anything is generated or streamed; without an explicit max_tokens the default is capped to fit."""
    ctx = svc.engine.config.context_length
    params: SamplingParams = c["params"]
    vocab = svc.engine.config.vocab_size
    for p in prompts:
        if not p:
            raise _err("the prompt is empty", "prompt")
        if any(not 0 <= t < vocab for t in p):
            raise _err(f"a prompt token id is outside the vocabulary [0, {vocab})", "prompt")
        room = ctx - len(p)
        if room < 1:
            raise _err(
                f"the prompt has {len(p)} tokens; this model's context is {ctx} tokens",
                prompt_param,
                code="context_length_exceeded",
            )
        if params.max_tokens > room:
            if c["explicit_max"]:
                raise _err(
                    f"this model's maximum context length is {ctx} tokens; the prompt has {len(p)} "
                    f"and max_tokens is {params.max_tokens}",
                    "max_tokens",
                    code="context_length_exceeded",
                )
            params = SamplingParams(
                params.seed, params.temperature_milli, params.top_k, params.top_p_micro, room
            )
    return params


def _content(m: dict[str, Any], i: int) -> str:
    c = m.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = []
        for part in c:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise _err(f"messages[{i}].content: only text parts are supported", "messages")
            parts.append(part["text"])
        return "".join(parts)
    raise _err(f"messages[{i}].content must be a string or a list of text parts", "messages")


def parse_chat(body: Any, svc: InferenceService, model_name: str) -> Plan:
    c = _common(body, svc, model_name, CHAT_KEYS, "chat")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _err("'messages' must be a non-empty list", "messages")
    msgs = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _err(f"messages[{i}] must be an object", "messages")
        for k in m:
            if k not in ("role", "content", "name"):
                raise _err(f"messages[{i}].{k} is not supported", "messages")
        role = _ROLES.get(m.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise _err(f"messages[{i}].role must be one of {sorted(_ROLES)}", "messages")
        msgs.append({"role": role, "content": _content(m, i)})
    lp = body.get("logprobs")
    if lp is not None and not isinstance(lp, bool):
        raise _err("'logprobs' must be a boolean", "logprobs")
    top = _int(body, "top_logprobs", None, 0, MAX_TOP_LOGPROBS)
    if top is not None and not lp:
        raise _err("'top_logprobs' requires logprobs: true", "top_logprobs")
    try:
        prompt = tuple(svc.prompt_tokens(msgs))
    except AIError as exc:
        raise _err(str(exc), "messages") from None
    params = _check_context(svc, [prompt], c)
    return Plan(
        "chat",
        c["model"],
        (prompt,),
        params,
        c["n"],
        c["stream"],
        c["include_usage"],
        c["stop"],
        (top or 0) if lp else None,
        c["client"],
        c["options"],
    )


def parse_completion(body: Any, svc: InferenceService, model_name: str) -> Plan:
    c = _common(body, svc, model_name, TEXT_KEYS, "text")
    p = body.get("prompt")
    prompts: list[tuple[int, ...]] = []
    try:
        if isinstance(p, str):
            prompts = [tuple(svc.prompt_tokens(None, p, raw=True))]
        elif isinstance(p, list) and p and all(isinstance(x, str) for x in p):
            prompts = [tuple(svc.prompt_tokens(None, x, raw=True)) for x in p]
        elif isinstance(p, list) and p and all(type(x) is int for x in p):
            prompts = [tuple(p)]
        elif (
            isinstance(p, list)
            and p
            and all(isinstance(x, list) and x and all(type(t) is int for t in x) for x in p)
        ):
            prompts = [tuple(x) for x in p]
        else:
            raise _err("'prompt' must be a string, a list of strings, or token id list(s)", "prompt")
    except APIRequestError:
        raise
    except AIError as exc:
        raise _err(str(exc), "prompt") from None
    if len(prompts) * c["n"] > MAX_N:
        raise _err(f"at most {MAX_N} choices (prompts x n) per request", "n")
    lp = _int(body, "logprobs", None, 0, MAX_LEGACY_LOGPROBS)
    params = _check_context(svc, prompts, c, "prompt")
    return Plan(
        "text",
        c["model"],
        tuple(prompts),
        params,
        c["n"],
        c["stream"],
        c["include_usage"],
        c["stop"],
        lp,
        c["client"],
        c["options"],
    )


class ChoiceText:
    """The returned text of one choice as tokens arrive: stop strings are searched in the detokenized
    text, the text is cut before the first match (earliest position; the first listed stop on a tie),
    and streaming never sends a partial multi-byte character or a prefix of a stop string that may
    still complete."""

    def __init__(self, svc: InferenceService, stop: tuple[str, ...]) -> None:
        self.svc = svc
        self.stop = stop
        self.tokens: list[int] = []
        self.sent = ""
        self.stopped = False
        self.cut: str | None = None
        self.lp: list[tuple[int, float, tuple[tuple[int, float], ...]]] = []  # pending logprob rows
        self.offsets: list[int] = []  # text offset of each kept token (legacy logprobs)

    def _stop_at(self, text: str) -> int | None:
        best = None
        for s in self.stop:
            i = text.find(s)
            if i >= 0 and (best is None or i < best):
                best = i
        return best

    def add(self, token: int, logprob: float | None, top: tuple[tuple[int, float], ...]) -> str | None:
        """Feed one token; returns newly releasable text ('' possible), or None once stopped."""
        if self.stopped:
            return None
        before = self.svc.text_of(self.tokens)
        self.tokens.append(token)
        if logprob is not None and token != self.svc.tokenizer.eos_id:
            self.lp.append((token, logprob, top))
            self.offsets.append(len(before))
        text = self.svc.text_of(self.tokens)
        at = self._stop_at(text)
        if at is not None:
            self.stopped = True
            self.cut = text[:at]
            out = self.cut[len(self.sent) :] if self.cut.startswith(self.sent) else ""
            self.sent = self.cut if self.cut.startswith(self.sent) else self.sent
            return out
        if text.endswith("\ufffd"):
            return ""
        hold = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        safe = text[: len(text) - hold]
        if len(safe) > len(self.sent) and safe.startswith(self.sent):
            out = safe[len(self.sent) :]
            self.sent = safe
            return out
        return ""

    def final_text(self, full: str) -> str:
        """The choice's returned text given the full decoded generation."""
        if self.cut is not None:
            return self.cut
        at = self._stop_at(full)
        return full if at is None else full[:at]

    def take_logprobs(self) -> list[tuple[int, float, tuple[tuple[int, float], ...]]]:
        rows, self.lp = self.lp, []
        return rows


def token_text(svc: InferenceService, tok: int) -> tuple[str, list[int]]:
    b = svc.tokenizer.decode_bytes([tok])
    return b.decode("utf-8", errors="replace"), list(b)


def chat_logprobs(
    svc: InferenceService, rows: list[tuple[int, float, tuple[tuple[int, float], ...]]]
) -> dict:
    content = []
    for tok, lp, top in rows:
        t, b = token_text(svc, tok)
        tops = []
        for i, v in top:
            ti, bi = token_text(svc, i)
            tops.append({"token": ti, "logprob": v, "bytes": bi})
        content.append({"token": t, "logprob": lp, "bytes": b, "top_logprobs": tops})
    return {"content": content, "refusal": None}


def text_logprobs(
    svc: InferenceService, rows: list[tuple[int, float, tuple[tuple[int, float], ...]]], offsets: list[int]
) -> dict:
    tokens, lps, tops = [], [], []
    for tok, lp, top in rows:
        tokens.append(token_text(svc, tok)[0])
        lps.append(lp)
        d: dict[str, float] = {}
        for i, v in top:
            d.setdefault(token_text(svc, i)[0], v)
        tops.append(d)
    return {
        "tokens": tokens,
        "token_logprobs": lps,
        "top_logprobs": tops,
        "text_offset": offsets[: len(rows)],
    }
