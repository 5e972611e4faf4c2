"""``eigen da peerdas cells | verify | recover``: the PeerDAS (EIP-7594) mode on the command line.

- ``eigen da peerdas cells BLOB --out DIR`` (or ``--payload FILE``): blob -> KZG commitment, 128 cells
  with their proofs (byte-identical to ckzg's ``compute_cells_and_kzg_proofs``); writes
  ``DIR/commitment.json`` and ``DIR/cells.bin``.
- ``eigen da peerdas verify DIR [--cells 0,5,9]``: batch-checks the cells (all, or the listed ones)
  against the commitment; on failure bisects to the bad cells, prints them and exits 1.
- ``eigen da peerdas recover DIR --out FILE [--cells ... | --sample K --seed S]``: drops invalid cells,
  rebuilds the blob from >= 64 distinct valid cells, checks it against the commitment and writes the
  blob (or the payload when the cells were made with ``--payload``).

Setup: ``--setup FILE`` (Ethereum KZG setup text format), default the ``trusted_setup.txt`` that py-evm
ships as ``eth/_utils/kzg_trusted_setup.txt``.

Files: ``cells.bin`` and ``commitment.json`` (:mod:`offchain.da.files`); payload packing with
``--payload``: :func:`offchain.da.peerdas.cells.pack_payload`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offchain.crypto import bls12_381
from offchain.da.cli.options import (
    add_run_options,
    guarded,
    output_dir,
    output_file,
    progress,
    table_cache_dir,
)
from offchain.da.errors import PeerDASInputError, RecoveryError, SRSError
from offchain.da.files import (
    CELLS_SCHEME,
    CellSet,
    decode_cells_commitment,
    read_cells,
    read_cells_commitment,
    write_cells,
)
from offchain.da.peerdas.cells import (
    BLOB_BYTES,
    CELLS_NEEDED,
    CELLS_PER_EXT_BLOB,
    FIELD_ELEMENTS_PER_BLOB,
    FIELD_ELEMENTS_PER_CELL,
    MAX_PAYLOAD,
    PARAMS,
    PeerDAS,
    load_trusted_setup,
    pack_payload,
    unpack_payload,
)


# ----- setup --------------------------------------------------------------------------------
def default_setup_path() -> Path:
    try:
        import eth
    except ImportError as exc:
        raise SRSError(
            "no --setup given and the 'eth' package (py-evm, which ships the Ethereum KZG setup) is not installed"
        ) from exc
    return Path(eth.__file__).parent / "_utils" / "kzg_trusted_setup.txt"


# One process may run several commands (tests call ``offchain.cli.main`` repeatedly): a loaded setup
# (every point decoded and subgroup-checked: ~1.3 s for the 4,096 G1 points on the kernels, ~10 s on the
# array code) and its encoder are kept per (file content, backend); the FK20 table also goes to the
# on-disk cache of ``eigen da encode`` ($EIGEN_DA_CACHE), so later processes skip its ~3 s.
_SESSIONS: dict[tuple[str, str], PeerDAS] = {}


@dataclass
class Setup:
    pd: PeerDAS
    path: Path
    sha256: str


def _setup(args: argparse.Namespace, g1_count: int) -> Setup:
    path = Path(args.setup) if args.setup else default_setup_path()
    if not path.is_file():
        raise SRSError(f"trusted setup not found: {path}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    key = (sha, args.backend)
    pd = _SESSIONS.get(key)
    if pd is None or pd.enc.srs.n_g1 < g1_count:
        try:
            srs = load_trusted_setup(path, args.backend, g1_count)
        except bls12_381.PointError as exc:
            raise SRSError(f"{path}: malformed trusted setup ({exc})") from exc
        pd = PeerDAS(srs, args.backend, table_cache=table_cache_dir())
        _SESSIONS[key] = pd
    return Setup(pd, path, sha)


# ----- commands -----------------------------------------------------------------------------
def cmd_cells(args: argparse.Namespace) -> int:
    if (args.blob is None) == (args.payload is None):
        raise PeerDASInputError("give either a BLOB file or --payload FILE (exactly one)")
    out = output_dir(args.out, err=PeerDASInputError)
    src = Path(args.blob if args.blob is not None else args.payload)
    if not src.is_file():
        raise PeerDASInputError(f"{'blob' if args.blob is not None else 'payload'} file not found: {src}")
    data = src.read_bytes()
    if args.payload is not None:
        blob = pack_payload(data)
    elif len(data) != BLOB_BYTES:
        raise PeerDASInputError(
            f"{src}: blob must be exactly {BLOB_BYTES} bytes ({FIELD_ELEMENTS_PER_BLOB} field elements), got {len(data)}"
        )
    else:
        blob = data
    bar = progress(4, "eigen da peerdas cells", args.quiet)
    st = _setup(args, FIELD_ELEMENTS_PER_BLOB)
    bar.update(1)
    com = st.pd.commitment(blob)  # also checks the blob (size, canonical elements)
    bar.update(1)
    cells, proofs = st.pd.compute_cells_and_kzg_proofs(blob)
    bar.update(1)
    out.mkdir(parents=True, exist_ok=True)
    write_cells(out / "cells.bin", np.arange(CELLS_PER_EXT_BLOB), proofs, cells)
    info: dict[str, Any] = {
        "scheme": CELLS_SCHEME,
        "commitment": com.hex(),
        "cells": CELLS_PER_EXT_BLOB,
        "setup": st.pd.enc.srs.name,
        "setup_sha256": st.sha256,
        "packing": "payload" if args.payload is not None else "blob",
    }
    if args.payload is not None:
        info["payload_bytes"] = len(data)
    (out / "commitment.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    bar.update(1)
    bar.close()
    what = f"payload of {len(data)} bytes" if args.payload is not None else "blob"
    print(f"{what} -> {CELLS_PER_EXT_BLOB} cells with proofs in {out}; commitment {com.hex()}")
    return 0


def _parse_cells(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    try:
        idx = np.array([int(t) for t in text.split(",")], dtype=np.int64)
    except ValueError as exc:
        raise PeerDASInputError(f"--cells must be comma-separated integers: {text!r}") from exc
    if idx.min() < 0 or idx.max() >= CELLS_PER_EXT_BLOB:
        raise PeerDASInputError(f"--cells must name cell indices in [0, {CELLS_PER_EXT_BLOB})")
    if np.unique(idx).size != idx.size:
        raise PeerDASInputError(f"--cells lists a cell twice: {text!r}")
    return idx


def _load(args: argparse.Namespace, g1_count: int) -> tuple[dict[str, Any], bytes, Any, CellSet, Setup]:
    d = Path(args.dir)
    if not d.is_dir():
        raise PeerDASInputError(f"cells directory not found: {d}")
    info, com = read_cells_commitment(d / "commitment.json")
    cs = read_cells(d / "cells.bin")
    C = decode_cells_commitment(com)  # before the (slow) setup: a bad file fails fast
    st = _setup(args, g1_count)
    if info.get("setup_sha256") not in (None, st.sha256):
        print(
            f"eigen da peerdas: note: {st.path} is not the setup these cells were made with "
            f"(sha256 {info['setup_sha256'][:16]}...); their proofs will not verify",
            file=sys.stderr,
        )
    if st.pd.xp is not np:
        C = decode_cells_commitment(com, st.pd.xp)
    return info, com, C, cs, st


def _select(cs: CellSet, select: np.ndarray | None) -> np.ndarray:
    """Record positions of the selected cells (all when ``select`` is None)."""
    if select is None:
        return np.arange(cs.index.size)
    pos = {int(i): k for k, i in enumerate(cs.index)}
    missing = [int(i) for i in select if int(i) not in pos]
    if missing:
        raise PeerDASInputError(f"cells not in the cells file: {missing[:10]}")
    return np.array([pos[int(i)] for i in select], dtype=np.int64)


def _decode(st: Setup, cs: CellSet, keep: np.ndarray) -> tuple[Any, dict[int, str]]:
    """-> (Sample of the decodable selected cells, {cell index: reason} of the undecodable ones)."""
    s, bad = st.pd.decode_cells(
        [int(cs.index[k]) for k in keep], [cs.cells[k] for k in keep], [cs.proofs[k] for k in keep]
    )
    return s, {int(cs.index[keep[k]]): why for k, why in bad.items()}


def cmd_verify(args: argparse.Namespace) -> int:
    info, com, C, cs, st = _load(args, FIELD_ELEMENTS_PER_CELL)  # verification needs [tau^i]_1, i < 64
    keep = _select(cs, _parse_cells(args.cells))
    bar = progress(2, "eigen da peerdas verify", args.quiet)
    s, bad = _decode(st, cs, keep)
    bar.update(1)
    for k in st.pd.find_invalid(C, s):
        bad[int(s.index[k])] = "KZG proof check fails"
    bar.update(1)
    bar.close()
    if bad:
        print(f"INVALID: {len(bad)} of {keep.size} cells fail: {sorted(bad)[:50]}")
        for i in sorted(bad)[:50]:
            print(f"  cell {i}: {bad[i]}")
        return 1
    print(f"VALID: {keep.size} cells verified against {info['commitment']}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    out = output_file(args.out, err=PeerDASInputError)
    if args.seed < 0:
        raise PeerDASInputError(f"--seed must be a non-negative integer, got {args.seed}")
    info, com, C, cs, st = _load(args, FIELD_ELEMENTS_PER_BLOB)
    select = _parse_cells(args.cells)
    if select is not None and args.sample is not None:
        raise PeerDASInputError("give --cells or --sample, not both")
    if args.sample is not None:
        if not 1 <= args.sample <= cs.index.size:
            raise PeerDASInputError(f"--sample must be in [1, {cs.index.size}] (cells in the file)")
        select = np.random.default_rng(args.seed).choice(cs.index, args.sample, replace=False)
    keep = _select(cs, select)
    pd = st.pd
    bar = progress(3, "eigen da peerdas recover", args.quiet)

    def too_few(valid: int, why: str) -> RecoveryError:
        rejected = f"; rejected {sorted(bad)[:20]}" if bad else ""
        return RecoveryError(
            f"{why}: at most {valid} valid cells of {keep.size}, {CELLS_NEEDED} needed{rejected}"
        )

    s, bad = _decode(st, cs, keep)
    if s.index.size < CELLS_NEEDED:
        raise too_few(int(s.index.size), "too few decodable cells")
    if not pd.enc.verify_batch(C, s, CELLS_PER_EXT_BLOB):
        if s.index.size - 1 < CELLS_NEEDED:  # at least one more is invalid: no need to find which
            raise too_few(int(s.index.size) - 1, "the batch KZG check fails")
        invalid = pd.find_invalid(C, s, known_bad=True)
        for k in invalid:
            bad[int(s.index[k])] = "KZG proof check fails"
        s = pd.enc.sub_sample(s, np.setdiff1d(np.arange(s.index.size), np.asarray(invalid, dtype=np.int64)))
        if s.index.size < CELLS_NEEDED:
            raise too_few(int(s.index.size), "too few valid cells")
    bar.update(1)
    coeffs = pd.enc.recover_coeffs(PARAMS, s.index, s.coeffs)
    if bls12_381.g1_compress(pd.enc.commit(coeffs)) != com:
        raise RecoveryError("recovered blob does not match the commitment")
    bar.update(1)
    blob = pd.coeffs_to_blob(coeffs)
    if info["packing"] == "payload":
        data = unpack_payload(blob)
        if len(data) != info["payload_bytes"]:
            raise RecoveryError(
                f"recovered payload is {len(data)} bytes, commitment.json says {info['payload_bytes']}"
            )
        what = f"payload of {len(data)} bytes"
    else:
        data, what = blob, f"blob of {len(blob)} bytes"
    out.write_bytes(data)
    bar.update(1)
    bar.close()
    note = f"; rejected {len(bad)} invalid cells {sorted(bad)[:20]}" if bad else ""
    print(f"recovered {what} from {s.index.size} cells{note}")
    return 0


# ----- parser -------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--setup",
        metavar="FILE",
        help="Ethereum KZG trusted setup file (default: the one in py-evm's eth package)",
    )
    add_run_options(p)


def register(da_subparsers: Any) -> None:
    """``peerdas cells|verify|recover`` under the ``eigen da`` sub-parsers ``da_subparsers``."""
    pdp = da_subparsers.add_parser(
        "peerdas", help="PeerDAS (EIP-7594) cells, proofs, verification and recovery"
    )
    sub = pdp.add_subparsers(dest="peerdas_command", metavar="ACTION")
    pdp.set_defaults(func=lambda a: (pdp.print_help(sys.stderr), 2)[1])

    cel = sub.add_parser("cells", help="blob (or payload) -> commitment, 128 cells with KZG proofs")
    cel.add_argument("blob", nargs="?", help=f"blob file of exactly {BLOB_BYTES} bytes (or give --payload)")
    cel.add_argument(
        "--payload",
        metavar="FILE",
        help=f"pack this file (at most {MAX_PAYLOAD} bytes) into the blob instead (default: read BLOB)",
    )
    cel.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output directory, created if missing (commitment.json, cells.bin)",
    )
    _common(cel)
    cel.set_defaults(func=guarded(cmd_cells, PeerDASInputError))

    ver = sub.add_parser("verify", help="verify cells against the commitment (exit 1 if any fails)")
    ver.add_argument("dir", help="directory written by cells (commitment.json, cells.bin)")
    ver.add_argument("--cells", help="comma-separated cell indices (default: all in cells.bin)")
    _common(ver)
    ver.set_defaults(func=guarded(cmd_verify, PeerDASInputError))

    rec = sub.add_parser("recover", help="rebuild the blob (or payload) from >= 64 valid cells")
    rec.add_argument("dir", help="directory written by cells (commitment.json, cells.bin)")
    rec.add_argument("--out", required=True, metavar="FILE", help="output file for the blob or payload")
    rec.add_argument("--cells", help="comma-separated cell indices to use (default: all in cells.bin)")
    rec.add_argument(
        "--sample", type=int, help="use a random subset of this many cells (default: all, or --cells)"
    )
    rec.add_argument("--seed", type=int, default=0, help="seed of the --sample choice (default: 0)")
    _common(rec)
    rec.set_defaults(func=guarded(cmd_recover, PeerDASInputError))
