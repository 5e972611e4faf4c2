"""The DA devnet's contracts on its chain (docs/da-network.md, *Devnet*): a BLSRegistry over the restaking core
with one operator set of two quorums, each validator registered in it as an operator with stake and its BLS key
(proof of possession), a PaymentVault with a reservation and an on-demand deposit for the devnet's payer, and an
EigenDACertVerifier over the set, so ``eigen da put --cert-verifier`` checks the devnet's certificates.

The chain is any node with the restaking core deployed whose mock tokens anyone may mint (the project's
``eigen chain devnet``, or an ape test chain): :class:`ChainSpec` names its RPC URL, the core's addresses and a funded
key that deploys and pays. The contracts come from ape's compiled artifacts (``ape compile``), deployed through
web3; each phase's transactions are sent together (explicit nonces, fixed gas) so a chain mining by the clock
takes a few blocks, not one per transaction. The record (``chain.json`` in the devnet's folder) is reused while
its registry is live and holds every validator's key; otherwise everything is deployed anew (a new AVS account,
so an operator set id never collides with an earlier deployment's).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from offchain.abi import WAD, ZERO_ADDRESS
from offchain.bls.keys import SecretKey
from offchain.chain import sdk
from offchain.chain.bls_registry import registration_data
from offchain.chain.deploy import CertVerifierParams
from offchain.da.errors import DevnetProcessError

CHAIN_FILE = "chain.json"
OPERATOR_SET = 1
STAKE = 100 * WAD  # each validator's deposit in each of the set's two strategies (equal stakes)
MAGNITUDE = WAD // 2  # the half of it allocated to the set
ALLOCATION_DELAY = 1  # blocks
ROTATION_DELAY, MAX_STALENESS = (
    10,
    14_400,
)  # the BLSRegistry's key rotation delay and certificate staleness (blocks)
RESERVATION_SYMBOLS_PER_S = 1 << 16  # the payer's reservation: 2 MiB/s on quorums 0 and 1
ON_DEMAND_DEPOSIT = 10**18  # and 1 ETH deposited for on-demand payments
DISPERSER_GAS_WEI = 10**18  # the disperser's claims of on-demand payments (about 100,000 gas each)
VAULT_PARAMS = (
    64,
    447_000_000,  # EigenDA's mainnet price (offchain.chain.deploy.PaymentVaultParams)
    1,
    1 << 24,
    300,
    30,
)  # minNumSymbols, pricePerSymbol (wei), cooldown, global symbols/period, intervals
CALL_GAS = 3_000_000
TX_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ChainSpec:
    """A chain with the restaking core: its JSON-RPC URL, the core's addresses (``allocation_manager``,
    ``delegation_manager``, ``strategy_manager``, ``tokens`` and ``strategies`` by symbol, as
    ``Deployment.addresses()`` / an ``eigen chain devnet`` record name them) and a funded key (hex)."""

    rpc_url: str
    addresses: dict[str, Any]
    funder_key: str

    @classmethod
    def from_record(cls, path: Path | str) -> ChainSpec:
        """From a devnet.json as ``eigen chain devnet`` writes it (``rpc_url``, ``addresses``, ``accounts.deployer.key``)."""
        p = Path(path)
        try:
            rec = json.loads(p.read_text())
            return cls(rec["rpc_url"], rec["addresses"], rec["accounts"]["deployer"]["key"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DevnetProcessError(
                f"{p} is not a chain record (rpc_url, addresses, accounts.deployer.key): {exc}"
            ) from exc


_ARTIFACTS: dict[tuple[str, int], Any] = {}  # (path, mtime) -> its contract types: parsed once (megabytes)


def _contract_types() -> Any:
    p = sdk.BUILD_ARTIFACTS
    key = (str(p), p.stat().st_mtime_ns)
    if key not in _ARTIFACTS:
        _ARTIFACTS.clear()
        _ARTIFACTS[key] = json.loads(p.read_text())["contractTypes"]
    return _ARTIFACTS[key]


def _artifact(name: str) -> dict[str, Any]:
    try:
        ct = _contract_types()[name]
        return {"abi": ct["abi"], "bytecode": ct["deploymentBytecode"]["bytecode"]}
    except FileNotFoundError:
        raise DevnetProcessError(
            f"no compiled contracts at {sdk.BUILD_ARTIFACTS}: run `ape compile` first"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetProcessError(f"compiled artifacts {sdk.BUILD_ARTIFACTS} lack {name}: {exc}") from exc


class _Chain:
    def __init__(self, spec: ChainSpec) -> None:
        self.w3 = Web3(Web3.HTTPProvider(spec.rpc_url, request_kwargs={"timeout": 30}))
        try:
            self.chain_id = self.w3.eth.chain_id
        except Exception as exc:  # noqa: BLE001 - a refused connection or an odd answer
            raise DevnetProcessError(f"no chain answers at {spec.rpc_url}: {exc}") from None
        self.spec = spec
        self.d = sdk.Deployment(self.chain_id, spec.rpc_url, spec.addresses)
        self.funder = Account.from_key(spec.funder_key)

    def contract(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=_artifact(name)["abi"])

    def deploy(self, name: str, *args: Any) -> Any:
        art = _artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor(*args).build_transaction(
            {
                "from": self.funder.address,
                "nonce": self.w3.eth.get_transaction_count(self.funder.address, "pending"),
            }
        )
        r = self._wait([self.w3.eth.send_raw_transaction(self.funder.sign_transaction(tx).raw_transaction)])[
            0
        ]
        if r["status"] != 1:
            raise DevnetProcessError(f"deploying {name} reverted")
        return self.contract(name, r["contractAddress"])

    def send_all(self, calls: list[tuple[Any, Any, str]], value: dict[int, int] | None = None) -> None:
        """Send every (account, call or (to, wei), what) at once, each account's in order; wait for all."""
        nonces: dict[str, int] = {}
        hashes, whats = [], []
        for i, (account, fn, what) in enumerate(calls):
            me = account.address
            if me not in nonces:
                nonces[me] = self.w3.eth.get_transaction_count(me, "pending")
            base = {"from": me, "nonce": nonces[me], "gas": CALL_GAS, "chainId": self.chain_id}
            if isinstance(fn, tuple):  # a plain transfer
                tx = {**base, "to": fn[0], "value": fn[1], "gas": 21_000}
                tx.update(self._fees())
            else:
                tx = fn.build_transaction({**base, "value": (value or {}).get(i, 0)})
            nonces[me] += 1
            hashes.append(self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))
            whats.append(what)
        failed = [w for r, w in zip(self._wait(hashes), whats, strict=True) if r["status"] != 1]
        if failed:
            raise DevnetProcessError(f"the devnet's chain setup failed: {', '.join(failed)} reverted")

    def _fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self.w3.eth.gas_price}
        return {"maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}

    def _wait(self, hashes: list[bytes]) -> list[Any]:
        return [
            self.w3.eth.wait_for_transaction_receipt(h, timeout=TX_TIMEOUT_S, poll_latency=0.1)
            for h in hashes
        ]

    def mine_to(self, block: int) -> None:
        """Until the head is past ``block``: mined at once where the node allows it (anvil), else waited for."""
        deadline = time.monotonic() + TX_TIMEOUT_S
        while self.w3.eth.block_number <= block:
            try:
                self.w3.provider.make_request("evm_mine", [])
            except Exception:  # noqa: BLE001 - a node without evm_mine: its own blocks come
                time.sleep(0.5)
            if time.monotonic() > deadline:
                raise DevnetProcessError(
                    f"the chain did not reach block {block + 1} within {TX_TIMEOUT_S:g} s"
                )


def _live(c: _Chain, rec: dict[str, Any], operators: list[str], keys: list[SecretKey]) -> bool:
    """Whether the recorded deployment is on this chain and holds every validator's current key."""
    try:
        if rec["chain_id"] != c.chain_id or not c.w3.eth.get_code(rec["registry"]):
            return False
        reg = c.contract("BLSRegistry", rec["registry"])
        for op, sk in zip(operators, keys, strict=True):
            if reg.functions.operatorIdOf(rec["operator_set"], op).call() != sk.public_key().operator_id:
                return False
            if not reg.functions.isMember(rec["operator_set"], op).call():
                return False
        return rec["operators"] == operators
    except (KeyError, TypeError, ValueError):
        return False
    except Exception:  # noqa: BLE001 - a call the chain refuses: not this deployment
        return False


def _avs_setup(
    am: Any, reg: Any, avs: Any, set_id: int, strats: list[str], new: bool
) -> list[tuple[Any, Any, str]]:
    """The AVS's calls that make ``reg`` the registrar of its set ``set_id`` over ``strats`` (its quorums 0
    and 1): for a recorded deployment only those not yet made (a second devnet over the same record)."""
    me = avs.address
    calls: list[tuple[Any, Any, str]] = []
    if new or not am.functions.isOperatorSet((me, set_id)).call():
        calls += [
            (avs, am.functions.updateAVSMetadataURI(me, "https://da.devnet/avs.json"), "updateAVSMetadataURI"),
            (avs, am.functions.createOperatorSets(me, [(set_id, strats, ZERO_ADDRESS)], [ZERO_ADDRESS]),
             "createOperatorSets"),
        ]  # fmt: skip
    if new or am.functions.getAVSRegistrar(me).call() != reg.address:
        calls.append((avs, am.functions.setAVSRegistrar(me, reg.address), "setAVSRegistrar"))
    if new or not reg.functions.quorums(set_id).call():
        calls.append((avs, reg.functions.configureQuorums(set_id, strats), "configureQuorums"))
    return calls


def _recorded_da(c: _Chain, da: Any) -> tuple[Any, Any, Any, Any, int]:
    """(AVS account, registry, vault, verifier, set id) of a record's ``da`` section (``ape run deploy
    --components da``), checked live on this chain and governed by the devnet's key."""
    try:
        reg = c.contract("BLSRegistry", da["bls_registry"])
        vault = c.contract("PaymentVault", da["payment_vault"])
        verifier = c.contract("EigenDACertVerifier", da["cert_verifier"])
        set_id = int(da["operator_set_id"])
        live = all(c.w3.eth.get_code(x.address) for x in (reg, vault, verifier))
        avs, owner = reg.functions.avs().call(), vault.functions.owner().call()
        wired = verifier.functions.blsRegistry().call() == reg.address
        am = reg.functions.allocationManager().call() == c.d.address("allocation_manager")
    except (KeyError, TypeError, ValueError) as exc:
        raise DevnetProcessError(f"the record's da section is malformed: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a call the chain refuses: not these contracts
        raise DevnetProcessError(f"the record's DA contracts are not live on this chain: {exc}") from None
    if not (live and wired and am):
        raise DevnetProcessError("the record's DA contracts are not live over this chain's core")
    me = c.funder.address
    if avs != me or owner != me:
        raise DevnetProcessError(
            f"the recorded DA AVS is {avs} and the PaymentVault's owner {owner}: the devnet's key ({me}) must be both "
            "(deploy with da.avs and da.governance: deployer, from that key)"
        )
    return c.funder, reg, vault, verifier, set_id


def deploy(
    folder: Path, spec: ChainSpec, keys: list[SecretKey], operator_keys: list[bytes], payer: str,
    disperser: str | None = None,
) -> dict:  # fmt: skip
    """Deploy (or find live, from ``chain.json``) the devnet's contracts and register ``keys`` (BLS) as the
    operators with ECDSA keys ``operator_keys``; the payer gets a reservation and an on-demand deposit, the
    ``disperser`` account (when named) the gas of its on-demand payment claims.
    Returns the record: rpc, chain id, registry, AVS, operator set, quorums, payment vault, cert verifier,
    each operator's address and id."""
    c = _Chain(spec)
    ops = [Account.from_key(k) for k in operator_keys]
    path = folder / CHAIN_FILE
    if path.exists():
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DevnetProcessError(f"{path} is unreadable: {exc}") from exc
        if rec.get("rpc_url") == spec.rpc_url and _live(c, rec, [o.address for o in ops], keys):
            return rec
    strategies = list((spec.addresses.get("strategies") or {}).items())[:2]
    if len(strategies) < 2:
        raise DevnetProcessError(
            "the chain's core has fewer than two strategies (the devnet's quorums 0 and 1)"
        )
    syms = [s for s, _ in strategies]
    strats = [Web3.to_checksum_address(a) for _, a in strategies]
    tokens = [c.d.contract("token", spec.addresses["tokens"][s], "MockERC20") for s in syms]
    am, dm, sm = (c.d.contract(n) for n in ("allocation_manager", "delegation_manager", "strategy_manager"))

    recorded = spec.addresses.get("da")
    fund = [(c.funder, (o.address, 10**19), f"fund operator {i}") for i, o in enumerate(ops)]
    fund += (
        [(c.funder, (Web3.to_checksum_address(disperser), DISPERSER_GAS_WEI), "fund the disperser")]
        if disperser
        else []
    )
    if recorded is None:
        avs = Account.create()  # a fresh AVS per deployment: its set ids are its own
        c.send_all([(c.funder, (avs.address, 10**19), "fund the AVS"), *fund])
        set_id = OPERATOR_SET
        reg = c.deploy("BLSRegistry", am.address, avs.address, ROTATION_DELAY, MAX_STALENESS)
        vault = c.deploy("PaymentVault", c.funder.address, *VAULT_PARAMS)
        cv_params = CertVerifierParams()
        verifier = c.deploy(
            "EigenDACertVerifier",
            c.funder.address,
            reg.address,
            OPERATOR_SET,
            (cv_params.confirmation_threshold, cv_params.adversary_threshold),
            cv_params.required_quorums,
            cv_params.recency_window_blocks,
            cv_params.blob_params(),
        )
        avs_calls = _avs_setup(am, reg, avs, set_id, strats, new=True)
    else:  # the DA contracts of an `ape run deploy --components da` record: the funder is their AVS and owner
        c.send_all(fund)
        avs, reg, vault, verifier, set_id = _recorded_da(c, recorded)
        strats = [Web3.to_checksum_address(a) for a in reg.functions.quorums(set_id).call()] or strats
        avs_calls = _avs_setup(am, reg, avs, set_id, strats, new=False)
        if len(strats) < 2:
            raise DevnetProcessError(
                f"the recorded DA set {set_id} has {len(strats)} quorum(s): the devnet needs two"
            )
        by_strategy = {
            Web3.to_checksum_address(a): s for s, a in (spec.addresses.get("strategies") or {}).items()
        }
        if not all(a in by_strategy for a in strats[:2]):
            raise DevnetProcessError(
                "the recorded DA set's quorums are not strategies of mintable recorded tokens"
            )
        syms, strats = [by_strategy[a] for a in strats[:2]], strats[:2]
        tokens = [c.d.contract("token", spec.addresses["tokens"][s], "MockERC20") for s in syms]
    now = int(time.time())
    reservation = (RESERVATION_SYMBOLS_PER_S, now - 86_400, now + 365 * 86_400, b"\x00\x01", b"\x32\x32")
    calls = [
        *avs_calls,
        (
            c.funder,
            vault.functions.setReservation(Web3.to_checksum_address(payer), reservation),
            "setReservation",
        ),
        (c.funder, vault.functions.depositOnDemand(Web3.to_checksum_address(payer)), "depositOnDemand"),
    ]
    c.send_all(calls, value={len(calls) - 1: ON_DEMAND_DEPOSIT})

    calls: list[tuple[Any, Any, str]] = []
    for i, (op, sk) in enumerate(zip(ops, keys, strict=True)):
        me = op.address
        if not dm.functions.isOperator(me).call():
            uri = f"https://da.devnet/v{i}.json"
            calls.append(
                (
                    op,
                    dm.functions.registerAsOperator(ZERO_ADDRESS, ALLOCATION_DELAY, uri),
                    f"v{i} registerAsOperator",
                )
            )
        for tok, strat in zip(tokens, strats, strict=True):
            calls += [
                (op, tok.functions.mint(me, STAKE), f"v{i} mint"),
                (op, tok.functions.approve(sm.address, STAKE), f"v{i} approve"),
                (op, sm.functions.depositIntoStrategy(strat, tok.address, STAKE), f"v{i} deposit"),
            ]
        calls += [
            (op, am.functions.modifyAllocations(me, [((avs.address, set_id), strats, [MAGNITUDE] * 2, [0, 0])]),
             f"v{i} modifyAllocations"),
            (op, am.functions.registerForOperatorSets(
                me, (avs.address, [set_id], registration_data(sk, me, c.chain_id, reg.address))),
             f"v{i} registerForOperatorSets (BLS key with proof of possession)"),
        ]  # fmt: skip
    c.send_all(calls)
    c.mine_to(c.w3.eth.block_number + ALLOCATION_DELAY)  # the allocations take effect
    c.send_all(
        [(c.funder, reg.functions.updateOperators(set_id, [o.address for o in ops]), "updateOperators")]
    )
    c.mine_to(c.w3.eth.block_number)  # the stakes' block is settled before a reference block names it
    rec = {
        "rpc_url": spec.rpc_url, "chain_id": c.chain_id, "registry": reg.address, "avs": avs.address,
        "operator_set": set_id, "quorums": {"0": {"operator_set": set_id, "stake_index": 0},
                                            "1": {"operator_set": set_id, "stake_index": 1}},
        "strategies": dict(zip(syms, strats, strict=True)), "payment_vault": vault.address,
        "cert_verifier": verifier.address, "operators": [o.address for o in ops],
        "operator_ids": ["0x" + k.public_key().operator_id.hex() for k in keys],
    }  # fmt: skip
    path.write_text(json.dumps(rec, indent=1))
    return rec
