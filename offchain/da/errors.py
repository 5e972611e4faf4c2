"""Every error of the DA component, each a :class:`offchain.errors.DAError`.

A failed *check* (a chunk or cell whose proof does not verify) is a False verdict, not an error; these
are raised for input that cannot be processed at all.
"""

from __future__ import annotations

from offchain.errors import DAError

# ----- shared: payload codec, SRS, files, certificates ---------------------------------------


class PayloadError(DAError):
    """Malformed payload or encoded blob."""


class SRSError(DAError):
    """SRS file missing, malformed, wrong digest, or too small for the request."""


class FrameFileError(DAError):
    """Malformed frames or commitment file."""


class CertError(DAError):
    """Malformed certificate (prefix, RLP structure, field sizes) or an invalid point inside it."""


# ----- EigenDA -------------------------------------------------------------------------------


class EncodingError(DAError):
    """Blob or parameters cannot be encoded (size, non-canonical symbols, SRS too small)."""


class VerificationError(DAError):
    """Malformed chunk or proof given to a verifier (a *failed* check returns False instead)."""


class RecoveryError(DAError):
    """Not enough valid distinct chunks, or the chunks are inconsistent."""


class TableCacheError(DAError):
    """A cached FK20 table file is corrupt or does not belong to this SRS and blob size."""


class DAInputError(DAError):
    """Bad command-line input for ``eigen da``."""


# ----- PeerDAS (EIP-7594) --------------------------------------------------------------------


class PeerDASError(DAError):
    """Malformed blob, cell, commitment or proof in PeerDAS mode."""


class PeerDASInputError(PeerDASError):
    """Bad command-line input for ``eigen da peerdas``."""


class CellFileError(PeerDASError):
    """Malformed cells file or commitment file."""


# ----- the V2 network (offchain/da/network) ---------------------------------------------------


class NetworkMessageError(DAError):
    """A V2 network message or field (blob header, payment header, batch, certificate, JSON) is malformed."""


class AssignmentError(DAError):
    """Chunk assignment impossible: no operators or zero stake in a quorum, too many operators, bad parameters."""


# The gRPC status a refusal's HTTP status stands for (EigenDA's: an oversized blob is INVALID_ARGUMENT, a
# disperser without payments answers GetPaymentState UNIMPLEMENTED); a refusal may name its own instead.
HTTP_GRPC_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


class RequestRefusedError(DAError):
    """A network process refuses a request: ``status`` is the HTTP status of the refusal, ``grpc_code`` the
    gRPC status name the gRPC service answers with (and the HTTP error's ``code``)."""

    grpc_code = "UNKNOWN"

    def __init__(self, status: int, message: str, grpc_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.grpc_code = grpc_code or HTTP_GRPC_CODE.get(status, "UNKNOWN")


class NodeRequestError(RequestRefusedError):
    """A validator refuses a request (bad signature, stale reference block, invalid chunks, unknown blob)."""


class NetworkConfigError(DAError):
    """A DA network process's configuration file is missing, unreadable or has a bad key or value."""


class DisperserRequestError(RequestRefusedError):
    """The disperser refuses a request (bad signature, wrong commitment, oversized blob, unknown blob)."""


# gRPC status names as EigenDA's servers return them, and the HTTP status each maps to (grpc-gateway's table)
GRPC_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
}


class PaymentError(DisperserRequestError):
    """A payment refused by the disperser's meter; ``grpc_code`` is the gRPC status EigenDA returns for it
    (each subclass's own), the HTTP status the one it maps to."""

    grpc_code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(GRPC_HTTP_STATUS[self.grpc_code], message, self.grpc_code)


class ReservationExhaustedError(PaymentError):
    """The reservation's leaky bucket has no room for the blob (PERMISSION_DENIED, "insufficient bandwidth")."""

    grpc_code = "PERMISSION_DENIED"


class ReservationMissingError(PaymentError):
    """A reservation payment from an account without a reservation (PERMISSION_DENIED)."""

    grpc_code = "PERMISSION_DENIED"


class ReservationTermsError(PaymentError):
    """A quorum the reservation does not cover, or a dispersal time outside it (INVALID_ARGUMENT)."""

    grpc_code = "INVALID_ARGUMENT"


class OnDemandFundsError(PaymentError):
    """An on-demand cumulative payment above the account's deposit, or below what the blob costs
    (PERMISSION_DENIED, EigenDA's InsufficientFundsError)."""

    grpc_code = "PERMISSION_DENIED"


class PaymentReplayError(PaymentError):
    """A cumulative payment not above the last one accepted for the account, or a payment-state request
    seen before (PERMISSION_DENIED)."""

    grpc_code = "PERMISSION_DENIED"


class PaymentTimeError(PaymentError):
    """A payment header's timestamp too far in the past or the future of the disperser's clock
    (INVALID_ARGUMENT, EigenDA's MaxDispersalAge / MaxFutureDispersalTime)."""

    grpc_code = "INVALID_ARGUMENT"


class GlobalRateError(PaymentError):
    """The network's on-demand throughput (globalSymbolsPerPeriod) is used up (RESOURCE_EXHAUSTED)."""

    grpc_code = "RESOURCE_EXHAUSTED"


class PaymentVaultError(PaymentError):
    """The payment vault cannot be read (UNAVAILABLE): no state to meter against."""

    grpc_code = "UNAVAILABLE"


class PaymentClaimError(DAError):
    """A consumed on-demand payment the disperser's claim keeper could not claim in the PaymentVault
    (``claimOnDemandPayment``); nothing is marked claimed, so the claim stays due and is tried again."""


class ClaimProofError(PaymentClaimError):
    """The stored blob header and signature do not prove the account's consent to the total (another
    signer, another total or another blob than the one recorded): refused before any transaction."""


class ClaimRevertedError(PaymentClaimError):
    """The PaymentVault refused the claim (its revert reason), when simulated or on chain."""


class ClaimChainError(PaymentClaimError):
    """The chain did not answer, or a claim's transaction got no receipt in time."""


class DispersalError(DAError):
    """``eigen da put/get``: the disperser refused or failed the blob, or a certificate is malformed;
    ``status``: the disperser's HTTP status when it refused over HTTP; ``code``: the gRPC status name of the
    refusal (over gRPC, or the HTTP error's ``code``)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GrpcCallError(DAError):
    """A gRPC call to a DA network process was refused or failed: ``code`` is the gRPC status name
    (``INVALID_ARGUMENT``, ``UNAVAILABLE`` when nothing answers...), ``message`` the server's details."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MetadataStoreError(DAError):
    """The disperser's metadata database cannot be opened or its URL names an unsupported engine."""


class SigningRateStoreError(DAError):
    """The disperser's signing-rate database (``GetValidatorSigningRate``'s record) cannot be opened or read: a
    corrupt or truncated file, an unsupported URL, or a record kept with another bucket span; names the file."""


class RelayRequestError(RequestRefusedError):
    """The relay refuses a request (bad or unknown requester signature, unknown blob, malformed ranges)."""


class RelayRateLimitError(RelayRequestError):
    """The relay's rate limit for this requester (an operator's GetChunks bytes, a client address's GetBlob
    bytes) is spent: HTTP 429, gRPC RESOURCE_EXHAUSTED; ``retry_after_s``: when the next request fits."""

    grpc_code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(429, message)
        self.retry_after_s = retry_after_s


class DevnetProcessError(DAError):
    """``eigen da devnet``: a process did not start or listen, a bad argument, or an unreadable state file."""


class OperatorStateError(DAError):
    """The operators' state at a reference block cannot be read or is inconsistent (the chain unreachable, a
    reference block in the future, a registry whose members' stakes or keys do not add up to its totals)."""


class CertificateRejectedError(DispersalError):
    """The deployed EigenDACertVerifier's ``checkDACert`` did not return SUCCESS for a certificate; ``status`` is
    its status code, ``status_name`` what it means."""

    def __init__(self, status: int, status_name: str) -> None:
        super().__init__(
            f"checkDACert: status {status} ({status_name}): certificate not accepted", status=status
        )
        self.status_name = status_name
