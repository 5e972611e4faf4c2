"""ComputeAVS: the image registry, enclave-key enrolment by a stake-weighted threshold, receipts
checked against both, and fault proofs that slash through the AllocationManager, with the
development TEE making real Nitro-format evidence and signed receipts."""

from __future__ import annotations

import ape
import pytest
from eth_hash.auto import keccak

from offchain.chain.compute_avs import EnrolmentError, EnrolmentStatement, receipt_args, verify_enclave
from offchain.compute.devtee import dev_policy
from offchain.compute.pki import TrustStore
from offchain.compute.receipt import Receipt, receipt_abi, verify_receipt
from offchain.compute.testca import NitroTestCA
from tests.contracts.support import COMPUTE_SET, FAULT_WAD, TTL, WAD, ZERO, evs, reverts

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def warp(cw, seconds):
    cw.chain.pending_timestamp = cw.chain.blocks.head.timestamp + seconds
    cw.chain.mine()


def replace(bundle_receipt, **changes):
    return Receipt(**{**{n: getattr(bundle_receipt, n) for n in receipt_abi()[1]}, **changes})


# ---------------------------------------------------------------- encodings


def test_receipt_digest_matches_offchain(cw):
    tee = cw.tee()
    for inp, out in ((b"", b""), (b"2+2", b"4"), (b"x" * 1000, b"y")):
        r = cw.receipt(tee, inp, out).receipt
        assert cw.avs.receiptDigest(tuple(r.values())) == r.digest()
    r2 = replace(r, timestamp=2**256 - 1, platform=1, chainId=2**64)
    assert cw.avs.receiptDigest(tuple(r2.values())) == r2.digest()


def test_enrolment_digest_matches_offchain(cw):
    st = cw.statement(cw.tee())
    assert (
        cw.avs.enrolmentDigest(
            st.app_id, st.image_digest, st.enclave_key, st.evidence_hash, st.operator, st.verified_at
        )
        == st.digest()
    )


# ---------------------------------------------------------------- image registry


def test_register_app_and_images(cw):
    w, o = cw.w, cw.app_owner
    app = cw.avs.apps(cw.app_id)
    assert (
        app.owner == o.address
        and app.operatorSetId == COMPUTE_SET
        and app.deterministic
        and app.currentImage == cw.image
    )
    assert cw.avs.isImageActive(cw.app_id, cw.image)
    reverts("app exists", cw.avs.registerApp, cw.app_id, COMPUTE_SET, False, sender=w.other)
    reverts("zero app id", cw.avs.registerApp, b"\x00" * 32, COMPUTE_SET, False, sender=w.other)
    reverts("set not managed", cw.avs.registerApp, keccak(b"x"), 99, False, sender=w.other)
    v2 = keccak(b"image v2")
    reverts("only app owner", cw.avs.registerImage, cw.app_id, v2, "v2", cw.policy.hash(), 0, sender=w.other)
    reverts("unknown app", cw.avs.registerImage, keccak(b"nope"), v2, "v2", cw.policy.hash(), 0, sender=o)
    reverts(
        "image exists", cw.avs.registerImage, cw.app_id, cw.image, "v1 again", cw.policy.hash(), 0, sender=o
    )
    reverts(
        "zero image digest",
        cw.avs.registerImage,
        cw.app_id,
        b"\x00" * 32,
        "v2",
        cw.policy.hash(),
        0,
        sender=o,
    )
    reverts("zero policy hash", cw.avs.registerImage, cw.app_id, v2, "v2", b"\x00" * 32, 0, sender=o)
    now = cw.chain.blocks.head.timestamp
    reverts(
        "deadline in the past",
        cw.avs.registerImage,
        cw.app_id,
        v2,
        "v2",
        cw.policy.hash(),
        now - 10,
        sender=o,
    )
    r = cw.avs.registerImage(cw.app_id, v2, "v2.0.0", cw.policy.hash(), now + 100, sender=o)
    ev = evs(r, "ImageRegistered")[0]
    assert ev.version == "v2.0.0" and ev.previousImage == cw.image and ev.upgradeBy == now + 100
    assert cw.avs.images(cw.app_id, cw.image).validUntil == now + 100
    assert cw.avs.apps(cw.app_id).currentImage == v2 and cw.avs.apps(cw.app_id).imageCount == 2
    assert cw.avs.isImageActive(cw.app_id, cw.image) and cw.avs.isImageActive(cw.app_id, v2)
    # a later v3 with a later deadline does not extend v1's
    v3 = keccak(b"image v3")
    cw.avs.registerImage(cw.app_id, v3, "v3", cw.policy.hash(), now + 1000, sender=o)
    assert cw.avs.images(cw.app_id, cw.image).validUntil == now + 100
    assert cw.avs.images(cw.app_id, v2).validUntil == now + 1000
    warp(cw, 101)
    assert not cw.avs.isImageActive(cw.app_id, cw.image)
    assert cw.avs.isImageActive(cw.app_id, v2)
    r = cw.avs.revokeImage(cw.app_id, v3, sender=o)
    assert evs(r, "ImageRevoked")[0].imageDigest == v3
    assert not cw.avs.isImageActive(cw.app_id, v3)
    reverts("image inactive", cw.avs.revokeImage, cw.app_id, v3, sender=o)
    reverts("unknown image", cw.avs.revokeImage, cw.app_id, keccak(b"never"), sender=o)
    reverts("only app owner", cw.avs.revokeImage, cw.app_id, v2, sender=w.other)


def test_transfer_app_ownership(cw):
    w, o = cw.w, cw.app_owner
    reverts("only app owner", cw.avs.transferAppOwnership, cw.app_id, w.other, sender=w.other)
    reverts("zero owner", cw.avs.transferAppOwnership, cw.app_id, ZERO, sender=o)
    r = cw.avs.transferAppOwnership(cw.app_id, w.other, sender=o)
    assert evs(r, "AppOwnershipTransferred")[0].newOwner == w.other.address
    cw.avs.registerImage(
        cw.app_id,
        keccak(b"by new owner"),
        "v2",
        cw.policy.hash(),
        cw.chain.blocks.head.timestamp + 5,
        sender=w.other,
    )


# ---------------------------------------------------------------- enrolment


def test_enrol_with_threshold(cw):
    tee = cw.tee()
    r = cw.enrol(tee, op_index=2, signers=(0, 1))
    ev = evs(r, "EnclaveKeyEnrolled")[0]
    assert ev.enclaveKey.lower() == tee.address and ev.operator == cw.ops[2].address
    assert (ev.signedStake, ev.totalStake) == (80 * WAD, 100 * WAD)
    e = cw.avs.enclaves(tee.address)
    assert e.operator == cw.ops[2].address and e.imageDigest == cw.image and not e.revoked
    cw.enrol(tee, op_index=0, signers=(0, 1, 2), expect="enclave key enrolled")


def test_enrol_reverts(cw, accounts):
    tee = cw.tee()
    cw.enrol(tee, signers=(0,), expect="threshold not met")
    cw.enrol(tee, signers=(1, 2), expect="threshold not met")
    st = cw.statement(tee)
    sigs = st.sign([cw.keys[0], cw.keys[1]])
    args = (st.app_id, st.image_digest, st.enclave_key, st.evidence_hash, st.verified_at, sigs)
    reverts("operator not in set", cw.avs.enrollEnclaveKey, *args, sender=cw.w.staker)
    # the statement names operator 0: another operator submitting it changes the digest
    reverts("signer not in set", cw.avs.enrollEnclaveKey, *args, sender=cw.ops[1])
    reverts(
        "signer not in set",
        cw.avs.enrollEnclaveKey,
        st.app_id,
        st.image_digest,
        st.enclave_key,
        keccak(b"other"),
        st.verified_at,
        sigs,
        sender=cw.ops[0],
    )  # a different evidence hash than what was signed
    reverts(
        "zero enclave key",
        cw.avs.enrollEnclaveKey,
        st.app_id,
        st.image_digest,
        ZERO,
        st.evidence_hash,
        st.verified_at,
        sigs,
        sender=cw.ops[0],
    )
    reverts("unknown app", cw.avs.enrollEnclaveKey, keccak(b"nope"), *args[1:], sender=cw.ops[0])
    reverts(
        "image not active",
        cw.avs.enrollEnclaveKey,
        st.app_id,
        keccak(b"unregistered"),
        *args[2:],
        sender=cw.ops[0],
    )
    future = EnrolmentStatement(**{**st.__dict__, "verified_at": st.verified_at + 3600})
    reverts(
        "verified in the future",
        cw.avs.enrollEnclaveKey,
        *args[:4],
        future.verified_at,
        future.sign([cw.keys[0], cw.keys[1]]),
        sender=cw.ops[0],
    )
    warp(cw, TTL + 1)
    reverts("statement expired", cw.avs.enrollEnclaveKey, *args, sender=cw.ops[0])
    # every member deallocates: nothing left to weigh
    for op in cw.ops:
        cw.allocate(op, 0)
    cw.chain.mine(25)
    cw.enrol(tee, expect="no stake in set")


def test_offchain_verification_refuses_bad_evidence(cw):
    tee = cw.tee()
    at = cw.now()
    ev = tee.evidence(at)
    # an untrusted root (the dev CA not named)
    with pytest.raises(EnrolmentError, match="evidence rejected"):
        verify_enclave(ev, image_digest=cw.image, policy=cw.policy, at=at, trust=TrustStore.default())
    # evidence for another image than the one being enrolled
    other = keccak(b"other image")
    with pytest.raises(EnrolmentError):
        verify_enclave(ev, image_digest=other, policy=dev_policy(cw.ca, other), at=at, trust=cw.trust)
    # a policy without measurements
    with pytest.raises(EnrolmentError, match="measurements"):
        verify_enclave(
            ev,
            image_digest=cw.image,
            policy=dev_policy(cw.ca, cw.image).__class__(trusted_roots=(cw.ca.root_fingerprint,)),
            at=at,
            trust=cw.trust,
        )
    # another CA's document
    rogue = NitroTestCA(seed=b"rogue")
    with pytest.raises(EnrolmentError):
        verify_enclave(
            cw.tee().__class__(rogue, cw.image).evidence(at),
            image_digest=cw.image,
            policy=cw.policy,
            at=at,
            trust=cw.trust,
        )
    with pytest.raises(EnrolmentError):  # garbage
        verify_enclave(b"\x00" * 100, image_digest=cw.image, policy=cw.policy, at=at, trust=cw.trust)
    with pytest.raises(EnrolmentError, match="not the named"):
        verify_enclave(
            ev, image_digest=cw.image, policy=cw.policy, at=at, trust=cw.trust, enclave_key="0x" + "11" * 20
        )
    ok = verify_enclave(
        ev, image_digest=cw.image, policy=cw.policy, at=at, trust=cw.trust, enclave_key=tee.address
    )
    assert ok.enclave_key == tee.address and ok.verdict.accepted


def test_revoke_enclave_key(cw):
    tee = cw.tee()
    cw.enrol(tee)
    reverts("only operator or app owner", cw.avs.revokeEnclaveKey, tee.address, sender=cw.w.other)
    reverts("unknown enclave key", cw.avs.revokeEnclaveKey, "0x" + "22" * 20, sender=cw.app_owner)
    r = cw.avs.revokeEnclaveKey(tee.address, sender=cw.app_owner)
    assert evs(r, "EnclaveKeyRevoked")[0].by == cw.app_owner.address
    reverts("enclave key revoked", cw.avs.revokeEnclaveKey, tee.address, sender=cw.ops[0])
    cw.submit(cw.receipt(tee), expect="enclave key revoked")


# ---------------------------------------------------------------- receipts


def test_receipt_from_dev_tee_accepted(cw):
    tee = cw.tee()
    cw.enrol(tee)
    b = cw.receipt(tee, b"2+2", b"4")
    assert verify_receipt(b, trust=cw.trust).accepted  # off-chain: evidence, binding, signature
    r = cw.submit(b)
    ev = evs(r, "ReceiptAccepted")[0]
    assert ev.digest == b.receipt.digest() and ev.operator == cw.ops[0].address
    assert ev.outputHash == keccak(b"4") and ev.enclaveSigner.lower() == tee.address
    assert cw.avs.receiptAccepted(b.receipt.digest())
    key = keccak(b.receipt.appId + b.receipt.imageDigest + b.receipt.inputHash)
    assert cw.avs.acceptedOutput(key) == keccak(b"4")
    cw.submit(b, expect="receipt already accepted")
    # a second receipt with another output is accepted as a receipt; the first output stays recorded
    cw.submit(cw.receipt(tee, b"2+2", b"5"))
    assert cw.avs.acceptedOutput(key) == keccak(b"4")


def test_receipt_reverts(cw):
    tee = cw.tee()
    cw.enrol(tee)
    b = cw.receipt(tee)
    r, (v, rr, s) = receipt_args(b)
    cw.submit(cw.receipt(tee, chain_id=1), expect="wrong chain")
    cw.submit(cw.receipt(cw.tee()), expect="enclave key not enrolled")
    reverts(
        "not signed by enclave key",
        cw.avs.submitReceipt,
        tuple(replace(b.receipt, outputHash=keccak(b"5")).values()),
        (v, rr, s),
        sender=cw.w.other,
    )
    high = (55 - v, rr, (N - int.from_bytes(s, "big")).to_bytes(32, "big"))
    reverts("high s", cw.avs.submitReceipt, r, high, sender=cw.w.other)
    cw.submit(cw.receipt(tee, app_id=keccak(b"nope")), expect="unknown app")
    # the key is enrolled for image v1 only
    v2 = keccak(b"image v2")
    cw.avs.registerImage(
        cw.app_id, v2, "v2", cw.policy.hash(), cw.chain.blocks.head.timestamp + 100, sender=cw.app_owner
    )
    reverts(
        "key not enrolled for image",
        cw.avs.submitReceipt,
        tuple(replace(b.receipt, imageDigest=v2).values()),
        (v, rr, s),
        sender=cw.w.other,
    )
    cw.submit(cw.receipt(tee, policy=dev_policy(cw.ca, cw.image, max_age_s=60)), expect="wrong policy")
    cw.submit(cw.receipt(tee, at=cw.now().replace(year=cw.now().year + 1)), expect="receipt from the future")
    # past the upgrade deadline, v1 receipts are refused
    warp(cw, 101)
    cw.submit(cw.receipt(tee), expect="image not active")


# ---------------------------------------------------------------- faults


def test_fault_slashes_operator_and_redistributes(cw):
    w = cw.w
    tee = cw.tee()
    cw.enrol(tee, op_index=0)
    a, b = cw.receipt(tee, b"2+2", b"4"), cw.receipt(tee, b"2+2", b"5")
    cw.submit(a)
    tka = w.strats["TKA"]
    before = w.dm.operatorShares(cw.ops[0], tka)
    alloc_before = w.am.getAllocatedStake((cw.avs.address, COMPUTE_SET), [cw.ops[0]], [tka])[0][0]
    ra, sa = receipt_args(a)
    rb, sb = receipt_args(b)
    rc = cw.avs.proveFault(ra, sa, rb, sb, sender=w.staker)
    assert rc.return_value == 1
    ev = evs(rc, "FaultProven")[0]
    assert (
        ev.operator == cw.ops[0].address
        and ev.receiptA == a.receipt.digest()
        and ev.receiptB == b.receipt.digest()
    )
    slashed = alloc_before * FAULT_WAD // WAD
    assert w.dm.operatorShares(cw.ops[0], tka) == before - slashed
    assert w.tokens["TKA"].balanceOf(w.esc) == slashed
    assert cw.avs.faultSlashed(ev.faultKey, cw.ops[0])
    assert cw.avs.faultSlashId(ev.faultKey, cw.ops[0]) == ev.slashId != 0  # whose fate judges it
    # other operators are untouched
    assert w.dm.operatorShares(cw.ops[1], tka) == 60 * WAD
    reverts("fault already proven", cw.avs.proveFault, rb, sb, ra, sa, sender=w.staker)
    with ape.reverts("resolution window open"):
        w.esc.releaseSlash(cw.avs, COMPUTE_SET, ev.slashId, sender=w.other)
    w.mine(11)
    w.esc.releaseSlash(cw.avs, COMPUTE_SET, ev.slashId, sender=w.other)
    assert w.tokens["TKA"].balanceOf(w.recipient) == slashed


def test_fault_two_operators_and_resolver_cancel(cw):
    w = cw.w
    t0, t1 = cw.tee(), cw.tee()
    cw.enrol(t0, op_index=0)
    cw.enrol(t1, op_index=1)
    a, b = cw.receipt(t0, b"q", b"honest"), cw.receipt(t1, b"q", b"forged")
    rc = cw.avs.proveFault(*receipt_args(a), *receipt_args(b), sender=w.other)
    assert rc.return_value == 2
    proven = evs(rc, "FaultProven")
    assert {e.operator for e in proven} == {cw.ops[0].address, cw.ops[1].address}
    honest = [e for e in proven if e.operator == cw.ops[0].address][0]
    tka = w.strats["TKA"]
    w.esc.cancelSlash(cw.avs, COMPUTE_SET, honest.slashId, sender=w.resolver)  # after re-execution off-chain
    assert w.dm.operatorShares(cw.ops[0], tka) == 100 * WAD
    assert w.dm.operatorShares(cw.ops[1], tka) == 60 * WAD - 30 * WAD * FAULT_WAD // WAD


def test_fault_reverts(cw):
    w = cw.w
    tee = cw.tee()
    cw.enrol(tee)
    a = cw.receipt(tee, b"in", b"out")
    reverts(
        "outputs agree",
        cw.avs.proveFault,
        *receipt_args(a),
        *receipt_args(cw.receipt(tee, b"in", b"out")),
        sender=w.other,
    )
    reverts(
        "receipts not comparable",
        cw.avs.proveFault,
        *receipt_args(a),
        *receipt_args(cw.receipt(tee, b"in2", b"x")),
        sender=w.other,
    )
    ra, (v, r, s) = receipt_args(a)
    forged = replace(a.receipt, outputHash=keccak(b"forged"))
    reverts(
        "not signed by enclave key",
        cw.avs.proveFault,
        ra,
        (v, r, s),
        tuple(forged.values()),
        (v, r, s),
        sender=w.other,
    )
    stranger = cw.tee()
    reverts(
        "enclave key not enrolled",
        cw.avs.proveFault,
        ra,
        (v, r, s),
        *receipt_args(cw.receipt(stranger, b"in", b"x")),
        sender=w.other,
    )
    reverts(
        "unknown app",
        cw.avs.proveFault,
        *receipt_args(cw.receipt(tee, app_id=keccak(b"nope"))),
        ra,
        (v, r, s),
        sender=w.other,
    )
    # a non-deterministic app: differing outputs are no fault
    nd = keccak(b"app: sampler")
    cw.avs.registerApp(nd, COMPUTE_SET, False, sender=cw.app_owner)
    reverts(
        "app not deterministic",
        cw.avs.proveFault,
        *receipt_args(cw.receipt(tee, b"i", b"1", app_id=nd)),
        *receipt_args(cw.receipt(tee, b"i", b"2", app_id=nd)),
        sender=w.other,
    )


def test_fault_skips_operator_no_longer_slashable(cw):
    w = cw.w
    tee = cw.tee()
    cw.enrol(tee, op_index=2)
    a, b = cw.receipt(tee, b"i", b"1"), cw.receipt(tee, b"i", b"2")
    w.am.deregisterFromOperatorSets((cw.ops[2], cw.avs, [COMPUTE_SET]), sender=cw.ops[2])
    w.mine(21)  # past DEALLOCATION_DELAY
    rc = cw.avs.proveFault(*receipt_args(a), *receipt_args(b), sender=w.other)
    assert rc.return_value == 0
    ev = evs(rc, "FaultOperatorNotSlashable")[0]
    assert ev.operator == cw.ops[2].address
    assert w.dm.operatorShares(cw.ops[2], w.strats["TKA"]) == 40 * WAD
    # found at fault all the same (nothing slashed, nothing for a resolver to cancel), once
    assert cw.avs.faultSlashed(ev.faultKey, cw.ops[2]) and cw.avs.faultSlashId(ev.faultKey, cw.ops[2]) == 0
    reverts("fault already proven", cw.avs.proveFault, *receipt_args(b), *receipt_args(a), sender=w.other)
