"""The devnet stablecoin (contracts/agent/StableToken.vy): EIP-3009 exactly as USDC has it
(selectors of both signature forms, typehashes, domain, events), every refusal (not yet valid,
expired, used, canceled, wrong signer, tampered, underfunded, payee-only receive), ERC-1271
signers; and the x402 upto settler (contracts/agent/UptoSettler.vy): pay the actual, refund the
rest, bound to payee and facilitator."""

from __future__ import annotations

import os

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from offchain.abi import ZERO_ADDRESS
from offchain.chain.agent import (
    RECEIVE_WITH_AUTHORIZATION,
    TRANSFER_WITH_AUTHORIZATION,
    Authorization,
    authorization_data,
    cancel_data,
    digest,
    sign,
    split_signature,
    upto_nonce,
)
from tests.contracts.support import A, one, reverts

NAME = "USD Coin"
# FiatToken v2's published constants.
USDC_TYPEHASHES = {
    "TRANSFER_WITH_AUTHORIZATION_TYPEHASH": "7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267",
    "RECEIVE_WITH_AUTHORIZATION_TYPEHASH": "d099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8",
    "CANCEL_AUTHORIZATION_TYPEHASH": "158b0a9edf7a828aad02f63cd515c68ef2f50ba807396f6d12842833a1597429",
}
USDC_SELECTORS = {
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": "cf092995",
    "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)": "88b7ab63",
    "cancelAuthorization(address,bytes32,bytes)": "b7b72899",
    "authorizationState(address,bytes32)": "e94a0102",
}
VRS_TRANSFER = (
    "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
VRS_RECEIVE = (
    "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)"
)
VRS_CANCEL = "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)"
AUTH_TYPES = ["address", "address", "uint256", "uint256", "uint256", "bytes32"]


@pytest.fixture(scope="module")
def usdc(project, accounts):
    t = accounts[0].deploy(project.StableToken, NAME, "USDC", accounts[0])
    for a in accounts[1:4]:
        t.mint(a, 1_000_000_000, sender=accounts[0])  # 1000 USDC each
    return t


@pytest.fixture(scope="module")
def settler(project, accounts):
    return accounts[0].deploy(project.UptoSettler)


def auth(chain, frm, to, value, after=None, before=None, nonce=None):
    t = chain.pending_timestamp
    # valid from before the head block: raw_call's eth_call runs at the head's timestamp, which lags
    # the pending one once wall-clock time has passed since it was mined
    head = chain.blocks.head.timestamp
    return Authorization(
        A(frm),
        A(to),
        value,
        min(t, head) - 1 if after is None else after,
        t + 60 if before is None else before,
        nonce or os.urandom(32),
    )


def signed(chain, usdc, key, a, primary=TRANSFER_WITH_AUTHORIZATION):
    return sign(key, authorization_data(primary, NAME, chain.chain_id, usdc.address, a))


def raw_call(chain, sender, to, sig, types, args):
    """Send calldata for a selector the ABI lacks (FiatToken's (v, r, s) forms); returns the
    receipt's status, or the revert reason of the same call."""
    from web3.exceptions import ContractLogicError

    w3 = chain.provider.web3
    tx = {
        "from": sender.address,
        "to": A(to),
        "data": "0x" + (keccak(sig.encode())[:4] + encode(types, args)).hex(),
    }
    try:
        w3.eth.call(tx)
    except ContractLogicError as exc:
        return exc.message.removeprefix("execution reverted: ")
    h = w3.eth.send_transaction(tx | {"gas": 300_000})
    return w3.eth.wait_for_transaction_receipt(h)["status"]


def test_constants_selectors_and_domain(usdc, chain):
    for name, value in USDC_TYPEHASHES.items():
        assert bytes(getattr(usdc, name)()).hex() == value
    abi = usdc.contract_type
    ours = {keccak(m.selector.encode())[:4].hex() for m in [*abi.mutable_methods, *abi.view_methods]}
    for sig, want in USDC_SELECTORS.items():
        assert keccak(sig.encode())[:4].hex() == want and want in ours, sig
    assert (usdc.name(), usdc.symbol(), usdc.decimals(), usdc.version()) == (NAME, "USDC", 6, "2")
    domain = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak(NAME.encode()),
                keccak(b"2"),
                chain.chain_id,
                usdc.address,
            ],
        )
    )
    assert bytes(usdc.DOMAIN_SEPARATOR()) == domain
    events = {e.name: e.selector for e in abi.events}
    assert events["AuthorizationUsed"] == "AuthorizationUsed(address,bytes32)"
    assert events["AuthorizationCanceled"] == "AuthorizationCanceled(address,bytes32)"


def test_mint_is_owner_only(usdc, accounts):
    reverts("only owner", usdc.mint, accounts[1], 1, sender=accounts[1])
    reverts("zero receiver", usdc.mint, "0x" + "00" * 20, 1, sender=accounts[0])


def test_transfer_with_authorization_and_every_refusal(usdc, chain, accounts):
    payer, payee, relayer, thief = accounts[1], accounts[4], accounts[5], accounts[6]
    a = auth(chain, payer, payee, 10_000)
    sig = signed(chain, usdc, payer.private_key, a)
    # the signature is checked over each field: change one and it is refused
    wrong_to = Authorization(a.from_, A(thief), a.value, a.valid_after, a.valid_before, a.nonce)
    reverts("invalid signature", usdc.transferWithAuthorization, *wrong_to.args(), sig, sender=relayer)
    more = Authorization(a.from_, a.to, a.value + 1, a.valid_after, a.valid_before, a.nonce)
    reverts("invalid signature", usdc.transferWithAuthorization, *more.args(), sig, sender=relayer)
    tampered = bytes([sig[0] ^ 1]) + sig[1:]
    reverts("invalid signature", usdc.transferWithAuthorization, *a.args(), tampered, sender=relayer)
    reverts("invalid signature length", usdc.transferWithAuthorization, *a.args(), sig[:-1], sender=relayer)
    other_key = signed(chain, usdc, thief.private_key, a)
    reverts("invalid signature", usdc.transferWithAuthorization, *a.args(), other_key, sender=relayer)
    # a receive-typed signature does not pass as a transfer
    as_receive = signed(chain, usdc, payer.private_key, a, RECEIVE_WITH_AUTHORIZATION)
    reverts("invalid signature", usdc.transferWithAuthorization, *a.args(), as_receive, sender=relayer)
    r = usdc.transferWithAuthorization(*a.args(), sig, sender=relayer)
    used = one(r, "AuthorizationUsed")
    assert (A(used.authorizer), bytes(used.nonce)) == (A(payer), a.nonce)
    tr = one(r, "Transfer")
    assert (A(tr.sender), A(tr.receiver), tr.value) == (A(payer), A(payee), 10_000)
    assert usdc.balanceOf(payee) == 10_000 and usdc.balanceOf(payer) == 1_000_000_000 - 10_000
    assert usdc.authorizationState(payer, a.nonce)
    # replay
    reverts(
        "authorization is used or canceled", usdc.transferWithAuthorization, *a.args(), sig, sender=relayer
    )
    # time window: validAfter < now < validBefore, strictly
    t = chain.pending_timestamp
    for after, before, reason in (
        (t + 100, t + 200, "authorization is not yet valid"),
        (0, t - 1, "authorization is expired"),
    ):
        b = auth(chain, payer, payee, 1, after=after, before=before)
        reverts(
            reason,
            usdc.transferWithAuthorization,
            *b.args(),
            signed(chain, usdc, payer.private_key, b),
            sender=relayer,
        )
    # underfunded: USDC's words, which the official x402 facilitators read as such
    c = auth(chain, payer, payee, 10**12)
    reverts(
        "ERC20: transfer amount exceeds balance",
        usdc.transferWithAuthorization,
        *c.args(),
        signed(chain, usdc, payer.private_key, c),
        sender=relayer,
    )


def test_receive_with_authorization_is_payee_only(usdc, chain, accounts):
    payer, payee, relayer = accounts[2], accounts[4], accounts[5]
    a = auth(chain, payer, payee, 7)
    sig = signed(chain, usdc, payer.private_key, a, RECEIVE_WITH_AUTHORIZATION)
    reverts("caller must be the payee", usdc.receiveWithAuthorization, *a.args(), sig, sender=relayer)
    transfer_sig = signed(chain, usdc, payer.private_key, a)
    reverts("invalid signature", usdc.receiveWithAuthorization, *a.args(), transfer_sig, sender=payee)
    usdc.receiveWithAuthorization(*a.args(), sig, sender=payee)
    assert usdc.balanceOf(payee) == 7


def test_cancel_authorization(usdc, chain, accounts):
    payer, payee, relayer = accounts[3], accounts[4], accounts[5]
    a = auth(chain, payer, payee, 5)
    cancel = cancel_data(NAME, chain.chain_id, usdc.address, payer.address, a.nonce)
    by_payer, by_relayer = sign(payer.private_key, cancel), sign(relayer.private_key, cancel)
    reverts("invalid signature", usdc.cancelAuthorization, payer, a.nonce, by_relayer, sender=relayer)
    r = usdc.cancelAuthorization(payer, a.nonce, by_payer, sender=relayer)
    e = one(r, "AuthorizationCanceled")
    assert (A(e.authorizer), bytes(e.nonce)) == (A(payer), a.nonce)
    sig = signed(chain, usdc, payer.private_key, a)
    reverts(
        "authorization is used or canceled", usdc.transferWithAuthorization, *a.args(), sig, sender=relayer
    )
    used = "authorization is used or canceled"
    reverts(used, usdc.cancelAuthorization, payer, a.nonce, by_payer, sender=relayer)


def test_vrs_forms(usdc, chain, accounts):
    payer, payee, relayer = accounts[1], accounts[4], accounts[5]
    a = auth(chain, payer, payee, 33)
    v, r, s = split_signature(signed(chain, usdc, payer.private_key, a))
    args = [*a.args(), v, r, s]
    types = [*AUTH_TYPES, "uint8", "bytes32", "bytes32"]
    assert raw_call(chain, relayer, usdc, VRS_TRANSFER, types, args) == 1
    assert usdc.balanceOf(payee) == 33
    assert raw_call(chain, relayer, usdc, VRS_TRANSFER, types, args) == "authorization is used or canceled"
    fresh = auth(chain, payer, payee, 2)
    fv, fr, fs = split_signature(signed(chain, usdc, payer.private_key, fresh))
    bad = [*fresh.args(), fv, fr, (int.from_bytes(fs, "big") ^ 1).to_bytes(32, "big")]
    b = auth(chain, payer, payee, 1)
    v2, r2, s2 = split_signature(signed(chain, usdc, payer.private_key, b, RECEIVE_WITH_AUTHORIZATION))
    assert (
        raw_call(chain, relayer, usdc, VRS_RECEIVE, types, [*b.args(), v2, r2, s2])
        == "caller must be the payee"
    )
    assert raw_call(chain, payee, usdc, VRS_RECEIVE, types, [*b.args(), v2, r2, s2]) == 1
    assert raw_call(chain, relayer, usdc, VRS_TRANSFER, types, bad) == "invalid signature"
    c = auth(chain, payer, payee, 1)
    cv, cr, cs = split_signature(
        sign(payer.private_key, cancel_data(NAME, chain.chain_id, usdc.address, payer.address, c.nonce))
    )
    assert (
        raw_call(
            chain,
            relayer,
            usdc,
            VRS_CANCEL,
            ["address", "bytes32", "uint8", "bytes32", "bytes32"],
            [A(payer), c.nonce, cv, cr, cs],
        )
        == 1
    )
    assert usdc.authorizationState(payer, c.nonce)
    assert raw_call(chain, relayer, usdc, "nothing()", [], []) == "unknown function"


def test_erc1271_payer(usdc, project, chain, accounts):
    owner_key, payee, relayer = accounts[6], accounts[4], accounts[5]
    wallet = accounts[0].deploy(project.MockERC1271Wallet, owner_key)
    usdc.mint(wallet, 100, sender=accounts[0])
    a = auth(chain, wallet, payee, 60)
    reverts(
        "invalid signature",
        usdc.transferWithAuthorization,
        *a.args(),
        signed(chain, usdc, relayer.private_key, a),
        sender=relayer,
    )
    usdc.transferWithAuthorization(*a.args(), signed(chain, usdc, owner_key.private_key, a), sender=relayer)
    assert usdc.balanceOf(wallet) == 40 and usdc.balanceOf(payee) == 60


def test_digest_is_eip712(usdc, chain, accounts):
    a = auth(chain, accounts[1], accounts[4], 1)
    data = authorization_data(TRANSFER_WITH_AUTHORIZATION, NAME, chain.chain_id, usdc.address, a)
    struct = keccak(
        encode(
            ["bytes32", *AUTH_TYPES],
            [bytes.fromhex(USDC_TYPEHASHES["TRANSFER_WITH_AUTHORIZATION_TYPEHASH"]), *a.args()],
        )
    )
    assert digest(data) == keccak(b"\x19\x01" + bytes(usdc.DOMAIN_SEPARATOR()) + struct)


def test_upto_settler(usdc, settler, chain, accounts):
    payer, pay_to, facilitator, other = accounts[2], accounts[4], accounts[5], accounts[6]
    salt = os.urandom(32)
    nonce = upto_nonce(pay_to.address, facilitator.address, salt)
    assert bytes(settler.uptoNonce(pay_to, facilitator, salt)) == nonce
    a = auth(chain, payer, settler, 5_000, nonce=nonce)
    sig = signed(chain, usdc, payer.private_key, a, RECEIVE_WITH_AUTHORIZATION)
    args = (usdc, payer, pay_to, 5_000, a.valid_after, a.valid_before, salt, sig)
    before = usdc.balanceOf(payer)
    reverts("amount above maximum", settler.settle, *args, 5_001, sender=facilitator)
    # another facilitator, or another payee, changes the nonce: the signature does not cover it
    reverts("invalid signature", settler.settle, *args, 1_000, sender=other)
    reverts("invalid signature", settler.settle, usdc, payer, other, *args[3:], 1_000, sender=facilitator)
    r = settler.settle(*args, 1_234, sender=facilitator)
    e = one(r, "UptoSettled")
    assert (A(e.token), A(e.payer), A(e.payTo), A(e.facilitator), e.maxAmount, e.amount, bytes(e.nonce)) == (
        A(usdc),
        A(payer),
        A(pay_to),
        A(facilitator),
        5_000,
        1_234,
        nonce,
    )
    assert e.fee == 0  # no fee vault named: no fee, whatever feeBips says
    assert usdc.balanceOf(pay_to) == 1_234
    assert usdc.balanceOf(payer) == before - 1_234
    assert usdc.balanceOf(settler) == 0
    reverts("authorization is used or canceled", settler.settle, *args, 1, sender=facilitator)


def _upto(chain, usdc, settler, payer, pay_to, facilitator, maximum):
    salt = os.urandom(32)
    a = auth(chain, payer, settler, maximum, nonce=upto_nonce(pay_to.address, facilitator.address, salt))
    sig = signed(chain, usdc, payer.private_key, a, RECEIVE_WITH_AUTHORIZATION)
    return (usdc, payer, pay_to, maximum, a.valid_after, a.valid_before, salt, sig)


@pytest.mark.parametrize(
    ("bips", "amount"), [(2000, 1_234), (3333, 999_999), (5000, 1), (0, 5_000), (2000, 0)]
)
def test_upto_settler_pays_the_cloud_fee_into_the_vault(project, usdc, chain, accounts, bips, amount):
    owner, payer, pay_to, facilitator = accounts[0], accounts[2], accounts[7], accounts[5]
    settler = owner.deploy(project.UptoSettler)
    vault = owner.deploy(project.FeeVault, owner)
    assert settler.feeBips() == 2000 and settler.feeVault() == ZERO_ADDRESS  # the documented default
    assert A(one(settler.setFeeVault(vault, sender=owner), "FeeVaultSet").feeVault) == A(vault)
    assert one(settler.setFeeBips(bips, sender=owner), "FeeBipsSet").feeBips == bips
    fee = amount * bips // 10_000  # rounded down, in the server's favour
    assert settler.feeOf(amount) == fee
    payer_before, pay_to_before = usdc.balanceOf(payer), usdc.balanceOf(pay_to)
    r = settler.settle(
        *_upto(chain, usdc, settler, payer, pay_to, facilitator, 1_000_000), amount, sender=facilitator
    )
    e = one(r, "UptoSettled")
    assert (e.amount, e.fee) == (amount, fee)
    assert usdc.balanceOf(payer) == payer_before - amount  # the payer pays the amount, fee or not
    assert usdc.balanceOf(pay_to) - pay_to_before == amount - fee
    assert vault.balanceOf(usdc) == fee == usdc.balanceOf(vault) and usdc.balanceOf(settler) == 0
    if fee:
        paid = one(r, "FeePaid", vault)
        assert (A(paid.token), A(paid.payer), A(paid.source), paid.amount) == (
            A(usdc),
            A(settler),
            A(pay_to),
            fee,
        )


def test_upto_settler_fee_bounds_and_owner(project, usdc, chain, accounts):
    owner, other, payer, pay_to, facilitator = accounts[0], accounts[6], accounts[3], accounts[7], accounts[5]
    settler = owner.deploy(project.UptoSettler)
    vault = owner.deploy(project.FeeVault, owner)
    reverts("fee over cap", settler.setFeeBips, 5001, sender=owner)
    reverts("fee over cap", settler.setFeeBips, 2**16 - 1, sender=owner)
    reverts("only owner", settler.setFeeBips, 100, sender=other)
    reverts("only owner", settler.setFeeVault, other, sender=other)
    settler.setFeeVault(vault, sender=owner)
    r = settler.settle(
        *_upto(chain, usdc, settler, payer, pay_to, facilitator, 10_000), 10_000, sender=facilitator
    )
    assert one(r, "UptoSettled").fee == 2_000 == vault.balanceOf(usdc)
    settler.setFeeVault(ZERO_ADDRESS, sender=owner)  # the vault removed: no fee again
    assert settler.feeOf(10_000) == 0
    r = settler.settle(
        *_upto(chain, usdc, settler, payer, pay_to, facilitator, 10_000), 10_000, sender=facilitator
    )
    assert one(r, "UptoSettled").fee == 0 and vault.balanceOf(usdc) == 2_000
