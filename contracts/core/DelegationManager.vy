# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title DelegationManager
@notice Operators register here; stakers delegate all their stake to one operator, undelegate,
        redelegate, and withdraw through a delay queue that stays slashable.
@dev Accounting (see docs/restaking.md):
     - per (staker, strategy): deposit shares s (StrategyManager) and deposit scaling factor k;
       the staker's scaled shares are floor(s*k/WAD);
     - per (operator, strategy): a slashing factor sf (checkpointed by block, WAD = untouched)
       and the sum of the scaled shares of its stakers (operatorScaledShares);
     - withdrawable shares = floor(scaled * sf / WAD); operator shares = floor(sum * sf / WAD).
     - the operator's scaled sum and each staker's scaled shares with its operator are block-keyed
       checkpoint histories (delegation_storage), so shares at any past block are the scaled
       value there times sf there (operatorSharesAt, stakerSharesAt).
     A slash lowers sf, so every staker loses exactly pro rata, at O(1) cost; new deposits get k
     scaled by 1/sf, so they are not hit by earlier slashes. Queued withdrawals keep scaled shares
     and are valued at the sf of the block their slashability ends (startBlock + delay).
     A cancelled slash is undone in the sf history itself (undoSlash), and withdrawals that a
     cancellable slash may have touched wait for it to be resolved, so a cancel leaves every
     party as if the slash never happened; no stake can join the operator in that strategy while
     a cancellable slash is pending.
"""

from ..interfaces import IStrategyManager
from ..interfaces import IStrategy
from ..interfaces import IAllocationManager
from ..interfaces import IDelegationManager
from ..interfaces import IDelegationManagerExtension
from ..permissions import pausable
from ..permissions import permissioned
from ..lib import signatures
from . import delegation_storage as ds

implements: IDelegationManager

# The state first, at the same slots as in the extension (see delegation_storage).
initializes: ds
initializes: pausable
exports: (
    pausable.pauserRegistry,
    pausable.paused,
    pausable.setPausedStatus,
    ds.allocationManager,
    ds.slashEscrow,
    ds.delegatedTo,
    ds.delegationApprover,
    ds.delegationApproverSaltIsSpent,
    ds.cumulativeWithdrawalsQueued,
    ds.strategyWithdrawalDelayBlocks,
    ds.forkSlasher,
    ds.slashResolutionDelayBlocks,
)

# Pause flag (bit of this contract's bitmap, EigenLayer's index) of the guarded function.
PAUSED_WITHDRAWAL_COMPLETION: constant(uint256) = 2


interface ISlashEscrowDelay:
    def SLASH_RESOLUTION_DELAY_BLOCKS() -> uint32: view

interface IBurnableShares:
    def burnShares(amountShares: uint256): nonpayable

WAD: constant(uint256) = 10**18
MAX_STRATEGIES: constant(uint256) = 32
MAX_WITHDRAWALS: constant(uint256) = 8
# Most queued withdrawals (or roots) one call of the queued-withdrawal views returns.
MAX_QUEUED_PAGE: constant(uint256) = 64
# Largest deposit scaling factor: WAD / (smallest non-zero slashing factor, 1) times WAD.
MAX_DEPOSIT_SCALING_FACTOR: constant(uint256) = 10**36
U32: constant(uint256) = (1 << 32) - 1
ADDRESS_MASK: constant(uint256) = (1 << 160) - 1
# Most slashing-factor checkpoints (one per block with a slash) a cancel may rewrite.
MAX_UNDO_CHECKPOINTS: constant(uint256) = 512
VALUE_MASK: constant(uint256) = (1 << 224) - 1
DELEGATION_APPROVAL_TYPEHASH: constant(bytes32) = keccak256("DelegationApproval(address delegationApprover,address staker,address operator,bytes32 salt,uint256 expiry)")
DOMAIN_NAME_HASH: constant(bytes32) = keccak256("EigenCloud DelegationManager")

struct SignatureWithExpiry:
    signature: Bytes[256]
    expiry: uint256

struct QueuedWithdrawalParams:
    strategies: DynArray[address, MAX_STRATEGIES]
    depositShares: DynArray[uint256, MAX_STRATEGIES]
    withdrawer: address

event OperatorRegistered:
    operator: indexed(address)
    delegationApprover: address

event DelegationApproverUpdated:
    operator: indexed(address)
    newDelegationApprover: address

event OperatorMetadataURIUpdated:
    operator: indexed(address)
    metadataURI: String[1024]

event StakerDelegated:
    staker: indexed(address)
    operator: indexed(address)

event StakerUndelegated:
    staker: indexed(address)
    operator: indexed(address)

event StakerForceUndelegated:
    staker: indexed(address)
    operator: indexed(address)

event OperatorSharesIncreased:
    operator: indexed(address)
    staker: address
    strategy: address
    shares: uint256

event OperatorSharesDecreased:
    operator: indexed(address)
    staker: address
    strategy: address
    shares: uint256

event DepositScalingFactorUpdated:
    staker: indexed(address)
    strategy: address
    newDepositScalingFactor: uint256

event SlashingWithdrawalQueued:
    withdrawalRoot: bytes32
    withdrawal: ds.Withdrawal
    sharesToWithdraw: DynArray[uint256, MAX_STRATEGIES]

event SlashingWithdrawalCompleted:
    withdrawalRoot: bytes32

event OperatorSharesSlashed:
    operator: indexed(address)
    strategy: address
    totalSlashedShares: uint256

event SlashPendingUpdated:
    operator: indexed(address)
    strategy: address
    pendingSlashes: uint256

event StrategyWithdrawalDelaySet:
    strategy: indexed(address)
    extraDelayBlocks: uint32

event ForkSlasherSet:
    forkSlasher: address

event OperatorSharesRestored:
    operator: indexed(address)
    strategy: address
    slashBlock: uint256
    newSlashingFactor: uint256


# The deployer, the only caller of initialize.
deployer: immutable(address)
# The StrategyManager.
strategyManager: public(immutable(address))
# Blocks a queued withdrawal waits (and stays slashable) before completion.
minWithdrawalDelayBlocks: public(immutable(uint32))
# The PermissionController: who may act for an operator (EigenLayer's checkCanCall).
permissionController: public(immutable(address))
# The DelegationManagerExtension: the colder entry points, run here by delegatecall.
extension: public(immutable(address))
# The rest of the state lives in delegation_storage (shared with the extension); see its header.


@deploy
def __init__(_strategyManager: address, _minWithdrawalDelayBlocks: uint32, _permissionController: address, _extension: address):
    """
    @notice Deploy with the StrategyManager, the withdrawal delay, the PermissionController and
            the DelegationManagerExtension deployed with the same three; the deployer wires the
            rest with initialize.
    @dev Reverts "extension mismatch" unless the extension was deployed with these arguments.
    @param _strategyManager The StrategyManager.
    @param _minWithdrawalDelayBlocks Blocks a queued withdrawal waits and stays slashable.
    @param _permissionController The PermissionController.
    @param _extension The DelegationManagerExtension.
    """
    ext: IDelegationManagerExtension = IDelegationManagerExtension(_extension)
    assert staticcall ext.strategyManager() == _strategyManager, "extension mismatch"
    assert staticcall ext.minWithdrawalDelayBlocks() == _minWithdrawalDelayBlocks, "extension mismatch"
    assert staticcall ext.permissionController() == _permissionController, "extension mismatch"
    assert _permissionController != empty(address), "zero address"
    permissionController = _permissionController
    extension = _extension
    deployer = msg.sender
    strategyManager = _strategyManager
    pausable.__init__(staticcall IStrategyManager(_strategyManager).pauserRegistry())
    minWithdrawalDelayBlocks = _minWithdrawalDelayBlocks


@external
def initialize(_allocationManager: address, _slashEscrow: address):
    """
    @notice One-time wiring to the AllocationManager and SlashEscrow (deployer only).
    @param _allocationManager The AllocationManager.
    @param _slashEscrow The SlashEscrow.
    """
    assert msg.sender == deployer, "only deployer"
    assert ds.allocationManager == empty(address), "already initialized"
    assert _allocationManager != empty(address) and _slashEscrow != empty(address), "zero address"
    ds.allocationManager = _allocationManager
    ds.slashEscrow = _slashEscrow
    ds.slashResolutionDelayBlocks = staticcall ISlashEscrowDelay(_slashEscrow).SLASH_RESOLUTION_DELAY_BLOCKS()


# ---------------------------------------------------------------- checkpoint histories

@internal
@view
def _slashing_factor(operator: address, strategy: address) -> uint256:
    if operator == empty(address):
        return WAD
    return ds._latest(ds._key(0, operator, strategy), WAD)


@internal
@view
def _deposit_scaling_factor(staker: address, strategy: address) -> uint256:
    k: uint256 = ds._depositScalingFactor[staker][strategy]
    if k == 0:
        return WAD
    return k


@internal
@view
def _joining_factor(operator: address, strategy: address, sf: uint256) -> uint256:
    # The slashing factor new stake joins at: the current one, scaled back by every pending
    # cancellable dust slash (what the factor will be if they are all cancelled), rounded up so
    # a cancel never gives the newcomer more than it brought. Reverts while a material
    # cancellable slash is pending.
    if operator == empty(address):
        return sf
    word: uint256 = ds._pending[operator][strategy]
    assert word & U32 == 0, "pending slash"
    r: uint256 = word >> 64
    if r == 0:
        return sf
    return (sf * r + WAD - 1) // WAD


@internal
def _set_deposit_scaling_factor(staker: address, strategy: address, k_new: uint256, sf: uint256, shares: uint256, allowed: uint256):
    # The one writer of a deposit scaling factor (deposits, delegations, completions as shares):
    # it refuses a slashing factor above WAD, a zero or oversized factor, and any factor that
    # would credit the staker more withdrawable shares than it had plus what it added.
    assert sf != 0 and sf <= WAD, "invalid slashing factor"
    assert k_new != 0 and k_new <= MAX_DEPOSIT_SCALING_FACTOR, "invalid deposit scaling factor"
    assert (shares * k_new // WAD) * sf // WAD <= allowed, "deposit scaling factor overflow"
    ds._depositScalingFactor[staker][strategy] = k_new
    log DepositScalingFactorUpdated(staker=staker, strategy=strategy, newDepositScalingFactor=k_new)


@internal
def _forward() -> Bytes[32]:
    # Run this call's function in the extension, in this contract's storage; a revert there
    # reverts here with the same reason.
    return raw_call(extension, msg.data, max_outsize=32, is_delegate_call=True)


# ---------------------------------------------------------------- operators

@external
def registerAsOperator(initDelegationApprover: address, allocationDelay: uint32, metadataURI: String[1024]):
    """
    @notice Register the caller as an operator (delegated to itself), with an optional delegation
            approver and its allocation delay (in blocks, effective at once for a new operator).
    @param initDelegationApprover The delegation approver (zero: anyone may delegate).
    @param allocationDelay The operator's allocation delay in blocks.
    @param metadataURI The metadata URI (emitted only).
    """
    assert ds.delegatedTo[msg.sender] == empty(address), "already delegated"
    ds.delegationApprover[msg.sender] = initDelegationApprover
    extcall IAllocationManager(ds.allocationManager).setAllocationDelay(msg.sender, allocationDelay)
    log OperatorRegistered(operator=msg.sender, delegationApprover=initDelegationApprover)
    log DelegationApproverUpdated(operator=msg.sender, newDelegationApprover=initDelegationApprover)
    log OperatorMetadataURIUpdated(operator=msg.sender, metadataURI=metadataURI)
    self._delegate(msg.sender, msg.sender)


@external
def modifyOperatorDetails(operator: address, newDelegationApprover: address):
    """
    @notice Change the operator's delegation approver (the operator only).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param newDelegationApprover The new approver (zero: none).
    """
    self._forward()


@external
def updateOperatorMetadataURI(operator: address, metadataURI: String[1024]):
    """
    @notice Emit a new metadata URI for the operator (the operator only).
    @param operator The operator; the caller must act for it (PermissionController.canCall).
    @param metadataURI The metadata URI (emitted only).
    """
    self._forward()


# ---------------------------------------------------------------- delegation

@internal
@view
def _approval_digest(staker: address, operator: address, approver: address, salt: bytes32, expiry: uint256) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(DELEGATION_APPROVAL_TYPEHASH, approver, staker, operator, salt, expiry))
    return signatures._digest(DOMAIN_NAME_HASH, struct_hash)


@internal
def _delegate(staker: address, operator: address):
    ds.delegatedTo[staker] = operator
    log StakerDelegated(staker=staker, operator=operator)
    strategies: DynArray[address, MAX_STRATEGIES] = []
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    strategies, shares = staticcall IStrategyManager(strategyManager).getDeposits(staker)
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(strategies):
            break
        strategy: address = strategies[i]
        s: uint256 = shares[i]
        sf: uint256 = self._slashing_factor(operator, strategy)
        assert sf != 0, "operator fully slashed"
        k: uint256 = self._deposit_scaling_factor(staker, strategy)
        withdrawable: uint256 = s * k // WAD
        k_new: uint256 = k * WAD // self._joining_factor(operator, strategy, sf)
        self._set_deposit_scaling_factor(staker, strategy, k_new, sf, s, withdrawable)
        ds._set_staker_scaled(staker, operator, strategy, s * k_new // WAD)
        log OperatorSharesIncreased(operator=operator, staker=staker, strategy=strategy, shares=withdrawable)


@internal
def _delegate_to(staker: address, operator: address, sig: SignatureWithExpiry, salt: bytes32):
    assert ds.delegatedTo[staker] == empty(address), "already delegated"
    assert operator != empty(address) and ds.delegatedTo[operator] == operator, "not an operator"
    approver: address = ds.delegationApprover[operator]
    if approver != empty(address) and msg.sender != approver:
        assert sig.expiry >= block.timestamp, "signature expired"
        assert not ds.delegationApproverSaltIsSpent[approver][salt], "salt spent"
        signatures._check_signature(approver, self._approval_digest(staker, operator, approver, salt, sig.expiry), sig.signature)
        ds.delegationApproverSaltIsSpent[approver][salt] = True
    self._delegate(staker, operator)


@external
@nonreentrant
def delegateTo(operator: address, approverSignatureAndExpiry: SignatureWithExpiry, approverSalt: bytes32):
    """
    @notice Delegate all of the caller's stake to `operator`. If the operator has a delegation
            approver, pass its EIP-712 signature (or ERC-1271 for a contract) over
            DelegationApproval(approver, staker, operator, salt, expiry); each salt works once.
    @param operator The operator to delegate to.
    @param approverSignatureAndExpiry The approver's signature and its expiry (empty without an approver).
    @param approverSalt The salt of the approver's signature (each salt is spent once).
    """
    self._delegate_to(msg.sender, operator, approverSignatureAndExpiry, approverSalt)


@internal
def _undelegate(staker: address) -> DynArray[bytes32, 1]:
    operator: address = ds.delegatedTo[staker]
    assert operator != empty(address), "not delegated"
    assert operator != staker, "operators cannot undelegate"
    if msg.sender != staker:
        assert msg.sender == ds.delegationApprover[operator] or permissioned._can_call(permissionController, operator), "unauthorized"
        log StakerForceUndelegated(staker=staker, operator=operator)
    log StakerUndelegated(staker=staker, operator=operator)
    strategies: DynArray[address, MAX_STRATEGIES] = []
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    strategies, shares = staticcall IStrategyManager(strategyManager).getDeposits(staker)
    roots: DynArray[bytes32, 1] = []
    if len(strategies) != 0:
        roots.append(self._queue(staker, operator, strategies, shares))
    ds.delegatedTo[staker] = empty(address)
    return roots


@external
@nonreentrant
def undelegate(staker: address) -> DynArray[bytes32, 1]:
    """
    @notice Undelegate `staker` (by the staker, who acts for its operator, or the approver) and queue
            one withdrawal of all its stake. Operators cannot undelegate.
    @param staker The staker.
    @return the withdrawal roots (none if the staker had no stake)
    """
    return self._undelegate(staker)


@external
@nonreentrant
def redelegate(newOperator: address, newOperatorApproverSig: SignatureWithExpiry, approverSalt: bytes32) -> DynArray[bytes32, 1]:
    """
    @notice Undelegate the caller (queueing its stake) and delegate to `newOperator` in one call.
            The queued stake joins the new operator when completed as shares after the delay.
    @param newOperator The operator to delegate to.
    @param newOperatorApproverSig The new operator's approver signature and expiry.
    @param approverSalt The salt of the approver's signature (each salt is spent once).
    @return The roots of the withdrawals queued (at most one).
    """
    roots: DynArray[bytes32, 1] = self._undelegate(msg.sender)
    self._delegate_to(msg.sender, newOperator, newOperatorApproverSig, approverSalt)
    return roots


# ---------------------------------------------------------------- share hooks

@internal
def _increase(staker: address, operator: address, strategy: address, prev: uint256, added: uint256):
    sf: uint256 = self._slashing_factor(operator, strategy)
    assert sf != 0, "operator fully slashed"
    k: uint256 = self._deposit_scaling_factor(staker, strategy)
    # priced as if pending dust slashes will be cancelled (sf_join = sf unless some are pending)
    sf_join: uint256 = self._joining_factor(operator, strategy, sf)
    k_new: uint256 = 0
    if prev == 0:
        k_new = k * WAD // sf_join
    else:
        withdrawable: uint256 = (prev * k // WAD) * sf_join // WAD
        k_new = ((withdrawable + added) * WAD // (prev + added)) * WAD // sf_join
    self._set_deposit_scaling_factor(staker, strategy, k_new, sf, prev + added, (prev * k // WAD) * sf // WAD + added)
    if operator != empty(address):
        ds._set_staker_scaled(staker, operator, strategy, (prev + added) * k_new // WAD)
        log OperatorSharesIncreased(operator=operator, staker=staker, strategy=strategy, shares=added)


@external
def increaseDelegatedShares(staker: address, strategy: address, prevDepositShares: uint256, addedShares: uint256):
    """
    @notice Account for a deposit (StrategyManager only).
    @param staker The staker.
    @param strategy The strategy.
    @param prevDepositShares The staker's deposit shares before the deposit.
    @param addedShares The shares the deposit added.
    """
    assert msg.sender == strategyManager, "only strategy manager"
    self._increase(staker, ds.delegatedTo[staker], strategy, prevDepositShares, addedShares)


@external
def slashOperatorShares(operator: address, avs: address, operatorSetId: uint32, slashId: uint256, strategy: address, prevMaxMagnitude: uint64, newMaxMagnitude: uint64) -> uint256:
    """
    @notice Apply a slash that lowered the operator's max magnitude from prev to new: every
            delegated and still-slashable queued share loses the same fraction, and the shares
            taken go to the slash escrow (AllocationManager only).
    @param operator The operator.
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    @param strategy The strategy.
    @param prevMaxMagnitude The operator's max magnitude before the slash.
    @param newMaxMagnitude Its max magnitude after the slash.
    @return the strategy shares slashed
    """
    assert msg.sender == ds.allocationManager, "only allocation manager"
    key: bytes32 = ds._key(0, operator, strategy)
    prev_sf: uint256 = ds._latest(key, WAD)
    new_sf: uint256 = prev_sf * convert(newMaxMagnitude, uint256) // convert(prevMaxMagnitude, uint256)
    if newMaxMagnitude == 0:
        # Remember the factor a cancel of this slash must restore: zero cannot be scaled back.
        ds._zeroedBy[operator][strategy] = (block.number << 224) | prev_sf
    elif new_sf == 0 and prev_sf != 0:
        new_sf = 1  # magnitude is left, so the factor stays invertible (a cancel scales it back)
    ds._push(key, new_sf)
    op_scaled: uint256 = ds._latest(ds._key(2, operator, strategy), 0)
    q_scaled: uint256 = ds._queued_scaled(minWithdrawalDelayBlocks, operator, strategy)
    before: uint256 = op_scaled * prev_sf // WAD + q_scaled * prev_sf // WAD
    after: uint256 = op_scaled * new_sf // WAD + q_scaled * new_sf // WAD
    slashed: uint256 = before - after
    extcall IStrategyManager(strategyManager).slashShares(operator, avs, operatorSetId, slashId, strategy, slashed, prevMaxMagnitude - newMaxMagnitude)
    log OperatorSharesSlashed(operator=operator, strategy=strategy, totalSlashedShares=slashed)
    return slashed


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
    self._forward()


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
    self._forward()


# ---------------------------------------------------------------- per-strategy delay, fork slashing

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
    self._forward()


@external
def setForkSlasher(newForkSlasher: address):
    """
    @notice Name the fork-and-challenge manager allowed to call slashOperatorSharesForFork, once, at
            deployment (whitelister only). It can never be changed afterwards: a role that could
            name itself fork slasher could burn anyone's stake outside the slashing rules.
    @param newForkSlasher The ForkManager.
    """
    self._forward()


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
    return abi_decode(self._forward(), uint256)


# ---------------------------------------------------------------- withdrawals

@internal
def _queue(staker: address, operator: address, strategies: DynArray[address, MAX_STRATEGIES], depositShares: DynArray[uint256, MAX_STRATEGIES]) -> bytes32:
    assert len(strategies) == len(depositShares), "input length mismatch"
    assert len(strategies) != 0, "no strategies"
    scaled_list: DynArray[uint256, MAX_STRATEGIES] = []
    withdrawable_list: DynArray[uint256, MAX_STRATEGIES] = []
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(strategies):
            break
        strategy: address = strategies[i]
        x: uint256 = depositShares[i]
        assert x != 0, "zero shares"
        s: uint256 = staticcall IStrategyManager(strategyManager).stakerDepositShares(staker, strategy)
        assert x <= s, "shares too high"
        k: uint256 = self._deposit_scaling_factor(staker, strategy)
        scaled: uint256 = x * k // WAD
        withdrawable: uint256 = scaled * self._slashing_factor(operator, strategy) // WAD
        if operator != empty(address):
            ds._set_staker_scaled(staker, operator, strategy, (s - x) * k // WAD)
            key: bytes32 = ds._key(1, operator, strategy)
            ds._push(key, ds._latest(key, 0) + scaled)
            log OperatorSharesDecreased(operator=operator, staker=staker, strategy=strategy, shares=withdrawable)
        if extcall IStrategyManager(strategyManager).removeDepositShares(staker, strategy, x):
            ds._depositScalingFactor[staker][strategy] = 0
        scaled_list.append(scaled)
        withdrawable_list.append(withdrawable)
    nonce: uint256 = ds.cumulativeWithdrawalsQueued[staker]
    ds.cumulativeWithdrawalsQueued[staker] = nonce + 1
    w: ds.Withdrawal = ds.Withdrawal(
        staker=staker,
        delegatedTo=operator,
        withdrawer=staker,
        nonce=nonce,
        startBlock=convert(block.number, uint32),
        strategies=strategies,
        scaledShares=scaled_list,
    )
    root: bytes32 = keccak256(abi_encode(w))
    n: uint256 = ds._queuedCount[staker]
    ds._queuedRoots[staker][n] = root
    ds._queuedCount[staker] = n + 1
    ds._queuedPosition[root] = n + 1
    ds._withdrawals[root] = ds.StoredWithdrawal(head=convert(staker, uint256) | block.number << 160 | nonce << 192, delegatedTo=operator, strategies=strategies, scaledShares=scaled_list)
    log SlashingWithdrawalQueued(withdrawalRoot=root, withdrawal=w, sharesToWithdraw=withdrawable_list)
    return root


@external
@nonreentrant
def queueWithdrawals(params: DynArray[QueuedWithdrawalParams, MAX_WITHDRAWALS]) -> DynArray[bytes32, MAX_WITHDRAWALS]:
    """
    @notice Queue withdrawals of the caller's deposit shares; they stay slashable for
            minWithdrawalDelayBlocks and can be completed after that.
    @param params One QueuedWithdrawalParams (strategies, deposit shares, withdrawer) per withdrawal.
    @return the withdrawal roots
    """
    operator: address = ds.delegatedTo[msg.sender]
    roots: DynArray[bytes32, MAX_WITHDRAWALS] = []
    for p: QueuedWithdrawalParams in params:
        assert p.withdrawer == msg.sender, "withdrawer must be staker"
        roots.append(self._queue(msg.sender, operator, p.strategies, p.depositShares))
    return roots


@internal
@view
def _withdrawable(w: ds.Withdrawal, i: uint256) -> uint256:
    # The shares the withdrawal's i-th strategy pays: its scaled shares at the operator's slashing
    # factor as of the block its slashability ends (the current factor until then).
    if w.delegatedTo == empty(address):
        return w.scaledShares[i]
    strategy: address = w.strategies[i]
    until: uint256 = convert(w.startBlock, uint256) + convert(minWithdrawalDelayBlocks, uint256) + convert(ds.strategyWithdrawalDelayBlocks[strategy], uint256)
    return w.scaledShares[i] * ds._at(ds._key(0, w.delegatedTo, strategy), until, WAD) // WAD


@internal
def _complete(withdrawal: ds.Withdrawal, tokens: DynArray[address, MAX_STRATEGIES], receiveAsTokens: bool):
    pausable._check_not_paused(PAUSED_WITHDRAWAL_COMPLETION)
    assert msg.sender == withdrawal.withdrawer, "only withdrawer"
    root: bytes32 = keccak256(abi_encode(withdrawal))
    pos: uint256 = ds._queuedPosition[root]
    assert pos != 0, "withdrawal not queued"
    slashable_until: uint256 = convert(withdrawal.startBlock, uint256) + convert(minWithdrawalDelayBlocks, uint256)
    assert block.number > slashable_until, "withdrawal delay not passed"
    if receiveAsTokens:
        assert len(tokens) == len(withdrawal.strategies), "input length mismatch"
    # Unlist it: the staker's last root takes its place.
    last: uint256 = ds._queuedCount[withdrawal.staker] - 1
    if pos <= last:
        moved: bytes32 = ds._queuedRoots[withdrawal.staker][last]
        ds._queuedRoots[withdrawal.staker][pos - 1] = moved
        ds._queuedPosition[moved] = pos
    ds._queuedRoots[withdrawal.staker][last] = empty(bytes32)
    ds._queuedCount[withdrawal.staker] = last
    ds._queuedPosition[root] = 0
    ds._withdrawals[root] = empty(ds.StoredWithdrawal)
    current_operator: address = ds.delegatedTo[withdrawal.staker]
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(withdrawal.strategies):
            break
        strategy: address = withdrawal.strategies[i]
        until: uint256 = slashable_until + convert(ds.strategyWithdrawalDelayBlocks[strategy], uint256)
        assert block.number > until, "withdrawal delay not passed"
        if withdrawal.delegatedTo != empty(address):
            # A slash still cancellable may have landed before the window ended: wait for it to
            # be resolved, so a cancel values this withdrawal as if the slash never happened.
            if ds._pending[withdrawal.delegatedTo][strategy] != 0:
                assert block.number > until + convert(ds.slashResolutionDelayBlocks, uint256), "pending slash"
        shares: uint256 = self._withdrawable(withdrawal, i)
        if shares == 0:
            continue
        if receiveAsTokens:
            extcall IStrategyManager(strategyManager).withdrawSharesAsTokens(withdrawal.staker, strategy, tokens[i], shares)
        else:
            prev: uint256 = 0
            added: uint256 = 0
            prev, added = extcall IStrategyManager(strategyManager).addShares(withdrawal.staker, strategy, shares)
            self._increase(withdrawal.staker, current_operator, strategy, prev, added)
    log SlashingWithdrawalCompleted(withdrawalRoot=root)


@external
@nonreentrant
def completeQueuedWithdrawal(withdrawal: ds.Withdrawal, tokens: DynArray[address, MAX_STRATEGIES], receiveAsTokens: bool):
    """
    @notice Complete a queued withdrawal after the delay, as tokens (one token per strategy) or
            as shares re-credited to the caller (and its current operator).
    @param withdrawal The queued withdrawal, as logged by SlashingWithdrawalQueued.
    @param tokens The token of each strategy of the withdrawal (same order).
    @param receiveAsTokens True to receive tokens, False to get the shares back.
    """
    self._complete(withdrawal, tokens, receiveAsTokens)


@external
@nonreentrant
def completeQueuedWithdrawals(withdrawals: DynArray[ds.Withdrawal, MAX_WITHDRAWALS], tokens: DynArray[DynArray[address, MAX_STRATEGIES], MAX_WITHDRAWALS], receiveAsTokens: DynArray[bool, MAX_WITHDRAWALS]):
    """
    @notice Batch form of completeQueuedWithdrawal.
    @param withdrawals The queued withdrawals.
    @param tokens The token of each strategy of the withdrawal (same order).
    @param receiveAsTokens True to receive tokens, False to get the shares back.
    """
    assert len(withdrawals) == len(tokens) and len(tokens) == len(receiveAsTokens), "input length mismatch"
    for i: uint256 in range(MAX_WITHDRAWALS):
        if i >= len(withdrawals):
            break
        self._complete(withdrawals[i], tokens[i], receiveAsTokens[i])


# ---------------------------------------------------------------- views

@external
@view
def pendingWithdrawals(withdrawalRoot: bytes32) -> bool:
    """
    @notice Whether the withdrawal is queued and not yet completed.
    @param withdrawalRoot The withdrawal root.
    @return True while queued.
    """
    return ds._queuedPosition[withdrawalRoot] != 0


@internal
@view
def _queued_withdrawal(root: bytes32) -> (ds.Withdrawal, DynArray[uint256, MAX_STRATEGIES]):
    q: ds.StoredWithdrawal = ds._withdrawals[root]
    staker: address = convert(q.head & ADDRESS_MASK, address)
    w: ds.Withdrawal = ds.Withdrawal(staker=staker, delegatedTo=q.delegatedTo, withdrawer=staker, nonce=q.head >> 192, startBlock=convert((q.head >> 160) & U32, uint32), strategies=q.strategies, scaledShares=q.scaledShares)
    shares: DynArray[uint256, MAX_STRATEGIES] = []
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(w.strategies):
            break
        shares.append(self._withdrawable(w, i))
    return w, shares


@external
@view
def getQueuedWithdrawal(withdrawalRoot: bytes32) -> (ds.Withdrawal, DynArray[uint256, MAX_STRATEGIES]):
    """
    @notice A queued withdrawal and the shares it pays per strategy (EigenLayer's name): the
            scaled shares at the operator's slashing factor now, or as of the end of its
            slashable window once that has passed (what completion pays, unless a pending
            cancellable slash is cancelled first).
    @dev An unknown or completed root gives an empty withdrawal and no shares.
    @param withdrawalRoot The withdrawal root.
    @return (the withdrawal, its withdrawable shares per strategy)
    """
    return self._queued_withdrawal(withdrawalRoot)


@external
@view
def getQueuedWithdrawalRoots(staker: address, start: uint256 = 0, length: uint256 = MAX_QUEUED_PAGE) -> DynArray[bytes32, MAX_QUEUED_PAGE]:
    """
    @notice Roots of the staker's withdrawals queued and not completed, in no particular order
            (a completion moves the last into the completed one's place): EigenLayer's
            `getQueuedWithdrawalRoots(staker)` (the first 64) and a paged variant.
    @dev Reverts "page too long" for a length above 64; a start at or past the end returns
         nothing.
    @param staker The staker.
    @param start The position of the first root to return.
    @param length The most roots to return (at most 64).
    @return The roots at positions start .. start + length - 1.
    """
    assert length <= MAX_QUEUED_PAGE, "page too long"
    out: DynArray[bytes32, MAX_QUEUED_PAGE] = []
    for i: uint256 in range(start, start + length, bound=MAX_QUEUED_PAGE):
        if i >= ds._queuedCount[staker]:
            break
        out.append(ds._queuedRoots[staker][i])
    return out


@external
@view
def getQueuedWithdrawals(staker: address, start: uint256 = 0, length: uint256 = MAX_QUEUED_PAGE) -> (DynArray[ds.Withdrawal, MAX_QUEUED_PAGE], DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_QUEUED_PAGE]):
    """
    @notice The staker's queued withdrawals and the shares each pays (as getQueuedWithdrawal),
            in the order of getQueuedWithdrawalRoots: EigenLayer's
            `getQueuedWithdrawals(staker)` (the first 64) and a paged variant.
    @dev Reverts "page too long" for a length above 64.
    @param staker The staker.
    @param start The position of the first withdrawal to return.
    @param length The most withdrawals to return (at most 64).
    @return (withdrawals, withdrawable shares of each per strategy)
    """
    assert length <= MAX_QUEUED_PAGE, "page too long"
    ws: DynArray[ds.Withdrawal, MAX_QUEUED_PAGE] = []
    shares: DynArray[DynArray[uint256, MAX_STRATEGIES], MAX_QUEUED_PAGE] = []
    for i: uint256 in range(start, start + length, bound=MAX_QUEUED_PAGE):
        if i >= ds._queuedCount[staker]:
            break
        w: ds.Withdrawal = empty(ds.Withdrawal)
        s: DynArray[uint256, MAX_STRATEGIES] = []
        w, s = self._queued_withdrawal(ds._queuedRoots[staker][i])
        ws.append(w)
        shares.append(s)
    return ws, shares


@external
@view
def pendingSlashes(operator: address, strategy: address) -> uint256:
    """
    @notice Material cancellable slashes of (operator, strategy) in their window (no stake joins).
    @param operator The operator.
    @param strategy The strategy.
    @return The number pending.
    """
    return ds._pending[operator][strategy] & U32


@external
@view
def pendingDustSlashes(operator: address, strategy: address) -> uint256:
    """
    @notice Cancellable dust slashes of (operator, strategy) in their window (they close nothing).
    @param operator The operator.
    @param strategy The strategy.
    @return The number pending.
    """
    return (ds._pending[operator][strategy] >> 32) & U32


@external
@view
def isOperator(operator: address) -> bool:
    """
    @notice Whether `operator` is a registered operator.
    @param operator The operator.
    @return True if registered.
    """
    return operator != empty(address) and ds.delegatedTo[operator] == operator


@external
@view
def isDelegated(staker: address) -> bool:
    """
    @notice Whether `staker` is delegated to an operator.
    @param staker The staker.
    @return True if delegated.
    """
    return ds.delegatedTo[staker] != empty(address)


@external
@view
def slashingFactor(operator: address, strategy: address) -> uint256:
    """
    @notice The operator's current slashing factor for `strategy` (WAD = never slashed).
    @param operator The operator.
    @param strategy The strategy.
    @return The slashing factor (WAD-scaled).
    """
    return self._slashing_factor(operator, strategy)


@external
@view
def slashingFactorAtBlock(operator: address, strategy: address, blockNumber: uint256) -> uint256:
    """
    @notice The operator's slashing factor for `strategy` as of `blockNumber`.
    @param operator The operator.
    @param strategy The strategy.
    @param blockNumber The block number (not after the current block).
    @return The slashing factor (WAD-scaled).
    """
    return ds._at(ds._key(0, operator, strategy), blockNumber, WAD)


@external
@view
def depositScalingFactor(staker: address, strategy: address) -> uint256:
    """
    @notice The staker's deposit scaling factor for `strategy` (WAD by default).
    @param staker The staker.
    @param strategy The strategy.
    @return The deposit scaling factor (WAD-scaled).
    """
    return self._deposit_scaling_factor(staker, strategy)


@internal
@view
def _operator_shares(operator: address, strategy: address) -> uint256:
    return ds._latest(ds._key(2, operator, strategy), 0) * self._slashing_factor(operator, strategy) // WAD


@internal
@view
def _shares_at(key: bytes32, operator: address, strategy: address, blockNumber: uint256) -> uint256:
    return ds._at(key, blockNumber, 0) * ds._at(ds._key(0, operator, strategy), blockNumber, WAD) // WAD


@external
@view
def operatorScaledShares(operator: address, strategy: address) -> uint256:
    """
    @notice The sum of the scaled shares of the operator's stakers in `strategy` (before the
            slashing factor).
    @param operator The operator.
    @param strategy The strategy.
    @return The scaled shares.
    """
    return ds._latest(ds._key(2, operator, strategy), 0)


@external
@view
def operatorSharesAt(operator: address, strategy: address, blockNumber: uint256) -> uint256:
    """
    @notice operatorShares as of the end of block `blockNumber` (checkpointed on every deposit,
            delegation, undelegation, withdrawal and slash; binary search).
    @dev Final only for blocks before the current one; a cancelled slash (undoSlash) is undone
         in the history too.
    @param operator The operator.
    @param strategy The strategy.
    @param blockNumber The block number.
    @return The shares delegated to the operator in `strategy` at that block.
    """
    return self._shares_at(ds._key(2, operator, strategy), operator, strategy, blockNumber)


@external
@view
def stakerSharesAt(staker: address, operator: address, strategy: address, blockNumber: uint256) -> uint256:
    """
    @notice The staker's withdrawable shares in `strategy` delegated to `operator` as of the end
            of block `blockNumber` (0 if it was delegated elsewhere or to nobody then). Summed
            over the operator's stakers they never exceed operatorSharesAt.
    @dev Final only for blocks before the current one.
    @param staker The staker.
    @param operator The operator.
    @param strategy The strategy.
    @param blockNumber The block number.
    @return The staker's delegated shares at that block.
    """
    return self._shares_at(ds._staker_key(staker, operator, strategy), operator, strategy, blockNumber)


@external
@view
def operatorShares(operator: address, strategy: address) -> uint256:
    """
    @notice Shares delegated to `operator` in `strategy`, after slashing.
    @param operator The operator.
    @param strategy The strategy.
    @return The delegated shares.
    """
    return self._operator_shares(operator, strategy)


@external
@view
def getOperatorShares(operator: address, strategies: DynArray[address, MAX_STRATEGIES]) -> DynArray[uint256, MAX_STRATEGIES]:
    """
    @notice operatorShares for several strategies.
    @param operator The operator.
    @param strategies The strategies.
    @return The delegated shares in each strategy.
    """
    out: DynArray[uint256, MAX_STRATEGIES] = []
    for s: address in strategies:
        out.append(self._operator_shares(operator, s))
    return out


@external
@view
def getSlashableSharesInQueue(operator: address, strategy: address) -> uint256:
    """
    @notice Shares queued for withdrawal from `operator` that are still slashable.
    @param operator The operator.
    @param strategy The strategy.
    @return The slashable queued shares.
    """
    return ds._queued_scaled(minWithdrawalDelayBlocks, operator, strategy) * self._slashing_factor(operator, strategy) // WAD


@external
@view
def getWithdrawableShares(staker: address, strategies: DynArray[address, MAX_STRATEGIES]) -> (DynArray[uint256, MAX_STRATEGIES], DynArray[uint256, MAX_STRATEGIES]):
    """
    @notice (withdrawable shares, deposit shares) of `staker` in each strategy.
    @param staker The staker.
    @param strategies The strategies.
    @return (withdrawable shares, deposit shares), one of each per strategy.
    """
    operator: address = ds.delegatedTo[staker]
    withdrawable: DynArray[uint256, MAX_STRATEGIES] = []
    deposits: DynArray[uint256, MAX_STRATEGIES] = []
    for strategy: address in strategies:
        s: uint256 = staticcall IStrategyManager(strategyManager).stakerDepositShares(staker, strategy)
        withdrawable.append((s * self._deposit_scaling_factor(staker, strategy) // WAD) * self._slashing_factor(operator, strategy) // WAD)
        deposits.append(s)
    return withdrawable, deposits


@external
@view
def calculateWithdrawalRoot(withdrawal: ds.Withdrawal) -> bytes32:
    """
    @notice keccak256 of the ABI-encoded withdrawal.
    @param withdrawal The queued withdrawal, as logged by SlashingWithdrawalQueued.
    @return The withdrawal root.
    """
    return keccak256(abi_encode(withdrawal))


@external
@view
def calculateDelegationApprovalDigestHash(staker: address, operator: address, approver: address, approverSalt: bytes32, expiry: uint256) -> bytes32:
    """
    @notice The EIP-712 digest a delegation approver signs.
    @param staker The staker.
    @param operator The operator.
    @param approver The operator's delegation approver.
    @param approverSalt The salt of the approver's signature (each salt is spent once).
    @param expiry Timestamp after which the signature is invalid.
    @return The EIP-712 digest.
    """
    return self._approval_digest(staker, operator, approver, approverSalt, expiry)


@external
@view
def domainSeparator() -> bytes32:
    """
    @notice The EIP-712 domain separator.
    @return The domain separator.
    """
    return signatures._domain_separator(DOMAIN_NAME_HASH)
