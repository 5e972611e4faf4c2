"""The verifiable trading agent (docs/agent.md, *The verifiable trading agent*).

One step of the agent, every part of it evidence that someone else can check:

1. **Feed.** It buys a market-data feed from a data agent over x402 (``exact`` in the stablecoin):
   the AMM's reserves at a block and a scripted reference price, signed by the data agent's key
   (:func:`data_agent_app`, :func:`check_feed`), with the state proof of those reserves at that block
   (:func:`prove_feed`), which the agent checks against the block's hash before it uses the feed
   (:func:`check_feed_state`): a data agent cannot sell reserves the pool did not have.
2. **Prompt.** The prompt is a pure function of the declared :class:`Strategy` (a fixed text with
   risk limits, whose hash the agent publishes in its ERC-8004 metadata) and the feed
   (:func:`build_prompt`).
3. **Decision.** An inference operator answers with a signed, version 3 receipt: the request's
   options constrain the output to a JSON object ``{"action": BUY|SELL|HOLD, "size":
   small|medium|large}`` (:data:`DECISION_SCHEMA`), so the model cannot name an unbounded amount.
4. **Order.** A fixed parser turns the receipt's text into an :class:`Order` sized by the strategy's
   limits and the feed's reserves (:func:`decide`); anything it cannot read is HOLD (fail closed).
   The parser is the policy task of the compute network (offchain/compute/trading_policy.py, its
   static kernel built into an image registered as a TaskMailbox task type): the agent posts the
   policy input (:func:`policy_input`) as a task, the executor set runs the image in the sandbox and
   certifies the output, and the agent trades only on the certified order (:class:`PolicyNetwork`,
   :func:`certified_order`), which must also be its own parser's.
5. **Trade.** The order is sent to the ConstantProductAMM with a minimum output from the feed; with
   a vault (``PolicyNetwork(vault=...)``, offchain/agent/vault.py) the vault posted the policy task
   and executes the certified order itself, so the agent's host cannot trade anything else.
6. **Record.** The step (strategy, feed, payment, prompt, receipt, policy task, order, trade
   transaction) is one JSON document (:class:`StepRecord`) dispersed to the DA network; the agent
   keeps the certificate.

:func:`reexecute_step` re-executes a step from its DA record alone: it fetches the record by its
certificate (the DA client verifies the certificate and the blob's commitment), checks the feed's
signature, the strategy's hash, that the prompt is the one the strategy and the feed give, that the
receipt is for that prompt under the declared options and parameters, re-runs the inference and the
parser, and compares with the recorded order (and, given the chain, the feed's state proof against
its block's hash and the trade's Swap event: no archive node is needed); given
a :class:`PolicyVerifier`, the policy task's certified output must be the one a local re-run of the
registered image and the Python parser give for the record's input, on the declared image.

A certified policy output that is not the policy's order is refused by the agent
(:class:`~offchain.agent.errors.PolicyRefusedError`, nothing traded), which still records the step;
:class:`PolicyReexecutor` judges such a record alone (the task's certified input from the chain,
the image re-run in an enrolled enclave) and builds the TaskSlasher's receipt fault proof
(:class:`PolicyFault`), which slashes exactly the certifying operators.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from web3.exceptions import Web3Exception
from web3.logs import DISCARD as _DISCARD

from offchain import abi
from offchain.agent.a2a import COMPLETED, A2AClient, AgentSkill, Message
from offchain.agent.a2a_server import A2AServer, Skill
from offchain.agent.errors import (
    A2AError,
    FeedError,
    FeedProofError,
    PolicyImageMismatchError,
    PolicyRefusedError,
    PolicyTaskError,
    PolicyTaskUnknownError,
    RecordError,
    RecordUnavailableError,
    TaskFeeError,
    TradeError,
    VaultError,
)
from offchain.agent.inference_agent import InferenceSaleError, grammar_request, receipt_text, run_inference
from offchain.agent.server import PaymentMiddleware, PricedRoute
from offchain.agent.taskfee import TaskFee
from offchain.ai.options import RequestOptions
from offchain.ai.receipt import Receipt
from offchain.ai.sampler import SamplingParams
from offchain.chain.agent import Sender
from offchain.chain.bls_registry import BLSRegistryReader
from offchain.chain.errors import ChainError
from offchain.chain.inference_disputes import Reexecution, reexecute_with
from offchain.chain.stateproof import StateProof, StateProofError, fetch_state_proof, verify_state_proof
from offchain.chain.task_mailbox import TaskParams, Web3TaskMailbox, receipt_fault_args
from offchain.compute import trading_policy as policy
from offchain.compute.errors import PolicyInputError, PolicyOutputError
from offchain.compute.executor import TaskOutcome
from offchain.compute.receipt import ReceiptBundle
from offchain.da.eigenda.encoder import Encoder
from offchain.da.errors import DAError
from offchain.da.network import client as da_client
from offchain.da.network.config import load_srs, network_state, operators_config, read_file
from offchain.da.network.operators import RegistryOperators
from offchain.errors import EigenError

FEED_TYPE = "eigen.trading.MarketFeed"
RECORD_TYPE = "eigen.trading.StepRecord"
RECORD_VERSION = 3  # 2: the policy task; 3: the feed's state proof
MAX_RECORD_BYTES = 64 * 1024
BIPS = policy.BIPS
ASSET_UNIT = 10**18  # the asset's decimals
USDC_UNIT = 10**6

# ConstantProductAMM's layout (``vyper -f layout``; a test compares these with the compiler's): reserve0 and
# reserve1 in storage slots 7 and 8; token0, token1 and feeBips the three 32-byte words of the immutables
# section that ends its deployed code. A feed's reserves are proven from the slots at the feed's block, and
# its tokens and fee from the code whose hash the proven account holds.
AMM_RESERVE_SLOTS = (7, 8)
AMM_IMMUTABLE_BYTES = 96

# The reference price the data agent publishes, in micro-USDC per whole asset, step by step
# (a scripted series: the same on every run, so every feed is reproducible).
REFERENCE_PRICES = (2_000, 2_150, 1_880, 2_060, 2_240, 1_950, 2_010, 2_300)

# The model's answer: one JSON object, every field an enum (the grammar masks everything else).
DECISION_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"enum": ["BUY", "SELL", "HOLD"]},
        "size": {"enum": ["small", "medium", "large"]},
    },
    "required": ["action", "size"],
    "additionalProperties": False,
}
SIZE_BIPS = policy.SIZE_BIPS  # of the strategy's per-step limit


def reference_price(step: int) -> int:
    """The scripted reference price of `step`, micro-USDC per whole asset."""
    if step < 0:
        raise FeedError(f"step {step}: steps count from 0")
    return REFERENCE_PRICES[step % len(REFERENCE_PRICES)] * USDC_UNIT


def canonical(body: Mapping[str, Any]) -> bytes:
    """The one byte form of a JSON object that is hashed and signed (sorted keys, no spaces)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bounded_canonical(body: Mapping[str, Any], limit: int, what: str, error: type[Exception]) -> bytes:
    """`body` in canonical form; `error` if it is longer than `limit` bytes."""
    out = canonical(body)
    if len(out) > limit:
        raise error(f"{what} is at most {limit} bytes")
    return out


def typed_json(
    raw: bytes, limit: int, what: str, error: type[Exception], kind: tuple[str, int], fields: set[str]
) -> dict[str, Any]:
    """The JSON object of `raw`, a record whose ``type`` and ``version`` are `kind` and whose other
    fields are exactly `fields`; `error` if it is longer than `limit` bytes, not JSON or not that record."""
    if len(raw) > limit:
        raise error(f"{what} is at most {limit} bytes")
    try:
        d = json.loads(raw)
    except ValueError as exc:
        raise error(f"{what} is not JSON: {exc}") from None
    if not isinstance(d, dict) or set(d) != fields | {"type", "version"}:
        raise error(f"{what} must have exactly the fields {sorted(fields | {'type', 'version'})}")
    if (d["type"], d["version"]) != kind:
        raise error(f"{what}: unknown record type/version {d['type']!r}/{d['version']!r}")
    return d


# ---------------------------------------------------------------- the declared strategy


class GrammarBound:
    """A frozen dataclass that declares a grammar-bound inference request: fields ``seed``,
    ``temperature`` and ``max_tokens``, the JSON schema ``SCHEMA`` its answer is bound to, and
    ``ERROR``, the typed error of a malformed one (the trading Strategy, the prediction market's
    Question)."""

    SCHEMA: ClassVar[dict[str, Any]]
    ERROR: ClassVar[type[Exception]]
    seed: int
    temperature: str
    max_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        name = cls.__name__
        if not isinstance(d, dict) or set(d) != set(cls.__dataclass_fields__):  # type: ignore[attr-defined]
            raise cls.ERROR(f"{name.lower()}: expected exactly the fields of {name}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise cls.ERROR(f"{name.lower()}: {exc}") from None

    def params(self) -> SamplingParams:
        return SamplingParams.from_user(
            seed=self.seed, temperature=self.temperature, max_tokens=self.max_tokens
        )

    @classmethod
    def options(cls) -> RequestOptions:
        return RequestOptions(grammar="json_schema:" + json.dumps(cls.SCHEMA, separators=(",", ":")))


@dataclass(frozen=True)
class Strategy(GrammarBound):
    """What the agent declares before it trades: a fixed text and its risk limits (atomic units).
    Its :meth:`hash` is published in the agent's ERC-8004 metadata under ``strategy``."""

    name: str = "mean-reversion-1"
    text: str = "Mean reversion on USDC/dETH: buy below the reference, sell above, hold in the band."
    max_buy_usdc: int = 500 * USDC_UNIT  # per step
    max_sell_asset: int = ASSET_UNIT // 4  # per step
    band_bips: int = 200  # |pool / reference - 1| within which the strategy holds
    slippage_bips: int = 100  # minimum output: the feed's quote less this
    seed: int = 2026
    temperature: str = "0.7"
    max_tokens: int = 32
    SCHEMA = DECISION_SCHEMA
    ERROR = RecordError

    def __post_init__(self) -> None:
        if not self.name or not self.text:
            raise RecordError("a strategy has a name and a text")
        for n in ("max_buy_usdc", "max_sell_asset"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**256:
                raise RecordError(f"strategy {n} must be a positive integer below 2**256")
        for n in ("band_bips", "slippage_bips"):
            if not isinstance(getattr(self, n), int) or not 0 <= getattr(self, n) < BIPS:
                raise RecordError(f"strategy {n} must be in [0, {BIPS})")

    def hash(self) -> bytes:
        return keccak(canonical(self.to_dict()))


# ---------------------------------------------------------------- the feed


@dataclass(frozen=True)
class Feed:
    """A market-data feed: the pool's reserves at `block` and the reference price of `step`."""

    chain_id: int
    amm: str
    token0: str  # the stablecoin
    token1: str  # the asset
    fee_bips: int
    step: int
    block: int
    reserve0: int
    reserve1: int
    reference_price: int  # micro-USDC per whole asset

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("reserve0", "reserve1", "reference_price"):
            d[k] = str(d[k])  # beyond JSON's safe integers
        return {"type": FEED_TYPE, **d}

    @classmethod
    def from_dict(cls, d: Any) -> Feed:
        if not isinstance(d, dict) or d.get("type") != FEED_TYPE:
            raise FeedError(f"expected a {FEED_TYPE}")
        if set(d) != {"type", *cls.__dataclass_fields__}:
            raise FeedError("feed: unexpected or missing fields")
        try:
            out = cls(
                chain_id=_nat(d["chain_id"]),
                amm=_addr(d["amm"]),
                token0=_addr(d["token0"]),
                token1=_addr(d["token1"]),
                fee_bips=_nat(d["fee_bips"]),
                step=_nat(d["step"]),
                block=_nat(d["block"]),
                reserve0=_nat(d["reserve0"]),
                reserve1=_nat(d["reserve1"]),
                reference_price=_nat(d["reference_price"]),
            )
        except (TypeError, ValueError) as exc:
            raise FeedError(f"feed: {exc}") from None
        if out.fee_bips >= BIPS:
            raise FeedError("feed: fee_bips out of range")
        return out

    @property
    def pool_price(self) -> int:
        """The pool's price, micro-USDC per whole asset (0 for an empty pool)."""
        return self.reserve0 * ASSET_UNIT // self.reserve1 if self.reserve1 else 0

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """The AMM's output for `amount_in` of `token_in` at these reserves (its formula)."""
        r_in, r_out = (
            (self.reserve0, self.reserve1) if token_in == self.token0 else (self.reserve1, self.reserve0)
        )
        return policy.amount_out(amount_in, r_in, r_out, self.fee_bips)


def _nat(v: Any) -> int:
    if isinstance(v, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(v, str):
        if not v.isdigit() or len(v) > 78:
            raise ValueError(f"{v!r} is not a decimal integer")
        v = int(v)
    if not isinstance(v, int) or v < 0 or v >= 2**256:
        raise ValueError(f"{v!r} is not an unsigned integer")
    return v


def _addr(v: Any) -> str:
    return to_checksum_address(abi.address(v, ValueError))


@dataclass(frozen=True)
class SignedFeed:
    """A feed signed by its data agent, with the state proof of its reserves at its block (``proof``;
    not signed: it proves itself against the block's hash, :func:`check_feed_state`)."""

    feed: Feed
    signature: bytes
    proof: StateProof | None = None

    def digest(self) -> bytes:
        return keccak(canonical(self.feed.to_dict()))

    def signer(self) -> str:
        try:
            return Account.recover_message(encode_defunct(self.digest()), signature=self.signature)
        except Exception:  # malformed signature bytes
            raise FeedError("the feed's signature is malformed") from None

    def to_json(self) -> dict[str, Any]:
        out = {"feed": self.feed.to_dict(), "signature": "0x" + self.signature.hex()}
        if self.proof is not None:
            out["proof"] = self.proof.to_json()
        return out

    @classmethod
    def from_json(cls, v: Any) -> SignedFeed:
        if (
            not isinstance(v, dict)
            or set(v) - {"proof"} != {"feed", "signature"}
            or not isinstance(v["signature"], str)
        ):
            raise FeedError("a signed feed is {feed, signature} or {feed, signature, proof}")
        try:
            sig = bytes.fromhex(v["signature"].removeprefix("0x"))
        except ValueError:
            raise FeedError("the feed's signature is not hex") from None
        try:
            proof = StateProof.from_json(v["proof"]) if "proof" in v else None
        except StateProofError as exc:
            raise FeedProofError(f"the feed's state proof: {exc}") from None
        return cls(Feed.from_dict(v["feed"]), sig, proof)


def sign_feed(key: Any, feed: Feed, proof: StateProof | None = None) -> SignedFeed:
    sf = SignedFeed(feed, b"")
    return SignedFeed(feed, bytes(Account.sign_message(encode_defunct(sf.digest()), key).signature), proof)


def prove_feed(w3: Any, feed: Feed) -> StateProof:
    """The state proof of `feed`'s reserves: its pool's slots :data:`AMM_RESERVE_SLOTS` at its block,
    from `w3`'s node (which must still hold that block's state)."""
    try:
        return fetch_state_proof(w3, feed.amm, AMM_RESERVE_SLOTS, feed.block)
    except StateProofError as exc:
        raise FeedProofError(f"the feed's reserves could not be proven: {exc}") from None


def check_feed_state(signed: SignedFeed, w3: Any) -> None:
    """Check that `signed`'s feed is the chain's at its block, from its state proof and `w3`'s node,
    which gives only the block's hash, the chain id and the pool's code (every node keeps them; no
    state of an old block is needed): the proof verifies against the hash (the header, the account,
    both slots), proves the feed's pool and reserves, and the pool's code hashes to the proven code
    hash and holds the feed's tokens and fee. Refused: :class:`FeedProofError`, naming what differs."""
    f, proof = signed.feed, signed.proof
    if proof is None:
        raise FeedProofError("the feed carries no state proof of its reserves")
    if f.chain_id != w3.eth.chain_id:
        raise FeedProofError(f"the feed is for chain {f.chain_id}, not {w3.eth.chain_id}")
    if proof.address != f.amm or [slot for slot, _ in proof.storage_proofs] != list(AMM_RESERVE_SLOTS):
        raise FeedProofError("the state proof is not of the feed's pool's reserves")
    try:
        block = w3.eth.get_block(f.block)
    except Exception as exc:  # web3's BlockNotFound, a node error
        raise FeedProofError(f"the node has no block {f.block}: {exc}") from None
    try:
        account = verify_state_proof(proof, bytes(block["hash"]))
    except StateProofError as exc:
        raise FeedProofError(f"the feed's state proof: {exc}") from None
    if (account.storage[AMM_RESERVE_SLOTS[0]], account.storage[AMM_RESERVE_SLOTS[1]]) != (
        f.reserve0,
        f.reserve1,
    ):
        raise FeedProofError(
            f"the pool's reserves at block {f.block} were {account.storage[AMM_RESERVE_SLOTS[0]]} and "
            f"{account.storage[AMM_RESERVE_SLOTS[1]]}, not the feed's {f.reserve0} and {f.reserve1}"
        )
    code = bytes(w3.eth.get_code(f.amm))
    if keccak(code) != account.code_hash or len(code) < AMM_IMMUTABLE_BYTES:
        raise FeedProofError("the node's code of the pool is not the proven account's")
    tail = code[-AMM_IMMUTABLE_BYTES:]
    words = [tail[i : i + 32] for i in range(0, AMM_IMMUTABLE_BYTES, 32)]
    if (
        any(w[:12] != bytes(12) for w in words[:2])
        or to_checksum_address(words[0][12:]) != f.token0
        or to_checksum_address(words[1][12:]) != f.token1
        or int.from_bytes(words[2], "big") != f.fee_bips
    ):
        raise FeedProofError("the pool's code holds other tokens or another fee than the feed's")


def check_feed(signed: SignedFeed, data_agent: str, amm: str | None = None, step: int | None = None) -> Feed:
    """The feed, if `data_agent` signed it (and it is for `amm` and `step` when given)."""
    if signed.signer() != to_checksum_address(data_agent):
        raise FeedError("the feed is not signed by the data agent")
    f = signed.feed
    if amm is not None and f.amm != to_checksum_address(amm):
        raise FeedError(f"the feed is for the pool {f.amm}, not {amm}")
    if step is not None and f.step != step:
        raise FeedError(f"the feed is for step {f.step}, not {step}")
    if f.reference_price != reference_price(f.step):
        raise FeedError("the feed's reference price is not the scripted series'")
    return f


def read_feed(w3: Any, amm: Any, step: int) -> Feed:
    """The feed of `step` from the pool `amm` (a web3 contract) at the latest block."""
    block = w3.eth.get_block("latest")["number"]
    r0, r1 = amm.functions.getReserves().call(block_identifier=block)
    return Feed(
        chain_id=w3.eth.chain_id,
        amm=to_checksum_address(amm.address),
        token0=to_checksum_address(amm.functions.token0().call()),
        token1=to_checksum_address(amm.functions.token1().call()),
        fee_bips=amm.functions.feeBips().call(),
        step=step,
        block=block,
        reserve0=r0,
        reserve1=r1,
        reference_price=reference_price(step),
    )


def data_agent_app(w3: Any, amm: Any, key: Any, accepts: tuple[Any, ...], facilitator: Any) -> ASGIApp:
    """The data agent: ``GET /feed?step=N`` answers the signed feed of step N, behind the x402
    payment middleware (`accepts`: the offers, e.g. ``exact`` at the feed's price)."""

    async def feed(request: Request) -> JSONResponse:
        try:
            step = _nat(request.query_params.get("step", ""))
        except ValueError:
            return JSONResponse({"error": "step: a non-negative integer"}, status_code=400)
        feed = read_feed(w3, amm, step)
        return JSONResponse(sign_feed(key, feed, prove_feed(w3, feed)).to_json())

    app = Starlette(routes=[Route("/feed", feed)])
    return PaymentMiddleware(
        app, [PricedRoute("/feed", accepts, "GET", "signed USDC/dETH market feed")], facilitator
    )


FEED_SKILL = "market-feed"  # the data agent's A2A skill: data {"step": N} -> the signed feed of step N


def data_agent_a2a(
    w3: Any, amm: Any, key: Any, accepts: tuple[Any, ...], facilitator: Any, **kw: Any
) -> A2AServer:
    """The data agent over A2A (serve its ``app()``): the skill :data:`FEED_SKILL` answers a
    request whose data is ``{"step": N}`` with the signed feed of step N, paid through the x402
    extension (`accepts`: the offers); `kw` goes to :class:`A2AServer` (``clock``, ...). A request
    without a valid step fails its task, unsettled."""

    async def offers(msg: Message) -> tuple[Any, ...]:
        return accepts

    async def run(msg: Message, pay: Any) -> Any:
        data = msg.data()
        if not isinstance(data, dict) or set(data) != {"step"}:
            raise FeedError('expected the data {"step": N}')
        try:
            step = _nat(data["step"])
        except (TypeError, ValueError):
            raise FeedError("step: a non-negative integer") from None
        feed = read_feed(w3, amm, step)
        return sign_feed(key, feed, prove_feed(w3, feed)).to_json()

    skill = Skill(
        AgentSkill(FEED_SKILL, "USDC/dETH market feed", "the signed pool reserves and reference price of a step",
                   ("market-data",), ('{"step": 0}',)),
        run,
        offers,
    )  # fmt: skip
    return A2AServer("data-agent", "sells a signed USDC/dETH market feed", [skill], facilitator, **kw)


# ---------------------------------------------------------------- prompt, decision, order


def build_prompt(strategy: Strategy, feed: Feed) -> str:
    """The prompt of a step: the strategy's text and limits, then the feed's facts (short: the tiny
    test model's context is 256 tokens)."""
    return (
        f"{strategy.text}\n"
        f"Max {strategy.max_buy_usdc // USDC_UNIT} USDC / {strategy.max_sell_asset * 100 // ASSET_UNIT / 100:g} dETH; "
        f"band {strategy.band_bips / 100:g}%.\n"
        f"Pool {feed.pool_price / USDC_UNIT:.2f}, reference {feed.reference_price / USDC_UNIT:.2f}.\n"
    )


@dataclass(frozen=True)
class Order:
    """What the agent does: BUY pays `amount_in` USDC for dETH, SELL pays `amount_in` dETH for USDC,
    HOLD does nothing; `min_out` is the feed's quote less the strategy's slippage; `reason` says how
    the parser read the answer."""

    action: str
    amount_in: int
    min_out: int
    reason: str

    def describe(self) -> str:
        """E.g. ``BUY 125.00 USDC``, ``SELL 0.2500 dETH``, ``HOLD``."""
        if self.action == "BUY":
            return f"BUY {self.amount_in / USDC_UNIT:,.2f} USDC"
        if self.action == "SELL":
            return f"SELL {self.amount_in / ASSET_UNIT:.4f} dETH"
        return self.action

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "amount_in": str(self.amount_in),
            "min_out": str(self.min_out),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Order:
        if not isinstance(d, dict) or set(d) != {"action", "amount_in", "min_out", "reason"}:
            raise RecordError("order: expected {action, amount_in, min_out, reason}")
        try:
            return cls(str(d["action"]), _nat(d["amount_in"]), _nat(d["min_out"]), str(d["reason"]))
        except (TypeError, ValueError) as exc:
            raise RecordError(f"order: {exc}") from None


def policy_input(
    strategy: Strategy, signed: SignedFeed, receipt_digest: bytes, text: str
) -> policy.PolicyInput:
    """The policy task's input of a step: the strategy's limits and hash, the feed's pool fields and
    the digest its data agent signed, the receipt's digest and its answer text."""
    f = signed.feed
    try:
        return policy.PolicyInput(
            strategy.hash(),
            signed.digest(),
            receipt_digest,
            strategy.max_buy_usdc,
            strategy.max_sell_asset,
            strategy.slippage_bips,
            bytes.fromhex(f.token0[2:]),
            bytes.fromhex(f.token1[2:]),
            f.fee_bips,
            f.reserve0,
            f.reserve1,
            text,
        )
    except PolicyInputError as exc:
        raise RecordError(f"the step has no policy input: {exc}") from None


def _order(d: policy.Decision) -> Order:
    return Order(d.action, d.amount_in, d.min_out, d.reason)


def decide(strategy: Strategy, feed: Feed, text: str) -> Order:
    """The fixed parser: the model's text -> an order within the strategy's limits. Only the exact
    answer the grammar allows is read; anything else (a truncated, tampered or over-long answer) is
    HOLD (fail closed), and so is a trade whose quote is zero. It is the policy task's function
    (:func:`offchain.compute.trading_policy.decide`, which the task image computes bit for bit)."""
    p = policy_input(strategy, SignedFeed(feed, b""), bytes(32), text)
    return _order(policy.decide(p))


# ---------------------------------------------------------------- the policy on the compute network


def _hex(v: Any, n: int | None, what: str) -> bytes:
    if not isinstance(v, str) or not v.startswith("0x"):
        raise RecordError(f"policy task: {what} is not 0x-hex")
    try:
        out = bytes.fromhex(v[2:])
    except ValueError:
        raise RecordError(f"policy task: {what} is not 0x-hex") from None
    if n is not None and len(out) != n:
        raise RecordError(f"policy task: {what} is not {n} bytes")
    return out


@dataclass(frozen=True)
class PolicyTask:
    """A step's policy task as the record keeps it: the mailbox, the task's hash and type, the image
    its type runs, the certified output and who certified it (the TaskVerified event's fields)."""

    mailbox: str
    task_hash: bytes
    task_type: int
    image_digest: bytes
    output: bytes
    signers: tuple[str, ...]
    signed_stake: int
    total_stake: int
    block: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "task_hash": "0x" + self.task_hash.hex(),
            "task_type": self.task_type,
            "image_digest": "0x" + self.image_digest.hex(),
            "output": "0x" + self.output.hex(),
            "signers": list(self.signers),
            "signed_stake": str(self.signed_stake),
            "total_stake": str(self.total_stake),
            "block": self.block,
        }

    @classmethod
    def from_dict(cls, d: Any) -> PolicyTask:
        fields = {"mailbox", "task_hash", "task_type", "image_digest", "output", "signers"}
        if not isinstance(d, dict) or set(d) != fields | {"signed_stake", "total_stake", "block"}:
            raise RecordError(f"policy task: expected exactly the fields of {cls.__name__}")
        if not isinstance(d["signers"], list) or not all(isinstance(a, str) for a in d["signers"]):
            raise RecordError("policy task: signers is a list of addresses")
        try:
            return cls(
                _addr(d["mailbox"]),
                _hex(d["task_hash"], 32, "task_hash"),
                _nat(d["task_type"]),
                _hex(d["image_digest"], 32, "image_digest"),
                _hex(d["output"], None, "output"),
                tuple(_addr(a) for a in d["signers"]),
                _nat(d["signed_stake"]),
                _nat(d["total_stake"]),
                _nat(d["block"]),
            )
        except (TypeError, ValueError) as exc:
            raise RecordError(f"policy task: {exc}") from None


def certified_order(task: PolicyTask, payload: bytes) -> Order:
    """The order a certified policy output gives for `payload`; :class:`PolicyTaskError` when the
    output does not parse or is the order of another input."""
    try:
        input_hash, d = policy.Decision.decode(task.output)
    except PolicyOutputError as exc:
        raise PolicyTaskError(f"the certified policy output does not parse: {exc}") from None
    if input_hash != keccak(payload):
        raise PolicyTaskError("the certified policy output is for another input than the step's")
    return _order(d)


@dataclass
class PolicyNetwork:
    """The trading policy on the compute network: each :meth:`run` posts a policy input as a task of
    `task_type` on `mailbox` (paid by `account`, which also collects a refund), waits until the
    executor set has certified its output and returns the task. The task type must run `image`, the
    digest of the policy image the agent declared (its ERC-8004 metadata ``policyImage``); another
    image is refused before anything is posted. `drive` runs the executors and the aggregator for a
    posted task where they live in this process (the demo, the tests); operators' daemons need none.
    With `fee` (:class:`~offchain.agent.taskfee.TaskFee`) the task type must charge nothing on the
    mailbox (else :class:`TaskFeeError`, before anything is posted: its certifiers would be paid
    twice), and the fee is deposited into VerifiedEscrow bound to the posted task (`fees`: task hash
    -> escrow id), released to the executor set's payee after the escrow's window, refunded to the
    payer if a fault proof's slash is final. The payer is the agent (`account`), or the `vault` when
    its owner named a fee escrow (``setFeeEscrow``): the vault then posts the task and pays its fee
    from its fee budget in one transaction (the escrow, payee and token must be the fee's, its
    amount within the vault's cap: else :class:`TaskFeeError` before anything is posted), and a
    refund returns to the vault."""

    mailbox: Web3TaskMailbox
    account: Any
    task_type: int
    image: bytes
    drive: Callable[[bytes], None] | None = None
    timeout_s: float = 120.0
    poll_s: float = 0.25
    fee: TaskFee | None = None
    fees: dict[bytes, bytes] = field(default_factory=dict)
    vault: Any = None  # an offchain.agent.vault.AgentVault whose agent is `account`: it posts the tasks

    def run(self, payload: bytes) -> PolicyTask:
        """Post `payload` (from the vault when there is one: its creator is then the vault, which
        executes only the orders certified for its own tasks), pay its fee, wait for its certificate."""
        tt = self.mailbox.task_type(self.task_type)
        if tt.image_digest != self.image:
            raise PolicyTaskError(
                f"task type {self.task_type} runs the image sha256:{tt.image_digest.hex()}, not the "
                f"declared policy image sha256:{self.image.hex()}"
            )
        if self.vault is not None:
            t = self.vault.terms()
            if (to_checksum_address(t.mailbox), t.task_type) != (self.mailbox.address, self.task_type):
                raise PolicyTaskError(
                    f"the vault {self.vault.address} posts tasks of type {t.task_type} on {t.mailbox}, not "
                    f"of type {self.task_type} on {self.mailbox.address}"
                )
        fee = int(self.mailbox.contract.functions.taskTypes(self.task_type).call()[4])
        if self.fee is not None and fee != 0:
            raise TaskFeeError(
                f"task type {self.task_type} charges {fee} on the mailbox: with its fee paid into escrow its "
                "certifiers would be paid twice (an escrow-paid task type is registered with fee 0)"
            )
        escrowed = self.fee is not None and self._vault_pays_fee()
        try:
            if escrowed:  # the task and its fee into escrow, both from the vault, in one transaction
                assert self.fee is not None
                h, eid = self.vault.post_task_escrowed(self.account.key, payload, self.fee.amount)
                self.fees[h] = eid
            elif self.vault is not None:  # the fee (the type's, else 0) from the vault's budget
                h = self.vault.post_task(self.account.key, payload, from_vault=True)
            else:
                h = self.mailbox.create_task(
                    self.account, TaskParams(self.account.address, self.task_type, fee, payload)
                )
        except (EigenError, VaultError) as exc:
            raise PolicyTaskError(f"the policy task could not be posted: {exc}") from None
        if self.fee is not None and not escrowed:  # the executors answer it once its fee is held
            self.fees[h] = self.fee.pay(self.mailbox.d, self.account, h)
        if self.drive is not None:
            self.drive(h)
        deadline = time.monotonic() + self.timeout_s
        while (status := self.mailbox.status(h)) != "VERIFIED":
            if status != "CREATED" or time.monotonic() > deadline:
                raise PolicyTaskError(f"the policy task 0x{h.hex()} was not certified (status {status})")
            time.sleep(self.poll_s)
        got = self.mailbox.result(h)
        return PolicyTask(
            self.mailbox.address,
            h,
            self.task_type,
            tt.image_digest,
            got["result"],
            tuple(got["signers"]),
            got["signed_stake"],
            got["total_stake"],
            got["block"],
        )

    def _vault_pays_fee(self) -> bool:
        """Whether the vault pays the escrowed fee itself (its owner named a fee escrow): then it
        must be the fee's escrow and payee, in the fee's token, within the vault's cap, else
        :class:`TaskFeeError` before anything is posted."""
        if self.vault is None or self.fee is None:
            return False
        st = self.vault.state()
        if int(st.fee_escrow, 16) == 0:
            return False
        fee = self.fee
        token = self.mailbox.contract.functions.taskTypes(self.task_type).call()[3]
        for what, got, want in (
            ("escrow", st.fee_escrow, fee.escrow.address),
            ("payee", st.escrow_payee, fee.payee),
            ("fee token", token, fee.token),
        ):
            if to_checksum_address(got) != to_checksum_address(want):
                raise TaskFeeError(f"the vault pays its fee {what} {got}, the task fee names {want}")
        if fee.amount > st.max_escrow_fee:
            raise TaskFeeError(f"the task fee {fee.amount} exceeds the vault's cap {st.max_escrow_fee}")
        return True


@dataclass
class PolicyVerifier:
    """What a re-executor checks a step's policy task against: the `mailbox` (a view), the agent's
    declared `task_type` and `image`, and `rerun`, which runs that image locally on an input
    (e.g. :func:`offchain.compute.executor.execute_task` in the sandbox) and returns its output."""

    mailbox: Web3TaskMailbox
    task_type: int
    image: bytes
    rerun: Callable[[bytes], bytes]

    def problems(self, rec: StepRecord, payload: bytes) -> list[str]:
        """Why the record's policy task is not the certified, correct run of the declared image on
        `payload` (the input the record's strategy, feed and receipt give); [] when it is."""
        t = rec.policy
        if t is None:
            return ["the step has no policy task"]
        out: list[str] = []
        if (t.mailbox, t.task_type) != (self.mailbox.address, self.task_type):
            out.append("the policy task is not of the agent's declared mailbox and task type")
        try:
            registered = self.mailbox.task_type(t.task_type).image_digest
            on_chain = self.mailbox.payload(t.task_hash)
            certified = self.mailbox.result(t.task_hash)["result"]
        except EigenError as exc:
            return [*out, f"the policy task is not certified on chain: {exc}"]
        if t.image_digest != self.image or registered != self.image:
            out.append("the policy task's image is not the declared policy image")
        if on_chain != payload:
            out.append("the policy task's certified input is not the step's")
        if certified != t.output:
            out.append("the recorded policy output is not the certified one")
        try:
            order = certified_order(t, payload)
        except PolicyTaskError as exc:
            out.append(str(exc))
        else:
            if order != rec.order:
                out.append("the recorded order is not the certified policy output's")
        try:
            expected = policy.run(payload)
        except PolicyInputError as exc:
            return [*out, f"the step's policy input is refused: {exc}"]
        if self.rerun(payload) != expected:
            out.append("the policy image re-run locally does not give the reference's output")
        if certified != expected:
            out.append("the certified policy output is not what the policy image computes")
        return out


@dataclass(frozen=True)
class PolicyFault:
    """A step's certified policy output proven wrong by re-execution: the task, its certified
    (wrong) output, the image's output on the certified input, the enclave receipt that binds the
    two, and the certifying operators (TaskVerified's list): ``TaskSlasher.proveReceiptFault``'s
    arguments (:meth:`args`), which slash exactly those operators."""

    task_hash: bytes
    certified: bytes
    correct: bytes
    receipt: ReceiptBundle
    signers: tuple[str, ...]

    def args(self) -> tuple[bytes, tuple, tuple, list[str]]:
        return receipt_fault_args(self.task_hash, self.receipt, self.signers)


@dataclass
class PolicyReexecutor:
    """Anyone's audit of a step's policy task from its DA record: `mailbox` (its account, if any,
    sends the proof), the agent's declared `task_type` and `image`, and `run`, which runs that image
    on an input in an enclave whose key is enrolled in ComputeAVS for the task's app and image
    (e.g. :func:`offchain.compute.executor.execute_task` with that enclave, the task's app id and the
    chain id) and returns its :class:`~offchain.compute.executor.TaskOutcome`: the output and the
    enclave's receipt over it."""

    mailbox: Web3TaskMailbox
    task_type: int
    image: bytes
    run: Callable[[bytes], TaskOutcome]

    def fault(self, raw: bytes) -> PolicyFault | None:
        """Judge the policy task of the step record `raw` (the DA payload): re-run the registered
        image on the task's certified input (its ``TaskCreated`` payload, bound by the task's
        input hash) and compare with the certified output. None when they agree; the fault proof's
        arguments when they do not. Refused: a record that does not parse or has no policy task
        (:class:`RecordError`); a task of another mailbox or type (:class:`PolicyTaskError`), not on
        chain or not certified there (:class:`PolicyTaskUnknownError`); another image than the
        registered and declared one (:class:`PolicyImageMismatchError`); an input the policy
        refuses, or a re-run that is not the reference's output or whose receipt does not bind the
        task (:class:`PolicyTaskError`: nothing is proven on a re-run that cannot be trusted)."""
        rec = StepRecord.from_json(raw)
        t = rec.policy
        if t is None:
            raise RecordError("the step has no policy task")
        h = t.task_hash
        if (t.mailbox, t.task_type) != (self.mailbox.address, self.task_type):
            raise PolicyTaskError(
                "the record's policy task is not of the agent's declared mailbox and task type"
            )
        try:
            info = self.mailbox.info(h)
        except EigenError as exc:
            raise PolicyTaskUnknownError(f"the policy task 0x{h.hex()} could not be read: {exc}") from None
        if info.status != "VERIFIED":
            raise PolicyTaskUnknownError(
                f"the policy task 0x{h.hex()} is not certified on chain (status {info.status})"
            )
        if info.task_type != t.task_type:
            raise PolicyTaskError(f"the policy task 0x{h.hex()} is of task type {info.task_type} on chain")
        tt = self.mailbox.task_type(info.task_type)
        if tt.image_digest != self.image or t.image_digest != tt.image_digest:
            raise PolicyImageMismatchError(
                f"task type {info.task_type} runs the image sha256:{tt.image_digest.hex()}; the record names "
                f"sha256:{t.image_digest.hex()}, the agent declared sha256:{self.image.hex()}"
            )
        try:
            payload = self.mailbox.payload(h)
            got = self.mailbox.result(h)
        except EigenError as exc:
            raise PolicyTaskUnknownError(f"the policy task 0x{h.hex()}'s input or result: {exc}") from None
        try:
            expected = policy.run(payload)
        except PolicyInputError as exc:
            raise PolicyTaskError(
                f"the certified input is no policy input ({exc}): nothing to re-run"
            ) from None
        outcome = self.run(payload)
        if outcome.output != expected:
            raise PolicyTaskError("the image re-run is not the reference policy's output: nothing proven")
        if got["result"] == expected:
            return None
        r = outcome.receipt.receipt
        bound = (r.appId, r.imageDigest, r.inputHash, r.outputHash, r.chainId)
        if bound != (tt.app_id, tt.image_digest, keccak(payload), keccak(expected), self.mailbox.chain_id):
            raise PolicyTaskError(
                "the re-run's enclave receipt does not bind the task's app, image, input and output"
            )
        return PolicyFault(h, got["result"], expected, outcome.receipt, tuple(got["signers"]))

    def prove(self, fault: PolicyFault) -> Any:
        """Send ``proveReceiptFault`` for `fault` from the mailbox client's account; returns the
        transaction hash."""
        return self.mailbox.prove_receipt_fault(fault.task_hash, fault.receipt, fault.signers)


# ---------------------------------------------------------------- the step record


@dataclass(frozen=True)
class StepRecord:
    """One step of the agent, as dispersed to DA."""

    agent: dict[str, Any]  # {"registry", "id", "wallet", "client"}
    strategy: Strategy
    feed: SignedFeed
    payment: dict[str, Any]  # the x402 settlement of the feed
    prompt: str
    receipt: Receipt
    order: Order
    trade: dict[str, Any] | None  # {"tx", "amount_out"} (None: HOLD)
    policy: PolicyTask | None = None  # the certified policy task (None: decided in process)

    def to_json(self) -> bytes:
        body = {
            "type": RECORD_TYPE,
            "version": RECORD_VERSION,
            "agent": self.agent,
            "strategy": self.strategy.to_dict(),
            "strategy_hash": "0x" + self.strategy.hash().hex(),
            "feed": self.feed.to_json(),
            "payment": self.payment,
            "prompt": self.prompt,
            "receipt": self.receipt.to_dict(),
            "order": self.order.to_dict(),
            "trade": self.trade,
            "policy": None if self.policy is None else self.policy.to_dict(),
        }
        return bounded_canonical(body, MAX_RECORD_BYTES, "a step record", RecordError)

    @classmethod
    def from_json(cls, raw: bytes) -> StepRecord:
        fields = {
            "agent",
            "strategy",
            "strategy_hash",
            "feed",
            "payment",
            "prompt",
            "receipt",
            "order",
            "trade",
            "policy",
        }
        kind = (RECORD_TYPE, RECORD_VERSION)
        d = typed_json(raw, MAX_RECORD_BYTES, "a step record", RecordError, kind, fields)
        strategy = Strategy.from_dict(d["strategy"])
        if d["strategy_hash"] != "0x" + strategy.hash().hex():
            raise RecordError("the strategy hash is not the strategy's")
        if (
            not isinstance(d["prompt"], str)
            or not isinstance(d["agent"], dict)
            or not isinstance(d["payment"], dict)
        ):
            raise RecordError("the record's prompt, agent or payment is malformed")
        try:
            receipt = Receipt.from_dict(d["receipt"])
        except EigenError as exc:
            raise RecordError(f"the record's receipt: {exc}") from None
        trade = d["trade"]
        if trade is not None and (not isinstance(trade, dict) or set(trade) != {"tx", "amount_out"}):
            raise RecordError("trade: expected null or {tx, amount_out}")
        feed = SignedFeed.from_json(d["feed"])
        if feed.proof is None:
            raise RecordError("the record's feed carries no state proof of its reserves")
        return cls(
            d["agent"],
            strategy,
            feed,
            d["payment"],
            d["prompt"],
            receipt,
            Order.from_dict(d["order"]),
            trade,
            None if d["policy"] is None else PolicyTask.from_dict(d["policy"]),
        )


# ---------------------------------------------------------------- the DA side


class DARecords:
    """Step records on the DA network: `put` disperses (through `disperser`, paying with `key`) and
    returns the certificate; `get` fetches a certificate's payload from the relay or the validators of
    the network in `client_config` (``eigen da devnet``'s client.json), verified by the DA client.
    With `cert_checker` (an ``offchain.chain.da_contracts.CertVerifierClient``) a certificate is
    accepted, on `put` and on `get`, only when the chain's ``checkDACert`` says SUCCESS; when the
    client config names the operators' registry (a devnet on a chain), the validators' stakes are
    the registry's at the certificate's reference block."""

    def __init__(
        self,
        disperser: str,
        key: bytes,
        client_config: Path | str,
        timeout_s: float = 180.0,
        cert_checker: da_client.CertChecker | None = None,
    ) -> None:
        self.disperser, self.key, self.timeout_s = disperser, key, timeout_s
        self.cert_checker, self.client_config = cert_checker, client_config
        path = Path(client_config)
        cfg = read_file(path)
        self.state, self.urls = network_state(cfg.get("network"), path.parent)
        self.relays = {int(k): u for k, u in (cfg.get("relays") or {}).items()}
        self.encoder = Encoder(load_srs(cfg.get("srs"), path.parent))
        ops = operators_config(cfg.get("operators"))
        self.operators = (
            None if ops is None else RegistryOperators(BLSRegistryReader(ops.rpc, ops.registry), ops.quorums)
        )

    def put(self, payload: bytes) -> dict[str, Any]:
        try:
            return da_client.put(
                self.disperser, payload, self.key, timeout_s=self.timeout_s, cert_checker=self.cert_checker
            )
        except DAError as exc:
            raise RecordUnavailableError(f"dispersal failed: {exc}") from None

    def get(self, cert: Any) -> bytes:
        try:
            stakes = self.state.stakes
            if self.operators is not None:
                ref = int(cert["signed_batch"]["header"]["reference_block_number"])
                stakes = self.operators.state_at(ref).stakes
            payload, _ = da_client.get(
                cert, stakes, self.urls, self.encoder, relays=self.relays, cert_checker=self.cert_checker
            )
        except (EigenError, ValueError, KeyError, TypeError) as exc:
            raise RecordUnavailableError(f"the record could not be fetched and verified: {exc}") from None
        return payload


# ---------------------------------------------------------------- the agent


@dataclass
class StepResult:
    record: StepRecord
    raw: bytes  # the record's bytes as dispersed
    completion_text: str


@dataclass
class TradingAgent:
    """The agent: its wallet key (it pays for feeds and trades), its ERC-8004 id, the strategy, the
    pool and tokens (web3 contracts), the data agent's URL and address, and a paying client; with
    `a2a` (an A2AClient of the data agent, paying with the same wallet) the feed is bought over A2A;
    with `policy` each step's order is the policy task's certified output (else decided in process)."""

    w3: Any
    key: Any
    agent_id: int
    registry: str
    strategy: Strategy
    amm: Any
    token0: Any
    token1: Any
    feed_url: str
    data_agent: str
    payer: Any  # offchain.agent.client.PayingClient
    client: str  # whom the inference receipts answer to (compensated by a slash)
    a2a: A2AClient | None = None  # given: the feed is bought over A2A (skill FEED_SKILL), not from feed_url
    policy: PolicyNetwork | None = None  # given: the order is the compute network's certified policy output
    sender: Sender = field(init=False)

    def __post_init__(self) -> None:
        self.sender = Sender(self.w3, self.key)

    @property
    def wallet(self) -> str:
        return self.sender.address

    def approve(self) -> None:
        """Let the pool pull both tokens (once)."""
        for t in (self.token0, self.token1):
            self.sender.send(t.functions.approve(self.amm.address, 2**256 - 1))

    def buy_feed(self, step: int) -> tuple[SignedFeed, dict[str, Any]]:
        """Pay for and check the feed of `step`: (the signed feed, the settlement)."""
        try:
            if self.a2a is not None:
                return self._buy_feed_a2a(step)
            r = self.payer.get(f"{self.feed_url}?step={step}")
        except VaultError as exc:  # a vault paying the feed refused it (its limits)
            raise FeedError(f"the vault refused the feed payment: {exc}") from None
        if r.status_code != 200:
            raise FeedError(f"the data agent answered {r.status_code}: {r.text[:200]}")
        signed = SignedFeed.from_json(r.json())
        check_feed(signed, self.data_agent, self.amm.address, step)
        check_feed_state(signed, self.w3)
        rec = self.payer.receipts[-1]
        return signed, _settlement(rec.requirements, rec.settlement)

    def _buy_feed_a2a(self, step: int) -> tuple[SignedFeed, dict[str, Any]]:
        assert self.a2a is not None
        try:
            ex = self.a2a.ask(data={"step": step}, skill=FEED_SKILL)
        except A2AError as exc:
            raise FeedError(f"the data agent's A2A task: {exc}") from None
        if ex.task.status.state != COMPLETED or ex.receipt is None or ex.requirements is None:
            raise FeedError(
                f"the data agent's task {ex.task.id} ended {ex.task.status.state}, unpaid or unanswered"
            )
        signed = SignedFeed.from_json(ex.task.result())
        check_feed(signed, self.data_agent, self.amm.address, step)
        check_feed_state(signed, self.w3)
        return signed, {**_settlement(ex.requirements, ex.receipt), "a2a_task": ex.task.id}

    def trade(self, order: Order, deadline_s: int = 600) -> dict[str, Any] | None:
        if order.action == "HOLD":
            return None
        token_in = self.token0 if order.action == "BUY" else self.token1
        now = self.w3.eth.get_block("latest")["timestamp"]
        fn = self.amm.functions.swapExactIn(
            token_in.address, order.amount_in, order.min_out, self.wallet, now + deadline_s
        )
        try:
            self.sender.simulate(fn)
            tx = self.sender.send(fn, gas=200_000)
        except ChainError as exc:
            raise TradeError(f"the swap was refused: {exc}") from None
        out = swap_event(self.w3, self.amm, tx)
        return {"tx": "0x" + tx.hex(), "amount_out": str(out["amountOut"])}

    def step(
        self, step: int, infer: Callable[[str], Receipt], text_of: Callable[[Receipt], str]
    ) -> StepResult:
        """One step: buy the feed, prompt, decide by `infer` (prompt -> signed receipt), parse (on
        the compute network when the agent has a `policy`: the order traded is the certified one, and
        a certified output that does not parse or binds another input is refused with
        :class:`PolicyTaskError`, one that is not the policy's own order with
        :class:`PolicyRefusedError`, which carries the refused step's record (order HOLD, the
        certified task) to disperse as evidence; nothing traded), trade, and build the record
        (dispersing it is the caller's: :class:`DARecords`)."""
        signed, payment = self.buy_feed(step)
        self.sender.resync()  # a vault paying the feed was sent the agent's authorization from this key
        prompt = build_prompt(self.strategy, signed.feed)
        receipt = infer(prompt)
        text = text_of(receipt)
        order = decide(self.strategy, signed.feed, text)
        task = None
        if self.policy is not None:
            payload = policy_input(self.strategy, signed, receipt.digest(), text).encode()
            try:
                task = self.policy.run(payload)
            finally:
                self.sender.resync()  # the task was posted from this wallet by another client
            certified = certified_order(task, payload)
            if certified != order:
                why = (
                    f"the certified policy output orders {certified.describe()} where the policy gives "
                    f"{order.describe()}: not traded (task 0x{task.task_hash.hex()})"
                )
                held = Order("HOLD", 0, 0, f"refused: {why}")
                rec = StepRecord(
                    self._who(), self.strategy, signed, payment, prompt, receipt, held, None, task
                )
                raise PolicyRefusedError(why, StepResult(rec, rec.to_json(), text))
            order = certified
        if self.vault is not None and order.action != "HOLD":
            assert task is not None
            trade = self._execute(task, payload)
        else:
            trade = self.trade(order)
        rec = StepRecord(self._who(), self.strategy, signed, payment, prompt, receipt, order, trade, task)
        return StepResult(rec, rec.to_json(), text)

    @property
    def vault(self) -> Any:
        """The agent's vault (its policy's), or None: then it trades from its wallet."""
        return None if self.policy is None else self.policy.vault

    def _execute(self, task: PolicyTask, payload: bytes) -> dict[str, Any]:
        """The certified order executed by the vault (which checks the certificate again)."""
        try:
            ex = self.vault.execute(self.key, task.task_hash, payload, task.output)
        except VaultError as exc:
            raise TradeError(f"the vault refused the certified order: {exc}") from None
        finally:
            self.sender.resync()  # sent from this wallet by the vault's client
        return {"tx": "0x" + ex.tx.hex(), "amount_out": str(ex.amount_out)}

    def _who(self) -> dict[str, Any]:
        who = {"registry": self.registry, "id": self.agent_id, "wallet": self.wallet, "client": self.client}
        if self.vault is not None:
            who["vault"] = self.vault.address
        return who


def _settlement(requirements: Any, settled: Any) -> dict[str, Any]:
    """A feed's payment as the record keeps it: the offer paid and its settlement (an ``upto``
    settlement names the amount charged)."""
    paid = settled.amount if settled.amount is not None else requirements.amount
    return {
        "scheme": requirements.scheme,
        "amount": str(paid),
        "payee": requirements.pay_to,
        "transaction": settled.transaction,
    }


def swap_event(w3: Any, amm: Any, tx: bytes | str) -> Mapping[str, Any]:
    """The pool's Swap event in transaction `tx`."""
    receipt = w3.eth.get_transaction_receipt(tx)
    events = [
        e for e in amm.events.Swap().process_receipt(receipt, errors=_DISCARD) if e["address"] == amm.address
    ]
    if len(events) != 1:
        raise TradeError(f"transaction {tx!r} has {len(events)} Swap events of the pool")
    return events[0]["args"]


# ---------------------------------------------------------------- inference (an operator)


def infer_with(svc: Any, operator_key: bytes, strategy: GrammarBound, client: str, prompt: str) -> Receipt:
    """The inference operator's answer to `prompt` under the strategy's parameters and the decision
    grammar: a version 3 receipt bound to `client`, signed by `operator_key` (what an
    offchain.agent.inference_agent.InferenceSeller with grammar_request sells)."""
    req = grammar_request(svc, strategy)({"prompt": prompt})
    try:
        return run_inference(svc, operator_key, req, client)
    except InferenceSaleError as exc:
        raise RecordError(str(exc)) from None


# ---------------------------------------------------------------- re-execution from DA


@dataclass
class StepCheck:
    """The outcome of re-executing a step from its DA record."""

    record: StepRecord
    reexecution: Reexecution
    recomputed: Order  # the order the correct inference output gives
    matches: bool  # the recorded order is the recomputed one and the receipt is correct
    problems: list[str]


def check_record(rec: StepRecord, svc: Any, data_agent: str, strategy_hash: bytes | None = None) -> Feed:
    """Everything about a record that needs no re-execution; a refusal is RecordError/FeedError."""
    feed = check_feed(rec.feed, data_agent, step=rec.feed.feed.step)
    if strategy_hash is not None and rec.strategy.hash() != strategy_hash:
        raise RecordError("the record's strategy is not the one the agent declared")
    if rec.prompt != build_prompt(rec.strategy, feed):
        raise RecordError("the prompt is not the one the strategy and the feed give")
    r = rec.receipt
    if tuple(r.prompt_tokens) != tuple(svc.prompt_tokens(None, rec.prompt)):
        raise RecordError("the receipt is for another prompt")
    if r.options != rec.strategy.options() or r.params != rec.strategy.params():
        raise RecordError("the receipt's options or sampling parameters are not the strategy's")
    if not r.signature_valid():
        raise RecordError("the receipt's signature does not recover to its operator")
    if r.client != to_checksum_address(str(rec.agent.get("client", ""))):
        raise RecordError("the receipt is bound to another client than the record's")
    return feed


def reexecute_step(
    cert: Any,
    records: Any,
    svc: Any,
    data_agent: str,
    strategy_hash: bytes | None = None,
    w3: Any = None,
    amm: Any = None,
    policy_check: PolicyVerifier | None = None,
    vault: str | None = None,
    agent_image: AgentImage | None = None,
) -> StepCheck:
    """Re-execute a step from its DA record alone: fetch it by `cert` from `records`
    (:class:`DARecords`: the certificate and the blob are verified), check it
    (:func:`check_record`), re-run the inference, parse the correct output and compare with the
    recorded order; with `w3`, the feed's state proof must prove its reserves at its block
    (:func:`check_feed_state`: the node gives block hashes and code, no old state); with `w3` and
    `amm`, the trade's Swap event must be the order's, swapped by the
    agent's wallet or, given `vault` (the vault the agent declared: its ERC-8004 metadata ``vault``),
    by that vault alone, on the record's certified policy task (the vault's Traded event); with
    `policy_check`, the record's policy task must be the certified run of the declared image on the
    record's input, its output what a local re-run of the image and the Python parser give
    (:meth:`PolicyVerifier.problems`); with `w3` and `agent_image` (the image the agent declared,
    registered on ComputeAVS for its app), the record's wallet must be an enclave key enrolled there for
    that app and image, and not revoked, at the blocks the step acted in (:func:`check_agent_enclave`)."""
    rec = StepRecord.from_json(records.get(cert))
    feed = check_record(rec, svc, data_agent, strategy_hash)
    rex = reexecute_with(svc, rec.receipt)
    problems = []
    correct_text = svc.text_of(rex.output_tokens) if rex.output_tokens else ""
    recomputed = decide(rec.strategy, feed, correct_text)
    if not rex.receipt_correct:
        problems.append("the receipt's output is not what the model computes")
    claimed = decide(rec.strategy, feed, receipt_text(svc, rec.receipt))
    if claimed != rec.order:
        problems.append("the recorded order is not what the receipt's answer gives")
    if recomputed != rec.order:
        problems.append(
            f"re-executed, the strategy orders {recomputed.describe()}, not {rec.order.describe()}"
        )
    other_pool = amm is not None and rec.feed.feed.amm != to_checksum_address(amm.address)
    if other_pool:  # the trade is not looked for on a pool the record does not name
        problems.append(f"the feed is for the pool {rec.feed.feed.amm}, not {amm.address}")
    if w3 is not None:
        try:
            check_feed_state(rec.feed, w3)
        except FeedProofError as exc:
            problems.append(f"the feed: {exc}")
    if w3 is not None and amm is not None and not other_pool:
        problems += _check_trade(w3, amm, rec, vault)
    if w3 is not None and agent_image is not None:
        problems += check_agent_enclave(w3, rec, agent_image)
    if policy_check is not None:
        text = receipt_text(svc, rec.receipt)
        problems += policy_check.problems(
            rec, policy_input(rec.strategy, rec.feed, rec.receipt.digest(), text).encode()
        )
    return StepCheck(rec, rex, recomputed, not problems, problems)


@dataclass(frozen=True)
class AgentImage:
    """The image an agent declared it runs in (its ERC-8004 metadata ``agentImage`` and ``agentApp``):
    `image` (the OCI digest's 32 bytes) registered for app `app_id` on the ComputeAVS at `avs`."""

    avs: str
    app_id: bytes
    image: bytes


_ENCLAVES = {
    "type": "function",
    "name": "enclaves",
    "stateMutability": "view",
    "inputs": [{"name": "arg0", "type": "address"}],
    "outputs": [
        {
            "name": "",
            "type": "tuple",
            "components": [
                {"name": "operator", "type": "address"},
                {"name": "appId", "type": "bytes32"},
                {"name": "imageDigest", "type": "bytes32"},
                {"name": "evidenceHash", "type": "bytes32"},
                {"name": "enrolledAt", "type": "uint256"},
                {"name": "revoked", "type": "bool"},
            ],
        }
    ],
}


def step_blocks(w3: Any, rec: StepRecord) -> list[int]:
    """The blocks a step acted in: its policy task's (or, without one, its feed's) and its trade's."""
    blocks = [rec.policy.block if rec.policy is not None else rec.feed.feed.block]
    if rec.trade is not None:
        blocks.append(int(w3.eth.get_transaction_receipt(rec.trade["tx"])["blockNumber"]))
    return blocks


def check_agent_enclave(w3: Any, rec: StepRecord, agent: AgentImage) -> list[str]:
    """Problems (empty: none) with the claim that the record's wallet is the key of an enclave running
    the declared image: ComputeAVS's ``enclaves(wallet)`` must name the declared app and image and not
    be revoked, read at every block the step acted in (so a key enrolled after the step, or revoked
    before it, does not pass), and the key's operator must exist (it answers for the enclave)."""
    try:
        wallet = to_checksum_address(str(rec.agent.get("wallet", "")))
        avs = w3.eth.contract(address=to_checksum_address(agent.avs), abi=[_ENCLAVES])
        blocks = step_blocks(w3, rec)
    except (ValueError, TypeError, KeyError, EigenError) as exc:
        return [f"the agent's enclave cannot be checked: {exc}"]
    for block in blocks:
        try:
            operator, app_id, image, _, _, revoked = avs.functions.enclaves(wallet).call(
                block_identifier=block
            )
        except (ValueError, EigenError, Web3Exception) as exc:
            return [f"the agent's enclave at block {block}: {exc}"]
        if int(operator, 16) == 0:
            return [f"the agent's wallet {wallet} is not an enrolled enclave key at block {block}"]
        if (bytes(app_id), bytes(image)) != (agent.app_id, agent.image):
            return [
                f"the agent's wallet {wallet} is enrolled for app 0x{bytes(app_id).hex()[:16]}… image "
                f"sha256:{bytes(image).hex()[:16]}…, not the declared app and image"
            ]
        if revoked:
            return [f"the agent's enclave key {wallet} was revoked at block {block}"]
    return []


def _check_trade(w3: Any, amm: Any, rec: StepRecord, vault: str | None = None) -> list[str]:
    o, t = rec.order, rec.trade
    named = rec.agent.get("vault")
    try:
        declared = None if vault is None else to_checksum_address(vault)
        named = None if named is None else to_checksum_address(str(named))
    except ValueError:
        return ["the record's or the declared vault is not an address"]
    if named != declared:
        return [f"the record's vault {named} is not the agent's declared vault {declared}"]
    if o.action == "HOLD":
        return [] if t is None else ["a HOLD order has a trade"]
    if t is None:
        return [f"the {o.action} order has no trade"]
    try:
        ev = swap_event(w3, amm, t["tx"])
    except (TradeError, ValueError, EigenError) as exc:
        return [f"the trade transaction: {exc}"]
    token_in = rec.feed.feed.token0 if o.action == "BUY" else rec.feed.feed.token1
    swapper = declared or to_checksum_address(str(rec.agent.get("wallet", "")))
    if (ev["tokenIn"], ev["amountIn"], ev["sender"]) != (token_in, o.amount_in, swapper) or ev[
        "amountOut"
    ] < o.min_out:
        return ["the trade on chain is not the order"]
    if declared is not None:
        traded = w3.eth.contract(address=declared, abi=[_TRADED]).events.Traded()
        got = [
            bytes(e["args"]["taskHash"])
            for e in traded.process_receipt(w3.eth.get_transaction_receipt(t["tx"]), errors=_DISCARD)
            if e["address"] == declared
        ]
        if rec.policy is None or got != [rec.policy.task_hash]:
            return ["the vault's trade is not the execution of the step's certified policy task"]
    return []


# AgentVault's event of an executed order (contracts/agent/AgentVault.vy)
_TRADED = {
    "type": "event",
    "name": "Traded",
    "anonymous": False,
    "inputs": [
        {"name": "taskHash", "type": "bytes32", "indexed": True},
        {"name": "tokenIn", "type": "address", "indexed": True},
        {"name": "amountIn", "type": "uint256", "indexed": False},
        {"name": "minOut", "type": "uint256", "indexed": False},
        {"name": "amountOut", "type": "uint256", "indexed": False},
    ],
}
