"""The eigen command wires its components and reports usage errors with status 2."""

import importlib
import subprocess
import sys

from offchain.cli import COMPONENTS, main
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
