"""Prime fields, Fp2 and NTTs against Python integers and py_ecc."""

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from py_ecc.fields import optimized_bn128_FQ2 as FQ2

from offchain.crypto import bn254 as B
from offchain.crypto.errors import DomainError, FieldError
from offchain.crypto.field import PrimeField
from offchain.crypto.ntt import Domain, bitrev_indices, coset_scale, ntt

BLS_P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
PRIMES = [B.P, B.R, BLS_P]


def ints(p: int):
    return st.lists(st.integers(min_value=0, max_value=p - 1), min_size=1, max_size=20)


@pytest.mark.parametrize("p", PRIMES)
@given(data=st.data())
def test_field_ops_match_python_ints(p: int, data) -> None:
    F = PrimeField(p)
    xs = data.draw(ints(p))
    ys = data.draw(st.lists(st.integers(0, p - 1), min_size=len(xs), max_size=len(xs)))
    a, b = F.from_ints(xs), F.from_ints(ys)
    assert F.to_ints(F.mul(a, b)) == [x * y % p for x, y in zip(xs, ys, strict=False)]
    assert F.to_ints(F.add(a, b)) == [(x + y) % p for x, y in zip(xs, ys, strict=False)]
    assert F.to_ints(F.sub(a, b)) == [(x - y) % p for x, y in zip(xs, ys, strict=False)]
    assert F.to_ints(F.neg(a)) == [(-x) % p for x in xs]
    assert F.to_ints(F.sqr(a)) == [x * x % p for x in xs]
    assert F.to_ints(F.inv(a)) == [pow(x, -1, p) if x else 0 for x in xs]
    assert list(np.asarray(F.eq(a, b))) == [x == y for x, y in zip(xs, ys, strict=False)]


@pytest.mark.parametrize("p", PRIMES)
def test_field_lazy_reduction_chains(p: int) -> None:
    """Long chains of additions/subtractions between products stay exact (redundant representation)."""
    F = PrimeField(p)
    rng = random.Random(1)
    xs = [rng.randrange(p) for _ in range(64)] + [0, 1, p - 1, p - 2]
    a = F.from_ints(xs)
    acc, ref = a, list(xs)
    for k in range(30):
        acc = F.mul(F.sub(F.add(acc, acc), F.mul_small(a, 9)), F.add(a, F.neg(acc)))
        ref = [((2 * r - 9 * x) * (x - r)) % p for r, x in zip(ref, xs, strict=False)]
        assert F.to_ints(acc) == ref, k
    limbs = np.asarray(acc)
    assert limbs.min() >= -3 and limbs.max() <= (1 << 29) + 32


def test_field_bytes_strict() -> None:
    F = PrimeField(B.R)
    assert F.to_ints(F.from_bytes((B.R - 1).to_bytes(32, "big"))) == [B.R - 1]
    with pytest.raises(FieldError, match="not canonical"):
        F.from_bytes(B.R.to_bytes(32, "big"))
    with pytest.raises(FieldError, match="32-byte"):
        F.from_bytes(np.zeros((2, 31), np.uint8))


def test_fp2_against_py_ecc() -> None:
    c = B.bn254()
    rng = random.Random(2)
    pairs = [(rng.randrange(B.P), rng.randrange(B.P)) for _ in range(12)]
    pairs2 = [(rng.randrange(B.P), rng.randrange(B.P)) for _ in range(12)]
    a, b = c.fp2.from_pairs(pairs), c.fp2.from_pairs(pairs2)
    ref = [FQ2(list(x)) * FQ2(list(y)) for x, y in zip(pairs, pairs2, strict=False)]
    assert c.fp2.to_pairs(c.fp2.mul(a, b)) == [(int(r.coeffs[0]), int(r.coeffs[1])) for r in ref]
    sq = [FQ2(list(x)) ** 2 for x in pairs]
    assert c.fp2.to_pairs(c.fp2.sqr(a)) == [(int(r.coeffs[0]), int(r.coeffs[1])) for r in sq]
    inv = c.fp2.inv(a)
    assert np.asarray(c.fp2.eq(c.fp2.mul(a, inv), c.fp2.ones(12))).all()
    ok, root = c.fp2.sqrt(c.fp2.sqr(a))
    assert np.asarray(ok).all()
    assert np.asarray(c.fp2.eq(c.fp2.sqr(root), c.fp2.sqr(a))).all()


def test_ntt_matches_naive_dft() -> None:
    c = B.bn254()
    fr = c.fr
    N, cols = 16, 3
    rng = random.Random(3)
    xs = [rng.randrange(B.R) for _ in range(N * cols)]
    d = Domain(fr, N, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY)
    a = fr.from_ints(xs).reshape(fr.n, N, cols)
    A = ntt(fr, a, d)
    exp = [
        sum(xs[e * cols + k] * pow(d.omega, j * e, B.R) for e in range(N)) % B.R
        for j in range(N)
        for k in range(cols)
    ]
    assert fr.to_ints(A) == exp
    assert fr.to_ints(ntt(fr, A, d, inverse=True)) == xs
    g = 5
    scaled = fr.to_ints(coset_scale(fr, a, g))
    assert scaled == [xs[e * cols + k] * pow(g, e, B.R) % B.R for e in range(N) for k in range(cols)]


def test_ntt_domain_errors() -> None:
    fr = B.bn254().fr
    with pytest.raises(DomainError):
        Domain(fr, 12, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY)
    with pytest.raises(DomainError):
        Domain(fr, 1 << 29, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY)
    with pytest.raises(DomainError):
        bitrev_indices(6)
    assert list(bitrev_indices(8)) == [0, 4, 2, 6, 1, 5, 3, 7]


def test_root_of_unity_order() -> None:
    w = B.ROOT_OF_UNITY_2_28
    assert pow(w, 1 << 28, B.R) == 1 and pow(w, 1 << 27, B.R) == B.R - 1
