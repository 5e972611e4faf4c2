"""TaskMailbox and TaskSlasher (contracts/compute, docs/compute-network.md): an app's executor set and
task types, tasks created with an escrowed fee, results certified by ECDSA signatures or a BLS
certificate (domain-separated by chain id and mailbox, so no replay), pro-rata fees, expiry and
refunds, and the two fault proofs slashing through the AllocationManager into the app's escrow."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from eth_keys import keys
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from offchain import settings as eigen_settings
from offchain.abi import WAD, ZERO_ADDRESS
from offchain.bls import group
from offchain.bls.keys import SecretKey
from offchain.chain.bls_registry import bls_digest
from offchain.chain.bls_registry import registration_data as bls_registration_data
from offchain.chain.compute_avs import receipt_args, registration_data, threshold_signatures
from offchain.chain.deploy import TaskMailboxConfig, deploy_task_mailbox
from offchain.chain.errors import ChainInputError
from offchain.chain.sdk import load_abis
from offchain.chain.task_mailbox import (
    CERT_BLS,
    CERT_ECDSA,
    TaskInfo,
    TaskParams,
    bls_certificate,
    certificate_digest,
    certified_stakes,
    ecdsa_certificate,
    message_hash,
    receipt_fault_args,
    signer_stakes_hash,
    signers_hash,
)
from tests.contracts.support import ROTATION_DELAY, STALENESS, ComputeWorld, World, evs, reverts

EIP170 = 24_576
FAULT_WAD = WAD // 10
FEE = 1_000_000
TIMEOUT = 10  # TEST_CONFIG: deallocation delay 20 blocks -> MAX_TASK_TIMEOUT 10
THRESHOLD = 6667
MAG = WAD // 4  # of TKA and TKB allocated by each operator to the executor set
STAKE = (25 * WAD, 15 * WAD, 10 * WAD)  # TKA deposits 100, 60, 40 (ComputeWorld) x MAG


class MailboxWorld:
    """ComputeWorld (ComputeAVS, a deterministic app with one image, a dev TEE) plus a TaskMailbox,
    its TaskSlasher and BLSRegistry; the app owner's executor set 1 joined by the three compute
    operators with fresh ECDSA and BLS keys, a ECDSA task type and a BLS task type paid in TKC."""

    def __init__(self, w, project, chain, accounts):
        self.w, self.chain, self.project = w, chain, project
        self.cw = cw = ComputeWorld(w, project, chain, accounts)
        self.mailbox, self.slasher, self.reg = deploy_task_mailbox(
            project,
            w.owner,
            w.d,
            cw.avs.address,
            TaskMailboxConfig(
                fault_wad=FAULT_WAD,
                bls_rotation_delay_blocks=ROTATION_DELAY,
                bls_max_staleness_blocks=STALENESS,
            ),
        )
        self.app = cw.app_owner
        self.strats = sorted([w.strats["TKA"], w.strats["TKB"]], key=lambda s: int(s.address, 16))
        rc = self.mailbox.createExecutorOperatorSet(
            cw.app_id, self.strats, w.resolver, ZERO_ADDRESS, 5000, sender=self.app
        )
        self.set_id = rc.return_value
        self.opset = (self.mailbox.address, self.set_id)
        self.ops = cw.ops
        self.keys = [keys.PrivateKey(keccak(b"executor %d" % i)) for i in range(3)]
        self.sks = [
            SecretKey(int.from_bytes(keccak(b"executor bls %d" % i), "big") % 2**250 + 1) for i in range(3)
        ]
        for op, key, sk in zip(self.ops, self.keys, self.sks, strict=True):
            w.am.setRedistributionConsent(op, self.opset, True, sender=op)
            data = registration_data(chain.chain_id, self.mailbox.address, op.address, key)
            data += bls_registration_data(sk, op.address, chain.chain_id, self.reg.address)
            w.am.registerForOperatorSets(op, (self.mailbox.address, [self.set_id], data), sender=op)
            w.am.modifyAllocations(op, [(self.opset, self.strats, [MAG, MAG], [0, 0])], sender=op)
        self.reg.updateOperators(self.set_id, [o.address for o in self.ops], sender=w.other)
        self.token = w.tokens["TKC"]
        self.ecdsa_type = self.register_type(CERT_ECDSA)
        self.bls_type = self.register_type(CERT_BLS)
        self.creator = w.staker
        self.fund(self.creator, 100 * FEE)

    def register_type(self, kind, token=None, fee=FEE, timeout=TIMEOUT, threshold=THRESHOLD):
        rc = self.mailbox.registerTaskType(
            self.set_id, self.cw.image, token or self.token, fee, timeout, kind, threshold, sender=self.app
        )
        return rc.return_value

    def fund(self, who, amount, token=None):
        token = token or self.token
        token.mint(who, amount, sender=who)
        token.approve(self.mailbox, 2**256 - 1, sender=who)

    def params(self, task_type=None, payload=b"2+2", fee=FEE, refund=None):
        return TaskParams(
            refund or self.w.staker2.address,
            self.ecdsa_type if task_type is None else task_type,
            fee,
            payload,
        )

    def create(self, p=None, sender=None):
        p = p or self.params()
        count = self.mailbox.taskCount()
        rc = self.mailbox.createTask(p.as_tuple(), sender=sender or self.creator)
        h = rc.return_value
        assert h == p.task_hash(count, self.mailbox.address, self.chain.chain_id)
        return h, rc

    def digest(self, h, result):
        return certificate_digest(self.chain.chain_id, self.mailbox.address, h, result)

    def ecdsa(self, h, result, signers=(0, 1), digest=None):
        return ecdsa_certificate(digest or self.digest(h, result), [self.keys[i] for i in signers])

    def bls(self, h, result, signers=(0, 1), ref=None, digest=None):
        ref = self.mailbox.getTaskInfo(h).referenceBlock if ref is None else ref
        members = [sk.public_key() for sk in self.sks]
        return bls_certificate(
            self.set_id, digest or self.digest(h, result), ref, members, [self.sks[i] for i in signers]
        )

    def submit(self, h, cert, result=b"4", record=b"\x00" * 32, ids=(), sender=None, expect=None):
        args = (h, cert, result, record, list(ids))
        if expect is not None:
            return reverts(expect, self.mailbox.submitResult, *args, sender=sender or self.w.other)
        return self.mailbox.submitResult(*args, sender=sender or self.w.other)

    def head(self):
        return self.chain.blocks.head.number


@pytest.fixture(scope="module")
def mw(project, chain, accounts, deployment):
    return MailboxWorld(World(project, chain, accounts, deployment), project, chain, accounts)


def test_contracts_fit_eip_170(project) -> None:
    # deployed code is the runtime bytecode followed by the immutables, 32 bytes each
    for name, immutables in (("TaskMailbox", 2), ("TaskSlasher", 3)):
        code = project.get_contract(name).contract_type.runtime_bytecode.bytecode
        assert len(bytes.fromhex(code[2:])) + 32 * immutables <= EIP170, name


def test_world(mw) -> None:
    m = mw.mailbox
    assert m.MAX_TASK_TIMEOUT() == TIMEOUT
    assert m.taskSlasher() == mw.slasher.address and m.blsRegistry() == mw.reg.address
    assert mw.w.am.getSlasher(mw.opset) == mw.slasher.address
    assert mw.w.am.getRedistributionRecipient(mw.opset) == mw.app.address
    assert sorted(m.getMembers(mw.set_id)) == sorted(o.address for o in mw.ops)
    t = m.taskTypes(mw.bls_type)
    assert (t.appId, t.operatorSetId, t.imageDigest, t.fee, t.timeout, t.certKind, t.active) == (
        mw.cw.app_id,
        mw.set_id,
        mw.cw.image,
        FEE,
        TIMEOUT,
        CERT_BLS,
        True,
    )


def test_create_task_escrows_and_hashes_as_offchain(mw) -> None:
    p = mw.params(payload=b"x" * 100)
    before = mw.token.balanceOf(mw.creator)
    h, rc = mw.create(p)
    (ev,) = evs(rc, "TaskCreated")
    assert ev.taskHash == h and ev.creator == mw.creator.address and ev.payload == p.payload
    assert ev.referenceBlock == rc.block_number - 1 and ev.deadline == rc.block_number + TIMEOUT
    assert mw.token.balanceOf(mw.creator) == before - FEE and mw.mailbox.feesHeld(mw.token) == FEE
    info = TaskInfo.from_chain(mw.mailbox.getTaskInfo(h))
    assert (info.status, info.fee, info.input_hash, info.refund_collector) == (
        "CREATED",
        FEE,
        keccak(p.payload),
        mw.w.staker2.address,
    )
    assert mw.mailbox.getTaskStatus(b"\x01" * 32) == 0
    assert mw.mailbox.getMessageHash(h, b"4") == message_hash(h, b"4")
    assert mw.mailbox.certificateDigest(h, b"4") == mw.digest(h, b"4")
    # the same params again: a new count, a new hash
    h2, _ = mw.create(p)
    assert h2 != h


def test_ecdsa_result_pays_signers_pro_rata(mw) -> None:
    h, _ = mw.create()
    record = keccak(b"da record")
    rc = mw.submit(h, mw.ecdsa(h, b"4"), record=record)
    (ev,) = evs(rc, "TaskVerified")
    ks = sorted(range(2), key=lambda i: int(mw.keys[i].public_key.to_checksum_address(), 16))
    signers = [mw.ops[i].address for i in ks]
    assert list(ev.signers) == signers and ev.result == b"4" and ev.record == record
    assert (ev.signedStake, ev.totalStake) == (STAKE[0] + STAKE[1], sum(STAKE))
    assert mw.mailbox.getTaskStatus(h) == 2
    assert tuple(mw.mailbox.getTaskResult(h)) == (keccak(b"4"), record)
    assert mw.mailbox.getTaskInfo(h).signersHash == signers_hash(signers)
    share = {mw.ops[0].address: FEE * 25 // 40, mw.ops[1].address: FEE * 15 // 40}
    for op in mw.ops[:2]:
        assert mw.mailbox.feesOwed(op, mw.token) == share[op.address]
    assert sum(e.amount for e in evs(rc, "FeePaid")) == FEE
    before = mw.token.balanceOf(mw.ops[0])
    mw.mailbox.withdrawFees(mw.token, sender=mw.ops[0])
    assert mw.token.balanceOf(mw.ops[0]) == before + share[mw.ops[0].address]
    reverts("no fees owed", mw.mailbox.withdrawFees, mw.token, sender=mw.ops[0])
    mw.submit(h, mw.ecdsa(h, b"4"), expect="duplicate result")


def test_bls_result_pays_signers(mw) -> None:
    h, _ = mw.create(mw.params(mw.bls_type))
    mw.chain.mine(1)
    cert, ids = mw.bls(h, b"4", signers=(0, 2))
    rc = mw.submit(h, cert, ids=ids)
    (ev,) = evs(rc, "TaskVerified")
    by_id = {sk.public_key().operator_id: op.address for sk, op in zip(mw.sks, mw.ops, strict=True)}
    assert list(ev.signers) == [by_id[i] for i in ids]
    assert (ev.signedStake, ev.totalStake) == (STAKE[0] + STAKE[2], sum(STAKE))
    stake = {mw.ops[0].address: STAKE[0], mw.ops[2].address: STAKE[2]}
    first, second = ev.signers  # the first signer takes the rounding remainder
    assert mw.mailbox.feesOwed(second, mw.token) == FEE * stake[second] // 35 // WAD
    assert mw.mailbox.feesOwed(first, mw.token) == FEE - FEE * stake[second] // 35 // WAD


def test_bls_refusals(mw) -> None:
    h, _ = mw.create(mw.params(mw.bls_type))
    mw.chain.mine(1)
    ref = mw.mailbox.getTaskInfo(h).referenceBlock
    cert, ids = mw.bls(h, b"4", signers=(0, 1))
    late, _ = mw.bls(h, b"4", signers=(0, 1), ref=ref + 1)
    mw.submit(h, late, ids=ids, expect="wrong reference block")
    mw.submit(h, cert, ids=list(reversed(ids)), expect="signer ids not ascending")
    mw.submit(h, cert, ids=ids[:1], expect="signer ids incomplete")
    nonsigner = mw.sks[2].public_key().operator_id
    mw.submit(h, cert, ids=sorted([*ids, nonsigner]), expect="signer is a non-signer")
    mw.submit(h, cert, ids=sorted([ids[0], keccak(b"stranger")]), expect="signer not a member")
    one, one_ids = mw.bls(h, b"4", signers=(0,))
    mw.submit(h, one, ids=one_ids, expect="certificate below threshold")
    other_chain, _ = mw.bls(
        h, b"4", digest=certificate_digest(mw.chain.chain_id + 1, mw.mailbox.address, h, b"4")
    )
    mw.submit(h, other_chain, ids=ids, expect="bad certificate")
    mw.submit(h, cert, result=b"5", ids=ids, expect="bad certificate")
    mw.submit(h, cert, ids=ids)


def test_ecdsa_refusals_and_cross_chain_replay(mw) -> None:
    h, _ = mw.create()
    mw.submit(h, mw.ecdsa(h, b"4", signers=(0,)), expect="certificate below threshold")
    mw.submit(h, mw.ecdsa(h, b"4"), ids=[b"\x01" * 32], expect="signer ids with ecdsa")
    stranger = keys.PrivateKey(keccak(b"stranger"))
    mw.submit(
        h, ecdsa_certificate(mw.digest(h, b"4"), [mw.keys[0], mw.keys[1], stranger]), expect="bad certificate"
    )
    # Hourglass's ECDSA digest has no chain id; ours has it and the mailbox: signatures made for
    # another chain, another mailbox or Hourglass's bare message hash are refused
    for digest in (
        certificate_digest(mw.chain.chain_id + 1, mw.mailbox.address, h, b"4"),
        certificate_digest(mw.chain.chain_id, mw.slasher.address, h, b"4"),
        message_hash(h, b"4"),
    ):
        mw.submit(h, mw.ecdsa(h, b"4", digest=digest), expect="bad certificate")
    mw.submit(h, mw.ecdsa(h, b"4"), result=b"5", expect="bad certificate")
    mw.submit(b"\x02" * 32, mw.ecdsa(h, b"4"), expect="unknown task")
    mw.submit(h, mw.ecdsa(h, b"4"))


def test_create_refusals(mw) -> None:
    m, p = mw.mailbox, mw.params()
    c = mw.creator
    reverts("unknown task type", m.createTask, mw.params(task_type=99).as_tuple(), sender=c)
    reverts("wrong fee", m.createTask, mw.params(fee=FEE - 1).as_tuple(), sender=c)
    reverts("zero refund collector", m.createTask, (ZERO_ADDRESS, mw.ecdsa_type, FEE, b""), sender=c)
    reverts("insufficient allowance", m.createTask, p.as_tuple(), sender=mw.w.staker2)
    t = mw.register_type(CERT_ECDSA)
    reverts("only app owner", m.disableTaskType, t, sender=c)
    m.disableTaskType(t, sender=mw.app)
    reverts("task type disabled", m.createTask, mw.params(task_type=t).as_tuple(), sender=c)
    reverts("task type disabled", m.disableTaskType, t, sender=mw.app)
    mw.cw.avs.revokeImage(mw.cw.app_id, mw.cw.image, sender=mw.app)
    reverts("image not active", m.createTask, p.as_tuple(), sender=c)
    assert m.taskCount() == 0 and m.feesHeld(mw.token) == 0


def test_registration_refusals(mw) -> None:
    m, app, sid = mw.mailbox, mw.app, mw.set_id
    img, tok = mw.cw.image, mw.token

    def reg(
        expect, set_id=sid, image=img, token=tok, timeout=TIMEOUT, kind=CERT_ECDSA, bps=THRESHOLD, sender=app
    ):
        reverts(expect, m.registerTaskType, set_id, image, token, FEE, timeout, kind, bps, sender=sender)

    reg("unknown executor set", set_id=sid + 1)
    reg("only app owner", sender=mw.w.other)
    reg("image not active", image=keccak(b"unregistered"))
    reg("zero fee token", token=ZERO_ADDRESS)
    reg("zero timeout", timeout=0)
    reg("timeout over cap", timeout=TIMEOUT + 1)
    reg("unknown certificate kind", kind=3)
    reg("bad threshold bps", bps=4999)
    reg("bad threshold bps", bps=10001)
    strats = mw.strats
    reverts(
        "only app owner",
        m.createExecutorOperatorSet,
        mw.cw.app_id,
        strats,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        5000,
        sender=mw.w.other,
    )
    reverts(
        "unknown app",
        m.createExecutorOperatorSet,
        keccak(b"no app"),
        strats,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        5000,
        sender=app,
    )
    reverts(
        "strategies not ascending",
        m.createExecutorOperatorSet,
        mw.cw.app_id,
        strats[::-1],
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        5000,
        sender=app,
    )
    reverts("task slasher already set", m.setTaskSlasher, mw.w.other, sender=mw.w.owner)


def test_bls_timeout_inside_staleness(project, mw) -> None:
    # a registry with a staleness window of 5 blocks: BLS task types may time out after at most 4
    w = mw.w
    m2, _s2, _r2 = deploy_task_mailbox(
        project,
        w.owner,
        w.d,
        mw.cw.avs.address,
        TaskMailboxConfig(bls_rotation_delay_blocks=0, bls_max_staleness_blocks=5),
    )
    sid = m2.createExecutorOperatorSet(
        mw.cw.app_id, mw.strats, ZERO_ADDRESS, ZERO_ADDRESS, 5000, sender=mw.app
    ).return_value
    args = (sid, mw.cw.image, mw.token, FEE)
    reverts("timeout over staleness", m2.registerTaskType, *args, 5, CERT_BLS, THRESHOLD, sender=mw.app)
    assert m2.registerTaskType(*args, 4, CERT_BLS, THRESHOLD, sender=mw.app).return_value == 1
    assert m2.registerTaskType(*args, 5, CERT_ECDSA, THRESHOLD, sender=mw.app).return_value == 2


def test_expiry_and_refund(mw) -> None:
    m = mw.mailbox
    h, rc = mw.create()
    reverts("task not expired", m.refundFee, h, sender=mw.w.other)
    cert = mw.ecdsa(h, b"4")
    deadline = rc.block_number + TIMEOUT
    mw.chain.mine(deadline - mw.head())  # the next block is past the deadline
    assert m.getTaskStatus(h) == 1
    mw.chain.mine(1)
    assert m.getTaskStatus(h) == 3
    mw.submit(h, cert, expect="task expired")
    before = mw.token.balanceOf(mw.w.staker2)
    rc = m.refundFee(h, sender=mw.w.other)
    assert mw.token.balanceOf(mw.w.staker2) == before + FEE and m.feesHeld(mw.token) == 0
    (ev,) = evs(rc, "FeeRefunded")
    assert (ev.refundCollector, ev.amount) == (mw.w.staker2.address, FEE)
    assert m.getTaskInfo(h).refunded and m.getTaskStatus(h) == 3
    reverts("fee already refunded", m.refundFee, h, sender=mw.w.other)
    reverts("unknown task", m.refundFee, b"\x03" * 32, sender=mw.w.other)
    h2, _ = mw.create()
    mw.submit(h2, mw.ecdsa(h2, b"4"))
    mw.chain.mine(TIMEOUT + 1)
    reverts("task verified", m.refundFee, h2, sender=mw.w.other)
    reverts("task not verified", m.getTaskResult, h, sender=mw.w.other)


def test_fee_on_transfer_token_escrows_what_arrives(project, mw) -> None:
    fot = mw.w.owner.deploy(project.MockFeeERC20)
    t = mw.register_type(CERT_ECDSA, token=fot)
    mw.fund(mw.creator, 10 * FEE, token=fot)
    arrived = FEE - FEE * fot.FEE_BPS() // 10_000
    h, _ = mw.create(mw.params(task_type=t))
    assert mw.mailbox.getTaskInfo(h).fee == arrived == fot.balanceOf(mw.mailbox)
    rc = mw.submit(h, mw.ecdsa(h, b"4"))
    assert sum(e.amount for e in evs(rc, "FeePaid")) == arrived
    h2, _ = mw.create(mw.params(task_type=t))
    mw.chain.mine(TIMEOUT + 1)
    mw.mailbox.refundFee(h2, sender=mw.w.other)
    for op in mw.ops[:2]:
        if mw.mailbox.feesOwed(op, fot):
            mw.mailbox.withdrawFees(fot, sender=op)
    assert fot.balanceOf(mw.mailbox) == 0 and mw.mailbox.feesHeld(fot) == 0


def test_signer_stakes_hash_binds_the_stakes_signed_with(mw) -> None:
    """signerStakesHash: zero until verified, then the hash chain of the stakes the signers signed
    with (verifyResult's, ECDSA and BLS); certified_stakes recomputes them off-chain."""
    m = mw.mailbox
    w3 = mw.chain.provider.web3
    handle = w3.eth.contract(address=m.address, abi=load_abis()["TaskMailbox"])
    alone = mw.register_type(CERT_ECDSA, threshold=5000)  # operator 0's half of the stake certifies alone
    for t, signers in ((mw.ecdsa_type, (0, 1)), (mw.bls_type, (0, 1, 2)), (alone, (0,))):
        h, _ = mw.create(mw.params(task_type=t))
        assert bytes(m.signerStakesHash(h)) == b"\x00" * 32
        if t == mw.bls_type:
            cert, ids = mw.bls(h, b"4", signers=signers)
        else:
            cert, ids = mw.ecdsa(h, b"4", signers=signers), []
        listed, stakes, signed, _ = m.verifyResult(h, cert, b"4", list(ids))
        rc = mw.submit(h, cert, ids=ids)
        assert list(evs(rc, "TaskVerified")[0].signers) == list(listed)
        alloc = {o.address: sum(mw.w.am.getAllocatedStake(mw.opset, [o], mw.strats)[0]) for o in mw.ops}
        assert (
            list(stakes) == [alloc[a] for a in listed]
            and sum(stakes) == signed
            and len(set(stakes)) == len(signers)
        )
        assert bytes(m.signerStakesHash(h)) == signer_stakes_hash(list(stakes))
        assert certified_stakes(w3, handle, h) == (list(listed), list(stakes))
    with pytest.raises(ChainInputError, match="not verified"):
        certified_stakes(w3, handle, mw.create()[0])
    with pytest.raises(ChainInputError, match="uint256"):
        signer_stakes_hash([-1])


def test_pay_fee_credits_only_what_arrives(project, mw) -> None:
    """payFee: a fee for a task pulled from the caller (transferFrom) and owed to an operator, who
    withdraws it like a task's fee; no tokens, no credit (nobody is credited out of thin air)."""
    m, op, payer = mw.mailbox, mw.ops[2], mw.w.staker
    owed, held = m.feesOwed(op, mw.token), m.feesHeld(mw.token)
    h = b"\x07" * 32
    mw.token.mint(mw.w.other, 500, sender=mw.w.other)
    reverts("insufficient allowance", m.payFee, h, op, mw.token, 500, sender=mw.w.other)
    rc = m.payFee(h, op, mw.token, 500, sender=payer)  # the creator approved the mailbox (fund)
    (ev,) = evs(rc, "FeePaid")
    assert (bytes(ev.taskHash), ev.operator, ev.token, ev.amount) == (h, op.address, mw.token.address, 500)
    assert m.feesOwed(op, mw.token) == owed + 500 and m.feesHeld(mw.token) == held + 500
    fot = mw.w.owner.deploy(project.MockFeeERC20)
    mw.fund(payer, 10_000, token=fot)
    rc = m.payFee(h, op, fot, 10_000, sender=payer)
    arrived = 10_000 - 10_000 * fot.FEE_BPS() // 10_000
    assert evs(rc, "FeePaid")[0].amount == arrived == m.feesOwed(op, fot) == fot.balanceOf(m)
    assert m.withdrawFees(fot, sender=op).return_value == arrived
    before = mw.token.balanceOf(op)
    assert m.withdrawFees(mw.token, sender=op).return_value == owed + 500
    assert mw.token.balanceOf(op) == before + owed + 500 and m.feesHeld(mw.token) == held - owed


def tka_stake(mw, i):
    """Operator i's TKA strategy, its shares and its allocation to the executor set."""
    tka = mw.w.strats["TKA"]
    shares = mw.w.dm.operatorShares(mw.ops[i], tka)
    return tka, shares, mw.w.am.getAllocatedStake(mw.opset, [mw.ops[i]], [tka])[0][0]


def released_to_app(mw, slash_id, slashed):
    """Compensation: a slash waits in the SlashEscrow, then its TKA goes to the app owner (the
    executor set's redistribution recipient)."""
    w = mw.w
    before = w.tokens["TKA"].balanceOf(mw.app)
    w.mine(11)
    w.esc.releaseSlash(mw.mailbox, mw.set_id, slash_id, sender=w.other)
    assert w.tokens["TKA"].balanceOf(mw.app) == before + slashed


def conflict_reverts(mw, reason, h, signers, result, accepted):
    """proveConflict with an ECDSA certificate by `signers` over `result` reverts with `reason`."""
    cert = mw.ecdsa(h, result, signers=signers)
    reverts(reason, mw.slasher.proveConflict, h, cert, result, [], accepted, sender=mw.w.other)


def _verified(mw, signers=(0, 1), result=b"4"):
    h, _ = mw.create()
    rc = mw.submit(h, mw.ecdsa(h, result, signers=signers), result=result)
    return h, list(evs(rc, "TaskVerified")[0].signers)


def test_conflict_slashes_operators_that_signed_both(mw) -> None:
    w, s = mw.w, mw.slasher
    h, accepted = _verified(mw)
    tka, shares, alloc = tka_stake(mw, 0)
    other = mw.ecdsa(h, b"5", signers=(0, 2))  # op 0 signed both
    reverts("wrong signer list", s.proveConflict, h, other, b"5", [], accepted[::-1], sender=w.other)
    conflict_reverts(mw, "results agree", h, (0, 2), b"4", accepted)
    reverts(
        "certificate below threshold",
        s.proveConflict,
        h,
        mw.ecdsa(h, b"5", signers=(2,)),
        b"5",
        [],
        accepted,
        sender=w.other,
    )
    rc = s.proveConflict(h, other, b"5", [], accepted, sender=w.other)
    assert rc.return_value == 1
    (ev,) = evs(rc, "TaskFaultProven")
    assert (ev.operator, ev.taskHash, ev.kind) == (mw.ops[0].address, h, 1)
    slashed = alloc * FAULT_WAD // WAD
    assert w.dm.operatorShares(mw.ops[0], tka) == shares - slashed
    assert s.faultSlashed(h, mw.ops[0]) and not s.faultSlashed(h, mw.ops[1])
    # each fault names its slash (what VerifiedEscrow reads for the slash's fate); none: 0
    assert s.faultSlashId(h, mw.ops[0]) == ev.slashId != 0 and s.faultSlashId(h, mw.ops[1]) == 0
    reverts("fault already proven", s.proveConflict, h, other, b"5", [], accepted, sender=w.other)
    released_to_app(mw, ev.slashId, slashed)


def test_conflict_without_overlap_slashes_both_sides(mw) -> None:
    # a type at the set's floor (50%): two disjoint certificates; both sides are slashed and the
    # resolver cancels the honest side after re-execution
    w, s = mw.w, mw.slasher
    t = mw.register_type(CERT_ECDSA, threshold=5000)
    h, _ = mw.create(mw.params(task_type=t))
    rc = mw.submit(h, mw.ecdsa(h, b"4", signers=(0,)))
    accepted = list(evs(rc, "TaskVerified")[0].signers)
    rc = s.proveConflict(h, mw.ecdsa(h, b"5", signers=(1, 2)), b"5", [], accepted, sender=w.other)
    assert rc.return_value == 3
    assert {e.operator for e in evs(rc, "TaskFaultProven")} == {o.address for o in mw.ops}
    ids = [s.faultSlashId(h, e.operator) for e in evs(rc, "TaskFaultProven")]
    assert ids == [e.slashId for e in evs(rc, "TaskFaultProven")] and len(set(ids)) == 3 and 0 not in ids


def test_bls_conflict(mw) -> None:
    w = mw.w
    h, _ = mw.create(mw.params(mw.bls_type))
    mw.chain.mine(1)
    cert, ids = mw.bls(h, b"4", signers=(0, 1))
    accepted = list(evs(mw.submit(h, cert, ids=ids), "TaskVerified")[0].signers)
    other, oids = mw.bls(h, b"5", signers=(0, 2))
    reverts(
        "signer ids incomplete", mw.slasher.proveConflict, h, other, b"5", oids[:1], accepted, sender=w.other
    )
    rc = mw.slasher.proveConflict(h, other, b"5", oids, accepted, sender=w.other)
    assert [e.operator for e in evs(rc, "TaskFaultProven")] == [mw.ops[0].address]


def test_receipt_fault_slashes_the_certifiers(mw) -> None:
    w, cw, s = mw.w, mw.cw, mw.slasher
    tee = cw.tee()
    cw.enrol(tee, op_index=2)
    h, accepted = _verified(mw, result=b"5")  # the certifiers say 2+2 = 5
    truth = cw.receipt(tee, b"2+2", b"4")
    r, sig = receipt_args(truth)
    agrees = receipt_args(cw.receipt(tee, b"2+2", b"5"))
    reverts("receipt agrees", s.proveReceiptFault, h, *agrees, accepted, sender=w.other)
    other_input = receipt_args(cw.receipt(tee, b"2+3", b"4"))
    reverts("receipt not for task", s.proveReceiptFault, h, *other_input, accepted, sender=w.other)
    other_chain = receipt_args(cw.receipt(tee, b"2+2", b"4", chain_id=mw.chain.chain_id + 1))
    reverts("wrong chain", s.proveReceiptFault, h, *other_chain, accepted, sender=w.other)
    stranger = receipt_args(cw.receipt(cw.tee(), b"2+2", b"4"))  # a key never enrolled
    reverts("enclave key not enrolled", s.proveReceiptFault, h, *stranger, accepted, sender=w.other)
    forged = (sig[0], sig[1], (int.from_bytes(sig[2], "big") ^ 1).to_bytes(32, "big"))
    reverts("invalid signature", s.proveReceiptFault, h, r, forged, accepted, sender=w.other)
    rc = s.proveReceiptFault(h, r, sig, accepted, sender=w.other)
    assert rc.return_value == 2
    assert {e.operator for e in evs(rc, "TaskFaultProven")} == {mw.ops[0].address, mw.ops[1].address}
    assert {e.kind for e in evs(rc, "TaskFaultProven")} == {2}
    reverts("fault already proven", s.proveReceiptFault, h, r, sig, accepted, sender=w.other)
    # and a conflict proof of the same task slashes no one twice
    conflict_reverts(mw, "fault already proven", h, (0, 1), b"4", accepted)
    h2, _ = mw.create()
    reverts("task not verified", s.proveReceiptFault, h2, r, sig, accepted, sender=w.other)


def test_receipt_fault_slashes_exactly_the_certifiers_not_the_honest_member(mw) -> None:
    # ops 0 and 2 (35 of 50) certify 2+2 = 5; op 1, which did not sign, runs an enclave enrolled for
    # the app and image: its receipt over the right output, as the off-chain re-executor passes it
    # (receipt_fault_args), slashes ops 0 and 2 by the fault fraction and leaves op 1 untouched
    w, cw, s = mw.w, mw.cw, mw.slasher
    tee = cw.tee()
    cw.enrol(tee, op_index=1)
    h, accepted = _verified(mw, signers=(0, 2), result=b"5")
    ops = [o.address for o in mw.ops]
    assert sorted(accepted) == sorted([ops[0], ops[2]])
    before = [tka_stake(mw, i) for i in range(3)]
    args = receipt_fault_args(h, cw.receipt(tee, b"2+2", b"4"), accepted)
    # the certifiers cannot share the blame with the honest member, nor drop one of themselves
    for signers in ([*accepted, ops[1]], accepted[:1]):
        reverts("wrong signer list", s.proveReceiptFault, *args[:3], signers, sender=w.other)
    rc = s.proveReceiptFault(*args, sender=w.other)
    assert rc.return_value == 2
    assert sorted((e.operator, e.kind) for e in evs(rc, "TaskFaultProven")) == sorted(
        (a, 2) for a in accepted
    )
    for i, (tka, shares, alloc) in enumerate(before):
        faulty = i != 1
        assert w.dm.operatorShares(mw.ops[i], tka) == shares - (alloc * FAULT_WAD // WAD if faulty else 0)
        assert s.faultSlashed(h, mw.ops[i]) == faulty and (s.faultSlashId(h, mw.ops[i]) != 0) == faulty


def _ecdsa_share(mw, h, result, i):
    """Operator i's ECDSA share over `result` as executors sign it: (key, (v, r, s))."""
    (v, r, sig_s) = threshold_signatures(mw.digest(h, result), [mw.keys[i]], ValueError)[0]
    return mw.keys[i].public_key.to_checksum_address(), (v, r, sig_s)


def test_share_fault_slashes_the_minority_signer(mw) -> None:
    # op 2 signed "5" for a task certified "4" by ops 0 and 1: its share alone proves the fault
    w, s = mw.w, mw.slasher
    h, _ = _verified(mw)
    tka, shares, alloc = tka_stake(mw, 2)
    key, sig = _ecdsa_share(mw, h, b"5", 2)
    reverts("results agree", s.proveShareFault, h, b"4", *_ecdsa_share(mw, h, b"4", 2), sender=w.other)
    reverts("invalid signature", s.proveShareFault, h, b"6", key, sig, sender=w.other)  # not over "6"
    other_key, _ = _ecdsa_share(mw, h, b"5", 1)
    reverts("invalid signature", s.proveShareFault, h, b"5", other_key, sig, sender=w.other)
    stranger = keys.PrivateKey(keccak(b"not a signing key"))
    (v, r, ss) = threshold_signatures(mw.digest(h, b"5"), [stranger], ValueError)[0]
    reverts(
        "signer not a member",
        s.proveShareFault,
        h,
        b"5",
        stranger.public_key.to_checksum_address(),
        (v, r, ss),
        sender=w.other,
    )
    reverts(
        "wrong certificate kind",
        s.proveShareFaultBLS,
        h,
        b"5",
        (1, 2),
        ((0, 0), (0, 0)),
        (1, 2),
        sender=w.other,
    )
    h2, _ = mw.create()
    reverts("task not verified", s.proveShareFault, h2, b"5", key, sig, sender=w.other)
    rc = s.proveShareFault(h, b"5", key, sig, sender=w.other)
    assert rc.return_value == 1
    (ev,) = evs(rc, "TaskFaultProven")
    assert (ev.operator, ev.taskHash, ev.kind) == (mw.ops[2].address, h, 3)
    slashed = alloc * FAULT_WAD // WAD
    assert w.dm.operatorShares(mw.ops[2], tka) == shares - slashed
    assert not s.faultSlashed(h, mw.ops[0]) and not s.faultSlashed(h, mw.ops[1])
    reverts("fault already proven", s.proveShareFault, h, b"5", key, sig, sender=w.other)
    released_to_app(mw, ev.slashId, slashed)


def test_bls_share_fault(mw) -> None:
    w, s = mw.w, mw.slasher
    h, _ = mw.create(mw.params(mw.bls_type))
    mw.chain.mine(1)
    ref = mw.mailbox.getTaskInfo(h).referenceBlock
    cert, ids = mw.bls(h, b"4", signers=(0, 1))
    mw.submit(h, cert, ids=ids)

    def share(i, result, block=ref):
        pk = mw.sks[i].public_key()
        sigma = mw.sks[i].sign(bls_digest(mw.digest(h, result), block))
        return group.g1_to_evm(pk.g1), group.g2_to_evm(pk.g2), group.g1_to_evm(sigma)

    g1, g2, sigma = share(2, b"5")
    reverts("results agree", s.proveShareFaultBLS, h, b"4", *share(2, b"4"), sender=w.other)
    reverts("invalid signature", s.proveShareFaultBLS, h, b"5", *share(2, b"5", ref + 1), sender=w.other)
    reverts("invalid signature", s.proveShareFaultBLS, h, b"5", g1, share(1, b"5")[1], sigma, sender=w.other)
    stranger = SecretKey(424242).public_key()
    reverts(
        "signer not a member",
        s.proveShareFaultBLS,
        h,
        b"5",
        group.g1_to_evm(stranger.g1),
        group.g2_to_evm(stranger.g2),
        sigma,
        sender=w.other,
    )
    reverts(
        "wrong certificate kind", s.proveShareFault, h, b"5", *_ecdsa_share(mw, h, b"5", 2), sender=w.other
    )
    rc = s.proveShareFaultBLS(h, b"5", g1, g2, sigma, sender=w.other)
    assert [(e.operator, e.kind) for e in evs(rc, "TaskFaultProven")] == [(mw.ops[2].address, 3)]
    reverts("fault already proven", s.proveShareFaultBLS, h, b"5", g1, g2, sigma, sender=w.other)


def test_task_state_machine(project, mw, chain) -> None:
    """create / submit / mine / refund / withdraw / prove a conflict in random order, against a model
    of every task: the status is the model's, a result is accepted exactly when the task is open and
    the signers reach the threshold, and for each token the mailbox holds exactly the open tasks'
    escrow plus the fees owed (payouts + refunds == escrow)."""
    fot = mw.w.owner.deploy(project.MockFeeERC20)
    types = {mw.ecdsa_type: mw.token, mw.register_type(CERT_ECDSA, token=fot): fot}
    mw.fund(mw.creator, 10**12, token=fot)
    m, s, ops = mw.mailbox, mw.slasher, mw.ops
    signer_sets = [(0,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]

    class Tasks(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            self.tasks = []  # [hash, type, fee, deadline, state ("open" | "verified" | "refunded"), signers]

        def teardown(self):
            chain.restore(self.snap)

        def pick(self, k):
            return self.tasks[k % len(self.tasks)] if self.tasks else None

        @rule(kind=st.sampled_from(sorted(types)), payload=st.binary(max_size=40))
        def create(self, kind, payload):
            h, rc = mw.create(mw.params(task_type=kind, payload=payload))
            fee = m.getTaskInfo(h).fee
            self.tasks.append([h, kind, fee, rc.block_number + TIMEOUT, "open", None])

        @rule(
            k=st.integers(0, 50),
            who=st.integers(0, len(signer_sets) - 1),
            result=st.sampled_from([b"4", b"5"]),
        )
        def submit(self, k, who, result):
            t = self.pick(k)
            if t is None:
                return
            h, signers = t[0], signer_sets[who]
            cert = mw.ecdsa(h, result, signers=signers)
            stake = [sum(r) for r in mw.w.am.getAllocatedStake(mw.opset, [o.address for o in ops], mw.strats)]
            met = sum(stake[i] for i in signers) * 10_000 >= sum(stake) * THRESHOLD
            if t[4] == "verified":
                mw.submit(h, cert, result=result, expect="duplicate result")
            elif chain.blocks.head.number + 1 > t[3]:  # expired (refunded or not)
                mw.submit(h, cert, result=result, expect="task expired")
            elif not met:
                mw.submit(h, cert, result=result, expect="certificate below threshold")
            else:
                rc = mw.submit(h, cert, result=result)
                assert sum(e.amount for e in evs(rc, "FeePaid")) == t[2]
                t[4], t[5] = "verified", list(evs(rc, "TaskVerified")[0].signers)

        @rule(n=st.integers(1, 6))
        def mine(self, n):
            chain.mine(n)

        @rule(k=st.integers(0, 50))
        def refund(self, k):
            t = self.pick(k)
            if t is None:
                return
            expired = chain.blocks.head.number + 1 > t[3]
            if t[4] == "verified":
                reverts("task verified", m.refundFee, t[0], sender=mw.w.other)
            elif t[4] == "refunded":
                reverts("fee already refunded", m.refundFee, t[0], sender=mw.w.other)
            elif not expired:
                reverts("task not expired", m.refundFee, t[0], sender=mw.w.other)
            else:
                m.refundFee(t[0], sender=mw.w.other)
                t[4] = "refunded"

        @rule(i=st.integers(0, 2), kind=st.sampled_from(sorted(types)))
        def withdraw(self, i, kind):
            token = types[kind]
            if m.feesOwed(ops[i], token) == 0:
                reverts("no fees owed", m.withdrawFees, token, sender=ops[i])
            else:
                m.withdrawFees(token, sender=ops[i])

        @rule(k=st.integers(0, 50))
        def conflict(self, k):
            t = self.pick(k)
            if t is None or t[4] != "verified":
                return
            h = t[0]
            result = b"4" if m.getTaskResult(h)[0] != keccak(b"4") else b"5"
            other = (0, 1, 2)
            try:
                rc = s.proveConflict(
                    h, mw.ecdsa(h, result, signers=other), result, [], t[5], sender=mw.w.other
                )
            except Exception as exc:  # every signer of the first result was found at fault before
                assert "fault already proven" in str(exc) or "below threshold" in str(exc), exc
                return
            assert {e.operator for e in evs(rc, "TaskFaultProven")} <= set(t[5])

        @invariant()
        def statuses(self):
            for h, _kind, _fee, deadline, state, _ in self.tasks:
                want = {"verified": 2, "refunded": 3}.get(state)
                if want is None:
                    want = 3 if chain.blocks.head.number > deadline else 1
                assert m.getTaskStatus(h) == want

        @invariant()
        def escrow_balances(self):
            for kind, token in types.items():
                open_fees = sum(t[2] for t in self.tasks if t[1] == kind and t[4] == "open")
                owed = sum(m.feesOwed(o, token) for o in ops)
                assert token.balanceOf(m) == m.feesHeld(token) == open_fees + owed

    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=4, stateful_step_count=20)
    run_state_machine_as_test(Tasks, settings=base)


def test_client_refuses_malformed_input() -> None:
    from offchain.chain.errors import ChainInputError

    ok = ("0x" + "11" * 20, 1, 5, b"in")
    TaskParams(*ok)
    for bad in (
        ("0x1234", 1, 5, b""),
        (ok[0], 2**32, 5, b""),
        (ok[0], 1, -1, b""),
        (ok[0], 1, 5, "text"),
        (ok[0], 1, 5, bytes(4097)),
    ):
        with pytest.raises(ChainInputError):
            TaskParams(*bad)
    with pytest.raises(ChainInputError):
        message_hash(b"short", b"")
    with pytest.raises(ChainInputError):
        ecdsa_certificate(b"\x00" * 32, [])
    key = keys.PrivateKey(b"\x01" * 32)
    with pytest.raises(ChainInputError):
        ecdsa_certificate(b"\x00" * 32, [key, key])
    # the digest names the chain and the mailbox
    h = keccak(b"task")
    assert certificate_digest(1, ok[0], h, b"r") != certificate_digest(2, ok[0], h, b"r")
    assert certificate_digest(1, ok[0], h, b"r") != certificate_digest(1, "0x" + "22" * 20, h, b"r")


def test_non_deterministic_tasks_have_no_fault_proofs(mw) -> None:
    w, cw, m = mw.w, mw.cw, mw.mailbox
    app2 = keccak(b"app: sampling")
    cw.avs.registerApp(app2, 7, False, sender=mw.app)
    cw.avs.registerImage(app2, cw.image, "v1", cw.policy.hash(), 0, sender=mw.app)
    sid = m.createExecutorOperatorSet(
        app2, mw.strats, ZERO_ADDRESS, ZERO_ADDRESS, 5000, sender=mw.app
    ).return_value
    for op, sk in zip(mw.ops, mw.sks, strict=True):  # the ECDSA keys they have serve the new set too
        w.am.setRedistributionConsent(op, (m.address, sid), True, sender=op)
        data = bls_registration_data(sk, op.address, mw.chain.chain_id, mw.reg.address)
        w.am.registerForOperatorSets(op, (m.address, [sid], data), sender=op)
        w.am.modifyAllocations(op, [((m.address, sid), mw.strats, [MAG // 2, MAG // 2], [0, 0])], sender=op)
    t = m.registerTaskType(
        sid, cw.image, mw.token, FEE, TIMEOUT, CERT_ECDSA, THRESHOLD, sender=mw.app
    ).return_value
    h, _ = mw.create(mw.params(task_type=t))
    accepted = list(evs(mw.submit(h, mw.ecdsa(h, b"4")), "TaskVerified")[0].signers)
    conflict_reverts(mw, "task not deterministic", h, (0, 2), b"5", accepted)
    reverts("unknown task", m.verifyResult, b"\x05" * 32, mw.ecdsa(h, b"4"), b"4", [], sender=w.other)


def test_bls_type_needs_bls_keys(project, mw) -> None:
    # a mailbox without a BLSRegistry: its sets take ECDSA certificates only
    w = mw.w
    m2 = w.owner.deploy(project.TaskMailbox, w.am.address, mw.cw.avs.address)
    s2 = w.owner.deploy(project.TaskSlasher, m2.address, w.am.address, FAULT_WAD)
    m2.initialize("https://tasks.example", sender=w.owner)
    reverts(
        "no task slasher",
        m2.createExecutorOperatorSet,
        mw.cw.app_id,
        mw.strats,
        ZERO_ADDRESS,
        ZERO_ADDRESS,
        5000,
        sender=mw.app,
    )
    reverts("zero task slasher", m2.setTaskSlasher, ZERO_ADDRESS, sender=w.owner)
    m2.setTaskSlasher(s2, sender=w.owner)
    sid = m2.createExecutorOperatorSet(
        mw.cw.app_id, mw.strats, ZERO_ADDRESS, ZERO_ADDRESS, 5000, sender=mw.app
    ).return_value
    args = (sid, mw.cw.image, mw.token, FEE, TIMEOUT)
    reverts("set has no bls keys", m2.registerTaskType, *args, CERT_BLS, THRESHOLD, sender=mw.app)
    m2.registerTaskType(*args, CERT_ECDSA, THRESHOLD, sender=mw.app)


# ---------------------------------------------------------------- the cloud's fee split (ELIP-12)


def _reset_fee_split(mw):
    """Back to the module's world: no collector, the default split, the operators paid out."""
    m, owner = mw.mailbox, mw.w.owner
    m.setFeeSplitCollector(ZERO_ADDRESS, sender=owner)
    m.setFeeSplit(2000, sender=owner)
    for op in mw.ops:
        if m.feesOwed(op, mw.token):
            m.withdrawFees(mw.token, sender=op)


def _split_paid(mw, rc):
    """The FeePaid amounts of a submitResult by recipient."""
    out: dict[str, int] = {}
    for e in evs(rc, "FeePaid"):
        out[e.operator] = out.get(e.operator, 0) + e.amount
    return out


@pytest.mark.parametrize(("fee", "split"), [(FEE, 2000), (999_999, 3333), (7, 5000), (1, 2000), (FEE, 0)])
def test_fee_split_goes_to_the_vault_and_sums_to_the_fee(project, mw, fee, split) -> None:
    m, owner = mw.mailbox, mw.w.owner
    vault = owner.deploy(project.FeeVault, owner)
    t = mw.register_type(CERT_ECDSA, fee=fee)
    try:
        assert (
            evs(m.setFeeSplitCollector(vault, sender=owner), "FeeSplitCollectorSet")[0].feeSplitCollector
            == vault.address
        )
        assert evs(m.setFeeSplit(split, sender=owner), "FeeSplitSet")[0].feeSplit == split
        h, _ = mw.create(mw.params(task_type=t, fee=fee))
        held = m.feesHeld(mw.token)
        rc = mw.submit(h, mw.ecdsa(h, b"4"))
        paid = _split_paid(mw, rc)
        cut = fee * split // 10_000  # rounded down: the remainder stays with the signers
        assert paid.pop(vault.address, 0) == cut == m.feesOwed(vault, mw.token)
        assert sum(paid.values()) == fee - cut and set(paid) <= {o.address for o in mw.ops[:2]}
        # the signers' part pro rata to stake (25 : 15), the first signer taking the remainder
        ks = sorted(range(2), key=lambda i: int(mw.keys[i].public_key.to_checksum_address(), 16))
        second = (fee - cut) * (25, 15)[ks[1]] // 40
        assert m.feesOwed(mw.ops[ks[1]], mw.token) == second
        assert m.feesOwed(mw.ops[ks[0]], mw.token) == fee - cut - second
        assert m.feesHeld(mw.token) == held  # owed, not yet moved
        if cut:
            rc = vault.collect(m, mw.token, sender=mw.w.other)  # anyone pulls it into the vault
            (ev,) = evs(rc, "FeePaid")
            assert (ev.token, ev.payer, ev.source, ev.amount) == (mw.token.address, m.address, m.address, cut)
            assert vault.balanceOf(mw.token) == cut == mw.token.balanceOf(vault)
            assert m.feesOwed(vault, mw.token) == 0 and m.feesHeld(mw.token) == held - cut
        reverts("no fees owed", vault.collect, m, mw.token, sender=mw.w.other)
    finally:
        _reset_fee_split(mw)


def test_fee_split_bounds_owner_and_default(project, mw) -> None:
    m, owner = mw.mailbox, mw.w.owner
    assert m.feeSplit() == 2000 and m.feeSplitCollector() == ZERO_ADDRESS  # the documented default
    reverts("fee split over cap", m.setFeeSplit, 5001, sender=owner)
    reverts("fee split over cap", m.setFeeSplit, 2**16 - 1, sender=owner)
    reverts("only owner", m.setFeeSplit, 100, sender=mw.w.other)
    reverts("only owner", m.setFeeSplitCollector, mw.w.other, sender=mw.w.other)
    assert m.feeSplit() == 2000


def test_fee_split_in_force_at_verification_and_needs_a_collector(project, mw) -> None:
    m, owner = mw.mailbox, mw.w.owner
    vault = owner.deploy(project.FeeVault, owner)
    try:
        # no collector: the signers take the whole fee (the default 2,000 bips is owed to no one)
        h0, _ = mw.create()
        assert sum(_split_paid(mw, mw.submit(h0, mw.ecdsa(h0, b"4"))).values()) == FEE
        assert m.feesOwed(ZERO_ADDRESS, mw.token) == 0
        h1, _ = mw.create()  # created before the collector was named: the split applies at verification
        h2, _ = mw.create()
        h3, _ = mw.create()
        m.setFeeSplitCollector(vault, sender=owner)
        assert _split_paid(mw, mw.submit(h1, mw.ecdsa(h1, b"4")))[vault.address] == FEE * 2000 // 10_000
        m.setFeeSplit(5000, sender=owner)
        assert _split_paid(mw, mw.submit(h2, mw.ecdsa(h2, b"4")))[vault.address] == FEE // 2
        # the collector removed before verification: no split, the signers are paid in full
        m.setFeeSplitCollector(ZERO_ADDRESS, sender=owner)
        paid = _split_paid(mw, mw.submit(h3, mw.ecdsa(h3, b"4")))
        assert vault.address not in paid and sum(paid.values()) == FEE
        # refunds are unchanged: an expired task with a split returns its whole fee
        m.setFeeSplitCollector(vault, sender=owner)
        h4, _ = mw.create()
        mw.chain.mine(TIMEOUT + 1)
        before = mw.token.balanceOf(mw.w.staker2)
        m.refundFee(h4, sender=mw.w.other)
        assert mw.token.balanceOf(mw.w.staker2) == before + FEE
        # what the vault was owed stays its own after a change of collector
        owed = m.feesOwed(vault, mw.token)
        assert owed == FEE * 2000 // 10_000 + FEE // 2
        m.setFeeSplitCollector(ZERO_ADDRESS, sender=owner)
        assert vault.collect(m, mw.token, sender=mw.w.other).return_value == owed
        assert vault.balanceOf(mw.token) == owed
    finally:
        _reset_fee_split(mw)
