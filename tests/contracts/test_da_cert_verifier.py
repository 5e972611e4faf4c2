"""EigenDACertVerifier (contracts/da): EigenDA's hashes and batch-root inclusion on the real
certificates, then checkDACert over the project's BLSRegistry, one test per status; it never reverts."""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest
from eth_hash.auto import keccak

from offchain.bls.cert import build_certificate
from offchain.chain import da_contracts as dac
from offchain.chain.deploy import CertVerifierParams, deploy_cert_verifier
from offchain.chain.errors import ChainInputError, DeployConfigError
from offchain.da import cert as dacert
from tests.contracts.support import BLS_SET, WAD, ZERO, BLSWorld, reverts
from tests.support import vector_path

RECENCY = 20
VECTORS = ("cert_v3.mainnet", "cert_v3.sepolia", "cert_v2.sepolia")


def real(name):
    return dacert.parse_cert(vector_path("da", f"{name}.rlp.hex").read_text())


@pytest.fixture
def bw(w, project, chain, accounts):
    return BLSWorld(w, project, chain, accounts)


@pytest.fixture
def ops(bw, chain):
    out = [bw.operator(stake_a=(i + 1) * 10 * WAD, stake_b=10 * WAD) for i in range(4)]
    chain.mine(1)
    return out


@pytest.fixture
def cv(bw, project, accounts):
    p = CertVerifierParams(recency_window_blocks=RECENCY)
    return deploy_cert_verifier(project, accounts[0], accounts[1].address, bw.reg.address, BLS_SET, p)


def blob_certs(n, quorums=b"\x00\x01", version=0):
    """n blob certificates: the mainnet certificate's blob with other payment headers."""
    (header, sig, relays) = dac.blob_certificate_of(real("cert_v3.mainnet"))
    return [((version, quorums, header[2], keccak(b"payment %d" % i)), sig, relays) for i in range(n)]


def make(
    bw, ops, signers, *, quorums=b"\x00\x01", version=0, signed=b"\x00\x01", index=1, ref=None, msg=None
):
    bcs = blob_certs(3, quorums, version)
    root, proofs = dac.batch_tree([dac.blob_certificate_hash(b) for b in bcs])
    ref = bw.head() - 1 if ref is None else ref
    header = (root, ref)
    m = dac.batch_header_hash(header) if msg is None else msg
    pks = [bw.sk[o.address].public_key() for o in ops]
    sigs = {bw.sk[o.address].public_key().operator_id: bw.sk[o.address].sign(m) for o in signers}
    bls, _ = build_certificate(BLS_SET, m, ref, pks, sigs)
    if msg is not None:
        bls = replace(bls, message=dac.batch_header_hash(header))
    return dac.cert_v3(header, bcs[index], index, proofs[index], bls, signed)


def status(cv, cert):
    """checkDACert's status; the typed entry agrees and gives the BLS checker's status."""
    s = cv.checkDACert(dac.encode_cert_v3(cert))
    typed, bls = cv.checkDACertV3(cert)
    assert s == typed
    return s, bls


def with_ns(cert, k, v):
    ns = list(cert[2])
    ns[k] = v
    return (cert[0], cert[1], tuple(ns), cert[3])


# ----- the real certificates -----------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTORS)
def test_real_certificates_hash_and_inclusion(cv, name) -> None:
    c = real(name)
    bc = dac.blob_certificate_of(c)
    assert cv.hashBlobHeaderV2(bc[0]) == dacert.blob_key(c) == dac.blob_key(bc[0])
    assert cv.hashBlobCertificate(bc) == dacert.blob_certificate_hash(c) == dac.blob_certificate_hash(bc)
    assert cv.hashBatchHeaderV2((c.batch_root, c.reference_block)) == dacert.batch_header_hash(c)
    info = (bc, c.blob_index, c.inclusion_proof)
    assert dac.inclusion_root(dac.blob_certificate_hash(bc), c.inclusion_proof, c.blob_index) == c.batch_root
    assert cv.verifyBlobInclusion(info, c.batch_root)
    flipped_root = bytes([c.batch_root[0] ^ 1]) + c.batch_root[1:]
    assert not cv.verifyBlobInclusion(info, flipped_root)
    sig = bytearray(bc[1])
    sig[-1] ^= 0x80  # one bit of the client's signature: another certHash
    assert not cv.verifyBlobInclusion(
        ((bc[0], bytes(sig), bc[2]), c.blob_index, c.inclusion_proof), c.batch_root
    )
    if c.inclusion_proof:
        p = bytearray(c.inclusion_proof)
        p[5] ^= 0x04
        assert not cv.verifyBlobInclusion((bc, c.blob_index, bytes(p)), c.batch_root)
        assert not cv.verifyBlobInclusion((bc, c.blob_index ^ 1, c.inclusion_proof), c.batch_root)
    # an index beyond the tree's leaves is refused, not folded onto the same leaf
    assert not cv.verifyBlobInclusion((bc, c.blob_index + (2 << 4), c.inclusion_proof), c.batch_root)
    assert not cv.verifyBlobInclusion((bc, c.blob_index, c.inclusion_proof + b"\x00"), c.batch_root)
    # the whole certificate: inclusion and security parameters pass; its reference block (a
    # mainnet/sepolia block number) is beyond this chain's head, so recency refuses it
    cert = dac.cert_v3_of(c)
    assert status(cv, cert) == (8, 0)
    bad = (cert[0], (cert[1][0], cert[1][1], cert[1][2] + bytes(32)), cert[2], cert[3])
    assert status(cv, bad) == (2, 0)


def test_batch_tree_matches_the_sepolia_two_blob_batch() -> None:
    c = real("cert_v3.sepolia")
    leaf, sibling = keccak(dacert.blob_certificate_hash(c)), c.inclusion_proof
    # a two-leaf tree: our leaf and the sibling's leaf hash to the real root, in index order
    pair = leaf + sibling if c.blob_index == 0 else sibling + leaf
    assert c.blob_index in (0, 1) and keccak(pair) == c.batch_root
    root, proofs = dac.batch_tree([keccak(b"a"), keccak(b"b"), keccak(b"c")])
    for i, h in enumerate([keccak(b"a"), keccak(b"b"), keccak(b"c")]):
        assert dac.inclusion_root(h, proofs[i], i) == root and len(proofs[i]) == 64
    assert dac.batch_tree([keccak(b"a")]) == (keccak(keccak(b"a")), [b""])
    with pytest.raises(ChainInputError, match="at least one"):
        dac.batch_tree([])
    with pytest.raises(ChainInputError, match="expected 32"):
        dac.batch_tree([b"short"])
    with pytest.raises(ChainInputError, match="multiple of 32"):
        dac.inclusion_root(keccak(b"a"), b"\x00", 0)


# ----- statuses ---------------------------------------------------------------------------------------


def test_success_with_and_without_non_signers(bw, ops, cv) -> None:
    assert status(cv, make(bw, ops, ops)) == (1, 1)
    # ops[0] (10% of quorum 0, 25% of quorum 1) does not sign: 90% and 75% >= 55%
    cert = make(bw, ops, ops[1:])
    assert len(cert[2][1]) == 1
    assert status(cv, cert) == (1, 1)
    for i in (0, 2):  # every blob of the batch
        assert status(cv, make(bw, ops, ops, index=i)) == (1, 1)


def test_inclusion_status(bw, ops, cv) -> None:
    cert = make(bw, ops, ops)
    info = cert[1]
    assert status(cv, (cert[0], (info[0], 0, info[2]), cert[2], cert[3])) == (2, 0)  # another index
    p = bytearray(info[2])
    p[40] ^= 1
    assert status(cv, (cert[0], (info[0], info[1], bytes(p)), cert[2], cert[3])) == (2, 0)
    other = blob_certs(4)[3]
    assert status(cv, (cert[0], (other, info[1], info[2]), cert[2], cert[3])) == (2, 0)


def test_security_parameters(bw, ops, cv, accounts) -> None:
    owner = accounts[1]
    assert tuple(cv.getBlobParams(0)) == (3537, 8192, 8) and cv.nextBlobVersion() == 1
    assert tuple(cv.securityThresholds()) == (55, 33)
    # unknown blob version
    assert status(cv, make(bw, ops, ops, version=1)) == (3, 0)
    # 8 * (8192 - 3538) * 22 = 819,104 < 819,200: one operator more breaks EigenDA's default
    cv.addVersionedBlobParams((3538, 8192, 8), sender=owner)
    assert status(cv, make(bw, ops, ops, version=1)) == (3, 0)
    cv.addVersionedBlobParams((8192, 8192, 8), sender=owner)  # numChunks - maxNumOperators = 0
    assert status(cv, make(bw, ops, ops, version=2)) == (3, 0)
    cv.addVersionedBlobParams((9000, 8192, 8), sender=owner)  # no underflow, no revert
    assert status(cv, make(bw, ops, ops, version=3)) == (3, 0)
    cv.addVersionedBlobParams((3537, 8192, 8), sender=owner)
    assert cv.nextBlobVersion() == 5 and tuple(cv.getBlobParams(4)) == (3537, 8192, 8)
    assert status(cv, make(bw, ops, ops, version=4)) == (1, 1)
    reverts("only owner", cv.addVersionedBlobParams, (1, 2, 3), sender=accounts[2])


def test_quorum_statuses(bw, ops, cv) -> None:
    # ops[3] alone: 40% and 25%, no quorum confirmed
    assert status(cv, make(bw, ops, ops[3:])) == (4, 1)
    # ops[2], ops[3]: quorum 0 at 70% confirmed, quorum 1 at 50% not
    assert status(cv, make(bw, ops, ops[2:])) == (4, 1)
    assert status(cv, make(bw, ops, ops[2:], quorums=b"\x00", signed=b"\x00")) == (5, 1)
    # a blob in quorum 0 only, everything signed: required quorum 1 is missing
    assert status(cv, make(bw, ops, ops, quorums=b"\x00")) == (5, 1)
    # quorum 1 signed but not listed as signed: not confirmed
    assert status(cv, make(bw, ops, ops, signed=b"\x00")) == (4, 1)


def test_invalid_certificates(bw, ops, cv) -> None:
    good = make(bw, ops, ops[2:])  # two non-signers; a valid signature, quorum 1 below threshold
    assert status(cv, good) == (4, 1)
    # signed quorum numbers: not ascending, repeated, empty, a quorum the set does not have
    assert status(cv, make(bw, ops, ops, signed=b"\x01\x00")) == (6, 0)
    assert status(cv, make(bw, ops, ops, signed=b"\x00\x00")) == (6, 0)
    assert status(cv, make(bw, ops, ops, signed=b"")) == (6, 0)
    assert status(cv, make(bw, ops, ops, signed=b"\x00\x01\x02")) == (6, 1)
    assert status(cv, make(bw, ops, ops, quorums=b"\x00\x00")) == (6, 1)  # repeated blob quorum
    # shapes: one hint per signed quorum and non-signer
    assert status(cv, with_ns(good, 2, [(0, 0)])) == (6, 0)
    assert status(cv, with_ns(good, 5, [0])) == (6, 0)
    assert status(cv, with_ns(good, 6, [0, 0, 0])) == (6, 0)
    assert status(cv, with_ns(good, 7, [[]])) == (6, 0)
    assert status(cv, with_ns(good, 0, [])) == (6, 0)
    # the BLS checker's refusals: non-signers out of order, a signature over another message,
    # sigma off the curve
    assert status(cv, with_ns(good, 1, list(reversed(good[2][1])))) == (6, 4)
    assert status(cv, make(bw, ops, ops, msg=keccak(b"another batch"))) == (6, 7)
    assert status(cv, with_ns(good, 4, (1, 3))) == (6, 6)
    # bytes that do not decode: never a revert
    enc = dac.encode_cert_v3(good)
    for junk in (b"", b"\x00" * 31, enc[:-32], b"\xff" * 64, enc[:100]):
        assert cv.checkDACert(junk) == 6
    # trailing bytes after a whole encoding are ignored, as Solidity's abi.decode ignores them
    assert cv.checkDACert(enc + bytes(65_536 - len(enc))) == 4
    # the bound: 395 non-signers in 2 quorums (every hint filled) fit in 65,536 bytes; more is the
    # ABI decoder's refusal
    big = with_ns(with_ns(good, 1, [(1, 2)] * 395), 0, [0] * 395)
    big = with_ns(big, 7, [[0] * 395, [0] * 395])
    assert len(dac.encode_cert_v3(big)) <= 65_536
    assert cv.checkDACert(dac.encode_cert_v3(big)) == 6  # (1, 2) repeated: not ascending
    with pytest.raises(ape.exceptions.ContractLogicError):
        cv.checkDACert(bytes(65_537))


def test_recency(bw, ops, cv, chain) -> None:
    ref = bw.head()
    assert status(cv, make(bw, ops, ops, ref=ref)) == (8, 0)  # the current block
    assert status(cv, make(bw, ops, ops, ref=ref + 5)) == (8, 0)
    cert = make(bw, ops, ops, ref=ref - 1)
    assert status(cv, cert) == (1, 1)
    chain.mine(RECENCY - 1)
    assert status(cv, cert) == (1, 1)  # exactly RECENCY blocks old
    chain.mine(1)
    assert status(cv, cert) == (8, 0)


def test_internal_error_when_the_checker_fails(bw, ops, project, accounts) -> None:
    # a "registry" that has no checkSignatures: the call reverts, the verifier reports it
    p = CertVerifierParams(recency_window_blocks=RECENCY)
    broken = deploy_cert_verifier(project, accounts[0], accounts[1].address, bw.w.am.address, BLS_SET, p)
    assert status(broken, make(bw, ops, ops)) == (7, 0)


def test_deploy_checks(bw, project, accounts) -> None:
    a, reg = accounts[1].address, bw.reg.address
    for bad, match in (
        (dict(confirmation_threshold=101), "confirmation_threshold"),
        (dict(confirmation_threshold=33), "exceed"),
        (dict(required_quorums=b"\x00\x00"), "required_quorums"),
        (dict(required_quorums=b"\x08"), "required_quorums"),
        (dict(recency_window_blocks=0), "recency_window_blocks"),
        (dict(coding_rate=0), "coding_rate"),
    ):
        with pytest.raises(DeployConfigError, match=match):
            CertVerifierParams(**bad)
    with pytest.raises(DeployConfigError, match="bls_registry"):
        deploy_cert_verifier(project, accounts[0], a, ZERO, BLS_SET, CertVerifierParams())
    args = (a, reg, BLS_SET, (55, 33), b"\x00\x01", 10, (3537, 8192, 8))
    for k, v, reason in (
        (0, ZERO, "zero owner"),
        (1, ZERO, "zero registry"),
        (3, (101, 33), "threshold above 100"),
        (3, (33, 33), "confirmation not above adversary"),
        (5, 0, "zero recency window"),
    ):
        bad = list(args)
        bad[k] = v
        with ape.reverts(reason):
            accounts[0].deploy(project.EigenDACertVerifier, *bad)


def test_cert_v3_builder_checks(bw, ops) -> None:
    cert = make(bw, ops, ops)
    pks = [bw.sk[o.address].public_key() for o in ops]
    m = keccak(b"x")
    sigs = {pk.operator_id: bw.sk[o.address].sign(m) for pk, o in zip(pks, ops, strict=True)}
    bls, _ = build_certificate(BLS_SET, m, cert[0][1], pks, sigs)
    with pytest.raises(ChainInputError, match="does not sign"):
        dac.cert_v3(cert[0], cert[1][0], 1, cert[1][2], bls, b"\x00\x01")
    header = (cert[0][0], cert[0][1] - 1)
    m = dac.batch_header_hash(header)
    sigs = {pk.operator_id: bw.sk[o.address].sign(m) for pk, o in zip(pks, ops, strict=True)}
    bls, _ = build_certificate(BLS_SET, m, cert[0][1], pks, sigs)
    with pytest.raises(ChainInputError, match="reference block"):
        dac.cert_v3(header, cert[1][0], 1, cert[1][2], bls, b"\x00\x01")


def test_too_little_gas_reverts_instead_of_judging(bw, ops, cv) -> None:
    """With too little gas the inner checks run out: checkDACert reverts rather than call a good
    certificate invalid (and so eth_estimateGas finds the gas a real verdict needs)."""
    from web3.exceptions import ContractLogicError, Web3RPCError

    enc = dac.encode_cert_v3(make(bw, ops, ops[1:]))
    web3 = cv.provider.web3
    tx = {"to": cv.address, "data": cv.checkDACert.encode_input(enc)}
    need = web3.eth.estimate_gas(tx)
    assert need > 250_000  # the BLS check's pairing alone is 113,000
    ok = web3.eth.call({**tx, "gas": need})
    assert int.from_bytes(ok, "big") == 1
    for gas in (need // 2, need - 60_000):
        with pytest.raises((ContractLogicError, Web3RPCError)):
            web3.eth.call({**tx, "gas": gas})
    # junk still decodes to INVALID_CERT cheaply
    junk = {"to": cv.address, "data": cv.checkDACert.encode_input(b"\xff" * 64)}
    assert int.from_bytes(web3.eth.call({**junk, "gas": 100_000}), "big") == 6
