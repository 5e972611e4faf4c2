"""The disperser's metadata (blobs, their statuses, batches, on-demand payments and their claims) in a SQL
database.

Two engines behind one schema and one set of statements: **SQLite** (``sqlite:///PATH`` or a bare path; the
default, embedded, WAL with ``synchronous=FULL``) and **PostgreSQL** (``postgresql://…`` DSN, through the
``psycopg`` driver; ``EIGEN_DA_METADATA_URL`` selects one for every process without editing its file). The
statements are the SQL both engines share (``INSERT … ON CONFLICT``, ``?`` placeholders rewritten for
PostgreSQL); only the bytes type and the per-account lock of an on-demand payment differ (SQLite's
``BEGIN IMMEDIATE``, PostgreSQL's transaction-scoped advisory lock), so two dispersers sharing a PostgreSQL
database never accept the same on-demand total twice. Statuses are EigenDA V2's ``disperser.v2.BlobStatus``
numbers. Every write is one committed transaction, so a blob acknowledged by ``DisperseBlob`` survives a
disperser restart.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any

from offchain.da.errors import MetadataStoreError, PaymentReplayError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# The PostgreSQL driver, and the requirement that installs it (one line in requirements.lock/pyproject).
POSTGRES_DRIVER = "psycopg"
POSTGRES_REQUIREMENT = "psycopg[binary]==3.3.9"


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def postgres_driver() -> Any:
    """The ``psycopg`` module; :class:`MetadataStoreError` naming the requirement when it is not installed."""
    try:
        return importlib.import_module(POSTGRES_DRIVER)
    except ImportError:
        raise MetadataStoreError(
            f"PostgreSQL metadata needs the {POSTGRES_DRIVER} driver, which is not installed "
            f"(add {POSTGRES_REQUIREMENT!r} to the environment)"
        ) from None


class BlobStatus(IntEnum):
    UNKNOWN = 0
    QUEUED = 1
    ENCODED = 2
    GATHERING_SIGNATURES = 3
    COMPLETE = 4
    FAILED = 5


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS blobs (
        blob_key TEXT PRIMARY KEY,
        blob_header TEXT NOT NULL,
        signature TEXT NOT NULL,
        data {bytes} NOT NULL,
        status INTEGER NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        batch_header_hash TEXT,
        inclusion TEXT,
        requested_at_ns BIGINT NOT NULL,
        updated_at_ns BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS blobs_status ON blobs (status, requested_at_ns)",
    """CREATE TABLE IF NOT EXISTS on_demand (
        account_id TEXT PRIMARY KEY,
        cumulative_payment TEXT NOT NULL,
        updated_at_ns BIGINT NOT NULL
    )""",
    # per account, the blob carrying its latest accepted on-demand total and the highest total known to be
    # claimed in the PaymentVault (the claim keeper's work list: due while the two differ)
    """CREATE TABLE IF NOT EXISTS on_demand_claims (
        account_id TEXT PRIMARY KEY,
        blob_key TEXT NOT NULL,
        cumulative_payment TEXT NOT NULL,
        claimed_payment TEXT NOT NULL,
        claim_tx TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        updated_at_ns BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_header_hash TEXT PRIMARY KEY,
        batch_header TEXT NOT NULL,
        attestation TEXT NOT NULL,
        created_at_ns BIGINT NOT NULL
    )""",
)


class _Connection:
    """One connection of either engine: ``execute(sql, params)`` with ``?`` placeholders, autocommit unless
    inside an explicit ``BEGIN``."""

    def __init__(
        self, url: str, error: type[Exception] = MetadataStoreError, what: str = "metadata database"
    ) -> None:
        """`error` (the caller's typed error) names `what` and the file or the DSN (password hidden)."""
        self.url, self.error, self.what = url, error, what
        self.postgres = is_postgres(url)
        if self.postgres:
            driver = postgres_driver()
            self.errors: tuple[type[BaseException], ...] = (driver.Error,)
            try:
                self.conn = driver.connect(url, autocommit=True)
            except driver.Error as exc:
                raise error(f"{what} {_redact(url)}: {exc}") from exc
            return
        if "://" in url and not url.startswith("sqlite:///"):
            raise error(f"{what} {_redact(url)}: expected sqlite:///PATH, a path, or postgresql://…")
        path = url.removeprefix("sqlite:///")
        self.errors = (sqlite3.Error,)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise error(f"{what} {url!r}: {exc}") from exc

    def execute(self, sql: str, params: tuple = ()) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        try:
            return self.conn.execute(sql, params)
        except self.errors as exc:
            raise self.error(f"{self.what} {_redact(self.url)}: {exc}") from exc

    @contextmanager
    def transaction(self, lock_key: str | Iterable[str] | None = None) -> Iterator[None]:
        """One write transaction, committed at the end or rolled back on an exception; ``lock_key`` (one key or
        several) serializes the writers of a key (an account) across processes: SQLite takes the database's
        write lock at once, PostgreSQL an advisory lock on each key (several: in sorted order, so two writers
        never wait on each other)."""
        self.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
        try:
            if self.postgres:
                keys = [lock_key] if isinstance(lock_key, str) else sorted(set(lock_key or ()))
                for key in keys:
                    self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def _redact(url: str) -> str:
    """A DSN without its password."""
    if "@" not in url or "://" not in url:
        return repr(url)
    scheme, rest = url.split("://", 1)
    cred, host = rest.rsplit("@", 1)
    return repr(f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url)


class MetadataStore:
    """Blobs and batches of one disperser. Thread-safe (one connection behind a lock)."""

    def __init__(self, url: str) -> None:
        self.db = _Connection(url)
        for stmt in SCHEMA:
            self.db.execute(stmt.format(bytes="BYTEA" if self.db.postgres else "BLOB"))
        self.lock = threading.Lock()

    @property
    def engine(self) -> str:
        return "postgresql" if self.db.postgres else "sqlite"

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def add_blob(
        self,
        key: bytes,
        header: dict,
        signature: bytes,
        data: bytes,
        on_demand: tuple[str, int] | None = None,
    ) -> bool:
        """Record a QUEUED blob; False when the key is already known (a repeated request). ``on_demand`` =
        (account, cumulative payment) is recorded in the same transaction as the account's last accepted total;
        one not above the recorded total raises :class:`PaymentReplayError` and records nothing."""
        now = time.time_ns()
        with self.lock:
            with self.db.transaction(on_demand[0] if on_demand else None):
                if on_demand is not None:
                    account, cum = on_demand
                    last = self._cumulative(account)
                    if cum <= last:
                        raise PaymentReplayError(
                            f"cumulative payment {cum} is not above the last accepted for {account} ({last})"
                        )
                cur = self.db.execute(
                    "INSERT INTO blobs (blob_key, blob_header, signature, data, status, requested_at_ns,"
                    " updated_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (key.hex(), json.dumps(header), signature.hex(), data, int(BlobStatus.QUEUED), now, now),
                )
                if cur.rowcount == 1 and on_demand is not None:
                    self.db.execute(
                        "INSERT INTO on_demand (account_id, cumulative_payment, updated_at_ns) VALUES (?, ?, ?)"
                        " ON CONFLICT (account_id) DO UPDATE SET cumulative_payment = excluded.cumulative_payment,"
                        " updated_at_ns = excluded.updated_at_ns",
                        (on_demand[0], str(on_demand[1]), now),
                    )
                    self.db.execute(
                        "INSERT INTO on_demand_claims (account_id, blob_key, cumulative_payment, claimed_payment,"
                        " claim_tx, attempts, last_error, updated_at_ns) VALUES (?, ?, ?, '0', '', 0, '', ?)"
                        " ON CONFLICT (account_id) DO UPDATE SET blob_key = excluded.blob_key,"
                        " cumulative_payment = excluded.cumulative_payment, attempts = 0, last_error = '',"
                        " updated_at_ns = excluded.updated_at_ns",
                        (on_demand[0], key.hex(), str(on_demand[1]), now),
                    )
            return cur.rowcount == 1

    def _cumulative(self, account: str) -> int:
        row = self.db.execute(
            "SELECT cumulative_payment FROM on_demand WHERE account_id = ?", (account,)
        ).fetchone()
        return int(row[0]) if row else 0

    def cumulative_payment(self, account: str) -> int:
        """The account's last accepted on-demand cumulative payment (wei; 0 if none)."""
        with self.lock:
            return self._cumulative(account)

    def claims_due(self, limit: int) -> list[dict[str, Any]]:
        """Accounts whose latest accepted on-demand total is not known claimed, its blob out of the pipeline
        (COMPLETE or FAILED: EigenDA charges at acceptance), least-tried first: account, blob key, header JSON,
        signature, cumulative payment, claimed payment, attempts."""
        with self.lock:
            rows = self.db.execute(
                "SELECT c.account_id, c.blob_key, b.blob_header, b.signature, c.cumulative_payment,"
                " c.claimed_payment, c.attempts FROM on_demand_claims c JOIN blobs b ON b.blob_key = c.blob_key"
                " WHERE c.cumulative_payment <> c.claimed_payment AND b.status IN (?, ?)"
                " ORDER BY c.attempts, c.updated_at_ns LIMIT ?",
                (int(BlobStatus.COMPLETE), int(BlobStatus.FAILED), limit),
            ).fetchall()
        return [
            {"account": a, "blob_key": bytes.fromhex(k), "header": json.loads(h), "signature": bytes.fromhex(s),
             "cumulative": int(c), "claimed": int(d), "attempts": int(n)}
            for a, k, h, s, c, d, n in rows
        ]  # fmt: skip

    def mark_claimed(self, account: str, cumulative: int, tx: str = "") -> None:
        """Record that ``account``'s total up to ``cumulative`` is claimed on chain (by ``tx``, or found so);
        never lowers what is recorded."""
        with self.lock:
            with self.db.transaction(account):
                row = self.db.execute(
                    "SELECT claimed_payment FROM on_demand_claims WHERE account_id = ?", (account,)
                ).fetchone()
                if row is None or int(row[0]) >= cumulative:
                    return
                self.db.execute(
                    "UPDATE on_demand_claims SET claimed_payment = ?, claim_tx = ?, attempts = 0, last_error = '',"
                    " updated_at_ns = ? WHERE account_id = ?",
                    (str(cumulative), tx, time.time_ns(), account),
                )

    def claim_failed(self, account: str, reason: str) -> None:
        """Count a failed claim of ``account``'s total (tried again later, after the accounts tried less)."""
        with self.lock:
            self.db.execute(
                "UPDATE on_demand_claims SET attempts = attempts + 1, last_error = ?, updated_at_ns = ?"
                " WHERE account_id = ?",
                (reason[:1000], time.time_ns(), account),
            )

    def claim_state(self, account: str) -> dict[str, Any] | None:
        """``account``'s claim record: latest accepted and claimed totals, last claim tx, attempts, last error."""
        with self.lock:
            row = self.db.execute(
                "SELECT cumulative_payment, claimed_payment, claim_tx, attempts, last_error FROM on_demand_claims"
                " WHERE account_id = ?",
                (account,),
            ).fetchone()
        if row is None:
            return None
        return {"cumulative": int(row[0]), "claimed": int(row[1]), "tx": row[2], "attempts": int(row[3]),
                "error": row[4]}  # fmt: skip

    def has_blob(self, key: bytes) -> bool:
        with self.lock:
            return (
                self.db.execute("SELECT 1 FROM blobs WHERE blob_key = ?", (key.hex(),)).fetchone() is not None
            )

    def set_status(
        self, keys: list[bytes], status: BlobStatus, reason: str = "", inclusion: dict[bytes, dict] | None = None,
        batch_header_hash: bytes | None = None,
    ) -> None:  # fmt: skip
        now = time.time_ns()
        with self.lock:
            with self.db.transaction():
                self._set_status(keys, status, reason, inclusion, batch_header_hash, now)

    def _set_status(
        self, keys: list[bytes], status: BlobStatus, reason: str, inclusion: dict[bytes, dict] | None,
        batch_header_hash: bytes | None, now: int,
    ) -> None:  # fmt: skip
        batch = batch_header_hash.hex() if batch_header_hash else None
        for k in keys:
            inc = json.dumps(inclusion[k]) if inclusion and k in inclusion else None
            self.db.execute(
                "UPDATE blobs SET status = ?, reason = ?, inclusion = ?, batch_header_hash = ?, updated_at_ns = ?"
                " WHERE blob_key = ?",
                (int(status), reason, inc, batch, now, k.hex()),
            )

    def add_batch(self, header_hash: bytes, header: dict, attestation: dict) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?) ON CONFLICT (batch_header_hash) DO UPDATE SET"
                " batch_header = excluded.batch_header, attestation = excluded.attestation,"
                " created_at_ns = excluded.created_at_ns",
                (header_hash.hex(), json.dumps(header), json.dumps(attestation), time.time_ns()),
            )

    def pending(self, limit: int) -> list[tuple[bytes, dict, bytes, bytes]]:
        """The oldest blobs not yet certified or failed: (key, header JSON, signature, data)."""
        with self.lock:
            rows = self.db.execute(
                "SELECT blob_key, blob_header, signature, data FROM blobs WHERE status IN (?, ?, ?)"
                " ORDER BY requested_at_ns LIMIT ?",
                (
                    int(BlobStatus.QUEUED),
                    int(BlobStatus.ENCODED),
                    int(BlobStatus.GATHERING_SIGNATURES),
                    limit,
                ),
            ).fetchall()
        return [(bytes.fromhex(k), json.loads(h), bytes.fromhex(s), bytes(d)) for k, h, s, d in rows]

    def blob(self, key: bytes) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute(
                "SELECT status, reason, inclusion, batch_header_hash FROM blobs WHERE blob_key = ?",
                (key.hex(),),
            ).fetchone()
            if row is None:
                return None
            batch = None
            if row[3]:
                b = self.db.execute(
                    "SELECT batch_header, attestation FROM batches WHERE batch_header_hash = ?", (row[3],)
                ).fetchone()
                batch = {"header": json.loads(b[0]), "attestation": json.loads(b[1])} if b else None
        return {
            "status": BlobStatus(row[0]),
            "reason": row[1],
            "inclusion": json.loads(row[2]) if row[2] else None,
            "signed_batch": batch,
        }

    def blob_data(self, key: bytes) -> bytes | None:
        with self.lock:
            row = self.db.execute("SELECT data FROM blobs WHERE blob_key = ?", (key.hex(),)).fetchone()
        return bytes(row[0]) if row else None

    def completed_since(
        self, after: tuple[int, str], limit: int
    ) -> list[tuple[bytes, bytes, tuple[int, str]]]:
        """COMPLETE blobs after the cursor ``after`` = (update time ns, blob key hex), in cursor order:
        (key, data, cursor). A batch's blobs share one update time, hence the key in the cursor. What a
        relay reading this disperser's store copies (EigenDA's relays read the disperser's stores)."""
        ns, key = after
        with self.lock:
            rows = self.db.execute(
                "SELECT blob_key, data, updated_at_ns FROM blobs WHERE status = ?"
                " AND (updated_at_ns > ? OR (updated_at_ns = ? AND blob_key > ?))"
                " ORDER BY updated_at_ns, blob_key LIMIT ?",
                (int(BlobStatus.COMPLETE), ns, ns, key, limit),
            ).fetchall()
        return [(bytes.fromhex(k), bytes(d), (int(t), k)) for k, d, t in rows]
