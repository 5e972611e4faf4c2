/* EigenTrust in exact fixed point: the compute-network task (docs/compute-network.md, "EigenTrust").
 *
 * stdin: a trust graph's canonical encoding ("ETG1", offchain/compute/eigentrust.py TrustGraph.encode).
 * stdout: the 160-byte result abi.encode(uint64 epoch, bytes32 keccak256(input), bytes32 scoresRoot,
 *         uint32 peers, uint32 iterations).
 * Any input that is not a graph's one encoding: a message on stderr, exit status 2, nothing on stdout.
 *
 * The same function as offchain.compute.eigentrust.compute, on the same integers: WAD = 10^18, floor
 * divisions, u = sum c_ij t_i + p_j d (d: the dangling peers' trust), t'_j = ((WAD - a) floor(u_j /
 * WAD) + a p_j) / WAD, stop after maxIterations or once sum |t' - t| <= epsilon. Bounds: c_ij, t_i,
 * p_j <= WAD and sum t <= WAD, so sum_j u_j <= WAD^2 < 2^120 and every product fits 128 bits.
 * Standalone (libc only) so it links statically into a one-file image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keccak.h"

typedef unsigned __int128 u128;
#define WAD 1000000000000000000ULL
#define MAX_PEERS (1u << 20)
#define MAX_EDGES (1u << 24)
#define MAX_ITERATIONS 10000u
#define HEADER 44u

/* ---- input ---- */
static void refuse(const char *why) {
    fprintf(stderr, "eigentrust: %s\n", why);
    exit(2);
}

static uint64_t be(const uint8_t *p, int nbytes) {
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v = (v << 8) | p[i];
    return v;
}

static void put_word(uint8_t *out, uint64_t v) {
    memset(out, 0, 32);
    for (int i = 0; i < 8; i++) out[31 - i] = (uint8_t)(v >> (8 * i));
}

static void *alloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size);
    if (!p) refuse("out of memory");
    return p;
}

int main(void) {
    size_t cap = 1 << 16, len = 0, got;
    uint8_t *in = alloc(cap, 1);
    while ((got = fread(in + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) {
            if (cap > ((size_t)1 << 30)) refuse("input over 1 GiB");
            cap *= 2;
            in = realloc(in, cap);
            if (!in) refuse("out of memory");
        }
    }
    if (ferror(stdin)) refuse("cannot read stdin");
    if (len < HEADER) refuse("shorter than the 44-byte header");
    if (memcmp(in, "ETG1", 4) != 0) refuse("bad magic");
    uint64_t epoch = be(in + 4, 8), alpha = be(in + 12, 8), eps = be(in + 20, 8);
    uint64_t iters = be(in + 28, 4), n = be(in + 32, 4), npre = be(in + 36, 4), ne = be(in + 40, 4);
    if (n < 1 || n > MAX_PEERS || npre > n || ne > MAX_EDGES) refuse("counts out of range");
    if ((uint64_t)len != HEADER + 20 * n + 12 * npre + 16 * ne) refuse("length does not match the counts");
    if (alpha > WAD) refuse("alpha above WAD");
    if (iters < 1 || iters > MAX_ITERATIONS) refuse("max iterations out of range");
    if (npre == 0) refuse("no pre-trusted peer");
    const uint8_t *peers = in + HEADER, *pre = peers + 20 * n, *edg = pre + 12 * npre;
    for (uint64_t k = 1; k < n; k++)
        if (memcmp(peers + 20 * (k - 1), peers + 20 * k, 20) >= 0) refuse("peers not strictly ascending");

    uint64_t *p = alloc(n, 8), *t = alloc(n, 8), *nx = alloc(n, 8);
    u128 *out_total = alloc(n, sizeof(u128)), *u = alloc(n, sizeof(u128));
    uint32_t *ef = alloc(ne, 4), *et = alloc(ne, 4);
    uint64_t *c = alloc(ne, 8);
    u128 ptotal = 0;
    int64_t last = -1;
    for (uint64_t k = 0; k < npre; k++) {
        uint64_t i = be(pre + 12 * k, 4), w = be(pre + 12 * k + 4, 8);
        if (i >= n) refuse("pre-trust index past the peers");
        if (w == 0) refuse("pre-trust weight 0");
        if ((int64_t)i <= last) refuse("pre-trust not strictly ascending");
        last = (int64_t)i;
        ptotal += w;
    }
    for (uint64_t k = 0; k < npre; k++) {
        uint64_t i = be(pre + 12 * k, 4), w = be(pre + 12 * k + 4, 8);
        p[i] = (uint64_t)((u128)w * WAD / ptotal);
    }
    for (uint64_t k = 0; k < ne; k++) {
        uint64_t i = be(edg + 16 * k, 4), j = be(edg + 16 * k + 4, 4), w = be(edg + 16 * k + 8, 8);
        if (i >= n || j >= n) refuse("edge index past the peers");
        if (w == 0) refuse("edge weight 0");
        if (i == j) refuse("self-edge");
        if (k && (i < ef[k - 1] || (i == ef[k - 1] && j <= et[k - 1]))) refuse("edges not strictly ascending");
        ef[k] = (uint32_t)i;
        et[k] = (uint32_t)j;
        c[k] = w;
        out_total[i] += w;
    }
    for (uint64_t k = 0; k < ne; k++) c[k] = (uint64_t)((u128)c[k] * WAD / out_total[ef[k]]);

    memcpy(t, p, 8 * n);
    uint64_t keep = WAD - alpha, k = 0;
    while (k < iters) {
        k++;
        uint64_t d = 0;
        for (uint64_t i = 0; i < n; i++)
            if (out_total[i] == 0) d += t[i];
        for (uint64_t j = 0; j < n; j++) u[j] = (u128)p[j] * d;
        for (uint64_t e = 0; e < ne; e++) u[et[e]] += (u128)c[e] * t[ef[e]];
        uint64_t delta = 0;
        for (uint64_t j = 0; j < n; j++) {
            uint64_t v = (uint64_t)(u[j] / WAD);
            nx[j] = (uint64_t)(((u128)keep * v + (u128)alpha * p[j]) / WAD);
            delta += nx[j] > t[j] ? nx[j] - t[j] : t[j] - nx[j];
        }
        uint64_t *sw = t;
        t = nx;
        nx = sw;
        if (delta <= eps) break;
    }

    /* the score tree: leaves keccak256(peer | uint256 score), zero words up to a power of two */
    uint64_t size = 1;
    while (size < n) size *= 2;
    uint8_t *level = alloc(size, 32), leaf[52];
    for (uint64_t i = 0; i < n; i++) {
        memcpy(leaf, peers + 20 * i, 20);
        put_word(leaf + 20, t[i]);
        keccak256(leaf, 52, level + 32 * i);
    }
    for (; size > 1; size /= 2)
        for (uint64_t i = 0; i < size / 2; i++) keccak256(level + 64 * i, 64, level + 32 * i);

    uint8_t out[160];
    put_word(out, epoch);
    keccak256(in, len, out + 32);
    memcpy(out + 64, level, 32);
    put_word(out + 96, n);
    put_word(out + 128, k);
    if (fwrite(out, 1, 160, stdout) != 160 || fflush(stdout) != 0) refuse("cannot write stdout");
    return 0;
}
