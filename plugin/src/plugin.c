/*
 * migaccel plugin entry point: the only exported symbols live here.
 *
 * It applies the trace-install policy (tracking.c) from the sync events,
 * wp-granularity (wp.c), the bitmap switchover and codec (switchover.c) and
 * the io_uring stream (stream.c), and measures: every hook call
 * is counted, every phase timed, every vCPU's tracking stalls summed,
 * readable with
 *   qom-get path=/objects/<id> property=stats
 */
#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "migaccel.h"
#include "options.h"
#include "populated.h"
#include "stats.h"
#include "stream.h"
#include "switchover.h"
#include "tracking.h"
#include "uring_probe.h"
#include "wp.h"

MIGACCEL_EXPORT const uint32_t migaccel_plugin_version = MIGACCEL_API_VERSION;

typedef struct MigAccelState {
    const MigAccelHost *host;
    MigAccelOptions options;
    MigAccelStats stats;
    MigAccelTracking tracking;
    MigAccelWp wp;
    MigAccelSwitchover switchover;
    MigAccelStream stream;
    MigAccelUringProbe uring;
    MigAccelPopulated populated;
} MigAccelState;

static void plugin_uninstall(void *opaque)
{
    MigAccelState *s = opaque;

    migaccel_stream_destroy(&s->stream);
    g_free(s);
}

/* Hands option @opt's value in force to the part that implements it */
static void apply_option(MigAccelState *s, int opt)
{
    const char *value = migaccel_option_get(&s->options, opt);
    bool by_user = migaccel_option_set_by_user(&s->options, opt);

    switch (opt) {
    case MIGACCEL_OPT_TRACE_INSTALL:
        migaccel_tracking_set_loose(&s->tracking, !strcmp(value, "loose"));
        break;
    case MIGACCEL_OPT_WP_GRANULARITY:
        migaccel_wp_set_granularity(&s->wp, value);
        break;
    case MIGACCEL_OPT_SWITCHOVER:
        migaccel_switchover_set_mode(&s->switchover, value, by_user);
        break;
    case MIGACCEL_OPT_TRANSPORT:
        migaccel_stream_set_transport(&s->stream, value, by_user);
        break;
    case MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS:
        migaccel_switchover_set_precopy_downtime_max(
            &s->switchover, (uint64_t)migaccel_option_number(&s->options, opt));
        break;
    case MIGACCEL_OPT_FIRST_PASS:
        migaccel_populated_set_mode(&s->populated, value);
        break;
    case MIGACCEL_OPT_PRECOPY_MAX_PASSES:
        migaccel_switchover_set_max_passes(
            &s->switchover, (uint64_t)migaccel_option_number(&s->options, opt));
        break;
    case MIGACCEL_OPT_POSTCOPY_QUEUE_KB:
        migaccel_switchover_set_queue_kb(
            &s->switchover, (uint64_t)migaccel_option_number(&s->options, opt));
        break;
    case MIGACCEL_OPT_INJECT_FAULT:
        migaccel_switchover_set_fault(&s->switchover, value);
        s->stream.pretend_missing = strcmp(value, "uring-missing") ? 0
                                    : MIGACCEL_SENDER_PRETEND_NO_RING;
        migaccel_tracking_set_slow_loose_sync(
            &s->tracking, !strcmp(value, "slow-loose-sync"));
        migaccel_populated_set_no_scan(&s->populated,
                                       !strcmp(value, "no-pagemap-scan"));
        break;
    }
}

static int plugin_set_option(void *opaque, const char *name,
                             const char *value, char **errmsg)
{
    MigAccelState *s = opaque;
    int ret = migaccel_option_set(&s->options, name, value, errmsg);

    if (ret == 0) {
        apply_option(s, migaccel_option_lookup(name));
    }
    return ret;
}

static char *plugin_get_option(void *opaque, const char *name)
{
    MigAccelState *s = opaque;
    int opt = migaccel_option_lookup(name);

    return opt < 0 ? NULL : strdup(migaccel_option_get(&s->options, opt));
}

static void plugin_event(void *opaque, const MigAccelEventInfo *info)
{
    MigAccelState *s = opaque;

    /* Counters describe the latest migration on this side */
    if (info->edge == MIGACCEL_BEGIN) {
        if (info->event == MIGACCEL_EV_SRC_SETUP) {
            migaccel_stats_reset_phases(&s->stats);
            atomic_fetch_add_explicit(&s->stats.migrations_started, 1,
                                      memory_order_relaxed);
        } else if (info->event == MIGACCEL_EV_DST_SETUP) {
            migaccel_stats_reset_phases(&s->stats);
            atomic_fetch_add_explicit(&s->stats.incoming_started, 1,
                                      memory_order_relaxed);
        }
    }
    migaccel_stats_event(&s->stats, info, migaccel_now_ns());
    migaccel_tracking_event(&s->tracking, info);
    migaccel_wp_event(&s->wp, info);
    migaccel_switchover_event(&s->switchover, info);
    migaccel_stream_event(&s->stream, info);
    migaccel_populated_event(&s->populated, info);
}

static void plugin_stats(void *opaque, const MigAccelStatSink *sink)
{
    MigAccelState *s = opaque;

    stat_number(sink, "api_version", MIGACCEL_API_VERSION);
    stat_number(sink, "io_uring_available", s->uring.available);
    stat_number(sink, "io_uring_send_zc", s->uring.has_send_zc);
    migaccel_stats_foreach(&s->stats, sink);
    migaccel_tracking_foreach(&s->tracking, sink);
    migaccel_wp_foreach(&s->wp, sink);
    migaccel_switchover_foreach(&s->switchover, sink);
    migaccel_stream_foreach(&s->stream, sink);
    migaccel_populated_foreach(&s->populated, sink);
}

static bool plugin_stream_open(void *opaque, int fd, const char *why_not)
{
    MigAccelState *s = opaque;

    return migaccel_stream_open(&s->stream, fd, why_not);
}

static int plugin_stream_writev(void *opaque, const MigAccelIov *iov,
                                uint32_t n, char **errmsg)
{
    MigAccelState *s = opaque;

    return migaccel_stream_writev(&s->stream, iov, n, errmsg);
}

static void plugin_stream_close(void *opaque)
{
    MigAccelState *s = opaque;

    migaccel_stream_close(&s->stream);
}

static uint32_t plugin_codec_features(void *opaque)
{
    MigAccelState *s = opaque;

    /*
     * As a destination this plugin always has QEMU zero what its memory
     * held before a source that leaves unpopulated pages out
     */
    return migaccel_switchover_features(&s->switchover) |
           MIGACCEL_FEAT_ZERO_UNSENT_V1;
}

static uint64_t plugin_codec_bound(void *opaque, uint64_t nbits)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_bitmap_bound(&s->switchover, nbits);
}

static int64_t plugin_codec_encode(void *opaque, MigAccelBitmapUse use,
                                   const uint64_t *bits, uint64_t nbits,
                                   const uint64_t *summary,
                                   uint32_t summary_shift, uint8_t *out,
                                   uint64_t out_len, char **errmsg)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_bitmap_encode(&s->switchover, use, bits, nbits,
                                             summary, summary_shift, out,
                                             out_len, errmsg);
}

static int64_t plugin_codec_decode(void *opaque, MigAccelBitmapUse use,
                                   const uint8_t *in, uint64_t len,
                                   uint64_t *bits, uint64_t nbits,
                                   char **errmsg)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_bitmap_decode(&s->switchover, use, in, len,
                                             bits, nbits, errmsg);
}

static bool plugin_want_postcopy(void *opaque, uint64_t pending_bytes)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_want_postcopy(&s->switchover, pending_bytes);
}

static bool plugin_precopy_may_complete(void *opaque, uint64_t pending_bytes,
                                        uint64_t bytes_per_ms)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_precopy_may_complete(&s->switchover,
                                                    pending_bytes,
                                                    bytes_per_ms);
}

static uint64_t plugin_postcopy_queue_bytes(void *opaque, bool source,
                                            uint64_t rtt_us)
{
    MigAccelState *s = opaque;

    return migaccel_switchover_postcopy_queue_bytes(&s->switchover, source,
                                                    rtt_us);
}

static const MigAccelCodecOps plugin_codec = {
    .struct_size = sizeof(MigAccelCodecOps),
    .features = plugin_codec_features,
    .bound = plugin_codec_bound,
    .encode = plugin_codec_encode,
    .decode = plugin_codec_decode,
};

static const MigAccelSwitchoverOps plugin_switchover = {
    .struct_size = sizeof(MigAccelSwitchoverOps),
    .want_postcopy = plugin_want_postcopy,
    .precopy_may_complete = plugin_precopy_may_complete,
    .postcopy_queue_bytes = plugin_postcopy_queue_bytes,
};

static int64_t plugin_ram_populated(void *opaque, MigAccelPopulatedUse use,
                                    const MigAccelRamArea *area,
                                    uint64_t *bits, uint64_t nbits,
                                    char **errmsg)
{
    MigAccelState *s = opaque;

    return migaccel_populated(&s->populated, use, area, bits, nbits, errmsg);
}

static const MigAccelRamOps plugin_ram = {
    .struct_size = sizeof(MigAccelRamOps),
    .populated = plugin_ram_populated,
};

static const MigAccelStreamOps plugin_stream = {
    .struct_size = sizeof(MigAccelStreamOps),
    .open = plugin_stream_open,
    .writev = plugin_stream_writev,
    .close = plugin_stream_close,
};

static void host_logf(const MigAccelHost *host, MigAccelLogLevel level,
                      const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void host_logf(const MigAccelHost *host, MigAccelLogLevel level,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    host->log(level, msg);
}

/* Each facility of the host must be at least as large as this build knows */
static const char *host_too_old(const MigAccelHost *host)
{
    if (host->struct_size < sizeof(MigAccelHost)) {
        return "host";
    }
    if (host->migration->struct_size < sizeof(MigAccelMigrationServices)) {
        return "migration services";
    }
    if (host->tracking->struct_size < sizeof(MigAccelTrackingServices)) {
        return "tracking services";
    }
    if (host->summary->struct_size < sizeof(MigAccelSummaryServices)) {
        return "summary services";
    }
    return NULL;
}

MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
                                            MigAccelPlugin *plugin,
                                            char **errmsg)
{
    const char *old = host_too_old(host);

    if (old || plugin->struct_size < sizeof(MigAccelPlugin)) {
        g_autofree char *msg = g_strdup_printf(
            "migaccel " MIGACCEL_VERSION " needs API version %d; QEMU's %s "
            "table is older (QEMU speaks version %" PRIu32 ")",
            MIGACCEL_API_VERSION, old ? old : "plugin", host->api_version);
        /* QEMU frees it with free() */
        *errmsg = strdup(msg);
        return -ENOTSUP;
    }

    MigAccelState *s = g_new0(MigAccelState, 1);
    s->host = host;
    migaccel_options_init(&s->options);
    migaccel_tracking_init(&s->tracking, host);
    migaccel_wp_init(&s->wp, host);
    migaccel_switchover_init(&s->switchover, host);
    migaccel_stream_init(&s->stream, host);
    migaccel_populated_init(&s->populated);
    for (int opt = 0; opt < MIGACCEL_OPT__MAX; opt++) {
        apply_option(s, opt);
    }
    migaccel_uring_probe(&s->uring);
    if (!s->uring.available) {
        host_logf(host, MIGACCEL_LOG_INFO,
                  "io_uring unavailable here (%s); the io_uring transport "
                  "will not be offered", g_strerror(-s->uring.error));
    }

    plugin->opaque = s;
    plugin->name = "migaccel " MIGACCEL_VERSION;
    plugin->option_names = migaccel_option_names();
    plugin->uninstall = plugin_uninstall;
    plugin->set_option = plugin_set_option;
    plugin->get_option = plugin_get_option;
    plugin->event = plugin_event;
    plugin->stats = plugin_stats;
    plugin->codec = &plugin_codec;
    plugin->switchover = &plugin_switchover;
    plugin->stream = &plugin_stream;
    plugin->ram = &plugin_ram;
    return 0;
}
