"""PaymentVault (contracts/da): EigenDA's reservations, on-demand deposits and global parameters,
every revert path."""

from __future__ import annotations

import ape
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from offchain.chain.deploy import PaymentVaultParams, deploy_payment_vault
from offchain.chain.errors import DeployConfigError
from offchain.da.network.types import PaymentHeader, sign_digest
from tests.contracts.support import ZERO, reverts

P = PaymentVaultParams(price_update_cooldown=100)


@pytest.fixture
def pv(project, accounts):
    return deploy_payment_vault(project, accounts[0], accounts[1].address, P)


def res(rate=1024, start=1_000, end=2_000, quorums=b"\x00\x01", splits=b"\x32\x32"):
    return (rate, start, end, quorums, splits)


def test_parameters_and_deploy_checks(pv, project, accounts) -> None:
    assert pv.owner() == accounts[1].address
    got = (
        pv.minNumSymbols(),
        pv.pricePerSymbol(),
        pv.priceUpdateCooldown(),
        pv.globalSymbolsPerPeriod(),
        pv.reservationPeriodInterval(),
        pv.globalRatePeriodInterval(),
    )
    assert got == (4096, 447_000_000, 100, 131_072, 300, 30)
    with pytest.raises(DeployConfigError, match="reservation_period_interval"):
        PaymentVaultParams(reservation_period_interval=0)
    with pytest.raises(DeployConfigError, match="price_per_symbol"):
        PaymentVaultParams(price_per_symbol=2**64)
    with pytest.raises(DeployConfigError, match="owner"):
        deploy_payment_vault(project, accounts[0], ZERO, P)
    with ape.reverts("zero owner"):
        accounts[0].deploy(project.PaymentVault, ZERO, 1, 1, 1, 1, 1, 1)
    with ape.reverts("zero interval"):
        accounts[0].deploy(project.PaymentVault, accounts[1], 1, 1, 1, 1, 0, 1)


def test_reservations(pv, accounts) -> None:
    owner, a, b = accounts[1], accounts[2], accounts[3]
    assert tuple(pv.getReservation(a)) == (0, 0, 0, b"", b"")
    tx = pv.setReservation(a, res(), sender=owner)
    (ev,) = tx.events
    assert ev.account == a.address and tuple(ev.reservation) == res()
    assert tuple(pv.getReservation(a)) == res()
    pv.setReservation(b, res(rate=7, quorums=b"\x00", splits=b"\x64"), sender=owner)
    assert [tuple(r) for r in pv.getReservations([a, b, owner])] == [
        res(),
        res(rate=7, quorums=b"\x00", splits=b"\x64"),
        (0, 0, 0, b"", b""),
    ]
    pv.setReservation(a, res(rate=1), sender=owner)  # replaced
    assert pv.getReservation(a).symbolsPerSecond == 1
    reverts("only owner", pv.setReservation, a, res(), sender=a)
    reverts("zero account", pv.setReservation, ZERO, res(), sender=owner)
    reverts(
        "end timestamp must be greater than start timestamp",
        pv.setReservation,
        a,
        res(end=1_000),
        sender=owner,
    )
    reverts("arrays must have the same length", pv.setReservation, a, res(splits=b"\x64"), sender=owner)
    reverts("no quorums", pv.setReservation, a, res(quorums=b"", splits=b""), sender=owner)
    reverts("sum of quorumSplits must be 100", pv.setReservation, a, res(splits=b"\x32\x31"), sender=owner)
    reverts("repeated quorum", pv.setReservation, a, res(quorums=b"\x01\x01"), sender=owner)
    assert pv.getReservation(a).symbolsPerSecond == 1  # nothing changed by the refused calls


def test_on_demand_deposits(pv, accounts) -> None:
    payer, a = accounts[2], accounts[3]
    tx = pv.depositOnDemand(a, value=10**15, sender=payer)
    (ev,) = tx.events
    assert (ev.account, ev.onDemandPayment, ev.totalDeposit) == (a.address, 10**15, 10**15)
    pv.depositOnDemand(a, value=5, sender=a)
    payer.transfer(pv, 7)  # plain ETH: a deposit for the sender
    assert pv.getOnDemandTotalDeposit(a) == 10**15 + 5
    assert list(pv.getOnDemandTotalDeposits([a, payer, pv])) == [10**15 + 5, 7, 0]
    assert pv.balance == 10**15 + 12
    with ape.reverts("zero account"):
        pv.depositOnDemand(ZERO, value=1, sender=payer)


def test_deposit_beyond_80_bits(pv, accounts, chain) -> None:
    rich = accounts[4]
    chain.set_balance(rich, 2**82)
    with ape.reverts("amount must be less than or equal to 80 bits"):
        pv.depositOnDemand(rich, value=2**80, sender=rich)
    pv.depositOnDemand(rich, value=2**80 - 1, sender=rich)
    with ape.reverts("total deposit exceeds 80 bits"):
        pv.depositOnDemand(rich, value=1, sender=rich)
    assert pv.getOnDemandTotalDeposit(rich) == 2**80 - 1


def test_price_params_cooldown(pv, accounts, chain) -> None:
    owner = accounts[1]
    reverts("price update cooldown not surpassed", pv.setPriceParams, 1, 2, 3, sender=owner)
    chain.pending_timestamp = chain.pending_timestamp + 100
    tx = pv.setPriceParams(1, 2, 3, sender=owner)
    (ev,) = tx.events
    assert (ev.previousPricePerSymbol, ev.newPricePerSymbol) == (447_000_000, 2)
    assert (pv.minNumSymbols(), pv.pricePerSymbol(), pv.priceUpdateCooldown()) == (1, 2, 3)
    assert pv.lastPriceUpdateTime() == chain.blocks.head.timestamp
    reverts("price update cooldown not surpassed", pv.setPriceParams, 1, 2, 3, sender=owner)
    reverts("only owner", pv.setPriceParams, 1, 2, 3, sender=accounts[2])


def test_global_parameters_and_withdrawals(pv, project, accounts) -> None:
    owner, other = accounts[1], accounts[2]
    pv.setGlobalSymbolsPerPeriod(9, sender=owner)
    pv.setReservationPeriodInterval(8, sender=owner)
    pv.setGlobalRatePeriodInterval(7, sender=owner)
    assert (pv.globalSymbolsPerPeriod(), pv.reservationPeriodInterval(), pv.globalRatePeriodInterval()) == (
        9,
        8,
        7,
    )
    for fn, arg in (
        (pv.setGlobalSymbolsPerPeriod, 1),
        (pv.setReservationPeriodInterval, 1),
        (pv.setGlobalRatePeriodInterval, 1),
        (pv.withdraw, 0),
    ):
        reverts("only owner", fn, arg, sender=other)
    reverts("zero interval", pv.setReservationPeriodInterval, 0, sender=owner)
    reverts("zero interval", pv.setGlobalRatePeriodInterval, 0, sender=owner)
    pv.depositOnDemand(other, value=10**18, sender=other)
    # unlike EigenDA's, the owner cannot take a payer's deposit: only ETH no one deposited
    assert pv.surplus() == 0 and pv.totalDeposits() == 10**18
    reverts("exceeds surplus", pv.withdraw, 4 * 10**17, sender=owner)
    pv.withdraw(0, sender=owner)
    assert pv.balance == 10**18
    reverts("only owner", pv.withdrawERC20, pv, 1, sender=other)
    token = accounts[0].deploy(project.MockERC20, "T", "T")
    token.mint(pv, 50, sender=accounts[0])
    pv.withdrawERC20(token, 20, sender=owner)
    assert (token.balanceOf(owner), token.balanceOf(pv)) == (20, 30)


# ---------------------------------------------------------------- consumed payments to the fee vault (ELIP-12)

PAYER_KEY = keccak(b"da payer")
PAYER = Account.from_key(PAYER_KEY).address
INNER = keccak(b"abi.encode(version, quorumNumbers, commitment)")


def signed(cum, key=PAYER_KEY, account_id=None, ts=1_700_000_000_000_000_000):
    """(header tuple, blob header hash, signature, blob key) as a client signs a dispersal."""
    h = PaymentHeader(account_id or PAYER, ts, cum)
    if account_id is None:
        acc_str = h.account  # EIP-55, what the blob key hashes
    else:
        acc_str = account_id
    phh = keccak(abi_encode(["(string,int64,uint256)"], [(acc_str, ts, cum)]))
    key_ = keccak(abi_encode(["bytes32", "bytes32"], [INNER, phh]))
    return (acc_str, ts, cum), INNER, sign_digest(key, key_), key_


def test_consumed_payments_are_claimed_with_the_payers_signature_and_swept(pv, project, accounts) -> None:
    owner, other, ops = accounts[1], accounts[2], accounts[3]
    pv.depositOnDemand(PAYER, value=10**18, sender=other)  # anyone may pay for anyone
    header, inner, sig, blob_key = signed(3 * 10**17)
    assert blob_key == blob_key_of_header(header)
    rc = pv.claimOnDemandPayment(header, inner, sig, sender=other)  # anyone holding the signed header
    (ev,) = [e for e in rc.events if e.event_name == "OnDemandPaymentClaimed"]
    assert (ev.account, bytes(ev.blobKey), ev.cumulativePayment, ev.consumed) == (
        PAYER,
        blob_key,
        3 * 10**17,
        3 * 10**17,
    )
    assert pv.consumedOnDemand(PAYER) == pv.totalConsumed() == 3 * 10**17
    reverts("payment not above the last claimed", pv.claimOnDemandPayment, header, inner, sig, sender=other)
    # a later total claims only the difference; a client's lowercase account id is its own to sign
    header2, inner2, sig2, _ = signed(5 * 10**17, account_id=PAYER.lower())
    assert pv.claimOnDemandPayment(header2, inner2, sig2, sender=other).return_value == 2 * 10**17
    # hostile claims: over the deposit, signed by someone else, a tampered total, a malformed id
    reverts(
        "cumulative payment exceeds deposit", pv.claimOnDemandPayment, *signed(10**18 + 1)[:3], sender=other
    )
    forged = signed(6 * 10**17, key=keccak(b"not the payer"))
    reverts("signer is not the account", pv.claimOnDemandPayment, *forged[:3], sender=other)
    h3, i3, s3, _ = signed(6 * 10**17)
    reverts(
        "signer is not the account", pv.claimOnDemandPayment, (h3[0], h3[1], 9 * 10**17), i3, s3, sender=other
    )
    reverts("bad account id", pv.claimOnDemandPayment, ("0x" + "zz" * 20, 1, 1), i3, s3, sender=other)
    reverts("bad account id", pv.claimOnDemandPayment, (PAYER[2:] + "00", 1, 1), i3, s3, sender=other)
    reverts("bad signature", pv.claimOnDemandPayment, h3, i3, s3[:64], sender=other)
    # sweeping: needs a vault; the operators' share (bips, rounded down) in ETH, the rest as WETH into the FeeVault
    reverts("no fee vault", pv.sweep, sender=other)
    vault = accounts[0].deploy(project.FeeVault, accounts[0])
    weth = accounts[0].deploy(project.WETH9)
    reverts("only owner", pv.setFeeVault, vault, weth, sender=other)
    reverts("only owner", pv.setOperatorFee, ops, 1, sender=other)
    reverts("operator fee over cap", pv.setOperatorFee, ops, 10_001, sender=owner)
    reverts("zero operator recipient", pv.setOperatorFee, ZERO, 1, sender=owner)
    pv.setFeeVault(vault, weth, sender=owner)
    pv.setOperatorFee(ops, 3333, sender=owner)
    before = ops.balance
    rc = pv.sweep(sender=other)
    consumed = 5 * 10**17
    to_ops = consumed * 3333 // 10_000
    (sw,) = [e for e in rc.events if e.event_name == "FeesSwept"]
    assert (sw.toFeeVault, sw.toOperators) == (consumed - to_ops, to_ops)
    assert ops.balance == before + to_ops
    assert vault.balanceOf(weth) == consumed - to_ops == weth.balanceOf(vault)
    assert pv.balance == 10**18 - consumed  # the unconsumed deposit stays, and stays the payer's
    assert pv.surplus() == 0
    reverts("exceeds surplus", pv.withdraw, 1, sender=owner)
    reverts("nothing to sweep", pv.sweep, sender=other)
    # zero operator share: everything to the vault
    pv.setOperatorFee(ZERO, 0, sender=owner)
    pv.claimOnDemandPayment(*signed(6 * 10**17)[:3], sender=other)
    assert pv.sweep(sender=other).return_value == 10**17
    assert vault.balanceOf(weth) == consumed - to_ops + 10**17


def blob_key_of_header(header) -> bytes:
    """offchain.da.network.types' blob key for this payment header (PaymentHeader.hash())."""
    return keccak(abi_encode(["bytes32", "bytes32"], [INNER, PaymentHeader(*header).hash()]))
