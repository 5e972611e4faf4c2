"""What a warm read of a large value costs depends on how its cold read filled the page cache.

Usage: ``python bench/store/bench_folios.py [--size-kib 1024] [--mib 256] [--dir DIR] [--modes ...]``.

Writes ``mib`` MiB of values of ``size-kib`` KiB into a store, and for each mode: evicts the values file from
the page cache, reads a quarter of the values (random, fixed seed) the mode's way (cold), then measures what
re-reading 100 of them costs three ways. The cold modes:

- ``exact``: ``preadv`` of exactly the value through a ``POSIX_FADV_RANDOM`` descriptor (``Table.read_into``);
- ``willneed``: one ``MADV_WILLNEED`` of the value's pages on a ``MADV_RANDOM`` map, then a copy out of the
  map (``Table.get`` of a large value and a copy);
- ``readahead``: ``preadv`` through a descriptor with the kernel's default read-ahead;
- ``maparound``: a copy out of a map without advice (a fault reads around it, as LMDB's map does);
- ``huge``: a copy out of a ``MADV_HUGEPAGE`` map (``huge_maps=True``: a fault that misses reads the aligned
  2 MiB around it into one folio).

For each: the cold MB/s, the read amplification (bytes of the file in the page cache afterwards, from
``fincore``, over the bytes asked for), and the thread CPU time per value (median of 20 passes) of a warm
``preadv`` (and of the whole ``Table.read_into`` call around it: the engine's own cost per read is the
difference), of a copy out of a map whose pages stay mapped (what LMDB's warm reads do, and a bounded
window of maps on a hit), and of a copy out of a map after its pages were dropped (a window's miss: faults
on cached pages), against LMDB's warm read of the same values (a copy out of its map, kept). CPU
time, not wall-clock, so that other jobs on the machine move the figures less.
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
MODES = ("exact", "willneed", "readahead", "maparound", "huge")


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
    locations = [unpack(table._keymap[k])[2:] for k in sample]
    path = table._segments[0].values_paths[0]
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if mode != "readahead":
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    if mode == "willneed":
        mm.madvise(mmap.MADV_RANDOM)
    elif mode == "huge":
        mm.madvise(mmap.MADV_HUGEPAGE)
    view = memoryview(mm)
    sink = memoryview(bytearray(size))
    page = mmap.PAGESIZE
    t0 = time.perf_counter()
    for at, length in locations:
        if mode in ("exact", "readahead"):
            os.preadv(fd, [sink[:length]], at)
            continue
        if mode == "willneed":
            mm.madvise(mmap.MADV_WILLNEED, at - at % page, at + length - (at - at % page))
        sink[:length] = view[at : at + length]
    cold = len(locations) * size / (time.perf_counter() - t0) / 1e6
    mm.madvise(mmap.MADV_DONTNEED)
    resident = _resident(path)
    warm = locations[:100]

    def pread_warm() -> None:
        for at, length in warm:
            os.preadv(fd, [sink[:length]], at)

    warm_keys = sample[:100]
    out = bytearray(size)

    def read_into_warm() -> None:
        """The whole call: the bare ``preadv`` above plus the engine's lookups and checks."""
        for key in warm_keys:
            table.read_into(key, out)

    def copy_warm() -> None:
        for at, length in warm:
            sink[:length] = view[at : at + length]

    def remap_warm() -> None:
        mm.madvise(mmap.MADV_DONTNEED)
        copy_warm()

    env = lmdb.open(str(directory / "lmdb"), map_size=max(4 * count * size, 1 << 30))
    txn = env.begin(buffers=True)
    lmdb_keys = sample[:100]

    def lmdb_warm() -> None:
        for key in lmdb_keys:
            value = txn.get(key)
            sink[: len(value)] = value

    lmdb_warm()  # its pages mapped, as in its warm phase
    per = len(warm)
    ours = _cpu_us(pread_warm, per=per)
    call = _cpu_us(read_into_warm, per=per)
    copy_warm()  # mapped, and kept
    kept = _cpu_us(copy_warm, per=per)
    again = _cpu_us(remap_warm, per=per)
    theirs = _cpu_us(lmdb_warm, per=per)
    amplification = f"{resident / (len(locations) * size):.2f}" if resident is not None else "?"
    txn.abort()
    env.close()
    view.release()
    mm.close()
    os.close(fd)
    store.close()
    return (
        f"{mode:9} cold {cold:6.0f} MB/s  ampl. {amplification:>5}  warm: preadv {ours:6.1f} us"
        f"  read_into {call:6.1f} us"
        f"  kept map {kept:6.1f} us  remapped {again:6.1f} us  LMDB {theirs:6.1f} us"
        f"  (preadv / LMDB {ours / theirs:.2f}x)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--rounds", type=int, default=2, help="times each mode runs (in turn)")
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
        for _ in range(args.rounds):
            for mode in args.modes:
                print(run(mode, directory, size, count), flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
