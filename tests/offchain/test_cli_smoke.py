"""The eigen command wires its components and reports usage errors with status 2."""

import argparse
import importlib
import subprocess
import sys

import pytest

from offchain import cli, cliargs
from offchain.cli import COMMANDS, COMPONENTS, build_parser, main, parser_for
from tests.support import VECTORS


def test_help_lists_commands(capsys):
    assert main([]) == 2


def test_every_component_exists():
    for name in COMPONENTS:  # build_parser skips an absent module: a stale entry would go unnoticed
        assert callable(importlib.import_module(name).register)


def test_each_command_is_built_from_its_own_module():
    """COMMANDS names, for every command, the module that registers it: a command line naming it builds that
    module's parser alone, with the same sub-commands and options as the whole tree's."""
    whole = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert sorted(COMMANDS) == sorted(whole) and set(COMMANDS.values()) == set(COMPONENTS)
    for command, module in COMMANDS.items():
        alone = parser_for([command, "--help"])
        sub = next(a for a in alone._actions if isinstance(a, argparse._SubParsersAction)).choices
        assert set(sub) == {c for c, m in COMMANDS.items() if m == module}
        assert [p for p, _ in _parsers(sub[command], (command,))] == [
            p for p, _ in _parsers(whole[command], (command,))
        ]
    # anything else (no command, an option first, an unknown command) gets every component's parser
    for argv in ([], ["--version"], ["nope"]):
        chosen = next(a for a in parser_for(argv)._actions if isinstance(a, argparse._SubParsersAction))
        assert set(chosen.choices) == set(whole)


def test_an_unknown_command_is_refused_with_every_command_named(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'nope'" in err
    assert all(f"'{c}'" in err for c in COMMANDS)


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
        RecursionError("maximum recursion depth exceeded while decoding a JSON array"),
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


# Bad inputs found by driving every sub-command with unreadable files, directories, missing folders,
# huge or negative numbers and malformed JSON (each was a traceback, a second stderr line, or a store
# or files silently created in the current directory). "{deep}" is JSON nested 100000 levels deep.
BAD_COMMANDS = [
    ["store", "gc", "{tmp}/nostore"],
    ["store", "stats", ""],
    ["store", "gc", "{tmp}/nostore", "--now", "nan"],
    ["store", "gc", "{tmp}/nostore", "--now", "-5"],
    ["chain", "abi", "--out", ""],
    ["chain", "--devnet", "", "addresses"],
    ["compute", "devtee", "init", ""],
    [
        "compute",
        "receipt",
        "make",
        "--devtee",
        "{devtee}",
        "--image-digest",
        "",
        "--input",
        "{deep}",
        "--output",
        "{deep}",
    ],
    ["ai", "run", "--prompt", "hi", "--tiny", "-1"],
    ["ai", "run", "--prompt", "hi", "--tiny", "9" * 80],
    ["ai", "run", "--prompt", "hi", "--prefill-chunk", "0"],
    ["ai", "run", "--prompt", "hi", "--model", "{tmp}/garbage"],
    ["ai", "verify", "{deep}"],
    ["compute", "receipt", "verify", "{deep}"],
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=lambda a: " ".join(a)[:60])
def test_bad_input_to_each_command_is_one_line_and_exit_2(argv, tmp_path, capsys, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("EIGEN_AI_OPERATOR_KEY", raising=False)
    (tmp_path / "garbage").write_bytes(b"\x00\xffnot a model or a quote")
    (tmp_path / "deep").write_text("[" * 100_000 + "]" * 100_000)
    if "{devtee}" in argv:
        assert main(["compute", "devtee", "init", str(tmp_path / "devtee")]) == 0
        capsys.readouterr()
    argv = [a.format(tmp=tmp_path, deep=tmp_path / "deep", devtee=tmp_path / "devtee") for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("eigen: error: "), err
    assert list(work.iterdir()) == [] and not (tmp_path / "nostore").exists()  # nothing written


def test_a_deeply_nested_event_log_is_a_parse_rejection(tmp_path, capsys):
    """`eigen attest verify` reports evidence it cannot parse as a rejecting verdict (exit 1)."""
    (tmp_path / "quote").write_bytes(b"\x00\xffnot a quote")
    (tmp_path / "deep").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["attest", "verify", str(tmp_path / "quote"), "--event-log", str(tmp_path / "deep")]) == 1
    out = capsys.readouterr()
    assert "EventLogError: event log: JSON nested deeper than 256 levels" in out.out and out.err == ""
