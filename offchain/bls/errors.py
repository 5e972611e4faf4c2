"""Typed errors of :mod:`offchain.bls` (all subclasses of :class:`offchain.errors.BLSError`)."""

from __future__ import annotations

from offchain.errors import BLSError


class BLSKeyError(BLSError):
    """A secret key out of range (0 or >= r), a public key off its curve or subgroup, or a malformed
    point or hex encoding."""


class BLSSignatureError(BLSError):
    """A signature or message that cannot be used: wrong length, a point off the curve, a signature
    that does not verify where one must (a bad partial signature given to the certificate builder)."""


class KeystoreError(BLSError):
    """A keystore file is malformed, truncated, or uses a function or parameter this reader refuses."""


class KeystorePasswordError(KeystoreError):
    """The password does not open the keystore (its checksum does not match)."""


class BLSCertificateError(BLSError):
    """A certificate cannot be built or read: an unknown or repeated signer, a signer that is not a
    member, no signers, a malformed certificate file."""


__all__ = [
    "BLSCertificateError",
    "BLSError",
    "BLSKeyError",
    "BLSSignatureError",
    "KeystoreError",
    "KeystorePasswordError",
]
