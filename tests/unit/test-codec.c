/*
 * Unit tests of the compressed dirty bitmap codec (plugin/src/codec.c):
 * round trips over typical and worst-case bitmaps, the size bound, a
 * golden encoding that pins the wire format (docs/bitmap-format.md), and
 * adversarial inputs (truncations, byte flips, hand-made bad records).
 * Buffers handed to the decoder are allocated at their exact size so that
 * the valgrind variant of this test catches any out-of-bounds access.
 * The summary-guided encoder must give the plain encoder's bytes; under
 * valgrind, the words its summary says are clean are made unreadable.
 */
#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_NOACCESS
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#include "codec.h"

#define HDR MIGACCEL_BITMAP_HEADER_SIZE
#define CHUNK MIGACCEL_BITMAP_CHUNK_BITS

static uint64_t rng_state;

static uint64_t rng(void)   /* splitmix64: fixed seed, same run every time */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t nwords(uint64_t nbits)
{
    return (nbits + 63) / 64;
}

static uint64_t *bm_new(uint64_t nbits)
{
    return g_new0(uint64_t, nwords(nbits) ? nwords(nbits) : 1);
}

static void bm_set(uint64_t *bits, uint64_t i)
{
    bits[i / 64] |= 1ULL << (i % 64);
}

static uint64_t lastmask(uint64_t nbits)
{
    return nbits % 64 ? (1ULL << (nbits % 64)) - 1 : ~0ULL;
}

static uint64_t bm_count(const uint64_t *bits, uint64_t nbits)
{
    uint64_t n = 0;
    size_t nw = nwords(nbits);

    for (size_t i = 0; i < nw; i++) {
        uint64_t w = i == nw - 1 ? bits[i] & lastmask(nbits) : bits[i];
        n += (uint64_t)__builtin_popcountll(w);
    }
    return n;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Recompute the header CRC (after a deliberate change elsewhere) */
static void fix_crc(uint8_t *enc, size_t len)
{
    uint32_t crc = migaccel_crc32c(0, enc, 28);

    crc = migaccel_crc32c(crc, enc + HDR, len - HDR);
    put_le(enc + 28, crc, 4);
}

/* Encode into an exactly sized copy; checks the size bound */
static uint8_t *encode(const uint64_t *bits, uint64_t nbits, size_t *len)
{
    size_t bound = migaccel_bitmap_encode_bound(nbits);
    uint8_t *buf = g_malloc(bound);
    ssize_t n;
    uint8_t *res;

    g_assert_cmpuint(bound, >, 0);
    n = migaccel_bitmap_encode(bits, nbits, buf, bound);
    g_assert_cmpint(n, >=, HDR);
    g_assert_cmpuint((size_t)n, <=, bound);
    res = g_memdup2(buf, n);
    g_free(buf);
    *len = n;
    return res;
}

/* Encode, decode into a fresh bitmap, compare; returns the encoded size */
static size_t roundtrip(const uint64_t *bits, uint64_t nbits)
{
    size_t len;
    uint8_t *enc = encode(bits, nbits, &len);
    uint64_t *out = bm_new(nbits);
    uint64_t hdr_nbits = ~0ULL;
    size_t nw = nwords(nbits);
    ssize_t ret;

    /* too small an output buffer is refused, never overrun */
    if (len > HDR) {
        uint8_t *small = g_malloc(len - 1);
        g_assert_cmpint(migaccel_bitmap_encode(bits, nbits, small, len - 1),
                        ==, -ENOSPC);
        g_free(small);
    }

    g_assert_cmpint(migaccel_bitmap_decode_header(enc, len, &hdr_nbits), ==, 0);
    g_assert_cmpuint(hdr_nbits, ==, nbits);
    g_assert_cmpint(migaccel_bitmap_encoded_size(enc, HDR), ==, (ssize_t)len);

    if (nw) {
        out[nw - 1] = ~lastmask(nbits);   /* must survive: past nbits */
    }
    ret = migaccel_bitmap_decode(enc, len, out, nbits);
    g_assert_cmpint(ret, ==, (ssize_t)bm_count(bits, nbits));
    for (size_t i = 0; i < nw; i++) {
        uint64_t want = i == nw - 1 ? (bits[i] & lastmask(nbits)) |
                                      ~lastmask(nbits)
                                    : bits[i];
        if (out[i] != want) {
            g_error("word %zu of %" G_GUINT64_FORMAT "-bit bitmap: "
                    "%016" G_GINT64_MODIFIER "x != %016" G_GINT64_MODIFIER "x",
                    i, nbits, out[i], want);
        }
    }
    /* wrong nbits */
    g_assert_cmpint(migaccel_bitmap_decode(enc, len, out, nbits + 1), ==,
                    -EINVAL);
    if (nbits) {
        g_assert_cmpint(migaccel_bitmap_decode(enc, len, out, nbits - 1), ==,
                        -EINVAL);
    }
    g_free(out);
    g_free(enc);
    return len;
}

static size_t raw_size(uint64_t nbits)
{
    return (nbits + 7) / 8;
}

/* ---- round trips ---- */

static void test_nbits0(void)
{
    uint8_t buf[HDR];
    uint64_t nbits = 1;
    uint64_t word = 0;

    g_assert_cmpuint(migaccel_bitmap_encode_bound(0), ==, HDR);
    g_assert_cmpint(migaccel_bitmap_encode(NULL, 0, buf, sizeof(buf)), ==, HDR);
    g_assert_cmpint(migaccel_bitmap_decode_header(buf, HDR, &nbits), ==, 0);
    g_assert_cmpuint(nbits, ==, 0);
    g_assert_cmpint(migaccel_bitmap_decode(buf, HDR, NULL, 0), ==, 0);
    g_assert_cmpint(migaccel_bitmap_decode(buf, HDR, &word, 1), ==, -EINVAL);
    g_assert_cmpint(migaccel_bitmap_encode(NULL, 0, buf, HDR - 1), ==, -ENOSPC);
    g_assert_cmpint(migaccel_bitmap_encode(NULL, 1, buf, HDR), ==, -EINVAL);
    g_assert_cmpuint(roundtrip(NULL, 0), ==, HDR);
}

static void test_empty(void)
{
    /* 1 TiB of guest RAM, clean: a header and one EMPTY record */
    uint64_t nbits = 1ULL << 28;
    uint64_t *bits = bm_new(nbits);

    g_assert_cmpuint(roundtrip(bits, nbits), ==, HDR + 5);
    g_assert_cmpuint(roundtrip(bits, 12345), ==, HDR + 5);
    /* mostly clean: two dirty pages cost two small records */
    bm_set(bits, 77);
    bm_set(bits, nbits - 1);
    g_test_message("1 TiB block, 2 dirty pages: %zu bytes",
                   roundtrip(bits, nbits));
    g_assert_cmpuint(roundtrip(bits, nbits), <=, HDR + 5 + 5 + 2 * 5 + 5);
    g_free(bits);
}

static void test_full(void)
{
    static const uint64_t sizes[] = {
        1, 63, 64, 65, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 100, 1 << 22,
    };

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        uint64_t *bits = bm_new(sizes[i]);

        memset(bits, 0xff, nwords(sizes[i]) * 8);
        g_assert_cmpuint(roundtrip(bits, sizes[i]), ==, HDR + 5);
        g_free(bits);
    }
}

static void test_single_bit(void)
{
    const uint64_t nbits = 3 * CHUNK + 1000;
    const uint64_t pos[] = {
        0, 1, 63, 64, 4095, CHUNK - 1, CHUNK, 2 * CHUNK + 17, nbits - 1,
    };

    for (size_t i = 0; i < G_N_ELEMENTS(pos); i++) {
        uint64_t *bits = bm_new(nbits);

        bm_set(bits, pos[i]);
        roundtrip(bits, nbits);
        g_free(bits);
    }
}

static void test_last_bit(void)
{
    static const uint64_t sizes[] = { 1, 13, 65 * 64 + 13, CHUNK + 7, 5 * CHUNK + 63 };

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        uint64_t nbits = sizes[i];
        uint64_t *bits = bm_new(nbits);
        uint64_t *clean = bm_new(nbits);
        size_t a, b;

        bm_set(bits, nbits - 1);
        a = roundtrip(bits, nbits);
        /* garbage past nbits in the last word is ignored by the encoder */
        bits[nwords(nbits) - 1] |= ~lastmask(nbits);
        b = roundtrip(bits, nbits);
        g_assert_cmpuint(a, ==, b);
        clean[nwords(nbits) - 1] = ~lastmask(nbits);
        g_assert_cmpuint(roundtrip(clean, nbits), ==, HDR + 5);
        g_free(bits);
        g_free(clean);
    }
}

static void fill_random(uint64_t *bits, uint64_t nbits, double density)
{
    memset(bits, 0, nwords(nbits) * 8);
    if (density >= 1.0) {
        memset(bits, 0xff, nwords(nbits) * 8);
    } else if (density == 0.5) {
        for (size_t i = 0; i < nwords(nbits); i++) {
            bits[i] = rng();
        }
    } else {
        /* about density * nbits distinct pages (collisions are rare) */
        uint64_t n = (uint64_t)(density * (double)nbits);
        for (uint64_t i = 0; i < n; i++) {
            bm_set(bits, rng() % nbits);
        }
    }
}

static void test_random(void)
{
    static const double density[] = { 0.001, 0.01, 0.1, 0.5, 1.0 };
    static const uint64_t sizes[] = { (1 << 20) + 12345, 3 * CHUNK + 5 };

    rng_state = 42;
    for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
        uint64_t nbits = sizes[s];
        uint64_t *bits = bm_new(nbits);

        for (size_t d = 0; d < G_N_ELEMENTS(density); d++) {
            size_t len;

            fill_random(bits, nbits, density[d]);
            len = roundtrip(bits, nbits);
            g_assert_cmpuint(len, <=, raw_size(nbits) + raw_size(nbits) / 100 +
                             MIGACCEL_BITMAP_FIXED_OVERHEAD);
            g_test_message("%" G_GUINT64_FORMAT " pages, %.1f %% random: "
                           "%zu bytes (raw %zu)", nbits, density[d] * 100,
                           len, raw_size(nbits));
        }
        g_free(bits);
    }
}

/* dirty 2 MiB regions (512 pages, aligned) chosen with probability p */
static void fill_clusters(uint64_t *bits, uint64_t nbits, double p)
{
    memset(bits, 0, nwords(nbits) * 8);
    for (uint64_t r = 0; r + 512 <= nbits; r += 512) {
        if ((double)(rng() >> 11) / (double)(1ULL << 53) < p) {
            memset(bits + r / 64, 0xff, 512 / 8);
        }
    }
}

static void test_clusters(void)
{
    uint64_t nbits = 1 << 22;
    uint64_t *bits = bm_new(nbits);
    size_t len;

    rng_state = 7;
    fill_clusters(bits, nbits, 0.01);
    len = roundtrip(bits, nbits);
    /* every run costs 4 bytes (plus record heads): far below raw */
    g_assert_cmpuint(len, <, raw_size(nbits) / 50);
    fill_clusters(bits, nbits, 0.3);
    roundtrip(bits, nbits);
    /* unaligned runs crossing words and chunks */
    memset(bits, 0, nwords(nbits) * 8);
    for (uint64_t s = 100; s + 3000 < nbits; s += 50000) {
        for (uint64_t i = s; i < s + 1000 + s % 2000; i++) {
            bm_set(bits, i);
        }
    }
    roundtrip(bits, nbits);
    g_free(bits);
}

static void test_alternating(void)
{
    static const uint64_t sizes[] = { 7, 64, 1000, CHUNK, CHUNK + 3, (1 << 20) + 5 };

    for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
        for (int phase = 0; phase < 2; phase++) {
            uint64_t nbits = sizes[s];
            uint64_t *bits = bm_new(nbits);
            size_t len;

            memset(bits, phase ? 0xaa : 0x55, nwords(nbits) * 8);
            len = roundtrip(bits, nbits);
            g_assert_cmpuint(len, <=, migaccel_bitmap_encode_bound(nbits));
            g_assert_cmpuint(len, <=, raw_size(nbits) + raw_size(nbits) / 100 +
                             MIGACCEL_BITMAP_FIXED_OVERHEAD);
            g_free(bits);
        }
    }
}

static void test_bound(void)
{
    for (uint64_t nbits = 0; nbits < 300000; nbits += nbits < 200 ? 1 : 997) {
        size_t b = migaccel_bitmap_encode_bound(nbits);

        g_assert_cmpuint(b, >=, HDR + raw_size(nbits));
        g_assert_cmpuint(b, <=, raw_size(nbits) + raw_size(nbits) / 100 +
                         MIGACCEL_BITMAP_FIXED_OVERHEAD);
    }
    /* 6 TiB of guest RAM */
    g_assert_cmpuint(migaccel_bitmap_encode_bound(6ULL << 28), <=,
                     (6ULL << 25) + (6ULL << 25) / 100 +
                     MIGACCEL_BITMAP_FIXED_OVERHEAD);
    g_assert_cmpuint(migaccel_bitmap_encode_bound(MIGACCEL_BITMAP_MAX_NBITS),
                     >, 0);
    g_assert_cmpuint(migaccel_bitmap_encode_bound(MIGACCEL_BITMAP_MAX_NBITS + 1),
                     ==, 0);
}

static void test_decode_or(void)
{
    uint64_t nbits = 5 * CHUNK + 333;
    uint64_t *a = bm_new(nbits), *b = bm_new(nbits), *ab = bm_new(nbits);
    size_t len, nw = nwords(nbits);
    uint8_t *enc;

    rng_state = 99;
    fill_random(a, nbits, 0.01);
    fill_random(b, nbits, 0.5);
    memset(b, 0, CHUNK / 8);                        /* EMPTY */
    memset(b + CHUNK / 64, 0xff, CHUNK / 8);        /* FULL */
    memset(b + 2 * CHUNK / 64, 0, CHUNK / 8);
    bm_set(b, 2 * CHUNK + 5);                       /* ARRAY */
    bm_set(b, 2 * CHUNK + 9);
    for (size_t i = 0; i < nw; i++) {
        ab[i] = a[i] | b[i];
    }
    ab[nw - 1] &= lastmask(nbits);
    enc = encode(b, nbits, &len);
    g_assert_cmpint(migaccel_bitmap_decode(enc, len, a, nbits), ==,
                    (ssize_t)bm_count(b, nbits));
    g_assert_cmpmem(a, nw * 8, ab, nw * 8);
    g_free(enc);
    g_free(a);
    g_free(b);
    g_free(ab);
}

/* The wire format of docs/bitmap-format.md, byte by byte */
static void test_golden(void)
{
    static const uint8_t want[] = {
        'M', 'A', 'B', 'M', 1, 0, 0, 0,         /* magic, version, flags, rsvd */
        100, 0, 0, 0, 0, 0, 0, 0,               /* nbits */
        11, 0, 0, 0, 0, 0, 0, 0,                /* payload length */
        1, 0, 0, 0,                             /* chunk count */
        0x4f, 0x74, 0xb6, 0x98,                 /* CRC32C */
        2, 2, 0,                                /* RUNS, 2 runs */
        0, 0, 4, 0,                             /* pages 0..3 */
        70, 0, 1, 0,                            /* page 70 */
    };
    uint64_t bits[2] = { 0xf, 1ULL << 6 };
    uint8_t out[64];
    ssize_t n;

    g_assert_cmphex(migaccel_crc32c(0, "123456789", 9), ==, 0xe3069283);
    /* 8 bytes at a time (SSE4.2) or one at a time, split anywhere: same CRC */
    {
        static const char text[] = "migaccel: the CRC32C of a longer text, "
                                   "long enough for several 8-byte steps";
        size_t len = sizeof(text) - 1;
        uint32_t whole = migaccel_crc32c(0, text, len);

        for (size_t cut = 0; cut <= len; cut++) {
            g_assert_cmphex(migaccel_crc32c(migaccel_crc32c(0, text, cut),
                                            text + cut, len - cut), ==, whole);
        }
        g_assert_cmphex(migaccel_crc32c(0, text + 3, len - 3), ==,
                        migaccel_crc32c(migaccel_crc32c(0, text + 3, 1),
                                        text + 4, len - 4));
    }
    n = migaccel_bitmap_encode(bits, 100, out, sizeof(out));
    g_assert_cmpmem(out, n, want, sizeof(want));
}

/* ---- adversarial inputs ---- */

/* A small encoding holding every container type, short last chunk too */
static uint64_t *mixed_bitmap(uint64_t *nbits_out)
{
    uint64_t nbits = 6 * CHUNK + 1000;
    uint64_t *bits = bm_new(nbits);

    rng_state = 1234;
    /* chunk 0: EMPTY */
    memset(bits + 1 * CHUNK / 64, 0xff, CHUNK / 8);        /* 1: FULL */
    for (uint64_t i = 2 * CHUNK + 10; i < 2 * CHUNK + 3000; i++) {
        bm_set(bits, i);                                    /* 2: RUNS */
    }
    for (uint64_t i = 2 * CHUNK + 5000; i < 3 * CHUNK; i++) {
        bm_set(bits, i);
    }
    for (uint64_t i = 0; i < 20; i++) {
        bm_set(bits, 3 * CHUNK + i * 1000);                 /* 3: ARRAY */
    }
    for (size_t i = 0; i < CHUNK / 64; i++) {
        bits[4 * CHUNK / 64 + i] = rng();                   /* 4: BITS */
    }
    /* 5: EMPTY */
    for (size_t i = 0; i < 16; i++) {
        bits[6 * CHUNK / 64 + i] = rng() | 1;               /* 6: BITS, short */
    }
    *nbits_out = nbits;
    return bits;
}

static void test_mixed_sizes(void)
{
    uint64_t nbits;
    uint64_t *bits = mixed_bitmap(&nbits);

    /* 5 + 5 + (3 + 8) + (3 + 40) + 4097 + 5 + (1 + 125) */
    g_assert_cmpuint(roundtrip(bits, nbits), ==, HDR + 4292);
    g_free(bits);
}

/* Decode a copy of enc[0 .. len) held in a buffer of exactly len bytes */
static ssize_t decode_exact(const uint8_t *enc, size_t len, uint64_t *bits,
                            uint64_t nbits)
{
    uint8_t *copy = g_memdup2(enc, len ? len : 1);
    ssize_t ret = migaccel_bitmap_decode(len ? copy : NULL, len, bits, nbits);

    g_free(copy);
    return ret;
}

static void assert_zero(const uint64_t *bits, uint64_t nbits)
{
    for (size_t i = 0; i < nwords(nbits); i++) {
        g_assert_cmphex(bits[i], ==, 0);
    }
}

static void test_truncation(void)
{
    uint64_t nbits;
    uint64_t *bits = mixed_bitmap(&nbits);
    uint64_t *out = bm_new(nbits);
    size_t len;
    uint8_t *enc = encode(bits, nbits, &len);

    for (size_t l = 0; l < len; l++) {
        uint8_t *t = g_memdup2(enc, len);
        ssize_t ret;

        /* as sent, and with length + CRC rewritten so the records are parsed */
        g_assert_cmpint(decode_exact(t, l, out, nbits), ==, -EINVAL);
        if (l >= HDR) {
            put_le(t + 16, l - HDR, 8);
            fix_crc(t, l);
            ret = decode_exact(t, l, out, nbits);
            g_assert_cmpint(ret, ==, -EINVAL);
        }
        assert_zero(out, nbits);
        g_free(t);
    }
    /* trailing garbage, with and without a matching length and CRC */
    {
        uint8_t *t = g_malloc(len + 1);

        memcpy(t, enc, len);
        t[len] = 0;
        g_assert_cmpint(decode_exact(t, len + 1, out, nbits), ==, -EINVAL);
        put_le(t + 16, len + 1 - HDR, 8);
        fix_crc(t, len + 1);
        g_assert_cmpint(decode_exact(t, len + 1, out, nbits), ==, -EINVAL);
        assert_zero(out, nbits);
        g_free(t);
    }
    g_free(enc);
    g_free(out);
    g_free(bits);
}

static void check_flip(const uint8_t *t, size_t len, uint64_t *out,
                       uint64_t nbits, bool must_fail)
{
    size_t nw = nwords(nbits);
    ssize_t ret;

    memset(out, 0, nw * 8);
    out[nw - 1] = ~lastmask(nbits);
    ret = decode_exact(t, len, out, nbits);
    if (must_fail) {
        g_assert_cmpint(ret, <, 0);
    }
    g_assert_cmphex(out[nw - 1] & ~lastmask(nbits), ==, ~lastmask(nbits));
    out[nw - 1] &= lastmask(nbits);
    if (ret < 0) {
        g_assert_true(ret == -EINVAL || ret == -EBADMSG);
        assert_zero(out, nbits);
    } else {
        g_assert_cmpuint((uint64_t)ret, <=, nbits);
        g_assert_cmpuint((uint64_t)ret, ==, bm_count(out, nbits));
    }
}

static void test_byte_flips(void)
{
    static const uint8_t xors[] = { 0x01, 0x80, 0xff };
    uint64_t nbits;
    uint64_t *bits = mixed_bitmap(&nbits);
    uint64_t *out = bm_new(nbits);
    size_t len;
    uint8_t *enc = encode(bits, nbits, &len);
    uint8_t *t = g_malloc(len);
    unsigned decoded = 0;

    for (size_t i = 0; i < len; i++) {
        for (size_t x = 0; x < G_N_ELEMENTS(xors); x++) {
            memcpy(t, enc, len);
            t[i] ^= xors[x];
            /* the CRC catches it */
            check_flip(t, len, out, nbits, true);
            /* with the CRC made to match, the parser must cope alone */
            if (i < 28 || i >= HDR) {
                fix_crc(t, len);
                check_flip(t, len, out, nbits, false);
                decoded += bm_count(out, nbits) != 0;
            }
        }
    }
    g_test_message("%zu bytes x %zu flips, %u decoded to a valid bitmap",
                   len, G_N_ELEMENTS(xors), decoded);
    g_free(t);
    g_free(enc);
    g_free(out);
    g_free(bits);
}

/* Header + payload with a valid length and CRC */
static uint8_t *make_enc(uint64_t nbits, const uint8_t *payload, size_t plen,
                         size_t *len)
{
    uint8_t *e = g_malloc0(HDR + plen);

    memcpy(e, "MABM", 4);
    e[4] = 1;
    put_le(e + 8, nbits, 8);
    put_le(e + 16, plen, 8);
    put_le(e + 24, (nbits + CHUNK - 1) / CHUNK, 4);
    memcpy(e + HDR, payload, plen);
    fix_crc(e, HDR + plen);
    *len = HDR + plen;
    return e;
}

static ssize_t try_payload(uint64_t nbits, const uint8_t *payload, size_t plen)
{
    size_t len;
    uint8_t *e = make_enc(nbits, payload, plen, &len);
    uint64_t *out = bm_new(nbits);
    ssize_t ret = decode_exact(e, len, out, nbits);

    if (ret < 0) {
        assert_zero(out, nbits);
    }
    g_free(out);
    g_free(e);
    return ret;
}

#define TRY(nbits, ...) \
    try_payload(nbits, (const uint8_t[]){ __VA_ARGS__ }, \
                sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void test_bad_records(void)
{
    const uint64_t two = 2 * CHUNK;

    /* the builder itself yields valid encodings */
    g_assert_cmpint(TRY(two, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0), ==, CHUNK);
    g_assert_cmpint(TRY(100, 2, 2, 0, 0, 0, 4, 0, 4, 0, 1, 0), ==, 5);
    g_assert_cmpint(TRY(100, 3, 2, 0, 5, 0, 99, 0), ==, 2);

    /* unknown type */
    g_assert_cmpint(TRY(100, 5, 0, 0, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 0xff), ==, -EINVAL);
    /* EMPTY/FULL count 0 or beyond the chunk count */
    g_assert_cmpint(TRY(100, 0, 0, 0, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(two, 0, 3, 0, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(two, 1, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff), ==,
                    -EINVAL);
    /* too few chunks covered */
    g_assert_cmpint(TRY(two, 0, 1, 0, 0, 0), ==, -EINVAL);
    /* RUNS: none, zero length, overlap, unsorted, past the (short) chunk */
    g_assert_cmpint(TRY(100, 2, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 2, 1, 0, 3, 0, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 2, 2, 0, 0, 0, 5, 0, 4, 0, 1, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 2, 2, 0, 50, 0, 1, 0, 10, 0, 1, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 2, 1, 0, 90, 0, 11, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 2, 1, 0, 90, 0, 10, 0), ==, 10);
    g_assert_cmpint(TRY(CHUNK, 2, 1, 0, 0xff, 0xff, 0xff, 0xff), ==, -EINVAL);
    g_assert_cmpint(TRY(CHUNK, 2, 1, 0, 1, 0, 0, 0x80), ==, -EINVAL);
    /* RUNS count larger than the payload */
    g_assert_cmpint(TRY(100, 2, 0xff, 0xff, 0, 0, 1, 0), ==, -EINVAL);
    /* ARRAY: none, unsorted, duplicate, past the chunk, short */
    g_assert_cmpint(TRY(100, 3, 0, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 3, 2, 0, 6, 0, 5, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 3, 2, 0, 5, 0, 5, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 3, 1, 0, 100, 0), ==, -EINVAL);
    g_assert_cmpint(TRY(100, 3, 3, 0, 1, 0, 2, 0), ==, -EINVAL);
    /* BITS: short, bit past a short chunk */
    g_assert_cmpint(TRY(12, 4, 0xff), ==, -EINVAL);
    g_assert_cmpint(TRY(12, 4, 0xff, 0x10), ==, -EINVAL);
    g_assert_cmpint(TRY(12, 4, 0xff, 0x0f), ==, 12);
    /* trailing byte after the last chunk */
    g_assert_cmpint(TRY(100, 0, 1, 0, 0, 0, 0), ==, -EINVAL);
}

static void test_bad_header(void)
{
    uint64_t bits[2] = { 0xf0f0, 3 };
    size_t len;
    uint8_t *enc = encode(bits, 100, &len);
    uint64_t nbits;
    static const struct { size_t off; uint8_t val; } bad[] = {
        { 0, 'X' }, { 3, 'N' }, { 4, 0 }, { 4, 2 }, { 5, 1 }, { 6, 1 }, { 7, 1 },
        { 8, 99 }, { 15, 1 }, { 16, 12 }, { 23, 1 }, { 24, 2 }, { 27, 1 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint8_t *t = g_memdup2(enc, len);
        uint64_t out[2] = { 0, 0 };

        t[bad[i].off] = bad[i].val;
        fix_crc(t, len);
        g_assert_cmpint(decode_exact(t, len, out, 100), ==, -EINVAL);
        g_assert_cmphex(out[0] | out[1], ==, 0);
        g_free(t);
    }
    /* bad CRC */
    enc[28] ^= 1;
    g_assert_cmpint(decode_exact(enc, len, bits, 100), ==, -EBADMSG);
    enc[28] ^= 1;
    /* nbits past the limit, header shorter than its fixed size */
    put_le(enc + 8, MIGACCEL_BITMAP_MAX_NBITS + 1, 8);
    g_assert_cmpint(migaccel_bitmap_decode_header(enc, len, &nbits), ==, -EINVAL);
    g_assert_cmpint(migaccel_bitmap_decode_header(enc, HDR - 1, &nbits), ==,
                    -EINVAL);
    g_assert_cmpint(migaccel_bitmap_decode_header(NULL, 0, &nbits), ==, -EINVAL);
    g_free(enc);
}

/* ---- CRC32C: the three-stream and table paths against a bitwise one ---- */

static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) {
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
        }
    }
    return ~crc;
}

static void test_crc(void)
{
    /* around the three-stream block sizes: 3 x 256 and 3 x 4096 bytes */
    static const size_t lens[] = {
        767, 768, 769, 1535, 1536, 1543, 12287, 12288, 12289,
        12288 + 768 + 7, 3 * 12288 + 2 * 768 + 5, 65536 + 13, 100003,
    };
    size_t max = 100003 + 8;
    uint8_t *buf = g_malloc(max);

    rng_state = 5;
    for (size_t i = 0; i < max; i++) {
        buf[i] = (uint8_t)rng();
    }
    for (size_t len = 0; len <= 300; len++) {
        for (size_t off = 0; off < 8; off += 3) {
            g_assert_cmphex(migaccel_crc32c(0, buf + off, len), ==,
                            ref_crc32c(0, buf + off, len));
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(lens); i++) {
        for (size_t off = 0; off < 8; off += 5) {
            uint32_t want = ref_crc32c(0, buf + off, lens[i]);

            g_assert_cmphex(migaccel_crc32c(0, buf + off, lens[i]), ==, want);
            /* split anywhere, from a non-zero CRC */
            for (size_t cut = 0; cut <= lens[i]; cut += 1 + cut / 3) {
                g_assert_cmphex(migaccel_crc32c(migaccel_crc32c(0, buf + off,
                                                                cut),
                                                buf + off + cut, lens[i] - cut),
                                ==, want);
            }
        }
    }
    /* zeros (the three-stream combination starts from 0 registers) */
    memset(buf, 0, max);
    g_assert_cmphex(migaccel_crc32c(0x12345678, buf, 40000), ==,
                    ref_crc32c(0x12345678, buf, 40000));
    g_free(buf);
}

/* ---- the summary-guided encoder ---- */

static uint64_t nregions_of(uint64_t nbits, unsigned shift)
{
    return (nbits + (1ULL << shift) - 1) >> shift;
}

static size_t summary_words(uint64_t nbits, unsigned shift)
{
    return (nregions_of(nbits, shift) + 63) / 64;
}

static bool summary_bit(const uint64_t *sum, uint64_t r)
{
    return (sum[r / 64] >> (r % 64)) & 1;
}

/* One bit per 2^shift pages holding a dirty one; exactly sized */
static uint64_t *summary_exact(const uint64_t *bits, uint64_t nbits,
                               unsigned shift)
{
    size_t nw = summary_words(nbits, shift);
    uint64_t *sum = g_new0(uint64_t, nw ? nw : 1);

    for (size_t i = 0; i < nwords(nbits); i++) {
        uint64_t w = i == nwords(nbits) - 1 ? bits[i] & lastmask(nbits)
                                            : bits[i];

        if (w) {
            uint64_t r = (i * 64) >> shift;

            sum[r / 64] |= 1ULL << (r % 64);
        }
    }
    return sum;
}

/*
 * Encode with the summary and compare with the plain encoding of the
 * bitmap the summary describes (bits where the summary is set, 0
 * elsewhere: bits itself when the summary is a superset). Under
 * valgrind, the words of clear regions are unreadable meanwhile.
 */
static void check_summary(uint64_t *bits, uint64_t nbits,
                          const uint64_t *sum, unsigned shift)
{
    size_t nw = nwords(nbits), wlen;
    size_t bound = migaccel_bitmap_encode_bound(nbits);
    uint64_t *masked = bm_new(nbits);
    uint64_t rw = 1ULL << (shift - 6);  /* words per region */
    uint8_t *want, *got = g_malloc(bound);
    ssize_t n;

    for (size_t i = 0; i < nw; i++) {
        masked[i] = summary_bit(sum, (i * 64) >> shift) ? bits[i] : 0;
    }
    want = encode(masked, nbits, &wlen);

    for (uint64_t r = 0; r < nregions_of(nbits, shift); r++) {
        if (!summary_bit(sum, r)) {
            uint64_t w1 = (r + 1) * rw < nw ? (r + 1) * rw : nw;

            VALGRIND_MAKE_MEM_NOACCESS(bits + r * rw, (w1 - r * rw) * 8);
        }
    }
    n = migaccel_bitmap_encode_summary(nbits ? bits : NULL, nbits, sum, shift,
                                       got, bound);
    if (n == (ssize_t)wlen && wlen > HDR) {
        /* exactly sized output, and one byte short */
        g_assert_cmpint(migaccel_bitmap_encode_summary(bits, nbits, sum, shift,
                                                       got, wlen), ==, n);
        g_assert_cmpint(migaccel_bitmap_encode_summary(bits, nbits, sum, shift,
                                                       got, wlen - 1), ==,
                        -ENOSPC);
        n = migaccel_bitmap_encode_summary(bits, nbits, sum, shift, got, bound);
    }
    if (nw) {
        VALGRIND_MAKE_MEM_DEFINED(bits, nw * 8);
    }
    if (n != (ssize_t)wlen || memcmp(got, want, wlen)) {
        g_error("summary shift %u, %" G_GUINT64_FORMAT " pages: %zd bytes, "
                "%zu without summary%s", shift, nbits, n, wlen,
                n == (ssize_t)wlen ? " (contents differ)" : "");
    }
    g_free(got);
    g_free(want);
    g_free(masked);
}

enum {
    SUM_EXACT,          /* the exact summary */
    SUM_EXTRA,          /* plus random set bits */
    SUM_ONES,           /* every bit set, also those past the last region */
    SUM_TAIL,           /* exact, the bits past the last region set */
    SUM_BROKEN,         /* exact minus random set bits: a broken promise */
    SUM_KINDS
};

static uint64_t *make_summary(const uint64_t *bits, uint64_t nbits,
                              unsigned shift, int kind)
{
    uint64_t *sum = summary_exact(bits, nbits, shift);
    size_t nw = summary_words(nbits, shift);
    uint64_t nreg = nregions_of(nbits, shift);

    for (size_t i = 0; i < nw; i++) {
        switch (kind) {
        case SUM_EXTRA:
            sum[i] |= rng() & rng();
            break;
        case SUM_ONES:
            sum[i] = ~0ULL;
            break;
        case SUM_BROKEN:
            sum[i] &= rng() | rng();
            break;
        }
    }
    if (kind == SUM_TAIL && nreg % 64) {
        sum[nw - 1] |= ~0ULL << (nreg % 64);
    }
    return sum;
}

enum {
    PAT_SPARSE, PAT_CLUSTERS, PAT_HALF, PAT_ALT, PAT_FULL, PAT_EDGES,
    PAT_EVERY_OTHER, PAT_ENDS, PAT_LIMITS, PAT_COUNT
};

/* Bitmaps that stress the region and chunk boundaries of shift */
static void fill_pattern(uint64_t *bits, uint64_t nbits, unsigned shift,
                         int pat)
{
    uint64_t region = 1ULL << shift;

    memset(bits, 0, nwords(nbits) * 8);
    if (!nbits) {
        return;
    }
    switch (pat) {
    case PAT_SPARSE:
        for (uint64_t i = 0; i < nbits / 500 + 1; i++) {
            bm_set(bits, rng() % nbits);
        }
        break;
    case PAT_CLUSTERS:      /* whole regions, 5 % of them */
        for (uint64_t r = 0; r * region < nbits; r++) {
            if (rng() % 20 == 0) {
                for (uint64_t i = r * region; i < (r + 1) * region && i < nbits;
                     i++) {
                    bm_set(bits, i);
                }
            }
        }
        break;
    case PAT_HALF:
        fill_random(bits, nbits, 0.5);
        break;
    case PAT_ALT:
        memset(bits, 0x55, nwords(nbits) * 8);
        break;
    case PAT_FULL:
        memset(bits, 0xff, nwords(nbits) * 8);
        break;
    case PAT_EDGES:         /* runs across region boundaries, and up to them */
        for (uint64_t b = region; b < nbits; b += region * (1 + rng() % 3)) {
            uint64_t from = b - 1 - rng() % 70, to = b + rng() % 70;

            for (uint64_t i = from; i < to && i < nbits; i++) {
                bm_set(bits, i);
            }
            if (b + region <= nbits) {
                bm_set(bits, b + region - 1);
            }
        }
        break;
    case PAT_EVERY_OTHER:   /* the most stretches per chunk */
        for (uint64_t r = 0; r * region < nbits; r += 2) {
            uint64_t i = r * region + rng() % region;

            bm_set(bits, i < nbits ? i : r * region);
        }
        break;
    case PAT_ENDS:          /* first and last page, garbage past nbits */
        bm_set(bits, 0);
        bm_set(bits, nbits - 1);
        bits[nwords(nbits) - 1] |= ~lastmask(nbits);
        break;
    default:                /* PAT_LIMITS: RUNS/ARRAY/BITS size limits */
        for (uint64_t c = 0; c * CHUNK < nbits; c++) {
            /* 1023 + c % 3 runs of 2 pages, from page 5 of the chunk */
            for (uint64_t k = 0; k < 1023 + c % 3; k++) {
                uint64_t i = c * CHUNK + 5 + 31 * k;

                if (i + 1 < nbits) {
                    bm_set(bits, i);
                    bm_set(bits, i + 1);
                }
            }
        }
        break;
    }
}

static void test_summary_equal(void)
{
    rng_state = 77;
    for (unsigned shift = 6; shift <= MIGACCEL_BITMAP_CHUNK_SHIFT; shift++) {
        uint64_t region = 1ULL << shift;
        const uint64_t sizes[] = {
            0, 1, 63, 64, 65, region - 1, region + 1, 3 * region + 17,
            CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3 * region - 5,
            3 * CHUNK + 64 * 7 + 13,
        };

        for (size_t z = 0; z < G_N_ELEMENTS(sizes); z++) {
            uint64_t nbits = sizes[z];
            uint64_t *bits = bm_new(nbits);

            for (int pat = 0; pat < PAT_COUNT; pat++) {
                fill_pattern(bits, nbits, shift, pat);
                for (int kind = 0; kind < SUM_KINDS; kind++) {
                    uint64_t *sum = make_summary(bits, nbits, shift, kind);

                    check_summary(bits, nbits, sum, shift);
                    g_free(sum);
                }
            }
            g_free(bits);
        }
    }
}

/* The summary encoder reads no word of a clean region: 1 TiB, 2 clusters */
static void test_summary_skips(void)
{
    uint64_t nbits = 1ULL << 28, nw = nwords(nbits);
    uint64_t *bits = bm_new(nbits), *sum;
    size_t plain_len;
    uint8_t *plain;

    memset(bits + 1000 * 8, 0xff, 64);              /* pages 512000 .. */
    memset(bits + (nw - 8), 0xff, 64);              /* the last 512 */
    bits[77777] = 0x5;
    plain = encode(bits, nbits, &plain_len);
    g_assert_cmpuint(plain_len, <, 100);
    sum = summary_exact(bits, nbits, 9);
    check_summary(bits, nbits, sum, 9);
    g_free(sum);
    sum = summary_exact(bits, nbits, 15);
    check_summary(bits, nbits, sum, 15);
    g_free(sum);
    g_free(plain);
    g_free(bits);
}

static void test_summary_args(void)
{
    uint64_t bits[2] = { 0xf0, 0 }, sum[1] = { 1 };
    uint8_t out[HDR + 64], want[HDR + 64];
    ssize_t n = migaccel_bitmap_encode(bits, 100, want, sizeof(want));

    g_assert_cmpint(n, >, HDR);
    /* summary_shift out of range */
    for (unsigned shift = 0; shift < 64; shift += shift < 20 ? 1 : 11) {
        ssize_t r = migaccel_bitmap_encode_summary(bits, 100, sum, shift, out,
                                                   sizeof(out));

        if (shift < 6 || shift > MIGACCEL_BITMAP_CHUNK_SHIFT) {
            g_assert_cmpint(r, ==, -EINVAL);
        } else {
            g_assert_cmpint(r, ==, n);
            g_assert_cmpmem(out, r, want, n);
        }
    }
    /* no summary: the shift is not looked at; a full scan */
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 100, NULL, 99, out,
                                                   sizeof(out)), ==, n);
    g_assert_cmpmem(out, n, want, n);
    /* the plain encoder's other checks */
    g_assert_cmpint(migaccel_bitmap_encode_summary(NULL, 100, sum, 9, out,
                                                   sizeof(out)), ==, -EINVAL);
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 100, sum, 9, NULL,
                                                   sizeof(out)), ==, -EINVAL);
    g_assert_cmpint(migaccel_bitmap_encode_summary(
                        bits, MIGACCEL_BITMAP_MAX_NBITS + 1, sum, 9, out,
                        sizeof(out)), ==, -EINVAL);
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 100, sum, 9, out,
                                                   HDR - 1), ==, -ENOSPC);
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 100, sum, 9, out,
                                                   (size_t)n - 1), ==, -ENOSPC);
    /* nbits 0: no bitmap, no summary word read; 1 page */
    g_assert_cmpint(migaccel_bitmap_encode_summary(NULL, 0, NULL, 9, out,
                                                   sizeof(out)), ==, HDR);
    g_assert_cmpint(migaccel_bitmap_encode_summary(NULL, 0, sum, 9, out,
                                                   sizeof(out)), ==, HDR);
    g_assert_cmpint(migaccel_bitmap_encode_summary(NULL, 0, sum, 5, out,
                                                   sizeof(out)), ==, -EINVAL);
    bits[0] = 1;
    n = migaccel_bitmap_encode(bits, 1, want, sizeof(want));
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 1, sum, 6, out,
                                                   sizeof(out)), ==, n);
    g_assert_cmpmem(out, n, want, n);
    sum[0] = 0;     /* a broken promise: the page is taken as clean */
    g_assert_cmpint(migaccel_bitmap_encode_summary(bits, 1, sum, 6, out,
                                                   sizeof(out)), ==, HDR + 5);
}

/* Exactly at the RUNS / ARRAY / BITS size limits of a full chunk */
static void test_choice_limits(void)
{
    static const struct { uint32_t runs, len; uint8_t type; } cases[] = {
        { 1023, 2, MIGACCEL_BM_RUNS },      /* 4095 = ARRAY 4095 < 4097 */
        { 1024, 2, MIGACCEL_BM_BITS },      /* 4099, 4099 > 4097 */
        { 1023, 1, MIGACCEL_BM_ARRAY },     /* ARRAY 2049 < RUNS 4095 */
        { 2047, 1, MIGACCEL_BM_ARRAY },     /* ARRAY 4097 = BITS 4097 */
        { 2048, 1, MIGACCEL_BM_BITS },
        { 1023, 3, MIGACCEL_BM_RUNS },      /* RUNS 4095 < ARRAY 6141 */
        { 1024, 3, MIGACCEL_BM_BITS },
        { 1, 2047, MIGACCEL_BM_RUNS },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        for (int late = 0; late < 2; late++) {
            uint64_t *bits = bm_new(CHUNK);
            uint64_t *sum;
            size_t len;
            uint8_t *enc;

            /* the runs spread over the chunk, or packed at its end */
            for (uint32_t r = 0; r < cases[i].runs; r++) {
                uint32_t start = late ? CHUNK - 8 * (cases[i].runs - r)
                                      : r * (CHUNK / cases[i].runs);

                for (uint32_t k = 0; k < cases[i].len && start + k < CHUNK;
                     k++) {
                    bm_set(bits, start + k);
                }
            }
            enc = encode(bits, CHUNK, &len);
            g_assert_cmpuint(enc[HDR], ==, cases[i].type);
            roundtrip(bits, CHUNK);
            sum = summary_exact(bits, CHUNK, 9);
            check_summary(bits, CHUNK, sum, 9);
            g_free(sum);
            g_free(enc);
            g_free(bits);
        }
    }
}

/* Inputs longer than the window the decoder's CRC runs ahead by */
static void test_decode_large(void)
{
    uint64_t nbits = 100 * CHUNK + 77;
    uint64_t *bits = bm_new(nbits), *out = bm_new(nbits);
    size_t len;
    uint8_t *enc, *t;
    static const size_t where[] = { HDR, HDR + 4097 * 3, 0, 1 };

    rng_state = 31;
    fill_random(bits, nbits, 0.5);
    bits[nwords(nbits) - 1] &= lastmask(nbits);
    memset(bits + 10 * CHUNK / 64, 0, CHUNK / 8);       /* an EMPTY */
    enc = encode(bits, nbits, &len);
    g_assert_cmpuint(len, >, 400000);
    g_assert_cmpint(decode_exact(enc, len, out, nbits), ==,
                    (ssize_t)bm_count(bits, nbits));
    g_assert_cmpmem(out, nwords(nbits) * 8, bits, nwords(nbits) * 8);

    t = g_malloc(len);
    for (size_t i = 0; i < G_N_ELEMENTS(where); i++) {
        /* a bad type byte early on, a flipped bit in the middle or the end */
        size_t at = where[i] == 0 ? len / 2 : where[i] == 1 ? len - 1
                                                              : where[i];

        memcpy(t, enc, len);
        t[at] ^= where[i] <= 1 ? 0x10 : 0x07;
        memset(out, 0, nwords(nbits) * 8);
        g_assert_cmpint(decode_exact(t, len, out, nbits), ==, -EBADMSG);
        assert_zero(out, nbits);
        fix_crc(t, len);
        if (where[i] > 1) {
            g_assert_cmpint(decode_exact(t, len, out, nbits), ==, -EINVAL);
            assert_zero(out, nbits);
        } else {
            ssize_t ret = decode_exact(t, len, out, nbits);

            g_assert_cmpint(ret, ==, (ssize_t)bm_count(out, nbits));
        }
    }
    g_free(t);
    g_free(enc);
    g_free(out);
    g_free(bits);
}

/* Encoded sizes of a 64 GiB block (16 Mi pages); no assertion on timing */
static void test_report_sizes(void)
{
    uint64_t nbits = 1ULL << 24;
    uint64_t *bits = bm_new(nbits);
    size_t len;

    rng_state = 2024;
    fill_random(bits, nbits, 0.001);
    len = roundtrip(bits, nbits);
    g_test_message("64 GiB, 0.1 %% random: %zu bytes (raw %zu)", len,
                   raw_size(nbits));
    fill_clusters(bits, nbits, 0.01);
    len = roundtrip(bits, nbits);
    g_test_message("64 GiB, 1 %% in 2 MiB clusters: %zu bytes", len);
    fill_random(bits, nbits, 1.0);
    len = roundtrip(bits, nbits);
    g_test_message("64 GiB, 100 %%: %zu bytes", len);
    memset(bits, 0x55, nwords(nbits) * 8);
    len = roundtrip(bits, nbits);
    g_test_message("64 GiB, alternating: %zu bytes (bound %zu)", len,
                   migaccel_bitmap_encode_bound(nbits));
    g_free(bits);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/codec/nbits0", test_nbits0);
    g_test_add_func("/codec/empty", test_empty);
    g_test_add_func("/codec/full", test_full);
    g_test_add_func("/codec/single-bit", test_single_bit);
    g_test_add_func("/codec/last-bit", test_last_bit);
    g_test_add_func("/codec/random", test_random);
    g_test_add_func("/codec/clusters", test_clusters);
    g_test_add_func("/codec/alternating", test_alternating);
    g_test_add_func("/codec/bound", test_bound);
    g_test_add_func("/codec/decode-or", test_decode_or);
    g_test_add_func("/codec/golden", test_golden);
    g_test_add_func("/codec/mixed-sizes", test_mixed_sizes);
    g_test_add_func("/codec/truncation", test_truncation);
    g_test_add_func("/codec/byte-flips", test_byte_flips);
    g_test_add_func("/codec/bad-records", test_bad_records);
    g_test_add_func("/codec/bad-header", test_bad_header);
    g_test_add_func("/codec/crc", test_crc);
    g_test_add_func("/codec/summary-equal", test_summary_equal);
    g_test_add_func("/codec/summary-skips", test_summary_skips);
    g_test_add_func("/codec/summary-args", test_summary_args);
    g_test_add_func("/codec/choice-limits", test_choice_limits);
    g_test_add_func("/codec/decode-large", test_decode_large);
    g_test_add_func("/codec/report-sizes", test_report_sizes);
    return g_test_run();
}
