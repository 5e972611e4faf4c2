"""A persistent local chain with every component deployed and seeded (``make devnet``).

``up`` starts the project's anvil (``.tools/``) on a free port (never a fixed one such as 8545), with
its state kept in the devnet folder (``.devnet/`` by default: ``state.json`` is written every few
seconds and on stop, and loaded on the next start), deploys every component with ``ape run deploy``
and seeds it through the SDK: two operators with delegated stake, an AVS with operator set 1 that
both joined and allocated to. The addresses, the RPC URL and the named accounts (anvil's public
test keys) are written to ``devnet.json`` in the folder, where ``Deployment.load("devnet")`` finds
them. ``up`` on a running devnet changes nothing; after ``down`` it restarts the same chain (same
port when it is free) without deploying again. ``down`` stops only the anvil this folder started
(its pid file and command line must both match).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from offchain.abi import WAD
from offchain.chain import sdk
from offchain.chain.deploy import ROOT
from offchain.chain.errors import DevnetError

CHAIN_ID = 31338  # not anvil's default 31337, so the devnet's records never mix with ape's test chains
MNEMONIC = "test test test test test test test test test test test junk"  # anvil's and ape's test mnemonic
ACCOUNT_NAMES = (
    "deployer",
    "avs",
    "operator-1",
    "operator-2",
    "staker-1",
    "staker-2",
    "recipient",
    "resolver",
)
BLOCK_TIME_S = 1
SEED_SET = 1
STATE_FILE, PID_FILE, LOG_FILE = "state.json", "anvil.pid", "anvil.log"
STATES_DIR = "anvil-states"  # anvil's --cache-path: old block states, emptied when the devnet stops


def anvil_dir() -> Path | None:
    """The folder holding the project's anvil (installed by tools/bootstrap.sh), if present."""
    for d in (
        ROOT / ".tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin",
        ROOT / ".tools" / "node_modules" / ".bin",
    ):
        if (d / "anvil").exists():
            return d
    return None


def put_anvil_on_path() -> None:
    """Put the project's anvil (for ape's foundry provider) and this interpreter's bin folder (the
    venv's ``vyper`` for ape's compiler) first on PATH, so ``.venv/bin/ape`` works unactivated."""
    have = os.environ.get("PATH", "").split(os.pathsep)
    for d in (anvil_dir(), Path(sys.executable).parent):
        if d is not None and str(d) not in have:
            have.insert(0, str(d))
    os.environ["PATH"] = os.pathsep.join(have)


def accounts() -> dict[str, dict[str, str]]:
    """The devnet's named accounts: anvil's first test accounts (public keys, devnet only)."""
    Account.enable_unaudited_hdwallet_features()
    out = {}
    for i, name in enumerate(ACCOUNT_NAMES):
        a = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        out[name] = {"address": a.address, "key": "0x" + bytes(a.key).hex()}
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether nothing listens on `port` (connections of a stopped run in TIME_WAIT do not count,
    as anvil, like most servers, binds with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pid(folder: Path) -> int | None:
    try:
        return int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_anvil(pid: int, folder: Path) -> bool:
    """Whether process `pid` is an anvil keeping its state in `folder` (so never another one)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = str((folder / STATE_FILE).resolve()).encode()
    return bool(argv) and argv[0].endswith(b"/anvil") and state in argv


def _info(folder: Path) -> dict[str, Any]:
    p = folder / sdk.DEVNET_FILE
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except (OSError, ValueError) as exc:
        raise DevnetError(f"{p} is unreadable: {exc}") from exc


def running(folder: Path) -> int | None:
    """The pid of the devnet's anvil when it runs, else None."""
    pid = _pid(folder)
    return pid if pid is not None and _is_our_anvil(pid, folder) else None


def _wait_rpc(url: str, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            break
        try:
            sdk._connect(url)
            return
        except DevnetError:
            time.sleep(0.1)
    raise DevnetError(f"anvil did not answer at {url} (see its log)")


def _start_anvil(folder: Path, port: int) -> int:
    d = anvil_dir()
    if d is None:
        raise DevnetError("anvil is not installed in .tools/: run tools/bootstrap.sh (or make bootstrap)")
    state = (folder / STATE_FILE).resolve()
    argv = [
        str(d / "anvil"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(CHAIN_ID),
        "--mnemonic",
        MNEMONIC,
        "--accounts",
        str(len(ACCOUNT_NAMES)),
        "--state",
        str(state),
        "--state-interval",
        "2",
        "--cache-path",
        str((folder / STATES_DIR).resolve()),
    ]
    with open(folder / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=folder,
        )
    (folder / PID_FILE).write_text(f"{proc.pid}\n")
    try:
        _wait_rpc(f"http://127.0.0.1:{port}", proc.pid)
    except DevnetError:
        _stop(proc.pid)
        (folder / PID_FILE).unlink(missing_ok=True)
        raise
    return proc.pid


def _stop(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)  # anvil writes its state on SIGTERM
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
            if done:
                return
        except ChildProcessError:  # started by another process: wait for it to vanish
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _deploy(folder: Path, url: str, log: Any) -> dict[str, Any]:
    """Deploy every component with `ape run deploy` (the documented path) onto the devnet's anvil."""
    record = folder / "deployment.json"
    env = {**os.environ, "APE_FOUNDRY_HOST": url, "PYTHONWARNINGS": "ignore"}
    ape = Path(sys.executable).with_name("ape")
    cmd = [str(ape), "run", "deploy", "--components", "all", "--out", str(record.resolve())]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    log(r.stdout.rstrip())
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:]
        raise DevnetError(f"`ape run deploy` failed ({r.returncode}): {last[0] if last else 'no output'}")
    return json.loads(record.read_text())


def seed(d: sdk.Deployment) -> dict[str, Any]:
    """Operators, stake and a set: operator-1 and operator-2 register (allocation delay 1 block);
    staker-1 deposits 100 stETH and 50 rETH and delegates to operator-1, staker-2 200 rETH to
    operator-2; the AVS creates burning set 1 over stETH and rETH, which both operators join, each
    allocating half of its stake."""
    acct = {n: d.key(n) for n in ACCOUNT_NAMES}
    for op in ("operator-1", "operator-2"):
        sdk.register_operator(
            d, acct[op], allocation_delay=1, metadata_uri=f"https://{op}.devnet/metadata.json"
        )
    for staker, op, deposits in (
        ("staker-1", "operator-1", (("stETH", 100), ("rETH", 50))),
        ("staker-2", "operator-2", (("rETH", 200),)),
    ):
        for sym, amount in deposits:
            sdk.deposit(d, acct[staker], sym, amount * WAD, mint=True)
        sdk.delegate(d, acct[staker], acct[op].address)
    strategies = [d.strategy("stETH"), d.strategy("rETH")]
    sdk.create_set(d, acct["avs"], SEED_SET, strategies, metadata_uri="https://avs.devnet/metadata.json")
    avs = acct["avs"].address
    for op in ("operator-1", "operator-2"):
        sdk.register_operator(d, acct[op], avs=avs, set_ids=[SEED_SET])
        sdk.allocate(d, acct[op], avs, SEED_SET, WAD // 2)
    return {
        "avs": avs,
        "set": SEED_SET,
        "operators": ["operator-1", "operator-2"],
        "strategies": ["stETH", "rETH"],
    }


def up(folder: Path | str | None = None, log: Any = print) -> dict[str, Any]:
    """Start (or restart, or find running) the devnet in `folder`; returns its devnet.json content."""
    folder = Path(folder) if folder is not None else sdk.DEVNET_DIR
    if folder.exists() and not folder.is_dir():
        raise DevnetError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    info = _info(folder)
    pid = running(folder)
    if pid is not None and info.get("seeded"):
        log(f"devnet already running (pid {pid}) at {info['rpc_url']}")
        return info
    if not info.get("seeded"):
        # Never completed (or never started): begin again from an empty chain.
        if pid is not None:
            _stop(pid)
            pid = None
        (folder / STATE_FILE).unlink(missing_ok=True)
        info = {k: v for k, v in info.items() if k == "port"}
    if pid is None:
        port = info.get("port")
        if not isinstance(port, int) or not port_free(port):
            port = free_port()
        pid = _start_anvil(folder, port)
        log(f"anvil started (pid {pid}) at http://127.0.0.1:{port}, state in {folder / STATE_FILE}")
    else:
        port = info["port"]
    url = f"http://127.0.0.1:{port}"
    info.update(rpc_url=url, port=port, chain_id=CHAIN_ID, accounts=accounts())
    if info.get("seeded"):
        d = sdk.Deployment(CHAIN_ID, url, info["addresses"], info["accounts"], folder / sdk.DEVNET_FILE)
        try:
            d.check_live()
            _interval_mining(d)
            _write(folder, info)
            log("restarted with the deployment kept in its state")
            return info
        except DevnetError:
            log("the saved state holds no deployment: deploying again")
            info.pop("seeded")
    record = _deploy(folder, url, log)
    info["addresses"] = {k: v for k, v in record.items() if k != "parameters"}
    info.pop("seeded", None)
    _write(folder, info)
    d = sdk.Deployment(CHAIN_ID, url, info["addresses"], info["accounts"], folder / sdk.DEVNET_FILE)
    info["seeded"] = seed(d)
    _interval_mining(d)
    _write(folder, info)
    log(f"deployed and seeded; addresses in {folder / sdk.DEVNET_FILE}")
    return info


def _interval_mining(d: sdk.Deployment) -> None:
    """A block every BLOCK_TIME_S seconds from now on, as on a real chain (delays measured in blocks
    pass by themselves); deployment and seeding ran on automine, where ape's receipts are prompt."""
    d.w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S])


def _write(folder: Path, info: dict[str, Any]) -> None:
    tmp = folder / (sdk.DEVNET_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(folder / sdk.DEVNET_FILE)


def down(folder: Path | str | None = None, log: Any = print) -> bool:
    """Stop the devnet's anvil (its state is saved); True if one was running."""
    folder = Path(folder) if folder is not None else sdk.DEVNET_DIR
    pid = running(folder)
    if pid is None:
        (folder / PID_FILE).unlink(missing_ok=True)
        log("no devnet running" + (f" in {folder}" if folder.exists() else ""))
        return False
    _stop(pid)
    (folder / PID_FILE).unlink(missing_ok=True)
    # past blocks' states (anvil's --cache-path): the saved state does not need them
    shutil.rmtree(folder / STATES_DIR, ignore_errors=True)
    log(f"devnet stopped (pid {pid}); its state stays in {folder / STATE_FILE}")
    return True


def status(folder: Path | str | None = None) -> dict[str, Any]:
    folder = Path(folder) if folder is not None else sdk.DEVNET_DIR
    info = _info(folder)
    pid = running(folder)
    return {
        "running": pid is not None,
        "pid": pid,
        "rpc_url": info.get("rpc_url"),
        "folder": str(folder),
        "addresses": info.get("addresses"),
    }
