# pragma version ~=0.4.3
"""
@title UptoSettler
@notice Settles x402 `upto` payments (authorize a maximum, pay the actual) with EIP-3009 alone:
        the client signs ReceiveWithAuthorization(from, to = this settler, value = maximum,
        validAfter, validBefore, nonce) where nonce = keccak256(abi_encode(payTo, facilitator,
        salt)). The facilitator calls `settle` with the actual amount: the settler pulls the
        maximum (receiveWithAuthorization, which only this contract may submit), pays the
        cloud's inference fee (ELIP-12: `feeBips` of the amount, rounded down) into the FeeVault,
        the rest of `amount` to payTo, and returns what is above `amount` to the client, all in
        the same transaction. The payer pays `amount` whatever the fee: the fee comes out of the
        server's side.
@dev The nonce binds the payee and the one account allowed to settle (as Permit2's witness
     does in x402's upto proxy), so neither a relayer nor a front-runner can redirect the
     funds or settle for a smaller amount; the token's own nonce check stops a replay. The
     settler holds nothing between transactions. The owner (governance) names the FeeVault and
     sets `feeBips` (at most MAX_FEE_BIPS, zero allowed); with no vault no fee is taken.
     A contract payer's charge stays readable as settledAmount(token, payer, nonce), so it (the
     AgentVault) can return the unspent part of its maximum to its own budget; whether the
     authorization was used is the token's authorizationState(payer, nonce). An account payer's
     is not stored (it is in UptoSettled; the slot would cost every inference payment ~22,000 gas).
     Revert strings: "amount above maximum", "zero payee", "transfer failed", "approve failed",
     "fee over cap", "only owner", plus the token's and the vault's.
"""

from ethereum.ercs import IERC20
from ..interfaces import IEIP3009
from ..interfaces import IFeeVault
from ..lib import ownable

initializes: ownable
exports: ownable.__interface__

BPS: constant(uint256) = 10000
# The cloud's share of an inference payment: 20 % by default (as ELIP-12's protocol fee), at most
# half, so a server always keeps at least half of what it charged.
DEFAULT_FEE_BIPS: constant(uint16) = 2000
MAX_FEE_BIPS: constant(uint16) = 5000


event UptoSettled:
    token: indexed(address)
    payer: indexed(address)
    payTo: indexed(address)
    facilitator: address
    maxAmount: uint256
    amount: uint256
    nonce: bytes32
    fee: uint256


event FeeBipsSet:
    feeBips: uint16


event FeeVaultSet:
    feeVault: indexed(address)


# Bips of each settled amount paid to the fee vault (while one is set).
feeBips: public(uint16)
# The FeeVault the fee is paid to (zero: no fee).
feeVault: public(address)
# What each settlement from a contract payer charged, by token, payer and EIP-3009 nonce (zero: no
# settlement, a zero charge, or an account payer; the token's authorizationState(payer, nonce)
# tells whether the nonce was used).
settledAmount: public(HashMap[address, HashMap[address, HashMap[bytes32, uint256]]])


@deploy
def __init__():
    """
    @notice The deployer becomes the owner (names the vault, sets the fee); the fee starts at
            DEFAULT_FEE_BIPS and applies once a vault is named.
    """
    ownable.__init__(msg.sender)
    self.feeBips = DEFAULT_FEE_BIPS


@external
def setFeeBips(_feeBips: uint16):
    """
    @notice Set the cloud's fee in bips of each settled amount (owner; 0 to MAX_FEE_BIPS).
    @param _feeBips The fee.
    """
    ownable._check_owner()
    assert _feeBips <= MAX_FEE_BIPS, "fee over cap"
    self.feeBips = _feeBips
    log FeeBipsSet(feeBips=_feeBips)


@external
def setFeeVault(_feeVault: address):
    """
    @notice Name the FeeVault the fee is paid to (owner; zero: no fee is taken).
    @param _feeVault The FeeVault.
    """
    ownable._check_owner()
    self.feeVault = _feeVault
    log FeeVaultSet(feeVault=_feeVault)


@external
@view
def feeOf(amount: uint256) -> uint256:
    """
    @notice The cloud's fee on a settlement of `amount`: floor(amount * feeBips / 10,000) while a
            vault is set, else 0; payTo receives amount minus it.
    @param amount The amount charged to the payer.
    @return The fee.
    """
    return self._fee(amount)


@internal
@view
def _fee(amount: uint256) -> uint256:
    if self.feeVault == empty(address):
        return 0
    return amount * convert(self.feeBips, uint256) // BPS


@external
@pure
def uptoNonce(payTo: address, facilitator: address, salt: bytes32) -> bytes32:
    """
    @notice The EIP-3009 nonce a client signs to let `facilitator` pay up to its maximum to
            `payTo`: keccak256(abi_encode(payTo, facilitator, salt)).
    """
    return keccak256(abi_encode(payTo, facilitator, salt))


@external
@nonreentrant
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
    @notice Charge `amount` (at most `maxAmount`) of `token` to `payer` under the payer's
            ReceiveWithAuthorization signature for `maxAmount`: feeOf(amount) to the fee vault
            (payFee, attributed to `payTo`), the rest to `payTo`; the caller must be the
            facilitator the signature names. A contract payer's charge is recorded as
            settledAmount(token, payer, nonce).
    """
    assert amount <= maxAmount, "amount above maximum"
    assert payTo != empty(address), "zero payee"
    nonce: bytes32 = keccak256(abi_encode(payTo, msg.sender, salt))
    extcall IEIP3009(token).receiveWithAuthorization(payer, self, maxAmount, validAfter, validBefore, nonce, signature)
    if amount != 0 and payer.is_contract:
        # (a token accepts a nonce once: this slot is written at most once a payer's nonce)
        self.settledAmount[token][payer][nonce] = amount
    fee: uint256 = self._fee(amount)
    if fee > 0:
        vault: address = self.feeVault
        assert extcall IERC20(token).approve(vault, fee, default_return_value=True), "approve failed"
        extcall IFeeVault(vault).payFee(token, fee, payTo)
    if amount > fee:
        assert extcall IEIP3009(token).transfer(payTo, amount - fee), "transfer failed"
    if maxAmount > amount:
        assert extcall IEIP3009(token).transfer(payer, maxAmount - amount), "transfer failed"
    log UptoSettled(
        token=token, payer=payer, payTo=payTo, facilitator=msg.sender, maxAmount=maxAmount, amount=amount, nonce=nonce, fee=fee
    )
