/*
 * Unit tests of first-pass=populated (plugin/src/populated.c): on real
 * mappings of each kind QEMU backs guest RAM with, the pages the query
 * leaves clear must be exactly, or at worst fewer than, the pages nobody
 * wrote.  A page written but reported clear would be lost in a migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "populated.h"

#define PAGE 4096u
#define NPAGES 4096u            /* 16 MiB */

static bool bit(const uint64_t *bits, uint64_t i)
{
    return bits[i / 64] >> (i & 63) & 1;
}

static uint64_t *new_bits(void)
{
    return g_new0(uint64_t, NPAGES / 64);
}

/*
 * NPAGES of anonymous memory, as QEMU maps guest RAM; THP kept from
 * filling whole 2 MiB runs, since the tests count 4 KiB pages
 */
static uint8_t *map_anonymous(void)
{
    uint8_t *host = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    g_assert_true(host != MAP_FAILED);
    madvise(host, (size_t)NPAGES * PAGE, MADV_NOHUGEPAGE);
    return host;
}

static MigAccelRamArea area_of(void *host, int fd, bool shared)
{
    return (MigAccelRamArea) {
        .name = "test", .host = host, .length = (uint64_t)NPAGES * PAGE,
        .page_size = PAGE, .fd = fd, .fd_offset = 0, .shared = shared,
    };
}

/* Every 7th page, and a run at the end: a written page is never left out */
static bool written(uint64_t i)
{
    return i % 7 == 3 || i >= NPAGES - 40;
}

static void write_pages(uint8_t *host)
{
    for (uint64_t i = 0; i < NPAGES; i++) {
        if (written(i)) {
            host[i * PAGE + 100] = 1;
        }
    }
}

static uint64_t count_written(void)
{
    uint64_t n = 0;

    for (uint64_t i = 0; i < NPAGES; i++) {
        n += written(i);
    }
    return n;
}

/* Each written page set; with @exact, nothing else */
static void assert_found(const uint64_t *bits, int64_t ret, bool exact)
{
    g_assert_cmpint(ret, >=, (int64_t)count_written());
    for (uint64_t i = 0; i < NPAGES; i++) {
        if (written(i)) {
            g_assert_true(bit(bits, i));
        } else if (exact) {
            g_assert_false(bit(bits, i));
        }
    }
    if (exact) {
        g_assert_cmpint(ret, ==, (int64_t)count_written());
    }
}

/* The one method used since init (or -1: several) */
static int method_of(MigAccelPopulated *p, MigAccelPopulatedUse use)
{
    unsigned mask = atomic_load(&p->side[use].methods);

    g_assert_cmpuint(mask, !=, 0);
    return (mask & (mask - 1)) ? -1 : __builtin_ctz(mask);
}

static int64_t query(MigAccelPopulated *p, MigAccelPopulatedUse use,
                     const MigAccelRamArea *a, uint64_t *bits)
{
    char *msg = NULL;
    int64_t ret = migaccel_populated(p, use, a, bits, NPAGES, &msg);

    if (ret < 0 && ret != -ENOTSUP) {
        g_error("query failed: %s", msg ? msg : g_strerror((int)-ret));
    }
    g_assert_null(msg);
    return ret;
}

static void test_anonymous(gconstpointer no_scan)
{
    MigAccelPopulated p;
    uint8_t *host = map_anonymous();
    g_autofree uint64_t *bits = new_bits();
    MigAccelRamArea a = area_of(host, -1, false);
    volatile uint8_t sink = 0;
    int64_t ret;

    migaccel_populated_init(&p);
    migaccel_populated_set_no_scan(&p, no_scan != NULL);
    write_pages(host);
    ret = query(&p, MIGACCEL_POPULATED_SKIP, &a, bits);
    assert_found(bits, ret, true);

    /* A read maps the zero page: only PAGEMAP_SCAN can still tell */
    for (uint64_t i = 0; i < NPAGES; i += 5) {
        sink += host[i * PAGE];
    }
    (void)sink;
    memset(bits, 0, NPAGES / 8);
    ret = query(&p, MIGACCEL_POPULATED_SKIP, &a, bits);
    if (atomic_load(&p.scan_works) > 0) {
        assert_found(bits, ret, true);
    } else {
        assert_found(bits, ret, false);
        g_test_message("%s: read pages count as populated (%" PRId64 ")",
                       no_scan ? "pagemap forced" : "no PAGEMAP_SCAN here",
                       ret);
    }
    g_assert_cmpint(method_of(&p, MIGACCEL_POPULATED_SKIP), ==,
                    atomic_load(&p.scan_works) > 0 ? MIGACCEL_METHOD_PAGEMAP_SCAN
                                                    : MIGACCEL_METHOD_PAGEMAP);
    munmap(host, (size_t)NPAGES * PAGE);
}

static void test_memfd(void)
{
    MigAccelPopulated p;
    int fd = memfd_create("populated-test", MFD_CLOEXEC);
    g_autofree uint64_t *bits = new_bits();
    uint8_t *host;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)NPAGES * PAGE), ==, 0);
    host = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE,
                MAP_SHARED, fd, 0);
    g_assert_true(host != MAP_FAILED);
    migaccel_populated_init(&p);
    write_pages(host);

    MigAccelRamArea a = area_of(host, fd, true);
    assert_found(bits, query(&p, MIGACCEL_POPULATED_ZERO, &a, bits), true);
    g_assert_cmpint(method_of(&p, MIGACCEL_POPULATED_ZERO), ==,
                    MIGACCEL_METHOD_SEEK_DATA);
    munmap(host, (size_t)NPAGES * PAGE);
    close(fd);
}

/*
 * A private mapping of a file: the file's data and the pages copied on
 * write both hold data.  The file gets the even written pages, the
 * mapping the odd ones.
 */
static void test_private_file(void)
{
    MigAccelPopulated p;
    g_autofree char *path = g_build_filename(g_get_tmp_dir(),
                                             "populated-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    g_autofree uint64_t *bits = new_bits();
    uint8_t one = 1, *host;

    g_assert_cmpint(fd, >=, 0);
    unlink(path);
    g_assert_cmpint(ftruncate(fd, (off_t)NPAGES * PAGE), ==, 0);
    for (uint64_t i = 0; i < NPAGES; i += 2) {
        if (written(i)) {
            g_assert_cmpint(pwrite(fd, &one, 1, (off_t)(i * PAGE + 7)), ==, 1);
        }
    }
    host = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE, fd, 0);
    g_assert_true(host != MAP_FAILED);
    for (uint64_t i = 1; i < NPAGES; i += 2) {
        if (written(i)) {
            host[i * PAGE] = 1;
        }
    }
    migaccel_populated_init(&p);
    MigAccelRamArea a = area_of(host, fd, false);
    /*
     * Exact is too strict here: file systems may keep data in extents
     * larger than a page; what matters is that nothing written is missed
     */
    assert_found(bits, query(&p, MIGACCEL_POPULATED_SKIP, &a, bits), false);
    int method = method_of(&p, MIGACCEL_POPULATED_SKIP);
    g_assert_true(method == MIGACCEL_METHOD_SEEK_DATA_PAGEMAP_SCAN ||
                  method == MIGACCEL_METHOD_SEEK_DATA_PAGEMAP);
    munmap(host, (size_t)NPAGES * PAGE);
    close(fd);
}

/*
 * hugetlbfs has no SEEK_DATA; a shared mapping whose page tables show all
 * the file holds is answered from them, a file holding a page this mapping
 * does not show counts as all data
 */
static void test_hugetlbfs(void)
{
    const size_t huge = 2u << 20, len = 4 * huge;
    MigAccelPopulated p;
    int fd = memfd_create("populated-huge", MFD_CLOEXEC | MFD_HUGETLB);
    uint64_t nbits = len / PAGE;
    g_autofree uint64_t *bits = g_new0(uint64_t, nbits / 64);
    uint8_t *host = MAP_FAILED, *other = MAP_FAILED;
    char *msg = NULL;

    if (fd >= 0 && ftruncate(fd, (off_t)len) == 0) {
        host = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (host == MAP_FAILED) {
        g_test_skip("no 2 MiB huge pages to map here (vm.nr_hugepages)");
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    if (host[0] == 0xff) {      /* a read allocates a huge page too */
        g_test_message("unexpected data");
    }
    host[2 * huge + 5] = 1;
    MigAccelRamArea a = {
        .name = "huge", .host = host, .length = len, .page_size = huge,
        .fd = fd, .fd_offset = 0, .shared = true,
    };
    migaccel_populated_init(&p);
    g_assert_cmpint(migaccel_populated(&p, MIGACCEL_POPULATED_SKIP, &a, bits,
                                       nbits, &msg), ==, 1024);
    g_assert_null(msg);
    for (uint64_t i = 0; i < nbits; i++) {
        g_assert_cmpint(bit(bits, i), ==, i < 512 || (i >= 1024 && i < 1536));
    }
    int method = method_of(&p, MIGACCEL_POPULATED_SKIP);
    g_assert_true(method == MIGACCEL_METHOD_HUGETLBFS_PAGEMAP_SCAN ||
                  method == MIGACCEL_METHOD_HUGETLBFS_PAGEMAP);

    /* A page populated through another mapping only: all counts as data */
    other = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert_true(other != MAP_FAILED);
    other[3 * huge] = 1;
    munmap(other, len);
    memset(bits, 0, nbits / 8);
    migaccel_populated_init(&p);
    g_assert_cmpint(migaccel_populated(&p, MIGACCEL_POPULATED_SKIP, &a, bits,
                                       nbits, &msg), ==, (int64_t)nbits);
    g_assert_cmpint(method_of(&p, MIGACCEL_POPULATED_SKIP), ==,
                    MIGACCEL_METHOD_SEEK_DATA);
    munmap(host, len);
    close(fd);
}

/* first-pass=all refuses the source's use, never the destination's */
static void test_mode_all(void)
{
    MigAccelPopulated p;
    uint8_t *host = map_anonymous();
    g_autofree uint64_t *bits = new_bits();
    MigAccelRamArea a = area_of(host, -1, false);

    migaccel_populated_init(&p);
    g_assert_true(p.skip);
    migaccel_populated_set_mode(&p, "all");
    g_assert_cmpint(query(&p, MIGACCEL_POPULATED_SKIP, &a, bits), ==,
                    -ENOTSUP);
    g_assert_cmpint(query(&p, MIGACCEL_POPULATED_ZERO, &a, bits), ==, 0);
    munmap(host, (size_t)NPAGES * PAGE);
}

/* A huge page holds data as a whole: one written 4 KiB marks all of it */
static void test_huge_page_widening(void)
{
    MigAccelPopulated p;
    uint8_t *host = map_anonymous();
    g_autofree uint64_t *bits = new_bits();
    MigAccelRamArea a = area_of(host, -1, false);

    host[600 * PAGE] = 1;
    a.page_size = 512 * PAGE;
    migaccel_populated_init(&p);
    g_assert_cmpint(query(&p, MIGACCEL_POPULATED_SKIP, &a, bits), ==, 512);
    for (uint64_t i = 0; i < NPAGES; i++) {
        g_assert_cmpint(bit(bits, i), ==, i >= 512 && i < 1024);
    }
    munmap(host, (size_t)NPAGES * PAGE);
}

static void test_bad_area(void)
{
    MigAccelPopulated p;
    g_autofree uint64_t *bits = new_bits();
    static uint8_t page[2 * PAGE] __attribute__((aligned(4096)));
    MigAccelRamArea a = area_of(page, -1, false);
    char *msg = NULL;

    migaccel_populated_init(&p);
    /* nbits must be the area's 4 KiB pages */
    g_assert_cmpint(migaccel_populated(&p, MIGACCEL_POPULATED_SKIP, &a, bits,
                                       NPAGES - 1, &msg), ==, -EINVAL);
    g_assert_nonnull(strstr(msg, "RAM block 'test'"));
    free(msg);
    msg = NULL;
    /* a file that is not there: the error names the block */
    a = area_of(page, 12345, true);
    a.length = 2 * PAGE;
    g_assert_cmpint(migaccel_populated(&p, MIGACCEL_POPULATED_ZERO, &a, bits,
                                       2, &msg), ==, -EBADF);
    g_assert_nonnull(strstr(msg, "SEEK_DATA of RAM block 'test' failed"));
    free(msg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/populated/anonymous", NULL, test_anonymous);
    g_test_add_data_func("/populated/anonymous-pagemap", "", test_anonymous);
    g_test_add_func("/populated/memfd", test_memfd);
    g_test_add_func("/populated/private-file", test_private_file);
    g_test_add_func("/populated/hugetlbfs", test_hugetlbfs);
    g_test_add_func("/populated/mode-all", test_mode_all);
    g_test_add_func("/populated/huge-page-widening", test_huge_page_widening);
    g_test_add_func("/populated/bad-area", test_bad_area);
    return g_test_run();
}
