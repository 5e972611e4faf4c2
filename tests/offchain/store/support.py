"""Helpers of the store tests: deterministic values, a fake clock, byte flips, and child processes.

Run as a script it is the child of the crash and concurrency tests::

    python -m tests.offchain.store.support writer DIR SEED   # puts and flushes forever, printing
                                                              # "ack N" once keys 0..N-1 are durable
    python -m tests.offchain.store.support fill DIR LIMIT     # under RLIMIT_FSIZE=LIMIT: puts until the
                                                              # disk is "full", prints "ack N" and "full"
    python -m tests.offchain.store.support reader DIR         # read-only: checks every key it sees
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CRASH_SEGMENT_BYTES = 256 << 10


def key_of(i: int) -> bytes:
    """The 32-byte key number ``i`` (like a chunk's hash)."""
    return hashlib.sha256(b"key %d" % i).digest()


def value_of(i: int, size: int | None = None) -> bytes:
    """The value of key ``i``: a pattern that any torn or misplaced byte breaks (size picked from ``i``)."""
    if size is None:
        size = random.Random(i).choice([0, 1, 100, 4096, 20_000, 70_000])
    seed = hashlib.sha256(b"value %d" % i).digest()
    return (seed * (size // 32 + 1))[:size]


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CostClock:
    """The map window's cost signal made deterministic (``offchain.store.window.COST_CLOCK``): a counter of
    nanoseconds that each call moves by ``step`` (so a timed read or admission costs ``step``), or, with
    ``seed``, by a step drawn each call from ``steps``."""

    def __init__(self, step: int = 0, seed: int | None = None, steps: tuple[int, ...] = ()) -> None:
        self.step = step
        self.now = 0
        self._rng = None if seed is None else random.Random(seed)
        self._steps = steps

    def __call__(self) -> int:
        self.now += self.step if self._rng is None else self._rng.choice(self._steps)
        return self.now


def flip(path: Path, offset: int) -> None:
    """Invert one byte of ``path``."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def child(*args: str, **kwargs) -> subprocess.Popen:
    """Start this module as a child process with ``args``, importing ``offchain`` from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.offchain.store.support", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _writer(directory: str, seed: int) -> None:
    """Put random batches of keys 0, 1, 2, ... and flush after each, acknowledging on stdout."""
    from offchain.store import Store

    rng = random.Random(seed)
    table = Store(directory, segment_bytes=CRASH_SEGMENT_BYTES).table("t")
    n = table.key_count()
    while True:
        batch = range(n, n + rng.randint(1, 8))
        table.put_batch([(key_of(i), value_of(i)) for i in batch])
        n = batch.stop
        if rng.random() < 0.7:
            table.flush()
            print(f"ack {n}", flush=True)


def _fill(directory: str, limit: int) -> None:
    """Fill a store under a file-size limit; report what was acknowledged before the first full error."""
    import resource
    import signal

    from offchain.store import Store, StoreFullError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    store = Store(directory)
    table = store.table("t")
    n = 0
    try:
        while True:
            table.put_batch([(key_of(i), value_of(i, 3000)) for i in range(n, n + 5)])
            n += 5
            table.flush()
            print(f"ack {n}", flush=True)
    except StoreFullError:
        print("full", flush=True)
    table.put(b"small", b"fits")  # the store is still usable: room remains for small records
    table.flush()
    print("small", flush=True)
    store.close()


def _reader(directory: str) -> None:
    """Open read-only and check every visible key's value; print how many were checked."""
    from offchain.store import Store

    store = Store(directory, readonly=True)
    table = store.table("t")
    index = {key_of(i): i for i in range(100_000)}
    checked = 0
    for key in table.keys():
        value = table.get(key)
        if value is not None:
            assert bytes(value) == value_of(index[key]), "bad value"
            checked += 1
    print(f"checked {checked}", flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "writer":
        _writer(sys.argv[2], int(sys.argv[3]))
    elif command == "fill":
        _fill(sys.argv[2], int(sys.argv[3]))
    elif command == "reader":
        _reader(sys.argv[2])
