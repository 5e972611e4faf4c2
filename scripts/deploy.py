"""`ape run deploy [--network ecosystem:network:provider] [--components LIST] [--out FILE] [--redeploy]`.

Deploys every component (the restaking core, the EIGEN token, the compute AVS, inference
disputes and the task mailbox) or those named by --components (with the opt-in agent, rewards and
da), with the parameters of config/deploy.yaml (defaults = mainnet-sized delays, bonds and windows,
overridden per network name; the AVS contracts' under compute_avs, inference_disputes, task_mailbox,
rewards and da), and prints the parameters it used. Addresses and
parameters are written to deployments/<chain id>.json (for local networks .deploy/<chain id>.json,
which git ignores; --out names another file). Running it again on a chain with a live recorded
deployment reuses it, warning about each parameter that differs from the recorded ones; --redeploy
deploys anew instead.

Accounts: on local networks the first test account deploys. Elsewhere set EIGEN_DEPLOYER to the
alias of an ape keystore account and APE_ACCOUNTS_<alias>_PASSPHRASE to its passphrase: nothing
prompts (see docs/deploy.md). EIGEN_DEPLOY_CONFIG points at another configuration file.

The project's anvil (.tools/, installed by tools/bootstrap.sh) is put on PATH when this module is
loaded, before ape starts the local network, so the command works without tools/run.
"""

import json
import sys
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand, network_option

from offchain.chain.devnet import put_anvil_on_path

put_anvil_on_path()


@click.command(cls=ConnectedProviderCommand, short_help="Deploy the components (docs/deploy.md)")
@network_option()
@click.option(
    "--components",
    default="all",
    show_default=True,
    help="comma-separated subset of core,token,compute-avs,inference-disputes,task-mailbox, plus the opt-in "
    "agent, rewards and da (core is always included)",
    callback=lambda ctx, param, value: _components(value),
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the record here [default: deployments/<chain id>.json; .deploy/<chain id>.json for local]",
)
@click.option("--redeploy", is_flag=True, help="deploy anew even if the record names a live deployment")
def cli(network, components, out, redeploy):
    from ape import chain, networks, project

    from offchain import settings
    from offchain.chain.components import configured_networks, deploy_components, load_parameters
    from offchain.errors import EigenError

    try:
        name = networks.provider.network.name
        base = name.removesuffix("-fork")
        config_path = settings.deploy_config_path()
        comps = components
        params = load_parameters(base, config_path)
        record = out or record_path(name, chain.chain_id)
        if record.exists() and record.is_dir():
            raise click.UsageError(f"--out {record} is a directory")
        known = configured_networks(config_path)
        if base not in known:
            print(f"network {name!r} has no section in the deploy configuration: using its defaults:")
        else:
            print(f"parameters for {name} (defaults + the {base!r} section):")
        for line in params.lines(comps):
            print(f"  {line}")
        d = deploy_components(
            project,
            deployer_account(),
            params,
            comps,
            record=record,
            provider=networks.provider,
            redeploy=redeploy,
            live=name != "local" and not name.endswith("-fork"),
        )
    except EigenError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if d.differences:
        print(
            f"warning: the deployment recorded in {record} was made with other parameters; reusing it "
            "(pass --redeploy to deploy anew):",
            file=sys.stderr,
        )
        for line in d.differences:
            print(f"  {line}", file=sys.stderr)
    for line in d.notes:
        print(f"note: {line}", file=sys.stderr)
    parts = [
        f"deployed {', '.join(d.deployed)}" if d.deployed else "",
        f"reused {', '.join(d.reused)}" if d.reused else "",
    ]
    print(f"{'; '.join(p for p in parts if p)} on {name} (chain id {chain.chain_id}); addresses in {record}")
    print(json.dumps(d.addresses(), indent=2))


def _components(value):
    """--components checked before ape connects to the network (a typo costs no anvil start)."""
    from offchain.chain.components import parse_components
    from offchain.errors import EigenError

    try:
        return parse_components(value)
    except EigenError as exc:
        raise click.BadParameter(str(exc)) from None


def deployer_account():
    from ape import accounts, networks

    from offchain import settings
    from offchain.errors import ChainError

    alias = settings.deployer_alias()
    if alias:
        acct = accounts.load(alias)
        acct.set_autosign(True)
        return acct
    name = networks.provider.network.name
    if name != "local" and not name.endswith("-fork"):
        raise ChainError("set EIGEN_DEPLOYER to a keystore alias to deploy to a live network")
    return accounts.test_accounts[0]


def record_path(network: str, chain_id: int) -> Path:
    from offchain.chain.deploy import ROOT

    folder = ROOT / (".deploy" if network == "local" else "deployments")
    return folder / f"{chain_id}.json"
