# pragma version ~=0.4.3
"""
@title PaymentVault
@notice EigenDA's payment vault (contracts/src/core/PaymentVault.sol), same ABI names:
        - reservations, set by the owner (governance): per account a bandwidth
          `symbolsPerSecond` over [startTimestamp, endTimestamp) for the listed quorums, with each
          quorum's share of the bandwidth in `quorumSplits` (percent, summing to 100); the
          disperser and validators meter them as leaky buckets off-chain;
        - on-demand payments: `depositOnDemand(account)` (or plain ETH to the vault) adds to the
          account's non-withdrawable `totalDeposit` (uint80), which the disperser's ledger spends;
        - the global parameters the off-chain meters read: minNumSymbols, pricePerSymbol (wei a
          symbol), priceUpdateCooldown (seconds between price changes), globalSymbolsPerPeriod,
          reservationPeriodInterval, globalRatePeriodInterval.
        Consumed on-demand payments are the cloud's fees (ELIP-12): anyone may prove an account's
        consumption with a blob header the account signed (`claimOnDemandPayment`: the
        disperser's metering accepts a blob whose header carries the account's cumulative total;
        the account's ECDSA signature over the blob key is its consent to that total), and anyone
        may `sweep` what was proven and not yet paid out: `operatorFeeBips` of it to the
        operators' recipient (in ETH), the rest wrapped (WETH) into the FeeVault. Unlike EigenDA,
        the owner can withdraw only ETH no payer deposited (`withdraw`), so no one can take an
        unconsumed deposit; deposits stay non-withdrawable by their payers, as in EigenDA.
@dev Revert strings follow EigenDA's where it has them ("end timestamp must be greater than start
     timestamp", "arrays must have the same length", "sum of quorumSplits must be 100", "amount
     must be less than or equal to 80 bits", "price update cooldown not surpassed"); this
     contract's own: "zero account", "zero interval", "repeated quorum", "no quorums", "total
     deposit exceeds 80 bits", "bad account id", "bad signature", "signer is not the account",
     "payment not above the last claimed", "cumulative payment exceeds deposit", "nothing to sweep",
     "no fee vault", "operator fee over cap", "zero operator recipient", "exceeds surplus",
     "approve failed", "transfer failed", "only owner".
     Trust: a claim needs the payer's own signature over a header carrying the cumulative total
     and can never exceed its deposit; a header the disperser refused still proves consent to its
     total (a client repeats that total in its next blob, so this is at most the last refused
     blob's price when the client stops); the owner sets the fee vault and the operators' share
     (logged, at most 100 %) but can move no payer's deposit.
"""

from ethereum.ercs import IERC20

from ..lib import ownable
from ..interfaces import IPaymentVault
from ..interfaces import IFeeVault

implements: IPaymentVault

initializes: ownable
exports: ownable.__interface__

MAX_QUORUMS: constant(uint256) = 32  # quorum numbers in one reservation
MAX_BATCH: constant(uint256) = 256  # accounts per batched getter
BPS: constant(uint256) = 10000


interface IWETH:
    def deposit(): payable


# EigenDA's PaymentHeader as its blob key hashes it: keccak256(abi.encode((string accountId, int64
# timestamp, uint256 cumulativePayment))), the account id as its EIP-55 hex string.
struct PaymentHeader:
    accountId: String[42]
    timestamp: int64
    cumulativePayment: uint256


event OnDemandPaymentClaimed:
    account: indexed(address)
    blobKey: indexed(bytes32)
    cumulativePayment: uint256
    consumed: uint256


event FeesSwept:
    feeVault: indexed(address)
    toFeeVault: uint256
    toOperators: uint256


event FeeVaultSet:
    feeVault: indexed(address)
    weth: address


event OperatorFeeSet:
    recipient: indexed(address)
    feeBips: uint16


event ReservationUpdated:
    account: indexed(address)
    reservation: IPaymentVault.Reservation


event OnDemandPaymentUpdated:
    account: indexed(address)
    onDemandPayment: uint80
    totalDeposit: uint80


event GlobalSymbolsPerPeriodUpdated:
    previousValue: uint64
    newValue: uint64


event ReservationPeriodIntervalUpdated:
    previousValue: uint64
    newValue: uint64


event GlobalRatePeriodIntervalUpdated:
    previousValue: uint64
    newValue: uint64


event PriceParamsUpdated:
    previousMinNumSymbols: uint64
    newMinNumSymbols: uint64
    previousPricePerSymbol: uint64
    newPricePerSymbol: uint64
    previousPriceUpdateCooldown: uint64
    newPriceUpdateCooldown: uint64


minNumSymbols: public(uint64)
pricePerSymbol: public(uint64)
priceUpdateCooldown: public(uint64)
lastPriceUpdateTime: public(uint64)
globalSymbolsPerPeriod: public(uint64)
reservationPeriodInterval: public(uint64)
globalRatePeriodInterval: public(uint64)

reservations: HashMap[address, IPaymentVault.Reservation]
onDemandPayments: HashMap[address, uint80]

# account -> the highest cumulative on-demand payment it signed that was claimed (consumed)
consumedOnDemand: public(HashMap[address, uint256])
# sums of every deposit, every consumed payment, and what sweep paid out of them (wei)
totalDeposits: public(uint256)
totalConsumed: public(uint256)
totalSwept: public(uint256)
# where consumed payments go: the FeeVault (as WETH) and the operators' share (ETH)
feeVault: public(address)
weth: public(address)
operatorFeeRecipient: public(address)
operatorFeeBips: public(uint16)


@deploy
def __init__(initialOwner: address, _minNumSymbols: uint64, _pricePerSymbol: uint64, _priceUpdateCooldown: uint64, _globalSymbolsPerPeriod: uint64, _reservationPeriodInterval: uint64, _globalRatePeriodInterval: uint64):
    """
    @notice EigenDA's `initialize`, as a constructor.
    @param initialOwner The governance account (sets reservations and parameters).
    @param _minNumSymbols The smallest billed blob size, in symbols.
    @param _pricePerSymbol The on-demand price in wei a symbol.
    @param _priceUpdateCooldown Seconds that must pass between two price changes.
    @param _globalSymbolsPerPeriod The on-demand symbols the network serves per global period.
    @param _reservationPeriodInterval Seconds of a reservation period.
    @param _globalRatePeriodInterval Seconds of a global rate period.
    """
    ownable.__init__(initialOwner)
    assert _reservationPeriodInterval != 0 and _globalRatePeriodInterval != 0, "zero interval"
    self.minNumSymbols = _minNumSymbols
    self.pricePerSymbol = _pricePerSymbol
    self.priceUpdateCooldown = _priceUpdateCooldown
    self.lastPriceUpdateTime = convert(block.timestamp, uint64)
    self.globalSymbolsPerPeriod = _globalSymbolsPerPeriod
    self.reservationPeriodInterval = _reservationPeriodInterval
    self.globalRatePeriodInterval = _globalRatePeriodInterval


@payable
@external
def __default__():
    """
    @notice Plain ETH sent to the vault is an on-demand deposit for the sender.
    """
    self._deposit(msg.sender, msg.value)


@internal
@pure
def _check_quorum_split(quorumNumbers: Bytes[MAX_QUORUMS], quorumSplits: Bytes[MAX_QUORUMS]):
    assert len(quorumNumbers) == len(quorumSplits), "arrays must have the same length"
    assert len(quorumNumbers) != 0, "no quorums"
    total: uint256 = 0
    seen: uint256 = 0
    for i: uint256 in range(len(quorumNumbers), bound=MAX_QUORUMS):
        q: uint256 = convert(slice(quorumNumbers, i, 1), uint256)
        assert seen & (1 << q) == 0, "repeated quorum"
        seen |= 1 << q
        total += convert(slice(quorumSplits, i, 1), uint256)
    assert total == 100, "sum of quorumSplits must be 100"


@external
def setReservation(_account: address, _reservation: IPaymentVault.Reservation):
    """
    @notice Set (or replace) `_account`'s reservation (owner only). A reservation whose end is
            now or earlier ends it.
    @param _account The paying account (the blob header's account id).
    @param _reservation {symbolsPerSecond, startTimestamp, endTimestamp, quorumNumbers, quorumSplits}.
    """
    ownable._check_owner()
    assert _account != empty(address), "zero account"
    assert _reservation.endTimestamp > _reservation.startTimestamp, "end timestamp must be greater than start timestamp"
    self._check_quorum_split(_reservation.quorumNumbers, _reservation.quorumSplits)
    self.reservations[_account] = _reservation
    log ReservationUpdated(account=_account, reservation=_reservation)


@payable
@external
def depositOnDemand(_account: address):
    """
    @notice Add msg.value to `_account`'s on-demand deposit (anyone may pay for anyone; deposits are
            not withdrawable).
    @param _account The account credited.
    """
    self._deposit(_account, msg.value)


@internal
def _deposit(account: address, amount: uint256):
    assert account != empty(address), "zero account"
    assert amount <= convert(max_value(uint80), uint256), "amount must be less than or equal to 80 bits"
    total: uint256 = convert(self.onDemandPayments[account], uint256) + amount
    assert total <= convert(max_value(uint80), uint256), "total deposit exceeds 80 bits"
    self.onDemandPayments[account] = convert(total, uint80)
    self.totalDeposits += amount
    log OnDemandPaymentUpdated(account=account, onDemandPayment=convert(amount, uint80), totalDeposit=convert(total, uint80))


@external
def setPriceParams(_minNumSymbols: uint64, _pricePerSymbol: uint64, _priceUpdateCooldown: uint64):
    """
    @notice Change the on-demand price parameters (owner only), at most once per current cooldown.
    @param _minNumSymbols The smallest billed size in symbols.
    @param _pricePerSymbol Wei a symbol.
    @param _priceUpdateCooldown Seconds that must pass before the next change.
    """
    ownable._check_owner()
    assert convert(block.timestamp, uint64) >= self.lastPriceUpdateTime + self.priceUpdateCooldown, "price update cooldown not surpassed"
    log PriceParamsUpdated(previousMinNumSymbols=self.minNumSymbols, newMinNumSymbols=_minNumSymbols, previousPricePerSymbol=self.pricePerSymbol, newPricePerSymbol=_pricePerSymbol, previousPriceUpdateCooldown=self.priceUpdateCooldown, newPriceUpdateCooldown=_priceUpdateCooldown)
    self.minNumSymbols = _minNumSymbols
    self.pricePerSymbol = _pricePerSymbol
    self.priceUpdateCooldown = _priceUpdateCooldown
    self.lastPriceUpdateTime = convert(block.timestamp, uint64)


@external
def setGlobalSymbolsPerPeriod(_globalSymbolsPerPeriod: uint64):
    """
    @notice Set the on-demand symbols served per global period (owner only).
    @param _globalSymbolsPerPeriod The new value.
    """
    ownable._check_owner()
    log GlobalSymbolsPerPeriodUpdated(previousValue=self.globalSymbolsPerPeriod, newValue=_globalSymbolsPerPeriod)
    self.globalSymbolsPerPeriod = _globalSymbolsPerPeriod


@external
def setReservationPeriodInterval(_reservationPeriodInterval: uint64):
    """
    @notice Set the reservation period in seconds (owner only; not zero).
    @param _reservationPeriodInterval The new value.
    """
    ownable._check_owner()
    assert _reservationPeriodInterval != 0, "zero interval"
    log ReservationPeriodIntervalUpdated(previousValue=self.reservationPeriodInterval, newValue=_reservationPeriodInterval)
    self.reservationPeriodInterval = _reservationPeriodInterval


@external
def setGlobalRatePeriodInterval(_globalRatePeriodInterval: uint64):
    """
    @notice Set the global rate period in seconds (owner only; not zero).
    @param _globalRatePeriodInterval The new value.
    """
    ownable._check_owner()
    assert _globalRatePeriodInterval != 0, "zero interval"
    log GlobalRatePeriodIntervalUpdated(previousValue=self.globalRatePeriodInterval, newValue=_globalRatePeriodInterval)
    self.globalRatePeriodInterval = _globalRatePeriodInterval


@external
def setFeeVault(_feeVault: address, _weth: address):
    """
    @notice Name the FeeVault consumed payments go to and the WETH they are wrapped in (owner).
    @param _feeVault The FeeVault.
    @param _weth WETH9 (deposit() payable, ERC-20).
    """
    ownable._check_owner()
    assert _feeVault != empty(address) and _weth != empty(address), "no fee vault"
    self.feeVault = _feeVault
    self.weth = _weth
    log FeeVaultSet(feeVault=_feeVault, weth=_weth)


@external
def setOperatorFee(_recipient: address, _feeBips: uint16):
    """
    @notice The operators' part of each sweep, sent in ETH to `_recipient` (owner; e.g. the DA
            AVS's rewards account, which pays the operators through the RewardsDistributor).
    @param _recipient Where the operators' part goes (non-zero when `_feeBips` is).
    @param _feeBips Bips of each sweep, at most 10,000.
    """
    ownable._check_owner()
    assert convert(_feeBips, uint256) <= BPS, "operator fee over cap"
    assert _recipient != empty(address) or _feeBips == 0, "zero operator recipient"
    self.operatorFeeRecipient = _recipient
    self.operatorFeeBips = _feeBips
    log OperatorFeeSet(recipient=_recipient, feeBips=_feeBips)


@internal
@pure
def _account_of(account_id: String[42]) -> address:
    # the 0x-prefixed 40-digit hex of an address, either case (EIP-55 or not)
    b: Bytes[42] = convert(account_id, Bytes[42])
    assert len(b) == 42 and slice(b, 0, 2) == b"0x", "bad account id"
    acc: uint256 = 0
    for i: uint256 in range(2, 42):
        c: uint256 = convert(slice(b, i, 1), uint256)
        if c >= 48 and c <= 57:
            c -= 48
        elif c >= 97 and c <= 102:
            c -= 87
        elif c >= 65 and c <= 70:
            c -= 55
        else:
            raise "bad account id"
        acc = acc * 16 + c
    return convert(convert(acc, uint160), address)


@external
def claimOnDemandPayment(header: PaymentHeader, blobHeaderHash: bytes32, signature: Bytes[65]) -> uint256:
    """
    @notice Prove an account's on-demand consumption with a blob header it signed (anyone: the
            disperser, a relay, a validator; headers are public): the blob key is
            keccak256(abi.encode(blobHeaderHash, keccak256(abi.encode(header)))) and the
            signature (r || s || v, v in {0, 1, 27, 28}) over it must be the account's. The
            account's consumption becomes header.cumulativePayment, which must be above the last
            claimed and at most its deposit.
    @param header The blob header's payment header (accountId, timestamp, cumulativePayment).
    @param blobHeaderHash keccak256(abi.encode(uint16 version, bytes quorumNumbers, BlobCommitment)).
    @param signature The account's signature over the blob key (the dispersal request's).
    @return The newly consumed wei.
    """
    account: address = self._account_of(header.accountId)
    blob_key: bytes32 = keccak256(concat(blobHeaderHash, keccak256(abi_encode(header))))
    assert len(signature) == 65, "bad signature"
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if v < 27:
        v += 27
    signer: address = ecrecover(blob_key, v, extract32(signature, 0), extract32(signature, 32))
    assert signer != empty(address), "bad signature"
    assert signer == account, "signer is not the account"
    cum: uint256 = header.cumulativePayment
    last: uint256 = self.consumedOnDemand[account]
    assert cum > last, "payment not above the last claimed"
    assert cum <= convert(self.onDemandPayments[account], uint256), "cumulative payment exceeds deposit"
    self.consumedOnDemand[account] = cum
    self.totalConsumed += cum - last
    log OnDemandPaymentClaimed(account=account, blobKey=blob_key, cumulativePayment=cum, consumed=cum - last)
    return cum - last


@external
@nonreentrant
def sweep() -> uint256:
    """
    @notice Pay out the consumed payments not yet swept (anyone): operatorFeeBips of them, rounded
            down, in ETH to the operators' recipient, the rest wrapped in WETH into the FeeVault
            (payFee, attributed to this vault).
    @return The wei paid into the FeeVault.
    """
    vault: address = self.feeVault
    assert vault != empty(address), "no fee vault"
    amount: uint256 = self.totalConsumed - self.totalSwept
    assert amount != 0, "nothing to sweep"
    self.totalSwept = self.totalConsumed
    ops: uint256 = amount * convert(self.operatorFeeBips, uint256) // BPS
    fees: uint256 = amount - ops
    if ops != 0:
        raw_call(self.operatorFeeRecipient, b"", value=ops)
    if fees != 0:
        w: address = self.weth
        extcall IWETH(w).deposit(value=fees)
        assert extcall IERC20(w).approve(vault, fees, default_return_value=True), "approve failed"
        extcall IFeeVault(vault).payFee(w, fees, self)
    log FeesSwept(feeVault=vault, toFeeVault=fees, toOperators=ops)
    return fees


@external
@view
def surplus() -> uint256:
    """
    @notice ETH the vault holds beyond every deposit not yet swept: what the owner may withdraw.
    @return Wei.
    """
    return self._surplus()


@internal
@view
def _surplus() -> uint256:
    owed: uint256 = self.totalDeposits - self.totalSwept
    if self.balance <= owed:
        return 0
    return self.balance - owed


@external
def withdraw(_amount: uint256):
    """
    @notice Send `_amount` wei of the vault's surplus (ETH no payer deposited) to the owner (owner
            only). EigenDA's owner withdraws everything; here deposits leave only through sweep.
    @param _amount Wei, at most surplus().
    """
    ownable._check_owner()
    assert _amount <= self._surplus(), "exceeds surplus"
    send(msg.sender, _amount)


@external
def withdrawERC20(_token: IERC20, _amount: uint256):
    """
    @notice Send `_amount` of an ERC-20 the vault holds to the owner (owner only; no deposit is
            an ERC-20).
    @param _token The token.
    @param _amount Its units.
    """
    ownable._check_owner()
    assert extcall _token.transfer(msg.sender, _amount, default_return_value=True), "transfer failed"


@view
@external
def getReservation(_account: address) -> IPaymentVault.Reservation:
    """
    @notice `_account`'s reservation (all zero if none).
    @param _account The account.
    @return The reservation.
    """
    return self.reservations[_account]


@view
@external
def getReservations(_accounts: DynArray[address, MAX_BATCH]) -> DynArray[IPaymentVault.Reservation, MAX_BATCH]:
    """
    @notice getReservation for each account, in order.
    @param _accounts The accounts.
    @return Their reservations.
    """
    out: DynArray[IPaymentVault.Reservation, MAX_BATCH] = []
    for a: address in _accounts:
        out.append(self.reservations[a])
    return out


@view
@external
def getOnDemandTotalDeposit(_account: address) -> uint80:
    """
    @notice `_account`'s total on-demand deposit in wei.
    @param _account The account.
    @return The total.
    """
    return self.onDemandPayments[_account]


@view
@external
def getOnDemandTotalDeposits(_accounts: DynArray[address, MAX_BATCH]) -> DynArray[uint80, MAX_BATCH]:
    """
    @notice getOnDemandTotalDeposit for each account, in order.
    @param _accounts The accounts.
    @return Their totals.
    """
    out: DynArray[uint80, MAX_BATCH] = []
    for a: address in _accounts:
        out.append(self.onDemandPayments[a])
    return out
