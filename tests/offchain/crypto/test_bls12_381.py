"""BLS12-381 groups and ZCash-compressed encodings against the real Ethereum KZG setup and py_ecc."""

from pathlib import Path

import numpy as np
import py_ecc.optimized_bls12_381 as pb
import pytest
from py_ecc.bls.point_compression import compress_G1, decompress_G1

from offchain.crypto import bls12_381 as BL
from offchain.crypto.curve import scalars_to_bytes
from offchain.crypto.errors import PointError


def _setup_lines() -> list[str]:
    import eth

    path = Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt"
    if not path.exists():
        pytest.skip(f"Ethereum trusted setup not found at {path}")
    return path.read_text().split()


@pytest.fixture(scope="module")
def setup() -> dict[str, list[bytes]]:
    lines = _setup_lines()
    n1, n2 = int(lines[0]), int(lines[1])
    body = [bytes.fromhex(v) for v in lines[2:]]
    return {"g1_lagrange": body[:n1], "g2_monomial": body[n1 : n1 + n2], "g1_monomial": body[n1 + n2 :]}


def test_bls_g1_setup_points_roundtrip(setup) -> None:
    data = b"".join(setup["g1_monomial"][:16]) + b"".join(setup["g1_lagrange"][:16])
    P = BL.g1_decompress(data)
    assert BL.g1_compress(P) == data
    c = BL.bls12_381()
    # [tau^0]_1 is the generator; compare a point with py_ecc's decoder
    assert bool(np.asarray(c.g1.eq(P[..., :1], c.g1.generator))[0])
    ref = pb.normalize(decompress_G1(int.from_bytes(setup["g1_monomial"][3], "big")))
    x, y, _ = c.g1.to_affine(P[..., 3:4])
    assert (c.fp.to_ints(x)[0], c.fp.to_ints(y)[0]) == (int(ref[0]), int(ref[1]))


def test_bls_g2_setup_points_and_pairing(setup) -> None:
    data = b"".join(setup["g2_monomial"][:2])
    Q = BL.g2_decompress(data)
    assert BL.g2_compress(Q) == data
    c = BL.bls12_381()
    assert bool(np.asarray(c.g2.eq(Q[..., :1], c.g2.generator))[0])
    # e([tau]_1, G2) == e(G1, [tau]_2)
    tau1 = decompress_G1(int.from_bytes(setup["g1_monomial"][1], "big"))
    x, y, _ = c.g2.to_affine(Q[..., 1:2])
    (x0, x1), (y0, y1) = c.fp2.to_pairs(x)[0], c.fp2.to_pairs(y)[0]
    tau2 = (pb.FQ2([x0, x1]), pb.FQ2([y0, y1]), pb.FQ2.one())
    assert (
        pb.final_exponentiate(pb.pairing(pb.G2, tau1, False) * pb.pairing(tau2, pb.neg(pb.G1), False))
        == pb.FQ12.one()
    )


def test_bls_compress_matches_py_ecc() -> None:
    c = BL.bls12_381()
    ks = [1, 2, 12345, BL.R - 1, 0]
    P = c.g1.scalar_mul(c.g1.concat([c.g1.generator] * len(ks)), scalars_to_bytes(ks))
    want = b"".join(compress_G1(pb.multiply(pb.G1, k)).to_bytes(48, "big") for k in ks)
    assert BL.g1_compress(P) == want
    assert BL.g1_compress(BL.g1_decompress(want)) == want


def _x_on_curve_outside_subgroup() -> bytes:
    x = 1
    while pow(x**3 + 4, (BL.P - 1) // 2, BL.P) != 1:
        x += 1
    return (C_FLAG_INT << 376 | x).to_bytes(48, "big")


C_FLAG_INT = 0x80


@pytest.mark.parametrize(
    "data,match",
    [
        (bytes(47), "multiple of 48"),
        (bytes(48), "compression flag"),
        (bytes([0xC0]) + bytes(46) + b"\x01", "infinity with other bits"),
        (bytes([0xE0]) + bytes(47), "infinity with other bits"),
        (bytes([0x9F]) + b"\xff" * 47, ">= p"),
    ],
)
def test_bls_g1_bad_encodings(data: bytes, match: str) -> None:
    with pytest.raises(PointError, match=match):
        BL.g1_decompress(data)


def test_bls_g1_not_in_subgroup_or_not_on_curve() -> None:
    with pytest.raises(PointError, match="subgroup"):
        BL.g1_decompress(_x_on_curve_outside_subgroup())
    x = 1
    while pow(x**3 + 4, (BL.P - 1) // 2, BL.P) == 1:
        x += 1
    with pytest.raises(PointError, match="not on the curve"):
        BL.g1_decompress((0x80 << 376 | x).to_bytes(48, "big"))


def test_bls_roots_of_unity() -> None:
    w = BL.ROOT_OF_UNITY_2_32
    assert pow(w, 1 << 32, BL.R) == 1 and pow(w, 1 << 31, BL.R) == BL.R - 1
