"""`ape run demo`: the main job on a local devnet.

Starts a local chain (ape-foundry's anvil), deploys the restaking core from config/deploy.yaml,
registers an AVS with a redistributing and a burning operator set, lets stakers deposit and
delegate, has operators allocate, slashes one operator with redistribution to a victim, releases
the escrow after the resolution window, shows a resolver cancelling a second (mistaken) slash,
and prints a before/after account of stakes and balances at each step; then the token, compute and
inference steps run on the same devnet. The code lives in scripts/_demo/ (ape lists no command for a
`_` folder): world.py (the deployment, accounts and this walk-through) and one module per step.
"""

from offchain.chain.anvil import anvil_without_step_traces, ape_without_repeated_lookups
from scripts._demo.world import Demo

# ape starts anvil after importing this module: bounded traces, and its old states in a directory removed at
# exit (not ~/.foundry/anvil/tmp, which anvil leaves behind when ape kills it).
anvil_without_step_traces()
ape_without_repeated_lookups()  # the chain id, transaction type and gas limit, asked once


def main():
    Demo().run()
