# pragma version ~=0.4.3
"""
@title StableToken
@notice The devnet's stablecoin for agent payments (x402): a 6-decimal ERC-20 that the owner
        mints, with EIP-3009 transfers by authorization exactly as USDC (FiatToken v2.2) has them:
        transferWithAuthorization, receiveWithAuthorization, cancelAuthorization,
        authorizationState, the same EIP-712 typehashes, domain (name, version "2", chain id,
        this address) and events, random 32-byte nonces per authorizer, validAfter < now <
        validBefore.
@dev Each of the three authorization functions has USDC's two selectors: the `bytes signature`
     form (v2.2, which also accepts ERC-1271 contract signers) is an ordinary function, the
     (v, r, s) form is decoded in __default__ (Vyper has no overloading) and runs the same code.
     An EOA signs with low-s ECDSA; a contract signer answers isValidSignature.
     Revert strings: "authorization is not yet valid", "authorization is expired",
     "authorization is used or canceled", "caller must be the payee", "invalid signature*",
     "ERC20: transfer amount exceeds balance" (a transfer by authorization, USDC's words),
     "insufficient balance" (transfer, transferFrom), "zero receiver", "only owner",
     "unknown function".
"""

from ethereum.ercs import IERC20
from ..lib import erc20
from ..lib import ownable
from ..lib import signatures

implements: IERC20

initializes: erc20
initializes: ownable

exports: (erc20.__interface__, ownable.owner, ownable.transferOwnership)

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
VERSION_HASH: constant(bytes32) = keccak256("2")
TRANSFER_WITH_AUTHORIZATION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
RECEIVE_WITH_AUTHORIZATION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
CANCEL_AUTHORIZATION_TYPEHASH: public(constant(bytes32)) = keccak256("CancelAuthorization(address authorizer,bytes32 nonce)")

# The (v, r, s) selectors of FiatToken v2 (decoded in __default__).
SEL_TRANSFER_VRS: constant(bytes4) = method_id(
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)", output_type=bytes4
)
SEL_RECEIVE_VRS: constant(bytes4) = method_id(
    "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)", output_type=bytes4
)
SEL_CANCEL_VRS: constant(bytes4) = method_id("cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)", output_type=bytes4)


event AuthorizationUsed:
    authorizer: indexed(address)
    nonce: indexed(bytes32)


event AuthorizationCanceled:
    authorizer: indexed(address)
    nonce: indexed(bytes32)


# Token name, also the EIP-712 domain name (USDC: "USD Coin").
name: public(String[32])
# Token symbol (USDC: "USDC").
symbol: public(String[16])
# Always 6, as USDC.
decimals: public(constant(uint8)) = 6
# Always "2", as USDC's EIP-712 domain version.
version: public(constant(String[1])) = "2"

_name_hash: bytes32
# _authorizations[authorizer][nonce]: used or canceled.
_authorizations: HashMap[address, HashMap[bytes32, bool]]


@deploy
def __init__(_name: String[32], _symbol: String[16], _owner: address):
    """
    @param _name Token and EIP-712 domain name.
    @param _symbol Token symbol.
    @param _owner The account allowed to mint.
    """
    self.name = _name
    self.symbol = _symbol
    self._name_hash = keccak256(_name)
    ownable.__init__(_owner)


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` tokens for `to` (owner only).
    """
    ownable._check_owner()
    assert to != empty(address), "zero receiver"
    erc20._mint(to, amount)


@internal
@view
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, self._name_hash, VERSION_HASH, chain.id, self))


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator (name, "2", chain id, this contract).
    """
    return self._domain_separator()


@external
@view
def authorizationState(authorizer: address, nonce: bytes32) -> bool:
    """
    @notice Whether `authorizer`'s `nonce` is used or canceled.
    """
    return self._authorizations[authorizer][nonce]


@internal
def _use(
    typehash: bytes32,
    sender: address,
    receiver: address,
    amount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    signature: Bytes[256],
):
    assert block.timestamp > validAfter, "authorization is not yet valid"
    assert block.timestamp < validBefore, "authorization is expired"
    assert not self._authorizations[sender][nonce], "authorization is used or canceled"
    struct_hash: bytes32 = keccak256(abi_encode(typehash, sender, receiver, amount, validAfter, validBefore, nonce))
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))
    signatures._check_signature(sender, digest, signature)
    self._authorizations[sender][nonce] = True
    log AuthorizationUsed(authorizer=sender, nonce=nonce)
    # FiatToken's own words: the official x402 facilitators map this revert to the payer's
    # insufficient balance
    assert erc20.balanceOf[sender] >= amount, "ERC20: transfer amount exceeds balance"
    erc20._transfer(sender, receiver, amount)


@internal
def _cancel(authorizer: address, nonce: bytes32, signature: Bytes[256]):
    assert not self._authorizations[authorizer][nonce], "authorization is used or canceled"
    struct_hash: bytes32 = keccak256(abi_encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce))
    digest: bytes32 = keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))
    signatures._check_signature(authorizer, digest, signature)
    self._authorizations[authorizer][nonce] = True
    log AuthorizationCanceled(authorizer=authorizer, nonce=nonce)


@external
def transferWithAuthorization(
    _from: address,
    to: address,
    _value: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    signature: Bytes[256],
):
    """
    @notice Move `_value` from `_from` to `to` with `_from`'s EIP-3009 TransferWithAuthorization
            signature (anyone may submit it; x402's facilitator does).
    """
    self._use(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, _from, to, _value, validAfter, validBefore, nonce, signature)


@external
def receiveWithAuthorization(
    _from: address,
    to: address,
    _value: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    signature: Bytes[256],
):
    """
    @notice As transferWithAuthorization, for a ReceiveWithAuthorization signature, and only the
            payee `to` may submit it (so nobody can front-run a contract payee's call).
    """
    assert msg.sender == to, "caller must be the payee"
    self._use(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, _from, to, _value, validAfter, validBefore, nonce, signature)


@external
def cancelAuthorization(authorizer: address, nonce: bytes32, signature: Bytes[256]):
    """
    @notice Burn an unused nonce of `authorizer` with its CancelAuthorization signature.
    """
    self._cancel(authorizer, nonce, signature)


@internal
@pure
def _vrs(v: uint8, r: bytes32, s: bytes32) -> Bytes[256]:
    return concat(r, s, convert(v, bytes1))


@external
def __default__():
    """
    @notice FiatToken v2's (v, r, s) forms of the three authorization functions.
    """
    assert len(msg.data) >= 4, "unknown function"
    sel: bytes4 = convert(slice(msg.data, 0, 4), bytes4)
    if sel == SEL_TRANSFER_VRS or sel == SEL_RECEIVE_VRS:
        assert len(msg.data) == 4 + 9 * 32, "bad calldata"
        sender: address = empty(address)
        receiver: address = empty(address)
        amount: uint256 = 0
        after: uint256 = 0
        before: uint256 = 0
        nonce: bytes32 = empty(bytes32)
        v: uint8 = 0
        r: bytes32 = empty(bytes32)
        s: bytes32 = empty(bytes32)
        sender, receiver, amount, after, before, nonce, v, r, s = abi_decode(
            slice(msg.data, 4, 288), (address, address, uint256, uint256, uint256, bytes32, uint8, bytes32, bytes32)
        )
        typehash: bytes32 = TRANSFER_WITH_AUTHORIZATION_TYPEHASH
        if sel == SEL_RECEIVE_VRS:
            assert msg.sender == receiver, "caller must be the payee"
            typehash = RECEIVE_WITH_AUTHORIZATION_TYPEHASH
        self._use(typehash, sender, receiver, amount, after, before, nonce, self._vrs(v, r, s))
        return
    if sel == SEL_CANCEL_VRS:
        assert len(msg.data) == 4 + 5 * 32, "bad calldata"
        authorizer: address = empty(address)
        cnonce: bytes32 = empty(bytes32)
        cv: uint8 = 0
        cr: bytes32 = empty(bytes32)
        cs: bytes32 = empty(bytes32)
        authorizer, cnonce, cv, cr, cs = abi_decode(slice(msg.data, 4, 160), (address, bytes32, uint8, bytes32, bytes32))
        self._cancel(authorizer, cnonce, self._vrs(cv, cr, cs))
        return
    raise "unknown function"
