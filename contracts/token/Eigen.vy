# pragma version ~=0.4.3
# @title Eigen (EIGEN)
# @notice ERC-20 wrapping the canonical bEIGEN 1:1. EIGEN supply always equals the bEIGEN this
#         contract holds. When a fork is adopted, the fork manager switches the backing to the fork
#         (whose balance for this contract is the parent's at the fork block), so every EIGEN holder
#         follows the canonical fork with no action. Wrapping, unwrapping and burning pause while a
#         challenge is open, so the backing does not move between the fork block and adoption.

from ethereum.ercs import IERC20

implements: IERC20


interface IBEigen:
    def burn(amount: uint256): nonpayable


interface IForkManager:
    def challengePending() -> bool: view


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    amount: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    amount: uint256

event TokenWrapped:
    account: indexed(address)
    amount: uint256

event TokenUnwrapped:
    account: indexed(address)
    amount: uint256

event BackingSwitched:
    previousBacking: indexed(address)
    newBacking: indexed(address)

name: public(constant(String[5])) = "Eigen"
symbol: public(constant(String[5])) = "EIGEN"
decimals: public(constant(uint8)) = 18
bEIGEN: public(address)
forkManager: public(immutable(address))
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_bEIGEN: address, _forkManager: address):
    assert _bEIGEN != empty(address) and _forkManager != empty(address), "zero address"
    self.bEIGEN = _bEIGEN
    forkManager = _forkManager


@internal
@view
def _not_pending():
    assert not staticcall IForkManager(forkManager).challengePending(), "challenge pending"


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "zero receiver"
    bal: uint256 = self.balanceOf[sender]
    assert bal >= amount, "insufficient balance"
    self.balanceOf[sender] = bal - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, amount=amount)


@internal
def _burn(account: address, amount: uint256):
    bal: uint256 = self.balanceOf[account]
    assert bal >= amount, "insufficient balance"
    self.balanceOf[account] = bal - amount
    self.totalSupply -= amount
    log Transfer(sender=account, receiver=empty(address), amount=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """@notice Move `amount` EIGEN from the caller to `receiver`."""
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """@notice Move `amount` EIGEN from `sender` to `receiver` using the caller's allowance."""
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "insufficient allowance"
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """@notice Let `spender` move up to `amount` of the caller's EIGEN."""
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, amount=amount)
    return True


@external
def wrap(amount: uint256):
    """@notice Deposit `amount` canonical bEIGEN (approved to this contract) and receive as much EIGEN."""
    self._not_pending()
    assert amount != 0, "zero amount"
    assert extcall IERC20(self.bEIGEN).transferFrom(msg.sender, self, amount), "transfer failed"
    self.balanceOf[msg.sender] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=msg.sender, amount=amount)
    log TokenWrapped(account=msg.sender, amount=amount)


@external
def unwrap(amount: uint256):
    """@notice Burn `amount` EIGEN and receive as much canonical bEIGEN."""
    self._not_pending()
    assert amount != 0, "zero amount"
    self._burn(msg.sender, amount)
    assert extcall IERC20(self.bEIGEN).transfer(msg.sender, amount), "transfer failed"
    log TokenUnwrapped(account=msg.sender, amount=amount)


@external
def burn(amount: uint256):
    """@notice Burn `amount` of the caller's EIGEN together with the bEIGEN backing it (challenge bonds)."""
    self._not_pending()
    assert amount != 0, "zero amount"
    self._burn(msg.sender, amount)
    extcall IBEigen(self.bEIGEN).burn(amount)


@external
def setBacking(newBacking: address):
    """
    @notice Switch the backing token to an adopted fork (fork manager only). The fork must hold at
            least the EIGEN supply for this contract.
    """
    assert msg.sender == forkManager, "only fork manager"
    assert staticcall IERC20(newBacking).balanceOf(self) >= self.totalSupply, "backing short"
    log BackingSwitched(previousBacking=self.bEIGEN, newBacking=newBacking)
    self.bEIGEN = newBacking
