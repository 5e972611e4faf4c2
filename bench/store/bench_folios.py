"""What a warm ``pread`` costs depends on how the page cache was filled: exact random reads against huge pages.

Usage: ``python bench/store/bench_folios.py [--size-kib 1024] [--mib 256] [--dir DIR]``.

Writes ``mib`` MiB of values of ``size-kib`` KiB into a store, evicts its values file from the page cache,
then reads a quarter of the values (random, fixed seed) in one of two ways and reports, for each:

- ``exact``: ``preadv`` of exactly the value through a ``POSIX_FADV_RANDOM`` descriptor (what
  ``Table.read_into`` does): the kernel reads the value's pages and nothing else, into 4 KiB folios;
- ``huge``: a fault in a ``MADV_HUGEPAGE`` map of each 2 MiB block the value touches, then the same
  ``preadv`` (what ``huge_maps=True`` leads to): each fault reads the whole aligned 2 MiB into one folio.

For each: the cold MB/s, the read amplification (bytes resident in the page cache afterwards, from
``fincore``, over the bytes asked for) and the thread CPU time of a warm ``preadv`` of 100 of the values
(median of 20 passes), against LMDB's warm read of the same values (a copy out of its map, which stays
mapped). CPU time, not wall-clock, so that other jobs on the machine move the figures less.
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HUGE = 2 << 20


def _cpu_us(fn, passes: int = 20, per: int = 100) -> float:
    """Median thread CPU time of ``fn()`` per item, in microseconds."""
    times = []
    for _ in range(passes):
        t0 = time.thread_time_ns()
        fn()
        times.append((time.thread_time_ns() - t0) / per / 1000)
    return statistics.median(times)


def _resident(path: Path) -> int | None:
    """Bytes of ``path`` in the page cache (``fincore``), or ``None`` without it."""
    try:
        out = subprocess.run(["fincore", "-b", "-n", "-o", "RES", str(path)], capture_output=True, text=True)
        return int(out.stdout.split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run(mode: str, directory: Path, size: int, count: int) -> str:
    import lmdb

    from offchain.store import Store
    from offchain.store.recovery import unpack

    store = Store(directory / "store")
    table = store.table("t")
    keys = [b"%032d" % i for i in range(count)]
    sample = random.Random(3).sample(keys, max(1, count // 4))
    locations = [unpack(table._keymap[k]) for k in sample]
    path = table._segments[0].values_paths[0]
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    mm.madvise(mmap.MADV_RANDOM)
    if mode == "huge":
        mm.madvise(mmap.MADV_HUGEPAGE)
    sink = memoryview(bytearray(size))
    t0 = time.perf_counter()
    for _, _, at, length in locations:
        if mode == "huge":
            for block in range(at // HUGE, (at + length - 1) // HUGE + 1):
                mm[max(at, block * HUGE)]
        os.preadv(fd, [sink[:length]], at)
    cold = len(locations) * size / (time.perf_counter() - t0) / 1e6
    mm.madvise(mmap.MADV_DONTNEED)
    resident = _resident(path)
    warm = locations[:100]

    def pread_warm() -> None:
        for _, _, at, length in warm:
            os.preadv(fd, [sink[:length]], at)

    env = lmdb.open(str(directory / "lmdb"), map_size=max(4 * count * size, 1 << 30))
    txn = env.begin(buffers=True)
    lmdb_keys = sample[:100]

    def lmdb_warm() -> None:
        for key in lmdb_keys:
            value = txn.get(key)
            sink[: len(value)] = value

    lmdb_warm()  # its pages mapped, as in its warm phase
    ours, theirs = _cpu_us(pread_warm), _cpu_us(lmdb_warm)
    amplification = f"{resident / (len(locations) * size):.2f}" if resident is not None else "?"
    txn.abort()
    env.close()
    store.close()
    return (
        f"{mode:6} cold {cold:7.0f} MB/s  read amplification {amplification}  warm preadv {ours:7.1f} us"
        f"  LMDB warm {theirs:7.1f} us (CPU per value; ours / LMDB's cost {ours / theirs:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    import lmdb

    from offchain.store import Store

    size = args.size_kib << 10
    count = max(4, (args.mib << 20) // size)
    directory = Path(tempfile.mkdtemp(prefix="bench-folios-", dir=args.dir))
    try:
        block = random.Random(size).randbytes(size + 4096)
        values = [(b"%032d" % i, block[i % 4096 : i % 4096 + size]) for i in range(count)]
        with Store(directory / "store") as store:
            table = store.table("t")
            for i in range(0, count, max(1, (4 << 20) // size)):
                table.put_batch(values[i : i + max(1, (4 << 20) // size)])
        env = lmdb.open(str(directory / "lmdb"), map_size=max(4 * count * size, 1 << 30))
        with env.begin(write=True) as txn:
            for key, value in values:
                txn.put(key, value)
        env.close()
        for mode in ("exact", "huge", "exact", "huge"):
            print(run(mode, directory, size, count), flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
