"""A small SDK for AVS developers and operators: find a deployment, then act on it over JSON-RPC.

``Deployment.load(chain)`` reads where a deployment's addresses are kept: the devnet's
``.devnet/devnet.json`` (``make devnet``), or the record ``ape run deploy`` wrote for a chain id
(``deployments/<id>.json``, ``.deploy/<id>.json``). The functions below sign with a private key and
send one transaction each through web3 (no ape needed), with ABIs read from ape's compiled
artifacts (``.build/__local__.json``) or a folder that ``export_abis`` wrote.

Every bad input is a typed error (``offchain.chain.errors``): an unknown address or account name, a
malformed key or fraction (``ChainInputError``), no node answering (``DevnetError``), a call the
contract refuses (``ChainRevertError``, with the contract's reason).

This ``Deployment`` (addresses and a web3 connection) is not ``offchain.chain.deploy.Deployment``,
the ape contract handles that deploying returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.logs import DISCARD

from offchain import abi
from offchain.abi import WAD, ZERO_ADDRESS
from offchain.chain.deploy import ROOT
from offchain.chain.errors import ChainInputError, ChainRevertError, DevnetError

DEVNET_DIR = ROOT / ".devnet"
DEVNET_FILE = "devnet.json"
BUILD_ARTIFACTS = ROOT / ".build" / "__local__.json"
# record key -> contract type (ape's name, the ABI file's name)
CONTRACT_TYPES = {
    "strategy_manager": "StrategyManager",
    "delegation_manager": "DelegationManager",
    "allocation_manager": "AllocationManager",
    "slash_escrow": "SlashEscrow",
    "eigen": "Eigen",
    "beigen": "BackingEigen",
    "fork_manager": "ForkManager",
    "beigen_strategy": "BEigenStrategy",
    "compute_avs": "ComputeAVS",
    "inference_disputes": "InferenceDisputes",
    "task_mailbox": "TaskMailbox",
    "task_slasher": "TaskSlasher",
    "bls_registry": "BLSRegistry",
    "eigentrust_scores": "EigenTrustScores",
}
# Contracts whose ABI is exported besides those above (handles of tokens and strategies, modules).
EXTRA_TYPES = ("Strategy", "MockERC20", "OperatorSetSigCheck")
TX_TIMEOUT_S = 60
GAS_MARGIN = 1.25


# ---- ABIs ---------------------------------------------------------------------------------------


# ape's artifacts file (tens of MB, most of it bytecode and source maps; about 0.7 s to parse) -> its ABIs as
# JSON, by (path, modification time, size): parsed once per process while the file stays the same; each
# caller gets its own copy (a parse of the ABIs alone, a few ms).
_ABI_TEXTS: dict[tuple[str, int, int], str] = {}


def _artifact_abis(src: Path) -> str:
    st = src.stat()
    key = (str(src.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _ABI_TEXTS:
        data = json.loads(src.read_text())
        abis = {name: ct["abi"] for name, ct in data["contractTypes"].items() if "abi" in ct}
        _ABI_TEXTS.clear()
        _ABI_TEXTS[key] = json.dumps(abis)
    return _ABI_TEXTS[key]


def load_abis(source: Path | str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Contract type -> ABI, from ape's artifacts (default ``.build/__local__.json``, written by
    ``ape compile``) or from a folder of ``<Type>.json`` files written by :func:`export_abis`."""
    src = Path(source) if source is not None else BUILD_ARTIFACTS
    if src.is_dir():
        out = {}
        for p in sorted(src.glob("*.json")):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError) as exc:
                raise ChainInputError(f"ABI file {p} is unreadable: {exc}") from exc
        if not out:
            raise ChainInputError(f"no ABI files (*.json) in {src}")
        return out
    try:
        return json.loads(_artifact_abis(src))
    except FileNotFoundError:
        raise ChainInputError(
            f"no compiled contracts at {src}: run `ape compile` (or tools/run) first"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChainInputError(f"compiled artifacts {src} are unreadable: {exc}") from exc


def export_abis(out: Path | str, source: Path | str | None = None) -> list[Path]:
    """Write ``<Type>.json`` (the ABI, a JSON list) for every deployable contract into `out`
    (created if missing); returns the files written."""
    abis = load_abis(source)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ChainInputError(f"--out {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted({*CONTRACT_TYPES.values(), *EXTRA_TYPES}):
        if name not in abis:
            raise ChainInputError(f"the compiled artifacts hold no contract {name}")
        p = folder / f"{name}.json"
        p.write_text(json.dumps(abis[name], indent=1) + "\n")
        written.append(p)
    return written


# ---- finding a deployment -----------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ChainInputError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ChainInputError(f"{what} {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise ChainInputError(f"{what} {path} is not a JSON object")
    return data


def _connect(url: str) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    try:
        w3.eth.chain_id  # noqa: B018 - the first request tells whether anything answers
    except Exception as exc:  # requests' ConnectionError, a refused or odd answer
        raise DevnetError(f"no node answers at {url} (start one with `make devnet`)") from exc
    return w3


@dataclass
class Deployment:
    """A deployment's addresses on one chain and a web3 connection to it.

    ``addresses`` maps record keys (``allocation_manager``, ``compute_avs``, ...) to addresses and
    ``tokens``/``strategies`` to {symbol: address}; ``accounts`` maps the devnet's account names
    (``avs``, ``operator-1``, ...) to {address, key} (empty elsewhere)."""

    chain_id: int
    rpc_url: str | None
    addresses: dict[str, Any]
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    source: Path | None = None
    abi_source: Path | None = None
    _w3: Web3 | None = field(default=None, repr=False)
    _abis: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        chain: Any = "devnet",
        rpc: str | None = None,
        devnet_dir: Path | str | None = None,
        abi_source: Path | str | None = None,
    ) -> Deployment:
        """Find the deployment for `chain`:

        - ``"devnet"`` (default): the running devnet's file (``.devnet/devnet.json``, or in `devnet_dir`);
        - a chain id (int): ``deployments/<id>.json`` then ``.deploy/<id>.json``, reached through `rpc`;
        - an RPC URL (``http://...``): the chain id it reports, then as above (the devnet's file first
          when it names that URL);
        - a path to a record or devnet file;
        - an object with ``chain_id`` (ape's ``chain``): as a chain id, through its provider's URI.
        """
        folder = Path(devnet_dir) if devnet_dir is not None else DEVNET_DIR
        if chain == "devnet":
            return cls._from_file(folder / DEVNET_FILE, rpc, abi_source, devnet=True)
        if isinstance(chain, Path) or (isinstance(chain, str) and chain.endswith(".json")):
            return cls._from_file(Path(chain), rpc, abi_source)
        if isinstance(chain, str) and chain.startswith(("http://", "https://")):
            devfile = folder / DEVNET_FILE
            if devfile.exists():
                dev = _read_json(devfile, "devnet file")
                if dev.get("rpc_url") == chain:
                    return cls._from_file(devfile, None, abi_source, devnet=True)
            d = cls.load(
                _connect(chain).eth.chain_id, rpc=chain, devnet_dir=devnet_dir, abi_source=abi_source
            )
            return d
        if hasattr(chain, "chain_id") and not isinstance(chain, int):
            provider = getattr(chain, "provider", None)
            uri = rpc or getattr(provider, "uri", None) or getattr(provider, "http_uri", None)
            return cls.load(int(chain.chain_id), rpc=uri, devnet_dir=devnet_dir, abi_source=abi_source)
        if isinstance(chain, bool) or not isinstance(chain, int):
            raise ChainInputError(
                f"cannot find a deployment for {chain!r}: give 'devnet', a chain id or an RPC URL"
            )
        for p in (ROOT / "deployments" / f"{chain}.json", ROOT / ".deploy" / f"{chain}.json"):
            if p.exists():
                d = cls._from_file(p, rpc, abi_source)
                d.chain_id = chain
                return d
        raise ChainInputError(f"no recorded deployment for chain id {chain} (run `ape run deploy` first)")

    @classmethod
    def _from_file(cls, path: Path, rpc: str | None, abi_source: Any, devnet: bool = False) -> Deployment:
        if devnet and not path.exists():
            raise DevnetError(f"no devnet here ({path} does not exist): start one with `make devnet`")
        data = _read_json(path, "deployment file")
        addresses = data.get("addresses", data)
        if not isinstance(addresses, dict) or "allocation_manager" not in addresses:
            raise ChainInputError(f"{path} holds no deployment (no allocation_manager address)")
        url = rpc or data.get("rpc_url")
        chain_id = data.get("chain_id", 0)
        return cls(
            chain_id=int(chain_id),
            rpc_url=url,
            addresses={k: v for k, v in addresses.items() if k != "parameters"},
            accounts=data.get("accounts") or {},
            source=path,
            abi_source=Path(abi_source) if abi_source is not None else None,
        )

    # -- connection and handles

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            if not self.rpc_url:
                raise ChainInputError(f"no RPC URL for chain {self.chain_id}: pass one (--rpc)")
            self._w3 = _connect(self.rpc_url)
            if self.chain_id and self._w3.eth.chain_id != self.chain_id:
                raise DevnetError(
                    f"the node at {self.rpc_url} is chain {self._w3.eth.chain_id}, not {self.chain_id} "
                    f"as {self.source} records"
                )
            self.chain_id = self._w3.eth.chain_id
        return self._w3

    def check_live(self) -> None:
        """DevnetError unless the node answers and the AllocationManager has code there."""
        if not self.w3.eth.get_code(self.address("allocation_manager")):
            raise DevnetError(
                f"no contract at the recorded AllocationManager on {self.rpc_url}: the chain was reset "
                "or the record is for another chain"
            )

    def abis(self) -> dict[str, Any]:
        if self._abis is None:
            self._abis = load_abis(self.abi_source)
        return self._abis

    def address(self, name: str) -> str:
        """The recorded address of contract `name` (a record key such as ``allocation_manager``)."""
        a = self.addresses.get(name)
        if not isinstance(a, str):
            raise ChainInputError(f"the deployment ({self.source}) records no {name}")
        return Web3.to_checksum_address(a)

    def contract(self, name: str, address: str | None = None, ctype: str | None = None) -> Any:
        ctype = ctype or CONTRACT_TYPES.get(name)
        if ctype is None or ctype not in self.abis():
            raise ChainInputError(f"no ABI for {name}")
        addr = Web3.to_checksum_address(address) if address else self.address(name)
        return self.w3.eth.contract(address=addr, abi=self.abis()[ctype])

    def symbol(self, strategy: str) -> str:
        """The token symbol of a recorded strategy (the address itself for another)."""
        for sym, a in (self.addresses.get("strategies") or {}).items():
            if a.lower() == strategy.lower():
                return sym
        return strategy

    def strategy(self, ref: str) -> str:
        """A strategy by token symbol (``stETH``) or address; checked against the StrategyManager."""
        by_symbol = self.addresses.get("strategies") or {}
        if ref in by_symbol:
            return Web3.to_checksum_address(by_symbol[ref])
        if ref.lower() == "beigen" and self.addresses.get("beigen_strategy"):
            return self.address("beigen_strategy")
        known = ", ".join(sorted(by_symbol)) or "none recorded"
        try:
            addr = Web3.to_checksum_address(abi.address(ref, ValueError))
        except (ValueError, TypeError):
            raise ChainInputError(
                f"unknown strategy {ref!r}: give a token symbol ({known}) or a strategy address"
            ) from None
        if not self.contract("strategy_manager").functions.isStrategy(addr).call():
            raise ChainInputError(f"{ref} is not a strategy of this deployment (symbols: {known})")
        return addr

    def resolve(self, ref: str, what: str = "address") -> str:
        """An address given as hex, a devnet account name (``operator-1``) or a record key
        (``compute_avs``)."""
        if ref in self.accounts:
            return Web3.to_checksum_address(self.accounts[ref]["address"])
        if ref in CONTRACT_TYPES and isinstance(self.addresses.get(ref), str):
            return self.address(ref)
        return self._parse_address(ref, what)

    def _parse_address(self, ref: str, what: str) -> str:
        try:
            a = abi.address(ref, ValueError)
        except (ValueError, TypeError):
            names = ", ".join(sorted(self.accounts)) if self.accounts else "none here"
            raise ChainInputError(
                f"unknown {what} {ref!r}: give a 0x address or an account name ({names})"
            ) from None
        return Web3.to_checksum_address(a)

    def key(self, ref: str) -> Any:
        """A private key given as hex (0x + 64 digits), a file holding one, or a devnet account
        name; returns an eth_account LocalAccount."""
        text = ref
        if ref in self.accounts:
            text = self.accounts[ref]["key"]
        elif not ref.startswith("0x") and Path(ref).is_file():
            try:
                text = Path(ref).read_text().strip()
            except OSError as exc:
                raise ChainInputError(f"key file {ref} is unreadable: {exc}") from exc
        body = text[2:] if text.startswith("0x") else text
        if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
            names = ", ".join(sorted(self.accounts)) if self.accounts else "none here"
            raise ChainInputError(
                f"bad key {ref if ref in self.accounts or len(ref) < 20 else ref[:8] + '...'}: give 0x and "
                f"64 hex digits, a file holding them, or an account name ({names})"
            )
        try:
            return Account.from_key("0x" + body)
        except Exception as exc:  # zero or above the curve order
            raise ChainInputError(f"bad key: {exc}") from None


# ---- sending ------------------------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    return msg.removeprefix("execution reverted: ").strip() or "no reason given"


def send(d: Deployment, account: Any, fn: Any, what: str, value: int = 0) -> Any:
    """Sign and send the contract call `fn` from `account`; returns the receipt. The call is
    simulated first (gas estimation), so a refusal is a ChainRevertError naming the contract's
    reason and nothing is sent."""
    w3 = d.w3
    try:
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        tx = fn.build_transaction({"from": account.address, "nonce": nonce, "value": value, "gas": 1})
        # Estimated against the pending block, the first the transaction can land in (on a chain
        # mining by the clock an allocation may take effect there and make a slash cost more),
        # with room for the state to move on by another block.
        estimate = w3.eth.estimate_gas({k: v for k, v in tx.items() if k != "gas"}, "pending")
    except ContractLogicError as exc:
        raise ChainRevertError(f"{what}: refused by the contract: {_reason(exc)}") from None
    except (Web3Exception, ValueError) as exc:
        raise ChainRevertError(f"{what}: {_reason(exc)}") from None
    tx["gas"] = min(int(estimate * GAS_MARGIN), w3.eth.get_block("latest")["gasLimit"])
    signed = account.sign_transaction(tx)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(signed.raw_transaction), TX_TIMEOUT_S
        )
    except TimeExhausted as exc:
        raise DevnetError(f"{what}: no receipt within {TX_TIMEOUT_S} s: {exc}") from None
    if receipt["status"] != 1:
        raise ChainRevertError(f"{what}: the transaction {receipt['transactionHash'].hex()} reverted")
    return receipt


def parse_fraction(text: str, what: str, allow_zero: bool = False) -> int:
    """``"25%"`` or ``"0.25"`` -> WAD-scaled integer; in [0, 1] (0 only when allow_zero)."""
    t = str(text).strip()
    try:
        v = Decimal(t[:-1]) / 100 if t.endswith("%") else Decimal(t)
    except InvalidOperation:
        raise ChainInputError(f"{what} must be a fraction like 0.25 or 25%: got {text!r}") from None
    if not v.is_finite():
        raise ChainInputError(f"{what} must be a fraction like 0.25 or 25%: got {text!r}")
    wad = int(v * WAD)
    if wad > WAD or wad < 0 or (wad == 0 and not allow_zero) or Decimal(wad) != v * WAD:
        raise ChainInputError(
            f"{what} must be in {'[' if allow_zero else '('}0, 1] with 18 decimals at most: got {text!r}"
        )
    return wad


def _set_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ChainInputError(f"operator set id must be an integer in [0, 2^32): got {value!r}")
    return value


def _set_strategies(d: Deployment, avs: str, set_id: int) -> list[str]:
    am = d.contract("allocation_manager")
    if not am.functions.isOperatorSet((avs, set_id)).call():
        raise ChainInputError(f"no operator set {set_id} of AVS {avs}")
    return list(am.functions.getStrategiesInOperatorSet((avs, set_id)).call())


# ---- operators ----------------------------------------------------------------------------------


def register_operator(
    d: Deployment,
    account: Any,
    avs: str | None = None,
    set_ids: list[int] = (),
    allocation_delay: int = 1,
    metadata_uri: str = "",
    accept_redistribution: bool = False,
) -> dict[str, Any]:
    """Register `account` as an operator (if it is not one) and for operator sets `set_ids` of
    `avs`; with `accept_redistribution`, consent first to those that redistribute."""
    dm, am = d.contract("delegation_manager"), d.contract("allocation_manager")
    me = account.address
    done: dict[str, Any] = {"operator": me, "registered_as_operator": False, "sets": []}
    if not dm.functions.isOperator(me).call():
        send(
            d,
            account,
            dm.functions.registerAsOperator(ZERO_ADDRESS, allocation_delay, metadata_uri),
            "registerAsOperator",
        )
        done["registered_as_operator"] = True
    ids = [_set_id(i) for i in set_ids]
    if ids:
        if avs is None:
            raise ChainInputError("name the AVS whose sets to join (--avs)")
        for i in ids:
            _set_strategies(d, avs, i)  # the set exists
            redistributing = am.functions.isRedistributingOperatorSet((avs, i)).call()
            if redistributing and not am.functions.getRedistributionConsent(me, (avs, i)).call():
                if not accept_redistribution:
                    raise ChainInputError(
                        f"set {i} of {avs} redistributes slashed stake: pass --accept-redistribution to consent"
                    )
                send(
                    d,
                    account,
                    am.functions.setRedistributionConsent(me, (avs, i), True),
                    "setRedistributionConsent",
                )
        send(d, account, am.functions.registerForOperatorSets(me, (avs, ids, b"")), "registerForOperatorSets")
        done["sets"] = ids
    return done


def allocate(
    d: Deployment, account: Any, avs: str, set_id: int, magnitude: int, strategies: list[str] | None = None
) -> dict[str, Any]:
    """Set `account`'s magnitude (WAD = 100% of its stake in each strategy) allocated to set
    (avs, set_id), for the given strategies (default: all of the set's). Returns the effect block."""
    set_id = _set_id(set_id)
    am = d.contract("allocation_manager")
    in_set = _set_strategies(d, avs, set_id)
    strats = strategies or in_set
    me = account.address
    cur = [am.functions.getAllocation(me, (avs, set_id), s).call()[0] for s in strats]
    r = send(
        d,
        account,
        am.functions.modifyAllocations(me, [((avs, set_id), strats, [magnitude] * len(strats), cur)]),
        "modifyAllocations",
    )
    events = am.events.AllocationUpdated().process_receipt(r, errors=DISCARD)
    return {
        "operator": me,
        "set": [avs, set_id],
        "strategies": strats,
        "magnitude": magnitude,
        "effect_block": max((e["args"]["effectBlock"] for e in events), default=r["blockNumber"]),
    }


def operator_status(
    d: Deployment, operator: str, avs: str | None = None, set_ids: list[int] = ()
) -> dict[str, Any]:
    """An operator's state: whether it is one, its delegated shares and magnitudes per strategy of
    the deployment, and for each set named its registration, allocations and allocated stake."""
    dm, am = d.contract("delegation_manager"), d.contract("allocation_manager")
    strategies = {
        sym: Web3.to_checksum_address(a) for sym, a in (d.addresses.get("strategies") or {}).items()
    }
    out: dict[str, Any] = {
        "operator": operator,
        "is_operator": dm.functions.isOperator(operator).call(),
        "block": d.w3.eth.block_number,
        "strategies": {},
        "sets": {},
    }
    for sym, s in strategies.items():
        out["strategies"][sym] = {
            "delegated_shares": dm.functions.operatorShares(operator, s).call(),
            "max_magnitude": am.functions.getMaxMagnitude(operator, s).call(),
            "encumbered_magnitude": am.functions.getEncumberedMagnitude(operator, s).call(),
        }
    names = {a: sym for sym, a in strategies.items()}
    for i in set_ids:
        if avs is None:
            raise ChainInputError("name the AVS of the sets (--avs)")
        strats = _set_strategies(d, avs, _set_id(i))
        stake = am.functions.getAllocatedStake((avs, i), [operator], strats).call()[0] if strats else []
        out["sets"][str(i)] = {
            "avs": avs,
            "registered": am.functions.isMemberOfOperatorSet(operator, (avs, i)).call(),
            "slashable": am.functions.isOperatorSlashable(operator, (avs, i)).call(),
            "allocations": {
                names.get(s, s): {"magnitude": a[0], "pending_diff": a[1], "effect_block": a[2]}
                for s in strats
                for a in [am.functions.getAllocation(operator, (avs, i), s).call()]
            },
            "allocated_stake": {names.get(s, s): v for s, v in zip(strats, stake, strict=True)},
        }
    return out


# ---- AVSs ---------------------------------------------------------------------------------------


def create_set(
    d: Deployment,
    account: Any,
    set_id: int,
    strategies: list[str],
    redistribute_to: str | None = None,
    resolver: str | None = None,
    slasher: str | None = None,
    metadata_uri: str = "",
) -> dict[str, Any]:
    """Create operator set `set_id` of the AVS `account` (registering the AVS's metadata first if
    it never did). Slashed stake is burnt, or redistributed to `redistribute_to`; `resolver` may
    cancel escrowed slashes; `slasher` (default: the AVS) may slash."""
    set_id = _set_id(set_id)
    if not strategies:
        raise ChainInputError("name at least one strategy (--strategies)")
    am = d.contract("allocation_manager")
    me = account.address
    if am.functions.isOperatorSet((me, set_id)).call():
        raise ChainInputError(f"operator set {set_id} of {me} exists already")
    if not am.functions.avsRegisteredMetadata(me).call():
        send(d, account, am.functions.updateAVSMetadataURI(me, metadata_uri), "updateAVSMetadataURI")
    p = (set_id, strategies, slasher or ZERO_ADDRESS)
    resolvers = [resolver or ZERO_ADDRESS]
    if redistribute_to:
        fn = am.functions.createRedistributingOperatorSets(me, [p], [redistribute_to], resolvers)
    else:
        fn = am.functions.createOperatorSets(me, [p], resolvers)
    send(d, account, fn, "createOperatorSets")
    return {
        "avs": me,
        "set": set_id,
        "strategies": strategies,
        "redistribution_recipient": redistribute_to,
        "resolver": resolver,
        "slasher": slasher or me,
    }


def slash(
    d: Deployment,
    account: Any,
    operator: str,
    set_id: int,
    wad: int,
    avs: str | None = None,
    strategies: list[str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Slash `operator` in set (avs, set_id) by `wad` of its allocation to each strategy (default:
    all of the set's), as the set's slasher `account`. Returns the slash id and the block from
    which the escrow may be released."""
    set_id = _set_id(set_id)
    avs = avs or account.address
    am, esc = d.contract("allocation_manager"), d.contract("slash_escrow")
    in_set = _set_strategies(d, avs, set_id)
    strats = sorted(strategies or in_set, key=lambda a: int(a, 16))  # the contract wants them ascending
    slasher = am.functions.getSlasher((avs, set_id)).call()
    if slasher != account.address:
        raise ChainInputError(f"{account.address} is not the slasher of set {set_id} of {avs} ({slasher} is)")
    pending = [
        am.functions.getAllocation(operator, (avs, set_id), s).call(block_identifier="pending")[0]
        for s in strats
    ]
    if not any(pending):
        raise ChainInputError(
            f"{operator} has no allocation to set {set_id} of {avs} in effect (yet): nothing to slash"
        )
    if len(description.encode()) > 256:
        raise ChainInputError("the description is longer than 256 bytes")
    r = send(
        d,
        account,
        am.functions.slashOperator(avs, (operator, set_id, strats, [wad] * len(strats), description)),
        "slashOperator",
    )
    ev = am.events.OperatorSlashed().process_receipt(r, errors=DISCARD)[0]["args"]
    slash_id = ev["slashId"]
    record = esc.functions.getSlash(avs, set_id, slash_id).call()
    return {
        "avs": avs,
        "set": set_id,
        "operator": operator,
        "slash_id": slash_id,
        "strategies": strats,
        "wad_slashed": list(ev["wadSlashed"]),
        "amounts": list(record[5]),
        "resolve_block": record[1],
        "block": r["blockNumber"],
    }


def release(d: Deployment, account: Any, avs: str, set_id: int, slash_id: int) -> dict[str, Any]:
    """Release escrowed slash `slash_id` of set (avs, set_id) to its recipient (the burn address or
    the set's redistribution recipient) once its resolution window has passed; anyone may."""
    set_id = _set_id(set_id)
    esc = d.contract("slash_escrow")
    rec = esc.functions.getSlash(avs, set_id, slash_id).call()
    status, resolve_block = rec[2], rec[1]
    if status == 0:
        raise ChainInputError(f"no slash {slash_id} of set {set_id} of {avs} in escrow")
    if status != 1:
        raise ChainInputError(f"slash {slash_id} was already {'released' if status == 2 else 'cancelled'}")
    now = d.w3.eth.block_number
    if now < resolve_block:
        raise ChainInputError(f"slash {slash_id} can be released from block {resolve_block} (now {now})")
    r = send(d, account, esc.functions.releaseSlash(avs, set_id, slash_id), "releaseSlash")
    recipient = d.contract("allocation_manager").functions.getRedistributionRecipient((avs, set_id)).call()
    return {
        "avs": avs,
        "set": set_id,
        "slash_id": slash_id,
        "recipient": recipient,
        "tokens": list(rec[4]),
        "amounts": list(rec[5]),
        "block": r["blockNumber"],
    }


# ---- stakers (the devnet's seeding uses these) --------------------------------------------------


def deposit(d: Deployment, account: Any, symbol: str, amount: int, mint: bool = False) -> None:
    """Deposit `amount` of token `symbol` into its strategy (minting it first on a mock token)."""
    tokens = d.addresses.get("tokens") or {}
    if symbol not in tokens:
        raise ChainInputError(
            f"no token {symbol!r} in the deployment ({', '.join(sorted(tokens)) or 'none'})"
        )
    token = d.contract("token", tokens[symbol], "MockERC20")
    sm = d.contract("strategy_manager")
    if mint:
        send(d, account, token.functions.mint(account.address, amount), f"mint {symbol}")
    send(d, account, token.functions.approve(sm.address, amount), f"approve {symbol}")
    send(
        d,
        account,
        sm.functions.depositIntoStrategy(d.strategy(symbol), token.address, amount),
        f"deposit {symbol}",
    )


def delegate(d: Deployment, account: Any, operator: str) -> None:
    """Delegate `account`'s stake to `operator` (an operator without a delegation approver)."""
    dm = d.contract("delegation_manager")
    send(d, account, dm.functions.delegateTo(operator, (b"", 0), b"\x00" * 32), "delegateTo")
