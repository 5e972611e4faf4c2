"""Open an image for running: find it, check its digest against the expected one, verify every blob.

Sources (:func:`open_image`):

- an OCI image layout, a directory or a tar (``oci-layout`` + ``index.json``; also ``docker save``
  since Docker 25): the image digest is the manifest's (or, for a multi-platform image, the index's;
  the manifest for this machine's platform is then chosen from it);
- a legacy docker-archive tar (``manifest.json``): the digest is the image ID, the sha256 of the
  config, whose ``rootfs.diff_ids`` then bind every (uncompressed) layer;
- a registry-style blob store, a directory holding only ``blobs/sha256/<hex>``: the expected digest
  names the manifest (or index) blob directly.

Order of checks: the manifest (or config, for a docker-archive) is read and hashed first and
compared with the expected digest, so a wrong image is refused with :class:`ImageDigestMismatch`
before any layer is read; then the config and every layer blob are hashed against their
descriptors (:class:`BlobDigestMismatch`). A layer's uncompressed content is checked against the
config's ``diff_id`` while it is unpacked (:mod:`offchain.compute.unpack`).
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from offchain.compute.codec import load_json
from offchain.compute.errors import BlobDigestMismatch, ImageDigestMismatch, ImageError, UnsupportedImage
from offchain.compute.oci import CHUNK, INDEX_TYPES, Source, parse_digest

MAX_JSON = 4 << 20
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "tar",
}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class ImageConfig:
    """What the executor takes from an image's config: the command, environment and directory."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    @classmethod
    def from_json(cls, config: Any) -> ImageConfig:
        if not isinstance(config, dict):
            raise UnsupportedImage("image config is not a JSON object")
        c = config.get("config") or {}
        if not isinstance(c, dict):
            raise UnsupportedImage("image config's 'config' is not an object")

        def strings(key: str) -> tuple[str, ...]:
            v = c.get(key) or []
            if not isinstance(v, list) or not all(isinstance(x, str) and "\0" not in x for x in v):
                raise UnsupportedImage(f"image config {key} must be a list of strings")
            return tuple(v)

        wd = c.get("WorkingDir") or "/"
        if not isinstance(wd, str) or not wd.startswith("/"):
            raise UnsupportedImage(f"image WorkingDir must be an absolute path, not {wd!r}")
        env = strings("Env")
        if any("=" not in e for e in env):
            raise UnsupportedImage("image Env entries must be NAME=VALUE")
        out = cls(strings("Entrypoint"), strings("Cmd"), env, wd)
        if not out.argv:
            raise UnsupportedImage("image has neither an Entrypoint nor a Cmd")
        return out


@dataclass(frozen=True)
class LayerRef:
    name: str  # path of the blob inside the source
    compression: str  # "gzip", "tar" or "auto" (sniffed: docker-archive layers)
    diff_id: str  # sha256 of the uncompressed tar, from the config


class OpenedImage:
    """A verified image, its source kept open to stream layers from. Use as a context manager."""

    def __init__(self, src: Source, digest: str, kind: str, config: ImageConfig, layers: list[LayerRef]):
        self.src, self.digest, self.kind, self.config, self.layers = src, digest, kind, config, layers

    @property
    def raw_digest(self) -> bytes:
        return parse_digest(self.digest)

    def open_layer(self, layer: LayerRef) -> IO[bytes]:
        return self.src.open(layer.name)

    def close(self) -> None:
        self.src.close()

    def __enter__(self) -> OpenedImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(src: Source, digest: Any, what: str) -> str:
    if not isinstance(digest, str):
        raise ImageError(f"{what}: descriptor without a digest")
    try:
        parse_digest(digest)
    except ImageError as exc:
        raise UnsupportedImage(f"{what}: {exc} (only sha256 digests are supported)") from exc
    name = "blobs/sha256/" + digest[7:]
    if not src.exists(name):
        raise ImageError(f"{what}: blob {digest} is missing")
    return name


def _read_checked(src: Source, desc: Any, what: str) -> bytes:
    """A small JSON blob, hashed and size-checked against its descriptor."""
    if not isinstance(desc, dict):
        raise ImageError(f"{what}: descriptor is not an object")
    name = _blob(src, desc.get("digest"), what)
    data = src.read(name, MAX_JSON)
    if _sha(data) != desc["digest"]:
        raise BlobDigestMismatch(f"{what}: blob does not hash to {desc['digest']}")
    if "size" in desc and desc["size"] != len(data):
        raise BlobDigestMismatch(f"{what}: blob size {len(data)} is not the declared {desc['size']}")
    return data


def _stream_check(src: Source, name: str, digest: str, size: int | None, what: str) -> None:
    h, n = hashlib.sha256(), 0
    with src.open(name) as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
            n += len(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise BlobDigestMismatch(f"{what}: blob does not hash to {digest}")
    if size is not None and size != n:
        raise BlobDigestMismatch(f"{what}: blob size {n} is not the declared {size}")


def _json(data: bytes, what: str) -> Any:
    return load_json(data, what, ImageError)


def _check_expected(expected: str | None, actual: str) -> None:
    if expected is not None and expected != actual:
        raise ImageDigestMismatch(expected, actual)


def _platform_manifest(src: Source, index: dict[str, Any], what: str) -> dict[str, Any]:
    arch = _ARCH.get(platform.machine(), platform.machine())
    for i, m in enumerate(index.get("manifests") or []):
        p = m.get("platform") if isinstance(m, dict) else None
        if isinstance(p, dict) and p.get("os") == "linux" and p.get("architecture") == arch:
            return _json(_read_checked(src, m, f"{what}.manifests[{i}]"), f"{what}.manifests[{i}]")
    raise UnsupportedImage(f"{what}: no manifest for linux/{arch}")


def _from_manifest(src: Source, body: Any, digest: str, kind: str) -> OpenedImage:
    if isinstance(body, dict) and (body.get("mediaType") in INDEX_TYPES or "manifests" in body):
        body = _platform_manifest(src, body, "index")
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ImageError("manifest without layers")
    config = _json(_read_checked(src, body.get("config"), "config"), "config")
    diff_ids = ((config.get("rootfs") or {}) if isinstance(config, dict) else {}).get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(body["layers"]):
        raise ImageError("config rootfs.diff_ids does not list one digest per manifest layer")
    layers = []
    for i, (desc, diff_id) in enumerate(zip(body["layers"], diff_ids, strict=True)):
        what = f"layers[{i}]"
        if not isinstance(desc, dict):
            raise ImageError(f"{what}: descriptor is not an object")
        if desc.get("urls"):
            raise UnsupportedImage(f"{what}: foreign layers (urls) are not fetched")
        comp = LAYER_TYPES.get(desc.get("mediaType", ""))
        if comp is None:
            raise UnsupportedImage(f"{what}: layer media type {desc.get('mediaType')!r} is not supported")
        name = _blob(src, desc.get("digest"), what)
        size = desc.get("size")
        _stream_check(src, name, desc["digest"], size if isinstance(size, int) else None, what)
        parse_digest(diff_id)
        layers.append(LayerRef(name, comp, diff_id))
    return OpenedImage(src, digest, kind, ImageConfig.from_json(config), layers)


def _oci_layout(src: Source, expected: str | None, ref: str | None) -> OpenedImage:
    layout = _json(src.read("oci-layout"), "oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise UnsupportedImage("unsupported oci-layout version")
    index = _json(src.read("index.json"), "index.json")
    descs = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(descs, list) or not descs or not all(isinstance(d, dict) for d in descs):
        raise ImageError("index.json lists no manifests")
    if ref is not None:
        descs = [
            d for d in descs if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref
        ]
        if not descs:
            raise ImageError(f"no image named {ref!r} in index.json")
    if len(descs) > 1 and expected is not None:
        descs = [d for d in descs if d.get("digest") == expected] or descs
    if len(descs) != 1:
        raise ImageError(f"index.json lists {len(descs)} images; choose one with a ref or the digest")
    desc = descs[0]
    name = _blob(src, desc.get("digest"), "image")
    data = src.read(name, MAX_JSON)
    actual = _sha(data)
    _check_expected(expected, actual)  # before anything else of the image is read
    if actual != desc["digest"] or desc.get("size", len(data)) != len(data):
        raise BlobDigestMismatch(f"image: manifest blob does not match its descriptor {desc['digest']}")
    return _from_manifest(src, _json(data, "manifest"), actual, "oci")


def _blob_store(src: Source, expected: str | None) -> OpenedImage:
    if expected is None:
        raise ImageError("a blob store holds many blobs: the expected digest names the image's manifest")
    name = _blob(src, expected, "image")
    data = src.read(name, MAX_JSON)
    _check_expected(expected, _sha(data))
    return _from_manifest(src, _json(data, "manifest"), expected, "blobs")


def _docker_archive(src: Source, expected: str | None, ref: str | None) -> OpenedImage:
    entries = _json(src.read("manifest.json"), "manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ImageError("manifest.json is not a list of images")
    if ref is not None:
        entries = [e for e in entries if ref in (e.get("RepoTags") or [])]
    if len(entries) != 1:
        raise ImageError(f"manifest.json has {len(entries)} matching images; choose one with a ref")
    entry = entries[0]
    config_name, layer_names = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise ImageError("manifest.json entry lacks Config or Layers")
    data = src.read(config_name, MAX_JSON)
    actual = _sha(data)
    _check_expected(expected, actual)
    config = _json(data, "config")
    diff_ids = ((config.get("rootfs") or {}) if isinstance(config, dict) else {}).get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
        raise ImageError("config rootfs.diff_ids does not list one digest per layer")
    layers = []
    for name, diff_id in zip(layer_names, diff_ids, strict=True):
        if not isinstance(name, str) or not src.exists(name):
            raise ImageError(f"layer {name!r} is missing")
        parse_digest(diff_id)
        layers.append(LayerRef(name, "auto", diff_id))  # checked against diff_id while unpacked
    return OpenedImage(src, actual, "docker-archive", ImageConfig.from_json(config), layers)


def open_image(path: str | Path, expected: str | None, *, ref: str | None = None) -> OpenedImage:
    """Open, check and verify the image at ``path``. ``expected`` (``sha256:<hex>``, from the on-chain
    registry) must equal the image's digest, else :class:`ImageDigestMismatch` before any layer is
    read; ``None`` accepts any digest (for inspection only: the executor always passes one)."""
    if expected is not None:
        parse_digest(expected)
    src = Source(Path(path))
    try:
        if src.exists("oci-layout") and src.exists("index.json"):
            return _oci_layout(src, expected, ref)
        if src.exists("manifest.json"):
            return _docker_archive(src, expected, ref)
        if src.tar is None and (Path(path) / "blobs" / "sha256").is_dir():
            return _blob_store(src, expected)
        raise ImageError(f"{path}: neither an OCI image layout, a docker-archive nor a blob store")
    except BaseException:
        src.close()
        raise
