"""One segment of a table: its values files (one per shard) and its keys file, and the raw file I/O.

The byte layout is in :mod:`offchain.store.format`. A segment is *active* (appended to, its keys file
grows at each flush) until it is *sealed* (a seal closes its keys file); after that its files are only
read, through read-only ``mmap`` s, until garbage collection deletes them whole.

:func:`write_all`, :func:`pwrite_all`, :func:`sync` and :func:`truncate` are the only functions that
change file contents or sizes after creation: tests replace them to inject a full disk or an I/O error.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Sequence
from pathlib import Path

from offchain.store import format as fmt

IOV_MAX = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)
HUGE_PAGE = 2 << 20  # the PMD size of x86-64 and arm64 (4 KiB pages): what one huge-page fault maps


def write_all(fd: int, buffers: Sequence[bytes | memoryview]) -> None:
    """Write ``buffers`` (bytes or byte-format views) in order at the file position of ``fd`` with
    ``writev`` (no copy), finishing any short write."""
    for i in range(0, len(buffers), IOV_MAX):
        chunk = buffers[i : i + IOV_MAX]
        done = os.writev(fd, chunk)
        if done < sum(map(len, chunk)):
            _finish(chunk, done, lambda views, _: os.writev(fd, views), 0)


def pwrite_all(fd: int, buffers: Sequence[bytes | memoryview], offset: int) -> None:
    """Write ``buffers`` in order at ``offset`` with ``pwritev`` (no copy, the file position untouched,
    so threads may write different ranges of one file at once), finishing any short write."""
    for i in range(0, len(buffers), IOV_MAX):
        chunk = buffers[i : i + IOV_MAX]
        size = sum(map(len, chunk))
        done = os.pwritev(fd, chunk, offset)
        if done < size:
            _finish(chunk, done, lambda views, at: os.pwritev(fd, views, at), offset)
        offset += size


def _finish(buffers: Sequence[bytes | memoryview], done: int, write, offset: int) -> None:
    """Write what a short write left of ``buffers`` (after their first ``done`` bytes) with
    ``write(views, file_offset)``; ``offset`` is where ``buffers`` start in the file."""
    views = [memoryview(b).cast("B") for b in buffers]
    at = offset
    i = 0
    while i < len(views):
        at += done
        while done and i < len(views):
            if done >= len(views[i]):
                done -= len(views[i])
                i += 1
            else:
                views[i] = views[i][done:]
                done = 0
        if i < len(views):
            done = write(views[i:], at)


def sync(fd: int) -> None:
    """Make the data (and size) of ``fd`` durable."""
    os.fdatasync(fd)


def truncate(fd: int, size: int) -> None:
    """Cut the file of ``fd`` back to ``size`` bytes and move its position there."""
    os.ftruncate(fd, size)
    os.lseek(fd, size, os.SEEK_SET)


def sync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (new or removed files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """Files and in-memory summary of segment ``sid`` of a table whose shard ``s`` lives in ``dirs[s]``."""

    def __init__(self, dirs: Sequence[Path], sid: int) -> None:
        self.id = sid
        self.dirs = list(dirs)
        self.shards = len(dirs)
        self.values_paths = [d / f"{sid:08d}-{s}.values" for s, d in enumerate(dirs)]
        self.keys_path = dirs[0] / f"{sid:08d}.keys"
        self.keys: list[bytes] = []
        self.sealed = False
        self.newest_ms = 0
        self.value_bytes = 0
        self.ends = [fmt.FILE_HEADER_SIZE] * self.shards  # end of the records in each values file
        self.keys_end = fmt.FILE_HEADER_SIZE
        self.maps: list[mmap.mmap | None] = [None] * self.shards
        self.views: list[memoryview | None] = [None] * self.shards
        self.readers: list[ReadFile | None] = [None] * self.shards
        self.index_lag = 0  # value bytes whose keys-file entries are written but not yet fsynced
        self.entries_crc = 0  # CRC-32 of the entries in the keys file (the seal records it)
        self.fds: list[int] | None = None  # values files, open for appending (active segment only)
        self.keys_fd: int | None = None
        self.pending: list[bytes] = []  # keys-file entries not yet written
        self.dirty: set[int] = set()  # shards written since the last sync

    # ---- creation and opening -------------------------------------------------------------------

    def create(self) -> None:
        """Create the segment's files with their headers, durably and all-or-nothing.

        Each file is written as ``NAME.new``, fsynced and renamed; the values files first, then (after
        their directories are synced) the keys file. A keys file therefore implies valid values files;
        values files without a keys file are the remains of a crash here (removed at the next open).
        """
        fds = []
        try:
            for s, path in enumerate(self.values_paths):
                fds.append(_create(path, fmt.file_header(fmt.VALUES_MAGIC, s, self.id)))
            for d in set(self.dirs):
                sync_dir(d)
            self.keys_fd = _create(self.keys_path, fmt.file_header(fmt.KEYS_MAGIC, self.shards, self.id))
            sync_dir(self.dirs[0])
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self.fds = fds

    def open_for_append(self) -> None:
        """Open the files of a recovered active segment for appending at ``ends`` / ``keys_end``."""
        self.fds = []
        for s, path in enumerate(self.values_paths):
            fd = os.open(path, os.O_WRONLY)
            self.fds.append(fd)
            truncate(fd, self.ends[s])
        self.keys_fd = os.open(self.keys_path, os.O_WRONLY)
        truncate(self.keys_fd, self.keys_end)

    def close_files(self) -> None:
        """Close the append descriptors (the read-only maps stay until dropped)."""
        for fd in self.fds or ():
            os.close(fd)
        if self.keys_fd is not None:
            os.close(self.keys_fd)
        self.fds, self.keys_fd = None, None

    # ---- reading --------------------------------------------------------------------------------

    def mapping(self, shard: int, need: int, huge: bool = False) -> mmap.mmap:
        """A read-only map of values file ``shard`` at least ``need`` bytes long (remapped as the file grows).

        Raises ``FileNotFoundError`` when the segment was deleted meanwhile. A map is never closed
        explicitly: memoryviews handed out keep it alive after the segment drops it. Maps are advised
        ``MADV_RANDOM`` (no read-around: reads are by key, at random); with ``huge`` also
        ``MADV_HUGEPAGE`` (a fault that misses the page cache reads the aligned 2 MiB around it into one
        huge page, mapped by one page-table entry).
        """
        mm = self.maps[shard]
        if mm is None or len(mm) < need:
            with open(self.values_paths[shard], "rb") as f:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            advise(mm, "MADV_RANDOM")
            if huge:
                advise(mm, "MADV_HUGEPAGE")
            self.maps[shard] = mm
            self.views[shard] = memoryview(mm)
        return mm

    def view(self, shard: int, need: int, huge: bool = False) -> memoryview:
        """A memoryview of :meth:`mapping` (slicing it hands out values without a copy)."""
        view = self.views[shard]
        if view is None or len(view) < need:
            self.mapping(shard, need, huge)
            view = self.views[shard]
            assert view is not None
        return view

    def reader(self, shard: int) -> ReadFile:
        """A read-only descriptor of values file ``shard`` (for ``pread``: values copied by the kernel,
        nothing mapped). Raises ``FileNotFoundError`` when the segment was deleted meanwhile."""
        rf = self.readers[shard]
        if rf is None:
            rf = self.readers[shard] = ReadFile(self.values_paths[shard])
        return rf

    def prefetch(self, shard: int, offset: int, length: int) -> None:
        """Ask the kernel to read ``length`` bytes at ``offset`` ahead (large values, one request)."""
        mm = self.maps[shard]
        start = offset - offset % mmap.PAGESIZE
        if mm is not None:
            advise(mm, "MADV_WILLNEED", start, min(len(mm), offset + length) - start)

    def trim(self) -> None:
        """Drop this process's mapped pages (they stay in the page cache) to bound resident memory."""
        for mm in self.maps:
            if mm is not None:
                advise(mm, "MADV_DONTNEED")

    def drop_maps(self) -> None:
        """Forget the maps (closed once no memoryview uses them)."""
        self.maps = [None] * self.shards
        self.views = [None] * self.shards
        self.readers = [None] * self.shards

    def file_bytes(self) -> int:
        """Bytes of the segment's files on disk (as far as this process wrote or recovered them)."""
        return sum(self.ends) + self.keys_end

    def unlink(self) -> None:
        """Delete the segment's files: values first, the keys file last."""
        self.close_files()
        self.drop_maps()
        for path in [*self.values_paths, self.keys_path]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        for d in set(self.dirs):
            sync_dir(d)


class ReadFile:
    """A read-only descriptor of a values file, closed when its last reference goes: a reader in the
    middle of a ``pread`` holds one, so expiry dropping the segment never closes (or lets the number be
    reused for another file) under it. Advised ``POSIX_FADV_RANDOM``: a read that misses the page cache
    fetches the bytes asked for, no read-ahead (reads are by key, at random, as the maps'
    ``MADV_RANDOM``)."""

    __slots__ = ("fd",)

    def __init__(self, path: Path) -> None:
        self.fd = -1
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_RANDOM)

    def __del__(self, _close=os.close) -> None:
        if self.fd >= 0:
            _close(self.fd)
            self.fd = -1


def advise(mm: mmap.mmap, name: str, *span: int) -> None:
    """``madvise`` where the platform has it (a hint: never required for correctness; ``EINVAL``, an
    advice this kernel does not support, such as ``MADV_HUGEPAGE`` without transparent huge pages, is
    ignored)."""
    option = getattr(mmap, name, None)
    if option is not None and hasattr(mm, "madvise"):
        try:
            mm.madvise(option, *span)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise


def _create(path: Path, header: bytes) -> int:
    """Create ``path`` through ``path.new`` holding ``header`` (fsynced, then renamed); the descriptor
    is left open at the end of the file. The directory is not synced here."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, [header])
        sync(fd)
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        os.rename(tmp, path)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return fd
