# pragma version ~=0.4.3
# @title MockFalseERC20
# @notice Mintable ERC-20 for tests whose `transfer` returns False (instead of reverting) while
#         `failTransfers` is set, to exercise callers' return-value checks.

from ethereum.ercs import IERC20
implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
failTransfers: public(bool)


@deploy
def __init__(_name: String[32], _symbol: String[16]):
    self.name = _name
    self.symbol = _symbol
    self.decimals = 18


@external
def setFailTransfers(f: bool):
    self.failTransfers = f


@external
def mint(to: address, amount: uint256):
    self.balanceOf[to] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@internal
def _transfer(sender: address, to: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "insufficient balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=sender, receiver=to, value=amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    if self.failTransfers:
        return False
    self._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(sender: address, to: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    assert allowed >= amount, "insufficient allowance"
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
