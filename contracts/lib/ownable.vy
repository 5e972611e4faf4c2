# pragma version ~=0.4.3
"""
@title ownable
@notice One owner account for the owner-only functions of the contract that `initializes:` this
        module (ComputeAVS, InferenceDisputes, BackingEigen). The owner can hand the role on with
        `transferOwnership`; there is no renounce.
@dev Use: `from ..lib import ownable`, `initializes: ownable`, `exports: ownable.__interface__`,
     call `ownable.__init__(owner)` from the constructor and `ownable._check_owner()` at the top
     of each owner-only function. Revert strings: "only owner", "zero owner".
"""


event OwnershipTransferred:
    previousOwner: indexed(address)
    newOwner: indexed(address)


# The account allowed to call the owner-only functions; never zero.
owner: public(address)


@deploy
def __init__(initialOwner: address):
    """
    @notice Make `initialOwner` the owner and log OwnershipTransferred from the zero address.
    @param initialOwner The first owner; must not be zero.
    """
    assert initialOwner != empty(address), "zero owner"
    self.owner = initialOwner
    log OwnershipTransferred(previousOwner=empty(address), newOwner=initialOwner)


@internal
@view
def _check_owner():
    # Reverts unless the caller is the owner.
    assert msg.sender == self.owner, "only owner"


@external
def transferOwnership(newOwner: address):
    """
    @notice Hand the owner role to `newOwner` (owner only).
    @param newOwner The next owner; must not be zero.
    """
    self._check_owner()
    assert newOwner != empty(address), "zero owner"
    log OwnershipTransferred(previousOwner=self.owner, newOwner=newOwner)
    self.owner = newOwner
