"""Gas of EigenDA's certificate check (contracts/da/EigenDACertVerifier.vy, ``checkDACert``) over the
project's BLSRegistry: 128 operators in 2 quorums (each operator in both, as EigenDA mainnet's shape)
with 0 %, 10 %, 50 % and 100 % non-signers, beside EigenDA's published worst case (3,532,040 gas, all
192 non-signer entries of mainnet's 128 operators non-signing; shared/research/eigenda.md section
3.3). A certificate here holds a 3-blob batch (a 2-level inclusion proof); 100 % non-signers cannot
reach the thresholds: that row carries one stranger's signature, so its status is 6 (the registry
refuses the pairing); the work is the same, every non-signer is looked up and the pairing runs.

Run: `.venv/bin/python bench/gas/bench_da_gas.py` with anvil on PATH (a few minutes: 128 operators
register). Figures are ``eth_estimateGas`` of the views called as transactions: whole-transaction gas
(21,000 intrinsic + calldata + execution); medians over 3 random non-signer draws. Also: the registry's
``checkSignatures`` alone on the same certificate, so the verifier's own part (decoding, hashing,
inclusion, parameters, quorums) is the difference. Writes bench/results/da_gas.json.
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

from bench.bls.bench_bls import write_results  # noqa: E402
from bench.gas.bench_bls_gas import bound_anvil_memory, calldata_gas  # noqa: E402
from offchain.abi import WAD, ZERO_ADDRESS  # noqa: E402
from offchain.bls.cert import Certificate, build_certificate  # noqa: E402
from offchain.bls.keys import SecretKey, operator_id  # noqa: E402
from offchain.chain import da_contracts as dac  # noqa: E402
from offchain.chain.bls_registry import certificate_args, registration_data  # noqa: E402

OPERATORS = 128
FRACTIONS = (0.0, 0.1, 0.5, 1.0)
DRAWS = 3
SET = 1
PEER = ("EigenDA checkDACert, 128 operators x 2 quorums all non-signing (192 entries)", 3_532_040)
G1 = (1, 2)
G2 = (
    (
        0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2,
        0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED,
    ),
    (
        0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B,
        0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA,
    ),
)


def main() -> int:
    from ape import accounts, chain, networks, project

    bound_anvil_memory()

    from offchain.chain.deploy import (
        CertVerifierParams,
        DeployConfig,
        deploy_bls_registry,
        deploy_cert_verifier,
        deploy_core,
    )

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"), ("B", "B")))
    rng = random.Random(17)
    with networks.ethereum.local.use_provider("foundry"):
        a = accounts.test_accounts
        d = deploy_core(project, a[0], cfg)
        am = d.allocation_manager
        strats = [d.strategies["A"], d.strategies["B"]]
        avs = a[1]
        am.updateAVSMetadataURI(avs, "avs", sender=avs)
        am.createOperatorSets(avs, [(SET, strats, ZERO_ADDRESS)], sender=avs)
        reg = deploy_bls_registry(project, a[0], d, avs.address, 10, 10_000)
        am.setAVSRegistrar(avs, reg, sender=avs)
        reg.configureQuorums(SET, strats, sender=avs)
        cv = deploy_cert_verifier(
            project, a[0], a[0].address, reg.address, SET, CertVerifierParams(recency_window_blocks=10_000)
        )
        sks = []
        t0 = time.time()
        for i in range(OPERATORS):
            op = accounts.test_accounts.generate_test_account()
            a[0].transfer(op, 10**18)
            d.delegation_manager.registerAsOperator(ZERO_ADDRESS, 0, "op", sender=op)
            for sym in ("A", "B"):
                tok, strat = d.tokens[sym], d.strategies[sym]
                tok.mint(op, (10 + i) * WAD, sender=op)
                tok.approve(d.strategy_manager, 2**256 - 1, sender=op)
                d.strategy_manager.depositIntoStrategy(strat, tok, (10 + i) * WAD, sender=op)
            am.modifyAllocations(op, [((avs.address, SET), strats, [WAD // 8] * 2, [0, 0])], sender=op)
            sk = SecretKey(int.from_bytes(keccak(b"bench da %d" % i), "big") % 2**250 + 1)
            data = registration_data(sk, op.address, chain.chain_id, reg.address)
            am.registerForOperatorSets(op, (avs.address, [SET], data), sender=op)
            sks.append(sk)
        print(f"registered {OPERATORS} operators in {time.time() - t0:.0f} s", file=sys.stderr)
        chain.mine(2)
        ref = chain.blocks.head.number - 1

        sig = b"\x11" * 65
        bcs = [((0, b"\x00\x01", (G1, G2, G2, 2), keccak(b"payment %d" % i)), sig, [0]) for i in range(3)]
        root, proofs = dac.batch_tree([dac.blob_certificate_hash(b) for b in bcs])
        header = (root, ref)
        msg = dac.batch_header_hash(header)
        pks = [sk.public_key() for sk in sks]
        rows = []
        for frac in FRACTIONS:
            k = round(OPERATORS * frac)
            gas, bls_gas, statuses = [], [], set()
            for _ in range(DRAWS):
                non = set(rng.sample(range(OPERATORS), k))
                sigs = {
                    sks[i].public_key().operator_id: sks[i].sign(msg)
                    for i in range(OPERATORS)
                    if i not in non
                }
                bls = build_certificate(SET, msg, ref, pks, sigs)[0] if sigs else _all_absent(pks, msg, ref)
                cert = dac.cert_v3(header, bcs[1], 1, proofs[1], bls, b"\x00\x01")
                enc = dac.encode_cert_v3(cert)
                statuses.add(int(cv.checkDACert(enc)))
                gas.append(cv.checkDACert.estimate_gas_cost(enc))
                bls_gas.append(reg.checkSignatures.estimate_gas_cost(*certificate_args(bls)))
            med = int(statistics.median(gas))
            calldata = bytes(cv.checkDACert.encode_input(enc))
            rows.append(
                {
                    "operators": OPERATORS,
                    "quorums": 2,
                    "non_signers": k,
                    "status": sorted(statuses),
                    "checkDACert_gas_median": med,
                    "checkDACert_gas_min": min(gas),
                    "checkDACert_gas_max": max(gas),
                    "checkDACert_execution_gas": med - 21_000 - calldata_gas(calldata),
                    "registry_checkSignatures_gas_median": int(statistics.median(bls_gas)),
                    "peer": PEER[0],
                    "peer_gas": PEER[1],
                    "vs_peer": round(med / PEER[1], 3),
                }
            )
            print(
                f"{OPERATORS} ops {k:>4} non-signers  checkDACert {med:>10,}  registry alone "
                f"{rows[-1]['registry_checkSignatures_gas_median']:>10,}  status {sorted(statuses)}  "
                f"vs peer x{med / PEER[1]:.3f}"
            )
    write_results(
        "da_gas.json",
        {"provider": "anvil 1.7.1 via ape-foundry", "draws": DRAWS, "blobs_per_batch": 3, "results": rows},
    )
    return 0


def _all_absent(pks, msg, ref):
    """A certificate in which every operator is a non-signer: sigma and apkG2 are taken from one
    stranger's signature (it fails the pairing, which is the point: the checker's work is the same)."""
    stranger = SecretKey(7)
    ns = sorted((pk.g1 for pk in pks), key=operator_id)
    return Certificate(SET, msg, ref, tuple(ns), stranger.public_key().g2, stranger.sign(msg))


if __name__ == "__main__":
    sys.exit(main())
