"""The main job's token step (scripts/_demo/token.py, run) on the demo's own deployment, and the
deploy configuration of the token system."""

from __future__ import annotations

from dataclasses import replace

import pytest

from offchain.abi import WAD
from offchain.chain.deploy import DeployConfigError, load_config
from scripts._demo import token as demo_token
from scripts._demo.world import Demo
from tests.contracts.conftest import TEST_CONFIG


def test_demo_token_step(capsys):
    demo = Demo()  # deploys the core and, from the local config, the token system
    assert demo.d.eigen is not None and "fork_manager" in demo.d.addresses()
    demo.run()  # the whole main job, as `make demo` runs it; the token step is part of it
    figures = demo.results[demo_token.__name__]
    out = capsys.readouterr().out
    assert "After adoption" in out and "Checks:" in out
    slashed = 1_500 * WAD  # operator A's own 500 and Carol's 1,000
    assert figures["slashed"] == slashed
    assert figures["reward"] == 10 * WAD + slashed // 10
    assert figures["erin"] == 2_000 * WAD


def test_token_config():
    c = load_config("mainnet")
    assert not c.eigen_enabled and c.beigen_extra_withdrawal_delay_blocks == 72000
    assert load_config("local").eigen_enabled


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"challenge_bond": 0}, "challenge_bond"),
        ({"eigen_initial_supply": 2**224}, "eigen_initial_supply"),
        ({"challenger_reward_bps": 10_001}, "challenger_reward_bps"),
        ({"challenge_window_blocks": -1}, "challenge_window_blocks"),
        ({"beigen_extra_withdrawal_delay_blocks": 1}, "must cover"),
        ({"eigen_governance": "alice"}, "eigen_governance"),
        ({"eigen_governance": "0x" + "zz" * 20}, "eigen_governance"),
    ],
)
def test_token_config_validation(kwargs, match):
    with pytest.raises(DeployConfigError, match=match):
        replace(TEST_CONFIG, **kwargs)
