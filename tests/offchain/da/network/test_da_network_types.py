"""V2 message hashes against EigenDA's verified vectors and the real V3 certificates."""

from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from offchain.da.cert import blob_certificate_hash as cert_blob_certificate_hash
from offchain.da.cert import blob_key as cert_blob_key
from offchain.da.cert import parse_cert
from offchain.da.errors import NetworkMessageError
from offchain.da.network import types as v2
from offchain.settings import shared_dir

VECTORS = Path(shared_dir()) / "vectors" / "da"
MAINNET_BLOB_KEY = "3461448ee7434ba0ed1839941cc0f79b20459d8c05749e86ffb782d1a4ce626a"
MAINNET_BATCH_HEADER_HASH = "bfa9a0850a182991cf7ea8672bb56e2b8f66bd24ea264e29430dcccd73f2b967"


def _cert(name):
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"{path} absent (EIGEN_SHARED)")
    return parse_cert(path.read_text())


def _commitment(cert):
    bc = cert.blob_commitment
    return v2.BlobCommitment.from_points(bc.commitment, bc.length_commitment, bc.length_proof, bc.length)


def test_payment_header_hash_vectors():
    # core/v2/serialization_test.go: the string form (0x123) and the address form (0x...0123)
    assert v2.PaymentHeader("0x" + "00" * 18 + "0123", 5, 100).hash().hex().startswith("234c3d10")
    assert v2.PaymentHeader("0x" + "00" * 18 + "0123", 5, 100).hash().hex().endswith("77c9")
    raw = keccak(abi_encode(["(string,int64,uint256)"], [("0x123", 5, 100)])).hex()
    assert raw == "f5894a8e9281b5687c0c7757d3d45fb76152bf659e6e61b1062f4c6bcb69c449"


def test_payment_header_hashes_the_checksummed_account():
    lower = "0x" + "ab" * 20
    h = v2.PaymentHeader(lower, 7, 0)
    assert h.account != lower and h.account.lower() == lower
    expect = keccak(abi_encode(["(string,int64,uint256)"], [(h.account, 7, 0)]))
    assert h.hash() == expect
    assert h.is_reservation and not v2.PaymentHeader(lower, 7, 1).is_reservation


def test_batch_header_hash_vector():
    bh = v2.BatchHeader(b"1" + bytes(31), 1)
    assert bh.hash().hex() == "891d0936da4627f445ef193aad63afb173409af9e775e292e4e35aff790a45e2"


@pytest.mark.parametrize(
    "name", ["cert_v3.mainnet.rlp.hex", "cert_v3.sepolia.rlp.hex", "cert_v2.sepolia.rlp.hex"]
)
def test_real_certificates_reproduce_their_batch_roots(name):
    cert = _cert(name)
    com = _commitment(cert)
    key = v2.blob_key_of(cert.blob_version, cert.quorum_numbers, com.abi_ints(), cert.payment_header_hash)
    assert key == cert_blob_key(cert)
    ch = v2.blob_certificate_hash(key, cert.signature, cert.relay_keys)
    assert ch == cert_blob_certificate_hash(cert)
    assert v2.inclusion_root(ch, cert.inclusion_proof, cert.blob_index) == cert.batch_root
    tampered = bytes([cert.signature[0] ^ 1]) + cert.signature[1:] if cert.signature else b"\x01"
    assert (
        v2.inclusion_root(
            v2.blob_certificate_hash(key, tampered, cert.relay_keys), cert.inclusion_proof, cert.blob_index
        )
        != cert.batch_root
    )
    if name == "cert_v3.mainnet.rlp.hex":
        assert key.hex() == MAINNET_BLOB_KEY
        assert v2.BatchHeader(cert.batch_root, cert.reference_block).hash().hex() == MAINNET_BATCH_HEADER_HASH
        # a one-blob batch: the tree's root is the leaf
        assert v2.MerkleTree([ch]).root == cert.batch_root and v2.MerkleTree([ch]).proof(0) == b""


def test_blob_key_ignores_quorum_order_and_binds_every_field():
    cert = _cert("cert_v3.mainnet.rlp.hex")
    com = _commitment(cert)
    pay = v2.PaymentHeader("0x" + "11" * 20, 1_700_000_000_000_000_000, 0)
    a = v2.BlobHeader(0, (0, 1), com, pay)
    assert a.blob_key() == v2.BlobHeader(0, (1, 0), com, pay).blob_key()
    assert a.blob_key() == v2.blob_key_of(0, b"\x00\x01", com.abi_ints(), pay.hash())
    others = [
        v2.BlobHeader(1, (0, 1), com, pay),
        v2.BlobHeader(0, (0,), com, pay),
        v2.BlobHeader(0, (0, 1), com, v2.PaymentHeader(pay.account_id, pay.timestamp + 1, 0)),
        v2.BlobHeader(
            0,
            (0, 1),
            v2.BlobCommitment(com.commitment, com.length_commitment, com.length_proof, 2 * com.length),
            pay,
        ),
    ]
    assert len({a.blob_key()} | {h.blob_key() for h in others}) == 5


def test_json_round_trip_and_strictness():
    cert = _cert("cert_v3.mainnet.rlp.hex")
    header = v2.BlobHeader(0, (0, 1), _commitment(cert), v2.PaymentHeader("0x" + "22" * 20, 5, 10**20))
    bc = v2.BlobCertificate(header, b"\x05" * 65, (0, 1))
    back = v2.BlobCertificate.from_json(bc.to_json())
    assert back == bc and back.hash() == bc.hash()
    assert v2.BatchHeader.from_json(v2.BatchHeader(b"\x07" * 32, 9).to_json()) == v2.BatchHeader(
        b"\x07" * 32, 9
    )
    j = header.to_json()
    for bad in (
        {**j, "extra": 1},
        {k: v for k, v in j.items() if k != "version"},
        {**j, "quorum_numbers": []},
        {**j, "quorum_numbers": [0, 0]},
        {**j, "quorum_numbers": [256]},
        {**j, "version": 1 << 16},
        {**j, "commitment": {**j["commitment"], "length": 3}},
        {**j, "commitment": {**j["commitment"], "commitment": "zz"}},
        {**j, "payment_header": {**j["payment_header"], "account_id": "0x1234"}},
        {**j, "payment_header": {**j["payment_header"], "timestamp": 1 << 63}},
        {**j, "payment_header": {**j["payment_header"], "cumulative_payment": "01" * 33}},
    ):
        with pytest.raises(NetworkMessageError):
            v2.BlobHeader.from_json(bad)


def test_off_curve_commitment_is_a_typed_error():
    cert = _cert("cert_v3.mainnet.rlp.hex")
    com = _commitment(cert)
    # about half of all x have no y with y^2 = x^3 + 3: the first such x below 50 must be refused
    for x in range(1, 50):
        bad = bytes([0x80]) + bytes(30) + bytes([x])
        try:
            v2.BlobCommitment(bad, com.length_commitment, com.length_proof, com.length).abi_ints()
        except NetworkMessageError:
            break
    else:
        pytest.fail("no invalid x below 50")
    bad_g2 = bytes([0x80]) + bytes(62) + b"\x05"
    with pytest.raises(NetworkMessageError):
        v2.BlobCommitment(com.commitment, bad_g2, com.length_proof, com.length).abi_ints()


@pytest.mark.parametrize("n", list(range(1, 10)))
def test_merkle_tree_proofs_fold_to_the_root(n):
    hashes = [keccak(bytes([i])) for i in range(n)]
    tree = v2.MerkleTree(hashes)
    for i, h in enumerate(hashes):
        assert v2.inclusion_root(h, tree.proof(i), i) == tree.root
        assert v2.inclusion_root(hashes[(i + 1) % n], tree.proof(i), i) != tree.root or n == 1
    with pytest.raises(NetworkMessageError):
        tree.proof(n)


def test_merkle_tree_pads_with_zero_leaves():
    a, b, c = (keccak(bytes([i])) for i in range(3))
    la, lb, lc = keccak(a), keccak(b), keccak(c)
    assert v2.MerkleTree([a, b, c]).root == keccak(keccak(la + lb) + keccak(lc + bytes(32)))
    with pytest.raises(NetworkMessageError):
        v2.MerkleTree([])
    with pytest.raises(NetworkMessageError):
        v2.inclusion_root(a, b"\x00" * 31, 0)


def test_request_signature_and_anchor():
    cert = _cert("cert_v3.mainnet.rlp.hex")
    sk = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    from eth_keys import keys

    account = keys.PrivateKey(sk).public_key.to_checksum_address()
    header = v2.BlobHeader(0, (0, 1), _commitment(cert), v2.PaymentHeader(account, 123, 0))
    sig = v2.sign_digest(sk, header.blob_key())
    assert len(sig) == 65 and sig[64] in (0, 1)
    assert v2.check_request_signature(header, sig) == header.blob_key()
    other = v2.BlobHeader(0, (0, 1), header.commitment, v2.PaymentHeader(account, 124, 0))
    with pytest.raises(NetworkMessageError):
        v2.check_request_signature(other, sig)
    with pytest.raises(NetworkMessageError):
        v2.check_request_signature(header, sig[:64])
    key = header.blob_key()
    expect = keccak(
        b"disperser.DisperseBlobRequest" + (17000).to_bytes(32, "big") + (0).to_bytes(4, "big") + key
    )
    assert v2.dispersal_anchor_hash(17000, 0, key) == expect
    assert v2.dispersal_anchor_hash(17000, 1, key) != expect


def test_store_chunks_digest_layout_and_sensitivity():
    cert = _cert("cert_v3.mainnet.rlp.hex")
    com = _commitment(cert)
    pay = v2.PaymentHeader("0x" + "ab" * 20, -5, 0x010203)
    bc = v2.BlobCertificate(v2.BlobHeader(3, (9, 8), com, pay), b"\xde\xad", (5, 6))
    bh = v2.BatchHeader(b"\x01" * 32, 42)
    u32 = lambda n: n.to_bytes(4, "big")  # noqa: E731
    expect = keccak(
        b"validator.StoreChunksRequest"
        + u32(32) + b"\x01" * 32 + (42).to_bytes(8, "big") + u32(1)
        + u32(3) + u32(2) + u32(2) + u32(9) + u32(8)
        + u32(32) + com.commitment + u32(64) + com.length_commitment + u32(64) + com.length_proof + u32(com.length)
        + u32(42) + pay.account_id.encode() + (-5).to_bytes(8, "big", signed=True) + u32(3) + b"\x01\x02\x03"
        + u32(2) + b"\xde\xad" + u32(2) + u32(5) + u32(6)
        + u32(7) + u32(55)
    )  # fmt: skip
    assert v2.store_chunks_request_digest(bh, [bc], 7, 55) == expect
    assert v2.store_chunks_request_digest(bh, [bc], 7, 56) != expect
    assert v2.store_chunks_request_digest(bh, [bc], 8, 55) != expect
    assert v2.store_chunks_request_digest(v2.BatchHeader(bh.batch_root, 43), [bc], 7, 55) != expect
