# pragma version ~=0.4.3
"""
@title allocation_storage
@notice The AllocationManager's state and the helpers that read and write it, shared by the
        AllocationManager and its AllocationManagerExtension.
@dev The extension runs only by delegatecall from the AllocationManager, in its storage. Both
     contracts `initializes: allocation_storage` as their first (and, in the extension, only)
     storage declaration, so this module's variables sit at the same slots in both; the
     AllocationManager's other state (the pause flags) comes after it and the extension never
     touches it. Add state here only, never in either contract. The reentrancy lock is in
     transient storage at the same slot in both, so a lock taken by one holds in the other.
"""

from ..interfaces import ITypes

WAD: constant(uint256) = 10**18
U64: constant(uint256) = (1 << 64) - 1
U128: constant(uint256) = (1 << 128) - 1
U32: constant(uint256) = (1 << 32) - 1
U160: constant(uint256) = (1 << 160) - 1
# Most entries a list view returns in one call (page through longer lists with start, length).
MAX_PAGE: constant(uint256) = 1024

struct Allocation:
    currentMagnitude: uint64
    pendingDiff: int128
    effectBlock: uint32

# avs -> has called updateAVSMetadataURI (required before creating sets).
avsRegisteredMetadata: public(HashMap[address, bool])
# avs -> the contract called back on (de)registration (zero: none).
_avsRegistrar: HashMap[address, address]
# avs -> number of operator sets it created.
operatorSetCount: HashMap[address, uint256]
# operator set key -> the set exists.
_isOperatorSet: HashMap[bytes32, bool]
# operator set key -> its strategies.
_operatorSetStrategies: HashMap[bytes32, DynArray[address, 32]]
# operator set key -> strategy -> the strategy is in the set.
_isOperatorSetStrategy: HashMap[bytes32, HashMap[address, bool]]
# operator set key -> where slashed funds go (DEFAULT_BURN_ADDRESS: burning set).
_redistributionRecipients: HashMap[bytes32, address]
# operator set key -> the slasher: slasher | (effect block of the pending one) << 160.
_slashers: HashMap[bytes32, uint256]
# operator set key -> the slasher taking over at the effect block stored in _slashers.
_pendingSlashers: HashMap[bytes32, address]
# operator set key -> the address that may cancel escrowed slashes (zero: none).
_resolvers: HashMap[bytes32, address]
# operator set key -> number of slashes so far (the last slashId).
_slashIds: HashMap[bytes32, uint256]
# operator set key -> number of registered operators | since << 64 | n << 96: the count as of
# block `since` on, and the number of earlier counts in the member-count history (_history64).
_operatorSetMemberCount: HashMap[bytes32, uint256]
# operator set key -> position -> registered operator (positions 0 .. count - 1, unordered).
_operatorSetMembers: HashMap[bytes32, HashMap[uint256, address]]
# registration: bit 0 registered | slashableUntil << 1 (deregistered) | while registered, the
# operator's position in _operatorSetMembers plus one << 33 and the set's position in
# _registeredSets plus one << 65 | registeredAt << 97 | deregisteredAt << 129 (0 while
# registered) | n << 161 (32 bits each): the last registration interval [registeredAt,
# deregisteredAt) and the number of earlier ones in the registration history (_history64).
registrationStatus: HashMap[address, HashMap[bytes32, uint256]]
# operator -> position -> key of a set it is registered for (positions 0 .. count - 1, unordered).
_registeredSets: HashMap[address, HashMap[uint256, bytes32]]
# operator -> number of sets it is registered for.
_registeredSetCount: HashMap[address, uint256]
# operator -> operator set key -> the operator accepted redistribution by the set.
_redistributionConsent: HashMap[address, HashMap[bytes32, bool]]
# allocation delay: delay | isSet << 32 | pendingDelay << 33 | effectBlock << 65
_allocationDelayInfo: HashMap[address, uint256]
# allocation: currentMagnitude | (pendingDiff as two's complement uint64) << 64 | effectBlock << 128
# | since << 160 (the block from which this value holds) | n << 192 (earlier values in
# _allocationHistory) | (the strategy's position in _allocatedStrategies plus one, 0 when not
# listed) << 224
allocations: HashMap[address, HashMap[bytes32, HashMap[address, uint256]]]
# operator -> set key -> strategy -> i -> the i-th earlier allocation value (the low 160 bits of
# its word) | since << 160, oldest first; before the first one's block the allocation was zero.
_allocationHistory: HashMap[address, HashMap[bytes32, HashMap[address, HashMap[uint256, uint256]]]]
# operator -> set key -> position -> a strategy with a non-zero or pending allocation to the set.
_allocatedStrategies: HashMap[address, HashMap[bytes32, HashMap[uint256, address]]]
# operator -> set key -> number of _allocatedStrategies | (the set's position in _allocatedSets
# plus one) << 128
_allocatedStrategyCount: HashMap[address, HashMap[bytes32, uint256]]
# operator -> position -> key of a set it has a non-zero or pending allocation to.
_allocatedSets: HashMap[address, HashMap[uint256, bytes32]]
# operator -> number of _allocatedSets.
_allocatedSetCount: HashMap[address, uint256]
# strategy info: (WAD - maxMagnitude) | encumberedMagnitude << 64 | since << 128 | n << 160
# (zero = fresh operator): since is the block from which maxMagnitude holds (0: always WAD so
# far), n the number of earlier values in _maxMagnitudeHistory.
_strategyInfo: HashMap[address, HashMap[address, uint256]]
# operator -> strategy -> i -> the i-th earlier max magnitude: (WAD - max) | since << 64, oldest
# first; before the first one's block (or with none) the max magnitude was WAD.
_maxMagnitudeHistory: HashMap[address, HashMap[address, HashMap[uint256, uint256]]]
# operator -> strategy -> position -> operator set key of a pending deallocation (FIFO).
deallocationQueue: HashMap[address, HashMap[address, HashMap[uint256, bytes32]]]
# operator -> strategy -> position of the oldest uncleared entry of deallocationQueue.
deallocationQueueHead: HashMap[address, HashMap[address, uint256]]
# operator -> strategy -> position of the next entry of deallocationQueue.
deallocationQueueTail: HashMap[address, HashMap[address, uint256]]
# history key -> i // 4 -> four 64-bit entries, the i-th at bits 64 * (i % 4), oldest first:
# keccak(0, operator, set key) -> earlier registration intervals registeredAt | deregisteredAt << 32;
# keccak(1, set key) -> earlier member counts since | count << 32 (the block first, for the search). Four to a slot: three of four
# pushes write a slot already written.
_history64: HashMap[bytes32, HashMap[uint256, uint256]]


@internal
@pure
def _key(avs: address, id: uint32) -> bytes32:
    return convert((convert(avs, uint256) << 96) | convert(id, uint256), bytes32)


@internal
@pure
def _unpack_allocation(word: uint256) -> Allocation:
    raw: uint256 = (word >> 64) & U64
    diff: int128 = 0
    if raw >= (1 << 63):
        diff = -convert((1 << 64) - raw, int128)
    else:
        diff = convert(raw, int128)
    return Allocation(currentMagnitude=convert(word & U64, uint64), pendingDiff=diff, effectBlock=convert((word >> 128) & U32, uint32))


@internal
@pure
def _pack_allocation(a: Allocation) -> uint256:
    # The value (low 160 bits of the word); |pendingDiff| <= WAD < 2**63.
    raw: uint256 = 0
    if a.pendingDiff < 0:
        raw = (1 << 64) - convert(-a.pendingDiff, uint256)
    else:
        raw = convert(a.pendingDiff, uint256)
    return convert(a.currentMagnitude, uint256) | (raw << 64) | (convert(a.effectBlock, uint256) << 128)


@internal
def _write_allocation(operator: address, key: bytes32, strategy: address, a: Allocation):
    # Store the allocation, and keep the operator's lists of allocated sets and strategies
    # (EigenLayer's allocatedSets / allocatedStrategies): listed while the magnitude or a
    # pending change is non-zero.
    pos: uint256 = self.allocations[operator][key][strategy] >> 224
    live: bool = a.currentMagnitude != 0 or a.pendingDiff != 0
    if live and pos == 0:
        cword: uint256 = self._allocatedStrategyCount[operator][key]
        n: uint256 = cword & U128
        self._allocatedStrategies[operator][key][n] = strategy
        pos = n + 1
        if n == 0:
            m: uint256 = self._allocatedSetCount[operator]
            self._allocatedSets[operator][m] = key
            self._allocatedSetCount[operator] = m + 1
            cword = (m + 1) << 128
        self._allocatedStrategyCount[operator][key] = cword + 1
    elif not live and pos != 0:
        cword: uint256 = self._allocatedStrategyCount[operator][key]
        last: uint256 = (cword & U128) - 1
        if pos - 1 != last:
            moved: address = self._allocatedStrategies[operator][key][last]
            self._allocatedStrategies[operator][key][pos - 1] = moved
            w: uint256 = self.allocations[operator][key][moved]
            self.allocations[operator][key][moved] = (w & ((1 << 224) - 1)) | (pos << 224)
        self._allocatedStrategies[operator][key][last] = empty(address)
        if last == 0:
            i: uint256 = (cword >> 128) - 1
            m: uint256 = self._allocatedSetCount[operator] - 1
            if i != m:
                moved_key: bytes32 = self._allocatedSets[operator][m]
                self._allocatedSets[operator][i] = moved_key
                c: uint256 = self._allocatedStrategyCount[operator][moved_key]
                self._allocatedStrategyCount[operator][moved_key] = (c & U128) | ((i + 1) << 128)
            self._allocatedSets[operator][m] = empty(bytes32)
            self._allocatedSetCount[operator] = m
            self._allocatedStrategyCount[operator][key] = 0
        else:
            self._allocatedStrategyCount[operator][key] = cword - 1
        pos = 0
    # The history: a new value in a new block moves the old one (and its block) into
    # _allocationHistory, except the zero every allocation starts from, which is implied.
    old: uint256 = self.allocations[operator][key][strategy]
    val: uint256 = self._pack_allocation(a)
    since: uint256 = (old >> 160) & U32
    n: uint256 = (old >> 192) & U32
    if val != old & U160 and since != block.number:
        if since != 0:
            self._allocationHistory[operator][key][strategy][n] = (old & U160) | (since << 160)
            n += 1
        since = block.number
    self.allocations[operator][key][strategy] = val | (since << 160) | (n << 192) | (pos << 224)


@internal
@view
def _allocation_at(operator: address, key: bytes32, strategy: address, blk: uint256) -> Allocation:
    # The allocation as of the end of block `blk`, with a change due by then applied.
    word: uint256 = self.allocations[operator][key][strategy]
    if blk < (word >> 160) & U32:
        lo: uint256 = 0
        hi: uint256 = (word >> 192) & U32
        for _: uint256 in range(64):
            if lo >= hi:
                break
            mid: uint256 = (lo + hi) // 2
            if (self._allocationHistory[operator][key][strategy][mid] >> 160) > blk:
                hi = mid
            else:
                lo = mid + 1
        word = 0
        if lo != 0:
            word = self._allocationHistory[operator][key][strategy][lo - 1]
    a: Allocation = self._unpack_allocation(word)
    if a.effectBlock != 0 and blk >= convert(a.effectBlock, uint256):
        a.currentMagnitude = convert(convert(a.currentMagnitude, int256) + convert(a.pendingDiff, int256), uint64)
        a.pendingDiff = 0
        a.effectBlock = 0
    return a


@internal
@pure
def _history_key(kind: uint256, a: address, key: bytes32) -> bytes32:
    return keccak256(abi_encode(kind, a, key))


@internal
def _push64(hkey: bytes32, i: uint256, entry: uint256):
    # Append entry i (64 bits) to a four-to-a-slot history.
    self._history64[hkey][i >> 2] |= entry << ((i & 3) * 64)


@internal
@view
def _find64(hkey: bytes32, n: uint256, blk: uint256) -> uint256:
    # The last of the n entries whose block (its low 32 bits) is at or before `blk`, plus one in
    # bit 64 (0 when there is none).
    lo: uint256 = 0
    hi: uint256 = n
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if (self._history64[hkey][mid >> 2] >> ((mid & 3) * 64)) & U32 > blk:
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return 0
    return ((self._history64[hkey][(lo - 1) >> 2] >> (((lo - 1) & 3) * 64)) & U64) | (1 << 64)


@internal
def _set_member_count(key: bytes32, count: uint256):
    # Store the set's member count; a change in a new block moves the old count into the history
    # (except the zero of a set no one has registered for yet).
    word: uint256 = self._operatorSetMemberCount[key]
    since: uint256 = (word >> 64) & U32
    n: uint256 = word >> 96
    if since != block.number:
        if since != 0:
            self._push64(self._history_key(1, empty(address), key), n, since | ((word & U32) << 32))
            n += 1
        since = block.number
    self._operatorSetMemberCount[key] = count | (since << 64) | (n << 96)


@internal
@view
def _member_count_at(key: bytes32, blk: uint256) -> uint256:
    word: uint256 = self._operatorSetMemberCount[key]
    if blk >= (word >> 64) & U32:
        return word & U64
    return (self._find64(self._history_key(1, empty(address), key), word >> 96, blk) >> 32) & U32


@internal
@view
def _is_member_at(operator: address, key: bytes32, blk: uint256) -> bool:
    # Registered as of the end of block `blk`: within a registration interval [registeredAt,
    # deregisteredAt) (the last one in the word, earlier ones in the history).
    reg: uint256 = self.registrationStatus[operator][key]
    iv: uint256 = (reg >> 97) & U64
    if blk < iv & U32:
        iv = self._find64(self._history_key(0, operator, key), (reg >> 161) & U32, blk)
        if iv == 0:
            return False
    elif reg & 1 == 1:
        return iv & U32 != 0
    return blk < (iv >> 32) & U32


@internal
@view
def _max_and_encumbered_magnitude(operator: address, strategy: address) -> (uint256, uint256):
    word: uint256 = self._strategyInfo[operator][strategy]
    return WAD - (word & U64), (word >> 64) & U64


@internal
def _store_strategy_info(operator: address, strategy: address, max_mag: uint256, encumbered: uint256):
    # A new max magnitude in a new block moves the old one (and its block) into the history,
    # except the untouched WAD every operator starts from, which the history implies.
    word: uint256 = self._strategyInfo[operator][strategy]
    since: uint256 = (word >> 128) & U32
    n: uint256 = word >> 160
    if WAD - (word & U64) != max_mag and since != block.number:
        if since != 0 or n != 0:
            self._maxMagnitudeHistory[operator][strategy][n] = (word & U64) | (since << 64)
            n += 1
        since = block.number
    self._strategyInfo[operator][strategy] = (WAD - max_mag) | (encumbered << 64) | (since << 128) | (n << 160)


@internal
@view
def _max_magnitude_at(operator: address, strategy: address, blk: uint256) -> uint256:
    # The max magnitude as of block `blk` (binary search of the history; the current value first).
    word: uint256 = self._strategyInfo[operator][strategy]
    if blk >= (word >> 128) & U32:
        return WAD - (word & U64)
    lo: uint256 = 0
    hi: uint256 = word >> 160
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if (self._maxMagnitudeHistory[operator][strategy][mid] >> 64) > blk:
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return WAD
    return WAD - (self._maxMagnitudeHistory[operator][strategy][lo - 1] & U64)


@internal
@pure
def _operator_set(key: bytes32) -> ITypes.OperatorSet:
    k: uint256 = convert(key, uint256)
    return ITypes.OperatorSet(avs=convert(k >> 96, address), id=convert(k & U32, uint32))


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
    return (reg & 1) == 1 or block.number <= (reg >> 1) & U32


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


@internal
@view
def _slasher(key: bytes32) -> (address, address, uint256):
    # (effective slasher, pending slasher, its effect block): a pending slasher whose effect
    # block has come is the effective one, and nothing is pending any more.
    word: uint256 = self._slashers[key]
    effect: uint256 = word >> 160
    if effect == 0:
        return convert(word, address), empty(address), 0
    pending: address = self._pendingSlashers[key]
    if block.number >= effect:
        return pending, empty(address), 0
    return convert(word & U160, address), pending, effect


@internal
@view
def _effective_slasher(key: bytes32) -> address:
    slasher: address = empty(address)
    pending: address = empty(address)
    effect: uint256 = 0
    slasher, pending, effect = self._slasher(key)
    return slasher
