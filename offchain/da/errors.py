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


class NodeRequestError(DAError):
    """A validator refuses a request (bad signature, stale reference block, invalid chunks, unknown blob)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NetworkConfigError(DAError):
    """A DA network process's configuration file is missing, unreadable or has a bad key or value."""


class DisperserRequestError(DAError):
    """The disperser refuses a request (bad signature, wrong commitment, oversized blob, unknown blob)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DispersalError(DAError):
    """``eigen da put/get``: the disperser refused or failed the blob, or a certificate is malformed."""


class MetadataStoreError(DAError):
    """The disperser's metadata database cannot be opened or its URL names an unsupported engine."""


class RelayRequestError(DAError):
    """The relay refuses a request (bad or unknown requester signature, unknown blob, malformed ranges)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
