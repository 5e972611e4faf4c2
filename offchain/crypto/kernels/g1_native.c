/* Batch G1 operations for FK20 and KZG commitments on BN254 and BLS12-381 (CPU, OpenMP).
 *
 * The arithmetic is g1_curve.h (shared with the CUDA build, offchain/crypto/g1_gpu.py); this file
 * only loops over it. Points cross the boundary as arrays of Jacobian Montgomery points
 * (3 * NL uint64 each) made by *_import from canonical affine coordinates, and leave through
 * *_export (canonical affine + infinity flag). Scalars are canonical little-endian 4 x uint64.
 * Every entry point is exported per curve with the prefix bn254_ or bls12_381_. Thread count:
 * OpenMP's (OMP_NUM_THREADS).
 */

#include <stdlib.h>
#include <string.h>

#include "comb.h"

#include "g1_curve_params.h"

#include "g1_bn254.h"

#include "g1_bls12_381.h"

#define NORM_CHUNK 256

#define DEFINE_BATCH(PRE, NLIMBS)                                                                      \
    /* canonical affine -> Jacobian; returns 0, or 1 + index of the first invalid point */             \
    long PRE##_import(const u64 *xy, const unsigned char *inf, long n, u64 *out) {                    \
        long bad = n;                                                                                  \
        _Pragma("omp parallel for schedule(static) reduction(min : bad)")                              \
        for (long i = 0; i < n; i++) {                                                                 \
            if (PRE##_pt_import((PRE##_pt *)out + i, xy + 2 * NLIMBS * i, inf[i]) && i < bad) bad = i; \
        }                                                                                              \
        return bad == n ? 0 : bad + 1;                                                                 \
    }                                                                                                  \
    /* homogeneous projective canonical (X, Y, Z) (the array code's points) -> Jacobian (X Z, Y Z^2, Z),\
     * which is the same point (x = X/Z, y = Y/Z); Z = 0 with X = 0 is infinity. Returns 0, or 1 + the \
     * index of the first invalid point (a coordinate >= p, Y^2 Z != X^3 + b Z^3, Z = 0 with X != 0). */\
    long PRE##_import_proj(const u64 *xyz, long n, u64 *out) {                                         \
        long bad = n;                                                                                  \
        _Pragma("omp parallel for schedule(static) reduction(min : bad)")                              \
        for (long i = 0; i < n; i++) {                                                                 \
            const u64 *c = xyz + 3 * NLIMBS * i;                                                       \
            PRE##_pt *r = (PRE##_pt *)out + i;                                                         \
            int err = PRE##_fp_geq_p(c) || PRE##_fp_geq_p(c + NLIMBS) || PRE##_fp_geq_p(c + 2 * NLIMBS);\
            u64 X[NLIMBS], Y[NLIMBS], Z[NLIMBS], l[NLIMBS], t[NLIMBS], z2[NLIMBS];                     \
            if (!err) {                                                                                \
                PRE##_fp_to_mont(X, c);                                                                \
                PRE##_fp_to_mont(Y, c + NLIMBS);                                                       \
                PRE##_fp_to_mont(Z, c + 2 * NLIMBS);                                                   \
                if (PRE##_fp_is_zero(Z)) {                                                             \
                    err = !PRE##_fp_is_zero(X);                                                        \
                    PRE##_pt_set_inf(r);                                                               \
                } else {                                                                               \
                    PRE##_fp_sqr(z2, Z);                                                               \
                    PRE##_fp_sqr(l, Y);                                                                \
                    PRE##_fp_mul(l, l, Z); /* Y^2 Z */                                                 \
                    PRE##_fp_sqr(t, X);                                                                \
                    PRE##_fp_mul(t, t, X); /* X^3 */                                                   \
                    u64 bz3[NLIMBS];                                                                   \
                    PRE##_fp_mul(bz3, z2, Z);                                                          \
                    PRE##_fp_mul(bz3, bz3, PRE##_B);                                                   \
                    PRE##_fp_add(t, t, bz3);                                                           \
                    err = !PRE##_fp_eq(l, t);                                                          \
                    PRE##_fp_mul(r->X, X, Z);                                                          \
                    PRE##_fp_mul(r->Y, Y, z2);                                                         \
                    PRE##_fp_copy(r->Z, Z);                                                            \
                }                                                                                      \
            }                                                                                          \
            if (err && i < bad) bad = i;                                                               \
        }                                                                                              \
        return bad == n ? 0 : bad + 1;                                                                 \
    }                                                                                                  \
    /* in place: Z in {0, 1} (Montgomery's trick per chunk of NORM_CHUNK points) */                    \
    int PRE##_normalize(u64 *pts, long n) {                                                            \
        long chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;                                               \
        int err = 0;                                                                                   \
        _Pragma("omp parallel reduction(| : err)")                                                     \
        {                                                                                              \
            u64 *pref = (u64 *)malloc(sizeof(u64) * NLIMBS * NORM_CHUNK);                              \
            if (!pref) err = 1;                                                                        \
            _Pragma("omp for schedule(static)")                                                        \
            for (long c = 0; c < chunks; c++) {                                                        \
                long lo = c * NORM_CHUNK, cnt = n - lo < NORM_CHUNK ? n - lo : NORM_CHUNK;             \
                if (pref) PRE##_pt_normalize_run((PRE##_pt *)pts + lo, cnt, pref);                     \
            }                                                                                          \
            free(pref);                                                                                \
        }                                                                                              \
        return err;                                                                                    \
    }                                                                                                  \
    /* normalised Jacobian -> canonical affine + infinity flags */                                     \
    void PRE##_export(const u64 *pts, long n, u64 *xy, unsigned char *inf) {                           \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long i = 0; i < n; i++) PRE##_pt_export(xy + 2 * NLIMBS * i, inf + i, (const PRE##_pt *)pts + i); \
    }                                                                                                  \
    /* out[i] = s[i] * p[i] */                                                                         \
    void PRE##_scalar_mul(const u64 *pts, const u64 *sc, long n, u64 *out) {                           \
        _Pragma("omp parallel for schedule(dynamic, 16)")                                              \
        for (long i = 0; i < n; i++) PRE##_pt_mul((PRE##_pt *)out + i, (const PRE##_pt *)pts + i, sc + 4 * i); \
    }                                                                                                  \
    /* out[r] = sum_l s[r, l] * p[r, l] for rows r < rows of n terms each */                           \
    int PRE##_rows_msm(const u64 *pts, const u64 *sc, long rows, long n, u64 *out) {                   \
        int err = 0;                                                                                   \
        _Pragma("omp parallel reduction(| : err)")                                                     \
        {                                                                                              \
            PRE##_pt *tab = (PRE##_pt *)malloc(sizeof(PRE##_pt) * 16 * (n ? n : 1));                    \
            signed char *dig = (signed char *)malloc(2 * WNAF_MAX * (n ? n : 1));                          \
            if (!tab || !dig) err = 1;                                                                 \
            _Pragma("omp for schedule(dynamic, 1)")                                                    \
            for (long r = 0; r < rows; r++) {                                                          \
                if (tab && dig)                                                                        \
                    PRE##_pt_msm_straus((PRE##_pt *)out + r, (const PRE##_pt *)pts + r * n,             \
                                        sc + 4 * r * n, n, tab, dig);                                  \
            }                                                                                          \
            free(tab);                                                                                 \
            free(dig);                                                                                 \
        }                                                                                              \
        return err;                                                                                    \
    }                                                                                                  \
    /* tab[cnt i + k] = (2k+1) p[i] for k < cnt (Jacobian; normalise it before rows_msm_pre) */         \
    void PRE##_odd_multiples(const u64 *pts, long n, int cnt, u64 *tab) {                              \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long i = 0; i < n; i++)                                                                   \
            PRE##_pt_odd_multiples((PRE##_pt *)tab + (long)cnt * i, (const PRE##_pt *)pts + i, cnt);   \
    }                                                                                                  \
    /* rows_msm over precomputed odd multiples tab (rows, n, 2^(w-2) points) of fixed bases */         \
    int PRE##_rows_msm_pre(const u64 *tab, const u64 *sc, long rows, long n, int w, u64 *out) {        \
        int err = 0;                                                                                   \
        _Pragma("omp parallel reduction(| : err)")                                                     \
        {                                                                                              \
            signed char *dig = (signed char *)malloc(2 * WNAF_MAX * (n ? n : 1));                      \
            if (!dig) err = 1;                                                                         \
            _Pragma("omp for schedule(dynamic, 1)")                                                    \
            for (long r = 0; r < rows; r++) {                                                          \
                if (dig)                                                                               \
                    PRE##_pt_msm_straus_pre((PRE##_pt *)out + r, (const PRE##_pt *)tab + (r * n << (w - 2)), \
                                            sc + 4 * r * n, n, w, dig);                                \
            }                                                                                          \
            free(dig);                                                                                 \
        }                                                                                              \
        return err;                                                                                    \
    }                                                                                                  \
    /* out = sum_i s[i] p[i] by the bucket method (Pippenger), windows of c bits in parallel */          \
    int PRE##_msm_pippenger(const u64 *pts, const u64 *sc, long n, int c, u64 *out) {                 \
        int nw = (256 + c - 1) / c;                                                                    \
        PRE##_pt *win = (PRE##_pt *)malloc(sizeof(PRE##_pt) * nw);                                     \
        int err = (win == 0);                                                                          \
        if (!err) {                                                                                    \
            _Pragma("omp parallel reduction(| : err)")                                                 \
            {                                                                                          \
                PRE##_pt *buckets = (PRE##_pt *)malloc(sizeof(PRE##_pt) * ((1L << c) - 1));            \
                if (!buckets) err = 1;                                                                 \
                _Pragma("omp for schedule(dynamic, 1)")                                                \
                for (int w = 0; w < nw; w++) {                                                         \
                    if (buckets)                                                                       \
                        PRE##_pt_msm_window(&win[w], (const PRE##_pt *)pts, sc, n, c, w, buckets);     \
                }                                                                                      \
                free(buckets);                                                                         \
            }                                                                                          \
        }                                                                                              \
        if (!err) {                                                                                    \
            PRE##_pt acc;                                                                              \
            PRE##_pt_set_inf(&acc);                                                                    \
            for (int w = nw - 1; w >= 0; w--) {                                                        \
                for (int k = 0; k < c; k++) PRE##_pt_dbl(&acc, &acc);                                  \
                PRE##_pt_add(&acc, &acc, &win[w]);                                                     \
            }                                                                                          \
            PRE##_pt_copy((PRE##_pt *)out, &acc);                                                      \
        }                                                                                              \
        free(win);                                                                                     \
        return err;                                                                                    \
    }                                                                                                  \
    /* out[i] = s * p[i] exactly (no GLV) for one scalar s: subgroup checks with s = r */             \
    void PRE##_scalar_mul1_exact(const u64 *pts, const u64 *s, long n, u64 *out) {                     \
        _Pragma("omp parallel for schedule(dynamic, 8)")                                               \
        for (long i = 0; i < n; i++) PRE##_pt_mul_exact((PRE##_pt *)out + i, (const PRE##_pt *)pts + i, s); \
    }                                                                                                  \
    /* y[i] = (x[i]^3 + b)^((p+1)/4) for canonical x (p = 3 mod 4): a square root of x^3 + b when one  \
     * exists; ok[i] = 1 iff y^2 == x^3 + b. Canonical words in and out (point decompression). */      \
    void PRE##_sqrt_rhs(const u64 *x, long n, u64 *y, unsigned char *ok) {                             \
        u64 e[NLIMBS];                                                                                 \
        for (int i = 0; i < NLIMBS; i++)                                                               \
            e[i] = (PRE##_P[i] >> 2) | (i + 1 < NLIMBS ? PRE##_P[i + 1] << 62 : 0);                    \
        for (int i = 0; i < NLIMBS && ++e[i] == 0; i++) {                                              \
        }                                                                                              \
        int top = 64 * NLIMBS - 1;                                                                     \
        while (!((e[top >> 6] >> (top & 63)) & 1)) top--;                                              \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long k = 0; k < n; k++) {                                                                 \
            u64 xm[NLIMBS], t[NLIMBS], acc[NLIMBS], sq[NLIMBS];                                        \
            PRE##_fp_to_mont(xm, x + NLIMBS * k);                                                      \
            PRE##_fp_sqr(t, xm);                                                                       \
            PRE##_fp_mul(t, t, xm);                                                                    \
            PRE##_fp_add(t, t, PRE##_B);                                                               \
            PRE##_fp_copy(acc, PRE##_ONE);                                                             \
            for (int b = top; b >= 0; b--) {                                                           \
                PRE##_fp_sqr(acc, acc);                                                                \
                if ((e[b >> 6] >> (b & 63)) & 1) PRE##_fp_mul(acc, acc, t);                            \
            }                                                                                          \
            PRE##_fp_sqr(sq, acc);                                                                     \
            ok[k] = (unsigned char)PRE##_fp_eq(sq, t);                                                 \
            PRE##_fp_from_mont(y + NLIMBS * k, acc);                                                   \
        }                                                                                              \
    }                                                                                                  \
    /* out[i] = s[i] * base for one fixed base: comb.h                                                 \
     * (8-bit windows, 8,160 affine multiples, 31 mixed additions a scalar) */                         \
    DEFINE_FIXED_BASE(PRE##_fixed_base, PRE##_pt, PRE##_pt_add, PRE##_pt_dbl, PRE##_pt_set_inf,        \
                      PRE##_pt_normalize_run, u64, NLIMBS * 255)                                       \
    /* out = sum p[i] (serial, for a handful of partial sums) */                                       \
    void PRE##_sum(const u64 *pts, long n, u64 *out) {                                                 \
        PRE##_pt acc;                                                                                  \
        PRE##_pt_set_inf(&acc);                                                                        \
        for (long i = 0; i < n; i++) PRE##_pt_add(&acc, &acc, (const PRE##_pt *)pts + i);              \
        PRE##_pt_copy((PRE##_pt *)out, &acc);                                                          \
    }                                                                                                  \
    /* In place unscaled FFT of size N along the rows of an (N, K) batch, natural order in and out; \
     * roots[i] = w^i (i < N/2) as canonical scalars. */                                               \
    int PRE##_fft(u64 *pts, long N, long K, const u64 *roots) {                                       \
        PRE##_pt *x = (PRE##_pt *)pts;                                                                 \
        PRE##_pt *tmp = (PRE##_pt *)malloc(sizeof(PRE##_pt) * N * K);                                  \
        if (!tmp) return 1;                                                                            \
        int bits = 0;                                                                                  \
        while ((1L << bits) < N) bits++;                                                               \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long i = 0; i < N; i++) {                                                                 \
            long r = 0;                                                                                \
            for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);                      \
            memcpy(tmp + r * K, x + i * K, sizeof(PRE##_pt) * K);                                     \
        }                                                                                              \
        memcpy(x, tmp, sizeof(PRE##_pt) * N * K);                                                      \
        free(tmp);                                                                                     \
        for (long h = 1; h < N; h *= 2) {                                                              \
            long total = N / 2 * K;                                                                    \
            _Pragma("omp parallel for schedule(dynamic, 8)")                                           \
            for (long idx = 0; idx < total; idx++) PRE##_fft_butterfly(x, N, K, h, roots, idx);        \
        }                                                                                              \
        return 0;                                                                                      \
    }

DEFINE_BATCH(bn254, 4)
DEFINE_BATCH(bls12_381, 6)

int g1_native_abi(void) { return 1; }
