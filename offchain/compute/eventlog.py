"""RTMR / PCR replay: prove that a container image digest was measured into a register.

Extend rule (TDX RTMRs and Nitro PCRs alike): ``R_new = SHA-384(R_old || digest48)`` from 48 zero
bytes. The image event digest is ``SHA-384(IMAGE_EVENT_TAG || sha256_image_digest)``; the dev TEE
puts ``extend(0^48, image_event_digest)`` into PCR16, and a TDX guest extends the same event digest
into RTMR3, so a replayed event log shows which image ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.compute.codec import load_json
from offchain.compute.errors import EventLogError, EvidenceFormatError

IMAGE_EVENT_TAG = b"eigen.compute.image.v1:"
ZERO48 = bytes(48)
DSTACK_EVENT_TYPE = 0x08000001
EV_NO_ACTION = 0x00000003  # TCG PC Client: logged, never extended


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
    """One event of a TDX (CCEL-style) log: it extended RTMR[``index``] by ``digest``. Events read from
    a dstack log also carry their type, name and payload (the digest of a dstack runtime event is
    recomputed from them when the log is parsed)."""

    index: int
    digest: bytes
    event_type: int | None = None
    name: str | None = None
    payload: bytes | None = None

    @property
    def extends(self) -> bool:
        """Whether the event was extended into its register: TCG's EV_NO_ACTION events are not."""
        return self.event_type != EV_NO_ACTION

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"imr": self.index, "digest": self.digest.hex()}
        if self.event_type is not None:
            out["event_type"] = self.event_type
        if self.name is not None:
            out["event"] = self.name
        if self.payload is not None:
            out["event_payload"] = self.payload.hex()
        return out

    def describe(self, position: int) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"event #{position}{label} (RTMR{self.index}, digest {self.digest.hex()[:16]}…)"


_EVENT_KEYS = frozenset({"imr", "digest", "event_type", "event", "event_payload"})
MAX_EVENTS = 1 << 16


def _fail(position: int | None, message: str) -> EventLogError:
    where = "event log" if position is None else f"event #{position}"
    return EventLogError(f"{where}: {message}", position)


def _hex_field(e: dict[str, Any], key: str, position: int) -> bytes:
    value = e[key]
    if not isinstance(value, str):
        raise _fail(position, f"{key} must be a hex string")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise _fail(position, f"{key} is not hex") from exc


def parse_event(e: Any, position: int, registers: int = 4) -> Event:
    """One event, strictly: an object with ``imr`` (0..registers-1) and a 48-byte hex ``digest``, and
    optionally dstack's ``event_type`` (u32), ``event`` (name) and ``event_payload`` (hex); no other
    keys. A dstack runtime event (type 0x08000001) must carry its name and payload, and its digest
    must recompute from them (dstack's v1 rule); an empty or absent digest means "compute it"."""
    if not isinstance(e, dict):
        raise _fail(position, f"must be a JSON object, not {type(e).__name__}")
    unknown = set(e) - _EVENT_KEYS
    if unknown:
        raise _fail(position, f"unknown key(s) {sorted(unknown)}")
    idx = e.get("imr")
    if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < registers:
        raise _fail(position, f"imr must be an integer in 0..{registers - 1}, not {idx!r}")
    etype = e.get("event_type")
    if etype is not None and (
        isinstance(etype, bool) or not isinstance(etype, int) or not 0 <= etype < 1 << 32
    ):
        raise _fail(position, f"event_type must be a 32-bit unsigned integer, not {etype!r}")
    name = e.get("event")
    if name is not None and not isinstance(name, str):
        raise _fail(position, "event (the name) must be a string")
    payload = _hex_field(e, "event_payload", position) if "event_payload" in e else None
    digest = _hex_field(e, "digest", position) if "digest" in e else b""
    if etype == DSTACK_EVENT_TYPE:
        if name is None or payload is None:
            raise _fail(position, "a dstack runtime event needs its name (event) and event_payload")
        want = dstack_event_digest(name, payload, etype)
        if not digest:
            digest = want
        elif digest != want:
            raise _fail(position, f"{name!r}: digest does not match its name and payload")
    if len(digest) != 48:
        raise _fail(position, f"digest must be 48 bytes (SHA-384), not {len(digest)}")
    return Event(idx, digest, etype, name, payload)


def parse_events(items: Any, registers: int = 4) -> list[Event]:
    """A list of events (see :func:`parse_event`); any problem is an :class:`EventLogError` naming
    the first bad event."""
    if not isinstance(items, list):
        raise _fail(None, "must be a list of events")
    if len(items) > MAX_EVENTS:
        raise _fail(None, f"{len(items)} events exceed the limit of {MAX_EVENTS}")
    return [parse_event(e, i, registers) for i, e in enumerate(items)]


def load_event_log(data: bytes | str) -> list[Event]:
    """An event log file: a JSON list of events, or dstack's quote response, an object whose
    ``event_log`` member is that list (or a JSON string holding it); its other members are not read.
    JSON is strict (duplicate keys refused)."""
    obj = load_json(data, "event log", EventLogError)
    if isinstance(obj, dict):
        if "event_log" not in obj:
            raise _fail(None, "a JSON object must have an event_log member (dstack's quote response)")
        obj = obj["event_log"]
        if isinstance(obj, str):
            obj = load_json(obj, "event log (event_log string)", EventLogError)
    return parse_events(obj)


def replay(events: Iterable[Event], registers: int = 4) -> list[bytes]:
    regs = [ZERO48] * registers
    for e in events:
        if e.extends:
            regs[e.index] = extend(regs[e.index], e.digest)
    return regs


def first_mismatch(events: Sequence[Event], rtmrs: Sequence[bytes]) -> int | None:
    """Index of the first register whose replay differs from the quote, or None when all agree."""
    for i, (got, want) in enumerate(zip(replay(events, len(rtmrs)), rtmrs, strict=True)):
        if got != want:
            return i
    return None


@dataclass(frozen=True)
class Mismatch:
    """Where a log and a quote (or a policy) part: the register, the log position of the first
    event that does not fit (None when the replay cannot tell which one), and why."""

    register: int
    position: int | None
    reason: str


def locate_mismatch(
    events: Sequence[Event],
    rtmrs: Sequence[bytes],
    expected: Mapping[int, Sequence[bytes]] | None = None,
) -> Mismatch | None:
    """The first event (in log order) at which ``events`` stop agreeing with the quote's ``rtmrs`` or
    with the digests a policy ``expected`` per register (the complete list, in order), or None.

    Against the quote, register by register: when the quote's value is the replay of the log's first
    k events of that register, event k+1 is the first one the quote does not contain; when no prefix
    replays to it, the mismatch is reported for the register without an event."""
    found: list[Mismatch] = []
    for r, quoted in enumerate(rtmrs):
        mine = [(pos, e) for pos, e in enumerate(events) if e.index == r and e.extends]
        want = (expected or {}).get(r)
        if want is not None:
            for k, (pos, e) in enumerate(mine):
                if k >= len(want):
                    found.append(
                        Mismatch(
                            r,
                            pos,
                            f"{e.describe(pos)}: the policy expects only {len(want)} event(s) in RTMR{r}",
                        )
                    )
                    break
                if e.digest != want[k]:
                    found.append(
                        Mismatch(
                            r,
                            pos,
                            f"{e.describe(pos)}: the policy expects digest {want[k].hex()} as event {k + 1} of RTMR{r}",
                        )
                    )
                    break
            else:
                if len(mine) < len(want):
                    found.append(
                        Mismatch(
                            r,
                            None,
                            f"RTMR{r}: the log has {len(mine)} event(s), the policy expects {len(want)}",
                        )
                    )
        values = [ZERO48]
        for _, e in mine:
            values.append(extend(values[-1], e.digest))
        if values[-1] == quoted:
            continue
        if quoted in values:
            k = values.index(quoted)
            pos, e = mine[k]
            found.append(
                Mismatch(
                    r,
                    pos,
                    f"{e.describe(pos)}: the quote's RTMR{r} is the replay of the {k} event(s) before it, so this one is not in the quote",
                )
            )
        else:
            found.append(
                Mismatch(
                    r,
                    None,
                    f"RTMR{r}: the {len(mine)} event(s) replay to {values[-1].hex()}, the quote has {quoted.hex()}, and no prefix of them matches",
                )
            )
    if not found:
        return None
    return min(found, key=lambda m: (m.position is None, m.position or 0, m.register))
