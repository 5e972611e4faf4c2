/* Number-theoretic transforms over a 256-bit prime field (the scalar fields Fr of BN254 and BLS12-381)
 * for the Reed-Solomon and recovery steps of offchain/da (wrapper: offchain/crypto/fr_native.py).
 *
 * The modulus is a runtime parameter (any odd p < 2^256 with 4 64-bit limbs): Montgomery form with
 * R = 2^256, CIOS products that keep the carry words (BLS12-381's r is above 2^254, so the shortcut of
 * g1_curve.h, which needs p < 2^254, does not apply), every value fully reduced to [0, p). Values cross
 * the boundary as canonical little-endian 4 x 64-bit words, so results are the field elements the array
 * code computes (tests compare them). Integer-only; not constant-time (public data).
 *
 * fr_ntt transforms K independent columns of length N laid out (N, K) row-major (a column's entries
 * are K words apart): natural order in and out, radix-2 decimation in time after a bit-reversal
 * permutation; roots[i] = w^i (i < N/2, canonical) for the domain generator w (its inverse for an
 * inverse transform, which also multiplies by ninv = 1/N). OpenMP over the butterflies of a stage.
 */

#include <stdlib.h>
#include <string.h>

typedef unsigned long long u64;
typedef unsigned __int128 u128;

typedef struct {
    u64 p[4];
    u64 pinv; /* -p^-1 mod 2^64 */
    u64 r2[4]; /* R^2 mod p */
} fr_params;

static inline void fr_reduce5(u64 r[4], const u64 t[5], const u64 p[4]) {
    /* r = t - p if t >= p else t, for t < 2p (t[4] is the carry word) */
    u64 d[4], borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 s = (u128)t[i] - p[i] - borrow;
        d[i] = (u64)s;
        borrow = (u64)(s >> 64) & 1;
    }
    if (t[4] || !borrow) {
        for (int i = 0; i < 4; i++) r[i] = d[i];
    } else {
        for (int i = 0; i < 4; i++) r[i] = t[i];
    }
}

/* a * b / R mod p (CIOS with two carry words); r may alias a or b */
static inline void fr_mul(u64 r[4], const u64 a[4], const u64 b[4], const fr_params *P) {
    u64 t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a[j] * b[i] + t[j];
            t[j] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (u64)c;
        t[5] = (u64)(c >> 64);
        u64 m = t[0] * P->pinv;
        c = ((u128)m * P->p[0] + t[0]) >> 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * P->p[j] + t[j];
            t[j - 1] = (u64)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (u64)c;
        t[4] = t[5] + (u64)(c >> 64);
    }
    fr_reduce5(r, t, P->p);
}

static inline void fr_add(u64 r[4], const u64 a[4], const u64 b[4], const fr_params *P) {
    u64 t[5];
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c += (u128)a[i] + b[i];
        t[i] = (u64)c;
        c >>= 64;
    }
    t[4] = (u64)c;
    fr_reduce5(r, t, P->p);
}

static inline void fr_sub(u64 r[4], const u64 a[4], const u64 b[4], const fr_params *P) {
    u64 t[4], borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 s = (u128)a[i] - b[i] - borrow;
        t[i] = (u64)s;
        borrow = (u64)(s >> 64) & 1;
    }
    if (borrow) {
        u128 c = 0;
        for (int i = 0; i < 4; i++) {
            c += (u128)t[i] + P->p[i];
            t[i] = (u64)c;
            c >>= 64;
        }
    }
    for (int i = 0; i < 4; i++) r[i] = t[i];
}

static inline int fr_geq_p(const u64 a[4], const u64 p[4]) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] != p[i]) return a[i] > p[i];
    }
    return 1;
}

/* 0 on success; 1 + index of the first word group >= p in a or roots (a non-canonical input) */
long fr_ntt(const fr_params *P, u64 *a, long N, long K, const u64 *roots, int inverse, const u64 *ninv) {
    long total = N * K;
    long bad = total;
    for (long i = 0; i < N / 2; i++)
        if (fr_geq_p(roots + 4 * i, P->p)) return 1 + total + i;
    _Pragma("omp parallel for schedule(static) reduction(min : bad)")
    for (long i = 0; i < total; i++) {
        if (fr_geq_p(a + 4 * i, P->p) && i < bad) bad = i;
    }
    if (bad < total) return 1 + bad;
    u64 *x = (u64 *)malloc(sizeof(u64) * 4 * (total ? total : 1));
    u64 *w = (u64 *)malloc(sizeof(u64) * 4 * (N / 2 ? N / 2 : 1));
    if (!x || !w) {
        free(x);
        free(w);
        return -1;
    }
    int bits = 0;
    while ((1L << bits) < N) bits++;
    /* bit-reversal permutation of the rows, into Montgomery form */
    _Pragma("omp parallel for schedule(static)")
    for (long i = 0; i < N; i++) {
        long r = 0;
        for (int b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
        for (long k = 0; k < K; k++) fr_mul(x + 4 * (r * K + k), a + 4 * (i * K + k), P->r2, P);
    }
    _Pragma("omp parallel for schedule(static)")
    for (long i = 0; i < N / 2; i++) fr_mul(w + 4 * i, roots + 4 * i, P->r2, P);
    for (long h = 1; h < N; h *= 2) {
        long stride = N / (2 * h), pairs = N / 2;
        _Pragma("omp parallel for schedule(static)")
        for (long q = 0; q < pairs; q++) {
            long blk = q / h, j = q % h;
            long i0 = blk * 2 * h + j, i1 = i0 + h;
            const u64 *tw = w + 4 * (j * stride);
            for (long k = 0; k < K; k++) {
                u64 *u = x + 4 * (i0 * K + k), *v = x + 4 * (i1 * K + k);
                u64 t[4];
                fr_mul(t, v, tw, P);
                fr_sub(v, u, t, P);
                fr_add(u, u, t, P);
            }
        }
    }
    /* out of Montgomery form (times 1/N for the inverse): multiply by 1 (or by 1/N in normal form) */
    u64 s[4] = {1, 0, 0, 0};
    if (inverse) memcpy(s, ninv, sizeof(s));
    _Pragma("omp parallel for schedule(static)")
    for (long i = 0; i < total; i++) fr_mul(a + 4 * i, x + 4 * i, s, P);
    free(x);
    free(w);
    return 0;
}

/* a[i] = a[i] * b[i] (canonical in and out; one product batch, for tests of the arithmetic) */
void fr_mul_batch(const fr_params *P, u64 *a, const u64 *b, long n) {
    _Pragma("omp parallel for schedule(static)")
    for (long i = 0; i < n; i++) {
        u64 am[4];
        fr_mul(am, a + 4 * i, P->r2, P); /* a R */
        fr_mul(a + 4 * i, am, b + 4 * i, P); /* a R b / R = a b */
    }
}

int fr_native_abi(void) { return 1; }
