"""Chunk verification (single, batched, bisection to the bad chunks) and the length commitment/proof
pairings of an EigenDA blob commitment.

Batch check: for chunks k of blobs b_k with coefficients c_k, proofs pi_k and leading cosets z_k, with
weights r^k from a Fiat-Shamir hash of everything checked,
``e(sum r^k pi_k, [tau^L]_2) == e(sum_b w_b C_b - [sum r^k I_k(tau)]_1 + sum r^k z_k pi_k, G2)``:
one 2-pairing product for any number of chunks of blobs with the same L.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.crypto.ntt import powers
from offchain.da.eigenda.params import NUM_CHUNKS, Sample, Suite, chunk_cosets
from offchain.da.errors import SRSError, VerificationError
from offchain.da.srs import SRS

FS_TAG = b"EIGEN-DA-BN254-BATCH-V1"

Array = Any


@dataclass(frozen=True)
class Verifier:
    """Checks over one SRS and curve suite: ``c`` the curve groups on the backend, ``msm(P, s)`` the G1
    multi-scalar multiplication to use (kernel or array code; one point, no batch axis)."""

    c: Any
    suite: Suite
    srs: SRS
    msm: Callable[[Array, Array], Array]

    # ----- chunks -------------------------------------------------------------------------
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
        A = self.msm(s.proofs, rk)
        # z_k = w_8192^(bitrev(i_k)); weights r_k z_k
        roots = self.suite.domain(fr, num_chunks).roots
        zk = fr.take(roots, c.xp.asarray(chunk_cosets(s.index, num_chunks)))
        Zp = self.msm(s.proofs, fr.mul(rk, zk))
        agg = self._fr_sum(fr.mul(s.coeffs, rk[:, :, None]))  # (L,)
        interp = self.msm(self.srs.g1_prefix(L), agg)
        # per-commitment weights: sum of r_k over its chunks
        onehot = c.xp.asarray(np.asarray(s.blob)[:, None] == np.arange(nb)[None, :])  # (K, nb)
        per_blob = c.xp.where(onehot[None], rk[:, :, None], 0)  # (limbs, K, nb)
        wb = self._fr_sum(per_blob)  # (limbs, nb)
        Cagg = self.msm(commitments, wb)
        rhs = g1.add(g1.add(Cagg, g1.neg(interp)), Zp)
        tau_L = self.srs.g2_tau_pow2(L.bit_length() - 1)
        return self.suite.pairing_check([(A, tau_L), (g1.neg(rhs), c.g2.generator[..., 0])])

    def verify_chunk(
        self, commitment: Array, index: int, coeffs: Array, proof: Array, num_chunks: int = NUM_CHUNKS
    ) -> bool:
        """Check one chunk (coefficients (L,), proof point) of the blob with ``commitment``."""
        s = Sample(
            np.zeros(1, np.int64),
            np.array([index]),
            coeffs.reshape(coeffs.shape[0], 1, -1),
            proof.reshape(proof.shape[:2] + (1,)),
        )
        return self.verify_batch(commitment, s, num_chunks)

    def find_invalid(
        self,
        commitments: Array,
        s: Sample,
        num_chunks: int = NUM_CHUNKS,
        known_bad: bool = False,
        *,
        limit: int | None = None,
        on_resolved: Callable[[int, int], None] | None = None,
    ) -> list[int]:
        """Positions (into the sample, ascending) of the chunks that fail: a batch check, then bisection. A
        half whose sibling passed is known to fail and is split without being checked again; ``known_bad``
        says the whole sample already failed a batch check. One bad chunk among K costs between
        log2(K) + 1 and 2 log2(K) + 1 checks.

        ``limit``: stop once that many bad chunks are found (the rest of the sample is then unresolved;
        ``eigen da verify --fail-fast`` passes 1). ``on_resolved(chunks, bad)``: called whenever ``chunks``
        more chunks are resolved (passed a check, or found bad), with the number of bad ones found so far
        (a progress hook)."""
        found: list[int] = []
        total = int(s.index.shape[0])

        def resolved(k: int) -> None:
            if on_resolved is not None:
                on_resolved(k, len(found))

        def walk(lo: int, hi: int, known_bad: bool) -> None:
            if limit is not None and len(found) >= limit:
                return
            part = s if (lo, hi) == (0, total) else self.sub_sample(s, np.arange(lo, hi))
            if not known_bad and self.verify_batch(commitments, part, num_chunks):
                resolved(hi - lo)
                return
            if hi - lo == 1:
                found.append(lo)
                resolved(1)
                return
            mid = lo + (hi - lo) // 2
            before = len(found)
            walk(lo, mid, False)
            walk(mid, hi, known_bad=len(found) == before)

        if total:
            walk(0, total, known_bad)
        return found

    def sub_sample(self, s: Sample, sel: np.ndarray) -> Sample:
        xi = self.c.xp.asarray(sel)
        return Sample(s.blob[sel], s.index[sel], self.c.fr.take(s.coeffs, xi), self.c.g1.take(s.proofs, xi))

    # ----- length commitment and proof ----------------------------------------------------
    def length_commitment_matches(self, C: Array, LC: Array) -> bool:
        """e(C, G2) == e(G1, LC): the G1 commitment and the length commitment are of one polynomial."""
        c = self.c
        return self.suite.pairing_check(
            [(C[..., 0], c.g2.generator[..., 0]), (c.g1.neg(c.g1.generator)[..., 0], LC[..., 0])]
        )

    def length_proof_holds(self, LC: Array, LP: Array, n: int) -> bool:
        """e([tau^(2^28-n)]_1, LC) == e(G1, LP): the committed polynomial has degree < n."""
        if n <= 0 or n & (n - 1):
            raise VerificationError(f"length {n} is not a power of two")
        rev = self.srs.g1_reverse_pow2
        if rev is None:
            raise SRSError(f"{self.srs.name}: [tau^(2^28 - 2^k)]_1 points are not loaded")
        c = self.c
        k = n.bit_length() - 1
        return self.suite.pairing_check(
            [(rev[..., k], LC[..., 0]), (c.g1.neg(c.g1.generator)[..., 0], LP[..., 0])]
        )

    def verify_length_proof(self, C: Array, LC: Array, LP: Array, n: int) -> bool:
        """Both length pairings: :meth:`length_commitment_matches` and :meth:`length_proof_holds`."""
        if n <= 0 or n & (n - 1):
            raise VerificationError(f"length {n} is not a power of two")
        return self.length_commitment_matches(C, LC) and self.length_proof_holds(LC, LP, n)
