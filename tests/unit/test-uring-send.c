/*
 * Unit tests of the sender (plugin/src/uring_send.c): every transport,
 * over a unix socketpair and over loopback TCP, sends random data of
 * sizes around the chunk and batch boundaries (0, 1, 4095, ..., 64 MiB)
 * to a reader process; every byte is checked; forced fallbacks (the test
 * hooks pretend part of io_uring is missing) say why and still deliver;
 * unusable fds give a clear error; a peer that closes mid-send gives an
 * error, not a hang.
 *
 * Where this machine has no io_uring at all, every io_uring transport
 * falls back to the socket: the round trips still run, the assertions on
 * which io_uring variant was used are skipped with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uring_probe.h"
#include "uring_send.h"

#define MiB (1u << 20)
#define BIG_SIZE (64u * MiB)

static MigAccelUringProbe probe;
static uint8_t *pattern;            /* BIG_SIZE + 4096 random bytes */

typedef enum { PAIR_UNIX, PAIR_TCP } PairKind;

/* ---- sockets and the reader ------------------------------------------ */

/* A connected stream pair: fds[0] sends, fds[1] receives */
static void make_pair(PairKind kind, int fds[2])
{
    if (kind == PAIR_UNIX) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                        ==, 0);
    } else {
        struct sockaddr_in addr = { .sin_family = AF_INET };
        socklen_t alen = sizeof(addr);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(lfd, >=, 0);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        g_assert_cmpint(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                        0);
        g_assert_cmpint(listen(lfd, 1), ==, 0);
        g_assert_cmpint(getsockname(lfd, (struct sockaddr *)&addr, &alen), ==,
                        0);
        fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fds[0], >=, 0);
        g_assert_cmpint(connect(fds[0], (struct sockaddr *)&addr, alen), ==, 0);
        fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(fds[1], >=, 0);
        close(lfd);
    }
}

/*
 * The reader is a child process, not a thread: valgrind 3.19 runs one
 * thread at a time and does not let go of its lock while a thread waits
 * in io_uring_enter, so a reader thread would never run while the sender
 * waits for the socket to drain (a deadlock seen under the valgrind
 * variant). A process has its own lock. What it read goes to shared
 * memory.
 */
typedef struct Reader {
    /* shared with the child */
    size_t got;
    size_t extra;           /* bytes beyond cap: must stay 0 */
    int err;                /* errno of a failed recv */
    /* the parent's */
    uint8_t *buf;           /* MAP_SHARED, cap bytes */
    size_t cap;             /* bytes expected */
    size_t map_len;
    pid_t pid;
} Reader;

static void reader_main(Reader *r, int fd, size_t close_after)
{
    static uint8_t scratch[4096];

    for (;;) {
        size_t want = r->got < r->cap ? r->cap - r->got : sizeof(scratch);
        uint8_t *dst = r->got < r->cap ? r->buf + r->got : scratch;
        ssize_t n;

        if (close_after) {
            want = MIN(want, close_after - r->got);
        }
        n = recv(fd, dst, MIN(want, 4 * MiB), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            r->err = errno;
            break;
        }
        if (n == 0) {
            break;
        }
        if (r->got < r->cap) {
            r->got += (size_t)n;
        } else {
            r->extra += (size_t)n;
        }
        if (close_after && r->got >= close_after) {
            break;      /* close with unread bytes: TCP answers a reset */
        }
    }
    close(fd);
}

/*
 * Fork a reader of fd (the receiving end; the parent's copy is closed
 * here), other_fd is the sending end (closed in the child). Start it
 * before the sender, so the child holds no copy of the ring.
 */
static Reader *reader_start(int fd, int other_fd, size_t cap,
                            size_t close_after)
{
    size_t map_len = sizeof(Reader) + (cap ? cap : 1);
    uint8_t *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    Reader *r;
    pid_t pid;

    g_assert_true(map != MAP_FAILED);
    r = (Reader *)map;
    r->buf = map + sizeof(Reader);
    r->cap = cap;
    r->map_len = map_len;
    fflush(stdout);
    fflush(stderr);
    pid = fork();       /* not into r->pid: the child shares r */
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(other_fd);
        reader_main(r, fd, close_after);
        _exit(0);
    }
    r->pid = pid;
    close(fd);
    return r;
}

static void reader_join(Reader *r)
{
    int status;

    g_assert_cmpint(waitpid(r->pid, &status, 0), ==, r->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static void reader_free(Reader *r)
{
    munmap(r, r->map_len);
}

/* ---- helpers ------------------------------------------------------------ */

typedef struct LogCapture {
    int count;
    GString *text;
} LogCapture;

static void capture_log(void *opaque, const char *msg)
{
    LogCapture *lc = opaque;

    lc->count++;
    g_string_append_printf(lc->text, "%s\n", msg);
    g_test_message("sender log: %s", msg);
}

static bool is_zc(MigAccelTransport t)
{
    return t == MIGACCEL_TRANSPORT_URING_SEND_ZC ||
           t == MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED;
}

static bool is_fixed(MigAccelTransport t)
{
    return t == MIGACCEL_TRANSPORT_URING_SEND_FIXED ||
           t == MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED;
}

static MigAccelSender *sender_new(int fd, const MigAccelSenderConfig *cfg,
                                  LogCapture *lc)
{
    MigAccelSenderConfig c = *cfg;
    g_autoptr(GError) err = NULL;
    MigAccelSender *s;

    c.log = capture_log;
    c.log_opaque = lc;
    s = migaccel_sender_new_full(fd, &c, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s);
    g_test_message("asked %s, got %s (depth %u, chunk %zu)%s%s",
                   migaccel_transport_name(cfg->transport),
                   migaccel_transport_name(migaccel_sender_transport(s)),
                   migaccel_sender_queue_depth(s),
                   migaccel_sender_chunk_size(s),
                   migaccel_sender_fallback_reason(s) ? ": " : "",
                   migaccel_sender_fallback_reason(s)
                   ? migaccel_sender_fallback_reason(s) : "");
    /* a fallback is logged exactly once, and only a fallback */
    g_assert_cmpint(lc->count, ==,
                    migaccel_sender_fallback_reason(s) ? 1 : 0);
    return s;
}

/*
 * What transport this machine should give for `want` on a `kind` socket,
 * as far as the test knows it (fixed buffers on plain SEND depend on the
 * kernel: the sender probes it, the test accepts both).
 */
static void check_transport(const MigAccelSender *s, PairKind kind,
                            MigAccelTransport want)
{
    MigAccelTransport got = migaccel_sender_transport(s);
    const char *why = migaccel_sender_fallback_reason(s);

    g_assert_cmpint(migaccel_sender_requested(s), ==, want);
    if (want == MIGACCEL_TRANSPORT_SOCKET) {
        g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_SOCKET);
        g_assert_null(why);
        return;
    }
    if (!probe.available || !probe.has_send) {
        g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_SOCKET);
        g_assert_nonnull(why);
        return;
    }
    g_assert_cmpint(got, !=, MIGACCEL_TRANSPORT_SOCKET);
    if (want == MIGACCEL_TRANSPORT_URING) {
        g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_URING_DEFAULT);
        g_assert_null(why);
        return;
    }
    if (is_zc(want) && kind == PAIR_UNIX) {
        /* no zero copy on AF_UNIX: the probe's -EOPNOTSUPP */
        g_assert_false(is_zc(got));
        g_assert_nonnull(why);
        g_assert_nonnull(strstr(why, "SEND_ZC"));
    } else if (is_zc(want) && probe.has_send_zc) {
        g_assert_true(is_zc(got));
    }
    if (is_fixed(want) && is_zc(want) && is_zc(got)) {
        /* registered buffers on SEND_ZC: Linux 6.0, as SEND_ZC itself */
        g_assert_true(is_fixed(got));
    }
    if (!is_fixed(want)) {
        g_assert_false(is_fixed(got));
    }
    if (got == want) {
        g_assert_null(why);
    } else {
        g_assert_nonnull(why);
    }
}

/* Send each size in turn (from a different place of the pattern), check */
static void send_sizes(PairKind kind, const MigAccelSenderConfig *cfg,
                       const size_t *sizes, size_t nsizes, bool nonblocking)
{
    LogCapture lc = { .text = g_string_new(NULL) };
    g_autoptr(GError) err = NULL;
    MigAccelSenderStats st;
    MigAccelSender *s;
    Reader *r;
    size_t total = 0, off = 0;
    int fds[2];

    for (size_t i = 0; i < nsizes; i++) {
        total += sizes[i];
    }
    make_pair(kind, fds);
    if (nonblocking) {
        g_assert_cmpint(fcntl(fds[0], F_SETFL, O_NONBLOCK), ==, 0);
    }
    r = reader_start(fds[1], fds[0], total, 0);
    s = sender_new(fds[0], cfg, &lc);
    if (!cfg->pretend_missing) {    /* test_pretend() checks its own */
        check_transport(s, kind, cfg->transport);
    }
    for (size_t i = 0; i < nsizes; i++) {
        const uint8_t *src = pattern + (i * 977) % 4096;

        g_assert_true(migaccel_sender_send(s, src, sizes[i], &err));
        g_assert_no_error(err);
    }
    g_assert_true(migaccel_sender_flush(s, &err));
    g_assert_no_error(err);
    migaccel_sender_get_stats(s, &st);
    g_test_message("%zu sends, %zu bytes: send() %" G_GUINT64_FORMAT
                   ", polls %" G_GUINT64_FORMAT ", io_uring_enter %"
                   G_GUINT64_FORMAT ", SQEs %" G_GUINT64_FORMAT
                   ", batches %" G_GUINT64_FORMAT ", retries %"
                   G_GUINT64_FORMAT ", ZC notifications %" G_GUINT64_FORMAT
                   " (copied %" G_GUINT64_FORMAT "), staged %"
                   G_GUINT64_FORMAT, nsizes, total, st.send_calls,
                   st.poll_calls, st.enter_calls, st.sqes, st.batches,
                   st.retries, st.zc_notifs, st.zc_copied, st.staged_bytes);
    g_assert_cmpuint(st.bytes, ==, total);
    if (migaccel_sender_transport(s) == MIGACCEL_TRANSPORT_SOCKET) {
        g_assert_cmpuint(st.sqes, ==, 0);
        g_assert_cmpuint(st.send_calls, >=, total ? 1 : 0);
    } else {
        size_t chunk = migaccel_sender_chunk_size(s);
        uint64_t min_sqes = 0;

        for (size_t i = 0; i < nsizes; i++) {
            min_sqes += (sizes[i] + chunk - 1) / chunk;
        }
        g_assert_cmpuint(st.send_calls, ==, 0);
        g_assert_cmpuint(st.sqes, >=, min_sqes);
        g_assert_cmpuint(st.enter_calls, >=, st.batches);
        if (is_zc(migaccel_sender_transport(s))) {
            g_assert_cmpuint(st.zc_notifs, ==, st.sqes);
        }
        if (is_fixed(migaccel_sender_transport(s))) {
            g_assert_cmpuint(st.staged_bytes, >=, total);
        }
    }
    shutdown(fds[0], SHUT_WR);
    reader_join(r);
    migaccel_sender_free(s);
    close(fds[0]);

    g_assert_cmpint(r->err, ==, 0);
    g_assert_cmpuint(r->got, ==, total);
    g_assert_cmpuint(r->extra, ==, 0);
    for (size_t i = 0; i < nsizes; i++) {
        const uint8_t *src = pattern + (i * 977) % 4096;

        if (memcmp(r->buf + off, src, sizes[i])) {
            size_t j = 0;

            while (r->buf[off + j] == src[j]) {
                j++;
            }
            g_error("send %zu (%zu bytes): first wrong byte at %zu", i,
                    sizes[i], j);
        }
        off += sizes[i];
    }
    reader_free(r);
    g_string_free(lc.text, TRUE);
}

/* ---- tests -------------------------------------------------------------- */

typedef struct RoundTrip {
    PairKind kind;
    MigAccelTransport transport;
    bool nonblocking;
} RoundTrip;

static bool big_ok(void)
{
    /* 64 MiB is slow under valgrind: MIGACCEL_TEST_SMALL=1 keeps 8 MiB */
    return !g_getenv("MIGACCEL_TEST_SMALL");
}

static void test_roundtrip(gconstpointer data)
{
    const RoundTrip *rt = data;
    MigAccelSenderConfig cfg = { .transport = rt->transport };
    size_t big = big_ok() ? BIG_SIZE : 8 * MiB;
    /* around the default chunks (512 KiB fixed, 1 MiB) and batches */
    const size_t sizes[] = {
        0, 1, 4095, 4096, 4097, 512 * 1024 - 1, 512 * 1024, 512 * 1024 + 1,
        MiB - 1, MiB, MiB + 1, 4 * MiB, 4 * MiB + 1, 16 * MiB - 1,
        16 * MiB + 4095, big, 3,
    };

    send_sizes(rt->kind, &cfg, sizes, G_N_ELEMENTS(sizes), rt->nonblocking);
}

/* Small chunks and batches: many batches, slots reused while ZC is due */
static void test_small_chunks(gconstpointer data)
{
    const RoundTrip *rt = data;
    MigAccelSenderConfig cfg = {
        .transport = rt->transport, .queue_depth = 3, .chunk_size = 4096,
    };
    const size_t sizes[] = { 1, 4096, 4097, 3 * 4096, 3 * 4096 + 1,
                             MiB + 123, 5 };

    send_sizes(rt->kind, &cfg, sizes, G_N_ELEMENTS(sizes), rt->nonblocking);
}

static void test_names(void)
{
    for (int i = 0; i < MIGACCEL_TRANSPORT__COUNT; i++) {
        MigAccelTransport t = MIGACCEL_TRANSPORT__COUNT;
        const char *name = migaccel_transport_name((MigAccelTransport)i);

        g_assert_true(migaccel_transport_parse(name, &t));
        g_assert_cmpint(t, ==, i);
    }
    g_assert_cmpstr(migaccel_transport_name(MIGACCEL_TRANSPORT_URING), ==,
                    "io_uring");
    g_assert_cmpstr(migaccel_transport_name(MIGACCEL_TRANSPORT_SOCKET), ==,
                    "socket");
    g_assert_false(migaccel_transport_parse("uring", &(MigAccelTransport){0}));
    g_assert_false(migaccel_transport_parse(NULL, &(MigAccelTransport){0}));
    g_assert_cmpstr(migaccel_transport_name(MIGACCEL_TRANSPORT__COUNT), ==,
                    "invalid");
}

typedef struct Pretend {
    MigAccelTransport want;
    unsigned int pretend;
    PairKind kind;
    const char *reason_has;     /* substring the reason must hold */
} Pretend;

/* A mode the test pretends is missing: falls back, says why, delivers */
static void test_pretend(gconstpointer data)
{
    const Pretend *pt = data;
    MigAccelSenderConfig cfg = {
        .transport = pt->want, .pretend_missing = pt->pretend,
    };
    LogCapture lc = { .text = g_string_new(NULL) };
    const size_t sizes[] = { 1, 3 * MiB + 5 };
    MigAccelTransport got;
    MigAccelSender *s;
    const char *why;
    int fds[2];

    make_pair(pt->kind, fds);
    s = sender_new(fds[0], &cfg, &lc);
    got = migaccel_sender_transport(s);
    why = migaccel_sender_fallback_reason(s);
    g_assert_nonnull(why);
    g_assert_cmpint(lc.count, ==, 1);
    g_assert_nonnull(strstr(lc.text->str, why));
    g_assert_nonnull(strstr(lc.text->str,
                            migaccel_transport_name(pt->want)));
    if (!probe.available) {
        g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_SOCKET);
    } else {
        g_assert_nonnull(strstr(why, pt->reason_has));
        if (pt->pretend & (MIGACCEL_SENDER_PRETEND_NO_RING |
                           MIGACCEL_SENDER_PRETEND_NO_SEND)) {
            g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_SOCKET);
            g_assert_cmpuint(migaccel_sender_queue_depth(s), ==, 0);
        }
        if (pt->pretend & MIGACCEL_SENDER_PRETEND_NO_SEND_ZC) {
            g_assert_false(is_zc(got));
            g_assert_cmpint(got, !=, MIGACCEL_TRANSPORT_SOCKET);
        }
        if (pt->pretend & MIGACCEL_SENDER_PRETEND_NO_FIXED) {
            g_assert_false(is_fixed(got));
            g_assert_cmpint(got, !=, MIGACCEL_TRANSPORT_SOCKET);
            if (probe.has_send_zc && pt->kind == PAIR_TCP) {
                g_assert_cmpint(got, ==, MIGACCEL_TRANSPORT_URING_SEND_ZC);
            }
        }
    }
    migaccel_sender_free(s);
    close(fds[0]);
    close(fds[1]);
    g_string_free(lc.text, TRUE);

    /* and the fallback transport delivers */
    send_sizes(pt->kind, &cfg, sizes, G_N_ELEMENTS(sizes), false);
}

static void expect_new_error(int fd, MigAccelTransport want, int code,
                             const char *what)
{
    g_autoptr(GError) err = NULL;
    MigAccelSender *s = migaccel_sender_new(fd, want, &err);

    g_assert_null(s);
    g_assert_error(err, MIGACCEL_SENDER_ERROR, code);
    g_test_message("%s: %s", what, err->message);
    g_assert_nonnull(strstr(err->message, "migaccel sender"));
}

/* fds that cannot carry the stream: a clear error, no sender */
static void test_bad_fd(void)
{
    g_autoptr(GError) err = NULL;
    MigAccelSenderConfig cfg = { .transport = MIGACCEL_TRANSPORT_URING };
    int fds[2], pfd[2], ufd, tfd;

    make_pair(PAIR_UNIX, fds);
    close(fds[0]);
    close(fds[1]);
    for (int t = 0; t < MIGACCEL_TRANSPORT__COUNT; t++) {
        expect_new_error(fds[0], (MigAccelTransport)t, EBADF, "closed fd");
    }
    expect_new_error(-1, MIGACCEL_TRANSPORT_URING, EBADF, "fd -1");

    g_assert_cmpint(pipe(pfd), ==, 0);
    expect_new_error(pfd[1], MIGACCEL_TRANSPORT_URING, ENOTSOCK, "pipe");
    close(pfd[0]);
    close(pfd[1]);

    ufd = socket(AF_INET, SOCK_DGRAM, 0);
    g_assert_cmpint(ufd, >=, 0);
    expect_new_error(ufd, MIGACCEL_TRANSPORT_URING, ESOCKTNOSUPPORT,
                     "UDP socket");
    close(ufd);

    tfd = socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(tfd, >=, 0);
    expect_new_error(tfd, MIGACCEL_TRANSPORT_SOCKET, ENOTCONN,
                     "unconnected TCP socket");
    close(tfd);

    make_pair(PAIR_UNIX, fds);
    cfg.queue_depth = MIGACCEL_SENDER_MAX_DEPTH + 1;
    g_assert_null(migaccel_sender_new_full(fds[0], &cfg, &err));
    g_assert_error(err, MIGACCEL_SENDER_ERROR, EINVAL);
    g_clear_error(&err);
    cfg.queue_depth = 0;
    cfg.chunk_size = 100;
    g_assert_null(migaccel_sender_new_full(fds[0], &cfg, &err));
    g_assert_error(err, MIGACCEL_SENDER_ERROR, EINVAL);
    g_clear_error(&err);
    cfg.chunk_size = 0;
    cfg.transport = MIGACCEL_TRANSPORT__COUNT;
    g_assert_null(migaccel_sender_new_full(fds[0], &cfg, &err));
    g_assert_error(err, MIGACCEL_SENDER_ERROR, EINVAL);
    close(fds[0]);
    close(fds[1]);

    migaccel_sender_free(NULL);
}

/* The peer reads 1 MiB and closes: the send fails, no hang, no crash */
static void test_peer_close(gconstpointer data)
{
    const RoundTrip *rt = data;
    LogCapture lc = { .text = g_string_new(NULL) };
    MigAccelSenderConfig cfg = { .transport = rt->transport };
    g_autoptr(GError) err = NULL;
    MigAccelSenderStats st;
    MigAccelSender *s;
    Reader *r;
    int fds[2];

    make_pair(rt->kind, fds);
    if (rt->nonblocking) {
        g_assert_cmpint(fcntl(fds[0], F_SETFL, O_NONBLOCK), ==, 0);
    }
    r = reader_start(fds[1], fds[0], BIG_SIZE, MiB);
    s = sender_new(fds[0], &cfg, &lc);
    g_assert_false(migaccel_sender_send(s, pattern, BIG_SIZE, &err));
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_true(err->domain == MIGACCEL_SENDER_ERROR);
    g_assert_true(err->code == EPIPE || err->code == ECONNRESET);
    g_clear_error(&err);
    migaccel_sender_get_stats(s, &st);
    g_assert_cmpuint(st.bytes, >=, MiB);
    g_assert_cmpuint(st.bytes, <, BIG_SIZE);

    /* the stream is broken for good */
    g_assert_false(migaccel_sender_send(s, pattern, 1, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "broken"));
    g_clear_error(&err);
    g_assert_true(migaccel_sender_flush(s, &err));
    g_assert_no_error(err);

    reader_join(r);
    g_assert_cmpuint(r->got, ==, MiB);
    g_assert_cmpint(memcmp(r->buf, pattern, MiB), ==, 0);
    reader_free(r);
    migaccel_sender_free(s);
    close(fds[0]);
    g_string_free(lc.text, TRUE);
}

/*
 * SEND_ZC from the caller's memory is charged to RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK. In a subprocess that drops CAP_IPC_LOCK: with 8 MiB (an
 * unprivileged QEMU's default) the sender sizes its batches to fit; with
 * 512 KiB set after creation, requests fail with -ENOMEM and the sender
 * keeps less in flight instead of failing. Every byte still arrives.
 */
static void memlock_child(void)
{
    struct __user_cap_header_struct hdr = {
        .version = _LINUX_CAPABILITY_VERSION_3,
    };
    struct __user_cap_data_struct cap[_LINUX_CAPABILITY_U32S_3];
    MigAccelSenderConfig cfg = {
        .transport = MIGACCEL_TRANSPORT_URING_SEND_ZC,
    };
    struct rlimit rl = { 8 * MiB, 8 * MiB };
    LogCapture lc = { .text = g_string_new(NULL) };
    g_autoptr(GError) err = NULL;
    MigAccelSenderStats st;
    MigAccelSender *s;
    Reader *r;
    int fds[2];

    g_assert_cmpint(syscall(SYS_capget, &hdr, cap), ==, 0);
    cap[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
    g_assert_cmpint(syscall(SYS_capset, &hdr, cap), ==, 0);
    g_assert_cmpint(setrlimit(RLIMIT_MEMLOCK, &rl), ==, 0);

    make_pair(PAIR_TCP, fds);
    r = reader_start(fds[1], fds[0], 16 * MiB, 0);
    s = sender_new(fds[0], &cfg, &lc);
    g_assert_cmpint(migaccel_sender_transport(s), ==,
                    MIGACCEL_TRANSPORT_URING_SEND_ZC);
    g_assert_cmpuint(2 * migaccel_sender_queue_depth(s) *
                     migaccel_sender_chunk_size(s), <=, 4 * MiB);
    g_assert_true(migaccel_sender_send(s, pattern, 8 * MiB, &err));
    g_assert_no_error(err);

    rl.rlim_cur = rl.rlim_max = 512 * 1024;
    g_assert_cmpint(setrlimit(RLIMIT_MEMLOCK, &rl), ==, 0);
    g_assert_true(migaccel_sender_send(s, pattern + 8 * MiB, 8 * MiB, &err));
    g_assert_no_error(err);
    migaccel_sender_get_stats(s, &st);
    g_test_message("after RLIMIT_MEMLOCK 512 KiB: %s, depth %u, chunk %zu, "
                   "retries %" G_GUINT64_FORMAT,
                   migaccel_transport_name(migaccel_sender_transport(s)),
                   migaccel_sender_queue_depth(s),
                   migaccel_sender_chunk_size(s), st.retries);
    g_assert_cmpuint(st.bytes, ==, 16 * MiB);
    shutdown(fds[0], SHUT_WR);
    reader_join(r);
    migaccel_sender_free(s);
    close(fds[0]);
    g_assert_cmpuint(r->got, ==, 16 * MiB);
    g_assert_cmpint(memcmp(r->buf, pattern, 16 * MiB), ==, 0);
    reader_free(r);
    g_string_free(lc.text, TRUE);
}

static void test_memlock(void)
{
    if (!probe.available || !probe.has_send_zc) {
        g_test_skip("no IORING_OP_SEND_ZC here");
        return;
    }
    if (g_test_subprocess()) {
        memlock_child();
        return;
    }
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

/* ---- main --------------------------------------------------------------- */

static const char *const kind_names[] = { "unix", "tcp" };

int main(int argc, char **argv)
{
    static RoundTrip rts[2][MIGACCEL_TRANSPORT__COUNT][2];
    static const Pretend pretends[] = {
        { MIGACCEL_TRANSPORT_URING, MIGACCEL_SENDER_PRETEND_NO_RING,
          PAIR_TCP, "io_uring_queue_init" },
        { MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
          MIGACCEL_SENDER_PRETEND_NO_RING, PAIR_UNIX, "(simulated)" },
        { MIGACCEL_TRANSPORT_URING_SEND, MIGACCEL_SENDER_PRETEND_NO_SEND,
          PAIR_TCP, "IORING_OP_SEND" },
        { MIGACCEL_TRANSPORT_URING_SEND_ZC,
          MIGACCEL_SENDER_PRETEND_NO_SEND_ZC, PAIR_TCP, "IORING_OP_SEND_ZC" },
        { MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
          MIGACCEL_SENDER_PRETEND_NO_SEND_ZC, PAIR_TCP, "IORING_OP_SEND_ZC" },
        { MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
          MIGACCEL_SENDER_PRETEND_NO_FIXED, PAIR_TCP, "staging buffers" },
        { MIGACCEL_TRANSPORT_URING_SEND_FIXED,
          MIGACCEL_SENDER_PRETEND_NO_FIXED, PAIR_UNIX, "staging buffers" },
    };
    int ret;

    g_test_init(&argc, &argv, NULL);
    migaccel_uring_probe(&probe);
    if (!probe.available) {
        g_test_message("io_uring unavailable here (%s): every io_uring "
                       "transport must fall back to the socket",
                       g_strerror(-probe.error));
    }
    pattern = g_malloc(BIG_SIZE + 4096);
    for (size_t i = 0; i < (BIG_SIZE + 4096) / 4; i++) {
        ((uint32_t *)pattern)[i] = g_random_int();
    }

    g_test_add_func("/uring-send/names", test_names);
    g_test_add_func("/uring-send/bad-fd", test_bad_fd);
    g_test_add_func("/uring-send/memlock", test_memlock);
    for (int k = 0; k < 2; k++) {
        for (int t = 0; t < MIGACCEL_TRANSPORT__COUNT; t++) {
            for (int nb = 0; nb < 2; nb++) {
                RoundTrip *rt = &rts[k][t][nb];
                g_autofree char *suffix = NULL;
                g_autofree char *path = NULL;

                rt->kind = (PairKind)k;
                rt->transport = (MigAccelTransport)t;
                rt->nonblocking = nb;
                suffix = g_strdup_printf("%s/%s%s", kind_names[k],
                                         migaccel_transport_name(rt->transport),
                                         nb ? "/nonblocking" : "");
                path = g_strdup_printf("/uring-send/roundtrip/%s", suffix);
                g_test_add_data_func(path, rt, test_roundtrip);
                g_free(path);
                path = g_strdup_printf("/uring-send/small-chunks/%s", suffix);
                g_test_add_data_func(path, rt, test_small_chunks);
                g_free(path);
                path = g_strdup_printf("/uring-send/peer-close/%s", suffix);
                g_test_add_data_func(path, rt, test_peer_close);
            }
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(pretends); i++) {
        g_autofree char *path =
            g_strdup_printf("/uring-send/fallback/%zu-%s-%s", i,
                            kind_names[pretends[i].kind],
                            migaccel_transport_name(pretends[i].want));

        g_test_add_data_func(path, &pretends[i], test_pretend);
    }
    ret = g_test_run();
    g_free(pattern);
    return ret;
}
