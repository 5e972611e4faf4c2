"""Gas of the restaking core's main operations, on a local anvil through ape.

Run: `make bench-gas` (or `.venv/bin/python bench/gas/bench_gas.py` with anvil on PATH).
Prints a table (median over the repetitions of each scenario, with min and max) and writes
bench/results/gas.json. Figures are whole-transaction gas (21,000 intrinsic + calldata included),
with the peer figures from shared/research/eigenlayer-contracts.md section 7 beside them.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from offchain.abi import WAD, ZERO_ADDRESS  # noqa: E402 - after the path set-up

ZERO = ZERO_ADDRESS
REPS = 5
# Peer figures (forge gas reports; execution gas only, i.e. without the 21,000 intrinsic gas).
PEER = {
    "deposit (first, cold)": ("Symbiotic Vault.deposit median", 325_980),
    "queue withdrawal (1 strategy)": ("Symbiotic Vault.withdraw median", 264_111),
    "complete withdrawal as tokens": ("Symbiotic Vault.claim median", 13_185),
    "register for 1 operator set": ("Symbiotic OptInService.optIn", 103_644),
    "register as operator": ("Symbiotic OperatorRegistry.registerOperator", 89_480),
    "slash (1 strategy)": ("Symbiotic Slasher.slash median", 270_689),
    "slash (3 strategies)": ("Symbiotic Slasher.slash max", 429_258),
}


def main() -> int:
    from ape import accounts, chain, networks, project

    from offchain.chain.deploy import DeployConfig, deploy_core

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"), ("B", "B"), ("C", "C")))
    results: dict[str, list[int]] = {}

    def rec(name, receipt):
        results.setdefault(name, []).append(receipt.gas_used)

    with networks.ethereum.local.use_provider("foundry"):
        a = accounts.test_accounts
        d = deploy_core(project, a[0], cfg)
        sm, dm, am, esc = d.strategy_manager, d.delegation_manager, d.allocation_manager, d.slash_escrow
        syms = ["A", "B", "C"]
        strats = sorted((d.strategies[s] for s in syms), key=lambda c: int(c.address, 16))
        by_sym = {s: d.strategies[s] for s in syms}
        avs = a[1]
        am.updateAVSMetadataURI(avs, "avs", sender=avs)
        set_ids = list(range(1, 2 * REPS + 2))
        am.createOperatorSets(avs, [(i, strats, ZERO) for i in set_ids], sender=avs)
        for rep in range(REPS):
            op = accounts.test_accounts.generate_test_account()
            staker = accounts.test_accounts.generate_test_account()
            for acct in (op, staker):
                a[0].transfer(acct, 10**20)
            rec("register as operator", dm.registerAsOperator(ZERO, 0, "https://op", sender=op))
            for s in syms:
                d.tokens[s].mint(staker, 10**24, sender=staker)
                d.tokens[s].approve(sm, 2**256 - 1, sender=staker)
            rec(
                "deposit (first, cold)",
                sm.depositIntoStrategy(by_sym["A"], d.tokens["A"], 10**21, sender=staker),
            )
            rec(
                "deposit (again, warm)",
                sm.depositIntoStrategy(by_sym["A"], d.tokens["A"], 10**21, sender=staker),
            )
            sm.depositIntoStrategy(by_sym["B"], d.tokens["B"], 10**21, sender=staker)
            sm.depositIntoStrategy(by_sym["C"], d.tokens["C"], 10**21, sender=staker)
            rec("delegate (3 strategies)", dm.delegateTo(op, (b"", 0), b"\x00" * 32, sender=staker))
            set_a, set_b = set_ids[2 * rep], set_ids[2 * rep + 1]
            rec("register for 1 operator set", am.registerForOperatorSets(op, (avs, [set_a], b""), sender=op))
            am.registerForOperatorSets(op, (avs, [set_b], b""), sender=op)
            rec(
                "modify allocations (1 set, 3 strategies)",
                am.modifyAllocations(op, [((avs, set_a), strats, [WAD // 2] * 3, [0] * 3)], sender=op),
            )
            rec(
                "modify allocations (1 set, 1 strategy)",
                am.modifyAllocations(op, [((avs, set_b), strats[:1], [WAD // 4], [0])], sender=op),
            )
            rec(
                "queue withdrawal (1 strategy)",
                dm.queueWithdrawals([([by_sym["A"]], [10**20], staker)], sender=staker),
            )
            r = dm.queueWithdrawals([([by_sym["B"]], [10**20], staker)], sender=staker)
            ev = [e for e in r.events if e.event_name == "SlashingWithdrawalQueued"][0]
            wd = ev.withdrawal
            rec(
                "slash (1 strategy)",
                am.slashOperator(avs, (op, set_a, strats[:1], [WAD // 10], "x"), sender=avs),
            )
            rec(
                "slash (3 strategies)",
                am.slashOperator(avs, (op, set_a, strats, [WAD // 10] * 3, "y"), sender=avs),
            )
            chain.mine(cfg.withdrawal_delay_blocks + 1)
            tup = (
                (wd[0], wd[1], wd[2], wd[3], wd[4], list(wd[5]), list(wd[6]))
                if isinstance(wd, (list, tuple))
                else (
                    wd.staker,
                    wd.delegatedTo,
                    wd.withdrawer,
                    wd.nonce,
                    wd.startBlock,
                    list(wd.strategies),
                    list(wd.scaledShares),
                )
            )
            rec(
                "complete withdrawal as tokens",
                dm.completeQueuedWithdrawal(tup, [d.tokens["B"]], True, sender=staker),
            )
            rec("release escrow (1 strategy)", esc.releaseSlash(avs, set_a, 1, sender=staker))
            rec("release escrow (3 strategies)", esc.releaseSlash(avs, set_a, 2, sender=staker))
            rec("undelegate (3 strategies)", dm.undelegate(staker, sender=staker))

    rows = []
    for name, vals in results.items():
        med = int(statistics.median(vals))
        peer = PEER.get(name)
        rows.append(
            {
                "operation": name,
                "median": med,
                "min": min(vals),
                "max": max(vals),
                "n": len(vals),
                "execution_gas_median": med - 21_000,
                "peer": peer[0] if peer else None,
                "peer_gas": peer[1] if peer else None,
                "ratio_execution_vs_peer": round((med - 21_000) / peer[1], 3) if peer else None,
            }
        )
    print(f"{'operation':44} {'median':>9} {'min':>9} {'max':>9} {'exec':>9}  peer (execution gas)")
    for r in rows:
        peer = f"{r['peer']}: {r['peer_gas']:,} (x{r['ratio_execution_vs_peer']})" if r["peer"] else ""
        print(
            f"{r['operation']:44} {r['median']:>9,} {r['min']:>9,} {r['max']:>9,} {r['execution_gas_median']:>9,}  {peer}"
        )
    out = ROOT / "bench" / "results" / "gas.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"platform": platform.platform(), "python": platform.python_version()},
                "provider": "anvil 1.7.1 via ape-foundry",
                "repetitions": REPS,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
