"""The one HTTP+JSON service stack (Starlette on uvicorn) shared by every service that speaks HTTP:
the inference server now, x402, A2A and the explorer next.

What it gives a service:

* :func:`error_response` — an error body in OpenAI's shape (``{"error": {message, type, param,
  code}}``), which the other HTTP APIs reuse.
* :func:`read_json` — the request body, bounded in size (:func:`read_body`), parsed as one JSON
  object or a typed error.
* :func:`configure_logging` — one JSON object per log line (``ts``, ``level``, ``logger``, ``event``
  and the record's ``extra`` fields); uvicorn's own loggers go through it too, its access log as
  ``http_request`` events. Ordinary client disconnects are logged as events, never as tracebacks.
* :class:`ServiceServer` — a uvicorn server on a host and port (0 = any free one) that runs in the
  foreground (``eigen … serve``) or in a background thread (tests, benchmarks), with a clean shutdown.
* :class:`Metrics` — request counters by method, route and status for ``GET /metrics`` (Prometheus
  text format), plus the gauges a service adds.
* :func:`check_loopback` — the loopback-only bind check of the development services.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offchain.errors import ServiceError
from offchain.httptls import TLSProtocol

LOG_NAME = "eigen.http"


class HTTPError(ServiceError):
    """An error that becomes an HTTP response: status, message, OpenAI-style type/param/code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - the field's name in the API
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(
            self.status,
            self.message,
            type=self.type,
            param=self.param,
            code=self.code,
            headers=self.headers,
        )


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",  # noqa: A002
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (413 beyond; 400 for a bad Content-Length)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise HTTPError(400, "bad Content-Length header") from None
        if n > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, at most ``limit`` bytes (413 beyond), malformed -> 400."""
    raw = await read_body(request, limit)
    if not raw:
        raise HTTPError(400, "request body missing (a JSON object is expected)")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, f"request body is not valid JSON: {str(exc)[:200]}") from None


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client has gone (call after the body was read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class JSONFormatter(logging.Formatter):
    """One JSON object per line; a record's ``extra`` fields become keys; no tracebacks unless the
    record carries an exception that is not an ordinary disconnect."""

    _STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in self._STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(out, default=str, sort_keys=True)


def configure_logging(level: str = "info") -> dict[str, Any]:
    """The logging configuration (dictConfig) for a service process: JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "eigen": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ServiceError(f"refusing to bind {host}: the server listens on loopback only")


class ServiceServer:
    """A uvicorn server for ``app`` on ``host:port`` (port 0: a free one, see :attr:`port`); HTTPS
    with `tls` (an httptls.server_context, client certificates in the ASGI TLS extension)."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "info",
        loopback_only: bool = True,
        keep_alive_s: int = 5,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if loopback_only:
            check_loopback(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise ServiceError(f"cannot bind {host}:{port}: {exc}") from exc
        sock.listen(1024)
        sock.setblocking(False)
        self.sock = sock
        self.host = host
        self.port = sock.getsockname()[1]
        self.tls = tls
        # with `tls` (httptls.server_context): HTTPS, the ASGI TLS extension in each scope
        extra: dict[str, Any] = (
            {} if tls is None else {"http": TLSProtocol, "ssl_context_factory": lambda c, d: tls}
        )
        config = uvicorn.Config(
            app,
            log_config=configure_logging(log_level),
            timeout_keep_alive=keep_alive_s,
            access_log=False,
            server_header=False,
            lifespan="on",
            **extra,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'http' if self.tls is None else 'https'}://{h}:{self.port}"

    def run(self) -> None:
        """Serve in the foreground until interrupted (SIGINT/SIGTERM: uvicorn's graceful shutdown)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self, timeout_s: float = 30.0) -> ServiceServer:
        """Serve in a background thread; returns once the server accepts connections."""

        def target() -> None:
            asyncio.run(self.server.serve(sockets=[self.sock]))

        self._thread = threading.Thread(target=target, name=f"http:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServiceError("the HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.sock.close()

    def __enter__(self) -> ServiceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Metrics:
    """Request counters for ``GET /metrics`` (Prometheus text format): requests and their seconds by
    method, route and status. ``routes`` are the path prefixes used as labels (others: ``other``)."""

    def __init__(self, routes: Sequence[str], prefix: str = "eigen") -> None:
        self.routes = sorted(routes, key=len, reverse=True)
        self.prefix = prefix
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.seconds: defaultdict[tuple[str, str, int], float] = defaultdict(float)
        self.lock = threading.Lock()

    def _route(self, path: str) -> str:
        for r in self.routes:
            if path == r or path.startswith(r.rstrip("/") + "/"):
                return r
        return "other"

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The ASGI app counting every HTTP request of ``app``."""

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = [0]
            t0 = time.perf_counter()

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                key = (scope["method"], self._route(scope["path"]), status[0])
                with self.lock:
                    self.requests[key] += 1
                    self.seconds[key] += time.perf_counter() - t0

        return counted

    def render(self, gauges: dict[str, float] | None = None) -> str:
        p = self.prefix
        out = [f"# TYPE {p}_http_requests_total counter", f"# TYPE {p}_http_request_seconds_sum counter"]
        with self.lock:
            for (method, route, status), n in sorted(self.requests.items()):
                labels = f'method="{method}",path="{route}",status="{status}"'
                out.append(f"{p}_http_requests_total{{{labels}}} {n}")
                out.append(
                    f"{p}_http_request_seconds_sum{{{labels}}} {self.seconds[(method, route, status)]:.6f}"
                )
        for name, value in sorted((gauges or {}).items()):
            out.append(f"# TYPE {p}_{name} gauge")
            out.append(f"{p}_{name} {value}")
        return "\n".join(out) + "\n"


def logger(name: str) -> logging.Logger:
    """A logger under the services' JSON root (``eigen.<name>``)."""
    return logging.getLogger(f"eigen.{name}")
