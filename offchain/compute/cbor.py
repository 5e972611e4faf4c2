"""A small strict CBOR (RFC 8949) decoder and canonical encoder for attestation documents.

Strictness (what ``cbor2.loads`` does not give): the whole input must be consumed, map keys must
be unique, integers and lengths must use the shortest encoding, and only the subset of CBOR that
attestation documents use is accepted (unsigned/negative integers, byte and text strings, arrays,
maps in definite or indefinite form, tags, null/true/false). Floats, undefined and simple values
are rejected. Indefinite-length strings are rejected; indefinite arrays and maps are accepted
because AWS NSM emits indefinite payload maps since late 2025.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offchain.compute.errors import CBORError

MAX_DEPTH = 16
MAX_ITEMS = 4096


@dataclass(frozen=True)
class Tag:
    """A CBOR tagged value."""

    tag: int
    value: Any


_SIMPLE = {20: False, 21: True, 22: None}


class _Decoder:
    __slots__ = ("buf", "pos", "items")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0
        self.items = 0

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise CBORError(f"truncated CBOR at offset {self.pos} (need {n} bytes)")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def _arg(self, info: int) -> int | None:
        """Decode the argument of a head; None means indefinite length. Rejects non-minimal forms."""
        if info < 24:
            return info
        if info == 31:
            return None
        if info > 27:
            raise CBORError(f"reserved additional-information value {info} at offset {self.pos - 1}")
        size = 1 << (info - 24)
        value = int.from_bytes(self._take(size), "big")
        minimum = 24 if size == 1 else 1 << (8 * (size // 2))
        if value < minimum:
            raise CBORError(f"non-minimal integer or length encoding at offset {self.pos - size - 1}")
        return value

    def item(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CBORError("CBOR nesting too deep")
        self.items += 1
        if self.items > MAX_ITEMS:
            raise CBORError("too many CBOR items")
        head = self._take(1)[0]
        major, info = head >> 5, head & 0x1F
        if major == 7:
            if info in _SIMPLE:
                return _SIMPLE[info]
            raise CBORError(f"unsupported CBOR simple/float value 0x{head:02x}")
        arg = self._arg(info)
        if major == 0:
            if arg is None:
                raise CBORError("indefinite-length integer")
            return arg
        if major == 1:
            if arg is None:
                raise CBORError("indefinite-length integer")
            return -1 - arg
        if major in (2, 3):
            if arg is None:
                raise CBORError("indefinite-length strings are not accepted")
            raw = self._take(arg)
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CBORError("invalid UTF-8 in CBOR text string") from exc
        if major == 4:
            out: list[Any] = []
            if arg is None:
                while not self._at_break():
                    out.append(self.item(depth + 1))
            else:
                if arg > len(self.buf) - self.pos:
                    raise CBORError("CBOR array longer than the input")
                for _ in range(arg):
                    out.append(self.item(depth + 1))
            return out
        if major == 5:
            result: dict[Any, Any] = {}
            count = 0
            while True:
                if arg is None:
                    if self._at_break():
                        break
                elif count == arg:
                    break
                key = self.item(depth + 1)
                if isinstance(key, list | dict | Tag):
                    raise CBORError("CBOR map key must be an integer or a string")
                if key in result or (isinstance(key, bool) and key in result):
                    raise CBORError(f"duplicate CBOR map key {key!r}")
                result[key] = self.item(depth + 1)
                count += 1
            return result
        # major 6: tag
        if arg is None:
            raise CBORError("indefinite tag")
        return Tag(arg, self.item(depth + 1))

    def _at_break(self) -> bool:
        if self.pos >= len(self.buf):
            raise CBORError("truncated indefinite-length container")
        if self.buf[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False


def loads(data: bytes) -> Any:
    """Decode exactly one CBOR item that spans all of ``data`` (strict, see module doc)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CBORError("CBOR input must be bytes")
    dec = _Decoder(bytes(data))
    value = dec.item()
    if dec.pos != len(dec.buf):
        raise CBORError(f"{len(dec.buf) - dec.pos} trailing bytes after the CBOR item")
    return value


def _head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes([(major << 5) | arg])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * size):
            return bytes([(major << 5) | info]) + arg.to_bytes(size, "big")
    raise CBORError("integer too large for CBOR")


def dumps(value: Any, *, indefinite_maps: bool = False) -> bytes:
    """Encode with shortest heads, keys in insertion order (definite maps unless asked otherwise)."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes | bytearray):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(dumps(v, indefinite_maps=indefinite_maps) for v in value)
    if isinstance(value, dict):
        body = b"".join(
            dumps(k, indefinite_maps=indefinite_maps) + dumps(v, indefinite_maps=indefinite_maps)
            for k, v in value.items()
        )
        return (b"\xbf" + body + b"\xff") if indefinite_maps else _head(5, len(value)) + body
    if isinstance(value, Tag):
        return _head(6, value.tag) + dumps(value.value, indefinite_maps=indefinite_maps)
    raise CBORError(f"cannot encode {type(value).__name__} as CBOR")
