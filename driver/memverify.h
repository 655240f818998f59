/*
 * Guest RAM comparison without memory images on disk: QEMU's
 * dump-guest-memory (ELF, paging=false) is pointed at a FIFO, a thread
 * parses the ELF stream as it arrives and keeps a 64-bit digest per 4 KiB
 * page, keyed by guest-physical address (PT_LOAD p_paddr).
 */
#pragma once

#include <glib.h>

#include "qmp.h"

#define MEM_PAGE_SIZE 4096
#define MEM_MAX_REPORTED_DIFFS 10

typedef struct {
    guint64 paddr;
    guint64 size;
    gsize first_page;   /* index into MemDigest.hashes */
} MemSegment;

typedef struct {
    GArray *segments;   /* MemSegment, in stream order */
    GArray *hashes;     /* guint64, one per page */
    guint64 bytes;      /* guest RAM bytes hashed */
    gint64 elapsed_us;
} MemDigest;

void mem_digest_free(MemDigest *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemDigest, mem_digest_free)

/* Runs dump-guest-memory on @qmp into a FIFO at @fifo_path (created and
 * removed here) and digests the stream. Blocks until done. */
MemDigest *mem_digest_collect(QmpClient *qmp, const char *fifo_path,
                              GError **error);

typedef struct {
    guint64 pages;
    guint64 differing;
    guint64 first_diffs[MEM_MAX_REPORTED_DIFFS];  /* guest-physical addresses */
    guint n_first;
    char *layout_error;  /* set when the two dumps do not cover the same RAM */
} MemCompare;

/* TRUE if identical. */
gboolean mem_digest_compare(const MemDigest *a, const MemDigest *b,
                            MemCompare *out);
void mem_compare_clear(MemCompare *c);
