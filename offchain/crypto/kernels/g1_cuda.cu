/* Batch G1 operations for FK20 and KZG commitments on BN254 and BLS12-381 (CUDA; compiled with nvrtc by
 * offchain/crypto/g1_gpu.py, compile-checked with `nvcc -x cu -c offchain/crypto/kernels/g1_cuda.cu`).
 *
 * The arithmetic is g1_curve.h, the same source the CPU kernel (g1_native.c) is built from; these
 * kernels are the CPU loops with one thread per loop iteration. Layouts and conventions are those of
 * g1_native.c (Jacobian Montgomery points of 3 * NL uint64, canonical little-endian 4 x uint64 scalars).
 */

#include "g1_curve_params.h"

/* 32-bit-word Montgomery products (g1_curve.h, G1_MUL32): a GPU multiplies 32 x 32 -> 64 bits in one
 * instruction but needs several for 64 x 64 -> 128; -DG1_MUL64 selects the 64-bit-limb product. */
#if !defined(G1_MUL64) && !defined(G1_MUL32)
#define G1_MUL32
#endif

/* g1_gpu.py builds one module per curve (-DG1_NO_BLS12_381 or -DG1_NO_BN254) to halve compile time. */
#ifndef G1_NO_BN254
#include "g1_bn254.h"
#endif

#ifndef G1_NO_BLS12_381
#include "g1_bls12_381.h"
#endif

#define TID ((long long)blockIdx.x * blockDim.x + threadIdx.x)

/* Launch bounds of the point-arithmetic kernels: at most G1_THREADS threads a block (g1_gpu.py launches
 * THREADS = 128 and passes -DG1_THREADS to match) and at least MINB resident blocks an SM, which caps the
 * registers a thread at 65536 / (G1_THREADS * MINB). BN254: 3 blocks (<= 168 registers, no spills;
 * 4 gives 128 registers with 20-44 bytes of spills); BLS12-381 needs ~214 registers, so 2 blocks. */
#ifndef G1_THREADS
#define G1_THREADS 128
#endif
#ifndef G1_MIN_BLOCKS_BN254
#define G1_MIN_BLOCKS_BN254 3
#endif
#ifndef G1_MIN_BLOCKS_BLS12_381
#define G1_MIN_BLOCKS_BLS12_381 2
#endif

#define DEFINE_KERNELS(PRE, NLIMBS, MINB)                                                                  \
    /* bad[0] = min index of an invalid point (initialised to n by the caller) */                       \
    extern "C" __global__ void PRE##_import(const u64 *xy, const unsigned char *inf, long long n,        \
                                            u64 *out, unsigned long long *bad) {                        \
        long long i = TID;                                                                              \
        if (i >= n) return;                                                                             \
        if (PRE##_pt_import((PRE##_pt *)out + i, xy + 2 * NLIMBS * i, inf[i]))                          \
            atomicMin(bad, (unsigned long long)i);                                                      \
    }                                                                                                   \
    /* one thread per run of `run` points; pref: NLIMBS * n scratch */                                  \
    extern "C" __global__ void PRE##_normalize(u64 *pts, long long n, long long run, u64 *pref) {       \
        long long c = TID;                                                                              \
        long long lo = c * run;                                                                         \
        if (lo >= n) return;                                                                            \
        long long cnt = n - lo < run ? n - lo : run;                                                    \
        PRE##_pt_normalize_run((PRE##_pt *)pts + lo, cnt, pref + NLIMBS * lo);                          \
    }                                                                                                   \
    extern "C" __global__ void PRE##_export(const u64 *pts, long long n, u64 *xy, unsigned char *inf) { \
        long long i = TID;                                                                              \
        if (i >= n) return;                                                                             \
        PRE##_pt_export(xy + 2 * NLIMBS * i, inf + i, (const PRE##_pt *)pts + i);                       \
    }                                                                                                   \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_scalar_mul(const u64 *pts, const u64 *sc, long long n, u64 *out) { \
        long long i = TID;                                                                              \
        if (i >= n) return;                                                                             \
        PRE##_pt_mul((PRE##_pt *)out + i, (const PRE##_pt *)pts + i, sc + 4 * i);                      \
    }                                                                                                   \
    /* one thread per row; tab: 16 n points per row, dig: 2 n WNAF_MAX bytes per row */                 \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_rows_msm(const u64 *pts, const u64 *sc, long long rows, long long n, \
                                              u64 *out, u64 *tab, signed char *dig) {                   \
        long long r = TID;                                                                              \
        if (r >= rows) return;                                                                          \
        PRE##_pt_msm_straus((PRE##_pt *)out + r, (const PRE##_pt *)pts + r * n, sc + 4 * r * n, n,     \
                            (PRE##_pt *)tab + 16 * n * r, dig + 2 * WNAF_MAX * n * r);                  \
    }                                                                                                   \
    /* tab[cnt i + k] = (2k+1) pts[i] for k < cnt (one thread per point; normalise tab before           \
     * rows_msm_pre) */                                                                                 \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_odd_multiples(                 \
        const u64 *pts, long long n, long long cnt, u64 *tab) {                                         \
        long long i = TID;                                                                              \
        if (i >= n) return;                                                                             \
        PRE##_pt_odd_multiples((PRE##_pt *)tab + cnt * i, (const PRE##_pt *)pts + i, (int)cnt);         \
    }                                                                                                   \
    /* one thread per row of n terms over precomputed odd multiples (2^(w-2) per term); dig: 2 n        \
     * WNAF_MAX bytes per row */                                                                        \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_rows_msm_pre(                  \
        const u64 *tab, const u64 *sc, long long rows, long long n, long long w, u64 *out,               \
        signed char *dig) {                                                                             \
        long long r = TID;                                                                              \
        if (r >= rows) return;                                                                          \
        PRE##_pt_msm_straus_pre((PRE##_pt *)out + r, (const PRE##_pt *)tab + ((n * r) << (w - 2)),      \
                                sc + 4 * r * n, n, (int)w, dig + 2 * WNAF_MAX * n * r);                 \
    }                                                                                                   \
    /* out[r] = sum of the n points of row r (one thread per row) */                                    \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_rows_sum(const u64 *pts, long long rows, long long n, u64 *out) {  \
        long long r = TID;                                                                              \
        if (r >= rows) return;                                                                          \
        PRE##_pt acc;                                                                                   \
        PRE##_pt_set_inf(&acc);                                                                         \
        for (long long i = 0; i < n; i++) PRE##_pt_add(&acc, &acc, (const PRE##_pt *)pts + r * n + i);  \
        PRE##_pt_copy((PRE##_pt *)out + r, &acc);                                                       \
    }                                                                                                   \
    /* two FFT stages (h, 2h) as a radix-4 step (g1_curve.h fft4_twiddle / fft4_combine): prod holds     \
     * 5 (N/4) K points; one thread per twiddle product, then one per quadruple */                        \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_fft4_twiddle(                  \
        const u64 *pts, long long N, long long K, long long h, const u64 *roots, u64 *prod) {           \
        long long idx = TID;                                                                            \
        if (idx >= 5 * (N / 4 * K)) return;                                                             \
        PRE##_fft4_twiddle((const PRE##_pt *)pts, N, K, h, roots, idx, (PRE##_pt *)prod);               \
    }                                                                                                   \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_fft4_combine(                  \
        u64 *pts, long long N, long long K, long long h, const u64 *prod) {                             \
        long long idx = TID;                                                                            \
        if (idx >= N / 4 * K) return;                                                                   \
        PRE##_fft4_combine((PRE##_pt *)pts, N, K, h, (const PRE##_pt *)prod, idx);                      \
    }                                                                                                   \
    /* one FFT stage (half-size h) over bit-reversed (N, K) input; one thread per butterfly */          \
    extern "C" __global__ __launch_bounds__(G1_THREADS, MINB) void PRE##_fft_stage(u64 *pts, long long N, long long K, long long h,         \
                                               const u64 *roots) {                                      \
        long long idx = TID;                                                                            \
        if (idx >= N / 2 * K) return;                                                                   \
        PRE##_fft_butterfly((PRE##_pt *)pts, N, K, h, roots, idx);                                      \
    }

#ifndef G1_NO_BN254
DEFINE_KERNELS(bn254, 4, G1_MIN_BLOCKS_BN254)
#endif
#ifndef G1_NO_BLS12_381
DEFINE_KERNELS(bls12_381, 6, G1_MIN_BLOCKS_BLS12_381)
#endif
