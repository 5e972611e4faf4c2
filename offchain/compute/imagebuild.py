"""Build a small, reproducible OCI image from a directory (``eigen compute image build``).

The image is an OCI image layout (a directory, or a tar of one): ``oci-layout``, ``index.json``, one
manifest, one config and one or two layers:

1. the interpreter layer (only when needed): host files at their host paths, each copied as a regular
   file (symbolic links dereferenced): the script's ``#!`` interpreter, every ``--interpreter-layer``
   executable, and the shared libraries and loader that ``ldd`` lists for each of them and for a
   dynamically linked entry. For a ``#!/bin/sh`` script that is the host's ``/bin/sh`` (dash on
   Debian, or busybox) with libc and the loader, about 2 MiB. A Python script needs its standard
   library too, which is not packed: give such an image a static binary or a shell script instead.
2. the application layer: the directory's files under ``/app``.

Reproducible: entries sorted by name, mtime 0, uid/gid 0 with empty names, modes normalised to 0755
(directories and executables) or 0644, PAX format; gzip with mtime 0, no file name and level 9; JSON
written with sorted keys and no spaces. The same directory and host files give the same digest byte
for byte (``--compression none`` makes it independent of the host's zlib too).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from offchain import native
from offchain.compute.errors import ImageBuildError
from offchain.compute.oci import image_digest
from offchain.errors import NativeError

APP_DIR = "/app"
MTIME = 0
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_arch() -> str:
    """The OCI architecture name of this machine (``amd64``, ``arm64``...)."""
    m = platform.machine()
    return _ARCH.get(m, m)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class _Entry:
    kind: str  # "dir", "file", "symlink"
    mode: int = 0o755
    data: bytes = b""
    target: str = ""


def deterministic_tar(entries: dict[str, _Entry]) -> bytes:
    """A tar of ``entries`` (name without leading slash -> entry), byte-identical for equal input.
    Parent directories are added as 0755 entries."""
    full = dict(entries)
    for name in entries:
        for parent in PurePosixPath(name).parents:
            if str(parent) != ".":
                full.setdefault(str(parent), _Entry("dir"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(full):
            e = full[name]
            info = tarfile.TarInfo(name + "/" if e.kind == "dir" else name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "", ""
            info.mode = e.mode
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, e.target, 0o777
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def _compress(tar_bytes: bytes, compression: str) -> bytes:
    if compression == "none":
        return tar_bytes
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=out, mtime=0) as gz:
        gz.write(tar_bytes)
    return out.getvalue()


def _norm_mode(st_mode: int) -> int:
    return 0o755 if st_mode & 0o111 else 0o644


def _app_entries(src: Path) -> dict[str, _Entry]:
    """The directory's files under app/: regular files, directories and links that stay inside."""
    entries: dict[str, _Entry] = {APP_DIR.lstrip("/"): _Entry("dir")}
    root = src.resolve()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src).as_posix()
        name = f"{APP_DIR.lstrip('/')}/{rel}"
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            resolved = os.path.normpath(os.path.join(os.path.dirname(str(path.absolute())), target))
            if os.path.isabs(target) or not (resolved + "/").startswith(str(src.absolute()) + "/"):
                raise ImageBuildError(f"{path}: the link to {target!r} leaves {src}")
            entries[name] = _Entry("symlink", target=target)
        elif stat.S_ISDIR(st.st_mode):
            entries[name] = _Entry("dir")
        elif stat.S_ISREG(st.st_mode):
            entries[name] = _Entry("file", _norm_mode(st.st_mode), path.read_bytes())
        else:
            raise ImageBuildError(f"{path} is not a regular file, directory or link")
    if not root.is_dir():
        raise ImageBuildError(f"{src} is not a directory")
    return entries


_LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(\S+)?\s*(?:\(0x[0-9a-f]+\))?\s*$")


def is_elf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"\x7fELF"


def shared_libraries(path: Path) -> list[str]:
    """The absolute paths of the shared objects (and the loader) a dynamic ELF needs, from ``ldd``
    (which loads, but does not run, the program); [] for a static binary."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise ImageBuildError(f"{path} is dynamically linked and ldd is not installed to list its libraries")
    proc = subprocess.run(
        [ldd, str(path)], capture_output=True, text=True, env={"LC_ALL": "C", "PATH": os.defpath}, check=False
    )
    text = proc.stdout + proc.stderr
    if "not a dynamic executable" in text or "statically linked" in text:
        return []
    if proc.returncode != 0:
        raise ImageBuildError(f"ldd {path} failed: {text.strip()}")
    libs: list[str] = []
    for line in proc.stdout.splitlines():
        if "not found" in line:
            raise ImageBuildError(f"{path}: a library is missing on this host: {line.strip()}")
        m = _LDD_LINE.match(line)
        if m and m.group(2) and m.group(2).startswith("/"):
            libs.append(m.group(2))
    return libs


def shared_libraries_many(paths: list[Path]) -> tuple[dict[str, list[str]], list[str]]:
    """:func:`shared_libraries` of many ELF files in one ``ldd`` run: (path -> libraries, the
    ``ldd`` lines of libraries missing on this host, as "file: line")."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise ImageBuildError("ldd is not installed to list the libraries of the shared objects")
    names = [str(p) for p in paths]
    if len(names) < 2:  # one file prints no "file:" header
        names.append("/bin/sh")
    proc = subprocess.run(
        [ldd, *names], capture_output=True, text=True, env={"LC_ALL": "C", "PATH": os.defpath}, check=False
    )
    libs: dict[str, list[str]] = {}
    missing: list[str] = []
    current: str | None = None
    for line in proc.stdout.splitlines():
        if not line.startswith(("\t", " ")) and line.endswith(":") and line[:-1] in names:
            current = line[:-1]
            libs[current] = []
            continue
        if current is None:
            continue
        if "not found" in line:
            missing.append(f"{current}: {line.strip()}")
            continue
        m = _LDD_LINE.match(line)
        if m and m.group(2) and m.group(2).startswith("/"):
            libs[current].append(m.group(2))
    return {str(p): libs.get(str(p), []) for p in paths}, missing


def host_closure(path: str) -> dict[str, Path]:
    """An executable of this host and everything it needs to start: image path -> host file."""
    if not path.startswith("/"):
        found = shutil.which(path)
        if found is None:
            raise ImageBuildError(f"interpreter {path!r} is not on this host's PATH")
        path = found
    host = Path(path)
    if not host.is_file() or not os.access(host, os.X_OK):
        raise ImageBuildError(f"interpreter {path} is not an executable file on this host")
    files = {path: host.resolve()}
    if is_elf(host):
        for lib in shared_libraries(host):
            files[lib] = Path(lib).resolve()
    return files


def _shebang(data: bytes) -> str | None:
    if not data.startswith(b"#!"):
        return None
    line = data[2:].split(b"\n", 1)[0].decode(errors="replace").strip()
    interp = line.split()[0] if line.split() else ""
    if not interp.startswith("/"):
        raise ImageBuildError(f"the #! line names {interp!r}: an absolute interpreter path is needed")
    if PurePosixPath(interp).name == "env":
        raise ImageBuildError(
            "a #!/usr/bin/env line looks its interpreter up at run time: name the interpreter's absolute "
            "path in the #! line instead"
        )
    return interp


@dataclass(frozen=True)
class BuiltImage:
    digest: str
    out: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    layers: tuple[str, ...] = field(default=())  # "interpreter", "app"
    size: int = 0  # bytes of the layout's files (blobs, index.json, oci-layout)

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "out": str(self.out),
            "layers": list(self.layers),
            "bytes": self.size,
            "entrypoint": self.config["config"]["Entrypoint"],
        }


def _pick_entrypoint(src: Path, entrypoint: str | None) -> str:
    if entrypoint is not None:
        if entrypoint.startswith("/"):
            return entrypoint
        p = PurePosixPath(entrypoint)
        if ".." in p.parts or not (src / entrypoint).is_file():
            raise ImageBuildError(f"--entrypoint {entrypoint!r} is not a file in {src}")
        return f"{APP_DIR}/{p.as_posix()}"
    execs = sorted(
        p.name for p in src.iterdir() if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK)
    )
    if len(execs) != 1:
        raise ImageBuildError(
            f"{src} holds {len(execs)} executable files {execs}; name the entry with --entrypoint"
        )
    return f"{APP_DIR}/{execs[0]}"


def build_image(
    src: str | Path,
    out: str | Path,
    *,
    entrypoint: str | None = None,
    cmd: list[str] | None = None,
    env: list[str] | None = None,
    workdir: str = APP_DIR,
    interpreters: list[str] | None = None,
    compression: str = "gzip",
    ref: str | None = None,
) -> BuiltImage:
    """Build the image of directory ``src`` into ``out`` (a directory, or a tar when it ends in
    ``.tar``) and return its digest, checked with :func:`offchain.compute.oci.image_digest`."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ImageBuildError(f"{src} is not a directory")
    check_env(env)
    if not workdir.startswith("/"):
        raise ImageBuildError(f"--workdir must be absolute, not {workdir!r}")
    entry = _pick_entrypoint(src, entrypoint)
    app = _app_entries(src)
    needed: dict[str, Path] = {}
    for interp in interpreters or []:
        needed.update(host_closure(interp))
    if entry.startswith(APP_DIR + "/"):
        entry_file = src / entry[len(APP_DIR) + 1 :]
        head = entry_file.read_bytes()[:4096]
        interp = _shebang(head)
        if interp is not None and interp not in needed:
            needed.update(host_closure(interp))
        if head.startswith(b"\x7fELF"):
            for lib in shared_libraries(entry_file):
                needed.setdefault(lib, Path(lib).resolve())
    layers: list[tuple[str, bytes]] = []
    if needed:
        layers.append(("interpreter", deterministic_tar(host_file_entries(needed))))
    layers.append(("app", deterministic_tar(app)))
    envs = list(env or [])
    if not any(e.startswith("PATH=") for e in envs):
        envs.insert(0, DEFAULT_PATH)
    run = {"Entrypoint": [entry], "Cmd": list(cmd or []), "Env": envs, "WorkingDir": workdir}
    return write_image(out, layers, run, compression=compression, ref=ref)


def check_compression(compression: str) -> None:
    if compression not in MEDIA_LAYER:
        raise ImageBuildError(f"compression must be one of {sorted(MEDIA_LAYER)}, not {compression!r}")


def check_env(env: list[str] | tuple[str, ...] | None) -> None:
    """Every ``env`` item must be ``NAME=VALUE``."""
    for item in env or []:
        if "=" not in item or item.startswith("="):
            raise ImageBuildError(f"--env {item!r} is not NAME=VALUE")


def host_file_entries(files: dict[str, Path]) -> dict[str, _Entry]:
    """Layer entries of host files: image path -> host file, copied as a regular file (links
    dereferenced), mode normalised."""
    return {
        p.lstrip("/"): _Entry("file", _norm_mode(h.stat().st_mode), h.read_bytes()) for p, h in files.items()
    }


def write_image(
    out: Path,
    layers: list[tuple[str, bytes]],
    run: dict[str, Any],
    *,
    compression: str = "gzip",
    ref: str | None = None,
) -> BuiltImage:
    """Write the OCI layout of ``layers`` (name, uncompressed tar) with ``run`` as the config's
    ``config`` (Entrypoint, Cmd, Env, WorkingDir) to ``out``; return it, its digest read back."""
    check_compression(compression)
    blobs: dict[str, bytes] = {}
    layer_descs, diff_ids = [], []
    for _, tar_bytes in layers:
        blob = _compress(tar_bytes, compression)
        blobs[_sha(blob)] = blob
        layer_descs.append({"mediaType": MEDIA_LAYER[compression], "digest": _sha(blob), "size": len(blob)})
        diff_ids.append(_sha(tar_bytes))
    config = {
        "architecture": host_arch(),
        "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_blob = canonical_json(config)
    blobs[_sha(config_blob)] = config_blob
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": _sha(config_blob), "size": len(config_blob)},
        "layers": layer_descs,
    }
    manifest_blob = canonical_json(manifest)
    digest = _sha(manifest_blob)
    blobs[digest] = manifest_blob
    desc: dict[str, Any] = {"mediaType": MEDIA_MANIFEST, "digest": digest, "size": len(manifest_blob)}
    if ref is not None:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    layout = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [desc]}),
        **{f"blobs/sha256/{d[7:]}": b for d, b in blobs.items()},
    }
    _write_layout(out, layout)
    checked = image_digest(out).digest
    if checked != digest:  # the layout reader and the builder must agree on what was written
        raise ImageBuildError(f"written image reads back as {checked}, not {digest}")
    size = sum(len(b) for b in layout.values())
    return BuiltImage(digest, out, manifest, config, tuple(name for name, _ in layers), size)


def check_out(out: Path) -> None:
    """``out`` must be a new tar path or a missing or empty directory (checked before building)."""
    if out.name.endswith(".tar"):
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImageBuildError(f"{out} exists and is not an empty directory")


def _write_layout(out: Path, files: dict[str, bytes]) -> None:
    try:
        if out.name.endswith(".tar"):
            entries = {name: _Entry("file", 0o644, data) for name, data in files.items()}
            out.write_bytes(deterministic_tar(entries))
            return
        check_out(out)
        for name, data in files.items():
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    except OSError as exc:
        raise ImageBuildError(f"cannot write the image to {out}: {exc.strerror or exc}") from exc


KERNEL_FLAGS = ("-O2", "-static", "-s", "-std=c11", "-Wall", "-Wextra", "-Werror")


def build_kernel_image(source: Path, name: str, out: str | Path, *, ref: str | None = None) -> BuiltImage:
    """Compile the task kernel ``source`` (one C file of a ``kernels/`` folder, libc only, its
    headers beside it) into a static binary ``name`` and build the image of it: one layer,
    ``/app/<name>`` the entrypoint, no interpreter and no libraries (the EigenTrust and trading
    policy tasks). Register it with ``eigen compute deploy``."""
    try:
        cc = native.compiler()
    except NativeError as exc:
        raise ImageBuildError(f"the {name} image needs a C compiler: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix=f"{name}-build-") as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        binary = app / name
        cmd = [cc, *KERNEL_FLAGS, "-o", str(binary), str(source)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ImageBuildError(f"running {cc} failed: {exc}") from exc
        if proc.returncode != 0:
            raise ImageBuildError(
                f"compiling {source.name} failed ({' '.join(cmd)}): {proc.stderr.strip()[-2000:]}"
            )
        return build_image(app, out, entrypoint=name, ref=ref)
