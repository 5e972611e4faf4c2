"""An HTTP client (httpx) that pays x402 v2 resources by itself, within a budget.

``PayingClient.request`` sends the request; on a ``402`` it reads the ``PAYMENT-REQUIRED`` offers,
picks the first it may pay (a scheme it speaks, its chain, its token, an amount within the
per-request cap and what is left of the budget), signs it (EIP-3009, see offchain.agent.evm) and
retries once with ``PAYMENT-SIGNATURE``. The budget is spent by what the server settled (its
``PAYMENT-RESPONSE``; an upto charge may be below the maximum signed); an offer's full amount is
held while its request is in flight, so concurrent requests cannot overspend.

Refusals are typed: no offer it can pay (``NoAcceptablePaymentError``), none within the budget
(``BudgetExceededError``), the server refusing the payment (``PaymentRefusedError`` with the x402
reason), a malformed 402 or settlement header (``PaymentPayloadError``). A request may name the
work it pays for (``expect_ref``: a task hash or an inference request digest the client computed
itself): then only ``verified`` offers conditioned on exactly that work are paid. Given the agent's
AP2 open payment mandate (its content, offchain.agent.ap2), it also pays only offers within the
user's constraints (amount range, allowed payees, budget, recurrence, expiry: a ``MandateError``
otherwise). With a contract `wallet` (e.g. offchain.agent.vault.VaultFeedWallet) the payer is that
contract: the key signs for it and the wallet records each payment on chain before it is sent (the
contract answers ERC-1271 for it at settlement), refusing what its own limits forbid; such a client
pays only the schemes the wallet records (its ``schemes``: the vault's are ``exact``, ``upto`` and
``verified``), and tells the wallet of each settlement it received (``settled``: the vault returns
what an upto charge left of its maximum to its budget; a verified payment stays open in the wallet
until its escrow releases or refunds it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from eth_account import Account
from eth_utils import to_checksum_address

from offchain.agent.ap2 import MINOR_DIGITS, Usage, check_offer, plain
from offchain.agent.errors import (
    BudgetExceededError,
    MandateError,
    NoAcceptablePaymentError,
    PaymentPayloadError,
    PaymentRefusedError,
)
from offchain.agent.evm import create_payment
from offchain.agent.x402 import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    SCHEMES,
    EscrowTerms,
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    caip2,
    decode_header,
    encode_header,
)


def parse_payment_required(headers: Any, body: bytes) -> PaymentRequired:
    """The PaymentRequired of a 402: the header (v2), else the JSON body."""
    raw = headers.get(PAYMENT_REQUIRED)
    if raw is not None:
        return PaymentRequired.from_json(decode_header(raw, PAYMENT_REQUIRED))
    try:
        return PaymentRequired.from_json(json.loads(body))
    except ValueError:
        raise PaymentPayloadError(f"a 402 without a {PAYMENT_REQUIRED} header or JSON body") from None


class ContractWallet(Protocol):
    """A contract payer (ERC-1271): its address, the schemes it pays, the on-chain record of one
    payment that makes the contract accept it (raising its own typed error when the contract
    refuses), and what it does once a payment settled."""

    schemes: tuple[str, ...]

    @property
    def address(self) -> str: ...

    def authorize(self, req: PaymentRequirements, payload: PaymentPayload) -> Any: ...

    def settled(self, payload: PaymentPayload) -> Any: ...


@dataclass(frozen=True)
class Receipt:
    """One settled payment: the resource, the offer paid and the facilitator's settlement."""

    url: str
    requirements: PaymentRequirements
    settlement: SettleResponse
    seconds: float


class PayingClient:
    """Pays with `key` in `asset` (a token address) on `chain_id`, at most `budget` atomic units in
    all and `max_per_request` per request (default: the budget)."""

    def __init__(
        self,
        key: Any,
        chain_id: int,
        asset: str,
        budget: int,
        *,
        max_per_request: int | None = None,
        schemes: tuple[str, ...] = SCHEMES,
        allowed_payees: set[str] | None = None,
        mandate: dict[str, Any] | None = None,
        digits: dict[str, int] | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        wallet: ContractWallet | None = None,
    ) -> None:
        if budget < 0 or (max_per_request is not None and max_per_request < 0):
            raise BudgetExceededError("a budget is a non-negative number of atomic units")
        self.key = key
        self.wallet = wallet
        self.address = (
            Account.from_key(key).address if wallet is None else to_checksum_address(wallet.address)
        )
        self.network = caip2(chain_id)
        self.asset = to_checksum_address(asset)
        self.budget = budget
        self.max_per_request = budget if max_per_request is None else max_per_request
        # a contract wallet pays the schemes it can record
        self.schemes = schemes if wallet is None else tuple(x for x in schemes if x in wallet.schemes)
        self.allowed_payees = (
            None if allowed_payees is None else {to_checksum_address(p) for p in allowed_payees}
        )
        self.mandate = None if mandate is None else plain(mandate)
        self.digits = MINOR_DIGITS | (digits or {})
        self._last_paid: float | None = None
        self._held_n = 0
        self.http = http or httpx.Client(timeout=60)
        self.clock = clock
        self.spent = 0
        self.receipts: list[Receipt] = []
        self._held = 0
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        with self._lock:
            return self.budget - self.spent - self._held

    def reserve(
        self, offers: tuple[PaymentRequirements, ...], expect_ref: bytes | None = None
    ) -> PaymentRequirements:
        """The first offer this client may pay, its amount held against the budget until
        :meth:`release` (other transports than HTTP, e.g. A2A, pay through this too); with
        `expect_ref`, only a ``verified`` offer conditioned on that work."""
        usable = [
            o
            for o in offers
            if o.scheme in self.schemes
            and o.network == self.network
            and o.asset == self.asset
            and (self.allowed_payees is None or o.pay_to in self.allowed_payees)
            and (expect_ref is None or _conditioned_on(o, expect_ref))
        ]
        if self.mandate is not None and usable:
            refusals: list[MandateError] = []
            fits = []
            with self._lock:
                used = Usage(len(self.receipts) + self._held_n, self.spent + self._held, self._last_paid)
            for o in usable:
                try:
                    check_offer(self.mandate, o, self.address, used, self.clock(), self.digits)
                    fits.append(o)
                except MandateError as exc:
                    refusals.append(exc)
            if not fits:
                raise refusals[0]
            usable = fits
        if not usable:
            raise NoAcceptablePaymentError(
                f"no offer this client may pay ({', '.join(self.schemes)} in {self.asset} on {self.network}"
                + ("" if expect_ref is None else f", verified on 0x{expect_ref.hex()}")
                + ")"
            )
        with self._lock:
            left = self.budget - self.spent - self._held
            for o in usable:
                if o.amount <= min(left, self.max_per_request):
                    self._held += o.amount
                    self._held_n += 1
                    return o
        cheapest = min(o.amount for o in usable)
        raise BudgetExceededError(
            f"the cheapest offer ({cheapest}) exceeds what is left ({left}) or the per-request cap "
            f"({self.max_per_request})"
        )

    def request(
        self, method: str, url: str, *, expect_ref: bytes | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send the request, paying once if the server asks (402); `expect_ref`: pay only a
        ``verified`` offer conditioned on this work (a task hash, an inference request digest)."""
        t0 = time.perf_counter()
        first = self.http.request(method, url, **kwargs)
        if first.status_code != 402:
            return first
        offers = parse_payment_required(first.headers, first.content)
        req = self.reserve(offers.accepts, expect_ref)
        try:
            payload = self.sign(req, offers.resource, offers.extensions)
            headers = dict(kwargs.pop("headers", None) or {})
            headers[PAYMENT_SIGNATURE] = encode_header(payload)
            second = self.http.request(method, url, headers=headers, **kwargs)
            raw = second.headers.get(PAYMENT_RESPONSE)
            if second.status_code == 402:
                raise _refusal(url, second, raw)
            if raw is None:  # the route failed before settlement: nothing was paid
                return second
            settled = SettleResponse.from_json(decode_header(raw, PAYMENT_RESPONSE))
            self.record(url, req, settled, time.perf_counter() - t0)
            if self.wallet is not None:
                self.wallet.settled(payload)
            return second
        finally:
            self.release(req)

    def sign(
        self,
        req: PaymentRequirements,
        resource: ResourceInfo | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> PaymentPayload:
        """The signed payment of a reserved offer (a contract wallet's: recorded on it first),
        echoing the 402's `extensions` as x402 §5.1.2 asks."""
        if self.wallet is None:
            return create_payment(self.key, req, resource, now=self.clock(), extensions=extensions)
        payload = create_payment(
            self.key, req, resource, now=self.clock(), payer=self.address, extensions=extensions
        )
        self.wallet.authorize(req, payload)
        return payload

    def release(self, req: PaymentRequirements) -> None:
        """Stop holding a reserved offer's amount (after its settlement was recorded, or none came)."""
        with self._lock:
            self._held -= req.amount
            self._held_n -= 1

    def record(self, url: str, req: PaymentRequirements, settled: SettleResponse, seconds: float) -> Receipt:
        """Spend what a settlement of the reserved offer `req` charged (a settlement that is no
        success, or charges above the offer, is PaymentPayloadError)."""
        charged = req.amount if settled.amount is None else settled.amount
        if not settled.success or charged > req.amount:
            raise PaymentPayloadError(f"{url} sent a settlement that is no success within the offer")
        receipt = Receipt(url, req, settled, seconds)
        with self._lock:
            self.spent += charged
            self._last_paid = self.clock()
        self.receipts.append(receipt)
        return receipt

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def _refusal(url: str, response: httpx.Response, settlement: str | None) -> PaymentRefusedError:
    """The refusal a 402 answering a payment carries: a failed settlement's ``PAYMENT-RESPONSE``
    (its ``errorReason``), else the ``PAYMENT-REQUIRED`` of a payment refused before the route
    ran (its ``error``)."""
    if settlement is not None:
        failed = SettleResponse.from_json(decode_header(settlement, PAYMENT_RESPONSE))
        reason = failed.error_reason
        return PaymentRefusedError(
            f"{url} could not settle the payment: {reason or 'no reason given'}", reason
        )
    refused = parse_payment_required(response.headers, response.content)
    return PaymentRefusedError(
        f"{url} refused the payment: {refused.error or 'no reason given'}", refused.error
    )


def _conditioned_on(offer: PaymentRequirements, ref: bytes) -> bool:
    """Whether `offer` is a verified payment conditioned on the work `ref` (a malformed one is not)."""
    if offer.scheme != "verified":
        return False
    try:
        return EscrowTerms.of(offer, PaymentPayloadError).ref == ref
    except PaymentPayloadError:
        return False
