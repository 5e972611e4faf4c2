"""Gas of the BLS certificate checker (contracts/certs/BLSRegistry.vy, ``checkSignatures``) for sets of
1, 10, 50 and 200 operators with 0 %, 10 % and 50 % non-signers, beside the ECDSA module
(OperatorSetSigCheck through ComputeAVS, ``checkSignatures``; its sets hold at most 64 members) on the
same sets, and beside EigenLayer middleware's published worst case (EigenDA ``checkDACert``: 3,532,040
gas with all 192 non-signer entries of mainnet, 128 operators in 2 quorums; shared/research/eigenda.md
section 3.3). Our row "200 operators, 128 non-signers" is the nearest shape (1 quorum).

Run: `.venv/bin/python bench/gas/bench_bls_gas.py` with anvil on PATH (a few minutes: 200 operators are
registered). Figures are ``eth_estimateGas`` of the view called as a transaction: whole-transaction gas
(21,000 intrinsic + calldata); ``execution`` subtracts both. Medians over 3 random non-signer draws
(the gas depends on the draw only through the keys' calldata bytes). Writes bench/results/bls_gas.json.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys as eth_keys  # noqa: E402

from bench.bls.bench_bls import write_results  # noqa: E402
from offchain.abi import WAD, ZERO_ADDRESS  # noqa: E402
from offchain.bls.cert import build_certificate  # noqa: E402
from offchain.bls.keys import SecretKey  # noqa: E402
from offchain.chain.anvil import anvil_without_step_traces  # noqa: E402
from offchain.chain.bls_registry import certificate_args, registration_data  # noqa: E402
from offchain.chain.compute_avs import key_address, sign_digest  # noqa: E402
from offchain.chain.compute_avs import registration_data as ecdsa_registration_data  # noqa: E402

SIZES = (1, 10, 50, 200)
FRACTIONS = (0.0, 0.1, 0.5)
DRAWS = 3
ECDSA_MAX = 64
PEER = ("EigenDA checkDACert, 128 operators x 2 quorums all non-signing (192 entries)", 3_532_040)
MSG = keccak(b"bench certificate")


def calldata_gas(data: bytes) -> int:
    return sum(16 if b else 4 for b in data)


def bound_anvil_memory() -> None:
    """anvil without ape-foundry's --steps-tracing (~1,700 registrations would hold tens of GB of
    opcode traces) and keeping only the last 32 blocks' transactions (tests/contracts/support.py)."""
    anvil_without_step_traces(keep_blocks=32)


def main() -> int:
    from ape import accounts, chain, networks, project

    bound_anvil_memory()

    from offchain.chain.deploy import (
        ComputeAVSConfig,
        DeployConfig,
        deploy_bls_registry,
        deploy_compute_avs,
        deploy_core,
    )

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"),))
    rng = random.Random(15)
    with networks.ethereum.local.use_provider("foundry"):
        a = accounts.test_accounts
        d = deploy_core(project, a[0], cfg)
        am, tok, strat = d.allocation_manager, d.tokens["A"], d.strategies["A"]
        avs = a[1]
        am.updateAVSMetadataURI(avs, "avs", sender=avs)
        sets = {n: i + 1 for i, n in enumerate(SIZES)}
        am.createOperatorSets(avs, [(sets[n], [strat], ZERO_ADDRESS) for n in SIZES], sender=avs)
        reg = deploy_bls_registry(project, a[0], d, avs.address, 10, 10_000)
        am.setAVSRegistrar(avs, reg, sender=avs)
        for n in SIZES:
            reg.configureQuorums(sets[n], [strat], sender=avs)
        cavs = deploy_compute_avs(project, a[0], d, ComputeAVSConfig())
        esets = {n: 100 + sets[n] for n in SIZES if n <= ECDSA_MAX}
        for sid in esets.values():
            cavs.createOperatorSet(sid, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 6667, sender=a[0])

        ops, bls, ecdsa = [], [], []
        t0 = time.time()
        for i in range(max(SIZES)):
            op = accounts.test_accounts.generate_test_account()
            a[0].transfer(op, 10**18)
            d.delegation_manager.registerAsOperator(ZERO_ADDRESS, 0, "op", sender=op)
            tok.mint(op, (10 + i) * WAD, sender=op)
            tok.approve(d.strategy_manager, 2**256 - 1, sender=op)
            d.strategy_manager.depositIntoStrategy(strat, tok, (10 + i) * WAD, sender=op)
            mine = [n for n in SIZES if i < n]
            params = [((avs.address, sets[n]), [strat], [WAD // 8], [0]) for n in mine]
            params += [((cavs.address, esets[n]), [strat], [WAD // 8], [0]) for n in mine if n in esets]
            am.modifyAllocations(op, params, sender=op)
            sk = SecretKey(int.from_bytes(keccak(b"bench bls %d" % i), "big") % 2**250 + 1)
            am.registerForOperatorSets(
                op,
                (
                    avs.address,
                    [sets[n] for n in mine],
                    registration_data(sk, op.address, chain.chain_id, reg.address),
                ),
                sender=op,
            )
            ek = eth_keys.PrivateKey(keccak(b"bench ecdsa %d" % i))
            if any(n in esets for n in mine):
                data = ecdsa_registration_data(chain.chain_id, cavs.address, op.address, ek)
                am.registerForOperatorSets(
                    op, (cavs.address, [esets[n] for n in mine if n in esets], data), sender=op
                )
            ops.append(op)
            bls.append(sk)
            ecdsa.append(ek)
        print(f"registered {len(ops)} operators in {time.time() - t0:.0f} s", file=sys.stderr)
        chain.mine(2)
        ref = chain.blocks.head.number - 1

        rows = []
        shapes = [(n, f) for n in SIZES for f in FRACTIONS] + [(200, 128 / 200)]
        for n, frac in shapes:
            k = round(n * frac)
            members = list(range(n))
            pks = [bls[i].public_key() for i in members]
            bls_gas, ecdsa_gas = [], []
            for _ in range(DRAWS):
                non = set(rng.sample(members, k))
                signers = [i for i in members if i not in non]
                sigs = {bls[i].public_key().operator_id: bls[i].sign(MSG) for i in signers}
                cert, _ = build_certificate(sets[n], MSG, ref, pks, sigs)
                args = certificate_args(cert)
                status = reg.checkSignatures(*args)[0]
                assert status == 1, status
                bls_gas.append(reg.checkSignatures.estimate_gas_cost(*args))
                calldata = reg.checkSignatures.encode_input(*args)
                if n in esets:
                    ks = sorted((ecdsa[i] for i in signers), key=lambda e: int(key_address(e), 16))
                    es = [sign_digest(e, MSG) for e in ks]
                    ecdsa_gas.append(cavs.checkSignatures.estimate_gas_cost(esets[n], MSG, es))
            med = int(statistics.median(bls_gas))
            exec_gas = med - 21_000 - calldata_gas(bytes(calldata))
            emed = int(statistics.median(ecdsa_gas)) if ecdsa_gas else None
            rows.append(
                {
                    "operators": n,
                    "non_signers": k,
                    "bls_gas_median": med,
                    "bls_gas_min": min(bls_gas),
                    "bls_gas_max": max(bls_gas),
                    "bls_execution_gas": exec_gas,
                    "bls_gas_per_non_signer": round((med - rows_base(rows, n)) / k)
                    if k and rows_base(rows, n)
                    else None,
                    "ecdsa_gas_median": emed,
                    "bls_vs_ecdsa": round(med / emed, 3) if emed else None,
                    "peer": PEER[0],
                    "peer_gas": PEER[1],
                    "bls_vs_peer": round(med / PEER[1], 3),
                }
            )
            print(
                f"{n:>4} ops {k:>4} non-signers  BLS {med:>10,} (exec {exec_gas:>9,})  "
                f"ECDSA {emed if emed is not None else 'n/a (>64 members)':>10}  vs peer x{med / PEER[1]:.3f}"
            )
    write_results(
        "bls_gas.json",
        {"provider": "anvil 1.7.1 via ape-foundry", "draws": DRAWS, "quorums": 1, "results": rows},
    )
    return 0


def rows_base(rows: list[dict], n: int) -> int | None:
    """The 0-non-signer gas of the same set (the per-non-signer slope's base)."""
    for r in rows:
        if r["operators"] == n and r["non_signers"] == 0:
            return r["bls_gas_median"]
    return None


if __name__ == "__main__":
    sys.exit(main())
