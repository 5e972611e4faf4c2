"""FeeVault and BuybackAuction (contracts/rewards; docs/rewards.md): fees flow in from the
RewardsCoordinator and any service, and leave only through descending-price auctions that sell
them for EIGEN, which is burned (or sent to a timelocked sink). A token's price is searched from
above (a ceiling, falling by the steeper discovery decay until its first fill): the first fill is
within one discovery step of a scripted market's price, whatever that price below the ceiling, and
later auctions clear within one step of it; rounding never lets a filler take more than it paid
for."""

from __future__ import annotations

import ape
import pytest

from offchain.chain.deploy import wad_pow
from tests.contracts.support import reverts
from tests.contracts.test_rewards import TEST_REWARDS, WAD, RewardsWorld

STEP = TEST_REWARDS.auction_step_s
PERIOD = TEST_REWARDS.auction_period_s
DECAY = TEST_REWARDS.auction_decay_wad
DISCOVERY = TEST_REWARDS.auction_discovery_decay_wad
FACTOR = TEST_REWARDS.auction_start_factor_wad
CEILING = TEST_REWARDS.auction_initial_reference_price


@pytest.fixture(scope="module")
def rw(project, chain, accounts, deployment):
    return RewardsWorld(project, chain, accounts, deployment)


def pay_fee(rw, token, amount, service):
    token.mint(service, amount, sender=service)
    token.approve(rw.vault, amount, sender=service)
    return rw.vault.payFee(token, amount, service, sender=service)


def give_eigen(rw, who, amount):
    rw.tw.give_eigen(who, amount)
    rw.eigen.approve(rw.bb, amount, sender=who)


# ------------------------------------------------------------------ the vault


def test_any_service_pays_fees_and_only_the_auction_takes_them(rw):
    tka, service = rw.tokens["TKA"], rw.other
    r = pay_fee(rw, tka, 500, service)
    ev = r.events[-1]
    assert (ev.event_name, ev.token, ev.payer, ev.source, ev.amount) == (
        "FeePaid",
        tka.address,
        service.address,
        service.address,
        500,
    )
    assert rw.vault.balanceOf(tka) == 500
    reverts("amount is zero", rw.vault.payFee, tka, 0, service, sender=service)
    reverts("only buyback", rw.vault.release, tka, 1, service, sender=rw.owner)
    reverts("buyback already set", rw.vault.setBuyback, rw.owner, sender=rw.owner)
    # tokens sent without payFee are accounted by sync
    tka.mint(rw.vault, 7, sender=service)
    reverts("amount is zero", rw.vault.sync, rw.tokens["TKB"], sender=service)
    rw.vault.sync(tka, sender=service)
    assert rw.vault.balanceOf(tka) == 507


# ------------------------------------------------------------------ the auction


def test_auction_rules(rw):
    tka, buyer = rw.tokens["TKA"], rw.staker
    reverts("no auction", rw.bb.fill, tka, 1, 2**256 - 1, sender=buyer)
    reverts("nothing to sell", rw.bb.startAuction, tka, sender=buyer)
    reverts("not eigen's to sell", rw.bb.startAuction, rw.eigen, sender=buyer)
    pay_fee(rw, tka, 10 * WAD, rw.other)
    r = rw.bb.startAuction(tka, sender=buyer)  # anyone starts it
    ev = r.events[-1]
    start = CEILING * FACTOR // WAD
    assert ev.startPrice == start and ev.lot == 10 * WAD and rw.vault.balanceOf(tka) == 0
    assert ev.floorPrice == start * wad_pow(DISCOVERY, PERIOD // STEP) // WAD  # never filled: discovery
    assert rw.bb.auctions(tka).decayWad == DISCOVERY
    reverts("auction running", rw.bb.startAuction, tka, sender=buyer)
    assert rw.bb.currentPrice(tka) == start
    rw.advance(STEP)
    assert rw.bb.currentPrice(tka) == start * DISCOVERY // WAD
    rw.advance(10 * PERIOD)
    assert rw.bb.currentPrice(tka) == rw.bb.floorPrice(tka) == ev.floorPrice  # rests at the floor
    give_eigen(rw, buyer, 100 * WAD)
    reverts("price above limit", rw.bb.fill, tka, WAD, ev.floorPrice - 1, sender=buyer)
    reverts("amount is zero", rw.bb.fill, tka, 0, 2**256 - 1, sender=buyer)


def test_fills_burn_eigen_and_round_against_the_filler(rw):
    tka, buyer = rw.tokens["TKA"], rw.staker
    pay_fee(rw, tka, 10**6, rw.other)
    rw.bb.startAuction(tka, sender=buyer)
    give_eigen(rw, buyer, 10 * WAD)
    supply = rw.eigen.totalSupply()
    bought = paid = 0
    for i, amount in enumerate((1, 3, 7, 999, 12_345, 10**6)):
        rw.advance(STEP * (i + 1))
        price = rw.bb.currentPrice(tka)
        r = rw.bb.fill(tka, amount, price, sender=buyer)
        ev = [e for e in r.events if e.event_name == "AuctionFilled"][0]
        got, cost = ev.amount, ev.eigenPaid
        assert got == min(amount, 10**6 - bought) and ev.price == price
        # never more than paid for, and at most one wei of EIGEN over the exact price
        assert cost * WAD >= got * price and (cost - 1) * WAD < got * price
        bought, paid = bought + got, paid + cost
    assert tka.balanceOf(buyer) == bought == 10**6
    assert rw.eigen.totalSupply() == supply - paid  # burned with its bEIGEN backing
    assert rw.eigen.balanceOf(rw.bb) == 0 and tka.balanceOf(rw.bb) == 0
    assert rw.bb.auctions(tka).lot == 0
    reverts("amount is zero", rw.bb.fill, tka, 1, 2**256 - 1, sender=buyer)


def run_market(rw, token, market_price, lot, max_auctions=8):
    """A scripted market: each auction is started when due; an arbitrageur checks the price every
    step and buys the whole lot as soon as the auction's price is at or below `market_price`.
    Returns (clearing price, auctions run)."""
    arb = rw.recipient
    if lot:
        pay_fee(rw, token, lot, rw.other)
    total = rw.vault.balanceOf(token) + rw.bb.auctions(token).lot
    give_eigen(rw, arb, total * 2 * market_price // WAD + 10 * WAD)
    for n in range(1, max_auctions + 1):
        rw.bb.startAuction(token, sender=arb)
        for _ in range(PERIOD // STEP + 1):
            price = rw.bb.currentPrice(token)
            if price <= market_price:
                r = rw.bb.fill(token, total, market_price, sender=arb)
                return [e for e in r.events if e.event_name == "AuctionFilled"][0].price, n
            rw.advance(STEP)
        rw.advance(PERIOD)
    raise AssertionError(f"no fill in {max_auctions} auctions at market price {market_price}")


@pytest.mark.parametrize(
    "market, searches",
    [(1500 * WAD, 1), (37 * WAD, 1), (13 * 10**17, 2), (3 * 10**17, 2), (10**9, 5)],
)
def test_the_auction_clears_within_one_step_of_the_market_price(rw, market, searches):
    """A token's first fill is within one discovery step below the market price, from a token worth
    nearly the ceiling (the first auction's start) to one worth a billionth of an EIGEN (found by
    unfilled auctions restarting lower); the next auction starts at the factor over that fill,
    falls by the ordinary decay and clears within one of its steps. The arbitrageur never pays
    more than the market price."""
    tka = rw.tokens["TKA"]
    first, n1 = run_market(rw, tka, market, 10**20)
    assert n1 == searches
    assert market * DISCOVERY // WAD < first <= market  # a discovery step at most
    assert rw.bb.lastClearingPrice(tka) == first
    rw.advance(PERIOD)
    price2, n2 = run_market(rw, tka, market, 10**20)
    assert rw.bb.auctions(tka).startPrice == first * FACTOR // WAD
    assert rw.bb.auctions(tka).decayWad == DECAY  # found: ordinary steps from now on
    assert n2 == 1 and market * DECAY // WAD < price2 <= market


def test_a_first_auction_never_sells_far_below_the_market(rw):
    """The flaw a fixed start price has: a token worth far more than it (WETH, 2,000 EIGEN) would
    sell at once at the start price. Searched from above, the first filler gets at most one
    discovery step (10 % here) of discount, and the next auction recovers the ordinary step."""
    tka = rw.tokens["TKA"]
    market = 2000 * WAD  # above the ceiling x 1 but below the start (ceiling x factor)
    price, n = run_market(rw, tka, market, 10**20)
    assert n == 1 and price * WAD >= market * DISCOVERY


def test_a_rising_market_is_followed_upwards_by_the_factor_an_auction(rw):
    """Once a price is found, each auction starts at the factor over the last fill, so a market
    that rises faster than that is followed one factor an auction (each of those auctions fills at
    once at its start), until one starts above the market and falls to it."""
    tka = rw.tokens["TKA"]
    run_market(rw, tka, 13 * 10**17, 10**20)
    market, prices = 37 * WAD, []
    for _ in range(8):
        rw.advance(PERIOD)
        price, n = run_market(rw, tka, market, 10**20)
        assert n == 1
        prices.append(price)
        if market * DECAY // WAD < price:
            break
    assert all(b == a * FACTOR // WAD for a, b in zip(prices, prices[1:-1], strict=False)), prices
    assert len(prices) > 2 and market * DECAY // WAD < prices[-1] <= market


def test_the_constructor_refuses_a_discovery_slower_than_the_ordinary_decay(project, accounts):
    owner = accounts[0]
    args = dict(auctionPeriod=PERIOD, step=STEP, decay=DECAY, disc=DECAY + 1, factor=FACTOR, ref=CEILING)

    def deploy(**kw):
        a = {**args, **kw}
        return project.BuybackAuction.deploy(
            owner,
            owner,
            a["auctionPeriod"],
            a["step"],
            a["decay"],
            a["disc"],
            a["factor"],
            a["ref"],
            60,
            owner,
            sender=owner,
        )

    for disc in (DECAY + 1, 0):
        with ape.reverts("invalid discovery decay"):
            deploy(disc=disc)
    assert deploy(disc=DECAY).DISCOVERY_DECAY_WAD() == DECAY


def test_fees_from_rewards_reach_the_auction_and_burn_eigen(rw):
    """The flywheel: an opted-in AVS's submission pays 20 % into the vault; the auction sells it
    for EIGEN, which is burned."""
    tka = rw.tokens["TKA"]
    rw.rc.setOptInForProtocolFee(rw.avs, True, sender=rw.avs)
    rw.submit(rw.avs, tka, 5 * WAD)
    assert rw.vault.balanceOf(tka) == WAD
    supply = rw.eigen.totalSupply()
    price, _ = run_market(rw, tka, 2 * 10**17, 0)  # the fee itself is the lot
    assert tka.balanceOf(rw.recipient) == WAD
    assert rw.eigen.totalSupply() == supply - price  # ceil(1e18 * price / 1e18)


def test_eigen_fees_are_burned_directly_and_the_sink_is_timelocked(rw):
    eigen, tka, gov = rw.eigen, rw.tokens["TKA"], rw.owner
    rw.tw.give_eigen(rw.other, 5 * WAD)
    eigen.approve(rw.vault, 5 * WAD, sender=rw.other)
    rw.vault.payFee(eigen, 5 * WAD, rw.other, sender=rw.other)
    supply = eigen.totalSupply()
    rw.bb.burnEigen(sender=rw.staker)
    assert eigen.totalSupply() == supply - 5 * WAD and rw.vault.balanceOf(eigen) == 0
    reverts("nothing to sell", rw.bb.burnEigen, sender=rw.staker)
    # governance may send bought EIGEN to a sink instead, only after the delay
    sink = rw.tw.resolver
    reverts("only owner", rw.bb.queueSink, sink, sender=rw.other)
    reverts("no pending sink", rw.bb.applySink, sender=rw.other)
    rw.bb.queueSink(sink, sender=gov)
    reverts("sink not ready", rw.bb.applySink, sender=rw.other)
    rw.bb.cancelSink(sender=gov)
    rw.bb.queueSink(sink, sender=gov)
    rw.advance(TEST_REWARDS.sink_delay_s)
    rw.bb.applySink(sender=rw.other)
    assert rw.bb.sink() == sink.address
    run_market(rw, tka, 5 * 10**17, 10**18)
    assert eigen.balanceOf(sink) > 0
