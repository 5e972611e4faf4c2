"""``eigen store stats | verify | gc DIR``: operator commands for a store (see docs/store.md).

- ``stats DIR [--json]``: keys, value bytes, bytes on disk, segments and TTL of each table (read-only,
  works while a writer has the store open).
- ``verify DIR``: reads every value with its checksum; lists each damaged file and offset; exit 1 if any.
- ``gc DIR [--now SECONDS]``: deletes the expired segments of every table (takes the store's lock, so
  it fails with exit 2 while a writer has the store open).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from offchain import cliargs
from offchain.store import errors as E
from offchain.store.db import META, Store


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the statistics of every table."""
    store = Store(args.dir, readonly=True)
    try:
        stats = store.stats()
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(
        f"store {stats['paths'][0]} ({len(stats['paths'])} path(s)): {stats['keys']} keys, "
        f"{_mib(stats['disk_bytes'])} on disk"
    )
    for name, t in stats["tables"].items():
        ttl = f"ttl {t['ttl_s']:g} s" if t["ttl_s"] else "no ttl"
        print(
            f"  {name}: {t['keys']} keys, {_mib(t['value_bytes'])} of values, {_mib(t['disk_bytes'])} on disk, "
            f"{t['segments']} segment(s), {ttl}"
        )
        for problem in t["problems"]:
            print(f"    problem: {problem}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check every value; exit 1 if anything is damaged."""
    store = Store(args.dir, readonly=True)
    bad = 0
    try:
        for name in store.table_names():
            table = store.table(name)
            problems = table.verify()
            bad += len(problems)
            print(f"{name}: {table.key_count()} keys, {len(problems)} problem(s)")
            for problem in problems:
                print(f"  {type(problem).__name__}: {problem}")
    finally:
        store.close()
    print("ok" if not bad else f"FAILED: {bad} problem(s)")
    return 1 if bad else 0


def cmd_gc(args: argparse.Namespace) -> int:
    """Delete expired segments in every table (of an existing store: gc never creates one)."""
    if not (args.dir / META).is_file():
        raise E.StoreInputError(f"no store at {args.dir}")
    with Store(args.dir) as store:
        for name in store.table_names():
            removed = store.table(name).gc(args.now)
            print(
                f"{name}: removed {removed['segments']} segment(s), {removed['keys']} keys, "
                f"{_mib(removed['value_bytes'])}"
            )
    return 0


def _mib(n: int) -> str:
    """``n`` bytes in MiB, for people."""
    return f"{n / (1 << 20):.1f} MiB"


ACTIONS = {
    "stats": (cmd_stats, "keys, sizes and segments of each table"),
    "verify": (cmd_verify, "check every value's checksum (exit 1 if any is damaged)"),
    "gc": (cmd_gc, "delete the expired segments"),
}


def register(subparsers: Any) -> None:
    """Add ``eigen store`` and its actions to the ``eigen`` command's sub-parsers."""
    store = subparsers.add_parser("store", help="the validators' key-value store: stats, verify, gc")
    store.set_defaults(func=lambda a: (store.print_help(sys.stderr), 2)[1])
    sub = store.add_subparsers(dest="store_command", metavar="ACTION")
    parsers = {}
    for name, (func, text) in ACTIONS.items():
        parsers[name] = sub.add_parser(name, help=text)
        parsers[name].add_argument("dir", type=cliargs.path, help="the store's (primary) directory")
        parsers[name].set_defaults(func=func)
    parsers["stats"].add_argument("--json", action="store_true", help="print JSON")
    parsers["gc"].add_argument(
        "--now", type=cliargs.timestamp, help="the time to expire against (seconds since the epoch)"
    )
