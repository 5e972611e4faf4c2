# pragma version ~=0.4.3
"""
@title BuybackAuction
@notice Sells the FeeVault's tokens for EIGEN in periodic descending-price (Dutch) auctions that
        anyone starts and anyone fills; the EIGEN paid is burned (or sent to a sink governance
        names behind a timelock). No party sets a price:
        - an auction of a token starts (`startAuction`, permissionless, at most once per
          AUCTION_PERIOD) with the vault's balance plus whatever the last one left unsold;
        - its start price is the reference price times START_FACTOR_WAD, where the reference is
          the last auction's last fill price, or its final (floor) price if nothing filled, or
          INITIAL_REFERENCE_PRICE for a token's first auction; so an unfilled auction restarts
          lower and the search goes on downwards;
        - the price falls by DECAY_WAD each STEP_SECONDS (exponential decay) for AUCTION_PERIOD,
          then rests at that floor until the next auction starts; START_FACTOR_WAD times the
          decay over a period is below one, so an unfilled auction restarts lower;
        - price discovery comes from above: until a token's first fill its auctions fall by the
          steeper DISCOVERY_DECAY_WAD a step from INITIAL_REFERENCE_PRICE, a ceiling above any
          token's worth (a Dutch auction that starts below the market sells at once at its start
          price, however far below; one that starts above loses at most one step to the first
          filler), then by DECAY_WAD from 1.5x each last clearing price;
        - `fill(token, amount, maxPrice)` buys up to `amount` (partial fills welcome) at the
          current price and pays ceil(amount * price / 1e18) EIGEN: rounding is always against
          the filler.
        Prices are EIGEN wei per token wei, scaled by 1e18.
@dev Revert strings: "auction running", "nothing to sell", "no auction", "amount is zero",
     "price above limit", "token transfer short", "transfer failed", "not eigen's to sell",
     "sink not ready", "no pending sink", "auction cannot descend", "invalid discovery decay".
"""

from ethereum.ercs import IERC20
from ..lib import ownable
from ..interfaces import IFeeVault

initializes: ownable
exports: ownable.__interface__


interface IBurnable:
    def burn(amount: uint256): nonpayable


WAD: constant(uint256) = 10**18


struct Auction:
    startTime: uint256  # 0: never started
    startPrice: uint256
    lot: uint256  # tokens left to sell
    filled: bool  # any fill in this auction
    decayWad: uint256  # price multiplier a step: DISCOVERY_DECAY_WAD until the token's first fill


event AuctionStarted:
    token: indexed(address)
    lot: uint256
    startPrice: uint256
    floorPrice: uint256
    startTime: uint256


event AuctionFilled:
    token: indexed(address)
    buyer: indexed(address)
    amount: uint256
    price: uint256
    eigenPaid: uint256


event EigenBurned:
    amount: uint256


event EigenSunk:
    sink: indexed(address)
    amount: uint256


event SinkQueued:
    sink: indexed(address)
    readyAt: uint256


event SinkSet:
    sink: indexed(address)


EIGEN: public(immutable(address))
VAULT: public(immutable(address))
AUCTION_PERIOD: public(immutable(uint256))
STEP_SECONDS: public(immutable(uint256))
DECAY_WAD: public(immutable(uint256))
DISCOVERY_DECAY_WAD: public(immutable(uint256))
START_FACTOR_WAD: public(immutable(uint256))
INITIAL_REFERENCE_PRICE: public(immutable(uint256))
SINK_DELAY: public(immutable(uint256))

auctions: public(HashMap[address, Auction])
# token -> price of the last fill (0: never filled).
lastClearingPrice: public(HashMap[address, uint256])
# Where paid EIGEN goes: empty = burned (EIGEN.burn).
sink: public(address)
pendingSink: public(address)
sinkReadyAt: public(uint256)


@deploy
def __init__(
    _eigen: address,
    _vault: address,
    _auctionPeriod: uint256,
    _stepSeconds: uint256,
    _decayWad: uint256,
    _discoveryDecayWad: uint256,
    _startFactorWad: uint256,
    _initialReferencePrice: uint256,
    _sinkDelay: uint256,
    governance: address,
):
    """
    @param _eigen The EIGEN token (burnable).
    @param _vault The FeeVault (names this contract its buyback).
    @param _auctionPeriod Seconds an auction's price falls (and the least time between starts).
    @param _stepSeconds Seconds between price steps (divides _auctionPeriod).
    @param _decayWad Price multiplier per step, in (0, 1e18).
    @param _discoveryDecayWad Price multiplier per step until a token's first fill, in (0, _decayWad].
    @param _startFactorWad Start price over the reference price, above 1e18.
    @param _initialReferencePrice Reference price of a token's first auction: a ceiling above what any
           token sold is worth (price discovery runs downwards from it).
    @param _sinkDelay Seconds between queueing and applying a new sink.
    @param governance The owner: queues sinks, nothing else.
    """
    ownable.__init__(governance)
    assert _eigen != empty(address) and _vault != empty(address), "zero address"
    assert _stepSeconds != 0 and _auctionPeriod % _stepSeconds == 0 and _auctionPeriod >= _stepSeconds, "invalid period"
    assert _decayWad > 0 and _decayWad < WAD, "invalid decay"
    assert _discoveryDecayWad > 0 and _discoveryDecayWad <= _decayWad, "invalid discovery decay"
    assert _startFactorWad > WAD, "invalid start factor"
    assert _initialReferencePrice > 0, "invalid reference price"
    EIGEN = _eigen
    VAULT = _vault
    AUCTION_PERIOD = _auctionPeriod
    STEP_SECONDS = _stepSeconds
    DECAY_WAD = _decayWad
    DISCOVERY_DECAY_WAD = _discoveryDecayWad
    # An auction that nothing fills must restart lower than it started, so the price search
    # goes on downwards: START_FACTOR * DECAY^(steps in a period) < 1 (the discovery decay is
    # steeper still).
    assert _startFactorWad * self._decay(_decayWad, _auctionPeriod // _stepSeconds) < WAD * WAD, "auction cannot descend"
    START_FACTOR_WAD = _startFactorWad
    INITIAL_REFERENCE_PRICE = _initialReferencePrice
    SINK_DELAY = _sinkDelay


@internal
@view
def _decay(decay: uint256, steps: uint256) -> uint256:
    # decay ** steps in WAD fixed point (square and multiply, rounding down).
    result: uint256 = WAD
    base: uint256 = decay
    e: uint256 = steps
    for i: uint256 in range(64):
        if e == 0:
            break
        if e & 1 == 1:
            result = result * base // WAD
        base = base * base // WAD
        e >>= 1
    return result


@internal
@view
def _price_at(a: Auction, t: uint256) -> uint256:
    steps: uint256 = min((t - a.startTime) // STEP_SECONDS, AUCTION_PERIOD // STEP_SECONDS)
    return max(a.startPrice * self._decay(a.decayWad, steps) // WAD, 1)


@external
@view
def currentPrice(token: address) -> uint256:
    """
    @notice The price a fill of `token` pays now (EIGEN wei per token wei, x1e18).
    """
    a: Auction = self.auctions[token]
    assert a.startTime != 0, "no auction"
    return self._price_at(a, block.timestamp)


@external
@view
def floorPrice(token: address) -> uint256:
    """
    @notice The price `token`'s current auction rests at after AUCTION_PERIOD.
    """
    a: Auction = self.auctions[token]
    assert a.startTime != 0, "no auction"
    return self._price_at(a, a.startTime + AUCTION_PERIOD)


@external
@nonreentrant
def startAuction(token: address) -> uint256:
    """
    @notice Start `token`'s next auction (anyone; once the last one's period is over) with the
            vault's balance of it plus the last auction's unsold lot.
    @param token The fee token to sell.
    @return The start price.
    """
    assert token != EIGEN, "not eigen's to sell"
    a: Auction = self.auctions[token]
    assert a.startTime == 0 or block.timestamp >= a.startTime + AUCTION_PERIOD, "auction running"
    fresh: uint256 = staticcall IFeeVault(VAULT).balanceOf(token)
    if fresh > 0:
        before: uint256 = staticcall IERC20(token).balanceOf(self)
        extcall IFeeVault(VAULT).release(token, fresh, self)
        assert staticcall IERC20(token).balanceOf(self) == before + fresh, "token transfer short"
    lot: uint256 = a.lot + fresh
    assert lot > 0, "nothing to sell"
    reference: uint256 = INITIAL_REFERENCE_PRICE
    if a.startTime != 0:
        if a.filled:
            reference = self.lastClearingPrice[token]
        else:
            reference = self._price_at(a, a.startTime + AUCTION_PERIOD)
    start: uint256 = max(reference * START_FACTOR_WAD // WAD, 1)
    decay: uint256 = DECAY_WAD
    if self.lastClearingPrice[token] == 0:
        decay = DISCOVERY_DECAY_WAD  # never filled: still searching for the price, from above
    self.auctions[token] = Auction(
        startTime=block.timestamp, startPrice=start, lot=lot, filled=False, decayWad=decay
    )
    end_price: uint256 = self._price_at(self.auctions[token], block.timestamp + AUCTION_PERIOD)
    log AuctionStarted(token=token, lot=lot, startPrice=start, floorPrice=end_price, startTime=block.timestamp)
    return start


@external
@nonreentrant
def fill(token: address, amount: uint256, maxPrice: uint256) -> uint256:
    """
    @notice Buy up to `amount` of `token` at the current price (at most `maxPrice`), paying EIGEN
            (approved to this contract), which is burned or sent to the sink.
    @param token The token sold.
    @param amount The most to buy (the rest of the lot if less is left).
    @param maxPrice The highest price accepted (EIGEN wei per token wei, x1e18).
    @return The EIGEN paid.
    """
    a: Auction = self.auctions[token]
    assert a.startTime != 0, "no auction"
    bought: uint256 = min(amount, a.lot)
    assert bought > 0, "amount is zero"
    price: uint256 = self._price_at(a, block.timestamp)
    assert price <= maxPrice, "price above limit"
    cost: uint256 = (bought * price + WAD - 1) // WAD
    self.auctions[token].lot = a.lot - bought
    self.auctions[token].filled = True
    self.lastClearingPrice[token] = price
    before: uint256 = staticcall IERC20(EIGEN).balanceOf(self)
    assert extcall IERC20(EIGEN).transferFrom(msg.sender, self, cost, default_return_value=True), "transfer failed"
    assert staticcall IERC20(EIGEN).balanceOf(self) == before + cost, "token transfer short"
    self._dispose(cost)
    assert extcall IERC20(token).transfer(msg.sender, bought, default_return_value=True), "transfer failed"
    log AuctionFilled(token=token, buyer=msg.sender, amount=bought, price=price, eigenPaid=cost)
    return cost


@external
@nonreentrant
def burnEigen() -> uint256:
    """
    @notice Fees paid in EIGEN need no auction: take the vault's EIGEN and burn it (or sink it).
    @return The amount.
    """
    amount: uint256 = staticcall IFeeVault(VAULT).balanceOf(EIGEN)
    assert amount > 0, "nothing to sell"
    extcall IFeeVault(VAULT).release(EIGEN, amount, self)
    self._dispose(amount)
    return amount


@internal
def _dispose(amount: uint256):
    s: address = self.sink
    if s == empty(address):
        extcall IBurnable(EIGEN).burn(amount)
        log EigenBurned(amount=amount)
    else:
        assert extcall IERC20(EIGEN).transfer(s, amount, default_return_value=True), "transfer failed"
        log EigenSunk(sink=s, amount=amount)


@external
def queueSink(newSink: address):
    """
    @notice Queue where paid EIGEN goes (empty: burned), applicable after SINK_DELAY (governance).
    @param newSink The sink.
    """
    ownable._check_owner()
    self.pendingSink = newSink
    self.sinkReadyAt = block.timestamp + SINK_DELAY
    log SinkQueued(sink=newSink, readyAt=block.timestamp + SINK_DELAY)


@external
def applySink():
    """
    @notice Apply the queued sink once its delay is over (anyone).
    """
    assert self.sinkReadyAt != 0, "no pending sink"
    assert block.timestamp >= self.sinkReadyAt, "sink not ready"
    self.sink = self.pendingSink
    self.pendingSink = empty(address)
    self.sinkReadyAt = 0
    log SinkSet(sink=self.sink)


@external
def cancelSink():
    """
    @notice Drop the queued sink (governance).
    """
    ownable._check_owner()
    assert self.sinkReadyAt != 0, "no pending sink"
    self.pendingSink = empty(address)
    self.sinkReadyAt = 0
