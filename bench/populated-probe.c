/*
 * populated-probe: which ways of finding the pages a guest's RAM backing
 * never populated work for which backend, and what they cost (issue 19).
 *
 * For each backend it maps SIZE bytes the way QEMU would (anonymous
 * private with MAP_NORESERVE, a memfd, a file, hugetlbfs when there are
 * huge pages), writes one byte into every STRIDE-th page, and asks each
 * method how many pages hold data.  A method is right when it finds
 * exactly the pages written; the report says so, with its time.
 *
 *   build/bench/populated-probe [SIZE_GIB [STRIDE [DIR]]]   (default 64 1024 /tmp)
 *
 * Methods (all but mincore are the plugin's own, plugin/src/populated.c,
 * the code first-pass=populated runs):
 *   mincore       residency (page tables for anonymous memory, page cache
 *                 for shared and file mappings)
 *   pagemap       /proc/self/pagemap, 8 bytes per page: present or swapped
 *   pagemap-scan  the PAGEMAP_SCAN ioctl (Linux 6.7+), ranges of pages
 *                 present or swapped, without an entry per page
 *   seek-data     lseek(SEEK_DATA/SEEK_HOLE) on the backing file (on
 *                 hugetlbfs, which has none, the plugin's page-table answer)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "populated.h"

typedef struct {
    const char *name;
    char *base;
    size_t size;
    size_t page;       /* the backend's page size */
    int fd;            /* -1: anonymous */
    uint64_t written;  /* pages written */
} Backing;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void report(const Backing *b, const char *method, int64_t found, double ms,
                   const char *why_not)
{
    if (found < 0) {
        printf("  %-10s %-22s %-9s %s\n", b->name, method, "n/a", why_not);
        return;
    }
    printf("  %-10s %-22s %-9s %10" PRId64 " pages in %9.1f ms%s\n", b->name, method,
           (uint64_t)found == b->written ? "right" : "WRONG", found, ms,
           (uint64_t)found == b->written ? "" : " (expected the written count)");
}

static void probe_mincore(const Backing *b)
{
    size_t n = b->size / (size_t)getpagesize();
    unsigned char *vec = malloc(n);
    int64_t found = 0;
    double t0 = now_ms();

    if (!vec || mincore(b->base, b->size, vec)) {
        report(b, "mincore", -1, 0, strerror(errno));
        free(vec);
        return;
    }
    /* counted in the backend's pages, as the other methods */
    for (size_t i = 0; i < n; i += b->page / (size_t)getpagesize()) {
        found += vec[i] & 1;
    }
    report(b, "mincore", found, now_ms() - t0, NULL);
    free(vec);
}

/*
 * One of the plugin's methods: the page tables (pagemap-scan, or pagemap
 * as on kernels before 6.7) or the file (seek-data)
 */
static void probe_plugin(const Backing *b, const char *method)
{
    bool file = !strcmp(method, "seek-data");
    MigAccelRamArea area = {
        .name = b->name, .host = b->base, .length = b->size, .page_size = b->page,
        .fd = file ? b->fd : -1, .fd_offset = 0, .shared = true,
    };
    uint64_t nbits = b->size / 4096;
    uint64_t *bits = calloc((nbits + 63) / 64, sizeof(*bits));
    MigAccelPopulated p;
    char *msg = NULL, used[48];
    double t0;
    int64_t n;

    if (file && b->fd < 0) {
        report(b, method, -1, 0, "anonymous memory has no file");
        free(bits);
        return;
    }
    migaccel_populated_init(&p);
    migaccel_populated_set_no_scan(&p, !strcmp(method, "pagemap"));
    t0 = now_ms();
    n = bits ? migaccel_populated(&p, MIGACCEL_POPULATED_ZERO, &area, bits, nbits, &msg)
             : -ENOMEM;
    if (n < 0) {
        report(b, method, -1, 0, msg ? msg : strerror((int)-n));
    } else if (!strcmp(method, "pagemap-scan") && atomic_load(&p.scan_works) < 0) {
        report(b, method, -1, 0, "no PAGEMAP_SCAN in this kernel (before 6.7)");
    } else {
        for (int m = 1; m < MIGACCEL_METHOD__MAX; m++) {
            if (atomic_load(&p.side[MIGACCEL_POPULATED_ZERO].methods) & (1u << m)) {
                snprintf(used, sizeof(used), "%s", migaccel_populated_method_name(m));
            }
        }
        /* counted in the backend's pages, as the other methods */
        report(b, strcmp(used, method) ? used : method, n / (int64_t)(b->page / 4096),
               now_ms() - t0, NULL);
    }
    free(msg);
    free(bits);
}

static bool map_backing(Backing *b, const char *name, int fd, size_t size, size_t page)
{
    int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED;

    memset(b, 0, sizeof(*b));
    b->name = name;
    b->fd = fd;
    b->size = size;
    b->page = page;
    if (fd >= 0 && ftruncate(fd, (off_t)size)) {
        printf("  %-10s skipped: ftruncate: %s\n", name, strerror(errno));
        return false;
    }
    b->base = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (b->base == MAP_FAILED) {
        printf("  %-10s skipped: mmap: %s\n", name, strerror(errno));
        return false;
    }
    return true;
}

static void run(Backing *b, size_t stride)
{
    double t0 = now_ms();

    for (size_t off = 0; off < b->size; off += stride * b->page) {
        b->base[off] = 1;
        b->written++;
    }
    printf("  %-10s wrote %" PRIu64 " of %zu pages of %zu KiB in %.0f ms\n", b->name,
           b->written, b->size / b->page, b->page / 1024, now_ms() - t0);
    probe_mincore(b);
    probe_plugin(b, "pagemap");
    probe_plugin(b, "pagemap-scan");
    probe_plugin(b, "seek-data");
    if (b->fd < 0) {
        /* What a stock first pass leaves behind: every page read once */
        volatile char sink = 0;

        t0 = now_ms();
        for (size_t off = 0; off < b->size; off += b->page) {
            sink += b->base[off];
        }
        (void)sink;
        printf("  %-10s read every page once (as a stock first pass does) in %.0f ms\n",
               b->name, now_ms() - t0);
        probe_mincore(b);
        probe_plugin(b, "pagemap");
        probe_plugin(b, "pagemap-scan");
    }
    munmap(b->base, b->size);
    if (b->fd >= 0) {
        close(b->fd);
    }
}

/* Free 2 MiB huge pages: writing to a hugetlbfs page the host has not
 * reserved raises SIGBUS */
static unsigned long huge_pages_free(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long n = 0;

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "HugePages_Free: %lu", &n) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned long free_huge;
    size_t gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;
    size_t stride = argc > 2 ? strtoull(argv[2], NULL, 0) : 1024;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    size_t size = gib << 30;
    char path[4096];
    Backing b;
    int fd;

    if (!gib || !stride) {
        fprintf(stderr, "usage: %s [SIZE_GIB [STRIDE [DIR]]]\n", argv[0]);
        return 2;
    }
    printf("populated-probe: %zu GiB per backend, one page written every %zu\n", gib, stride);
    if (map_backing(&b, "anonymous", -1, size, (size_t)getpagesize())) {
        run(&b, stride);
    }
    fd = memfd_create("populated-probe", MFD_CLOEXEC);
    if (fd >= 0 && map_backing(&b, "memfd", fd, size, (size_t)getpagesize())) {
        run(&b, stride);
    }
    snprintf(path, sizeof(path), "%s/populated-probe.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        if (map_backing(&b, "file", fd, size, (size_t)getpagesize())) {
            run(&b, stride);
        }
    } else {
        printf("  %-10s skipped: mkstemp in %s: %s\n", "file", dir, strerror(errno));
    }
    free_huge = huge_pages_free();
    fd = free_huge ? memfd_create("populated-probe-huge", MFD_CLOEXEC | MFD_HUGETLB) : -1;
    if (!free_huge) {
        printf("  %-10s skipped: no free 2 MiB huge pages (vm.nr_hugepages)\n", "hugetlbfs");
    } else if (fd < 0) {
        printf("  %-10s skipped: memfd_create(MFD_HUGETLB): %s\n", "hugetlbfs", strerror(errno));
    } else if (map_backing(&b, "hugetlbfs", fd, (size_t)free_huge * (2u << 20), 2u << 20)) {
        /* every other huge page of what is free: a write needs a real page */
        run(&b, 2);
    } else {
        close(fd);
    }
    return 0;
}
