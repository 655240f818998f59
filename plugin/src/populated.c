/*
 * first-pass=populated: find the pages a RAM block's host never populated
 * without reading them (a read of never-written anonymous memory maps the
 * shared zero page, and reading 256 GiB to find 250 GiB of zeros is what
 * this saves).  docs/first-pass.md has the measurements behind the choices:
 *
 *   anonymous memory   PAGEMAP_SCAN (Linux 6.7+), which can leave out
 *                      pages mapping the zero page; /proc/self/pagemap
 *                      otherwise, which counts them as populated.  Both
 *                      count swapped-out pages; mincore() would not.
 *   shared file, memfd SEEK_DATA on the file: right whoever mapped or read
 *                      its pages.
 *   private file       SEEK_DATA for the file's data and the anonymous
 *                      query for pages copied on write.
 *   hugetlbfs (shared) no SEEK_DATA there; the page tables, when the
 *                      file holds no page they do not show.
 *
 * Any doubt (a call that fails, a file system without SEEK_DATA) counts
 * pages as populated: a page sent needlessly costs time, one left out
 * wrongly costs data.
 */
#include "populated.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "stats.h"

#define AREA_PAGE_SHIFT 12
#define AREA_PAGE_SIZE (UINT64_C(1) << AREA_PAGE_SHIFT)

/*
 * The PAGEMAP_SCAN ioctl's ABI (linux/fs.h since Linux 6.7); Debian 12's
 * headers predate it and its kernel (6.1) answers ENOTTY.
 */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
struct page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};
struct pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

static const char *const method_names[MIGACCEL_METHOD__MAX] = {
    [MIGACCEL_METHOD_NONE] = "none",
    [MIGACCEL_METHOD_PAGEMAP_SCAN] = "pagemap-scan",
    [MIGACCEL_METHOD_PAGEMAP] = "pagemap",
    [MIGACCEL_METHOD_SEEK_DATA] = "seek-data",
    [MIGACCEL_METHOD_SEEK_DATA_PAGEMAP_SCAN] = "seek-data+pagemap-scan",
    [MIGACCEL_METHOD_SEEK_DATA_PAGEMAP] = "seek-data+pagemap",
    [MIGACCEL_METHOD_HUGETLBFS_PAGEMAP_SCAN] = "hugetlbfs-pagemap-scan",
    [MIGACCEL_METHOD_HUGETLBFS_PAGEMAP] = "hugetlbfs-pagemap",
};

const char *migaccel_populated_method_name(MigAccelPopulatedMethod method)
{
    return method >= 0 && method < MIGACCEL_METHOD__MAX ? method_names[method]
                                                        : "unknown";
}

void migaccel_populated_init(MigAccelPopulated *p)
{
    memset(p, 0, sizeof(*p));
    p->skip = true;
}

void migaccel_populated_set_mode(MigAccelPopulated *p, const char *value)
{
    p->skip = !strcmp(value, "populated");
}

void migaccel_populated_set_no_scan(MigAccelPopulated *p, bool no_scan)
{
    atomic_store(&p->scan_works, no_scan ? -1 : 0);
}

/* Sets bits [@first, @end) of @bits, clipped to @nbits */
static void set_bits(uint64_t *bits, uint64_t nbits, uint64_t first,
                     uint64_t end)
{
    if (end > nbits) {
        end = nbits;
    }
    while (first < end && (first & 63)) {
        bits[first / 64] |= UINT64_C(1) << (first & 63);
        first++;
    }
    while (first + 64 <= end) {
        bits[first / 64] = ~UINT64_C(0);
        first += 64;
    }
    while (first < end) {
        bits[first / 64] |= UINT64_C(1) << (first & 63);
        first++;
    }
}

/* A message QEMU frees with free() */
static char *msgf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static char *msgf(const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        msg = NULL;
    }
    va_end(ap);
    return msg;
}

static int fail(char **errmsg, int err, const MigAccelRamArea *area,
                const char *what)
{
    *errmsg = msgf("%s of RAM block '%s' failed: %s", what, area->name,
                   g_strerror(err));
    return -err;
}

/* Present or swapped pages, except those mapping the shared zero page */
static int scan_pagemap_scan(int fd, const MigAccelRamArea *area,
                             uint64_t *bits, uint64_t nbits)
{
    /* Zeroed for valgrind, which cannot see the kernel fill it */
    struct page_region regions[512] = { { 0 } };
    uint64_t base = (uintptr_t)area->host, start = base;
    uint64_t end = base + area->length;

    while (start < end) {
        struct pm_scan_arg arg = {
            .size = sizeof(arg),
            .start = start,
            .end = end,
            .vec = (uintptr_t)regions,
            .vec_len = G_N_ELEMENTS(regions),
            .category_inverted = PAGE_IS_PFNZERO,
            .category_mask = PAGE_IS_PFNZERO,
            .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        };
        long n = ioctl(fd, PAGEMAP_SCAN, &arg);

        if (n < 0) {
            return -errno;
        }
        for (long i = 0; i < n; i++) {
            set_bits(bits, nbits, (regions[i].start - base) >> AREA_PAGE_SHIFT,
                     (regions[i].end - base + AREA_PAGE_SIZE - 1) >>
                         AREA_PAGE_SHIFT);
        }
        if (arg.walk_end <= start) {
            break;
        }
        start = arg.walk_end;
    }
    return 0;
}

/* 8 bytes per page: bit 63 present, bit 62 swapped */
static int scan_pagemap(int fd, const MigAccelRamArea *area, uint64_t *bits,
                        uint64_t nbits)
{
    enum { CHUNK = 65536 };
    g_autofree uint64_t *ent = g_try_new(uint64_t, CHUNK);
    uint64_t first = (uintptr_t)area->host >> AREA_PAGE_SHIFT;

    if (!ent) {
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < nbits; i += CHUNK) {
        uint64_t k = MIN((uint64_t)CHUNK, nbits - i);
        ssize_t want = (ssize_t)(k * sizeof(*ent));

        if (pread(fd, ent, want, (off_t)((first + i) * sizeof(*ent))) != want) {
            return errno ? -errno : -EIO;
        }
        for (uint64_t j = 0; j < k; j++) {
            if (ent[j] >> 62) {
                bits[(i + j) / 64] |= UINT64_C(1) << ((i + j) & 63);
            }
        }
    }
    return 0;
}

/* Anonymous pages: PAGEMAP_SCAN where the kernel has it, else pagemap */
static int scan_anonymous(MigAccelPopulated *p, const MigAccelRamArea *area,
                          uint64_t *bits, uint64_t nbits, bool *by_scan)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int ret = -ENOTTY;

    if (fd < 0) {
        return -errno;
    }
    if (atomic_load(&p->scan_works) >= 0) {
        ret = scan_pagemap_scan(fd, area, bits, nbits);
        if (ret == -ENOTTY || ret == -EINVAL) {
            /* Before Linux 6.7; nothing was set */
            atomic_store(&p->scan_works, -1);
        } else if (ret == 0) {
            atomic_store(&p->scan_works, 1);
        }
    }
    *by_scan = ret == 0;
    if (ret == -ENOTTY || ret == -EINVAL) {
        ret = scan_pagemap(fd, area, bits, nbits);
    }
    close(fd);
    return ret;
}

/*
 * The file's data in the mapped range; a file system that cannot tell
 * (EINVAL) has all of it counted as data
 */
static int scan_file(const MigAccelRamArea *area, uint64_t *bits,
                     uint64_t nbits)
{
    off_t base = (off_t)area->fd_offset, end = base + (off_t)area->length;
    off_t pos = base;

    while (pos < end) {
        off_t data = lseek(area->fd, pos, SEEK_DATA), hole;

        if (data < 0) {
            if (errno == ENXIO) {
                break;          /* no data after pos */
            }
            if (errno == EINVAL) {
                set_bits(bits, nbits, 0, nbits);
                return 0;
            }
            return -errno;
        }
        if (data >= end) {
            break;
        }
        hole = lseek(area->fd, data, SEEK_HOLE);
        if (hole < 0) {
            return -errno;
        }
        if (hole > end) {
            hole = end;
        }
        set_bits(bits, nbits, (uint64_t)(data - base) >> AREA_PAGE_SHIFT,
                 ((uint64_t)(hole - base) + AREA_PAGE_SIZE - 1) >>
                     AREA_PAGE_SHIFT);
        pos = hole;
    }
    return 0;
}

static uint64_t count_bits(const uint64_t *bits, uint64_t nbits);

/*
 * hugetlbfs has no SEEK_DATA: every offset of the file counts as data.
 * Its pages only ever get populated through mappings, and the file counts
 * what it holds (st_blocks).  When that equals what this mapping's page
 * tables show present, no other mapping holds a page this one lacks, and
 * the page tables are the answer: then they replace @bits.  False leaves
 * @bits (everything) alone.
 */
static bool scan_hugetlbfs(MigAccelPopulated *p, const MigAccelRamArea *area,
                           uint64_t *bits, uint64_t nbits, bool *by_scan)
{
    g_autofree uint64_t *mapped = NULL;
    struct statfs sfs;
    struct stat st;

    if (fstatfs(area->fd, &sfs) || sfs.f_type != HUGETLBFS_MAGIC ||
        fstat(area->fd, &st)) {
        return false;
    }
    mapped = g_try_new0(uint64_t, (nbits + 63) / 64);
    if (!mapped || scan_anonymous(p, area, mapped, nbits, by_scan) < 0 ||
        (uint64_t)st.st_blocks * 512 !=
            count_bits(mapped, nbits) * AREA_PAGE_SIZE) {
        return false;
    }
    memcpy(bits, mapped, (nbits + 63) / 64 * sizeof(*bits));
    return true;
}

/* A huge page is populated as a whole: never leave half of one out */
static void widen_to_host_pages(uint64_t *bits, uint64_t nbits,
                                uint64_t page_size)
{
    uint64_t per = page_size >> AREA_PAGE_SHIFT;

    if (per <= 1) {
        return;
    }
    for (uint64_t first = 0; first < nbits; first += per) {
        uint64_t end = MIN(first + per, nbits);

        for (uint64_t i = first; i < end; i++) {
            if (bits[i / 64] & (UINT64_C(1) << (i & 63))) {
                set_bits(bits, nbits, first, end);
                break;
            }
        }
    }
}

static uint64_t count_bits(const uint64_t *bits, uint64_t nbits)
{
    uint64_t n = 0;

    for (uint64_t i = 0; i < nbits / 64; i++) {
        n += (uint64_t)__builtin_popcountll(bits[i]);
    }
    if (nbits & 63) {
        n += (uint64_t)__builtin_popcountll(
            bits[nbits / 64] & ((UINT64_C(1) << (nbits & 63)) - 1));
    }
    return n;
}

int64_t migaccel_populated(MigAccelPopulated *p, MigAccelPopulatedUse use,
                           const MigAccelRamArea *area, uint64_t *bits,
                           uint64_t nbits, char **errmsg)
{
    MigAccelPopulatedSide *side;
    MigAccelPopulatedMethod method = MIGACCEL_METHOD_NONE;
    uint64_t t0 = migaccel_now_ns(), found;
    bool by_scan = false;
    int ret = 0;

    if (use != MIGACCEL_POPULATED_SKIP && use != MIGACCEL_POPULATED_ZERO) {
        *errmsg = strdup("unknown populated-pages use");
        return -EINVAL;
    }
    if (use == MIGACCEL_POPULATED_SKIP && !p->skip) {
        return -ENOTSUP;        /* first-pass=all: the stock first pass */
    }
    if (area->length % AREA_PAGE_SIZE || nbits != area->length >> AREA_PAGE_SHIFT ||
        (uintptr_t)area->host % AREA_PAGE_SIZE) {
        *errmsg = msgf("RAM block '%s': %" PRIu64 " bits for %" PRIu64
                       " bytes at %p are not one per 4 KiB page", area->name,
                       nbits, area->length, area->host);
        return -EINVAL;
    }
    if (area->fd >= 0) {
        ret = scan_file(area, bits, nbits);
        if (ret < 0) {
            return fail(errmsg, -ret, area, "SEEK_DATA");
        }
        method = MIGACCEL_METHOD_SEEK_DATA;
        if (area->shared &&
            scan_hugetlbfs(p, area, bits, nbits, &by_scan)) {
            method = by_scan ? MIGACCEL_METHOD_HUGETLBFS_PAGEMAP_SCAN
                             : MIGACCEL_METHOD_HUGETLBFS_PAGEMAP;
        }
    }
    if (area->fd < 0 || !area->shared) {
        ret = scan_anonymous(p, area, bits, nbits, &by_scan);
        if (ret < 0) {
            return fail(errmsg, -ret, area, "the page map query");
        }
        if (area->fd < 0) {
            method = by_scan ? MIGACCEL_METHOD_PAGEMAP_SCAN
                             : MIGACCEL_METHOD_PAGEMAP;
        } else {
            method = by_scan ? MIGACCEL_METHOD_SEEK_DATA_PAGEMAP_SCAN
                             : MIGACCEL_METHOD_SEEK_DATA_PAGEMAP;
        }
    }
    widen_to_host_pages(bits, nbits, area->page_size);
    found = count_bits(bits, nbits);

    side = &p->side[use];
    COUNTER_ADD(side->areas, 1);
    COUNTER_ADD(side->ns, migaccel_now_ns() - t0);
    COUNTER_ADD(side->pages_populated, found);
    COUNTER_ADD(side->pages_unpopulated, nbits - found);
    atomic_fetch_or_explicit(&side->methods, 1u << method,
                              memory_order_relaxed);
    return (int64_t)found;
}

void migaccel_populated_event(MigAccelPopulated *p,
                              const MigAccelEventInfo *info)
{
    MigAccelPopulatedUse use;

    if (info->edge != MIGACCEL_BEGIN) {
        return;
    }
    if (info->event == MIGACCEL_EV_SRC_SETUP) {
        use = MIGACCEL_POPULATED_SKIP;
    } else if (info->event == MIGACCEL_EV_DST_SETUP) {
        use = MIGACCEL_POPULATED_ZERO;
    } else {
        return;
    }
    COUNTER_SET(p->side[use].areas, 0);
    COUNTER_SET(p->side[use].ns, 0);
    COUNTER_SET(p->side[use].pages_populated, 0);
    COUNTER_SET(p->side[use].pages_unpopulated, 0);
    atomic_store(&p->side[use].methods, 0);
}

/* "none", or the names of the methods in @mask joined by commas */
static const char *methods_text(unsigned mask, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int m = MIGACCEL_METHOD_NONE + 1; m < MIGACCEL_METHOD__MAX; m++) {
        if (mask & (1u << m)) {
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? "," : "", method_names[m]);
            if (used >= len) {
                break;
            }
        }
    }
    return buf[0] ? buf : "none";
}

void migaccel_populated_foreach(MigAccelPopulated *p,
                                const MigAccelStatSink *sink)
{
    static const char *const prefix[2] = { "first_pass", "dst_zero_check" };
    char name[64], text[160];

    stat_string(sink, "first_pass", p->skip ? "populated" : "all");
    for (int use = 0; use < 2; use++) {
        MigAccelPopulatedSide *side = &p->side[use];

        snprintf(name, sizeof(name), "%s_blocks_queried", prefix[use]);
        stat_number(sink, name, COUNTER_GET(side->areas));
        snprintf(name, sizeof(name), "%s_query_us", prefix[use]);
        stat_number(sink, name, COUNTER_GET(side->ns) / 1000);
        snprintf(name, sizeof(name), "%s_pages_populated", prefix[use]);
        stat_number(sink, name, COUNTER_GET(side->pages_populated));
        snprintf(name, sizeof(name), "%s_pages_unpopulated", prefix[use]);
        stat_number(sink, name, COUNTER_GET(side->pages_unpopulated));
        snprintf(name, sizeof(name), "%s_methods", prefix[use]);
        stat_string(sink, name, methods_text(atomic_load(&side->methods),
                                             text, sizeof(text)));
    }
}
