# pragma version ~=0.4.3
"""
@title SlashEscrow
@notice Holds the tokens of every slash for a resolution window. During the window the
        operator set's resolver (fixed when the set was created; optional) may cancel the slash,
        which puts the tokens and the very shares taken back into the strategies, undoes the
        slash in the slashing-factor history (every party ends as if it never happened) and gives
        the slashed magnitude back to the operator (unallocated). After the window anyone releases the tokens to the set's
        redistribution recipient, or to the burn address for a burning set.
@dev Implements ISlashEscrow (called by the StrategyManager) and ISlashEscrowRelease (used by
     redistribution recipients). A slash is one packed meta slot plus one (entry, amount) pair per
     slashed strategy; see docs/restaking.md.
"""

from ethereum.ercs import IERC20
from ..interfaces import ITypes
from ..interfaces import IAllocationManager
from ..interfaces import IDelegationManager
from ..interfaces import IStrategyManager
from ..interfaces import IStrategy
from ..interfaces import ISlashEscrow
from ..interfaces import ISlashEscrowRelease
from ..permissions import pausable

implements: ISlashEscrow
implements: ISlashEscrowRelease

initializes: pausable
exports: (pausable.pauserRegistry, pausable.paused, pausable.setPausedStatus)

# Pause flag (bit of this contract's bitmap, EigenLayer's index) of the guarded function.
PAUSED_ESCROW_RELEASE: constant(uint256) = 0

MAX_STRATEGIES: constant(uint256) = 32
STATUS_NONE: constant(uint8) = 0
STATUS_PENDING: constant(uint8) = 1
STATUS_RELEASED: constant(uint8) = 2
STATUS_CANCELLED: constant(uint8) = 3
# A cancellable slash taking less than 1/DUST_SLASH_DIVISOR of the operator's magnitude in a
# strategy is dust: it closes nothing (DelegationManager.setSlashPending).
DUST_SLASH_DIVISOR: constant(uint256) = 10_000

event SlashEscrowed:
    operatorSet: ITypes.OperatorSet
    slashId: indexed(uint256)
    operator: indexed(address)
    strategy: address
    token: address
    amount: uint256
    resolveBlock: uint32

event SlashReleased:
    operatorSet: ITypes.OperatorSet
    slashId: indexed(uint256)
    recipient: indexed(address)
    token: address
    amount: uint256

event SlashPaymentFailed:
    operatorSet: ITypes.OperatorSet
    slashId: indexed(uint256)
    recipient: indexed(address)
    token: address
    amount: uint256

event SlashCancelled:
    operatorSet: ITypes.OperatorSet
    slashId: indexed(uint256)
    operator: indexed(address)
    strategy: address
    amount: uint256
    restoredShares: uint256


# The StrategyManager, the only caller of recordSlash.
strategyManager: public(immutable(address))
# The DelegationManager.
delegation: public(immutable(address))
# The AllocationManager.
allocationManager: public(immutable(address))
# Blocks a slash stays cancellable before it can be released.
SLASH_RESOLUTION_DELAY_BLOCKS: public(immutable(uint32))

# Per slash: operator | resolveBlock << 160 | status << 192 | number of entries << 200 (one slot),
# then one (strategy and slashed magnitude, amount) pair per slashed strategy.
_slashMeta: HashMap[bytes32, uint256]
_slashEntries: HashMap[bytes32, HashMap[uint256, uint256]]  # strategy | slashed magnitude << 160
# slash key -> entry index -> tokens held for that entry.
_slashEntryAmounts: HashMap[bytes32, HashMap[uint256, uint256]]
# slash key -> bit i set: entry i of the released slash failed to pay and is still claimable.
_unpaidMask: HashMap[bytes32, uint256]
# slash key -> entry index -> what a cancel needs to undo a cancellable entry exactly: the
# strategy shares taken | the operator's max magnitude after the slash << 128.
_slashEntryUndo: HashMap[bytes32, HashMap[uint256, uint256]]


@deploy
def __init__(_strategyManager: address, _delegation: address, _allocationManager: address, _resolutionDelayBlocks: uint32):
    """
    @notice Deploy with the core contracts and the resolution window.
    @param _strategyManager The StrategyManager.
    @param _delegation The DelegationManager.
    @param _allocationManager The AllocationManager.
    @param _resolutionDelayBlocks Blocks a slash stays cancellable (SLASH_RESOLUTION_DELAY_BLOCKS).
    """
    assert _resolutionDelayBlocks <= staticcall IDelegationManager(_delegation).minWithdrawalDelayBlocks(), "resolution window exceeds withdrawal delay"
    strategyManager = _strategyManager
    delegation = _delegation
    pausable.__init__(staticcall IDelegationManager(_delegation).pauserRegistry())
    allocationManager = _allocationManager
    SLASH_RESOLUTION_DELAY_BLOCKS = _resolutionDelayBlocks


@internal
@pure
def _key(avs: address, operatorSetId: uint32, slashId: uint256) -> bytes32:
    return keccak256(abi_encode(avs, operatorSetId, slashId))


@internal
@pure
def _strategy_of(entry: uint256) -> address:
    return convert(entry & ((1 << 160) - 1), address)


@internal
@pure
def _unpack(meta: uint256) -> (address, uint256, uint8, uint256):
    return convert(meta & ((1 << 160) - 1), address), (meta >> 160) & ((1 << 32) - 1), convert((meta >> 192) & 255, uint8), meta >> 200


@external
def recordSlash(operator: address, avs: address, operatorSetId: uint32, slashId: uint256, strategy: address, token: address, amount: uint256, shares: uint256, slashedMagnitude: uint64, sharesHeld: bool):
    """
    @notice Record tokens of a slash that the StrategyManager has just sent here.
    @param operator The operator.
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    @param strategy The strategy.
    @param token The ERC-20 token.
    @param amount The tokens received.
    @param shares The strategy shares slashed.
    @param slashedMagnitude The magnitude the slash took (WAD = all).
    @param sharesHeld The shares stayed in the strategy, held here until release (bEIGEN); the
           entry's amount is then those shares, paid out in the canonical token on release.
    """
    assert msg.sender == strategyManager, "only strategy manager"
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    meta: uint256 = self._slashMeta[key]
    n: uint256 = meta >> 200
    resolve_block: uint256 = (meta >> 160) & ((1 << 32) - 1)
    if meta == 0:
        resolve_block = block.number + convert(SLASH_RESOLUTION_DELAY_BLOCKS, uint256)
    assert n < MAX_STRATEGIES, "too many entries"
    # Bit 224 marks an entry that holds new stake away from the operator until it is resolved:
    # shares were taken and the set has a resolver, so the slash may still be cancelled.
    frozen: uint256 = 0
    dust: uint256 = 0
    if shares != 0 and staticcall IAllocationManager(allocationManager).getResolver(ITypes.OperatorSet(avs=avs, id=operatorSetId)) != empty(address):
        frozen = 1
        new_max: uint64 = staticcall IAllocationManager(allocationManager).getMaxMagnitude(operator, strategy)
        prev_max: uint64 = new_max + slashedMagnitude
        if convert(slashedMagnitude, uint256) * DUST_SLASH_DIVISOR < convert(prev_max, uint256):
            dust = 1
        extcall IDelegationManager(delegation).setSlashPending(operator, strategy, True, dust == 1, prev_max, new_max)
        self._slashEntryUndo[key][n] = shares | (convert(new_max, uint256) << 128)
    held: uint256 = 0
    stored: uint256 = amount
    if sharesHeld:
        held = 1
        stored = shares
    self._slashEntries[key][n] = convert(strategy, uint256) | (convert(slashedMagnitude, uint256) << 160) | (frozen << 224) | (held << 226) | (dust << 227)
    self._slashEntryAmounts[key][n] = stored
    self._slashMeta[key] = convert(operator, uint256) | (resolve_block << 160) | (convert(STATUS_PENDING, uint256) << 192) | ((n + 1) << 200)
    log SlashEscrowed(operatorSet=ITypes.OperatorSet(avs=avs, id=operatorSetId), slashId=slashId, operator=operator, strategy=strategy, token=token, amount=amount, resolveBlock=convert(resolve_block, uint32))


@internal
def _unfreeze(key: bytes32, i: uint256, entry: uint256, operator: address, strategy: address):
    new_max: uint64 = convert(self._slashEntryUndo[key][i] >> 128, uint64)
    prev_max: uint64 = new_max + convert((entry >> 160) & ((1 << 64) - 1), uint64)
    extcall IDelegationManager(delegation).setSlashPending(operator, strategy, False, (entry >> 227) & 1 == 1, prev_max, new_max)


@internal
def _close(key: bytes32, status: uint8) -> (address, uint256, uint256):
    meta: uint256 = self._slashMeta[key]
    operator: address = empty(address)
    resolve_block: uint256 = 0
    current: uint8 = 0
    n: uint256 = 0
    operator, resolve_block, current, n = self._unpack(meta)
    assert current == STATUS_PENDING, "slash not pending"
    self._slashMeta[key] = (meta & ~(255 << 192)) | (convert(status, uint256) << 192)
    return operator, resolve_block, n


@internal
def _call_ok(target: address, data: Bytes[100]) -> bool:
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(target, data, max_outsize=32, revert_on_failure=False)
    return ok


@internal
def _pay(token: address, recipient: address, amount: uint256) -> bool:
    # One token's payment that can fail (a paused or blacklisting token, or one returning
    # false) without reverting the others.
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(token, abi_encode(recipient, amount, method_id=method_id("transfer(address,uint256)")), max_outsize=32, revert_on_failure=False)
    if not ok:
        return False
    if len(response) == 0:
        return token.is_contract
    return convert(response, bool)


@external
@nonreentrant
def releaseSlash(avs: address, operatorSetId: uint32, slashId: uint256):
    """
    @notice After the resolution window, send a slash's tokens to the set's redistribution
            recipient (or the burn address). Anyone may call. Each token is paid on its own: a
            token whose transfer fails (paused, blacklisting) stays claimable by calling again,
            and never holds back the others or keeps the operator closed to new stake.
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    """
    pausable._check_not_paused(PAUSED_ESCROW_RELEASE)
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    meta: uint256 = self._slashMeta[key]
    operator: address = empty(address)
    resolve_block: uint256 = 0
    status: uint8 = 0
    n: uint256 = 0
    operator, resolve_block, status, n = self._unpack(meta)
    first: bool = status == STATUS_PENDING
    mask: uint256 = self._unpaidMask[key]
    assert first or (status == STATUS_RELEASED and mask != 0), "slash not pending"
    assert block.number > resolve_block, "resolution window open"
    if first:
        self._slashMeta[key] = (meta & ~(255 << 192)) | (convert(STATUS_RELEASED, uint256) << 192)
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetId)
    recipient: address = staticcall IAllocationManager(allocationManager).getRedistributionRecipient(opset)
    unpaid: uint256 = 0
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= n:
            break
        entry: uint256 = self._slashEntries[key][i]
        strategy: address = self._strategy_of(entry)
        if first and (entry >> 224) & 1 == 1:
            self._unfreeze(key, i, entry, operator, strategy)
        if not first and (mask >> i) & 1 == 0:
            continue  # paid by an earlier call
        amount: uint256 = self._slashEntryAmounts[key][i]
        token: address = staticcall IStrategy(strategy).underlyingToken()
        paid: bool = True
        if amount != 0:
            if (entry >> 226) & 1 == 1:
                # held shares: paid in the strategy's token of now (canonical bEIGEN); while a
                # challenge is pending the strategy cannot pay and the entry waits
                paid = self._call_ok(strategyManager, abi_encode(strategy, recipient, amount, method_id=method_id("releaseEscrowedShares(address,address,uint256)")))
            else:
                paid = self._pay(token, recipient, amount)
        if not paid:
            unpaid |= 1 << i
            log SlashPaymentFailed(operatorSet=opset, slashId=slashId, recipient=recipient, token=token, amount=amount)
            continue
        log SlashReleased(operatorSet=opset, slashId=slashId, recipient=recipient, token=token, amount=amount)
    if unpaid != mask:
        self._unpaidMask[key] = unpaid


@external
@nonreentrant
def cancelSlash(avs: address, operatorSetId: uint32, slashId: uint256):
    """
    @notice Cancel a slash within its resolution window (the set's resolver only): the tokens and
            the shares taken go back into their strategies and the slash is undone for everyone.
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    """
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    opset: ITypes.OperatorSet = ITypes.OperatorSet(avs=avs, id=operatorSetId)
    operator: address = empty(address)
    resolve_block: uint256 = 0
    n: uint256 = 0
    operator, resolve_block, n = self._close(key, STATUS_CANCELLED)
    resolver: address = staticcall IAllocationManager(allocationManager).getResolver(opset)
    assert resolver != empty(address) and msg.sender == resolver, "only resolver"
    assert block.number <= resolve_block, "resolution window closed"
    slash_block: uint256 = resolve_block - convert(SLASH_RESOLUTION_DELAY_BLOCKS, uint256)
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= n:
            break
        amount: uint256 = self._slashEntryAmounts[key][i]
        entry: uint256 = self._slashEntries[key][i]
        strategy: address = self._strategy_of(entry)
        if (entry >> 224) & 1 == 1:
            self._unfreeze(key, i, entry, operator, strategy)
        slashed_mag: uint64 = convert((entry >> 160) & ((1 << 64) - 1), uint64)
        extcall IAllocationManager(allocationManager).restoreSlashedMagnitude(operator, strategy, slashed_mag)
        restored: uint256 = 0
        if (entry >> 224) & 1 == 1:
            # Undo exactly: the tokens and the very shares taken go back into the strategy, and
            # the slashing-factor history is scaled back from the slash's block on.
            undo: uint256 = self._slashEntryUndo[key][i]
            restored = undo & ((1 << 128) - 1)
            new_max: uint64 = convert(undo >> 128, uint64)
            if (entry >> 226) & 1 == 0:  # held shares never left the strategy
                if amount != 0:
                    token: address = staticcall IStrategy(strategy).underlyingToken()
                    assert extcall IERC20(token).transfer(strategy, amount, default_return_value=True), "transfer failed"
                extcall IStrategyManager(strategyManager).restoreShares(strategy, amount, restored)
            extcall IDelegationManager(delegation).undoSlash(operator, strategy, slash_block, new_max + slashed_mag, new_max)
        log SlashCancelled(operatorSet=opset, slashId=slashId, operator=operator, strategy=strategy, amount=amount, restoredShares=restored)


@external
@view
def getSlash(avs: address, operatorSetId: uint32, slashId: uint256) -> ITypes.SlashRecord:
    """
    @notice The escrow record of a slash (status 0 none, 1 pending, 2 released, 3 cancelled).
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    @return The SlashRecord.
    """
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    rec: ITypes.SlashRecord = empty(ITypes.SlashRecord)
    n: uint256 = 0
    rec.operator, rec.resolveBlock, rec.status, n = self._unpack_view(self._slashMeta[key])
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= n:
            break
        entry: uint256 = self._slashEntries[key][i]
        rec.strategies.append(self._strategy_of(entry))
        rec.tokens.append(staticcall IStrategy(self._strategy_of(entry)).underlyingToken())
        rec.amounts.append(self._slashEntryAmounts[key][i])
        rec.magnitudes.append(convert((entry >> 160) & ((1 << 64) - 1), uint64))
    return rec


@external
@view
def getUnpaid(avs: address, operatorSetId: uint32, slashId: uint256) -> DynArray[uint256, MAX_STRATEGIES]:
    """
    @notice Per entry of a slash (getSlash order), the tokens still owed to the recipient: all of
            them before release, those whose payment failed after it (0 once paid or cancelled).
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    @return The unpaid amount of each entry.
    """
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    meta: uint256 = self._slashMeta[key]
    st: uint8 = convert((meta >> 192) & 255, uint8)
    out: DynArray[uint256, MAX_STRATEGIES] = []
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= meta >> 200:
            break
        if st == STATUS_CANCELLED or (st == STATUS_RELEASED and (self._unpaidMask[key] >> i) & 1 == 0):
            out.append(0)
        else:
            out.append(self._slashEntryAmounts[key][i])
    return out


@internal
@pure
def _unpack_view(meta: uint256) -> (address, uint32, uint8, uint256):
    operator: address = empty(address)
    rb: uint256 = 0
    st: uint8 = 0
    n: uint256 = 0
    operator, rb, st, n = self._unpack(meta)
    return operator, convert(rb, uint32), st, n
