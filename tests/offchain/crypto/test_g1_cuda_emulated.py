"""The GPU G1 wrapper (offchain/crypto/g1_gpu.py) and its CUDA kernels (offchain/crypto/kernels/g1_cuda.cu), run on the CPU.

g1_cuda.cu is compiled as C++ with a shim for the CUDA built-ins (cuda_emulation.h) and launched one
thread at a time through a stand-in for cupy (numpy arrays, RawModule = that library). This checks the
wrapper's launch shapes, argument order, scratch sizes and row splitting, and the kernels' bodies,
against the CPU kernel, where no GPU is present; test_da_gpu.py runs the real thing on a GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from offchain.crypto import bls12_381 as BL
from offchain.crypto import bn254 as BN
from offchain.crypto import g1_gpu
from offchain.crypto.errors import G1KernelError
from offchain.crypto.g1_native import G1Kernel
from offchain.crypto.ntt import Domain
from offchain.da.eigenda.encoder import Encoder
from offchain.da.eigenda.fk20 import KernelFK20
from offchain.da.eigenda.params import EncodingParams
from offchain.da.srs import insecure_test_srs

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def emulated_lib(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if not cxx:
        pytest.skip("no C++ compiler to build the CUDA source for the CPU")
    tmp = tmp_path_factory.mktemp("cuda_emu")
    src, out = tmp / "g1_cuda_emu.cu", tmp / "g1_cuda_emu.so"
    src.write_text(g1_gpu.cuda_source())  # exactly the text handed to nvrtc
    cmd = [
        cxx,
        "-x",
        "c++",
        "-O1",
        "-fPIC",
        "-shared",
        "-include",
        str(HERE / "cuda_emulation.h"),
        "-o",
        str(out),
        str(src),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ctypes.CDLL(str(out))


class _Kernel:
    def __init__(self, lib, name):
        self.fn = getattr(lib, name)
        self.fn.restype = None
        self.tid = ctypes.c_longlong.in_dll(lib, "blockIdx")

    def __call__(self, grid, block, args):
        cargs = [
            ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) else ctypes.c_longlong(int(a))
            for a in args
        ]
        for t in range(grid[0] * block[0]):
            self.tid.value = t
            self.fn(*cargs)


@pytest.fixture()
def fake_cupy(emulated_lib, monkeypatch):
    class RawModule:
        def __init__(self, code, options=()):
            assert code == g1_gpu.cuda_source() and '#include "' not in code
            assert sum(o.startswith("-DG1_NO_") for o in options) == 1

        def compile(self):
            return None

        def get_function(self, name):
            return _Kernel(emulated_lib, name)

    cp = types.ModuleType("cupy")
    for name in (
        "ndarray",
        "uint64",
        "uint8",
        "int8",
        "empty",
        "empty_like",
        "zeros",
        "full",
        "concatenate",
        "ascontiguousarray",
        "asarray",
        "repeat",
    ):
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = np.asarray
    cp.RawModule = RawModule
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setattr(g1_gpu, "_modules", {})
    return cp


@pytest.mark.parametrize("curve", ["bn254", "bls12_381"])
def test_cuda_kernels_match_cpu_kernel(fake_cupy, curve):
    mod = BN if curve == "bn254" else BL
    root, adic = (
        (BN.ROOT_OF_UNITY_2_28, BN.TWO_ADICITY)
        if curve == "bn254"
        else (BL.ROOT_OF_UNITY_2_32, BL.TWO_ADICITY)
    )
    G = getattr(mod, curve)(np)
    rng = np.random.default_rng(21)
    n = 40  # > 2 * 16: row MSMs and sums run in several levels on the GPU
    ks = np.frombuffer(
        b"".join((int.from_bytes(rng.bytes(32), "big") % mod.R).to_bytes(32, "big") for _ in range(n)),
        np.uint8,
    ).reshape(n, 32)
    P = G.g1.concat([G.g1.scalar_mul(G.g1.concat([G.g1.generator] * (n - 1)), ks[1:]), G.g1.infinity(1)])
    s = G.fr.from_ints([int.from_bytes(rng.bytes(32), "big") for _ in range(n)])
    d = Domain(G.fr, 8, root, adic)
    outs = []
    for K in (G1Kernel(curve, G), g1_gpu.G1GpuKernel(curve, G)):
        kp, sc = K.from_group(P), K.scalars_from_fr(s)
        res = [
            K.scalar_mul(kp, sc),
            K.rows_msm(kp.reshape(2, 20, 3, K.nl), sc.reshape(2, 20, 4)),  # split into rows of 16 and summed
            # fixed bases: odd multiples precomputed once, rows padded to 2 x 16 terms and split
            K.rows_msm_precomputed(K.rows_precompute(kp.reshape(2, 20, 3, K.nl)), sc.reshape(2, 20, 4)),
            K.msm(kp, sc)[None],
            K.msm(np.concatenate([kp] * 8), np.concatenate([sc] * 8))[
                None
            ],  # 320 terms: 20 rows, 2 sum levels
            K.sum(kp)[None],
            K.fft(kp[:16].reshape(8, 2, 3, K.nl), K.scalars_from_fr(d.roots_inv)),
            # radix-4 steps on the GPU: 4 stages as two steps (N = 16), 5 as one radix-2 stage then two (N = 32)
            K.fft(kp[:16].reshape(16, 1, 3, K.nl), K.scalars_from_fr(Domain(G.fr, 16, root, adic).roots)),
            K.fft(kp[:32].reshape(32, 1, 3, K.nl), K.scalars_from_fr(Domain(G.fr, 32, root, adic).roots_inv)),
        ]
        outs.append([mod.g1_compress(K.to_group(r)) for r in res])
        xy, inf = K.export_affine(kp[:3])
        bad = xy.copy()
        bad[2, 0, 1] ^= np.uint64(1)
        with pytest.raises(G1KernelError, match="point 2"):
            K.import_affine(bad, inf)
    assert outs[0] == outs[1]


def test_cuda_fk20_composition_matches_cpu(fake_cupy):
    n = 16
    enc = Encoder(insecure_test_srs(n, with_g2=False))
    params = EncodingParams(n, num_chunks=32, coding_rate=8)
    p = enc.c.fr.from_ints(list(range(3, 3 + n)))
    order = np.arange(32)
    gpu = KernelFK20(g1_gpu.G1GpuKernel("bn254", enc.c), enc.c.fr, enc.suite, enc.srs)
    cpu = enc.kernel()
    assert cpu is not None
    for k in (gpu, cpu):
        assert BN.g1_compress(k.commit(p)) == BN.g1_compress(cpu.commit(p))
    assert BN.g1_compress(gpu.proofs(p, params, order)) == BN.g1_compress(cpu.proofs(p, params, order))


def test_cuda_fk20_long_rows_bls12_381(fake_cupy):
    """L = 32 > 16: the GPU Toeplitz step splits rows and sums them; BLS12-381 (the PeerDAS curve)."""
    from offchain.da.peerdas.cells import BLS_SUITE
    from offchain.da.srs import SRS

    G = BL.bls12_381(np)
    n = 64
    K = G1Kernel("bls12_381", G)
    g = K.from_group(G.g1.generator)
    pts = K.to_group(
        K.scalar_mul(np.repeat(g, n, axis=0), K.scalars_from_fr(G.fr.from_ints(list(range(7, 7 + n)))))
    )
    enc = Encoder(SRS(g1=pts, g2_pow2=None, name="bls-points"), suite=BLS_SUITE)
    params = EncodingParams(n, num_chunks=4, coding_rate=2)
    assert params.chunk_length == 32
    p = enc.c.fr.from_ints([(5 * i + 1) ** 3 for i in range(n)])
    order = np.arange(4)
    gpu = KernelFK20(g1_gpu.G1GpuKernel("bls12_381", enc.c), enc.c.fr, enc.suite, enc.srs)
    cpu = enc.kernel()
    assert BL.g1_compress(gpu.commit(p)) == BL.g1_compress(cpu.commit(p))
    assert BL.g1_compress(gpu.proofs(p, params, order)) == BL.g1_compress(cpu.proofs(p, params, order))
