"""Shared by the end-to-end tests: a stand-in for the main job's Demo object (scripts/_demo/world.py)
built on the contract tests' deployment, so one demo step runs on its own."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from tests.contracts.support import TEST_CONFIG


def demo_world(deployment: Any, accounts: Any, report: Callable[[str], Any]) -> SimpleNamespace:
    """The attributes a demo step reads from Demo: the deployment, the named accounts, the tokens."""
    d, a = deployment, accounts
    return SimpleNamespace(
        d=d,
        sm=d.strategy_manager,
        dm=d.delegation_manager,
        am=d.allocation_manager,
        esc=d.slash_escrow,
        deployer=a[0],
        avs=a[1],
        op_a=a[2],
        op_b=a[3],
        carol=a[4],
        dave=a[5],
        erin=a[6],
        victim=a[7],
        arbiter=a[8],
        syms=["TKA", "TKB"],
        strat=lambda s: d.strategies[s],
        config=TEST_CONFIG,
        report=report,
    )
