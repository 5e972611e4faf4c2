"""How ape-foundry starts anvil, bounded in memory and on disk; and ape's per-call lookups of what
cannot change, answered once (``ape_without_repeated_lookups``).

ape-foundry has no setting for either, so ``anvil_without_step_traces`` wraps its
``FoundryProvider.build_command``; call it before the provider starts (tests/conftest.py does for the
whole suite, scripts/demo.py for the main job)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "eigen-anvil-states-"  # then the owning process's pid


def sweep_states(folder: str | None = None) -> list[str]:
    """Remove the states directories of processes that are gone (returned).

    A process that cannot run its exit handlers (killed, or a pytest-xdist worker that leaves with
    ``os._exit``) leaves its directory behind, gigabytes after a long run: the next process to start
    anvil removes it."""
    gone = []
    for d in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = d.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():  # an older name, without the pid: its owner is unknown, it stays
            continue
        if int(pid) == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)
        gone.append(str(d))
    return gone


def anvil_without_step_traces(keep_blocks: int | None = None) -> str:
    """Start anvil (through ape-foundry) without ``--steps-tracing`` and with its own ``--cache-path``.

    ``--steps-tracing`` makes anvil keep every executed opcode of every transaction with its stack and
    memory, for ape's coverage and source tracebacks: a few thousand BLS registrations (a hashToG1 loop
    each) then hold tens of GB and anvil dies. Without it anvil still keeps the call traces that ape's
    return values and gas reports use. ``keep_blocks`` also drops transactions (receipts and their logs,
    for good: a snapshot restore does not bring them back) older than that many blocks, for benches that
    send more than memory holds.

    States older than anvil's in-memory window go to ``--cache-path``, a directory of this process
    removed when it exits (returned): by default anvil writes them under ~/.foundry/anvil/tmp and leaves
    them there when it is killed, as ape stops it, and a day of test runs filled a 250 GB disk."""
    from ape_foundry.provider import FoundryProvider

    build = getattr(FoundryProvider.build_command, "__wrapped__", FoundryProvider.build_command)
    sweep_states()
    states = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, states, True)

    def command(self):
        cmd = [a for a in build(self) if a != "--steps-tracing"] + ["--cache-path", states]
        return cmd if keep_blocks is None else [*cmd, "--transaction-block-keeper", str(keep_blocks)]

    command.__wrapped__ = build
    FoundryProvider.build_command = command
    return states


def _loopback(uri: object) -> bool:
    from urllib.parse import urlparse

    return isinstance(uri, str) and urlparse(uri).hostname in ("127.0.0.1", "localhost", "::1")


def _sessions_without_environment(provider: object) -> None:
    """The HTTP sessions of ``provider`` (web3's, one per thread) without ``trust_env``: requests then stops
    reading the environment (every variable, for proxies) and the netrc files on each request, a third of an
    eth_call's time. Only for a loopback node: no proxy, netrc login or CA bundle applies to it."""
    manager = getattr(provider, "_request_session_manager", None)
    cached = getattr(manager, "cache_and_return_session", None)
    if cached is None or getattr(cached, "__wrapped__", None) is not None:
        return

    def cache_and_return_session(*args, **kwargs):
        session = cached(*args, **kwargs)
        session.trust_env = False
        return session

    cache_and_return_session.__wrapped__ = cached
    manager.cache_and_return_session = cache_and_return_session


# The node requests after which an address that had code may have none (a snapshot restored, code set, the
# chain reset or reloaded). Cancun's SELFDESTRUCT removes code only in the transaction that created it: a
# contract seen with code keeps it otherwise.
CODE_CHANGING = frozenset({
    "evm_revert", "anvil_revert", "anvil_rollback", "anvil_setCode", "hardhat_setCode", "anvil_reset",
    "hardhat_reset", "anvil_loadState",
})  # fmt: skip


def _remember_code(provider: object) -> None:
    """Keep, on ``provider`` (web3's HTTP provider of one anvil connection), the addresses seen with code
    (``eigen_code_seen``), forgotten on every request of :data:`CODE_CHANGING`."""
    if getattr(provider, "eigen_code_seen", None) is not None:
        return
    seen: set[str] = set()
    make_request = provider.make_request

    def forgetting(method, params):
        if method in CODE_CHANGING:
            seen.clear()
            try:
                return make_request(method, params)
            finally:
                seen.clear()  # and what a call racing the request added
        return make_request(method, params)

    provider.eigen_code_seen = seen
    provider.make_request = forgetting


def ape_without_repeated_lookups() -> None:
    """Stop ape (0.8.51, pinned) from asking again, on every call and transaction, what cannot change.

    Measured on anvil, an ape view call took about 6.5 ms, of which one HTTP request, the ``eth_call``,
    is the answer. The rest: web3's validation middleware sends ``eth_chainId`` twice per request (web3
    caches it only when asked to); ape builds a fresh ``NetworkConfig`` (a pydantic-settings model that
    reads the whole environment) to find the ecosystem's default transaction type, which is configuration;
    and the local network's gas limit ``"max"`` fetches the latest block for its gas limit. This makes the
    chain id a cached request of each anvil connection, and remembers the other two: the transaction type
    per network and configuration object, the block gas limit per connection until
    ``set_block_gas_limit`` changes it; and requests reads the whole environment (for proxies) and the netrc
    files on every request, which a loopback anvil needs none of (``_sessions_without_environment``); and each
    contract call or transaction first asks for the contract's code (``_remember_code``). ape's answers stay
    the same; tests/conftest.py and scripts/demo.py
    call it before any provider starts, as for ``anvil_without_step_traces``."""
    from ape.contracts.base import ContractMethodHandler
    from ape_ethereum.ecosystem import Ethereum
    from ape_foundry.provider import FoundryProvider

    if getattr(FoundryProvider._set_web3, "__wrapped__", None) is not None:
        return  # already applied
    set_web3 = FoundryProvider._set_web3

    def _set_web3(self):
        set_web3(self)
        if (w3 := self._web3) is not None:
            w3.provider.cache_allowed_requests = True
            w3.provider.cacheable_requests = {"eth_chainId"}
            if _loopback(getattr(w3.provider, "endpoint_uri", None)):
                _sessions_without_environment(w3.provider)
            _remember_code(w3.provider)

    _set_web3.__wrapped__ = set_web3
    FoundryProvider._set_web3 = _set_web3

    # keyed by object ids; each entry keeps its objects alive, so that no id is reused while cached
    gas_limits: dict[int, tuple[object, int]] = {}
    max_gas = FoundryProvider.max_gas.fget
    set_limit = FoundryProvider.set_block_gas_limit

    def cached_max_gas(self) -> int:
        w3 = self._web3
        hit = gas_limits.get(id(w3))
        if hit is None or hit[0] is not w3:
            hit = gas_limits[id(w3)] = (w3, max_gas(self))
        return hit[1]

    def set_block_gas_limit(self, gas_limit: int) -> bool:
        gas_limits.clear()
        return set_limit(self, gas_limit)

    cached_max_gas.__wrapped__ = max_gas
    FoundryProvider.max_gas = property(cached_max_gas)
    FoundryProvider.set_block_gas_limit = set_block_gas_limit

    tx_types: dict[tuple, tuple[object, object]] = {}
    tx_type = Ethereum.default_transaction_type.fget

    def cached_tx_type(self):
        provider = self.network_manager.active_provider
        cfg = self.config
        key = (type(self), provider.network.name if provider else None, id(cfg))
        hit = tx_types.get(key)
        if hit is None or hit[0] is not cfg:
            hit = tx_types[key] = (cfg, tx_type(self))
        return hit[1]

    cached_tx_type.__wrapped__ = tx_type
    Ethereum.default_transaction_type = property(cached_tx_type)

    # ape checks that a contract has code before each of its calls and transactions (an eth_getCode, as long
    # as the eth_call itself): once seen with code, an address is not asked again until a request that can
    # remove code (_remember_code); an address without code still raises ape's ContractNotFoundError.
    validate = ContractMethodHandler._validate_is_contract

    def validate_once(self):
        web3 = getattr(self.provider, "_web3", None)
        seen = getattr(getattr(web3, "provider", None), "eigen_code_seen", None)
        if seen is None:
            return validate(self)
        address = self.contract.address
        if address not in seen:
            validate(self)
            seen.add(address)

    validate_once.__wrapped__ = validate
    ContractMethodHandler._validate_is_contract = validate_once
