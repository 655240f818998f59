/*
 * The accelerator's sender: pushes bytes (the compressed dirty bitmap,
 * the pages sent at switchover) down a connected stream socket, through
 * io_uring where this kernel allows it, through plain send() otherwise.
 *
 * One object with new / send / flush / free, in the spirit of liburing.
 * migaccel_sender_send() blocks until every byte has been accepted by the
 * kernel and every request it queued has completed, so the caller may
 * reuse or free its buffer as soon as it returns (zero-copy included: it
 * also waits for the zero-copy notifications of requests that point into
 * the caller's memory).
 *
 * Fallback, never silent: a transport that cannot be had here (no
 * io_uring: old kernel, io_uring_disabled sysctl, seccomp; an opcode the
 * kernel lacks; registered buffers refused, e.g. by RLIMIT_MEMLOCK;
 * zero-copy on a socket family without it, e.g. AF_UNIX) is replaced by
 * the next one down the chain
 *
 *     io_uring-send-zc-fixed -> io_uring-send-zc -> io_uring-send -> socket
 *     io_uring-send-fixed    -> io_uring-send    -> socket
 *
 * (a missing zero-copy drops "zc", missing registered buffers drop
 * "fixed", a missing ring or IORING_OP_SEND drops to the socket), the
 * reason is kept (migaccel_sender_fallback_reason()) and logged once
 * through the configured log function (g_message() by default). Only a
 * file descriptor that cannot carry the stream at all (closed, not a
 * socket, not SOCK_STREAM, not connected) is an error.
 *
 * Ordering: a stream socket must receive the chunks in order. io_uring
 * gives no order between independent requests on one socket (a request
 * that waits for socket space can be overtaken by a later one), so the
 * chunks of one batch are linked (IOSQE_IO_LINK: each starts when the
 * previous completed) and carry MSG_WAITALL (the kernel itself retries
 * short sends on stream sockets); a batch is submitted only after the
 * previous one has completed. See uring_send.c for the measurements behind
 * the defaults.
 *
 * Concurrency: a sender is used by one thread at a time (the migration
 * thread); it holds no lock. Different senders are independent.
 */
#ifndef MIGACCEL_URING_SEND_H
#define MIGACCEL_URING_SEND_H

#include <glib.h>
#include <stdint.h>

typedef enum MigAccelTransport {
    /* plain send() on the socket: what QEMU's channel does */
    MIGACCEL_TRANSPORT_SOCKET,
    /* "io_uring": the recommended io_uring variant for this kernel and
     * socket (see MIGACCEL_TRANSPORT_URING_DEFAULT), else the socket */
    MIGACCEL_TRANSPORT_URING,
    /* IORING_OP_SEND straight from the caller's memory */
    MIGACCEL_TRANSPORT_URING_SEND,
    /* IORING_OP_SEND from registered staging buffers (the caller's bytes
     * are copied into them); needs IORING_RECVSEND_FIXED_BUF on SEND */
    MIGACCEL_TRANSPORT_URING_SEND_FIXED,
    /* IORING_OP_SEND_ZC straight from the caller's memory */
    MIGACCEL_TRANSPORT_URING_SEND_ZC,
    /* IORING_OP_SEND_ZC from registered staging buffers */
    MIGACCEL_TRANSPORT_URING_SEND_ZC_FIXED,
    MIGACCEL_TRANSPORT__COUNT
} MigAccelTransport;

/* What MIGACCEL_TRANSPORT_URING resolves to before any fallback */
#define MIGACCEL_TRANSPORT_URING_DEFAULT MIGACCEL_TRANSPORT_URING_SEND

/* Test hooks: pretend part of io_uring is missing (config.pretend_missing) */
enum {
    MIGACCEL_SENDER_PRETEND_NO_RING    = 1u << 0, /* queue_init gives -EPERM */
    MIGACCEL_SENDER_PRETEND_NO_SEND    = 1u << 1, /* probe lacks OP_SEND */
    MIGACCEL_SENDER_PRETEND_NO_SEND_ZC = 1u << 2, /* probe lacks OP_SEND_ZC */
    MIGACCEL_SENDER_PRETEND_NO_FIXED   = 1u << 3, /* registration -ENOMEM */
};

/* Limits of the configuration */
#define MIGACCEL_SENDER_MAX_DEPTH  256
#define MIGACCEL_SENDER_MIN_CHUNK  4096
#define MIGACCEL_SENDER_MAX_CHUNK  (64u << 20)

typedef void (*MigAccelSenderLogFn)(void *opaque, const char *msg);

/*
 * All fields may be left 0 for the defaults (see uring_send.c):
 * queue_depth 16 requests per linked batch, chunk_size 1 MiB from the
 * caller's memory; with staging buffers ("fixed" modes) 8 buffers of
 * 512 KiB (4 MiB pinned, under the 8 MiB RLIMIT_MEMLOCK default). Zero
 * copy from the caller's memory without CAP_IPC_LOCK keeps what it has in
 * flight within half of RLIMIT_MEMLOCK, shrinking chunk and depth.
 */
typedef struct MigAccelSenderConfig {
    MigAccelTransport transport;
    unsigned int queue_depth;   /* requests per batch, <= MAX_DEPTH */
    size_t chunk_size;          /* bytes per request (= staging buffer) */
    unsigned int pretend_missing;   /* MIGACCEL_SENDER_PRETEND_*: tests */
    MigAccelSenderLogFn log;    /* fallback messages; NULL: g_message() */
    void *log_opaque;
} MigAccelSenderConfig;

/* Counters since migaccel_sender_new() */
typedef struct MigAccelSenderStats {
    uint64_t bytes;         /* bytes sent (completed) */
    uint64_t send_calls;    /* send() syscalls (socket transport) */
    uint64_t poll_calls;    /* poll() waits for POLLOUT (EAGAIN) */
    uint64_t enter_calls;   /* io_uring_enter syscalls made by the sender */
    uint64_t sqes;          /* send requests submitted */
    uint64_t cqes;          /* completions reaped (notifications included) */
    uint64_t batches;       /* linked batches submitted */
    uint64_t zc_notifs;     /* zero-copy notifications (IORING_CQE_F_NOTIF) */
    uint64_t zc_copied;     /* of which the kernel reports it copied anyway */
    uint64_t retries;       /* batches resubmitted after a short send,
                             * -EINTR, -EAGAIN, -ENOBUFS or -ECANCELED */
    uint64_t staged_bytes;  /* bytes copied into staging buffers */
} MigAccelSenderStats;

typedef struct MigAccelSender MigAccelSender;

/* Errors: this domain, the code is the errno value (EPIPE, EBADF, ...) */
#define MIGACCEL_SENDER_ERROR (migaccel_sender_error_quark())
GQuark migaccel_sender_error_quark(void);

/* "socket", "io_uring", "io_uring-send", "io_uring-send-fixed", ... */
const char *migaccel_transport_name(MigAccelTransport t);
/* The reverse of migaccel_transport_name(); FALSE if unknown */
gboolean migaccel_transport_parse(const char *name, MigAccelTransport *out);

/*
 * A sender on fd, a connected SOCK_STREAM socket, blocking or not (the
 * sender polls on EAGAIN). fd stays the caller's: it is not closed by
 * migaccel_sender_free(). Returns NULL with err set (MIGACCEL_SENDER_ERROR) only if
 * fd cannot be used at all; an unavailable transport falls back (above).
 */
MigAccelSender *migaccel_sender_new(int fd, MigAccelTransport want,
                                    GError **err);
MigAccelSender *migaccel_sender_new_full(int fd,
                                         const MigAccelSenderConfig *cfg,
                                         GError **err);

/*
 * Send buf[0 .. len) in order; len 0 is a no-op. Blocks until all of it
 * is sent and the kernel holds no reference to buf. On failure (peer gone:
 * EPIPE / ECONNRESET, ...) returns FALSE with err set; an unknown prefix
 * of buf may have been sent, so the stream is unusable afterwards: every
 * later send fails the same way.
 */
gboolean migaccel_sender_send(MigAccelSender *s, const void *buf, size_t len,
                              GError **err);

/*
 * Wait until the kernel has released every staging buffer (the zero-copy
 * notifications of the last requests); the bytes themselves were already
 * sent by migaccel_sender_send(). A no-op for the other transports.
 */
gboolean migaccel_sender_flush(MigAccelSender *s, GError **err);

/*
 * Flushes (waiting at most 5 s for the kernel to release zero-copy
 * buffers, logged if it does not), unregisters and frees; NULL is a no-op.
 */
void migaccel_sender_free(MigAccelSender *s);

/* What was asked, what is used, and why they differ (NULL if they do not) */
MigAccelTransport migaccel_sender_requested(const MigAccelSender *s);
MigAccelTransport migaccel_sender_transport(const MigAccelSender *s);
const char *migaccel_sender_fallback_reason(const MigAccelSender *s);
/* Requests per batch and bytes per request in force */
unsigned int migaccel_sender_queue_depth(const MigAccelSender *s);
size_t migaccel_sender_chunk_size(const MigAccelSender *s);
void migaccel_sender_get_stats(const MigAccelSender *s,
                               MigAccelSenderStats *out);

#endif
