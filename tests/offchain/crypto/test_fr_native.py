"""The native scalar-field NTT (offchain/fr_native.c) against the array code: the same field elements for
both curves' Fr (BLS12-381's r is above 2^254, so the carry words of its Montgomery product matter),
forward and inverse, one and several columns, edge values; typed errors at its boundary; and the
callers (ntt(), so Reed-Solomon chunks, recovery, PeerDAS) unchanged with EIGEN_NATIVE=1 and 0."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from offchain import native
from offchain.crypto import bls12_381 as BL
from offchain.crypto import bn254 as BN
from offchain.crypto.errors import FrKernelError
from offchain.crypto.fr_native import FrKernel, kernel_for
from offchain.crypto.ntt import Domain, ntt
from offchain.errors import EigenError

pytestmark = pytest.mark.skipif(not native.enabled(), reason="native kernels are off")

FIELDS = {
    "bn254": (BN, BN.ROOT_OF_UNITY_2_28),
    "bls12_381": (BL, BL.ROOT_OF_UNITY_2_32),
}


def _field(name):
    mod, root = FIELDS[name]
    return mod, getattr(mod, name)(np).fr, root


def _edge_values(p, n):
    vals = [secrets.randbelow(p) for _ in range(n)]
    edge = [0, 1, 2, p - 1, p - 2, (1 << 255) % p, (1 << 256) % p, p // 2]
    vals[: len(edge)] = edge[:n]
    return vals


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("N,K", [(2, 1), (8, 3), (256, 1), (1024, 5)])
def test_ntt_matches_array_code(name, N, K, monkeypatch):
    mod, fr, root = _field(name)
    d = Domain(fr, N, root, mod.TWO_ADICITY)
    a = fr.from_ints(_edge_values(fr.p, N * K)).reshape(fr.n, N, K)
    k = kernel_for(fr)
    for inverse in (False, True):
        got = fr.to_ints(k.ntt(a, d, inverse).reshape(fr.n, -1))
        monkeypatch.setenv("EIGEN_NATIVE", "0")
        want = fr.to_ints(ntt(fr, a, d, inverse).reshape(fr.n, -1))
        monkeypatch.setenv("EIGEN_NATIVE", "1")
        assert got == want
        assert fr.to_ints(ntt(fr, a, d, inverse).reshape(fr.n, -1)) == want  # the hook in ntt()
    # round trip
    back = k.ntt(k.ntt(a, d), d, inverse=True)
    assert fr.to_ints(back.reshape(fr.n, -1)) == fr.to_ints(a.reshape(fr.n, -1))


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_fr_products_match_python(name):
    mod, fr, _ = _field(name)
    k = FrKernel(fr)
    n = 200
    a, b = _edge_values(fr.p, n), _edge_values(fr.p, n)[::-1]

    def w(vs):
        return np.array([[(v >> (64 * i)) & ((1 << 64) - 1) for i in range(4)] for v in vs], dtype=np.uint64)

    got = k.mul_words(w(a), w(b))
    assert [sum(int(x) << (64 * i) for i, x in enumerate(row)) for row in got] == [
        x * y % fr.p for x, y in zip(a, b, strict=True)
    ]


def test_ntt_rejects_bad_input():
    mod, fr, root = _field("bls12_381")
    k = FrKernel(fr)
    d = Domain(fr, 8, root, mod.TWO_ADICITY)
    roots = k.to_words(d.roots[:, :4])
    x = np.zeros((8, 2, 4), np.uint64)
    x[5, 1] = [(fr.p >> (64 * i)) & ((1 << 64) - 1) for i in range(4)]  # = p: not canonical
    with pytest.raises(FrKernelError, match="element 11 is not a canonical"):
        k.ntt_words(x, roots, False, d.n_inv)
    with pytest.raises(FrKernelError, match="not a power of two"):
        k.ntt_words(np.zeros((6, 1, 4), np.uint64), roots, False, d.n_inv)
    with pytest.raises(FrKernelError, match="3 roots for an NTT of size 8"):
        k.ntt_words(np.zeros((8, 1, 4), np.uint64), roots[:3], False, d.n_inv)
    with pytest.raises(FrKernelError, match="uint64"):
        k.ntt_words(np.zeros((8, 1, 3), np.uint64), roots, False, d.n_inv)
    bad_roots = roots.copy()
    bad_roots[2] = np.iinfo(np.uint64).max
    with pytest.raises(FrKernelError, match="root 2"):
        k.ntt_words(np.zeros((8, 1, 4), np.uint64), bad_roots, False, d.n_inv)
    with pytest.raises(FrKernelError, match="modulus"):
        FrKernel(type("F", (), {"p": 1 << 300})())
    assert issubclass(FrKernelError, EigenError)


def test_fr_kernel_is_prebuilt():
    from offchain.crypto import fr_native

    assert (fr_native.SOURCE, fr_native.FLAGS) in native.KERNELS
