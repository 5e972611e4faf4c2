/* The extension-field tower Fp2 -> Fp6 -> Fp12 of BN254 and BLS12-381 for the native pairing
 * (pairing_native.c). CPU only; built on the Fp arithmetic of g1_curve.h (64-bit limbs,
 * Montgomery form, every value fully reduced to [0, p)), which the includer has instantiated for the
 * same curve (PFX(fp_mul), PFX(fp_add), ...).
 *
 * Included once per curve after the curve's g1_<curve>.h, with these macros defined (pairing_native.c
 * defines them before, and undefines them after, this file and pairing_curve.h):
 *   NL       limb count (4 or 6)             PFX(x)  name prefix (bn254_x / bls12_381_x)
 *   XI0      xi = XI0 + u, the non-residue of Fp6 (9 for BN254, 1 for BLS12-381)
 *   PT_FROB  15 Fp2 constants (Montgomery, c0 then c1): gamma_k,j = xi^(j (p^k - 1) / 6) for
 *            k = 1, 2, 3 and j = 1..5, from pairing_params.h
 *
 * The tower (the usual one for both curves; py_ecc's FQ12 maps onto it, see pairing_native.c):
 *   Fp2  = Fp[u] / (u^2 + 1)          (p = 3 mod 4 on both curves)
 *   Fp6  = Fp2[v] / (v^3 - xi)
 *   Fp12 = Fp6[w] / (w^2 - v)          so w^6 = xi, and an Fp12 element is sum_j c_j w^j (j < 6,
 *                                      c_j in Fp2) with c_0, c_2, c_4 in the first Fp6 half and
 *                                      c_1, c_3, c_5 in the second.
 * Products use Karatsuba at each level (Devegili, O hEigeartaigh, Scott, Dahab, "Multiplication and
 * squaring on pairing-friendly fields", 2006); Fp6 squaring is Chung-Hasan's SQR2 and Fp12 squaring
 * the "complex" method; the cyclotomic squaring is Granger-Scott's ("Faster squaring in the
 * cyclotomic subgroup of sixth degree extensions", PKC 2010).
 *
 * Not constant-time: the pairing inputs are public (KZG commitments, proofs, SRS points), so
 * branches and early exits on the data are fine.
 */

#include "fp2.h" /* Fp2 = Fp[u]/(u^2 + 1): type and arithmetic, shared with g2_curve.h */

typedef struct {
    PFX(fp2) c0, c1, c2; /* c0 + c1 v + c2 v^2 */
} PFX(fp6);

typedef struct {
    PFX(fp6) c0, c1; /* c0 + c1 w */
} PFX(fp12);

KCONST u64 PFX(FROB)[15][2][NL] = PT_FROB;

/* ----- Fp helpers ---------------------------------------------------------------------------- */

DEV void PFX(fp_dbl)(u64 *r, const u64 *a) { PFX(fp_add)(r, a, a); }

/* r = XI0 * a by doublings and additions (XI0 is a small compile-time constant) */
DEV void PFX(fp_mul_xi0)(u64 *r, const u64 *a) {
    if (XI0 == 1) {
        PFX(fp_copy)(r, a);
        return;
    }
    u64 acc[NL];
    int top = 31;
    while (!((XI0 >> top) & 1)) top--;
    PFX(fp_copy)(acc, a);
    for (int b = top - 1; b >= 0; b--) {
        PFX(fp_dbl)(acc, acc);
        if ((XI0 >> b) & 1) PFX(fp_add)(acc, acc, a);
    }
    PFX(fp_copy)(r, acc);
}

/* ----- Fp2 ----------------------------------------------------------------------------------- */

/* a * xi = (a0 + a1 u)(XI0 + u) = (XI0 a0 - a1) + (a0 + XI0 a1) u */
DEV void PFX(fp2_mul_xi)(PFX(fp2) *r, const PFX(fp2) *a) {
    u64 t0[NL], t1[NL];
    PFX(fp_mul_xi0)(t0, a->c0);
    PFX(fp_mul_xi0)(t1, a->c1);
    PFX(fp_sub)(t0, t0, a->c1);
    PFX(fp_add)(r->c1, t1, a->c0);
    PFX(fp_copy)(r->c0, t0);
}

/* ----- Fp6 ----------------------------------------------------------------------------------- */

DEV void PFX(fp6_add)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp6) *b) {
    PFX(fp2_add)(&r->c0, &a->c0, &b->c0);
    PFX(fp2_add)(&r->c1, &a->c1, &b->c1);
    PFX(fp2_add)(&r->c2, &a->c2, &b->c2);
}

DEV void PFX(fp6_sub)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp6) *b) {
    PFX(fp2_sub)(&r->c0, &a->c0, &b->c0);
    PFX(fp2_sub)(&r->c1, &a->c1, &b->c1);
    PFX(fp2_sub)(&r->c2, &a->c2, &b->c2);
}

DEV void PFX(fp6_neg)(PFX(fp6) *r, const PFX(fp6) *a) {
    PFX(fp2_neg)(&r->c0, &a->c0);
    PFX(fp2_neg)(&r->c1, &a->c1);
    PFX(fp2_neg)(&r->c2, &a->c2);
}

/* a * v = xi a2 + a0 v + a1 v^2. r may alias a. */
DEV void PFX(fp6_mul_v)(PFX(fp6) *r, const PFX(fp6) *a) {
    PFX(fp2) t;
    PFX(fp2_mul_xi)(&t, &a->c2);
    r->c2 = a->c1;
    r->c1 = a->c0;
    r->c0 = t;
}

/* Karatsuba over Fp2 (Devegili et al. 2006, section 4): with t_i = a_i b_i,
 *   c0 = t0 + xi ((a1 + a2)(b1 + b2) - t1 - t2)
 *   c1 = (a0 + a1)(b0 + b1) - t0 - t1 + xi t2
 *   c2 = (a0 + a2)(b0 + b2) - t0 - t2 + t1.   r may alias a or b. */
DEV void PFX(fp6_mul)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp6) *b) {
    PFX(fp2) t0, t1, t2, sa, sb, c0, c1, c2;
    PFX(fp2_mul)(&t0, &a->c0, &b->c0);
    PFX(fp2_mul)(&t1, &a->c1, &b->c1);
    PFX(fp2_mul)(&t2, &a->c2, &b->c2);

    PFX(fp2_add)(&sa, &a->c1, &a->c2);
    PFX(fp2_add)(&sb, &b->c1, &b->c2);
    PFX(fp2_mul)(&c0, &sa, &sb);
    PFX(fp2_sub)(&c0, &c0, &t1);
    PFX(fp2_sub)(&c0, &c0, &t2);
    PFX(fp2_mul_xi)(&c0, &c0);
    PFX(fp2_add)(&c0, &c0, &t0);

    PFX(fp2_add)(&sa, &a->c0, &a->c1);
    PFX(fp2_add)(&sb, &b->c0, &b->c1);
    PFX(fp2_mul)(&c1, &sa, &sb);
    PFX(fp2_sub)(&c1, &c1, &t0);
    PFX(fp2_sub)(&c1, &c1, &t1);
    PFX(fp2_mul_xi)(&sa, &t2);
    PFX(fp2_add)(&c1, &c1, &sa);

    PFX(fp2_add)(&sa, &a->c0, &a->c2);
    PFX(fp2_add)(&sb, &b->c0, &b->c2);
    PFX(fp2_mul)(&c2, &sa, &sb);
    PFX(fp2_sub)(&c2, &c2, &t0);
    PFX(fp2_sub)(&c2, &c2, &t2);
    PFX(fp2_add)(&c2, &c2, &t1);

    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* Chung-Hasan SQR2: s0 = a0^2, s1 = 2 a0 a1, s2 = (a0 - a1 + a2)^2, s3 = 2 a1 a2, s4 = a2^2;
 * c0 = s0 + xi s3, c1 = s1 + xi s4, c2 = s1 + s2 + s3 - s0 - s4. r may alias a. */
DEV void PFX(fp6_sqr)(PFX(fp6) *r, const PFX(fp6) *a) {
    PFX(fp2) s0, s1, s2, s3, s4, t;
    PFX(fp2_sqr)(&s0, &a->c0);
    PFX(fp2_mul)(&s1, &a->c0, &a->c1);
    PFX(fp2_dbl)(&s1, &s1);
    PFX(fp2_sub)(&s2, &a->c0, &a->c1);
    PFX(fp2_add)(&s2, &s2, &a->c2);
    PFX(fp2_sqr)(&s2, &s2);
    PFX(fp2_mul)(&s3, &a->c1, &a->c2);
    PFX(fp2_dbl)(&s3, &s3);
    PFX(fp2_sqr)(&s4, &a->c2);

    PFX(fp2_mul_xi)(&t, &s3);
    PFX(fp2_add)(&r->c0, &s0, &t);
    PFX(fp2_add)(&r->c2, &s1, &s2);
    PFX(fp2_add)(&r->c2, &r->c2, &s3);
    PFX(fp2_sub)(&r->c2, &r->c2, &s0);
    PFX(fp2_sub)(&r->c2, &r->c2, &s4);
    PFX(fp2_mul_xi)(&t, &s4);
    PFX(fp2_add)(&r->c1, &s1, &t);
}

/* a * k for k in Fp2 */
DEV void PFX(fp6_mul_fp2)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp2) *k) {
    PFX(fp2_mul)(&r->c0, &a->c0, k);
    PFX(fp2_mul)(&r->c1, &a->c1, k);
    PFX(fp2_mul)(&r->c2, &a->c2, k);
}

/* a * (b0 + b1 v) (sparse, 5 Fp2 products):
 *   c0 = a0 b0 + xi a2 b1, c1 = (a0 + a1)(b0 + b1) - a0 b0 - a1 b1, c2 = a1 b1 + a2 b0. r may alias a. */
DEV void PFX(fp6_mul_01)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp2) *b0, const PFX(fp2) *b1) {
    PFX(fp2) t0, t1, c0, c1, c2, s;
    PFX(fp2_mul)(&t0, &a->c0, b0);
    PFX(fp2_mul)(&t1, &a->c1, b1);
    PFX(fp2_mul)(&c0, &a->c2, b1);
    PFX(fp2_mul_xi)(&c0, &c0);
    PFX(fp2_add)(&c0, &c0, &t0);
    PFX(fp2_add)(&c1, &a->c0, &a->c1);
    PFX(fp2_add)(&s, b0, b1);
    PFX(fp2_mul)(&c1, &c1, &s);
    PFX(fp2_sub)(&c1, &c1, &t0);
    PFX(fp2_sub)(&c1, &c1, &t1);
    PFX(fp2_mul)(&c2, &a->c2, b0);
    PFX(fp2_add)(&c2, &c2, &t1);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* a * (b1 v) = xi a2 b1 + a0 b1 v + a1 b1 v^2. r may alias a. */
DEV void PFX(fp6_mul_1)(PFX(fp6) *r, const PFX(fp6) *a, const PFX(fp2) *b1) {
    PFX(fp2) c0, c1, c2;
    PFX(fp2_mul)(&c0, &a->c2, b1);
    PFX(fp2_mul_xi)(&c0, &c0);
    PFX(fp2_mul)(&c1, &a->c0, b1);
    PFX(fp2_mul)(&c2, &a->c1, b1);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* 1/a: A = a0^2 - xi a1 a2, B = xi a2^2 - a0 a1, C = a1^2 - a0 a2, F = a0 A + xi (a2 B + a1 C),
 * 1/a = (A + B v + C v^2) / F. */
DEV void PFX(fp6_inv)(PFX(fp6) *r, const PFX(fp6) *a) {
    PFX(fp2) A, B, C, F, t;
    PFX(fp2_sqr)(&A, &a->c0);
    PFX(fp2_mul)(&t, &a->c1, &a->c2);
    PFX(fp2_mul_xi)(&t, &t);
    PFX(fp2_sub)(&A, &A, &t);
    PFX(fp2_sqr)(&B, &a->c2);
    PFX(fp2_mul_xi)(&B, &B);
    PFX(fp2_mul)(&t, &a->c0, &a->c1);
    PFX(fp2_sub)(&B, &B, &t);
    PFX(fp2_sqr)(&C, &a->c1);
    PFX(fp2_mul)(&t, &a->c0, &a->c2);
    PFX(fp2_sub)(&C, &C, &t);
    PFX(fp2_mul)(&F, &a->c2, &B);
    PFX(fp2_mul)(&t, &a->c1, &C);
    PFX(fp2_add)(&F, &F, &t);
    PFX(fp2_mul_xi)(&F, &F);
    PFX(fp2_mul)(&t, &a->c0, &A);
    PFX(fp2_add)(&F, &F, &t);
    PFX(fp2_inv)(&F, &F);
    PFX(fp2_mul)(&r->c0, &A, &F);
    PFX(fp2_mul)(&r->c1, &B, &F);
    PFX(fp2_mul)(&r->c2, &C, &F);
}

/* ----- Fp12 ---------------------------------------------------------------------------------- */

DEV void PFX(fp12_one)(PFX(fp12) *r) {
    PFX(fp2_one)(&r->c0.c0);
    PFX(fp2_zero)(&r->c0.c1);
    PFX(fp2_zero)(&r->c0.c2);
    PFX(fp2_zero)(&r->c1.c0);
    PFX(fp2_zero)(&r->c1.c1);
    PFX(fp2_zero)(&r->c1.c2);
}

DEV int PFX(fp12_is_one)(const PFX(fp12) *a) {
    PFX(fp12) one;
    PFX(fp12_one)(&one);
    const PFX(fp2) *x = &a->c0.c0, *y = &one.c0.c0;
    for (int j = 0; j < 6; j++)
        if (!PFX(fp2_eq)(x + j, y + j)) return 0;
    return 1;
}

/* Karatsuba: (a0 + a1 w)(b0 + b1 w) = (a0 b0 + v a1 b1) + ((a0 + a1)(b0 + b1) - a0 b0 - a1 b1) w.
 * r may alias a or b. */
DEV void PFX(fp12_mul)(PFX(fp12) *r, const PFX(fp12) *a, const PFX(fp12) *b) {
    PFX(fp6) t0, t1, sa, sb;
    PFX(fp6_mul)(&t0, &a->c0, &b->c0);
    PFX(fp6_mul)(&t1, &a->c1, &b->c1);
    PFX(fp6_add)(&sa, &a->c0, &a->c1);
    PFX(fp6_add)(&sb, &b->c0, &b->c1);
    PFX(fp6_mul)(&sa, &sa, &sb);
    PFX(fp6_sub)(&sa, &sa, &t0);
    PFX(fp6_sub)(&r->c1, &sa, &t1);
    PFX(fp6_mul_v)(&t1, &t1);
    PFX(fp6_add)(&r->c0, &t0, &t1);
}

/* complex squaring: with t = a0 a1, (a0 + a1 w)^2 = ((a0 + a1)(a0 + v a1) - t - v t) + 2 t w */
DEV void PFX(fp12_sqr)(PFX(fp12) *r, const PFX(fp12) *a) {
    PFX(fp6) t, s, u;
    PFX(fp6_mul)(&t, &a->c0, &a->c1);
    PFX(fp6_add)(&s, &a->c0, &a->c1);
    PFX(fp6_mul_v)(&u, &a->c1);
    PFX(fp6_add)(&u, &u, &a->c0);
    PFX(fp6_mul)(&s, &s, &u);
    PFX(fp6_sub)(&s, &s, &t);
    PFX(fp6_mul_v)(&u, &t);
    PFX(fp6_sub)(&r->c0, &s, &u);
    PFX(fp6_add)(&r->c1, &t, &t);
}

/* conjugate a0 - a1 w = a^(p^6); the inverse of an element of the cyclotomic subgroup */
DEV void PFX(fp12_conj)(PFX(fp12) *r, const PFX(fp12) *a) {
    r->c0 = a->c0;
    PFX(fp6_neg)(&r->c1, &a->c1);
}

/* 1/a = (a0 - a1 w) / (a0^2 - v a1^2) */
DEV void PFX(fp12_inv)(PFX(fp12) *r, const PFX(fp12) *a) {
    PFX(fp6) t0, t1;
    PFX(fp6_sqr)(&t0, &a->c0);
    PFX(fp6_sqr)(&t1, &a->c1);
    PFX(fp6_mul_v)(&t1, &t1);
    PFX(fp6_sub)(&t0, &t0, &t1);
    PFX(fp6_inv)(&t0, &t0);
    PFX(fp6_mul)(&r->c0, &a->c0, &t0);
    PFX(fp6_mul)(&t1, &a->c1, &t0);
    PFX(fp6_neg)(&r->c1, &t1);
}

/* coefficient j (of w^j, j < 6) of an Fp12 element: c_0, c_2, c_4 in the first half, c_1, c_3, c_5
 * in the second */
DEV PFX(fp2) *PFX(fp12_coeff)(PFX(fp12) *a, int j) {
    PFX(fp6) *half = (j & 1) ? &a->c1 : &a->c0;
    return (j >> 1) == 0 ? &half->c0 : (j >> 1) == 1 ? &half->c1 : &half->c2;
}

/* a^(p^k) for k = 1, 2, 3: (c w^j)^(p^k) = c^(p^k) w^j gamma_k,j with gamma_k,j = w^(j (p^k - 1)) =
 * xi^(j (p^k - 1) / 6), and c^(p^k) = conj(c) for odd k, c for even k. */
DEV void PFX(fp12_frob)(PFX(fp12) *r, const PFX(fp12) *a, int k) {
    *r = *a;
    for (int j = 0; j < 6; j++) {
        PFX(fp2) *c = PFX(fp12_coeff)(r, j);
        if (k & 1) PFX(fp2_conj)(c, c);
        if (j) {
            PFX(fp2) g;
            PFX(fp_copy)(g.c0, PFX(FROB)[5 * (k - 1) + j - 1][0]);
            PFX(fp_copy)(g.c1, PFX(FROB)[5 * (k - 1) + j - 1][1]);
            PFX(fp2_mul)(c, c, &g);
        }
    }
}

/* Granger-Scott squaring of an element of the cyclotomic subgroup (a^(p^4 - p^2 + 1) = 1, true after
 * the easy part of the final exponentiation). View Fp12 as Fp4[w] / (w^3 - s) with Fp4 = Fp2[s] /
 * (s^2 - xi), s = w^3: a = A + B w + C w^2 with A = c0 + c3 s, B = c1 + c4 s, C = c2 + c5 s. Then
 *   a^2 = (3 A^2 - 2 conj(A)) + (3 s C^2 + 2 conj(B)) w + (3 B^2 - 2 conj(C)) w^2,
 * conj being s -> -s; three Fp4 squarings (x + y s)^2 = (x^2 + xi y^2) + ((x + y)^2 - x^2 - y^2) s. */
DEV void PFX(fp4_sqr)(PFX(fp2) *rx, PFX(fp2) *ry, const PFX(fp2) *x, const PFX(fp2) *y) {
    PFX(fp2) x2, y2, s;
    PFX(fp2_sqr)(&x2, x);
    PFX(fp2_sqr)(&y2, y);
    PFX(fp2_add)(&s, x, y);
    PFX(fp2_sqr)(&s, &s);
    PFX(fp2_sub)(&s, &s, &x2);
    PFX(fp2_sub)(ry, &s, &y2);
    PFX(fp2_mul_xi)(&y2, &y2);
    PFX(fp2_add)(rx, &x2, &y2);
}

/* r = 3 a - 2 b (sign < 0) or 3 a + 2 b (sign > 0), as 2 (a -+ b) + a */
DEV void PFX(fp2_3a_2b)(PFX(fp2) *r, const PFX(fp2) *a, const PFX(fp2) *b, int sign) {
    PFX(fp2) t;
    if (sign < 0) PFX(fp2_sub)(&t, a, b);
    else PFX(fp2_add)(&t, a, b);
    PFX(fp2_dbl)(&t, &t);
    PFX(fp2_add)(r, &t, a);
}

DEV void PFX(fp12_cyc_sqr)(PFX(fp12) *r, const PFX(fp12) *a) {
    const PFX(fp2) *c0 = &a->c0.c0, *c1 = &a->c1.c0, *c2 = &a->c0.c1;
    const PFX(fp2) *c3 = &a->c1.c1, *c4 = &a->c0.c2, *c5 = &a->c1.c2;
    PFX(fp2) ax, ay, bx, by, cx, cy, t;
    PFX(fp4_sqr)(&ax, &ay, c0, c3); /* A^2 */
    PFX(fp4_sqr)(&bx, &by, c1, c4); /* B^2 */
    PFX(fp4_sqr)(&cx, &cy, c2, c5); /* C^2; s C^2 = xi cy + cx s */
    PFX(fp2_mul_xi)(&t, &cy);
    PFX(fp12) o;
    PFX(fp2_3a_2b)(&o.c0.c0, &ax, c0, -1); /* 3 A^2 - 2 conj(A) */
    PFX(fp2_3a_2b)(&o.c1.c1, &ay, c3, +1);
    PFX(fp2_3a_2b)(&o.c1.c0, &t, c1, +1); /* 3 s C^2 + 2 conj(B) */
    PFX(fp2_3a_2b)(&o.c0.c2, &cx, c4, -1);
    PFX(fp2_3a_2b)(&o.c0.c1, &bx, c2, -1); /* 3 B^2 - 2 conj(C) */
    PFX(fp2_3a_2b)(&o.c1.c2, &by, c5, +1);
    *r = o;
}

/* r = a^e for a in the cyclotomic subgroup and e >= 1 (a 64-bit exponent): NAF digits (wnaf width 2
 * from g1_curve.h), cyclotomic squarings, conj(a) = 1/a for the digits -1. */
DEV void PFX(fp12_cyc_exp)(PFX(fp12) *r, const PFX(fp12) *a, u64 e) {
    const u64 s[4] = {e, 0, 0, 0};
    signed char d[WNAF_MAX];
    int n = wnaf(s, d, 2);
    PFX(fp12) acc = *a, inv;
    PFX(fp12_conj)(&inv, a);
    for (int i = n - 2; i >= 0; i--) {
        PFX(fp12_cyc_sqr)(&acc, &acc);
        if (d[i] > 0) PFX(fp12_mul)(&acc, &acc, a);
        else if (d[i] < 0) PFX(fp12_mul)(&acc, &acc, &inv);
    }
    *r = acc;
}
