#include "stream.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

void migaccel_stream_init(MigAccelStream *st, const MigAccelHost *host)
{
    memset(st, 0, sizeof(*st));
    st->host = host;
}

void migaccel_stream_destroy(MigAccelStream *st)
{
    migaccel_stream_close(st);
    g_free(st->staging);
    st->staging = NULL;
}

int migaccel_stream_set_transport(MigAccelStream *st, const char *value,
                                  bool by_user)
{
    st->transport_set_by_user = by_user;
    if (!strcmp(value, "socket")) {
        st->uring_wanted = false;
    } else if (!strcmp(value, "io_uring")) {
        st->uring_wanted = true;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void log_fallback(void *opaque, const char *msg)
{
    MigAccelStream *st = opaque;
    g_autofree char *line = g_strdup_printf(
        "transport=io_uring%s: %s", st->transport_set_by_user ? "" : " (the default)",
        msg);

    /* Asked for, a fallback is a warning; from the default, a note */
    st->host->log(st->transport_set_by_user ? MIGACCEL_LOG_WARNING
                                            : MIGACCEL_LOG_INFO, line);
}

bool migaccel_stream_open(MigAccelStream *st, int fd, const char *why_not)
{
    g_autoptr(GError) err = NULL;
    MigAccelSenderConfig cfg = {
        .transport = MIGACCEL_TRANSPORT_URING,
        .pretend_missing = st->pretend_missing,
        .log = log_fallback,
        .log_opaque = st,
    };

    migaccel_stream_close(st);
    if (!st->uring_wanted) {
        return false;
    }
    if (fd < 0) {
        g_autofree char *msg = g_strdup_printf(
            "the migration channel is a %s, not a plain socket; QEMU sends "
            "the stream itself", why_not ? why_not : "channel");
        log_fallback(st, msg);
        COUNTER_ADD(st->fallbacks, 1);
        return false;
    }
    st->sender = migaccel_sender_new_full(fd, &cfg, &err);
    if (!st->sender) {
        g_autofree char *msg = g_strdup_printf(
            "cannot send on the migration socket (%s); QEMU sends the "
            "stream itself", err->message);
        log_fallback(st, msg);
        COUNTER_ADD(st->fallbacks, 1);
        return false;
    }
    if (migaccel_sender_transport(st->sender) == MIGACCEL_TRANSPORT_SOCKET) {
        /* The sender said why; QEMU's own writes do the same job */
        migaccel_sender_free(st->sender);
        st->sender = NULL;
        COUNTER_ADD(st->fallbacks, 1);
        return false;
    }
    COUNTER_SET(st->transport_in_force, migaccel_sender_transport(st->sender) + 1);
    COUNTER_ADD(st->opens, 1);
    return true;
}

int migaccel_stream_writev(MigAccelStream *st, const MigAccelIov *iov,
                           uint32_t n, char **errmsg)
{
    g_autoptr(GError) err = NULL;
    size_t total = 0, off = 0;

    if (!st->sender) {
        *errmsg = strdup("no stream is open");
        return -EBADF;
    }
    for (uint32_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    /*
     * One send per flush: QEMU's pieces (page headers of a few bytes,
     * pages of 4 KiB) are too small to be a request each.
     */
    if (total > st->staging_size) {
        st->staging = g_realloc(st->staging, total);
        st->staging_size = total;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(st->staging + off, iov[i].base, iov[i].len);
        off += iov[i].len;
    }
    if (!migaccel_sender_send(st->sender, st->staging, total, &err)) {
        COUNTER_ADD(st->write_errors, 1);
        *errmsg = strdup(err->message);
        return err->domain == MIGACCEL_SENDER_ERROR && err->code > 0
               ? -err->code : -EIO;
    }
    COUNTER_ADD(st->bytes, total);
    COUNTER_ADD(st->writes, 1);
    return 0;
}

void migaccel_stream_close(MigAccelStream *st)
{
    MigAccelSenderStats stats;

    if (!st->sender) {
        return;
    }
    migaccel_sender_get_stats(st->sender, &stats);
    COUNTER_ADD(st->syscalls, stats.enter_calls + stats.send_calls + stats.poll_calls);
    migaccel_sender_free(st->sender);
    st->sender = NULL;
}

void migaccel_stream_event(MigAccelStream *st, const MigAccelEventInfo *info)
{
    if (info->event == MIGACCEL_EV_SRC_SETUP && info->edge == MIGACCEL_BEGIN) {
        COUNTER_SET(st->opens, 0);
        COUNTER_SET(st->fallbacks, 0);
        COUNTER_SET(st->transport_in_force, 0);
        COUNTER_SET(st->bytes, 0);
        COUNTER_SET(st->writes, 0);
        COUNTER_SET(st->syscalls, 0);
        COUNTER_SET(st->write_errors, 0);
    }
}

void migaccel_stream_foreach(MigAccelStream *st, const MigAccelStatSink *sink)
{
    uint64_t in_force = COUNTER_GET(st->transport_in_force);

    stat_number(sink, "transport_io_uring_wanted", st->uring_wanted);
    /* 0: QEMU writes the socket itself */
    stat_string(sink, "transport_in_force",
                in_force ? migaccel_transport_name(in_force - 1) : "socket");
    stat_number(sink, "transport_fallbacks", COUNTER_GET(st->fallbacks));
    stat_number(sink, "stream_opens", COUNTER_GET(st->opens));
    stat_number(sink, "stream_bytes", COUNTER_GET(st->bytes));
    stat_number(sink, "stream_writes", COUNTER_GET(st->writes));
    stat_number(sink, "stream_syscalls", COUNTER_GET(st->syscalls));
    stat_number(sink, "stream_write_errors", COUNTER_GET(st->write_errors));
}
