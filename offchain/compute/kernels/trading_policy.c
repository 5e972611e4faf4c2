/* The trading agent's policy: the compute-network task (docs/agent.md, "The policy on the compute network").
 *
 * stdin: a policy input's one encoding ("TPI1", offchain/compute/trading_policy.py PolicyInput.encode),
 *        big-endian, 276 bytes then the text:
 *          "TPI1" | strategyHash (32) | feedDigest (32) | receiptDigest (32) | maxBuy (u256) |
 *          maxSell (u256) | slippageBips (u16) | token0 (20) | token1 (20) | feeBips (u16) |
 *          reserve0 (u256) | reserve1 (u256) | textLength (u32) | text (textLength bytes)
 *        textLength is at most 1024, or 0xFFFFFFFF for an answer over 1024 bytes (then no text follows);
 *        the text is UTF-8 in which a surrogate's three bytes are allowed (Python's "surrogatepass").
 * stdout: abi.encode(bytes32 keccak256(input), uint8 action, uint256 amountIn, uint256 minOut,
 *         string reason), action 0 HOLD, 1 BUY, 2 SELL.
 * Any input that is not one encoding: a message on stderr, exit status 2, nothing on stdout.
 *
 * The same function as offchain.compute.trading_policy.decide (which offchain.agent.trading.decide
 * is): the text stripped of Python's whitespace (str.strip) must be exactly one of the nine answers
 * {"action":"BUY|SELL|HOLD","size":"small|medium|large"}; anything else is HOLD (fail closed), and so
 * is a trade whose minimum output is zero. amount = limit * sizeBips / 10^4; the pool's quote is
 * the ConstantProductAMM's formula; every division floors. Integers up to 2^526 occur (a u256 times
 * 10^4 times a u256), so the arithmetic is multi-precision on 18 32-bit limbs (576 bits).
 * Standalone (libc only) so it links statically into a one-file image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keccak.h"

#define HEADER 276u
#define MAX_TEXT 1024u
#define TEXT_OVER 0xFFFFFFFFu
#define BIPS 10000u
#define LIMBS 18

/* ---- input ---- */
static void refuse(const char *why) {
    fprintf(stderr, "trading_policy: %s\n", why);
    exit(2);
}

static uint32_t be(const uint8_t *p, int nbytes) {
    uint32_t v = 0;
    for (int i = 0; i < nbytes; i++) v = (v << 8) | p[i];
    return v;
}

/* The length of the UTF-8 sequence at p (surrogates allowed), 0 when it is not one. */
static size_t utf8_len(const uint8_t *p, size_t left, uint32_t *cp) {
    uint8_t b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t n;
    uint32_t lo = 0x80, hi = 0xBF, v;
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
        v = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        v = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        v = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    *cp = v;
    return n;
}

/* What Python's str.isspace() (and so str.strip()) counts as whitespace. */
static int is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ---- 576-bit unsigned integers, 32-bit limbs, least significant first ---- */
typedef struct {
    uint32_t w[LIMBS];
} big;

static big from_word(const uint8_t *p) { /* a big-endian 32-byte word */
    big r = {{0}};
    for (int i = 0; i < 8; i++) r.w[i] = be(p + 28 - 4 * i, 4);
    return r;
}

static big small(uint32_t v) {
    big r = {{0}};
    r.w[0] = v;
    return r;
}

static int is_zero(const big *a) {
    for (int i = 0; i < LIMBS; i++)
        if (a->w[i]) return 0;
    return 1;
}

static int cmp(const big *a, const big *b) {
    for (int i = LIMBS - 1; i >= 0; i--)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static big add(const big *a, const big *b) {
    big r;
    uint64_t c = 0;
    for (int i = 0; i < LIMBS; i++) {
        c += (uint64_t)a->w[i] + b->w[i];
        r.w[i] = (uint32_t)c;
        c >>= 32;
    }
    return r;
}

static big sub(const big *a, const big *b) { /* a >= b */
    big r;
    int64_t c = 0;
    for (int i = 0; i < LIMBS; i++) {
        c += (int64_t)a->w[i] - b->w[i];
        r.w[i] = (uint32_t)c;
        c = c < 0 ? -1 : 0;
    }
    return r;
}

static big mul(const big *a, const big *b) { /* the operands' sizes keep the product below 2^576 */
    uint64_t acc[LIMBS] = {0};
    big r;
    for (int i = 0; i < LIMBS; i++) {
        uint64_t carry = 0;
        for (int j = 0; i + j < LIMBS; j++) {
            uint64_t t = (uint64_t)a->w[i] * b->w[j] + acc[i + j] + carry;
            acc[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
    }
    for (int i = 0; i < LIMBS; i++) r.w[i] = (uint32_t)acc[i];
    return r;
}

static big divide(const big *a, const big *d) { /* floor(a / d), d > 0: shift and subtract */
    big q = {{0}}, r = {{0}};
    for (int bit = 32 * LIMBS - 1; bit >= 0; bit--) {
        for (int i = LIMBS - 1; i > 0; i--) r.w[i] = (r.w[i] << 1) | (r.w[i - 1] >> 31);
        r.w[0] = (r.w[0] << 1) | ((a->w[bit / 32] >> (bit % 32)) & 1);
        if (cmp(&r, d) >= 0) {
            r = sub(&r, d);
            q.w[bit / 32] |= 1u << (bit % 32);
        }
    }
    return q;
}

static void to_word(const big *a, uint8_t *out) { /* a < 2^256 */
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++) out[31 - 4 * i - k] = (uint8_t)(a->w[i] >> (8 * k));
}

/* ---- the decision ---- */
static const char *const ACTIONS[3] = {"BUY", "SELL", "HOLD"};
static const char *const SIZES[3] = {"small", "medium", "large"};
static const uint32_t SIZE_BIPS[3] = {2500, 5000, 10000};
static const char *const PERCENT[3] = {"25", "50", "100"};

/* The answer the stripped text is (action * 3 + size), or -1. */
static int answer(const uint8_t *text, size_t len) {
    char want[64];
    for (int a = 0; a < 3; a++)
        for (int s = 0; s < 3; s++) {
            int n = snprintf(want, sizeof want, "{\"action\":\"%s\",\"size\":\"%s\"}", ACTIONS[a], SIZES[s]);
            if ((size_t)n == len && memcmp(want, text, len) == 0) return a * 3 + s;
        }
    return -1;
}

int main(void) {
    static uint8_t in[HEADER + MAX_TEXT + 1];
    size_t len = 0, got;
    do {
        got = fread(in + len, 1, sizeof in - len, stdin);
        len += got;
    } while (got > 0 && len < sizeof in);
    if (ferror(stdin)) refuse("cannot read stdin");
    if (len > HEADER + MAX_TEXT) refuse("longer than the largest encoding");
    if (len < HEADER) refuse("shorter than the 276-byte header");
    if (memcmp(in, "TPI1", 4) != 0) refuse("bad magic");
    const uint8_t *max_buy = in + 100, *max_sell = in + 132, *token0 = in + 166, *token1 = in + 186;
    uint32_t slippage = be(in + 164, 2), fee = be(in + 206, 2), tlen = be(in + 272, 4);
    big buy_limit = from_word(max_buy), sell_limit = from_word(max_sell);
    big r0 = from_word(in + 208), r1 = from_word(in + 240);
    if (is_zero(&buy_limit) || is_zero(&sell_limit)) refuse("a strategy limit is zero");
    if (slippage >= BIPS) refuse("slippage bips out of range");
    if (fee >= BIPS) refuse("fee bips out of range");
    if (tlen != TEXT_OVER && tlen > MAX_TEXT) refuse("text length out of range");
    if (len != HEADER + (tlen == TEXT_OVER ? 0 : tlen)) refuse("length does not match the text length");

    int action = 2; /* HOLD */
    big amount = {{0}}, min_out = {{0}};
    char reason[64];
    if (tlen == TEXT_OVER) {
        snprintf(reason, sizeof reason, "answer over %u bytes: hold (fail closed)", MAX_TEXT);
    } else {
        const uint8_t *text = in + HEADER;
        size_t start = 0, end = 0, pos = 0;
        int seen = 0;
        while (pos < tlen) { /* decode all of it: refuse what is not UTF-8; find the non-space span */
            uint32_t cp;
            size_t n = utf8_len(text + pos, tlen - pos, &cp);
            if (n == 0) refuse("the text is not UTF-8");
            if (!is_space(cp)) {
                if (!seen) start = pos;
                seen = 1;
                end = pos + n;
            }
            pos += n;
        }
        int k = seen ? answer(text + start, end - start) : -1;
        if (k < 0) {
            snprintf(reason, sizeof reason, "unparseable answer: hold (fail closed)");
        } else if (k / 3 == 2) {
            snprintf(reason, sizeof reason, "the model holds");
        } else {
            int a = k / 3, s = k % 3;
            const big *limit = a == 0 ? &buy_limit : &sell_limit;
            const uint8_t *token_in = a == 0 ? token0 : token1;
            big sb = small(SIZE_BIPS[s]), bips = small(BIPS), t = mul(limit, &sb);
            amount = divide(&t, &bips);
            int first = memcmp(token_in, token0, 20) == 0;
            const big *r_in = first ? &r0 : &r1, *r_out = first ? &r1 : &r0;
            big quote = {{0}};
            if (!is_zero(&amount) && !is_zero(r_in) && !is_zero(r_out)) {
                big kf = small(BIPS - fee), with_fee = mul(&amount, &kf);
                big num = mul(&with_fee, r_out), den = mul(r_in, &bips);
                den = add(&den, &with_fee);
                quote = divide(&num, &den);
            }
            big ks = small(BIPS - slippage), q = mul(&quote, &ks);
            min_out = divide(&q, &bips);
            if (is_zero(&min_out)) {
                snprintf(reason, sizeof reason, "%s %s: the pool quotes nothing: hold", ACTIONS[a], SIZES[s]);
                amount = small(0);
            } else {
                action = a;
                snprintf(reason, sizeof reason, "%s %s (%s%% of the limit)", ACTIONS[a], SIZES[s], PERCENT[s]);
            }
        }
    }

    size_t rlen = strlen(reason), words = (rlen + 31) / 32;
    uint8_t out[32 * 6 + 64];
    memset(out, 0, sizeof out);
    keccak256(in, len, out);
    out[63] = (uint8_t)(action == 2 ? 0 : action + 1);
    to_word(&amount, out + 64);
    to_word(&min_out, out + 96);
    out[159] = 0xa0; /* the string's offset */
    out[191] = (uint8_t)rlen;
    memcpy(out + 192, reason, rlen);
    size_t total = 192 + 32 * words;
    if (fwrite(out, 1, total, stdout) != total || fflush(stdout) != 0) refuse("cannot write stdout");
    return 0;
}
