"""A2A's gRPC binding (offchain/agent/a2a_grpc.py, the gRPC service of a2a_server.py): the
committed stubs are what the project's .proto generates, the card lists the gRPC interface, a paid
task runs end to end over gRPC (balances on chain) on the same task store as the HTTP bindings,
and every refusal is the specification's gRPC status with the A2A reason in its ErrorInfo. Also
ListTasks and GetExtendedAgentCard, in all three bindings."""

from __future__ import annotations

import filecmp
import ipaddress
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509

from offchain.agent import a2a_pb2 as pb
from offchain.agent import a2a_pb2_grpc as pb_grpc
from offchain.agent import errors as E
from offchain.agent import rpc_status_pb2
from offchain.agent.a2a import (
    COMPLETED,
    EXTENSIONS_HEADER,
    GRPC,
    HTTP_JSON,
    INPUT_REQUIRED,
    JSONRPC,
    PAYMENT_COMPLETED,
    X402_EXTENSION,
    A2AClient,
    AgentSkill,
    user_message,
)
from offchain.agent.a2a_grpc import DETAILS_KEY, ERROR_INFO_URL, error_of, to_json, to_proto
from offchain.agent.a2a_server import Skill
from offchain.agent.facilitator import LocalFacilitator
from offchain.errors import ServiceError
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import PRICE, a2a_agent, build_world, self_signed

ROOT = Path(__file__).resolve().parents[3]
TOKENS = {"alice-token": "alice", "bob-token": "bob"}


def test_committed_stubs_are_what_the_proto_generates(tmp_path):
    protos = ["offchain/agent/a2a.proto", "offchain/agent/rpc_status.proto"]
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={tmp_path}"]
    subprocess.run([*cmd, f"--grpc_python_out={tmp_path}", protos[0]], cwd=ROOT, check=True)
    subprocess.run([*cmd, protos[1]], cwd=ROOT, check=True)
    for name in ("a2a_pb2.py", "a2a_pb2_grpc.py", "rpc_status_pb2.py"):
        fresh, committed = tmp_path / "offchain/agent" / name, ROOT / "offchain/agent" / name
        assert filecmp.cmp(fresh, committed, shallow=False), f"{name} is stale: regenerate it"
    # the service's wire names are the specification's
    svc = pb.DESCRIPTOR.services_by_name["A2AService"]
    assert svc.full_name == "lf.a2a.v1.A2AService" and len(svc.methods) == 11
    assert pb.Task.DESCRIPTOR.fields_by_name["metadata"].number == 6
    assert pb.ListTaskPushNotificationConfigsRequest.DESCRIPTOR.fields_by_name["tenant"].number == 4


def test_struct_numbers_keep_integers_and_refuse_what_a_double_cannot_hold():
    msg = {"messageId": "m", "role": "ROLE_USER", "parts": [{"data": {"n": 2, "x": 1.5}}]}
    back = to_json(to_proto(msg, pb.Message, "message", E.A2AInvalidParamsError))
    assert back["parts"][0]["data"] == {"n": 2, "x": 1.5} and isinstance(back["parts"][0]["data"]["n"], int)
    with pytest.raises(E.A2AInvalidParamsError, match="send it as a string"):
        to_proto(msg | {"metadata": {"amount": 2**60}}, pb.Message, "message", E.A2AInvalidParamsError)
    with pytest.raises(E.A2AInvalidParamsError, match="lf.a2a.v1.Message"):
        to_proto(msg | {"role": "ROLE_BOSS"}, pb.Message, "message", E.A2AInvalidParamsError)


def test_plain_grpc_listens_only_on_loopback(a2a_world):
    with pytest.raises(ServiceError, match="loopback"):
        a2a_agent(a2a_world, LocalFacilitator(a2a_world.fresh_facilitator()), grpc_listen="0.0.0.0:0")
    with pytest.raises(ValueError, match="preferred binding GRPC"):
        a2a_agent(a2a_world, LocalFacilitator(a2a_world.fresh_facilitator()), preferred=GRPC)


@pytest.fixture(scope="module")
def a2a_world(project, accounts, chain):
    return build_world(project, accounts, chain)


async def _vip(msg, pay):
    return {"vip": True}


VIP = Skill(AgentSkill("vip", "VIP data", "for authenticated callers"), _vip)


@pytest.fixture
def agent(a2a_world):
    """The data agent serving JSON-RPC, HTTP+JSON and gRPC (preferred), with two bearer tokens
    and an extended skill."""
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        grpc_listen="127.0.0.1:0",
        preferred=GRPC,
        bearer_tokens=TOKENS,
        extended_skills=[VIP],
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        yield s.url


def client(world, url, who="payer", **kw):
    return A2AClient(url, world.client(who, 1_000_000), **kw)


def stub(agent):
    target = A2AClient(agent).card().endpoint(GRPC)
    return pb_grpc.A2AServiceStub(grpc.insecure_channel(target))


def test_card_prefers_and_lists_the_grpc_interface(agent):
    c = A2AClient(agent, binding=None)
    card = c.card()
    first = card.raw["supportedInterfaces"][0]
    assert first["protocolBinding"] == GRPC and first["protocolVersion"] == "1.0"
    host, port = first["url"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0 and "/" not in first["url"]
    assert list(card.interfaces) == [GRPC, JSONRPC, HTTP_JSON] and c.binding == GRPC
    assert (
        card.extended_card
        and card.raw["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    )
    assert "vip" not in card.skills


@pytest.mark.parametrize("stream", [False, True])
def test_paid_task_end_to_end_over_grpc(a2a_world, agent, stream):
    w = a2a_world
    seller0, payer0 = w.balance("seller"), w.balance("payer")
    c = client(w, agent, binding=GRPC, stream=stream)
    ex = c.ask("ETH/USD please", skill="price")
    t = ex.task
    assert t.status.state == COMPLETED and t.payment_status() == PAYMENT_COMPLETED
    assert t.result() == {"pair": "ETH/USD", "price": "3120.55", "payer": w.addresses["payer"]}
    (receipt,) = t.receipts()
    assert receipt.success and receipt.amount == PRICE and ex.receipt == receipt
    assert w.balance("seller") - seller0 == PRICE and payer0 - w.balance("payer") == PRICE
    assert c.wallet.spent == PRICE
    # one task store behind every binding: the same task over gRPC, JSON-RPC and HTTP+JSON
    got = c.get_task(t.id)
    assert got.status.state == COMPLETED and got.artifacts == t.artifacts
    assert client(w, agent, binding=JSONRPC).get_task(t.id) == got
    assert client(w, agent, binding=HTTP_JSON).get_task(t.id) == got
    assert len(c.get_task(t.id, history_length=1).history) == 1
    c.close()


def test_grpc_refusals_are_the_specifications_status_codes(a2a_world, agent):
    s = stub(agent)
    x402 = ((EXTENSIONS_HEADER.lower(), X402_EXTENSION),)
    msg = to_proto(user_message("hi", metadata={"skill": "price"}).to_json(), pb.Message, "m", E.A2AError)

    def refused(call, code, reason, *args, **kw):
        with pytest.raises(grpc.RpcError) as info:
            out = call(*args, **kw)
            if hasattr(out, "__iter__") and not hasattr(out, "ListFields"):
                list(out)
        exc = info.value
        assert exc.code() == code, (exc.code(), exc.details())
        (details,) = [v for k, v in exc.trailing_metadata() if k == DETAILS_KEY]
        status = rpc_status_pb2.Status.FromString(details)
        assert status.code == code.value[0] and status.message == exc.details()
        (any_,) = status.details
        info_ = rpc_status_pb2.ErrorInfo.FromString(any_.value)
        assert any_.type_url == ERROR_INFO_URL and (info_.reason, info_.domain) == (
            reason,
            "a2a-protocol.org",
        )
        return error_of(exc, "call")

    NF, FP, IA, UA = (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
    )
    e = refused(s.GetTask, NF, "TASK_NOT_FOUND", pb.GetTaskRequest(id="nope"))
    assert isinstance(e, E.A2ATaskNotFoundError)
    assert isinstance(refused(s.GetTask, IA, "INVALID_PARAMS", pb.GetTaskRequest()), E.A2AInvalidParamsError)
    req = pb.SendMessageRequest(message=msg)
    e = refused(s.SendMessage, FP, "EXTENSION_SUPPORT_REQUIRED", req)
    assert isinstance(e, E.A2AExtensionRequiredError)
    md = x402 + (("a2a-version", "2.0"),)
    assert isinstance(
        refused(s.SendMessage, FP, "VERSION_NOT_SUPPORTED", req, metadata=md), E.A2AVersionError
    )
    refused(s.SendStreamingMessage, FP, "EXTENSION_SUPPORT_REQUIRED", req)
    # malformed messages: no parts, no role, a task of nobody, a tenant this agent does not serve
    no_parts = pb.SendMessageRequest(message=pb.Message(message_id="m", role=pb.ROLE_USER))
    refused(s.SendMessage, IA, "INVALID_PARAMS", no_parts, metadata=x402)
    no_role = pb.SendMessageRequest(message=pb.Message(message_id="m", parts=[pb.Part(text="x")]))
    refused(s.SendMessage, IA, "INVALID_PARAMS", no_role, metadata=x402)
    refused(s.SendMessage, IA, "INVALID_PARAMS", pb.SendMessageRequest(), metadata=x402)
    other = pb.SendMessageRequest(
        message=pb.Message(message_id="m", role=1, task_id="t", parts=[pb.Part(text="x")])
    )
    refused(s.SendMessage, NF, "TASK_NOT_FOUND", other, metadata=x402)
    refused(
        s.SendMessage, IA, "INVALID_PARAMS", pb.SendMessageRequest(tenant="t", message=msg), metadata=x402
    )
    # a finished task can neither be cancelled nor followed
    done = s.SendMessage(
        pb.SendMessageRequest(
            message=to_proto(
                user_message("p", metadata={"skill": "free"}).to_json(), pb.Message, "m", E.A2AError
            )
        ),
        metadata=x402,
    ).task
    assert done.status.state == pb.TASK_STATE_COMPLETED
    e = refused(s.CancelTask, FP, "TASK_NOT_CANCELABLE", pb.CancelTaskRequest(id=done.id))
    assert isinstance(e, E.A2ATaskNotCancelableError)
    e = refused(s.SubscribeToTask, FP, "UNSUPPORTED_OPERATION", pb.SubscribeToTaskRequest(id=done.id))
    assert isinstance(e, E.A2AUnsupportedOperationError)
    # listing needs a caller; a token the agent does not know is refused
    e = refused(s.ListTasks, UA, "UNAUTHENTICATED", pb.ListTasksRequest())
    assert isinstance(e, E.A2AUnauthenticatedError)
    refused(
        s.ListTasks, UA, "UNAUTHENTICATED", pb.ListTasksRequest(), metadata=(("authorization", "Bearer x"),)
    )
    refused(
        s.ListTasks,
        UA,
        "UNAUTHENTICATED",
        pb.ListTasksRequest(),
        metadata=(("authorization", "Basic alice-token"),),
    )
    refused(s.GetExtendedAgentCard, UA, "UNAUTHENTICATED", pb.GetExtendedAgentCardRequest())
    bad = pb.ListTasksRequest(page_size=101)
    refused(s.ListTasks, IA, "INVALID_PARAMS", bad, metadata=(("authorization", "Bearer alice-token"),))
    # the client raises the same typed errors
    c = client(a2a_world, agent, binding=GRPC)
    with pytest.raises(E.A2ATaskNotFoundError, match="TASK_NOT_FOUND"):
        c.get_task("nope")
    with pytest.raises(E.A2AInvalidParamsError, match="no skill"):
        c.send(user_message("hi", metadata={"skill": "nope"}))
    with pytest.raises(E.A2AUnauthenticatedError):
        c.list_tasks()
    c.close()


def test_an_unreachable_grpc_agent_is_a_response_error(a2a_world, agent):
    c = client(a2a_world, agent, binding=GRPC, timeout_s=2)
    c.card()
    object.__setattr__(c._card, "interfaces", {GRPC: "127.0.0.1:1"})
    with pytest.raises(E.A2AResponseError, match="UNAVAILABLE|DEADLINE"):
        c.get_task("t")
    c.close()


# ---------------------------------------------------------------- ListTasks, the extended card


@pytest.mark.parametrize("binding", [GRPC, JSONRPC, HTTP_JSON])
def test_list_tasks_shows_the_callers_own_a_page_at_a_time(a2a_world, agent, binding):
    w = a2a_world
    alice = client(w, agent, binding=binding, token="alice-token")
    bob = client(w, agent, binding=binding, token="bob-token")
    anon = client(w, agent, binding=binding)
    free = [alice.ask(skill="free").task for _ in range(3)]
    waiting = alice.send(user_message("p", metadata={"skill": "price"}))
    assert waiting.status.state == INPUT_REQUIRED
    theirs, public = bob.ask(skill="free").task, anon.ask(skill="free").task
    page = alice.list_tasks()
    ids = [t.id for t in page.tasks]
    assert page.total_size == 4 and page.next_page_token == "" and page.page_size == 50
    assert ids == [waiting.id] + [t.id for t in reversed(free)]  # most recently updated first
    assert theirs.id not in ids and public.id not in ids
    assert all(t.artifacts == () for t in page.tasks)  # artifacts only when asked for
    # a page at a time
    seen, token = [], None
    while True:
        p = alice.list_tasks(page_size=1, page_token=token)
        assert len(p.tasks) == 1 and p.total_size == 4 and p.page_size == 1
        seen.append(p.tasks[0].id)
        token = p.next_page_token
        if not token:
            break
    assert seen == ids
    # filters
    done = alice.list_tasks(status=COMPLETED, include_artifacts=True, history_length=0)
    assert [t.id for t in done.tasks] == [t.id for t in reversed(free)]
    assert all(t.result()["pair"] == "ETH/USD" and t.history == () for t in done.tasks)
    ctx = alice.list_tasks(context_id=free[0].context_id)
    assert [t.id for t in ctx.tasks] == [free[0].id]
    after = alice.list_tasks(status_timestamp_after=waiting.status.timestamp)
    assert [t.id for t in after.tasks] == [waiting.id]
    assert alice.list_tasks(status_timestamp_after="2999-01-01T00:00:00Z").tasks == ()
    # others' tasks do not exist for a caller; anonymous tasks stay reachable by their id
    with pytest.raises(E.A2ATaskNotFoundError):
        alice.get_task(theirs.id)
    with pytest.raises(E.A2ATaskNotFoundError):
        anon.cancel(waiting.id)
    assert alice.get_task(public.id).id == public.id
    # malformed requests
    for kw in (
        {"page_size": 0},
        {"page_size": 101},
        {"status": "TASK_STATE_RUNNING"},
        {"page_token": "bm9wZQ"},
        {"status_timestamp_after": "yesterday"},
        {"page_token": alice.list_tasks(page_size=1, status=COMPLETED).next_page_token},
    ):
        with pytest.raises(E.A2AInvalidParamsError):
            alice.list_tasks(page_size=kw.pop("page_size", 1), **kw)
    with pytest.raises(E.A2AUnauthenticatedError):
        anon.list_tasks()
    for c in (alice, bob, anon):
        c.close()


@pytest.mark.parametrize("binding", [GRPC, JSONRPC, HTTP_JSON])
def test_extended_card_is_for_authenticated_callers(a2a_world, agent, binding):
    anon = client(a2a_world, agent, binding=binding)
    with pytest.raises(E.A2AUnauthenticatedError):
        anon.extended_card()
    with pytest.raises(E.A2AInvalidParamsError, match="no skill 'vip'"):
        anon.ask(skill="vip")
    alice = client(a2a_world, agent, binding=binding, token="alice-token")
    card = alice.extended_card()
    assert "vip" in card.skills and "price" in card.skills and alice.card() is card
    assert alice.ask(skill="vip").task.result() == {"vip": True}
    with pytest.raises(E.A2AUnauthenticatedError):
        client(a2a_world, agent, binding=binding, token="mallory").extended_card()
    anon.close()
    alice.close()


def test_an_agent_without_an_extended_card_says_so(a2a_world):
    server = a2a_agent(a2a_world, LocalFacilitator(a2a_world.fresh_facilitator()), bearer_tokens=TOKENS)
    with ServiceServer(server.app(), log_level="warning") as s:
        c = A2AClient(s.url, token="alice-token")
        assert not c.card().extended_card
        with pytest.raises(E.A2AUnsupportedOperationError, match="no extended card"):
            c.extended_card()


def test_list_tasks_and_the_extended_card_refusals_on_the_http_wire(agent):
    alice = {"Authorization": "Bearer alice-token"}

    def reason(r):
        return r.status_code, r.json()["error"]["details"][0]["reason"]

    for q in (
        "pageSize=abc",
        "pageSize=0",
        "includeArtifacts=maybe",
        "status=TASK_STATE_RUNNING",
        "pageToken=%%",
    ):
        assert reason(httpx.get(f"{agent}/tasks?{q}", headers=alice)) == (400, "INVALID_PARAMS"), q
    assert reason(httpx.get(f"{agent}/tasks")) == (401, "UNAUTHENTICATED")
    assert reason(httpx.get(f"{agent}/extendedAgentCard")) == (401, "UNAUTHENTICATED")
    assert reason(httpx.get(f"{agent}/tasks", headers={"Authorization": "Bearer nope"})) == (
        401,
        "UNAUTHENTICATED",
    )
    ok = httpx.get(f"{agent}/tasks?pageSize=2&includeArtifacts=true", headers=alice).json()
    assert ok == {"tasks": [], "nextPageToken": "", "pageSize": 2, "totalSize": 0}

    def rpc(method, params, headers=None):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return httpx.post(f"{agent}/a2a", json=body, headers=headers or {}).json()["error"]["code"]

    assert rpc("ListTasks", {"pageSize": "5"}, alice) == -32602
    assert rpc("ListTasks", {"historyLength": -1}, alice) == -32602
    assert rpc("ListTasks", {"includeArtifacts": 1}, alice) == -32602
    assert rpc("ListTasks", {"contextId": 5}, alice) == -32602
    assert rpc("ListTasks", {}) == -32040
    assert rpc("GetExtendedAgentCard", {}) == -32040
    assert rpc("GetTask", {"id": "t", "tenant": "acme"}) == -32602


def test_grpc_over_tls(a2a_world):
    key, cert = self_signed(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = a2a_agent(
        a2a_world,
        LocalFacilitator(a2a_world.fresh_facilitator()),
        grpc_listen="127.0.0.1:0",
        grpc_credentials=grpc.ssl_server_credentials([(key, cert)]),
    )
    with ServiceServer(server.app(), log_level="warning") as s:
        trusted = grpc.ssl_channel_credentials(root_certificates=cert)
        c = client(a2a_world, s.url, binding=GRPC, grpc_credentials=trusted)
        assert c.ask(skill="free").task.status.state == COMPLETED
        c.close()
        # a client that does not trust the certificate (the system's roots) cannot talk to it
        untrusting = client(
            a2a_world, s.url, binding=GRPC, timeout_s=3, grpc_credentials=grpc.ssl_channel_credentials()
        )
        with pytest.raises(E.A2AResponseError, match="UNAVAILABLE|DEADLINE"):
            untrusting.get_task("t")
        untrusting.close()
