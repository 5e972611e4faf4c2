"""OperatorSetSigCheck (through ComputeAVS): signing keys with proof of possession, membership from
the AllocationManager's registrar callbacks, and the stake-weighted threshold check."""

from __future__ import annotations

import ape
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.chain.compute_avs import key_address, possession_digest, registration_data, sign_digest
from tests.contracts.support import COMPUTE_SET, THRESHOLD, WAD, ZERO, evs, reverts

N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MSG = keccak(b"message M")


def sigs_for(cw, idx, msg=MSG):
    ks = sorted((cw.keys[i] for i in idx), key=lambda k: int(key_address(k), 16))
    return [sign_digest(k, msg) for k in ks]


def test_registration_records_keys_and_members(cw):
    for op, k in zip(cw.ops, cw.keys, strict=True):
        assert cw.avs.signingKeyOf(op) == key_address(k) or cw.avs.signingKeyOf(op).lower() == key_address(k)
        assert cw.avs.operatorOfKey(key_address(k)) == op.address
        assert cw.avs.isMember(COMPUTE_SET, op)
    assert cw.avs.thresholdBps(COMPUTE_SET) == THRESHOLD
    assert cw.avs.supportsAVS(cw.avs) and not cw.avs.supportsAVS(cw.w.avs)
    assert cw.w.am.getAVSRegistrar(cw.avs) == cw.avs.address
    assert cw.avs.signingKeyDigest(cw.ops[0], key_address(cw.keys[0])) == possession_digest(
        cw.chain.chain_id, cw.avs.address, cw.ops[0].address, key_address(cw.keys[0])
    )


def test_check_signatures_sums_allocated_stake(cw):
    signed, total = cw.avs.checkSignatures(COMPUTE_SET, MSG, sigs_for(cw, (0, 1)))
    assert total == 100 * WAD and signed == 80 * WAD  # 50% of 100, 60, 40 TKA
    assert cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, (0, 1)))
    assert cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, (0, 1, 2)))
    assert not cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, (0,)))  # 50% < 66.67%
    assert not cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, (1, 2)))
    assert cw.avs.checkSignatures(COMPUTE_SET, MSG, [])[0] == 0
    # stake moves with allocations: op 2 allocates its whole stake
    cw.allocate(cw.ops[2], WAD)
    signed, total = cw.avs.checkSignatures(COMPUTE_SET, MSG, sigs_for(cw, (1, 2)))
    assert (signed, total) == (70 * WAD, 120 * WAD)


def test_signature_rules(cw):
    good = sigs_for(cw, (0, 1))
    reverts(
        "signers not ascending",
        cw.avs.checkSignatures,
        COMPUTE_SET,
        MSG,
        list(reversed(good)),
        sender=cw.w.other,
    )
    reverts(
        "signers not ascending",
        cw.avs.checkSignatures,
        COMPUTE_SET,
        MSG,
        [good[0], good[0]],
        sender=cw.w.other,
    )
    v, r, s = good[0]
    high = (55 - v, r, (N - int.from_bytes(s, "big")).to_bytes(32, "big"))
    reverts("high s", cw.avs.checkSignatures, COMPUTE_SET, MSG, [high], sender=cw.w.other)
    reverts("bad signature v", cw.avs.checkSignatures, COMPUTE_SET, MSG, [(0, r, s)], sender=cw.w.other)
    reverts(
        "bad signature r", cw.avs.checkSignatures, COMPUTE_SET, MSG, [(v, b"\x00" * 32, s)], sender=cw.w.other
    )
    stranger = keys.PrivateKey(keccak(b"not an operator"))
    reverts(
        "signer not in set",
        cw.avs.checkSignatures,
        COMPUTE_SET,
        MSG,
        [sign_digest(stranger, MSG)],
        sender=cw.w.other,
    )
    # a signature over another message recovers another address: not a member
    reverts(
        "signer not in set",
        cw.avs.checkSignatures,
        COMPUTE_SET,
        keccak(b"other"),
        [good[0]],
        sender=cw.w.other,
    )
    reverts("no members", cw.avs.checkSignatures, 99, MSG, [], sender=cw.w.other)


def test_deregistration_removes_signer(cw):
    w = cw.w
    r = w.am.deregisterFromOperatorSets((cw.ops[0], cw.avs, [COMPUTE_SET]), sender=cw.ops[0])
    assert evs(r, "OperatorSetMemberRemoved")[0].operator == cw.ops[0].address
    assert not cw.avs.isMember(COMPUTE_SET, cw.ops[0])
    assert set(cw.avs.getMembers(COMPUTE_SET)) == {cw.ops[1].address, cw.ops[2].address}
    reverts(
        "signer not in set", cw.avs.checkSignatures, COMPUTE_SET, MSG, sigs_for(cw, (0,)), sender=cw.w.other
    )
    signed, total = cw.avs.checkSignatures(COMPUTE_SET, MSG, sigs_for(cw, (1, 2)))
    assert signed == total == 50 * WAD


def test_registrar_callbacks_only_from_allocation_manager(cw):
    reverts(
        "only allocation manager",
        cw.avs.registerOperator,
        cw.ops[0],
        cw.avs,
        [COMPUTE_SET],
        b"",
        sender=cw.ops[0],
    )
    reverts(
        "only allocation manager",
        cw.avs.deregisterOperator,
        cw.ops[0],
        cw.avs,
        [COMPUTE_SET],
        sender=cw.ops[0],
    )


def test_registration_data_rules(cw, accounts):
    w = cw.w
    newop = accounts[5]  # w.staker2: a fresh account
    key = keys.PrivateKey(keccak(b"new operator key"))
    cw.join(newop, key, data=b"", expect="no signing key")
    cw.join(newop, key, data=b"\x01" * 64, expect="bad registration data")
    # proof signed for another operator
    wrong = registration_data(cw.chain.chain_id, cw.avs.address, cw.ops[0].address, key)
    cw.join(newop, key, data=wrong, expect="bad proof of possession")
    # a key already used by another operator
    taken = registration_data(cw.chain.chain_id, cw.avs.address, newop.address, cw.keys[0])
    cw.join(newop, key, data=taken, expect="signing key in use")
    zero = abi_encode(["address", "uint8", "bytes32", "bytes32"], [ZERO, 27, b"\x01" * 32, b"\x01" * 32])
    cw.join(newop, key, data=zero, expect="no signing key")  # a zero key is no key
    reverts(
        "zero signing key", cw.avs.updateSigningKey, ZERO, 27, b"\x01" * 32, b"\x01" * 32, sender=cw.ops[0]
    )
    # an unmanaged set of this AVS cannot be joined (created directly by nobody: AM rejects first)
    reverts(
        "invalid operator set", w.am.registerForOperatorSets, newop, (cw.avs.address, [99], b""), sender=newop
    )
    r = cw.join(newop, key)
    assert evs(r, "SigningKeyRegistered")[0].signingKey.lower() == key_address(key)
    assert cw.avs.isMember(COMPUTE_SET, newop)


def test_update_signing_key(cw):
    op = cw.ops[1]
    new = keys.PrivateKey(keccak(b"rotated"))
    v, r, s = sign_digest(
        new, possession_digest(cw.chain.chain_id, cw.avs.address, op.address, key_address(new))
    )
    rc = cw.avs.updateSigningKey(key_address(new), v, r, s, sender=op)
    ev = evs(rc, "SigningKeyRegistered")[0]
    assert ev.previousKey.lower() == key_address(cw.keys[1])
    assert cw.avs.operatorOfKey(key_address(cw.keys[1])) == ZERO
    old_sigs = sigs_for(cw, (1,))
    reverts("signer not in set", cw.avs.checkSignatures, COMPUTE_SET, MSG, old_sigs, sender=cw.w.other)
    assert cw.avs.checkSignatures(COMPUTE_SET, MSG, [sign_digest(new, MSG)])[0] == 30 * WAD
    reverts("no signing key", cw.avs.updateSigningKey, key_address(new), v, r, s, sender=cw.w.staker)
    reverts("signing key in use", cw.avs.updateSigningKey, key_address(new), v, r, s, sender=op)


def test_admin(cw, accounts):
    w = cw.w
    reverts("only owner", cw.avs.setThreshold, COMPUTE_SET, 5000, sender=w.other)
    reverts("set not managed", cw.avs.setThreshold, 99, 5000, sender=w.owner)
    reverts("bad threshold", cw.avs.setThreshold, COMPUTE_SET, 10001, sender=w.owner)
    reverts("bad threshold", cw.avs.setThreshold, COMPUTE_SET, 0, sender=w.owner)
    r = cw.avs.setThreshold(COMPUTE_SET, 5000, sender=w.owner)
    assert evs(r, "ThresholdSet")[0].thresholdBps == 5000
    assert cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, (0,)))
    reverts("already initialized", cw.avs.initialize, "x", sender=w.owner)
    reverts("only owner", cw.avs.createOperatorSet, 8, cw.strats, ZERO, ZERO, 5000, sender=w.other)
    reverts("bad threshold", cw.avs.createOperatorSet, 8, cw.strats, ZERO, ZERO, 0, sender=w.owner)
    r = cw.avs.createOperatorSet(8, cw.strats, ZERO, ZERO, 5000, sender=w.owner)  # burning set
    assert not w.am.isRedistributingOperatorSet((cw.avs.address, 8))
    assert w.am.getSlasher((cw.avs.address, 8)) == cw.avs.address
    assert w.am.isRedistributingOperatorSet((cw.avs.address, COMPUTE_SET))
    assert w.am.getRedistributionRecipient((cw.avs.address, COMPUTE_SET)) == w.recipient.address
    reverts("zero owner", cw.avs.transferOwnership, ZERO, sender=w.owner)
    reverts("only owner", cw.avs.transferOwnership, w.other, sender=w.other)
    cw.avs.transferOwnership(w.other, sender=w.owner)
    assert cw.avs.owner() == w.other.address


def test_constructor_and_initialize_guards(project, accounts, deployment):
    am = deployment.allocation_manager
    with ape.reverts("zero enrolment ttl"):
        accounts[0].deploy(project.ComputeAVS, am, 0, WAD)
    with ape.reverts("bad fault wad"):
        accounts[0].deploy(project.ComputeAVS, am, 1, WAD + 1)
    with ape.reverts("zero allocation manager"):
        accounts[0].deploy(project.ComputeAVS, ZERO, 1, WAD)
    avs = accounts[0].deploy(project.ComputeAVS, am, 1, WAD)
    reverts("not initialized", avs.createOperatorSet, 1, [], ZERO, ZERO, 5000, sender=accounts[0])
    reverts("only owner", avs.initialize, "x", sender=accounts[1])


def test_threshold_matches_model(cw):
    """Random allocations and signer subsets: signed and total stake and the threshold decision
    equal a Python model of the AllocationManager's allocated stake."""
    from hypothesis import given
    from hypothesis import strategies as st

    shares = [cw.w.dm.operatorShares(op, cw.strats[0]) for op in cw.ops]

    @given(
        mags=st.lists(st.integers(0, WAD), min_size=3, max_size=3),
        signers=st.lists(st.booleans(), min_size=3, max_size=3),
        bps=st.integers(1, 10000),
    )
    def check(mags, signers, bps):
        for op, m in zip(cw.ops, mags, strict=True):
            cur = cw.w.am.getAllocation(op, (cw.avs.address, COMPUTE_SET), cw.strats[0]).currentMagnitude
            if cur != m:
                cw.w.am.modifyAllocations(
                    op, [((cw.avs.address, COMPUTE_SET), cw.strats[:1], [m], [cur])], sender=op
                )
        cw.chain.mine(22)  # deallocations take effect after the deallocation delay
        cw.avs.setThreshold(COMPUTE_SET, bps, sender=cw.w.owner)
        stake = [s * m // WAD for s, m in zip(shares, mags, strict=True)]
        idx = [i for i in range(3) if signers[i]]
        signed, total = cw.avs.checkSignatures(COMPUTE_SET, MSG, sigs_for(cw, idx))
        assert total == sum(stake) and signed == sum(stake[i] for i in idx)
        assert cw.avs.isThresholdMet(COMPUTE_SET, MSG, sigs_for(cw, idx)) == (
            total > 0 and signed * 10000 >= total * bps
        )

    # TKB holds no shares: allocate it to zero first so only TKA carries weight
    for op in cw.ops:
        cur = cw.w.am.getAllocation(op, (cw.avs.address, COMPUTE_SET), cw.strats[1]).currentMagnitude
        cw.w.am.modifyAllocations(op, [((cw.avs.address, COMPUTE_SET), cw.strats[1:], [0], [cur])], sender=op)
    check()
