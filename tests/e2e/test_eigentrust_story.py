"""`ape run eigentrust` (scripts/eigentrust.py) on the test chain: both epochs re-execute to the
certified bytes, the operator that signed a tampered score vector is slashed and its stake released
to the app, and the scores read on chain with their proofs are the reference's."""

from __future__ import annotations

from offchain.abi import WAD
from offchain.compute.eigentrust import compute
from scripts.eigentrust import AGENTS, agent, story, trust_graph
from tests.offchain.compute.test_compute_sandbox import needs_bwrap


@needs_bwrap
def test_the_eigentrust_story(project, chain, accounts, capsys):
    facts = story()
    out = capsys.readouterr().out
    assert facts["epoch1_ok"] and facts["epoch2_ok"]
    assert facts["verdict"] == "wrong" and facts["liar_is_c"]
    # C allocated half of its 10 stETH to the set; the fault slashes 10% of that (FAULT_WAD default)
    assert facts["slashed"] == facts["released"] > 0
    expected = compute(trust_graph(2))
    assert facts["scores"] == {name: expected.of(agent(name)) for name in AGENTS}
    assert sum(facts["scores"].values()) <= WAD
    assert "operator C slashed" in out and "identical bytes = True" in out
