"""Small primitives shared by the receipts, the contract clients and the file loaders: constants, strict
parsers and file digests.

Each parser takes the error type to raise, so every caller keeps its own typed error
(``ComputeReceiptError``, ``EnrolmentError``, ...); the messages name the field being parsed:

- :func:`b32`: a ``bytes32`` from 32 bytes or (``text=True``) a hex string with or without ``0x``;
- :func:`address`: a ``0x``-prefixed 20-byte hex address, returned in lower case;
- :func:`uint`: a ``uintN`` from a Python ``int`` (``bool`` is refused) in ``[0, 2**bits)``;
- :func:`sha256_file`: the SHA-256 of a file, read in 4 MiB blocks;
- :func:`json_depth`: refuse JSON text nested deeper than a limit, before the standard library's
  recursive parser sees it (which, under a raised recursion limit, can overflow the C stack);
- :func:`merkle_levels`: EigenLayer's keccak-256 binary tree (the rewards distribution tree, the
  inference receipts' token tree, the EigenTrust score tree).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

WAD = 10**18  # fixed-point one: magnitudes and slashing fractions are WAD-scaled (WAD = 100%)
ZERO_ADDRESS = "0x" + "00" * 20
BURN_ADDRESS = "0x00000000000000000000000000000000000E16E4"  # where burning operator sets send slashed funds
ZERO32 = b"\x00" * 32


def b32(v: Any, name: str, err: type[Exception], *, text: bool = True) -> bytes:
    """``v`` as 32 bytes; a hex string (``0x`` optional) is decoded first unless ``text`` is False."""
    if text and isinstance(v, str):
        try:
            v = bytes.fromhex(v.removeprefix("0x"))
        except ValueError as exc:
            raise err(f"{name} is not hex") from exc
    if not isinstance(v, bytes) or len(v) != 32:
        raise err(f"{name} must be 32 bytes")
    return v


def address(v: Any, err: type[Exception]) -> str:
    """``v`` as a lower-case ``0x`` address (42 characters of hex, ``0x`` prefix required)."""
    if not isinstance(v, str) or len(v) != 42 or not v.startswith("0x"):
        raise err(f"bad address {v!r}")
    try:
        bytes.fromhex(v[2:])
    except ValueError as exc:
        raise err(f"bad address {v!r}") from exc
    return v.lower()


def uint(v: Any, bits: int, name: str, err: type[Exception]) -> int:
    """``v`` as a ``uint<bits>``: an ``int`` (not a ``bool``) in ``[0, 2**bits)``."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
        raise err(f"{name} must be a uint{bits}")
    return v


def sha256_file(path: str | Path) -> bytes:
    """The SHA-256 digest of the file at ``path`` (read in 4 MiB blocks, never whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.digest()


JSON_MAX_DEPTH = 256
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(text: str | bytes, what: str, err: type[Exception], limit: int = JSON_MAX_DEPTH) -> None:
    """Raise ``err`` when JSON ``text`` nests arrays/objects deeper than ``limit`` (brackets inside
    strings do not count). Malformed text is left to the parser to report."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", data)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        if depth > limit:
            raise err(f"{what}: JSON nested deeper than {limit} levels")


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over ``leaves`` (at least one, 32 bytes each), from the leaves padded
    with zero words to a power of two up to the root; pairs hash as ``keccak256(left | right)``, and
    one leaf is its own root (EigenLayer's ``Merkle.processInclusionProofKeccak`` trees)."""
    width = 1 << (len(leaves) - 1).bit_length() if leaves else 0
    level = list(leaves) + [ZERO32] * (width - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_path(levels: Sequence[Sequence[bytes]], index: int) -> bytes:
    """The proof of leaf ``index`` in :func:`merkle_levels`' ``levels``: its sibling at each level,
    bottom up, concatenated (the index's bits pick the sides)."""
    out = []
    for level in levels[:-1]:
        out.append(level[index ^ 1])
        index //= 2
    return b"".join(out)
