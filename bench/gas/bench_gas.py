"""Gas of the restaking core's main operations, on a local anvil through ape.

Run: `make bench-gas` (or `.venv/bin/python bench/gas/bench_gas.py` with anvil on PATH).
Prints a table (median over the repetitions of each scenario, with min and max) and writes
bench/results/gas.json. Figures are whole-transaction gas (21,000 intrinsic + calldata included),
with the peer figures from shared/research/eigenlayer-contracts.md section 7 beside them.

With `--eigenlayer DIR --eigenlayer-deps DIR` (`make bench-gas-el EL=DIR EL_DEPS=DIR`) the same
scenarios also run, on the same anvil, against EigenLayer v1.12.0's own contracts compiled from a
checkout the user provides (bench/gas/eigenlayer_ref.py says how to obtain it); the table then
gets an EigenLayer column and the ratio project / EigenLayer per operation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import eigenlayer_ref  # noqa: E402 - after the path set-up
import scenario  # noqa: E402

from offchain.abi import ZERO_ADDRESS  # noqa: E402

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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--eigenlayer",
        type=Path,
        metavar="DIR",
        help="an eigenlayer-contracts checkout at v1.12.0: also run every scenario against it",
    )
    ap.add_argument(
        "--eigenlayer-deps",
        type=Path,
        metavar="DIR",
        help="npm prefix holding solc@0.8.30 and @openzeppelin/contracts(-upgradeable)@4.9.0",
    )
    ap.add_argument("--reps", type=int, default=REPS, help=f"repetitions of each scenario (default {REPS})")
    args = ap.parse_args(argv)
    if args.eigenlayer_deps is not None and args.eigenlayer is None:
        ap.error("--eigenlayer-deps needs --eigenlayer")
    if args.reps < 1:
        ap.error("--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    el_arts = el_digest = None
    if args.eigenlayer is not None:
        try:
            el_arts, el_digest = eigenlayer_ref.build(
                args.eigenlayer, args.eigenlayer_deps, ROOT / "bench" / "results" / ".cache"
            )
        except eigenlayer_ref.EigenLayerRefError as e:
            print(f"bench_gas: EigenLayer reference: {e}", file=sys.stderr)
            return 2
    from ape import networks, project

    # One anvil for both: the same node, hardfork and gas schedule measure each implementation.
    with networks.ethereum.local.use_provider("foundry"):
        results = run_project(args.reps)
        el_results, el_direct = {}, {}
        if el_arts is not None:
            el_results = eigenlayer_ref.run(el_arts, project.MockERC20, args.reps)
            el_direct = eigenlayer_ref.run(el_arts, project.MockERC20, args.reps, proxied=False)
    return report(results, el_results, el_direct, el_digest, args.reps)


def run_project(reps: int) -> dict[str, list[int]]:
    """Deploy the project's core on the connected anvil and run the scenario; gas per operation."""
    from ape import accounts, project

    from offchain.chain.deploy import DeployConfig, deploy_core

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=tuple((s, s) for s in scenario.SYMBOLS))
    a = accounts.test_accounts
    d = deploy_core(project, a[0], cfg)
    am, avs = d.allocation_manager, a[1]
    strats = sorted((d.strategies[s] for s in scenario.SYMBOLS), key=lambda c: int(c.address, 16))
    am.updateAVSMetadataURI(avs, "avs", sender=avs)
    set_ids = list(range(1, 2 * reps + 2))
    am.createOperatorSets(avs, [(i, strats, ZERO) for i in set_ids], sender=avs)
    side = scenario.Side(
        funder=a[0],
        avs=avs,
        strategy_manager=d.strategy_manager,
        delegation_manager=d.delegation_manager,
        allocation_manager=am,
        tokens=d.tokens,
        strategies=d.strategies,
        set_ids=set_ids,
        withdrawal_delay_blocks=cfg.withdrawal_delay_blocks,
        allocate=lambda op, set_id, strats, mags: am.modifyAllocations(
            op, [((avs, set_id), strats, mags, [0] * len(mags))], sender=op
        ),
        queue=lambda staker, strategy, shares: d.delegation_manager.queueWithdrawals(
            [([strategy], [shares], staker)], sender=staker
        ),
        release=lambda sender, set_id, slash_id: d.slash_escrow.releaseSlash(
            avs, set_id, slash_id, sender=sender
        ),
    )
    return scenario.run(side, reps)


def _median(vals: list[int]) -> int:
    return int(statistics.median(vals))


def rows_of(
    results: dict[str, list[int]],
    el_results: dict[str, list[int]] | None = None,
    el_direct: dict[str, list[int]] | None = None,
) -> list[dict]:
    """One row per operation: the project's median/min/max, execution gas (less the 21,000
    intrinsic), the Symbiotic peer, and with an EigenLayer run the same for EigenLayer (through its
    proxies, and without them) with the ratio project / EigenLayer of execution gas."""
    rows = []
    for name, vals in results.items():
        med = _median(vals)
        peer = PEER.get(name)
        row = {
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
        for key, run in (("eigenlayer", el_results), ("eigenlayer_no_proxy", el_direct)):
            if not run:
                continue
            if not run.get(name):
                raise eigenlayer_ref.EigenLayerRefError(f"the EigenLayer run has no figure for {name!r}")
            el_med = _median(run[name])
            row.update(
                {
                    f"{key}_median": el_med,
                    f"{key}_min": min(run[name]),
                    f"{key}_max": max(run[name]),
                    f"{key}_execution_gas_median": el_med - 21_000,
                    f"ratio_execution_vs_{key}": round((med - 21_000) / (el_med - 21_000), 3),
                }
            )
        if el_results:
            row["eigenlayer_call"] = eigenlayer_ref.CALLS[name]
        rows.append(row)
    return rows


def above_eigenlayer(rows: list[dict], key: str = "eigenlayer") -> list[str]:
    """The operations where the project spends at least as much execution gas as EigenLayer."""
    return [r["operation"] for r in rows if r[f"ratio_execution_vs_{key}"] >= 1]


def report(
    results: dict[str, list[int]],
    el_results: dict[str, list[int]],
    el_direct: dict[str, list[int]],
    el_digest: str | None,
    reps: int,
) -> int:
    """Print the table and write bench/results/gas.json; ratios compare execution gas (the
    transaction's gas less the 21,000 intrinsic), the same subtraction for both sides."""
    rows = rows_of(results, el_results, el_direct)
    if el_results:
        print(
            f"{'operation':42} {'median':>9} {'exec':>9} {'EL exec':>9} {'ratio':>6} {'EL noproxy':>10} {'ratio':>6}"
            "  EigenLayer call"
        )
        for r in rows:
            print(
                f"{r['operation']:42} {r['median']:>9,} {r['execution_gas_median']:>9,}"
                f" {r['eigenlayer_execution_gas_median']:>9,} {r['ratio_execution_vs_eigenlayer']:>6.3f}"
                f" {r['eigenlayer_no_proxy_execution_gas_median']:>10,} {r['ratio_execution_vs_eigenlayer_no_proxy']:>6.3f}"
                f"  {r['eigenlayer_call']}"
            )
        for key, what in (
            ("eigenlayer", "EigenLayer"),
            ("eigenlayer_no_proxy", "EigenLayer without proxies"),
        ):
            above = above_eigenlayer(rows, key)
            print(f"at or above {what}: " + (", ".join(above) if above else "none"))
    else:
        print(f"{'operation':44} {'median':>9} {'min':>9} {'max':>9} {'exec':>9}  peer (execution gas)")
        for r in rows:
            peer = f"{r['peer']}: {r['peer_gas']:,} (x{r['ratio_execution_vs_peer']})" if r["peer"] else ""
            print(
                f"{r['operation']:44} {r['median']:>9,} {r['min']:>9,} {r['max']:>9,}"
                f" {r['execution_gas_median']:>9,}  {peer}"
            )
    doc: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "provider": "anvil 1.7.1 via ape-foundry",
        "repetitions": reps,
        "results": rows,
    }
    if el_results:
        doc["eigenlayer"] = eigenlayer_ref.describe(el_digest)
    out = ROOT / "bench" / "results" / "gas.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
