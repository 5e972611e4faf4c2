"""The trading agent's venue (contracts/agent/ConstantProductAMM.vy): liquidity in and out at the
pool's ratio, swaps priced x * y = k after the fee (checked against an integer model), every
refusal (expired, zero amount, zero receiver, unknown token, slippage, no liquidity, a token that
delivers less than it was asked); and a Hypothesis state machine over random deposits,
withdrawals and swaps in which k never decreases, reserves always match the balances and nobody
gets tokens for free."""

from __future__ import annotations

import math

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from offchain import settings as eigen_settings
from tests.contracts.support import one, reverts

FEE = 30  # bips
FAR = 2**40  # a deadline far ahead


def amount_out(amount_in: int, r_in: int, r_out: int, fee: int = FEE) -> int:
    with_fee = amount_in * (10_000 - fee)
    return with_fee * r_out // (r_in * 10_000 + with_fee)


@pytest.fixture(scope="module")
def tokens(project, accounts):
    usdc = accounts[0].deploy(project.StableToken, "USD Coin", "USDC", accounts[0])
    asset = accounts[0].deploy(project.MockERC20, "Demo Ether", "dETH")
    return usdc, asset


@pytest.fixture(scope="module")
def amm(project, accounts, tokens):
    usdc, asset = tokens
    pool = accounts[0].deploy(project.ConstantProductAMM, usdc, asset, FEE, "AMM USDC/dETH", "LP")
    for a in accounts[:4]:
        usdc.mint(a, 10**15, sender=accounts[0])
        asset.mint(a, 10**27, sender=a)
        usdc.approve(pool, 2**256 - 1, sender=a)
        asset.approve(pool, 2**256 - 1, sender=a)
    return pool


@pytest.fixture
def fresh(chain):
    snap = chain.snapshot()
    yield
    chain.restore(snap)


def test_constructor_refusals(project, accounts, tokens):
    usdc, asset = tokens
    for args, reason in (
        ((usdc, usdc, FEE), "identical tokens"),
        ((usdc, "0x" + "00" * 20, FEE), "zero token"),
        ((usdc, asset, 1_001), "fee too high"),
    ):
        with pytest.raises(Exception, match=reason):
            accounts[0].deploy(project.ConstantProductAMM, *args, "x", "x")


def test_liquidity_swap_and_removal(amm, tokens, accounts, fresh):
    usdc, asset = tokens
    lp, trader = accounts[1], accounts[2]
    r = amm.addLiquidity(100_000 * 10**6, 50 * 10**18, 0, 0, lp, FAR, sender=lp)
    shares = math.isqrt(100_000 * 10**6 * 50 * 10**18) - 1_000
    ev = one(r, "LiquidityAdded")
    assert (ev.amount0, ev.amount1, ev.shares) == (100_000 * 10**6, 50 * 10**18, shares)
    assert amm.balanceOf(lp) == shares and amm.balanceOf(amm) == 1_000
    assert amm.getReserves() == (100_000 * 10**6, 50 * 10**18)
    # a second deposit is cut to the pool's ratio
    r = amm.addLiquidity(2_000 * 10**6, 10 * 10**18, 0, 0, trader, FAR, sender=trader)
    ev = one(r, "LiquidityAdded")
    assert (ev.amount0, ev.amount1) == (2_000 * 10**6, 10**18)
    r0, r1 = amm.getReserves()
    quote = amm.getAmountOut(usdc, 1_000 * 10**6)
    assert quote == amount_out(1_000 * 10**6, r0, r1)
    before = asset.balanceOf(trader)
    r = amm.swapExactIn(usdc, 1_000 * 10**6, quote, trader, FAR, sender=trader)
    ev = one(r, "Swap")
    assert (ev.tokenIn, ev.amountIn, ev.amountOut) == (usdc.address, 1_000 * 10**6, quote)
    assert asset.balanceOf(trader) - before == quote
    assert amm.getReserves() == (r0 + 1_000 * 10**6, r1 - quote)
    # and back the other way
    back = amm.getAmountOut(asset, quote)
    assert back < 1_000 * 10**6  # the fee stays in the pool
    amm.swapExactIn(asset, quote, back, trader, FAR, sender=trader)
    # removal pays the shares' part, rounded down
    r0, r1 = amm.getReserves()
    supply = amm.totalSupply()
    r = amm.removeLiquidity(shares, 0, 0, lp, FAR, sender=lp)
    ev = one(r, "LiquidityRemoved")
    assert (ev.amount0, ev.amount1) == (shares * r0 // supply, shares * r1 // supply)
    assert amm.balanceOf(lp) == 0
    assert usdc.balanceOf(amm) == amm.reserve0() and asset.balanceOf(amm) == amm.reserve1()


def test_refusals(amm, tokens, accounts, project, chain, fresh):
    usdc, asset = tokens
    lp = accounts[1]
    zero = "0x" + "00" * 20
    reverts("no liquidity", amm.getAmountOut, usdc, 10, sender=lp)
    reverts("no liquidity", amm.swapExactIn, usdc, 10, 0, lp, FAR, sender=lp)
    reverts("insufficient liquidity", amm.addLiquidity, 1_000, 1_000, 0, 0, lp, FAR, sender=lp)
    amm.addLiquidity(10**12, 10**20, 0, 0, lp, FAR, sender=lp)
    now = chain.pending_timestamp
    reverts("expired", amm.swapExactIn, usdc, 10, 0, lp, now - 10, sender=lp)
    reverts("expired", amm.addLiquidity, 1, 1, 0, 0, lp, now - 10, sender=lp)
    reverts("expired", amm.removeLiquidity, 1, 0, 0, lp, now - 10, sender=lp)
    reverts("zero amount", amm.swapExactIn, usdc, 0, 0, lp, FAR, sender=lp)
    reverts("zero amount", amm.getAmountOut, usdc, 0, sender=lp)
    reverts("zero amount", amm.addLiquidity, 0, 1, 0, 0, lp, FAR, sender=lp)
    reverts("zero amount", amm.removeLiquidity, 0, 0, 0, lp, FAR, sender=lp)
    reverts("zero receiver", amm.swapExactIn, usdc, 10, 0, zero, FAR, sender=lp)
    reverts("zero receiver", amm.addLiquidity, 1, 1, 0, 0, zero, FAR, sender=lp)
    reverts("zero receiver", amm.removeLiquidity, 1, 0, 0, zero, FAR, sender=lp)
    reverts("unknown token", amm.swapExactIn, amm.address, 10, 0, lp, FAR, sender=lp)
    reverts("unknown token", amm.getAmountOut, lp.address, 10, sender=lp)
    quote = amm.getAmountOut(usdc, 10**9)
    reverts("slippage", amm.swapExactIn, usdc, 10**9, quote + 1, lp, FAR, sender=lp)
    reverts("slippage", amm.addLiquidity, 10**6, 10**18, 10**6, 10**18, lp, FAR, sender=lp)
    reverts("slippage", amm.removeLiquidity, 10**6, 10**12, 0, lp, FAR, sender=lp)
    reverts("insufficient liquidity", amm.swapExactIn, asset, 1, 0, lp, FAR, sender=lp)
    reverts("insufficient balance", amm.removeLiquidity, 10**6, 0, 0, lp, FAR, sender=accounts[3])
    # a token that takes a fee on transfer delivers less than asked: refused, reserves untouched
    fee_token = accounts[0].deploy(project.MockFeeERC20)
    pool = accounts[0].deploy(project.ConstantProductAMM, usdc, fee_token, FEE, "x", "x")
    fee_token.mint(lp, 10**24, sender=lp)
    fee_token.approve(pool, 2**256 - 1, sender=lp)
    usdc.approve(pool, 2**256 - 1, sender=lp)
    reverts("transfer shortfall", pool.addLiquidity, 10**9, 10**20, 0, 0, lp, FAR, sender=lp)
    # a direct transfer is a donation that changes nothing
    r = amm.getReserves()
    usdc.transfer(amm, 10**6, sender=lp)
    assert amm.getReserves() == r and amm.getAmountOut(usdc, 10**9) == quote


def test_a_pool_drained_to_its_locked_minimum_refuses_a_swap_that_rounds_to_nothing(
    amm, tokens, accounts, fresh
):
    # the case Hypothesis found: every share removed, a small swap in, and the way back rounds to nothing
    usdc, asset = tokens
    lp = accounts[1]
    amm.addLiquidity(10**11, 10**20, 0, 0, lp, FAR, sender=lp)
    amm.removeLiquidity(amm.balanceOf(lp), 0, 0, lp, FAR, sender=lp)
    r0, r1 = amm.getReserves()
    assert amm.totalSupply() == 1_000 and r0 == 1  # the locked minimum's part stays
    out = amm.swapExactIn(usdc, 1, 0, lp, FAR, sender=lp).return_value
    assert out == amount_out(1, r0, r1) > 0
    r0, r1 = amm.getReserves()
    assert amount_out(out, r1, r0) == 0
    reverts("insufficient liquidity", amm.swapExactIn, asset, out, 0, lp, FAR, sender=lp)


def test_k_never_decreases_state_machine(amm, tokens, accounts, chain):
    usdc, asset = tokens
    who = accounts[1:4]
    toks = (usdc, asset)

    class Pool(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snap = chain.snapshot()
            amm.addLiquidity(10**11, 10**20, 0, 0, who[0], FAR, sender=who[0])
            self.k, self.s2 = amm.reserve0() * amm.reserve1(), amm.totalSupply() ** 2
            self.total0 = sum(usdc.balanceOf(a) for a in who) + usdc.balanceOf(amm)
            self.total1 = sum(asset.balanceOf(a) for a in who) + asset.balanceOf(amm)

        def teardown(self):
            chain.restore(self.snap)

        @rule(i=st.integers(0, 2), side=st.integers(0, 1), amount=st.integers(1, 10**22))
        def swap(self, i, side, amount):
            a, t = who[i], toks[side]
            r_in, r_out = (amm.reserve0(), amm.reserve1()) if side == 0 else (amm.reserve1(), amm.reserve0())
            amount = amount % (r_in * 3) + 1
            out = amount_out(amount, r_in, r_out)
            if out == 0:
                reverts("insufficient liquidity", amm.swapExactIn, t, amount, 0, a, FAR, sender=a)
                return
            assert amm.getAmountOut(t, amount) == out
            assert amm.swapExactIn(t, amount, out, a, FAR, sender=a).return_value == out

        @rule(i=st.integers(0, 2), a0=st.integers(1, 10**13), a1=st.integers(1, 10**22))
        def add(self, i, a0, a1):
            a = who[i]
            r0, r1, s = amm.reserve0(), amm.reserve1(), amm.totalSupply()
            b0 = a0 if a0 * r1 // r0 <= a1 else a1 * r0 // r1
            b1 = a0 * r1 // r0 if a0 * r1 // r0 <= a1 else a1
            shares = min(b0 * s // r0, b1 * s // r1)
            if shares == 0:
                reverts("insufficient liquidity", amm.addLiquidity, a0, a1, 0, 0, a, FAR, sender=a)
                return
            got = amm.addLiquidity(a0, a1, 0, 0, a, FAR, sender=a).return_value
            assert tuple(got) == (b0, b1, shares)

        @rule(i=st.integers(0, 2), frac=st.integers(1, 100))
        def remove(self, i, frac):
            a = who[i]
            shares = amm.balanceOf(a) * frac // 100
            if shares == 0:
                return
            r0, r1, s = amm.reserve0(), amm.reserve1(), amm.totalSupply()
            if shares * r0 // s == 0 or shares * r1 // s == 0:
                reverts("insufficient liquidity", amm.removeLiquidity, shares, 0, 0, a, FAR, sender=a)
                return
            got = amm.removeLiquidity(shares, 0, 0, a, FAR, sender=a).return_value
            assert tuple(got) == (shares * r0 // s, shares * r1 // s)

        @invariant()
        def k_grows_per_share_and_reserves_are_held(self):
            r0, r1, s = amm.reserve0(), amm.reserve1(), amm.totalSupply()
            assert usdc.balanceOf(amm) >= r0 and asset.balanceOf(amm) >= r1
            # k per share squared never decreases: swaps add fees, deposits and removals round
            # in the pool's favour (k / s^2 is the invariant that holds across liquidity changes)
            assert r0 * r1 * self.s2 >= self.k * s * s
            self.k, self.s2 = r0 * r1, s * s

        @rule(i=st.integers(0, 2), side=st.integers(0, 1), amount=st.integers(10**3, 10**21))
        def round_trip_gains_nothing(self, i, side, amount):
            a, t_in, t_out = who[i], toks[side], toks[1 - side]
            amount = amount % (amm.reserve0() if side == 0 else amm.reserve1()) + 1
            if (
                amount_out(
                    amount,
                    *((amm.reserve0(), amm.reserve1()) if side == 0 else (amm.reserve1(), amm.reserve0())),
                )
                == 0
            ):
                return
            out = amm.swapExactIn(t_in, amount, 0, a, FAR, sender=a).return_value
            if (
                amount_out(
                    out,
                    *((amm.reserve1(), amm.reserve0()) if side == 0 else (amm.reserve0(), amm.reserve1())),
                )
                == 0
            ):
                # a pool drained to its locked minimum: the way back rounds to nothing and is refused
                reverts("insufficient liquidity", amm.swapExactIn, t_out, out, 0, a, FAR, sender=a)
                return
            back = amm.swapExactIn(t_out, out, 0, a, FAR, sender=a).return_value
            assert back <= amount, "a round trip paid more than it took"

        @rule(i=st.integers(0, 2), a0=st.integers(10**3, 10**13), a1=st.integers(10**3, 10**22))
        def add_then_remove_gains_nothing(self, i, a0, a1):
            a = who[i]
            try:
                b0, b1, shares = amm.addLiquidity(a0, a1, 0, 0, a, FAR, sender=a).return_value
            except Exception:  # too small for one share: the add rule checks that refusal
                return
            r0, r1, s = amm.reserve0(), amm.reserve1(), amm.totalSupply()
            if shares * r0 // s == 0 or shares * r1 // s == 0:  # one side rounds to nothing
                reverts("insufficient liquidity", amm.removeLiquidity, shares, 0, 0, a, FAR, sender=a)
                return
            g0, g1 = amm.removeLiquidity(shares, 0, 0, a, FAR, sender=a).return_value
            assert g0 <= b0 and g1 <= b1, "shares paid back more than was deposited"

        @invariant()
        def nothing_created(self):
            assert sum(usdc.balanceOf(a) for a in who) + usdc.balanceOf(amm) == self.total0
            assert sum(asset.balanceOf(a) for a in who) + asset.balanceOf(amm) == self.total1

    base = settings.default
    if eigen_settings.hypothesis_profile() == "ci":
        base = settings(base, max_examples=5, stateful_step_count=15, deadline=None)
    if eigen_settings.no_shrink():
        base = settings(base, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    run_state_machine_as_test(Pool, settings=base)
