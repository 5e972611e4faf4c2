"""The x402 facilitator as an HTTP service (Starlette on uvicorn, through offchain.httpservice),
and the two ways a resource server reaches a facilitator: over HTTP or in-process.

Routes, as x402 v2 §7 specifies them:

* ``POST /verify``  ``{x402Version?, paymentPayload, paymentRequirements}`` ->
  ``{isValid, invalidReason?, invalidMessage?, payer?}``
* ``POST /settle``  same request -> ``{success, errorReason?, errorMessage?, payer?, transaction,
  network, amount}``
  (upto: ``paymentRequirements.amount`` is the charge, at most the authorized maximum)
* ``GET /supported`` -> ``{kinds: [{x402Version, scheme, network, extra?}], extensions, signers}``

A refused payment is answered 200 with ``isValid``/``success`` false and the x402 reason code; a
body that is not JSON is 400, one too large 413 (httpservice's errors).
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from offchain.agent.errors import (
    BY_CODE,
    FacilitatorError,
    PaymentPayloadError,
    PaymentVersionError,
    X402Error,
)
from offchain.agent.evm import EvmFacilitator
from offchain.agent.x402 import (
    X402_VERSION,
    PaymentPayload,
    PaymentRequirements,
    SettleResponse,
    VerifyResponse,
)
from offchain.httpservice import HTTPError, logger, read_json

MAX_BODY = 64 * 1024
LOG = logger("agent.facilitator")


def parse_request(body: Any) -> tuple[PaymentPayload, PaymentRequirements]:
    """The (payload, requirements) of a /verify or /settle request body."""
    if not isinstance(body, dict):
        raise PaymentPayloadError("the request body must be a JSON object")
    if "x402Version" in body and body["x402Version"] != X402_VERSION:
        raise PaymentVersionError(f"x402Version must be {X402_VERSION}: got {body['x402Version']!r}")
    return PaymentPayload.from_json(body.get("paymentPayload")), PaymentRequirements.from_json(
        body.get("paymentRequirements")
    )


def request_body(payload: PaymentPayload, req: PaymentRequirements) -> dict[str, Any]:
    return {
        "x402Version": X402_VERSION,
        "paymentPayload": payload.to_json(),
        "paymentRequirements": req.to_json(),
    }


def _payer(body: Any) -> str | None:
    try:
        return str(body["paymentPayload"]["payload"]["authorization"]["from"])
    except (KeyError, TypeError):
        return None


def create_app(facilitator: EvmFacilitator) -> Starlette:
    """The facilitator's Starlette app (serve it with httpservice.ServiceServer)."""

    async def handle(request: Request, route: str) -> JSONResponse:
        try:
            body = await read_json(request, MAX_BODY)
        except HTTPError as exc:
            return exc.response()
        try:
            payload, req = parse_request(body)
            if route == "verify":
                payer = await anyio.to_thread.run_sync(facilitator.verify, payload, req)
                return JSONResponse(VerifyResponse(True, None, payer).to_json())
            out = await anyio.to_thread.run_sync(facilitator.settle, payload, req)
            return JSONResponse(out.to_json())
        except X402Error as exc:
            LOG.info("x402_refused", extra={"route": route, "code": exc.code, "reason": str(exc)})
            payer = exc.payer or _payer(body)
            if route == "verify":
                return JSONResponse(not_verified(exc, payer).to_json())
            return JSONResponse(not_settled(exc, facilitator.network, payer).to_json())

    async def verify(request: Request) -> JSONResponse:
        return await handle(request, "verify")

    async def settle(request: Request) -> JSONResponse:
        return await handle(request, "settle")

    async def supported(request: Request) -> JSONResponse:
        return JSONResponse(facilitator.supported())

    return Starlette(
        routes=[
            Route("/verify", verify, methods=["POST"]),
            Route("/settle", settle, methods=["POST"]),
            Route("/supported", supported, methods=["GET"]),
        ]
    )


def not_verified(exc: X402Error, payer: str | None) -> VerifyResponse:
    """The negative /verify verdict of `exc`: its reason code, its message as the official SDKs'
    ``invalidMessage``."""
    return VerifyResponse(False, exc.code, payer, str(exc))


def not_settled(exc: X402Error, network: str, payer: str | None) -> SettleResponse:
    """The failed /settle answer of `exc`: its reason code, its message as ``errorMessage``."""
    return SettleResponse(False, "", network, payer, exc.code, error_message=str(exc))


class LocalFacilitator:
    """A resource server's handle on a facilitator in the same process (no HTTP hop)."""

    def __init__(self, facilitator: EvmFacilitator) -> None:
        self.facilitator = facilitator

    async def verify(self, payload: PaymentPayload, req: PaymentRequirements) -> VerifyResponse:
        try:
            payer = await anyio.to_thread.run_sync(self.facilitator.verify, payload, req)
            return VerifyResponse(True, None, payer)
        except X402Error as exc:
            return not_verified(exc, exc.payer)

    async def settle(self, payload: PaymentPayload, req: PaymentRequirements) -> SettleResponse:
        try:
            return await anyio.to_thread.run_sync(self.facilitator.settle, payload, req)
        except X402Error as exc:
            return not_settled(exc, self.facilitator.network, exc.payer)


class HTTPFacilitator:
    """A resource server's handle on a facilitator at `url` (x402's HTTP API); a facilitator that
    does not answer, or answers no x402 response, is FacilitatorError."""

    def __init__(self, url: str, timeout_s: float = 30.0, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = client

    async def _post(self, path: str, body: dict[str, Any], verdict: str) -> Any:
        """The JSON answer to `path`; a facilitator may answer a refusal with an HTTP error whose
        body is still the negative verdict (`verdict`, its isValid / success field, false), which
        the official clients read as the refusal: so does this one."""
        try:
            if self._client is not None:
                r = await self._client.post(self.url + path, json=body, timeout=self.timeout_s)
            else:
                async with httpx.AsyncClient() as c:
                    r = await c.post(self.url + path, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise FacilitatorError(f"the facilitator at {self.url} did not answer: {exc}") from None
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code != 200 and not (isinstance(data, dict) and data.get(verdict) is False):
            raise FacilitatorError(f"the facilitator answered {path} with HTTP {r.status_code}")
        if data is None:
            raise FacilitatorError(f"the facilitator's {path} answer is not JSON")
        return data

    def supported_sync(self) -> Any:
        """GET /supported, from synchronous code (a resource server building its offers at start)."""
        try:
            r = httpx.get(self.url + "/supported", timeout=self.timeout_s)
            data = r.json()
        except httpx.HTTPError as exc:
            raise FacilitatorError(f"the facilitator at {self.url} did not answer: {exc}") from None
        except ValueError:
            raise FacilitatorError("the facilitator's /supported answer is not JSON") from None
        if r.status_code != 200:
            raise FacilitatorError(f"the facilitator answered /supported with HTTP {r.status_code}")
        return data

    async def verify(self, payload: PaymentPayload, req: PaymentRequirements) -> VerifyResponse:
        try:
            return VerifyResponse.from_json(
                await self._post("/verify", request_body(payload, req), "isValid")
            )
        except PaymentPayloadError as exc:
            raise FacilitatorError(f"the facilitator's /verify answer is malformed: {exc}") from None

    async def settle(self, payload: PaymentPayload, req: PaymentRequirements) -> SettleResponse:
        try:
            return SettleResponse.from_json(
                await self._post("/settle", request_body(payload, req), "success")
            )
        except PaymentPayloadError as exc:
            raise FacilitatorError(f"the facilitator's /settle answer is malformed: {exc}") from None


def error_of(reason: str | None, message: str, payer: str | None = None) -> X402Error:
    """The typed error of an x402 reason code (FacilitatorError for a code it does not name)."""
    return BY_CODE.get(reason or "", FacilitatorError)(message, payer)
