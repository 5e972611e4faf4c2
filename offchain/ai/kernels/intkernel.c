/* Exact integer kernels of the eigen-ai-int/1 engine (offchain/ai/engine.py): the linear layer
   (BlockLinear) first, then the element-wise steps (exp table, SiLU gate, RMSNorm, attention).

   Linear layer (the engine's definition, in exact integers):

   y[t][r] = sum_b D[r][b] * (sum_{i<32} q[r][32b+i] * x[t][32b+i]) + Mc[r][b] * (sum_{i<32} x[t][32b+i])

   q are the block weights (Q4_1: q-8 in [-8, 7]; Q8_0: [-128, 127]), D and Mc the per-(row, block)
   integer scales (|.| < 2^24), x the quantized activations (|x| <= 2^15). The kernel computes this
   integer exactly, in int32 block sums and int64 accumulators, so the result does not depend on the
   order of the sums, the vector width, the implementation or the thread count.

   How: the weights are stored as w = q + o, o = 8 for Q4 (w in [0, 15], packed two per byte) and 0
   for bytes (w in [-128, 127]); with Mc = 0 where absent, E = Mc - o*D and W_b = sum_{i<32} w_i,

     y = sum_b D_b * S_b + E_b * X_b + C,   S_b = sum_i w_i * u_i,  u_i = x_i + 2^15 in [0, 2^16),
     X_b = sum_i x_i,  C = -2^15 * sum_b D_b * W_b (a per-row constant, computed once in int64),

   since sum_i q_i x_i = sum_i w_i x_i - o X_b and sum_i w_i x_i = S_b - 2^15 W_b. u splits into bytes,
   u = 256*uh + ul, so S_b = 256 * sum w*uh + sum w*ul: unsigned bytes times signed bytes, which is
   what AVX-512 VNNI vpdpbusd multiplies and adds (4 products per int32 lane, no saturation).
   x = +2^15, the one value u cannot hold, is clamped to 2^15 - 1 and the missing D_b * w_i added back.

   Bounds (so nothing wraps): |w| <= 128, u < 2^16: |S_b| <= 32 * 128 * 2^16 = 2^28 (int32, and each
   byte half <= 2^20 before the shift); |D_b S_b| < 2^24 * 2^28 = 2^52; |E_b| < 2^24 + 128 * 2^24 < 2^31
   (int32), |X_b| <= 2^20, |E_b X_b| < 2^51; |C| <= 2^15 * nb * 2^24 * 2^12. With nb <= NB_MAX = 512
   blocks every partial sum of y stays below 512 * (2^52 + 2^51 + 2^51) < 2^62: int64 never wraps,
   so any order gives the same integer. (The engine further guarantees |y| < 2^53.)

   Weight layout: rows in groups of 16 (zero rows pad the last group). For group g and block b, the
   column quad p (columns 32b + 4p .. 4p + 3) of the 16 rows is 64 bytes w[r*4 + j] (row r, column
   4p + j): for bytes, quad p at ((g*nb + b)*8 + p)*64; for Q4, 256 bytes per (g, b) where byte
   z*64 + r*4 + j holds quad z in its low nibble and quad z + 4 in its high nibble. D and E are int32
   [(g*nb + b)*16 + r], C int64 [16g + r].

   Three implementations of the same integers, chosen at run time: AVX-512 VNNI (vpdpbusd), AVX2
   (vpmaddwd on 16-bit activations, below) and portable C for any CPU. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define IL_OK 0
#define IL_EARG -1  /* bad sizes or null pointers */
#define IL_ERANGE -2 /* an activation outside [-2^15, 2^15] */
#define IL_ENOMEM -3

#define X_MAX 32768
#define RG 16           /* rows per group */
#define NB_MAX 512      /* blocks per row (see the bounds above) */
#define TOKEN_TILE 64   /* prefill: tokens whose activations stay in cache while a block of groups passes */
#define GROUP_BLOCK 4   /* groups (of 16 rows) per unit of work handed to a thread */
/* below this many multiply-adds one thread does the product (waking a sleeping worker costs more) */
#define PAR_MIN_MACS (1LL << 17)

typedef struct {
    const uint8_t *w;
    const int32_t *D, *E; /* [groups][nb][16] */
    const int64_t *C;     /* [groups*16] */
    int64_t groups, nb, T;
    int nibble;
    const uint16_t *u;        /* [T][nb*32]: x + 2^15 (x clamped below 2^15) */
    const uint32_t *ul, *uh;  /* [T][nb*8]: low / high bytes of u, one column quad per word */
    const int32_t *X;         /* [T][nb]: block sums of the true activations */
    int64_t *y;               /* [T][groups*16] */
} il_args;

/* The weight w of row 16g + r, column 32b + i. */
static inline int32_t wget(const il_args *a, int64_t g, int64_t b, int r, int i) {
    int p = i >> 2, j = i & 3;
    if (a->nibble) {
        uint8_t v = a->w[(g * a->nb + b) * 256 + (p & 3) * 64 + r * 4 + j];
        return p < 4 ? (v & 15) : (v >> 4);
    }
    return (int8_t)a->w[((g * a->nb + b) * 8 + p) * 64 + r * 4 + j];
}

/* Rows of group g for tokens [t0, t1): plain C, the reference implementation. */
#define GROUP_GENERIC_BODY                                                                              \
    const int64_t nb = a->nb, ldy = a->groups * RG, cols = nb * 32;                                     \
    for (int64_t t = t0; t < t1; t++) {                                                                 \
        int64_t acc[RG];                                                                                \
        for (int r = 0; r < RG; r++) acc[r] = a->C[g * RG + r];                                         \
        const uint16_t *ut = a->u + t * cols;                                                           \
        for (int64_t b = 0; b < nb; b++) {                                                              \
            int32_t s[RG];                                                                              \
            for (int r = 0; r < RG; r++) s[r] = 0;                                                      \
            const uint16_t *ub = ut + b * 32;                                                           \
            if (a->nibble) {                                                                            \
                const uint8_t *wb = a->w + (g * nb + b) * 256;                                          \
                for (int z = 0; z < 4; z++)                                                             \
                    for (int r = 0; r < RG; r++)                                                        \
                        for (int j = 0; j < 4; j++) {                                                   \
                            int32_t v = wb[z * 64 + r * 4 + j];                                         \
                            s[r] += (v & 15) * (int32_t)ub[4 * z + j] + (v >> 4) * (int32_t)ub[16 + 4 * z + j]; \
                        }                                                                               \
            } else {                                                                                    \
                const int8_t *wb = (const int8_t *)a->w + (g * nb + b) * 512;                           \
                for (int p = 0; p < 8; p++)                                                             \
                    for (int r = 0; r < RG; r++)                                                        \
                        for (int j = 0; j < 4; j++) s[r] += (int32_t)wb[p * 64 + r * 4 + j] * (int32_t)ub[4 * p + j]; \
            }                                                                                           \
            const int32_t *Db = a->D + (g * nb + b) * RG, *Eb = a->E + (g * nb + b) * RG;              \
            const int64_t xb = a->X[t * nb + b];                                                        \
            for (int r = 0; r < RG; r++) acc[r] += (int64_t)Db[r] * s[r] + (int64_t)Eb[r] * xb;         \
        }                                                                                               \
        for (int r = 0; r < RG; r++) a->y[t * ldy + g * RG + r] = acc[r];                               \
    }

static void group_portable(const il_args *a, int64_t g, int64_t t0, int64_t t1) { GROUP_GENERIC_BODY }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define IL_X86 1

#define AVX2_TARGET __attribute__((target("avx2")))

/* A product of one or two tokens streams its weights from memory (a decode step reads ~115 MB of
   them) and does little work per byte: the weights, D and E of the block PF_BLOCKS ahead in the
   unit's stream (groups follow each other in memory) are requested now. A hint: it never faults. */
#define PF_BLOCKS 16
static inline void prefetch_block(const il_args *a, int64_t g, int64_t b) {
    const int64_t pb = g * a->nb + b + PF_BLOCKS, wbytes = a->nibble ? 256 : 512;
    for (int64_t o = 0; o < wbytes; o += 64) _mm_prefetch((const char *)(a->w + pb * wbytes + o), _MM_HINT_T0);
    _mm_prefetch((const char *)(a->D + pb * RG), _MM_HINT_T0);
    _mm_prefetch((const char *)(a->E + pb * RG), _MM_HINT_T0);
}

/* AVX2 (vpmaddwd on 16-bit lanes; what CPUs without AVX-512 VNNI run). The activations are taken
   signed, x' = u - 2^15 = u ^ 0x8000 in [-2^15, 2^15 - 1] (the clamped x), and the weights are
   widened to int16 (w in [0, 15] for Q4, [-128, 127] for bytes). S'_b = sum_i w_i x'_i = S_b - 2^15 W_b,
   so sum_b (D_b S'_b + E_b X_b) = sum_b (D_b S_b + E_b X_b) + C: the same y without adding C.

   Bounds: |w_i x'_i| <= 2^7 * 2^15 = 2^22 (vpmaddwd's one overflow, -2^15 * -2^15, needs |w| = 2^15),
   a pair <= 2^23, the 16 products of one int32 lane in a block <= 2^26 and the block sum |S'_b| <= 2^27
   (int32); |D_b S'_b| < 2^51, |E_b X_b| < 2^51, so with nb <= 512 every partial sum of y stays below
   2^61: int64 never wraps and the integer is the one of the other implementations.

   Layout in registers: a column quad p of 4 rows is 16 int16 (row r's 4 weights in lanes 4r..4r+3);
   vpmaddwd against the quad's 4 activations (broadcast) leaves row r's two pair sums in its 64-bit
   lane, added and multiplied by D_r (vpmuldq reads the low 32 bits) into int64 accumulators of 4 rows.
   NT tokens (a compile-time constant at each call) share each widened weight vector. */
AVX2_TARGET __attribute__((always_inline)) static inline void tile_avx2(const il_args *a, int64_t g, int64_t t0,
                                                                         const int NT) {
    const int64_t nb = a->nb, ldy = a->groups * RG, cols = nb * 32;
    const __m128i m4 = _mm_set1_epi8(15);
    const __m256i flip = _mm256_set1_epi16((short)0x8000);
    __m256i Y[2][4];
    for (int k = 0; k < NT; k++)
        for (int i = 0; i < 4; i++) Y[k][i] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nb; b++) {
        prefetch_block(a, g, b);
        __m256i acc[2][4];
        for (int k = 0; k < NT; k++)
            for (int i = 0; i < 4; i++) acc[k][i] = _mm256_setzero_si256();
        for (int p = 0; p < 8; p++) {
            __m256i W[4];
            if (a->nibble) {
                const uint8_t *wb = a->w + (g * nb + b) * 256 + (p & 3) * 64;
                for (int i = 0; i < 4; i++) {
                    __m128i v = _mm_loadu_si128((const __m128i *)(wb + 16 * i));
                    v = p < 4 ? _mm_and_si128(v, m4) : _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                    W[i] = _mm256_cvtepu8_epi16(v);
                }
            } else {
                const uint8_t *wb = a->w + ((g * nb + b) * 8 + p) * 64;
                for (int i = 0; i < 4; i++) W[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + 16 * i)));
            }
            for (int k = 0; k < NT; k++) {
                int64_t q;
                memcpy(&q, a->u + (t0 + k) * cols + b * 32 + 4 * p, sizeof q);
                const __m256i xv = _mm256_xor_si256(_mm256_set1_epi64x(q), flip);
                for (int i = 0; i < 4; i++) acc[k][i] = _mm256_add_epi32(acc[k][i], _mm256_madd_epi16(W[i], xv));
            }
        }
        const int32_t *Db = a->D + (g * nb + b) * RG, *Eb = a->E + (g * nb + b) * RG;
        for (int i = 0; i < 4; i++) {
            const __m256i D = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(Db + 4 * i)));
            const __m256i E = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(Eb + 4 * i)));
            for (int k = 0; k < NT; k++) {
                const __m256i s = _mm256_add_epi32(acc[k][i], _mm256_srli_epi64(acc[k][i], 32));
                const __m256i xb = _mm256_set1_epi64x(a->X[(t0 + k) * nb + b]);
                Y[k][i] = _mm256_add_epi64(Y[k][i], _mm256_add_epi64(_mm256_mul_epi32(D, s), _mm256_mul_epi32(E, xb)));
            }
        }
    }
    for (int k = 0; k < NT; k++)
        for (int i = 0; i < 4; i++) _mm256_storeu_si256((__m256i *)(a->y + (t0 + k) * ldy + g * RG + 4 * i), Y[k][i]);
}

AVX2_TARGET static void group_avx2(const il_args *a, int64_t g, int64_t t0, int64_t t1) {
    int64_t t = t0;
    for (; t + 2 <= t1; t += 2) tile_avx2(a, g, t, 2);
    if (t < t1) tile_avx2(a, g, t, 1);
}

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* NT tokens (a compile-time constant at each call) share each unpacked weight vector. Lane r of an
   int32 vector is row r of the group; int64 accumulators hold the even rows (ae) and odd rows (ao). */
VNNI_TARGET __attribute__((always_inline)) static inline void tile_vnni(const il_args *a, int64_t g, int64_t t0,
                                                                         const int NT) {
    const int64_t nb = a->nb, ldy = a->groups * RG;
    const __m512i m4 = _mm512_set1_epi8(15), zero = _mm512_setzero_si512();
    __m512i ae[4], ao[4];
    for (int k = 0; k < NT; k++) ae[k] = ao[k] = zero;
    for (int64_t b = 0; b < nb; b++) {
        __m512i W[8];
        if (NT <= 2) prefetch_block(a, g, b);
        if (a->nibble) {
            const uint8_t *wb = a->w + (g * nb + b) * 256;
            for (int z = 0; z < 4; z++) {
                __m512i v = _mm512_loadu_si512((const void *)(wb + z * 64));
                W[z] = _mm512_and_si512(v, m4);
                W[z + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        } else {
            const uint8_t *wb = a->w + (g * nb + b) * 512;
            for (int p = 0; p < 8; p++) W[p] = _mm512_loadu_si512((const void *)(wb + p * 64));
        }
        const __m512i D = _mm512_loadu_si512((const void *)(a->D + (g * nb + b) * RG));
        const __m512i E = _mm512_loadu_si512((const void *)(a->E + (g * nb + b) * RG));
        const __m512i Do = _mm512_srli_epi64(D, 32), Eo = _mm512_srli_epi64(E, 32);
        for (int k = 0; k < NT; k++) {
            const uint32_t *ul = a->ul + ((t0 + k) * nb + b) * 8, *uh = a->uh + ((t0 + k) * nb + b) * 8;
            __m512i l0 = zero, l1 = zero, h0 = zero, h1 = zero;
            for (int p = 0; p < 8; p += 2) {
                l0 = _mm512_dpbusd_epi32(l0, _mm512_set1_epi32((int)ul[p]), W[p]);
                h0 = _mm512_dpbusd_epi32(h0, _mm512_set1_epi32((int)uh[p]), W[p]);
                l1 = _mm512_dpbusd_epi32(l1, _mm512_set1_epi32((int)ul[p + 1]), W[p + 1]);
                h1 = _mm512_dpbusd_epi32(h1, _mm512_set1_epi32((int)uh[p + 1]), W[p + 1]);
            }
            const __m512i s = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(h0, h1), 8), _mm512_add_epi32(l0, l1));
            const __m512i xb = _mm512_set1_epi32(a->X[(t0 + k) * nb + b]);
            ae[k] = _mm512_add_epi64(ae[k], _mm512_add_epi64(_mm512_mul_epi32(D, s), _mm512_mul_epi32(E, xb)));
            ao[k] = _mm512_add_epi64(
                ao[k], _mm512_add_epi64(_mm512_mul_epi32(Do, _mm512_srli_epi64(s, 32)), _mm512_mul_epi32(Eo, xb)));
        }
    }
    const __m512i ilo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), ihi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    const __m512i c0 = _mm512_loadu_si512((const void *)(a->C + g * RG));
    const __m512i c1 = _mm512_loadu_si512((const void *)(a->C + g * RG + 8));
    for (int k = 0; k < NT; k++) {
        int64_t *yt = a->y + (t0 + k) * ldy + g * RG;
        _mm512_storeu_si512((void *)yt, _mm512_add_epi64(_mm512_permutex2var_epi64(ae[k], ilo, ao[k]), c0));
        _mm512_storeu_si512((void *)(yt + 8), _mm512_add_epi64(_mm512_permutex2var_epi64(ae[k], ihi, ao[k]), c1));
    }
}

VNNI_TARGET static void group_vnni(const il_args *a, int64_t g, int64_t t0, int64_t t1) {
    int64_t t = t0;
    for (; t + 4 <= t1; t += 4) tile_vnni(a, g, t, 4);
    switch (t1 - t) {
    case 3: tile_vnni(a, g, t, 3); break;
    case 2: tile_vnni(a, g, t, 2); break;
    case 1: tile_vnni(a, g, t, 1); break;
    default: break;
    }
}
#else
#define IL_X86 0
#endif

#define IMPL_AUTO 0
#define IMPL_PORTABLE 1
#define IMPL_AVX2 2
#define IMPL_AVX512VNNI 3

/* 1 when implementation impl (1 portable, 2 AVX2, 3 AVX-512 VNNI) can run on this CPU. */
int il_impl_available(int impl) {
    if (impl == IMPL_PORTABLE) return 1;
#if IL_X86
    __builtin_cpu_init();
    if (impl == IMPL_AVX2) return __builtin_cpu_supports("avx2");
    if (impl == IMPL_AVX512VNNI)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    return 0;
}

/* kept for callers of the first kernel version */
int il_has_avx2(void) { return il_impl_available(IMPL_AVX2); }

typedef void (*group_fn)(const il_args *, int64_t, int64_t, int64_t);

/* What impl 0 (auto) means for this process: 0 the best available, else one implementation
   (EIGEN_AI_KERNEL, for measurements). Every implementation computes the same integers. */
static int il_default_impl = IMPL_AUTO;

/* Sets what auto means; IL_EARG for an unknown or unavailable implementation. */
int il_set_default_impl(int impl) {
    if (impl < IMPL_AUTO || impl > IMPL_AVX512VNNI || (impl != IMPL_AUTO && !il_impl_available(impl))) return IL_EARG;
    il_default_impl = impl;
    return IL_OK;
}

int il_get_default_impl(void) { return il_default_impl; }

static group_fn pick(int impl) {
    if (impl == IMPL_AUTO) impl = il_default_impl;
#if IL_X86
    if ((impl == IMPL_AUTO || impl == IMPL_AVX512VNNI) && il_impl_available(IMPL_AVX512VNNI)) return group_vnni;
    if ((impl == IMPL_AUTO || impl == IMPL_AVX2 || impl == IMPL_AVX512VNNI) && il_impl_available(IMPL_AVX2))
        return group_avx2;
#endif
    return group_portable;
}

/* round(y * 2^e) with ties to even, for an integer |y| < 2^62 (what rint(ldexp(y, e)) gives). */
static int64_t scale_round(int64_t y, int64_t e) {
    if (e > 62) return y ? INT64_MIN : 0; /* out of range: what the x86 float-to-int conversion gives */
    if (e >= 0) return (int64_t)((uint64_t)y << e);
    int64_t s = -e;
    if (s > 62) return 0;
    int64_t fl = y >> s; /* floor (arithmetic shift) */
    int64_t rem = y - (int64_t)((uint64_t)fl << s), half = (int64_t)1 << (s - 1);
    if (rem > half || (rem == half && (fl & 1))) fl += 1;
    return fl;
}

#if IL_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

/* scale_round on 8 lanes: round(y * 2^e), ties to even, with scale_round's out-of-range values. */
AVX512_TARGET static inline __m512i scale_round_v(__m512i y, __m512i e) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi64(1), c62 = _mm512_set1_epi64(62);
    const __m512i s = _mm512_sub_epi64(zero, e);
    const __m512i sc = _mm512_min_epi64(_mm512_max_epi64(s, one), c62); /* right-shift lanes: s in [1, 62] */
    __m512i fl = _mm512_srav_epi64(y, sc);
    const __m512i rem = _mm512_sub_epi64(y, _mm512_sllv_epi64(fl, sc));
    const __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(sc, one));
    const __mmask8 up = _mm512_cmpgt_epi64_mask(rem, half) |
                        (_mm512_cmpeq_epi64_mask(rem, half) & _mm512_test_epi64_mask(fl, one));
    fl = _mm512_mask_add_epi64(fl, up, fl, one);
    __m512i r = _mm512_mask_blend_epi64(_mm512_cmpge_epi64_mask(e, zero), fl, _mm512_sllv_epi64(y, e));
    r = _mm512_mask_mov_epi64(r, _mm512_cmpgt_epi64_mask(s, c62), zero);
    const __m512i big = _mm512_maskz_mov_epi64(_mm512_test_epi64_mask(y, y), _mm512_set1_epi64(INT64_MIN));
    return _mm512_mask_mov_epi64(r, _mm512_cmpgt_epi64_mask(e, c62), big);
}

/* out[r] = scale_round(y[r], e0 - s_row[r]) for r < cnt, 8 rows at a time. */
AVX512_TARGET static void round_rows_avx512(const int64_t *y, int64_t e0, const int64_t *s_row, int64_t *out,
                                            int64_t cnt) {
    for (int64_t r = 0; r < cnt; r += 8) {
        const __mmask8 k = (__mmask8)((1u << (cnt - r < 8 ? cnt - r : 8)) - 1);
        const __m512i e = _mm512_sub_epi64(_mm512_set1_epi64(e0), _mm512_maskz_loadu_epi64(k, s_row + r));
        _mm512_mask_storeu_epi64(out + r, k, scale_round_v(_mm512_maskz_loadu_epi64(k, y + r), e));
    }
}
#endif

static int att_blocked_available(void);

/* ---- a persistent team for the linear layer ----

   A decode step runs ~120 small products (about 0.1 ms each). An OpenMP region per product wakes a
   sleeping worker and then waits at the closing barrier until that worker has been scheduled, which
   on a busy machine can take longer than the product. Here workers stay in a team: after a job they
   spin (bounded, POOL_SPIN pause loops, ~50 us) and then sleep on a condition variable. A job is
   numbered units claimed from one atomic counter; the caller claims units too and, when none are left,
   waits only for the workers that did join this job (a worker that arrives after the job closed
   leaves it untouched). Which thread computes a unit never changes its integers. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#if IL_X86
#define POOL_PAUSE() __builtin_ia32_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif
#define POOL_MAX 64
#define POOL_SPIN 2000

typedef void (*unit_fn)(void *ctx, int64_t unit);

static struct {
    pthread_mutex_t mu;     /* guards sleeping, the condition variable and thread creation */
    pthread_cond_t cv;
    pthread_mutex_t run_mu; /* one job at a time (callers from several Python threads queue here) */
    atomic_uint_fast64_t gen; /* bumped for each job */
    atomic_int closed;        /* 1: the current job takes no new workers */
    atomic_int refs;          /* workers inside the current job */
    atomic_int sleepers;
    atomic_int_fast64_t next; /* next unit to claim */
    unit_fn fn;
    void *ctx;
    int64_t n;
    int allowed; /* workers 0..allowed-1 may join this job */
    int started;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, 0, 0};

/* Units are claimed in runs (guided scheduling): a run is 1 / (2 * threads) of what was left at the
   thread's last claim, at least one unit. Runs of consecutive units keep a thread's weight stream
   sequential (what the hardware prefetcher follows; one unit at a time interleaved the threads'
   units) and take fewer claims on the shared counter; the tail still goes one unit at a time. */
static void pool_work(void) {
    const unit_fn fn = pool.fn;
    void *ctx = pool.ctx;
    const int64_t n = pool.n, div = 2 * ((int64_t)pool.allowed + 1);
    for (int64_t seen = 0;;) {
        int64_t c = (n - seen) / div;
        if (c < 1) c = 1;
        int64_t k = atomic_fetch_add(&pool.next, c);
        if (k >= n) break;
        const int64_t e = k + c < n ? k + c : n;
        for (; k < e; k++) fn(ctx, k);
        seen = e;
    }
}

static void *pool_worker(void *arg) {
    const int id = (int)(intptr_t)arg;
    uint64_t seen = atomic_load(&pool.gen);
    for (;;) {
        uint64_t g = atomic_load(&pool.gen);
        for (int i = 0; g == seen && i < POOL_SPIN; i++) {
            POOL_PAUSE();
            g = atomic_load(&pool.gen);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.mu);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = atomic_load(&pool.gen)) == seen) pthread_cond_wait(&pool.cv, &pool.mu);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.mu);
        }
        seen = g;
        atomic_fetch_add(&pool.refs, 1);
        /* the job's fields are read only while it is open and this worker is counted in refs; the
           caller rewrites them only after closing a job and seeing refs == 0 */
        if (!atomic_load(&pool.closed) && atomic_load(&pool.gen) == g && id < pool.allowed) pool_work();
        atomic_fetch_sub(&pool.refs, 1);
    }
    return NULL;
}

/* A forked child has none of the workers (and maybe a lock another thread held): a fresh team. */
static void pool_atfork_child(void) {
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.cv, NULL);
    pthread_mutex_init(&pool.run_mu, NULL);
    pool.started = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.refs, 0);
    atomic_store(&pool.closed, 1);
}

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static void pool_init(void) { pthread_atfork(NULL, NULL, pool_atfork_child); }

/* fn(ctx, k) for k < n on up to nth threads, the caller one of them (if a worker cannot be created,
   the others and the caller do its share). */
static void pool_run(unit_fn fn, void *ctx, int64_t n, int nth) {
    if (nth > POOL_MAX + 1) nth = POOL_MAX + 1;
    if (nth <= 1) {
        for (int64_t k = 0; k < n; k++) fn(ctx, k);
        return;
    }
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.run_mu);
    pthread_mutex_lock(&pool.mu);
    while (pool.started < nth - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &at, pool_worker, (void *)(intptr_t)pool.started);
        pthread_attr_destroy(&at);
        if (err) break;
        pool.started++;
    }
    pthread_mutex_unlock(&pool.mu);
    /* no job open, refs == 0: publish this one */
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.allowed = nth - 1;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.closed, 0);
    atomic_fetch_add(&pool.gen, 1);
    if (atomic_load(&pool.sleepers)) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.cv);
        pthread_mutex_unlock(&pool.mu);
    }
    pool_work();
    atomic_store(&pool.closed, 1);
    /* only workers that joined this job (a preempted one is waited for by yielding the core) */
    for (int i = 0; atomic_load(&pool.refs); i++) {
        if (i < 2000)
            POOL_PAUSE();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&pool.run_mu);
}

/* ---- reusable per-thread scratch ----

   The large temporaries of a prefill (tens of MB at 1000 tokens) came fresh from mmap on every call,
   and the kernel zeroes each new page on its first touch (≈ 12 % of a 918-token prefill in a profile).
   Each calling thread now keeps one buffer per slot, grown when a call needs more and kept up to
   SCRATCH_KEEP bytes (a larger request is a plain malloc, freed after the call); the buffers are freed
   when the thread exits. A slot is used by one function only, and no function calls itself, so a
   buffer is never in use twice. Contents are undefined on entry, as malloc's were. */
#define SCRATCH_SLOTS 10
#define SCRATCH_KEEP ((size_t)64 << 20)
enum { SC_U, SC_UL, SC_X, SC_XQ, SC_SH, SC_Y, SC_QS, SC_LXN, SC_LY, SC_LZ };

typedef struct {
    void *p[SCRATCH_SLOTS];
    size_t n[SCRATCH_SLOTS];
} il_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_ok;

static void scratch_release(void *v) {
    il_scratch *s = (il_scratch *)v;
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}

static void scratch_init(void) { scratch_ok = pthread_key_create(&scratch_key, scratch_release) == 0; }

static il_scratch *scratch_mine(int create) {
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_ok) return NULL;
    il_scratch *s = (il_scratch *)pthread_getspecific(scratch_key);
    if (!s && create) {
        s = (il_scratch *)calloc(1, sizeof *s);
        if (s && pthread_setspecific(scratch_key, s)) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

/* n bytes (n > 0) from this thread's slot, or NULL when out of memory. */
static void *scratch_get(int slot, size_t n) {
    il_scratch *s = n <= SCRATCH_KEEP ? scratch_mine(1) : NULL;
    if (!s) return malloc(n);
    if (s->n[slot] < n) {
        free(s->p[slot]);
        s->p[slot] = malloc(n);
        s->n[slot] = s->p[slot] ? n : 0;
    }
    return s->p[slot];
}

/* Done with p from scratch_get(slot, ..): kept if it is the slot's buffer, else freed. */
static void scratch_put(int slot, void *p) {
    il_scratch *s = scratch_mine(0);
    if (s && s->p[slot] == p) return;
    free(p);
}

typedef struct {
    const il_args *a;
    group_fn fn;
    const int32_t *D;
    const int64_t *fix;
    int64_t nfix, rows, out_shift;
    const int64_t *s_row, *sh;
    int64_t *out;
    int vround; /* the output rounding on AVX-512 lanes (round_rows_avx512: the same integers) */
} lin_job;

/* Unit k of a product: the groups [k*GROUP_BLOCK, ...), token tiles outside and its groups inside (a
   tile's activations and the block's weights stay in cache), then the clamped-activation fix-ups and
   the output rounding of those rows. */
static void lin_unit(void *ctx, int64_t k) {
    const lin_job *j = (const lin_job *)ctx;
    const il_args *a = j->a;
    const int64_t groups = a->groups, nb = a->nb, T = a->T, ldy = groups * RG;
    int64_t *y = a->y;
    const int64_t g0 = k * GROUP_BLOCK, g1 = g0 + GROUP_BLOCK < groups ? g0 + GROUP_BLOCK : groups;
    for (int64_t t0 = 0; t0 < T; t0 += TOKEN_TILE)
        for (int64_t g = g0; g < g1; g++) j->fn(a, g, t0, t0 + TOKEN_TILE < T ? t0 + TOKEN_TILE : T);
    for (int64_t g = g0; g < g1; g++) {
        /* the clamped activations: add D * w * 1 for each */
        for (int64_t f = 0; f < j->nfix; f++) {
            int64_t t = j->fix[2 * f], c = j->fix[2 * f + 1], b = c / 32;
            const int32_t *Db = j->D + (g * nb + b) * RG;
            for (int r = 0; r < RG; r++) y[t * ldy + g * RG + r] += (int64_t)Db[r] * wget(a, g, b, r, (int)(c % 32));
        }
        if (!j->out || g * RG >= j->rows) continue;
        const int64_t r0 = g * RG, cnt = j->rows - r0 < RG ? j->rows - r0 : RG;
        for (int64_t t = 0; t < T; t++) {
#if IL_X86
            if (j->vround) {
                round_rows_avx512(y + t * ldy + r0, j->out_shift + j->sh[t], j->s_row + r0, j->out + t * j->rows + r0,
                                  cnt);
                continue;
            }
#endif
            for (int64_t r = r0; r < r0 + cnt; r++)
                j->out[t * j->rows + r] = scale_round(y[t * ldy + r], j->out_shift - j->s_row[r] + j->sh[t]);
        }
    }
}

/* The product y = W x (exact int64) of int32 activations |x| <= 2^15, and with out != NULL the
   output rounding out[t][r] = round(y * 2^(out_shift - s_row[r] + sh[t])) for r < rows. */
static int linear_core(const uint8_t *w, const int32_t *D, const int32_t *E, const int64_t *C, int64_t groups,
                       int64_t nb, int nibble, const int32_t *x, int64_t T, int64_t *y, int nthreads, int impl,
                       int64_t rows, int64_t out_shift, const int64_t *s_row, const int64_t *sh, int64_t *out) {
    if (nthreads < 0 || !w || !D || !E || !C || !x || !y || groups <= 0 || nb <= 0 || nb > NB_MAX || T <= 0 ||
        impl < 0 || impl > 3)
        return IL_EARG;
    const int64_t cols = nb * 32;
    uint16_t *u = (uint16_t *)scratch_get(SC_U, (size_t)(T * cols) * sizeof(uint16_t));
    uint32_t *ul = (uint32_t *)scratch_get(SC_UL, (size_t)(T * nb * 8) * sizeof(uint32_t) * 2), *uh = ul + T * nb * 8;
    int32_t *X = (int32_t *)scratch_get(SC_X, (size_t)(T * nb) * sizeof(int32_t));
    int64_t *fix = NULL; /* (t, col) of every activation equal to +2^15 */
    int64_t nfix = 0, capfix = 0;
    int rc = IL_OK;
    if (!u || !ul || !X) {
        rc = IL_ENOMEM;
        goto done;
    }
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < nb; b++) {
            int32_t sum = 0;
            for (int i = 0; i < 32; i++) {
                int64_t c = b * 32 + i;
                int32_t v = x[t * cols + c];
                if (v < -X_MAX || v > X_MAX) {
                    rc = IL_ERANGE;
                    goto done;
                }
                sum += v;
                if (v == X_MAX) {
                    if (nfix == capfix) {
                        capfix = capfix ? 2 * capfix : 16;
                        int64_t *nf = (int64_t *)realloc(fix, (size_t)capfix * 2 * sizeof(int64_t));
                        if (!nf) {
                            rc = IL_ENOMEM;
                            goto done;
                        }
                        fix = nf;
                    }
                    fix[2 * nfix] = t;
                    fix[2 * nfix + 1] = c;
                    nfix++;
                    v = X_MAX - 1;
                }
                u[t * cols + c] = (uint16_t)(v + X_MAX);
            }
            X[t * nb + b] = sum;
        }
        for (int64_t k = 0; k < nb * 8; k++) {
            const uint16_t *q4 = u + t * cols + 4 * k;
            ul[t * nb * 8 + k] = (uint32_t)(q4[0] & 255) | (uint32_t)(q4[1] & 255) << 8 |
                                 (uint32_t)(q4[2] & 255) << 16 | (uint32_t)(q4[3] & 255) << 24;
            uh[t * nb * 8 + k] = (uint32_t)(q4[0] >> 8) | (uint32_t)(q4[1] >> 8) << 8 | (uint32_t)(q4[2] >> 8) << 16 |
                                 (uint32_t)(q4[3] >> 8) << 24;
        }
    }
    {
        il_args a = {w, D, E, C, groups, nb, T, nibble, u, ul, uh, X, y};
        const group_fn fn = pick(impl);
        lin_job job = {&a, fn, D, fix, nfix, rows, out_shift, s_row, sh, out, 0};
#if IL_X86
        job.vround = fn == group_vnni && att_blocked_available();
#endif
        int nth = 1;
#ifdef _OPENMP
        nth = nthreads > 0 ? nthreads : omp_get_max_threads();
#endif
        if (groups * RG * cols * T < PAR_MIN_MACS) nth = 1;
        const int64_t units = (groups + GROUP_BLOCK - 1) / GROUP_BLOCK;
        if (nth > units) nth = (int)units;
        pool_run(lin_unit, &job, units, nth);
    }
done:
    scratch_put(SC_U, u);
    scratch_put(SC_UL, ul);
    scratch_put(SC_X, X);
    free(fix);
    return rc;
}

/* y[T][groups*16] = exact linear layer of x[T][nb*32] (int32 activations, |x| <= 2^15), as int64.
   impl: 0 = best available, 1 = portable C, 2 = AVX2, 3 = AVX-512 VNNI (an unavailable one falls back
   to the next available below it). nthreads 0: the OpenMP default. Returns IL_OK or a negative IL_E*. */
int il_linear(const uint8_t *w, const int32_t *D, const int32_t *E, const int64_t *C, int64_t groups, int64_t nb,
              int nibble, const int32_t *x, int64_t T, int64_t *y, int nthreads, int impl) {
    return linear_core(w, D, E, C, groups, nb, nibble, x, T, y, nthreads, impl, 0, 0, NULL, NULL, NULL);
}

/* The whole BlockLinear step: x int64 [T][nb*32] in 2^-f_in units -> out int64 [T][rows] in 2^-f_out
   units. Per token: sh = max(bitlen(max|x|) - act_bits, 0), xq = round(x / 2^sh) (halves up), then the
   exact product y, then out = round(y * 2^(out_shift - s_row[r] + sh)) with ties to even, where
   out_shift = f_out - f_in. |x| must stay below 2^62 (the engine's values are far below). */
int il_block_linear(const uint8_t *w, const int32_t *D, const int32_t *E, const int64_t *C, int64_t groups, int64_t nb,
                    int nibble, int64_t rows, const int64_t *x, int64_t T, int act_bits, int64_t out_shift,
                    const int64_t *s_row, int64_t *out, int nthreads, int impl) {
    if (!w || !D || !x || !s_row || !out || groups <= 0 || nb <= 0 || T <= 0 || rows <= 0 || rows > groups * RG ||
        act_bits < 1 || act_bits > 15)
        return IL_EARG;
    const int64_t cols = nb * 32, ldy = groups * RG;
    int32_t *xq = (int32_t *)scratch_get(SC_XQ, (size_t)(T * cols) * sizeof(int32_t));
    int64_t *sh = (int64_t *)scratch_get(SC_SH, (size_t)T * sizeof(int64_t));
    int64_t *y = (int64_t *)scratch_get(SC_Y, (size_t)(T * ldy) * sizeof(int64_t));
    int rc = IL_OK;
    if (!xq || !sh || !y) {
        rc = IL_ENOMEM;
        goto done;
    }
    for (int64_t t = 0; t < T; t++) {
        const int64_t *xt = x + t * cols;
        uint64_t amax = 0;
        for (int64_t c = 0; c < cols; c++) {
            uint64_t a = xt[c] < 0 ? (uint64_t)0 - (uint64_t)xt[c] : (uint64_t)xt[c];
            if (a > amax) amax = a;
        }
        if (amax >= ((uint64_t)1 << 62)) {
            rc = IL_ERANGE;
            goto done;
        }
        int bl = amax ? 64 - __builtin_clzll(amax) : 0;
        int64_t s = bl > act_bits ? bl - act_bits : 0;
        sh[t] = s;
        int64_t half = s > 0 ? (int64_t)1 << (s - 1) : 0;
        for (int64_t c = 0; c < cols; c++) xq[t * cols + c] = (int32_t)((xt[c] + half) >> s);
    }
    rc = linear_core(w, D, E, C, groups, nb, nibble, xq, T, y, nthreads, impl, rows, out_shift, s_row, sh, out);
done:
    scratch_put(SC_XQ, xq);
    scratch_put(SC_SH, sh);
    scratch_put(SC_Y, y);
    return rc;
}

/* ---- element-wise integer steps of the engine (offchain/ai/fixedpoint.py, engine.py) ---- */

#define EXP_ONE_BITS 30
#define U_BITS 48                  /* fixedpoint._U_BITS: d has 16 fractional bits, log2(e) 32 */
#define EXP_D_MAX ((int64_t)32 << 16) /* fixedpoint.EXP_D_MAX */
#define GATE_LIMIT (((int64_t)1 << 30) - 1)

static inline int64_t round_shift(int64_t x, int64_t s) { return s > 0 ? (x + ((int64_t)1 << (s - 1))) >> s : x; }

/* fixedpoint.exp_neg for one d >= 0: 2^out_bits * exp(-d / 2^16) from the two 1024-entry tables. */
static inline int64_t exp_neg1(int64_t d, int out_bits, const int64_t *t1, const int64_t *t2, int64_t log2e) {
    if (d > EXP_D_MAX) d = EXP_D_MAX;
    int64_t u = d * log2e; /* < 2^54 */
    int64_t n = u >> U_BITS, f = u & (((int64_t)1 << U_BITS) - 1);
    int64_t a = f >> (U_BITS - 10), b = (f >> (U_BITS - 20)) & 1023;
    int64_t val = (t1[a] * t2[b] + ((int64_t)1 << (EXP_ONE_BITS - 1))) >> EXP_ONE_BITS;
    return round_shift(val, n + (EXP_ONE_BITS - out_bits));
}

/* Every final shift n + 30 - out_bits stays below 63 (n <= 46), where C and numpy shifts agree. */
#define EXP_MIN_OUT_BITS 14

/* out[i] = exp_neg(d[i]); tables t1, t2 (1024 entries each, 2^-30 units) and round(log2(e) 2^32) come
   from fixedpoint so that there is one definition. IL_ERANGE for a negative d. */
int il_exp_neg(const int64_t *d, int64_t n, int out_bits, const int64_t *t1, const int64_t *t2, int64_t log2e,
               int64_t *out) {
    if (!d || !out || !t1 || !t2 || n < 0 || out_bits < EXP_MIN_OUT_BITS || out_bits > EXP_ONE_BITS) return IL_EARG;
    for (int64_t i = 0; i < n; i++)
        if (d[i] < 0) return IL_ERANGE;
    for (int64_t i = 0; i < n; i++) out[i] = exp_neg1(d[i], out_bits, t1, t2, log2e);
    return IL_OK;
}

#if IL_X86
static void silu_row_avx512(const int64_t *g, const int64_t *u, int64_t H, const int64_t *t1, const int64_t *t2,
                            int64_t log2e, int64_t *o);
#endif

/* 1 when the element-wise steps take their AVX-512 versions (the CPU has AVX-512 F/DQ/BW/VL and the
   linear kernel is not pinned to portable or AVX2, which stand for CPUs without it): the same integers. */
static int elementwise_vector(void) {
    return il_default_impl != IMPL_PORTABLE && il_default_impl != IMPL_AVX2 && att_blocked_available();
}

/* Engine._silu_mul on a fused gate|up product gu [T][2H] (gate = columns < H): out [T][H] =
   silu(gate) * up in 2^-32 units, sigma from the exp table and a rounded integer division. */
int il_silu_mul(const int64_t *gu, int64_t T, int64_t H, const int64_t *t1, const int64_t *t2, int64_t log2e,
                int64_t *out) {
    if (!gu || !out || !t1 || !t2 || T < 0 || H <= 0) return IL_EARG;
    const int64_t one = (int64_t)1 << EXP_ONE_BITS;
    const int vec = elementwise_vector();
    for (int64_t t = 0; t < T; t++) {
        const int64_t *g = gu + t * 2 * H, *u = g + H;
        int64_t *o = out + t * H;
#if IL_X86
        if (vec) {
            silu_row_avx512(g, u, H, t1, t2, log2e, o);
            continue;
        }
#endif
        (void)vec;
        for (int64_t i = 0; i < H; i++) {
            int64_t gate = g[i] < -GATE_LIMIT ? -GATE_LIMIT : g[i] > GATE_LIMIT ? GATE_LIMIT : g[i];
            int64_t up = u[i] < -GATE_LIMIT ? -GATE_LIMIT : u[i] > GATE_LIMIT ? GATE_LIMIT : u[i];
            int64_t e = exp_neg1(gate < 0 ? -gate : gate, EXP_ONE_BITS, t1, t2, log2e);
            int64_t num = gate >= 0 ? one << EXP_ONE_BITS : e << EXP_ONE_BITS;
            int64_t den = one + e;
            int64_t sig = (2 * num + den) / (2 * den); /* rdiv: both non-negative, so / is floor */
            int64_t silu = round_shift(gate * sig, EXP_ONE_BITS);
            o[i] = silu * up;
        }
    }
    return IL_OK;
}

static inline int64_t floor_div(int64_t a, int64_t b) { /* b > 0 */
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* RMSNorm (engine.RMSNorm.__call__) of h int64 [T][n]: per token shift to 24 bits, exact sum of
   squares plus the eps table entry, exact integer square root, rounded division. out int64 [T][n].
   IL_ERANGE when a sum leaves [0, 2^62) (the array path raises there too). */
int il_rmsnorm(const int64_t *h, int64_t T, int64_t n, const int64_t *G, int64_t K, const int64_t *eps_tbl,
               int64_t *out) {
    if (!h || !G || !eps_tbl || !out || T < 0 || n <= 0) return IL_EARG;
    for (int64_t t = 0; t < T; t++) {
        const int64_t *ht = h + t * n;
        int64_t *o = out + t * n;
        uint64_t amax = 0;
        for (int64_t i = 0; i < n; i++) {
            uint64_t a = ht[i] < 0 ? (uint64_t)0 - (uint64_t)ht[i] : (uint64_t)ht[i];
            if (a > amax) amax = a;
        }
        if (amax >= ((uint64_t)1 << 62)) return IL_ERANGE;
        int64_t sh = (amax ? 64 - __builtin_clzll(amax) : 0) - 24; /* in [-24, 38] */
        uint64_t ss = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t xs = sh >= 0 ? round_shift(ht[i], sh) : (int64_t)((uint64_t)ht[i] << -sh);
            o[i] = xs;
            ss += (uint64_t)(xs * xs);
            if (ss >= ((uint64_t)1 << 62)) return IL_ERANGE;
        }
        uint64_t v = ss + (uint64_t)eps_tbl[sh + 24];
        if (v >= ((uint64_t)1 << 62)) return IL_ERANGE;
        /* exact floor(sqrt(v)): a float seed, then integer corrections */
        uint64_t r = (uint64_t)__builtin_sqrt((double)v);
        while (r * r > v) r--;
        while ((r + 1) * (r + 1) <= v) r++;
        int64_t den = r > 1 ? (int64_t)r : 1;
        for (int64_t i = 0; i < n; i++) o[i] = floor_div(2 * (o[i] * G[i] * K) + den, 2 * den);
    }
    return IL_OK;
}

/* Below this many score multiply-adds (n * total * heads * hd) attention runs on one thread. */
#define ATT_PAR_MIN (1LL << 20)

/* Engine._attend for one sequence and layer. q int64 [n][kvh*g][hd] (|q| < 2^20), eq int64 [n][kvh*g];
   cache k, v int32 [kvh][cap][hd] (|k| <= 2^20, |v| < 2^24), ek int64 [kvh][cap]; the new
   tokens are at positions start..start+n-1 and the cache already holds them. Per query row: scores
   round(q.k * 2^(eq + ek + score_shift)) (ties to even), causal mask, softmax weights from the exp
   table (masked positions get exp_neg(EXP_D_MAX)), exact P.V and a rounded division by the sum.
   out int64 [n][kvh*g*hd]. All sums are exact integers (q.k < 2^46, P.V < 2^53 for <= 8192 positions),
   so the vectorised reductions (any order) and the split of heads over threads give the same bits. */
/* compiled for AVX-512, AVX2 and baseline x86-64, picked at load time: the same exact integers */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define IL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define IL_CLONES
#endif

/* One query head (all n new tokens) against its kv head; s [total] and acc [2 hd] are scratch. HD is
   the head size, a compile-time constant for the common sizes (the accumulators then stay in
   registers). */
__attribute__((always_inline)) static inline void attend_head_hd(
    const int64_t *q, const int64_t *eq, int64_t n, int64_t H, int64_t head, const int64_t HD, const int32_t *kh,
    const int64_t *ekh, const int32_t *vh, int64_t start, int64_t score_shift, const int64_t *t1, const int64_t *t2,
    int64_t log2e, int64_t pm, int64_t *out, int64_t *s, double *acc) {
    const int64_t total = start + n;
    double *qd = acc + HD;
    for (int64_t ti = 0; ti < n; ti++) {
        const int64_t qpos = start + ti;
        const int64_t *qr = q + (ti * H + head) * HD;
        const int64_t eqr = eq[ti * H + head];
        for (int64_t c = 0; c < HD; c++) qd[c] = (double)qr[c];
        int64_t m = INT64_MIN, p = 0;
        /* integer products and sums below 2^53: exact in double, in any order; four positions at a
           time keep four independent accumulator chains */
        for (; p + 4 <= qpos + 1; p += 4) {
            const int32_t *k0 = kh + p * HD;
            double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : d0, d1, d2, d3)
#endif
            for (int64_t c = 0; c < HD; c++) {
                d0 += qd[c] * k0[c];
                d1 += qd[c] * k0[HD + c];
                d2 += qd[c] * k0[2 * HD + c];
                d3 += qd[c] * k0[3 * HD + c];
            }
            s[p] = (int64_t)d0;
            s[p + 1] = (int64_t)d1;
            s[p + 2] = (int64_t)d2;
            s[p + 3] = (int64_t)d3;
        }
        for (; p <= qpos; p++) {
            const int32_t *kp = kh + p * HD;
            double d = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+ : d)
#endif
            for (int64_t c = 0; c < HD; c++) d += qd[c] * kp[c];
            s[p] = (int64_t)d;
        }
        /* the score rounding as a separate (vectorisable) pass */
        for (p = 0; p <= qpos; p++) s[p] = scale_round(s[p], eqr + ekh[p] + score_shift);
        for (p = 0; p <= qpos; p++) m = s[p] > m ? s[p] : m;
        /* masked positions weigh pm (0 with the engine's tables: then they are skipped outright) */
        const int64_t end = pm ? total : qpos + 1;
        for (p = 0; p < end; p++) s[p] = p <= qpos ? exp_neg1(m - s[p], 16, t1, t2, log2e) : pm;
        int64_t z = 0;
        for (int64_t c = 0; c < HD; c++) acc[c] = 0;
        for (p = 0; p < end; p++) {
            if (s[p] == 0) continue;
            z += s[p];
            const int32_t *vp = vh + p * HD;
            const double wd = (double)s[p];
            for (int64_t c = 0; c < HD; c++) acc[c] += wd * vp[c];
        }
        int64_t *o = out + ti * H * HD + head * HD;
        for (int64_t c = 0; c < HD; c++) o[c] = floor_div(2 * (int64_t)acc[c] + z, 2 * z);
    }
}

IL_CLONES static void attend_head(const int64_t *q, const int64_t *eq, int64_t n, int64_t H, int64_t head, int64_t hd,
                                  const int32_t *kh, const int64_t *ekh, const int32_t *vh, int64_t start,
                                  int64_t score_shift, const int64_t *t1, const int64_t *t2, int64_t log2e,
                                  int64_t pm, int64_t *out, int64_t *s, double *acc) {
    if (hd == 64)
        attend_head_hd(q, eq, n, H, head, 64, kh, ekh, vh, start, score_shift, t1, t2, log2e, pm, out, s, acc);
    else if (hd == 128)
        attend_head_hd(q, eq, n, H, head, 128, kh, ekh, vh, start, score_shift, t1, t2, log2e, pm, out, s, acc);
    else
        attend_head_hd(q, eq, n, H, head, hd, kh, ekh, vh, start, score_shift, t1, t2, log2e, pm, out, s, acc);
}

/* ---- attention, blocked (AVX-512): the integers of attend_head, faster ----

   The n*g query rows of kv head h are taken token-major (row i: token i / g, query head h*g + i % g),
   ATT_R at a time; a chunk of rows shares every key and value row it loads from the cache.
   - Scores: 8 positions at a time, ATT_R x 8 vector accumulators of partial q.k over the head
     dimension (integer products below 2^40, exact in double), then a transpose-add across lanes gives
     the 8 dot products; the rounding scale_round(., eq + ek + score_shift) and the running max run on
     8-lane int64 vectors (scale_round_v: the same integers as scale_round, every branch as a mask).
   - Weights: exp_neg_v is exp_neg1 on 8 lanes (the same products, shifts and table entries, the
     tables read by gathers); masked positions weigh pm.
   - P.V: for 64 dimensions at a time (head sizes a multiple of 8), ATT_R x 8 accumulators over the positions whose weight is not 0
     in some row of the chunk.
   Every sum is of integers whose absolute values add up to less than 2^53 (q.k < 2^46 for hd <= 64
   and below 2^53 for any hd the engine uses; P.V < 2^16 * 2^24 * 8192 = 2^53), so each partial sum
   is exact and no order (lanes, positions, the position segments of a step split over threads) can
   change a bit: the result is attend_head's for every thread count.

   A step with few row chunks (a decode step: g rows per kv head) splits its positions into segments
   handed to different threads: scores and partial maxima per segment, then (after the maxima are
   combined) weights, partial weight sums and partial P.V per segment, added up at the end. */

#define ATT_R 3          /* query rows per chunk */
#define ATT_SEG_MIN 64   /* positions per segment at least */
/* Below this many score multiply-adds (n * total * heads * hd) the blocked attention runs on one thread. */
#define ATT_PAR_MIN_BLOCKED (1LL << 18)

typedef struct {
    const int64_t *q, *eq;
    int64_t n, g, hd, H;
    const int32_t *k, *v;
    const int64_t *ek;
    int64_t cap, start, total, score_shift;
    const int64_t *t1, *t2;
    int64_t log2e, pm;
    int64_t *out;
    int64_t nchunk;       /* row chunks per kv head */
    int64_t nseg, seglen; /* position segments (nseg 1: a unit does a whole chunk) */
    int64_t ld;           /* row stride of the segmented score buffer (total rounded up to 8) */
    int64_t *S;           /* nseg > 1: scores [kvh][nchunk][ATT_R][ld] */
    int64_t *M, *Z;       /* [kvh * nchunk][nseg][ATT_R]: partial maxima, partial weight sums */
    double *P;            /* [kvh * nchunk][nseg][ATT_R][hd]: partial P.V */
    atomic_int err;
} att_job;

typedef struct {
    const int64_t *q;
    int64_t eq, qpos, end;
    int64_t *o;
    int valid;
} att_row;

/* The ATT_R rows of chunk c of kv head h (past the last row: copies of it, not written back). */
static int64_t att_rows(const att_job *j, int64_t h, int64_t c, att_row *r) {
    const int64_t nrows = j->n * j->g;
    int64_t pend = 0;
    for (int i = 0; i < ATT_R; i++) {
        int64_t idx = c * ATT_R + i;
        r[i].valid = idx < nrows;
        if (!r[i].valid) idx = nrows - 1;
        const int64_t ti = idx / j->g, head = h * j->g + idx % j->g;
        r[i].q = j->q + (ti * j->H + head) * j->hd;
        r[i].eq = j->eq[ti * j->H + head];
        r[i].qpos = j->start + ti;
        r[i].end = j->pm ? j->total : r[i].qpos + 1; /* positions that weigh anything */
        r[i].o = j->out + ti * j->H * j->hd + head * j->hd;
        if (r[i].end > pend) pend = r[i].end;
    }
    return pend;
}

#if IL_X86
/* exp_neg1(d, out_bits) on 8 lanes, out_bits = EXP_ONE_BITS - osh (osh in [0, 16]). */
AVX512_TARGET static inline __m512i exp_neg_v(__m512i d, const int64_t *t1, const int64_t *t2, __m512i l2e,
                                              const int osh) {
    d = _mm512_min_epi64(d, _mm512_set1_epi64(EXP_D_MAX));
    const __m512i u = _mm512_mullo_epi64(d, l2e);
    const __m512i nn = _mm512_srai_epi64(u, U_BITS);
    const __m512i f = _mm512_and_si512(u, _mm512_set1_epi64(((int64_t)1 << U_BITS) - 1));
    const __m512i a = _mm512_srli_epi64(f, U_BITS - 10);
    const __m512i b = _mm512_and_si512(_mm512_srli_epi64(f, U_BITS - 20), _mm512_set1_epi64(1023));
    const __m512i ta = _mm512_i64gather_epi64(a, (const void *)t1, 8);
    const __m512i tb = _mm512_i64gather_epi64(b, (const void *)t2, 8);
    const __m512i val = _mm512_srai_epi64(
        _mm512_add_epi64(_mm512_mullo_epi64(ta, tb), _mm512_set1_epi64((int64_t)1 << (EXP_ONE_BITS - 1))),
        EXP_ONE_BITS);
    const __m512i sh = _mm512_add_epi64(nn, _mm512_set1_epi64(osh));
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i rs = _mm512_srav_epi64(_mm512_add_epi64(val, _mm512_sllv_epi64(one, _mm512_sub_epi64(sh, one))), sh);
    return _mm512_mask_blend_epi64(_mm512_cmpgt_epi64_mask(sh, _mm512_setzero_si512()), val, rs);
}

/* il_silu_mul for one token on 8 lanes: the same clips, exp table entries and roundings; the rounded
   division sig = floor((2 num + den) / (2 den)) (numerator < 2^62, divisor in (2^31, 2^32], quotient
   <= 2^30) is a double quotient, within 1 of the true one (both operands and the quotient carry
   relative errors of 2^-53), made exact by one integer correction either way. */
AVX512_TARGET static void silu_row_avx512(const int64_t *g, const int64_t *u, int64_t H, const int64_t *t1,
                                          const int64_t *t2, int64_t log2e, int64_t *o) {
    const __m512i lim = _mm512_set1_epi64(GATE_LIMIT), nlim = _mm512_set1_epi64(-GATE_LIMIT);
    const __m512i one = _mm512_set1_epi64((int64_t)1 << EXP_ONE_BITS), zero = _mm512_setzero_si512();
    const __m512i l2e = _mm512_set1_epi64(log2e), c1 = _mm512_set1_epi64(1);
    const __m512i half = _mm512_set1_epi64((int64_t)1 << (EXP_ONE_BITS - 1));
    for (int64_t i = 0; i < H; i += 8) {
        const __mmask8 k = (__mmask8)(H - i >= 8 ? 0xFF : (1u << (H - i)) - 1);
        const __m512i gate = _mm512_min_epi64(_mm512_max_epi64(_mm512_maskz_loadu_epi64(k, g + i), nlim), lim);
        const __m512i up = _mm512_min_epi64(_mm512_max_epi64(_mm512_maskz_loadu_epi64(k, u + i), nlim), lim);
        const __m512i e = exp_neg_v(_mm512_abs_epi64(gate), t1, t2, l2e, 0);
        const __mmask8 pos = _mm512_cmpge_epi64_mask(gate, zero);
        const __m512i num = _mm512_mask_blend_epi64(pos, _mm512_slli_epi64(e, EXP_ONE_BITS),
                                                    _mm512_set1_epi64((int64_t)1 << (2 * EXP_ONE_BITS)));
        const __m512i den2 = _mm512_slli_epi64(_mm512_add_epi64(one, e), 1);
        const __m512i a = _mm512_add_epi64(_mm512_slli_epi64(num, 1), _mm512_srli_epi64(den2, 1));
        __m512i q = _mm512_cvttpd_epi64(_mm512_div_pd(_mm512_cvtepi64_pd(a), _mm512_cvtepi64_pd(den2)));
        const __m512i r = _mm512_sub_epi64(a, _mm512_mullo_epi64(q, den2));
        q = _mm512_mask_sub_epi64(q, _mm512_cmplt_epi64_mask(r, zero), q, c1);
        q = _mm512_mask_add_epi64(q, _mm512_cmpge_epi64_mask(r, den2), q, c1);
        const __m512i silu = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mullo_epi64(gate, q), half), EXP_ONE_BITS);
        _mm512_mask_storeu_epi64(o + i, k, _mm512_mullo_epi64(silu, up));
    }
}

/* lane i = the sum of the lanes of a[i] (each partial sum an integer below 2^53: exact). */
AVX512_TARGET static inline __m512d hsum8(const __m512d *a) {
    __m512d b[4];
    for (int i = 0; i < 4; i++)
        b[i] = _mm512_add_pd(_mm512_unpacklo_pd(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_pd(a[2 * i], a[2 * i + 1]));
    const __m512d c0 = _mm512_add_pd(_mm512_shuffle_f64x2(b[0], b[1], 0x88), _mm512_shuffle_f64x2(b[0], b[1], 0xDD));
    const __m512d c1 = _mm512_add_pd(_mm512_shuffle_f64x2(b[2], b[3], 0x88), _mm512_shuffle_f64x2(b[2], b[3], 0xDD));
    return _mm512_add_pd(_mm512_shuffle_f64x2(c0, c1, 0x88), _mm512_shuffle_f64x2(c0, c1, 0xDD));
}

/* Scores of the chunk's rows at positions [p0, p1) (p0 a multiple of 8) into S[i * ld + p] (whole
   blocks of 8 written), and the max over each row's unmasked positions into mx[i]. */
AVX512_TARGET static void att_scores(const att_job *j, int64_t h, const double *qd, const att_row *r, int64_t p0,
                                     int64_t p1, int64_t *S, int64_t ld, int64_t *mx) {
    const int64_t hd = j->hd;
    const int32_t *kh = j->k + h * j->cap * hd;
    const int64_t *ekh = j->ek + h * j->cap;
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    __m512i m[ATT_R];
    for (int i = 0; i < ATT_R; i++) m[i] = _mm512_set1_epi64(mx[i]);
    for (int64_t p = p0; p < p1; p += 8) {
        __m512d acc[ATT_R][8];
        const int32_t *kp[8];
        for (int i = 0; i < 8; i++) kp[i] = kh + (p + i < p1 ? p + i : p1 - 1) * hd;
        for (int i = 0; i < ATT_R; i++)
            for (int u = 0; u < 8; u++) acc[i][u] = _mm512_setzero_pd();
        for (int64_t c = 0; c < hd; c += 8)
            for (int u = 0; u < 8; u++) {
                const __m512d kv = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(kp[u] + c)));
                for (int i = 0; i < ATT_R; i++) acc[i][u] = _mm512_fmadd_pd(_mm512_loadu_pd(qd + i * hd + c), kv, acc[i][u]);
            }
        const int nv = p1 - p < 8 ? (int)(p1 - p) : 8;
        const __mmask8 in = (__mmask8)((1u << nv) - 1);
        const __m512i ekv = _mm512_maskz_loadu_epi64(in, ekh + p);
        const __m512i pv = _mm512_add_epi64(_mm512_set1_epi64(p), lane);
        for (int i = 0; i < ATT_R; i++) {
            const __m512i dot = _mm512_cvttpd_epi64(hsum8(acc[i]));
            const __m512i e = _mm512_add_epi64(ekv, _mm512_set1_epi64(r[i].eq + j->score_shift));
            const __m512i s = scale_round_v(dot, e);
            _mm512_storeu_si512((void *)(S + i * ld + p), s);
            const __mmask8 ok = in & _mm512_cmple_epi64_mask(pv, _mm512_set1_epi64(r[i].qpos));
            m[i] = _mm512_mask_max_epi64(m[i], ok, m[i], s);
        }
    }
    for (int i = 0; i < ATT_R; i++) mx[i] = _mm512_reduce_max_epi64(m[i]);
}

/* Weights of positions [p0, p1) (p0 a multiple of 8; scores S[i * ld + p]) into W[i * ldw + p] as doubles, their sums added
   to z[i], nz[p] = 1 where some row weighs position p. */
AVX512_TARGET static void att_weights(const att_job *j, const att_row *r, const int64_t *mx, const int64_t *S,
                                      int64_t ld, int64_t p0, int64_t p1, double *W, int64_t ldw, uint8_t *nz,
                                      int64_t *z) {
    const __m512i l2e = _mm512_set1_epi64(j->log2e), pmv = _mm512_set1_epi64(j->pm);
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (int64_t p = p0; p < p1; p += 8) {
        const __m512i pv = _mm512_add_epi64(_mm512_set1_epi64(p), lane);
        const int nv = p1 - p < 8 ? (int)(p1 - p) : 8;
        const __mmask8 in = (__mmask8)((1u << nv) - 1);
        __mmask8 any = 0;
        for (int i = 0; i < ATT_R; i++) {
            const __mmask8 ok = in & _mm512_cmple_epi64_mask(pv, _mm512_set1_epi64(r[i].qpos));
            const __mmask8 masked = in & ~ok & _mm512_cmplt_epi64_mask(pv, _mm512_set1_epi64(r[i].end));
            __m512i w = _mm512_setzero_si512();
            if (ok) {
                const __m512i s = _mm512_loadu_si512((const void *)(S + i * ld + p));
                w = _mm512_maskz_mov_epi64(ok, exp_neg_v(_mm512_sub_epi64(_mm512_set1_epi64(mx[i]), s), j->t1, j->t2, l2e,
                                                          EXP_ONE_BITS - 16));
            }
            w = _mm512_mask_mov_epi64(w, masked, pmv);
            z[i] += _mm512_reduce_add_epi64(w);
            any |= _mm512_test_epi64_mask(w, w);
            _mm512_storeu_pd(W + i * ldw + p, _mm512_cvtepi64_pd(w));
        }
        for (int u = 0; u < 8; u++) nz[p + u] = (uint8_t)((any >> u) & 1);
    }
}

/* acc[i * hd + c] += sum over positions p in [p0, p1) with nz[p] of W[i * ld + p] * v[p][c]. */
AVX512_TARGET static void att_pv(const att_job *j, int64_t h, const double *W, int64_t ld, const uint8_t *nz,
                                 int64_t p0, int64_t p1, double *acc) {
    const int64_t hd = j->hd;
    const int32_t *vh = j->v + h * j->cap * hd;
    for (int64_t c0 = 0; c0 < hd; c0 += 64) {
        const int nu = hd - c0 >= 64 ? 8 : (int)((hd - c0) / 8); /* 8-dimension slices in this window */
        __m512d a[ATT_R][8];
        for (int i = 0; i < ATT_R; i++)
            for (int u = 0; u < 8; u++) a[i][u] = _mm512_setzero_pd();
        for (int64_t p = p0; p < p1; p++) {
            if (!nz[p]) continue;
            const int32_t *vp = vh + p * hd + c0;
            __m512d w[ATT_R];
            for (int i = 0; i < ATT_R; i++) w[i] = _mm512_set1_pd(W[i * ld + p]);
            for (int u = 0; u < 8; u++)
                if (u < nu) {
                    const __m512d vv = _mm512_cvtepi32_pd(_mm256_loadu_si256((const __m256i *)(vp + 8 * u)));
                    for (int i = 0; i < ATT_R; i++) a[i][u] = _mm512_fmadd_pd(w[i], vv, a[i][u]);
                }
        }
        for (int i = 0; i < ATT_R; i++)
            for (int u = 0; u < nu; u++) {
                double *d = acc + i * hd + c0 + 8 * u;
                _mm512_storeu_pd(d, _mm512_add_pd(_mm512_loadu_pd(d), a[i][u]));
            }
    }
}

static void att_qd(const att_job *j, const att_row *r, double *qd) {
    for (int i = 0; i < ATT_R; i++)
        for (int64_t c = 0; c < j->hd; c++) qd[i * j->hd + c] = (double)r[i].q[c];
}

static void att_finish(const att_job *j, const att_row *r, const double *acc, const int64_t *z) {
    for (int i = 0; i < ATT_R; i++)
        if (r[i].valid)
            for (int64_t c = 0; c < j->hd; c++) r[i].o[c] = floor_div(2 * (int64_t)acc[i * j->hd + c] + z[i], 2 * z[i]);
}

/* Unit u (nseg 1): the whole attention of chunk u % nchunk of kv head u / nchunk. */
AVX512_TARGET static void att_unit_full(void *ctx, int64_t u) {
    att_job *j = (att_job *)ctx;
    const int64_t h = u / j->nchunk, c = u % j->nchunk, hd = j->hd;
    att_row r[ATT_R];
    const int64_t pend = att_rows(j, h, c, r), ld = (pend + 7) & ~(int64_t)7;
    double *qd = (double *)malloc((size_t)(ATT_R * (2 * hd + 2 * ld) + ld) * sizeof(double));
    if (!qd) {
        atomic_store(&j->err, IL_ENOMEM);
        return;
    }
    double *acc = qd + ATT_R * hd, *W = acc + ATT_R * hd;
    int64_t *S = (int64_t *)(W + ATT_R * ld);
    uint8_t *nz = (uint8_t *)(S + ATT_R * ld);
    int64_t mx[ATT_R], z[ATT_R];
    att_qd(j, r, qd);
    for (int i = 0; i < ATT_R; i++) mx[i] = INT64_MIN, z[i] = 0;
    memset(acc, 0, (size_t)(ATT_R * hd) * sizeof(double));
    att_scores(j, h, qd, r, 0, pend, S, ld, mx);
    att_weights(j, r, mx, S, ld, 0, pend, W, ld, nz, z);
    att_pv(j, h, W, ld, nz, 0, pend, acc);
    att_finish(j, r, acc, z);
    free(qd);
}

/* Segmented, first pass: unit u = (kv head, chunk) * nseg + segment: scores and partial maxima. */
AVX512_TARGET static void att_unit_scores(void *ctx, int64_t u) {
    att_job *j = (att_job *)ctx;
    const int64_t hc = u / j->nseg, sg = u % j->nseg, h = hc / j->nchunk, c = hc % j->nchunk;
    att_row r[ATT_R];
    const int64_t pend = att_rows(j, h, c, r), p0 = sg * j->seglen;
    const int64_t p1 = p0 + j->seglen < pend ? p0 + j->seglen : pend;
    int64_t *mx = j->M + u * ATT_R;
    for (int i = 0; i < ATT_R; i++) mx[i] = INT64_MIN;
    if (p0 >= p1) return;
    double *qd = (double *)malloc((size_t)(ATT_R * j->hd) * sizeof(double));
    if (!qd) {
        atomic_store(&j->err, IL_ENOMEM);
        return;
    }
    att_qd(j, r, qd);
    att_scores(j, h, qd, r, p0, p1, j->S + hc * ATT_R * j->ld, j->ld, mx);
    free(qd);
}

/* Segmented, second pass: weights (against the maxima of all segments), partial sums and P.V. */
AVX512_TARGET static void att_unit_pv(void *ctx, int64_t u) {
    att_job *j = (att_job *)ctx;
    const int64_t hc = u / j->nseg, sg = u % j->nseg, h = hc / j->nchunk, c = hc % j->nchunk, hd = j->hd;
    att_row r[ATT_R];
    const int64_t pend = att_rows(j, h, c, r), p0 = sg * j->seglen;
    const int64_t p1 = p0 + j->seglen < pend ? p0 + j->seglen : pend;
    int64_t *z = j->Z + u * ATT_R;
    double *acc = j->P + u * ATT_R * hd;
    for (int i = 0; i < ATT_R; i++) z[i] = 0;
    memset(acc, 0, (size_t)(ATT_R * hd) * sizeof(double));
    if (p0 >= p1) return;
    int64_t mx[ATT_R];
    for (int i = 0; i < ATT_R; i++) {
        mx[i] = INT64_MIN;
        for (int64_t s = 0; s < j->nseg; s++) {
            const int64_t m = j->M[(hc * j->nseg + s) * ATT_R + i];
            mx[i] = m > mx[i] ? m : mx[i];
        }
    }
    /* W and nz indexed by p - p0 (p0 is a multiple of 8) */
    const int64_t len = (p1 - p0 + 7) & ~(int64_t)7;
    double *W = (double *)malloc((size_t)(ATT_R * len + len) * sizeof(double));
    if (!W) {
        atomic_store(&j->err, IL_ENOMEM);
        return;
    }
    uint8_t *nz = (uint8_t *)(W + ATT_R * len);
    const int64_t *S = j->S + hc * ATT_R * j->ld + p0;
    att_row rs[ATT_R];
    for (int i = 0; i < ATT_R; i++) { /* positions relative to p0 */
        rs[i] = r[i];
        rs[i].qpos -= p0;
        rs[i].end -= p0;
    }
    att_weights(j, rs, mx, S, j->ld, 0, p1 - p0, W, len, nz, z);
    att_job jj = *j; /* the value rows from p0 on */
    jj.v = j->v + p0 * hd;
    att_pv(&jj, h, W, len, nz, 0, p1 - p0, acc);
    free(W);
}

static int att_blocked_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

static int attend_blocked(att_job *j, int64_t kvh, int nth) {
    const int64_t units = kvh * j->nchunk;
    j->nseg = 1;
    if (nth > 1 && units < 2 * nth) {
        int64_t seglen = (j->total + 2 * nth - 1) / (2 * nth);
        seglen = seglen < ATT_SEG_MIN ? ATT_SEG_MIN : (seglen + 7) & ~(int64_t)7;
        j->seglen = seglen;
        j->nseg = (j->total + seglen - 1) / seglen;
    }
    atomic_store(&j->err, IL_OK);
    if (j->nseg == 1) {
        pool_run(att_unit_full, j, units, nth > units ? (int)units : nth);
        return atomic_load(&j->err);
    }
    const int64_t su = units * j->nseg;
    j->ld = (j->total + 7) & ~(int64_t)7;
    j->S = (int64_t *)malloc((size_t)(units * ATT_R * j->ld + 2 * su * ATT_R) * sizeof(int64_t));
    j->P = (double *)malloc((size_t)(su * ATT_R * j->hd) * sizeof(double));
    int rc = IL_OK;
    if (!j->S || !j->P) {
        rc = IL_ENOMEM;
        goto done;
    }
    j->M = j->S + units * ATT_R * j->ld;
    j->Z = j->M + su * ATT_R;
    const int nt = nth > su ? (int)su : nth;
    pool_run(att_unit_scores, j, su, nt);
    if ((rc = atomic_load(&j->err))) goto done;
    pool_run(att_unit_pv, j, su, nt);
    if ((rc = atomic_load(&j->err))) goto done;
    for (int64_t hc = 0; hc < units; hc++) {
        att_row r[ATT_R];
        att_rows(j, hc / j->nchunk, hc % j->nchunk, r);
        double *a = j->P + hc * j->nseg * ATT_R * j->hd; /* the sums go into segment 0 */
        int64_t z[ATT_R];
        for (int i = 0; i < ATT_R; i++) {
            z[i] = 0;
            for (int64_t sg = 1; sg < j->nseg; sg++)
                for (int64_t c = 0; c < j->hd; c++) a[i * j->hd + c] += a[(sg * ATT_R + i) * j->hd + c];
            for (int64_t sg = 0; sg < j->nseg; sg++) z[i] += j->Z[(hc * j->nseg + sg) * ATT_R + i];
        }
        att_finish(j, r, a, z);
    }
done:
    free(j->S);
    free(j->P);
    return rc;
}
#else
static int att_blocked_available(void) { return 0; }
static int attend_blocked(att_job *j, int64_t kvh, int nth) {
    (void)j, (void)kvh, (void)nth;
    return IL_EARG;
}
#endif

#define ATT_AUTO 0
#define ATT_REFERENCE 1 /* attend_head: one query row at a time */
#define ATT_BLOCKED 2   /* the blocked AVX-512 kernel above */

/* 1 when attention implementation impl can run on this CPU (the blocked one takes head sizes that are a
   multiple of 8 and leaves others to the reference). */
int il_att_available(int impl) { return impl == ATT_REFERENCE || (impl == ATT_BLOCKED && att_blocked_available()); }

/* What ATT_AUTO runs in this process (il_set_default_att; for measurements). */
static int il_default_att = ATT_AUTO;

int il_set_default_att(int impl) {
    if (impl != ATT_AUTO && !il_att_available(impl)) return IL_EARG;
    il_default_att = impl;
    return IL_OK;
}

int il_get_default_att(void) { return il_default_att; }

/* impl: ATT_AUTO (il_default_att if set, else the blocked kernel where it runs and the linear kernel's
   default is not pinned to portable or AVX2, else the reference), ATT_REFERENCE or ATT_BLOCKED; the
   same integers. */
static int attend_core(const int64_t *q, const int64_t *eq, int64_t n, int64_t kvh, int64_t g, int64_t hd,
                       const int32_t *k, const int64_t *ek, const int32_t *v, int64_t cap, int64_t start,
                       int64_t score_shift, const int64_t *t1, const int64_t *t2, int64_t log2e, int64_t *out,
                       int nthreads, int impl) {
    if (!q || !eq || !k || !ek || !v || !out || !t1 || !t2 || n <= 0 || kvh <= 0 || g <= 0 || hd <= 0 ||
        start < 0 || start + n > cap || start + n > 8192 || nthreads < 0 || impl < ATT_AUTO || impl > ATT_BLOCKED)
        return IL_EARG;
    const int64_t total = start + n, H = kvh * g;
    const int64_t pm = exp_neg1(EXP_D_MAX, 16, t1, t2, log2e); /* weight of a masked position */
    int rc = IL_OK, nth = 1;
    (void)nth;
#ifdef _OPENMP
    nth = nthreads > 0 ? nthreads : omp_get_max_threads();
#endif
    if (impl == ATT_AUTO) impl = il_default_att;
    if (impl == ATT_AUTO)
        impl = (il_default_impl == IMPL_PORTABLE || il_default_impl == IMPL_AVX2 || !att_blocked_available())
                   ? ATT_REFERENCE
                   : ATT_BLOCKED;
    if (impl == ATT_BLOCKED && hd % 8 == 0) {
        if (!att_blocked_available()) return IL_EARG;
        att_job j = {q, eq, n, g, hd, H, k, v, ek, cap, start, total, score_shift, t1, t2, log2e, pm, out};
        j.nchunk = (n * g + ATT_R - 1) / ATT_R;
        if (n * total * H * hd < ATT_PAR_MIN_BLOCKED) nth = 1;
        return attend_blocked(&j, kvh, nth);
    }
#ifdef _OPENMP
    if (n * total * H * hd < ATT_PAR_MIN) nth = 1;
    if (nth > H) nth = (int)H;
#pragma omp parallel num_threads(nth)
#endif
    {
        int64_t *s = (int64_t *)malloc((size_t)total * sizeof(int64_t));
        double *acc = (double *)malloc((size_t)hd * 2 * sizeof(double));
        if (!s || !acc) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            rc = IL_ENOMEM;
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic)
#endif
        for (int64_t head = 0; head < H; head++) {
            if (!s || !acc) continue;
            const int64_t h = head / g;
            attend_head(q, eq, n, H, head, hd, k + h * cap * hd, ek + h * cap, v + h * cap * hd, start, score_shift,
                        t1, t2, log2e, pm, out, s, acc);
        }
        free(s);
        free(acc);
    }
    return rc;
}

int il_attend(const int64_t *q, const int64_t *eq, int64_t n, int64_t kvh, int64_t g, int64_t hd, const int32_t *k,
              const int64_t *ek, const int32_t *v, int64_t cap, int64_t start, int64_t score_shift, const int64_t *t1,
              const int64_t *t2, int64_t log2e, int64_t *out) {
    return attend_core(q, eq, n, kvh, g, hd, k, ek, v, cap, start, score_shift, t1, t2, log2e, out, 1, ATT_AUTO);
}

/* il_attend on nthreads threads (0: the OpenMP default) with implementation impl (ATT_*). */
int il_attend_ex(const int64_t *q, const int64_t *eq, int64_t n, int64_t kvh, int64_t g, int64_t hd, const int32_t *k,
                 const int64_t *ek, const int32_t *v, int64_t cap, int64_t start, int64_t score_shift,
                 const int64_t *t1, const int64_t *t2, int64_t log2e, int64_t *out, int nthreads, int impl) {
    return attend_core(q, eq, n, kvh, g, hd, k, ek, v, cap, start, score_shift, t1, t2, log2e, out, nthreads, impl);
}

#define ROPE_LIMIT (((int64_t)1 << 31) - 1)
#define QK_BITS 20
#define V_LIMIT (((int64_t)1 << 24) - 1)
#define V_SHIFT 2 /* F_ACT - F_V */

static inline int64_t clip(int64_t x, int64_t lim) { return x < -lim ? -lim : x > lim ? lim : x; }

/* rope (adjacent pairs, 2^-30 tables) then the per-(token, head) shift below 2^QK_BITS
   (Engine._rope, Engine._qk_scale); returns the shift e, writes hd scaled values. */
static int64_t rope_scale(const int64_t *x, const int64_t *cs, const int64_t *sn, int64_t hd, int64_t *tmp) {
    uint64_t amax = 0;
    for (int64_t i = 0; i < hd / 2; i++) {
        int64_t x0 = clip(x[2 * i], ROPE_LIMIT), x1 = clip(x[2 * i + 1], ROPE_LIMIT);
        tmp[2 * i] = round_shift(x0 * cs[i] - x1 * sn[i], EXP_ONE_BITS);
        tmp[2 * i + 1] = round_shift(x0 * sn[i] + x1 * cs[i], EXP_ONE_BITS);
    }
    for (int64_t c = 0; c < hd; c++) {
        uint64_t a = tmp[c] < 0 ? (uint64_t)0 - (uint64_t)tmp[c] : (uint64_t)tmp[c];
        if (a > amax) amax = a;
    }
    int64_t bl = amax ? 64 - __builtin_clzll(amax) : 0, e = bl > QK_BITS ? bl - QK_BITS : 0;
    for (int64_t c = 0; c < hd; c++) tmp[c] = round_shift(tmp[c], e);
    return e;
}

/* The attention half of a layer for one sequence (Engine._forward between the qkv product and the
   output projection): qkv int64 [n][(heads + 2 kvh) * hd] in 2^-16 units (q | k | v); rope with the
   tables cos, sin int64 [npos][hd/2] at positions start..start+n-1, the q/k shifts, the value
   rounding to 2^-14 and clip, the cache writes (k, ek, v as Engine._forward stores them) and the
   attention (attend_core). out int64 [n][heads * hd] in 2^-14 units. */
int il_attn_step(const int64_t *qkv, int64_t n, int64_t heads, int64_t kvh, int64_t hd, const int64_t *cosT,
                 const int64_t *sinT, int64_t npos, int64_t start, int32_t *k, int64_t *ek, int32_t *v, int64_t cap,
                 int64_t score_shift, const int64_t *t1, const int64_t *t2, int64_t log2e, int64_t *out,
                 int nthreads) {
    if (!qkv || !cosT || !sinT || !k || !ek || !v || !out || n <= 0 || kvh <= 0 || heads <= 0 || heads % kvh ||
        hd <= 0 || hd % 2 || start < 0 || start + n > cap || start + n > npos || start + n > 8192)
        return IL_EARG;
    const int64_t width = (heads + 2 * kvh) * hd;
    int64_t *qs = (int64_t *)scratch_get(SC_QS, (size_t)(n * heads * hd + n * heads + hd) * sizeof(int64_t));
    if (!qs) return IL_ENOMEM;
    int64_t *eq = qs + n * heads * hd, *tmp = eq + n * heads;
    for (int64_t ti = 0; ti < n; ti++) {
        const int64_t pos = start + ti, *row = qkv + ti * width;
        const int64_t *cs = cosT + pos * (hd / 2), *sn = sinT + pos * (hd / 2);
        for (int64_t hh = 0; hh < heads; hh++)
            eq[ti * heads + hh] = rope_scale(row + hh * hd, cs, sn, hd, qs + (ti * heads + hh) * hd);
        for (int64_t h = 0; h < kvh; h++) {
            ek[h * cap + pos] = rope_scale(row + (heads + h) * hd, cs, sn, hd, tmp);
            int32_t *kp = k + (h * cap + pos) * hd, *vp = v + (h * cap + pos) * hd;
            const int64_t *vr = row + (heads + kvh + h) * hd;
            for (int64_t c = 0; c < hd; c++) {
                kp[c] = (int32_t)tmp[c]; /* |k| <= 2^20 after the shift */
                vp[c] = (int32_t)clip(round_shift(vr[c], V_SHIFT), V_LIMIT);
            }
        }
    }
    int rc = attend_core(qs, eq, n, kvh, heads / kvh, hd, k, ek, v, cap, start, score_shift, t1, t2, log2e, out,
                         nthreads, ATT_AUTO);
    scratch_put(SC_QS, qs);
    return rc;
}

/* ---- one whole transformer layer (Engine._forward's loop body) for one sequence ---- */

/* All fields 8 bytes wide (no padding), mirrored by intkernel._LinearDesc / _LayerDesc. */
typedef struct {
    const uint8_t *w;
    const int32_t *D, *E;
    const int64_t *C, *s_row;
    int64_t groups, nb, rows, nibble, act_bits;
} il_lin;

typedef struct {
    const int64_t *G, *eps_tbl;
    int64_t K, f_out;
} il_norm;

typedef struct {
    il_norm attn_norm;
    il_lin wqkv, wo;
    il_norm ffn_norm;
    il_lin gate_up, down;
    int64_t d_model, heads, kv_heads, head_dim, d_ff;
    const int64_t *cos, *sin;
    int64_t npos, score_shift;
    const int64_t *t1, *t2;
    int64_t log2e;
} il_layer_desc;

#define RESID_LIMIT (((int64_t)1 << 40) - 1)
#define F_ACT 16
#define F_V 14

static int lin_apply(const il_lin *L, const int64_t *x, int64_t T, int64_t out_shift, int64_t *out, int nthreads) {
    return il_block_linear(L->w, L->D, L->E, L->C, L->groups, L->nb, (int)L->nibble, L->rows, x, T, (int)L->act_bits,
                           out_shift, L->s_row, out, nthreads, IMPL_AUTO);
}

/* h int64 [T][d_model] (2^-16 units) is replaced by the layer's output; the new tokens take positions
   start..start+T-1 of the layer's cache (k, ek, v as in il_attn_step). Every step is the C kernel the
   engine otherwise calls one by one, so the integers are the same. */
int il_layer(const il_layer_desc *L, int64_t *h, int64_t T, int64_t start, int32_t *k, int64_t *ek, int32_t *v,
             int64_t cap, int nthreads) {
    if (!L || !h || T <= 0) return IL_EARG;
    const int64_t d = L->d_model, hd = L->head_dim;
    const int64_t wq = (L->heads + 2 * L->kv_heads) * hd, wa = L->heads * hd;
    if (L->wqkv.rows != wq || L->wo.rows != d || L->gate_up.rows != 2 * L->d_ff || L->down.rows != d ||
        L->wqkv.nb * 32 != d || L->wo.nb * 32 != wa || L->gate_up.nb * 32 != d || L->down.nb * 32 != L->d_ff)
        return IL_EARG;
    int64_t big = wq > 2 * L->d_ff ? wq : 2 * L->d_ff;
    int64_t *xn = (int64_t *)scratch_get(SC_LXN, (size_t)(T * d) * sizeof(int64_t));
    int64_t *y = (int64_t *)scratch_get(SC_LY, (size_t)(T * big) * sizeof(int64_t));
    int64_t *z = (int64_t *)scratch_get(SC_LZ, (size_t)(T * (wa > L->d_ff ? wa : L->d_ff)) * sizeof(int64_t));
    int rc = IL_OK;
    if (!xn || !y || !z) {
        rc = IL_ENOMEM;
        goto done;
    }
    if ((rc = il_rmsnorm(h, T, d, L->attn_norm.G, L->attn_norm.K, L->attn_norm.eps_tbl, xn))) goto done;
    if ((rc = lin_apply(&L->wqkv, xn, T, F_ACT - L->attn_norm.f_out, y, nthreads))) goto done;
    if ((rc = il_attn_step(y, T, L->heads, L->kv_heads, hd, L->cos, L->sin, L->npos, start, k, ek, v, cap,
                           L->score_shift, L->t1, L->t2, L->log2e, z, nthreads)))
        goto done;
    if ((rc = lin_apply(&L->wo, z, T, F_ACT - F_V, xn, nthreads))) goto done;
    for (int64_t i = 0; i < T * d; i++) h[i] = clip(h[i] + xn[i], RESID_LIMIT);
    if ((rc = il_rmsnorm(h, T, d, L->ffn_norm.G, L->ffn_norm.K, L->ffn_norm.eps_tbl, xn))) goto done;
    if ((rc = lin_apply(&L->gate_up, xn, T, F_ACT - L->ffn_norm.f_out, y, nthreads))) goto done;
    if ((rc = il_silu_mul(y, T, L->d_ff, L->t1, L->t2, L->log2e, z))) goto done;
    if ((rc = lin_apply(&L->down, z, T, F_ACT - 2 * F_ACT, xn, nthreads))) goto done;
    for (int64_t i = 0; i < T * d; i++) h[i] = clip(h[i] + xn[i], RESID_LIMIT);
done:
    scratch_put(SC_LXN, xn);
    scratch_put(SC_LY, y);
    scratch_put(SC_LZ, z);
    return rc;
}
