/*
 * dirtier: guest workload for migaccel live-migration tests.
 *
 * Each worker thread owns a slice of the "hot set" and rewrites it page by
 * page, forever.  Every page holds a pattern derived from (thread, page,
 * sequence), so before overwriting a page the thread can verify it still
 * holds exactly what was written on the previous pass.  A page that a
 * migration restored from a stale copy shows an older sequence number and
 * is reported as CORRUPT.
 *
 * With mig.xmc=1 two more threads run cross-modifying code, as a JIT does
 * (see xmc_writer()), and a stale result is reported as CORRUPT too.
 *
 * With mig.grow_mb=N one more thread first touches N MiB of new memory
 * after READY, at mig.grow_mbps MiB/s, and another checks what it has
 * grown (see grow_main()): a migration's first pass meets pages that
 * become populated while it runs.
 *
 * Parameters come from /proc/cmdline (mig.threads=, mig.hot_mb=, mig.mbps=,
 * mig.selftest=, mig.xmc=, mig.grow_mb=, mig.grow_mbps=); the same tokens given as argv override them, which makes
 * the program easy to run on a host.  The serial output format is described
 * in guest/README.md; other programs parse it, so keep it stable.
 *
 * Build: gcc -std=c11 -O2 -static -pthread -Wall -Wextra -Werror
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096u
#define PAGE_WORDS (PAGE_SIZE / sizeof(uint64_t))
#define HDR_WORDS 4u /* magic, thread, page, seq */
#define SEQ_WORD 3u
#define PAGE_MAGIC UINT64_C(0x6d69672d70616765) /* "mig-page" */
#define NS_PER_SEC INT64_C(1000000000)
#define CORRUPT_LINES_PER_SEC 5
#define MAX_THREADS 256

struct params {
    unsigned long threads;
    unsigned long hot_mb;
    unsigned long mbps;
    unsigned long selftest;
    unsigned long xmc;
    unsigned long grow_mb;
    unsigned long grow_mbps;
};

/* Details of the most recent mismatch, for the self-test to confirm. */
struct corrupt_report {
    uint64_t page, expected_seq, found_seq;
    long offset;
};

struct worker {
    pthread_t tid;
    unsigned id;
    uint64_t *base;        /* slice of the hot set */
    uint64_t npages;
    uint64_t pages_per_sec; /* 0 = unlimited */
    _Atomic uint64_t writes;        /* page writes since start */
    _Atomic uint64_t last_write_ns; /* CLOCK_MONOTONIC of the last write */
    _Atomic uint64_t max_gap_ns;    /* largest gap; main resets each second */
    _Atomic uint64_t pos;           /* page index being checked/written */
    _Atomic uint64_t pass;          /* sequence being written */
    pthread_mutex_t report_lock;
    struct corrupt_report last_report;
    uint64_t nreports;
};

static struct params prm = { .threads = 2, .hot_mb = 256, .mbps = 0, .grow_mbps = 64 };
static struct worker *workers;
static pthread_barrier_t ready_barrier;
static _Atomic uint64_t total_errors;
static _Atomic int corrupt_lines_this_sec;

/* One write(2) per line so lines from different threads never interleave. */
static void say(const char *fmt, ...)
{
    char buf[MAX_THREADS * 24 + 256]; /* room for a sec= line with every gap */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (int)w;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = { .tv_sec = (time_t)(t_ns / NS_PER_SEC),
                           .tv_nsec = (long)(t_ns % NS_PER_SEC) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static uint64_t splitmix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Fill-word generator: a cheap xorshift64 seeded from the page identity. */
struct gen {
    uint64_t header[HDR_WORDS];
    uint64_t state;
};

static void gen_init(struct gen *g, unsigned thread, uint64_t page, uint64_t seq)
{
    g->header[0] = PAGE_MAGIC;
    g->header[1] = thread;
    g->header[2] = page;
    g->header[SEQ_WORD] = seq;
    g->state = splitmix64(((uint64_t)thread << 48) ^ page ^
                          seq * UINT64_C(0xd1b54a32d192ed03));
    if (g->state == 0) /* xorshift must never be seeded with 0 */
        g->state = PAGE_MAGIC;
}

static inline uint64_t gen_word(struct gen *g, size_t i)
{
    if (i < HDR_WORDS)
        return g->header[i];
    uint64_t x = g->state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g->state = x;
    return x;
}

/* Byte offset of the first differing byte between two words (little endian). */
static long first_bad_byte(size_t word, uint64_t found, uint64_t want)
{
    return (long)(word * sizeof(uint64_t)) + __builtin_ctzll(found ^ want) / 8;
}

static void fill_page(uint64_t *w, unsigned thread, uint64_t page, uint64_t seq)
{
    struct gen g;
    gen_init(&g, thread, page, seq);
    for (size_t i = 0; i < PAGE_WORDS; i++)
        w[i] = gen_word(&g, i);
}

/* Returns the offset of the first byte that differs from the expected page, or -1. */
static long verify_page(const uint64_t *w, unsigned thread, uint64_t page, uint64_t seq)
{
    struct gen g;
    gen_init(&g, thread, page, seq);
    for (size_t i = 0; i < PAGE_WORDS; i++) {
        uint64_t want = gen_word(&g, i);
        if (w[i] != want)
            return first_bad_byte(i, w[i], want);
    }
    return -1;
}

/*
 * Verify the page holds old_seq's pattern and rewrite it with new_seq's,
 * in one sweep so each word is read and written while it is in cache.
 * Returns the first bad byte offset or -1; *found_seq gets the stored seq.
 */
static long check_and_rewrite(uint64_t *w, unsigned thread, uint64_t page,
                              uint64_t old_seq, uint64_t new_seq, uint64_t *found_seq)
{
    struct gen want, next;
    long bad = -1;
    gen_init(&want, thread, page, old_seq);
    gen_init(&next, thread, page, new_seq);
    *found_seq = w[SEQ_WORD];
    for (size_t i = 0; i < PAGE_WORDS; i++) {
        uint64_t expect = gen_word(&want, i);
        uint64_t found = w[i];
        if (__builtin_expect(found != expect, 0) && bad < 0)
            bad = first_bad_byte(i, found, expect);
        w[i] = gen_word(&next, i);
    }
    return bad;
}

static void report_corrupt(struct worker *wk, uint64_t page, uint64_t expected,
                           uint64_t found, long offset)
{
    atomic_fetch_add(&total_errors, 1);
    if (atomic_fetch_add(&corrupt_lines_this_sec, 1) < CORRUPT_LINES_PER_SEC)
        say("mig: CORRUPT thread=%u page=%llu expected_seq=%llu found_seq=%llu offset=%ld",
            wk->id, (unsigned long long)page, (unsigned long long)expected,
            (unsigned long long)found, offset);
    /* Published after the line is out: the self-test exits as soon as it sees it. */
    pthread_mutex_lock(&wk->report_lock);
    wk->last_report = (struct corrupt_report){ page, expected, found, offset };
    wk->nreports++;
    pthread_mutex_unlock(&wk->report_lock);
}

static void note_write(struct worker *wk, uint64_t *last)
{
    uint64_t t = now_ns();
    uint64_t gap = t - *last;
    uint64_t cur = atomic_load_explicit(&wk->max_gap_ns, memory_order_relaxed);
    /* CAS so that main's reset to 0 between our load and store is not lost. */
    while (gap > cur && !atomic_compare_exchange_weak(&wk->max_gap_ns, &cur, gap))
        ;
    *last = t;
    atomic_store_explicit(&wk->last_write_ns, t, memory_order_relaxed);
    atomic_fetch_add_explicit(&wk->writes, 1, memory_order_relaxed);
}

static void pin_to_cpu(unsigned cpu)
{
    cpu_set_t set;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    CPU_ZERO(&set);
    CPU_SET(n > 0 ? cpu % (unsigned long)n : 0, &set);
    sched_setaffinity(0, sizeof(set), &set); /* best effort: one CPU is fine too */
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;

    /*
     * With the cross-modifying code threads on CPUs 0 and 1, keep off
     * them: a thread waiting for a CPU another one spins on would wait for
     * the next timer tick, and QEMU delivers none while it holds its lock.
     */
    if (prm.xmc)
        pin_to_cpu(2 + wk->id);

    /* Pass 0 populates every page so READY means the whole set is resident. */
    for (uint64_t p = 0; p < wk->npages; p++)
        fill_page(wk->base + p * PAGE_WORDS, wk->id, p, 0);
    pthread_barrier_wait(&ready_barrier);

    uint64_t last = now_ns();
    atomic_store(&wk->last_write_ns, last);
    uint64_t paced_from = last, paced_pages = 0;
    uint64_t ns_per_page = wk->pages_per_sec ? NS_PER_SEC / wk->pages_per_sec : 0;

    for (uint64_t pass = 1;; pass++) {
        atomic_store_explicit(&wk->pass, pass, memory_order_relaxed);
        for (uint64_t p = 0; p < wk->npages; p++) {
            atomic_store_explicit(&wk->pos, p, memory_order_relaxed);
            uint64_t found;
            long bad = check_and_rewrite(wk->base + p * PAGE_WORDS, wk->id, p,
                                         pass - 1, pass, &found);
            if (bad >= 0)
                report_corrupt(wk, p, pass - 1, found, bad);
            note_write(wk, &last);

            if (ns_per_page) {
                /* Absolute schedule so oversleeping is made up for... */
                uint64_t due = paced_from + ++paced_pages * ns_per_page;
                if (due > last) {
                    sleep_until(due);
                } else if (last - due > NS_PER_SEC / 10) {
                    /* ...but no catch-up burst after a long stall (e.g. downtime). */
                    paced_from = last;
                    paced_pages = 0;
                }
            }
        }
    }
    return NULL;
}

/*
 * Cross-modifying code.  A writer thread on CPU 0 writes a tiny function
 * ("mov eax, round; ret") into an executable page (XMC_PAGES); an
 * executor thread on CPU 1 waits until the writer says it is there, runs
 * a serializing instruction (CPUID, as the SDM asks of cross-modifying
 * code), calls the function and checks that it returns the round.  Under
 * TCG the executor runs a translation of the page: if the writer's store
 * did not invalidate it, the executor gets an older round back.  Both
 * threads go in lockstep, thousands of rounds a second; give them a vCPU
 * each, and the hot-set workers a third.
 */
#define XMC_PAGES 1u
static uint8_t *xmc_code;
static _Atomic uint64_t xmc_ready, xmc_done, xmc_rounds;

/*
 * Spin, without system calls: a vCPU that stays in its translated code is
 * what exposes a stale translation (under TCG every system call goes back
 * to the vCPU loop).  Yield now and then in case both threads share a CPU.
 */
static void wait_for(_Atomic uint64_t *v, uint64_t want)
{
    for (unsigned spins = 1; atomic_load_explicit(v, memory_order_acquire) != want; spins++)
        if (spins % 100000 == 0)
            sched_yield();
}

static void *xmc_writer(void *arg)
{
    (void)arg;
    pin_to_cpu(0);
    for (uint64_t r = 1;; r++) {
        uint8_t *fn = xmc_code + (r % XMC_PAGES) * PAGE_SIZE;
        uint32_t imm = (uint32_t)r;
        fn[0] = 0xb8; /* mov eax, imm32 */
        memcpy(fn + 1, &imm, sizeof(imm));
        fn[5] = 0xc3; /* ret */
        atomic_store_explicit(&xmc_ready, r, memory_order_release);
        wait_for(&xmc_done, r);
    }
    return NULL;
}

static void *xmc_executor(void *arg)
{
    (void)arg;
    pin_to_cpu(1);
    for (uint64_t r = 1;; r++) {
        uint32_t eax = 0, ebx, ecx = 0, edx;
        wait_for(&xmc_ready, r);
        __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx) : : "memory");
        uint32_t (*fn)(void) = (uint32_t (*)(void))(void *)(xmc_code + (r % XMC_PAGES) * PAGE_SIZE);
        uint32_t got = fn();
        if (got != (uint32_t)r) {
            atomic_fetch_add(&total_errors, 1);
            if (atomic_fetch_add(&corrupt_lines_this_sec, 1) < CORRUPT_LINES_PER_SEC)
                say("mig: CORRUPT xmc round=%llu page=%llu expected=%u found=%u",
                    (unsigned long long)r, (unsigned long long)(r % XMC_PAGES),
                    (uint32_t)r, got);
        }
        atomic_fetch_add_explicit(&xmc_rounds, 1, memory_order_relaxed);
        atomic_store_explicit(&xmc_done, r, memory_order_release);
    }
    return NULL;
}

static int start_xmc(void)
{
    pthread_t writer, executor;
    void *m = mmap(NULL, XMC_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        say("mig: ERROR mmap of the code pages failed: %s", strerror(errno));
        return -1;
    }
    xmc_code = m;
    if (pthread_create(&writer, NULL, xmc_writer, NULL) ||
        pthread_create(&executor, NULL, xmc_executor, NULL)) {
        say("mig: ERROR pthread_create failed");
        return -1;
    }
    return 0;
}

/*
 * mig.grow_mb: memory first touched after READY.  The guest kernel hands
 * out pages it never used before, so on the host they become populated
 * while a migration may be in its first pass.  Each page gets its pattern
 * once (seq 1) and is never rewritten: a page left out or restored from
 * before its first touch reads as zeros.  A thread of its own checks the
 * pages grown so far every 2 s while they grow, then four times a second,
 * so a migration that ends before growth does still has them checked on
 * the destination (grow_checks counts the finished rounds); apart from
 * the grower, so that its faults on pages still in flight in postcopy do
 * not hold growth back.
 */
#define GROW_THREAD 0xfffeu
static _Atomic uint64_t grow_touched, grow_checks;
static uint64_t *grow_mem;

static void report_grow_corrupt(uint64_t page, const uint64_t *w, long offset)
{
    atomic_fetch_add(&total_errors, 1);
    if (atomic_fetch_add(&corrupt_lines_this_sec, 1) < CORRUPT_LINES_PER_SEC)
        say("mig: CORRUPT thread=%u page=%llu expected_seq=1 found_seq=%llu offset=%ld",
            GROW_THREAD, (unsigned long long)page, (unsigned long long)w[SEQ_WORD], offset);
}

static void *grow_check_main(void *arg)
{
    uint64_t pages = (uint64_t)(uintptr_t)arg;
    for (;;) {
        uint64_t grown = atomic_load(&grow_touched);
        for (uint64_t p = 0; p < grown; p++) {
            long bad = verify_page(grow_mem + p * PAGE_WORDS, GROW_THREAD, p, 1);
            if (bad >= 0)
                report_grow_corrupt(p, grow_mem + p * PAGE_WORDS, bad);
        }
        atomic_fetch_add(&grow_checks, 1);
        sleep_until(now_ns() + (grown < pages ? 2 * NS_PER_SEC : NS_PER_SEC / 4));
    }
    return NULL;
}

static void *grow_main(void *arg)
{
    (void)arg;
    uint64_t pages = (uint64_t)prm.grow_mb * (1024 * 1024 / PAGE_SIZE);
    uint64_t per_sec = (uint64_t)prm.grow_mbps * (1024 * 1024 / PAGE_SIZE);
    grow_mem = mmap(NULL, pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (grow_mem == MAP_FAILED) {
        say("mig: ERROR mmap of %lu MiB to grow into failed: %s", prm.grow_mb, strerror(errno));
        return NULL;
    }
    pthread_t checker;
    if (pthread_create(&checker, NULL, grow_check_main, (void *)(uintptr_t)pages)) {
        say("mig: ERROR pthread_create failed");
        return NULL;
    }
    uint64_t t0 = now_ns();
    for (uint64_t p = 0; p < pages; p++) {
        fill_page(grow_mem + p * PAGE_WORDS, GROW_THREAD, p, 1);
        atomic_store(&grow_touched, p + 1);
        if (per_sec && (p + 1) % 64 == 0)
            sleep_until(t0 + (p + 1) * (uint64_t)NS_PER_SEC / per_sec);
    }
    return NULL;
}

static bool parse_one(const char *tok, struct params *p)
{
    static const struct { const char *key; size_t off; unsigned long max; } keys[] = {
        { "mig.threads=", offsetof(struct params, threads), MAX_THREADS },
        { "mig.hot_mb=", offsetof(struct params, hot_mb), 1ul << 20 },
        { "mig.mbps=", offsetof(struct params, mbps), 1ul << 20 },
        { "mig.selftest=", offsetof(struct params, selftest), 1 },
        { "mig.xmc=", offsetof(struct params, xmc), 1 },
        { "mig.grow_mb=", offsetof(struct params, grow_mb), 1ul << 20 },
        { "mig.grow_mbps=", offsetof(struct params, grow_mbps), 1ul << 20 },
    };
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        size_t klen = strlen(keys[k].key);
        if (strncmp(tok, keys[k].key, klen) != 0)
            continue;
        char *end;
        errno = 0;
        unsigned long v = strtoul(tok + klen, &end, 10);
        if (errno || end == tok + klen || *end || v > keys[k].max) {
            say("mig: ERROR bad parameter '%s' (max %lu)", tok, keys[k].max);
            return false;
        }
        *(unsigned long *)((char *)p + keys[k].off) = v;
    }
    return true; /* unrelated tokens are ignored */
}

static bool parse_params(int argc, char **argv, struct params *p)
{
    char line[4096];
    FILE *f = fopen("/proc/cmdline", "r");
    if (f) {
        size_t n = fread(line, 1, sizeof(line) - 1, f);
        fclose(f);
        line[n] = '\0';
        char *save = NULL;
        for (char *tok = strtok_r(line, " \t\n", &save); tok;
             tok = strtok_r(NULL, " \t\n", &save))
            if (!parse_one(tok, p))
                return false;
    }
    for (int i = 1; i < argc; i++)
        if (!parse_one(argv[i], p))
            return false;
    if (p->threads < 1) {
        say("mig: ERROR mig.threads must be at least 1");
        return false;
    }
    return true;
}

/* Deterministic checks of the checker itself, on a scratch page. */
static const char *selftest_offline(void)
{
    static uint64_t page[PAGE_WORDS] __attribute__((aligned(PAGE_SIZE)));
    unsigned char *bytes = (unsigned char *)page;
    uint64_t found;

    fill_page(page, 7, 42, 5);
    if (verify_page(page, 7, 42, 5) != -1)
        return "clean page reported bad";
    static const long flips[] = { 0, 8, 16, 24, 100, 1001, PAGE_SIZE - 1 };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        bytes[flips[i]] ^= 0x40;
        long got = verify_page(page, 7, 42, 5);
        bytes[flips[i]] ^= 0x40;
        if (got != flips[i])
            return "flipped byte not found at its offset";
    }
    fill_page(page, 7, 42, 4); /* a stale copy: previous sequence */
    if (verify_page(page, 7, 42, 5) != (long)(SEQ_WORD * 8))
        return "stale sequence not detected";
    fill_page(page, 7, 43, 5); /* another page's content */
    if (verify_page(page, 7, 42, 5) != 16)
        return "wrong page index not detected";
    fill_page(page, 7, 42, 5);
    page[PAGE_WORDS - 1] = 0;
    if (check_and_rewrite(page, 7, 42, 5, 6, &found) != (long)(PAGE_SIZE - 8) || found != 5)
        return "check_and_rewrite missed a bad last word";
    if (verify_page(page, 7, 42, 6) != -1)
        return "check_and_rewrite did not rewrite the page";
    return NULL;
}

/*
 * Live check through the real worker path: save a copy of one of thread 0's
 * pages, wait until the worker has rewritten it, put the stale copy back
 * (what a migration that lost a write would do) and expect a CORRUPT report
 * with the previous sequence at the seq word's offset.
 */
static const char *selftest_live(void)
{
    struct worker *wk = &workers[0];
    uint64_t n = wk->npages;
    static uint64_t saved[PAGE_WORDS];
    uint64_t deadline = now_ns() + 120 * NS_PER_SEC;

    if (n < 8)
        return "thread 0 needs at least 8 pages (raise mig.hot_mb)";
    while (atomic_load(&wk->pass) < 2 && now_ns() < deadline)
        usleep(1000);

    uint64_t target = 0, saved_seq = 0;
    for (;;) {
        if (now_ns() > deadline)
            return "timed out taking a consistent page copy";
        target = (atomic_load(&wk->pos) + n / 2) % n; /* far from the writer */
        uint64_t *pg = wk->base + target * PAGE_WORDS;
        memcpy(saved, pg, PAGE_SIZE);
        saved_seq = saved[SEQ_WORD];
        uint64_t d = (target + n - atomic_load(&wk->pos)) % n;
        if (d >= 2 && verify_page(saved, 0, target, saved_seq) == -1)
            break;
        usleep(1000);
    }

    /* Put the copy back only once the page moved on and the writer is not near it. */
    volatile uint64_t *seqp = wk->base + target * PAGE_WORDS + SEQ_WORD;
    for (;;) {
        if (now_ns() > deadline)
            return "timed out waiting for the page to be rewritten";
        uint64_t d = (target + n - atomic_load(&wk->pos)) % n;
        if (*seqp == saved_seq + 1 && d >= n / 4)
            break;
        usleep(200);
    }
    pthread_mutex_lock(&wk->report_lock);
    uint64_t reports_before = wk->nreports;
    pthread_mutex_unlock(&wk->report_lock);
    memcpy(wk->base + target * PAGE_WORDS, saved, PAGE_SIZE);

    for (;;) {
        if (now_ns() > deadline)
            return "stale page was not reported";
        pthread_mutex_lock(&wk->report_lock);
        bool got = wk->nreports > reports_before;
        struct corrupt_report r = wk->last_report;
        pthread_mutex_unlock(&wk->report_lock);
        if (got) {
            if (r.page != target || r.found_seq != saved_seq ||
                r.expected_seq != saved_seq + 1 || r.offset != (long)(SEQ_WORD * 8))
                return "report does not match the injected stale page";
            return NULL;
        }
        usleep(1000);
    }
}

static int run_selftest(void)
{
    const char *why = selftest_offline();
    if (!why && prm.hot_mb == 0)
        why = "live part needs mig.hot_mb > 0";
    if (!why)
        why = selftest_live();
    if (why) {
        say("mig: SELFTEST FAILED %s", why);
        return 1;
    }
    say("mig: SELFTEST ok");
    return 0;
}

static int start_workers(void)
{
    uint64_t pages_per_thread = prm.hot_mb * (UINT64_C(1) << 20) / PAGE_SIZE / prm.threads;
    if (pages_per_thread == 0) {
        say("mig: ERROR mig.hot_mb=%lu is too small for %lu threads", prm.hot_mb, prm.threads);
        return -1;
    }
    workers = calloc(prm.threads, sizeof(*workers));
    if (!workers || pthread_barrier_init(&ready_barrier, NULL, (unsigned)prm.threads + 1)) {
        say("mig: ERROR out of memory");
        return -1;
    }
    for (unsigned t = 0; t < prm.threads; t++) {
        struct worker *wk = &workers[t];
        wk->id = t;
        wk->npages = pages_per_thread;
        wk->pages_per_sec = prm.mbps * ((UINT64_C(1) << 20) / PAGE_SIZE);
        pthread_mutex_init(&wk->report_lock, NULL);
        /* A separate mapping per thread: each slice is contiguous and private. */
        void *m = mmap(NULL, pages_per_thread * PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            say("mig: ERROR mmap of %llu pages failed: %s",
                (unsigned long long)pages_per_thread, strerror(errno));
            return -1;
        }
        wk->base = m;
        if (pthread_create(&wk->tid, NULL, worker_main, wk)) {
            say("mig: ERROR pthread_create failed");
            return -1;
        }
    }
    pthread_barrier_wait(&ready_barrier);
    return 0;
}

int main(int argc, char **argv)
{
    if (!parse_params(argc, argv, &prm))
        return 2;
    unsigned nworkers = prm.hot_mb ? (unsigned)prm.threads : 0;
    if (nworkers && start_workers() < 0)
        return 1;
    if (prm.xmc && start_xmc() < 0)
        return 1;

    uint64_t t_ready = now_ns();
    say("mig: READY threads=%lu hot_mb=%lu mbps=%lu xmc=%lu", prm.threads, prm.hot_mb,
        prm.mbps, prm.xmc);
    if (prm.selftest)
        return run_selftest();
    pthread_t grower;
    if (prm.grow_mb && pthread_create(&grower, NULL, grow_main, NULL)) {
        say("mig: ERROR pthread_create failed");
        return 1;
    }

    uint64_t prev_writes = 0, prev_wake = t_ready, next = t_ready + NS_PER_SEC;
    for (;;) {
        sleep_until(next);
        uint64_t now = now_ns();
        atomic_store(&corrupt_lines_this_sec, 0);

        uint64_t writes = 0;
        char gaps[MAX_THREADS * 22 + 24];
        size_t len = 0;
        gaps[0] = '\0';
        for (unsigned t = 0; t < nworkers && len < sizeof(gaps); t++) {
            struct worker *wk = &workers[t];
            writes += atomic_load_explicit(&wk->writes, memory_order_relaxed);
            uint64_t gap = atomic_exchange(&wk->max_gap_ns, 0);
            /* A stall still in progress counts too, so a stuck thread shows up now. */
            uint64_t last = atomic_load_explicit(&wk->last_write_ns, memory_order_relaxed);
            if (now > last && now - last > gap)
                gap = now - last;
            len += (size_t)snprintf(gaps + len, sizeof(gaps) - len, "%s%llu",
                                    t ? "," : "", (unsigned long long)(gap / 1000));
        }
        if (nworkers == 0) /* idle guest: report how late the main thread woke */
            snprintf(gaps, sizeof(gaps), "%llu", (unsigned long long)((now - prev_wake) / 1000));

        char extra[64] = "";
        size_t elen = 0;
        if (prm.xmc)
            elen += (size_t)snprintf(extra, sizeof(extra), " xmc_rounds=%llu",
                                     (unsigned long long)atomic_load(&xmc_rounds));
        if (prm.grow_mb && elen < sizeof(extra))
            snprintf(extra + elen, sizeof(extra) - elen, " grow_checks=%llu",
                     (unsigned long long)atomic_load(&grow_checks));
        say("mig: sec=%llu writes=%llu gaps_us=%s errors=%llu%s",
            (unsigned long long)((now - t_ready) / NS_PER_SEC),
            (unsigned long long)(writes - prev_writes), gaps,
            (unsigned long long)atomic_load(&total_errors), extra);
        prev_writes = writes;
        prev_wake = now;
        next += NS_PER_SEC;
        if (next <= now) /* missed ticks (guest paused): realign, don't burst */
            next = now + NS_PER_SEC - (now - t_ready) % NS_PER_SEC;
    }
}
