"""The validators' storage workload on offchain.store and on LMDB, RocksDB and LevelDB, side by side.

Usage: ``python bench/store/bench_store.py [--scale 1] [--reps 1] [--dir DIR] [--engines ...]``.

For each value size (4 KiB, 64 KiB, 1 MiB) and each engine, a fresh child process (so its peak RSS is its
own) writes ``scale`` x (32, 64, 128) MiB of values under 32-byte keys in batches of 4 MiB, each batch made
durable before the next (fsync: ``flush``, a synced LMDB commit, a ``sync=True`` RocksDB/LevelDB write
batch); reads ``reads`` keys at random right away (fresh: the page cache as the writes left it); closes,
evicts the engine's files from the page cache (``posix_fadvise(DONTNEED)``), reopens and reads the same
keys (cold: its disk reads too, from ``/proc/self/io``, over the distinct value bytes asked: the read
amplification of a miss), then again in the same process (warm: an engine that keeps its maps or caches reads them from
there), then again after closing and reopening the engine (reopened: from the page cache, with no mapping
or cache of the process left). Each read puts the value into a send buffer, each engine its fastest way
(see ``read`` below): every byte of every value is copied in the timed part. Fresh, warm and reopened run
``PASSES`` passes, the median pass is kept (MB/s on the wall clock and on the thread's CPU time, p99).
Then everything expires (our TTL GC; the peers delete every key). Memory: the child's peak RSS (its
high-water mark) and, split out of it, the highest anonymous and file-backed resident memory sampled after
each batch and pass (pages of a map are page cache, file RSS; allocations are anonymous). ``raw`` writes the same bytes to one file
with ``write`` and ``fdatasync`` per batch: the physical limit of the disk. ``--baseline CHECKOUT`` adds the
engine ``baseline``: ``eigen`` run on another checkout (``baseline-view``: ``eigen-view`` there), for a before/after
comparison in one run.
Peers are installed from PyPI on demand (``lmdb``, ``rocksdict``, ``plyvel``); the engine itself needs none.

Engines run in turn (the order rotates each repetition, after a ``sync``). Prints medians (over ``--reps``)
and ratios against the best peer, and writes
``bench/results/store-<disk|shm>-<host>.json`` with the machine recorded. Fixed seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIZES = {"4KiB": 4 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}
VOLUME_MIB = {"4KiB": 32, "64KiB": 64, "1MiB": 128}
BATCH_BYTES = 4 << 20
PEERS = {"lmdb": "lmdb", "rocksdb": "rocksdict", "leveldb": "plyvel"}
WINDOWS = {"eigen-nowindow": 0, "eigen-w32": 32, "eigen-w128": 128}  # read_into, another map window (MiB)
OURS = [
    "eigen",
    "eigen-view",
    "eigen-uncached",
    "eigen-huge",
    "eigen-untrimmed",
    *WINDOWS,
    "baseline",
    "baseline-view",
]
ENGINES = ["raw", *OURS, *PEERS]
DEFAULT_ENGINES = ["raw", "eigen", "eigen-view", *PEERS]


# ---- the engines, one class each: open, write_batch (durable on return), read, expire_all, close ---------
#
# ``read(key, sink)`` puts the value into the send buffer ``sink`` and returns its length, with the engine's
# fastest way to do it: one copy out of the engine's view (LMDB, our ``get``) or out of the bytes it returns
# (RocksDB, LevelDB: their copy plus this one), or the engine copying it there itself (our ``read_into``).
# Every byte of every value is copied in the timed part, whatever the engine: a view that nobody reads would
# cost nothing and move its page faults out of the measure.


class Eigen:
    """offchain.store with its defaults, served with ``read_into`` (large values by ``preadv``)."""

    def __init__(self, path: Path, total: int = 0) -> None:
        from offchain.store import Store

        self.store = Store(path)
        self.table = self.store.table("chunks", ttl_s=3600)

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        self.table.put_batch(items)
        self.table.flush()

    def read(self, key: bytes, sink: bytearray) -> int:
        return self.table.read_into(key, sink)

    def expire_all(self) -> None:
        self.table.gc(time.time() + 7200)

    def close(self) -> None:
        self.store.close()


class EigenView(Eigen):
    """offchain.store with its defaults, served with ``get`` (a view into the map) and one copy of it."""

    def read(self, key: bytes, sink: bytearray) -> int:
        return _copy(self.table.get(key), sink)


class Baseline(Eigen):
    """``eigen`` (``read_into``) run on the checkout given by ``--baseline`` (a before/after comparison in one
    run)."""


class BaselineView(EigenView):
    """``eigen-view`` (``get`` and one copy) run on the checkout given by ``--baseline``."""


class EigenUncached(Eigen):
    """offchain.store with ``cache_bytes=0``: every read is a ``preadv`` of the values file (what the default
    LRU of small values saves)."""

    def __init__(self, path: Path, total: int = 0) -> None:
        from offchain.store import Store

        self.store = Store(path, cache_bytes=0)
        self.table = self.store.table("chunks", ttl_s=3600)


class EigenUntrimmed(EigenView):
    """offchain.store with ``map_window=None`` and no map window: mapped pages are never dropped (faster warm
    reads of large values, resident memory grows with the data read, as LMDB's)."""

    def __init__(self, path: Path, total: int = 0) -> None:
        from offchain.store import Store

        self.store = Store(path, map_window=None, window_bytes=0)
        self.table = self.store.table("chunks", ttl_s=3600)


class EigenHuge(EigenView):
    """offchain.store with ``huge_maps=True``: huge-page maps, large values populated in one call (a cold
    miss reads the aligned 2 MiB around it; warm re-reads map in one fault each, with trimming on)."""

    def __init__(self, path: Path, total: int = 0) -> None:
        from offchain.store import Store

        self.store = Store(path, huge_maps=True)
        self.table = self.store.table("chunks", ttl_s=3600)


def _windowed(name: str, mib: int) -> type:
    """``eigen`` (``read_into``) with a map window of ``mib`` MiB (0: none, every large read a ``preadv``)."""

    def __init__(self: Eigen, path: Path, total: int = 0) -> None:
        from offchain.store import Store

        self.store = Store(path, window_bytes=mib << 20)
        self.table = self.store.table("chunks", ttl_s=3600)

    return type(name, (Eigen,), {"__init__": __init__, "__doc__": _windowed.__doc__})


class Lmdb:
    """LMDB, synced commits, zero-copy reads (``buffers=True``) inside one read transaction."""

    def __init__(self, path: Path, total: int = 0) -> None:
        import lmdb

        self.env = lmdb.open(str(path), map_size=max(4 * total, 1 << 30), sync=True, metasync=True)
        self.txn = None

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        with self.env.begin(write=True) as txn:
            for k, v in items:
                txn.put(k, v)

    def read(self, key: bytes, sink: bytearray) -> int:
        if self.txn is None:
            self.txn = self.env.begin(buffers=True)
        return _copy(self.txn.get(key), sink)

    def expire_all(self) -> None:
        self._end_read()
        with self.env.begin(write=True) as txn:
            txn.drop(self.env.open_db(), delete=False)

    def _end_read(self) -> None:
        if self.txn is not None:
            self.txn.abort()
            self.txn = None

    def close(self) -> None:
        self._end_read()
        self.env.close()


class Rocks:
    """RocksDB through rocksdict (raw bytes mode), synced write batches, default options."""

    def __init__(self, path: Path, total: int = 0) -> None:
        from rocksdict import Options, Rdict, WriteOptions

        self.db = Rdict(str(path), options=Options(raw_mode=True))
        self.sync = WriteOptions()
        self.sync.sync = True

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for k, v in items:
            batch.put(k, v)
        self.db.write(batch, self.sync)

    def read(self, key: bytes, sink: bytearray) -> int:
        return _copy(self.db.get(key), sink)

    def expire_all(self) -> None:
        self.db.delete_range(b"\x00" * 32, b"\xff" * 33)
        self.db.flush()

    def close(self) -> None:
        self.db.close()


class Level:
    """LevelDB through plyvel, synced write batches, default options."""

    def __init__(self, path: Path, total: int = 0) -> None:
        import plyvel

        self.db = plyvel.DB(str(path), create_if_missing=True)

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch(sync=True) as batch:
            for k, v in items:
                batch.put(k, v)

    def read(self, key: bytes, sink: bytearray) -> int:
        return _copy(self.db.get(key), sink)

    def expire_all(self) -> None:
        with self.db.write_batch(sync=True) as batch:
            for k, _ in self.db:
                batch.delete(k)

    def close(self) -> None:
        self.db.close()


class Raw:
    """The physical limit: the same bytes appended to one file, ``write`` + ``fdatasync`` per batch."""

    def __init__(self, path: Path, total: int = 0) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        for _, v in items:
            os.write(self.fd, v)
        os.fdatasync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


CLASSES = {
    "eigen": Eigen,
    "eigen-view": EigenView,
    "baseline": Baseline,
    "baseline-view": BaselineView,
    "eigen-uncached": EigenUncached,
    "eigen-huge": EigenHuge,
    "eigen-untrimmed": EigenUntrimmed,
    **{name: _windowed(name, mib) for name, mib in WINDOWS.items()},
    "lmdb": Lmdb,
    "rocksdb": Rocks,
    "leveldb": Level,
    "raw": Raw,
}


# ---- one run (in a child process) -----------------------------------------------------------------------


def _key(size: int, i: int) -> bytes:
    """The 32-byte key of value ``i`` (like a chunk's hash)."""
    return hashlib.sha256(b"%d/%d" % (size, i)).digest()


def _batch(block: bytes, size: int, start: int, stop: int) -> list[tuple[bytes, bytes]]:
    """Values ``start`` .. ``stop - 1``: incompressible (a random block at a shifting offset)."""
    return [(_key(size, i), block[i % 4096 : i % 4096 + size]) for i in range(start, stop)]


def _evict(path: Path) -> None:
    """Drop the files under ``path`` from the page cache (they are all synced)."""
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


SINK = bytearray(max(SIZES.values()))


def _copy(value: Any, sink: bytearray) -> int:
    """Copy a value an engine handed out (a view into its files or bytes of its own) into the send buffer:
    one copy, through a memoryview (a bytearray's slice assignment from any other object copies twice)."""
    n = len(value)
    memoryview(sink)[:n] = value
    return n


def _du(path: Path) -> int:
    """Bytes allocated on disk under ``path``."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def _rss_kib() -> int:
    """Peak resident set size of this process so far (KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


_PEAK_KIB = {"RssAnon": 0, "RssFile": 0}


def _sample_rss() -> None:
    """Keep the highest anonymous (``RssAnon``: the engine's own allocations, the interpreter's) and
    file-backed (``RssFile``: mapped pages of files, page cache that a map holds) resident memory seen in
    ``/proc/self/status``. Sampled after each written batch and each read pass, outside the timed part, so a
    peak between two samples can be missed; ``ru_maxrss`` (peak RSS) is the true high-water mark of all of
    it together."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                name = line.split(":", 1)[0]
                if name in _PEAK_KIB:
                    _PEAK_KIB[name] = max(_PEAK_KIB[name], int(line.split()[1]))
    except (OSError, ValueError, IndexError):
        pass


def _disk_read_bytes() -> int | None:
    """Bytes this process (all its threads) has caused to be read from storage (``read_bytes`` of
    ``/proc/self/io``: page-cache misses, read-ahead and faults included, hits not), or ``None`` without it."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("read_bytes:"))
    except (OSError, StopIteration, ValueError):
        return None


def _read_phase(
    out: dict[str, Any],
    phase: str,
    db: Any,
    engine: str,
    directory: Path,
    keys: list[bytes],
    size: int,
    passes: int,
    total: int,
) -> Any:
    """Read ``keys`` in ``passes`` passes (each reopening the engine first for ``reopened``); record the median
    pass's MB/s (wall clock and the thread's CPU time) and p99 latency in ``out``; the engine, open."""
    rates, cpu_rates, p99s = [], [], []
    disk0 = _disk_read_bytes()
    for _ in range(passes):
        if phase == "reopened":  # the page cache warm, the process not: a restart or a new reader
            db.close()
            db = CLASSES[engine](directory, total)
        lat = []
        read = db.read
        c0 = time.thread_time()
        t0 = time.perf_counter()
        for k in keys:
            s = time.perf_counter_ns()
            if read(k, SINK) != size:
                raise AssertionError(f"{engine}: a value of the wrong size")
            lat.append(time.perf_counter_ns() - s)
        rates.append(len(keys) * size / (time.perf_counter() - t0) / 1e6)
        cpu_rates.append(len(keys) * size / max(time.thread_time() - c0, 1e-9) / 1e6)
        p99s.append(statistics.quantiles(lat, n=100)[98] / 1000)
        _sample_rss()
    out[f"read_{phase}_MBps"] = statistics.median(rates)
    out[f"read_{phase}_cpu_MBps"] = statistics.median(cpu_rates)
    out[f"read_{phase}_p99_us"] = statistics.median(p99s)
    disk1 = _disk_read_bytes()
    if phase == "cold" and disk0 is not None and disk1 is not None:  # what the misses cost the disk
        out["read_cold_disk_MiB"] = (disk1 - disk0) / (1 << 20)
        out["read_cold_ampl"] = (disk1 - disk0) / (len(set(keys)) * size)  # over the distinct bytes asked
    return db


PASSES = 3  # fresh, warm and reopened passes per run (each its own MB/s and p99; the medians are kept)


def run_one(
    engine: str, size_name: str, directory: Path, scale: float, reads: int, passes: int = PASSES
) -> dict[str, Any]:
    """Write, read (fresh, cold, warm, reopened) and expire one engine's data set; the figures."""
    size = SIZES[size_name]
    count = max(1, int(VOLUME_MIB[size_name] * scale * (1 << 20)) // size)
    block = random.Random(size).randbytes(size + 4096)
    per_batch = max(1, BATCH_BYTES // size)
    baseline = _rss_kib()
    db = CLASSES[engine](directory, count * size)
    write_s = 0.0
    for i in range(0, count, per_batch):
        items = _batch(block, size, i, min(count, i + per_batch))  # made outside the timed part
        t0 = time.perf_counter()
        db.write_batch(items)
        write_s += time.perf_counter() - t0
        _sample_rss()
    del items
    out: dict[str, Any] = {
        "engine": engine,
        "size": size_name,
        "values": count,
        "value_bytes": count * size,
        "write_MBps": count * size / write_s / 1e6,
    }
    if engine == "raw":
        db.close()
        return out
    rng = random.Random(7)
    keys = [_key(size, rng.randrange(count)) for _ in range(reads)]
    db = _read_phase(
        out, "fresh", db, engine, directory, keys, size, passes, count * size
    )  # just written: served at once
    db.close()
    out["disk_bytes"] = _du(directory)
    out["space_amplification"] = out["disk_bytes"] / (count * (size + 32))
    _evict(directory)  # a restart: closed, out of the page cache, opened again
    t0 = time.perf_counter()
    db = CLASSES[engine](directory, count * size)
    out["open_s"] = time.perf_counter() - t0
    db = _read_phase(
        out, "cold", db, engine, directory, keys, size, 1, count * size
    )  # a cold pass needs an evicted cache
    db = _read_phase(out, "warm", db, engine, directory, keys, size, passes, count * size)
    db = _read_phase(out, "reopened", db, engine, directory, keys, size, passes, count * size)
    t0 = time.perf_counter()
    db.expire_all()
    out["expire_s"] = time.perf_counter() - t0
    db.close()
    out["peak_rss_MiB"] = _rss_kib() / 1024
    out["engine_rss_MiB"] = (_rss_kib() - baseline) / 1024
    out["peak_anon_MiB"] = _PEAK_KIB["RssAnon"] / 1024
    out["peak_file_MiB"] = _PEAK_KIB["RssFile"] / 1024
    out["load_1min"] = os.getloadavg()[0]  # the shared machine's load as the run ends
    return out


# ---- the driver -------------------------------------------------------------------------------------------


def ensure_peers(engines: list[str]) -> None:
    """Install the peers' Python packages into this interpreter's environment if they are missing."""
    for engine in engines:
        module = PEERS.get(engine)
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            print(
                f"bench_store: {module} is missing; installing it from PyPI for the bench only "
                f"({sys.executable} -m pip install {module})",
                file=sys.stderr,
            )
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", module], check=True)


def child_run(
    engine: str, size_name: str, base: Path, scale: float, reads: int, baseline: Path | None = None
) -> dict[str, Any]:
    """Run one engine on one value size in a fresh process, in a fresh directory under ``base``
    (``baseline``: the checkout whose ``offchain`` the ``baseline`` engine imports)."""
    directory = Path(tempfile.mkdtemp(prefix=f"{engine}-{size_name}-", dir=base))
    try:
        cmd = [sys.executable, __file__, "--child", engine, size_name, str(directory), str(scale), str(reads)]
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(baseline if engine.startswith("baseline") else ROOT)},
        )
        if done.returncode != 0:
            raise RuntimeError(f"{engine} {size_name} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def machine(base: Path) -> dict[str, Any]:
    """Where the figures come from."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "dir": str(base),
    }
    try:
        info["filesystem"] = subprocess.run(
            ["df", "-T", str(base)], capture_output=True, text=True
        ).stdout.split("\n")[1]
    except (OSError, IndexError):
        pass
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    return info


METRICS = [
    ("write_MBps", "write MB/s", max),
    ("read_fresh_MBps", "fresh read MB/s", max),
    ("read_fresh_p99_us", "fresh p99 us", min),
    ("read_fresh_cpu_MBps", "fresh MB/CPU-s", max),
    ("read_cold_MBps", "cold read MB/s", max),
    ("read_warm_MBps", "warm read MB/s", max),
    ("read_cold_p99_us", "cold p99 us", min),
    ("read_cold_disk_MiB", "cold disk read MiB", min),
    ("read_cold_ampl", "cold read ampl.", min),
    ("read_warm_p99_us", "warm p99 us", min),
    ("read_reopened_MBps", "reopened read MB/s", max),
    ("read_warm_cpu_MBps", "warm MB/CPU-s", max),
    ("read_reopened_cpu_MBps", "reopened MB/CPU-s", max),
    ("read_reopened_p99_us", "reopened p99 us", min),
    ("peak_rss_MiB", "peak RSS MiB", min),
    ("peak_anon_MiB", "anon RSS MiB (sampled)", min),
    ("peak_file_MiB", "file RSS MiB (sampled)", min),
    ("space_amplification", "space ampl.", min),
    ("open_s", "open s", min),
    ("expire_s", "expire s", min),
]


def summarise(runs: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    """Medians per (size, engine) and each metric's ratio to the best peer."""
    summary: dict[str, Any] = {}
    for size_name in SIZES:
        by_engine = {}
        for engine in engines:
            rows = [r for r in runs if r["engine"] == engine and r["size"] == size_name]
            if rows:
                by_engine[engine] = {
                    k: statistics.median(r[k] for r in rows)
                    for k in rows[0]
                    if isinstance(rows[0][k], (int, float))
                }
        summary[size_name] = by_engine
        peers = [e for e in by_engine if e in PEERS]
        for name in OURS:
            ours = by_engine.get(name)
            if not ours or not peers:
                continue
            ratios = {}
            for key, _, best in METRICS:
                if key in ours:
                    ref = best(by_engine[e][key] for e in peers)
                    ratios[key] = ours[key] / ref if ref else None
            if "raw" in by_engine:
                ratios["write_vs_raw"] = ours["write_MBps"] / by_engine["raw"]["write_MBps"]
            by_engine[f"{name}_vs_best_peer"] = ratios
    return summary


def print_table(summary: dict[str, Any], engines: list[str]) -> None:
    """One table per value size: engines in columns, metrics in rows, then our ratios."""
    for size_name, by_engine in summary.items():
        cols = [e for e in engines if e in by_engine]
        print(f"\n== {size_name} values ==")
        print(f"{'':22}" + "".join(f"{e:>16}" for e in cols))
        for key, label, _ in METRICS:
            cells = [f"{by_engine[e][key]:16.1f}" if key in by_engine[e] else f"{'-':>16}" for e in cols]
            print(f"{label:22}" + "".join(cells))
        for name in OURS:
            ratios = by_engine.get(f"{name}_vs_best_peer", {})
            if ratios:
                print(
                    f"{name} / best peer: "
                    + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items() if v is not None)
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="data set multiplier (default 32/64/128 MiB)"
    )
    parser.add_argument("--reads", type=int, default=1000, help="random reads per phase")
    parser.add_argument("--reps", type=int, default=1, help="repetitions (medians are reported)")
    parser.add_argument("--dir", type=Path, default=None, help="file system to test (default: a temp dir)")
    parser.add_argument("--engines", nargs="+", default=DEFAULT_ENGINES, choices=ENGINES)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout to run as the engine `baseline` (before/after)",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, size_name, directory, scale, reads = args.child
        if engine.startswith("baseline"):  # import offchain from the baseline checkout, not this one
            sys.path.insert(0, os.environ["PYTHONPATH"])
        print(json.dumps(run_one(engine, size_name, Path(directory), float(scale), int(reads))))
        return 0
    if {"baseline", "baseline-view"} & set(args.engines) and args.baseline is None:
        parser.error("the engines `baseline` and `baseline-view` need --baseline CHECKOUT")
    if args.baseline is not None and not {"baseline", "baseline-view"} & set(args.engines):
        args.engines.append("baseline")
    ensure_peers(args.engines)
    base = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    runs = []
    try:
        for rep in range(args.reps):
            for size_name in args.sizes:
                shift = rep % len(args.engines)  # each engine takes each place in the order in turn
                for engine in args.engines[shift:] + args.engines[:shift]:
                    os.sync()  # start every run on a settled disk: no writeback of the previous run
                    time.sleep(0.5)
                    row = child_run(engine, size_name, base, args.scale, args.reads, args.baseline)
                    row["rep"] = rep
                    runs.append(row)
                    print(f"{engine:8} {size_name:6} write {row['write_MBps']:8.1f} MB/s", file=sys.stderr)
    finally:
        info = machine(base)
        shutil.rmtree(base, ignore_errors=True)
    summary = summarise(runs, args.engines)
    print_table(summary, args.engines)
    loads = sorted(r["load_1min"] for r in runs if "load_1min" in r)
    if loads:
        print(
            f"\nload average (1 min) at the end of the runs: {loads[0]:.1f} to {loads[-1]:.1f}, median "
            f"{statistics.median(loads):.1f}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    fs = "shm" if str(base).startswith("/dev/shm") else "disk"
    path = args.out / f"store-{fs}-{socket.gethostname()}.json"
    path.write_text(
        json.dumps(
            {
                "machine": info,
                "args": {"scale": args.scale, "reads": args.reads, "reps": args.reps},
                "runs": runs,
                "summary": summary,
            },
            indent=1,
        )
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
