"""Typed errors of the compute component (attestation, receipts, images, the sandbox).

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


class ImageBuildError(ImageError):
    """A directory or the options cannot make an image (no entrypoint, a link leaving the directory,
    a special file, an interpreter that cannot be found or whose libraries are missing)."""


class ImageDigestMismatch(ImageError):
    """The image is not the one expected (the digest the registry names): refused before anything of
    it is unpacked or run. ``expected`` and ``actual`` are ``sha256:<hex>`` strings."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"image digest {actual} is not the expected {expected}")
        self.expected = expected
        self.actual = actual


class BlobDigestMismatch(ImageError):
    """A blob (manifest, config or layer) does not hash to the digest that names it, or a layer does
    not decompress to the config's ``diff_id``, or a blob's size is not the declared one."""


class UnsupportedImage(ImageError):
    """An image this executor does not run: a zstd or foreign layer, no manifest for this platform,
    no entrypoint, a config field of the wrong type."""


class LayerError(ImageError):
    """A layer tarball that is refused while unpacking (the rootfs is discarded)."""


class LayerPathTraversal(LayerError):
    """An entry's name is absolute, contains ``..`` or a NUL, or is empty."""


class LayerLinkEscape(LayerError):
    """A symbolic link whose target leaves the root, or a hard link to something outside the rootfs,
    missing, or not a regular file."""


class LayerWhiteoutError(LayerError):
    """A malformed OCI whiteout (``.wh.``, ``.wh..``, ``.wh...``), or one that hides an entry of its own
    layer."""


class LayerTooLarge(LayerError):
    """Unpacking would exceed the size or entry-count limits (a decompression bomb)."""


class SandboxError(ComputeError):
    """A task did not complete in the sandbox. ``stderr`` holds the tail of what it wrote there."""

    def __init__(self, message: str, stderr: bytes = b"") -> None:
        super().__init__(message)
        self.stderr = stderr


class SandboxUnavailable(SandboxError):
    """The sandbox cannot be set up (``bwrap`` missing or refused by the kernel, an unreachable
    rootfs): the task is never run unsandboxed."""


class SandboxFileError(SandboxError):
    """A file to bind read-only into a sandbox has a path that is not absolute and normal, is not
    under a folder, or is under a folder the sandbox mounts itself (/proc, /dev, /tmp, /input) or
    the image's own (/app, /usr, /lib...)."""


class AppError(ComputeError):
    """A sandboxed app cannot be started or driven (:mod:`offchain.compute.app`)."""


class SandboxTimeout(SandboxError):
    """The task ran past its wall-clock limit (``kind == "wall"``) or its CPU-time limit
    (``kind == "cpu"``); everything in the sandbox was killed."""

    def __init__(self, message: str, kind: str, stderr: bytes = b"") -> None:
        super().__init__(message, stderr)
        self.kind = kind


class SandboxMemoryExceeded(SandboxError):
    """The task ended abnormally after its address space reached at least half its memory limit
    (``peak`` bytes observed)."""

    def __init__(self, message: str, peak: int, stderr: bytes = b"") -> None:
        super().__init__(message, stderr)
        self.peak = peak


class SandboxCrashed(SandboxError):
    """The task exited with a non-zero status (``exit_code``) or was killed by a signal (``signal``,
    else None)."""

    def __init__(self, message: str, exit_code: int | None, signal: int | None, stderr: bytes = b"") -> None:
        super().__init__(message, stderr)
        self.exit_code = exit_code
        self.signal = signal


class OutputTooLarge(SandboxError):
    """The task wrote more than its output limit to stdout; it was killed."""


class InputFileError(ComputeError):
    """A file named on the command line cannot be read."""


class OutputPathError(ComputeError):
    """An output path named on the command line cannot be written (a directory, a missing folder,
    no permission); checked before any work is done."""


class TaskRunError(ComputeError):
    """The executor or the aggregator cannot go on with a task: no image for a digest, an
    unreadable cursor file, a share that does not verify, an operator answering twice."""


class EigenTrustError(ComputeError):
    """An EigenTrust computation cannot be done on the given input (offchain/compute/eigentrust.py)."""


class TrustGraphEncodingError(EigenTrustError):
    """A trust graph's bytes are malformed: wrong magic, truncated, trailing bytes, a count or a
    parameter out of range."""


class NonCanonicalTrustGraph(TrustGraphEncodingError):
    """A trust graph's bytes parse but are not the graph's one encoding: peers, pre-trust entries or
    edges out of order or repeated, a self-edge, a zero weight, an index past the peer list."""


class NoPreTrust(EigenTrustError):
    """No peer is pre-trusted (or every pre-trust weight is zero): EigenTrust needs a pre-trusted
    distribution to restart from and to give dangling peers' trust to."""


class ScoreProofError(EigenTrustError):
    """A score's Merkle proof is malformed or does not lead to the root."""


class TradingPolicyError(ComputeError):
    """The trading policy task cannot take or give these bytes (offchain/compute/trading_policy.py)."""


class PolicyInputError(TradingPolicyError):
    """A policy input is not encodable (a value out of its field's range) or its bytes are not a
    policy input's one encoding (wrong magic, a length that does not match, text that is not UTF-8)."""


class PolicyOutputError(TradingPolicyError):
    """A policy task's output is not an order's one encoding, or is the order of another input."""
