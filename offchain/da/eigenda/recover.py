"""Recovery: the blob's coefficients from any m = n/L distinct chunks (Reed-Solomon erasure decoding).

With the known cosets J and the vanishing polynomial Z of the missing ones, ``(Q Z)`` is interpolated
from the known values (Z is zero at the missing points), then divided by Z on a shifted coset where Z
has no zeros; a recovered polynomial of degree >= m means the chunks are inconsistent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from offchain.backend import to_numpy
from offchain.crypto.ntt import coset_scale, ntt
from offchain.da.eigenda.params import EncodingParams, Suite, chunk_cosets
from offchain.da.errors import RecoveryError

Array = Any


def vanishing_poly(fr: Any, suite: Suite, roots_j: np.ndarray, M: int) -> Array:
    """Coefficients (length M) of prod_(j in roots_j) (y - w_M^j), by a batched product tree."""
    xp = fr.xp
    k = int(roots_j.size)
    if k == 0:
        out = fr.zeros(M)
        out[:, 0] = fr.ones(())
        return out
    dom = suite.domain(fr, M)
    w = fr.take(dom.roots, xp.asarray(roots_j))
    size = 1 << max(0, (k - 1).bit_length())
    # leaves: [-w, 1] ; padding leaves: [1, 0]
    c0 = fr.concat([fr.neg(w), fr.ones(size - k)])
    c1 = fr.concat([fr.ones(k), fr.zeros(size - k)])
    polys = fr.stack([c0, c1])  # (2, size): coefficient axis first, then leaves
    D = 2
    while polys.shape[2] > 1:
        cnt = polys.shape[2]
        D2 = 2 * D
        pad = fr.concat([polys, fr.zeros((D2 - D, cnt))])  # (D2, cnt)
        F = ntt(fr, pad, suite.domain(fr, D2))
        prod = fr.mul(F[:, :, 0::2], F[:, :, 1::2])
        polys = ntt(fr, prod, suite.domain(fr, D2), inverse=True)
        D = D2
    Z = polys[:, :, 0]
    if Z.shape[1] >= M:
        Z = Z[:, :M]  # degree <= M-1 since at least one chunk is present
    else:
        Z = fr.concat([Z, fr.zeros(M - Z.shape[1])])
    return Z


def recover_coeffs(fr: Any, suite: Suite, params: EncodingParams, index: np.ndarray, coeffs: Array) -> Array:
    """Blob coefficients (Fr batch (n,)) from chunks ``index`` (distinct) with frame coefficients (K, L)."""
    xp = fr.xp
    L, m = params.chunk_length, params.rows
    index = np.asarray(index, dtype=np.int64)
    if index.size != np.unique(index).size:
        raise RecoveryError("duplicate chunk indices")
    if index.size < m:
        raise RecoveryError(f"{index.size} distinct chunks, at least {m} are needed")
    if coeffs.shape[1:] != (index.size, L):
        raise RecoveryError("coefficient matrix does not match the chunk list")
    M = params.num_chunks
    if index.size and (index.min() < 0 or index.max() >= M):
        raise RecoveryError(f"chunk index out of range [0, {M})")
    j = chunk_cosets(index, M)
    known = np.zeros(M, dtype=bool)
    known[j] = True
    dom = suite.domain(fr, M)
    V = fr.zeros((M, L))
    V[:, xp.asarray(j)] = coeffs
    if known.all():
        Q = ntt(fr, V, dom, inverse=True)
    else:
        Z = vanishing_poly(fr, suite, np.nonzero(~known)[0], M)
        Zd = ntt(fr, Z, dom)  # Z on the domain (zero at missing)
        E = fr.mul(V, Zd[:, :, None])
        e = ntt(fr, E, dom, inverse=True)  # coefficients of Q*Z
        shift = suite.coset_shift
        ec = ntt(fr, coset_scale(fr, e, shift), dom)
        zc = ntt(fr, coset_scale(fr, Z, shift), dom)
        qc = fr.mul(ec, fr.inv(zc)[:, :, None])
        Q = coset_scale(fr, ntt(fr, qc, dom, inverse=True), pow(shift, -1, suite.r))
    tail = fr.is_zero(Q[:, m:])
    if not bool(to_numpy(tail).all()):
        raise RecoveryError("chunks are inconsistent: recovered polynomial exceeds the blob length")
    return Q[:, :m].reshape(fr.n, m * L)
