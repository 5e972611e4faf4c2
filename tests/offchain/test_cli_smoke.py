"""The eigen command wires its components and reports usage errors with status 2."""

import argparse
import importlib
import subprocess
import sys

import pytest

from offchain import cli, cliargs
from offchain.cli import COMPONENTS, build_parser, main
from tests.support import VECTORS


def test_help_lists_commands(capsys):
    assert main([]) == 2


def test_every_component_exists():
    for name in COMPONENTS:  # build_parser skips an absent module: a stale entry would go unnoticed
        assert callable(importlib.import_module(name).register)


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "eigen" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "offchain.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("eigen ")


def test_vectors_path_points_beside_project():
    assert VECTORS.name == "vectors" and VECTORS.parent.name == "shared"


@pytest.mark.parametrize(
    "exc",
    [
        IsADirectoryError(21, "Is a directory", "/tmp"),
        PermissionError(13, "Permission denied", "/root/x"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        ValueError("line one\nline two"),
        OverflowError("too big"),
        MemoryError("cannot allocate"),
    ],
)
def test_input_errors_are_one_line_and_exit_2(exc, capsys, monkeypatch):
    """Whatever a command raises on bad input ends as one line on stderr and exit 2, no traceback."""
    parser = build_parser()

    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=boom)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"eigen: error: {type(exc).__name__}: ")


def test_a_programming_error_is_not_swallowed(monkeypatch):
    parser = build_parser()
    parser.set_defaults(func=lambda args: [][1])
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    with pytest.raises(IndexError):
        main([])


def test_cli_argument_types():
    assert cliargs.port("0") == 0 and cliargs.port("65535") == 65535
    assert cliargs.uint(8)("0xff") == 255
    for bad in ("65536", "-1", "80a"):
        with pytest.raises(argparse.ArgumentTypeError):
            cliargs.port(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.uint(8)("256")


def test_output_file_is_checked(tmp_path):
    assert cliargs.output_file(str(tmp_path / "new.json")) == tmp_path / "new.json"
    for bad in (str(tmp_path), str(tmp_path / "missing" / "x.json")):
        with pytest.raises(argparse.ArgumentTypeError):
            cliargs.output_file(bad)


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["ai", "run", "--help"])
    out = capsys.readouterr().out
    assert "(default: 64)" in out and "(default: cpu)" in out and "(default: None)" not in out


def _parsers(parser, path=("eigen",)):
    """Every parser of the command tree, with its path."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    missing = [
        (" ".join(path), a.option_strings or a.dest)
        for path, parser in _parsers(build_parser())
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction)
        and not (a.help and a.help.strip())
    ]
    assert missing == []
