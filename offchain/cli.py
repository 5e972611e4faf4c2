"""The ``eigen`` command.

Each component owns its sub-commands in its own module, which exposes ``register(subparsers)``:
it adds one or more sub-parsers and sets ``func`` on each leaf to a callable taking the parsed
arguments and returning an exit status. This file only wires them together, so components never
edit each other's command code.

Exit status: 0 success, 1 a negative verdict (evidence rejected, verification failed),
2 a usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from offchain import __version__
from offchain.errors import EigenError

# (module, description). A module that is absent (a component not built yet) is skipped.
COMPONENTS: tuple[str, ...] = (
    "offchain.da.cli",  # eigen da encode|verify|recover
    "offchain.compute.cli",  # eigen attest ..., eigen compute ...
    "offchain.ai.cli",  # eigen ai run|verify|serve
    "offchain.chain.cli",  # eigen chain devnet|addresses|abi|operator|avs
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eigen", description="Verifiable cloud toolkit.")
    parser.add_argument("--version", action="version", version=f"eigen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMPONENTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except EigenError as exc:
        print(f"eigen: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
