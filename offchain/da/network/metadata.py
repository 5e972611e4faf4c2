"""The disperser's metadata (blobs, their statuses, batches) in a SQL database.

The schema is plain SQL-92 types (TEXT, BLOB as ``bytes``, BIGINT) in one place so that a PostgreSQL
backend is a second :func:`connect` branch; today ``sqlite:///path`` (or a bare path) is the engine.
Statuses are EigenDA V2's ``disperser.v2.BlobStatus`` numbers. Every write is one committed transaction,
so a blob acknowledged by ``DisperseBlob`` survives a disperser restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from enum import IntEnum
from pathlib import Path
from typing import Any

from offchain.da.errors import MetadataStoreError, PaymentReplayError


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
        data BLOB NOT NULL,
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
    """CREATE TABLE IF NOT EXISTS batches (
        batch_header_hash TEXT PRIMARY KEY,
        batch_header TEXT NOT NULL,
        attestation TEXT NOT NULL,
        created_at_ns BIGINT NOT NULL
    )""",
)


class MetadataStore:
    """Blobs and batches of one disperser. Thread-safe (one connection behind a lock)."""

    def __init__(self, url: str) -> None:
        path = url.removeprefix("sqlite:///") if "://" in url else url
        if "://" in path:
            raise MetadataStoreError(f"metadata database {url!r}: only sqlite:///PATH is supported so far")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            for stmt in SCHEMA:
                self.db.execute(stmt)
        except (OSError, sqlite3.Error) as exc:
            raise MetadataStoreError(f"metadata database {url!r}: {exc}") from exc
        self.lock = threading.Lock()

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
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if on_demand is not None:
                    account, cum = on_demand
                    last = self._cumulative(account)
                    if cum <= last:
                        raise PaymentReplayError(
                            f"cumulative payment {cum} is not above the last accepted for {account} ({last})"
                        )
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO blobs (blob_key, blob_header, signature, data, status, requested_at_ns,"
                    " updated_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key.hex(), json.dumps(header), signature.hex(), data, int(BlobStatus.QUEUED), now, now),
                )
                if cur.rowcount == 1 and on_demand is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO on_demand (account_id, cumulative_payment, updated_at_ns)"
                        " VALUES (?, ?, ?)",
                        (on_demand[0], str(on_demand[1]), now),
                    )
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
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
            self.db.execute("BEGIN")
            for k in keys:
                inc = json.dumps(inclusion[k]) if inclusion and k in inclusion else None
                self.db.execute(
                    "UPDATE blobs SET status = ?, reason = ?, inclusion = ?, batch_header_hash = ?,"
                    " updated_at_ns = ? WHERE blob_key = ?",
                    (
                        int(status),
                        reason,
                        inc,
                        batch_header_hash.hex() if batch_header_hash else None,
                        now,
                        k.hex(),
                    ),
                )
            self.db.execute("COMMIT")

    def add_batch(self, header_hash: bytes, header: dict, attestation: dict) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?)",
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
