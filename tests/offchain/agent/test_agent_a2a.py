"""A2A v1.0 over JSON-RPC with the x402 extension (offchain/agent/a2a.py, a2a_server.py): the
agent card, SendMessage/GetTask, a client paying a task through the facilitator on the test chain
(balances checked on chain), every refusal typed (JSON-RPC codes, x402 payment errors), and AP2
v0.2 mandates carried in message metadata, checked before settlement (alike over JSON-RPC,
HTTP+JSON and gRPC) and answered by receipts."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.a2a import (
    AP2_CHECKOUT_JWT,
    AP2_CHECKOUT_MANDATE,
    AP2_CHECKOUT_RECEIPT,
    AP2_EXTENSION,
    AP2_PAYMENT_MANDATE,
    AP2_PAYMENT_RECEIPT,
    CANCELED,
    COMPLETED,
    ERC8004_EXTENSION,
    EXTENSIONS_HEADER,
    FAILED,
    GRPC,
    HTTP_JSON,
    INPUT_REQUIRED,
    JSONRPC,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REQUIRED,
    PAYMENT_SUBMITTED,
    PAYMENT_VERIFIED,
    WORKING,
    X402_ERROR,
    X402_EXTENSION,
    X402_PAYLOAD,
    X402_RECEIPTS,
    X402_REQUIRED,
    X402_STATUS,
    A2AClient,
    AgentCard,
    Ap2Mandates,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatus,
    TaskStatusUpdateEvent,
    sse_data,
    user_message,
)
from offchain.agent.a2a_server import TASK_KEY
from offchain.agent.facilitator import HTTPFacilitator, LocalFacilitator, create_app
from offchain.agent.x402 import PaymentRequired
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import MAX_TOKENS_PRICE, PER_TOKEN, PRICE, a2a_agent, build_world


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


@pytest.fixture
def agent(a2a_world):
    """The data agent on its own port, settling through an in-process facilitator."""
    fac = a2a_world.fresh_facilitator()
    server = a2a_agent(a2a_world, LocalFacilitator(fac))
    with ServiceServer(server.app(), log_level="warning") as s:
        yield s.url


def client(world, url, who="payer", budget=1_000_000, **kw):
    return A2AClient(url, world.client(who, budget), **kw)


def rpc(url, body, headers=None, raw=None):
    h = {EXTENSIONS_HEADER: X402_EXTENSION} | (headers or {})
    if raw is not None:
        return httpx.post(url + "/a2a", content=raw, headers=h | {"content-type": "application/json"})
    return httpx.post(url + "/a2a", json=body, headers=h)


def send(url, message, req_id=1):
    return rpc(url, {"jsonrpc": "2.0", "id": req_id, "method": "SendMessage", "params": {"message": message}})


# ---------------------------------------------------------------- the card


def test_agent_card_has_a2a_fields_and_declares_x402(agent):
    card = httpx.get(agent + "/.well-known/agent-card.json").json()
    assert card["name"] == "data-agent" and card["version"] == "1.0.0"
    assert card["supportedInterfaces"] == [
        {"url": agent + "/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": agent, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
    ]
    assert card["capabilities"]["streaming"] is True
    assert card["defaultInputModes"] and card["defaultOutputModes"]
    assert [s["id"] for s in card["skills"]] == ["price", "infer", "free", "broken"]
    assert {"id", "name", "description", "tags", "examples"} <= set(card["skills"][0])
    ext = card["capabilities"]["extensions"]
    assert ext[0]["uri"] == X402_EXTENSION and ext[0]["required"] is True
    assert AP2_EXTENSION not in {e["uri"] for e in ext}  # this agent signs no checkouts
    parsed = AgentCard.from_json(card)
    assert parsed.url == agent + "/a2a" and parsed.extensions == {X402_EXTENSION: True}
    assert parsed.interfaces == {JSONRPC: agent + "/a2a", HTTP_JSON: agent} and parsed.streaming


def test_card_lists_erc8004_registrations_and_a_public_url(a2a_world):
    reg = [{"agentId": 3, "agentRegistry": "eip155:31337:0x" + "12" * 20}]
    server = a2a_agent(a2a_world, None, registrations=reg, public_url="https://agent.example")
    with ServiceServer(server.app(), log_level="warning") as s:
        card = AgentCard.from_json(httpx.get(s.url + "/.well-known/agent-card.json").json())
    assert card.url == "https://agent.example/a2a" and card.endpoint(HTTP_JSON) == "https://agent.example"
    assert card.extensions == {X402_EXTENSION: True, ERC8004_EXTENSION: False}
    (ext,) = [e for e in card.raw["capabilities"]["extensions"] if e["uri"] == ERC8004_EXTENSION]
    assert ext["params"] == {"registrations": reg}


def test_card_without_a_served_interface_is_refused():
    card = {
        "name": "x",
        "description": "y",
        "version": "1",
        "supportedInterfaces": [{"url": "u", "protocolBinding": "KAFKA", "protocolVersion": "1.0"}],
    }
    with pytest.raises(E.A2AResponseError, match="JSONRPC or HTTP\\+JSON or GRPC"):
        AgentCard.from_json(card)
    old = {"url": "v", "protocolBinding": "HTTP+JSON", "protocolVersion": "0.3"}
    with pytest.raises(E.A2AResponseError, match="interface of A2A 1.0"):
        AgentCard.from_json(card | {"supportedInterfaces": [old]})
    rest_only = AgentCard.from_json(card | {"supportedInterfaces": [old | {"protocolVersion": "1.0"}]})
    assert rest_only.endpoint(HTTP_JSON) == "v" and not rest_only.streaming
    with pytest.raises(E.A2AResponseError, match="no JSONRPC interface"):
        rest_only.endpoint(JSONRPC)
    with pytest.raises(E.A2AResponseError, match="streaming"):
        AgentCard.from_json(rest_only.raw | {"capabilities": {"streaming": "yes"}})


# ---------------------------------------------------------------- paid tasks


def test_paid_task_exact_end_to_end(a2a_world, agent):
    w = a2a_world
    seller0, payer0 = w.balance("seller"), w.balance("payer")
    c = client(w, agent)
    ex = c.ask("ETH/USD please", skill="price")
    t = ex.task
    assert t.status.state == COMPLETED and t.payment_status() == PAYMENT_COMPLETED
    assert t.result() == {"pair": "ETH/USD", "price": "3120.55", "payer": w.addresses["payer"]}
    (receipt,) = t.receipts()
    assert receipt.success and receipt.amount == PRICE and receipt.transaction.startswith("0x")
    assert ex.receipt == receipt and ex.requirements.extra[TASK_KEY] == t.id
    # on chain: the seller got the price, the payer paid it, the client spent it
    assert w.balance("seller") - seller0 == PRICE and payer0 - w.balance("payer") == PRICE
    assert c.wallet.spent == PRICE and c.wallet.left == 1_000_000 - PRICE
    # GetTask gives the same task; the history holds the request, the offer, the payment, the end
    got = c.get_task(t.id)
    assert got == t
    states = [m.metadata.get(X402_STATUS) for m in got.history]
    assert states[0] is None and states[1] == PAYMENT_REQUIRED and states[2] == PAYMENT_SUBMITTED
    assert states[-1] == PAYMENT_COMPLETED
    assert len(c.get_task(t.id, history_length=2).history) == 2
    assert c.get_task(t.id, history_length=0).history == ()


def test_upto_task_charges_what_the_skill_billed(a2a_world, agent):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent)
    ex = c.ask(data={"max_tokens": 7}, skill="infer")
    assert ex.task.status.state == COMPLETED and ex.task.result()["tokens"] == 7
    assert ex.receipt.amount == 7 * PER_TOKEN < MAX_TOKENS_PRICE
    assert w.balance("seller") - seller0 == 7 * PER_TOKEN and c.wallet.spent == 7 * PER_TOKEN


def test_return_immediately_then_poll_get_task(a2a_world, agent):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent)
    ex = c.ask(skill="price", return_immediately=True)
    assert ex.task.status.state == COMPLETED and ex.receipt.amount == PRICE
    assert w.balance("seller") - seller0 == PRICE


def test_free_skill_and_failing_skill(a2a_world, agent):
    w = a2a_world
    seller0, payer0 = w.balance("seller"), w.balance("payer")
    c = client(w, agent)
    free = c.ask(skill="free")
    assert (
        free.task.status.state == COMPLETED and free.receipt is None and free.task.result()["payer"] is None
    )
    broken = c.ask(skill="broken")
    assert broken.task.status.state == FAILED and broken.receipt is None
    assert "upstream down" in broken.task.status.message.text()
    assert w.balance("seller") == seller0 and w.balance("payer") == payer0 and c.wallet.spent == 0


def test_settles_through_an_http_facilitator(a2a_world):
    w = a2a_world
    seller0 = w.balance("seller")
    with ServiceServer(create_app(w.fresh_facilitator()), log_level="warning") as f:
        server = a2a_agent(w, HTTPFacilitator(f.url))
        with ServiceServer(server.app(), log_level="warning") as s:
            ex = client(w, s.url).ask(skill="price")
    assert ex.task.status.state == COMPLETED and w.balance("seller") - seller0 == PRICE


# ---------------------------------------------------------------- JSON-RPC refusals


def test_malformed_json_rpc_gets_json_rpc_error_codes(agent):
    def code(r):
        return r.json()["error"]["code"]

    assert code(rpc(agent, None, raw=b"{not json")) == -32700
    assert code(rpc(agent, [{"jsonrpc": "2.0", "id": 1, "method": "GetTask"}])) == -32600
    assert code(rpc(agent, {"id": 1, "method": "GetTask", "params": {"id": "x"}})) == -32600
    assert code(rpc(agent, {"jsonrpc": "2.0", "id": True, "method": "GetTask"})) == -32600
    assert code(rpc(agent, {"jsonrpc": "2.0", "id": 1, "method": "message/send"})) == -32601
    assert code(rpc(agent, {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": []})) == -32602
    assert code(rpc(agent, {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": 5}})) == -32602
    r = rpc(agent, {"jsonrpc": "2.0", "id": "q", "method": "GetTask", "params": {"id": "nope"}})
    assert code(r) == -32001 and r.json()["id"] == "q"
    msg = user_message("hi").to_json()
    assert code(send(agent, {k: v for k, v in msg.items() if k != "role"})) == -32602
    assert code(send(agent, msg | {"parts": [{"text": "a", "data": 1}]})) == -32602
    assert code(send(agent, msg | {"parts": []})) == -32602
    assert code(send(agent, msg | {"role": "ROLE_AGENT"})) == -32602
    assert code(send(agent, msg | {"metadata": {"skill": "nope"}})) == -32602
    assert code(send(agent, msg | {"taskId": "no-such-task"})) == -32001
    # the x402 extension must be activated; the protocol version must be 1.x
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": msg}}
    assert code(httpx.post(agent + "/a2a", json=body)) == -32008
    other = {"X-A2A-Extensions": "https://example.com/another-extension"}
    assert code(httpx.post(agent + "/a2a", json=body, headers=other)) == -32008
    # activated by the URI x402's own A2A transport spec names for the extension
    v01 = {"X-A2A-Extensions": "https://github.com/google-a2a/a2a-x402/v0.1"}
    assert "result" in httpx.post(agent + "/a2a", json=body, headers=v01).json()
    assert code(rpc(agent, body, {"A2A-Version": "2.0"})) == -32009
    big = rpc(agent, None, raw=b'{"x": "' + b"a" * 300_000 + b'"}')
    assert big.status_code == 413 and code(big) == -32600


def test_client_raises_the_typed_error_of_an_answer(a2a_world, agent):
    c = client(a2a_world, agent)
    with pytest.raises(E.A2ATaskNotFoundError):
        c.get_task("missing")
    with pytest.raises(E.A2AMethodNotFoundError):
        c.call("tasks/list", {})
    with pytest.raises(E.A2AUnauthenticatedError):
        c.call("ListTasks", {})
    with pytest.raises(E.A2ATaskNotFoundError):
        c.call("GetTaskPushNotificationConfig", {"taskId": "t", "id": "c"})


# ---------------------------------------------------------------- HTTP+JSON binding


def rest(url, verb, path, body=None, raw=None, headers=None):
    h = {EXTENSIONS_HEADER: X402_EXTENSION} | (headers or {})
    if raw is not None:
        h |= {"content-type": "application/json"}
    return httpx.request(verb, url + path, json=body, content=raw, headers=h)


def test_paid_task_over_http_json(a2a_world, agent):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent, binding=HTTP_JSON)
    ex = c.ask(skill="price")
    assert ex.task.status.state == COMPLETED and ex.receipt.amount == PRICE
    assert w.balance("seller") - seller0 == PRICE and c.wallet.spent == PRICE
    got = c.get_task(ex.task.id, history_length=1)
    assert got.status == ex.task.status and len(got.history) == 1
    # the same task over JSON-RPC: one store behind both bindings
    assert client(w, agent).get_task(ex.task.id) == c.get_task(ex.task.id)
    raw = rest(agent, "GET", f"/tasks/{ex.task.id}", headers={"A2A-Version": "1.0"})
    assert raw.status_code == 200 and raw.json()["status"]["state"] == COMPLETED
    # returnImmediately, polled over GetTask
    later = c.ask(skill="price", return_immediately=True)
    assert later.task.status.state == COMPLETED and c.wallet.spent == 2 * PRICE


def test_http_json_refusals_are_aip193_errors_with_their_status(a2a_world, agent):
    def err(r, status, reason):
        assert r.status_code == status, r.text
        e = r.json()["error"]
        assert e["code"] == status and e["details"][0]["reason"] == reason, e
        assert e["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        return e["message"]

    msg = user_message("hi", metadata={"skill": "price"}).to_json()
    assert "no task nope" in err(rest(agent, "GET", "/tasks/nope"), 404, "TASK_NOT_FOUND")
    err(rest(agent, "POST", "/message:send", raw=b"{not json"), 400, "PARSE_ERROR")
    err(rest(agent, "POST", "/message:send", raw=b""), 400, "PARSE_ERROR")
    err(rest(agent, "POST", "/message:send", [msg]), 400, "INVALID_PARAMS")
    err(rest(agent, "POST", "/message:send", {"message": msg | {"role": "x"}}), 400, "INVALID_PARAMS")
    err(rest(agent, "POST", "/message:send", {"message": msg | {"taskId": "t"}}), 404, "TASK_NOT_FOUND")
    err(rest(agent, "POST", "/message:stream", {"message": msg | {"taskId": "t"}}), 404, "TASK_NOT_FOUND")
    err(rest(agent, "GET", "/message:send"), 405, "METHOD_NOT_FOUND")
    err(rest(agent, "DELETE", "/tasks/x"), 405, "METHOD_NOT_FOUND")
    err(
        rest(agent, "POST", "/tasks/x/pushNotificationConfigs", {"url": "https://x"}),
        404,
        "TASK_NOT_FOUND",
    )
    err(rest(agent, "POST", "/tasks/x/nothing"), 404, "METHOD_NOT_FOUND")
    err(rest(agent, "GET", "/tasks/x", headers={"A2A-Version": "2.0"}), 400, "VERSION_NOT_SUPPORTED")
    err(rest(agent, "GET", "/tasks/x?historyLength=-1"), 400, "INVALID_PARAMS")
    err(httpx.post(agent + "/message:send", json={"message": msg}), 400, "EXTENSION_SUPPORT_REQUIRED")
    big = rest(agent, "POST", "/message:send", raw=b'{"x": "' + b"a" * 300_000 + b'"}')
    err(big, 413, "INVALID_REQUEST")
    # the client raises the typed error of each
    c = client(a2a_world, agent, binding=HTTP_JSON)
    with pytest.raises(E.A2ATaskNotFoundError, match="HTTP 404"):
        c.get_task("nope")
    with pytest.raises(E.A2AInvalidParamsError):
        c.send(user_message("hi", metadata={"skill": "nope"}))
    with pytest.raises(E.A2AResponseError, match="no HTTP\\+JSON interface"):
        A2AClient("http://x", http=httpx.Client(transport=_card_only(JSONRPC)), binding=HTTP_JSON).get_task(
            "t"
        )


def _card_only(binding, streaming=False):
    """A transport serving only a card with one `binding`."""
    card = {
        "name": "n",
        "description": "d",
        "version": "1",
        "supportedInterfaces": [
            {"url": "http://x/a2a", "protocolBinding": binding, "protocolVersion": "1.0"}
        ],
        "capabilities": {"streaming": streaming},
    }
    return httpx.MockTransport(lambda req: httpx.Response(200, json=card))


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
def test_streamed_paid_task_sends_each_update(a2a_world, agent, binding):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent, binding=binding)
    # the request: the task, then its payment-required status; the stream ends there
    opened = list(c.send_streaming(user_message("price?", metadata={"skill": "price"})))
    assert [type(e) for e in opened] == [Task, TaskStatusUpdateEvent]
    task, asked = opened
    assert asked.task_id == task.id and asked.status.state == INPUT_REQUIRED
    assert asked.status.metadata[X402_STATUS] == PAYMENT_REQUIRED and X402_REQUIRED in asked.status.metadata
    # the payment: each step as it happens, the artifact, the end with the receipt
    offer = PaymentRequired.from_json(asked.status.metadata[X402_REQUIRED]).accepts[0]
    meta = {X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: c.wallet.sign(offer).to_json()}
    events = list(c.send_streaming(user_message("pay", task_id=task.id, metadata=meta)))
    assert isinstance(events[0], Task) and events[0].status.state == INPUT_REQUIRED
    updates = [(type(e).__name__, getattr(e, "status", None)) for e in events[1:]]
    assert [u[0] for u in updates] == ["TaskStatusUpdateEvent"] * 2 + [
        "TaskArtifactUpdateEvent",
        "TaskStatusUpdateEvent",
    ]
    states = [(s.state, s.metadata.get(X402_STATUS)) for _, s in updates if s is not None]
    assert states == [
        (WORKING, PAYMENT_SUBMITTED),
        (WORKING, PAYMENT_VERIFIED),
        (COMPLETED, PAYMENT_COMPLETED),
    ]
    art = events[3]
    assert isinstance(art, TaskArtifactUpdateEvent) and art.artifact.parts[0].data["price"] == "3120.55"
    (receipt,) = events[-1].status.metadata[X402_RECEIPTS]
    assert receipt["success"] and int(receipt["amount"]) == PRICE
    assert w.balance("seller") - seller0 == PRICE
    # the streamed updates applied to the first task give the stored task
    assert c.follow(iter(events)).status == c.get_task(task.id).status


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
def test_streaming_client_pays_and_follows_refusals_over_the_stream(a2a_world, agent, binding):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent, binding=binding, stream=True)
    ex = c.ask(skill="price")
    assert ex.task.status.state == COMPLETED and ex.receipt.amount == PRICE and c.wallet.spent == PRICE
    assert ex.task.result()["price"] == "3120.55" and w.balance("seller") - seller0 == PRICE
    up = c.ask(data={"max_tokens": 3}, skill="infer")
    assert up.receipt.amount == 3 * PER_TOKEN
    broken = c.ask(skill="broken")
    assert broken.task.status.state == FAILED and broken.receipt is None
    # a refused payment comes over the stream: payment-failed, the task payable again
    t = _open_task(c)
    good = c.wallet.sign(_offer(t))
    auth = replace(good.payload.authorization, value=PRICE - 1)
    bad = replace(good, payload=replace(good.payload, authorization=auth))
    meta = {X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: bad.to_json()}
    refused = c.follow(c.send_streaming(user_message("pay", task_id=t.id, metadata=meta)))
    assert refused.status.state == INPUT_REQUIRED and refused.payment_status() == PAYMENT_FAILED
    assert refused.status.metadata[X402_ERROR] == "INVALID_AMOUNT"
    assert c.pay(refused).task.status.state == COMPLETED
    # refusals before the stream opens are typed errors, not events
    with pytest.raises(E.A2ATaskNotFoundError):
        list(c.send_streaming(user_message("pay", task_id="nope", metadata=meta)))
    with pytest.raises(E.A2AUnsupportedOperationError, match="COMPLETED"):
        list(c.send_streaming(user_message("pay", task_id=t.id, metadata=meta)))
    with pytest.raises(E.A2AInvalidParamsError, match="no skill"):
        list(c.send_streaming(user_message("x", metadata={"skill": "nope"})))


def test_json_rpc_stream_frames_and_refusals(agent):
    msg = user_message("free?", metadata={"skill": "free"}).to_json()
    body = {"jsonrpc": "2.0", "id": "s1", "method": "SendStreamingMessage", "params": {"message": msg}}
    r = rpc(agent, body)
    assert r.headers["content-type"].startswith("text/event-stream")
    frames = [json.loads(d) for d in sse_data(iter(r.text.split("\n")))]
    assert all(f["jsonrpc"] == "2.0" and f["id"] == "s1" for f in frames)
    assert [next(iter(f["result"])) for f in frames] == ["task", "artifactUpdate", "statusUpdate"]
    assert frames[-1]["result"]["statusUpdate"]["status"]["state"] == COMPLETED
    # a refusal is one JSON-RPC error answer, no stream
    bad = rpc(agent, body | {"params": {"message": msg | {"taskId": "nope"}}})
    assert (
        bad.headers["content-type"].startswith("application/json") and bad.json()["error"]["code"] == -32001
    )
    assert rpc(agent, body | {"params": {"message": 1}}).json()["error"]["code"] == -32602
    unext = httpx.post(agent + "/a2a", json=body)
    assert unext.json()["error"]["code"] == -32008
    sub = {"jsonrpc": "2.0", "id": 2, "method": "SubscribeToTask", "params": {"id": "nope"}}
    assert rpc(agent, sub).json()["error"]["code"] == -32001
    done = frames[0]["result"]["task"]["id"]
    assert rpc(agent, sub | {"params": {"id": done}}).json()["error"]["code"] == -32004
    assert rpc(agent, sub | {"params": {}}).json()["error"]["code"] == -32602


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
def test_subscriber_sees_another_clients_payment(a2a_world, agent, binding):
    import threading

    w = a2a_world
    c = client(w, agent)
    t = _open_task(c)
    watcher = A2AClient(agent, binding=binding)
    seen = []
    events = watcher.subscribe(t.id)
    seen.append(next(events))  # the task as it is: waiting for payment
    th = threading.Thread(target=lambda: seen.extend(events))
    th.start()
    done = c.pay(t)
    th.join(timeout=30)
    assert not th.is_alive() and done.task.status.state == COMPLETED
    assert isinstance(seen[0], Task) and seen[0].status.state == INPUT_REQUIRED
    assert seen[-1].status.state == COMPLETED and seen[-1].status.metadata[X402_STATUS] == PAYMENT_COMPLETED
    assert watcher.follow(iter(seen)).result() == done.task.result()
    with pytest.raises(E.A2AUnsupportedOperationError):
        next(watcher.subscribe(t.id))
    with pytest.raises(E.A2ATaskNotFoundError):
        next(watcher.subscribe("nope"))


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
def test_cancel_a_task_waiting_for_payment_but_not_one_worked_on_or_over(a2a_world, agent, binding):
    w = a2a_world
    c = client(w, agent, binding=binding)
    t = _open_task(c)
    payload = c.wallet.sign(_offer(t))
    cancelled = c.cancel(t.id)
    assert cancelled.status.state == CANCELED and c.get_task(t.id).status.state == CANCELED
    # a cancelled task takes no payment, and cannot be cancelled again
    with pytest.raises(E.A2AUnsupportedOperationError, match="CANCELED"):
        _submit(c, t, payload)
    with pytest.raises(E.A2ATaskNotCancelableError, match="CANCELED"):
        c.cancel(t.id)
    done = c.ask(skill="price")
    with pytest.raises(E.A2ATaskNotCancelableError, match="COMPLETED"):
        c.cancel(done.task.id)
    with pytest.raises(E.A2ATaskNotFoundError):
        c.cancel("nope")
    # a subscriber sees the cancellation end its stream
    u = _open_task(c)
    events = A2AClient(agent, binding=binding).subscribe(u.id)
    assert next(events).status.state == INPUT_REQUIRED
    c.cancel(u.id)
    assert [e.status.state for e in events] == [CANCELED]


def test_cancel_refusals_on_the_wire(agent):
    r = rest(agent, "POST", "/tasks/nope:cancel")
    assert r.status_code == 404 and r.json()["error"]["details"][0]["reason"] == "TASK_NOT_FOUND"
    body = {"jsonrpc": "2.0", "id": 1, "method": "CancelTask", "params": {"id": 3}}
    assert rpc(agent, body).json()["error"]["code"] == -32602
    free = rpc(
        agent,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "SendMessage",
            "params": {"message": user_message("f", metadata={"skill": "free"}).to_json()},
        },
    ).json()["result"]["task"]
    r = rest(agent, "POST", f"/tasks/{free['id']}:cancel")
    assert r.status_code == 400 and r.json()["error"]["details"][0]["reason"] == "TASK_NOT_CANCELABLE"
    assert rpc(agent, body | {"params": {"id": free["id"]}}).json()["error"]["code"] == -32002


def test_a_client_leaving_a_stream_stops_only_its_stream(a2a_world):
    import time

    w = a2a_world
    server = a2a_agent(w, LocalFacilitator(w.fresh_facilitator()))
    with ServiceServer(server.app(), log_level="warning") as s:
        c = client(w, s.url)
        t = _open_task(c)
        with httpx.stream("POST", f"{s.url}/tasks/{t.id}:subscribe") as r:
            first = next(sse_data(r.iter_lines()))
        assert json.loads(first)["task"]["id"] == t.id
        deadline = time.monotonic() + 10
        while server.streams.get(t.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert t.id not in server.streams  # the server let go of the stream
        assert c.pay(t).task.status.state == COMPLETED  # and the task goes on


def test_streaming_client_needs_a_streaming_card_and_a_whole_stream():
    c = A2AClient("http://x", http=httpx.Client(transport=_card_only(JSONRPC)), stream=True)
    with pytest.raises(E.A2AUnsupportedOperationError, match="streaming"):
        c.ask("hi")
    # a stream that stops before the task ends, or opens with an update, is refused
    t = Task("t", "c", TaskStatus(WORKING))
    upd = TaskStatusUpdateEvent("t", "c", TaskStatus(WORKING))
    with pytest.raises(E.A2AResponseError, match="ended before the task did"):
        c.follow(iter([t, upd]))
    with pytest.raises(E.A2AResponseError, match="open with the task"):
        c.follow(iter([upd]))
    with pytest.raises(E.A2AResponseError, match="another task"):
        c.follow(iter([t, TaskStatusUpdateEvent("u", "c", TaskStatus(COMPLETED))]))


# ---------------------------------------------------------------- payment refusals


def _open_task(c, skill="price"):
    t = c.send(user_message(skill, metadata={"skill": skill}))
    assert isinstance(t, Task) and t.status.state == INPUT_REQUIRED
    return t


def _submit(c, task, payload):
    meta = {X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: payload.to_json()}
    return c.send(user_message("pay", task_id=task.id, metadata=meta))


def _offer(task):
    return PaymentRequired.from_json(task.status.metadata[X402_REQUIRED]).accepts[0]


def test_payment_for_another_task_is_refused_and_the_task_stays_payable(a2a_world, agent):
    w = a2a_world
    seller0 = w.balance("seller")
    c = client(w, agent)
    a, b = _open_task(c), _open_task(c)
    payload = c.wallet.sign(_offer(a))
    refused = _submit(c, b, payload)
    assert refused.status.state == INPUT_REQUIRED and refused.payment_status() == PAYMENT_FAILED
    assert refused.status.metadata[X402_ERROR] == "INVALID_PAYMENT_REQUIREMENTS"
    assert refused.receipts()[-1].error_reason == E.PaymentRequirementsError.code
    assert f"for task {a.id}" in refused.status.message.text()
    assert w.balance("seller") == seller0
    # the refused task is still payable, by a payment for it
    done = c.pay(refused)
    assert done.task.status.state == COMPLETED and w.balance("seller") - seller0 == PRICE


def test_replayed_payment_is_refused(a2a_world, agent):
    w = a2a_world
    c = client(w, agent)
    a = _open_task(c)
    payload = c.wallet.sign(_offer(a))
    assert _submit(c, a, payload).status.state == COMPLETED
    seller0 = w.balance("seller")
    # the same message again: the task is over
    with pytest.raises(E.A2AUnsupportedOperationError, match="COMPLETED"):
        _submit(c, a, payload)
    # the same authorization relabelled for a new task: its nonce is spent on chain
    b = _open_task(c)
    moved = replace(payload, accepted=_offer(b))
    refused = _submit(c, b, moved)
    assert refused.status.metadata[X402_ERROR] == "DUPLICATE_NONCE"
    assert refused.receipts()[-1].error_reason == E.PaymentReplayedError.code
    assert w.balance("seller") == seller0


def test_wrong_payments_are_refused_with_their_codes(a2a_world, agent):
    w = a2a_world
    c = client(w, agent)
    t = _open_task(c)
    good = c.wallet.sign(_offer(t))
    auth = replace(good.payload.authorization, value=PRICE - 1)
    tampered = replace(good, payload=replace(good.payload, authorization=auth))
    assert _submit(c, t, tampered).status.metadata[X402_ERROR] == "INVALID_AMOUNT"
    forged = replace(good, payload=replace(good.payload, signature=b"\x01" * 65))
    assert _submit(c, t, forged).status.metadata[X402_ERROR] == "INVALID_SIGNATURE"
    poor = A2AClient(agent, w.client("facilitator", 1_000_000))  # holds no USDC at all
    underfunded = poor.wallet.sign(_offer(t))
    assert _submit(c, t, underfunded).status.metadata[X402_ERROR] == "INSUFFICIENT_FUNDS"
    malformed = c.send(
        user_message(
            "pay", task_id=t.id, metadata={X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: {"x402Version": 2}}
        )
    )
    assert malformed.status.metadata[X402_ERROR] == "INVALID_PAYLOAD"
    assert len(malformed.receipts()) == 4 and not any(r.success for r in malformed.receipts())
    with pytest.raises(E.A2AInvalidParamsError, match="awaits payment"):
        c.send(user_message("hello?", task_id=t.id))
    # the client raises the refusal typed, with the x402 reason, and spends nothing
    with pytest.raises(E.PaymentRefusedError) as info:
        poor.pay(t)
    assert info.value.reason == E.PaymentUnderfundedError.code and poor.wallet.spent == 0


def test_budget_and_rejection(a2a_world, agent):
    w = a2a_world
    payer0 = w.balance("payer")
    c = client(w, agent, budget=PRICE - 1)
    with pytest.raises(E.BudgetExceededError):
        c.ask(skill="price")
    t = _open_task(c)
    rejected = c.reject(t)
    assert rejected.status.state == CANCELED
    rich = client(w, agent)
    with pytest.raises(E.A2AUnsupportedOperationError, match="CANCELED"):
        rich.pay(t)
    assert w.balance("payer") == payer0 and c.wallet.left == PRICE - 1 and rich.wallet.left == 1_000_000


# ---------------------------------------------------------------- AP2 mandates in A2A metadata

ISSUER_KEY, DEVICE_KEY, AGENT_KEY, MERCHANT_KEY = (sdjwt.new_key() for _ in range(4))
ISS = "https://credentials.example"
PRICE_ITEM = {"id": "price", "title": "ETH price"}  # the skill, as the merchant's checkout names it


def currency(w):
    return f"eip155:{w.w3.eth.chain_id}/erc20:{w.token.address}"


@pytest.fixture
def merchant(a2a_world):
    """The data agent signing checkouts (MERCHANT_KEY) and settling only payments whose AP2
    mandates are rooted in ISS's credentials."""
    w = a2a_world
    server = a2a_agent(
        w,
        LocalFacilitator(w.fresh_facilitator()),
        merchant_key=MERCHANT_KEY,
        require_mandates=True,
        mandate_issuers={ISS: ISSUER_KEY.public_key()},
        digits={currency(w): 6},
        grpc_listen="127.0.0.1:0",  # every binding, one dispatcher
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        yield s.url


def delegated(
    w,
    budget="0.03",
    payees=None,
    hi=PRICE,
    exp_in=3600,
    issuer=ISSUER_KEY,
    agent_key=AGENT_KEY,
    iss=ISS,
    kid=None,
    status=None,
):
    """payer2 (the user, holding ISS's credential on its device, `status` its status claim)
    delegates to the agent (AGENT_KEY, paying with payer's wallet) an open checkout mandate for
    the price skill at the allowed merchants and an open payment mandate referencing it: amounts
    in [1, hi], a budget in USDC."""
    now = int(w.clock())
    claims = {"wallet": w.addresses["payer2"], "name": "Ada", "email": "ada@example.com"}
    claims |= {} if status is None else {"status": status}
    cred = sdjwt.issue(
        issuer, iss, claims, ["name", "email"], DEVICE_KEY, iat=now - 60, exp=now + 86_400, kid=kid
    )
    allowed = [ap2.payee(a) for a in (payees or [w.addresses["seller"]])]
    oc = ap2.delegate(
        cred,
        DEVICE_KEY,
        ap2.open_mandate(
            ap2.CHECKOUT_OPEN,
            AGENT_KEY,
            [ap2.line_items([("tick", [PRICE_ITEM], 1)]), ap2.allowed_merchants(allowed)],
            iat=now,
            exp=now + exp_in,
        ),
        aud="agent",
        nonce="delegation-1",
        iat=now,
        keep=lambda d: False,  # the device reveals none of the credential's claims
    )
    cs = [
        ap2.reference(sdjwt.digest(sdjwt.last_link(oc))),
        ap2.amount_range(currency(w), hi, 1),
        ap2.allowed_payees(allowed),
        ap2.budget(currency(w), budget),
        ap2.recurrence("ON_DEMAND"),
    ]
    op = ap2.delegate(
        cred,
        DEVICE_KEY,
        ap2.open_mandate(ap2.PAYMENT_OPEN, AGENT_KEY, cs, iat=now, exp=now + exp_in),
        aud="agent",
        nonce="delegation-2",
        iat=now,
        keep=lambda d: False,
    )
    return Ap2Mandates(agent_key, oc, op, w.addresses["payer"], w.clock)


def mandated(w, url, mandates=None, **kw):
    return A2AClient(url, w.client("payer"), mandates=mandates or delegated(w, **kw))


def test_mandated_payment_is_settled_against_the_merchant_checkout_with_receipts(a2a_world, merchant):
    w = a2a_world
    seller0 = w.balance("seller")
    card = AgentCard.from_json(httpx.get(merchant + "/.well-known/agent-card.json").json())
    (ext,) = [e for e in card.raw["capabilities"]["extensions"] if e["uri"] == AP2_EXTENSION]
    assert ext["params"]["merchantJwk"] == sdjwt.jwk(MERCHANT_KEY)
    c = mandated(w, merchant)
    t = _open_task(c)
    checkout = ap2.read_checkout(t.status.metadata[AP2_CHECKOUT_JWT])
    assert checkout["merchant"]["id"] == w.addresses["seller"] and checkout["id"] == t.id
    assert (checkout["total"], checkout["currency"]) == (PRICE, currency(w))
    assert checkout["line_items"][0]["item"] == PRICE_ITEM
    ex = c.pay(t)
    assert ex.task.status.state == COMPLETED and w.balance("seller") - seller0 == PRICE
    sent = next(m for m in ex.task.history if m.metadata.get(X402_STATUS) == PAYMENT_SUBMITTED)
    pay_text = sent.metadata[AP2_PAYMENT_MANDATE]
    assert sent.metadata[AP2_CHECKOUT_MANDATE].count("~~") == 2 and pay_text.count("~~") == 2
    # the user's credential claims stay on the device: neither the name nor the email travels
    disclosed = json.dumps(
        [sdjwt.Disclosure.parse(p).value for p in pay_text.split("~") if p and "." not in p]
    )
    assert "Ada" not in disclosed and "ada@example.com" not in disclosed and "vct" in disclosed
    # the receipts, signed by the merchant, answer exactly the closed mandates sent
    meta = ex.task.status.metadata
    for key, text in (
        (AP2_CHECKOUT_RECEIPT, sent.metadata[AP2_CHECKOUT_MANDATE]),
        (AP2_PAYMENT_RECEIPT, pay_text),
    ):
        body = ap2.verify_receipt(
            meta[key], MERCHANT_KEY.public_key(), reference=sdjwt.digest(sdjwt.last_link(text))
        )
        assert body["status"] == "Success" and body["iss"] == w.addresses["seller"]
    pr = ap2.verify_receipt(
        meta[AP2_PAYMENT_RECEIPT],
        MERCHANT_KEY.public_key(),
        reference=sdjwt.digest(sdjwt.last_link(pay_text)),
    )
    assert pr["payment_id"] == ap2.checkout_hash(t.status.metadata[AP2_CHECKOUT_JWT])
    assert pr["psp_confirmation_id"] == ex.receipt.transaction and pr["rail_confirmation_verified"] is False
    # the client kept the evidence: the closed mandates and the receipts it verified
    (ev,) = c.mandates.evidence
    assert (ev.task_id, ev.payment_mandate) == (t.id, pay_text)
    assert ev.receipts[AP2_PAYMENT_RECEIPT] == pr and ev.receipts[AP2_CHECKOUT_RECEIPT]["order_id"] == t.id
    forged = ap2.sign_receipt(sdjwt.new_key(), iss="x", reference=pr["reference"], iat=0)
    with pytest.raises(E.SdJwtSignatureError):
        c.mandates.keep(t.id, sent.metadata, {AP2_PAYMENT_RECEIPT: forged}, MERCHANT_KEY.public_key())
    with pytest.raises(E.MandateHashError, match="another mandate"):
        c.mandates.keep(
            t.id, sent.metadata, {AP2_CHECKOUT_RECEIPT: meta[AP2_PAYMENT_RECEIPT]}, MERCHANT_KEY.public_key()
        )
    # the same mandates sent for another task: bound to the first one (nonce)
    t2 = _open_task(c)
    offer = PaymentRequired.from_json(t2.status.metadata[X402_REQUIRED]).accepts[0]
    meta2 = {X402_STATUS: PAYMENT_SUBMITTED, X402_PAYLOAD: w.client("payer").sign(offer).to_json()}
    meta2 |= {k: sent.metadata[k] for k in (AP2_CHECKOUT_MANDATE, AP2_PAYMENT_MANDATE)}
    failed = c.send(user_message("pay", task_id=t2.id, metadata=meta2))
    assert failed.receipts()[-1].error_reason == "mandate_binding"
    err = ap2.verify_receipt(
        failed.status.metadata[AP2_CHECKOUT_RECEIPT],
        MERCHANT_KEY.public_key(),
        reference=sdjwt.digest(sdjwt.last_link(sent.metadata[AP2_CHECKOUT_MANDATE])),
    )
    assert (err["status"], err["error"]) == ("Error", "invalid_credential")
    # mandates closed for this task, but the x402 payment signed by another wallet than the
    # instrument they name: the checkout is accepted, the payment refused (both receipts say so)
    mandates = c.mandates(offer, t2.status.metadata[AP2_CHECKOUT_JWT], t2.id)
    meta3 = {
        X402_STATUS: PAYMENT_SUBMITTED,
        X402_PAYLOAD: w.client("payer2").sign(offer).to_json(),
    } | mandates
    failed = c.send(user_message("pay", task_id=t2.id, metadata=meta3))
    assert failed.receipts()[-1].error_reason == "mandate_mismatch"
    verdicts = [
        ap2.verify_receipt(
            failed.status.metadata[key],
            MERCHANT_KEY.public_key(),
            reference=sdjwt.digest(sdjwt.last_link(mandates[m])),
        )
        for key, m in (
            (AP2_CHECKOUT_RECEIPT, AP2_CHECKOUT_MANDATE),
            (AP2_PAYMENT_RECEIPT, AP2_PAYMENT_MANDATE),
        )
    ]
    assert [v["status"] for v in verdicts] == ["Success", "Error"] and verdicts[1][
        "error"
    ] == "invalid_mandate"
    assert "payment instrument" in verdicts[1]["error_description"]
    assert w.balance("seller") - seller0 == PRICE


def test_payments_outside_the_mandates_are_refused_before_settling(a2a_world, merchant):
    w = a2a_world
    seller0 = w.balance("seller")

    def refused(c):
        with pytest.raises(E.PaymentRefusedError) as info:
            c.ask(skill="price")
        return info.value.reason

    # no mandates at all
    assert refused(A2AClient(merchant, w.client("payer"))) == "mandate_invalid"
    # the budget (0.02 USDC): two payments fit, the third does not (counted by the merchant)
    two = mandated(w, merchant, budget="0.02")
    two.ask(skill="price")
    two.ask(skill="price")
    assert refused(two) == "mandate_budget"
    # a merchant and payee the user did not allow; an amount above the range
    assert refused(mandated(w, merchant, payees=[w.addresses["payer2"]])) == "mandate_payee"
    assert refused(mandated(w, merchant, hi=PRICE - 1)) == "mandate_amount"
    # closed by another key than the agent's the mandates bind; rooted in an untrusted issuer
    assert refused(mandated(w, merchant, agent_key=sdjwt.new_key())) == "mandate_chain"
    assert refused(mandated(w, merchant, issuer=sdjwt.new_key())) == "mandate_signature"
    # expired open mandates
    assert refused(mandated(w, merchant, exp_in=-1)) == "mandate_expired"
    assert w.balance("seller") - seller0 == 2 * PRICE


def test_mandates_are_checked_alike_in_every_binding(a2a_world, merchant):
    """The AP2 checks are the dispatcher's: a payment whose mandates do not allow it is refused
    over gRPC with the same reason, x402 error and AP2 error receipts as over JSON-RPC and
    HTTP+JSON, before anything settles; mandates that allow it settle over gRPC, answered by the
    merchant's success receipts."""
    w = a2a_world
    seller0 = w.balance("seller")

    def refusal(binding, mandates):
        c = A2AClient(merchant, w.client("payer"), mandates=mandates, binding=binding)
        t = _open_task(c)
        assert AP2_CHECKOUT_JWT in t.status.metadata  # the merchant's checkout, over this binding too
        with pytest.raises(E.PaymentRefusedError) as info:
            c.pay(t)
        receipts = {}
        if mandates is not None:
            (ev,) = mandates.evidence
            receipts = {
                k: (r["status"], r.get("error"), r.get("error_description")) for k, r in ev.receipts.items()
            }
        return info.value.reason, str(info.value).replace(t.id, "<task>"), receipts

    bindings = (JSONRPC, HTTP_JSON, GRPC)
    # an amount above the open payment mandate's range: the checkout accepted, the payment refused
    above = [refusal(b, delegated(w, hi=PRICE - 1)) for b in bindings]
    assert above[0][0] == "mandate_amount" and above[1:] == [above[0]] * 2
    assert {k: v[0] for k, v in above[0][2].items()} == {
        AP2_CHECKOUT_RECEIPT: "Success",
        AP2_PAYMENT_RECEIPT: "Error",
    }
    # no mandates at all
    bare = [refusal(b, None) for b in bindings]
    assert bare[0][0] == "mandate_invalid" and bare[1:] == [bare[0]] * 2
    assert w.balance("seller") == seller0
    # mandates that allow it: settled over gRPC, unary and streamed, with the success receipts
    for stream in (False, True):
        mandates = delegated(w)
        c = A2AClient(merchant, w.client("payer"), mandates=mandates, binding=GRPC, stream=stream)
        ex = c.ask(skill="price")
        assert ex.task.status.state == COMPLETED and ex.receipt is not None and ex.receipt.success
        (ev,) = mandates.evidence
        assert ev.task_id == ex.task.id
        assert {k: r["status"] for k, r in ev.receipts.items()} == {
            AP2_CHECKOUT_RECEIPT: "Success",
            AP2_PAYMENT_RECEIPT: "Success",
        }
        assert ev.receipts[AP2_PAYMENT_RECEIPT]["psp_confirmation_id"] == ex.receipt.transaction
    assert w.balance("seller") - seller0 == 2 * PRICE


def test_the_task_store_is_bounded(a2a_world):
    """The agent keeps at most max_tasks tasks: the oldest not being worked on is forgotten."""
    server = a2a_agent(a2a_world, LocalFacilitator(a2a_world.fresh_facilitator()), max_tasks=2)
    with ServiceServer(server.app(), log_level="warning") as s:
        c = client(a2a_world, s.url)
        first, second = _open_task(c), _open_task(c)
        third = _open_task(c)
        with pytest.raises(E.A2ATaskNotFoundError):
            c.get_task(first.id)
        assert c.get_task(second.id).id == second.id and c.get_task(third.id).id == third.id
        assert server.store.count_tasks() == 2
        # a forgotten task cannot be paid
        with pytest.raises(E.A2ATaskNotFoundError):
            c.pay(first)
