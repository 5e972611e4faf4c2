/* Batch G2 operations of BN254 and BLS12-381 (CPU, OpenMP): KZG length commitments and proofs
 * (EigenDA's G2 MSMs), test SRS generation, subgroup checks of decoded points.
 *
 * The arithmetic is g2_curve.h over g1_curve.h's Fp (this file defines G1_CURVE_EXTRA so that
 * g1_curve.h includes it for each curve instance); this file only loops over it. Points cross the
 * boundary as arrays of Jacobian Montgomery points (6 * NL uint64 each: X.c0, X.c1, Y.c0, Y.c1, Z.c0, Z.c1) made by *_import
 * from canonical affine coordinates and leave through *_export (canonical affine + infinity flag).
 * Scalars are canonical little-endian 4 x uint64. Entry points carry the prefix bn254_g2_ or
 * bls12_381_g2_. Thread count: OpenMP's (OMP_NUM_THREADS).
 */

#include <stdlib.h>
#include <string.h>

#include "comb.h"

#define G1_CURVE_EXTRA "g2_curve.h" /* included by g1_curve.h per curve, with its macros */
#include "g1_curve_params.h"

#include "g1_bn254.h"

#include "g1_bls12_381.h"

#define NORM_CHUNK 256

#define DEFINE_G2_BATCH(PRE, NLIMBS)                                                                        \
    /* canonical affine -> Jacobian; returns 0, or 1 + index of the first invalid point */             \
    long PRE##_g2_import(const u64 *xy, const unsigned char *inf, long n, u64 *out) {                 \
        long bad = n;                                                                                  \
        _Pragma("omp parallel for schedule(static) reduction(min : bad)")                              \
        for (long i = 0; i < n; i++) {                                                                 \
            if (PRE##_g2_pt_import((PRE##_g2 *)out + i, xy + 4 * NLIMBS * i, inf[i]) && i < bad) \
                bad = i;                                                                               \
        }                                                                                              \
        return bad == n ? 0 : bad + 1;                                                                 \
    }                                                                                                  \
    /* homogeneous projective canonical (X, Y, Z) over Fp2 (c0, c1 each; the array code's points) ->   \
     * Jacobian (X Z, Y Z^2, Z), the same point; Z = 0 with X = 0 is infinity. Returns 0, or 1 + the index\
     * of the first invalid point (a coordinate >= p, Y^2 Z != X^3 + b' Z^3, Z = 0 with X != 0). */    \
    long PRE##_g2_import_proj(const u64 *xyz, long n, u64 *out) {                                      \
        long bad = n;                                                                                  \
        _Pragma("omp parallel for schedule(static) reduction(min : bad)")                              \
        for (long i = 0; i < n; i++) {                                                                 \
            const u64 *c = xyz + 6 * NLIMBS * i;                                                       \
            PRE##_g2 *r = (PRE##_g2 *)out + i;                                                         \
            int err = 0;                                                                               \
            for (int k = 0; k < 6; k++) err |= PRE##_fp_geq_p(c + k * NLIMBS);                         \
            if (!err) {                                                                                \
                PRE##_fp2 X, Y, Z, l, t, z2, bz3, b;                                                   \
                PRE##_fp_to_mont(X.c0, c);                                                             \
                PRE##_fp_to_mont(X.c1, c + NLIMBS);                                                    \
                PRE##_fp_to_mont(Y.c0, c + 2 * NLIMBS);                                                \
                PRE##_fp_to_mont(Y.c1, c + 3 * NLIMBS);                                                \
                PRE##_fp_to_mont(Z.c0, c + 4 * NLIMBS);                                                \
                PRE##_fp_to_mont(Z.c1, c + 5 * NLIMBS);                                                \
                if (PRE##_fp2_is_zero(&Z)) {                                                           \
                    err = !PRE##_fp2_is_zero(&X);                                                      \
                    PRE##_g2_set_inf(r);                                                               \
                } else {                                                                               \
                    PRE##_fp_copy(b.c0, PRE##_B2);                                                     \
                    PRE##_fp_copy(b.c1, PRE##_B2 + NLIMBS);                                            \
                    PRE##_fp2_sqr(&z2, &Z);                                                            \
                    PRE##_fp2_sqr(&l, &Y);                                                             \
                    PRE##_fp2_mul(&l, &l, &Z);                                                         \
                    PRE##_fp2_sqr(&t, &X);                                                             \
                    PRE##_fp2_mul(&t, &t, &X);                                                         \
                    PRE##_fp2_mul(&bz3, &z2, &Z);                                                      \
                    PRE##_fp2_mul(&bz3, &bz3, &b);                                                     \
                    PRE##_fp2_add(&t, &t, &bz3);                                                       \
                    err = !PRE##_fp2_eq(&l, &t);                                                       \
                    PRE##_fp2_mul(&r->X, &X, &Z);                                                      \
                    PRE##_fp2_mul(&r->Y, &Y, &z2);                                                     \
                    r->Z = Z;                                                                          \
                }                                                                                      \
            }                                                                                          \
            if (err && i < bad) bad = i;                                                               \
        }                                                                                              \
        return bad == n ? 0 : bad + 1;                                                                 \
    }                                                                                                  \
    /* in place: Z in {0, 1} (Montgomery's trick per chunk of NORM_CHUNK points) */                    \
    int PRE##_g2_normalize(u64 *pts, long n) {                                                         \
        long chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;                                               \
        int err = 0;                                                                                   \
        _Pragma("omp parallel reduction(| : err)")                                                     \
        {                                                                                              \
            PRE##_fp2 *pref = (PRE##_fp2 *)malloc(sizeof(PRE##_fp2) * NORM_CHUNK);                     \
            if (!pref) err = 1;                                                                        \
            _Pragma("omp for schedule(static)")                                                        \
            for (long c = 0; c < chunks; c++) {                                                        \
                long lo = c * NORM_CHUNK, cnt = n - lo < NORM_CHUNK ? n - lo : NORM_CHUNK;             \
                if (pref) PRE##_g2_normalize_run((PRE##_g2 *)pts + lo, cnt, pref);                     \
            }                                                                                          \
            free(pref);                                                                                \
        }                                                                                              \
        return err;                                                                                    \
    }                                                                                                  \
    /* normalised Jacobian -> canonical affine + infinity flags */                                     \
    void PRE##_g2_export(const u64 *pts, long n, u64 *xy, unsigned char *inf) {                        \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long i = 0; i < n; i++)                                                                   \
            PRE##_g2_pt_export(xy + 4 * NLIMBS * i, inf + i, (const PRE##_g2 *)pts + i);  \
    }                                                                                                  \
    /* Decompression's square root on the twist: for canonical x = (c0, c1) (n, 2, NL), y = a square root of\
     * x^3 + b' in Fp2 where one exists (ok = 1 iff y^2 == x^3 + b'); canonical out. Adj and Rodriguez-\
     * Henriquez's algorithm for p = 3 mod 4: a1 = a^((p-3)/4), alpha = a1^2 a, x0 = a1 a; alpha = -1 gives\
     * y = u x0, otherwise y = (1 + alpha)^((p-1)/2) x0. Which of the two roots comes out does not matter:\
     * the caller picks the sign from the encoding's flag. */                                          \
    void PRE##_g2_sqrt_rhs(const u64 *x, long n, u64 *y, unsigned char *ok) {                          \
        u64 e1[NLIMBS], e2[NLIMBS];                                                                    \
        for (int i = 0; i < NLIMBS; i++) {                                                             \
            u64 hi = i + 1 < NLIMBS ? PRE##_P[i + 1] : 0;                                              \
            e1[i] = (PRE##_P[i] >> 2) | (hi << 62); /* (p - 3) / 4 = p >> 2 */                         \
            e2[i] = (PRE##_P[i] >> 1) | (hi << 63); /* (p - 1) / 2 = p >> 1 */                         \
        }                                                                                              \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long k = 0; k < n; k++) {                                                                 \
            PRE##_fp2 xm, a, a1, alpha, x0, r, t, b, m1;                                               \
            PRE##_fp_to_mont(xm.c0, x + 2 * NLIMBS * k);                                               \
            PRE##_fp_to_mont(xm.c1, x + 2 * NLIMBS * k + NLIMBS);                                      \
            PRE##_fp_copy(b.c0, PRE##_B2);                                                             \
            PRE##_fp_copy(b.c1, PRE##_B2 + NLIMBS);                                                    \
            PRE##_fp2_sqr(&a, &xm);                                                                    \
            PRE##_fp2_mul(&a, &a, &xm);                                                                \
            PRE##_fp2_add(&a, &a, &b); /* a = x^3 + b' */                                              \
            PRE##_fp2_pow(&a1, &a, e1);                                                                \
            PRE##_fp2_sqr(&alpha, &a1);                                                                \
            PRE##_fp2_mul(&alpha, &alpha, &a);                                                         \
            PRE##_fp2_mul(&x0, &a1, &a);                                                               \
            PRE##_fp2_one(&m1);                                                                        \
            PRE##_fp2_neg(&m1, &m1);                                                                   \
            if (PRE##_fp2_eq(&alpha, &m1)) { /* r = u x0 = -x0.c1 + x0.c0 u */                         \
                PRE##_fp_neg(r.c0, x0.c1);                                                             \
                PRE##_fp_copy(r.c1, x0.c0);                                                            \
            } else {                                                                                   \
                PRE##_fp2_one(&t);                                                                     \
                PRE##_fp2_add(&t, &t, &alpha);                                                         \
                PRE##_fp2_pow(&t, &t, e2);                                                             \
                PRE##_fp2_mul(&r, &t, &x0);                                                            \
            }                                                                                          \
            PRE##_fp2_sqr(&t, &r);                                                                     \
            ok[k] = (unsigned char)PRE##_fp2_eq(&t, &a);                                               \
            PRE##_fp_from_mont(y + 2 * NLIMBS * k, r.c0);                                              \
            PRE##_fp_from_mont(y + 2 * NLIMBS * k + NLIMBS, r.c1);                                     \
        }                                                                                              \
    }                                                                                                  \
    /* out[i] = s[i] * p[i] */                                                                         \
    void PRE##_g2_scalar_mul(const u64 *pts, const u64 *sc, long n, u64 *out) {                        \
        _Pragma("omp parallel for schedule(dynamic, 4)")                                               \
        for (long i = 0; i < n; i++) PRE##_g2_mul((PRE##_g2 *)out + i, (const PRE##_g2 *)pts + i, sc + 4 * i); \
    }                                                                                                  \
    /* out[i] = s * p[i] for one scalar s (powers of a base, subgroup checks with s = r) */            \
    void PRE##_g2_scalar_mul1(const u64 *pts, const u64 *s, long n, u64 *out) {                        \
        _Pragma("omp parallel for schedule(dynamic, 4)")                                               \
        for (long i = 0; i < n; i++) PRE##_g2_mul((PRE##_g2 *)out + i, (const PRE##_g2 *)pts + i, s); \
    }                                                                                                  \
    /* out[i] = s[i] * base for one fixed base: comb.h                                                 \
     * (8-bit windows, 8,160 affine multiples, 31 mixed additions a scalar) */                         \
    DEFINE_FIXED_BASE(PRE##_g2_fixed_base, PRE##_g2, PRE##_g2_add, PRE##_g2_dbl, PRE##_g2_set_inf,     \
                      PRE##_g2_normalize_run, PRE##_fp2, 255)                                          \
    /* out = sum_i s[i] p[i] by the bucket method (Pippenger): signed c-bit digits (2^(c-1) buckets), affine\
     * buckets with batched inversions (g2_msm_window_ba), windows in parallel. The points are normalised\
     * to affine first (a copy) unless they already are. */                                            \
    int PRE##_g2_msm_pippenger(const u64 *pts, const u64 *sc, long n, int c, u64 *out) {               \
        int nw = (256 + c - 1) / c; /* windows 0..nw (the last one holds the top carry) */             \
        long nb = 1L << (c - 1);                                                                       \
        PRE##_g2 *win = (PRE##_g2 *)malloc(sizeof(PRE##_g2) * (nw + 1));                               \
        int *dig = (int *)malloc(sizeof(int) * (nw + 1) * (n ? n : 1));                                \
        const PRE##_g2 *aff = (const PRE##_g2 *)pts;                                                   \
        PRE##_g2 *copy = 0;                                                                            \
        int all_affine = 1;                                                                            \
        for (long i = 0; i < n && all_affine; i++)                                                     \
            all_affine = PRE##_fp2_is_one(&aff[i].Z) || PRE##_g2_is_inf(&aff[i]);                      \
        int err = (win == 0 || dig == 0);                                                              \
        if (!err && !all_affine) { /* normalise a copy: affine buckets need affine points */           \
            copy = (PRE##_g2 *)malloc(sizeof(PRE##_g2) * n);                                           \
            err = copy == 0;                                                                           \
            if (!err) {                                                                                \
                memcpy(copy, pts, sizeof(PRE##_g2) * n);                                               \
                err = PRE##_g2_normalize((u64 *)copy, n);                                              \
                aff = copy;                                                                            \
            }                                                                                          \
        }                                                                                              \
        if (!err) {                                                                                    \
            _Pragma("omp parallel for schedule(static)")                                               \
            for (long i = 0; i < n; i++) signed_digits(sc + 4 * i, c, nw, dig + (long)(nw + 1) * i);   \
            _Pragma("omp parallel reduction(| : err)")                                                 \
            {                                                                                          \
                PRE##_g2_ba_scratch *S = (PRE##_g2_ba_scratch *)malloc(sizeof(PRE##_g2_ba_scratch));   \
                if (S) {                                                                               \
                    S->bx = (PRE##_fp2 *)malloc(sizeof(PRE##_fp2) * nb);                               \
                    S->by = (PRE##_fp2 *)malloc(sizeof(PRE##_fp2) * nb);                               \
                    S->full = (int *)malloc(sizeof(int) * nb);                                         \
                    S->stamp = (int *)malloc(sizeof(int) * nb);                                        \
                    S->jb = (PRE##_g2 *)malloc(sizeof(PRE##_g2) * nb);                             \
                }                                                                                      \
                int ok = S && S->bx && S->by && S->full && S->stamp && S->jb;                       \
                if (!ok) err = 1;                                                                      \
                _Pragma("omp for schedule(dynamic, 1)")                                                \
                for (int w = 0; w <= nw; w++) {                                                        \
                    if (ok) PRE##_g2_msm_window_ba(&win[w], aff, dig + w, nw + 1, n, c, S);            \
                }                                                                                      \
                if (S) {                                                                               \
                    free(S->bx);                                                                       \
                    free(S->by);                                                                       \
                    free(S->full);                                                                     \
                    free(S->stamp);                                                                    \
                    free(S->jb);                                                                    \
                }                                                                                      \
                free(S);                                                                               \
            }                                                                                          \
        }                                                                                              \
        if (!err) {                                                                                    \
            PRE##_g2 acc;                                                                              \
            PRE##_g2_set_inf(&acc);                                                                    \
            for (int w = nw; w >= 0; w--) {                                                            \
                for (int k = 0; k < c; k++) PRE##_g2_dbl(&acc, &acc);                                  \
                PRE##_g2_add(&acc, &acc, &win[w]);                                                     \
            }                                                                                          \
            *(PRE##_g2 *)out = acc;                                                                    \
        }                                                                                              \
        free(win);                                                                                     \
        free(dig);                                                                                     \
        free(copy);                                                                                    \
        return err;                                                                                    \
    }

DEFINE_G2_BATCH(bn254, 4)
DEFINE_G2_BATCH(bls12_381, 6)

int g2_native_abi(void) { return 1; }
