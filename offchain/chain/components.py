"""Deploy every component (or those named) over one deployment record, for ``ape run deploy`` and
the devnet.

The components are the restaking ``core`` (always deployed or reused: the others need it),
``token`` (EIGEN/bEIGEN and fork-and-challenge), ``compute-avs``, ``inference-disputes`` and
``task-mailbox`` (the compute task mailbox and its slasher, over ``compute-avs``); opt-in, only
when named: ``agent`` (ERC-8004 registries, the stablecoin, the upto settler; with
``task-mailbox`` also the x402 verified escrow over its mailbox) and ``rewards`` (RewardsCoordinator,
FeeVault, BuybackAuction; needs ``token``). Each is
deployed by its function in :mod:`offchain.chain.deploy`, so this module adds only the choice of
components, the record of the parameters used and the comparison with a recorded deployment: a
recorded deployment made with other parameters is reused with a warning naming each difference,
or replaced when asked (``redeploy``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from offchain.abi import ZERO_ADDRESS
from offchain.chain.deploy import (
    AGENT_CONTRACTS,
    DEFAULT_CONFIG,
    TASK_VALIDATOR,
    VERIFIED_ESCROW,
    ComputeAVSConfig,
    DAConfig,
    DADeployment,
    DeployConfig,
    Deployment,
    InferenceDisputesConfig,
    RewardsConfig,
    TaskMailboxConfig,
    deploy_agent,
    deploy_bls_registry,
    deploy_compute_avs,
    deploy_core,
    deploy_da,
    deploy_inference_disputes,
    deploy_rewards,
    deploy_task_mailbox,
    deploy_task_validator,
    deploy_token,
    deploy_verified_escrow,
    load_avs_configs,
    load_config,
    load_da_config,
    load_rewards_config,
    wire_fees,
)
from offchain.chain.errors import DeployConfigError

COMPONENTS = ("core", "token", "compute-avs", "inference-disputes", "task-mailbox")
# Deployed only when named (``core,agent`` or ``all,rewards``): the agent economy's contracts, the
# rewards contracts and the DA contracts (docs/agent.md, docs/rewards.md, docs/da-contracts.md).
OPT_IN = ("agent", "rewards", "da")
# Record keys of the AVS components, and their contract types.
AVS_KEYS = {
    "compute-avs": ("compute_avs", "ComputeAVS"),
    "inference-disputes": ("inference_disputes", "InferenceDisputes"),
    "task-mailbox": ("task_mailbox", "TaskMailbox"),
}


def parse_components(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"all"`` / None -> every component; otherwise a comma-separated (or iterable) subset, with
    ``core`` added (the others are deployed on top of it). Unknown names raise DeployConfigError."""
    if text is None:
        return COMPONENTS
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise DeployConfigError(f"name at least one component of {', '.join(COMPONENTS)} (or all)")
    unknown = sorted(set(names) - set(COMPONENTS) - set(OPT_IN) - {"all"})
    if unknown:
        raise DeployConfigError(
            f"unknown components {unknown}: choose from {', '.join(COMPONENTS + OPT_IN)} or all"
        )
    chosen = {"core", *names, *(COMPONENTS if "all" in names else ())}
    if "task-mailbox" in chosen:  # its apps and images are ComputeAVS's
        chosen.add("compute-avs")
    if "rewards" in chosen:
        chosen.add("token")  # the buyback buys EIGEN
    return tuple(c for c in COMPONENTS + OPT_IN if c in chosen)


@dataclass(frozen=True)
class Parameters:
    """Everything a deployment is made with: the core's configuration (config/deploy.yaml) and the
    AVS contracts' parameters."""

    core: DeployConfig
    compute_avs: ComputeAVSConfig = field(default_factory=ComputeAVSConfig)
    inference_disputes: InferenceDisputesConfig = field(default_factory=InferenceDisputesConfig)
    task_mailbox: TaskMailboxConfig = field(default_factory=TaskMailboxConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    da: DAConfig = field(default_factory=DAConfig)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        def plain(c: Any) -> dict[str, Any]:
            return {
                k: list(map(list, v)) if k == "mock_tokens" else (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(c).items()
            }

        return {
            "core": plain(self.core),
            "compute_avs": plain(self.compute_avs),
            "inference_disputes": plain(self.inference_disputes),
            "task_mailbox": plain(self.task_mailbox),
            "rewards": plain(self.rewards),
            "da": plain(self.da),
        }

    def lines(self, components: Iterable[str] = COMPONENTS) -> list[str]:
        """One ``section.name = value`` line per parameter of the chosen components."""
        d = self.as_dict()
        token_fields = {
            "eigen_initial_supply",
            "eigen_governance",
            "challenge_bond",
            "challenge_window_blocks",
            "fork_timelock_blocks",
            "challenger_reward_bps",
            "beigen_extra_withdrawal_delay_blocks",
        }
        comps = set(components)
        out = [
            f"core.{k} = {v}"
            for k, v in d["core"].items()
            if k != "eigen_enabled" and (k not in token_fields or "token" in comps)
        ]
        for comp, (key, _) in AVS_KEYS.items():
            if comp in comps:
                out += [f"{key}.{k} = {v}" for k, v in d[key].items()]
        for section in ("rewards", "da"):
            if section in comps:
                out += [f"{section}.{k} = {v}" for k, v in d[section].items()]
        return out


def load_parameters(network: str, path: Path | str | None = None) -> Parameters:
    """Every parameter for ape network `network` from the deploy configuration: the core's keys and
    the ``compute_avs`` / ``inference_disputes`` / ``task_mailbox`` / ``rewards`` sections (defaults +
    the network's overrides)."""
    compute, disputes, mailbox = load_avs_configs(network, path)
    return Parameters(
        load_config(network, path),
        compute,
        disputes,
        mailbox,
        rewards=load_rewards_config(network, path),
        da=load_da_config(network, path),
    )


# Core parameters whose difference does not make the recorded deployment another one: eigen_enabled
# follows the components chosen, and the token may be added to a recorded core later.
_IGNORED = {"eigen_enabled"}
# The da parameters a run applies to a reused deployment (the PaymentVault's wiring and its owner, and
# where the network serves gRPC, the record's da.grpc): not differences, and recorded as applied.
DA_APPLIED = (
    "fee_vault", "operator_fee_bips", "operator_fee_recipient", "governance", "grpc_host", "disperser_grpc_port",
    "node_grpc_port",
)  # fmt: skip


def differences(recorded: dict[str, Any] | None, params: Parameters, components: Iterable[str]) -> list[str]:
    """``name: recorded -> wanted`` for each parameter of the chosen components that differs from
    the recorded deployment's; ``["the record holds no parameters"]`` for a record without them."""
    if not recorded:
        return ["the record holds no parameters"]
    want = params.as_dict()
    comps = set(components)
    sections = ["core"] + [key for comp, (key, _) in AVS_KEYS.items() if comp in comps]
    sections += [s for s in ("rewards", "da") if s in comps]
    out = []
    for section in sections:
        old = recorded.get(section)
        if old is None:
            continue  # that component was not deployed before: nothing to compare
        for k, v in want[section].items():
            if k in _IGNORED or (section == "da" and k in DA_APPLIED):
                continue
            if old.get(k) != v:
                out.append(f"{section}.{k}: {old.get(k)!r} -> {v!r}")
    return out


@dataclass
class Deployed:
    """What ``deploy_components`` deployed or reused: the core handles, the AVS contracts, which
    components were reused, and the differences from the recorded parameters (when reused)."""

    core: Deployment
    avs: dict[str, Any] = field(default_factory=dict)  # record key -> ape contract
    agent: dict[str, Any] = field(default_factory=dict)  # record key -> ape contract (agent)
    da: DADeployment | None = None  # the DA contracts (the record's ``da`` section)
    reused: list[str] = field(default_factory=list)
    deployed: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was wired, handed over or left unset

    def addresses(self) -> dict[str, Any]:
        return {
            **self.core.addresses(),
            **{k: c.address for k, c in self.avs.items()},
            **{k: c.address for k, c in self.agent.items()},
            **({"da": self.da.addresses()} if self.da is not None else {}),
        }


def _read(record: Path) -> dict[str, Any]:
    if not record.exists():
        return {}
    try:
        data = json.loads(record.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeployConfigError(f"deployment record {record} is corrupt: {exc}") from exc
    if not isinstance(data, dict):
        raise DeployConfigError(f"deployment record {record} is not a JSON object")
    return data


def _live_avs(project: Any, provider: Any, ctype: str, address: Any, allocation_manager: str) -> Any:
    try:
        if not isinstance(address, str) or not provider.get_code(address):
            return None
        c = getattr(project, ctype).at(address)
        return c if c.allocationManager() == allocation_manager else None
    except Exception:  # a record naming something else: deploy anew
        return None


def deploy_components(
    project: Any,
    deployer: Any,
    params: Parameters,
    components: Iterable[str] = COMPONENTS,
    record: Path | None = None,
    provider: Any = None,
    redeploy: bool = False,
    live: bool = False,
) -> Deployed:
    """Deploy (or reuse from `record`) the chosen components and write the record: the addresses
    plus ``"parameters"``, the parameters of the components deployed. `live`: a network where
    value is at stake (not a local chain or a fork), where the DA component refuses to leave the
    PaymentVault without a fee vault."""
    comps = parse_components(list(components))
    core_cfg: DeployConfig = replace(params.core, eigen_enabled="token" in comps)
    if "token" in comps and core_cfg.strategy_whitelister != "deployer":
        raise DeployConfigError("the token component needs strategy_whitelister: deployer")
    params = replace(params, core=core_cfg)
    old = {} if record is None or redeploy else _read(record)
    if "da" in comps:
        _check_da_destination(params.da, comps, old, provider, live)
    if redeploy and record is not None and record.exists():
        record.unlink()  # deploy_core reuses whatever the record names
    core = deploy_core(project, deployer, core_cfg, record=record, provider=provider)
    out = Deployed(core)
    if core.reused:
        out.reused.append("core")
        out.differences = differences(old.get("parameters"), params, comps)
        if "token" in comps:
            if core.eigen is None:
                deploy_token(project, deployer, core, core_cfg)
                out.deployed.append("token")
            else:
                out.reused.append("token")
    else:
        out.deployed += [c for c in ("core", "token") if c in comps]
    am = core.allocation_manager.address
    deployers = {
        "compute-avs": (deploy_compute_avs, params.compute_avs),
        "inference-disputes": (deploy_inference_disputes, params.inference_disputes),
    }
    for comp, (key, ctype) in AVS_KEYS.items():
        if comp not in comps:
            continue
        existing = _live_avs(project, provider, ctype, old.get(key), am) if core.reused else None
        if comp == "task-mailbox":
            _task_mailbox(project, deployer, core, params.task_mailbox, out, existing, old)
            continue
        if existing is not None:
            out.avs[key] = existing
            out.reused.append(comp)
        else:
            fn, cfg = deployers[comp]
            avs = out.avs[key] = fn(project, deployer, core, cfg)
            # Its BLSRegistry, so operators can join with BLS keys and certificates are checkable
            # (the AVS contract names it: `blsRegistry()`).
            reg = deploy_bls_registry(
                project,
                deployer,
                core,
                avs.address,
                cfg.bls_rotation_delay_blocks,
                cfg.bls_max_staleness_blocks,
            )
            avs.setBLSRegistry(reg, sender=deployer)
            out.deployed.append(comp)
    if "agent" in comps:
        live = _live_agent(project, provider, old) if core.reused else None
        out.agent = live or deploy_agent(project, deployer)
        (out.reused if live else out.deployed).append("agent")
        if "task_mailbox" in out.avs or "inference_disputes" in out.avs:
            # the x402 verified escrow settles on certified tasks and unchallenged receipts
            out.agent[VERIFIED_ESCROW] = _verified_escrow(
                project,
                deployer,
                provider,
                old,
                out,
                core.reused,
                params.inference_disputes.challenge_window_s,
            )
        if any(k in out.avs for k in ("task_mailbox", "inference_disputes", "compute_avs")):
            # the stake-backed validator
            out.agent[TASK_VALIDATOR] = _task_validator(project, deployer, provider, old, out, core.reused)
    _rewards_component(project, deployer, params, comps, old, core, out, provider)
    _da_component(project, deployer, params, comps, old, core, out, provider, live)
    if record is not None:
        # The record describes what is on chain: the recorded parameters of what was reused, the
        # wanted ones of what was deployed now, and (over a reused core) the AVS contracts left as
        # they were.
        wanted = params.as_dict()
        recorded = (old.get("parameters") or {}) if core.reused else {}
        kept = {
            s: recorded[s] if s in recorded and _reused_section(s, out.reused) else wanted[s]
            for s in wanted
            if s in recorded or _section_deployed(s, out.deployed)
        }
        if "da" in out.reused:  # its wiring and owner are the wanted ones now
            kept["da"] = {**kept["da"], **{k: wanted["da"][k] for k in DA_APPLIED}}
        kept_keys = [k for k, _ in AVS_KEYS.values()] + ["task_slasher"] + list(AGENT_CONTRACTS)
        kept_keys += [VERIFIED_ESCROW, TASK_VALIDATOR]
        kept_keys += list(REWARDS_KEYS) + ["da"]
        others = {k: old[k] for k in kept_keys if core.reused and k in old}
        data = {**others, **out.addresses(), "parameters": kept}
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(data, indent=2) + "\n")
    return out


def _live_agent(project: Any, provider: Any, old: dict[str, Any]) -> dict[str, Any] | None:
    """The recorded agent contracts, if every one is live and the registries are wired together."""
    try:
        if not all(isinstance(old.get(k), str) and provider.get_code(old[k]) for k in AGENT_CONTRACTS):
            return None
        out = {k: getattr(project, t).at(old[k]) for k, t in AGENT_CONTRACTS.items()}
        ident = out["identity_registry"].address
        wired = all(
            out[k].getIdentityRegistry() == ident for k in ("reputation_registry", "validation_registry")
        )
        return out if wired else None
    except Exception:  # a record naming something else: deploy anew
        return None


def _verified_escrow(
    project: Any, deployer: Any, provider: Any, old: dict, out: Deployed, reused: bool, window_s: int
) -> Any:
    """The recorded VerifiedEscrow if it is live and over this deployment's mailbox and disputes
    with this task window, else a new one."""
    want = tuple(
        out.avs[k].address if k in out.avs else ZERO_ADDRESS for k in ("task_mailbox", "inference_disputes")
    )
    addr = old.get(VERIFIED_ESCROW)
    if reused and isinstance(addr, str):
        try:
            if provider.get_code(addr):
                escrow = project.VerifiedEscrow.at(addr)
                if (escrow.mailbox(), escrow.disputes(), escrow.TASK_WINDOW()) == (*want, window_s):
                    return escrow
        except Exception:  # a record naming something else (or an older escrow): deploy anew
            pass
    return deploy_verified_escrow(project, deployer, *want, window_s)


def _task_validator(
    project: Any, deployer: Any, provider: Any, old: dict, out: Deployed, reused: bool
) -> Any:
    """The recorded TaskValidator if it is live and answers this deployment's registry from its
    mailbox, disputes and compute AVS, else a new one."""
    want = (
        out.agent["validation_registry"].address,
        out.avs["task_mailbox"].address if "task_mailbox" in out.avs else ZERO_ADDRESS,
        out.avs["inference_disputes"].address if "inference_disputes" in out.avs else ZERO_ADDRESS,
        out.avs["compute_avs"].address if "compute_avs" in out.avs else ZERO_ADDRESS,
    )
    addr = old.get(TASK_VALIDATOR)
    if reused and isinstance(addr, str):
        try:
            if provider.get_code(addr):
                v = project.TaskValidator.at(addr)
                if (v.registry(), v.mailbox(), v.disputes(), v.computeAVS()) == want:
                    return v
        except Exception:  # a record naming something else: deploy anew
            pass
    return deploy_task_validator(project, deployer, *want)


def _task_mailbox(
    project: Any,
    deployer: Any,
    core: Deployment,
    cfg: TaskMailboxConfig,
    out: Deployed,
    existing: Any,
    old: dict,
) -> None:
    # the mailbox and its slasher over this deployment's ComputeAVS (reused only with the same one)
    compute = out.avs["compute_avs"].address
    if existing is not None and existing.computeAVS() == compute and old.get("task_slasher"):
        out.avs["task_mailbox"], out.avs["task_slasher"] = (
            existing,
            project.TaskSlasher.at(old["task_slasher"]),
        )
        out.reused.append("task-mailbox")
        return
    out.avs["task_mailbox"], out.avs["task_slasher"], _registry = deploy_task_mailbox(
        project, deployer, core, compute, cfg
    )
    out.deployed.append("task-mailbox")


def _section_of(component: str) -> str:
    if component in OPT_IN:
        return component  # no parameters section
    return "core" if component in ("core", "token") else AVS_KEYS[component][0]


# ---- rewards (RewardsCoordinator, FeeVault, BuybackAuction; docs/rewards.md) ----------------------

REWARDS_KEYS = {
    "rewards_coordinator": "RewardsCoordinator",
    "fee_vault": "FeeVault",
    "buyback_auction": "BuybackAuction",
    "rewards_distributor": "RewardsDistributor",
    "rewards_root_challenger": "RewardsRootChallenger",
    "rewards_challenge_steps": "RewardsChallengeSteps",
}


def _rewards_component(
    project: Any,
    deployer: Any,
    params: Parameters,
    comps: tuple[str, ...],
    old: dict[str, Any],
    core: Deployment,
    out: Deployed,
    provider: Any,
) -> None:
    """Deploy the rewards contracts (or reuse the recorded ones, when the core is reused and the
    recorded coordinator is live over its AllocationManager) into ``out.avs``."""
    if "rewards" not in comps:
        return
    if core.reused and all(isinstance(old.get(k), str) for k in REWARDS_KEYS):
        am = core.allocation_manager.address
        rc = _live_avs(project, provider, "RewardsCoordinator", old["rewards_coordinator"], am)
        if rc is not None:
            out.avs["rewards_coordinator"] = rc
            out.avs["fee_vault"] = project.FeeVault.at(old["fee_vault"])
            out.avs["buyback_auction"] = project.BuybackAuction.at(old["buyback_auction"])
            out.avs["rewards_distributor"] = project.RewardsDistributor.at(old["rewards_distributor"])
            out.avs["rewards_root_challenger"] = project.RewardsRootChallenger.at(
                old["rewards_root_challenger"]
            )
            out.avs["rewards_challenge_steps"] = project.RewardsChallengeSteps.at(
                old["rewards_challenge_steps"]
            )
            out.reused.append("rewards")
            _wire_fees(deployer, params, out)
            return
    r = deploy_rewards(project, deployer, core, params.rewards)
    out.avs.update(
        {
            "rewards_coordinator": r.coordinator,
            "fee_vault": r.fee_vault,
            "buyback_auction": r.buyback,
            "rewards_distributor": r.distributor,
            "rewards_root_challenger": r.challenger,
            "rewards_challenge_steps": r.challenge_steps,
        }
    )
    out.deployed.append("rewards")
    _wire_fees(deployer, params, out)


def _wire_fees(deployer: Any, params: Parameters, out: Deployed) -> None:
    """The cloud's fees into the FeeVault: the task mailbox's fee split and the upto settler's
    inference fee, when those are deployed with the rewards component (ELIP-12)."""
    wire_fees(
        deployer,
        out.avs["fee_vault"].address,
        params.rewards,
        mailbox=out.avs.get("task_mailbox"),
        settler=out.agent.get("upto_settler"),
    )


# ---- DA (BLSRegistry, PaymentVault, EigenDACertVerifier; docs/da-contracts.md) ------------------


def _live_da(project: Any, provider: Any, old: Any, am: str) -> DADeployment | None:
    """The recorded DA contracts, if each is live and they are wired to each other: the registry
    over this core's AllocationManager, the verifier over the registry."""
    try:
        keys = ("bls_registry", "payment_vault", "cert_verifier", "weth")
        if not isinstance(old, dict) or not all(
            isinstance(old.get(k), str) and provider.get_code(old[k]) for k in keys
        ):
            return None
        reg = project.BLSRegistry.at(old["bls_registry"])
        verifier = project.EigenDACertVerifier.at(old["cert_verifier"])
        if reg.allocationManager() != am or verifier.blsRegistry() != reg.address:
            return None
        return DADeployment(
            reg,
            project.PaymentVault.at(old["payment_vault"]),
            verifier,
            project.WETH9.at(old["weth"]),
            reg.avs(),
            verifier.operatorSetId(),
        )
    except Exception:  # a record naming something else: deploy anew
        return None


def _da_component(
    project: Any,
    deployer: Any,
    params: Parameters,
    comps: tuple[str, ...],
    old: dict[str, Any],
    core: Deployment,
    out: Deployed,
    provider: Any,
    live: bool,
) -> None:
    """Deploy the DA contracts (or reuse the recorded ones over this core), point the PaymentVault's
    consumed payments at the rewards component's FeeVault (deployed now or recorded) or at
    ``da.fee_vault``, set the operators' share, then hand the vault and the verifier to
    ``da.governance``."""
    if "da" not in comps:
        return
    cfg = params.da
    fee_vault = _da_fee_vault(project, provider, cfg, old, core, out, live)
    live_da = (
        _live_da(project, provider, old.get("da"), core.allocation_manager.address) if core.reused else None
    )
    if live_da is not None:
        out.da = live_da
        out.reused.append("da")
    else:
        out.da = deploy_da(project, deployer, core, cfg)
        out.deployed.append("da")
    out.da.grpc = cfg.grpc()  # not on chain: what this run says
    pv = out.da.payment_vault
    if fee_vault is not None:
        out.notes += wire_fees(
            deployer, fee_vault, params.rewards, payment_vault=pv, weth=out.da.weth.address
        )
    elif pv.feeVault() == ZERO_ADDRESS:
        out.notes.append(
            "da: the PaymentVault names no fee vault: consumed payments stay in it until its owner calls "
            "setFeeVault (set da.fee_vault or deploy the rewards component)"
        )
    recipient = ZERO_ADDRESS if cfg.operator_fee_recipient == "none" else cfg.operator_fee_recipient
    if (pv.operatorFeeRecipient(), pv.operatorFeeBips()) != (recipient, cfg.operator_fee_bips):
        _owned_by_deployer(pv, "payment_vault", deployer)
        pv.setOperatorFee(recipient, cfg.operator_fee_bips, sender=deployer)
        out.notes.append(f"payment_vault: operator fee {cfg.operator_fee_bips} bips to {recipient}")
    governance = deployer.address if cfg.governance == "deployer" else cfg.governance
    for name, c in (("payment_vault", pv), ("cert_verifier", out.da.cert_verifier)):
        if c.owner() == governance:
            continue
        _owned_by_deployer(c, name, deployer)
        c.transferOwnership(governance, sender=deployer)
        if c.owner() != governance:
            raise DeployConfigError(f"the {name} at {c.address} did not pass to {governance}")
        out.notes.append(f"{name}: owned by {governance}")


def _owned_by_deployer(c: Any, name: str, deployer: Any) -> None:
    if c.owner() != deployer.address:
        raise DeployConfigError(
            f"the {name} at {c.address} is owned by {c.owner()}, not the deployer: its owner must change it"
        )


def _check_da_destination(
    cfg: DAConfig, comps: tuple[str, ...], old: dict, provider: Any, live: bool
) -> None:
    """Before anything is deployed: the configured WETH and fee vault exist on this chain, the fee
    vault does not contradict the rewards component's, and a live network gets a destination."""
    for name in ("weth", "fee_vault"):
        v = getattr(cfg, name)
        if v not in ("deploy", "none") and provider is not None and not provider.get_code(v):
            raise DeployConfigError(f"da.{name}: no contract at {v} on this chain")
    recorded = old.get("fee_vault") if isinstance(old.get("fee_vault"), str) else None
    if "rewards" in comps and cfg.fee_vault not in ("none", recorded):
        raise DeployConfigError(
            f"da.fee_vault names {cfg.fee_vault}, but the DA fees go to the rewards component's FeeVault: "
            "set da.fee_vault: none (or deploy without rewards)"
        )
    if live and cfg.fee_vault == "none" and "rewards" not in comps and recorded is None:
        raise DeployConfigError(
            "da.fee_vault is none and no rewards component is deployed or recorded: on a live network the "
            "DA fees need a destination (deploy with --components da,rewards, or name a FeeVault in da.fee_vault)"
        )


def _da_fee_vault(
    project: Any, provider: Any, cfg: DAConfig, old: dict, core: Deployment, out: Deployed, live: bool
) -> str | None:
    """Where the PaymentVault's consumed payments go: the rewards component's FeeVault when it is
    deployed now or recorded over this core, else ``da.fee_vault``; None (left unset) only off a
    live network."""
    rewards = out.avs.get("fee_vault")
    vault = rewards.address if rewards is not None else None
    if vault is None and core.reused and isinstance(old.get("fee_vault"), str):
        rc = _live_avs(
            project,
            provider,
            "RewardsCoordinator",
            old.get("rewards_coordinator"),
            core.allocation_manager.address,
        )
        if rc is not None and rc.feeRecipient() == old["fee_vault"]:
            vault = old["fee_vault"]
    if vault is not None:
        if cfg.fee_vault not in ("none", vault):
            raise DeployConfigError(
                f"da.fee_vault names {cfg.fee_vault}, but the rewards component's FeeVault is {vault}: "
                "the DA fees go to it (set da.fee_vault: none)"
            )
        return vault
    if cfg.fee_vault != "none":
        return cfg.fee_vault
    if live:
        raise DeployConfigError(
            "da.fee_vault is none and no rewards component is deployed or recorded: on a live network the "
            "DA fees need a destination (deploy with --components da,rewards, or name a FeeVault in da.fee_vault)"
        )
    return None


def _reused_section(section: str, reused: list[str]) -> bool:
    return any(_section_of(c) == section for c in reused)


def _section_deployed(section: str, deployed: list[str]) -> bool:
    return any(_section_of(c) == section for c in deployed)


def configured_networks(path: Path | str | None = None) -> set[str]:
    """The network names that have a section in the deploy configuration (already validated by
    ``load_config``)."""
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DeployConfigError(f"deploy configuration {p} is unreadable: {exc}") from exc
    nets = raw.get("networks") if isinstance(raw, dict) else None
    return set(nets) if isinstance(nets, dict) else set()
