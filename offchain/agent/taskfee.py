"""Task fees paid through VerifiedEscrow instead of the TaskMailbox (docs/agent.md, *The policy fee
in VerifiedEscrow*).

A task type registered with fee 0 charges nothing on the mailbox: its certifiers are paid nothing
there. Its price is a separate VerifiedEscrow deposit of the task kind, bound to the task's hash
(the escrow's ``ref``), made by whoever posts the task once it exists (:meth:`TaskFee.pay`), to the
executor set's payee, with no expected result (any certified result releases it). The escrow
releases it to that payee after its window when no fault was proven, and refunds the payer when
the task expired, was not certified by the deadline, or a fault proof's slash is final.

The payee may be the mailbox itself, which means "the task's certifiers" (bound by the deposit's
nonce like any payee): the escrow's ``releaseToCertifiers`` then pays the operators that certified
the task, as the mailbox pays a task's own fee (the cloud's fee split to its collector, the rest pro
rata to the stake each signed with, the rounding remainder to the first signer), credited to their
mailbox fees, which they withdraw with ``withdrawFees``. :meth:`TaskFee.for_certifiers` and an
:class:`EscrowFeeGate` whose payee is the mailbox serve such fees.

The executors answer a task of such a type only once its fee is held for them
(:class:`EscrowFeeGate`, an :class:`~offchain.compute.taskrun.Executor`'s ``admit``): a task
posted without a deposit is held back until one lands or the task expires.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from offchain.agent.errors import TaskFeeError
from offchain.chain.agent import (
    ESCROW_KIND_TASK,
    RECEIVE_WITH_AUTHORIZATION,
    STABLE_VERSION,
    Authorization,
    Escrow,
    authorization_data,
    escrow_id,
    escrow_nonce,
    sign,
)
from offchain.chain.errors import ChainError
from offchain.chain.sdk import send
from offchain.compute.taskrun import Task

ZERO32 = bytes(32)
# The authorization is valid from this long before the chain's clock (as an x402 client's).
VALID_AFTER_SLACK_S = 600


def _checked_payee(payee: str) -> str:
    try:
        out = to_checksum_address(payee)
    except (TypeError, ValueError):
        raise TaskFeeError(f"a task fee's payee is no address: {payee!r}") from None
    if int(out, 16) == 0:
        raise TaskFeeError("a task fee's payee is the zero address")
    return out


@dataclass(frozen=True)
class TaskFee:
    """The price of a task of an escrow-paid type: `amount` of the EIP-3009 `token` (its EIP-712
    domain name `token_name` and `token_version`) into `escrow`, for `payee` (the executor set's),
    refundable `deadline_s` seconds after the payment if the task is still not certified then."""

    escrow: Escrow
    token: str
    token_name: str
    payee: str
    amount: int
    deadline_s: int = 3600
    token_version: str = STABLE_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "payee", _checked_payee(self.payee))
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or not 0 < self.amount < 2**256:
            raise TaskFeeError(f"a task fee is a positive amount below 2**256: got {self.amount!r}")
        if isinstance(self.deadline_s, bool) or not isinstance(self.deadline_s, int) or self.deadline_s <= 0:
            raise TaskFeeError(
                f"a task fee's deadline is a positive number of seconds: got {self.deadline_s!r}"
            )

    @classmethod
    def for_certifiers(
        cls, escrow: Escrow, token: str, token_name: str, amount: int, deadline_s: int = 3600,
        token_version: str = STABLE_VERSION,
    ) -> TaskFee:  # fmt: skip
        """A task fee for the task's certifiers: its payee is the escrow's mailbox."""
        mailbox = escrow.contract.functions.mailbox().call()
        if int(mailbox, 16) == 0:
            raise TaskFeeError(f"the escrow {escrow.address} serves no mailbox: no certifiers to pay")
        return cls(escrow, token, token_name, mailbox, amount, deadline_s, token_version)

    def deposit_args(
        self, key: Any, payer: str, task_hash: bytes, now: int, salt: bytes | None = None
    ) -> tuple[list[Any], bytes]:
        """``VerifiedEscrow.deposit``'s arguments paying this fee for `task_hash` from `payer`
        (whose `key` signs the ReceiveWithAuthorization), at chain time `now`, and the escrow id."""
        if len(task_hash) != 32:
            raise TaskFeeError(f"a task hash is 32 bytes, got {len(task_hash)}")
        salt = os.urandom(32) if salt is None else salt
        deadline = now + self.deadline_s
        nonce = escrow_nonce(self.payee, ESCROW_KIND_TASK, task_hash, ZERO32, deadline, salt)
        auth = Authorization(
            payer,
            self.escrow.address,
            self.amount,
            max(now - VALID_AFTER_SLACK_S, 0),
            now + VALID_AFTER_SLACK_S,
            nonce,
        )
        data = authorization_data(
            RECEIVE_WITH_AUTHORIZATION, self.token_name, self.escrow.w3.eth.chain_id, self.token, auth,
            self.token_version,
        )  # fmt: skip
        args = [self.token, payer, self.amount, auth.valid_after, auth.valid_before]
        args += [self.payee, ESCROW_KIND_TASK, task_hash, ZERO32, deadline, salt, sign(key, data)]
        return args, escrow_id(self.token, payer, nonce)

    def pay(self, d: Any, account: Any, task_hash: bytes) -> bytes:
        """Deposit the fee for `task_hash` (a task already on the mailbox) from `account` (an
        eth_account account: it signs the authorization and sends the deposit) on the deployment
        `d`; returns the escrow id. :class:`TaskFeeError` when the escrow refuses it."""
        now = int(self.escrow.w3.eth.get_block("pending")["timestamp"])
        args, eid = self.deposit_args(account.key, account.address, task_hash, now)
        try:
            send(d, account, self.escrow.contract.functions.deposit(*args), "deposit")
        except ChainError as exc:
            raise TaskFeeError(
                f"the fee of task 0x{task_hash.hex()} could not be paid into escrow: {exc}"
            ) from None
        return eid


@dataclass
class EscrowFeeGate:
    """An executor's admission check (``Executor.admit``) for the escrow-paid task types
    `task_types` of `mailbox`: a task is answered only once a deposit of the task kind bound to its
    hash is held in `escrow` for `payee`, in `token`, of at least `amount`, naming no expected
    result (any certified result releases it) and refundable for lack of a certificate no sooner
    than `min_deadline_s` seconds from now. Tasks of other types pass. `payee` = `mailbox`: the fee
    is for the task's certifiers (:meth:`TaskFee.for_certifiers`), the executors' own share."""

    escrow: Escrow
    mailbox: str
    task_types: frozenset[int]
    token: str
    payee: str
    amount: int
    min_deadline_s: int = 60

    def __post_init__(self) -> None:
        self.payee = _checked_payee(self.payee)
        self.token = to_checksum_address(self.token)
        served = to_checksum_address(self.escrow.contract.functions.mailbox().call())
        if served != to_checksum_address(self.mailbox):
            raise TaskFeeError(
                f"the escrow {self.escrow.address} serves the mailbox {served}, not {self.mailbox}"
            )

    def __call__(self, task: Task) -> str | None:
        """None when `task`'s fee is held as required; else why not."""
        if task.task_type not in self.task_types:
            return None
        logs = self.escrow.contract.events.Deposited().get_logs(
            argument_filters={"payee": self.payee}, from_block=task.block
        )
        now = int(self.escrow.w3.eth.get_block("pending")["timestamp"])
        why = f"no fee for task 0x{task.task_hash.hex()} held in escrow for {self.payee}"
        for log in logs:
            a = log["args"]
            if a["kind"] != ESCROW_KIND_TASK or bytes(a["ref"]) != task.task_hash:
                continue
            rec = self.escrow.get(bytes(a["id"]))
            if rec.state != "held":
                why = f"the task's fee escrow is {rec.state}"
            elif rec.token != self.token or rec.amount < self.amount:
                why = f"the task's fee escrow holds {rec.amount} of {rec.token}, not {self.amount} of {self.token}"
            elif rec.expected_result != ZERO32:
                why = "the task's fee escrow names an expected result (an honest result could be refunded)"
            elif rec.deadline < now + self.min_deadline_s:
                why = f"the task's fee escrow is refundable at {rec.deadline}, under {self.min_deadline_s} s from now"
            else:
                return None
        return why
