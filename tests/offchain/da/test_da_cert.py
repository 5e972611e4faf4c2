"""Real EigenDA certificates: strict parsing, the offline checks (length pairings on the real SRS, BLS
signature, aggregate key, Merkle inclusion, quorums) and tampering: any changed byte is caught, except the
chain-state lookup indices, which the verdict lists as not checked."""

import pytest
import rlp

from offchain.crypto import bn254
from offchain.da.cert import (
    CHAIN_STATE_CHECKS,
    Cert,
    batch_header_hash,
    commitment_matches_length_commitment,
    hash_to_g1,
    length_proof_holds,
    merkle_root,
    parse_cert,
    verify_cert,
)
from offchain.da.errors import CertError
from tests.support import vector_path

CERTS = [
    ("cert_v2.sepolia.rlp.hex", 1, 8, 0),
    ("cert_v3.sepolia.rlp.hex", 2, 2, 0),
    ("cert_v3.mainnet.rlp.hex", 2, 2, 48),
]


def _raw(name: str) -> bytes:
    return bytes.fromhex(vector_path("da", name).read_text().strip()[2:])


def _reencode(raw: bytes, edit) -> bytes:
    """The certificate with ``edit(body)`` applied to its decoded RLP lists, re-encoded."""
    body = rlp.decode(raw[3:])
    edit(body)
    return raw[:3] + rlp.encode(body)


def _checks(cert: Cert) -> dict[str, bool | None]:
    return {c.name: c.ok for c in verify_cert(cert).checks}


@pytest.mark.parametrize("name,version,length,non_signers", CERTS)
def test_da_cert_real_certificates_pass(name: str, version: int, length: int, non_signers: int) -> None:
    cert = parse_cert(vector_path("da", name).read_text())
    assert (cert.version, cert.blob_commitment.length, len(cert.non_signer_pubkeys)) == (
        version,
        length,
        non_signers,
    )
    v = verify_cert(cert)
    assert v.passed, v.failed
    got = _checks(cert)
    for check in ("length_commitment", "length_proof", "blob_inclusion", "quorums", "signature"):
        assert got[check] is True, check
    # the aggregate key is checkable offline only without non-signers (their bitmaps are chain state)
    assert got["aggregate_key"] is (None if non_signers else True)
    assert set(CHAIN_STATE_CHECKS) <= set(v.not_checked)
    assert any("aggregate_key" in s for s in v.not_checked) == bool(non_signers)


@pytest.mark.parametrize("name", [c[0] for c in CERTS])
def test_da_cert_length_proof_on_real_srs_binds_the_length(name: str) -> None:
    bc = parse_cert(_raw(name)).blob_commitment
    assert commitment_matches_length_commitment(bc) and length_proof_holds(bc)
    n = bc.length
    for other in (n // 2, 2 * n, 1 << 27):
        bc.length = other
        assert other == n or not length_proof_holds(bc), other
    bc.length = 3
    assert not length_proof_holds(bc)
    # a wrong G1 point given explicitly fails too
    bc.length = n
    assert not length_proof_holds(bc, bn254.bn254().g1.generator[..., 0])


def test_da_cert_tampered_commitment_fails() -> None:
    cert = parse_cert(_raw("cert_v3.sepolia.rlp.hex"))
    g1 = bn254.bn254().g1
    cert.blob_commitment.commitment = g1.double(cert.blob_commitment.commitment)
    assert not commitment_matches_length_commitment(cert.blob_commitment)
    assert _checks(cert)["length_commitment"] is False


def test_da_cert_batch_header_hash_vector() -> None:
    """EigenDA core/v2/serialization_test.go: batch root "1" then zeros, reference block 1."""
    cert = parse_cert(_raw("cert_v3.sepolia.rlp.hex"))
    cert.batch_root = b"1" + bytes(31)
    cert.reference_block = 1
    h = batch_header_hash(cert).hex()
    assert h.startswith("891d0936") and h.endswith("45e2")


def test_da_cert_hash_to_g1_is_try_and_increment() -> None:
    for m in (bytes(32), b"\xff" * 32, bytes.fromhex("891d0936" + "00" * 28)):
        x, y = hash_to_g1(m)
        assert (y * y - x**3 - 3) % bn254.P == 0
        x0 = int.from_bytes(m, "big") % bn254.P
        assert 0 <= (x - x0) % bn254.P < 100  # the first x >= m mod p with a square x^3 + 3
        assert all(pow((t**3 + 3) % bn254.P, (bn254.P - 1) // 2, bn254.P) != 1 for t in range(x0, x))


def test_da_cert_merkle_root_orders_siblings_by_index() -> None:
    leaf, sib = b"\x01" * 32, b"\x02" * 32
    from eth_hash.auto import keccak

    assert merkle_root(leaf, sib, 0) == keccak(leaf + sib)
    assert merkle_root(leaf, sib, 1) == keccak(sib + leaf)
    assert merkle_root(leaf, b"", 0) == leaf


def test_da_cert_signature_and_aggregate_key_are_checked() -> None:
    raw = _raw("cert_v2.sepolia.rlp.hex")
    g1 = bn254.bn254().g1

    def double_sigma(body):
        sigma = parse_cert(raw).sigma
        x, y = (v.to_bytes(32, "big").lstrip(b"\x00") for v in bn254.g1_to_ints(g1.double(sigma))[0])
        body[2][4] = [x, y]

    assert _checks(parse_cert(_reencode(raw, double_sigma)))["signature"] is False

    def swap_apk_g2(body):  # a valid but different apkG2 (the length commitment): both BLS relations fail
        body[2][3] = body[0][0][0][2][1]

    got = _checks(parse_cert(_reencode(raw, swap_apk_g2)))
    assert got["signature"] is False and got["aggregate_key"] is False

    def infinite_sigma(body):  # (0, 0): the point at infinity, which would make the pairing trivial
        body[2][4] = [b"", b""]

    assert _checks(parse_cert(_reencode(raw, infinite_sigma)))["signature"] is False

    def no_quorums(body):
        body[2][2], body[3] = [], b""

    got = _checks(parse_cert(_reencode(raw, no_quorums)))
    assert got["quorums"] is False and "aggregate_key" not in got


def test_da_cert_inclusion_index_and_quorums() -> None:
    raw = _raw("cert_v3.sepolia.rlp.hex")  # depth-1 proof, blob index 0

    def index(i):
        def edit(body):
            body[1][1] = rlp.sedes.big_endian_int.serialize(i)

        return edit

    assert _checks(parse_cert(_reencode(raw, index(1))))["blob_inclusion"] is False
    assert _checks(parse_cert(_reencode(raw, index(2))))["blob_inclusion"] is False  # beyond the tree

    def signed(q):
        def edit(body):
            body[3] = q

        return edit

    for q in (b"\x01\x00", b"\x00", b"\x00\x00\x01", b""):
        assert _checks(parse_cert(_reencode(raw, signed(q))))["quorums"] is False, q


@pytest.mark.parametrize(
    "data,match",
    [
        (b"\x02\x00\x02\xc0", "prefix"),
        (b"\x01\x00\x09\xc0", "unknown certificate version"),
        (b"\x01\x00\x02\xff\xff", "RLP"),
        ("zz", "not hex"),
        (b"\x01\x00\x02\xc1\x80", "expected 4 items"),
        (b"\x01\x00\x02\xc0\x00", "RLP"),  # trailing byte after the RLP item
    ],
)
def test_da_cert_malformed(data, match: str) -> None:
    with pytest.raises(CertError, match=match):
        parse_cert(data)


def test_da_cert_strict_fields() -> None:
    raw = _raw("cert_v3.sepolia.rlp.hex")

    def leading_zero(body):
        body[0][1] = b"\x00" + body[0][1]

    def short_root(body):
        body[0][0] = body[0][0][1:]

    def odd_proof(body):
        body[1][2] = body[1][2][:31]

    def wide_length(body):
        body[1][0][0][2][3] = b"\x01" * 5

    for edit, match in [
        (leading_zero, "leading zero"),
        (short_root, "32 bytes"),
        (odd_proof, "multiple of 32"),
        (wide_length, "wider than 32 bits"),
    ]:
        with pytest.raises(CertError, match=match):
            parse_cert(_reencode(raw, edit))


def test_da_cert_invalid_point_rejected() -> None:
    raw = _raw("cert_v3.sepolia.rlp.hex")
    cx = bn254.g1_to_evm(parse_cert(raw).blob_commitment.commitment)[:32]
    pos = raw.index(cx)
    bad = raw[: pos + 31] + bytes([raw[pos + 31] ^ 1]) + raw[pos + 32 :]
    with pytest.raises(CertError, match="not on the curve"):
        parse_cert(bad)


def test_da_cert_every_flipped_byte_is_caught() -> None:
    """Each byte of a real certificate with its low bit flipped: a typed error or a failed check, except a
    change confined to the chain-state lookup indices (listed as not checked offline)."""
    raw = _raw("cert_v2.sepolia.rlp.hex")
    orig = parse_cert(raw)
    outcome = {"error": 0, "failed": 0, "hint": 0}
    for i in range(len(raw)):
        b = bytearray(raw)
        b[i] ^= 0x01
        try:
            v = verify_cert(parse_cert(bytes(b)))
        except CertError:
            outcome["error"] += 1
            continue
        if not v.passed:
            outcome["failed"] += 1
            continue
        c = v.cert
        assert c.chain_hints != orig.chain_hints, f"byte {i}: passed with no change to the chain-state hints"
        assert (c.batch_root, c.signed_quorum_numbers, c.signature) == (
            orig.batch_root,
            orig.signed_quorum_numbers,
            orig.signature,
        )
        outcome["hint"] += 1
    assert outcome["error"] and outcome["failed"] and outcome["hint"] <= 4
