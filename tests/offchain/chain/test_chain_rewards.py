"""offchain.chain.rewards.published_tree: the watcher reads a root's published distribution from
``DIR/0x<root>.json`` and refuses a file that holds another root's."""

from __future__ import annotations

import json

import pytest

from offchain.chain.errors import ChainInputError
from offchain.chain.rewards import published_tree
from offchain.rewards.errors import RewardsInputError
from offchain.rewards.merkle import DistributionTree

A, B, T = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "01" * 20


def test_published_tree_is_found_by_root_and_checked(tmp_path):
    good, other = {A: {T: 5}}, {B: {T: 6}}
    root = DistributionTree(good).root
    assert published_tree(tmp_path, root) is None
    f = tmp_path / f"0x{root.hex()}.json"
    f.write_text(json.dumps(good))
    assert published_tree(tmp_path, root).earnings == {A: {T: 5}}
    f.write_text(json.dumps(other))
    with pytest.raises(ChainInputError, match="not of its name"):
        published_tree(tmp_path, root)
    f.write_text("{nope")
    with pytest.raises(RewardsInputError):
        published_tree(tmp_path, root)
