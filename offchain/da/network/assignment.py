"""Chunk assignment by stake, as EigenDA V2's ``core/v2/assignment.go`` (read at commit 0a90d37a).

Per quorum (``GetAssignmentsForQuorum``): operators sorted by the hex of their 32-byte id, each gets
``ceil((numChunks - maxNumOperators) * stake / totalStake)`` contiguous indices, from 0 in that order.

Across the blob's quorums (``GetAssignmentsForBlob``), sorted ascending: the first quorum is assigned as
above; each later quorum (``AddAssignmentsForQuorum``) keeps, per operator, the first
``min(count_q, len(first))`` indices of its first-quorum assignment, marks the rest of that assignment
as unavailable, and then gives each operator that still needs indices the next ``count_q`` available
ones (``count_q`` in full, as upstream appends it, not only the missing part). Finally
(``MergeAssignmentsAndCap``) each operator's indices are the union over quorums, in order of first
appearance, capped at ``numChunks / codingRate`` (1024): enough to reconstruct on its own.

Upstream dereferences an operator's first-quorum assignment for every operator of a later quorum; an
operator absent from the first quorum is treated here as having an empty one (upstream would crash).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from offchain.da.errors import AssignmentError


@dataclass(frozen=True)
class BlobParams:
    """``BlobVersionParameters`` (the ThresholdRegistry's ``VersionedBlobParams``); version 0's defaults."""

    num_chunks: int = 8192
    max_num_operators: int = 3537
    coding_rate: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.max_num_operators < self.num_chunks or self.coding_rate <= 0:
            raise AssignmentError(f"bad blob parameters {self}")

    @property
    def max_chunks_per_operator(self) -> int:
        return self.num_chunks // self.coding_rate


# stakes[quorum][operator_id] = stake; operator ids are 32 bytes
Stakes = Mapping[int, Mapping[bytes, int]]


def _ordered(stakes: Stakes, quorum: int) -> list[bytes]:
    ops = stakes.get(quorum)
    if not ops:
        raise AssignmentError(f"no operators found for quorum {quorum}")
    for op, stake in ops.items():
        if not isinstance(op, bytes) or len(op) != 32:
            raise AssignmentError(f"quorum {quorum}: operator id {op!r} is not 32 bytes")
        if not isinstance(stake, int) or stake < 0 or stake >= 1 << 96:
            raise AssignmentError(f"quorum {quorum}: stake {stake!r} of {op.hex()} is not a uint96")
    return sorted(ops, key=bytes.hex)


def assignments_for_quorum(stakes: Stakes, params: BlobParams, quorum: int) -> dict[bytes, list[int]]:
    """``GetAssignmentsForQuorum``: contiguous stake-proportional ranges, operators in id order."""
    order = _ordered(stakes, quorum)
    if len(order) > params.max_num_operators:
        raise AssignmentError(
            f"too many operators for quorum {quorum}: {len(order)} > {params.max_num_operators}"
        )
    total = sum(stakes[quorum].values())
    if total == 0:
        raise AssignmentError(f"quorum {quorum} has no stake")
    effective = params.num_chunks - params.max_num_operators
    out: dict[bytes, list[int]] = {}
    offset = 0
    for op in order:
        n = -(-effective * stakes[quorum][op] // total)
        out[op] = list(range(offset, offset + n))
        offset += n
    return out


def add_assignments_for_quorum(
    first: Mapping[bytes, list[int]], stakes: Stakes, params: BlobParams, quorum: int
) -> dict[bytes, list[int]]:
    """``AddAssignmentsForQuorum``: reuse the first quorum's indices where possible."""
    own = assignments_for_quorum(stakes, params, quorum)
    order = _ordered(stakes, quorum)
    unavailable: set[int] = set()
    new: dict[bytes, list[int]] = {}
    for op in order:
        base = first.get(op, [])
        keep = min(len(own[op]), len(base))
        new[op] = list(base[:keep])
        unavailable.update(base[keep:])
    available = [i for i in range(params.num_chunks) if i not in unavailable]
    for op in order:
        want = len(own[op])
        if want > len(new[op]):
            if want > len(available):
                raise AssignmentError(f"quorum {quorum}: chunk indices exhausted")
            new[op] += available[:want]
            available = available[want:]
    return new


def merge_and_cap(
    assignments: Sequence[Mapping[bytes, list[int]]], params: BlobParams
) -> dict[bytes, list[int]]:
    """``MergeAssignmentsAndCap``: union per operator in order of appearance, at most numChunks/codingRate."""
    cap = params.max_chunks_per_operator
    merged: dict[bytes, list[int]] = {}
    seen: dict[bytes, set[int]] = {}
    for assignment in assignments:
        for op, indices in assignment.items():
            if op not in merged:
                merged[op] = list(indices[:cap])
                seen[op] = set(merged[op])
                continue
            for i in indices:
                if len(merged[op]) >= cap:
                    break
                if i not in seen[op]:
                    merged[op].append(i)
                    seen[op].add(i)
    return merged


def assignments_for_blob(
    stakes: Stakes, params: BlobParams, quorums: Sequence[int]
) -> dict[bytes, list[int]]:
    """``GetAssignmentsForBlob``: every operator of the blob's quorums -> its chunk indices."""
    qs = sorted(quorums)
    if not qs or len(set(qs)) != len(qs):
        raise AssignmentError(f"quorums {list(quorums)}: need distinct quorum numbers")
    first = assignments_for_quorum(stakes, params, qs[0])
    per_quorum = [first] + [add_assignments_for_quorum(first, stakes, params, q) for q in qs[1:]]
    return merge_and_cap(per_quorum, params)


def chunk_length(blob_length: int, params: BlobParams) -> int:
    """``GetChunkLength``: symbols per chunk, blob length (symbols, a power of two) * codingRate / numChunks."""
    if blob_length <= 0 or blob_length & (blob_length - 1):
        raise AssignmentError(f"blob length {blob_length} is not a positive power of two")
    return max(1, blob_length * params.coding_rate // params.num_chunks)
