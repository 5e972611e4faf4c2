/* Fp2 = Fp[u] / (u^2 + 1) of BN254 and BLS12-381 (p = 3 mod 4 on both) for the native C kernels:
 * the G2 operations (g2_curve.h) and the pairing tower (pairing_tower.h) include it.
 *
 * Included once per curve, inside the scope where that curve's NL and PFX(x) are defined and after
 * g1_curve.h has instantiated its Fp (64-bit limbs, Montgomery form, always fully reduced to [0, p)):
 * every function here is a few calls of PFX(fp_*). An element is c0 + c1 u. Not constant-time
 * (public inputs only).
 */

typedef struct {
    u64 c0[NL], c1[NL]; /* c0 + c1 u */
} PFX(fp2);

DEV void PFX(fp2_zero)(PFX(fp2) *r) {
    for (int i = 0; i < NL; i++) r->c0[i] = r->c1[i] = 0;
}

DEV void PFX(fp2_one)(PFX(fp2) *r) {
    PFX(fp2_zero)(r);
    PFX(fp_copy)(r->c0, PFX(ONE));
}

DEV int PFX(fp2_is_zero)(const PFX(fp2) *a) { return PFX(fp_is_zero)(a->c0) && PFX(fp_is_zero)(a->c1); }

DEV int PFX(fp2_is_one)(const PFX(fp2) *a) { return PFX(fp_eq)(a->c0, PFX(ONE)) && PFX(fp_is_zero)(a->c1); }

DEV int PFX(fp2_eq)(const PFX(fp2) *a, const PFX(fp2) *b) {
    return PFX(fp_eq)(a->c0, b->c0) && PFX(fp_eq)(a->c1, b->c1);
}

DEV void PFX(fp2_add)(PFX(fp2) *r, const PFX(fp2) *a, const PFX(fp2) *b) {
    PFX(fp_add)(r->c0, a->c0, b->c0);
    PFX(fp_add)(r->c1, a->c1, b->c1);
}

DEV void PFX(fp2_sub)(PFX(fp2) *r, const PFX(fp2) *a, const PFX(fp2) *b) {
    PFX(fp_sub)(r->c0, a->c0, b->c0);
    PFX(fp_sub)(r->c1, a->c1, b->c1);
}

DEV void PFX(fp2_dbl)(PFX(fp2) *r, const PFX(fp2) *a) { PFX(fp2_add)(r, a, a); }

DEV void PFX(fp2_neg)(PFX(fp2) *r, const PFX(fp2) *a) {
    PFX(fp_neg)(r->c0, a->c0);
    PFX(fp_neg)(r->c1, a->c1);
}

/* conjugate a0 - a1 u, which is also the p-th power (Frobenius) of a0 + a1 u */
DEV void PFX(fp2_conj)(PFX(fp2) *r, const PFX(fp2) *a) {
    PFX(fp_copy)(r->c0, a->c0);
    PFX(fp_neg)(r->c1, a->c1);
}

/* Karatsuba: (a0 + a1 u)(b0 + b1 u) = (a0 b0 - a1 b1) + ((a0 + a1)(b0 + b1) - a0 b0 - a1 b1) u.
 * r may alias a or b. */
DEV void PFX(fp2_mul)(PFX(fp2) *r, const PFX(fp2) *a, const PFX(fp2) *b) {
    u64 t0[NL], t1[NL], sa[NL], sb[NL];
    PFX(fp_mul)(t0, a->c0, b->c0);
    PFX(fp_mul)(t1, a->c1, b->c1);
    PFX(fp_add)(sa, a->c0, a->c1);
    PFX(fp_add)(sb, b->c0, b->c1);
    PFX(fp_mul)(sa, sa, sb);
    PFX(fp_sub)(r->c0, t0, t1);
    PFX(fp_sub)(sa, sa, t0);
    PFX(fp_sub)(r->c1, sa, t1);
}

/* (a0 + a1 u)^2 = (a0 + a1)(a0 - a1) + 2 a0 a1 u */
DEV void PFX(fp2_sqr)(PFX(fp2) *r, const PFX(fp2) *a) {
    u64 s[NL], d[NL], m[NL];
    PFX(fp_add)(s, a->c0, a->c1);
    PFX(fp_sub)(d, a->c0, a->c1);
    PFX(fp_mul)(m, a->c0, a->c1);
    PFX(fp_mul)(r->c0, s, d);
    PFX(fp_add)(r->c1, m, m);
}

/* a * k for k in Fp */
DEV void PFX(fp2_mul_fp)(PFX(fp2) *r, const PFX(fp2) *a, const u64 *k) {
    PFX(fp_mul)(r->c0, a->c0, k);
    PFX(fp_mul)(r->c1, a->c1, k);
}

/* 1/a = conj(a) / (a0^2 + a1^2); 0 -> 0 */
DEV void PFX(fp2_inv)(PFX(fp2) *r, const PFX(fp2) *a) {
    u64 n[NL], t[NL];
    PFX(fp_sqr)(n, a->c0);
    PFX(fp_sqr)(t, a->c1);
    PFX(fp_add)(n, n, t);
    PFX(fp_inv)(n, n);
    PFX(fp_mul)(r->c0, a->c0, n);
    PFX(fp_mul)(t, a->c1, n);
    PFX(fp_neg)(r->c1, t);
}

/* r = a^e for an NL-limb exponent e (left-to-right square and multiply; public exponents only) */
DEVNI void PFX(fp2_pow)(PFX(fp2) *r, const PFX(fp2) *a, const u64 *e) {
    PFX(fp2) acc, base = *a;
    PFX(fp2_one)(&acc);
    int top = 64 * NL - 1;
    while (top >= 0 && !((e[top >> 6] >> (top & 63)) & 1)) top--;
    for (int b = top; b >= 0; b--) {
        PFX(fp2_sqr)(&acc, &acc);
        if ((e[b >> 6] >> (b & 63)) & 1) PFX(fp2_mul)(&acc, &acc, &base);
    }
    *r = acc;
}
