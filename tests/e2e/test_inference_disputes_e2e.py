"""End to end with the tiny seeded model, through the demo step (scripts/_demo/ai.py, run) on the
test deployment with a stand-in for the Demo object of scripts/_demo/world.py: an honest receipt passes; a
tampered receipt is challenged, re-executed by two other operators, its operator slashed, and the
client compensated from the slash once the escrow window has passed."""

from __future__ import annotations

from offchain.abi import WAD
from scripts._demo.ai import run
from tests.e2e.support import demo_world


def test_demo_ai_step_end_to_end(project, chain, accounts, deployment, capsys, monkeypatch):
    monkeypatch.setenv("EIGEN_DEMO_AI_MODEL", "tiny")
    a = accounts
    demo = demo_world(deployment, accounts, lambda title: None)
    erin_eth = a[6].balance
    facts = run(demo)
    out = capsys.readouterr().out
    assert "tiny seeded test model" in facts["model"] and "tiny seeded test model" in out
    assert facts["honest_finalized"] and facts["bond_forfeited_to_operator"] == WAD // 10
    assert facts["divergent_step"] is not None
    assert facts["slash_id"] == 1
    # A restaked 30 TKA, allocated half to the inference set; 10% of that allocation slashed
    assert facts["slashed_shares"] == 30 * WAD // 2 // 10
    assert facts["compensation"] == {"TKA": facts["slashed_shares"], "TKB": 0}
    assert facts["bond_refunded"] == WAD // 10
    assert a[6].balance > erin_eth - WAD // 100  # the bond came back; only gas was spent
    c = project.InferenceDisputes.at(facts["disputes"])
    assert deployment.tokens["TKA"].balanceOf(c) == 0 and c.totalCredits() == 0 and c.balance == 0
    assert (
        "the receipt stands (finalized = True)" in out
        and "operator A slashed" in out
        and "forwarded to her" in out
        and out.count("BLS verdict posted") == 2  # both verdicts are BLS certificates
    )
    print(facts["gas"])
