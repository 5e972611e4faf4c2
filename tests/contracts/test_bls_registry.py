"""BLSRegistry: BN254 keys with proof of possession through the registrar callback, aggregate-key
and stake histories by block, and the certificate checker (statuses, never a revert)."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from offchain.bls import group, keys
from offchain.bls.cert import build_certificate
from offchain.bls.keys import SecretKey
from offchain.chain.bls_registry import certificate_args, key_args
from offchain.crypto import bn254
from offchain.da import cert as dacert
from tests.contracts.support import BLS_SET, ROTATION_DELAY, STALENESS, WAD, BLSWorld, reverts
from tests.support import vector_path

M = keccak(b"task 1 result")


@pytest.fixture
def bw(w, project, chain, accounts):
    return BLSWorld(w, project, chain, accounts)


def members_at(bw, ops):
    return [bw.sk[o.address].public_key() for o in ops]


def certify(bw, ops, signers, ref, msg=M):
    pks = members_at(bw, ops)
    sigs = {bw.sk[o.address].public_key().operator_id: bw.sk[o.address].sign(msg) for o in signers}
    cert, _ = build_certificate(BLS_SET, msg, ref, pks, sigs)
    return cert


def join_reverts(bw, reason, op, data=None):
    d = bw.data(op) if data is None else data
    reverts(reason, bw.w.am.registerForOperatorSets, op, (bw.w.avs.address, [BLS_SET], d), sender=op)


def check(bw, cert, **override):
    args = list(certificate_args(cert))
    for k, v in override.items():
        args[["set", "msg", "ref", "ns", "apk_g2", "sigma"].index(k)] = v
    status, signed, total = bw.reg.checkSignatures(*args)
    return status, list(signed), list(total)


def test_registration_records_keys_apk_and_stake(bw, chain) -> None:
    ops = [bw.operator(stake_a=(i + 1) * 10 * WAD, stake_b=(3 - i) * 10 * WAD) for i in range(3)]
    reg = bw.reg
    for o in ops:
        pk = bw.sk[o.address].public_key()
        assert reg.isMember(BLS_SET, o)
        assert reg.operatorIdOf(BLS_SET, o) == pk.operator_id
        assert reg.operatorOfKey(pk.operator_id) == o.address
        assert tuple(reg.keyOf(BLS_SET, o)) == pk.g1
    head = bw.head()
    assert tuple(reg.apkAt(BLS_SET, head)) == group.g1_sum([bw.sk[o.address].public_key().g1 for o in ops])
    want = [sum(bw.stakes(o)[q] for o in ops) for q in range(2)]
    assert (
        list(reg.totalStakeAt(BLS_SET, head)) == want == [30 * WAD, 30 * WAD]
    )  # 50% of (10+20+30, 30+20+10)
    assert list(reg.quorums(BLS_SET)) == [s.address for s in bw.strats]
    # the proof-of-possession message matches the off-chain one
    o = ops[0].address
    assert reg.calculatePubkeyRegistrationMessageHash(o) == keys.pop_digest(o, chain.chain_id, reg.address)
    assert tuple(reg.pubkeyRegistrationMessageHash(o)) == keys.pop_point(o, chain.chain_id, reg.address)
    assert reg.supportsAVS(bw.w.avs) and not reg.supportsAVS(bw.w.avs2)


def test_bad_registrations_revert(bw, chain, w) -> None:
    a = bw.operator()
    b = bw.operator(join=False)
    # a's key again for b (with b's own, valid proof): the key belongs to a
    bw.sk[b.address] = bw.sk[a.address]
    join_reverts(bw, "key registered by another operator", b)
    # a proof of possession made for another operator
    sk = SecretKey(424242)
    wrong = bw.data(a, sk)  # proves possession for a, not b
    join_reverts(bw, "invalid proof of possession", b, wrong)
    join_reverts(bw, "bad registration data", b, b"\x00" * 100)
    join_reverts(bw, "no key in this set", b, b"")
    zero = bytes(256)
    join_reverts(bw, "zero key", b, zero)
    # only the AllocationManager (the registry being the registrar) may call the registrar hooks: not a
    # stranger, nor the AVS account, which could otherwise attribute a key (with its own proof of
    # possession) to an operator that never joined
    for caller in (b, w.avs):
        reverts(
            "only allocation manager or avs",
            bw.reg.registerOperator,
            b,
            w.avs,
            [BLS_SET],
            bw.data(b, sk),
            sender=caller,
        )
    reverts("only allocation manager or avs", bw.reg.deregisterOperator, a, w.avs, [BLS_SET], sender=w.avs)
    reverts("only avs", bw.reg.configureQuorums, 9, bw.strats, sender=b)
    reverts("quorums already set", bw.reg.configureQuorums, BLS_SET, bw.strats, sender=w.avs)
    assert not bw.reg.isMember(BLS_SET, b)
    bw.sk[b.address] = sk
    bw.join(b)
    assert bw.reg.isMember(BLS_SET, b)


def test_checker_counts_signed_stake_and_returns_statuses(bw, chain) -> None:
    ops = [bw.operator(stake_a=(i + 1) * 10 * WAD, stake_b=10 * WAD) for i in range(4)]
    chain.mine(1)
    ref = bw.head() - 1
    total = [sum(bw.stakes(o)[q] for o in ops) for q in range(2)]
    cert = certify(bw, ops, ops, ref)
    assert check(bw, cert) == (1, total, total)
    signers = [ops[0], ops[2]]
    cert = certify(bw, ops, signers, ref)
    signed = [sum(bw.stakes(o)[q] for o in signers) for q in range(2)]
    assert check(bw, cert) == (1, signed, total)
    args = certificate_args(cert)
    assert tuple(bw.reg.isThresholdMet(*args, 3000)) == (1, True)  # 20/50 and 10/20 >= 30%
    assert tuple(bw.reg.isThresholdMet(*args, 5001)) == (1, False)
    # wrong message (replay for another task), unsorted or repeated non-signers, a stranger's key
    assert check(bw, cert, msg=keccak(b"other task"))[0] == 7
    ns = [group.g1_to_evm(p) for p in cert.non_signers]
    assert check(bw, cert, ns=list(reversed(ns)))[0] == 4
    assert check(bw, cert, ns=[ns[0], ns[0], ns[1]])[0] == 4
    stranger = group.g1_to_evm(SecretKey(99).public_key().g1)
    extra = sorted([*ns, stranger], key=lambda p: keys.operator_id(p))
    assert check(bw, cert, ns=extra)[0] == 5
    # leaving a non-signer out: the apk then includes a key that did not sign
    assert check(bw, cert, ns=ns[:1])[0] == 7
    # reference blocks: current or future, too old, before the set had members
    assert check(bw, cert, ref=bw.head() + 1)[0] == 2
    chain.mine(1)
    assert check(bw, cert, ref=bw.head() + 1)[0] == 2
    assert check(bw, cert, ref=1)[0] == 2
    # points: sigma off the curve, apkG2 off the twist, G2 out of the subgroup -> statuses, no revert
    assert check(bw, cert, sigma=(1, 3))[0] == 6
    assert check(bw, cert, apk_g2=((1, 1), (1, 1)))[0] == 7
    assert check(bw, cert, set=BLS_SET + 1)[0] == 3


def test_unknown_before_first_member(bw, chain) -> None:
    chain.mine(2)
    early = bw.head() - 1
    ops = [bw.operator()]
    chain.mine(1)
    cert = certify(bw, ops, ops, early)
    assert check(bw, cert)[0] == 3
    assert check(bw, cert, ref=bw.head() - 1)[0] == 1


def test_stale_window(bw, chain) -> None:
    ops = [bw.operator()]
    ref = bw.head()
    chain.mine(STALENESS)
    cert = certify(bw, ops, ops, ref)
    assert check(bw, cert)[0] == 1  # exactly maxStaleness old
    chain.mine(1)
    assert check(bw, cert)[0] == 2


def test_history_stake_and_membership_after_the_reference_block(bw, chain, w) -> None:
    ops = [bw.operator(stake_a=(i + 1) * 10 * WAD) for i in range(3)]
    chain.mine(1)
    ref = bw.head() - 1
    before = [sum(bw.stakes(o)[q] for o in ops) for q in range(2)]
    # after the reference block: op0 allocates more and its stake is synced; op2 leaves
    w.allocate(ops[0], BLS_SET, {"TKA": WAD, "TKB": WAD})
    bw.reg.updateOperators(BLS_SET, [o.address for o in ops], sender=w.other)
    bw.leave(ops[2])
    chain.mine(1)
    cert = certify(bw, ops, ops[:2], ref)
    signed = [before[q] - stake_of(bw, ops[2], ref)[q] for q in range(2)]  # op2 did not sign
    assert check(bw, cert) == (1, signed, before)
    # at a later reference block op2 is gone and op0 counts double
    now = bw.head() - 1
    cert2 = certify(bw, ops[:2], ops[:2], now)
    status, signed2, total2 = check(bw, cert2)
    assert status == 1 and signed2 == total2 == [sum(bw.stakes(o)[q] for o in ops[:2]) for q in range(2)]
    # op2's key as a non-signer at the later block: no longer a member
    cert3 = certify(bw, ops, ops[:2], now)
    assert check(bw, cert3)[0] == 5
    ok, st = bw.reg.operatorStakeAt(BLS_SET, bw.sk[ops[2].address].public_key().operator_id, ref)
    assert ok and list(st) == stake_of(bw, ops[2], ref)


def stake_of(bw, op, block):
    ok, st = bw.reg.operatorStakeAt(BLS_SET, bw.sk[op.address].public_key().operator_id, block)
    assert ok
    return list(st)


def test_key_rotation_takes_effect_after_the_delay(bw, chain, w) -> None:
    ops = [bw.operator() for _ in range(2)]
    old_sk = bw.sk[ops[0].address]
    new_sk = SecretKey(777777)
    args = key_args(new_sk, ops[0].address, chain.chain_id, bw.reg.address)
    reverts("no key in this set", bw.reg.rotateKey, BLS_SET, *args, sender=w.other)
    bw.reg.rotateKey(BLS_SET, *args, sender=ops[0])
    queued_at = bw.head()
    reverts("no rotation due", bw.reg.applyKeyRotation, BLS_SET, ops[0], sender=w.other)
    # the queued key is the operator's already: nobody else may register it
    assert bw.reg.operatorOfKey(new_sk.public_key().operator_id) == ops[0].address
    chain.mine(ROTATION_DELAY)
    bw.reg.applyKeyRotation(BLS_SET, ops[0], sender=w.other)
    assert bw.reg.operatorIdOf(BLS_SET, ops[0]) == new_sk.public_key().operator_id
    chain.mine(1)
    # a certificate at a block before the rotation uses the old key; after, the new one
    old_cert = certify(bw, ops, ops, queued_at)
    assert check(bw, old_cert)[0] == 1
    bw.sk[ops[0].address] = new_sk
    new_cert = certify(bw, ops, ops, bw.head() - 1)
    assert check(bw, new_cert)[0] == 1
    stale = certify(bw, ops, ops, queued_at)  # new key, old reference block
    assert check(bw, stale)[0] == 7
    # the old key stays its operator's: another operator cannot take it
    c = bw.operator(join=False)
    bw.sk[c.address] = old_sk
    join_reverts(bw, "key registered by another operator", c)


def test_eigenda_sepolia_certificate_pairing_on_chain(bw) -> None:
    c = dacert.parse_cert(vector_path("da", "cert_v3.sepolia.rlp.hex").read_text())
    apk = group.g1_sum(bn254.g1_to_ints(c.quorum_apks))
    apk_g2 = group.g2_to_evm(bn254.g2_to_ints(c.apk_g2)[0])
    sigma = bn254.g1_to_ints(c.sigma)[0]
    m = dacert.batch_header_hash(c)
    assert tuple(bw.reg.trySignatureAndApkVerification(m, apk, apk_g2, sigma)) == (True, True)
    assert tuple(bw.reg.trySignatureAndApkVerification(keccak(m), apk, apk_g2, sigma)) == (True, False)
    assert tuple(
        bw.reg.trySignatureAndApkVerification(m, bn254.g1_to_ints(c.quorum_apks)[0], apk_g2, sigma)
    ) == (
        True,
        False,
    )
    assert tuple(bw.reg.trySignatureAndApkVerification(m, (1, 3), apk_g2, sigma)) == (False, False)


def test_cli_register_key_and_rotate(bw, chain, tmp_path, capsys) -> None:
    import json

    from offchain.bls import keystore
    from offchain.cli import main

    op = bw.operator(join=False)
    pw = tmp_path / "pw"
    pw.write_text("pw\n")
    stores = []
    for i, sk in enumerate((SecretKey(31337), SecretKey(31338))):
        p = tmp_path / f"k{i}.json"
        keystore.save(keystore.encrypt(sk, "pw", "pbkdf2", pbkdf2_c=1000), p)
        stores.append((sk, p))
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(bw.w.d.addresses()))
    base = ["chain", "--deployment", str(rec), "--rpc", chain.provider.uri, "operator", "register-key"]
    common = [
        "--key",
        op.private_key,
        "--avs",
        bw.w.avs.address,
        "--set",
        str(BLS_SET),
        "--password-file",
        str(pw),
    ]
    assert main([*base, *common, "--bls-keystore", str(stores[0][1])]) == 0, capsys.readouterr().err
    assert bw.reg.isMember(BLS_SET, op)
    assert bw.reg.operatorIdOf(BLS_SET, op) == stores[0][0].public_key().operator_id

    def refused(argv, match):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and match in err, err

    refused([*base, *common, "--bls-keystore", str(stores[0][1])], "already registered")
    refused(
        [*base, *common, "--bls-keystore", str(stores[1][1]), "--registry", bw.w.am.address],
        "not a BLSRegistry",
    )
    bad_pw = tmp_path / "bad"
    bad_pw.write_text("nope\n")
    refused([*base, *common[:-1], str(bad_pw), "--bls-keystore", str(stores[1][1])], "wrong password")
    assert main([*base, *common, "--bls-keystore", str(stores[1][1]), "--rotate"]) == 0
    pend = bw.reg.pendingKey(BLS_SET, op)
    assert (
        tuple(pend.pk) == stores[1][0].public_key().g1 and pend.effectiveBlock == bw.head() + ROTATION_DELAY
    )
