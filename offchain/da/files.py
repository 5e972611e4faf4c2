"""On-disk formats of the ``eigen da`` commands: EigenDA frames, bundles and commitments, PeerDAS cells.

EigenDA: ``frames.bin`` (a set of chunks of one blob, any subset, any order)::

    magic b"EDAF" | version u8 = 1 | chunk length L u32 BE | count u32 BE
    count x ( chunk index u32 BE | proof, gnark-compressed G1, 32 B | L coefficients, 32 B BE each )

``commitment.json``: ``{"commitment": gnark hex, "length": n symbols, "chunk_length": L, "srs": name,
"insecure_srs": bool, "form": "coeff" | "eval", "payload_bytes"}`` plus, when the SRS had the G2 powers
(``g2.point`` and ``g2.trailing.point``, or the test SRS), ``length_commitment`` and ``length_proof``
(gnark-compressed G2, hex): with ``commitment`` and ``length``, EigenDA's ``BlobCommitment``.
EigenDA's validator bundle (what a node stores per blob: its assigned chunks, no indices) is written by
:func:`bundle_bytes` and read by :func:`parse_bundle` / :func:`read_bundle`.

PeerDAS (``eigen da peerdas``)::

    cells.bin: magic b"EPDC" | version u8 = 1 | count u32 BE (1..128)
               count x ( cell index u32 BE | KZG proof, ZCash-compressed G1, 48 B
                         | cell, 64 field elements of 32 B big-endian = 2,048 B )

    commitment.json: {"scheme": "peerdas-eip7594", "commitment": 48-byte hex, "cells": 128,
                      "setup": name, "setup_sha256": hex, "packing": "blob" | "payload",
                      "payload_bytes": n (packing "payload" only)}

Reading is strict: wrong magic, version, sizes, counts (a frames file holds 1 to 8,192 chunks), duplicate or out-of-range indices, non-canonical
coefficients or invalid points are errors (a cells record whose proof or cell does not decode is
reported as a bad cell by ``verify``/``recover``, not here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from offchain.crypto import bls12_381, bn254
from offchain.da.eigenda.params import NUM_CHUNKS
from offchain.da.errors import CellFileError, FrameFileError, PeerDASError
from offchain.da.peerdas.cells import BYTES_PER_CELL, CELLS_PER_EXT_BLOB, MAX_PAYLOAD

MAGIC = b"EDAF"
VERSION = 1

CELLS_MAGIC = b"EPDC"
CELLS_VERSION = 1
CELLS_HEADER_BYTES = 9
CELL_PROOF_BYTES = 48
CELL_RECORD_BYTES = 4 + CELL_PROOF_BYTES + BYTES_PER_CELL
CELLS_SCHEME = "peerdas-eip7594"

Array = Any


@dataclass
class ChunkSet:
    L: int
    index: np.ndarray  # (K,) int64
    proofs: bytes  # K x 32 gnark
    coeffs: np.ndarray  # uint8 (K, L, 32)


def write_frames(path: str | Path, L: int, index: np.ndarray, proofs: bytes, coeffs: np.ndarray) -> None:
    K = int(index.size)
    if not 0 < K <= NUM_CHUNKS:
        raise FrameFileError(f"a frames file holds 1 to {NUM_CHUNKS} chunks, not {K}")
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
    if not 0 < K <= NUM_CHUNKS:
        raise FrameFileError(f"{p}: chunk count {K} not in [1, {NUM_CHUNKS}]")
    size = 4 + 32 + 32 * L
    if len(data) != 13 + K * size:
        raise FrameFileError(f"{p}: {len(data)} bytes, expected {13 + K * size} for {K} chunks of length {L}")
    rec = np.frombuffer(data, dtype=np.uint8, offset=13).reshape(K, size)
    index = rec[:, :4].copy().view(">u4").reshape(K).astype(np.int64)
    if int(index.max()) >= NUM_CHUNKS:
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
        raise FrameFileError(
            f"{path}: length commitment and proof must be 64 bytes each (gnark-compressed G2)"
        )
    try:
        return bn254.g2_decompress(lc, xp), bn254.g2_decompress(lp, xp)
    except bn254.PointError as exc:
        raise FrameFileError(f"{path}: length commitment/proof: {exc}") from exc


# EigenDA's validator bundle (core/data.go: Bundle.Serialize): an 8-byte little-endian header whose top byte
# is the encoding format (1 = gnark) and whose low 56 bits are the chunk length L, then each chunk as its
# gnark-compressed proof (32 B) and L big-endian coefficients (32 B each). No chunk indices: a validator
# knows which chunks it was assigned.
BUNDLE_FORMAT_GNARK = 1


def bundle_bytes(L: int, proofs: bytes, coeffs: np.ndarray) -> bytes:
    """EigenDA bundle of K chunks: ``proofs`` K x 32 gnark bytes, ``coeffs`` uint8 (K, L, 32)."""
    K = coeffs.shape[0]
    if K == 0 or L <= 0 or coeffs.shape[1:] != (L, 32) or len(proofs) != 32 * K:
        raise FrameFileError(f"a bundle needs at least one chunk of L = {L} coefficients with one proof each")
    head = ((BUNDLE_FORMAT_GNARK << 56) | L).to_bytes(8, "little")
    rec = np.concatenate([np.frombuffer(proofs, np.uint8).reshape(K, 32), coeffs.reshape(K, 32 * L)], axis=1)
    return head + rec.tobytes()


def parse_bundle(data: bytes, what: str = "bundle") -> tuple[int, bytes, np.ndarray]:
    """An EigenDA bundle -> (L, proofs K x 32 bytes, coefficients uint8 (K, L, 32)); strict: the format byte,
    a power-of-two L <= 2^15 and a whole number of chunks. Points and coefficients are checked by the caller."""
    if len(data) < 8:
        raise FrameFileError(f"{what}: {len(data)} bytes, shorter than the 8-byte bundle header")
    head = int.from_bytes(data[:8], "little")
    fmt, L = head >> 56, head & ((1 << 56) - 1)
    if fmt != BUNDLE_FORMAT_GNARK:
        raise FrameFileError(
            f"{what}: bundle encoding format {fmt}, only {BUNDLE_FORMAT_GNARK} (gnark) is supported"
        )
    if L == 0 or L & (L - 1) or L > 1 << 15:
        raise FrameFileError(f"{what}: chunk length {L} is not a power of two <= 2^15")
    size = 32 + 32 * L
    body = len(data) - 8
    if body == 0 or body % size:
        raise FrameFileError(f"{what}: {body} bytes of chunks is not a positive multiple of {size} (L = {L})")
    rec = np.frombuffer(data, dtype=np.uint8, offset=8).reshape(-1, size)
    return L, rec[:, :32].tobytes(), rec[:, 32:].reshape(-1, L, 32).copy()


def read_bundle(path: str | Path, index: np.ndarray) -> ChunkSet:
    """A bundle file whose records are the chunks ``index`` (in order) as a ChunkSet."""
    p = Path(path)
    if not p.is_file():
        raise FrameFileError(f"bundle file not found: {p}")
    L, proofs, coeffs = parse_bundle(p.read_bytes(), str(p))
    if index.size != coeffs.shape[0]:
        raise FrameFileError(f"{p}: {coeffs.shape[0]} chunks in the bundle, {index.size} chunk indices given")
    if np.unique(index).size != index.size:
        raise FrameFileError(f"{p}: duplicate chunk indices")
    return ChunkSet(L, np.asarray(index, dtype=np.int64), proofs, coeffs)


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
        C = bn254.g1_decompress(com, xp)
    except bn254.PointError as exc:
        raise FrameFileError(f"{p}: {exc}") from exc
    return info, C


# ----- PeerDAS (EIP-7594): cells.bin and its commitment.json -------------------------------
@dataclass
class CellSet:
    index: np.ndarray  # (K,) int64, distinct, < 128
    proofs: list[bytes]  # K x 48 B
    cells: list[bytes]  # K x 2048 B


def write_cells(path: str | Path, index: np.ndarray, proofs: list[bytes], cells: list[bytes]) -> None:
    K = int(index.size)
    if not (len(proofs) == len(cells) == K) or not 0 < K <= CELLS_PER_EXT_BLOB:
        raise PeerDASError(f"{K} indices, {len(proofs)} proofs, {len(cells)} cells")
    rec = np.zeros((K, CELL_RECORD_BYTES), dtype=np.uint8)
    rec[:, :4] = np.asarray(index, dtype=">u4").view(np.uint8).reshape(K, 4)
    rec[:, 4 : 4 + CELL_PROOF_BYTES] = np.frombuffer(b"".join(proofs), dtype=np.uint8).reshape(
        K, CELL_PROOF_BYTES
    )
    rec[:, 4 + CELL_PROOF_BYTES :] = np.frombuffer(b"".join(cells), dtype=np.uint8).reshape(K, BYTES_PER_CELL)
    Path(path).write_bytes(CELLS_MAGIC + bytes([CELLS_VERSION]) + K.to_bytes(4, "big") + rec.tobytes())


def read_cells(path: str | Path) -> CellSet:
    p = Path(path)
    if not p.is_file():
        raise CellFileError(f"cells file not found: {p}")
    data = p.read_bytes()
    if len(data) < CELLS_HEADER_BYTES:
        raise CellFileError(
            f"{p}: {len(data)} bytes, shorter than the {CELLS_HEADER_BYTES}-byte header (truncated)"
        )
    if data[:4] != CELLS_MAGIC:
        raise CellFileError(f"{p}: not a PeerDAS cells file (bad magic)")
    if data[4] != CELLS_VERSION:
        raise CellFileError(f"{p}: unsupported cells file version {data[4]}")
    K = int.from_bytes(data[5:9], "big")
    if not 0 < K <= CELLS_PER_EXT_BLOB:
        raise CellFileError(f"{p}: cell count {K} not in [1, {CELLS_PER_EXT_BLOB}]")
    if len(data) != CELLS_HEADER_BYTES + K * CELL_RECORD_BYTES:
        raise CellFileError(
            f"{p}: {len(data)} bytes, expected {CELLS_HEADER_BYTES + K * CELL_RECORD_BYTES} for {K} cells (truncated or padded)"
        )
    rec = np.frombuffer(data, dtype=np.uint8, offset=CELLS_HEADER_BYTES).reshape(K, CELL_RECORD_BYTES)
    index = rec[:, :4].copy().view(">u4").reshape(K).astype(np.int64)
    if int(index.max()) >= CELLS_PER_EXT_BLOB:
        raise CellFileError(f"{p}: cell index {int(index.max())} >= {CELLS_PER_EXT_BLOB}")
    if np.unique(index).size != K:
        dup = sorted({int(i) for i in index if int((index == i).sum()) > 1})
        raise CellFileError(f"{p}: duplicate cell indices {dup[:10]}")
    proofs = [r.tobytes() for r in rec[:, 4 : 4 + CELL_PROOF_BYTES]]
    cells = [r.tobytes() for r in rec[:, 4 + CELL_PROOF_BYTES :]]
    return CellSet(index, proofs, cells)


def read_cells_commitment(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """-> (info, 48-byte commitment); every field checked except the point (see :func:`decode_cells_commitment`)."""
    p = Path(path)
    if not p.is_file():
        raise CellFileError(f"commitment file not found: {p}")
    try:
        info = json.loads(p.read_text())
        if not isinstance(info, dict):
            raise TypeError("not a JSON object")
        com = bytes.fromhex(info["commitment"])
        packing = info["packing"]
        cells = int(info["cells"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CellFileError(f"{p}: malformed commitment file ({exc})") from exc
    if info.get("scheme") != CELLS_SCHEME:
        raise CellFileError(f"{p}: scheme {info.get('scheme')!r} is not {CELLS_SCHEME!r}")
    if cells != CELLS_PER_EXT_BLOB:
        raise CellFileError(f"{p}: {cells} cells, expected {CELLS_PER_EXT_BLOB}")
    if len(com) != CELL_PROOF_BYTES:
        raise CellFileError(f"{p}: commitment must be 48 bytes (ZCash-compressed G1), got {len(com)}")
    if packing not in ("blob", "payload"):
        raise CellFileError(f"{p}: packing {packing!r} is not 'blob' or 'payload'")
    if packing == "payload":
        n = info.get("payload_bytes")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_PAYLOAD:
            raise CellFileError(f"{p}: payload_bytes {n!r} not in [0, {MAX_PAYLOAD}]")
    return info, com


def decode_cells_commitment(com: bytes, xp: Any = np) -> Any:
    try:
        return bls12_381.g1_decompress(com, xp)
    except bls12_381.PointError as exc:
        raise CellFileError(f"commitment: {exc}") from exc
