"""Rewards off-chain (docs/rewards.md): EigenLayer's two-level distribution tree (``merkle``), the
sidecar's daily split as a reference calculation (``calc``) and ``eigen rewards`` (``cli``)."""
