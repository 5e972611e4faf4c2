"""Paid requests per second through x402 v2, and the time from request to settled payment.

Run: `.venv/bin/python bench/agent/bench_x402.py [--requests N] [--threads T]` with anvil on PATH
(ape starts it, as bench/gas does). The world is the tests' (tests/offchain/agent/support.py): the
stablecoin and the upto settler on anvil (automine: each settlement is one mined block), a
facilitator and a resource server each on its own uvicorn port, the middleware calling the
facilitator over HTTP, clients paying with EIP-3009 signatures.

Figures (medians; JSON in bench/results/x402.json):
- ``free``: requests/s to an unpriced route of the same server (the HTTP floor);
- ``exact``: paid requests/s, one client after another and T clients at once, each request the
  402, the signed retry, /verify, the route, /settle (a transferWithAuthorization mined on anvil)
  and the PAYMENT-RESPONSE;
- ``upto``: the same for the per-token route (settled through UptoSettler);
- ``latency``: seconds from the first request to the settled payment's response (median, p90);
- ``verified``: a compute job bought with verified settlement (docs/agent.md): the job's
  TaskMailbox task is created (POST /jobs), the paid request's settlement is a deposit into the
  VerifiedEscrow (paid requests/s and latency as above), then the executor set certifies the result
  and the client releases the payment (``release_s``: the release transaction alone). Its world is
  a second deployment (core, ComputeAVS, TaskMailbox, escrow) on the same anvil.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else float("inf")


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run(requests: int, threads: int) -> dict:
    import httpx
    from ape import accounts, chain, networks, project

    from offchain.agent.facilitator import HTTPFacilitator, create_app
    from offchain.httpservice import ServiceServer
    from tests.offchain.agent.support import build_world, resource_app

    with networks.ethereum.local.use_provider("foundry"):
        world = build_world(project, accounts.test_accounts, chain)
        fac = world.fresh_facilitator()
        with ServiceServer(create_app(fac), log_level="warning") as f:
            app = resource_app(world, HTTPFacilitator(f.url))
            with ServiceServer(app, log_level="warning") as r:
                url = r.url
                out: dict = {}
                with httpx.Client() as h:
                    h.get(url + "/free")
                    t = time.perf_counter()
                    for _ in range(requests):
                        h.get(url + "/free")
                    out["free_rps"] = _rate(requests, time.perf_counter() - t)

                client = world.client(budget=10**15)
                t = time.perf_counter()
                for _ in range(requests):
                    assert client.get(url + "/price").status_code == 200
                out["exact_sequential_rps"] = _rate(requests, time.perf_counter() - t)
                lat = [rc.seconds for rc in client.receipts]
                out["exact_latency_s"] = {
                    "median": round(statistics.median(lat), 4),
                    "p90": round(_quantile(lat, 0.9), 4),
                }

                shared = world.client(who="payer2", budget=10**15)
                errors: list[BaseException] = []

                def worker(n: int) -> None:
                    try:
                        for _ in range(n):
                            assert shared.get(url + "/price").status_code == 200
                    except BaseException as exc:  # reported below
                        errors.append(exc)

                per = max(1, requests // threads)
                ts = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
                t = time.perf_counter()
                for th in ts:
                    th.start()
                for th in ts:
                    th.join()
                if errors:
                    raise errors[0]
                out[f"exact_{threads}_threads_rps"] = _rate(per * threads, time.perf_counter() - t)

                upto = world.client(budget=10**15, schemes=("upto",))
                t = time.perf_counter()
                for _ in range(requests):
                    assert upto.post(url + "/infer", json={"max_tokens": 64}).status_code == 200
                out["upto_sequential_rps"] = _rate(requests, time.perf_counter() - t)
                ulat = [rc.seconds for rc in upto.receipts]
                out["upto_latency_s"] = {
                    "median": round(statistics.median(ulat), 4),
                    "p90": round(_quantile(ulat, 0.9), 4),
                }
                # every payment settled on chain: the seller holds exactly what was charged
                charged = sum(rc.settlement.amount or 0 for c in (client, shared, upto) for rc in c.receipts)
                out["settled_on_chain"] = world.balance("seller") == charged
        out |= _verified(requests, project, chain, accounts.test_accounts)
        return out


def _verified(requests: int, project, chain, accts) -> dict:
    import httpx

    from offchain.agent.client import PayingClient
    from offchain.agent.facilitator import HTTPFacilitator, create_app
    from offchain.chain.agent import Sender
    from offchain.httpservice import ServiceServer
    from tests.contracts.support import evs
    from tests.offchain.agent.support import JOB_PRICE, VerifiedWorld, job_server

    vw = VerifiedWorld(project, chain, accts, funds=JOB_PRICE * requests)
    vw.mw.fund(vw.seller, vw.mw.mailbox.taskTypes(vw.mw.ecdsa_type).fee * requests)
    before = vw.token.balance_of(vw.seller.address)
    client = PayingClient(
        vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE * requests,
        schemes=("verified",), clock=vw.clock,
    )  # fmt: skip
    releaser = Sender(vw.w3, vw.payer.private_key)
    paid, release = 0.0, []
    with ServiceServer(create_app(vw.facilitator), log_level="warning") as f:
        with ServiceServer(job_server(vw, HTTPFacilitator(f.url)), log_level="warning") as r:
            for i in range(requests):
                task = httpx.post(r.url + "/jobs", json={"payload": f"job {i}"}).json()["task"]
                t = time.perf_counter()
                resp = client.get(r.url + "/jobs/result", params={"task": task})
                paid += time.perf_counter() - t
                assert resp.status_code == 200, resp.text
                h = bytes.fromhex(task[2:])
                rc = vw.mw.submit(h, vw.mw.ecdsa(h, b"4"))
                signers = list(evs(rc, "TaskVerified")[0].signers)
                t = time.perf_counter()
                releaser.send(vw.escrow.release(bytes.fromhex(resp.json()["escrow"][2:]), signers))
                release.append(time.perf_counter() - t)
    lat = [rc.seconds for rc in client.receipts]
    return {
        "verified_sequential_rps": _rate(requests, paid),
        "verified_latency_s": {
            "median": round(statistics.median(lat), 4),
            "p90": round(_quantile(lat, 0.9), 4),
        },
        "verified_release_s": {
            "median": round(statistics.median(release), 4),
            "p90": round(_quantile(release, 0.9), 4),
        },
        "verified_released_on_chain": vw.token.balance_of(vw.seller.address) == before + JOB_PRICE * requests,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100, help="paid requests per measurement")
    ap.add_argument("--threads", type=int, default=4, help="concurrent clients in the threaded run")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.threads < 1:
        ap.error("--requests and --threads must be positive")
    results = run(args.requests, args.threads)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "provider": "anvil via ape-foundry (automine)",
        "requests": args.requests,
        "threads": args.threads,
        "results": results,
    }
    out = ROOT / "bench" / "results" / "x402.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
