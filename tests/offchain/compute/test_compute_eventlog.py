"""Event-log replay (`eigen attest verify --event-log`): a log we build replays to the quote's RTMRs,
a corrupted log is a typed error naming the event, and a mismatch names the first event that does
not fit (against the quote or against the policy's event digests)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from offchain.cli import main
from offchain.compute.attest import verify_evidence
from offchain.compute.errors import EventLogError, PolicyError, UnknownEventVersionError
from offchain.compute.eventlog import (
    DSTACK_EVENT_TYPE,
    EV_NO_ACTION,
    ZERO48,
    Event,
    dstack_event_digest,
    dstack_event_preimage,
    extend,
    load_event_log,
    locate_mismatch,
    parse_ccel,
    parse_events,
    replay,
)
from offchain.compute.nitro import verify_nitro
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.tdx import verify_tdx
from offchain.compute.testca import NitroSpec, NitroTestCA, TdxSpec, TdxTestCA, ccel_log


def _h(label: str) -> str:
    return hashlib.sha384(label.encode()).hexdigest()


def _runtime(name: str, payload: bytes) -> dict:
    return {
        "imr": 3,
        "event_type": DSTACK_EVENT_TYPE,
        "digest": dstack_event_digest(name, payload).hex(),
        "event": name,
        "event_payload": payload.hex(),
    }


def build_log() -> list[dict]:
    """A dstack-shaped log: firmware/OS events in RTMR0-2 (TCG types), an EV_NO_ACTION record that
    is logged but not extended, and dstack runtime events in RTMR3."""
    return [
        {"imr": 0, "event_type": EV_NO_ACTION, "digest": "00" * 48, "event": "", "event_payload": "00"},
        {"imr": 0, "event_type": 0x80000001, "digest": _h("td-hob"), "event": "", "event_payload": ""},
        {"imr": 0, "event_type": 0x0000000A, "digest": _h("acpi"), "event": "", "event_payload": "41"},
        {"imr": 1, "event_type": 0x80000003, "digest": _h("kernel"), "event": "", "event_payload": ""},
        {"imr": 2, "event_type": 0x0000000D, "digest": _h("cmdline"), "event": "", "event_payload": ""},
        _runtime("system-preparing", b""),
        _runtime("app-id", bytes(range(20))),
        _runtime("compose-hash", hashlib.sha256(b"compose").digest()),
        {"imr": 3, "digest": _h("app-event")},  # our minimal form: register and digest only
    ]


def _rtmrs(log: list[dict]) -> tuple[bytes, ...]:
    return tuple(replay(parse_events(log)))


@pytest.fixture
def ca() -> TdxTestCA:
    return TdxTestCA()


def _verify(ca: TdxTestCA, rtmrs, events, policy: Policy | None = None):
    q, col = ca.evidence(rtmrs=rtmrs)
    pol = policy or Policy(trusted_roots=(ca.root_fingerprint,))
    trust = TrustStore.default().with_roots([ca.root])
    return verify_tdx(q, col, at=TdxSpec().at, trust=trust, policy=pol, events=events)


def test_replay_by_hand() -> None:
    log = build_log()
    regs = [ZERO48] * 4
    for e in log[1:]:  # the EV_NO_ACTION record is not extended
        regs[e["imr"]] = hashlib.sha384(regs[e["imr"]] + bytes.fromhex(e["digest"])).digest()
    assert list(_rtmrs(log)) == regs
    assert regs[1] == extend(ZERO48, bytes.fromhex(_h("kernel")))


def test_a_log_we_build_replays_and_is_accepted(ca: TdxTestCA) -> None:
    log = build_log()
    v = _verify(ca, _rtmrs(log), parse_events(log))
    assert v.accepted, v.first_failure
    assert v.check("event_log").detail.startswith("9 event(s) replay to RTMR0-3")
    # without a log the row says so and passes (the policy names no event digests)
    assert _verify(ca, _rtmrs(log), None).check("event_log").detail == "no event log given"


def test_dstack_quote_response_shape_and_computed_digests() -> None:
    log = build_log()
    wrapped = json.dumps({"quote": "00", "event_log": json.dumps(log), "vm_config": "{}"})
    assert load_event_log(wrapped) == parse_events(log)
    assert load_event_log(json.dumps({"event_log": log})) == parse_events(log)
    # a runtime event may leave its digest out: it is computed from name and payload
    bare = {k: v for k, v in log[6].items() if k != "digest"}
    assert parse_events([bare])[0].digest.hex() == log[6]["digest"]


CORRUPTIONS = {
    "payload changed": lambda log: log[6].update(event_payload="ff" * 20),
    "name changed": lambda log: log[7].update(event="compose-hash2"),
    "runtime event without payload": lambda log: log[5].pop("event_payload"),
    "unknown key": lambda log: log[2].update(pcr=0),
    "imr out of range": lambda log: log[3].update(imr=4),
    "imr a bool": lambda log: log[3].update(imr=True),
    "imr a string": lambda log: log[3].update(imr="1"),
    "digest short": lambda log: log[1].update(digest="00" * 47),
    "digest not hex": lambda log: log[1].update(digest="zz" * 48),
    "digest a number": lambda log: log[1].update(digest=7),
    "event_type negative": lambda log: log[1].update(event_type=-1),
    "event_type too big": lambda log: log[1].update(event_type=1 << 32),
    "name not a string": lambda log: log[1].update(event=5),
    "event not an object": lambda log: log.__setitem__(4, ["imr", 2]),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupted_log_is_a_typed_error_naming_the_event(case: str) -> None:
    log = build_log()
    CORRUPTIONS[case](log)
    with pytest.raises(EventLogError) as exc:
        load_event_log(json.dumps(log))
    assert exc.value.position is not None and f"event #{exc.value.position}" in str(exc.value)


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"event_log": 3}',
        '{"event_log": "not json"}',
        "7",
        "not json",
        '[{"imr": 0, "imr": 1, "digest": "' + "00" * 48 + '"}]',
        b"\xff\xfe",
    ],
)
def test_a_malformed_log_file_is_a_typed_error(text: str | bytes) -> None:
    with pytest.raises(EventLogError):
        load_event_log(text)


def test_an_event_the_quote_does_not_contain_is_named(ca: TdxTestCA) -> None:
    log = build_log()
    quoted = _rtmrs(log)
    extra = [*log, {"imr": 3, "digest": _h("injected")}, {"imr": 1, "digest": _h("late")}]
    v = _verify(ca, quoted, parse_events(extra))
    assert not v.accepted and v.first_failure.name == "event_log"
    assert v.first_failure.detail.startswith("event #9 (RTMR3")  # the first one not in the quote
    assert "replay of the 4 event(s) before it" in v.first_failure.detail


def test_a_changed_digest_is_a_register_mismatch(ca: TdxTestCA) -> None:
    log = build_log()
    quoted = _rtmrs(log)
    log[3]["digest"] = _h("other kernel")
    m = locate_mismatch(parse_events(log), quoted)
    assert m is not None and m.register == 1 and m.position is None
    v = _verify(ca, quoted, parse_events(log))
    assert v.first_failure.name == "event_log" and "RTMR1" in v.first_failure.detail
    assert "no prefix" in v.first_failure.detail


def test_policy_event_digests(ca: TdxTestCA) -> None:
    log = build_log()
    events = parse_events(log)
    rt3 = [e.digest.hex() for e in events if e.index == 3]
    root = (ca.root_fingerprint,)
    ok = _verify(ca, _rtmrs(log), events, Policy(trusted_roots=root, event_digests={"rtmr3": rt3}))
    assert ok.accepted and "4 policy digest(s) match" in ok.check("event_log").detail
    wrong = [*rt3[:2], _h("expected compose"), rt3[3]]
    v = _verify(ca, _rtmrs(log), events, Policy(trusted_roots=root, event_digests={"rtmr3": wrong}))
    assert not v.accepted and v.first_failure.detail.startswith("event #7 'compose-hash' (RTMR3")
    short = _verify(ca, _rtmrs(log), events, Policy(trusted_roots=root, event_digests={"rtmr3": rt3[:3]}))
    assert short.first_failure.detail.startswith("event #8 (RTMR3")
    longer = _verify(
        ca, _rtmrs(log), events, Policy(trusted_roots=root, event_digests={"rtmr3": [*rt3, _h("x")]})
    )
    assert "the log has 4 event(s), the policy expects 5" in longer.first_failure.detail
    none = _verify(ca, _rtmrs(log), None, Policy(trusted_roots=root, event_digests={"rtmr3": rt3}))
    assert not none.accepted and "no event log was given" in none.check("event_log").detail
    # expected register values are the existing `measurements` (rtmr0..3)
    pinned = Policy(trusted_roots=root, measurements={"rtmr3": _rtmrs(log)[3].hex()})
    assert _verify(ca, _rtmrs(log), events, pinned).accepted


@pytest.mark.parametrize(
    "digests",
    [
        {"rtmr4": []},
        {"mrtd": []},
        {"rtmr3": "00"},
        {"rtmr3": ["zz"]},
        {"rtmr3": ["00" * 32]},
        {"rtmr3": [3]},
    ],
)
def test_bad_event_digests_in_a_policy(digests: dict) -> None:
    with pytest.raises(PolicyError):
        Policy.from_json({"event_digests": digests})


def test_event_digests_roundtrip_and_leave_other_policy_ids_alone() -> None:
    p = Policy(event_digests={"rtmr3": ["0x" + "AB" * 48]})
    assert Policy.from_json(json.loads(json.dumps(p.to_json()))) == p
    assert p.event_digests == {"rtmr3": ("ab" * 48,)} and p.hash() != Policy().hash()
    assert "event_digests" not in Policy().to_json()
    assert Policy().hash().hex() == "c733fb68119ea311fa0d0314b7625593e039fba09f29b3d97b3ab0982745473c"


def test_nitro_refuses_event_logs_and_event_digest_policies() -> None:
    n = NitroTestCA()
    doc = n.document()
    trust = TrustStore.default().with_roots([n.root])
    with pytest.raises(EventLogError):
        verify_evidence(doc, None, at=NitroSpec().timestamp, trust=trust, events=[])
    pol = Policy(trusted_roots=(n.root_fingerprint,), event_digests={"rtmr3": []})
    v = verify_nitro(doc, at=NitroSpec().timestamp, trust=trust, policy=pol)
    assert not v.accepted and v.first_failure.name == "measurements"


def _cli(tmp_path: Path, ca: TdxTestCA, log_text: str, rtmrs, *extra: str) -> int:
    q, col = ca.evidence(rtmrs=rtmrs)
    (tmp_path / "q.bin").write_bytes(q)
    (tmp_path / "c.json").write_text(json.dumps(col.parts))
    (tmp_path / "root.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    (tmp_path / "log.json").write_text(log_text)
    return main(
        [
            "attest", "verify", str(tmp_path / "q.bin"), "--collateral", str(tmp_path / "c.json"),
            "--trust-root", str(tmp_path / "root.pem"), "--at", "2025-06-15T00:00:00Z",
            "--event-log", str(tmp_path / "log.json"), *extra,
        ]
    )  # fmt: skip


def test_cli_event_log(tmp_path: Path, ca: TdxTestCA, capsys) -> None:
    log = build_log()
    rc = _cli(tmp_path, ca, json.dumps({"event_log": json.dumps(log)}), _rtmrs(log))
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["accepted"] and out["checks"][-1]["check"] == "event_log"
    rc = _cli(tmp_path, ca, json.dumps([*log, {"imr": 2, "digest": _h("x")}]), _rtmrs(log))
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["first_failure"]["check"] == "event_log"
    assert out["first_failure"]["detail"].startswith("event #9 (RTMR2")
    bad = build_log()
    bad[6]["event_payload"] = "00"
    rc = _cli(tmp_path, ca, json.dumps(bad), _rtmrs(log))
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["first_failure"]["check"] == "parse"
    assert "EventLogError: event #6: 'app-id': digest does not match" in out["first_failure"]["detail"]


# ---- binary CCEL (TCG2 crypto-agile) logs ------------------------------------------------------------


def _boot_events() -> list:
    return [
        Event(0, bytes.fromhex(_h("td-hob")), 0x80000001, None, b"hob"),
        Event(0, bytes.fromhex(_h("acpi")), 0x0A, None, b"ACPI DATA"),
        Event(1, bytes.fromhex(_h("kernel")), 0x80000003, None, b""),
        Event(2, bytes.fromhex(_h("cmdline")), 0x0D, None, b"console=ttyS0"),
        Event(3, bytes.fromhex(_h("rootfs")), 0x0D, None, b"rootfs"),
    ]


def test_a_ccel_log_we_build_parses_replays_and_is_accepted(ca: TdxTestCA) -> None:
    events = _boot_events()
    raw = ccel_log(events, no_action_at=(2,))
    assert parse_ccel(raw) == events  # the EV_NO_ACTION record is checked and dropped
    assert load_event_log(raw) == events
    coco = json.dumps({"tdx_quote": "…", "cc_eventlog": base64.b64encode(raw).decode()})
    assert load_event_log(coco) == events
    for algorithms in ((0x000C,), (0x0004, 0x000B, 0x000C, 0x000D)):
        assert parse_ccel(ccel_log(events, algorithms=algorithms, padding=bytes(16))) == events
    v = _verify(ca, tuple(replay(events)), parse_ccel(raw))
    assert v.accepted and v.check("event_log").detail.startswith("5 event(s) replay")


def _patch(raw: bytes, offset: int, data: bytes) -> bytes:
    return raw[:offset] + data + raw[offset + len(data) :]


def _first_record(raw: bytes) -> int:
    """Offset of the first TCG_PCR_EVENT2 record (after the Spec ID header)."""
    return 32 + int.from_bytes(raw[28:32], "little")


CCEL_CORRUPTIONS = {
    "truncated in a record": lambda raw: raw[: _first_record(raw) + 30],
    "truncated header": lambda raw: raw[:40],
    "signature": lambda raw: _patch(raw, 32, b"Spec ID Event02\x00"),
    "spec digest not zero": lambda raw: _patch(raw, 8, b"\x01"),
    "no SHA-384": lambda raw: ccel_log(_boot_events(), algorithms=(0x000B,)),
    "algorithm size wrong": lambda raw: _patch(raw, 32 + 24 + 4 + 2, (31).to_bytes(2, "little")),
    "digest count": lambda raw: _patch(raw, _first_record(raw) + 8, (3).to_bytes(4, "little")),
    "unlisted algorithm": lambda raw: _patch(raw, _first_record(raw) + 12, (0x0004).to_bytes(2, "little")),
    "MR index 0 (MRTD)": lambda raw: _patch(raw, _first_record(raw), (0).to_bytes(4, "little")),
    "MR index 5": lambda raw: _patch(raw, _first_record(raw), (5).to_bytes(4, "little")),
    "event size past the end": lambda raw: _patch(
        raw, _first_record(raw) + 12 + 34 + 50, b"\xff\xff\xff\x7f"
    ),
    "garbage after the last record": lambda raw: raw[:-64] + b"\xff" * 10 + b"\x01" + b"\xff" * 53,
    "too large": lambda raw: raw + b"\xff" * (16 << 20),
}


@pytest.mark.parametrize("case", sorted(CCEL_CORRUPTIONS))
def test_a_corrupted_ccel_log_is_a_typed_error(case: str) -> None:
    raw = ccel_log(_boot_events())
    bad = CCEL_CORRUPTIONS[case](raw)
    assert bad != raw
    with pytest.raises(EventLogError):
        load_event_log(bad)


@pytest.mark.parametrize("text", ['{"cc_eventlog": "***"}', '{"cc_eventlog": 5}', '{"cc_eventlog": "AAAA"}'])
def test_bad_coco_evidence_is_a_typed_error(text: str) -> None:
    with pytest.raises(EventLogError):
        load_event_log(text)


def test_cli_ccel_mismatch_names_the_first_event(tmp_path: Path, ca: TdxTestCA, capsys) -> None:
    events = _boot_events()
    late = [*events[:3], Event(1, bytes.fromhex(_h("module")), 0x0D, None, b""), *events[3:]]
    (tmp_path / "ccel.bin").write_bytes(ccel_log(late))
    q, col = ca.evidence(rtmrs=tuple(replay(events)))
    (tmp_path / "q.bin").write_bytes(q)
    (tmp_path / "c.json").write_text(json.dumps(col.parts))
    (tmp_path / "root.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    rc = main(
        [
            "attest", "verify", str(tmp_path / "q.bin"), "--collateral", str(tmp_path / "c.json"),
            "--trust-root", str(tmp_path / "root.pem"), "--at", "2025-06-15T00:00:00Z",
            "--event-log", str(tmp_path / "ccel.bin"),
        ]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["first_failure"]["check"] == "event_log"
    assert out["first_failure"]["detail"].startswith("event #3 (RTMR1")


# ---- dstack runtime-event digest versions -------------------------------------------------------
# Vectors derived from the rule's definition, dstack/cc-eventlog/src/runtime_events.rs
# (RuntimeEvent::preimage, canonical_event_json_v2) and dstack/dstack-types/src/lib.rs
# (EventLogVersion): v1 hashes le32(type) ":" name ":" payload; v2 hashes the RFC 8785 canonical
# JSON {"name","payload" (lowercase hex),"type": 134217729}. The expected preimages are written out
# by hand here, not produced by the code under test.

V2_VECTORS = [
    ("compose-hash", b"\xab\xcd", b'{"name":"compose-hash","payload":"abcd","type":134217729}'),
    ("", b"", b'{"name":"","payload":"","type":134217729}'),
    (
        'event"with\\special\nchars',
        b"\xff",
        b'{"name":"event\\"with\\\\special\\nchars","payload":"ff","type":134217729}',
    ),
    (
        "\x08\x0c\n\r\t\x01\x1f\x7f",
        b"",
        b'{"name":"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f","payload":"","type":134217729}',
    ),
    ("测试-🦀", b"\xab\xcd\xef", '{"name":"测试-🦀","payload":"abcdef","type":134217729}'.encode()),
]


@pytest.mark.parametrize(("name", "payload", "preimage"), V2_VECTORS)
def test_dstack_v2_digest_is_sha384_of_the_canonical_json(name: str, payload: bytes, preimage: bytes) -> None:
    assert dstack_event_preimage(name, payload, 2) == preimage
    assert dstack_event_digest(name, payload, 2) == hashlib.sha384(preimage).digest()
    assert json.loads(preimage) == {"name": name, "payload": payload.hex(), "type": DSTACK_EVENT_TYPE}


def test_dstack_v1_digest_vector() -> None:
    want = hashlib.sha384(b"\x01\x00\x00\x08:app-id:\xde\xad\xbe\xef").digest()
    assert dstack_event_digest("app-id", b"\xde\xad\xbe\xef") == want
    assert dstack_event_digest("app-id", b"\xde\xad\xbe\xef", 1) == want
    assert dstack_event_digest("app-id", b"\xde\xad\xbe\xef", 2) != want


def _runtime_v2(name: str, payload: bytes, preimage: bool = True) -> dict:
    e = {**_runtime(name, payload), "version": 2, "digest": dstack_event_digest(name, payload, 2).hex()}
    if preimage:
        e["preimage"] = dstack_event_preimage(name, payload, 2).hex()
    return e


def test_a_log_with_v2_runtime_events_replays_and_is_accepted(ca: TdxTestCA) -> None:
    log = [
        *build_log(),
        _runtime_v2("instance-id", b"\x05\x06"),
        _runtime_v2("boot-done", b"", preimage=False),
    ]
    events = parse_events(log)
    assert [e.version for e in events[-3:]] == [1, 2, 2]
    assert (
        events[-2].digest
        == hashlib.sha384(b'{"name":"instance-id","payload":"0506","type":134217729}').digest()
    )
    assert parse_events([e.to_json() for e in events]) == events  # version survives a round trip
    v = _verify(ca, _rtmrs(log), events)
    assert v.accepted, v.first_failure
    bare = {k: val for k, val in log[-2].items() if k not in ("digest", "preimage")}
    assert parse_events([bare])[0].digest == events[-2].digest  # digest computed by the v2 rule


V2_CORRUPTIONS = {
    "v2 event with its v1 digest": lambda e: e.update(digest=dstack_event_digest("app-id", b"\x01", 1).hex()),
    "v1 event with a v2 digest": lambda e: e.update(version=1),
    "preimage not canonical": lambda e: e.update(
        preimage=b'{"name":"app-id","type":134217729,"payload":"01"}'.hex()
    ),
    "preimage not hex": lambda e: e.update(preimage="xyz"),
    "version a string": lambda e: e.update(version="2"),
    "version a bool": lambda e: e.update(version=True),
    "version on a TCG event": lambda e: e.update(event_type=0x0000000D),
    "name a lone surrogate": lambda e: e.update(event="\ud800"),
}


@pytest.mark.parametrize("case", sorted(V2_CORRUPTIONS))
def test_a_bad_v2_event_is_a_typed_error(case: str) -> None:
    e = _runtime_v2("app-id", b"\x01")
    V2_CORRUPTIONS[case](e)
    with pytest.raises(EventLogError) as exc:
        load_event_log(json.dumps([build_log()[1], e]))
    assert exc.value.position == 1 and "event #1" in str(exc.value)


@pytest.mark.parametrize("version", [0, 3, 1 << 40, -1])
def test_an_unknown_event_version_is_its_own_error(version: int) -> None:
    e = {**_runtime_v2("app-id", b"\x01"), "version": version}
    with pytest.raises(UnknownEventVersionError, match=f"version {version} is unknown") as exc:
        parse_events([e])
    assert exc.value.position == 0
    with pytest.raises(UnknownEventVersionError):
        dstack_event_digest("app-id", b"\x01", version)


def test_a_non_runtime_event_preimage_must_hash_to_its_digest() -> None:
    pre = b"firmware blob"
    ok = {
        "imr": 1,
        "event_type": 0x80000003,
        "digest": hashlib.sha384(pre).hexdigest(),
        "preimage": pre.hex(),
    }
    assert parse_events([ok])[0].digest == hashlib.sha384(pre).digest()
    with pytest.raises(EventLogError, match="does not hash"):
        parse_events([{**ok, "preimage": b"other".hex()}])


# ---- confidential-containers' AAEL records in cc_eventlog --------------------------------------
# The event data of an AAEL record is a TCG_PCClientTaggedEvent: le32 "AAEL" tag id (0x4141454C,
# bytes "LEAA"), le32 size, then "<domain> <operation> <content>" (trustee's AAEL specification;
# guest-components attestation-agent/src/eventlog/tcg2.rs); every digest hashes that event data.

PULL = (
    b'github.com/confidential-containers PullImage {"digest":"sha256:' + b"0c" * 32 + b'","image":"alpine"}'
)


def _tagged(text: bytes, size: int | None = None) -> bytes:
    return b"LEAA" + (len(text) if size is None else size).to_bytes(4, "little") + text


def _aael(text: bytes, digest: bytes | None = None) -> Event:
    data = _tagged(text)
    return Event(3, digest or hashlib.sha384(data).digest(), 0x00000006, None, data)


def test_aael_records_are_parsed_and_their_digests_recomputed(ca: TdxTestCA) -> None:
    events = [*_boot_events(), _aael(PULL), _aael(b"domain operation content with spaces")]
    for algorithms in ((0x000C,), (0x000B, 0x000C), (0x0004, 0x000B, 0x000C, 0x000D)):
        parsed = parse_ccel(ccel_log(events, algorithms=algorithms))
        assert [e.name for e in parsed[-2:]] == [
            "github.com/confidential-containers PullImage",
            "domain operation",
        ]
        assert parsed[-2].digest == hashlib.sha384(b"LEAA" + len(PULL).to_bytes(4, "little") + PULL).digest()
        assert parsed[-1].index == 3 and parsed[-1].payload == _tagged(
            b"domain operation content with spaces"
        )
    parsed = parse_ccel(ccel_log(events))
    v = _verify(ca, tuple(replay(parsed)), parsed)
    assert v.accepted, v.first_failure


AAEL_BAD = {
    "digest of other text": _aael(PULL, hashlib.sha384(_tagged(b"a b c")).digest()),
    "two fields": _aael(b"domain operation"),
    "empty content": _aael(b"domain operation "),
    "double space": _aael(b"domain  operation content"),
    "leading space": _aael(b" domain operation content"),
    "line feed": _aael(b"domain operation con\ntent"),
    "carriage return": _aael(b"domain operation content\r"),
    "tab": _aael(b"domain\toperation content x"),
    "non-ASCII": _aael("domain operation caf\u00e9".encode()),
    "size short": Event(3, hashlib.sha384(_tagged(b"a b c", 4)).digest(), 6, None, _tagged(b"a b c", 4)),
    "size past the end": Event(
        3, hashlib.sha384(_tagged(b"a b c", 9)).digest(), 6, None, _tagged(b"a b c", 9)
    ),
    "no size": Event(3, hashlib.sha384(b"LEAA\x01").digest(), 6, None, b"LEAA\x01"),
}


@pytest.mark.parametrize("case", sorted(AAEL_BAD))
def test_a_bad_aael_record_is_a_typed_error(case: str) -> None:
    raw = ccel_log([*_boot_events(), AAEL_BAD[case]], algorithms=(0x000B, 0x000C))
    with pytest.raises(EventLogError, match="record 6"):
        load_event_log(raw)


def test_a_wrong_sha256_of_an_aael_record_is_caught() -> None:
    raw = ccel_log([_aael(PULL)], algorithms=(0x000B, 0x000C))
    at = raw.index(hashlib.sha256(_tagged(PULL)).digest())
    with pytest.raises(EventLogError, match="sha256 digest does not match"):
        parse_ccel(_patch(raw, at, bytes(32)))
