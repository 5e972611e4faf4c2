"""The map window: large values read twice stay mapped, within ``window_bytes``; views stay valid; a value
whose reads are cheap is admitted only once they have cost what its map would (the cost signal injected)."""

import os
import random
import threading

import pytest

from offchain import settings
from offchain.errors import SettingError
from offchain.store import CorruptValueError, Store, StoreInputError
from offchain.store import window as window_module
from offchain.store.table import PREFETCH_BYTES
from tests.offchain.store.support import Clock, CostClock, key_of, value_of

BIG = PREFETCH_BYTES + 4000  # above the window's threshold, not a multiple of a page
# BIG's admission as the model prices it (19 pages) at the model's initial scale
ADMISSION_NS = window_module.ADMIT_FIXED_NS + window_module.ADMIT_PAGE_NS * (BIG // 4096 + 2)


@pytest.fixture(autouse=True)
def costly_reads(monkeypatch):
    """Every read outside the window costs a second (a disk read, many admissions): values are admitted on
    their second read, as the tests below of the window's bounds and views expect. The tests of the cost
    rule set the clock's step themselves."""
    clock = CostClock(step=10**9)
    monkeypatch.setattr(window_module, "COST_CLOCK", clock)
    return clock


def _rss_file_kib() -> int:
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    if "RssFile" not in fields:
        pytest.skip("no RssFile in /proc/self/status")
    return sum(int(fields[name].split()[0]) for name in ("RssFile", "RssShmem") if name in fields)


def _evict(directory) -> None:
    for path in directory.iterdir():
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def _count_preadv(monkeypatch) -> list[int]:
    reads: list[int] = []
    real = os.preadv
    monkeypatch.setattr(
        os, "preadv", lambda fd, buffers, at, *flags: reads.append(at) or real(fd, buffers, at, *flags)
    )
    return reads


def test_a_value_is_mapped_on_its_second_read_and_copied_from_the_map_after(tmp_path, monkeypatch):
    reads = _count_preadv(monkeypatch)
    with Store(tmp_path, window_bytes=1 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(3)])
        buffer = bytearray(BIG)
        assert table.read_into(key_of(0), buffer) == BIG and buffer == value_of(0, BIG)
        assert len(reads) == 1 and table.stats()["window"]["maps"] == 0  # once: only remembered
        for _ in range(3):
            buffer[:] = bytes(BIG)
            assert table.read_into(key_of(0), buffer) == BIG and buffer == value_of(0, BIG)
        window = table.stats()["window"]
        assert len(reads) == 1 and window["maps"] == 1 and window["admitted"] == 1 and window["hits"] == 2
        assert window["mapped_bytes"] % os.sysconf("SC_PAGE_SIZE") == 0
        assert window["mapped_bytes"] >= BIG
        assert table.get(key_of(1)) == value_of(1, BIG) and table.stats()["window"]["maps"] == 1
        view = table.get(key_of(1))  # the second read of key 1, by get: mapped into the window
        assert view == value_of(1, BIG) and view.readonly and table.stats()["window"]["maps"] == 2
        assert table.read_into(key_of(1), buffer) == BIG and len(reads) == 1  # shared by both paths
        assert table.read_into(key_of(2), buffer, verify=True) == BIG  # checked reads: the file
        assert table.read_into(key_of(2), buffer, verify=True) == BIG and len(reads) == 3
        assert table.stats()["window"]["maps"] == 2


def test_small_values_and_huge_maps_do_not_use_the_window(tmp_path):
    with Store(tmp_path, window_bytes=1 << 20, cache_bytes=0) as store:
        table = store.table("t")
        table.put_batch([(key_of(1), value_of(1, PREFETCH_BYTES - 1))])
        for _ in range(3):
            assert table.get(key_of(1)) == value_of(1, PREFETCH_BYTES - 1)
        assert table.stats()["window"]["admitted"] == 0
    with Store(tmp_path / "huge", window_bytes=1 << 20, huge_maps=True) as store:
        table = store.table("t")
        table.put(key_of(1), value_of(1, BIG))
        for _ in range(3):
            assert table.get(key_of(1)) == value_of(1, BIG)
        assert table.stats()["window"]["admitted"] == 0
    with Store(tmp_path / "off", window_bytes=0) as store:
        assert store.table("t").stats()["window"] is None


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_mapped_bytes_and_resident_memory_stay_within_the_window(tmp_path):
    """24 MiB of values read at random, six times over (the window full, values admitted and evicted): its maps
    never pass its bound, and neither does the resident memory of mapped files they add."""
    window, size, count = 4 << 20, 300_000, 80
    values = [value_of(i, size) for i in range(count)]
    with Store(tmp_path) as store:
        table = store.table("t")
        for i in range(0, count, 10):
            table.put_batch([(key_of(j), values[j]) for j in range(i, i + 10)])
    _evict(tmp_path / "t")  # large folios of a file just written would map more than get's trimmed maps count
    with Store(tmp_path, window_bytes=window, map_window=1 << 20, cache_bytes=0) as store:
        table = store.table("t")
        buffer = bytearray(size)
        table.read_into(key_of(0), buffer)
        before = peak = _rss_file_kib()
        rng = random.Random(1)
        peak_mapped = 0
        for _ in range(6 * count):
            i = rng.randrange(count)
            if rng.random() < 0.5:
                assert table.read_into(key_of(i), buffer) == size and buffer == values[i]
            else:
                view = table.get(key_of(i))
                assert view == values[i]  # every page touched
                view.release()
            peak_mapped = max(peak_mapped, table.stats()["window"]["mapped_bytes"])
            peak = max(peak, _rss_file_kib())
        stats = table.stats()["window"]
        assert peak_mapped <= window and stats["peak_bytes"] <= window
        assert stats["evicted"] >= 5 and stats["hits"] > 10  # it was full, and used
        # the window, plus the trimmed maps of get's first reads (map_window) and a value of slack
        assert (peak - before) << 10 <= window + (1 << 20) + 2 * size


def test_a_working_set_larger_than_the_window_does_not_churn_it(tmp_path, monkeypatch):
    """Six values read in turn through a window that holds three: the window keeps the ones it has (each
    newcomer was read no more often than the map it would evict), half the reads hit it and the other half
    are read with ``preadv``; a value read more often than the others then displaces one."""
    reads = _count_preadv(monkeypatch)
    with Store(tmp_path, window_bytes=3 * BIG + 3 * 8192) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(6)])
        buffer = bytearray(BIG)
        for _ in range(20):
            for i in range(6):
                assert table.read_into(key_of(i), buffer) == BIG and buffer == value_of(i, BIG)
        stats = table.stats()["window"]
        assert stats["maps"] == 3 and stats["evicted"] == 0 and stats["admitted"] == 3
        assert stats["hits"] >= 3 * 18 and len(reads) <= 3 * 20 + 3
        for _ in range(30):  # key 5, read far more often than the maps' values, gets in
            table.read_into(key_of(5), buffer)
        assert table.stats()["window"]["evicted"] == 1 and table.stats()["window"]["maps"] == 3
        count = len(reads)
        assert table.read_into(key_of(5), buffer) == BIG and len(reads) == count


def test_views_held_across_eviction_stay_valid_and_right(tmp_path):
    with Store(tmp_path, window_bytes=3 * BIG) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(12)])
        table.get(key_of(0))
        held = table.get(key_of(0))  # the window's map of key 0
        assert table.stats()["window"]["maps"] == 1
        buffer = bytearray(BIG)
        for _ in range(6):  # read more often than key 0: they displace it
            for i in range(1, 12):
                assert table.read_into(key_of(i), buffer) == BIG and buffer == value_of(i, BIG)
        stats = table.stats()["window"]
        assert stats["evicted_pinned"] == 1 and stats["mapped_bytes"] <= 3 * BIG
        assert held == value_of(0, BIG)  # evicted under the view (its pages dropped): read again
        assert table.get(key_of(0)) == value_of(0, BIG)
        held.release()


def test_expiry_drops_the_maps_of_a_segment_and_leaves_held_views_valid(tmp_path):
    clock = Clock()
    with Store(tmp_path, window_bytes=1 << 20, segment_bytes=2 * BIG, clock=clock) as store:
        table = store.table("t", ttl_s=10)
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(2)])  # segment 0, sealed
        clock.now += 100
        table.put(key_of(5), value_of(5, BIG))  # segment 1, young
        for i in (0, 1, 5):
            table.get(key_of(i))
        held = [table.get(key_of(i)) for i in (0, 1, 5)]
        assert table.stats()["window"]["maps"] == 3
        assert table.gc()["keys"] == 2
        assert table.stats()["window"]["maps"] == 1  # segment 0's maps are gone, segment 1's stays
        assert not any(p.name.startswith("00000000-") for p in tmp_path.joinpath("t").iterdir())
        assert held[0] == value_of(0, BIG) and held[1] == value_of(1, BIG)  # the unlinked file's pages
        assert table.get(key_of(0)) is None and table.read_into(key_of(1), bytearray(BIG)) is None
        table.put(key_of(0), value_of(99, BIG))  # written again, elsewhere: never the old map
        for _ in range(3):
            assert table.get(key_of(0)) == value_of(99, BIG)
        clock.now += 100
        table.gc()
        assert table.stats()["window"]["maps"] == 0 and held[2] == value_of(5, BIG)
    assert held[0] == value_of(0, BIG) and held[2] == value_of(5, BIG)  # and after the close


def test_a_file_shorter_than_the_index_raises_and_does_not_fault(tmp_path):
    """A sealed values file cut short (its keys file still indexes the records): every read of a value past
    the end raises naming the file, the first read (``preadv``) and the second (the window's map, which
    would fault on access past the end of the file) alike."""
    with Store(tmp_path, segment_bytes=2 * BIG) as store:
        store.table("t").put_batch([(key_of(i), value_of(i, BIG)) for i in range(3)])
    values = tmp_path / "t" / "00000000-0.values"
    os.truncate(values, values.stat().st_size - 100)
    with Store(tmp_path) as store:
        table = store.table("t")
        last = max(range(3), key=lambda i: table._keymap[key_of(i)])
        for _ in range(3):
            with pytest.raises(CorruptValueError, match="00000000-0.values"):
                table.read_into(key_of(last), bytearray(BIG))
            with pytest.raises(CorruptValueError, match="00000000-0.values"):
                table.get(key_of(last))
        assert table.stats()["window"]["maps"] == 0
        other = min(range(3), key=lambda i: table._keymap[key_of(i)])
        for _ in range(3):
            assert table.get(key_of(other)) == value_of(other, BIG)


def test_a_record_that_is_not_the_indexed_one_raises_on_every_read(tmp_path):
    with Store(tmp_path, segment_bytes=2 * BIG) as store:
        store.table("t").put_batch([(key_of(i), value_of(i, BIG)) for i in range(3)])
    with Store(tmp_path) as store:
        value_at = store.table("t")._keymap[key_of(0)] >> 27 & ((1 << 37) - 1)
    values = tmp_path / "t" / "00000000-0.values"
    with open(values, "r+b") as f:  # a byte of the record's key
        f.seek(value_at - 1)
        byte = f.read(1)
        f.seek(value_at - 1)
        f.write(bytes([byte[0] ^ 1]))
    with Store(tmp_path) as store:
        table = store.table("t")
        for _ in range(3):
            with pytest.raises(CorruptValueError, match="does not match the index"):
                table.read_into(key_of(0), bytearray(BIG))
        assert table.stats()["window"]["maps"] == 0


def test_one_writer_many_readers_with_a_small_window(tmp_path):
    """Reader threads read large values (views held while checked, and copies) while the writer appends,
    seals and expires segments and the window evicts all the time: every read is whole and right, and the
    window never holds more than its bound."""
    clock = Clock()
    window = 4 * BIG
    with Store(tmp_path, window_bytes=window, segment_bytes=6 * BIG, clock=clock) as store:
        table = store.table("t", ttl_s=50)
        written: list[int] = []
        gone: set[int] = set()
        failures: list[str] = []
        stop = threading.Event()
        peaks: list[int] = []

        def writer():
            i = 0
            while not stop.is_set() and i < 400:
                table.put_batch([(key_of(j), value_of(j, BIG)) for j in range(i, i + 2)])
                written.extend(range(i, i + 2))
                i += 2
                clock.now += 1
                if i % 8 == 0:
                    table.flush()
                    removed = table.gc()["keys"]
                    if removed:
                        gone.update(j for j in written if not table.exists(key_of(j)))

        def reader(seed):
            rng = random.Random(seed)
            buffer = bytearray(BIG)
            while not stop.is_set():
                if not written:
                    continue
                i = written[rng.randrange(max(1, len(written) - 20), len(written))]
                if rng.random() < 0.5:
                    got = table.get(key_of(i))
                    if got is not None and got != value_of(i, BIG):
                        failures.append(f"get {i}")
                    elif got is None and i not in gone and table.exists(key_of(i)):
                        failures.append(f"get {i} missing")
                else:
                    n = table.read_into(key_of(i), buffer)
                    if n is not None and (n != BIG or buffer != value_of(i, BIG)):
                        failures.append(f"read_into {i}")
                peaks.append(table.stats()["window"]["mapped_bytes"])

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(s,)) for s in range(4)
        ]
        for t in threads:
            t.start()
        threads[0].join(timeout=60)
        stop.set()
        for t in threads[1:]:
            t.join(timeout=30)
        stats = table.stats()["window"]
        assert not failures, failures[:5]
        assert stats["hits"] > 0 and stats["evicted"] > 0 and gone
        assert max(peaks) <= window and stats["peak_bytes"] <= window


def test_window_bytes_must_be_a_whole_number(tmp_path):
    for bad in (-1, 1.5, "64"):
        with Store(tmp_path) as store, pytest.raises(StoreInputError, match="window_bytes"):
            store.table("t", window_bytes=bad)


def test_the_window_defaults_to_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("EIGEN_STORE_WINDOW_MIB", "3")
    with Store(tmp_path) as store:
        assert store.table("t").stats()["window"]["limit_bytes"] == 3 << 20
    monkeypatch.setenv("EIGEN_STORE_WINDOW_MIB", "0")
    with Store(tmp_path) as store:
        assert store.table("t").stats()["window"] is None
    monkeypatch.setenv("EIGEN_STORE_WINDOW_MIB", "lots")
    with pytest.raises(SettingError, match="EIGEN_STORE_WINDOW_MIB"):
        settings.store_window_bytes()
    monkeypatch.delenv("EIGEN_STORE_WINDOW_MIB")
    assert settings.store_window_bytes() == 64 << 20


def test_read_into_copies_a_value_once_into_a_bytearray_whatever_serves_it(tmp_path):
    """A slice assignment into a bytearray from any other object copies the value twice (CPython makes a
    temporary bytearray of it first); ``read_into`` copies once, into the caller's buffer: no allocation
    of the value's size, whether the small-value cache, the window (admission or hit) or the file serves it,
    and into a numpy array too."""
    import tracemalloc

    np = pytest.importorskip("numpy")
    big = 1 << 20
    with Store(tmp_path, window_bytes=4 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(0), value_of(0, big)), (key_of(1), value_of(1, 4096))])
        buffers = [bytearray(big), np.zeros(big, dtype=np.uint8)]
        tracemalloc.start()
        try:
            for read in range(4):  # the file, the admission, then hits
                for buffer in buffers:
                    tracemalloc.reset_peak()
                    assert table.read_into(key_of(0), buffer) == big
                    assert tracemalloc.get_traced_memory()[1] < big // 4, read
                    assert bytes(buffer) == value_of(0, big)
                    tracemalloc.reset_peak()
                    assert table.read_into(key_of(1), buffer) == 4096  # from the small-value cache
                    assert tracemalloc.get_traced_memory()[1] < 4096, read
                    assert bytes(buffer[:4096]) == value_of(1, 4096)
        finally:
            tracemalloc.stop()
        window = table.stats()["window"]
        assert window["admitted"] == 1 and window["hits"] == 2 * 4 - 2
    with Store(tmp_path / "huge", huge_maps=True) as store:  # copied out of the map `get` hands out
        table = store.table("t")
        table.put_batch([(key_of(0), value_of(0, big))])
        buffer = bytearray(big)
        tracemalloc.start()
        try:
            assert table.read_into(key_of(0), buffer) == big
            assert tracemalloc.get_traced_memory()[1] < big // 4
        finally:
            tracemalloc.stop()
        assert buffer == value_of(0, big)


def _read_n(table, i, n, buffer):
    for _ in range(n):
        buffer[:] = bytes(len(buffer))
        assert table.read_into(key_of(i), buffer) == len(buffer) and buffer == value_of(i, len(buffer))


def test_cheap_reads_are_admitted_once_they_cost_what_the_map_would(tmp_path, monkeypatch, costly_reads):
    """A value whose reads cost a page-cache copy (a fraction of a map) is read with ``preadv`` until its
    reads add up to ``ADMIT_SPEND`` estimated admissions, then mapped; a costly first read (a disk read) is
    mapped on the second; reads that cost almost nothing are never mapped; ``get``'s reads (not timed) are
    mapped on the second."""
    reads = _count_preadv(monkeypatch)
    spend = window_module.ADMIT_SPEND * ADMISSION_NS
    with Store(tmp_path, window_bytes=1 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(4)])
        buffer = bytearray(BIG)
        assert table.stats()["window"]["admission_estimate_ns"] == ADMISSION_NS - 650  # 64 KiB's
        costly_reads.step = spend // 3 + 1  # three reads outside the window pay for the map
        _read_n(table, 0, 3, buffer)
        stats = table.stats()["window"]
        assert len(reads) == 3 and stats["maps"] == 0 and stats["deferred"] == 2
        _read_n(table, 0, 1, buffer)  # the fourth read: mapped, and its cost measured
        stats = table.stats()["window"]
        assert len(reads) == 3 and stats["maps"] == 1 and stats["admitted"] == 1
        _read_n(table, 0, 5, buffer)
        assert len(reads) == 3 and table.stats()["window"]["hits"] == 5
        costly_reads.step = spend + 1  # a first read that cost more than two maps: mapped on the second
        _read_n(table, 1, 2, buffer)
        assert len(reads) == 4 and table.stats()["window"]["maps"] == 2
        costly_reads.step = 1  # next to nothing (the scale of the estimate falls, within its bound)
        _read_n(table, 2, 200, buffer)
        stats = table.stats()["window"]
        assert len(reads) == 4 + 200 and stats["maps"] == 2
        assert stats["admission_estimate_ns"] >= window_module.SCALE_MIN * (ADMISSION_NS - 650) - 1
        assert table.get(key_of(3)) == value_of(3, BIG) and table.stats()["window"]["maps"] == 2
        assert table.get(key_of(3)) == value_of(3, BIG) and table.stats()["window"]["maps"] == 3


def test_the_estimate_of_an_admission_follows_the_measured_ones_within_bounds(tmp_path, costly_reads):
    """Admissions that cost far more than the model (a stalled call, a slow machine) raise its scale at
    most to ``SCALE_MAX``; so a stall cannot stop admissions for good, nor a fast call make every read a
    map."""
    model = ADMISSION_NS - 650  # 64 KiB, as stats reports it
    with Store(tmp_path, window_bytes=8 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(60)])
        buffer = bytearray(BIG)
        for i in range(60):  # every read and admission takes a second
            _read_n(table, i, 2, buffer)
        stats = table.stats()["window"]
        assert stats["admitted"] == 60
        assert stats["admission_estimate_ns"] == pytest.approx(window_module.SCALE_MAX * model, rel=1e-3)


def test_no_cost_signal_can_break_the_windows_bounds(tmp_path, monkeypatch):
    """Reads at random through a small window under a cost signal that jumps between nothing, a page-cache
    copy, a disk read and a stall: every value read right, the window never above its bound, and only
    values read at least twice ever mapped."""
    monkeypatch.setattr(
        window_module, "COST_CLOCK", CostClock(seed=5, steps=(0, 9_000, 15_000, 90_000, 10**8))
    )
    limit = 4 * BIG + 2 * 8192
    rng = random.Random(11)
    with Store(tmp_path, window_bytes=limit, cache_bytes=0) as store:
        table = store.table("t")
        sizes = [rng.choice([BIG, 3 * BIG, PREFETCH_BYTES]) for _ in range(24)]
        table.put_batch([(key_of(i), value_of(i, size)) for i, size in enumerate(sizes)])
        buffer = bytearray(3 * BIG)
        counts = [0] * 24
        for _ in range(600):
            i = min(rng.randrange(24), rng.randrange(24))  # skewed: some values read far more often
            counts[i] += 1
            if rng.random() < 0.8:
                assert table.read_into(key_of(i), buffer) == sizes[i]
                assert buffer[: sizes[i]] == value_of(i, sizes[i])
            else:
                assert table.get(key_of(i)) == value_of(i, sizes[i])
            stats = table.stats()["window"]
            assert stats["mapped_bytes"] <= limit and stats["maps"] <= sum(1 for n in counts if n >= 2)
        stats = table.stats()["window"]
        assert stats["peak_bytes"] <= limit and stats["admitted"] > 0 and stats["deferred"] > 0
        assert stats["hits"] > 0


def _resident(path) -> bool:
    """Whether the first page of ``path`` is in the page cache (a read that would not wait for the disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="no preadv2 RWF_NOWAIT")
def test_a_read_that_missed_the_page_cache_is_admitted_on_the_next(tmp_path, costly_reads):
    """Whatever its time, a first read that had to wait for the disk (``RWF_NOWAIT`` refused it) makes the
    value's next read map it; one out of the page cache, as cheap, does not."""
    costly_reads.step = 1  # every read as cheap as can be: only the page-cache signal can admit
    with Store(tmp_path, window_bytes=1 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(2)])
        table.flush()
        buffer = bytearray(BIG)
        _read_n(table, 1, 2, buffer)  # just written: in the page cache
        assert table.stats()["window"]["maps"] == 0
        _evict(tmp_path / "t")
        if _resident(tmp_path / "t" / "00000000-0.values"):
            pytest.skip("this file system keeps the file in memory (tmpfs)")
        _read_n(table, 0, 1, buffer)
        assert table.stats()["window"]["maps"] == 0  # read once: only remembered
        _read_n(table, 0, 1, buffer)
        stats = table.stats()["window"]
        assert stats["maps"] == 1 and stats["admitted"] == 1


def test_without_rwf_nowait_every_read_is_timed(tmp_path, monkeypatch, costly_reads):
    """A file system that refuses ``RWF_NOWAIT`` (``EOPNOTSUPP``): the read is served whole all the same,
    and from then on every read is timed (one ``preadv`` each)."""
    import errno

    real = os.preadv
    calls: list[tuple[int, ...]] = []

    def preadv(fd, buffers, at, *flags):
        calls.append(flags)
        if flags:
            raise OSError(errno.EOPNOTSUPP, "not supported")
        return real(fd, buffers, at)

    monkeypatch.setattr(os, "preadv", preadv)
    costly_reads.step = 10**9
    with Store(tmp_path, window_bytes=1 << 20) as store:
        table = store.table("t")
        table.put_batch([(key_of(i), value_of(i, BIG)) for i in range(2)])
        buffer = bytearray(BIG)
        _read_n(table, 0, 1, buffer)
        _read_n(table, 1, 1, buffer)
        assert [bool(flags) for flags in calls] == [True, False, False]
        _read_n(table, 0, 2, buffer)  # a costly first read: mapped on the second
        assert len(calls) == 3 and table.stats()["window"]["hits"] == 1

    def failing(fd, buffers, at, *flags):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "preadv", failing)
    with Store(tmp_path / "b", window_bytes=1 << 20) as store:  # any other error is the read's own
        table = store.table("t")
        table.put_batch([(key_of(0), value_of(0, BIG))])
        with pytest.raises(OSError, match="I/O error"):
            table.read_into(key_of(0), buffer)
