"""Evidence-type detection and one entry point for both kinds of evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from offchain.compute.errors import EventLogError, EvidenceFormatError
from offchain.compute.eventlog import Event
from offchain.compute.nitro import is_nitro, verify_nitro
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy, Verdict
from offchain.compute.tdx import TdxCollateral, verify_tdx


def detect(raw: bytes) -> str:
    """'tdx' (quote v4/v5 header) or 'nitro' (COSE_Sign1 array, tagged or not), from the bytes alone."""
    if len(raw) >= 8 and raw[0:2] in (b"\x04\x00", b"\x05\x00") and raw[4:8] == b"\x81\x00\x00\x00":
        return "tdx"
    if is_nitro(raw):
        return "nitro"
    raise EvidenceFormatError("unrecognised evidence: neither a TDX quote v4/v5 nor a COSE_Sign1 document")


def verify_evidence(
    raw: bytes,
    collateral: TdxCollateral | None,
    *,
    at: datetime,
    policy: Policy | None = None,
    trust: TrustStore | None = None,
    events: Sequence[Event] | None = None,
) -> Verdict:
    """Verify TDX or Nitro evidence (detected from the bytes). An event log (``events``) goes with a
    TDX quote only: given with a Nitro document it is an EventLogError."""
    kind = detect(raw)
    if kind == "tdx":
        return verify_tdx(raw, collateral, at=at, policy=policy, trust=trust, events=events)
    if events is not None:
        raise EventLogError("an event log goes with a TDX quote; this evidence is a Nitro document")
    return verify_nitro(raw, at=at, policy=policy, trust=trust)
