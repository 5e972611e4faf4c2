"""``eigen da devnet up|down|status``: a DA network on loopback as real processes (docs/da-network.md, *Devnet*).

``up`` writes, in its folder, one BLS key and configuration per validator, the disperser's key and
configuration, the relay's, the network description (operators, equal stakes in quorums 0 and 1, URLs, BLS
public keys) and a client configuration for ``eigen da get``; picks free loopback ports; starts
``eigen da node`` N times, ``eigen da disperser`` and ``eigen da relay`` as detached processes (logs in
``logs/``); waits until each has printed its listening line; and writes ``devnet.json`` (every process's pid,
URL and configuration). Keys are made once and kept, so a devnet brought up again has the same operator ids.
``up`` on a devnet whose processes all run changes nothing; one with some processes gone is stopped and
started again. ``down`` stops each recorded process (SIGTERM, then SIGKILL after a grace period), only when it
is still the process the devnet started (its command line names the devnet's configuration), and removes
``devnet.json``; with nothing running it does nothing. ``status`` says which processes run and answer.

Payments: with ``payments`` = {rpc, vault} the disperser meters against that PaymentVault; otherwise it
accepts every payment header (its log says so).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from eth_keys import keys as eth_keys
from eth_keys.exceptions import ValidationError

from offchain.bls.keys import SecretKey
from offchain.da.errors import DevnetProcessError
from offchain.da.network import devchain
from offchain.settings import ROOT

STATE_FILE = "devnet.json"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0
QUORUMS = (0, 1)
REFERENCE_BLOCK_OFFSET = (
    1  # the disperser's reference block: the head's parent (a devnet chain is not reorganised)
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _key_file(path: Path, make: Any) -> bytes:
    """A 32-byte secret kept in ``path`` (mode 0600), made once."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    raw = make()
    path.write_text(raw.hex())
    path.chmod(0o600)
    return raw


def _bls_secret() -> bytes:
    return SecretKey.generate().to_bytes()


def _ecdsa_secret() -> bytes:
    while True:  # below secp256k1's order (eth_keys refuses the rest)
        raw = secrets.token_bytes(32)
        try:
            eth_keys.PrivateKey(raw)
            return raw
        except ValidationError:
            continue


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def is_ours(proc: dict[str, Any]) -> bool:
    """Whether the recorded process still runs and is the one the devnet started (its command line holds
    its configuration file), so a recycled pid is never signalled."""
    return str(proc["config"]).encode() in _cmdline(int(proc["pid"]))


def read_state(folder: Path) -> dict[str, Any] | None:
    p = folder / STATE_FILE
    if not p.exists():
        return None
    try:
        state = json.loads(p.read_text())
        _ = [(q["pid"], q["config"], q["url"]) for q in processes(state)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevnetProcessError(f"{p} is unreadable: {exc}") from exc
    return state


def processes(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [*state["validators"], state["disperser"], state["relay"]]


def status(folder: Path | str) -> dict[str, Any]:
    """Each recorded process: whether it runs and whether it answers HTTP; ``running`` when all do."""
    folder = Path(folder).resolve()
    state = read_state(folder)
    if state is None:
        return {"running": False, "folder": str(folder), "processes": []}
    out = []
    for p in processes(state):
        alive = is_ours(p)
        answers = False
        if alive:
            try:
                answers = httpx.get(f"{p['url']}/metrics", timeout=5).status_code == 200
            except httpx.HTTPError:
                answers = False
        out.append({"name": p["name"], "pid": p["pid"], "url": p["url"], "alive": alive, "answers": answers})
    return {
        "running": all(p["alive"] and p["answers"] for p in out),
        "folder": str(folder),
        "disperser": state["disperser"]["url"],
        "relay": state["relay"]["url"],
        "disperser_grpc": state["disperser"].get("grpc_url"),
        "relay_grpc": state["relay"].get("grpc_url"),
        "client_config": state["client_config"],
        "chain": state.get("chain"),
        "processes": out,
    }


def _stop(proc: dict[str, Any], timeout_s: float = STOP_TIMEOUT_S) -> None:
    if not is_ours(proc):
        return
    pid = int(proc["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:  # our child (a test's up in process): reap it
                return
        except ChildProcessError:
            pass
        if not is_ours(proc):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def down(folder: Path | str) -> bool:
    """Stop the devnet's processes; False when none was recorded."""
    folder = Path(folder).resolve()
    state = read_state(folder)
    if state is None:
        return False
    for p in reversed(processes(state)):  # the relay and the disperser first, then the validators
        _stop(p)
    (folder / STATE_FILE).unlink()
    return True


def _spawn(folder: Path, name: str, role: str, config: Path) -> subprocess.Popen:
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.log", "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "offchain.cli", "da", role, "--config", str(config)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=folder, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        )  # fmt: skip


def _wait_listening(folder: Path, name: str, proc: subprocess.Popen, deadline: float) -> dict[str, str]:
    """The process's listening line's URLs: ``url`` (HTTP) and ``grpc_url`` when it serves gRPC."""
    out = folder / "logs" / f"{name}.out"
    while True:
        line = out.read_text().split("\n", 1)[0] if out.exists() else ""
        if line.endswith("}"):
            info = json.loads(line)
            return {k: info[k] for k in ("url", "grpc_url") if k in info}
        if proc.poll() is not None:
            tail = (folder / "logs" / f"{name}.log").read_text()[-1500:]
            raise DevnetProcessError(f"{name} exited with {proc.returncode} before listening: {tail}")
        if time.monotonic() > deadline:
            raise DevnetProcessError(f"{name} did not listen within {START_TIMEOUT_S:g} s")
        time.sleep(0.1)


def srs_spec(srs_dir: str | None, test_symbols: int | None) -> dict[str, Any]:
    if srs_dir:
        return {"dir": str(Path(srs_dir).resolve())}
    if test_symbols:
        return {"insecure_test_symbols": test_symbols}
    raise DevnetProcessError(
        "an SRS is needed: --srs DIR (EigenDA's SRS files, or EIGEN_DA_SRS), or --test-srs SYMBOLS (insecure, tests)"
    )


def keys(folder: Path, validators: int) -> tuple[list[SecretKey], list[bytes], bytes, bytes]:
    """The devnet's keys in ``folder/keys`` (made once, kept): each validator's BLS key and its operator
    account's secp256k1 key, the disperser's and the payer's secp256k1 keys."""
    d = folder / "keys"
    d.mkdir(parents=True, exist_ok=True)
    bls = [SecretKey.from_bytes(_key_file(d / f"v{i}.bls", _bls_secret)) for i in range(validators)]
    eth = [_key_file(d / f"v{i}.eth", _ecdsa_secret) for i in range(validators)]
    return bls, eth, _key_file(d / "disperser.key", _ecdsa_secret), _key_file(d / "payer.key", _ecdsa_secret)


def configure(
    folder: Path | str, validators: int = 4, *, srs: dict[str, Any], validator_ports: list[int], disperser_port: int,
    relay_port: int, validator_url: str = "http://127.0.0.1:{port}", relay_url: str = "http://127.0.0.1:{port}",
    host: str = "127.0.0.1", data_dir: str = "data", payments: dict[str, Any] | None = None, log_level: str = "info",
    chain: dict[str, Any] | None = None, disperser_options: dict[str, Any] | None = None,
    grpc_ports: list[int] | None = None,
) -> list[tuple[str, str, Path]]:  # fmt: skip
    """Write a network's keys (made once, kept) and configurations into ``folder``: ``network.json``, ``vI.json``,
    ``disperser.json``, ``relay.json``, ``client.json``; paths inside are relative to the folder (keys, the
    network file) or to ``data_dir`` (stores, the metadata database), so the folder can be mounted anywhere.
    ``validator_url`` / ``relay_url`` are how the others reach them (``{i}`` the validator's index, ``{port}``
    its port). ``grpc_ports`` (one per validator, then the disperser's and the relay's, loopback only): each
    process serves gRPC there too, the network file gives each validator's ``retrieval_url`` and the client
    configuration the relay's gRPC URL. Returns (name, role, config file) per process."""
    if grpc_ports is not None and (len(grpc_ports) != validators + 2 or host != "127.0.0.1"):
        raise DevnetProcessError(
            f"grpc ports: one per validator and two more, on 127.0.0.1; got {grpc_ports}"
        )
    g = dict(enumerate(grpc_ports or []))
    if not 1 <= validators <= 64:
        raise DevnetProcessError(f"--validators {validators}: between 1 and 64")
    if len(validator_ports) != validators:
        raise DevnetProcessError(f"{len(validator_ports)} validator ports for {validators} validators")
    folder = Path(folder).resolve()
    bls, _, disperser_key, _ = keys(folder, validators)
    ops = []
    for i, k in enumerate(bls):
        pk = k.public_key()
        ops.append({
            "operator_id": pk.operator_id.hex(), "stakes": {} if chain else {str(q): 1 for q in QUORUMS},
            "url": validator_url.format(i=i, port=validator_ports[i]), "bls_public_key": pk.to_json(),
            **({"dispersal_url": f"grpc://127.0.0.1:{g[i]}", "retrieval_url": f"grpc://127.0.0.1:{g[i]}"} if g else {}),
        })  # fmt: skip
    address = eth_keys.PrivateKey(disperser_key).public_key.to_checksum_address()
    (folder / "network.json").write_text(
        json.dumps({"operators": ops, "dispersers": {"0": address}}, indent=1)
    )
    common: dict[str, Any] = {"host": host, "srs": srs, "network": "network.json", "log_level": log_level}
    operators = None
    if chain:  # the stakes and keys from the devnet's BLSRegistry, payments metered against its PaymentVault
        payments = {"rpc": chain["rpc_url"], "vault": chain["payment_vault"]}
        operators = {"rpc": chain["rpc_url"], "registry": chain["registry"], "quorums": chain["quorums"]}
    if host not in ("127.0.0.1", "::1", "localhost"):
        common["public"] = True
    data = data_dir.rstrip("/")
    configs: list[tuple[str, str, Path]] = []
    for i in range(validators):
        cfg = folder / f"v{i}.json"
        cfg.write_text(json.dumps({
            **common, "port": validator_ports[i], "bls_key_file": f"keys/v{i}.bls", "store_dir": f"{data}/v{i}",
            **({"grpc_port": g[i]} if g else {}),
            **({"payments": payments, "operators": operators} if chain else {}),
        }, indent=1))  # fmt: skip
        configs.append((f"v{i}", "node", cfg))
    disperser = {**common, "port": disperser_port, "key_file": "keys/disperser.key", "metadata": f"{data}/meta.db",
                 "reference_block_number": 1, **({"grpc_port": g[validators]} if g else {})}  # fmt: skip
    if payments:
        disperser["payments"] = payments
    if chain:  # anchor signatures name the devnet's chain (EigenDA's DisperseBlobRequest.anchor_signature)
        disperser["chain_id"] = chain["chain_id"]
    disperser.update(disperser_options or {})  # e.g. batch_size, batches_in_flight (the bench's)
    if operators:
        disperser["operators"] = {**operators, "reference_block_offset": REFERENCE_BLOCK_OFFSET}
    (folder / "disperser.json").write_text(json.dumps(disperser, indent=1))
    configs.append(("disperser", "disperser", folder / "disperser.json"))
    (folder / "relay.json").write_text(json.dumps({
        **common, "port": relay_port, "store_dir": f"{data}/relay", "disperser_metadata": f"{data}/meta.db",
        **({"grpc_port": g[validators + 1]} if g else {}),
    }, indent=1))  # fmt: skip
    configs.append(("relay", "relay", folder / "relay.json"))
    client: dict[str, Any] = {
        "network": "network.json",
        "srs": srs,
        "relays": {"0": f"grpc://127.0.0.1:{g[validators + 1]}" if g else relay_url.format(port=relay_port)},
    }
    if chain:
        client["operators"] = operators
        client["cert_verifier"] = {"rpc": chain["rpc_url"], "address": chain["cert_verifier"]}
    (folder / "client.json").write_text(json.dumps(client, indent=1))
    return configs


def _recorded_grpc_ports(grpc: dict[str, Any], validators: int) -> list[int]:
    """The gRPC ports of a record's ``da.grpc`` (validator i at ``node_port + i``, the disperser's, a free one
    for the relay), each checked free on loopback now."""
    if grpc["host"] not in ("127.0.0.1", "localhost"):
        raise DevnetProcessError(
            f"the record's da.grpc.host is {grpc['host']!r}: a devnet serves on 127.0.0.1 only"
        )
    ports = [grpc["node_port"] + i for i in range(validators)] + [grpc["disperser_port"]]
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError as exc:
                raise DevnetProcessError(
                    f"the record's gRPC port {port} on 127.0.0.1 is taken: {exc}"
                ) from None
    return [*ports, free_port()]


PORT_ATTEMPTS = 3  # start attempts, each with freshly chosen ports, when a port was taken meanwhile
PORT_TAKEN = "Address already in use"


def _start(
    folder: Path, validators: int, srs: dict[str, Any], payments: dict[str, Any] | None, log_level: str,
    record: Any, disperser_options: dict[str, Any] | None, grpc_ports: list[int] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Configure the processes on free ports and start them; each one's state once it listens (all
    stopped again if one does not)."""
    ports = [free_port() for _ in range(validators + 2)]
    configs = configure(
        folder, validators, srs=srs, validator_ports=ports[:validators],
        disperser_port=ports[-2], relay_port=ports[-1], payments=payments, log_level=log_level, chain=record,
        disperser_options=disperser_options, grpc_ports=grpc_ports or [free_port() for _ in range(validators + 2)],
    )  # fmt: skip
    started: dict[str, tuple[subprocess.Popen, Path]] = {}
    procs: list[dict[str, Any]] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        for name, role, cfg in configs:
            started[name] = (_spawn(folder, name, role, cfg), cfg)
        for name, role, cfg in configs:
            proc = started[name][0]
            urls = _wait_listening(folder, name, proc, deadline)
            procs.append({"name": name, "role": role, "pid": proc.pid, **urls, "config": str(cfg)})
    except BaseException:
        for proc, _ in started.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(STOP_TIMEOUT_S)
        raise
    return procs


def up(
    folder: Path | str, validators: int = 4, *, srs_dir: str | None = None, test_srs_symbols: int | None = None,
    payments: dict[str, Any] | None = None, log_level: str = "info", chain: devchain.ChainSpec | None = None,
    disperser_options: dict[str, Any] | None = None, grpc: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Bring the devnet up (idempotent); its :func:`status`. With ``chain``, its contracts are deployed there (or
    found live) and its validators registered as operators first (:mod:`offchain.da.network.devchain`). With
    ``grpc`` (a deployment record's ``da.grpc``: {host, disperser_port, node_port}, the host loopback), the
    disperser serves gRPC at ``disperser_port`` and validator i at ``node_port + i`` (else free ports)."""
    if not 1 <= validators <= 64:
        raise DevnetProcessError(f"--validators {validators}: between 1 and 64")
    grpc_ports = _recorded_grpc_ports(grpc, validators) if grpc is not None else None
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = read_state(folder)
    if state is not None:
        same = len(state["validators"]) == validators and bool(state.get("chain")) == (chain is not None)
        if same and all(is_ours(p) for p in processes(state)):
            return status(folder)
        down(folder)  # some are gone, or another size was asked for: start again
    srs = srs_spec(srs_dir, test_srs_symbols)
    record = None
    if chain is not None:
        if payments:
            raise DevnetProcessError(
                "a devnet on a chain deploys its own PaymentVault: no --payment-vault with it"
            )
        bls, eth, disperser_key, payer = keys(folder, validators)
        address = eth_keys.PrivateKey(payer).public_key.to_checksum_address()
        disperser = eth_keys.PrivateKey(disperser_key).public_key.to_checksum_address()
        record = devchain.deploy(folder, chain, bls, eth, address, disperser)
    # the ports are free when chosen, but another process may take one before ours binds it (an outgoing
    # connection's ephemeral port, another devnet): then every process is stopped and new ports chosen
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            procs = _start(
                folder, validators, srs, payments, log_level, record, disperser_options, grpc_ports
            )
            break
        except DevnetProcessError as exc:
            if attempt == PORT_ATTEMPTS or PORT_TAKEN not in str(exc) or grpc_ports is not None:
                raise
    client = folder / "client.json"
    state = {
        "validators": procs[:-2], "disperser": procs[-2], "relay": procs[-1], "client_config": str(client),
        "payer_key": str(folder / "keys" / "payer.key"), "started_at": int(time.time()), "chain": record,
    }  # fmt: skip
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1))
    return status(folder)
