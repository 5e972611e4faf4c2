"""Small input guards shared by the evidence, collateral and receipt decoders."""

from __future__ import annotations

import json
from typing import Any

from offchain.errors import EigenError


def bounded_bytes(raw: Any, limit: int, what: str, error: type[EigenError]) -> bytes:
    """``raw`` as bytes, refusing non-bytes input and anything longer than ``limit``."""
    if not isinstance(raw, bytes | bytearray):
        raise error(f"{what} must be bytes")
    if len(raw) > limit:
        raise error(f"{what} of {len(raw)} bytes exceeds {limit}")
    return bytes(raw)


def load_json(text: str | bytes, what: str, error: type[EigenError]) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not JSON: {exc}") from exc
