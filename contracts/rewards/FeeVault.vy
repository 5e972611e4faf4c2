# pragma version ~=0.4.3
"""
@title FeeVault
@notice Where the protocol's fees collect (ELIP-12): the RewardsCoordinator pays PROTOCOL_FEE_BIPS
        of opted-in submissions in, and any cloud service (DA payments, compute task fees,
        inference fees, net of operator payments) pays in with `payFee(token, amount, source)`,
        or owes it where anyone can `collect` it (the TaskMailbox's fee split: the vault withdraws
        it like an operator).
        The only way out is `release`, by the BuybackAuction that sells the balance for EIGEN; the
        owner names that auction once and can never take tokens itself.
@dev `balanceOf(token)` is the accounted balance; tokens sent without `payFee` are accounted by
     `sync(token)`. Tokens must transfer exactly the amount asked (`collect` accounts what
     arrived). Revert strings: "amount is zero", "token transfer short", "transfer failed", "only buyback", "buyback already set",
     "zero address", "exceeds balance".
"""

from ethereum.ercs import IERC20
from ..lib import ownable
from ..interfaces import IFeeVault

implements: IFeeVault

initializes: ownable
exports: ownable.__interface__


event FeePaid:
    token: indexed(address)
    payer: indexed(address)
    source: indexed(address)
    amount: uint256


interface IFeeSource:
    def withdrawFees(token: address) -> uint256: nonpayable


event FeeReleased:
    token: indexed(address)
    to: indexed(address)
    amount: uint256


event BuybackSet:
    buyback: indexed(address)


# The BuybackAuction, the only account that may release fees (set once).
buyback: public(address)
# token -> accounted balance.
balanceOf: public(HashMap[address, uint256])


@deploy
def __init__(initialOwner: address):
    """
    @param initialOwner Governance: names the buyback auction once.
    """
    ownable.__init__(initialOwner)


@external
def setBuyback(_buyback: address):
    """
    @notice Name the auction that sells the fees (owner, once).
    @param _buyback The BuybackAuction.
    """
    ownable._check_owner()
    assert self.buyback == empty(address), "buyback already set"
    assert _buyback != empty(address), "zero address"
    self.buyback = _buyback
    log BuybackSet(buyback=_buyback)


@external
@nonreentrant
def payFee(token: address, amount: uint256, source: address):
    """
    @notice Pay `amount` of `token` (pulled from the caller, who approved it) as a fee earned by
            `source` (the AVS or service the fee comes from).
    @param token The ERC-20.
    @param amount The fee.
    @param source Whom the fee is attributed to (logged).
    """
    assert amount > 0, "amount is zero"
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    assert extcall IERC20(token).transferFrom(msg.sender, self, amount, default_return_value=True), "transfer failed"
    assert staticcall IERC20(token).balanceOf(self) == before + amount, "token transfer short"
    self.balanceOf[token] += amount
    log FeePaid(token=token, payer=msg.sender, source=source, amount=amount)


@external
@nonreentrant
def collect(source: address, token: address) -> uint256:
    """
    @notice Pull the fees `source` owes this vault in `token` (its `withdrawFees(token)`, which
            pays its caller: the TaskMailbox's fee split); anyone may call.
    @param source The service holding the fees.
    @param token The ERC-20.
    @return The amount that arrived (logged as a fee paid by and attributed to `source`).
    """
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    extcall IFeeSource(source).withdrawFees(token)
    amount: uint256 = staticcall IERC20(token).balanceOf(self) - before
    assert amount > 0, "amount is zero"
    self.balanceOf[token] += amount
    log FeePaid(token=token, payer=source, source=source, amount=amount)
    return amount


@external
@nonreentrant
def sync(token: address):
    """
    @notice Account tokens sent to the vault without `payFee` (logged as a fee from no source).
    @param token The ERC-20.
    """
    surplus: uint256 = staticcall IERC20(token).balanceOf(self) - self.balanceOf[token]
    assert surplus > 0, "amount is zero"
    self.balanceOf[token] += surplus
    log FeePaid(token=token, payer=msg.sender, source=empty(address), amount=surplus)


@external
@nonreentrant
def release(token: address, amount: uint256, to: address):
    """
    @notice Send fees to be sold (the buyback auction only).
    @param token The ERC-20.
    @param amount How much.
    @param to Where (the auction).
    """
    assert msg.sender == self.buyback, "only buyback"
    assert amount <= self.balanceOf[token], "exceeds balance"
    self.balanceOf[token] -= amount
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "transfer failed"
    log FeeReleased(token=token, to=to, amount=amount)
