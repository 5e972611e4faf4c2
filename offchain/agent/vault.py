"""A client of the trading agent's vault (contracts/agent/AgentVault.vy; docs/agent.md, *The agent's
vault: funds move only on a certified order*): deploy one, post a policy task through it, execute a
certified order, and read its state, over web3.

The client checks what it can before sending (the input is a policy input of the vault's terms, the
result an order for that input), so most mistakes are a :class:`VaultInputError` with nothing sent;
whatever the contract still refuses is a :class:`VaultRefusedError` carrying the contract's revert
reason (``reason``), read by simulating the call first.

The vault also pays its running costs within the owner's limits (docs/agent.md, *The vault pays its
running costs*): :meth:`AgentVault.post_task_escrowed` posts a task and pays its fee into
VerifiedEscrow from the vault in one transaction (:meth:`AgentVault.credit_refunded_fee` returns a
refunded one to the fee budget), and :class:`VaultFeedWallet` makes the vault the payer of x402
``exact``, ``upto`` and ``verified`` payments (a contract payer: the agent's key records each
payment with ``authorizeFeedPayment``, ``authorizeUptoFeedPayment`` or
``authorizeVerifiedPayment``, the vault answers ERC-1271 for it when the facilitator settles; what
an ``upto`` settlement did not charge returns to the feed budget by ``reconcileUptoPayment``, a
``verified`` payment its escrow refunded by ``creditRefundedPayment``, one never settled by
``reclaimFeedPayment`` once expired). The wallet's open payments survive a restart:
:meth:`VaultFeedWallet.recover` rebuilds them from the vault's authorization events and its state.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from offchain.agent.errors import VaultError, VaultInputError, VaultRefusedError, X402Error
from offchain.agent.x402 import EscrowTerms
from offchain.chain import sdk
from offchain.chain.agent import Authorization, Sender, escrow_id, upto_nonce
from offchain.chain.errors import ChainInputError, ChainRevertError
from offchain.compute import trading_policy as policy
from offchain.compute.errors import PolicyInputError, PolicyOutputError

GAS_MARGIN = 1.3
ZERO = "0x" + "00" * 20
_ERC20_ABI = [
    {
        "name": name,
        "type": "function",
        "stateMutability": "view" if name == "balanceOf" else "nonpayable",
        "inputs": [{"name": n, "type": t} for n, t in inputs],
        "outputs": [{"name": "", "type": "uint256" if name == "balanceOf" else "bool"}],
    }
    for name, inputs in (
        ("balanceOf", (("who", "address"),)),
        ("approve", (("spender", "address"), ("amount", "uint256"))),
    )
] + [
    {
        "name": "authorizationState",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "authorizer", "type": "address"}, {"name": "nonce", "type": "bytes32"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]
RECONCILED = b"\xff" * 32  # the vault's uptoDigest of a reconciled upto payment
# the vault's refusals that mean a payment is squared already (nothing more to credit): exact and
# upto payments', verified ones' (reclaimed already: "payment not authorized")
_CLOSED = (
    ("payment settled", "payment already reconciled", "payment not authorized"),
    ("payment released", "payment already credited", "payment not authorized"),
)


def artifact(source: Path | str | None = None) -> tuple[list[dict[str, Any]], str]:
    """(ABI, deployment bytecode) of AgentVault from ape's artifacts (default ``.build/__local__.json``)."""
    p = Path(source) if source is not None else sdk.BUILD_ARTIFACTS
    try:
        ct = json.loads(p.read_text())["contractTypes"]["AgentVault"]
        return ct["abi"], ct["deploymentBytecode"]["bytecode"]
    except FileNotFoundError:
        raise VaultError(f"no compiled contracts at {p}: run `ape compile` first") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VaultError(f"the compiled artifacts {p} hold no AgentVault: {exc}") from None


@dataclass(frozen=True)
class VaultTerms:
    """What a vault fixes at creation (its constructor's arguments, in order)."""

    mailbox: str
    task_type: int
    pool: str
    strategy_hash: bytes
    max_buy: int
    max_sell: int
    slippage_bips: int
    max_task_age: int
    min_trade_interval: int
    agent: str

    @classmethod
    def for_strategy(
        cls,
        strategy: Any,
        *,
        mailbox: str,
        task_type: int,
        pool: str,
        agent: str,
        max_task_age: int,
        min_trade_interval: int,
    ) -> VaultTerms:
        """The terms of a vault for a declared ``trading.Strategy``: its hash, limits and slippage."""
        return cls(
            mailbox,
            task_type,
            pool,
            strategy.hash(),
            strategy.max_buy_usdc,
            strategy.max_sell_asset,
            strategy.slippage_bips,
            max_task_age,
            min_trade_interval,
            agent,
        )

    def args(self) -> tuple[Any, ...]:
        return (
            to_checksum_address(self.mailbox),
            self.task_type,
            to_checksum_address(self.pool),
            self.strategy_hash,
            self.max_buy,
            self.max_sell,
            self.slippage_bips,
            self.max_task_age,
            self.min_trade_interval,
            to_checksum_address(self.agent),
        )


@dataclass(frozen=True)
class VaultState:
    """A vault as the chain has it now."""

    address: str
    owner: str
    agent: str
    terms: VaultTerms
    token0: str
    token1: str
    pool_fee_bips: int
    balance0: int
    balance1: int
    fee_budget: int
    next_trade_block: int
    fee_escrow: str = ZERO
    escrow_payee: str = ZERO
    max_escrow_fee: int = 0
    escrow_deadline: int = 0
    feed_token: str = ZERO
    max_feed_payment: int = 0
    feed_budget: int = 0


# VaultState's fields after the balances, in order: the vault's getters
_STATE_GETTERS = (
    "feeBudget", "nextTradeBlock", "feeEscrow", "escrowPayee", "maxEscrowFee", "escrowDeadline",
    "feedToken", "maxFeedPayment", "feedBudget",
)  # fmt: skip


@dataclass(frozen=True)
class Execution:
    """What :meth:`AgentVault.execute` did: the certified order and, for a trade, what it received."""

    task_hash: bytes
    action: str
    amount_in: int
    min_out: int
    amount_out: int
    tx: bytes


class AgentVault:
    """A web3 handle on one AgentVault."""

    def __init__(self, w3: Web3, address: str, abi: list[dict[str, Any]] | None = None) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi if abi is not None else artifact()[0])

    # ---- deploy and read

    @classmethod
    def deploy(
        cls, w3: Web3, owner_key: Any, terms: VaultTerms, source: Path | str | None = None
    ) -> AgentVault:
        """Deploy a vault owned by `owner_key`'s account with `terms`; refusals are VaultRefusedError."""
        abi, code = artifact(source)
        owner = Account.from_key(owner_key)
        ctor = w3.eth.contract(abi=abi, bytecode=code).constructor(*terms.args())
        try:
            gas = int(ctor.estimate_gas({"from": owner.address}) * GAS_MARGIN)
        except (ContractLogicError, ValueError) as exc:
            raise VaultRefusedError(_reason(exc)) from None
        tx = ctor.build_transaction(
            {
                "from": owner.address,
                "nonce": w3.eth.get_transaction_count(owner.address, "pending"),
                "gas": gas,
            }
        )
        h = w3.eth.send_raw_transaction(owner.sign_transaction(tx).raw_transaction)
        rc = w3.eth.wait_for_transaction_receipt(h, sdk.TX_TIMEOUT_S, poll_latency=0.05)
        if rc["status"] != 1:
            raise VaultRefusedError("deployment reverted")
        return cls(w3, rc["contractAddress"], abi)

    def terms(self) -> VaultTerms:
        f = self.contract.functions
        return VaultTerms(
            f.mailbox().call(),
            f.taskType().call(),
            f.pool().call(),
            bytes(f.strategyHash().call()),
            f.maxBuy().call(),
            f.maxSell().call(),
            f.slippageBips().call(),
            f.maxTaskAge().call(),
            f.minTradeInterval().call(),
            f.agent().call(),
        )

    def state(self) -> VaultState:
        f = self.contract.functions
        t0, t1 = f.token0().call(), f.token1().call()
        return VaultState(
            self.address,
            f.owner().call(),
            f.agent().call(),
            self.terms(),
            t0,
            t1,
            f.poolFeeBips().call(),
            self._erc20(t0).functions.balanceOf(self.address).call(),
            self._erc20(t1).functions.balanceOf(self.address).call(),
            *(getattr(f, name)().call() for name in _STATE_GETTERS),
        )

    def executed(self, task_hash: bytes) -> bool:
        return bool(self.contract.functions.executed(task_hash).call())

    # ---- what the client checks before sending

    def check_input(self, payload: bytes) -> policy.PolicyInput:
        """The payload as a policy input of this vault's terms (strategy, limits, slippage, pool's
        tokens and fee); anything else is VaultInputError."""
        try:
            p = policy.PolicyInput.decode(payload)
        except PolicyInputError as exc:
            raise VaultInputError(f"not a policy input: {exc}") from None
        st = self.state()
        t = st.terms
        for what, got, want in (
            ("strategy hash", p.strategy_hash, t.strategy_hash),
            ("buy limit", p.max_buy, t.max_buy),
            ("sell limit", p.max_sell, t.max_sell),
            ("slippage", p.slippage_bips, t.slippage_bips),
            ("token0", to_checksum_address(p.token0), st.token0),
            ("token1", to_checksum_address(p.token1), st.token1),
            ("pool fee", p.fee_bips, st.pool_fee_bips),
        ):
            if got != want:
                raise VaultInputError(f"the input's {what} is not the vault's ({got!r}, not {want!r})")
        return p

    # ---- the agent

    def post_task(self, agent_key: Any, payload: bytes, *, from_vault: bool = True) -> bytes:
        """Post `payload` as a policy task through the vault, paying the task type's fee from the
        vault's fee budget (`from_vault`) or from the agent (approved to the vault here); the task
        hash. Call it in the block whose reserves the payload carries (the contract checks them)."""
        self.check_input(payload)
        agent = Account.from_key(agent_key)
        mailbox = self.w3.eth.contract(
            address=self.terms().mailbox, abi=sdk.load_abis()["TaskMailbox"]
        ).functions
        tt = mailbox.taskTypes(self.terms().task_type).call()
        token, fee = tt[3], tt[4]
        sender = Sender(self.w3, agent_key)
        if fee and not from_vault:
            self._send(sender, self._erc20(token).functions.approve(self.address, fee))
        fn = self.contract.functions.postPolicyTask(payload, fee, from_vault)
        task_hash = bytes(self._simulate(fn, agent.address))
        rc = self._send(sender, fn)
        (ev,) = self.contract.events.PolicyTaskPosted().process_receipt(rc, errors=DISCARD)
        if bytes(ev.args.taskHash) != task_hash:  # another transaction came between: read the event's
            task_hash = bytes(ev.args.taskHash)
        return task_hash

    def post_task_escrowed(self, agent_key: Any, payload: bytes, fee: int) -> tuple[bytes, bytes]:
        """Post `payload` as a policy task (its type charging nothing on the mailbox) and pay its
        `fee` into the vault's VerifiedEscrow from the vault, in one transaction: (task hash, escrow
        id). The vault's terms fix the escrow, the payee, the cap and the refund deadline; a refund
        returns to the vault."""
        self.check_input(payload)
        agent = Account.from_key(agent_key)
        fn = self.contract.functions.postPolicyTaskEscrowed(payload, fee)
        self._simulate(fn, agent.address)
        rc = self._send(Sender(self.w3, agent_key), fn)
        (ev,) = self.contract.events.FeeEscrowed().process_receipt(rc, errors=DISCARD)
        return bytes(ev.args.taskHash), bytes(ev.args.escrowId)

    def authorize_feed_payment(self, agent_key: Any, token: str, auth: Authorization) -> bytes:
        """Record the EIP-3009 TransferWithAuthorization `auth` (from this vault) on `token` as one
        the vault signs (ERC-1271), its value debited from the feed budget now; its digest. An
        authorization from another payer is VaultInputError (nothing sent)."""
        if to_checksum_address(auth.from_) != self.address:
            raise VaultInputError(f"the authorization is from {auth.from_}, not the vault {self.address}")
        return bytes(self._feed_call("authorizeFeedPayment", agent_key, token, auth))

    def reclaim_feed_payment(self, key: Any, token: str, auth: Authorization) -> int:
        """Return the recorded payment `auth` on `token` (exact, or verified: ``auth.to`` its
        escrow), expired unsettled, to the feed budget (sent by the owner's or the agent's `key`);
        the feed budget after it."""
        return int(self._feed_call("reclaimFeedPayment", key, token, auth))

    def authorize_upto_feed_payment(
        self, agent_key: Any, token: str, auth: Authorization, pay_to: str, facilitator: str, salt: bytes
    ) -> bytes:
        """Record the EIP-3009 ReceiveWithAuthorization `auth` (from this vault, to the settler
        ``auth.to``, for the maximum ``auth.value``) of an x402 upto payment to `pay_to` that
        `facilitator` settles, its nonce made of `salt`; the maximum is debited from the feed budget
        now; its digest. An authorization from another payer, or whose nonce is not
        ``uptoNonce(pay_to, facilitator, salt)``, is VaultInputError (nothing sent)."""
        self._check_nonce(
            auth,
            lambda: upto_nonce(to_checksum_address(pay_to), to_checksum_address(facilitator), salt),
            "upto nonce of its payee, facilitator and salt",
        )
        fn = self.contract.functions.authorizeUptoFeedPayment(
            to_checksum_address(token), to_checksum_address(auth.to), to_checksum_address(pay_to),
            to_checksum_address(facilitator), salt, auth.value, auth.valid_after, auth.valid_before,
        )  # fmt: skip
        return bytes(self._call(fn, agent_key))

    def _check_nonce(self, auth: Authorization, nonce_of: Any, what: str) -> None:
        # the authorization is from this vault and its nonce is nonce_of() (`what`), else VaultInputError
        if to_checksum_address(auth.from_) != self.address:
            raise VaultInputError(f"the authorization is from {auth.from_}, not the vault {self.address}")
        try:
            nonce = nonce_of()
        except ChainInputError as exc:
            raise VaultInputError(str(exc)) from None
        if nonce != auth.nonce:
            raise VaultInputError(f"the authorization's nonce is not the {what}")

    def reconcile_upto_payment(self, key: Any, token: str, auth: Authorization) -> int:
        """Return what the recorded upto payment `auth` on `token` did not spend to the feed
        budget (any `key` may send it): the maximum less the charge once settled, the maximum once
        expired unsettled; the amount credited."""
        fn = self.contract.functions.reconcileUptoPayment(
            to_checksum_address(token), to_checksum_address(auth.to), auth.value, auth.valid_after,
            auth.valid_before, auth.nonce,
        )  # fmt: skip
        return int(self._call(fn, key))

    def authorize_verified_payment(
        self, agent_key: Any, token: str, auth: Authorization, pay_to: str, terms: EscrowTerms, salt: bytes
    ) -> bytes:
        """Record the EIP-3009 ReceiveWithAuthorization `auth` (from this vault, to the escrow
        ``terms.escrow``) of an x402 verified payment to `pay_to` on `terms` (the work, expected
        result and refund deadline), its nonce made of `salt`; the value is debited from the feed
        budget now; its digest. An authorization from another payer, to another escrow, or whose
        nonce is not the escrow nonce of `pay_to`, `terms` and `salt`, is VaultInputError (nothing
        sent)."""
        if to_checksum_address(auth.to) != to_checksum_address(terms.escrow):
            raise VaultInputError(f"a verified authorization pays the escrow {terms.escrow}, not {auth.to}")
        self._check_nonce(
            auth,
            lambda: terms.nonce(to_checksum_address(pay_to), salt),
            "escrow nonce of its payee, terms and salt",
        )
        fn = self.contract.functions.authorizeVerifiedPayment(
            to_checksum_address(token), to_checksum_address(terms.escrow), to_checksum_address(pay_to),
            *terms.condition(), salt, auth.value, auth.valid_after, auth.valid_before,
        )  # fmt: skip
        return bytes(self._call(fn, agent_key))

    def credit_refunded_payment(self, key: Any, escrow_id: bytes) -> int:
        """Return the verified payment whose escrow id is `escrow_id` (one
        :meth:`authorize_verified_payment` recorded), once its escrow refunded it to the vault, to
        the feed budget (any `key` may send it); the amount credited."""
        return int(self._call(self.contract.functions.creditRefundedPayment(escrow_id), key))

    def credit_refunded_fee(self, key: Any, escrow_id: bytes) -> int:
        """Return the escrowed policy fee `escrow_id` (one :meth:`post_task_escrowed` paid), once
        its escrow refunded it, to the fee budget (any `key` may send it); the amount credited."""
        return int(self._call(self.contract.functions.creditRefundedFee(escrow_id), key))

    def _feed_call(self, name: str, key: Any, token: str, auth: Authorization) -> Any:
        # a function taking (token, to, value, validAfter, validBefore, nonce)
        fn = getattr(self.contract.functions, name)(
            to_checksum_address(token), to_checksum_address(auth.to), auth.value, auth.valid_after,
            auth.valid_before, auth.nonce,
        )  # fmt: skip
        return self._call(fn, key)

    def _call(self, fn: Any, key: Any) -> Any:
        # simulate (its return value), then send
        out = self._simulate(fn, Account.from_key(key).address)
        self._send(Sender(self.w3, key), fn)
        return out

    def is_valid_signature(self, digest: bytes) -> bool:
        """Whether the vault answers the ERC-1271 magic value for `digest` now."""
        return bytes(self.contract.functions.isValidSignature(digest, b"").call()) == ERC1271_MAGIC

    def execute(self, agent_key: Any, task_hash: bytes, payload: bytes, result: bytes) -> Execution:
        """Execute the certified `result` of the task `task_hash` on `payload`: a trade or, for HOLD,
        the task spent. A result that is not an order for `payload` is VaultInputError (nothing sent)."""
        try:
            bound, d = policy.Decision.decode(result)
        except PolicyOutputError as exc:
            raise VaultInputError(f"the result is not an order: {exc}") from None
        if bound != keccak(payload):
            raise VaultInputError("the result is the order of another input")
        agent = Account.from_key(agent_key)
        fn = self.contract.functions.execute(task_hash, payload, result)
        self._simulate(fn, agent.address)
        rc = self._send(Sender(self.w3, agent_key), fn)
        out = 0
        for ev in self.contract.events.Traded().process_receipt(rc, errors=DISCARD):
            out = ev.args.amountOut
        return Execution(task_hash, d.action, d.amount_in, d.min_out, out, bytes(rc["transactionHash"]))

    # ---- the owner

    def deposit(self, owner_key: Any, token: str, amount: int) -> bytes:
        """Approve and deposit `amount` of `token` from the owner."""
        sender = Sender(self.w3, owner_key)
        self._send(sender, self._erc20(token).functions.approve(self.address, amount))
        return self._checked(sender, self.contract.functions.deposit(to_checksum_address(token), amount))

    def withdraw(self, owner_key: Any, token: str, amount: int, to: str) -> bytes:
        fn = self.contract.functions.withdraw(to_checksum_address(token), amount, to_checksum_address(to))
        return self._checked(Sender(self.w3, owner_key), fn)

    def set_agent(self, owner_key: Any, agent: str) -> bytes:
        return self._checked(
            Sender(self.w3, owner_key), self.contract.functions.setAgent(to_checksum_address(agent))
        )

    def set_fee_budget(self, owner_key: Any, budget: int) -> bytes:
        return self._checked(Sender(self.w3, owner_key), self.contract.functions.setFeeBudget(budget))

    def set_fee_escrow(self, owner_key: Any, escrow: str, payee: str, max_fee: int, deadline_s: int) -> bytes:
        """The terms of :meth:`post_task_escrowed` (a zero escrow turns it off). `payee` may be the
        escrow's mailbox: each task's fee then goes to the operators that certify it, pro rata to
        the stake each signed with, as mailbox fees (``VerifiedEscrow.releaseToCertifiers``)."""
        fn = self.contract.functions.setFeeEscrow(
            to_checksum_address(escrow), to_checksum_address(payee), max_fee, deadline_s
        )
        return self._checked(Sender(self.w3, owner_key), fn)

    def set_feed_terms(self, owner_key: Any, token: str, max_payment: int) -> bytes:
        fn = self.contract.functions.setFeedTerms(to_checksum_address(token), max_payment)
        return self._checked(Sender(self.w3, owner_key), fn)

    def set_feed_payee(self, owner_key: Any, payee: str, allowed: bool = True) -> bytes:
        fn = self.contract.functions.setFeedPayee(to_checksum_address(payee), allowed)
        return self._checked(Sender(self.w3, owner_key), fn)

    def set_feed_budget(self, owner_key: Any, budget: int) -> bytes:
        return self._checked(Sender(self.w3, owner_key), self.contract.functions.setFeedBudget(budget))

    def set_upto_settler(self, owner_key: Any, settler: str, allowed: bool = True) -> bytes:
        """Allow (or stop allowing) upto feed payments through `settler` (an UptoSettler)."""
        fn = self.contract.functions.setUptoSettler(to_checksum_address(settler), allowed)
        return self._checked(Sender(self.w3, owner_key), fn)

    def set_verified_escrow(self, owner_key: Any, escrow: str, allowed: bool = True) -> bytes:
        """Allow (or stop allowing) verified payments into `escrow` (a VerifiedEscrow)."""
        fn = self.contract.functions.setVerifiedEscrow(to_checksum_address(escrow), allowed)
        return self._checked(Sender(self.w3, owner_key), fn)

    # ---- plumbing

    def _erc20(self, token: str) -> Any:
        return self.w3.eth.contract(address=to_checksum_address(token), abi=_ERC20_ABI)

    def _simulate(self, fn: Any, sender: str) -> Any:
        try:
            return fn.call({"from": sender})
        except Exception as exc:  # noqa: BLE001 - web3 raises several types for a reverted call
            raise VaultRefusedError(_reason(exc)) from None

    def _send(self, sender: Sender, fn: Any) -> Any:
        try:
            gas = int(fn.estimate_gas({"from": sender.address}) * GAS_MARGIN)
        except (ContractLogicError, ValueError) as exc:
            raise VaultRefusedError(_reason(exc)) from None
        try:
            tx = sender.send(fn, gas=gas)
        except ChainRevertError as exc:
            raise VaultRefusedError(str(exc)) from None
        return self.w3.eth.get_transaction_receipt(tx)

    def _checked(self, sender: Sender, fn: Any) -> bytes:
        self._simulate(fn, sender.address)
        return bytes(self._send(sender, fn)["transactionHash"])


ERC1271_MAGIC = bytes.fromhex("1626ba7e")


class VaultFeedWallet:
    """The vault as an x402 payer (offchain.agent.client.PayingClient's `wallet`) of ``exact``,
    ``upto`` and ``verified`` offers: payments are from the vault's address, signed by the agent's
    key, and each is recorded on the vault (:meth:`AgentVault.authorize_feed_payment`,
    :meth:`AgentVault.authorize_upto_feed_payment`, :meth:`AgentVault.authorize_verified_payment`)
    before it is sent, so the vault answers ERC-1271 for exactly it when the facilitator settles.
    The vault refusing one is VaultRefusedError. The wallet remembers what it recorded until the
    budget is squared: :meth:`settled` (the client calls it after a settlement) reconciles an upto
    payment at once, :meth:`reconcile` reconciles every upto payment settled or expired, reclaims
    every exact or verified one that expired unsettled and credits back every verified one its
    escrow refunded. :meth:`recover` rebuilds what a wallet of the same vault remembered (after a
    restart) from the chain."""

    schemes = ("exact", "upto", "verified")

    def __init__(self, vault: AgentVault, agent_key: Any) -> None:
        self.vault = vault
        self.agent_key = agent_key
        self._lock = threading.Lock()
        self._pending: dict[bytes, tuple[str, str, Authorization]] = {}  # nonce -> (scheme, token, auth)

    @property
    def address(self) -> str:
        return self.vault.address

    @property
    def pending(self) -> int:
        """How many recorded payments still hold part of the feed budget."""
        with self._lock:
            return len(self._pending)

    def authorize(self, req: Any, payload: Any) -> bytes:
        """Record the payment `payload` of the offer `req` on the vault; its digest."""
        a, salt = payload.payload.authorization, payload.payload.salt
        if req.scheme == "upto":
            digest = self.vault.authorize_upto_feed_payment(
                self.agent_key, req.asset, a, req.pay_to, req.extra_address("facilitator"), salt
            )
        elif req.scheme == "exact":
            digest = self.vault.authorize_feed_payment(self.agent_key, req.asset, a)
        elif req.scheme == "verified":
            try:
                terms = EscrowTerms.of(req)
            except X402Error as exc:
                raise VaultInputError(f"not a verified offer: {exc}") from None
            digest = self.vault.authorize_verified_payment(
                self.agent_key, req.asset, a, req.pay_to, terms, salt
            )
        else:
            raise VaultInputError(f"the vault pays exact, upto and verified offers, not {req.scheme!r}")
        with self._lock:
            self._pending[a.nonce] = (req.scheme, req.asset, a)
        return digest

    def settled(self, payload: Any) -> int:
        """After the settlement of `payload`: an upto payment is reconciled now (the amount
        credited back), an exact one is forgotten (0), a verified one stays until its escrow
        releases or refunds it (0). One the vault will not reconcile yet (its settlement not on
        chain after all) stays for :meth:`reconcile` (0): the paid response is not lost to a
        refusal here."""
        nonce = payload.payload.authorization.nonce
        with self._lock:
            entry = self._pending.get(nonce)
            if entry is None or entry[0] == "verified":
                return 0
            del self._pending[nonce]
        scheme, token, auth = entry
        if scheme == "exact":
            return 0
        try:
            return self.vault.reconcile_upto_payment(self.agent_key, token, auth)
        except VaultRefusedError:
            with self._lock:
                self._pending[nonce] = entry
            return 0

    def reconcile(self) -> int:
        """Square the feed budget for every recorded payment that can be: upto ones settled or
        expired (reconcileUptoPayment), exact and verified ones expired unsettled
        (reclaimFeedPayment; a settled exact one is forgotten), verified ones their escrow
        refunded (creditRefundedPayment; a released one is forgotten). Those still open (on the
        chain's clock, or held in escrow) stay; the total credited back."""
        with self._lock:
            entries = list(self._pending.items())
        credited = 0
        for nonce, (scheme, token, auth) in entries:
            got = self._square(scheme, token, auth)
            if got is None:
                continue  # still open
            credited += got
            with self._lock:
                self._pending.pop(nonce, None)
        return credited

    def _square(self, scheme: str, token: str, auth: Authorization) -> int | None:
        # what squaring one payment credited (0: nothing to credit), None while it is still open
        v, key = self.vault, self.agent_key
        try:
            if scheme == "upto":
                return v.reconcile_upto_payment(key, token, auth)
            if scheme == "verified":
                try:
                    return v.credit_refunded_payment(key, escrow_id(token, v.address, auth.nonce))
                except VaultRefusedError as exc:
                    if exc.reason != "payment not deposited":
                        raise
            v.reclaim_feed_payment(key, token, auth)
            return auth.value
        except VaultRefusedError as exc:
            # still open: "payment still open", "authorization still valid", "payment still held",
            # and a verified payment's "payment settled" (its deposit is on its way)
            return 0 if exc.reason in _CLOSED[scheme == "verified"] else None

    def recover(self, from_block: int = 0) -> int:
        """Rebuild the open payments from the chain (after a restart): every payment the vault's
        authorization events (FeedPaymentAuthorized, UptoFeedPaymentAuthorized,
        VerifiedPaymentAuthorized) recorded since `from_block` that still holds part of the feed
        budget (an exact one neither settled nor reclaimed, an upto one not reconciled, a
        verified one neither credited back nor reclaimed), with its token as the vault recorded
        it; :meth:`reconcile` then squares the budget as this wallet would have without the
        restart. Payments it remembers already are kept; how many it added."""
        v = self.vault
        f, events = v.contract.functions, v.contract.events
        found: dict[bytes, tuple[str, str, Authorization]] = {}
        for scheme, event, to_field, value_field in (
            ("exact", events.FeedPaymentAuthorized, "payee", "value"),
            ("upto", events.UptoFeedPaymentAuthorized, "settler", "maxValue"),
            ("verified", events.VerifiedPaymentAuthorized, "escrow", "value"),
        ):
            for log in event().get_logs(from_block=from_block):
                e = log["args"]
                nonce = bytes(e["nonce"])
                token = f.feedNonceToken(nonce).call()
                auth = Authorization(
                    v.address, e[to_field], e[value_field], e["validAfter"], e["validBefore"], nonce
                )
                if scheme == "exact":
                    used = v._erc20(token).functions.authorizationState(v.address, nonce).call()
                    open_ = f.feedAuthorized(e["digest"]).call() and not used
                elif scheme == "upto":
                    open_ = bytes(f.uptoDigest(nonce).call()) != RECONCILED
                else:
                    open_ = (
                        f.feedAuthorized(e["digest"]).call()
                        and not f.paymentRefundCredited(e["escrowId"]).call()
                    )
                if open_:
                    found[nonce] = (scheme, token, auth)
        with self._lock:
            added = [n for n in found if n not in self._pending]
            for n in added:
                self._pending[n] = found[n]
        return len(added)


def _reason(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    return str(msg).removeprefix("execution reverted: ").strip() or "no reason given"
