"""Options and helpers shared by the ``eigen da`` commands (EigenDA and PeerDAS): the backend and
progress-bar options, the progress bar, the FK20 table cache directory, ``--chunks`` ranges, output paths
checked before any heavy work, and :func:`guarded` (an OS or memory error is one line and exit 2)."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from offchain import cliargs, settings
from offchain.backend import BACKENDS
from offchain.da.eigenda.params import NUM_CHUNKS
from offchain.da.errors import DAInputError
from offchain.errors import DAError


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--backend cpu|gpu`` and ``--quiet`` (no progress bar)."""
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="cpu",
        help="array backend: cpu (numpy and the C kernels) or gpu (cupy) (default: cpu)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr (default: shown)")


def progress(total: int, desc: str, quiet: bool) -> Any:
    """A progress bar of ``total`` steps on stderr (disabled by ``--quiet``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=quiet, file=sys.stderr, leave=False)


def table_cache_dir() -> str | None:
    """Where ``encode`` keeps FK20 Toeplitz tables between runs: ``$EIGEN_DA_CACHE``, by default
    ``.cache/da`` in the repository; ``EIGEN_DA_CACHE=off`` keeps them in memory only."""
    return settings.da_table_cache()


def parse_chunks(text: str | None) -> np.ndarray | None:
    """``--chunks``: comma-separated indices and inclusive ranges (``0,5,100-199``), in the given order;
    every index in [0, 8192) and listed once, checked before any range is expanded (so the list never
    holds more than 8,192 indices)."""
    if text is None:
        return None
    parts: list[tuple[int, int]] = []
    try:
        for t in (t.strip() for t in text.split(",")):
            if not t:
                continue
            a, sep, b = t.partition("-")
            lo, hi = (int(a), int(b)) if sep else (int(t), int(t))
            if hi < lo:
                raise ValueError(t)
            parts.append((lo, hi))
    except ValueError as exc:
        raise DAInputError(f"--chunks must be comma-separated integers or ranges a-b: {text!r}") from exc
    if not parts or min(lo for lo, _ in parts) < 0 or max(hi for _, hi in parts) >= NUM_CHUNKS:
        raise DAInputError(f"--chunks must name chunk indices in [0, {NUM_CHUNKS})")
    if sum(hi - lo + 1 for lo, hi in parts) > NUM_CHUNKS:
        raise DAInputError(
            f"--chunks names more than the {NUM_CHUNKS} chunks there are (an index is repeated)"
        )
    idx = np.concatenate([np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in parts])
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        raise DAInputError(f"--chunks lists a chunk twice: {uniq[counts > 1][:10].tolist()}")
    return idx


def output_file(path: str, option: str = "--out", err: type[DAError] = DAInputError) -> Path:
    """An output file path, checked before any work: not a directory, in an existing writable folder."""
    p = Path(path)
    problem = cliargs.output_file_problem(p)
    if problem:
        raise err(f"{option} {problem}")
    return p


def output_dir(path: str, option: str = "--out", err: type[DAError] = DAInputError) -> Path:
    """An output directory, checked before any work: a directory, or creatable (missing folders are
    created, under an existing writable one); nothing is created here."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise err(f"{option} {p} exists and is not a directory")
    base = p
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise err(f"{option} {p}: {base} is not a directory")
    if not os.access(base, os.W_OK):
        raise err(f"{option} {p}: {base} is not writable")
    return p


def check_srs_flags(args: argparse.Namespace) -> None:
    """``--srs`` and ``--insecure-test-srs`` are mutually exclusive."""
    if getattr(args, "srs", None) and getattr(args, "insecure_test_srs", False):
        raise DAInputError("--srs and --insecure-test-srs are mutually exclusive: give one")


def guarded(func: Callable[[argparse.Namespace], int], err: type[DAError] = DAInputError) -> Any:
    """``func`` with an OS error (unreadable input, unwritable output, full disk) or running out of
    memory turned into ``err``: one line on stderr and exit 2 (``offchain/cli.py``), never a traceback."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise err(f"{where}{exc.strerror or exc}") from exc
        except MemoryError as exc:
            raise err("out of memory; use fewer chunks or a smaller blob") from exc

    return run
