"""The map window: large values kept mapped between reads, their mapped bytes bounded, least recently used
evicted.

A warm read of a large value costs what the kernel's copy costs; a copy out of pages still mapped into
the process is the cheapest there is (it is what LMDB's warm reads do), a copy by ``preadv`` or out of a
map whose pages must be mapped again costs 2x to 3x as much out of the 4 KiB page-cache folios an exact
read leaves (docs/store.md, *Figures*). The window keeps the maps of the values read more than once, each
value its own read-only map of the pages of its record, so that fault-around never maps past it: the
bytes of the window's maps bound the resident memory they may hold. Each map is
``offset``-aligned to a page and covers the record's head, key and value.

Admission by frequency (as TinyLFU's): a value read once is only remembered (its location and how often
it was read while outside the window, in a bounded set); read again while remembered, it is mapped and
kept if the window has room for it, or, once full, only if it was read more often than the least recently
used map there (the one an admission would evict). A one-off read (the sparse reads of a data set larger
than memory) therefore costs no map and displaces nothing, and a working set larger than the window does
not churn it (each newcomer evicting a value about to be read again, for a map, a fault per 64 KiB and an
unmap each time): the window keeps the values read most, and the others are read with ``preadv``. Every
``AGE_EVERY`` admissions considered, every count is halved, so values read often long ago give way.

Admission by cost (a ski rental): mapping a value costs more than one ``preadv`` of it (a map, its faults,
an unmap: about 2x a ``preadv`` of 64 KiB out of the page cache) and pays back only over the hits that
follow. So a value read again is admitted only once the reads it cost outside the window (charged by
the table: ``MISSED`` for a read that had to wait for the disk, which ``RWF_NOWAIT`` tells, else its time
by ``clock``) add up to ``ADMIT_SPEND`` times what its admission is estimated to cost: at once (its
second read) when its first read missed the page cache, after three or four reads (64 KiB) when its
reads are page-cache copies (which cost about what the map would save). A value that is only ever read twice from the page cache (a restart's reads, the reads
of values just written) then never pays a map. The estimate is a model (``ADMIT_FIXED_NS`` and
``ADMIT_PAGE_NS`` a page) scaled by the admissions measured (a moving average of their cost over the
model's), so that a machine or a load that slows every call slows both sides of the comparison. Reads
that are not timed (``get``'s, which hand out a map) count as costly: admitted on their second read.

Eviction unmaps a map (``munmap``) when no view of it is held; a map some caller still holds a view of
(a value :meth:`Window.view` or ``get`` handed out) cannot be unmapped under that view: its pages are
dropped (``MADV_DONTNEED``: the view stays valid, a later access maps the same bytes again from the
file, which is never rewritten) and the map goes with the last view. A view therefore pins its map, not
the window's memory: what a caller touches through a view it keeps is its own.
"""

from __future__ import annotations

import math
import mmap
import threading
import time
from collections import OrderedDict
from typing import Any

from offchain.store.segment import advise

SEEN_MAX = 4096  # locations remembered as read outside the window (about 100 bytes each)
AGE_EVERY = 8192  # admissions considered between two halvings of every count
# The modelled cost of admitting a value (map, advice, faults, the copy, the unmap), measured here: 17 to 20
# us for 64 KiB (17 pages), 163 to 194 us for 1 MiB (257 pages); a preadv of the same out of the page cache
# 9.6 to 15 us and 142 to 202 us, from the disk 73 to 95 us and 0.9 ms (docs/store.md).
ADMIT_FIXED_NS = 8_000
ADMIT_PAGE_NS = 650
ADMIT_SPEND = 2  # admitted once its reads outside the window cost this many (estimated) admissions
SCALE_MIN, SCALE_MAX = (
    0.25,
    8.0,
)  # bounds of the measured scale of the model (one stalled call moves it little)
MISSED = math.inf  # the cost charged for a read that missed the page cache (waited for the disk)
COST_CLOCK = time.perf_counter_ns  # the cost signal's clock (a module attribute: tests make it deterministic)


class Window:
    """Maps of single values, keyed by location (an int; ``segment_of(location)`` names the segment),
    their bytes (whole pages) at most ``limit``; thread-safe (one lock, held for the bookkeeping only,
    never across a system call that reads the disk)."""

    def __init__(self, limit: int, segment_of: Any, clock: Any = None) -> None:
        self.limit = limit
        self._segment_of = segment_of
        self.clock = clock or COST_CLOCK  # what times the reads outside the window and the admissions
        # loc -> [map, the value's view of it (made once, at admission), reads]
        self._maps: OrderedDict[int, list[Any]] = OrderedDict()
        # loc -> [reads outside the window, their cost (ns; math.inf: not timed)], oldest first read first
        self._seen: OrderedDict[int, list[Any]] = OrderedDict()
        self._scale = 1.0  # measured admissions over the model, a moving average
        self._spend: dict[int, float] = {}  # length -> what its reads must cost to be admitted (ns)
        self._considered = 0
        self._lock = threading.Lock()
        self.mapped = 0  # bytes of the maps held (whole pages): never above ``limit``
        self.peak = 0
        self.hits = 0
        self.admitted = 0
        self.evicted = 0
        self.pinned = 0  # evictions that found a view held (pages dropped, the map left to its views)
        self.deferred = 0  # reads again that were not admitted because their reads still cost less

    def view(self, loc: int) -> memoryview | None:
        """The value at ``loc`` as a read-only view of its kept map (which it pins), or ``None``."""
        with self._lock:
            entry = self._maps.get(loc)
            if entry is None:
                return None
            self._maps.move_to_end(loc)
            self.hits += 1
            entry[2] += 1
            return entry[1][:]  # a view of its own, made under the lock: the map cannot close first

    def admit(self, loc: int, length: int, timed: bool = True, out: Any = None) -> bool | int | list[Any]:
        """With ``out`` (a writable byte buffer at least ``length`` long; ``read_into``'s path, in one
        call): ``True`` when the window holds the value at ``loc`` and it was copied into the start of
        ``out`` (one copy, through a memoryview, under the lock: the map cannot be unmapped during it;
        under the GIL a copy holds off every other thread anyway).

        Else whether the value (``length`` bytes), missing from the window, should be mapped into
        it now: the reads it counts (with this one, an ``int``) if so; else this read is counted and the
        value's remembered ``[reads, cost]`` returned, to whose cost (``[1]``, ns) a ``timed`` read adds
        its own once done (an untimed one counts as costly). Admitted: read before while remembered, its
        reads outside the window cost ``ADMIT_SPEND`` estimated admissions, and the window has room or
        its least recently used map (what the insertion would evict first) was read less often.

        The bookkeeping of reads not admitted takes no lock (it is most reads outside the window: a lock,
        the count and the cost under it cost as much as a tenth of a ``preadv`` of 64 KiB): under the GIL
        each dict operation is atomic, and two threads reading one value at once may lose a count or a
        cost, which only delays its admission; the decision to admit, and every map, takes the lock."""
        if out is not None and loc in self._maps:  # a miss takes no lock: one dict lookup
            with self._lock:
                hit = self._maps.get(loc)
                if hit is not None:
                    self._maps.move_to_end(loc)
                    hit[2] += 1
                    self.hits += 1
                    view = hit[1]
                    memoryview(out)[: len(view)] = view
                    return True
        seen = self._seen
        entry = seen.get(loc)  # not moved to the end: the oldest first read is forgotten first
        self._considered += 1
        if entry is None:  # a first read (or one forgotten): remembered
            entry = seen[loc] = [1, 0 if timed else math.inf]
            if len(seen) > SEEN_MAX:
                try:
                    seen.popitem(last=False)
                except KeyError:  # emptied by another thread meanwhile
                    pass
        else:
            entry[0] += 1
            if not timed:
                entry[1] = math.inf
            spend = self._spend.get(length)
            if spend is None:
                spend = self._spend[length] = ADMIT_SPEND * self._estimate(length)
            if length <= self.limit:
                if entry[1] < spend:
                    self.deferred += 1
                else:
                    with self._lock:
                        if self.mapped + length + 2 * mmap.PAGESIZE <= self.limit or not self._maps:
                            seen.pop(loc, None)
                            return entry[0]
                        if entry[0] > next(iter(self._maps.values()))[2]:
                            seen.pop(loc, None)
                            return entry[0]
        if self._considered >= AGE_EVERY:
            with self._lock:
                if self._considered >= AGE_EVERY:
                    self._age()
        return entry

    def measured(self, length: int, cost_ns: int) -> None:
        """An admission of ``length`` bytes took ``cost_ns`` (its map, advice, faults and copy): move the
        model's scale an eighth of the way to it, the sample first brought within half and twice the scale
        (a call that lost its core for milliseconds moves it by an eighth at most, not to ``SCALE_MAX``),
        and the scale within ``SCALE_MIN`` .. ``SCALE_MAX``."""
        with self._lock:
            scale = self._scale
            ratio = cost_ns / (ADMIT_FIXED_NS + ADMIT_PAGE_NS * (_pages(length) // mmap.PAGESIZE + 1))
            ratio = min(2 * scale, max(scale / 2, ratio))
            self._scale = min(SCALE_MAX, max(SCALE_MIN, scale + (ratio - scale) / 8))
            self._spend = {}  # the thresholds by length, computed again from the new scale

    def _estimate(self, length: int) -> float:
        """What admitting ``length`` bytes is estimated to cost (ns)."""
        return self._scale * (ADMIT_FIXED_NS + ADMIT_PAGE_NS * (_pages(length) // mmap.PAGESIZE + 1))

    def _age(self) -> None:
        """Halve every count and cost (lock held), forgetting the locations whose count reaches 0 (from a
        snapshot: readers update the remembered reads without the lock)."""
        self._considered = 0
        for entry in self._maps.values():
            entry[2] //= 2
        self._seen = OrderedDict(
            (loc, [n // 2, spent / 2]) for loc, (n, spent) in list(self._seen.items()) if n > 1
        )

    def insert(
        self, loc: int, mm: mmap.mmap, start: int, length: int, reads: int = 2, live: Any = None
    ) -> memoryview:
        """Keep ``mm`` (the value at ``loc`` is ``mm[start : start + length]``, read ``reads`` times),
        evicting the least recently used maps until it fits; a view of the value. A map larger than
        ``limit``, one already there (another reader's), or one whose segment ``live()`` says is gone is
        not kept: the view returned is then the only owner of the map (unmapped when it goes)."""
        size = _pages(len(mm))
        with self._lock:
            keep = size <= self.limit and loc not in self._maps and (live is None or live())
            if keep:
                while self.mapped + size > self.limit:
                    self._release(self._maps.popitem(last=False)[1])
                    self.evicted += 1
                self._maps[loc] = [mm, memoryview(mm)[start : start + length], reads]
                self.mapped += size
                self.peak = max(self.peak, self.mapped)
                self.admitted += 1
            return memoryview(mm)[start : start + length]

    def drop_segment(self, sid: int) -> None:
        """Forget the maps and remembered reads of segment ``sid`` (expired): unmapped now unless a view
        holds one (the file's pages then live until that view goes)."""
        segment_of = self._segment_of
        with self._lock:
            for loc in [loc for loc in self._maps if segment_of(loc) == sid]:
                self._release(self._maps.pop(loc))
            for loc in [loc for loc in list(self._seen) if segment_of(loc) == sid]:
                self._seen.pop(loc, None)  # a snapshot, and pop: readers update it without the lock

    def clear(self) -> None:
        """Forget every map (the table closes)."""
        with self._lock:
            while self._maps:
                self._release(self._maps.popitem()[1])
            self._seen.clear()

    def _release(self, entry: list[Any]) -> None:
        """Stop counting the map of ``entry`` (lock held): unmap it, or, while a view handed out holds it,
        drop its pages."""
        mm = entry[0]
        entry[1].release()  # the window's own view (views handed out are their own, and pin the map)
        self.mapped -= _pages(len(mm))
        try:
            mm.close()
        except BufferError:  # a view is held: it stays valid (the pages come back from the file if read)
            self.pinned += 1
            advise(mm, "MADV_DONTNEED")

    def stats(self) -> dict[str, int]:
        """The window's bound and what it holds: bytes mapped now and at most, maps, hits, admissions,
        evictions (and those that found a view held), reads again not admitted for their cost, and what
        admitting a 64 KiB value is estimated to cost now (ns)."""
        with self._lock:
            return {
                "limit_bytes": self.limit,
                "mapped_bytes": self.mapped,
                "peak_bytes": self.peak,
                "maps": len(self._maps),
                "hits": self.hits,
                "admitted": self.admitted,
                "evicted": self.evicted,
                "evicted_pinned": self.pinned,
                "deferred": self.deferred,
                "admission_estimate_ns": round(self._estimate(1 << 16)),
            }


def _pages(length: int) -> int:
    """The bytes of the whole pages a map of ``length`` bytes spans (what it may make resident)."""
    return -(-length // mmap.PAGESIZE) * mmap.PAGESIZE


def map_record(fd: int, record_at: int, value_at: int, value_len: int) -> tuple[mmap.mmap, int]:
    """A read-only map of the pages of the record at ``record_at`` whose value is ``value_len`` bytes at
    ``value_at`` in file ``fd``; and where the value starts in it. Advised ``MADV_RANDOM`` (a fault that
    misses the page cache reads its page, no read-around) and ``MADV_WILLNEED`` over the value (one read
    request for the pages not cached, rather than a fault each)."""
    first = record_at - record_at % mmap.ALLOCATIONGRANULARITY
    mm = mmap.mmap(fd, value_at + value_len - first, access=mmap.ACCESS_READ, offset=first)
    advise(mm, "MADV_RANDOM")
    advise(mm, "MADV_WILLNEED")
    return mm, value_at - first
