"""`ape run eigentrust`: reputation computed on the compute network, exactly, and a wrong score slashed.

On a local chain (ape-foundry's anvil): the core, ComputeAVS and the TaskMailbox from the one
deployment path; an app whose executor set three operators join; the EigenTrust image
(offchain/compute/kernels/eigentrust.c, built by ``build_eigentrust_image``) put into service as
``eigen compute deploy`` does; the score registry (contracts/compute/EigenTrustScores.vy). Then:

1. epoch 1: the graph of who trusts whom among six agents is posted as a task; the three executors
   run the image in the sandbox, the aggregator certifies the score root, anyone re-executes it from
   the chain alone with the reference implementation and gets the same bytes; the root is published
   and every agent's score is read on chain with its Merkle proof;
2. epoch 2: operator C runs the image but signs a score vector in which its favourite agent scores
   higher (internally consistent: the root is rebuilt). A and B certify the right one; the verifier
   recomputes, finds C's response wrong and proves it through the TaskSlasher: C is slashed, and
   after the escrow window the slashed stake goes to the app.

Needs bubblewrap (the sandbox) and a C compiler that links statically (the image).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from eth_account import Account
from eth_hash.auto import keccak
from eth_keys import keys as eth_keys

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.bls.keys import SecretKey
from offchain.chain import sdk
from offchain.chain.bls_registry import registration_data as bls_registration_data
from offchain.chain.compute_avs import registration_data
from offchain.chain.deploy import deploy_eigentrust_scores, load_config
from offchain.chain.eigentrust import EigenTrustVerifier, ScoreRegistry
from offchain.chain.task_mailbox import (
    CERT_ECDSA,
    BlsSigner,
    EcdsaSigner,
    OperatorSigner,
    TaskParams,
    Web3TaskMailbox,
)
from offchain.compute.devtee import dev_policy
from offchain.compute.eigentrust import (
    Scores,
    TrustGraph,
    build_eigentrust_image,
    compute,
)
from offchain.compute.executor import dev_enclave, execute_task
from offchain.compute.taskrun import Aggregator, Response
from offchain.compute.testca import NitroTestCA
from scripts._demo.common import local_executors

FEE = 10**16
TIMEOUT = 10  # blocks: at most half the local deallocation delay (20)
STAKE = (30 * WAD, 20 * WAD, 10 * WAD)
AGENTS = ("trader", "data feed", "inference", "auditor", "market maker", "newcomer")


def agent(name: str) -> str:
    return Account.from_key(keccak(b"eigentrust agent " + name.encode())).address


def trust_graph(epoch: int) -> TrustGraph:
    """Who trusts whom (weights: e.g. paid, verified interactions): the trader relies on the data feed
    and inference, the auditor on everyone it audited; the newcomer only trusts itself (dropped).
    The auditor and the trader are pre-trusted. Epoch 2 adds the market maker's dealings."""
    t, f, i, a, m, n = (agent(x) for x in AGENTS)
    edges = [
        (t, f, 40),
        (t, i, 25),
        (t, m, 5),
        (f, i, 10),
        (i, f, 8),
        (a, t, 3),
        (a, f, 2),
        (a, i, 2),
        (n, n, 99),
    ]
    if epoch >= 2:
        edges += [(m, t, 12), (m, n, 1), (f, m, 4)]
    return TrustGraph.from_edges(
        edges, {a: 2, t: 1}, peers=[n], epoch=epoch, alpha=WAD // 5, max_iterations=500
    )


def tampered(scores: Scores, favourite: str) -> bytes:
    """C's lie: its favourite agent gets 5% of the trust more (taken from the top score), the root
    rebuilt, so the result is well formed and only recomputation shows it is wrong."""
    s = list(scores.scores)
    fav = scores.graph.peers.index(bytes.fromhex(favourite[2:]))
    top = max(range(len(s)), key=s.__getitem__)
    s[fav], s[top] = s[fav] + WAD // 20, s[top] - WAD // 20
    lie = dataclasses.replace(scores, scores=tuple(s))
    return lie.result()


def pct(x: int) -> str:
    return f"{100 * x / WAD:7.3f}%"


def main() -> None:
    story()


def story() -> dict:
    """Run the story on the connected chain, printing it; returns the facts a test checks."""
    from ape import accounts, chain, networks, project

    from offchain.chain.components import Parameters, deploy_components

    a = accounts.test_accounts
    owner, resolver = a[0], a[1]
    names = {}
    work = Path(tempfile.mkdtemp(prefix="eigentrust-story-"))
    os.chmod(work, 0o711)  # the sandbox's uid reaches the unpacked image through it
    try:
        out = deploy_components(
            project, owner, Parameters(load_config("local")), ("core", "compute-avs", "task-mailbox")
        )
        d, cavs, mailbox = out.core, out.avs["compute_avs"], out.avs["task_mailbox"]
        slasher = project.TaskSlasher.at(mailbox.taskSlasher())
        reg = project.BLSRegistry.at(mailbox.blsRegistry())
        am, strat, tok = d.allocation_manager, d.strategies["stETH"], d.tokens["stETH"]
        fee_tok = d.tokens["rETH"]
        dep = sdk.Deployment(
            chain_id=chain.chain_id,
            rpc_url=networks.provider.uri,
            addresses={
                "task_mailbox": mailbox.address,
                "allocation_manager": am.address,
                "compute_avs": cavs.address,
            },
        )
        keys = {
            k: Account.from_key(keccak(b"eigentrust story " + k.encode()))
            for k in ("source", "aggregator", "verifier")
        }
        for k in keys.values():
            owner.transfer(k.address, 10**19)
        app_owner = a[5]
        app = Account.from_key(
            app_owner.private_key
        )  # the same account, for the web3 client (`eigen compute deploy`)

        print(
            "##### EigenTrust on the compute network: exact scores, certified, published, and a liar slashed"
        )
        cavs.createOperatorSet(1, [strat], ZERO_ADDRESS, ZERO_ADDRESS, 6667, sender=owner)
        app_id = keccak(b"eigentrust app")
        view = Web3TaskMailbox(dep)
        cavs.registerApp(app_id, 1, True, sender=app_owner)
        set_id = mailbox.createExecutorOperatorSet(
            app_id, [strat], resolver, ZERO_ADDRESS, 5000, sender=app_owner
        ).return_value
        ops, signers = [], []
        for i, (label, stake) in enumerate(zip("ABC", STAKE, strict=True)):
            op = a[2 + i]
            names[op.address] = f"operator {label}"
            d.delegation_manager.registerAsOperator(ZERO_ADDRESS, 0, "https://operator.example", sender=op)
            tok.mint(op, stake, sender=op)
            tok.approve(d.strategy_manager, stake, sender=op)
            d.strategy_manager.depositIntoStrategy(strat, tok, stake, sender=op)
            opset = (mailbox.address, set_id)
            am.setRedistributionConsent(op, opset, True, sender=op)
            am.modifyAllocations(op, [(opset, [strat], [WAD // 2], [0])], sender=op)
            ek = eth_keys.PrivateKey(keccak(b"eigentrust executor %d" % i))
            sk = SecretKey(int.from_bytes(keccak(b"eigentrust executor bls %d" % i), "big") % 2**250 + 1)
            data = registration_data(chain.chain_id, mailbox.address, op.address, ek)
            data += bls_registration_data(sk, op.address, chain.chain_id, reg.address)
            am.registerForOperatorSets(op, (mailbox.address, [set_id], data), sender=op)
            ops.append(op)
            signers.append(OperatorSigner(EcdsaSigner(op.address, ek), BlsSigner(op.address, sk)))
        chain.mine(2)
        print(
            f"Executor set {set_id} of the app: operators A, B, C restaked {', '.join(str(x // WAD) for x in STAKE)} stETH "
            "and allocated half to it; a result needs 66.67% of the set's stake (A and B together)."
        )

        store = work / "images"
        store.mkdir()
        built = build_eigentrust_image(work / "eigentrust.tar")
        (work / "eigentrust.tar").rename(store / built.digest[7:])
        raw = bytes.fromhex(built.digest[7:])
        ca = NitroTestCA(seed=b"eigentrust story TEE")
        deployed = view.deploy_image(
            app,
            raw,
            set_id,
            dev_policy(ca, raw).hash(),
            fee_token=fee_tok.address,
            fee=FEE,
            timeout=TIMEOUT,
            cert_kind=CERT_ECDSA,
            threshold_bps=6667,
            version="eigentrust-v1",
            upgrade_by=chain.pending_timestamp + 86400,
        )
        task_type = deployed["task_type"]
        print(
            f"Image {built.digest} (a static binary, one layer) deployed as task type {task_type} (as `eigen compute deploy`)."
        )
        scores_contract = deploy_eigentrust_scores(
            project, owner, mailbox.address, set_id, raw, keys["source"].address
        )
        dep.addresses["eigentrust_scores"] = scores_contract.address
        registry = ScoreRegistry(dep, account=keys["verifier"])
        print(
            f"EigenTrustScores at {scores_contract.address}: epochs from set {set_id}'s certified runs of this image, graphs by the source."
        )
        fee_tok.mint(keys["source"].address, 100 * FEE, sender=owner)

        def executors(run_by=None):
            return local_executors(dep, signers, store, set_id, dev_enclave(ca), agg.add, work, run_by)

        agg = Aggregator(
            Web3TaskMailbox(dep, account=keys["aggregator"]), work / "evidence", prove_faults=False
        )
        verifier = EigenTrustVerifier(Web3TaskMailbox(dep, account=keys["verifier"]))

        # ---- epoch 1: honest
        g = trust_graph(1)
        exs = executors()
        h = view.create_task(keys["source"], TaskParams(keys["source"].address, task_type, FEE, g.encode()))
        print(
            f"\n## Epoch 1: the source posts the graph ({len(g.peers)} agents, {len(g.edges)} edges, {len(g.encode())} bytes) as task 0x{h.hex()[:16]}…"
        )
        for ex in exs:
            ex.poll()
        cert = agg.done[h]
        print(
            f"Certified by {', '.join(names[s] for s in cert.signers)} ({cert.signed_stake * 100 // cert.total_stake}% of the stake)."
        )
        audit = verifier.audit(h)
        facts = {"epoch1_ok": audit.certified_ok}
        print(
            f"Re-executed from the chain alone with the reference implementation: identical bytes = {audit.certified_ok}."
        )
        published = chain.get_receipt("0x" + bytes(registry.publish(h, cert.result)).hex())
        s = compute(g)
        index, score, proof = s.proof(agent("trader"))
        read_gas = registry.contract.functions.scoreOf(
            1, agent("trader"), score, index, [proof[k : k + 32] for k in range(0, len(proof), 32)]
        ).estimate_gas()
        facts |= {"publish_gas": published.gas_used, "score_of_gas": read_gas}
        print(
            f"Published: epoch 1, root 0x{s.root.hex()[:16]}…, {s.iterations} iterations ({published.gas_used:,} gas). "
            f"Scores read on chain (scoreOf with a {len(proof) // 32}-sibling proof: {read_gas:,} gas as a call):"
        )
        for name in AGENTS:
            print(f"  {name:14} {pct(registry.score_of(s, agent(name)))}")

        # ---- epoch 2: operator C lies
        g2 = trust_graph(2)
        honest2 = compute(g2)
        favourite = agent("newcomer")

        def lie(*args, **kwargs):
            outcome = execute_task(*args, **kwargs)
            return dataclasses.replace(outcome, output=tampered(honest2, favourite))

        shares_before = d.delegation_manager.operatorShares(ops[2], strat)
        exs = executors(run_by={2: lie})
        h2 = view.create_task(keys["source"], TaskParams(keys["source"].address, task_type, FEE, g2.encode()))
        print(
            f"\n## Epoch 2: a new graph (task 0x{h2.hex()[:16]}…); operator C signs scores in which the newcomer gains 5 points"
        )
        for ex in (exs[2], exs[0], exs[1]):
            ex.poll()
        print(
            f"Certified by {', '.join(names[s] for s in agg.done[h2].signers)}; C's response kept as evidence by the aggregator."
        )
        evidence = json.loads((work / "evidence" / f"0x{h2.hex()}.json").read_text())
        responses = [Response.from_json(r) for r in evidence["responses"]]
        audit = verifier.audit(h2, responses)
        (r,) = audit.responses
        facts |= {"epoch2_ok": audit.certified_ok, "verdict": r["verdict"], "liar": r["operator"]}
        print(
            f"The verifier recomputes the task: certified result right = {audit.certified_ok}; {names[r['operator']]}'s response: {r['verdict']}."
        )
        receipt = chain.get_receipt(r["fault_proof"]["tx"])
        (ev,) = slasher.TaskFaultProven.from_receipt(receipt)
        shares_after = d.delegation_manager.operatorShares(ops[2], strat)
        print(
            f"proveShareFault: {names[ev.operator]} slashed (kind {ev.kind}, slash {ev.slashId}); its stETH shares "
            f"{shares_before / WAD:.4f} -> {shares_after / WAD:.4f}."
        )
        chain.mine(load_config("local").slash_resolution_delay_blocks + 1)
        before = tok.balanceOf(app_owner)
        d.slash_escrow.releaseSlash(mailbox, set_id, ev.slashId, sender=owner)
        facts |= {"slashed": shares_before - shares_after, "released": tok.balanceOf(app_owner) - before}
        print(f"After the escrow window the slashed {facts['released'] / WAD:.4f} stETH went to the app.")
        registry.publish(h2, agg.done[h2].result)
        print("Published epoch 2 (the certified, recomputed scores):")
        facts["scores"] = {}
        for name in AGENTS:
            facts["scores"][name] = registry.score_of(honest2, agent(name))
            print(f"  {name:14} {pct(facts['scores'][name])}")
        facts["liar_is_c"] = facts["liar"] == ops[2].address
        return facts
    finally:
        shutil.rmtree(work, ignore_errors=True)
