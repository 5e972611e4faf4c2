/* G1 arithmetic of BN254 and BLS12-381 for the native (C, OpenMP) and GPU (CUDA, nvrtc) kernels.
 *
 * One source for both targets: a C compiler sees plain static inline functions, nvcc/nvrtc see
 * __device__ functions; the target-specific pieces are those qualifiers and the 64x64->128 multiply
 * (MUL_HI: unsigned __int128 on the CPU, __umul64hi on CUDA).
 * The file has two parts:
 *   1. common (once): limb type, multiply-accumulate, width-5 NAF recoding of 256-bit scalars, the
 *      GLV split of a scalar into two halves of about 128 bits;
 *   2. per curve (included once per curve with NL = limb count, PFX(x) = name prefix and the
 *      constants C_P, C_PINV, C_R2, C_ONE, C_B, C_PM2, C_BETA, C_GLV defined by the includer, from
 *      g1_curve_params.h): field arithmetic (64-bit limbs, Montgomery form, CIOS products, always
 *      fully reduced to [0, p)), Jacobian points (a = 0; Z = 0 is the point at infinity; Z == 1
 *      (Montgomery) marks an affine point and selects the mixed addition), scalar multiplication and
 *      multi-scalar rows (GLV + width-5 NAF, Straus with shared doublings), one FFT butterfly, chunked
 *      batch normalisation, import/export.
 *
 * Integer-only: results equal the array (numpy) code's group elements bit for bit once encoded.
 * Scalars are canonical little-endian 4 x 64-bit integers (any value below 2^256 works).
 */

#ifndef G1_CURVE_COMMON
#define G1_CURVE_COMMON

typedef unsigned long long u64;
typedef unsigned int u32;

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define DEV __device__ __forceinline__
#define DEVNI __device__ __noinline__
#define KCONST __constant__ const
#define MUL_HI(a, b) __umul64hi((a), (b))
#else
#define DEV static inline
/* Not inlined, and marked unused: these headers are a library shared by several kernels (g1_native.c,
 * g2_native.c, pairing_native.c), none of which calls every function (-Wall stays quiet). */
#define DEVNI static __attribute__((unused))
#define KCONST static const
#define MUL_HI(a, b) ((u64)(((unsigned __int128)(a) * (unsigned __int128)(b)) >> 64))
#endif

/* a*b + c + d as (hi, lo); never overflows 128 bits. */
DEV u64 mac(u64 a, u64 b, u64 c, u64 d, u64 *hi) {
    u64 lo = a * b;
    u64 h = MUL_HI(a, b);
    lo += c;
    h += (lo < c);
    lo += d;
    h += (lo < d);
    *hi = h;
    return lo;
}

/* a*b + c + d as (hi, lo) in 32-bit words (one 32x32->64 multiply-add: IMAD.WIDE on a GPU). */
DEV u32 mac32(u32 a, u32 b, u32 c, u32 d, u32 *hi) {
    u64 t = (u64)a * b + c + d;
    *hi = (u32)(t >> 32);
    return (u32)t;
}

/* Width-w NAF of a 256-bit scalar (2 <= w <= 8): digits in {0, +-1, +-3, ..., +-(2^(w-1) - 1)}, least
 * significant first. Returns the number of digits (<= 257). */
#define WNAF_MAX 260
DEV int wnaf(const u64 s_in[4], signed char *d, int w) {
    u64 s[5] = {s_in[0], s_in[1], s_in[2], s_in[3], 0};
    int n = 0;
    while (s[0] | s[1] | s[2] | s[3] | s[4]) {
        int v = 0;
        if (s[0] & 1) {
            v = (int)(s[0] & ((1u << w) - 1));
            if (v >= (1 << (w - 1))) v -= 1 << w;
            if (v > 0) { /* s -= v */
                u64 b = (u64)v;
                for (int i = 0; i < 5; i++) {
                    u64 t = s[i] - b;
                    b = (t > s[i]);
                    s[i] = t;
                }
            } else { /* s += -v */
                u64 c = (u64)(-v);
                for (int i = 0; i < 5; i++) {
                    u64 t = s[i] + c;
                    c = (t < c);
                    s[i] = t;
                }
            }
        }
        d[n++] = (signed char)v;
        for (int i = 0; i < 4; i++) s[i] = (s[i] >> 1) | (s[i + 1] << 63);
        s[4] >>= 1;
    }
    return n;
}

DEV int wnaf5(const u64 s_in[4], signed char *d) { return wnaf(s_in, d, 5); }

/* r8 = a * b (4 x 4 limbs -> 8) */
DEV void mul4x4(const u64 *a, const u64 *b, u64 *r8) {
    for (int i = 0; i < 8; i++) r8[i] = 0;
    for (int i = 0; i < 4; i++) {
        u64 c = 0;
        for (int j = 0; j < 4; j++) r8[i + j] = mac(a[i], b[j], r8[i + j], c, &c);
        r8[i + 4] = c;
    }
}

/* x -= y (mod 2^320), y given as 8 limbs of which the low 5 count */
DEV void sub5(u64 *x, const u64 *y) {
    u64 borrow = 0;
    for (int i = 0; i < 5; i++) {
        u64 d = x[i] - y[i];
        u64 b1 = (d > x[i]);
        u64 e = d - borrow;
        borrow = b1 | (e > d);
        x[i] = e;
    }
}

/* 5-limb two's complement -> magnitude (4 limbs) and sign */
DEV int abs5(u64 *x, u64 *mag) {
    int neg = (int)(x[4] >> 63);
    if (neg) {
        u64 c = 1;
        for (int i = 0; i < 5; i++) {
            x[i] = ~x[i] + c;
            c = (c && x[i] == 0);
        }
    }
    for (int i = 0; i < 4; i++) mag[i] = x[i];
    return neg;
}

/* GLV split k = k1 + k2 lambda (mod r) with |k1|, |k2| about sqrt(r): lattice basis (a1, -b1),
 * (a2, b2) (a1, a2, b1, b2 > 0, a1 b2 + a2 b1 = r), c1 = floor(k g1 / 2^256), c2 = floor(k g2 / 2^256),
 * g1 = floor(2^256 b2 / r), g2 = floor(2^256 b1 / r); k1 = k - c1 a1 - c2 a2, k2 = c1 b1 - c2 b2.
 * glv = {g1, g2, a1, a2, b1, b2}, 4 limbs each. Returns the signs (bit 0: k1 < 0, bit 1: k2 < 0). */
DEV int glv_split(const u64 k[4], const u64 *glv, u64 k1[4], u64 k2[4]) {
    u64 p[8], c1[4], c2[4], t[8];
    mul4x4(k, glv + 0, p);
    for (int i = 0; i < 4; i++) c1[i] = p[4 + i];
    mul4x4(k, glv + 4, p);
    for (int i = 0; i < 4; i++) c2[i] = p[4 + i];
    u64 x[5] = {k[0], k[1], k[2], k[3], 0};
    mul4x4(c1, glv + 8, t);
    sub5(x, t);
    mul4x4(c2, glv + 12, t);
    sub5(x, t);
    u64 y[5];
    mul4x4(c1, glv + 16, t);
    for (int i = 0; i < 5; i++) y[i] = t[i];
    mul4x4(c2, glv + 20, t);
    sub5(y, t);
    return abs5(x, k1) | (abs5(y, k2) << 1);
}

/* c-bit digit w of a 4-limb scalar (bits [w c, w c + c), zero past bit 255); c <= 32 */
DEV unsigned scalar_digit(const u64 s[4], int w, int c) {
    int b = w * c;
    int limb = b >> 6, off = b & 63;
    if (limb >= 4) return 0;
    u64 d = s[limb] >> off;
    if (off + c > 64 && limb + 1 < 4) d |= s[limb + 1] << (64 - off);
    return (unsigned)(d & ((1ULL << c) - 1));
}

#endif /* G1_CURVE_COMMON */

/* ------------------------------------------------------------------------------------------ */
/* per-curve part                                                                              */
/* ------------------------------------------------------------------------------------------ */

KCONST u64 PFX(P)[NL] = C_P;
KCONST u64 PFX(R2)[NL] = C_R2;
KCONST u64 PFX(ONE)[NL] = C_ONE;
KCONST u64 PFX(B)[NL] = C_B;
KCONST u64 PFX(PM2)[NL] = C_PM2;
KCONST u64 PFX(BETA)[NL] = C_BETA; /* phi(x, y) = (beta x, y) is multiplication by lambda */
KCONST u64 PFX(GLV)[24] = C_GLV;

/* Hot functions take the constants they need as local arrays initialised from the macros: after
 * unrolling, the compiler turns every element into an immediate operand (no loads from global or
 * constant memory); the arrays above serve the cold paths (inversion, GLV split, import). */
#define FP_P_LOCAL const u64 p_[NL] = C_P
#define FP_ONE_LOCAL const u64 one_[NL] = C_ONE

typedef struct {
    u64 X[NL], Y[NL], Z[NL];
} PFX(pt);

DEV void PFX(fp_copy)(u64 *r, const u64 *a) {
    for (int i = 0; i < NL; i++) r[i] = a[i];
}

DEV int PFX(fp_is_zero)(const u64 *a) {
    u64 acc = 0;
    for (int i = 0; i < NL; i++) acc |= a[i];
    return acc == 0;
}

DEV int PFX(fp_eq)(const u64 *a, const u64 *b) {
    u64 acc = 0;
    for (int i = 0; i < NL; i++) acc |= a[i] ^ b[i];
    return acc == 0;
}

/* a >= p (for canonical-range checks of imported values) */
DEV int PFX(fp_geq_p)(const u64 *a) {
    for (int i = NL - 1; i >= 0; i--) {
        if (a[i] > PFX(P)[i]) return 1;
        if (a[i] < PFX(P)[i]) return 0;
    }
    return 1;
}

/* d = a - b over NL limbs; returns the borrow out of the top limb (1 when a < b) */
DEV u64 PFX(limbs_sub)(u64 *d, const u64 *a, const u64 *b) {
    u64 borrow = 0;
    for (int i = 0; i < NL; i++) {
        u64 x = a[i] - b[i];
        u64 b1 = (x > a[i]);
        u64 y = x - borrow;
        u64 b2 = (y > x);
        d[i] = y;
        borrow = b1 | b2;
    }
    return borrow;
}

/* r = t - p if t >= p else t (t < 2p, no carry out of the top limb since p < 2^(64 NL - 2)) */
DEV void PFX(fp_reduce_once)(u64 *r, const u64 *t) {
    FP_P_LOCAL;
    u64 d[NL];
    if (PFX(limbs_sub)(d, t, p_)) {
        for (int i = 0; i < NL; i++) r[i] = t[i];
    } else {
        for (int i = 0; i < NL; i++) r[i] = d[i];
    }
}

DEV void PFX(fp_add)(u64 *r, const u64 *a, const u64 *b) {
    u64 t[NL];
    u64 c = 0;
    for (int i = 0; i < NL; i++) {
        u64 s = a[i] + c;
        c = (s < c);
        u64 s2 = s + b[i];
        c += (s2 < s);
        t[i] = s2;
    }
    PFX(fp_reduce_once)(r, t);
}

DEV void PFX(fp_sub)(u64 *r, const u64 *a, const u64 *b) {
    u64 t[NL];
    if (PFX(limbs_sub)(t, a, b)) {
        FP_P_LOCAL;
        u64 c = 0;
        for (int i = 0; i < NL; i++) {
            u64 s = t[i] + c;
            c = (s < c);
            u64 s2 = s + p_[i];
            c += (s2 < s);
            t[i] = s2;
        }
    }
    for (int i = 0; i < NL; i++) r[i] = t[i];
}

DEV void PFX(fp_neg)(u64 *r, const u64 *a) {
    u64 z[NL];
    for (int i = 0; i < NL; i++) z[i] = 0;
    PFX(fp_sub)(r, z, a);
}

/* Montgomery product a*b/2^(64 NL) mod p (CIOS without the extra carry words: valid because the top
 * limb of p is below 2^62, true of both curves), fully reduced. r may alias a or b. */
#ifndef G1_MUL32
DEV void PFX(fp_mul)(u64 *r, const u64 *a, const u64 *b) {
    FP_P_LOCAL;
    u64 t[NL];
    for (int i = 0; i < NL; i++) t[i] = 0;
    for (int i = 0; i < NL; i++) {
        u64 A, C;
        t[0] = mac(a[0], b[i], t[0], 0, &A);
        u64 m = t[0] * C_PINV;
        mac(m, p_[0], t[0], 0, &C);
        for (int j = 1; j < NL; j++) {
            t[j] = mac(a[j], b[i], t[j], A, &A);
            t[j - 1] = mac(m, p_[j], t[j], C, &C);
        }
        t[NL - 1] = C + A;
    }
    PFX(fp_reduce_once)(r, t);
}
#else
/* The same product with 32-bit words (G1_MUL32; the CUDA build's default, where a 64x64->128 multiply
 * costs several 32-bit multiplies): the NL 64-bit limbs are read as 2 NL little-endian 32-bit words,
 * R = 2^(64 NL) = 2^(32 * 2 NL) is unchanged, m uses -p^-1 mod 2^32 (the low half of C_PINV), so the
 * result, a*b/R mod p fully reduced, is the 64-bit version's bit for bit. The top word of p is below
 * 2^30 for both curves, so CIOS needs no extra carry words here either. */
DEV void PFX(fp_mul)(u64 *r, const u64 *a, const u64 *b) {
    FP_P_LOCAL;
    enum { NW = 2 * NL };
    u32 aw[NW], bw[NW], pw[NW], t[NW];
    for (int i = 0; i < NL; i++) {
        aw[2 * i] = (u32)a[i];
        aw[2 * i + 1] = (u32)(a[i] >> 32);
        bw[2 * i] = (u32)b[i];
        bw[2 * i + 1] = (u32)(b[i] >> 32);
        pw[2 * i] = (u32)p_[i];
        pw[2 * i + 1] = (u32)(p_[i] >> 32);
    }
    const u32 pinv = (u32)(C_PINV);
    for (int i = 0; i < NW; i++) t[i] = 0;
    for (int i = 0; i < NW; i++) {
        u32 A, C;
        t[0] = mac32(aw[0], bw[i], t[0], 0, &A);
        u32 m = t[0] * pinv;
        mac32(m, pw[0], t[0], 0, &C);
        for (int j = 1; j < NW; j++) {
            t[j] = mac32(aw[j], bw[i], t[j], A, &A);
            t[j - 1] = mac32(m, pw[j], t[j], C, &C);
        }
        t[NW - 1] = C + A;
    }
    u64 t64[NL];
    for (int i = 0; i < NL; i++) t64[i] = (u64)t[2 * i] | ((u64)t[2 * i + 1] << 32);
    PFX(fp_reduce_once)(r, t64);
}
#endif

#ifndef G1_MUL32
DEV void PFX(fp_sqr)(u64 *r, const u64 *a) { PFX(fp_mul)(r, a, a); }
#else
/* a^2/R mod p on 32-bit words (G1_MUL32): the square (cross products once, doubled, plus the squares of
 * the words: n(n+1)/2 multiplies instead of n^2), then a word-by-word Montgomery reduction. Same value as
 * fp_mul(a, a), fully reduced: (a^2 + m p)/R < p^2/R + p < 2p before the final subtraction. */
DEV void PFX(fp_sqr)(u64 *r, const u64 *a) {
    FP_P_LOCAL;
    enum { NW = 2 * NL };
    u32 aw[NW], pw[NW], t[2 * NW];
    for (int i = 0; i < NL; i++) {
        aw[2 * i] = (u32)a[i];
        aw[2 * i + 1] = (u32)(a[i] >> 32);
        pw[2 * i] = (u32)p_[i];
        pw[2 * i + 1] = (u32)(p_[i] >> 32);
    }
    for (int i = 0; i < 2 * NW; i++) t[i] = 0;
    for (int i = 0; i < NW - 1; i++) { /* cross products a_i a_j, i < j */
        u32 C = 0;
        for (int j = i + 1; j < NW; j++) t[i + j] = mac32(aw[i], aw[j], t[i + j], C, &C);
        t[i + NW] = C;
    }
    for (int i = 2 * NW - 1; i > 0; i--) t[i] = (t[i] << 1) | (t[i - 1] >> 31); /* < a^2 / 2: no overflow */
    t[0] <<= 1;
    u32 c = 0;
    for (int i = 0; i < NW; i++) { /* + a_i^2 */
        u32 hi;
        t[2 * i] = mac32(aw[i], aw[i], t[2 * i], c, &hi);
        u64 s2 = (u64)t[2 * i + 1] + hi;
        t[2 * i + 1] = (u32)s2;
        c = (u32)(s2 >> 32);
    }
    const u32 pinv = (u32)(C_PINV);
    u32 top = 0; /* carry into t[i + NW + 1], deferred to the next row */
    for (int i = 0; i < NW; i++) {
        u32 m = t[i] * pinv, C = 0;
        for (int j = 0; j < NW; j++) t[i + j] = mac32(m, pw[j], t[i + j], C, &C);
        u64 s2 = (u64)t[i + NW] + C + top;
        t[i + NW] = (u32)s2;
        top = (u32)(s2 >> 32);
    }
    u64 t64[NL];
    for (int i = 0; i < NL; i++) t64[i] = (u64)t[NW + 2 * i] | ((u64)t[NW + 2 * i + 1] << 32);
    PFX(fp_reduce_once)(r, t64);
}
#endif

DEV void PFX(fp_to_mont)(u64 *r, const u64 *a) { PFX(fp_mul)(r, a, PFX(R2)); }

DEV void PFX(fp_from_mont)(u64 *r, const u64 *a) {
    u64 one[NL];
    for (int i = 0; i < NL; i++) one[i] = 0;
    one[0] = 1;
    PFX(fp_mul)(r, a, one);
}

/* a^(p-2) (inverse of a non-zero a; 0 -> 0) */
DEVNI void PFX(fp_inv)(u64 *r, const u64 *a) {
    u64 acc[NL];
    PFX(fp_copy)(acc, PFX(ONE));
    for (int i = NL - 1; i >= 0; i--) {
        u64 e = PFX(PM2)[i];
        for (int bit = 63; bit >= 0; bit--) {
            PFX(fp_sqr)(acc, acc);
            if ((e >> bit) & 1) PFX(fp_mul)(acc, acc, a);
        }
    }
    PFX(fp_copy)(r, acc);
}

/* ----- points ------------------------------------------------------------------------------ */

DEV void PFX(pt_set_inf)(PFX(pt) *r) {
    for (int i = 0; i < NL; i++) {
        r->X[i] = 0;
        r->Y[i] = 0;
        r->Z[i] = 0;
    }
    FP_ONE_LOCAL;
    PFX(fp_copy)(r->X, one_);
    PFX(fp_copy)(r->Y, one_);
}

DEV int PFX(pt_is_inf)(const PFX(pt) *a) { return PFX(fp_is_zero)(a->Z); }

DEV void PFX(pt_copy)(PFX(pt) *r, const PFX(pt) *a) {
    PFX(fp_copy)(r->X, a->X);
    PFX(fp_copy)(r->Y, a->Y);
    PFX(fp_copy)(r->Z, a->Z);
}

DEV void PFX(pt_neg)(PFX(pt) *r, const PFX(pt) *a) {
    PFX(fp_copy)(r->X, a->X);
    PFX(fp_neg)(r->Y, a->Y);
    PFX(fp_copy)(r->Z, a->Z);
}

/* r = 2a (dbl-2009-l, a = 0). r may alias a. */
DEVNI void PFX(pt_dbl)(PFX(pt) *r, const PFX(pt) *a) {
    if (PFX(pt_is_inf)(a)) {
        PFX(pt_set_inf)(r);
        return;
    }
    u64 A[NL], B[NL], C[NL], D[NL], E[NL], F[NL], t[NL], Z3[NL];
    PFX(fp_sqr)(A, a->X);
    PFX(fp_sqr)(B, a->Y);
    PFX(fp_sqr)(C, B);
    PFX(fp_add)(t, a->X, B);
    PFX(fp_sqr)(t, t);
    PFX(fp_sub)(t, t, A);
    PFX(fp_sub)(t, t, C);
    PFX(fp_add)(D, t, t);
    PFX(fp_add)(E, A, A);
    PFX(fp_add)(E, E, A);
    PFX(fp_sqr)(F, E);
    PFX(fp_mul)(Z3, a->Y, a->Z);
    PFX(fp_add)(Z3, Z3, Z3);
    PFX(fp_sub)(r->X, F, D);
    PFX(fp_sub)(r->X, r->X, D);
    PFX(fp_sub)(t, D, r->X);
    PFX(fp_mul)(t, E, t);
    PFX(fp_add)(C, C, C);
    PFX(fp_add)(C, C, C);
    PFX(fp_add)(C, C, C);
    PFX(fp_sub)(r->Y, t, C);
    PFX(fp_copy)(r->Z, Z3);
}

/* r = a + b for any a, b (infinity, equal, opposite). Uses the mixed formula (madd-2007-bl) when
 * b is affine (Z == 1), else add-2007-bl. r may alias a or b. */
DEVNI void PFX(pt_add)(PFX(pt) *r, const PFX(pt) *a, const PFX(pt) *b) {
    if (PFX(pt_is_inf)(a)) {
        PFX(pt_copy)(r, b);
        return;
    }
    if (PFX(pt_is_inf)(b)) {
        PFX(pt_copy)(r, a);
        return;
    }
    u64 Z1Z1[NL], U1[NL], U2[NL], S1[NL], S2[NL], H[NL], I[NL], J[NL], rr[NL], V[NL], t[NL];
    u64 X3[NL], Y3[NL], Z3[NL];
    FP_ONE_LOCAL;
    int b_affine = PFX(fp_eq)(b->Z, one_);
    PFX(fp_sqr)(Z1Z1, a->Z);
    PFX(fp_mul)(U2, b->X, Z1Z1);
    PFX(fp_mul)(S2, b->Y, a->Z);
    PFX(fp_mul)(S2, S2, Z1Z1);
    u64 Z2Z2[NL];
    if (b_affine) {
        PFX(fp_copy)(U1, a->X);
        PFX(fp_copy)(S1, a->Y);
    } else {
        PFX(fp_sqr)(Z2Z2, b->Z);
        PFX(fp_mul)(U1, a->X, Z2Z2);
        PFX(fp_mul)(S1, a->Y, b->Z);
        PFX(fp_mul)(S1, S1, Z2Z2);
    }
    PFX(fp_sub)(H, U2, U1);
    PFX(fp_sub)(rr, S2, S1);
    if (PFX(fp_is_zero)(H)) {
        if (PFX(fp_is_zero)(rr)) {
            PFX(pt_dbl)(r, a);
        } else {
            PFX(pt_set_inf)(r);
        }
        return;
    }
    PFX(fp_add)(rr, rr, rr);
    PFX(fp_add)(I, H, H);
    PFX(fp_sqr)(I, I);
    PFX(fp_mul)(J, H, I);
    PFX(fp_mul)(V, U1, I);
    PFX(fp_sqr)(X3, rr);
    PFX(fp_sub)(X3, X3, J);
    PFX(fp_sub)(X3, X3, V);
    PFX(fp_sub)(X3, X3, V);
    PFX(fp_sub)(t, V, X3);
    PFX(fp_mul)(Y3, rr, t);
    PFX(fp_mul)(t, S1, J);
    PFX(fp_add)(t, t, t);
    PFX(fp_sub)(Y3, Y3, t);
    if (b_affine) {
        PFX(fp_add)(Z3, a->Z, H);
        PFX(fp_sqr)(Z3, Z3);
        PFX(fp_sub)(Z3, Z3, Z1Z1);
        PFX(fp_sqr)(t, H);
        PFX(fp_sub)(Z3, Z3, t);
    } else {
        PFX(fp_add)(Z3, a->Z, b->Z);
        PFX(fp_sqr)(Z3, Z3);
        PFX(fp_sub)(Z3, Z3, Z1Z1);
        PFX(fp_sub)(Z3, Z3, Z2Z2);
        PFX(fp_mul)(Z3, Z3, H);
    }
    PFX(fp_copy)(r->X, X3);
    PFX(fp_copy)(r->Y, Y3);
    PFX(fp_copy)(r->Z, Z3);
}

/* tab[i] = (2i+1) a for i < cnt */
DEV void PFX(pt_odd_multiples)(PFX(pt) *tab, const PFX(pt) *a, int cnt) {
    PFX(pt) two;
    PFX(pt_dbl)(&two, a);
    PFX(pt_copy)(&tab[0], a);
    for (int i = 1; i < cnt; i++) PFX(pt_add)(&tab[i], &tab[i - 1], &two);
}

DEV void PFX(pt_add_digit)(PFX(pt) *acc, const PFX(pt) *tab, int digit) {
    if (digit > 0) {
        PFX(pt_add)(acc, acc, &tab[digit >> 1]);
    } else if (digit < 0) {
        PFX(pt) n;
        PFX(pt_neg)(&n, &tab[(-digit) >> 1]);
        PFX(pt_add)(acc, acc, &n);
    }
}

/* r = sum_i s_i a_i (Straus with GLV: each s_i = k1 + k2 lambda, one doubling chain of about 130 steps
 * shared by the 2n half-size terms, width-5 NAF digits). Scratch: tab 16n points, dig 2n*WNAF_MAX bytes. */
DEVNI void PFX(pt_msm_straus)(PFX(pt) *r, const PFX(pt) *a, const u64 *s, long n, PFX(pt) *tab,
                              signed char *dig) {
    int top = 0;
    for (long i = 0; i < n; i++) {
        u64 k1[4], k2[4];
        signed char *d1 = dig + 2 * WNAF_MAX * i, *d2 = d1 + WNAF_MAX;
        PFX(pt) *t1 = tab + 16 * i, *t2 = t1 + 8;
        int signs = glv_split(s + 4 * i, PFX(GLV), k1, k2);
        int l1 = wnaf5(k1, d1), l2 = wnaf5(k2, d2);
        if (PFX(pt_is_inf)(&a[i])) l1 = l2 = 0;
        for (int k = l1; k < WNAF_MAX; k++) d1[k] = 0;
        for (int k = l2; k < WNAF_MAX; k++) d2[k] = 0;
        if (l1 > top) top = l1;
        if (l2 > top) top = l2;
        if (!(l1 | l2)) continue;
        PFX(pt) base;
        if (signs & 1) PFX(pt_neg)(&base, &a[i]);
        else PFX(pt_copy)(&base, &a[i]);
        PFX(pt_odd_multiples)(t1, &base, 8);
        for (int k = 0; k < 8; k++) { /* phi(+-(2k+1) a) with the sign of k2 */
            PFX(fp_mul)(t2[k].X, t1[k].X, PFX(BETA));
            if (((signs >> 1) ^ signs) & 1) PFX(fp_neg)(t2[k].Y, t1[k].Y);
            else PFX(fp_copy)(t2[k].Y, t1[k].Y);
            PFX(fp_copy)(t2[k].Z, t1[k].Z);
        }
    }
    PFX(pt) acc;
    PFX(pt_set_inf)(&acc);
    for (int k = top - 1; k >= 0; k--) {
        PFX(pt_dbl)(&acc, &acc);
        for (long i = 0; i < n; i++) {
            PFX(pt_add_digit)(&acc, tab + 16 * i, dig[2 * WNAF_MAX * i + k]);
            PFX(pt_add_digit)(&acc, tab + 16 * i + 8, dig[2 * WNAF_MAX * i + WNAF_MAX + k]);
        }
    }
    PFX(pt_copy)(r, &acc);
}

/* r = sum_i s_i a_i from precomputed odd multiples tab[T i + k] = (2k+1) a_i, T = 2^(w-2) (normalised:
 * Z = 1 gives the mixed additions; infinity allowed), for bases reused across calls (FK20's Toeplitz
 * table): the Straus loop of pt_msm_straus with width-w NAF digits (w <= 8; wider than 5 pays off when
 * the tables are built once), each GLV half's sign folded into its digits and phi (x -> beta x)
 * applied per addition. Scratch: dig 2n*WNAF_MAX bytes. */
DEVNI void PFX(pt_msm_straus_pre)(PFX(pt) *r, const PFX(pt) *tab, const u64 *s, long n, int w,
                                  signed char *dig) {
    const u64 beta_[NL] = C_BETA;
    const long T = 1L << (w - 2);
    int top = 0;
    for (long i = 0; i < n; i++) {
        u64 k1[4], k2[4];
        signed char *d1 = dig + 2 * WNAF_MAX * i, *d2 = d1 + WNAF_MAX;
        int signs = glv_split(s + 4 * i, PFX(GLV), k1, k2);
        int l1 = wnaf(k1, d1, w), l2 = wnaf(k2, d2, w);
        if (PFX(pt_is_inf)(&tab[T * i])) l1 = l2 = 0;
        for (int k = 0; k < l1; k++) d1[k] = (signs & 1) ? (signed char)-d1[k] : d1[k];
        for (int k = 0; k < l2; k++) d2[k] = (signs & 2) ? (signed char)-d2[k] : d2[k];
        for (int k = l1; k < WNAF_MAX; k++) d1[k] = 0;
        for (int k = l2; k < WNAF_MAX; k++) d2[k] = 0;
        if (l1 > top) top = l1;
        if (l2 > top) top = l2;
    }
    PFX(pt) acc, q;
    PFX(pt_set_inf)(&acc);
    for (int k = top - 1; k >= 0; k--) {
        PFX(pt_dbl)(&acc, &acc);
        for (long i = 0; i < n; i++) {
            for (int half = 0; half < 2; half++) {
                int d = dig[2 * WNAF_MAX * i + half * WNAF_MAX + k];
                if (!d) continue;
                const PFX(pt) *t = &tab[T * i + ((d < 0 ? -d : d) >> 1)];
                if (half) PFX(fp_mul)(q.X, t->X, beta_);
                else PFX(fp_copy)(q.X, t->X);
                if (d < 0) PFX(fp_neg)(q.Y, t->Y);
                else PFX(fp_copy)(q.Y, t->Y);
                PFX(fp_copy)(q.Z, t->Z);
                PFX(pt_add)(&acc, &acc, &q);
            }
        }
    }
    PFX(pt_copy)(r, &acc);
}

/* Bucket method for window w of c bits: r = sum_i digit_w(s_i) a_i. Scratch: 2^c - 1 bucket points. */
DEVNI void PFX(pt_msm_window)(PFX(pt) *r, const PFX(pt) *a, const u64 *s, long n, int c, int w,
                              PFX(pt) *buckets) {
    long nb = (1L << c) - 1;
    for (long k = 0; k < nb; k++) PFX(pt_set_inf)(&buckets[k]);
    for (long i = 0; i < n; i++) {
        unsigned d = scalar_digit(s + 4 * i, w, c);
        if (d) PFX(pt_add)(&buckets[d - 1], &buckets[d - 1], &a[i]);
    }
    PFX(pt) run, sum; /* sum_k k B_k as a sum of suffix sums */
    PFX(pt_set_inf)(&run);
    PFX(pt_set_inf)(&sum);
    for (long k = nb - 1; k >= 0; k--) {
        PFX(pt_add)(&run, &run, &buckets[k]);
        PFX(pt_add)(&sum, &sum, &run);
    }
    PFX(pt_copy)(r, &sum);
}

/* r = s a */
DEV void PFX(pt_mul)(PFX(pt) *r, const PFX(pt) *a, const u64 s[4]) {
    PFX(pt) tab[16];
    signed char dig[2 * WNAF_MAX];
    PFX(pt_msm_straus)(r, a, s, 1, tab, dig);
}

/* r = s a computed exactly for any point of the curve (width-5 NAF over the whole scalar, no GLV: the
 * endomorphism acts as lambda only on the order-r subgroup), for subgroup checks r * a == O. */
DEV void PFX(pt_mul_exact)(PFX(pt) *r, const PFX(pt) *a, const u64 s[4]) {
    PFX(pt) tab[8], acc;
    signed char dig[WNAF_MAX];
    int len = wnaf5(s, dig);
    PFX(pt_odd_multiples)(tab, a, 8);
    PFX(pt_set_inf)(&acc);
    for (int k = len - 1; k >= 0; k--) {
        PFX(pt_dbl)(&acc, &acc);
        PFX(pt_add_digit)(&acc, tab, dig[k]);
    }
    PFX(pt_copy)(r, &acc);
}

/* One radix-2 decimation-in-time butterfly of stage h (half-size h) of a size-N FFT over K columns
 * laid out (N, K) row-major, bit-reversed input. idx < N/2 * K enumerates (block, j, column);
 * roots[i] = w^i for i < N/2 (canonical scalars). */
DEV void PFX(fft_butterfly)(PFX(pt) *x, long N, long K, long h, const u64 *roots, long idx) {
    long col = idx % K;
    long rest = idx / K;
    long j = rest % h;
    long blk = rest / h;
    long iu = (blk * 2 * h + j) * K + col;
    long iv = iu + h * K;
    PFX(pt) v, u, nv;
    if (j == 0) {
        PFX(pt_copy)(&v, &x[iv]);
    } else {
        PFX(pt_mul)(&v, &x[iv], roots + 4 * (j * (N / (2 * h))));
    }
    PFX(pt_copy)(&u, &x[iu]);
    PFX(pt_neg)(&nv, &v);
    PFX(pt_add)(&x[iu], &u, &v);
    PFX(pt_add)(&x[iv], &u, &nv);
}

/* Two DIT stages (half-sizes h and 2h) as one radix-4 step in two passes, for FFTs too small to fill a
 * GPU, where each stage costs one scalar multiplication of latency: the five twiddle products of the
 * quadruple (x0, x1, x2, x3) at rows blk 4h + j + {0, h, 2h, 3h} are independent (c = w^e, e = j N/(4h),
 * i = w^(N/4), so the second stage's c i needs no product after the first):
 *   P0 = c^2 x1, P1 = c x2, P2 = c^3 x3, P3 = c i x2, P4 = c^3 i x3,
 *   y0 = x0 + P0 + (P1 + P2), y2 = x0 + P0 - (P1 + P2), y1 = x0 - P0 + (P3 - P4), y3 = x0 - P0 - (P3 - P4),
 * which are the two radix-2 stages' outputs as group elements. Pass 1: idx < 5 (N/4) K, product idx /
 * (N/4 K) of quadruple idx % (N/4 K) into prod; roots[i] = w^i for i < N/2 (w^(i + N/2) = -w^i). */
DEV void PFX(fft4_quad)(long N, long K, long h, long q, long *rows) {
    long col = q % K, rest = q / K;
    long j = rest % h, blk = rest / h;
    for (int t = 0; t < 4; t++) rows[t] = (blk * 4 * h + j + t * h) * K + col;
}

DEV void PFX(fft4_twiddle)(const PFX(pt) *x, long N, long K, long h, const u64 *roots, long idx, PFX(pt) *prod) {
    long quads = N / 4 * K;
    int which = (int)(idx / quads);
    long q = idx % quads, rows[4];
    PFX(fft4_quad)(N, K, h, q, rows);
    long e = (q / K) % h * (N / (4 * h));
    const long src[5] = {1, 2, 3, 2, 3};
    const long expo[5] = {2 * e, e, 3 * e, e + N / 4, 3 * e + N / 4};
    long E = expo[which];
    int neg = E >= N / 2;
    if (neg) E -= N / 2;
    PFX(pt) v;
    PFX(pt_mul)(&v, &x[rows[src[which]]], roots + 4 * E);
    if (neg) PFX(pt_neg)(&prod[idx], &v);
    else PFX(pt_copy)(&prod[idx], &v);
}

/* Pass 2: idx < (N/4) K, the additions of quadruple idx. */
DEV void PFX(fft4_combine)(PFX(pt) *x, long N, long K, long h, const PFX(pt) *prod, long idx) {
    long quads = N / 4 * K, rows[4];
    PFX(fft4_quad)(N, K, h, idx, rows);
    PFX(pt) a, b, s, d, n;
    PFX(pt_add)(&a, &x[rows[0]], &prod[idx]); /* x0 + P0 */
    PFX(pt_neg)(&n, &prod[idx]);
    PFX(pt_add)(&b, &x[rows[0]], &n); /* x0 - P0 */
    PFX(pt_add)(&s, &prod[quads + idx], &prod[2 * quads + idx]); /* P1 + P2 */
    PFX(pt_neg)(&n, &prod[4 * quads + idx]);
    PFX(pt_add)(&d, &prod[3 * quads + idx], &n); /* P3 - P4 */
    PFX(pt_add)(&x[rows[0]], &a, &s);
    PFX(pt_add)(&x[rows[1]], &b, &d);
    PFX(pt_neg)(&n, &s);
    PFX(pt_add)(&x[rows[2]], &a, &n);
    PFX(pt_neg)(&n, &d);
    PFX(pt_add)(&x[rows[3]], &b, &n);
}

/* Bring n points to Z in {0, 1} (Montgomery's trick, one inversion). pref: n field scratch. */
DEVNI void PFX(pt_normalize_run)(PFX(pt) *p, long n, u64 *pref) {
    u64 acc[NL];
    PFX(fp_copy)(acc, PFX(ONE));
    for (long i = 0; i < n; i++) {
        PFX(fp_copy)(pref + NL * i, acc);
        if (!PFX(pt_is_inf)(&p[i])) PFX(fp_mul)(acc, acc, p[i].Z);
    }
    u64 inv[NL];
    PFX(fp_inv)(inv, acc);
    for (long i = n - 1; i >= 0; i--) {
        if (PFX(pt_is_inf)(&p[i])) {
            PFX(pt_set_inf)(&p[i]);
            continue;
        }
        u64 zi[NL], z2[NL], z3[NL];
        PFX(fp_mul)(zi, inv, pref + NL * i);
        PFX(fp_mul)(inv, inv, p[i].Z);
        PFX(fp_sqr)(z2, zi);
        PFX(fp_mul)(z3, z2, zi);
        PFX(fp_mul)(p[i].X, p[i].X, z2);
        PFX(fp_mul)(p[i].Y, p[i].Y, z3);
        PFX(fp_copy)(p[i].Z, PFX(ONE));
    }
}

/* Canonical affine (x, y, inf) -> Jacobian Montgomery; 0 if valid (coordinates below p, on the
 * curve, infinity encoded as x = y = 0), 1 otherwise. */
DEV int PFX(pt_import)(PFX(pt) *r, const u64 *xy, unsigned char inf) {
    const u64 *x = xy, *y = xy + NL;
    if (inf) {
        PFX(pt_set_inf)(r);
        return (inf != 1) || !PFX(fp_is_zero)(x) || !PFX(fp_is_zero)(y);
    }
    if (PFX(fp_geq_p)(x) || PFX(fp_geq_p)(y)) return 1;
    PFX(fp_to_mont)(r->X, x);
    PFX(fp_to_mont)(r->Y, y);
    PFX(fp_copy)(r->Z, PFX(ONE));
    u64 l[NL], rt[NL];
    PFX(fp_sqr)(l, r->Y);
    PFX(fp_sqr)(rt, r->X);
    PFX(fp_mul)(rt, rt, r->X);
    PFX(fp_add)(rt, rt, PFX(B));
    return !PFX(fp_eq)(l, rt);
}

/* Normalised point (Z in {0, 1}) -> canonical affine (x, y, inf), x = y = 0 at infinity. */
DEV void PFX(pt_export)(u64 *xy, unsigned char *inf, const PFX(pt) *a) {
    if (PFX(pt_is_inf)(a)) {
        for (int i = 0; i < 2 * NL; i++) xy[i] = 0;
        *inf = 1;
        return;
    }
    PFX(fp_from_mont)(xy, a->X);
    PFX(fp_from_mont)(xy + NL, a->Y);
    *inf = 0;
}

/* an includer may add more per-curve code that sees this curve's macros (g2_native.c: g2_curve.h) */
#ifdef G1_CURVE_EXTRA
#include G1_CURVE_EXTRA
#endif

#undef NL
#undef PFX
#undef C_P
#undef C_PINV
#undef C_R2
#undef C_ONE
#undef C_B
#undef C_PM2
#undef C_BETA
#undef C_GLV
#undef C_B2
#undef FP_P_LOCAL
#undef FP_ONE_LOCAL
