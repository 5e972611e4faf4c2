/* Optimal ate pairing products of BN254 and BLS12-381 (CPU): G2 steps with their line functions,
 * the shared Miller loop, the final exponentiation and the exported entry points of one curve.
 *
 * Included once per curve by pairing_native.c after pairing_tower.h, with NL, PFX, XI0, PT_FROB and:
 *   PT_BN       1: BN curve (D-type sextic twist, Miller loop over 6x + 2 plus the two Frobenius
 *               lines, x > 0); 0: BLS12 curve (M-type twist, Miller loop over |x|, x < 0)
 *   PT_TWIST_B3 3 b' (Montgomery Fp2, c0 then c1) with E': y^2 = x^3 + b' the twist holding G2
 *   PT_ATE      the Miller loop length as 4 little-endian 64-bit limbs (6x + 2, or |x|)
 *   PT_X        |x| (64 bits)
 *   PT_XM1_3    (|x| + 1) / 3 = -(x - 1) / 3 (BLS12 only; 0 for BN)
 *
 * Points: G1 affine (x, y) over Fp; G2 affine (x, y) over Fp2 on the twist; the running multiple T
 * of each Q is kept in homogeneous projective coordinates (x = X/Z, y = Y/Z), so the loop has no
 * inversions. Line functions follow Costello, Lange, Naehrig ("Faster pairing computations on curves
 * with high-degree twists", PKC 2010) in the form of Aranha, Karabina, Longa, Gebotys, Lopez ("Faster
 * explicit formulas for computing pairings over ordinary curves", EUROCRYPT 2011), evaluated at an
 * affine P; every line is scaled by factors in proper subfields of Fp12 (Fp2, Fp4, Fp6), which the
 * final exponentiation sends to 1.
 *
 * Untwisting maps and where the line coefficients land (w^6 = xi):
 *   D-type (BN254):     psi(x, y) = (x w^2, y w^3); line = a + b w + c w^3
 *   M-type (BLS12-381): psi(x, y) = (x / w^2, y / w^3); line (times w^3) = a + b w^2 + c w^3
 * Doubling T = (X, Y, Z) (B = Y^2, C = Z^2, E = 3 b' C, F = 3 E, H = (Y + Z)^2 - B - C):
 *   2T = (2 X Y (B - F), (B + F)^2 - 12 E^2, 4 B H)          (the usual formulas times 4: no halving)
 *   tangent line: -H yP, 3 X^2 xP, E - B   at (1, w, w^3) for D-type and (w^3, w^2, 1) for M-type
 * Mixed addition T + Q, Q = (xQ, yQ) affine (theta = Y - yQ Z, lambda = X - xQ Z, C = theta^2,
 * D = lambda^2, E = lambda D, F = Z C, G = X D, H = E + F - 2 G):
 *   T + Q = (lambda H, theta (G - H) - Y E, Z E)
 *   chord line: lambda yP, -theta xP, theta xQ - lambda yQ   at the same places.
 *
 * Pairing convention: e(P, Q) = f(P)^((p^12 - 1) / r) with f the Miller function of the loop above;
 * for BLS12-381 that is f_{|x|, Q}, like py_ecc (implementations that use f_{x, Q} with x < 0, e.g.
 * by conjugating f, get the inverse). The products checked (prod e(P_k, Q_k) == 1) are the same.
 *
 * Not constant-time (public inputs only).
 */

typedef struct {
    u64 x[NL], y[NL];
} PFX(g1a);

typedef struct {
    PFX(fp2) x, y;
} PFX(g2a);

typedef struct {
    PFX(fp2) X, Y, Z;
} PFX(g2p);

typedef struct {
    PFX(fp2) a, b, c; /* see the placement above */
} PFX(line);

KCONST u64 PFX(TWIST_B3)[2][NL] = PT_TWIST_B3;

/* ----- G2 steps ------------------------------------------------------------------------------ */

DEV void PFX(line_place)(PFX(line) *l, const PFX(fp2) *at1, const PFX(fp2) *atw1, const PFX(fp2) *atw3) {
    /* at1, atw1, atw3: the D-type coefficients of 1, w, w^3 (M-type: of w^3, w^2, 1) */
#if PT_BN
    l->a = *at1;
    l->b = *atw1;
    l->c = *atw3;
#else
    l->a = *atw3;
    l->b = *atw1;
    l->c = *at1;
#endif
}

/* T = 2T and the tangent line at T evaluated at P */
DEV void PFX(dbl_step)(PFX(g2p) *T, PFX(line) *l, const PFX(g1a) *P) {
    PFX(fp2) B, C, E, F, H, X2, t, u;
    PFX(fp2) b3;
    PFX(fp_copy)(b3.c0, PFX(TWIST_B3)[0]);
    PFX(fp_copy)(b3.c1, PFX(TWIST_B3)[1]);
    PFX(fp2_sqr)(&B, &T->Y);
    PFX(fp2_sqr)(&C, &T->Z);
    PFX(fp2_mul)(&E, &C, &b3);
    PFX(fp2_dbl)(&F, &E);
    PFX(fp2_add)(&F, &F, &E);
    PFX(fp2_add)(&H, &T->Y, &T->Z);
    PFX(fp2_sqr)(&H, &H);
    PFX(fp2_sub)(&H, &H, &B);
    PFX(fp2_sub)(&H, &H, &C);
    PFX(fp2_sqr)(&X2, &T->X);

    /* line: -H yP, 3 X^2 xP, E - B */
    PFX(fp2) l1, lw, lw3;
    PFX(fp2_mul_fp)(&l1, &H, P->y);
    PFX(fp2_neg)(&l1, &l1);
    PFX(fp2_dbl)(&lw, &X2);
    PFX(fp2_add)(&lw, &lw, &X2);
    PFX(fp2_mul_fp)(&lw, &lw, P->x);
    PFX(fp2_sub)(&lw3, &E, &B);
    PFX(line_place)(l, &l1, &lw, &lw3);

    /* X3 = 2 X Y (B - F) */
    PFX(fp2_mul)(&t, &T->X, &T->Y);
    PFX(fp2_dbl)(&t, &t);
    PFX(fp2_sub)(&u, &B, &F);
    PFX(fp2_mul)(&T->X, &t, &u);
    /* Y3 = (B + F)^2 - 12 E^2 */
    PFX(fp2_add)(&t, &B, &F);
    PFX(fp2_sqr)(&t, &t);
    PFX(fp2_sqr)(&u, &E);
    PFX(fp2_dbl)(&u, &u);
    PFX(fp2_dbl)(&u, &u); /* 4 E^2 */
    PFX(fp2_sub)(&t, &t, &u);
    PFX(fp2_sub)(&t, &t, &u);
    PFX(fp2_sub)(&T->Y, &t, &u);
    /* Z3 = 4 B H */
    PFX(fp2_mul)(&t, &B, &H);
    PFX(fp2_dbl)(&t, &t);
    PFX(fp2_dbl)(&T->Z, &t);
}

/* T = T + Q (Q affine) and the line through T and Q evaluated at P */
DEV void PFX(add_step)(PFX(g2p) *T, PFX(line) *l, const PFX(g2a) *Q, const PFX(g1a) *P) {
    PFX(fp2) th, la, C, D, E, F, G, H, t;
    PFX(fp2_mul)(&t, &Q->y, &T->Z);
    PFX(fp2_sub)(&th, &T->Y, &t);
    PFX(fp2_mul)(&t, &Q->x, &T->Z);
    PFX(fp2_sub)(&la, &T->X, &t);

    /* line: lambda yP, -theta xP, theta xQ - lambda yQ */
    PFX(fp2) l1, lw, lw3;
    PFX(fp2_mul_fp)(&l1, &la, P->y);
    PFX(fp2_mul_fp)(&lw, &th, P->x);
    PFX(fp2_neg)(&lw, &lw);
    PFX(fp2_mul)(&lw3, &th, &Q->x);
    PFX(fp2_mul)(&t, &la, &Q->y);
    PFX(fp2_sub)(&lw3, &lw3, &t);
    PFX(line_place)(l, &l1, &lw, &lw3);

    PFX(fp2_sqr)(&C, &th);
    PFX(fp2_sqr)(&D, &la);
    PFX(fp2_mul)(&E, &la, &D);
    PFX(fp2_mul)(&F, &T->Z, &C);
    PFX(fp2_mul)(&G, &T->X, &D);
    PFX(fp2_add)(&H, &E, &F);
    PFX(fp2_sub)(&H, &H, &G);
    PFX(fp2_sub)(&H, &H, &G);
    PFX(fp2_mul)(&T->X, &la, &H);
    PFX(fp2_sub)(&t, &G, &H);
    PFX(fp2_mul)(&t, &th, &t);
    PFX(fp2_mul)(&G, &T->Y, &E);
    PFX(fp2_sub)(&T->Y, &t, &G);
    PFX(fp2_mul)(&T->Z, &T->Z, &E);
}

/* f = f * line (sparse): with f = f0 + f1 w and line = L0 + L1 w (L0, L1 in Fp6),
 * f L = (f0 L0 + v f1 L1) + ((f0 + f1)(L0 + L1) - f0 L0 - f1 L1) w, where
 *   D-type: L0 = a, L1 = b + c v       M-type: L0 = a + b v, L1 = c v. */
DEV void PFX(fp12_mul_line)(PFX(fp12) *f, const PFX(line) *l) {
    PFX(fp6) t0, t1, s;
    PFX(fp2) u;
    PFX(fp6_add)(&s, &f->c0, &f->c1);
#if PT_BN
    PFX(fp6_mul_fp2)(&t0, &f->c0, &l->a);
    PFX(fp6_mul_01)(&t1, &f->c1, &l->b, &l->c);
    PFX(fp2_add)(&u, &l->a, &l->b);
    PFX(fp6_mul_01)(&s, &s, &u, &l->c);
#else
    PFX(fp6_mul_01)(&t0, &f->c0, &l->a, &l->b);
    PFX(fp6_mul_1)(&t1, &f->c1, &l->c);
    PFX(fp2_add)(&u, &l->b, &l->c);
    PFX(fp6_mul_01)(&s, &s, &l->a, &u);
#endif
    PFX(fp6_sub)(&s, &s, &t0);
    PFX(fp6_sub)(&f->c1, &s, &t1);
    PFX(fp6_mul_v)(&t1, &t1);
    PFX(fp6_add)(&f->c0, &t0, &t1);
}

/* ----- Miller loop --------------------------------------------------------------------------- */

#if PT_BN
/* pi(Q) on the twist: psi(Q)^p = (conj(x) w^(2p), conj(y) w^(3p)) = psi(conj(x) gamma_1,2,
 * conj(y) gamma_1,3); pi^2(Q) = (x gamma_2,2, y gamma_2,3). */
DEV void PFX(g2_frob)(PFX(g2a) *r, const PFX(g2a) *q, int k) {
    PFX(fp2) gx, gy;
    PFX(fp_copy)(gx.c0, PFX(FROB)[5 * (k - 1) + 1][0]);
    PFX(fp_copy)(gx.c1, PFX(FROB)[5 * (k - 1) + 1][1]);
    PFX(fp_copy)(gy.c0, PFX(FROB)[5 * (k - 1) + 2][0]);
    PFX(fp_copy)(gy.c1, PFX(FROB)[5 * (k - 1) + 2][1]);
    r->x = q->x;
    r->y = q->y;
    if (k & 1) {
        PFX(fp2_conj)(&r->x, &r->x);
        PFX(fp2_conj)(&r->y, &r->y);
    }
    PFX(fp2_mul)(&r->x, &r->x, &gx);
    PFX(fp2_mul)(&r->y, &r->y, &gy);
}
#endif

/* f = prod_k f_k(P_k) over n pairs with one accumulator: each loop step squares f once and multiplies
 * in the n lines. BN254: f_{6x+2, Q}(P) l_{[6x+2]Q, pi(Q)}(P) l_{[6x+2]Q + pi(Q), -pi^2(Q)}(P);
 * BLS12-381: f_{|x|, Q}(P). Loop digits: the NAF of PT_ATE (a -1 digit adds -Q; the vertical lines
 * this saves lie in Fp6 and vanish in the final exponentiation). T: n scratch points. */
DEV void PFX(miller_loop)(PFX(fp12) *f, const PFX(g1a) *P, const PFX(g2a) *Q, long n, PFX(g2p) *T) {
    const u64 ate[4] = PT_ATE;
    signed char d[WNAF_MAX];
    int len = wnaf(ate, d, 2);
    PFX(line) l;
    PFX(fp12_one)(f);
    for (long k = 0; k < n; k++) {
        T[k].X = Q[k].x;
        T[k].Y = Q[k].y;
        PFX(fp2_one)(&T[k].Z);
    }
    for (int i = len - 2; i >= 0; i--) {
        if (i != len - 2) PFX(fp12_sqr)(f, f);
        for (long k = 0; k < n; k++) {
            PFX(dbl_step)(&T[k], &l, &P[k]);
            PFX(fp12_mul_line)(f, &l);
        }
        if (d[i]) {
            for (long k = 0; k < n; k++) {
                PFX(g2a) q = Q[k];
                if (d[i] < 0) PFX(fp2_neg)(&q.y, &q.y);
                PFX(add_step)(&T[k], &l, &q, &P[k]);
                PFX(fp12_mul_line)(f, &l);
            }
        }
    }
#if PT_BN
    for (long k = 0; k < n; k++) {
        PFX(g2a) q1, q2;
        PFX(g2_frob)(&q1, &Q[k], 1);
        PFX(g2_frob)(&q2, &Q[k], 2);
        PFX(fp2_neg)(&q2.y, &q2.y);
        PFX(add_step)(&T[k], &l, &q1, &P[k]);
        PFX(fp12_mul_line)(f, &l);
        PFX(add_step)(&T[k], &l, &q2, &P[k]);
        PFX(fp12_mul_line)(f, &l);
    }
#endif
}

/* ----- final exponentiation ------------------------------------------------------------------ */

/* r = f^((p^12 - 1) / r) exactly (not a multiple of it, so the value equals py_ecc's).
 * Easy part: f^((p^6 - 1)(p^2 + 1)) = frob2(t) t with t = conj(f) / f; the result is in the
 * cyclotomic subgroup (inverse = conjugate, Granger-Scott squaring).
 * Hard part, exponent h = (p^4 - p^2 + 1) / r:
 *   BN254 (Scott, Benger, Charlemagne, Dominguez Perez, Kachisa, "On the final exponentiation for
 *   calculating pairings on ordinary elliptic curves", Pairing 2009): h = l0 + l1 p + l2 p^2 + p^3 with
 *   l2 = 6x^2 + 1, l1 = -36x^3 - 18x^2 - 12x + 1, l0 = -36x^3 - 30x^2 - 18x - 2; from a = t^x,
 *   b = t^(x^2), c = t^(x^3) and Frobenius maps,
 *     t^h = y0 y1^2 y2^6 y3^12 y4^18 y5^30 y6^36 with y0 = t^p t^(p^2) t^(p^3), y1 = 1/t,
 *     y2 = b^(p^2), y3 = 1/a^p, y4 = 1/(a b^p), y5 = 1/b, y6 = 1/(c c^p),
 *   by their vectorial addition chain (4 squarings and 9 products after the y_i).
 *   BLS12-381 (the factorisation of Hayashida, Hayasaka, Teruya, "Efficient final exponentiation via
 *   cyclotomic structure for pairings over families of elliptic curves", 2020, which states
 *   3 h = (x - 1)^2 (x + p)(x^2 + p^2 - 1) + 3; here (x - 1)/3 is an integer, so h itself):
 *     h = ((x - 1)/3) (x - 1) (x + p) (x^2 + p^2 - 1) + 1,
 *   five exponentiations by 64-bit constants (x < 0: t^x = conj(t^|x|)). */
DEV void PFX(final_exp)(PFX(fp12) *r, const PFX(fp12) *f) {
    PFX(fp12) t, u;
    PFX(fp12_inv)(&u, f);
    PFX(fp12_conj)(&t, f);
    PFX(fp12_mul)(&t, &t, &u);
    PFX(fp12_frob)(&u, &t, 2);
    PFX(fp12_mul)(&t, &u, &t);
#if PT_BN
    PFX(fp12) a, b, c, y0, y1, y2, y3, y4, y5, y6, T0, T1;
    PFX(fp12_cyc_exp)(&a, &t, PT_X);
    PFX(fp12_cyc_exp)(&b, &a, PT_X);
    PFX(fp12_cyc_exp)(&c, &b, PT_X);
    PFX(fp12_frob)(&y0, &t, 1);
    PFX(fp12_frob)(&u, &t, 2);
    PFX(fp12_mul)(&y0, &y0, &u);
    PFX(fp12_frob)(&u, &t, 3);
    PFX(fp12_mul)(&y0, &y0, &u);
    PFX(fp12_conj)(&y1, &t);
    PFX(fp12_frob)(&y2, &b, 2);
    PFX(fp12_frob)(&y3, &a, 1);
    PFX(fp12_conj)(&y3, &y3);
    PFX(fp12_frob)(&y4, &b, 1);
    PFX(fp12_mul)(&y4, &y4, &a);
    PFX(fp12_conj)(&y4, &y4);
    PFX(fp12_conj)(&y5, &b);
    PFX(fp12_frob)(&y6, &c, 1);
    PFX(fp12_mul)(&y6, &y6, &c);
    PFX(fp12_conj)(&y6, &y6);
    /* T0 = y6^2 y4 y5; T1 = T0 y3 y5; T0 = T0 y2; T1 = (T1^2 T0)^2; T0 = T1 y1; T1 = T1 y0;
     * result T0^2 T1 = y0 y1^2 y2^6 y3^12 y4^18 y5^30 y6^36 */
    PFX(fp12_cyc_sqr)(&T0, &y6);
    PFX(fp12_mul)(&T0, &T0, &y4);
    PFX(fp12_mul)(&T0, &T0, &y5);
    PFX(fp12_mul)(&T1, &T0, &y3);
    PFX(fp12_mul)(&T1, &T1, &y5);
    PFX(fp12_mul)(&T0, &T0, &y2);
    PFX(fp12_cyc_sqr)(&T1, &T1);
    PFX(fp12_mul)(&T1, &T1, &T0);
    PFX(fp12_cyc_sqr)(&T1, &T1);
    PFX(fp12_mul)(&T0, &T1, &y1);
    PFX(fp12_mul)(&T1, &T1, &y0);
    PFX(fp12_cyc_sqr)(&T0, &T0);
    PFX(fp12_mul)(r, &T0, &T1);
#else
    PFX(fp12) t0, t1, t2, t3;
    PFX(fp12_cyc_exp)(&t0, &t, PT_XM1_3);
    PFX(fp12_conj)(&t0, &t0); /* t^((x - 1)/3) */
    PFX(fp12_cyc_exp)(&t1, &t0, PT_X);
    PFX(fp12_mul)(&t1, &t1, &t0);
    PFX(fp12_conj)(&t1, &t1); /* t0^(x - 1) = conj(t0^|x| t0) */
    PFX(fp12_cyc_exp)(&t2, &t1, PT_X);
    PFX(fp12_conj)(&t2, &t2);
    PFX(fp12_frob)(&u, &t1, 1);
    PFX(fp12_mul)(&t2, &t2, &u); /* t1^(x + p) */
    PFX(fp12_cyc_exp)(&t3, &t2, PT_X);
    PFX(fp12_cyc_exp)(&t3, &t3, PT_X); /* t2^(x^2) */
    PFX(fp12_frob)(&u, &t2, 2);
    PFX(fp12_mul)(&t3, &t3, &u);
    PFX(fp12_conj)(&u, &t2);
    PFX(fp12_mul)(&t3, &t3, &u); /* t2^(x^2 + p^2 - 1) */
    PFX(fp12_mul)(r, &t3, &t);
#endif
}

/* ----- boundary ------------------------------------------------------------------------------ */

DEV int PFX(all_zero)(const u64 *a, int limbs) {
    u64 acc = 0;
    for (int i = 0; i < limbs; i++) acc |= a[i];
    return acc == 0;
}

/* canonical affine G1 (x, y) -> Montgomery; x = y = 0 is the point at infinity (*inf = 1).
 * Returns 0 or PAIRING_BAD_G1_RANGE / PAIRING_BAD_G1_CURVE. */
DEV int PFX(g1_in)(PFX(g1a) *r, const u64 *xy, int *inf) {
    *inf = PFX(all_zero)(xy, 2 * NL);
    if (*inf) return 0;
    if (PFX(fp_geq_p)(xy) || PFX(fp_geq_p)(xy + NL)) return PAIRING_BAD_G1_RANGE;
    PFX(fp_to_mont)(r->x, xy);
    PFX(fp_to_mont)(r->y, xy + NL);
    u64 l[NL], t[NL];
    PFX(fp_sqr)(l, r->y);
    PFX(fp_sqr)(t, r->x);
    PFX(fp_mul)(t, t, r->x);
    PFX(fp_add)(t, t, PFX(B));
    return PFX(fp_eq)(l, t) ? 0 : PAIRING_BAD_G1_CURVE;
}

/* canonical affine G2 (x.c0, x.c1, y.c0, y.c1) -> Montgomery; all zero is the point at infinity.
 * Returns 0 or PAIRING_BAD_G2_RANGE / PAIRING_BAD_G2_CURVE (not on the twist y^2 = x^3 + b'). */
DEV int PFX(g2_in)(PFX(g2a) *r, const u64 *xy, int *inf) {
    *inf = PFX(all_zero)(xy, 4 * NL);
    if (*inf) return 0;
    for (int i = 0; i < 4; i++)
        if (PFX(fp_geq_p)(xy + i * NL)) return PAIRING_BAD_G2_RANGE;
    PFX(fp_to_mont)(r->x.c0, xy);
    PFX(fp_to_mont)(r->x.c1, xy + NL);
    PFX(fp_to_mont)(r->y.c0, xy + 2 * NL);
    PFX(fp_to_mont)(r->y.c1, xy + 3 * NL);
    /* b' = (3 b') / 3: compare 3 y^2 with 3 x^3 + 3 b' */
    PFX(fp2) l, t, b3;
    PFX(fp_copy)(b3.c0, PFX(TWIST_B3)[0]);
    PFX(fp_copy)(b3.c1, PFX(TWIST_B3)[1]);
    PFX(fp2_sqr)(&l, &r->y);
    PFX(fp2_add)(&t, &l, &l);
    PFX(fp2_add)(&l, &t, &l);
    PFX(fp2_sqr)(&t, &r->x);
    PFX(fp2_mul)(&t, &t, &r->x);
    PFX(fp2) t3;
    PFX(fp2_add)(&t3, &t, &t);
    PFX(fp2_add)(&t3, &t3, &t);
    PFX(fp2_add)(&t3, &t3, &b3);
    return PFX(fp2_eq)(&l, &t3) ? 0 : PAIRING_BAD_G2_CURVE;
}

/* *out = prod_k e(P_k, Q_k) for n pairs of canonical affine points (G1: 2 NL limbs each, G2: 4 NL),
 * skipping pairs with a point at infinity. Returns 0, or a PAIRING_BAD_* code with *bad (if not
 * NULL) the index of the first bad pair. */
static int PFX(product)(PFX(fp12) *out, const u64 *g1_xy, const u64 *g2_xy, long n, long *bad) {
    if (bad) *bad = -1;
    if (n < 0) return PAIRING_BAD_ARG;
    PFX(g1a) *P = (PFX(g1a) *)malloc(sizeof(PFX(g1a)) * (n ? n : 1));
    PFX(g2a) *Q = (PFX(g2a) *)malloc(sizeof(PFX(g2a)) * (n ? n : 1));
    PFX(g2p) *T = (PFX(g2p) *)malloc(sizeof(PFX(g2p)) * (n ? n : 1));
    int err = (!P || !Q || !T) ? PAIRING_NO_MEMORY : 0;
    long m = 0;
    for (long k = 0; k < n && !err; k++) {
        int inf1, inf2;
        err = PFX(g1_in)(&P[m], g1_xy + 2 * NL * k, &inf1);
        if (!err) err = PFX(g2_in)(&Q[m], g2_xy + 4 * NL * k, &inf2);
        if (err) {
            if (bad) *bad = k;
        } else if (!inf1 && !inf2) {
            m++;
        }
    }
    if (!err) {
        PFX(fp12) f;
        PFX(miller_loop)(&f, P, Q, m, T);
        PFX(final_exp)(out, &f);
    }
    free(P);
    free(Q);
    free(T);
    return err;
}

/* 1 if prod_k e(P_k, Q_k) == 1, 0 if not, a negative PAIRING_BAD_* code for bad input (*bad = the
 * index of the first bad pair). Points: canonical affine coordinates, little-endian 64-bit limbs, G1
 * as x, y (2 NL limbs), G2 as x.c0, x.c1, y.c0, y.c1 (4 NL limbs); a point with all coordinates zero
 * is the point at infinity, and a pair holding one contributes 1 (is skipped). Points are checked to
 * be canonical (< p) and on the curve (G2: on the twist); subgroup membership is the caller's job. */
int PFX(pairing_check)(const u64 *g1_xy, const u64 *g2_xy, long n, long *bad) {
    PFX(fp12) f;
    int err = PFX(product)(&f, g1_xy, g2_xy, n, bad);
    return err ? err : PFX(fp12_is_one)(&f);
}

/* Projective input for callers whose points are homogeneous (x = X/Z, y = Y/Z; the array code's
 * form, whose inversions cost more than the whole pairing): G1 as X, Y, Z (3 NL limbs), G2 as X.c0,
 * X.c1, Y.c0, Y.c1, Z.c0, Z.c1 (6 NL limbs), canonical; Z = 0 is the point at infinity. One
 * inversion for all the Z (Montgomery's trick), then pairing_check. */
int PFX(pairing_check_proj)(const u64 *g1_xyz, const u64 *g2_xyz, long n, long *bad) {
    if (bad) *bad = -1;
    if (n < 0) return PAIRING_BAD_ARG;
    long cnt = n ? n : 1;
    u64 *g1 = (u64 *)malloc(sizeof(u64) * 2 * NL * cnt);
    u64 *g2 = (u64 *)malloc(sizeof(u64) * 4 * NL * cnt);
    u64 *z = (u64 *)malloc(sizeof(u64) * NL * 2 * cnt); /* Z of G1, norm of Z of G2 (Montgomery) */
    u64 *pre = (u64 *)malloc(sizeof(u64) * NL * 2 * cnt);
    int err = (!g1 || !g2 || !z || !pre) ? PAIRING_NO_MEMORY : 0;
    for (long k = 0; k < n && !err; k++) {
        const u64 *a = g1_xyz + 3 * NL * k, *b = g2_xyz + 6 * NL * k;
        for (int i = 0; i < 3 && !err; i++)
            if (PFX(fp_geq_p)(a + i * NL)) err = PAIRING_BAD_G1_RANGE;
        for (int i = 0; i < 6 && !err; i++)
            if (PFX(fp_geq_p)(b + i * NL)) err = PAIRING_BAD_G2_RANGE;
        if (err && bad) *bad = k;
        if (err) break;
        PFX(fp_to_mont)(z + NL * (2 * k), a + 2 * NL);
        PFX(fp2) Z;
        PFX(fp_to_mont)(Z.c0, b + 4 * NL);
        PFX(fp_to_mont)(Z.c1, b + 5 * NL);
        u64 t[NL];
        PFX(fp_sqr)(z + NL * (2 * k + 1), Z.c0);
        PFX(fp_sqr)(t, Z.c1);
        PFX(fp_add)(z + NL * (2 * k + 1), z + NL * (2 * k + 1), t);
    }
    if (!err) {
        /* batch inversion of the non-zero entries of z (zero Z, or zero norm: Z = 0 in Fp2, stays 0) */
        u64 acc[NL], inv[NL];
        PFX(fp_copy)(acc, PFX(ONE));
        for (long i = 0; i < 2 * n; i++) {
            PFX(fp_copy)(pre + NL * i, acc);
            if (!PFX(fp_is_zero)(z + NL * i)) PFX(fp_mul)(acc, acc, z + NL * i);
        }
        PFX(fp_inv)(inv, acc);
        for (long i = 2 * n - 1; i >= 0; i--) {
            if (PFX(fp_is_zero)(z + NL * i)) continue;
            u64 zi[NL];
            PFX(fp_mul)(zi, inv, pre + NL * i);
            PFX(fp_mul)(inv, inv, z + NL * i);
            PFX(fp_copy)(z + NL * i, zi);
        }
        for (long k = 0; k < n; k++) {
            const u64 *a = g1_xyz + 3 * NL * k, *b = g2_xyz + 6 * NL * k;
            u64 *o1 = g1 + 2 * NL * k, *o2 = g2 + 4 * NL * k;
            const u64 *zi = z + NL * (2 * k);
            if (PFX(fp_is_zero)(zi)) {
                for (int i = 0; i < 2 * NL; i++) o1[i] = 0;
            } else {
                for (int c = 0; c < 2; c++) { /* x = X / Z, y = Y / Z, canonical */
                    u64 t[NL];
                    PFX(fp_to_mont)(t, a + c * NL);
                    PFX(fp_mul)(t, t, zi);
                    PFX(fp_from_mont)(o1 + c * NL, t);
                }
            }
            const u64 *ni = z + NL * (2 * k + 1);
            if (PFX(fp_is_zero)(ni)) {
                for (int i = 0; i < 4 * NL; i++) o2[i] = 0;
            } else {
                PFX(fp2) Zi; /* 1/Z = conj(Z) / norm(Z) */
                PFX(fp_to_mont)(Zi.c0, b + 4 * NL);
                PFX(fp_to_mont)(Zi.c1, b + 5 * NL);
                PFX(fp2_conj)(&Zi, &Zi);
                PFX(fp2_mul_fp)(&Zi, &Zi, ni);
                for (int c = 0; c < 2; c++) {
                    PFX(fp2) t;
                    PFX(fp_to_mont)(t.c0, b + 2 * c * NL);
                    PFX(fp_to_mont)(t.c1, b + (2 * c + 1) * NL);
                    PFX(fp2_mul)(&t, &t, &Zi);
                    PFX(fp_from_mont)(o2 + 2 * c * NL, t.c0);
                    PFX(fp_from_mont)(o2 + (2 * c + 1) * NL, t.c1);
                }
            }
        }
        err = PFX(pairing_check)(g1, g2, n, bad);
    }
    free(g1);
    free(g2);
    free(z);
    free(pre);
    return err;
}

/* out (12 NL limbs) = prod_k e(P_k, Q_k), canonical, in tower order: c0.c0.c0, c0.c0.c1, c0.c1.c0,
 * ..., c1.c2.c1 (the memory order of the fp12 struct; pairing_native.c gives the map to py_ecc's
 * FQ12). Same inputs and error codes as pairing_check; returns 0 on success. */
int PFX(pairing_gt)(const u64 *g1_xy, const u64 *g2_xy, long n, long *bad, u64 *out) {
    PFX(fp12) f;
    int err = PFX(product)(&f, g1_xy, g2_xy, n, bad);
    if (err) return err;
    const u64 *c = (const u64 *)&f;
    for (int i = 0; i < 12; i++) PFX(fp_from_mont)(out + NL * i, c + NL * i);
    return 0;
}

/* Test hook: one tower operation on canonical Fp12 elements (12 NL limbs, tower order as above).
 * op: 0 a*b, 1 a^2, 2 1/a, 3 conj(a), 4..6 a^(p^k) for k = 1..3, 7 cyclotomic squaring (a must be in
 * the cyclotomic subgroup), 8 final exponentiation, 9 a * line with b's first three Fp2 coefficients
 * (c0.c0, c0.c1, c0.c2 of b) as the line's (a, b, c), 10 a^|x| (cyclotomic exponentiation).
 * Returns 0, or PAIRING_BAD_ARG for an unknown op or a coordinate >= p. */
int PFX(fp12_op)(int op, const u64 *a, const u64 *b, u64 *out) {
    PFX(fp12) x, y, r;
    u64 *xm = (u64 *)&x, *ym = (u64 *)&y;
    for (int i = 0; i < 12; i++) {
        if (PFX(fp_geq_p)(a + NL * i) || (b && PFX(fp_geq_p)(b + NL * i))) return PAIRING_BAD_ARG;
        PFX(fp_to_mont)(xm + NL * i, a + NL * i);
        if (b) PFX(fp_to_mont)(ym + NL * i, b + NL * i);
        else for (int j = 0; j < NL; j++) ym[NL * i + j] = 0;
    }
    switch (op) {
    case 0: PFX(fp12_mul)(&r, &x, &y); break;
    case 1: PFX(fp12_sqr)(&r, &x); break;
    case 2: PFX(fp12_inv)(&r, &x); break;
    case 3: PFX(fp12_conj)(&r, &x); break;
    case 4: case 5: case 6: PFX(fp12_frob)(&r, &x, op - 3); break;
    case 7: PFX(fp12_cyc_sqr)(&r, &x); break;
    case 8: PFX(final_exp)(&r, &x); break;
    case 9: {
        PFX(line) l = {y.c0.c0, y.c0.c1, y.c0.c2};
        r = x;
        PFX(fp12_mul_line)(&r, &l);
        break;
    }
    case 10: PFX(fp12_cyc_exp)(&r, &x, PT_X); break;
    default: return PAIRING_BAD_ARG;
    }
    const u64 *rm = (const u64 *)&r;
    for (int i = 0; i < 12; i++) PFX(fp_from_mont)(out + NL * i, rm + NL * i);
    return 0;
}

/* the instance macros of this curve (defined by pairing_native.c before pairing_tower.h) */
#undef NL
#undef PFX
#undef XI0
#undef PT_FROB
#undef PT_BN
#undef PT_TWIST_B3
#undef PT_ATE
#undef PT_X
#undef PT_XM1_3
