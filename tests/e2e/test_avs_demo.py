"""The compute demo step (scripts/_demo/compute.py, run) on the test deployment, with a stand-in
for the Demo object of scripts/_demo/world.py: a dev-TEE receipt is accepted on-chain and a fault proof slashes
and redistributes."""

from __future__ import annotations

from offchain.abi import WAD
from scripts._demo.compute import run
from tests.e2e.support import demo_world


def test_demo_compute_step(project, chain, accounts, deployment, capsys):
    titles = []
    demo = demo_world(deployment, accounts, titles.append)
    facts = run(demo)
    out = capsys.readouterr().out
    assert facts["accepted"] and facts["slash_id"] == 1
    # 20 TKA restaked by A, half allocated to the compute set, 10% of that slashed
    assert facts["slashed_shares"] == 20 * WAD // 2 // 10 == facts["redistributed"]
    assert "ReceiptAccepted" in out and "proved a fault" in out
    assert "one aggregate signature (0 non-signers) was checked by the BLSRegistry" in out  # BLS enrolment
    assert titles == ["After the compute fault"]
