/*
 * How much first-touching fresh memory costs on this host, the cost a
 * migration destination pays to fill its guest RAM in the first pass.
 * QEMU marks guest RAM MADV_HUGEPAGE; the second round reuses the memory
 * the first one freed.
 *   gcc -std=c11 -O2 -o /tmp/fresh-memory bench/fresh-memory.c
 *   /tmp/fresh-memory 1024 hugepage; /tmp/fresh-memory 1024 nohugepage
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t size, page = 4096;
    int huge;

    if (argc != 3 || (strcmp(argv[2], "hugepage") && strcmp(argv[2], "nohugepage"))) {
        fprintf(stderr, "usage: %s MIB hugepage|nohugepage\n", argv[0]);
        return 2;
    }
    size = strtoull(argv[1], NULL, 10) << 20;
    huge = !strcmp(argv[2], "hugepage");
    for (int round = 1; round <= 2; round++) {
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        double t0, s;

        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        t0 = now_s();
        for (size_t i = 0; i < size; i += page) {
            p[i] = 1;
        }
        s = now_s() - t0;
        printf("round %d (%s): %zu MiB in %.3f s, %.1f us per 4 KiB, %.0f MB/s\n",
               round, round == 1 ? "fresh" : "just freed", size >> 20, s,
               s * 1e6 / (double)(size / page), (double)size / s / 1e6);
        munmap(p, size);
    }
    return 0;
}
