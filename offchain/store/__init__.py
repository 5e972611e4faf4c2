"""An embedded key-value store for write-once values that expire whole (the DA validators' chunks).

``Store(path)`` -> ``store.table(name, ttl_s=...)`` -> ``put_batch`` / ``put``, ``read_into`` (a copy into
your buffer, one ``preadv``), ``get`` (a read-only
``memoryview`` into the file, no copy), ``exists``, ``flush`` (durable when it returns), ``gc`` (drops
whole expired segments), ``stats``, ``verify``. Append-only segment files, an in-memory key index
rebuilt at open from compact keys files, sharding over several directories, a flock against a second
writer. Design, byte layout and crash model: docs/store.md and the module docstrings of
:mod:`offchain.store.format`, :mod:`offchain.store.table`, :mod:`offchain.store.recovery` and
:mod:`offchain.store.db`.
"""

from offchain.store.db import Store
from offchain.store.errors import (
    CorruptIndexError,
    CorruptionError,
    CorruptSegmentError,
    CorruptValueError,
    KeyExistsError,
    StoreClosedError,
    StoreError,
    StoreFullError,
    StoreInputError,
    StoreIOError,
    StoreLockedError,
)
from offchain.store.format import MAX_KEY, MAX_VALUE
from offchain.store.table import Table

__all__ = [
    "MAX_KEY",
    "MAX_VALUE",
    "CorruptIndexError",
    "CorruptSegmentError",
    "CorruptValueError",
    "CorruptionError",
    "KeyExistsError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreFullError",
    "StoreIOError",
    "StoreInputError",
    "StoreLockedError",
    "Table",
]
