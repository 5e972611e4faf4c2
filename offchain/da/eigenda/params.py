"""EigenDA encoding parameters (blob version 0) and the types the encoder, FK20, verifier and recovery
share: :class:`EncodingParams`, the chunk -> coset map, :class:`Frames`, :class:`Sample` and the curve
:class:`Suite` (BN254 for EigenDA; PeerDAS brings its BLS12-381 suite).

Conventions (EigenDA V2, blob version 0):
- a blob of ``n`` symbols (power of two) is a polynomial p of degree < n in *coefficient* form;
- 8,192 chunks (coding rate 8); chunk length ``L = max(1, n / 1024)``; evaluation domain ``N = 8192 L``;
- chunk ``i`` is the coset ``h_i <w_L>`` with ``h_i = w_N^j``, ``j = bitrev_13(i)``; its frame holds the
  monomial coefficients of ``I_i(x) = p(x) mod (x^L - w_8192^j)`` and a KZG proof ``[q_i(tau)]_1`` with
  ``p - I_i = q_i (x^L - w_8192^j)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.crypto import bn254
from offchain.crypto.ntt import Domain, bitrev_indices
from offchain.da.errors import EncodingError
from offchain.da.srs import SRS_ORDER

NUM_CHUNKS = 8192
CODING_RATE = 8

Array = Any


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

    def domain(self, fr: Any, n: int) -> Domain:
        """The evaluation domain of size ``n`` (the n-th roots of unity) over the Fr batch module ``fr``."""
        return Domain(fr, n, self.root, self.adicity)


BN254_SUITE = Suite(
    "bn254",
    bn254.bn254,
    bn254.R,
    bn254.ROOT_OF_UNITY_2_28,
    bn254.TWO_ADICITY,
    bn254.g1_compress,
    bn254.pairing_check,
    5,
)
