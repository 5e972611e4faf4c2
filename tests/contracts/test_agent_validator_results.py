"""TaskValidator over ComputeAVS (contracts/agent/TaskValidator.vy, kind 3): a TEE-attested result
of a registered image, accepted by ComputeAVS, answers a validation request 100
(`result-accepted`; `result-attested` for a non-deterministic app, which no fault proof covers);
a fault proof against its enclave's operator for that input answers 0 while the set's resolver may
still cancel the slash (`result-fault-pending`), 0 once final (`result-faulty`) and 100 once
cancelled (`result-overturned`); another agent's result is 0; every refusal reverts with its own
reason. (A module of its own: the compute world's operators cannot share a chain with the
mailbox's.)"""

from __future__ import annotations

import dataclasses

import pytest
from eth_hash.auto import keccak

from offchain.abi import ZERO_ADDRESS
from offchain.chain.agent import VALIDATION_KIND_RESULT
from offchain.chain.compute_avs import receipt_args
from tests.contracts.support import ESCROW_BLOCKS, A, ComputeWorld, World, evs, one, reverts
from tests.contracts.test_agent_validator import SALT, Registries


@pytest.fixture(scope="module")
def rw(project, chain, accounts, deployment):
    """Registries whose TaskValidator answers from a ComputeAVS world's results; the agent is the
    app's owner (whose image the enclaves run)."""
    cw = ComputeWorld(World(project, chain, accounts, deployment), project, chain, accounts)
    r = Registries(project, chain, cw.w.owner, compute=cw.avs)
    r.cw, r.w = cw, cw.w
    r.agent_id = r.agent(cw.app_owner)
    return r


def _answer(rw, bundle, agent_id=None, salt=SALT):
    r, _ = receipt_args(bundle)
    rc = rw.v.respondResult(rw.agent_id if agent_id is None else agent_id, r, salt, sender=rw.w.other)
    ev = one(rc, "Answered")
    assert ev.kind == VALIDATION_KIND_RESULT and bytes(ev.ref) == bundle.receipt.digest()
    return ev.response, ev.tag


def test_accepted_result_answers_100_until_a_fault_is_proven(rw):
    cw, w = rw.cw, rw.w
    tee = cw.tee()
    cw.enrol(tee, op_index=0)
    a = cw.receipt(tee, b"2+2", b"4")
    rh = rw.request(cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, a.receipt.digest())
    reverts("receipt not accepted", rw.v.respondResult, rw.agent_id, receipt_args(a)[0], SALT, sender=w.other)
    cw.submit(a)
    assert _answer(rw, a) == (100, "result-accepted")
    assert rw.status(rh) == (100, keccak(b"4"), "result-accepted")
    assert A(rw.v.computeAVS()) == A(cw.avs) and A(rw.v.resultSlashEscrow()) == A(w.esc)
    # the same enclave signs another output for the same input: its operator is slashed
    b = cw.receipt(tee, b"2+2", b"5")
    rc = cw.avs.proveFault(*receipt_args(a), *receipt_args(b), sender=w.other)
    assert evs(rc, "FaultProven")[0].slashId != 0
    assert _answer(rw, a) == (0, "result-fault-pending")
    assert rw.status(rh) == (0, keccak(b"4"), "result-fault-pending")
    rw.chain.mine(ESCROW_BLOCKS + 1)  # past the slash escrow's window: final
    assert _answer(rw, a) == (0, "result-faulty")
    assert tuple(rw.val.getSummary(rw.agent_id, [rw.v], "")) == (1, 0)


def test_a_cancelled_slash_turns_the_0_back_to_100(rw):
    """Two operators' enclaves disagree on one input: both are slashed (the contract cannot tell
    which is wrong); the set's resolver cancels the honest one's slash after re-execution, and
    its result's 0 turns into 100 `result-overturned`, while the forger's stays 0 once final."""
    cw, w = rw.cw, rw.w
    t0, t1 = cw.tee(), cw.tee()
    cw.enrol(t0, op_index=0)
    cw.enrol(t1, op_index=1)
    honest, forged = cw.receipt(t0, b"q", b"honest"), cw.receipt(t1, b"q", b"forged")
    cw.submit(honest)
    cw.submit(forged)
    rh = rw.request(cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, honest.receipt.digest())
    rf = rw.request(cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, forged.receipt.digest())
    rc = cw.avs.proveFault(*receipt_args(honest), *receipt_args(forged), sender=w.other)
    ids = {A(e.operator): e.slashId for e in evs(rc, "FaultProven")}
    assert _answer(rw, honest) == (0, "result-fault-pending")
    w.esc.cancelSlash(cw.avs, cw.set_id, ids[A(cw.ops[0])], sender=w.resolver)
    assert _answer(rw, honest) == (100, "result-overturned")
    rw.chain.mine(ESCROW_BLOCKS + 1)
    assert _answer(rw, honest) == (100, "result-overturned")
    assert _answer(rw, forged) == (0, "result-faulty")
    assert rw.status(rh)[0] == 100 and rw.status(rf)[0] == 0


def test_a_fault_of_an_operator_no_longer_slashable_stands_at_once(rw):
    # the enclave's operator left the set before the fault proof: recorded at fault, not slashed,
    # nothing for a resolver to cancel
    cw, w = rw.cw, rw.w
    tee = cw.tee()
    cw.enrol(tee, op_index=2)
    a, b = cw.receipt(tee, b"i", b"1"), cw.receipt(tee, b"i", b"2")
    cw.submit(a)
    rw.request(cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, a.receipt.digest())
    w.am.deregisterFromOperatorSets((cw.ops[2], cw.avs, [cw.set_id]), sender=cw.ops[2])
    w.mine(21)  # past DEALLOCATION_DELAY
    rc = cw.avs.proveFault(*receipt_args(a), *receipt_args(b), sender=w.other)
    assert evs(rc, "FaultOperatorNotSlashable")[0].operator == cw.ops[2].address
    assert _answer(rw, a) == (0, "result-faulty")


def test_non_deterministic_result_and_the_operators_own_agent(rw):
    """A non-deterministic app's accepted result is 100 `result-attested` (no fault proof exists for
    it); an agent whose owner operates the enclave may ask for its results too."""
    cw = rw.cw
    nd = keccak(b"app: sampler")
    cw.avs.registerApp(nd, cw.set_id, False, sender=cw.app_owner)
    cw.avs.registerImage(nd, cw.image, "v1.0.0", cw.policy.hash(), 0, sender=cw.app_owner)
    tee = cw.tee()
    cw.enrol(tee, op_index=1, st=dataclasses.replace(cw.statement(tee, op_index=1), app_id=nd))
    b = cw.receipt(tee, b"prompt", b"sample", app_id=nd)
    cw.submit(b)
    rw.request(cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, b.receipt.digest())
    assert _answer(rw, b) == (100, "result-attested")
    op_agent = rw.agent(cw.ops[1])
    rw.request(cw.ops[1], op_agent, VALIDATION_KIND_RESULT, b.receipt.digest())
    assert _answer(rw, b, agent_id=op_agent) == (100, "result-attested")


def test_refusals(rw, project):
    cw, w = rw.cw, rw.w
    tee = cw.tee()
    cw.enrol(tee, op_index=2)
    a = cw.receipt(tee, b"1+1", b"2")
    cw.submit(a)
    r, _ = receipt_args(a)
    digest = a.receipt.digest()
    # another agent's result (neither the app's owner nor the enclave's operator): 0
    stranger = rw.agent(w.staker2)
    rs = rw.request(w.staker2, stranger, VALIDATION_KIND_RESULT, digest)
    assert _answer(rw, a, agent_id=stranger) == (0, "not-agent-result")
    assert rw.status(rs) == (0, b"\x00" * 32, "not-agent-result")
    # no request filed (or filed under another salt)
    reverts("unknown", rw.v.respondResult, rw.agent_id, r, SALT, sender=w.other)
    # this agent's hash filed under another agent, and a request addressed to another validator
    rw.request(w.staker2, stranger, VALIDATION_KIND_RESULT, digest, hash_agent=rw.agent_id)
    reverts("wrong agent", rw.v.respondResult, rw.agent_id, r, SALT, sender=w.other)
    salt = b"\x02" * 32
    rw.request(
        cw.app_owner, rw.agent_id, VALIDATION_KIND_RESULT, digest, validator=w.other.address, salt=salt
    )
    reverts("not this validator", rw.v.respondResult, rw.agent_id, r, salt, sender=w.other)
    # a receipt for another chain (its digest would name a receipt ComputeAVS never accepts here)
    other_chain = list(r)
    other_chain[10] = r[10] + 1
    reverts("wrong chain", rw.v.respondResult, rw.agent_id, tuple(other_chain), SALT, sender=w.other)
    # a validator serving no compute AVS
    bare = Registries(project, rw.chain, w.owner)
    reverts("no compute avs", bare.v.respondResult, rw.agent_id, r, SALT, sender=w.other)
    reverts("no mailbox", bare.v.respondTask, rw.agent_id, digest, b"\x00" * 32, SALT, [], sender=w.other)
    assert A(bare.v.resultSlashEscrow()) == A(ZERO_ADDRESS)
