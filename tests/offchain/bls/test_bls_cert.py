"""The certificate builder: non-signers sorted by operator id, every signature checked, and the
checker's signature part off-chain."""

from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak

from offchain.bls import group, keys
from offchain.bls.cert import Certificate, build_certificate, verify_certificate
from offchain.bls.errors import BLSCertificateError

M = keccak(b"result of task 7")


@pytest.fixture(scope="module")
def members():
    sks = [keys.SecretKey(1000 + 17 * i) for i in range(6)]
    return sks, [k.public_key() for k in sks]


def test_build_and_verify(members) -> None:
    sks, pks = members
    signers = [0, 2, 3, 5]
    sigs = {pks[i].operator_id: sks[i].sign(M) for i in signers}
    cert, apk = build_certificate(3, M, 1234, pks, sigs)
    set_apk = group.g1_sum([p.g1 for p in pks])
    assert apk == group.g1_sum([pks[i].g1 for i in signers])
    ids = [keys.operator_id(p) for p in cert.non_signers]
    assert ids == sorted(pks[i].operator_id for i in (1, 4)) and ids == sorted(ids)
    assert verify_certificate(cert, set_apk)
    assert not verify_certificate(cert, group.g1_sum([p.g1 for p in pks[:-1]]))  # another set's apk
    back = Certificate.from_json(json.loads(cert.dumps()))
    assert back == cert
    msg, rb, ns, apk_g2, sigma = cert.abi_args()
    assert (msg, rb, len(ns)) == (M, 1234, 2) and apk_g2 == group.g2_to_evm(cert.apk_g2)
    # replayed for another message, or non-signers reordered: rejected
    other = Certificate(3, keccak(b"other"), 1234, cert.non_signers, cert.apk_g2, cert.sigma)
    assert not verify_certificate(other, set_apk)
    swapped = Certificate(3, M, 1234, tuple(reversed(cert.non_signers)), cert.apk_g2, cert.sigma)
    assert not verify_certificate(swapped, set_apk)


def test_builder_refuses_bad_inputs(members) -> None:
    sks, pks = members
    sigs = {pks[i].operator_id: sks[i].sign(M) for i in (0, 1)}
    bad = dict(sigs)
    bad[pks[1].operator_id] = sks[2].sign(M)
    with pytest.raises(BLSCertificateError, match=f"bad signature from 0x{pks[1].operator_id.hex()}"):
        build_certificate(1, M, 1, pks, bad)
    stranger = keys.SecretKey(5)
    with pytest.raises(BLSCertificateError, match="not a member"):
        build_certificate(1, M, 1, pks, {**sigs, stranger.public_key().operator_id: stranger.sign(M)})
    with pytest.raises(BLSCertificateError, match="no signatures"):
        build_certificate(1, M, 1, pks, {})
    with pytest.raises(BLSCertificateError, match="twice"):
        build_certificate(1, M, 1, [*pks, pks[0]], sigs)


def test_certificate_json_errors(members) -> None:
    sks, pks = members
    cert, _ = build_certificate(1, M, 5, pks, {pks[i].operator_id: sks[i].sign(M) for i in (0, 1, 2)})
    obj = cert.to_json()
    obj["non_signers"] = list(reversed(obj["non_signers"]))
    with pytest.raises(BLSCertificateError, match="ascending"):
        Certificate.from_json(obj)
    for key, value in (
        ("sigma", ["0x1", "0x3"]),
        ("reference_block", 2**32),
        ("message", "0x12"),
        ("sigma", None),
    ):
        obj = cert.to_json()
        obj[key] = value
        with pytest.raises(BLSCertificateError):
            Certificate.from_json(obj)
    with pytest.raises(BLSCertificateError):
        Certificate.from_json([])
