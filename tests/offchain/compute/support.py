"""Helpers of the compute tests: images from raw layers, crafted tar entries, static test binaries,
and work directories the sandbox uid can reach."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from offchain.compute.imagebuild import canonical_json

TAR = "application/vnd.oci.image.layer.v1.tar"
TGZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(*members: tuple[str, str, bytes | str]) -> bytes:
    """A tar of (kind, name, data-or-linkname) with kind file|dir|symlink|hardlink|fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                payload = data if isinstance(data, bytes) else data.encode()
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = str(data)
            tar.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def write_layout(
    root: Path,
    layers: list[bytes],
    *,
    media: str = TAR,
    config: dict | None = None,
    diff_ids: list[str] | None = None,
) -> str:
    """An OCI layout at ``root`` with these raw layer blobs; returns the image digest. ``diff_ids``
    default to the sha256 of each layer decompressed."""

    def blob(data: bytes) -> dict:
        d = sha(data)
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "blobs" / "sha256" / d[7:]).write_bytes(data)
        return {"digest": d, "size": len(data)}

    if diff_ids is None:
        diff_ids = [sha(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b) for b in layers]
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/true"], "WorkingDir": "/"},
        **(config or {}),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(canonical_json(cfg))},
        "layers": [{"mediaType": media, **blob(b)} for b in layers],
    }
    m = blob(canonical_json(manifest))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **m}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return m["digest"]


def docker_archive(layout: Path, out: Path) -> str:
    """A legacy docker-archive tar (manifest.json, config, uncompressed layers) of an OCI layout
    written by ``write_layout`` or the builder; returns its image ID (the config digest)."""
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_bytes())
    config = (layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_bytes()
    files = {f"{sha(config)[7:]}.json": config}
    names = []
    for i, desc in enumerate(manifest["layers"]):
        data = (layout / "blobs/sha256" / desc["digest"][7:]).read_bytes()
        data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        names.append(f"layer{i}/layer.tar")
        files[names[-1]] = data
    files["manifest.json"] = json.dumps(
        [{"Config": f"{sha(config)[7:]}.json", "RepoTags": ["app:1"], "Layers": names}]
    ).encode()
    out.write_bytes(tar_bytes(*(("file", n, d) for n, d in files.items())))
    return sha(config)


def static_binary(tmp: Path, name: str, source: str, include: Path | None = None) -> Path:
    """Compile a static C program with the system compiler (the project's C kernels need one too),
    its headers looked up in ``include`` too (a kernels/ folder); skips the test when the machine
    cannot link statically."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a static test binary")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    flags = ["-I", str(include)] if include is not None else []
    proc = subprocess.run(
        [cc, "-static", "-O1", *flags, "-o", str(out), str(src)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot link a static binary here: {proc.stderr.strip()[:200]}")
    return out


def script_app(parent: Path, body: str, name: str = "src") -> Path:
    """A directory ``parent/name`` holding one executable ``run.sh``: ``#!/bin/sh`` and ``body``."""
    src = parent / name
    src.mkdir()
    (src / "run.sh").write_text("#!/bin/sh\n" + body)
    (src / "run.sh").chmod(0o755)
    return src


@contextmanager
def reachable_dir() -> Iterator[Path]:
    """A work directory under the system's temporary directory that the sandbox uid can search
    (pytest's tmp_path sits in a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="eigen-test-"))
    os.chmod(path, 0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def eigen(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``eigen ARGV`` in-process: (exit status, stdout, stderr); argparse's usage errors too."""
    from offchain.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err
