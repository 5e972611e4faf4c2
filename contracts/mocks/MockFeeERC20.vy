# pragma version ~=0.4.3
"""
@title MockFeeERC20
@notice A mintable ERC-20 that burns FEE_BPS of every transfer (a fee-on-transfer token), for tests
        of contracts that must escrow what arrives rather than what was asked for.
"""

from ethereum.ercs import IERC20
from ..lib import erc20

implements: IERC20

initializes: erc20

exports: (erc20.totalSupply, erc20.balanceOf, erc20.allowance, erc20.approve)

# The share of each transfer burnt, basis points.
FEE_BPS: public(constant(uint256)) = 100


@deploy
def __init__():
    pass


@internal
def _move(sender: address, receiver: address, amount: uint256):
    fee: uint256 = amount * FEE_BPS // 10000
    erc20._transfer(sender, receiver, amount - fee)
    erc20._burn(sender, fee)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from the caller; `receiver` gets it less the fee (burnt).
    @param receiver The account credited.
    @param amount The amount debited.
    @return True.
    """
    self._move(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` from `sender` with the caller's allowance; `receiver` gets it less the fee.
    @param sender The account debited.
    @param receiver The account credited.
    @param amount The amount debited.
    @return True.
    """
    erc20._spend_allowance(sender, msg.sender, amount)
    self._move(sender, receiver, amount)
    return True


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` tokens for `to` (anyone may call).
    @param to The account credited.
    @param amount The amount.
    """
    erc20._mint(to, amount)
