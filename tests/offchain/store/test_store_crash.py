"""``kill -9`` of a writer process at random points: every acknowledged key is there and whole after restart,
and nothing else is ever returned torn. ``EIGEN_PROFILE=long`` runs many more kills."""

import random
import signal
import time

from offchain import settings as eigen_settings
from offchain.store import Store
from tests.offchain.store.support import child, key_of, value_of

KILLS = 300 if eigen_settings.hypothesis_profile() == "long" else 25


def _run_and_kill(directory, seed, rng):
    """Start a writer, wait for some acknowledgements and a random moment, kill -9 it; the last ack."""
    proc = child("writer", str(directory), str(seed))
    want = rng.randint(1, 6)
    acked = 0
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        acked = int(line.split()[1])
        seen += 1
        if seen >= want:
            break
    time.sleep(rng.random() * 0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen >= want, proc.stderr.read() if proc.stderr else ""
    return acked


def test_acknowledged_writes_survive_kill_9(tmp_path):
    rng = random.Random(1234)
    acked = 0
    for round_ in range(KILLS):
        acked = max(acked, _run_and_kill(tmp_path, round_, rng))
        with Store(tmp_path) as store:  # recovery: the unflushed tail is scanned, cut at the first bad record
            table = store.table("t")
            count = table.key_count()
            assert count >= acked, f"round {round_}: {acked} acknowledged, {count} after restart"
            for i in range(count):  # keys are put in order, so the survivors are exactly 0 .. count-1
                got = table.get(key_of(i))
                assert got is not None and bytes(got) == value_of(i), f"round {round_}: key {i}"
            assert not table.problems and not table.verify()
            acked = count  # survivors are flushed by the recovery
