"""The ``eigen`` command.

Each component owns its sub-commands in its own module, which exposes ``register(subparsers)``:
it adds one or more sub-parsers and sets ``func`` on each leaf to a callable taking the parsed
arguments and returning an exit status. This file only wires them together, so components never
edit each other's command code.

Exit status: 0 success, 1 a negative verdict (evidence rejected, verification failed),
2 a usage or input error. Every error is one line on stderr (``eigen: error: Type: message``), never
a traceback: the package's typed errors and the standard library's input errors (an unreadable or
unwritable file, bytes that do not decode, a value out of range) are caught here; argument types
(``offchain/cliargs.py``) check output paths and ranges before any heavy work starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from offchain import __version__
from offchain.errors import EigenError

# The components' modules; a module that is absent (a component not built yet) is skipped.
COMPONENTS: tuple[str, ...] = (
    "offchain.da.cli",  # eigen da encode|verify|recover
    "offchain.compute.cli",  # eigen attest ..., eigen compute ...
    "offchain.ai.cli",  # eigen ai run|verify|serve
    "offchain.store.cli",  # eigen store stats|verify|gc
    "offchain.bls.cli",  # eigen bls keygen|pop|sign|aggregate|verify
    "offchain.chain.cli",  # eigen chain devnet|addresses|abi|operator|avs
    "offchain.agent.cli",  # eigen agent facilitator|pay
    "offchain.rewards.cli",  # eigen rewards root|proof|verify|status|claim
)
# The commands each module registers (tests/offchain/test_cli_smoke.py checks it against their `register`): a command line
# naming one of them builds that module's parser alone: the imports of the other components are spared (a tenth
# of a second idle, more under load), which every DA devnet process and every `eigen` run of the tests paid.
COMMANDS: dict[str, str] = {
    "da": "offchain.da.cli",
    "attest": "offchain.compute.cli",
    "compute": "offchain.compute.cli",
    "ai": "offchain.ai.cli",
    "store": "offchain.store.cli",
    "bls": "offchain.bls.cli",
    "chain": "offchain.chain.cli",
    "agent": "offchain.agent.cli",
    "rewards": "offchain.rewards.cli",
}


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already names its default, or
    there is none to name (a required option, a flag that is off, an unset value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or not action.option_strings
            or action.required
            or any(default is v for v in (None, False, argparse.SUPPRESS))
        ):
            return text
        return f"{text} (default: %(default)s)"


class EigenParser(argparse.ArgumentParser):
    """The parser of ``eigen`` and of every sub-command (``add_subparsers`` builds sub-parsers of the
    parent's class): each option's help shows its default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """A bad command line: one line on stderr (``eigen: error: <command>: <message>``), exit 2;
        ``--help`` shows the usage."""
        self.exit(2, f"eigen: error: {self.prog}: {' '.join(message.split())}\n")


# What a command may raise on bad input that is not yet one of the package's typed errors: a file that
# cannot be read or written, bytes that do not decode, a value out of range, a request too large, a
# document nested too deeply for the standard library's parsers (RecursionError).
INPUT_ERRORS = (OSError, UnicodeError, ValueError, OverflowError, MemoryError, RecursionError)


def build_parser(modules: Sequence[str] = COMPONENTS) -> argparse.ArgumentParser:
    """``eigen``'s parser with the commands of the component ``modules`` (default: all)."""
    parser = EigenParser(prog="eigen", description="Verifiable cloud toolkit.")
    parser.add_argument("--version", action="version", version=f"eigen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for the command line ``argv``: its command's module alone where the first argument names a
    command of :data:`COMMANDS` (the parse is the same: a command's options and errors are its own), else every
    component's (``--help``, ``--version``, an unknown command)."""
    module = COMMANDS.get(argv[0]) if argv else None
    return build_parser((module,)) if module else build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = parser_for(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except (EigenError, *INPUT_ERRORS) as exc:
        print(f"eigen: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (a compiler's or parser's multi-line text is folded)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 2000 else text[:2000] + " ..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
