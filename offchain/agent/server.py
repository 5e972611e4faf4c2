"""x402 v2 for a resource server: an ASGI middleware (Starlette or any ASGI app) that puts a price
on routes.

A request to a priced route without ``PAYMENT-SIGNATURE`` is answered ``402`` with
``PAYMENT-REQUIRED: base64(PaymentRequired)`` (the same JSON in the body). A retry's
``PAYMENT-SIGNATURE: base64(PaymentPayload)`` must name one of the route's offers (its
``accepted``), is verified by the facilitator, then the route runs with the payment in
``request.state.x402`` (a :class:`Payment`). Its response is held back until the payment is
settled: a response below 400 is settled and sent with ``PAYMENT-RESPONSE:
base64(SettlementResponse)``; an error response is sent unsettled (the client pays nothing); a
settlement that fails turns into a 402 whose ``PAYMENT-RESPONSE`` is the failed
SettlementResponse (``success`` false, the reason in ``errorReason``, ``transaction`` empty), as
the HTTP transport spec has it. A payment refused before the route runs (malformed, matching no
offer, refused by the facilitator's /verify) is a 402 with ``PAYMENT-REQUIRED`` whose ``error``
is the reason code.

``verified`` routes (per-request offers, :attr:`PricedRoute.offers`) are paid into a VerifiedEscrow
that releases the payment once the TaskMailbox certifies the task the offer names; the route
should return that task reference, from which the client (or anyone) releases or refunds later.

``upto`` routes charge what the route sets in ``request.state.x402.charge`` (atomic units, at most
the authorized maximum; unset: the maximum), e.g. the tokens an inference generated times a price.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offchain.agent.errors import (
    FacilitatorError,
    PaymentAmountError,
    PaymentPayloadError,
    PaymentRequirementsError,
    X402Error,
)
from offchain.agent.x402 import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
    VerifyResponse,
    decode_header,
    encode_header,
)


class Facilitator(Protocol):
    async def verify(self, payload: PaymentPayload, req: PaymentRequirements) -> VerifyResponse: ...

    async def settle(self, payload: PaymentPayload, req: PaymentRequirements) -> SettleResponse: ...


@dataclass(frozen=True)
class PricedRoute:
    """The offers (`accepts`) of one path (and method, None: any), with its description. `offers`,
    when given, makes them per request: it is awaited with the request's ASGI scope, for the 402
    and again for the paid retry (a ``verified`` offer names the task of this very request, so the
    same request must get the same offer), and replaces `accepts`."""

    path: str
    accepts: tuple[PaymentRequirements, ...]
    method: str | None = None
    description: str | None = None
    mime_type: str | None = "application/json"
    offers: Callable[[Scope], Awaitable[tuple[PaymentRequirements, ...]]] | None = None


@dataclass
class Payment:
    """A verified payment, as the route sees it: who pays, under which offer; `charge` is what an
    upto route bills (None: the maximum)."""

    payer: str
    requirements: PaymentRequirements
    payload: PaymentPayload
    charge: int | None = None


def _refusal(reason: str) -> X402Error:
    """An error carrying a facilitator's reason code as it was given."""
    exc = X402Error(f"the facilitator refused the payment: {reason}")
    exc.code = reason
    return exc


def _same_offer(a: PaymentRequirements, b: PaymentRequirements) -> bool:
    same = (a.scheme, a.network, a.asset, a.pay_to, a.amount) == (
        b.scheme,
        b.network,
        b.asset,
        b.pay_to,
        b.amount,
    )
    # a verified payment is conditioned on its offer's escrow terms: all of them must match
    return same and (a.scheme != "verified" or a.extra == b.extra)


async def verify_payment(
    facilitator: Facilitator, payload: PaymentPayload, req: PaymentRequirements
) -> Payment:
    """The verified payment of `payload` under the offer `req`, or the facilitator's refusal."""
    verdict = await facilitator.verify(payload, req)
    if not verdict.is_valid:
        raise _refusal(verdict.invalid_reason or PaymentPayloadError.code)
    return Payment(verdict.payer or payload.payload.authorization.from_, req, payload)


async def settle_payment(facilitator: Facilitator, payment: Payment) -> SettleResponse:
    """Settle a verified payment (upto: its charge, unset: the maximum), or the refusal."""
    req = payment.requirements
    if req.scheme == "upto":
        charge = req.amount if payment.charge is None else payment.charge
        if not 0 <= charge <= req.amount:
            raise PaymentAmountError(f"the route charged {charge}, above the authorized {req.amount}")
        req = replace(req, amount=charge)
    result = await facilitator.settle(payment.payload, req)
    if not result.success:
        raise _refusal(result.error_reason or FacilitatorError.code)
    return result


async def _send_402(send: Send, header: str, message: PaymentRequired | SettleResponse) -> None:
    """A 402 carrying `message` in `header` (base64 JSON) and as the JSON body."""
    body = json.dumps(message.to_json()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 402,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (header.lower().encode(), encode_header(message).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PaymentMiddleware:
    """Charge for the routes in `routes` through `facilitator` (LocalFacilitator or HTTPFacilitator)."""

    def __init__(self, app: ASGIApp, routes: list[PricedRoute], facilitator: Facilitator) -> None:
        self.app = app
        self.routes = routes
        self.facilitator = facilitator

    def _route(self, scope: Scope) -> PricedRoute | None:
        for r in self.routes:
            if r.path == scope["path"] and (r.method is None or r.method == scope["method"]):
                return r
        return None

    async def _payment_required(
        self, send: Send, route: PricedRoute, accepts: tuple[PaymentRequirements, ...], url: str, error: str
    ) -> None:
        pr = PaymentRequired(ResourceInfo(url, route.description, route.mime_type), accepts, error)
        await _send_402(send, PAYMENT_REQUIRED, pr)

    @staticmethod
    async def _settlement_failed(send: Send, payment: Payment, exc: X402Error) -> None:
        """The 402 of a settlement that failed: its SettlementResponse in ``PAYMENT-RESPONSE``
        (and as the JSON body)."""
        failed = SettleResponse(False, "", payment.requirements.network, exc.payer or payment.payer, exc.code)
        await _send_402(send, PAYMENT_RESPONSE, failed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "localhost")
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}"
        accepts = route.accepts if route.offers is None else await route.offers(scope)
        raw = headers.get(PAYMENT_SIGNATURE)
        if raw is None:
            await self._payment_required(send, route, accepts, url, f"{PAYMENT_SIGNATURE} header is required")
            return
        try:
            payment = await self._accept(raw, accepts)
        except X402Error as exc:
            await self._payment_required(send, route, accepts, url, exc.code)
            return
        scope.setdefault("state", {})["x402"] = payment

        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is None or start["status"] >= 400:
            for m in held:  # an error (or nothing): sent as is, nothing settled
                await send(m)
            return
        try:
            result = await self._settle(payment)
        except X402Error as exc:
            await self._settlement_failed(send, payment, exc)
            return
        start = dict(start)
        start["headers"] = [
            *start.get("headers", []),
            (PAYMENT_RESPONSE.lower().encode(), encode_header(result).encode()),
        ]
        for m in held:
            await send(start if m["type"] == "http.response.start" else m)

    async def _accept(self, raw: str, accepts: tuple[PaymentRequirements, ...]) -> Payment:
        """The verified payment of a PAYMENT-SIGNATURE header, or the refusal."""
        payload = PaymentPayload.from_json(decode_header(raw, PAYMENT_SIGNATURE))
        req = next((a for a in accepts if _same_offer(a, payload.accepted)), None)
        if req is None:
            raise PaymentRequirementsError("the payment accepts no offer of this resource")
        return await verify_payment(self.facilitator, payload, req)

    async def _settle(self, payment: Payment) -> SettleResponse:
        return await settle_payment(self.facilitator, payment)

    @staticmethod
    def payment(request: Any) -> Payment:
        """The verified payment of a request to a priced route (inside the route)."""
        return request.state.x402
