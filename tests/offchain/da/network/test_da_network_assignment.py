"""Chunk assignment: EigenDA V2's formula, its properties, and a worked two-quorum example."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.da.errors import AssignmentError
from offchain.da.network.assignment import (
    BlobParams,
    add_assignments_for_quorum,
    assignments_for_blob,
    assignments_for_quorum,
    chunk_length,
)

V0 = BlobParams()


def op(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_two_equal_operators():
    a = assignments_for_quorum({0: {op(2): 5, op(1): 5}}, V0, 0)
    assert a[op(1)] == list(range(0, 2328)) and a[op(2)] == list(range(2328, 4656))


stakes_st = st.lists(st.integers(0, 10**24), min_size=1, max_size=40).filter(lambda s: sum(s) > 0)


@settings(max_examples=60, deadline=None)
@given(stakes_st, st.randoms(use_true_random=False))
def test_single_quorum_properties(stakes, rnd):
    ids = [bytes(rnd.getrandbits(8) for _ in range(32)) for _ in stakes]
    ids = list(dict.fromkeys(ids))
    table = {0: dict(zip(ids, stakes, strict=False))}
    total = sum(table[0].values())
    a = assignments_for_quorum(table, V0, 0)
    offset = 0
    for i in sorted(a, key=bytes.hex):  # contiguous ranges in id order
        n = -(-4655 * table[0][i] // total)
        assert a[i] == list(range(offset, offset + n))
        offset += n
    assert offset <= 4655 + len(ids) <= V0.num_chunks
    # any operators holding >= 1024/4655 (~22%) of the stake hold >= 1024 distinct chunks: enough to decode
    merged = assignments_for_blob(table, V0, [0])
    for i, idx in merged.items():
        assert len(idx) == min(len(a[i]), 1024) and len(set(idx)) == len(idx)
    order = sorted(ids, key=lambda i: -table[0][i])
    held, stake = set(), 0
    for i in order:
        held |= set(merged[i])
        stake += table[0][i]
        if stake * 4655 >= 1024 * total:
            assert len(held) >= 1024
            break


def test_two_quorums_worked_example():
    # numChunks 16, maxNumOperators 4 (12 effective), coding rate 2 (cap 8)
    p = BlobParams(16, 4, 2)
    stakes = {0: {op(1): 1, op(2): 3}, 1: {op(1): 3, op(2): 1}}
    first = assignments_for_quorum(stakes, p, 0)
    assert first == {op(1): [0, 1, 2], op(2): list(range(3, 12))}
    second = add_assignments_for_quorum(first, stakes, p, 1)
    # A keeps its 3, then takes 9 more of the available [0..5, 12..15] (upstream appends the full count)
    assert second[op(2)] == [3, 4, 5]
    assert second[op(1)] == [0, 1, 2, 0, 1, 2, 3, 4, 5, 12, 13, 14]
    merged = assignments_for_blob(stakes, p, [1, 0])
    assert merged == {op(1): [0, 1, 2, 3, 4, 5, 12, 13], op(2): list(range(3, 11))}


def test_operator_only_in_a_later_quorum():
    stakes = {0: {op(1): 1}, 1: {op(1): 1, op(2): 1}}
    merged = assignments_for_blob(stakes, V0, [0, 1])
    assert len(merged[op(1)]) == 1024 and len(merged[op(2)]) == 1024


def test_bad_input_is_typed():
    with pytest.raises(AssignmentError):
        assignments_for_quorum({0: {}}, V0, 0)
    with pytest.raises(AssignmentError):
        assignments_for_quorum({0: {op(1): 0}}, V0, 0)
    with pytest.raises(AssignmentError):
        assignments_for_quorum({0: {b"short": 1}}, V0, 0)
    with pytest.raises(AssignmentError):
        assignments_for_quorum({0: {op(1): -1}}, V0, 0)
    with pytest.raises(AssignmentError):
        assignments_for_quorum({0: {op(i): 1 for i in range(5)}}, BlobParams(16, 4, 2), 0)
    with pytest.raises(AssignmentError):
        assignments_for_blob({0: {op(1): 1}}, V0, [0, 0])
    with pytest.raises(AssignmentError):
        assignments_for_blob({0: {op(1): 1}}, V0, [0, 1])
    with pytest.raises(AssignmentError):
        BlobParams(16, 16, 2)


def test_chunk_length():
    assert [chunk_length(n, V0) for n in (1, 1024, 4096, 524288)] == [1, 1, 4, 512]
    for bad in (0, 3, -4):
        with pytest.raises(AssignmentError):
            chunk_length(bad, V0)
