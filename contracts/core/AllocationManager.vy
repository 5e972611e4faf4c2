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
     Hot records are packed by hand: an Allocation and a (max, encumbered) pair in one slot each.
"""

from ..interfaces import IDelegationManager
from ..interfaces import ITypes
from ..interfaces import IStrategyManager
from ..interfaces import IAVSRegistrar
from ..interfaces import IAllocationManager
from ..interfaces import IAllocationManagerAVS
from ..permissions import pausable

implements: IAllocationManager
implements: IAllocationManagerAVS

initializes: pausable
exports: (pausable.pauserRegistry, pausable.paused, pausable.setPausedStatus)

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

struct Allocation:
    currentMagnitude: uint64
    pendingDiff: int128
    effectBlock: uint32

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
# Blocks before a changed allocation delay takes effect.
ALLOCATION_CONFIGURATION_DELAY: public(immutable(uint32))

# avs -> has called updateAVSMetadataURI (required before creating sets).
avsRegisteredMetadata: public(HashMap[address, bool])
# avs -> the contract called back on (de)registration (zero: none).
_avsRegistrar: HashMap[address, address]
# avs -> number of operator sets it created.
operatorSetCount: HashMap[address, uint256]
# operator set key -> the set exists.
_isOperatorSet: HashMap[bytes32, bool]
# operator set key -> its strategies.
_operatorSetStrategies: HashMap[bytes32, DynArray[address, MAX_STRATEGIES]]
# operator set key -> strategy -> the strategy is in the set.
_isOperatorSetStrategy: HashMap[bytes32, HashMap[address, bool]]
# operator set key -> where slashed funds go (DEFAULT_BURN_ADDRESS: burning set).
_redistributionRecipients: HashMap[bytes32, address]
# operator set key -> the only address that may slash.
_slashers: HashMap[bytes32, address]
# operator set key -> the address that may cancel escrowed slashes (zero: none).
_resolvers: HashMap[bytes32, address]
# operator set key -> number of slashes so far (the last slashId).
_slashIds: HashMap[bytes32, uint256]
# operator set key -> number of registered operators.
_operatorSetMemberCount: HashMap[bytes32, uint256]
# operator set key -> position -> registered operator (positions 0 .. count - 1, unordered).
_operatorSetMembers: HashMap[bytes32, HashMap[uint256, address]]
# registration: bit 0 registered, bits 1..32 slashableUntil (deregistered), bits 33.. the
# operator's position in _operatorSetMembers plus one (registered)
registrationStatus: HashMap[address, HashMap[bytes32, uint256]]
# operator -> operator set key -> the operator accepted redistribution by the set.
_redistributionConsent: HashMap[address, HashMap[bytes32, bool]]
# allocation delay: delay | isSet << 32 | pendingDelay << 33 | effectBlock << 65
_allocationDelayInfo: HashMap[address, uint256]
# allocation: currentMagnitude | (pendingDiff as two's complement uint128) << 64 | effectBlock << 192
allocations: HashMap[address, HashMap[bytes32, HashMap[address, uint256]]]
# strategy info: (WAD - maxMagnitude) | encumberedMagnitude << 64   (zero = fresh operator)
_strategyInfo: HashMap[address, HashMap[address, uint256]]
# operator -> strategy -> position -> operator set key of a pending deallocation (FIFO).
deallocationQueue: HashMap[address, HashMap[address, HashMap[uint256, bytes32]]]
# operator -> strategy -> position of the oldest uncleared entry of deallocationQueue.
deallocationQueueHead: HashMap[address, HashMap[address, uint256]]
# operator -> strategy -> position of the next entry of deallocationQueue.
deallocationQueueTail: HashMap[address, HashMap[address, uint256]]


@deploy
def __init__(_delegation: address, _deallocationDelay: uint32, _allocationConfigurationDelay: uint32, _minAllocationDelay: uint32):
    """
    @notice Deploy with the DelegationManager (whose StrategyManager is read from it) and the delays.
    @param _delegation The DelegationManager.
    @param _deallocationDelay Blocks a deallocation or deregistration stays slashable (DEALLOCATION_DELAY).
    @param _allocationConfigurationDelay Blocks before a changed allocation delay takes effect (ALLOCATION_CONFIGURATION_DELAY).
    @param _minAllocationDelay Smallest allocation delay an operator may set (MIN_ALLOCATION_DELAY).
    """
    delegation = _delegation
    strategyManager = staticcall IDelegationManager(_delegation).strategyManager()
    DEALLOCATION_DELAY = _deallocationDelay
    ALLOCATION_CONFIGURATION_DELAY = _allocationConfigurationDelay
    MIN_ALLOCATION_DELAY = _minAllocationDelay
    pausable.__init__(staticcall IDelegationManager(_delegation).pauserRegistry())


# ---------------------------------------------------------------- packing

@internal
@pure
def _key(avs: address, id: uint32) -> bytes32:
    return convert((convert(avs, uint256) << 96) | convert(id, uint256), bytes32)


@internal
@pure
def _unpack_allocation(word: uint256) -> Allocation:
    raw: uint256 = (word >> 64) & U128
    diff: int128 = 0
    if raw >= (1 << 127):
        diff = -convert((1 << 128) - raw, int128)
    else:
        diff = convert(raw, int128)
    return Allocation(currentMagnitude=convert(word & U64, uint64), pendingDiff=diff, effectBlock=convert((word >> 192) & U32, uint32))


@internal
@pure
def _pack_allocation(a: Allocation) -> uint256:
    raw: uint256 = 0
    if a.pendingDiff < 0:
        raw = (1 << 128) - convert(-a.pendingDiff, uint256)
    else:
        raw = convert(a.pendingDiff, uint256)
    return convert(a.currentMagnitude, uint256) | (raw << 64) | (convert(a.effectBlock, uint256) << 192)


@internal
@view
def _max_and_encumbered_magnitude(operator: address, strategy: address) -> (uint256, uint256):
    word: uint256 = self._strategyInfo[operator][strategy]
    return WAD - (word & U64), word >> 64


@internal
def _store_strategy_info(operator: address, strategy: address, max_mag: uint256, encumbered: uint256):
    self._strategyInfo[operator][strategy] = (WAD - max_mag) | (encumbered << 64)


@internal
@view
def _updated(operator: address, key: bytes32, strategy: address) -> (Allocation, int256):
    # The allocation with a due pending change applied, and the change to encumbered magnitude
    # that applying it implies (negative when a deallocation completed).
    a: Allocation = self._unpack_allocation(self.allocations[operator][key][strategy])
    enc_delta: int256 = 0
    if a.effectBlock != 0 and block.number >= convert(a.effectBlock, uint256):
        a.currentMagnitude = convert(convert(a.currentMagnitude, int256) + convert(a.pendingDiff, int256), uint64)
        if a.pendingDiff < 0:
            enc_delta = convert(a.pendingDiff, int256)
        a.pendingDiff = 0
        a.effectBlock = 0
    return a, enc_delta


@internal
@view
def _is_slashable(operator: address, key: bytes32) -> bool:
    reg: uint256 = self.registrationStatus[operator][key]
    return (reg & 1) == 1 or block.number <= (reg >> 1)


@internal
@view
def _allocation_delay(operator: address) -> (bool, uint32):
    word: uint256 = self._allocationDelayInfo[operator]
    delay: uint256 = word & U32
    is_set: bool = ((word >> 32) & 1) == 1
    effect: uint256 = (word >> 65) & U32
    if effect != 0 and block.number >= effect:
        delay = (word >> 33) & U32
        is_set = True
    return is_set, convert(delay, uint32)


# ---------------------------------------------------------------- AVS and operator sets

@external
def updateAVSMetadataURI(avs: address, metadataURI: String[1024]):
    """
    @notice Register the AVS (the caller) and emit its metadata URI.
    @param avs The AVS; must be the caller.
    @param metadataURI The metadata URI (emitted only).
    """
    assert msg.sender == avs, "only avs"
    self.avsRegisteredMetadata[avs] = True
    log AVSMetadataURIUpdated(avs=avs, metadataURI=metadataURI)


@external
def setAVSRegistrar(avs: address, registrar: address):
    """
    @notice Set the contract called back when operators register or deregister for the AVS's
            sets (zero: no callback). It must report supportsAVS(avs).
    @param avs The AVS; must be the caller.
    @param registrar The registrar contract (zero: none).
    """
    assert msg.sender == avs, "only avs"
    if registrar != empty(address):
        assert staticcall IAVSRegistrar(registrar).supportsAVS(avs), "invalid avs registrar"
    self._avsRegistrar[avs] = registrar
    log AVSRegistrarSet(avs=avs, registrar=registrar)


@internal
def _create_sets(avs: address, params: DynArray[ITypes.CreateSetParams, MAX_SETS], recipients: DynArray[address, MAX_SETS], resolvers: DynArray[address, MAX_SETS]):
    assert msg.sender == avs, "only avs"
    assert self.avsRegisteredMetadata[avs], "avs metadata not registered"
    assert len(resolvers) == 0 or len(resolvers) == len(params), "input length mismatch"
    for i: uint256 in range(MAX_SETS):
        if i >= len(params):
            break
        p: ITypes.CreateSetParams = params[i]
        recipient: address = DEFAULT_BURN_ADDRESS
        if len(recipients) != 0:
            recipient = recipients[i]
            assert recipient != empty(address) and recipient != DEFAULT_BURN_ADDRESS, "invalid redistribution recipient"
        resolver: address = empty(address)
        if len(resolvers) != 0:
            resolver = resolvers[i]
        key: bytes32 = self._key(avs, p.operatorSetId)
        assert not self._isOperatorSet[key], "operator set exists"
        slasher: address = p.slasher
        if slasher == empty(address):
            slasher = avs
        self._isOperatorSet[key] = True
        self._slashers[key] = slasher
        self._resolvers[key] = resolver
        self._redistributionRecipients[key] = recipient
        self.operatorSetCount[avs] += 1
        opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=p.operatorSetId)
        log OperatorSetCreated(operatorSet=opset, slasher=slasher, resolver=resolver)
        log RedistributionAddressSet(operatorSet=opset, redistributionRecipient=recipient)
        self._add_strategies(key, opset, p.strategies)


@internal
def _add_strategies(key: bytes32, opset: ITypes.OperatorSet, strategies: DynArray[address, MAX_STRATEGIES]):
    for s: address in strategies:
        assert staticcall IStrategyManager(strategyManager).isStrategy(s), "not a strategy"
        assert not self._isOperatorSetStrategy[key][s], "strategy already in set"
        assert len(self._operatorSetStrategies[key]) < MAX_STRATEGIES, "too many strategies"
        self._isOperatorSetStrategy[key][s] = True
        self._operatorSetStrategies[key].append(s)
        log StrategyAddedToOperatorSet(operatorSet=opset, strategy=s)


@external
def createOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, MAX_SETS], resolvers: DynArray[address, MAX_SETS] = []):
    """
    @notice Create burning operator sets: slashed funds go to the burn address after the
            resolution window. EigenLayer's ABI (CreateSetParamsV2: id, strategies, slasher);
            slasher zero means the AVS itself.
    @dev Two selectors: EigenLayer's `createOperatorSets(address,(uint32,address[],address)[])`
         (no resolvers) and this project's with a trailing `address[] resolvers`.
    @param avs The AVS; must be the caller.
    @param params One CreateSetParams per set.
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    self._create_sets(avs, params, [], resolvers)


@external
def createRedistributingOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, MAX_SETS], redistributionRecipients: DynArray[address, MAX_SETS], resolvers: DynArray[address, MAX_SETS] = []):
    """
    @notice Create operator sets whose slashed funds go to a recipient fixed forever here.
            Operators must consent (setRedistributionConsent) before registering.
    @dev Two selectors: EigenLayer's `createRedistributingOperatorSets(address,
         (uint32,address[],address)[],address[])` and this project's with trailing resolvers.
    @param avs The AVS; must be the caller.
    @param params One CreateSetParams per set.
    @param redistributionRecipients The recipient of each set (same order).
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    assert len(params) == len(redistributionRecipients), "input length mismatch"
    self._create_sets(avs, params, redistributionRecipients, resolvers)


@external
def addStrategiesToOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES]):
    """
    @notice Add strategies to a set; existing allocations to them become slashable at once.
    @param avs The AVS; must be the caller.
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to add.
    """
    assert msg.sender == avs, "only avs"
    key: bytes32 = self._key(avs, operatorSetId)
    assert self._isOperatorSet[key], "invalid operator set"
    self._add_strategies(key, ITypes.OperatorSet(avs=avs, id=operatorSetId), strategies)


@external
def removeStrategiesFromOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, MAX_STRATEGIES]):
    """
    @notice Remove strategies from a set (pending deallocations keep their full delay).
    @param avs The AVS; must be the caller.
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to remove.
    """
    assert msg.sender == avs, "only avs"
    key: bytes32 = self._key(avs, operatorSetId)
    assert self._isOperatorSet[key], "invalid operator set"
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetId)
    for s: address in strategies:
        assert self._isOperatorSetStrategy[key][s], "strategy not in set"
        self._isOperatorSetStrategy[key][s] = False
        lst: DynArray[address, MAX_STRATEGIES] = self._operatorSetStrategies[key]
        n: uint256 = len(lst)
        for j: uint256 in range(MAX_STRATEGIES):
            if j >= n:
                break
            if lst[j] == s:
                lst[j] = lst[n - 1]
                lst.pop()
                break
        self._operatorSetStrategies[key] = lst
        log StrategyRemovedFromOperatorSet(operatorSet=opset, strategy=s)


# ---------------------------------------------------------------- registration

@external
def setRedistributionConsent(operator: address, operatorSet: ITypes.OperatorSet, accepted: bool):
    """
    @notice An operator's explicit opt-in (or opt-out) to a redistributing set.
    @param operator The operator; must be the caller.
    @param operatorSet The operator set (avs, id).
    @param accepted True to accept, False to withdraw consent.
    """
    assert msg.sender == operator, "only operator"
    key: bytes32 = self._key(operatorSet.avs, operatorSet.id)
    assert self._isOperatorSet[key], "invalid operator set"
    self._redistributionConsent[operator][key] = accepted
    log RedistributionConsentSet(operator=operator, operatorSet=operatorSet, accepted=accepted)


@external
@nonreentrant
def registerForOperatorSets(operator: address, params: RegisterParams):
    """
    @notice Register the operator (the caller) for sets of one AVS; the AVS's registrar, if any,
            is called and may reject by reverting. Re-registering waits until the old slashable
            window has passed.
    @param operator The operator; must be the caller.
    @param params (avs, operatorSetIds, data); data is passed to the registrar.
    """
    assert msg.sender == operator, "only operator"
    assert staticcall IDelegationManager(delegation).isOperator(operator), "not an operator"
    for id: uint32 in params.operatorSetIds:
        key: bytes32 = self._key(params.avs, id)
        assert self._isOperatorSet[key], "invalid operator set"
        assert not self._is_slashable(operator, key), "already registered or still slashable"
        if self._redistributionRecipients[key] != DEFAULT_BURN_ADDRESS:
            assert self._redistributionConsent[operator][key], "redistribution not accepted"
        n: uint256 = self._operatorSetMemberCount[key]
        self._operatorSetMembers[key][n] = operator
        self._operatorSetMemberCount[key] = n + 1
        self.registrationStatus[operator][key] = 1 | ((n + 1) << 33)
        log OperatorAddedToOperatorSet(operator=operator, operatorSet=ITypes.OperatorSet(avs=params.avs, id=id))
    registrar: address = self._avsRegistrar[params.avs]
    if registrar != empty(address):
        extcall IAVSRegistrar(registrar).registerOperator(operator, params.avs, params.operatorSetIds, params.data)


@external
@nonreentrant
def deregisterFromOperatorSets(params: DeregisterParams):
    """
    @notice Deregister an operator (by itself or the AVS); it stays slashable by those sets for
            DEALLOCATION_DELAY blocks.
    @param params (operator, avs, operatorSetIds).
    """
    assert msg.sender == params.operator or msg.sender == params.avs, "only operator or avs"
    until: uint256 = block.number + convert(DEALLOCATION_DELAY, uint256)
    for id: uint32 in params.operatorSetIds:
        key: bytes32 = self._key(params.avs, id)
        assert self._isOperatorSet[key], "invalid operator set"
        reg: uint256 = self.registrationStatus[params.operator][key]
        assert (reg & 1) == 1, "not registered"
        self.registrationStatus[params.operator][key] = until << 1
        # swap the last member into the leaver's position
        pos: uint256 = (reg >> 33) - 1
        last: uint256 = self._operatorSetMemberCount[key] - 1
        if pos != last:
            moved: address = self._operatorSetMembers[key][last]
            self._operatorSetMembers[key][pos] = moved
            self.registrationStatus[moved][key] = 1 | ((pos + 1) << 33)
        self._operatorSetMembers[key][last] = empty(address)
        self._operatorSetMemberCount[key] = last
        log OperatorRemovedFromOperatorSet(operator=params.operator, operatorSet=ITypes.OperatorSet(avs=params.avs, id=id))
    registrar: address = self._avsRegistrar[params.avs]
    if registrar != empty(address):
        extcall IAVSRegistrar(registrar).deregisterOperator(params.operator, params.avs, params.operatorSetIds)


# ---------------------------------------------------------------- allocations

@external
def setAllocationDelay(operator: address, delay: uint32):
    """
    @notice Set the operator's allocation delay (blocks before a new allocation takes effect).
            Takes effect after ALLOCATION_CONFIGURATION_DELAY blocks; at once when the
            DelegationManager sets it for a new operator.
    @param operator The operator (the caller, or the DelegationManager on registration).
    @param delay The allocation delay in blocks.
    """
    assert delay >= MIN_ALLOCATION_DELAY, "allocation delay below minimum"
    word: uint256 = 0
    effect: uint256 = block.number
    if msg.sender == delegation:
        word = convert(delay, uint256) | (1 << 32)
    else:
        assert msg.sender == operator, "only operator"
        assert staticcall IDelegationManager(delegation).isOperator(operator), "not an operator"
        is_set: bool = False
        current: uint32 = 0
        is_set, current = self._allocation_delay(operator)
        effect = block.number + convert(ALLOCATION_CONFIGURATION_DELAY, uint256) + 1
        word = convert(current, uint256) | (convert(is_set, uint256) << 32) | (convert(delay, uint256) << 33) | (effect << 65)
    self._allocationDelayInfo[operator] = word
    log AllocationDelaySet(operator=operator, delay=delay, effectBlock=convert(effect, uint32))


@internal
def _clear_queue(operator: address, strategy: address, num: uint256):
    head: uint256 = self.deallocationQueueHead[operator][strategy]
    tail: uint256 = self.deallocationQueueTail[operator][strategy]
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
    changed: bool = False
    for _: uint256 in range(MAX_QUEUE_CLEAR):
        if head >= tail or _ >= num:
            break
        key: bytes32 = self.deallocationQueue[operator][strategy][head]
        word: uint256 = self.allocations[operator][key][strategy]
        a: Allocation = self._unpack_allocation(word)
        # An entry is stale when its deallocation was already applied by another write-back
        # (a slash, or modifyAllocations of that set); it may then point at a later change.
        if a.effectBlock != 0 and a.pendingDiff < 0:
            if block.number < convert(a.effectBlock, uint256):
                break
            delta: int256 = 0
            a, delta = self._updated(operator, key, strategy)
            enc = convert(convert(enc, int256) + delta, uint256)
            self.allocations[operator][key][strategy] = self._pack_allocation(a)
            changed = True
        head += 1
    self.deallocationQueueHead[operator][strategy] = head
    if changed:
        self._store_strategy_info(operator, strategy, max_mag, enc)
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
    @param operator The operator; must be the caller.
    @param params One AllocateParams per set: strategies, new and expected current magnitudes.
    """
    assert msg.sender == operator, "only operator"
    delay_set: bool = False
    delay: uint32 = 0
    delay_set, delay = self._allocation_delay(operator)
    assert delay_set, "uninitialized allocation delay"
    for p: AllocateParams in params:
        key: bytes32 = self._key(p.operatorSet.avs, p.operatorSet.id)
        assert self._isOperatorSet[key], "invalid operator set"
        n: uint256 = len(p.strategies)
        assert n == len(p.newMagnitudes) and n == len(p.expectedMagnitudes), "input length mismatch"
        slashable_set: bool = self._is_slashable(operator, key)
        for i: uint256 in range(MAX_STRATEGIES):
            if i >= n:
                break
            strategy: address = p.strategies[i]
            self._clear_queue(operator, strategy, MAX_QUEUE_CLEAR)
            a: Allocation = empty(Allocation)
            delta: int256 = 0
            a, delta = self._updated(operator, key, strategy)
            max_mag: uint256 = 0
            enc: uint256 = 0
            max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
            enc = convert(convert(enc, int256) + delta, uint256)
            assert a.effectBlock == 0, "modification already pending"
            assert a.currentMagnitude == p.expectedMagnitudes[i], "magnitude changed"
            new_mag: uint64 = p.newMagnitudes[i]
            assert new_mag != a.currentMagnitude, "same magnitude"
            cur: uint256 = convert(a.currentMagnitude, uint256)
            if new_mag < a.currentMagnitude:
                if slashable_set and self._isOperatorSetStrategy[key][strategy] and cur != 0:
                    a.pendingDiff = -convert(cur - convert(new_mag, uint256), int128)
                    a.effectBlock = convert(block.number + convert(DEALLOCATION_DELAY, uint256) + 1, uint32)
                    tail: uint256 = self.deallocationQueueTail[operator][strategy]
                    self.deallocationQueue[operator][strategy][tail] = key
                    self.deallocationQueueTail[operator][strategy] = tail + 1
                else:
                    enc -= cur - convert(new_mag, uint256)
                    a.currentMagnitude = new_mag
            else:
                enc += convert(new_mag, uint256) - cur
                assert enc <= max_mag, "insufficient magnitude"
                a.pendingDiff = convert(convert(new_mag, uint256) - cur, int128)
                a.effectBlock = convert(block.number + convert(delay, uint256), uint32)
            self.allocations[operator][key][strategy] = self._pack_allocation(a)
            self._store_strategy_info(operator, strategy, max_mag, enc)
            log AllocationUpdated(operator=operator, operatorSet=p.operatorSet, strategy=strategy, magnitude=new_mag, effectBlock=a.effectBlock)
            log EncumberedMagnitudeUpdated(operator=operator, strategy=strategy, encumberedMagnitude=convert(enc, uint64))


# ---------------------------------------------------------------- slashing

@external
@nonreentrant
def slashOperator(avs: address, params: ITypes.SlashingParams) -> (uint256, DynArray[uint256, MAX_STRATEGIES]):
    """
    @notice Slash `params.operator` in set (avs, operatorSetId) by wadsToSlash[i] of its
            allocation to each strategy (strictly ascending addresses). Only the set's slasher.
            The slashed magnitude is removed from the allocation, the encumbered and the max
            magnitude (rounded up, so a slash never rounds to nothing); stake falls pro rata for
            every staker and the tokens go to the slash escrow.
    @param avs The AVS of the set.
    @param params The SlashingParams (strategies in ascending order).
    @return (slashId, strategy shares slashed per strategy)
    """
    pausable._check_not_paused(PAUSED_OPERATOR_SLASHING)
    key: bytes32 = self._key(avs, params.operatorSetId)
    assert self._isOperatorSet[key], "invalid operator set"
    assert msg.sender == self._slashers[key], "only slasher"
    operator: address = params.operator
    assert self._is_slashable(operator, key), "operator not slashable"
    n: uint256 = len(params.strategies)
    assert n != 0 and n == len(params.wadsToSlash), "input length mismatch"
    slash_id: uint256 = self._slashIds[key] + 1
    self._slashIds[key] = slash_id
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    wads_slashed: DynArray[uint256, MAX_STRATEGIES] = []
    prev_strategy: uint256 = 0
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= n:
            break
        strategy: address = params.strategies[i]
        assert i == 0 or convert(strategy, uint256) > prev_strategy, "strategies not ascending"
        prev_strategy = convert(strategy, uint256)
        assert self._isOperatorSetStrategy[key][strategy], "strategy not in set"
        wad: uint256 = params.wadsToSlash[i]
        assert wad != 0 and wad <= WAD, "invalid wad to slash"
        a: Allocation = empty(Allocation)
        delta: int256 = 0
        a, delta = self._updated(operator, key, strategy)
        if a.currentMagnitude == 0:
            shares.append(0)
            wads_slashed.append(0)
            continue
        max_mag: uint256 = 0
        enc: uint256 = 0
        max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
        enc = convert(convert(enc, int256) + delta, uint256)
        cur: uint256 = convert(a.currentMagnitude, uint256)
        slashed_mag: uint256 = (cur * wad + WAD - 1) // WAD
        a.currentMagnitude = convert(cur - slashed_mag, uint64)
        if a.pendingDiff < 0:
            pending: uint256 = convert(-a.pendingDiff, uint256)
            a.pendingDiff += convert((pending * wad + WAD - 1) // WAD, int128)
        new_max: uint256 = max_mag - slashed_mag
        enc -= slashed_mag
        self.allocations[operator][key][strategy] = self._pack_allocation(a)
        self._store_strategy_info(operator, strategy, new_max, enc)
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
    assert msg.sender == staticcall IDelegationManager(delegation).slashEscrow(), "only slash escrow"
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
    new_max: uint256 = max_mag + convert(magnitude, uint256)
    assert new_max <= WAD, "magnitude overflow"
    self._store_strategy_info(operator, strategy, new_max, enc)
    log MaxMagnitudeUpdated(operator=operator, strategy=strategy, maxMagnitude=convert(new_max, uint64))


# ---------------------------------------------------------------- views

@internal
@view
def _effective_encumbered(operator: address, strategy: address) -> uint256:
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
    head: uint256 = self.deallocationQueueHead[operator][strategy]
    tail: uint256 = self.deallocationQueueTail[operator][strategy]
    seen: DynArray[bytes32, MAX_QUEUE_CLEAR] = []
    for j: uint256 in range(MAX_QUEUE_CLEAR):
        if head + j >= tail:
            break
        key: bytes32 = self.deallocationQueue[operator][strategy][head + j]
        a: Allocation = self._unpack_allocation(self.allocations[operator][key][strategy])
        if a.effectBlock != 0 and a.pendingDiff < 0:
            if block.number < convert(a.effectBlock, uint256):
                break
            if key not in seen:  # a stale entry and a live one may name the same set
                enc = convert(convert(enc, int256) + convert(a.pendingDiff, int256), uint256)
                seen.append(key)
    return enc


@external
@view
def getAllocation(operator: address, operatorSet: ITypes.OperatorSet, strategy: address) -> Allocation:
    """
    @notice The operator's allocation to (set, strategy), with any due change applied.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @param strategy The strategy.
    @return The Allocation (currentMagnitude, pendingDiff, effectBlock).
    """
    a: Allocation = empty(Allocation)
    delta: int256 = 0
    a, delta = self._updated(operator, self._key(operatorSet.avs, operatorSet.id), strategy)
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
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
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
        out.append(convert(WAD - (self._strategyInfo[operator][s] & U64), uint64))
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
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
    return convert(max_mag - self._effective_encumbered(operator, strategy), uint64)


@external
@view
def getAllocationDelay(operator: address) -> (bool, uint32):
    """
    @notice (isSet, delay) of the operator's allocation delay now.
    @param operator The operator.
    @return (isSet, delay).
    """
    return self._allocation_delay(operator)


@internal
@view
def _stake(operator: address, key: bytes32, strategy: address, future_block: uint256) -> uint256:
    a: Allocation = empty(Allocation)
    delta: int256 = 0
    a, delta = self._updated(operator, key, strategy)
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = self._max_and_encumbered_magnitude(operator, strategy)
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
    key: bytes32 = self._key(operatorSet.avs, operatorSet.id)
    out: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS] = []
    for op: address in operators:
        row: DynArray[uint256, MAX_STRATEGIES] = []
        for s: address in strategies:
            row.append(self._stake(op, key, s, 0))
        out.append(row)
    return out


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
    key: bytes32 = self._key(operatorSet.avs, operatorSet.id)
    out: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_OPERATORS] = []
    fb: uint256 = max(convert(futureBlock, uint256), block.number)
    for op: address in operators:
        row: DynArray[uint256, MAX_STRATEGIES] = []
        reg: uint256 = self.registrationStatus[op][key]
        slashable: bool = (reg & 1) == 1 or fb <= (reg >> 1)
        for s: address in strategies:
            if slashable and self._isOperatorSetStrategy[key][s]:
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
    return self._is_slashable(operator, self._key(operatorSet.avs, operatorSet.id))


@external
@view
def isMemberOfOperatorSet(operator: address, operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the operator is registered for the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return True if registered.
    """
    return (self.registrationStatus[operator][self._key(operatorSet.avs, operatorSet.id)] & 1) == 1


@external
@view
def getRegistrationStatus(operator: address, operatorSet: ITypes.OperatorSet) -> (bool, uint32):
    """
    @notice (registered, slashableUntil) of the operator in the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return (registered, slashableUntil).
    """
    reg: uint256 = self.registrationStatus[operator][self._key(operatorSet.avs, operatorSet.id)]
    return (reg & 1) == 1, convert((reg >> 1) & U32, uint32)


@external
@view
def getMemberCount(operatorSet: ITypes.OperatorSet) -> uint256:
    """
    @notice Number of operators registered for the set.
    @param operatorSet The operator set (avs, id).
    @return The number of members.
    """
    return self._operatorSetMemberCount[self._key(operatorSet.avs, operatorSet.id)]


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
    key: bytes32 = self._key(operatorSet.avs, operatorSet.id)
    out: DynArray[address, MAX_MEMBERS_PAGE] = []
    for i: uint256 in range(start, start + length, bound=MAX_MEMBERS_PAGE):
        if i >= self._operatorSetMemberCount[key]:
            break
        out.append(self._operatorSetMembers[key][i])
    return out


@external
@view
def isOperatorSet(operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the set exists.
    @param operatorSet The operator set (avs, id).
    @return True if the set exists.
    """
    return self._isOperatorSet[self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getOperatorSetCount(avs: address) -> uint256:
    """
    @notice Number of sets the AVS created.
    @param avs The AVS.
    @return The number of sets.
    """
    return self.operatorSetCount[avs]


@external
@view
def getStrategiesInOperatorSet(operatorSet: ITypes.OperatorSet) -> DynArray[address, MAX_STRATEGIES]:
    """
    @notice The set's strategies.
    @param operatorSet The operator set (avs, id).
    @return The strategies.
    """
    return self._operatorSetStrategies[self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getRedistributionRecipient(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice Where the set's slashed funds go (the burn address for burning sets).
    @param operatorSet The operator set (avs, id).
    @return The recipient address.
    """
    key: bytes32 = self._key(operatorSet.avs, operatorSet.id)
    assert self._isOperatorSet[key], "invalid operator set"
    return self._redistributionRecipients[key]


@external
@view
def isRedistributingOperatorSet(operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the set redistributes (rather than burns) slashed funds.
    @param operatorSet The operator set (avs, id).
    @return True if the set redistributes.
    """
    r: address = self._redistributionRecipients[self._key(operatorSet.avs, operatorSet.id)]
    return r != empty(address) and r != DEFAULT_BURN_ADDRESS


@external
@view
def getSlasher(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice The only address that may slash the set's operators.
    @param operatorSet The operator set (avs, id).
    @return The slasher.
    """
    return self._slashers[self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getResolver(operatorSet: ITypes.OperatorSet) -> address:
    """
    @notice The address that may cancel the set's slashes during the resolution window.
    @param operatorSet The operator set (avs, id).
    @return The resolver (zero: none).
    """
    return self._resolvers[self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getSlashCount(operatorSet: ITypes.OperatorSet) -> uint256:
    """
    @notice Number of slashes of the set so far (the last slashId).
    @param operatorSet The operator set (avs, id).
    @return The number of slashes.
    """
    return self._slashIds[self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getAVSRegistrar(avs: address) -> address:
    """
    @notice The AVS's registrar (zero: none).
    @param avs The AVS.
    @return The registrar.
    """
    return self._avsRegistrar[avs]


@external
@view
def getRedistributionConsent(operator: address, operatorSet: ITypes.OperatorSet) -> bool:
    """
    @notice Whether the operator accepted redistribution by the set.
    @param operator The operator.
    @param operatorSet The operator set (avs, id).
    @return True if the operator consented.
    """
    return self._redistributionConsent[operator][self._key(operatorSet.avs, operatorSet.id)]


@external
@view
def getDeallocationQueueLength(operator: address, strategy: address) -> uint256:
    """
    @notice Deallocations of (operator, strategy) not yet cleared.
    @param operator The operator.
    @param strategy The strategy.
    @return The queue length.
    """
    return self.deallocationQueueTail[operator][strategy] - self.deallocationQueueHead[operator][strategy]
