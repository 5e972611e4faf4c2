"""Real EigenDA certificates: parse the blob commitment, check e(C, G2) == e(G1, LC); tampering is caught."""

import pytest

from offchain.crypto import bn254
from offchain.da.cert import commitment_matches_length_commitment, length_proof_holds, parse_cert
from offchain.da.errors import CertError
from tests.support import vector_path

CERTS = [
    ("cert_v2.sepolia.rlp.hex", 1, 8),
    ("cert_v3.sepolia.rlp.hex", 2, 2),
    ("cert_v3.mainnet.rlp.hex", 2, 2),
]


@pytest.mark.parametrize("name,version,length", CERTS)
def test_da_cert_commitment_pairing(name: str, version: int, length: int) -> None:
    text = vector_path("da", name).read_text()
    v, bc = parse_cert(text)
    assert (v, bc.length) == (version, length)
    assert commitment_matches_length_commitment(bc)
    # the length-proof pairing with a wrong G1 point fails
    assert not length_proof_holds(bc, bn254.bn254().g1.generator[..., 0])


def test_da_cert_tampered_length_commitment_fails() -> None:
    raw = bytearray(bytes.fromhex(vector_path("da", "cert_v3.sepolia.rlp.hex").read_text().strip()[2:]))
    _, bc = parse_cert(bytes(raw))
    # swap C for 2C: a valid point, but no longer matching LC
    g1 = bn254.bn254().g1
    bc.commitment = g1.double(bc.commitment)
    assert not commitment_matches_length_commitment(bc)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"\x02\x00\x02\xc0", "prefix"),
        (b"\x01\x00\x09\xc0", "unknown certificate version"),
        (b"\x01\x00\x02\xff\xff", "RLP"),
        ("zz", "not hex"),
        (b"\x01\x00\x02\xc1\x80", "structure"),
    ],
)
def test_da_cert_malformed(data, match: str) -> None:
    with pytest.raises(CertError, match=match):
        parse_cert(data)


def test_da_cert_invalid_point_rejected() -> None:
    text = vector_path("da", "cert_v3.sepolia.rlp.hex").read_text().strip()
    raw = bytes.fromhex(text[2:])
    # the commitment's x coordinate starts after a fixed RLP prefix; corrupt its last byte
    _, good = parse_cert(raw)
    cx = bn254.g1_to_evm(good.commitment)[:32]
    pos = raw.index(cx)
    bad = raw[: pos + 31] + bytes([raw[pos + 31] ^ 1]) + raw[pos + 32 :]
    with pytest.raises(CertError, match="invalid point"):
        parse_cert(bad)
