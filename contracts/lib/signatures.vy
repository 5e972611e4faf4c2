# pragma version ~=0.4.3
"""
@title signatures
@notice EIP-712 signature checks shared by the core contracts (DelegationManager delegation
        approvals, StrategyManager deposits by signature), as OpenZeppelin's SignatureChecker:
        a contract signer answers ERC-1271 `isValidSignature`, an EOA signs with ECDSA.
@dev A stateless module: `from ..lib import signatures`, then `signatures._check_signature(...)`
     and `signatures._domain_separator(name_hash)`. Revert strings: "invalid signature",
     "invalid signature length", "invalid signature v", "invalid signature s".
"""

from ..interfaces import IERC1271

SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168
ERC1271_MAGIC: constant(bytes4) = 0x1626ba7e
DOMAIN_TYPEHASH: constant(bytes32) = keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
DOMAIN_VERSION_HASH: constant(bytes32) = keccak256("1")


@internal
@view
def _domain_separator(name_hash: bytes32) -> bytes32:
    """
    @notice The EIP-712 domain separator of the calling contract: its name, version "1", the
            current chain id (so a fork's chain id invalidates old signatures) and its address.
    """
    return keccak256(abi_encode(DOMAIN_TYPEHASH, name_hash, DOMAIN_VERSION_HASH, chain.id, self))


@internal
@view
def _digest(name_hash: bytes32, struct_hash: bytes32) -> bytes32:
    """
    @notice The EIP-712 digest "\\x19\\x01" || domain separator || struct hash.
    """
    return keccak256(concat(b"\x19\x01", self._domain_separator(name_hash), struct_hash))


@internal
@view
def _check_signature(signer: address, digest: bytes32, signature: Bytes[256]):
    """
    @notice Revert unless `signature` is `signer`'s signature of `digest`: ERC-1271 for a
            contract, otherwise a 65-byte (r, s, v) ECDSA signature with low s.
    """
    if signer.is_contract:
        magic: bytes4 = staticcall IERC1271(signer).isValidSignature(digest, signature)
        assert magic == ERC1271_MAGIC, "invalid signature"
        return
    assert len(signature) == 65, "invalid signature length"
    r: uint256 = convert(slice(signature, 0, 32), uint256)
    s: uint256 = convert(slice(signature, 32, 32), uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "invalid signature v"
    assert s <= SECP256K1_HALF_N, "invalid signature s"
    recovered: address = ecrecover(digest, v, r, s)
    assert recovered != empty(address) and recovered == signer, "invalid signature"
