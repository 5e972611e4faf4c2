"""Deploy the restaking core with ape, from config/deploy.yaml, idempotently.

``deploy_core`` is used by ``ape run deploy``, the devnet demo and the contract tests, so all three
deploy exactly the same way. Addresses are written per chain id; a second deployment to a chain
whose recorded contracts are still there (and wired to each other) reuses them.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import rlp
import yaml
from eth_hash.auto import keccak
from web3 import Web3

from offchain import abi
from offchain.abi import BURN_ADDRESS, ZERO_ADDRESS
from offchain.chain.errors import DeployConfigError
from offchain.da.network.endpoints import DA_GRPC_DEFAULTS, da_grpc_problem
from offchain.errors import ChainError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "config" / "deploy.yaml"
CORE = ("strategy_manager", "delegation_manager", "allocation_manager", "slash_escrow")
UINT32_MAX = 2**32 - 1
TOKEN = ("eigen", "beigen", "fork_manager", "beigen_strategy")


def _is_address(v: Any) -> bool:
    try:
        abi.address(v, ValueError)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class DeployConfig:
    withdrawal_delay_blocks: int
    deallocation_delay_blocks: int
    allocation_configuration_delay_blocks: int
    slash_resolution_delay_blocks: int
    strategy_whitelister: str = "deployer"
    tokens: tuple[str, ...] = ()
    mock_tokens: tuple[tuple[str, str], ...] = ()
    # EIGEN / bEIGEN and fork-and-challenge (docs/token.md); deployed when eigen_enabled.
    eigen_enabled: bool = False
    eigen_initial_supply: int = 1_673_646_668_284_660_000_000_000_000
    eigen_governance: str = "deployer"
    challenge_bond: int = 100_000 * 10**18
    challenge_window_blocks: int = 50400  # 7 days
    fork_timelock_blocks: int = 14400  # 2 days
    challenger_reward_bps: int = 1000
    beigen_extra_withdrawal_delay_blocks: int = 72000  # 10 days on top of withdrawal_delay_blocks
    # Security backstops (issue 12; docs/restaking.md "Security"): the smallest allocation delay an
    # operator may choose, and the PauserRegistry's roles ("deployer" or addresses).
    min_allocation_delay_blocks: int = 0
    pausers: tuple[str, ...] = ("deployer",)
    unpauser: str = "deployer"

    def __post_init__(self) -> None:
        for name in (
            "withdrawal_delay_blocks",
            "deallocation_delay_blocks",
            "allocation_configuration_delay_blocks",
            "slash_resolution_delay_blocks",
            "min_allocation_delay_blocks",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= UINT32_MAX:
                raise DeployConfigError(f"{name} must be an integer in [0, 2^32): got {v!r}")
        if self.slash_resolution_delay_blocks > self.withdrawal_delay_blocks:
            raise DeployConfigError("slash_resolution_delay_blocks must not exceed withdrawal_delay_blocks")
        for name in (
            "challenge_window_blocks",
            "fork_timelock_blocks",
            "beigen_extra_withdrawal_delay_blocks",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= UINT32_MAX:
                raise DeployConfigError(f"{name} must be an integer in [0, 2^32): got {v!r}")
        for name in ("eigen_initial_supply", "challenge_bond"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 2**224:
                raise DeployConfigError(f"{name} must be a positive integer below 2^224: got {v!r}")
        for role in (*self.pausers, self.unpauser):
            if role != "deployer" and not _is_address(role):
                raise DeployConfigError(f"pausers and unpauser must be 'deployer' or addresses: got {role!r}")
        if len(self.pausers) > 16:
            raise DeployConfigError("at most 16 pausers")
        g = self.eigen_governance
        if g != "deployer" and not _is_address(g):
            raise DeployConfigError(f"eigen_governance must be 'deployer' or an address: got {g!r}")
        r = self.challenger_reward_bps
        if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r <= 10_000:
            raise DeployConfigError(f"challenger_reward_bps must be an integer in [0, 10000]: got {r!r}")
        if (
            self.beigen_extra_withdrawal_delay_blocks
            < self.challenge_window_blocks + self.fork_timelock_blocks
        ):
            raise DeployConfigError(
                "beigen_extra_withdrawal_delay_blocks must cover challenge_window_blocks + fork_timelock_blocks"
            )


# Sections of config/deploy.yaml (under `default` and under a network) holding the AVS contracts'
# parameters: see load_avs_configs.
_C = TypeVar("_C")  # a configuration dataclass
AVS_SECTIONS = ("compute_avs", "inference_disputes", "task_mailbox")


def _read_config(network: str, path: Path | str | None) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The configuration file's path, its `default` mapping and the overrides for `network`."""
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(p.read_text())
    except FileNotFoundError as exc:
        raise DeployConfigError(f"deploy configuration not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployConfigError(f"deploy configuration {p} is unreadable: {exc}") from exc
    except yaml.YAMLError as exc:
        raise DeployConfigError(f"deploy configuration {p} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("default"), dict):
        raise DeployConfigError(f"{p}: needs a 'default' mapping")
    networks = raw.get("networks") or {}
    if not isinstance(networks, dict):
        raise DeployConfigError(f"{p}: networks must be a mapping")
    overrides = networks.get(network) or {}
    if not isinstance(overrides, dict):
        raise DeployConfigError(f"{p}: networks.{network} must be a mapping")
    return p, raw["default"], overrides


def load_config(network: str, path: Path | str | None = None) -> DeployConfig:
    """Parameters for ape network `network` ("local", "sepolia", ...): defaults + its overrides."""
    p, default, overrides = _read_config(network, path)
    merged = {
        k: v
        for k, v in {**default, **overrides}.items()
        if k not in (*AVS_SECTIONS, REWARDS_SECTION, DA_SECTION)
    }
    known = set(DeployConfig.__dataclass_fields__)
    unknown = set(merged) - known
    if unknown:
        raise DeployConfigError(f"{p}: unknown keys {sorted(unknown)}")
    required = {n for n, f in DeployConfig.__dataclass_fields__.items() if f.default is MISSING}
    missing = required - set(merged)
    if missing:
        raise DeployConfigError(f"{p}: missing required keys {sorted(missing)}")
    merged["tokens"] = tuple(merged.get("tokens") or ())
    merged["pausers"] = tuple(merged.get("pausers") or ())
    merged["mock_tokens"] = tuple(tuple(t) for t in (merged.get("mock_tokens") or ()))
    for t in merged["mock_tokens"]:
        if len(t) != 2:
            raise DeployConfigError(f"{p}: mock_tokens entries are [name, symbol]: got {list(t)}")
    return DeployConfig(**merged)


@dataclass
class Deployment:
    """Handles to a deployed core (ape contract instances)."""

    strategy_manager: Any
    delegation_manager: Any
    allocation_manager: Any
    slash_escrow: Any
    tokens: dict[str, Any] = field(default_factory=dict)  # symbol -> token
    strategies: dict[str, Any] = field(default_factory=dict)  # symbol -> strategy
    reused: bool = False
    eigen: Any = None  # EIGEN / bEIGEN contracts when deployed (deploy_token)
    beigen: Any = None  # the genesis bEIGEN
    fork_manager: Any = None
    beigen_strategy: Any = None
    pauser_registry: Any = None  # the PauserRegistry (read from the StrategyManager when reused)
    # The extensions and the PermissionController (read from the managers when reused)
    allocation_manager_extension: Any = None
    delegation_manager_extension: Any = None
    permission_controller: Any = None

    def addresses(self) -> dict[str, Any]:
        out = {
            **{name: getattr(self, name).address for name in CORE},
            "tokens": {k: v.address for k, v in self.tokens.items()},
            "strategies": {k: v.address for k, v in self.strategies.items()},
        }
        if self.pauser_registry is not None:
            out["pauser_registry"] = self.pauser_registry.address
        for name in ("allocation_manager_extension", "delegation_manager_extension", "permission_controller"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).address
        if self.eigen is not None:
            out.update({name: getattr(self, name).address for name in TOKEN})
        return out


def _is_live(deployment: dict[str, Any], project: Any, provider: Any) -> bool:
    try:
        for name in CORE:
            if not provider.get_code(deployment[name]):
                return False
        sm = project.StrategyManager.at(deployment["strategy_manager"])
        dm = project.DelegationManager.at(deployment["delegation_manager"])
        return (
            sm.delegation() == deployment["delegation_manager"]
            and dm.allocationManager() == deployment["allocation_manager"]
        )
    except Exception:
        return False


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ChainError(f"deployment record {path} is corrupt: {exc}") from exc
    return data if isinstance(data, dict) else None


def deploy_core(
    project: Any,
    deployer: Any,
    config: DeployConfig,
    record: Path | None = None,
    provider: Any = None,
) -> Deployment:
    """Deploy (or reuse, when `record` names a live deployment) the restaking core.

    Order: strategy blueprint, PauserRegistry, StrategyManager, PermissionController,
    DelegationManagerExtension, DelegationManager, AllocationManagerExtension, AllocationManager,
    SlashEscrow, then the one-time wiring, then strategies for configured and
    mock tokens.
    """
    if record is not None and provider is not None:
        existing = _load(record)
        if existing and _is_live(existing, project, provider):
            d = Deployment(
                strategy_manager=project.StrategyManager.at(existing["strategy_manager"]),
                delegation_manager=project.DelegationManager.at(existing["delegation_manager"]),
                allocation_manager=project.AllocationManager.at(existing["allocation_manager"]),
                slash_escrow=project.SlashEscrow.at(existing["slash_escrow"]),
                tokens={k: project.MockERC20.at(v) for k, v in existing.get("tokens", {}).items()},
                strategies={k: project.Strategy.at(v) for k, v in existing.get("strategies", {}).items()},
                reused=True,
            )
            d.pauser_registry = project.PauserRegistry.at(d.strategy_manager.pauserRegistry())
            d.allocation_manager_extension = project.AllocationManagerExtension.at(
                d.allocation_manager.extension()
            )
            d.delegation_manager_extension = project.DelegationManagerExtension.at(
                d.delegation_manager.extension()
            )
            d.permission_controller = project.PermissionController.at(
                d.delegation_manager.permissionController()
            )
            if all(existing.get(k) for k in TOKEN):
                d.eigen = project.Eigen.at(existing["eigen"])
                d.beigen = project.BackingEigen.at(existing["beigen"])
                d.fork_manager = project.ForkManager.at(existing["fork_manager"])
                d.beigen_strategy = project.BEigenStrategy.at(existing["beigen_strategy"])
            return d
    tx = {"sender": deployer}
    whitelister = (
        deployer.address if config.strategy_whitelister == "deployer" else config.strategy_whitelister
    )
    blueprint = project.Strategy.declare(**tx).contract_address

    def role(x: str) -> str:
        return deployer.address if x == "deployer" else x

    pauser_registry = deployer.deploy(
        project.PauserRegistry, [role(p) for p in config.pausers], role(config.unpauser)
    )
    sm = deployer.deploy(project.StrategyManager, whitelister, blueprint, pauser_registry.address)
    # Who may act for an operator or AVS (EigenLayer's PermissionController), consulted by the
    # DelegationManager and the AllocationManager, which read it from the DelegationManager.
    pc = deployer.deploy(project.PermissionController)
    dm_args = (sm.address, config.withdrawal_delay_blocks, pc.address)
    # Each manager runs its colder entry points in an extension (EIP-170's size limit); its
    # constructor checks that the extension was deployed with the same arguments.
    dm_ext = deployer.deploy(project.DelegationManagerExtension, *dm_args)
    dm = deployer.deploy(project.DelegationManager, *dm_args, dm_ext.address)
    am_args = (
        dm.address,
        config.deallocation_delay_blocks,
        config.allocation_configuration_delay_blocks,
        config.min_allocation_delay_blocks,
    )
    am_ext = deployer.deploy(project.AllocationManagerExtension, *am_args)
    am = deployer.deploy(project.AllocationManager, *am_args, am_ext.address)
    esc = deployer.deploy(
        project.SlashEscrow, sm.address, dm.address, am.address, config.slash_resolution_delay_blocks
    )
    sm.initialize(dm.address, esc.address, **tx)
    dm.initialize(am.address, esc.address, **tx)
    d = Deployment(
        sm,
        dm,
        am,
        esc,
        pauser_registry=pauser_registry,
        allocation_manager_extension=am_ext,
        delegation_manager_extension=dm_ext,
        permission_controller=pc,
    )
    for name, symbol in config.mock_tokens:
        d.tokens[symbol] = deployer.deploy(project.MockERC20, name, symbol)
    for address in config.tokens:
        d.tokens[address] = project.MockERC20.at(address)  # any ERC-20 ABI works for handles
    if whitelister == deployer.address:
        for symbol, token in d.tokens.items():
            receipt = sm.deployNewStrategy(token.address, **tx)
            d.strategies[symbol] = project.Strategy.at(
                receipt.return_value or sm.deployedStrategies(token.address)
            )
    if config.eigen_enabled and whitelister == deployer.address:
        deploy_token(project, deployer, d, config)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(d.addresses(), indent=2) + "\n")
    return d


# ---- AVS contracts (contracts/avs) -------------------------------------------------------------


SECONDS_MAX = UINT32_MAX  # windows and lifetimes in seconds: below 2^32 (136 years)
WAD = 10**18
METADATA_URI_MAX = 1024  # String[1024] in the contracts' initialize


def _check_int(section: str, name: str, v: Any, low: int, high: int, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise DeployConfigError(f"{section}.{name} must be {what}: got {v!r}")


def _check_uri(section: str, v: Any) -> None:
    if not isinstance(v, str) or not v or len(v.encode()) > METADATA_URI_MAX:
        raise DeployConfigError(
            f"{section}.metadata_uri must be a non-empty string of at most {METADATA_URI_MAX} bytes: got {v!r}"
        )


@dataclass(frozen=True)
class ComputeAVSConfig:
    """Parameters of ComputeAVS (the ``compute_avs`` section of config/deploy.yaml): how long
    operators' enrolment signatures stay usable (seconds) and the share of an operator's allocation
    to the compute set that a proven fault slashes (WAD = 10^18 = 100%)."""

    enrolment_ttl_s: int = 86400
    fault_wad: int = 10**17
    metadata_uri: str = "https://compute.example/avs.json"
    # Its BLSRegistry (deploy_components attaches one; docs/bls.md): blocks before a rotated key
    # takes effect, and how old a certificate's reference block may be.
    bls_rotation_delay_blocks: int = 7200
    bls_max_staleness_blocks: int = 300

    def __post_init__(self) -> None:
        s = "compute_avs"
        _check_bls(s, self.bls_rotation_delay_blocks, self.bls_max_staleness_blocks)
        _check_int(s, "enrolment_ttl_s", self.enrolment_ttl_s, 1, SECONDS_MAX, "an integer in [1, 2^32)")
        _check_int(s, "fault_wad", self.fault_wad, 1, WAD, "an integer in [1, 10^18] (WAD = 100%)")
        _check_uri(s, self.metadata_uri)


def deploy_compute_avs(
    project: Any, deployer: Any, core: Deployment, config: ComputeAVSConfig | None = None
) -> Any:
    """Deploy ComputeAVS over a deployed core and register it as an AVS (and its own registrar).
    Operator sets are created afterwards with ``createOperatorSet`` by the deployer (the owner)."""
    cfg = config or ComputeAVSConfig()
    avs = deployer.deploy(
        project.ComputeAVS, core.allocation_manager.address, cfg.enrolment_ttl_s, cfg.fault_wad
    )
    avs.initialize(cfg.metadata_uri, sender=deployer)
    return avs


def _check_bls(section: str, rotation_delay_blocks: int, max_staleness_blocks: int) -> None:
    _check_int(
        section,
        "bls_rotation_delay_blocks",
        rotation_delay_blocks,
        0,
        UINT32_MAX,
        "a block count below 2^32",
    )
    _check_int(
        section,
        "bls_max_staleness_blocks",
        max_staleness_blocks,
        1,
        UINT32_MAX,
        "a block count in [1, 2^32)",
    )


def deploy_bls_registry(
    project: Any,
    deployer: Any,
    core: Deployment,
    avs: str,
    rotation_delay_blocks: int,
    max_staleness_blocks: int,
) -> Any:
    """Deploy a BLSRegistry (contracts/certs, docs/bls.md) for the AVS ``avs`` over a deployed core. The
    AVS then fixes each set's quorums (``configureQuorums``) and makes the registry its registrar, or
    forwards its registrar callbacks to it."""
    _check_bls("bls_registry", rotation_delay_blocks, max_staleness_blocks)
    return deployer.deploy(
        project.BLSRegistry, core.allocation_manager.address, avs, rotation_delay_blocks, max_staleness_blocks
    )


@dataclass(frozen=True)
class TaskMailboxConfig:
    """Parameters of the task mailbox (contracts/compute, docs/compute-network.md): the fraction of
    a faulty executor's allocation slashed per task (WAD = 100%), its BLSRegistry's key-rotation
    delay and certificate staleness window (blocks; a BLS task type's timeout must fit inside it)."""

    fault_wad: int = WAD // 10
    bls_rotation_delay_blocks: int = 7200
    bls_max_staleness_blocks: int = 7200
    metadata_uri: str = "https://compute.example/tasks.json"

    def __post_init__(self) -> None:
        s = "task_mailbox"
        _check_bls(s, self.bls_rotation_delay_blocks, self.bls_max_staleness_blocks)
        _check_int(s, "fault_wad", self.fault_wad, 1, WAD, "an integer in [1, 10^18] (WAD = 100%)")
        _check_uri(s, self.metadata_uri)


def deploy_task_mailbox(
    project: Any, deployer: Any, core: Deployment, compute_avs: str, config: TaskMailboxConfig | None = None
) -> tuple[Any, Any, Any]:
    """Deploy the TaskMailbox over a deployed core and ComputeAVS (its app and image registry), its
    TaskSlasher and its BLSRegistry, and wire them: the mailbox registers as an AVS and its own
    registrar, then takes the slasher and the registry (so every executor set it creates accepts
    ECDSA and BLS certificates and is slashed by the TaskSlasher). Returns (mailbox, slasher, registry)."""
    cfg = config or TaskMailboxConfig()
    am = core.allocation_manager.address
    mailbox = deployer.deploy(project.TaskMailbox, am, compute_avs)
    slasher = deployer.deploy(project.TaskSlasher, mailbox.address, am, cfg.fault_wad)
    registry = deploy_bls_registry(
        project, deployer, core, mailbox.address, cfg.bls_rotation_delay_blocks, cfg.bls_max_staleness_blocks
    )
    mailbox.initialize(cfg.metadata_uri, sender=deployer)
    mailbox.setTaskSlasher(slasher.address, sender=deployer)
    mailbox.setBLSRegistry(registry.address, sender=deployer)
    return mailbox, slasher, registry


def deploy_token(project: Any, deployer: Any, d: Deployment, config: DeployConfig) -> Deployment:
    """Deploy EIGEN, the genesis bEIGEN, the ForkManager and the bEIGEN strategy on top of the core
    `d` (whose strategy whitelister must be `deployer`), and wire them (docs/token.md).

    The genesis bEIGEN mints `eigen_initial_supply` to the deployer, who wraps it all into EIGEN.
    """
    if d.eigen is not None:
        return d
    tx = {"sender": deployer}
    if d.strategy_manager.strategyWhitelister() != deployer.address:
        raise DeployConfigError("deploy_token needs the deployer to be the strategy whitelister")
    governance = deployer.address if config.eigen_governance == "deployer" else config.eigen_governance
    zero = ZERO_ADDRESS
    supply = config.eigen_initial_supply
    beigen = deployer.deploy(
        project.BackingEigen,
        "Backing Eigen",
        "bEIGEN",
        governance,
        zero,
        0,
        zero,
        0,
        zero,
        0,
        deployer.address,
        supply,
    )
    blueprint = project.BackingEigen.declare(**tx).contract_address
    fm = deployer.deploy(
        project.ForkManager,
        beigen.address,
        blueprint,
        governance,
        config.challenge_bond,
        config.challenge_window_blocks,
        config.fork_timelock_blocks,
        config.challenger_reward_bps,
    )
    eigen = deployer.deploy(project.Eigen, beigen.address, fm.address)
    strategy = deployer.deploy(project.BEigenStrategy, d.strategy_manager.address, fm.address)
    d.delegation_manager.setStrategyWithdrawalDelay(
        strategy.address, config.beigen_extra_withdrawal_delay_blocks, **tx
    )
    d.delegation_manager.setForkSlasher(fm.address, **tx)
    d.strategy_manager.addCustomStrategy(strategy.address, **tx)
    fm.initialize(eigen.address, strategy.address, d.delegation_manager.address, **tx)
    beigen.approve(eigen.address, supply, **tx)
    eigen.wrap(supply, **tx)
    d.eigen, d.beigen, d.fork_manager, d.beigen_strategy = eigen, beigen, fm, strategy
    return d


@dataclass(frozen=True)
class InferenceDisputesConfig:
    """Parameters of InferenceDisputes (the ``inference_disputes`` section of config/deploy.yaml):
    the challenger's bond (wei), how long a registered receipt can be challenged and how long the
    inference set has to post a verdict (seconds), and the share of the operator's allocation to the
    set that a receipt proven wrong slashes (WAD = 10^18 = 100%). Keep both windows well inside the
    deallocation delay so the operator is still slashable."""

    challenge_bond_wei: int = 10**17
    challenge_window_s: int = 3600
    resolution_window_s: int = 3600
    slash_wad: int = 10**17
    metadata_uri: str = "https://ai.example/avs.json"
    bls_rotation_delay_blocks: int = 7200  # its BLSRegistry, as ComputeAVSConfig's
    bls_max_staleness_blocks: int = 300

    def __post_init__(self) -> None:
        s = "inference_disputes"
        _check_bls(s, self.bls_rotation_delay_blocks, self.bls_max_staleness_blocks)
        _check_int(
            s, "challenge_bond_wei", self.challenge_bond_wei, 1, 2**224 - 1, "an integer in [1, 2^224)"
        )
        for name in ("challenge_window_s", "resolution_window_s"):
            _check_int(s, name, getattr(self, name), 1, SECONDS_MAX, "an integer in [1, 2^32)")
        _check_int(s, "slash_wad", self.slash_wad, 1, WAD, "an integer in [1, 10^18] (WAD = 100%)")
        _check_uri(s, self.metadata_uri)


def _merged_section(network: str, path: Path | str | None, section: str, cls: type[_C]) -> _C:
    """Section ``section`` of `default`, each key overridden by the same section under
    ``networks.<network>``, as a ``cls`` (a key in neither takes the dataclass default). A section
    that is not a mapping or an unknown key is a DeployConfigError naming it; bad values are the
    dataclass's own (naming ``section.key``)."""
    p, default, overrides = _read_config(network, path)
    merged: dict[str, Any] = {}
    for where, source in (("default", default), (f"networks.{network}", overrides)):
        part = source.get(section) or {}
        if not isinstance(part, dict):
            raise DeployConfigError(f"{p}: {where}.{section} must be a mapping")
        merged.update(part)
    unknown = set(merged) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    if unknown:
        raise DeployConfigError(f"{p}: unknown keys {sorted(unknown)} in {section}")
    return cls(**merged)


def load_avs_configs(
    network: str, path: Path | str | None = None
) -> tuple[ComputeAVSConfig, InferenceDisputesConfig, TaskMailboxConfig]:
    """The AVS contracts' parameters for ape network `network`: the ``compute_avs``,
    ``inference_disputes`` and ``task_mailbox`` sections (:func:`_merged_section`)."""
    return (
        _merged_section(network, path, "compute_avs", ComputeAVSConfig),
        _merged_section(network, path, "inference_disputes", InferenceDisputesConfig),
        _merged_section(network, path, "task_mailbox", TaskMailboxConfig),
    )


def deploy_inference_disputes(
    project: Any, deployer: Any, core: Deployment, config: InferenceDisputesConfig | None = None
) -> Any:
    """Deploy InferenceDisputes over a deployed core and register it as an AVS (and its own registrar).
    The inference set is created afterwards with ``createInferenceSet`` by the deployer (the owner)."""
    cfg = config or InferenceDisputesConfig()
    c = deployer.deploy(
        project.InferenceDisputes,
        core.allocation_manager.address,
        core.slash_escrow.address,
        cfg.challenge_bond_wei,
        cfg.challenge_window_s,
        cfg.resolution_window_s,
        cfg.slash_wad,
    )
    c.initialize(cfg.metadata_uri, sender=deployer)
    return c


# ---------------------------------------------------------------- EigenDA contracts (docs/da-contracts.md)

UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class PaymentVaultParams:
    """The PaymentVault's global parameters (EigenDA's mainnet values by default)."""

    min_num_symbols: int = 4096
    price_per_symbol: int = 447_000_000
    price_update_cooldown: int = 1
    global_symbols_per_period: int = 131_072
    reservation_period_interval: int = 300
    global_rate_period_interval: int = 30

    def __post_init__(self) -> None:
        for name in (
            "min_num_symbols",
            "price_per_symbol",
            "price_update_cooldown",
            "global_symbols_per_period",
        ):
            _check_int("payment_vault", name, getattr(self, name), 0, UINT64_MAX, "an integer below 2^64")
        for name in ("reservation_period_interval", "global_rate_period_interval"):
            _check_int("payment_vault", name, getattr(self, name), 1, UINT64_MAX, "seconds in [1, 2^64)")


def deploy_payment_vault(project: Any, deployer: Any, owner: str, params: PaymentVaultParams) -> Any:
    """Deploy EigenDA's PaymentVault (contracts/da) governed by ``owner``."""
    if not _is_address(owner) or owner == ZERO_ADDRESS:
        raise DeployConfigError(f"payment_vault.owner must be a non-zero address: got {owner!r}")
    p = params
    return deployer.deploy(
        project.PaymentVault,
        owner,
        p.min_num_symbols,
        p.price_per_symbol,
        p.price_update_cooldown,
        p.global_symbols_per_period,
        p.reservation_period_interval,
        p.global_rate_period_interval,
    )


@dataclass(frozen=True)
class CertVerifierParams:
    """EigenDACertVerifier's parameters (EigenDA mainnet's by default: 55/33 thresholds, quorums 0
    and 1 required, blob version 0 = 3537 operators, 8192 chunks, coding rate 8)."""

    confirmation_threshold: int = 55
    adversary_threshold: int = 33
    required_quorums: bytes = b"\x00\x01"
    recency_window_blocks: int = 14_400
    max_num_operators: int = 3537
    num_chunks: int = 8192
    coding_rate: int = 8

    def __post_init__(self) -> None:
        s = "cert_verifier"
        _check_int(
            s, "confirmation_threshold", self.confirmation_threshold, 1, 100, "a percentage in [1, 100]"
        )
        _check_int(s, "adversary_threshold", self.adversary_threshold, 0, 99, "a percentage in [0, 100)")
        if self.confirmation_threshold <= self.adversary_threshold:
            raise DeployConfigError(f"{s}: confirmation_threshold must exceed adversary_threshold")
        q = self.required_quorums
        if not isinstance(q, bytes) or len(q) > 8 or len(set(q)) != len(q) or any(b >= 8 for b in q):
            raise DeployConfigError(
                f"{s}.required_quorums must be distinct quorum numbers below 8: got {q!r}"
            )
        _check_int(
            s, "recency_window_blocks", self.recency_window_blocks, 1, UINT32_MAX, "blocks in [1, 2^32)"
        )
        _check_int(s, "max_num_operators", self.max_num_operators, 0, UINT32_MAX, "below 2^32")
        _check_int(s, "num_chunks", self.num_chunks, 1, UINT32_MAX, "in [1, 2^32)")
        _check_int(s, "coding_rate", self.coding_rate, 1, 255, "in [1, 255]")

    def blob_params(self) -> tuple[int, int, int]:
        return (self.max_num_operators, self.num_chunks, self.coding_rate)


def deploy_cert_verifier(
    project: Any,
    deployer: Any,
    owner: str,
    bls_registry: str,
    operator_set_id: int,
    params: CertVerifierParams,
) -> Any:
    """Deploy an EigenDACertVerifier (contracts/da) over a BLSRegistry's operator set."""
    for name, v in (("owner", owner), ("bls_registry", bls_registry)):
        if not _is_address(v) or v == ZERO_ADDRESS:
            raise DeployConfigError(f"cert_verifier.{name} must be a non-zero address: got {v!r}")
    _check_int("cert_verifier", "operator_set_id", operator_set_id, 0, UINT32_MAX, "below 2^32")
    p = params
    return deployer.deploy(
        project.EigenDACertVerifier,
        owner,
        bls_registry,
        operator_set_id,
        (p.confirmation_threshold, p.adversary_threshold),
        p.required_quorums,
        p.recency_window_blocks,
        p.blob_params(),
    )


# ---- the DA component of `ape run deploy` (docs/deploy.md, docs/da-contracts.md) --------------

DA_SECTION = "da"  # its section of config/deploy.yaml (under `default` and a network)
MAINNET_WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"  # WETH9 on Ethereum mainnet
BPS = 10_000


def _role_or(section: str, name: str, v: Any, word: str) -> None:
    """`v` must be `word` or a non-zero address."""
    if v != word and (not _is_address(v) or v == ZERO_ADDRESS):
        raise DeployConfigError(f"{section}.{name} must be '{word}' or a non-zero address: got {v!r}")


@dataclass(frozen=True)
class DAConfig:
    """The DA contracts' parameters (the ``da`` section of config/deploy.yaml): the DA AVS's own
    BLSRegistry, the PaymentVault (EigenDA mainnet's ``initParams.eigenDA.paymentVault`` by
    default: 447,000,000 wei a symbol, 4,096 symbols billed at least) and the EigenDACertVerifier
    (mainnet's 55 % / 33 % thresholds, quorums 0 and 1 required, blob version 0 = 3,537 operators,
    8,192 chunks, coding rate 8), and where the vault's consumed payments go when no rewards
    component's FeeVault is deployed or recorded."""

    avs: str = "deployer"  # the DA AVS account its BLSRegistry serves: "deployer" or an address
    operator_set_id: int = 0  # the set whose certificates the verifier checks
    bls_rotation_delay_blocks: int = 7200
    bls_max_staleness_blocks: int = 14_400  # at least the verifier's recency window
    min_num_symbols: int = 4096
    price_wei_per_symbol: int = 447_000_000
    price_update_cooldown_s: int = 1
    global_symbols_per_period: int = 131_072
    reservation_period_s: int = 300
    global_rate_period_s: int = 30
    confirmation_threshold_pct: int = 55
    adversary_threshold_pct: int = 33
    required_quorums: tuple[int, ...] = (0, 1)
    recency_window_blocks: int = 14_400
    blob_max_operators: int = 3537
    blob_chunks: int = 8192
    blob_coding_rate: int = 8
    weth: str = MAINNET_WETH  # what sweeps wrap consumed ETH in: "deploy" (a new WETH9) or an address
    fee_vault: str = "none"  # without the rewards component: a FeeVault address, or "none"
    operator_fee_bips: int = 0  # the operators' share of each sweep, in ETH
    operator_fee_recipient: str = "none"  # where it goes ("none" only with 0 bips)
    governance: str = "deployer"  # owns the vault and the verifier after deployment
    grpc_host: str = DA_GRPC_DEFAULTS[
        "host"
    ]  # where clients reach the disperser and the validators (da.grpc)
    disperser_grpc_port: int = DA_GRPC_DEFAULTS["disperser_port"]
    node_grpc_port: int = DA_GRPC_DEFAULTS["node_port"]  # validator i at node_grpc_port + i

    def __post_init__(self) -> None:
        s = DA_SECTION
        if problem := da_grpc_problem(self.grpc()):
            key = {
                "host": "grpc_host",
                "disperser_port": "disperser_grpc_port",
                "node_port": "node_grpc_port",
            }
            name = problem.split(":", 1)[0]
            raise DeployConfigError(f"{s}.{key.get(name, 'grpc')}: {problem.split(': ', 1)[-1]}")
        _role_or(s, "avs", self.avs, "deployer")
        _role_or(s, "governance", self.governance, "deployer")
        _check_int(s, "operator_set_id", self.operator_set_id, 0, UINT32_MAX, "an integer in [0, 2^32)")
        _check_bls(s, self.bls_rotation_delay_blocks, self.bls_max_staleness_blocks)
        for name in ("min_num_symbols", "price_wei_per_symbol", "global_symbols_per_period"):
            _check_int(s, name, getattr(self, name), 1, UINT64_MAX, "an integer in [1, 2^64)")
        _check_int(
            s, "price_update_cooldown_s", self.price_update_cooldown_s, 0, UINT64_MAX, "seconds below 2^64"
        )
        for name in ("reservation_period_s", "global_rate_period_s"):
            _check_int(s, name, getattr(self, name), 1, UINT64_MAX, "seconds in [1, 2^64)")
        _check_int(
            s,
            "confirmation_threshold_pct",
            self.confirmation_threshold_pct,
            1,
            100,
            "a percentage in [1, 100]",
        )
        _check_int(
            s, "adversary_threshold_pct", self.adversary_threshold_pct, 0, 99, "a percentage in [0, 100)"
        )
        if self.confirmation_threshold_pct <= self.adversary_threshold_pct:
            raise DeployConfigError(f"{s}.confirmation_threshold_pct must exceed adversary_threshold_pct")
        q = self.required_quorums
        if (
            not isinstance(q, list | tuple)
            or not 1 <= len(q) <= 8
            or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 8 for n in q)
            or len(set(q)) != len(q)
        ):
            raise DeployConfigError(
                f"{s}.required_quorums must be 1 to 8 distinct quorum numbers below 8: got {q!r}"
            )
        object.__setattr__(self, "required_quorums", tuple(q))
        _check_int(
            s, "recency_window_blocks", self.recency_window_blocks, 1, UINT32_MAX, "blocks in [1, 2^32)"
        )
        if self.bls_max_staleness_blocks < self.recency_window_blocks:
            raise DeployConfigError(
                f"{s}.bls_max_staleness_blocks must be at least recency_window_blocks (the registry would "
                "refuse as stale a certificate the verifier's window accepts)"
            )
        _check_int(s, "blob_max_operators", self.blob_max_operators, 1, UINT32_MAX, "an integer in [1, 2^32)")
        _check_int(s, "blob_chunks", self.blob_chunks, 1, UINT32_MAX, "an integer in [1, 2^32)")
        _check_int(s, "blob_coding_rate", self.blob_coding_rate, 1, 255, "an integer in [1, 255]")
        margin = self.confirmation_threshold_pct - self.adversary_threshold_pct
        if (
            self.blob_chunks <= self.blob_max_operators
            or self.blob_coding_rate * (self.blob_chunks - self.blob_max_operators) * margin
            < 100 * self.blob_chunks
        ):
            raise DeployConfigError(
                f"{s}: blob_coding_rate x (blob_chunks - blob_max_operators) x (confirmation_threshold_pct - "
                "adversary_threshold_pct) must be at least 100 x blob_chunks (EigenDA's security condition: "
                "otherwise the verifier refuses every certificate)"
            )
        _role_or(s, "weth", self.weth, "deploy")
        _role_or(s, "fee_vault", self.fee_vault, "none")
        _check_int(s, "operator_fee_bips", self.operator_fee_bips, 0, BPS, "bips in [0, 10000]")
        _role_or(s, "operator_fee_recipient", self.operator_fee_recipient, "none")
        if self.operator_fee_bips and self.operator_fee_recipient == "none":
            raise DeployConfigError(f"{s}.operator_fee_bips above 0 needs an operator_fee_recipient")

    def grpc(self) -> dict[str, Any]:
        """The record's ``da.grpc``: {host, disperser_port, node_port}."""
        return {
            "host": self.grpc_host,
            "disperser_port": self.disperser_grpc_port,
            "node_port": self.node_grpc_port,
        }

    def vault_params(self) -> PaymentVaultParams:
        return PaymentVaultParams(
            self.min_num_symbols,
            self.price_wei_per_symbol,
            self.price_update_cooldown_s,
            self.global_symbols_per_period,
            self.reservation_period_s,
            self.global_rate_period_s,
        )

    def verifier_params(self) -> CertVerifierParams:
        return CertVerifierParams(
            self.confirmation_threshold_pct,
            self.adversary_threshold_pct,
            bytes(self.required_quorums),
            self.recency_window_blocks,
            self.blob_max_operators,
            self.blob_chunks,
            self.blob_coding_rate,
        )


def load_da_config(network: str, path: Path | str | None = None) -> DAConfig:
    """The ``da`` section of `default`, overridden key by key by ``networks.<network>``."""
    return _merged_section(network, path, DA_SECTION, DAConfig)


@dataclass
class DADeployment:
    """Handles to the DA contracts (all owned by the deployer until handed to governance)."""

    bls_registry: Any
    payment_vault: Any
    cert_verifier: Any
    weth: Any
    avs: str
    operator_set_id: int
    grpc: dict[str, Any] = field(default_factory=lambda: dict(DA_GRPC_DEFAULTS))  # where the network serves

    def addresses(self) -> dict[str, Any]:
        return {
            "grpc": dict(self.grpc),
            "bls_registry": self.bls_registry.address,
            "payment_vault": self.payment_vault.address,
            "cert_verifier": self.cert_verifier.address,
            "weth": self.weth.address,
            "avs": self.avs,
            "operator_set_id": self.operator_set_id,
        }


def deploy_da(project: Any, deployer: Any, core: Deployment, config: DAConfig | None = None) -> DADeployment:
    """Deploy the DA AVS's BLSRegistry over the core, the PaymentVault and the EigenDACertVerifier
    over the registry's set, both owned by the deployer (the component wires the fees, then hands
    them to ``governance``), and WETH9 when ``weth`` is ``deploy``. The AVS account then creates
    its operator set, makes the registry its registrar and fixes the set's quorums
    (docs/da-contracts.md, *Deploying*)."""
    cfg = config or DAConfig()
    avs = deployer.address if cfg.avs == "deployer" else cfg.avs
    registry = deploy_bls_registry(
        project, deployer, core, avs, cfg.bls_rotation_delay_blocks, cfg.bls_max_staleness_blocks
    )
    vault = deploy_payment_vault(project, deployer, deployer.address, cfg.vault_params())
    verifier = deploy_cert_verifier(
        project, deployer, deployer.address, registry.address, cfg.operator_set_id, cfg.verifier_params()
    )
    weth = deployer.deploy(project.WETH9) if cfg.weth == "deploy" else project.WETH9.at(cfg.weth)
    return DADeployment(registry, vault, verifier, weth, avs, cfg.operator_set_id, cfg.grpc())


# ---- the agent economy (issue 20, docs/agent.md): ERC-8004 registries, the x402 stablecoin ------

# Record key -> contract type of the agent component.
AGENT_CONTRACTS = {
    "identity_registry": "IdentityRegistry",
    "reputation_registry": "ReputationRegistry",
    "validation_registry": "ValidationRegistry",
    "stable_token": "StableToken",
    "upto_settler": "UptoSettler",
    "amm_asset": "MockERC20",
    "amm": "ConstantProductAMM",
}

# The trading agent's venue: a constant-product pool of the stablecoin and a demo asset.
AMM_FEE_BIPS = 30
AMM_ASSET = ("Demo Ether", "dETH")


def deploy_agent(
    project: Any,
    deployer: Any,
    minter: str | None = None,
    token_name: str = "USD Coin",
    token_symbol: str = "USDC",
) -> dict[str, Any]:
    """Deploy the ERC-8004 identity, reputation and validation registries, the devnet's EIP-3009
    stablecoin (6 decimals, minted by `minter`, default the deployer), the x402 upto settler and
    the trading agent's venue (a demo asset, freely mintable, and a ConstantProductAMM of the
    stablecoin against it, empty, fee AMM_FEE_BIPS); returns {record key: contract}."""
    minter = deployer.address if minter is None else minter
    if not _is_address(minter) or minter == ZERO_ADDRESS:
        raise DeployConfigError(f"agent.minter must be a non-zero address: got {minter!r}")
    if not 0 < len(token_name.encode()) <= 32 or not 0 < len(token_symbol.encode()) <= 16:
        raise DeployConfigError("agent: the token's name is 1 to 32 bytes, its symbol 1 to 16")
    identity = deployer.deploy(project.IdentityRegistry)
    stable = deployer.deploy(project.StableToken, token_name, token_symbol, minter)
    asset = deployer.deploy(project.MockERC20, *AMM_ASSET)
    pool_name = f"AMM {token_symbol}/{AMM_ASSET[1]}"[:32]
    return {
        "identity_registry": identity,
        "reputation_registry": deployer.deploy(project.ReputationRegistry, identity),
        "validation_registry": deployer.deploy(project.ValidationRegistry, identity),
        "stable_token": stable,
        "upto_settler": deployer.deploy(project.UptoSettler),
        "amm_asset": asset,
        "amm": deployer.deploy(project.ConstantProductAMM, stable, asset, AMM_FEE_BIPS, pool_name, "AMM-LP"),
    }


# Record key of the agent component's VerifiedEscrow (deployed beside a task mailbox or inference
# disputes).
VERIFIED_ESCROW = "verified_escrow"


def deploy_verified_escrow(
    project: Any,
    deployer: Any,
    mailbox: str = ZERO_ADDRESS,
    disputes: str = ZERO_ADDRESS,
    task_window_s: int = InferenceDisputesConfig.challenge_window_s,
) -> Any:
    """Deploy the x402 ``verified`` escrow (contracts/agent/VerifiedEscrow.vy): `mailbox`'s
    certified tasks and `disputes`' unchallenged (or confirmed) inference receipts release its
    payments (either may be the zero address, not both); a task payment stays open to fault
    proofs for `task_window_s` seconds after its confirmation (the components give it the
    inference set's challenge window)."""
    for what, v in (("mailbox", mailbox), ("disputes", disputes)):
        if not _is_address(v):
            raise DeployConfigError(f"the verified escrow's {what} is no address: got {v!r}")
    if mailbox == ZERO_ADDRESS and disputes == ZERO_ADDRESS:
        raise DeployConfigError("the verified escrow needs a task mailbox or inference disputes")
    _check_int("verified_escrow", "task_window_s", task_window_s, 0, SECONDS_MAX, "an integer in [0, 2^32)")
    return deployer.deploy(project.VerifiedEscrow, mailbox, disputes, task_window_s)


def deploy_eigentrust_scores(
    project: Any, deployer: Any, mailbox: str, operator_set_id: int, image_digest: bytes, source: str
) -> Any:
    """Deploy the EigenTrust score registry (contracts/compute/EigenTrustScores.vy): epochs' score
    roots from `mailbox`'s tasks certified by executor set `operator_set_id` running `image_digest`
    (32 bytes) on graphs posted by `source` (docs/compute-network.md, "EigenTrust")."""
    for what, v in (("mailbox", mailbox), ("source", source)):
        if not _is_address(v) or v == ZERO_ADDRESS:
            raise DeployConfigError(f"the EigenTrust registry's {what} must be a non-zero address: got {v!r}")
    if not isinstance(image_digest, bytes) or len(image_digest) != 32 or not any(image_digest):
        raise DeployConfigError("the EigenTrust registry's image digest must be 32 non-zero bytes")
    if not isinstance(operator_set_id, int) or not 0 <= operator_set_id < 2**32:
        raise DeployConfigError(f"the executor set id must be a uint32: got {operator_set_id!r}")
    return deployer.deploy(project.EigenTrustScores, mailbox, operator_set_id, image_digest, source)


# Record key of the agent component's TaskValidator (deployed beside a task mailbox or inference
# disputes: the ERC-8004 validator answering from their certified records).
TASK_VALIDATOR = "task_validator"


def deploy_task_validator(
    project: Any,
    deployer: Any,
    registry: str,
    mailbox: str = ZERO_ADDRESS,
    disputes: str = ZERO_ADDRESS,
    compute_avs: str = ZERO_ADDRESS,
) -> Any:
    """Deploy the stake-backed ERC-8004 validator (contracts/agent/TaskValidator.vy) answering the
    ValidationRegistry `registry` from `mailbox`'s certified tasks, `disputes`' verdicts and
    `compute_avs`' accepted receipts (any may be the zero address, not all)."""
    work = (("mailbox", mailbox), ("disputes", disputes), ("compute AVS", compute_avs))
    for what, v in (("registry", registry), *work):
        if not _is_address(v):
            raise DeployConfigError(f"the task validator's {what} must be an address: got {v!r}")
    if registry == ZERO_ADDRESS or all(v == ZERO_ADDRESS for _, v in work):
        raise DeployConfigError(
            "the task validator needs a validation registry and a task mailbox, inference disputes "
            "or a compute AVS"
        )
    return deployer.deploy(project.TaskValidator, registry, mailbox, disputes, compute_avs)


# ---------------------------------------------------------------- rewards, fees, buyback (docs/rewards.md)

REWARDS_SECTION = "rewards"  # its section of config/deploy.yaml (under `default` and a network)
MAX_CLOUD_FEE_BIPS = 5000  # TaskMailbox.MAX_FEE_SPLIT, UptoSettler.MAX_FEE_BIPS


def wad_pow(base: int, steps: int) -> int:
    """``base ** steps`` in WAD fixed point, rounding as BuybackAuction's ``_decay`` does."""
    result = WAD
    while steps:
        if steps & 1:
            result = result * base // WAD
        base = base * base // WAD
        steps >>= 1
    return result


@dataclass(frozen=True)
class RewardsConfig:
    """Parameters of the RewardsCoordinator, FeeVault and BuybackAuction (the ``rewards`` section
    of config/deploy.yaml). The period constants are EigenLayer mainnet's (script/configs/
    mainnet.json) with ELIP-001's one-day calculation interval; the updater's bond is wei; prices
    are EIGEN wei per token wei x 10^18."""

    calculation_interval_seconds: int = 86400
    max_rewards_duration: int = 6_048_000  # 70 days
    max_retroactive_length: int = 14_515_200  # 168 days
    max_future_length: int = 2_592_000  # 30 days
    genesis_rewards_timestamp: int = 1_710_979_200  # 2024-03-21 00:00 UTC
    activation_delay_s: int = 604_800  # 7 days: a root's veto / (later) challenge window
    default_split_bips: int = 1000
    updater_bond_wei: int = 32 * 10**18
    rewards_updater: str = "deployer"
    auction_period_s: int = 86_400
    auction_step_s: int = 300
    auction_decay_wad: int = 995 * 10**15  # -0.5 % a step: 23.6 % of the start price after a day
    # Until a token's first fill: -2 % a step (0.3 % of the start price after a day), from 1.5 x a
    # ceiling of one EIGEN per token wei, so discovery comes from above for any token (docs/rewards.md)
    auction_discovery_decay_wad: int = 98 * 10**16
    auction_start_factor_wad: int = 15 * 10**17  # start at 1.5 x the last clearing price
    auction_initial_reference_price: int = 10**36
    sink_delay_s: int = 172_800  # 2 days before a new EIGEN sink applies
    governance: str = "deployer"
    # The cloud's fee shares into the FeeVault (ELIP-12), set when the rewards component is
    # deployed with the contracts taking them: a verified task's fee (TaskMailbox.setFeeSplit) and
    # an x402 upto inference payment (UptoSettler.setFeeBips); 0 to 5,000 bips (their cap).
    task_fee_split_bips: int = 2000
    inference_fee_bips: int = 2000
    challenger_reward_bips: int = 5000  # a proven wrong root: half the updater's bond to the challenger
    slash_recipient: str = "burn"  # the rest: "burn" (abi.BURN_ADDRESS) or an address

    def __post_init__(self) -> None:
        s = REWARDS_SECTION
        for name in (
            "calculation_interval_seconds",
            "max_rewards_duration",
            "max_retroactive_length",
            "max_future_length",
            "genesis_rewards_timestamp",
            "activation_delay_s",
        ):
            _check_int(s, name, getattr(self, name), 0, UINT32_MAX, "an integer in [0, 2^32)")
        iv = self.calculation_interval_seconds
        if iv == 0 or self.genesis_rewards_timestamp % iv or self.max_rewards_duration % iv:
            raise DeployConfigError(
                f"{s}: calculation_interval_seconds must be positive and divide genesis_rewards_timestamp "
                "and max_rewards_duration"
            )
        _check_int(s, "default_split_bips", self.default_split_bips, 0, 10_000, "bips in [0, 10000]")
        for name in ("task_fee_split_bips", "inference_fee_bips"):
            _check_int(s, name, getattr(self, name), 0, MAX_CLOUD_FEE_BIPS, "bips in [0, 5000]")
        _check_int(s, "updater_bond_wei", self.updater_bond_wei, 0, 2**255, "an integer in [0, 2^255]")
        _check_int(s, "auction_step_s", self.auction_step_s, 1, SECONDS_MAX, "seconds in [1, 2^32)")
        _check_int(s, "auction_period_s", self.auction_period_s, 1, SECONDS_MAX, "seconds in [1, 2^32)")
        if self.auction_period_s % self.auction_step_s:
            raise DeployConfigError(f"{s}: auction_step_s must divide auction_period_s")
        _check_int(s, "auction_decay_wad", self.auction_decay_wad, 1, WAD - 1, "in (0, 10^18)")
        _check_int(
            s,
            "auction_discovery_decay_wad",
            self.auction_discovery_decay_wad,
            1,
            self.auction_decay_wad,
            "in (0, auction_decay_wad]",
        )
        _check_int(
            s,
            "auction_start_factor_wad",
            self.auction_start_factor_wad,
            WAD + 1,
            1000 * WAD,
            "in (10^18, 10^21]",
        )
        _check_int(
            s,
            "auction_initial_reference_price",
            self.auction_initial_reference_price,
            1,
            2**128,
            "in [1, 2^128]",
        )
        _check_int(s, "sink_delay_s", self.sink_delay_s, 0, SECONDS_MAX, "seconds in [0, 2^32)")
        if (
            self.auction_start_factor_wad
            * wad_pow(self.auction_decay_wad, self.auction_period_s // self.auction_step_s)
            >= WAD * WAD
        ):
            raise DeployConfigError(
                f"{s}: auction_start_factor_wad x auction_decay_wad^(period/step) must be below 1, so an "
                "unfilled auction restarts lower"
            )
        for name in ("rewards_updater", "governance"):
            v = getattr(self, name)
            if v != "deployer" and (not _is_address(v) or v == ZERO_ADDRESS):
                raise DeployConfigError(f"{s}.{name} must be 'deployer' or a non-zero address: got {v!r}")
        _check_int(s, "challenger_reward_bips", self.challenger_reward_bips, 0, 10_000, "bips in [0, 10000]")
        v = self.slash_recipient
        if v != "burn" and (not _is_address(v) or v == ZERO_ADDRESS):
            raise DeployConfigError(f"{s}.slash_recipient must be 'burn' or a non-zero address: got {v!r}")


def wire_fees(
    deployer: Any, fee_vault: str, config: RewardsConfig, mailbox: Any = None, settler: Any = None,
    payment_vault: Any = None, weth: str | None = None,
) -> list[str]:  # fmt: skip
    """Point the cloud's fee-taking contracts deployed beside the rewards component at its FeeVault
    with the configured shares: the TaskMailbox's fee split (Hourglass's ``setFeeSplitCollector`` /
    ``setFeeSplit``), the x402 UptoSettler's inference fee (``setFeeVault`` / ``setFeeBips``) and the
    DA PaymentVault's consumed on-demand payments, swept as ``weth`` (``setFeeVault(vault, weth)``).
    Each is changed only where it differs (a reused deployment stays as it is when it matches);
    `deployer` must own them. Returns one ``name: what`` line per change."""
    if not _is_address(fee_vault) or fee_vault == ZERO_ADDRESS:
        raise DeployConfigError(f"the fee vault must be a non-zero address: got {fee_vault!r}")
    done: list[str] = []
    if payment_vault is not None:
        if weth is None or not _is_address(weth) or weth == ZERO_ADDRESS:
            raise DeployConfigError(
                f"the payment vault's fees are swept as WETH: name its address, got {weth!r}"
            )
        if payment_vault.owner() != deployer.address:
            raise DeployConfigError(
                f"the payment_vault at {payment_vault.address} is owned by {payment_vault.owner()}, not the deployer"
            )
        if (payment_vault.feeVault(), payment_vault.weth()) != (fee_vault, weth):
            payment_vault.setFeeVault(fee_vault, weth, sender=deployer)
            done.append(f"payment_vault: fee vault {fee_vault}, WETH {weth}")
    for c, what, (get_to, set_to), (get_bips, set_bips), bips in (
        (mailbox, "task_mailbox", ("feeSplitCollector", "setFeeSplitCollector"), ("feeSplit", "setFeeSplit"),
         config.task_fee_split_bips),
        (settler, "upto_settler", ("feeVault", "setFeeVault"), ("feeBips", "setFeeBips"), config.inference_fee_bips),
    ):  # fmt: skip
        if c is None:
            continue
        if c.owner() != deployer.address:
            raise DeployConfigError(f"the {what} at {c.address} is owned by {c.owner()}, not the deployer")
        if getattr(c, get_to)() != fee_vault:
            getattr(c, set_to)(fee_vault, sender=deployer)
            done.append(f"{what}: fee vault {fee_vault}")
        if getattr(c, get_bips)() != bips:
            getattr(c, set_bips)(bips, sender=deployer)
            done.append(f"{what}: fee {bips} bips")
    return done


def load_rewards_config(network: str, path: Path | str | None = None) -> RewardsConfig:
    """The ``rewards`` section of `default`, overridden key by key by ``networks.<network>``."""
    return _merged_section(network, path, REWARDS_SECTION, RewardsConfig)


@dataclass
class RewardsDeployment:
    """Handles to the rewards contracts."""

    coordinator: Any
    fee_vault: Any
    buyback: Any
    distributor: Any
    challenger: Any
    challenge_steps: Any

    def addresses(self) -> dict[str, str]:
        return {
            "rewards_coordinator": self.coordinator.address,
            "fee_vault": self.fee_vault.address,
            "buyback_auction": self.buyback.address,
            "rewards_distributor": self.distributor.address,
            "rewards_root_challenger": self.challenger.address,
            "rewards_challenge_steps": self.challenge_steps.address,
        }


def create_address(sender: str, nonce: int) -> str:
    """The address a CREATE from `sender` at `nonce` deploys to."""
    return Web3.to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def deploy_rewards(
    project: Any, deployer: Any, core: Deployment, config: RewardsConfig | None = None
) -> RewardsDeployment:
    """Deploy the FeeVault, the RewardsCoordinator (fees into the vault), the RewardsDistributor
    (on-chain distribution for small sets, over the coordinator) and the BuybackAuction (selling the
    vault's tokens for the core's EIGEN, which must be deployed), and name the auction the vault's
    one releaser; the RewardsRootChallenger right after the coordinator, which names it, and the
    RewardsChallengeSteps (the challenge over several transactions) right after the challenger,
    which names it in turn."""
    cfg = config or RewardsConfig()
    if core.eigen is None:
        raise DeployConfigError("the rewards component needs the token component (EIGEN to buy back)")

    def role(x: str) -> str:
        return deployer.address if x == "deployer" else x

    vault = deployer.deploy(project.FeeVault, deployer.address)
    # The coordinator trusts the challenger deployed right after it: its address is the deployer's
    # next CREATE address, and the challenger's constructor checks that the coordinator names it.
    challenger_at = create_address(deployer.address, deployer.nonce + 1)
    steps_at = create_address(deployer.address, deployer.nonce + 2)
    rc = deployer.deploy(
        project.RewardsCoordinator,
        core.delegation_manager.address,
        core.strategy_manager.address,
        core.allocation_manager.address,
        core.pauser_registry.address,
        cfg.calculation_interval_seconds,
        cfg.max_rewards_duration,
        cfg.max_retroactive_length,
        cfg.max_future_length,
        cfg.genesis_rewards_timestamp,
        role(cfg.governance),
        role(cfg.rewards_updater),
        cfg.activation_delay_s,
        cfg.default_split_bips,
        vault.address,
        challenger_at,
    )
    challenger = deployer.deploy(
        project.RewardsRootChallenger,
        rc.address,
        core.delegation_manager.address,
        core.allocation_manager.address,
        cfg.updater_bond_wei,
        cfg.challenger_reward_bips,
        BURN_ADDRESS if cfg.slash_recipient == "burn" else cfg.slash_recipient,
        steps_at,
    )
    steps = deployer.deploy(project.RewardsChallengeSteps, challenger.address)
    buyback = deployer.deploy(
        project.BuybackAuction,
        core.eigen.address,
        vault.address,
        cfg.auction_period_s,
        cfg.auction_step_s,
        cfg.auction_decay_wad,
        cfg.auction_discovery_decay_wad,
        cfg.auction_start_factor_wad,
        cfg.auction_initial_reference_price,
        cfg.sink_delay_s,
        role(cfg.governance),
    )
    distributor = deployer.deploy(
        project.RewardsDistributor,
        rc.address,
        core.delegation_manager.address,
        core.allocation_manager.address,
    )
    vault.setBuyback(buyback.address, sender=deployer)
    if role(cfg.governance) != deployer.address:
        vault.transferOwnership(role(cfg.governance), sender=deployer)
    return RewardsDeployment(rc, vault, buyback, distributor, challenger, steps)
