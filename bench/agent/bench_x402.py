"""Paid requests per second through x402 v2, and the time from request to settled payment.

Run: `.venv/bin/python bench/agent/bench_x402.py [--requests N] [--threads T] [--samples S]` with
anvil on PATH (ape starts it, as bench/gas does). The world is the tests' (tests/offchain/agent/support.py): the
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
- ``verified`` (task kind): a compute job bought with verified settlement (docs/agent.md): the
  job's TaskMailbox task is created (POST /jobs), the paid request's settlement is a deposit into
  the VerifiedEscrow (paid requests/s and latency as above); ``verified_task_settled_s``: seconds
  from the paid request to the payment released to the server agent, over --samples jobs: the
  request, the executor set's certificate, the keeper's confirmTask, the escrow's challenge window
  (``task_window_s``, set small on this devnet and waited for in real time), the keeper's release.
  Its world is a second deployment (core, ComputeAVS, TaskMailbox, escrow) on the same anvil.
- ``inference``: the same deterministic-inference route (the tiny model; the server signs and
  registers the receipt on InferenceDisputes) sold ``exact`` and ``verified`` with kind inference
  (the payment conditioned on the request digest): paid requests/s of each, and
  ``verified_inference_settled_s``: from the paid request to the release, i.e. the request, the
  keeper binding the receipt it finds on chain, InferenceDisputes' challenge window
  (``inference_window_s``, small on this devnet, waited for in real time) and the keeper's release.
  Its world is a third deployment (core, InferenceDisputes) beside the second.
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


def run(requests: int, threads: int, samples: int) -> dict:
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
        out |= _verified(requests, samples, project, chain, accounts.test_accounts)
        out |= _inference(requests, samples, project, chain, accounts.test_accounts)
        return out


TASK_WINDOW_S = 2  # the devnet escrow's challenge window after a task's confirmation
INFERENCE_WINDOW_S = 2  # the devnet InferenceDisputes' challenge window


def _stats(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 4), "p90": round(_quantile(xs, 0.9), 4)}


# The keeper sends from the client's account (the server agent's own account sends its tasks and
# receipts with its own nonce counter; anyone may run the keeper).


def _settle_when_due(keeper, vw, eid: bytes) -> None:
    """The keeper's steps for one escrow until it is released: confirm or bind, then wait (real
    time) for the challenge window, then release. Anvil mines only on transactions, and the
    contract reads the latest block's time: while the window is open, one empty block is mined
    each time the wall clock passed the latest block's timestamp by a second (a chain with a 1 s
    block time)."""
    w3 = vw.w3
    while True:
        steps = keeper.run([eid])
        if steps[-1].action == "release":
            return
        if steps[-1].action != "waiting" or steps[-1].reason != "challenge window open":
            raise RuntimeError(f"the escrow did not settle: {steps[-1]}")
        while time.time() < w3.eth.get_block("latest")["timestamp"] + 1:
            time.sleep(0.05)
        w3.provider.make_request("evm_mine", [])


def _verified(requests: int, samples: int, project, chain, accts) -> dict:
    import httpx

    from offchain.agent.client import PayingClient
    from offchain.agent.facilitator import HTTPFacilitator, create_app
    from offchain.agent.keeper import Keeper
    from offchain.chain.agent import Sender
    from offchain.httpservice import ServiceServer
    from tests.offchain.agent.support import JOB_PRICE, VerifiedWorld, job_server

    n = requests + samples
    vw = VerifiedWorld(project, chain, accts, funds=JOB_PRICE * n, task_window=TASK_WINDOW_S)
    vw.mw.fund(vw.seller, vw.mw.mailbox.taskTypes(vw.mw.ecdsa_type).fee * n)
    before = vw.token.balance_of(vw.seller.address)
    client = PayingClient(
        vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE * n,
        schemes=("verified",), clock=vw.clock,
    )  # fmt: skip
    keeper = Keeper(
        vw.escrow, Sender(vw.w3, vw.payer.private_key), vw.abis["TaskMailbox"], vw.abis["InferenceDisputes"]
    )
    paid, settled, held = 0.0, [], []
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        with ServiceServer(job_server(vw, HTTPFacilitator(f.url)), log_level="warning") as r:

            def job(i: int) -> tuple[bytes, bytes, float]:
                task = httpx.post(r.url + "/jobs", json={"payload": f"job {i}"}).json()["task"]
                t = time.perf_counter()
                resp = client.get(r.url + "/jobs/result", params={"task": task})
                assert resp.status_code == 200, resp.text
                return bytes.fromhex(task[2:]), bytes.fromhex(resp.json()["escrow"][2:]), t

            for i in range(requests):
                h, eid, t = job(i)
                paid += time.perf_counter() - t
                vw.mw.submit(h, vw.mw.ecdsa(h, b"4"))  # certified before its task times out (blocks)
                held.append(eid)
            lat = [rc.seconds for rc in client.receipts]
            for i in range(samples):  # request -> certificate -> confirm -> window -> release
                h, eid, t = job(requests + i)
                vw.mw.submit(h, vw.mw.ecdsa(h, b"4"))
                _settle_when_due(keeper, vw, eid)
                settled.append(time.perf_counter() - t)
    for eid in held:  # the throughput run's jobs: confirmed, released after the window
        _settle_when_due(keeper, vw, eid)
    return {
        "verified_task_sequential_rps": _rate(requests, paid),
        "verified_task_latency_s": _stats(lat),
        "task_window_s": TASK_WINDOW_S,
        "verified_task_settled_s": _stats(settled),
        "verified_task_released_on_chain": vw.token.balance_of(vw.seller.address) == before + JOB_PRICE * n,
    }


def _inference(requests: int, samples: int, project, chain, accts) -> dict:
    from offchain.agent.client import PayingClient
    from offchain.agent.facilitator import HTTPFacilitator, create_app
    from offchain.agent.keeper import Keeper
    from offchain.chain.agent import Sender
    from offchain.httpservice import ServiceServer
    from tests.offchain.agent.support import JOB_PRICE, VerifiedWorld, inference_request, inference_server

    n = 2 * requests + samples
    vw = VerifiedWorld(
        project, chain, accts, funds=JOB_PRICE * n, inference=True, challenge_window=INFERENCE_WINDOW_S
    )
    seller = vw.seller.address
    before = vw.token.balance_of(seller)
    keeper = Keeper(
        vw.escrow, Sender(vw.w3, vw.payer.private_key), vw.abis["TaskMailbox"], vw.abis["InferenceDisputes"]
    )
    out: dict = {"inference_window_s": INFERENCE_WINDOW_S}
    seed = iter(range(10**6))  # every request its own seed: its own request digest and receipt
    escrows: list[bytes] = []
    with ServiceServer(create_app(vw.fresh_facilitator()), log_level="warning") as f:
        for scheme in ("exact", "verified"):
            client = PayingClient(
                vw.payer.private_key, vw.w3.eth.chain_id, vw.token.address, JOB_PRICE * n, clock=vw.clock
            )
            app = inference_server(vw, HTTPFacilitator(f.url), scheme=scheme)
            with ServiceServer(app, log_level="warning") as r:

                def ask(
                    scheme: str = scheme, client: PayingClient = client, url: str = r.url
                ) -> tuple[dict, float]:
                    q = {"prompt": "what is 2+2?", "seed": str(next(seed)), "max_tokens": "6"}
                    ref = None if scheme == "exact" else inference_request(vw.d, q)[2]
                    t = time.perf_counter()
                    resp = client.get(url + "/inference", params=q, expect_ref=ref)
                    assert resp.status_code == 200, resp.text
                    return resp.json(), t

                t0 = time.perf_counter()
                for _ in range(requests):
                    body, _ = ask()
                    if scheme == "verified":
                        escrows.append(bytes.fromhex(body["escrow"][2:]))
                out[f"inference_{scheme}_sequential_rps"] = _rate(requests, time.perf_counter() - t0)
                out[f"inference_{scheme}_latency_s"] = _stats([rc.seconds for rc in client.receipts])
                if scheme == "verified":
                    settled = []
                    for _ in range(samples):  # request -> bind -> window -> release
                        body, t = ask()
                        _settle_when_due(keeper, vw, bytes.fromhex(body["escrow"][2:]))
                        settled.append(time.perf_counter() - t)
                    out["verified_inference_settled_s"] = _stats(settled)
    for eid in escrows:
        _settle_when_due(keeper, vw, eid)
    out["verified_inference_released_on_chain"] = vw.token.balance_of(seller) == before + JOB_PRICE * n
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=100, help="paid requests per measurement")
    ap.add_argument("--threads", type=int, default=4, help="concurrent clients in the threaded run")
    ap.add_argument("--samples", type=int, default=5, help="verified payments timed to their release")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.threads < 1 or args.samples < 1:
        ap.error("--requests, --threads and --samples must be positive")
    results = run(args.requests, args.threads, args.samples)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "provider": "anvil via ape-foundry (automine)",
        "requests": args.requests,
        "threads": args.threads,
        "samples": args.samples,
        "results": results,
    }
    out = ROOT / "bench" / "results" / "x402.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
