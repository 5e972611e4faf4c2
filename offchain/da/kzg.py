"""EigenDA blob encoding on BN254: Reed-Solomon chunks, KZG commitments, FK20 multiproofs,
chunk verification (single and batched) and recovery.

Conventions (EigenDA V2, blob version 0):
- a blob of ``n`` symbols (power of two) is a polynomial p of degree < n in *coefficient* form;
- 8,192 chunks (coding rate 8); chunk length ``L = max(1, n / 1024)``; evaluation domain ``N = 8192 L``;
- chunk ``i`` is the coset ``h_i <w_L>`` with ``h_i = w_N^j``, ``j = bitrev_13(i)``; its frame holds the
  monomial coefficients of ``I_i(x) = p(x) mod (x^L - w_8192^j)`` and a KZG proof ``[q_i(tau)]_1`` with
  ``p - I_i = q_i (x^L - w_8192^j)``.

All frame coefficients come from one batched transform: writing ``p(x) = sum_k x^(kL) P_k(x)``,
``coeff_t(I_i) = Q_t(w_8192^j)`` with ``Q_t(y) = sum_k p_(kL+t) y^k``, i.e. L column NTTs of size 8192 of
the (n/L x L) coefficient matrix, rows read at ``bitrev_13(i)``.

Proofs (FK20): ``q_j(tau) = sum_e z^e H_e`` with ``z = w_8192^j`` and ``H_e = sum_i p_(i+(e+1)L) [tau^i]``;
the vector H is a Toeplitz product computed with G1 FFTs of size 2m (m = n/L, bases transformed once
and cached), then all 8,192 proofs are one sparse G1 FFT of H.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from offchain import native
from offchain.crypto import bn254 as B
from offchain.crypto import g2_native
from offchain.crypto.backend import get_backend, to_numpy
from offchain.crypto.g1_native import LIMBS, G1Kernel
from offchain.crypto.ntt import (
    Domain,
    _group_fft_columns,
    bitrev_indices,
    coset_scale,
    group_fft_sparse,
    ntt,
    powers,
)
from offchain.da.fk20_native import KernelFK20
from offchain.da.srs import SRS, SRS_ORDER, SRSError
from offchain.errors import DAError

NUM_CHUNKS = 8192
CODING_RATE = 8
FS_TAG = b"EIGEN-DA-BN254-BATCH-V1"

Array = Any


class EncodingError(DAError):
    """Blob or parameters cannot be encoded (size, non-canonical symbols, SRS too small)."""


class VerificationError(DAError):
    """Malformed chunk or proof given to a verifier (a *failed* check returns False instead)."""


class RecoveryError(DAError):
    """Not enough valid distinct chunks, or the chunks are inconsistent."""


@dataclass(frozen=True)
class EncodingParams:
    """Blob-version-0 parameters for a blob of ``n`` symbols."""

    n: int
    num_chunks: int = NUM_CHUNKS
    coding_rate: int = CODING_RATE

    def __post_init__(self) -> None:
        for name, v in (("num_chunks", self.num_chunks), ("coding_rate", self.coding_rate)):
            if v <= 0 or v & (v - 1):
                raise EncodingError(f"{name} {v} is not a power of two")
        if self.num_chunks < self.coding_rate:
            raise EncodingError("fewer chunks than the coding rate")
        if self.n <= 0 or self.n & (self.n - 1):
            raise EncodingError(f"blob length {self.n} symbols is not a power of two")
        if self.chunk_length * self.num_chunks > SRS_ORDER:
            raise EncodingError(f"blob of {self.n} symbols exceeds the SRS order 2^28")

    @property
    def chunk_length(self) -> int:
        return max(1, self.n * self.coding_rate // self.num_chunks)

    @property
    def rows(self) -> int:
        """m = n / L: the degree bound of every column polynomial Q_t (and chunks needed to recover)."""
        return self.n // self.chunk_length

    @property
    def num_evaluations(self) -> int:
        return self.num_chunks * self.chunk_length


def chunk_cosets(indices: np.ndarray, num_chunks: int = NUM_CHUNKS) -> np.ndarray:
    """Chunk index i -> leading coset index j = bitrev(i) (13 bits for 8192 chunks)."""
    return bitrev_indices(num_chunks)[np.asarray(indices, dtype=np.int64)]


@dataclass
class Frames:
    """All chunks of a blob: coefficient matrix (Fr batch (8192, L)) and proofs (G1 batch (8192,))."""

    params: EncodingParams
    coeffs: Array
    proofs: Array


@dataclass
class Sample:
    """A set of chunks of one or more blobs, for verification: all arrays on one backend."""

    blob: np.ndarray  # (K,) index into the commitment list
    index: np.ndarray  # (K,) chunk indices
    coeffs: Array  # Fr batch (K, L)
    proofs: Array  # G1 batch (K,)


@dataclass(frozen=True)
class Suite:
    """The curve an encoder works over: groups, 2-adic root of unity, point encoding, pairing check."""

    name: str
    groups: Any  # xp -> object with fr, g1, g2
    r: int
    root: int
    adicity: int
    g1_compress: Any
    pairing_check: Any
    coset_shift: int


BN254_SUITE = Suite("bn254", B.bn254, B.R, B.ROOT_OF_UNITY_2_28, B.TWO_ADICITY, B.g1_compress, B.pairing_check, 5)


class Encoder:
    """Encoder/verifier over one SRS, one curve suite (BN254 by default) and one array backend."""

    def __init__(self, srs: SRS, backend: str = "cpu", suite: Suite = BN254_SUITE, table_cache: str | None = None) -> None:
        """``table_cache``: a directory to keep the FK20 Toeplitz tables in between processes (kernel path;
        see :class:`KernelFK20`); None keeps them in memory only."""
        self.table_cache = table_cache
        self.xp: ModuleType = get_backend(backend)
        self.backend = backend
        self.suite = suite
        self.srs = srs.to_backend(self.xp)
        self.c = suite.groups(self.xp)
        self._tables: dict[tuple[int, int], Array] = {}
        self._kernel: KernelFK20 | None = None
        self._kernel_state: tuple[bool, str] | None = None
        self._g2_bases: dict[str, np.ndarray] = {}  # SRS G2 arrays in native kernel form

    def kernel(self) -> KernelFK20 | None:
        """The G1 kernel path for commitments and FK20 (native C on CPU, CUDA on GPU), or None for the
        array code (``EIGEN_NATIVE=0``, or a suite without a kernel). Chosen per call, so tests can flip
        ``EIGEN_NATIVE``; the kernel object and its caches are kept."""
        if not native.enabled() or self.suite.name not in LIMBS:
            return None
        if self._kernel is None:
            if self.backend == "gpu":
                from offchain.crypto.g1_gpu import G1GpuKernel

                self._kernel = KernelFK20(self, G1GpuKernel(self.suite.name, self.c), self.table_cache)
            else:
                self._kernel = KernelFK20(self, G1Kernel(self.suite.name, self.c), self.table_cache)
        return self._kernel

    # ----- blobs --------------------------------------------------------------------------
    def blob_to_coeffs(self, blob: bytes) -> Array:
        """Blob bytes (power-of-two count of 32-byte symbols, each < r) -> Fr batch (n,)."""
        if len(blob) == 0 or len(blob) % 32:
            raise EncodingError(f"blob length {len(blob)} is not a positive multiple of 32")
        n = len(blob) // 32
        EncodingParams(n)
        raw = np.frombuffer(blob, dtype=np.uint8).reshape(n, 32)
        ok = self.c.fr.lt_p_bytes(raw)
        if not ok.all():
            raise EncodingError(f"symbol {int(np.argmin(ok))} is not a canonical field element (>= r)")
        return self.c.fr.from_bytes(raw)

    def coeffs_to_blob(self, coeffs: Array) -> bytes:
        return self.c.fr.to_bytes(coeffs).tobytes()

    def eval_to_coeffs(self, evals: Array) -> Array:
        """PolynomialFormEval: treat the symbols as evaluations on the n-th roots and interpolate."""
        n = evals.shape[1]
        return ntt(self.c.fr, evals, self._domain(n), inverse=True)

    def _domain(self, n: int) -> Domain:
        return Domain(self.c.fr, n, self.suite.root, self.suite.adicity)

    # ----- commitments --------------------------------------------------------------------
    def commit(self, coeffs: Array) -> Array:
        """C = sum p_i [tau^i]_1 (G1 batch of one point)."""
        n = coeffs.shape[1]
        S = self.srs.g1_prefix(n)
        k = self.kernel()
        if k is not None:
            return k.commit(coeffs)
        C = self.c.g1.msm(S, self.c.fr.to_bytes(coeffs))
        return C[..., None]

    def _g1_msm(self, P: Array, s: Array) -> Array:
        """sum_i s_i P_i for a G1 batch and an Fr batch of the same length (one point, no batch axis),
        on the G1 kernel when it is in use."""
        k = self.kernel()
        return k.msm(P, s) if k is not None else self.c.g1.msm(P, self.c.fr.to_bytes(s))

    def _g2_msm(self, which: str, lo: int, coeffs: Array) -> Array:
        """sum_i p_i Q_{lo + i} over the SRS's G2 array ``which`` ("g2" or "g2_trailing") as a G2 batch
        of one point: the native G2 kernel (bases converted once per encoder) or the array code."""
        bases = getattr(self.srs, which)
        n = coeffs.shape[1]
        k = g2_native.kernel(self.suite.name, self.c)
        if k is None:
            return self.c.g2.msm(bases[..., lo : lo + n], self.c.fr.to_bytes(coeffs))[..., None]
        kb = self._g2_bases.get(which)
        if kb is None:
            kb = self._g2_bases[which] = k.from_group(bases)  # affine (Z = 1): mixed additions
        out = k.msm(kb[lo : lo + n], k.scalars_from_fr(coeffs))
        return k.to_group(out, self.xp)

    def length_commitment(self, coeffs: Array) -> Array:
        """LC = sum p_i [tau^i]_2 (G2 batch of one point)."""
        n = coeffs.shape[1]
        if self.srs.g2 is None or self.srs.g2.shape[-1] < n:
            raise SRSError(f"{self.srs.name}: G2 powers [tau^i]_2 for i < {n} are not loaded")
        return self._g2_msm("g2", 0, coeffs)

    def length_proof(self, coeffs: Array) -> Array:
        """LP = sum p_i [tau^(2^28 - n + i)]_2 (G2 batch of one point)."""
        n = coeffs.shape[1]
        t = self.srs.g2_trailing
        if t is None or t.shape[-1] < n:
            raise SRSError(f"{self.srs.name}: trailing G2 powers for length {n} are not loaded")
        return self._g2_msm("g2_trailing", t.shape[-1] - n, coeffs)

    def length_commitment_matches(self, C: Array, LC: Array) -> bool:
        """e(C, G2) == e(G1, LC): the G1 commitment and the length commitment are of one polynomial."""
        c = self.c
        return self.suite.pairing_check([(C[..., 0], c.g2.generator[..., 0]), (c.g1.neg(c.g1.generator)[..., 0], LC[..., 0])])

    def length_proof_holds(self, LC: Array, LP: Array, n: int) -> bool:
        """e([tau^(2^28-n)]_1, LC) == e(G1, LP): the committed polynomial has degree < n."""
        if n <= 0 or n & (n - 1):
            raise VerificationError(f"length {n} is not a power of two")
        rev = self.srs.g1_reverse_pow2
        if rev is None:
            raise SRSError(f"{self.srs.name}: [tau^(2^28 - 2^k)]_1 points are not loaded")
        c = self.c
        k = n.bit_length() - 1
        return self.suite.pairing_check([(rev[..., k], LC[..., 0]), (c.g1.neg(c.g1.generator)[..., 0], LP[..., 0])])

    def verify_length_proof(self, C: Array, LC: Array, LP: Array, n: int) -> bool:
        """Both length pairings: :meth:`length_commitment_matches` and :meth:`length_proof_holds`."""
        if n <= 0 or n & (n - 1):
            raise VerificationError(f"length {n} is not a power of two")
        return self.length_commitment_matches(C, LC) and self.length_proof_holds(LC, LP, n)

    # ----- Reed-Solomon -------------------------------------------------------------------
    def chunk_coeffs(self, coeffs: Array, params: EncodingParams) -> Array:
        """Fr batch (8192, L): row i = monomial coefficients of I_i (chunk order)."""
        fr = self.c.fr
        L, m = params.chunk_length, params.rows
        mat = coeffs.reshape(fr.n, m, L)
        M = params.num_chunks
        padded = fr.concat([mat, fr.zeros((M - m, L))])
        E = ntt(fr, padded, self._domain(M))  # E[j, t] = Q_t(w^j)
        return fr.take(E, self.xp.asarray(chunk_cosets(np.arange(M), M)))

    # ----- FK20 ---------------------------------------------------------------------------
    def _toeplitz_table(self, params: EncodingParams) -> Array:
        """The FK20 table of the path in use (kernel form, or array code); cached per blob size. On the kernel
        path this also builds the row MSMs' precomputed bases (setup work, cached with the table)."""
        k = self.kernel()
        if k is None:
            return self._toeplitz_table_array(params)
        k.toeplitz_rows(params)
        return k.toeplitz_table(params)

    def _toeplitz_table_array(self, params: EncodingParams) -> Array:
        """Y[f, t] = FFT_2m^G1(s_t)[f], s_t[d] = [tau^(dL+t)]_1 for d < m-1 (cached per blob size)."""
        n = params.n
        key = (n, params.chunk_length)
        if key in self._tables:
            return self._tables[key]
        g1 = self.c.g1
        L, m = params.chunk_length, params.rows
        S = self.srs.g1_prefix(n)
        idx = np.full((2 * m, L), S.shape[-1], dtype=np.int64)
        d = np.arange(m - 1)[:, None]
        t = np.arange(L)[None, :]
        idx[: m - 1] = d * L + t
        Sinf = g1.concat([S, g1.infinity(1)])
        cols = g1.take(Sinf, self.xp.asarray(idx.reshape(-1))).reshape(Sinf.shape[:2] + (2 * m, L))
        Y = _group_fft_columns(g1, self.c.fr, cols, self._domain(2 * m))
        self._tables[key] = Y
        return Y

    def _toeplitz_scalars(self, coeffs: Array, params: EncodingParams) -> Array:
        """Fr (2m, L): FFT_2m of each reversed, zero-padded column c_t[k] = p_(kL+t), times 1/(2m)
        (the scale of the inverse G1 FFT, folded into the scalars)."""
        fr = self.c.fr
        L, m = params.chunk_length, params.rows
        mat = coeffs.reshape(fr.n, m, L)  # c_t[k] = p_(kL+t)
        crev = mat[:, ::-1, :]
        cpad = fr.concat([crev, fr.zeros((m, L))])
        Cf = ntt(fr, cpad, self._domain(2 * m))  # (2m, L)
        return fr.mul(Cf, fr.const(pow(2 * m, -1, self.suite.r), (1, 1)))

    def h_vector(self, coeffs: Array, params: EncodingParams) -> Array:
        """H_e = sum_i p_(i+(e+1)L) [tau^i]_1 for e < m-1, padded with infinity to length m."""
        fr, g1 = self.c.fr, self.c.g1
        m = params.rows
        Y = self._toeplitz_table_array(params)
        Cf = self._toeplitz_scalars(coeffs, params)
        prod = g1.scalar_mul(Y.reshape(Y.shape[:2] + (-1,)), fr.to_bytes(Cf.reshape(fr.n, -1)))
        U = g1.sum(prod.reshape(Y.shape), axis=1)  # (2m,)
        conv = _group_fft_columns(g1, fr, U[..., None], self._domain(2 * m), inverse=True)[..., 0]
        sel = self.xp.asarray(np.arange(m - 2, -1, -1))  # H_e = conv[m-2-e]
        H = g1.take(conv, sel)
        return g1.concat([H, g1.infinity(1)])

    def proofs(self, coeffs: Array, params: EncodingParams) -> Array:
        """G1 batch (8192,) of chunk proofs in chunk order."""
        g1 = self.c.g1
        m, M = params.rows, params.num_chunks
        if m == 1:
            return g1.infinity(M)
        k = self.kernel()
        if k is not None:
            return k.proofs(coeffs, params, chunk_cosets(np.arange(M), M))
        H = self.h_vector(coeffs, params)
        P_nat = group_fft_sparse(g1, self.c.fr, H, M, self.suite.root, self.suite.adicity)
        return g1.take(P_nat, self.xp.asarray(chunk_cosets(np.arange(M), M)))

    def frames(self, coeffs: Array, params: EncodingParams | None = None) -> Frames:
        params = params or EncodingParams(coeffs.shape[1])
        return Frames(params, self.chunk_coeffs(coeffs, params), self.proofs(coeffs, params))

    # ----- verification -------------------------------------------------------------------
    def _challenge(self, commitments: bytes, s: Sample, L: int) -> int:
        h = hashlib.sha256()
        h.update(FS_TAG)
        h.update(L.to_bytes(4, "big"))
        h.update(commitments)
        h.update(np.asarray(s.blob, dtype=">u4").tobytes())
        h.update(np.asarray(s.index, dtype=">u4").tobytes())
        h.update(self.c.fr.to_bytes(s.coeffs).tobytes())
        h.update(self.suite.name.encode())
        h.update(self.suite.g1_compress(s.proofs))
        return int.from_bytes(h.digest(), "big") % self.suite.r

    def _fr_sum(self, a: Array) -> Array:
        """Sum an Fr batch (K, ...) over its first batch axis (tree of vectorised additions)."""
        fr = self.c.fr
        while a.shape[1] > 1:
            k = a.shape[1]
            s = fr.add(a[:, : k // 2], a[:, k // 2 : 2 * (k // 2)])
            a = fr.concat([s, a[:, k - 1 : k]]) if k % 2 else s
        return a[:, 0]

    def verify_batch(self, commitments: Array, s: Sample, num_chunks: int = NUM_CHUNKS) -> bool:
        """Universal batch check (one 2-pairing product) of chunks of blobs with the same L.

        ``commitments`` is a G1 batch; ``s.blob[k]`` says which commitment chunk k belongs to.
        Weights r^k come from a Fiat-Shamir hash of everything checked.
        """
        c = self.c
        fr, g1 = c.fr, c.g1
        K = int(s.index.shape[0])
        if K == 0:
            raise VerificationError("no chunks to verify")
        L = int(s.coeffs.shape[2])
        if L & (L - 1):
            raise VerificationError(f"chunk length {L} is not a power of two")
        if int(np.max(s.index)) >= num_chunks or int(np.min(s.index)) < 0:
            raise VerificationError("chunk index out of range")
        nb = commitments.shape[-1]
        if int(np.max(s.blob)) >= nb or int(np.min(s.blob)) < 0:
            raise VerificationError("sample refers to a missing commitment")
        r = self._challenge(self.suite.g1_compress(commitments), s, L)
        rk = powers(fr, r, K)  # (K,)
        A = self._g1_msm(s.proofs, rk)
        # z_k = w_8192^(bitrev(i_k)); weights r_k z_k
        roots = self._domain(num_chunks).roots
        zk = fr.take(roots, self.xp.asarray(chunk_cosets(s.index, num_chunks)))
        Zp = self._g1_msm(s.proofs, fr.mul(rk, zk))
        agg = self._fr_sum(fr.mul(s.coeffs, rk[:, :, None]))  # (L,)
        interp = self._g1_msm(self.srs.g1_prefix(L), agg)
        # per-commitment weights: sum of r_k over its chunks
        onehot = self.xp.asarray(np.asarray(s.blob)[:, None] == np.arange(nb)[None, :])  # (K, nb)
        per_blob = self.xp.where(onehot[None], rk[:, :, None], 0)  # (limbs, K, nb)
        wb = self._fr_sum(per_blob)  # (limbs, nb)
        Cagg = self._g1_msm(commitments, wb)
        rhs = g1.add(g1.add(Cagg, g1.neg(interp)), Zp)
        tau_L = self.srs.g2_tau_pow2(L.bit_length() - 1)
        return self.suite.pairing_check([(A, tau_L), (g1.neg(rhs), c.g2.generator[..., 0])])

    def verify_chunk(
        self, commitment: Array, index: int, coeffs: Array, proof: Array, num_chunks: int = NUM_CHUNKS
    ) -> bool:
        """Check one chunk (coefficients (L,), proof point) of the blob with ``commitment``."""
        s = Sample(
            np.zeros(1, np.int64), np.array([index]), coeffs.reshape(coeffs.shape[0], 1, -1),
            proof.reshape(proof.shape[:2] + (1,)),
        )
        return self.verify_batch(commitment, s, num_chunks)

    def find_invalid(self, commitments: Array, s: Sample, num_chunks: int = NUM_CHUNKS, known_bad: bool = False) -> list[int]:
        """Positions (into the sample) of the chunks that fail: a batch check, then bisection. A half whose
        sibling passed is known to fail and is split without being checked again; ``known_bad`` says the
        whole sample already failed a batch check."""
        K = int(s.index.shape[0])
        if K == 0:
            return []
        if not known_bad and self.verify_batch(commitments, s, num_chunks):
            return []
        if K == 1:
            return [0]
        h = K // 2
        left = self.find_invalid(commitments, self.sub_sample(s, np.arange(h)), num_chunks)
        right = self.find_invalid(commitments, self.sub_sample(s, np.arange(h, K)), num_chunks, known_bad=not left)
        return left + [h + k for k in right]

    def sub_sample(self, s: Sample, sel: np.ndarray) -> Sample:
        xi = self.xp.asarray(sel)
        return Sample(s.blob[sel], s.index[sel], self.c.fr.take(s.coeffs, xi), self.c.g1.take(s.proofs, xi))

    # ----- recovery -----------------------------------------------------------------------
    def _vanishing_poly(self, roots_j: np.ndarray, M: int) -> Array:
        """Coefficients (length M) of prod_(j in roots_j) (y - w_M^j), by a batched product tree."""
        fr = self.c.fr
        xp = self.xp
        k = int(roots_j.size)
        if k == 0:
            out = fr.zeros(M)
            out[:, 0] = fr.ones(())
            return out
        dom = self._domain(M)
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
            F = ntt(fr, pad, self._domain(D2))
            prod = fr.mul(F[:, :, 0::2], F[:, :, 1::2])
            polys = ntt(fr, prod, self._domain(D2), inverse=True)
            D = D2
        Z = polys[:, :, 0]
        if Z.shape[1] >= M:
            Z = Z[:, :M]  # degree <= M-1 since at least one chunk is present
        else:
            Z = fr.concat([Z, fr.zeros(M - Z.shape[1])])
        return Z

    def recover_coeffs(self, params: EncodingParams, index: np.ndarray, coeffs: Array) -> Array:
        """Blob coefficients (Fr batch (n,)) from chunks ``index`` (distinct) with frame coefficients (K, L)."""
        fr = self.c.fr
        xp = self.xp
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
        dom = self._domain(M)
        V = fr.zeros((M, L))
        V[:, xp.asarray(j)] = coeffs
        if known.all():
            Q = ntt(fr, V, dom, inverse=True)
        else:
            Z = self._vanishing_poly(np.nonzero(~known)[0], M)
            Zd = ntt(fr, Z, dom)  # Z on the domain (zero at missing)
            E = fr.mul(V, Zd[:, :, None])
            e = ntt(fr, E, dom, inverse=True)  # coefficients of Q*Z
            shift = self.suite.coset_shift
            ec = ntt(fr, coset_scale(fr, e, shift), dom)
            zc = ntt(fr, coset_scale(fr, Z, shift), dom)
            qc = fr.mul(ec, fr.inv(zc)[:, :, None])
            Q = coset_scale(fr, ntt(fr, qc, dom, inverse=True), pow(shift, -1, self.suite.r))
        tail = fr.is_zero(Q[:, m:])
        if not bool(to_numpy(tail).all()):
            raise RecoveryError("chunks are inconsistent: recovered polynomial exceeds the blob length")
        return Q[:, :m].reshape(fr.n, m * L)
