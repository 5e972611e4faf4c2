"""The disperser's record of each validator's signing, what ``GetValidatorSigningRate`` answers (EigenDA's
``core/signingrate``): after every batch, each operator of each of the batch's quorums is counted as having
signed (its BLS signature valid: the batch's bytes and the time its ``StoreChunks`` took) or not (down,
refused, an invalid signature: the batch's bytes), in fixed time buckets (EigenDA's default span 10 minutes,
kept 14 days). A query sums the buckets that overlap ``[start, end)``, as EigenDA's does. Kept in memory: a
restarted disperser starts a fresh record (EigenDA's controller keeps its buckets in memory too and flushes
them to DynamoDB, which is not built here)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

BUCKET_S = 600  # EigenDA's SigningRateBucketSpan default (10 minutes)
RETENTION_S = 14 * 24 * 3600  # EigenDA's SigningRateRetentionPeriod default
FIELDS = ("signed_batches", "unsigned_batches", "signed_bytes", "unsigned_bytes", "signing_latency")


class SigningRates:
    """Per (bucket, quorum, operator): signed and unsigned batches and bytes, signing latency (ns)."""

    def __init__(
        self, bucket_s: int = BUCKET_S, retention_s: int = RETENTION_S, clock: Callable[[], float] = time.time
    ) -> None:
        if bucket_s <= 0 or retention_s < bucket_s:
            raise ValueError(f"bucket_s {bucket_s} must be positive and at most retention_s {retention_s}")
        self.bucket_s, self.retention_s, self.clock = bucket_s, retention_s, clock
        self._buckets: dict[int, dict[tuple[int, bytes], list[int]]] = {}
        self._lock = threading.Lock()

    def report_batch(
        self, quorums: Iterable[int], members: Mapping[int, Iterable[bytes]], signers: Mapping[bytes, int],
        batch_bytes: int,
    ) -> None:  # fmt: skip
        """One batch: every member of each of ``quorums`` signed (``signers``: operator id -> latency ns) or not."""
        now = self.clock()
        start = int(now // self.bucket_s) * self.bucket_s
        with self._lock:
            bucket = self._buckets.setdefault(start, {})
            for q in quorums:
                for op in members.get(q, ()):
                    row = bucket.setdefault((q, op), [0] * len(FIELDS))
                    if op in signers:
                        row[0] += 1
                        row[2] += batch_bytes
                        row[4] += signers[op]
                    else:
                        row[1] += 1
                        row[3] += batch_bytes
            horizon = now - self.retention_s
            for old in [b for b in self._buckets if b + self.bucket_s <= horizon]:
                del self._buckets[old]

    def rate(self, operator: bytes, quorum: int, start_s: int, end_s: int) -> dict[str, Any]:
        """``validator.ValidatorSigningRate`` (JSON form) of ``operator`` in ``quorum``: the sums over the buckets
        that overlap ``[start_s, end_s)`` (a bucket starting at or after ``end_s``, or ending at or before
        ``start_s``, is left out); zeros when nothing was recorded."""
        total = [0] * len(FIELDS)
        with self._lock:
            for b, rows in self._buckets.items():
                if b < end_s and b + self.bucket_s > start_s and (quorum, operator) in rows:
                    total = [t + v for t, v in zip(total, rows[(quorum, operator)], strict=True)]
        return {"validator_id": operator.hex(), **dict(zip(FIELDS, total, strict=True))}
