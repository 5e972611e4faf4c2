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
        The owner withdraws the vault's ETH (and any ERC-20 sent to it).
@dev Revert strings follow EigenDA's where it has them ("end timestamp must be greater than start
     timestamp", "arrays must have the same length", "sum of quorumSplits must be 100", "amount
     must be less than or equal to 80 bits", "price update cooldown not surpassed").
"""

from ethereum.ercs import IERC20

from ..lib import ownable
from ..interfaces import IPaymentVault

implements: IPaymentVault

initializes: ownable
exports: ownable.__interface__

MAX_QUORUMS: constant(uint256) = 32  # quorum numbers in one reservation
MAX_BATCH: constant(uint256) = 256  # accounts per batched getter


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
def withdraw(_amount: uint256):
    """
    @notice Send `_amount` wei of the vault's balance to the owner (owner only).
    @param _amount Wei.
    """
    ownable._check_owner()
    send(msg.sender, _amount)


@external
def withdrawERC20(_token: IERC20, _amount: uint256):
    """
    @notice Send `_amount` of an ERC-20 the vault holds to the owner (owner only).
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
