"""OpenAI-compatible chat completions on loopback (``eigen ai serve``); every response carries its receipt.

POST /v1/chat/completions  {messages, seed, temperature, top_p, top_k (extension), max_tokens, stream,
                            client (extension: the address the receipt is bound to)}
GET  /v1/models, GET /health. Streaming uses server-sent events; the last chunk carries the receipt.
Requests are served one generation at a time (the engine is exact, so batching would not change results).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from offchain import abi
from offchain.abi import ZERO_ADDRESS
from offchain.ai.engine import ENGINE_VERSION
from offchain.ai.errors import AIError, ServerError
from offchain.ai.sampler import SamplingParams
from offchain.ai.service import Completion, InferenceService

MAX_BODY = 1 << 20
DEFAULT_MAX_TOKENS = 256


def parse_chat_request(body: Any, svc: InferenceService) -> tuple[tuple[int, ...], SamplingParams, bool, str]:
    if not isinstance(body, dict):
        raise AIError("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise AIError("'messages' must be a non-empty list")
    # keep only role/content; the tokenizer validates them (TokenizerError is an AIError -> 400)
    msgs = [
        {"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m for m in messages
    ]
    seed = body.get("seed", 0)
    temperature = body.get("temperature", 1)
    top_p = body.get("top_p", 1)
    for name, v in (("temperature", temperature), ("top_p", top_p)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise AIError(f"'{name}' must be a number")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens", DEFAULT_MAX_TOKENS))
    params = SamplingParams.from_user(
        seed=seed, temperature=temperature, top_k=body.get("top_k", 0), top_p=top_p, max_tokens=max_tokens
    )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise AIError("'stream' must be a boolean")
    if body.get("n", 1) != 1:
        raise AIError("only n=1 is supported")
    client = body.get("client", ZERO_ADDRESS)
    try:
        abi.address(client, ValueError)
    except ValueError:
        raise AIError("'client' must be a 0x-prefixed 20-byte address") from None
    return svc.prompt_tokens(msgs), params, stream, client


def completion_body(comp: Completion, model_name: str, created: int) -> dict[str, Any]:
    r = comp.receipt
    return {
        "id": "chatcmpl-" + r.digest().hex()[:24],
        "object": "chat.completion",
        "created": created,
        "model": model_name,
        "system_fingerprint": ENGINE_VERSION,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": comp.text},
                "finish_reason": comp.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": len(r.prompt_tokens),
            "completion_tokens": len(r.output_tokens),
            "total_tokens": len(r.prompt_tokens) + len(r.output_tokens),
        },
        "receipt": r.to_dict(),
    }


class ChatHandler(BaseHTTPRequestHandler):
    """The HTTP handler; :func:`make_handler` binds it to a service and a model name."""

    svc: InferenceService
    model_name: str
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        return

    def _json(self, code: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, msg: str) -> None:
        self._json(code, {"error": {"message": msg, "type": "invalid_request_error", "code": code}})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/health":
            self._json(200, {"status": "ok", "engine": ENGINE_VERSION, "model": self.model_name})
        elif self.path == "/v1/models":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.model_name, "object": "model", "owned_by": "eigencloud"}],
                },
            )
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/v1/chat/completions":
            self._error(404, "not found")
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._error(400, "bad Content-Length")
            return
        if n <= 0 or n > MAX_BODY:
            self._error(400 if n <= 0 else 413, "body missing or too large")
            return
        try:
            body = json.loads(self.rfile.read(n))
            prompt, params, stream, client = parse_chat_request(body, self.svc)
        except (ValueError, AIError) as exc:
            self._error(400, str(exc))
            return
        created = int(time.time())
        try:
            if not stream:
                comp = self.svc.complete(prompt, params, client=client)
                self._json(200, completion_body(comp, self.model_name, created))
            else:
                self._stream(prompt, params, created, client)
        except AIError as exc:
            if not stream:
                self._error(400, str(exc))

    def _stream(self, prompt: tuple[int, ...], params: SamplingParams, created: int, client: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        cid = "chatcmpl-stream"
        toks: list[int] = []
        sent = [""]

        def chunk(
            delta: dict[str, Any], finish: str | None = None, extra: dict[str, Any] | None = None
        ) -> None:
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model_name,
                "system_fingerprint": ENGINE_VERSION,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if extra:
                obj.update(extra)
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})

        def on_token(_i: int, _step: int, tok: int) -> None:
            toks.append(tok)
            text = self.svc.text_of(toks)
            if text.endswith("\ufffd"):
                return  # wait for the rest of a multi-byte character
            if len(text) > len(sent[0]) and text.startswith(sent[0]):
                chunk({"content": text[len(sent[0]) :]})
                sent[0] = text

        comp = self.svc.complete(prompt, params, on_token=on_token, client=client)
        if comp.text != sent[0] and comp.text.startswith(sent[0]):
            chunk({"content": comp.text[len(sent[0]) :]})
        chunk({}, comp.finish_reason, {"receipt": comp.receipt.to_dict()})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def make_handler(svc: InferenceService, model_name: str) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (ChatHandler,), {"svc": svc, "model_name": model_name})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(svc: InferenceService, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    if not _is_loopback(host):
        raise ServerError(f"refusing to bind {host}: the server listens on loopback only")
    name = str(svc.model.metadata.get("general.name") or "model")
    cls = ThreadingHTTPServer
    if ":" in host:
        cls = type("V6Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    try:
        return cls((host, port), make_handler(svc, name))
    except OSError as exc:
        raise ServerError(f"cannot bind {host}:{port}: {exc}") from exc


def serve(svc: InferenceService, host: str = "127.0.0.1", port: int = 8000) -> None:
    srv = make_server(svc, host, port)
    print(f"eigen ai serve: http://{host}:{srv.server_address[1]}/v1/chat/completions", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
