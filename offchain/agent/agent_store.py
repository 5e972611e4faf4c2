"""What an A2A agent must not forget when its process stops: its tasks (status, history, artifacts,
offers, receipts, owner), their push-notification configs, and the AP2 merchant's payment memory
(every ``transaction_id`` accepted, what each open mandate has paid, the receipts of each settled
payment), in one SQL database.

Two engines behind one schema and the same statements (the DA disperser's connection,
offchain.da.network.metadata): **SQLite** (a path or ``sqlite:///PATH``, WAL, ``synchronous=FULL``;
``:memory:`` only when asked for, for tests) and **PostgreSQL** (a ``postgresql://…`` DSN). Several
agents may share one database (every row is keyed by the agent's name), and several processes of
one agent may share it:

- a task's row carries a version; a write names the version it read and fails if another writer
  came first (A2ATaskConflictError), so two processes cannot both take one payment;
- a payment is checked against the budget and reserved in one transaction holding the database's
  write lock (SQLite ``BEGIN IMMEDIATE``) or an advisory lock on its ``transaction_id`` and on each
  open mandate it pays under (PostgreSQL), so two processes cannot both spend the last of a budget
  or accept one ``transaction_id`` twice.

The store is bounded: creating a task beyond ``max_tasks`` forgets the oldest task not being worked
on (a task ``TASK_STATE_WORKING`` whose status is older than ``stale_s`` counts as not worked on:
its process stopped). A reservation is released when its payment does not settle; one whose
process stopped before it knew stays reserved (counted as spent: the safe side).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offchain import settings
from offchain.agent import ap2
from offchain.agent.errors import A2AError, A2ATaskConflictError, AgentStoreError, MandateReplayError
from offchain.da.network.metadata import _Connection

MEMORY = ":memory:"
WORKING = "TASK_STATE_WORKING"
RESERVED, SETTLED = "reserved", "settled"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS a2a_tasks (
        agent TEXT NOT NULL,
        id TEXT {c} NOT NULL,
        owner TEXT,
        tenant TEXT NOT NULL,
        context_id TEXT NOT NULL,
        state TEXT NOT NULL,
        status_us BIGINT NOT NULL,
        created_us BIGINT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (agent, id)
    )""",
    "CREATE INDEX IF NOT EXISTS a2a_tasks_owner ON a2a_tasks (agent, tenant, owner, status_us, id)",
    "CREATE INDEX IF NOT EXISTS a2a_tasks_age ON a2a_tasks (agent, created_us, id)",
    """CREATE TABLE IF NOT EXISTS a2a_push (
        agent TEXT NOT NULL,
        task_id TEXT NOT NULL,
        config_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (agent, task_id, config_id)
    )""",
    """CREATE TABLE IF NOT EXISTS ap2_payments (
        agent TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        amount TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        receipts TEXT NOT NULL,
        PRIMARY KEY (agent, transaction_id)
    )""",
    """CREATE TABLE IF NOT EXISTS ap2_usage (
        agent TEXT NOT NULL,
        open_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        PRIMARY KEY (agent, open_id, transaction_id)
    )""",
)


@dataclass
class TaskRow:
    """One task as stored: the columns queries filter on and `body`, the rest (JSON)."""

    id: str
    owner: str | None
    context_id: str
    state: str
    status_us: int
    body: dict[str, Any]
    version: int = 0
    tenant: str = ""  # the tenant it was created under ("" where the agent has none)


_COLUMNS = "id, owner, context_id, state, status_us, body, version, tenant"


def _task_row(r: Any) -> TaskRow:
    return TaskRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])


def default_url(agent: str) -> str:
    """``EIGEN_A2A_STORE``, else ``.cache/agent/<agent>.sqlite`` (the name made file-safe)."""
    url = settings.A2A_STORE.raw()
    if url:
        return url
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", agent).strip(".") or "agent"
    return str(settings.ROOT / ".cache" / "agent" / f"{safe}.sqlite")


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


class AgentStore:
    """The tasks, push configs and AP2 payments of agent `agent` in the database at `url` (a path,
    ``sqlite:///PATH``, ``:memory:`` or ``postgresql://…``). Thread-safe (one connection behind a
    lock); AgentStoreError names the file or DSN when it cannot be opened or used."""

    def __init__(self, url: str, agent: str) -> None:
        if not isinstance(url, str) or not url:
            raise AgentStoreError("the agent store is a path, sqlite:///PATH, :memory: or postgresql://…")
        self.agent = agent
        self.db = _Connection(url, AgentStoreError, "agent store")
        self.lock = threading.RLock()
        with self.db.transaction("a2a:schema"):  # two processes starting at once: one makes it
            for stmt in SCHEMA:
                self.db.execute(stmt.format(c='COLLATE "C"' if self.db.postgres else ""))
        if not self.db.postgres and url.removeprefix("sqlite:///") != MEMORY:
            self.db.execute("SELECT COUNT(*) FROM a2a_tasks").fetchone()  # a corrupt file fails here
        self.ledger = StoreLedger(self)

    @property
    def engine(self) -> str:
        return "postgresql" if self.db.postgres else "sqlite"

    @property
    def path(self) -> Path | None:
        """The SQLite file (None: in memory, or PostgreSQL)."""
        p = self.db.url.removeprefix("sqlite:///")
        return None if self.db.postgres or p == MEMORY else Path(p)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _lock(self, *keys: str) -> list[str]:
        return [f"a2a:{self.agent}:{k}" for k in keys]

    # ---- tasks

    def create_task(self, row: TaskRow, max_tasks: int, stale_s: float) -> list[str]:
        """Store a new task, first forgetting the oldest tasks not being worked on while the store
        is full; the ids forgotten (A2AError when every task is being worked on)."""
        now_us = time.time_ns() // 1000
        stale_us = now_us - int(stale_s * 1_000_000)
        with self.lock, self.db.transaction(self._lock("tasks")):
            (count,) = self.db.execute(
                "SELECT COUNT(*) FROM a2a_tasks WHERE agent = ?", (self.agent,)
            ).fetchone()
            gone: list[str] = []
            if count >= max_tasks:
                need = count - max_tasks + 1
                gone = [
                    r[0]
                    for r in self.db.execute(
                        "SELECT id FROM a2a_tasks WHERE agent = ? AND (state != ? OR status_us < ?)"
                        " ORDER BY created_us, id LIMIT ?",
                        (self.agent, WORKING, stale_us, need),
                    ).fetchall()
                ]
                if len(gone) < need:
                    raise A2AError(f"{max_tasks} tasks are being worked on: try again later")
                for tid in gone:
                    self.db.execute("DELETE FROM a2a_tasks WHERE agent = ? AND id = ?", (self.agent, tid))
                    self.db.execute("DELETE FROM a2a_push WHERE agent = ? AND task_id = ?", (self.agent, tid))
            self.db.execute(
                "INSERT INTO a2a_tasks"
                " (agent, id, owner, tenant, context_id, state, status_us, created_us, version, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    self.agent,
                    row.id,
                    row.owner,
                    row.tenant,
                    row.context_id,
                    row.state,
                    row.status_us,
                    now_us,
                    _dumps(row.body),
                ),
            )
        row.version = 1
        return gone

    def save_task(self, row: TaskRow) -> None:
        """Write `row` over the version it was read at (A2ATaskConflictError if another writer came first,
        or the task was forgotten); its version moves on."""
        with self.lock:
            cur = self.db.execute(
                "UPDATE a2a_tasks SET state = ?, status_us = ?, version = ?, body = ?"
                " WHERE agent = ? AND id = ? AND version = ?",
                (
                    row.state,
                    row.status_us,
                    row.version + 1,
                    _dumps(row.body),
                    self.agent,
                    row.id,
                    row.version,
                ),
            )
            if cur.rowcount != 1:
                raise A2ATaskConflictError(f"task {row.id} changed meanwhile: fetch it again")
        row.version += 1

    def load_task(self, task_id: str) -> TaskRow | None:
        with self.lock:
            r = self.db.execute(
                f"SELECT {_COLUMNS} FROM a2a_tasks WHERE agent = ? AND id = ?",
                (self.agent, task_id),
            ).fetchone()
        return None if r is None else _task_row(r)

    def count_tasks(self) -> int:
        with self.lock:
            return int(
                self.db.execute("SELECT COUNT(*) FROM a2a_tasks WHERE agent = ?", (self.agent,)).fetchone()[0]
            )

    def list_tasks(
        self,
        owner: str,
        *,
        tenant: str = "",
        context_id: str | None,
        state: str | None,
        since_us: int | None,
        before: tuple[int, str] | None,
        limit: int,
    ) -> tuple[list[TaskRow], int]:
        """`owner`'s tasks under `tenant` matching the filters, most recently updated first (ties: the greater id
        first), those after `before` (status time, id), at most `limit`; and how many match in all."""
        where, args = "agent = ? AND tenant = ? AND owner = ?", [self.agent, tenant, owner]
        for col, v in (("context_id", context_id), ("state", state)):
            if v is not None:
                where += f" AND {col} = ?"
                args.append(v)
        if since_us is not None:
            where += " AND status_us >= ?"
            args.append(since_us)
        with self.lock:
            (total,) = self.db.execute(
                f"SELECT COUNT(*) FROM a2a_tasks WHERE {where}", tuple(args)
            ).fetchone()
            if before is not None:
                where += " AND (status_us < ? OR (status_us = ? AND id < ?))"
                args += [before[0], before[0], before[1]]
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM a2a_tasks WHERE {where} ORDER BY status_us DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_task_row(r) for r in rows], int(total)

    # ---- push notification configs

    def put_push(self, task_id: str, config_id: str, config: Mapping[str, Any], limit: int) -> bool:
        """Add or replace a task's config; False (nothing written) when the task has `limit`
        others already."""
        with self.lock, self.db.transaction(self._lock("push", task_id)):
            others = self.db.execute(
                "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM a2a_push"
                " WHERE agent = ? AND task_id = ? AND config_id != ?",
                (self.agent, task_id, config_id),
            ).fetchone()
            if others[0] >= limit:
                return False
            self.db.execute(
                "INSERT INTO a2a_push (agent, task_id, config_id, position, config) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (agent, task_id, config_id) DO UPDATE SET config = excluded.config",
                (self.agent, task_id, config_id, others[1] + 1, _dumps(dict(config))),
            )
        return True

    def push_configs(self, task_id: str) -> list[dict[str, Any]]:
        """A task's configs, in the order they were first made."""
        with self.lock:
            rows = self.db.execute(
                "SELECT config FROM a2a_push WHERE agent = ? AND task_id = ? ORDER BY position",
                (self.agent, task_id),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete_push(self, task_id: str, config_id: str) -> None:
        with self.lock:
            self.db.execute(
                "DELETE FROM a2a_push WHERE agent = ? AND task_id = ? AND config_id = ?",
                (self.agent, task_id, config_id),
            )


class StoreLedger:
    """The AP2 merchant's payment memory in an AgentStore, with :class:`ap2.Ledger`'s rules: a
    ``transaction_id`` accepted once, the budget, occurrences and spacing of each open mandate
    counted over the payments reserved or settled under it. :meth:`check_and_reserve` checks and
    reserves in one transaction, so two processes sharing the database cannot both pass a limit."""

    def __init__(self, store: AgentStore) -> None:
        self.store = store
        self.db = store.db

    def _usage(self, open_id: str) -> ap2.Usage:
        rows = self.db.execute(
            "SELECT p.amount, p.at FROM ap2_usage u JOIN ap2_payments p"
            " ON p.agent = u.agent AND p.transaction_id = u.transaction_id"
            " WHERE u.agent = ? AND u.open_id = ?",
            (self.store.agent, open_id),
        ).fetchall()
        if not rows:
            return ap2.Usage()
        return ap2.Usage(len(rows), sum(int(a) for a, _ in rows), max(float(t) for _, t in rows))

    def get(self, open_id: str) -> ap2.Usage:
        """What has been paid (reserved or settled) under one open mandate."""
        with self.store.lock:
            return self._usage(open_id)

    def check_and_reserve(
        self,
        v: ap2.Verified,
        *,
        now: float,
        digits: Mapping[str, int],
        checkout_links: frozenset[str] | None,
    ) -> ap2.Reservation:
        tid = v.closed["transaction_id"]
        agent = self.store.agent
        with self.store.lock, self.db.transaction(self.store._lock(f"tx:{tid}", *v.open_ids)):
            seen = self.db.execute(
                "SELECT 1 FROM ap2_payments WHERE agent = ? AND transaction_id = ?", (agent, tid)
            ).fetchone()
            if seen is not None:
                raise MandateReplayError(f"transaction {tid} was already accepted here")
            usage = {oid: self._usage(oid) for oid in v.open_ids}
            get: Callable[[str], ap2.Usage] = lambda oid: usage.get(oid, ap2.Usage())  # noqa: E731
            ap2.evaluate_payment(
                v.opens,
                v.open_ids,
                v.closed,
                usage=get,
                now=now,
                digits=digits,
                checkout_links=checkout_links,
            )
            amount = v.closed["payment_amount"]["amount"]
            self.db.execute(
                "INSERT INTO ap2_payments (agent, transaction_id, amount, at, state, receipts)"
                " VALUES (?, ?, ?, ?, ?, '{}')",
                (agent, tid, str(amount), float(now), RESERVED),
            )
            for oid in dict.fromkeys(v.open_ids):
                self.db.execute(
                    "INSERT INTO ap2_usage (agent, open_id, transaction_id) VALUES (?, ?, ?)",
                    (agent, oid, tid),
                )
        return ap2.Reservation(tid, usage, amount)

    def release(self, r: ap2.Reservation) -> None:
        """Undo a reservation whose payment did not settle (a settled one stays)."""
        agent = self.store.agent
        with self.store.lock, self.db.transaction(self.store._lock(f"tx:{r.transaction_id}")):
            cur = self.db.execute(
                "DELETE FROM ap2_payments WHERE agent = ? AND transaction_id = ? AND state = ?",
                (agent, r.transaction_id, RESERVED),
            )
            if cur.rowcount == 1:
                self.db.execute(
                    "DELETE FROM ap2_usage WHERE agent = ? AND transaction_id = ?", (agent, r.transaction_id)
                )

    def settle(self, r: ap2.Reservation, receipts: Mapping[str, Any]) -> None:
        """Mark a reserved payment settled, with the receipts the merchant gave for it."""
        with self.store.lock:
            self.db.execute(
                "UPDATE ap2_payments SET state = ?, receipts = ? WHERE agent = ? AND transaction_id = ?",
                (SETTLED, _dumps(dict(receipts)), self.store.agent, r.transaction_id),
            )

    def payment(self, transaction_id: str) -> dict[str, Any] | None:
        """A payment's memory: ``amount``, ``at``, ``state`` (reserved, settled) and ``receipts``."""
        with self.store.lock:
            r = self.db.execute(
                "SELECT amount, at, state, receipts FROM ap2_payments WHERE agent = ? AND transaction_id = ?",
                (self.store.agent, transaction_id),
            ).fetchone()
        if r is None:
            return None
        return {"amount": int(r[0]), "at": float(r[1]), "state": r[2], "receipts": json.loads(r[3])}

    @property
    def transactions(self) -> set[str]:
        """Every transaction id accepted (reserved or settled)."""
        with self.store.lock:
            rows = self.db.execute(
                "SELECT transaction_id FROM ap2_payments WHERE agent = ?", (self.store.agent,)
            ).fetchall()
        return {r[0] for r in rows}
