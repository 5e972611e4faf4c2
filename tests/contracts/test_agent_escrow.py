"""VerifiedEscrow (contracts/agent/VerifiedEscrow.vy, docs/agent.md "Verified settlement"): an x402
payment held until the TaskMailbox certifies the work it paid for, released to the server agent on
a certified (and expected) result, refunded to the client on expiry, on its own deadline, on an
unexpected result, or after a fault proof slashed the certifying operators through TaskSlasher;
every path once, every refusal typed."""

from __future__ import annotations

import json
import os

import pytest

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.chain.agent import (
    ESCROW_KIND_TASK,
    RECEIVE_WITH_AUTHORIZATION,
    Authorization,
    authorization_data,
    escrow_id,
    escrow_nonce,
    sign,
)
from offchain.chain.components import Parameters, deploy_components
from offchain.chain.deploy import VERIFIED_ESCROW, deploy_verified_escrow
from offchain.chain.errors import ChainInputError, DeployConfigError
from tests.contracts.support import TEST_CONFIG, A, World, evs, one, reverts
from tests.contracts.test_task_mailbox import FAULT_WAD, TIMEOUT, MailboxWorld

NAME = "USD Coin"
PRICE = 2_500_000
ZERO32 = b"\x00" * 32
H4 = bytes.fromhex("13600b294191fc92924bb3ce4b969c1e7e2bab8f4c93c3fc6d0a51733df3c060")  # keccak(b"4")


class EscrowWorld:
    """MailboxWorld plus a StableToken, a VerifiedEscrow on the mailbox, a client that holds
    the token and the server agent it pays."""

    def __init__(self, project, chain, accounts, deployment):
        w = World(project, chain, accounts, deployment)
        self.mw = MailboxWorld(w, project, chain, accounts)
        self.chain, self.w = chain, w
        self.usdc = w.owner.deploy(project.StableToken, NAME, "USDC", w.owner)
        self.escrow = w.owner.deploy(project.VerifiedEscrow, self.mw.mailbox)
        self.client, self.payee, self.relayer = w.avs2, w.recipient, w.other
        self.usdc.mint(self.client, 100 * PRICE, sender=w.owner)

    def terms(self, ref, expected=ZERO32, deadline=None, payee=None, amount=PRICE, salt=None):
        """The deposit arguments (after token, payer) and the escrow id, signed by the client."""
        deadline = self.chain.pending_timestamp + 3600 if deadline is None else deadline
        payee = A(payee or self.payee)
        salt = salt or os.urandom(32)
        nonce = escrow_nonce(payee, ESCROW_KIND_TASK, ref, expected, deadline, salt)
        t = self.chain.pending_timestamp
        auth = Authorization(A(self.client), A(self.escrow), amount, t - 1, t + 600, nonce)
        data = authorization_data(
            RECEIVE_WITH_AUTHORIZATION, NAME, self.chain.chain_id, self.usdc.address, auth
        )
        sig = sign(self.client.private_key, data)
        args = [self.usdc, self.client, amount, auth.valid_after, auth.valid_before]
        args += [payee, ESCROW_KIND_TASK, ref, expected, deadline, salt, sig]
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


@pytest.fixture(scope="module")
def ew(project, chain, accounts, deployment):
    return EscrowWorld(project, chain, accounts, deployment)


def test_offchain_nonce_and_id_match_the_contract(ew) -> None:
    salt, ref = os.urandom(32), os.urandom(32)
    n = escrow_nonce(A(ew.payee), ESCROW_KIND_TASK, ref, H4, 1234, salt)
    assert bytes(ew.escrow.escrowNonce(ew.payee, ESCROW_KIND_TASK, ref, H4, 1234, salt)) == n
    assert bytes(ew.escrow.escrowId(ew.usdc, ew.client, n)) == escrow_id(A(ew.usdc), A(ew.client), n)
    assert ew.escrow.KIND_TASK() == ESCROW_KIND_TASK and A(ew.escrow.mailbox()) == A(ew.mw.mailbox)
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
    reverts("not refundable", e.refund, eid, [], sender=ew.relayer)
    signers = ew.verify(h)
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
        ("unknown kind", 6, 2),
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
    assert one(ew.escrow.release(eid, signers, sender=ew.relayer), "Released").amount == PRICE


def test_unexpected_result_refunds(ew) -> None:
    e = ew.escrow
    h, _ = ew.mw.create()
    eid, _ = ew.deposit(h, expected=H4)
    signers = ew.verify(h, result=b"5")
    reverts("result mismatch", e.release, eid, signers, sender=ew.relayer)
    # the mismatch needs no signer list
    assert one(e.refund(eid, [], sender=ew.relayer), "Refunded").reason == 3
    # no expectation: any certified result releases
    h2, _ = ew.mw.create()
    eid2, _ = ew.deposit(h2)
    signers = ew.verify(h2, result=b"5")
    assert one(e.release(eid2, signers, sender=ew.relayer), "Released").amount == PRICE


def test_refund_after_a_proven_fault_slashes_and_bars_release(ew) -> None:
    e, mw, w = ew.escrow, ew.mw, ew.w
    h, _ = mw.create()
    eid, _ = ew.deposit(h, expected=H4)
    signers = ew.verify(h)  # ops 0 and 1 certify "4"
    tka = w.strats["TKA"]
    shares = w.dm.operatorShares(mw.ops[0], tka)
    alloc = w.am.getAllocatedStake(mw.opset, [mw.ops[0]], [tka])[0][0]
    # ops 0 and 2 certify "5" for the same deterministic task: op 0 signed both and is slashed
    rc = mw.slasher.proveConflict(h, mw.ecdsa(h, b"5", signers=(0, 2)), b"5", [], signers, sender=w.other)
    assert [A(x.operator) for x in evs(rc, "TaskFaultProven")] == [A(mw.ops[0])]
    assert w.dm.operatorShares(mw.ops[0], tka) == shares - alloc * FAULT_WAD // WAD
    reverts("fault proven", e.release, eid, signers, sender=ew.relayer)
    reverts("wrong signer list", e.refund, eid, [], sender=ew.relayer)
    before = ew.usdc.balanceOf(ew.client)
    assert one(e.refund(eid, signers, sender=ew.relayer), "Refunded").reason == 4
    assert ew.usdc.balanceOf(ew.client) == before + PRICE
    reverts("escrow settled", e.release, eid, signers, sender=ew.relayer)


def test_deployed_with_the_agent_component_beside_a_mailbox(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], Parameters(TEST_CONFIG), ("task-mailbox", "agent"), **kw)
    escrow = first.agent[VERIFIED_ESCROW]
    assert A(escrow.mailbox()) == A(first.avs["task_mailbox"])
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
    with pytest.raises(DeployConfigError, match="task mailbox"):
        deploy_verified_escrow(project, accounts[0], ZERO_ADDRESS)
