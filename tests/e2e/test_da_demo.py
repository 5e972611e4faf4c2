"""The main job's DA step (scripts/_demo/da.py, run) on the demo's own deployment: records dispersed to a DA
devnet on the demo's chain, certified on chain, one validator killed, every record retrieved from the others."""

from __future__ import annotations

import time

from scripts._demo import da as demo_da
from scripts._demo import world
from scripts._demo.world import Demo


def test_demo_da_step(capsys, monkeypatch):
    monkeypatch.delenv("EIGEN_DA_SRS", raising=False)  # the test SRS: the step's figures stay small here
    assert demo_da in world.STEPS  # the main job runs it
    demo = Demo()
    demo.results = {
        "scripts._demo.example": {"answer": 42, "note": "x" * 10000}
    }  # a record longer than a blob
    t0 = time.monotonic()
    facts = demo_da.run(demo)
    elapsed = time.monotonic() - t0
    out = capsys.readouterr().out
    limit = 255 * 31  # the test SRS's 256 symbols carry 255 x 31 payload bytes
    parts = demo_da._records(demo, limit // 2)
    blobs = demo_da._blobs(parts, limit)
    assert [n for n, _ in parts] == [
        "restaking deployment",
        "example (1/3)",
        "example (2/3)",
        "example (3/3)",
    ]
    assert facts["records"] == 4 and facts["blobs"] == len(blobs) == 2
    assert all(len(demo_da._payload(b)) <= limit for b in blobs)
    assert facts["statuses"] == [1, 1]  # checkDACert: SUCCESS for every certificate
    assert facts["served_by"] == ["validators", "validators"]
    assert "checkDACert: 1 (success)" in out and "v2 (25% of the stake) killed" in out
    print(out + f"DA step: {elapsed:.1f} s")
