"""A store: named tables sharded over one or more directories (volumes), locked against a second writer.

Layout: the first path (the *primary*) holds ``LOCK`` (an ``fcntl.flock`` held by the writing process)
and ``store.json`` (``{"version": 1, "id": HEX, "paths": [...]}``, the absolute path of every shard
directory, in shard order); every other path holds ``store.json`` (``{"version": 1, "id": HEX,
"shard": s}``) so a store is never opened over the wrong volumes. Table ``T`` keeps shard ``s`` in
``<path_s>/T/`` (file layout in :mod:`offchain.store.format` and :mod:`offchain.store.table`).

Read-only opens take no lock: they see the tables as of the moment each is opened.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offchain.store import errors as E
from offchain.store.segment import sync_dir
from offchain.store.table import Table, write_json_atomic

META = "store.json"
LOCK = "LOCK"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class Store:
    """Open (or create) the store at ``paths`` (one directory, or the list of shard directories).

    Reopening needs only the primary path. ``readonly`` opens without the lock and never writes.
    ``table_options`` are the defaults passed to every :class:`Table` (``segment_bytes``,
    ``cache_bytes``, ``verify_reads``, ``map_window``, ``huge_maps``, ``window_bytes``, ``clock``).
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        readonly: bool = False,
        **table_options: Any,
    ) -> None:
        given = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
        if not given:
            raise E.StoreInputError("a store needs at least one path")
        self.readonly = readonly
        self.table_options = table_options
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._closed = False
        primary = given[0].resolve()
        if not readonly:
            if not primary.exists():
                primary.mkdir(parents=True)
                sync_dir(primary.parent)
            self._take_lock(primary)
        try:
            self.paths = self._load_meta(primary, given)
        except BaseException:
            self._release_lock()
            raise

    # ---- paths and lock --------------------------------------------------------------------------

    def _take_lock(self, primary: Path) -> None:
        """Hold ``LOCK`` exclusively, or :class:`StoreLockedError`."""
        fd = os.open(primary / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise E.StoreLockedError(f"{primary} is open by another process ({exc.strerror})") from exc
        self._lock_fd = fd

    def _release_lock(self) -> None:
        """Give the lock back (closing its descriptor releases the flock)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _load_meta(self, primary: Path, given: list[Path]) -> list[Path]:
        """The store's shard paths from ``store.json`` (written on creation), checked against ``given``."""
        meta_path = primary / META
        if not meta_path.exists():
            if self.readonly:
                raise E.StoreInputError(f"no store at {primary}")
            return self._create(primary, given)
        meta = _read_json(meta_path)
        paths = [Path(p) for p in meta.get("paths", [])]
        if not paths or meta.get("version") != 1 or "id" not in meta:
            raise E.CorruptionError(str(meta_path), None, "bad store metadata")
        if len(given) > 1 and [p.resolve() for p in given] != paths:
            raise E.StoreInputError(f"the store at {primary} has paths {[str(p) for p in paths]}")
        for s, path in enumerate(paths[1:], start=1):
            other = _read_json(path / META)
            if other.get("id") != meta["id"] or other.get("shard") != s:
                raise E.StoreInputError(f"{path} is not shard {s} of the store at {primary}")
        return paths

    def _create(self, primary: Path, given: list[Path]) -> list[Path]:
        """Write the metadata of a new store (the other paths first, the primary's last)."""
        paths = [primary] + [p.resolve() for p in given[1:]]
        if len(set(paths)) != len(paths):
            raise E.StoreInputError("the paths of a store must be distinct")
        ident = uuid.uuid4().hex
        for s, path in enumerate(paths[1:], start=1):
            if not path.exists():
                path.mkdir(parents=True)
                sync_dir(path.parent)
            write_json_atomic(path / META, {"version": 1, "id": ident, "shard": s})
        write_json_atomic(primary / META, {"version": 1, "id": ident, "paths": [str(p) for p in paths]})
        return paths

    # ---- tables ----------------------------------------------------------------------------------

    def table(self, name: str, **options: Any) -> Table:
        """Table ``name``, created if absent (not when read-only); ``options`` override the store's defaults
        (``ttl_s`` is stored with the table)."""
        if not isinstance(name, str) or not NAME.fullmatch(name) or name in (META, LOCK):
            raise E.StoreInputError(f"bad table name {name!r} (letters, digits, '_', '.', '-'; 1 to 64)")
        with self._lock:
            if self._closed:
                raise E.StoreClosedError("store is closed")
            table = self._tables.get(name)
            if table is None:
                dirs = [p / name for p in self.paths]
                table = Table(name, dirs, readonly=self.readonly, **{**self.table_options, **options})
                self._tables[name] = table
            return table

    def table_names(self) -> list[str]:
        """Names of the tables on disk."""
        return sorted(p.parent.name for p in self.paths[0].glob("*/table.json"))

    def stats(self) -> dict[str, Any]:
        """Per-table statistics and totals."""
        tables = {name: self.table(name).stats() for name in self.table_names()}
        return {
            "paths": [str(p) for p in self.paths],
            "tables": tables,
            "keys": sum(t["keys"] for t in tables.values()),
            "disk_bytes": sum(t["disk_bytes"] for t in tables.values()),
        }

    def flush(self) -> None:
        """Flush every open table."""
        for table in list(self._tables.values()):
            table.flush()

    def close(self) -> None:
        """Flush and close every table, then release the lock. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                for table in self._tables.values():
                    table.close()
            finally:
                self._release_lock()

    def abandon(self) -> None:
        """Drop everything not flushed and release the lock, as a crash would (tests and drills)."""
        with self._lock:
            self._closed = True
            for table in self._tables.values():
                table.abandon()
            self._release_lock()

    def __enter__(self) -> Store:
        """The store itself; leaving the block closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store (flushing every table)."""
        self.close()


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or :class:`CorruptionError` naming it."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise E.CorruptionError(str(path), None, f"unreadable store metadata: {exc}") from exc
    if not isinstance(data, dict):
        raise E.CorruptionError(str(path), None, "store metadata is not an object")
    return data
