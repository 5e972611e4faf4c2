"""The cupy backend gives the same bits as numpy (skipped, with the reason, where no GPU is present)."""

import random

import numpy as np
import pytest

from offchain.backend import BackendError, get_backend, to_numpy
from offchain.crypto import bn254
from offchain.crypto.curve import scalars_to_bytes
from offchain.crypto.ntt import Domain, ntt
from tests.support import gpu_available

pytestmark = pytest.mark.gpu

needs_gpu = pytest.mark.skipif(not gpu_available(), reason="no CUDA GPU with cupy on this machine")


def test_da_backend_names() -> None:
    assert get_backend("cpu") is np
    with pytest.raises(BackendError):
        get_backend("tpu")
    if not gpu_available():
        with pytest.raises(BackendError):
            get_backend("gpu")


@needs_gpu
def test_da_gpu_field_and_ntt_bit_identical() -> None:
    cp = get_backend("gpu")
    rng = random.Random(11)
    xs = [rng.randrange(bn254.R) for _ in range(64)]
    ys = [rng.randrange(bn254.R) for _ in range(64)]
    out = []
    for xp in (np, cp):
        fr = bn254.bn254(xp).fr
        a, b = fr.from_ints(xs), fr.from_ints(ys)
        d = Domain(fr, 64, bn254.ROOT_OF_UNITY_2_28, bn254.TWO_ADICITY)
        out.append([to_numpy(v) for v in (fr.mul(a, b), fr.sub(a, b), fr.inv(a), ntt(fr, a, d))])
    for u, v in zip(out[0], out[1], strict=True):
        assert u.dtype == v.dtype and np.array_equal(u, v)


@needs_gpu
def test_da_gpu_curve_msm_bit_identical() -> None:
    cp = get_backend("gpu")
    rng = random.Random(12)
    ks = [rng.randrange(bn254.R) for _ in range(40)]
    ss = scalars_to_bytes([rng.randrange(bn254.R) for _ in range(40)])
    res = []
    for xp in (np, cp):
        g1 = bn254.bn254(xp).g1
        P = g1.scalar_mul(g1.concat([g1.generator] * 40), scalars_to_bytes(ks))
        res.append((to_numpy(P), to_numpy(g1.msm(P, ss)), bn254.g1_compress(P)))
    assert np.array_equal(res[0][0], res[1][0])
    assert np.array_equal(res[0][1], res[1][1])
    assert res[0][2] == res[1][2]


@needs_gpu
def test_da_gpu_frames_match_cpu_and_vectors() -> None:
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.eigenda.params import EncodingParams, Sample
    from offchain.da.srs import insecure_test_srs

    srs = insecure_test_srs(16, with_g2=False)
    params = EncodingParams(16, num_chunks=32, coding_rate=4)
    outs = []
    for backend in ("cpu", "gpu"):
        e = Encoder(srs, backend)
        p = e.c.fr.from_ints(list(range(16)))
        fr = e.frames(p, params)
        C = e.commit(p)
        idx = np.arange(32)
        assert e.verify_batch(C, Sample(np.zeros(32, np.int64), idx, fr.coeffs, fr.proofs), 32)
        outs.append(
            (e.c.fr.to_bytes(fr.coeffs.reshape(e.c.fr.n, -1)).tobytes(), bn254.g1_compress(fr.proofs))
        )
    assert outs[0] == outs[1]


@needs_gpu
def test_da_gpu_eigenda_vector_proofs() -> None:
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.srs import SRS
    from tests.support import vector_path

    cp = get_backend("gpu")
    g1 = bn254.g1_decompress(vector_path("da", "g1_mainnet_first3000.point").read_bytes()[: 32 * 8], cp)
    e = Encoder(SRS(g1=g1, g2_pow2=None, xp=cp), "gpu")
    p = e.c.fr.from_ints([1, 2, 3, 4])
    fr = e.frames(p)
    assert (
        bn254.g1_compress(e.commit(p)).hex()
        == "a3e97c98a3d7bba9a4e4ca906f3285a2939b2c8b05ad4ef2f7ac475de71345d2"
    )
    assert bn254.g1_compress(fr.proofs[..., :2]).hex() == (
        "d4a06377d14f7d126fee590781996a2f72185f2b0808e819fc2a6990d7c56a87"
        "a0e0fe867d2e7d735c56e0f184168fd890e16aa5cb4eab1708aecc1f126a3eca"
    )


@needs_gpu
@pytest.mark.parametrize("curve", ["bn254", "bls12_381"])
def test_da_gpu_g1_kernel_matches_cpu_kernel(curve: str) -> None:
    """The CUDA build of g1_curve.h gives the CPU kernel's points bit for bit (both curves), and its
    boundary raises the same typed errors."""
    from offchain.crypto import bls12_381
    from offchain.crypto.g1_gpu import G1GpuKernel
    from offchain.crypto.g1_native import G1Kernel, G1KernelError
    from offchain.crypto.ntt import Domain

    cp = get_backend("gpu")
    mod = bn254 if curve == "bn254" else bls12_381
    root, adic = (
        (bn254.ROOT_OF_UNITY_2_28, bn254.TWO_ADICITY)
        if curve == "bn254"
        else (bls12_381.ROOT_OF_UNITY_2_32, bls12_381.TWO_ADICITY)
    )
    rng = random.Random(13)
    n = 48
    ks = scalars_to_bytes([rng.randrange(mod.R) for _ in range(n)])
    ss = [rng.randrange(mod.R) for _ in range(n)]
    outs = []
    for xp, cls in ((np, G1Kernel), (cp, G1GpuKernel)):
        G = getattr(mod, curve)(xp)
        K = cls(curve, G)
        P = G.g1.scalar_mul(G.g1.concat([G.g1.generator] * n), ks)
        kp, sc = K.from_group(P), K.scalars_from_fr(G.fr.from_ints(ss))
        d = Domain(G.fr, 16, root, adic)
        res = [
            K.scalar_mul(kp, sc),
            K.rows_msm(
                kp.reshape(2, 24, 3, K.nl), sc.reshape(2, 24, 4)
            ),  # rows longer than one thread's share
            K.rows_msm_precomputed(K.rows_precompute(kp.reshape(2, 24, 3, K.nl)), sc.reshape(2, 24, 4)),
            K.msm(kp, sc)[None],
            K.fft(kp[:32].reshape(16, 2, 3, K.nl), K.scalars_from_fr(d.roots)),
        ]
        outs.append([mod.g1_compress(K.to_group(r)) for r in res])
        xy, inf = K.export_affine(kp[:2])
        bad = xy.copy()
        bad[0, 1, 0] ^= xp.uint64(1)
        with pytest.raises(G1KernelError, match="point 0"):
            K.import_affine(bad, inf)
    assert outs[0] == outs[1]


@needs_gpu
def test_da_gpu_kernel_and_array_paths_agree(monkeypatch) -> None:
    """On the GPU, FK20 and commitments through the CUDA kernel equal the cupy array code."""
    from offchain.da.eigenda.encoder import Encoder
    from offchain.da.eigenda.params import EncodingParams
    from offchain.da.srs import insecure_test_srs

    e = Encoder(insecure_test_srs(16, with_g2=False), "gpu")
    params = EncodingParams(16, num_chunks=32, coding_rate=8)
    p = e.c.fr.from_ints([random.Random(14).randrange(bn254.R) for _ in range(16)])
    outs = []
    for flag in ("1", "0"):
        monkeypatch.setenv("EIGEN_NATIVE", flag)
        assert (e.kernel() is not None) == (flag == "1")
        outs.append((bn254.g1_compress(e.commit(p)), bn254.g1_compress(e.proofs(p, params))))
    assert outs[0] == outs[1]
