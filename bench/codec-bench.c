/*
 * codec-bench: the MABM dirty-bitmap codec (plugin/src/codec.c) side by
 * side with zstd level 1 of the raw bitmap, CRoaring (portable format)
 * and a plain memcpy of the raw bitmap, on simulated dirty bitmaps of a
 * 6 TiB (or 1 TiB with --quick) and a 64 GiB guest with 4 KiB pages.
 *
 *   codec-bench [--sizes 6T,64G] [--quick] [--csv FILE] [--reps N]
 *
 * "ours+summary" is the same encoder guided by an exact summary of the
 * bitmap, one bit per 2 MiB (512 pages), as QEMU keeps one per RAM block
 * (RAMBlock.bmap_summary, patch 0009); building the summary is not timed,
 * since QEMU maintains it as pages are dirtied. Its output must be byte
 * for byte that of "ours" (checked), so its decode is the same decode.
 *
 * Times are the median of N (default 3) repetitions, CLOCK_MONOTONIC,
 * single thread. Output buffers are allocated and pre-faulted once, so
 * page faults are not counted for ours, zstd, memcpy and the roaring
 * serialization; the roaring bitmap's own allocations are (they are part
 * of using it). The goal checks printed at the end are observations, not
 * assertions: the exit status is 0 whenever every round trip matched.
 * See docs/codec-bench.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>
#include <zstd.h>

#include "codec.h"

#include "benchstat.h"

#define PAGE_SIZE   4096ull
#define MAX_REPS    15
#define NSAMPLES    20000

enum { M_OURS, M_OURS_SUM, M_ZSTD, M_ROARING, M_MEMCPY, M_COUNT };
static const char *const method_names[M_COUNT] = {
    "ours", "ours+summary", "zstd-1", "roaring", "memcpy",
};

/* The summary of "ours+summary": one bit per 2 MiB of 4 KiB pages */
#define SUMMARY_SHIFT   9

enum { P_RAND01, P_CLUST1, P_CLUST10, P_HOT30, P_FULL, P_ALT, P_COUNT };
static const char *const pattern_names[P_COUNT] = {
    "random-0.1%", "clusters-1%", "clusters-10%", "hot-30%",
    "full-100%", "alternating",
};
/* patterns on which the "at least 100x smaller" goal applies */
static const bool pattern_clustered[P_COUNT] = {
    false, true, true, true, false, false,
};
/* patterns on which the "within 1.5x of memcpy" goal applies */
static const bool pattern_dense[P_COUNT] = {
    false, false, false, false, true, true,
};

typedef struct {
    size_t enc_bytes;
    double enc_ms, dec_ms;
    bool ok;
    bool ran;
} Result;

typedef struct {
    const char *label;      /* "6 TiB" */
    const char *tag;        /* "6T" */
    uint64_t nbits;
    uint64_t raw_bytes;
    uint64_t popcount[P_COUNT];
    Result res[P_COUNT][M_COUNT];
} SizeRun;

static int reps = 3;

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)  /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;  /* bias is irrelevant here */
}

static void *xalloc(size_t n)
{
    void *p = malloc(n);

    if (!p) {
        fprintf(stderr, "codec-bench: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    memset(p, 0, n);        /* pre-fault */
    return p;
}

static void set_range(uint64_t *bits, uint64_t start, uint64_t end)
{
    while (start < end && (start & 63)) {
        bits[start / 64] |= 1ull << (start & 63);
        start++;
    }
    if (start < end && end - start >= 64) {
        uint64_t nw = (end - start) / 64;

        memset(&bits[start / 64], 0xff, nw * 8);
        start += nw * 64;
    }
    while (start < end) {
        bits[start / 64] |= 1ull << (start & 63);
        start++;
    }
}

static uint64_t popcount_bits(const uint64_t *bits, uint64_t nwords)
{
    uint64_t pop = 0;

    for (uint64_t i = 0; i < nwords; i++) {
        pop += (uint64_t)__builtin_popcountll(bits[i]);
    }
    return pop;
}

static bool test_bit(const uint64_t *bits, uint64_t i)
{
    return (bits[i / 64] >> (i & 63)) & 1;
}

/* Fill bits (nbits a multiple of 512) with pattern p, fixed seed. */
static void make_pattern(uint64_t *bits, uint64_t nbits, int p)
{
    uint64_t nwords = nbits / 64;

    memset(bits, 0, nwords * 8);
    rng_state = 0x6d69676163636cull + (uint64_t)p;     /* fixed seed */
    switch (p) {
    case P_RAND01: {
        uint64_t target = nbits / 1000, pop = 0;

        while (pop < target) {
            uint64_t i = rng_below(nbits);

            if (!test_bit(bits, i)) {
                bits[i / 64] |= 1ull << (i & 63);
                pop++;
            }
        }
        break;
    }
    case P_CLUST1:
    case P_CLUST10: {
        /* 2 MiB = 512 pages = 8 words, 512-page aligned, distinct */
        uint64_t slots = nbits / 512;
        uint64_t target = slots * (p == P_CLUST1 ? 1 : 10) / 100, n = 0;

        while (n < target) {
            uint64_t s = rng_below(slots);

            if (!bits[s * 8]) {
                memset(&bits[s * 8], 0xff, 64);
                n++;
            }
        }
        break;
    }
    case P_HOT30: {
        uint64_t len = nbits / 10 * 3;
        uint64_t start = rng_below(nbits - len);

        set_range(bits, start, start + len);
        break;
    }
    case P_FULL:
        memset(bits, 0xff, nwords * 8);
        break;
    case P_ALT:
        memset(bits, 0x55, nwords * 8);
        break;
    }
}

/* ---- CRoaring: build from the raw words ------------------------------- */

typedef struct {
    roaring_bitmap_t *r;
    uint32_t buf[4096];
    size_t n;
} RBuild;

static void rb_flush_buf(RBuild *b)
{
    if (b->n) {
        roaring_bitmap_add_many(b->r, b->n, b->buf);
        b->n = 0;
    }
}

/* pages [start, end) are dirty */
static void rb_run(RBuild *b, uint64_t start, uint64_t end)
{
    if (end - start >= 8) {
        roaring_bitmap_add_range_closed(b->r, (uint32_t)start,
                                        (uint32_t)(end - 1));
        return;
    }
    for (uint64_t i = start; i < end; i++) {
        if (b->n == sizeof(b->buf) / sizeof(b->buf[0])) {
            rb_flush_buf(b);
        }
        b->buf[b->n++] = (uint32_t)i;
    }
}

/*
 * Runs of 8 pages or more go in with add_range (natural for clusters and
 * hot regions), shorter ones through add_many (sorted, so CRoaring's
 * same-container fast path applies).
 */
static roaring_bitmap_t *roaring_from_bits(const uint64_t *bits,
                                           uint64_t nbits)
{
    static RBuild b;
    uint64_t nwords = nbits / 64, run_start = UINT64_MAX;

    b.r = roaring_bitmap_create();
    b.n = 0;
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t w = bits[i], base = i * 64;
        unsigned pos = 0;

        if (w == ~0ull) {
            if (run_start == UINT64_MAX) {
                run_start = base;
            }
            continue;
        }
        if (w == 0) {
            if (run_start != UINT64_MAX) {
                rb_run(&b, run_start, base);
                run_start = UINT64_MAX;
            }
            continue;
        }
        while (pos < 64) {
            uint64_t rem = w >> pos;

            if (run_start != UINT64_MAX) {
                /* open run: ones from pos; ~rem is never 0 here */
                pos += (unsigned)__builtin_ctzll(~rem);
                if (pos >= 64) {
                    break;          /* continues into the next word */
                }
                rb_run(&b, run_start, base + pos);
                run_start = UINT64_MAX;
            } else {
                if (!rem) {
                    break;
                }
                pos += (unsigned)__builtin_ctzll(rem);
                run_start = base + pos;
            }
        }
    }
    if (run_start != UINT64_MAX) {
        rb_run(&b, run_start, nbits);
    }
    rb_flush_buf(&b);
    return b.r;
}

/* ---- one pattern, all methods ----------------------------------------- */

/* One bit per 512-page region that holds a dirty page (nbits % 512 == 0) */
static void make_summary(const uint64_t *bits, uint64_t nbits,
                         uint64_t *summary)
{
    uint64_t nregions = nbits >> SUMMARY_SHIFT;
    uint64_t words = 1ull << (SUMMARY_SHIFT - 6);

    memset(summary, 0, (nregions + 63) / 64 * 8);
    for (uint64_t r = 0; r < nregions; r++) {
        uint64_t any = 0;

        for (uint64_t i = 0; i < words; i++) {
            any |= bits[r * words + i];
        }
        if (any) {
            summary[r / 64] |= 1ull << (r % 64);
        }
    }
}

/*
 * Our codec, without (summary == NULL) or with a summary. *crc: the CRC32C
 * of the encoding, to compare the two (not timed).
 */
static void run_ours(SizeRun *sr, int p, int m, const uint64_t *summary,
                     uint64_t *bits, uint64_t *dec, uint8_t *out,
                     size_t out_cap, uint32_t *crc)
{
    uint64_t nbits = sr->nbits, raw = sr->raw_bytes;
    uint64_t pop = sr->popcount[p];
    double enc[MAX_REPS], dec_t[MAX_REPS], t;
    Result *r = &sr->res[p][m];

    r->ok = true;
    for (int k = 0; k < reps; k++) {
        ssize_t n, d;

        t = bench_now_ms();
        n = migaccel_bitmap_encode_summary(bits, nbits, summary,
                                           SUMMARY_SHIFT, out, out_cap);
        enc[k] = bench_now_ms() - t;
        if (n < 0) {
            fprintf(stderr, "%s: encode failed: %s\n", method_names[m],
                    strerror((int)-n));
            r->ok = false;
            break;
        }
        r->enc_bytes = (size_t)n;
        *crc = migaccel_crc32c(0, out, (size_t)n);
        memset(dec, 0, raw);            /* decode ORs into a zeroed map */
        t = bench_now_ms();
        d = migaccel_bitmap_decode(out, (size_t)n, dec, nbits);
        dec_t[k] = bench_now_ms() - t;
        if (d < 0 || (uint64_t)d != pop || memcmp(bits, dec, raw)) {
            r->ok = false;
        }
    }
    r->enc_ms = bench_median(enc, reps);
    r->dec_ms = bench_median(dec_t, reps);
    r->ran = true;
}

static void run_pattern(SizeRun *sr, int p, uint64_t *bits, uint64_t *dec,
                        uint8_t *out, size_t out_cap, uint64_t *summary)
{
    uint64_t nbits = sr->nbits, raw = sr->raw_bytes, nwords = nbits / 64;
    uint64_t pop = sr->popcount[p];
    double enc[MAX_REPS], dec_t[MAX_REPS], t;
    uint32_t crc_plain = 0, crc_sum = 1;
    Result *r;

    /* ours, a full scan; then guided by the summary: the same bytes */
    run_ours(sr, p, M_OURS, NULL, bits, dec, out, out_cap, &crc_plain);
    make_summary(bits, nbits, summary);
    run_ours(sr, p, M_OURS_SUM, summary, bits, dec, out, out_cap, &crc_sum);
    if (sr->res[p][M_OURS_SUM].enc_bytes != sr->res[p][M_OURS].enc_bytes ||
        crc_sum != crc_plain) {
        fprintf(stderr, "ours+summary: encoding differs from ours\n");
        sr->res[p][M_OURS_SUM].ok = false;
    }

    /* zstd level 1 of the raw bitmap */
    r = &sr->res[p][M_ZSTD];
    r->ok = true;
    for (int k = 0; k < reps; k++) {
        size_t n, d;

        t = bench_now_ms();
        n = ZSTD_compress(out, out_cap, bits, raw, 1);
        enc[k] = bench_now_ms() - t;
        if (ZSTD_isError(n)) {
            fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
            r->ok = false;
            break;
        }
        r->enc_bytes = n;
        memset(dec, 0, raw);
        t = bench_now_ms();
        d = ZSTD_decompress(dec, raw, out, n);
        dec_t[k] = bench_now_ms() - t;
        if (ZSTD_isError(d) || d != raw || memcmp(bits, dec, raw)) {
            r->ok = false;
        }
    }
    r->enc_ms = bench_median(enc, reps);
    r->dec_ms = bench_median(dec_t, reps);
    r->ran = true;

    /* CRoaring: build + run_optimize + portable serialize */
    r = &sr->res[p][M_ROARING];
    r->ok = true;
    for (int k = 0; k < reps; k++) {
        roaring_bitmap_t *rb, *rd;
        size_t sz, n;

        t = bench_now_ms();
        rb = roaring_from_bits(bits, nbits);
        roaring_bitmap_run_optimize(rb);
        sz = roaring_bitmap_portable_size_in_bytes(rb);
        if (sz > out_cap) {
            fprintf(stderr, "roaring: %zu bytes > buffer\n", sz);
            roaring_bitmap_free(rb);
            r->ok = false;
            break;
        }
        n = roaring_bitmap_portable_serialize(rb, (char *)out);
        enc[k] = bench_now_ms() - t;
        roaring_bitmap_free(rb);
        r->enc_bytes = n;

        t = bench_now_ms();
        rd = roaring_bitmap_portable_deserialize_safe((const char *)out, n);
        dec_t[k] = bench_now_ms() - t;
        if (!rd || roaring_bitmap_get_cardinality(rd) != pop) {
            r->ok = false;
        } else {
            rng_state = 0x73616d706c65ull + (uint64_t)k;
            for (int s = 0; s < NSAMPLES; s++) {
                uint64_t i = rng_below(nbits);

                if (roaring_bitmap_contains(rd, (uint32_t)i) !=
                    test_bit(bits, i)) {
                    r->ok = false;
                    break;
                }
            }
        }
        if (rd) {
            roaring_bitmap_free(rd);
        }
    }
    r->enc_ms = bench_median(enc, reps);
    r->dec_ms = bench_median(dec_t, reps);
    r->ran = true;

    /* memcpy: raw bitmap out and back */
    r = &sr->res[p][M_MEMCPY];
    r->ok = true;
    for (int k = 0; k < reps; k++) {
        t = bench_now_ms();
        memcpy(out, bits, raw);
        enc[k] = bench_now_ms() - t;
        t = bench_now_ms();
        memcpy(dec, out, raw);
        dec_t[k] = bench_now_ms() - t;
        if (memcmp(bits, dec, raw)) {
            r->ok = false;
        }
    }
    r->enc_bytes = raw;
    r->enc_ms = bench_median(enc, reps);
    r->dec_ms = bench_median(dec_t, reps);
    r->ran = true;
    (void)nwords;
}

static void run_size(SizeRun *sr)
{
    uint64_t raw = sr->raw_bytes;
    size_t out_cap = migaccel_bitmap_encode_bound(sr->nbits);
    size_t zb = ZSTD_compressBound(raw);
    size_t rb = raw + raw / 16 + (1u << 20);  /* roaring: ~raw + 8 B/64 Ki */
    uint64_t *bits, *dec, *summary;
    uint8_t *out;

    if (zb > out_cap) {
        out_cap = zb;
    }
    if (rb > out_cap) {
        out_cap = rb;
    }
    bits = xalloc(raw);
    dec = xalloc(raw);
    out = xalloc(out_cap);
    summary = xalloc((sr->nbits >> SUMMARY_SHIFT) / 8 + 8);
    for (int p = 0; p < P_COUNT; p++) {
        double t = bench_now_ms();

        make_pattern(bits, sr->nbits, p);
        sr->popcount[p] = popcount_bits(bits, sr->nbits / 64);
        run_pattern(sr, p, bits, dec, out, out_cap, summary);
        fprintf(stderr, "  %s %-13s done in %.1f s\n", sr->tag,
                pattern_names[p], (bench_now_ms() - t) / 1e3);
    }
    free(summary);
    free(out);
    free(dec);
    free(bits);
}

/* ---- output ------------------------------------------------------------ */

static void print_table(const SizeRun *sr)
{
    printf("\n== %s guest: %llu pages of 4 KiB, raw bitmap %llu bytes "
           "(%.0f MiB), median of %d ==\n",
           sr->label, (unsigned long long)sr->nbits,
           (unsigned long long)sr->raw_bytes, sr->raw_bytes / 1048576.0, reps);
    printf("%-13s %12s  %-12s %12s %12s %10s %10s %10s  %s\n",
           "pattern", "dirty pages", "method", "encoded B", "raw/enc",
           "enc ms", "dec ms", "total ms", "round trip");
    for (int p = 0; p < P_COUNT; p++) {
        for (int m = 0; m < M_COUNT; m++) {
            const Result *r = &sr->res[p][m];

            printf("%-13s %12llu  %-12s %12zu %12.1f %10.2f %10.2f %10.2f"
                   "  %s\n",
                   m ? "" : pattern_names[p],
                   (unsigned long long)sr->popcount[p], method_names[m],
                   r->enc_bytes, (double)sr->raw_bytes / (double)r->enc_bytes,
                   r->enc_ms, r->dec_ms, r->enc_ms + r->dec_ms,
                   r->ok ? (m == M_ROARING ? "ok (card.+sample)" : "ok")
                         : "MISMATCH");
        }
    }
}

static void write_csv(FILE *f, const SizeRun *runs, int nruns)
{
    fprintf(f, "size,nbits,pattern,dirty_pages,method,raw_bytes,"
               "encoded_bytes,ratio,encode_ms,decode_ms,roundtrip_ok\n");
    for (int s = 0; s < nruns; s++) {
        const SizeRun *sr = &runs[s];

        for (int p = 0; p < P_COUNT; p++) {
            for (int m = 0; m < M_COUNT; m++) {
                const Result *r = &sr->res[p][m];

                fprintf(f, "%s,%llu,%s,%llu,%s,%llu,%zu,%.3f,%.4f,%.4f,%s\n",
                        sr->tag, (unsigned long long)sr->nbits,
                        pattern_names[p],
                        (unsigned long long)sr->popcount[p], method_names[m],
                        (unsigned long long)sr->raw_bytes, r->enc_bytes,
                        (double)sr->raw_bytes / (double)r->enc_bytes,
                        r->enc_ms, r->dec_ms, r->ok ? "yes" : "no");
            }
        }
    }
}

static const char *pf(bool ok)
{
    return ok ? "PASS" : "FAIL";
}

static void print_goals(const SizeRun *runs, int nruns)
{
    bool saw_6t = false;

    printf("\n== Goals (observations, not assertions) ==\n");
    for (int s = 0; s < nruns; s++) {
        const SizeRun *sr = &runs[s];
        double raw = (double)sr->raw_bytes;

        for (int p = 0; p < P_COUNT; p++) {
            const Result *o = &sr->res[p][M_OURS];
            const Result *mc = &sr->res[p][M_MEMCPY];
            double ratio = raw / (double)o->enc_bytes;

            /* sizes: ours+summary is checked to be byte for byte ours */
            if (pattern_clustered[p]) {
                printf("%s %s %-13s ours >= 100x smaller than raw: %.1fx\n",
                       pf(ratio >= 100), sr->tag, pattern_names[p], ratio);
            }
            printf("%s %s %-13s ours <= raw + 1%%: %zu vs %.0f bytes (%+.3f%%)\n",
                   pf(o->enc_bytes <= raw * 1.01), sr->tag, pattern_names[p],
                   o->enc_bytes, raw, ((double)o->enc_bytes / raw - 1) * 100);
            for (int m = M_OURS; m <= M_OURS_SUM; m++) {
                const Result *x = &sr->res[p][m];
                double ot = x->enc_ms + x->dec_ms, mt = mc->enc_ms + mc->dec_ms;

                if (pattern_dense[p]) {
                    printf("%s %s %-13s %s enc+dec within 1.5x of memcpy "
                           "out+back: %.2f vs %.2f ms (%.2fx; enc %.2fx, "
                           "dec %.2fx)\n",
                           pf(ot <= 1.5 * mt), sr->tag, pattern_names[p],
                           method_names[m], ot, mt, ot / mt,
                           x->enc_ms / mc->enc_ms, x->dec_ms / mc->dec_ms);
                }
                if (p == P_CLUST1 && sr->nbits == 6ull << 40 >> 12) {
                    saw_6t = true;
                    printf("%s 6T clusters-1%%   %s enc+dec under 10 ms: "
                           "%.2f ms (enc %.2f, dec %.2f)\n", pf(ot < 10),
                           method_names[m], ot, x->enc_ms, x->dec_ms);
                }
            }
        }
    }
    if (!saw_6t) {
        printf("SKIP 6T clusters-1%%   ours enc+dec under 10 ms: "
               "6 TiB not run (--quick or --sizes)\n");
    }

    printf("\n== Ours vs zstd-1 and CRoaring, per pattern "
           "(size: encoded bytes; speed: enc+dec ms) ==\n");
    for (int s = 0; s < nruns; s++) {
        const SizeRun *sr = &runs[s];

        for (int p = 0; p < P_COUNT; p++) {
            for (int om = M_OURS; om <= M_OURS_SUM; om++) {
                const Result *o = &sr->res[p][om];
                double ot = o->enc_ms + o->dec_ms;

                printf("%-3s %-13s %-12s", sr->tag, pattern_names[p],
                       method_names[om]);
                for (int m = M_ZSTD; m <= M_ROARING; m++) {
                    const Result *x = &sr->res[p][m];
                    double xt = x->enc_ms + x->dec_ms;

                    printf("  vs %-7s size %-4s (%.2fx) speed %-4s (%.2fx)",
                           method_names[m],
                           o->enc_bytes < x->enc_bytes ? "WIN" :
                           o->enc_bytes == x->enc_bytes ? "TIE" : "LOSS",
                           (double)x->enc_bytes / (double)o->enc_bytes,
                           ot < xt ? "WIN" : "LOSS", xt / ot);
                }
                printf("\n");
            }
        }
    }
    printf("(x: the other method's bytes or ms divided by ours; > 1 means "
           "ours is smaller or faster)\n");
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: codec-bench [--sizes LIST] [--quick] [--csv FILE] "
            "[--reps N]\n"
            "  --sizes LIST  comma-separated guest sizes among 6T, 1T, 64G "
            "(default 6T,64G)\n"
            "  --quick       use 1 TiB instead of 6 TiB\n"
            "  --csv FILE    also write every result as CSV to FILE\n"
            "  --reps N      repetitions per measurement, median reported "
            "(default 3, max %d)\n", MAX_REPS);
}

static bool parse_size(const char *s, SizeRun *sr)
{
    if (!strcmp(s, "6T")) {
        sr->label = "6 TiB";
        sr->tag = "6T";
        sr->nbits = (6ull << 40) / PAGE_SIZE;
    } else if (!strcmp(s, "1T")) {
        sr->label = "1 TiB";
        sr->tag = "1T";
        sr->nbits = (1ull << 40) / PAGE_SIZE;
    } else if (!strcmp(s, "64G")) {
        sr->label = "64 GiB";
        sr->tag = "64G";
        sr->nbits = (64ull << 30) / PAGE_SIZE;
    } else {
        return false;
    }
    sr->raw_bytes = sr->nbits / 8;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sizes", required_argument, NULL, 's' },
        { "quick", no_argument, NULL, 'q' },
        { "csv", required_argument, NULL, 'c' },
        { "reps", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sizes = "6T,64G", *csv = NULL;
    bool quick = false, all_ok = true;
    SizeRun *runs;
    int nruns = 0, c;
    char *list, *tok, *save;
    double t0 = bench_now_ms();

    while ((c = getopt_long(argc, argv, "s:qc:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sizes = optarg;
            break;
        case 'q':
            quick = true;
            break;
        case 'c':
            csv = optarg;
            break;
        case 'r':
            reps = atoi(optarg);
            if (reps < 1 || reps > MAX_REPS) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    runs = calloc(8, sizeof(*runs));
    list = strdup(sizes);
    if (!runs || !list) {
        return 2;
    }
    for (tok = strtok_r(list, ",", &save); tok && nruns < 8;
         tok = strtok_r(NULL, ",", &save)) {
        if (quick && !strcmp(tok, "6T")) {
            tok = "1T";
        }
        if (!parse_size(tok, &runs[nruns])) {
            fprintf(stderr, "codec-bench: unknown size '%s'\n", tok);
            usage(stderr);
            return 2;
        }
        nruns++;
    }

    printf("codec-bench: ours (MABM v1) vs zstd %s level 1 vs CRoaring "
           "portable vs memcpy\n", ZSTD_versionString());
    for (int s = 0; s < nruns; s++) {
        fprintf(stderr, "running %s (%d reps)\n", runs[s].label, reps);
        run_size(&runs[s]);
        print_table(&runs[s]);
        fflush(stdout);
    }
    print_goals(runs, nruns);
    for (int s = 0; s < nruns; s++) {
        for (int p = 0; p < P_COUNT; p++) {
            for (int m = 0; m < M_COUNT; m++) {
                all_ok &= runs[s].res[p][m].ok;
            }
        }
    }
    printf("\nround trips: %s; total run time %.1f s\n",
           all_ok ? "all matched" : "SOME MISMATCHED", (bench_now_ms() - t0) / 1e3);

    if (csv) {
        FILE *f = fopen(csv, "w");

        if (!f) {
            fprintf(stderr, "codec-bench: %s: %s\n", csv, strerror(errno));
            return 2;
        }
        write_csv(f, runs, nruns);
        if (fclose(f)) {
            fprintf(stderr, "codec-bench: %s: %s\n", csv, strerror(errno));
            return 2;
        }
    }
    free(list);
    free(runs);
    return all_ok ? 0 : 1;
}
