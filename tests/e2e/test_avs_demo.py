"""The compute demo step (scripts/_demo/compute.py, run) on the test deployment, with a stand-in
for the Demo object of scripts/_demo/world.py: a dev-TEE receipt is accepted on-chain and a fault proof slashes
and redistributes."""

from __future__ import annotations

from types import SimpleNamespace

from offchain.abi import WAD
from scripts._demo.compute import run
from tests.contracts.support import TEST_CONFIG


def test_demo_compute_step(project, chain, accounts, deployment, capsys):
    d = deployment
    a = accounts
    titles = []
    demo = SimpleNamespace(
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
        report=titles.append,
    )
    facts = run(demo)
    out = capsys.readouterr().out
    assert facts["accepted"] and facts["slash_id"] == 1
    # 20 TKA restaked by A, half allocated to the compute set, 10% of that slashed
    assert facts["slashed_shares"] == 20 * WAD // 2 // 10 == facts["redistributed"]
    assert "ReceiptAccepted" in out and "proved a fault" in out
    assert titles == ["After the compute fault"]
