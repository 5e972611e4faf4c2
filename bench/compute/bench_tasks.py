"""Task round trip on anvil (docs/compute-network.md): ``createTask`` -> executors poll, run the image
in the bubblewrap sandbox and sign -> the aggregator certifies and ``submitResult`` is mined, for
executor sets of 1 to 4 operators (equal stake, threshold 66.67%, so 1, 2, 3 and 3 signatures).

Two modes, measured in the same run on the same chain: ``sequential`` (the executors poll one
after another in this process: an upper bound) and ``parallel`` (each executor polls in its own
thread, as one executor per operator on its own machine would; the aggregator takes their
responses under its lock). The clock stops when the certifying ``submitResult`` is mined. The image
is a ``/bin/sh`` script built by imagebuild.

Run: `.venv/bin/python bench/compute/bench_tasks.py [TASKS]` with anvil on PATH and bubblewrap
installed (TASKS per set size and mode, default 20). Writes bench/results/compute_tasks.json (p50,
p99, mean and tasks per minute one task after another, 60 / mean, per mode and set size).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eth_account import Account  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys as eth_keys  # noqa: E402

from bench.bls.bench_bls import write_results  # noqa: E402
from offchain.abi import WAD, ZERO_ADDRESS  # noqa: E402
from offchain.bls.keys import SecretKey  # noqa: E402
from offchain.chain import sdk  # noqa: E402
from offchain.chain.bls_registry import registration_data as bls_registration_data  # noqa: E402
from offchain.chain.compute_avs import registration_data  # noqa: E402
from offchain.chain.task_mailbox import CERT_ECDSA, EcdsaSigner, TaskParams, Web3TaskMailbox  # noqa: E402
from offchain.compute.executor import dev_enclave  # noqa: E402
from offchain.compute.imagebuild import build_image  # noqa: E402
from offchain.compute.taskrun import Aggregator, Executor, ImageStore  # noqa: E402
from offchain.compute.testca import NitroTestCA  # noqa: E402

SIZES = (1, 2, 3, 4)
MODES = ("sequential", "parallel")
FEE = 10**15
TIMEOUT = 10


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_size(mode, n, tasks, dep, agg_key, ops, eks, sets, types, store, ca, work, mailbox, creator) -> dict:
    """``tasks`` tasks, one after another, for the set of ``n`` executors in ``mode``."""
    agg = Aggregator(Web3TaskMailbox(dep, account=agg_key), work / f"evidence-{mode}{n}")
    certified_at: dict[bytes, float] = {}

    def sink(r):
        with agg.lock:
            c = agg.add(r)
        if c is not None:
            certified_at[c.task_hash] = time.perf_counter()

    head = Web3TaskMailbox(dep).head()
    exs = [
        Executor(
            mailbox=Web3TaskMailbox(dep),  # one view each: in parallel mode each has its thread
            signer=EcdsaSigner(ops[i].address, eks[i]),
            images=ImageStore(store),
            operator_set_id=sets[n],
            enclave=dev_enclave(ca),
            sink=sink,
            state=work / f"state-{mode}{n}-{i}.json",
            start_block=head + 1,
            workdir=work,
        )
        for i in range(n)
    ]
    times = []
    for k in range(tasks):
        t0 = time.perf_counter()
        rc = mailbox.createTask(
            TaskParams(creator.address, types[n], FEE, b"%d+%d\n" % (k, n)).as_tuple(), sender=creator
        )
        h = bytes(rc.return_value)
        if mode == "parallel":
            threads = [threading.Thread(target=ex.poll) for ex in exs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            rest = list(exs)
            while rest and h not in agg.done:
                rest.pop(0).poll()
            for ex in rest:  # untimed below: the executors after the certifying one answer too
                ex.poll()
        if h not in certified_at:
            raise RuntimeError(f"task {k} with {n} executors ({mode}) was not certified: {exs[0].failures}")
        times.append(certified_at[h] - t0)
    return {
        "mode": mode,
        "executors": n,
        "signers": len(agg.done[h].signers),
        "tasks": tasks,
        "p50_s": round(statistics.median(times), 4),
        "p99_s": round(pct(times, 0.99), 4),
        "mean_s": round(statistics.fmean(times), 4),
        "tasks_per_minute": round(60 / statistics.fmean(times), 1),
    }


def main() -> int:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    from ape import accounts, chain, networks, project

    from offchain.chain.components import Parameters, deploy_components
    from offchain.chain.deploy import DeployConfig

    work = Path(tempfile.mkdtemp(prefix="eigen-bench-tasks-"))
    os.chmod(work, 0o711)
    src = work / "src"
    src.mkdir()
    (src / "run.sh").write_text('#!/bin/sh\nread x; echo "sum of $x"\n')
    (src / "run.sh").chmod(0o755)
    store = work / "images"
    store.mkdir()
    built = build_image(src, work / "img.tar")
    (work / "img.tar").rename(store / built.digest[7:])
    image = bytes.fromhex(built.digest[7:])
    ca = NitroTestCA(seed=b"bench tasks")

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"), ("Fee", "F")))
    rows = []
    try:
        with networks.ethereum.local.use_provider("foundry"):
            a = accounts.test_accounts
            owner, app, creator = a[0], a[1], a[2]
            # the one deployment path (`ape run deploy`'s components): core, ComputeAVS, the mailbox
            out = deploy_components(project, owner, Parameters(cfg), ("core", "compute-avs", "task-mailbox"))
            d, cavs, mailbox = out.core, out.avs["compute_avs"], out.avs["task_mailbox"]
            reg = project.BLSRegistry.at(mailbox.blsRegistry())
            am, tok, strat, fee_tok = d.allocation_manager, d.tokens["A"], d.strategies["A"], d.tokens["F"]
            cavs.createOperatorSet(1, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 6667, sender=owner)
            app_id = keccak(b"bench tasks app")
            cavs.registerApp(app_id, 1, True, sender=app)
            cavs.registerImage(
                app_id, image, built.digest[7:19], keccak(b"bench tasks policy"), 0, sender=app
            )
            sets, types = {}, {}
            for n in SIZES:
                sets[n] = mailbox.createExecutorOperatorSet(
                    app_id, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 5000, sender=app
                ).return_value
                types[n] = mailbox.registerTaskType(
                    sets[n], image, fee_tok, FEE, TIMEOUT, CERT_ECDSA, 6667, sender=app
                ).return_value
            ops, eks = [], []
            for i in range(max(SIZES)):
                op = a.generate_test_account()
                owner.transfer(op, 10**18)
                d.delegation_manager.registerAsOperator(ZERO_ADDRESS, 0, "op", sender=op)
                tok.mint(op, 10 * WAD, sender=op)
                tok.approve(d.strategy_manager, 2**256 - 1, sender=op)
                d.strategy_manager.depositIntoStrategy(strat, tok, 10 * WAD, sender=op)
                mine = [sets[n] for n in SIZES if i < n]
                for sid in mine:
                    am.setRedistributionConsent(op, (mailbox.address, sid), True, sender=op)
                am.modifyAllocations(
                    op, [((mailbox.address, sid), [strat], [WAD // 8], [0]) for sid in mine], sender=op
                )
                ek = eth_keys.PrivateKey(keccak(b"bench executor ecdsa %d" % i))
                sk = SecretKey(int.from_bytes(keccak(b"bench executor bls %d" % i), "big") % 2**250 + 1)
                data = registration_data(chain.chain_id, mailbox.address, op.address, ek)
                data += bls_registration_data(sk, op.address, chain.chain_id, reg.address)
                am.registerForOperatorSets(op, (mailbox.address, mine, data), sender=op)
                ops.append(op)
                eks.append(ek)
            fee_tok.mint(creator, 10**30, sender=creator)
            fee_tok.approve(mailbox, 2**256 - 1, sender=creator)
            chain.mine(2)
            dep = sdk.Deployment(
                chain_id=chain.chain_id,
                rpc_url=networks.provider.uri,
                addresses={"task_mailbox": mailbox.address, "allocation_manager": am.address},
            )
            agg_key = Account.from_key(keccak(b"bench aggregator"))
            owner.transfer(agg_key.address, 10**20)
            for mode in MODES:
                for n in SIZES:
                    rows.append(
                        run_size(
                            mode,
                            n,
                            tasks,
                            dep,
                            agg_key,
                            ops,
                            eks,
                            sets,
                            types,
                            store,
                            ca,
                            work,
                            mailbox,
                            creator,
                        )
                    )
                    r = rows[-1]
                    print(
                        f"{mode:10s} {n} executors ({r['signers']} signing): p50 {r['p50_s'] * 1000:7.1f} ms  "
                        f"p99 {r['p99_s'] * 1000:7.1f} ms  {r['tasks_per_minute']:6.1f} tasks/min"
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results(
        "compute_tasks.json",
        {"provider": "anvil via ape-foundry, automine", "image": built.digest, "rows": rows},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
