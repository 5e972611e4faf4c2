"""OpenAI-compatible inference server (``eigen ai serve``): Starlette on uvicorn, continuous batching.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions`` (legacy), ``GET /v1/models``,
``GET /v1/models/{id}``, ``GET /v1/receipts/{key}`` (a receipt by digest or ``{completion id}/{choice}``),
``GET /health``. Every choice carries its signed receipt; the response headers carry the digests
(``X-Eigen-Receipt-Digest``) and a URL to fetch the receipt JSON (``X-Eigen-Receipt-Url``), so a client
library that drops unknown body fields still exposes them. Request parsing lives in
:mod:`offchain.ai.openai_api`, the batching engine loop in :mod:`offchain.ai.scheduler`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from offchain import settings
from offchain.ai.engine import ENGINE_VERSION
from offchain.ai.errors import APIRequestError, SchedulerError, ServerError
from offchain.ai.openai_api import (
    ChoiceText,
    Plan,
    chat_logprobs,
    parse_chat,
    parse_completion,
    text_logprobs,
)
from offchain.ai.receipt import Receipt
from offchain.ai.scheduler import DoneEvent, Event, FailedEvent, Job, QueueFull, Scheduler, TokenEvent
from offchain.ai.service import Completion, InferenceService
from offchain.errors import ServiceError, SettingError
from offchain.httpservice import (
    HTTPError,
    Metrics,
    ServiceServer,
    error_response,
    logger,
    read_json,
    wait_for_disconnect,
)

MAX_BODY = 1 << 20
log = logger("ai.server")


@dataclass(frozen=True)
class ServerConfig:
    max_batch: int = 16
    max_queue: int = 64
    timeout_s: float = 600.0
    receipts_kept: int = 4096

    @classmethod
    def from_settings(cls) -> ServerConfig:
        try:
            return cls(
                settings.ai_max_batch(),
                settings.ai_max_queue(),
                settings.ai_request_timeout(),
                settings.ai_receipts_kept(),
            )
        except SettingError as exc:
            raise ServerError(str(exc)) from None


class ReceiptStore:
    """The last ``cap`` receipts, by digest (0x…) and by ``{completion id}/{choice index}``."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: OrderedDict[str, Receipt] = OrderedDict()

    def put(self, cid: str, index: int, r: Receipt) -> None:
        for key in ("0x" + r.digest().hex(), f"{cid}/{index}"):
            self.items[key] = r
            self.items.move_to_end(key)
        while len(self.items) > 2 * self.cap:
            self.items.popitem(last=False)

    def get(self, key: str) -> Receipt | None:
        return self.items.get(key.lower() if key.startswith("0x") else key)


class _Choice:
    def __init__(self, index: int, job: Job, text: ChoiceText) -> None:
        self.index = index
        self.job = job
        self.text = text
        self.completion: Completion | None = None


class InferenceApp:
    """The Starlette application over one service and its scheduler."""

    def __init__(self, svc: InferenceService, config: ServerConfig | None = None) -> None:
        self.svc = svc
        self.config = config or ServerConfig()
        self.model_name = str(svc.model.metadata.get("general.name") or "model")
        self.created = int(time.time())
        self.receipts = ReceiptStore(self.config.receipts_kept)
        self.scheduler: Scheduler | None = None
        routes = [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.model, methods=["GET"]),
            Route("/v1/receipts/{key:path}", self.receipt, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
        ]
        self.metrics = Metrics(
            ["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/receipts", "/health", "/metrics"]
        )
        self.app = self.metrics.wrap(
            Starlette(
                routes=routes,
                lifespan=self._lifespan,
                exception_handlers={404: self._not_found, 405: self._not_allowed},
            )
        )

    def _lifespan(self, app: Starlette) -> Any:
        outer = self

        class _Ctx:
            async def __aenter__(self) -> None:
                outer.start()

            async def __aexit__(self, *exc: object) -> None:
                outer.close()

        return _Ctx()

    def start(self) -> None:
        if self.scheduler is None:
            self.scheduler = Scheduler(
                self.svc, max_batch=self.config.max_batch, max_queue=self.config.max_queue
            )

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()
            self.scheduler = None

    # -- small endpoints ----------------------------------------------------------------------------

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return error_response(404, f"no route {request.method} {request.url.path}", code="not_found")

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return error_response(
            405, f"{request.method} is not allowed on {request.url.path}", code="method_not_allowed"
        )

    def _model_obj(self) -> dict[str, Any]:
        return {"id": self.model_name, "object": "model", "created": self.created, "owned_by": "eigencloud"}

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [self._model_obj()]})

    async def model(self, request: Request) -> Response:
        mid = request.path_params["model_id"]
        if mid != self.model_name:
            return error_response(
                404, f"the model '{mid}' does not exist", param="model", code="model_not_found"
            )
        return JSONResponse(self._model_obj())

    async def health(self, request: Request) -> Response:
        stats = self.scheduler.stats() if self.scheduler else {}
        return JSONResponse({"status": "ok", "engine": ENGINE_VERSION, "model": self.model_name, **stats})

    async def metrics_text(self, request: Request) -> Response:
        stats = self.scheduler.stats() if self.scheduler else {}
        gauges = {f"ai_{k}": float(v) for k, v in stats.items()}
        return Response(self.metrics.render(gauges), media_type="text/plain; version=0.0.4")

    async def receipt(self, request: Request) -> Response:
        r = self.receipts.get(request.path_params["key"])
        if r is None:
            return error_response(
                404, "no such receipt (unknown, or no longer kept)", code="receipt_not_found"
            )
        return Response(r.to_json(), media_type="application/json")

    # -- completions --------------------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, parse_chat)

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, parse_completion)

    async def _complete(self, request: Request, parse: Callable[..., Plan]) -> Response:
        try:
            body = await read_json(request, MAX_BODY)
            plan = parse(body, self.svc, self.model_name)
        except HTTPError as exc:
            return exc.response()
        except APIRequestError as exc:
            return error_response(exc.status, str(exc), param=exc.param, code=exc.code)
        cid = ("chatcmpl-" if plan.kind == "chat" else "cmpl-") + secrets.token_hex(12)
        created = int(time.time())
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        choices = []
        for index, prompt, params in plan.choices():

            def sink(ev: Event, index: int = index) -> None:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, (index, ev))
                except RuntimeError:  # the event loop has closed (shutdown): nobody is listening
                    pass

            job = Job(
                prompt, params, sink, plan.client, plan.top_logprobs, self.config.timeout_s, plan.options
            )
            choices.append(_Choice(index, job, ChoiceText(self.svc, plan.stop)))
        assert self.scheduler is not None
        try:
            self.scheduler.submit_all([c.job for c in choices])
        except QueueFull as exc:
            log.warning("queue_full", extra={"id": cid, "retry_after_s": exc.retry_after_s})
            return error_response(
                429,
                str(exc),
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(exc.retry_after_s)},
            )
        except SchedulerError as exc:
            return error_response(400, str(exc))
        log.info(
            "request",
            extra={
                "id": cid,
                "kind": plan.kind,
                "choices": len(choices),
                "stream": plan.stream,
                "prompt_tokens": [len(p) for p in plan.prompts],
                "max_tokens": plan.params.max_tokens,
            },
        )
        url = f"{request.base_url}v1/receipts/{cid}/0"
        if plan.stream:
            return StreamingResponse(
                self._stream(plan, cid, created, choices, queue),
                media_type="text/event-stream",
                headers={
                    "Cache-Control": "no-cache",
                    "X-Eigen-Receipt-Url": url,
                    "X-Eigen-Completion-Id": cid,
                },
            )
        return await self._collect(request, plan, cid, created, choices, queue, url)

    def _cancel(self, choices: list[_Choice]) -> None:
        for c in choices:
            if not c.job.finished and self.scheduler is not None:
                self.scheduler.cancel(c.job)

    async def _collect(
        self,
        request: Request,
        plan: Plan,
        cid: str,
        created: int,
        choices: list[_Choice],
        queue: asyncio.Queue[tuple[int, Event]],
        url: str,
    ) -> Response:
        by_index = {c.index: c for c in choices}
        gone = asyncio.ensure_future(wait_for_disconnect(request))
        try:
            pending = len(choices)
            while pending:
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    get.cancel()
                    self._cancel(choices)
                    log.info("client_disconnected", extra={"id": cid, "stream": False})
                    return Response(status_code=499)
                index, ev = get.result()
                c = by_index[index]
                if isinstance(ev, TokenEvent):
                    c.text.add(ev.token, ev.logprob, ev.top)
                elif isinstance(ev, DoneEvent):
                    c.completion = ev.completion
                    self.receipts.put(cid, index, ev.completion.receipt)
                    pending -= 1
                elif isinstance(ev, FailedEvent):
                    self._cancel(choices)
                    status = 504 if ev.reason == "timeout" else 500
                    log.warning("generation_failed", extra={"id": cid, "reason": ev.reason})
                    return error_response(status, ev.message, type="server_error", code=ev.reason)
        except asyncio.CancelledError:
            self._cancel(choices)
            raise
        finally:
            gone.cancel()
        body = self._body(plan, cid, created, choices)
        digests = ",".join("0x" + c.completion.receipt.digest().hex() for c in choices if c.completion)
        log.info("response", extra={"id": cid, "completion_tokens": body["usage"]["completion_tokens"]})
        return JSONResponse(body, headers={"X-Eigen-Receipt-Digest": digests, "X-Eigen-Receipt-Url": url})

    def _finish(self, c: _Choice) -> str:
        assert c.completion is not None
        return "stop" if c.text.cut is not None else c.completion.finish_reason

    def _usage(self, plan: Plan, choices: list[_Choice]) -> dict[str, int]:
        prompt = sum(len(p) for p in plan.prompts)
        out = sum(len(c.completion.receipt.output_tokens) for c in choices if c.completion)
        return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}

    def _body(self, plan: Plan, cid: str, created: int, choices: list[_Choice]) -> dict[str, Any]:
        out = []
        for c in choices:
            assert c.completion is not None
            text = c.text.final_text(c.completion.text)
            rows = c.text.take_logprobs()
            receipt = c.completion.receipt.to_dict()
            if plan.kind == "chat":
                out.append(
                    {
                        "index": c.index,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": chat_logprobs(self.svc, rows) if plan.top_logprobs is not None else None,
                        "finish_reason": self._finish(c),
                        "receipt": receipt,
                    }
                )
            else:
                out.append(
                    {
                        "index": c.index,
                        "text": text,
                        "logprobs": text_logprobs(self.svc, rows, c.text.offsets)
                        if plan.top_logprobs is not None
                        else None,
                        "finish_reason": self._finish(c),
                        "receipt": receipt,
                    }
                )
        return {
            "id": cid,
            "object": "chat.completion" if plan.kind == "chat" else "text_completion",
            "created": created,
            "model": self.model_name,
            "system_fingerprint": ENGINE_VERSION,
            "choices": out,
            "usage": self._usage(plan, choices),
            "receipt": out[0]["receipt"],
        }

    async def _stream(
        self,
        plan: Plan,
        cid: str,
        created: int,
        choices: list[_Choice],
        queue: asyncio.Queue[tuple[int, Event]],
    ) -> AsyncIterator[bytes]:
        chat = plan.kind == "chat"
        by_index = {c.index: c for c in choices}

        def chunk(choice: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> bytes:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": self.model_name,
                "system_fingerprint": ENGINE_VERSION,
                "choices": [choice] if choice is not None else [],
            }
            if plan.include_usage:
                obj["usage"] = None
            if extra:
                obj.update(extra)
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        def piece(c: _Choice, text: str, finish: str | None = None) -> dict[str, Any]:
            rows = c.text.take_logprobs()
            lp = None
            if plan.top_logprobs is not None:
                lp = (
                    chat_logprobs(self.svc, rows)
                    if chat
                    else text_logprobs(self.svc, rows, c.text.offsets[-len(rows) :] if rows else [])
                )
            if chat:
                return {
                    "index": c.index,
                    "delta": {"content": text} if text or finish is None else {},
                    "logprobs": lp,
                    "finish_reason": finish,
                }
            return {"index": c.index, "text": text, "logprobs": lp, "finish_reason": finish}

        finished = False
        try:
            if chat:
                for c in choices:
                    yield chunk(
                        {
                            "index": c.index,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    )
            pending = len(choices)
            while pending:
                index, ev = await queue.get()
                c = by_index[index]
                if isinstance(ev, TokenEvent):
                    new = c.text.add(ev.token, ev.logprob, ev.top)
                    if new:
                        yield chunk(piece(c, new))
                elif isinstance(ev, DoneEvent):
                    c.completion = ev.completion
                    self.receipts.put(cid, index, ev.completion.receipt)
                    final = c.text.final_text(ev.completion.text)
                    rest = final[len(c.text.sent) :] if final.startswith(c.text.sent) else ""
                    c.text.sent = final
                    if rest or (plan.top_logprobs is not None and c.text.lp):
                        yield chunk(piece(c, rest))
                    yield chunk(piece(c, "", self._finish(c)), {"receipt": ev.completion.receipt.to_dict()})
                    pending -= 1
                elif isinstance(ev, FailedEvent):
                    log.warning("generation_failed", extra={"id": cid, "reason": ev.reason})
                    err = {
                        "error": {
                            "message": ev.message,
                            "type": "server_error",
                            "param": None,
                            "code": ev.reason,
                        }
                    }
                    yield b"data: " + json.dumps(err).encode() + b"\n\n"
                    finished = True
                    return
            if plan.include_usage:
                yield chunk(None, {"usage": self._usage(plan, choices)})
            yield b"data: [DONE]\n\n"
            finished = True
            log.info(
                "response",
                extra={
                    "id": cid,
                    "stream": True,
                    "completion_tokens": self._usage(plan, choices)["completion_tokens"],
                },
            )
        finally:
            if not finished:
                self._cancel(choices)
                log.info("client_disconnected", extra={"id": cid, "stream": True})


def make_app(svc: InferenceService, config: ServerConfig | None = None) -> InferenceApp:
    return InferenceApp(svc, config)


def make_server(
    svc: InferenceService, host: str = "127.0.0.1", port: int = 8000, config: ServerConfig | None = None
) -> ServiceServer:
    """The uvicorn server for ``svc`` (loopback only; port 0 = a free one): ``.start()`` runs it in a
    background thread, ``.run()`` in the foreground."""
    app = make_app(svc, config if config is not None else ServerConfig.from_settings())
    try:
        return ServiceServer(app.app, host, port)
    except ServiceError as exc:
        raise ServerError(str(exc)) from None


def serve(svc: InferenceService, host: str = "127.0.0.1", port: int = 8000) -> None:
    srv = make_server(svc, host, port)
    print(f"eigen ai serve: {srv.url}/v1/chat/completions", flush=True)
    srv.run()
