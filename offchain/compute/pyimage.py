"""Build a reproducible OCI image that runs ``python3 -m MODULE`` (``eigen compute image build-python``).

The image holds two layers (:mod:`offchain.compute.imagebuild` writes them):

1. ``interpreter``, host files at their host paths: the running interpreter (``sys.executable``
   resolved) with the libraries ``ldd`` lists for it (pyenv's ``libpython``, libc, the loader), its
   standard library (``sysconfig``'s ``stdlib`` and ``lib-dynload``, less ``test``/``tests``
   folders, ``idlelib``, ``tkinter``, ``turtledemo``, ``ensurepip``, ``lib2to3``, ``pydoc_data``, the
   interpreter's own ``site-packages``, ``config-*`` (the static library), ``__pycache__`` and
   ``*.pyc``) and the libraries every packed shared object needs (libssl, libffi, libz...). At
   host paths, the interpreter finds its prefix as it does on the host.
2. ``app``: under ``/app/lib`` (``PYTHONPATH``) the whole top-level package of every module that
   importing MODULE loads from outside the standard library (site-packages, an editable checkout
   such as ``offchain``), with its ``<name>.libs`` folder of vendored libraries and its
   ``.dist-info`` (``METADATA``, ``WHEEL``, ``entry_points.txt``, ``top_level.txt`` and licences
   only: not ``RECORD``, ``direct_url.json``, ``uv_cache.json``..., which hold host paths, hashes and
   install times), less ``test``/``tests`` folders, ``__pycache__`` and ``*.pyc``; plus
   ``extra_packages`` (imported too, so their own imports come along) and ``files`` at their
   ``/app`` paths.

The import closure is found by importing MODULE (and ``extra_packages``) in a child interpreter
with this process's ``sys.path``, then the packages of every distribution the loaded ones declare
as dependencies (``Requires-Dist`` without extras, markers evaluated, transitively; not those of the
distribution that provides MODULE itself, e.g. the project with its development tools), and listing
``sys.modules``: what MODULE imports lazily inside a packed package comes along with the package,
and so does a dependency a package imports lazily (httpx's httpcore); a lazy import of a package
nothing declares does not (name it in ``extra_packages``). Reproducible like :func:`~offchain.compute.imagebuild.build_image`: the
same host and the same virtual environment give the same digest byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from offchain.compute.errors import ImageBuildError
from offchain.compute.imagebuild import (
    APP_DIR,
    DEFAULT_PATH,
    BuiltImage,
    _Entry,
    _norm_mode,
    check_compression,
    check_env,
    check_out,
    deterministic_tar,
    host_closure,
    host_file_entries,
    is_elf,
    shared_libraries_many,
    write_image,
)

__all__ = ["LIB_DIR", "ImageBuildError", "build_python_image", "import_closure"]

LIB_DIR = f"{APP_DIR}/lib"
STDLIB_SKIP = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "site-packages",
        "dist-packages",
        "__pycache__",
    }
)
PACKAGE_SKIP = frozenset({"test", "tests", "__pycache__"})
# What importlib.metadata reads (version, entry points, top-level names) and the licences; not
# RECORD, INSTALLER, REQUESTED, direct_url.json, uv_cache.json...: host paths, hashes and install times
DIST_INFO_KEEP = frozenset({"METADATA", "WHEEL", "entry_points.txt", "top_level.txt"})
DIST_INFO_LICENCES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS", "licenses/")
RUN_ENV = ("PYTHONDONTWRITEBYTECODE=1", "PYTHONHASHSEED=0", "PYTHONUNBUFFERED=1")

# Run in the child interpreter: import the modules, then the packages of every distribution the
# loaded ones require (declared dependencies, without extras: a package often imports its own
# dependencies lazily, as httpx does httpcore), then print where every top-level package of
# sys.modules lives and which distributions provide it.
_PROBE = """
import importlib, importlib.metadata, importlib.util, json, re, sys
paths, names = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path[:] = paths
for name in names:
    importlib.import_module(name)
by_dist = {}
for top, dnames in importlib.metadata.packages_distributions().items():
    for d in dnames:
        by_dist.setdefault(re.sub(r"[-_.]+", "-", d).lower(), set()).add(top)
def loaded_dists():
    tops = {n.partition(".")[0] for n in sys.modules}
    return {d for d, ts in by_dist.items() if ts & tops}
try:
    from packaging.markers import Marker
except ImportError:
    Marker = None
def required(dist):
    try:
        reqs = importlib.metadata.distribution(dist).requires or []
    except importlib.metadata.PackageNotFoundError:
        return set()
    out = set()
    for r in reqs:
        spec, _, marker = r.partition(";")
        if "extra" in marker:
            continue
        if Marker is not None and marker.strip():
            try:
                if not Marker(marker.strip()).evaluate():
                    continue
            except Exception:
                pass  # a marker this packaging cannot read: the dependency is taken
        m = re.match(r"\\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if m:
            out.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return out
own = {d for d, ts in by_dist.items() if ts & {n.partition(".")[0] for n in names}}
def installed(top):
    spec = importlib.util.find_spec(top)
    where = spec and (spec.origin or next(iter(spec.submodule_search_locations or []), None))
    return bool(where) and "site-packages" in where
seen = set(own)
todo = loaded_dists() - own
while todo:
    d = todo.pop()
    if d in seen:
        continue
    seen.add(d)
    for need in required(d):
        for top in sorted(by_dist.get(need, ())):
            if top.isidentifier() and top not in sys.modules and installed(top):
                try:
                    importlib.import_module(top)
                except Exception:
                    pass
        todo |= loaded_dists() - seen - own
tops = {}
for name in sorted(sys.modules):
    top = name.partition(".")[0]
    mod = sys.modules.get(top)
    if top in tops or mod is None:
        continue
    tops[top] = {"file": getattr(mod, "__file__", None), "path": list(getattr(mod, "__path__", None) or [])}
dists = {}
for top, dnames in importlib.metadata.packages_distributions().items():
    if top in tops:
        for d in dnames:
            dist = importlib.metadata.distribution(d)
            where = getattr(dist, "_path", None)
            if where is not None:
                dists.setdefault(top, []).append(str(where))
print(json.dumps({"tops": tops, "dists": dists}))
"""


def _skip_file(name: str) -> bool:
    return name.endswith((".pyc", ".pyo"))


def _walk(root: Path, skip_dirs: Iterable[str], skip_prefix: tuple[str, ...] = ()) -> list[Path]:
    """Regular files under ``root`` (links to files dereferenced), sorted, skipping ``skip_dirs``
    folders and those starting with ``skip_prefix`` (by name, at any depth) and compiled bytecode."""
    skip = set(skip_dirs)
    out = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip and not (skip_prefix and d.startswith(skip_prefix)))
        for name in sorted(files):
            path = Path(here, name)
            if not _skip_file(name) and path.is_file():
                out.append(path)
    return out


def _stdlib_dirs() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dirs = [stdlib]
    for entry in sys.path:
        p = Path(entry).resolve() if entry else None
        if p is not None and p.name == "lib-dynload" and p.is_dir() and not p.is_relative_to(stdlib):
            dirs.append(p)
    return dirs


def import_closure(module: str, extra_packages: Iterable[str] = ()) -> dict[str, object]:
    """Import ``module`` and ``extra_packages`` in a child interpreter with this ``sys.path``:
    ``{"tops": {name: {"file", "path"}}, "dists": {name: [dist-info dirs]}}``."""
    names = [module, *extra_packages]
    for name in names:
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise ImageBuildError(f"{name!r} is not a Python module name")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(sys.path), json.dumps(names)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().rsplit("\n", 1)[-1]
        raise ImageBuildError(f"module {module!r} (or an extra package) is not importable: {tail}")
    try:
        found = json.loads(proc.stdout.strip().rsplit("\n", 1)[-1])
    except ValueError as exc:
        raise ImageBuildError(f"importing {module!r} printed something else than its closure") from exc
    return found  # type: ignore[no-any-return]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(r) for r in roots)


def _app_files(found: dict[str, object], stdlib: list[Path]) -> dict[str, Path]:
    """Image path (under /app/lib) -> host file for every packed top-level package."""
    tops: dict[str, dict[str, object]] = found["tops"]  # type: ignore[assignment]
    dists: dict[str, list[str]] = found["dists"]  # type: ignore[assignment]
    files: dict[str, Path] = {}
    lib = LIB_DIR.lstrip("/")

    def add(image: str, host: Path) -> None:
        files.setdefault(image, host)

    for top in sorted(tops):
        info = tops[top]
        roots = [Path(p).resolve() for p in info["path"]]  # type: ignore[attr-defined]
        file = info["file"]
        if not roots and file:
            roots = [Path(str(file)).resolve()]
        roots = [r for r in roots if r.exists()]
        if not roots or all(_inside(r, stdlib) for r in roots):
            continue  # built in, frozen, or in the standard library (packed whole)
        for root in roots:
            if root.is_dir():
                for f in _walk(root, PACKAGE_SKIP):
                    add(f"{lib}/{top}/{f.relative_to(root).as_posix()}", f)
            else:
                add(f"{lib}/{root.name}", root)
            libs = root.parent / f"{top}.libs"
            if libs.is_dir():
                for f in _walk(libs, ()):
                    add(f"{lib}/{libs.name}/{f.relative_to(libs).as_posix()}", f)
        for where in dists.get(top, []):
            info_dir = Path(where)
            if info_dir.is_dir() and info_dir.name.endswith(".dist-info"):
                for f in _walk(info_dir, ()):
                    rel = f.relative_to(info_dir).as_posix()
                    if rel in DIST_INFO_KEEP or rel.startswith(DIST_INFO_LICENCES):
                        add(f"{lib}/{info_dir.name}/{rel}", f)
    return files


def _extra_files(files: Mapping[str, bytes | str | Path] | None) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for name, value in (files or {}).items():
        p = PurePosixPath(name if name.startswith("/") else f"{APP_DIR}/{name}")
        if ".." in p.parts or not p.is_relative_to(APP_DIR) or p == PurePosixPath(APP_DIR):
            raise ImageBuildError(f"file {name!r} is not a path under {APP_DIR}")
        if p.is_relative_to(LIB_DIR):
            raise ImageBuildError(f"file {name!r} is under {LIB_DIR}, where the packages go")
        if isinstance(value, bytes):
            entries[str(p).lstrip("/")] = _Entry("file", 0o644, value)
            continue
        host = Path(value)
        if not host.is_file():
            raise ImageBuildError(f"file {name!r}: {host} is not a file on this host")
        entries[str(p).lstrip("/")] = _Entry("file", _norm_mode(host.stat().st_mode), host.read_bytes())
    return entries


def build_python_image(
    out: str | Path,
    *,
    module: str,
    files: Mapping[str, bytes | str | Path] | None = None,
    extra_packages: Iterable[str] = (),
    env: Iterable[str] = (),
    compression: str = "none",
    ref: str | None = None,
) -> BuiltImage:
    """Build the image running ``python3 -m module`` into ``out`` (a directory, or a tar when it ends
    in ``.tar``); its ``.digest`` is checked as :func:`~offchain.compute.imagebuild.build_image`'s.
    ``files``: image path under /app (or relative to it) -> bytes or host file."""
    out = Path(out)
    check_compression(compression)
    envs = list(env)
    check_env(envs)
    check_out(out)
    extra = list(extra_packages)
    app_entries = _extra_files(files)
    stdlib = _stdlib_dirs()
    found = import_closure(module, extra)
    app_files = _app_files(found, stdlib)

    python = os.path.realpath(sys.executable)
    host = host_closure(python)
    for d in stdlib:
        for f in _walk(d, STDLIB_SKIP, ("config-",)):
            if not f.name.startswith("_tkinter"):
                host.setdefault(str(f), f)
    elves = sorted(
        {h for h in [*host.values(), *app_files.values()] if h.suffix == ".so" or ".so." in h.name}
    )
    libs, missing = shared_libraries_many([h for h in elves if is_elf(h)])
    package_roots = [
        Path(p).resolve() for p in sys.path if p and Path(p).is_dir() and not _inside(Path(p), stdlib)
    ]
    # a packed package's object may need a library this host lacks (an optional extension, or a
    # vendored one ldd cannot follow through $ORIGIN): it fails only if imported. The interpreter's
    # own objects must be complete.
    broken = [m for m in missing if not _inside(Path(m.split(": ", 1)[0]), package_roots)]
    if broken:
        raise ImageBuildError(f"the interpreter's libraries are missing on this host: {broken[:5]}")
    lib = LIB_DIR.lstrip("/")
    for needed in libs.values():
        for name in needed:
            real = Path(name).resolve()
            where = Path(os.path.normpath(name))
            root = max(
                (r for r in package_roots if where.is_relative_to(r)),
                key=lambda r: len(r.parts),
                default=None,
            )
            if root is None:
                host.setdefault(name, real)
            else:  # a wheel's vendored library (<pkg>.libs, found through $ORIGIN): beside the package
                app_files.setdefault(f"{lib}/{where.relative_to(root).as_posix()}", real)

    app = {k: _Entry("file", _norm_mode(v.stat().st_mode), v.read_bytes()) for k, v in app_files.items()}
    collide = sorted(set(app) & set(app_entries))
    if collide:
        raise ImageBuildError(f"files {collide} collide with packed packages")
    app.update(app_entries)
    app.setdefault(LIB_DIR.lstrip("/"), _Entry("dir"))
    layers = [
        ("interpreter", deterministic_tar(host_file_entries(host))),
        ("app", deterministic_tar(app)),
    ]
    names = {e.partition("=")[0] for e in envs}
    base = [DEFAULT_PATH, f"PYTHONPATH={LIB_DIR}", *RUN_ENV]
    run_env = [e for e in base if e.partition("=")[0] not in names] + envs
    run = {"Entrypoint": [python, "-m", module], "Cmd": [], "Env": run_env, "WorkingDir": APP_DIR}
    return write_image(out, layers, run, compression=compression, ref=ref)
