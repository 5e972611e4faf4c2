# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title AllocationManagerExtension
@notice The AllocationManager's colder entry points (AVS set management, slasher rotation,
        consent, deregistration, allocation delay, magnitude restoration). The AllocationManager
        keeps their EigenLayer selectors in its ABI and forwards each call here by delegatecall,
        so they run in its storage, as its msg.sender and with its events; together the two stay
        under EIP-170's 24,576-byte limit (EigenLayer splits its AllocationManagerView alike).
@dev Runs only by delegatecall (a direct call reverts "only delegatecall"). Its state is
     `allocation_storage`, the module the AllocationManager initializes first too, so the slots
     agree; its immutables are checked against the AllocationManager's when that is deployed.
     Events are the AllocationManager's own declarations.
"""

from ..interfaces import IDelegationManager
from ..interfaces import ITypes
from ..interfaces import IStrategyManager
from ..interfaces import IAVSRegistrar
from ..permissions import permissioned
from . import allocation_storage as st
from . import AllocationManager as am

initializes: st

# The DelegationManager.
delegation: public(immutable(address))
# The StrategyManager (read from the DelegationManager at deployment).
strategyManager: public(immutable(address))
# Blocks a deallocation or deregistration stays slashable.
DEALLOCATION_DELAY: public(immutable(uint32))
# Blocks before a changed allocation delay (or slasher) takes effect.
ALLOCATION_CONFIGURATION_DELAY: public(immutable(uint32))
# Smallest allocation delay an operator may choose (blocks).
MIN_ALLOCATION_DELAY: public(immutable(uint32))
# The PermissionController (read from the DelegationManager): who may act for an operator or AVS.
permissionController: public(immutable(address))
# This contract's own address: code running by delegatecall sees another `self`.
_SELF: immutable(address)


@deploy
def __init__(_delegation: address, _deallocationDelay: uint32, _allocationConfigurationDelay: uint32, _minAllocationDelay: uint32):
    """
    @notice Deploy with the AllocationManager's own constructor arguments.
    @param _delegation The DelegationManager.
    @param _deallocationDelay DEALLOCATION_DELAY (blocks).
    @param _allocationConfigurationDelay ALLOCATION_CONFIGURATION_DELAY (blocks).
    @param _minAllocationDelay MIN_ALLOCATION_DELAY (blocks).
    """
    delegation = _delegation
    strategyManager = staticcall IDelegationManager(_delegation).strategyManager()
    DEALLOCATION_DELAY = _deallocationDelay
    ALLOCATION_CONFIGURATION_DELAY = _allocationConfigurationDelay
    MIN_ALLOCATION_DELAY = _minAllocationDelay
    permissionController = staticcall IDelegationManager(_delegation).permissionController()
    _SELF = self


@internal
@view
def _only_delegatecall():
    assert self != _SELF, "only delegatecall"


# ---------------------------------------------------------------- AVS and operator sets

@external
def updateAVSMetadataURI(avs: address, metadataURI: String[1024]):
    """
    @notice Register the AVS (the caller) and emit its metadata URI.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param metadataURI The metadata URI (emitted only).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, avs), "only avs"
    st.avsRegisteredMetadata[avs] = True
    log am.AVSMetadataURIUpdated(avs=avs, metadataURI=metadataURI)


@external
def setAVSRegistrar(avs: address, registrar: address):
    """
    @notice Set the contract called back when operators register or deregister for the AVS's
            sets (zero: no callback). It must report supportsAVS(avs).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param registrar The registrar contract (zero: none).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, avs), "only avs"
    if registrar != empty(address):
        assert staticcall IAVSRegistrar(registrar).supportsAVS(avs), "invalid avs registrar"
    st._avsRegistrar[avs] = registrar
    log am.AVSRegistrarSet(avs=avs, registrar=registrar)


@internal
def _create_sets(avs: address, params: DynArray[ITypes.CreateSetParams, am.MAX_SETS], recipients: DynArray[address, am.MAX_SETS], resolvers: DynArray[address, am.MAX_SETS]):
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, avs), "only avs"
    assert st.avsRegisteredMetadata[avs], "avs metadata not registered"
    assert len(resolvers) == 0 or len(resolvers) == len(params), "input length mismatch"
    for i: uint256 in range(am.MAX_SETS):
        if i >= len(params):
            break
        p: ITypes.CreateSetParams = params[i]
        recipient: address = am.DEFAULT_BURN_ADDRESS
        if len(recipients) != 0:
            recipient = recipients[i]
            assert recipient != empty(address) and recipient != am.DEFAULT_BURN_ADDRESS, "invalid redistribution recipient"
        resolver: address = empty(address)
        if len(resolvers) != 0:
            resolver = resolvers[i]
        key: bytes32 = st._key(avs, p.operatorSetId)
        assert not st._isOperatorSet[key], "operator set exists"
        slasher: address = p.slasher
        if slasher == empty(address):
            slasher = avs
        st._isOperatorSet[key] = True
        st._slashers[key] = convert(slasher, uint256)
        st._resolvers[key] = resolver
        st._redistributionRecipients[key] = recipient
        st.operatorSetCount[avs] += 1
        opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=p.operatorSetId)
        log am.OperatorSetCreated(operatorSet=opset, slasher=slasher, resolver=resolver)
        log am.SlasherUpdated(operatorSet=opset, slasher=slasher, effectBlock=convert(block.number, uint32))
        log am.RedistributionAddressSet(operatorSet=opset, redistributionRecipient=recipient)
        self._add_strategies(key, opset, p.strategies)


@internal
def _add_strategies(key: bytes32, opset: ITypes.OperatorSet, strategies: DynArray[address, am.MAX_STRATEGIES]):
    for s: address in strategies:
        assert staticcall IStrategyManager(strategyManager).isStrategy(s), "not a strategy"
        assert not st._isOperatorSetStrategy[key][s], "strategy already in set"
        assert len(st._operatorSetStrategies[key]) < am.MAX_STRATEGIES, "too many strategies"
        st._isOperatorSetStrategy[key][s] = True
        st._operatorSetStrategies[key].append(s)
        log am.StrategyAddedToOperatorSet(operatorSet=opset, strategy=s)


@external
def createOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, am.MAX_SETS], resolvers: DynArray[address, am.MAX_SETS] = []):
    """
    @notice Create burning operator sets (see AllocationManager.createOperatorSets).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param params One CreateSetParams per set.
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    self._create_sets(avs, params, [], resolvers)


@external
def createRedistributingOperatorSets(avs: address, params: DynArray[ITypes.CreateSetParams, am.MAX_SETS], redistributionRecipients: DynArray[address, am.MAX_SETS], resolvers: DynArray[address, am.MAX_SETS] = []):
    """
    @notice Create redistributing operator sets (see AllocationManager.createRedistributingOperatorSets).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param params One CreateSetParams per set.
    @param redistributionRecipients The recipient of each set (same order).
    @param resolvers Empty (no resolver), or one resolver per set (zero: none), fixed forever.
    """
    assert len(params) == len(redistributionRecipients), "input length mismatch"
    self._create_sets(avs, params, redistributionRecipients, resolvers)


@external
def addStrategiesToOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, am.MAX_STRATEGIES]):
    """
    @notice Add strategies to a set; existing allocations to them become slashable at once.
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to add.
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, avs), "only avs"
    key: bytes32 = st._key(avs, operatorSetId)
    assert st._isOperatorSet[key], "invalid operator set"
    self._add_strategies(key, ITypes.OperatorSet(avs=avs, id=operatorSetId), strategies)


@external
def removeStrategiesFromOperatorSet(avs: address, operatorSetId: uint32, strategies: DynArray[address, am.MAX_STRATEGIES]):
    """
    @notice Remove strategies from a set (pending deallocations keep their full delay).
    @param avs The AVS; the caller must act for it (PermissionController.canCall).
    @param operatorSetId The operator set id within the AVS.
    @param strategies The strategies to remove.
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, avs), "only avs"
    key: bytes32 = st._key(avs, operatorSetId)
    assert st._isOperatorSet[key], "invalid operator set"
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetId)
    for s: address in strategies:
        assert st._isOperatorSetStrategy[key][s], "strategy not in set"
        st._isOperatorSetStrategy[key][s] = False
        lst: DynArray[address, am.MAX_STRATEGIES] = st._operatorSetStrategies[key]
        n: uint256 = len(lst)
        for j: uint256 in range(am.MAX_STRATEGIES):
            if j >= n:
                break
            if lst[j] == s:
                lst[j] = lst[n - 1]
                lst.pop()
                break
        st._operatorSetStrategies[key] = lst
        log am.StrategyRemovedFromOperatorSet(operatorSet=opset, strategy=s)


@external
def updateSlasher(operatorSet: ITypes.OperatorSet, slasher: address):
    """
    @notice Appoint the set's next slasher (EigenLayer's updateSlasher): it replaces the current
            one ALLOCATION_CONFIGURATION_DELAY + 1 blocks from now; until then the current one
            alone may slash. A second update before then replaces the pending one (and restarts
            the delay); an update after it takes over from the new slasher.
    @param operatorSet The operator set (avs, id); the caller must act for its AVS (PermissionController.canCall).
    @param slasher The new slasher (not zero).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, operatorSet.avs), "only avs"
    assert slasher != empty(address), "zero address"
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    assert st._isOperatorSet[key], "invalid operator set"
    current: address = empty(address)
    pending: address = empty(address)
    effect: uint256 = 0
    current, pending, effect = st._slasher(key)
    effect = block.number + convert(ALLOCATION_CONFIGURATION_DELAY, uint256) + 1
    st._slashers[key] = convert(current, uint256) | (effect << 160)
    st._pendingSlashers[key] = slasher
    log am.SlasherUpdated(operatorSet=operatorSet, slasher=slasher, effectBlock=convert(effect, uint32))


# ---------------------------------------------------------------- registration

@external
def setRedistributionConsent(operator: address, operatorSet: ITypes.OperatorSet, accepted: bool):
    """
    @notice An operator's explicit opt-in (or opt-out) to a redistributing set.
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param operatorSet The operator set (avs, id).
    @param accepted True to accept, False to withdraw consent.
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, operator), "only operator"
    key: bytes32 = st._key(operatorSet.avs, operatorSet.id)
    assert st._isOperatorSet[key], "invalid operator set"
    st._redistributionConsent[operator][key] = accepted
    log am.RedistributionConsentSet(operator=operator, operatorSet=operatorSet, accepted=accepted)


@external
@nonreentrant
def registerForOperatorSets(operator: address, params: am.RegisterParams):
    """
    @notice Register the operator for sets of one AVS (see AllocationManager.registerForOperatorSets).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param params (avs, operatorSetIds, data); data is passed to the registrar.
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, operator), "only operator"
    assert staticcall IDelegationManager(delegation).isOperator(operator), "not an operator"
    for id: uint32 in params.operatorSetIds:
        key: bytes32 = st._key(params.avs, id)
        assert st._isOperatorSet[key], "invalid operator set"
        assert not st._is_slashable(operator, key), "already registered or still slashable"
        if st._redistributionRecipients[key] != am.DEFAULT_BURN_ADDRESS:
            assert st._redistributionConsent[operator][key], "redistribution not accepted"
        n: uint256 = st._operatorSetMemberCount[key] & st.U64
        st._operatorSetMembers[key][n] = operator
        st._set_member_count(key, n + 1)
        r: uint256 = st._registeredSetCount[operator]
        st._registeredSets[operator][r] = key
        st._registeredSetCount[operator] = r + 1
        # an earlier registration interval moves into the history
        reg: uint256 = st.registrationStatus[operator][key]
        h: uint256 = (reg >> 161) & st.U32
        if reg >> 97 != 0:
            st._push64(st._history_key(0, operator, key), h, (reg >> 97) & st.U64)
            h += 1
        st.registrationStatus[operator][key] = 1 | ((n + 1) << 33) | ((r + 1) << 65) | (block.number << 97) | (h << 161)
        log am.OperatorAddedToOperatorSet(operator=operator, operatorSet=ITypes.OperatorSet(avs=params.avs, id=id))
    registrar: address = st._avsRegistrar[params.avs]
    if registrar != empty(address):
        extcall IAVSRegistrar(registrar).registerOperator(operator, params.avs, params.operatorSetIds, params.data)


@external
@nonreentrant
def deregisterFromOperatorSets(params: am.DeregisterParams):
    """
    @notice Deregister an operator (by itself or the AVS); it stays slashable by those sets for
            DEALLOCATION_DELAY blocks.
    @param params (operator, avs, operatorSetIds).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, params.operator) or permissioned._can_call(permissionController, params.avs), "only operator or avs"
    until: uint256 = block.number + convert(DEALLOCATION_DELAY, uint256)
    for id: uint32 in params.operatorSetIds:
        key: bytes32 = st._key(params.avs, id)
        assert st._isOperatorSet[key], "invalid operator set"
        reg: uint256 = st.registrationStatus[params.operator][key]
        assert (reg & 1) == 1, "not registered"
        # keep registeredAt and the history count, record deregisteredAt (this block)
        st.registrationStatus[params.operator][key] = (until << 1) | (reg & (st.U32 << 97)) | (block.number << 129) | (reg & (st.U32 << 161))
        # swap the last member into the leaver's position
        pos: uint256 = ((reg >> 33) & st.U32) - 1
        last: uint256 = (st._operatorSetMemberCount[key] & st.U64) - 1
        if pos != last:
            moved: address = st._operatorSetMembers[key][last]
            st._operatorSetMembers[key][pos] = moved
            moved_reg: uint256 = st.registrationStatus[moved][key]
            st.registrationStatus[moved][key] = (moved_reg & ~(st.U32 << 33)) | ((pos + 1) << 33)
        st._operatorSetMembers[key][last] = empty(address)
        st._set_member_count(key, last)
        # and the last of the operator's sets into this set's position
        pos = ((reg >> 65) & st.U32) - 1
        last = st._registeredSetCount[params.operator] - 1
        if pos != last:
            moved_key: bytes32 = st._registeredSets[params.operator][last]
            st._registeredSets[params.operator][pos] = moved_key
            set_reg: uint256 = st.registrationStatus[params.operator][moved_key]
            st.registrationStatus[params.operator][moved_key] = (set_reg & ~(st.U32 << 65)) | ((pos + 1) << 65)
        st._registeredSets[params.operator][last] = empty(bytes32)
        st._registeredSetCount[params.operator] = last
        log am.OperatorRemovedFromOperatorSet(operator=params.operator, operatorSet=ITypes.OperatorSet(avs=params.avs, id=id))
    registrar: address = st._avsRegistrar[params.avs]
    if registrar != empty(address):
        extcall IAVSRegistrar(registrar).deregisterOperator(params.operator, params.avs, params.operatorSetIds)


# ---------------------------------------------------------------- allocations

@external
def setAllocationDelay(operator: address, delay: uint32):
    """
    @notice Set the operator's allocation delay (see AllocationManager.setAllocationDelay).
    @param operator The operator (the caller acts for it, or is the DelegationManager on registration).
    @param delay The allocation delay in blocks.
    """
    self._only_delegatecall()
    assert delay >= MIN_ALLOCATION_DELAY, "allocation delay below minimum"
    word: uint256 = 0
    effect: uint256 = block.number
    if msg.sender == delegation:
        word = convert(delay, uint256) | (1 << 32)
    else:
        assert permissioned._can_call(permissionController, operator), "only operator"
        assert staticcall IDelegationManager(delegation).isOperator(operator), "not an operator"
        is_set: bool = False
        current: uint32 = 0
        is_set, current = st._allocation_delay(operator)
        effect = block.number + convert(ALLOCATION_CONFIGURATION_DELAY, uint256) + 1
        word = convert(current, uint256) | (convert(is_set, uint256) << 32) | (convert(delay, uint256) << 33) | (effect << 65)
    st._allocationDelayInfo[operator] = word
    log am.AllocationDelaySet(operator=operator, delay=delay, effectBlock=convert(effect, uint32))


@external
def restoreSlashedMagnitude(operator: address, strategy: address, magnitude: uint64):
    """
    @notice Give back the max magnitude a cancelled slash took (SlashEscrow only).
    @param operator The operator.
    @param strategy The strategy.
    @param magnitude The magnitude to give back.
    """
    self._only_delegatecall()
    assert msg.sender == staticcall IDelegationManager(delegation).slashEscrow(), "only slash escrow"
    max_mag: uint256 = 0
    enc: uint256 = 0
    max_mag, enc = st._max_and_encumbered_magnitude(operator, strategy)
    new_max: uint256 = max_mag + convert(magnitude, uint256)
    assert new_max <= am.WAD, "magnitude overflow"
    st._store_strategy_info(operator, strategy, new_max, enc)
    log am.MaxMagnitudeUpdated(operator=operator, strategy=strategy, maxMagnitude=convert(new_max, uint64))
