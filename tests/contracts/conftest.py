"""Fixtures for the contract tests: the core deployed exactly as `ape run deploy` does, with
small delays from a test configuration (TEST_CONFIG), and the worlds of tests/contracts/support.py
built on it."""

from __future__ import annotations

import pytest

from offchain.chain.deploy import deploy_core
from tests.contracts.support import TEST_CONFIG, ComputeWorld, DisputeWorld, World


@pytest.fixture(autouse=True)
def _fast_reverts(monkeypatch):
    """Skip ape's diagnostics for failed transactions (printing the call trace and mapping it to
    Vyper source lines cost ~0.6 s per revert); revert reasons are still checked."""
    from ape.exceptions import TransactionError
    from ape.types.trace import SourceTraceback
    from ape_ethereum.trace import Trace

    monkeypatch.setattr(Trace, "show", lambda self, *a, **k: None)
    monkeypatch.setattr(TransactionError, "_get_ape_traceback", lambda self: None)
    monkeypatch.setattr(SourceTraceback, "create", classmethod(lambda cls, *a, **k: cls.model_validate([])))

    from ape.exceptions import ContractLogicError
    from ape_foundry.provider import FoundryProvider

    def fast(self, exception, revert_message=None, **kwargs):
        kwargs.pop("set_ape_traceback", None)
        msg = revert_message if revert_message not in (None, "", "0x") else TransactionError.DEFAULT_MESSAGE
        msg = msg[8:] if msg.startswith("revert: ") else msg
        return ContractLogicError(base_err=exception, revert_message=msg, set_ape_traceback=False, **kwargs)

    monkeypatch.setattr(FoundryProvider, "_handle_execution_reverted", fast)


@pytest.fixture(scope="session")
def deployment(project, accounts):
    return deploy_core(project, accounts[0], TEST_CONFIG)


@pytest.fixture
def w(project, chain, accounts, deployment):
    return World(project, chain, accounts, deployment)


@pytest.fixture(scope="module")
def cw(project, chain, accounts, deployment):
    """A fresh ComputeWorld per test module (ape restores the chain around each test)."""
    return ComputeWorld(World(project, chain, accounts, deployment), project, chain, accounts)


@pytest.fixture(scope="module")
def dworld(project, chain, accounts, deployment):
    """A fresh DisputeWorld per test module (ape restores the chain around each test)."""
    return DisputeWorld(World(project, chain, accounts, deployment), project, chain)
