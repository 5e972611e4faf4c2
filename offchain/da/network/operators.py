"""The operators' state at a reference block: each quorum's members, their stakes and BLS keys.

EigenDA's disperser reads the operator state from its registries at a reference block (the chain head
minus a small offset, so the block is settled) and signs that block into the batch header; each validator
reads the state at the same block and recomputes the assignment, so a batch whose chunks were assigned
from another view is refused. Two sources:

- :class:`StaticOperators`: the network file's stakes and keys, the same at every block (devnets without a
  chain); its reference block is the configured number;
- :class:`RegistryOperators`: the project's BLSRegistry (contracts/certs/BLSRegistry.vy) through a
  :class:`RegistryReader` (``offchain.chain.bls_registry.BLSRegistryReader``). DA quorum ``q`` maps to
  ``(operator set, stake index)``: the set's members at the block, each one's stake in the set's
  ``stake index``-th quorum (strategy). The members are the keys registered in the set up to the block
  (``KeyRegistered`` logs) that ``operatorStakeAt`` says were members then; their stakes must add up to
  ``totalStakeAt`` and their G1 keys to ``apkAt``, else the read is refused (a missed log would skew
  every assignment).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from offchain.bls import group
from offchain.bls.keys import PublicKey
from offchain.da.errors import OperatorStateError

CACHE_BLOCKS = 64  # states kept per source (a block's state never changes once mined)


@dataclass(frozen=True)
class OperatorState:
    """The operators at ``reference_block``: stake per quorum per operator id, and their BLS keys."""

    reference_block: int
    stakes: Mapping[int, Mapping[bytes, int]]
    public_keys: Mapping[bytes, PublicKey] = field(default_factory=dict)


class OperatorSource(Protocol):
    def reference_block(self) -> int:
        """The block a new batch names: the chain head minus the configured offset."""
        ...

    def head(self) -> int | None:
        """The chain head (None when the source has no chain)."""
        ...

    def state_at(self, block: int) -> OperatorState: ...


class StaticOperators:
    """The network file's operators: the same stakes and keys at every block."""

    def __init__(
        self,
        stakes: Mapping[int, Mapping[bytes, int]],
        public_keys: Mapping[bytes, PublicKey] | None = None,
        reference_block_number: int = 0,
    ) -> None:
        self.stakes, self.public_keys = stakes, dict(public_keys or {})
        self.reference_block_number = reference_block_number

    def reference_block(self) -> int:
        return self.reference_block_number

    def head(self) -> int | None:
        return None

    def state_at(self, block: int) -> OperatorState:
        return OperatorState(block, self.stakes, self.public_keys)


class RegistryReader(Protocol):
    """The BLSRegistry's views (``offchain.chain.bls_registry.BLSRegistryReader``)."""

    def block_number(self) -> int: ...

    def registered_keys(self, set_id: int, to_block: int) -> dict[bytes, PublicKey]:
        """Every key registered in the set up to ``to_block`` (registrations and rotations), by operator id."""
        ...

    def operator_stake_at(self, set_id: int, operator_id: bytes, block: int) -> tuple[bool, list[int]]: ...

    def total_stake_at(self, set_id: int, block: int) -> list[int]: ...

    def apk_at(self, set_id: int, block: int) -> tuple[int, int]: ...


class RegistryOperators:
    """The BLSRegistry's operators at a block; ``quorums``: DA quorum -> (operator set id, stake index)."""

    def __init__(
        self, reader: RegistryReader, quorums: Mapping[int, tuple[int, int]], reference_block_offset: int = 75
    ) -> None:
        if not quorums:
            raise OperatorStateError("operators: no quorums mapped to operator sets")
        self.reader, self.quorums, self.offset = reader, dict(quorums), reference_block_offset
        self._cache: OrderedDict[int, OperatorState] = OrderedDict()
        self._lock = threading.Lock()

    def head(self) -> int:
        try:
            return int(self.reader.block_number())
        except Exception as exc:  # noqa: BLE001 - any RPC failure: the state is unavailable
            raise OperatorStateError(f"chain head: {exc}") from exc

    def reference_block(self) -> int:
        head = self.head()
        if head < self.offset:
            raise OperatorStateError(f"chain head {head} is below the reference block offset {self.offset}")
        return head - self.offset

    def state_at(self, block: int) -> OperatorState:
        with self._lock:
            if block in self._cache:
                self._cache.move_to_end(block)
                return self._cache[block]
        head = self.head()
        if not 0 <= block <= head:
            raise OperatorStateError(f"reference block {block} is not a mined block (head {head})")
        try:
            state = self._read(block)
        except OperatorStateError:
            raise
        except Exception as exc:  # noqa: BLE001 - any RPC or decoding failure
            raise OperatorStateError(f"operator state at block {block}: {exc}") from exc
        with self._lock:
            self._cache[block] = state
            while len(self._cache) > CACHE_BLOCKS:
                self._cache.popitem(last=False)
        return state

    def _read(self, block: int) -> OperatorState:
        sets: dict[int, dict[bytes, tuple[PublicKey, list[int]]]] = {}
        for set_id in sorted({s for s, _ in self.quorums.values()}):
            members = {}
            for oid, pk in self.reader.registered_keys(set_id, block).items():
                member, stakes = self.reader.operator_stake_at(set_id, oid, block)
                if member:
                    members[oid] = (pk, [int(s) for s in stakes])
            totals = [int(t) for t in self.reader.total_stake_at(set_id, block)]
            for i, total in enumerate(totals):
                summed = sum(st[i] for _, st in members.values() if i < len(st))
                if summed != total:
                    raise OperatorStateError(
                        f"operator set {set_id} at block {block}: members' stakes in quorum {i} add up to "
                        f"{summed}, the registry's total is {total}"
                    )
            apk = group.g1_sum([pk.g1 for pk, _ in members.values()])
            if group.g1_to_evm(apk) != tuple(int(v) for v in self.reader.apk_at(set_id, block)):
                raise OperatorStateError(
                    f"operator set {set_id} at block {block}: members' G1 keys do not add up to the registry's apk"
                )
            sets[set_id] = members
        stakes: dict[int, dict[bytes, int]] = {}
        keys: dict[bytes, PublicKey] = {}
        for q, (set_id, index) in sorted(self.quorums.items()):
            table = {}
            for oid, (pk, st) in sets[set_id].items():
                if index >= len(st):
                    raise OperatorStateError(
                        f"quorum {q}: operator set {set_id} has {len(st)} stake quorums, not index {index}"
                    )
                table[oid] = st[index]  # every member, as the registry's apk counts them
                keys[oid] = pk
            if table:
                stakes[q] = table
        return OperatorState(block, stakes, keys)
