"""Typed errors of the agent component (all subclasses of ``AgentError``).

An x402 refusal carries the protocol's reason code (``code``), the string a facilitator answers in
``invalidReason`` / ``errorReason`` (x402 v2 §9 where it names one)."""

from offchain.errors import AgentError


class X402Error(AgentError):
    """An x402 payment or message was refused; ``code`` is its x402 reason string."""

    code = "unexpected_verify_error"

    def __init__(self, message: str, payer: str | None = None) -> None:
        super().__init__(message)
        self.payer = payer


class PaymentVersionError(X402Error):
    """The message's x402Version is not 2."""

    code = "invalid_x402_version"


class PaymentPayloadError(X402Error):
    """A PaymentPayload, PaymentRequired or header is malformed (bad base64, JSON, field, type)."""

    code = "invalid_payload"


class PaymentRequirementsError(X402Error):
    """The payment requirements are malformed, or the payload's `accepted` differs from them."""

    code = "invalid_payment_requirements"


class PaymentSchemeError(X402Error):
    """The scheme is not one this facilitator settles (exact, upto)."""

    code = "unsupported_scheme"


class PaymentNetworkError(X402Error):
    """The payment names another network (CAIP-2 chain id) than the facilitator's chain."""

    code = "invalid_network"


class PaymentAssetError(X402Error):
    """The payment is in another token than the one required (or the facilitator settles)."""

    code = "invalid_exact_evm_payload_asset_mismatch"


class PaymentPayeeError(X402Error):
    """The authorization pays someone else than the requirements' payTo (or, upto, the settler)."""

    code = "invalid_exact_evm_payload_recipient_mismatch"


class PaymentAmountError(X402Error):
    """The authorized value is not the amount required (exact), or the charge exceeds it (upto)."""

    code = "invalid_exact_evm_payload_authorization_value"


class PaymentNotYetValidError(X402Error):
    """The authorization's validAfter has not passed yet."""

    code = "invalid_exact_evm_payload_authorization_valid_after"


class PaymentExpiredError(X402Error):
    """The authorization's validBefore has passed (or is too close to settle in time)."""

    code = "invalid_exact_evm_payload_authorization_valid_before"


class PaymentReplayedError(X402Error):
    """The authorization's nonce is already used or canceled on-chain, or being settled now."""

    code = "invalid_exact_evm_payload_authorization_nonce_used"


class PaymentSignatureError(X402Error):
    """The signature is not the payer's over this authorization (tampered, another key, another
    domain or type)."""

    code = "invalid_exact_evm_payload_signature"


class PaymentUnderfundedError(X402Error):
    """The payer's balance does not cover the authorized value."""

    code = "insufficient_funds"


class SettlementError(X402Error):
    """The settlement transaction failed or reverted on-chain."""

    code = "invalid_transaction_state"


class FacilitatorError(X402Error):
    """The facilitator did not answer, or answered something that is no x402 response."""

    code = "unexpected_settle_error"


class BudgetExceededError(AgentError):
    """Paying would take a client over its budget (total or per request)."""


class NoAcceptablePaymentError(AgentError):
    """None of a 402's payment options is one this client can or may pay (scheme, network, asset,
    payee, amount)."""


class PaymentRefusedError(AgentError):
    """The resource server refused the client's payment (a second 402); ``reason`` is its x402
    reason code."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class MandateError(AgentError):
    """An AP2 mandate is malformed, or a payment falls outside it."""


class MandateSignatureError(MandateError):
    """A mandate is not signed by the party it must be signed by."""


class MandateExpiredError(MandateError):
    """The intent or the cart has expired."""


class MandateMismatchError(MandateError):
    """The payment mandate does not pay this intent's and this cart's terms (hashes, token,
    network, payee, amount)."""


class MandateLimitError(MandateError):
    """The payment breaks one of the intent's limits: payee not allowed, amount out of range,
    budget exceeded."""


class TradingError(AgentError):
    """The verifiable trading agent (offchain/agent/trading.py) refused an input."""


class FeedError(TradingError):
    """A market-data feed is malformed, for another market, or not signed by the data agent."""


class RecordError(TradingError):
    """A step record is malformed or its parts do not fit together (strategy, feed, prompt,
    receipt, order)."""


class RecordUnavailableError(TradingError):
    """A step record could not be fetched from DA by its certificate, or the certificate or the
    payload it names did not verify."""


class TradeError(TradingError):
    """A trade could not be made (the AMM or the token refused it)."""


# Reason code -> error class, to turn a facilitator's answer back into the typed error.
BY_CODE: dict[str, type[X402Error]] = {
    cls.code: cls
    for cls in (
        PaymentVersionError,
        PaymentPayloadError,
        PaymentRequirementsError,
        PaymentSchemeError,
        PaymentNetworkError,
        PaymentAssetError,
        PaymentPayeeError,
        PaymentAmountError,
        PaymentNotYetValidError,
        PaymentExpiredError,
        PaymentReplayedError,
        PaymentSignatureError,
        PaymentUnderfundedError,
        SettlementError,
        FacilitatorError,
    )
}

__all__ = [
    "BY_CODE",
    "AgentError",
    "BudgetExceededError",
    "FacilitatorError",
    "FeedError",
    "MandateError",
    "MandateExpiredError",
    "MandateLimitError",
    "MandateMismatchError",
    "MandateSignatureError",
    "NoAcceptablePaymentError",
    "PaymentAmountError",
    "PaymentAssetError",
    "PaymentExpiredError",
    "PaymentNetworkError",
    "PaymentNotYetValidError",
    "PaymentPayeeError",
    "PaymentPayloadError",
    "PaymentRefusedError",
    "PaymentReplayedError",
    "PaymentRequirementsError",
    "PaymentSchemeError",
    "PaymentSignatureError",
    "PaymentUnderfundedError",
    "PaymentVersionError",
    "RecordError",
    "RecordUnavailableError",
    "SettlementError",
    "TradeError",
    "TradingError",
    "X402Error",
]
