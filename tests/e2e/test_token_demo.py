"""The main job's token step (offchain.chain.demo_token.run) on the demo's own deployment, and the
deploy configuration of the token system."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest

from offchain.chain.deploy import ROOT, DeployConfigError, load_config
from tests.contracts.conftest import TEST_CONFIG, WAD


def load_demo_module():
    spec = importlib.util.spec_from_file_location("eigen_demo_script", ROOT / "scripts" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_token_step(capsys):
    from offchain.chain import demo_token

    demo = load_demo_module().Demo()  # deploys the core and, from the local config, the token system
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
