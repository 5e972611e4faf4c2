"""Contract storage proven against a block hash: what a value was at a block, checked with nothing but
that block's hash (which every node keeps, archive or not) and the proof.

A :class:`StateProof` carries three things, all from ``eth_getProof`` and the block:

- the block header, RLP-encoded. It must hash (keccak-256) to the block hash the verifier trusts, and
  its fourth field is the state root;
- the account's proof: the Merkle-Patricia trie nodes from the state root to ``keccak(address)``, whose
  leaf is ``rlp([nonce, balance, storageRoot, codeHash])``;
- per storage slot, the nodes from the account's storage root to ``keccak(slot)``, whose leaf is the
  RLP of the value (no leaf: the value is zero).

:func:`fetch_state_proof` asks a node for one; :func:`verify_state_proof` checks one and returns the
proven :class:`ProvenAccount`. Every refusal is :class:`StateProofError`, naming what did not hold. The
trie walk is py-trie's (``HexaryTrie.get_from_proof``), which checks every node's hash against its
parent's reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak, to_checksum_address
from trie import HexaryTrie
from trie.exceptions import BadTrieProof, ValidationError

from offchain.chain.errors import ChainInputError

__all__ = [
    "ProvenAccount",
    "StateProof",
    "StateProofError",
    "fetch_state_proof",
    "header_rlp",
    "verify_state_proof",
]

# the header's fields in RLP order; the first fifteen are in every header, each fork appends its own
_BASE_FIELDS = (
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot", "logsBloom",
    "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData", "mixHash", "nonce",
)  # fmt: skip
_FORK_FIELDS = (  # London, Shanghai, Cancun (two), Cancun's beacon root, Prague
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash",
)  # fmt: skip
_INT_FIELDS = {"difficulty", "number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "blobGasUsed",
               "excessBlobGas"}  # fmt: skip
_STATE_ROOT, _NUMBER = 3, 8  # positions in the header
_MAX_NODES = 64  # a trie path of a 32-byte key has at most 64 nibbles
_MAX_NODE_BYTES = 1 << 12  # a branch node is at most 17 x 33 bytes plus its list header


class StateProofError(ChainInputError):
    """A state proof that does not prove what it claims: a header that does not hash to the trusted
    block hash, a trie node that does not hash to its parent's reference, a malformed proof or
    value, or a proven value that differs from the one claimed."""


@dataclass(frozen=True)
class ProvenAccount:
    """An account as proven at block ``number`` (``storage``: the proven slots' values)."""

    address: str
    number: int
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    storage: Mapping[int, int]


@dataclass(frozen=True)
class StateProof:
    """The proof of ``address``'s ``slots`` at the block whose header is ``header`` (RLP)."""

    header: bytes
    address: str
    account_proof: tuple[bytes, ...]
    storage_proofs: tuple[tuple[int, tuple[bytes, ...]], ...]  # (slot, nodes), in the order asked

    def to_json(self) -> dict[str, Any]:
        return {
            "header": "0x" + self.header.hex(),
            "address": self.address,
            "accountProof": ["0x" + n.hex() for n in self.account_proof],
            "storageProof": [
                {"slot": hex(slot), "proof": ["0x" + n.hex() for n in nodes]}
                for slot, nodes in self.storage_proofs
            ],
        }

    @classmethod
    def from_json(cls, v: Any) -> StateProof:
        """Parse strictly (every field, no other, hex everywhere, bounded sizes)."""
        if not isinstance(v, dict) or set(v) != {"header", "address", "accountProof", "storageProof"}:
            raise StateProofError("a state proof is {header, address, accountProof, storageProof}")
        try:
            address = to_checksum_address(v["address"])
        except (TypeError, ValueError):
            raise StateProofError("the state proof's address is not an address") from None
        slots = v["storageProof"]
        if not isinstance(slots, list) or len(slots) > 16:
            raise StateProofError("storageProof: a list of at most 16 slots")
        storage = []
        for s in slots:
            if not isinstance(s, dict) or set(s) != {"slot", "proof"}:
                raise StateProofError("a storage proof is {slot, proof}")
            slot = int.from_bytes(_hex(s["slot"], "a slot", 32), "big")
            storage.append((slot, _nodes(s["proof"])))
        return cls(
            _hex(v["header"], "the header", 1 << 12), address, _nodes(v["accountProof"]), tuple(storage)
        )


def _hex(v: Any, what: str, limit: int) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise StateProofError(f"{what}: a 0x-prefixed hex string")
    digits = v[2:]
    if len(digits) % 2:
        digits = "0" + digits  # a quantity (a slot) may be given without its leading zero
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise StateProofError(f"{what}: not hex") from None
    if len(raw) > limit:
        raise StateProofError(f"{what}: over {limit} bytes")
    return raw


def _nodes(v: Any) -> tuple[bytes, ...]:
    if not isinstance(v, list) or not 0 < len(v) <= _MAX_NODES:
        raise StateProofError(f"a trie proof: a list of 1 to {_MAX_NODES} nodes")
    return tuple(_hex(n, "a trie node", _MAX_NODE_BYTES) for n in v)


def _field(name: str, value: Any) -> Any:
    """A header field of a JSON-RPC block, as the header's RLP holds it."""
    raw = bytes.fromhex(value[2:] if len(value) % 2 == 0 else "0" + value[2:])
    return int.from_bytes(raw, "big") if name in _INT_FIELDS else raw


def header_rlp(block: Mapping[str, Any]) -> bytes:
    """The RLP of a block's header, from a JSON-RPC block (``eth_getBlockByNumber``'s raw answer): the
    base fields, then each fork's that the block has, in order. Only a header that hashes to the
    block's ``hash`` is returned (else :class:`StateProofError`: a field this code does not know)."""
    try:
        fields = [_field(n, block[n]) for n in _BASE_FIELDS]
        for name in _FORK_FIELDS:
            if block.get(name) is None:
                break
            fields.append(_field(name, block[name]))
        encoded = rlp.encode(fields)
        expected = bytes.fromhex(block["hash"][2:])
    except (KeyError, TypeError, ValueError) as exc:
        raise StateProofError(f"the node's block is malformed: {exc}") from None
    if keccak(encoded) != expected:
        raise StateProofError(
            f"block {block.get('number')}'s header, re-encoded, does not hash to its block hash "
            "(a header field this code does not know?)"
        )
    return encoded


def fetch_state_proof(w3: Any, address: str, slots: Iterable[int], block: int) -> StateProof:
    """Ask ``w3``'s node for the proof of ``address``'s ``slots`` at ``block`` (``eth_getProof`` and
    the block's header). A node that cannot answer (no state for that block, no such method) is
    :class:`StateProofError`."""
    slots = list(slots)
    address = to_checksum_address(address)
    raw_block = _rpc(w3, "eth_getBlockByNumber", [hex(block), False])
    if not isinstance(raw_block, dict):
        raise StateProofError(f"the node has no block {block}")
    answer = _rpc(
        w3, "eth_getProof", [address, ["0x" + s.to_bytes(32, "big").hex() for s in slots], hex(block)]
    )
    try:
        storage = answer["storageProof"]
        if len(storage) != len(slots):
            raise StateProofError("the node proved other slots than those asked")
        proof = StateProof.from_json(
            {
                "header": "0x" + header_rlp(raw_block).hex(),
                "address": address,
                "accountProof": answer["accountProof"],
                "storageProof": [
                    {"slot": "0x" + s.to_bytes(32, "big").hex(), "proof": p["proof"] or ["0x80"]}
                    for s, p in zip(slots, storage, strict=True)
                ],
            }
        )
    except (KeyError, TypeError) as exc:
        raise StateProofError(f"the node's eth_getProof answer is malformed: {exc}") from None
    return proof


def _rpc(w3: Any, method: str, params: list[Any]) -> Any:
    """One raw JSON-RPC request (no web3 formatting: the header is re-encoded from the node's own hex)."""
    reply = w3.provider.make_request(method, params)
    if "error" in reply:
        raise StateProofError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply.get("result")


def _walk(root: bytes, key: bytes, nodes: tuple[bytes, ...], what: str) -> bytes:
    """The value at ``keccak(key)`` in the trie of ``root`` (``b""``: none), through ``nodes``."""
    try:
        decoded = [rlp.decode(n) for n in nodes]  # py-trie walks decoded nodes and re-encodes each to hash it
        return HexaryTrie.get_from_proof(root, keccak(key), decoded)
    except (
        BadTrieProof,
        ValidationError,
        rlp.DecodingError,
        ValueError,
        IndexError,
        TypeError,
        KeyError,
    ) as exc:
        raise StateProofError(f"{what}: the trie proof does not hold ({type(exc).__name__})") from None


def verify_state_proof(proof: StateProof, block_hash: bytes) -> ProvenAccount:
    """The account and slots ``proof`` proves at the block whose hash is ``block_hash`` (trusted: from
    the verifier's own node or light client), or :class:`StateProofError`."""
    if keccak(proof.header) != bytes(block_hash):
        raise StateProofError("the proof's header is not the block's: it does not hash to the block hash")
    try:
        header = rlp.decode(proof.header)
        state_root, number = bytes(header[_STATE_ROOT]), int.from_bytes(header[_NUMBER], "big")
    except (rlp.DecodingError, IndexError, TypeError) as exc:
        raise StateProofError(f"the proof's header is not a block header ({type(exc).__name__})") from None
    if not isinstance(header, list) or len(header) < len(_BASE_FIELDS) or len(state_root) != 32:
        raise StateProofError("the proof's header is not a block header")
    leaf = _walk(state_root, bytes.fromhex(proof.address[2:]), proof.account_proof, "the account")
    if not leaf:
        raise StateProofError(f"no account {proof.address} in the state at block {number}")
    try:
        fields = rlp.decode(leaf)
    except rlp.DecodingError:
        fields = None
    if (
        not isinstance(fields, list)
        or len(fields) != 4
        or not all(isinstance(f, bytes) for f in fields)
        or len(fields[2]) != 32
        or len(fields[3]) != 32
    ):
        raise StateProofError(
            "the account's leaf is not an account: rlp([nonce, balance, storageRoot, codeHash])"
        )
    nonce, balance, storage_root, code_hash = fields
    storage: dict[int, int] = {}
    for slot, nodes in proof.storage_proofs:
        raw = _walk(storage_root, slot.to_bytes(32, "big"), nodes, f"slot {slot}")
        try:
            value = rlp.decode(raw) if raw else b""
        except rlp.DecodingError:
            value = None
        if not isinstance(value, bytes) or len(value) > 32:
            raise StateProofError(f"slot {slot}'s leaf is not a 32-byte value")
        storage[slot] = int.from_bytes(value, "big")
    return ProvenAccount(
        proof.address,
        number,
        int.from_bytes(nonce, "big"),
        int.from_bytes(balance, "big"),
        bytes(storage_root),
        bytes(code_hash),
        storage,
    )
