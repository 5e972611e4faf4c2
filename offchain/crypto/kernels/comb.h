/* A fixed-base comb for many scalars times one point, written once for any point type of the native
 * kernels (G1 in g1_native.c, G2 in g2_native.c): out[i] = s[i] * base with 32 windows of 8 bits, a
 * table T[j][d - 1] = d 2^(8 j) base normalised to affine (8,160 points, built once per call), then 31
 * mixed additions per scalar instead of ~255 doublings and ~50 additions (test SRS powers).
 * Instantiate with the entry point's name, the point type, its add / double / set-infinity /
 * normalise-run functions (the signatures of g1_curve.h / g2_curve.h) and the normalise scratch's
 * element type and count for 255 points. Returns 0, or 1 when the table cannot be allocated. */
#ifndef COMB_H
#define COMB_H

#define DEFINE_FIXED_BASE(FN, PT, ADD, DBL, SETINF, NORMRUN, PREF_T, PREF_N)                            \
    int FN(const u64 *base, const u64 *sc, long n, u64 *out) {                                         \
        PT *T = (PT *)malloc(sizeof(PT) * 32 * 255);                                                   \
        PREF_T *pref = (PREF_T *)malloc(sizeof(PREF_T) * (PREF_N));                                    \
        if (!T || !pref) {                                                                             \
            free(T);                                                                                   \
            free(pref);                                                                                \
            return 1;                                                                                  \
        }                                                                                              \
        PT b = *(const PT *)base;                                                                      \
        for (int j = 0; j < 32; j++) {                                                                 \
            T[255 * j] = b;                                                                            \
            for (int d = 1; d < 255; d++) ADD(&T[255 * j + d], &T[255 * j + d - 1], &b);              \
            DBL(&b, &T[255 * j + 127]); /* 2 * 128 b = 2^8 b */                                        \
            NORMRUN(T + 255 * j, 255, pref);                                                           \
        }                                                                                              \
        free(pref);                                                                                    \
        _Pragma("omp parallel for schedule(static)")                                                   \
        for (long i = 0; i < n; i++) {                                                                 \
            PT acc;                                                                                    \
            SETINF(&acc);                                                                              \
            for (int j = 0; j < 32; j++) {                                                             \
                unsigned d = scalar_digit(sc + 4 * i, j, 8);                                           \
                if (d) ADD(&acc, &acc, &T[255 * j + d - 1]);                                           \
            }                                                                                          \
            ((PT *)out)[i] = acc;                                                                      \
        }                                                                                              \
        free(T);                                                                                       \
        return 0;                                                                                      \
    }

#endif
