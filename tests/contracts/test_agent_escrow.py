"""VerifiedEscrow (contracts/agent/VerifiedEscrow.vy, docs/agent.md "Verified settlement"): an x402
payment held until the work it paid for verifies on-chain and its challenge window passes.
Task kind: released to the server agent on a certified (and expected) result once the escrow's
window after confirmTask passed, refunded to the client on expiry, on its own deadline, on an
unexpected result, or after a fault proof slashed the certifying operators through TaskSlasher
and the slash is final; released to the server agent if the set's resolver cancelled it.
Inference kind: released once the bound InferenceDisputes receipt's challenge window passed (or
the set confirmed it), refunded when its challenge expired unresolved, or when no receipt was bound
by the deadline. A receipt proven wrong holds the payment while its slash may still be cancelled:
refunded once the slash is final, released to the server agent if the set's resolver cancelled it
(nobody profits from an overturned verdict). A task payment whose payee is the mailbox goes to the
task's certifiers (releaseToCertifiers): the cloud's fee split to the mailbox's collector, the rest
pro rata to the stake each signed with, as mailbox fees. Every path once, every refusal typed."""

from __future__ import annotations

import json
import os

import pytest

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.agent.errors import TaskFeeError
from offchain.agent.keeper import Keeper
from offchain.agent.taskfee import TaskFee
from offchain.ai.receipt import Receipt
from offchain.chain.agent import (
    ESCROW_KIND_INFERENCE,
    ESCROW_KIND_TASK,
    RECEIVE_WITH_AUTHORIZATION,
    Authorization,
    Escrow,
    Sender,
    authorization_data,
    escrow_id,
    escrow_nonce,
    sign,
)
from offchain.chain.components import Parameters, deploy_components
from offchain.chain.deploy import VERIFIED_ESCROW, deploy_core, deploy_verified_escrow
from offchain.chain.errors import ChainInputError, DeployConfigError
from offchain.chain.inference_disputes import receipt_args, receipt_output
from offchain.chain.sdk import load_abis
from tests.contracts.support import (
    BOND,
    CHALLENGE_WINDOW,
    ESCROW_BLOCKS,
    RESOLUTION_WINDOW,
    SLASH_WAD,
    TEST_CONFIG,
    A,
    DisputeWorld,
    World,
    evs,
    one,
    reverts,
    tamper,
)
from tests.contracts.test_task_mailbox import CERT_ECDSA, FAULT_WAD, FEE, TIMEOUT, MailboxWorld

NAME = "USD Coin"
PRICE = 2_500_000
ZERO32 = b"\x00" * 32
H4 = bytes.fromhex("13600b294191fc92924bb3ce4b969c1e7e2bab8f4c93c3fc6d0a51733df3c060")  # keccak(b"4")
TASK_WINDOW = 120  # the escrow's challenge window after a task's confirmation (seconds)


class EscrowWorld:
    """MailboxWorld plus a StableToken, a VerifiedEscrow on the mailbox, a client that holds
    the token and the server agent it pays."""

    def __init__(self, project, chain, accounts, deployment):
        w = World(project, chain, accounts, deployment)
        self.mw = MailboxWorld(w, project, chain, accounts)
        self.chain, self.w = chain, w
        self.usdc = w.owner.deploy(project.StableToken, NAME, "USDC", w.owner)
        self.escrow = w.owner.deploy(project.VerifiedEscrow, self.mw.mailbox, ZERO_ADDRESS, TASK_WINDOW)
        self.client, self.payee, self.relayer = w.avs2, w.recipient, w.other
        self.usdc.mint(self.client, 100 * PRICE, sender=w.owner)

    def terms(self, ref, expected=ZERO32, deadline=None, payee=None, amount=PRICE, salt=None, kind=None):
        """The deposit arguments (after token, payer) and the escrow id, signed by the client."""
        deadline = self.chain.pending_timestamp + 3600 if deadline is None else deadline
        payee = A(payee or self.payee)
        salt = salt or os.urandom(32)
        kind = ESCROW_KIND_TASK if kind is None else kind
        nonce = escrow_nonce(payee, kind, ref, expected, deadline, salt)
        t = self.chain.pending_timestamp
        auth = Authorization(A(self.client), A(self.escrow), amount, t - 1, t + 600, nonce)
        data = authorization_data(
            RECEIVE_WITH_AUTHORIZATION, NAME, self.chain.chain_id, self.usdc.address, auth
        )
        sig = sign(self.client.private_key, data)
        args = [self.usdc, self.client, amount, auth.valid_after, auth.valid_before]
        args += [payee, kind, ref, expected, deadline, salt, sig]
        return args, escrow_id(self.usdc.address, A(self.client), nonce)

    def deposit(self, ref, **kw):
        args, eid = self.terms(ref, **kw)
        rc = self.escrow.deposit(*args, sender=self.relayer)
        assert bytes(rc.return_value) == eid
        self.last_deposited = one(rc, "Deposited")
        return eid, args

    def verify(self, h, result=b"4", signers=(0, 1)):
        rc = self.mw.submit(h, self.mw.ecdsa(h, result, signers=signers), result=result)
        return list(evs(rc, "TaskVerified")[0].signers)

    def confirm(self, eid, wait=True):
        """confirmTask, then (wait) let the escrow's challenge window pass."""
        ev = one(self.escrow.confirmTask(eid, sender=self.relayer), "TaskConfirmed")
        assert ev.windowEnd == self.chain.blocks.head.timestamp + TASK_WINDOW
        if wait:
            self.chain.pending_timestamp = ev.windowEnd + 1
            self.chain.mine(1)  # calls (eth_call on the latest block) see the window over
        return ev.windowEnd


@pytest.fixture(scope="module")
def ew(project, chain, accounts, deployment):
    return EscrowWorld(project, chain, accounts, deployment)


# An InferenceReceipt tuple (what bindReceipt takes) that answers no escrow.
DUMMY_RECEIPT = (ZERO32, ZERO32, ZERO32, ZERO32, ZERO_ADDRESS, ZERO_ADDRESS, 0, 0, 0, 0, 0, [], [], ZERO32, 0)


class InferenceEscrowWorld(EscrowWorld):
    """EscrowWorld's token and mailbox plus an InferenceDisputes world on its own core (three
    inference operators, the tiny model): a VerifiedEscrow serving both kinds, paid by the
    disputes world's client (the address its receipts name)."""

    def __init__(self, ew, project, chain, accounts):
        core = World(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
        self.d = DisputeWorld(core, project, chain)
        self.chain, self.w, self.mw, self.usdc = chain, ew.w, ew.mw, ew.usdc
        self.escrow = ew.w.owner.deploy(project.VerifiedEscrow, ew.mw.mailbox, self.d.c, TASK_WINDOW)
        self.client, self.payee, self.relayer = self.d.client, ew.payee, ew.relayer
        self.usdc.mint(self.client, 100 * PRICE, sender=ew.w.owner)

    def pay(self, receipt: Receipt, **kw):
        """An inference escrow for `receipt`'s request (deposited before the inference ran)."""
        return self.deposit(receipt.request_digest, kind=ESCROW_KIND_INFERENCE, **kw)

    def bind(self, eid, receipt: Receipt):
        return self.escrow.bindReceipt(eid, receipt_args(receipt)[0], sender=self.relayer)


@pytest.fixture(scope="module")
def eiw(ew, project, chain, accounts):
    return InferenceEscrowWorld(ew, project, chain, accounts)


def test_offchain_nonce_and_id_match_the_contract(ew) -> None:
    salt, ref = os.urandom(32), os.urandom(32)
    n = escrow_nonce(A(ew.payee), ESCROW_KIND_TASK, ref, H4, 1234, salt)
    assert bytes(ew.escrow.escrowNonce(ew.payee, ESCROW_KIND_TASK, ref, H4, 1234, salt)) == n
    assert bytes(ew.escrow.escrowId(ew.usdc, ew.client, n)) == escrow_id(A(ew.usdc), A(ew.client), n)
    assert ew.escrow.KIND_TASK() == ESCROW_KIND_TASK and A(ew.escrow.mailbox()) == A(ew.mw.mailbox)
    assert ew.escrow.KIND_INFERENCE() == ESCROW_KIND_INFERENCE and A(ew.escrow.disputes()) == ZERO_ADDRESS
    assert ew.escrow.TASK_WINDOW() == TASK_WINDOW
    n = escrow_nonce(A(ew.payee), ESCROW_KIND_INFERENCE, ref, H4, 1234, salt)
    assert bytes(ew.escrow.escrowNonce(ew.payee, ESCROW_KIND_INFERENCE, ref, H4, 1234, salt)) == n
    for bad in (
        lambda: escrow_nonce(A(ew.payee), ESCROW_KIND_TASK, b"\x01", H4, 1, salt),
        lambda: escrow_nonce(A(ew.payee), 7, ref, H4, 1, salt),
        lambda: escrow_nonce(A(ew.payee), ESCROW_KIND_TASK, ref, H4, -1, salt),
        lambda: escrow_id(A(ew.usdc), A(ew.client), b"\x00" * 31),
    ):
        with pytest.raises(ChainInputError):
            bad()


def test_release_after_a_certified_result_only_once(ew) -> None:
    e, usdc = ew.escrow, ew.usdc
    h, _ = ew.mw.create()
    before = usdc.balanceOf(ew.client)
    eid, args = ew.deposit(h, expected=H4)
    ev = ew.last_deposited
    assert (bytes(ev.id), A(ev.payer), A(ev.payee), A(ev.token), ev.amount, ev.kind, bytes(ev.ref)) == (
        eid,
        A(ew.client),
        A(ew.payee),
        A(usdc),
        PRICE,
        ESCROW_KIND_TASK,
        h,
    )
    assert (bytes(ev.expectedResult), ev.deadline) == (H4, args[9])
    assert usdc.balanceOf(ew.client) == before - PRICE and usdc.balanceOf(e) == PRICE
    rec = e.escrows(eid)
    assert (A(rec.payer), A(rec.payee), rec.amount, bytes(rec.ref), rec.state) == (
        A(ew.client),
        A(ew.payee),
        PRICE,
        h,
        1,
    )
    # replay: the escrow exists (and the token's nonce is spent)
    reverts("escrow exists", e.deposit, *args, sender=ew.relayer)
    # before the certificate: neither release nor refund
    reverts("task not verified", e.release, eid, [], sender=ew.relayer)
    reverts("task not verified", e.confirmTask, eid, sender=ew.relayer)
    reverts("not refundable", e.refund, eid, [], sender=ew.relayer)
    reverts("not an inference escrow", e.bindReceipt, eid, DUMMY_RECEIPT, sender=ew.relayer)
    signers = ew.verify(h)
    # certified: the escrow's challenge window opens with confirmTask (once) and must pass
    reverts("window not started", e.release, eid, signers, sender=ew.relayer)
    end = ew.confirm(eid, wait=False)
    reverts("window started", e.confirmTask, eid, sender=ew.relayer)
    reverts("challenge window open", e.release, eid, signers, sender=ew.relayer)
    assert e.escrows(eid).windowEnd == end
    ew.chain.pending_timestamp = end
    ew.chain.mine(1)  # at windowEnd itself the window is still open
    reverts("challenge window open", e.release, eid, signers, sender=ew.relayer)
    ew.chain.pending_timestamp = end + 1
    ew.chain.mine(1)
    reverts("wrong signer list", e.release, eid, signers[::-1], sender=ew.relayer)
    reverts("not refundable", e.refund, eid, signers, sender=ew.relayer)
    payee_before = usdc.balanceOf(ew.payee)
    rc = e.release(eid, signers, sender=ew.relayer)
    ev = one(rc, "Released")
    assert (bytes(ev.id), A(ev.payee), ev.amount) == (eid, A(ew.payee), PRICE)
    assert usdc.balanceOf(ew.payee) == payee_before + PRICE and usdc.balanceOf(e) == 0
    assert e.escrows(eid).state == 2
    reverts("escrow settled", e.release, eid, signers, sender=ew.relayer)
    reverts("escrow settled", e.refund, eid, signers, sender=ew.relayer)
    reverts("unknown escrow", e.release, os.urandom(32), signers, sender=ew.relayer)
    reverts("unknown escrow", e.refund, os.urandom(32), signers, sender=ew.relayer)


def test_deposit_terms_are_bound_by_the_signature(ew) -> None:
    e = ew.escrow
    h, _ = ew.mw.create()
    args, _ = ew.terms(h, expected=H4)
    # the relayer cannot redirect the payment or change what it is conditioned on
    for i, v in ((5, ew.relayer), (7, os.urandom(32)), (8, ZERO32), (9, args[9] + 1), (10, os.urandom(32))):
        if i == 7:
            h2, _ = ew.mw.create(ew.mw.params(payload=b"other"))
            v = h2
        tampered = list(args)
        tampered[i] = v
        reverts("invalid signature", e.deposit, *tampered, sender=ew.relayer)
    tampered = list(args)
    tampered[2] = PRICE + 1
    reverts("invalid signature", e.deposit, *tampered, sender=ew.relayer)


def test_deposit_refusals(ew) -> None:
    e = ew.escrow
    h, _ = ew.mw.create()
    cases = (
        ("zero payee", 5, "0x" + "00" * 20),
        ("zero amount", 2, 0),
        ("unknown kind", 6, 3),
        ("unknown kind", 6, ESCROW_KIND_INFERENCE),  # this escrow serves no inference disputes
        ("zero ref", 7, ZERO32),
        ("unknown task", 7, os.urandom(32)),
        ("deadline passed", 9, ew.chain.pending_timestamp - 1),
    )
    for reason, i, v in cases:
        args, _ = ew.terms(h)
        args[i] = v
        reverts(reason, e.deposit, *args, sender=ew.relayer)
    ew.chain.mine(TIMEOUT + 1)
    args, _ = ew.terms(h)
    reverts("task expired", e.deposit, *args, sender=ew.relayer)


def test_refund_on_expiry(ew) -> None:
    e, usdc = ew.escrow, ew.usdc
    h, _ = ew.mw.create()
    eid, _ = ew.deposit(h)
    reverts("not refundable", e.refund, eid, [], sender=ew.relayer)
    ew.chain.mine(TIMEOUT + 1)
    assert ew.mw.mailbox.getTaskStatus(h) == 3
    reverts("task not verified", e.release, eid, [], sender=ew.relayer)
    before = usdc.balanceOf(ew.client)
    ev = one(e.refund(eid, [], sender=ew.payee), "Refunded")  # anyone may call
    assert (bytes(ev.id), A(ev.payer), ev.amount, ev.reason) == (eid, A(ew.client), PRICE, 1)
    assert usdc.balanceOf(ew.client) == before + PRICE and e.escrows(eid).state == 3
    reverts("escrow settled", e.refund, eid, [], sender=ew.relayer)
    reverts("escrow settled", e.release, eid, [], sender=ew.relayer)


def test_refund_on_the_clients_deadline(ew) -> None:
    e = ew.escrow
    h, _ = ew.mw.create()
    deadline = ew.chain.pending_timestamp + 30
    eid, _ = ew.deposit(h, deadline=deadline)
    reverts("not refundable", e.refund, eid, [], sender=ew.relayer)
    ew.chain.pending_timestamp = deadline + 1
    ew.chain.mine(1)
    assert ew.mw.mailbox.getTaskStatus(h) == 1  # still open on the mailbox
    assert one(e.refund(eid, [], sender=ew.relayer), "Refunded").reason == 2


def test_a_late_certificate_still_releases_before_any_refund(ew) -> None:
    h, _ = ew.mw.create()
    deadline = ew.chain.pending_timestamp + 30
    eid, _ = ew.deposit(h, deadline=deadline)
    ew.chain.pending_timestamp = deadline + 1
    signers = ew.verify(h)
    # verified: the deadline no longer refunds; the certified work is paid
    reverts("not refundable", ew.escrow.refund, eid, signers, sender=ew.relayer)
    ew.confirm(eid)
    assert one(ew.escrow.release(eid, signers, sender=ew.relayer), "Released").amount == PRICE


def test_unexpected_result_refunds(ew) -> None:
    e = ew.escrow
    h, _ = ew.mw.create()
    eid, _ = ew.deposit(h, expected=H4)
    signers = ew.verify(h, result=b"5")
    reverts("result mismatch", e.release, eid, signers, sender=ew.relayer)
    reverts("result mismatch", e.confirmTask, eid, sender=ew.relayer)
    # the mismatch needs no signer list
    assert one(e.refund(eid, [], sender=ew.relayer), "Refunded").reason == 3
    # no expectation: any certified result releases
    h2, _ = ew.mw.create()
    eid2, _ = ew.deposit(h2)
    signers = ew.verify(h2, result=b"5")
    ew.confirm(eid2)
    assert one(e.release(eid2, signers, sender=ew.relayer), "Released").amount == PRICE


def test_refund_after_a_proven_fault_slashes_and_bars_release(ew) -> None:
    e, mw, w = ew.escrow, ew.mw, ew.w
    # the mailbox's SlashEscrow, found through its AllocationManager; no disputes, no other
    assert A(e.taskSlashEscrow()) == A(w.esc) and A(e.slashEscrow()) == ZERO_ADDRESS
    h, _ = mw.create()
    eid, _ = ew.deposit(h, expected=H4)
    signers = ew.verify(h)  # ops 0 and 1 certify "4"
    ew.confirm(eid, wait=False)  # the window opens; the fault is proven inside it
    tka = w.strats["TKA"]
    shares = w.dm.operatorShares(mw.ops[0], tka)
    alloc = w.am.getAllocatedStake(mw.opset, [mw.ops[0]], [tka])[0][0]
    # ops 0 and 2 certify "5" for the same deterministic task: op 0 signed both and is slashed
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    assert [A(x.operator) for x in evs(rc, "TaskFaultProven")] == [A(mw.ops[0])]
    assert w.dm.operatorShares(mw.ops[0], tka) == shares - alloc * FAULT_WAD // WAD
    ew.chain.pending_timestamp = e.escrows(eid).windowEnd + 1
    ew.chain.mine(1)
    # the set's resolver may still cancel the slash: the payment waits for its fate
    reverts("slash pending", e.release, eid, signers, sender=ew.relayer)
    reverts("slash pending", e.refund, eid, signers, sender=ew.relayer)
    ew.chain.mine(ESCROW_BLOCKS + 1)  # past the slash escrow's window (not yet released): final
    reverts("fault proven", e.release, eid, signers, sender=ew.relayer)
    reverts("wrong signer list", e.refund, eid, [], sender=ew.relayer)
    before = ew.usdc.balanceOf(ew.client)
    assert one(e.refund(eid, signers, sender=ew.relayer), "Refunded").reason == 4
    assert ew.usdc.balanceOf(ew.client) == before + PRICE
    reverts("escrow settled", e.release, eid, signers, sender=ew.relayer)


def test_cancelled_task_slash_pays_the_server_and_nobody_profits(ew) -> None:
    """A fault proof slashes a certifying operator, and the set's resolver cancels the slash inside
    the escrow window (re-execution showed the certified result right): the escrow follows the
    slash's fate and pays the server agent after its window; the client gets nothing back, the
    operator's stake is whole again and the set's recipient receives nothing. Balances checked."""
    e, mw, w, usdc = ew.escrow, ew.mw, ew.w, ew.usdc
    tka = w.strats["TKA"]
    token = w.tokens["TKA"]
    client_usdc, payee_usdc, app_tka = (
        usdc.balanceOf(ew.client),
        usdc.balanceOf(ew.payee),
        token.balanceOf(mw.app),
    )
    h, _ = mw.create()
    eid, _ = ew.deposit(h, expected=H4)
    signers = ew.verify(h)
    ew.confirm(eid, wait=False)
    shares = w.dm.operatorShares(mw.ops[0], tka)
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    (ev,) = evs(rc, "TaskFaultProven")
    assert mw.slasher.faultSlashId(h, mw.ops[0]) == ev.slashId != 0
    reverts("slash pending", e.refund, eid, signers, sender=ew.relayer)
    w.esc.cancelSlash(mw.mailbox, mw.set_id, ev.slashId, sender=w.resolver)
    assert w.dm.operatorShares(mw.ops[0], tka) == shares
    reverts("not refundable", e.refund, eid, signers, sender=ew.relayer)
    reverts("challenge window open", e.release, eid, signers, sender=ew.relayer)  # its own window still runs
    ew.chain.pending_timestamp = e.escrows(eid).windowEnd + 1
    ew.chain.mine(ESCROW_BLOCKS + 1)
    reverts("not refundable", e.refund, eid, signers, sender=ew.relayer)
    out = one(e.release(eid, signers, sender=ew.client), "Released")  # anyone, even the client
    assert (bytes(out.id), A(out.payee), out.amount) == (eid, A(ew.payee), PRICE)
    reverts("escrow settled", e.refund, eid, signers, sender=ew.relayer)
    assert usdc.balanceOf(ew.payee) == payee_usdc + PRICE and usdc.balanceOf(ew.client) == client_usdc - PRICE
    assert token.balanceOf(mw.app) == app_tka and w.dm.operatorShares(mw.ops[0], tka) == shares
    assert usdc.balanceOf(e) == 0  # nothing left behind


def test_task_fault_of_several_operators_refunds_once_one_slash_is_final(ew) -> None:
    # both certifying operators signed a conflicting result: both are slashed; one slash cancelled
    # does not pay the server while the other may still be, and refunds once the other is final
    e, mw, w = ew.escrow, ew.mw, ew.w
    h, _ = mw.create()
    eid, _ = ew.deposit(h)
    signers = ew.verify(h)
    ew.confirm(eid)
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 1)), b"5", [], signers, sender=w.other)
    ids = {A(x.operator): x.slashId for x in evs(rc, "TaskFaultProven")}
    assert ids == {A(o): mw.slasher.faultSlashId(h, o) for o in mw.ops[:2]} and 0 not in ids.values()
    w.esc.cancelSlash(mw.mailbox, mw.set_id, ids[A(mw.ops[0])], sender=w.resolver)
    reverts("slash pending", e.release, eid, signers, sender=ew.relayer)
    reverts("slash pending", e.refund, eid, signers, sender=ew.relayer)
    ew.chain.mine(ESCROW_BLOCKS + 1)
    reverts("fault proven", e.release, eid, signers, sender=ew.relayer)
    assert one(e.refund(eid, signers, sender=ew.relayer), "Refunded").reason == 4


def test_unslashable_task_fault_refunds_at_once(project, chain, accounts) -> None:
    # the certifying operator left the set before the fault proof: found at fault but not slashed,
    # nothing for the resolver to cancel, so the refund is due at once (on a fresh core: the
    # operator leaves its set for good)
    ew = EscrowWorld(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
    e, mw, w = ew.escrow, ew.mw, ew.w
    t = mw.register_type(CERT_ECDSA, threshold=5000)
    h, _ = mw.create(mw.params(task_type=t))
    eid, _ = ew.deposit(h)
    signers = list(evs(mw.submit(h, mw.ecdsa(h, b"4", signers=(0,))), "TaskVerified")[0].signers)
    w.am.deregisterFromOperatorSets((mw.ops[0], mw.mailbox.address, [mw.set_id]), sender=mw.ops[0])
    w.mine(25)  # past the deallocation delay
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(1, 2)), b"5", [], signers, sender=w.other)
    assert [A(x.operator) for x in evs(rc, "TaskFaultNotSlashable")] == [A(mw.ops[0])]
    assert mw.slasher.faultSlashed(h, mw.ops[0]) and mw.slasher.faultSlashId(h, mw.ops[0]) == 0
    ew.confirm(eid)
    reverts("fault proven", e.release, eid, signers, sender=ew.relayer)
    assert one(e.refund(eid, signers, sender=ew.relayer), "Refunded").reason == 4


def test_a_zero_fee_task_type_is_paid_through_the_escrow_once(ew) -> None:
    """A task type registered with fee 0 (the trading policy's, docs/agent.md): the mailbox takes and
    pays nothing, and the task's fee is an escrow deposit bound to its hash. Certified and unfaulted:
    the certifiers are owed nothing by the mailbox and the payee is paid once, after the window;
    proven wrong: refunded to the payer once the slash is final, the payee never paid."""
    e, mw, w, usdc = ew.escrow, ew.mw, ew.w, ew.usdc
    t = mw.register_type(CERT_ECDSA, fee=0)
    reverts("wrong fee", mw.mailbox.createTask, mw.params(task_type=t, fee=FEE).as_tuple(), sender=mw.creator)
    owed = [mw.mailbox.feesOwed(op, mw.token) for op in mw.ops]
    held = mw.mailbox.feesHeld(mw.token)
    h, rc = mw.create(mw.params(task_type=t, fee=0))
    assert one(rc, "TaskCreated").fee == 0 and mw.mailbox.getTaskInfo(h).fee == 0
    eid, _ = ew.deposit(h)
    rc = mw.submit(h, mw.ecdsa(h, b"4"))
    signers = list(evs(rc, "TaskVerified")[0].signers)
    assert evs(rc, "FeePaid") == []  # the mailbox pays the certifiers nothing
    ew.confirm(eid)
    payee = usdc.balanceOf(ew.payee)
    assert one(e.release(eid, signers, sender=ew.relayer), "Released").amount == PRICE
    assert usdc.balanceOf(ew.payee) == payee + PRICE
    reverts("escrow settled", e.release, eid, signers, sender=ew.relayer)

    h, _ = mw.create(mw.params(task_type=t, fee=0, payload=b"2+3"))
    eid, _ = ew.deposit(h)
    signers = ew.verify(h)  # ops 0 and 1 certify "4"
    ew.confirm(eid, wait=False)
    mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    reverts("slash pending", e.refund, eid, signers, sender=ew.relayer)
    ew.chain.mine(ESCROW_BLOCKS + 1)
    client = usdc.balanceOf(ew.client)
    assert one(e.refund(eid, signers, sender=ew.relayer), "Refunded").reason == 4
    assert usdc.balanceOf(ew.client) == client + PRICE and usdc.balanceOf(ew.payee) == payee + PRICE
    reverts("escrow settled", e.release, eid, signers, sender=ew.relayer)
    assert [mw.mailbox.feesOwed(op, mw.token) for op in mw.ops] == owed
    assert mw.mailbox.feesHeld(mw.token) == held


# ---------------------------------------------------------------- inference receipts


def test_request_digest_matches_offchain(eiw) -> None:
    rec = eiw.d.answer()
    assert bytes(eiw.escrow.requestDigest(receipt_args(rec)[0])) == rec.request_digest
    assert A(eiw.escrow.disputes()) == A(eiw.d.c) and A(eiw.escrow.mailbox()) == A(eiw.mw.mailbox)
    # each kind's slashes are read from its own SlashEscrow (here two cores)
    assert A(eiw.escrow.taskSlashEscrow()) == A(eiw.w.esc) != A(eiw.escrow.slashEscrow()) == A(eiw.d.w.esc)


def test_honest_receipt_releases_after_its_challenge_window_only_once(eiw) -> None:
    e, usdc, d = eiw.escrow, eiw.usdc, eiw.d
    rec = d.answer(prompt="honest")
    eid, args = eiw.pay(rec)
    assert (eiw.last_deposited.kind, bytes(eiw.last_deposited.ref)) == (
        ESCROW_KIND_INFERENCE,
        rec.request_digest,
    )
    reverts("escrow exists", e.deposit, *args, sender=eiw.relayer)  # replay
    # nothing bound: neither release nor refund (the deadline is an hour away)
    reverts("no receipt bound", e.release, eid, [], sender=eiw.relayer)
    reverts("not refundable", e.refund, eid, [], sender=eiw.relayer)
    reverts("not a task escrow", e.confirmTask, eid, sender=eiw.relayer)
    reverts("receipt not registered", eiw.escrow.bindReceipt, eid, rargs(rec), sender=eiw.relayer)
    d.register(rec)
    ev = one(eiw.bind(eid, rec), "ReceiptBound")
    claim = d.c.claims(rec.digest())
    assert (bytes(ev.id), bytes(ev.receiptDigest), A(ev.operator)) == (eid, rec.digest(), A(d.ops[0]))
    assert ev.challengeDeadline == claim.deadline and bytes(e.escrows(eid).receipt) == rec.digest()
    reverts("receipt bound", eiw.escrow.bindReceipt, eid, rargs(rec), sender=eiw.relayer)
    # inside InferenceDisputes' challenge window: held
    reverts("challenge window open", e.release, eid, [], sender=eiw.relayer)
    eiw.chain.pending_timestamp = claim.deadline
    eiw.chain.mine(1)
    reverts("challenge window open", e.release, eid, [], sender=eiw.relayer)
    reverts("not refundable", e.refund, eid, [], sender=eiw.relayer)
    eiw.chain.pending_timestamp = claim.deadline + 1
    eiw.chain.mine(1)
    payee_before = usdc.balanceOf(eiw.payee)
    ev = one(e.release(eid, [], sender=eiw.relayer), "Released")
    assert (bytes(ev.id), A(ev.payee), ev.amount) == (eid, A(eiw.payee), PRICE)
    assert usdc.balanceOf(eiw.payee) == payee_before + PRICE and e.escrows(eid).state == 2
    reverts("escrow settled", e.release, eid, [], sender=eiw.relayer)
    reverts("escrow settled", e.refund, eid, [], sender=eiw.relayer)
    reverts("escrow settled", eiw.escrow.bindReceipt, eid, rargs(rec), sender=eiw.relayer)


def test_receipt_proven_wrong_refunds_once_the_slash_is_final(eiw) -> None:
    e, d = eiw.escrow, eiw.d
    assert A(e.slashEscrow()) == A(d.c.slashEscrow()) == A(d.w.esc)
    rec = tamper(d.answer(prompt="tampered"), d.keys[0])
    eid, _ = eiw.pay(rec)
    d.register(rec)
    eiw.bind(eid, rec)
    d.challenge(rec)
    reverts("receipt challenged", e.release, eid, [], sender=eiw.relayer)
    reverts("not refundable", e.refund, eid, [], sender=eiw.relayer)
    tka = d.strats[0]
    shares = d.w.dm.operatorShares(d.ops[0], tka)
    ev = one(d.resolve(rec), "ReceiptProvenWrong")
    assert A(ev.operator) == A(d.ops[0]) and ev.slashId != 0
    assert d.w.dm.operatorShares(d.ops[0], tka) < shares  # slashed by SLASH_WAD of its allocation
    assert SLASH_WAD > 0
    eiw.chain.pending_timestamp = eiw.chain.pending_timestamp + CHALLENGE_WINDOW + RESOLUTION_WINDOW
    # the set's resolver may still cancel the slash: the payment waits for its fate
    reverts("slash pending", e.release, eid, [], sender=eiw.relayer)
    reverts("slash pending", e.refund, eid, [], sender=eiw.relayer)
    eiw.chain.mine(ESCROW_BLOCKS + 1)  # past the slash escrow's window (not yet released): final
    reverts("receipt proven wrong", e.release, eid, [], sender=eiw.relayer)
    before = eiw.usdc.balanceOf(eiw.client)
    ev = one(e.refund(eid, [], sender=eiw.payee), "Refunded")  # anyone may call
    assert (bytes(ev.id), A(ev.payer), ev.amount, ev.reason) == (eid, A(eiw.client), PRICE, 4)
    assert eiw.usdc.balanceOf(eiw.client) == before + PRICE and e.escrows(eid).state == 3
    reverts("escrow settled", e.release, eid, [], sender=eiw.relayer)
    reverts("escrow settled", e.refund, eid, [], sender=eiw.relayer)
    # the slash itself reaches the client through InferenceDisputes, as for any receipt
    d.c.claimCompensation(rec.digest(), sender=d.watcher)
    assert d.c.claims(rec.digest()).compensated


def test_released_slash_refunds(eiw) -> None:
    # someone released the slash (claimCompensation does): the fault stands, refund
    e, d = eiw.escrow, eiw.d
    rec = tamper(d.answer(prompt="tampered, released"), d.keys[0])
    eid, _ = eiw.pay(rec)
    d.register(rec)
    eiw.bind(eid, rec)
    d.challenge(rec)
    one(d.resolve(rec), "ReceiptProvenWrong")
    eiw.chain.mine(ESCROW_BLOCKS + 1)
    d.c.claimCompensation(rec.digest(), sender=d.watcher)
    assert one(e.refund(eid, [], sender=eiw.relayer), "Refunded").reason == 4


def test_overturned_verdict_pays_the_server_and_nobody_profits(eiw) -> None:
    """A lying majority of the set proves an honest receipt "wrong"; the set's resolver cancels the
    slash inside the escrow window. The escrow follows the slash's fate: the server agent is paid,
    the client gets back neither the payment nor any compensation, the challenger's bond goes to
    the operator it accused, and the operator's stake is whole again. Balances checked."""
    e, d, usdc = eiw.escrow, eiw.d, eiw.usdc
    w, tka = d.w, d.w.tokens["TKA"]
    rec = d.answer(prompt="honest, slashed by a lie")
    client_usdc, payee_usdc = usdc.balanceOf(eiw.client), usdc.balanceOf(eiw.payee)
    eid, _ = eiw.pay(rec)
    d.register(rec)
    eiw.bind(eid, rec)
    op, strat = d.ops[0], d.strats[0]
    shares = w.dm.operatorShares(op, strat)
    client_tka = tka.balanceOf(eiw.client)
    credits = (d.c.credits(op), d.c.credits(d.watcher))
    d.challenge(rec)
    ev = one(d.resolve(rec, signers=(1, 2), correct=b"\x55" * 32), "ReceiptProvenWrong")  # the lie
    assert w.dm.operatorShares(op, strat) < shares
    reverts("slash pending", e.refund, eid, [], sender=eiw.relayer)
    reverts("slash pending", e.release, eid, [], sender=eiw.relayer)
    w.esc.cancelSlash(d.c, d.c.operatorSetId(), ev.slashId, sender=w.resolver)
    reverts("not refundable", e.refund, eid, [], sender=eiw.relayer)
    out = one(e.release(eid, [], sender=eiw.client), "Released")  # anyone, even the client
    assert (bytes(out.id), A(out.payee), out.amount) == (eid, A(eiw.payee), PRICE)
    assert e.escrows(eid).state == 2
    reverts("escrow settled", e.release, eid, [], sender=eiw.relayer)
    reverts("escrow settled", e.refund, eid, [], sender=eiw.relayer)
    d.c.settleBond(rec.digest(), sender=eiw.relayer)
    eiw.chain.mine(ESCROW_BLOCKS + 1)
    reverts("slash cancelled", d.c.claimCompensation, rec.digest(), sender=eiw.client)
    assert (
        usdc.balanceOf(eiw.payee) == payee_usdc + PRICE and usdc.balanceOf(eiw.client) == client_usdc - PRICE
    )
    assert tka.balanceOf(eiw.client) == client_tka and tka.balanceOf(d.c) == 0
    assert w.dm.operatorShares(op, strat) == shares
    assert (d.c.credits(op), d.c.credits(d.watcher)) == (credits[0] + BOND, credits[1])
    assert usdc.balanceOf(e) == 0  # nothing left behind


def test_unslashed_fault_refunds_at_once(eiw) -> None:
    # the accused was no longer slashable: nothing for the resolver to cancel, the refund is due
    e, d, w = eiw.escrow, eiw.d, eiw.d.w
    rec = tamper(d.answer(op_index=2, prompt="tampered, unslashable"), d.keys[2])
    eid, _ = eiw.pay(rec)
    d.register(rec)
    eiw.bind(eid, rec)
    d.challenge(rec)
    w.am.deregisterFromOperatorSets((d.ops[2], d.c.address, [d.set_id]), sender=d.ops[2])
    w.mine(25)  # past the deallocation delay
    assert one(d.resolve(rec, signers=(0, 1)), "ReceiptProvenWrong").slashId == 0
    assert one(e.refund(eid, [], sender=eiw.relayer), "Refunded").reason == 4


def test_unknown_escrow_refused(eiw) -> None:
    reverts("unknown escrow", eiw.escrow.release, b"\x07" * 32, [], sender=eiw.relayer)
    reverts("unknown escrow", eiw.escrow.refund, b"\x07" * 32, [], sender=eiw.relayer)


def test_failed_dispute_releases(eiw) -> None:
    e, d = eiw.escrow, eiw.d
    rec = d.answer(prompt="challenged but right")
    eid, _ = eiw.pay(rec, expected=receipt_output(rec))
    d.register(rec)
    eiw.bind(eid, rec)
    d.challenge(rec)
    reverts("receipt challenged", e.release, eid, [], sender=eiw.relayer)
    one(d.resolve(rec), "ChallengeRejected")
    # confirmed by the set: releasable at once, inside what was the challenge window
    assert one(e.release(eid, [], sender=eiw.relayer), "Released").amount == PRICE


def test_unresolved_challenge_refunds(eiw) -> None:
    e, d = eiw.escrow, eiw.d
    rec = d.answer(prompt="nobody answers")
    eid, _ = eiw.pay(rec)
    d.register(rec)
    eiw.bind(eid, rec)
    d.challenge(rec)
    d.warp(RESOLUTION_WINDOW + 1)
    d.c.expireChallenge(rec.digest(), sender=d.watcher)
    reverts("receipt unresolved", e.release, eid, [], sender=eiw.relayer)
    assert one(e.refund(eid, [], sender=eiw.relayer), "Refunded").reason == 5


def test_binding_refusals_wrong_ref_client_result_and_deadline(eiw) -> None:
    e, d = eiw.escrow, eiw.d
    rec = d.answer(prompt="what I asked")
    other = d.answer(prompt="what I did not ask")
    stranger = d.answer(prompt="what I asked", client=A(eiw.relayer))
    for r in (rec, other, stranger):
        d.register(r)
    deadline = eiw.chain.pending_timestamp + 60
    eid, _ = eiw.pay(rec, expected=keccak_other(rec), deadline=deadline)
    reverts("receipt for another request", eiw.escrow.bindReceipt, eid, rargs(other), sender=eiw.relayer)
    reverts("receipt for another client", eiw.escrow.bindReceipt, eid, rargs(stranger), sender=eiw.relayer)
    reverts(
        "result mismatch", eiw.escrow.bindReceipt, eid, rargs(rec), sender=eiw.relayer
    )  # not the output commitment the client named
    # a receipt whose fields differ from the registered one has another digest: not registered
    fake = receipt_args(rec)[0][:13] + (b"\x01" * 32, rec.finish_reason)
    reverts("receipt not registered", e.bindReceipt, eid, fake, sender=eiw.relayer)
    eiw.chain.pending_timestamp = deadline + 1
    eiw.chain.mine(1)
    reverts("deadline passed", eiw.escrow.bindReceipt, eid, rargs(rec), sender=eiw.relayer)
    reverts("no receipt bound", e.release, eid, [], sender=eiw.relayer)
    ev = one(e.refund(eid, [], sender=eiw.relayer), "Refunded")
    assert ev.reason == 2 and e.escrows(eid).state == 3
    # a task escrow takes no receipt, an inference escrow no task confirmation
    h, _ = eiw.mw.create()
    tid, _ = eiw.deposit(h)
    reverts("not an inference escrow", eiw.escrow.bindReceipt, tid, rargs(rec), sender=eiw.relayer)


def rargs(rec: Receipt) -> tuple:
    """The InferenceReceipt tuple of a receipt (what bindReceipt takes)."""
    return receipt_args(rec)[0]


def keccak_other(rec: Receipt) -> bytes:
    """An output commitment that is not `rec`'s."""
    return bytes(b ^ 0xFF for b in receipt_output(rec))


def test_inference_terms_are_bound_by_the_signature(eiw) -> None:
    e, d = eiw.escrow, eiw.d
    rec = d.answer(prompt="bound terms")
    args, _ = eiw.terms(rec.request_digest, kind=ESCROW_KIND_INFERENCE)
    h, _ = eiw.mw.create()
    # the facilitator cannot turn it into a task payment, another request, payee or result
    changes = ({6: ESCROW_KIND_TASK, 7: h}, {7: os.urandom(32)}, {5: eiw.relayer}, {8: os.urandom(32)})
    for change in changes:
        tampered = [change.get(i, v) for i, v in enumerate(args)]
        reverts("invalid signature", e.deposit, *tampered, sender=eiw.relayer)
    # a task payment for a request digest: no such task
    reverts(
        "unknown task",
        e.deposit,
        *[ESCROW_KIND_TASK if i == 6 else v for i, v in enumerate(args)],
        sender=eiw.relayer,
    )
    assert bytes(e.deposit(*args, sender=eiw.relayer).return_value) != ZERO32


def test_deployed_with_the_agent_component_beside_a_mailbox(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("task-mailbox", "agent"), **kw)
    escrow = first.agent[VERIFIED_ESCROW]
    assert A(escrow.mailbox()) == A(first.avs["task_mailbox"]) and A(escrow.disputes()) == ZERO_ADDRESS
    # the task window is the inference set's challenge window parameter
    assert escrow.TASK_WINDOW() == Parameters(TEST_CONFIG).inference_disputes.challenge_window_s
    assert json.loads(record.read_text())[VERIFIED_ESCROW] == escrow.address
    # reused from the record with the mailbox it serves; kept by a core-only run
    second = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("task-mailbox", "agent"), **kw)
    assert second.agent[VERIFIED_ESCROW].address == escrow.address
    deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("core",), **kw)
    assert json.loads(record.read_text())[VERIFIED_ESCROW] == escrow.address
    # without a mailbox there is nothing to verify against: no escrow
    alone = deploy_components(
        project, accounts[0], Parameters(TEST_CONFIG), ("agent",), record=tmp_path / "b.json"
    )
    assert VERIFIED_ESCROW not in alone.agent
    # beside inference disputes alone: an escrow for the inference kind only
    ai = deploy_components(
        project,
        accounts[0],
        Parameters(TEST_CONFIG),
        ("inference-disputes", "agent"),
        record=tmp_path / "c.json",
    )
    e = ai.agent[VERIFIED_ESCROW]
    assert A(e.disputes()) == A(ai.avs["inference_disputes"]) and A(e.mailbox()) == ZERO_ADDRESS
    with pytest.raises(DeployConfigError, match="task mailbox or inference disputes"):
        deploy_verified_escrow(project, accounts[0], ZERO_ADDRESS)
    with pytest.raises(DeployConfigError, match="no address"):
        deploy_verified_escrow(project, accounts[0], "0x12")
    with pytest.raises(DeployConfigError, match="task_window_s"):
        deploy_verified_escrow(project, accounts[0], escrow.mailbox(), task_window_s=-1)


# ---------------------------------------------------------------- payments to the certifiers


def _certified(ew, h, signers=(0, 1)):
    """Certify task `h` (result "4") by executors `signers`: its signers and the stake each signed
    with, as TaskVerified and verifyResult list them."""
    cert = ew.mw.ecdsa(h, b"4", signers=signers)
    listed, stakes, _, _ = ew.mw.mailbox.verifyResult(h, cert, b"4", [])
    rc = ew.mw.submit(h, cert)
    assert list(evs(rc, "TaskVerified")[0].signers) == list(listed)
    return [A(s) for s in listed], list(stakes)


def _owed(m, who, token):
    return [m.feesOwed(w, token) for w in who]


def test_certifiers_payment_is_split_like_a_task_fee_once(project, ew) -> None:
    """payee = the mailbox: released with releaseToCertifiers to the task's certifiers through the
    mailbox's fees, the cloud's split to its collector and the rest pro rata to the stake each
    signed with (25 : 15); they withdraw it like a task's fee. Wrong lists and a second release
    are refused, and release itself does not pay the mailbox."""
    e, mw, usdc, m, owner = ew.escrow, ew.mw, ew.usdc, ew.mw.mailbox, ew.w.owner
    vault = owner.deploy(project.FeeVault, owner)
    m.setFeeSplitCollector(vault, sender=owner)
    try:
        h, _ = mw.create()
        eid, _ = ew.deposit(h, payee=m)
        assert A(ew.last_deposited.payee) == A(m) and A(e.escrows(eid).payee) == A(m)
        reverts("task not verified", e.releaseToCertifiers, eid, [], [], sender=ew.relayer)
        signers, stakes = _certified(ew, h)
        reverts("window not started", e.releaseToCertifiers, eid, signers, stakes, sender=ew.relayer)
        ew.confirm(eid)
        reverts("certifiers' payment: releaseToCertifiers", e.release, eid, signers, sender=ew.relayer)
        reverts("wrong signer list", e.releaseToCertifiers, eid, signers[::-1], stakes, sender=ew.relayer)
        for bad in (stakes[::-1], stakes[:1], [stakes[0] + 1, stakes[1]], [*stakes, 0]):
            reverts("wrong stake list", e.releaseToCertifiers, eid, signers, bad, sender=ew.relayer)
        who = [*signers, vault.address]
        owed, held = _owed(m, who, usdc), m.feesHeld(usdc)
        rc = e.releaseToCertifiers(eid, signers, stakes, sender=ew.relayer)
        ev = one(rc, "Released")
        assert (bytes(ev.id), A(ev.payee), ev.amount) == (eid, A(m), PRICE)
        cut = PRICE * 2000 // 10_000
        second = (PRICE - cut) * stakes[1] // sum(stakes)
        shares = [PRICE - cut - second, second, cut]
        assert [b - a for a, b in zip(owed, _owed(m, who, usdc), strict=True)] == shares
        paid = {(A(x.operator), x.amount) for x in evs(rc, "FeePaid", m)}
        assert paid == set(zip(who, shares, strict=True)) and all(
            bytes(x.taskHash) == h for x in evs(rc, "FeePaid", m)
        )
        assert usdc.balanceOf(e) == 0 and m.feesHeld(usdc) == held + PRICE and e.escrows(eid).state == 2
        assert usdc.allowance(e, m) == 0
        reverts("escrow settled", e.releaseToCertifiers, eid, signers, stakes, sender=ew.relayer)
        reverts("escrow settled", e.refund, eid, signers, sender=ew.relayer)
        # the operators and the collector withdraw it as any task fee
        for op in mw.ops[:2]:
            got = m.feesOwed(op, usdc)
            before = usdc.balanceOf(op)
            assert m.withdrawFees(usdc, sender=op).return_value == got
            assert usdc.balanceOf(op) == before + got
        assert m.feesOwed(vault, usdc) == cut
        assert vault.collect(m, usdc, sender=ew.relayer).return_value == cut == usdc.balanceOf(vault)
    finally:
        m.setFeeSplitCollector(ZERO_ADDRESS, sender=owner)


def test_certifiers_payment_rounding_dust_goes_to_the_first_signer(ew) -> None:
    """Amounts too small to split evenly lose nothing: the collector's share and every other
    signer's round down, the first signer takes the remainder, the shares sum to the amount
    (no collector: the signers take it all)."""
    e, mw, usdc, m, owner = ew.escrow, ew.mw, ew.usdc, ew.mw.mailbox, ew.w.owner
    collector = ew.w.staker2
    try:
        for amount, split in ((1, None), (7, 3333), (3, 5000)):
            if split is not None:
                m.setFeeSplitCollector(collector, sender=owner)
                m.setFeeSplit(split, sender=owner)
            h, _ = mw.create()
            eid, _ = ew.deposit(h, payee=m, amount=amount)
            signers, stakes = _certified(ew, h)
            ew.confirm(eid)
            who = [*signers, A(collector)]
            owed = _owed(m, who, usdc)
            e.releaseToCertifiers(eid, signers, stakes, sender=ew.relayer)
            got = [b - a for a, b in zip(owed, _owed(m, who, usdc), strict=True)]
            cut = amount * (split or 0) // 10_000
            second = (amount - cut) * stakes[1] // sum(stakes)
            assert got == [amount - cut - second, second, cut] and sum(got) == amount
            assert usdc.balanceOf(e) == 0
    finally:
        m.setFeeSplitCollector(ZERO_ADDRESS, sender=owner)
        m.setFeeSplit(2000, sender=owner)


def test_certifiers_payment_terms_and_refusals(ew) -> None:
    """ "The certifiers" is a payee like any other: bound by the client's signature (the relayer
    cannot turn a payment to a payee into one to the certifiers, or back), refunded as any task
    payment, only for the task kind, and releaseToCertifiers pays no other payee."""
    e, mw, usdc, m = ew.escrow, ew.mw, ew.usdc, ew.mw.mailbox
    h, _ = mw.create()
    for payee, other in ((m, ew.payee), (ew.payee, m)):
        args, _ = ew.terms(h, payee=payee)
        args[5] = other
        reverts("invalid signature", e.deposit, *args, sender=ew.relayer)
    args, _ = ew.terms(h, payee=m, kind=ESCROW_KIND_INFERENCE)
    reverts("certifiers of a non-task", e.deposit, *args, sender=ew.relayer)
    eid, _ = ew.deposit(h)  # to the payee
    signers, stakes = _certified(ew, h)
    ew.confirm(eid)
    reverts("not a certifiers' payment", e.releaseToCertifiers, eid, signers, stakes, sender=ew.relayer)
    e.release(eid, signers, sender=ew.relayer)
    # an expired task refunds a payment to its certifiers to the client, who was never charged
    h, _ = mw.create()
    eid, _ = ew.deposit(h, payee=m)
    ew.chain.mine(TIMEOUT + 1)
    reverts("task not verified", e.releaseToCertifiers, eid, [], [], sender=ew.relayer)
    client = usdc.balanceOf(ew.client)
    assert one(e.refund(eid, [], sender=ew.relayer), "Refunded").reason == 1
    assert usdc.balanceOf(ew.client) == client + PRICE


def test_keeper_releases_a_certifiers_payment(ew, eiw, project) -> None:
    """The keeper (offchain.agent.keeper) confirms, then releases a payment to the certifiers with
    the stakes recomputed off-chain (offchain.chain.task_mailbox.certified_stakes)."""
    e, mw, usdc, m = ew.escrow, ew.mw, ew.usdc, ew.mw.mailbox
    w3 = ew.chain.provider.web3
    abis = load_abis()
    handle = Escrow(w3, e.address, abis["VerifiedEscrow"])
    keeper = Keeper(handle, Sender(w3, ew.relayer.private_key), abis["TaskMailbox"], [])
    fee = TaskFee.for_certifiers(handle, usdc.address, NAME, PRICE)
    assert fee.payee == A(m)
    h, _ = mw.create()
    args, eid = fee.deposit_args(ew.client.private_key, A(ew.client), h, ew.chain.pending_timestamp)
    e.deposit(*args, sender=ew.relayer)
    assert handle.pays_certifiers(handle.get(eid))
    assert keeper.step(eid).action == "waiting"  # not certified yet
    signers, stakes = _certified(ew, h)
    assert handle.task_certifiers(h, abis["TaskMailbox"]) == (signers, stakes)
    assert keeper.step(eid).action == "confirm"
    ew.chain.pending_timestamp = e.escrows(eid).windowEnd + 1
    ew.chain.mine(1)
    owed = _owed(m, signers, usdc)
    step = keeper.step(eid)
    assert step.action == "release", step
    second = PRICE * stakes[1] // sum(stakes)
    assert [b - a for a, b in zip(owed, _owed(m, signers, usdc), strict=True)] == [PRICE - second, second]
    assert keeper.step(eid).action == "settled"
    # an escrow serving no mailbox has no certifiers to pay
    lone = ew.w.owner.deploy(project.VerifiedEscrow, ZERO_ADDRESS, eiw.d.c, TASK_WINDOW)
    with pytest.raises(TaskFeeError, match="serves no mailbox"):
        TaskFee.for_certifiers(Escrow(w3, lone.address, abis["VerifiedEscrow"]), usdc.address, NAME, PRICE)
