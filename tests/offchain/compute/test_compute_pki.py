"""Certificate-chain rules checked by hand (cryptography checks only names and signatures)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from offchain.compute.pki import CheckFailed, TrustStore, check_crl, verify_chain
from offchain.compute.testca import derive_key, make_cert, make_crl

AT = datetime(2030, 1, 1, tzinfo=UTC)
K = {n: derive_key(b"pki", n, ec.SECP256R1()) for n in ("root", "inter", "leaf", "other")}
ROOT = make_cert("R", K["root"], "R", K["root"], ca=True, path_len=1)
INTER = make_cert("I", K["inter"], "R", K["root"], ca=True, path_len=0)
LEAF = make_cert("L", K["leaf"], "I", K["inter"], ca=False)
TRUST = TrustStore((ROOT,))


def test_valid_chain() -> None:
    assert verify_chain([LEAF, INTER, ROOT], TRUST, AT, "t") == ROOT


def _key_usage(**kw: bool) -> x509.KeyUsage:
    base = dict(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    base.update(kw)
    return x509.KeyUsage(**base)


def _name(cn: str) -> x509.Name:  # the test CA's naming: CN + O
    return x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COMMON_NAME, cn),
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Eigen test CA"),
        ]
    )


def _raw_cert(subject: str, key, issuer: str, issuer_key, exts) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(5)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
    )
    for e in exts:
        b = b.add_extension(e, critical=True)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.mark.parametrize(
    "name,chain,msg",
    [
        (
            "untrusted_root",
            lambda: [LEAF, INTER, make_cert("R", K["other"], "R", K["other"], ca=True)],
            "not a trusted",
        ),
        ("single_cert", lambda: [ROOT], "need a leaf"),
        (
            "leaf_is_ca",
            lambda: [make_cert("L", K["leaf"], "I", K["inter"], ca=True), INTER, ROOT],
            "leaf certificate is a CA",
        ),
        (
            "intermediate_not_ca",
            lambda: [LEAF, make_cert("I", K["inter"], "R", K["root"], ca=False), ROOT],
            "not a CA",
        ),
        (
            "path_length_exceeded",
            lambda: [
                make_cert("L2", K["other"], "L", K["leaf"], ca=False),
                make_cert("L", K["leaf"], "I", K["inter"], ca=True),
                INTER,
                ROOT,
            ],
            "path length",
        ),
        (
            "wrong_issuer_key",
            lambda: [make_cert("L", K["leaf"], "I", K["other"], ca=False), INTER, ROOT],
            "not signed",
        ),
        (
            "issuer_name_mismatch",
            lambda: [make_cert("L", K["leaf"], "X", K["inter"], ca=False), INTER, ROOT],
            "not signed",
        ),
        (
            "no_key_cert_sign",
            lambda: [
                LEAF,
                _raw_cert(
                    "I",
                    K["inter"],
                    "R",
                    K["root"],
                    [x509.BasicConstraints(ca=True, path_length=None), _key_usage(crl_sign=True)],
                ),
                ROOT,
            ],
            "keyCertSign",
        ),
        (
            "leaf_no_digital_signature",
            lambda: [
                _raw_cert("L", K["leaf"], "I", K["inter"], [_key_usage(key_agreement=True)]),
                INTER,
                ROOT,
            ],
            "digitalSignature",
        ),
        (
            "expired_intermediate",
            lambda: [
                LEAF,
                make_cert(
                    "I", K["inter"], "R", K["root"], ca=True, not_after=datetime(2029, 1, 1, tzinfo=UTC)
                ),
                ROOT,
            ],
            "not valid at",
        ),
    ],
)
def test_chain_negative(name: str, chain, msg: str) -> None:
    with pytest.raises(CheckFailed, match=msg):
        verify_chain(chain(), TRUST, AT, "t")


def test_crl_rules() -> None:
    t0, t1 = datetime(2029, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    crl = make_crl("I", K["inter"], (LEAF.serial_number,), t0, t1)
    check_crl(crl, INTER, AT, "crl")
    with pytest.raises(CheckFailed, match="revoked"):
        check_crl(crl, INTER, AT, "crl", [LEAF.serial_number])
    with pytest.raises(CheckFailed, match="not current"):
        check_crl(crl, INTER, t1, "crl")
    with pytest.raises(CheckFailed, match="issuer"):
        check_crl(crl, ROOT, AT, "crl")
    forged = make_crl("I", K["other"], (), t0, t1)
    with pytest.raises(CheckFailed, match="signature"):
        check_crl(forged, INTER, AT, "crl")
