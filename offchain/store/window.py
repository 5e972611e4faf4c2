"""The map window: large values kept mapped between reads, their mapped bytes bounded, least recently used
evicted.

A warm read of a large value costs what the kernel's copy costs; a copy out of pages still mapped into
the process is the cheapest there is (it is what LMDB's warm reads do), a copy by ``preadv`` or out of a
map whose pages must be mapped again costs 2x to 3x as much out of the 4 KiB page-cache folios an exact
read leaves (docs/store.md, *Figures*). The window keeps the maps of the values read more than once, each
value its own read-only map of the pages of its record, so that fault-around never maps past it: the
bytes of the window's maps bound the resident memory they may hold. Each map is
``offset``-aligned to a page and covers the record's head, key and value.

Admission on the second read: a value read once is only remembered (its location, in a bounded set);
read again while remembered, it is mapped and kept. A one-off read (the sparse reads of a data set larger
than memory) therefore costs no map, no eviction, and displaces nothing.

Eviction unmaps a map (``munmap``) when no view of it is held; a map some caller still holds a view of
(a value :meth:`Window.view` or ``get`` handed out) cannot be unmapped under that view: its pages are
dropped (``MADV_DONTNEED``: the view stays valid, a later access maps the same bytes again from the
file, which is never rewritten) and the map goes with the last view. A view therefore pins its map, not
the window's memory: what a caller touches through a view it keeps is its own.
"""

from __future__ import annotations

import mmap
import threading
from collections import OrderedDict
from typing import Any

from offchain.store.segment import advise

SEEN_MAX = 4096  # locations remembered as read once (about 100 bytes each)


class Window:
    """Maps of single values, keyed by location (an int; ``segment_of(location)`` names the segment),
    their bytes (whole pages) at most ``limit``; thread-safe (one lock, held for the bookkeeping only,
    never across a system call that reads the disk)."""

    def __init__(self, limit: int, segment_of: Any) -> None:
        self.limit = limit
        self._segment_of = segment_of
        self._maps: OrderedDict[int, tuple[mmap.mmap, int, int]] = OrderedDict()  # loc -> map, start, len
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()
        self.mapped = 0  # bytes of the maps held (whole pages): never above ``limit``
        self.peak = 0
        self.hits = 0
        self.admitted = 0
        self.evicted = 0
        self.pinned = 0  # evictions that found a view held (pages dropped, the map left to its views)

    def view(self, loc: int) -> memoryview | None:
        """The value at ``loc`` as a read-only view of its kept map (which it pins), or ``None``."""
        with self._lock:
            entry = self._maps.get(loc)
            if entry is None:
                return None
            self._maps.move_to_end(loc)
            self.hits += 1
            mm, start, length = entry
            return memoryview(mm)[start : start + length]  # made under the lock: the map cannot close first

    def admit(self, loc: int) -> bool:
        """Whether the value at ``loc``, missing from the window, should be mapped into it now: it was
        read once before (and is remembered); otherwise it is remembered, and ``False``."""
        with self._lock:
            if self._seen.pop(loc, 0) is None:
                return True
            self._seen[loc] = None
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            return False

    def insert(self, loc: int, mm: mmap.mmap, start: int, length: int, live: Any = None) -> memoryview:
        """Keep ``mm`` (the value at ``loc`` is ``mm[start : start + length]``), evicting the least
        recently used maps until it fits; a view of the value. A map larger than ``limit``, one already
        there (another reader's), or one whose segment ``live()`` says is gone is not kept: the view
        returned is then the only owner of the map (unmapped when it goes)."""
        size = _pages(len(mm))
        with self._lock:
            keep = size <= self.limit and loc not in self._maps and (live is None or live())
            if keep:
                while self.mapped + size > self.limit:
                    self._release(self._maps.popitem(last=False)[1][0])
                    self.evicted += 1
                self._maps[loc] = (mm, start, length)
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
                self._release(self._maps.pop(loc)[0])
            for loc in [loc for loc in self._seen if segment_of(loc) == sid]:
                del self._seen[loc]

    def clear(self) -> None:
        """Forget every map (the table closes)."""
        with self._lock:
            while self._maps:
                self._release(self._maps.popitem()[1][0])
            self._seen.clear()

    def _release(self, mm: mmap.mmap) -> None:
        """Stop counting ``mm`` (lock held): unmap it, or, while a view holds it, drop its pages."""
        self.mapped -= _pages(len(mm))
        try:
            mm.close()
        except BufferError:  # a view is held: it stays valid (the pages come back from the file if read)
            self.pinned += 1
            advise(mm, "MADV_DONTNEED")

    def stats(self) -> dict[str, int]:
        """The window's bound and what it holds: bytes mapped now and at most, maps, hits, admissions,
        evictions (and those that found a view held)."""
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
