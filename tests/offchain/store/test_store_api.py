"""The store's API: put/get/exists/flush, bad input, closed and locked stores, shards, TTL, cache, CLI."""

import errno
import json
import mmap
import os
import subprocess
import sys

import pytest

from offchain.cli import main
from offchain.store import (
    MAX_KEY,
    MAX_VALUE,
    CorruptValueError,
    KeyExistsError,
    Store,
    StoreClosedError,
    StoreInputError,
    StoreLockedError,
)
from offchain.store import segment as seg_io
from offchain.store.recovery import LEN_BITS, OFFSET_MASK
from offchain.store.segment import Segment
from offchain.store.table import CACHE_BYTES, CACHE_ENTRY_BYTES, PREFETCH_BYTES, Table
from tests.offchain.store.support import ROOT, Clock, child, flip, key_of, value_of


def test_put_get_exists_roundtrip(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("chunks")
        table.put_batch([(key_of(i), value_of(i)) for i in range(50)])
        table.put(b"empty", b"")
        for i in range(50):
            got = table.get(key_of(i))
            assert isinstance(got, memoryview) and got.readonly and bytes(got) == value_of(i)
        assert table.exists(key_of(3)) and not table.exists(b"absent") and table.get(b"absent") is None
        assert bytes(table.get(b"empty")) == b""
        table.flush()
    with Store(tmp_path) as store:
        table = store.table("chunks")
        assert table.key_count() == 51 and bytes(table.get(key_of(7))) == value_of(7)


def test_buffers_of_any_kind_are_written_as_is(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put_batch([(bytearray(b"a"), memoryview(b"xyz")), (memoryview(b"b"), bytearray(b"uv"))])
        assert bytes(table.get(b"a")) == b"xyz" and bytes(table.get(bytearray(b"b"))) == b"uv"


@pytest.mark.parametrize(
    "key, value",
    [
        (b"", b"v"),
        (b"k" * (MAX_KEY + 1), b"v"),
        ("text", b"v"),
        (b"k", "text"),
        (b"k", 5),
        (b"k", memoryview(b"abcd")[::2]),
    ],
)
def test_bad_keys_and_values_are_refused_before_writing(tmp_path, key, value):
    with Store(tmp_path) as store:
        table = store.table("t")
        with pytest.raises(StoreInputError):
            table.put_batch([(b"good", b"v"), (key, value)])
        assert table.key_count() == 0


def test_an_empty_batch_writes_nothing(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put_batch([])
        assert table.stats()["value_bytes"] == 0 and table.stats()["oldest_ms"] is None


def test_largest_value_fits_and_one_byte_more_does_not(tmp_path):
    big = bytearray(MAX_VALUE)
    big[-1] = 7
    with Store(tmp_path) as store:
        table = store.table("t")
        with pytest.raises(StoreInputError, match="64 MiB"):
            table.put(b"too big", bytearray(MAX_VALUE + 1))
        table.put(b"max", big)
        table.flush()
    with Store(tmp_path) as store:
        got = store.table("t").get(b"max")
        assert len(got) == MAX_VALUE and got[-1] == 7


def test_values_are_written_once(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put(b"k", b"1")
        with pytest.raises(KeyExistsError):
            table.put(b"k", b"2")
        with pytest.raises(KeyExistsError):
            table.put_batch([(b"x", b"1"), (b"x", b"2")])
        assert bytes(table.get(b"k")) == b"1" and not table.exists(b"x")


def test_closed_store_and_table_refuse_everything(tmp_path):
    store = Store(tmp_path)
    table = store.table("t")
    table.put(b"k", b"v")
    store.close()
    store.close()  # idempotent
    for call in (
        lambda: table.put(b"j", b"v"),
        lambda: table.get(b"k"),
        table.flush,
        lambda: table.exists(b"k"),
        lambda: store.table("t"),
        table.gc,
    ):
        with pytest.raises(StoreClosedError):
            call()
    with Store(tmp_path) as again:
        assert bytes(again.table("t").get(b"k")) == b"v"


def test_a_second_writer_is_locked_out(tmp_path):
    with Store(tmp_path):
        with pytest.raises(StoreLockedError):
            Store(tmp_path)
        proc = child("writer", str(tmp_path), "0")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode != 0 and "StoreLockedError" in err
    Store(tmp_path).close()  # released on close


def test_read_only_store_needs_no_lock_and_refuses_writes(tmp_path):
    with Store(tmp_path) as store:
        store.table("t").put(b"k", b"v")
        store.flush()
        reader = Store(tmp_path, readonly=True)
        table = reader.table("t")
        assert bytes(table.get(b"k")) == b"v"
        with pytest.raises(StoreInputError):
            table.put(b"j", b"v")
        with pytest.raises(StoreInputError):
            reader.table("absent")
        reader.close()
    with pytest.raises(StoreInputError):
        Store(tmp_path / "nothing", readonly=True)


def test_table_names_are_checked(tmp_path):
    with Store(tmp_path) as store:
        for bad in ["", "../x", "a/b", "LOCK", "store.json", "x" * 65]:
            with pytest.raises(StoreInputError):
                store.table(bad)
        store.table("a.b-c_1")
        assert store.table_names() == ["a.b-c_1"]


def test_shards_spread_values_over_every_path(tmp_path):
    paths = [tmp_path / f"vol{i}" for i in range(3)]
    with Store(paths) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, 4096)) for i in range(60)])
    sizes = [sum(f.stat().st_size for f in (p / "t").glob("*.values")) for p in paths]
    assert max(sizes) - min(sizes) <= 4096 + 100
    with Store(paths[0]) as store:  # the primary path alone reopens the whole store
        table = store.table("t")
        assert [bytes(table.get(key_of(i))) for i in range(60)] == [value_of(i, 4096) for i in range(60)]
    with pytest.raises(StoreInputError):
        Store([paths[0], paths[2], paths[1]])
    with pytest.raises(StoreInputError):
        Store([tmp_path / "a", tmp_path / "a"])


def test_metrics_count_keys_and_bytes(tmp_path):
    with Store(tmp_path, segment_bytes=50_000) as store:
        table = store.table("t")
        for i in range(12):
            table.put(key_of(i), value_of(i, 10_000))
        stats = table.stats()
        assert stats["keys"] == 12 and stats["value_bytes"] == 120_000
        assert stats["segments"] == 3  # rolled at 50,000 bytes; the third is the new active one
        on_disk = sum(f.stat().st_size for f in (tmp_path / "t").glob("0*"))
        assert stats["disk_bytes"] == on_disk
        assert store.stats()["keys"] == 12


def test_ttl_collects_whole_segments_oldest_first(tmp_path):
    clock = Clock()
    with Store(tmp_path, segment_bytes=30_000, clock=clock) as store:
        table = store.table("t", ttl_s=100)
        for i in range(10):
            table.put(key_of(i), value_of(i, 10_000))
            clock.now += 10
        assert table.gc() == {"segments": 0, "keys": 0, "value_bytes": 0}
        clock.now += 25  # keys 0-2 (one segment, newest put at 20 s) are now older than 100 s
        assert table.gc() == {"segments": 1, "keys": 3, "value_bytes": 30_000}
        assert not table.exists(key_of(0)) and table.get(key_of(2)) is None and table.exists(key_of(3))
        clock.now += 1000
        table.gc()
        assert table.key_count() == 0 and table.stats()["segments"] == 1
        assert len(list((tmp_path / "t").glob("*.values"))) == 1
        table.put(b"after", b"v")
    with Store(tmp_path, clock=clock) as store:
        table = store.table("t")
        assert table.ttl_s == 100 and bytes(table.get(b"after")) == b"v"
        table.set_ttl(0)
        clock.now += 10_000
        assert table.gc()["keys"] == 0
    assert json.loads((tmp_path / "t" / "table.json").read_text())["ttl_s"] == 0


def test_cache_is_bounded(tmp_path):
    with Store(tmp_path, cache_bytes=40_000) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, 4000)) for i in range(30)])
        for _ in range(2):
            for i in range(30):
                assert bytes(table.get(key_of(i))) == value_of(i, 4000)
        assert table._cache_used <= 40_000 and len(table._cache) >= 9


def test_mapped_pages_are_trimmed(tmp_path):
    with Store(tmp_path, map_window=100_000) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, 30_000)) for i in range(20)])
        for i in range(20):
            assert bytes(table.get(key_of(i))) == value_of(i, 30_000)
        assert table._mapped <= 100_000


def _rss_file_kib() -> int:
    """This process's resident pages of mapped files, in KiB: ``RssFile`` plus ``RssShmem`` (tmpfs) of
    ``/proc/self/status``."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    if "RssFile" not in fields:
        pytest.skip("no RssFile in /proc/self/status")
    return sum(int(fields[name].split()[0]) for name in ("RssFile", "RssShmem") if name in fields)


@pytest.mark.parametrize("huge", [False, True])
def test_resident_memory_stays_bounded_while_reading(tmp_path, huge):
    """48 MiB of 1 MiB values read twice: the mapped pages resident stay within the window (plus one
    value, in whole huge pages with ``huge_maps``); without trimming they grow with the data read. (The map
    window, which keeps values read twice mapped, is off here: it has its own bound, tested below.)"""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    window, size, count = 4 << 20, 1 << 20, 48
    values = [value_of(i, size) for i in range(count)]
    growth = {}
    for map_window in (window, None):
        path = tmp_path / str(map_window)
        with Store(path, map_window=map_window, huge_maps=huge, window_bytes=0) as store:
            table = store.table("t")
            for i in range(0, count, 8):
                table.put_batch([(key_of(j), values[j]) for j in range(i, i + 8)])
            table.flush()
            bytes(table.get(key_of(0)))  # first-read imports and maps outside the measure
            table._trim()
            before = _rss_file_kib()
            peak = before
            for _ in range(2):
                for i in range(count):
                    view = table.get(key_of(i))
                    assert view == values[i]  # every page of it touched
                    view.release()
                    peak = max(peak, _rss_file_kib())
            growth[map_window] = (peak - before) << 10
    assert growth[window] <= window + 2 * seg_io.HUGE_PAGE + (2 << 20)
    assert growth[None] >= 32 << 20  # the measure sees mapped pages: the bound above is the trimming's


def test_small_values_count_the_pages_a_fault_maps_around_them(tmp_path):
    """With the whole file in the page cache (just written), a fault maps the cached pages of the 64 KiB block
    around a small value, not only the value's: resident memory stays within the window all the same."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs /proc")
    window, count = 2 << 20, 4096
    values = [value_of(i, 4000) for i in range(count)]  # 16 MiB, in the page cache from the writes
    with Store(tmp_path, map_window=window) as store:
        table = store.table("t")
        for i in range(0, count, 512):
            table.put_batch([(key_of(j), values[j]) for j in range(i, i + 512)])
        table.flush()
        bytes(table.get(key_of(0)))
        table._trim()
        before = peak = _rss_file_kib()
        for i in range(0, count, 7):  # one value in most 64 KiB blocks
            assert table.get(key_of(i)) == values[i]
            peak = max(peak, _rss_file_kib())
    assert (peak - before) << 10 <= window + (1 << 20)


def test_a_block_is_counted_once_until_the_next_trim(tmp_path, monkeypatch):
    """Re-reading values whose 64 KiB blocks are still mapped counts nothing more: no trim, no new faults."""
    with Store(tmp_path, map_window=1 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, 40_000)) for i in range(12)])  # 12 values in 8 blocks
        trims = []
        real_trim = table._trim
        monkeypatch.setattr(table, "_trim", lambda: (trims.append(1), real_trim()))
        for _ in range(50):
            for i in range(12):
                assert table.get(key_of(i)) == value_of(i, 40_000)
        assert not trims and table._mapped == len(table._blocks) << 16 <= 9 << 16


def test_huge_maps_advise_huge_pages_and_read_large_values_without_a_request(tmp_path, monkeypatch):
    """Default: one ``MADV_WILLNEED`` per large get. ``huge_maps``: the maps are ``MADV_HUGEPAGE`` and a
    get makes no call (its first fault reads the huge page around it); both hand out views, no copy."""
    advised = []
    real_advise = seg_io.advise

    def spy_advise(mm, name, *span):
        advised.append((name, span))
        real_advise(mm, name, *span)

    monkeypatch.setattr(seg_io, "advise", spy_advise)
    big, small = value_of(1, PREFETCH_BYTES + 100), value_of(2, 4096)
    for huge in (False, True):
        advised.clear()
        with Store(tmp_path / str(huge), huge_maps=huge, cache_bytes=0) as store:  # the maps, no cache
            table = store.table("t")
            table.put_batch([(key_of(1), big), (key_of(2), small)])
            got_big, got_small = table.get(key_of(1)), table.get(key_of(2))
            for got, want in ((got_big, big), (got_small, small)):  # a view into the map: no copy
                assert isinstance(got, memoryview) and isinstance(got.obj, mmap.mmap) and got == want
            del got_big, got_small
        names = [name for name, _ in advised]
        if huge:
            assert names == ["MADV_RANDOM", "MADV_HUGEPAGE"]
        else:
            assert names == ["MADV_RANDOM", "MADV_WILLNEED"]
            start, length = advised[1][1]
            assert start % mmap.PAGESIZE == 0 and start + length >= len(big)  # the big value's pages


def test_huge_maps_must_be_a_bool(tmp_path):
    with Store(tmp_path) as store:
        with pytest.raises(StoreInputError, match="huge_maps"):
            store.table("t", huge_maps="yes")


def test_an_advice_the_kernel_lacks_is_ignored():
    class OldKernelMap:
        def madvise(self, option, *span):
            raise OSError(errno.EINVAL, "Invalid argument")

    seg_io.advise(OldKernelMap(), "MADV_HUGEPAGE")  # no transparent huge pages: a hint, ignored

    class FailingMap:
        def madvise(self, option, *span):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        seg_io.advise(FailingMap(), "MADV_WILLNEED")


def test_a_trim_releases_only_the_segments_read(tmp_path, monkeypatch):
    trimmed = []
    monkeypatch.setattr(Segment, "trim", lambda seg: trimmed.append(seg.id))
    with Store(tmp_path, segment_bytes=50_000, map_window=60_000, cache_bytes=0) as store:
        table = store.table("t")
        for i in range(40):
            table.put(key_of(i), value_of(i, 20_000))
        assert table.stats()["segments"] >= 10
        for i in (0, 1, 2, 3):  # the first two segments only
            table.get(key_of(i))
    assert trimmed and set(trimmed) <= {0, 1}


def test_open_scans_only_the_unflushed_tail(tmp_path, monkeypatch):
    with Store(tmp_path, segment_bytes=100_000) as store:
        for i in range(23):
            store.table("t").put(key_of(i), value_of(i, 20_000))
    scanned = []
    original = Table._scan

    def spy(self, seg, shard, start, time_ms):
        found, stop = original(self, seg, shard, start, time_ms)
        scanned.append((seg.id, len(found)))
        return found, stop

    monkeypatch.setattr(Table, "_scan", spy)
    with Store(tmp_path) as store:
        assert store.table("t").key_count() == 23
    assert scanned == [(4, 0)]  # only the active segment, and nothing in it was unindexed


def test_orphan_values_of_an_unfinished_segment_are_removed(tmp_path):
    with Store(tmp_path) as store:
        store.table("t").put(b"k", b"v")
    orphan = tmp_path / "t" / "00000001-0.values"
    orphan.write_bytes(b"x" * 16)
    with Store(tmp_path) as store:
        assert bytes(store.table("t").get(b"k")) == b"v"
    assert not orphan.exists()


def test_cli_stats_verify_gc(tmp_path, capsys):
    clock = Clock(1000.0)
    with Store(tmp_path, clock=clock) as store:
        table = store.table("chunks", ttl_s=60)
        table.put_batch([(key_of(i), value_of(i, 1000)) for i in range(5)])
    assert main(["store", "stats", str(tmp_path)]) == 0
    assert "chunks: 5 keys" in capsys.readouterr().out
    assert main(["store", "stats", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tables"]["chunks"]["keys"] == 5
    assert main(["store", "verify", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    with Store(tmp_path):
        assert main(["store", "gc", str(tmp_path)]) == 2  # locked by the writer
    assert "StoreLockedError" in capsys.readouterr().err
    assert main(["store", "gc", str(tmp_path), "--now", "1059"]) == 0
    assert "removed 0 segment(s)" in capsys.readouterr().out
    assert main(["store", "gc", str(tmp_path), "--now", "1061"]) == 0
    assert "removed 1 segment(s), 5 keys" in capsys.readouterr().out
    assert main(["store", "stats", str(tmp_path / "missing")]) == 2
    assert main(["store"]) == 2


def test_store_files_are_private_to_the_package(tmp_path):
    with Store(tmp_path) as store:
        store.table("t").put(b"k", b"v")
    assert sorted(os.listdir(tmp_path)) == ["LOCK", "store.json", "t"]


def test_read_into_copies_each_value_into_the_buffer(tmp_path):
    import numpy as np

    sizes = [0, 1, 4096, 16_384, 1 << 20]
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, size)) for i, size in enumerate(sizes)])
        for reopen in (False, True):
            if reopen:
                table.flush()
                store.close()
                store = Store(tmp_path)
                table = store.table("t")
            for i, size in enumerate(sizes):
                buffer = bytearray(b"\xaa" * (size + 5))
                assert table.read_into(key_of(i), buffer) == size
                assert buffer[:size] == value_of(i, size) and buffer[size:] == b"\xaa" * 5
                words = np.zeros(size // 4 + 1, dtype=np.uint32)  # any contiguous buffer
                assert table.read_into(key_of(i), words, verify=True) == size
                assert words.tobytes()[:size] == value_of(i, size)
                window = memoryview(bytearray(size + 20))[10:]  # a view into a larger buffer
                assert table.read_into(key_of(i), window) == size and window[:size] == value_of(i, size)
            assert table.read_into(b"absent", bytearray(10)) is None
        table.close()
        with pytest.raises(StoreClosedError):
            table.read_into(key_of(0), bytearray(10))


@pytest.mark.parametrize("size", [100, 1 << 20])
def test_read_into_refuses_bad_buffers_and_writes_nothing(tmp_path, size):
    import numpy as np

    with Store(tmp_path) as store:
        table = store.table("t")
        table.put(key_of(1), value_of(1, size))
        short = bytearray(size - 1)
        with pytest.raises(StoreInputError, match=f"value of {size} bytes"):
            table.read_into(key_of(1), short)
        assert short == bytearray(size - 1)
        with pytest.raises(StoreInputError, match="read-only"):
            table.read_into(key_of(1), bytes(size))
        for bad in ("text", 12, np.zeros((size, 2), dtype=np.uint8)[:, 0]):
            with pytest.raises(StoreInputError, match="buffer"):
                table.read_into(key_of(1), bad)
        with pytest.raises(StoreInputError, match="key"):
            table.read_into("key", bytearray(size))


def test_read_into_maps_no_large_value_and_its_file_outlives_expiry_while_read(tmp_path):
    clock = Clock()
    with Store(tmp_path, segment_bytes=1 << 20, clock=clock) as store:
        table = store.table("t", ttl_s=10)
        table.put_batch([(key_of(i), value_of(i, 300_000)) for i in range(4)])  # segment 0 is sealed
        table.put(key_of(9), value_of(9, 100))
        seg = table._segments[0]
        buffer = bytearray(300_000)
        assert table.read_into(key_of(0), buffer) == 300_000 and buffer == value_of(0, 300_000)
        assert seg.maps == [None] and table._mapped == 0  # copied by the kernel: nothing mapped
        table.huge_maps = True  # with huge_maps it is copied from the map, whose faults map 2 MiB pages
        assert table.read_into(key_of(1), buffer) == 300_000 and buffer == value_of(1, 300_000)
        assert seg.maps != [None] and table._mapped >= 300_000
        table.huge_maps = False
        reader = seg.readers[0]
        assert reader is not None
        held, fd = reader, reader.fd
        del reader
        clock.now += 60
        assert table.gc()["segments"] >= 1 and table.read_into(key_of(0), buffer) is None
        os.fstat(fd)  # still open: a reader in the middle of a pread holds it
        assert os.pread(fd, 4, 0) == b"ESTV"
        del held  # the last reference: closed
        with pytest.raises(OSError):
            os.fstat(fd)


def test_small_values_are_served_from_a_bounded_cache_written_through(tmp_path, monkeypatch):
    """Values under 64 KiB (and an eighth of ``cache_bytes``) are cached when written and when read from
    the file; larger ones, and every ``verify`` read, go to the file each time."""
    reads = []
    real_pread, real_preadv = os.pread, os.preadv
    monkeypatch.setattr(os, "pread", lambda fd, n, at: reads.append(at) or real_pread(fd, n, at))
    monkeypatch.setattr(
        os, "preadv", lambda fd, buffers, at: reads.append(at) or real_preadv(fd, buffers, at)
    )
    with Store(tmp_path, cache_bytes=100_000) as store:
        table = store.table("t")
        table.put_batch(
            [(key_of(i), value_of(i, 4096)) for i in range(4)] + [(key_of(9), value_of(9, 20_000))]
        )
        buffer = bytearray(20_000)
        for i in range(4):  # written through: no read of the file
            assert table.read_into(key_of(i), buffer) == 4096 and buffer[:4096] == value_of(i, 4096)
        assert reads == []
        for _ in range(2):  # above an eighth of the cache: from the file each time
            assert table.read_into(key_of(9), buffer) == 20_000 and buffer == value_of(9, 20_000)
        assert len(reads) == 2
        table.put_batch([(key_of(i), value_of(i, 4096)) for i in range(10, 40)])  # evicts the oldest
        assert table._cache_used <= 100_000 and key_of(0) not in table._cache
        reads.clear()
        for _ in range(2):  # a miss reads the file once, then the value is cached again
            assert table.read_into(key_of(0), buffer) == 4096 and buffer[:4096] == value_of(0, 4096)
        assert len(reads) == 1 and bytes(table.get(key_of(0))) == value_of(0, 4096)
        assert (
            table.read_into(key_of(0), buffer, verify=True) == 4096 and len(reads) == 2
        )  # checked: the file
    with Store(tmp_path / "default", window_bytes=0) as store:  # no map window: each read from the file
        table = store.table("t")
        assert table._cache_bytes == CACHE_BYTES
        table.put_batch([(key_of(1), value_of(1, 65_536)), (key_of(2), value_of(2, 65_535))])
        reads.clear()
        buffer = bytearray(65_536)
        for _ in range(2):
            assert (
                table.read_into(key_of(1), buffer) == 65_536 and table.read_into(key_of(2), buffer) == 65_535
            )
        assert len(reads) == 2  # 64 KiB is not cached, 64 KiB less a byte was written through
    with Store(tmp_path / "off", cache_bytes=0) as store:
        table = store.table("t")
        table.put(key_of(1), value_of(1, 100))
        reads.clear()
        for _ in range(3):
            assert table.read_into(key_of(1), buffer) == 100
        assert len(reads) == 3 and not table._cache


def test_a_cached_value_still_fails_a_checked_read_of_a_damaged_file(tmp_path):
    with Store(tmp_path) as store:
        table = store.table("t")
        table.put(key_of(1), value_of(1, 4096))
        table.flush()
        seg = table._segments[0]
        value_at = table._keymap[key_of(1)] >> LEN_BITS & OFFSET_MASK
        flip(seg.values_paths[0], value_at + 7)
        buffer = bytearray(4096)
        assert table.read_into(key_of(1), buffer) == 4096 and buffer == value_of(1, 4096)  # as written
        with pytest.raises(CorruptValueError, match="value checksum"):
            table.read_into(key_of(1), buffer, verify=True)


def test_the_cache_bound_counts_each_entry_not_only_its_bytes(tmp_path):
    with Store(tmp_path, cache_bytes=100_000) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), b"x") for i in range(5000)])  # 5,000 bytes of values
        assert table._cache_used <= 100_000 and len(table._cache) == 100_000 // (1 + CACHE_ENTRY_BYTES)
        buffer = bytearray(1)
        for i in range(5000):
            assert table.read_into(key_of(i), buffer) == 1 and buffer == b"x"
        assert table._cache_used <= 100_000


@pytest.mark.parametrize("bad", [-1, 1.5, "16M", None])
def test_cache_bytes_must_be_a_whole_number(tmp_path, bad):
    with Store(tmp_path) as store:
        with pytest.raises(StoreInputError, match="cache_bytes"):
            store.table("t", cache_bytes=bad)


def test_read_into_keeps_one_descriptor_per_file_and_drops_it_with_the_segment(tmp_path):
    clock = Clock()
    with Store(tmp_path, segment_bytes=20_000, cache_bytes=0, clock=clock) as store:
        table = store.table("t", ttl_s=10)
        table.put_batch([(key_of(i), value_of(i, 5000)) for i in range(5)])  # segment 0 is sealed
        clock.now += 60
        table.put(key_of(9), value_of(9, 100))
        buffer = bytearray(5000)
        for _ in range(2):
            for i in range(5):
                assert table.read_into(key_of(i), buffer) == 5000 and buffer == value_of(i, 5000)
        assert list(table._readers) == [0]  # segment 0, shard 0: opened once
        assert table.gc()["segments"] == 1
        assert table._readers == {} and table.read_into(key_of(0), buffer) is None
        assert table.read_into(key_of(9), buffer) == 100 and buffer[:100] == value_of(9, 100)
    assert table._readers == {}


def _maps_of(path) -> int:
    """How many of this process's mappings are of the file ``path`` (deleted or not), from ``/proc/self/maps``."""
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if str(path) in line)


@pytest.mark.parametrize("huge", [False, True])
def test_views_from_get_outlive_trims_expiry_and_close(tmp_path, huge):
    """A view ``get`` handed out stays valid and unchanged while the table drops its pages (a trim), deletes
    its segment (expiry) and closes; its map goes away with the last view, not before and not after."""
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("needs /proc")
    clock = Clock()
    big, small = value_of(1, 300_000), value_of(2, 1000)
    store = Store(tmp_path, segment_bytes=1 << 20, cache_bytes=0, huge_maps=huge, clock=clock)
    table = store.table("t", ttl_s=10)
    table.put_batch(
        [(key_of(1), big), (key_of(2), small)] + [(key_of(i), value_of(i, 300_000)) for i in range(3, 7)]
    )
    table.put(key_of(9), value_of(9, 100))  # segment 0 is sealed, segment 1 active
    path = table._segments[0].values_paths[0]
    views = [table.get(key_of(1)), table.get(key_of(2))]
    assert all(isinstance(v, memoryview) and isinstance(v.obj, mmap.mmap) for v in views)
    table._trim()  # the pages dropped under the views: they fault back in from the file
    assert views[0] == big and views[1] == small
    clock.now += 60
    assert table.gc()["segments"] == 2 and table.get(key_of(1)) is None and not path.exists()
    assert views[0] == big and views[1] == small  # the file is unlinked, its map alive
    store.close()
    assert views[0] == big and views[1] == small and _maps_of(path) >= 1
    with pytest.raises(StoreClosedError):
        table.get(key_of(1))
    for view in views:
        view.release()
    del views
    assert _maps_of(path) == 0  # released with the last view: nothing left mapped


def test_a_large_value_is_requested_from_the_disk_once_until_the_next_trim(tmp_path, monkeypatch):
    """A get of a large value sends one ``MADV_WILLNEED`` for its pages; getting it again before the next trim
    sends none (its pages are cached, or still mapped), after a trim or its expiry one again."""
    advised = []
    real_advise = seg_io.advise
    monkeypatch.setattr(
        seg_io, "advise", lambda mm, name, *span: (advised.append(name), real_advise(mm, name, *span))
    )
    clock = Clock()
    big = value_of(1, PREFETCH_BYTES + 100)
    with Store(tmp_path, cache_bytes=0, window_bytes=0, clock=clock) as store:  # the trimmed maps' path
        table = store.table("t", ttl_s=10)
        table.put(key_of(1), big)
        for _ in range(3):
            assert table.get(key_of(1)) == big
        assert advised.count("MADV_WILLNEED") == 1
        table._trim()
        assert table.get(key_of(1)) == big and advised.count("MADV_WILLNEED") == 2
        clock.now += 60
        assert table.gc()["keys"] == 1 and key_of(1) not in table._prefetched
        table.put(key_of(1), big)  # written again, elsewhere: requested again
        assert table.get(key_of(1)) == big and advised.count("MADV_WILLNEED") == 3


NUMPY_PROBE = """
import sys
from offchain.store import Store
from tests.offchain.store.support import key_of, value_of

path, loaded = sys.argv[1], []
with Store(path, segment_bytes=8192) as store:
    store.table("t").put_batch([(key_of(i), value_of(i, 100)) for i in range(10)])
with Store(path, segment_bytes=8192) as store:  # reopened: one active segment
    table = store.table("t")
    assert all(table.get(key_of(i)) == value_of(i, 100) for i in range(10))
    loaded.append("numpy" in sys.modules)
    table.put_batch([(key_of(i), value_of(i, 5000)) for i in range(10, 12)])  # segment 0 is sealed
with Store(path, segment_bytes=8192) as store:  # reopened: segment 0's keys file read as columns
    table = store.table("t")
    assert table._segments[0].sealed and not table.problems
    assert all(table.get(key_of(i)) == value_of(i, 100) for i in range(10))
    assert all(table.get(key_of(i)) == value_of(i, 5000) for i in range(10, 12))
    loaded.append("numpy" in sys.modules)
print(*loaded)
"""


def test_numpy_is_imported_only_to_read_a_sealed_keys_file(tmp_path):
    """numpy (about 12 MiB of memory and a fifth of a second to import) is needed only to read sealed keys
    files as columns: a process using a store that has none never loads it."""
    done = subprocess.run(
        [sys.executable, "-c", NUMPY_PROBE, str(tmp_path / "store")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
