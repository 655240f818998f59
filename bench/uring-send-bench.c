/*
 * uring-send-bench: the send path of the sender (plugin/src/uring_send.c)
 * over io_uring against the socket path QEMU uses, on loopback TCP and on
 * a unix socketpair, for 64 MiB and 1 GiB sent from one buffer.
 *
 *   uring-send-bench [--sizes 64M,1G] [--reps N] [--sockets tcp,unix]
 *                    [--modes LIST] [--chunk BYTES] [--depth N] [--csv FILE]
 *
 * Modes (--modes, comma-separated; default all):
 *   send-32k      send() of 32 KiB at a time: QEMU 7.2's QEMUFile flushes
 *                 its IO_BUF_SIZE (32768) buffer, which qemu_put_buffer()
 *                 fills (the path of a bitmap-like blob); the copy into
 *                 that buffer is not counted
 *   qemu-pages    sendmsg() of 32 iovecs of 4 KiB (128 KiB): QEMU 7.2's
 *                 page path, MAX_IOV_SIZE = MIN(IOV_MAX, 64) iovecs of
 *                 header + page pairs (the 8..16-byte headers left out)
 *   socket        the sender's socket transport: one send() per call
 *   io_uring-send, io_uring-send-fixed, io_uring-send-zc,
 *   io_uring-send-zc-fixed
 *                 the sender's io_uring transports; one that falls back
 *                 on this kernel or socket is shown as n/a with the reason
 *
 * The receiver is a child process per connection (not counted in the
 * sender's CPU time) that recv()s into a 4 MiB buffer, checks one 64-bit
 * word per 4 KiB against the position-dependent pattern (a reordering or a
 * lost chunk shows), and acks each transfer with one byte. Per transfer:
 * wall time from the first send to the ack, time until the send call
 * returned, sender CPU time (getrusage RUSAGE_SELF: the sending thread
 * and the kernel's io_uring workers of this process), and the syscalls
 * the sender made (send/sendmsg/poll counted here or by the sender;
 * io_uring_enter counted by the sender). Modes run interleaved, one
 * warm-up transfer each, then the median of N (default 5) repetitions.
 * The exit status is 0 when every transfer arrived intact.
 * See docs/uring-send.md.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uring_send.h"

#include "benchstat.h"

#define MiB             (1ull << 20)
#define MAX_REPS        25
#define MAX_SIZES       4
#define QEMU_IO_BUF     32768   /* migration/qemu-file.c IO_BUF_SIZE */
#define QEMU_PAGE_IOVS  32      /* MAX_IOV_SIZE 64 = 32 (header, page) */
#define PAGE            4096
#define RECV_BUF        (4 * MiB)
#define PATTERN_SEED    0x6d696761636365ull

enum {
    M_SEND32K, M_QEMU_PAGES, M_SOCKET, M_URING_SEND, M_URING_FIXED,
    M_URING_ZC, M_URING_ZC_FIXED, M_COUNT
};
static const char *const mode_names[M_COUNT] = {
    "send-32k", "qemu-pages", "socket", "io_uring-send",
    "io_uring-send-fixed", "io_uring-send-zc", "io_uring-send-zc-fixed",
};
static const MigAccelTransport mode_transport[M_COUNT] = {
    MIGACCEL_TRANSPORT_SOCKET, MIGACCEL_TRANSPORT_SOCKET,
    MIGACCEL_TRANSPORT_SOCKET, MIGACCEL_TRANSPORT_URING_SEND,
    MIGACCEL_TRANSPORT_URING_SEND_FIXED, MIGACCEL_TRANSPORT_URING_SEND_ZC,
    MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
};
/* modes that go through the sender (the first two are local loops) */
#define USES_SENDER(m) ((m) >= M_SOCKET)

enum { S_TCP, S_UNIX, S_COUNT };
static const char *const sock_names[S_COUNT] = { "tcp", "unix" };
static const char *const sock_labels[S_COUNT] = {
    "loopback TCP (127.0.0.1)", "unix socketpair (AF_UNIX, SOCK_STREAM)",
};

typedef struct Sample {
    double wall_ms, send_ms, cpu_ms;
    uint64_t syscalls;
} Sample;

typedef struct ModeRun {
    bool enabled, ran, ok;
    char na[512];               /* why not run: the sender's fallback */
    int fd;
    pid_t reader;
    MigAccelSender *sender;
    double setup_us;
    unsigned int depth;         /* in force in the sender */
    size_t chunk;
    Sample s[MAX_REPS];
    /* medians */
    double wall_ms, send_ms, cpu_ms, syscalls;
    /* extra counters over all timed reps */
    MigAccelSenderStats st;
} ModeRun;

static int reps = 5;
static unsigned int cfg_depth;
static size_t cfg_chunk;
static uint8_t *src;            /* the largest size, pattern-filled */

/* ---- helpers ---------------------------------------------------------- */

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static uint64_t pattern_word(uint64_t stream_off)
{
    return (stream_off / 8) * 0x9e3779b97f4a7c15ull ^ PATTERN_SEED;
}

static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (end == s) {
        return false;
    }
    if (*end == 'K' || *end == 'k') {
        v <<= 10;
        end++;
    } else if (*end == 'M' || *end == 'm') {
        v <<= 20;
        end++;
    } else if (*end == 'G' || *end == 'g') {
        v <<= 30;
        end++;
    }
    if (*end || v == 0 || v % 8) {
        return false;
    }
    *out = v;
    return true;
}

static const char *size_label(uint64_t size, char *buf, size_t len)
{
    if (size % (1ull << 30) == 0) {
        snprintf(buf, len, "%llu GiB", (unsigned long long)(size >> 30));
    } else if (size % MiB == 0) {
        snprintf(buf, len, "%llu MiB", (unsigned long long)(size >> 20));
    } else {
        snprintf(buf, len, "%llu B", (unsigned long long)size);
    }
    return buf;
}

static void die(const char *what)
{
    fprintf(stderr, "uring-send-bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* ---- connections and the receiver -------------------------------------- */

static void make_pair(int kind, int fds[2])
{
    if (kind == S_UNIX) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
            die("socketpair");
        }
        return;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        die("listen on 127.0.0.1");
    }
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&addr, alen) < 0) {
        die("connect");
    }
    fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fds[1] < 0) {
        die("accept");
    }
    close(lfd);
}

/*
 * The receiver: ntransfers transfers of size bytes each; checks one word
 * per 4 KiB, acks each with one byte. Exit status 0 if all arrived intact.
 */
static void receiver(int fd, uint64_t size, int ntransfers)
{
    uint8_t *buf = malloc(RECV_BUF);
    int bad = 0;

    if (!buf) {
        _exit(3);
    }
    for (int t = 0; t < ntransfers; t++) {
        uint64_t got = 0;

        while (got < size) {
            size_t want = (size_t)(size - got < RECV_BUF ? size - got
                                                         : RECV_BUF);
            ssize_t n = recv(fd, buf, want, 0);

            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                _exit(4);
            }
            /* the stream offsets got .. got + n: sample each 4 KiB */
            for (uint64_t o = (got + PAGE - 1) / PAGE * PAGE;
                 o + 8 <= got + (uint64_t)n; o += PAGE) {
                uint64_t w;

                memcpy(&w, buf + (o - got), 8);
                bad += w != pattern_word(o);
            }
            got += (uint64_t)n;
        }
        if (send(fd, "k", 1, MSG_NOSIGNAL) != 1) {
            _exit(5);
        }
    }
    _exit(bad ? 1 : 0);
}

/* ---- the two QEMU-like loops ------------------------------------------- */

static bool send_all_chunks(int fd, const uint8_t *buf, uint64_t len,
                            size_t chunk, uint64_t *calls)
{
    uint64_t done = 0;

    while (done < len) {
        size_t n = (size_t)(len - done < chunk ? len - done : chunk);
        ssize_t r;

        (*calls)++;
        r = send(fd, buf + done, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        done += (uint64_t)r;
    }
    return true;
}

/* 32 iovecs of 4 KiB per sendmsg(), continuing after a short write */
static bool send_qemu_pages(int fd, const uint8_t *buf, uint64_t len,
                            uint64_t *calls)
{
    uint64_t done = 0;

    while (done < len) {
        struct iovec iov[QEMU_PAGE_IOVS];
        struct msghdr msg = { .msg_iov = iov };
        uint64_t off = done;
        ssize_t r;

        while (msg.msg_iovlen < QEMU_PAGE_IOVS && off < len) {
            size_t l = PAGE - (size_t)(off % PAGE);

            if (l > len - off) {
                l = (size_t)(len - off);
            }
            iov[msg.msg_iovlen].iov_base = (void *)(buf + off);
            iov[msg.msg_iovlen].iov_len = l;
            msg.msg_iovlen++;
            off += l;
        }
        (*calls)++;
        r = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        done += (uint64_t)r;
    }
    return true;
}

/* ---- one transfer ------------------------------------------------------ */

static uint64_t sender_syscalls(const MigAccelSenderStats *st)
{
    return st->send_calls + st->enter_calls + st->poll_calls;
}

static void stats_add(MigAccelSenderStats *acc, const MigAccelSenderStats *a,
                      const MigAccelSenderStats *b)
{
    acc->bytes += b->bytes - a->bytes;
    acc->send_calls += b->send_calls - a->send_calls;
    acc->poll_calls += b->poll_calls - a->poll_calls;
    acc->enter_calls += b->enter_calls - a->enter_calls;
    acc->sqes += b->sqes - a->sqes;
    acc->cqes += b->cqes - a->cqes;
    acc->batches += b->batches - a->batches;
    acc->zc_notifs += b->zc_notifs - a->zc_notifs;
    acc->zc_copied += b->zc_copied - a->zc_copied;
    acc->retries += b->retries - a->retries;
    acc->staged_bytes += b->staged_bytes - a->staged_bytes;
}

static bool transfer(ModeRun *mr, int m, uint64_t size, Sample *out,
                     bool count)
{
    MigAccelSenderStats a, b;
    uint64_t calls = 0;
    double t0, c0, t1;
    bool ok = true;
    char ack;

    if (mr->sender) {
        migaccel_sender_get_stats(mr->sender, &a);
    }
    c0 = cpu_ms();
    t0 = bench_now_ms();
    switch (m) {
    case M_SEND32K:
        ok = send_all_chunks(mr->fd, src, size, QEMU_IO_BUF, &calls);
        break;
    case M_QEMU_PAGES:
        ok = send_qemu_pages(mr->fd, src, size, &calls);
        break;
    default: {
        GError *err = NULL;

        ok = migaccel_sender_send(mr->sender, src, size, &err);
        if (!ok) {
            fprintf(stderr, "%s: %s\n", mode_names[m], err->message);
            g_error_free(err);
        }
        break;
    }
    }
    t1 = bench_now_ms();
    while (ok) {
        ssize_t n = recv(mr->fd, &ack, 1, 0);

        if (n == 1) {
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = false;
    }
    out->wall_ms = bench_now_ms() - t0;
    out->send_ms = t1 - t0;
    out->cpu_ms = cpu_ms() - c0;
    out->syscalls = calls;
    if (mr->sender) {
        migaccel_sender_get_stats(mr->sender, &b);
        out->syscalls = sender_syscalls(&b) - sender_syscalls(&a);
        if (count) {
            stats_add(&mr->st, &a, &b);
        }
    }
    return ok;
}

/* ---- one socket kind and size ----------------------------------------- */

static void sender_log_quiet(void *opaque, const char *msg)
{
    (void)opaque;
    (void)msg;      /* the table shows the reason */
}

/* A connection and its receiver; all are forked before any sender exists */
static void setup_connection(ModeRun *mr, int kind, uint64_t size)
{
    int fds[2];

    make_pair(kind, fds);
    fflush(stdout);
    fflush(stderr);
    mr->reader = fork();
    if (mr->reader < 0) {
        die("fork");
    }
    if (mr->reader == 0) {
        close(fds[0]);
        receiver(fds[1], size, reps + 1);
    }
    close(fds[1]);
    mr->fd = fds[0];
    mr->ok = true;
}

static void setup_sender(ModeRun *mr, int m)
{
    MigAccelSenderConfig cfg = {
        .transport = mode_transport[m], .queue_depth = cfg_depth,
        .chunk_size = cfg_chunk, .log = sender_log_quiet,
    };
    GError *err = NULL;
    double t;

    t = bench_now_ms();
    mr->sender = migaccel_sender_new_full(mr->fd, &cfg, &err);
    mr->setup_us = (bench_now_ms() - t) * 1e3;
    if (!mr->sender) {
        snprintf(mr->na, sizeof(mr->na), "error: %s", err->message);
        g_error_free(err);
    } else if (migaccel_sender_transport(mr->sender) != mode_transport[m]) {
        /* a fallback: n/a, the transport it fell back to has its row */
        snprintf(mr->na, sizeof(mr->na), "fell back to %s: %s",
                 migaccel_transport_name(
                     migaccel_sender_transport(mr->sender)),
                 migaccel_sender_fallback_reason(mr->sender));
    }
}

static void finish_mode(ModeRun *mr)
{
    int status;

    if (mr->sender) {
        mr->depth = migaccel_sender_queue_depth(mr->sender);
        mr->chunk = migaccel_sender_chunk_size(mr->sender);
        migaccel_sender_free(mr->sender);
        mr->sender = NULL;
    }
    shutdown(mr->fd, SHUT_RDWR);    /* unblocks a receiver we gave up on */
    close(mr->fd);
    if (waitpid(mr->reader, &status, 0) != mr->reader ||
        !WIFEXITED(status) || WEXITSTATUS(status)) {
        mr->ok = false;
    }
}

static bool run(int kind, uint64_t size, ModeRun *mrs, FILE *csv)
{
    char lbl[32];
    bool all_ok = true;
    int base = -1;

    for (int m = 0; m < M_COUNT; m++) {
        if (mrs[m].enabled) {
            setup_connection(&mrs[m], kind, size);
        }
    }
    for (int m = M_SOCKET; m < M_COUNT; m++) {
        if (mrs[m].enabled) {
            setup_sender(&mrs[m], m);
        }
    }
    /* warm-up, then reps rounds, modes interleaved */
    for (int r = -1; r < reps; r++) {
        for (int m = 0; m < M_COUNT; m++) {
            ModeRun *mr = &mrs[m];
            Sample s;

            if (!mr->enabled || mr->na[0] || !mr->ok) {
                continue;
            }
            mr->ok = transfer(mr, m, size, &s, r >= 0);
            if (r >= 0) {
                mr->s[r] = s;
            }
        }
        fprintf(stderr, ".");
    }
    fprintf(stderr, "\n");
    for (int m = 0; m < M_COUNT; m++) {
        ModeRun *mr = &mrs[m];
        double v[MAX_REPS];

        if (!mr->enabled) {
            continue;
        }
        finish_mode(mr);
        if (mr->na[0]) {
            continue;
        }
        all_ok &= mr->ok;
        mr->ran = true;
        for (int i = 0; i < reps; i++) {
            v[i] = mr->s[i].wall_ms;
        }
        mr->wall_ms = bench_median(v, reps);
        for (int i = 0; i < reps; i++) {
            v[i] = mr->s[i].send_ms;
        }
        mr->send_ms = bench_median(v, reps);
        for (int i = 0; i < reps; i++) {
            v[i] = mr->s[i].cpu_ms;
        }
        mr->cpu_ms = bench_median(v, reps);
        for (int i = 0; i < reps; i++) {
            v[i] = (double)mr->s[i].syscalls;
        }
        mr->syscalls = bench_median(v, reps);
        if (base < 0) {
            base = m;       /* ratios against the first mode run */
        }
    }

    printf("\n== %s, %s from one buffer, median of %d (+1 warm-up) ==\n",
           sock_labels[kind], size_label(size, lbl, sizeof(lbl)), reps);
    printf("%-23s %9s %9s %7s %9s %9s %6s %9s  %s\n", "mode", "wall ms",
           "send ms", "GB/s", "syscalls", "cpu ms", "cpu%", "setup us",
           base >= 0 ? "x baseline (wall cpu syscalls; < 1 is better)" : "");
    for (int m = 0; m < M_COUNT; m++) {
        const ModeRun *mr = &mrs[m];
        const ModeRun *b = base >= 0 ? &mrs[base] : NULL;

        if (!mr->enabled) {
            continue;
        }
        if (!mr->ran) {
            printf("%-23s n/a: %s\n", mode_names[m], mr->na);
            if (csv) {
                fprintf(csv, "%s,%llu,%s,,,,,,,,,,,\"%s\"\n", sock_names[kind],
                        (unsigned long long)size, mode_names[m], mr->na);
            }
            continue;
        }
        printf("%-23s %9.1f %9.1f %7.2f %9.0f %9.1f %5.0f%% %9.0f  "
               "%.2f %.2f %.3f%s%s\n",
               mode_names[m], mr->wall_ms, mr->send_ms,
               (double)size / mr->wall_ms / 1e6, mr->syscalls, mr->cpu_ms,
               100 * mr->cpu_ms / mr->wall_ms, mr->setup_us,
               mr->wall_ms / b->wall_ms, mr->cpu_ms / b->cpu_ms,
               b->syscalls ? mr->syscalls / b->syscalls : 0,
               m == base ? " (baseline)" : "", mr->ok ? "" : "  DATA ERROR");
        if (csv) {
            fprintf(csv, "%s,%llu,%s,%.3f,%.3f,%.3f,%.0f,%.3f,%.0f,%llu,%llu,"
                    "%llu,%llu,%s\n",
                    sock_names[kind], (unsigned long long)size, mode_names[m],
                    mr->wall_ms, mr->send_ms,
                    (double)size / mr->wall_ms / 1e6, mr->syscalls,
                    mr->cpu_ms, mr->setup_us,
                    (unsigned long long)mr->st.sqes,
                    (unsigned long long)mr->st.zc_notifs,
                    (unsigned long long)mr->st.zc_copied,
                    (unsigned long long)mr->st.retries,
                    mr->ok ? "ok" : "error");
        }
    }
    /* the sender's own counters, summed over the timed reps */
    for (int m = M_SOCKET; m < M_COUNT; m++) {
        const ModeRun *mr = &mrs[m];

        if (!mr->ran) {
            continue;
        }
        printf("  %-21s depth %u x chunk %zu KiB; per transfer: send() %.0f, "
               "poll %.0f, io_uring_enter %.0f, SQEs %.0f, batches %.0f, "
               "retries %.0f, ZC notifs %.0f (kernel copied %.0f), staged "
               "MiB %.0f\n", mode_names[m], mr->depth, mr->chunk >> 10,
               (double)mr->st.send_calls / reps,
               (double)mr->st.poll_calls / reps,
               (double)mr->st.enter_calls / reps, (double)mr->st.sqes / reps,
               (double)mr->st.batches / reps, (double)mr->st.retries / reps,
               (double)mr->st.zc_notifs / reps,
               (double)mr->st.zc_copied / reps,
               (double)mr->st.staged_bytes / reps / MiB);
    }
    fflush(stdout);
    return all_ok;
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: uring-send-bench [--sizes 64M,1G] [--reps N (1..%d)] "
            "[--sockets tcp,unix]\n"
            "                        [--modes m1,m2,...] [--chunk BYTES] "
            "[--depth N] [--csv FILE]\n"
            "modes:", MAX_REPS);
    for (int m = 0; m < M_COUNT; m++) {
        fprintf(f, " %s", mode_names[m]);
    }
    fprintf(f, "\n");
}

static bool parse_modes(const char *list, bool *enabled)
{
    char *dup = strdup(list), *tok, *save;
    bool ok = true;

    for (tok = strtok_r(dup, ",", &save); tok && ok;
         tok = strtok_r(NULL, ",", &save)) {
        int m;

        for (m = 0; m < M_COUNT && strcmp(tok, mode_names[m]); m++) {
        }
        if (m == M_COUNT) {
            fprintf(stderr, "uring-send-bench: unknown mode '%s'\n", tok);
            ok = false;
        } else {
            enabled[m] = true;
        }
    }
    free(dup);
    return ok;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "sizes", required_argument, NULL, 's' },
        { "reps", required_argument, NULL, 'r' },
        { "sockets", required_argument, NULL, 'k' },
        { "modes", required_argument, NULL, 'm' },
        { "chunk", required_argument, NULL, 'c' },
        { "depth", required_argument, NULL, 'd' },
        { "csv", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sizes = "64M,1G", *sockets = "tcp,unix", *csv_path = NULL;
    bool enabled[M_COUNT] = { false }, any = false, all_ok = true;
    uint64_t size_list[MAX_SIZES], max_size = 0;
    int nsizes = 0, c;
    bool kinds[S_COUNT] = { false };
    char *dup, *tok, *save;
    struct utsname un;
    FILE *csv = NULL;
    double t0 = bench_now_ms();

    while ((c = getopt_long(argc, argv, "s:r:k:m:c:d:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sizes = optarg;
            break;
        case 'r':
            reps = atoi(optarg);
            if (reps < 1 || reps > MAX_REPS) {
                usage(stderr);
                return 2;
            }
            break;
        case 'k':
            sockets = optarg;
            break;
        case 'm':
            if (!parse_modes(optarg, enabled)) {
                usage(stderr);
                return 2;
            }
            any = true;
            break;
        case 'c':
            if (!parse_size(optarg, &size_list[0])) {
                usage(stderr);
                return 2;
            }
            cfg_chunk = (size_t)size_list[0];
            break;
        case 'd':
            cfg_depth = (unsigned int)atoi(optarg);
            break;
        case 'o':
            csv_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!any) {
        for (int m = 0; m < M_COUNT; m++) {
            enabled[m] = true;
        }
    }
    dup = strdup(sizes);
    for (tok = strtok_r(dup, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (nsizes == MAX_SIZES || !parse_size(tok, &size_list[nsizes])) {
            fprintf(stderr, "uring-send-bench: bad size '%s' (a multiple of "
                    "8 such as 64M or 1G; at most %d sizes)\n", tok,
                    MAX_SIZES);
            return 2;
        }
        if (size_list[nsizes] > max_size) {
            max_size = size_list[nsizes];
        }
        nsizes++;
    }
    free(dup);
    dup = strdup(sockets);
    for (tok = strtok_r(dup, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "tcp")) {
            kinds[S_TCP] = true;
        } else if (!strcmp(tok, "unix")) {
            kinds[S_UNIX] = true;
        } else {
            fprintf(stderr, "uring-send-bench: unknown socket '%s'\n", tok);
            return 2;
        }
    }
    free(dup);
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            die(csv_path);
        }
        fprintf(csv, "socket,bytes,mode,wall_ms,send_ms,gb_s,syscalls,"
                "cpu_ms,setup_us,sqes_total,zc_notifs_total,"
                "zc_copied_total,retries_total,result\n");
    }

    /* one buffer for every size, pattern-filled (and so pre-faulted) */
    src = malloc(max_size);
    if (!src) {
        die("malloc");
    }
    for (uint64_t o = 0; o < max_size; o += 8) {
        uint64_t w = pattern_word(o);

        memcpy(src + o, &w, 8);
    }

    uname(&un);
    printf("uring-send-bench: kernel %s %s, %ld CPUs; sender chunk and "
           "depth: %s\n", un.release, un.machine,
           sysconf(_SC_NPROCESSORS_ONLN),
           cfg_chunk || cfg_depth ? "from the command line" : "defaults");
    for (int k = 0; k < S_COUNT; k++) {
        if (!kinds[k]) {
            continue;
        }
        for (int i = 0; i < nsizes; i++) {
            ModeRun mrs[M_COUNT];

            memset(mrs, 0, sizeof(mrs));
            for (int m = 0; m < M_COUNT; m++) {
                mrs[m].enabled = enabled[m];
            }
            fprintf(stderr, "%s, %llu bytes ", sock_names[k],
                    (unsigned long long)size_list[i]);
            all_ok &= run(k, size_list[i], mrs, csv);
        }
    }
    if (csv) {
        fclose(csv);
    }
    free(src);
    printf("\n%s; total run time %.1f s\n",
           all_ok ? "every transfer arrived intact"
                  : "SOME TRANSFERS FAILED OR ARRIVED CORRUPT",
           (bench_now_ms() - t0) / 1e3);
    return all_ok ? 0 : 1;
}
