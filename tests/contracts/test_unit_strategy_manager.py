"""Unit tests for StrategyManager and Strategy: strategy deployment and the deposit whitelist,
deposits (virtual-offset share math, caps, inflation-attack resistance), the hooks only the
DelegationManager / SlashEscrow may call, and the Strategy vault itself.

Share math is recomputed in Python with Strategy.vy's formulas (offsets 1e3 / 1e3):
    new shares = amount * (totalShares + 1e3) // (balanceBefore + 1e3)
    tokens out = (balance + 1e3) * shares // (totalShares + 1e3)
"""

import ape
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from tests.contracts.support import NO_SIG, SALT0, WAD, ZERO, A, evs, one, typed_data

DELAY = 20
OFF = 10**3
MAX_TOTAL_SHARES = 10**38 - 1
MAX_LIST = 32


def imp(accounts, contract):
    a = accounts[A(contract)]
    a.balance = 10**21
    return a


class Vault:
    """Python model of a Strategy's exchange rate."""

    def __init__(self, total=0, bal=0):
        self.total, self.bal = total, bal

    def deposit(self, amount):
        shares = amount * (self.total + OFF) // (self.bal + OFF)
        self.total += shares
        self.bal += amount
        return shares

    def withdraw(self, shares):
        out = (self.bal + OFF) * shares // (self.total + OFF)
        self.total -= shares
        self.bal -= out
        return out

    def donate(self, amount):
        self.bal += amount

    def rate(self):
        return WAD * (self.bal + OFF) // (self.total + OFF)


@pytest.fixture
def dm_imp(accounts, w):
    return imp(accounts, w.dm)


@pytest.fixture
def sm_imp(accounts, w):
    return imp(accounts, w.sm)


@pytest.fixture
def esc_imp(accounts, w):
    return imp(accounts, w.esc)


def complete_all_as_tokens(w, staker, receipt, syms):
    """Complete the withdrawal queued in `receipt` as tokens once the delay has passed."""
    [e] = evs(receipt, "SlashingWithdrawalQueued")
    raw = list(e.withdrawal)
    wt = (A(raw[0]), A(raw[1]), A(raw[2]), raw[3], raw[4], [A(x) for x in raw[5]], list(raw[6]))
    n = receipt.block_number + DELAY - w.chain.blocks.height
    if n > 0:
        w.chain.mine(n)
    return w.dm.completeQueuedWithdrawal(wt, [w.tokens[s] for s in syms], True, sender=staker)


# ------------------------------------------------------------------ wiring and initialisation


def test_wiring_and_deployed_strategies(w, chain):
    assert A(w.sm.delegation()) == A(w.dm) and A(w.sm.slashEscrow()) == A(w.esc)
    assert A(w.sm.strategyWhitelister()) == A(w.owner)
    assert len(chain.provider.get_code(w.sm.strategyBlueprint())) > 0
    for sym, strat in w.strats.items():
        assert A(w.sm.deployedStrategies(w.tokens[sym])) == A(strat)
        assert w.sm.isStrategy(strat) and w.sm.strategyIsWhitelistedForDeposit(strat)
        assert A(strat.strategyManager()) == A(w.sm) and A(strat.underlyingToken()) == A(w.tokens[sym])
        assert strat.totalShares() == 0
    assert not w.sm.isStrategy(w.tokens["TKA"]) and not w.sm.isStrategy(ZERO)
    assert len({A(s) for s in w.strats.values()}) == 3


def test_initialize_only_once_by_deployer_with_nonzero_addresses(w, project):
    sm = w.owner.deploy(
        project.StrategyManager, w.other.address, w.sm.strategyBlueprint(), w.sm.pauserRegistry()
    )
    assert A(sm.strategyWhitelister()) == A(w.other) and A(sm.delegation()) == ZERO
    with ape.reverts("only deployer"):
        sm.initialize(w.dm, w.esc, sender=w.other)
    with ape.reverts("zero address"):
        sm.initialize(ZERO, w.esc, sender=w.owner)
    with ape.reverts("zero address"):
        sm.initialize(w.dm, ZERO, sender=w.owner)
    sm.initialize(w.dm, w.esc, sender=w.owner)
    assert A(sm.delegation()) == A(w.dm) and A(sm.slashEscrow()) == A(w.esc)
    with ape.reverts("already initialized"):
        sm.initialize(w.dm, w.esc, sender=w.owner)
    with ape.reverts("already initialized"):
        w.sm.initialize(w.dm, w.esc, sender=w.owner)


# ------------------------------------------------------------------ strategies and whitelist


def test_deploy_new_strategy(w, project):
    tok = w.owner.deploy(project.MockERC20, "Token D", "TKD")
    with ape.reverts("only whitelister"):
        w.sm.deployNewStrategy(tok, sender=w.other)
    with ape.reverts("zero token"):
        w.sm.deployNewStrategy(ZERO, sender=w.owner)
    r = w.sm.deployNewStrategy(tok, sender=w.owner)
    addr = A(r.return_value)
    assert A(w.sm.deployedStrategies(tok)) == addr
    e = one(r, "StrategyDeployed")
    assert (A(e.token), A(e.strategy)) == (A(tok), addr)
    assert A(one(r, "StrategyAddedToDepositWhitelist").strategy) == addr
    assert w.sm.isStrategy(addr) and w.sm.strategyIsWhitelistedForDeposit(addr)
    strat = project.Strategy.at(addr)
    assert A(strat.strategyManager()) == A(w.sm) and A(strat.underlyingToken()) == A(tok)
    assert strat.totalShares() == 0
    with ape.reverts("strategy exists"):
        w.sm.deployNewStrategy(tok, sender=w.owner)
    # the new vault takes deposits
    tok.mint(w.staker, 500, sender=w.staker)
    tok.approve(w.sm, 500, sender=w.staker)
    r = w.sm.depositIntoStrategy(strat, tok, 500, sender=w.staker)
    assert r.return_value == 500 and strat.totalShares() == 500 and tok.balanceOf(strat) == 500


def test_set_strategy_whitelister(w, project):
    with ape.reverts("only whitelister"):
        w.sm.setStrategyWhitelister(w.other, sender=w.other)
    r = w.sm.setStrategyWhitelister(w.other, sender=w.owner)
    e = one(r, "StrategyWhitelisterChanged")
    assert (A(e.previousAddress), A(e.newAddress)) == (A(w.owner), A(w.other))
    assert A(w.sm.strategyWhitelister()) == A(w.other)
    sa = w.strats["TKA"]
    for call in (
        lambda: w.sm.removeStrategiesFromDepositWhitelist([sa], sender=w.owner),
        lambda: w.sm.addStrategiesToDepositWhitelist([sa], sender=w.owner),
        lambda: w.sm.setStrategyWhitelister(w.owner, sender=w.owner),
        lambda: w.sm.deployNewStrategy(w.other, sender=w.owner),
    ):
        with ape.reverts("only whitelister"):
            call()
    w.sm.removeStrategiesFromDepositWhitelist([sa], sender=w.other)
    assert not w.sm.strategyIsWhitelistedForDeposit(sa)


def test_deposit_whitelist_add_and_remove(w):
    sa, sb = w.strats["TKA"], w.strats["TKB"]
    with ape.reverts("only whitelister"):
        w.sm.removeStrategiesFromDepositWhitelist([sa], sender=w.staker)
    with ape.reverts("only whitelister"):
        w.sm.addStrategiesToDepositWhitelist([sa], sender=w.staker)
    r = w.sm.removeStrategiesFromDepositWhitelist([sa, sb, w.other], sender=w.owner)
    assert [A(e.strategy) for e in evs(r, "StrategyRemovedFromDepositWhitelist")] == [A(sa), A(sb)]
    assert not w.sm.strategyIsWhitelistedForDeposit(sa) and not w.sm.strategyIsWhitelistedForDeposit(sb)
    assert w.sm.isStrategy(sa)  # still a strategy
    r = w.sm.removeStrategiesFromDepositWhitelist([sa], sender=w.owner)  # already removed: no event
    assert evs(r, "StrategyRemovedFromDepositWhitelist") == []
    w.fund(w.staker, "TKA", 10)
    with ape.reverts("strategy not whitelisted"):
        w.sm.depositIntoStrategy(sa, w.tokens["TKA"], 10, sender=w.staker)
    with ape.reverts("not a strategy"):  # all or nothing
        w.sm.addStrategiesToDepositWhitelist([sa, w.tokens["TKA"]], sender=w.owner)
    assert not w.sm.strategyIsWhitelistedForDeposit(sa)
    r = w.sm.addStrategiesToDepositWhitelist([sa, w.strats["TKC"]], sender=w.owner)  # TKC already listed
    assert [A(e.strategy) for e in evs(r, "StrategyAddedToDepositWhitelist")] == [A(sa)]
    assert w.sm.depositIntoStrategy(sa, w.tokens["TKA"], 10, sender=w.staker).return_value == 10


def test_existing_stake_survives_removal_from_whitelist(w):
    w.deposit(w.staker, "TKA", 1000)
    w.sm.removeStrategiesFromDepositWhitelist([w.strats["TKA"]], sender=w.owner)
    r = w.dm.queueWithdrawals([([w.strats["TKA"]], [400], w.staker)], sender=w.staker)
    complete_all_as_tokens(w, w.staker, r, ["TKA"])
    assert w.tokens["TKA"].balanceOf(w.staker) == 400
    assert w.sm.stakerDepositShares(w.staker, w.strats["TKA"]) == 600


# ------------------------------------------------------------------ deposits


def test_deposit_share_math_events_and_bookkeeping(w):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    w.fund(w.staker, "TKA", 10**24)
    r = w.sm.depositIntoStrategy(sa, tka, 1234567, sender=w.staker)
    first = v.deposit(1234567)
    assert first == 1234567 and r.return_value == first
    e = one(r, "Deposit", w.sm)
    assert (A(e.staker), A(e.strategy), e.shares) == (A(w.staker), A(sa), first)
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate() == WAD
    e = one(r, "Transfer", tka)
    assert (A(e.sender), A(e.receiver), e.value) == (A(w.staker), A(sa), 1234567)
    # a donation changes the rate; later deposits get fewer shares, rounded down
    tka.mint(sa, 777_777, sender=w.other)
    v.donate(777_777)
    for amount in (3, 10**18 + 1, 999_999):
        r = w.sm.depositIntoStrategy(sa, tka, amount, sender=w.staker)
        expected = v.deposit(amount)
        assert r.return_value == expected and one(r, "Deposit", w.sm).shares == expected
        assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()
    assert sa.totalShares() == v.total and tka.balanceOf(sa) == v.bal
    assert w.sm.stakerDepositShares(w.staker, sa) == v.total
    assert sa.sharesToUnderlyingView(10**6) == (v.bal + OFF) * 10**6 // (v.total + OFF)
    assert sa.underlyingToSharesView(10**6) == 10**6 * (v.total + OFF) // (v.bal + OFF)
    # strategy list keeps first-deposit order, without duplicates
    w.deposit(w.staker, "TKC", 5)
    w.deposit(w.staker, "TKB", 6)
    assert [A(s) for s in w.sm.getStakerStrategyList(w.staker)] == [
        A(sa),
        A(w.strats["TKC"]),
        A(w.strats["TKB"]),
    ]
    assert w.sm.stakerStrategyListLength(w.staker) == 3
    strategies, shares = w.sm.getDeposits(w.staker)
    assert [A(s) for s in strategies] == [A(sa), A(w.strats["TKC"]), A(w.strats["TKB"])]
    assert list(shares) == [v.total, 5, 6]


def test_deposit_rejections(w):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    tka.mint(w.staker, 100, sender=w.staker)
    with ape.reverts("insufficient allowance"):
        w.sm.depositIntoStrategy(sa, tka, 10, sender=w.staker)
    tka.approve(w.sm, 2**256 - 1, sender=w.staker)
    with ape.reverts("strategy not whitelisted"):
        w.sm.depositIntoStrategy(w.other, tka, 10, sender=w.staker)
    with ape.reverts("strategy not whitelisted"):
        w.sm.depositIntoStrategy(tka, tka, 10, sender=w.staker)
    with ape.reverts("zero amount"):
        w.sm.depositIntoStrategy(sa, tka, 0, sender=w.staker)
    with ape.reverts("insufficient balance"):
        w.sm.depositIntoStrategy(sa, tka, 101, sender=w.staker)
    w.fund(w.staker, "TKB", 10)
    with ape.reverts("wrong token"):  # the token must be the strategy's
        w.sm.depositIntoStrategy(sa, w.tokens["TKB"], 10, sender=w.staker)
    assert w.tokens["TKB"].balanceOf(sa) == 0
    # after a large donation a tiny deposit would mint nothing
    w.sm.depositIntoStrategy(sa, tka, 1, sender=w.staker)
    tka.mint(sa, 10**18, sender=w.other)
    assert 1 * (1 + OFF) // (10**18 + 1 + OFF) == 0
    with ape.reverts("zero new shares"):
        w.sm.depositIntoStrategy(sa, tka, 1, sender=w.staker)
    assert w.sm.stakerDepositShares(w.staker, sa) == 1


# ------------------------------------------------------------------ deposits by signature

# A key no test account holds: the signed-deposit tests' staker.
STAKER_KEY = "0x" + "5a" * 32


def deposit_typed_data(chain_id, sm, staker, strategy, token, amount, nonce, expiry):
    """EigenLayer's Deposit message, built with eth_account's EIP-712 encoder (independent of
    the contract's own digest code)."""
    fields = [("staker", "address"), ("strategy", "address"), ("token", "address")]
    fields += [("amount", "uint256"), ("nonce", "uint256"), ("expiry", "uint256")]
    message = {"staker": A(staker), "strategy": A(strategy), "token": A(token)}
    message |= {"amount": amount, "nonce": nonce, "expiry": expiry}
    return typed_data("EigenCloud StrategyManager", chain_id, sm, "Deposit", fields, message)


def sign_deposit(key, chain_id, sm, staker, strategy, token, amount, nonce, expiry):
    signed = Account.sign_message(
        encode_typed_data(
            full_message=deposit_typed_data(chain_id, sm, staker, strategy, token, amount, nonce, expiry)
        ),
        key,
    )
    return signed.signature


def test_deposit_digest_matches_eip712_and_eigenlayer_typehash(w, chain):
    staker = Account.from_key(STAKER_KEY).address
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    msg = encode_typed_data(
        full_message=deposit_typed_data(chain.chain_id, w.sm, staker, sa, tka, 77, 3, 2**40)
    )
    expected = keccak(b"\x19" + msg.version + msg.header + msg.body)
    assert bytes(w.sm.calculateStrategyDepositDigestHash(staker, sa, tka, 77, 3, 2**40)) == expected
    assert bytes(w.sm.domainSeparator()) == msg.header
    assert bytes(w.sm.DEPOSIT_TYPEHASH()) == keccak(
        text="Deposit(address staker,address strategy,address token,uint256 amount,uint256 nonce,uint256 expiry)"
    )


def test_deposit_with_signature_credits_the_staker_once(w, chain):
    staker = Account.from_key(STAKER_KEY).address
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.fund(w.other, "TKA", 10**6)  # the caller pays
    exp = chain.pending_timestamp + 1000
    sig = sign_deposit(STAKER_KEY, chain.chain_id, w.sm, staker, sa, tka, 5000, 0, exp)
    assert w.sm.nonces(staker) == 0
    r = w.sm.depositIntoStrategyWithSignature(sa, tka, 5000, staker, exp, sig, sender=w.other)
    assert r.return_value == 5000
    e = one(r, "Deposit", w.sm)
    assert (A(e.staker), A(e.strategy), e.shares) == (A(staker), A(sa), 5000)
    assert w.sm.stakerDepositShares(staker, sa) == 5000 and w.sm.stakerDepositShares(w.other, sa) == 0
    assert tka.balanceOf(w.other) == 10**6 - 5000 and w.sm.nonces(staker) == 1
    # the same signature again: the nonce moved on, so it no longer verifies
    with ape.reverts("invalid signature"):
        w.sm.depositIntoStrategyWithSignature(sa, tka, 5000, staker, exp, sig, sender=w.other)
    # a signature over the next nonce works; the DelegationManager sees it like any deposit
    sig2 = sign_deposit(STAKER_KEY, chain.chain_id, w.sm, staker, sa, tka, 7, 1, exp)
    w.sm.depositIntoStrategyWithSignature(sa, tka, 7, staker, exp, sig2, sender=w.other)
    assert w.sm.stakerDepositShares(staker, sa) == 5007 and w.sm.nonces(staker) == 2
    assert w.dm.getWithdrawableShares(staker, [sa])[0][0] == 5007


def test_deposit_with_signature_rejections(w, chain):
    staker = Account.from_key(STAKER_KEY).address
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.fund(w.other, "TKA", 10**6)
    cid, exp = chain.chain_id, chain.pending_timestamp + 1000

    def signed(**kw):
        a = {"key": STAKER_KEY, "chain_id": cid, "sm": w.sm, "staker": staker, "strategy": sa, "token": tka}
        a |= {"amount": 100, "nonce": 0, "expiry": exp} | kw
        return sign_deposit(**a)

    def call(sig, amount=100, expiry=None, who=staker):
        e = exp if expiry is None else expiry
        return w.sm.depositIntoStrategyWithSignature(sa, tka, amount, who, e, sig, sender=w.other, gas=10**6)

    # expired: checked before the signature (expiry is the last valid timestamp)
    t = chain.blocks.head.timestamp + 100
    chain.pending_timestamp = t
    with ape.reverts("signature expired"):
        call(signed(expiry=t - 1), expiry=t - 1)
    exp = t + 1000
    bad = {
        "wrong signer": signed(key="0x" + "6b" * 32),
        "other amount": signed(amount=101),
        "other nonce": signed(nonce=1),
        "other expiry": signed(expiry=exp + 1),
        "other chain": signed(chain_id=cid + 1),
        "other contract": signed(sm=w.dm),
        "other strategy": signed(strategy=w.strats["TKB"]),
    }
    for why, sig in bad.items():
        with ape.reverts("invalid signature"):
            call(sig)
        assert why and w.sm.nonces(staker) == 0
    with ape.reverts("invalid signature"):  # a valid signature credited to someone else
        call(signed(), who=w.staker)
    good = bytes(signed())
    with ape.reverts("invalid signature length"):
        call(good[:64])
    with ape.reverts("invalid signature v"):
        call(good[:64] + bytes([good[64] + 2]))
    n = 115792089237316195423570985008687907852837564279074904382605163141518161494337
    s = int.from_bytes(good[32:64], "big")
    with ape.reverts("invalid signature s"):  # the malleable twin (high s) is refused
        call(good[:32] + (n - s).to_bytes(32, "big") + bytes([55 - good[64]]))
    # the deposit checks still apply after a valid signature, and a failed call spends no nonce
    with ape.reverts("zero amount"):
        call(signed(amount=0), amount=0)
    w.sm.removeStrategiesFromDepositWhitelist([sa], sender=w.sm.strategyWhitelister())
    with ape.reverts("strategy not whitelisted"):
        call(good)
    w.sm.addStrategiesToDepositWhitelist([sa], sender=w.sm.strategyWhitelister())
    pr = w.project.PauserRegistry.at(w.sm.pauserRegistry())
    pr.pause(w.sm, 1, sender=w.owner)
    with ape.reverts("paused"):
        call(good)
    pr.unpause(w.sm, 0, sender=w.owner)
    assert w.sm.nonces(staker) == 0
    call(good)
    assert w.sm.nonces(staker) == 1 and w.sm.stakerDepositShares(staker, sa) == 100
    # expiry equal to the block's timestamp is still valid
    t = chain.blocks.head.timestamp + 100
    chain.pending_timestamp = t
    r = call(signed(nonce=1, expiry=t), expiry=t)
    assert r.timestamp == t and w.sm.nonces(staker) == 2


def test_deposit_with_signature_by_contract_staker(w, project, chain):
    """An ERC-1271 staker (a smart wallet) signs through isValidSignature."""
    wallet = w.owner.deploy(project.MockERC1271Wallet, Account.from_key(STAKER_KEY).address)
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.fund(w.other, "TKA", 10**6)
    cid, exp = chain.chain_id, chain.pending_timestamp + 1000
    sig = sign_deposit(STAKER_KEY, cid, w.sm, wallet, sa, tka, 42, 0, exp)
    with ape.reverts("invalid signature"):  # signed by a key the wallet does not accept
        w.sm.depositIntoStrategyWithSignature(
            sa,
            tka,
            42,
            wallet,
            exp,
            sign_deposit("0x" + "6b" * 32, cid, w.sm, wallet, sa, tka, 42, 0, exp),
            sender=w.other,
        )
    w.sm.depositIntoStrategyWithSignature(sa, tka, 42, wallet, exp, sig, sender=w.other)
    assert w.sm.stakerDepositShares(wallet, sa) == 42 and w.sm.nonces(wallet) == 1
    with ape.reverts("invalid signature"):  # replay
        w.sm.depositIntoStrategyWithSignature(sa, tka, 42, wallet, exp, sig, sender=w.other)


def test_max_total_shares_boundary(w):
    sa = w.strats["TKA"]
    w.fund(w.staker, "TKA", 10**38 + 10)
    r = w.sm.depositIntoStrategy(sa, w.tokens["TKA"], MAX_TOTAL_SHARES, sender=w.staker)
    assert (
        r.return_value == MAX_TOTAL_SHARES and sa.totalShares() == MAX_TOTAL_SHARES
    )  # 1:1 on an empty vault
    assert Vault(MAX_TOTAL_SHARES, MAX_TOTAL_SHARES).deposit(1) == 1
    with ape.reverts("max shares exceeded"):
        w.sm.depositIntoStrategy(sa, w.tokens["TKA"], 1, sender=w.staker)
    w.fund(w.staker2, "TKB", 10**38)
    with ape.reverts("max shares exceeded"):
        w.sm.depositIntoStrategy(w.strats["TKB"], w.tokens["TKB"], 10**38, sender=w.staker2)


def test_staker_strategy_list_cap(w, dm_imp):
    """At most 32 strategies per staker; topping up a held strategy is still fine at the cap."""
    fakes = [to_checksum_address((0xF000 + i).to_bytes(20, "big")) for i in range(MAX_LIST - 2)]
    for f in fakes:  # addShares does not care whether the address is a strategy
        w.sm.addShares(w.staker, f, 1, sender=dm_imp)
    w.deposit(w.staker, "TKA", 10)
    w.deposit(w.staker, "TKB", 10)
    assert w.sm.stakerStrategyListLength(w.staker) == MAX_LIST
    w.fund(w.staker, "TKC", 10)
    with ape.reverts("max strategies exceeded"):
        w.sm.depositIntoStrategy(w.strats["TKC"], w.tokens["TKC"], 10, sender=w.staker)
    with ape.reverts("max strategies exceeded"):
        w.sm.addShares(w.staker, w.strats["TKC"], 1, sender=dm_imp)
    w.deposit(w.staker, "TKA", 5)
    assert w.sm.stakerDepositShares(w.staker, w.strats["TKA"]) == 15
    # freeing a slot makes room again
    w.sm.removeDepositShares(w.staker, fakes[0], 1, sender=dm_imp)
    w.sm.depositIntoStrategy(w.strats["TKC"], w.tokens["TKC"], 10, sender=w.staker)
    assert w.sm.stakerStrategyListLength(w.staker) == MAX_LIST


def test_inflation_attack_is_unprofitable(w):
    """The first depositor mints 1 share and donates 1e18 tokens; with the virtual offsets the
    victim's 1e18 deposit still gets a fair share and the attacker loses almost all of the donation."""
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    attacker, victim = w.staker2, w.staker
    v = Vault()
    w.deposit(attacker, "TKA", 1)
    a_sh = v.deposit(1)
    tka.mint(attacker, 10**18, sender=attacker)
    tka.transfer(sa, 10**18, sender=attacker)
    v.donate(10**18)
    r = w.deposit(victim, "TKA", 10**18)
    v_sh = v.deposit(10**18)
    assert r.return_value == v_sh == 1000 and a_sh == 1
    # without offsets the victim would get 1e18 * 1 // (1e18 + 1) == 0 shares
    assert 10**18 * 1 // (10**18 + 1) == 0
    rv = w.dm.queueWithdrawals([([sa], [v_sh], victim)], sender=victim)
    ra = w.dm.queueWithdrawals([([sa], [a_sh], attacker)], sender=attacker)
    complete_all_as_tokens(w, victim, rv, ["TKA"])
    complete_all_as_tokens(w, attacker, ra, ["TKA"])
    v_out = v.withdraw(v_sh)
    a_out = v.withdraw(a_sh)
    assert tka.balanceOf(victim) == v_out and tka.balanceOf(attacker) == a_out
    assert v_out >= 10**18 * 999 // 1000  # the victim keeps > 99.9%
    assert a_out < (10**18 + 1) // 1000  # the attacker gets back < 0.1% of what it put in
    assert tka.balanceOf(sa) == v.bal and sa.totalShares() == 0


def test_round_trip_never_pays_more_than_deposited(w):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    w.deposit(w.staker2, "TKA", 10**18 + 12345)
    v.deposit(10**18 + 12345)
    tka.mint(sa, 333_333_333_333_333_337, sender=w.other)  # non-integer rate
    v.donate(333_333_333_333_333_337)
    w.fund(w.staker, "TKA", 10**21)
    got = 0
    for amount in (2, 7, 10**9 + 1, 5 * 10**18 + 3):
        sh = w.sm.depositIntoStrategy(sa, tka, amount, sender=w.staker).return_value
        assert sh == v.deposit(amount)
        got += sh
    r = w.dm.queueWithdrawals([([sa], [got], w.staker)], sender=w.staker)
    complete_all_as_tokens(w, w.staker, r, ["TKA"])
    out = v.withdraw(got)
    assert tka.balanceOf(w.staker) == 10**21 - (2 + 7 + 10**9 + 1 + 5 * 10**18 + 3) + out
    assert out <= 2 + 7 + 10**9 + 1 + 5 * 10**18 + 3


# ------------------------------------------------------------------ DelegationManager hooks


def test_hooks_reject_every_other_caller(w, dm_imp, esc_imp):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.deposit(w.staker, "TKA", 100)
    for who in (w.staker, w.owner, esc_imp):
        with ape.reverts("only delegation manager"):
            w.sm.removeDepositShares(w.staker, sa, 1, sender=who)
        with ape.reverts("only delegation manager"):
            w.sm.addShares(w.staker, sa, 1, sender=who)
        with ape.reverts("only delegation manager"):
            w.sm.withdrawSharesAsTokens(w.staker, sa, tka, 1, sender=who)
        with ape.reverts("only delegation manager"):
            w.sm.slashShares(w.op, w.avs, 1, 1, sa, 1, 1, sender=who)
    for who in (w.staker, w.owner, dm_imp):
        with ape.reverts("only slash escrow"):
            w.sm.restoreShares(sa, 1, 1, sender=who)
    for who in (w.staker, dm_imp, esc_imp):
        with ape.reverts("only strategy manager"):
            sa.mintRestoredShares(1, sender=who)
        with ape.reverts("only strategy manager"):
            sa.deposit(tka, 1, sender=who)
        with ape.reverts("only strategy manager"):
            sa.withdraw(who, tka, 1, sender=who)
    assert sa.totalShares() == 100 and tka.balanceOf(sa) == 100


def test_remove_deposit_shares(w, dm_imp):
    sa, sb, sc = w.strats["TKA"], w.strats["TKB"], w.strats["TKC"]
    for s in ("TKA", "TKB", "TKC"):
        w.deposit(w.staker, s, 50)
    with ape.reverts("zero shares"):
        w.sm.removeDepositShares(w.staker, sa, 0, sender=dm_imp)
    with ape.reverts("shares too high"):
        w.sm.removeDepositShares(w.staker, sa, 51, sender=dm_imp)
    with ape.reverts("shares too high"):
        w.sm.removeDepositShares(w.staker2, sa, 1, sender=dm_imp)
    r = w.sm.removeDepositShares(w.staker, sa, 20, sender=dm_imp)
    assert r.return_value is False and w.sm.stakerDepositShares(w.staker, sa) == 30
    assert w.sm.stakerStrategyListLength(w.staker) == 3
    r = w.sm.removeDepositShares(w.staker, sa, 30, sender=dm_imp)  # first entry: swapped with the last
    assert r.return_value is True
    assert [A(s) for s in w.sm.getStakerStrategyList(w.staker)] == [A(sc), A(sb)]
    w.sm.removeDepositShares(w.staker, sb, 50, sender=dm_imp)  # last entry: popped
    assert [A(s) for s in w.sm.getStakerStrategyList(w.staker)] == [A(sc)]
    # removing deposit shares does not move tokens
    assert sa.totalShares() == 50 and w.tokens["TKA"].balanceOf(sa) == 50


def test_add_shares(w, dm_imp):
    sa = w.strats["TKA"]
    with ape.reverts("zero staker"):
        w.sm.addShares(ZERO, sa, 1, sender=dm_imp)
    with ape.reverts("zero shares"):
        w.sm.addShares(w.staker, sa, 0, sender=dm_imp)
    r = w.sm.addShares(w.staker, sa, 40, sender=dm_imp)
    assert list(r.return_value) == [0, 40]
    e = one(r, "Deposit", w.sm)
    assert (A(e.staker), A(e.strategy), e.shares) == (A(w.staker), A(sa), 40)
    r = w.sm.addShares(w.staker, sa, 2, sender=dm_imp)
    assert list(r.return_value) == [40, 2]
    assert w.sm.stakerDepositShares(w.staker, sa) == 42
    assert [A(s) for s in w.sm.getStakerStrategyList(w.staker)] == [A(sa)]


def test_withdraw_shares_as_tokens(w, dm_imp):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    w.deposit(w.staker, "TKA", 10**18)
    v.deposit(10**18)
    tka.mint(sa, 10**17 + 1, sender=w.other)
    v.donate(10**17 + 1)
    r = w.sm.withdrawSharesAsTokens(w.staker2, sa, tka, 3 * 10**17, sender=dm_imp)
    out = v.withdraw(3 * 10**17)
    assert tka.balanceOf(w.staker2) == out
    e = one(r, "Transfer", tka)
    assert (A(e.sender), A(e.receiver), e.value) == (A(sa), A(w.staker2), out)
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()
    assert sa.totalShares() == v.total
    with ape.reverts("wrong token"):
        w.sm.withdrawSharesAsTokens(w.staker2, sa, w.tokens["TKB"], 1, sender=dm_imp)
    with ape.reverts("shares exceed total"):
        w.sm.withdrawSharesAsTokens(w.staker2, sa, tka, v.total + 1, sender=dm_imp)
    # deposit shares are not touched by this hook (the DelegationManager removed them at queueing)
    assert w.sm.stakerDepositShares(w.staker, sa) == 10**18


def test_slash_shares_moves_tokens_to_escrow(w, dm_imp):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    w.deposit(w.staker, "TKA", 10**18 + 5)
    v.deposit(10**18 + 5)
    tka.mint(sa, 10**15, sender=w.other)
    v.donate(10**15)
    r = w.sm.slashShares(w.op, w.avs, 3, 9, sa, 4 * 10**17 + 1, 7, sender=dm_imp)
    amount = v.withdraw(4 * 10**17 + 1)
    assert r.return_value == amount and tka.balanceOf(w.esc) == amount
    e = one(r, "SlashedSharesRemoved", w.sm)
    assert (A(e.operator), A(e.strategy), e.shares, e.amount) == (A(w.op), A(sa), 4 * 10**17 + 1, amount)
    e = one(r, "SlashEscrowed", w.esc)
    assert (e.slashId, A(e.operator), A(e.strategy), A(e.token), e.amount) == (
        9,
        A(w.op),
        A(sa),
        A(tka),
        amount,
    )
    assert sa.totalShares() == v.total and tka.balanceOf(sa) == v.bal
    rec = w.esc.getSlash(w.avs, 3, 9)
    assert list(rec.amounts) == [amount] and list(rec.magnitudes) == [7]
    # zero shares: nothing is withdrawn but the slash is still recorded
    r = w.sm.slashShares(w.op, w.avs, 3, 10, sa, 0, 8, sender=dm_imp)
    assert r.return_value == 0 and evs(r, "Transfer") == []
    e = one(r, "SlashedSharesRemoved", w.sm)
    assert (e.shares, e.amount) == (0, 0)
    assert list(w.esc.getSlash(w.avs, 3, 10).amounts) == [0]
    assert sa.totalShares() == v.total


def test_restore_shares(w, esc_imp):
    """A cancelled slash's tokens (sent to the strategy by the escrow) come back with exactly the
    shares the slash took, whatever the exchange rate is now."""
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    w.deposit(w.staker, "TKA", 10**18)
    v.deposit(10**18)
    tka.mint(sa, 7 * 10**16 + 3, sender=w.other)
    v.donate(7 * 10**16 + 3)
    tka.mint(w.esc, 10**17, sender=w.other)
    tka.transfer(sa, 10**17, sender=esc_imp)  # the escrow sends the tokens first
    r = w.sm.restoreShares(sa, 10**17, 9 * 10**16 + 1, sender=esc_imp)
    v.donate(10**17)
    v.total += 9 * 10**16 + 1
    e = one(r, "SlashedSharesRestored", w.sm)
    assert (A(e.strategy), e.amount, e.shares) == (A(sa), 10**17, 9 * 10**16 + 1)
    assert sa.totalShares() == v.total and tka.balanceOf(sa) == v.bal
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()


# ------------------------------------------------------------------ Strategy vault


def test_strategy_withdraw_and_views(w, sm_imp):
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    assert sa.sharesToUnderlyingView(10**18) == 10**18 and sa.underlyingToSharesView(10**18) == 10**18
    w.deposit(w.staker, "TKA", 10**18 + 1)
    v.deposit(10**18 + 1)
    tka.mint(sa, 123_456_789, sender=w.other)
    v.donate(123_456_789)
    for x in (0, 1, 10**9, 10**18):
        assert sa.sharesToUnderlyingView(x) == (v.bal + OFF) * x // (v.total + OFF)
        assert sa.underlyingToSharesView(x) == x * (v.total + OFF) // (v.bal + OFF)
    with ape.reverts("wrong token"):
        sa.withdraw(w.staker, w.tokens["TKB"], 1, sender=sm_imp)
    with ape.reverts("shares exceed total"):
        sa.withdraw(w.staker, tka, v.total + 1, sender=sm_imp)
    with ape.reverts("wrong token"):
        sa.deposit(w.tokens["TKB"], 1, sender=sm_imp)
    # zero shares: nothing sent
    r = sa.withdraw(w.staker, tka, 0, sender=sm_imp)
    assert r.return_value == 0 and evs(r, "Transfer") == []
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()
    # everything: the virtual offset keeps a dust remainder in the vault
    total = v.total
    r = sa.withdraw(w.staker2, tka, total, sender=sm_imp)
    out = v.withdraw(total)
    assert r.return_value == out and tka.balanceOf(w.staker2) == out
    assert sa.totalShares() == 0 and tka.balanceOf(sa) == v.bal > 0
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()


def test_restore_of_dust_worth_less_than_a_share(w, esc_imp):
    """restoreShares of an amount worth less than one share used to revert ("zero new shares" in
    Strategy.deposit), and with it the whole SlashEscrow.cancelSlash; then it minted nothing. Now
    the share the slash took comes back with its token."""
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.deposit(w.staker, "TKA", 1000)
    tka.mint(sa, 500, sender=w.other)  # rate 1.25 tokens per share
    tka.mint(w.esc, 1, sender=w.other)
    tka.transfer(sa, 1, sender=esc_imp)
    r = w.sm.restoreShares(sa, 1, 1, sender=esc_imp)
    e = one(r, "SlashedSharesRestored", w.sm)
    assert (e.amount, e.shares) == (1, 1)
    assert sa.totalShares() == 1001 and tka.balanceOf(sa) == 1501


def test_cancel_slash_with_dust_component_succeeds(w):
    """End to end: a slash whose escrowed amount buys no share is cancelled exactly."""
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    w.register_operator(w.op)
    w.deposit(w.staker, "TKA", 1000)
    w.dm.delegateTo(w.op, NO_SIG, SALT0, sender=w.staker)
    tka.mint(sa, 500, sender=w.other)  # rate 1.25
    w.create_sets(ids=(1,), syms=("TKA",), resolver=w.resolver)
    w.register_for_sets(w.op, (1,))
    w.allocate(w.op, 1, {"TKA": 1})  # the smallest allocation: a 100% slash takes 1e-18
    r = w.slash(w.op, 1, {"TKA": WAD})
    # 1000 - floor(1000 * (1 - 1e-18)) = 1 share; worth floor(1 * 2500 / 2000) = 1 token
    assert list(r.return_value[1]) == [1] and tka.balanceOf(w.esc) == 1
    assert w.dm.slashingFactor(w.op, sa) == WAD - 1
    r = w.esc.cancelSlash(w.avs, 1, 1, sender=w.resolver)
    e = one(r, "SlashCancelled", w.esc)
    assert (e.amount, e.restoredShares) == (1, 1)
    assert tka.balanceOf(w.esc) == 0 and tka.balanceOf(sa) == 1500
    assert sa.totalShares() == 1000
    assert w.esc.getSlash(w.avs, 1, 1).status == 3  # cancelled
    assert w.dm.slashingFactor(w.op, sa) == WAD
    assert w.withdrawable(w.staker, "TKA") == 1000


def test_strategy_deposit_direct(w, sm_imp):
    """Strategy.deposit as its StrategyManager: shares for tokens already transferred in; dust
    mints nothing (the StrategyManager rejects that for user deposits); the share cap holds."""
    sa, tka = w.strats["TKA"], w.tokens["TKA"]
    v = Vault()
    tka.mint(sa, 700, sender=w.other)
    r = sa.deposit(tka, 700, sender=sm_imp)
    assert r.return_value == v.deposit(700) == 700
    tka.mint(sa, 300, sender=w.other)  # donation: rate (1000 + 1e3) / (700 + 1e3)
    v.donate(300)
    tka.mint(sa, 1, sender=w.other)
    r = sa.deposit(tka, 1, sender=sm_imp)
    assert r.return_value == v.deposit(1) == 0 and sa.totalShares() == 700
    assert one(r, "ExchangeRateEmitted", sa).rate == v.rate()
    big = MAX_TOTAL_SHARES * 2
    tka.mint(sa, big, sender=w.other)
    assert big * (v.total + OFF) // (v.bal + OFF) + v.total > MAX_TOTAL_SHARES
    with ape.reverts("max shares exceeded"):
        sa.deposit(tka, big, sender=sm_imp)
