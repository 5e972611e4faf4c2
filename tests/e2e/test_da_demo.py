"""The main job's DA step (scripts/_demo/da.py): how the demo's records are cut into parts and packed into
blobs. The step itself (dispersal on the demo's chain, certificates checked on chain, a validator killed, every
record retrieved from the others) runs in the whole main job, tests/e2e/test_token_demo.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

from scripts._demo import da as demo_da
from scripts._demo import world

LIMIT = 255 * 31  # a 256-symbol SRS carries 255 x 31 payload bytes (the cutting does not depend on the size)


def test_the_da_step_is_part_of_the_main_job():
    assert demo_da in world.STEPS


def test_records_longer_than_a_blob_are_cut_and_packed():
    deployment = {"allocation_manager": "0x" + "11" * 20, "delegation_manager": "0x" + "22" * 20}
    demo = SimpleNamespace(
        d=SimpleNamespace(addresses=lambda: deployment),
        results={"scripts._demo.example": {"answer": 42, "note": "x" * 10000}, "scripts._demo.small": [1]},
    )
    parts = demo_da._records(demo, LIMIT // 2)
    assert [n for n, _ in parts] == [
        "restaking deployment",
        "example (1/3)",
        "example (2/3)",
        "example (3/3)",
        "small",
    ]
    assert json.loads(parts[0][1]) == deployment
    assert "".join(p for n, p in parts if n.startswith("example")) == json.dumps(
        demo.results["scripts._demo.example"], sort_keys=True
    )
    assert all(len(p) <= LIMIT // 2 for _, p in parts)
    blobs = demo_da._blobs(parts, LIMIT)
    assert [r for b in blobs for r in b] == parts  # in order, each once
    assert len(blobs) == 2 and all(len(demo_da._payload(b)) <= LIMIT for b in blobs)
    # packed greedily: the next record would not have fit in the blob before it
    assert len(demo_da._payload(blobs[0] + blobs[1][:1])) > LIMIT
    assert [tuple(r) for r in json.loads(demo_da._payload(blobs[1]))] == blobs[1]
