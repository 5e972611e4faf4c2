"""The defining constants of BN254 and BLS12-381 as plain integers (a leaf: imports nothing from the package).

Everything else is built on these: the array-code fields and groups (:mod:`offchain.crypto.bn254`,
:mod:`offchain.crypto.bls12_381`), the native kernels' wrappers (limb counts, pairing parameters) and
the generated C headers (``tools/gen_curve_params.py``: Montgomery forms, GLV constants, Frobenius
coefficients, all derived from the values here).

Conventions: G1 is ``y^2 = x^3 + b`` over Fp; G2 is ``y^2 = x^3 + b'`` over Fp2 = Fp[u]/(u^2 + 1) with
Fp2 values written ``(c0, c1)`` = c0 + c1 u; the Fp12 tower is built on the sextic non-residue
xi = xi0 + u.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CurveParams:
    """One pairing-friendly curve: its fields, both groups' equations and generators, and the
    integers the native kernels are specialised on."""

    name: str  # "bn254" or "bls12_381": the prefix of the native kernels' entry points
    p: int  # base field modulus
    r: int  # prime order of G1 and G2 (modulus of the scalar field Fr)
    b: int  # G1: y^2 = x^3 + b
    twist_b: tuple[int, int]  # G2: y^2 = x^3 + b' over Fp2, b' = (c0, c1)
    g1: tuple[int, int]  # G1 generator (x, y)
    g2: tuple[tuple[int, int], tuple[int, int]]  # G2 generator ((x.c0, x.c1), (y.c0, y.c1))
    xi0: int  # the Fp12 tower's non-residue xi = xi0 + u
    x: int  # the curve's parameter: p and r are polynomials in x
    two_adicity: int  # 2^two_adicity divides r - 1
    root_of_unity: int  # a primitive 2^two_adicity-th root of unity of Fr
    limbs: int  # 64-bit words of an Fp element in the native kernels (NL)


_BN254_P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
_BLS_P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
_BLS_R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

BN254 = CurveParams(
    name="bn254",
    p=_BN254_P,
    r=21888242871839275222246405745257275088548364400416034343698204186575808495617,
    b=3,
    # D-type twist: b' = 3 / (9 + u) = 3 (9 - u) / 82
    twist_b=(27 * pow(82, -1, _BN254_P) % _BN254_P, -3 * pow(82, -1, _BN254_P) % _BN254_P),
    g1=(1, 2),
    g2=(
        (
            10857046999023057135944570762232829481370756359578518086990519993285655852781,
            11559732032986387107991004021392285783925812861821192530917403151452391805634,
        ),
        (
            8495653923123431417604973247489272438418190587263600148770280649306958101930,
            4082367875863433681332203403145435568316851327593401208105741076214120093531,
        ),
    ),
    xi0=9,
    x=4965661367192848881,
    two_adicity=28,
    # gnark fft.Generator, EigenDA Scale2RootOfUnity[28]
    root_of_unity=19103219067921713944291392827692070036145651957329286315305642004821462161904,
    limbs=4,
)

BLS12_381 = CurveParams(
    name="bls12_381",
    p=_BLS_P,
    r=_BLS_R,
    b=4,
    twist_b=(4, 4),  # M-type twist: b' = 4 (1 + u)
    g1=(
        0x17F1D3A73197D7942695638C4FA9AC0FC3688C4F9774B905A14E3A3F171BAC586C55E83FF97A1AEFFB3AF00ADB22C6BB,
        0x08B3F481E3AAA0F1A09E30ED741D8AE4FCF5E095D5D00AF600DB18CB2C04B3EDD03CC744A2888AE40CAA232946C5E7E1,
    ),
    g2=(
        (
            0x024AA2B2F08F0A91260805272DC51051C6E47AD4FA403B02B4510B647AE3D1770BAC0326A805BBEFD48056C8C121BDB8,
            0x13E02B6052719F607DACD3A088274F65596BD0D09920B61AB5DA61BBDC7F5049334CF11213945D57E5AC7D055D042B7E,
        ),
        (
            0x0CE5D527727D6E118CC9CDC6DA2E351AADFD9BAA8CBDD3A76D429A695160D12C923AC9CC3BACA289E193548608B82801,
            0x0606C4A02EA734CC32ACD2B02BC28B99CB3E287E85A763AF267492AB572E99AB3F370D275CEC1DA1AAA9075FF05F79BE,
        ),
    ),
    xi0=1,
    x=-0xD201000000010000,
    two_adicity=32,
    # EIP-4844 / 7594: the primitive root 7 of Fr gives the 2^32-th root of unity
    root_of_unity=pow(7, (_BLS_R - 1) >> 32, _BLS_R),
    limbs=6,
)

CURVES = {c.name: c for c in (BN254, BLS12_381)}
LIMBS = {
    c.name: c.limbs for c in CURVES.values()
}  # curves with native kernels -> 64-bit words per Fp element
