"""One writer, many readers: reader threads in the writer's process, and read-only reader processes."""

import random
import threading
import time

from offchain.store import Store
from tests.offchain.store.support import Clock, child, key_of, value_of

SECONDS = 1.5


def test_one_writer_many_reader_threads(tmp_path):
    clock_start = time.monotonic()
    with Store(tmp_path, segment_bytes=200_000, map_window=300_000) as store:
        table = store.table("t", ttl_s=3600)
        written: list[int] = []
        failures: list[str] = []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                table.put_batch([(key_of(j), value_of(j)) for j in range(i, i + 4)])
                written.extend(range(i, i + 4))
                i += 4
                if i % 12 == 0:
                    table.flush()

        def reader(seed):
            rng = random.Random(seed)
            reads = 0
            while not stop.is_set() or reads < 50:
                if not written:
                    continue
                i = written[rng.randrange(len(written))]
                got = table.get(key_of(i))
                if got is None or bytes(got) != value_of(i):
                    failures.append(f"key {i}")
                reads += 1

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(s,)) for s in range(4)
        ]
        for t in threads:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not failures and len(written) > 20
        assert table.key_count() == len(written)
    assert time.monotonic() - clock_start < 30


def test_reader_processes_see_only_whole_values_while_a_writer_runs(tmp_path):
    with Store(tmp_path, segment_bytes=100_000) as store:
        table = store.table("t")
        n = 0
        readers = []
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            table.put_batch([(key_of(i), value_of(i)) for i in range(n, n + 5)])
            n += 5
            if n % 20 == 0:
                table.flush()
            if n % 100 == 0 and len(readers) < 3:
                readers.append(child("reader", str(tmp_path)))
        while len(readers) < 3:
            readers.append(child("reader", str(tmp_path)))
        for proc in readers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert out.startswith("checked ") and int(out.split()[1]) >= 1


def test_readers_race_expiry_and_the_cache(tmp_path):
    clock = Clock()
    with Store(tmp_path, segment_bytes=50_000, cache_bytes=200_000, clock=clock) as store:
        table = store.table("t", ttl_s=10)
        failures: list[str] = []
        stop = threading.Event()
        top = [0]

        def reader(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                i = rng.randrange(top[0] + 1)
                got = table.get(key_of(i))
                if got is not None and bytes(got) != value_of(i):
                    failures.append(f"key {i}")
                buffer = bytearray(70_000)  # values of 20,000 and 70,000 bytes are read with preadv
                n = table.read_into(key_of(i), buffer, verify=seed % 2 == 1)
                if n is not None and buffer[:n] != value_of(i):
                    failures.append(f"key {i} read into a buffer")
                time.sleep(0)  # let the writer run

        threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for i in range(150):
            table.put(key_of(i), value_of(i))
            top[0] = i
            clock.now += 0.5
            if i % 10 == 0:
                table.flush()
                table.gc()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not failures
        assert table.get(key_of(0)) is None and bytes(table.get(key_of(149))) == value_of(149)
