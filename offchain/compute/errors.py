"""Typed errors of the compute component (attestation, receipts, image digests).

Evidence that cannot be parsed raises :class:`EvidenceFormatError`; evidence that parses but
fails a check is not an exception: it yields a rejecting :class:`~offchain.compute.policy.Verdict`.
"""

from __future__ import annotations

from offchain.errors import AttestationError, ComputeError


class EvidenceFormatError(AttestationError):
    """Evidence bytes are malformed (truncated, wrong version, bad length, bad CBOR...)."""


class CBORError(EvidenceFormatError):
    """Non-canonical or malformed CBOR (duplicate keys, trailing bytes, non-minimal integers...)."""


class EventLogError(EvidenceFormatError):
    """A TDX / dstack event log is malformed: not a list of events, a bad field, or a dstack runtime
    event whose digest does not recompute. ``position`` is the index of the first bad event (None
    when the log as a whole is bad)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class UnknownEventVersionError(EventLogError):
    """A dstack runtime event names a digest version (``version``) this verifier does not know: its
    digest cannot be recomputed, so the event is refused rather than trusted."""


class CollateralError(AttestationError):
    """Collateral (TCB info, QE identity, CRLs, issuer chains) is malformed or unusable."""


class PolicyError(AttestationError):
    """A policy document or trust-root file is malformed."""


class CheckFailed(AttestationError):
    """One verification step failed. Inside a verifier it becomes a failed entry of the verdict
    (:meth:`~offchain.compute.policy.Verdict.run`); the chain and CRL checks of ``pki`` raise it."""


class ComputeReceiptError(ComputeError):
    """A compute receipt is malformed, or cannot be built from the given parts."""


class ImageError(ComputeError):
    """An OCI image layout or docker-archive tarball is malformed."""


class InputFileError(ComputeError):
    """A file named on the command line cannot be read."""


class OutputPathError(ComputeError):
    """An output path named on the command line cannot be written (a directory, a missing folder,
    no permission); checked before any work is done."""
