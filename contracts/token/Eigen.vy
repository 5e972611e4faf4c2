# pragma version ~=0.4.3
"""
@title Eigen (EIGEN)
@notice ERC-20 wrapping the canonical bEIGEN 1:1. EIGEN supply always equals the bEIGEN this
        contract holds. When a fork is adopted, the fork manager switches the backing to the fork
        (whose balance for this contract is the parent's at the fork block), so every EIGEN holder
        follows the canonical fork with no action. Wrapping, unwrapping and burning pause while a
        challenge is open, so the backing does not move between the fork block and adoption.
@dev The ERC-20 is contracts/lib/erc20.vy: wrap mints and unwrap/burn burn through it.
"""

from ethereum.ercs import IERC20
from ..lib import erc20
from ..interfaces import IBackingEigen
from ..interfaces import IEigen
from ..interfaces import IForkManager

implements: IERC20
implements: IEigen

initializes: erc20

exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
)


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
# The backing bEIGEN (the canonical fork; switched by setBacking).
bEIGEN: public(address)
# The ForkManager, the only caller of setBacking.
forkManager: public(immutable(address))


@deploy
def __init__(_bEIGEN: address, _forkManager: address):
    """
    @notice Deploy EIGEN backed by `_bEIGEN`.
    @param _bEIGEN The genesis bEIGEN.
    @param _forkManager The ForkManager.
    """
    assert _bEIGEN != empty(address) and _forkManager != empty(address), "zero address"
    self.bEIGEN = _bEIGEN
    forkManager = _forkManager


@internal
@view
def _not_pending():
    assert not staticcall IForkManager(forkManager).challengePending(), "challenge pending"


@external
def wrap(amount: uint256):
    """
    @notice Deposit `amount` canonical bEIGEN (approved to this contract) and receive as much EIGEN.
    @param amount The token amount.
    """
    self._not_pending()
    assert amount != 0, "zero amount"
    assert extcall IERC20(self.bEIGEN).transferFrom(msg.sender, self, amount), "transfer failed"
    erc20._mint(msg.sender, amount)
    log TokenWrapped(account=msg.sender, amount=amount)


@external
def unwrap(amount: uint256):
    """
    @notice Burn `amount` EIGEN and receive as much canonical bEIGEN.
    @param amount The token amount.
    """
    self._not_pending()
    assert amount != 0, "zero amount"
    erc20._burn(msg.sender, amount)
    assert extcall IERC20(self.bEIGEN).transfer(msg.sender, amount), "transfer failed"
    log TokenUnwrapped(account=msg.sender, amount=amount)


@external
def burn(amount: uint256):
    """
    @notice Burn `amount` of the caller's EIGEN together with the bEIGEN backing it (challenge bonds).
    @param amount The token amount.
    """
    self._not_pending()
    assert amount != 0, "zero amount"
    erc20._burn(msg.sender, amount)
    extcall IBackingEigen(self.bEIGEN).burn(amount)


@external
def setBacking(newBacking: address):
    """
    @notice Switch the backing token to an adopted fork (fork manager only). The fork must hold at
            least the EIGEN supply for this contract.
    @param newBacking The adopted fork token.
    """
    assert msg.sender == forkManager, "only fork manager"
    assert staticcall IERC20(newBacking).balanceOf(self) >= erc20.totalSupply, "backing short"
    log BackingSwitched(previousBacking=self.bEIGEN, newBacking=newBacking)
    self.bEIGEN = newBacking
