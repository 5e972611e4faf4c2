# pragma version ~=0.4.3
"""
@title BEigenStrategy
@notice The restaking core's strategy for bEIGEN. Its underlying token is always the canonical
        bEIGEN named by the fork manager, so stakers unstake in the canonical fork. Deposits and
        withdrawals pause while a challenge is open (the staked balance must not move between the
        fork block and adoption); on adoption the DelegationManager burns the accused operators'
        shares here, matching the bEIGEN the fork left out of this strategy's balance.
@dev Same share maths and virtual offsets as Strategy.vy. Registered with
     StrategyManager.addCustomStrategy and given a longer withdrawal delay in the DelegationManager.
"""

from ethereum.ercs import IERC20
from ..interfaces import IStrategy
from ..interfaces import IForkManager
from ..interfaces import IStrategyManager

implements: IStrategy


SHARES_OFFSET: constant(uint256) = 10**3
BALANCE_OFFSET: constant(uint256) = 10**3
MAX_TOTAL_SHARES: constant(uint256) = 10**38 - 1

event ExchangeRateEmitted:
    rate: uint256

event SharesBurned:
    amountShares: uint256

# The StrategyManager, the only caller of deposit and withdraw.
strategyManager: public(immutable(address))
# The ForkManager, which names the canonical bEIGEN.
forkManager: public(immutable(address))
# Shares outstanding (the virtual SHARES_OFFSET not included).
totalShares: public(uint256)


@deploy
def __init__(_strategyManager: address, _forkManager: address):
    """
    @notice Deploy the bEIGEN strategy.
    @param _strategyManager The StrategyManager.
    @param _forkManager The ForkManager.
    """
    assert _strategyManager != empty(address) and _forkManager != empty(address), "zero address"
    strategyManager = _strategyManager
    forkManager = _forkManager


@internal
@view
def _token() -> address:
    return staticcall IForkManager(forkManager).canonicalToken()


@internal
@view
def _balance() -> uint256:
    return staticcall IERC20(self._token()).balanceOf(self)


@internal
def _emit_rate(balance: uint256, total: uint256):
    log ExchangeRateEmitted(rate=10**18 * (balance + BALANCE_OFFSET) // (total + SHARES_OFFSET))


@internal
@view
def _check(token: address):
    assert msg.sender == strategyManager, "only strategy manager"
    assert not staticcall IForkManager(forkManager).challengePending(), "challenge pending"
    assert token == self._token(), "wrong token"


@external
@view
def escrowsSlashedShares() -> bool:
    """
    @notice Slashed shares stay here, held by the slash escrow, and are paid out on release in the
            canonical bEIGEN of that time (the balance must not move during a challenge).
    @return True.
    """
    return True


@external
@view
def underlyingToken() -> address:
    """
    @notice The canonical bEIGEN (changes when a fork is adopted).
    @return The canonical bEIGEN.
    """
    return self._token()


@external
def deposit(token: address, amount: uint256) -> uint256:
    """
    @notice Mint shares for `amount` canonical bEIGEN already transferred in (StrategyManager only).
    @param token Must be the canonical bEIGEN.
    @param amount The tokens transferred in.
    @return newShares the shares minted
    """
    self._check(token)
    balance: uint256 = self._balance()
    prior_total: uint256 = self.totalShares
    new_shares: uint256 = amount * (prior_total + SHARES_OFFSET) // (balance - amount + BALANCE_OFFSET)
    assert new_shares != 0, "zero new shares"
    total: uint256 = prior_total + new_shares
    assert total <= MAX_TOTAL_SHARES, "max shares exceeded"
    self.totalShares = total
    self._emit_rate(balance, total)
    return new_shares


@external
def mintRestoredShares(amountShares: uint256):
    """
    @notice Mint back the shares of a cancelled slash whose tokens the escrow has just returned
            (StrategyManager only); allowed while a challenge is pending.
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
    @notice Burn `amountShares` and send the canonical bEIGEN they are worth (StrategyManager only).
    @param recipient The account that receives the tokens.
    @param token Must be the canonical bEIGEN.
    @param amountShares The number of shares.
    @return amountOut tokens sent
    """
    self._check(token)
    prior_total: uint256 = self.totalShares
    assert amountShares <= prior_total, "shares exceed total"
    balance: uint256 = self._balance()
    amount_out: uint256 = (balance + BALANCE_OFFSET) * amountShares // (prior_total + SHARES_OFFSET)
    self.totalShares = prior_total - amountShares
    if amount_out != 0:
        assert extcall IERC20(token).transfer(recipient, amount_out), "transfer failed"
    self._emit_rate(balance - amount_out, prior_total - amountShares)
    return amount_out


@external
def burnShares(amountShares: uint256):
    """
    @notice Remove shares whose bEIGEN an adopted fork already slashed (DelegationManager only).
    @param amountShares The number of shares.
    """
    assert msg.sender == staticcall IStrategyManager(strategyManager).delegation(), "only delegation manager"
    prior_total: uint256 = self.totalShares
    assert amountShares <= prior_total, "shares exceed total"
    self.totalShares = prior_total - amountShares
    log SharesBurned(amountShares=amountShares)
    self._emit_rate(self._balance(), prior_total - amountShares)


@external
@view
def sharesToUnderlyingView(amountShares: uint256) -> uint256:
    """
    @notice Canonical bEIGEN that `amountShares` would withdraw now.
    @param amountShares The number of shares.
    @return The bEIGEN amount.
    """
    return (self._balance() + BALANCE_OFFSET) * amountShares // (self.totalShares + SHARES_OFFSET)


@external
@view
def underlyingToSharesView(amountUnderlying: uint256) -> uint256:
    """
    @notice Shares a deposit of `amountUnderlying` canonical bEIGEN would mint now.
    @param amountUnderlying The amount of the underlying token.
    @return The shares.
    """
    return amountUnderlying * (self.totalShares + SHARES_OFFSET) // (self._balance() + BALANCE_OFFSET)
