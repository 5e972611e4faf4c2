# pragma version ~=0.4.3
"""
@title MockERC1271Wallet
@notice Contract signer for tests: a signature is valid when its owner's ECDSA signature is.
@dev Implements IERC1271; the DelegationManager tests use it as a contract delegation approver.
"""

from ..interfaces import IERC1271

implements: IERC1271

# The ECDSA signer whose signatures this wallet accepts.
owner: public(address)


@deploy
def __init__(_owner: address):
    """
    @notice A wallet whose signatures are `_owner`'s.
    @param _owner The ECDSA signer.
    """
    self.owner = _owner


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[256]) -> bytes4:
    """
    @notice ERC-1271: whether `_signature` is the owner's signature of `_hash`.
    @param _hash The signed digest.
    @param _signature The 65-byte signature (r, s, v).
    @return 0x1626ba7e if valid, else 0xffffffff.
    """
    if len(_signature) != 65:
        return 0xffffffff
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    if ecrecover(_hash, v, r, s) == self.owner:
        return 0x1626ba7e
    return 0xffffffff
