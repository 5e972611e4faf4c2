"""PeerDAS (EIP-7594) on BLS12-381 with the same machinery as the EigenDA encoder.

Parameters: 4,096-element blobs in evaluation form (bit-reversed order over the 4096th roots of unity),
rate 1/2 (8,192 extended evaluations), 128 cells of 64 field elements, cell k on the coset of
``bitrev_7(k)``. In encoder terms: 128 chunks, coding rate 2, L = 64; cell k's values are the chunk's
interpolating polynomial evaluated on its coset in bit-reversed order, and its proof is the same FK20
multiproof. Setup: the Ethereum KZG ceremony file (``trusted_setup.txt``: G1 Lagrange, G2 monomial,
G1 monomial), shipped inside PyPI packages (py-evm's ``eth/_utils/kzg_trusted_setup.txt``).

Outputs are meant to be byte-identical to ``ckzg``'s compute_cells_and_kzg_proofs,
recover_cells_and_kzg_proofs and verify_cell_kzg_proof_batch.

Payload packing (:func:`pack_payload`, version 0): EigenDA's codec (:mod:`offchain.da.codec`) in one blob.
Element 0 is the header ``[0x00, version 0x00, payload length u32 BE, 26 zero bytes]``; the payload
follows in 31-byte groups, each after a 0x00 guard byte (the last group zero-padded); the remaining
elements of the 4,096 are zero. Every element is < 2^248 < r, so the blob is canonical; at most
4,095 x 31 = 126,945 bytes fit. Unpacking is strict (guards, header, padding, length).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from offchain.backend import get_backend
from offchain.crypto import bls12_381
from offchain.crypto.ntt import bitrev_indices, ntt
from offchain.da import codec
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import EncodingParams, Sample, Suite
from offchain.da.errors import PeerDASError, PeerDASInputError, SRSError
from offchain.da.srs import SRS

FIELD_ELEMENTS_PER_BLOB = 4096
FIELD_ELEMENTS_PER_EXT_BLOB = 8192
FIELD_ELEMENTS_PER_CELL = 64
CELLS_PER_EXT_BLOB = 128
BYTES_PER_CELL = 32 * FIELD_ELEMENTS_PER_CELL
CELLS_NEEDED = CELLS_PER_EXT_BLOB // 2  # rate 1/2: any half of the cells recovers the blob
BLOB_BYTES = 32 * FIELD_ELEMENTS_PER_BLOB
MAX_PAYLOAD = (FIELD_ELEMENTS_PER_BLOB - 1) * codec.GROUP  # 126,945 bytes

BLS_SUITE = Suite(
    "bls12_381",
    bls12_381.bls12_381,
    bls12_381.R,
    bls12_381.ROOT_OF_UNITY_2_32,
    bls12_381.TWO_ADICITY,
    bls12_381.g1_compress,
    bls12_381.pairing_check,
    7,
)
PARAMS = EncodingParams(FIELD_ELEMENTS_PER_BLOB, num_chunks=CELLS_PER_EXT_BLOB, coding_rate=2)

Array = Any


def pack_payload(payload: bytes) -> bytes:
    """Payload -> one 131,072-byte blob (EigenDA codec, zero elements up to 4,096)."""
    if len(payload) > MAX_PAYLOAD:
        raise PeerDASInputError(
            f"payload of {len(payload)} bytes does not fit one blob: at most {MAX_PAYLOAD} bytes "
            f"({FIELD_ELEMENTS_PER_BLOB - 1} elements of {codec.GROUP} bytes after the header element)"
        )
    enc = codec.encode_payload(payload)
    return enc + bytes(BLOB_BYTES - len(enc))


def unpack_payload(blob: bytes) -> bytes:
    if len(blob) != BLOB_BYTES:
        raise PeerDASError(f"blob must be {BLOB_BYTES} bytes, got {len(blob)}")
    return codec.decode_payload(blob)


def load_trusted_setup(
    path: str | Path, backend: str = "cpu", g1_count: int = FIELD_ELEMENTS_PER_BLOB
) -> SRS:
    """Ethereum KZG setup text file -> SRS (the first ``g1_count`` G1 monomial points, [tau^(2^k)]_2 for
    k <= 6), every point checked. Verification needs only 64 G1 points; commitments and proofs need all."""
    xp = get_backend(backend)
    p = Path(path)
    if not p.exists():
        raise SRSError(f"trusted setup not found: {p}")
    words = p.read_text().split()
    try:
        n1, n2 = int(words[0]), int(words[1])
        body = [bytes.fromhex(w) for w in words[2:]]
    except (ValueError, IndexError) as exc:
        raise SRSError(f"{p}: malformed trusted setup ({exc})") from exc
    if n1 != FIELD_ELEMENTS_PER_BLOB or n2 < 65 or len(body) != 2 * n1 + n2:
        raise SRSError(f"{p}: unexpected point counts {n1}, {n2}, {len(body)}")
    g2_mono = body[n1 : n1 + n2]
    g1_mono = body[n1 + n2 : n1 + n2 + g1_count]
    g1 = bls12_381.g1_decompress(b"".join(g1_mono), xp)
    g2_pow2 = bls12_381.g2_decompress(b"".join(g2_mono[1 << k] for k in range(7)), xp)
    return SRS(g1=g1, g2_pow2=g2_pow2, name=f"ethereum-kzg:{p.name}", xp=xp)


class PeerDAS:
    def __init__(self, srs: SRS, backend: str = "cpu", table_cache: str | None = None) -> None:
        """``table_cache``: a directory for the FK20 table between processes (see :class:`Encoder`)."""
        self.enc = Encoder(srs, backend, BLS_SUITE, table_cache=table_cache)
        self.fr = self.enc.c.fr
        self.xp = self.enc.xp
        # cell k, slot t holds the value at h_k * w_64^(bitrev_6(t))
        self._br6 = self.xp.asarray(bitrev_indices(FIELD_ELEMENTS_PER_CELL))
        self._shift = self.fr.take(
            self.enc.domain(FIELD_ELEMENTS_PER_EXT_BLOB).roots,
            self.xp.asarray(bitrev_indices(CELLS_PER_EXT_BLOB)),
        )  # h_k, (128,)

    # ----- blobs -------------------------------------------------------------------------
    def blob_to_coeffs(self, blob: bytes) -> Array:
        if len(blob) != 32 * FIELD_ELEMENTS_PER_BLOB:
            raise PeerDASError(f"blob must be {32 * FIELD_ELEMENTS_PER_BLOB} bytes, got {len(blob)}")
        raw = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 32)
        ok = self.fr.lt_p_bytes(raw)
        if not ok.all():
            raise PeerDASError(f"blob element {int(np.argmin(ok))} is not canonical")
        evals_br = self.fr.from_bytes(raw)
        natural = self.fr.take(evals_br, self.xp.asarray(bitrev_indices(FIELD_ELEMENTS_PER_BLOB)))
        return ntt(self.fr, natural, self.enc.domain(FIELD_ELEMENTS_PER_BLOB), inverse=True)

    def commitment(self, blob: bytes) -> bytes:
        return bls12_381.g1_compress(self.enc.commit(self.blob_to_coeffs(blob)))

    def cells_from_coeffs(self, coeffs: Array) -> list[bytes]:
        fr = self.fr
        ext = ntt(
            fr,
            fr.concat([coeffs, fr.zeros(FIELD_ELEMENTS_PER_EXT_BLOB - FIELD_ELEMENTS_PER_BLOB)]),
            self.enc.domain(FIELD_ELEMENTS_PER_EXT_BLOB),
        )
        br = fr.take(ext, self.xp.asarray(bitrev_indices(FIELD_ELEMENTS_PER_EXT_BLOB)))
        raw = fr.to_bytes(br).reshape(CELLS_PER_EXT_BLOB, BYTES_PER_CELL)
        return [r.tobytes() for r in raw]

    def compute_cells(self, blob: bytes) -> list[bytes]:
        return self.cells_from_coeffs(self.blob_to_coeffs(blob))

    def compute_cells_and_kzg_proofs(self, blob: bytes) -> tuple[list[bytes], list[bytes]]:
        coeffs = self.blob_to_coeffs(blob)
        proofs = bls12_381.g1_compress(self.enc.proofs(coeffs, PARAMS))
        return self.cells_from_coeffs(coeffs), [
            proofs[48 * k : 48 * (k + 1)] for k in range(CELLS_PER_EXT_BLOB)
        ]

    # ----- cells <-> frame coefficients --------------------------------------------------
    def cells_to_frames(self, indices: np.ndarray, cells: list[bytes]) -> Array:
        """Cells (values in bit-reversed order on their cosets) -> monomial coefficients (K, 64)."""
        fr = self.fr
        if any(len(c) != BYTES_PER_CELL for c in cells):
            raise PeerDASError(f"every cell must be {BYTES_PER_CELL} bytes")
        raw = np.frombuffer(b"".join(cells), dtype=np.uint8).reshape(-1, 32)
        ok = fr.lt_p_bytes(raw)
        if not ok.all():
            raise PeerDASError(f"cell element {int(np.argmin(ok))} is not canonical")
        K = len(cells)
        vals = fr.from_bytes(raw).reshape(fr.n, K, FIELD_ELEMENTS_PER_CELL)
        natural = fr.take(vals, self._br6, axis=1)  # natural order over w_64
        coeffs_scaled = ntt(
            fr, fr.xp.moveaxis(natural, 2, 1), self.enc.domain(FIELD_ELEMENTS_PER_CELL), inverse=True
        )
        # coefficient t of I(x) is coeffs_scaled[t] * h^(-t)
        h = fr.take(self._shift, self.xp.asarray(indices))  # (K,)
        hinv = fr.inv(h)
        pw = fr.ones((1, K))
        rows = [pw]
        for _ in range(FIELD_ELEMENTS_PER_CELL - 1):  # 63 vectorised steps over all K cells
            pw = fr.mul(pw, hinv[:, None])
            rows.append(pw)
        hp = fr.concat(rows)  # (64, K)
        out = fr.mul(coeffs_scaled, hp)  # (64, K)
        return self.xp.moveaxis(out, 1, 2)  # (K, 64)

    # ----- verification and recovery ------------------------------------------------------
    def _sample(
        self, commitments: list[bytes], cell_indices: list[int], cells: list[bytes], proofs: list[bytes]
    ) -> tuple[Array, Sample]:
        K = len(cells)
        if not (len(commitments) == len(cell_indices) == len(proofs) == K) or K == 0:
            raise PeerDASError("commitments, indices, cells and proofs must have the same non-zero length")
        idx = np.asarray(cell_indices, dtype=np.int64)
        if idx.min() < 0 or idx.max() >= CELLS_PER_EXT_BLOB:
            raise PeerDASError("cell index out of range")
        uniq = sorted(set(commitments))
        which = np.array([uniq.index(c) for c in commitments], dtype=np.int64)
        C = bls12_381.g1_decompress(b"".join(uniq), self.xp)
        P = bls12_381.g1_decompress(b"".join(proofs), self.xp)
        return C, Sample(which, idx, self.cells_to_frames(idx, cells), P)

    def verify_cell_kzg_proof_batch(
        self, commitments: list[bytes], cell_indices: list[int], cells: list[bytes], proofs: list[bytes]
    ) -> bool:
        C, s = self._sample(commitments, cell_indices, cells, proofs)
        return self.enc.verify_batch(C, s, CELLS_PER_EXT_BLOB)

    def decode_cells(
        self, cell_indices: list[int], cells: list[bytes], proofs: list[bytes]
    ) -> tuple[Sample, dict[int, str]]:
        """Cells of one blob -> (Sample of the decodable ones, ``blob`` all 0; {position: reason} of the
        others). A cell is undecodable when it is not 2,048 bytes, has an element >= r, or its proof is
        not 48 bytes or not a valid compressed point of the order-r subgroup. No pairing is computed."""
        K = len(cells)
        if not (len(cell_indices) == len(proofs) == K):
            raise PeerDASError("indices, cells and proofs must have the same length")
        bad: dict[int, str] = {}
        for k in range(K):
            if len(cells[k]) != BYTES_PER_CELL:
                bad[k] = f"cell is {len(cells[k])} bytes, not {BYTES_PER_CELL}"
            elif len(proofs[k]) != 48:
                bad[k] = f"proof is {len(proofs[k])} bytes, not 48"
        pos = [k for k in range(K) if k not in bad]
        if pos:
            raw = np.frombuffer(b"".join(cells[k] for k in pos), dtype=np.uint8).reshape(len(pos), -1, 32)
            ok = self.fr.lt_p_bytes(raw.reshape(-1, 32)).reshape(len(pos), -1)
            for j in np.nonzero(~ok.all(axis=1))[0]:
                bad[pos[j]] = f"cell element {int(np.argmin(ok[j]))} is not canonical (>= r)"
        pos = [k for k in range(K) if k not in bad]
        while True:  # decode the proofs; each failure names the first bad point, drop it and retry
            try:
                P = bls12_381.g1_decompress(b"".join(proofs[k] for k in pos), self.xp)
                break
            except bls12_381.PointError as exc:
                found = re.match(r"G1 point (\d+):", str(exc))
                if found is None:
                    raise PeerDASError(f"proofs: {exc}") from exc
                k = pos.pop(int(found.group(1)))
                bad[k] = f"proof: {exc}"
        idx = np.asarray([cell_indices[k] for k in pos], dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= CELLS_PER_EXT_BLOB):
            raise PeerDASError("cell index out of range")
        coeffs = (
            self.cells_to_frames(idx, [cells[k] for k in pos])
            if pos
            else self.fr.zeros((0, FIELD_ELEMENTS_PER_CELL))
        )
        return Sample(np.zeros(len(pos), np.int64), idx, coeffs, P), dict(sorted(bad.items()))

    def find_invalid(self, commitment: Array, s: Sample, known_bad: bool = False) -> list[int]:
        """Positions (into ``s``) of the cells whose KZG check fails (the encoder's batch check and
        bisection; ``known_bad`` says the whole sample already failed a batch check)."""
        return self.enc.find_invalid(commitment, s, CELLS_PER_EXT_BLOB, known_bad)

    def recover_coeffs(self, cell_indices: list[int], cells: list[bytes]) -> Array:
        idx = np.asarray(cell_indices, dtype=np.int64)
        return self.enc.recover_coeffs(PARAMS, idx, self.cells_to_frames(idx, cells))

    def coeffs_to_blob(self, coeffs: Array) -> bytes:
        """Inverse of :meth:`blob_to_coeffs`: evaluations over the 4096th roots, bit-reversed order."""
        fr = self.fr
        evals = ntt(fr, coeffs, self.enc.domain(FIELD_ELEMENTS_PER_BLOB))
        br = fr.take(evals, self.xp.asarray(bitrev_indices(FIELD_ELEMENTS_PER_BLOB)))
        return fr.to_bytes(br).tobytes()

    def recover_cells_and_kzg_proofs(
        self, cell_indices: list[int], cells: list[bytes]
    ) -> tuple[list[bytes], list[bytes]]:
        coeffs = self.recover_coeffs(cell_indices, cells)
        proofs = bls12_381.g1_compress(self.enc.proofs(coeffs, PARAMS))
        return self.cells_from_coeffs(coeffs), [
            proofs[48 * k : 48 * (k + 1)] for k in range(CELLS_PER_EXT_BLOB)
        ]
