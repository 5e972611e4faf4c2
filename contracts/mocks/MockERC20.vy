# pragma version ~=0.4.3
"""
@title MockERC20
@notice Minimal mintable ERC-20 for tests and the local devnet (anyone may mint).
@dev The ERC-20 itself is contracts/lib/erc20.vy.
"""

from ethereum.ercs import IERC20
from ..lib import erc20

implements: IERC20

initializes: erc20

exports: erc20.__interface__

# Token name, e.g. "Token A".
name: public(String[32])
# Token symbol, e.g. "TKA".
symbol: public(String[16])
# Always 18.
decimals: public(uint8)


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
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` tokens for `to` (anyone may call).
    @param to The account credited.
    @param amount The amount created.
    """
    erc20._mint(to, amount)
