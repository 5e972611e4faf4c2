"""FK20 multiproofs: all chunk proofs of a blob from one Toeplitz product (EigenDA's ``SRSTables``).

Proofs: ``q_j(tau) = sum_e z^e H_e`` with ``z = w_8192^j`` and ``H_e = sum_i p_(i+(e+1)L) [tau^i]``; the
vector H is a Toeplitz product computed with G1 FFTs of size 2m (m = n/L, bases transformed once and
cached), then all 8,192 proofs are one sparse G1 FFT of H.

Like c-kzg's ``compute_fk20_proofs(out, p, n, s)``, everything here takes what it needs (the curve
groups or a G1 kernel, the :class:`Suite` for the domains, the SRS or the precomputed table, the
:class:`EncodingParams`), never the encoder. Two paths, the same composition (Toeplitz table = G1 FFT of
the SRS columns, Toeplitz step, inverse G1 FFT, sparse G1 FFT of the H vector):

- the array code: :func:`toeplitz_table`, :func:`h_vector`, :func:`compute_fk20_proofs`;
- :class:`KernelFK20`, with every G1 operation in a kernel: ``kernel`` is a
  :class:`offchain.crypto.g1_native.G1Kernel` or its GPU twin :class:`offchain.crypto.g1_gpu.G1GpuKernel`
  (same methods, arrays of its own module). Points stay in the kernel's form between steps; the
  Toeplitz table is cached per blob size in that form (normalised to affine, so the Toeplitz step uses
  mixed additions), and on disk with ``table_cache``.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import to_numpy
from offchain.crypto.ntt import DomainError, _group_fft_columns, group_fft_sparse, ntt
from offchain.da.eigenda.params import EncodingParams, Suite, chunk_cosets
from offchain.da.errors import TableCacheError
from offchain.da.srs import SRS

Array = Any


TABLE_MAGIC = b"EFK20TB\x01"


# ----- the array code ------------------------------------------------------------------------
def toeplitz_scalars(fr: Any, suite: Suite, coeffs: Array, params: EncodingParams) -> Array:
    """Fr (2m, L): FFT_2m of each reversed, zero-padded column c_t[k] = p_(kL+t), times 1/(2m)
    (the scale of the inverse G1 FFT, folded into the scalars). Both paths use it."""
    L, m = params.chunk_length, params.rows
    mat = coeffs.reshape(fr.n, m, L)  # c_t[k] = p_(kL+t)
    crev = mat[:, ::-1, :]
    cpad = fr.concat([crev, fr.zeros((m, L))])
    Cf = ntt(fr, cpad, suite.domain(fr, 2 * m))  # (2m, L)
    return fr.mul(Cf, fr.const(pow(2 * m, -1, suite.r), (1, 1)))


def toeplitz_table(c: Any, suite: Suite, srs_g1: Array, params: EncodingParams) -> Array:
    """Y[f, t] = FFT_2m^G1(s_t)[f], s_t[d] = [tau^(dL+t)]_1 for d < m-1, from the SRS's first n G1 points
    ``srs_g1`` (a G1 batch of the groups ``c``); the same for every blob of one size, so cache it."""
    g1 = c.g1
    L, m = params.chunk_length, params.rows
    idx = np.full((2 * m, L), srs_g1.shape[-1], dtype=np.int64)
    d = np.arange(m - 1)[:, None]
    t = np.arange(L)[None, :]
    idx[: m - 1] = d * L + t
    Sinf = g1.concat([srs_g1, g1.infinity(1)])
    cols = g1.take(Sinf, c.xp.asarray(idx.reshape(-1))).reshape(Sinf.shape[:2] + (2 * m, L))
    return _group_fft_columns(g1, c.fr, cols, suite.domain(c.fr, 2 * m))


def h_vector(c: Any, suite: Suite, table: Array, coeffs: Array, params: EncodingParams) -> Array:
    """H_e = sum_i p_(i+(e+1)L) [tau^i]_1 for e < m-1, padded with infinity to length m, from the
    :func:`toeplitz_table` ``table`` of the blob size."""
    fr, g1 = c.fr, c.g1
    m = params.rows
    Cf = toeplitz_scalars(fr, suite, coeffs, params)
    prod = g1.scalar_mul(table.reshape(table.shape[:2] + (-1,)), fr.to_bytes(Cf.reshape(fr.n, -1)))
    U = g1.sum(prod.reshape(table.shape), axis=1)  # (2m,)
    conv = _group_fft_columns(g1, fr, U[..., None], suite.domain(fr, 2 * m), inverse=True)[..., 0]
    sel = c.xp.asarray(np.arange(m - 2, -1, -1))  # H_e = conv[m-2-e]
    H = g1.take(conv, sel)
    return g1.concat([H, g1.infinity(1)])


def compute_fk20_proofs(c: Any, suite: Suite, table: Array, coeffs: Array, params: EncodingParams) -> Array:
    """G1 batch (num_chunks,) of chunk proofs in chunk order, for m = n/L > 1 (with m = 1 every quotient
    is zero and every proof is the point at infinity)."""
    M = params.num_chunks
    H = h_vector(c, suite, table, coeffs, params)
    P_nat = group_fft_sparse(c.g1, c.fr, H, M, suite.root, suite.adicity)
    return c.g1.take(P_nat, c.xp.asarray(chunk_cosets(np.arange(M), M)))


# ----- the kernel path -----------------------------------------------------------------------


class KernelFK20:
    """Commitments and FK20 proofs on one G1 kernel, over the SRS ``srs`` (its G1 points, on the backend
    of the Fr batch module ``fr``) and the curve ``suite``.

    ``table_cache``: a directory where the Toeplitz tables (the G1 FFTs of the SRS columns, the same for
    every blob of one size: minutes of CPU work at 16 MiB) are kept between processes, like EigenDA's
    ``SRSTables``. A file is named by the curve, a digest of the SRS points it was built from, n and L; it
    holds the table as canonical affine coordinates with a sha256 of its body. Loading checks the header,
    the digest and every point (on the curve, coordinates below p); a file that fails is rebuilt."""

    def __init__(
        self, kernel: Any, fr: Any, suite: Suite, srs: SRS, table_cache: str | Path | None = None
    ) -> None:
        self.K = kernel
        self.fr = fr
        self.suite = suite
        self.setup = srs
        self.kx = kernel.xp  # array module of the kernel's points (numpy or cupy)
        self.table_cache = Path(table_cache) if table_cache else None
        self._table_paths: dict[tuple[int, int], Path] = {}
        self._srs: Array | None = None
        self._tables: dict[tuple[int, int], Array] = {}
        self._row_tables: dict[tuple[int, int], Array] = {}
        self._roots: dict[tuple[int, bool], Array] = {}

    # ----- cached inputs ------------------------------------------------------------------
    def srs(self, n: int) -> Array:
        """The first n SRS points in kernel form (the whole loaded prefix converted once)."""
        if self._srs is None or self._srs.shape[0] < n:
            self._srs = self.K.from_group(self.setup.g1_prefix(n))
        return self._srs[:n]

    def roots(self, N: int, inverse: bool = False, half: bool = True) -> Array:
        """w_N^i (or w_N^-i) as kernel scalars, i < N/2 (``half``) or i < N."""
        key = (N, inverse)
        if key not in self._roots:
            d = self.suite.domain(self.fr, N)
            self._roots[key] = self.K.scalars_from_fr(d.roots_inv if inverse else d.roots)
        r = self._roots[key]
        return r[: max(1, N // 2)] if half else r

    def _infinity(self, n: int) -> Array:
        return self.kx.zeros((n, 3, self.K.nl), dtype=self.kx.uint64)  # Z = 0

    # ----- commitments --------------------------------------------------------------------
    def commit(self, coeffs: Array) -> Array:
        n = coeffs.shape[1]
        C = self.K.msm(self.srs(n), self.K.scalars_from_fr(coeffs))
        return self.K.to_group(C[None])

    def msm(self, P: Array, s: Array) -> Array:
        """sum_i s_i P_i for an array-code G1 batch and Fr batch -> one array-code point (no batch axis)."""
        C = self.K.msm(self.K.from_group(P), self.K.scalars_from_fr(s))
        return self.K.to_group(C[None])[..., 0]

    # ----- FK20 ---------------------------------------------------------------------------
    def toeplitz_table(self, params: EncodingParams) -> Array:
        """Y (2m, L) in kernel form, affine: Y[f, t] = FFT_2m(s_t)[f], s_t[d] = [tau^(dL+t)]_1, d < m-1."""
        key = (params.n, params.chunk_length)
        if key not in self._tables and self.table_cache is not None:
            cached = self._load_table(params)
            if cached is not None:
                self._tables[key] = cached
        if key not in self._tables:
            L, m = params.chunk_length, params.rows
            S = self.srs(params.n)
            Sinf = self.kx.concatenate([S, self._infinity(1)])
            idx = np.full((2 * m, L), S.shape[0], dtype=np.int64)
            idx[: m - 1] = np.arange(m - 1)[:, None] * L + np.arange(L)[None, :]
            cols = Sinf[self.kx.asarray(idx.reshape(-1))].reshape(2 * m, L, 3, self.K.nl)
            Y = self.K.fft(cols, self.roots(2 * m))
            self._tables[key] = self.K.normalized(Y)
            if self.table_cache is not None:
                self._save_table(params, self._tables[key])
        return self._tables[key]

    # ----- on-disk table cache ------------------------------------------------------------
    def _table_path(self, params: EncodingParams) -> Path:
        """The cache file of a blob size (the SRS digest is computed once per size and kept)."""
        assert self.table_cache is not None
        key = (params.n, params.chunk_length)
        if key not in self._table_paths:
            srs_digest = hashlib.sha256(to_numpy(self.srs(params.n)).tobytes()).hexdigest()[:24]
            name = f"fk20-{self.K.name}-{srs_digest}-n{params.n}-L{params.chunk_length}.bin"
            self._table_paths[key] = self.table_cache / name
        return self._table_paths[key]

    def _save_table(self, params: EncodingParams, Y: Array) -> None:
        xy, inf = self.K.export_affine(Y)
        body = to_numpy(xy).tobytes() + to_numpy(inf).astype(np.uint8).tobytes()
        head = TABLE_MAGIC + struct.pack("<QQQ", params.n, params.chunk_length, Y.shape[0] * Y.shape[1])
        path = self._table_path(params)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(head + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only or full disk costs the cache, never the encoding
            warnings.warn(
                f"eigen da: could not write the FK20 table cache {path}: {exc}", RuntimeWarning, stacklevel=3
            )

    def _load_table(self, params: EncodingParams) -> Array | None:
        path = self._table_path(params)
        if not path.is_file():
            return None
        try:
            return self._read_table(path, params)
        except (TableCacheError, native.NativeError, OSError) as exc:
            warnings.warn(
                f"eigen da: ignoring the FK20 table cache {path} ({exc}); rebuilding it",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def _read_table(self, path: Path, params: EncodingParams) -> Array:
        L, m, nl = params.chunk_length, params.rows, self.K.nl
        count = 2 * m * L
        data = path.read_bytes()
        head = len(TABLE_MAGIC) + 24
        if data[: len(TABLE_MAGIC)] != TABLE_MAGIC:
            raise TableCacheError("bad magic")
        n_, L_, count_ = struct.unpack("<QQQ", data[len(TABLE_MAGIC) : head])
        if (n_, L_, count_) != (params.n, L, count):
            raise TableCacheError(f"header says n={n_}, L={L_}, {count_} points")
        body = data[head + 32 :]
        if len(body) != count * (16 * nl + 1) or hashlib.sha256(body).digest() != data[head : head + 32]:
            raise TableCacheError("size or digest mismatch (truncated or altered)")
        xy = np.frombuffer(body, dtype=np.uint64, count=count * 2 * nl).reshape(count, 2, nl)
        inf = np.frombuffer(body, dtype=np.uint8, offset=count * 16 * nl)
        pts = self.K.import_affine(self.kx.asarray(xy), self.kx.asarray(inf))  # every point checked
        return pts.reshape(2 * m, L, 3, nl)

    def toeplitz_rows(self, params: EncodingParams) -> Array:
        """The Toeplitz table's odd multiples (K.rows_precompute, cached): the row MSMs' bases are fixed."""
        key = (params.n, params.chunk_length)
        if key not in self._row_tables:
            self._row_tables[key] = self.K.rows_precompute(self.toeplitz_table(params))
        return self._row_tables[key]

    def h_vector(self, coeffs: Array, params: EncodingParams) -> Array:
        """H (m,) in kernel form: H_e = sum_i p_(i+(e+1)L) [tau^i]_1 for e < m-1, then infinity."""
        m = params.rows
        Cf = toeplitz_scalars(self.fr, self.suite, coeffs, params)  # (2m, L), 1/(2m) folded in
        U = self.K.rows_msm_precomputed(self.toeplitz_rows(params), self.K.scalars_from_fr(Cf))  # (2m,)
        conv = self.K.fft(U[:, None], self.roots(2 * m, inverse=True))[:, 0]
        H = conv[self.kx.asarray(np.arange(m - 2, -1, -1))]
        return self.kx.concatenate([H, self._infinity(1)])

    def sparse_fft(self, H: Array, M: int) -> Array:
        """All M evaluations sum_e H_e z^e, z = w_M^j (j natural): twists, then M/m FFTs of size m."""
        kx = self.kx
        m = H.shape[0]
        if M % m:
            raise DomainError(f"sparse FFT: {m} points do not divide {M} evaluations")
        k = M // m
        rM = self.roots(M, half=False)
        T = kx.repeat(H[:, None], k, axis=1)  # (m, k): T[e, s] = H_e, to be twisted by w_M^(s e)
        if m > 1 and k > 1:
            e = np.arange(1, m, dtype=np.int64)[:, None]
            s = np.arange(1, k, dtype=np.int64)[None, :]
            expo = kx.asarray(((e * s) % M).reshape(-1))
            tw = self.K.scalar_mul(T[1:, 1:].reshape(-1, 3, self.K.nl), rM[expo])
            T[1:, 1:] = tw.reshape(m - 1, k - 1, 3, self.K.nl)
        out = self.K.fft(T, self.roots(m))  # out[t, s] = FFT_m(twisted column s)[t]
        return out.reshape(M, 3, self.K.nl)

    def proofs(self, coeffs: Array, params: EncodingParams, order: np.ndarray) -> Array:
        """Proofs in chunk order (``order`` = coset index of each chunk) as an array-code G1 batch."""
        H = self.h_vector(coeffs, params)
        P = self.sparse_fft(H, params.num_chunks)
        return self.K.to_group(P[self.kx.asarray(order)])
