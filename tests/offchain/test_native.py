"""The C-kernel loader (offchain/native.py): builds, caches by source hash, reports compile errors as
NativeError; every kernel it lists compiles with -Wall and no warning."""

from __future__ import annotations

import ctypes
import os
import subprocess

import pytest

from offchain import native


@pytest.fixture()
def native_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EIGEN_NATIVE_DIR", str(tmp_path / "cache"))
    native._loaded.clear()
    yield tmp_path
    native._loaded.clear()


def test_build_load_and_cache(native_dir):
    src = native_dir / "k.c"
    src.write_text("long add3(long a, long b, long c) { return a + b + c; }\n")
    lib = native.load(src)
    lib.add3.restype = ctypes.c_long
    assert lib.add3(1, 2, 40) == 43
    first = native.build(src)
    assert native.build(src) == first  # cached
    src.write_text("long add3(long a, long b, long c) { return a + b + c + 1; }\n")
    assert native.build(src) != first  # an edited source is rebuilt, never the stale library


def test_compile_error_is_typed(native_dir):
    src = native_dir / "bad.c"
    src.write_text("int f( { return 0; }\n")
    with pytest.raises(native.NativeError, match="compiling bad.c failed"):
        native.build(src)
    assert not list((native_dir / "cache").glob("*.so"))  # nothing half-written is left to load


def test_missing_source_and_compiler(native_dir, monkeypatch):
    with pytest.raises(native.NativeError, match="not found"):
        native.build(native_dir / "nope.c")
    src = native_dir / "k.c"
    src.write_text("int f(void) { return 1; }\n")
    monkeypatch.setenv("CC", str(native_dir / "no-such-cc"))
    with pytest.raises(native.NativeError):
        native.build(src)


def test_no_compiler_falls_back_with_a_warning(monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("EIGEN_NATIVE", "1")
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.setattr(native, "_warned_no_cc", False)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        assert not native.enabled()
    assert not native.enabled()  # warned once


def test_enabled_switch(monkeypatch):
    monkeypatch.setenv("EIGEN_NATIVE", "0")
    assert not native.enabled()
    monkeypatch.setenv("EIGEN_NATIVE", "1")
    assert native.enabled()


@pytest.mark.parametrize(("source", "flags"), native.KERNELS, ids=[src for src, _ in native.KERNELS])
def test_every_kernel_compiles_without_warnings(source, flags):
    cc = native._find_compiler()
    if cc is None:
        pytest.skip("no C compiler")
    # the build's flags and -Werror, to assembly at -O0 (seconds, not the -O3 build's minute; unused-function
    # and the other -Wall checks run there too)
    cmd = [
        cc,
        *native.DEFAULT_FLAGS,
        *flags,
        "-Werror",
        "-O0",
        "-S",
        "-o",
        os.devnull,
        str(native.PKG / source),
    ]
    assert "-Wall" in native.DEFAULT_FLAGS
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-3000:]
