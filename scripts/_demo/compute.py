"""Demo step for the verifiable-compute AVS (contracts/avs/ComputeAVS.vy).

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py (after or instead of its own run): it deploys
ComputeAVS over the same core with a BLSRegistry attached, creates a redistributing compute operator set
that operators A and B join with signing and BLS keys, registers an app and its image, has the
development TEE attest, lets both operators verify the evidence and BLS-sign its enrolment (one
aggregate certificate checked on-chain, docs/bls.md), submits a receipt from the enclave that the
contract accepts, then proves a fault (the same enclave signed two different outputs for the same
input of a deterministic app), which slashes operator A; the slashed funds reach the victim after
the resolution window.
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak
from eth_keys import keys

from offchain.abi import WAD
from offchain.chain.compute_avs import receipt_args
from offchain.chain.deploy import ComputeAVSConfig, deploy_compute_avs
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.pki import TrustStore
from offchain.compute.receipt import verify_receipt
from offchain.compute.testca import NitroTestCA
from scripts._demo.common import attach_bls_registry, bls_keys, enrol_enclave, event, fmt, join_set

COMPUTE_SET = 1
THRESHOLD_BPS = 6667


def run(demo: Any) -> dict[str, Any]:
    """Run the compute step on `demo` and print what happened; returns the key facts."""
    from ape import chain, project

    d, dm = demo.d, demo.dm
    ops = [demo.op_a, demo.op_b]
    names = {demo.op_a.address: "operator A", demo.op_b.address: "operator B"}
    strategies = [demo.strat(s) for s in demo.syms]
    sym0 = demo.syms[0]

    print("\n##### Verifiable compute: a receipt from the development TEE, verified and accepted on-chain")
    avs = deploy_compute_avs(
        project, demo.deployer, d, ComputeAVSConfig(enrolment_ttl_s=3600, fault_wad=WAD // 10)
    )
    registry = attach_bls_registry(demo, avs)
    avs.createOperatorSet(
        COMPUTE_SET, strategies, demo.arbiter, demo.victim, THRESHOLD_BPS, sender=demo.deployer
    )
    print(
        f"ComputeAVS deployed at {avs.address}; compute set {COMPUTE_SET} (redistributing to the victim, "
        f"arbiter resolves) needs {THRESHOLD_BPS / 100:.2f}% of its allocated stake to enrol an enclave key."
    )

    signing = {
        op.address: keys.PrivateKey(keccak(b"demo compute signing key " + op.address.encode())) for op in ops
    }
    bls = bls_keys(b"demo compute bls key ", ops)
    stake = join_set(
        demo, avs.address, COMPUTE_SET, ops, signing, 20 * WAD, allocation_delay=2, bls=bls, registry=registry
    )
    for op, row in zip(ops, stake, strict=True):
        print(
            f"  {names[op.address]} restaked 20 {sym0} more, registered signing key "
            f"{avs.signingKeyOf(op)[:10]}… and BLS key {registry.operatorIdOf(COMPUTE_SET, op).hex()[:10]}… "
            "(proof of possession checked by the BLSRegistry), allocated half its free magnitude: "
            + ", ".join(f"{fmt(x)} {s}" for x, s in zip(row, demo.syms, strict=True))
        )

    # The app: a deterministic word counter, owned by Carol.
    app_owner = demo.carol
    app_id = keccak(b"demo app: word count")
    image = keccak(b"demo image: wordcount v1.0.0")
    ca = NitroTestCA(seed=b"eigen demo dev TEE")
    trust = TrustStore.default().with_roots([ca.root])
    policy = dev_policy(ca, image)
    avs.registerApp(app_id, COMPUTE_SET, True, sender=app_owner)
    avs.registerImage(app_id, image, "v1.0.0", policy.hash(), 0, sender=app_owner)
    print(
        f"Carol registered app {app_id.hex()[:12]}… (deterministic) with image {image.hex()[:12]}… v1.0.0 "
        f"and policy {policy.hash().hex()[:12]}… (dev-TEE root pinned, PCR0 and PCR16 expected)."
    )

    # The enclave starts, attests; both operators verify its evidence and sign the enrolment.
    tee = DevTEE(ca, image)
    r, c, checked, at, evidence = enrol_enclave(avs, COMPUTE_SET, app_id, tee, policy, trust, demo.op_a, bls)
    ev = event(r, "EnclaveKeyEnrolled")
    print(
        f"Both operators BLS-signed the enrolment bound to reference block {c.reference_block}; one aggregate "
        f"signature ({len(c.non_signers)} non-signers) was checked by the BLSRegistry (gas {r.gas_used:,})."
    )
    print(
        f"The dev TEE attested (Nitro-format evidence, {len(evidence)} bytes, verdict: "
        f"{'accepted' if checked.verdict.accepted else 'rejected'} by each operator off-chain); enclave key "
        f"{tee.address[:10]}… enrolled for operator A with {fmt(ev.signedStake)} of {fmt(ev.totalStake)} "
        "allocated stake signing."
    )

    # A receipt: verified off-chain, then accepted on-chain.
    text = b"the quick brown fox jumps over the lazy dog"
    output = str(len(text.split())).encode()
    bundle = tee.run(text, output, at, app_id=app_id, chain_id=chain.chain_id, policy=policy)
    verdict = verify_receipt(bundle, trust=trust)
    receipt_tx = avs.submitReceipt(*receipt_args(bundle), sender=demo.dave)
    acc = event(receipt_tx, "ReceiptAccepted")
    print(
        f"Receipt {bundle.receipt.digest().hex()[:16]}… (input: {text.decode()!r} -> output {output.decode()!r}): "
        f"off-chain verdict {'accepted' if verdict.accepted else 'REJECTED'}; on-chain ReceiptAccepted "
        f"(answerable: {names.get(acc.operator, acc.operator)}; gas {receipt_tx.gas_used:,})."
    )

    # A fault: the same enclave signs another output for the same input of the deterministic app.
    forged = tee.run(text, b"10", at, app_id=app_id, chain_id=chain.chain_id, policy=policy)
    before = dm.operatorShares(demo.op_a, demo.strat(sym0))
    fault = avs.proveFault(*receipt_args(bundle), *receipt_args(forged), sender=demo.erin)
    fp = event(fault, "FaultProven")
    after = dm.operatorShares(demo.op_a, demo.strat(sym0))
    print(
        f"Erin proved a fault: two receipts of the deterministic app, same image and input, outputs "
        f"{output.decode()!r} and '10', both signed by the enclave key. ComputeAVS slashed operator A "
        f"(slash {fp.slashId}, 10% of its compute allocation): {sym0} delegated {fmt(before)} -> {fmt(after)}."
    )
    chain.mine(demo.config.slash_resolution_delay_blocks + 1)
    victim_before = d.tokens[sym0].balanceOf(demo.victim)
    demo.esc.releaseSlash(avs.address, COMPUTE_SET, fp.slashId, sender=demo.erin)
    victim_after = d.tokens[sym0].balanceOf(demo.victim)
    print(
        f"After the resolution window the escrow released {fmt(victim_after - victim_before)} {sym0} to the victim."
    )
    demo.report("After the compute fault")
    return {
        "avs": avs.address,
        "bls_keys": bls,  # the compute set's members' (a later step's enclave enrolment)
        "enclave_key": tee.address,
        "receipt_digest": bundle.receipt.digest(),
        "accepted": avs.receiptAccepted(bundle.receipt.digest()),
        "slash_id": fp.slashId,
        "slashed_shares": before - after,
        "redistributed": victim_after - victim_before,
    }
