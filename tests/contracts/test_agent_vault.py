"""The trading agent's vault (contracts/agent/AgentVault.vy, docs/agent.md, *The agent's vault*):
a real TaskMailbox whose ECDSA executor set certifies the real policy output
(offchain/compute/trading_policy.run) of inputs the vault posted; trades, HOLD, every refusal at
posting and at execution (each its own reason), a certified order the AMM refuses for slippage, a
Hypothesis property over random certified orders within and over the limits, and the Python client
(offchain/agent/vault.py) with its typed errors."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain import settings as eigen_settings
from offchain.agent.errors import VaultInputError, VaultRefusedError
from offchain.agent.vault import AgentVault, VaultTerms
from offchain.compute import trading_policy as policy
from tests.contracts.support import World, evs, reverts
from tests.contracts.test_task_mailbox import FEE, MailboxWorld

EIP170 = 24_576
FAR = 2**40
POOL_FEE = 30
MAX_BUY = 1_000 * 10**6  # USDC (6 decimals)
MAX_SELL = 5 * 10**17  # 0.5 of the asset
SLIP = 100  # 1 %
AGE = 8  # blocks (the mailbox's task timeout is 10)
INTERVAL = 2
STRATEGY = keccak(b"strategy: momentum v1")
BUY = '{"action":"BUY","size":"medium"}'
SELL = '{"action":"SELL","size":"small"}'
HOLD = '{"action":"HOLD","size":"small"}'


class VaultWorld:
    """MailboxWorld plus a USDC/asset pool with liquidity and a vault over the ECDSA task type,
    owned by `owner` (funded with both tokens and a fee budget in the mailbox's fee token), whose
    agent is `agent`."""

    def __init__(self, project, chain, accounts, deployment):
        self.mw = mw = MailboxWorld(World(project, chain, accounts, deployment), project, chain, accounts)
        self.project, self.chain = project, chain
        w = mw.w
        self.owner, self.agent, self.lp = w.resolver, w.recipient, w.other
        self.usdc = self.owner.deploy(project.MockERC20, "USD Coin", "USDC")
        self.asset = self.owner.deploy(project.MockERC20, "Demo Ether", "dETH")
        self.pool = self.owner.deploy(
            project.ConstantProductAMM, self.usdc, self.asset, POOL_FEE, "AMM", "LP"
        )
        for t in (self.usdc, self.asset):
            t.mint(self.lp, 10**30, sender=self.lp)
            t.approve(self.pool, 2**256 - 1, sender=self.lp)
            t.mint(self.owner, 10**30, sender=self.owner)
        self.pool.addLiquidity(100_000 * 10**6, 50 * 10**18, 0, 0, self.lp, FAR, sender=self.lp)
        self.vault = self.deploy()
        for t, amount in ((self.usdc, 10 * MAX_BUY), (self.asset, 10 * MAX_SELL)):
            t.approve(self.vault, amount, sender=self.owner)
            self.vault.deposit(t, amount, sender=self.owner)
        mw.token.mint(self.vault, 1_000 * FEE, sender=self.owner)
        self.vault.setFeeBudget(1_000 * FEE, sender=self.owner)

    def args(self, **over):
        a = dict(
            mailbox=self.mw.mailbox.address, task_type=self.mw.ecdsa_type, pool=self.pool.address,
            strategy=STRATEGY, max_buy=MAX_BUY, max_sell=MAX_SELL, slip=SLIP, age=AGE,
            interval=INTERVAL, agent=self.agent.address,
        )  # fmt: skip
        a.update(over)
        return list(a.values())

    def deploy(self, **over):
        return self.owner.deploy(self.project.AgentVault, *self.args(**over))

    def input(self, text=BUY, **over):
        r0, r1 = self.pool.getReserves()
        f = dict(
            strategy_hash=STRATEGY, feed_digest=keccak(b"feed"), receipt_digest=keccak(b"receipt"),
            max_buy=MAX_BUY, max_sell=MAX_SELL, slippage_bips=SLIP,
            token0=bytes.fromhex(self.usdc.address[2:]), token1=bytes.fromhex(self.asset.address[2:]),
            fee_bips=POOL_FEE, reserve0=r0, reserve1=r1, text=text,
        )  # fmt: skip
        f.update(over)
        return policy.PolicyInput(**f).encode()

    def post(self, payload, vault=None):
        vault = vault or self.vault
        return bytes(vault.postPolicyTask(payload, FEE, True, sender=self.agent).return_value)

    def certify(self, h, result):
        self.mw.submit(h, self.mw.ecdsa(h, result), result=result)

    def step(self, text=BUY, result=None):
        """Post `text`'s input and certify the policy's output for it (or `result`)."""
        payload = self.input(text)
        h = self.post(payload)
        out = policy.run(payload) if result is None else result(payload)
        self.certify(h, out)
        return h, payload, out

    def wait(self, blocks=INTERVAL):
        self.chain.mine(blocks)


@pytest.fixture(scope="module")
def vw(project, chain, accounts, deployment):
    return VaultWorld(project, chain, accounts, deployment)


@pytest.fixture
def fresh(chain):
    snap = chain.snapshot()
    yield
    chain.restore(snap)


def order(action, amount, min_out, reason="x"):
    """A certified output's bytes for an input (what a lying executor set could sign)."""
    return lambda payload: policy.Decision(action, amount, min_out, reason).encode(keccak(payload))


def test_fits_eip_170(project):
    code = project.AgentVault.contract_type.runtime_bytecode.bytecode
    assert len(bytes.fromhex(code[2:])) <= EIP170


def test_terms(vw):
    v = vw.vault
    assert (v.owner(), v.agent(), v.mailbox(), v.taskType(), v.pool()) == (
        vw.owner.address, vw.agent.address, vw.mw.mailbox.address, vw.mw.ecdsa_type, vw.pool.address,
    )  # fmt: skip
    assert (v.token0(), v.token1(), v.poolFeeBips()) == (vw.usdc.address, vw.asset.address, POOL_FEE)
    assert (v.strategyHash(), v.maxBuy(), v.maxSell(), v.slippageBips()) == (
        STRATEGY,
        MAX_BUY,
        MAX_SELL,
        SLIP,
    )
    assert (v.maxTaskAge(), v.minTradeInterval(), v.feeBudget()) == (AGE, INTERVAL, 1_000 * FEE)


@pytest.mark.parametrize(
    "over, reason",
    [
        ({"agent": "0x" + "00" * 20}, "zero agent"),
        ({"pool": "0x" + "00" * 20}, "zero address"),
        ({"strategy": bytes(32)}, "zero strategy"),
        ({"max_buy": 0}, "zero limit"),
        ({"max_sell": 2**96 + 1}, "limit too large"),
        ({"slip": 10_000}, "slippage too high"),
        ({"age": 0}, "zero task age"),
        ({"task_type": 999}, "unknown task type"),
    ],
)
def test_constructor_refusals(vw, over, reason):
    with pytest.raises(Exception, match=reason):
        vw.deploy(**over)


def test_buy_then_sell_on_certified_orders(vw, fresh):
    v = vw.vault
    h, payload, out = vw.step(BUY)
    _, d = policy.Decision.decode(out)
    assert (d.action, d.amount_in) == ("BUY", MAX_BUY // 2)
    u0, a0 = vw.usdc.balanceOf(v), vw.asset.balanceOf(v)
    quote = vw.pool.getAmountOut(vw.usdc, d.amount_in)
    rc = v.execute(h, payload, out, sender=vw.agent)
    (ev,) = evs(rc, "Traded", v)
    assert (ev.taskHash, ev.tokenIn, ev.amountIn, ev.minOut, ev.amountOut) == (
        h, vw.usdc.address, d.amount_in, d.min_out, quote,
    )  # fmt: skip
    assert quote >= d.min_out
    assert (vw.usdc.balanceOf(v), vw.asset.balanceOf(v)) == (u0 - d.amount_in, a0 + quote)
    assert v.executed(h) and v.nextTradeBlock() == rc.block_number + INTERVAL
    reverts("task already executed", v.execute, h, payload, out, sender=vw.agent)
    # a SELL the next interval, its task paid by the agent (the refund collector is then the agent)
    vw.mw.token.mint(vw.agent, FEE, sender=vw.agent)
    vw.mw.token.approve(v, FEE, sender=vw.agent)
    payload = vw.input(SELL)
    rc = v.postPolicyTask(payload, FEE, False, sender=vw.agent)
    h = bytes(rc.return_value)
    (ev,) = evs(rc, "PolicyTaskPosted", v)
    assert (ev.payer, ev.fee, vw.mw.token.balanceOf(vw.agent)) == (vw.agent.address, FEE, 0)
    assert vw.mw.mailbox.getTaskInfo(h).refundCollector == vw.agent.address
    out = policy.run(payload)
    vw.certify(h, out)
    vw.wait()
    rc = v.execute(h, payload, out, sender=vw.agent)
    (ev,) = evs(rc, "Traded", v)
    assert (ev.tokenIn, ev.amountIn) == (vw.asset.address, MAX_SELL // 4)


def test_hold_spends_the_task_and_moves_nothing(vw, fresh):
    v = vw.vault
    before = (vw.usdc.balanceOf(v), vw.asset.balanceOf(v))
    for text in (HOLD, "buy everything now"):  # the model's HOLD, and an answer the policy holds on
        h, payload, out = vw.step(text)
        assert policy.Decision.decode(out)[1].action == "HOLD"
        rc = v.execute(h, payload, out, sender=vw.agent)
        assert [e.taskHash for e in evs(rc, "Held", v)] == [h] and not evs(rc, "Traded", v)
        assert v.executed(h) and v.nextTradeBlock() == 0
        reverts("task already executed", v.execute, h, payload, out, sender=vw.agent)
    assert (vw.usdc.balanceOf(v), vw.asset.balanceOf(v)) == before


def test_posting_refusals(vw, fresh):
    v, a = vw.vault, vw.agent
    ok = vw.input()
    reverts("not the agent", v.postPolicyTask, ok, FEE, True, sender=vw.owner)
    t0 = bytes.fromhex(vw.usdc.address[2:])
    for payload, reason in (
        (b"TPI2" + ok[4:], "not a policy input"),
        (ok[:275], "not a policy input"),
        (vw.input(strategy_hash=keccak(b"another")), "another strategy"),
        (vw.input(max_buy=MAX_BUY * 2), "another buy limit"),
        (vw.input(max_sell=MAX_SELL - 1), "another sell limit"),
        (vw.input(slippage_bips=SLIP + 1), "another slippage"),
        (vw.input(token1=t0), "another token"),
        (vw.input(token0=bytes.fromhex(vw.mw.token.address[2:])), "another token"),
        (vw.input(fee_bips=POOL_FEE + 1), "another pool fee"),
        (vw.input(reserve0=2**128 + 1), "reserves too large"),
        (vw.input(reserve1=vw.pool.reserve1() - 1), "reserves not the pool's"),
    ):
        reverts(reason, v.postPolicyTask, payload, FEE, True, sender=a)
    reverts("wrong fee", v.postPolicyTask, ok, FEE + 1, True, sender=a)  # the mailbox's
    v.setFeeBudget(FEE - 1, sender=vw.owner)
    reverts("fee over budget", v.postPolicyTask, ok, FEE, True, sender=a)
    # reserves of an earlier block are refused once the pool moved
    vw.pool.swapExactIn(vw.usdc, 10**6, 0, vw.lp, FAR, sender=vw.lp)
    v.setFeeBudget(FEE, sender=vw.owner)
    reverts("reserves not the pool's", v.postPolicyTask, ok, FEE, True, sender=a)


def test_execution_refusals(vw, fresh):
    v, a, mw = vw.vault, vw.agent, vw.mw
    h, payload, out = vw.step(BUY)
    reverts("not the agent", v.execute, h, payload, out, sender=vw.owner)
    # a task the vault did not create: the same input posted by someone else, certified
    other, _ = mw.create(mw.params(payload=payload))
    vw.certify(other, policy.run(payload))
    reverts("task not the vault's", v.execute, other, payload, policy.run(payload), sender=a)
    # a task of another type, certified: not the vault's either (the vault posts only its type)
    bls, _ = mw.create(mw.params(task_type=mw.bls_type, payload=payload))
    reverts("task not the vault's", v.execute, bls, payload, out, sender=a)
    reverts("task not the vault's", v.execute, keccak(b"no task"), payload, out, sender=a)
    # posted, not certified
    pending = vw.post(vw.input(SELL))
    reverts("task not certified", v.execute, pending, vw.input(SELL), policy.run(vw.input(SELL)), sender=a)
    # the input or the result is not the task's
    reverts("input not the task's", v.execute, h, vw.input(SELL), out, sender=a)
    reverts("result not the task's", v.execute, h, payload, policy.run(vw.input(SELL)), sender=a)
    # certified orders the vault refuses whatever the certifiers say
    lying = (
        (lambda p: policy.run(vw.input(SELL)), "result for another input"),
        (
            lambda p: keccak(p)
            + (3).to_bytes(32, "big")
            + bytes(64)
            + (0xA0).to_bytes(32, "big")
            + (1).to_bytes(32, "big")
            + b"x"
            + bytes(31),
            "unknown action",
        ),  # fmt: skip
        (order("BUY", MAX_BUY + 1, 1), "amount over the limit"),
        (order("SELL", MAX_SELL + 1, 1), "amount over the limit"),
        (order("BUY", MAX_BUY, 1), "min out under the slippage bound"),
        (order("BUY", 0, 0), "amount over the limit"),
    )
    for make, reason in lying:
        hh, pp, oo = vw.step(BUY, result=make)
        reverts(reason, v.execute, hh, pp, oo, sender=a)
    # too old: past maxTaskAge blocks since its creation
    old, old_payload, old_out = vw.step(SELL)
    vw.wait(AGE)
    reverts("task too old", v.execute, old, old_payload, old_out, sender=a)
    # an honest order executes; the next trade waits for the interval
    h, payload, out = vw.step(BUY)
    h2, p2, o2 = vw.step(SELL)
    v.execute(h, payload, out, sender=a)
    reverts("trade too soon", v.execute, h2, p2, o2, sender=a)
    vw.wait()
    # with the asset withdrawn, a certified SELL finds no balance
    v.withdraw(vw.asset, vw.asset.balanceOf(v), vw.owner, sender=vw.owner)
    reverts("insufficient balance", v.execute, h2, p2, o2, sender=a)


def test_a_certified_order_beyond_the_slippage_reverts_at_the_amm(vw, fresh):
    v = vw.vault
    h, payload, out = vw.step(BUY)
    # the pool moves against the order (someone buys the asset) after the task was posted
    vw.pool.swapExactIn(vw.usdc, 2_000 * 10**6, 0, vw.lp, FAR, sender=vw.lp)
    reverts("slippage", v.execute, h, payload, out, sender=vw.agent)
    assert not v.executed(h)  # nothing spent: it may execute later if the price comes back


def test_owner_only(vw, fresh):
    v, a = vw.vault, vw.agent
    reverts("not the owner", v.deposit, vw.usdc, 1, sender=a)
    reverts("not the owner", v.withdraw, vw.usdc, 1, a, sender=a)
    reverts("not the owner", v.setAgent, a, sender=a)
    reverts("not the owner", v.setFeeBudget, 1, sender=a)
    reverts("zero receiver", v.withdraw, vw.usdc, 1, "0x" + "00" * 20, sender=vw.owner)
    rc = v.setAgent(vw.lp, sender=vw.owner)
    (ev,) = evs(rc, "AgentSet", v)
    assert (ev.previous, ev.agent) == (a.address, vw.lp.address)
    reverts("not the agent", v.postPolicyTask, vw.input(), FEE, True, sender=a)
    before = vw.usdc.balanceOf(vw.owner)
    v.withdraw(vw.usdc, 5, vw.owner, sender=vw.owner)
    assert vw.usdc.balanceOf(vw.owner) == before + 5


@pytest.fixture(scope="module")
def prop_vault(vw):
    """A vault without a trade interval, for the property (every example simulates one execute)."""
    v = vw.deploy(interval=0)
    for t, amount in ((vw.usdc, 10 * MAX_BUY), (vw.asset, 10 * MAX_SELL)):
        t.approve(v, amount, sender=vw.owner)
        v.deposit(t, amount, sender=vw.owner)
    vw.mw.token.mint(v, 10**9 * FEE, sender=vw.owner)
    v.setFeeBudget(10**9 * FEE, sender=vw.owner)
    return v


@settings(
    max_examples=12 if eigen_settings.hypothesis_profile() == "ci" else 60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    action=st.sampled_from(["BUY", "SELL"]),
    amount=st.one_of(
        st.integers(1, 2 * MAX_BUY), st.sampled_from([1, MAX_SELL, MAX_SELL + 1, MAX_BUY, MAX_BUY + 1])
    ),
    slack=st.integers(-200, 200),
)
def test_property_random_certified_orders(vw, prop_vault, action, amount, slack):
    """Any certified order: it trades exactly when its amount is within the side's limit and its
    minOut at least the slippage bound at the posted reserves (and the pool still pays it); else
    the vault's reason. Simulated (eth_call), so the pool never moves between examples."""
    payload = vw.input(BUY)
    p = policy.PolicyInput.decode(payload)
    limit, r_in, r_out = (
        (MAX_BUY, p.reserve0, p.reserve1) if action == "BUY" else (MAX_SELL, p.reserve1, p.reserve0)
    )
    quote = policy.amount_out(amount, r_in, r_out, POOL_FEE)
    least = quote * (10_000 - SLIP) // 10_000
    min_out = max(1, least + slack * max(1, least // 1000))
    h = vw.post(payload, prop_vault)
    out = order(action, amount, min_out)(payload)
    vw.certify(h, out)
    if amount > limit:
        reverts("amount over the limit", prop_vault.execute, h, payload, out, sender=vw.agent)
    elif min_out < max(least, 1):
        reverts("min out under the slippage bound", prop_vault.execute, h, payload, out, sender=vw.agent)
    elif quote == 0:
        reverts("insufficient liquidity", prop_vault.execute, h, payload, out, sender=vw.agent)
    elif quote < min_out:
        reverts("slippage", prop_vault.execute, h, payload, out, sender=vw.agent)
    else:
        got = prop_vault.execute.call(h, payload, out, sender=vw.agent)
        assert got == quote >= min_out


# ---------------------------------------------------------------- the Python client


def test_client(vw, chain, fresh):
    from offchain.agent.trading import Strategy
    from offchain.agent.vault import Execution

    w3 = chain.provider.web3
    owner_key, agent_key = vw.owner.private_key, vw.agent.private_key
    terms = VaultTerms(
        vw.mw.mailbox.address, vw.mw.ecdsa_type, vw.pool.address, STRATEGY,
        MAX_BUY, MAX_SELL, SLIP, AGE, 0, vw.agent.address,
    )  # fmt: skip
    with pytest.raises(VaultRefusedError, match="zero limit") as e:
        AgentVault.deploy(w3, owner_key, VaultTerms(**{**terms.__dict__, "max_buy": 0}))
    assert e.value.reason == "zero limit"
    strategy = Strategy()
    declared = VaultTerms.for_strategy(
        strategy, mailbox=terms.mailbox, task_type=terms.task_type, pool=terms.pool,
        agent=terms.agent, max_task_age=AGE, min_trade_interval=0,
    )  # fmt: skip
    assert (declared.strategy_hash, declared.max_buy, declared.max_sell, declared.slippage_bips) == (
        strategy.hash(), strategy.max_buy_usdc, strategy.max_sell_asset, strategy.slippage_bips,
    )  # fmt: skip
    client = AgentVault.deploy(w3, owner_key, terms)
    assert client.terms() == terms
    client.deposit(owner_key, vw.usdc.address, 3 * MAX_BUY)
    vw.mw.token.mint(client.address, 10 * FEE, sender=vw.owner)
    client.set_fee_budget(owner_key, 10 * FEE)
    s = client.state()
    assert (s.owner, s.agent, s.balance0, s.balance1, s.fee_budget) == (
        vw.owner.address, vw.agent.address, 3 * MAX_BUY, 0, 10 * FEE,
    )  # fmt: skip
    # refused before sending: not a policy input, another strategy
    with pytest.raises(VaultInputError, match="not a policy input"):
        client.post_task(agent_key, b"TPI1")
    with pytest.raises(VaultInputError, match="strategy hash"):
        client.post_task(agent_key, vw.input(strategy_hash=keccak(b"another")))
    payload = vw.input(BUY)
    h = client.post_task(agent_key, payload)
    assert client.state().fee_budget == 9 * FEE
    out = policy.run(payload)
    with pytest.raises(VaultRefusedError, match="task not certified"):
        client.execute(agent_key, h, payload, out)
    with pytest.raises(VaultInputError, match="another input"):
        client.execute(agent_key, h, vw.input(SELL), out)
    with pytest.raises(VaultInputError, match="not an order"):
        client.execute(agent_key, h, payload, b"\x00" * 10)
    vw.certify(h, out)
    with pytest.raises(VaultRefusedError, match="not the agent"):
        client.execute(owner_key, h, payload, out)
    quote = vw.pool.getAmountOut(vw.usdc, MAX_BUY // 2)
    got = client.execute(agent_key, h, payload, out)
    assert isinstance(got, Execution) and (got.action, got.amount_in, got.amount_out) == (
        "BUY",
        MAX_BUY // 2,
        quote,
    )
    assert client.executed(h) and client.state().balance1 == quote
    with pytest.raises(VaultRefusedError, match="task already executed"):
        client.execute(agent_key, h, payload, out)
    # the agent pays a task itself; the owner changes the agent and withdraws
    vw.mw.token.mint(vw.agent, FEE, sender=vw.agent)
    h2 = client.post_task(agent_key, vw.input(HOLD), from_vault=False)
    assert vw.mw.token.balanceOf(vw.agent) == 0 and client.state().fee_budget == 9 * FEE
    vw.certify(h2, policy.run(vw.input(HOLD)))
    assert client.execute(agent_key, h2, vw.input(HOLD), policy.run(vw.input(HOLD))).amount_out == 0
    client.set_agent(owner_key, vw.lp.address)
    with pytest.raises(VaultRefusedError, match="not the agent"):
        client.post_task(agent_key, vw.input(BUY))
    client.withdraw(owner_key, vw.asset.address, quote, vw.owner.address)
    assert client.state().balance1 == 0
    with pytest.raises(VaultRefusedError, match="not the owner"):
        client.withdraw(agent_key, vw.usdc.address, 1, vw.agent.address)


def test_token_refusals(vw, project, fresh):
    """A fee-on-transfer fee token paid by the agent arrives short; a token whose transfer returns
    False cannot be withdrawn as if it had moved."""
    from offchain.chain.task_mailbox import CERT_ECDSA

    taxed = vw.owner.deploy(project.MockFeeERC20)
    v = vw.deploy(task_type=vw.mw.register_type(CERT_ECDSA, token=taxed))
    taxed.mint(vw.agent, FEE, sender=vw.agent)
    taxed.approve(v, FEE, sender=vw.agent)
    reverts("fee transfer shortfall", v.postPolicyTask, vw.input(), FEE, False, sender=vw.agent)
    falsy = vw.owner.deploy(project.MockFalseERC20, "False", "FLS")
    falsy.mint(v, 10, sender=vw.owner)
    falsy.setFailTransfers(True, sender=vw.owner)
    reverts("transfer failed", v.withdraw, falsy, 10, vw.owner, sender=vw.owner)


def test_the_validator_counts_the_declared_vaults_tasks_as_the_agents(vw, project, fresh):
    """TaskValidator: a task the vault created is the agent's work when the agent's metadata "vault"
    names it and the vault's owner() is the agent's owner; another owner's agent naming the same
    vault, or an agent naming an address without owner() (an account), is answered 0."""
    from offchain.chain.agent import VALIDATION_KIND_TASK
    from tests.contracts.support import one
    from tests.contracts.test_agent_validator import SALT, Registries

    mw = vw.mw
    r = Registries(project, vw.chain, vw.owner, mailbox=mw.mailbox)

    def agent(owner, vault):
        rc = r.ident.register(
            "https://agent.example/card.json", [("vault", bytes.fromhex(vault[2:]))], sender=owner
        )
        return one(rc, "Registered").agentId

    payload = vw.input()
    h = vw.post(payload)
    out = policy.run(payload)
    rc = mw.submit(h, mw.ecdsa(h, out), result=out)
    signers = list(evs(rc, "TaskVerified")[0].signers)
    for owner, vault, want in (
        (vw.owner, vw.vault.address, (100, "task-certified")),
        (vw.lp, vw.vault.address, (0, "not-agent-task")),  # another owner's agent: not its vault
    ):
        aid = agent(owner, vault)
        rh = r.request(owner, aid, VALIDATION_KIND_TASK, h)
        r.v.respondTask(aid, h, bytes(32), SALT, signers, sender=vw.lp)
        assert (r.status(rh)[0], r.status(rh)[2]) == want
    # an account is no vault: a task it created is not the work of an agent naming it
    e, _ = mw.create()
    signers = list(evs(mw.submit(e, mw.ecdsa(e, b"4"), result=b"4"), "TaskVerified")[0].signers)
    aid = agent(vw.owner, mw.creator.address)
    rh = r.request(vw.owner, aid, VALIDATION_KIND_TASK, e)
    r.v.respondTask(aid, e, bytes(32), SALT, signers, sender=vw.lp)
    assert (r.status(rh)[0], r.status(rh)[2]) == (0, "not-agent-task")
