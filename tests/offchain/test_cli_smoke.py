"""The eigen command wires its components and reports usage errors with status 2."""

import subprocess
import sys

from offchain.cli import main
from tests.support import VECTORS


def test_help_lists_commands(capsys):
    assert main([]) == 2


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
