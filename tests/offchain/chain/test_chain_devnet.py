"""The devnet (`make devnet`) and `ape run deploy` as docs/deploy.md documents them, run as
subprocesses: a devnet in a temporary folder is started, found running, stopped, restarted from its
state (on another port when its own is taken) and stopped again, leaving no process behind."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from offchain.abi import WAD
from offchain.chain import devnet, sdk
from offchain.settings import ROOT

APE = str(Path(sys.executable).with_name("ape"))


def _anvils_of(folder: Path) -> list[int]:
    state = str((folder / devnet.STATE_FILE).resolve()).encode()
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if state in (p / "cmdline").read_bytes().split(b"\0"):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def _config(tmp_path: Path, networks: dict) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "deploy.yaml").read_text())
    p = tmp_path / "deploy.yaml"
    p.write_text(yaml.safe_dump({"default": raw["default"], "networks": networks}))
    return p


def _deploy(env_extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore", **env_extra}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [APE, "run", "deploy", "-v", "WARNING", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_documented_deploy_command_without_anvil_on_path(tmp_path):
    """`.venv/bin/ape run deploy` with nothing of the project on PATH (as on a fresh clone) and a
    configuration naming no section for `local`: every component, and the defaults printed."""
    out = tmp_path / "rec.json"
    r = _deploy({"EIGEN_DEPLOY_CONFIG": str(_config(tmp_path, {}))}, "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "network 'local' has no section in the deploy configuration: using its defaults" in r.stdout
    assert "core.withdrawal_delay_blocks = 100800" in r.stdout
    assert "inference_disputes.challenge_window_s = 3600" in r.stdout
    assert "deployed core, token, compute-avs, inference-disputes, task-mailbox on local" in r.stdout
    rec = json.loads(out.read_text())
    assert {"allocation_manager", "eigen", "compute_avs", "inference_disputes", "parameters"} <= set(rec)


def test_deploy_prints_and_records_the_configured_avs_and_da_parameters(tmp_path):
    """`ape run deploy --components compute-avs,inference-disputes,da` on the local network, in one run:
    the configured AVS parameters and the da section printed before deploying and recorded (the
    default section's values for the rest), the record's da section, the note that no fee vault is
    named. (Bad values, and a WETH with no code, are refused before anything is deployed:
    test_chain_components.py and test_da_deploy.py, in-process; a refusal's one line on the command
    line: test_deploy_refuses_unknown_components_in_one_line.)"""
    out = tmp_path / "rec.json"
    nets = {
        "local": {
            "inference_disputes": {"challenge_window_s": 77},
            "compute_avs": {"enrolment_ttl_s": 99},
            "da": {"weth": "deploy"},
        }
    }
    args = ("--components", "compute-avs,inference-disputes,da", "--out", str(out))
    r = _deploy({"EIGEN_DEPLOY_CONFIG": str(_config(tmp_path, nets))}, *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "inference_disputes.challenge_window_s = 77" in r.stdout
    assert "compute_avs.enrolment_ttl_s = 99" in r.stdout
    assert "inference_disputes.resolution_window_s = 3600" in r.stdout  # the default section's
    assert (
        "da.price_wei_per_symbol = 447000000" in r.stdout and "da.confirmation_threshold_pct = 55" in r.stdout
    )
    assert "note: da: the PaymentVault names no fee vault" in r.stderr
    assert "deployed core, compute-avs, inference-disputes, da on local" in r.stdout
    rec = json.loads(out.read_text())
    params = rec["parameters"]
    assert (
        params["inference_disputes"]["challenge_window_s"] == 77
        and params["compute_avs"]["enrolment_ttl_s"] == 99
    )
    assert set(rec["da"]) == set(
        "bls_registry payment_vault cert_verifier weth avs operator_set_id grpc".split()
    )
    assert rec["da"]["grpc"] == {"host": "127.0.0.1", "disperser_port": 9201, "node_port": 9101}
    assert params["da"]["min_num_symbols"] == 4096


def test_deploy_refuses_unknown_components_in_one_line(tmp_path):
    r = _deploy({}, "--components", "core,bogus", "--out", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "unknown components ['bogus']" in r.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    folder = tmp_path_factory.mktemp("devnet")
    logs: list[str] = []
    info = devnet.up(folder, log=logs.append)
    yield folder, info, logs
    devnet.down(folder, log=lambda s: None)
    assert _anvils_of(folder) == []


def test_devnet_is_deployed_and_seeded(net):
    folder, info, logs = net
    assert info["chain_id"] == devnet.CHAIN_ID and info["port"] != 8545
    saved = json.loads((folder / sdk.DEVNET_FILE).read_text())
    assert saved["addresses"] == info["addresses"] and saved["seeded"]["set"] == 1
    d = sdk.Deployment.load("devnet", devnet_dir=folder)
    d.check_live()
    st = sdk.operator_status(d, d.resolve("operator-1"), d.resolve("avs"), [1])
    assert st["is_operator"] and st["strategies"]["stETH"]["delegated_shares"] == 100 * WAD
    assert st["sets"]["1"]["registered"] and st["sets"]["1"]["allocations"]["rETH"]["magnitude"] == WAD // 2
    for key in ("compute_avs", "inference_disputes", "eigen"):
        assert d.w3.eth.get_code(d.address(key))


def test_up_again_changes_nothing(net):
    folder, info, _ = net
    logs: list[str] = []
    again = devnet.up(folder, log=logs.append)
    assert again["addresses"] == info["addresses"] and again["port"] == info["port"]
    assert logs == [f"devnet already running (pid {devnet.running(folder)}) at {info['rpc_url']}"]
    assert len(_anvils_of(folder)) == 1


def test_redeploy_with_other_parameters_warns(net, tmp_path):
    """`ape run deploy` onto the running devnet with another configuration reuses it and says how
    the parameters differ, instead of reusing it silently."""
    folder, info, _ = net
    cfg = _config(
        tmp_path,
        {
            "local": {
                **yaml.safe_load((ROOT / "config" / "deploy.yaml").read_text())["networks"]["local"],
                "withdrawal_delay_blocks": 30,
            }
        },
    )
    r = _deploy(
        {"APE_FOUNDRY_HOST": info["rpc_url"], "EIGEN_DEPLOY_CONFIG": str(cfg)},
        "--out",
        str(folder / "deployment.json"),
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "reused core, token, compute-avs, inference-disputes" in r.stdout
    assert "warning: the deployment recorded in" in r.stderr
    assert "core.withdrawal_delay_blocks: 20 -> 30" in r.stderr


def test_stop_leaves_no_process_and_restart_keeps_the_chain(net):
    folder, info, _ = net
    # anvil's old block states go to the devnet's folder, never ~/.foundry/anvil/tmp (left behind on a kill)
    (pid,) = _anvils_of(folder)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    states = folder / devnet.STATES_DIR
    assert argv[argv.index(b"--cache-path") + 1] == str(states.resolve()).encode()
    states.mkdir(exist_ok=True)
    assert devnet.down(folder, log=lambda s: None) is True
    assert _anvils_of(folder) == [] and devnet.running(folder) is None
    assert not states.exists()
    assert devnet.down(folder, log=lambda s: None) is False  # idempotent
    with pytest.raises(Exception, match="no node answers"):
        sdk.Deployment.load("devnet", devnet_dir=folder).check_live()
    # another run took the devnet's port meanwhile: the devnet moves, the other run is untouched
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", info["port"]))
        other.listen()
        logs: list[str] = []
        again = devnet.up(folder, log=logs.append)
    assert again["port"] != info["port"] and again["addresses"] == info["addresses"]
    assert "restarted with the deployment kept in its state" in logs
    d = sdk.Deployment.load("devnet", devnet_dir=folder)
    assert (
        sdk.operator_status(d, d.resolve("operator-2"))["strategies"]["rETH"]["delegated_shares"] == 200 * WAD
    )


def test_down_never_stops_another_process(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / devnet.PID_FILE).write_text(f"{other.pid}\n")
        assert devnet.down(tmp_path, log=lambda s: None) is False
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_put_anvil_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    devnet.put_anvil_on_path()
    parts = os.environ["PATH"].split(os.pathsep)
    assert str(Path(sys.executable).parent) in parts
    if devnet.anvil_dir() is not None:
        assert str(devnet.anvil_dir()) in parts
