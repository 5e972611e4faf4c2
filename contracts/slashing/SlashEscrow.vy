# pragma version ~=0.4.3
# @title SlashEscrow
# @notice Holds the tokens of every slash for a resolution window. During the window the
#         operator set's resolver (fixed when the set was created; optional) may cancel the slash,
#         which puts the tokens back into the strategies and restores the stake of the operator's
#         stakers pro rata. After the window anyone releases the tokens to the set's
#         redistribution recipient, or to the burn address for a burning set.

from ethereum.ercs import IERC20
from ..interfaces import IAllocationManager
from ..interfaces import IDelegationManager
from ..interfaces import IStrategyManager
from ..interfaces import IStrategy

MAX_STRATEGIES: constant(uint256) = 32
STATUS_NONE: constant(uint8) = 0
STATUS_PENDING: constant(uint8) = 1
STATUS_RELEASED: constant(uint8) = 2
STATUS_CANCELLED: constant(uint8) = 3

struct SlashRecord:
    operator: address
    resolveBlock: uint32
    status: uint8
    strategies: DynArray[address, MAX_STRATEGIES]
    tokens: DynArray[address, MAX_STRATEGIES]
    amounts: DynArray[uint256, MAX_STRATEGIES]
    shares: DynArray[uint256, MAX_STRATEGIES]

event SlashEscrowed:
    operatorSet: IAllocationManager.OperatorSet
    slashId: indexed(uint256)
    operator: indexed(address)
    strategy: address
    token: address
    amount: uint256
    resolveBlock: uint32

event SlashReleased:
    operatorSet: IAllocationManager.OperatorSet
    slashId: indexed(uint256)
    recipient: indexed(address)
    token: address
    amount: uint256

event SlashCancelled:
    operatorSet: IAllocationManager.OperatorSet
    slashId: indexed(uint256)
    operator: indexed(address)
    strategy: address
    amount: uint256
    restoredShares: uint256

strategyManager: public(immutable(address))
delegation: public(immutable(address))
allocationManager: public(immutable(address))
SLASH_RESOLUTION_DELAY_BLOCKS: public(immutable(uint32))

_slashes: HashMap[bytes32, SlashRecord]


@deploy
def __init__(_strategyManager: address, _delegation: address, _allocationManager: address, _resolutionDelayBlocks: uint32):
    assert _resolutionDelayBlocks <= staticcall IDelegationManager(_delegation).minWithdrawalDelayBlocks(), "resolution window exceeds withdrawal delay"
    strategyManager = _strategyManager
    delegation = _delegation
    allocationManager = _allocationManager
    SLASH_RESOLUTION_DELAY_BLOCKS = _resolutionDelayBlocks


@internal
@pure
def _key(avs: address, operatorSetId: uint32, slashId: uint256) -> bytes32:
    return keccak256(abi_encode(avs, operatorSetId, slashId))


@external
def recordSlash(operator: address, avs: address, operatorSetId: uint32, slashId: uint256, strategy: address, token: address, amount: uint256, shares: uint256):
    """@notice Record tokens of a slash that the StrategyManager has just sent here."""
    assert msg.sender == strategyManager, "only strategy manager"
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    rec: SlashRecord = self._slashes[key]
    if rec.status == STATUS_NONE:
        rec.operator = operator
        rec.status = STATUS_PENDING
        rec.resolveBlock = convert(block.number + convert(SLASH_RESOLUTION_DELAY_BLOCKS, uint256), uint32)
    rec.strategies.append(strategy)
    rec.tokens.append(token)
    rec.amounts.append(amount)
    rec.shares.append(shares)
    self._slashes[key] = rec
    log SlashEscrowed(operatorSet=IAllocationManager.OperatorSet(avs=avs, id=operatorSetId), slashId=slashId, operator=operator, strategy=strategy, token=token, amount=amount, resolveBlock=rec.resolveBlock)


@external
@nonreentrant
def releaseSlash(avs: address, operatorSetId: uint32, slashId: uint256):
    """
    @notice After the resolution window, send a slash's tokens to the set's redistribution
            recipient (or the burn address). Anyone may call; each slash is released once.
    """
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    rec: SlashRecord = self._slashes[key]
    assert rec.status == STATUS_PENDING, "slash not pending"
    assert block.number > convert(rec.resolveBlock, uint256), "resolution window open"
    self._slashes[key].status = STATUS_RELEASED
    opset: IAllocationManager.OperatorSet = IAllocationManager.OperatorSet(avs=avs, id=operatorSetId)
    recipient: address = staticcall IAllocationManager(allocationManager).getRedistributionRecipient(opset)
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(rec.tokens):
            break
        amount: uint256 = rec.amounts[i]
        if amount != 0:
            assert extcall IERC20(rec.tokens[i]).transfer(recipient, amount, default_return_value=True), "transfer failed"
        log SlashReleased(operatorSet=opset, slashId=slashId, recipient=recipient, token=rec.tokens[i], amount=amount)


@external
@nonreentrant
def cancelSlash(avs: address, operatorSetId: uint32, slashId: uint256):
    """
    @notice Cancel a slash within its resolution window (the set's resolver only): the tokens go
            back into their strategies and the operator's stakers get the stake back pro rata.
    """
    key: bytes32 = self._key(avs, operatorSetId, slashId)
    rec: SlashRecord = self._slashes[key]
    assert rec.status == STATUS_PENDING, "slash not pending"
    opset: IAllocationManager.OperatorSet = IAllocationManager.OperatorSet(avs=avs, id=operatorSetId)
    resolver: address = staticcall IAllocationManager(allocationManager).getResolver(opset)
    assert resolver != empty(address) and msg.sender == resolver, "only resolver"
    assert block.number <= convert(rec.resolveBlock, uint256), "resolution window closed"
    self._slashes[key].status = STATUS_CANCELLED
    for i: uint256 in range(MAX_STRATEGIES):
        if i >= len(rec.strategies):
            break
        amount: uint256 = rec.amounts[i]
        restored: uint256 = 0
        if amount != 0:
            strategy: address = rec.strategies[i]
            # Tokens that cannot be restored as stake go back to the strategy's holders instead of
            # blocking the cancel of the whole slash: dust worth less than one share (the strategy
            # refuses to mint zero shares), or a strategy in which nobody holds the operator's
            # stake any more (all of it withdrawn past the slashable window).
            restorable: bool = staticcall IStrategy(strategy).underlyingToSharesView(amount) != 0 and staticcall IDelegationManager(delegation).restorableScaledShares(rec.operator, strategy) != 0
            assert extcall IERC20(rec.tokens[i]).transfer(strategy, amount, default_return_value=True), "transfer failed"
            if restorable:
                restored = extcall IStrategyManager(strategyManager).restoreShares(strategy, amount)
                extcall IDelegationManager(delegation).restoreOperatorShares(rec.operator, strategy, restored)
        log SlashCancelled(operatorSet=opset, slashId=slashId, operator=rec.operator, strategy=rec.strategies[i], amount=amount, restoredShares=restored)


@external
@view
def getSlash(avs: address, operatorSetId: uint32, slashId: uint256) -> SlashRecord:
    """@notice The escrow record of a slash (status 0 none, 1 pending, 2 released, 3 cancelled)."""
    return self._slashes[self._key(avs, operatorSetId, slashId)]
