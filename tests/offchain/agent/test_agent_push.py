"""A2A push notifications (offchain/agent/a2a_push.py, the push operations of a2a_server.py): the
config operations in every binding, a paid task's updates posted in order to the webhook with its
Authorization and token, bounded retries that never hold up the task, no redirects followed, and
the webhook URLs a server-side request forgery would use refused."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time

import pytest
from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from offchain.agent import errors as E
from offchain.agent.a2a import (
    COMPLETED,
    GRPC,
    HTTP_JSON,
    INPUT_REQUIRED,
    JSONRPC,
    PAYMENT_COMPLETED,
    A2AClient,
    PushConfig,
    user_message,
)
from offchain.agent.a2a_push import ATTEMPTS, TOKEN_HEADER, check_webhook, resolve_webhook
from offchain.agent.facilitator import LocalFacilitator
from offchain.errors import SettingError
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import a2a_agent, build_world, self_signed

LOOPBACK = "EIGEN_A2A_PUSH_ALLOW_LOOPBACK"


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


class Receiver:
    """A webhook: records each post per path; `answers[path]` lists the statuses to answer first
    (then 200)."""

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[dict[str, str], object]]] = {}
        self.answers: dict[str, list[int]] = {}
        self.lock = threading.Lock()

        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            body = await request.json()
            with self.lock:
                self.posts.setdefault(name, []).append((dict(request.headers), body))
                todo = self.answers.get(name, [])
                status = todo.pop(0) if todo else 200
            if status in (301, 307):
                return Response(status_code=status, headers={"Location": "/hook/elsewhere"})
            return JSONResponse({}, status_code=status)

        self.app = Starlette(routes=[Route("/hook/{name}", hook, methods=["POST"])])

    def wait(self, name: str, n: int, timeout_s: float = 10.0) -> list[tuple[dict[str, str], object]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.posts.get(name, []))
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{name}: {len(got)} posts, expected {n}")


@pytest.fixture
def hooks(monkeypatch):
    monkeypatch.setenv(LOOPBACK, "1")
    r = Receiver()
    with ServiceServer(r.app, log_level="warning") as s:
        r.url = s.url
        yield r


@pytest.fixture
def agent(a2a_world, hooks):
    done: list[tuple[str, dict, int | None]] = []
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        grpc_listen="127.0.0.1:0",
        push_sent=lambda key, update, status: done.append((key, update, status)),
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        s.done = done
        yield s


def states(posts):
    return [b["statusUpdate"]["status"]["state"] for _, b in posts if "statusUpdate" in b]


@pytest.mark.parametrize("binding", [GRPC, JSONRPC, HTTP_JSON])
def test_a_paid_tasks_updates_are_posted_with_the_configured_auth(a2a_world, agent, hooks, binding):
    w = a2a_world
    c = A2AClient(agent.url, w.client("payer", 1_000_000), binding=binding)
    assert c.card().push_notifications
    task = c.send(user_message("p", metadata={"skill": "price"}))
    assert task.status.state == INPUT_REQUIRED
    cfg = c.set_push(
        task.id,
        PushConfig(f"{hooks.url}/hook/{binding}", token="tok-1", scheme="Bearer", credentials="s3cret"),
    )
    assert cfg.id and cfg.task_id == task.id and cfg.credentials == "s3cret"
    assert c.get_push(task.id, cfg.id) == cfg and c.list_push(task.id) == [cfg]
    ex = c.pay(task)
    assert ex.task.status.state == COMPLETED and ex.task.payment_status() == PAYMENT_COMPLETED
    posts = hooks.wait(binding, 4)
    assert states(posts) == ["TASK_STATE_WORKING", "TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    assert [
        b["artifactUpdate"]["artifact"]["parts"][0]["data"]["pair"] for _, b in posts if "artifactUpdate" in b
    ] == ["ETH/USD"]
    for headers, body in posts:
        assert headers["authorization"] == "Bearer s3cret" and headers[TOKEN_HEADER.lower()] == "tok-1"
        assert headers["content-type"] == "application/a2a+json"
        (kind,) = body
        assert body[kind]["taskId"] == task.id
    # deleted: idempotent, and nothing more is posted; an unknown config is TaskNotFound
    c.delete_push(task.id, cfg.id)
    c.delete_push(task.id, cfg.id)
    assert c.list_push(task.id) == []
    with pytest.raises(E.A2ATaskNotFoundError):
        c.get_push(task.id, cfg.id)
    with pytest.raises(E.A2ATaskNotFoundError):
        c.list_push("no-such-task")
    c.close()


def test_a_config_in_send_message_covers_the_task_from_its_start(a2a_world, agent, hooks):
    c = A2AClient(agent.url, a2a_world.client("payer", 1_000_000))
    push = PushConfig(f"{hooks.url}/hook/start", id="mine")
    res = c.call(
        "SendMessage",
        {
            "message": user_message("p", metadata={"skill": "free"}).to_json(),
            "configuration": {"taskPushNotificationConfig": push.to_json()},
        },
    )
    posts = hooks.wait("start", 2)
    assert states(posts) == ["TASK_STATE_COMPLETED"] and res["task"]["status"]["state"] == COMPLETED
    assert c.get_push(res["task"]["id"], "mine").url == push.url


def test_failing_webhooks_are_retried_a_bounded_number_of_times_and_never_hold_up_the_task(
    a2a_world, agent, hooks
):
    c = A2AClient(agent.url, a2a_world.client("payer", 1_000_000))
    hooks.answers["flaky"] = [500, 503]  # then 200
    hooks.answers["down"] = [500] * 100
    hooks.answers["moved"] = [307] * 100
    task = c.send(user_message("p", metadata={"skill": "price"}))
    for name in ("flaky", "down", "moved"):
        c.set_push(task.id, PushConfig(f"{hooks.url}/hook/{name}", id=name))
    t0 = time.monotonic()
    assert c.cancel(task.id).status.state == "TASK_STATE_CANCELED"
    assert time.monotonic() - t0 < 1.0  # answered before any retry
    flaky, down, moved = hooks.wait("flaky", 3), hooks.wait("down", ATTEMPTS), hooks.wait("moved", ATTEMPTS)
    deadline = time.monotonic() + 10
    while len(agent.done) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted((k.split("/")[1], s) for k, _, s in agent.done) == [
        ("down", 500),
        ("flaky", 200),
        ("moved", 307),
    ]
    time.sleep(0.3)
    assert len(hooks.posts["flaky"]) == 3 and len(hooks.posts["down"]) == ATTEMPTS == len(
        hooks.posts["moved"]
    )
    assert "elsewhere" not in hooks.posts  # a redirect is not followed
    assert all(states([p]) == ["TASK_STATE_CANCELED"] for p in flaky + down + moved)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com",
        "http://user:pw@example.com/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http:///nohost",
        "http://example.com:99999/hook",
        "x" * 3000,
    ],
)
def test_webhooks_to_anything_but_public_addresses_are_refused(url):
    with pytest.raises(E.A2AInvalidParamsError):
        check_webhook(url, loopback=True)


def test_loopback_only_with_the_setting(monkeypatch):
    monkeypatch.delenv(LOOPBACK, raising=False)
    for url in (
        "http://127.0.0.1:8080/h",
        "http://[::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://localhost/h",
        "http://a.localhost/h",
    ):
        with pytest.raises(E.A2AInvalidParamsError, match="loopback|not public"):
            check_webhook(url)
    assert check_webhook("https://hooks.example.com/a2a") == ("https", "hooks.example.com", 443)
    # at delivery the name is resolved and every address checked
    with pytest.raises(E.A2AInvalidParamsError, match="not public"):
        asyncio.run(resolve_webhook("localhost", 80))
    monkeypatch.setenv(LOOPBACK, "1")
    assert check_webhook("http://127.0.0.1:8080/h") == ("http", "127.0.0.1", 8080)
    assert asyncio.run(resolve_webhook("localhost", 80)) in ("127.0.0.1", "::1")
    monkeypatch.setenv(LOOPBACK, "yes")
    with pytest.raises(SettingError, match="1 or unset"):
        check_webhook("http://127.0.0.1/h")


def test_malformed_push_configs_get_the_specs_errors(a2a_world, agent, hooks, monkeypatch):
    c = A2AClient(agent.url, a2a_world.client("payer", 1_000_000), binding=GRPC)
    task = c.send(user_message("p", metadata={"skill": "price"}))
    ok = f"{hooks.url}/hook/x"
    bad = [
        {"url": "ftp://x"},
        {"url": ok, "authentication": {"scheme": "Bearer x"}},
        {"url": ok, "authentication": {"scheme": "Bearer", "credentials": "a\r\nX-Evil: 1"}},
        {"url": ok, "token": "t\nX-Evil: 1"},
        {"url": ""},
    ]
    for cfg in bad:
        with pytest.raises(E.A2AInvalidParamsError):
            c.call("CreateTaskPushNotificationConfig", {"taskId": task.id} | cfg)
    with pytest.raises(E.A2ATaskNotFoundError):
        c.set_push("nope", PushConfig(ok))
    for i in range(8):
        c.set_push(task.id, PushConfig(ok, id=f"c{i}"))
    with pytest.raises(E.A2AInvalidParamsError, match="at most 8"):
        c.set_push(task.id, PushConfig(ok, id="c8"))
    c.set_push(task.id, PushConfig(ok + "2", id="c0"))  # the same id replaces
    assert len(c.list_push(task.id)) == 8 and c.get_push(task.id, "c0").url == ok + "2"
    with pytest.raises(E.A2AInvalidParamsError):
        c.call("GetTaskPushNotificationConfig", {"taskId": task.id})
    c.close()


def test_an_agent_without_push_refuses_every_push_operation(a2a_world):
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        push_notifications=False,
        grpc_listen="127.0.0.1:0",
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        for binding in (GRPC, JSONRPC, HTTP_JSON):
            c = A2AClient(s.url, binding=binding)
            assert not c.card().push_notifications
            for call in (
                lambda c=c: c.set_push("t", PushConfig("https://hooks.example.com/x")),
                lambda c=c: c.get_push("t", "c"),
                lambda c=c: c.list_push("t"),
                lambda c=c: c.delete_push("t", "c"),
            ):
                with pytest.raises(E.A2APushNotificationNotSupportedError):
                    call()
            c.close()


def test_an_https_webhook_is_posted_to_its_checked_address_with_the_name_for_tls(
    a2a_world, monkeypatch, tmp_path
):
    """The POST goes to the resolved, checked address while TLS still sees the webhook's name: the
    certificate (for ``localhost`` only) verifies through SNI, and ``Host`` keeps the name."""
    monkeypatch.setenv(LOOPBACK, "1")
    key, cert = self_signed(x509.DNSName("localhost"))
    (tmp_path / "k.pem").write_bytes(key)
    (tmp_path / "c.pem").write_bytes(cert)
    seen: list[tuple[str | None, str | None, bytes]] = []
    sni: list[str | None] = []

    async def hook(request: Request) -> Response:
        h = request.headers
        seen.append((h.get("host"), h.get("authorization"), await request.body()))
        return Response(status_code=204)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    ctx.sni_callback = lambda sock, server_name, c: sni.append(server_name)
    srv = ServiceServer(
        Starlette(routes=[Route("/hook", hook, methods=["POST"])]), log_level="warning", tls=ctx
    )
    srv.start()
    port = srv.port
    trust = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
    done: list[int | None] = []
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        push_verify=trust,
        push_sent=lambda k, u, status: done.append(status),
    )
    try:
        with ServiceServer(server.app(), log_level="warning") as s:
            c = A2AClient(s.url)
            task = c.send(user_message("p", metadata={"skill": "price"}))
            c.set_push(
                task.id, PushConfig(f"https://localhost:{port}/hook", scheme="Bearer", credentials="k")
            )
            c.cancel(task.id)
            deadline = time.monotonic() + 10
            while not done and time.monotonic() < deadline:
                time.sleep(0.02)
            assert done == [204]
            ((host, auth, body),) = seen
            assert host == f"localhost:{port}" and auth == "Bearer k" and sni == ["localhost"]
            assert json.loads(body)["statusUpdate"]["status"]["state"] == "TASK_STATE_CANCELED"
    finally:
        srv.stop()
