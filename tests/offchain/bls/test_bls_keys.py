"""BN254 BLS keys, signatures, aggregation and proofs of possession against py_ecc (the oracle), and
against the real EigenDA V3 certificates in ../shared/vectors/da/."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc import optimized_bn128 as O
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12

from offchain.bls import group, keys
from offchain.bls.errors import BLSKeyError, BLSSignatureError
from offchain.crypto.bn254 import hash_to_g1
from offchain.da import cert as dacert
from tests.support import vector_path

R, P = group.R, group.P
OP, REG = "0x" + "ab" * 20, "0x" + "cd" * 20
scalars = st.integers(1, R - 1)
msgs = st.binary(min_size=32, max_size=32)


def py_pairing_product(pairs) -> bool:
    """prod e(P, Q) == 1 on py_ecc alone (the oracle)."""
    acc = FQ12.one()
    for p, q in pairs:
        acc = acc * O.pairing(group._py_g2(q), group._py_g1(p), final_exponentiate=False)
    return O.final_exponentiate(acc) == FQ12.one()


def test_hash_to_g1_matches_the_mainnet_certificate() -> None:
    # the research notes' H(msg).x for the mainnet V3 certificate's batch header hash
    c = dacert.parse_cert(vector_path("da", "cert_v3.mainnet.rlp.hex").read_text())
    m = dacert.batch_header_hash(c)
    assert m.hex() == "bfa9a0850a182991cf7ea8672bb56e2b8f66bd24ea264e29430dcccd73f2b967"
    x, y = hash_to_g1(m)
    assert x == 0x2E7CB52C66834914A68DD743A7316512C8E27D70B0D0EE818EAC2888EA7BC195
    assert (y * y - x**3 - 3) % P == 0


@given(msgs)
def test_hash_to_g1_is_the_first_square_from_m_mod_p(m: bytes) -> None:
    x, y = hash_to_g1(m)
    x0 = int.from_bytes(m, "big") % P
    assert (x - x0) % P < 64
    for z in range(x0, x0 + (x - x0) % P):  # every skipped x has no square root
        assert pow((z**3 + 3) % P, (P - 1) // 2, P) == P - 1
    assert y == pow((x**3 + 3) % P, (P + 1) // 4, P)  # no sign normalisation


@settings(max_examples=5, deadline=None)
@given(scalars, msgs)
def test_keys_and_signatures_match_py_ecc(sk: int, m: bytes) -> None:
    key = keys.SecretKey(sk)
    pk = key.public_key()
    assert pk.g1 == group._from_py_g1(O.multiply(O.G1, sk))
    assert pk.g2 == group._from_py_g2(O.multiply(O.G2, sk))
    sig = key.sign(m)
    assert sig == group._from_py_g1(O.multiply(group._py_g1(hash_to_g1(m)), sk))
    assert pk.operator_id == keccak(pk.g1[0].to_bytes(32, "big") + pk.g1[1].to_bytes(32, "big"))
    assert keys.verify(m, pk.g1, pk.g2, sig)
    # the γ-combined equation, evaluated on py_ecc alone
    g = (
        int.from_bytes(keccak(m + group.g1_words(pk.g1) + group.g2_words(pk.g2) + group.g1_words(sig)), "big")
        % R
    )
    left = group._from_py_g1(O.add(group._py_g1(sig), O.multiply(group._py_g1(pk.g1), g)))
    right = group._from_py_g1(O.add(group._py_g1(hash_to_g1(m)), O.multiply(O.G1, g)))
    assert py_pairing_product([(left, group.g2_neg(group.G2_GEN)), (right, pk.g2)])
    assert keys.signature_gamma(m, pk.g1, pk.g2, sig) == g


def test_verify_rejects_wrong_message_key_and_signature() -> None:
    a, b = keys.SecretKey(7), keys.SecretKey(11)
    m = keccak(b"task result")
    pa, pb = a.public_key(), b.public_key()
    sig = a.sign(m)
    assert keys.verify(m, pa.g1, pa.g2, sig)
    assert not keys.verify(keccak(b"other"), pa.g1, pa.g2, sig)
    assert not keys.verify(m, pb.g1, pb.g2, sig)
    assert not keys.verify(m, pa.g1, pb.g2, sig)  # G1 and G2 keys of different secrets
    assert not keys.verify(m, pa.g1, pa.g2, b.sign(m))
    assert not keys.verify(m, pa.g1, pa.g2, None)
    assert not keys.verify(m, None, pa.g2, sig)


@settings(max_examples=3, deadline=None)
@given(st.lists(scalars, min_size=1, max_size=6, unique=True), msgs)
def test_aggregate_signature_verifies_under_the_aggregate_key(sks: list[int], m: bytes) -> None:
    ks = [keys.SecretKey(s) for s in sks]
    agg = keys.aggregate_keys([k.public_key() for k in ks])
    sigma = keys.aggregate_signatures([k.sign(m) for k in ks])
    assert agg.g1 == group._from_py_g1(O.multiply(O.G1, sum(sks) % R))
    assert agg.g2 == group._from_py_g2(O.multiply(O.G2, sum(sks) % R))
    assert keys.verify(m, agg.g1, agg.g2, sigma)
    if len(ks) > 1:  # one signer missing: the aggregate no longer verifies
        partial = keys.aggregate_signatures([k.sign(m) for k in ks[1:]])
        assert not keys.verify(m, agg.g1, agg.g2, partial)


def test_proof_of_possession_binds_operator_chain_and_registry() -> None:
    sk = keys.SecretKey(123456789)
    pk = sk.public_key()
    pop = sk.prove_possession(OP, 31337, REG)
    assert keys.verify_possession(pk, pop, OP, 31337, REG)
    assert not keys.verify_possession(pk, pop, "0x" + "ac" * 20, 31337, REG)
    assert not keys.verify_possession(pk, pop, OP, 1, REG)
    assert not keys.verify_possession(pk, pop, OP, 31337, "0x" + "ce" * 20)
    assert not keys.verify_possession(keys.SecretKey(5).public_key(), pop, OP, 31337, REG)
    # the digest: EIP-712 over BN254PubkeyRegistration(address operator) (the typehash EigenLayer uses)
    assert (
        keys.PUBKEY_REGISTRATION_TYPEHASH.hex() == keccak(b"BN254PubkeyRegistration(address operator)").hex()
    )
    assert keys.pop_point(OP, 31337, REG) == hash_to_g1(keys.pop_digest(OP, 31337, REG))


def test_rogue_key_forges_an_aggregate_but_has_no_proof_of_possession() -> None:
    victim = keys.SecretKey(1001).public_key()
    attacker = keys.SecretKey(2002)
    pa = attacker.public_key()
    # rogue key: pk_attacker - pk_victim, so victim + rogue = attacker's key alone
    rogue = keys.PublicKey(
        group.g1_sum([pa.g1, group.g1_neg(victim.g1)]), group.g2_sum([pa.g2, group.g2_neg(victim.g2)])
    )
    m = keccak(b"forged verdict")
    agg = keys.aggregate_keys([victim, rogue])
    assert keys.verify(m, agg.g1, agg.g2, attacker.sign(m))  # the attack the PoP exists for
    for pop in (attacker.prove_possession(OP, 1, REG), group.G1_GEN):
        assert not keys.verify_possession(rogue, pop, OP, 1, REG)


def test_eigenda_v3_sepolia_certificate_passes_the_gamma_check() -> None:
    c = dacert.parse_cert(vector_path("da", "cert_v3.sepolia.rlp.hex").read_text())
    from offchain.crypto import bn254

    assert not c.non_signer_pubkeys  # every operator signed: apk = sum of the quorum apks
    apk = group.g1_sum(bn254.g1_to_ints(c.quorum_apks))
    apk_g2 = group.check_g2(bn254.g2_to_ints(c.apk_g2)[0])
    sigma = group.check_g1(bn254.g1_to_ints(c.sigma)[0])
    m = dacert.batch_header_hash(c)
    assert keys.verify(m, apk, apk_g2, sigma)
    assert not keys.verify(keccak(m), apk, apk_g2, sigma)
    assert not keys.verify(m, bn254.g1_to_ints(c.quorum_apks)[0], apk_g2, sigma)  # one quorum's apk


def test_eigenda_v3_mainnet_certificate_signature() -> None:
    """48 non-signers whose quorum bitmaps are chain state: the signature part e(σ, G2) == e(H(m), apkG2)."""
    c = dacert.parse_cert(vector_path("da", "cert_v3.mainnet.rlp.hex").read_text())
    from offchain.crypto import bn254

    apk_g2 = group.check_g2(bn254.g2_to_ints(c.apk_g2)[0])
    sigma = group.check_g1(bn254.g1_to_ints(c.sigma)[0])
    h = hash_to_g1(dacert.batch_header_hash(c))
    assert group.pairing_check([(sigma, group.g2_neg(group.G2_GEN)), (h, apk_g2)])
    assert py_pairing_product([(sigma, group.g2_neg(group.G2_GEN)), (h, apk_g2)])
    ids = [keys.operator_id(p) for p in c.non_signer_pubkeys]
    assert ids == sorted(ids) and len(set(ids)) == 48


def _g2_off_subgroup() -> group.G2:
    """A point on the twist outside the order-r subgroup (the twist's cofactor is large)."""
    b2 = O.b2
    for x0 in range(1, 100):
        x = FQ2([x0, 1])
        rhs = x**3 + b2
        a1 = rhs ** ((P - 3) // 4)
        alpha = a1 * a1 * rhs
        x0r = a1 * rhs
        if alpha == FQ2([P - 1, 0]):
            y = FQ2([0, 1]) * x0r
        else:
            y = (FQ2.one() + alpha) ** ((P - 1) // 2) * x0r
        if y * y == rhs:
            q = ((x0, 1), (int(y.coeffs[0]), int(y.coeffs[1])))
            if not O.is_inf(O.multiply(group._py_g2(q), R)):
                return q
    raise AssertionError("no point found")


def test_bad_keys_and_points_get_typed_errors() -> None:
    for bad in (0, R, -1, R + 5, True, "1"):
        with pytest.raises(BLSKeyError):
            keys.SecretKey(bad)  # type: ignore[arg-type]
    with pytest.raises(BLSKeyError):
        keys.SecretKey.from_bytes(b"\x01" * 31)
    with pytest.raises(BLSKeyError, match="not on the curve"):
        group.check_g1((1, 3))
    with pytest.raises(BLSKeyError, match="integer in"):
        group.check_g1((P, 0))
    with pytest.raises(BLSKeyError, match="subgroup"):
        group.check_g2(_g2_off_subgroup())
    with pytest.raises(BLSKeyError, match="twist"):
        group.check_g2(((1, 1), (1, 1)))
    a, b = keys.SecretKey(3).public_key(), keys.SecretKey(4).public_key()
    with pytest.raises(BLSKeyError, match="different secrets"):
        keys.PublicKey(a.g1, b.g2).check()
    with pytest.raises(BLSKeyError):
        keys.PublicKey.from_json({"g1": ["0x1", "0x2"], "g2": a.to_json()["g2"]})
    assert keys.PublicKey.from_json(a.to_json()) == a
    for m in (b"\x00" * 31, "0x1234", "zz" * 32, None):
        with pytest.raises(BLSSignatureError):
            keys.SecretKey(3).sign(m)  # type: ignore[arg-type]
    assert "SecretKey(operator_id=" in repr(keys.SecretKey(3)) and "3)" not in repr(keys.SecretKey(3))


def test_py_ecc_fallback_gives_the_same_points(monkeypatch: pytest.MonkeyPatch) -> None:
    sk = keys.SecretKey(987654321)
    m = keccak(b"fallback")
    native = (sk.public_key(), sk.sign(m))
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    sk2 = keys.SecretKey(987654321)
    assert (sk2.public_key(), sk2.sign(m)) == native
    pk = native[0]
    assert keys.verify(m, pk.g1, pk.g2, native[1])
    assert group.g2_sum([pk.g2, pk.g2]) == keys.SecretKey(2 * 987654321).public_key().g2
