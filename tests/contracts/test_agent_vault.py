"""The trading agent's vault (contracts/agent/AgentVault.vy, docs/agent.md, *The agent's vault*):
a real TaskMailbox whose ECDSA executor set certifies the real policy output
(offchain/compute/trading_policy.run) of inputs the vault posted; trades, HOLD, every refusal at
posting and at execution (each its own reason), a certified order the AMM refuses for slippage, a
Hypothesis property over random certified orders within and over the limits, and the Python client
(offchain/agent/vault.py) with its typed errors."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
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


# ---------------------------------------------------------------- the vault pays its running costs

ESCROW_FEE = 10_000  # 0.01 USDC a policy task, into VerifiedEscrow
FEE_CAP = 20_000  # the owner's cap per task
FEE_DEADLINE = 3_600  # seconds after posting when an uncertified task's fee is refundable
FEED_PRICE = 20_000
FEED_CAP = 50_000
ZERO = "0x" + "00" * 20
INVALID = bytes.fromhex("ffffffff")


class CostWorld:
    """On VaultWorld's mailbox: an EIP-3009 stablecoin, a task type charging nothing on the mailbox
    with that fee token, a VerifiedEscrow over the mailbox (no window), and a vault over that type
    holding the stablecoin, whose owner named the escrow, the executor set's payee (`payee`), the
    fee cap and budget, the feed token, cap, budget and the one data agent (`data`) it may pay."""

    def __init__(self, vw, project):
        from offchain.chain.deploy import deploy_verified_escrow
        from offchain.chain.task_mailbox import CERT_ECDSA

        self.vw, o = vw, vw.owner
        self.usd = o.deploy(project.StableToken, "USD Coin", "USDC", o)
        self.type = vw.mw.register_type(CERT_ECDSA, token=self.usd, fee=0)
        self.escrow = deploy_verified_escrow(project, o, vw.mw.mailbox.address, task_window_s=0)
        self.payee = vw.lp.address
        self.data = to_checksum_address(keccak(b"data agent")[:20])
        self.vault = vw.deploy(task_type=self.type)
        self.usd.mint(self.vault, 10**9, sender=o)
        self.vault.setFeeBudget(3 * ESCROW_FEE, sender=o)
        self.vault.setFeeEscrow(self.escrow, self.payee, FEE_CAP, FEE_DEADLINE, sender=o)
        self.vault.setFeedTerms(self.usd, FEED_CAP, sender=o)
        self.vault.setFeedPayee(self.data, True, sender=o)
        self.vault.setFeedBudget(3 * FEED_PRICE, sender=o)

    def now(self):
        return self.vw.chain.pending_timestamp

    def feed_args(self, **over):
        a = dict(
            token=self.usd.address, to=self.data, value=FEED_PRICE, after=self.now() - 600,
            before=self.now() + 600, nonce=keccak(repr(over).encode() + b"feed nonce"),
        )  # fmt: skip
        a.update(over)
        return list(a.values())

    def digest(self, token, to, value, after, before, nonce, primary="TransferWithAuthorization"):
        """The EIP-712 digest of the vault's authorization, computed here (eth_account)."""
        from eth_account.messages import encode_typed_data

        from offchain.chain.agent import Authorization, authorization_data

        auth = Authorization(self.vault.address, to, value, after, before, nonce)
        m = encode_typed_data(
            full_message=authorization_data(primary, "USD Coin", self.vw.chain.chain_id, token, auth)
        )
        return keccak(b"\x19" + m.version + m.header + m.body)


@pytest.fixture(scope="module")
def cost_world(vw, project):
    return CostWorld(vw, project)


def test_the_vault_pays_a_policy_fee_into_escrow(vw, cost_world, fresh):
    """postPolicyTaskEscrowed: the task (creator the vault, no mailbox fee) and its fee held in
    VerifiedEscrow bound to it, paid by the vault (its ERC-1271 answer valid only during the call),
    for the owner's payee, out of the fee budget; the executors' gate admits the task; a refund
    (the deadline passed uncertified) returns to the vault."""
    from offchain.agent.taskfee import EscrowFeeGate
    from offchain.chain.agent import ESCROW_KIND_TASK, Escrow, escrow_id, escrow_nonce
    from offchain.chain.sdk import load_abis
    from offchain.compute.taskrun import Task

    cw, v = cost_world, cost_world.vault
    before = cw.usd.balanceOf(v)
    payload = vw.input(BUY)
    rc = v.postPolicyTaskEscrowed(payload, ESCROW_FEE, sender=vw.agent)
    h = bytes(rc.return_value)
    ev = one_ev(rc, "FeeEscrowed", v)
    deadline = vw.chain.blocks.head.timestamp + FEE_DEADLINE
    nonce = escrow_nonce(cw.payee, ESCROW_KIND_TASK, h, bytes(32), deadline, h)
    eid = escrow_id(cw.usd.address, v.address, nonce)
    assert (bytes(ev.taskHash), bytes(ev.escrowId), ev.payee, ev.token, ev.amount, ev.deadline) == (
        h, eid, cw.payee, cw.usd.address, ESCROW_FEE, deadline,
    )  # fmt: skip
    info = vw.mw.mailbox.getTaskInfo(h)
    assert (info.creator, info.refundCollector, info.fee) == (v.address, v.address, 0)
    handle = Escrow(vw.chain.provider.web3, cw.escrow.address, load_abis()["VerifiedEscrow"])
    e = handle.get(eid)
    assert (e.payer, e.payee, e.token, e.amount, e.ref, e.state) == (
        v.address, cw.payee, cw.usd.address, ESCROW_FEE, h, "held",
    )  # fmt: skip
    assert (cw.usd.balanceOf(v), v.feeBudget()) == (before - ESCROW_FEE, 2 * ESCROW_FEE)
    # the deposit's authorization was valid only during the call
    auth_digest = cw.digest(
        cw.usd.address, cw.escrow.address, ESCROW_FEE, rc.timestamp - 1, rc.timestamp + 1, nonce,
        "ReceiveWithAuthorization",
    )  # fmt: skip
    assert bytes(v.isValidSignature(auth_digest, b"")) == INVALID
    # the executors admit it: its fee is held for their payee
    gate = EscrowFeeGate(
        handle, vw.mw.mailbox.address, frozenset({cw.type}), cw.usd.address, cw.payee, ESCROW_FEE
    )
    task = Task(h, cw.type, 0, 0, 0, payload, rc.block_number)
    assert gate(task) is None
    # uncertified past the deadline: refunded to the vault (not to the agent)
    vw.chain.pending_timestamp = deadline + 1
    vw.chain.mine(1)
    cw.escrow.refund(eid, [], sender=vw.lp)
    assert cw.usd.balanceOf(v) == before and cw.usd.balanceOf(vw.agent) == 0


def test_escrowed_fee_refusals(vw, cost_world, project, fresh):
    cw, v, a, o = cost_world, cost_world.vault, vw.agent, vw.owner
    ok = vw.input()
    reverts("not the agent", v.postPolicyTaskEscrowed, ok, ESCROW_FEE, sender=o)
    reverts("zero fee", v.postPolicyTaskEscrowed, ok, 0, sender=a)
    reverts("fee over the cap", v.postPolicyTaskEscrowed, ok, FEE_CAP + 1, sender=a)
    v.setFeeBudget(ESCROW_FEE - 1, sender=o)
    reverts("fee over budget", v.postPolicyTaskEscrowed, ok, ESCROW_FEE, sender=a)
    v.setFeeBudget(10 * ESCROW_FEE, sender=o)
    reverts(
        "another strategy",
        v.postPolicyTaskEscrowed,
        vw.input(strategy_hash=keccak(b"x")),
        ESCROW_FEE,
        sender=a,
    )
    # the vault holds too little of the fee token: the token refuses the transfer
    v.withdraw(cw.usd, cw.usd.balanceOf(v) - ESCROW_FEE + 1, o, sender=o)
    reverts("ERC20: transfer amount exceeds balance", v.postPolicyTaskEscrowed, ok, ESCROW_FEE, sender=a)
    # a type charging on the mailbox would pay its certifiers twice
    paid = vw.deploy()  # VaultWorld's type (fee FEE in the mailbox's token)
    paid.setFeeEscrow(cw.escrow, cw.payee, FEE_CAP, FEE_DEADLINE, sender=o)
    paid.setFeeBudget(FEE_CAP, sender=o)
    reverts("type charges a mailbox fee", paid.postPolicyTaskEscrowed, ok, ESCROW_FEE, sender=a)
    # the owner's terms
    reverts("not the owner", v.setFeeEscrow, cw.escrow, cw.payee, 1, 1, sender=a)
    reverts("zero payee", v.setFeeEscrow, cw.escrow, ZERO, 1, 1, sender=o)
    reverts("zero deadline", v.setFeeEscrow, cw.escrow, cw.payee, 1, 0, sender=o)
    # a contract whose mailbox() is another (EigenTrustScores over `lp`): no escrow of the vault's mailbox
    other = o.deploy(project.EigenTrustScores, vw.lp, 1, keccak(b"image"), vw.lp)
    reverts("escrow of another mailbox", v.setFeeEscrow, other, cw.payee, 1, 1, sender=o)
    v.setFeeEscrow(ZERO, ZERO, 0, 0, sender=o)  # off
    reverts("no fee escrow", v.postPolicyTaskEscrowed, ok, ESCROW_FEE, sender=a)


def test_the_vault_authorizes_feed_payments_it_recorded(vw, cost_world, fresh):
    """authorizeFeedPayment records the TransferWithAuthorization digest (the EIP-712 digest of the
    token's domain) and debits the feed budget; isValidSignature answers the magic value for it
    only; anyone may then submit it (whatever signature bytes), once; another payment (value,
    payee) of the same nonce is not authorized."""
    cw, v = cost_world, cost_world.vault
    args = cw.feed_args()
    rc = v.authorizeFeedPayment(*args, sender=vw.agent)
    digest = bytes(rc.return_value)
    assert digest == cw.digest(*args)
    ev = one_ev(rc, "FeedPaymentAuthorized", v)
    assert (bytes(ev.digest), ev.payee, ev.value, bytes(ev.nonce)) == (digest, cw.data, FEED_PRICE, args[5])
    assert v.feedBudget() == 2 * FEED_PRICE and v.feedAuthorized(digest) and v.feedNonceUsed(args[5])
    assert bytes(v.isValidSignature(digest, b"anything")) == bytes.fromhex("1626ba7e")
    assert bytes(v.isValidSignature(keccak(b"other"), b"")) == INVALID
    assert bytes(v.isValidSignature(bytes(32), b"")) == INVALID
    _, to, value, after, before, nonce = args
    # not what was authorized: another value, another payee -> the token's "invalid signature"
    for t, val in ((to, value + 1), (vw.lp.address, value)):
        reverts(
            "invalid signature",
            cw.usd.transferWithAuthorization,
            v,
            t,
            val,
            after,
            before,
            nonce,
            b"\x01",
            sender=vw.lp,
        )
    paid = cw.usd.balanceOf(cw.data)
    cw.usd.transferWithAuthorization(v, to, value, after, before, nonce, b"\x01", sender=vw.lp)
    assert cw.usd.balanceOf(cw.data) == paid + FEED_PRICE
    reverts(
        "authorization is used or canceled",
        cw.usd.transferWithAuthorization, v, to, value, after, before, nonce, b"", sender=vw.lp,
    )  # fmt: skip


def test_feed_payment_refusals(vw, cost_world, project, fresh):
    cw, v, a, o = cost_world, cost_world.vault, vw.agent, vw.owner
    feed_term_refusals(vw, cw, project, v.authorizeFeedPayment, cw.feed_args, FEED_PRICE)
    v.setFeedBudget(2 * FEED_PRICE, sender=o)
    args = cw.feed_args()
    v.authorizeFeedPayment(*args, sender=a)
    # the same nonce again (the same payment or another): refused, the budget debited once
    reverts("nonce already used", v.authorizeFeedPayment, *args, sender=a)
    reverts("nonce already used", v.authorizeFeedPayment, *cw.feed_args(value=1, nonce=args[5]), sender=a)
    assert v.feedBudget() == FEED_PRICE
    # the owner's terms
    reverts("not the owner", v.setFeedTerms, cw.usd, 1, sender=a)
    reverts("not the owner", v.setFeedPayee, cw.data, False, sender=a)
    reverts("not the owner", v.setFeedBudget, 1, sender=a)
    reverts("zero payee", v.setFeedPayee, ZERO, True, sender=o)
    v.setFeedPayee(cw.data, False, sender=o)
    reverts("payee not allowed", v.authorizeFeedPayment, *cw.feed_args(), sender=a)
    v.setFeedTerms(ZERO, 0, sender=o)
    reverts("feeds not enabled", v.authorizeFeedPayment, *cw.feed_args(), sender=a)


def feed_term_refusals(vw, cw, project, fn, make, value, extra=()):
    """The owner's feed terms refused by `fn` (authorizeFeedPayment or authorizeUptoFeedPayment)
    on the arguments `make(**over)` (keys token, to, value, before): each its reason, then the
    agent only, then a budget `value` - 1 under a payment of `value`."""
    now = cw.now()
    other_token = vw.owner.deploy(project.StableToken, "Other", "OTH", vw.owner)
    for over, reason in (
        ({"token": other_token.address}, "another token"),
        ({"to": vw.lp.address}, "payee not allowed"),
        ({"value": 0}, "zero amount"),
        ({"value": FEED_CAP + 1}, "payment over the cap"),
        ({"before": now - 1}, "authorization expired"),
        ({"before": now + 86_400 + 60}, "authorization too long"),
        *extra,
    ):
        reverts(reason, fn, *make(**over), sender=vw.agent)
    reverts("not the agent", fn, *make(), sender=vw.owner)
    cw.vault.setFeedBudget(value - 1, sender=vw.owner)
    reverts("feed over budget", fn, *make(), sender=vw.agent)
    return other_token


def test_an_expired_unsettled_feed_payment_returns_to_the_budget(vw, cost_world, fresh):
    """reclaimFeedPayment: only a recorded payment, only once expired, only if the token did not
    settle it, by the owner or the agent; the budget is credited, the digest no longer answered."""
    cw, v, a, o = cost_world, cost_world.vault, vw.agent, vw.owner
    args = cw.feed_args(before=cw.now() + 30)
    settled = cw.feed_args(before=cw.now() + 30, nonce=keccak(b"settled"))
    digest = bytes(v.authorizeFeedPayment(*args, sender=a).return_value)
    v.authorizeFeedPayment(*settled, sender=a)
    token, to, value, after, before, nonce = settled
    cw.usd.transferWithAuthorization(v, to, value, after, before, nonce, b"", sender=vw.lp)
    assert v.feedBudget() == FEED_PRICE
    reverts("authorization still valid", v.reclaimFeedPayment, *args, sender=a)
    vw.chain.pending_timestamp = args[4] + 1
    vw.chain.mine(1)
    reverts("not the owner or agent", v.reclaimFeedPayment, *args, sender=vw.lp)
    reverts(
        "payment not authorized",
        v.reclaimFeedPayment,
        *cw.feed_args(value=FEED_PRICE - 1, before=args[4], nonce=args[5]),
        sender=a,
    )
    reverts("payment settled", v.reclaimFeedPayment, *settled, sender=a)
    rc = v.reclaimFeedPayment(*args, sender=o)
    assert rc.return_value == 2 * FEED_PRICE == v.feedBudget()
    assert bytes(one_ev(rc, "FeedPaymentReclaimed", v).digest) == digest
    assert bytes(v.isValidSignature(digest, b"")) == INVALID and v.feedNonceUsed(args[5])
    reverts("payment not authorized", v.reclaimFeedPayment, *args, sender=a)


def one_ev(rc, name, contract):
    (ev,) = evs(rc, name, contract)
    return ev


def test_client_vault_pays_x402_feeds_and_escrowed_fees(vw, cost_world, chain, fresh):
    """The Python side: post_task_escrowed; a PayingClient whose wallet is the vault
    (VaultFeedWallet) signs an x402 exact payment from the vault, recorded on it, which the
    facilitator verifies (a contract payer: the settlement's simulation asks ERC-1271) and settles;
    unrecorded, the same payment is PaymentSignatureError, settled twice PaymentReplayedError; the
    vault's refusals are VaultRefusedError and the client pays the schemes the vault records."""
    from eth_account import Account

    from offchain.agent import errors as E
    from offchain.agent.client import PayingClient
    from offchain.agent.evm import EvmFacilitator, create_payment
    from offchain.agent.vault import AgentVault, VaultFeedWallet
    from offchain.chain.agent import StableToken
    from offchain.chain.sdk import load_abis

    cw = cost_world
    w3 = chain.provider.web3
    agent_key = vw.agent.private_key
    client = AgentVault(w3, cw.vault.address)
    st = client.state()
    assert (st.fee_escrow, st.escrow_payee, st.max_escrow_fee, st.escrow_deadline) == (
        cw.escrow.address, cw.payee, FEE_CAP, FEE_DEADLINE,
    )  # fmt: skip
    assert (st.feed_token, st.max_feed_payment, st.feed_budget) == (cw.usd.address, FEED_CAP, 3 * FEED_PRICE)
    h, eid = client.post_task_escrowed(agent_key, vw.input(BUY), ESCROW_FEE)
    assert (
        vw.mw.mailbox.getTaskInfo(h).creator == client.address and cw.escrow.escrows(eid).amount == ESCROW_FEE
    )
    with pytest.raises(VaultRefusedError, match="fee over the cap"):
        client.post_task_escrowed(agent_key, vw.input(BUY), FEE_CAP + 1)

    fac_acct = Account.from_key(keccak(b"vault test facilitator"))
    vw.owner.transfer(fac_acct.address, 10**18)
    fac = EvmFacilitator(w3, fac_acct.key, [StableToken(w3, cw.usd.address, load_abis()["StableToken"])])
    req = fac.requirements("exact", cw.usd.address, cw.data, FEED_PRICE)
    payer = PayingClient(
        agent_key, chain.chain_id, cw.usd.address, 10 * FEED_PRICE, wallet=VaultFeedWallet(client, agent_key)
    )
    assert payer.address == client.address and payer.schemes == ("exact", "upto", "verified")
    # not recorded on the vault: the facilitator's simulation finds no ERC-1271 answer
    unrecorded = create_payment(agent_key, req, now=cw.now(), payer=client.address)
    with pytest.raises(E.PaymentSignatureError):
        fac.verify(unrecorded, req)
    p = payer.sign(payer.reserve((req,)))
    a = p.payload.authorization
    assert (a.from_, a.to, a.value) == (client.address, cw.data, FEED_PRICE)
    assert client.state().feed_budget == 2 * FEED_PRICE
    assert fac.verify(p, req) == client.address
    paid = cw.usd.balanceOf(cw.data)
    settled = fac.settle(p, req)
    assert settled.success and settled.payer == client.address
    assert cw.usd.balanceOf(cw.data) == paid + FEED_PRICE
    with pytest.raises(E.PaymentReplayedError):
        fac.verify(p, req)
    # the vault's own limits: a payment over its cap, or to a payee it does not allow
    for over in (fac.requirements("exact", cw.usd.address, cw.data, FEED_CAP + 1),
                 fac.requirements("exact", cw.usd.address, vw.lp.address, FEED_PRICE)):  # fmt: skip
        with pytest.raises(VaultRefusedError, match="payment over the cap|payee not allowed"):
            payer.sign(over)
    with pytest.raises(VaultRefusedError, match="authorization still valid"):
        client.reclaim_feed_payment(agent_key, cw.usd.address, a)
    with pytest.raises(VaultInputError, match="not the vault"):
        client.authorize_feed_payment(agent_key, cw.usd.address, unrecorded.payload.authorization.__class__(
            vw.agent.address, cw.data, 1, 0, cw.now() + 60, bytes(32)))  # fmt: skip


# ---------------------------------------------------------------- upto feeds, refunded fees

MAX_UPTO = 40_000  # an upto feed's maximum (within FEED_CAP)
RECONCILED = b"\xff" * 32


class UptoWorld:
    """CostWorld plus an UptoSettler (no fee vault) the owner allowed on the vault; `fac` is the
    facilitator the payments name (it settles them through the settler)."""

    def __init__(self, cw, project):
        self.cw, self.vw, o = cw, cw.vw, cw.vw.owner
        self.settler = o.deploy(project.UptoSettler)
        self.fac = cw.vw.lp
        cw.vault.setUptoSettler(self.settler, True, sender=o)

    def args(self, **over):
        """authorizeUptoFeedPayment's arguments (`to`: payTo, `value`: the maximum; a fresh salt
        unless given)."""
        now = self.cw.now()
        a = dict(
            token=self.cw.usd.address, settler=self.settler.address, to=self.cw.data,
            facilitator=self.fac.address, salt=keccak(repr(over).encode() + b"upto salt"),
            value=MAX_UPTO, after=now - 600, before=now + 600,
        )  # fmt: skip
        a.update(over)
        return list(a.values())

    def nonce(self, args):
        return bytes(self.settler.uptoNonce(args[2], args[3], args[4]))

    def record(self, args):
        """reconcileUptoPayment's arguments for the payment `args`."""
        token, settler, _, _, _, mx, after, before = args
        return [token, settler, mx, after, before, self.nonce(args)]

    def authorize(self, args):
        return bytes(self.cw.vault.authorizeUptoFeedPayment(*args, sender=self.vw.agent).return_value)

    def settle(self, args, amount):
        token, _, pay_to, _, salt, mx, after, before = args
        v = self.cw.vault
        return self.settler.settle(
            token, v, pay_to, mx, after, before, salt, b"\x01", amount, sender=self.fac
        )

    def expire(self, args):
        self.vw.chain.pending_timestamp = args[-1] + 1
        self.vw.chain.mine(1)


@pytest.fixture(scope="module")
def vault_upto(cost_world, project):
    return UptoWorld(cost_world, project)


def test_the_vault_pays_upto_feeds_and_gets_back_what_they_did_not_charge(vw, cost_world, vault_upto, fresh):
    """authorizeUptoFeedPayment records the ReceiveWithAuthorization of the maximum to the settler
    (nonce = the settler's uptoNonce) and debits the maximum; the settler settles the charge (the
    vault's ERC-1271 answer) and records it; reconcileUptoPayment, by anyone, credits the maximum
    less the charge once; a zero charge returns the whole maximum, and so does an expired
    unsettled payment. An account payer's charge is not recorded."""
    cw, u, v = cost_world, vault_upto, cost_world.vault
    budget = v.feedBudget()
    args = u.args()
    rc = v.authorizeUptoFeedPayment(*args, sender=vw.agent)
    digest, nonce = bytes(rc.return_value), u.nonce(args)
    token, settler, pay_to, fac, salt, mx, after, before = args
    assert digest == cw.digest(token, settler, mx, after, before, nonce, "ReceiveWithAuthorization")
    ev = one_ev(rc, "UptoFeedPaymentAuthorized", v)
    assert (bytes(ev.digest), ev.payee, bytes(ev.nonce), ev.settler, ev.maxValue, ev.validBefore) == (
        digest, pay_to, nonce, settler, mx, before,
    )  # fmt: skip
    assert v.feedBudget() == budget - MAX_UPTO and bytes(v.uptoDigest(nonce)) == digest
    assert v.feedNonceUsed(nonce) and v.feedNonceToken(nonce) == token
    assert bytes(v.isValidSignature(digest, b"")) == bytes.fromhex("1626ba7e")
    reverts("payment still open", v.reconcileUptoPayment, *u.record(args), sender=vw.lp)
    paid, held = cw.usd.balanceOf(cw.data), cw.usd.balanceOf(v)
    u.settle(args, 13_000)
    assert (cw.usd.balanceOf(cw.data), cw.usd.balanceOf(v)) == (paid + 13_000, held - 13_000)
    assert u.settler.settledAmount(token, v, nonce) == 13_000
    rc = v.reconcileUptoPayment(*u.record(args), sender=vw.lp)  # anyone
    assert rc.return_value == MAX_UPTO - 13_000 and v.feedBudget() == budget - 13_000
    ev = one_ev(rc, "UptoPaymentReconciled", v)
    assert (bytes(ev.nonce), ev.settled, ev.charged, ev.credited) == (nonce, True, 13_000, MAX_UPTO - 13_000)
    assert bytes(v.uptoDigest(nonce)) == RECONCILED == bytes(v.RECONCILED())
    assert bytes(v.isValidSignature(digest, b"")) == INVALID
    reverts("payment already reconciled", v.reconcileUptoPayment, *u.record(args), sender=vw.lp)
    # a zero charge: the whole maximum back
    zero = u.args(salt=keccak(b"zero"))
    u.authorize(zero)
    u.settle(zero, 0)
    assert v.reconcileUptoPayment(*u.record(zero), sender=vw.agent).return_value == MAX_UPTO
    # expired unsettled: the whole maximum back; the settler can no longer use it
    late = u.args(salt=keccak(b"late"), before=cw.now() + 30)
    u.authorize(late)
    assert v.feedBudget() == budget - 13_000 - MAX_UPTO
    u.expire(late)
    reverts("authorization is expired", u.settler.settle, *[late[0], v, late[2], MAX_UPTO, late[6], late[7], late[4], b"", 1], sender=u.fac)  # fmt: skip
    assert v.reconcileUptoPayment(*u.record(late), sender=vw.owner).return_value == MAX_UPTO
    assert v.feedBudget() == budget - 13_000
    # an account payer's charge is not stored (a contract payer's is, to be read back)
    from offchain.chain.agent import RECEIVE_WITH_AUTHORIZATION, Authorization, authorization_data, sign

    token, settler, pay_to, _, salt, mx, after, before = eoa = u.args(salt=keccak(b"account"))
    cw.usd.mint(vw.lp, mx, sender=vw.owner)
    auth = Authorization(vw.lp.address, settler, mx, after, before, u.nonce(eoa))
    data = authorization_data(RECEIVE_WITH_AUTHORIZATION, "USD Coin", vw.chain.chain_id, token, auth)
    u.settler.settle(
        token, vw.lp, pay_to, mx, after, before, salt, sign(vw.lp.private_key, data), 13_000, sender=u.fac
    )
    assert (
        cw.usd.authorizationState(vw.lp, auth.nonce)
        and u.settler.settledAmount(token, vw.lp, auth.nonce) == 0
    )


def test_upto_feed_refusals(vw, cost_world, vault_upto, project, fresh):
    cw, u, v, a, o = cost_world, vault_upto, cost_world.vault, vw.agent, vw.owner
    stranger = o.deploy(project.UptoSettler)
    other_token = feed_term_refusals(
        vw, cw, project, v.authorizeUptoFeedPayment, u.args, MAX_UPTO,
        extra=[({"settler": stranger.address}, "settler not allowed")],
    )  # fmt: skip
    v.setFeedBudget(3 * MAX_UPTO, sender=o)
    args = u.args()
    u.authorize(args)
    # the same nonce again, as upto or as exact: refused
    reverts("nonce already used", v.authorizeUptoFeedPayment, *args, sender=a)
    reverts("nonce already used", v.authorizeFeedPayment, *cw.feed_args(nonce=u.nonce(args)), sender=a)
    # reconciliation: an unknown nonce, another token, other terms than recorded
    rec = u.record(args)
    reverts("unknown payment", v.reconcileUptoPayment, *rec[:5], keccak(b"no such"), sender=a)
    reverts("not the payment's token", v.reconcileUptoPayment, other_token.address, *rec[1:], sender=a)
    for i, value in ((1, stranger.address), (2, MAX_UPTO - 1), (3, rec[3] + 1), (4, rec[4] + 1)):
        bad = list(rec)
        bad[i] = value
        reverts("not the recorded payment", v.reconcileUptoPayment, *bad, sender=a)
    reverts("payment still open", v.reconcileUptoPayment, *rec, sender=a)
    # an upto payment is no exact one: reclaimFeedPayment does not know it
    u.expire(args)
    reverts("payment not authorized", v.reclaimFeedPayment, rec[0], rec[1], *rec[2:], sender=a)
    # the owner's settlers
    reverts("not the owner", v.setUptoSettler, stranger, True, sender=a)
    reverts("zero settler", v.setUptoSettler, ZERO, True, sender=o)
    rc = v.setUptoSettler(u.settler, False, sender=o)
    assert (one_ev(rc, "UptoSettlerSet", v).allowed, v.uptoSettler(u.settler)) == (False, False)
    reverts("settler not allowed", v.authorizeUptoFeedPayment, *u.args(), sender=a)


def test_reclaim_binds_the_token(vw, cost_world, project, fresh):
    """reclaimFeedPayment under another token is refused even where the digest would match (a
    contract answering the feed token's DOMAIN_SEPARATOR and an unused nonce)."""
    cw, v, a = cost_world, cost_world.vault, vw.agent
    args = cw.feed_args()
    v.authorizeFeedPayment(*args, sender=a)
    other = vw.owner.deploy(project.StableToken, "Other", "OTH", vw.owner)
    reverts("not the payment's token", v.reclaimFeedPayment, other.address, *args[1:], sender=a)


def test_a_refunded_escrowed_fee_returns_to_the_fee_budget(vw, cost_world, fresh):
    """creditRefundedFee: by anyone, once, for a fee the vault escrowed (its escrow recorded at
    deposit) that the escrow refunded; a held fee is refused, a released one stays spent."""
    cw, v = cost_world, cost_world.vault
    budget = v.feeBudget()
    rc = v.postPolicyTaskEscrowed(vw.input(BUY), ESCROW_FEE, sender=vw.agent)
    eid, deadline = bytes(one_ev(rc, "FeeEscrowed", v).escrowId), one_ev(rc, "FeeEscrowed", v).deadline
    assert v.feeEscrowOf(eid) == cw.escrow.address and v.feeBudget() == budget - ESCROW_FEE
    reverts("fee still held", v.creditRefundedFee, eid, sender=vw.lp)
    reverts("unknown fee escrow", v.creditRefundedFee, keccak(b"no escrow"), sender=vw.lp)
    # a second task, certified and its fee released: stays spent
    payload = vw.input(SELL)
    rc = v.postPolicyTaskEscrowed(payload, ESCROW_FEE, sender=vw.agent)
    h2, eid2 = bytes(rc.return_value), bytes(one_ev(rc, "FeeEscrowed", v).escrowId)
    out = policy.run(payload)
    signers = list(evs(vw.mw.submit(h2, vw.mw.ecdsa(h2, out), result=out), "TaskVerified")[0].signers)
    cw.escrow.release(eid2, signers, sender=vw.lp)
    reverts("fee released", v.creditRefundedFee, eid2, sender=vw.lp)
    # the first, uncertified past its deadline: refunded to the vault, then credited once
    vw.chain.pending_timestamp = deadline + 1
    vw.chain.mine(1)
    cw.escrow.refund(eid, [], sender=vw.lp)
    rc = v.creditRefundedFee(eid, sender=vw.lp)
    assert rc.return_value == ESCROW_FEE and v.feeBudget() == budget - ESCROW_FEE
    assert (bytes(one_ev(rc, "FeeRefundCredited", v).escrowId), one_ev(rc, "FeeRefundCredited", v).amount) == (
        eid, ESCROW_FEE,
    )  # fmt: skip
    assert v.feeRefundCredited(eid) and v.feeEscrowOf(eid) == ZERO
    reverts("fee already credited", v.creditRefundedFee, eid, sender=vw.lp)


@settings(
    max_examples=4 if eigen_settings.hypothesis_profile() == "ci" else 25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    payments=st.lists(
        st.tuples(st.integers(1, FEED_CAP), st.one_of(st.none(), st.floats(0, 1))), min_size=1, max_size=3
    )
)
def test_property_the_feed_budget_is_what_was_set_less_what_was_charged(vw, cost_world, vault_upto, payments):
    """Random upto payments (maxima within the cap, each settled at a random fraction of it or
    left to expire), all reconciled: after each step the feed budget is at most what the owner set
    less what the settlements charged so far, and at the end exactly that."""
    cw, u, v, chain = cost_world, vault_upto, cost_world.vault, vw.chain
    snap = chain.snapshot()
    try:
        budget = FEED_CAP * len(payments)
        v.setFeedBudget(budget, sender=vw.owner)
        charged, done = 0, []
        for i, (mx, frac) in enumerate(payments):
            args = u.args(salt=keccak(b"prop %d" % i), value=mx, before=cw.now() + 100)
            u.authorize(args)
            if frac is not None:
                u.settle(args, int(mx * frac))
                charged += int(mx * frac)
            done.append(args)
            assert v.feedBudget() <= budget - charged
        u.expire(done[-1])
        for args in done:
            v.reconcileUptoPayment(*u.record(args), sender=vw.lp)
            assert v.feedBudget() <= budget - charged
        assert v.feedBudget() == budget - charged
    finally:
        chain.restore(snap)


def test_client_vault_pays_an_upto_feed_end_to_end(vw, cost_world, vault_upto, chain, fresh):
    """The Python side of upto: a PayingClient whose wallet is the vault pays a priced route's
    upto offer (the payment middleware, the EvmFacilitator settling through the settler with the
    vault as an ERC-1271 payer); the wallet reconciles at once, so the feed budget falls by exactly
    the charge. An unrecorded upto payment is PaymentSignatureError at the facilitator; a recorded
    one never sent, and an exact one never settled, return whole by the wallet's reconcile once
    expired; a refunded escrowed fee returns to the fee budget by credit_refunded_fee."""
    from dataclasses import replace

    from eth_account import Account
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from offchain.agent import errors as E
    from offchain.agent.client import PayingClient
    from offchain.agent.evm import EvmFacilitator, create_payment
    from offchain.agent.facilitator import LocalFacilitator
    from offchain.agent.server import PaymentMiddleware, PricedRoute
    from offchain.agent.vault import AgentVault, VaultFeedWallet
    from offchain.chain.agent import Settler, StableToken
    from offchain.chain.sdk import load_abis
    from offchain.httpservice import ServiceServer

    cw, u = cost_world, vault_upto
    w3, abis, agent_key = chain.provider.web3, load_abis(), vw.agent.private_key
    client = AgentVault(w3, cw.vault.address)
    fac_acct = Account.from_key(keccak(b"vault upto facilitator"))
    vw.owner.transfer(fac_acct.address, 10**18)
    fac = EvmFacilitator(
        w3, fac_acct.key, [StableToken(w3, cw.usd.address, abis["StableToken"])],
        Settler(w3, u.settler.address, abis["UptoSettler"]),
    )  # fmt: skip
    per_token = 100
    offer = fac.requirements("upto", cw.usd.address, cw.data, MAX_UPTO)

    async def infer(request: Request) -> JSONResponse:
        tokens = int((await request.json())["tokens"])
        PaymentMiddleware.payment(request).charge = tokens * per_token
        return JSONResponse({"tokens": tokens})

    app = PaymentMiddleware(
        Starlette(routes=[Route("/infer", infer, methods=["POST"])]),
        [PricedRoute("/infer", (offer,), "POST", "inference")],
        LocalFacilitator(fac),
    )
    wallet = VaultFeedWallet(client, agent_key)
    payer = PayingClient(
        agent_key,
        chain.chain_id,
        cw.usd.address,
        10 * MAX_UPTO,
        wallet=wallet,
        clock=cw.now,
        schemes=("upto",),
    )
    budget, paid = 3 * MAX_UPTO, cw.usd.balanceOf(cw.data)
    client.set_feed_budget(vw.owner.private_key, budget)
    with ServiceServer(app, log_level="warning") as srv:
        r = payer.post(srv.url + "/infer", json={"tokens": 37})
    assert r.status_code == 200 and r.json()["tokens"] == 37
    assert payer.spent == 37 * per_token and payer.receipts[0].settlement.payer == client.address
    assert cw.usd.balanceOf(cw.data) == paid + 37 * per_token
    assert cw.vault.feedBudget() == budget - 37 * per_token and wallet.pending == 0
    # not recorded on the vault: the facilitator's simulation finds no ERC-1271 answer
    unrecorded = create_payment(agent_key, offer, now=cw.now(), payer=client.address)
    with pytest.raises(E.PaymentSignatureError):
        fac.verify(unrecorded, offer)
    # a nonce that is not the upto nonce of its terms: refused before sending
    a = unrecorded.payload.authorization
    with pytest.raises(VaultInputError, match="upto nonce"):
        client.authorize_upto_feed_payment(agent_key, cw.usd.address, a, cw.data, vw.lp.address, bytes(32))
    # recorded, never sent (an upto and an exact one): nothing to reconcile until they expire
    p_upto = payer.sign(offer)
    p_exact = payer.sign(fac.requirements("exact", cw.usd.address, cw.data, FEED_PRICE))
    assert fac.verify(p_upto, offer) == client.address and wallet.pending == 2
    assert cw.vault.feedBudget() == budget - 37 * per_token - MAX_UPTO - FEED_PRICE
    assert wallet.reconcile() == 0 and wallet.settled(p_upto) == 0 and wallet.pending == 2
    with pytest.raises(VaultInputError, match="not 'permit'"):
        wallet.authorize(replace(offer, scheme="permit"), p_upto)
    with pytest.raises(VaultInputError, match="not a verified offer"):
        wallet.authorize(replace(offer, scheme="verified"), p_upto)
    vw.chain.pending_timestamp = max(p.payload.authorization.valid_before for p in (p_upto, p_exact)) + 1
    vw.chain.mine(1)
    assert wallet.reconcile() == MAX_UPTO + FEED_PRICE and wallet.pending == 0
    assert cw.vault.feedBudget() == budget - 37 * per_token
    with pytest.raises(VaultRefusedError, match="payment already reconciled"):
        client.reconcile_upto_payment(agent_key, cw.usd.address, p_upto.payload.authorization)
    # an escrowed fee refunded: back in the fee budget, once
    fee_budget = cw.vault.feeBudget()
    _, eid = client.post_task_escrowed(agent_key, vw.input(BUY), ESCROW_FEE)
    vw.chain.pending_timestamp = cw.now() + FEE_DEADLINE + 1
    vw.chain.mine(1)
    cw.escrow.refund(eid, [], sender=vw.lp)
    assert client.credit_refunded_fee(vw.lp.private_key, eid) == ESCROW_FEE
    assert cw.vault.feeBudget() == fee_budget
    with pytest.raises(VaultRefusedError, match="fee already credited"):
        client.credit_refunded_fee(agent_key, eid)
