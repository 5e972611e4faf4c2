"""OperatorSetSigCheck (through ComputeAVS): signing keys with proof of possession, membership from
the AllocationManager's registrar callbacks, and the stake-weighted threshold check."""

from __future__ import annotations

import ape
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys import keys

from offchain.chain.compute_avs import key_address, possession_digest, registration_data, sign_digest
from tests.contracts.compute_avs_support import SET, THRESHOLD, cw, events  # noqa: F401
from tests.contracts.conftest import WAD, ZERO

N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MSG = keccak(b"message M")


def sigs_for(cw, idx, msg=MSG):  # noqa: F811
    ks = sorted((cw.keys[i] for i in idx), key=lambda k: int(key_address(k), 16))
    return [sign_digest(k, msg) for k in ks]


def test_registration_records_keys_and_members(cw):  # noqa: F811
    for op, k in zip(cw.ops, cw.keys, strict=True):
        assert cw.avs.signingKeyOf(op) == key_address(k) or cw.avs.signingKeyOf(op).lower() == key_address(k)
        assert cw.avs.operatorOfKey(key_address(k)) == op.address
        assert cw.avs.isMember(SET, op)
    assert cw.avs.thresholdBps(SET) == THRESHOLD
    assert cw.avs.supportsAVS(cw.avs) and not cw.avs.supportsAVS(cw.w.avs)
    assert cw.w.am.getAVSRegistrar(cw.avs) == cw.avs.address
    assert cw.avs.signingKeyDigest(cw.ops[0], key_address(cw.keys[0])) == possession_digest(
        cw.chain.chain_id, cw.avs.address, cw.ops[0].address, key_address(cw.keys[0]))


def test_check_signatures_sums_allocated_stake(cw):  # noqa: F811
    signed, total = cw.avs.checkSignatures(SET, MSG, sigs_for(cw, (0, 1)))
    assert total == 100 * WAD and signed == 80 * WAD  # 50% of 100, 60, 40 TKA
    assert cw.avs.isThresholdMet(SET, MSG, sigs_for(cw, (0, 1)))
    assert cw.avs.isThresholdMet(SET, MSG, sigs_for(cw, (0, 1, 2)))
    assert not cw.avs.isThresholdMet(SET, MSG, sigs_for(cw, (0,)))  # 50% < 66.67%
    assert not cw.avs.isThresholdMet(SET, MSG, sigs_for(cw, (1, 2)))
    assert cw.avs.checkSignatures(SET, MSG, [])[0] == 0
    # stake moves with allocations: op 2 allocates its whole stake
    cw.allocate(cw.ops[2], WAD)
    signed, total = cw.avs.checkSignatures(SET, MSG, sigs_for(cw, (1, 2)))
    assert (signed, total) == (70 * WAD, 120 * WAD)


def test_signature_rules(cw):  # noqa: F811
    good = sigs_for(cw, (0, 1))
    with ape.reverts("signers not ascending"):
        cw.avs.checkSignatures(SET, MSG, list(reversed(good)))
    with ape.reverts("signers not ascending"):
        cw.avs.checkSignatures(SET, MSG, [good[0], good[0]])
    v, r, s = good[0]
    high = (55 - v, r, (N - int.from_bytes(s, "big")).to_bytes(32, "big"))
    with ape.reverts("high s"):
        cw.avs.checkSignatures(SET, MSG, [high])
    with ape.reverts("bad signature v"):
        cw.avs.checkSignatures(SET, MSG, [(0, r, s)])
    with ape.reverts("bad signature r"):
        cw.avs.checkSignatures(SET, MSG, [(v, b"\x00" * 32, s)])
    stranger = keys.PrivateKey(keccak(b"not an operator"))
    with ape.reverts("signer not in set"):
        cw.avs.checkSignatures(SET, MSG, [sign_digest(stranger, MSG)])
    # a signature over another message recovers another address: not a member
    with ape.reverts("signer not in set"):
        cw.avs.checkSignatures(SET, keccak(b"other"), [good[0]])
    with ape.reverts("no members"):
        cw.avs.checkSignatures(99, MSG, [])


def test_deregistration_removes_signer(cw):  # noqa: F811
    w = cw.w
    r = w.am.deregisterFromOperatorSets((cw.ops[0], cw.avs, [SET]), sender=cw.ops[0])
    assert events(r, "OperatorSetMemberRemoved")[0].operator == cw.ops[0].address
    assert not cw.avs.isMember(SET, cw.ops[0])
    assert set(cw.avs.getMembers(SET)) == {cw.ops[1].address, cw.ops[2].address}
    with ape.reverts("signer not in set"):
        cw.avs.checkSignatures(SET, MSG, sigs_for(cw, (0,)))
    signed, total = cw.avs.checkSignatures(SET, MSG, sigs_for(cw, (1, 2)))
    assert signed == total == 50 * WAD


def test_registrar_callbacks_only_from_allocation_manager(cw):  # noqa: F811
    with ape.reverts("only allocation manager"):
        cw.avs.registerOperator(cw.ops[0], cw.avs, [SET], b"", sender=cw.ops[0])
    with ape.reverts("only allocation manager"):
        cw.avs.deregisterOperator(cw.ops[0], cw.avs, [SET], sender=cw.ops[0])


def test_registration_data_rules(cw, accounts):  # noqa: F811
    w = cw.w
    newop = accounts[5]  # w.staker2: a fresh account
    key = keys.PrivateKey(keccak(b"new operator key"))
    with ape.reverts("no signing key"):
        cw.join(newop, key, data=b"")
    with ape.reverts("bad registration data"):
        cw.join(newop, key, data=b"\x01" * 64)
    # proof signed for another operator
    wrong = registration_data(cw.chain.chain_id, cw.avs.address, cw.ops[0].address, key)
    with ape.reverts("bad proof of possession"):
        cw.join(newop, key, data=wrong)
    # a key already used by another operator
    taken = registration_data(cw.chain.chain_id, cw.avs.address, newop.address, cw.keys[0])
    with ape.reverts("signing key in use"):
        cw.join(newop, key, data=taken)
    zero = abi_encode(["address", "uint8", "bytes32", "bytes32"], [ZERO, 27, b"\x01" * 32, b"\x01" * 32])
    with ape.reverts("no signing key"):  # a zero key is no key
        cw.join(newop, key, data=zero)
    with ape.reverts("zero signing key"):
        cw.avs.updateSigningKey(ZERO, 27, b"\x01" * 32, b"\x01" * 32, sender=cw.ops[0])
    # an unmanaged set of this AVS cannot be joined (created directly by nobody: AM rejects first)
    with ape.reverts("invalid operator set"):
        w.am.registerForOperatorSets(newop, (cw.avs.address, [99], b""), sender=newop)
    r = cw.join(newop, key)
    assert events(r, "SigningKeyRegistered")[0].signingKey.lower() == key_address(key)
    assert cw.avs.isMember(SET, newop)


def test_update_signing_key(cw):  # noqa: F811
    op = cw.ops[1]
    new = keys.PrivateKey(keccak(b"rotated"))
    v, r, s = sign_digest(new, possession_digest(cw.chain.chain_id, cw.avs.address, op.address, key_address(new)))
    rc = cw.avs.updateSigningKey(key_address(new), v, r, s, sender=op)
    ev = events(rc, "SigningKeyRegistered")[0]
    assert ev.previousKey.lower() == key_address(cw.keys[1])
    assert cw.avs.operatorOfKey(key_address(cw.keys[1])) == ZERO
    old_sigs = sigs_for(cw, (1,))
    with ape.reverts("signer not in set"):
        cw.avs.checkSignatures(SET, MSG, old_sigs)
    assert cw.avs.checkSignatures(SET, MSG, [sign_digest(new, MSG)])[0] == 30 * WAD
    with ape.reverts("no signing key"):
        cw.avs.updateSigningKey(key_address(new), v, r, s, sender=cw.w.staker)
    with ape.reverts("signing key in use"):
        cw.avs.updateSigningKey(key_address(new), v, r, s, sender=op)


def test_admin(cw, accounts):  # noqa: F811
    w = cw.w
    with ape.reverts("only owner"):
        cw.avs.setThreshold(SET, 5000, sender=w.other)
    with ape.reverts("set not managed"):
        cw.avs.setThreshold(99, 5000, sender=w.owner)
    with ape.reverts("bad threshold"):
        cw.avs.setThreshold(SET, 10001, sender=w.owner)
    with ape.reverts("bad threshold"):
        cw.avs.setThreshold(SET, 0, sender=w.owner)
    r = cw.avs.setThreshold(SET, 5000, sender=w.owner)
    assert events(r, "ThresholdSet")[0].thresholdBps == 5000
    assert cw.avs.isThresholdMet(SET, MSG, sigs_for(cw, (0,)))
    with ape.reverts("already initialized"):
        cw.avs.initialize("x", sender=w.owner)
    with ape.reverts("only owner"):
        cw.avs.createOperatorSet(8, cw.strats, ZERO, ZERO, 5000, sender=w.other)
    with ape.reverts("bad threshold"):
        cw.avs.createOperatorSet(8, cw.strats, ZERO, ZERO, 0, sender=w.owner)
    r = cw.avs.createOperatorSet(8, cw.strats, ZERO, ZERO, 5000, sender=w.owner)  # burning set
    assert not w.am.isRedistributingOperatorSet((cw.avs.address, 8))
    assert w.am.getSlasher((cw.avs.address, 8)) == cw.avs.address
    assert w.am.isRedistributingOperatorSet((cw.avs.address, SET))
    assert w.am.getRedistributionRecipient((cw.avs.address, SET)) == w.recipient.address
    with ape.reverts("zero owner"):
        cw.avs.transferOwnership(ZERO, sender=w.owner)
    with ape.reverts("only owner"):
        cw.avs.transferOwnership(w.other, sender=w.other)
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
    with ape.reverts("not initialized"):
        avs.createOperatorSet(1, [], ZERO, ZERO, 5000, sender=accounts[0])
    with ape.reverts("only owner"):
        avs.initialize("x", sender=accounts[1])
