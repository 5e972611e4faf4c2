"""EigenLayer v1.12.0 run through the gas bench's scenarios, as the reference column.

EigenLayer publishes no per-function gas figures (shared/research/eigenlayer-contracts.md,
section 7), so bench_gas.py measures them: with `--eigenlayer DIR --eigenlayer-deps DIR` it
compiles EigenLayer's own contracts from a checkout the user provides, deploys them on the same
anvil as the project's contracts, wired as EigenLayer's deploy script does (ProxyAdmin,
TransparentUpgradeableProxy in front of every core contract and every strategy, as on mainnet, so
proxy overhead is part of the figures), and runs every scenario of bench_gas.py against them.

Nothing of EigenLayer is in this repository. To obtain it (docs/restaking.md, "Gas"):

    git clone https://github.com/Layr-Labs/eigenlayer-contracts EL && git -C EL checkout v1.12.0
    npm install --prefix DEPS solc@0.8.30 @openzeppelin/contracts@4.9.0 \
        @openzeppelin/contracts-upgradeable@4.9.0
    make bench-gas-el EL=EL EL_DEPS=DEPS

The OpenZeppelin libraries are taken from the checkout's lib/ submodules when they are populated
(`git submodule update --init lib/openzeppelin-contracts-v4.9.0
lib/openzeppelin-contracts-upgradeable-v4.9.0`), otherwise from the npm packages in DEPS; the
compiler is solcjs 0.8.30 from DEPS (the version foundry.toml pins), with foundry.toml's settings
(optimizer on, 200 runs, no via-IR, the compiler's default EVM version for 0.8.30: prague). Only
the source closure of the deployed contracts is compiled; the output is cached under
bench/results/.cache/ keyed by the sources and settings.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import scenario

EL_TAG = "v1.12.0"
EL_COMMIT = "d302f65042164c8d8d0a983c1540d85a8710030b"
SOLC_VERSION = "0.8.30"
OZ_VERSION = "4.9.0"
# sha256 over the compiled source closure (unit name, NUL, text, NUL, in name order) at EL_COMMIT
# with OpenZeppelin 4.9.0 (the lib/ submodules and the npm packages hold the same files): the
# column is labelled v1.12.0 only when the checkout gives these very sources.
SOURCES_SHA256 = "ae142d0c0208b92d177646ed25ebeb3b22e7803b7e3ff34ddacaa06a9e7e279a"
# foundry.toml of v1.12.0: optimizer = true, optimizer_runs = 200, via_ir = false, no evm_version
# (forge then uses the compiler's default, prague for 0.8.30; set explicitly so both agree).
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": False,
    "evmVersion": "prague",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}
OZ_LIB = "lib/openzeppelin-contracts-v4.9.0/"
OZU_LIB = "lib/openzeppelin-contracts-upgradeable-v4.9.0/"
# foundry.toml's remappings (the two the deployed contracts use).
REMAPPINGS = {"@openzeppelin/": OZ_LIB, "@openzeppelin-upgrades/": OZU_LIB}
NPM = {OZ_LIB: "@openzeppelin/contracts", OZU_LIB: "@openzeppelin/contracts-upgradeable"}
# (source unit, contract) deployed by the reference: the core contracts as EigenLayer's deploy
# script wires them, its own test mocks for the AVS registrar and proxy placeholder, and
# OpenZeppelin 4.9's proxy contracts. The tokens are the project's MockERC20 (contracts/mocks), the
# very token the project's side of the bench deposits, so token cost is the same on both sides.
TARGETS = {
    "PauserRegistry": "src/contracts/permissions/PauserRegistry.sol",
    "PermissionController": "src/contracts/permissions/PermissionController.sol",
    "StrategyManager": "src/contracts/core/StrategyManager.sol",
    "DelegationManager": "src/contracts/core/DelegationManager.sol",
    "AllocationManager": "src/contracts/core/AllocationManager.sol",
    "AllocationManagerView": "src/contracts/core/AllocationManagerView.sol",
    "EigenPodManager": "src/contracts/pods/EigenPodManager.sol",
    "StrategyBase": "src/contracts/strategies/StrategyBase.sol",
    "MockAVSRegistrar": "src/test/mocks/MockAVSRegistrar.sol",
    "EmptyContract": "src/test/mocks/EmptyContract.sol",
    "ProxyAdmin": OZ_LIB + "contracts/proxy/transparent/ProxyAdmin.sol",
    "TransparentUpgradeableProxy": OZ_LIB + "contracts/proxy/transparent/TransparentUpgradeableProxy.sol",
}
# The EigenLayer call each bench_gas.py operation is measured on.
CALLS = {
    "register as operator": "DelegationManager.registerAsOperator",
    "deposit (first, cold)": "StrategyManager.depositIntoStrategy",
    "deposit (again, warm)": "StrategyManager.depositIntoStrategy",
    "delegate (3 strategies)": "DelegationManager.delegateTo",
    "deposit (delegated, warm)": "StrategyManager.depositIntoStrategy",
    "register for 1 operator set": "AllocationManager.registerForOperatorSets (+ no-op AVSRegistrar)",
    "modify allocations (1 set, 3 strategies)": "AllocationManager.modifyAllocations",
    "modify allocations (1 set, 1 strategy)": "AllocationManager.modifyAllocations",
    "queue withdrawal (1 strategy)": "DelegationManager.queueWithdrawals",
    "complete withdrawal as tokens": "DelegationManager.completeQueuedWithdrawal",
    "slash (1 strategy)": "AllocationManager.slashOperator",
    "slash (3 strategies)": "AllocationManager.slashOperator",
    "release escrow (1 strategy)": "StrategyManager.clearBurnOrRedistributableShares",
    "release escrow (3 strategies)": "StrategyManager.clearBurnOrRedistributableShares",
    "undelegate (3 strategies)": "DelegationManager.undelegate",
}
# What each operation must have done, read from its receipt so a call that did nothing (a slash of
# nothing allocated, a clear of nothing booked) is never measured: (event, how many, a field that
# must be non-zero in each, or None).
EXPECT: dict[str, tuple[str, int, str | None]] = {
    "register as operator": ("OperatorRegistered", 1, None),
    "deposit (first, cold)": ("Deposit", 1, "shares"),
    "deposit (again, warm)": ("Deposit", 1, "shares"),
    "delegate (3 strategies)": ("OperatorSharesIncreased", 3, "shares"),
    "deposit (delegated, warm)": ("OperatorSharesIncreased", 1, "shares"),
    "register for 1 operator set": ("OperatorAddedToOperatorSet", 1, None),
    "modify allocations (1 set, 3 strategies)": ("AllocationUpdated", 3, "magnitude"),
    "modify allocations (1 set, 1 strategy)": ("AllocationUpdated", 1, "magnitude"),
    "queue withdrawal (1 strategy)": ("SlashingWithdrawalQueued", 1, None),
    "complete withdrawal as tokens": ("SlashingWithdrawalCompleted", 1, None),
    "slash (1 strategy)": ("BurnOrRedistributableSharesIncreased", 1, "shares"),
    "slash (3 strategies)": ("BurnOrRedistributableSharesIncreased", 3, "shares"),
    "release escrow (1 strategy)": ("BurnOrRedistributableSharesDecreased", 1, "shares"),
    "release escrow (3 strategies)": ("BurnOrRedistributableSharesDecreased", 3, "shares"),
    "undelegate (3 strategies)": ("SlashingWithdrawalQueued", 3, None),
}
_IMPORT = re.compile(r'^\s*import\s+(?:[^"\';]*?\s+from\s+)?["\']([^"\']+)["\']', re.M)


class EigenLayerRefError(Exception):
    """The EigenLayer reference cannot be built or run (missing checkout, dependency or compiler)."""


@dataclass(frozen=True)
class Artifact:
    abi: list[dict[str, Any]]
    bytecode: str


def _resolve(importer: str, spec: str) -> str:
    """Source unit name of `spec` imported from `importer`, as solc resolves it with REMAPPINGS."""
    if spec.startswith("."):
        parts: list[str] = importer.split("/")[:-1]
        for p in spec.split("/"):
            if p == "..":
                if not parts:
                    raise EigenLayerRefError(f"{importer}: import {spec!r} leaves the source tree")
                parts.pop()
            elif p not in (".", ""):
                parts.append(p)
        return "/".join(parts)
    for prefix, target in REMAPPINGS.items():
        if spec.startswith(prefix):
            return target + spec[len(prefix) :]
    return spec


class _Sources:
    """Reads source units from the checkout, OpenZeppelin from its lib/ or from the npm packages."""

    def __init__(self, checkout: Path, deps: Path | None) -> None:
        self.checkout = checkout
        # lib prefix -> (folder, whether it is an npm package: those hold the repository's contracts/)
        self.roots: dict[str, tuple[Path, bool]] = {}
        for lib, pkg in NPM.items():
            sub = checkout / lib / "contracts"
            if (sub / "package.json").is_file():
                self.roots[lib] = (checkout / lib, False)
                version = json.loads((sub / "package.json").read_text()).get("version")
            else:
                npm = deps / "node_modules" / pkg if deps else None
                if npm is None or not (npm / "package.json").is_file():
                    raise EigenLayerRefError(
                        f"{pkg} {OZ_VERSION} not found: {lib} in {checkout} is empty and "
                        + (f"{npm} does not exist" if npm else "no --eigenlayer-deps was given")
                        + f" (npm install --prefix DEPS {pkg}@{OZ_VERSION})"
                    )
                self.roots[lib] = (npm, True)
                version = json.loads((npm / "package.json").read_text()).get("version")
            if version != OZ_VERSION:
                raise EigenLayerRefError(f"{pkg} is {version}, EigenLayer {EL_TAG} pins {OZ_VERSION}")

    def path(self, unit: str) -> Path:
        for lib, (root, npm) in self.roots.items():
            if unit.startswith(lib):
                rest = unit[len(lib) :]
                if npm:
                    if not rest.startswith("contracts/"):
                        raise EigenLayerRefError(f"unexpected OpenZeppelin path {unit}")
                    rest = rest[len("contracts/") :]
                return root / rest
        return self.checkout / unit

    def closure(self, roots: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        todo = list(roots)
        while todo:
            unit = todo.pop()
            if unit in out:
                continue
            p = self.path(unit)
            if not p.is_file():
                raise EigenLayerRefError(f"source {unit} not found (looked at {p})")
            text = p.read_text()
            out[unit] = text
            todo.extend(_resolve(unit, spec) for spec in _IMPORT.findall(text))
        return out


def sources_digest(sources: dict[str, str]) -> str:
    h = hashlib.sha256()
    for unit in sorted(sources):
        h.update(unit.encode() + b"\0" + sources[unit].encode() + b"\0")
    return h.hexdigest()


def _check_checkout(checkout: Path) -> None:
    if not (checkout / "foundry.toml").is_file() or not (checkout / TARGETS["AllocationManager"]).is_file():
        raise EigenLayerRefError(
            f"{checkout} is not an eigenlayer-contracts checkout (no foundry.toml or {TARGETS['AllocationManager']})"
        )
    toml = (checkout / "foundry.toml").read_text()
    m = re.search(r"solc_version\s*=\s*['\"]([^'\"]+)['\"]", toml)
    if not m or m.group(1) != SOLC_VERSION:
        raise EigenLayerRefError(
            f"{checkout}/foundry.toml pins solc {m.group(1) if m else 'nothing'}, not {SOLC_VERSION}: "
            f"check out {EL_TAG} ({EL_COMMIT})"
        )


def _solc_command(deps: Path | None) -> list[str]:
    solcjs = deps / "node_modules" / "solc" if deps else None
    if solcjs is None or not (solcjs / "package.json").is_file():
        raise EigenLayerRefError(
            f"solcjs not found under {deps}/node_modules/solc (npm install --prefix DEPS solc@{SOLC_VERSION})"
        )
    version = json.loads((solcjs / "package.json").read_text()).get("version")
    if version != SOLC_VERSION:
        raise EigenLayerRefError(f"solcjs in {solcjs} is {version}, EigenLayer {EL_TAG} pins {SOLC_VERSION}")
    node = shutil.which("node")
    if node is None:
        raise EigenLayerRefError("node is not on PATH (solcjs needs it)")
    script = (
        "const solc=require(process.argv[1]);let s='';process.stdin.on('data',d=>s+=d);"
        "process.stdin.on('end',()=>process.stdout.write(solc.compile(s)));"
    )
    return [node, "-e", script, str(solcjs)]


def build(checkout: Path, deps: Path | None, cache_dir: Path) -> tuple[dict[str, Artifact], str]:
    """Compile the reference contracts; returns the artifacts and the sha256 of the compiler input."""
    checkout, deps = checkout.resolve(), deps.resolve() if deps else None
    _check_checkout(checkout)
    sources = _Sources(checkout, deps).closure(sorted(set(TARGETS.values())))
    got = sources_digest(sources)
    if got != SOURCES_SHA256:
        raise EigenLayerRefError(
            f"the sources in {checkout} are not EigenLayer {EL_TAG} ({EL_COMMIT}) with OpenZeppelin {OZ_VERSION}: "
            f"sha256 {got}, expected {SOURCES_SHA256}"
        )
    std_input = json.dumps(
        {
            "language": "Solidity",
            "sources": {k: {"content": v} for k, v in sorted(sources.items())},
            "settings": {**SETTINGS, "remappings": [f"{k}={v}" for k, v in REMAPPINGS.items()]},
        },
        sort_keys=True,
    )
    digest = hashlib.sha256((SOLC_VERSION + std_input).encode()).hexdigest()
    cached = cache_dir / f"eigenlayer-{digest[:16]}.json"
    if cached.is_file():
        out = json.loads(cached.read_text())
    else:
        cmd = _solc_command(deps)
        proc = subprocess.run(cmd, input=std_input, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise EigenLayerRefError(f"solcjs failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        try:
            out = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise EigenLayerRefError(f"solcjs printed no JSON: {proc.stdout[:500]!r}") from e
        errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
        if errors:
            raise EigenLayerRefError(
                "compilation failed:\n" + "\n".join(e["formattedMessage"] for e in errors[:5])
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(out))
        tmp.replace(cached)  # a run stopped mid-write leaves no truncated cache entry
    arts: dict[str, Artifact] = {}
    for name, unit in TARGETS.items():
        c = out.get("contracts", {}).get(unit, {}).get(name)
        if c is None or not c["evm"]["bytecode"]["object"]:
            raise EigenLayerRefError(f"{name} missing from the compiler output of {unit}")
        code = c["evm"]["bytecode"]["object"]
        if "__$" in code:
            raise EigenLayerRefError(f"{name} needs library linking, which the reference does not do")
        arts[name] = Artifact(c["abi"], "0x" + code)
    return arts, digest


def describe(digest: str | None) -> dict[str, Any]:
    """What the EigenLayer column measured, for the bench's JSON."""
    return {
        "tag": EL_TAG,
        "commit": EL_COMMIT,
        "compiler": f"solcjs {SOLC_VERSION}",
        "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
        "openzeppelin": OZ_VERSION,
        "sources_sha256": SOURCES_SHA256,
        "compiler_input_sha256": digest,
        "deployment": "TransparentUpgradeableProxy (OpenZeppelin 4.9) in front of DelegationManager, "
        "StrategyManager, AllocationManager, EigenPodManager, PermissionController and every StrategyBase",
        "calls": CALLS,
    }


# Deployment parameters: delays only decide how far the bench mines, never the gas of a call.
MIN_WITHDRAWAL_DELAY_BLOCKS = 20
DEALLOCATION_DELAY_BLOCKS = 20
ALLOCATION_CONFIGURATION_DELAY_BLOCKS = 25
SEMVER = "1.12.0"
ZERO = "0x" + "00" * 20


def _abi_without_overload(abi: list[dict[str, Any]], name: str, arity: int) -> list[dict[str, Any]]:
    """Drop the overload of `name` whose second argument is a tuple of `arity` fields (the older
    CreateSetParams), so ape picks the CreateSetParamsV2 form (with a slasher) unambiguously."""

    def old(e: dict[str, Any]) -> bool:
        ins = e.get("inputs", [])
        return (
            e.get("type") == "function"
            and e.get("name") == name
            and len(ins) > 1
            and len(ins[1].get("components", [])) == arity
        )

    return [e for e in abi if not old(e)]


def check_effect(name: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Raise unless `events` (name, arguments) show the effect EXPECT names for operation `name`."""
    event, count, field = EXPECT[name]
    hits = [args for ev, args in events if ev == event]
    if len(hits) != count or (field is not None and not all(a.get(field) for a in hits)):
        raise EigenLayerRefError(
            f"EigenLayer's {CALLS[name]} for {name!r} emitted {len(hits)} {event} event(s)"
            f"{'' if field is None else f' with non-zero {field}'}, expected {count}: nothing to measure"
        )


def run(arts: dict[str, Artifact], token: Any, reps: int, proxied: bool = True) -> dict[str, list[int]]:
    """Deploy EigenLayer on the connected (anvil) provider and run the bench's scenario
    (scenario.py); returns gas used per operation (whole transactions). `token` is the
    mintable ERC-20 container (the project's MockERC20) both sides deposit.

    proxied=False measures the same deployment without proxy dispatch: once everything is deployed
    and initialized through the proxies, each proxy's code is replaced (anvil_setCode) by its
    implementation's runtime code, so storage, addresses and immutables stay exactly as deployed.
    EigenLayer's implementations disable their initializers, so this is the only way to run them
    initialized without a proxy; it shows how much of each figure the proxies are."""
    from ape import accounts, chain
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    abis = {n: a.abi for n, a in arts.items()}
    for n in ("AllocationManager",):
        abis[n] = _abi_without_overload(
            _abi_without_overload(abis[n], "createOperatorSets", 2), "createRedistributingOperatorSets", 2
        )
    types = {
        n: ContractType.model_validate(
            {"contractName": n, "abi": abis[n], "deploymentBytecode": {"bytecode": a.bytecode}}
        )
        for n, a in arts.items()
    }

    a = accounts.test_accounts
    owner = a[0]

    def deploy(name: str, *args: Any) -> Any:
        return owner.deploy(ContractContainer(types[name]), *args)

    def at(address: str, name: str) -> Any:
        return chain.contracts.instance_at(address, contract_type=types[name])

    # EigenLayer's script/deploy/local/deploy_from_scratch.slashing.s.sol, reduced to the contracts
    # these operations touch: proxies first (empty implementation), then implementations pointing
    # at the proxies, then upgradeAndCall(initialize).
    pauser = deploy("PauserRegistry", [owner.address], owner.address)
    admin = deploy("ProxyAdmin")
    empty = deploy("EmptyContract")

    def proxy() -> str:
        return deploy("TransparentUpgradeableProxy", empty.address, admin.address, b"").address

    dm_p, sm_p, am_p, epm_p, pc_p = (proxy() for _ in range(5))
    # The EIGEN strategy is only compared against in AllocationManager (never deposited into here);
    # ETHPOS and the pod beacon are immutables used only when creating pods.
    eigen_strategy = empty.address
    am_view = deploy(
        "AllocationManagerView",
        dm_p,
        eigen_strategy,
        DEALLOCATION_DELAY_BLOCKS,
        ALLOCATION_CONFIGURATION_DELAY_BLOCKS,
    )
    impls = {
        dm_p: deploy(
            "DelegationManager", sm_p, epm_p, am_p, pauser.address, pc_p, MIN_WITHDRAWAL_DELAY_BLOCKS, SEMVER
        ),
        sm_p: deploy("StrategyManager", am_p, dm_p, pauser.address, SEMVER),
        am_p: deploy(
            "AllocationManager",
            am_view.address,
            dm_p,
            eigen_strategy,
            pauser.address,
            pc_p,
            DEALLOCATION_DELAY_BLOCKS,
            ALLOCATION_CONFIGURATION_DELAY_BLOCKS,
        ),
        epm_p: deploy("EigenPodManager", empty.address, empty.address, dm_p, pauser.address),
        pc_p: deploy("PermissionController"),
    }
    inits = {
        dm_p: impls[dm_p].initialize.encode_input(0),
        sm_p: impls[sm_p].initialize.encode_input(owner.address, owner.address, 0),
        am_p: impls[am_p].initialize.encode_input(0),
        epm_p: impls[epm_p].initialize.encode_input(owner.address, 0),
    }
    for p, impl in impls.items():
        if p in inits:
            admin.upgradeAndCall(p, impl.address, inits[p], sender=owner)
        else:
            admin.upgrade(p, impl.address, sender=owner)
    dm, sm, am = at(dm_p, "DelegationManager"), at(sm_p, "StrategyManager"), at(am_p, "AllocationManager")

    base = deploy("StrategyBase", sm.address, pauser.address)
    syms = scenario.SYMBOLS
    tokens = {s: owner.deploy(token, s, s) for s in syms}
    by_sym = {}
    for s in syms:
        init = base.initialize.encode_input(tokens[s].address)
        p = deploy("TransparentUpgradeableProxy", base.address, admin.address, init)
        by_sym[s] = at(p.address, "StrategyBase")
    sm.addStrategiesToDepositWhitelist([by_sym[s].address for s in syms], sender=owner)
    strats = sorted((by_sym[s].address for s in syms), key=lambda x: int(x, 16))

    avs = a[1]
    if not proxied:
        web3 = chain.provider.web3
        behind = {p: impl.address for p, impl in impls.items()}
        behind.update({st.address: base.address for st in by_sym.values()})
        for p, impl in behind.items():
            chain.provider.make_request("anvil_setCode", [p, "0x" + bytes(web3.eth.get_code(impl)).hex()])

    registrar = deploy("MockAVSRegistrar")
    am.updateAVSMetadataURI(avs, "avs", sender=avs)
    am.setAVSRegistrar(avs, registrar.address, sender=avs)
    set_ids = list(range(1, 2 * reps + 2))
    am.createOperatorSets(avs, [(i, strats, avs.address) for i in set_ids], sender=avs)

    side = scenario.Side(
        funder=owner,
        avs=avs,
        strategy_manager=sm,
        delegation_manager=dm,
        allocation_manager=am,
        tokens=tokens,
        strategies=by_sym,
        set_ids=set_ids,
        withdrawal_delay_blocks=MIN_WITHDRAWAL_DELAY_BLOCKS,
        allocate=lambda op, set_id, strats, mags: am.modifyAllocations(
            op, [((avs, set_id), strats, mags)], sender=op
        ),
        # QueuedWithdrawalParams' third field is deprecated (the withdrawer is always the staker)
        queue=lambda staker, strategy, shares: dm.queueWithdrawals(
            [([strategy], [shares], ZERO)], sender=staker
        ),
        # the counterpart of the escrow release: a slash's shares paid out as tokens (to the burn
        # address for a non-redistributing set), per slash id
        release=lambda sender, set_id, slash_id: sm.clearBurnOrRedistributableShares(
            (avs, set_id), slash_id, sender=sender
        ),
        check=lambda name, receipt: check_effect(
            name, [(e.event_name, dict(e.event_arguments)) for e in receipt.events]
        ),
    )
    return scenario.run(side, reps)
