"""Typed errors of the storage engine, all deriving from :class:`offchain.errors.StoreError`.

Errors about a file carry its path (``.path``) and, where known, the byte offset (``.offset``) so an
operator can find the damage; the message names both.
"""

from __future__ import annotations

from offchain.errors import StoreError


class StoreInputError(StoreError):
    """Bad argument: a key or value too large or of the wrong type, a bad table name."""


class StoreClosedError(StoreError):
    """The store or table was closed (or failed and must be reopened)."""


class StoreLockedError(StoreError):
    """Another process holds the store's lock."""


class KeyExistsError(StoreError):
    """The key was already written: values are written once."""


class StoreFullError(StoreError):
    """The disk is full (or a file-size limit was reached); the write was rolled back."""


class StoreIOError(StoreError):
    """An I/O error the table cannot roll back from (e.g. a failed fsync); reopen the store."""


class CorruptionError(StoreError):
    """A file of the store fails its checks; ``path`` names it and ``offset`` locates the damage (raised
    as such for the JSON metadata files; the subclasses below for segment files)."""

    def __init__(self, path: str, offset: int | None, reason: str) -> None:
        where = f"{path}" if offset is None else f"{path} at byte {offset}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class CorruptIndexError(CorruptionError):
    """A keys (index) file is damaged; its segment's keys are rebuilt from the values files."""


class CorruptValueError(CorruptionError):
    """A value record is damaged (bad header or checksum)."""


class CorruptSegmentError(CorruptionError):
    """A segment file is missing or has a bad file header; its keys are unavailable."""


# Internal: what the record parsers raise; the table turns it into a Corrupt*Error naming the file.
class RecordFormatError(ValueError):
    """A byte string that does not parse; ``offset`` is where parsing stopped."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
