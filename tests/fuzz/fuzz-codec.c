/*
 * libFuzzer harness of the compressed dirty bitmap codec (plugin/src/codec.c,
 * format in docs/bitmap-format.md). Every input is used three ways:
 *
 * 1. as an encoded stream, as is: migaccel_bitmap_decode_header(),
 *    migaccel_bitmap_encoded_size() and migaccel_bitmap_decode() must agree
 *    with a reference decoder written from the format document (same return
 *    value, same bits), leave the bitmap untouched on error and the bits of
 *    the last word past nbits always; a decoded bitmap must re-encode to
 *    the reference encoder's bytes, within the bound, and decode back to
 *    itself, be ORed into a dirty bitmap, and the encoding cut short or
 *    extended by a byte (length and CRC fixed) must be refused;
 * 2. the same with payload_len, chunk_count and the CRC rewritten to match,
 *    so that mutated records reach the record parser instead of failing the
 *    CRC check;
 * 3. as a raw bitmap (byte 0: how to fill it, bytes 1..4: the bit count,
 *    the rest: the bits or runs), encoded, checked against the bound and
 *    the reference encoder byte for byte, and decoded back exactly.
 *
 * Every bitmap encoded (of up to FUZZ_MAX_RAW_NBITS pages) is also
 * encoded with a summary (migaccel_bitmap_encode_summary(), summary_shift
 * 6 .. 15 from the input): the exact summary, one with extra bits, all
 * bits set or bits set past the last region must give the same bytes;
 * one with a set bit cleared (a broken promise) must give the reference
 * encoding of the bitmap without that region.
 *
 * Any disagreement abort()s; ASan/UBSan catch the rest (every buffer is
 * malloc()ed at its exact size). A custom mutator (below) sets record and
 * header fields to values next to the limits the decoder checks, half of
 * the time. Built and run by tests/fuzz/run-fuzz.sh.
 * With -DMIGACCEL_FUZZ_SEEDGEN this file is instead a program writing a
 * seed corpus of valid encodings (every container type) to a directory.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define HDR     MIGACCEL_BITMAP_HEADER_SIZE
#define CHUNK   ((uint64_t)MIGACCEL_BITMAP_CHUNK_BITS)

/* Largest header nbits the harness decodes: 64 Mi pages, an 8 MiB bitmap */
#define FUZZ_MAX_DECODE_NBITS   (UINT64_C(1) << 26)
/* The OR-into-a-dirty-bitmap check costs another copy: smaller bitmaps */
#define FUZZ_MAX_OR_NBITS       (UINT64_C(1) << 20)
/* Largest raw bitmap: 8 chunks and a short one; most are small (faster) */
#define FUZZ_MAX_RAW_NBITS      (8 * CHUNK + CHUNK / 2)
#define FUZZ_SMALL_RAW_NBITS    4096

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* The same, printing both values (as signed 64-bit integers) */
#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                       \
                                                                            \
        if (a_ != b_) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, (long long)a_, (long long)b_); \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* ---- helpers ---- */

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static size_t nwords(uint64_t nbits)
{
    return (size_t)((nbits + 63) / 64);
}

static uint64_t lastmask(uint64_t nbits)
{
    return nbits % 64 ? (UINT64_C(1) << (nbits % 64)) - 1 : ~UINT64_C(0);
}

static uint64_t nchunks_of(uint64_t nbits)
{
    return (nbits + CHUNK - 1) / CHUNK;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    CHECK(p);
    return p;
}

/* A bitmap of exactly nwords(nbits) words (one if nbits == 0) */
static uint64_t *bm_alloc(uint64_t nbits)
{
    return xmalloc(nwords(nbits) * 8);
}

static uint64_t bm_count(const uint64_t *bits, uint64_t nbits)
{
    size_t nw = nwords(nbits);
    uint64_t n = 0;

    for (size_t i = 0; i < nw; i++) {
        uint64_t w = i == nw - 1 ? bits[i] & lastmask(nbits) : bits[i];

        n += (uint64_t)__builtin_popcountll(w);
    }
    return n;
}

/* Same bits [0, nbits); the bits of the last word past nbits may differ */
static bool bm_equal(const uint64_t *a, const uint64_t *b, uint64_t nbits)
{
    size_t nw = nwords(nbits);

    for (size_t i = 0; i < nw; i++) {
        uint64_t m = i == nw - 1 ? lastmask(nbits) : ~UINT64_C(0);

        if ((a[i] ^ b[i]) & m) {
            return false;
        }
    }
    return true;
}

/* Bits of the last word at or beyond nbits (0 if there are none) */
static uint64_t bm_tail(const uint64_t *bits, uint64_t nbits)
{
    return nbits % 64 ? bits[nwords(nbits) - 1] & ~lastmask(nbits) : 0;
}

/* Fill with zeros, the bits past nbits with a canary pattern */
static void bm_clear_canary(uint64_t *bits, uint64_t nbits)
{
    memset(bits, 0, nwords(nbits) * 8);
    if (nbits % 64) {
        bits[nwords(nbits) - 1] = 0xa5c3e1f0d2b49687ULL & ~lastmask(nbits);
    }
}

/* ---- reference implementation, from docs/bitmap-format.md alone ---- */

static uint32_t ref_crc_table[256];

static void ref_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
        }
        ref_crc_table[i] = c;
    }
}

static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc = ref_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

/* Set pages [from, to) of bits (if not NULL) and count them into *pop */
static void ref_set(uint64_t *bits, uint64_t from, uint64_t to, int64_t *pop)
{
    *pop += (int64_t)(to - from);
    if (!bits) {
        return;
    }
    while (from < to) {
        if (from % 64 == 0 && to - from >= 64) {
            bits[from / 64] = ~UINT64_C(0);
            from += 64;
        } else {
            bits[from / 64] |= UINT64_C(1) << (from % 64);
            from++;
        }
    }
}

/*
 * The header checks: 0 and the header fields, or -EINVAL.
 * payload_len is not checked here (migaccel_bitmap_encoded_size() reports
 * it, migaccel_bitmap_decode() compares it with the input length).
 */
static int ref_header(const uint8_t *in, size_t len, uint64_t *nbits,
                      uint64_t *payload_len)
{
    if (len < HDR || memcmp(in, "MABM", 4) || in[4] != 1 || in[5] != 0 ||
        in[6] != 0 || in[7] != 0) {
        return -EINVAL;
    }
    *nbits = get_le(in + 8, 8);
    *payload_len = get_le(in + 16, 8);
    if (*nbits > (UINT64_C(0xffffffff) << 15) ||
        get_le(in + 24, 4) != nchunks_of(*nbits)) {
        return -EINVAL;
    }
    return 0;
}

/* Parse the records; ORs the pages into bits unless it is NULL */
static int64_t ref_records(const uint8_t *in, size_t len, uint64_t nbits,
                           uint64_t *bits)
{
    uint64_t nchunks = nchunks_of(nbits), c = 0;
    size_t pos = HDR;
    int64_t pop = 0;

    while (c < nchunks) {
        uint64_t first = c * CHUNK;
        uint64_t cb = nbits - first < CHUNK ? nbits - first : CHUNK;
        uint8_t type;

        if (pos >= len) {
            return -EINVAL;
        }
        type = in[pos++];
        if (type == MIGACCEL_BM_EMPTY || type == MIGACCEL_BM_FULL) {
            uint64_t count, end;

            if (len - pos < 4) {
                return -EINVAL;
            }
            count = get_le(in + pos, 4);
            pos += 4;
            if (count == 0 || c + count > nchunks) {
                return -EINVAL;
            }
            if (type == MIGACCEL_BM_FULL) {
                end = (c + count) * CHUNK;
                ref_set(bits, first, end < nbits ? end : nbits, &pop);
            }
            c += count;
            continue;
        }
        if (type == MIGACCEL_BM_RUNS || type == MIGACCEL_BM_ARRAY) {
            uint64_t n, prev_end = 0;
            int64_t prev = -1;

            if (len - pos < 2) {
                return -EINVAL;
            }
            n = get_le(in + pos, 2);
            pos += 2;
            if (n == 0) {
                return -EINVAL;
            }
            for (uint64_t i = 0; i < n; i++) {
                if (type == MIGACCEL_BM_RUNS) {
                    uint64_t start, l;

                    if (len - pos < 4) {
                        return -EINVAL;
                    }
                    start = get_le(in + pos, 2);
                    l = get_le(in + pos + 2, 2);
                    pos += 4;
                    if (l == 0 || start < prev_end || start + l > cb) {
                        return -EINVAL;
                    }
                    ref_set(bits, first + start, first + start + l, &pop);
                    prev_end = start + l;
                } else {
                    int64_t off;

                    if (len - pos < 2) {
                        return -EINVAL;
                    }
                    off = (int64_t)get_le(in + pos, 2);
                    pos += 2;
                    if (off <= prev || (uint64_t)off >= cb) {
                        return -EINVAL;
                    }
                    ref_set(bits, first + off, first + off + 1, &pop);
                    prev = off;
                }
            }
            c++;
            continue;
        }
        if (type == MIGACCEL_BM_BITS) {
            uint64_t nbytes = (cb + 7) / 8;

            if (len - pos < nbytes) {
                return -EINVAL;
            }
            for (uint64_t j = 0; j < nbytes; j++) {
                for (int k = 0; k < 8; k++) {
                    if (!(in[pos + j] >> k & 1)) {
                        continue;
                    }
                    if (8 * j + k >= cb) {
                        return -EINVAL;
                    }
                    ref_set(bits, first + 8 * j + k, first + 8 * j + k + 1,
                            &pop);
                }
            }
            pos += nbytes;
            c++;
            continue;
        }
        return -EINVAL;
    }
    return pos == len ? pop : -EINVAL;
}

/* What migaccel_bitmap_decode(in, len, bits, nbits) must return and do */
static int64_t ref_decode(const uint8_t *in, size_t len, uint64_t *bits,
                          uint64_t nbits)
{
    uint64_t hn, plen;
    uint32_t crc;
    int64_t pop;

    if (nbits && !bits) {
        return -EINVAL;
    }
    if (ref_header(in, len, &hn, &plen) < 0 || hn != nbits ||
        plen != len - HDR) {
        return -EINVAL;
    }
    crc = ref_crc32c(0, in, 28);
    crc = ref_crc32c(crc, in + HDR, len - HDR);
    if (crc != get_le(in + 28, 4)) {
        return -EBADMSG;
    }
    pop = ref_records(in, len, nbits, NULL);
    if (pop >= 0 && nbits) {
        ref_records(in, len, nbits, bits);
    }
    return pop;
}

typedef struct RefWriter {
    uint8_t *out;
    size_t pos;
    int pend_type;
    uint64_t pend_count;
} RefWriter;

static void ref_flush(RefWriter *w)
{
    if (w->pend_type >= 0) {
        w->out[w->pos] = (uint8_t)w->pend_type;
        put_le(w->out + w->pos + 1, w->pend_count, 4);
        w->pos += 5;
    }
    w->pend_type = -1;
    w->pend_count = 0;
}

/*
 * First offset >= i of the chunk of cb pages at page first (a multiple of
 * 64) whose bit is set (or clear), else cb.
 */
static uint64_t ref_next(const uint64_t *bits, uint64_t first, uint64_t cb,
                         uint64_t i, bool set)
{
    while (i < cb) {
        uint64_t w = bits[(first + i) / 64];

        w = (set ? w : ~w) >> (i % 64);
        if (w) {
            i += (uint64_t)__builtin_ctzll(w);
            return i < cb ? i : cb;
        }
        i = (i / 64 + 1) * 64;
    }
    return cb;
}

/*
 * The encoding the format document says the encoder produces ("How the
 * encoder chooses"); out must hold migaccel_bitmap_encode_bound(nbits).
 */
static size_t ref_encode(const uint64_t *bits, uint64_t nbits, uint8_t *out)
{
    RefWriter w = { .out = out, .pos = HDR, .pend_type = -1 };
    uint64_t nchunks = nchunks_of(nbits);
    uint32_t crc;

    for (uint64_t c = 0; c < nchunks; c++) {
        uint64_t first = c * CHUNK;
        uint64_t cb = nbits - first < CHUNK ? nbits - first : CHUNK;
        uint64_t pop = 0, runs = 0, runs_size, array_size, bits_size, size;
        uint8_t *p;

        for (uint64_t i = ref_next(bits, first, cb, 0, true); i < cb;) {
            uint64_t end = ref_next(bits, first, cb, i, false);

            runs++;
            pop += end - i;
            i = ref_next(bits, first, cb, end, true);
        }
        if (pop == 0 || pop == cb) {
            int type = pop ? MIGACCEL_BM_FULL : MIGACCEL_BM_EMPTY;

            if (w.pend_type != type) {
                ref_flush(&w);
                w.pend_type = type;
            }
            w.pend_count++;
            continue;
        }
        ref_flush(&w);
        runs_size = 3 + 4 * runs;
        array_size = 3 + 2 * pop;
        bits_size = 1 + (cb + 7) / 8;
        p = out + w.pos;
        if (runs_size <= array_size && runs_size <= bits_size) {
            size = runs_size;
            *p++ = MIGACCEL_BM_RUNS;
            put_le(p, runs, 2);
            p += 2;
            for (uint64_t i = ref_next(bits, first, cb, 0, true); i < cb;) {
                uint64_t end = ref_next(bits, first, cb, i, false);

                put_le(p, i, 2);
                put_le(p + 2, end - i, 2);
                p += 4;
                i = ref_next(bits, first, cb, end, true);
            }
        } else if (array_size <= bits_size) {
            size = array_size;
            *p++ = MIGACCEL_BM_ARRAY;
            put_le(p, pop, 2);
            p += 2;
            for (uint64_t i = ref_next(bits, first, cb, 0, true); i < cb;
                 i = ref_next(bits, first, cb, i + 1, true)) {
                put_le(p, i, 2);
                p += 2;
            }
        } else {
            size = bits_size;
            *p++ = MIGACCEL_BM_BITS;
            memset(p, 0, bits_size - 1);
            for (uint64_t i = ref_next(bits, first, cb, 0, true); i < cb;
                 i = ref_next(bits, first, cb, i + 1, true)) {
                p[i / 8] |= (uint8_t)(1u << (i % 8));
            }
            p += bits_size - 1;
        }
        CHECK((size_t)(p - out) == w.pos + size);
        w.pos += size;
    }
    ref_flush(&w);

    memcpy(out, "MABM", 4);
    out[4] = 1;
    out[5] = out[6] = out[7] = 0;
    put_le(out + 8, nbits, 8);
    put_le(out + 16, w.pos - HDR, 8);
    put_le(out + 24, nchunks, 4);
    crc = ref_crc32c(0, out, 28);
    crc = ref_crc32c(crc, out + HDR, w.pos - HDR);
    put_le(out + 28, crc, 4);
    return w.pos;
}

/* ---- checks ---- */

/*
 * The summary-guided encoder against the plain encoding enc (len bytes)
 * of bits; salt picks the summary_shift and the kind of summary.
 */
static void check_summary(const uint64_t *bits, uint64_t nbits, uint32_t salt,
                          const uint8_t *enc, size_t len)
{
    unsigned shift = 6 + salt % 10;
    int kind = (int)(salt / 10 % 5);
    uint64_t nreg = (nbits + (UINT64_C(1) << shift) - 1) >> shift;
    size_t sw = (size_t)((nreg + 63) / 64), nw = nwords(nbits), bound;
    uint64_t *sum = xmalloc(sw * 8);
    uint64_t mix = salt * UINT64_C(0x9e3779b97f4a7c15);
    const uint8_t *want = enc;
    size_t want_len = len;
    uint8_t *ref = NULL, *out;

    memset(sum, 0, sw * 8);
    for (size_t i = 0; i < nw; i++) {
        if (i == nw - 1 ? bits[i] & lastmask(nbits) : bits[i]) {
            uint64_t r = ((uint64_t)i * 64) >> shift;

            sum[r / 64] |= UINT64_C(1) << (r % 64);
        }
    }
    switch (kind) {
    case 1:         /* extra bits */
        for (size_t i = 0; i < sw; i++) {
            mix = (mix ^ (mix >> 29)) * UINT64_C(0xbf58476d1ce4e5b9);
            sum[i] |= mix & (mix >> 7);
        }
        break;
    case 2:         /* every bit */
        memset(sum, 0xff, sw * 8);
        break;
    case 3:         /* garbage past the last region */
        if (nreg % 64) {
            sum[sw - 1] |= ~UINT64_C(0) << (nreg % 64);
        }
        break;
    case 4: {       /* a broken promise: a set region said clean */
        uint64_t *masked = bm_alloc(nbits);
        uint64_t r = nreg ? (salt >> 8) % nreg : 0;

        if (!nreg || !((sum[r / 64] >> (r % 64)) & 1)) {
            free(masked);
            break;
        }
        sum[r / 64] &= ~(UINT64_C(1) << (r % 64));
        for (size_t i = 0; i < nw; i++) {
            masked[i] = ((uint64_t)i * 64) >> shift == r ? 0 : bits[i];
        }
        ref = xmalloc(migaccel_bitmap_encode_bound(nbits));
        want_len = ref_encode(masked, nbits, ref);
        want = ref;
        free(masked);
        break;
    }
    }

    bound = migaccel_bitmap_encode_bound(nbits);
    out = xmalloc(bound);
    CHECK_EQ(migaccel_bitmap_encode_summary(nbits ? bits : NULL, nbits, sum,
                                            shift, out, bound), want_len);
    CHECK(!memcmp(out, want, want_len));
    free(out);
    out = xmalloc(want_len);
    CHECK_EQ(migaccel_bitmap_encode_summary(nbits ? bits : NULL, nbits, sum,
                                            shift, out, want_len), want_len);
    CHECK(!memcmp(out, want, want_len));
    CHECK_EQ(migaccel_bitmap_encode_summary(nbits ? bits : NULL, nbits, sum,
                                            shift, out, want_len - 1), -ENOSPC);
    free(out);
    free(ref);
    free(sum);
}

/*
 * Encode nbits bits of bits with every check; returns the exactly sized
 * encoding (*len bytes), to be freed. salt picks the too-short output
 * buffer length to try and whether to try a buffer of the bound's size.
 */
static uint8_t *check_encode(const uint64_t *bits, uint64_t nbits,
                             uint32_t salt, size_t *len)
{
    uint64_t raw = (nbits + 7) / 8, hn = ~UINT64_C(0);
    size_t bound = migaccel_bitmap_encode_bound(nbits);
    size_t rn, short_len;
    uint8_t *buf, *exact;

    /* the bound is the documented formula, within 0.13 % + 37 bytes */
    CHECK(bound == HDR + raw + 5 * nchunks_of(nbits));
    CHECK((uint64_t)bound * 10000 <= raw * 10013 + 370000);

    /* what the format document says, within the bound */
    buf = xmalloc(bound);
    rn = ref_encode(bits, nbits, buf);
    CHECK(rn >= HDR && rn <= bound);

    /* the same bytes, in a buffer of exactly their size */
    exact = xmalloc(rn);
    CHECK(migaccel_bitmap_encode(bits, nbits, exact, rn) == (ssize_t)rn);
    CHECK(!memcmp(exact, buf, rn));

    /* and in a buffer of the bound's size (the encoder is deterministic:
     * only sometimes for large bitmaps, to save time) */
    if (nbits <= FUZZ_SMALL_RAW_NBITS || salt % 4 == 0) {
        memset(buf, 0, bound);
        CHECK(migaccel_bitmap_encode(bits, nbits, buf, bound) == (ssize_t)rn);
        CHECK(!memcmp(exact, buf, rn));
    }
    free(buf);

    /* a shorter buffer is refused, not overrun: one byte short, or any */
    short_len = salt & 1 ? rn - 1 : (salt >> 1) % rn;
    buf = xmalloc(short_len);
    CHECK(migaccel_bitmap_encode(bits, nbits, buf, short_len) == -ENOSPC);
    free(buf);

    /* the header alone gives nbits and the total size */
    CHECK(migaccel_bitmap_decode_header(exact, HDR, &hn) == 0 && hn == nbits);
    CHECK(migaccel_bitmap_encoded_size(exact, HDR) == (ssize_t)rn);

    if (nbits <= FUZZ_MAX_RAW_NBITS) {
        check_summary(bits, nbits, salt, exact, rn);
    }
    *len = rn;
    return exact;
}

/* Decode an encoding of bits and compare exactly */
static void check_roundtrip(const uint8_t *enc, size_t len,
                            const uint64_t *bits, uint64_t nbits)
{
    uint64_t *out = bm_alloc(nbits);
    uint64_t tail;

    bm_clear_canary(out, nbits);
    tail = bm_tail(out, nbits);
    CHECK(migaccel_bitmap_decode(enc, len, out, nbits) ==
          (ssize_t)bm_count(bits, nbits));
    CHECK(bm_equal(out, bits, nbits));
    CHECK(bm_tail(out, nbits) == tail);
    free(out);
}

/* An nbits that is not the header's is refused and the bitmap left alone */
static void check_wrong_nbits(const uint8_t *in, size_t len, uint64_t nbits)
{
    uint64_t *bits = bm_alloc(nbits), tail;

    bm_clear_canary(bits, nbits);
    tail = bm_tail(bits, nbits);
    CHECK(migaccel_bitmap_decode(in, len, bits, nbits) == -EINVAL);
    CHECK(bm_count(bits, nbits) == 0 && bm_tail(bits, nbits) == tail);
    free(bits);
}

/*
 * A valid encoding cut to its first cut bytes (or extended by one zero
 * byte if cut == len + 1), payload_len and CRC fixed: always refused,
 * and never read past its (exact) end.
 */
static void check_cut(const uint8_t *in, size_t len, uint64_t nbits,
                      size_t cut)
{
    uint8_t *t = xmalloc(cut);
    uint64_t *bits = bm_alloc(nbits), tail;
    uint32_t crc;

    memcpy(t, in, cut < len ? cut : len);
    if (cut > len) {
        memset(t + len, 0, cut - len);
    }
    put_le(t + 16, cut - HDR, 8);
    crc = ref_crc32c(0, t, 28);
    crc = ref_crc32c(crc, t + HDR, cut - HDR);
    put_le(t + 28, crc, 4);
    bm_clear_canary(bits, nbits);
    tail = bm_tail(bits, nbits);
    CHECK_EQ(migaccel_bitmap_decode(t, cut, bits, nbits), -EINVAL);
    CHECK(ref_decode(t, cut, bits, nbits) == -EINVAL);
    CHECK(bm_count(bits, nbits) == 0 && bm_tail(bits, nbits) == tail);
    free(bits);
    free(t);
}

/* The input as an encoded stream */
static void check_stream(const uint8_t *in, size_t len)
{
    uint64_t nbits = ~UINT64_C(0), rn = 0, plen = 0, tail;
    int h = migaccel_bitmap_decode_header(in, len, &nbits);
    int rh = ref_header(in, len, &rn, &plen);
    ssize_t size = migaccel_bitmap_encoded_size(in, len);
    uint64_t *out, *want;
    int64_t ret, rret;

    CHECK_EQ(h, rh);
    CHECK(migaccel_bitmap_decode_header(NULL, len, &rn) == -EINVAL);
    CHECK(migaccel_bitmap_decode_header(in, len, NULL) == -EINVAL);
    CHECK(migaccel_bitmap_encoded_size(NULL, len) == -EINVAL);
    if (h < 0) {
        CHECK(size == h);
        CHECK(migaccel_bitmap_decode(in, len, NULL, 0) == -EINVAL);
        check_wrong_nbits(in, len, 100);
        return;
    }
    CHECK(nbits == rn);
    if (plen > (uint64_t)SSIZE_MAX - HDR) {
        CHECK(size == -EOVERFLOW);
    } else {
        CHECK(size == (ssize_t)(plen + HDR));
    }
    /* only the header is read */
    CHECK(migaccel_bitmap_decode_header(in, HDR, &rn) == 0 && rn == nbits);
    if (nbits) {
        CHECK(migaccel_bitmap_decode(in, len, NULL, nbits) == -EINVAL);
        CHECK(migaccel_bitmap_decode(in, len, NULL, 0) == -EINVAL);
    }
    if (nbits > FUZZ_MAX_DECODE_NBITS) {
        return;
    }
    check_wrong_nbits(in, len, nbits + 1);
    if (nbits) {
        check_wrong_nbits(in, len, nbits - 1);
    }

    out = bm_alloc(nbits);
    want = bm_alloc(nbits);
    bm_clear_canary(out, nbits);
    bm_clear_canary(want, nbits);
    tail = bm_tail(out, nbits);
    ret = migaccel_bitmap_decode(in, len, out, nbits);
    rret = ref_decode(in, len, want, nbits);
    CHECK_EQ(ret, rret);
    CHECK(bm_tail(out, nbits) == tail);
    CHECK(bm_equal(out, want, nbits));  /* all zero on error */
    if (ret >= 0) {
        uint8_t *enc;
        size_t elen;

        CHECK((uint64_t)ret == bm_count(out, nbits));
        /*
         * The canonical encoding is the smallest valid one, except that a
         * tiny short last chunk may be cheaper as BITS (2..4 bytes) than
         * as its EMPTY/FULL record (5).
         */
        enc = check_encode(out, nbits, ref_crc32c(0, in, len), &elen);
        CHECK(elen <= len + 3);
        check_roundtrip(enc, elen, out, nbits);
        free(enc);

        /* decoding ORs into the bitmap; cut short or too long, refused */
        if (nbits <= FUZZ_MAX_OR_NBITS) {
            uint64_t *dirty = bm_alloc(nbits);
            uint32_t s = ref_crc32c(0, in, len);

            for (size_t i = 0; i < nwords(nbits); i++) {
                s = ref_crc32c(s, (const uint8_t *)&i, sizeof(i));
                dirty[i] = want[i] = (uint64_t)s << 32 | (s * 0x9e3779b9u);
            }
            tail = bm_tail(dirty, nbits);
            CHECK(migaccel_bitmap_decode(in, len, dirty, nbits) == ret);
            for (size_t i = 0; i < nwords(nbits); i++) {
                want[i] |= out[i];
            }
            CHECK(bm_equal(dirty, want, nbits));
            CHECK(bm_tail(dirty, nbits) == tail);
            free(dirty);

            if (len > HDR) {
                check_cut(in, len, nbits, len - 1);
                check_cut(in, len, nbits, HDR + s % (len - HDR));
            }
            check_cut(in, len, nbits, len + 1);
        }
    }
    free(want);
    free(out);
}

/*
 * The input as an encoded stream again, with payload_len, chunk_count and
 * the CRC made to match so that the records are parsed.
 */
static void check_repaired(const uint8_t *in, size_t len)
{
    uint64_t nbits;
    uint32_t crc;
    uint8_t *t;

    if (len < HDR) {
        return;
    }
    t = xmalloc(len);
    memcpy(t, in, len);
    nbits = get_le(t + 8, 8);
    put_le(t + 16, len - HDR, 8);
    put_le(t + 24, nchunks_of(nbits), 4);
    crc = ref_crc32c(0, t, 28);
    crc = ref_crc32c(crc, t + HDR, len - HDR);
    put_le(t + 28, crc, 4);
    if (memcmp(t, in, HDR)) {
        check_stream(t, len);
    }
    free(t);
}

/*
 * The input as a raw bitmap: byte 0 bits 0-1 say how the bits are made
 * (0: the data then zeros, 1: the data then ones, 2: the data repeated,
 * 3: zeros with runs, 6 bytes each: u32 start (mod nbits), u16 length
 * shifted left by byte 0 bits 2-3); bit 7 sets every bit past nbits
 * (which the encoder must ignore); bytes 1..4: nbits, modulo
 * FUZZ_MAX_RAW_NBITS + 1 if byte 0 bit 6 is set, else modulo
 * FUZZ_SMALL_RAW_NBITS + 1.
 */
static void check_raw(const uint8_t *data, size_t size)
{
    const uint8_t *d = data + 5;
    size_t dlen, nbytes;
    uint64_t nbits, *bits;
    uint8_t *enc, *p;
    size_t len;

    if (size < 5) {
        return;
    }
    dlen = size - 5;
    nbits = get_le(data + 1, 4) %
            ((data[0] & 0x40 ? FUZZ_MAX_RAW_NBITS : FUZZ_SMALL_RAW_NBITS) + 1);
    nbytes = nwords(nbits) * 8;
    bits = bm_alloc(nbits);
    p = (uint8_t *)bits;

    switch (data[0] & 3) {
    case 0:
    case 1:
        memset(p, data[0] & 1 ? 0xff : 0, nbytes);
        memcpy(p, d, dlen < nbytes ? dlen : nbytes);
        break;
    case 2:
        for (size_t i = 0; i < nbytes; i++) {
            p[i] = dlen ? d[i % dlen] : 0;
        }
        break;
    default:
        memset(p, 0, nbytes);
        for (size_t i = 0; nbits && i + 6 <= dlen; i += 6) {
            uint64_t start = get_le(d + i, 4) % nbits;
            uint64_t l = get_le(d + i + 4, 2) << (data[0] >> 2 & 3);
            int64_t unused = 0;

            ref_set(bits, start, start + l < nbits ? start + l : nbits,
                    &unused);
        }
        break;
    }
    if (data[0] & 0x80 && nbits % 64) {
        bits[nwords(nbits) - 1] |= ~lastmask(nbits);
    }

    enc = check_encode(bits, nbits, ref_crc32c(0, data, size), &len);
    check_roundtrip(enc, len, bits, nbits);
    free(enc);
    free(bits);
}

/* The size bound of any nbits, and encoder arguments that are refused */
static void check_api(uint64_t nbits)
{
    size_t bound = migaccel_bitmap_encode_bound(nbits);
    uint64_t word = ~UINT64_C(0);
    uint8_t out[HDR + 16];

    if (nbits > MIGACCEL_BITMAP_MAX_NBITS) {
        CHECK(bound == 0);
        CHECK(migaccel_bitmap_encode(&word, nbits, out, sizeof(out)) ==
              -EINVAL);
        return;
    }
    CHECK(bound == HDR + (nbits + 7) / 8 + 5 * nchunks_of(nbits));
    if (nbits) {
        CHECK(migaccel_bitmap_encode(NULL, nbits, out, sizeof(out)) == -EINVAL);
    }
    CHECK(migaccel_bitmap_encode(&word, nbits < 64 ? nbits : 64, NULL,
                                 sizeof(out)) == -EINVAL);
    /* a summary_shift out of range, whatever the rest */
    CHECK(migaccel_bitmap_encode_summary(&word, nbits < 64 ? nbits : 64,
                                         &word, (unsigned)(nbits % 6),
                                         out, sizeof(out)) == -EINVAL);
    CHECK(migaccel_bitmap_encode_summary(&word, nbits < 64 ? nbits : 64,
                                         &word, 16 + (unsigned)(nbits % 50),
                                         out, sizeof(out)) == -EINVAL);
}

static bool initialized;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!initialized) {
        static const char check[] = "123456789";

        ref_crc_init();
        CHECK(ref_crc32c(0, (const uint8_t *)check, 9) == 0xe3069283u);
        initialized = true;
    }
    /* the CRC, SSE4.2 or table, split anywhere, against the reference */
    if (size) {
        size_t cut = data[0] % (size + 1);

        CHECK(migaccel_crc32c(migaccel_crc32c(0, data, cut), data + cut,
                              size - cut) == ref_crc32c(0, data, size));
    }
    if (size >= 16) {
        check_api(get_le(data + 8, 8));     /* the header's nbits */
    }
    check_stream(data, size);
    check_repaired(data, size);
    check_raw(data, size);
    return 0;
}

#ifndef MIGACCEL_FUZZ_SEEDGEN
/*
 * ---- structure-aware mutations ----
 *
 * Half of the time the input is mutated as an encoding: a header field or
 * a record field (type, count, list length, run start or length, array
 * offset, last byte of a short BITS chunk) is set to a value next to the
 * limit the decoder must check (the chunks left, the chunk size, the end
 * of the previous run...), or a record is cut, dropped, doubled or
 * inserted; then payload_len, chunk_count and the CRC are usually made to
 * match again. Plain byte mutations find such values slowly: the fields
 * are u16/u32 compared as wider integers, and the CRC hides the rest.
 */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);

enum {
    F_TYPE, F_COUNT, F_N, F_START, F_LEN, F_OFF, F_BITS_LAST, F_NBITS,
    F_HDR_BYTE,
};
static const uint8_t field_width[] = { 1, 4, 2, 2, 2, 2, 1, 8, 1 };

typedef struct Field {
    size_t pos;         /* offset in the input */
    int kind;
    uint64_t cb;        /* pages in the record's chunk */
    uint64_t left;      /* chunks from the record's first one to the end */
    uint64_t prev;      /* F_START, F_OFF: end of the previous run / offset
                         * + 1 (0 for the first); F_LEN: the run's start */
} Field;

#define MUT_MAX_FIELDS  1024
#define MUT_MAX_RECORDS 256

typedef struct Layout {
    Field f[MUT_MAX_FIELDS];
    size_t nf;
    size_t rec[MUT_MAX_RECORDS + 1];    /* record starts, then the end */
    size_t nrec;
    uint64_t rec_cb[MUT_MAX_RECORDS];
} Layout;

static uint64_t mut_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void add_field(Layout *l, size_t pos, int kind, uint64_t cb,
                      uint64_t left, uint64_t prev)
{
    if (l->nf < MUT_MAX_FIELDS) {
        l->f[l->nf++] = (Field){ pos, kind, cb, left, prev };
    }
}

/* Walk the header and the records as far as they parse */
static void mut_layout(const uint8_t *d, size_t size, Layout *l)
{
    static const size_t hdr_bytes[] = { 0, 3, 4, 5, 6, 7, 16, 24, 28 };
    uint64_t nbits, nchunks, c = 0;
    size_t pos = HDR;

    l->nf = l->nrec = 0;
    l->rec[0] = HDR;
    if (size < HDR) {
        return;
    }
    add_field(l, 8, F_NBITS, 0, 0, 0);
    for (size_t i = 0; i < sizeof(hdr_bytes) / sizeof(hdr_bytes[0]); i++) {
        add_field(l, hdr_bytes[i], F_HDR_BYTE, 0, 0, 0);
    }
    nbits = get_le(d + 8, 8);
    if (nbits > MIGACCEL_BITMAP_MAX_NBITS) {
        return;
    }
    nchunks = nchunks_of(nbits);
    while (c < nchunks && pos < size && l->nrec < MUT_MAX_RECORDS) {
        uint64_t cb = nbits - c * CHUNK < CHUNK ? nbits - c * CHUNK : CHUNK;
        uint64_t left = nchunks - c, n, prev = 0, count;
        uint8_t type = d[pos];

        l->rec[l->nrec] = pos;
        l->rec_cb[l->nrec] = cb;
        add_field(l, pos++, F_TYPE, cb, left, 0);
        switch (type) {
        case MIGACCEL_BM_EMPTY:
        case MIGACCEL_BM_FULL:
            if (size - pos < 4) {
                return;
            }
            add_field(l, pos, F_COUNT, cb, left, 0);
            count = get_le(d + pos, 4);
            pos += 4;
            if (count == 0 || count > left) {
                return;
            }
            c += count;
            break;
        case MIGACCEL_BM_RUNS:
        case MIGACCEL_BM_ARRAY:
            if (size - pos < 2) {
                return;
            }
            add_field(l, pos, F_N, cb, left, 0);
            n = get_le(d + pos, 2);
            pos += 2;
            for (uint64_t i = 0; i < n; i++) {
                if (type == MIGACCEL_BM_RUNS) {
                    uint64_t start;

                    if (size - pos < 4) {
                        return;
                    }
                    start = get_le(d + pos, 2);
                    add_field(l, pos, F_START, cb, left, prev);
                    add_field(l, pos + 2, F_LEN, cb, left, start);
                    prev = start + get_le(d + pos + 2, 2);
                    pos += 4;
                } else {
                    if (size - pos < 2) {
                        return;
                    }
                    add_field(l, pos, F_OFF, cb, left, prev);
                    prev = get_le(d + pos, 2) + 1;
                    pos += 2;
                }
            }
            c++;
            break;
        case MIGACCEL_BM_BITS:
            if (size - pos < (cb + 7) / 8) {
                return;
            }
            pos += (cb + 7) / 8;
            if (cb % 8) {
                add_field(l, pos - 1, F_BITS_LAST, cb, left, 0);
            }
            c++;
            break;
        default:
            return;
        }
        l->rec[++l->nrec] = pos;
    }
}

/* A value next to what the decoder checks the field against */
static uint64_t mut_value(const Field *f, uint64_t old, uint64_t *s)
{
    uint64_t v[16], r = mut_rng(s);
    int n = 0;

    v[n++] = old + 1;
    v[n++] = old - 1;
    v[n++] = 0;
    v[n++] = r;
    switch (f->kind) {
    case F_TYPE:
        v[n++] = r % 6;
        v[n++] = r % 5;
        break;
    case F_COUNT:
        v[n++] = f->left - 1;
        v[n++] = f->left;
        v[n++] = f->left + 1;
        v[n++] = 1;
        v[n++] = 0xffffffff;
        break;
    case F_N:
        v[n++] = 1;
        v[n++] = 0xffff;
        v[n++] = old * 2;
        v[n++] = old / 2;
        break;
    case F_START:
        v[n++] = f->prev - 1;
        v[n++] = f->prev;
        v[n++] = f->cb - 1;
        v[n++] = f->cb;
        break;
    case F_LEN:
        v[n++] = f->cb - f->prev - 1;
        v[n++] = f->cb - f->prev;
        v[n++] = f->cb - f->prev + 1;
        v[n++] = CHUNK;
        v[n++] = 0xffff;
        break;
    case F_OFF:
        v[n++] = f->prev - 2;   /* unsorted */
        v[n++] = f->prev - 1;   /* duplicate */
        v[n++] = f->cb - 1;
        v[n++] = f->cb;
        v[n++] = f->cb + 1;
        v[n++] = 0xffff;
        break;
    case F_BITS_LAST:
        v[n++] = old | 1u << (f->cb % 8);
        v[n++] = old | 0x80;
        v[n++] = old & ((1u << (f->cb % 8)) - 1);
        break;
    case F_NBITS:
        v[n++] = old / CHUNK * CHUNK;
        v[n++] = old / CHUNK * CHUNK + 1;
        v[n++] = old + CHUNK;
        v[n++] = old - CHUNK;
        v[n++] = old + 64;
        v[n++] = old ^ (UINT64_C(1) << (r % 48));
        v[n++] = FUZZ_MAX_DECODE_NBITS + (r & 1);
        v[n++] = MIGACCEL_BITMAP_MAX_NBITS + (r & 1);
        v[n++] = r % (4 * CHUNK);
        break;
    default:
        v[n++] = 1;
        break;
    }
    return v[mut_rng(s) % (uint64_t)n];
}

/* Insert len bytes (src, or zeros if NULL) at pos */
static size_t mut_insert(uint8_t *d, size_t size, size_t max_size, size_t pos,
                         const uint8_t *src, size_t len)
{
    if (len > max_size || size > max_size - len) {
        return size;
    }
    memmove(d + pos + len, d + pos, size - pos);
    if (src) {
        memmove(d + pos, src, len);
    } else {
        memset(d + pos, 0, len);
    }
    return size + len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
    static Layout l;    /* large: not on the stack */
    uint64_t s = seed, r;

    if (mut_rng(&s) % 2 || size < HDR) {
        return LLVMFuzzerMutate(data, size, max_size);
    }
    mut_layout(data, size, &l);
    r = mut_rng(&s) % 16;
    if (r < 10 && l.nf) {                       /* set a field */
        const Field *f = &l.f[mut_rng(&s) % l.nf];
        int w = field_width[f->kind];

        if (f->pos + w <= size) {
            put_le(data + f->pos, mut_value(f, get_le(data + f->pos, w), &s),
                   w);
        }
    } else if (r < 11 && l.nf) {                /* cut at a field */
        size = l.f[mut_rng(&s) % l.nf].pos + mut_rng(&s) % 2;
        size = size < HDR ? HDR : size;
    } else if (r < 13 && l.nrec) {              /* drop a record */
        size_t i = mut_rng(&s) % l.nrec;
        size_t len = l.rec[i + 1] - l.rec[i];

        memmove(data + l.rec[i], data + l.rec[i + 1], size - l.rec[i + 1]);
        size -= len;
    } else if (r < 14 && l.nrec) {              /* double a record */
        size_t i = mut_rng(&s) % l.nrec;

        size = mut_insert(data, size, max_size, l.rec[i + 1], data + l.rec[i],
                          l.rec[i + 1] - l.rec[i]);
    } else {                                    /* insert a new record */
        size_t i = l.nrec ? mut_rng(&s) % (l.nrec + 1) : 0;
        uint64_t cb = l.nrec ? l.rec_cb[i < l.nrec ? i : i - 1] : CHUNK;
        uint8_t rec[1 + CHUNK / 8];
        size_t len;

        rec[0] = (uint8_t)(mut_rng(&s) % 5);
        switch (rec[0]) {
        case MIGACCEL_BM_EMPTY:
        case MIGACCEL_BM_FULL:
            put_le(rec + 1, 1 + mut_rng(&s) % 2, 4);
            len = 5;
            break;
        case MIGACCEL_BM_RUNS:
            put_le(rec + 1, 1, 2);
            put_le(rec + 3, mut_rng(&s) % cb, 2);
            put_le(rec + 5, 1 + mut_rng(&s) % 16, 2);
            len = 7;
            break;
        case MIGACCEL_BM_ARRAY:
            put_le(rec + 1, 1, 2);
            put_le(rec + 3, mut_rng(&s) % cb, 2);
            len = 5;
            break;
        default:
            len = 1 + (cb + 7) / 8;
            memset(rec + 1, 0, len - 1);
            rec[1 + mut_rng(&s) % (len - 1)] = (uint8_t)mut_rng(&s);
            break;
        }
        size = mut_insert(data, size, max_size, l.rec[i], rec, len);
    }
    /* usually make the header match again, for the record parser */
    if (size >= HDR && mut_rng(&s) % 8) {
        uint64_t nbits = get_le(data + 8, 8);
        uint32_t crc;

        put_le(data + 16, size - HDR, 8);
        put_le(data + 24, nchunks_of(nbits), 4);
        crc = migaccel_crc32c(0, data, 28);
        crc = migaccel_crc32c(crc, data + HDR, size - HDR);
        put_le(data + 28, crc, 4);
    }
    return size;
}
#endif

#ifdef MIGACCEL_FUZZ_SEEDGEN
/* ---- seed corpus: valid encodings, every container type ---- */

static const char *seed_dir;
static int seed_no;

static void write_seed(const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/seed-%02d-%s", seed_dir, seed_no++, name);
    f = fopen(path, "wb");
    CHECK(f);
    CHECK(fwrite(buf, 1, len, f) == len);
    CHECK(fclose(f) == 0);
    /* every seed passes the harness */
    CHECK(LLVMFuzzerTestOneInput(buf, len) == 0);
}

/* Encode bits and write the encoding; checks the record types it holds */
static void seed_bitmap(const char *name, const uint64_t *bits, uint64_t nbits,
                        unsigned *types_seen)
{
    size_t bound = migaccel_bitmap_encode_bound(nbits), pos = HDR;
    uint8_t *buf = xmalloc(bound);
    ssize_t n = migaccel_bitmap_encode(bits, nbits, buf, bound);
    uint64_t c = 0;

    CHECK(n >= HDR);
    while (c < nchunks_of(nbits)) {     /* walk a valid encoding */
        uint64_t cb = nbits - c * CHUNK < CHUNK ? nbits - c * CHUNK : CHUNK;
        uint8_t type = buf[pos];

        *types_seen |= 1u << type;
        switch (type) {
        case MIGACCEL_BM_EMPTY:
        case MIGACCEL_BM_FULL:
            c += get_le(buf + pos + 1, 4);
            pos += 5;
            continue;
        case MIGACCEL_BM_RUNS:
            pos += 3 + 4 * get_le(buf + pos + 1, 2);
            break;
        case MIGACCEL_BM_ARRAY:
            pos += 3 + 2 * get_le(buf + pos + 1, 2);
            break;
        default:
            pos += 1 + (cb + 7) / 8;
            break;
        }
        c++;
    }
    CHECK(pos == (size_t)n);
    write_seed(name, buf, (size_t)n);
    free(buf);
}

/* A hand-made (valid, non-canonical) payload behind a matching header */
static void seed_payload(const char *name, uint64_t nbits,
                         const uint8_t *payload, size_t plen)
{
    uint8_t *buf = xmalloc(HDR + plen);
    uint32_t crc;

    memcpy(buf, "MABM\1\0\0\0", 8);
    put_le(buf + 8, nbits, 8);
    put_le(buf + 16, plen, 8);
    put_le(buf + 24, nchunks_of(nbits), 4);
    memcpy(buf + HDR, payload, plen);
    crc = migaccel_crc32c(0, buf, 28);
    crc = migaccel_crc32c(crc, buf + HDR, plen);
    put_le(buf + 28, crc, 4);
    CHECK(migaccel_bitmap_decode_header(buf, HDR + plen, &(uint64_t){ 0 }) == 0);
    write_seed(name, buf, HDR + plen);
    free(buf);
}

#define SEED_PAYLOAD(name, nbits, ...) \
    seed_payload(name, nbits, (const uint8_t[]){ __VA_ARGS__ }, \
                 sizeof((const uint8_t[]){ __VA_ARGS__ }))

static uint64_t rng_state = 42;

static uint64_t rng(void)   /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void set_bits(uint64_t *bits, uint64_t from, uint64_t to)
{
    int64_t unused = 0;

    ref_set(bits, from, to, &unused);
}

int main(int argc, char **argv)
{
    unsigned seen = 0;
    uint64_t nbits, *bits;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    seed_dir = argv[1];

    seed_bitmap("nbits0", NULL, 0, &seen);

    /* one short chunk: empty, full, runs (the documented example), array,
     * alternating (BITS) */
    bits = calloc(2, 8);
    seed_bitmap("empty-100", bits, 100, &seen);
    bits[0] = bits[1] = ~UINT64_C(0);
    seed_bitmap("full-100", bits, 100, &seen);
    bits[0] = 0xf;
    bits[1] = 1 << 6;
    seed_bitmap("runs-100", bits, 100, &seen);
    bits[0] = 0x1000100010001ULL;
    bits[1] = 0x100;
    seed_bitmap("array-100", bits, 100, &seen);
    bits[0] = bits[1] = 0x5555555555555555ULL;
    seed_bitmap("alternating-100", bits, 100, &seen);
    bits[0] = 1;
    bits[1] = 0;
    seed_bitmap("single-1", bits, 1, &seen);
    seed_bitmap("single-64", bits, 64, &seen);
    free(bits);

    /* several chunks, short last one: all clean, all dirty */
    nbits = 3 * CHUNK + 1234;
    bits = calloc(nwords(nbits), 8);
    seed_bitmap("empty-3.04-chunks", bits, nbits, &seen);
    memset(bits, 0xff, nwords(nbits) * 8);
    seed_bitmap("full-3.04-chunks", bits, nbits, &seen);
    free(bits);

    /* every container type in one encoding: EMPTY x2, FULL, RUNS, ARRAY,
     * EMPTY, BITS (random), FULL, BITS (alternating, short chunk) */
    nbits = 8 * CHUNK + 777;
    bits = calloc(nwords(nbits), 8);
    set_bits(bits, 2 * CHUNK, 3 * CHUNK);
    set_bits(bits, 3 * CHUNK + 10, 3 * CHUNK + 3000);
    set_bits(bits, 3 * CHUNK + 5000, 4 * CHUNK);
    for (uint64_t i = 0; i < 40; i++) {
        set_bits(bits, 4 * CHUNK + i * 777, 4 * CHUNK + i * 777 + 1);
    }
    for (uint64_t i = 0; i < CHUNK / 64; i++) {
        bits[6 * CHUNK / 64 + i] = rng();
    }
    set_bits(bits, 7 * CHUNK, 8 * CHUNK);
    for (uint64_t i = 8 * CHUNK; i < nbits; i += 2) {
        set_bits(bits, i, i + 1);
    }
    seed_bitmap("mixed", bits, nbits, &seen);
    free(bits);

    /* random sparse (ARRAY), random dense (BITS), clustered (RUNS) */
    nbits = CHUNK;
    bits = calloc(nwords(nbits), 8);
    for (int i = 0; i < 300; i++) {
        uint64_t b = rng() % nbits;

        set_bits(bits, b, b + 1);
    }
    seed_bitmap("random-sparse", bits, nbits, &seen);
    for (uint64_t i = 0; i < nwords(nbits); i++) {
        bits[i] = rng();
    }
    seed_bitmap("random-dense", bits, nbits, &seen);
    memset(bits, 0, nwords(nbits) * 8);
    for (int i = 0; i < 50; i++) {
        uint64_t b = rng() % nbits, e = b + 1 + rng() % 600;

        set_bits(bits, b, e < nbits ? e : nbits);
    }
    seed_bitmap("clusters", bits, nbits, &seen);
    free(bits);

    /* 4 Mi pages (the harness decodes up to 64 Mi), a few runs */
    nbits = UINT64_C(1) << 22;
    bits = calloc(nwords(nbits), 8);
    set_bits(bits, 5, 9);
    set_bits(bits, 100 * CHUNK + 3, 100 * CHUNK + 4);
    set_bits(bits, nbits - 3 * CHUNK, nbits);
    seed_bitmap("4Mi", bits, nbits, &seen);
    free(bits);

    CHECK(seen == 0x1f);    /* every container type */

    /* headers only: the largest nbits (decode is not attempted), and one
     * past the 64 Mi cap, both with a single EMPTY record */
    SEED_PAYLOAD("max-nbits", MIGACCEL_BITMAP_MAX_NBITS, 0, 0xff, 0xff, 0xff, 0xff);
    SEED_PAYLOAD("over-cap", FUZZ_MAX_DECODE_NBITS + 1, 0, 0x01, 0x08, 0, 0);

    /* valid but not canonical: split EMPTY records, adjacent runs, a short
     * chunk as BITS, a full chunk as RUNS, ARRAY where BITS is smaller */
    SEED_PAYLOAD("noncanonical", 3 * CHUNK + 20,
                 0, 1, 0, 0, 0,
                 0, 1, 0, 0, 0,
                 2, 2, 0, 0, 0, 0, 0x40, 0, 0x40, 0, 0x40,
                 4, 0x81, 0x42, 0x0f);
    SEED_PAYLOAD("array-dense", 24, 3, 8, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0,
                 6, 0, 23, 0);

    /* raw-bitmap inputs: runs across chunk boundaries, a repeated pattern,
     * ones-extended with set bits past nbits */
    {
        uint8_t raw[5 + 6 * 4];

        raw[0] = 0x40 | 3 | 2 << 2;     /* large, runs, lengths << 2 */
        put_le(raw + 1, 5 * CHUNK + 77, 4);
        put_le(raw + 5, CHUNK - 100, 4);
        put_le(raw + 9, 20000, 2);              /* 80000: chunks 1-2 */
        put_le(raw + 11, 4 * CHUNK + 3, 4);
        put_le(raw + 15, 1, 2);
        put_le(raw + 17, 4 * CHUNK + 9, 4);
        put_le(raw + 21, 3, 2);
        put_le(raw + 23, 5 * CHUNK + 70, 4);
        put_le(raw + 27, 0xffff, 2);
        write_seed("raw-runs", raw, sizeof(raw));

        raw[0] = 0x40 | 2;              /* large, repeated */
        put_le(raw + 1, 2 * CHUNK + 100, 4);
        memcpy(raw + 5, "\xaa\x00\xff\x0f\x01\x00\x00\x80", 8);
        write_seed("raw-repeat", raw, 13);

        raw[0] = 0xc1;  /* large, ones after the data, tail bits set */
        put_le(raw + 1, CHUNK + 65, 4);
        memcpy(raw + 5, "\x00\x00\x10", 3);
        write_seed("raw-ones", raw, 8);
    }
    printf("%d seeds in %s\n", seed_no, seed_dir);
    return 0;
}
#endif
