"""The trading agent as a program that runs inside its own image (docs/agent.md, *The agent as a
program in its image*).

``python -m offchain.agent.trading_app`` is the agent's loop, run by a compute operator in the (dev)
TEE: its key is the enclave's, which the TEE hands it as a read-only file (``EIGEN_ENCLAVE_KEY_FILE``,
default ``/run/enclave/key``: 32 raw bytes or 64 hex digits; anything else: one JSON error line and
exit 2). The host (the operator) starts it, writes one configuration line (:class:`AppConfig`) and
then relays commands; it never holds the key.

Before it serves, the program checks its configuration against the chain and refuses it (one error
line, exit 3) unless the agent id's ERC-8004 metadata ``strategy`` is the hash of the configured
strategy, ``vault`` the configured vault and ``policyImage`` the configured policy image, the vault's
``agent`` and the id's agent wallet are its own address, and the tokenizer file, model hash and engine
are the ones named. Its first answer is ``{"ok": true, "ready": true, "address": ...}``.

It then answers JSON lines, one per command, and knows exactly three:

- ``{"op": "address"}`` -> ``{"ok": true, "address": ...}``;
- ``{"op": "step", "step": N}`` -> runs :meth:`TradingAgent.step` for step N (the feed bought over A2A
  and the decision over x402 ``verified``, both paid by the vault; the order the compute network's
  certified policy output, executed by the vault) and answers ``{"ok": true, "refused": false,
  "record": <the StepRecord's canonical JSON>, "text": <the decision text, decoded by the program from
  the receipt's tokens>, "policy_fee_escrow": <0x id or null>, "inference_escrow": <0x id or null>,
  "dispersing": <whether the program disperses the record>}`` (with a ``da`` configuration it
  disperses each step's record itself, in the background, and a certificate must pass the chain's
  ``checkDACert`` when a cert verifier is named);
- ``{"op": "record", "step": N}`` -> once step N's record's dispersal ended, ``{"ok": true, "step":
  N, "cert": <its DA certificate or null>, "da_error": <why it is not dispersed, or null>}`` (a
  failed dispersal leaves the step standing);
  a certified output that is not the policy's order answers ``"refused": true`` with the refused
  step's record (nothing traded).

Any other line (another op, an extra field, a step that is not a non-negative integer, a line that is
not JSON or longer than :data:`MAX_COMMAND_BYTES`) is answered ``{"ok": false, "error":
"AppRequestError", ...}`` and a failed step ``{"ok": false, "error": <its class name>, "message":
...}``; the program goes on serving. No command makes it sign or send anything but a step's own
payments, policy task and certified trade: the host cannot have the key sign anything else.

:class:`TradingApp` is the host's side: it launches the program (any launcher returning a
Popen-like object: ``.stdin``/``.stdout`` binary pipes, ``.kill()``, optionally ``.stop()``), sends
the configuration, relays :meth:`TradingApp.address` and :meth:`TradingApp.step` and parses each
record strictly (:meth:`StepRecord.from_json`); anything wrong is :class:`AppError`.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import IO, Any, NoReturn

from eth_account import Account
from eth_utils import to_checksum_address

from offchain import settings
from offchain.agent.a2a import A2AClient
from offchain.agent.client import PayingClient
from offchain.agent.errors import (
    AppConfigError,
    AppError,
    AppKeyError,
    AppRefusedError,
    AppRequestError,
    PolicyRefusedError,
    RecordError,
    TaskFeeError,
)
from offchain.agent.inference_agent import InferenceBuyer, grammar_request, receipt_text
from offchain.agent.taskfee import TaskFee
from offchain.agent.trading import PolicyNetwork, StepRecord, StepResult, Strategy, TradingAgent
from offchain.agent.vault import AgentVault, VaultFeedWallet
from offchain.ai.errors import TokenizerError
from offchain.ai.receipt import ENGINE_ID
from offchain.ai.service import InferenceService
from offchain.ai.tokenizer import Tokenizer
from offchain.chain.agent import STABLE_VERSION, Escrow
from offchain.chain.da_contracts import CertVerifierClient
from offchain.chain.sdk import Deployment, load_abis
from offchain.chain.task_mailbox import Web3TaskMailbox
from offchain.compute.pyimage import build_python_image
from offchain.da.network import client as da_client
from offchain.errors import EigenError

__all__ = [
    "DAConfig",
    "APP_ABIS",
    "DEFAULT_KEY_FILE",
    "KEY_FILE_ENV",
    "MAX_ANSWER_BYTES",
    "MAX_COMMAND_BYTES",
    "MAX_CONFIG_BYTES",
    "AppConfig",
    "AppServer",
    "AppStep",
    "DecodingService",
    "FeeConfig",
    "PolicyConfig",
    "TradingApp",
    "build_app",
    "main",
    "read_key",
    "write_abis",
]

KEY_FILE_ENV = settings.ENCLAVE_KEY_FILE.name
DEFAULT_KEY_FILE = settings.ENCLAVE_KEY_FILE.default
MAX_CONFIG_BYTES = 64 * 1024  # the configuration line
MAX_COMMAND_BYTES = 1024  # a command line: {"op": "step", "step": N} is far shorter
MAX_ANSWER_BYTES = 512 * 1024  # an answer line (a record is at most 64 KiB, escaped in a JSON string)
# the contract types whose ABIs the program reads (AppConfig.abi_source: a folder of <Type>.json, write_abis)
APP_ABIS = (
    "AgentVault", "ConstantProductAMM", "IdentityRegistry", "StableToken", "TaskMailbox", "VerifiedEscrow",
)  # fmt: skip
EXIT_KEY = 2  # the enclave key file is unusable
EXIT_CONFIG = 3  # the configuration is malformed or refused

# ---------------------------------------------------------------- the configuration


def _field(d: Mapping[str, Any], name: str, kind: str) -> Any:
    v = d[name]
    ok = {
        "str": isinstance(v, str) and v != "",
        "int": type(v) is int and 0 <= v < 2**256,
        "num": type(v) in (int, float) and v > 0,
        "addr": isinstance(v, str),
        "hex32": isinstance(v, str) and v.startswith("0x") and len(v) == 66,
        "opt_str": v is None or (isinstance(v, str) and v != ""),
        "opt_addr": v is None or isinstance(v, str),
    }[kind]
    if not ok:
        raise AppConfigError(f"config: {name} is not a valid {kind}: {v!r}")
    if kind in ("addr", "opt_addr") and v is not None:
        try:
            return to_checksum_address(v)
        except ValueError:
            raise AppConfigError(f"config: {name} is no address: {v!r}") from None
    if kind == "hex32":
        try:
            return bytes.fromhex(v[2:])
        except ValueError:
            raise AppConfigError(f"config: {name} is not 0x-hex: {v!r}") from None
    return v


def _encode(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, Strategy):
        return v.to_dict()
    if hasattr(v, "__dataclass_fields__"):
        return {f.name: _encode(getattr(v, f.name)) for f in fields(v)}
    return v


class _Config:
    """A frozen dataclass read from a JSON object with exactly its fields (those with a default may
    be left out); ``KINDS`` names each field's kind (``_field``), or the nested config class."""

    KINDS: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return _encode(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        fs = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        required = {n for n, f in fs.items() if f.default is MISSING and f.default_factory is MISSING}
        if not isinstance(d, dict) or not required <= set(d) <= set(fs):
            raise AppConfigError(
                f"config: a {cls.__name__} has the fields {sorted(fs)} (required: {sorted(required)})"
            )
        out = {}
        for name in d:
            kind = cls.KINDS[name]
            if isinstance(kind, type) and issubclass(kind, _Config):
                out[name] = None if d[name] is None else kind.from_dict(d[name])
            elif kind is Strategy:
                try:
                    out[name] = Strategy.from_dict(d[name])
                except RecordError as exc:
                    raise AppConfigError(f"config: {exc}") from None
            else:
                out[name] = _field(d, name, kind)
        return cls(**out)


@dataclass(frozen=True)
class FeeConfig(_Config):
    """A policy task's fee paid into VerifiedEscrow: `amount` of `token` (its EIP-712 domain
    `token_name`, `token_version`) into `escrow` for `payee`, refundable after `deadline_s`
    (the wire form of :class:`~offchain.agent.taskfee.TaskFee`, whose escrow is a web3 handle)."""

    escrow: str
    payee: str
    amount: int
    token: str
    token_name: str
    deadline_s: int = 3600
    token_version: str = STABLE_VERSION
    KINDS = {
        "escrow": "addr", "token": "addr", "token_name": "str", "payee": "addr", "amount": "int",
        "deadline_s": "int", "token_version": "str",
    }  # fmt: skip


@dataclass(frozen=True)
class DAConfig(_Config):
    """Where the program records its steps: the DA network's `disperser` (its URL), the key of the
    account that pays for the dispersals (`payer_key`: a reservation on the network's PaymentVault;
    it signs dispersal requests only), and, when given, the chain's EigenDACertVerifier
    (`cert_verifier`), whose ``checkDACert`` must accept a certificate before the program answers it."""

    disperser: str
    payer_key: bytes
    cert_verifier: str | None = None
    timeout_s: float = 180.0
    KINDS = {"disperser": "str", "payer_key": "hex32", "cert_verifier": "opt_addr", "timeout_s": "num"}


@dataclass(frozen=True)
class PolicyConfig(_Config):
    """The policy on the compute network: the TaskMailbox, the task type, the declared policy image's
    digest, the task fee (None: the type's own mailbox fee), how long to wait for a certificate."""

    mailbox: str
    task_type: int
    image: bytes
    fee: FeeConfig | None = None
    timeout_s: float = 120.0
    poll_s: float = 0.25
    KINDS = {
        "mailbox": "addr", "task_type": "int", "image": "hex32", "fee": FeeConfig, "timeout_s": "num",
        "poll_s": "num",
    }  # fmt: skip


@dataclass(frozen=True)
class AppConfig(_Config):
    """The one configuration line of the program: the chain (`rpc_url`, `chain_id`), the agent's
    ERC-8004 identity (`identity_registry`, `agent_id`), its declared `strategy`, the pool and its
    tokens (`amm`, `usdc`, `asset`), the data agent (`data_agent_url`: its A2A base URL;
    `data_agent`: the address that signs the feeds), the inference seller's route (`inference_url`,
    paid x402 ``verified``), the inference request's fixed parts (`model_hash`, `tokenizer_hash`,
    `engine_id`; `tokenizer_file`: the tokenizer as :meth:`Tokenizer.to_json` wrote it, in the image
    /app/tokenizer.json), the agent's `vault`, its `policy` network, the payer's `feed_budget` (the
    client-side cap of all its x402 payments), the HTTP timeout and where the ABIs are (`abi_source`:
    a folder of ``<Type>.json``; None: the build's artifacts)."""

    rpc_url: str
    chain_id: int
    identity_registry: str
    agent_id: int
    strategy: Strategy
    amm: str
    usdc: str
    asset: str
    data_agent_url: str
    data_agent: str
    inference_url: str
    model_hash: bytes
    tokenizer_hash: bytes
    tokenizer_file: str
    vault: str
    policy: PolicyConfig
    feed_budget: int
    engine_id: bytes = ENGINE_ID
    http_timeout_s: float = 60.0
    abi_source: str | None = None
    da: DAConfig | None = None
    KINDS = {
        "rpc_url": "str", "chain_id": "int", "identity_registry": "addr", "agent_id": "int",
        "strategy": Strategy, "amm": "addr", "usdc": "addr", "asset": "addr", "data_agent_url": "str",
        "data_agent": "addr", "inference_url": "str", "model_hash": "hex32", "tokenizer_hash": "hex32",
        "tokenizer_file": "str", "vault": "addr", "policy": PolicyConfig, "feed_budget": "int",
        "engine_id": "hex32", "http_timeout_s": "num", "abi_source": "opt_str", "da": DAConfig,
    }  # fmt: skip

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> AppConfig:
        try:
            d = json.loads(raw)
        except ValueError as exc:
            raise AppConfigError(f"the configuration line is not JSON: {exc}") from None
        return cls.from_dict(d)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the program


class DecodingService:
    """What the inference client needs of an inference service, without the model's weights: the
    model's hash (``model.sha256``), the `tokenizer`, and InferenceService's own prompt encoding and
    output decoding, so that the program computes the request digest and decodes the receipt's
    tokens itself (it never trusts a seller's text)."""

    @dataclass(frozen=True)
    class Model:
        sha256: bytes

    def __init__(self, tokenizer: Tokenizer, model_hash: bytes) -> None:
        self.tokenizer = tokenizer
        self.model = DecodingService.Model(model_hash)

    prompt_tokens = InferenceService.prompt_tokens
    text_of = InferenceService.text_of


def read_key(path: str | os.PathLike[str]) -> bytes:
    """The enclave key in file `path`: 32 raw bytes or 64 hex digits (0x and a trailing newline
    allowed); :class:`AppKeyError` otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AppKeyError(f"the enclave key file {path} is unreadable: {exc.strerror}") from None
    if len(raw) == 32:
        key = raw
    else:
        text = raw.strip().decode("ascii", "replace").removeprefix("0x")
        try:
            key = bytes.fromhex(text) if len(text) == 64 else b""
        except ValueError:
            key = b""
    try:
        Account.from_key(key)  # 32 bytes, a scalar within secp256k1's order
    except ValueError:
        raise AppKeyError(
            f"the enclave key file {path} holds no secp256k1 key (32 raw bytes or 64 hex digits)"
        ) from None
    return key


def _eq(a: str, b: str) -> bool:
    return to_checksum_address(a) == to_checksum_address(b)


def build_app(cfg: AppConfig, key: bytes) -> AppServer:
    """The program's command loop for `cfg` with `key`, after checking `cfg` against the chain
    (:class:`AppRefusedError`, naming what disagrees)."""
    try:
        tok = Tokenizer.from_json(Path(cfg.tokenizer_file).read_bytes())
    except (OSError, TokenizerError) as exc:
        raise AppConfigError(f"the tokenizer file {cfg.tokenizer_file}: {exc}") from None
    if tok.hash != cfg.tokenizer_hash:
        raise AppRefusedError(
            f"the tokenizer file's hash is 0x{tok.hash.hex()}, not the configured 0x{cfg.tokenizer_hash.hex()}"
        )
    if cfg.engine_id != ENGINE_ID:
        raise AppRefusedError(f"the program runs engine 0x{ENGINE_ID.hex()}, not 0x{cfg.engine_id.hex()}")
    d = Deployment(cfg.chain_id, cfg.rpc_url, {"task_mailbox": cfg.policy.mailbox}, abi_source=cfg.abi_source)
    try:
        w3 = d.w3
        abis = d.abis()
    except EigenError as exc:
        raise AppRefusedError(f"the chain: {exc}") from None
    if missing := [n for n in APP_ABIS if n not in abis]:
        raise AppConfigError(
            f"the ABIs ({cfg.abi_source or 'the build artifacts'}) lack {', '.join(missing)}"
        )
    me = Account.from_key(key)
    ident = w3.eth.contract(address=cfg.identity_registry, abi=abis["IdentityRegistry"]).functions
    vault = AgentVault(w3, cfg.vault, abis["AgentVault"])

    def read(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # web3's contract and connection errors
            raise AppRefusedError(f"{what} could not be read: {exc}") from None

    def meta(k: str) -> bytes:
        return bytes(read(f"agent {cfg.agent_id}'s ERC-8004 {k}", ident.getMetadata(cfg.agent_id, k).call))

    if read("the node's chain id", lambda: w3.eth.chain_id) != cfg.chain_id:
        raise AppRefusedError(f"the node at {cfg.rpc_url} is not chain {cfg.chain_id}")
    if (got := meta("strategy")) != cfg.strategy.hash():
        raise AppRefusedError(
            f"agent {cfg.agent_id}'s ERC-8004 strategy is 0x{got.hex()}, not the configured "
            f"strategy's hash 0x{cfg.strategy.hash().hex()}"
        )
    if (got := meta("vault")) != bytes.fromhex(cfg.vault[2:]):
        raise AppRefusedError(f"agent {cfg.agent_id}'s ERC-8004 vault is 0x{got.hex()}, not {cfg.vault}")
    if (got := meta("policyImage")) != cfg.policy.image:
        raise AppRefusedError(
            f"agent {cfg.agent_id}'s ERC-8004 policy image is 0x{got.hex()}, not 0x{cfg.policy.image.hex()}"
        )
    if not _eq(got := read("the vault's agent", vault.contract.functions.agent().call), me.address):
        raise AppRefusedError(f"the vault's agent is {got}, not this program's key {me.address}")
    if not _eq(got := read("the agent wallet", ident.getAgentWallet(cfg.agent_id).call), me.address):
        raise AppRefusedError(
            f"agent {cfg.agent_id}'s agent wallet is {got}, not this program's key {me.address}"
        )

    def chain_clock() -> float:
        return float(w3.eth.get_block("pending")["timestamp"])

    payer = PayingClient(
        key, cfg.chain_id, cfg.usdc, cfg.feed_budget, clock=chain_clock, wallet=VaultFeedWallet(vault, key)
    )
    a2a = A2AClient(cfg.data_agent_url, payer, timeout_s=cfg.http_timeout_s)
    fee = None
    if cfg.policy.fee is not None:
        f = cfg.policy.fee
        escrow = Escrow(w3, f.escrow, abis["VerifiedEscrow"])
        try:
            fee = TaskFee(escrow, f.token, f.token_name, f.payee, f.amount, f.deadline_s, f.token_version)
        except TaskFeeError as exc:
            raise AppConfigError(f"config: policy fee: {exc}") from None
    network = PolicyNetwork(
        Web3TaskMailbox(d), me, cfg.policy.task_type, cfg.policy.image, None, cfg.policy.timeout_s,
        cfg.policy.poll_s, fee, vault=vault,
    )  # fmt: skip
    agent = TradingAgent(
        w3, key, cfg.agent_id, cfg.identity_registry, cfg.strategy,
        w3.eth.contract(address=cfg.amm, abi=abis["ConstantProductAMM"]),
        w3.eth.contract(address=cfg.usdc, abi=abis["StableToken"]),
        w3.eth.contract(address=cfg.asset, abi=abis["StableToken"]),
        cfg.data_agent_url, cfg.data_agent, payer, vault.address, a2a, network,
    )  # fmt: skip
    svc = DecodingService(tok, cfg.model_hash)
    checker = None
    if cfg.da is not None and cfg.da.cert_verifier is not None:
        checker = CertVerifierClient(cfg.rpc_url, cfg.da.cert_verifier)
    buyer = InferenceBuyer(payer, cfg.inference_url, grammar_request(svc, cfg.strategy))
    return AppServer(agent, buyer, svc, cfg.da, checker)


IMAGE_TOKENIZER = "/app/tokenizer.json"  # where the agent's image holds the tokenizer
IMAGE_ABIS = "/app/abis"  # and the ABIs the program reads (AppConfig.abi_source)
# what the program imports lazily beyond its closure and its packages' declared dependencies: the
# tokenizer renders its chat template with jinja2
IMAGE_EXTRA_PACKAGES = ("jinja2",)


def build_agent_image(out: Path | str, tokenizer: Tokenizer, work: Path | str) -> Any:
    """The agent's image at `out`: ``python -m offchain.agent.trading_app`` with its packages
    (:func:`offchain.compute.pyimage.build_python_image`), `tokenizer` at :data:`IMAGE_TOKENIZER` and
    the ABIs it reads at :data:`IMAGE_ABIS` (written under `work` first); the built image (its
    ``digest`` is what the app registers)."""
    abis = write_abis(Path(work) / "agent-abis")
    files: dict[str, bytes | Path] = {IMAGE_TOKENIZER: tokenizer.to_json().encode()}
    files |= {f"{IMAGE_ABIS}/{p.name}": p for p in abis}
    return build_python_image(
        out, module="offchain.agent.trading_app", files=files, extra_packages=IMAGE_EXTRA_PACKAGES
    )


def write_abis(out: Path | str, source: Path | str | None = None) -> list[Path]:
    """Write the ABIs the program reads (:data:`APP_ABIS`, from `source`: default the build's
    artifacts) as ``<Type>.json`` into the folder `out` (the image's ``abi_source``)."""
    abis = load_abis(source)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in APP_ABIS:
        if name not in abis:
            raise AppConfigError(f"the compiled artifacts hold no contract {name}")
        written.append(folder / f"{name}.json")
        written[-1].write_text(json.dumps(abis[name]))
    return written


def _error(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


@dataclass
class AppServer:
    """The program's command loop over an agent and its inference client (:meth:`handle`: one
    command line -> one answer)."""

    agent: TradingAgent
    buyer: InferenceBuyer
    svc: DecodingService
    da: DAConfig | None = None
    cert_checker: Any = None
    done: list[int] = field(default_factory=list)  # the steps answered
    # step -> its record's dispersal, running while the program serves: (thread, [certificate, error])
    dispersals: dict[int, tuple[threading.Thread, list[Any]]] = field(default_factory=dict)

    def handle(self, line: bytes | None) -> dict[str, Any]:
        """The answer to one command line (None: an oversized line, already discarded)."""
        try:
            op = self._command(line)
        except AppRequestError as exc:
            return _error(exc)
        if op == "address":
            return {"ok": True, "address": self.agent.wallet}
        if isinstance(op, tuple):
            return self._dispersed(op[1])
        return self._step(op)

    @staticmethod
    def _command(line: bytes | None) -> Any:
        if line is None:
            raise AppRequestError(f"a command is at most {MAX_COMMAND_BYTES} bytes")
        try:
            d = json.loads(line)
        except ValueError:
            raise AppRequestError("a command is one JSON object on a line") from None
        if d == {"op": "address"}:
            return "address"
        if isinstance(d, dict) and set(d) == {"op", "step"} and d["op"] in ("step", "record"):
            n = d["step"]
            if type(n) is int and 0 <= n < 2**63:
                return n if d["op"] == "step" else ("record", n)
            raise AppRequestError(f"a step is a non-negative integer, got {n!r}")
        raise AppRequestError(
            'the commands are exactly {"op":"address"}, {"op":"step","step":N} and {"op":"record","step":N}'
        )

    def _step(self, n: int) -> dict[str, Any]:
        bought = len(self.buyer.bought)
        refused = False
        try:
            res = self.agent.step(n, self.buyer, lambda r: receipt_text(self.svc, r))
        except PolicyRefusedError as exc:
            res, refused = exc.result, True
        except Exception as exc:  # every failure is answered; the program goes on serving
            return _error(exc)
        self.done.append(n)
        return self._answer(res, refused, bought)

    def _answer(self, res: StepResult, refused: bool, bought: int) -> dict[str, Any]:
        task = res.record.policy
        fees = self.agent.policy.fees if self.agent.policy is not None else {}
        fee = None if task is None else fees.get(task.task_hash)
        infer = self.buyer.bought[-1]["escrow"] if len(self.buyer.bought) > bought else None
        self._disperse(res.record.feed.feed.step, res.raw)
        return {
            "ok": True,
            "refused": refused,
            "record": res.raw.decode(),
            "text": res.completion_text,
            "policy_fee_escrow": None if fee is None else "0x" + fee.hex(),
            "inference_escrow": None if infer is None else "0x" + infer.hex(),
            "dispersing": self.da is not None,
        }

    def _disperse(self, n: int, raw: bytes) -> None:
        """Disperse step `n`'s record to the DA network in the background (with a ``da``
        configuration); ``record`` answers its certificate, checked on chain with a cert verifier, or
        why it is not dispersed (the step stands either way)."""
        if self.da is None:
            return
        da, box = self.da, [None, None]

        def put() -> None:
            try:
                box[0] = da_client.put(
                    da.disperser, raw, da.payer_key, timeout_s=da.timeout_s, cert_checker=self.cert_checker
                )
            except Exception as exc:  # DAError and any other failure: the answer's, never the program's end
                box[1] = f"{type(exc).__name__}: {exc}"

        th = threading.Thread(target=put, daemon=True)
        th.start()
        self.dispersals[n] = (th, box)

    def _dispersed(self, n: int) -> dict[str, Any]:
        """Step `n`'s record's dispersal, once it ended: its certificate, or why there is none."""
        if n not in self.dispersals:
            return _error(AppRequestError(f"no record of step {n} was dispersed by this program"))
        th, box = self.dispersals[n]
        th.join()
        return {"ok": True, "step": n, "cert": box[0], "da_error": box[1]}


def _read_line(stream: IO[bytes], limit: int) -> bytes | None:
    """One line of at most `limit` bytes (b"" at EOF); None for a longer one, read to its end."""
    line = stream.readline(limit + 1)
    if line.endswith(b"\n") or len(line) <= limit:
        return line
    while line and not line.endswith(b"\n"):
        line = stream.readline(64 * 1024)
    return None


def _emit(out: IO[bytes], obj: Mapping[str, Any]) -> None:
    out.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
    out.flush()


def main() -> int:
    """The program: key, configuration, checks, then the command loop until stdin closes."""
    out = os.fdopen(os.dup(1), "wb")  # the answers; anything else printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    try:
        key = read_key(settings.enclave_key_file())
    except AppKeyError as exc:
        _emit(out, _error(exc))
        return EXIT_KEY
    try:
        line = _read_line(inp, MAX_CONFIG_BYTES)
        if line is None:
            raise AppConfigError(f"the configuration line is at most {MAX_CONFIG_BYTES} bytes")
        server = build_app(AppConfig.from_json(line), key)
    except Exception as exc:  # AppConfigError, AppRefusedError; anything else, reported the same way
        _emit(out, _error(exc))
        return EXIT_CONFIG
    _emit(out, {"ok": True, "ready": True, "address": server.agent.wallet})
    while True:
        line = _read_line(inp, MAX_COMMAND_BYTES)
        if line == b"":
            return 0
        if line is not None and not line.strip():
            continue
        _emit(out, server.handle(line))


# ---------------------------------------------------------------- the host's side


@dataclass(frozen=True)
class AppStep:
    """A step the program ran: its record (parsed strictly) and bytes, the decision text, whether
    the certified policy output was refused, and the escrow ids the host follows up (the policy
    task's fee, the decision's verified payment)."""

    record: StepRecord
    raw: bytes
    text: str
    refused: bool
    policy_fee_escrow: bytes | None
    inference_escrow: bytes | None
    dispersing: bool = False  # the program disperses the record (TradingApp.record answers how it went)


def _escrow_id(v: Any) -> bytes | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v.startswith("0x") or len(v) != 66:
        raise AppError(f"the program answered an escrow id that is not 32 bytes of 0x-hex: {v!r}")
    try:
        return bytes.fromhex(v[2:])
    except ValueError:
        raise AppError(f"the program answered an escrow id that is not hex: {v!r}") from None


class TradingApp:
    """The host's handle on the program: ``launch()`` starts it (a Popen-like object), `config` is
    sent as its first line, and each answer must come within `timeout_s` seconds (a step waits for
    its policy certificate: give it room). Every failure is :class:`AppError`; after one the
    program is stopped and the handle is closed."""

    def __init__(self, launch: Callable[[], Any], config: AppConfig, timeout_s: float = 300.0) -> None:
        self.timeout_s = timeout_s
        self.proc = launch()
        self.closed = False
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self._ask(config.to_json())
        if ready.get("ready") is not True or not isinstance(ready.get("address"), str):
            self._fail("the program's first answer is not its ready line")
        self._address = to_checksum_address(ready["address"])

    def _read(self) -> None:
        stdout = self.proc.stdout
        try:
            while True:
                line = stdout.readline(MAX_ANSWER_BYTES + 1)
                if not line:
                    break
                if len(line) > MAX_ANSWER_BYTES:
                    self._lines.put(b"")  # oversized
                    break
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _fail(self, message: str, remote: str | None = None) -> NoReturn:
        self.close()
        raise AppError(message, remote)

    def _ask(self, line: bytes) -> dict[str, Any]:
        if self.closed:
            raise AppError("the trading app is closed")
        try:
            self.proc.stdin.write(line + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # a dead program: its answer is EOF
        try:
            got = self._lines.get(timeout=self.timeout_s)
        except queue.Empty:
            self._fail(f"the program did not answer within {self.timeout_s} s")
        if got is None:
            self._fail("the program is gone (its output closed)")
        if got == b"":
            self._fail(f"the program answered a line longer than {MAX_ANSWER_BYTES} bytes")
        try:
            d = json.loads(got)
        except ValueError:
            self._fail("the program answered a line that is not JSON")
        if not isinstance(d, dict) or type(d.get("ok")) is not bool:
            self._fail("the program answered a line that is not an answer object")
        if not d["ok"]:
            remote = d.get("error") if isinstance(d.get("error"), str) else "?"
            msg = f"{remote}: {d.get('message')}"
            if remote in ("AppConfigError", "AppRefusedError", "AppKeyError"):
                self._fail(msg, remote)  # the program exits on these
            raise AppError(msg, remote)
        return d  # type: ignore[no-any-return]

    def address(self) -> str:
        """The program's address (its enclave key's), as it answers it."""
        d = self._ask(json.dumps({"op": "address"}).encode())
        if not isinstance(d.get("address"), str) or to_checksum_address(d["address"]) != self._address:
            self._fail("the program answered another address than its ready line's")
        return self._address

    def step(self, step: int) -> AppStep:
        """Have the program run step `step`; its record is parsed strictly."""
        if type(step) is not int or step < 0:
            raise AppError(f"a step is a non-negative integer, got {step!r}")
        d = self._ask(json.dumps({"op": "step", "step": step}).encode())
        want = {
            "ok",
            "refused",
            "record",
            "text",
            "policy_fee_escrow",
            "inference_escrow",
            "dispersing",
        }
        if set(d) != want or not isinstance(d["record"], str) or not isinstance(d["text"], str):
            self._fail(f"the program's step answer has not exactly the fields {sorted(want)}")
        if type(d["refused"]) is not bool:
            self._fail("the program's step answer's refused is not a boolean")
        if type(d["dispersing"]) is not bool:
            self._fail("the program's step answer's dispersing is not a boolean")
        raw = d["record"].encode()
        try:
            rec = StepRecord.from_json(raw)
        except EigenError as exc:
            self._fail(f"the program's step record does not parse: {exc}")
        if rec.feed.feed.step != step:
            self._fail(f"the program answered the record of step {rec.feed.feed.step}, not {step}")
        if rec.agent.get("wallet") != self._address:
            self._fail(
                f"the program's step record names the wallet {rec.agent.get('wallet')}, not its address"
            )
        return AppStep(
            rec,
            raw,
            d["text"],
            d["refused"],
            _escrow_id(d["policy_fee_escrow"]),
            _escrow_id(d["inference_escrow"]),
            d["dispersing"],
        )

    def record(self, step: int) -> tuple[dict[str, Any] | None, str | None]:
        """Step `step`'s record as the program dispersed it: (its DA certificate, None), or (None, why
        not), once the dispersal ended (it may take up to the configuration's ``da.timeout_s``)."""
        if type(step) is not int or step < 0:
            raise AppError(f"a step is a non-negative integer, got {step!r}")
        d = self._ask(json.dumps({"op": "record", "step": step}).encode())
        if set(d) != {"ok", "step", "cert", "da_error"} or d["step"] != step:
            self._fail("the program's record answer has not exactly the fields cert, da_error, ok, step")
        cert, why = d["cert"], d["da_error"]
        if not ((isinstance(cert, dict) and why is None) or (cert is None and isinstance(why, str))):
            self._fail("the program's record answer is neither a certificate object nor a reason")
        return cert, why

    def close(self) -> None:
        """End the program: close its input (it exits), then stop it."""
        if self.closed:
            return
        self.closed = True
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        wait = getattr(self.proc, "wait", None)
        if wait is not None:
            try:
                wait(timeout=5)
            except Exception:  # subprocess.TimeoutExpired and the like: stopped below
                pass
        stop = getattr(self.proc, "stop", None)
        (stop or self.proc.kill)()
        if wait is not None and stop is None:
            wait()

    def __enter__(self) -> TradingApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
