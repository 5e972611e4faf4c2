"""RTMR / PCR replay: prove that a container image digest was measured into a register.

Extend rule (TDX RTMRs and Nitro PCRs alike): ``R_new = SHA-384(R_old || digest48)`` from 48 zero
bytes. The image event digest is ``SHA-384(IMAGE_EVENT_TAG || sha256_image_digest)``; the dev TEE
puts ``extend(0^48, image_event_digest)`` into PCR16, and a TDX guest extends the same event digest
into RTMR3, so a replayed event log shows which image ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.compute.errors import EvidenceFormatError

IMAGE_EVENT_TAG = b"eigen.compute.image.v1:"
ZERO48 = bytes(48)
DSTACK_EVENT_TYPE = 0x08000001


def extend(register: bytes, digest: bytes) -> bytes:
    if len(register) != 48 or len(digest) != 48:
        raise EvidenceFormatError("RTMR/PCR extend takes a 48-byte register and a 48-byte digest")
    return hashlib.sha384(register + digest).digest()


def image_event_digest(image_digest: bytes) -> bytes:
    if len(image_digest) != 32:
        raise EvidenceFormatError("image digest must be 32 bytes (sha256)")
    return hashlib.sha384(IMAGE_EVENT_TAG + image_digest).digest()


def image_measurement(image_digest: bytes) -> bytes:
    """The register value after one image event: what the dev TEE reports as PCR16."""
    return extend(ZERO48, image_event_digest(image_digest))


def dstack_event_digest(name: str, payload: bytes, event_type: int = DSTACK_EVENT_TYPE) -> bytes:
    """dstack runtime event (v1): SHA-384(le32(type) || ":" || name || ":" || payload)."""
    return hashlib.sha384(event_type.to_bytes(4, "little") + b":" + name.encode() + b":" + payload).digest()


@dataclass(frozen=True)
class Event:
    index: int
    digest: bytes

    def to_json(self) -> dict[str, Any]:
        return {"imr": self.index, "digest": self.digest.hex()}


def parse_events(items: Any, registers: int = 4) -> list[Event]:
    """Events as ``{"imr": i, "digest": hex48}``; extra keys are ignored, except that dstack runtime
    events (``event_type`` 0x08000001 with ``event`` and ``event_payload``, as in dstack's JSON log)
    must have a digest that recomputes from their name and payload."""
    if not isinstance(items, list):
        raise EvidenceFormatError("event log must be a list")
    out = []
    for e in items:
        try:
            idx, dig = e["imr"], bytes.fromhex(e["digest"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceFormatError(f"bad event {e!r}") from exc
        if not isinstance(idx, int) or not 0 <= idx < registers or len(dig) != 48:
            raise EvidenceFormatError(f"bad event {e!r}: register index or digest size")
        if e.get("event_type") == DSTACK_EVENT_TYPE and "event" in e:
            # dstack runtime events carry name and payload: the digest must recompute from them
            try:
                payload = bytes.fromhex(e.get("event_payload", ""))
            except (TypeError, ValueError) as exc:
                raise EvidenceFormatError(f"bad event payload in {e!r}") from exc
            if dstack_event_digest(str(e["event"]), payload) != dig:
                raise EvidenceFormatError(f"event {e['event']!r}: digest does not match its name and payload")
        out.append(Event(idx, dig))
    return out


def replay(events: Iterable[Event], registers: int = 4) -> list[bytes]:
    regs = [ZERO48] * registers
    for e in events:
        regs[e.index] = extend(regs[e.index], e.digest)
    return regs


def first_mismatch(events: Sequence[Event], rtmrs: Sequence[bytes]) -> int | None:
    """Index of the first register whose replay differs from the quote, or None when all agree."""
    for i, (got, want) in enumerate(zip(replay(events, len(rtmrs)), rtmrs, strict=True)):
        if got != want:
            return i
    return None
