# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title DelegationManagerExtension
@notice The DelegationManager's colder entry points (operator details and metadata, the
        per-strategy withdrawal delay, the fork slasher and fork slashing, and undoing a
        cancelled slash). The DelegationManager keeps them in its ABI and forwards each call
        here by delegatecall, so they run in its storage, as its msg.sender and with its
        events; together the two stay under EIP-170's 24,576-byte limit.
@dev Runs only by delegatecall (a direct call reverts "only delegatecall"). Its state is
     `delegation_storage`, the module the DelegationManager initializes first too, so the slots
     agree; its immutables are checked against the DelegationManager's when that is deployed.
     Events are the DelegationManager's own declarations.
"""

from ..interfaces import IStrategyManager
from ..interfaces import IStrategy
from ..permissions import permissioned
from . import delegation_storage as ds
from . import DelegationManager as dm

initializes: ds

# The StrategyManager.
strategyManager: public(immutable(address))
# Blocks a queued withdrawal waits (and stays slashable) before completion.
minWithdrawalDelayBlocks: public(immutable(uint32))
# The PermissionController: who may act for an operator.
permissionController: public(immutable(address))
# This contract's own address: code running by delegatecall sees another `self`.
_SELF: immutable(address)


@deploy
def __init__(_strategyManager: address, _minWithdrawalDelayBlocks: uint32, _permissionController: address):
    """
    @notice Deploy with the DelegationManager's own constructor arguments.
    @param _strategyManager The StrategyManager.
    @param _minWithdrawalDelayBlocks Blocks a queued withdrawal waits and stays slashable.
    @param _permissionController The PermissionController.
    """
    strategyManager = _strategyManager
    minWithdrawalDelayBlocks = _minWithdrawalDelayBlocks
    permissionController = _permissionController
    _SELF = self


@internal
@view
def _only_delegatecall():
    assert self != _SELF, "only delegatecall"


@external
def modifyOperatorDetails(operator: address, newDelegationApprover: address):
    """
    @notice Change the operator's delegation approver (the operator only).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param newDelegationApprover The new approver (zero: none).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, operator), "only operator"
    assert ds.delegatedTo[operator] == operator, "not an operator"
    ds.delegationApprover[operator] = newDelegationApprover
    log dm.DelegationApproverUpdated(operator=operator, newDelegationApprover=newDelegationApprover)


@external
def updateOperatorMetadataURI(operator: address, metadataURI: String[1024]):
    """
    @notice Emit a new metadata URI for the operator (the operator only).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param metadataURI The metadata URI (emitted only).
    """
    self._only_delegatecall()
    assert permissioned._can_call(permissionController, operator), "only operator"
    assert ds.delegatedTo[operator] == operator, "not an operator"
    log dm.OperatorMetadataURIUpdated(operator=operator, metadataURI=metadataURI)


@external
def setSlashPending(operator: address, strategy: address, pending: bool, dust: bool, prevMaxMagnitude: uint64, newMaxMagnitude: uint64):
    """
    @notice Count a cancellable slash of (operator, strategy) in or out of its resolution window
            (SlashEscrow only). Any pending one holds back withdrawals it may have touched. While
            a material one is pending, deposits into, delegations to and completions as shares
            into the operator's stake in `strategy` revert ("pending slash"). A dust one (below
            1/10,000 of the operator's magnitude) closes nothing: stake joining meanwhile is
            priced as if it will be cancelled (the factor scaled by prevMax / newMax), so dust
            cannot keep an operator closed and a cancel gives newcomers nothing.
    @param operator The operator.
    @param strategy The strategy.
    @param pending True when the slash enters its window, False when it leaves it.
    @param dust Whether the slash is dust.
    @param prevMaxMagnitude The operator's max magnitude before the slash.
    @param newMaxMagnitude Its max magnitude after the slash.
    """
    self._only_delegatecall()
    assert msg.sender == ds.slashEscrow, "only slash escrow"
    word: uint256 = ds._pending[operator][strategy]
    n: uint256 = word & dm.U32
    d: uint256 = (word >> 32) & dm.U32
    r: uint256 = word >> 64
    if dust:
        if r == 0:
            r = dm.WAD
        if pending:
            d += 1
            r = (r * convert(prevMaxMagnitude, uint256) + convert(newMaxMagnitude, uint256) - 1) // convert(newMaxMagnitude, uint256)
        else:
            d -= 1
            r = (r * convert(newMaxMagnitude, uint256) + convert(prevMaxMagnitude, uint256) - 1) // convert(prevMaxMagnitude, uint256)
        if d == 0:
            r = 0
    elif pending:
        n += 1
    else:
        n -= 1
    ds._pending[operator][strategy] = n | (d << 32) | (r << 64)
    log dm.SlashPendingUpdated(operator=operator, strategy=strategy, pendingSlashes=n + d)


@external
def undoSlash(operator: address, strategy: address, slashBlock: uint256, prevMaxMagnitude: uint64, newMaxMagnitude: uint64):
    """
    @notice Undo a cancelled slash in the slashing-factor history itself (SlashEscrow only): every
            checkpoint from the slash's block on is scaled back by prevMax / newMax (a slash that
            took all magnitude gets back the factor it replaced). Stakers, still-queued and
            held-back withdrawals (valued at the factor of the block their window ended) all end
            exactly as if the slash never happened; the escrow mints the slashed shares back.
    @param operator The operator.
    @param strategy The strategy.
    @param slashBlock The block of the slash.
    @param prevMaxMagnitude The operator's max magnitude before the slash.
    @param newMaxMagnitude Its max magnitude after the slash.
    """
    self._only_delegatecall()
    assert msg.sender == ds.slashEscrow, "only slash escrow"
    key: bytes32 = ds._key(0, operator, strategy)
    n: uint256 = ds._checkpointCount[key]
    # first checkpoint at or after the slash's block
    lo: uint256 = ds._count_upto(key, slashBlock - 1)
    assert n - lo <= dm.MAX_UNDO_CHECKPOINTS, "too many checkpoints to undo"
    prev_mag: uint256 = convert(prevMaxMagnitude, uint256)
    new_mag: uint256 = convert(newMaxMagnitude, uint256)
    zero: uint256 = ds._zeroedBy[operator][strategy]
    restore_to: uint256 = 0
    if new_mag == 0:
        assert zero >> 224 == slashBlock, "unknown full slash"
        restore_to = zero & dm.VALUE_MASK
        ds._zeroedBy[operator][strategy] = 0
    elif zero != 0 and zero >> 224 >= slashBlock:
        # a later slash zeroed the factor: what it replaced bore this slash too
        ds._zeroedBy[operator][strategy] = (zero >> 224) << 224 | min(dm.WAD, (zero & dm.VALUE_MASK) * prev_mag // new_mag)
    for j: uint256 in range(dm.MAX_UNDO_CHECKPOINTS):
        if lo + j >= n:
            break
        entry: uint256 = ds._checkpoints[key][lo + j]
        v: uint256 = entry & dm.VALUE_MASK
        if new_mag == 0:
            v = restore_to  # nothing can lower a zero factor, so every later value was zero
        else:
            v = min(dm.WAD, v * prev_mag // new_mag)
        ds._checkpoints[key][lo + j] = (entry >> 224) << 224 | v
    new_sf: uint256 = ds._latest(key, dm.WAD)
    log dm.OperatorSharesRestored(operator=operator, strategy=strategy, slashBlock=slashBlock, newSlashingFactor=new_sf)


@external
def setStrategyWithdrawalDelay(strategy: address, extraDelayBlocks: uint32):
    """
    @notice Give `strategy` a withdrawal delay `extraDelayBlocks` longer than the others; its queued
            shares stay slashable and locked for minWithdrawalDelayBlocks + extraDelayBlocks.
    @param strategy The strategy.
    @param extraDelayBlocks Blocks on top of minWithdrawalDelayBlocks.
    @dev Strategy whitelister only, and only while the strategy holds no shares (the slashable-queue
         horizon must not change under queued withdrawals).
    """
    self._only_delegatecall()
    assert msg.sender == staticcall IStrategyManager(strategyManager).strategyWhitelister(), "only whitelister"
    assert staticcall IStrategy(strategy).totalShares() == 0, "strategy has shares"
    ds.strategyWithdrawalDelayBlocks[strategy] = extraDelayBlocks
    log dm.StrategyWithdrawalDelaySet(strategy=strategy, extraDelayBlocks=extraDelayBlocks)


@external
def setForkSlasher(newForkSlasher: address):
    """
    @notice Name the fork-and-challenge manager allowed to call slashOperatorSharesForFork, once, at
            deployment (whitelister only). It can never be changed afterwards: a role that could
            name itself fork slasher could burn anyone's stake outside the slashing rules.
    @param newForkSlasher The ForkManager.
    """
    self._only_delegatecall()
    assert msg.sender == staticcall IStrategyManager(strategyManager).strategyWhitelister(), "only whitelister"
    assert ds.forkSlasher == empty(address), "fork slasher already set"
    assert newForkSlasher != empty(address), "zero address"
    ds.forkSlasher = newForkSlasher
    log dm.ForkSlasherSet(forkSlasher=newForkSlasher)


@external
def slashOperatorSharesForFork(operator: address, strategy: address, shares: uint256) -> uint256:
    """
    @notice Burn up to `shares` of the operator's slashable shares in `strategy` (delegated and
            queued within the delay), pro rata, when a fork that slashed them is adopted. No tokens
            move: the adopted fork already left them out of the strategy's balance (fork slasher only).
    @param operator The operator.
    @param strategy The strategy.
    @param shares The most shares to burn.
    @return the strategy shares burned
    """
    self._only_delegatecall()
    assert msg.sender == ds.forkSlasher and msg.sender != empty(address), "only fork slasher"
    key: bytes32 = ds._key(0, operator, strategy)
    prev_sf: uint256 = ds._latest(key, dm.WAD)
    op_scaled: uint256 = ds._latest(ds._key(2, operator, strategy), 0)
    q_scaled: uint256 = ds._queued_scaled(minWithdrawalDelayBlocks, operator, strategy)
    before: uint256 = op_scaled * prev_sf // dm.WAD + q_scaled * prev_sf // dm.WAD
    if before == 0 or shares == 0:
        return 0
    take: uint256 = min(shares, before)
    new_sf: uint256 = prev_sf * (before - take) // before
    ds._push(key, new_sf)
    slashed: uint256 = before - (op_scaled * new_sf // dm.WAD + q_scaled * new_sf // dm.WAD)
    extcall dm.IBurnableShares(strategy).burnShares(slashed)
    log dm.OperatorSharesSlashed(operator=operator, strategy=strategy, totalSlashedShares=slashed)
    return slashed
