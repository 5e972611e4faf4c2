"""Gas of the task mailbox (contracts/compute, docs/compute-network.md): ``createTask`` (32-byte and
1 KiB payloads), ``submitResult`` with a BLS certificate from executor sets of 1, 10 and 50 operators
(all signing, and 2/3 signing) beside ECDSA signatures on the same sets, ``refundFee`` and
``withdrawFees``, and the cloud's fee split (``submitResult`` with a FeeVault named, and the vault's
``collect``). Every figure is a mined transaction's ``gasUsed`` (21,000 intrinsic and calldata
included), the median over ``REPEAT`` tasks. ``submitResult`` pays every signer its pro-rata share
(one storage write each), so its cost grows with the signers; the BLS check itself grows only with
the non-signers (bench/gas/bench_bls_gas.py).

Hourglass publishes no gas figures (shared/research/wave2.md section 3.5); the anchor in the same
run is ``BLSRegistry.checkCertificate`` for the same certificate (``eth_estimateGas``), i.e. what
the mailbox adds around the certificate check (task record, signer ids, fees, events).

Run: `.venv/bin/python bench/gas/bench_task_mailbox_gas.py` with anvil on PATH (about a minute).
Writes bench/results/task_mailbox_gas.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eth_hash.auto import keccak  # noqa: E402
from eth_keys import keys as eth_keys  # noqa: E402

from bench.bls.bench_bls import write_results  # noqa: E402
from bench.gas.bench_bls_gas import bound_anvil_memory  # noqa: E402
from offchain.abi import WAD, ZERO_ADDRESS  # noqa: E402
from offchain.bls.keys import SecretKey  # noqa: E402
from offchain.chain.bls_registry import registration_data as bls_registration_data  # noqa: E402
from offchain.chain.compute_avs import registration_data as ecdsa_registration_data  # noqa: E402
from offchain.chain.task_mailbox import (  # noqa: E402
    CERT_BLS,
    CERT_ECDSA,
    TaskParams,
    bls_certificate,
    certificate_digest,
    ecdsa_certificate,
)

SIZES = (1, 10, 50)
REPEAT = 3
FEE = 10**18
TIMEOUT = 10


def main() -> int:
    from ape import accounts, chain, networks, project

    bound_anvil_memory()
    from offchain.chain.deploy import (
        ComputeAVSConfig,
        DeployConfig,
        TaskMailboxConfig,
        deploy_compute_avs,
        deploy_core,
        deploy_task_mailbox,
    )

    cfg = DeployConfig(20, 20, 25, 10, mock_tokens=(("A", "A"), ("Fee", "F")))
    with networks.ethereum.local.use_provider("foundry"):
        a = accounts.test_accounts
        owner, app, creator, aggregator = a[0], a[1], a[2], a[3]
        d = deploy_core(project, owner, cfg)
        am, tok, strat, fee_tok = d.allocation_manager, d.tokens["A"], d.strategies["A"], d.tokens["F"]
        cavs = deploy_compute_avs(project, owner, d, ComputeAVSConfig())
        cavs.createOperatorSet(1, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 6667, sender=owner)
        app_id, image = keccak(b"bench app"), keccak(b"bench image")
        cavs.registerApp(app_id, 1, True, sender=app)
        cavs.registerImage(app_id, image, "v1", keccak(b"policy"), 0, sender=app)
        mailbox, _slasher, reg = deploy_task_mailbox(
            project,
            owner,
            d,
            cavs.address,
            TaskMailboxConfig(bls_rotation_delay_blocks=10, bls_max_staleness_blocks=1000),
        )
        sets = {}
        for n in SIZES:
            sets[n] = mailbox.createExecutorOperatorSet(
                app_id, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 5000, sender=app
            ).return_value
        types = {
            (n, kind): mailbox.registerTaskType(
                sets[n], image, fee_tok, FEE, TIMEOUT, kind, 6667, sender=app
            ).return_value
            for n in SIZES
            for kind in (CERT_ECDSA, CERT_BLS)
        }
        ops, sks, eks = [], [], []
        t0 = time.time()
        for i in range(max(SIZES)):
            op = a.generate_test_account()
            owner.transfer(op, 10**18)
            d.delegation_manager.registerAsOperator(ZERO_ADDRESS, 0, "op", sender=op)
            tok.mint(op, (10 + i) * WAD, sender=op)
            tok.approve(d.strategy_manager, 2**256 - 1, sender=op)
            d.strategy_manager.depositIntoStrategy(strat, tok, (10 + i) * WAD, sender=op)
            mine = [sets[n] for n in SIZES if i < n]
            for sid in mine:
                am.setRedistributionConsent(op, (mailbox.address, sid), True, sender=op)
            am.modifyAllocations(
                op, [((mailbox.address, sid), [strat], [WAD // 8], [0]) for sid in mine], sender=op
            )
            sk = SecretKey(int.from_bytes(keccak(b"bench executor bls %d" % i), "big") % 2**250 + 1)
            ek = eth_keys.PrivateKey(keccak(b"bench executor ecdsa %d" % i))
            data = ecdsa_registration_data(chain.chain_id, mailbox.address, op.address, ek)
            data += bls_registration_data(sk, op.address, chain.chain_id, reg.address)
            am.registerForOperatorSets(op, (mailbox.address, mine, data), sender=op)
            ops.append(op)
            sks.append(sk)
            eks.append(ek)
        print(f"registered {len(ops)} operators in {time.time() - t0:.0f} s", file=sys.stderr)
        fee_tok.mint(creator, 10**30, sender=creator)
        fee_tok.approve(mailbox, 2**256 - 1, sender=creator)
        chain.mine(2)

        def create(task_type: int, payload: bytes) -> tuple[bytes, int]:
            p = TaskParams(creator.address, task_type, FEE, payload)
            rc = mailbox.createTask(p.as_tuple(), sender=creator)
            return rc.return_value, rc.gas_used

        rows: dict[str, object] = {}
        for size in (32, 1024):
            rows[f"createTask_payload_{size}B"] = int(
                statistics.median(create(types[(1, CERT_ECDSA)], bytes(size))[1] for _ in range(REPEAT))
            )
        submit = []
        for n in SIZES:
            members = list(range(n))
            pks = [sks[i].public_key() for i in members]
            for frac_name, k in (("all", n), ("two_thirds", -(-2 * n // 3))):
                signers = members[n - k :]  # the largest stakes (operator i deposited 10 + i)
                bls_gas, ecdsa_gas, check_gas = [], [], []
                for _ in range(REPEAT):
                    h, _ = create(types[(n, CERT_BLS)], bytes(32))
                    chain.mine(1)
                    ref = mailbox.getTaskInfo(h).referenceBlock
                    digest = certificate_digest(chain.chain_id, mailbox.address, h, b"result")
                    cert, ids = bls_certificate(sets[n], digest, ref, pks, [sks[i] for i in signers])
                    check_gas.append(
                        reg.checkCertificate.estimate_gas_cost(sets[n], digest, cert, ZERO_ADDRESS)
                    )
                    rc = mailbox.submitResult(h, cert, b"result", b"\x00" * 32, ids, sender=aggregator)
                    bls_gas.append(rc.gas_used)
                    h, _ = create(types[(n, CERT_ECDSA)], bytes(32))
                    digest = certificate_digest(chain.chain_id, mailbox.address, h, b"result")
                    ecert = ecdsa_certificate(digest, [eks[i] for i in signers])
                    rc = mailbox.submitResult(h, ecert, b"result", b"\x00" * 32, [], sender=aggregator)
                    ecdsa_gas.append(rc.gas_used)
                row = {
                    "operators": n,
                    "signers": k,
                    "bls_submitResult_gas": int(statistics.median(bls_gas)),
                    "bls_checkCertificate_gas": int(statistics.median(check_gas)),
                    "ecdsa_submitResult_gas": int(statistics.median(ecdsa_gas)),
                }
                row["bls_mailbox_overhead_gas"] = (
                    row["bls_submitResult_gas"] - row["bls_checkCertificate_gas"]
                )
                submit.append(row)
                print(
                    f"{n:>3} operators {k:>3} signing ({frac_name:>10})  BLS submitResult {row['bls_submitResult_gas']:>9,}"
                    f" (checkCertificate {row['bls_checkCertificate_gas']:>9,})  ECDSA {row['ecdsa_submitResult_gas']:>9,}"
                )
        refunds = []
        for _ in range(REPEAT):
            h, _ = create(types[(1, CERT_ECDSA)], bytes(32))
            chain.mine(TIMEOUT + 1)
            refunds.append(mailbox.refundFee(h, sender=aggregator).gas_used)
        rows["refundFee"] = int(statistics.median(refunds))
        rows["withdrawFees"] = mailbox.withdrawFees(fee_tok, sender=ops[0]).gas_used
        # the cloud's fee split (ELIP-12): the same all-signing ECDSA submitResult with a FeeVault
        # named as the collector (one more owed balance and FeePaid), beside the figure above
        # without one; then the vault's collect (the mailbox's withdrawFees to the vault)
        vault = owner.deploy(project.FeeVault, owner)
        mailbox.setFeeSplitCollector(vault, sender=owner)
        for n in (1, 10):
            split_gas = []
            for _ in range(REPEAT):
                h, _ = create(types[(n, CERT_ECDSA)], bytes(32))
                digest = certificate_digest(chain.chain_id, mailbox.address, h, b"result")
                ecert = ecdsa_certificate(digest, [eks[i] for i in range(n)])
                split_gas.append(
                    mailbox.submitResult(h, ecert, b"result", b"\x00" * 32, [], sender=aggregator).gas_used
                )
            rows[f"ecdsa_submitResult_{n}_signers_fee_split"] = int(statistics.median(split_gas))
            base = next(r for r in submit if r["operators"] == n and r["signers"] == n)
            rows[f"ecdsa_submitResult_{n}_signers_no_split"] = base["ecdsa_submitResult_gas"]
        rows["FeeVault_collect"] = vault.collect(mailbox, fee_tok, sender=aggregator).gas_used
        for k, v in rows.items():
            print(f"{k:<28} {v:>9,}")
    write_results(
        "task_mailbox_gas.json",
        {"provider": "anvil 1.7.1 via ape-foundry", "repeat": REPEAT, "single": rows, "submitResult": submit},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
