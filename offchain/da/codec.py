"""EigenDA payload codec: payload bytes <-> blob of 32-byte BN254 field elements.

Encoded payload = 32-byte header ``[0x00, version 0x00, uint32 BE payload length, 26 zero bytes]``
followed by the payload cut into 31-byte groups, each prefixed with a 0x00 guard byte (the last group
zero-padded), then zero symbols up to a power-of-two number of 32-byte symbols.

Decoding is strict: wrong length, a non-zero guard, header or padding byte, or a declared length that
does not fit the blob is an error, never a silent truncation.
"""

from __future__ import annotations

import numpy as np

from offchain.da.errors import PayloadError

SYMBOL = 32
GROUP = 31
HEADER_VERSION = 0
MAX_BLOB_SYMBOLS = 1 << 19  # 16 MiB


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def blob_symbols_for(payload_len: int) -> int:
    """Number of symbols of the blob that carries a payload of ``payload_len`` bytes."""
    return next_pow2(1 + -(-payload_len // GROUP))


def encode_payload(payload: bytes) -> bytes:
    """Payload -> encoded blob bytes (power-of-two number of 32-byte symbols)."""
    n = len(payload)
    if n >= 1 << 32:
        raise PayloadError("payload longer than 2^32-1 bytes")
    groups = -(-n // GROUP)
    symbols = next_pow2(1 + groups)
    if symbols > MAX_BLOB_SYMBOLS:
        raise PayloadError(f"payload of {n} bytes needs {symbols} symbols > {MAX_BLOB_SYMBOLS} (16 MiB blob)")
    out = np.zeros((symbols, SYMBOL), dtype=np.uint8)
    out[0, 1] = HEADER_VERSION
    out[0, 2:6] = np.frombuffer(n.to_bytes(4, "big"), dtype=np.uint8)
    if n:
        body = np.zeros(groups * GROUP, dtype=np.uint8)
        body[:n] = np.frombuffer(payload, dtype=np.uint8)
        out[1 : 1 + groups, 1:] = body.reshape(groups, GROUP)
    return out.tobytes()


def decode_payload(blob: bytes) -> bytes:
    """Encoded blob bytes -> payload; raises :class:`PayloadError` on any malformation."""
    size = len(blob)
    if size == 0 or size % SYMBOL:
        raise PayloadError(f"blob length {size} is not a positive multiple of {SYMBOL}")
    symbols = size // SYMBOL
    if symbols & (symbols - 1):
        raise PayloadError(f"blob has {symbols} symbols, not a power of two")
    if symbols > MAX_BLOB_SYMBOLS:
        raise PayloadError(f"blob has {symbols} symbols > {MAX_BLOB_SYMBOLS}")
    arr = np.frombuffer(blob, dtype=np.uint8).reshape(symbols, SYMBOL)
    head = arr[0]
    if head[0] != 0:
        raise PayloadError("header guard byte is not zero")
    if head[1] != HEADER_VERSION:
        raise PayloadError(f"unknown encoded payload version {int(head[1])}")
    if head[6:].any():
        raise PayloadError("header padding bytes are not zero")
    n = int.from_bytes(head[2:6].tobytes(), "big")
    groups = -(-n // GROUP)
    if 1 + groups > symbols:
        raise PayloadError(f"declared payload length {n} does not fit a blob of {symbols} symbols")
    body = arr[1:]
    if body[:, 0].any():
        bad = int(np.argmax(body[:, 0] != 0)) + 1
        raise PayloadError(f"symbol {bad}: guard byte is not zero")
    data = body[:groups, 1:].reshape(-1)
    if data[n:].any():
        raise PayloadError("non-zero bytes after the payload in the last group")
    if body[groups:].any():
        raise PayloadError("non-zero padding symbols after the payload")
    return data[:n].tobytes()
