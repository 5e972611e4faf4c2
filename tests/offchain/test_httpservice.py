"""The shared HTTP service stack (offchain/httpservice.py), on a minimal Starlette app."""

import json
import logging
import sys

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.errors import ServiceError
from offchain.httpservice import HTTPError, JSONFormatter, Metrics, ServiceServer, check_loopback, read_json


async def echo(request: Request):
    try:
        body = await read_json(request, 64)
    except HTTPError as exc:
        return exc.response()
    return JSONResponse({"got": body})


APP = Starlette(routes=[Route("/echo", echo, methods=["POST"])])


def test_server_on_a_free_port_bounded_json_and_errors():
    with ServiceServer(APP, "127.0.0.1", 0) as srv:
        assert srv.port > 0 and srv.url == f"http://127.0.0.1:{srv.port}"
        with httpx.Client(base_url=srv.url) as c:
            assert c.post("/echo", json={"a": 1}).json() == {"got": {"a": 1}}
            for data, status in ((b"", 400), (b"{", 400), (b"x" * 65, 413)):
                r = c.post("/echo", content=data)
                assert r.status_code == status
                err = r.json()["error"]
                assert set(err) == {"message", "type", "param", "code"} and err["message"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/echo")  # stopped


def test_loopback_only_and_bind_errors():
    for host in ("127.0.0.1", "::1", "localhost"):
        check_loopback(host)
    for host in ("0.0.0.0", "10.0.0.1", "example.com"):
        with pytest.raises(ServiceError):
            check_loopback(host)
    with ServiceServer(APP, "127.0.0.1", 0) as srv, pytest.raises(ServiceError):
        ServiceServer(APP, "127.0.0.1", srv.port)  # taken


def test_json_log_lines():
    rec = logging.LogRecord("eigen.x", logging.INFO, __file__, 1, "client_disconnected", None, None)
    rec.id = "abc"
    line = json.loads(JSONFormatter().format(rec))
    assert line["event"] == "client_disconnected" and line["id"] == "abc" and line["level"] == "info"
    try:
        raise ConnectionResetError("peer gone")
    except ConnectionResetError:
        rec = logging.LogRecord("eigen.x", logging.WARNING, __file__, 1, "oops", None, sys.exc_info())
    line = JSONFormatter().format(rec)
    assert "Traceback" not in line and json.loads(line)["error"] == "ConnectionResetError: peer gone"


def test_metrics_middleware_labels_routes_not_raw_paths():
    m = Metrics(["/echo"])
    with ServiceServer(m.wrap(APP), "127.0.0.1", 0) as srv, httpx.Client(base_url=srv.url) as c:
        c.post("/echo", json=1)
        c.post("/echo/x/y", json=1)
        c.get("/nowhere/123")
    text = m.render({"queue": 3})
    assert 'eigen_http_requests_total{method="POST",path="/echo",status="200"} 1' in text
    assert 'eigen_http_requests_total{method="POST",path="/echo",status="404"} 1' in text
    assert 'eigen_http_requests_total{method="GET",path="other",status="404"} 1' in text
    assert "eigen_queue 3" in text and "/nowhere" not in text
