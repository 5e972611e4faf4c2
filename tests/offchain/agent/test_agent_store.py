"""The A2A agent's store (offchain/agent/agent_store.py): tasks, push configs and the AP2 merchant's
payment memory in SQLite (a file) or PostgreSQL (a cluster of the machine's binaries), surviving a
restart of the agent; two agents sharing one database never spend a mandate's budget twice; the
store's refusals typed."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from offchain import settings
from offchain.agent import ap2, sdjwt
from offchain.agent import errors as E
from offchain.agent.a2a import (
    AP2_CHECKOUT_JWT,
    AP2_PAYMENT_MANDATE,
    COMPLETED,
    INPUT_REQUIRED,
    WORKING,
    A2AClient,
    PushConfig,
    user_message,
)
from offchain.agent.agent_store import AgentStore, TaskRow, default_url
from offchain.agent.facilitator import LocalFacilitator
from offchain.httpservice import ServiceServer
from tests.offchain.agent.support import PRICE, a2a_agent, build_world
from tests.offchain.agent.test_agent_a2a import (
    ISS,
    ISSUER_KEY,
    MERCHANT_KEY,
    _open_task,
    currency,
    delegated,
)
from tests.offchain.da.network.support import postgres_cluster

TOKENS = {"alice-token": "alice"}
NOW = 1_800_000_000
USD = "USD"


@pytest.fixture(scope="module")
def pg():
    with postgres_cluster() as dsn:
        yield dsn


_names = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A database of each engine (PostgreSQL: one cluster for the module; each test's agent has a
    name of its own, so the rows of another test are not its)."""
    if request.param == "sqlite":
        return str(tmp_path / "agent.sqlite")
    return request.getfixturevalue("pg")


@pytest.fixture
def agent_name():
    return f"agent-{next(_names)}"


def row(task_id, state=INPUT_REQUIRED, status_us=1, owner="alice", context="c1"):
    return TaskRow(task_id, owner, context, state, status_us, {"n": task_id})


def payment(tid, amount, opens=("open",), budget="300", times=None):
    """A verified closed payment (its chain is not what the ledger checks) under open mandates
    with a budget in USD and, with `times`, at most that many payments."""
    cs = [ap2.budget(USD, budget), ap2.recurrence("ON_DEMAND", times)]
    mandate = {"vct": ap2.PAYMENT_OPEN, "constraints": cs}
    closed = ap2.closed_payment(tid, ap2.payee("0x" + "11" * 20), amount, USD, {"id": "card", "type": "x"})
    return ap2.Verified(sdjwt.Chain(ISS, ()), tuple(mandate for _ in opens), tuple(opens), closed)


def reserve(ledger, v, now=NOW):
    return ledger.check_and_reserve(v, now=now, digits=ap2.MINOR_DIGITS, checkout_links=None)


# ---------------------------------------------------------------- the store itself


def test_tasks_push_configs_and_payments_outlive_the_store(url, agent_name):
    s = AgentStore(url, agent_name)
    assert s.engine == ("postgresql" if url.startswith("postgresql") else "sqlite")
    a, b = row("a", status_us=10), row("b", WORKING, status_us=20)
    s.create_task(a, max_tasks=10, stale_s=3600)
    s.create_task(b, max_tasks=10, stale_s=3600)
    s.create_task(row("x", owner="bob", status_us=30), max_tasks=10, stale_s=3600)
    assert s.put_push("a", "h1", {"id": "h1", "url": "https://one.example"}, limit=2)
    assert s.put_push("a", "h2", {"id": "h2", "url": "https://two.example"}, limit=2)
    assert not s.put_push("a", "h3", {"id": "h3", "url": "https://three.example"}, limit=2)  # full
    assert s.put_push("a", "h1", {"id": "h1", "url": "https://uno.example"}, limit=2)  # replaced, in place
    a.state, a.status_us, a.body = COMPLETED, 40, {"n": "a", "done": True}
    s.save_task(a)
    v1 = reserve(s.ledger, payment("t1", 1_000))
    s.ledger.settle(v1, {"ap2.PaymentReceipt": "jwt"})
    reserve(s.ledger, payment("t2", 500))
    s.close()

    s = AgentStore(url, agent_name)  # the agent restarted
    got = s.load_task("a")
    assert (got.state, got.status_us, got.body, got.version) == (COMPLETED, 40, {"n": "a", "done": True}, 2)
    assert [c["url"] for c in s.push_configs("a")] == ["https://uno.example", "https://two.example"]
    s.delete_push("a", "h1")
    assert [c["id"] for c in s.push_configs("a")] == ["h2"]
    rows, total = s.list_tasks("alice", context_id=None, state=None, since_us=None, before=None, limit=10)
    assert [r.id for r in rows] == ["a", "b"] and total == 2  # most recently updated first
    rows, total = s.list_tasks("alice", context_id=None, state=None, since_us=None, before=(40, "a"), limit=1)
    assert [r.id for r in rows] == ["b"] and total == 2
    rows, total = s.list_tasks("alice", context_id="c1", state=WORKING, since_us=15, before=None, limit=10)
    assert [r.id for r in rows] == ["b"] and total == 1
    # the budget spent before the restart is still spent; the transaction ids are still known
    assert s.ledger.get("open") == ap2.Usage(2, 1_500, NOW)
    assert s.ledger.transactions == {"t1", "t2"}
    assert s.ledger.payment("t1") == {
        "amount": 1_000,
        "at": NOW,
        "state": "settled",
        "receipts": {"ap2.PaymentReceipt": "jwt"},
    }
    with pytest.raises(E.MandateReplayError, match="t1 was already accepted"):
        reserve(s.ledger, payment("t1", 1))
    with pytest.raises(E.MandateBudgetError):
        reserve(s.ledger, payment("t3", 28_501))  # 300 USD = 30 000 cents, 1 500 spent
    reserve(s.ledger, payment("t3", 28_500))
    s.close()
    # another agent's rows in the same database are not this one's
    other = AgentStore(url, agent_name + "-other")
    assert other.load_task("a") is None and other.ledger.get("open") == ap2.Usage()
    other.close()


def test_a_release_and_a_conflict(url, agent_name):
    s = AgentStore(url, agent_name)
    r = reserve(s.ledger, payment("t1", 700, opens=("o1", "o2")))
    assert s.ledger.get("o2") == ap2.Usage(1, 700, NOW)
    s.ledger.release(r)  # not settled: as if it never was
    assert s.ledger.get("o1") == ap2.Usage() and s.ledger.payment("t1") is None
    reserve(s.ledger, payment("t1", 700))  # the same id may now pass
    settled = reserve(s.ledger, payment("t2", 100))
    s.ledger.settle(settled, {})
    s.ledger.release(settled)  # a settled payment stays
    assert s.ledger.get("open") == ap2.Usage(2, 800, NOW)
    # two writers of one task: the second, reading the same version, is refused
    s.create_task(row("a"), max_tasks=10, stale_s=3600)
    first, second = s.load_task("a"), s.load_task("a")
    first.state = WORKING
    s.save_task(first)
    second.state = "TASK_STATE_CANCELED"
    with pytest.raises(E.A2ATaskConflictError, match="task a changed meanwhile"):
        s.save_task(second)
    assert s.load_task("a").state == WORKING
    s.close()


def test_the_store_is_bounded(tmp_path):
    """Beyond max_tasks the oldest task not being worked on goes (with its push configs); a task
    WORKING is kept unless its status is stale (its process stopped); all working: refused."""
    s = AgentStore(str(tmp_path / "a.sqlite"), "a")
    fresh = 10**18  # status times in the far future: never stale
    s.create_task(row("w1", WORKING, fresh), max_tasks=3, stale_s=3600)
    s.create_task(row("i1", status_us=fresh), max_tasks=3, stale_s=3600)
    s.put_push("i1", "h", {"id": "h", "url": "https://h.example"}, limit=8)
    s.create_task(row("w2", WORKING, status_us=5), max_tasks=3, stale_s=3600)  # WORKING since 1970
    assert s.create_task(row("n1", status_us=fresh), max_tasks=3, stale_s=3600) == ["i1"]
    assert s.load_task("i1") is None and s.push_configs("i1") == []
    assert s.create_task(row("n2", status_us=fresh), max_tasks=3, stale_s=3600) == ["w2"]  # stale
    assert s.create_task(row("n3", status_us=fresh), max_tasks=3, stale_s=3600) == ["n1"]
    s.create_task(row("w3", WORKING, fresh), max_tasks=4, stale_s=3600)
    s.save_task(_state(s, "n2", WORKING))
    s.save_task(_state(s, "n3", WORKING))
    with pytest.raises(E.A2AError, match="4 tasks are being worked on"):
        s.create_task(row("n4"), max_tasks=4, stale_s=3600)
    assert s.count_tasks() == 4 and s.load_task("n4") is None


def _state(s, task_id, state):
    r = s.load_task(task_id)
    r.state = state
    return r


def test_two_stores_on_one_database_never_overspend(url, agent_name):
    """Two agents' connections (as two processes have) reserve payments at once under one mandate
    (a budget of 10 payments, 40 tried): exactly 10 pass, and one transaction id sent to both is
    accepted once."""
    stores = [AgentStore(url, agent_name), AgentStore(url, agent_name)]
    passed, refused, errors = [], [], []
    lock = threading.Lock()

    def pay(store, ids):
        for tid in ids:
            try:
                reserve(store.ledger, payment(tid, 100, budget="10.00", times=10))
                out = passed
            except (E.MandateBudgetError, E.MandateReplayError) as exc:
                out = refused
                if isinstance(exc, E.MandateReplayError):
                    out = errors
            with lock:
                out.append(tid)

    ids = [f"t{i}" for i in range(20)]
    threads = [
        threading.Thread(target=pay, args=(stores[0], ids)),  # both try the same 20 ids
        threading.Thread(target=pay, args=(stores[1], [f"u{i}" for i in range(20)])),
        threading.Thread(target=pay, args=(stores[1], ids[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 10 and len(set(passed)) == 10
    assert stores[0].ledger.get("open") == ap2.Usage(10, 1_000, NOW)
    assert len(stores[1].ledger.transactions) == 10
    for s in stores:
        s.close()


RACER = """
import sys
from offchain.agent import ap2, sdjwt
from offchain.agent.agent_store import AgentStore
from offchain.agent.errors import MandateBudgetError, MandateReplayError

url, agent = sys.argv[1], sys.argv[2]
store = AgentStore(url, agent)
cs = [ap2.budget("USD", "10.00"), ap2.recurrence("ON_DEMAND", 10)]
mandate = {"vct": ap2.PAYMENT_OPEN, "constraints": cs}
who = ap2.payee("0x" + "11" * 20)
print("ready", flush=True)
sys.stdin.readline()  # both ready: go
for i in range(20):
    closed = ap2.closed_payment(f"t{i}", who, 100, "USD", {"id": "card", "type": "x"})
    v = ap2.Verified(sdjwt.Chain("iss", ()), (mandate,), ("open",), closed)
    try:
        store.ledger.check_and_reserve(v, now=1.0, digits=ap2.MINOR_DIGITS, checkout_links=None)
        print("passed", f"t{i}")
    except (MandateBudgetError, MandateReplayError) as exc:
        print("refused", type(exc).__name__)
"""


def test_two_processes_on_one_database_never_overspend(url, agent_name):
    """Two processes open one database at once (making its tables together), then reserve the same
    20 transaction ids at the same moment under one mandate (a budget of 10 payments): 10 pass in
    all, each id at most once."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, agent_name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert [p.stdout.readline() for p in procs] == ["ready\n", "ready\n"]  # both opened the store
    outs = [p.communicate("go\n", timeout=120)[0].split("\n") for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    passed = [ln.split()[1] for out in outs for ln in out if ln.startswith("passed")]
    assert len(passed) == 10 and len(set(passed)) == 10
    assert all(len([ln for ln in out if ln]) == 20 for out in outs)
    s = AgentStore(url, agent_name)
    assert s.ledger.get("open") == ap2.Usage(10, 1_000, 1.0) and s.ledger.transactions == set(passed)
    s.close()


# ---------------------------------------------------------------- refusals


def test_a_store_that_cannot_be_opened_is_a_typed_error_naming_it(tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database, only some text that fills the header" * 100)
    with pytest.raises(E.AgentStoreError, match=f"agent store '{bad}'"):
        AgentStore(str(bad), "a")
    assert bad.read_bytes().startswith(b"this is not a database")  # nothing was overwritten
    (tmp_path / "file").write_text("x")
    with pytest.raises(E.AgentStoreError, match="agent store"):
        AgentStore(str(tmp_path / "file" / "a.sqlite"), "a")  # a file where a folder should be
    with pytest.raises(E.AgentStoreError, match="expected sqlite:///PATH"):
        AgentStore("mysql://u@h/db", "a")
    with pytest.raises(E.AgentStoreError) as err:
        AgentStore("postgresql://u:hunter2@127.0.0.1:9/x", "a")  # nothing listens on port 9
    assert "hunter2" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(E.AgentStoreError, match="a path, sqlite"):
        AgentStore("", "a")


def test_the_default_store_is_a_file_named_by_the_agent_or_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.A2A_STORE.name, raising=False)
    assert default_url("data agent/1") == str(settings.ROOT / ".cache" / "agent" / "data_agent_1.sqlite")
    monkeypatch.setenv(settings.A2A_STORE.name, str(tmp_path / "set.sqlite"))
    assert default_url("x") == str(tmp_path / "set.sqlite")


# ---------------------------------------------------------------- the agent restarted


@pytest.fixture(scope="module")
def store_world(project, accounts, chain):
    return build_world(project, accounts, chain)


def test_tasks_survive_a_restart_of_the_agent(store_world, tmp_path, monkeypatch):
    """A task created, the agent stopped and started again on the same file: GetTask and
    ListTasks return it, its push config is still there, and it can still be paid; a task in the
    store that is not a task is a typed error."""
    w, path = store_world, str(tmp_path / "agent.sqlite")
    fac = LocalFacilitator(w.fresh_facilitator())
    monkeypatch.setenv(settings.A2A_STORE.name, path)  # the setting chooses the file
    server = a2a_agent(w, fac, bearer_tokens=TOKENS, store=None)
    assert server.store.path is not None and str(server.store.path) == path
    with ServiceServer(server.app(), log_level="warning") as s:
        c = A2AClient(s.url, w.client("payer"), token="alice-token")
        t = _open_task(c)
        c.set_push(t.id, PushConfig("https://hooks.example/a2a", token="tok"))
        free = c.send(user_message("free", metadata={"skill": "free"}))
    server.store.close()

    again = a2a_agent(w, fac, bearer_tokens=TOKENS, store=path)
    with ServiceServer(again.app(), log_level="warning") as s:
        c = A2AClient(s.url, w.client("payer"), token="alice-token")
        got = c.get_task(t.id)
        assert got.to_json() == t.to_json()
        assert c.get_task(free.id).status.state == COMPLETED and c.get_task(free.id).result() == free.result()
        page = c.list_tasks()
        assert [x.id for x in page.tasks] == [free.id, t.id] and page.total_size == 2
        assert [p.url for p in c.list_push(t.id)] == ["https://hooks.example/a2a"]
        c.delete_push(t.id, c.list_push(t.id)[0].id)
        payer0 = w.balance("payer")
        done = c.pay(got)
        assert done.task.status.state == COMPLETED and payer0 - w.balance("payer") == PRICE
        with pytest.raises(E.A2ATaskNotFoundError):
            A2AClient(s.url, w.client("payer")).get_task(t.id)  # still alice's
        # a task whose skill the restarted agent no longer serves: read, not paid
        retired = _open_task(c)
        db = sqlite3.connect(path)
        db.execute('UPDATE a2a_tasks SET body = replace(body, \'"skill":"price"\', \'"skill":"old"\')')
        db.commit()
        assert c.get_task(retired.id).status.state == INPUT_REQUIRED
        with pytest.raises(E.A2AUnsupportedOperationError, match="no longer served"):
            c.pay(retired)
    db.execute("UPDATE a2a_tasks SET body = '{}' WHERE id = ?", (t.id,))
    db.commit()
    db.close()
    with pytest.raises(E.AgentStoreError, match=f"task {t.id} in the agent store is malformed"):
        again._record({"id": t.id}, "GetTask", "alice")
    again.store.close()


def test_a_corrupt_store_file_stops_the_agent_typed(store_world, tmp_path):
    bad = tmp_path / "agent.sqlite"
    bad.write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(E.AgentStoreError, match=str(bad)):
        a2a_agent(store_world, None, store=str(bad))


def merchant(w, fac, store):
    return a2a_agent(
        w,
        fac,
        merchant_key=MERCHANT_KEY,
        require_mandates=True,
        mandate_issuers={ISS: ISSUER_KEY.public_key()},
        digits={currency(w): 6},
        store=store,
    )


def test_a_mandate_spent_before_a_restart_stays_spent(store_world, url, agent_name):
    """The merchant's budget memory is in its store: a mandate of 0.02 USDC pays twice, once
    before the agent restarts and once after, and is refused a third time; the receipts of each
    settled payment are kept; the first payment's transaction id is refused again."""
    w = store_world
    fac = LocalFacilitator(w.fresh_facilitator())
    mandates = delegated(w, budget="0.02")
    first = merchant(w, fac, AgentStore(url, agent_name))
    with ServiceServer(first.app(), log_level="warning") as s:
        c = A2AClient(s.url, w.client("payer"), mandates=mandates)
        one = c.ask(skill="price")
    first.store.close()

    second = merchant(w, fac, AgentStore(url, agent_name))
    tid = ap2.checkout_hash(_checkout(one))
    kept = second.ledger.payment(tid)
    assert kept["state"] == "settled" and kept["amount"] == PRICE
    assert kept["receipts"]["settlement"]["transaction"] == one.receipt.transaction
    assert (
        ap2.verify_receipt(
            kept["receipts"]["ap2.PaymentReceipt"], MERCHANT_KEY.public_key(), reference=_payment_ref(one)
        )["payment_id"]
        == tid
    )
    with ServiceServer(second.app(), log_level="warning") as s:
        c = A2AClient(s.url, w.client("payer"), mandates=mandates)
        c.ask(skill="price")
        with pytest.raises(E.PaymentRefusedError) as info:
            c.ask(skill="price")
        assert info.value.reason == "mandate_budget"
    # a payment for the first one's checkout again: its transaction id is known after the restart
    v = payment(tid, 1, opens=("another",))
    with pytest.raises(E.MandateReplayError):
        second.ledger.check_and_reserve(v, now=w.clock(), digits=second.digits, checkout_links=None)
    second.store.close()


def test_two_agents_on_one_store_share_tasks_and_budgets(store_world, url, agent_name):
    """Two processes of one agent (two servers) on one database: a task made on one is paid on
    the other; a budget of two payments pays once on each, and the third, on either, is refused."""
    w = store_world
    fac = LocalFacilitator(w.fresh_facilitator())
    a, b = merchant(w, fac, AgentStore(url, agent_name)), merchant(w, fac, AgentStore(url, agent_name))
    mandates = delegated(w, budget="0.02")
    with (
        ServiceServer(a.app(), log_level="warning") as sa,
        ServiceServer(b.app(), log_level="warning") as sb,
    ):
        ca = A2AClient(sa.url, w.client("payer"), mandates=mandates)
        cb = A2AClient(sb.url, w.client("payer"), mandates=mandates)
        t = _open_task(ca)
        assert cb.get_task(t.id).to_json() == t.to_json()
        assert cb.pay(cb.get_task(t.id)).task.status.state == COMPLETED
        assert ca.get_task(t.id).status.state == COMPLETED  # what b did, a sees
        ca.ask(skill="price")
        for c in (ca, cb):
            with pytest.raises(E.PaymentRefusedError) as info:
                c.ask(skill="price")
            assert info.value.reason == "mandate_budget"
    a.store.close()
    b.store.close()


def _checkout(exchange):
    return next(m.metadata[AP2_CHECKOUT_JWT] for m in exchange.task.history if AP2_CHECKOUT_JWT in m.metadata)


def _payment_ref(exchange):
    text = next(
        m.metadata[AP2_PAYMENT_MANDATE] for m in exchange.task.history if AP2_PAYMENT_MANDATE in m.metadata
    )
    return sdjwt.digest(sdjwt.last_link(text))
