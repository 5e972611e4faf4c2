# pragma version ~=0.4.3
"""
@title StrategyManager
@notice Creates one Strategy vault per ERC-20, keeps each staker's deposit shares, and moves
        tokens in and out of strategies for deposits, withdrawals and slashes.
@dev Interface names follow EigenLayer's IStrategyManager. Share accounting that depends on
     delegation and slashing (scaling factors, operator shares) lives in the DelegationManager.
"""

from ethereum.ercs import IERC20
from ..interfaces import IStrategy
from ..interfaces import IDelegationManager
from ..interfaces import ISlashEscrow
from ..interfaces import IStrategyManager
from ..permissions import pausable
from ..lib import signatures

implements: IStrategyManager

initializes: pausable
exports: (pausable.pauserRegistry, pausable.paused, pausable.setPausedStatus)

# Pause flag (bit of this contract's bitmap, EigenLayer's index) of the guarded function.
PAUSED_DEPOSITS: constant(uint256) = 0

MAX_STAKER_STRATEGY_LIST_LENGTH: constant(uint256) = 32
# EIP-712 type of a deposit signed by its staker (EigenLayer's StrategyManager.DEPOSIT_TYPEHASH).
DEPOSIT_TYPEHASH: public(constant(bytes32)) = keccak256("Deposit(address staker,address strategy,address token,uint256 amount,uint256 nonce,uint256 expiry)")
DOMAIN_NAME_HASH: constant(bytes32) = keccak256("EigenCloud StrategyManager")

event StrategyDeployed:
    token: indexed(address)
    strategy: indexed(address)

event StrategyAddedToDepositWhitelist:
    strategy: indexed(address)

event StrategyRemovedFromDepositWhitelist:
    strategy: indexed(address)

event StrategyWhitelisterChanged:
    previousAddress: address
    newAddress: address

event Deposit:
    staker: indexed(address)
    strategy: indexed(address)
    shares: uint256

event SlashedSharesRemoved:
    operator: indexed(address)
    strategy: indexed(address)
    shares: uint256
    amount: uint256

event SlashedSharesRestored:
    strategy: indexed(address)
    amount: uint256
    shares: uint256

# The deployer, the only caller of initialize.
deployer: immutable(address)
# The ERC-5202 blueprint of Strategy.vy that deployNewStrategy instantiates.
strategyBlueprint: public(immutable(address))

# The DelegationManager (set by initialize).
delegation: public(address)
# The SlashEscrow (set by initialize).
slashEscrow: public(address)
# The address that deploys and whitelists strategies.
strategyWhitelister: public(address)

deployedStrategies: public(HashMap[address, address])  # token -> strategy
# strategy -> known to this manager (from the blueprint or added as custom).
isStrategy: public(HashMap[address, bool])
# strategy -> its slashed shares stay in it, held by the escrow, until release (the bEIGEN
# strategy: its balance must not move while a fork challenge is pending).
escrowsSlashedShares: public(HashMap[address, bool])
# strategy -> deposits are open.
strategyIsWhitelistedForDeposit: public(HashMap[address, bool])
# staker -> strategy -> deposit shares.
stakerDepositShares: public(HashMap[address, HashMap[address, uint256]])
# staker -> strategies it holds deposit shares in.
stakerStrategyList: HashMap[address, DynArray[address, MAX_STAKER_STRATEGY_LIST_LENGTH]]
# staker -> nonce of its next signed deposit (depositIntoStrategyWithSignature).
nonces: public(HashMap[address, uint256])


@deploy
def __init__(_strategyWhitelister: address, _strategyBlueprint: address, _pauserRegistry: address):
    """
    @notice Deploy with the strategy whitelister, the blueprint new strategies are made from and
            the PauserRegistry.
    @param _strategyWhitelister The address allowed to whitelist strategies.
    @param _strategyBlueprint The ERC-5202 blueprint of Strategy.vy.
    @param _pauserRegistry The PauserRegistry.
    """
    pausable.__init__(_pauserRegistry)
    deployer = msg.sender
    strategyBlueprint = _strategyBlueprint
    self.strategyWhitelister = _strategyWhitelister


@external
def initialize(_delegation: address, _slashEscrow: address):
    """
    @notice One-time wiring to the DelegationManager and SlashEscrow (deployer only).
    @param _delegation The DelegationManager.
    @param _slashEscrow The SlashEscrow.
    """
    assert msg.sender == deployer, "only deployer"
    assert self.delegation == empty(address), "already initialized"
    assert _delegation != empty(address) and _slashEscrow != empty(address), "zero address"
    self.delegation = _delegation
    self.slashEscrow = _slashEscrow


# ---------------------------------------------------------------- strategies and whitelist

@external
def deployNewStrategy(token: address) -> address:
    """
    @notice Create the strategy for `token` (one per token) and whitelist it for deposits.
    @param token The ERC-20 token.
    @dev Only the strategy whitelister may add assets to the protocol.
    @return The new strategy.
    """
    assert msg.sender == self.strategyWhitelister, "only whitelister"
    assert token != empty(address), "zero token"
    assert self.deployedStrategies[token] == empty(address), "strategy exists"
    strategy: address = create_from_blueprint(strategyBlueprint, self, token, code_offset=3)
    self.deployedStrategies[token] = strategy
    self.isStrategy[strategy] = True
    self.strategyIsWhitelistedForDeposit[strategy] = True
    log StrategyDeployed(token=token, strategy=strategy)
    log StrategyAddedToDepositWhitelist(strategy=strategy)
    return strategy


@external
def addCustomStrategy(strategy: address):
    """
    @notice Register a strategy contract not made from the blueprint (e.g. the fork-aware bEIGEN
            strategy) and whitelist it for deposits. It must name this contract as its manager.
    @param strategy The strategy.
    @dev Only the strategy whitelister; the strategy's current underlying token must not have one.
    """
    assert msg.sender == self.strategyWhitelister, "only whitelister"
    assert not self.isStrategy[strategy], "strategy exists"
    assert staticcall IStrategy(strategy).strategyManager() == self, "wrong strategy manager"
    token: address = staticcall IStrategy(strategy).underlyingToken()
    assert token != empty(address), "zero token"
    assert self.deployedStrategies[token] == empty(address), "strategy exists"
    self.deployedStrategies[token] = strategy
    self.isStrategy[strategy] = True
    self.strategyIsWhitelistedForDeposit[strategy] = True
    # a custom strategy may ask for its slashed shares to stay in it (escrowsSlashedShares())
    ok: bool = False
    res: Bytes[32] = b""
    ok, res = raw_call(strategy, method_id("escrowsSlashedShares()"), max_outsize=32, is_static_call=True, revert_on_failure=False)
    if ok and len(res) == 32:
        self.escrowsSlashedShares[strategy] = convert(res, bool)
    log StrategyDeployed(token=token, strategy=strategy)
    log StrategyAddedToDepositWhitelist(strategy=strategy)


@external
def setStrategyWhitelister(newStrategyWhitelister: address):
    """
    @notice Hand the whitelister role to another address.
    @param newStrategyWhitelister The new whitelister.
    """
    assert msg.sender == self.strategyWhitelister, "only whitelister"
    log StrategyWhitelisterChanged(previousAddress=self.strategyWhitelister, newAddress=newStrategyWhitelister)
    self.strategyWhitelister = newStrategyWhitelister


@external
def addStrategiesToDepositWhitelist(strategiesToWhitelist: DynArray[address, 32]):
    """
    @notice Allow deposits into these strategies.
    @param strategiesToWhitelist The strategies.
    """
    assert msg.sender == self.strategyWhitelister, "only whitelister"
    for s: address in strategiesToWhitelist:
        assert self.isStrategy[s], "not a strategy"
        if not self.strategyIsWhitelistedForDeposit[s]:
            self.strategyIsWhitelistedForDeposit[s] = True
            log StrategyAddedToDepositWhitelist(strategy=s)


@external
def removeStrategiesFromDepositWhitelist(strategiesToRemoveFromWhitelist: DynArray[address, 32]):
    """
    @notice Stop new deposits into these strategies (existing stake is unaffected).
    @param strategiesToRemoveFromWhitelist The strategies.
    """
    assert msg.sender == self.strategyWhitelister, "only whitelister"
    for s: address in strategiesToRemoveFromWhitelist:
        if self.strategyIsWhitelistedForDeposit[s]:
            self.strategyIsWhitelistedForDeposit[s] = False
            log StrategyRemovedFromDepositWhitelist(strategy=s)


# ---------------------------------------------------------------- deposits

@external
@nonreentrant
def depositIntoStrategy(strategy: address, token: address, amount: uint256) -> uint256:
    """
    @notice Deposit `amount` of `token` into `strategy`; the caller must have approved this contract.
    @param strategy The strategy.
    @param token The strategy's underlying token.
    @param amount The token amount.
    @return depositShares the deposit shares credited to the caller
    """
    return self._deposit(msg.sender, strategy, token, amount)


@external
@nonreentrant
def depositIntoStrategyWithSignature(strategy: address, token: address, amount: uint256, staker: address, expiry: uint256, signature: Bytes[256]) -> uint256:
    """
    @notice Deposit `amount` of `token` from the caller into `strategy` and credit the shares to
            `staker`, who signed the deposit (EigenLayer's ABI and EIP-712 message).
    @dev The staker signs the EIP-712 digest `calculateStrategyDepositDigestHash(staker, strategy,
         token, amount, nonces(staker), expiry)`; ECDSA for an EOA, ERC-1271 for a contract. Each
         signature works once (the staker's nonce rises) and not after `expiry` (a timestamp).
         Reverts "signature expired", "invalid signature" (wrong signer, replayed, or for other
         arguments), "invalid signature length", "invalid signature v", "invalid signature s",
         and every revert of depositIntoStrategy.
    @param strategy The strategy.
    @param token The strategy's underlying token (pulled from the caller).
    @param amount The token amount.
    @param staker The account credited with the shares, the signer.
    @param expiry The last timestamp at which the signature is valid.
    @param signature The staker's signature.
    @return depositShares the deposit shares credited to the staker
    """
    assert expiry >= block.timestamp, "signature expired"
    nonce: uint256 = self.nonces[staker]
    signatures._check_signature(staker, self._deposit_digest(staker, strategy, token, amount, nonce, expiry), signature)
    self.nonces[staker] = nonce + 1
    return self._deposit(staker, strategy, token, amount)


@internal
@view
def _deposit_digest(staker: address, strategy: address, token: address, amount: uint256, nonce: uint256, expiry: uint256) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(DEPOSIT_TYPEHASH, staker, strategy, token, amount, nonce, expiry))
    return signatures._digest(DOMAIN_NAME_HASH, struct_hash)


@internal
def _deposit(staker: address, strategy: address, token: address, amount: uint256) -> uint256:
    pausable._check_not_paused(PAUSED_DEPOSITS)
    assert self.strategyIsWhitelistedForDeposit[strategy], "strategy not whitelisted"
    assert amount != 0, "zero amount"
    assert extcall IERC20(token).transferFrom(msg.sender, strategy, amount, default_return_value=True), "transfer failed"
    shares: uint256 = extcall IStrategy(strategy).deposit(token, amount)
    assert shares != 0, "zero new shares"
    prev: uint256 = self._add_shares(staker, strategy, shares)
    extcall IDelegationManager(self.delegation).increaseDelegatedShares(staker, strategy, prev, shares)
    log Deposit(staker=staker, strategy=strategy, shares=shares)
    return shares


@internal
def _add_shares(staker: address, strategy: address, shares: uint256) -> uint256:
    assert staker != empty(address), "zero staker"
    assert shares != 0, "zero shares"
    prev: uint256 = self.stakerDepositShares[staker][strategy]
    if prev == 0:
        assert len(self.stakerStrategyList[staker]) < MAX_STAKER_STRATEGY_LIST_LENGTH, "max strategies exceeded"
        self.stakerStrategyList[staker].append(strategy)
    self.stakerDepositShares[staker][strategy] = prev + shares
    return prev


# ---------------------------------------------------------------- DelegationManager hooks

@external
def removeDepositShares(staker: address, strategy: address, depositSharesToRemove: uint256) -> bool:
    """
    @notice Remove deposit shares that are being queued for withdrawal (DelegationManager only).
    @param staker The staker.
    @param strategy The strategy.
    @param depositSharesToRemove The deposit shares to remove.
    @return True if the staker has no deposit shares left in `strategy`
    """
    assert msg.sender == self.delegation, "only delegation manager"
    assert depositSharesToRemove != 0, "zero shares"
    current: uint256 = self.stakerDepositShares[staker][strategy]
    assert depositSharesToRemove <= current, "shares too high"
    left: uint256 = current - depositSharesToRemove
    self.stakerDepositShares[staker][strategy] = left
    if left == 0:
        strategies: DynArray[address, MAX_STAKER_STRATEGY_LIST_LENGTH] = self.stakerStrategyList[staker]
        n: uint256 = len(strategies)
        for i: uint256 in range(MAX_STAKER_STRATEGY_LIST_LENGTH):
            if i >= n:
                break
            if strategies[i] == strategy:
                strategies[i] = strategies[n - 1]
                strategies.pop()
                break
        self.stakerStrategyList[staker] = strategies
    return left == 0


@external
def addShares(staker: address, strategy: address, shares: uint256) -> (uint256, uint256):
    """
    @notice Credit shares back to a staker completing a withdrawal as shares (DelegationManager only).
    @param staker The staker.
    @param strategy The strategy.
    @param shares The number of shares.
    @return (previous deposit shares, added shares)
    """
    assert msg.sender == self.delegation, "only delegation manager"
    prev: uint256 = self._add_shares(staker, strategy, shares)
    log Deposit(staker=staker, strategy=strategy, shares=shares)
    return prev, shares


@external
def withdrawSharesAsTokens(staker: address, strategy: address, token: address, shares: uint256):
    """
    @notice Pay out `shares` of `strategy` to `staker` as tokens (DelegationManager only).
    @param staker The staker.
    @param strategy The strategy.
    @param token The strategy's underlying token.
    @param shares The number of shares.
    """
    assert msg.sender == self.delegation, "only delegation manager"
    extcall IStrategy(strategy).withdraw(staker, token, shares)


@external
def slashShares(operator: address, avs: address, operatorSetId: uint32, slashId: uint256, strategy: address, shares: uint256, slashedMagnitude: uint64) -> uint256:
    """
    @notice Take slashed shares out of `strategy` and put the tokens in the slash escrow
            (DelegationManager only).
    @param operator The operator.
    @param avs The AVS.
    @param operatorSetId The operator set id within the AVS.
    @param slashId The slash id within the operator set (1, 2, ...).
    @param strategy The strategy.
    @param shares The shares to take out.
    @param slashedMagnitude The magnitude the slash took (WAD = all).
    @return amount tokens moved to escrow
    """
    assert msg.sender == self.delegation, "only delegation manager"
    escrow: address = self.slashEscrow
    token: address = staticcall IStrategy(strategy).underlyingToken()
    amount: uint256 = 0
    held: bool = self.escrowsSlashedShares[strategy]
    if shares != 0 and not held:
        amount = extcall IStrategy(strategy).withdraw(escrow, token, shares)
    extcall ISlashEscrow(escrow).recordSlash(operator, avs, operatorSetId, slashId, strategy, token, amount, shares, slashedMagnitude, held)
    log SlashedSharesRemoved(operator=operator, strategy=strategy, shares=shares, amount=amount)
    return amount


@external
def releaseEscrowedShares(strategy: address, recipient: address, shares: uint256) -> uint256:
    """
    @notice Pay out slashed shares the escrow held in `strategy` (escrowsSlashedShares) as the
            strategy's current underlying token, i.e. canonical bEIGEN (SlashEscrow only). Reverts
            while the strategy cannot move tokens (a fork challenge pending); the escrow retries.
    @param strategy The strategy.
    @param recipient The slash's recipient.
    @param shares The shares held.
    @return The tokens paid.
    """
    assert msg.sender == self.slashEscrow, "only slash escrow"
    token: address = staticcall IStrategy(strategy).underlyingToken()
    return extcall IStrategy(strategy).withdraw(recipient, token, shares)


@external
def restoreShares(strategy: address, amount: uint256, shares: uint256):
    """
    @notice Put back the shares of a cancelled slash whose `amount` tokens the escrow has just
            returned to `strategy`: exactly the `shares` the slash took are minted again
            (SlashEscrow only).
    @param strategy The strategy.
    @param amount The tokens the escrow sent back.
    @param shares The shares the slash took.
    """
    assert msg.sender == self.slashEscrow, "only slash escrow"
    extcall IStrategy(strategy).mintRestoredShares(shares)
    log SlashedSharesRestored(strategy=strategy, amount=amount, shares=shares)


# ---------------------------------------------------------------- views

@external
@view
def getDeposits(staker: address) -> (DynArray[address, MAX_STAKER_STRATEGY_LIST_LENGTH], DynArray[uint256, MAX_STAKER_STRATEGY_LIST_LENGTH]):
    """
    @notice The staker's strategies and deposit shares in each.
    @param staker The staker.
    @return (strategies, deposit shares in each).
    """
    strategies: DynArray[address, MAX_STAKER_STRATEGY_LIST_LENGTH] = self.stakerStrategyList[staker]
    shares: DynArray[uint256, MAX_STAKER_STRATEGY_LIST_LENGTH] = []
    for s: address in strategies:
        shares.append(self.stakerDepositShares[staker][s])
    return strategies, shares


@external
@view
def stakerStrategyListLength(staker: address) -> uint256:
    """
    @notice Number of strategies the staker holds deposit shares in.
    @param staker The staker.
    @return The number of strategies.
    """
    return len(self.stakerStrategyList[staker])


@external
@view
def getStakerStrategyList(staker: address) -> DynArray[address, MAX_STAKER_STRATEGY_LIST_LENGTH]:
    """
    @notice Strategies the staker holds deposit shares in.
    @param staker The staker.
    @return The strategies.
    """
    return self.stakerStrategyList[staker]


@external
@view
def calculateStrategyDepositDigestHash(staker: address, strategy: address, token: address, amount: uint256, nonce: uint256, expiry: uint256) -> bytes32:
    """
    @notice The EIP-712 digest a staker signs for depositIntoStrategyWithSignature.
    @param staker The staker credited with the shares.
    @param strategy The strategy.
    @param token The token.
    @param amount The token amount.
    @param nonce The staker's nonce (nonces(staker) for its next signature).
    @param expiry The last valid timestamp.
    @return the digest
    """
    return self._deposit_digest(staker, strategy, token, amount, nonce, expiry)


@external
@view
def domainSeparator() -> bytes32:
    """
    @notice This contract's EIP-712 domain separator (name "EigenCloud StrategyManager",
            version "1", the current chain id, this address).
    @return the domain separator
    """
    return signatures._domain_separator(DOMAIN_NAME_HASH)
