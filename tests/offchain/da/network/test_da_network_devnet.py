"""``eigen da devnet up|down|status``: a 4-validator devnet as processes, a blob put and got through it, the
relay killed (get from validators), up again after a loss (the same operators), down idempotent; bad input."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx

from tests.offchain.da.network.support import eigen, relay_holds


def run(*args: str) -> tuple[int, dict]:
    r = eigen(*args)
    assert r.stdout.count(b"\n") == 1, (r.stdout, r.stderr[-2000:])
    return r.returncode, json.loads(r.stdout)


def gone(pid: int, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split()[2]:
            return True
        time.sleep(0.1)
    return False


def test_devnet_up_put_get_down(tmp_path) -> None:
    folder = tmp_path / "dn"
    up = (
        "devnet",
        "up",
        "--dir",
        str(folder),
        "--validators",
        "4",
        "--test-srs",
        "64",
        "--log-level",
        "warning",
        "--no-chain",
    )
    try:
        rc, info = run(*up)
        assert rc == 0 and info["running"] and len(info["processes"]) == 6, info
        pids = {p["name"]: p["pid"] for p in info["processes"]}
        state = json.loads((folder / "devnet.json").read_text())
        network = json.loads((folder / "network.json").read_text())
        ids = [o["operator_id"] for o in network["operators"]]
        assert len(set(ids)) == 4 and all(o["stakes"] == {"0": 1, "1": 1} for o in network["operators"])
        rc, again = run(*up)  # idempotent: the same processes
        assert rc == 0 and {p["name"]: p["pid"] for p in again["processes"]} == pids
        # a blob through the devnet
        (tmp_path / "rec.txt").write_bytes(b"an agent's record " * 40)
        cert = tmp_path / "rec.cert"
        r = eigen("put", str(tmp_path / "rec.txt"), "--disperser", info["disperser"], "--key", state["payer_key"],
                  "--timeout", "120", "-o", str(cert))  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        key = json.loads(cert.read_text())["blob_key"]
        assert relay_holds(info["relay"], key), "the relay did not copy the certified blob within 60 s"
        r = eigen("get", str(cert), "--config", info["client_config"])
        assert r.returncode == 0 and r.stdout == b"an agent's record " * 40, r.stderr[-2000:]
        assert b'"served_by": "relay 0"' in r.stderr
        # the same over gRPC: every process serves EigenDA's service beside HTTP; client.json names the relay's
        # gRPC URL and network.json each validator's retrieval_url (grpc://)
        assert info["disperser_grpc"].startswith("grpc://") and info["relay_grpc"].startswith("grpc://")
        assert all(o["retrieval_url"].startswith("grpc://") for o in network["operators"])
        assert all(p["grpc_url"].startswith("grpc://") for p in state["validators"])
        (tmp_path / "g.txt").write_bytes(b"put over gRPC " * 40)
        r = eigen("put", str(tmp_path / "g.txt"), "--disperser", info["disperser_grpc"], "--key", state["payer_key"],
                  "--timeout", "120", "-o", str(tmp_path / "g.cert"))  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        assert relay_holds(info["relay"], json.loads((tmp_path / "g.cert").read_text())["blob_key"])
        r = eigen("get", str(tmp_path / "g.cert"), "--config", info["client_config"])
        assert r.returncode == 0 and r.stdout == b"put over gRPC " * 40, r.stderr[-2000:]
        assert b'"served_by": "relay 0"' in r.stderr
        # the disperser sent both batches' StoreChunks over gRPC (network.json's dispersal_url): no validator's
        # HTTP route saw one, and each stored both blobs
        assert all(o["dispersal_url"].startswith("grpc://") for o in network["operators"])
        for v in state["validators"]:
            assert "/v2/StoreChunks" not in httpx.get(f"{v['url']}/metrics", timeout=10).text
            assert httpx.get(f"{v['url']}/v2/GetNodeInfo", timeout=10).json()["chunks_stored"] == 2
        # an anchor signature for a chain: this devnet has none (--no-chain), so its disperser refuses it
        r = eigen("put", str(tmp_path / "g.txt"), "--disperser", info["disperser_grpc"], "--key", state["payer_key"],
                  "--chain-id", "31337", "-o", str(tmp_path / "a.cert"))  # fmt: skip
        assert (
            r.returncode == 2
            and b"gRPC INVALID_ARGUMENT" in r.stderr
            and b"no chain_id configured" in r.stderr
        )
        r = eigen(
            "put", str(tmp_path / "g.txt"), "--disperser", "grpc://127.0.0.1:9", "--key", state["payer_key"]
        )
        assert r.returncode == 2 and b"gRPC UNAVAILABLE" in r.stderr and r.stderr.count(b"\n") == 1, r.stderr
        # the relay dies: get recovers from the validators; status says not everything runs (exit 3)
        os.kill(pids["relay"], signal.SIGKILL)
        assert gone(pids["relay"])
        r = eigen("get", str(cert), "--config", info["client_config"])
        assert r.returncode == 0 and r.stdout == b"an agent's record " * 40 and b'"validators"' in r.stderr
        rc, st = run("devnet", "status", "--dir", str(folder))
        assert rc == 3 and not st["running"]
        assert [p["alive"] for p in st["processes"] if p["name"] == "relay"] == [False]
        # up again: started anew with the same keys (operator ids), the blob still there
        rc, info2 = run(*up)
        assert rc == 0 and info2["running"] and info2["processes"][0]["pid"] != pids["v0"]
        assert gone(pids["v0"]) and gone(pids["disperser"])  # the survivors were stopped first
        assert [
            o["operator_id"] for o in json.loads((folder / "network.json").read_text())["operators"]
        ] == ids
        r = eigen("get", str(cert), "--config", info2["client_config"])
        assert r.returncode == 0 and r.stdout == b"an agent's record " * 40, r.stderr[-2000:]
    finally:
        rc, down = run("devnet", "down", "--dir", str(folder))
    assert rc == 0 and down["stopped"]
    assert all(gone(p["pid"]) for p in info2["processes"])
    assert not (folder / "devnet.json").exists()
    rc, down = run("devnet", "down", "--dir", str(folder))  # nothing left: nothing to do
    assert rc == 0 and not down["stopped"]
    rc, st = run("devnet", "status", "--dir", str(folder))
    assert rc == 3 and st == {"running": False, "folder": str(folder.resolve()), "processes": []}


def test_devnet_bad_input(tmp_path, monkeypatch, capsys) -> None:
    """Each refusal is exit 2 with one line on stderr (in process, through the CLI's own main; the last one as a
    process, its exit status)."""
    from offchain.cli import main

    monkeypatch.delenv("EIGEN_DA_SRS", raising=False)
    (tmp_path / "c.json").write_text('{"rpc_url": "http://127.0.0.1:9"}')
    (tmp_path / "ok.json").write_text(  # a chain record (its chain is never reached)
        json.dumps(
            {"rpc_url": "http://127.0.0.1:9", "addresses": {}, "accounts": {"deployer": {"key": "0x01"}}}
        )
    )
    # an `ape run deploy` record without a da section
    (tmp_path / "d.json").write_text('{"allocation_manager": "0x' + "11" * 20 + '"}')
    for args, msg in [
        (("--validators", "0", "--test-srs", "64"), b"between 1 and 64"),
        ((), b"an SRS is needed"),
        (("--test-srs", "64", "--rpc", "http://127.0.0.1:8545"), b"go together"),
        (
            ("--test-srs", "64", "--payment-vault", "0x" + "11" * 20, "--rpc", "http://127.0.0.1:9"),
            b"only with --no-chain",
        ),
        (("--test-srs", "64", "--chain", str(tmp_path / "c.json"), "--no-chain"), b"one or the other"),
        (("--test-srs", "64", "--chain", str(tmp_path / "c.json")), b"not a chain record"),
        (("--test-srs", "64", "--no-chain", "--deployment", str(tmp_path / "d.json")), b"only on a chain"),
        (("--test-srs", "64", "--chain", str(tmp_path / "ok.json"), "--deployment", str(tmp_path / "d.json")),
         b"no deployment record with a da section"),
        (("--test-srs", "64", "--chain", str(tmp_path / "ok.json"), "--deployment", str(tmp_path / "no.json")),
         b"unreadable"),
    ]:  # fmt: skip
        rc = main(["da", "devnet", "up", "--dir", str(tmp_path / "dn"), *args])
        err = capsys.readouterr().err.encode()
        assert rc == 2 and msg in err and err.count(b"\n") == 1, err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "devnet.json").write_text("{")
    r = eigen("devnet", "down", "--dir", str(tmp_path / "bad"))
    assert r.returncode == 2 and b"unreadable" in r.stderr


def test_deployment_record_grpc_endpoints(tmp_path, capsys) -> None:
    """An ``ape run deploy --components da`` record's ``da.grpc``: the disperser's gRPC URL from the record alone
    (defaults for a record written before it), each bad value a typed error naming the record; a devnet over it
    refuses a non-loopback host and a taken port before starting anything; ``put`` takes one of
    ``--disperser`` and ``--deployment``."""
    import socket

    import pytest

    from offchain.cli import main
    from offchain.da.errors import DevnetProcessError, NetworkConfigError
    from offchain.da.network import devnet
    from offchain.da.network.config import deployment_disperser

    rec = tmp_path / "deployment.json"

    def record(grpc=None, **extra) -> Path:
        rec.write_text(
            json.dumps(
                {"da": {"payment_vault": "0x" + "11" * 20, **({"grpc": grpc} if grpc else {})}, **extra}
            )
        )
        return rec

    assert deployment_disperser(
        record({"host": "da.example", "disperser_port": 9500, "node_port": 9600})
    ) == ("grpc://da.example:9500")
    assert deployment_disperser(record()) == "grpc://127.0.0.1:9201"  # a record without da.grpc: the defaults
    assert deployment_disperser(record({"host": "::1", "disperser_port": 9500, "node_port": 9600})) == (
        "grpc://[::1]:9500"
    )
    for grpc, match in [
        (
            {"host": "x", "disperser_port": 70000, "node_port": 9600},
            "disperser_port: 70000 is not a port",
        ),
        ({"host": "x", "disperser_port": 9500}, "expected {host, disperser_port, node_port}"),
        ({"host": "a b", "disperser_port": 9500, "node_port": 9600}, "host: 'a b' is not a host name"),
        (
            {"host": "x", "disperser_port": 9601, "node_port": 9600},
            "disperser_port: 9601 is inside the validators' range 9600..9663",
        ),
    ]:
        with pytest.raises(NetworkConfigError, match=f"{rec}: da.grpc: {match}"):
            deployment_disperser(record(grpc))
    rec.write_text(json.dumps({"core": {}}))
    with pytest.raises(NetworkConfigError, match="no deployment record with a da section"):
        deployment_disperser(rec)
    with pytest.raises(NetworkConfigError, match="is unreadable"):
        deployment_disperser(tmp_path / "missing.json")
    far = {"host": "da.example", "disperser_port": 9500, "node_port": 9600}
    with pytest.raises(
        DevnetProcessError, match="da.grpc.host is 'da.example': a devnet serves on 127.0.0.1 only"
    ):
        devnet.up(tmp_path / "dn", 2, test_srs_symbols=64, grpc=far)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        here = {
            "host": "127.0.0.1",
            "disperser_port": port - 1,
            "node_port": port,
        }  # validator 0's, checked first
        with pytest.raises(DevnetProcessError, match=f"gRPC port {port} on 127.0.0.1 is taken"):
            devnet.up(tmp_path / "dn", 2, test_srs_symbols=64, grpc=here)
    assert not (tmp_path / "dn" / "devnet.json").exists()
    (tmp_path / "blob").write_bytes(b"x")
    (tmp_path / "key").write_text("11" * 32)
    for extra in ([], ["--disperser", "grpc://127.0.0.1:1", "--deployment", str(record())]):
        rc = main(["da", "put", str(tmp_path / "blob"), "--key", str(tmp_path / "key"), *extra])
        assert rc == 2 and "--disperser URL or --deployment RECORD: one of the two" in capsys.readouterr().err


def test_a_port_taken_before_its_process_binds_it_is_chosen_again(tmp_path, monkeypatch) -> None:
    """The devnet's ports are free when chosen; one taken before its process binds it (here: held by
    the test) makes that process exit, and the devnet starts again on fresh ports, up to
    PORT_ATTEMPTS times; taken every time, the last attempt's error is raised."""
    import socket

    import pytest

    from offchain.da.errors import DevnetProcessError
    from offchain.da.network import devnet

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        real, handed = devnet.free_port, []

        def first_taken() -> int:
            handed.append(port if not handed else real())
            return handed[-1]

        monkeypatch.setattr(devnet, "free_port", first_taken)
        info = devnet.up(tmp_path / "dn", 1, test_srs_symbols=64, log_level="warning")
        try:
            assert handed[0] == port and port not in handed[1:]  # validator 0 got it first, then fresh ones
            assert info["running"] and all(f":{port}" not in p["url"] for p in info["processes"])
        finally:
            devnet.down(tmp_path / "dn")
        monkeypatch.setattr(devnet, "free_port", lambda: port)
        with pytest.raises(DevnetProcessError, match="Address already in use"):
            devnet.up(tmp_path / "dn2", 1, test_srs_symbols=64, log_level="warning")
