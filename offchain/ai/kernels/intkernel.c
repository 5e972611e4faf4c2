/* Exact integer kernels of the eigen-ai-int/1 engine (offchain/ai/engine.py): the linear layer
   (BlockLinear) first, then the element-wise steps (exp table, SiLU gate, RMSNorm, attention).

   Linear layer:

   y[t][r] = sum_b D[r][b] * (sum_{i<32} q[r][32b+i] * x[t][32b+i]) + Mc[r][b] * (sum_{i<32} x[t][32b+i])

   q are the block weights (Q4_1: q-8 in [-8, 7]; Q8_0: [-128, 127]), D and Mc the per-(row, block)
   integer scales (|.| < 2^24), x the quantized activations (|x| <= 2^15). The engine proves every
   block sum is an integer of magnitude <= 2^23 (int32 here) and every partial sum of y an integer
   below 2^53, so y is accumulated in double without rounding: the result is the same exact integer
   as the array (numpy/cupy) path, whatever the order, vector width or thread count.

   Weight layout ("packed"): rows in groups of 8 (zero rows pad the last group); for group g, block b
   and column pair p (0..15), 16 int8 values w[((g*nb + b)*16 + p)*16 + 2j + h] = q[8g + j][32b + 2p + h].
   D and Mc are int32 [(g*nb + b)*8 + j]. Activations enter as int32 [T][cols]; they are narrowed to
   int16 pairs for the multiply-add, with +2^15 (the one value int16 lacks) clamped to 2^15 - 1 and
   the missing q*1 added back exactly afterwards.

   Two implementations of the same arithmetic: AVX2+FMA (chosen at run time when the CPU has it) and
   portable C. FMA of integers below 2^53 is exact, so both return identical bits. */

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
#define PAR_MIN_MACS (1LL << 23)

typedef struct {
    const int8_t *w;
    const int32_t *D;
    const int32_t *Mc; /* may be NULL (Q8_0) */
    int64_t groups, nb, T;
    const int32_t *x16p; /* [T][nb*16] int16 pairs (clamped) as int32 words */
    const int32_t *xs;   /* [T][nb] block sums of the true activations */
    double *y;           /* [T][groups*8] */
} il_args;

static void group_generic(const il_args *a, int64_t g) {
    const int64_t nb = a->nb, ldy = a->groups * 8;
    for (int64_t t = 0; t < a->T; t++) {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const int16_t *xt = (const int16_t *)(a->x16p + t * nb * 16);
        for (int64_t b = 0; b < nb; b++) {
            const int8_t *wb = a->w + (g * nb + b) * 256;
            const int16_t *xb = xt + b * 32;
            int32_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int p = 0; p < 16; p++) {
                const int8_t *wp = wb + p * 16;
                int32_t x0 = xb[2 * p], x1 = xb[2 * p + 1];
                for (int j = 0; j < 8; j++) s[j] += (int32_t)wp[2 * j] * x0 + (int32_t)wp[2 * j + 1] * x1;
            }
            const int32_t *Db = a->D + (g * nb + b) * 8;
            for (int j = 0; j < 8; j++) acc[j] += (double)Db[j] * (double)s[j];
            if (a->Mc) {
                const int32_t *Mb = a->Mc + (g * nb + b) * 8;
                double xsb = (double)a->xs[t * nb + b];
                for (int j = 0; j < 8; j++) acc[j] += (double)Mb[j] * xsb;
            }
        }
        for (int j = 0; j < 8; j++) a->y[t * ldy + g * 8 + j] = acc[j];
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define IL_HAVE_AVX2 1

/* NT tokens at once share each expanded weight vector; NT is a compile-time constant at every call. */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2(const il_args *a, int64_t g,
                                                                                 int64_t t0, const int NT) {
    const int64_t nb = a->nb, ldy = a->groups * 8;
    __m256d acc_lo[4], acc_hi[4];
    for (int k = 0; k < NT; k++) acc_lo[k] = acc_hi[k] = _mm256_setzero_pd();
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *wb = a->w + (g * nb + b) * 256;
        __m256i s[4];
        for (int k = 0; k < NT; k++) s[k] = _mm256_setzero_si256();
        for (int p = 0; p < 16; p++) {
            __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + p * 16)));
            for (int k = 0; k < NT; k++) {
                __m256i xv = _mm256_set1_epi32(a->x16p[(t0 + k) * nb * 16 + b * 16 + p]);
                s[k] = _mm256_add_epi32(s[k], _mm256_madd_epi16(wv, xv));
            }
        }
        const __m128i *Db = (const __m128i *)(a->D + (g * nb + b) * 8);
        __m256d d0 = _mm256_cvtepi32_pd(_mm_loadu_si128(Db)), d1 = _mm256_cvtepi32_pd(_mm_loadu_si128(Db + 1));
        for (int k = 0; k < NT; k++) {
            acc_lo[k] = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(s[k])), d0, acc_lo[k]);
            acc_hi[k] = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(s[k], 1)), d1, acc_hi[k]);
        }
        if (a->Mc) {
            const __m128i *Mb = (const __m128i *)(a->Mc + (g * nb + b) * 8);
            __m256d m0 = _mm256_cvtepi32_pd(_mm_loadu_si128(Mb)), m1 = _mm256_cvtepi32_pd(_mm_loadu_si128(Mb + 1));
            for (int k = 0; k < NT; k++) {
                __m256d xsb = _mm256_set1_pd((double)a->xs[(t0 + k) * nb + b]);
                acc_lo[k] = _mm256_fmadd_pd(m0, xsb, acc_lo[k]);
                acc_hi[k] = _mm256_fmadd_pd(m1, xsb, acc_hi[k]);
            }
        }
    }
    for (int k = 0; k < NT; k++) {
        _mm256_storeu_pd(a->y + (t0 + k) * ldy + g * 8, acc_lo[k]);
        _mm256_storeu_pd(a->y + (t0 + k) * ldy + g * 8 + 4, acc_hi[k]);
    }
}

__attribute__((target("avx2,fma"))) static void group_avx2(const il_args *a, int64_t g) {
    int64_t t = 0;
    for (; t + 4 <= a->T; t += 4) tile_avx2(a, g, t, 4);
    switch (a->T - t) {
    case 3: tile_avx2(a, g, t, 3); break;
    case 2: tile_avx2(a, g, t, 2); break;
    case 1: tile_avx2(a, g, t, 1); break;
    default: break;
    }
}
#else
#define IL_HAVE_AVX2 0
#endif

/* 1 when the AVX2+FMA implementation can run on this CPU. */
int il_has_avx2(void) {
#if IL_HAVE_AVX2
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* y[T][groups*8] = exact linear layer of x[T][nb*32] (int32 activations, |x| <= 2^15).
   impl: 0 = best available, 1 = portable C, 2 = AVX2 (falls back to portable C if unsupported).
   nthreads 0: the OpenMP default (OMP_NUM_THREADS). Returns IL_OK or a negative IL_E* code. */
int il_linear(const int8_t *w, const int32_t *D, const int32_t *Mc, int64_t groups, int64_t nb, const int32_t *x,
              int64_t T, double *y, int nthreads, int impl) {
    if (nthreads < 0) return IL_EARG;
    if (!w || !D || !x || !y || groups <= 0 || nb <= 0 || T <= 0 || impl < 0 || impl > 2) return IL_EARG;
    const int64_t cols = nb * 32;
    int16_t *x16 = (int16_t *)malloc((size_t)(T * cols) * sizeof(int16_t));
    int32_t *xs = (int32_t *)malloc((size_t)(T * nb) * sizeof(int32_t));
    int64_t *fix = NULL; /* (t, col) of every activation equal to +2^15 */
    int64_t nfix = 0, capfix = 0;
    if (!x16 || !xs) {
        free(x16);
        free(xs);
        return IL_ENOMEM;
    }
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < nb; b++) {
            int32_t sum = 0;
            for (int i = 0; i < 32; i++) {
                int64_t c = b * 32 + i;
                int32_t v = x[t * cols + c];
                if (v < -X_MAX || v > X_MAX) {
                    free(x16);
                    free(xs);
                    free(fix);
                    return IL_ERANGE;
                }
                sum += v;
                if (v == X_MAX) {
                    if (nfix == capfix) {
                        capfix = capfix ? 2 * capfix : 16;
                        int64_t *nf = (int64_t *)realloc(fix, (size_t)capfix * 2 * sizeof(int64_t));
                        if (!nf) {
                            free(x16);
                            free(xs);
                            free(fix);
                            return IL_ENOMEM;
                        }
                        fix = nf;
                    }
                    fix[2 * nfix] = t;
                    fix[2 * nfix + 1] = c;
                    nfix++;
                    v = X_MAX - 1;
                }
                x16[t * cols + c] = (int16_t)v;
            }
            xs[t * nb + b] = sum;
        }
    }
    il_args a = {w, D, Mc, groups, nb, T, (const int32_t *)x16, xs, y};
    int use_avx2 = (impl == 0 || impl == 2) && il_has_avx2();
    (void)use_avx2;
#ifdef _OPENMP
    int nth = nthreads > 0 ? nthreads : omp_get_max_threads();
    /* a small product (a decode-step GEMV) is done before threads would even be woken up */
    if (groups * 8 * cols * T < PAR_MIN_MACS) nth = 1;
    if (nth > groups) nth = (int)groups;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nth)
#endif
    for (int64_t g = 0; g < groups; g++) {
#if IL_HAVE_AVX2
        if (use_avx2)
            group_avx2(&a, g);
        else
#endif
            group_generic(&a, g);
        /* the clamped activations: add D * q * 1 for each (exact integers, < 2^53) */
        for (int64_t f = 0; f < nfix; f++) {
            int64_t t = fix[2 * f], c = fix[2 * f + 1], b = c / 32, i = c % 32;
            const int8_t *wp = w + ((g * nb + b) * 16 + i / 2) * 16 + (i % 2);
            const int32_t *Db = D + (g * nb + b) * 8;
            for (int j = 0; j < 8; j++) y[t * groups * 8 + g * 8 + j] += (double)Db[j] * (double)wp[2 * j];
        }
    }
    free(x16);
    free(xs);
    free(fix);
    return IL_OK;
}

/* round(y * 2^e) with ties to even, for an integer |y| < 2^53 (what rint(ldexp(y, e)) gives). */
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

/* The whole BlockLinear step: x int64 [T][nb*32] in 2^-f_in units -> out int64 [T][rows] in 2^-f_out
   units. Per token: sh = max(bitlen(max|x|) - act_bits, 0), xq = round(x / 2^sh) (halves up), then the
   exact product y, then out = round(y * 2^(out_shift - s_row[r] + sh)) with ties to even, where
   out_shift = f_out - f_in. |x| must stay below 2^62 (the engine's values are far below). */
int il_block_linear(const int8_t *w, const int32_t *D, const int32_t *Mc, int64_t groups, int64_t nb, int64_t rows,
                    const int64_t *x, int64_t T, int act_bits, int64_t out_shift, const int64_t *s_row,
                    int64_t *out, int nthreads, int impl) {
    if (!w || !D || !x || !s_row || !out || groups <= 0 || nb <= 0 || T <= 0 || rows <= 0 || rows > groups * 8 ||
        act_bits < 1 || act_bits > 15)
        return IL_EARG;
    const int64_t cols = nb * 32, ldy = groups * 8;
    int32_t *xq = (int32_t *)malloc((size_t)(T * cols) * sizeof(int32_t));
    int64_t *sh = (int64_t *)malloc((size_t)T * sizeof(int64_t));
    double *y = (double *)malloc((size_t)(T * ldy) * sizeof(double));
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
    rc = il_linear(w, D, Mc, groups, nb, xq, T, y, nthreads, impl);
    if (rc != IL_OK) goto done;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < rows; r++)
            out[t * rows + r] = scale_round((int64_t)y[t * ldy + r], out_shift - s_row[r] + sh[t]);
done:
    free(xq);
    free(sh);
    free(y);
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

/* Engine._silu_mul on a fused gate|up product gu [T][2H] (gate = columns < H): out [T][H] =
   silu(gate) * up in 2^-32 units, sigma from the exp table and a rounded integer division. */
int il_silu_mul(const int64_t *gu, int64_t T, int64_t H, const int64_t *t1, const int64_t *t2, int64_t log2e,
                int64_t *out) {
    if (!gu || !out || !t1 || !t2 || T < 0 || H <= 0) return IL_EARG;
    const int64_t one = (int64_t)1 << EXP_ONE_BITS;
    for (int64_t t = 0; t < T; t++) {
        const int64_t *g = gu + t * 2 * H, *u = g + H;
        int64_t *o = out + t * H;
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

/* Engine._attend for one sequence and layer. q int64 [n][kvh*g][hd] (|q| < 2^20), eq int64 [n][kvh*g];
   cache k, v float64 integers [kvh][cap][hd] (|k| < 2^20, |v| < 2^24), ek int64 [kvh][cap]; the new
   tokens are at positions start..start+n-1 and the cache already holds them. Per query row: scores
   round(q.k * 2^(eq + ek + score_shift)) (ties to even), causal mask, softmax weights from the exp
   table (masked positions get exp_neg(EXP_D_MAX)), exact P.V and a rounded division by the sum.
   out int64 [n][kvh*g*hd]. All sums are exact integers (q.k < 2^46, P.V < 2^53 for <= 8192 positions). */
int il_attend(const int64_t *q, const int64_t *eq, int64_t n, int64_t kvh, int64_t g, int64_t hd, const double *k,
              const int64_t *ek, const double *v, int64_t cap, int64_t start, int64_t score_shift, const int64_t *t1,
              const int64_t *t2, int64_t log2e, int64_t *out) {
    if (!q || !eq || !k || !ek || !v || !out || !t1 || !t2 || n <= 0 || kvh <= 0 || g <= 0 || hd <= 0 ||
        start < 0 || start + n > cap || start + n > 8192)
        return IL_EARG;
    const int64_t total = start + n, H = kvh * g;
    int64_t *s = (int64_t *)malloc((size_t)total * sizeof(int64_t));
    double *acc = (double *)malloc((size_t)hd * 2 * sizeof(double)), *qd = acc + hd;
    if (!s || !acc) {
        free(s);
        free(acc);
        return IL_ENOMEM;
    }
    const int64_t pm = exp_neg1(EXP_D_MAX, 16, t1, t2, log2e); /* weight of a masked position */
    for (int64_t h = 0; h < kvh; h++) {
        const double *kh = k + h * cap * hd, *vh = v + h * cap * hd;
        const int64_t *ekh = ek + h * cap;
        for (int64_t gi = 0; gi < g; gi++) {
            for (int64_t ti = 0; ti < n; ti++) {
                const int64_t head = h * g + gi, qpos = start + ti;
                const int64_t *qr = q + (ti * H + head) * hd;
                const int64_t eqr = eq[ti * H + head];
                for (int64_t c = 0; c < hd; c++) qd[c] = (double)qr[c];
                int64_t m = INT64_MIN;
                for (int64_t p = 0; p <= qpos; p++) {
                    const double *kp = kh + p * hd;
                    /* integer products and sums below 2^53: exact in double, in any order */
                    double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
                    int64_t c = 0;
                    for (; c + 4 <= hd; c += 4) {
                        d0 += qd[c] * kp[c];
                        d1 += qd[c + 1] * kp[c + 1];
                        d2 += qd[c + 2] * kp[c + 2];
                        d3 += qd[c + 3] * kp[c + 3];
                    }
                    for (; c < hd; c++) d0 += qd[c] * kp[c];
                    s[p] = scale_round((int64_t)((d0 + d1) + (d2 + d3)), eqr + ekh[p] + score_shift);
                    if (s[p] > m) m = s[p];
                }
                int64_t z = 0;
                for (int64_t c = 0; c < hd; c++) acc[c] = 0;
                for (int64_t p = 0; p < total; p++) {
                    int64_t w = p <= qpos ? exp_neg1(m - s[p], 16, t1, t2, log2e) : pm;
                    if (w == 0) continue;
                    z += w;
                    const double *vp = vh + p * hd;
                    const double wd = (double)w;
                    for (int64_t c = 0; c < hd; c++) acc[c] += wd * vp[c];
                }
                int64_t *o = out + ti * H * hd + head * hd;
                for (int64_t c = 0; c < hd; c++) o[c] = floor_div(2 * (int64_t)acc[c] + z, 2 * z);
            }
        }
    }
    free(s);
    free(acc);
    return IL_OK;
}
