"""The main job's DA step (scripts/_demo/da.py, run) on the demo's own deployment: records dispersed to a DA
devnet on the demo's chain, certified on chain, one validator killed, every record retrieved from the others."""

from __future__ import annotations

import time

from scripts._demo import da as demo_da
from scripts._demo import world
from scripts._demo.world import Demo


def test_demo_da_step(capsys, monkeypatch):
    monkeypatch.delenv("EIGEN_DA_SRS", raising=False)  # the test SRS: the step's figures stay small here
    assert world.STEPS[-1].__name__ == demo_da.__name__  # the main job runs it
    demo = Demo()
    demo.results = {
        "scripts._demo.example": {"answer": 42, "note": "x" * 5000}
    }  # a record longer than a blob
    t0 = time.monotonic()
    facts = demo_da.run(demo)
    elapsed = time.monotonic() - t0
    out = capsys.readouterr().out
    parts = demo_da._records(demo, 63 * 31)  # the test SRS's 64 symbols carry 63 x 31 payload bytes
    assert facts["records"] == len(parts) and sum(n.startswith("example") for n, _ in parts) == 3
    assert facts["statuses"] == [1] * facts["records"]  # checkDACert: SUCCESS for every certificate
    assert facts["served_by"] == ["validators"] * facts["records"]
    assert "checkDACert: 1 (success)" in out and "v2 (25% of the stake) killed" in out
    print(out + f"DA step: {elapsed:.1f} s")
