/*
 * Compressed dirty bitmap codec: see codec.h and docs/bitmap-format.md.
 */
#include "codec.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* Header layout (offsets in bytes) */
#define HDR_MAGIC       0   /* 4 bytes "MABM" */
#define HDR_VERSION     4   /* u8 */
#define HDR_FLAGS       5   /* u8, must be 0 */
#define HDR_RESERVED    6   /* u16, must be 0 */
#define HDR_NBITS       8   /* u64 */
#define HDR_PAYLOAD_LEN 16  /* u64 */
#define HDR_CHUNKS      24  /* u32 */
#define HDR_CRC         28  /* u32: CRC32C of bytes [0, 28) then the payload */

#define REC_HEAD        1   /* type byte */
#define REC_REPEAT_SIZE (REC_HEAD + 4)
#define REC_LIST_HEAD   (REC_HEAD + 2)

static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u
};

static uint32_t crc32c_bytes(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len--) {
        crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* SSE4.2's crc32 instruction computes CRC32C: 8 bytes per instruction */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;

    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;

        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    return crc32c_bytes((uint32_t)c, p, len);
}

static bool have_sse42(void)
{
    static int cached = -1;

    if (cached < 0) {
        cached = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    return cached;
}
#endif

uint32_t migaccel_crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (have_sse42()) {
        return ~crc32c_sse42(crc, buf, len);
    }
#endif
    return ~crc32c_bytes(crc, buf, len);
}

/* Little-endian accessors, independent of the host byte order */
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t chunk_count(uint64_t nbits)
{
    return (nbits + MIGACCEL_BITMAP_CHUNK_BITS - 1) >> MIGACCEL_BITMAP_CHUNK_SHIFT;
}

/* Number of pages in chunk c (the last one may be short) */
static uint32_t chunk_bits(uint64_t nbits, uint64_t c)
{
    uint64_t left = nbits - (c << MIGACCEL_BITMAP_CHUNK_SHIFT);

    return left < MIGACCEL_BITMAP_CHUNK_BITS ? (uint32_t)left
                                             : MIGACCEL_BITMAP_CHUNK_BITS;
}

size_t migaccel_bitmap_encode_bound(uint64_t nbits)
{
    uint64_t bound;

    if (nbits > MIGACCEL_BITMAP_MAX_NBITS) {
        return 0;
    }
    /* no overflow in 64 bits: nbits < 2^47 */
    bound = MIGACCEL_BITMAP_HEADER_SIZE + (nbits + 7) / 8 +
            REC_REPEAT_SIZE * chunk_count(nbits);
    if (bound > SIZE_MAX) {
        return 0;
    }
    return (size_t)bound;
}

/* ---- encoder ---- */

typedef struct Chunk {
    const uint64_t *w;  /* first word of the chunk */
    uint32_t bits;      /* pages in the chunk */
    uint32_t nwords;
    uint64_t lastmask;  /* valid bits of w[nwords - 1] */
} Chunk;

static uint64_t chunk_word(const Chunk *ck, uint32_t i)
{
    return i == ck->nwords - 1 ? ck->w[i] & ck->lastmask : ck->w[i];
}

/* First page >= from that is set (set) or clear (!set), or ck->bits */
static uint32_t find_next(const Chunk *ck, uint32_t from, bool set)
{
    while (from < ck->bits) {
        uint32_t i = from / 64;
        uint64_t w = set ? ck->w[i] : ~ck->w[i];

        w &= ~0ULL << (from % 64);
        if (w) {
            uint32_t r = i * 64 + (uint32_t)__builtin_ctzll(w);
            return r < ck->bits ? r : ck->bits;
        }
        from = (i + 1) * 64;
    }
    return ck->bits;
}

typedef struct Writer {
    uint8_t *out;
    size_t len;
    size_t pos;
    int pend_type;          /* pending EMPTY/FULL record, or -1 */
    uint32_t pend_count;
} Writer;

static int flush_pending(Writer *wr)
{
    if (wr->pend_type < 0) {
        return 0;
    }
    if (wr->len - wr->pos < REC_REPEAT_SIZE) {
        return -ENOSPC;
    }
    wr->out[wr->pos] = (uint8_t)wr->pend_type;
    put32(wr->out + wr->pos + 1, wr->pend_count);
    wr->pos += REC_REPEAT_SIZE;
    wr->pend_type = -1;
    wr->pend_count = 0;
    return 0;
}

/*
 * 0 if no page of the chunk is dirty, 1 if all are, -1 otherwise: an OR and
 * an AND over the words, which the compiler vectorises, so empty and full
 * chunks (most of a sparse or a fully dirty bitmap) cost a memory scan.
 */
static int chunk_uniform(const Chunk *ck)
{
    uint64_t any = 0, all = ~0ULL;
    uint64_t last = ck->w[ck->nwords - 1] & ck->lastmask;

    for (uint32_t i = 0; i + 1 < ck->nwords; i++) {
        any |= ck->w[i];
        all &= ck->w[i];
    }
    any |= last;
    all &= last | ~ck->lastmask;
    return !any ? 0 : all == ~0ULL ? 1 : -1;
}

/* Set pages and runs of set pages of a mixed chunk */
#define CHUNK_COUNTS_BODY                                                   \
    uint32_t pop = 0, nruns = 0;                                            \
    uint64_t carry = 0;                                                     \
                                                                            \
    for (uint32_t i = 0; i < ck->nwords; i++) {                             \
        uint64_t w = chunk_word(ck, i);                                     \
                                                                            \
        pop += (uint32_t)__builtin_popcountll(w);                           \
        /* a run starts where a set bit follows a clear one */              \
        nruns += (uint32_t)__builtin_popcountll(w & ~((w << 1) | carry));   \
        carry = w >> 63;                                                    \
    }                                                                       \
    *pop_out = pop;                                                         \
    *nruns_out = nruns;

static void chunk_counts_generic(const Chunk *ck, uint32_t *pop_out,
                                 uint32_t *nruns_out)
{
    CHUNK_COUNTS_BODY
}

#if defined(__x86_64__)
/* The same with the popcnt instruction instead of libgcc's bit tricks */
__attribute__((target("popcnt")))
static void chunk_counts_popcnt(const Chunk *ck, uint32_t *pop_out,
                                uint32_t *nruns_out)
{
    CHUNK_COUNTS_BODY
}
#endif

static void chunk_counts(const Chunk *ck, uint32_t *pop, uint32_t *nruns)
{
#if defined(__x86_64__)
    static int have_popcnt = -1;

    if (have_popcnt < 0) {
        have_popcnt = __builtin_cpu_supports("popcnt") ? 1 : 0;
    }
    if (have_popcnt) {
        chunk_counts_popcnt(ck, pop, nruns);
        return;
    }
#endif
    chunk_counts_generic(ck, pop, nruns);
}

static int encode_chunk(Writer *wr, const Chunk *ck)
{
    uint32_t pop = 0, nruns = 0;
    size_t runs_size, array_size, bits_size, size;
    int type, ret;
    uint8_t *p;
    int uniform = chunk_uniform(ck);

    if (uniform >= 0) {
        pop = uniform ? ck->bits : 0;
    } else {
        chunk_counts(ck, &pop, &nruns);
    }

    if (pop == 0 || pop == ck->bits) {
        type = pop ? MIGACCEL_BM_FULL : MIGACCEL_BM_EMPTY;
        if (wr->pend_type != type) {
            ret = flush_pending(wr);
            if (ret < 0) {
                return ret;
            }
            wr->pend_type = type;
        }
        wr->pend_count++;   /* at most 2^32 - 1 chunks in all */
        return 0;
    }
    ret = flush_pending(wr);
    if (ret < 0) {
        return ret;
    }

    /* nruns <= 16384 and pop < 32768: both fit in the u16 counts */
    runs_size = REC_LIST_HEAD + 4 * (size_t)nruns;
    array_size = REC_LIST_HEAD + 2 * (size_t)pop;
    bits_size = REC_HEAD + (ck->bits + 7) / 8;
    if (runs_size <= array_size && runs_size <= bits_size) {
        type = MIGACCEL_BM_RUNS;
        size = runs_size;
    } else if (array_size <= bits_size) {
        type = MIGACCEL_BM_ARRAY;
        size = array_size;
    } else {
        type = MIGACCEL_BM_BITS;
        size = bits_size;
    }
    if (wr->len - wr->pos < size) {
        return -ENOSPC;
    }
    p = wr->out + wr->pos;
    *p++ = (uint8_t)type;

    switch (type) {
    case MIGACCEL_BM_RUNS: {
        uint32_t pos = 0;

        put16(p, (uint16_t)nruns);
        p += 2;
        for (uint32_t r = 0; r < nruns; r++) {
            uint32_t start = find_next(ck, pos, true);
            uint32_t end = find_next(ck, start, false);

            put16(p, (uint16_t)start);
            put16(p + 2, (uint16_t)(end - start));  /* <= 32768 */
            p += 4;
            pos = end;
        }
        break;
    }
    case MIGACCEL_BM_ARRAY:
        put16(p, (uint16_t)pop);
        p += 2;
        for (uint32_t i = 0; i < ck->nwords; i++) {
            uint64_t w = chunk_word(ck, i);

            while (w) {
                put16(p, (uint16_t)(i * 64 + (uint32_t)__builtin_ctzll(w)));
                p += 2;
                w &= w - 1;
            }
        }
        break;
    default: {
        uint32_t nbytes = (ck->bits + 7) / 8;

        for (uint32_t i = 0; i < ck->nwords; i++) {
            uint64_t w = chunk_word(ck, i);
            uint32_t n = nbytes - i * 8 < 8 ? nbytes - i * 8 : 8;

            for (uint32_t b = 0; b < n; b++) {
                *p++ = (uint8_t)(w >> (8 * b));
            }
        }
        break;
    }
    }
    wr->pos += size;
    return 0;
}

ssize_t migaccel_bitmap_encode(const uint64_t *bits, uint64_t nbits,
                               uint8_t *out, size_t out_len)
{
    Writer wr = { .out = out, .len = out_len, .pend_type = -1 };
    uint64_t nchunks, payload_len;
    uint32_t crc;
    int ret;

    if (nbits > MIGACCEL_BITMAP_MAX_NBITS || (nbits && !bits) || !out) {
        return -EINVAL;
    }
    if (out_len < MIGACCEL_BITMAP_HEADER_SIZE) {
        return -ENOSPC;
    }
    nchunks = chunk_count(nbits);
    wr.pos = MIGACCEL_BITMAP_HEADER_SIZE;

    for (uint64_t c = 0; c < nchunks; c++) {
        Chunk ck;

        ck.w = bits + c * MIGACCEL_BITMAP_CHUNK_WORDS;
        ck.bits = chunk_bits(nbits, c);
        ck.nwords = (ck.bits + 63) / 64;
        ck.lastmask = ck.bits % 64 ? (1ULL << (ck.bits % 64)) - 1 : ~0ULL;
        ret = encode_chunk(&wr, &ck);
        if (ret < 0) {
            return ret;
        }
    }
    ret = flush_pending(&wr);
    if (ret < 0) {
        return ret;
    }
    if (wr.pos > (size_t)SSIZE_MAX) {
        return -EOVERFLOW;
    }

    payload_len = wr.pos - MIGACCEL_BITMAP_HEADER_SIZE;
    memcpy(out + HDR_MAGIC, MIGACCEL_BITMAP_MAGIC, 4);
    out[HDR_VERSION] = MIGACCEL_BITMAP_VERSION;
    out[HDR_FLAGS] = 0;
    put16(out + HDR_RESERVED, 0);
    put64(out + HDR_NBITS, nbits);
    put64(out + HDR_PAYLOAD_LEN, payload_len);
    put32(out + HDR_CHUNKS, (uint32_t)nchunks);
    crc = migaccel_crc32c(0, out, HDR_CRC);
    crc = migaccel_crc32c(crc, out + MIGACCEL_BITMAP_HEADER_SIZE, payload_len);
    put32(out + HDR_CRC, crc);
    return (ssize_t)wr.pos;
}

/* ---- decoder ---- */

int migaccel_bitmap_decode_header(const uint8_t *in, size_t in_len,
                                  uint64_t *nbits)
{
    uint64_t n;

    if (!in || !nbits || in_len < MIGACCEL_BITMAP_HEADER_SIZE) {
        return -EINVAL;
    }
    if (memcmp(in + HDR_MAGIC, MIGACCEL_BITMAP_MAGIC, 4) ||
        in[HDR_VERSION] != MIGACCEL_BITMAP_VERSION ||
        in[HDR_FLAGS] != 0 || get16(in + HDR_RESERVED) != 0) {
        return -EINVAL;
    }
    n = get64(in + HDR_NBITS);
    if (n > MIGACCEL_BITMAP_MAX_NBITS ||
        get32(in + HDR_CHUNKS) != chunk_count(n)) {
        return -EINVAL;
    }
    *nbits = n;
    return 0;
}

ssize_t migaccel_bitmap_encoded_size(const uint8_t *in, size_t in_len)
{
    uint64_t nbits, payload_len;
    int ret = migaccel_bitmap_decode_header(in, in_len, &nbits);

    if (ret < 0) {
        return ret;
    }
    payload_len = get64(in + HDR_PAYLOAD_LEN);
    if (payload_len > (uint64_t)SSIZE_MAX - MIGACCEL_BITMAP_HEADER_SIZE) {
        return -EOVERFLOW;
    }
    return (ssize_t)(payload_len + MIGACCEL_BITMAP_HEADER_SIZE);
}

/* Set pages [start, start + len) of bits */
static void set_range(uint64_t *bits, uint64_t start, uint64_t len)
{
    uint64_t end = start + len;
    uint64_t first = start / 64, last = (end - 1) / 64;
    uint64_t head = ~0ULL << (start % 64);
    uint64_t tail = ~0ULL >> (63 - (end - 1) % 64);

    if (first == last) {
        bits[first] |= head & tail;
        return;
    }
    bits[first] |= head;
    for (uint64_t i = first + 1; i < last; i++) {
        bits[i] = ~0ULL;
    }
    bits[last] |= tail;
}

/*
 * Walk the payload; with bits == NULL only validate and count, else also
 * apply (the input has then been validated already).
 */
static int64_t walk(const uint8_t *in, size_t in_len, uint64_t nbits,
                    uint64_t *bits)
{
    uint64_t nchunks = chunk_count(nbits);
    uint64_t c = 0;
    int64_t pop = 0;
    size_t pos = MIGACCEL_BITMAP_HEADER_SIZE;

#define NEED(k) do { if (in_len - pos < (size_t)(k)) return -EINVAL; } while (0)

    while (c < nchunks) {
        uint64_t base = c << MIGACCEL_BITMAP_CHUNK_SHIFT;
        uint32_t cb = chunk_bits(nbits, c);
        uint8_t type;

        NEED(1);
        type = in[pos++];
        switch (type) {
        case MIGACCEL_BM_EMPTY:
        case MIGACCEL_BM_FULL: {
            uint32_t count;

            NEED(4);
            count = get32(in + pos);
            pos += 4;
            if (count == 0 || count > nchunks - c) {
                return -EINVAL;
            }
            if (type == MIGACCEL_BM_FULL) {
                uint64_t end = (c + count) << MIGACCEL_BITMAP_CHUNK_SHIFT;

                if (end > nbits) {
                    end = nbits;
                }
                pop += (int64_t)(end - base);
                if (bits) {
                    set_range(bits, base, end - base);
                }
            }
            c += count;
            continue;
        }
        case MIGACCEL_BM_RUNS: {
            uint32_t n, prev_end = 0;

            NEED(2);
            n = get16(in + pos);
            pos += 2;
            if (n == 0) {
                return -EINVAL;
            }
            NEED(4 * (size_t)n);
            for (uint32_t r = 0; r < n; r++, pos += 4) {
                uint32_t start = get16(in + pos);
                uint32_t len = get16(in + pos + 2);

                /* sorted, no overlap, inside the chunk (adjacent is fine) */
                if (len == 0 || start < prev_end || start + len > cb) {
                    return -EINVAL;
                }
                prev_end = start + len;
                pop += len;
                if (bits) {
                    set_range(bits, base + start, len);
                }
            }
            break;
        }
        case MIGACCEL_BM_ARRAY: {
            uint32_t n;
            int64_t prev = -1;

            NEED(2);
            n = get16(in + pos);
            pos += 2;
            if (n == 0) {
                return -EINVAL;
            }
            NEED(2 * (size_t)n);
            for (uint32_t i = 0; i < n; i++, pos += 2) {
                uint32_t off = get16(in + pos);

                if (off >= cb || (int64_t)off <= prev) {
                    return -EINVAL;
                }
                prev = off;
                if (bits) {
                    bits[(base + off) / 64] |= 1ULL << (off % 64);
                }
            }
            pop += n;
            break;
        }
        case MIGACCEL_BM_BITS: {
            uint32_t nbytes = (cb + 7) / 8;

            NEED(nbytes);
            /* no bit at or beyond the end of a short chunk */
            if (cb % 8 && (in[pos + nbytes - 1] >> (cb % 8))) {
                return -EINVAL;
            }
            for (uint32_t i = 0; i < nbytes; i += 8) {
                uint32_t n = nbytes - i < 8 ? nbytes - i : 8;
                uint64_t w = 0;

                if (n == 8) {
                    w = get64(in + pos + i);
                } else {
                    for (uint32_t b = 0; b < n; b++) {
                        w |= (uint64_t)in[pos + i + b] << (8 * b);
                    }
                }
                pop += __builtin_popcountll(w);
                if (bits) {
                    bits[base / 64 + i / 8] |= w;
                }
            }
            pos += nbytes;
            break;
        }
        default:
            return -EINVAL;
        }
        c++;
    }
#undef NEED
    if (pos != in_len) {
        return -EINVAL;     /* trailing bytes */
    }
    return pop;
}

ssize_t migaccel_bitmap_decode(const uint8_t *in, size_t in_len,
                               uint64_t *bits, uint64_t nbits)
{
    uint64_t hdr_nbits, payload_len;
    uint32_t crc;
    int64_t pop;
    int ret;

    if (nbits && !bits) {
        return -EINVAL;
    }
    ret = migaccel_bitmap_decode_header(in, in_len, &hdr_nbits);
    if (ret < 0) {
        return ret;
    }
    payload_len = get64(in + HDR_PAYLOAD_LEN);
    if (hdr_nbits != nbits ||
        payload_len != in_len - MIGACCEL_BITMAP_HEADER_SIZE) {
        return -EINVAL;
    }
    crc = migaccel_crc32c(0, in, HDR_CRC);
    crc = migaccel_crc32c(crc, in + MIGACCEL_BITMAP_HEADER_SIZE, payload_len);
    if (crc != get32(in + HDR_CRC)) {
        return -EBADMSG;
    }
    pop = walk(in, in_len, nbits, NULL);
    if (pop < 0) {
        return pop;
    }
    if ((uint64_t)pop > (uint64_t)SSIZE_MAX) {
        return -EOVERFLOW;
    }
    if (nbits) {
        walk(in, in_len, nbits, bits);
    }
    return (ssize_t)pop;
}
