"""Retrieval from validators (EigenDA's ``api/clients/v2/validator`` fallback path).

:func:`retrieve_blob` recomputes the blob's assignment from the operators' stakes, asks validators in a
random order for their chunks (``GetChunks``), checks every chunk against the blob commitment (one batch
KZG check per validator; a validator whose chunks fail it is dropped whole, as EigenDA's client does) and stops once it holds
enough distinct verified chunks to decode (n / L, i.e. 1/8 of the 8,192 for blobs of 4,096 symbols or
more). The decoded blob is checked once more against the commitment before it is returned. A validator
that is down, answers malformed data, or serves corrupted chunks is skipped and reported.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import numpy as np

from offchain.crypto import bn254
from offchain.crypto.errors import PointError
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import EncodingParams, Sample
from offchain.da.errors import GrpcCallError, NetworkMessageError, RecoveryError
from offchain.da.network import wire
from offchain.da.network.assignment import BlobParams, assignments_for_blob, chunk_length
from offchain.da.network.types import BlobHeader

V0_PARAMS = BlobParams()


@dataclass
class Retrieval:
    blob: bytes
    chunks_used: int
    validators_used: list[bytes]
    skipped: dict[bytes, str] = field(default_factory=dict)  # operator id -> why


def _fetch(
    url: str, blob_key: bytes, quorum: int, timeout_s: float, tls: wire.ClientTLS | None = None
) -> list[str]:
    """``GetChunks`` of the validator at ``url``: over gRPC (``validator.Retrieval``) for ``grpc://host:port``
    (``grpcs://``: over TLS with ``tls``), else over HTTP+JSON."""
    request = {"blob_key": blob_key.hex(), "quorum_id": quorum}
    if wire.is_grpc(url):
        body = wire.grpc_call(url, "validator.Retrieval", "GetChunks", request, timeout_s, tls)
    else:
        r = httpx.post(f"{url}/v2/GetChunks", json=request, timeout=timeout_s)
        if r.status_code != 200:
            raise NetworkMessageError(f"GetChunks: HTTP {r.status_code}")
        body = r.json()
    if (
        not isinstance(body, dict)
        or body.get("chunk_encoding_format") != 1
        or not isinstance(body.get("chunks"), list)
    ):
        raise NetworkMessageError("GetChunks: malformed reply")
    return body["chunks"]


def retrieve_blob(
    header: BlobHeader,
    stakes: Mapping[int, Mapping[bytes, int]],
    urls: Mapping[bytes, str],
    encoder: Encoder,
    *,
    params: BlobParams = V0_PARAMS,
    timeout_s: float = 10.0,
    rng: random.Random | None = None,
    tls: wire.ClientTLS | None = None,
) -> Retrieval:
    key = header.blob_key()
    com = header.commitment
    C, _, _ = com.points()
    n = com.length
    L = chunk_length(n, params)
    enc_params = EncodingParams(n, params.num_chunks, params.coding_rate)
    need = enc_params.rows
    assignment = assignments_for_blob(stakes, params, header.quorum_numbers)
    order = sorted(assignment, key=bytes.hex)
    (rng or random.SystemRandom()).shuffle(order)
    fr = encoder.c.fr
    have: dict[int, np.ndarray] = {}  # chunk index -> coefficients uint8 (L, 32)
    used: list[bytes] = []
    skipped: dict[bytes, str] = {}
    quorum = min(header.quorum_numbers)
    for op in order:
        if len(have) >= need:
            break
        indices = assignment[op]
        url = urls.get(op)
        if not indices or not url:
            skipped[op] = "no chunks assigned" if not indices else "no URL"
            continue
        try:
            raw = [bytes.fromhex(c) for c in _fetch(url, key, quorum, timeout_s, tls)]
        except (httpx.HTTPError, NetworkMessageError, GrpcCallError, ValueError, TypeError) as exc:
            skipped[op] = f"unavailable: {exc}"
            continue
        size = 32 + 32 * L
        if len(raw) != len(indices) or any(len(c) != size for c in raw):
            skipped[op] = f"{len(raw)} chunks, {len(indices)} assigned of {size} bytes"
            continue
        rec = np.frombuffer(b"".join(raw), np.uint8).reshape(-1, size)
        coeff_raw = rec[:, 32:].reshape(-1, L, 32)
        if not fr.lt_p_bytes(coeff_raw.reshape(-1, 32)).all():
            skipped[op] = "non-canonical coefficients"
            continue
        try:
            P = bn254.g1_decompress(rec[:, :32].tobytes(), encoder.xp)
        except PointError as exc:
            skipped[op] = f"bad proof: {exc}"
            continue
        K = len(indices)
        coeffs = fr.from_bytes(coeff_raw.reshape(-1, 32)).reshape(fr.n, K, L)
        sample = Sample(np.zeros(K, np.int64), np.asarray(indices, np.int64), coeffs, P)
        if not encoder.verify_batch(C, sample, params.num_chunks):
            skipped[op] = f"its {K} chunks fail verification against the commitment"
            continue
        for k, idx in enumerate(indices):
            have.setdefault(idx, coeff_raw[k])
        used.append(op)
    if len(have) < need:
        raise RecoveryError(
            f"{len(have)} verified distinct chunks from validators, {need} are needed; {skipped}"
        )
    idx = np.array(sorted(have), np.int64)
    coeffs = fr.from_bytes(np.stack([have[int(i)] for i in idx]).reshape(-1, 32)).reshape(fr.n, idx.size, L)
    poly = encoder.recover_coeffs(enc_params, idx, coeffs)
    if bn254.g1_compress(encoder.commit(poly)) != com.commitment:
        raise RecoveryError("the decoded blob does not match the commitment")
    return Retrieval(encoder.coeffs_to_blob(poly), len(have), used, skipped)
