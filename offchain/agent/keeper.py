"""The verified-settlement keeper: sends, for each held VerifiedEscrow payment, the one step that is
due (docs/agent.md "Verified settlement"). Anyone may run it; the payee has every reason to.

Task kind: once the task is certified with the expected result, ``confirmTask`` (opens the
escrow's challenge window); after the window, ``release`` (``releaseToCertifiers`` when the payee
is the mailbox: the task's certifiers, pro rata to the stake each signed with); a refund when the task expired, the
deadline passed uncertified, the result is not the expected one, or a fault was proven against
its certifying operators and its slash is final (``waiting``, ``slash pending``, while the set's
resolver may still cancel it; ``release`` after the window if the resolver cancelled it).

Inference kind: while no receipt is bound, the receipt is found on chain: the InferenceDisputes
``registerReceipt`` transactions whose ``ReceiptRegistered`` event names the payer as client, whose
receipt answers the escrow's request (the escrow's own ``requestDigest``) and, when the client
named one, carries the expected output commitment; the first is bound (``bindReceipt``). Once bound:
``release`` after its challenge window passed or the set confirmed it, ``refund`` when its challenge
expired. A receipt proven wrong follows its slash's fate (read by the escrow from the SlashEscrow):
``waiting`` (``slash pending``) while the set's resolver may still cancel the slash, ``refund`` once
it is final, ``release`` to the payee if it was cancelled. With no receipt by the deadline,
``refund``.

Each step is simulated first: one that the contract would refuse is not sent, and the escrow is
reported as ``waiting`` with the refusal (e.g. ``challenge window open``).

Given the agent's vault (offchain.agent.vault.AgentVault), the keeper also returns what the escrow
refunded to the vault to the vault's budget (``credit``, the step after the refund): a policy fee
``postPolicyTaskEscrowed`` deposited to the fee budget (``creditRefundedFee``), a verified payment
the vault recorded to the feed budget (``creditRefundedPayment``); anyone may send both, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from offchain.chain.agent import ESCROW_KIND_INFERENCE, ESCROW_KIND_TASK, Escrow, EscrowRecord, Sender
from offchain.chain.errors import ChainInputError, ChainRevertError

# InferenceDisputes claim statuses (contracts/avs/InferenceDisputes.vy)
RECEIPT_UPHELD, RECEIPT_FAULTY, RECEIPT_EXPIRED = 3, 4, 5


@dataclass(frozen=True)
class Step:
    """What the keeper did for one escrow: `action` is confirm, bind, release, refund, credit (a
    refund to the vault returned to its budget), waiting (nothing due yet: `reason` says why) or
    settled (already released or refunded, and credited)."""

    escrow: bytes
    action: str
    transaction: bytes | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"escrow": "0x" + self.escrow.hex(), "action": self.action}
        if self.transaction is not None:
            out["transaction"] = "0x" + self.transaction.hex()
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class Keeper:
    """Settles `escrow`'s payments from `sender`; `mailbox_abi` reads a task's certifying operators,
    `disputes_abi` finds inference receipts (from block `from_block`); with `vault` (an AgentVault
    handle), credits what the escrow refunded to that vault back to its budgets."""

    def __init__(
        self,
        escrow: Escrow,
        sender: Sender,
        mailbox_abi: list[dict[str, Any]],
        disputes_abi: list[dict[str, Any]],
        from_block: int = 0,
        vault: Any | None = None,
    ) -> None:
        self.escrow = escrow
        self.vault = vault
        self.sender = sender
        self.w3 = escrow.w3
        self.mailbox_abi = mailbox_abi
        self.from_block = from_block
        d = escrow.contract.functions.disputes().call()
        self.disputes = None if int(d, 16) == 0 else self.w3.eth.contract(address=d, abi=disputes_abi)

    def held(self, payee: str | None = None, payer: str | None = None) -> list[bytes]:
        """The ids of held escrows (to `payee`, from `payer`; None: any) from Deposited events."""
        filters: dict[str, Any] = {}
        if payee is not None:
            filters["payee"] = to_checksum_address(payee)
        if payer is not None:
            filters["payer"] = to_checksum_address(payer)
        logs = self.escrow.contract.events.Deposited().get_logs(
            argument_filters=filters, from_block=self.from_block
        )
        ids = [bytes(e["args"]["id"]) for e in logs]
        return [i for i in ids if self.escrow.get(i).state == "held"]

    def _try(self, eid: bytes, action: str, call: Any) -> Step:
        try:
            self.sender.simulate(call)
        except ChainRevertError as exc:
            return Step(eid, "waiting", reason=str(exc))
        return Step(eid, action, self.sender.send(call, gas=1_500_000))

    def receipt_for(self, rec: EscrowRecord) -> tuple | None:
        """The first registered receipt (InferenceReceipt tuple) answering an inference escrow."""
        if self.disputes is None:
            return None
        logs = self.disputes.events.ReceiptRegistered().get_logs(
            argument_filters={"client": rec.payer}, from_block=self.from_block
        )
        for log in logs:
            tx = self.w3.eth.get_transaction(log["transactionHash"])
            if tx["to"] is None or to_checksum_address(tx["to"]) != self.disputes.address:
                continue  # registered through another contract: not readable from the calldata
            try:
                fn, args = self.disputes.decode_function_input(tx["input"])
            except ValueError:
                continue
            if fn.fn_name != "registerReceipt":
                continue
            r = args["r"]
            if isinstance(r, dict):  # web3 decodes a struct as a mapping in ABI order
                r = tuple(r[c["name"]] for c in fn.abi["inputs"][0]["components"])
            if bytes(self.escrow.contract.functions.requestDigest(r).call()) != rec.ref:
                continue
            if rec.expected_result != bytes(32) and bytes(log["args"]["output"]) != rec.expected_result:
                continue
            return r
        return None

    def step(self, eid: bytes) -> Step:
        """Send the step due for escrow `eid` (or report why none is)."""
        rec = self.escrow.get(eid)
        if rec.state == "none":
            return Step(eid, "waiting", reason="unknown escrow")
        if rec.state != "held":
            credit = self._credit(eid, rec) if rec.state == "refunded" else None
            return credit or Step(eid, "settled", reason=rec.state)
        if rec.kind == ESCROW_KIND_TASK:
            signers = self.escrow.task_signers(rec.ref, self.mailbox_abi)
            refund = self._try(eid, "refund", self.escrow.refund(eid, signers))
            if refund.action == "refund":
                return refund
            if rec.window_end == 0 and self.escrow.task_window != 0:
                return self._try(eid, "confirm", self.escrow.confirm_task(eid))
            if self.escrow.pays_certifiers(rec):
                try:
                    signers, stakes = self.escrow.task_certifiers(rec.ref, self.mailbox_abi)
                except ChainInputError as exc:
                    return Step(eid, "waiting", reason=str(exc))
                return self._try(eid, "release", self.escrow.release_to_certifiers(eid, signers, stakes))
            return self._try(eid, "release", self.escrow.release(eid, signers))
        if rec.kind == ESCROW_KIND_INFERENCE and rec.receipt == bytes(32):
            r = self.receipt_for(rec)
            if r is not None:
                return self._try(eid, "bind", self.escrow.bind_receipt(eid, r))
            return self._try(eid, "refund", self.escrow.refund(eid, []))
        refund = self._try(eid, "refund", self.escrow.refund(eid, []))
        if refund.action == "refund":
            return refund
        return self._try(eid, "release", self.escrow.release(eid, []))

    def _credit(self, eid: bytes, rec: EscrowRecord) -> Step | None:
        # a refund to the vault not yet credited back: the vault's credit (None: nothing to credit)
        if self.vault is None or rec.payer != to_checksum_address(self.vault.address):
            return None
        f = self.vault.contract.functions
        if to_checksum_address(f.feeEscrowOf(eid).call()) == self.escrow.address:
            return self._try(eid, "credit", f.creditRefundedFee(eid))
        if to_checksum_address(f.verifiedEscrowOf(eid).call()) == self.escrow.address and not (
            f.paymentRefundCredited(eid).call()
        ):
            return self._try(eid, "credit", f.creditRefundedPayment(eid))
        return None

    def run(self, ids: list[bytes], rounds: int = 3) -> list[Step]:
        """Every step sent for each escrow: up to `rounds` while each makes progress (confirm or
        bind, then release when the window allows; a refund to the vault, then its credit); the
        last one may be ``waiting``."""
        out = []
        for eid in ids:
            for _ in range(rounds):
                s = self.step(eid)
                out.append(s)
                if s.action not in ("confirm", "bind") and not (s.action == "refund" and self._to_vault(eid)):
                    break
        return out

    def _to_vault(self, eid: bytes) -> bool:
        return self.vault is not None and self.escrow.get(eid).payer == to_checksum_address(
            self.vault.address
        )
