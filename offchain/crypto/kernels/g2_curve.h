/* G2 arithmetic of BN254 and BLS12-381 for the native (C, OpenMP) kernel g2_native.c.
 *
 * Included by g1_curve.h inside its per-curve part when G1_CURVE_EXTRA names it, so it sees the same
 * NL, PFX(x) and C_* macros and builds on that curve's Fp functions (64-bit limbs, Montgomery form,
 * always fully reduced). The CUDA build never includes this file.
 *
 * Fp2 = Fp[u]/(u^2 + 1) for both curves (p = 3 mod 4); an element is (c0, c1) = c0 + c1 u.
 * G2 is the sextic twist y^2 = x^3 + b' over Fp2 (C_B2 = b' in Montgomery form: 3/(9 + u) for BN254,
 * 4(1 + u) for BLS12-381). Points are Jacobian with the same conventions as G1 (a = 0; Z = 0 is the
 * point at infinity; Z == 1 marks an affine point and selects the mixed addition), the same formulas
 * (dbl-2009-l, add-2007-bl, madd-2007-bl) over Fp2 instead of Fp.
 *
 * Integer-only and exact: the results are group elements, equal to the array (numpy) code's once
 * encoded. Not constant-time (public inputs: SRS points and polynomial coefficients).
 */

#ifndef G1_CURVE_COMMON
#error "g2_curve.h is included by g1_curve.h (define G1_CURVE_EXTRA \"g2_curve.h\" before a curve instance)"
#endif

KCONST u64 PFX(B2)[2 * NL] = C_B2;

#include "fp2.h" /* Fp2 = Fp[u]/(u^2 + 1): type and arithmetic, shared with pairing_tower.h */

typedef struct {
    PFX(fp2) X, Y, Z;
} PFX(g2);

/* ----- points -------------------------------------------------------------------------------- */

DEV void PFX(g2_set_inf)(PFX(g2) *r) {
    PFX(fp2_one)(&r->X);
    PFX(fp2_one)(&r->Y);
    PFX(fp2_zero)(&r->Z);
}

DEV int PFX(g2_is_inf)(const PFX(g2) *a) { return PFX(fp2_is_zero)(&a->Z); }

DEV void PFX(g2_neg)(PFX(g2) *r, const PFX(g2) *a) {
    r->X = a->X;
    PFX(fp2_neg)(&r->Y, &a->Y);
    r->Z = a->Z;
}

/* r = 2a (dbl-2009-l, a = 0). r may alias a. */
DEVNI void PFX(g2_dbl)(PFX(g2) *r, const PFX(g2) *a) {
    if (PFX(g2_is_inf)(a)) {
        PFX(g2_set_inf)(r);
        return;
    }
    PFX(fp2) A, B, C, D, E, F, t, Z3;
    PFX(fp2_sqr)(&A, &a->X);
    PFX(fp2_sqr)(&B, &a->Y);
    PFX(fp2_sqr)(&C, &B);
    PFX(fp2_add)(&t, &a->X, &B);
    PFX(fp2_sqr)(&t, &t);
    PFX(fp2_sub)(&t, &t, &A);
    PFX(fp2_sub)(&t, &t, &C);
    PFX(fp2_add)(&D, &t, &t);
    PFX(fp2_add)(&E, &A, &A);
    PFX(fp2_add)(&E, &E, &A);
    PFX(fp2_sqr)(&F, &E);
    PFX(fp2_mul)(&Z3, &a->Y, &a->Z);
    PFX(fp2_add)(&Z3, &Z3, &Z3);
    PFX(fp2_sub)(&r->X, &F, &D);
    PFX(fp2_sub)(&r->X, &r->X, &D);
    PFX(fp2_sub)(&t, &D, &r->X);
    PFX(fp2_mul)(&t, &E, &t);
    PFX(fp2_add)(&C, &C, &C);
    PFX(fp2_add)(&C, &C, &C);
    PFX(fp2_add)(&C, &C, &C);
    PFX(fp2_sub)(&r->Y, &t, &C);
    r->Z = Z3;
}

/* r = a + b for any a, b (infinity, equal, opposite); mixed formula (madd-2007-bl) when b is affine
 * (Z == 1), else add-2007-bl. r may alias a or b. */
DEVNI void PFX(g2_add)(PFX(g2) *r, const PFX(g2) *a, const PFX(g2) *b) {
    if (PFX(g2_is_inf)(a)) {
        *r = *b;
        return;
    }
    if (PFX(g2_is_inf)(b)) {
        *r = *a;
        return;
    }
    PFX(fp2) Z1Z1, Z2Z2, U1, U2, S1, S2, H, I, J, rr, V, t, X3, Y3, Z3;
    int b_affine = PFX(fp2_is_one)(&b->Z);
    PFX(fp2_sqr)(&Z1Z1, &a->Z);
    PFX(fp2_mul)(&U2, &b->X, &Z1Z1);
    PFX(fp2_mul)(&S2, &b->Y, &a->Z);
    PFX(fp2_mul)(&S2, &S2, &Z1Z1);
    if (b_affine) {
        U1 = a->X;
        S1 = a->Y;
    } else {
        PFX(fp2_sqr)(&Z2Z2, &b->Z);
        PFX(fp2_mul)(&U1, &a->X, &Z2Z2);
        PFX(fp2_mul)(&S1, &a->Y, &b->Z);
        PFX(fp2_mul)(&S1, &S1, &Z2Z2);
    }
    PFX(fp2_sub)(&H, &U2, &U1);
    PFX(fp2_sub)(&rr, &S2, &S1);
    if (PFX(fp2_is_zero)(&H)) {
        if (PFX(fp2_is_zero)(&rr)) {
            PFX(g2_dbl)(r, a);
        } else {
            PFX(g2_set_inf)(r);
        }
        return;
    }
    PFX(fp2_add)(&rr, &rr, &rr);
    PFX(fp2_add)(&I, &H, &H);
    PFX(fp2_sqr)(&I, &I);
    PFX(fp2_mul)(&J, &H, &I);
    PFX(fp2_mul)(&V, &U1, &I);
    PFX(fp2_sqr)(&X3, &rr);
    PFX(fp2_sub)(&X3, &X3, &J);
    PFX(fp2_sub)(&X3, &X3, &V);
    PFX(fp2_sub)(&X3, &X3, &V);
    PFX(fp2_sub)(&t, &V, &X3);
    PFX(fp2_mul)(&Y3, &rr, &t);
    PFX(fp2_mul)(&t, &S1, &J);
    PFX(fp2_add)(&t, &t, &t);
    PFX(fp2_sub)(&Y3, &Y3, &t);
    if (b_affine) {
        PFX(fp2_add)(&Z3, &a->Z, &H);
        PFX(fp2_sqr)(&Z3, &Z3);
        PFX(fp2_sub)(&Z3, &Z3, &Z1Z1);
        PFX(fp2_sqr)(&t, &H);
        PFX(fp2_sub)(&Z3, &Z3, &t);
    } else {
        PFX(fp2_add)(&Z3, &a->Z, &b->Z);
        PFX(fp2_sqr)(&Z3, &Z3);
        PFX(fp2_sub)(&Z3, &Z3, &Z1Z1);
        PFX(fp2_sub)(&Z3, &Z3, &Z2Z2);
        PFX(fp2_mul)(&Z3, &Z3, &H);
    }
    r->X = X3;
    r->Y = Y3;
    r->Z = Z3;
}

/* r = s a for a 256-bit scalar (any value below 2^256, e.g. the group order for a subgroup check):
 * width-5 NAF over the 8 odd multiples a, 3a, ..., 15a. */
DEVNI void PFX(g2_mul)(PFX(g2) *r, const PFX(g2) *a, const u64 s[4]) {
    PFX(g2) tab[8], two, acc;
    signed char dig[WNAF_MAX];
    int len = wnaf5(s, dig);
    PFX(g2_dbl)(&two, a);
    tab[0] = *a;
    for (int i = 1; i < 8; i++) PFX(g2_add)(&tab[i], &tab[i - 1], &two);
    PFX(g2_set_inf)(&acc);
    for (int k = len - 1; k >= 0; k--) {
        PFX(g2_dbl)(&acc, &acc);
        int d = dig[k];
        if (d > 0) {
            PFX(g2_add)(&acc, &acc, &tab[d >> 1]);
        } else if (d < 0) {
            PFX(g2) n;
            PFX(g2_neg)(&n, &tab[(-d) >> 1]);
            PFX(g2_add)(&acc, &acc, &n);
        }
    }
    *r = acc;
}

#ifndef G2_CURVE_COMMON
#define G2_CURVE_COMMON
/* Signed c-bit digits (c <= 30) of a 256-bit scalar: d[w] in [-2^(c-1), 2^(c-1)), sum_w d[w] 2^(c w) = s,
 * for w <= nw = ceil(256 / c) (the last digit takes the final carry). */
DEV void signed_digits(const u64 s[4], int c, int nw, int *d) {
    int carry = 0;
    for (int w = 0; w <= nw; w++) {
        int v = (int)scalar_digit(s, w, c) + carry;
        carry = v >= (1 << (c - 1));
        d[w] = carry ? v - (1 << c) : v;
    }
}
#define G2_BATCH 256 /* affine additions sharing one inversion in the bucket method */
#endif

/* One window of the bucket method with affine buckets (Pippenger with batched affine additions, as in
 * the fast MSM implementations): r = sum_i dig[i * stride] a_i for signed digits |d| <= 2^(c-1); the
 * points a must be affine (Z == 1) or infinity. A point goes into bucket |d| - 1 (negated for d < 0);
 * up to G2_BATCH additions into distinct buckets share one Fp2 inversion (Montgomery's trick), so an
 * addition costs ~6 Fp2 products instead of ~11 for a mixed Jacobian one. A point whose bucket already
 * has an addition in the open batch goes into that bucket's Jacobian side sum instead (so a window whose
 * digits hit few buckets stays linear); equal x (doubling, or P + (-P) = O) takes its own inversion.
 * The buckets are then summed (sum_k (k + 1) B_k as suffix sums) in Jacobian form.
 * Scratch (per thread): bx, by nb Fp2 each, full / stamp nb ints, jb nb points, the batch arrays. */
typedef struct {
    PFX(fp2) *bx, *by;
    int *full, *stamp;
    PFX(g2) *jb;
    int eb[G2_BATCH];
    long ei[G2_BATCH];
    PFX(fp2) edx[G2_BATCH], epre[G2_BATCH];
} PFX(g2_ba_scratch);

DEV void PFX(g2_ba_point)(const PFX(g2) *a, int neg, PFX(fp2) *x, PFX(fp2) *y) {
    *x = a->X;
    if (neg) {
        PFX(fp2_neg)(y, &a->Y);
    } else {
        *y = a->Y;
    }
}

/* bucket b = 2 B (affine; B = O when y = 0) */
DEVNI void PFX(g2_ba_double)(PFX(g2_ba_scratch) *S, int b) {
    PFX(fp2) *x = &S->bx[b], *y = &S->by[b];
    if (PFX(fp2_is_zero)(y)) {
        S->full[b] = 0;
        return;
    }
    PFX(fp2) num, den, lam, t, x3;
    PFX(fp2_sqr)(&num, x);
    PFX(fp2_add)(&t, &num, &num);
    PFX(fp2_add)(&num, &t, &num); /* 3 x^2 */
    PFX(fp2_add)(&den, y, y);
    PFX(fp2_inv)(&den, &den);
    PFX(fp2_mul)(&lam, &num, &den);
    PFX(fp2_sqr)(&x3, &lam);
    PFX(fp2_sub)(&x3, &x3, x);
    PFX(fp2_sub)(&x3, &x3, x);
    PFX(fp2_sub)(&t, x, &x3);
    PFX(fp2_mul)(&t, &lam, &t);
    PFX(fp2_sub)(y, &t, y);
    *x = x3;
}

/* complete the open batch: bucket eb[e] += point ei[e] (sign in the low bit) for e < cnt */
DEVNI void PFX(g2_ba_flush)(PFX(g2_ba_scratch) *S, const PFX(g2) *a, int cnt) {
    PFX(fp2) acc, inv;
    PFX(fp2_one)(&acc);
    int live = 0;
    for (int e = 0; e < cnt; e++) {
        int b = S->eb[e];
        PFX(fp2) x, y;
        PFX(g2_ba_point)(&a[S->ei[e] >> 1], (int)(S->ei[e] & 1), &x, &y);
        PFX(fp2_sub)(&S->edx[e], &x, &S->bx[b]);
        if (PFX(fp2_is_zero)(&S->edx[e])) { /* same x: 2B or B + (-B) = O */
            if (PFX(fp2_eq)(&y, &S->by[b])) {
                PFX(g2_ba_double)(S, b);
            } else {
                S->full[b] = 0;
            }
            S->eb[e] = -1;
            continue;
        }
        S->epre[e] = acc;
        PFX(fp2_mul)(&acc, &acc, &S->edx[e]);
        live++;
    }
    if (!live) return;
    PFX(fp2_inv)(&inv, &acc);
    for (int e = cnt - 1; e >= 0; e--) {
        int b = S->eb[e];
        if (b < 0) continue;
        PFX(fp2) idx, x, y, lam, x3, t;
        PFX(fp2_mul)(&idx, &inv, &S->epre[e]); /* 1 / dx_e */
        PFX(fp2_mul)(&inv, &inv, &S->edx[e]);
        PFX(g2_ba_point)(&a[S->ei[e] >> 1], (int)(S->ei[e] & 1), &x, &y);
        PFX(fp2_sub)(&t, &y, &S->by[b]);
        PFX(fp2_mul)(&lam, &t, &idx);
        PFX(fp2_sqr)(&x3, &lam);
        PFX(fp2_sub)(&x3, &x3, &S->bx[b]);
        PFX(fp2_sub)(&x3, &x3, &x);
        PFX(fp2_sub)(&t, &S->bx[b], &x3);
        PFX(fp2_mul)(&t, &lam, &t);
        PFX(fp2_sub)(&S->by[b], &t, &S->by[b]);
        S->bx[b] = x3;
    }
}

DEVNI void PFX(g2_msm_window_ba)(PFX(g2) *r, const PFX(g2) *a, const int *dig, long stride, long n, int c,
                                 PFX(g2_ba_scratch) *S) {
    long nb = 1L << (c - 1);
    for (long k = 0; k < nb; k++) {
        S->full[k] = 0;
        S->stamp[k] = -1;
        PFX(g2_set_inf)(&S->jb[k]);
    }
    int batch = 0, cnt = 0;
    for (long i = 0; i < n; i++) {
        int d = dig[i * stride];
        if (d == 0 || PFX(g2_is_inf)(&a[i])) continue;
        int b = (d < 0 ? -d : d) - 1;
        if (S->stamp[b] == batch) { /* the bucket has an addition in the open batch: Jacobian side sum */
            PFX(g2) q = a[i];
            if (d < 0) PFX(fp2_neg)(&q.Y, &q.Y);
            PFX(g2_add)(&S->jb[b], &S->jb[b], &q);
            continue;
        }
        if (!S->full[b]) {
            PFX(g2_ba_point)(&a[i], d < 0, &S->bx[b], &S->by[b]);
            S->full[b] = 1;
            continue;
        }
        S->stamp[b] = batch;
        S->eb[cnt] = b;
        S->ei[cnt] = (i << 1) | (d < 0);
        if (++cnt == G2_BATCH) {
            PFX(g2_ba_flush)(S, a, cnt);
            cnt = 0;
            batch++;
        }
    }
    PFX(g2_ba_flush)(S, a, cnt);
    PFX(g2) run, sum, bk; /* sum_k (k + 1) B_k as a sum of suffix sums, B_k = affine part + side sum */
    PFX(g2_set_inf)(&run);
    PFX(g2_set_inf)(&sum);
    for (long k = nb - 1; k >= 0; k--) {
        if (S->full[k]) {
            bk.X = S->bx[k];
            bk.Y = S->by[k];
            PFX(fp2_one)(&bk.Z);
            PFX(g2_add)(&bk, &S->jb[k], &bk);
        } else {
            bk = S->jb[k];
        }
        PFX(g2_add)(&run, &run, &bk);
        PFX(g2_add)(&sum, &sum, &run);
    }
    *r = sum;
}

/* Bring n points to Z in {0, 1} (Montgomery's trick, one Fp2 inversion). pref: n Fp2 scratch. */
DEVNI void PFX(g2_normalize_run)(PFX(g2) *p, long n, PFX(fp2) *pref) {
    PFX(fp2) acc, inv;
    PFX(fp2_one)(&acc);
    for (long i = 0; i < n; i++) {
        pref[i] = acc;
        if (!PFX(g2_is_inf)(&p[i])) PFX(fp2_mul)(&acc, &acc, &p[i].Z);
    }
    PFX(fp2_inv)(&inv, &acc);
    for (long i = n - 1; i >= 0; i--) {
        if (PFX(g2_is_inf)(&p[i])) {
            PFX(g2_set_inf)(&p[i]);
            continue;
        }
        PFX(fp2) zi, z2, z3;
        PFX(fp2_mul)(&zi, &inv, &pref[i]);
        PFX(fp2_mul)(&inv, &inv, &p[i].Z);
        PFX(fp2_sqr)(&z2, &zi);
        PFX(fp2_mul)(&z3, &z2, &zi);
        PFX(fp2_mul)(&p[i].X, &p[i].X, &z2);
        PFX(fp2_mul)(&p[i].Y, &p[i].Y, &z3);
        PFX(fp2_one)(&p[i].Z);
    }
}

/* Canonical affine (x.c0, x.c1, y.c0, y.c1; NL limbs each) and an infinity flag -> Jacobian
 * Montgomery; 0 if valid (every coordinate below p, on the twist, infinity encoded as all zeros with
 * flag 1), 1 otherwise. Subgroup membership is a separate check (g2_mul by the group order). */
DEV int PFX(g2_pt_import)(PFX(g2) *r, const u64 *xy, unsigned char inf) {
    if (inf) {
        PFX(g2_set_inf)(r);
        int nz = 0;
        for (int i = 0; i < 4 * NL; i++) nz |= (xy[i] != 0);
        return (inf != 1) || nz;
    }
    for (int k = 0; k < 4; k++)
        if (PFX(fp_geq_p)(xy + k * NL)) return 1;
    PFX(fp_to_mont)(r->X.c0, xy);
    PFX(fp_to_mont)(r->X.c1, xy + NL);
    PFX(fp_to_mont)(r->Y.c0, xy + 2 * NL);
    PFX(fp_to_mont)(r->Y.c1, xy + 3 * NL);
    PFX(fp2_one)(&r->Z);
    PFX(fp2) l, rt, b;
    PFX(fp_copy)(b.c0, PFX(B2));
    PFX(fp_copy)(b.c1, PFX(B2) + NL);
    PFX(fp2_sqr)(&l, &r->Y);
    PFX(fp2_sqr)(&rt, &r->X);
    PFX(fp2_mul)(&rt, &rt, &r->X);
    PFX(fp2_add)(&rt, &rt, &b);
    return !PFX(fp2_eq)(&l, &rt);
}

/* Normalised point (Z in {0, 1}) -> canonical affine (x.c0, x.c1, y.c0, y.c1), zeros at infinity. */
DEV void PFX(g2_pt_export)(u64 *xy, unsigned char *inf, const PFX(g2) *a) {
    if (PFX(g2_is_inf)(a)) {
        for (int i = 0; i < 4 * NL; i++) xy[i] = 0;
        *inf = 1;
        return;
    }
    PFX(fp_from_mont)(xy, a->X.c0);
    PFX(fp_from_mont)(xy + NL, a->X.c1);
    PFX(fp_from_mont)(xy + 2 * NL, a->Y.c0);
    PFX(fp_from_mont)(xy + 3 * NL, a->Y.c1);
    *inf = 0;
}
