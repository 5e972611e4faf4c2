"""OCI image digests from OCI layouts (directory and tar) and legacy docker-archive tarballs."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from offchain.cli import main
from offchain.compute.errors import ImageError
from offchain.compute.oci import image_digest, parse_digest


def _sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _blob(root: Path, data: bytes) -> dict:
    d = _sha(data)
    p = root / "blobs" / "sha256"
    p.mkdir(parents=True, exist_ok=True)
    (p / d[7:]).write_bytes(data)
    return {"digest": d, "size": len(data)}


def make_layout(root: Path, n_images: int = 1, index_of_index: bool = False) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    out, descs = [], []
    for i in range(n_images):
        layer = _blob(root, b"layer-bytes-%d" % i)
        config = _blob(root, json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode())
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
            },
            indent=3,
        ).encode()
        m = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            **_blob(root, manifest),
            "annotations": {"org.opencontainers.image.ref.name": f"app:{i}"},
        }
        descs.append(m)
        out.append(m["digest"])
    if index_of_index:
        inner = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
        ).encode()
        descs = [{"mediaType": "application/vnd.oci.image.index.v1+json", **_blob(root, inner)}]
        out = [descs[0]["digest"]]
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": descs}))
    return out


def _tar(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return dest


def test_layout_directory_and_tar(tmp_path: Path) -> None:
    (want,) = make_layout(tmp_path / "img")
    d = image_digest(tmp_path / "img")
    assert d.digest == want and d.kind == "manifest" and d.ref == "app:0"
    assert d.raw == parse_digest(want)
    t = image_digest(_tar(tmp_path / "img", tmp_path / "img.tar"))
    assert t.digest == want


def test_multi_arch_index_digest(tmp_path: Path) -> None:
    (want,) = make_layout(tmp_path / "img", n_images=2, index_of_index=True)
    d = image_digest(tmp_path / "img")
    assert d.digest == want and d.kind == "index"


def test_several_images_need_a_ref(tmp_path: Path) -> None:
    digests = make_layout(tmp_path / "img", n_images=2)
    with pytest.raises(ImageError, match="choose one"):
        image_digest(tmp_path / "img")
    assert image_digest(tmp_path / "img", ref="app:1").digest == digests[1]
    with pytest.raises(ImageError, match="no image named"):
        image_digest(tmp_path / "img", ref="nope")


def test_tampered_or_missing_blobs(tmp_path: Path) -> None:
    (want,) = make_layout(tmp_path / "img")
    blobs = tmp_path / "img" / "blobs" / "sha256"
    layer = blobs / hashlib.sha256(b"layer-bytes-0").hexdigest()
    layer.write_bytes(b"tampered")
    with pytest.raises(ImageError, match="does not hash"):
        image_digest(tmp_path / "img")
    layer.unlink()
    with pytest.raises(ImageError, match="missing"):
        image_digest(tmp_path / "img")


def test_size_mismatch(tmp_path: Path) -> None:
    make_layout(tmp_path / "img")
    idx = json.loads((tmp_path / "img" / "index.json").read_text())
    idx["manifests"][0]["size"] += 1
    (tmp_path / "img" / "index.json").write_text(json.dumps(idx))
    with pytest.raises(ImageError, match="size"):
        image_digest(tmp_path / "img")


def _docker_archive(path: Path, config: bytes, name_by_hash: bool = True) -> str:
    cfg_name = hashlib.sha256(config).hexdigest() + ".json" if name_by_hash else "config.json"
    manifest = json.dumps(
        [{"Config": cfg_name, "RepoTags": ["app:latest"], "Layers": ["abc/layer.tar"]}]
    ).encode()
    with tarfile.open(path, "w") as tf:
        for name, data in (("manifest.json", manifest), (cfg_name, config), ("abc/layer.tar", b"tar")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return _sha(config)


def test_docker_archive_image_id(tmp_path: Path) -> None:
    want = _docker_archive(tmp_path / "a.tar", b'{"architecture":"amd64","os":"linux"}')
    d = image_digest(tmp_path / "a.tar")
    assert d.digest == want and d.kind == "config" and d.ref == "app:latest"


def test_docker_archive_config_name_mismatch(tmp_path: Path) -> None:
    config = b'{"os":"linux"}'
    path = tmp_path / "b.tar"
    cfg_name = "0" * 64 + ".json"
    manifest = json.dumps([{"Config": cfg_name, "Layers": []}]).encode()
    with tarfile.open(path, "w") as tf:
        for name, data in (("manifest.json", manifest), (cfg_name, config)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ImageError, match="does not hash"):
        image_digest(path)


@pytest.mark.parametrize("text", ["sha256:xyz", "sha512:" + "0" * 128, "", "sha256:" + "A" * 64])
def test_bad_digest_strings(text: str) -> None:
    with pytest.raises(ImageError):
        parse_digest(text)


def test_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        image_digest(tmp_path)
    (tmp_path / "f").write_bytes(b"not a tar")
    with pytest.raises(ImageError):
        image_digest(tmp_path / "f")
    with pytest.raises(ImageError):
        image_digest(tmp_path / "missing")


def test_digest_command(tmp_path: Path, capsys) -> None:
    (want,) = make_layout(tmp_path / "img")
    assert main(["compute", "digest", str(tmp_path / "img")]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == want


def test_receipt_make_from_image_layout(tmp_path: Path, capsys) -> None:
    (want,) = make_layout(tmp_path / "img")
    tee = tmp_path / "tee"
    assert main(["compute", "devtee", "init", str(tee)]) == 0
    (tmp_path / "in").write_bytes(b"x")
    assert (
        main(
            [
                "compute",
                "receipt",
                "make",
                "--devtee",
                str(tee),
                "--image",
                str(tmp_path / "img"),
                "--input",
                str(tmp_path / "in"),
                "--output",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    receipt = json.loads((tmp_path / "r.json").read_text())["receipt"]
    assert receipt["imageDigest"] == "0x" + want[7:]
    assert (
        main(
            ["compute", "receipt", "verify", str(tmp_path / "r.json"), "--trust-root", str(tee / "root.pem")]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["accepted"]
