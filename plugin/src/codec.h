/*
 * Compressed dirty bitmap codec ("MABM" format, version 1).
 *
 * Encodes the dirty bitmap of one RAM block (one bit per target page,
 * bit i of word i / 64 is page i) as a header followed by one container
 * per chunk of 2^15 pages, in the spirit of CRoaring: EMPTY and FULL
 * chunks are run-length encoded, other chunks are stored as a list of
 * runs, a sorted array of offsets or the raw bits, whichever is smallest.
 * The wire format is described byte by byte in docs/bitmap-format.md.
 *
 * C11 (with GCC/clang builtins and, on x86-64, SSE4.2/PCLMULQDQ/POPCNT
 * code chosen at run time), no GLib, no allocation, no global state but a
 * cached probe of the CPU's features: every function is reentrant. Errors
 * are negative errno values.
 */
#ifndef MIGACCEL_CODEC_H
#define MIGACCEL_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MIGACCEL_BITMAP_MAGIC         "MABM"
#define MIGACCEL_BITMAP_VERSION       1
#define MIGACCEL_BITMAP_HEADER_SIZE   32
/* Pages per chunk and the matching number of 64-bit words */
#define MIGACCEL_BITMAP_CHUNK_SHIFT   15
#define MIGACCEL_BITMAP_CHUNK_BITS    (1u << MIGACCEL_BITMAP_CHUNK_SHIFT)
#define MIGACCEL_BITMAP_CHUNK_WORDS   (MIGACCEL_BITMAP_CHUNK_BITS / 64)
/* The chunk count is a u32 on the wire: at most 2^32 - 1 chunks */
#define MIGACCEL_BITMAP_MAX_NBITS \
    ((uint64_t)UINT32_MAX << MIGACCEL_BITMAP_CHUNK_SHIFT)
/*
 * Worst-case encoded size beyond the raw size: at most 5 bytes per chunk
 * (0.12 % of a full chunk) plus this fixed amount (the header and the
 * 5 bytes a short last chunk may cost).
 */
#define MIGACCEL_BITMAP_FIXED_OVERHEAD (MIGACCEL_BITMAP_HEADER_SIZE + 5)

/* Container types (first byte of each record) */
enum {
    MIGACCEL_BM_EMPTY = 0,  /* u32 count: count chunks with no bit set */
    MIGACCEL_BM_FULL  = 1,  /* u32 count: count chunks with every bit set */
    MIGACCEL_BM_RUNS  = 2,  /* u16 n, n x (u16 start, u16 length) */
    MIGACCEL_BM_ARRAY = 3,  /* u16 n, n x u16 offset, strictly increasing */
    MIGACCEL_BM_BITS  = 4,  /* ceil(chunk_bits / 8) bytes of raw bits */
};

/*
 * Worst-case size of the encoding of an nbits-bit bitmap: the header plus
 * ceil(nbits / 8) plus 5 bytes per chunk, which is never more than
 * ceil(nbits / 8) * 1.0013 + MIGACCEL_BITMAP_FIXED_OVERHEAD.
 * Returns 0 if nbits > MIGACCEL_BITMAP_MAX_NBITS or the size does not fit
 * in a size_t.
 */
size_t migaccel_bitmap_encode_bound(uint64_t nbits);

/*
 * Encode bits[0 .. nbits) into out. Bits of the last word at or beyond
 * nbits are ignored. bits may be NULL when nbits == 0.
 * Returns the number of bytes written, -EINVAL on bad arguments (nbits too
 * large, NULL pointers), -ENOSPC if out_len is too small (out_len >=
 * migaccel_bitmap_encode_bound(nbits) always suffices), or -EOVERFLOW if
 * the result would not fit in an ssize_t.
 */
ssize_t migaccel_bitmap_encode(const uint64_t *bits, uint64_t nbits,
                               uint8_t *out, size_t out_len);

/*
 * As migaccel_bitmap_encode(), guided by a summary of the bitmap: bit r
 * of summary (bit r % 64 of word r / 64) covers pages
 * [r << summary_shift, (r + 1) << summary_shift). A clear summary bit is
 * a promise that those pages are clean: the encoder does not read their
 * words. A set bit may cover clean pages (a superset is fine).
 * summary_shift is 6 .. MIGACCEL_BITMAP_CHUNK_SHIFT (QEMU uses 9: one bit per
 * 2 MiB of 4 KiB pages). summary == NULL means no summary (full scan).
 * Output is byte-identical to migaccel_bitmap_encode() of the same bitmap
 * whenever the promise holds. Returns as migaccel_bitmap_encode(), and
 * -EINVAL for a summary_shift out of range.
 *
 * More precisely: summary holds ceil(ceil(nbits / 2^summary_shift) / 64)
 * words, and only those are read; its bits for pages at or beyond nbits
 * are ignored. summary_shift is not checked when summary is NULL. When
 * the promise does not hold, the output is still a valid encoding, the
 * one of the bitmap with the pages of clear summary bits taken as clean
 * (bits AND the summary expanded to pages). Cost: one summary word per
 * chunk (summary_shift 9), plus the words under set summary bits.
 */
ssize_t migaccel_bitmap_encode_summary(const uint64_t *bits, uint64_t nbits,
                                       const uint64_t *summary,
                                       unsigned summary_shift,
                                       uint8_t *out, size_t out_len);

/*
 * Check the fixed header in[0 .. MIGACCEL_BITMAP_HEADER_SIZE) (magic,
 * version, flags, reserved bytes, nbits limit, chunk count) and return the
 * bitmap size in *nbits. Only the header is read, so this can be called
 * before the payload has arrived. Returns 0 or -EINVAL.
 */
int migaccel_bitmap_decode_header(const uint8_t *in, size_t in_len,
                                  uint64_t *nbits);

/*
 * Total size (header + payload) of the encoding whose header is at in,
 * after the same checks as migaccel_bitmap_decode_header(); lets a
 * receiver know how many bytes to read. Returns the size or -EINVAL
 * (-EOVERFLOW if it does not fit in an ssize_t).
 */
ssize_t migaccel_bitmap_encoded_size(const uint8_t *in, size_t in_len);

/*
 * Decode the encoding in[0 .. in_len) and OR its bits into
 * bits[0 .. nbits), which must hold ceil(nbits / 64) words; bits of the
 * last word at or beyond nbits are never touched. The whole input is
 * validated (checksum included) before bits is written, so on error bits
 * is unchanged (a first pass reads the whole input, a second one ORs it
 * into bits). Returns the number of bits set in the encoding (not the
 * number newly set in bits), -EINVAL on a malformed input, an nbits that
 * differs from the header's, or trailing bytes, and -EBADMSG on a checksum
 * mismatch.
 */
ssize_t migaccel_bitmap_decode(const uint8_t *in, size_t in_len,
                               uint64_t *bits, uint64_t nbits);

/*
 * CRC32C (Castagnoli, reflected, as in iSCSI/ext4): crc = 0 to start,
 * feed the previous result to continue.
 */
uint32_t migaccel_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* MIGACCEL_CODEC_H */
