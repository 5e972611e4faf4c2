"""EigenLayer's rewards distribution tree, byte for byte (RewardsCoordinator v1.12, the sidecar's
``eigenlayer-rewards-proofs``), and its claims.

Two levels of keccak-256 binary trees:

- the **token tree** of one earner: a leaf per token, ``keccak(0x01 | token | cumulativeEarnings)``
  (1 + 20 + 32 bytes), tokens ascending by address;
- the **earner tree**: a leaf per earner, ``keccak(0x00 | earner | earnerTokenRoot)`` (1 + 20 + 32
  bytes), earners ascending by address; its root is the distribution root posted on-chain.

Each tree pads its leaves to the next power of two with zero words (not hashed) and hashes pairs
as ``keccak(left | right)``; one leaf is its own root (an empty proof). A proof is the siblings from
the leaf up, concatenated; the leaf's index picks the side at each level (even: the node is on the
left), and the contract refuses an index of ``2**(len(proof)/32)`` or more, so every leaf has one
valid (index, proof) pair. Amounts are cumulative: a claim pays ``cumulativeEarnings`` minus what the
earner already claimed of that token (per AVS in our contract).

Claims and distributions read and write EigenLayer's test-vector JSON (``Root``, ``RootIndex``,
``EarnerIndex``, ``EarnerTreeProof``, ``EarnerLeaf{Earner, EarnerTokenRoot}``, ``LeafIndices``,
``TokenTreeProofs``, ``TokenLeaves[{Token, CumulativeEarnings}]``).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from offchain import abi
from offchain.rewards.errors import ProofError, RewardsInputError

EARNER_LEAF_SALT = b"\x00"
TOKEN_LEAF_SALT = b"\x01"
ZERO_WORD = b"\x00" * 32
MAX_CUMULATIVE = 2**256 - 1
# The contract's bounds (contracts/interfaces/IRewardsCoordinator.vyi): proofs of depth 32 in the
# earner tree and 16 in a token tree, 8 tokens a claim, uint32 indices.
MAX_EARNER_DEPTH = 32
MAX_TOKEN_DEPTH = 16
MAX_TOKENS_PER_CLAIM = 8


def _addr(v: Any, what: str) -> str:
    try:
        return abi.address(v, RewardsInputError).lower()
    except RewardsInputError as exc:
        raise RewardsInputError(f"{what}: {exc}") from None


def _amount(v: Any, what: str) -> int:
    if isinstance(v, str):
        v = v.strip()
        try:
            v = int(v, 0) if v.startswith(("0x", "0X")) else int(v)
        except ValueError:
            raise RewardsInputError(f"{what}: {v!r} is not an integer") from None
    if isinstance(v, bool) or not isinstance(v, int):
        raise RewardsInputError(f"{what}: {v!r} is not an integer")
    if not 0 < v <= MAX_CUMULATIVE:
        raise RewardsInputError(f"{what}: {v} is outside [1, 2^256)")
    return v


def _hex_bytes(v: Any, what: str) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise RewardsInputError(f"{what}: expected 0x-prefixed hex, got {v!r}")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise RewardsInputError(f"{what}: {v!r} is not hex") from None


def _word(v: Any, what: str) -> bytes:
    b = _hex_bytes(v, what)
    if len(b) != 32:
        raise RewardsInputError(f"{what}: expected 32 bytes, got {len(b)}")
    return b


def _index(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
        raise RewardsInputError(f"{what}: {v!r} is not a uint32")
    return v


def _json(obj: Any, what: str) -> Any:
    """`obj` parsed when it is JSON text (nesting bounded), else itself."""
    if not isinstance(obj, str | bytes):
        return obj
    abi.json_depth(obj, what, RewardsInputError)
    try:
        return json.loads(obj)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RewardsInputError(f"{what} is not JSON: {exc}") from None


def earner_leaf_hash(earner: str, earner_token_root: bytes) -> bytes:
    """``keccak(0x00 | earner | earnerTokenRoot)``, the contract's calculateEarnerLeafHash."""
    return keccak(EARNER_LEAF_SALT + bytes.fromhex(_addr(earner, "earner")[2:]) + earner_token_root)


def token_leaf_hash(token: str, cumulative_earnings: int) -> bytes:
    """``keccak(0x01 | token | cumulativeEarnings)``, the contract's calculateTokenLeafHash."""
    amount = _amount(cumulative_earnings, "cumulative earnings")
    return keccak(TOKEN_LEAF_SALT + bytes.fromhex(_addr(token, "token")[2:]) + amount.to_bytes(32, "big"))


def tree_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree over `leaves` (leaf hashes), from the padded leaves up to the root."""
    if not leaves:
        raise RewardsInputError("a tree needs at least one leaf")
    return abi.merkle_levels(leaves)


def proof_of(levels: list[list[bytes]], index: int) -> bytes:
    """The proof of leaf `index`: its sibling at each level, bottom up."""
    return abi.merkle_path(levels, index)


def process_proof(proof: bytes, leaf: bytes, index: int) -> bytes:
    """EigenLayer's Merkle.processInclusionProofKeccak: the root `proof` leads to from `leaf` at
    `index` (an empty proof: the leaf). Raises ProofError for a length not a multiple of 32 or an
    index with bits left over."""
    if not proof:
        return leaf
    if len(proof) % 32:
        raise ProofError(f"proof length {len(proof)} is not a multiple of 32")
    h = leaf
    for i in range(0, len(proof), 32):
        el = proof[i : i + 32]
        h = keccak(h + el) if index % 2 == 0 else keccak(el + h)
        index //= 2
    if index != 0:
        raise ProofError("leaf index does not fit the proof")
    return h


def verify(root: bytes, leaf: bytes, index: int, proof: bytes, what: str = "leaf") -> None:
    """Raise ProofError unless `leaf` at `index` is in the tree of `root`, with the contract's
    index bound (``index < 2**(len(proof)/32)``)."""
    if index >= 1 << (len(proof) // 32):
        raise ProofError(f"{what} index {index} is too large for a proof of depth {len(proof) // 32}")
    if process_proof(proof, leaf, index) != root:
        raise ProofError(f"{what} is not in the tree: the proof does not lead to the root")


@dataclass(frozen=True)
class TokenLeaf:
    token: str  # lower-case 0x address
    cumulative_earnings: int

    def hash(self) -> bytes:
        return token_leaf_hash(self.token, self.cumulative_earnings)


@dataclass(frozen=True)
class Claim:
    """One RewardsMerkleClaim: an earner's leaf and proof in a root, and some of its token leaves."""

    root_index: int
    earner_index: int
    earner_tree_proof: bytes
    earner: str
    earner_token_root: bytes
    token_indices: tuple[int, ...]
    token_tree_proofs: tuple[bytes, ...]
    token_leaves: tuple[TokenLeaf, ...]

    def as_tuple(self) -> tuple:
        """The contract's RewardsMerkleClaim as an ABI tuple (for processClaim / processClaims;
        addresses checksummed, as web3 wants them)."""
        return (
            self.root_index,
            self.earner_index,
            self.earner_tree_proof,
            (to_checksum_address(self.earner), self.earner_token_root),
            list(self.token_indices),
            list(self.token_tree_proofs),
            [(to_checksum_address(t.token), t.cumulative_earnings) for t in self.token_leaves],
        )

    def verify(self, root: bytes) -> None:
        """Raise ProofError unless every proof of the claim holds against `root`."""
        n = len(self.token_indices)
        if not (n == len(self.token_tree_proofs) == len(self.token_leaves)):
            raise RewardsInputError("token indices, proofs and leaves differ in number")
        verify(
            root,
            earner_leaf_hash(self.earner, self.earner_token_root),
            self.earner_index,
            self.earner_tree_proof,
            f"earner {self.earner}",
        )
        for i, proof, leaf in zip(self.token_indices, self.token_tree_proofs, self.token_leaves, strict=True):
            verify(self.earner_token_root, leaf.hash(), i, proof, f"token leaf {leaf.token}")

    def to_json(self, root: bytes | None = None) -> dict[str, Any]:
        """EigenLayer's vector format (``Root`` included when given)."""
        out: dict[str, Any] = {} if root is None else {"Root": "0x" + root.hex()}
        out.update(
            {
                "RootIndex": self.root_index,
                "EarnerIndex": self.earner_index,
                "EarnerTreeProof": "0x" + self.earner_tree_proof.hex(),
                "EarnerLeaf": {"Earner": self.earner, "EarnerTokenRoot": "0x" + self.earner_token_root.hex()},
                "LeafIndices": list(self.token_indices),
                "TokenTreeProofs": ["0x" + p.hex() for p in self.token_tree_proofs],
                "TokenLeaves": [
                    {"Token": t.token, "CumulativeEarnings": t.cumulative_earnings} for t in self.token_leaves
                ],
            }
        )
        return out

    @classmethod
    def from_json(cls, obj: Any) -> tuple[Claim, bytes | None]:
        """A claim (and its ``Root`` when present) from EigenLayer's vector format."""
        obj = _json(obj, "claim")
        if not isinstance(obj, dict):
            raise RewardsInputError("a claim is a JSON object")
        try:
            leaf = obj["EarnerLeaf"]
            if not isinstance(leaf, dict):
                raise RewardsInputError("EarnerLeaf must be an object")
            indices, proofs, leaves = obj["LeafIndices"], obj["TokenTreeProofs"], obj["TokenLeaves"]
            if not all(isinstance(x, list) for x in (indices, proofs, leaves)):
                raise RewardsInputError("LeafIndices, TokenTreeProofs and TokenLeaves must be lists")
            if not (len(indices) == len(proofs) == len(leaves)):
                raise RewardsInputError("LeafIndices, TokenTreeProofs and TokenLeaves differ in length")
            tls = []
            for n, t in enumerate(leaves):
                if not isinstance(t, dict):
                    raise RewardsInputError(f"TokenLeaves[{n}] must be an object")
                tls.append(
                    TokenLeaf(
                        _addr(t["Token"], f"TokenLeaves[{n}].Token"),
                        _amount(t["CumulativeEarnings"], f"TokenLeaves[{n}].CumulativeEarnings"),
                    )
                )
            claim = cls(
                root_index=_index(obj.get("RootIndex", 0), "RootIndex"),
                earner_index=_index(obj["EarnerIndex"], "EarnerIndex"),
                earner_tree_proof=_hex_bytes(obj["EarnerTreeProof"], "EarnerTreeProof"),
                earner=_addr(leaf["Earner"], "EarnerLeaf.Earner"),
                earner_token_root=_word(leaf["EarnerTokenRoot"], "EarnerLeaf.EarnerTokenRoot"),
                token_indices=tuple(_index(i, "LeafIndices[]") for i in indices),
                token_tree_proofs=tuple(_hex_bytes(p, "TokenTreeProofs[]") for p in proofs),
                token_leaves=tuple(tls),
            )
        except KeyError as exc:
            raise RewardsInputError(f"claim lacks {exc.args[0]}") from None
        root = _word(obj["Root"], "Root") if "Root" in obj else None
        return claim, root


def parse_earnings(obj: Any) -> dict[str, dict[str, int]]:
    """``{earner: {token: cumulativeEarnings}}`` checked and normalised (lower-case addresses,
    integer amounts in [1, 2^256)); amounts may be integers or decimal / 0x strings. A JSON text
    is parsed first. Duplicates (the same address in two spellings) are refused."""
    obj = _json(obj, "distribution")
    if not isinstance(obj, Mapping) or not obj:
        raise RewardsInputError("a distribution is a non-empty object {earner: {token: cumulative earnings}}")
    out: dict[str, dict[str, int]] = {}
    for e, tokens in obj.items():
        earner = _addr(e, "earner")
        if earner in out:
            raise RewardsInputError(f"earner {earner} appears twice")
        if not isinstance(tokens, Mapping) or not tokens:
            raise RewardsInputError(f"earner {earner}: needs a non-empty object {{token: amount}}")
        row: dict[str, int] = {}
        for t, v in tokens.items():
            token = _addr(t, f"earner {earner}: token")
            if token in row:
                raise RewardsInputError(f"earner {earner}: token {token} appears twice")
            row[token] = _amount(v, f"earner {earner}, token {token}")
        if len(row) > 1 << MAX_TOKEN_DEPTH:
            raise RewardsInputError(f"earner {earner}: more than 2^{MAX_TOKEN_DEPTH} tokens")
        out[earner] = row
    return out


_NO_LEAF = (0, b"", "0x" + "00" * 20, ZERO_WORD, False)
_NO_LOOKUP = (False, _NO_LEAF, False, _NO_LEAF)


def _lookup(keys: list[str], levels: list[list[bytes]], key: str, value: Any) -> tuple:
    # `key`'s leaf, or the two leaves beside where it would be (keys sorted as integers).
    def leaf(i: int) -> tuple:
        if i < len(keys):
            return (i, proof_of(levels, i), to_checksum_address(keys[i]), value(keys[i]), False)
        return (i, proof_of(levels, i), "0x" + "00" * 20, ZERO_WORD, True)  # a padding word

    pos = bisect.bisect_left([int(k, 16) for k in keys], int(key, 16))
    if pos < len(keys) and keys[pos] == key:
        return (True, leaf(pos), False, _NO_LEAF)
    lo = leaf(pos - 1) if pos > 0 else _NO_LEAF
    width = len(levels[0])
    hi = leaf(pos) if pos < width else _NO_LEAF
    return (pos > 0, lo, pos < width, hi)


class DistributionTree:
    """The two-level tree over cumulative earnings ``{earner: {token: amount}}`` (see the module)."""

    def __init__(self, earnings: Mapping[str, Mapping[str, Any]]) -> None:
        self.earnings = parse_earnings(earnings)
        self.earners = sorted(self.earnings, key=lambda a: int(a, 16))
        self._tokens: dict[str, list[str]] = {}
        self._token_levels: dict[str, list[list[bytes]]] = {}
        earner_leaves = []
        for e in self.earners:
            tokens = sorted(self.earnings[e], key=lambda a: int(a, 16))
            levels = tree_levels([token_leaf_hash(t, self.earnings[e][t]) for t in tokens])
            self._tokens[e], self._token_levels[e] = tokens, levels
            earner_leaves.append(earner_leaf_hash(e, levels[-1][0]))
        self._levels = tree_levels(earner_leaves)
        self._index = {e: i for i, e in enumerate(self.earners)}

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def earner_token_root(self, earner: str) -> bytes:
        return self._token_levels[self._earner(earner)][-1][0]

    def _earner(self, earner: str) -> str:
        e = _addr(earner, "earner")
        if e not in self._index:
            raise ProofError(f"earner {e} is not in this distribution")
        return e

    def amount_proof(self, earner: str, token: str) -> tuple:
        """What this tree says `earner` has earned in `token`, as RewardsRootChallenger's
        ``AmountProof``: the earner's leaf (or its neighbours, when absent) in the earner tree, then
        the token's leaf (or its neighbours) in its token tree. Leaves are ``(index, proof, key,
        value, padding)``; a lookup is ``(hasLo, lo, hasHi, hi)``."""
        e, t = _addr(earner, "earner"), _addr(token, "token")
        earner_q = _lookup(self.earners, self._levels, e, lambda k: self.earner_token_root(k))
        if e not in self._index:
            return earner_q, _NO_LOOKUP
        token_q = _lookup(
            self._tokens[e],
            self._token_levels[e],
            t,
            lambda k: self.earnings[e][k].to_bytes(32, "big"),
        )
        return earner_q, token_q

    def amount(self, earner: str, token: str) -> int:
        """The cumulative earnings of `earner` in `token` here (0 when absent)."""
        return self.earnings.get(_addr(earner, "earner"), {}).get(_addr(token, "token"), 0)

    def claim(self, earner: str, tokens: Iterable[str] | None = None, root_index: int = 0) -> Claim:
        """The claim of `earner` for `tokens` (all of its tokens by default, in tree order) against
        this tree posted at `root_index`."""
        e = self._earner(earner)
        order = self._tokens[e]
        wanted = order if tokens is None else [_addr(t, "token") for t in tokens]
        if not wanted or len(wanted) > MAX_TOKENS_PER_CLAIM:
            raise RewardsInputError(f"a claim holds 1 to {MAX_TOKENS_PER_CLAIM} tokens: got {len(wanted)}")
        if len(set(wanted)) != len(wanted):
            raise RewardsInputError("a token appears twice in the claim")
        idx = []
        for t in wanted:
            if t not in self.earnings[e]:
                raise ProofError(f"earner {e} has no earnings in token {t}")
            idx.append(order.index(t))
        levels = self._token_levels[e]
        return Claim(
            root_index=_index(root_index, "root index"),
            earner_index=self._index[e],
            earner_tree_proof=proof_of(self._levels, self._index[e]),
            earner=e,
            earner_token_root=levels[-1][0],
            token_indices=tuple(idx),
            token_tree_proofs=tuple(proof_of(levels, i) for i in idx),
            token_leaves=tuple(TokenLeaf(t, self.earnings[e][t]) for t in wanted),
        )

    def claims(self, earner: str, tokens: Iterable[str] | None = None, root_index: int = 0) -> list[Claim]:
        """:meth:`claim` for any number of tokens: one claim per MAX_TOKENS_PER_CLAIM tokens (sent
        together with ``processClaims``)."""
        e = self._earner(earner)
        wanted = self._tokens[e] if tokens is None else [_addr(t, "token") for t in tokens]
        if not wanted:
            raise RewardsInputError("a claim needs at least one token")
        n = MAX_TOKENS_PER_CLAIM
        return [self.claim(e, wanted[i : i + n], root_index) for i in range(0, len(wanted), n)]
