"""A full disk: the write fails with StoreFullError and the store stays consistent (injected ENOSPC, and a
real file-size limit in a child process)."""

import errno
import os

import pytest

from offchain.store import Store, StoreClosedError, StoreFullError, StoreIOError
from offchain.store import segment as seg_io
from tests.offchain.store.support import child, key_of, value_of


def _disk_with_room(monkeypatch, room):
    """Make every write after ``room`` more bytes fail with ENOSPC (after writing what fits)."""
    left = [room]

    def limited(real):
        def write(fd, buffers, *offset):
            size = sum(len(b) for b in buffers)
            if size > left[0]:
                data = b"".join(bytes(b) for b in buffers)[: left[0]]
                left[0] = 0
                real(fd, [data], *offset)
                raise OSError(errno.ENOSPC, "No space left on device")
            left[0] -= size
            real(fd, buffers, *offset)

        return write

    monkeypatch.setattr(seg_io, "write_all", limited(seg_io.write_all))
    monkeypatch.setattr(seg_io, "pwrite_all", limited(seg_io.pwrite_all))
    return left


def test_full_disk_rolls_back_the_batch(tmp_path, monkeypatch):
    store = Store(tmp_path)
    table = store.table("t")
    table.put_batch([(key_of(i), value_of(i, 3000)) for i in range(5)])
    table.flush()
    left = _disk_with_room(monkeypatch, 10_000)
    with pytest.raises(StoreFullError, match="disk full"):
        table.put_batch([(key_of(i), value_of(i, 3000)) for i in range(5, 10)])
    assert table.key_count() == 5 and not table.exists(key_of(5))
    assert table.read_into(key_of(5), bytearray(3000)) is None and key_of(5) not in table._cache  # not cached
    size = (tmp_path / "t" / "00000000-0.values").stat().st_size
    assert size == 16 + 5 * (16 + 32 + 3000)  # the partial batch was cut off
    left[0] = 1 << 30  # room again
    table.put_batch([(key_of(i), value_of(i, 3000)) for i in range(5, 10)])
    table.flush()
    store.abandon()
    with Store(tmp_path) as store:
        table = store.table("t")
        assert [bytes(table.get(key_of(i))) for i in range(10)] == [value_of(i, 3000) for i in range(10)]


def test_full_disk_in_a_batch_of_large_values_written_on_two_threads(tmp_path, monkeypatch):
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put(b"first", b"kept")
        _disk_with_room(monkeypatch, 300_000)
        with pytest.raises(StoreFullError):
            table.put_batch([(key_of(i), value_of(i, 200_000)) for i in range(8)])
        assert table.key_count() == 1
        assert (tmp_path / "t" / "00000000-0.values").stat().st_size == 16 + 16 + 5 + 4
        monkeypatch.undo()
        table.put_batch([(key_of(i), value_of(i, 200_000)) for i in range(8)])
    with Store(tmp_path) as store:
        table = store.table("t")
        assert [bytes(table.get(key_of(i))) for i in range(8)] == [value_of(i, 200_000) for i in range(8)]


def test_full_disk_while_writing_the_index_keeps_values_and_retries(tmp_path, monkeypatch):
    store = Store(tmp_path)
    table = store.table("t")
    table.put_batch([(key_of(i), value_of(i, 100)) for i in range(50)])
    left = _disk_with_room(monkeypatch, 0)
    with pytest.raises(StoreFullError, match="index"):
        table.flush()
    assert bytes(table.get(key_of(7))) == value_of(7, 100)
    left[0] = 1 << 30
    table.flush()
    store.abandon()
    with Store(tmp_path) as store:
        assert store.table("t").key_count() == 50


def test_failed_fsync_fails_the_table_until_reopened(tmp_path, monkeypatch):
    store = Store(tmp_path)
    table = store.table("t")
    table.put(b"k", b"v")

    def broken(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(seg_io, "sync", broken)
    with pytest.raises(StoreIOError):
        table.flush()
    with pytest.raises(StoreClosedError, match="reopen"):
        table.put(b"j", b"v")
    monkeypatch.undo()
    store.abandon()
    with Store(tmp_path) as store:
        assert bytes(store.table("t").get(b"k")) == b"v"  # the record itself was whole


def test_file_size_limit_in_a_child_process(tmp_path):
    proc = child("fill", str(tmp_path), str(200_000))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.split()
    assert "full" in lines and lines[-1] == "small"
    acked = max(int(x) for x in lines if x.isdigit())
    with Store(tmp_path) as store:
        table = store.table("t")
        for i in range(acked):
            assert bytes(table.get(key_of(i))) == value_of(i, 3000)
        assert bytes(table.get(b"small")) == b"fits" and not table.problems
        assert all(os.path.getsize(p) <= 200_000 for p in (tmp_path / "t").iterdir())


def test_short_writes_are_finished(tmp_path, monkeypatch):
    real = os.pwritev
    most = [7]

    def dribble_at(fd, buffers, at):  # the kernel may write less than asked: at most `most` bytes here
        data = b"".join(bytes(b) for b in buffers)[: most[0]]
        return real(fd, [data], at)

    with Store(tmp_path) as store:
        table = store.table("t")
        monkeypatch.setattr(seg_io.os, "pwritev", lambda fd, buffers, at: dribble_at(fd, buffers, at))
        table.put_batch([(key_of(i), value_of(i, 100)) for i in range(3)])
        most[0] = 65_521
        table.put_batch([(key_of(i), value_of(i, 300_000)) for i in range(3, 7)])  # two threads
        monkeypatch.undo()
        table.flush()
    with Store(tmp_path) as store:
        table = store.table("t")
        assert [bytes(table.get(key_of(i))) for i in range(3)] == [value_of(i, 100) for i in range(3)]
        assert [bytes(table.get(key_of(i))) for i in range(3, 7)] == [
            value_of(i, 300_000) for i in range(3, 7)
        ]
