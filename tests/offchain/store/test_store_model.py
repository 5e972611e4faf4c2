"""Hypothesis state machine: the store against a dict, through puts, reads, flushes, expiry, clean reopens
and crashes (closing without a flush, as ``kill -9`` would: what was written but not flushed may survive
or not, but never torn). Values of 70,000 bytes go through the map window (a small one, or none), and
views handed out by ``get`` are held across everything that follows: each must keep reading its value."""

import shutil
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from offchain.store import KeyExistsError, Store
from offchain.store import window as window_module
from tests.offchain.store.support import Clock, CostClock, key_of, value_of

TTL = 100
KEYS = st.integers(0, 40)
BIG = 70_000  # above the map window's threshold (64 KiB)
HELD = 6  # views held at most


class StoreModel(RuleBasedStateMachine):
    """``durable``: flushed keys (must survive anything); ``unflushed``: put since the last flush."""

    @initialize(
        shards=st.integers(1, 3),
        segment_bytes=st.sampled_from([20_000, 100_000, 1 << 30]),
        window_bytes=st.sampled_from([0, 150_000, 1 << 20]),
        cost_seed=st.integers(0, 3),
    )
    def open_store(self, shards, segment_bytes, window_bytes, cost_seed):
        # the map window's cost signal: reads that cost nothing, a page-cache copy, a disk read or a stall,
        # drawn at random (deterministic for a seed): admissions at any read, never beyond the bounds
        self.real_cost_clock = window_module.COST_CLOCK
        window_module.COST_CLOCK = CostClock(seed=cost_seed, steps=(0, 15_000, 90_000, 10**8))
        self.root = Path(tempfile.mkdtemp(prefix="store-model-"))
        self.paths = [self.root / f"p{i}" for i in range(shards)]
        self.clock = Clock()
        self.options = {"segment_bytes": segment_bytes, "clock": self.clock, "window_bytes": window_bytes}
        self.held: list[tuple[int, memoryview]] = []  # views kept by the caller: (key, view)
        self.store = Store(self.paths, **self.options)
        self.table = self.store.table("t", ttl_s=TTL)
        # key -> (time of its put, latest time the store may date it: a recovery re-dates the tail)
        self.durable: dict[int, tuple[float, float]] = {}
        self.unflushed: dict[int, tuple[float, float]] = {}

    def teardown(self):
        if hasattr(self, "real_cost_clock"):
            window_module.COST_CLOCK = self.real_cost_clock
        for _, view in getattr(self, "held", ()):
            view.release()
        if hasattr(self, "store"):
            self.store.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _stored(self):
        return {**self.durable, **self.unflushed}

    @rule(i=KEYS, size=st.sampled_from([0, 1, 500, 5000, 12_000, 20_000, BIG]))
    def put(self, i, size):
        if i in self._stored():
            try:
                self.table.put(key_of(i), value_of(i, size))
            except KeyExistsError:
                return
            raise AssertionError("a second put of a key succeeded")
        self.table.put(key_of(i), value_of(i, self._size(i, size)))
        self.unflushed[i] = (self.clock.now, self.clock.now)

    def _size(self, i, size):
        self.sizes = getattr(self, "sizes", {})
        self.sizes.setdefault(i, size)
        return self.sizes[i]

    @rule(
        items=st.lists(
            st.tuples(KEYS, st.sampled_from([10, 3000])), min_size=1, max_size=6, unique_by=lambda t: t[0]
        )
    )
    def put_batch(self, items):
        fresh = [(i, s) for i, s in items if i not in self._stored()]
        if len(fresh) < len(items):
            return
        self.table.put_batch([(key_of(i), value_of(i, self._size(i, s))) for i, s in fresh])
        for i, _ in fresh:
            self.unflushed[i] = (self.clock.now, self.clock.now)

    @rule(i=KEYS, hold=st.booleans())
    def get(self, i, hold):
        got = self.table.get(key_of(i))
        if i in self._stored():
            assert got is not None and bytes(got) == value_of(i, self.sizes[i])
            if hold and isinstance(got, memoryview):
                self.held.append((i, got))
                if len(self.held) > HELD:
                    self.held.pop(0)[1].release()
        else:
            assert got is None and not self.table.exists(key_of(i))

    @rule(i=KEYS, verify=st.booleans())
    def read_into(self, i, verify):
        buffer = bytearray(BIG + 10)
        got = self.table.read_into(key_of(i), buffer, verify=verify)
        if i in self._stored():
            assert got == self.sizes[i] and buffer[:got] == value_of(i, got)
        else:
            assert got is None

    @rule()
    def flush(self):
        self.table.flush()
        self.durable.update(self.unflushed)
        self.unflushed.clear()

    @rule()
    def reopen(self):
        self.store.close()
        self._open()
        self.durable.update(self.unflushed)
        self.unflushed.clear()

    @rule()
    def crash(self):
        self.store.abandon()
        self._open()
        for i in list(self.unflushed):  # may or may not have survived; if it did, it is whole (checked)
            if self.table.exists(key_of(i)):
                self.durable[i] = (self.unflushed[i][0], self.clock.now)
        self.unflushed.clear()
        self._check_all()

    @precondition(lambda self: self._stored())
    @rule(seconds=st.sampled_from([1, 30, 99, 100, 150]))
    def expire(self, seconds):
        self.clock.now += seconds
        self.table.gc()
        horizon = self.clock.now - TTL
        stored = self._stored()
        everything_old = all(latest <= horizon for _, latest in stored.values())
        for i, (put_at, _) in stored.items():
            present = self.table.exists(key_of(i))
            assert present or put_at <= horizon, "a key younger than the TTL was collected"
            assert not (present and everything_old), "an expired key survived a GC that should drop all"
            if not present:
                self.durable.pop(i, None)
                self.unflushed.pop(i, None)

    def _open(self):
        self.store = Store(self.paths[0], **self.options)
        self.table = self.store.table("t")

    def _check_all(self):
        for i in self._stored():
            got = self.table.get(key_of(i))
            assert got is not None and bytes(got) == value_of(i, self.sizes[i]), f"key {i} lost or wrong"
            buffer = bytearray(self.sizes[i])
            assert self.table.read_into(key_of(i), buffer, verify=True) == len(buffer)
            assert buffer == value_of(i, self.sizes[i]), f"key {i} read wrong into a buffer"

    @invariant()
    def held_views_read_their_values(self):
        for i, view in getattr(self, "held", ()):  # across evictions, expiry, reopens and crashes
            assert view == value_of(i, self.sizes[i]), f"a held view of key {i} changed"

    @invariant()
    def window_within_its_bound(self):
        window = self.table.stats()["window"] if hasattr(self, "table") else None
        if window is not None:
            assert window["mapped_bytes"] <= window["limit_bytes"]

    @invariant()
    def counts_match(self):
        if hasattr(self, "table"):
            assert self.table.key_count() == len(self._stored())


TestStoreModel = StoreModel.TestCase
