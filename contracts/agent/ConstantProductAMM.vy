# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title ConstantProductAMM
@notice A constant-product market (x * y = k) over two ERC-20 tokens, the venue the verifiable
        trading agent trades on (docs/agent.md). Liquidity providers hold shares (this contract
        is their ERC-20); a swap pays a fee in bips that stays in the pool.
@dev Reserves are the contract's own record, not its balances, so a token sent to it directly
     changes nothing (no donation attack on the share price). Every input is pulled with
     transferFrom and checked by the balance change, so a fee-on-transfer or lying token is
     refused ("transfer shortfall") instead of leaving reserves above the balances. Outputs round
     down: k = reserve0 * reserve1 never decreases through a swap, and shares never give back more
     than their part of the reserves. The first deposit locks MINIMUM_LIQUIDITY shares in the
     contract itself (as Uniswap v2 does), so the share price cannot be inflated from one wei.
     Revert strings: "identical tokens", "zero token", "fee too high", "expired", "zero amount",
     "zero receiver", "unknown token", "no liquidity", "slippage", "insufficient liquidity",
     "transfer shortfall", "transfer failed", "insufficient balance" (shares).
"""

from ethereum.ercs import IERC20
from ..lib import erc20

implements: IERC20

initializes: erc20

exports: (
    erc20.balanceOf,
    erc20.totalSupply,
    erc20.allowance,
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
)

BIPS: constant(uint256) = 10_000
MAX_FEE_BIPS: constant(uint256) = 1_000  # 10 %
MINIMUM_LIQUIDITY: public(constant(uint256)) = 1_000


event LiquidityAdded:
    provider: indexed(address)
    to: indexed(address)
    amount0: uint256
    amount1: uint256
    shares: uint256


event LiquidityRemoved:
    provider: indexed(address)
    to: indexed(address)
    amount0: uint256
    amount1: uint256
    shares: uint256


event Swap:
    sender: indexed(address)
    to: indexed(address)
    tokenIn: indexed(address)
    amountIn: uint256
    amountOut: uint256


event Sync:
    reserve0: uint256
    reserve1: uint256


token0: public(immutable(address))
token1: public(immutable(address))
feeBips: public(immutable(uint256))
name: public(String[32])
symbol: public(String[16])
decimals: public(constant(uint8)) = 18

reserve0: public(uint256)
reserve1: public(uint256)


@deploy
def __init__(_token0: address, _token1: address, _feeBips: uint256, _name: String[32], _symbol: String[16]):
    """
    @param _token0 The first token (e.g. the stablecoin).
    @param _token1 The second token (e.g. the traded asset).
    @param _feeBips The swap fee in bips of the input (at most 1000, 10 %).
    @param _name The share token's name.
    @param _symbol The share token's symbol.
    """
    assert _token0 != empty(address) and _token1 != empty(address), "zero token"
    assert _token0 != _token1, "identical tokens"
    assert _feeBips <= MAX_FEE_BIPS, "fee too high"
    token0 = _token0
    token1 = _token1
    feeBips = _feeBips
    self.name = _name
    self.symbol = _symbol


@view
@external
def getReserves() -> (uint256, uint256):
    """
    @notice (reserve0, reserve1).
    """
    return self.reserve0, self.reserve1


@view
@internal
def _sides(tokenIn: address) -> (uint256, uint256, address):
    # (reserve in, reserve out, token out) for a swap paying `tokenIn`.
    if tokenIn == token0:
        return self.reserve0, self.reserve1, token1
    assert tokenIn == token1, "unknown token"
    return self.reserve1, self.reserve0, token0


@view
@internal
def _amount_out(amountIn: uint256, reserveIn: uint256, reserveOut: uint256) -> uint256:
    assert amountIn > 0, "zero amount"
    assert reserveIn > 0 and reserveOut > 0, "no liquidity"
    with_fee: uint256 = amountIn * (BIPS - feeBips)
    return with_fee * reserveOut // (reserveIn * BIPS + with_fee)


@view
@external
def getAmountOut(tokenIn: address, amountIn: uint256) -> uint256:
    """
    @notice What `swapExactIn(tokenIn, amountIn, ...)` pays out now (after the fee, rounded down).
    """
    r_in: uint256 = 0
    r_out: uint256 = 0
    t_out: address = empty(address)
    r_in, r_out, t_out = self._sides(tokenIn)
    return self._amount_out(amountIn, r_in, r_out)


@internal
def _pull(token: address, sender: address, amount: uint256):
    # Take exactly `amount` of `token` from `sender`.
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(sender, self, amount, default_return_value=True), "transfer failed"
    assert staticcall IERC20(token).balanceOf(self) - before == amount, "transfer shortfall"


@internal
def _push(token: address, to: address, amount: uint256):
    if amount > 0:
        assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "transfer failed"


@internal
def _sync(r0: uint256, r1: uint256):
    self.reserve0 = r0
    self.reserve1 = r1
    log Sync(reserve0=r0, reserve1=r1)


@external
def addLiquidity(
    amount0Desired: uint256,
    amount1Desired: uint256,
    amount0Min: uint256,
    amount1Min: uint256,
    to: address,
    deadline: uint256,
) -> (uint256, uint256, uint256):
    """
    @notice Deposit both tokens at the pool's ratio (any ratio for the first deposit) and mint
            shares to `to`. Of the desired amounts, the largest pair at the current ratio is
            taken; each must be at least its minimum ("slippage").
    @return (amount0, amount1, shares)
    """
    assert block.timestamp <= deadline, "expired"
    assert to != empty(address), "zero receiver"
    assert amount0Desired > 0 and amount1Desired > 0, "zero amount"
    r0: uint256 = self.reserve0
    r1: uint256 = self.reserve1
    supply: uint256 = erc20.totalSupply
    a0: uint256 = amount0Desired
    a1: uint256 = amount1Desired
    shares: uint256 = 0
    if supply == 0:
        root: uint256 = isqrt(a0 * a1)
        assert root > MINIMUM_LIQUIDITY, "insufficient liquidity"
        shares = root - MINIMUM_LIQUIDITY
        erc20._mint(self, MINIMUM_LIQUIDITY)
    else:
        a1_optimal: uint256 = a0 * r1 // r0
        if a1_optimal <= a1:
            a1 = a1_optimal
        else:
            a0 = a1 * r0 // r1
        shares = min(a0 * supply // r0, a1 * supply // r1)
    assert a0 >= amount0Min and a1 >= amount1Min, "slippage"
    assert shares > 0, "insufficient liquidity"
    self._pull(token0, msg.sender, a0)
    self._pull(token1, msg.sender, a1)
    erc20._mint(to, shares)
    self._sync(r0 + a0, r1 + a1)
    log LiquidityAdded(provider=msg.sender, to=to, amount0=a0, amount1=a1, shares=shares)
    return a0, a1, shares


@external
def removeLiquidity(
    shares: uint256, amount0Min: uint256, amount1Min: uint256, to: address, deadline: uint256
) -> (uint256, uint256):
    """
    @notice Burn `shares` of the caller and pay their part of both reserves (rounded down) to `to`.
    @return (amount0, amount1)
    """
    assert block.timestamp <= deadline, "expired"
    assert to != empty(address), "zero receiver"
    assert shares > 0, "zero amount"
    supply: uint256 = erc20.totalSupply
    r0: uint256 = self.reserve0
    r1: uint256 = self.reserve1
    a0: uint256 = shares * r0 // supply
    a1: uint256 = shares * r1 // supply
    assert a0 >= amount0Min and a1 >= amount1Min, "slippage"
    assert a0 > 0 and a1 > 0, "insufficient liquidity"
    erc20._burn(msg.sender, shares)
    self._sync(r0 - a0, r1 - a1)
    self._push(token0, to, a0)
    self._push(token1, to, a1)
    log LiquidityRemoved(provider=msg.sender, to=to, amount0=a0, amount1=a1, shares=shares)
    return a0, a1


@external
def swapExactIn(tokenIn: address, amountIn: uint256, minOut: uint256, to: address, deadline: uint256) -> uint256:
    """
    @notice Pay exactly `amountIn` of `tokenIn` and receive at least `minOut` of the other token
            at `to` ("slippage" otherwise).
    @return The amount paid out.
    """
    assert block.timestamp <= deadline, "expired"
    assert to != empty(address), "zero receiver"
    r_in: uint256 = 0
    r_out: uint256 = 0
    t_out: address = empty(address)
    r_in, r_out, t_out = self._sides(tokenIn)
    out: uint256 = self._amount_out(amountIn, r_in, r_out)
    assert out > 0, "insufficient liquidity"
    assert out >= minOut, "slippage"
    self._pull(tokenIn, msg.sender, amountIn)
    if tokenIn == token0:
        self._sync(r_in + amountIn, r_out - out)
    else:
        self._sync(r_out - out, r_in + amountIn)
    self._push(t_out, to, out)
    log Swap(sender=msg.sender, to=to, tokenIn=tokenIn, amountIn=amountIn, amountOut=out)
    return out
