"""RTMR / PCR replay: prove that a container image digest was measured into a register.

Extend rule (TDX RTMRs and Nitro PCRs alike): ``R_new = SHA-384(R_old || digest48)`` from 48 zero
bytes. The image event digest is ``SHA-384(IMAGE_EVENT_TAG || sha256_image_digest)``; the dev TEE
puts ``extend(0^48, image_event_digest)`` into PCR16, and a TDX guest extends the same event digest
into RTMR3, so a replayed event log shows which image ran.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.compute.codec import load_json
from offchain.compute.errors import EventLogError, EvidenceFormatError, UnknownEventVersionError

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


DSTACK_EVENT_VERSIONS = (1, 2)

_JCS_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _jcs_string(text: str) -> str:
    """A JSON string as RFC 8785 (JCS) section 3.2.2.2 serializes it: quote, backslash and the
    control characters with a short form escaped as such, the other controls (below U+0020) as
    lowercase \\u00hh, everything else verbatim."""
    out = ['"']
    for ch in text:
        if ch in _JCS_SHORT:
            out.append(_JCS_SHORT[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dstack_event_preimage(name: str, payload: bytes, version: int = 1) -> bytes:
    """The bytes whose SHA-384 is a dstack runtime event's digest, per dstack's
    ``RuntimeEvent::preimage`` (dstack/cc-eventlog/src/runtime_events.rs; the versions are
    ``EventLogVersion`` in dstack/dstack-types/src/lib.rs):

    - version 1: ``le32(0x08000001) || ":" || name || ":" || payload``;
    - version 2: the UTF-8 of the JCS (RFC 8785) canonical JSON object
      ``{"name": name, "payload": lowercase hex of payload, "type": 134217729}`` (keys sorted,
      no whitespace; ``canonical_event_json_v2`` there).

    Any other version is an :class:`UnknownEventVersionError`; a name that is not valid Unicode
    text (a lone surrogate from a JSON escape) an :class:`EventLogError`."""
    try:
        name_utf8 = name.encode()
    except UnicodeEncodeError as exc:
        raise EventLogError(f"event name {name!r} is not valid UTF-8 text") from exc
    if version == 1:
        return DSTACK_EVENT_TYPE.to_bytes(4, "little") + b":" + name_utf8 + b":" + payload
    if version == 2:
        text = f'{{"name":{_jcs_string(name)},"payload":"{payload.hex()}","type":{DSTACK_EVENT_TYPE}}}'
        return text.encode()
    raise UnknownEventVersionError(
        f"dstack runtime event version {version!r} is unknown (known: {', '.join(map(str, DSTACK_EVENT_VERSIONS))})"
    )


def dstack_event_digest(name: str, payload: bytes, version: int = 1) -> bytes:
    """A dstack runtime event's RTMR digest: SHA-384 of :func:`dstack_event_preimage`."""
    return hashlib.sha384(dstack_event_preimage(name, payload, version)).digest()


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
    version: int = 1

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
        if self.version != 1:
            out["version"] = self.version
        return out

    def describe(self, position: int) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"event #{position}{label} (RTMR{self.index}, digest {self.digest.hex()[:16]}…)"


_EVENT_KEYS = frozenset({"imr", "digest", "event_type", "event", "event_payload", "version", "preimage"})
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
    optionally dstack's ``event_type`` (u32), ``event`` (name), ``event_payload`` (hex), ``version``
    (the runtime-event digest version, 1 when absent) and ``preimage`` (hex); no other keys.

    A dstack runtime event (type 0x08000001) must carry its name and payload, and its digest must
    recompute from them by the rule of its version (:func:`dstack_event_preimage`); an empty or
    absent digest means "compute it". A version other than 1 or 2 is an
    :class:`UnknownEventVersionError`, and a version on any other event type is refused (dstack
    gives one to runtime events only). A ``preimage`` (dstack sends it with v2 events) must hash to
    the digest, and for a runtime event be exactly the recomputed preimage, as dstack's
    ``validate_v2_preimages`` requires."""
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
    version = e.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(position, f"version must be an integer, not {version!r}")
    if version not in DSTACK_EVENT_VERSIONS:
        raise UnknownEventVersionError(
            f"event #{position}: dstack runtime event version {version} is unknown (known: "
            f"{', '.join(map(str, DSTACK_EVENT_VERSIONS))}); its digest cannot be recomputed",
            position,
        )
    if version != 1 and etype != DSTACK_EVENT_TYPE:
        raise _fail(position, f"version {version} is given on an event that is not a dstack runtime event")
    payload = _hex_field(e, "event_payload", position) if "event_payload" in e else None
    digest = _hex_field(e, "digest", position) if "digest" in e else b""
    preimage = _hex_field(e, "preimage", position) if "preimage" in e else None
    if etype == DSTACK_EVENT_TYPE:
        if name is None or payload is None:
            raise _fail(position, "a dstack runtime event needs its name (event) and event_payload")
        try:
            expected = dstack_event_preimage(name, payload, version)
        except EventLogError as exc:
            raise _fail(position, str(exc)) from exc
        if preimage is not None and preimage != expected:
            raise _fail(
                position, f"{name!r}: preimage is not the v{version} preimage of its name and payload"
            )
        want = hashlib.sha384(expected).digest()
        if not digest:
            digest = want
        elif digest != want:
            raise _fail(position, f"{name!r}: digest does not match its name and payload (v{version} rule)")
    elif preimage is not None and hashlib.sha384(preimage).digest() != digest:
        raise _fail(position, "preimage does not hash (SHA-384) to the digest")
    if len(digest) != 48:
        raise _fail(position, f"digest must be 48 bytes (SHA-384), not {len(digest)}")
    return Event(idx, digest, etype, name, payload, version)


def parse_events(items: Any, registers: int = 4) -> list[Event]:
    """A list of events (see :func:`parse_event`); any problem is an :class:`EventLogError` naming
    the first bad event."""
    if not isinstance(items, list):
        raise _fail(None, "must be a list of events")
    if len(items) > MAX_EVENTS:
        raise _fail(None, f"{len(items)} events exceed the limit of {MAX_EVENTS}")
    return [parse_event(e, i, registers) for i, e in enumerate(items)]


# ---- binary TCG2 ("crypto agile") logs: the TDX CCEL ACPI table's log area -----------------------

SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
TPM_ALG_SHA384 = 0x000C
MAX_CCEL = 16 << 20
_ALG_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}  # SHA1/256/384/512, SM3


class _Cursor:
    __slots__ = ("buf", "pos", "record")

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos, self.record = buf, 0, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.buf):
            raise _fail(
                None, f"truncated in {what} of record {self.record} (offset {self.pos}, need {n} bytes)"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")


def _spec_id(c: _Cursor) -> dict[int, int]:
    """The first record (TCG_PCClientPCREvent, SHA-1 format): EV_NO_ACTION with the Spec ID Event03
    structure, which lists the digest algorithms (and their sizes) every later record carries."""
    c.u32("MR index")
    if c.u32("event type") != EV_NO_ACTION:
        raise _fail(None, "the first record is not the EV_NO_ACTION Spec ID event")
    if any(c.take(20, "SHA-1 digest")):
        raise _fail(None, "the Spec ID event's digest is not zero")
    body = _Cursor(c.take(c.u32("event size"), "Spec ID event"))
    if body.take(16, "signature") != SPEC_ID_SIGNATURE:
        raise _fail(None, "not a crypto-agile TCG2 log (no 'Spec ID Event03' signature)")
    body.take(4 + 1 + 1 + 1 + 1, "platform class and versions")
    count = body.u32("number of algorithms")
    if not 1 <= count <= len(_ALG_SIZES):
        raise _fail(None, f"Spec ID event lists {count} digest algorithms")
    algs: dict[int, int] = {}
    for _ in range(count):
        alg, size = body.u16("algorithm id"), body.u16("digest size")
        if alg in algs:
            raise _fail(None, f"Spec ID event lists algorithm {alg:#06x} twice")
        if _ALG_SIZES.get(alg, size) != size:
            raise _fail(None, f"Spec ID event gives algorithm {alg:#06x} size {size}, not {_ALG_SIZES[alg]}")
        algs[alg] = size
    body.take(body.u8("vendor info size"), "vendor info")
    if body.pos != len(body.buf):
        raise _fail(None, "bytes after the Spec ID event's vendor info")
    if TPM_ALG_SHA384 not in algs:
        raise _fail(None, "the log carries no SHA-384 digests (RTMRs are SHA-384)")
    return algs


# confidential-containers' attestation-agent event log (AAEL) in its TCG2 form: AA appends each
# event to cc_eventlog as an EV_EVENT_TAG record whose event data is a TCG_PCClientTaggedEvent
# (le32 tag id "AAEL", le32 size, the entry text) and whose digests hash that event data
# (guest-components attestation-agent/src/eventlog/tcg2.rs, Tcg2EventEntry::digest). The entry text
# is "<Domain> <Operation> <Content>" (trustee's AAEL specification, "AAEL Log Entry Format").
EV_EVENT_TAG = 0x00000006
AAEL_TAG_ID = 0x4141454C  # ASCII "AAEL"
_HASHLIB = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512", 0x0012: "sm3"}


def parse_aael_entry(event_data: bytes) -> tuple[str, str, str]:
    """``(domain, operation, content)`` of an AAEL tagged event, strictly: the tag size is the rest
    of the data; the text is printable ASCII (0x20-0x7E) only, so no tab, CR or LF; domain and
    operation are non-empty and separated by single spaces; content is non-empty (it may hold
    spaces). Anything else is an :class:`EventLogError`."""
    if len(event_data) < 8 or int.from_bytes(event_data[:4], "little") != AAEL_TAG_ID:
        raise EventLogError("not an AAEL tagged event")
    size = int.from_bytes(event_data[4:8], "little")
    text = event_data[8:]
    if size != len(text):
        raise EventLogError(f"AAEL tagged event size {size} is not its {len(text)} bytes of text")
    if any(not 0x20 <= b <= 0x7E for b in text):
        raise EventLogError("AAEL entry holds a character that is not printable ASCII")
    parts = text.decode("ascii").split(" ", 2)
    if len(parts) != 3 or not all(parts):
        raise EventLogError(
            f"AAEL entry {text[:80].decode('ascii')!r} is not '<domain> <operation> <content>'"
        )
    return parts[0], parts[1], parts[2]


def _aael_event(mr: int, digests: dict[int, bytes], payload: bytes, record: int) -> Event:
    try:
        domain, operation, _ = parse_aael_entry(payload)
    except EventLogError as exc:
        raise _fail(None, f"record {record}: {exc}") from exc
    for alg, digest in digests.items():
        name = _HASHLIB.get(alg)
        if name is None or name not in hashlib.algorithms_available:
            continue  # SM3 where OpenSSL has none: SHA-384 (always present) is still checked
        if hashlib.new(name, payload).digest() != digest:
            raise _fail(
                None, f"record {record}: AAEL {domain} {operation}: {name} digest does not match the entry"
            )
    return Event(mr - 1, digests[TPM_ALG_SHA384], EV_EVENT_TAG, f"{domain} {operation}", payload)


def _padding(rest: bytes) -> bool:
    """The unused end of the CCEL log area: all 0xFF (as firmware leaves it) or all zero."""
    return not rest.strip(b"\xff") or not any(rest)


def parse_ccel(data: bytes) -> list[Event]:
    """A binary TCG2 crypto-agile event log as the TDX CCEL ACPI table points to it
    (``/sys/firmware/acpi/tables/data/CCEL``; confidential-containers sends it as ``cc_eventlog``).

    Strict: the Spec ID header first; every TCG_PCR_EVENT2 record carries exactly the header's
    algorithms, once each; MR index 1-4 (RTMR0-3; 0 is MRTD, which no event extends); nothing after
    the last record but uniform 0xFF or zero padding. EV_NO_ACTION records are checked and dropped
    (never extended), so positions count the measured events. confidential-containers' AAEL records
    (EV_EVENT_TAG, tag "AAEL") are parsed strictly (:func:`parse_aael_entry`) and their digests
    recomputed over the tagged event."""
    data = bytes(data)
    if len(data) > MAX_CCEL:
        raise _fail(None, f"binary log of {len(data)} bytes exceeds {MAX_CCEL}")
    c = _Cursor(data)
    algs = _spec_id(c)
    out: list[Event] = []
    while c.pos < len(data) and not _padding(data[c.pos :]):
        c.record += 1
        mr, etype = c.u32("MR index"), c.u32("event type")
        n = c.u32("digest count")
        if n != len(algs):
            raise _fail(
                None, f"record {c.record} carries {n} digests, the header lists {len(algs)} algorithms"
            )
        digests: dict[int, bytes] = {}
        for _ in range(n):
            alg = c.u16("digest algorithm")
            if alg not in algs or alg in digests:
                raise _fail(None, f"record {c.record}: digest algorithm {alg:#06x} unlisted or repeated")
            digests[alg] = c.take(algs[alg], "digest")
        payload = c.take(c.u32("event size"), "event data")
        if etype == EV_NO_ACTION:
            continue
        if not 1 <= mr <= 4:
            raise _fail(len(out), f"record {c.record}: MR index {mr} is not an RTMR (1-4)")
        if len(out) >= MAX_EVENTS:
            raise _fail(None, f"more than {MAX_EVENTS} events")
        if etype == EV_EVENT_TAG and payload[:4] == AAEL_TAG_ID.to_bytes(4, "little"):
            out.append(_aael_event(mr, digests, payload, c.record))
        else:
            out.append(Event(mr - 1, digests[TPM_ALG_SHA384], etype, None, payload))
    return out


def _base64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _fail(None, f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _fail(None, f"{what} is not base64: {exc}") from exc


def load_event_log(data: bytes | str) -> list[Event]:
    """An event log file, in any of these forms:

    - a binary TCG2 log (the CCEL log area; see :func:`parse_ccel`);
    - a JSON list of events (dstack's form, see :func:`parse_event`);
    - dstack's quote response: an object whose ``event_log`` member is that list or a JSON string
      holding it;
    - confidential-containers' TDX evidence: an object whose ``cc_eventlog`` member is the binary
      log in base64.

    The other members of those objects are not read. JSON is strict (duplicate keys refused)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw[4:8] == EV_NO_ACTION.to_bytes(4, "little"):  # NUL bytes: never JSON text
        return parse_ccel(raw)
    obj = load_json(raw, "event log", EventLogError)
    if isinstance(obj, dict):
        if "event_log" in obj:
            obj = obj["event_log"]
            if isinstance(obj, str):
                obj = load_json(obj, "event log (event_log string)", EventLogError)
        elif "cc_eventlog" in obj:
            return parse_ccel(_base64(obj["cc_eventlog"], "cc_eventlog"))
        else:
            raise _fail(None, "a JSON object needs an event_log (dstack) or cc_eventlog (CoCo) member")
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
