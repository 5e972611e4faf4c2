"""How ape-foundry starts anvil, bounded in memory and on disk.

ape-foundry has no setting for either, so ``anvil_without_step_traces`` wraps its
``FoundryProvider.build_command``; call it before the provider starts (tests/conftest.py does for the
whole suite, scripts/demo.py for the main job)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "eigen-anvil-states-"  # then the owning process's pid


def sweep_states(folder: str | None = None) -> list[str]:
    """Remove the states directories of processes that are gone (returned).

    A process that cannot run its exit handlers (killed, or a pytest-xdist worker that leaves with
    ``os._exit``) leaves its directory behind, gigabytes after a long run: the next process to start
    anvil removes it."""
    gone = []
    for d in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = d.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():  # an older name, without the pid: its owner is unknown, it stays
            continue
        if int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)
        gone.append(str(d))
    return gone


def anvil_without_step_traces(keep_blocks: int | None = None) -> str:
    """Start anvil (through ape-foundry) without ``--steps-tracing`` and with its own ``--cache-path``.

    ``--steps-tracing`` makes anvil keep every executed opcode of every transaction with its stack and
    memory, for ape's coverage and source tracebacks: a few thousand BLS registrations (a hashToG1 loop
    each) then hold tens of GB and anvil dies. Without it anvil still keeps the call traces that ape's
    return values and gas reports use. ``keep_blocks`` also drops transactions (receipts and their logs,
    for good: a snapshot restore does not bring them back) older than that many blocks, for benches that
    send more than memory holds.

    States older than anvil's in-memory window go to ``--cache-path``, a directory of this process
    removed when it exits (returned): by default anvil writes them under ~/.foundry/anvil/tmp and leaves
    them there when it is killed, as ape stops it, and a day of test runs filled a 250 GB disk."""
    from ape_foundry.provider import FoundryProvider

    build = getattr(FoundryProvider.build_command, "__wrapped__", FoundryProvider.build_command)
    sweep_states()
    states = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, states, True)

    def command(self):
        cmd = [a for a in build(self) if a != "--steps-tracing"] + ["--cache-path", states]
        return cmd if keep_blocks is None else [*cmd, "--transaction-block-keeper", str(keep_blocks)]

    command.__wrapped__ = build
    FoundryProvider.build_command = command
    return states
