"""Options and helpers shared by the ``eigen da`` commands (EigenDA and PeerDAS): the backend and
progress-bar options, the progress bar, the FK20 table cache directory and ``--chunks`` ranges."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from offchain import settings
from offchain.backend import BACKENDS
from offchain.da.eigenda.params import NUM_CHUNKS
from offchain.da.errors import DAInputError


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``--backend cpu|gpu`` and ``--quiet`` (no progress bar)."""
    p.add_argument("--backend", choices=BACKENDS, default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def progress(total: int, desc: str, quiet: bool) -> Any:
    """A progress bar of ``total`` steps on stderr (disabled by ``--quiet``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=quiet, file=sys.stderr, leave=False)


def table_cache_dir() -> str | None:
    """Where ``encode`` keeps FK20 Toeplitz tables between runs: ``$EIGEN_DA_CACHE``, by default
    ``.cache/da`` in the repository; ``EIGEN_DA_CACHE=off`` keeps them in memory only."""
    return settings.da_table_cache()


def parse_chunks(text: str | None) -> np.ndarray | None:
    """``--chunks``: comma-separated indices and inclusive ranges (``0,5,100-199``), in the given order."""
    if text is None:
        return None
    try:
        parts: list[int] = []
        for t in (t.strip() for t in text.split(",")):
            if not t:
                continue
            a, sep, b = t.partition("-")
            if sep and int(b) < int(a):
                raise ValueError(t)
            parts.extend(range(int(a), int(b) + 1) if sep else [int(t)])
        idx = np.array(parts, dtype=np.int64)
    except ValueError as exc:
        raise DAInputError(f"--chunks must be comma-separated integers or ranges a-b: {text!r}") from exc
    if idx.size == 0 or idx.min() < 0 or idx.max() >= NUM_CHUNKS:
        raise DAInputError(f"--chunks must name chunk indices in [0, {NUM_CHUNKS})")
    return idx
