"""OCI image digests, as registries and ``docker`` report them.

- OCI image layout (a directory or a tarball with ``oci-layout`` and ``index.json``, which is also
  what ``docker save`` writes since Docker 25): the digest of the manifest (or image index) that
  ``index.json`` points at; this is the ``sha256:...`` a registry serves and ``docker pull`` prints.
- Legacy docker-archive tarball (``manifest.json`` only): the image ID, i.e. the digest of the
  config blob, which ``docker images --no-trunc`` / ``docker inspect .Id`` print. A registry digest
  cannot be derived from such an archive (layers are stored uncompressed), and the result says so.

Every blob on the path (index, manifest, config, layers) is hashed and checked against its name.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from offchain.compute.codec import load_json
from offchain.compute.errors import ImageError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageDigest:
    digest: str  # sha256:<64 hex>
    kind: str  # "manifest", "index" or "config" (image ID of a legacy docker-archive)
    media_type: str | None
    ref: str | None

    @property
    def raw(self) -> bytes:
        return bytes.fromhex(self.digest.split(":", 1)[1])

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "media_type": self.media_type, "ref": self.ref}


def parse_digest(text: str) -> bytes:
    if not isinstance(text, str) or not _DIGEST.match(text):
        raise ImageError(f"not a sha256 digest: {text!r}")
    return bytes.fromhex(text[7:])


class Source:
    """Uniform read access to a directory or a tar archive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if path.is_file():
            try:
                self.tar = tarfile.open(path)  # noqa: SIM115 - closed in close()
            except (tarfile.TarError, OSError) as exc:
                detail = " ".join(str(exc).split())  # tarfile lists one line per compression tried
                raise ImageError(f"{path} is neither a directory nor a tar archive: {detail}") from exc
            for m in self.tar.getmembers():
                if m.isfile():
                    self.members[m.name.removeprefix("./")] = m
        elif not path.is_dir():
            raise ImageError(f"{path} does not exist")

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def exists(self, name: str) -> bool:
        return name in self.members if self.tar is not None else (self.path / name).is_file()

    def open(self, name: str) -> IO[bytes]:
        if self.tar is not None:
            if name not in self.members:
                raise ImageError(f"{name} is missing from the archive")
            fh = self.tar.extractfile(self.members[name])
            if fh is None:
                raise ImageError(f"{name} is not a regular file")
            return fh
        try:
            return (self.path / name).open("rb")
        except OSError as exc:
            raise ImageError(f"cannot read {name}: {exc}") from exc

    def read(self, name: str, limit: int = 1 << 22) -> bytes:
        with self.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"{name} is larger than {limit} bytes")
        return data

    def sha256(self, name: str) -> str:
        h = hashlib.sha256()
        with self.open(name) as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
        return "sha256:" + h.hexdigest()


def _json(data: bytes, what: str) -> Any:
    return load_json(data, what, ImageError)


def _blob_name(digest: str) -> str:
    parse_digest(digest)
    return "blobs/sha256/" + digest[7:]


def _checked_blob(src: Source, desc: Any, what: str) -> None:
    """Verify a descriptor's blob: present, hashes to its digest, has the declared size."""
    if not isinstance(desc, dict) or "digest" not in desc:
        raise ImageError(f"{what}: descriptor without a digest")
    name = _blob_name(desc["digest"])
    if not src.exists(name):
        raise ImageError(f"{what}: blob {desc['digest']} is missing")
    if src.sha256(name) != desc["digest"]:
        raise ImageError(f"{what}: blob content does not hash to {desc['digest']}")
    if "size" in desc:
        size = src.members[name].size if src.tar is not None else (src.path / name).stat().st_size
        if size != desc["size"]:
            raise ImageError(f"{what}: blob size {size} is not the declared {desc['size']}")


def _walk(src: Source, desc: dict[str, Any], what: str) -> None:
    """Check a manifest or index blob and everything it references."""
    _checked_blob(src, desc, what)
    body = _json(src.read(_blob_name(desc["digest"])), what)
    if not isinstance(body, dict):
        raise ImageError(f"{what} is not a JSON object")
    if body.get("mediaType", desc.get("mediaType")) in INDEX_TYPES or "manifests" in body:
        children = body.get("manifests")
        if not isinstance(children, list):
            raise ImageError(f"{what}: index without manifests")
        for i, child in enumerate(children):
            if isinstance(child, dict) and src.exists(_blob_name(child.get("digest", ""))):
                _walk(src, child, f"{what}.manifests[{i}]")
        return
    _checked_blob(src, body.get("config"), f"{what}.config")
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{what}: manifest without layers")
    for i, layer in enumerate(layers):
        _checked_blob(src, layer, f"{what}.layers[{i}]")


def _ref(desc: dict[str, Any]) -> str | None:
    ann = desc.get("annotations") or {}
    return ann.get("org.opencontainers.image.ref.name") or ann.get("io.containerd.image.name")


def _oci_layout(src: Source, ref: str | None) -> ImageDigest:
    layout = _json(src.read("oci-layout"), "oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise ImageError("unsupported oci-layout version")
    index = _json(src.read("index.json"), "index.json")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise ImageError("index.json lists no manifests")
    if ref is not None:
        manifests = [m for m in manifests if isinstance(m, dict) and _ref(m) == ref]
        if not manifests:
            raise ImageError(f"no image named {ref!r} in index.json")
    if len(manifests) != 1:
        names = [_ref(m) for m in manifests if isinstance(m, dict)]
        raise ImageError(f"index.json lists {len(manifests)} images {names}; choose one with a ref")
    desc = manifests[0]
    _walk(src, desc, "image")
    kind = "index" if desc.get("mediaType") in INDEX_TYPES else "manifest"
    return ImageDigest(desc["digest"], kind, desc.get("mediaType"), _ref(desc))


def _docker_archive(src: Source, ref: str | None) -> ImageDigest:
    entries = _json(src.read("manifest.json"), "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ImageError("manifest.json lists no images")
    if ref is not None:
        entries = [e for e in entries if isinstance(e, dict) and ref in (e.get("RepoTags") or [])]
    if len(entries) != 1 or not isinstance(entries[0], dict):
        raise ImageError(f"manifest.json has {len(entries)} matching images; choose one with a ref")
    entry = entries[0]
    config = entry.get("Config")
    if not isinstance(config, str):
        raise ImageError("manifest.json entry lacks Config")
    digest = src.sha256(config)
    stem = config.removesuffix(".json").rsplit("/", 1)[-1]
    if re.fullmatch(r"[0-9a-f]{64}", stem) and stem != digest[7:]:
        raise ImageError(f"config {config} does not hash to its name")
    for layer in entry.get("Layers") or []:
        if not isinstance(layer, str) or not src.exists(layer):
            raise ImageError(f"layer {layer!r} is missing")
    tags = entry.get("RepoTags") or []
    return ImageDigest(digest, "config", None, ref or (tags[0] if tags else None))


def image_digest(path: str | Path, ref: str | None = None) -> ImageDigest:
    """Digest of the image in an OCI layout (directory or tar) or a docker-archive tarball."""
    src = Source(Path(path))
    try:
        handler: Callable[[Source, str | None], ImageDigest]
        if src.exists("oci-layout") and src.exists("index.json"):
            handler = _oci_layout
        elif src.exists("manifest.json"):
            handler = _docker_archive
        else:
            raise ImageError(f"{path}: neither an OCI image layout nor a docker-archive")
        return handler(src, ref)
    finally:
        src.close()
