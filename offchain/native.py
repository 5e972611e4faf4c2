"""Build and load the package's small C kernels (exact integer code) with the system C compiler.

This module only builds and loads; the kernels live in their components' ``kernels/`` folders
(``offchain/crypto/kernels/``, ``offchain/ai/kernels/``), their wrappers one folder up. Each kernel
is one C source compiled into a shared library on first use and cached by the hash of its source,
every header in its folder, the flags and the compiler, so an edited source or header is rebuilt and
a stale library is never loaded. Every kernel compiles with ``-Wall`` without a warning. The cache is
``.cache/native/`` in the repository (``EIGEN_NATIVE_DIR`` overrides it); ``tools/bootstrap.sh``
builds every kernel up front, so tests and the demo never wait on the compiler. The kernels compute
with integers only, so their results do not depend on the compiler, the flags or the machine; every
kernel is tested against the array (numpy) code it accelerates.

``EIGEN_NATIVE=0`` disables the kernels (callers fall back to the array code), which is how the
differential tests run the reference path; so does the absence of a C compiler (with a warning). A
source that fails to compile is a bug and raises :class:`NativeError`.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from offchain import settings
from offchain.errors import NativeError

PKG = Path(__file__).resolve().parent
DEFAULT_FLAGS = ("-O3", "-std=gnu11", "-fPIC", "-shared", "-fno-strict-aliasing", "-Wall")


def enabled() -> bool:
    """False when ``EIGEN_NATIVE=0``, or when there is no C compiler (with a one-time warning): callers
    then use their array code, which gives the same results, only slower."""
    if not settings.native_enabled():
        return False
    if _find_compiler() is None:
        global _warned_no_cc
        if not _warned_no_cc:
            _warned_no_cc = True
            warnings.warn(
                "eigen: no C compiler (cc/gcc/clang or $CC) found: using the array code for every kernel "
                "(same results, slower); install gcc, or set EIGEN_NATIVE=0 to silence this",
                RuntimeWarning,
                stacklevel=2,
            )
        return False
    return True


_warned_no_cc = False


def cache_dir() -> Path:
    """Where compiled kernels are kept (``$EIGEN_NATIVE_DIR``, default ``.cache/native``)."""
    return settings.native_dir()


def _find_compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return cc  # an explicit choice is used as given (a wrong one fails loudly in build)
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _compiler() -> str:
    cc = _find_compiler()
    if not cc:
        raise NativeError(
            "no C compiler found (set CC, or install gcc); set EIGEN_NATIVE=0 to use the array code"
        )
    return cc


_loaded: dict[tuple[str, tuple[str, ...]], ctypes.CDLL] = {}


def library_path(source: str | Path, flags: tuple[str, ...] = ()) -> Path:
    """Where the library for ``source`` with ``flags`` lives (built or not): keyed by the source, every
    ``*.h`` beside it (a kernel's headers live in its folder), the compiler and the flags."""
    src = Path(source)
    if not src.is_absolute():
        src = PKG / src
    cc = _compiler()
    h = hashlib.sha256()
    h.update(src.read_bytes())
    for inc in sorted(src.parent.glob("*.h")):
        h.update(inc.name.encode() + inc.read_bytes())
    h.update(repr((cc, DEFAULT_FLAGS, flags, sys.platform)).encode())
    return cache_dir() / f"{src.stem}-{h.hexdigest()[:16]}.so"


def build(source: str | Path, flags: tuple[str, ...] = ()) -> Path:
    """Compile ``source`` (a path relative to ``offchain/`` or absolute) unless already cached; a
    compile error raises :class:`NativeError` (warnings are not errors, but the kernels have none)."""
    src = Path(source)
    if not src.is_absolute():
        src = PKG / src
    if not src.is_file():
        raise NativeError(f"kernel source {src} not found")
    out = library_path(src, flags)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
        os.close(fd)
        cmd = [_compiler(), *DEFAULT_FLAGS, *flags, "-o", tmp, str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            os.unlink(tmp)
            raise NativeError(f"running the C compiler {cmd[0]!r} failed: {exc}") from exc
        if proc.returncode != 0:
            os.unlink(tmp)
            raise NativeError(
                f"compiling {src.name} failed ({' '.join(cmd)}):\n{proc.stderr.strip()[-4000:]}"
            )
        os.replace(tmp, out)
    return out


def load(source: str | Path, flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """Build if needed and load the library of ``source``; loaded once per process."""
    key = (str(source), tuple(flags))
    lib = _loaded.get(key)
    if lib is None:
        # OpenMP workers that spin-wait between parallel regions take the core the Python thread
        # needs for the array work in between (on a 2-core machine that halved the inference
        # engine's prefill); sleeping workers cost one wake-up per region. libgomp reads this once,
        # when the first kernel using it is loaded; an explicit setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        path = build(source, flags)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise NativeError(f"loading {path} failed: {exc}") from exc
        _loaded[key] = lib
    return lib


# Every kernel the package uses, as (source relative to offchain/, extra flags); ``build_all`` (run by
# tools/bootstrap.sh) compiles them up front.
KERNELS: list[tuple[str, tuple[str, ...]]] = [
    ("ai/kernels/intkernel.c", ("-fopenmp",)),  # exact integer engine steps (offchain/ai/intkernel.py)
    ("crypto/kernels/g1_native.c", ("-fopenmp",)),  # G1 batch operations (offchain/crypto/g1_native.py)
    ("crypto/kernels/g2_native.c", ("-fopenmp",)),  # G2 batch operations (offchain/crypto/g2_native.py)
    ("crypto/kernels/pairing_native.c", ()),  # pairing-product checks (offchain/crypto/pairing_native.py)
    ("crypto/kernels/fr_native.c", ("-fopenmp",)),  # scalar-field NTTs (offchain/crypto/fr_native.py)
]


def build_all() -> list[Path]:
    return [build(src, flags) for src, flags in KERNELS]


if __name__ == "__main__":  # pragma: no cover - exercised by tools/bootstrap.sh
    for p in build_all():
        print(p)


def compiler() -> str:
    """The C compiler the kernels are built with (``$CC``, else cc, gcc or clang); :class:`NativeError`
    when there is none."""
    return _compiler()
