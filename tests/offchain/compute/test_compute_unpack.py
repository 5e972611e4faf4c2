"""Image pull and unpack: digests checked before anything is unpacked, hostile layers refused."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.cli import main
from offchain.compute.errors import (
    BlobDigestMismatch,
    ImageDigestMismatch,
    ImageError,
    LayerError,
    LayerLinkEscape,
    LayerPathTraversal,
    LayerTooLarge,
    LayerWhiteoutError,
    UnsupportedImage,
)
from offchain.compute.image import open_image
from offchain.compute.imagebuild import MEDIA_INDEX, build_image, canonical_json, host_arch
from offchain.compute.unpack import UnpackLimits, clean_name, link_target, unpack_image
from tests.offchain.compute.support import TGZ, docker_archive, gz, script_app, sha, tar_bytes, write_layout

ZERO = "sha256:" + "0" * 64


def unpack(tmp: Path, *layers: bytes, limits: UnpackLimits | None = None, **kw) -> Path:
    digest = write_layout(tmp / "img", list(layers), **kw)
    with open_image(tmp / "img", digest) as img:
        unpack_image(img, tmp / "rootfs", limits)
    return tmp / "rootfs"


def test_builder_image_unpacks_from_layout_tar_docker_archive_and_blob_store(tmp_path):
    src = script_app(tmp_path, "echo hi\n", "app")
    built = build_image(src, tmp_path / "layout")
    build_image(src, tmp_path / "layout.tar")
    image_id = docker_archive(tmp_path / "layout", tmp_path / "docker.tar")
    store = tmp_path / "store"
    shutil.copytree(tmp_path / "layout" / "blobs", store / "blobs")
    for source, digest in [
        ("layout", built.digest),
        ("layout.tar", built.digest),
        ("docker.tar", image_id),
        ("store", built.digest),
    ]:
        with open_image(tmp_path / source, digest) as img:
            assert img.digest == digest
            assert img.config.argv == ["/app/run.sh"]
            report = unpack_image(img, tmp_path / f"root-{source}")
        root = tmp_path / f"root-{source}"
        assert (root / "app/run.sh").read_text() == "#!/bin/sh\necho hi\n"
        assert (root / "bin/sh").is_file() and os.access(root / "bin/sh", os.X_OK)
        assert all((root / d).is_dir() for d in ("proc", "dev", "tmp", "input"))
        assert report.entries > 0 and not report.skipped
    with pytest.raises(ImageError, match="expected digest names"):
        open_image(store, None)


def test_wrong_digest_is_refused_before_any_layer_is_read(tmp_path):
    digest = write_layout(tmp_path / "img", [tar_bytes(("file", "a", "x"))])
    layer = next(p for p in (tmp_path / "img/blobs/sha256").iterdir() if p.read_bytes().startswith(b"a"))
    layer.write_bytes(b"corrupt")  # the layer is bad too: the digest check must come first
    with pytest.raises(ImageDigestMismatch) as exc:
        open_image(tmp_path / "img", ZERO)
    assert (exc.value.expected, exc.value.actual) == (ZERO, digest)
    with pytest.raises(BlobDigestMismatch, match="does not hash"):
        open_image(tmp_path / "img", digest)


def test_docker_archive_digest_and_layers_are_checked(tmp_path):
    write_layout(tmp_path / "img", [tar_bytes(("file", "a", "x"))])
    image_id = docker_archive(tmp_path / "img", tmp_path / "d.tar")
    with pytest.raises(ImageDigestMismatch):
        open_image(tmp_path / "d.tar", ZERO)
    # a layer whose bytes differ from the config's diff_id: refused while unpacking, rootfs removed
    write_layout(
        tmp_path / "img2", [tar_bytes(("file", "a", "y"))], diff_ids=[sha(tar_bytes(("file", "a", "x")))]
    )
    image_id = docker_archive(tmp_path / "img2", tmp_path / "d2.tar")
    with open_image(tmp_path / "d2.tar", image_id) as img, pytest.raises(BlobDigestMismatch, match="diff_id"):
        unpack_image(img, tmp_path / "rootfs")
    assert not (tmp_path / "rootfs").exists()


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "a/../../evil", "a/b/../../../evil"])
def test_path_traversal_is_refused(tmp_path, name):
    with pytest.raises(LayerPathTraversal):
        unpack(tmp_path, tar_bytes(("file", "ok", "1"), ("file", name, "pwned")))
    assert not (tmp_path / "rootfs").exists()
    assert not (tmp_path / "evil").exists() and not Path("/abs/evil").exists()


@pytest.mark.parametrize("target", ["../../..", "../../x", "a/../../../etc/passwd", "/../x"])
def test_symlink_climbing_out_of_the_root_is_refused(tmp_path, target):
    with pytest.raises(LayerLinkEscape, match="leaves the root"):
        unpack(tmp_path, tar_bytes(("dir", "d", b""), ("symlink", "d/link", target)))


def test_absolute_symlinks_stay_inside_the_rootfs(tmp_path):
    host = tmp_path / "host-dir"  # a real host directory a hostile layer aims at
    host.mkdir()
    root = unpack(
        tmp_path,
        tar_bytes(("symlink", "out", str(host)), ("file", "out/pwned", "x"), ("symlink", "etc", "/nowhere")),
        tar_bytes(("file", "etc/passwd", "root::0:0::/:/bin/sh\n")),
    )
    assert not (host / "pwned").exists()
    assert (root / str(host).lstrip("/") / "pwned").read_text() == "x"  # written inside the rootfs
    assert (root / "nowhere/passwd").is_file()  # through /etc -> /nowhere, resolved in the rootfs
    assert os.readlink(root / "out") == str(host)  # the link itself is kept for the sandbox


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ((("hardlink", "h", "../../etc/passwd"),), LayerPathTraversal),
        ((("hardlink", "h", "/etc/passwd"),), LayerPathTraversal),
        ((("hardlink", "h", "missing"),), LayerLinkEscape),
        ((("symlink", "l", "/etc"), ("hardlink", "h", "l/passwd")), LayerLinkEscape),
        ((("dir", "d", b""), ("hardlink", "h", "d")), LayerLinkEscape),
    ],
)
def test_hard_links_must_name_a_file_of_the_rootfs(tmp_path, members, error):
    before = os.stat("/etc/passwd").st_nlink
    with pytest.raises(error):
        unpack(tmp_path, tar_bytes(*members))
    assert os.stat("/etc/passwd").st_nlink == before


def test_hard_link_to_a_file_of_a_lower_layer(tmp_path):
    root = unpack(tmp_path, tar_bytes(("file", "a", "data")), tar_bytes(("hardlink", "b", "a")))
    assert (root / "b").read_text() == "data" and os.stat(root / "a").st_nlink == 2


def test_whiteouts_remove_lower_entries_only(tmp_path):
    lower = tar_bytes(
        ("file", "a/x", "1"),
        ("file", "a/y", "2"),
        ("file", "b", "3"),
        ("file", "c/k", "4"),
        ("file", "c/old", "5"),
    )
    upper = tar_bytes(
        ("file", "a/.wh.x", ""),
        ("file", ".wh.b", ""),
        ("file", "c/new", "6"),  # before the opaque marker in the tar: still kept
        ("file", "c/.wh..wh..opq", ""),
        ("file", ".wh.never-existed", ""),
    )
    root = unpack(tmp_path, lower, upper)
    assert sorted(os.listdir(root / "a")) == ["y"]
    assert not (root / "b").exists()
    assert sorted(os.listdir(root / "c")) == ["new"]
    assert not any(n.startswith(".wh.") for _, _, files in os.walk(root) for n in files)


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ((("file", ".wh..", ""),), "malformed"),
        ((("file", "a/.wh.", ""),), "malformed"),
        ((("file", ".wh..wh.x", ""),), "malformed"),
        ((("file", "z", "1"), ("file", ".wh.z", "")), "its own layer"),
    ],
)
def test_whiteout_abuse_is_refused(tmp_path, members, match):
    with pytest.raises(LayerWhiteoutError, match=match):
        unpack(tmp_path, tar_bytes(("file", "keep", "1")), tar_bytes(*members))


def test_gzip_bomb_stops_at_the_limit(tmp_path):
    bomb = gz(tar_bytes(("file", "zeros", bytes(64 << 20))))
    assert len(bomb) < 1 << 20
    with pytest.raises(LayerTooLarge, match="more than"):
        unpack(tmp_path, bomb, media=TGZ, limits=UnpackLimits(max_bytes=8 << 20))
    assert not (tmp_path / "rootfs").exists()


def test_entry_count_is_capped(tmp_path):
    many = tar_bytes(*(("file", f"f{i}", "") for i in range(50)))
    with pytest.raises(LayerTooLarge, match="entries"):
        unpack(tmp_path, many, limits=UnpackLimits(max_entries=20))


def test_unsupported_and_malformed_layers(tmp_path):
    zstd = b"\x28\xb5\x2f\xfd" + bytes(60)
    with pytest.raises(UnsupportedImage, match="zstd"):
        unpack(tmp_path / "z", zstd, diff_ids=[ZERO])
    with pytest.raises(LayerError, match="not gzip"):
        unpack(tmp_path / "g", tar_bytes(("file", "a", "1")), media=TGZ)
    with pytest.raises(LayerError, match="not a valid tar|not a directory"):
        unpack(tmp_path / "t", tar_bytes(("file", "a", "1"), ("file", "a/b", "2")))
    with pytest.raises(UnsupportedImage, match="media type"):
        unpack(tmp_path / "m", tar_bytes(("file", "a", "1")), media="application/vnd.example+zip")
    with pytest.raises(UnsupportedImage, match="neither an Entrypoint nor a Cmd"):
        unpack(tmp_path / "e", tar_bytes(("file", "a", "1")), config={"config": {}})


def test_fifos_are_skipped(tmp_path):
    digest = write_layout(tmp_path / "img", [tar_bytes(("fifo", "p", b""), ("file", "s", "x"))])
    with open_image(tmp_path / "img", digest) as img:
        report = unpack_image(img, tmp_path / "rootfs")
    assert report.skipped == ["/p"] and not (tmp_path / "rootfs/p").exists()


def test_unpack_refuses_a_non_empty_target(tmp_path):
    digest = write_layout(tmp_path / "img", [tar_bytes(("file", "a", "1"))])
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs/keep").write_text("mine")
    with open_image(tmp_path / "img", digest) as img, pytest.raises(LayerError, match="not an empty"):
        unpack_image(img, tmp_path / "rootfs")
    assert (tmp_path / "rootfs/keep").read_text() == "mine"


def test_cli_unpack(tmp_path, capsys):
    digest = write_layout(tmp_path / "img", [tar_bytes(("file", "a", "1"))])
    assert (
        main(
            ["compute", "image", "unpack", str(tmp_path / "img"), "--digest", ZERO, "-o", str(tmp_path / "r")]
        )
        == 2
    )
    assert "ImageDigestMismatch" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert (
        main(
            [
                "compute",
                "image",
                "unpack",
                str(tmp_path / "img"),
                "--digest",
                digest,
                "-o",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["argv"] == ["/bin/true"] and (tmp_path / "r/a").read_text() == "1"


def test_names_with_a_nul_are_refused():
    with pytest.raises(LayerPathTraversal, match="NUL"):
        clean_name("x\0y")
    with pytest.raises(LayerLinkEscape, match="NUL"):
        link_target(("a",), "b\0")
    assert clean_name("./a//b/.") == ("a", "b")


_COMPONENTS = st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "/"])
_NAMES = st.lists(_COMPONENTS, min_size=1, max_size=4).map("/".join)
_ENTRIES = st.lists(
    st.tuples(st.sampled_from(["file", "dir", "symlink", "hardlink"]), _NAMES, _NAMES), min_size=1, max_size=8
)


@given(layers=st.lists(_ENTRIES, min_size=1, max_size=3))
@settings(max_examples=60, deadline=None)
def test_random_layers_never_write_outside_the_rootfs(layers):
    """Whatever the names, links and whiteouts: a typed refusal, or every path in the rootfs."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside").mkdir()
        (base / "outside" / "sentinel").write_text("host")
        blobs = [
            tar_bytes(
                *((k, n, d if k != "file" else "x") if k != "dir" else (k, n, b"") for k, n, d in entries)
            )
            for entries in layers
        ]
        try:
            unpack(base / "work", *blobs)
        except LayerError:
            assert not (base / "work" / "rootfs").exists()
        else:
            root = base / "work" / "rootfs"
            for path in root.rglob("*"):
                assert os.path.realpath(path.parent).startswith(os.path.realpath(root))
        assert sorted(p.name for p in base.iterdir()) == ["outside", "work"]
        assert [p.name for p in (base / "outside").iterdir()] == ["sentinel"]


def test_multi_platform_index_resolves_to_this_machines_manifest(tmp_path):
    write_layout(tmp_path / "img", [tar_bytes(("file", "mine", "1"))])
    index = json.loads((tmp_path / "img/index.json").read_text())
    mine = {**index["manifests"][0], "platform": {"os": "linux", "architecture": host_arch()}}
    other = {**mine, "platform": {"os": "linux", "architecture": "s390x"}}
    body = canonical_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [other, mine]})
    (tmp_path / "img/blobs/sha256" / sha(body)[7:]).write_bytes(body)
    desc = {"mediaType": MEDIA_INDEX, "digest": sha(body), "size": len(body)}
    (tmp_path / "img/index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    with open_image(tmp_path / "img", sha(body)) as img:
        assert img.digest == sha(body)
        unpack_image(img, tmp_path / "rootfs")
    assert (tmp_path / "rootfs/mine").read_text() == "1"
    only_other = canonical_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [other]})
    (tmp_path / "img/blobs/sha256" / sha(only_other)[7:]).write_bytes(only_other)
    desc = {"mediaType": MEDIA_INDEX, "digest": sha(only_other), "size": len(only_other)}
    (tmp_path / "img/index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    with pytest.raises(UnsupportedImage, match="no manifest for linux"):
        open_image(tmp_path / "img", sha(only_other))
