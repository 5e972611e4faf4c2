# pragma version ~=0.4.3
"""
@title MockFalseERC20
@notice Mintable ERC-20 for tests whose `transfer` returns False (instead of reverting) while
        `failTransfers` is set, to exercise callers' return-value checks.
@dev contracts/lib/erc20.vy with its own `transfer`, the one deliberate deviation.
"""

from ethereum.ercs import IERC20
from ..lib import erc20

implements: IERC20

initializes: erc20

exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.transferFrom,
    erc20.approve,
)

# Token name.
name: public(String[32])
# Token symbol.
symbol: public(String[16])
# Always 18.
decimals: public(uint8)
# While set, `transfer` returns False and moves nothing.
failTransfers: public(bool)
# While set, `transfer` reverts (a paused or blacklisting token).
revertTransfers: public(bool)


@deploy
def __init__(_name: String[32], _symbol: String[16]):
    """
    @param _name The token name.
    @param _symbol The token symbol.
    """
    self.name = _name
    self.symbol = _symbol
    self.decimals = 18


@external
def setFailTransfers(f: bool):
    """
    @notice Make `transfer` return False (True) or behave normally (False).
    @param f The new failTransfers flag.
    """
    self.failTransfers = f


@external
def setRevertTransfers(f: bool):
    """
    @notice Make `transfer` revert (True), as a paused or blacklisting token does, or not (False).
    @param f The new revertTransfers flag.
    """
    self.revertTransfers = f


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` tokens for `to` (anyone may call).
    @param to The account credited.
    @param amount The amount created.
    """
    erc20._mint(to, amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transfer, except that it returns False and moves nothing while failTransfers is set.
    @param to The account credited.
    @param amount The amount moved.
    @return False while failTransfers is set, else True.
    """
    assert not self.revertTransfers, "transfers paused"
    if self.failTransfers:
        return False
    erc20._transfer(msg.sender, to, amount)
    return True
