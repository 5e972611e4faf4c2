# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title AllocationManager
@notice AVSs create operator sets; operators register for them and allocate magnitudes (shares
        of their stake, WAD = 100%) to them; a set's slasher slashes allocated stake. Each unit
        of stake is slashable by one set at a time ("unique stake"): allocations encumber
        magnitude at once, and deallocations (and deregistrations) stay slashable for
        DEALLOCATION_DELAY blocks before the magnitude is free again.
@dev Interface names follow EigenLayer's IAllocationManager; deviations (compare-and-set
     allocations, per-set resolver, operator consent to redistribution) are in docs/restaking.md.
     Hot records are packed by hand: an st.Allocation and a (max, encumbered) pair in one slot each.
"""

from ..interfaces import IDelegationManager
from ..interfaces import ITypes
from ..interfaces import IStrategyManager
from ..interfaces import IAVSRegistrar
from ..interfaces import IAllocationManager
from ..interfaces import IAllocationManagerAVS
from ..interfaces import IAllocationManagerExtension
from ..permissions import pausable
from ..permissions import permissioned
from . import allocation_storage as st

implements: IAllocationManager
implements: IAllocationManagerAVS

# The state first, at the same slots as in the extension (see allocation_storage).
initializes: st
initializes: pausable
exports: (pausable.pauserRegistry, pausable.paused, pausable.setPausedStatus, st.avsRegisteredMetadata)

# Pause flag (bit of this contract's bitmap, EigenLayer's index) of the guarded function.
PAUSED_OPERATOR_SLASHING: constant(uint256) = 1

WAD: constant(uint256) = 10**18
DEFAULT_BURN_ADDRESS: constant(address) = 0x00000000000000000000000000000000000E16E4
MAX_STRATEGIES: constant(uint256) = 32
MAX_SETS: constant(uint256) = 16
MAX_OPERATORS: constant(uint256) = 64
MAX_QUEUE_CLEAR: constant(uint256) = 64
# Most members getMembers returns in one call (page through larger sets with start, length).
MAX_MEMBERS_PAGE: constant(uint256) = 1024
U64: constant(uint256) = (1 << 64) - 1
U128: constant(uint256) = (1 << 128) - 1
U32: constant(uint256) = (1 << 32) - 1

struct RegisterParams:
    avs: address
    operatorSetIds: DynArray[uint32, MAX_SETS]
    data: Bytes[1024]

struct DeregisterParams:
    operator: address
    avs: address
    operatorSetIds: DynArray[uint32, MAX_SETS]

struct AllocateParams:
    operatorSet: ITypes.OperatorSet
    strategies: DynArray[address, MAX_STRATEGIES]
    newMagnitudes: DynArray[uint64, MAX_STRATEGIES]
    expectedMagnitudes: DynArray[uint64, MAX_STRATEGIES]

event AVSMetadataURIUpdated:
    avs: indexed(address)
    metadataURI: String[1024]

event AVSRegistrarSet:
    avs: indexed(address)
    registrar: address

event OperatorSetCreated:
    operatorSet: ITypes.OperatorSet
    slasher: address
    resolver: address

event RedistributionAddressSet:
    operatorSet: ITypes.OperatorSet
    redistributionRecipient: address

event StrategyAddedToOperatorSet:
    operatorSet: ITypes.OperatorSet
    strategy: address

event StrategyRemovedFromOperatorSet:
    operatorSet: ITypes.OperatorSet
    strategy: address

event OperatorAddedToOperatorSet:
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet

event OperatorRemovedFromOperatorSet:
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet

event RedistributionConsentSet:
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet
    accepted: bool

event AllocationDelaySet:
    operator: indexed(address)
    delay: uint32
    effectBlock: uint32

event AllocationUpdated:
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet
    strategy: address
    magnitude: uint64
    effectBlock: uint32

event EncumberedMagnitudeUpdated:
    operator: indexed(address)
    strategy: address
    encumberedMagnitude: uint64

event MaxMagnitudeUpdated:
    operator: indexed(address)
    strategy: address
    maxMagnitude: uint64

event SlasherUpdated:
    operatorSet: ITypes.OperatorSet
    slasher: address
    effectBlock: uint32

event OperatorSlashed:
    operator: indexed(address)
    operatorSet: ITypes.OperatorSet
    slashId: uint256
    strategies: DynArray[address, MAX_STRATEGIES]
    wadSlashed: DynArray[uint256, MAX_STRATEGIES]
    description: String[256]


# The DelegationManager.
delegation: public(immutable(address))
# Smallest allocation delay an operator may choose (blocks): new allocations become slashable
# only after delegators had this long to leave.
MIN_ALLOCATION_DELAY: public(immutable(uint32))
# The StrategyManager (read from the DelegationManager at deployment).
strategyManager: public(immutable(address))
# Blocks a deallocation or deregistration stays slashable.
DEALLOCATION_DELAY: public(immutable(uint32))
# Blocks before a changed allocation delay, or a new slasher, takes effect (EigenLayer's
# ALLOCATION_CONFIGURATION_DELAY, which is also its SLASHER_CONFIGURATION_DELAY).
ALLOCATION_CONFIGURATION_DELAY: public(immutable(uint32))
# The AllocationManagerExtension: the colder entry points, run here by delegatecall.
extension: public(immutable(address))
# The PermissionController (read from the DelegationManager): who may act for an operator, AVS
# or slasher (EigenLayer's checkCanCall at every entry point that acts for one).
permissionController: public(immutable(address))

# This contract's state lives in allocation_storage (shared with the extension); see its header.

@deploy
def __init__(_delegation: address, _deallocationDelay: uint32, _allocationConfigurationDelay: uint32, _minAllocationDelay: uint32, _extension: address):
    """
    @notice Deploy with the DelegationManager (whose StrategyManager is read from it), the delays
            and the AllocationManagerExtension deployed with the same arguments.
    @dev Reverts "extension mismatch" unless the extension's delegation and delays are these.
    @param _delegation The DelegationManager.
    @param _deallocationDelay Blocks a deallocation or deregistration stays slashable (DEALLOCATION_DELAY).
    @param _allocationConfigurationDelay Blocks before a changed allocation delay or slasher takes effect (ALLOCATION_CONFIGURATION_DELAY).
    @param _minAllocationDelay Smallest allocation delay an operator may set (MIN_ALLOCATION_DELAY).
    @param _extension The AllocationManagerExtension.
    """
    ext: IAllocationManagerExtension = IAllocationManagerExtension(_extension)
    assert staticcall ext.delegation() == _delegation, "extension mismatch"
    assert staticcall ext.DEALLOCATION_DELAY() == _deallocationDelay, "extension mismatch"
    assert staticcall ext.ALLOCATION_CONFIGURATION_DELAY() == _allocationConfigurationDelay, "extension mismatch"
    assert staticcall ext.MIN_ALLOCATION_DELAY() == _minAllocationDelay, "extension mismatch"
    extension = _extension
    delegation = _delegation
    permissionController = staticcall IDelegationManager(_delegation).permissionController()
    strategyManager = staticcall IDelegationManager(_delegation).strategyManager()
    DEALLOCATION_DELAY = _deallocationDelay
    ALLOCATION_CONFIGURATION_DELAY = _allocationConfigurationDelay
    MIN_ALLOCATION_DELAY = _minAllocationDelay
    pausable.__init__(staticcall IDelegationManager(_delegation).pauserRegistry())


@internal
def _forward():
    # Run this call's function in the extension, in this contract's storage; a revert there
    # reverts here with the same reason.
    raw_call(extension, msg.data, is_delegate_call=True)


# ---------------------------------------------------------------- AVS and operator sets

@external
def updateAVSMetadataURI(avs: address, metadataURI: String[1024]):
    """
    @notice Register the AVS (the caller) and emit its metadata URI.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param metadataURI The metadata URI (emitted only).
    """
    self._forward()


@external
def setAVSRegistrar(avs: address, registrar: address):
    """
    @notice Set the contract called back when operators register or deregister for the AVS's
            sets (zero: no callback). It must report supportsAVS(avs).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param registrar The registrar contract (zero: none).
    """
    self._forward()


@external
def createOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, MAX_SETS], resolvers: DynArray[address, MAX_SETS] = []):
    """
    @notice Create burning operator sets: slashed funds go to the burn address after the
            resolution window. EigenLayer's ABI (CreateSetParamsV2: id, strategies, slasher);
            slasher zero means the AVS itself.
    @dev Two selectors: EigenLayer's `createOperatorSets(address,(uint32,address[],address)[])`
         (no resolvers) and this project's with a trailing `address[] resolvers`.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param params One CreateSetParams per set.
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    self._forward()


@external
def createRedistributingOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, MAX_SETS], redistributionRecipients: DynArray[address, MAX_SETS], resolvers: DynArray[address, MAX_SETS] = []):
    """
    @notice Create operator sets whose slashed funds go to a recipient fixed forever here.
            Operators must consent (setRedistributionConsent) before registering.
    @dev Two selectors: EigenLayer's `createRedistributingOperatorSets(address,
         (uint32,address[],address)[],address[])` and this project's with trailing resolvers.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param params One CreateSetParams per set.
    @param redistributionRecipients The recipient of each set (same order).
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    self._forward()


@external
def addStrategiesToOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES]):
    """
    @notice Add strategies to a set; existing allocations to them become slashable at once.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to add.
    """
    self._forward()


@external
def removeStrategiesFromOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES]):
    """
    @notice Remove strategies from a set (pending deallocations keep their full delay).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to remove.
    """
    self._forward()


@external
def updateSlasher(operatorSet: ITypes.OperatorSet, slasher: address):
    """
    @notice Appoint the set's next slasher (EigenLayer's updateSlasher). It takes over
            ALLOCATION_CONFIGURATION_DELAY + 1 blocks from now (SlasherUpdated carries that
            block); until then the current slasher alone may slash. A second update before
            then replaces the pending slasher and restarts the delay.
    @dev Reverts "only avs", "zero address", "invalid operator set".
    @param operatorSet The operator set (avs, id); the caller must act for its AVS (PermissionController.canCall).
    @param slasher The new slasher (not zero).
    """
    self._forward()


# ---------------------------------------------------------------- registration

@external
def setRedistributionConsent(operator: address, operatorSet: ITypes.OperatorSet, accepted: bool):
    """
    @notice An operator's explicit opt-in (or opt-out) to a redistributing set.
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param operatorSet The operator set (avs, id).
    @param accepted True to accept, False to withdraw consent.
    """
    self._forward()


@external
def registerForOperatorSets(operator: address, params: RegisterParams):
    """
    @notice Register the operator (the caller) for sets of one AVS; the AVS's registrar, if any,
            is called and may reject by reverting. Re-registering waits until the old slashable
            window has passed. Starts a registration interval in the set's membership history
            (isMemberOfOperatorSetAt, getMemberCountAt).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param params (avs, operatorSetIds, data); data is passed to the registrar.
    """
    self._forward()


@external
def deregisterFromOperatorSets(params: DeregisterParams):
    """
    @notice Deregister an operator (by itself or the AVS); it stays slashable by those sets for
            DEALLOCATION_DELAY blocks.
    @param params (operator, avs, operatorSetIds).
    """
    self._forward()


# ---------------------------------------------------------------- allocations

@external
def setAllocationDelay(operator: address, delay: uint32):
    """
    @notice Set the operator's allocation delay (blocks before a new allocation takes effect).
            Takes effect after ALLOCATION_CONFIGURATION_DELAY blocks; at once when the
            DelegationManager sets it for a new operator.
    @param operator The operator (the caller acts for it, or is the DelegationManager on registration).
    @param delay The allocation delay in blocks.
    """
    self._forward()


@internal
def _clear_queue(operator: address, strategy: address, num: uint256):
    head: uint256 = st.deallocationQueueHead[operator][strategy]
    tail: uint256 = st.deallocationQueueTail[operator][strategy]
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    changed: bool = False
    for _: uint256 in range(MAX_QUEUE_CLEAR):
        if head >= tail or _ >= num:
            break
        key: bytes32 = st.deallocationQueue[operator][strategy][head]
        word: uint256 = st.allocations[operator][key][strategy]
        a: st.Allocation = st._unpack_allocation(word)
        # An entry is stale when its deallocation was already applied by another write-back
        # (a slash, or modifyAllocations of that set); it may then point at a later change.
        if a.effectBlock != 0 and a.pendingDiff < 0:
            if block.number < convert(a.effectBlock, uint256):
                break
            delta: int256 = 0
            a, delta = st._updated(operator, key, strategy)
            enc = convert(convert(enc, int256) + delta, uint256)
            st._write_allocation(operator, key, strategy, a)
            changed = True
        head += 1
    st.deallocationQueueHead[operator][strategy] = head
    if changed:
        st._store_strategy_info(operator, strategy, max_mag, enc)
        log EncumberedMagnitudeUpdated(operator=operator, strategy=strategy, encumberedMagnitude=convert(enc, uint64))


@external
def clearDeallocationQueue(operator: address, strategies: DynArray[address, MAX_STRATEGIES], numToClear: DynArray[uint16, MAX_STRATEGIES]):
    """
    @notice Free the magnitude of completed deallocations (anyone may call).
    @param operator The operator.
    @param strategies The strategies whose queues to clear.
    @param numToClear At most this many entries per strategy (same order).
    """
    assert len(strategies) == len(numToClear), "input length mismatch"
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(strategies):
            break
        self._clear_queue(operator, strategies[i], convert(numToClear[i], uint256))


@external
def modifyAllocations(operator: address, params: DynArray[AllocateParams, MAX_SETS]):
    """
    @notice Change the operator's magnitudes for sets and strategies. Each change names the
            magnitude it expects to replace (compare-and-set) and reverts if it differs, so a slash
            landing first cannot turn a deallocation into an allocation. Allocations encumber at
            once and take effect after the allocation delay; deallocations of slashable stake
            take effect after DEALLOCATION_DELAY + 1 blocks, others at once.
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param params One AllocateParams per set: strategies, new and expected current magnitudes.
    """
    assert permissioned._can_call(permissionController, operator), "only operator"
    delay_set: bool = False
    delay: uint32 = 0
    delay_set, delay = st._allocation_delay(operator)
    assert delay_set, "uninitialized allocation delay"
    for p: AllocateParams in params:
        key: bytes32 = st._key(p.operatorSet.avs, p.operatorSet.id)
        assert st._isOperatorSet[key], "invalid operator set"
        n: uint256 = len(p.strategies)
        assert n == len(p.newMagnitudes) and n == len(p.expectedMagnitudes), "input length mismatch"
        slashable_set: bool = st._is_slashable(operator, key)
        for i: uint256 in range(MAX_STRATEGIES):
            if i >= n:
                break
            strategy: address = p.strategies[i]
            self._clear_queue(operator, strategy, MAX_QUEUE_CLEAR)
            a: st.Allocation = empty(st.Allocation)
            delta: int256 = 0
            a, delta = st._updated(operator, key, strategy)
            max_mag: uint256 = 0
            enc: uint256 = 0
            max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
            enc = convert(convert(enc, int256) + delta, uint256)
            assert a.effectBlock == 0, "modification already pending"
            assert a.currentMagnitude == p.expectedMagnitudes[i], "magnitude changed"
            new_mag: uint64 = p.newMagnitudes[i]
            assert new_mag != a.currentMagnitude, "same magnitude"
            cur: uint256 = convert(a.currentMagnitude, uint256)
            if new_mag < a.currentMagnitude:
                if slashable_set and st._isOperatorSetStrategy[key][strategy] and cur != 0:
                    a.pendingDiff = -convert(cur - convert(new_mag, uint256), int128)
                    a.effectBlock = convert(block.number + convert(DEALLOCATION_DELAY, uint256) + 1, uint32)
                    tail: uint256 = st.deallocationQueueTail[operator][strategy]
                    st.deallocationQueue[operator][strategy][tail] = key
                    st.deallocationQueueTail[operator][strategy] = tail + 1
                else:
                    enc -= cur - convert(new_mag, uint256)
                    a.currentMagnitude = new_mag
            else:
                enc += convert(new_mag, uint256) - cur
                assert enc <= max_mag, "insufficient magnitude"
                a.pendingDiff = convert(convert(new_mag, uint256) - cur, int128)
                a.effectBlock = convert(block.number + convert(delay, uint256), uint32)
            st._write_allocation(operator, key, strategy, a)
            st._store_strategy_info(operator, strategy, max_mag, enc)
            log AllocationUpdated(operator=operator, operatorSet=p.operatorSet, strategy=strategy, magnitude=new_mag, effectBlock=a.effectBlock)
            log EncumberedMagnitudeUpdated(operator=operator, strategy=strategy, encumberedMagnitude=convert(enc, uint64))


# ---------------------------------------------------------------- slashing

@external
@nonreentrant
def slashOperator(avs: address, params: ITypes.SlashingParams) -> (uint256, DynArray[uint256, MAX_STRATEGIES]):
    """
    @notice Slash `params.operator` in set (avs, operatorSetId) by wadsToSlash[i] of its
            allocation to each strategy (strictly ascending addresses). Only the set's slasher now
            (getSlasher), or who acts for it (PermissionController.canCall).
            The slashed magnitude is removed from the allocation, the encumbered and the max
            magnitude (rounded up, so a slash never rounds to nothing); stake falls pro rata for
            every staker and the tokens go to the slash escrow.
    @param avs The AVS of the set.
    @param params The SlashingParams (strategies in ascending order).
    @return (slashId, strategy shares slashed per strategy)
    """
    pausable._check_not_paused(PAUSED_OPERATOR_SLASHING)
    key: bytes32 = st._key(avs, params.operatorSetId)
    assert st._isOperatorSet[key], "invalid operator set"
    assert permissioned._can_call(permissionController, st._effective_slasher(key)), "only slasher"
    operator: address = params.operator
    assert st._is_slashable(operator, key), "operator not slashable"
    n: uint256 = len(params.strategies)
    assert n != 0 and n == len(params.wadsToSlash), "input length mismatch"
    slash_id: uint256 = st._slashIds[key] + 1
    st._slashIds[key] = slash_id
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    wads_slashed: DynArray[uint256, MAX_STRATEGIES] = []
    prev_strategy: uint256 = 0
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= n:
            break
        strategy: address = params.strategies[i]
        assert i == 0 or convert(strategy, uint256) > prev_strategy, "strategies not ascending"
        prev_strategy = convert(strategy, uint256)
        assert st._isOperatorSetStrategy[key][strategy], "strategy not in set"
        wad: uint256 = params.wadsToSlash[i]
        assert wad != 0 and wad <= WAD, "invalid wad to slash"
        a: st.Allocation = empty(st.Allocation)
        delta: int256 = 0
        a, delta = st._updated(operator, key, strategy)
        if a.currentMagnitude == 0:
            shares.append(0)
            wads_slashed.append(0)
            continue
        max_mag: uint256 = 0
        enc: uint256 = 0
        max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
        enc = convert(convert(enc, int256) + delta, uint256)
        cur: uint256 = convert(a.currentMagnitude, uint256)
        slashed_mag: uint256 = (cur * wad + WAD - 1) // WAD
        a.currentMagnitude = convert(cur - slashed_mag, uint64)
        if a.pendingDiff < 0:
            pending: uint256 = convert(-a.pendingDiff, uint256)
            a.pendingDiff += convert((pending * wad + WAD - 1) // WAD, int128)
        new_max: uint256 = max_mag - slashed_mag
        enc -= slashed_mag
        st._write_allocation(operator, key, strategy, a)
        st._store_strategy_info(operator, strategy, new_max, enc)
        opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=params.operatorSetId)
        log AllocationUpdated(operator=operator, operatorSet=opset, strategy=strategy, magnitude=a.currentMagnitude, effectBlock=convert(block.number, uint32))
        log EncumberedMagnitudeUpdated(operator=operator, strategy=strategy, encumberedMagnitude=convert(enc, uint64))
        log MaxMagnitudeUpdated(operator=operator, strategy=strategy, maxMagnitude=convert(new_max, uint64))
        wads_slashed.append(slashed_mag * WAD // max_mag)
        shares.append(extcall IDelegationManager(delegation).slashOperatorShares(operator, avs, params.operatorSetId, slash_id, strategy, convert(max_mag, uint64), convert(new_max, uint64)))
    log OperatorSlashed(operator=operator, operatorSet=ITypes.OperatorSet(avs=avs, id=params.operatorSetId), slashId=slash_id, strategies=params.strategies, wadSlashed=wads_slashed, description=params.description)
    return slash_id, shares


@external
def restoreSlashedMagnitude(operator: address, strategy: address, magnitude: uint64):
    """
    @notice Give back the max magnitude a cancelled slash took (SlashEscrow only). It returns as
            unallocated magnitude: no set's allocation changes without the operator, and every
            other set's share of the (restored) stake is what it was before the slash.
    @param operator The operator.
    @param strategy The strategy.
    @param magnitude The magnitude to give back.
    """
    self._forward()


# ---------------------------------------------------------------- views

@internal
@view
def _effective_encumbered(operator: address, strategy: address) -> uint256:
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    head: uint256 = st.deallocationQueueHead[operator][strategy]
    tail: uint256 = st.deallocationQueueTail[operator][strategy]
    seen: DynArray[bytes32, MAX_QUEUE_CLEAR] = []
    for j: uint256 in range(MAX_QUEUE_CLEAR):
        if head + j >= tail:
            break
        key: bytes32 = st.deallocationQueue[operator][strategy][head + j]
        a: st.Allocation = st._unpack_allocation(st.allocations[operator][key][strategy])
        if a.effectBlock != 0 and a.pendingDiff < 0:
            if block.number < convert(a.effectBlock, uint256):
                break
            if key not in seen:  # a stale entry and a live one may name the same set
                enc = convert(convert(enc, int256) + convert(a.pendingDiff, int256), uint256)
                seen.append(key)
    return enc


@external
@view
def getAllocation(operator: address, operatorSet: ITypes.OperatorSet, strategy: address) -> st.Allocation:
    """
    @notice The operator's allocation to (set, strategy), with any due change applied.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @param strategy The strategy.
    @return The st.Allocation (currentMagnitude, pendingDiff, effectBlock).
    """
    a: st.Allocation = empty(st.Allocation)
    delta: int256 = 0
    a, delta = st._updated(operator, st._key(operatorSet.avs, operatorSet.id), strategy)
    return a


@external
@view
def getMaxMagnitude(operator: address, strategy: address) -> uint64:
    """
    @notice The operator's max magnitude for `strategy` (WAD until slashed; never rises).
    @param operator The operator.
    @param strategy The strategy.
    @return The max magnitude.
    """
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    return convert(max_mag, uint64)


@external
@view
def getMaxMagnitudes(operator: address, strategies: DynArray[address, MAX_STRATEGIES]) -> DynArray[uint64, MAX_STRATEGIES]:
    """
    @notice getMaxMagnitude for several strategies.
    @param operator The operator.
    @param strategies The strategies.
    @return The max magnitude of each strategy.
    """
    out: DynArray[uint64, MAX_STRATEGIES] = []
    for s: address in strategies:
        out.append(convert(WAD - (st._strategyInfo[operator][s] & U64), uint64))
    return out


@external
@view
def getEncumberedMagnitude(operator: address, strategy: address) -> uint64:
    """
    @notice Magnitude committed to sets, incl. pending increases and not-yet-due decreases.
    @param operator The operator.
    @param strategy The strategy.
    @return The encumbered magnitude.
    """
    return convert(self._effective_encumbered(operator, strategy), uint64)


@external
@view
def getAllocatableMagnitude(operator: address, strategy: address) -> uint64:
    """
    @notice Magnitude the operator can still allocate (max - encumbered).
    @param operator The operator.
    @param strategy The strategy.
    @return The allocatable magnitude.
    """
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    return convert(max_mag - self._effective_encumbered(operator, strategy), uint64)


@external
@view
def getMaxMagnitudesAtBlock(operator: address, strategies: DynArray[address, MAX_STRATEGIES], blockNumber: uint32) -> DynArray[uint64, MAX_STRATEGIES]:
    """
    @notice The operator's max magnitude of each strategy as of `blockNumber` (EigenLayer's
            getMaxMagnitudesAtBlock): WAD before its first slash; a slash lowers it from its own
            block on, a cancelled slash's restoration raises it from the cancel's block on.
    @param operator The operator.
    @param strategies The strategies.
    @param blockNumber The block (a future block reads as the current one).
    @return The max magnitude of each strategy at that block.
    """
    out: DynArray[uint64, MAX_STRATEGIES] = []
    for s: address in strategies:
        out.append(convert(st._max_magnitude_at(operator, s, convert(blockNumber, uint256)), uint64))
    return out


@external
@view
def getRegisteredSets(operator: address, start: uint256 = 0, length: uint256 = st.MAX_PAGE) -> DynArray[ITypes.OperatorSet, st.MAX_PAGE]:
    """
    @notice The sets the operator is registered for, in no particular order (EigenLayer's
            getRegisteredSets(operator): the first 1,024; and a paged form).
    @dev Reverts "page too long" for a length above 1,024; a start at or past the end returns
         nothing. getRegisteredSetCount gives the number of pages.
    @param operator The operator.
    @param start The position of the first set to return.
    @param length The most sets to return (at most 1,024).
    @return The operator sets (avs, id).
    """
    assert length <= st.MAX_PAGE, "page too long"
    out: DynArray[ITypes.OperatorSet, st.MAX_PAGE] = []
    for i: uint256 in range(start, start + length, bound=st.MAX_PAGE):
        if i >= st._registeredSetCount[operator]:
            break
        out.append(st._operator_set(st._registeredSets[operator][i]))
    return out


@external
@view
def getAllocatedSets(operator: address, start: uint256 = 0, length: uint256 = st.MAX_PAGE) -> DynArray[ITypes.OperatorSet, st.MAX_PAGE]:
    """
    @notice The sets the operator has a non-zero or pending allocation to, in no particular order
            (EigenLayer's getAllocatedSets(operator): the first 1,024; and a paged form). A
            deallocation to zero leaves the list when it is applied (clearDeallocationQueue,
            modifyAllocations or a slash of that set), as in EigenLayer.
    @dev Reverts "page too long" for a length above 1,024.
    @param operator The operator.
    @param start The position of the first set to return.
    @param length The most sets to return (at most 1,024).
    @return The operator sets (avs, id).
    """
    assert length <= st.MAX_PAGE, "page too long"
    out: DynArray[ITypes.OperatorSet, st.MAX_PAGE] = []
    for i: uint256 in range(start, start + length, bound=st.MAX_PAGE):
        if i >= st._allocatedSetCount[operator]:
            break
        out.append(st._operator_set(st._allocatedSets[operator][i]))
    return out


@external
@view
def getAllocatedStrategies(operator: address, operatorSet: ITypes.OperatorSet, start: uint256 = 0, length: uint256 = st.MAX_PAGE) -> DynArray[address, st.MAX_PAGE]:
    """
    @notice The strategies the operator has a non-zero or pending allocation of to the set, in
            no particular order (EigenLayer's getAllocatedStrategies(operator, set); and a paged
            form). Same lifetime as getAllocatedSets.
    @dev Reverts "page too long" for a length above 1,024.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @param start The position of the first strategy to return.
    @param length The most strategies to return (at most 1,024).
    @return The strategies.
    """
    assert length <= st.MAX_PAGE, "page too long"
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    n: uint256 = st._allocatedStrategyCount[operator][key] & st.U128
    out: DynArray[address, st.MAX_PAGE] = []
    for i: uint256 in range(start, start + length, bound=st.MAX_PAGE):
        if i >= n:
            break
        out.append(st._allocatedStrategies[operator][key][i])
    return out


@external
@view
def getRegisteredSetCount(operator: address) -> uint256:
    """
    @notice Number of sets the operator is registered for.
    @param operator The operator.
    @return The number of sets.
    """
    return st._registeredSetCount[operator]


@external
@view
def getAllocationDelay(operator: address) -> (bool, uint32):
    """
    @notice (isSet, delay) of the operator's allocation delay now.
    @param operator The operator.
    @return (isSet, delay).
    """
    return st._allocation_delay(operator)


@internal
@view
def _stake(operator: address, key: bytes32, strategy: address, future_block: uint256) -> uint256:
    a: st.Allocation = empty(st.Allocation)
    delta: int256 = 0
    a, delta = st._updated(operator, key, strategy)
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    if max_mag == 0:
        return 0
    mag: uint256 = convert(a.currentMagnitude, uint256)
    if a.pendingDiff < 0 and convert(a.effectBlock, uint256) <= future_block:
        mag -= convert(-a.pendingDiff, uint256)
    return staticcall IDelegationManager(delegation).operatorShares(operator, strategy) * mag // max_mag


@external
@view
def getAllocatedStake(operatorSet: ITypes.OperatorSet, operators: DynArray[address, MAX_OPERATORS], strategies: DynArray[address, MAX_STRATEGIES]) -> DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS]:
    """
    @notice Shares each operator has allocated to the set in each strategy, now.
    @param operatorSet The operator set (avs, id).
    @param operators The operators.
    @param strategies The strategies.
    @return Allocated shares, [operator][strategy].
    """
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    out: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS] = []
    for op: address in operators:
        row: DynArray[uint256, MAX_STRATEGIES] = []
        for s: address in strategies:
            row.append(self._stake(op, key, s, 0))
        out.append(row)
    return out


@internal
@view
def _stake_at(operator: address, key: bytes32, strategy: address, blk: uint256) -> uint256:
    mag: uint256 = convert(st._allocation_at(operator, key, strategy, blk).currentMagnitude, uint256)
    if mag == 0:
        return 0
    return staticcall IDelegationManager(delegation).operatorSharesAt(operator, strategy, blk) * mag // st._max_magnitude_at(operator, strategy, blk)


@external
@view
def getAllocatedStakeAt(operatorSet: ITypes.OperatorSet, operators: DynArray[address, MAX_OPERATORS], strategies: DynArray[address, MAX_STRATEGIES], blockNumber: uint32) -> DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS]:
    """
    @notice Shares each operator had allocated to the set in each strategy as of the end of
            `blockNumber`: operatorSharesAt(operator, strategy, block) * magnitude(block) //
            maxMagnitude(block), the formula of getAllocatedStake on the histories (a pending
            allocation counts from its effect block on, a deallocation until then; a slash
            from its own block). Whatever the operator's registration (isMemberOfOperatorSetAt).
    @param operatorSet The operator set (avs, id).
    @param operators The operators.
    @param strategies The strategies.
    @param blockNumber The block (a future block reads the current values, with pending changes
           due by then applied).
    @return Allocated shares, [operator][strategy].
    """
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    blk: uint256 = convert(blockNumber, uint256)
    out: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS] = []
    for op: address in operators:
        row: DynArray[uint256, MAX_STRATEGIES] = []
        for s: address in strategies:
            row.append(self._stake_at(op, key, s, blk))
        out.append(row)
    return out


@external
@view
def getAllocationAt(operator: address, operatorSet: ITypes.OperatorSet, strategy: address, blockNumber: uint32) -> st.Allocation:
    """
    @notice The operator's allocation to (set, strategy) as of the end of `blockNumber`, with
            a change due by then applied (getAllocation at that block).
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @param strategy The strategy.
    @param blockNumber The block.
    @return The Allocation (currentMagnitude, pendingDiff, effectBlock).
    """
    return st._allocation_at(operator, st._key(operatorSet.avs, operatorSet.id), strategy, convert(blockNumber, uint256))


@external
@view
def isMemberOfOperatorSetAt(operator: address, operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> bool:
    """
    @notice Whether the operator was registered for the set as of the end of `blockNumber`
            (registered in a block up to it and not deregistered in a block up to it).
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @param blockNumber The block.
    @return True if it was a member then.
    """
    return st._is_member_at(operator, st._key(operatorSet.avs, operatorSet.id), convert(blockNumber, uint256))


@external
@view
def getMemberCountAt(operatorSet: ITypes.OperatorSet, blockNumber: uint32) -> uint256:
    """
    @notice Number of operators registered for the set as of the end of `blockNumber`.
    @param operatorSet The operator set (avs, id).
    @param blockNumber The block.
    @return The number of members then.
    """
    return st._member_count_at(st._key(operatorSet.avs, operatorSet.id), convert(blockNumber, uint256))


@external
@view
def getMinimumSlashableStake(operatorSet: ITypes.OperatorSet, operators: DynArray[address, MAX_OPERATORS], strategies: DynArray[address, MAX_STRATEGIES], futureBlock: uint32) -> DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS]:
    """
    @notice Shares the set can surely slash from each operator from now until `futureBlock`:
            pending deallocations due by then are deducted; zero where the operator is not
            slashable by the set (or stops being slashable before `futureBlock`).
    @param operatorSet The operator set (avs, id).
    @param operators The operators.
    @param strategies The strategies.
    @param futureBlock The last block of the period.
    @return Slashable shares, [operator][strategy].
    """
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    out: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS] = []
    fb: uint256 = max(convert(futureBlock, uint256), block.number)
    for op: address in operators:
        row: DynArray[uint256, MAX_STRATEGIES] = []
        reg: uint256 = st.registrationStatus[op][key]
        slashable: bool = (reg & 1) == 1 or fb <= (reg >> 1) & U32
        for s: address in strategies:
            if slashable and st._isOperatorSetStrategy[key][s]:
                row.append(self._stake(op, key, s, fb))
            else:
                row.append(0)
        out.append(row)
    return out


@external
@view
def isOperatorSlashable(operator: address, operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Registered, or deregistered less than DEALLOCATION_DELAY blocks ago.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return True if the set can slash the operator.
    """
    return st._is_slashable(operator, st._key(operatorSet.avs, operatorSet.id))


@external
@view
def isMemberOfOperatorSet(operator: address, operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the operator is registered for the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return True if registered.
    """
    return (st.registrationStatus[operator][st._key(operatorSet.avs, operatorSet.id)] & 1) == 1


@external
@view
def getRegistrationStatus(operator: address, operatorSet: ITypes.OperatorSet) -> (bool, uint32):
    """
    @notice (registered, slashableUntil) of the operator in the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return (registered, slashableUntil).
    """
    reg: uint256 = st.registrationStatus[operator][st._key(operatorSet.avs, operatorSet.id)]
    return (reg & 1) == 1, convert((reg >> 1) & U32, uint32)


@external
@view
def getMemberCount(operatorSet: ITypes.OperatorSet) -> uint256:
    """
    @notice Number of operators registered for the set.
    @param operatorSet The operator set (avs, id).
    @return The number of members.
    """
    return st._operatorSetMemberCount[st._key(operatorSet.avs, operatorSet.id)] & U64


@external
@view
def getMembers(operatorSet: ITypes.OperatorSet, start: uint256 = 0, length: uint256 = MAX_MEMBERS_PAGE) -> DynArray[address, MAX_MEMBERS_PAGE]:
    """
    @notice The operators registered for the set, in no particular order (a deregistration
            moves the last member into the leaver's place): EigenLayer's `getMembers(set)`
            (the first 1,024 members) and a paged variant `getMembers(set, start, length)`.
    @dev Reverts "page too long" for a length above 1,024; a start at or past the end returns
         nothing. getMemberCount gives the number of pages.
    @param operatorSet The operator set (avs, id).
    @param start The position of the first member to return.
    @param length The most members to return (at most 1,024).
    @return The members at positions start .. start + length - 1.
    """
    assert length <= MAX_MEMBERS_PAGE, "page too long"
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    out: DynArray[address, MAX_MEMBERS_PAGE] = []
    count: uint256 = st._operatorSetMemberCount[key] & U64
    for i: uint256 in range(start, start + length, bound=MAX_MEMBERS_PAGE):
        if i >= count:
            break
        out.append(st._operatorSetMembers[key][i])
    return out


@external
@view
def isOperatorSet(operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the set exists.
    @param operatorSet The operator set (avs, id).
    @return True if the set exists.
    """
    return st._isOperatorSet[st._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getOperatorSetCount(avs: address) -> uint256:
    """
    @notice Number of sets the AVS created.
    @param avs The AVS.
    @return The number of sets.
    """
    return st.operatorSetCount[avs]


@external
@view
def getStrategiesInOperatorSet(operatorSet: ITypes.OperatorSet) -> DynArray[address, MAX_STRATEGIES]:
    """
    @notice The set's strategies.
    @param operatorSet The operator set (avs, id).
    @return The strategies.
    """
    return st._operatorSetStrategies[st._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getRedistributionRecipient(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice Where the set's slashed funds go (the burn address for burning sets).
    @param operatorSet The operator set (avs, id).
    @return The recipient address.
    """
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    assert st._isOperatorSet[key], "invalid operator set"
    return st._redistributionRecipients[key]


@external
@view
def isRedistributingOperatorSet(operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the set redistributes (rather than burns) slashed funds.
    @param operatorSet The operator set (avs, id).
    @return True if the set redistributes.
    """
    r: address = st._redistributionRecipients[st._key(operatorSet.avs, operatorSet.id)]
    return r != empty(address) and r != DEFAULT_BURN_ADDRESS


@external
@view
def getSlasher(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice The only address that may slash the set's operators now: the pending slasher
            once its effect block has come, the previous one before.
    @param operatorSet The operator set (avs, id).
    @return The slasher (zero for a set that does not exist).
    """
    return st._effective_slasher(st._key(operatorSet.avs, operatorSet.id))


@external
@view
def getPendingSlasher(operatorSet: ITypes.OperatorSet) -> (address, uint32):
    """
    @notice The slasher appointed by updateSlasher that has not taken over yet, and the block
            from which it will.
    @param operatorSet The operator set (avs, id).
    @return (pendingSlasher, effectBlock); (zero, 0) when no change is pending.
    """
    slasher: address = empty(address)
    pending: address = empty(address)
    effect: uint256 = 0
    slasher, pending, effect = st._slasher(st._key(operatorSet.avs, operatorSet.id))
    return pending, convert(effect, uint32)


@external
@view
def getResolver(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice The address that may cancel the set's slashes during the resolution window.
    @param operatorSet The operator set (avs, id).
    @return The resolver (zero: none).
    """
    return st._resolvers[st._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getSlashCount(operatorSet: ITypes.OperatorSet) -> uint256:
    """
    @notice Number of slashes of the set so far (the last slashId).
    @param operatorSet The operator set (avs, id).
    @return The number of slashes.
    """
    return st._slashIds[st._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getAVSRegistrar(avs: address) -> address:
    """
    @notice The AVS's registrar (zero: none).
    @param avs The AVS.
    @return The registrar.
    """
    return st._avsRegistrar[avs]


@external
@view
def getRedistributionConsent(operator: address, operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the operator accepted redistribution by the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return True if the operator consented.
    """
    return st._redistributionConsent[operator][st._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getDeallocationQueueLength(operator: address, strategy: address) -> uint256:
    """
    @notice Deallocations of (operator, strategy) not yet cleared.
    @param operator The operator.
    @param strategy The strategy.
    @return The queue length.
    """
    return st.deallocationQueueTail[operator][strategy] - st.deallocationQueueHead[operator][strategy]
