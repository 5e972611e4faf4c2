"""offchain.rewards.merkle: EigenLayer's distribution tree byte for byte (its published claim
vectors verify, and their token trees rebuild to the same roots and proofs), claims round-trip
through the vector format, and every bad input is a typed error."""

from __future__ import annotations

import json

import pytest
from eth_hash.auto import keccak

from offchain import settings
from offchain.errors import EigenError
from offchain.rewards.errors import ProofError, RewardsInputError
from offchain.rewards.merkle import (
    Claim,
    DistributionTree,
    earner_leaf_hash,
    process_proof,
    token_leaf_hash,
    tree_levels,
)

VECTORS = settings.shared_dir() / "vectors" / "rewards"
FILES = sorted(VECTORS.glob("*.json")) if VECTORS.is_dir() else []
A, B, C = ("0x" + c * 40 for c in "abc")
T1, T2 = "0x" + "01" * 20, "0x" + "02" * 20


def need_vectors():
    if not FILES:
        pytest.skip(f"EigenLayer's claim vectors are not here ({VECTORS})")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_eigenlayer_vectors_verify(path):
    claim, root = Claim.from_json(path.read_text())
    claim.verify(root)
    # and the format round-trips
    again, root2 = Claim.from_json(json.dumps(claim.to_json(root)))
    assert again == claim and root2 == root


def test_token_trees_rebuild_to_the_vectors_roots_and_proofs():
    """Where a vector gives every token leaf (Root1-3: six tokens, padded to eight with zero words;
    SingleTokenLeaf and Preprod: one), the builder gives the same earner-token root and the same
    proof for each leaf: the padding and hashing are EigenLayer's."""
    need_vectors()
    rebuilt = 0
    for path in FILES:
        claim, _ = Claim.from_json(path.read_text())
        if sorted(claim.token_indices) != list(range(len(claim.token_leaves))):
            continue
        earnings = {claim.earner: {t.token: t.cumulative_earnings for t in claim.token_leaves}}
        tree = DistributionTree(earnings)
        assert tree.earner_token_root(claim.earner) == claim.earner_token_root, path.name
        mine = tree.claim(claim.earner)
        assert mine.token_tree_proofs == claim.token_tree_proofs and mine.token_indices == claim.token_indices
        rebuilt += 1
    assert rebuilt >= 5


def test_leaf_encodings_are_salted():
    r = b"\x33" * 32
    assert earner_leaf_hash(A, r) == keccak(b"\x00" + bytes.fromhex(A[2:]) + r)
    assert token_leaf_hash(T1, 5) == keccak(b"\x01" + bytes.fromhex(T1[2:]) + (5).to_bytes(32, "big"))


def test_tree_shapes_and_proofs():
    leaves = [keccak(bytes([i])) for i in range(5)]
    levels = tree_levels(leaves)
    assert [len(x) for x in levels] == [8, 4, 2, 1] and levels[0][5:] == [b"\x00" * 32] * 3
    assert tree_levels(leaves[:1])[-1][0] == leaves[0]  # one leaf: its own root
    t = DistributionTree({B: {T2: 2, T1: 1}, A: {T1: 10}, C: {T2: 3}})
    assert t.earners == [A, B, C]
    for e in t.earners:
        c = t.claim(e)
        c.verify(t.root)
        assert [x.token for x in c.token_leaves] == sorted(t.earnings[e])
    partial = t.claim(B, [T2], root_index=4)
    assert partial.token_indices == (1,) and partial.root_index == 4
    partial.verify(t.root)


def test_wrong_proofs_are_proof_errors():
    t = DistributionTree({A: {T1: 10, T2: 4}, B: {T1: 1}})
    c = t.claim(A)
    with pytest.raises(ProofError, match="not in the tree"):
        Claim(
            **{**c.__dict__, "token_leaves": (c.token_leaves[0].__class__(T1, 11), c.token_leaves[1])}
        ).verify(t.root)
    with pytest.raises(ProofError, match="too large"):
        Claim(**{**c.__dict__, "earner_index": 2}).verify(t.root)
    with pytest.raises(ProofError, match="not in the tree"):
        c.verify(b"\x01" * 32)
    with pytest.raises(ProofError, match="multiple of 32"):
        process_proof(b"\x00" * 31, b"\x00" * 32, 0)
    with pytest.raises(ProofError, match="does not fit"):
        process_proof(b"\x00" * 32, b"\x00" * 32, 2)
    with pytest.raises(ProofError, match="not in this distribution"):
        t.claim(C)
    with pytest.raises(ProofError, match="no earnings in token"):
        t.claim(B, [T2])


@pytest.mark.parametrize(
    "earnings, match",
    [
        ({}, "non-empty"),
        ([], "non-empty"),
        ({"0x12": {T1: 1}}, "bad address"),
        ({A: {}}, "non-empty object"),
        ({A: {T1: 0}}, "outside"),
        ({A: {T1: -1}}, "outside"),
        ({A: {T1: 2**256}}, "outside"),
        ({A: {T1: "ten"}}, "not an integer"),
        ({A: {T1: 1.5}}, "not an integer"),
        ({A: {T1: True}}, "not an integer"),
        ({A: {B: 1, "0x" + B[2:].upper(): 2}}, "appears twice"),
        ({A: {T1: 1}, "0x" + A[2:].upper(): {T1: 2}}, "appears twice"),
        ("{not json", "not JSON"),
        ("[" * 300 + "]" * 300, "nest"),
    ],
)
def test_bad_distributions_are_typed_errors(earnings, match):
    with pytest.raises(RewardsInputError, match=match) as e:
        DistributionTree(earnings)
    assert isinstance(e.value, EigenError)


def test_amounts_may_be_strings():
    t = DistributionTree({A: {T1: "1000", T2: "0x10"}})
    assert t.earnings[A] == {T1: 1000, T2: 16}


def test_bad_claims_are_typed_errors():
    t = DistributionTree({A: {T1: 10}})
    good = t.claim(A).to_json(t.root)
    for change, match in [
        ({"EarnerIndex": -1}, "uint32"),
        ({"EarnerTreeProof": "zz"}, "0x-prefixed"),
        ({"EarnerLeaf": {"Earner": A, "EarnerTokenRoot": "0x12"}}, "32 bytes"),
        ({"LeafIndices": [0, 1]}, "differ in length"),
        ({"TokenLeaves": "x"}, "must be lists"),
        ({"EarnerLeaf": []}, "must be an object"),
    ]:
        with pytest.raises(RewardsInputError, match=match):
            Claim.from_json({**good, **change})
    bad = dict(good)
    del bad["EarnerIndex"]
    with pytest.raises(RewardsInputError, match="lacks EarnerIndex"):
        Claim.from_json(bad)
    with pytest.raises(RewardsInputError, match="JSON object"):
        Claim.from_json("[1]")
    with pytest.raises(RewardsInputError, match="1 to 8 tokens"):
        t.claim(A, [])
    with pytest.raises(RewardsInputError, match="twice"):
        t.claim(A, [T1, T1])


def test_many_tokens_split_into_claims_of_eight():
    tokens = {f"0x{i + 1:040x}": i + 1 for i in range(19)}
    t = DistributionTree({A: tokens})
    with pytest.raises(RewardsInputError, match="1 to 8 tokens"):
        t.claim(A)
    parts = t.claims(A, root_index=3)
    assert [len(c.token_leaves) for c in parts] == [8, 8, 3] and all(c.root_index == 3 for c in parts)
    for c in parts:
        c.verify(t.root)
    assert sorted(x.token for c in parts for x in c.token_leaves) == sorted(tokens)


def _lookup_holds(root: bytes, salt: bytes, key: str, q: tuple) -> tuple[bool, bytes]:
    """RewardsRootChallenger._lookup in Python: (present, value) or an AssertionError."""
    has_lo, lo, has_hi, hi = q

    def leaf_root(leaf):
        index, proof, k, value, padding = leaf
        assert index < 1 << (len(proof) // 32)
        h = b"\0" * 32 if padding else keccak(salt + bytes.fromhex(k[2:]) + value)
        return process_proof(proof, h, index)

    if has_lo:
        assert leaf_root(lo) == root and not lo[4]
        if lo[2].lower() == key:
            return True, lo[3]
        assert int(lo[2], 16) < int(key, 16)
    if has_hi:
        assert leaf_root(hi) == root and hi[0] == (lo[0] + 1 if has_lo else 0)
        assert hi[4] or int(key, 16) < int(hi[2], 16)
    else:
        assert has_lo and lo[0] + 1 == 1 << (len(lo[1]) // 32)
    return False, b""


@pytest.mark.parametrize("n", [1, 3, 4])
def test_amount_proofs_show_presence_and_absence_as_the_challenger_checks(n):
    earners = ["0x" + f"{(i + 1) * 0x20:040x}" for i in range(n)]  # 0x...20, 0x...40, ...
    tree = DistributionTree({e: {T1: 100 + i, T2: 7} for i, e in enumerate(earners)})
    probes = earners + ["0x" + f"{k:040x}" for k in (0x01, 0x30, 0xFFFF)]
    for e in probes:
        for t in (T1, T2, "0x" + "03" * 20, "0x" + "00" * 19 + "01"):
            eq, tq = tree.amount_proof(e, t)
            found, token_root = _lookup_holds(tree.root, b"\x00", e, eq)
            assert found == (e in earners)
            amount = 0
            if found:
                assert token_root == tree.earner_token_root(e)
                tfound, value = _lookup_holds(token_root, b"\x01", t, tq)
                amount = int.from_bytes(value, "big") if tfound else 0
            assert amount == tree.amount(e, t)
    with pytest.raises(RewardsInputError):
        tree.amount_proof("0x1234", T1)
