"""TaskValidator (contracts/agent/TaskValidator.vy, docs/agent.md "Validators with stake"): ERC-8004
validation requests answered from what the chain certified: a TaskMailbox task's certificate
(100), its expiry, another result or a proven fault (0); an InferenceDisputes receipt that is final
(100), proven wrong or left unresolved (0) is in test_agent_validator_disputes.py; never for another
agent's work; anyone may call."""

from __future__ import annotations

import json

import pytest

from offchain.abi import ZERO_ADDRESS
from offchain.chain.agent import (
    VALIDATION_KIND_INFERENCE,
    VALIDATION_KIND_RESULT,
    VALIDATION_KIND_TASK,
    validation_request_hash,
)
from offchain.chain.components import Parameters, deploy_components
from offchain.chain.deploy import TASK_VALIDATOR, deploy_core, deploy_task_validator
from offchain.chain.errors import ChainInputError, DeployConfigError
from tests.contracts.support import ESCROW_BLOCKS, TEST_CONFIG, A, World, evs, one, reverts
from tests.contracts.test_task_mailbox import CERT_ECDSA, TIMEOUT, MailboxWorld

ZERO32 = b"\x00" * 32
SALT = ZERO32  # the requests' salt, unless a test needs another
H4 = bytes.fromhex("13600b294191fc92924bb3ce4b969c1e7e2bab8f4c93c3fc6d0a51733df3c060")  # keccak(b"4")
H5 = bytes.fromhex("ceebf77a833b30520287ddd9478ff51abbdffa30aa90a8d655dba0e8a79ce0c1")  # keccak(b"5")


class Registries:
    """An IdentityRegistry, a ValidationRegistry on it and a TaskValidator answering it."""

    def __init__(
        self, project, chain, owner, mailbox=ZERO_ADDRESS, disputes=ZERO_ADDRESS, compute=ZERO_ADDRESS
    ):
        self.chain = chain
        self.ident = owner.deploy(project.IdentityRegistry)
        self.val = owner.deploy(project.ValidationRegistry, self.ident)
        self.v = owner.deploy(project.TaskValidator, self.val, mailbox, disputes, compute)

    def agent(self, owner) -> int:
        return one(self.ident.register("https://agent.example/card.json", sender=owner), "Registered").agentId

    def request(
        self, owner, agent_id, kind, ref, expected=ZERO32, validator=None, hash_agent=None, salt=SALT
    ) -> bytes:
        h = validation_request_hash(
            A(self.v),
            self.chain.chain_id,
            agent_id if hash_agent is None else hash_agent,
            kind,
            ref,
            expected,
            salt,
        )
        self.val.validationRequest(validator or self.v, agent_id, "ipfs://work", h, sender=owner)
        return h

    def status(self, h):
        s = self.val.getValidationStatus(h)
        return s[2], bytes(s[3]), s[4]  # response, responseHash, tag


@pytest.fixture(scope="module")
def tw(project, chain, accounts, deployment):
    w = World(project, chain, accounts, deployment)
    mw = MailboxWorld(w, project, chain, accounts)
    r = Registries(project, chain, w.owner, mailbox=mw.mailbox)
    r.mw, r.w = mw, w
    r.agent_id = r.agent(mw.creator)  # the agent creating the tasks
    return r


def _verify(mw, h, result=b"4", signers=(0, 1)):
    rc = mw.submit(h, mw.ecdsa(h, result, signers=signers), result=result)
    return list(evs(rc, "TaskVerified")[0].signers)


def test_contracts_fit_eip_170(project) -> None:
    # the validator reads three services and their slashes' fate; ComputeAVS: test_avs_bls.py
    for name in ("TaskValidator", "VerifiedEscrow"):
        code = project.get_contract(name).contract_type.runtime_bytecode.bytecode
        assert len(bytes.fromhex(code[2:])) <= 24_576 * 3 // 4, name  # well under EIP-170


def test_request_hash_matches_offchain(tw):
    ref = bytes(range(32))
    salt = b"\x05" * 32
    assert bytes(tw.v.requestHash(7, VALIDATION_KIND_TASK, ref, H4, salt)) == validation_request_hash(
        A(tw.v), tw.chain.chain_id, 7, VALIDATION_KIND_TASK, ref, H4, salt
    )
    assert validation_request_hash(A(tw.v), 1, 7, 1, ref, salt=salt) != validation_request_hash(
        A(tw.v), 1, 7, 1, ref
    )
    assert validation_request_hash(A(tw.v), 1, 7, 1, ref) != validation_request_hash(A(tw.v), 1, 8, 1, ref)
    assert tw.v.KIND_TASK() == VALIDATION_KIND_TASK and tw.v.KIND_INFERENCE() == VALIDATION_KIND_INFERENCE
    assert tw.v.KIND_RESULT() == VALIDATION_KIND_RESULT
    assert A(tw.v.identity()) == A(tw.ident) and A(tw.v.mailbox()) == A(tw.mw.mailbox)
    for bad in (
        lambda: validation_request_hash(A(tw.v), 1, 0, 4, ref),
        lambda: validation_request_hash(A(tw.v), 1, 0, VALIDATION_KIND_RESULT, ref, H4),
        lambda: validation_request_hash(A(tw.v), 1, -1, VALIDATION_KIND_TASK, ref),
        lambda: validation_request_hash(A(tw.v), 1, 0, VALIDATION_KIND_TASK, b"\x01"),
        lambda: validation_request_hash(A(tw.v), 1, 0, VALIDATION_KIND_INFERENCE, ref, H4),
        lambda: validation_request_hash(A(tw.v), 1, 0, VALIDATION_KIND_TASK, ref, H4, b"\x01"),
    ):
        with pytest.raises(ChainInputError):
            bad()


def test_certified_task_answers_100_by_anyone(tw):
    mw = tw.mw
    h, _ = mw.create()
    rh = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h, H4)
    reverts("task pending", tw.v.respondTask, tw.agent_id, h, H4, SALT, [], sender=tw.w.other)
    signers = _verify(mw, h)
    reverts("wrong signer list", tw.v.respondTask, tw.agent_id, h, H4, SALT, [], sender=tw.w.other)
    rc = tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=tw.w.other)
    ev = one(rc, "Answered")
    assert (bytes(ev.requestHash), ev.agentId, ev.kind, ev.response, ev.tag) == (
        rh,
        tw.agent_id,
        VALIDATION_KIND_TASK,
        100,
        "task-certified",
    )
    assert tw.status(rh) == (100, H4, "task-certified")
    assert tuple(tw.val.getSummary(tw.agent_id, [tw.v], "task-certified")) == (1, 100)
    # no expectation: any certified result
    rh_any = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h)
    tw.v.respondTask(tw.agent_id, h, ZERO32, SALT, signers, sender=tw.w.other)
    assert tw.status(rh_any)[0] == 100


def test_expired_and_mismatched_tasks_answer_0(tw):
    mw = tw.mw
    h, _ = mw.create()
    rh = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h)
    tw.chain.mine(TIMEOUT + 1)
    tw.v.respondTask(tw.agent_id, h, ZERO32, SALT, [], sender=tw.w.other)
    assert tw.status(rh) == (0, ZERO32, "task-expired")
    h2, _ = mw.create()
    rh2 = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h2, H4)
    signers = _verify(mw, h2, result=b"5")
    tw.v.respondTask(tw.agent_id, h2, H4, SALT, signers, sender=tw.w.other)
    assert tw.status(rh2) == (0, H5, "result-mismatch")


def test_a_fault_proven_after_the_answer_turns_it_to_0(tw):
    """100 while no fault is proven; a fault proof turns it into 0 `fault-pending` while the set's
    resolver may still cancel the slash, then 0 `fault-proven` once the slash is final (past the
    escrow window)."""
    mw, w = tw.mw, tw.w
    h, _ = mw.create()
    rh = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h, H4)
    signers = _verify(mw, h)
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh)[0] == 100
    # ops 0 and 2 certify "5" for the same deterministic task: op 0 signed both and is slashed
    mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    rc = tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert (one(rc, "Answered").response, one(rc, "Answered").tag) == (0, "fault-pending")
    assert tw.status(rh) == (0, H4, "fault-pending")
    tw.chain.mine(ESCROW_BLOCKS + 1)  # past the slash escrow's window (not yet released): final
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh) == (0, H4, "fault-proven")
    assert tuple(tw.val.getSummary(tw.agent_id, [tw.v], "")) == (1, 0)  # the last answer counts


def test_a_cancelled_fault_slash_turns_the_0_back_to_100(tw):
    """The set's resolver cancels the fault's slash inside the escrow window (re-execution showed
    the certified result right): the 0 answered while it was pending turns into 100
    `task-overturned`, the answer the certificate alone gives; with another result expected, the
    certificate alone still says 0 `result-mismatch`."""
    mw, w = tw.mw, tw.w
    h, _ = mw.create()
    rh = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h, H4)
    other = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h, H5)
    signers = _verify(mw, h)
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    (ev,) = evs(rc, "TaskFaultProven")
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh) == (0, H4, "fault-pending")
    w.esc.cancelSlash(mw.mailbox, mw.set_id, ev.slashId, sender=w.resolver)
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh) == (100, H4, "task-overturned")
    tw.chain.mine(ESCROW_BLOCKS + 1)  # a cancelled slash stays cancelled
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh) == (100, H4, "task-overturned")
    tw.v.respondTask(tw.agent_id, h, H5, SALT, signers, sender=w.other)
    assert tw.status(other) == (0, H4, "result-mismatch")


def test_a_fault_of_several_operators_stands_once_one_slash_is_final(tw):
    """Both certifying operators signed a conflicting result and both are slashed: one slash
    cancelled leaves the answer pending while the other may still be cancelled, and `fault-proven`
    once the other is final."""
    mw, w = tw.mw, tw.w
    h, _ = mw.create()
    rh = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h)
    signers = _verify(mw, h)
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 1)), b"5", [], signers, sender=w.other)
    ids = {A(x.operator): x.slashId for x in evs(rc, "TaskFaultProven")}
    w.esc.cancelSlash(mw.mailbox, mw.set_id, ids[A(mw.ops[0])], sender=w.resolver)
    tw.v.respondTask(tw.agent_id, h, ZERO32, SALT, signers, sender=w.other)
    assert tw.status(rh) == (0, H4, "fault-pending")
    tw.chain.mine(ESCROW_BLOCKS + 1)
    tw.v.respondTask(tw.agent_id, h, ZERO32, SALT, signers, sender=w.other)
    assert tw.status(rh) == (0, H4, "fault-proven")


def test_a_fault_of_an_operator_no_longer_slashable_stands_at_once(project, chain, accounts):
    """The certifying operator left its set before the fault proof: found at fault but not slashed,
    nothing for the resolver to cancel, so the answer is 0 `fault-proven` at once (on a fresh core:
    the operator leaves its set for good)."""
    w = World(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
    mw = MailboxWorld(w, project, chain, accounts)
    r = Registries(project, chain, w.owner, mailbox=mw.mailbox)
    agent_id = r.agent(mw.creator)
    h, _ = mw.create(mw.params(task_type=mw.register_type(CERT_ECDSA, threshold=5000)))
    rh = r.request(mw.creator, agent_id, VALIDATION_KIND_TASK, h)
    signers = _verify(mw, h, signers=(0,))
    w.am.deregisterFromOperatorSets((mw.ops[0], mw.mailbox.address, [mw.set_id]), sender=mw.ops[0])
    w.mine(25)  # past the deallocation delay
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(1, 2)), b"5", [], signers, sender=w.other)
    assert [A(x.operator) for x in evs(rc, "TaskFaultNotSlashable")] == [A(mw.ops[0])]
    r.v.respondTask(agent_id, h, ZERO32, SALT, signers, sender=w.other)
    assert r.status(rh) == (0, H4, "fault-proven")


def test_another_agents_task_and_other_refusals(tw, accounts):
    mw, w = tw.mw, tw.w
    h, _ = mw.create()
    signers = _verify(mw, h)
    # an agent claiming a task it did not create is answered 0
    thief = tw.agent(w.staker2)
    rh = tw.request(w.staker2, thief, VALIDATION_KIND_TASK, h, H4)
    tw.v.respondTask(thief, h, H4, SALT, signers, sender=w.other)
    assert tw.status(rh) == (0, ZERO32, "not-agent-task")
    # the real agent's request for the same work is its own (the hash names the agent)
    mine = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h, H4)
    tw.v.respondTask(tw.agent_id, h, H4, SALT, signers, sender=w.other)
    assert tw.status(mine)[0] == 100 and tw.status(rh)[0] == 0
    # a hash of this agent's filed under another agent is never answered
    h3, _ = mw.create()
    taken = tw.request(w.staker2, thief, VALIDATION_KIND_TASK, h3, hash_agent=tw.agent_id)
    reverts("wrong agent", tw.v.respondTask, tw.agent_id, h3, ZERO32, SALT, [], sender=w.other)
    reverts("exists", tw.val.validationRequest, tw.v, tw.agent_id, "", taken, sender=mw.creator)
    # the agent files again under another salt, and that request is answered
    salt = b"\x01" * 32
    again = tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h3, salt=salt)
    tw.chain.mine(TIMEOUT + 1)
    tw.v.respondTask(tw.agent_id, h3, ZERO32, salt, [], sender=w.other)
    assert tw.status(again) == (0, ZERO32, "task-expired")
    # a request never filed, one addressed to another validator, an unknown task
    reverts("unknown", tw.v.respondTask, tw.agent_id, h, H5, SALT, signers, sender=w.other)
    other = w.other.address
    h2, _ = mw.create()
    tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, h2, validator=other)
    reverts("not this validator", tw.v.respondTask, tw.agent_id, h2, ZERO32, SALT, [], sender=w.other)
    ghost = b"\x77" * 32
    tw.request(mw.creator, tw.agent_id, VALIDATION_KIND_TASK, ghost)
    reverts("unknown task", tw.v.respondTask, tw.agent_id, ghost, ZERO32, SALT, [], sender=w.other)
    reverts("no disputes", tw.v.respondInference, tw.agent_id, ghost, SALT, sender=w.other)
    # only the validator contract can file the answer in the registry
    reverts("not validator", tw.val.validationResponse, rh, 100, "", ZERO32, "", sender=w.other)


def test_deployed_with_the_agent_component_beside_a_mailbox(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    comps = ("task-mailbox", "agent")
    first = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), comps, **kw)
    v = first.agent[TASK_VALIDATOR]
    assert A(v.registry()) == A(first.agent["validation_registry"])
    assert A(v.mailbox()) == A(first.avs["task_mailbox"]) and A(v.disputes()) == A(ZERO_ADDRESS)
    assert A(v.computeAVS()) == A(first.avs["compute_avs"])  # the mailbox's executors' AVS
    assert A(v.identity()) == A(first.agent["identity_registry"])
    assert json.loads(record.read_text())[TASK_VALIDATOR] == v.address
    second = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), comps, **kw)
    assert second.agent[TASK_VALIDATOR].address == v.address
    alone = deploy_components(
        project, accounts[0], Parameters(TEST_CONFIG), ("agent",), record=tmp_path / "b.json"
    )
    assert TASK_VALIDATOR not in alone.agent
    # beside a ComputeAVS alone: its results (kind 3) only
    results = deploy_components(
        project, accounts[0], Parameters(TEST_CONFIG), ("compute-avs", "agent"), record=tmp_path / "c.json"
    ).agent[TASK_VALIDATOR]
    assert A(results.mailbox()) == A(ZERO_ADDRESS) and A(results.computeAVS()) != A(ZERO_ADDRESS)
    reg = first.agent["validation_registry"].address
    for args in (
        (reg, ZERO_ADDRESS, ZERO_ADDRESS),
        (ZERO_ADDRESS, reg, ZERO_ADDRESS),
        (reg, "0x12", ZERO_ADDRESS),
        (reg, ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS),
        (reg, ZERO_ADDRESS, ZERO_ADDRESS, "0x12"),
    ):
        with pytest.raises(DeployConfigError):
            deploy_task_validator(project, accounts[0], *args)
