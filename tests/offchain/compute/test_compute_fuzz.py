"""Hypothesis: truncated or bit-flipped evidence (and event logs) only ever yield a typed error or a
rejection."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from offchain.compute.attest import verify_evidence
from offchain.compute.errors import AttestationError, EventLogError, EvidenceFormatError
from offchain.compute.eventlog import Event, load_event_log
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.tdx import TdxCollateral, parse_quote
from offchain.compute.testca import NitroSpec, NitroTestCA, TdxSpec, TdxTestCA, ccel_log

_TDX = TdxTestCA()
_NITRO = NitroTestCA()
QUOTE, COLLATERAL = _TDX.evidence(trailing=bytes(8))
DOC = _NITRO.document(indefinite=True)
TRUST = TrustStore.default().with_roots([_TDX.root, _NITRO.root])
POLICY = Policy(trusted_roots=(_TDX.root_fingerprint, _NITRO.root_fingerprint))
SIGNED_END = len(QUOTE) - 8


def _outcome(data: bytes, kind: str):
    at = TdxSpec().at if kind == "tdx" else NitroSpec().timestamp
    try:
        return verify_evidence(data, COLLATERAL if kind == "tdx" else None, at=at, policy=POLICY, trust=TRUST)
    except AttestationError as exc:
        return exc


def test_baselines_accept() -> None:
    assert _outcome(QUOTE, "tdx").accepted
    assert _outcome(DOC, "nitro").accepted


@given(st.data())
def test_truncated_tdx_is_a_typed_error(data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, SIGNED_END - 1))
    with pytest.raises(EvidenceFormatError):
        parse_quote(QUOTE[:cut])
    assert isinstance(_outcome(QUOTE[:cut], "tdx"), AttestationError)


@given(st.data())
def test_truncated_nitro_is_a_typed_error(data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(DOC) - 1))
    assert isinstance(_outcome(DOC[:cut], "nitro"), AttestationError)


def _flip(raw: bytes, pos: int, bit: int) -> bytes:
    b = bytearray(raw)
    b[pos] ^= 1 << bit
    return bytes(b)


@given(st.integers(0, SIGNED_END - 1), st.integers(0, 7))
def test_bit_flipped_tdx_never_accepted(pos: int, bit: int) -> None:
    out = _outcome(_flip(QUOTE, pos, bit), "tdx")
    assert isinstance(out, AttestationError) or not out.accepted


@given(st.integers(0, len(DOC) - 1), st.integers(0, 7))
def test_bit_flipped_nitro_never_accepted(pos: int, bit: int) -> None:
    out = _outcome(_flip(DOC, pos, bit), "nitro")
    assert isinstance(out, AttestationError) or not out.accepted


@given(st.binary(max_size=2048))
def test_random_bytes_are_typed_errors(blob: bytes) -> None:
    for kind in ("tdx", "nitro"):
        out = _outcome(blob, kind)
        assert isinstance(out, AttestationError) or not out.accepted


_SIGNED_FIELDS = (
    "tcb_info",
    "qe_identity",
    "tcb_info_signature",
    "qe_identity_signature",
    "pck_crl",
    "root_ca_crl",
)


@given(st.sampled_from(_SIGNED_FIELDS), st.integers(0, 10**6), st.sampled_from('0123456789abcdef ,:{}"x'))
@example(
    "root_ca_crl", 28926, "1"
)  # found by CI: a CRL version byte 17 made cryptography raise InvalidVersion
def test_mutated_collateral_never_accepted(field: str, pos: int, char: str) -> None:
    text = COLLATERAL.get(field)
    pos %= len(text)
    if text[pos] == char:
        return
    mutated = TdxCollateral({**COLLATERAL.parts, field: text[:pos] + char + text[pos + 1 :]})
    try:
        v = verify_evidence(QUOTE, mutated, at=TdxSpec().at, policy=POLICY, trust=TRUST)
    except AttestationError:
        return
    assert not v.accepted, (field, pos, char)


CCEL = ccel_log(
    [Event(i % 4, hashlib.sha384(bytes([i])).digest(), 0x0D, None, bytes([i]) * i) for i in range(6)],
    no_action_at=(3,),
    padding=b"",
)


def test_ccel_baseline_parses() -> None:
    assert len(load_event_log(CCEL)) == 6


@given(st.data())
def test_truncated_or_flipped_event_logs_only_raise_event_log_errors(data: st.DataObject) -> None:
    raw = bytearray(CCEL)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    try:
        events = load_event_log(bytes(raw))
    except EventLogError:
        return
    assert all(0 <= e.index < 4 and len(e.digest) == 48 for e in events)


@given(st.binary(max_size=400))
def test_random_bytes_as_an_event_log_are_a_typed_error_or_events(raw: bytes) -> None:
    try:
        events = load_event_log(raw)
    except EventLogError:
        return
    assert all(0 <= e.index < 4 and len(e.digest) == 48 for e in events)
