"""anvil's states directories (offchain/chain/anvil.py): one per process, swept when its owner is gone."""

import os
import subprocess
import sys

from offchain.chain import anvil


def _dir(folder, pid):
    d = folder / f"{anvil.PREFIX}{pid}-abc123"
    (d / "anvil-state-x").mkdir(parents=True)
    (d / "anvil-state-x" / "block").write_bytes(b"\0" * 1024)
    return d


def test_sweep_removes_only_the_directories_of_processes_that_are_gone(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gone = _dir(tmp_path, done.pid)
        mine = _dir(tmp_path, os.getpid())
        other = _dir(tmp_path, alive.pid)
        old = tmp_path / f"{anvil.PREFIX}q1w2e3"  # a name without a pid: its owner is unknown
        old.mkdir()
        unrelated = tmp_path / "eigen-da-cache-1"
        unrelated.mkdir()
        assert anvil.sweep_states(str(tmp_path)) == [str(gone)]
        assert not gone.exists()
        assert mine.exists() and other.exists() and old.exists() and unrelated.exists()
        assert anvil.sweep_states(str(tmp_path)) == []
    finally:
        alive.kill()
        alive.wait()
    assert anvil.sweep_states(str(tmp_path)) == [str(other)]
