"""A table: keys to write-once values, in append-only segments, expired whole by TTL.

Files (layout in :mod:`offchain.store.format`): ``<path_0>/<table>/table.json`` (``{"version": 1,
"shards": S, "ttl_s": T}``, replaced atomically), and the segments' ``.keys`` and ``.values`` files.

Write path: ``put`` appends each record (head, key, value) to the values file of the least-filled shard
with ``writev`` (the caller's buffer is written as is, no copy) and indexes it in memory; ``flush``
fsyncs the values files written since the last flush (in parallel, one thread per shard) and returns:
the self-describing, checksummed records are the durable log. Only then are the keys-file entries of
those records appended, so an entry on disk always points at a durable record; the keys file, a
checkpoint of the index, is fsynced every ``INDEX_SYNC_BYTES`` of values and at every seal and close,
which bounds what a recovery must scan. A segment whose values reach ``segment_bytes`` is flushed,
sealed and replaced by a new one.

Open and crash recovery are in :mod:`offchain.store.recovery` (the keys files are read, never the
values, except the unflushed tail of the active segment): open time follows the number of keys and the
unflushed tail, not the bytes stored.

Reads return a read-only ``memoryview`` into an ``mmap`` of the values file (no copy), located by the
in-memory keymap (key -> one int: segment, shard, value offset and length); with ``verify`` the record's
head, key and CRC are checked too. Values of 64 KiB or more read more than once are kept mapped in the
map window (:mod:`offchain.store.window`, bounded by ``window_bytes``), out of which ``get`` and
``read_into`` serve them. Garbage collection deletes whole segments, oldest first, once their
newest value is older than the TTL.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from offchain import settings
from offchain.store import errors as E
from offchain.store import format as fmt
from offchain.store import segment as seg_io
from offchain.store.recovery import (
    LEN_BITS,
    LEN_MASK,
    MAX_FILE_BYTES,
    OFFSET_BITS,
    OFFSET_MASK,
    SHARD_BITS,
    Recovery,
    unpack,
)
from offchain.store.segment import HUGE_PAGE, Segment
from offchain.store.window import MISSED, Window, map_record

SEGMENT_BYTES = 1 << 30
MAP_WINDOW = 16 << 20
CACHE_BYTES = 16 << 20  # the default LRU of small values: what a read of one costs is mostly fixed cost
CACHE_ENTRY_BYTES = 200  # what an entry costs beside its value (the key, the objects, the LRU's links)
CACHE_VALUE_MAX = (64 << 10) - 1  # values cached: those below 64 KiB (at most an eighth of the cache)
INDEX_SYNC_BYTES = 64 << 20
PREFETCH_BYTES = 64 << 10
# large values remembered as requested from the disk (map_window=None: there is no trim to forget them)
PREFETCHED_MAX = 4096
PARALLEL_BYTES = 1 << 20
FAULT_AROUND_SHIFT = 16  # Linux maps up to 64 KiB (fault_around_bytes) of cached pages around a read fault
HUGE_PAGE_SHIFT = HUGE_PAGE.bit_length() - 1  # one huge-page fault maps 2 MiB
_U32 = struct.Struct(">I")
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)  # preadv2's flag: read only what the page cache holds (Linux 4.14+)
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
CONFIG = "table.json"


def _write_run(fd: int, rows: list[tuple[bytes, Any, int, int, int]]) -> None:
    """Write consecutive planned records (head with the value's CRC, key, value) at their offset."""
    buffers: list[Any] = []
    for key, value, _, _, _ in rows:
        buffers += (fmt.record_head(key, value), value)
    seg_io.pwrite_all(fd, buffers, rows[0][4])


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON durably: temporary file, fsync, rename, fsync directory."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    seg_io.sync_dir(path.parent)


def check_key(key: Any) -> bytes:
    """``key`` as bytes; :class:`StoreInputError` unless it is 1 to ``MAX_KEY`` bytes."""
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise E.StoreInputError(f"key must be bytes, not {type(key).__name__}")
    key = bytes(key)
    if not 1 <= len(key) <= fmt.MAX_KEY:
        raise E.StoreInputError(f"key of {len(key)} bytes; keys are 1 to {fmt.MAX_KEY} bytes")
    return key


def check_value(value: Any) -> bytes | memoryview:
    """``value`` as a byte buffer; :class:`StoreInputError` unless it is at most ``MAX_VALUE`` bytes."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise E.StoreInputError(f"value must be bytes, not {type(value).__name__}")
    try:
        view = memoryview(value).cast("B") if not isinstance(value, bytes) else value
    except TypeError as exc:
        raise E.StoreInputError(f"value must be a contiguous byte buffer ({exc})") from None
    if len(view) > fmt.MAX_VALUE:
        raise E.StoreInputError(
            f"value of {len(view)} bytes; values are at most {fmt.MAX_VALUE} bytes (64 MiB)"
        )
    return view


def _segment_of(place: int) -> int:
    """The segment of a location without its length (segment, shard and value offset)."""
    return place >> (OFFSET_BITS + SHARD_BITS)


def _byte_view(buffer: Any) -> memoryview:
    """``buffer`` as a writable, contiguous memoryview of bytes; :class:`StoreInputError` otherwise."""
    try:
        out = memoryview(buffer)
        if out.format != "B" or out.ndim != 1 or not out.c_contiguous:
            out = out.cast("B")  # a TypeError unless contiguous
    except TypeError as exc:
        raise E.StoreInputError(f"buffer must be a contiguous byte buffer ({exc})") from None
    if out.readonly:
        raise E.StoreInputError("buffer is read-only")
    return out


class Table(Recovery):
    """One table of a store. Thread-safe: one writer at a time (internally locked), any number of readers.

    ``dirs[s]`` is the directory of shard ``s`` (one per path of the store). ``ttl_s`` (``None``: the
    stored value, default no expiry) is how long values live; ``segment_bytes`` the size at which a
    segment is sealed; ``cache_bytes`` a bound on an in-memory LRU of small values (under 64 KiB and an
    eighth of it; default 16 MiB, 0: off), filled when they are written and when read from the file;
    ``verify_reads`` checks each record's head, key and CRC on ``get`` (off by default: a recovery
    checks every unindexed record, ``verify`` and ``eigen store verify`` check them all); ``map_window``
    bounds the mapped pages kept resident between trims (``None``: never trim; warm reads of large values
    are then about twice as fast, and resident memory grows with the data read, as with LMDB);
    ``huge_maps`` maps the values files with ``MADV_HUGEPAGE``: a read that misses the page cache fetches
    the aligned 2 MiB around it as one huge page, mapped (again after each trim) by one fault, so warm
    reads of large values stay fast with trimming on, at the price of reading up to 2 MiB per cold miss
    and of counting whole 2 MiB pages against ``map_window`` (for tables of large values read more than
    once); ``window_bytes`` (``None``: ``EIGEN_STORE_WINDOW_MIB``, default 64 MiB; 0: off) bounds the
    maps of values of 64 KiB or more kept between reads (:mod:`offchain.store.window`: a value read twice
    is mapped and kept, the least recently used maps are unmapped beyond the bound), out of which warm
    reads copy; ``clock`` returns seconds (tests move time).
    """

    def __init__(
        self,
        name: str,
        dirs: Sequence[Path],
        *,
        readonly: bool = False,
        ttl_s: float | None = None,
        segment_bytes: int = SEGMENT_BYTES,
        cache_bytes: int = CACHE_BYTES,
        verify_reads: bool = False,
        map_window: int | None = MAP_WINDOW,
        huge_maps: bool = False,
        window_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.dirs = [Path(d) for d in dirs]
        self.readonly = readonly
        if not 0 < segment_bytes <= MAX_FILE_BYTES // 2:
            raise E.StoreInputError(f"segment_bytes must be 1 to {MAX_FILE_BYTES // 2}")
        self.segment_bytes = segment_bytes
        self.verify_reads = verify_reads
        self.map_window = map_window
        if not isinstance(huge_maps, bool):
            raise E.StoreInputError(f"huge_maps must be True or False, not {huge_maps!r}")
        self.huge_maps = huge_maps
        self.clock = clock
        self.problems: list[E.CorruptionError] = []
        self._keymap: dict[bytes, int] = {}
        self._segments: dict[int, Segment] = {}
        self._active: Segment | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._failed: BaseException | None = None
        self._mapped = 0
        self._touched: set[Segment] = set()  # segments read since the last trim
        self._blocks: set[int] = set()  # blocks counted against map_window since then
        self._prefetched: set[bytes] = set()  # large values whose pages were requested since then
        self._cache: OrderedDict[bytes, bytes | bytearray] = OrderedDict()
        if type(cache_bytes) is not int or cache_bytes < 0:
            raise E.StoreInputError(f"cache_bytes must be a whole number of bytes, not {cache_bytes!r}")
        self._cache_bytes = cache_bytes
        self._cache_max = min(cache_bytes // 8, CACHE_VALUE_MAX)  # the largest value cached (0: none)
        self._cache_used = 0
        self._cache_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._readers: dict[int, seg_io.ReadFile] = {}  # read_into's descriptors, by segment and shard
        if window_bytes is None:
            window_bytes = settings.store_window_bytes()
        if type(window_bytes) is not int or window_bytes < 0:
            raise E.StoreInputError(f"window_bytes must be a whole number of bytes, not {window_bytes!r}")
        # large values read more than once stay mapped (None: off), keyed by location (segment above bit 45)
        self._window = Window(window_bytes, _segment_of) if window_bytes else None
        self._nowait = True  # RWF_NOWAIT works on this file system (cleared at its first refusal)
        self.ttl_s = self._load_config(ttl_s)
        self._load()

    # ---- configuration ---------------------------------------------------------------------------

    def _load_config(self, ttl_s: float | None) -> float:
        """Read (or create) ``table.json``; returns the TTL in seconds (0: none)."""
        path = self.dirs[0] / CONFIG
        if path.exists():
            try:
                conf = json.loads(path.read_text())
                shards, stored_ttl = int(conf["shards"]), float(conf["ttl_s"])
                if conf["version"] != 1:
                    raise ValueError(f"version {conf['version']}")
            except (ValueError, KeyError, TypeError) as exc:
                raise E.CorruptionError(str(path), None, f"bad table config: {exc}") from exc
            if shards != len(self.dirs):
                raise E.StoreInputError(
                    f"table {self.name!r} has {shards} shards, the store {len(self.dirs)} paths"
                )
            if ttl_s is not None and ttl_s != stored_ttl and not self.readonly:
                write_json_atomic(path, {"version": 1, "shards": shards, "ttl_s": float(ttl_s)})
                return float(ttl_s)
            return stored_ttl
        if self.readonly:
            raise E.StoreInputError(f"no table {self.name!r} in {self.dirs[0].parent}")
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
            seg_io.sync_dir(d.parent)
        ttl = float(ttl_s or 0)
        write_json_atomic(path, {"version": 1, "shards": len(self.dirs), "ttl_s": ttl})
        return ttl

    def set_ttl(self, ttl_s: float) -> None:
        """Change (and persist) the TTL; 0 disables expiry."""
        with self._lock:
            self._check_writable()
            write_json_atomic(
                self.dirs[0] / CONFIG, {"version": 1, "shards": len(self.dirs), "ttl_s": float(ttl_s)}
            )
            self.ttl_s = float(ttl_s)

    # ---- state checks ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        """:class:`StoreClosedError` if the table is closed or failed."""
        if self._closed:
            raise E.StoreClosedError(f"table {self.name!r} is closed")
        if self._failed is not None:
            raise E.StoreClosedError(f"table {self.name!r} failed ({self._failed}); reopen the store")

    def _check_writable(self) -> None:
        """Also :class:`StoreInputError` for a read-only table."""
        self._check_open()
        if self.readonly:
            raise E.StoreInputError(f"table {self.name!r} is open read-only")

    def _now_ms(self) -> int:
        """The table clock's time in integer milliseconds."""
        return int(self.clock() * 1000)

    def _fail(self, exc: BaseException) -> E.StoreError:
        """Mark the table failed (it must be reopened) and return the error to raise."""
        self._failed = exc
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return E.StoreFullError(f"table {self.name!r}: {exc}; reopen the store")
        return E.StoreIOError(f"table {self.name!r}: {exc}; reopen the store")

    # ---- writing ---------------------------------------------------------------------------------

    def put(self, key: bytes, value: bytes | memoryview) -> None:
        """Write one value (see :meth:`put_batch`)."""
        self.put_batch([(key, value)])

    def put_batch(self, items: Iterable[tuple[bytes, bytes | memoryview]]) -> None:
        """Write several values (readable at once, durable after :meth:`flush`).

        All keys and values are checked first: a bad one, or a key already present, raises before
        anything is written. A full disk raises :class:`StoreFullError` with nothing of the batch kept.
        The caller must not change a buffer while the call runs.
        """
        batch = [(check_key(k), check_value(v)) for k, v in items]
        if not batch:
            return
        with self._lock:
            self._check_writable()
            self._check_new(batch)
            seg = self._active
            assert seg is not None
            plan = self._plan(seg, batch)
            self._append(seg, plan)
            now = self._now_ms()
            keymap, pending, entry = self._keymap, seg.pending, fmt.entry_raw
            base = (seg.id << SHARD_BITS) << OFFSET_BITS
            head = fmt.RECORD_HEAD_SIZE
            total = 0
            for key, _, value_len, shard, offset in plan:
                keymap[key] = (
                    (base | shard << OFFSET_BITS | offset + head + len(key)) << LEN_BITS
                ) | value_len
                pending.append(entry(key, shard, offset, value_len, now))
                total += value_len
            seg.keys.extend(key for key, *_ in plan)
            if self._cache_max:  # written through: just-written values are the likeliest to be read
                small = self._cache_max
                self._cache_put_many(
                    [(key, bytes(value)) for key, value, value_len, *_ in plan if value_len <= small]
                )
            seg.value_bytes += total
            seg.index_lag += total
            seg.newest_ms = max(seg.newest_ms, now)
            if seg.value_bytes >= self.segment_bytes:
                self._seal_and_roll(seg)

    def _check_new(self, batch: list[tuple[bytes, bytes | memoryview]]) -> None:
        """:class:`KeyExistsError` if a key of the batch is stored or repeated."""
        seen: set[bytes] = set()
        for key, _ in batch:
            if key in self._keymap or key in seen:
                raise E.KeyExistsError(f"key {key.hex()[:64]} already written (values are written once)")
            seen.add(key)

    def _plan(self, seg: Segment, batch: list[tuple[bytes, Any]]) -> list[tuple[bytes, Any, int, int, int]]:
        """``(key, value, value_len, shard, offset)`` of each record: each goes to the shard with the fewest
        bytes."""
        ends = list(seg.ends)
        plan = []
        head = fmt.RECORD_HEAD_SIZE
        shards = range(len(ends))
        for key, value in batch:
            shard = min(shards, key=ends.__getitem__) if len(ends) > 1 else 0
            value_len = len(value)
            plan.append((key, value, value_len, shard, ends[shard]))
            ends[shard] += head + len(key) + value_len
        if max(ends) >= MAX_FILE_BYTES:
            raise E.StoreInputError(f"batch too large: a values file would pass {MAX_FILE_BYTES} bytes")
        return plan

    def _append(self, seg: Segment, plan: list[tuple[bytes, Any, int, int, int]]) -> None:
        """Write the planned records; on an error cut every values file back and raise a typed error."""
        assert seg.fds is not None
        by_shard: dict[int, list[tuple[bytes, Any, int, int, int]]] = {}
        for row in plan:
            by_shard.setdefault(row[3], []).append(row)
        start = list(seg.ends)
        written = []
        try:
            for shard, rows in by_shard.items():
                written.append(shard)
                self._write_records(seg.fds[shard], rows)
                seg.dirty.add(shard)
                key, _, value_len, _, offset = rows[-1]
                seg.ends[shard] = offset + fmt.RECORD_HEAD_SIZE + len(key) + value_len
        except OSError as exc:
            self._roll_back(seg, written, start)
            if exc.errno in FULL_ERRNOS:
                raise E.StoreFullError(
                    f"table {self.name!r}: disk full ({exc}); the batch was not written"
                ) from exc
            raise E.StoreIOError(
                f"table {self.name!r}: write failed ({exc}); the batch was not written"
            ) from exc

    def _write_records(self, fd: int, rows: list[tuple[bytes, Any, int, int, int]]) -> None:
        """Checksum and write consecutive records at their planned offsets; a batch of large values in two
        halves on two threads (``zlib.crc32`` and ``pwritev`` release the GIL)."""
        total = sum(row[2] for row in rows)
        if len(rows) < 2 or total < PARALLEL_BYTES or total < len(rows) * PREFETCH_BYTES:
            _write_run(fd, rows)
            return
        half = len(rows) // 2
        second = self._executor().submit(_write_run, fd, rows[half:])
        try:
            _write_run(fd, rows[:half])
        finally:
            error = second.exception()
        if error is not None:
            raise error

    def _executor(self) -> ThreadPoolExecutor:
        """The table's worker threads (checksums, parallel fsyncs of the shards)."""
        if self._pool is None:
            workers = max(2, len(self.dirs))
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")
        return self._pool

    def _roll_back(self, seg: Segment, shards: list[int], start: list[int]) -> None:
        """Cut values files ``shards`` back to ``start`` (the table fails if even that is impossible)."""
        assert seg.fds is not None
        for shard in shards:
            try:
                seg_io.truncate(seg.fds[shard], start[shard])
                seg.ends[shard] = start[shard]
            except OSError as exc:
                raise self._fail(exc) from exc

    def flush(self) -> None:
        """Return once every value put before the call is durable (and its new files' directory entries)."""
        with self._lock:
            self._check_writable()
            if self._active is not None:
                self._flush_segment(self._active)

    def _flush_segment(self, seg: Segment, sync_index: bool = False) -> None:
        """Fsync the written values files (the records, checksummed, are the durable log), then append
        their keys-file entries; the keys file is fsynced once ``INDEX_SYNC_BYTES`` of values lag behind
        it (bounding the tail a recovery scans), or when ``sync_index``."""
        assert seg.fds is not None and seg.keys_fd is not None
        try:
            self._sync_shards(seg, sorted(seg.dirty))
            seg.dirty.clear()
        except OSError as exc:
            raise self._fail(exc) from exc
        if seg.pending:
            data = b"".join(seg.pending)
            try:
                seg_io.write_all(seg.keys_fd, [data])
            except OSError as exc:
                self._roll_back_keys(seg)
                if exc.errno in FULL_ERRNOS:
                    raise E.StoreFullError(
                        f"table {self.name!r}: disk full writing the index ({exc}); "
                        "the values are durable, flush again when there is room"
                    ) from exc
                raise self._fail(exc) from exc
            seg.keys_end += len(data)
            seg.entries_crc = zlib.crc32(data, seg.entries_crc)
            seg.pending.clear()
        if sync_index or seg.index_lag >= INDEX_SYNC_BYTES:
            try:
                seg_io.sync(seg.keys_fd)
            except OSError as exc:
                raise self._fail(exc) from exc
            seg.index_lag = 0

    def _roll_back_keys(self, seg: Segment) -> None:
        """Cut the keys file back to its last complete flush."""
        assert seg.keys_fd is not None
        try:
            seg_io.truncate(seg.keys_fd, seg.keys_end)
        except OSError as exc:
            raise self._fail(exc) from exc

    def _sync_shards(self, seg: Segment, shards: list[int]) -> None:
        """Fsync the values files of ``shards``, in parallel when there are several (one per volume)."""
        assert seg.fds is not None
        fds = [seg.fds[s] for s in shards]
        if len(fds) <= 1:
            for fd in fds:
                seg_io.sync(fd)
            return
        pool = self._executor()
        for future in [pool.submit(seg_io.sync, fd) for fd in fds]:
            future.result()

    def _seal(self, seg: Segment) -> None:
        """Flush ``seg``, close its keys file with a seal, and stop appending to it."""
        self._flush_segment(seg, sync_index=True)
        assert seg.keys_fd is not None
        data = fmt.seal_bytes(fmt.Seal(len(seg.keys), seg.value_bytes, seg.newest_ms, seg.entries_crc))
        try:
            seg_io.write_all(seg.keys_fd, [data])
            seg_io.sync(seg.keys_fd)
        except OSError as exc:
            raise self._fail(exc) from exc
        seg.keys_end += len(data)
        seg.sealed = True
        seg.close_files()

    def _seal_and_roll(self, seg: Segment) -> None:
        """Seal the active segment and start the next one."""
        self._seal(seg)
        self._active = None
        self._new_segment(seg.id + 1)

    def _new_segment(self, sid: int) -> None:
        """Create segment ``sid`` and make it the active one."""
        seg = Segment(self.dirs, sid)
        try:
            seg.create()
        except OSError as exc:
            for path in [*seg.values_paths, seg.keys_path]:
                path.unlink(missing_ok=True)
            raise self._fail(exc) from exc
        self._segments[sid] = seg
        self._active = seg

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, key: bytes, verify: bool | None = None) -> memoryview | bytes | None:
        """The value of ``key`` (a read-only view into the values file, no copy; for a small value in the
        cache, of its cached copy), or ``None`` if absent.

        ``verify`` (default: the table's ``verify_reads``) also checks the record's head, key and value
        checksum, raising :class:`CorruptValueError` naming the file when they do not hold.
        """
        if self._closed or self._failed is not None:
            self._check_open()
        if type(key) is not bytes:
            key = check_key(key)
        if self._cache_max and not (verify or (verify is None and self.verify_reads)):
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return memoryview(hit)  # read-only, as a view of the map
        loc = self._keymap.get(key)
        if loc is None:
            return None
        value_len = loc & LEN_MASK  # unpack(), inlined: this is the hot path
        place = loc >> LEN_BITS  # segment, shard and offset: one number per byte of the table
        window = self._window
        if (
            window is not None
            and value_len >= PREFETCH_BYTES
            and not self.huge_maps
            and not (verify or (verify is None and self.verify_reads))
        ):
            kept = window.view(place)
            if kept is None:
                reads = window.admit(place, value_len, timed=False)  # get's reads: counted, not timed
                if type(reads) is int:
                    kept = self._window_map(key, place, value_len, reads)
            if kept is not None:
                return kept  # pins its map: valid after an eviction, an expiry or a close
        value_at = place & OFFSET_MASK
        loc = place >> OFFSET_BITS
        seg = self._segments.get(loc >> SHARD_BITS)
        if seg is None:
            return None
        shard = loc & 0xFF
        end = value_at + value_len
        view = seg.views[shard]
        if view is None or len(view) < end:
            view = self._remap(seg, shard, end)
            if view is None:  # the segment was collected meanwhile
                return None
        if verify or (verify is None and self.verify_reads):
            self._check_record(seg, shard, value_at, value_len, key)
        if value_len >= PREFETCH_BYTES or self.huge_maps:
            self._map_large(seg, shard, place, value_len, key)
        elif (
            self.map_window is not None
        ):  # a small value: the hot path, a block already counted costs a lookup
            blocks = self._blocks
            last = place + value_len - 1 >> FAULT_AROUND_SHIFT
            if last not in blocks or place >> FAULT_AROUND_SHIFT not in blocks:
                self._count_blocks(seg, place >> FAULT_AROUND_SHIFT, last, FAULT_AROUND_SHIFT)
        value = view[value_at:end]
        if value_len <= self._cache_max:
            self._cache_put_many([(key, bytes(value))])
        return value

    def read_into(self, key: bytes, buffer: Any, verify: bool | None = None) -> int | None:
        """Copy the value of ``key`` into the start of ``buffer`` (a writable, contiguous buffer at least as
        long); its length, or ``None`` if absent. The serving path: one copy, by the kernel, and nothing
        mapped into the process (resident memory does not grow with the data read, no trim is needed).

        One ``preadv`` reads the record: its head and key into a small buffer, the value into ``buffer``;
        the head's key and value length are compared with the index on every read. With ``huge_maps`` the
        value is copied out of the huge-page map instead, as :meth:`get` hands it out. ``verify``
        (default: the table's ``verify_reads``) also checks the head and value checksums.
        :class:`CorruptValueError` names the file when a check fails or the file ends before the value;
        :class:`StoreInputError` for a buffer that is too short, read-only or not a byte buffer.
        """
        if self._closed or self._failed is not None:
            self._check_open()
        if type(key) is not bytes:
            key = check_key(key)
        loc = self._keymap.get(key)
        if loc is None:
            return None
        value_len = loc & LEN_MASK
        out = buffer if type(buffer) is bytearray else _byte_view(buffer)
        if len(out) < value_len:
            raise E.StoreInputError(f"buffer of {len(out)} bytes for a value of {value_len} bytes")
        checked = verify or (verify is None and self.verify_reads)
        if value_len <= self._cache_max and not checked:  # a small value: the cache first
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is not None:
                memoryview(out)[:value_len] = hit  # one copy (see below)
                return value_len
        if self.huge_maps:
            view = self.get(key, verify)
            if view is None:
                return None
            memoryview(out)[:value_len] = view
            return value_len
        place = loc >> LEN_BITS  # unpack(), inlined: this is the hot path
        window = self._window
        seen = None  # the value's [reads, cost] in the window, when this read's cost is to be added
        if window is not None and value_len >= PREFETCH_BYTES and not checked:
            started = window.clock()
            seen = window.admit(place, value_len, out=out)  # a hit: copied out of pages still mapped
            if seen is True:
                return value_len
            if type(seen) is int:
                kept = self._window_map(key, place, value_len, seen)
                if kept is not None:
                    # into a memoryview: a bytearray's slice assignment from any other object (a map, bytes)
                    # copies the value twice (CPython makes a bytearray of it first); a memoryview's, once
                    memoryview(out)[:value_len] = kept
                    window.measured(value_len, window.clock() - started)
                    return value_len
                seen = None
        reader = self._readers.get(place >> OFFSET_BITS)
        if reader is None:
            reader = self._reader(place >> OFFSET_BITS)
            if reader is None:  # the segment was collected meanwhile
                return None
        head_len = fmt.RECORD_HEAD_SIZE + len(key)
        at = (place & OFFSET_MASK) - head_len
        head = bytearray(head_len)  # one preadv: the head and key here, the value straight into the buffer
        if seen is None:
            got = os.preadv(reader.fd, [head, memoryview(out)[:value_len]], at)
        else:  # what the map window's admission weighs: a read from the disk, or a page-cache copy's time
            got = self._timed_read(reader.fd, head, memoryview(out)[:value_len], at, seen, started)
        if got != head_len + value_len or not head.endswith(key) or _U32.unpack_from(head, 4)[0] != value_len:
            self._read_failed(place, at, got, head_len + value_len)
        if checked:
            self._verify_read(place, at, head, head_len, memoryview(out)[:value_len])
        if value_len <= self._cache_max:  # a small value: a copy of it kept in the cache
            value = out[:value_len] if type(out) is bytearray else bytes(out[:value_len])
            with self._cache_lock:
                cache = self._cache
                if key not in cache:
                    cache[key] = value
                    self._cache_used += value_len + CACHE_ENTRY_BYTES
                    if self._cache_used > self._cache_bytes:
                        self._cache_evict()
        return value_len

    def _timed_read(
        self, fd: int, head: bytearray, value: memoryview, at: int, seen: list, started: int
    ) -> int:
        """``preadv`` of a large value outside the map window, its cost added to what its reads cost
        (``seen[1]``, :meth:`Window.admit`): first with ``RWF_NOWAIT`` (served only out of the page cache);
        if that would have waited for the disk, the read counts as a miss (``MISSED``: the value is
        admitted on its next read) and is done again, waiting (the pages the first try found are cached:
        nothing is read twice from the disk); else its time counts."""
        if _NOWAIT and self._nowait:
            try:
                got = os.preadv(fd, [head, value], at, _NOWAIT)
            except BlockingIOError:
                got = -1
            except OSError as e:  # not supported here (EOPNOTSUPP, EINVAL): time every read instead
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                self._nowait = False
                got = -2
            if got == len(head) + len(value):
                seen[1] += self._window.clock() - started  # type: ignore[union-attr]
                return got
            if got != -2:
                seen[1] = MISSED
                return os.preadv(fd, [head, value], at)
        got = os.preadv(fd, [head, value], at)
        seen[1] += self._window.clock() - started  # type: ignore[union-attr]
        return got

    def _reader(self, file_id: int) -> seg_io.ReadFile | None:
        """The descriptor of values file ``file_id`` (segment and shard, the high bits of a location),
        opened and kept in ``_readers`` (dropped when its segment is collected); ``None`` when the
        segment is gone. Holding the :class:`ReadFile` across a ``preadv`` keeps its number from being
        reused for another file."""
        seg = self._segments.get(file_id >> SHARD_BITS)
        if seg is None:
            return None
        shard = file_id & 0xFF
        try:
            reader = seg.readers[shard] or seg.reader(shard)
        except FileNotFoundError:
            return None
        self._readers[file_id] = reader
        if self._segments.get(file_id >> SHARD_BITS) is not seg or self._closed:
            self._readers.pop(file_id, None)  # collected or closed meanwhile: _delete or close dropped it
        return reader

    def _window_map(self, key: bytes, place: int, value_len: int, reads: int) -> memoryview | None:
        """Map the record of ``key`` at ``place`` (segment, shard, value offset) into the window; a view of
        its value, or ``None`` when its segment was collected meanwhile. The record's key and value length
        are compared with the index once, here (the file is never rewritten); a file too short for it
        raises :class:`CorruptValueError` (a map past the end of a file would fault on access)."""
        window = self._window
        assert window is not None
        file_id = place >> OFFSET_BITS
        reader = self._readers.get(file_id) or self._reader(file_id)
        if reader is None:
            return None
        value_at = place & OFFSET_MASK
        record_at = value_at - fmt.RECORD_HEAD_SIZE - len(key)
        size = os.fstat(reader.fd).st_size
        if size < value_at + value_len:
            raise E.CorruptValueError(self._values_path(place), size, "file shorter than the indexed value")
        mm, start = map_record(reader.fd, record_at, value_at, value_len)
        head_at = start - fmt.RECORD_HEAD_SIZE - len(key)
        if mm[start - len(key) : start] != key or _U32.unpack_from(mm, head_at + 4)[0] != value_len:
            mm.close()
            raise E.CorruptValueError(self._values_path(place), record_at, "record does not match the index")
        sid = file_id >> SHARD_BITS
        seg = self._segments.get(sid)
        return window.insert(
            place, mm, start, value_len, reads, lambda: self._segments.get(sid) is seg and not self._closed
        )

    def _values_path(self, place: int) -> str:
        """The values file holding the location ``place`` (its segment may be gone: then its expected name)."""
        file_id = place >> OFFSET_BITS
        seg = self._segments.get(file_id >> SHARD_BITS)
        if seg is not None:
            return str(seg.values_paths[file_id & 0xFF])
        return f"segment {file_id >> SHARD_BITS} shard {file_id & 0xFF} (collected)"

    def _read_failed(self, place: int, at: int, got: int, want: int) -> None:
        """:class:`CorruptValueError` for a ``preadv`` of ``read_into`` that came back short or found
        another record than the index names."""
        if got < want:
            raise E.CorruptValueError(
                self._values_path(place), at + got, "file shorter than the indexed value"
            )
        raise E.CorruptValueError(self._values_path(place), at, "record does not match the index")

    def _verify_read(self, place: int, at: int, head: Any, head_len: int, value: memoryview) -> None:
        """The head and value checksums of a record ``read_into`` read (``head``: its first ``head_len``
        bytes are its head and key; ``value``: its value)."""
        try:
            fmt.parse_record_head(head, 0, head_len + len(value))  # the head checksum
        except fmt.RecordFormatError as exc:
            raise E.CorruptValueError(self._values_path(place), at, exc.reason) from None
        if zlib.crc32(value) != fmt.value_crc(head, 0):
            raise E.CorruptValueError(self._values_path(place), at, "value checksum mismatch")

    def _remap(self, seg: Segment, shard: int, end: int) -> memoryview | None:
        """The view of values file ``shard`` of ``seg``, mapped again to reach ``end`` (the file grew);
        ``None`` when the segment was deleted meanwhile."""
        try:
            view = seg.view(shard, end, self.huge_maps)
        except FileNotFoundError:
            return None
        if len(view) < end:
            raise E.CorruptValueError(
                str(seg.values_paths[shard]), len(view), "file shorter than the indexed value"
            )
        return view

    def _map_large(self, seg: Segment, shard: int, place: int, value_len: int, key: bytes) -> None:
        """Before a large value (or any with ``huge_maps``) at ``place`` (segment, shard and offset) is handed
        out as a view: one read request for its pages rather than a fault each (with ``huge_maps`` none: a
        huge page's one fault reads its 2 MiB at once), and the blocks it maps counted. The request is sent
        once per value until the next trim (or ``PREFETCHED_MAX`` values): its pages are in the page cache
        meanwhile (just read, or still mapped), and asking again costs a walk of them (about 18 us for
        1 MiB)."""
        huge = self.huge_maps
        if not huge and key not in self._prefetched:
            seg.prefetch(shard, place & OFFSET_MASK, value_len)
            if len(self._prefetched) >= PREFETCHED_MAX:
                self._prefetched = set()
            self._prefetched.add(key)
        if self.map_window is not None:
            shift = HUGE_PAGE_SHIFT if huge else FAULT_AROUND_SHIFT
            self._count_blocks(seg, place >> shift, place + max(value_len, 1) - 1 >> shift, shift)

    def _count_blocks(self, seg: Segment, first: int, last: int, shift: int) -> None:
        """Count against ``map_window`` the blocks ``first`` .. ``last`` (of ``1 << shift`` bytes: what one
        fault maps, the cached pages of the 64 KiB block around it or a 2 MiB huge page) not yet counted
        since the last trim; trim once the window is full."""
        blocks = self._blocks
        new = 0
        for block in range(first, last + 1):
            if block not in blocks:
                blocks.add(block)
                new += 1
        self._touched.add(seg)
        self._mapped += new << shift
        if self._mapped > self.map_window:
            self._trim()

    def _check_record(self, seg: Segment, shard: int, value_at: int, value_len: int, key: bytes) -> None:
        """:class:`CorruptValueError` unless the record before ``value_at`` is ``key``'s, whole and intact."""
        offset = value_at - fmt.RECORD_HEAD_SIZE - len(key)
        mm = seg.mapping(shard, value_at + value_len, self.huge_maps)
        try:
            got, got_at, got_len = fmt.parse_record_head(mm, offset, len(mm))
            if (got, got_at, got_len) != (key, value_at, value_len):
                raise fmt.RecordFormatError(offset, "record does not match the index")
            fmt.check_value(mm, offset, memoryview(mm)[value_at : value_at + value_len])
        except fmt.RecordFormatError as exc:
            raise E.CorruptValueError(str(seg.values_paths[shard]), exc.offset, exc.reason) from None

    def _trim(self) -> None:
        """Release the mapped pages of the segments read since the last trim (resident memory stays bounded
        by ``map_window``; the cost follows the segments read, not the segments stored)."""
        self._mapped = 0
        self._blocks = set()
        self._prefetched = set()
        touched, self._touched = self._touched, set()
        for seg in touched:
            seg.trim()

    def _cache_put_many(self, items: list[tuple[bytes, bytes]]) -> None:
        """Insert several values into the LRU cache (newest last), evicting beyond ``cache_bytes`` (each entry
        counts its value's bytes and ``CACHE_ENTRY_BYTES``, so that tiny values do not escape the bound)."""
        if not items:
            return
        with self._cache_lock:
            cache = self._cache
            used = self._cache_used
            for key, value in items:
                if key not in cache:
                    cache[key] = value
                    used += len(value) + CACHE_ENTRY_BYTES
            while used > self._cache_bytes:
                used -= len(cache.popitem(last=False)[1]) + CACHE_ENTRY_BYTES
            self._cache_used = used

    def _cache_evict(self) -> None:
        """Drop the least recently used values until the cache is within ``cache_bytes`` (lock held)."""
        while self._cache_used > self._cache_bytes:
            self._cache_used -= len(self._cache.popitem(last=False)[1]) + CACHE_ENTRY_BYTES

    def exists(self, key: bytes) -> bool:
        """Whether ``key`` is stored (and not collected)."""
        self._check_open()
        loc = self._keymap.get(check_key(key))
        return loc is not None and unpack(loc)[0] in self._segments

    def keys(self) -> list[bytes]:
        """Every stored key (a snapshot)."""
        self._check_open()
        return list(self._keymap)

    # ---- expiry ----------------------------------------------------------------------------------

    def gc(self, now_s: float | None = None) -> dict[str, int]:
        """Delete, oldest first, the segments whose newest value is older than the TTL.

        The active segment is sealed first when everything in it has expired. Returns the counts of
        segments, keys and value bytes removed.
        """
        removed = {"segments": 0, "keys": 0, "value_bytes": 0}
        with self._lock:
            self._check_writable()
            if not self.ttl_s:
                return removed
            horizon = int((self.clock() if now_s is None else now_s) * 1000 - self.ttl_s * 1000)
            for sid in sorted(self._segments):
                seg = self._segments[sid]
                if (seg is self._active and not seg.keys) or seg.newest_ms > horizon:
                    break
                if seg is self._active:
                    self._seal_and_roll(seg)
                self._delete(seg)
                removed["segments"] += 1
                removed["keys"] += len(seg.keys)
                removed["value_bytes"] += seg.value_bytes
        return removed

    def _delete(self, seg: Segment) -> None:
        """Drop a sealed segment's keys from the keymap and cache, then its files."""
        for key in seg.keys:
            loc = self._keymap.get(key)
            if loc is not None and unpack(loc)[0] == seg.id:
                del self._keymap[key]
                self._prefetched.discard(key)  # the key may be written again, elsewhere
                with self._cache_lock:
                    if key in self._cache:
                        self._cache_used -= len(self._cache.pop(key)) + CACHE_ENTRY_BYTES
        del self._segments[seg.id]
        for shard in range(seg.shards):
            self._readers.pop(seg.id << SHARD_BITS | shard, None)
        if self._window is not None:
            self._window.drop_segment(seg.id)
        seg.unlink()

    # ---- metrics, checks, closing ----------------------------------------------------------------

    def key_count(self) -> int:
        """Number of stored keys."""
        return len(self._keymap)

    def size(self) -> int:
        """Bytes of the table's files on disk."""
        return sum(s.file_bytes() for s in list(self._segments.values()))

    def stats(self) -> dict[str, Any]:
        """Key count, sizes, segments, TTL and load problems."""
        segs = list(self._segments.values())
        return {
            "keys": self.key_count(),
            "value_bytes": sum(s.value_bytes for s in segs),
            "disk_bytes": self.size(),
            "segments": len(segs),
            "shards": len(self.dirs),
            "ttl_s": self.ttl_s,
            "oldest_ms": min((s.newest_ms for s in segs if s.keys), default=None),
            "problems": [str(p) for p in self.problems],
            "window": self._window.stats() if self._window is not None else None,
        }

    def verify(self) -> list[E.CorruptionError]:
        """Check every record against the index and its checksums; the load problems plus each damage found."""
        self._check_open()
        found: list[E.CorruptionError] = list(self.problems)
        for seg in list(self._segments.values()):
            for key in list(seg.keys):
                loc = self._keymap.get(key)
                if loc is None:
                    continue
                sid, shard, value_at, value_len = unpack(loc)
                try:
                    self._check_record(seg, shard, value_at, value_len, key)
                except E.CorruptionError as exc:
                    found.append(exc)
                except FileNotFoundError:
                    continue
        return found

    def close(self) -> None:
        """Flush (unless read-only or failed) and release the files. Idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                if not self.readonly and self._failed is None and self._active is not None:
                    self._flush_segment(self._active, sync_index=True)
            finally:
                self._closed = True
                self._readers.clear()
                if self._window is not None:
                    self._window.clear()
                for seg in self._segments.values():
                    seg.close_files()
                    seg.drop_maps()
                if self._pool is not None:
                    self._pool.shutdown()

    def abandon(self) -> None:
        """Close the files without flushing: what a crash leaves (for tests and crash drills)."""
        with self._lock:
            self._closed = True
            self._readers.clear()
            if self._window is not None:
                self._window.clear()
            for seg in self._segments.values():
                seg.pending.clear()
                seg.close_files()
                seg.drop_maps()
