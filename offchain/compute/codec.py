"""Small input guards shared by the evidence, collateral and receipt decoders."""

from __future__ import annotations

import json
from typing import Any

from offchain import abi
from offchain.errors import EigenError


def bounded_bytes(raw: Any, limit: int, what: str, error: type[EigenError]) -> bytes:
    """``raw`` as bytes, refusing non-bytes input and anything longer than ``limit``."""
    if not isinstance(raw, bytes | bytearray):
        raise error(f"{what} must be bytes")
    if len(raw) > limit:
        raise error(f"{what} of {len(raw)} bytes exceeds {limit}")
    return bytes(raw)


class _Refused(ValueError):
    """A JSON text that parses but that we refuse (duplicate key, non-JSON constant)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON value")


def load_json(text: str | bytes, what: str, error: type[EigenError]) -> Any:
    """Strict RFC 8259 JSON: a key repeated in one object (at any depth) or NaN/Infinity is ``error``,
    never "the last one wins" (two parsers of one document must not disagree on what it says)."""
    abi.json_depth(text, what, error)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Refused as exc:
        raise error(f"{what}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise error(f"{what}: JSON nested too deeply") from exc
