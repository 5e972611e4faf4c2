# pragma version ~=0.4.3
"""
@title MockLongSignatureWallet
@notice Contract signer for tests whose signatures are longer than an ECDSA one, as a passkey
        wallet's WebAuthn assertions are: a signature is valid when its first 65 bytes are its
        owner's ECDSA signature of the hash and it is at least `min_length` bytes long (the rest
        stands for the authenticator data).
"""

MAX_SIGNATURE: constant(uint256) = 2048

# The ECDSA signer whose signatures this wallet accepts.
owner: public(address)
# The shortest signature it accepts.
min_length: public(uint256)


@deploy
def __init__(_owner: address, _min_length: uint256):
    """
    @param _owner The ECDSA signer.
    @param _min_length The shortest signature accepted (at least 65).
    """
    assert _min_length >= 65, "min length below 65"
    self.owner = _owner
    self.min_length = _min_length


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[MAX_SIGNATURE]) -> bytes4:
    """
    @notice ERC-1271: 0x1626ba7e when `_signature` is long enough and starts with the owner's
            signature of `_hash`, else 0xffffffff.
    """
    if len(_signature) < self.min_length:
        return 0xffffffff
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    if ecrecover(_hash, v, r, s) == self.owner:
        return 0x1626ba7e
    return 0xffffffff
