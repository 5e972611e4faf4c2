"""On-disk formats of the ``eigen da`` commands.

``frames.bin`` (a set of chunks of one blob, any subset, any order)::

    magic b"EDAF" | version u8 = 1 | chunk length L u32 BE | count u32 BE
    count x ( chunk index u32 BE | proof, gnark-compressed G1, 32 B | L coefficients, 32 B BE each )

``commitment.json``: ``{"commitment": gnark hex, "length": n symbols, "chunk_length": L, "srs": name,
"insecure_srs": bool, "form": "coeff" | "eval", "payload_bytes"}`` plus, when the SRS had the G2 powers
(``g2.point`` and ``g2.trailing.point``, or the test SRS), ``length_commitment`` and ``length_proof``
(gnark-compressed G2, hex): with ``commitment`` and ``length``, EigenDA's ``BlobCommitment``.
Reading is strict: wrong magic, version, sizes, duplicate or out-of-range indices, non-canonical
coefficients or invalid points are errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from offchain.crypto import bn254 as B
from offchain.da.kzg import NUM_CHUNKS
from offchain.errors import DAError

MAGIC = b"EDAF"
VERSION = 1

Array = Any


class FrameFileError(DAError):
    """Malformed frames or commitment file."""


@dataclass
class ChunkSet:
    L: int
    index: np.ndarray  # (K,) int64
    proofs: bytes  # K x 32 gnark
    coeffs: np.ndarray  # uint8 (K, L, 32)


def write_frames(path: str | Path, L: int, index: np.ndarray, proofs: bytes, coeffs: np.ndarray) -> None:
    K = int(index.size)
    head = MAGIC + bytes([VERSION]) + L.to_bytes(4, "big") + K.to_bytes(4, "big")
    rec = np.zeros((K, 4 + 32 + 32 * L), dtype=np.uint8)
    rec[:, :4] = np.asarray(index, dtype=">u4").view(np.uint8).reshape(K, 4)
    rec[:, 4:36] = np.frombuffer(proofs, dtype=np.uint8).reshape(K, 32)
    rec[:, 36:] = coeffs.reshape(K, 32 * L)
    Path(path).write_bytes(head + rec.tobytes())


def read_frames(path: str | Path) -> ChunkSet:
    p = Path(path)
    if not p.exists():
        raise FrameFileError(f"frames file not found: {p}")
    data = p.read_bytes()
    if len(data) < 13 or data[:4] != MAGIC:
        raise FrameFileError(f"{p}: not a frames file (bad magic)")
    if data[4] != VERSION:
        raise FrameFileError(f"{p}: unsupported version {data[4]}")
    L = int.from_bytes(data[5:9], "big")
    K = int.from_bytes(data[9:13], "big")
    if L == 0 or L & (L - 1) or L > 1 << 15:
        raise FrameFileError(f"{p}: chunk length {L} is not a power of two <= 2^15")
    size = 4 + 32 + 32 * L
    if len(data) != 13 + K * size:
        raise FrameFileError(f"{p}: {len(data)} bytes, expected {13 + K * size} for {K} chunks of length {L}")
    rec = np.frombuffer(data, dtype=np.uint8, offset=13).reshape(K, size)
    index = rec[:, :4].copy().view(">u4").reshape(K).astype(np.int64)
    if K and int(index.max()) >= NUM_CHUNKS:
        raise FrameFileError(f"{p}: chunk index {int(index.max())} >= {NUM_CHUNKS}")
    if np.unique(index).size != K:
        raise FrameFileError(f"{p}: duplicate chunk indices")
    return ChunkSet(L, index, rec[:, 4:36].tobytes(), rec[:, 36:].reshape(K, L, 32).copy())


def read_length_points(info: dict[str, Any], path: str | Path, xp: ModuleType = np) -> tuple[Array, Array]:
    """The length commitment and length proof of a commitment file (gnark-compressed G2 hex, each
    checked on the twist and in the subgroup) as G2 batches of one point."""
    try:
        lc = bytes.fromhex(info["length_commitment"])
        lp = bytes.fromhex(info["length_proof"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FrameFileError(f"{path}: malformed length commitment/proof ({exc!r})") from exc
    if len(lc) != 64 or len(lp) != 64:
        raise FrameFileError(f"{path}: length commitment and proof must be 64 bytes each (gnark-compressed G2)")
    try:
        return B.g2_decompress(lc, xp), B.g2_decompress(lp, xp)
    except B.PointError as exc:
        raise FrameFileError(f"{path}: length commitment/proof: {exc}") from exc


def write_commitment(path: str | Path, info: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_commitment(path: str | Path, xp: ModuleType = np) -> tuple[dict[str, Any], Array]:
    p = Path(path)
    if not p.exists():
        raise FrameFileError(f"commitment file not found: {p}")
    try:
        info = json.loads(p.read_text())
        com = bytes.fromhex(info["commitment"])
        n = int(info["length"])
        L = int(info["chunk_length"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FrameFileError(f"{p}: malformed commitment file ({exc})") from exc
    if len(com) != 32:
        raise FrameFileError(f"{p}: commitment must be 32 bytes (gnark-compressed G1)")
    if n <= 0 or n & (n - 1) or L <= 0:
        raise FrameFileError(f"{p}: bad length {n} or chunk length {L}")
    try:
        C = B.g1_decompress(com, xp)
    except B.PointError as exc:
        raise FrameFileError(f"{p}: {exc}") from exc
    return info, C
