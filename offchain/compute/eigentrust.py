"""EigenTrust in exact fixed point: the reference implementation (docs/compute-network.md, "EigenTrust").

The computation OpenRank runs (local trust normalised per peer, pre-trusted peers, dangling peers'
trust given to the pre-trusted distribution, ``t_{k+1} = (1 - a) C^T t_k + a p``), defined on
integers only so that every implementation reproduces it bit for bit: scores are WAD-scaled
(``10**18`` is 1), every division is a floor division of non-negative integers, and the iteration
stops after a fixed count or when an integer L1 distance falls to a threshold. The task image
(``kernels/eigentrust.c``, built by :func:`build_eigentrust_image`) computes the same function of the
same bytes; this module is what verifiers recompute with.

Input: :class:`TrustGraph` and its one encoding (:meth:`TrustGraph.encode`, :meth:`TrustGraph.decode`
refuses every other byte string). Output: :class:`Scores`, the score vector with its canonical
encoding (:meth:`Scores.vector_bytes`), its Merkle root over ``keccak256(peer | uint256 score)``
leaves and the 160-byte task result :meth:`Scores.result` (``abi.encode(uint64 epoch, bytes32
inputHash, bytes32 scoresRoot, uint32 peers, uint32 iterations)``) that executors certify.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from offchain import abi
from offchain.compute.errors import (
    NonCanonicalTrustGraph,
    NoPreTrust,
    ScoreProofError,
    TrustGraphEncodingError,
)
from offchain.compute.imagebuild import BuiltImage, build_kernel_image

WAD = abi.WAD
GRAPH_MAGIC = b"ETG1"
VECTOR_MAGIC = b"ETS1"
MAX_PEERS = 1 << 20
MAX_EDGES = 1 << 24
MAX_ITERATIONS = 10_000
MAX_WEIGHT = (1 << 64) - 1
RESULT_SIZE = 160
_HEADER = struct.Struct(">4sQQQIIII")  # magic, epoch, alpha, epsilon, maxIterations, peers, pre, edges
_PRE = struct.Struct(">IQ")
_EDGE = struct.Struct(">IIQ")


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TrustGraphEncodingError(f"{what} must be an integer, not {type(v).__name__}")
    if not lo <= v <= hi:
        raise TrustGraphEncodingError(f"{what} {v} is outside [{lo}, {hi}]")
    return v


def _peer(v: Any) -> bytes:
    if isinstance(v, bytes | bytearray) and len(v) == 20:
        return bytes(v)
    return bytes.fromhex(abi.address(v, TrustGraphEncodingError)[2:])


@dataclass(frozen=True)
class TrustGraph:
    """A trust graph in its canonical form: ``peers`` strictly ascending 20-byte addresses;
    ``pretrust`` (index, weight) strictly ascending by index; ``edges`` (from, to, weight) strictly
    ascending by (from, to); weights in [1, 2**64 - 1]; no self-edge; ``alpha`` and ``epsilon`` in WAD
    units (``alpha`` <= WAD); ``max_iterations`` in [1, MAX_ITERATIONS]. Construction checks all of it."""

    epoch: int
    alpha: int
    epsilon: int
    max_iterations: int
    peers: tuple[bytes, ...]
    pretrust: tuple[tuple[int, int], ...]
    edges: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        _int(self.epoch, "epoch", 0, (1 << 64) - 1)
        _int(self.alpha, "alpha", 0, WAD)
        _int(self.epsilon, "epsilon", 0, (1 << 64) - 1)
        _int(self.max_iterations, "max iterations", 1, MAX_ITERATIONS)
        n = len(self.peers)
        if not 1 <= n <= MAX_PEERS:
            raise TrustGraphEncodingError(f"{n} peers: between 1 and {MAX_PEERS} are needed")
        if len(self.edges) > MAX_EDGES:
            raise TrustGraphEncodingError(f"{len(self.edges)} edges: at most {MAX_EDGES}")
        if len(self.pretrust) > n:
            raise NonCanonicalTrustGraph(f"{len(self.pretrust)} pre-trust entries for {n} peers")
        for k, p in enumerate(self.peers):
            if not isinstance(p, bytes) or len(p) != 20:
                raise TrustGraphEncodingError(f"peer {k} is not 20 bytes")
            if k and p <= self.peers[k - 1]:
                raise NonCanonicalTrustGraph(f"peer {k} (0x{p.hex()}) is not above the one before it")
        last = -1
        for k, (i, w) in enumerate(self.pretrust):
            _int(i, f"pre-trust entry {k}: peer index", 0, n - 1)
            _int(w, f"pre-trust entry {k}: weight", 0, MAX_WEIGHT)
            if w == 0:
                raise NonCanonicalTrustGraph(f"pre-trust entry {k} has weight 0 (leave the peer out)")
            if i <= last:
                raise NonCanonicalTrustGraph(f"pre-trust entry {k} (peer {i}) is not above the one before it")
            last = i
        if not self.pretrust:
            raise NoPreTrust("no pre-trusted peer: EigenTrust needs at least one")
        prev = (-1, -1)
        for k, (i, j, w) in enumerate(self.edges):
            _int(i, f"edge {k}: from", 0, n - 1)
            _int(j, f"edge {k}: to", 0, n - 1)
            _int(w, f"edge {k}: weight", 0, MAX_WEIGHT)
            if w == 0:
                raise NonCanonicalTrustGraph(f"edge {k} ({i} -> {j}) has weight 0 (leave it out)")
            if i == j:
                raise NonCanonicalTrustGraph(f"edge {k} is a self-edge of peer {i}")
            if (i, j) <= prev:
                what = "repeats" if (i, j) == prev else "is not above"
                raise NonCanonicalTrustGraph(f"edge {k} ({i} -> {j}) {what} the one before it")
            prev = (i, j)

    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[Any, Any, int]],
        pretrust: Mapping[Any, int],
        *,
        epoch: int = 0,
        alpha: int = WAD // 2,
        epsilon: int = 0,
        max_iterations: int = 100,
        peers: Iterable[Any] = (),
    ) -> TrustGraph:
        """The canonical graph of (truster, trusted, weight) edges between addresses and a pre-trust
        weight per address. The peer list is every address named (plus ``peers``), ascending.
        Self-edges are dropped, as EigenTrust ignores a peer's trust in itself; an edge named twice
        or a zero weight is refused (summing or dropping them is the caller's choice to make)."""
        raw = [(_peer(a), _peer(b), w) for a, b, w in edges]
        pre = {_peer(a): w for a, w in pretrust.items()}
        names = sorted({*(_peer(p) for p in peers), *pre, *(a for a, _, _ in raw), *(b for _, b, _ in raw)})
        index = {p: k for k, p in enumerate(names)}
        seen: set[tuple[int, int]] = set()
        out = []
        for a, b, w in raw:
            if a == b:
                continue
            key = (index[a], index[b])
            if key in seen:
                raise NonCanonicalTrustGraph(f"edge 0x{a.hex()} -> 0x{b.hex()} is given twice")
            seen.add(key)
            out.append((*key, w))
        return cls(
            epoch,
            alpha,
            epsilon,
            max_iterations,
            tuple(names),
            tuple(sorted((index[p], w) for p, w in pre.items())),
            tuple(sorted(out)),
        )

    def encode(self) -> bytes:
        """The graph's one encoding (big-endian): ``"ETG1" | u64 epoch | u64 alpha | u64 epsilon |
        u32 maxIterations | u32 peers | u32 pretrust | u32 edges | peers (20 B each) | pretrust
        (u32 index, u64 weight) | edges (u32 from, u32 to, u64 weight)``."""
        parts = [
            _HEADER.pack(
                GRAPH_MAGIC,
                self.epoch,
                self.alpha,
                self.epsilon,
                self.max_iterations,
                len(self.peers),
                len(self.pretrust),
                len(self.edges),
            ),
            *self.peers,
            *(_PRE.pack(i, w) for i, w in self.pretrust),
            *(_EDGE.pack(i, j, w) for i, j, w in self.edges),
        ]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> TrustGraph:
        """Parse an encoding; anything but a graph's one encoding is a typed error."""
        if not isinstance(data, bytes | bytearray):
            raise TrustGraphEncodingError(f"a trust graph is bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise TrustGraphEncodingError(f"{len(data)} bytes: shorter than the {_HEADER.size}-byte header")
        magic, epoch, alpha, eps, iters, n, npre, nedges = _HEADER.unpack_from(data)
        if magic != GRAPH_MAGIC:
            raise TrustGraphEncodingError(f"magic {magic!r}, not {GRAPH_MAGIC!r}")
        if not 1 <= n <= MAX_PEERS or npre > n or nedges > MAX_EDGES:
            raise TrustGraphEncodingError(f"counts out of range: {n} peers, {npre} pre-trust, {nedges} edges")
        size = _HEADER.size + 20 * n + _PRE.size * npre + _EDGE.size * nedges
        if len(data) != size:
            raise TrustGraphEncodingError(f"{len(data)} bytes where the counts make {size}")
        off = _HEADER.size
        peers = tuple(data[off + 20 * k : off + 20 * k + 20] for k in range(n))
        off += 20 * n
        pre = tuple(_PRE.unpack_from(data, off + _PRE.size * k) for k in range(npre))
        off += _PRE.size * npre
        edges = tuple(_EDGE.unpack_from(data, off + _EDGE.size * k) for k in range(nedges))
        return cls(epoch, alpha, eps, iters, peers, pre, edges)


@dataclass(frozen=True)
class Scores:
    """The scores of a graph (WAD-scaled, in the graph's peer order), how many iterations ran, and the
    hash of the input they were computed from."""

    graph: TrustGraph
    input_hash: bytes
    scores: tuple[int, ...]
    iterations: int

    @cached_property
    def _index(self) -> dict[bytes, int]:
        return {p: k for k, p in enumerate(self.graph.peers)}

    @cached_property
    def _tree(self) -> list[list[bytes]]:
        return _levels(self.leaves())

    def index(self, peer: Any) -> int:
        """``peer``'s position (its leaf index); :class:`ScoreProofError` for no peer of the graph."""
        p = _peer(peer)
        if p not in self._index:
            raise ScoreProofError(f"0x{p.hex()} is not a peer of this graph")
        return self._index[p]

    def of(self, peer: Any) -> int:
        return self.scores[self.index(peer)]

    def vector_bytes(self) -> bytes:
        """``"ETS1" | u32 peers | (peer 20 B, u64 score) per peer``, in the graph's peer order."""
        return (
            VECTOR_MAGIC
            + struct.pack(">I", len(self.scores))
            + b"".join(p + struct.pack(">Q", s) for p, s in zip(self.graph.peers, self.scores, strict=True))
        )

    def leaves(self) -> list[bytes]:
        return [score_leaf(p, s) for p, s in zip(self.graph.peers, self.scores, strict=True)]

    @property
    def root(self) -> bytes:
        return self._tree[-1][0]

    def result(self) -> bytes:
        """The task result: ``abi.encode(uint64 epoch, bytes32 inputHash, bytes32 scoresRoot, uint32
        peers, uint32 iterations)``, 160 bytes."""
        return b"".join(
            (
                self.graph.epoch.to_bytes(32, "big"),
                self.input_hash,
                self.root,
                len(self.scores).to_bytes(32, "big"),
                self.iterations.to_bytes(32, "big"),
            )
        )

    def proof(self, peer: Any) -> tuple[int, int, bytes]:
        """(index, score, proof) of ``peer``: the siblings from its leaf up, 32 bytes each."""
        k = self.index(peer)
        return k, self.scores[k], abi.merkle_path(self._tree, k)


@dataclass(frozen=True)
class EigenTrustResult:
    """A decoded task result (:meth:`Scores.result`)."""

    epoch: int
    input_hash: bytes
    root: bytes
    peers: int
    iterations: int

    @classmethod
    def decode(cls, data: bytes) -> EigenTrustResult:
        if len(data) != RESULT_SIZE:
            raise TrustGraphEncodingError(f"an EigenTrust result is {RESULT_SIZE} bytes, not {len(data)}")
        w = [data[32 * k : 32 * k + 32] for k in range(5)]
        epoch, peers, iters = (int.from_bytes(w[k], "big") for k in (0, 3, 4))
        if epoch >> 64 or peers >> 32 or iters >> 32:
            raise TrustGraphEncodingError("an EigenTrust result word is out of its type's range")
        return cls(epoch, w[1], w[2], peers, iters)


def _csv_rows(text: str, what: str, fields: int) -> list[tuple[list[str], int]]:
    """(fields, line number) of each data line: blank lines and ``#`` comments skipped; a first line
    whose first field is no ``0x`` address is a header (OpenRank's ``i,j,v``)."""
    rows: list[tuple[list[str], int]] = []
    first = True
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != fields:
            raise TrustGraphEncodingError(
                f"{what} line {n}: {fields} comma-separated fields expected, got {len(parts)}"
            )
        header, first = first and not parts[0].lower().startswith("0x"), False
        if header:
            continue
        if not parts[-1].isdigit():
            raise TrustGraphEncodingError(
                f"{what} line {n}: weight {parts[-1]!r} is not a non-negative integer"
            )
        rows.append((parts, n))
    return rows


def graph_from_csv(edges: str, pretrust: str, **params: Any) -> TrustGraph:
    """A graph from CSV text (OpenRank's ``lt.csv`` / ``pt.csv`` shape with address peers):
    ``from,to,weight`` and ``peer,weight`` lines; ``params`` as :meth:`TrustGraph.from_edges` takes."""

    def peer(v: str, what: str, n: int) -> bytes:
        try:
            return _peer(v)
        except TrustGraphEncodingError as exc:
            raise TrustGraphEncodingError(f"{what} line {n}: {exc}") from None

    e = [(peer(a, "edges", n), peer(b, "edges", n), int(w)) for (a, b, w), n in _csv_rows(edges, "edges", 3)]
    pre: dict[bytes, int] = {}
    for (a, w), n in _csv_rows(pretrust, "pre-trust", 2):
        key = peer(a, "pre-trust", n)
        if key in pre:
            raise NonCanonicalTrustGraph(f"pre-trust line {n}: 0x{key.hex()} is given twice")
        pre[key] = int(w)
    return TrustGraph.from_edges(e, pre, **params)


def parse_fraction_wad(text: str, what: str = "alpha") -> int:
    """``"0.2"``, ``"20%"`` or ``"1/5"`` -> WAD units, exactly (refused when not a whole number of
    10**-18 units or outside [0, 1])."""
    t = text.strip()
    try:
        f = Fraction(t[:-1]) / 100 if t.endswith("%") else Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise TrustGraphEncodingError(f"{what} {text!r} is not a number") from None
    v = f * WAD
    if v.denominator != 1 or not 0 <= v <= WAD:
        raise TrustGraphEncodingError(f"{what} {text!r} is not in [0, 1] in whole units of 10**-18")
    return int(v)


def normalise(weights: Iterable[int], total: int) -> list[int]:
    """``floor(w * WAD / total)`` for each weight."""
    return [w * WAD // total for w in weights]


def compute(graph: TrustGraph | bytes) -> Scores:
    """Run EigenTrust on ``graph`` (a :class:`TrustGraph` or its encoding), exactly as specified in
    docs/compute-network.md: integers only, floor divisions, a fixed iteration cap and an integer L1
    stopping threshold."""
    data = graph if isinstance(graph, bytes | bytearray) else graph.encode()
    g = TrustGraph.decode(data) if isinstance(graph, bytes | bytearray) else graph
    n = len(g.peers)
    ptotal = sum(w for _, w in g.pretrust)
    p = [0] * n
    for (i, _), v in zip(g.pretrust, normalise((w for _, w in g.pretrust), ptotal), strict=True):
        p[i] = v
    out_total = [0] * n
    for i, _, w in g.edges:
        out_total[i] += w
    c = [w * WAD // out_total[i] for i, _, w in g.edges]
    dangling = [i for i in range(n) if out_total[i] == 0]
    keep = WAD - g.alpha
    t = list(p)
    k = 0
    while k < g.max_iterations:
        k += 1
        d = sum(t[i] for i in dangling)
        u = [pj * d for pj in p]
        for (i, j, _), cij in zip(g.edges, c, strict=True):
            u[j] += cij * t[i]
        nxt = [(keep * (uj // WAD) + g.alpha * pj) // WAD for uj, pj in zip(u, p, strict=True)]
        delta = sum(abs(a - b) for a, b in zip(nxt, t, strict=True))
        t = nxt
        if delta <= g.epsilon:
            break
    return Scores(g, keccak(bytes(data)), tuple(t), k)


def run(data: bytes) -> bytes:
    """What the task image computes: the encoded graph in, the 160-byte result out."""
    return compute(bytes(data)).result()


def score_leaf(peer: bytes, score: int) -> bytes:
    """``keccak256(peer (20 B) | uint256 score)``: 52 bytes hashed, so no leaf is a pair of nodes."""
    return keccak(peer + score.to_bytes(32, "big"))


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    if not leaves:
        raise ScoreProofError("a score tree needs at least one leaf")
    return abi.merkle_levels(leaves)


def merkle_root(leaves: list[bytes]) -> bytes:
    """The root of the leaves padded with zero words to a power of two, pairs hashed as
    ``keccak256(left | right)`` (EigenLayer's distribution tree; one leaf is its own root)."""
    return _levels(leaves)[-1][0]


def merkle_proof(leaves: list[bytes], index: int) -> bytes:
    """The siblings of leaf ``index`` from the bottom up, concatenated."""
    return abi.merkle_path(_levels(leaves), index)


def verify_score(root: bytes, peer: Any, score: int, index: int, proof: bytes) -> bool:
    """Whether ``(peer, score)`` is leaf ``index`` of the tree with ``root`` (what the registry's
    ``scoreOf`` checks); a malformed proof raises :class:`ScoreProofError`."""
    if len(proof) % 32 or len(proof) > 32 * 32:
        raise ScoreProofError(f"a proof is up to 32 words of 32 bytes, not {len(proof)} bytes")
    if not 0 <= index < 1 << (len(proof) // 32):
        raise ScoreProofError(f"index {index} does not fit a proof of {len(proof) // 32} levels")
    if not 0 <= score < 1 << 256:
        raise ScoreProofError("a score is a uint256")
    h = score_leaf(_peer(peer), score)
    for k in range(0, len(proof), 32):
        sib = proof[k : k + 32]
        h = keccak(h + sib) if index % 2 == 0 else keccak(sib + h)
        index //= 2
    return h == root


KERNEL = Path(__file__).resolve().parent / "kernels" / "eigentrust.c"


def build_eigentrust_image(out: str | Path, *, ref: str | None = "eigentrust:v1") -> BuiltImage:
    """Compile ``kernels/eigentrust.c`` into a static binary and build the task image of it (one
    layer: ``/app/eigentrust``, the entrypoint; no interpreter, no libraries), written to ``out`` as
    :func:`~offchain.compute.imagebuild.build_image` writes. Register it with ``eigen compute deploy``."""
    return build_kernel_image(KERNEL, "eigentrust", out, ref=ref)
