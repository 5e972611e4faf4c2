# pragma version ~=0.4.3
"""
@title WETH9
@notice Wrapped ether as WETH9 has it (deposit, withdraw, an ERC-20 of 18 decimals, plain ETH
        sent to it deposits): how ETH fees (the DA PaymentVault's on-demand payments) enter the
        FeeVault, which holds and auctions ERC-20 tokens only.
@dev The ERC-20 is contracts/lib/erc20.vy. Events Deposit(dst, wad) and Withdrawal(src, wad) keep
     WETH9's names. Revert strings: erc20's (a failed ETH send reverts).
"""

from ..lib import erc20

initializes: erc20
exports: erc20.__interface__

name: public(constant(String[32])) = "Wrapped Ether"
symbol: public(constant(String[8])) = "WETH"
decimals: public(constant(uint8)) = 18


event Deposit:
    dst: indexed(address)
    wad: uint256


event Withdrawal:
    src: indexed(address)
    wad: uint256


@payable
@external
def deposit():
    """
    @notice Wrap msg.value for the caller.
    """
    erc20._mint(msg.sender, msg.value)
    log Deposit(dst=msg.sender, wad=msg.value)


@payable
@external
def __default__():
    """
    @notice Plain ETH sent to the contract is wrapped for the sender.
    """
    erc20._mint(msg.sender, msg.value)
    log Deposit(dst=msg.sender, wad=msg.value)


@external
@nonreentrant
def withdraw(wad: uint256):
    """
    @notice Unwrap `wad` of the caller's WETH and send the ETH to it.
    @param wad Wei.
    """
    erc20._burn(msg.sender, wad)
    raw_call(msg.sender, b"", value=wad)
    log Withdrawal(src=msg.sender, wad=wad)
