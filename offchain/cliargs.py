"""Argument types shared by every ``eigen`` sub-command: checked when the command line is parsed, so
a bad value is one line and exit 2 before any heavy work (never after it, losing a result)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path


def output_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written as a file (None when it can): a directory, a missing or
    read-only folder, something other than a regular file, or a read-only file."""
    if path.is_dir():
        return f"{path} is a directory, not a file"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"{path}: folder {folder} does not exist"
    if path.exists() and not path.is_file():
        return f"{path} exists and is not a regular file"
    if not os.access(folder, os.W_OK):
        return f"{path}: folder {folder} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} exists and is not writable"
    return None


def _checked(text: str, problem_of: Callable[[Path], str | None]) -> Path:
    path = Path(text)
    problem = problem_of(path)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return path


def output_file(text: str) -> Path:
    """An argparse type: a file the command will write (see :func:`output_file_problem`)."""
    return _checked(text, output_file_problem)


def _decimal(text: str, what: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = _decimal(text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def uint(bits: int):
    """An argparse type for an unsigned integer below ``2**bits`` (decimal or 0x-hex)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not 0 <= value < 1 << bits:
            raise argparse.ArgumentTypeError(f"must be in [0, 2^{bits}), got {value}")
        return value

    parse.__name__ = f"uint{bits}"
    return parse


def path(text: str) -> Path:
    """An argparse type: a path, never the empty string (which would silently mean the current
    directory, as an unset shell variable does)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (use . for the current directory)")
    return Path(text)


def timestamp(text: str) -> float:
    """An argparse type: seconds since the epoch, a finite non-negative number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (decimal)."""
    value = _decimal(text, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def input_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (None when it can): empty, missing, not a regular
    file, or unreadable."""
    checks = (
        (lambda: not str(path), "an empty path"),
        (lambda: not path.exists(), f"{path} does not exist"),
        (lambda: not path.is_file(), f"{path} is not a regular file"),
        (lambda: not os.access(path, os.R_OK), f"{path} is not readable"),
    )
    return next((why for failed, why in checks if failed()), None)


def input_file(text: str) -> Path:
    """An argparse type: a file the command will read (see :func:`input_file_problem`)."""
    return _checked(text, input_file_problem)


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 to 30 days."""
    value = timestamp(text)
    if value > 30 * 86_400:
        raise argparse.ArgumentTypeError(f"must be at most 2592000 seconds (30 days), got {text!r}")
    return value
