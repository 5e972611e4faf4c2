"""InferenceDisputes: receipt registration, challenges with a bond, stake-weighted verdicts over the
re-executed output, slashing, client compensation after the escrow window, and every timeout path."""

from __future__ import annotations

import ape
import pytest
from eth_hash.auto import keccak
from eth_keys import keys
from hypothesis import given
from hypothesis import strategies as st

from offchain.ai.receipt import DOMAIN, ENGINE_ID, Receipt
from offchain.ai.sampler import SamplingParams
from offchain.chain.compute_avs import registration_data
from offchain.chain.deploy import DeployConfigError, InferenceDisputesConfig, deploy_inference_disputes
from offchain.chain.inference_disputes import (
    INVALID_REQUEST,
    DisputeError,
    Verdict,
    output_commitment,
    receipt_args,
    receipt_output,
    reexecute_with,
    verdict_digest,
)
from tests.contracts.support import (
    BOND,
    CHALLENGE_WINDOW,
    ESCROW_BLOCKS,
    INFERENCE_SET,
    RESOLUTION_WINDOW,
    SLASH_WAD,
    THRESHOLD,
    WAD,
    ZERO,
    evs,
    tamper,
)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
STATUS = {"none": 0, "registered": 1, "challenged": 2, "upheld": 3, "faulty": 4, "expired": 5}


def claim(dworld, receipt):
    return dworld.c.claims(receipt.digest())


# ---------------------------------------------------------------- encodings


def test_digests_match_offchain(dworld):
    rec = dworld.answer()
    args, sig = receipt_args(rec)
    assert dworld.c.receiptDigest(args) == rec.digest()
    assert dworld.c.outputCommitment(args) == receipt_output(rec)
    d = keccak(b"x")
    assert dworld.c.verdictDigest(d, keccak(b"y")) == verdict_digest(
        dworld.chain.chain_id, dworld.c.address, d, keccak(b"y")
    )
    assert dworld.c.INVALID_REQUEST() == INVALID_REQUEST


_u32 = st.integers(0, 2**32 - 1)


@given(
    seed=st.integers(0, 2**64 - 1),
    temp=st.integers(0, 2000),
    top_k=_u32,
    top_p=st.integers(1, 10**6),
    prompt=st.lists(_u32, min_size=1, max_size=40),
    out=st.lists(_u32, min_size=1, max_size=40),
    salt=st.binary(min_size=1, max_size=8),
    finish=st.integers(0, 1),
)
def test_receipt_digest_equals_offchain_for_random_receipts(
    dworld, seed, temp, top_k, top_p, prompt, out, salt, finish
):
    params = SamplingParams(
        seed=seed, temperature_milli=temp, top_k=top_k, top_p_micro=top_p, max_tokens=len(out)
    )
    r = Receipt(
        model_hash=keccak(b"m" + salt),
        tokenizer_hash=keccak(b"t" + salt),
        engine_id=keccak(b"e" + salt),
        operator="0x" + keccak(salt).hex()[:40],
        client="0x" + keccak(b"c" + salt).hex()[:40],
        params=params,
        prompt_tokens=tuple(prompt),
        output_tokens=tuple(out),
        logits_hashes=tuple(keccak(salt + bytes([i % 256])) for i in range(len(out))),
        finish_reason=finish,
    )
    values = tuple(r.abi_values())
    assert dworld.c.receiptDigest(values) == r.digest()
    assert dworld.c.outputCommitment(values) == output_commitment(out, r.steps_root, finish)


# ---------------------------------------------------------------- deployment and admin


def test_constructor_checks(dworld, project):
    w = dworld.w
    am, esc = w.am.address, w.esc.address
    for args, reason in (
        ((am, ZERO, 1, 1, 1, 1), "zero slash escrow"),
        ((am, esc, 0, 1, 1, 1), "zero bond"),
        ((am, esc, 1, 0, 1, 1), "zero window"),
        ((am, esc, 1, 1, 0, 1), "zero window"),
        ((am, esc, 1, 1, 1, 0), "bad slash wad"),
        ((am, esc, 1, 1, 1, WAD + 1), "bad slash wad"),
        ((ZERO, esc, 1, 1, 1, 1), "zero allocation manager"),
    ):
        with ape.reverts(reason):
            w.owner.deploy(project.InferenceDisputes, *args)
    with pytest.raises(DeployConfigError):
        InferenceDisputesConfig(challenge_window_s=0)
    with pytest.raises(DeployConfigError):
        InferenceDisputesConfig(slash_wad=WAD + 1)


def test_views_after_setup(dworld):
    c = dworld.c
    assert c.CHALLENGE_BOND() == BOND and c.CHALLENGE_WINDOW() == CHALLENGE_WINDOW
    assert c.RESOLUTION_WINDOW() == RESOLUTION_WINDOW and c.SLASH_WAD() == SLASH_WAD
    assert c.slashEscrow() == dworld.w.esc.address and c.owner() == dworld.w.owner.address
    assert c.operatorSetId() == INFERENCE_SET and c.setCreated() and c.initialized()
    assert c.thresholdBps(INFERENCE_SET) == THRESHOLD
    assert list(c.getMembers(INFERENCE_SET)) == [o.address for o in dworld.ops]
    opset = (c.address, INFERENCE_SET)
    assert dworld.w.am.getRedistributionRecipient(opset) == c.address
    assert (
        dworld.w.am.getSlasher(opset) == c.address
        and dworld.w.am.getResolver(opset) == dworld.w.resolver.address
    )
    assert c.isModelAllowed(dworld.svc.model.sha256, dworld.svc.tokenizer.hash, ENGINE_ID)
    assert c.supportsAVS(c) and not c.supportsAVS(dworld.w.avs)


def test_admin_paths(dworld, project):
    w, c = dworld.w, dworld.c
    with ape.reverts("only owner"):
        c.transferOwnership(w.other, sender=w.other)
    with ape.reverts("zero owner"):
        c.transferOwnership(ZERO, sender=w.owner)
    with ape.reverts("only owner"):
        c.initialize("x", sender=w.other)
    with ape.reverts("already initialized"):
        c.initialize("x", sender=w.owner)
    with ape.reverts("set exists"):
        c.createInferenceSet(INFERENCE_SET + 1, dworld.strats, ZERO, THRESHOLD, sender=w.owner)
    with ape.reverts("only owner"):
        c.setThreshold(7000, sender=w.other)
    with ape.reverts("threshold must exceed half"):
        c.setThreshold(5000, sender=w.owner)
    with ape.reverts("threshold must exceed half"):
        c.setThreshold(10001, sender=w.owner)
    tx = c.setThreshold(7500, sender=w.owner)
    assert c.thresholdBps(INFERENCE_SET) == 7500 and evs(tx, "ThresholdSet")[0].thresholdBps == 7500
    m = (keccak(b"m"), keccak(b"t"), keccak(b"e"))
    with ape.reverts("only owner"):
        c.setModelAllowed(*m, True, sender=w.other)
    with ape.reverts("zero model id"):
        c.setModelAllowed(b"\x00" * 32, m[1], m[2], True, sender=w.owner)
    tx = c.setModelAllowed(*m, True, sender=w.owner)
    assert c.isModelAllowed(*m) and evs(tx, "ModelAllowed")[0].allowed
    c.setModelAllowed(*m, False, sender=w.owner)
    assert not c.isModelAllowed(*m)
    tx = c.transferOwnership(w.other, sender=w.owner)
    assert c.owner() == w.other.address and evs(tx, "OwnershipTransferred")[0].newOwner == w.other.address
    # a fresh contract: set creation before initialisation, threshold rules
    fresh = w.owner.deploy(project.InferenceDisputes, w.am, w.esc, 1, 1, 1, 1)
    with ape.reverts("not initialized"):
        fresh.createInferenceSet(1, dworld.strats, ZERO, THRESHOLD, sender=w.owner)
    with ape.reverts("no inference set"):
        fresh.setThreshold(7000, sender=w.owner)
    fresh.initialize("https://ai.example/2.json", sender=w.owner)
    with ape.reverts("only owner"):
        fresh.createInferenceSet(1, dworld.strats, ZERO, THRESHOLD, sender=w.other)
    with ape.reverts("threshold must exceed half"):
        fresh.createInferenceSet(1, dworld.strats, ZERO, 5000, sender=w.owner)
    with ape.reverts("bad threshold"):
        fresh.createInferenceSet(1, dworld.strats, ZERO, 10001, sender=w.owner)
    tx = fresh.createInferenceSet(1, dworld.strats, ZERO, 5001, sender=w.owner)
    assert evs(tx, "InferenceSetCreated")[0].thresholdBps == 5001


def test_registrar_callbacks_guarded(dworld):
    w, c = dworld.w, dworld.c
    with ape.reverts("only allocation manager"):
        c.registerOperator(w.op, c, [INFERENCE_SET], b"", sender=w.other)
    with ape.reverts("only allocation manager"):
        c.deregisterOperator(w.op, c, [INFERENCE_SET], sender=w.other)
    # deregistering through the AllocationManager removes the member
    w.am.deregisterFromOperatorSets((dworld.ops[2], c.address, [INFERENCE_SET]), sender=dworld.ops[2])
    assert not c.isMember(INFERENCE_SET, dworld.ops[2])


# ---------------------------------------------------------------- registration


def test_register_receipt(dworld):
    rec = dworld.answer()
    tx = dworld.register(rec)
    ev = evs(tx, "ReceiptRegistered")[0]
    cl = claim(dworld, rec)
    assert (
        ev.receiptDigest == rec.digest()
        and ev.client == dworld.client.address
        and ev.operator == dworld.ops[0].address
    )
    assert (
        cl.client == dworld.client.address
        and cl.operator == dworld.ops[0].address
        and cl.status == STATUS["registered"]
    )
    assert cl.output == receipt_output(rec) and cl.deadline == ev.challengeDeadline
    assert cl.deadline == dworld.chain.blocks.head.timestamp + CHALLENGE_WINDOW
    assert not dworld.c.isFinalized(rec.digest())
    with ape.reverts("receipt registered"):
        dworld.register(rec, sender=dworld.watcher)
    dworld.warp(CHALLENGE_WINDOW + 1)
    dworld.chain.mine(1)
    assert dworld.c.isFinalized(rec.digest())
    with ape.reverts("challenge window closed"):
        dworld.challenge(rec)


def test_register_reverts(dworld):
    from dataclasses import replace

    rec = dworld.answer()
    args, sig = receipt_args(rec)
    bad_domain = list(args)
    bad_domain[0] = keccak(b"other")
    with ape.reverts("wrong receipt domain"):
        dworld.c.registerReceipt(tuple(bad_domain), sig, sender=dworld.client)
    other_model = replace(rec, model_hash=keccak(b"other model"), signature=b"").signed(
        dworld.keys[0].to_bytes()
    )
    with ape.reverts("model not allowed"):
        dworld.register(other_model)
    v, r, s = sig
    with ape.reverts("high s"):
        dworld.c.registerReceipt(
            args, (55 - v, r, (N - int.from_bytes(s, "big")).to_bytes(32, "big")), sender=dworld.client
        )
    with ape.reverts("bad signature v"):
        dworld.c.registerReceipt(args, (29, r, s), sender=dworld.client)
    wrong_op = list(args)
    wrong_op[4] = dworld.ops[1].address  # claims another operator
    with ape.reverts("not signed by operator"):
        dworld.c.registerReceipt(tuple(wrong_op), sig, sender=dworld.client)
    other_client = list(args)
    other_client[5] = dworld.watcher.address  # redirects the compensation: the signature no longer matches
    with ape.reverts("not signed by operator"):
        dworld.c.registerReceipt(tuple(other_client), sig, sender=dworld.watcher)
    unbound = dworld.answer(client="0x" + "00" * 20)  # receipt_args refuses it; the contract does too
    ub = unbound.signature
    with ape.reverts("receipt has no client"):
        dworld.c.registerReceipt(
            tuple(unbound.abi_values()), (ub[64], ub[:32], ub[32:64]), sender=dworld.client
        )
    stranger = rec.signed(keys.PrivateKey(keccak(b"not an operator")).to_bytes())
    with ape.reverts("operator not in set"):
        dworld.register(stranger)


def test_version_3_receipts_register_once_their_options_are_bound(dworld):
    """A receipt with request options signs bound_domain(optionsHash, textHash) as its domain word;
    the contract computes the same digest and takes it once bindReceiptOptions published the preimage."""
    from dataclasses import replace

    from offchain.ai.options import RequestOptions
    from offchain.ai.receipt import bound_domain, text_hash

    rec = dworld.answer()
    opts = RequestOptions(stop=("4",), presence_milli=250)
    v3 = replace(rec, options=opts, text_hash=text_hash("2+2 is "), signature=b"").signed(
        dworld.keys[0].to_bytes()
    )
    args, sig = receipt_args(v3)
    assert args[0] == bound_domain(opts.hash(), v3.text_hash)
    assert dworld.c.receiptDigest(args) == v3.digest() != rec.digest()
    with ape.reverts("wrong receipt domain"):
        dworld.c.registerReceipt(args, sig, sender=dworld.client)
    other = dworld.c.bindReceiptOptions(opts.hash(), text_hash("other"), sender=dworld.watcher)
    assert other.return_value != args[0]
    with ape.reverts("wrong receipt domain"):  # another text's binding does not admit it
        dworld.c.registerReceipt(args, sig, sender=dworld.client)
    tx = dworld.register(v3)
    assert dworld.c.boundDomain(args[0])
    assert dworld.c.claims(v3.digest()).status == 1
    assert tx.events[-1].event_name == "ReceiptRegistered"


def test_anyone_registers_for_the_bound_client(dworld):
    # The watcher registers (front-runs) Erin's receipt: the claim still pays Erin, never the caller.
    rec = dworld.answer()
    tx = dworld.register(rec, sender=dworld.watcher)
    assert evs(tx, "ReceiptRegistered")[0].client == dworld.client.address
    assert claim(dworld, rec).client == dworld.client.address


def test_register_before_set_exists(dworld, project):
    fresh = dworld.w.owner.deploy(project.InferenceDisputes, dworld.w.am, dworld.w.esc, 1, 1, 1, 1)
    args, sig = receipt_args(dworld.answer())
    with ape.reverts("no inference set"):
        fresh.registerReceipt(args, sig, sender=dworld.client)


def test_receipt_signed_by_operator_account_key(dworld, accounts):
    # An operator may also sign receipts with its own account key (receipt.operator = the operator).
    op = dworld.ops[1]
    pk = op.private_key
    rec = dworld.answer().signed(bytes.fromhex(pk[2:]) if isinstance(pk, str) else bytes(pk))
    assert rec.operator == op.address
    tx = dworld.register(rec)
    assert evs(tx, "ReceiptRegistered")[0].operator == op.address


# ---------------------------------------------------------------- challenges


def test_challenge(dworld):
    rec = dworld.answer()
    with ape.reverts("unknown receipt"):
        dworld.challenge(rec)
    dworld.register(rec)
    with ape.reverts("wrong bond"):
        dworld.challenge(rec, value=BOND - 1)
    with ape.reverts("wrong bond"):
        dworld.challenge(rec, value=0)
    bal = dworld.c.balance
    tx = dworld.challenge(rec)
    ev = evs(tx, "ReceiptChallenged")[0]
    assert (
        ev.challenger == dworld.watcher.address and ev.bond == BOND and ev.operator == dworld.ops[0].address
    )
    cl = claim(dworld, rec)
    assert cl.status == STATUS["challenged"] and cl.challenger == dworld.watcher.address and cl.bond == BOND
    assert cl.deadline == ev.resolveBy == dworld.chain.blocks.head.timestamp + RESOLUTION_WINDOW
    assert dworld.c.balance == bal + BOND
    with ape.reverts("receipt not challengeable"):
        dworld.challenge(rec)


def test_honest_receipt_challenge_fails_and_forfeits_bond(dworld):
    rec = dworld.answer()
    dworld.register(rec)
    dworld.challenge(rec)
    rex = reexecute_with(dworld.svc, rec)
    assert rex.receipt_correct and rex.report is None
    tx = dworld.resolve(rec)
    ev = evs(tx, "ChallengeRejected")[0]
    assert ev.bondForfeited == BOND and ev.operator == dworld.ops[0].address
    assert (ev.signedStake, ev.totalStake) == (50 * WAD, 50 * WAD)  # ops 1 and 2; the accused's 50 excluded
    cl = claim(dworld, rec)
    assert cl.status == STATUS["upheld"] and dworld.c.isFinalized(rec.digest())
    assert cl.bond == 0  # credited: no longer held for the claim
    assert dworld.c.credits(dworld.ops[0]) == BOND and dworld.c.credits(dworld.watcher) == 0
    with ape.reverts("receipt not proven wrong"):
        dworld.c.settleBond(rec.digest(), sender=dworld.watcher)
    with ape.reverts("not challenged"):
        dworld.resolve(rec)
    before = dworld.ops[0].balance
    tx = dworld.c.withdraw(sender=dworld.ops[0])
    assert evs(tx, "BondWithdrawn")[0].amount == BOND
    assert dworld.ops[0].balance == before + BOND - tx.total_fees_paid
    assert dworld.c.credits(dworld.ops[0]) == 0 and dworld.c.totalCredits() == 0
    with ape.reverts("nothing to withdraw"):
        dworld.c.withdraw(sender=dworld.ops[0])


def test_resolve_reverts(dworld):
    rec = dworld.answer()
    dworld.register(rec)
    with ape.reverts("not challenged"):
        dworld.resolve(rec)
    dworld.challenge(rec)
    correct = receipt_output(rec)
    with ape.reverts("zero output"):
        dworld.c.resolveChallenge(rec.digest(), b"\x00" * 32, [], sender=dworld.watcher)
    with ape.reverts("accused operator signed"):
        dworld.resolve(rec, signers=(0, 1), correct=correct)
    with ape.reverts("threshold not met"):
        dworld.resolve(rec, signers=(2,), correct=correct)  # 20 of 50
    with ape.reverts("threshold not met"):
        dworld.c.resolveChallenge(rec.digest(), correct, [], sender=dworld.watcher)
    _, sigs = dworld.verdict(rec, (1, 2), correct)
    with ape.reverts("signers not ascending"):
        dworld.c.resolveChallenge(rec.digest(), correct, list(reversed(sigs)), sender=dworld.watcher)
    # signatures over another output recover to other keys
    _, other = dworld.verdict(rec, (1, 2), keccak(b"another output"))
    with ape.reverts("signer not in set"):
        dworld.c.resolveChallenge(rec.digest(), correct, other, sender=dworld.watcher)
    dworld.warp(RESOLUTION_WINDOW + 1)
    with ape.reverts("resolution deadline passed"):
        dworld.resolve(rec, correct=correct)


def test_outsider_signature_rejected(dworld):
    rec = dworld.answer()
    dworld.register(rec)
    dworld.challenge(rec)
    outsider = keys.PrivateKey(keccak(b"outsider"))
    v = Verdict(dworld.chain.chain_id, dworld.c.address, rec.digest(), receipt_output(rec))
    with ape.reverts("signer not in set"):
        dworld.c.resolveChallenge(rec.digest(), v.correct_output, v.sign([outsider]), sender=dworld.watcher)


def test_expire_challenge_returns_bond(dworld):
    rec = dworld.answer()
    dworld.register(rec)
    with ape.reverts("not challenged"):
        dworld.c.expireChallenge(rec.digest(), sender=dworld.client)
    dworld.challenge(rec)
    with ape.reverts("resolution window open"):
        dworld.c.expireChallenge(rec.digest(), sender=dworld.client)
    dworld.warp(RESOLUTION_WINDOW + 1)
    tx = dworld.c.expireChallenge(rec.digest(), sender=dworld.client)
    ev = evs(tx, "ChallengeExpired")[0]
    assert ev.challenger == dworld.watcher.address and ev.bondReturned == BOND
    assert claim(dworld, rec).status == STATUS["expired"] and not dworld.c.isFinalized(rec.digest())
    assert dworld.c.credits(dworld.watcher) == BOND and claim(dworld, rec).bond == 0
    with ape.reverts("not challenged"):
        dworld.c.expireChallenge(rec.digest(), sender=dworld.client)
    with ape.reverts("receipt not challengeable"):
        dworld.challenge(rec)
    with ape.reverts("receipt not proven wrong"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.client)


# ---------------------------------------------------------------- wrong receipts


def test_wrong_receipt_slashed_and_client_compensated(dworld):
    w = dworld.w
    rec = tamper(dworld.answer(), dworld.keys[0])
    dworld.register(rec)
    dworld.challenge(rec)
    rex = reexecute_with(dworld.svc, rec)
    assert (
        not rex.receipt_correct and rex.report is not None and rex.report.step == len(rec.output_tokens) - 1
    )
    before = w.dm.operatorShares(dworld.ops[0], dworld.strats[0])
    tx = dworld.resolve(rec)
    ev = evs(tx, "ReceiptProvenWrong")[0]
    assert ev.operator == dworld.ops[0].address and ev.challenger == dworld.watcher.address
    assert ev.claimedOutput == receipt_output(rec) and ev.correctOutput == rex.correct_output
    assert ev.slashId == 1 and (ev.signedStake, ev.totalStake) == (50 * WAD, 50 * WAD)
    # 10% of a 50% allocation of 100 TKA: 5 TKA escrowed
    slashed = 5 * WAD
    assert w.dm.operatorShares(dworld.ops[0], dworld.strats[0]) == before - slashed
    cl = claim(dworld, rec)
    assert cl.status == STATUS["faulty"] and cl.slashId == 1 and not cl.compensated
    # the bond is held until the slash's fate is known (the resolver may still cancel it)
    assert cl.bond == BOND and dworld.c.credits(dworld.watcher) == 0 and dworld.c.balance == BOND
    assert not [e for e in tx.events if e.event_name == "BondCredited"]
    with ape.reverts("resolution window open"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.watcher)
    with ape.reverts("slash pending"):
        dworld.c.settleBond(rec.digest(), sender=dworld.watcher)
    w.mine(ESCROW_BLOCKS + 1)
    tka = w.tokens["TKA"]
    bal = tka.balanceOf(dworld.client)
    tx = dworld.c.claimCompensation(rec.digest(), sender=dworld.watcher)
    comp = evs(tx, "ClientCompensated")
    paid = [(e.client, e.token, e.amount) for e in comp if e.amount]
    assert paid == [(dworld.client.address, tka.address, slashed)]  # TKB: nothing deposited, nothing slashed
    assert tka.balanceOf(dworld.client) == bal + slashed and tka.balanceOf(dworld.c) == 0
    assert claim(dworld, rec).compensated
    # the slash is final: the bond came back with the compensation
    assert [(e.account, e.amount) for e in evs(tx, "BondCredited")] == [(dworld.watcher.address, BOND)]
    assert dworld.c.credits(dworld.watcher) == BOND and claim(dworld, rec).bond == 0
    with ape.reverts("already compensated"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.watcher)
    with ape.reverts("bond settled"):
        dworld.c.settleBond(rec.digest(), sender=dworld.watcher)
    # the challenger withdraws the returned bond
    tx = dworld.c.withdraw(sender=dworld.watcher)
    assert evs(tx, "BondWithdrawn")[0].amount == BOND


def test_compensation_after_someone_else_released(dworld):
    w = dworld.w
    rec = tamper(dworld.answer(op_index=1, seed=5), dworld.keys[1])
    dworld.register(rec)
    dworld.challenge(rec)
    tx = dworld.resolve(rec, signers=(0,))  # 50 of 70 (the accused's 30 excluded) >= 66.67%
    slash_id = evs(tx, "ReceiptProvenWrong")[0].slashId
    w.mine(ESCROW_BLOCKS + 1)
    w.esc.releaseSlash(dworld.c, INFERENCE_SET, slash_id, sender=w.other)  # the tokens arrive at the contract
    tka = w.tokens["TKA"]
    assert tka.balanceOf(dworld.c) == 3 * WAD
    dworld.c.claimCompensation(rec.digest(), sender=dworld.client)
    assert tka.balanceOf(dworld.client) == 3 * WAD and tka.balanceOf(dworld.c) == 0


def test_cancelled_slash_pays_nothing_and_forfeits_the_bond(dworld):
    """The set's resolver cancels the slash (the verdict overturned): the client gets nothing, the
    operator's stake is back, and the challenger's bond goes to the operator it accused falsely, as
    for a receipt the set confirmed. Nobody profits: every balance is checked."""
    w = dworld.w
    rec = tamper(dworld.answer(seed=11), dworld.keys[0])
    op, tka = dworld.ops[0], w.tokens["TKA"]
    dworld.register(rec)
    shares = w.dm.operatorShares(op, dworld.strats[0])
    client_tka = tka.balanceOf(dworld.client)
    dworld.challenge(rec)
    slash_id = evs(dworld.resolve(rec, sender=w.other), "ReceiptProvenWrong")[0].slashId
    assert claim(dworld, rec).bond == BOND
    w.esc.cancelSlash(dworld.c, INFERENCE_SET, slash_id, sender=w.resolver)
    assert w.dm.operatorShares(op, dworld.strats[0]) == shares
    tx = dworld.c.settleBond(rec.digest(), sender=dworld.client)  # anyone, at once: the fate is known
    ev = evs(tx, "VerdictOverturned")[0]
    assert (ev.challenger, ev.operator, ev.slashId, ev.bondForfeited) == (
        dworld.watcher.address,
        op.address,
        slash_id,
        BOND,
    )
    assert dworld.c.credits(op) == BOND and dworld.c.credits(dworld.watcher) == 0
    assert claim(dworld, rec).bond == 0 and dworld.c.totalCredits() == BOND == dworld.c.balance
    with ape.reverts("bond settled"):
        dworld.c.settleBond(rec.digest(), sender=dworld.client)
    w.mine(ESCROW_BLOCKS + 1)
    with ape.reverts("slash cancelled"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.client)
    with ape.reverts("nothing to withdraw"):
        dworld.c.withdraw(sender=dworld.watcher)
    op_eth = op.balance
    fees = dworld.c.withdraw(sender=op).total_fees_paid
    assert op.balance == op_eth + BOND - fees  # the false accusation cost the challenger its bond
    assert dworld.c.balance == 0 and tka.balanceOf(dworld.c) == 0
    assert tka.balanceOf(dworld.client) == client_tka  # no compensation


def test_bond_comes_back_after_the_slash_window_without_a_release(dworld):
    # Past the escrow's window nobody can cancel the slash: the bond is settled before anyone
    # released it, and a later compensation does not credit it twice.
    w = dworld.w
    rec = tamper(dworld.answer(seed=12), dworld.keys[0])
    dworld.register(rec)
    dworld.challenge(rec)
    slash_id = evs(dworld.resolve(rec), "ReceiptProvenWrong")[0].slashId
    w.mine(ESCROW_BLOCKS - 1)
    with ape.reverts("slash pending"):  # mined at the window's last block: still cancellable
        dworld.c.settleBond(rec.digest(), sender=dworld.client)
    w.mine(1)
    assert w.esc.getSlash(dworld.c, INFERENCE_SET, slash_id).status == 1  # pending, past its window
    tx = dworld.c.settleBond(rec.digest(), sender=dworld.client)
    assert [(e.account, e.amount) for e in evs(tx, "BondCredited")] == [(dworld.watcher.address, BOND)]
    assert not evs(tx, "VerdictOverturned")
    with ape.reverts("resolution window closed"):
        w.esc.cancelSlash(dworld.c, INFERENCE_SET, slash_id, sender=w.resolver)
    tx = dworld.c.claimCompensation(rec.digest(), sender=dworld.client)
    assert not evs(tx, "BondCredited") and dworld.c.credits(dworld.watcher) == BOND


def test_settle_bond_refusals(dworld):
    rec = dworld.answer(seed=13)
    with ape.reverts("receipt not proven wrong"):  # unknown
        dworld.c.settleBond(rec.digest(), sender=dworld.client)
    dworld.register(rec)
    dworld.challenge(rec)
    with ape.reverts("receipt not proven wrong"):  # under challenge
        dworld.c.settleBond(rec.digest(), sender=dworld.client)


def test_wrong_receipt_of_unslashable_operator(dworld):
    w = dworld.w
    rec = tamper(dworld.answer(op_index=2, seed=3), dworld.keys[2])
    dworld.register(rec)
    dworld.challenge(rec)
    w.am.deregisterFromOperatorSets((dworld.ops[2], dworld.c.address, [INFERENCE_SET]), sender=dworld.ops[2])
    w.mine(25)  # past the deallocation delay: no longer slashable
    tx = dworld.resolve(rec, signers=(0, 1))
    assert evs(tx, "OperatorNotSlashable")[0].operator == dworld.ops[2].address
    assert evs(tx, "ReceiptProvenWrong")[0].slashId == 0
    # nothing slashed, nothing to cancel: the bond comes back at the verdict
    assert dworld.c.credits(dworld.watcher) == BOND and claim(dworld, rec).bond == 0
    with ape.reverts("bond settled"):
        dworld.c.settleBond(rec.digest(), sender=dworld.client)
    with ape.reverts("operator was not slashed"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.client)


def test_nothing_escrowed_for_zero_allocation(dworld):
    # An operator that allocated nothing is slashed for nothing: no escrow record to forward.
    rec = tamper(dworld.answer(op_index=2, seed=4), dworld.keys[2])
    dworld.allocate(dworld.ops[2], 0)
    dworld.w.mine(25)
    dworld.register(rec)
    dworld.challenge(rec)
    slash_id = evs(dworld.resolve(rec, signers=(0, 1)), "ReceiptProvenWrong")[0].slashId
    assert slash_id != 0
    # nothing escrowed, nothing the resolver could cancel: the bond comes back at once
    dworld.c.settleBond(rec.digest(), sender=dworld.client)
    assert dworld.c.credits(dworld.watcher) == BOND
    dworld.w.mine(ESCROW_BLOCKS + 1)
    with ape.reverts("nothing escrowed"):
        dworld.c.claimCompensation(rec.digest(), sender=dworld.client)


def test_invalid_request_verdict(dworld):
    # A receipt whose prompt the model cannot run is wrong whatever its output.
    from dataclasses import replace

    rec = dworld.answer()
    vocab = dworld.svc.engine.config.vocab_size
    bad = replace(rec, prompt_tokens=rec.prompt_tokens + (vocab + 5,), signature=b"").signed(
        dworld.keys[0].to_bytes()
    )
    rex = reexecute_with(dworld.svc, bad)
    assert rex.correct_output == INVALID_REQUEST and not rex.receipt_correct
    dworld.register(bad)
    dworld.challenge(bad)
    tx = dworld.resolve(bad, correct=rex.correct_output)
    assert evs(tx, "ReceiptProvenWrong")[0].correctOutput == INVALID_REQUEST


def test_offchain_helper_errors(dworld):
    from dataclasses import replace

    rec = dworld.answer()
    with pytest.raises(DisputeError):
        receipt_args(replace(rec, signature=b""))
    with pytest.raises(DisputeError):
        reexecute_with(
            dworld.svc, replace(rec, model_hash=keccak(b"x"), signature=b"").signed(dworld.keys[0].to_bytes())
        )
    with pytest.raises(DisputeError):
        reexecute_with(
            dworld.svc, replace(rec, signature=rec.signature[:64] + bytes([55 - rec.signature[64]]))
        )
    with pytest.raises(DisputeError):
        Verdict(1, dworld.c.address, rec.digest(), b"\x00" * 32)
    with pytest.raises(DisputeError):
        Verdict(1, "0x1234", rec.digest(), keccak(b"o"))
    with pytest.raises(DisputeError):
        Verdict(1, dworld.c.address, rec.digest(), keccak(b"o")).sign([dworld.keys[0], dworld.keys[0]])
    assert rec.domain == DOMAIN


def test_deploy_helper(dworld, project):
    c = deploy_inference_disputes(project, dworld.w.owner, dworld.w.d)
    assert c.initialized() and c.CHALLENGE_BOND() == InferenceDisputesConfig().challenge_bond_wei
    assert dworld.w.am.getAVSRegistrar(c) == c.address
    # operators join with their signing key through the AllocationManager
    c.createInferenceSet(3, dworld.strats, ZERO, THRESHOLD, sender=dworld.w.owner)
    data = registration_data(dworld.chain.chain_id, c.address, dworld.ops[0].address, dworld.keys[0])
    dworld.w.am.setRedistributionConsent(dworld.ops[0], (c.address, 3), True, sender=dworld.ops[0])
    dworld.w.am.registerForOperatorSets(dworld.ops[0], (c.address, [3], data), sender=dworld.ops[0])
    assert c.isMember(3, dworld.ops[0])


def test_exported_signature_views_and_key_rotation(dworld):
    from offchain.chain.compute_avs import key_address, possession_digest, sign_digest

    c = dworld.c
    assert c.allocationManager() == dworld.w.am.address
    for op, k in zip(dworld.ops, dworld.keys, strict=True):
        assert c.signingKeyOf(op).lower() == key_address(k) and c.operatorOfKey(key_address(k)) == op.address
    v = Verdict(dworld.chain.chain_id, c.address, keccak(b"r"), keccak(b"o"))
    assert tuple(c.checkSignatures(INFERENCE_SET, v.digest(), v.sign(dworld.keys[1:]))) == (
        50 * WAD,
        100 * WAD,
    )
    assert c.isThresholdMet(INFERENCE_SET, v.digest(), v.sign(dworld.keys[:2]))  # 80 of 100
    assert not c.isThresholdMet(
        INFERENCE_SET, v.digest(), v.sign(dworld.keys[1:])
    )  # 50 of 100 (the accused is not excluded here)
    assert c.signingKeyDigest(dworld.ops[0], key_address(dworld.keys[0])) == possession_digest(
        dworld.chain.chain_id, c.address, dworld.ops[0].address, key_address(dworld.keys[0])
    )
    # rotation: receipts signed by the old key no longer name a member
    rec_old = dworld.answer()
    new = keys.PrivateKey(keccak(b"rotated key"))
    with ape.reverts("no signing key"):
        c.updateSigningKey(key_address(new), 27, b"\x00" * 32, b"\x00" * 32, sender=dworld.client)
    pv, pr, ps = sign_digest(
        new, possession_digest(dworld.chain.chain_id, c.address, dworld.ops[0].address, key_address(new))
    )
    tx = c.updateSigningKey(key_address(new), pv, pr, ps, sender=dworld.ops[0])
    assert evs(tx, "SigningKeyRegistered")[0].signingKey.lower() == key_address(new)
    with ape.reverts("operator not in set"):
        dworld.register(rec_old)
    assert (
        evs(dworld.register(rec_old.signed(new.to_bytes())), "ReceiptRegistered")[0].operator
        == dworld.ops[0].address
    )
