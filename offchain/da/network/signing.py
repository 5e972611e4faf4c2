"""The disperser's record of each validator's signing, what ``GetValidatorSigningRate`` answers (EigenDA's
``core/signingrate``): after every batch, each operator of each of the batch's quorums is counted as having
signed (its BLS signature valid: the batch's bytes and the time its ``StoreChunks`` took) or not (down,
refused, an invalid signature: the batch's bytes), in fixed time buckets (EigenDA's default span 10 minutes,
kept 14 days). A query sums the buckets that overlap ``[start, end)``, as EigenDA's does.

Kept in a SQL database, so a restarted disperser keeps its history (EigenDA's controller flushes its buckets
to DynamoDB): the engines of :mod:`offchain.da.network.metadata`, **SQLite** (a path or ``sqlite:///PATH``;
the disperser's default is ``signing_rates.db`` beside its metadata database) or **PostgreSQL** (a
``postgresql://…`` DSN), or ``:memory:`` (nothing kept; the default of an in-process :class:`SigningRates`).
Each batch's counts are added in one transaction, which also drops the buckets older than the retention, so
the record stays bounded (buckets × quorums × operators). A SQLite file is checked when opened
(``PRAGMA quick_check``): a corrupt or truncated file is refused with :class:`SigningRateStoreError` naming
it, never silently restarted; so is a record kept with another bucket span.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from offchain.da.errors import SigningRateStoreError
from offchain.da.network.metadata import _Connection

__all__ = [
    "BUCKET_S",
    "FIELDS",
    "MAX_RETENTION_S",
    "MEMORY",
    "RETENTION_S",
    "SigningRateStoreError",
    "SigningRates",
]

BUCKET_S = 600  # EigenDA's SigningRateBucketSpan default (10 minutes)
RETENTION_S = 14 * 24 * 3600  # EigenDA's SigningRateRetentionPeriod default
MAX_RETENTION_S = 366 * 24 * 3600  # the longest retention a disperser's configuration may ask for
FIELDS = ("signed_batches", "unsigned_batches", "signed_bytes", "unsigned_bytes", "signing_latency")
MEMORY = ":memory:"
TIME_LIMIT = 1 << 62  # query bounds are clamped to this (a uint64 timestamp is wider than BIGINT)
WHAT = "signing-rate database"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS signing_rate_params (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS signing_rates (
        bucket_start BIGINT NOT NULL,
        quorum INTEGER NOT NULL,
        operator_id TEXT NOT NULL,
        {", ".join(f"{f} BIGINT NOT NULL" for f in FIELDS)},
        PRIMARY KEY (bucket_start, quorum, operator_id)
    )""",
)


class SigningRates:
    """Per (bucket, quorum, operator): signed and unsigned batches and bytes, signing latency (ns), in the
    database at ``url`` (default ``:memory:``). Thread-safe (one connection behind a lock)."""

    def __init__(
        self, url: str = MEMORY, bucket_s: int = BUCKET_S, retention_s: int = RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        if bucket_s <= 0 or retention_s < bucket_s:
            raise ValueError(f"bucket_s {bucket_s} must be positive and at most retention_s {retention_s}")
        self.bucket_s, self.retention_s, self.clock = bucket_s, retention_s, clock
        self.db = _Connection(url, SigningRateStoreError, WHAT)
        self._lock = threading.Lock()
        try:
            if not self.db.postgres:
                problems = [r[0] for r in self.db.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    raise SigningRateStoreError(f"{WHAT} {url!r} is corrupt: {'; '.join(problems[:3])}")
            for stmt in SCHEMA:
                self.db.execute(stmt)
            self.db.execute(
                "INSERT INTO signing_rate_params (name, value) VALUES ('bucket_s', ?) ON CONFLICT DO NOTHING",
                (bucket_s,),
            )
            (kept,) = self.db.execute(
                "SELECT value FROM signing_rate_params WHERE name = 'bucket_s'"
            ).fetchone()
            if int(kept) != bucket_s:
                raise SigningRateStoreError(
                    f"{WHAT} {url!r} holds buckets of {kept} s, not {bucket_s} s: use that span or another database"
                )
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def report_batch(
        self, quorums: Iterable[int], members: Mapping[int, Iterable[bytes]], signers: Mapping[bytes, int],
        batch_bytes: int,
    ) -> None:  # fmt: skip
        """One batch: every member of each of ``quorums`` signed (``signers``: operator id -> latency ns) or not;
        the buckets past the retention are dropped in the same transaction."""
        now = self.clock()
        start = int(now // self.bucket_s) * self.bucket_s
        rows = []
        for q in quorums:
            for op in members.get(q, ()):
                if op in signers:
                    rows.append((start, q, op.hex(), 1, 0, batch_bytes, 0, int(signers[op])))
                else:
                    rows.append((start, q, op.hex(), 0, 1, 0, batch_bytes, 0))
        add = ", ".join(f"{f} = signing_rates.{f} + excluded.{f}" for f in FIELDS)
        with self._lock, self.db.transaction():
            for row in rows:
                self.db.execute(
                    f"INSERT INTO signing_rates (bucket_start, quorum, operator_id, {', '.join(FIELDS)})"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket_start, quorum, operator_id) DO UPDATE SET {add}",
                    row,
                )
            self.db.execute(
                "DELETE FROM signing_rates WHERE bucket_start + ? <= ?",
                (self.bucket_s, int(now - self.retention_s)),
            )

    def rate(self, operator: bytes, quorum: int, start_s: int, end_s: int) -> dict[str, Any]:
        """``validator.ValidatorSigningRate`` (JSON form) of ``operator`` in ``quorum``: the sums over the buckets
        that overlap ``[start_s, end_s)`` (a bucket starting at or after ``end_s``, or ending at or before
        ``start_s``, is left out); zeros when nothing was recorded."""
        sums = ", ".join(f"COALESCE(SUM({f}), 0)" for f in FIELDS)
        start_s, end_s = (max(-TIME_LIMIT, min(TIME_LIMIT, int(t))) for t in (start_s, end_s))  # BIGINT range
        with self._lock:
            row = self.db.execute(
                f"SELECT {sums} FROM signing_rates WHERE quorum = ? AND operator_id = ? AND bucket_start < ?"
                " AND bucket_start + ? > ?",
                (quorum, operator.hex(), end_s, self.bucket_s, start_s),
            ).fetchone()
        return {"validator_id": operator.hex(), **{f: int(v) for f, v in zip(FIELDS, row, strict=True)}}

    def buckets(self) -> int:
        """How many (bucket, quorum, operator) rows the record holds (bounded by the retention)."""
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM signing_rates").fetchone()[0])
