"""Aggregation of validator signatures into a batch attestation that the on-chain check accepts."""

import pytest

from offchain.bls.keys import SecretKey
from offchain.da.errors import AssignmentError
from offchain.da.network.attestation import aggregate

MSG = bytes(range(32))


def setup(n=4):
    sks = [SecretKey(77 + 13 * i) for i in range(n)]
    keys = {sk.public_key().operator_id: sk.public_key() for sk in sks}
    ids = [sk.public_key().operator_id for sk in sks]
    # operator 3 is only in quorum 0
    stakes = {0: {ids[i]: 10 * (i + 1) for i in range(n)}, 1: {ids[i]: 5 for i in range(n - 1)}}
    return sks, ids, keys, stakes


def test_all_sign():
    sks, ids, keys, stakes = setup()
    sigs = {sk.public_key().operator_id: sk.sign(MSG) for sk in sks}
    att = aggregate(MSG, [1, 0], stakes, keys, sigs)
    assert att.quorum_numbers == [0, 1] and att.quorum_signed_percentages == [100, 100]
    assert att.non_signer_pubkeys == [] and att.verifies(MSG, stakes, keys)
    assert not att.verifies(bytes(32), stakes, keys)


def test_non_signers_and_a_bad_signature():
    sks, ids, keys, stakes = setup()
    sigs = {
        ids[0]: sks[0].sign(MSG),
        ids[2]: sks[2].sign(MSG),
        ids[1]: sks[1].sign(bytes(32)),
    }  # 1 signs wrong
    att = aggregate(MSG, [0, 1], stakes, keys, sigs)
    assert att.signers == sorted([ids[0], ids[2]])
    # quorum 0: 10 + 30 of 100; quorum 1: 5 + 5 of 15
    assert att.quorum_signed_percentages == [40, 66]
    assert att.non_signer_pubkeys == [keys[i].g1 for i in sorted([ids[1], ids[3]])]
    assert att.verifies(MSG, stakes, keys)  # the on-chain apk with the non-signers subtracted


def test_bad_input():
    sks, ids, keys, stakes = setup()
    with pytest.raises(AssignmentError):
        aggregate(MSG, [], stakes, keys, {})
    with pytest.raises(AssignmentError):
        aggregate(MSG, [2], stakes, keys, {})
    with pytest.raises(AssignmentError):
        aggregate(MSG, [0], stakes, {ids[0]: keys[ids[0]]}, {})


def test_each_signer_once_is_the_registry_form():
    """``once``: the BLSRegistry checker's form (apk = every member's G1 key once − the non-signers'), which the
    per-quorum sums (operators in two quorums counted twice) are not."""
    from offchain.bls import group
    from offchain.bls.keys import verify

    sks, ids, keys, stakes = setup()
    sigs = {ids[0]: sks[0].sign(MSG), ids[2]: sks[2].sign(MSG), ids[1]: sks[1].sign(bytes(32))}
    att = aggregate(MSG, [0, 1], stakes, keys, sigs)
    non = sorted([ids[1], ids[3]])
    assert att.once.non_signer_pubkeys == [keys[i].g1 for i in non]
    set_apk = group.g1_sum([keys[i].g1 for i in ids])
    apk = group.g1_sum([set_apk, *(group.g1_neg(keys[i].g1) for i in non)])
    assert verify(MSG, apk, att.once.apk_g2, att.once.sigma)
    assert not verify(MSG, apk, att.apk_g2, att.sigma)  # the per-quorum sums count operators 0 and 2 twice
    assert not verify(bytes(32), apk, att.once.apk_g2, att.once.sigma)
