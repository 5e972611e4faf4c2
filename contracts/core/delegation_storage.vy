# pragma version ~=0.4.3
"""
@title delegation_storage
@notice The DelegationManager's state and the checkpoint helpers that read and write it, shared
        by the DelegationManager and its DelegationManagerExtension.
@dev The extension runs only by delegatecall from the DelegationManager, in its storage. Both
     contracts `initializes: delegation_storage` as their first (in the extension, only) storage
     declaration, so this module's variables sit at the same slots in both; the
     DelegationManager's pause flags come after it. Add state here only, never in either
     contract. The reentrancy lock is the same transient slot in both.
"""

WAD: constant(uint256) = 10**18
VALUE_MASK: constant(uint256) = (1 << 224) - 1
MAX_STRATEGIES: constant(uint256) = 32

# A queued withdrawal (EigenLayer's IDelegationManager.Withdrawal); its root is the keccak256 of
# its ABI encoding.
struct Withdrawal:
    staker: address
    delegatedTo: address
    withdrawer: address
    nonce: uint256
    startBlock: uint32
    strategies: DynArray[address, MAX_STRATEGIES]
    scaledShares: DynArray[uint256, MAX_STRATEGIES]

# A queued withdrawal as stored, in three fewer slots: head = staker | startBlock << 160 | nonce
# << 192 (nonces count queued withdrawals, far below 2**64); the withdrawer is the staker.
struct StoredWithdrawal:
    head: uint256
    delegatedTo: address
    strategies: DynArray[address, MAX_STRATEGIES]
    scaledShares: DynArray[uint256, MAX_STRATEGIES]

# The AllocationManager (set by initialize).
allocationManager: public(address)
# The SlashEscrow (set by initialize).
slashEscrow: public(address)

# staker -> operator it delegates to (an operator delegates to itself).
delegatedTo: public(HashMap[address, address])
# operator -> address whose signature a delegation needs (zero: none).
delegationApprover: public(HashMap[address, address])
# approver -> salt -> already used in a delegation signature.
delegationApproverSaltIsSpent: public(HashMap[address, HashMap[bytes32, bool]])
# staker -> number of withdrawals queued so far (the next withdrawal nonce).
cumulativeWithdrawalsQueued: public(HashMap[address, uint256])
# operator -> strategy -> cancellable slashes still pending, one slot: material count | dust
# count << 32 | product of prevMax / newMax of the dust ones (WAD-scaled, 0 when none) << 64.
# While a material one is pending no new stake may join the operator in that strategy, so a
# cancel restores the stakers who bore the slash and nobody else. Dust ones (each below 1/10,000
# of the operator's magnitude) close nothing, so dust cannot keep an operator closed: stake
# joining meanwhile is priced as if they will be cancelled (a cancel gives it nothing; a release
# costs it at most the dust). Any pending one holds back withdrawals it may have touched.
_pending: HashMap[address, HashMap[address, uint256]]
# withdrawal root -> 1 + its position in its staker's _queuedRoots while queued, 0 otherwise
# (not queued, or completed).
_queuedPosition: HashMap[bytes32, uint256]
# staker -> strategy -> deposit scaling factor (0 stands for WAD).
_depositScalingFactor: HashMap[address, HashMap[address, uint256]]
# Extra withdrawal delay per strategy (blocks on top of minWithdrawalDelayBlocks): queued shares of
# such a strategy stay slashable, and locked, for the longer period (the bEIGEN strategy).
strategyWithdrawalDelayBlocks: public(HashMap[address, uint32])
# The fork-and-challenge manager, which may burn an accused operator's shares when a fork is adopted.
forkSlasher: public(address)
# operator -> strategy -> (block << 224) | the slashing factor before the slash of that block that
# took all of the operator's magnitude and set the factor to zero (what undoSlash restores).
_zeroedBy: HashMap[address, HashMap[address, uint256]]
# Blocks a cancellable slash stays cancellable (the SlashEscrow's, read by initialize).
slashResolutionDelayBlocks: public(uint32)
# Checkpoint histories keyed by keccak(kind, a, b): (block << 224) | value, one per block at most,
# block-ascending. Kinds: 0 (operator, strategy) -> slashing factor; 1 (operator, strategy) ->
# cumulative scaled shares queued for withdrawal; 2 (operator, strategy) -> the operator's scaled
# shares (the sum of its stakers' kind-3 values); 3 + (operator << 8) (staker, strategy) -> the
# staker's scaled shares delegated to that operator (0 while delegated elsewhere or to nobody).
# Shares at a block are the scaled value there times the slashing factor there.
_checkpoints: HashMap[bytes32, HashMap[uint256, uint256]]
# key -> number of checkpoints in _checkpoints[key].
_checkpointCount: HashMap[bytes32, uint256]
# withdrawal root -> the withdrawal, while queued (cleared on completion).
_withdrawals: HashMap[bytes32, StoredWithdrawal]
# staker -> position -> root of a queued withdrawal, in no particular order (a completion moves
# the last root into the completed one's place); unbounded, read in pages.
_queuedRoots: HashMap[address, HashMap[uint256, bytes32]]
# staker -> number of its withdrawals queued and not yet completed.
_queuedCount: HashMap[address, uint256]


# ---------------------------------------------------------------- checkpoint histories

@internal
@pure
def _key(kind: uint256, operator: address, strategy: address) -> bytes32:
    return keccak256(abi_encode(kind, operator, strategy))


@internal
@view
def _latest(key: bytes32, dflt: uint256) -> uint256:
    n: uint256 = self._checkpointCount[key]
    if n == 0:
        return dflt
    return self._checkpoints[key][n - 1] & VALUE_MASK


@internal
@view
def _count_upto(key: bytes32, blk: uint256) -> uint256:
    # Number of checkpoints taken at or before block `blk` (binary search; the latest first).
    n: uint256 = self._checkpointCount[key]
    if n == 0 or (self._checkpoints[key][n - 1] >> 224) <= blk:
        return n
    lo: uint256 = 0
    hi: uint256 = n - 1
    for _: uint256 in range(64):
        if lo >= hi:
            break
        mid: uint256 = (lo + hi) // 2
        if (self._checkpoints[key][mid] >> 224) > blk:
            hi = mid
        else:
            lo = mid + 1
    return lo


@internal
@view
def _at(key: bytes32, blk: uint256, dflt: uint256) -> uint256:
    # Value of the last checkpoint taken at or before block `blk`.
    i: uint256 = self._count_upto(key, blk)
    if i == 0:
        return dflt
    return self._checkpoints[key][i - 1] & VALUE_MASK


@internal
def _push(key: bytes32, val: uint256):
    assert val <= VALUE_MASK, "checkpoint overflow"
    n: uint256 = self._checkpointCount[key]
    entry: uint256 = (block.number << 224) | val
    if n != 0 and (self._checkpoints[key][n - 1] >> 224) == block.number:
        self._checkpoints[key][n - 1] = entry
    else:
        self._checkpoints[key][n] = entry
        self._checkpointCount[key] = n + 1


@internal
@pure
def _staker_key(staker: address, operator: address, strategy: address) -> bytes32:
    return self._key(3 | convert(operator, uint256) << 8, staker, strategy)


@internal
def _set_staker_scaled(staker: address, operator: address, strategy: address, new_scaled: uint256):
    # Record the staker's scaled shares with its operator and move the operator's sum with them.
    skey: bytes32 = self._staker_key(staker, operator, strategy)
    okey: bytes32 = self._key(2, operator, strategy)
    self._push(okey, self._latest(okey, 0) + new_scaled - self._latest(skey, 0))
    self._push(skey, new_scaled)


@internal
@view
def _queued_scaled(min_delay: uint32, operator: address, strategy: address) -> uint256:
    # Scaled shares queued for withdrawal from `operator` in the last min_delay (plus the
    # strategy's extra delay) blocks, i.e. still slashable.
    key: bytes32 = self._key(1, operator, strategy)
    latest: uint256 = self._latest(key, 0)
    horizon: uint256 = convert(min_delay, uint256) + convert(self.strategyWithdrawalDelayBlocks[strategy], uint256) + 1
    if block.number < horizon:
        return latest
    return latest - self._at(key, block.number - horizon, 0)
