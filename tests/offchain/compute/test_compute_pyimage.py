"""Python app images (pyimage) and long-running sandboxed apps with network (sandbox.start_sandboxed,
app.start_app): reproducible builds, the packed closure, network only when shared, read-only bound
files, digests checked before anything runs, nothing left after close, every refusal typed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from eth_account import Account

from offchain.compute import pyimage
from offchain.compute.app import AppError, start_app
from offchain.compute.errors import (
    BlobDigestMismatch,
    ImageBuildError,
    ImageDigestMismatch,
    SandboxFileError,
)
from offchain.compute.image import open_image
from offchain.compute.pyimage import LIB_DIR, build_python_image
from offchain.compute.sandbox import AppLimits, start_sandboxed
from offchain.compute.unpack import unpack_image
from tests.offchain.compute.support import eigen, reachable_dir
from tests.offchain.compute.test_compute_sandbox import TEST_UID, needs_bwrap

MODULE = "offchain.compute.selftest_app"
BUILD = {"module": MODULE, "files": {"data/note.txt": b"hello"}, "extra_packages": ("web3",)}
KEY = "11" * 32


@pytest.fixture(scope="module")
def pyimg_dir():
    with reachable_dir() as path:
        yield path


@pytest.fixture(scope="module")
def pyimg_built(pyimg_dir):
    return build_python_image(pyimg_dir / "img", **BUILD)


@pytest.fixture(scope="module")
def pyimg_tcp():
    """A TCP server on 127.0.0.1 answering ``pong:<what it got>``; its port."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"pong:" + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


def _layer_names(built, index: int) -> list[str]:
    blob = built.out / "blobs/sha256" / built.manifest["layers"][index]["digest"][7:]
    with tarfile.open(blob) as tar:
        return tar.getnames()


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def test_python_image_is_reproducible_and_packs_the_closure(pyimg_built, pyimg_dir):
    again = build_python_image(pyimg_dir / "again", **BUILD)
    assert again.digest == pyimg_built.digest
    assert again.size == pyimg_built.size and pyimg_built.layers == ("interpreter", "app")
    run = pyimg_built.config["config"]
    python = os.path.realpath(sys.executable)
    assert run["Entrypoint"] == [python, "-m", MODULE]
    assert f"PYTHONPATH={LIB_DIR}" in run["Env"] and "PYTHONHASHSEED=0" in run["Env"]
    interp = _layer_names(pyimg_built, 0)
    assert python.lstrip("/") in interp
    assert any(n.endswith("/os.py") for n in interp) and any("lib-dynload/_ssl" in n for n in interp)
    assert not any("/test/" in n or "/idlelib/" in n or "__pycache__" in n for n in interp)
    app = _layer_names(pyimg_built, 1)
    for name in (
        "app/lib/web3/__init__.py",
        "app/lib/eth_account/__init__.py",
        "app/lib/offchain/__init__.py",
    ):
        assert name in app
    assert "app/data/note.txt" in app
    assert any(n.startswith("app/lib/web3-") and n.endswith(".dist-info/METADATA") for n in app)
    noise = (".pyc", "/RECORD", "/INSTALLER", "direct_url.json", "uv_cache.json")
    assert not any(n.endswith(noise) or "__pycache__" in n for n in app)
    assert not any("/tests/" in n for n in app)


@needs_bwrap
def test_app_answers_reaches_the_host_network_and_reads_its_bound_file(pyimg_built, pyimg_dir, pyimg_tcp):
    files = {"/run/enclave/key": b"secret-key"}
    with start_app(pyimg_built.out, pyimg_built.digest, workdir=pyimg_dir, files=files, uid=TEST_UID) as app:
        hello = app.request({"op": "hello"}, timeout=60)
        assert hello["ok"] and hello["python"] == sys.version.split()[0] and hello["web3"]
        got = app.request({"op": "address", "key": KEY})
        assert got == {"ok": True, "address": Account.from_key(bytes.fromhex(KEY)).address}
        pong = app.request({"op": "connect", "host": "127.0.0.1", "port": pyimg_tcp, "send": "ping"})
        assert pong == {"ok": True, "got": "pong:ping"}
        assert app.request({"op": "read", "path": "/run/enclave/key"}) == {"ok": True, "data": "secret-key"}
        assert app.request({"op": "read", "path": "/app/data/note.txt"}) == {"ok": True, "data": "hello"}
        for path in ("/run/enclave/key", "/run/enclave/other", "/app/data/note.txt"):
            refused = app.request({"op": "write", "path": path, "data": "x"})
            assert not refused["ok"] and "Read-only file system" in refused["error"]
        pids = _tree(app.process.pid)
        assert len(pids) >= 3  # bwrap, the sandbox's init, python
        rootfs = app.rootfs
    assert not any(_alive(p) for p in pids)
    assert not rootfs.exists() and not rootfs.parent.exists()
    assert app.close() == app.process.returncode  # idempotent


@needs_bwrap
def test_app_without_shared_network_cannot_connect(pyimg_built, pyimg_dir, pyimg_tcp):
    with start_app(
        pyimg_built.out, pyimg_built.digest, workdir=pyimg_dir, share_net=False, uid=TEST_UID
    ) as app:
        refused = app.request({"op": "connect", "host": "127.0.0.1", "port": pyimg_tcp}, timeout=60)
        assert not refused["ok"] and refused["error"].startswith(("ConnectionRefusedError", "OSError"))
        with pytest.raises(AppError, match="closed its output"):
            app.request({"op": "exit"}, timeout=30)  # the app ends without answering
        assert app.process.wait(30) == 0


@needs_bwrap
def test_app_digest_mismatch_and_tampered_blob_are_refused_before_anything_runs(pyimg_built, tmp_path):
    with reachable_dir() as work:
        wrong = "sha256:" + "0" * 64
        with pytest.raises(ImageDigestMismatch):
            start_app(pyimg_built.out, wrong, workdir=work)
        tampered = tmp_path / "tampered"
        shutil.copytree(pyimg_built.out, tampered, copy_function=os.link)
        layer = tampered / "blobs/sha256" / pyimg_built.manifest["layers"][1]["digest"][7:]
        data = bytearray(layer.read_bytes())
        data[-1] ^= 1
        layer.unlink()  # a new file: the hard-linked original stays intact
        layer.write_bytes(bytes(data))
        with pytest.raises(BlobDigestMismatch):
            start_app(tampered, pyimg_built.digest, workdir=work)
        assert list(work.iterdir()) == []  # nothing unpacked, nothing started


@needs_bwrap
def test_sandboxed_process_stop_kills_the_whole_tree(pyimg_built, pyimg_dir):
    work = pyimg_dir / "tree"
    with open_image(pyimg_built.out, pyimg_built.digest) as img:
        unpack_image(img, work)
    python = os.path.realpath(sys.executable)
    # the sandboxed python starts a child that sleeps; stop() must take both
    child = "import time; time.sleep(600)"
    code = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}]); print('up', flush=True); sys.stdin.read()"
    with start_sandboxed(work, [python, "-c", code], env=["PYTHONPATH=/app/lib"], uid=TEST_UID) as proc:
        assert proc.stdout.readline() == b"up\n"
        pids = _tree(proc.pid)
        assert len(pids) >= 4 and proc.poll() is None
    assert not any(_alive(p) for p in pids)
    assert proc.poll() is not None


def test_python_image_build_errors_are_typed(tmp_path):
    with pytest.raises(ImageBuildError, match="not importable"):
        build_python_image(tmp_path / "a", module="no_such_module_for_pyimage")
    with pytest.raises(ImageBuildError, match="not a Python module name"):
        build_python_image(tmp_path / "a", module="bad-name")
    with pytest.raises(ImageBuildError, match="not importable"):
        build_python_image(tmp_path / "a", module="json", extra_packages=["no_such_package_for_pyimage"])
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(ImageBuildError, match="not an empty directory"):
        build_python_image(full, module="json")
    for bad in ("/etc/passwd", "../x", "/app", "/app/../etc/x", "/app/lib/json/x.py"):
        with pytest.raises(ImageBuildError, match="under /app"):
            build_python_image(tmp_path / "b", module="json", files={bad: b"x"})
    with pytest.raises(ImageBuildError, match="not a file"):
        build_python_image(tmp_path / "b", module="json", files={"x": tmp_path / "missing"})
    with pytest.raises(ImageBuildError, match="NAME=VALUE"):
        build_python_image(tmp_path / "b", module="json", env=["NOVALUE"])
    with pytest.raises(ImageBuildError, match="compression"):
        build_python_image(tmp_path / "b", module="json", compression="zstd")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_python_image_refuses_an_interpreter_whose_libraries_are_missing(tmp_path, monkeypatch):
    real = pyimage.shared_libraries_many

    def lacking(paths):  # the real ldd answer, with one stdlib object lacking a library
        libs, missing = real(paths)
        ssl = next(str(p) for p in paths if p.name.startswith("_ssl."))
        return libs, [*missing, f"{ssl}: libssl.so.3 => not found"]

    monkeypatch.setattr(pyimage, "shared_libraries_many", lacking)
    with pytest.raises(ImageBuildError, match="libraries are missing on this host"):
        build_python_image(tmp_path / "img", module="json")
    assert not (tmp_path / "img").exists()


def test_sandbox_file_and_app_refusals_are_typed(tmp_path):
    for bad in ("key", "/key", "/tmp/key", "/app/key", "/run/../etc/key", "/proc/x/key"):
        with pytest.raises(SandboxFileError):
            start_sandboxed(tmp_path, ["/bin/true"], files={bad: b"x"})
    with pytest.raises(SandboxFileError, match="bytes"):
        start_sandboxed(tmp_path, ["/bin/true"], files={"/run/key": "text"})  # type: ignore[dict-item]
    with pytest.raises(AppError, match="NAME=VALUE"):
        start_app(tmp_path / "none", "sha256:" + "0" * 64, workdir=tmp_path, env=["=x"])
    with pytest.raises(Exception, match="positive"):
        AppLimits(cpu_s=0)


@needs_bwrap
def test_cli_build_python_image_runs_as_an_app(capsys, tmp_path):
    host = tmp_path / "in.json"
    host.write_text('{"b": 2, "a": [1]}')
    with reachable_dir() as work:
        rc, out, err = eigen(
            capsys, "compute", "image", "build-python", "json.tool", "-o", str(work / "img"),
            "--file", f"data/in.json={host}", "--env", "EXTRA=1",
        )  # fmt: skip
        assert rc == 0, err
        doc = json.loads(out)
        assert set(doc) == {"digest", "out", "layers", "bytes"} and doc["bytes"] > 1 << 20
        with start_app(
            work / "img",
            doc["digest"],
            workdir=work,
            share_net=False,
            uid=TEST_UID,
            stderr=subprocess.DEVNULL,
        ) as app:
            app.stdin.write(b'{"z": 1, "y": [true]}')
            app.stdin.close()
            assert json.loads(app.stdout.read()) == {"z": 1, "y": [True]}
            assert app.process.wait(30) == 0
        rc, _, err = eigen(
            capsys, "compute", "image", "build-python", "json.tool", "-o", str(work / "x"), "--file", "nohost"
        )
        assert rc == 2 and "IMGPATH=HOSTPATH" in err
