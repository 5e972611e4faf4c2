"""The x402 ``exact`` and ``upto`` schemes on EVM chains, over EIP-3009.

``exact``: the payer signs EIP-3009 ``TransferWithAuthorization(from, to = payTo, value = amount,
validAfter, validBefore, nonce)`` on the token; the facilitator submits it
(``transferWithAuthorization``) and pays the gas.

``upto`` (per-token inference billing: authorize a maximum, settle the actual): the payer signs
``ReceiveWithAuthorization(from, to = UptoSettler, value = maximum, ..., nonce)`` with nonce =
keccak256(abi.encode(payTo, facilitator, salt)); the facilitator calls the settler with the
actual charge, which pays it to payTo, less the cloud's inference fee (ELIP-12: floor(charge *
feeBips / 10,000) into the FeeVault), and returns the rest to the payer in the same transaction.
The nonce binds the payee and the one facilitator that may settle; the requirements' ``extra``
names the settler and the facilitator (``/supported`` gives both, with the settler's ``feeVault``
and ``feeBips``). The settle response's ``amount`` is the charge: what the payer paid.

``verified`` (pay on verified work): the payer signs ``ReceiveWithAuthorization(from, to =
VerifiedEscrow, value = price, ..., nonce)`` with nonce = keccak256(abi.encode(payTo, kind, ref,
expectedResult, deadline, salt)); the facilitator's settlement is the escrow's ``deposit``, which
holds the payment until the work named in ``extra`` verifies and its challenge window passes
(a TaskMailbox task certified, then confirmed; or an inference request answered by a registered
InferenceDisputes receipt: ``release`` pays payTo) or fails (``refund`` pays the payer back);
:func:`escrow_of` is the escrow's id and offchain.agent.keeper sends what is due.

:func:`create_payment` is the client's half (no chain access needed); :class:`EvmFacilitator` is
the facilitator's: ``verify`` runs every check of x402 §6.1.2 (network, asset, payee, amount, time
window, signature, nonce unused, balance, then a simulation of the very settlement call) and
raises the typed error of the first that fails; ``settle`` verifies, then sends.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3

from offchain.agent.errors import (
    PaymentAmountError,
    PaymentAssetError,
    PaymentExpiredError,
    PaymentNetworkError,
    PaymentNotYetValidError,
    PaymentPayeeError,
    PaymentPayloadError,
    PaymentReplayedError,
    PaymentRequirementsError,
    PaymentSchemeError,
    PaymentSignatureError,
    PaymentUnderfundedError,
    SettlementError,
    X402Error,
)
from offchain.agent.x402 import (
    SCHEMES,
    X402_VERSION,
    EscrowTerms,
    EvmAuthorization,
    EvmPayload,
    PaymentPayload,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    caip2,
    chain_id_of,
)
from offchain.chain.agent import (
    ESCROW_KIND_INFERENCE,
    ESCROW_KIND_TASK,
    RECEIVE_WITH_AUTHORIZATION,
    TRANSFER_WITH_AUTHORIZATION,
    Escrow,
    Sender,
    Settler,
    StableToken,
    authorization_data,
    escrow_id,
    recover,
    sign,
    upto_nonce,
)
from offchain.chain.errors import ChainError, ChainRevertError

# How long before validAfter a client's authorization starts (clock skew between client and chain).
VALID_AFTER_SLACK_S = 600
# A facilitator refuses an authorization that expires within this many seconds (it could not land).
SETTLE_MARGIN_S = 2
# Gas limits of a settlement: the token transfer or the upto settlement; the escrow deposit (a
# mailbox read and a nine-slot record besides the transfer).
SETTLE_GAS = 300_000
DEPOSIT_GAS = 600_000
SCHEME_PRIMARY = {
    "exact": TRANSFER_WITH_AUTHORIZATION,
    "upto": RECEIVE_WITH_AUTHORIZATION,
    "verified": RECEIVE_WITH_AUTHORIZATION,
}

# The token's revert reasons -> the refusal they mean.
REVERTS: tuple[tuple[str, type[X402Error]], ...] = (
    ("authorization is used or canceled", PaymentReplayedError),
    ("authorization is expired", PaymentExpiredError),
    ("authorization is not yet valid", PaymentNotYetValidError),
    ("invalid signature", PaymentSignatureError),
    ("insufficient balance", PaymentUnderfundedError),
    ("transfer amount exceeds balance", PaymentUnderfundedError),  # FiatToken (USDC), StableToken
    ("amount above maximum", PaymentAmountError),
    # VerifiedEscrow's deposit refusals
    ("escrow exists", PaymentReplayedError),
    ("deadline passed", PaymentExpiredError),
    ("task expired", PaymentExpiredError),
    ("unknown task", PaymentRequirementsError),
    ("unknown kind", PaymentSchemeError),
    ("zero ref", PaymentRequirementsError),
)


def create_payment(
    key: Any,
    req: PaymentRequirements,
    resource: ResourceInfo | None = None,
    now: float | None = None,
    nonce: bytes | None = None,
    payer: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> PaymentPayload:
    """The client's PaymentPayload for `req` (exact, upto or verified on an EVM network), signed with `key`:
    valid from 10 minutes ago until `req.max_timeout_seconds` from `now` (unix seconds). `payer`: a
    contract payer (ERC-1271) whose authorization `key` signs (default: `key`'s own address); the
    contract must then accept the signature, e.g. an AgentVault that recorded the payment.
    `extensions`: the 402's, echoed in the payload (x402 §5.1.2)."""
    if req.scheme not in SCHEMES:
        raise PaymentSchemeError(f"scheme {req.scheme!r} is not one of {', '.join(SCHEMES)}")
    chain_id = chain_id_of(req.network, PaymentNetworkError)
    name, version = req.domain()
    payer = Account.from_key(key).address if payer is None else to_checksum_address(payer)
    t = int(time.time() if now is None else now)
    salt = None
    if req.scheme == "exact":
        to, n = req.pay_to, nonce or os.urandom(32)
    elif req.scheme == "verified":
        terms = EscrowTerms.of(req)
        salt = nonce or os.urandom(32)
        to = terms.escrow
        n = terms.nonce(req.pay_to, salt)
    else:
        salt = nonce or os.urandom(32)
        to = req.extra_address("settler")
        n = upto_nonce(req.pay_to, req.extra_address("facilitator"), salt)
    auth = EvmAuthorization(
        payer, to, req.amount, max(t - VALID_AFTER_SLACK_S, 0), t + req.max_timeout_seconds, n
    )
    data = authorization_data(SCHEME_PRIMARY[req.scheme], name, chain_id, req.asset, auth, version)
    return PaymentPayload(req, EvmPayload(sign(key, data), auth, salt), resource, dict(extensions or {}))


@dataclass(frozen=True)
class Verified:
    """A payment that passed every check: who pays, how much the settlement moves, and the
    settlement call ready to send."""

    payer: str
    amount: int
    call: Any


@dataclass(frozen=True)
class Offers:
    """What a facilitator settles, as a resource server needs it to build offers without the
    facilitator's key: its network (CAIP-2), the EIP-3009 tokens (address -> EIP-712 name), its upto
    settler and the address upto payloads name, its verified escrow and the kinds that escrow serves
    (``task``, ``inference``). :meth:`from_supported` reads them from a facilitator's ``/supported``."""

    network: str
    tokens: dict[str, str]
    settler: str | None = None
    facilitator: str | None = None
    escrow: str | None = None
    escrow_kinds: tuple[str, ...] = ()

    @classmethod
    def from_supported(cls, supported: Any, tokens: dict[str, str], network: str) -> Offers:
        """The offers of a facilitator whose ``GET /supported`` answered `supported`, on `network`,
        for `tokens` (address -> name, read from the chain: /supported does not list tokens). A
        malformed answer, or one without `network`'s ``exact``, is PaymentRequirementsError."""
        kinds = supported.get("kinds") if isinstance(supported, dict) else None
        if not isinstance(kinds, list) or not all(isinstance(k, dict) for k in kinds):
            raise PaymentRequirementsError("the facilitator's /supported answer has no list of kinds")
        mine = {k.get("scheme"): k.get("extra") or {} for k in kinds if k.get("network") == network}
        if "exact" not in mine:
            raise PaymentRequirementsError(f"the facilitator settles no exact payments on {network}")
        try:
            upto, verified = mine.get("upto"), mine.get("verified")
            settler = None if upto is None else to_checksum_address(upto["settler"])
            fac = None if upto is None else to_checksum_address(upto["facilitator"])
            escrow = None if verified is None else to_checksum_address(verified["escrow"])
            served = () if verified is None else tuple(str(k) for k in verified.get("kinds", ()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PaymentRequirementsError(
                f"the facilitator's /supported extra is malformed: {exc}"
            ) from None
        return cls(
            network, {to_checksum_address(a): n for a, n in tokens.items()}, settler, fac, escrow, served
        )

    def requirements(
        self,
        scheme: str,
        token: str,
        pay_to: str,
        amount: int,
        max_timeout_seconds: int = 60,
        task: bytes | None = None,
        deadline: int | None = None,
        expected_result: bytes | None = None,
        request: bytes | None = None,
    ) -> PaymentRequirements:
        """PaymentRequirements a resource server can offer for settlement by this facilitator;
        ``verified`` names either the TaskMailbox `task` whose certified result (`expected_result`,
        None: any) releases the payment, or the inference `request` digest whose registered receipt
        (with the output commitment `expected_result`, None: any) does, and the `deadline` (unix
        seconds) after which an uncertified task, or a request with no receipt bound, refunds it."""
        name = self.tokens.get(to_checksum_address(token))
        if name is None:
            raise PaymentAssetError(f"this facilitator settles no token {token}")
        extra: dict[str, Any] = {"name": name, "version": "2"}
        if scheme == "upto":
            if self.settler is None or self.facilitator is None:
                raise PaymentSchemeError("this facilitator has no upto settler")
            extra |= {"settler": self.settler, "facilitator": self.facilitator}
        elif scheme == "verified":
            if self.escrow is None:
                raise PaymentSchemeError("this facilitator has no verified escrow")
            kind = ESCROW_KIND_TASK if request is None else ESCROW_KIND_INFERENCE
            ref = task if request is None else request
            if (task is None) == (request is None):
                raise PaymentRequirementsError("a verified offer names a task or an inference request")
            if ref is None or len(ref) != 32 or deadline is None or deadline <= 0:
                raise PaymentRequirementsError(
                    "a verified offer names a 32-byte task or request and a deadline"
                )
            if expected_result is not None and len(expected_result) != 32:
                raise PaymentRequirementsError("an expected result hash is 32 bytes")
            what = "task" if kind == ESCROW_KIND_TASK else "inference"
            if what not in self.escrow_kinds:
                raise PaymentSchemeError(f"this facilitator's escrow serves no {what} payments")
            terms = EscrowTerms(self.escrow, ref, expected_result or bytes(32), deadline, kind)
            extra |= terms.to_extra()
        elif scheme != "exact":
            raise PaymentSchemeError(f"scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
        return PaymentRequirements(
            scheme, self.network, amount, to_checksum_address(token), to_checksum_address(pay_to),
            max_timeout_seconds, extra,
        )  # fmt: skip


class EvmFacilitator:
    """Verifies and settles exact and upto payments on one chain, for the EIP-3009 tokens given,
    sending from `key` (which pays the gas and is the facilitator upto payloads name)."""

    def __init__(
        self,
        w3: Web3,
        key: Any,
        tokens: list[StableToken],
        settler: Settler | None = None,
        settle_margin_s: int = SETTLE_MARGIN_S,
        escrow: Escrow | None = None,
    ) -> None:
        self.w3 = w3
        self.sender = Sender(w3, key)
        self.address = self.sender.address
        self.network = caip2(self.sender.chain_id)
        self.tokens = {t.address: t for t in tokens}
        self.settler = settler
        self.escrow = escrow
        # the kinds of work the escrow serves (task: it has a mailbox; inference: disputes)
        self.escrow_kinds = [] if escrow is None else [k for k, on in escrow.serves().items() if on]
        self.margin = settle_margin_s
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, bytes]] = set()

    # ---- what it settles

    def supported(self) -> dict[str, Any]:
        """GET /supported: the kinds (x402 version, scheme, network), extensions and signers."""
        kinds: list[dict[str, Any]] = [
            {"x402Version": X402_VERSION, "scheme": "exact", "network": self.network}
        ]
        if self.settler is not None:
            # the cloud's inference fee (ELIP-12): the payee receives the settled amount less
            # floor(amount * feeBips / 10,000), paid into feeVault; the payer pays the amount
            vault, bips = self.settler.fee_terms()
            kinds.append(
                {
                    "x402Version": X402_VERSION,
                    "scheme": "upto",
                    "network": self.network,
                    "extra": {
                        "settler": self.settler.address,
                        "facilitator": self.address,
                        "feeVault": vault,
                        "feeBips": bips,
                    },
                }
            )
        if self.escrow is not None:
            kinds.append(
                {
                    "x402Version": X402_VERSION,
                    "scheme": "verified",
                    "network": self.network,
                    "extra": {"escrow": self.escrow.address, "kinds": self.escrow_kinds},
                }
            )
        return {"kinds": kinds, "extensions": [], "signers": {"eip155:*": [self.address]}}

    def requirements(
        self, scheme: str, token: str, pay_to: str, amount: int, **kw: Any
    ) -> PaymentRequirements:
        """PaymentRequirements a resource server can offer for settlement here (:meth:`Offers.requirements`)."""
        return self.offers().requirements(scheme, token, pay_to, amount, **kw)

    def offers(self) -> Offers:
        """What this facilitator settles, as a resource server builds its offers from it."""
        return Offers(
            self.network,
            {a: t.name for a, t in self.tokens.items()},
            None if self.settler is None else self.settler.address,
            self.address,
            None if self.escrow is None else self.escrow.address,
            tuple(self.escrow_kinds),
        )

    # ---- checks

    def _now(self) -> int:
        """The time the settlement will see: the pending block's timestamp (the chain's clock,
        which on a devnet may differ from this machine's)."""
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def _match(self, p: PaymentPayload, req: PaymentRequirements) -> None:
        acc = p.accepted
        if (
            req.scheme not in SCHEMES
            or (req.scheme == "upto" and self.settler is None)
            or (req.scheme == "verified" and self.escrow is None)
        ):
            raise PaymentSchemeError(f"scheme {req.scheme!r} is not settled here")
        if acc.scheme != req.scheme:
            raise PaymentSchemeError(
                f"the payment uses scheme {acc.scheme!r}, the requirements {req.scheme!r}"
            )
        if req.network != self.network or acc.network != req.network:
            raise PaymentNetworkError(
                f"the payment is for {acc.network}, the requirements {req.network}, this facilitator {self.network}"
            )
        if req.asset not in self.tokens or acc.asset != req.asset:
            raise PaymentAssetError(f"the payment is in {acc.asset}, the requirements in {req.asset}")
        if acc.pay_to != req.pay_to:
            raise PaymentPayeeError(f"the payment is to {acc.pay_to}, the requirements to {req.pay_to}")
        if req.scheme == "verified" and EscrowTerms.of(acc, PaymentPayloadError) != EscrowTerms.of(req):
            raise PaymentRequirementsError(
                "the payment is conditioned on other escrow terms than the requirements"
            )

    def check(self, p: PaymentPayload, req: PaymentRequirements, charge: int | None = None) -> Verified:
        """Every check of the payment against `req`; the first that fails raises its typed error.
        For upto, `charge` is the amount to settle (default: the authorized maximum)."""
        self._match(p, req)
        a, sig = p.payload.authorization, p.payload.signature
        payer = a.from_
        token = self.tokens[req.asset]
        if req.scheme == "exact":
            if a.to != req.pay_to:
                raise PaymentPayeeError(f"the authorization pays {a.to}, not payTo {req.pay_to}", payer)
            if a.value != req.amount:
                raise PaymentAmountError(
                    f"the authorization is for {a.value}, the price is {req.amount}", payer
                )
            amount = a.value
        elif req.scheme == "verified":
            assert self.escrow is not None and p.payload.salt is not None  # _match, the payload parser
            terms = EscrowTerms.of(req)
            if terms.escrow != self.escrow.address:
                raise PaymentRequirementsError("the requirements name another escrow", payer)
            if a.to != self.escrow.address:
                raise PaymentPayeeError(f"a verified authorization pays the escrow, not {a.to}", payer)
            if a.nonce != terms.nonce(req.pay_to, p.payload.salt):
                raise PaymentPayeeError("the escrow nonce binds another payee or other terms", payer)
            if a.value != req.amount:
                raise PaymentAmountError(
                    f"the authorization is for {a.value}, the price is {req.amount}", payer
                )
            if terms.deadline <= self._now():
                raise PaymentExpiredError(f"the escrow deadline {terms.deadline} has passed", payer)
            amount = a.value
        else:
            assert self.settler is not None and p.payload.salt is not None  # _match, the payload parser
            if req.extra_address("settler") != self.settler.address:
                raise PaymentRequirementsError("the requirements name another upto settler", payer)
            if req.extra_address("facilitator") != self.address:
                raise PaymentRequirementsError("the requirements name another facilitator", payer)
            if a.to != self.settler.address:
                raise PaymentPayeeError(f"an upto authorization pays the settler, not {a.to}", payer)
            if a.nonce != upto_nonce(req.pay_to, self.address, p.payload.salt):
                raise PaymentPayeeError("the upto nonce binds another payee or facilitator", payer)
            if a.value < req.amount:
                raise PaymentAmountError(f"the authorized maximum {a.value} is below {req.amount}", payer)
            amount = req.amount if charge is None else charge
            if amount > a.value:
                raise PaymentAmountError(f"the charge {amount} exceeds the authorized {a.value}", payer)
        now = self._now()
        if a.valid_after >= now:
            raise PaymentNotYetValidError(f"valid only after {a.valid_after} (now {now})", payer)
        if a.valid_before <= now + self.margin:
            raise PaymentExpiredError(f"expired at {a.valid_before} (now {now})", payer)
        if not self.w3.eth.get_code(payer):
            data = authorization_data(
                SCHEME_PRIMARY[req.scheme], token.name, token.chain_id, token.address, a
            )
            try:
                signer = recover(data, sig)
            except Exception:  # a malformed signature: eth_keys' BadSignature, ValueError
                raise PaymentSignatureError("the signature is malformed", payer) from None
            if signer != payer:
                raise PaymentSignatureError("the signature is not the payer's over this authorization", payer)
        # else: a contract payer answers ERC-1271, which the simulation below asks
        with self._lock:
            if (payer, a.nonce) in self._in_flight:
                raise PaymentReplayedError("this authorization is being settled already", payer)
        if token.authorization_state(payer, a.nonce):
            raise PaymentReplayedError(f"nonce 0x{a.nonce.hex()} of {payer} is used or canceled", payer)
        if token.balance_of(payer) < a.value:
            raise PaymentUnderfundedError(f"{payer} holds less than {a.value}", payer)
        if req.scheme == "exact":
            call = token.transfer_with_authorization(a, sig)
        elif req.scheme == "verified":
            assert self.escrow is not None and p.payload.salt is not None
            terms = EscrowTerms.of(req)
            call = self.escrow.deposit(
                token.address,
                payer,
                a.value,
                a.valid_after,
                a.valid_before,
                req.pay_to,
                *terms.condition(),
                p.payload.salt,
                sig,
            )
        else:
            assert self.settler is not None and p.payload.salt is not None
            call = self.settler.settle(
                token.address,
                payer,
                req.pay_to,
                a.value,
                a.valid_after,
                a.valid_before,
                p.payload.salt,
                sig,
                amount,
            )
        try:
            self.sender.simulate(call)
        except ChainRevertError as exc:
            raise _refusal(str(exc), payer) from None
        return Verified(payer, amount, call)

    def verify(self, p: PaymentPayload, req: PaymentRequirements) -> str:
        """POST /verify: the payer's address if the payment is valid, else its typed error."""
        return self.check(p, req).payer

    def settle(self, p: PaymentPayload, req: PaymentRequirements) -> SettleResponse:
        """POST /settle: verify, then send the settlement (upto: `req.amount` is the charge, at
        most the authorized maximum) and wait for it; the response names the transaction."""
        a = p.payload.authorization
        if p.accepted.scheme == "upto":
            # the payload's `accepted` holds the maximum; the settle request's amount is the charge
            v = self.check(p, replace(req, amount=0), charge=req.amount)
        else:
            v = self.check(p, req)
        key = (v.payer, a.nonce)
        with self._lock:
            if key in self._in_flight:
                raise PaymentReplayedError("this authorization is being settled already", v.payer)
            self._in_flight.add(key)
        try:
            tx = self.sender.send(v.call, gas=DEPOSIT_GAS if p.accepted.scheme == "verified" else SETTLE_GAS)
        except ChainRevertError as exc:
            raise SettlementError(f"the settlement reverted: {exc}", v.payer) from None
        except ChainError as exc:
            raise SettlementError(f"the settlement failed: {exc}", v.payer) from None
        finally:
            with self._lock:
                self._in_flight.discard(key)
        return SettleResponse(True, "0x" + tx.hex(), self.network, v.payer, None, v.amount)


def escrow_of(p: PaymentPayload) -> bytes:
    """The VerifiedEscrow id a settled ``verified`` payment created (what release and refund
    take): keccak256(abi.encode(token, payer, nonce))."""
    if p.accepted.scheme != "verified":
        raise PaymentSchemeError(f"a {p.accepted.scheme!r} payment holds nothing in escrow")
    a = p.payload.authorization
    return escrow_id(p.accepted.asset, a.from_, a.nonce)


def _refusal(reason: str, payer: str) -> X402Error:
    for text, cls in REVERTS:
        if reason.startswith(text):
            return cls(f"the settlement would revert: {reason}", payer)
    return SettlementError(f"the settlement would revert: {reason}", payer)
