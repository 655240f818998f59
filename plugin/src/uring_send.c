/*
 * The accelerator's sender over io_uring, with the socket as fallback
 * (the contract is in uring_send.h).
 *
 * How a send goes on io_uring: the buffer is cut into chunks (1 MiB by
 * default); up to queue_depth of them (16) become one batch of SEND (or
 * SEND_ZC) requests linked with IOSQE_IO_LINK and flagged MSG_WAITALL, and
 * the batch is submitted and waited for with a single io_uring_enter.
 * Linking is what keeps the bytes in order: two unlinked sends on one
 * TCP socket may run concurrently (one waits for socket space through
 * poll while a later one finds space first) and interleave on the wire.
 * MSG_WAITALL makes the kernel retry a short send itself, so a request
 * completes short only on an error, and a failed link completes the rest
 * of its batch with -ECANCELED; the sender then resubmits from the first
 * byte not confirmed sent. A new batch is submitted only once the previous
 * one has completed: a second chain would not be ordered after the first.
 *
 * Registered buffers: IORING_RECVSEND_FIXED_BUF works on SEND_ZC since
 * Linux 6.0, on plain SEND only on newer kernels (probed: a zero-length
 * fixed send is submitted once at creation and -EINVAL means no). The
 * caller's memory (a bitmap the codec just wrote, guest RAM) is not
 * registered, so the "fixed" transports copy each chunk into one of a
 * small pool of registered staging buffers (queue_depth buffers of
 * chunk_size, 8 x 512 KiB by default: 4 MiB, within the 8 MiB default
 * RLIMIT_MEMLOCK that an unprivileged QEMU has). That buys the kernel
 * nothing it cannot do from user memory for a copying SEND (it copies
 * either way) and costs a memcpy, and for SEND_ZC it trades the page
 * pinning of each request for that memcpy. docs/uring-send.md has the
 * measurements (bench/uring-send-bench.c): over loopback TCP, 1 GiB,
 * SEND from the caller's memory took 0.45x the wall time of QEMU's 32 KiB
 * writes and 0.70x that of one blocking send(); SEND_ZC was 1.9x slower
 * than SEND (loopback copies anyway), from staging 12-14 % more CPU than
 * from the caller's memory. So plain SEND from the caller's memory is the
 * default io_uring transport (MIGACCEL_TRANSPORT_URING_DEFAULT); the others
 * are there to be chosen and measured on real NICs.
 *
 * Zero copy: each SEND_ZC request completes with two CQEs, the result
 * (flagged IORING_CQE_F_MORE) and later the notification
 * (IORING_CQE_F_NOTIF) once the network stack let go of the pages; the
 * memory must not be reused before the notification. A slot (one request)
 * is therefore busy until every CQE it announced has been reaped: for the
 * caller's memory send() waits for all of them before returning; staging
 * buffers are reused only once free, and flush() waits for the last ones.
 * IORING_SEND_ZC_REPORT_USAGE (Linux 6.2) is asked for when the kernel
 * takes it, to count the notifications where the kernel copied after all
 * (always, over loopback).
 */
#include "uring_send.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Not in liburing 2.3's copy of the uapi header (Linux 6.2) */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define DEFAULT_DEPTH           16
#define DEFAULT_CHUNK           (1u << 20)
#define DEFAULT_FIXED_DEPTH     8
#define DEFAULT_FIXED_CHUNK     (512u << 10)
/* the smallest chunk fit_memlock() picks for SEND_ZC */
#define MIN_ZC_CHUNK            (256u << 10)
/* user_data of the requests sent while probing, never a slot index */
#define PROBE_TAG               UINT64_MAX
/* batches in a row that may end without progress before we give up */
#define MAX_FUTILE_RETRIES      10000
#define SEND_FLAGS              (MSG_WAITALL | MSG_NOSIGNAL)

/* One request in flight, and for the fixed transports its staging buffer */
typedef struct Slot {
    unsigned int pending;   /* CQEs still expected; 0: the slot is free */
    bool has_res;           /* the result CQE has been reaped */
    int res;
    uint32_t len;
} Slot;

struct MigAccelSender {
    int fd;
    bool nonblocking;
    MigAccelTransport requested;
    MigAccelTransport used;
    GString *reason;                /* NULL while nothing fell back */
    MigAccelSenderLogFn log;
    void *log_opaque;

    bool ring_ok;
    bool zc;
    bool fixed;
    unsigned int zc_flags;
    struct io_uring ring;
    unsigned int depth;
    size_t chunk;
    Slot *slots;
    unsigned int nslots;
    unsigned int slot_limit;        /* slots in use: <= nslots */
    uint8_t *staging;               /* nslots x chunk, mmap()ed */
    size_t staging_len;

    int broken;                     /* errno of the failure; 0 while ok */
    MigAccelSenderStats st;
};

static const char *const transport_names[MIGACCEL_TRANSPORT__COUNT] = {
    [MIGACCEL_TRANSPORT_SOCKET] = "socket",
    [MIGACCEL_TRANSPORT_URING] = "io_uring",
    [MIGACCEL_TRANSPORT_URING_SEND] = "io_uring-send",
    [MIGACCEL_TRANSPORT_URING_SEND_FIXED] = "io_uring-send-fixed",
    [MIGACCEL_TRANSPORT_URING_SEND_ZC] = "io_uring-send-zc",
    [MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED] = "io_uring-send-zc-fixed",
};

G_DEFINE_QUARK(migaccel-sender-error-quark, migaccel_sender_error)

const char *migaccel_transport_name(MigAccelTransport t)
{
    if ((unsigned int)t >= MIGACCEL_TRANSPORT__COUNT) {
        return "invalid";
    }
    return transport_names[t];
}

gboolean migaccel_transport_parse(const char *name, MigAccelTransport *out)
{
    for (unsigned int i = 0; name && i < MIGACCEL_TRANSPORT__COUNT; i++) {
        if (!strcmp(name, transport_names[i])) {
            *out = (MigAccelTransport)i;
            return TRUE;
        }
    }
    return FALSE;
}

static MigAccelTransport uring_transport(bool zc, bool fixed)
{
    if (zc) {
        return fixed ? MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED
                     : MIGACCEL_TRANSPORT_URING_SEND_ZC;
    }
    return fixed ? MIGACCEL_TRANSPORT_URING_SEND_FIXED
                 : MIGACCEL_TRANSPORT_URING_SEND;
}

static void sender_log(MigAccelSender *s, const char *msg)
{
    if (s->log) {
        s->log(s->log_opaque, msg);
    } else {
        g_message("%s", msg);
    }
}

/* Record why the transport in use is not the one asked for */
static void G_GNUC_PRINTF(2, 3) fall_back(MigAccelSender *s,
                                          const char *fmt, ...)
{
    va_list ap;

    if (!s->reason) {
        s->reason = g_string_new(NULL);
    } else {
        g_string_append(s->reason, "; ");
    }
    va_start(ap, fmt);
    g_string_append_vprintf(s->reason, fmt, ap);
    va_end(ap);
}

static void set_errno_error(GError **err, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void set_errno_error(GError **err, int errnum, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, MIGACCEL_SENDER_ERROR, errnum, "%s: %s", msg,
                g_strerror(errnum));
}

/* ---- the fd ----------------------------------------------------------- */

static bool check_fd(int fd, bool *nonblocking, GError **err)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    struct stat stbuf;
    int type = 0, flags;
    socklen_t tlen = sizeof(type);

    if (fd < 0 || fstat(fd, &stbuf) < 0) {
        set_errno_error(err, fd < 0 ? EBADF : errno,
                        "migaccel sender: fd %d", fd);
        return false;
    }
    if (!S_ISSOCK(stbuf.st_mode)) {
        set_errno_error(err, ENOTSOCK, "migaccel sender: fd %d", fd);
        return false;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0) {
        set_errno_error(err, errno, "migaccel sender: fd %d: SO_TYPE", fd);
        return false;
    }
    if (type != SOCK_STREAM) {
        g_set_error(err, MIGACCEL_SENDER_ERROR, ESOCKTNOSUPPORT,
                    "migaccel sender: fd %d is not a stream socket "
                    "(SO_TYPE %d)", fd, type);
        return false;
    }
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
        set_errno_error(err, errno, "migaccel sender: fd %d", fd);
        return false;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0) {
        set_errno_error(err, errno, "migaccel sender: fd %d: F_GETFL", fd);
        return false;
    }
    *nonblocking = flags & O_NONBLOCK;
    return true;
}

/* Wait until fd can take more bytes (non-blocking fd after EAGAIN) */
static void wait_writable(MigAccelSender *s)
{
    struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };

    s->st.poll_calls++;
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
        s->st.poll_calls++;
    }
    /* POLLERR / POLLHUP: the next send reports the error */
}

/* ---- io_uring: completions --------------------------------------------- */

static void handle_cqe(MigAccelSender *s, const struct io_uring_cqe *cqe)
{
    Slot *sl;

    s->st.cqes++;
    if (cqe->user_data >= s->nslots) {
        return;     /* a probe's late notification */
    }
    sl = &s->slots[cqe->user_data];
    if (cqe->flags & IORING_CQE_F_NOTIF) {
        s->st.zc_notifs++;
        if (s->zc_flags & IORING_SEND_ZC_REPORT_USAGE &&
            (uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
            s->st.zc_copied++;
        }
        if (sl->pending) {
            sl->pending--;
        }
        return;
    }
    sl->res = cqe->res;
    sl->has_res = true;
    /* F_MORE: a notification follows; without it none will come */
    if (cqe->flags & IORING_CQE_F_MORE) {
        if (sl->pending) {
            sl->pending--;
        }
    } else {
        sl->pending = 0;
    }
}

/* Reap the CQEs there are; wait for one first if wait and there is none */
static int reap(MigAccelSender *s, bool wait)
{
    struct io_uring_cqe *cqe;
    unsigned int head, n = 0;
    int ret;

    if (wait && io_uring_peek_cqe(&s->ring, &cqe) == -EAGAIN) {
        do {
            s->st.enter_calls++;
            ret = io_uring_wait_cqe(&s->ring, &cqe);
        } while (ret == -EINTR);
        if (ret < 0) {
            return ret;
        }
    }
    io_uring_for_each_cqe(&s->ring, head, cqe) {
        handle_cqe(s, cqe);
        n++;
    }
    io_uring_cq_advance(&s->ring, n);
    return 0;
}

/*
 * Submit what is queued and wait for at least wait_nr CQEs, in one
 * io_uring_enter unless interrupted.
 */
static int submit_and_wait(MigAccelSender *s, unsigned int wait_nr)
{
    int ret;

    for (;;) {
        s->st.enter_calls++;
        ret = io_uring_submit_and_wait(&s->ring, wait_nr);
        if (ret >= 0 || (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)) {
            break;
        }
        /* interrupted, or short of CQ room: make room and go again */
        reap(s, false);
        if (!io_uring_sq_ready(&s->ring)) {
            ret = 0;
            break;
        }
    }
    /* Without IORING_SETUP_SUBMIT_ALL the kernel stops after a request
     * that fails at submission; a batch is one link, so this is only a
     * guard against waiting for requests never submitted */
    while (ret >= 0 && io_uring_sq_ready(&s->ring)) {
        s->st.enter_calls++;
        ret = io_uring_submit(&s->ring);
        if (ret == -EINTR) {
            ret = 0;
        }
    }
    return ret < 0 ? ret : 0;
}

static unsigned int slots_busy(const MigAccelSender *s)
{
    unsigned int n = 0;

    for (unsigned int i = 0; i < s->nslots; i++) {
        n += s->slots[i].pending != 0;
    }
    return n;
}

/* Wait until no request holds any memory (the ZC notifications) */
static int drain(MigAccelSender *s)
{
    while (slots_busy(s)) {
        int ret = reap(s, true);

        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* ---- io_uring: setup and probes ---------------------------------------- */

/*
 * One zero-length send on the real socket: whether the kernel takes this
 * opcode with these flags on this socket. Sends no byte. Returns the
 * result (0 or -errno) and waits for the notification of a ZC request.
 */
static int probe_send(MigAccelSender *s, bool zc, bool fixed,
                      unsigned int zc_flags)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    struct io_uring_cqe *cqe;
    bool more = false, got_res = false;
    int res = -EIO, ret;
    static const uint8_t zero;
    const void *buf = fixed ? (const void *)s->staging : &zero;

    if (!sqe) {
        return -EBUSY;
    }
    if (zc) {
        io_uring_prep_send_zc(sqe, s->fd, buf, 0, MSG_DONTWAIT | MSG_NOSIGNAL,
                              zc_flags);
    } else {
        io_uring_prep_send(sqe, s->fd, buf, 0, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (fixed) {
        sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
        sqe->buf_index = 0;
    }
    io_uring_sqe_set_data64(sqe, PROBE_TAG);
    ret = submit_and_wait(s, 1);
    if (ret < 0) {
        return ret;
    }
    while (!got_res || more) {
        do {
            s->st.enter_calls += io_uring_peek_cqe(&s->ring, &cqe) == -EAGAIN;
            ret = io_uring_wait_cqe(&s->ring, &cqe);
        } while (ret == -EINTR);
        if (ret < 0) {
            return ret;
        }
        s->st.cqes++;
        if (cqe->flags & IORING_CQE_F_NOTIF) {
            more = false;
        } else {
            got_res = true;
            res = cqe->res;
            more = cqe->flags & IORING_CQE_F_MORE;
        }
        io_uring_cqe_seen(&s->ring, cqe);
    }
    return res;
}

static int register_staging(MigAccelSender *s, unsigned int pretend)
{
    g_autofree struct iovec *iov = NULL;
    int ret;

    s->staging_len = (size_t)s->depth * s->chunk;
    s->staging = mmap(NULL, s->staging_len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->staging == MAP_FAILED) {
        s->staging = NULL;
        return -errno;
    }
    if (pretend & MIGACCEL_SENDER_PRETEND_NO_FIXED) {
        ret = -ENOMEM;
    } else {
        iov = g_new(struct iovec, s->depth);
        for (unsigned int i = 0; i < s->depth; i++) {
            iov[i].iov_base = s->staging + (size_t)i * s->chunk;
            iov[i].iov_len = s->chunk;
        }
        ret = io_uring_register_buffers(&s->ring, iov, s->depth);
    }
    if (ret < 0) {
        munmap(s->staging, s->staging_len);
        s->staging = NULL;
    }
    return ret;
}

/* Whether this process may lock memory beyond RLIMIT_MEMLOCK */
static bool has_cap_ipc_lock(void)
{
    struct __user_cap_header_struct hdr = {
        .version = _LINUX_CAPABILITY_VERSION_3,
    };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    if (syscall(SYS_capget, &hdr, data) < 0) {
        return false;
    }
    return data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

/*
 * SEND_ZC from the caller's memory charges the pages of every request
 * to RLIMIT_MEMLOCK until its notification (unless CAP_IPC_LOCK), and a
 * request over the limit fails with -ENOMEM: an unprivileged QEMU has
 * 8 MiB by default, less than 2 x 16 x 1 MiB in flight. Keep what may be
 * in flight (2 x depth x chunk) within half the limit, smaller chunks
 * first (down to 256 KiB), then a shorter batch. -ENOMEM at send time
 * still shrinks further (uring_send()).
 */
static void fit_memlock(MigAccelSender *s)
{
    struct rlimit rl;
    uint64_t budget;

    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        has_cap_ipc_lock()) {
        return;
    }
    budget = rl.rlim_cur / 2;
    while (2ull * s->depth * s->chunk > budget) {
        if (s->chunk > MIN_ZC_CHUNK) {
            s->chunk = MAX(s->chunk / 2, MIN_ZC_CHUNK);
        } else if (s->depth > 1) {
            s->depth /= 2;
        } else {
            break;
        }
    }
}

/*
 * Set up the ring for the io_uring transport asked for (zc, fixed); on
 * return s->used says what we got and s->reason why not more.
 */
static void uring_setup(MigAccelSender *s, const MigAccelSenderConfig *cfg,
                        bool zc, bool fixed)
{
    struct io_uring_params p;
    struct io_uring_probe *probe;
    unsigned int pretend = cfg->pretend_missing;
    bool has_send, has_zc;
    unsigned int entries;
    int ret;

    s->depth = cfg->queue_depth ? cfg->queue_depth
                                : fixed ? DEFAULT_FIXED_DEPTH : DEFAULT_DEPTH;
    s->chunk = cfg->chunk_size ? cfg->chunk_size
                               : fixed ? DEFAULT_FIXED_CHUNK : DEFAULT_CHUNK;
    s->used = MIGACCEL_TRANSPORT_SOCKET;

    /*
     * Slots (set at the end): one per staging buffer; from the caller's
     * memory, twice the batch, so that a batch can go out while the
     * previous one's zero-copy notifications are still due. Each slot may
     * owe 2 CQEs, hence the CQ of 4 x depth. The ring is sized for the
     * larger batch, should the fixed transport fall back.
     */
    entries = MAX(s->depth, cfg->queue_depth ? cfg->queue_depth
                                             : DEFAULT_DEPTH);
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = 4 * entries + 2;
    if (pretend & MIGACCEL_SENDER_PRETEND_NO_RING) {
        ret = -EPERM;
    } else {
        ret = io_uring_queue_init_params(entries, &s->ring, &p);
        if (ret == -EINVAL) {       /* COOP_TASKRUN is Linux 5.19 */
            memset(&p, 0, sizeof(p));
            p.flags = IORING_SETUP_CQSIZE;
            p.cq_entries = 4 * entries + 2;
            ret = io_uring_queue_init_params(entries, &s->ring, &p);
        }
    }
    if (ret < 0) {
        fall_back(s, "io_uring_queue_init: %s%s (old kernel, "
                  "kernel.io_uring_disabled, or seccomp)", g_strerror(-ret),
                  pretend & MIGACCEL_SENDER_PRETEND_NO_RING ? " (simulated)"
                                                            : "");
        return;
    }
    s->ring_ok = true;

    probe = io_uring_get_probe_ring(&s->ring);
    if (!probe) {
        fall_back(s, "io_uring_get_probe failed: kernel too old for "
                  "IORING_REGISTER_PROBE (Linux 5.6)");
        return;
    }
    has_send = io_uring_opcode_supported(probe, IORING_OP_SEND) &&
               !(pretend & MIGACCEL_SENDER_PRETEND_NO_SEND);
    has_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
             !(pretend & MIGACCEL_SENDER_PRETEND_NO_SEND_ZC);
    io_uring_free_probe(probe);
    if (!has_send) {
        fall_back(s, "this kernel's io_uring has no IORING_OP_SEND "
                  "(Linux 5.6)%s",
                  pretend & MIGACCEL_SENDER_PRETEND_NO_SEND ? " (simulated)"
                                                            : "");
        return;
    }
    if (zc && !has_zc) {
        fall_back(s, "this kernel's io_uring has no IORING_OP_SEND_ZC "
                  "(Linux 6.0)%s",
                  pretend & MIGACCEL_SENDER_PRETEND_NO_SEND_ZC
                  ? " (simulated)" : "");
        zc = false;
    }

    if (fixed) {
        ret = register_staging(s, pretend);
        if (ret < 0) {
            fall_back(s, "registering %u staging buffers of %zu KiB: %s%s",
                      s->depth, s->chunk >> 10, g_strerror(-ret),
                      ret == -ENOMEM ? " (RLIMIT_MEMLOCK?)" : "");
            fixed = false;
        }
    }
    if (zc) {
        s->zc_flags = IORING_SEND_ZC_REPORT_USAGE;
        ret = probe_send(s, true, fixed, s->zc_flags);
        if (ret == -EINVAL) {       /* REPORT_USAGE is Linux 6.2 */
            s->zc_flags = 0;
            ret = probe_send(s, true, fixed, 0);
        }
        if (ret < 0) {
            fall_back(s, "IORING_OP_SEND_ZC on fd %d: %s%s", s->fd,
                      g_strerror(-ret), ret == -EOPNOTSUPP
                      ? " (no zero copy on this socket family, e.g. AF_UNIX)"
                      : "");
            zc = false;
            s->zc_flags = 0;
        }
    }
    /* after zc: a zc-fixed that lost zc needs fixed plain SEND */
    if (fixed && !zc) {
        ret = probe_send(s, false, true, 0);
        if (ret < 0) {
            fall_back(s, "IORING_OP_SEND with registered buffers: %s%s",
                      g_strerror(-ret), ret == -EINVAL
                      ? " (this kernel takes IORING_RECVSEND_FIXED_BUF on "
                        "SEND_ZC only)" : "");
            fixed = false;
        }
    }
    if (!fixed && s->staging) {
        io_uring_unregister_buffers(&s->ring);
        munmap(s->staging, s->staging_len);
        s->staging = NULL;
    }
    if (!fixed) {
        /* from the caller's memory the fixed defaults no longer apply */
        s->depth = cfg->queue_depth ? cfg->queue_depth : DEFAULT_DEPTH;
        s->chunk = cfg->chunk_size ? cfg->chunk_size : DEFAULT_CHUNK;
        s->depth = MIN(s->depth, p.sq_entries);
    }
    s->nslots = fixed ? s->depth : 2 * s->depth;
    if (zc && !fixed) {
        fit_memlock(s);
    }
    s->slot_limit = fixed ? s->depth : 2 * s->depth;
    s->zc = zc;
    s->fixed = fixed;
    s->slots = g_new0(Slot, s->nslots);
    s->used = uring_transport(zc, fixed);
}

/* ---- public ------------------------------------------------------------ */

MigAccelSender *migaccel_sender_new_full(int fd,
                                         const MigAccelSenderConfig *cfg,
                                         GError **err)
{
    MigAccelSender *s;
    MigAccelTransport want = cfg->transport;
    bool nonblocking;

    if ((unsigned int)want >= MIGACCEL_TRANSPORT__COUNT ||
        cfg->queue_depth > MIGACCEL_SENDER_MAX_DEPTH ||
        (cfg->chunk_size && (cfg->chunk_size < MIGACCEL_SENDER_MIN_CHUNK ||
                             cfg->chunk_size > MIGACCEL_SENDER_MAX_CHUNK))) {
        g_set_error(err, MIGACCEL_SENDER_ERROR, EINVAL,
                    "migaccel sender: bad configuration (transport %d, "
                    "queue depth %u <= %u, chunk %zu in [%u, %u])",
                    (int)want, cfg->queue_depth, MIGACCEL_SENDER_MAX_DEPTH,
                    cfg->chunk_size, MIGACCEL_SENDER_MIN_CHUNK,
                    MIGACCEL_SENDER_MAX_CHUNK);
        return NULL;
    }
    if (!check_fd(fd, &nonblocking, err)) {
        return NULL;
    }
    s = g_new0(MigAccelSender, 1);
    s->fd = fd;
    s->nonblocking = nonblocking;
    s->requested = want;
    s->log = cfg->log;
    s->log_opaque = cfg->log_opaque;
    if (want == MIGACCEL_TRANSPORT_URING) {
        want = MIGACCEL_TRANSPORT_URING_DEFAULT;
    }
    if (want == MIGACCEL_TRANSPORT_SOCKET) {
        s->used = MIGACCEL_TRANSPORT_SOCKET;
        return s;
    }
    uring_setup(s, cfg,
                want == MIGACCEL_TRANSPORT_URING_SEND_ZC ||
                want == MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
                want == MIGACCEL_TRANSPORT_URING_SEND_FIXED ||
                want == MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED);
    if (s->used == MIGACCEL_TRANSPORT_SOCKET && s->ring_ok) {
        io_uring_queue_exit(&s->ring);
        s->ring_ok = false;
    }
    if (s->reason) {
        g_autofree char *msg =
            g_strdup_printf("migaccel: transport %s unavailable, using %s: %s",
                            migaccel_transport_name(s->requested),
                            migaccel_transport_name(s->used), s->reason->str);

        sender_log(s, msg);
    }
    return s;
}

MigAccelSender *migaccel_sender_new(int fd, MigAccelTransport want,
                                    GError **err)
{
    MigAccelSenderConfig cfg = { .transport = want };

    return migaccel_sender_new_full(fd, &cfg, err);
}

static gboolean fail(MigAccelSender *s, int errnum, size_t done, size_t len,
                     GError **err)
{
    s->broken = errnum;
    set_errno_error(err, errnum, "migaccel sender (%s): send failed after "
                    "%zu of %zu bytes", migaccel_transport_name(s->used),
                    done, len);
    return FALSE;
}

static gboolean socket_send(MigAccelSender *s, const uint8_t *buf, size_t len,
                            GError **err)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n;

        s->st.send_calls++;
        n = send(s->fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            s->st.bytes += (uint64_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_writable(s);
        } else {
            return fail(s, n < 0 ? errno : EIO, done, len, err);
        }
    }
    return TRUE;
}

static int free_slot(const MigAccelSender *s)
{
    for (unsigned int i = 0; i < s->slot_limit; i++) {
        if (!s->slots[i].pending) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Queue one linked batch of chunks from buf + done into chain[]; waits for
 * a free slot if there is none. Returns the number queued (>= 1) or -errno.
 */
static int queue_batch(MigAccelSender *s, const uint8_t *buf, size_t len,
                       size_t done, unsigned int *chain)
{
    struct io_uring_sqe *sqe = NULL;
    unsigned int n = 0;
    size_t off = done;

    while (n < s->depth && off < len) {
        int idx = free_slot(s);
        uint32_t l = (uint32_t)MIN(s->chunk, len - off);
        const void *src = buf + off;
        Slot *sl;

        if (idx < 0) {
            int ret;

            if (n) {
                break;
            }
            ret = reap(s, true);
            if (ret < 0) {
                return ret;
            }
            continue;
        }
        sqe = io_uring_get_sqe(&s->ring);
        if (!sqe) {
            break;      /* cannot happen: depth <= SQ entries */
        }
        if (s->fixed) {
            uint8_t *stage = s->staging + (size_t)idx * s->chunk;

            memcpy(stage, src, l);
            s->st.staged_bytes += l;
            src = stage;
        }
        if (s->zc) {
            io_uring_prep_send_zc(sqe, s->fd, src, l, SEND_FLAGS, s->zc_flags);
        } else {
            io_uring_prep_send(sqe, s->fd, src, l, SEND_FLAGS);
        }
        if (s->fixed) {
            sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
            sqe->buf_index = (uint16_t)idx;
        }
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, (uint64_t)idx);
        sl = &s->slots[idx];
        sl->pending = s->zc ? 2 : 1;
        sl->has_res = false;
        sl->res = 0;
        sl->len = l;
        chain[n++] = (unsigned int)idx;
        off += l;
    }
    if (sqe) {
        sqe->flags &= (uint8_t)~IOSQE_IO_LINK;     /* the batch ends here */
    }
    return n ? (int)n : -EBUSY;
}

/* Halve what SEND_ZC keeps in flight; false when it is one small request */
static bool shrink_zc(MigAccelSender *s)
{
    if (s->slot_limit > 1) {
        s->slot_limit /= 2;
        s->depth = MAX(MIN(s->depth, s->slot_limit), 1);
        return true;
    }
    if (s->chunk > MIGACCEL_SENDER_MIN_CHUNK) {
        s->chunk = MAX(s->chunk / 2, MIGACCEL_SENDER_MIN_CHUNK);
        return true;
    }
    return false;
}

static gboolean uring_send(MigAccelSender *s, const uint8_t *buf, size_t len,
                           GError **err)
{
    g_autofree unsigned int *chain = g_new(unsigned int, s->depth);
    unsigned int futile = 0;
    size_t done = 0;
    int ret;

    while (done < len) {
        int n = queue_batch(s, buf, len, done, chain);
        size_t progress = 0;
        int status = 0;

        if (n < 0) {
            drain(s);
            return fail(s, -n, done, len, err);
        }
        s->st.sqes += (uint64_t)n;
        s->st.batches++;
        ret = submit_and_wait(s, (unsigned int)n);
        if (ret < 0) {
            drain(s);
            return fail(s, -ret, done, len, err);
        }
        for (int i = 0; i < n; i++) {
            while (!s->slots[chain[i]].has_res) {
                ret = reap(s, true);
                if (ret < 0) {
                    drain(s);
                    return fail(s, -ret, done, len, err);
                }
            }
        }
        /* In order: full chunks, then at most one short or failed one */
        for (int i = 0; i < n && !status; i++) {
            const Slot *sl = &s->slots[chain[i]];

            if (sl->res >= 0) {
                progress += (size_t)sl->res;
                if ((uint32_t)sl->res != sl->len) {
                    status = -EAGAIN;   /* short: resubmit the rest */
                }
            } else {
                status = sl->res;
            }
        }
        /*
         * A request that fails at submission (e.g. -ENOMEM) cancels the
         * whole link, those before it included: find the real error.
         */
        for (int i = 0; i < n && status == -ECANCELED; i++) {
            const Slot *sl = &s->slots[chain[i]];

            if (sl->res < 0 && sl->res != -ECANCELED) {
                status = sl->res;
            }
        }
        done += progress;
        s->st.bytes += progress;
        if (!status) {
            futile = 0;
            continue;
        }
        switch (status) {
        case -EAGAIN:
            if (!progress && s->nonblocking) {
                wait_writable(s);
            }
            break;
        case -EINTR:
        case -ECANCELED:
            break;
        case -ENOBUFS:
            if (slots_busy(s)) {
                reap(s, true);      /* let a notification free memory */
            }
            break;
        case -ENOMEM:
            if (s->zc && !s->fixed) {
                /* RLIMIT_MEMLOCK (see fit_memlock()): less in flight */
                drain(s);
                if (shrink_zc(s)) {
                    break;
                }
                fall_back(s, "IORING_OP_SEND_ZC: %s even with one request "
                          "of %zu KiB in flight (RLIMIT_MEMLOCK too small)",
                          g_strerror(ENOMEM), s->chunk >> 10);
                s->zc = false;
                s->used = uring_transport(false, s->fixed);
                sender_log(s, s->reason->str);
                break;
            }
            drain(s);
            return fail(s, ENOMEM, done, len, err);
        case -EOPNOTSUPP:
            if (s->zc && !progress) {
                /* the probe said yes; still, degrade rather than fail */
                drain(s);
                fall_back(s, "IORING_OP_SEND_ZC failed at send time: %s",
                          g_strerror(EOPNOTSUPP));
                s->zc = false;
                s->used = uring_transport(false, s->fixed);
                sender_log(s, s->reason->str);
                break;
            }
            /* fall through */
        default:
            drain(s);
            return fail(s, -status, done, len, err);
        }
        s->st.retries++;
        futile = progress ? 0 : futile + 1;
        if (futile > MAX_FUTILE_RETRIES) {
            drain(s);
            return fail(s, EIO, done, len, err);
        }
    }
    /* The caller's memory must be free when we return */
    if (!s->fixed && s->zc) {
        ret = drain(s);
        if (ret < 0) {
            return fail(s, -ret, done, len, err);
        }
    }
    return TRUE;
}

gboolean migaccel_sender_send(MigAccelSender *s, const void *buf, size_t len,
                              GError **err)
{
    if (s->broken) {
        set_errno_error(err, s->broken, "migaccel sender (%s): stream broken "
                        "by an earlier failure",
                        migaccel_transport_name(s->used));
        return FALSE;
    }
    if (!len) {
        return TRUE;
    }
    if (s->used == MIGACCEL_TRANSPORT_SOCKET) {
        return socket_send(s, buf, len, err);
    }
    return uring_send(s, buf, len, err);
}

gboolean migaccel_sender_flush(MigAccelSender *s, GError **err)
{
    int ret;

    if (!s->ring_ok) {
        return TRUE;
    }
    ret = drain(s);
    if (ret < 0) {
        set_errno_error(err, -ret, "migaccel sender (%s): flush",
                        migaccel_transport_name(s->used));
        return FALSE;
    }
    return TRUE;
}

/*
 * drain() with a time limit: a peer that stopped reading (but did not
 * close) would hold the last zero-copy notifications for as long as TCP
 * keeps retransmitting.
 */
static bool drain_for(MigAccelSender *s, unsigned int seconds)
{
    gint64 end = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;

    while (slots_busy(s)) {
        struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
        struct io_uring_cqe *cqe;
        int ret;

        if (g_get_monotonic_time() >= end) {
            return false;
        }
        s->st.enter_calls++;
        ret = io_uring_wait_cqe_timeout(&s->ring, &cqe, &ts);
        if (ret < 0 && ret != -ETIME && ret != -EINTR) {
            return false;
        }
        reap(s, false);
    }
    return true;
}

void migaccel_sender_free(MigAccelSender *s)
{
    if (!s) {
        return;
    }
    if (s->ring_ok) {
        if (!drain_for(s, 5)) {
            sender_log(s, "migaccel: sender freed with zero-copy sends "
                       "still held by the kernel after 5 s (peer not "
                       "reading?); their buffers stay pinned until it lets "
                       "go");
        }
        if (s->staging) {
            io_uring_unregister_buffers(&s->ring);
        }
        io_uring_queue_exit(&s->ring);
    }
    if (s->staging) {
        /* munmap, not free: pages the kernel still holds are not reused */
        munmap(s->staging, s->staging_len);
    }
    if (s->reason) {
        g_string_free(s->reason, TRUE);
    }
    g_free(s->slots);
    g_free(s);
}

MigAccelTransport migaccel_sender_requested(const MigAccelSender *s)
{
    return s->requested;
}

MigAccelTransport migaccel_sender_transport(const MigAccelSender *s)
{
    return s->used;
}

const char *migaccel_sender_fallback_reason(const MigAccelSender *s)
{
    return s->reason ? s->reason->str : NULL;
}

unsigned int migaccel_sender_queue_depth(const MigAccelSender *s)
{
    return s->ring_ok ? s->depth : 0;
}

size_t migaccel_sender_chunk_size(const MigAccelSender *s)
{
    return s->ring_ok ? s->chunk : 0;
}

void migaccel_sender_get_stats(const MigAccelSender *s,
                               MigAccelSenderStats *out)
{
    *out = s->st;
}
