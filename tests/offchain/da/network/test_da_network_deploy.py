"""deploy/ (Dockerfile, docker-compose.yaml, k8s/da-network.yaml) checked against the code: every command is
an ``eigen`` command its parser accepts, every configuration it names is written by the documented
``eigen da devnet configure`` line and loads as the process's configuration keys, every port a process
listens on is the one its container, service and peers use, every environment name is a setting, every
file the image copies exists."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from offchain import settings
from offchain.cli import build_parser
from offchain.da.network.config import DISPERSER_KEYS, NODE_KEYS, RELAY_KEYS, network_state
from offchain.da.network.metadata import POSTGRES_REQUIREMENT
from tests.offchain.da.network.support import ROOT, eigen

DEPLOY = ROOT / "deploy"
ROLE_KEYS = {"node": NODE_KEYS, "disperser": DISPERSER_KEYS, "relay": RELAY_KEYS}
SETTINGS = {s.name for s in settings.ALL}


def configure(manifest: Path, out: Path) -> Path:
    """Run the ``eigen da devnet configure`` line the manifest documents, into ``out`` (its --dir replaced)."""
    (line,) = re.findall(r"^#\s+eigen da devnet configure (.+)$", manifest.read_text(), re.M)
    args = shlex.split(line)
    i = args.index("--dir")
    args[i + 1] = str(out)
    r = eigen("devnet", "configure", *args)
    assert r.returncode == 0, r.stderr
    return out


def eigen_command(argv: list[str]) -> list[str]:
    """The ``eigen`` arguments of a container command (the image's entrypoint, or ``python -m offchain.cli``,
    possibly inside ``sh -c 'exec …'``), checked by eigen's own parser."""
    if argv[:2] == ["sh", "-c"]:
        argv = shlex.split(argv[2].removeprefix("exec "))
    if argv[:3] == ["python", "-m", "offchain.cli"]:
        argv = argv[3:]
    build_parser().parse_args(argv)  # an unknown command or option exits here
    return argv


def check_process(argv: list[str], folder: Path, mount: str, ordinal: int | None = None) -> dict:
    """The configuration a process command names, read from the configured folder: its keys are its role's."""
    assert argv[0] == "da" and argv[1] in ROLE_KEYS and argv[2] == "--config", argv
    path = argv[3].replace("${HOSTNAME##*-}", str(ordinal) if ordinal is not None else "")
    assert path.startswith(mount + "/"), path
    cfg = json.loads((folder / path.removeprefix(mount + "/")).read_text())
    assert set(cfg) <= ROLE_KEYS[argv[1]], set(cfg) - ROLE_KEYS[argv[1]]
    assert cfg["host"] == "0.0.0.0" and cfg["public"] is True
    for key in ("bls_key_file", "key_file"):
        if key in cfg:
            assert (folder / cfg[key]).is_file()
    return cfg


def test_compose(tmp_path) -> None:
    manifest = DEPLOY / "docker-compose.yaml"
    folder = configure(manifest, tmp_path / "network")
    compose = yaml.safe_load(manifest.read_text())
    services = compose["services"]
    assert set(services) == {"v0", "v1", "v2", "v3", "disperser", "relay"}
    ports = {}
    for name, svc in services.items():
        argv = eigen_command(svc["command"])
        # container path -> source ("SOURCE:/PATH[:ro]"; a source may hold ${VAR:-default})
        mounts = {m[2]: m[1] for m in (re.fullmatch(r"(.+):(/[^:]*)(:ro)?", v) for v in svc["volumes"])}
        assert mounts["/etc/eigen"] == "./network" and "/srs" in mounts and "/var/lib/eigen" in mounts
        cfg = check_process(argv, folder, "/etc/eigen")
        assert cfg["srs"] == {"dir": "/srs"}
        for key in ("store_dir", "metadata", "disperser_metadata"):
            if key in cfg:
                assert cfg[key].startswith("/var/lib/eigen/"), (name, key)
        listened = [p.split(":")[-1] for p in svc.get("ports", [])] + svc.get("expose", [])
        assert listened == [str(cfg["port"])], name
        ports[name] = cfg["port"]
        assert mounts["/srs"] == "${EIGEN_DA_SRS:-./srs}"  # the setting's folder, or deploy/srs
        for volume in [m for m in mounts.values() if not m.startswith((".", "$"))]:
            assert volume in compose["volumes"]
    assert services["disperser"]["volumes"][-1] == services["relay"]["volumes"][-1]  # the shared metadata
    network = json.loads((folder / "network.json").read_text())
    _, urls = network_state(network, folder)
    assert sorted(urls.values()) == [f"http://v{i}:{ports[f'v{i}']}" for i in range(4)]
    client = json.loads((folder / "client.json").read_text())
    assert client["relays"] == {"0": f"http://relay:{ports['relay']}"}


def test_kubernetes(tmp_path) -> None:
    manifest = DEPLOY / "k8s" / "da-network.yaml"
    folder = configure(manifest, tmp_path / "network")
    docs = list(yaml.safe_load_all(manifest.read_text()))
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]
    assert {w["metadata"]["name"] for w in workloads} == {"da-validator", "da-disperser", "da-relay"}
    urls = set(network_state(json.loads((folder / "network.json").read_text()), folder)[1].values())
    for w in workloads:
        spec = w["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        replicas = w["spec"]["replicas"]
        ordinals = range(replicas) if w["kind"] == "StatefulSet" else [None]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"] for v in spec["volumes"]} | {
            t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])
        }
        assert set(mounts.values()) <= volumes and "/etc/eigen" in mounts and "/srs" in mounts
        for env in c.get("env", []):
            assert env["name"] in SETTINGS, env["name"]
        for i in ordinals:
            cfg = check_process(eigen_command(c["command"]), folder, "/etc/eigen", i)
            assert [p["containerPort"] for p in c["ports"]] == [cfg["port"]]
            assert c["readinessProbe"]["httpGet"]["port"] == cfg["port"]
            svc = services[w["spec"].get("serviceName", w["metadata"]["name"])]
            assert svc["spec"]["selector"] == w["spec"]["selector"]["matchLabels"]
            assert [p["targetPort"] for p in svc["spec"]["ports"]] == [cfg["port"]]
            if "bls_key_file" in cfg or "key_file" in cfg:
                assert mounts.get("/etc/eigen/keys"), w["metadata"]["name"]
            if i is not None:  # the validator's URL in the network file is its pod's DNS name
                assert f"http://{w['metadata']['name']}-{i}.{svc['metadata']['name']}:{cfg['port']}" in urls
            if "store_dir" in cfg:
                assert cfg["store_dir"].startswith("/var/lib/eigen/") and "/var/lib/eigen" in mounts
            if "metadata" in cfg or "disperser_metadata" in cfg:  # PostgreSQL from the secret, not the file
                assert [e["name"] for e in c["env"]] == [settings.DA_METADATA_URL.name]
    client = json.loads((folder / "client.json").read_text())
    assert client["relays"] == {"0": "http://da-relay:9300"} and "da-relay" in services


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines:
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    assert 'ENTRYPOINT ["python", "-m", "offchain.cli"]' in lines
    assert f'"{POSTGRES_REQUIREMENT}"' in text  # the driver of PostgreSQL metadata
    for name in re.findall(r"\b(EIGEN_[A-Z0-9_]+)=", text):
        assert name in SETTINGS, name
    (expose,) = [line for line in lines if line.startswith("EXPOSE")]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())["services"]
    listened = {p.split(":")[-1] for s in compose.values() for p in s.get("ports", []) + s.get("expose", [])}
    assert listened <= set(expose.split()[1:])


@pytest.mark.parametrize("manifest", ["docker-compose.yaml", "k8s/da-network.yaml"])
def test_documented_in_the_docs(manifest) -> None:
    """The page documents each file and the configure line each manifest documents."""
    doc = (ROOT / "docs" / "da-network.md").read_text()
    (line,) = re.findall(r"^#\s+(eigen da devnet configure .+)$", (DEPLOY / manifest).read_text(), re.M)
    assert f"deploy/{manifest}" in doc and line.replace("deploy/", "") in doc.replace("deploy/", "")
