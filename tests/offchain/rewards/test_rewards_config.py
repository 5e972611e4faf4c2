"""The rewards section of config/deploy.yaml: defaults (EigenLayer mainnet's constants, the
auction's descent), network overrides, and every bad value a DeployConfigError naming its key."""

from __future__ import annotations

import pytest

from offchain.chain.deploy import RewardsConfig, load_config, load_rewards_config, wad_pow
from offchain.chain.errors import DeployConfigError

WAD = 10**18


def test_defaults_and_the_local_network():
    default = RewardsConfig()
    assert (default.calculation_interval_seconds, default.max_rewards_duration) == (86_400, 6_048_000)
    assert (default.max_retroactive_length, default.max_future_length) == (14_515_200, 2_592_000)
    assert default.genesis_rewards_timestamp == 1_710_979_200 and default.default_split_bips == 1_000
    assert load_rewards_config("mainnet") == default
    local = load_rewards_config("local")
    assert local.activation_delay_s == 60 and local.auction_period_s == 600
    load_config("local")  # the core's loader skips the rewards section


def test_wad_pow_rounds_as_the_contract():
    assert wad_pow(WAD // 2, 3) == WAD // 8
    assert wad_pow(995 * 10**15, 0) == WAD
    assert 236 * 10**15 < wad_pow(995 * 10**15, 288) < 237 * 10**15  # a day of 5-minute steps


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(calculation_interval_seconds=0), "calculation_interval_seconds"),
        (dict(genesis_rewards_timestamp=1_710_979_201), "divide"),
        (dict(max_rewards_duration=86_401), "divide"),
        (dict(default_split_bips=10_001), "default_split_bips"),
        (dict(activation_delay_s=-1), "activation_delay_s"),
        (dict(auction_step_s=7), "divide auction_period_s"),
        (dict(auction_decay_wad=WAD), "auction_decay_wad"),
        (dict(auction_start_factor_wad=WAD), "auction_start_factor_wad"),
        (dict(auction_decay_wad=999 * 10**15), "restarts lower"),
        (dict(auction_initial_reference_price=0), "auction_initial_reference_price"),
        (dict(auction_discovery_decay_wad=996 * 10**15), "auction_discovery_decay_wad"),
        (dict(auction_discovery_decay_wad=0), "auction_discovery_decay_wad"),
        (dict(rewards_updater="0x12"), "rewards_updater"),
        (dict(governance="0x" + "00" * 20), "governance"),
    ],
)
def test_bad_values(change, match):
    with pytest.raises(DeployConfigError, match=match):
        RewardsConfig(**change)


def test_unknown_keys_are_refused(tmp_path):
    p = tmp_path / "deploy.yaml"
    p.write_text(
        "default:\n  withdrawal_delay_blocks: 1\n  deallocation_delay_blocks: 1\n"
        "  allocation_configuration_delay_blocks: 1\n  slash_resolution_delay_blocks: 1\n"
        "  rewards:\n    bogus: 1\n"
    )
    with pytest.raises(DeployConfigError, match="bogus"):
        load_rewards_config("local", p)
    p.write_text("default:\n  rewards: [1]\n")
    with pytest.raises(DeployConfigError, match="must be a mapping"):
        load_rewards_config("local", p)
