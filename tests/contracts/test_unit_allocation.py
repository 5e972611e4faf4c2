"""Unit tests for AllocationManager: every external function, every revert reason, events and
block-exact delays. Expected values are recomputed here from the documented formulas
(ceil-rounded slashed magnitude, shares * magnitude // maxMagnitude, sf' = sf * m' // m).

Block arithmetic: every transaction (also a reverting one) is mined in block head + 1, and a
view call sees block.number == head; `mine_to(w, b)` makes the next transaction land in block b.
"""

import json
import subprocess
import sys
from pathlib import Path

import ape
import pytest
from eth_utils import function_signature_to_4byte_selector

from tests.contracts.support import (
    BURN,
    NO_SIG,
    SALT0,
    TEST_CONFIG,
    WAD,
    ZERO,
    A,
    Batch,
    ceil_div,
    evs,
    head,
    mine_to,
    oset,
)

DD = TEST_CONFIG.deallocation_delay_blocks  # 20
ACD = TEST_CONFIG.allocation_configuration_delay_blocks  # 25
DEP_A = 1000 * WAD + 7  # odd amounts make every floor/ceil visible
DEP_B = 300 * WAD + 3
OP_DELAY = 4


# ---------------------------------------------------------------- helpers


def view_at(w, blk):
    """Mine so that view calls see block.number == blk."""
    n = blk - head(w)
    assert n >= 0
    if n:
        w.chain.mine(n)


def ops(w, set_id=1, avs=None):
    return ((avs or w.avs).address.lower(), set_id)


def alloc(w, set_id=1, sym="TKA", op=None):
    a = w.am.getAllocation(op or w.op, w.opset(set_id), w.strats[sym])
    return (a.currentMagnitude, a.pendingDiff, a.effectBlock)


def modify(w, set_id, mags, expected, op=None, avs=None):
    """modifyAllocations for one set: mags/expected are {sym: magnitude}."""
    op = op or w.op
    syms = list(mags)
    p = (
        ((avs or w.avs).address, set_id),
        [w.strats[s] for s in syms],
        [mags[s] for s in syms],
        [expected[s] for s in syms],
    )
    return w.am.modifyAllocations(op, [p], sender=op)


def sa(w):
    return w.strats["TKA"]


def sb(w):
    return w.strats["TKB"]


@pytest.fixture
def base(w):
    """Operator (allocation delay OP_DELAY) with one delegated staker (TKA, TKB), burning sets 1
    and 2 holding TKA and TKB, operator registered for both."""
    w.register_operator(w.op, delay=OP_DELAY)
    w.deposit(w.staker, "TKA", DEP_A)
    w.deposit(w.staker, "TKB", DEP_B)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.create_sets(ids=(1, 2), syms=("TKA", "TKB"))
    w.register_for_sets(w.op, (1, 2))
    return w


@pytest.fixture
def live(base):
    """`base` plus an effective allocation of 0.4 WAD (TKA) and 0.3 WAD (TKB) to set 1 and
    0.25 WAD (TKA) to set 2."""
    w = base
    modify(w, 1, {"TKA": 4 * WAD // 10, "TKB": 3 * WAD // 10}, {"TKA": 0, "TKB": 0})
    modify(w, 2, {"TKA": WAD // 4}, {"TKA": 0})
    w.chain.mine(OP_DELAY)
    return w


# ---------------------------------------------------------------- constructor


def test_immutables(w):
    assert w.am.DEALLOCATION_DELAY() == DD
    assert w.am.ALLOCATION_CONFIGURATION_DELAY() == ACD
    assert w.am.delegation() == w.dm.address
    assert w.am.strategyManager() == w.sm.address


# ---------------------------------------------------------------- AVS metadata and registrar


def test_update_avs_metadata_uri(w):
    with ape.reverts("only avs"):
        w.am.updateAVSMetadataURI(w.avs, "x", sender=w.other)
    assert not w.am.avsRegisteredMetadata(w.avs)
    r = w.am.updateAVSMetadataURI(w.avs, "ipfs://meta", sender=w.avs)
    (e,) = evs(r, "AVSMetadataURIUpdated")
    assert e.avs == w.avs.address and e.metadataURI == "ipfs://meta"
    assert w.am.avsRegisteredMetadata(w.avs)
    assert not w.am.avsRegisteredMetadata(w.avs2)


def test_set_avs_registrar(w, project):
    good = w.owner.deploy(project.MockAVSRegistrar, w.avs)
    wrong = w.owner.deploy(project.MockAVSRegistrar, w.avs2)
    with ape.reverts("only avs"):
        w.am.setAVSRegistrar(w.avs, good, sender=w.other)
    with ape.reverts("invalid avs registrar"):
        w.am.setAVSRegistrar(w.avs, wrong, sender=w.avs)
    assert w.am.getAVSRegistrar(w.avs) == ZERO
    r = w.am.setAVSRegistrar(w.avs, good, sender=w.avs)
    (e,) = evs(r, "AVSRegistrarSet")
    assert e.avs == w.avs.address and e.registrar == good.address
    assert w.am.getAVSRegistrar(w.avs) == good.address
    # zero clears it without a supportsAVS check
    r = w.am.setAVSRegistrar(w.avs, ZERO, sender=w.avs)
    assert evs(r, "AVSRegistrarSet")[0].registrar == ZERO
    assert w.am.getAVSRegistrar(w.avs) == ZERO


def test_registrar_callbacks_and_rejection(w, project):
    reg = w.owner.deploy(project.MockAVSRegistrar, w.avs)
    w.register_operator(w.op)
    w.create_sets(ids=(1, 2))
    w.am.setAVSRegistrar(w.avs, reg, sender=w.avs)
    reg.setReject(True, sender=w.owner)
    with ape.reverts("registrar rejected"):
        w.register_for_sets(w.op, (1, 2), data=b"hello")
    # the rejection rolled back the whole registration
    assert not w.am.isMemberOfOperatorSet(w.op, w.opset(1))
    assert w.am.getMemberCount(w.opset(1)) == 0
    assert reg.registrations() == 0
    reg.setReject(False, sender=w.owner)
    w.register_for_sets(w.op, (1, 2), data=b"hello")
    assert reg.registrations() == 1 and reg.lastOperator() == w.op.address
    assert w.am.isMemberOfOperatorSet(w.op, w.opset(2))
    # deregistration by the AVS also calls back
    w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.avs)
    assert reg.deregistrations() == 1 and reg.lastOperator() == w.op.address


# ---------------------------------------------------------------- operator sets


def test_create_sets_requires_metadata_and_avs(w):
    p = [(1, [sa(w)], ZERO)]
    with ape.reverts("avs metadata not registered"):
        w.am.createOperatorSets(w.avs, p, sender=w.avs)
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    with ape.reverts("only avs"):
        w.am.createOperatorSets(w.avs, p, sender=w.other)
    with ape.reverts("only avs"):
        w.am.createRedistributingOperatorSets(w.avs, p, [w.recipient], sender=w.other)


def test_create_burning_sets(w):
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    r = w.am.createOperatorSets(
        w.avs, [(1, [sa(w), sb(w)], ZERO), (7, [sb(w)], w.other)], [ZERO, w.resolver], sender=w.avs
    )
    created = evs(r, "OperatorSetCreated")
    assert [(oset(e.operatorSet), e.slasher, e.resolver) for e in created] == [
        (ops(w, 1), w.avs.address, ZERO),
        (ops(w, 7), w.other.address, w.resolver.address),
    ]
    assert [(oset(e.operatorSet), e.redistributionRecipient) for e in evs(r, "RedistributionAddressSet")] == [
        (ops(w, 1), BURN),
        (ops(w, 7), BURN),
    ]
    assert [(oset(e.operatorSet), e.strategy) for e in evs(r, "StrategyAddedToOperatorSet")] == [
        (ops(w, 1), sa(w).address),
        (ops(w, 1), sb(w).address),
        (ops(w, 7), sb(w).address),
    ]
    assert w.am.getOperatorSetCount(w.avs) == 2
    assert w.am.isOperatorSet(w.opset(1)) and w.am.isOperatorSet(w.opset(7))
    assert not w.am.isOperatorSet(w.opset(2))
    assert not w.am.isOperatorSet((w.avs2.address, 1))
    assert list(w.am.getStrategiesInOperatorSet(w.opset(1))) == [sa(w).address, sb(w).address]
    assert w.am.getRedistributionRecipient(w.opset(1)) == BURN
    assert not w.am.isRedistributingOperatorSet(w.opset(1))
    assert w.am.getSlasher(w.opset(1)) == w.avs.address
    assert w.am.getSlasher(w.opset(7)) == w.other.address
    assert w.am.getResolver(w.opset(1)) == ZERO
    assert w.am.getResolver(w.opset(7)) == w.resolver.address
    assert w.am.getSlashCount(w.opset(7)) == 0
    assert w.am.getMemberCount(w.opset(7)) == 0


def test_create_set_reverts(w):
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    with ape.reverts("operator set exists"):
        w.am.createOperatorSets(w.avs, [(1, [], ZERO), (1, [], ZERO)], sender=w.avs)
    with ape.reverts("not a strategy"):
        w.am.createOperatorSets(w.avs, [(1, [w.tokens["TKA"]], ZERO)], sender=w.avs)
    with ape.reverts("strategy already in set"):
        w.am.createOperatorSets(w.avs, [(1, [sa(w), sa(w)], ZERO)], sender=w.avs)
    w.am.createOperatorSets(w.avs, [(1, [], ZERO)], sender=w.avs)
    with ape.reverts("operator set exists"):
        w.am.createOperatorSets(w.avs, [(1, [sa(w)], ZERO)], sender=w.avs)
    with ape.reverts("operator set exists"):
        w.am.createRedistributingOperatorSets(w.avs, [(1, [], ZERO)], [w.recipient], sender=w.avs)
    # a set id is per AVS: avs2 may use id 1 once it registered metadata
    w.am.updateAVSMetadataURI(w.avs2, "m2", sender=w.avs2)
    w.am.createOperatorSets(w.avs2, [(1, [], ZERO)], sender=w.avs2)
    assert w.am.getOperatorSetCount(w.avs) == 1 and w.am.getOperatorSetCount(w.avs2) == 1


def test_create_redistributing_sets(w):
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    p = [(1, [sa(w)], ZERO), (2, [sb(w)], ZERO)]
    res = [w.resolver, ZERO]
    with ape.reverts("input length mismatch"):
        w.am.createRedistributingOperatorSets(w.avs, p, [w.recipient], res, sender=w.avs)
    with ape.reverts("input length mismatch"):  # one resolver per set, or none
        w.am.createRedistributingOperatorSets(w.avs, p, [w.recipient, w.other], [w.resolver], sender=w.avs)
    with ape.reverts("invalid redistribution recipient"):
        w.am.createRedistributingOperatorSets(w.avs, p, [w.recipient, ZERO], res, sender=w.avs)
    with ape.reverts("invalid redistribution recipient"):
        w.am.createRedistributingOperatorSets(w.avs, p, [BURN, w.recipient], res, sender=w.avs)
    r = w.am.createRedistributingOperatorSets(w.avs, p, [w.recipient, w.other], res, sender=w.avs)
    assert [(oset(e.operatorSet), e.redistributionRecipient) for e in evs(r, "RedistributionAddressSet")] == [
        (ops(w, 1), w.recipient.address),
        (ops(w, 2), w.other.address),
    ]
    assert [(oset(e.operatorSet), e.slasher, e.resolver) for e in evs(r, "OperatorSetCreated")] == [
        (ops(w, 1), w.avs.address, w.resolver.address),
        (ops(w, 2), w.avs.address, ZERO),
    ]
    assert w.am.getRedistributionRecipient(w.opset(1)) == w.recipient.address
    assert w.am.getRedistributionRecipient(w.opset(2)) == w.other.address
    assert w.am.isRedistributingOperatorSet(w.opset(1))
    assert w.am.getOperatorSetCount(w.avs) == 2
    # views on a set that does not exist
    assert not w.am.isRedistributingOperatorSet(w.opset(3))
    with ape.reverts("invalid operator set"):
        w.am.getRedistributionRecipient(w.opset(3))


def test_too_many_strategies(w, project):
    # 33 strategies: 32 fit in a set, the 33rd is refused
    strategies = list(w.sorted_strats)
    for i in range(33 - len(strategies)):
        tok = w.owner.deploy(project.MockERC20, f"T{i}", f"T{i}")
        rc = w.sm.deployNewStrategy(tok, sender=w.owner)
        strategies.append(rc.return_value or w.sm.deployedStrategies(tok))
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    w.am.createOperatorSets(w.avs, [(1, strategies[:32], ZERO)], sender=w.avs)
    assert len(w.am.getStrategiesInOperatorSet(w.opset(1))) == 32
    with ape.reverts("too many strategies"):
        w.am.addStrategiesToOperatorSet(w.avs, 1, [strategies[32]], sender=w.avs)


# ---------------------------------------------------------------- strategies in sets


def test_add_strategies(w):
    w.create_sets(ids=(1,), syms=("TKA",))
    tkc = w.strats["TKC"]
    with ape.reverts("only avs"):
        w.am.addStrategiesToOperatorSet(w.avs, 1, [tkc], sender=w.other)
    with ape.reverts("invalid operator set"):
        w.am.addStrategiesToOperatorSet(w.avs, 9, [tkc], sender=w.avs)
    with ape.reverts("not a strategy"):
        w.am.addStrategiesToOperatorSet(w.avs, 1, [w.other], sender=w.avs)
    with ape.reverts("strategy already in set"):
        w.am.addStrategiesToOperatorSet(w.avs, 1, [tkc, sa(w)], sender=w.avs)
    r = w.am.addStrategiesToOperatorSet(w.avs, 1, [tkc, sb(w)], sender=w.avs)
    assert [(oset(e.operatorSet), e.strategy) for e in evs(r, "StrategyAddedToOperatorSet")] == [
        (ops(w, 1), tkc.address),
        (ops(w, 1), sb(w).address),
    ]
    assert list(w.am.getStrategiesInOperatorSet(w.opset(1))) == [sa(w).address, tkc.address, sb(w).address]


def test_remove_strategies(w):
    w.create_sets(ids=(1,), syms=("TKA", "TKB", "TKC"))
    tkc = w.strats["TKC"]
    with ape.reverts("only avs"):
        w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sa(w)], sender=w.other)
    with ape.reverts("invalid operator set"):
        w.am.removeStrategiesFromOperatorSet(w.avs, 9, [sa(w)], sender=w.avs)
    with ape.reverts("strategy not in set"):
        w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sa(w), sa(w)], sender=w.avs)
    r = w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sa(w)], sender=w.avs)
    (e,) = evs(r, "StrategyRemovedFromOperatorSet")
    assert oset(e.operatorSet) == ops(w, 1) and e.strategy == sa(w).address
    # swap-and-pop: the last strategy takes the removed one's place
    assert list(w.am.getStrategiesInOperatorSet(w.opset(1))) == [tkc.address, sb(w).address]
    w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sb(w), tkc], sender=w.avs)
    assert list(w.am.getStrategiesInOperatorSet(w.opset(1))) == []
    # and it can be added again
    w.am.addStrategiesToOperatorSet(w.avs, 1, [sa(w)], sender=w.avs)
    assert list(w.am.getStrategiesInOperatorSet(w.opset(1))) == [sa(w).address]


# ---------------------------------------------------------------- consent and registration


def test_redistribution_consent(w):
    w.register_operator(w.op)
    w.create_sets(ids=(1,), redistributing=True)
    with ape.reverts("only operator"):
        w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.other)
    with ape.reverts("invalid operator set"):
        w.am.setRedistributionConsent(w.op, w.opset(2), True, sender=w.op)
    with ape.reverts("redistribution not accepted"):
        w.register_for_sets(w.op, (1,))
    r = w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    (e,) = evs(r, "RedistributionConsentSet")
    assert e.operator == w.op.address and oset(e.operatorSet) == ops(w, 1) and bool(e.accepted) is True
    assert w.am.getRedistributionConsent(w.op, w.opset(1))
    # withdrawn consent blocks registration again
    r = w.am.setRedistributionConsent(w.op, w.opset(1), False, sender=w.op)
    assert bool(evs(r, "RedistributionConsentSet")[0].accepted) is False
    assert not w.am.getRedistributionConsent(w.op, w.opset(1))
    with ape.reverts("redistribution not accepted"):
        w.register_for_sets(w.op, (1,))
    w.am.setRedistributionConsent(w.op, w.opset(1), True, sender=w.op)
    w.register_for_sets(w.op, (1,))
    assert w.am.isMemberOfOperatorSet(w.op, w.opset(1))
    # consent is per operator
    assert not w.am.getRedistributionConsent(w.op2, w.opset(1))


def test_register_reverts(w):
    w.register_operator(w.op)
    w.create_sets(ids=(1, 2))
    with ape.reverts("only operator"):
        w.am.registerForOperatorSets(w.op, (w.avs, [1], b""), sender=w.other)
    with ape.reverts("not an operator"):
        w.am.registerForOperatorSets(w.other, (w.avs, [1], b""), sender=w.other)
    with ape.reverts("invalid operator set"):
        w.register_for_sets(w.op, (1, 3))
    with ape.reverts("already registered or still slashable"):
        w.register_for_sets(w.op, (2, 2))
    w.register_for_sets(w.op, (1,))
    with ape.reverts("already registered or still slashable"):
        w.register_for_sets(w.op, (2, 1))


def test_register_and_views(w):
    w.register_operator(w.op)
    w.register_operator(w.op2)
    w.create_sets(ids=(1, 2))
    r = w.register_for_sets(w.op, (1, 2))
    assert [(e.operator, oset(e.operatorSet)) for e in evs(r, "OperatorAddedToOperatorSet")] == [
        (w.op.address, ops(w, 1)),
        (w.op.address, ops(w, 2)),
    ]
    w.register_for_sets(w.op2, (2,))
    assert w.am.getMemberCount(w.opset(1)) == 1
    assert w.am.getMemberCount(w.opset(2)) == 2
    assert w.am.isMemberOfOperatorSet(w.op, w.opset(1))
    assert not w.am.isMemberOfOperatorSet(w.op2, w.opset(1))
    assert w.am.isOperatorSlashable(w.op, w.opset(1))
    assert not w.am.isOperatorSlashable(w.op2, w.opset(1))
    assert tuple(w.am.getRegistrationStatus(w.op, w.opset(1))) == (True, 0)
    assert tuple(w.am.getRegistrationStatus(w.op2, w.opset(1))) == (False, 0)


def test_members_enumerable_and_paged(w):
    """getMembers (EigenLayer's) lists exactly the registered operators; a deregistration moves
    the last member into the leaver's place; the paged variant returns [start, start + length)."""
    ops_ = [w.op, w.op2, w.other, w.resolver, w.recipient]
    for o in ops_:
        w.register_operator(o)
    w.create_sets(ids=(1, 2))
    for o in ops_:
        w.register_for_sets(o, (1,))

    def members(set_id=1, *page):
        return [A(x) for x in w.am.getMembers(w.opset(set_id), *page)]

    assert members() == [A(o) for o in ops_] and members(2) == []
    assert members(1, 1, 2) == [A(w.op2), A(w.other)]
    assert members(1, 3, 10) == [A(w.resolver), A(w.recipient)]
    assert members(1, 5, 1) == [] and members(1, 2**255, 1024) == [] and members(1, 0, 0) == []
    with ape.reverts("page too long"):
        w.am.getMembers(w.opset(1), 0, 1025)
    # the leaver's place is taken by the last member; the others keep theirs
    w.am.deregisterFromOperatorSets((w.op2, w.avs, [1]), sender=w.op2)
    assert members() == [A(w.op), A(w.recipient), A(w.other), A(w.resolver)]
    w.am.deregisterFromOperatorSets((w.resolver, w.avs, [1]), sender=w.avs)  # the last one
    assert members() == [A(w.op), A(w.recipient), A(w.other)]
    assert tuple(w.am.getRegistrationStatus(w.recipient, w.opset(1))) == (True, 0)
    w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
    assert members() == [A(w.other), A(w.recipient)]
    mine_to(w, head(w) + DD + 1)
    w.register_for_sets(w.op2, (1,))
    assert members() == [A(w.other), A(w.recipient), A(w.op2)]
    assert w.am.getMemberCount(w.opset(1)) == 3
    for o in ops_:
        assert w.am.isMemberOfOperatorSet(o, w.opset(1)) == (A(o) in members())
    for o in (w.other, w.recipient, w.op2):
        w.am.deregisterFromOperatorSets((o, w.avs, [1]), sender=o)
    assert members() == [] and w.am.getMemberCount(w.opset(1)) == 0


def test_eigenlayer_selectors_exist(w):
    """The EigenLayer core selectors a client calls are in the ABIs, with EigenLayer's types."""
    sel = function_signature_to_4byte_selector

    def selectors(c):
        return {
            sel(f"{a.name}({','.join(i.canonical_type for i in a.inputs)})")
            for a in c.contract_type.abi
            if a.type == "function"
        }

    am, dm, sm = selectors(w.am), selectors(w.dm), selectors(w.sm)
    for sig in (
        "createOperatorSets(address,(uint32,address[],address)[])",
        "createRedistributingOperatorSets(address,(uint32,address[],address)[],address[])",
        "getMembers((address,uint32))",
        "getMemberCount((address,uint32))",
        "getRedistributionRecipient((address,uint32))",
        "isRedistributingOperatorSet((address,uint32))",
        "slashOperator(address,(address,uint32,address[],uint256[],string))",
        "registerForOperatorSets(address,(address,uint32[],bytes))",
        "deregisterFromOperatorSets((address,address,uint32[]))",
        "getAllocatedStake((address,uint32),address[],address[])",
        "getMinimumSlashableStake((address,uint32),address[],address[],uint32)",
        "updateSlasher((address,uint32),address)",
        "getSlasher((address,uint32))",
        "getPendingSlasher((address,uint32))",
        "getAllocatedSets(address)",
        "getAllocatedStrategies(address,(address,uint32))",
        "getRegisteredSets(address)",
        "getMaxMagnitudesAtBlock(address,address[],uint32)",
    ):
        assert sel(sig) in am, sig
    for sig in (
        "queueWithdrawals((address[],uint256[],address)[])",
        "completeQueuedWithdrawal((address,address,address,uint256,uint32,address[],uint256[]),address[],bool)",
        "delegateTo(address,(bytes,uint256),bytes32)",
        "undelegate(address)",
    ):
        assert sel(sig) in dm, sig
    for sig in (
        "depositIntoStrategy(address,address,uint256)",
        "depositIntoStrategyWithSignature(address,address,uint256,address,uint256,bytes)",
        "nonces(address)",
    ):
        assert sel(sig) in sm, sig


def test_create_sets_with_eigenlayer_abi_have_no_resolver(w):
    w.am.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    w.am.createOperatorSets(w.avs, [(1, [sa(w)], ZERO)], sender=w.avs)
    w.am.createRedistributingOperatorSets(w.avs, [(2, [sb(w)], w.other)], [w.recipient], sender=w.avs)
    assert w.am.getResolver(w.opset(1)) == ZERO and w.am.getResolver(w.opset(2)) == ZERO
    assert w.am.getSlasher(w.opset(1)) == w.avs.address and w.am.getSlasher(w.opset(2)) == w.other.address
    assert w.am.getRedistributionRecipient(w.opset(2)) == w.recipient.address
    with ape.reverts("input length mismatch"):  # resolvers, when given, one per set
        w.am.createOperatorSets(w.avs, [(3, [], ZERO), (4, [], ZERO)], [ZERO], sender=w.avs)


def test_deregister_reverts(w):
    w.register_operator(w.op)
    w.create_sets(ids=(1, 2))
    w.register_for_sets(w.op, (1,))
    with ape.reverts("only operator or avs"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.other)
    with ape.reverts("invalid operator set"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [5]), sender=w.op)
    with ape.reverts("not registered"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [1, 2]), sender=w.op)
    with ape.reverts("not registered"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [1, 1]), sender=w.op)
    # the AVS of another set is not the AVS of this one
    with ape.reverts("only operator or avs"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.avs2)


def test_deregister_slashable_window_exact(w):
    w.register_operator(w.op)
    w.create_sets(ids=(1, 2))
    w.register_for_sets(w.op, (1, 2))
    r = w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
    until = r.block_number + DD
    (e,) = evs(r, "OperatorRemovedFromOperatorSet")
    assert e.operator == w.op.address and oset(e.operatorSet) == ops(w, 1)
    assert tuple(w.am.getRegistrationStatus(w.op, w.opset(1))) == (False, until)
    assert w.am.getMemberCount(w.opset(1)) == 0
    assert not w.am.isMemberOfOperatorSet(w.op, w.opset(1))
    with ape.reverts("not registered"):
        w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.avs)
    # re-registering in block `until` is still refused ...
    mine_to(w, until)
    with ape.reverts("already registered or still slashable"):
        w.register_for_sets(w.op, (1,))
    assert head(w) == until
    assert w.am.isOperatorSlashable(w.op, w.opset(1))  # inclusive
    # ... and allowed in block until + 1
    r = w.register_for_sets(w.op, (1,))
    assert r.block_number == until + 1
    assert tuple(w.am.getRegistrationStatus(w.op, w.opset(1))) == (True, 0)
    assert w.am.getMemberCount(w.opset(1)) == 1
    # deregistration by the AVS
    r = w.am.deregisterFromOperatorSets((w.op, w.avs, [1, 2]), sender=w.avs)
    assert len(evs(r, "OperatorRemovedFromOperatorSet")) == 2
    assert tuple(w.am.getRegistrationStatus(w.op, w.opset(2))) == (False, r.block_number + DD)


# ---------------------------------------------------------------- allocation delay


def test_allocation_delay_set_by_registration(w):
    assert tuple(w.am.getAllocationDelay(w.op)) == (False, 0)
    r = w.register_operator(w.op, delay=7)
    (e,) = evs(r, "AllocationDelaySet", w.am)
    assert e.operator == w.op.address and e.delay == 7 and e.effectBlock == r.block_number
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 7)


def test_set_allocation_delay_reverts(w):
    w.register_operator(w.op)
    with ape.reverts("only operator"):
        w.am.setAllocationDelay(w.op, 5, sender=w.other)
    with ape.reverts("not an operator"):
        w.am.setAllocationDelay(w.other, 5, sender=w.other)
    # modifyAllocations needs an initialised delay
    w.create_sets(ids=(1,))
    with ape.reverts("uninitialized allocation delay"):
        modify(w, 1, {"TKA": 1}, {"TKA": 0}, op=w.other)


def test_allocation_delay_configuration_delay_exact(w):
    w.register_operator(w.op, delay=7)
    r = w.am.setAllocationDelay(w.op, 3, sender=w.op)
    eff = r.block_number + ACD + 1
    (e,) = evs(r, "AllocationDelaySet")
    assert (e.operator, e.delay, e.effectBlock) == (w.op.address, 3, eff)
    view_at(w, eff - 1)
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 7)
    view_at(w, eff)
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 3)
    # a second change keeps the (now effective) current delay until its own effect block
    r = w.am.setAllocationDelay(w.op, 9, sender=w.op)
    eff2 = r.block_number + ACD + 1
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 3)
    # a replacement before the effect block overwrites the pending value
    r = w.am.setAllocationDelay(w.op, 11, sender=w.op)
    eff3 = r.block_number + ACD + 1
    view_at(w, eff2)
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 3)
    view_at(w, eff3)
    assert tuple(w.am.getAllocationDelay(w.op)) == (True, 11)


def test_new_allocation_uses_delay_effective_in_its_block(w):
    w.register_operator(w.op, delay=7)
    w.create_sets(ids=(1,))
    r = w.am.setAllocationDelay(w.op, 2, sender=w.op)
    eff = r.block_number + ACD + 1
    mine_to(w, eff - 1)
    r = modify(w, 1, {"TKA": 10}, {"TKA": 0})
    assert alloc(w)[2] == eff - 1 + 7
    r = modify(w, 1, {"TKB": 10}, {"TKB": 0})
    assert r.block_number == eff
    assert alloc(w, sym="TKB")[2] == eff + 2


# ---------------------------------------------------------------- modifyAllocations


def test_modify_allocations_reverts(base):
    w = base
    s = sa(w)
    with ape.reverts("only operator"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [1], [0])], sender=w.other)
    with ape.reverts("invalid operator set"):
        w.am.modifyAllocations(w.op, [(w.opset(9), [s], [1], [0])], sender=w.op)
    with ape.reverts("input length mismatch"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [1, 2], [0])], sender=w.op)
    with ape.reverts("input length mismatch"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [1], [0, 0])], sender=w.op)
    with ape.reverts("magnitude changed"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [5], [1])], sender=w.op)
    with ape.reverts("same magnitude"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [0], [0])], sender=w.op)
    with ape.reverts("insufficient magnitude"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [WAD + 1], [0])], sender=w.op)
    # the budget is shared by all sets (pending allocations count at once)
    w.am.modifyAllocations(w.op, [(w.opset(1), [s], [WAD - 5], [0])], sender=w.op)
    with ape.reverts("insufficient magnitude"):
        w.am.modifyAllocations(w.op, [(w.opset(2), [s], [6], [0])], sender=w.op)
    with ape.reverts("modification already pending"):
        w.am.modifyAllocations(w.op, [(w.opset(1), [s], [1], [0])], sender=w.op)
    # the same strategy twice in one call: the second entry sees the first as pending
    with ape.reverts("modification already pending"):
        w.am.modifyAllocations(w.op, [(w.opset(2), [s, s], [2, 3], [0, 2])], sender=w.op)
    w.am.modifyAllocations(w.op, [(w.opset(2), [s], [5], [0])], sender=w.op)
    assert w.am.getAllocatableMagnitude(w.op, s) == 0


def test_allocation_takes_effect_after_delay_exact(base):
    w = base
    mag = 4 * WAD // 10 + 1
    r = modify(w, 1, {"TKA": mag}, {"TKA": 0})
    eb = r.block_number + OP_DELAY
    (e,) = evs(r, "AllocationUpdated")
    assert (e.operator, oset(e.operatorSet), e.strategy, e.magnitude, e.effectBlock) == (
        w.op.address,
        ops(w, 1),
        sa(w).address,
        mag,
        eb,
    )
    (e,) = evs(r, "EncumberedMagnitudeUpdated")
    assert (e.operator, e.strategy, e.encumberedMagnitude) == (w.op.address, sa(w).address, mag)
    # encumbered at once, effective only at eb
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == mag
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD - mag
    assert alloc(w) == (0, mag, eb)
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == 0
    view_at(w, eb - 1)
    assert alloc(w) == (0, mag, eb)
    view_at(w, eb)
    assert alloc(w) == (mag, 0, 0)
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == DEP_A * mag // WAD
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == mag
    # compare-and-set against the applied value
    with ape.reverts("magnitude changed"):
        modify(w, 1, {"TKA": 1}, {"TKA": 0})
    modify(w, 1, {"TKA": mag + 10}, {"TKA": mag})
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == mag + 10


def test_allocation_with_zero_delay_is_immediate(w):
    w.register_operator(w.op, delay=0)
    w.deposit(w.staker, "TKA", DEP_A)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.create_sets(ids=(1,))
    r = modify(w, 1, {"TKA": WAD // 3}, {"TKA": 0})
    assert evs(r, "AllocationUpdated")[0].effectBlock == r.block_number
    assert alloc(w) == (WAD // 3, 0, 0)
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == DEP_A * (WAD // 3) // WAD


def test_deallocation_of_slashable_stake_waits_exact(live):
    w = live
    m = 4 * WAD // 10
    r = modify(w, 1, {"TKA": WAD // 10}, {"TKA": m})
    eb = r.block_number + DD + 1
    (e,) = evs(r, "AllocationUpdated")
    assert e.magnitude == WAD // 10 and e.effectBlock == eb
    assert evs(r, "EncumberedMagnitudeUpdated")[0].encumberedMagnitude == m + WAD // 4
    assert alloc(w) == (m, -(m - WAD // 10), eb)
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 1
    enc = m + WAD // 4
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc
    # still fully slashable until eb - 1
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == DEP_A * m // WAD
    # magnitude is not yet free for another set in block eb - 1
    mine_to(w, eb - 1)
    with ape.reverts("insufficient magnitude"):
        modify(w, 2, {"TKA": WAD // 4 + WAD - enc + 1}, {"TKA": WAD // 4})
    assert head(w) == eb - 1
    assert alloc(w) == (m, -(m - WAD // 10), eb)
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD - enc
    # at eb the views apply the deallocation, the queue entry is still there
    w.chain.mine(1)
    assert alloc(w) == (WAD // 10, 0, 0)
    enc2 = WAD // 10 + WAD // 4
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc2
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD - enc2
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == DEP_A * (WAD // 10) // WAD
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 1
    # a new allocation clears the queue first and may use the freed magnitude
    r = modify(w, 2, {"TKA": WAD - WAD // 10}, {"TKA": WAD // 4})
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 0
    assert [e.encumberedMagnitude for e in evs(r, "EncumberedMagnitudeUpdated")] == [enc2, WAD]
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == 0


def test_deallocation_instant_when_not_slashable(base):
    w = base
    # set 3 exists but the operator is not registered: allocations are not slashable
    w.am.createOperatorSets(w.avs, [(3, [sa(w)], ZERO)], sender=w.avs)
    modify(w, 3, {"TKA": WAD // 2}, {"TKA": 0})
    w.chain.mine(OP_DELAY)
    r = modify(w, 3, {"TKA": WAD // 8}, {"TKA": WAD // 2})
    (e,) = evs(r, "AllocationUpdated")
    assert e.magnitude == WAD // 8 and e.effectBlock == 0
    assert evs(r, "EncumberedMagnitudeUpdated")[0].encumberedMagnitude == WAD // 8
    assert alloc(w, 3) == (WAD // 8, 0, 0)
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 0
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD - WAD // 8


def test_deallocation_instant_for_strategy_not_in_set(base):
    w = base
    # TKC is not in set 1, so an allocation to it is not slashable by set 1
    w.deposit(w.staker, "TKC", DEP_B)
    modify(w, 1, {"TKC": WAD // 2}, {"TKC": 0})
    w.chain.mine(OP_DELAY)
    modify(w, 1, {"TKC": 0}, {"TKC": WAD // 2})
    assert alloc(w, 1, "TKC") == (0, 0, 0)
    assert w.am.getEncumberedMagnitude(w.op, w.strats["TKC"]) == 0
    assert w.am.getDeallocationQueueLength(w.op, w.strats["TKC"]) == 0


def test_deallocation_after_deregistration_window(live):
    w = live
    r = w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
    until = r.block_number + DD
    # within the slashable window a deallocation still waits the full delay
    r = modify(w, 1, {"TKB": WAD // 10}, {"TKB": 3 * WAD // 10})
    assert alloc(w, 1, "TKB")[2] == r.block_number + DD + 1
    # after the window it is instant
    mine_to(w, until + 1)
    r = modify(w, 1, {"TKA": 0}, {"TKA": 4 * WAD // 10})
    assert alloc(w, 1) == (0, 0, 0)
    assert evs(r, "EncumberedMagnitudeUpdated")[0].encumberedMagnitude == WAD // 4


def test_clear_deallocation_queue(live):
    w = live
    with ape.reverts("input length mismatch"):
        w.am.clearDeallocationQueue(w.op, [sa(w)], [1, 1], sender=w.other)
    r1 = modify(w, 1, {"TKA": 0}, {"TKA": 4 * WAD // 10})
    r2 = modify(w, 2, {"TKA": 0}, {"TKA": WAD // 4})
    eb1, eb2 = r1.block_number + DD + 1, r2.block_number + DD + 1
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 2
    # before the first is due nothing is cleared and nothing is emitted
    mine_to(w, eb1 - 1)
    r = w.am.clearDeallocationQueue(w.op, [sa(w)], [5], sender=w.other)
    assert evs(r, "EncumberedMagnitudeUpdated") == []
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 2
    # at eb1 only the first is due; numToClear 0 clears nothing
    r = w.am.clearDeallocationQueue(w.op, [sa(w)], [0], sender=w.other)
    assert r.block_number == eb1
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 2
    mine_to(w, eb2)
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == WAD // 4  # view applies due ones
    r = w.am.clearDeallocationQueue(w.op, [sa(w), sb(w)], [1, 3], sender=w.other)
    (e,) = evs(r, "EncumberedMagnitudeUpdated")
    assert (e.operator, e.strategy, e.encumberedMagnitude) == (w.op.address, sa(w).address, WAD // 4)
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 1
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == 0
    r = w.am.clearDeallocationQueue(w.op, [sa(w)], [65535], sender=w.other)
    assert evs(r, "EncumberedMagnitudeUpdated")[0].encumberedMagnitude == 0
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 0
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD
    assert alloc(w, 1) == (0, 0, 0) and alloc(w, 2) == (0, 0, 0)


def test_deallocation_pending_blocks_second_change_and_cas(live):
    w = live
    m = 4 * WAD // 10
    modify(w, 1, {"TKA": WAD // 10}, {"TKA": m})
    with ape.reverts("modification already pending"):
        modify(w, 1, {"TKA": WAD // 20}, {"TKA": m})
    # a slash lands first: the stale expected magnitude is refused (compare-and-set)
    w.slash(w.op, 1, {"TKA": WAD // 2})
    w.chain.mine(DD + 1)
    cur = alloc(w)[0]
    assert cur != WAD // 10
    with ape.reverts("magnitude changed"):
        modify(w, 1, {"TKA": WAD // 10 + 5}, {"TKA": WAD // 10})
    modify(w, 1, {"TKA": cur + 5}, {"TKA": cur})


# ---------------------------------------------------------------- stake views


def test_get_allocated_stake_matrix(live):
    w = live
    w.register_operator(w.op2, delay=0)
    w.deposit(w.staker2, "TKA", 77 * WAD + 1)
    w.dm.delegateTo(w.op2, NO_SIG, SALT0, sender=w.staker2)
    modify(w, 1, {"TKA": WAD // 3}, {"TKA": 0}, op=w.op2)
    # a pending allocation of op does not count yet
    modify(w, 1, {"TKB": WAD // 2}, {"TKB": 3 * WAD // 10})
    got = w.am.getAllocatedStake(w.opset(1), [w.op, w.op2, w.other], [sa(w), sb(w), w.strats["TKC"]])
    assert [list(row) for row in got] == [
        [DEP_A * (4 * WAD // 10) // WAD, DEP_B * (3 * WAD // 10) // WAD, 0],
        [(77 * WAD + 1) * (WAD // 3) // WAD, 0, 0],
        [0, 0, 0],
    ]
    # op2 is not registered for set 1: allocated, but not slashable
    assert list(w.am.getMinimumSlashableStake(w.opset(1), [w.op2], [sa(w)], 0)[0]) == [0]


def test_get_minimum_slashable_stake_future_blocks(live):
    w = live
    m, m2 = 4 * WAD // 10, WAD // 10
    r = modify(w, 1, {"TKA": m2}, {"TKA": m})
    eb = r.block_number + DD + 1
    now = head(w)
    full, part = DEP_A * m // WAD, DEP_A * m2 // WAD

    def mss(fb, strats=None):
        return list(w.am.getMinimumSlashableStake(w.opset(1), [w.op], strats or [sa(w)], fb)[0])

    assert mss(0) == [full]  # the past means now
    assert mss(now) == [full]
    assert mss(eb - 1) == [full]
    assert mss(eb) == [part]
    assert mss(2**32 - 1) == [part]
    assert list(w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0]) == [full]
    # TKB (no pending change) and TKC (not in the set)
    assert mss(eb + 100, [sb(w), w.strats["TKC"]]) == [DEP_B * (3 * WAD // 10) // WAD, 0]
    # after deregistration: slashable only up to `until`
    w.chain.mine(3)
    r = w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
    until = r.block_number + DD
    assert eb < until
    assert mss(eb - 1) == [full]
    assert mss(until) == [part]
    assert mss(until + 1) == [0]
    assert mss(until, [sb(w)]) == [DEP_B * (3 * WAD // 10) // WAD]
    assert mss(until + 1, [sb(w)]) == [0]
    # getAllocatedStake ignores registration
    assert list(w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0]) == [full]
    view_at(w, until + 1)
    assert mss(0) == [0]
    assert not w.am.isOperatorSlashable(w.op, w.opset(1))


def test_stake_views_after_strategy_removed(live):
    w = live
    w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sa(w)], sender=w.avs)
    assert list(w.am.getMinimumSlashableStake(w.opset(1), [w.op], [sa(w)], 0)[0]) == [0]
    assert list(w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0]) == [DEP_A * (4 * WAD // 10) // WAD]
    # a deallocation of a removed strategy is not slashable: instant
    modify(w, 1, {"TKA": 0}, {"TKA": 4 * WAD // 10})
    assert alloc(w) == (0, 0, 0)
    # adding it back makes a new allocation slashable at once
    modify(w, 1, {"TKA": WAD // 5}, {"TKA": 0})
    w.am.addStrategiesToOperatorSet(w.avs, 1, [sa(w)], sender=w.avs)
    w.chain.mine(OP_DELAY)
    assert list(w.am.getMinimumSlashableStake(w.opset(1), [w.op], [sa(w)], 0)[0]) == [
        DEP_A * (WAD // 5) // WAD
    ]


def test_magnitude_views(live):
    w = live
    assert list(w.am.getMaxMagnitudes(w.op, [sa(w), sb(w), w.strats["TKC"]])) == [WAD, WAD, WAD]
    assert w.am.getMaxMagnitude(w.op2, sa(w)) == WAD
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == 4 * WAD // 10 + WAD // 4
    assert w.am.getEncumberedMagnitude(w.op, sb(w)) == 3 * WAD // 10
    assert w.am.getAllocatableMagnitude(w.op, sb(w)) == WAD - 3 * WAD // 10
    assert w.am.getAllocatableMagnitude(w.op2, sb(w)) == WAD
    w.slash(w.op, 1, {"TKA": WAD // 2})
    assert list(w.am.getMaxMagnitudes(w.op, [sa(w), sb(w)])) == [WAD - 2 * WAD // 10, WAD]
    assert w.am.getMaxMagnitude(w.op, sa(w)) == WAD - 2 * WAD // 10


# ---------------------------------------------------------------- slashOperator


def test_slash_reverts(live):
    w = live
    w.am.createOperatorSets(w.avs, [(3, [sa(w)], w.other)], sender=w.avs)

    def sl(set_id, strats, wads, sender=None, op=None):
        return w.am.slashOperator(w.avs, (op or w.op, set_id, strats, wads, "d"), sender=sender or w.avs)

    lo, hi = sorted([sa(w), sb(w)], key=lambda x: int(x.address, 16))
    with ape.reverts("invalid operator set"):
        sl(9, [sa(w)], [1])
    with ape.reverts("only slasher"):
        sl(1, [sa(w)], [1], sender=w.other)
    with ape.reverts("only slasher"):
        sl(3, [sa(w)], [1], sender=w.avs)  # the AVS is not the slasher of set 3
    with ape.reverts("operator not slashable"):
        sl(3, [sa(w)], [1], sender=w.other)
    with ape.reverts("operator not slashable"):
        sl(1, [sa(w)], [1], op=w.op2)
    with ape.reverts("input length mismatch"):
        sl(1, [], [])
    with ape.reverts("input length mismatch"):
        sl(1, [sa(w)], [1, 1])
    with ape.reverts("strategies not ascending"):
        sl(1, [hi, lo], [1, 1])
    with ape.reverts("strategies not ascending"):
        sl(1, [lo, lo], [1, 1])
    with ape.reverts("strategy not in set"):
        sl(1, [w.strats["TKC"]], [1])
    with ape.reverts("invalid wad to slash"):
        sl(1, [sa(w)], [0])
    with ape.reverts("invalid wad to slash"):
        sl(1, [sa(w)], [WAD + 1])
    assert w.am.getSlashCount(w.opset(1)) == 0


def test_slash_math_two_slashes(live):
    w = live
    s = sa(w)
    m1, m2 = 4 * WAD // 10, WAD // 4
    wad = 333_333_333_333_333_333
    # first slash
    sf0, maxm, cur, enc = WAD, WAD, m1, m1 + m2
    tot0, bal0 = DEP_A, DEP_A  # strategy shares and balance (first depositor: 1:1)
    esc0 = w.tokens["TKA"].balanceOf(w.esc)
    r = w.slash(w.op, 1, {"TKA": wad}, description="double sign")
    b = r.block_number
    sm = ceil_div(cur * wad, WAD)
    cur, new_max, enc = cur - sm, maxm - sm, enc - sm
    sf1 = sf0 * new_max // maxm
    shares1 = DEP_A * sf0 // WAD - DEP_A * sf1 // WAD  # scaled shares == DEP_A
    assert r.return_value[0] == 1 and list(r.return_value[1]) == [shares1]
    (e,) = evs(r, "OperatorSlashed")
    assert (
        e.operator,
        oset(e.operatorSet),
        e.slashId,
        list(e.strategies),
        list(e.wadSlashed),
        e.description,
    ) == (w.op.address, ops(w, 1), 1, [s.address], [sm * WAD // maxm], "double sign")
    (e,) = evs(r, "AllocationUpdated")
    assert (e.operator, oset(e.operatorSet), e.strategy, e.magnitude, e.effectBlock) == (
        w.op.address,
        ops(w, 1),
        s.address,
        cur,
        b,
    )
    (e,) = evs(r, "EncumberedMagnitudeUpdated")
    assert (e.strategy, e.encumberedMagnitude) == (s.address, enc)
    (e,) = evs(r, "MaxMagnitudeUpdated")
    assert (e.operator, e.strategy, e.maxMagnitude) == (w.op.address, s.address, new_max)
    assert alloc(w) == (cur, 0, 0)
    assert w.am.getMaxMagnitude(w.op, s) == new_max
    assert w.am.getEncumberedMagnitude(w.op, s) == enc
    assert w.am.getAllocatableMagnitude(w.op, s) == new_max - enc
    assert w.dm.slashingFactor(w.op, s) == sf1
    op_shares = DEP_A * sf1 // WAD
    assert w.op_shares(w.op, "TKA") == op_shares
    amount = (bal0 + 1000) * shares1 // (tot0 + 1000)
    assert w.tokens["TKA"].balanceOf(w.esc) - esc0 == amount
    assert w.am.getSlashCount(w.opset(1)) == 1
    # stake of set 1 = op shares * magnitude // max magnitude
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [s])[0][0] == op_shares * cur // new_max
    # second slash: wadSlashed is relative to the lowered max magnitude
    maxm = new_max
    wad2 = 7 * WAD // 10
    r = w.slash(w.op, 1, {"TKA": wad2})
    sm2 = ceil_div(cur * wad2, WAD)
    cur, new_max, enc = cur - sm2, maxm - sm2, enc - sm2
    sf2 = sf1 * new_max // maxm
    assert r.return_value[0] == 2
    assert list(evs(r, "OperatorSlashed")[0].wadSlashed) == [sm2 * WAD // maxm]
    assert list(r.return_value[1]) == [DEP_A * sf1 // WAD - DEP_A * sf2 // WAD]
    assert w.am.getMaxMagnitude(w.op, s) == new_max
    assert alloc(w) == (cur, 0, 0)
    assert w.dm.slashingFactor(w.op, s) == sf2
    assert w.am.getSlashCount(w.opset(1)) == 2


def test_slash_rounds_up(live):
    w = live
    cur = 4 * WAD // 10
    # 1 wei of a WAD still takes one unit of magnitude
    r = w.slash(w.op, 1, {"TKA": 1})
    assert alloc(w)[0] == cur - 1
    assert w.am.getMaxMagnitude(w.op, sa(w)) == WAD - 1
    assert list(evs(r, "OperatorSlashed")[0].wadSlashed) == [1]
    # a non-integral product is rounded up: ceil(cur' * wad / WAD)
    cur -= 1
    wad = WAD // 3
    w.slash(w.op, 1, {"TKA": wad})
    exp = ceil_div(cur * wad, WAD)
    assert exp * WAD != cur * wad  # really fractional
    assert alloc(w)[0] == cur - exp
    assert w.am.getMaxMagnitude(w.op, sa(w)) == WAD - 1 - exp


def test_slash_full_allocation(live):
    w = live
    m1, m2 = 4 * WAD // 10, WAD // 4
    r = w.slash(w.op, 1, {"TKA": WAD})
    assert alloc(w) == (0, 0, 0)
    assert w.am.getMaxMagnitude(w.op, sa(w)) == WAD - m1
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == m2
    assert list(evs(r, "OperatorSlashed")[0].wadSlashed) == [m1]
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [sa(w)])[0][0] == 0
    # a second slash of the now-empty allocation is skipped
    r = w.slash(w.op, 1, {"TKA": WAD})
    assert list(r.return_value[1]) == [0]
    assert list(evs(r, "OperatorSlashed")[0].wadSlashed) == [0]
    assert evs(r, "MaxMagnitudeUpdated") == []
    assert w.am.getMaxMagnitude(w.op, sa(w)) == WAD - m1


def test_slash_shrinks_pending_deallocation(live):
    w = live
    m, target = 4 * WAD // 10, WAD // 10 + 3
    r = modify(w, 1, {"TKA": target}, {"TKA": m})
    eb = r.block_number + DD + 1
    pend = m - target
    wad = WAD // 7
    w.slash(w.op, 1, {"TKA": wad})
    sm = ceil_div(m * wad, WAD)
    pend2 = pend - ceil_div(pend * wad, WAD)
    assert alloc(w) == (m - sm, -pend2, eb)
    enc = m + WAD // 4 - sm
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc
    view_at(w, eb)
    assert alloc(w) == (m - sm - pend2, 0, 0)
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc - pend2
    w.am.clearDeallocationQueue(w.op, [sa(w)], [1], sender=w.other)
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc - pend2
    assert w.am.getAllocatableMagnitude(w.op, sa(w)) == WAD - sm - (enc - pend2)


def test_slash_applies_due_deallocation_first(live):
    w = live
    m, target = 4 * WAD // 10, WAD // 10
    r = modify(w, 1, {"TKA": target}, {"TKA": m})
    mine_to(w, r.block_number + DD + 1)
    r = w.slash(w.op, 1, {"TKA": WAD // 2})
    sm = ceil_div(target * WAD // 2, WAD)
    assert alloc(w) == (target - sm, 0, 0)
    enc = target + WAD // 4 - sm
    assert evs(r, "EncumberedMagnitudeUpdated")[0].encumberedMagnitude == enc
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc
    # the stale queue entry is popped without changing encumbered magnitude again
    w.am.clearDeallocationQueue(w.op, [sa(w)], [1], sender=w.other)
    assert w.am.getDeallocationQueueLength(w.op, sa(w)) == 0
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == enc


def test_slash_two_strategies_ascending_and_skip_zero(live):
    w = live
    lo, hi = sorted([sa(w), sb(w)], key=lambda x: int(x.address, 16))
    sym = {v.address: k for k, v in w.strats.items()}
    # set 2 holds TKA and TKB but the operator allocated only TKA to it
    assert alloc(w, 2, "TKB") == (0, 0, 0)
    wads = {lo.address: WAD // 5, hi.address: WAD // 2}
    r = w.am.slashOperator(
        w.avs, (w.op, 2, [lo, hi], [wads[lo.address], wads[hi.address]], "x"), sender=w.avs
    )
    exp_shares, exp_wads = [], []
    for st in (lo, hi):
        if sym[st.address] == "TKA":
            sm = ceil_div((WAD // 4) * wads[st.address], WAD)
            exp_wads.append(sm * WAD // WAD)
            exp_shares.append(DEP_A - DEP_A * (WAD - sm) // WAD)
        else:
            exp_wads.append(0)
            exp_shares.append(0)
    assert r.return_value[0] == 1
    assert list(r.return_value[1]) == exp_shares
    (e,) = evs(r, "OperatorSlashed")
    assert list(e.strategies) == [lo.address, hi.address] and list(e.wadSlashed) == exp_wads
    assert [x.strategy for x in evs(r, "MaxMagnitudeUpdated")] == [w.strats["TKA"].address]
    # only the slashed strategy reaches the escrow
    assert [x.strategy for x in evs(r, "SlashEscrowed")] == [w.strats["TKA"].address]
    assert list(w.esc.getSlash(w.avs, 2, 1).strategies) == [w.strats["TKA"].address]
    assert w.am.getMaxMagnitude(w.op, sb(w)) == WAD
    assert w.dm.slashingFactor(w.op, sb(w)) == WAD


def test_slash_all_skipped_still_counts(live):
    w = live
    # a pending (not yet effective) allocation is not slashable
    w.am.createOperatorSets(w.avs, [(3, [sa(w)], ZERO)], sender=w.avs)
    w.register_for_sets(w.op, (3,))
    modify(w, 3, {"TKA": WAD // 10}, {"TKA": 0})
    r = w.slash(w.op, 3, {"TKA": WAD})
    assert r.return_value[0] == 1 and list(r.return_value[1]) == [0]
    assert evs(r, "MaxMagnitudeUpdated") == [] and evs(r, "SlashEscrowed") == []
    assert w.am.getSlashCount(w.opset(3)) == 1
    assert alloc(w, 3)[1] == WAD // 10
    assert w.am.getEncumberedMagnitude(w.op, sa(w)) == 4 * WAD // 10 + WAD // 4 + WAD // 10


def test_slash_unique_stake_other_sets_unchanged(live):
    w = live
    s = sa(w)
    m1, m2 = 4 * WAD // 10, WAD // 4
    before2 = w.am.getAllocatedStake(w.opset(2), [w.op], [s])[0][0]
    assert before2 == DEP_A * m2 // WAD
    wad = 6 * WAD // 10 + 13
    w.slash(w.op, 1, {"TKA": wad})
    sm = ceil_div(m1 * wad, WAD)
    new_max = WAD - sm
    op_shares = DEP_A * (WAD * new_max // WAD) // WAD
    after2 = w.am.getAllocatedStake(w.opset(2), [w.op], [s])[0][0]
    assert after2 == op_shares * m2 // new_max
    assert abs(after2 - before2) <= 1
    assert alloc(w, 2) == (m2, 0, 0)
    assert w.am.getAllocatedStake(w.opset(1), [w.op], [s])[0][0] == op_shares * (m1 - sm) // new_max
    # set 2's slashable stake is unchanged and set 1 lost exactly its slice
    after1 = w.am.getAllocatedStake(w.opset(1), [w.op], [s])[0][0]
    assert abs((DEP_A * m1 // WAD - after1) - (DEP_A - op_shares)) <= 1


def test_slash_by_custom_slasher_and_in_deregistration_window(live):
    w = live
    w.am.createOperatorSets(w.avs, [(3, [sa(w)], w.other)], sender=w.avs)
    w.register_for_sets(w.op, (3,))
    modify(w, 3, {"TKA": WAD // 10}, {"TKA": 0})
    w.chain.mine(OP_DELAY)
    r = w.am.deregisterFromOperatorSets((w.op, w.avs, [3]), sender=w.op)
    until = r.block_number + DD
    mine_to(w, until)
    r = w.slash(w.op, 3, {"TKA": WAD // 2}, sender=w.other)
    assert r.block_number == until and r.return_value[0] == 1
    assert alloc(w, 3)[0] == WAD // 10 - WAD // 20
    with ape.reverts("operator not slashable"):
        w.slash(w.op, 3, {"TKA": WAD // 2}, sender=w.other)
    assert w.am.getSlashCount(w.opset(3)) == 1


def test_slash_after_strategy_removed_reverts(live):
    w = live
    modify(w, 1, {"TKA": 0}, {"TKA": 4 * WAD // 10})
    w.am.removeStrategiesFromOperatorSet(w.avs, 1, [sa(w)], sender=w.avs)
    with ape.reverts("strategy not in set"):
        w.slash(w.op, 1, {"TKA": WAD})
    # the pending deallocation keeps its full delay
    assert alloc(w)[1] == -(4 * WAD // 10)


# ---------------------------------------------------------------- slasher rotation


def test_update_slasher_takes_effect_after_the_delay_exact(live):
    """updateSlasher: the old slasher alone slashes up to effectBlock - 1, the new one from
    effectBlock on (ALLOCATION_CONFIGURATION_DELAY + 1 blocks after the update)."""
    w = live
    assert w.am.getPendingSlasher(w.opset(1)) == (ZERO, 0)
    r = w.am.updateSlasher(w.opset(1), w.other, sender=w.avs)
    effect = r.block_number + ACD + 1
    (e,) = evs(r, "SlasherUpdated")
    assert e.slasher == w.other.address and e.effectBlock == effect
    assert tuple(e.operatorSet) == ops(w)
    assert w.am.getSlasher(w.opset(1)) == w.avs.address
    assert w.am.getPendingSlasher(w.opset(1)) == (w.other.address, effect)
    with ape.reverts("only slasher"):
        w.slash(w.op, 1, {"TKA": WAD // 10}, sender=w.other)
    mine_to(w, effect - 1)
    r = w.slash(w.op, 1, {"TKA": WAD // 10})  # the old slasher, in the last block it may
    assert r.block_number == effect - 1
    with ape.reverts("only slasher"):  # lands in effectBlock: the old slasher is out
        w.slash(w.op, 1, {"TKA": WAD // 10})
    assert head(w) == effect
    assert w.am.getSlasher(w.opset(1)) == w.other.address
    assert w.am.getPendingSlasher(w.opset(1)) == (ZERO, 0)
    r = w.slash(w.op, 1, {"TKA": WAD // 10}, sender=w.other)
    assert r.return_value[0] == 2
    # a later rotation starts from the new slasher
    r = w.am.updateSlasher(w.opset(1), w.avs, sender=w.avs)
    assert w.am.getSlasher(w.opset(1)) == w.other.address
    assert w.am.getPendingSlasher(w.opset(1)) == (w.avs.address, r.block_number + ACD + 1)


def test_update_slasher_again_replaces_the_pending_one(live):
    w = live
    w.am.updateSlasher(w.opset(1), w.other, sender=w.avs)
    w.chain.mine(ACD // 2)
    r = w.am.updateSlasher(w.opset(1), w.resolver, sender=w.avs)
    effect = r.block_number + ACD + 1  # the delay restarts
    assert w.am.getPendingSlasher(w.opset(1)) == (w.resolver.address, effect)
    view_at(w, effect - 1)
    assert w.am.getSlasher(w.opset(1)) == w.avs.address
    view_at(w, effect)
    assert w.am.getSlasher(w.opset(1)) == w.resolver.address
    with ape.reverts("only slasher"):  # the replaced pending slasher never takes over
        w.slash(w.op, 1, {"TKA": WAD // 10}, sender=w.other)


def test_update_slasher_reverts(live):
    w = live
    with ape.reverts("only avs"):
        w.am.updateSlasher(w.opset(1), w.other, sender=w.other)
    with ape.reverts("only avs"):  # the slasher itself cannot rotate
        w.am.updateSlasher(w.opset(1), w.other, sender=w.op)
    with ape.reverts("zero address"):
        w.am.updateSlasher(w.opset(1), ZERO, sender=w.avs)
    with ape.reverts("invalid operator set"):
        w.am.updateSlasher(w.opset(9), w.other, sender=w.avs)
    assert w.am.getPendingSlasher(w.opset(1)) == (ZERO, 0)


def test_set_creation_logs_its_slasher(w):
    r = w.create_sets(ids=(1,), slasher=w.other)
    (e,) = evs(r, "SlasherUpdated")
    assert e.slasher == w.other.address and e.effectBlock == r.block_number
    assert w.am.getSlasher(w.opset(1)) == w.other.address


# ---------------------------------------------------------------- the extension


def test_extension_runs_only_by_delegatecall(w, project):
    ext = project.AllocationManagerExtension.at(w.am.extension())
    assert ext.delegation() == w.dm.address and ext.DEALLOCATION_DELAY() == DD
    with ape.reverts("only delegatecall"):
        ext.updateAVSMetadataURI(w.avs, "m", sender=w.avs)
    with ape.reverts("only delegatecall"):
        ext.setAllocationDelay(w.op, 1, sender=w.op)


def test_extension_must_match_the_constructor(w, project, accounts):
    ext = w.am.extension()
    args = (w.dm, DD, ACD, TEST_CONFIG.min_allocation_delay_blocks)
    for i, bad in ((1, DD + 1), (2, ACD + 1), (3, 7), (0, w.sm)):
        wrong = list(args)
        wrong[i] = bad
        with ape.reverts("extension mismatch"):
            accounts[0].deploy(project.AllocationManager, *wrong, ext)


@pytest.mark.parametrize(
    "manager,module",
    [("AllocationManager", "st"), ("DelegationManager", "ds")],
    ids=["allocation", "delegation"],
)
def test_extension_and_manager_share_the_storage_layout(manager, module):
    """Each manager and its extension initialize their storage module first, so every shared
    variable sits at one slot (the DelegationManager's pair is checked here too)."""
    vyper = Path(sys.executable).parent / "vyper"
    layouts = []
    for name in (manager, manager + "Extension"):
        out = subprocess.run(
            [str(vyper), "-f", "layout", f"contracts/core/{name}.vy"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        layouts.append(json.loads(out))
    main, ext = layouts
    assert main["storage_layout"][module] == ext["storage_layout"][module]
    assert set(ext["storage_layout"]) == {module}
    assert min(v["slot"] for v in main["storage_layout"]["pausable"].values()) > max(
        v["slot"] for v in main["storage_layout"][module].values()
    )
    # the same reentrancy lock slot (an extension with no locked function has none)
    assert (
        ext.get("transient_storage_layout", main["transient_storage_layout"])
        == main["transient_storage_layout"]
    )


# ---------------------------------------------------------------- integrator views


def test_registered_sets_follow_registration(w):
    """getRegisteredSets lists exactly the sets an operator is registered for, through
    deregistrations that move other entries (its own and other operators' member lists)."""
    w.register_operator(w.op)
    w.register_operator(w.op2)
    w.create_sets(ids=(1, 2, 3, 4), syms=("TKA",))
    assert list(w.am.getRegisteredSets(w.op)) == [] and w.am.getRegisteredSetCount(w.op) == 0
    w.register_for_sets(w.op, (1, 2, 3))
    w.register_for_sets(w.op2, (1, 2))

    def sets(op):
        return sorted(s.id for s in w.am.getRegisteredSets(op))

    def members(i):
        return sorted(A(m) for m in w.am.getMembers(w.opset(i)))

    assert sets(w.op) == [1, 2, 3] and sets(w.op2) == [1, 2]
    assert all(A(s.avs) == A(w.avs) for s in w.am.getRegisteredSets(w.op))
    w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
    assert sets(w.op) == [2, 3] and w.am.getRegisteredSetCount(w.op) == 2
    assert members(1) == [A(w.op2)] and members(2) == sorted([A(w.op), A(w.op2)])
    w.register_for_sets(w.op, (4,))
    w.am.deregisterFromOperatorSets((w.op, w.avs, [3, 2]), sender=w.avs)
    assert sets(w.op) == [4] and sets(w.op2) == [1, 2] and members(2) == [A(w.op2)]
    # each operator's membership and registration status survive the moves
    assert w.am.isMemberOfOperatorSet(w.op2, w.opset(2)) and w.am.isMemberOfOperatorSet(w.op, w.opset(4))
    assert not w.am.isMemberOfOperatorSet(w.op, w.opset(2))
    w.am.deregisterFromOperatorSets((w.op2, w.avs, [1, 2]), sender=w.op2)
    assert sets(w.op2) == [] and members(1) == [] and members(2) == []
    mine_to(w, head(w) + DD + 2)
    w.register_for_sets(w.op, (1, 2, 3))
    assert sets(w.op) == [1, 2, 3, 4]
    assert [s.id for s in w.am.getRegisteredSets(w.op, 1, 2)] == [s.id for s in w.am.getRegisteredSets(w.op)][
        1:3
    ]
    assert list(w.am.getRegisteredSets(w.op, 4, 10)) == []
    with ape.reverts("page too long"):
        w.am.getRegisteredSets(w.op, 0, 1025)


def test_max_magnitudes_at_block(live):
    """getMaxMagnitudesAtBlock: WAD before the first slash, each slash's value from its own
    block on, the current value for the current and future blocks."""
    w = live
    s, t = sa(w), sb(w)
    start = head(w)
    r1 = w.slash(w.op, 1, {"TKA": WAD // 2})
    m1 = w.am.getMaxMagnitude(w.op, s)
    w.chain.mine(3)
    r2 = w.slash(w.op, 1, {"TKA": WAD // 2, "TKB": WAD // 4})
    m2, n2 = w.am.getMaxMagnitude(w.op, s), w.am.getMaxMagnitude(w.op, t)
    assert WAD > m1 > m2 and n2 < WAD
    w.chain.mine(2)
    r3 = w.slash(w.op, 2, {"TKA": WAD // 10})
    m3 = w.am.getMaxMagnitude(w.op, s)
    b1, b2, b3 = r1.block_number, r2.block_number, r3.block_number

    def at(blk):
        return list(w.am.getMaxMagnitudesAtBlock(w.op, [s, t], blk))

    assert at(start) == [WAD, WAD] and at(b1 - 1) == [WAD, WAD]
    assert at(b1) == [m1, WAD] and at(b2 - 1) == [m1, WAD]
    assert at(b2) == [m2, n2] and at(b3 - 1) == [m2, n2]
    assert at(b3) == [m3, n2] and at(head(w)) == [m3, n2] and at(2**32 - 1) == [m3, n2]
    assert list(w.am.getMaxMagnitudesAtBlock(w.op2, [s], b2)) == [WAD]


def test_allocated_sets_and_strategies(live):
    """getAllocatedSets / getAllocatedStrategies list what has a non-zero or pending allocation;
    a deallocation to zero leaves the lists when it is applied, the last strategy takes the set
    with it, and list moves keep every other entry."""
    w = live
    s, t = A(sa(w)), A(sb(w))

    def sets(op=None):
        return sorted(x.id for x in w.am.getAllocatedSets(op or w.op))

    def strats(set_id, op=None):
        return sorted(A(x) for x in w.am.getAllocatedStrategies(op or w.op, w.opset(set_id)))

    assert sets() == [1, 2] and strats(1) == sorted([s, t]) and strats(2) == [s]
    assert sets(w.op2) == [] and strats(1, w.op2) == []
    modify(w, 1, {"TKA": 0}, {"TKA": 4 * WAD // 10})  # slashable: pending, still listed
    assert strats(1) == sorted([s, t])
    mine_to(w, head(w) + DD + 2)
    w.am.clearDeallocationQueue(w.op, [sa(w)], [1], sender=w.other)
    assert strats(1) == [t] and sets() == [1, 2]
    modify(w, 2, {"TKA": 0}, {"TKA": WAD // 4})
    mine_to(w, head(w) + DD + 2)
    w.am.clearDeallocationQueue(w.op, [sa(w)], [1], sender=w.other)
    assert sets() == [1] and strats(2) == []
    # an instant deallocation (set 3: not registered) leaves at once; a new allocation is listed
    w.am.createOperatorSets(w.avs, [(3, [sa(w), sb(w)], ZERO)], sender=w.avs)
    modify(w, 3, {"TKA": WAD // 10, "TKB": WAD // 10}, {"TKA": 0, "TKB": 0})
    assert sets() == [1, 3] and strats(3) == sorted([s, t])
    w.chain.mine(OP_DELAY)
    modify(w, 1, {"TKB": 0}, {"TKB": 3 * WAD // 10})
    mine_to(w, head(w) + DD + 2)
    modify(w, 3, {"TKA": 0}, {"TKA": WAD // 10})  # not registered: instant
    assert strats(3) == [t]
    w.am.clearDeallocationQueue(w.op, [sb(w)], [4], sender=w.other)
    assert sets() == [3] and strats(1) == []
    assert [x.id for x in w.am.getAllocatedSets(w.op, 1, 5)] == []
    with ape.reverts("page too long"):
        w.am.getAllocatedStrategies(w.op, w.opset(3), 0, 1025)


def test_max_magnitude_history_through_a_cancelled_slash(w):
    """A cancelled slash gives the max magnitude back from the cancel's block on; the history
    keeps what held in between."""
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", DEP_A)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    w.create_sets(ids=(1,), syms=("TKA",), resolver=w.resolver)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": WAD // 2})
    s = sa(w)
    r1 = w.slash(w.op, 1, {"TKA": WAD // 2})
    m1 = w.am.getMaxMagnitude(w.op, s)
    w.chain.mine(2)
    r2 = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    assert w.am.getMaxMagnitude(w.op, s) == WAD

    def at(blk):
        return w.am.getMaxMagnitudesAtBlock(w.op, [s], blk)[0]

    assert (at(r1.block_number - 1), at(r1.block_number), at(r2.block_number - 1)) == (WAD, m1, m1)
    assert at(r2.block_number) == WAD and at(head(w)) == WAD


# ---------------------------------------------------------------- histories (stake at a past block)


def _alloc_at(w, blk, set_id=1, sym="TKA"):
    a = w.am.getAllocationAt(w.op, w.opset(set_id), w.strats[sym], blk)
    return (a.currentMagnitude, a.pendingDiff, a.effectBlock)


def test_allocation_history_pending_allocation_deallocation_slash_and_clearing(base):
    """getAllocationAt / getAllocatedStakeAt: the value as of the end of each block through an
    allocation (pending until its effect block), a deallocation (slashable until its effect
    block), a slash of both, and the lazy clearing, which changes nothing at any block."""
    w = base
    s = sa(w)
    b0 = head(w)
    r1 = modify(w, 1, {"TKA": 4 * WAD // 10}, {"TKA": 0})
    e1 = r1.block_number + OP_DELAY
    mine_to(w, e1 + 2)
    r2 = modify(w, 1, {"TKA": WAD // 10}, {"TKA": 4 * WAD // 10})
    e2 = r2.block_number + DD + 1
    w.chain.mine(2)
    r3 = w.slash(w.op, 1, {"TKA": WAD // 2})
    mine_to(w, e2 + 1)
    r4 = w.am.clearDeallocationQueue(w.op, [s], [1], sender=w.other)
    w.chain.mine(1)
    b1, b2, b3 = r1.block_number, r2.block_number, r3.block_number
    four, three = 4 * WAD // 10, 3 * WAD // 10
    cur3, pend3 = four - ceil_div(four * (WAD // 2), WAD), -(three - ceil_div(three * (WAD // 2), WAD))
    expect = {
        b0: (0, 0, 0),
        b1 - 1: (0, 0, 0),
        b1: (0, four, e1),
        e1 - 1: (0, four, e1),
        e1: (four, 0, 0),
        b2 - 1: (four, 0, 0),
        b2: (four, -three, e2),
        b3 - 1: (four, -three, e2),
        b3: (cur3, pend3, e2),
        e2 - 1: (cur3, pend3, e2),
        e2: (cur3 + pend3, 0, 0),
        r4.block_number: (cur3 + pend3, 0, 0),
        head(w) + 100: (cur3 + pend3, 0, 0),
    }
    for blk, want in expect.items():
        assert _alloc_at(w, blk) == want, blk
    max3 = WAD - ceil_div(four * (WAD // 2), WAD)
    assert w.am.getMaxMagnitude(w.op, s) == max3
    for blk, (mag, _, _) in expect.items():
        mx = WAD if blk < b3 else max3
        shares = w.dm.operatorSharesAt(w.op, s, blk)
        want = shares * mag // mx
        assert w.am.getAllocatedStakeAt(w.opset(1), [w.op], [s], blk) == [[want]], blk
    assert want > 0  # the last one: some stake is left after the slash
    # the current view is the head's value; set 2 and another operator have none
    assert w.am.getAllocatedStakeAt(w.opset(1), [w.op], [s], head(w)) == w.am.getAllocatedStake(
        w.opset(1), [w.op], [s]
    )
    assert w.am.getAllocatedStakeAt(w.opset(2), [w.op, w.op2], [s], head(w)) == [[0], [0]]


def test_allocation_history_two_changes_in_one_block_keep_the_last(base):
    """An allocation and a slash in one block: the block reads the end state, the block before
    the old one (no history entry for the intermediate value)."""
    w = base
    s = sa(w)
    modify(w, 1, {"TKA": WAD // 2}, {"TKA": 0})
    w.chain.mine(OP_DELAY)
    before = head(w)
    b = Batch(w.chain)
    b.add(w.op, w.am.modifyAllocations, w.op, [(w.opset(2), [s], [WAD // 4], [0])])
    b.add(w.avs, w.am.slashOperator, w.avs, (w.op, 1, [s], [WAD // 2], "x"))
    assert b.send() == 1
    blk = head(w)
    assert _alloc_at(w, before) == (WAD // 2, 0, 0)
    assert _alloc_at(w, blk) == (WAD // 4, 0, 0)
    assert _alloc_at(w, blk, set_id=2) == (0, WAD // 4, blk + OP_DELAY)
    assert _alloc_at(w, blk + OP_DELAY, set_id=2) == (WAD // 4, 0, 0)


def test_membership_history_registration_intervals_and_counts(w):
    """isMemberOfOperatorSetAt / getMemberCountAt: registration intervals [registered,
    deregistered) over several deregistrations and late re-registrations (more than four
    entries: the histories pack four to a slot), and a registration and deregistration in one
    block, which never counts as a member."""
    for op in (w.op, w.op2):
        w.register_operator(op)
    w.create_sets(ids=(1,), syms=("TKA",))
    opset = w.opset(1)
    start = head(w)
    events = []  # (block, op, +1 / -1)
    events.append((w.register_for_sets(w.op).block_number, w.op, 1))
    w.chain.mine(2)
    events.append((w.register_for_sets(w.op2).block_number, w.op2, 1))
    for _ in range(3):
        w.chain.mine(1)
        r = w.am.deregisterFromOperatorSets((w.op, w.avs, [1]), sender=w.op)
        events.append((r.block_number, w.op, -1))
        w.chain.mine(DD + 1)
        events.append((w.register_for_sets(w.op).block_number, w.op, 1))
    w.chain.mine(1)
    b = Batch(w.chain)
    b.add(w.op2, w.am.deregisterFromOperatorSets, (w.op2, w.avs, [1]))
    assert b.send() == 1
    events.append((head(w), w.op2, -1))
    w.chain.mine(DD + 1)
    b.add(w.op2, w.am.registerForOperatorSets, w.op2, (w.avs, [1], b""))
    b.add(w.op2, w.am.deregisterFromOperatorSets, (w.op2, w.avs, [1]))
    assert b.send() == 1
    same = head(w)
    w.chain.mine(1)
    end = head(w)

    def model(blk):
        members = set()
        for eb, op, d in events:
            if eb <= blk:
                (members.add if d > 0 else members.discard)(op.address)
        return members

    for blk in range(start, end + 3):
        want = model(blk)
        assert w.am.getMemberCountAt(opset, blk) == len(want), blk
        for op in (w.op, w.op2):
            assert w.am.isMemberOfOperatorSetAt(op, opset, blk) == (op.address in want), (blk, op)
    assert not w.am.isMemberOfOperatorSetAt(w.op2, opset, same)
    assert w.am.getMemberCountAt(opset, end) == w.am.getMemberCount(opset) == 1
    # a set no one registered for, and a block before anyone did
    assert w.am.getMemberCountAt(w.opset(9), end) == 0
    assert not w.am.isMemberOfOperatorSetAt(w.other, opset, end)
    # slashability after a deregistration is what it was: until DEALLOCATION_DELAY blocks later
    assert w.am.getRegistrationStatus(w.op2, opset) == (False, same + DD)
