"""Helpers the demo steps share: amounts, events, and operators joining an AVS's operator set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_keys import keys

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.chain.compute_avs import registration_data


def fmt(x: int) -> str:
    """A WAD-scaled amount with four decimals."""
    return f"{x / WAD:,.4f}"


def event(receipt: Any, name: str) -> Any:
    """The first `name` event of a transaction."""
    return [e for e in receipt.events if e.event_name == name][0]


def join_set(
    demo: Any,
    avs: str,
    set_id: int,
    ops: Sequence[Any],
    signing: Mapping[str, keys.PrivateKey],
    amount: int,
    allocation_delay: int,
) -> list[list[int]]:
    """Each operator (registered first if it is not, with `allocation_delay`) restakes `amount` of the
    demo's first token, consents to redistribution, joins (avs, set_id) with its signing key and
    allocates half its free magnitude; the chain is mined until the allocations are effective.
    Returns each operator's allocated stake per strategy."""
    from ape import chain

    am, dm, sm = demo.am, demo.dm, demo.sm
    strategies = [demo.strat(s) for s in demo.syms]
    sym0 = demo.syms[0]
    token = demo.d.tokens[sym0]
    for op in ops:
        if not dm.isOperator(op):
            dm.registerAsOperator(
                ZERO_ADDRESS, allocation_delay, "https://operator.example/metadata.json", sender=op
            )
        token.mint(op, amount, sender=op)
        token.approve(sm, amount, sender=op)
        sm.depositIntoStrategy(demo.strat(sym0), token, amount, sender=op)
        am.setRedistributionConsent(op, (avs, set_id), True, sender=op)
        data = registration_data(chain.chain_id, avs, op.address, signing[op.address])
        am.registerForOperatorSets(op, (avs, [set_id], data), sender=op)
        mags = [am.getAllocatableMagnitude(op, s) // 2 for s in strategies]
        am.modifyAllocations(op, [((avs, set_id), strategies, mags, [0] * len(strategies))], sender=op)
    chain.mine(max(am.getAllocationDelay(op)[1] for op in ops) + 1)
    return am.getAllocatedStake((avs, set_id), ops, strategies)
