"""Fixtures for the contract tests: the core deployed exactly as `ape run deploy` does, with
small delays from a test configuration, and a `World` helper that performs common flows."""

from __future__ import annotations

import pytest

from offchain.chain.deploy import DeployConfig, deploy_core

WAD = 10**18
BURN = "0x00000000000000000000000000000000000E16E4"
ZERO = "0x0000000000000000000000000000000000000000"
TEST_CONFIG = DeployConfig(
    withdrawal_delay_blocks=20,
    deallocation_delay_blocks=20,
    allocation_configuration_delay_blocks=25,
    slash_resolution_delay_blocks=10,
    mock_tokens=(("Token A", "TKA"), ("Token B", "TKB"), ("Token C", "TKC")),
)
NO_SIG = (b"", 0)
SALT0 = b"\x00" * 32


class World:
    """The deployed core plus named accounts and shortcuts for multi-step flows."""

    def __init__(self, project, chain, accounts, d):
        self.project, self.chain, self.d = project, chain, d
        self.sm, self.dm, self.am, self.esc = d.strategy_manager, d.delegation_manager, d.allocation_manager, d.slash_escrow
        (self.owner, self.avs, self.op, self.op2, self.staker, self.staker2, self.recipient, self.resolver,
         self.other, self.avs2) = accounts[:10]
        self.tokens = d.tokens
        self.strats = d.strategies
        self.sorted_strats = sorted(d.strategies.values(), key=lambda s: int(s.address, 16))

    # --- tokens and deposits
    def fund(self, who, sym, amount):
        self.tokens[sym].mint(who, amount, sender=who)
        self.tokens[sym].approve(self.sm, 2**256 - 1, sender=who)

    def deposit(self, who, sym, amount):
        self.fund(who, sym, amount)
        return self.sm.depositIntoStrategy(self.strats[sym], self.tokens[sym], amount, sender=who)

    # --- operators and sets
    def register_operator(self, op, delay=0, approver=ZERO):
        return self.dm.registerAsOperator(approver, delay, "https://op.example/meta.json", sender=op)

    def create_sets(self, ids=(1,), syms=("TKA", "TKB"), redistributing=False, resolver=ZERO, slasher=ZERO):
        if not self.am.avsRegisteredMetadata(self.avs):
            self.am.updateAVSMetadataURI(self.avs, "https://avs.example/meta.json", sender=self.avs)
        params = [(i, [self.strats[s] for s in syms], slasher, resolver) for i in ids]
        if redistributing:
            return self.am.createRedistributingOperatorSets(self.avs, params, [self.recipient] * len(ids), sender=self.avs)
        return self.am.createOperatorSets(self.avs, params, sender=self.avs)

    def opset(self, set_id=1):
        return (self.avs.address, set_id)

    def register_for_sets(self, op, ids=(1,), data=b""):
        return self.am.registerForOperatorSets(op, (self.avs, list(ids), data), sender=op)

    def allocate(self, op, set_id, sym_mags, expected=None):
        syms = list(sym_mags)
        cur = [self.am.getAllocation(op, self.opset(set_id), self.strats[s]).currentMagnitude for s in syms]
        exp = cur if expected is None else expected
        params = [(self.opset(set_id), [self.strats[s] for s in syms], [sym_mags[s] for s in syms], exp)]
        return self.am.modifyAllocations(op, params, sender=op)

    def slash(self, op, set_id, sym_wads, description="fault", sender=None):
        items = sorted(sym_wads.items(), key=lambda kv: int(self.strats[kv[0]].address, 16))
        params = (op, set_id, [self.strats[s] for s, _ in items], [w for _, w in items], description)
        return self.am.slashOperator(self.avs, params, sender=sender or self.avs)

    def mine(self, n):
        self.chain.mine(n)

    # --- views
    def withdrawable(self, staker, sym):
        return self.dm.getWithdrawableShares(staker, [self.strats[sym]])[0][0]

    def op_shares(self, op, sym):
        return self.dm.operatorShares(op, self.strats[sym])

    def withdrawal_from_event(self, receipt):
        ev = [e for e in receipt.events if e.event_name == "SlashingWithdrawalQueued"]
        return [self.withdrawal_tuple(e.withdrawal) for e in ev]

    @staticmethod
    def withdrawal_tuple(w):
        if isinstance(w, (list, tuple)):
            return (w[0], w[1], w[2], w[3], w[4], list(w[5]), list(w[6]))

        def g(k):
            return w[k] if isinstance(w, dict) else getattr(w, k)

        return (g("staker"), g("delegatedTo"), g("withdrawer"), g("nonce"), g("startBlock"),
                list(g("strategies")), list(g("scaledShares")))


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
