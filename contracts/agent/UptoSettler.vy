# pragma version ~=0.4.3
"""
@title UptoSettler
@notice Settles x402 `upto` payments (authorize a maximum, pay the actual) with EIP-3009 alone:
        the client signs ReceiveWithAuthorization(from, to = this settler, value = maximum,
        validAfter, validBefore, nonce) where nonce = keccak256(abi_encode(payTo, facilitator,
        salt)). The facilitator calls `settle` with the actual amount: the settler pulls the
        maximum (receiveWithAuthorization, which only this contract may submit), pays `amount`
        to payTo and returns the rest to the client in the same transaction.
@dev The nonce binds the payee and the one account allowed to settle (as Permit2's witness
     does in x402's upto proxy), so neither a relayer nor a front-runner can redirect the
     funds or settle for a smaller amount; the token's own nonce check stops a replay. The
     settler holds nothing between transactions. Revert strings: "amount above maximum",
     "zero payee", "transfer failed", plus the token's.
"""

from ..interfaces import IEIP3009


event UptoSettled:
    token: indexed(address)
    payer: indexed(address)
    payTo: indexed(address)
    facilitator: address
    maxAmount: uint256
    amount: uint256
    nonce: bytes32


@external
@pure
def uptoNonce(payTo: address, facilitator: address, salt: bytes32) -> bytes32:
    """
    @notice The EIP-3009 nonce a client signs to let `facilitator` pay up to its maximum to
            `payTo`: keccak256(abi_encode(payTo, facilitator, salt)).
    """
    return keccak256(abi_encode(payTo, facilitator, salt))


@external
def settle(
    token: address,
    payer: address,
    payTo: address,
    maxAmount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    salt: bytes32,
    signature: Bytes[256],
    amount: uint256,
):
    """
    @notice Pay `amount` (at most `maxAmount`) of `token` from `payer` to `payTo` under the
            payer's ReceiveWithAuthorization signature for `maxAmount`; the caller must be the
            facilitator the signature names.
    """
    assert amount <= maxAmount, "amount above maximum"
    assert payTo != empty(address), "zero payee"
    nonce: bytes32 = keccak256(abi_encode(payTo, msg.sender, salt))
    extcall IEIP3009(token).receiveWithAuthorization(payer, self, maxAmount, validAfter, validBefore, nonce, signature)
    if amount > 0:
        assert extcall IEIP3009(token).transfer(payTo, amount), "transfer failed"
    if maxAmount > amount:
        assert extcall IEIP3009(token).transfer(payer, maxAmount - amount), "transfer failed"
    log UptoSettled(
        token=token, payer=payer, payTo=payTo, facilitator=msg.sender, maxAmount=maxAmount, amount=amount, nonce=nonce
    )
