"""Opening a table: its segments' keys files are indexed, the active segment is recovered after a crash.

Sealed segments contribute their keys files only: one whose seal's CRC of all its entries holds and
whose keys have one length is read as numpy columns (:func:`offchain.store.format.parse_sealed`; numpy is
imported only then, so a store without sealed segments never loads it); any other is parsed entry by
entry, and a damaged one is rebuilt by scanning its values files (the records are self-describing), with
a :class:`CorruptIndexError` recorded. The active (last, unsealed) segment's
keys file is read up to its first bad entry (a torn tail), then its values files are scanned from the
end of the last indexed record: every complete record whose CRCs hold is indexed, the file is cut at
the first that does not, and the recovered entries are written and fsynced before the open returns.

The keymap maps each key to one int: segment and shard above bit 64, the value's offset (below 128 GiB
per file) and length in the low 64 bits (:func:`pack`).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable

from offchain.store import errors as E
from offchain.store import format as fmt
from offchain.store import segment as seg_io
from offchain.store.segment import Segment

LEN_BITS = 27
OFFSET_BITS = 37  # value offsets below 128 GiB per values file; with LEN_BITS, the low 64 bits of a location
SHARD_BITS = 8
MAX_FILE_BYTES = 1 << OFFSET_BITS
LEN_MASK = (1 << LEN_BITS) - 1
OFFSET_MASK = (1 << OFFSET_BITS) - 1


def pack(sid: int, shard: int, value_at: int, value_len: int) -> int:
    """The keymap's location of a value: segment, shard, offset and length of the value in one int."""
    return ((((sid << SHARD_BITS) | shard) << OFFSET_BITS | value_at) << LEN_BITS) | value_len


def unpack(loc: int) -> tuple[int, int, int, int]:
    """Inverse of :func:`pack`: ``(segment, shard, value offset, value length)``."""
    value_len = loc & LEN_MASK
    loc >>= LEN_BITS
    value_at = loc & OFFSET_MASK
    loc >>= OFFSET_BITS
    return loc >> SHARD_BITS, loc & 0xFF, value_at, value_len


class Recovery:
    """The opening half of :class:`offchain.store.table.Table` (a mixin: it reads and fills the table's
    ``dirs``, ``readonly``, ``ttl_s``, ``problems``, ``_keymap``, ``_segments`` and ``_active``)."""

    def _load(self) -> None:
        """Load every segment's index; recover the active one; start a new one if needed."""
        ids = sorted(int(p.name[:8]) for p in self.dirs[0].glob("*.keys") if p.name[:8].isdigit())
        if not self.readonly:
            self._remove_orphans(ids[-1] if ids else -1)
        for sid in ids:
            self._load_segment(sid, last=sid == ids[-1])
        if not self.readonly and (self._active is None):
            self._new_segment(ids[-1] + 1 if ids else 0)

    def _remove_orphans(self, last: int) -> None:
        """Delete values files of a segment after ``last`` and half-made ``.new`` files (a crash while
        creating a segment, before its keys file)."""
        for d in self.dirs:
            for path in d.glob("*.new"):
                path.unlink()
            for path in d.glob("*.values"):
                if path.name[:8].isdigit() and int(path.name[:8]) > last:
                    path.unlink()

    def _load_segment(self, sid: int, last: bool) -> None:
        """Index segment ``sid`` from its keys file (rebuilding it from the values files if damaged)."""
        seg = Segment(self.dirs, sid)
        try:
            data = seg.keys_path.read_bytes()
        except FileNotFoundError:  # deleted by a concurrent GC (read-only opens)
            return
        if not self._values_files_ok(seg):
            return
        columns = fmt.parse_sealed(data, seg.shards)
        if columns is not None and self._index_columns(seg, columns):
            seg.keys_end, seg.sealed = len(data), True
            self._segments[sid] = seg
            return
        entries, seal, end, err = self._parse_keys(seg, data)
        seg.keys_end = end
        if seal is not None:
            self._index(seg, entries)
            seg.sealed, seg.newest_ms = True, max(seg.newest_ms, seal.newest_ms)
        elif last:
            seg.entries_crc = zlib.crc32(data[fmt.FILE_HEADER_SIZE : end])
            self._recover_active(seg, entries)
        else:
            self.problems.append(
                E.CorruptIndexError(
                    str(seg.keys_path),
                    err.offset if err else end,
                    err.reason if err else "segment not sealed",
                )
            )
            self._index(seg, entries)
            self._rebuild(seg)
            seg.sealed = True
        self._segments[sid] = seg

    def _values_files_ok(self, seg: Segment) -> bool:
        """Whether every values file of ``seg`` exists with a valid header; else a problem is recorded
        (or, for an expired segment whose deletion a crash interrupted, the deletion is finished)."""
        for s, path in enumerate(seg.values_paths):
            try:
                with open(path, "rb") as f:
                    shard, sid = fmt.parse_file_header(f.read(fmt.FILE_HEADER_SIZE), fmt.VALUES_MAGIC)
                if (shard, sid) != (s, seg.id):
                    raise fmt.RecordFormatError(0, f"header names shard {shard} segment {sid}")
            except FileNotFoundError:
                if not seg.keys_path.exists():  # collected by the writer meanwhile (read-only opens)
                    return False
                if self._expired_remains(seg):
                    return False
                self.problems.append(E.CorruptSegmentError(str(path), None, "values file missing"))
                return False
            except fmt.RecordFormatError as exc:
                self.problems.append(E.CorruptSegmentError(str(path), exc.offset, exc.reason))
                return False
        return True

    def _expired_remains(self, seg: Segment) -> bool:
        """Whether ``seg`` is a sealed, expired segment whose collection was cut short (then finish it)."""
        _, seal, _, _ = self._parse_keys(seg, seg.keys_path.read_bytes())
        if seal is None or not self.ttl_s or seal.newest_ms + self.ttl_s * 1000 > self._now_ms():
            return False
        if not self.readonly:
            seg.unlink()
        return True

    def _parse_keys(
        self, seg: Segment, data: bytes
    ) -> tuple[list[fmt.Entry], fmt.Seal | None, int, fmt.RecordFormatError | None]:
        """Parse a keys file; a bad header gives no entries and the error."""
        try:
            shards, sid = fmt.parse_file_header(data, fmt.KEYS_MAGIC)
            if (shards, sid) != (seg.shards, seg.id):
                raise fmt.RecordFormatError(0, f"header names {shards} shards, segment {sid}")
        except fmt.RecordFormatError as exc:
            return [], None, fmt.FILE_HEADER_SIZE, exc
        return fmt.parse_keys(data, seg.shards)

    def _index(self, seg: Segment, entries: Iterable[fmt.Entry]) -> None:
        """Add ``entries`` of ``seg`` to the keymap and the segment's summary."""
        keymap, keys, head = self._keymap, seg.keys, fmt.RECORD_HEAD_SIZE
        base = (seg.id << SHARD_BITS) << OFFSET_BITS
        ends, value_bytes, newest = seg.ends, 0, seg.newest_ms
        for key, shard, offset, value_len, time_ms in entries:
            value_at = offset + head + len(key)
            if key in keymap or value_at + value_len >= MAX_FILE_BYTES:
                continue
            keymap[key] = (
                (base | shard << OFFSET_BITS | value_at) << LEN_BITS
            ) | value_len  # pack(), inlined
            keys.append(key)
            value_bytes += value_len
            if time_ms > newest:
                newest = time_ms
            if value_at + value_len > ends[shard]:
                ends[shard] = value_at + value_len
        seg.value_bytes += value_bytes
        seg.newest_ms = newest

    def _index_columns(self, seg: Segment, cols: fmt.Columns) -> bool:
        """Add a sealed segment's entries read as columns (the fast path); ``False`` (nothing added) when
        they need the entry-by-entry path (a key seen before, an offset out of range)."""
        import numpy as np  # loaded by parse_sealed already (the columns are numpy arrays)

        value_at = cols.offset + np.uint64(fmt.RECORD_HEAD_SIZE + len(cols.keys[0]))
        value_end = value_at + cols.value_len
        if int(value_end.max()) >= MAX_FILE_BYTES or not self._keymap.keys().isdisjoint(cols.keys):
            return False
        low = ((value_at << np.uint64(LEN_BITS)) | cols.value_len).tolist()
        base = [((seg.id << SHARD_BITS) | s) << (OFFSET_BITS + LEN_BITS) for s in range(seg.shards)]
        if seg.shards == 1:
            locs = [base[0] | x for x in low]
        else:
            locs = [base[s] | x for s, x in zip(cols.shard.tolist(), low, strict=True)]
        self._keymap.update(zip(cols.keys, locs, strict=True))
        seg.keys.extend(cols.keys)
        for s in range(seg.shards):
            mine = value_end[cols.shard == s]
            if mine.size:
                seg.ends[s] = int(mine.max())
        seg.value_bytes += int(cols.value_len.sum())
        seg.newest_ms = max(seg.newest_ms, cols.seal.newest_ms)
        return True

    def _scan(self, seg: Segment, shard: int, start: int, time_ms: int) -> tuple[list[fmt.Entry], int]:
        """Complete, checksummed records of values file ``shard`` from ``start``; and where they stop."""
        try:
            mm = seg.mapping(shard, 0)
        except (FileNotFoundError, ValueError):
            return [], start
        found, at, limit = [], start, len(mm)
        view = memoryview(mm)
        seg_io.advise(mm, "MADV_SEQUENTIAL")
        if start > limit:
            self.problems.append(
                E.CorruptValueError(
                    str(seg.values_paths[shard]), limit, "file shorter than its indexed records"
                )
            )
            return [], limit
        while at < limit:
            try:
                key, value_at, value_len = fmt.parse_record_head(mm, at, limit)
                fmt.check_value(mm, at, view[value_at : value_at + value_len])
            except fmt.RecordFormatError:
                break
            found.append(fmt.Entry(key, shard, at, value_len, time_ms))
            at = value_at + value_len
        return found, at

    def _recover_active(self, seg: Segment, entries: list[fmt.Entry]) -> None:
        """Index the active segment: its keys-file prefix, then its values files' unindexed tail."""
        self._index(seg, entries)
        now = self._now_ms()
        recovered = []
        for s in range(seg.shards):
            found, stop = self._scan(seg, s, seg.ends[s], now)
            recovered += found
            seg.ends[s] = stop
        self._index(seg, recovered)
        self._active = seg
        if self.readonly:
            return
        seg.drop_maps()
        seg.open_for_append()
        seg.pending = [fmt.entry_bytes(e) for e in recovered]
        seg.dirty = set(range(seg.shards))
        self._flush_segment(seg, sync_index=True)

    def _rebuild(self, seg: Segment) -> None:
        """Index the records of a segment with a damaged keys file by scanning its values files."""
        mtime = max(int(os.stat(p).st_mtime * 1000) for p in seg.values_paths)
        for s in range(seg.shards):
            found, stop = self._scan(seg, s, fmt.FILE_HEADER_SIZE, mtime)
            self._index(seg, found)
            size = len(seg.mapping(s, 0))
            if stop < size:
                self.problems.append(
                    E.CorruptValueError(
                        str(seg.values_paths[s]),
                        stop,
                        "unreadable record; the keys after it in this file are lost",
                    )
                )
        seg.newest_ms = max(seg.newest_ms, mtime)
