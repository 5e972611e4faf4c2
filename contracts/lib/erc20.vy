# pragma version ~=0.4.3
"""
@title erc20
@notice The ERC-20 core shared by Eigen, BackingEigen and the ERC-20 mocks: balances, allowances,
        total supply, transfer/transferFrom/approve and the Transfer/Approval events with the
        standard field names (`value` for the amount).
@dev Use: `from ..lib import erc20`, `initializes: erc20` and export what the token takes over
     as is (`erc20.__interface__` for a plain token). Name, symbol and decimals stay in the token.
     An allowance of max_value(uint256) is never spent. Revert strings: "zero receiver",
     "insufficient balance", "insufficient allowance". BackingEigen keeps its balances and supply
     in block checkpoints and uses only the allowance half (`allowance`, `approve`,
     `_spend_allowance`) and the events.
"""

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


# Sum of all balances.
totalSupply: public(uint256)
# Balance of each account.
balanceOf: public(HashMap[address, uint256])
# allowance[owner][spender]: how much `spender` may still move out of `owner`'s balance.
allowance: public(HashMap[address, HashMap[address, uint256]])


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    # Move `amount` from `sender` to `receiver` (not the zero address) and log Transfer.
    assert receiver != empty(address), "zero receiver"
    bal: uint256 = self.balanceOf[sender]
    assert bal >= amount, "insufficient balance"
    self.balanceOf[sender] = bal - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@internal
def _spend_allowance(owner: address, spender: address, amount: uint256):
    # Take `amount` off `spender`'s allowance over `owner` (an unlimited allowance stays as is).
    allowed: uint256 = self.allowance[owner][spender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "insufficient allowance"
        self.allowance[owner][spender] = allowed - amount


@internal
def _mint(receiver: address, amount: uint256):
    # Create `amount` tokens for `receiver` and log a Transfer from the zero address.
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _burn(owner: address, amount: uint256):
    # Destroy `amount` of `owner`'s tokens and log a Transfer to the zero address.
    bal: uint256 = self.balanceOf[owner]
    assert bal >= amount, "insufficient balance"
    self.balanceOf[owner] = bal - amount
    self.totalSupply -= amount
    log Transfer(sender=owner, receiver=empty(address), value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from the caller to `receiver`.
    @param receiver The account credited; not the zero address.
    @param amount The amount moved.
    @return True (a failure reverts).
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from `sender` to `receiver` using the caller's allowance.
    @param sender The account debited.
    @param receiver The account credited; not the zero address.
    @param amount The amount moved.
    @return True (a failure reverts).
    """
    self._spend_allowance(sender, msg.sender, amount)
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens (replaces the old allowance).
    @param spender The account allowed to spend.
    @param amount The new allowance; max_value(uint256) is never spent.
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
