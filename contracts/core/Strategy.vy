# pragma version ~=0.4.3
"""
@title Strategy
@notice A vault holding one ERC-20 for restakers. Only the StrategyManager that created it moves
        funds; shares use virtual offsets (1e3 shares / 1e3 tokens) so the first depositor cannot
        inflate the exchange rate against later depositors.
@dev Deployed by StrategyManager.deployNewStrategy from an ERC-5202 blueprint.
"""

from ethereum.ercs import IERC20
from ..interfaces import IStrategy

implements: IStrategy

SHARES_OFFSET: constant(uint256) = 10**3
BALANCE_OFFSET: constant(uint256) = 10**3
MAX_TOTAL_SHARES: constant(uint256) = 10**38 - 1

event ExchangeRateEmitted:
    rate: uint256

# The StrategyManager, the only caller of deposit and withdraw.
strategyManager: public(immutable(address))
# The ERC-20 this strategy holds.
underlyingToken: public(immutable(address))
# Shares outstanding (the virtual SHARES_OFFSET not included).
totalShares: public(uint256)


@deploy
def __init__(_strategyManager: address, _token: address):
    """
    @notice Deploy the strategy of `_token` (StrategyManager.deployNewStrategy does).
    @param _strategyManager The StrategyManager.
    @param _token The underlying token.
    """
    strategyManager = _strategyManager
    underlyingToken = _token


@internal
@view
def _balance() -> uint256:
    return staticcall IERC20(underlyingToken).balanceOf(self)


@internal
def _emit_rate(balance: uint256, total: uint256):
    log ExchangeRateEmitted(rate=10**18 * (balance + BALANCE_OFFSET) // (total + SHARES_OFFSET))


@external
def deposit(token: address, amount: uint256) -> uint256:
    """
    @notice Mint shares for `amount` tokens that the StrategyManager has already transferred in.
            May mint none for dust (a slash restored by the escrow); the StrategyManager rejects
            user deposits that would mint none.
    @param token Must be the underlying token.
    @param amount The tokens transferred in.
    @return newShares the shares minted
    """
    assert msg.sender == strategyManager, "only strategy manager"
    assert token == underlyingToken, "wrong token"
    balance: uint256 = self._balance()
    prior_total: uint256 = self.totalShares
    new_shares: uint256 = amount * (prior_total + SHARES_OFFSET) // (balance - amount + BALANCE_OFFSET)
    total: uint256 = prior_total + new_shares
    assert total <= MAX_TOTAL_SHARES, "max shares exceeded"
    self.totalShares = total
    self._emit_rate(balance, total)
    return new_shares


@external
def mintRestoredShares(amountShares: uint256):
    """
    @notice Mint back the shares of a cancelled slash whose tokens the escrow has just returned
            (StrategyManager only). Exactly the shares the slash took come back, so the exchange
            rate is what it would have been without the slash.
    @param amountShares The shares the slash took.
    """
    assert msg.sender == strategyManager, "only strategy manager"
    total: uint256 = self.totalShares + amountShares
    assert total <= MAX_TOTAL_SHARES, "max shares exceeded"
    self.totalShares = total
    self._emit_rate(self._balance(), total)


@external
def withdraw(recipient: address, token: address, amountShares: uint256) -> uint256:
    """
    @notice Burn `amountShares` and send the tokens they are worth to `recipient`.
    @param recipient The account that receives the tokens.
    @param token Must be the underlying token.
    @param amountShares The number of shares.
    @return amountOut tokens sent
    """
    assert msg.sender == strategyManager, "only strategy manager"
    assert token == underlyingToken, "wrong token"
    prior_total: uint256 = self.totalShares
    assert amountShares <= prior_total, "shares exceed total"
    balance: uint256 = self._balance()
    amount_out: uint256 = (balance + BALANCE_OFFSET) * amountShares // (prior_total + SHARES_OFFSET)
    self.totalShares = prior_total - amountShares
    if amount_out != 0:
        assert extcall IERC20(token).transfer(recipient, amount_out, default_return_value=True), "transfer failed"
    self._emit_rate(balance - amount_out, prior_total - amountShares)
    return amount_out


@external
@view
def sharesToUnderlyingView(amountShares: uint256) -> uint256:
    """
    @notice Tokens that `amountShares` would withdraw now.
    @param amountShares The number of shares.
    @return The underlying amount.
    """
    return (self._balance() + BALANCE_OFFSET) * amountShares // (self.totalShares + SHARES_OFFSET)


@external
@view
def underlyingToSharesView(amountUnderlying: uint256) -> uint256:
    """
    @notice Shares a deposit of `amountUnderlying` would mint now.
    @param amountUnderlying The amount of the underlying token.
    @return The shares.
    """
    return amountUnderlying * (self.totalShares + SHARES_OFFSET) // (self._balance() + BALANCE_OFFSET)
