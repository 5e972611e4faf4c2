"""eigen compute image build: small reproducible OCI images from a script or a static binary."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from offchain.cli import main
from offchain.compute.errors import ImageBuildError
from offchain.compute.image import open_image
from offchain.compute.imagebuild import build_image
from offchain.compute.oci import image_digest
from tests.offchain.compute.support import script_app, static_binary


def script_dir(tmp: Path) -> Path:
    d = script_app(tmp, 'read x; echo "hello $x"\n', "app")
    (d / "data.txt").write_text("some data\n")
    return d


def _members(layout: Path, manifest_digest: str) -> list[list[str]]:
    manifest = json.loads((layout / "blobs/sha256" / manifest_digest[7:]).read_bytes())
    out = []
    for desc in manifest["layers"]:
        with tarfile.open(layout / "blobs/sha256" / desc["digest"][7:]) as tar:
            out.append(tar.getnames())
    return out


def test_script_image_is_reproducible_and_agrees_with_the_digest_reader(tmp_path):
    src = script_dir(tmp_path)
    a = build_image(src, tmp_path / "a")
    b = build_image(src, tmp_path / "b.tar")
    assert (
        a.digest == b.digest == image_digest(tmp_path / "a").digest == image_digest(tmp_path / "b.tar").digest
    )
    # mtimes, owners and creation order on the host do not enter the image
    os.utime(src / "data.txt", (1, 1))
    (src / "run.sh").chmod(0o775)
    assert build_image(src, tmp_path / "c").digest == a.digest
    build_image(src, tmp_path / "e.tar")
    assert (tmp_path / "b.tar").read_bytes() == (tmp_path / "e.tar").read_bytes()  # byte for byte
    (src / "data.txt").write_text("other data\n")
    assert build_image(src, tmp_path / "f").digest != a.digest


def test_script_image_carries_its_interpreter_layer(tmp_path):
    built = build_image(script_dir(tmp_path), tmp_path / "img", env=["GREETING=hi"], cmd=["--flag"])
    assert built.layers == ("interpreter", "app")
    interp, app = _members(tmp_path / "img", built.digest)
    assert "bin/sh" in interp and any("ld-linux" in n or "ld-musl" in n for n in interp)
    assert any(n.endswith("libc.so.6") or "musl" in n for n in interp)
    assert {"app", "app/run.sh", "app/data.txt"} <= set(app)
    with open_image(tmp_path / "img", built.digest) as img:
        assert img.config.argv == ["/app/run.sh", "--flag"]
        assert "GREETING=hi" in img.config.env and any(e.startswith("PATH=") for e in img.config.env)
        assert img.config.working_dir == "/app"
    with tarfile.open(tmp_path / "img/blobs/sha256" / built.manifest["layers"][1]["digest"][7:]) as tar:
        for m in tar.getmembers():
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
            assert m.mode in (0o755, 0o644)


def test_static_binary_image_has_one_layer_and_no_compression_option(tmp_path):
    exe = static_binary(tmp_path, "hello", '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    d = tmp_path / "bin"
    d.mkdir()
    exe.rename(d / "hello")
    built = build_image(d, tmp_path / "img", compression="none")
    assert built.layers == ("app",)
    assert built.manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert built.config["config"]["Entrypoint"] == ["/app/hello"]
    assert build_image(d, tmp_path / "img2", compression="none").digest == built.digest
    assert build_image(d, tmp_path / "img3").digest != built.digest  # gzip layers: another manifest


def _exe(d: Path, name: str, text: str) -> None:
    (d / name).write_text(text)
    (d / name).chmod(0o755)


def _link_out(d: Path) -> None:
    _exe(d, "run", "#!/bin/sh\n")
    os.symlink("/etc/passwd", d / "l")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "a").write_text("x"), "0 executable files"),
        (lambda d: [_exe(d, n, "#!/bin/sh\n") for n in ("a", "b")], "2 executable"),
        (lambda d: _exe(d, "a", "#!/usr/bin/env sh\n"), "env"),
        (lambda d: _exe(d, "a", "#!sh\n"), "absolute interpreter"),
        (lambda d: _exe(d, "a", "#!/no/such/shell\n"), "not an executable"),
        (_link_out, "leaves"),
    ],
)
def test_bad_directories_are_refused(tmp_path, setup, message):
    d = tmp_path / "app"
    d.mkdir()
    setup(d)
    with pytest.raises(ImageBuildError, match=message):
        build_image(d, tmp_path / "img")
    assert not (tmp_path / "img").exists()


def test_bad_options_are_refused(tmp_path):
    d = script_dir(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ImageBuildError, match="not an empty directory"):
        build_image(d, tmp_path / "full")
    with pytest.raises(ImageBuildError, match="NAME=VALUE"):
        build_image(d, tmp_path / "i1", env=["NOVALUE"])
    with pytest.raises(ImageBuildError, match="not a file"):
        build_image(d, tmp_path / "i2", entrypoint="../run.sh")
    with pytest.raises(ImageBuildError, match="compression"):
        build_image(d, tmp_path / "i3", compression="zstd")
    with pytest.raises(ImageBuildError, match="not a directory"):
        build_image(d / "run.sh", tmp_path / "i4")


def test_cli_builds_and_prints_the_digest(tmp_path, capsys):
    d = script_dir(tmp_path)
    assert main(["compute", "image", "build", str(d), "-o", str(tmp_path / "img.tar"), "--env", "A=1"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert main(["compute", "digest", str(tmp_path / "img.tar")]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == built["digest"]
    assert built["entrypoint"] == ["/app/run.sh"]
    assert main(["compute", "image", "build", str(d), "-o", str(tmp_path / "x"), "--entrypoint", "nope"]) == 2
    assert "ImageBuildError" in capsys.readouterr().err
