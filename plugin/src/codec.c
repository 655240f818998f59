/*
 * Compressed dirty bitmap codec: see codec.h and docs/bitmap-format.md.
 *
 * Speed notes (the wire format does not depend on any of this):
 * - CRC32C: SSE4.2's crc32 instruction where the CPU has it, on three
 *   independent streams combined with a carry-less multiply (PCLMULQDQ)
 *   when it has that too, else one stream; a byte-wise table otherwise.
 *   The encoder computes the CRC of the payload while it writes it (a few
 *   KiB behind, while those bytes are still in the L1 cache) and combines
 *   it with the header's CRC at the end; the decoder's checking pass keeps
 *   the CRC a window ahead of the record parser.
 * - Encoder: with a summary of the bitmap, chunks whose summary is clear
 *   cost one summary word, and inside the other chunks only the words of
 *   set regions are read. BITS records are word copies.
 * - Decoder: a checking pass (CRC and every record) that reads only the
 *   record heads of BITS records, then a pass that ORs the records into
 *   the bitmap (BITS: an OR and a popcount per word).
 */
#include "codec.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
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

/* The summary has at most this many bits per chunk (summary_shift 6) */
#define SUMMARY_MIN_SHIFT   6
#define MAX_CHUNK_REGIONS   (MIGACCEL_BITMAP_CHUNK_BITS >> SUMMARY_MIN_SHIFT)

/*
 * -DMIGACCEL_CODEC_PORTABLE builds the code a big-endian host or a CPU
 * without SSE4.2/PCLMULQDQ/POPCNT runs (byte-wise copies, table CRC,
 * generic popcount), to test it on any machine.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    !defined(MIGACCEL_CODEC_PORTABLE)
/* HOST_LE: a BITS record is the chunk's words as they lie in memory */
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

/* ---- CPU features, probed once ---- */

enum {
    CPU_KNOWN  = 1,
    CPU_SSE42  = 2,     /* crc32 */
    CPU_PCLMUL = 4,     /* carry-less multiply: combines CRC streams */
    CPU_POPCNT = 8,
};

static unsigned cpu_features(void)
{
    /* relaxed: every thread that probes stores the same value */
    static atomic_uint cached;
    unsigned f = atomic_load_explicit(&cached, memory_order_relaxed);

    if (!f) {
        f = CPU_KNOWN;
#if defined(__x86_64__) && !defined(MIGACCEL_CODEC_PORTABLE)
        f |= __builtin_cpu_supports("sse4.2") ? CPU_SSE42 : 0;
        f |= __builtin_cpu_supports("pclmul") ? CPU_PCLMUL : 0;
        f |= __builtin_cpu_supports("popcnt") ? CPU_POPCNT : 0;
#endif
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f;
}

/* ---- CRC32C ---- */

/* Reflected polynomial: bit 31 of a register is x^0, bit 0 is x^31 */
#define CRC32C_POLY 0x82f63b78u

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

/* a * b modulo the polynomial, both reflected */
static uint32_t crc32c_mulmod(uint32_t a, uint32_t b)
{
    uint32_t p = 0;

    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m) {
            p ^= b;
        }
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

/* x^(2^k) modulo the polynomial for k = 0 .. 30; x^(2^31) is x again */
static const uint32_t crc32c_x2n[31] = {
    0x40000000u, 0x20000000u, 0x08000000u, 0x00800000u, 0x00008000u, 0x82f63b78u,
    0x6ea2d55cu, 0x18b8ea18u, 0x510ac59au, 0xb82be955u, 0xb8fdb1e7u, 0x88e56f72u,
    0x74c360a4u, 0xe4172b16u, 0x0d65762au, 0x35d73a62u, 0x28461564u, 0xbf455269u,
    0xe2ea32dcu, 0xfe7740e6u, 0xf946610bu, 0x3c204f8fu, 0x538586e3u, 0x59726915u,
    0x734d5309u, 0xbc1ac763u, 0x7d0722ccu, 0xd289cabeu, 0xe94ca9bcu, 0x05b74f3fu,
    0xa51e1f42u,
};

/*
 * The register after len more zero bytes, crc * x^(8 len) mod P: what
 * the register of "A then B" is made of, crc(A || B) =
 * shift(crc(A), |B|) ^ crc(B) with crc(B) started from 0.
 */
static uint32_t crc32c_shift(uint32_t crc, uint64_t len)
{
    for (unsigned k = 3; len; len >>= 1, k++) {
        if (len & 1) {
            crc = crc32c_mulmod(crc32c_x2n[k % 31], crc);
        }
    }
    return crc;
}

#if defined(__x86_64__)
#include <immintrin.h>

static uint64_t load64_host(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* SSE4.2's crc32 instruction computes CRC32C: 8 bytes per instruction */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;

    for (; len >= 8; len -= 8, p += 8) {
        c = _mm_crc32_u64(c, load64_host(p));
    }
    for (; len; len--) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
    }
    return (uint32_t)c;
}

/*
 * crc32 has a latency of 3 cycles and a throughput of 1: three streams
 * of n bytes run in parallel, each from its own register, and are
 * combined as shift(c0, 2n) ^ shift(c1, n) ^ c2. A shift by n bytes is a
 * carry-less multiply by K(n) = x^(8n - 33) mod P (reflected) followed by
 * a crc32 of the 64-bit product, which multiplies by x^33 and reduces.
 * The constants are checked by /codec/crc in tests/unit/test-codec.c.
 */
#define CRC_LONG        4096    /* three streams 4 KiB apart: 12 KiB blocks */
#define CRC_K_LONG      0x82f89c77u     /* K(4096) */
#define CRC_K_LONG2     0x54a86326u     /* K(8192) */
#define CRC_SHORT       256
#define CRC_K_SHORT     0xb9e02b86u     /* K(256) */
#define CRC_K_SHORT2    0xdd7e3b0cu     /* K(512) */

__attribute__((target("sse4.2,pclmul")))
static uint64_t crc32c_clmul_shift(uint64_t crc, uint32_t k)
{
    __m128i t = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)crc),
                                     _mm_cvtsi64_si128((long long)k), 0x00);

    return _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(t));
}

#define CRC32C_3WAY(n, k1, k2)                                              \
    while (len >= 3 * (size_t)(n)) {                                        \
        uint64_t c1 = 0, c2 = 0;                                            \
                                                                            \
        for (size_t i = 0; i < (n); i += 8) {                               \
            c0 = _mm_crc32_u64(c0, load64_host(p + i));                     \
            c1 = _mm_crc32_u64(c1, load64_host(p + (n) + i));               \
            c2 = _mm_crc32_u64(c2, load64_host(p + 2 * (n) + i));           \
        }                                                                   \
        c0 = crc32c_clmul_shift(c0, k2) ^ crc32c_clmul_shift(c1, k1) ^ c2;  \
        p += 3 * (size_t)(n);                                               \
        len -= 3 * (size_t)(n);                                             \
    }

__attribute__((target("sse4.2,pclmul")))
static uint32_t crc32c_sse42_3way(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c0 = crc;

    CRC32C_3WAY(CRC_LONG, CRC_K_LONG, CRC_K_LONG2)
    CRC32C_3WAY(CRC_SHORT, CRC_K_SHORT, CRC_K_SHORT2)
    return crc32c_sse42((uint32_t)c0, p, len);
}
#endif

/* The CRC register after buf[0 .. len), without the inversions */
static uint32_t crc32c_raw(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
    unsigned f = cpu_features();

    if ((f & (CPU_SSE42 | CPU_PCLMUL)) == (CPU_SSE42 | CPU_PCLMUL)) {
        return crc32c_sse42_3way(crc, buf, len);
    }
    if (f & CPU_SSE42) {
        return crc32c_sse42(crc, buf, len);
    }
#endif
    return crc32c_bytes(crc, buf, len);
}

uint32_t migaccel_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32c_raw(~crc, buf, len);
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

/*
 * One chunk of the input. With a summary, the chunk is cut into regions of
 * 2^region_shift words and bit j of regmask says whether region j may hold
 * a dirty page; the words of the other regions are never read (taken as
 * 0). regmask == NULL: every word may be read.
 */
typedef struct Chunk {
    const uint64_t *w;  /* first word of the chunk */
    uint32_t bits;      /* pages in the chunk */
    uint32_t nwords;
    uint64_t lastmask;  /* valid bits of w[nwords - 1] */
    const uint64_t *regmask;
    uint32_t nregions;  /* bits of regmask (fewer in a short last chunk) */
    unsigned region_shift;
} Chunk;

/*
 * Words [i0, i1) of a chunk that may be read: the whole chunk, or a
 * maximal run of set regions. Words between two stretches are clean.
 */
typedef struct Stretch {
    uint16_t i0, i1;
} Stretch;

/* At most every other region is set in a chunk that is not all set */
#define MAX_STRETCHES   (MAX_CHUNK_REGIONS / 2)

static uint64_t chunk_word(const Chunk *ck, uint32_t i)
{
    return i == ck->nwords - 1 ? ck->w[i] & ck->lastmask : ck->w[i];
}

/* First bit >= from of m[] that is set (set) or clear (!set), or n */
static uint32_t mask_find(const uint64_t *m, uint32_t from, uint32_t n,
                          bool set)
{
    while (from < n) {
        uint64_t w = set ? m[from / 64] : ~m[from / 64];

        w &= ~0ULL << (from % 64);
        if (w) {
            uint32_t r = (from & ~63u) + (uint32_t)__builtin_ctzll(w);
            return r < n ? r : n;
        }
        from = (from | 63) + 1;
    }
    return n;
}

/* The stretches of a chunk, in order; returns how many */
static uint32_t chunk_stretches(const Chunk *ck, Stretch *st)
{
    uint32_t n = 0, a, b = 0;

    if (!ck->regmask) {
        st[0].i0 = 0;
        st[0].i1 = (uint16_t)ck->nwords;
        return 1;
    }
    while ((a = mask_find(ck->regmask, b, ck->nregions, true)) <
           ck->nregions) {
        uint32_t i1;

        b = mask_find(ck->regmask, a, ck->nregions, false);
        i1 = b << ck->region_shift;
        st[n].i0 = (uint16_t)(a << ck->region_shift);
        st[n].i1 = (uint16_t)(i1 < ck->nwords ? i1 : ck->nwords);
        n++;
    }
    return n;
}

typedef struct Writer {
    uint8_t *out;
    size_t len;
    size_t pos;
    int pend_type;          /* pending EMPTY/FULL record, or -1 */
    uint32_t pend_count;
    size_t crc_pos;         /* out[HEADER_SIZE, crc_pos) is in crc */
    uint32_t crc;           /* CRC register of the payload, from 0 */
    volatile uint64_t touch_sink;   /* see touch_regions() */
} Writer;

/*
 * The payload's CRC follows the writer this far behind: far enough for
 * three long streams, close enough that what it reads is still in L1.
 */
#define CRC_LAG (12 * 1024)

static void wr_crc(Writer *wr)
{
    wr->crc = crc32c_raw(wr->crc, wr->out + wr->crc_pos,
                         wr->pos - wr->crc_pos);
    wr->crc_pos = wr->pos;
}

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

/* One more EMPTY (type 0) or FULL (type 1) chunk */
static int add_repeat(Writer *wr, int type)
{
    if (wr->pend_type != type) {
        int ret = flush_pending(wr);

        if (ret < 0) {
            return ret;
        }
        wr->pend_type = type;
    }
    wr->pend_count++;   /* at most 2^32 - 1 chunks in all */
    return 0;
}

/*
 * 0 if no page of the chunk is dirty, 1 if all are, -1 otherwise: an OR and
 * an AND over the words (four of each at a time, for the compiler to
 * vectorise), so empty and full chunks (most of a sparse or a fully dirty
 * bitmap) cost a memory scan.
 */
static int chunk_uniform(const Chunk *ck)
{
    uint64_t any0 = 0, any1 = 0, any2 = 0, any3 = 0;
    uint64_t all0 = ~0ULL, all1 = ~0ULL, all2 = ~0ULL, all3 = ~0ULL;
    uint64_t last = ck->w[ck->nwords - 1] & ck->lastmask;
    const uint64_t *w = ck->w;
    uint32_t i = 0;

    for (; i + 4 < ck->nwords; i += 4) {
        any0 |= w[i];
        all0 &= w[i];
        any1 |= w[i + 1];
        all1 &= w[i + 1];
        any2 |= w[i + 2];
        all2 &= w[i + 2];
        any3 |= w[i + 3];
        all3 &= w[i + 3];
    }
    for (; i + 1 < ck->nwords; i++) {
        any0 |= w[i];
        all0 &= w[i];
    }
    any0 |= last | any1 | any2 | any3;
    all0 &= (last | ~ck->lastmask) & all1 & all2 & all3;
    return !any0 ? 0 : all0 == ~0ULL ? 1 : -1;
}

/*
 * The set pages and the runs of set pages of the stretches; the word
 * before a stretch is clean (or outside the chunk). Both only grow, so
 * once both are past what RUNS and ARRAY may hold before BITS is smaller
 * (1023 runs and 2047 pages in a full chunk), the chunk is BITS and the
 * count stops there: a dense chunk is decided after about 64 words.
 * Inlined into a generic and a popcnt copy.
 */
static inline __attribute__((always_inline))
void counts_body(const Chunk *ck, const Stretch *st, uint32_t nst,
                 uint32_t *pop, uint32_t *nruns)
{
    uint32_t bits_size = REC_HEAD + (ck->bits + 7) / 8;
    uint32_t max_runs = (bits_size - REC_LIST_HEAD) / 4;
    uint32_t max_pop = (bits_size - REC_LIST_HEAD) / 2;
    uint32_t p = 0, r = 0;

    for (uint32_t s = 0; s < nst; s++) {
        uint32_t i1 = st[s].i1;
        uint32_t end = i1 < ck->nwords ? i1 : ck->nwords - 1;
        uint64_t carry = 0;
        uint32_t i;

        for (i = st[s].i0; i < end; i++) {
            uint64_t w = ck->w[i];

            p += (uint32_t)__builtin_popcountll(w);
            /* a run starts where a set bit follows a clear one */
            r += (uint32_t)__builtin_popcountll(w & ~((w << 1) | carry));
            carry = w >> 63;
            if (i % 16 == 15 && r > max_runs && p > max_pop) {
                *pop = p;
                *nruns = r;
                return;
            }
        }
        if (i < i1) {   /* the last word of the chunk */
            uint64_t w = ck->w[i] & ck->lastmask;

            p += (uint32_t)__builtin_popcountll(w);
            r += (uint32_t)__builtin_popcountll(w & ~((w << 1) | carry));
        }
    }
    *pop = p;
    *nruns = r;
}

static void chunk_counts_generic(const Chunk *ck, const Stretch *st,
                                 uint32_t nst, uint32_t *pop, uint32_t *nruns)
{
    counts_body(ck, st, nst, pop, nruns);
}

#if defined(__x86_64__)
/* The same with the popcnt instruction instead of libgcc's bit tricks */
__attribute__((target("popcnt")))
static void chunk_counts_popcnt(const Chunk *ck, const Stretch *st,
                                uint32_t nst, uint32_t *pop, uint32_t *nruns)
{
    counts_body(ck, st, nst, pop, nruns);
}
#endif

static void chunk_counts(const Chunk *ck, const Stretch *st, uint32_t nst,
                         uint32_t *pop, uint32_t *nruns)
{
#if defined(__x86_64__)
    if (cpu_features() & CPU_POPCNT) {
        chunk_counts_popcnt(ck, st, nst, pop, nruns);
        return;
    }
#endif
    chunk_counts_generic(ck, st, nst, pop, nruns);
}

/* RUNS list of the stretches: one pass, a step per run boundary */
static void put_runs(uint8_t *p, const Chunk *ck, const Stretch *st,
                     uint32_t nst)
{
    for (uint32_t s = 0; s < nst; s++) {
        uint64_t carry = 0;
        uint32_t start = 0, i;

        for (i = st[s].i0; i < st[s].i1; i++) {
            uint64_t w = chunk_word(ck, i);
            /* bit k: page 64 i + k differs from the page before */
            uint64_t edges = w ^ ((w << 1) | carry);

            carry = w >> 63;
            while (edges) {
                uint32_t pos = i * 64 + (uint32_t)__builtin_ctzll(edges);

                if ((w >> (pos % 64)) & 1) {
                    start = pos;
                } else {
                    put16(p, (uint16_t)start);
                    put16(p + 2, (uint16_t)(pos - start));  /* <= 32768 */
                    p += 4;
                }
                edges &= edges - 1;
            }
        }
        if (carry) {    /* a run to the end of the stretch (not past bits) */
            put16(p, (uint16_t)start);
            put16(p + 2, (uint16_t)(i * 64 - start));
            p += 4;
        }
    }
}

/* Bytes of a BITS record taken by words [0, i) of the chunk */
static uint32_t words_bytes(const Chunk *ck, uint32_t i)
{
    uint32_t nbytes = (ck->bits + 7) / 8;

    return 8 * i < nbytes ? 8 * i : nbytes;
}

/* Write words [i0, i1) of the chunk as BITS bytes, at p + 8 * i0 */
static void put_words(uint8_t *p, const Chunk *ck, uint32_t i0, uint32_t i1)
{
    uint32_t whole = i1 < ck->nwords ? i1 : ck->nwords - 1;

#if HOST_LE
    if (whole > i0) {
        memcpy(p + 8 * (size_t)i0, ck->w + i0, 8 * (size_t)(whole - i0));
    }
#else
    for (uint32_t i = i0; i < whole; i++) {
        put64(p + 8 * (size_t)i, ck->w[i]);
    }
#endif
    if (i1 == ck->nwords) {     /* the last word, cut to the chunk */
        uint64_t w = ck->w[i1 - 1] & ck->lastmask;
        uint32_t n = words_bytes(ck, i1) - 8 * (i1 - 1);

        for (uint32_t b = 0; b < n; b++) {
            p[8 * (i1 - 1) + b] = (uint8_t)(w >> (8 * b));
        }
    }
}

static int encode_chunk(Writer *wr, const Chunk *ck)
{
    Stretch st[MAX_STRETCHES];
    uint32_t nst = chunk_stretches(ck, st);
    uint32_t pop = 0, nruns = 0;
    size_t runs_size, array_size, bits_size, size;
    int type, ret;
    uint8_t *p;

    if (!ck->regmask) {
        /*
         * A first word neither clean nor all dirty: not uniform, count
         * (a dense chunk is then decided after a few words); else most
         * likely EMPTY or FULL, which the OR/AND scan tells faster.
         */
        uint64_t w0 = chunk_word(ck, 0);
        int uniform = -1;

        if (w0 == 0 || w0 == (ck->nwords == 1 ? ck->lastmask : ~0ULL)) {
            uniform = chunk_uniform(ck);
        }
        if (uniform >= 0) {
            pop = uniform ? ck->bits : 0;
        } else {
            chunk_counts(ck, st, nst, &pop, &nruns);
        }
    } else {
        /* some region is clean: never FULL */
        chunk_counts(ck, st, nst, &pop, &nruns);
    }

    if (pop == 0 || pop == ck->bits) {
        return add_repeat(wr, pop ? MIGACCEL_BM_FULL : MIGACCEL_BM_EMPTY);
    }
    ret = flush_pending(wr);
    if (ret < 0) {
        return ret;
    }

    /*
     * nruns <= 16384 and pop < 32768: both fit in the u16 counts (they
     * may be short of the real counts when BITS is the choice).
     */
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
    case MIGACCEL_BM_RUNS:
        put16(p, (uint16_t)nruns);
        put_runs(p + 2, ck, st, nst);
        break;
    case MIGACCEL_BM_ARRAY:
        put16(p, (uint16_t)pop);
        p += 2;
        for (uint32_t s = 0; s < nst; s++) {
            for (uint32_t i = st[s].i0; i < st[s].i1; i++) {
                uint64_t w = chunk_word(ck, i);

                while (w) {
                    put16(p, (uint16_t)(i * 64 + (uint32_t)__builtin_ctzll(w)));
                    p += 2;
                    w &= w - 1;
                }
            }
        }
        break;
    default: {
        uint32_t done = 0;      /* words [0, done) are written */

        for (uint32_t s = 0; s < nst; s++) {
            memset(p + words_bytes(ck, done), 0,
                   words_bytes(ck, st[s].i0) - words_bytes(ck, done));
            put_words(p, ck, st[s].i0, st[s].i1);
            done = st[s].i1;
        }
        memset(p + words_bytes(ck, done), 0,
               words_bytes(ck, ck->nwords) - words_bytes(ck, done));
        break;
    }
    }
    wr->pos += size;
    return 0;
}

/*
 * Bits [first, first + n) of the summary into m[], the bits past n
 * cleared; first is a multiple of the regions per chunk, so they lie in
 * whole words (64 or more per chunk) or inside one word (fewer).
 */
static void load_regions(uint64_t *m, const uint64_t *summary,
                         uint64_t first, uint32_t n)
{
    if (first % 64 == 0) {
        uint32_t nw = (n + 63) / 64;

        memcpy(m, summary + first / 64, nw * sizeof(*m));
        if (n % 64) {
            m[nw - 1] &= (1ULL << (n % 64)) - 1;
        }
    } else {
        /* n < 64 and first % 64 + n <= 64 */
        m[0] = (summary[first / 64] >> (first % 64)) & ((1ULL << n) - 1);
    }
}

/*
 * When the set regions are scattered, reading each is a cache and a TLB
 * miss, and the encoder's branchy work between two of them keeps the CPU
 * from having many in flight: 32768 set regions of a 6 TiB bitmap took
 * 8 ms that way. So the encoder first loads a word of every cache line of
 * every set region of the next TOUCH_BATCH summary words in a tight loop
 * (the misses overlap: about 1 ms for those 32768), then encodes their
 * chunks from the cache; the region's last word too, as the bitmap need
 * not be aligned to a cache line (malloc() gives 16 bytes). Summary words
 * with every bit set are skipped: their chunks are read in order, which
 * the hardware prefetcher handles. __builtin_prefetch() did not help:
 * prefetches that miss the TLB may be dropped.
 * Returns the sum of the words loaded, for the caller to store in a
 * volatile (valgrind would otherwise drop loads whose value is unused, and
 * not see them).
 */
#define TOUCH_BATCH     64      /* summary words: 64 chunks at shift 9 */

static uint64_t touch_regions(const uint64_t *bits, uint64_t nwords,
                              const uint64_t *summary, uint64_t sw,
                              uint64_t nregions, unsigned summary_shift)
{
    uint64_t m = summary[sw], sum = 0;
    uint64_t rw = 1ULL << (summary_shift - 6);     /* words per region */

    if (m == ~0ULL) {
        return 0;
    }
    if (nregions - sw * 64 < 64) {
        m &= (1ULL << (nregions - sw * 64)) - 1;
    }
    while (m) {
        uint64_t r = sw * 64 + (uint64_t)__builtin_ctzll(m);
        uint64_t i0 = r * rw, i1 = i0 + rw < nwords ? i0 + rw : nwords;

        for (uint64_t i = i0; i < i1; i += 8) {
            sum += bits[i];
        }
        sum += bits[i1 - 1];
        m &= m - 1;
    }
    return sum;
}

/* 0 if no bit of m[0 .. n) is set, 1 if all are, -1 otherwise */
static int regions_uniform(const uint64_t *m, uint32_t n)
{
    uint64_t any = 0, all = ~0ULL;
    uint32_t nw = (n + 63) / 64;

    for (uint32_t i = 0; i < nw; i++) {
        uint64_t full = i == nw - 1 && n % 64 ? (1ULL << (n % 64)) - 1 : ~0ULL;

        any |= m[i];
        all &= m[i] | ~full;
    }
    return !any ? 0 : all == ~0ULL ? 1 : -1;
}

ssize_t migaccel_bitmap_encode_summary(const uint64_t *bits, uint64_t nbits,
                                       const uint64_t *summary,
                                       unsigned summary_shift,
                                       uint8_t *out, size_t out_len)
{
    Writer wr = { .out = out, .len = out_len, .pend_type = -1 };
    uint64_t regmask[MAX_CHUNK_REGIONS / 64];
    uint64_t nchunks, payload_len, nregions = 0, nsummary = 0, touched = 0;
    uint32_t crc;
    int ret;

    if (nbits > MIGACCEL_BITMAP_MAX_NBITS || (nbits && !bits) || !out) {
        return -EINVAL;
    }
    if (summary && (summary_shift < SUMMARY_MIN_SHIFT ||
                    summary_shift > MIGACCEL_BITMAP_CHUNK_SHIFT)) {
        return -EINVAL;
    }
    if (out_len < MIGACCEL_BITMAP_HEADER_SIZE) {
        return -ENOSPC;
    }
    nchunks = chunk_count(nbits);
    wr.pos = wr.crc_pos = MIGACCEL_BITMAP_HEADER_SIZE;
    if (summary) {
        nregions = (nbits + (1ULL << summary_shift) - 1) >> summary_shift;
        nsummary = (nregions + 63) / 64;
    }

    for (uint64_t c = 0; c < nchunks; c++) {
        Chunk ck;

        ck.w = bits + c * MIGACCEL_BITMAP_CHUNK_WORDS;
        ck.bits = chunk_bits(nbits, c);
        ck.nwords = (ck.bits + 63) / 64;
        ck.lastmask = ck.bits % 64 ? (1ULL << (ck.bits % 64)) - 1 : ~0ULL;
        ck.regmask = NULL;
        if (summary) {
            unsigned per_chunk = MIGACCEL_BITMAP_CHUNK_SHIFT - summary_shift;
            uint64_t sw = (c << per_chunk) / 64;    /* first summary word */
            int uniform;

            if (sw >= touched) {
                uint64_t end = nsummary - sw > TOUCH_BATCH ? sw + TOUCH_BATCH
                                                           : nsummary;
                uint64_t sum = 0;

                for (touched = sw; touched < end; touched++) {
                    sum += touch_regions(bits, (nbits + 63) / 64, summary,
                                         touched, nregions, summary_shift);
                }
                wr.touch_sink = sum;
            }
            ck.nregions = (ck.bits + (1u << summary_shift) - 1) >>
                          summary_shift;
            ck.region_shift = summary_shift - 6;
            load_regions(regmask, summary, c << per_chunk, ck.nregions);
            uniform = regions_uniform(regmask, ck.nregions);
            if (uniform == 0) {
                /* clean by the summary's promise: no word read */
                ret = add_repeat(&wr, MIGACCEL_BM_EMPTY);
                if (ret < 0) {
                    return ret;
                }
                continue;
            }
            if (uniform < 0) {
                ck.regmask = regmask;
            }
        }
        ret = encode_chunk(&wr, &ck);
        if (ret < 0) {
            return ret;
        }
        if (wr.pos - wr.crc_pos >= CRC_LAG) {
            wr_crc(&wr);
        }
    }
    ret = flush_pending(&wr);
    if (ret < 0) {
        return ret;
    }
    if (wr.pos > (size_t)SSIZE_MAX) {
        return -EOVERFLOW;
    }
    wr_crc(&wr);

    payload_len = wr.pos - MIGACCEL_BITMAP_HEADER_SIZE;
    memcpy(out + HDR_MAGIC, MIGACCEL_BITMAP_MAGIC, 4);
    out[HDR_VERSION] = MIGACCEL_BITMAP_VERSION;
    out[HDR_FLAGS] = 0;
    put16(out + HDR_RESERVED, 0);
    put64(out + HDR_NBITS, nbits);
    put64(out + HDR_PAYLOAD_LEN, payload_len);
    put32(out + HDR_CHUNKS, (uint32_t)nchunks);
    /* the header comes first in the CRC: move its register past the payload */
    crc = crc32c_shift(crc32c_raw(~0u, out, HDR_CRC), payload_len) ^ wr.crc;
    put32(out + HDR_CRC, ~crc);
    return (ssize_t)wr.pos;
}

ssize_t migaccel_bitmap_encode(const uint64_t *bits, uint64_t nbits,
                               uint8_t *out, size_t out_len)
{
    return migaccel_bitmap_encode_summary(bits, nbits, NULL, 0, out, out_len);
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

/*
 * Set pages [start, start + len) of bits. Words wholly inside are stored,
 * not ORed: a store that misses the cache does not wait for the line,
 * a load does (a 6 TiB bitmap with 31 457 scattered 2 MiB runs decodes in
 * about 2.4 ms instead of 3.9).
 */
static void set_range(uint64_t *bits, uint64_t start, uint64_t len)
{
    uint64_t end = start + len, i = start / 64, iend = end / 64;

    if (start % 64) {
        uint64_t head = ~0ULL << (start % 64);

        if (i == iend) {    /* inside one word */
            bits[i] |= head & ((1ULL << (end % 64)) - 1);
            return;
        }
        bits[i++] |= head;
    }
    for (; i < iend; i++) {
        bits[i] = ~0ULL;
    }
    if (end % 64) {
        bits[iend] |= (1ULL << (end % 64)) - 1;
    }
}

static uint64_t load64_le(const uint8_t *p)
{
#if HOST_LE
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
#else
    return get64(p);
#endif
}

/*
 * The set bits of the nbytes bytes of a BITS record at src, ORed into
 * dst (word aligned) unless dst is NULL. Inlined into a generic and a
 * popcnt copy.
 */
static inline __attribute__((always_inline))
uint64_t bits_body(uint64_t *dst, const uint8_t *src, uint32_t nbytes)
{
    uint32_t n = nbytes / 8;
    uint64_t pop = 0;

    if (dst) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t w = load64_le(src + 8 * (size_t)i);

            pop += (uint64_t)__builtin_popcountll(w);
            dst[i] |= w;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t w = load64_le(src + 8 * (size_t)i);

            pop += (uint64_t)__builtin_popcountll(w);
        }
    }
    if (nbytes % 8) {
        uint64_t w = 0;

        for (uint32_t b = 0; b < nbytes % 8; b++) {
            w |= (uint64_t)src[8 * (size_t)n + b] << (8 * b);
        }
        pop += (uint64_t)__builtin_popcountll(w);
        if (dst) {
            dst[n] |= w;
        }
    }
    return pop;
}

static uint64_t bits_apply_generic(uint64_t *dst, const uint8_t *src,
                                   uint32_t nbytes)
{
    return bits_body(dst, src, nbytes);
}

#if defined(__x86_64__)
__attribute__((target("popcnt")))
static uint64_t bits_apply_popcnt(uint64_t *dst, const uint8_t *src,
                                  uint32_t nbytes)
{
    return bits_body(dst, src, nbytes);
}
#endif

static uint64_t bits_apply(uint64_t *dst, const uint8_t *src, uint32_t nbytes)
{
#if defined(__x86_64__)
    if (cpu_features() & CPU_POPCNT) {
        return bits_apply_popcnt(dst, src, nbytes);
    }
#endif
    return bits_apply_generic(dst, src, nbytes);
}

/*
 * The CRC of the input, kept this far ahead of the record parser of the
 * checking pass: the parser then reads bytes the CRC has just brought
 * into the cache, and the CRC runs over long stretches (three streams).
 */
#define CRC_AHEAD (256 * 1024)

typedef struct CrcAhead {
    const uint8_t *in;
    size_t len;
    size_t pos;         /* in[HEADER_SIZE, pos) is in reg */
    uint32_t reg;       /* CRC register of in[0, 28) then the payload */
} CrcAhead;

static void crc_ahead(CrcAhead *ca, size_t need)
{
    size_t to;

    if (need <= ca->pos) {
        return;
    }
    to = ca->len - ca->pos > CRC_AHEAD ? ca->pos + CRC_AHEAD : ca->len;
    if (to < need) {
        to = need;
    }
    ca->reg = crc32c_raw(ca->reg, ca->in + ca->pos, to - ca->pos);
    ca->pos = to;
}

enum {
    WALK_CHECK,     /* check every record; BITS count as all set */
    WALK_COUNT,     /* count exactly, write nothing (input checked) */
    WALK_APPLY,     /* count exactly and OR into bits (input checked) */
};

/*
 * Walk the payload. WALK_CHECK checks every record (everything but the
 * CRC, which ca computes alongside) and returns an upper bound of the set
 * pages (exact but for BITS records) or -EINVAL; the other modes run on a
 * checked input and return the set pages.
 */
static int64_t walk(const uint8_t *in, size_t in_len, uint64_t nbits,
                    uint64_t *bits, int mode, CrcAhead *ca)
{
    uint64_t nchunks = chunk_count(nbits);
    uint64_t c = 0;
    int64_t pop = 0;
    size_t pos = MIGACCEL_BITMAP_HEADER_SIZE;
    bool apply = mode == WALK_APPLY;

#define NEED(k)                                                             \
    do {                                                                    \
        if (in_len - pos < (size_t)(k)) {                                   \
            return -EINVAL;                                                 \
        }                                                                   \
        if (ca) {                                                           \
            crc_ahead(ca, pos + (size_t)(k));                               \
        }                                                                   \
    } while (0)

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
                if (apply) {
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
                if (apply) {
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
                if (apply) {
                    bits[(base + off) / 64] |= 1ULL << (off % 64);
                }
            }
            pop += n;
            break;
        }
        case MIGACCEL_BM_BITS: {
            uint32_t nbytes = (cb + 7) / 8;

            NEED(nbytes);
            if (mode == WALK_CHECK) {
                /* no bit at or beyond the end of a short chunk */
                if (cb % 8 && (in[pos + nbytes - 1] >> (cb % 8))) {
                    return -EINVAL;
                }
                pop += cb;
            } else {
                pop += (int64_t)bits_apply(apply ? bits + base / 64 : NULL,
                                           in + pos, nbytes);
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
    CrcAhead ca;
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

    /*
     * First pass: the records and the CRC, nothing written. A bad CRC
     * wins over a bad record, as if the CRC had been checked first.
     */
    ca.in = in;
    ca.len = in_len;
    ca.pos = MIGACCEL_BITMAP_HEADER_SIZE;
    ca.reg = crc32c_raw(~0u, in, HDR_CRC);
    pop = walk(in, in_len, nbits, NULL, WALK_CHECK, &ca);
    crc_ahead(&ca, in_len);
    if (~ca.reg != get32(in + HDR_CRC)) {
        return -EBADMSG;
    }
    if (pop < 0) {
        return pop;
    }
    /* pop is exact but for BITS records, counted as all set */
    if ((uint64_t)pop > (uint64_t)SSIZE_MAX) {
        pop = walk(in, in_len, nbits, NULL, WALK_COUNT, NULL);
        if ((uint64_t)pop > (uint64_t)SSIZE_MAX) {
            return -EOVERFLOW;
        }
    }
    /* Second pass: apply */
    if (nbits) {
        pop = walk(in, in_len, nbits, bits, WALK_APPLY, NULL);
    }
    return (ssize_t)pop;
}
