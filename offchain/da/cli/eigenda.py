"""``eigen da encode | verify | recover | bundle``: the EigenDA mode on the command line.

- ``eigen da encode PAYLOAD --out DIR``: payload -> blob -> commitment, 8,192 chunks with FK20 proofs;
  writes ``DIR/blob.bin``, ``DIR/commitment.json`` and ``DIR/frames.bin``.
- ``eigen da verify DIR [--chunks 0,5,7] [--fail-fast]``: batch-verifies the chunks in ``DIR/frames.bin``
  (or the listed ones) against the commitment, bisecting to the bad ones with a progress bar, and the
  length commitment and proof; exit 1 and the list of bad chunks when any fails, exit 1 "NOT VERIFIED"
  when the length cannot be checked (``--no-length-proof`` asks for the chunks only).
- ``eigen da recover DIR --out FILE [--chunks ... | --sample K]``: drops invalid chunks, rebuilds the
  blob from the rest (any ``n/L`` distinct valid chunks), checks it against the commitment and writes
  the payload.
- ``eigen da bundle DIR --chunks 0-1023 --out FILE``: the listed chunks as an EigenDA validator bundle
  (8-byte header, gnark proofs and coefficients, no indices); ``verify`` and ``recover`` read one with
  ``--bundle FILE --chunks ...`` (the chunk index of each record, in order).
- ``encode`` also writes the length commitment and proof when the SRS has the G2 powers, and ``verify``
  checks them.

SRS: ``--srs DIR`` (or ``$EIGEN_DA_SRS``) with EigenDA's files, each checked against its published
sha256; ``--insecure-test-srs`` uses a publicly known secret and must be asked for explicitly.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from offchain import settings
from offchain.backend import get_backend
from offchain.crypto import bn254
from offchain.crypto.ntt import ntt
from offchain.da import codec
from offchain.da.cli.options import (
    add_run_options,
    check_srs_flags,
    guarded,
    output_dir,
    output_file,
    parse_chunks,
    progress,
    table_cache_dir,
)
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.params import NUM_CHUNKS, EncodingParams, Sample
from offchain.da.errors import DAInputError, RecoveryError, SRSError
from offchain.da.files import (
    bundle_bytes,
    read_bundle,
    read_commitment,
    read_frames,
    read_length_points,
    write_commitment,
    write_frames,
)
from offchain.da.srs import SRS, insecure_test_srs, load_eigenda_srs


def _srs_from_args(args: argparse.Namespace, n: int, backend: str, with_g2: bool = False) -> SRS:
    """The SRS the command asked for, with at least ``n`` G1 points (and, for the test SRS, the G2 powers
    of the length commitment and proof when ``with_g2``)."""
    xp = get_backend(backend)
    if args.insecure_test_srs:
        print(
            "eigen da: WARNING: using the INSECURE test SRS (known secret); proofs are forgeable",
            file=sys.stderr,
        )
        return insecure_test_srs(n, xp=xp, with_g2=with_g2)
    directory = args.srs or settings.da_srs_dir()
    if not directory:
        raise DAInputError("no SRS: pass --srs DIR (EigenDA SRS files) or --insecure-test-srs (tests only)")
    try:
        return load_eigenda_srs(directory, n, xp, with_g2=with_g2)
    except SRSError as exc:
        if "points requested" not in str(exc):
            raise
        raise SRSError(
            f"a blob of {n} symbols needs {n} SRS points: {exc}; supply EigenDA's g1.point (2^19 points; and "
            "g2.point / g2.trailing.point for the length proof, or pass --no-length-proof), or use "
            "--insecure-test-srs for tests"
        ) from exc


def cmd_encode(args: argparse.Namespace) -> int:
    check_srs_flags(args)
    out = output_dir(args.out)
    src = Path(args.payload)
    if not src.is_file():
        raise DAInputError(f"payload file not found: {src}")
    payload = src.read_bytes()
    blob = codec.encode_payload(payload)
    n = len(blob) // 32
    params = EncodingParams(n)
    out.mkdir(parents=True, exist_ok=True)
    bar = progress(5, "eigen da encode", args.quiet)
    srs = _srs_from_args(args, n, args.backend, with_g2=not args.no_length_proof)
    enc = Encoder(srs, args.backend, table_cache=table_cache_dir())
    bar.update(1)
    symbols = enc.blob_to_coeffs(blob)
    coeffs = enc.eval_to_coeffs(symbols) if args.form == "eval" else symbols
    C = enc.commit(coeffs)
    length_fields: dict[str, str] = {}
    note = ""
    if not args.no_length_proof:
        if (
            srs.g2 is not None
            and srs.g2_trailing is not None
            and srs.g2.shape[-1] >= n
            and srs.g2_trailing.shape[-1] >= n
        ):
            length_fields = {
                "length_commitment": bn254.g2_compress(enc.length_commitment(coeffs)).hex(),
                "length_proof": bn254.g2_compress(enc.length_proof(coeffs)).hex(),
            }
        else:
            note = (
                "; no length commitment/proof (the SRS directory needs g2.point and g2.trailing.point "
                "with at least the blob's length of points)"
            )
    bar.update(1)
    chunk = enc.chunk_coeffs(coeffs, params)
    bar.update(1)
    proofs = enc.proofs(coeffs, params)
    bar.update(1)
    (out / "blob.bin").write_bytes(blob)
    L = params.chunk_length
    raw = enc.c.fr.to_bytes(chunk.reshape(enc.c.fr.n, -1)).reshape(NUM_CHUNKS, L, 32)
    write_frames(out / "frames.bin", L, np.arange(NUM_CHUNKS), bn254.g1_compress(proofs), raw)
    write_commitment(
        out / "commitment.json",
        {
            "commitment": bn254.g1_compress(C).hex(),
            "length": n,
            "chunk_length": L,
            "srs": srs.name,
            "insecure_srs": srs.insecure,
            "form": args.form,
            "payload_bytes": len(payload),
            **length_fields,
        },
    )
    bar.update(1)
    bar.close()
    print(
        f"encoded {len(payload)} bytes -> blob of {n} symbols, {NUM_CHUNKS} chunks of {L}; commitment "
        f"{bn254.g1_compress(C).hex()}{note}"
    )
    return 0


def _load_for_check(
    args: argparse.Namespace, whole_blob: bool = False
) -> tuple[dict[str, Any], Encoder, Any, Any]:
    """Commitment, encoder and chunks of ``args.dir``; the SRS holds L G1 points (chunk checks) or, with
    ``whole_blob``, the blob's length (re-committing a recovered blob)."""
    check_srs_flags(args)
    d = Path(args.dir)
    xp = get_backend(args.backend)
    info, C = read_commitment(d / "commitment.json", xp)
    if info.get("insecure_srs") and not args.insecure_test_srs:
        raise DAInputError(
            "these frames were made with the INSECURE test SRS; pass --insecure-test-srs to check them"
        )
    if getattr(args, "bundle", None):
        index = parse_chunks(args.chunks)
        if index is None:
            raise DAInputError("--bundle needs --chunks: the chunk index of each bundle record, in order")
        if np.unique(index).size != index.size:
            raise DAInputError("--chunks lists a chunk twice")
        chunks = read_bundle(args.bundle, index)
    else:
        chunks = read_frames(d / "frames.bin")
    if chunks.L != int(info["chunk_length"]) or chunks.L != EncodingParams(int(info["length"])).chunk_length:
        raise DAInputError("frames chunk length does not match the commitment's blob length")
    srs = _srs_from_args(args, int(info["length"]) if whole_blob else max(chunks.L, 1), args.backend)
    return info, Encoder(srs, args.backend), C, chunks


def _decode_chunks(enc: Encoder, chunks: Any, select: np.ndarray | None) -> tuple[Sample, list[int]]:
    """Decode the chunk records into a Sample; records with undecodable proofs/coefficients are reported bad."""
    index = chunks.index
    keep = np.arange(index.size)
    if select is not None:
        pos = {int(i): k for k, i in enumerate(index)}
        missing = [int(i) for i in select if int(i) not in pos]
        if missing:
            raise DAInputError(f"chunks not in the frames file: {missing[:10]}")
        keep = np.array([pos[int(i)] for i in select], dtype=np.int64)
    bad: list[int] = []
    coeff_raw = chunks.coeffs[keep]
    ok_coeff = enc.c.fr.lt_p_bytes(coeff_raw.reshape(-1, 32)).reshape(keep.size, -1).all(axis=1)
    proofs = np.frombuffer(chunks.proofs, dtype=np.uint8).reshape(-1, 32)[keep]
    good = ok_coeff.copy()
    while True:
        sel = np.nonzero(good)[0]
        try:
            P = bn254.g1_decompress(proofs[sel].tobytes(), enc.xp)
            break
        except bn254.PointError as exc:
            found = re.search(r"point (\d+):", str(exc))
            if found is None:
                raise
            k = int(found.group(1))
            good[sel[k]] = False
    bad = [int(index[keep[i]]) for i in np.nonzero(~good)[0]]
    sel = np.nonzero(good)[0]
    L = chunks.L
    coeffs = enc.c.fr.from_bytes(coeff_raw[sel].reshape(-1, 32)).reshape(enc.c.fr.n, sel.size, L)
    return Sample(np.zeros(sel.size, np.int64), index[keep[sel]], coeffs, P), bad


def _check_length(info: dict[str, Any], path: Path, enc: Encoder, C: Any) -> tuple[bool | None, str]:
    """The blob commitment's two length pairings: (True/False, what was checked), or (None, why they could
    not be checked)."""
    if "length_commitment" not in info:
        return None, (
            "the commitment file has no length commitment/proof (encode with g2.point and g2.trailing.point "
            "in the SRS directory, or the test SRS), so the blob's length is unproven"
        )
    LC, LP = read_length_points(info, path, enc.xp)
    n = int(info["length"])
    if not enc.length_commitment_matches(C, LC):
        return False, "the length commitment is not the blob commitment's polynomial (e(C, G2) != e(G1, LC))"
    if enc.srs.g1_reverse_pow2 is None:
        return None, f"{enc.srs.name} has no [tau^(2^28 - 2^i)]_1 points, so the length proof is unchecked"
    if not enc.length_proof_holds(LC, LP, n):
        return False, f"the length proof does not prove degree < {n}"
    return True, f"length commitment and length proof (degree < {n}) valid"


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 only when every requested check ran and passed: 1 when a chunk or a length pairing fails
    (INVALID) or a check could not be done (NOT VERIFIED, with the reason); 2 for bad input."""
    info, enc, C, chunks = _load_for_check(args)
    select = None if args.bundle else parse_chunks(args.chunks)
    s, bad = _decode_chunks(enc, chunks, select)
    total = int(chunks.index.size if select is None else select.size)
    bar = progress(s.index.size, "eigen da verify (chunks resolved)", args.quiet)
    bar.set_postfix(bad=len(bad))

    def resolved(k: int, found: int) -> None:
        bar.update(k)
        bar.set_postfix(bad=len(bad) + found)

    if s.index.size and not (args.fail_fast and bad):
        bad_pos = enc.find_invalid(C, s, limit=1 if args.fail_fast else None, on_resolved=resolved)
        bad += [int(s.index[k]) for k in bad_pos]
    bar.close()
    if bad:
        if args.fail_fast:
            print(
                f"INVALID: chunk {bad[0]} fails (--fail-fast: the search stopped there; the other chunks of "
                f"{total} are not all resolved)"
            )
        else:
            print(f"INVALID: {len(bad)} of {total} chunks fail: {sorted(bad)[:50]}")
        return 1
    chunks_note = f"{s.index.size} chunks verified against {info['commitment']}"
    if args.no_length_proof:
        print(f"VALID (chunks only, --no-length-proof: the blob length was not checked): {chunks_note}")
        return 0
    length_ok, length_note = _check_length(info, Path(args.dir) / "commitment.json", enc, C)
    if length_ok is False:
        print(f"INVALID: {length_note}")
        return 1
    if length_ok is None:
        print(f"NOT VERIFIED: {chunks_note}, but {length_note} (--no-length-proof checks the chunks only)")
        return 1
    print(f"VALID: {chunks_note}; {length_note}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    out = output_file(args.out)
    if args.seed < 0:
        raise DAInputError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.sample is not None and args.sample <= 0:
        raise DAInputError(f"--sample must be a positive number of chunks, got {args.sample}")
    info, enc, C, chunks = _load_for_check(args, whole_blob=True)
    select = None if args.bundle else parse_chunks(args.chunks)
    if select is None and args.sample is not None:
        if args.sample > chunks.index.size:
            raise DAInputError(f"--sample must be in [1, {chunks.index.size}]")
        select = np.random.default_rng(args.seed).choice(chunks.index, args.sample, replace=False)
    s, bad = _decode_chunks(enc, chunks, select)
    bar = progress(3, "eigen da recover", args.quiet)
    bad_pos = enc.find_invalid(C, s) if s.index.size else []
    bad += [int(s.index[k]) for k in bad_pos]
    valid = np.setdiff1d(np.arange(s.index.size), np.array(bad_pos, dtype=np.int64))
    s = enc.sub_sample(s, valid)
    bar.update(1)
    params = EncodingParams(int(info["length"]))
    if s.index.size < params.rows:
        raise RecoveryError(
            f"{s.index.size} valid chunks, {params.rows} needed (rejected: {sorted(bad)[:20]})"
        )
    coeffs = enc.recover_coeffs(params, s.index, s.coeffs)
    bar.update(1)
    if bn254.g1_compress(enc.commit(coeffs)) != bn254.g1_compress(C):
        raise RecoveryError("recovered blob does not match the commitment")
    if info.get("form") == "eval":
        coeffs = ntt(enc.c.fr, coeffs, enc.domain(params.n))
    payload = codec.decode_payload(enc.coeffs_to_blob(coeffs))
    out.write_bytes(payload)
    bar.update(1)
    bar.close()
    note = f"; rejected {len(bad)} invalid chunks {sorted(bad)[:20]}" if bad else ""
    print(f"recovered {len(payload)} bytes from {s.index.size} chunks{note}")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    out = output_file(args.out)
    d = Path(args.dir)
    chunks = read_frames(d / "frames.bin")
    select = parse_chunks(args.chunks)
    if select is None:
        raise DAInputError("--chunks is required: the chunks to put in the bundle, in order")
    pos = {int(i): k for k, i in enumerate(chunks.index)}
    missing = [int(i) for i in select if int(i) not in pos]
    if missing:
        raise DAInputError(f"chunks not in the frames file: {missing[:10]}")
    if np.unique(select).size != select.size:
        raise DAInputError("--chunks lists a chunk twice")
    keep = np.array([pos[int(i)] for i in select], dtype=np.int64)
    proofs = np.frombuffer(chunks.proofs, np.uint8).reshape(-1, 32)[keep].tobytes()
    data = bundle_bytes(chunks.L, proofs, chunks.coeffs[keep])
    out.write_bytes(data)
    print(
        f"wrote an EigenDA bundle of {select.size} chunks of length {chunks.L} ({len(data)} bytes) to {args.out}"
    )
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--srs",
        metavar="DIR",
        help="directory with EigenDA SRS files, each checked against its published sha256 (default: "
        "$EIGEN_DA_SRS); not with --insecure-test-srs",
    )
    p.add_argument(
        "--insecure-test-srs",
        action="store_true",
        help="INSECURE known-secret SRS, for tests only; not with --srs (default: off)",
    )
    add_run_options(p)


def register(sub: Any) -> None:
    """``encode``, ``verify``, ``recover`` and ``bundle`` under the ``eigen da`` sub-parsers ``sub``."""
    enc = sub.add_parser("encode", help="payload -> blob, commitment, 8192 chunks with proofs")
    enc.add_argument("payload", help="file with the payload bytes")
    enc.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output directory (created if missing): blob.bin, commitment.json, frames.bin",
    )
    enc.add_argument(
        "--form",
        choices=["coeff", "eval"],
        default="coeff",
        help="read the blob's symbols as polynomial coefficients or evaluations (default: coeff)",
    )
    enc.add_argument(
        "--no-length-proof",
        action="store_true",
        help="skip the length commitment and proof (two G2 MSMs of the blob's length) (default: made "
        "when the SRS has the G2 powers)",
    )
    _common(enc)
    enc.set_defaults(func=guarded(cmd_encode))

    ver = sub.add_parser(
        "verify",
        help="verify chunks and the length proof against the commitment (exit 1 if any fails or "
        "cannot be checked)",
    )
    ver.add_argument("dir", help="directory written by encode (commitment.json, frames.bin)")
    ver.add_argument(
        "--chunks",
        help="chunk indices, e.g. 0,5,100-199 (default: all in frames.bin); with --bundle, "
        "the index of each bundle record in order",
    )
    ver.add_argument(
        "--bundle",
        metavar="FILE",
        help="check an EigenDA validator bundle file instead of DIR/frames.bin (default: frames.bin)",
    )
    ver.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop the search for bad chunks at the first one found (default: find them all)",
    )
    ver.add_argument(
        "--no-length-proof",
        action="store_true",
        help="check the chunks only, not the blob's length commitment and proof (default: both; "
        "verify exits 1 when the length cannot be checked)",
    )
    _common(ver)
    ver.set_defaults(func=guarded(cmd_verify))

    rec = sub.add_parser("recover", help="rebuild the payload from valid chunks")
    rec.add_argument("dir", help="directory written by encode (commitment.json, frames.bin)")
    rec.add_argument("--out", required=True, metavar="FILE", help="output file for the payload")
    rec.add_argument(
        "--chunks",
        help="chunk indices to use, e.g. 0-1023 (default: all); with --bundle, the index of each record",
    )
    rec.add_argument(
        "--bundle",
        metavar="FILE",
        help="recover from an EigenDA validator bundle file instead of DIR/frames.bin (default: frames.bin)",
    )
    rec.add_argument(
        "--sample", type=int, help="use a random subset of this many chunks (default: all, or --chunks)"
    )
    rec.add_argument("--seed", type=int, default=0, help="seed of the --sample choice (default: 0)")
    _common(rec)
    rec.set_defaults(func=guarded(cmd_recover))

    bun = sub.add_parser("bundle", help="write chunks of DIR/frames.bin as an EigenDA validator bundle")
    bun.add_argument("dir", help="directory written by encode (frames.bin)")
    bun.add_argument("--chunks", required=True, help="chunk indices in bundle order, e.g. 0-1023")
    bun.add_argument("--out", required=True, metavar="FILE", help="output bundle file")
    bun.set_defaults(func=guarded(cmd_bundle))
