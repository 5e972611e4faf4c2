"""`ape run deploy [--network ecosystem:network:provider]`: deploy the restaking core.

Parameters come from config/deploy.yaml (defaults = mainnet-sized delays, overridden per network
name). Addresses are written to deployments/<chain id>.json (for local networks, to
.deploy/<chain id>.json, which git ignores); running it again on a chain with a live recorded
deployment reuses it instead of deploying twice.

Accounts: on local networks the first test account deploys. Elsewhere set EIGEN_DEPLOYER to the
alias of an ape keystore account and APE_ACCOUNTS_<alias>_PASSPHRASE to its passphrase: nothing
prompts (see docs/deploy.md). EIGEN_DEPLOY_CONFIG points at another configuration file.
"""

import json
from pathlib import Path

from ape import accounts, chain, networks, project

from offchain import settings
from offchain.chain.deploy import ROOT, deploy_core, load_config
from offchain.errors import ChainError


def deployer_account():
    alias = settings.deployer_alias()
    if alias:
        acct = accounts.load(alias)
        acct.set_autosign(True)
        return acct
    if networks.provider.network.name not in ("local",) and not networks.provider.network.name.endswith(
        "-fork"
    ):
        raise ChainError("set EIGEN_DEPLOYER to a keystore alias to deploy to a live network")
    return accounts.test_accounts[0]


def record_path() -> Path:
    local = networks.provider.network.name == "local"
    folder = ROOT / (".deploy" if local else "deployments")
    return folder / f"{chain.chain_id}.json"


def main():
    network = networks.provider.network.name
    config = load_config(network.removesuffix("-fork"), settings.deploy_config_path())
    record = record_path()
    d = deploy_core(project, deployer_account(), config, record=record, provider=networks.provider)
    verb = "reused" if d.reused else "deployed"
    print(f"{verb} restaking core on {network} (chain id {chain.chain_id}); addresses in {record}")
    print(json.dumps(d.addresses(), indent=2))
