"""offchain.chain.compute_avs without a chain: what an operator checks before signing an enclave
enrolment (Nitro-format and TDX evidence), the statement and key-possession encodings, typed errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.chain.compute_avs import (
    ENROLMENT_DOMAIN,
    EnrolmentError,
    EnrolmentStatement,
    possession_digest,
    registration_data,
    sign_digest,
    verify_enclave,
)
from offchain.compute.devtee import DevTEE, dev_policy
from offchain.compute.eventlog import Event, dstack_event_digest, image_event_digest, replay
from offchain.compute.pki import TrustStore
from offchain.compute.policy import Policy
from offchain.compute.receipt import key_binding, recover
from offchain.compute.testca import NitroTestCA, TdxSpec, TdxTestCA
from offchain.errors import ChainError, EigenError

IMAGE = keccak(b"image")
AVS = "0x" + "aa" * 20
OP = "0x" + "bb" * 20
KEY = keys.PrivateKey(keccak(b"operator signing key"))


def _statement(**kw):
    base = dict(
        chain_id=31337,
        avs=AVS,
        app_id=b"\x01" * 32,
        image_digest=IMAGE,
        policy_hash=b"\x02" * 32,
        enclave_key="0x" + "cc" * 20,
        evidence_hash=b"\x03" * 32,
        operator=OP,
        verified_at=1_700_000_000,
    )
    base.update(kw)
    return EnrolmentStatement(**base)


def test_errors_are_typed():
    assert issubclass(EnrolmentError, ChainError) and issubclass(EnrolmentError, EigenError)


def test_statement_digest_and_signatures():
    st = _statement()
    assert len(st.digest()) == 32 and st.digest() != _statement(verified_at=1_700_000_001).digest()
    assert st.digest() != _statement(operator="0x" + "dd" * 20).digest()
    ks = [keys.PrivateKey(keccak(b"k%d" % i)) for i in range(4)]
    sigs = st.sign(ks)
    signers = [recover(st.digest(), r + s + bytes([v])) for v, r, s in sigs]
    assert signers == sorted(signers, key=lambda a: int(a, 16))  # ascending, as the contract requires
    assert ENROLMENT_DOMAIN == keccak(b"eigen.avs.EnclaveEnrolment.v1")
    with pytest.raises(EnrolmentError, match="duplicate"):
        st.sign([ks[0], ks[0]])


@pytest.mark.parametrize(
    "bad",
    [
        {"app_id": b"\x01" * 31},
        {"avs": "0x1234"},
        {"operator": "bb" * 21},
        {"enclave_key": "0x" + "zz" * 20},
        {"verified_at": -1},
        {"chain_id": True},
        {"evidence_hash": "00" * 32},
    ],
)
def test_statement_rejects_malformed_fields(bad):
    with pytest.raises(EnrolmentError):
        _statement(**bad)


def test_registration_data_proves_possession():
    data = registration_data(31337, AVS, OP, KEY)
    key, v, r, s = abi_decode(["address", "uint8", "bytes32", "bytes32"], data)
    addr = KEY.public_key.to_checksum_address().lower()
    assert key.lower() == addr
    assert recover(possession_digest(31337, AVS, OP, addr), r + s + bytes([v])) == addr
    assert int.from_bytes(s, "big") <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
    with pytest.raises(EnrolmentError):
        sign_digest(KEY, b"short")


def test_nitro_evidence_from_dev_tee():
    ca = NitroTestCA(seed=b"chain tests")
    tee = DevTEE(ca, IMAGE)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    ev = tee.evidence(at)
    trust = TrustStore.default().with_roots([ca.root])
    ok = verify_enclave(ev, image_digest=IMAGE, policy=dev_policy(ca, IMAGE), at=at, trust=trust)
    assert ok.enclave_key == tee.address and ok.evidence_hash == keccak(ev)
    with pytest.raises(EnrolmentError, match="evidence rejected"):  # root not named
        verify_enclave(ev, image_digest=IMAGE, policy=dev_policy(ca, IMAGE), at=at)
    with pytest.raises(EnrolmentError, match="evidence rejected"):  # long after the certificate expired
        verify_enclave(
            ev,
            image_digest=IMAGE,
            policy=dev_policy(ca, IMAGE),
            at=datetime(2027, 1, 1, tzinfo=UTC),
            trust=trust,
        )
    # a policy that expects this image's PCR0 but is asked about another image: PCR16 mismatch
    pol = Policy(
        trusted_roots=(ca.root_fingerprint,),
        measurements={"pcr0": dev_policy(ca, IMAGE).measurements["pcr0"]},
    )
    with pytest.raises(EnrolmentError, match="PCR16"):
        verify_enclave(ev, image_digest=keccak(b"other"), policy=pol, at=at, trust=trust)


def test_tdx_evidence_binds_key_and_image():
    tca = TdxTestCA()
    key = keys.PrivateKey(keccak(b"enclave"))
    addr = key.public_key.to_checksum_address().lower()
    events = [Event(3, dstack_event_digest("system-ready", b"")), Event(3, image_event_digest(IMAGE))]
    quote, col = tca.evidence(reportdata=key_binding(addr) + b"\x00" * 32, rtmrs=tuple(replay(events)))
    pol = Policy(trusted_roots=(tca.root_fingerprint,), measurements={"mrtd": bytes(range(48)).hex()})
    trust = TrustStore.default().with_roots([tca.root])
    at = TdxSpec().at
    log = [e.to_json() for e in events]
    ok = verify_enclave(
        quote,
        image_digest=IMAGE,
        policy=pol,
        at=at,
        trust=trust,
        collateral=col,
        event_log=log,
        enclave_key=addr,
    )
    assert ok.enclave_key == addr
    with pytest.raises(EnrolmentError, match="name the enclave key"):
        verify_enclave(
            quote, image_digest=IMAGE, policy=pol, at=at, trust=trust, collateral=col, event_log=log
        )
    with pytest.raises(EnrolmentError, match="REPORTDATA"):
        verify_enclave(
            quote,
            image_digest=IMAGE,
            policy=pol,
            at=at,
            trust=trust,
            collateral=col,
            event_log=log,
            enclave_key="0x" + "11" * 20,
        )
    with pytest.raises(EnrolmentError, match="no RTMR3 event"):
        verify_enclave(
            quote,
            image_digest=keccak(b"other"),
            policy=pol,
            at=at,
            trust=trust,
            collateral=col,
            event_log=log,
            enclave_key=addr,
        )
    with pytest.raises(EnrolmentError, match="replay"):
        verify_enclave(
            quote,
            image_digest=IMAGE,
            policy=pol,
            at=at,
            trust=trust,
            collateral=col,
            event_log=log[:1],
            enclave_key=addr,
        )
    with pytest.raises(EnrolmentError, match="measurements"):
        verify_enclave(
            quote,
            image_digest=IMAGE,
            policy=Policy(trusted_roots=(tca.root_fingerprint,)),
            at=at,
            trust=trust,
            collateral=col,
            event_log=log,
            enclave_key=addr,
        )
