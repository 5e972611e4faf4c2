"""ComputeAVS with a BLSRegistry attached: operators join with an ECDSA and a BLS key through the
registrar callback, and an enclave key is enrolled by a BLS certificate through the same module
(OperatorSetSigCheck) and threshold as ECDSA signatures; the registry's checkCertificate (the AVSs'
entry) binds the reference block and leaves an excluded (accused) operator out."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from offchain.bls.cert import build_certificate
from offchain.chain.bls_registry import bls_digest, certificate_bytes
from tests.contracts.support import COMPUTE_SET, ComputeWorld, World, evs, reverts

EIP170 = 24_576


@pytest.fixture(scope="module")
def cwb(project, chain, accounts, deployment):
    return ComputeWorld(World(project, chain, accounts, deployment), project, chain, accounts, bls=True)


def test_avs_contracts_fit_eip_170(project) -> None:
    for name in ("ComputeAVS", "InferenceDisputes", "BLSRegistry"):
        code = project.get_contract(name).contract_type.runtime_bytecode.bytecode
        assert len(bytes.fromhex(code[2:])) <= EIP170, name


def cert_for(cwb, digest, signers, ref):
    pks = [cwb.bls_sk[o.address].public_key() for o in cwb.ops]
    m = bls_digest(digest, ref)
    sigs = {
        cwb.bls_sk[cwb.ops[i].address].public_key().operator_id: cwb.bls_sk[cwb.ops[i].address].sign(m)
        for i in signers
    }
    cert, _ = build_certificate(COMPUTE_SET, m, ref, pks, sigs)
    return cert


def test_members_have_bls_keys_and_stake(cwb, chain) -> None:
    reg = cwb.reg
    assert cwb.avs.blsRegistry() == reg.address
    assert list(reg.quorums(COMPUTE_SET)) == [s.address for s in cwb.strats]
    for o in cwb.ops:
        assert reg.isMember(COMPUTE_SET, o) and cwb.avs.isMember(COMPUTE_SET, o)
        assert reg.operatorIdOf(COMPUTE_SET, o) == cwb.bls_sk[o.address].public_key().operator_id
    assert cwb.avs.blsDigest(b"\x01" * 32, 7) == bls_digest(b"\x01" * 32, 7)
    reverts("bls registry already set", cwb.avs.setBLSRegistry, reg, sender=cwb.w.owner)


def test_enrol_with_a_bls_certificate(cwb, chain) -> None:
    tee = cwb.tee()
    st = cwb.statement(tee, 0)
    chain.mine(1)
    ref = chain.blocks.head.number - 1
    args = (st.app_id, st.image_digest, st.enclave_key, st.evidence_hash, st.verified_at)
    # one signer of three: 50% of the allocated stake (< 66.67%)
    low = certificate_bytes(cert_for(cwb, st.digest(), (0,), ref))
    reverts("threshold not met", cwb.avs.enrollEnclaveKeyBLS, *args, low, sender=cwb.ops[0])
    # signatures over the statement itself (not bound to the reference block): rejected
    pks = [cwb.bls_sk[o.address].public_key() for o in cwb.ops]
    sigs = {
        pk.operator_id: cwb.bls_sk[o.address].sign(st.digest()) for o, pk in zip(cwb.ops, pks, strict=True)
    }
    unbound, _ = build_certificate(COMPUTE_SET, st.digest(), ref, pks, sigs)
    reverts(
        "bls certificate rejected",
        cwb.avs.enrollEnclaveKeyBLS,
        *args,
        certificate_bytes(unbound),
        sender=cwb.ops[0],
    )
    good = certificate_bytes(cert_for(cwb, st.digest(), (0, 1), ref))
    receipt = cwb.avs.enrollEnclaveKeyBLS(*args, good, sender=cwb.ops[0])
    (ev,) = evs(receipt, "EnclaveKeyEnrolled")
    assert ev.operator == cwb.ops[0].address
    assert (ev.signedStake, ev.totalStake) == (80 * 10**18, 100 * 10**18)  # TKA 50+30 of 50+30+20
    assert cwb.avs.enclaves(st.enclave_key).operator == cwb.ops[0].address
    # the same statement by ECDSA signatures still works for another key (the module serves both)
    st2 = cwb.statement(cwb.tee(), 1)
    cwb.enrol(cwb.tee(), 1, st=st2)
    assert cwb.avs.enclaves(st2.enclave_key).operator == cwb.ops[1].address


def test_check_certificate_excludes_the_accused(cwb, chain) -> None:
    reg = cwb.reg
    digest = keccak(b"verdict")
    chain.mine(1)
    ref = chain.blocks.head.number - 1
    everyone = certificate_bytes(cert_for(cwb, digest, (0, 1, 2), ref))
    assert tuple(reg.checkCertificate(COMPUTE_SET, digest, everyone, "0x" + "00" * 20)) == (
        1,
        100 * 10**18,
        100 * 10**18,
    )
    # the accused (op 2) signed: status 8
    assert reg.checkCertificate(COMPUTE_SET, digest, everyone, cwb.ops[2])[0] == 8
    # op 2 a non-signer: its 20 leaves the total
    without = certificate_bytes(cert_for(cwb, digest, (0, 1), ref))
    assert tuple(reg.checkCertificate(COMPUTE_SET, digest, without, cwb.ops[2])) == (
        1,
        80 * 10**18,
        80 * 10**18,
    )
    # bound to its block: the same bytes for another digest, or a certificate made for another block
    assert reg.checkCertificate(COMPUTE_SET, keccak(b"other"), without, "0x" + "00" * 20)[0] == 7
    assert reg.checkCertificate(COMPUTE_SET + 1, digest, without, "0x" + "00" * 20)[0] == 3
