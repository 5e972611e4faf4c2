"""The EigenDA encoder on BN254: blob <-> coefficients, KZG commitment, length commitment and proof,
Reed-Solomon chunks and their FK20 proofs; verification and recovery of chunks on the same setup.

The encoding parameters and conventions are in :mod:`offchain.da.eigenda.params`; the FK20 multiproofs
in :mod:`offchain.da.eigenda.fk20`, the checks in :mod:`offchain.da.eigenda.verify` and the erasure
decoding in :mod:`offchain.da.eigenda.recover`. :class:`Encoder` holds what they share (SRS on the
backend, curve suite, the G1 kernel and its tables) and hands each one what it needs.

All frame coefficients come from one batched transform: writing ``p(x) = sum_k x^(kL) P_k(x)``,
``coeff_t(I_i) = Q_t(w_8192^j)`` with ``Q_t(y) = sum_k p_(kL+t) y^k``, i.e. L column NTTs of size 8192 of
the (n/L x L) coefficient matrix, rows read at ``bitrev_13(i)``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from offchain import native
from offchain.backend import get_backend
from offchain.crypto import g2_native
from offchain.crypto.g1_gpu import G1GpuKernel
from offchain.crypto.g1_native import LIMBS, G1Kernel
from offchain.crypto.ntt import Domain, ntt
from offchain.da.eigenda import fk20, recover
from offchain.da.eigenda.fk20 import KernelFK20
from offchain.da.eigenda.params import (
    BN254_SUITE,
    NUM_CHUNKS,
    EncodingParams,
    Frames,
    Sample,
    Suite,
    chunk_cosets,
)
from offchain.da.eigenda.verify import Verifier
from offchain.da.errors import EncodingError, SRSError
from offchain.da.srs import SRS

Array = Any


class Encoder:
    """Encoder/verifier over one SRS, one curve suite (BN254 by default) and one array backend."""

    def __init__(
        self, srs: SRS, backend: str = "cpu", suite: Suite = BN254_SUITE, table_cache: str | None = None
    ) -> None:
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
        self._g2_bases: dict[str, np.ndarray] = {}  # SRS G2 arrays in native kernel form
        self.verifier = Verifier(self.c, suite, self.srs, self._g1_msm)

    def kernel(self) -> KernelFK20 | None:
        """The G1 kernel path for commitments and FK20 (native C on CPU, CUDA on GPU), or None for the
        array code (``EIGEN_NATIVE=0``, or a suite without a kernel). Chosen per call, so tests can flip
        ``EIGEN_NATIVE``; the kernel object and its caches are kept."""
        if not native.enabled() or self.suite.name not in LIMBS:
            return None
        if self._kernel is None:
            gpu = self.backend == "gpu"
            K = G1GpuKernel(self.suite.name, self.c) if gpu else G1Kernel(self.suite.name, self.c)
            self._kernel = KernelFK20(K, self.c.fr, self.suite, self.srs, self.table_cache)
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
        return ntt(self.c.fr, evals, self.domain(n), inverse=True)

    def domain(self, n: int) -> Domain:
        """The evaluation domain of size ``n`` over this encoder's Fr."""
        return self.suite.domain(self.c.fr, n)

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

    # ----- Reed-Solomon -------------------------------------------------------------------
    def chunk_coeffs(self, coeffs: Array, params: EncodingParams) -> Array:
        """Fr batch (8192, L): row i = monomial coefficients of I_i (chunk order)."""
        fr = self.c.fr
        L, m = params.chunk_length, params.rows
        mat = coeffs.reshape(fr.n, m, L)
        M = params.num_chunks
        padded = fr.concat([mat, fr.zeros((M - m, L))])
        E = ntt(fr, padded, self.domain(M))  # E[j, t] = Q_t(w^j)
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
        """The array code's table (:func:`fk20.toeplitz_table`), cached per blob size."""
        key = (params.n, params.chunk_length)
        if key not in self._tables:
            self._tables[key] = fk20.toeplitz_table(self.c, self.suite, self.srs.g1_prefix(params.n), params)
        return self._tables[key]

    def proofs(self, coeffs: Array, params: EncodingParams) -> Array:
        """G1 batch (8192,) of chunk proofs in chunk order."""
        M = params.num_chunks
        if params.rows == 1:
            return self.c.g1.infinity(M)
        k = self.kernel()
        if k is not None:
            return k.proofs(coeffs, params, chunk_cosets(np.arange(M), M))
        return fk20.compute_fk20_proofs(
            self.c, self.suite, self._toeplitz_table_array(params), coeffs, params
        )

    def frames(self, coeffs: Array, params: EncodingParams | None = None) -> Frames:
        params = params or EncodingParams(coeffs.shape[1])
        return Frames(params, self.chunk_coeffs(coeffs, params), self.proofs(coeffs, params))

    # ----- verification (offchain.da.eigenda.verify) --------------------------------------
    def verify_batch(self, commitments: Array, s: Sample, num_chunks: int = NUM_CHUNKS) -> bool:
        return self.verifier.verify_batch(commitments, s, num_chunks)

    def verify_chunk(
        self, commitment: Array, index: int, coeffs: Array, proof: Array, num_chunks: int = NUM_CHUNKS
    ) -> bool:
        return self.verifier.verify_chunk(commitment, index, coeffs, proof, num_chunks)

    def find_invalid(
        self,
        commitments: Array,
        s: Sample,
        num_chunks: int = NUM_CHUNKS,
        known_bad: bool = False,
        **kw: Any,
    ) -> list[int]:
        """:meth:`Verifier.find_invalid` (``limit``, ``on_resolved`` pass through)."""
        return self.verifier.find_invalid(commitments, s, num_chunks, known_bad, **kw)

    def sub_sample(self, s: Sample, sel: np.ndarray) -> Sample:
        return self.verifier.sub_sample(s, sel)

    def length_commitment_matches(self, C: Array, LC: Array) -> bool:
        return self.verifier.length_commitment_matches(C, LC)

    def length_proof_holds(self, LC: Array, LP: Array, n: int) -> bool:
        return self.verifier.length_proof_holds(LC, LP, n)

    def verify_length_proof(self, C: Array, LC: Array, LP: Array, n: int) -> bool:
        return self.verifier.verify_length_proof(C, LC, LP, n)

    # ----- recovery (offchain.da.eigenda.recover) -----------------------------------------
    def recover_coeffs(self, params: EncodingParams, index: np.ndarray, coeffs: Array) -> Array:
        """Blob coefficients (Fr batch (n,)) from chunks ``index`` (distinct) with frame coefficients (K, L)."""
        return recover.recover_coeffs(self.c.fr, self.suite, params, index, coeffs)
