"""Small helpers shared by the contract unit tests: addresses, events, blocks, rounding."""

from __future__ import annotations

from eth_utils import to_checksum_address


def A(x):
    """Checksummed address of an account, contract or hex string."""
    return to_checksum_address(x.address if hasattr(x, "address") else x)


def evs(receipt, name, contract=None):
    """Events named `name` in `receipt`, optionally only those emitted by `contract`."""
    return [
        e
        for e in receipt.events
        if e.event_name == name and (contract is None or A(e.contract_address) == A(contract))
    ]


def one(receipt, name, contract=None):
    """The single event named `name` (asserts there is exactly one)."""
    found = evs(receipt, name, contract)
    assert len(found) == 1, f"expected one {name}, got {len(found)}"
    return found[0]


def head(w):
    return w.chain.blocks.head.number


def mine_to(w, blk):
    """Mine so that the next transaction is included in block `blk`."""
    n = blk - 1 - head(w)
    assert n >= 0, f"block {blk} already passed (head {head(w)})"
    if n:
        w.chain.mine(n)


def oset(x):
    """Normalise an OperatorSet from an event or call to (checksum-insensitive avs, id)."""
    return (str(x[0]).lower(), int(x[1]))


def ceil_div(a, b):
    return -(-a // b)
