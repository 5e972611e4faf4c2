"""Unpack a verified image's layers into a root filesystem, refusing anything that reaches outside it.

Each layer is streamed (never extracted by ``tarfile``'s own extractor) and every entry checked:

- names: relative, no ``..`` component, no NUL, not empty (:class:`LayerPathTraversal`);
- symbolic links: stored as they are (they are only followed inside the sandbox, where the root is the
  rootfs), but a target that climbs above the root from the link's directory (``../../etc``) is
  refused (:class:`LayerLinkEscape`); absolute targets are read relative to the rootfs;
- parent directories are resolved component by component inside the rootfs, following links with the
  rootfs as ``/`` (never the host's), so no entry is written through a link to a host path; files are
  created with ``O_EXCL | O_NOFOLLOW``;
- hard links: the target must be an existing regular file of the rootfs (:class:`LayerLinkEscape`);
- OCI whiteouts: ``.wh.NAME`` removes NAME of the layers below, ``.wh..wh..opq`` empties its
  directory of what the layers below put there; a whiteout of ``.``/``..``/another whiteout, or of an
  entry of its own layer, is refused (:class:`LayerWhiteoutError`);
- sizes: the decompressed bytes of all layers, the bytes written and the number of entries are capped
  (:class:`LayerTooLarge`), so a gzip bomb stops at the cap, not at the disk's end;
- the decompressed stream must hash to the config's ``diff_id`` (:class:`BlobDigestMismatch`);
- device nodes and FIFOs are skipped (listed in the report); set-user/group-ID bits are dropped and
  owners are not restored (the files belong to the unpacking user; the sandbox runs as another).

On any error the partly unpacked rootfs is removed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from offchain.compute.errors import (
    BlobDigestMismatch,
    LayerError,
    LayerLinkEscape,
    LayerPathTraversal,
    LayerTooLarge,
    LayerWhiteoutError,
    UnsupportedImage,
)
from offchain.compute.image import OpenedImage

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_HOPS = 40
CHUNK = 1 << 16
# Mount points the sandbox needs in every rootfs (created empty when an image lacks them).
MOUNT_POINTS = ("proc", "dev", "tmp", "input")


@dataclass(frozen=True)
class UnpackLimits:
    max_bytes: int = 1 << 30  # decompressed tar bytes of all layers; also the bytes written
    max_entries: int = 200_000  # entries of all layers


@dataclass
class UnpackReport:
    bytes: int = 0  # decompressed tar bytes read
    written: int = 0  # file bytes written
    entries: int = 0
    skipped: list[str] = field(default_factory=list)  # device nodes, FIFOs


class _Budget:
    def __init__(self, limits: UnpackLimits, report: UnpackReport) -> None:
        self.limits, self.report = limits, report

    def read(self, n: int) -> None:
        self.report.bytes += n
        if self.report.bytes > self.limits.max_bytes:
            raise LayerTooLarge(f"layers decompress to more than {self.limits.max_bytes} bytes")

    def write(self, n: int) -> None:
        self.report.written += n
        if self.report.written > self.limits.max_bytes:
            raise LayerTooLarge(f"layers hold more than {self.limits.max_bytes} bytes of files")

    def entry(self) -> None:
        self.report.entries += 1
        if self.report.entries > self.limits.max_entries:
            raise LayerTooLarge(f"layers hold more than {self.limits.max_entries} entries")


class _Metered:
    """A read-only stream that counts (against the budget) and hashes what passes through it."""

    def __init__(self, raw: IO[bytes], budget: _Budget) -> None:
        self.raw, self.budget, self.hash = raw, budget, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.raw.read(CHUNK if n is None or n < 0 else n)
        except (OSError, EOFError, zlib.error) as exc:
            raise LayerError(f"layer does not decompress: {exc}") from exc
        self.budget.read(len(data))
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _Prefixed:
    """``head`` followed by the rest of ``raw`` (to sniff a stream's magic without seeking)."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self.head, self.raw = head, raw

    def read(self, n: int = -1) -> bytes:
        if self.head:
            out = self.head if n is None or n < 0 else self.head[:n]
            self.head = self.head[len(out) :]
            return out
        return self.raw.read(n)


def _decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
    head = raw.read(4)
    stream = _Prefixed(head, raw)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise UnsupportedImage("zstd-compressed layers are not supported")
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[arg-type]
    if compression == "gzip":
        raise LayerError("layer declared gzip is not gzip data")
    return stream  # type: ignore[return-value]


def clean_name(name: str) -> tuple[str, ...]:
    """An archive path as its components, refusing what could leave the root."""
    if "\0" in name:
        raise LayerPathTraversal(f"entry name {name!r} contains a NUL")
    if name.startswith("/"):
        raise LayerPathTraversal(f"entry name {name!r} is absolute")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise LayerPathTraversal(f"entry name {name!r} contains '..'")
    return parts


def link_target(directory: tuple[str, ...], target: str) -> tuple[str, ...]:
    """Where a symbolic link in ``directory`` pointing at ``target`` leads, with the rootfs as ``/``;
    a target that climbs above the root is refused."""
    if "\0" in target or not target:
        raise LayerLinkEscape(f"link target {target!r} is empty or contains a NUL")
    out = [] if target.startswith("/") else list(directory)
    for comp in target.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not out:
                raise LayerLinkEscape(f"link target {target!r} from /{'/'.join(directory)} leaves the root")
            out.pop()
        else:
            out.append(comp)
    return tuple(out)


class _Rootfs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.real = os.path.realpath(root)

    def host(self, parts: tuple[str, ...]) -> Path:
        path = self.root.joinpath(*parts)
        parent = os.path.realpath(path.parent)
        if parent != self.real and not parent.startswith(self.real + os.sep):  # never: checked above
            raise LayerLinkEscape(f"/{'/'.join(parts)} resolves outside the rootfs")
        return path

    def resolve_dir(self, parts: tuple[str, ...], create: bool) -> tuple[str, ...] | None:
        """The real (link-free) path of directory ``parts`` inside the rootfs, following links with
        the rootfs as root; missing directories are created (``create``) or give None."""
        done: list[str] = []
        todo, hops = list(parts), 0
        while todo:
            comp = todo.pop(0)
            path = self.root.joinpath(*done, comp)
            try:
                st = path.lstat()
            except FileNotFoundError:
                if not create:
                    return None
                path.mkdir(mode=0o755)
                done.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_HOPS:
                    raise LayerLinkEscape(f"/{'/'.join(parts)}: too many levels of links")
                todo = list(link_target(tuple(done), os.readlink(path))) + todo
                done = []
            elif stat.S_ISDIR(st.st_mode):
                done.append(comp)
            else:
                raise LayerError(f"/{'/'.join([*done, comp])} is not a directory (in /{'/'.join(parts)})")
        return tuple(done)


def _remove(path: Path) -> None:
    st = path.lstat()
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _exists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


class _Layer:
    def __init__(self, fs: _Rootfs, budget: _Budget, report: UnpackReport) -> None:
        self.fs, self.budget, self.report = fs, budget, report
        self.created: set[tuple[str, ...]] = set()

    def whiteout(self, parts: tuple[str, ...]) -> None:
        directory, base = parts[:-1], parts[-1]
        if base == OPAQUE:
            real = self.fs.resolve_dir(directory, create=True)
            assert real is not None
            host = self.fs.host(real)
            for child in sorted(os.listdir(host)):
                if (*directory, child) not in self.created:
                    _remove(host / child)
            return
        name = base[len(WHITEOUT) :]
        if name in ("", ".", "..") or name.startswith(WHITEOUT):
            raise LayerWhiteoutError(f"malformed whiteout /{'/'.join(parts)}")
        if (*directory, name) in self.created:
            raise LayerWhiteoutError(f"whiteout /{'/'.join(parts)} hides an entry of its own layer")
        real = self.fs.resolve_dir(directory, create=False)
        if real is not None and _exists(self.fs.host((*real, name))):
            _remove(self.fs.host((*real, name)))

    def entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = clean_name(m.name)
        self.budget.entry()
        if not parts:
            return  # the archive's "./" itself
        if parts[-1].startswith(WHITEOUT):
            self.whiteout(parts)
            return
        if not (m.isdir() or m.isreg() or m.issym() or m.islnk()):
            self.report.skipped.append("/" + "/".join(parts))
            return
        real = self.fs.resolve_dir(parts[:-1], create=True)
        assert real is not None
        target = self.fs.host((*real, parts[-1]))
        if m.isdir():
            if _exists(target) and not stat.S_ISDIR(target.lstat().st_mode):
                _remove(target)
            if not _exists(target):
                target.mkdir(mode=0o700)
            os.chmod(target, (m.mode & 0o1777) | 0o700)
        else:
            if _exists(target):
                _remove(target)
            if m.issym():
                link_target(real, m.linkname)
                os.symlink(m.linkname, target)
            elif m.islnk():
                self.hardlink(m.linkname, target)
            else:
                self.file(tar, m, target)
        self.created.add(parts)

    def hardlink(self, linkname: str, target: Path) -> None:
        lparts = clean_name(linkname)
        real = self.fs.resolve_dir(lparts[:-1], create=False) if lparts else None
        src = self.fs.host((*real, lparts[-1])) if real is not None else None
        if src is None or not _exists(src) or not stat.S_ISREG(src.lstat().st_mode):
            raise LayerLinkEscape(f"hard link to {linkname!r}: not a regular file of the rootfs")
        os.link(src, target, follow_symlinks=False)

    def file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, target: Path) -> None:
        src = tar.extractfile(m)
        assert src is not None
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                self.budget.write(len(chunk))
                out.write(chunk)
            os.fchmod(out.fileno(), m.mode & 0o1777)


def apply_layer(
    raw: IO[bytes],
    root: Path,
    *,
    compression: str,
    diff_id: str | None,
    budget: _Budget,
    report: UnpackReport,
) -> None:
    """Apply one layer (a tar, gzip'd or not, as ``raw`` yields it) on top of ``root``."""
    metered = _Metered(_decompressed(raw, compression), budget)
    layer = _Layer(_Rootfs(root), budget, report)
    try:
        with tarfile.open(fileobj=metered, mode="r|") as tar:  # type: ignore[call-overload]
            for m in tar:
                layer.entry(tar, m)
    except tarfile.TarError as exc:
        raise LayerError(f"layer is not a valid tar: {exc}") from exc
    metered.drain()
    got = "sha256:" + metered.hash.hexdigest()
    if diff_id is not None and got != diff_id:
        raise BlobDigestMismatch(f"layer decompresses to {got}, not the config's diff_id {diff_id}")


def prepare_mount_points(root: Path) -> None:
    """Create the sandbox's mount points (/proc, /dev, /tmp, /input) when the image lacks them."""
    for name in MOUNT_POINTS:
        path = root / name
        if not _exists(path):
            path.mkdir(mode=0o755)


def unpack_image(image: OpenedImage, root: str | Path, limits: UnpackLimits | None = None) -> UnpackReport:
    """Unpack ``image`` (from :func:`offchain.compute.image.open_image`) into ``root``, which must not
    exist or be empty. On any error ``root`` is removed."""
    root = Path(root)
    limits = limits or UnpackLimits()
    if _exists(root) and (not root.is_dir() or root.is_symlink() or any(root.iterdir())):
        raise LayerError(f"{root} exists and is not an empty directory")
    root.mkdir(mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)
    report = UnpackReport()
    budget = _Budget(limits, report)
    try:
        for layer in image.layers:
            with image.open_layer(layer) as raw:
                apply_layer(
                    raw,
                    root,
                    compression=layer.compression,
                    diff_id=layer.diff_id,
                    budget=budget,
                    report=report,
                )
        prepare_mount_points(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return report
