"""Helpers the demo steps (and the other stories) share: amounts, events, operators joining an AVS's
operator set, and task executors run in this process."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak
from eth_keys import keys

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.bls.cert import build_certificate
from offchain.bls.keys import SecretKey
from offchain.chain.bls_registry import bls_digest, certificate_bytes
from offchain.chain.bls_registry import registration_data as bls_registration_data
from offchain.chain.compute_avs import EnrolmentStatement, registration_data, verify_enclave
from offchain.chain.deploy import deploy_bls_registry
from offchain.chain.sdk import Deployment
from offchain.chain.task_mailbox import OperatorSigner, Web3TaskMailbox
from offchain.compute.devtee import DevTEE
from offchain.compute.executor import Enclave, execute_task
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.taskrun import Executor, ImageStore, Response

# the demo's BLS registries: keys rotate after 10 blocks; certificates may be 100 blocks old
BLS_ROTATION_DELAY, BLS_MAX_STALENESS = 10, 100


def fmt(x: int) -> str:
    """A WAD-scaled amount with four decimals."""
    return f"{x / WAD:,.4f}"


def event(receipt: Any, name: str) -> Any:
    """The first `name` event of a transaction."""
    return [e for e in receipt.events if e.event_name == name][0]


def join_set(
    demo: Any,
    avs: str,
    set_id: int,
    ops: Sequence[Any],
    signing: Mapping[str, keys.PrivateKey],
    amount: int,
    allocation_delay: int,
    bls: Mapping[str, SecretKey] | None = None,
    registry: Any = None,
    part: int = 2,
) -> list[list[int]]:
    """Each operator (registered first if it is not, with `allocation_delay`) restakes `amount` of the
    demo's first token, consents to redistribution, joins (avs, set_id) with its signing key (and its
    BLS key in `bls` for the AVS's BLSRegistry `registry`) and allocates 1/`part` (default half) of
    its free magnitude; the chain is mined until the allocations are effective, and the registry
    records the stake. Returns each operator's allocated stake per strategy."""
    from ape import chain

    am, dm, sm = demo.am, demo.dm, demo.sm
    strategies = [demo.strat(s) for s in demo.syms]
    sym0 = demo.syms[0]
    token = demo.d.tokens[sym0]
    for op in ops:
        if not dm.isOperator(op):
            dm.registerAsOperator(
                ZERO_ADDRESS, allocation_delay, "https://operator.example/metadata.json", sender=op
            )
        token.mint(op, amount, sender=op)
        token.approve(sm, amount, sender=op)
        sm.depositIntoStrategy(demo.strat(sym0), token, amount, sender=op)
        am.setRedistributionConsent(op, (avs, set_id), True, sender=op)
        data = registration_data(chain.chain_id, avs, op.address, signing[op.address])
        if bls is not None:
            data += bls_registration_data(bls[op.address], op.address, chain.chain_id, registry.address)
        am.registerForOperatorSets(op, (avs, [set_id], data), sender=op)
        mags = [am.getAllocatableMagnitude(op, s) // part for s in strategies]
        am.modifyAllocations(op, [((avs, set_id), strategies, mags, [0] * len(strategies))], sender=op)
    chain.mine(max(am.getAllocationDelay(op)[1] for op in ops) + 1)
    if registry is not None:
        registry.updateOperators(set_id, [op.address for op in ops], sender=ops[0])
    return am.getAllocatedStake((avs, set_id), ops, strategies)


def attach_bls_registry(demo: Any, avs: Any) -> Any:
    """Deploy a BLSRegistry for the AVS contract `avs` and attach it (before its sets are created)."""
    from ape import project

    reg = deploy_bls_registry(
        project, demo.deployer, demo.d, avs.address, BLS_ROTATION_DELAY, BLS_MAX_STALENESS
    )
    avs.setBLSRegistry(reg, sender=demo.deployer)
    return reg


def bls_keys(label: bytes, ops: Sequence[Any]) -> dict[str, SecretKey]:
    """A deterministic BLS key per operator (the demo's stand-in for `eigen bls keygen`)."""
    return {
        op.address: SecretKey(int.from_bytes(keccak(label + op.address.encode()), "big") % 2**250 + 1)
        for op in ops
    }


def bls_certificate(
    set_id: int, digest: bytes, members: Mapping[str, SecretKey], signers: Sequence[str]
) -> tuple[bytes, Any]:
    """The members in `signers` sign `digest` bound to the previous block (the reference block) and an
    aggregator builds the certificate: (the AVS's `cert` bytes, the certificate)."""
    from ape import chain

    ref = chain.blocks.head.number - 1
    m = bls_digest(digest, ref)
    pks = [sk.public_key() for sk in members.values()]
    sigs = {members[a].public_key().operator_id: members[a].sign(m) for a in signers}
    cert, _ = build_certificate(set_id, m, ref, pks, sigs)
    return certificate_bytes(cert), cert


def local_executors(
    dep: Deployment,
    signers: Sequence[OperatorSigner],
    store: Path,
    set_id: int,
    enclave: Callable[[bytes], Enclave],
    sink: Callable[[Response], Any],
    work: Path,
    run_by: Mapping[int, Callable[..., Any]] | None = None,
) -> list[Executor]:
    """One executor per signer of the executor set `set_id` on `dep`'s task mailbox, run in this
    process: images from `store`, the sandbox's work in `work`, tasks from the next block on, each
    response to `sink` (the aggregator's ``add``); ``run_by[i]`` replaces signer i's run (a tampering
    operator; default :func:`execute_task`)."""
    head = Web3TaskMailbox(dep).head()
    return [
        Executor(
            mailbox=Web3TaskMailbox(dep),
            signer=signer,
            images=ImageStore(store),
            operator_set_id=set_id,
            enclave=enclave,
            sink=sink,
            state=work / f"executor-{head}-{i}.json",
            start_block=head + 1,
            workdir=work,
            run=(run_by or {}).get(i, execute_task),
        )
        for i, signer in enumerate(signers)
    ]


def enrol_enclave(
    avs: Any,
    set_id: int,
    app_id: bytes,
    tee: DevTEE,
    policy: Policy,
    trust: TrustStore,
    operator: Any,
    bls: Mapping[str, SecretKey],
) -> tuple[Any, Any, Any, datetime, bytes]:
    """`tee` attests at the chain's time; the members of ComputeAVS set `set_id` (their BLS keys
    `bls`) verify its evidence under the image's `policy` (roots only from `trust`) and BLS-sign the
    enrolment of its key for (app, image), answered for by `operator`, who submits it. Returns (the
    transaction, the BLS certificate, the verified enclave, the attestation time, the evidence)."""
    from ape import chain

    at = datetime.fromtimestamp(chain.blocks.head.timestamp, tz=UTC)
    evidence = tee.evidence(at)
    checked = verify_enclave(evidence, image_digest=tee.image_digest, policy=policy, at=at, trust=trust)
    st = EnrolmentStatement(
        chain.chain_id,
        avs.address,
        app_id,
        tee.image_digest,
        policy.hash(),
        checked.enclave_key,
        checked.evidence_hash,
        operator.address,
        int(at.timestamp()),
    )
    cert, c = bls_certificate(set_id, st.digest(), bls, list(bls))
    r = avs.enrollEnclaveKeyBLS(
        app_id, tee.image_digest, st.enclave_key, st.evidence_hash, st.verified_at, cert, sender=operator
    )
    return r, c, checked, at, evidence
