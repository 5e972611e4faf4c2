"""Blob commitments inside real EigenDA certificates (RLP, altDA prefix) and their length pairings.

Layout: 3-byte prefix (0x01 altDA commitment, 0x00 EigenDA layer, cert version 0x01 = V2 / 0x02 = V3)
then the RLP of the certificate. The blob header sits at ``[0][0][0]`` (V2: blobInclusionInfo first) or
``[1][0][0]`` (V3: batchHeader first); its commitment is ``[C(x, y), LC(X, Y), LP(X, Y), length]`` with
G1/G2 points in EVM order (G2 coordinates as ``[A1, A0]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import rlp

from offchain.backend import backend_of
from offchain.crypto import bn254
from offchain.da.errors import CertError

Array = Any


@dataclass
class BlobCommitment:
    commitment: Array  # G1 batch of one
    length_commitment: Array  # G2 batch of one
    length_proof: Array  # G2 batch of one
    length: int


def _word(b: Any, what: str) -> bytes:
    if not isinstance(b, bytes) or len(b) > 32:
        raise CertError(f"{what}: expected an integer of at most 32 bytes")
    return b.rjust(32, b"\x00")


def _g2(obj: Any, what: str) -> bytes:
    try:
        (xa, xb), (ya, yb) = obj
    except (TypeError, ValueError) as exc:
        raise CertError(f"{what}: expected [[X1, X0], [Y1, Y0]]") from exc
    return b"".join(_word(v, what) for v in (xa, xb, ya, yb))


def parse_cert(data: bytes | str, xp: ModuleType = np) -> tuple[int, BlobCommitment]:
    """Certificate bytes (or 0x-hex text) -> (cert version byte, blob commitment with checked points)."""
    if isinstance(data, str):
        text = data.strip()
        text = text[2:] if text.startswith(("0x", "0X")) else text
        try:
            data = bytes.fromhex(text)
        except ValueError as exc:
            raise CertError("certificate text is not hex") from exc
    if len(data) < 4 or data[0] != 0x01 or data[1] != 0x00:
        raise CertError("not an altDA EigenDA commitment (prefix 0x01 0x00 expected)")
    version = data[2]
    try:
        body = rlp.decode(data[3:])
    except Exception as exc:  # rlp raises several unrelated types
        raise CertError(f"RLP decoding failed: {exc}") from exc
    try:
        if version == 0x01:
            header = body[0][0][0]
        elif version == 0x02:
            header = body[1][0][0]
        else:
            raise CertError(f"unknown certificate version byte {version:#04x}")
        com = header[2]
        c_x, c_y = com[0]
        length = int.from_bytes(com[3], "big")
    except (IndexError, TypeError, ValueError) as exc:
        raise CertError("unexpected certificate structure") from exc
    try:
        C = bn254.g1_from_evm(_word(c_x, "C.x") + _word(c_y, "C.y"), xp)
        LC = bn254.g2_from_evm(_g2(com[1], "lengthCommitment"), xp)
        LP = bn254.g2_from_evm(_g2(com[2], "lengthProof"), xp)
    except bn254.PointError as exc:
        raise CertError(f"invalid point in certificate: {exc}") from exc
    return version, BlobCommitment(C, LC, LP, length)


def commitment_matches_length_commitment(bc: BlobCommitment) -> bool:
    """e(C, [1]_2) == e([1]_1, LC): C and LC commit to the same polynomial."""
    c = bn254.bn254(backend_of(bc.commitment))
    return bn254.pairing_check(
        [
            (bc.commitment[..., 0], c.g2.generator[..., 0]),
            (c.g1.neg(c.g1.generator)[..., 0], bc.length_commitment[..., 0]),
        ]
    )


def length_proof_holds(bc: BlobCommitment, tau_rev_g1: Array) -> bool:
    """e([tau^(2^28 - length)]_1, LC) == e([1]_1, LP), given the G1 point [tau^(2^28 - length)]_1."""
    c = bn254.bn254(backend_of(bc.commitment))
    return bn254.pairing_check(
        [
            (tau_rev_g1, bc.length_commitment[..., 0]),
            (c.g1.neg(c.g1.generator)[..., 0], bc.length_proof[..., 0]),
        ]
    )
