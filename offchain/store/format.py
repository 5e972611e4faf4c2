"""On-disk byte layout of the store's files; strict, fail-closed parsing. All integers big-endian.

A table's data lives in numbered *segments*. Segment ``N`` of a table with ``S`` shards is the files
``<path_s>/<table>/<N:08d>-<s>.values`` (one per shard ``s``; shard ``s`` lives on the ``s``-th path of
the store) and ``<path_0>/<table>/<N:08d>.keys``.

File header (16 bytes, both kinds)::

    magic     4 B   b"ESTV" (values file) or b"ESTK" (keys file)
    version   u16   1
    shard     u16   values file: its shard index; keys file: the shard count
    segment   u32   N
    crc       u32   CRC-32 of the 12 bytes above

Values file: the header, then *records*, appended and never rewritten::

    key_len   u16   1 .. MAX_KEY
    flags     u16   0
    value_len u32   0 .. MAX_VALUE
    value_crc u32   CRC-32 of the value
    head_crc  u32   CRC-32 of the 12 bytes above followed by the key
    key       key_len bytes
    value     value_len bytes

Keys file (the segment's index): the header, then *entries*, one per record, written by ``flush`` only
after the values they point to are on disk (fsync), and finally, once the segment is full, a *seal*::

    entry: type u8 = 1, shard u8, key_len u16, value_len u32, offset u64 (of the record in its
           values file), time_ms u64 (when it was put), key, crc u32 (CRC-32 of all of the entry before it)
    seal:  type u8 = 2, 3 zero bytes, count u32, value_bytes u64, newest_ms u64,
           entries_crc u32 (CRC-32 of every entry: the bytes from the file header to the seal),
           crc u32 (CRC-32 of the 28 bytes before it)

A sealed keys file whose entries_crc holds and whose keys all have one length is read as a fixed-size
array (numpy, imported then: a store that has no sealed segment never loads it) without per-entry checks;
any other file is parsed entry by entry.

Every length is bounded before it is used; a short read, a bad magic, version, type, length or CRC is
reported with the offset where parsing stopped, never skipped.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, NamedTuple

from offchain.store.errors import RecordFormatError

if TYPE_CHECKING:
    import numpy as np

MAX_KEY = 1024
MAX_VALUE = 64 << 20
VERSION = 1
VALUES_MAGIC = b"ESTV"
KEYS_MAGIC = b"ESTK"

FILE_HEADER = struct.Struct(">4sHHI")  # + u32 crc
FILE_HEADER_SIZE = FILE_HEADER.size + 4
RECORD_HEAD = struct.Struct(">HHII")  # key_len, flags, value_len, value_crc; + u32 head_crc
RECORD_HEAD_SIZE = RECORD_HEAD.size + 4
ENTRY = struct.Struct(">BBHIQQ")  # type, shard, key_len, value_len, offset, time_ms
SEAL = struct.Struct(">B3xIQQI")  # type, count, value_bytes, newest_ms, entries_crc
SEAL_SIZE = SEAL.size + 4
CRC = struct.Struct(">I")
TYPE_ENTRY = 1
TYPE_SEAL = 2


class Entry(NamedTuple):
    """One key of a keys file: where its record is and when it was put."""

    key: bytes
    shard: int
    offset: int
    value_len: int
    time_ms: int

    @property
    def record_size(self) -> int:
        """Bytes of the record in the values file (head, key and value)."""
        return RECORD_HEAD_SIZE + len(self.key) + self.value_len


class Seal(NamedTuple):
    """The footer of a full segment's keys file."""

    count: int
    value_bytes: int
    newest_ms: int
    entries_crc: int = 0


class Columns(NamedTuple):
    """The entries of a sealed keys file as columns (the fast path of :func:`parse_sealed`)."""

    keys: list[bytes]
    shard: np.ndarray
    offset: np.ndarray
    value_len: np.ndarray
    seal: Seal


def file_header(magic: bytes, shard: int, segment: int) -> bytes:
    """The 16-byte header of a values or keys file."""
    head = FILE_HEADER.pack(magic, VERSION, shard, segment)
    return head + CRC.pack(zlib.crc32(head))


def parse_file_header(data: bytes | memoryview, magic: bytes) -> tuple[int, int]:
    """``(shard, segment)`` of a file header; :class:`RecordFormatError` unless it is exactly valid."""
    if len(data) < FILE_HEADER_SIZE:
        raise RecordFormatError(0, f"file shorter than its {FILE_HEADER_SIZE}-byte header")
    got_magic, version, shard, segment = FILE_HEADER.unpack_from(data, 0)
    if CRC.unpack_from(data, FILE_HEADER.size)[0] != zlib.crc32(bytes(data[: FILE_HEADER.size])):
        raise RecordFormatError(0, "file header checksum mismatch")
    if got_magic != magic or version != VERSION:
        raise RecordFormatError(
            0, f"file header magic {got_magic!r} version {version}, expected {magic!r} version {VERSION}"
        )
    return shard, segment


def record_head(key: bytes, value: bytes | memoryview) -> bytes:
    """Head and key of the record that stores ``value`` under ``key``."""
    head = RECORD_HEAD.pack(len(key), 0, len(value), zlib.crc32(value))
    return head + CRC.pack(zlib.crc32(key, zlib.crc32(head))) + key


def parse_record_head(data: bytes | memoryview, offset: int, limit: int) -> tuple[bytes, int, int]:
    """``(key, value_offset, value_len)`` of the record at ``offset`` (the data ends at ``limit``).

    Checks the lengths, the head checksum and that the whole record fits before ``limit``; the value
    checksum is checked by :func:`check_value`.
    """
    if offset + RECORD_HEAD_SIZE > limit:
        raise RecordFormatError(offset, "truncated record head")
    key_len, flags, value_len, _ = RECORD_HEAD.unpack_from(data, offset)
    if not 1 <= key_len <= MAX_KEY or flags or value_len > MAX_VALUE:
        raise RecordFormatError(
            offset, f"bad record head (key_len {key_len}, flags {flags}, value_len {value_len})"
        )
    key_at = offset + RECORD_HEAD_SIZE
    value_at = key_at + key_len
    if value_at + value_len > limit:
        raise RecordFormatError(offset, "truncated record")
    key = bytes(data[key_at:value_at])
    want = zlib.crc32(key, zlib.crc32(data[offset : offset + RECORD_HEAD.size]))
    if CRC.unpack_from(data, offset + RECORD_HEAD.size)[0] != want:
        raise RecordFormatError(offset, "record head checksum mismatch")
    return key, value_at, value_len


def value_crc(data: bytes | memoryview, offset: int) -> int:
    """The value checksum stored in the record head at ``offset``."""
    return RECORD_HEAD.unpack_from(data, offset)[3]


def check_value(data: bytes | memoryview, offset: int, value: memoryview) -> None:
    """:class:`RecordFormatError` unless ``value`` matches the checksum of the record at ``offset``."""
    if zlib.crc32(value) != value_crc(data, offset):
        raise RecordFormatError(offset, "value checksum mismatch")


def entry_bytes(entry: Entry) -> bytes:
    """A keys-file entry."""
    return entry_raw(entry.key, entry.shard, entry.offset, entry.value_len, entry.time_ms)


def entry_raw(key: bytes, shard: int, offset: int, value_len: int, time_ms: int) -> bytes:
    """A keys-file entry from its fields (the write path's form of :func:`entry_bytes`)."""
    body = ENTRY.pack(TYPE_ENTRY, shard, len(key), value_len, offset, time_ms) + key
    return body + CRC.pack(zlib.crc32(body))


def seal_bytes(seal: Seal) -> bytes:
    """A keys-file seal (``seal.entries_crc``: CRC-32 of the entries it closes)."""
    body = SEAL.pack(TYPE_SEAL, seal.count, seal.value_bytes, seal.newest_ms, seal.entries_crc)
    return body + CRC.pack(zlib.crc32(body))


def _read_seal(data: bytes) -> Seal | None:
    """The seal at the very end of ``data``, if one is there and its own CRC holds."""
    at = len(data) - SEAL_SIZE
    if at < FILE_HEADER_SIZE or data[at] != TYPE_SEAL:
        return None
    if CRC.unpack_from(data, at + SEAL.size)[0] != zlib.crc32(data[at : at + SEAL.size]):
        return None
    _, count, value_bytes, newest_ms, entries_crc = SEAL.unpack_from(data, at)
    return Seal(count, value_bytes, newest_ms, entries_crc)


def parse_sealed(data: bytes, shards: int) -> Columns | None:
    """The entries of a sealed keys file with one key length, as columns; ``None`` when the file is not
    such a file or fails any check (then :func:`parse_keys` parses it entry by entry and says where)."""
    seal = _read_seal(data)
    body = data[FILE_HEADER_SIZE : len(data) - SEAL_SIZE]
    if seal is None or seal.count == 0 or zlib.crc32(body) != seal.entries_crc:
        return None
    key_len = int.from_bytes(body[2:4], "big")
    size = ENTRY.size + key_len + 4
    if not 1 <= key_len <= MAX_KEY or len(body) != seal.count * size:
        return None
    import numpy as np  # here, not at the top: about 12 MiB of memory that only sealed segments need

    dtype = np.dtype(
        [
            ("type", "u1"),
            ("shard", "u1"),
            ("key_len", ">u2"),
            ("value_len", ">u4"),
            ("offset", ">u8"),
            ("time_ms", ">u8"),
            ("key", f"V{key_len}"),
            ("crc", ">u4"),
        ]
    )
    rows = np.frombuffer(body, dtype=dtype)
    if (
        (rows["type"] != TYPE_ENTRY).any()
        or (rows["key_len"] != key_len).any()
        or (rows["shard"] >= shards).any()
        or (rows["value_len"] > MAX_VALUE).any()
    ):
        return None
    keys = rows["key"].tolist()
    return Columns(
        keys, rows["shard"], rows["offset"].astype(np.uint64), rows["value_len"].astype(np.uint64), seal
    )


def parse_keys(data: bytes, shards: int) -> tuple[list[Entry], Seal | None, int, RecordFormatError | None]:
    """Entries and seal of a keys file (after its header), the end of the valid prefix, and the error
    that stopped parsing early (``None`` when the whole file parsed).

    Parsing stops at the first bad entry: the valid prefix is kept, nothing after it is trusted. A seal
    must be the last thing in the file and count exactly the entries before it.
    """
    entries: list[Entry] = []
    at = FILE_HEADER_SIZE
    end = len(data)
    unpack, crc, head = ENTRY.unpack_from, zlib.crc32, ENTRY.size
    while at < end:
        kind = data[at]
        if kind == TYPE_SEAL:
            seal = _read_seal(data)
            if seal is None or at + SEAL_SIZE != end:
                return entries, None, at, RecordFormatError(at, "bad or misplaced seal")
            if seal.count != len(entries) or seal.entries_crc != crc(data[FILE_HEADER_SIZE:at]):
                return entries, None, at, RecordFormatError(at, "seal does not match the entries")
            return entries, seal, end, None
        if kind != TYPE_ENTRY or at + head > end:
            return entries, None, at, RecordFormatError(at, f"bad or truncated entry (type {kind})")
        _, shard, key_len, value_len, offset, time_ms = unpack(data, at)
        stop = at + head + key_len
        if not 1 <= key_len <= MAX_KEY or value_len > MAX_VALUE or shard >= shards or stop + 4 > end:
            return entries, None, at, RecordFormatError(at, "bad or truncated entry")
        if int.from_bytes(data[stop : stop + 4], "big") != crc(data[at:stop]):
            return entries, None, at, RecordFormatError(at, "entry checksum mismatch")
        entries.append(Entry(data[at + head : stop], shard, offset, value_len, time_ms))
        at = stop + 4
    return entries, None, at, None
