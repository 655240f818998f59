#include "switchover.h"

#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "stats.h"

void migaccel_switchover_init(MigAccelSwitchover *sw, const MigAccelHost *host)
{
    memset(sw, 0, sizeof(*sw));
    sw->host = host;
}

void migaccel_switchover_set_max_passes(MigAccelSwitchover *sw,
                                        uint64_t passes)
{
    sw->precopy_max_passes = passes;
}

void migaccel_switchover_set_queue_kb(MigAccelSwitchover *sw, uint64_t kb)
{
    sw->postcopy_queue_kb = kb;
}

uint64_t migaccel_switchover_postcopy_queue_bytes(MigAccelSwitchover *sw,
                                                  bool source,
                                                  uint64_t rtt_us)
{
    uint64_t bytes = sw->postcopy_queue_kb * 1024;

    /*
     * The destination's window bounds what is in flight: the option holds
     * for round trips up to 100 us (a LAN, loopback), a longer link gets
     * as much per 100 us (256 KiB keeps 2.6 GB/s flowing at any distance).
     * The source bounds only its unsent bytes, whatever the distance; its
     * round trip also swells with the very queue being bounded.
     */
    if (!source && rtt_us > MIGACCEL_QUEUE_RTT_US) {
        bytes = bytes * rtt_us / MIGACCEL_QUEUE_RTT_US;
    }
    if (bytes) {
        COUNTER_SET(sw->postcopy_queue_rtt_us, rtt_us);
        COUNTER_SET(sw->postcopy_queue_bytes, bytes);
        COUNTER_ADD(sw->postcopy_queue_bounds, 1);
    }
    return bytes;
}

void migaccel_switchover_set_precopy_downtime_max(MigAccelSwitchover *sw,
                                                  uint64_t ms)
{
    sw->precopy_downtime_max_ms = ms;
}

int migaccel_switchover_set_mode(MigAccelSwitchover *sw, const char *value,
                                 bool by_user)
{
    sw->mode_set_by_user = by_user;
    if (!strcmp(value, "precopy")) {
        sw->bitmap_wanted = false;
    } else if (!strcmp(value, "bitmap")) {
        sw->bitmap_wanted = true;
    } else {
        return -EINVAL;
    }
    return 0;
}

int migaccel_switchover_set_fault(MigAccelSwitchover *sw, const char *value)
{
    if (!strcmp(value, "none") || !strcmp(value, "uring-missing") ||
        !strcmp(value, "slow-loose-sync")) {
        /* uring-missing is the stream's (stream.c), slow-loose-sync tracking's */
        sw->fault = MIGACCEL_FAULT_NONE;
    } else if (!strcmp(value, "discard-flip")) {
        sw->fault = MIGACCEL_FAULT_DISCARD_FLIP;
    } else if (!strcmp(value, "discard-truncate")) {
        sw->fault = MIGACCEL_FAULT_DISCARD_TRUNCATE;
    } else if (!strcmp(value, "prediscard-flip")) {
        sw->fault = MIGACCEL_FAULT_PREDISCARD_FLIP;
    } else if (!strcmp(value, "recv-flip")) {
        sw->fault = MIGACCEL_FAULT_RECV_FLIP;
    } else {
        return -EINVAL;
    }
    return 0;
}

static void reset_counters(MigAccelBitmapCounters *c)
{
    COUNTER_SET(c->blocks_encoded, 0);
    COUNTER_SET(c->blocks_decoded, 0);
    COUNTER_SET(c->wire_bytes, 0);
    COUNTER_SET(c->raw_bytes, 0);
    COUNTER_SET(c->encode_ns, 0);
    COUNTER_SET(c->decode_ns, 0);
    COUNTER_SET(c->decode_errors, 0);
}

static void reset_migration(MigAccelSwitchover *sw)
{
    sw->postcopy_requested = false;
    sw->syncs = 0;
    sw->pass_sync_seen = 0;
    COUNTER_SET(sw->precopy_passes, 0);
    COUNTER_SET(sw->precopy_pass_left_bytes, 0);
    COUNTER_SET(sw->precopy_pass_left_bytes_before, 0);
    COUNTER_SET(sw->precopy_completion_offers, 0);
    COUNTER_SET(sw->precopy_completion_declined, 0);
    COUNTER_SET(sw->precopy_completion_expected_us, 0);
    COUNTER_SET(sw->postcopy_queue_bounds, 0);
    COUNTER_SET(sw->postcopy_queue_bytes, 0);
    COUNTER_SET(sw->postcopy_queue_rtt_us, 0);
    COUNTER_SET(sw->switchover_mode, MIGACCEL_SWITCHOVER_PRECOPY);
    COUNTER_SET(sw->discard_format, MIGACCEL_FORMAT_NONE);
    COUNTER_SET(sw->discard_pages, 0);
    reset_counters(&sw->prediscard);
    reset_counters(&sw->discard);
    reset_counters(&sw->recv);
}

void migaccel_switchover_event(MigAccelSwitchover *sw,
                               const MigAccelEventInfo *info)
{
    const MigAccelHost *host = sw->host;

    switch (info->event) {
    case MIGACCEL_EV_SRC_SETUP:
        if (info->edge != MIGACCEL_BEGIN) {
            return;
        }
        reset_migration(sw);
        sw->bitmap_in_force = sw->bitmap_wanted && host->migration->postcopy_ram();
        if (sw->bitmap_wanted && !sw->bitmap_in_force) {
            COUNTER_ADD(sw->switchover_fallbacks, 1);
            /* Asked for, it is a warning; the default, a note */
            host->log(sw->mode_set_by_user ? MIGACCEL_LOG_WARNING
                                           : MIGACCEL_LOG_INFO,
                      sw->mode_set_by_user
                      ? "switchover=bitmap needs the postcopy-ram capability "
                        "on both sides; this migration switches over by "
                        "precopy"
                      : "switchover=bitmap (the default) needs the "
                        "postcopy-ram capability on both sides; this "
                        "migration switches over by precopy "
                        "(switchover=precopy says so from the start)");
        }
        if (sw->bitmap_in_force && !host->migration->postcopy_preempt()) {
            host->log(MIGACCEL_LOG_INFO,
                      "switchover=bitmap without the postcopy-preempt "
                      "capability: pages the guest faults on after the switch "
                      "wait behind the pages pushed in the background; turn "
                      "postcopy-preempt on on both sides to give them a "
                      "channel of their own");
        }
        return;
    case MIGACCEL_EV_DST_SETUP:
        if (info->edge == MIGACCEL_BEGIN) {
            reset_migration(sw);
        }
        return;
    case MIGACCEL_EV_SYNC:
        if (info->edge == MIGACCEL_END) {
            sw->syncs = info->sync_count;
        }
        return;
    case MIGACCEL_EV_POSTCOPY_DISCARD:
        if (info->edge == MIGACCEL_BEGIN) {
            COUNTER_SET(sw->switchover_mode, sw->postcopy_requested
                ? MIGACCEL_SWITCHOVER_BITMAP
                : MIGACCEL_SWITCHOVER_POSTCOPY_USER);
            COUNTER_SET(sw->discard_pages, info->dirty_pages);
        } else if (!COUNTER_GET(sw->discard.blocks_encoded)) {
            uint32_t features;
            MigAccelPeer peer = host->migration->peer(&features);

            COUNTER_SET(sw->discard_format, MIGACCEL_FORMAT_STOCK);
            g_autofree char *msg = g_strdup_printf(
                "postcopy discard ranges went in QEMU's own format: %s",
                peer == MIGACCEL_PEER_MIGACCEL
                ? "the destination's accelerator has no bitmap codec"
                : peer == MIGACCEL_PEER_NONE
                ? "the destination was not asked (no return path)"
                : "the destination has no migration accelerator");
            host->log(MIGACCEL_LOG_INFO, msg);
        } else {
            COUNTER_SET(sw->discard_format, MIGACCEL_FORMAT_COMPRESSED);
        }
        return;
    default:
        return;
    }
}

static void counters_foreach(MigAccelBitmapCounters *c, const char *prefix,
                             const MigAccelStatSink *sink)
{
    static const char *const names[] = {
        "blocks_encoded", "blocks_decoded", "wire_bytes", "raw_bytes",
        "encode_ns", "decode_ns", "decode_errors",
    };
    _Atomic uint64_t *values[] = {
        &c->blocks_encoded, &c->blocks_decoded, &c->wire_bytes,
        &c->raw_bytes, &c->encode_ns, &c->decode_ns, &c->decode_errors,
    };

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *name = g_strconcat(prefix, names[i], NULL);
        stat_number(sink, name, COUNTER_GET(*values[i]));
    }
}

static const char *switchover_mode_name(uint64_t mode)
{
    static const char *const names[] = {
        [MIGACCEL_SWITCHOVER_PRECOPY] = "precopy",
        [MIGACCEL_SWITCHOVER_POSTCOPY_USER] = "postcopy",
        [MIGACCEL_SWITCHOVER_BITMAP] = "bitmap",
    };

    return mode < G_N_ELEMENTS(names) ? names[mode] : "invalid";
}

static const char *discard_format_name(uint64_t format)
{
    static const char *const names[] = {
        [MIGACCEL_FORMAT_NONE] = "none",
        [MIGACCEL_FORMAT_STOCK] = "stock",
        [MIGACCEL_FORMAT_COMPRESSED] = "compressed",
    };

    return format < G_N_ELEMENTS(names) ? names[format] : "invalid";
}

static const char *peer_name(MigAccelPeer peer)
{
    static const char *const names[] = {
        [MIGACCEL_PEER_NONE] = "none",
        [MIGACCEL_PEER_ASKED] = "asked",
        [MIGACCEL_PEER_STOCK] = "stock",
        [MIGACCEL_PEER_MIGACCEL] = "migaccel",
    };

    return (unsigned)peer < G_N_ELEMENTS(names) ? names[peer] : "invalid";
}

void migaccel_switchover_foreach(MigAccelSwitchover *sw, const MigAccelStatSink *sink)
{
    uint32_t features = 0;
    MigAccelPeer peer = sw->host->migration->peer(&features);

    stat_number(sink, "switchover_bitmap_in_force",
                atomic_load_explicit(&sw->bitmap_in_force, memory_order_relaxed));
    stat_string(sink, "switchover_mode",
                switchover_mode_name(COUNTER_GET(sw->switchover_mode)));
    stat_number(sink, "switchover_fallbacks",
                COUNTER_GET(sw->switchover_fallbacks));
    stat_number(sink, "precopy_downtime_max_ms", sw->precopy_downtime_max_ms);
    stat_number(sink, "precopy_max_passes", sw->precopy_max_passes);
    stat_number(sink, "precopy_passes", COUNTER_GET(sw->precopy_passes));
    stat_number(sink, "postcopy_queue_kb", sw->postcopy_queue_kb);
    stat_number(sink, "postcopy_queue_bounds",
                COUNTER_GET(sw->postcopy_queue_bounds));
    stat_number(sink, "postcopy_queue_bytes",
                COUNTER_GET(sw->postcopy_queue_bytes));
    stat_number(sink, "postcopy_queue_rtt_us",
                COUNTER_GET(sw->postcopy_queue_rtt_us));
    stat_number(sink, "precopy_pass_left_bytes",
                COUNTER_GET(sw->precopy_pass_left_bytes));
    stat_number(sink, "precopy_pass_left_bytes_before",
                COUNTER_GET(sw->precopy_pass_left_bytes_before));
    stat_number(sink, "precopy_completion_offers",
                COUNTER_GET(sw->precopy_completion_offers));
    stat_number(sink, "precopy_completion_declined",
                COUNTER_GET(sw->precopy_completion_declined));
    stat_number(sink, "precopy_completion_expected_us",
                COUNTER_GET(sw->precopy_completion_expected_us));
    stat_number(sink, "postcopy_preempt", sw->host->migration->postcopy_preempt());
    stat_string(sink, "peer_state", peer_name(peer));
    stat_number(sink, "peer_features", features);
    stat_string(sink, "discard_format",
                discard_format_name(COUNTER_GET(sw->discard_format)));
    stat_number(sink, "discard_pages", COUNTER_GET(sw->discard_pages));
    stat_number(sink, "faults_injected", COUNTER_GET(sw->faults_injected));
    counters_foreach(&sw->prediscard, "prediscard_", sink);
    counters_foreach(&sw->discard, "discard_", sink);
    counters_foreach(&sw->recv, "recv_bitmap_", sink);
}

uint32_t migaccel_switchover_features(MigAccelSwitchover *sw)
{
    (void)sw;
    /* Whatever the options: a destination must decode what it is sent */
    return MIGACCEL_FEAT_CODEC_V1;
}

uint64_t migaccel_switchover_bitmap_bound(MigAccelSwitchover *sw,
                                          uint64_t nbits)
{
    (void)sw;
    return migaccel_bitmap_encode_bound(nbits);
}

/* The bitmap each fault spoils */
static MigAccelBitmapUse fault_target(MigAccelFault fault)
{
    switch (fault) {
    case MIGACCEL_FAULT_PREDISCARD_FLIP:
        return MIGACCEL_BITMAP_PREDISCARD;
    case MIGACCEL_FAULT_RECV_FLIP:
        return MIGACCEL_BITMAP_RECEIVED;
    default:
        return MIGACCEL_BITMAP_DISCARD;
    }
}

/* Spoil an encoding of @len bytes as the armed fault says; new length */
static int64_t inject_fault(MigAccelSwitchover *sw, MigAccelBitmapUse use,
                            uint8_t *out, int64_t len)
{
    static const char *const flipped[] = {
        [MIGACCEL_BITMAP_DISCARD] = "x-inject-fault=discard-flip: corrupted "
                                    "the discard bitmap on purpose",
        [MIGACCEL_BITMAP_PREDISCARD] = "x-inject-fault=prediscard-flip: "
                                       "corrupted the pre-discard bitmap on "
                                       "purpose",
        [MIGACCEL_BITMAP_RECEIVED] = "x-inject-fault=recv-flip: corrupted "
                                     "the receive bitmap on purpose",
    };
    MigAccelFault fault = sw->fault;

    if (fault == MIGACCEL_FAULT_NONE || len <= MIGACCEL_BITMAP_HEADER_SIZE + 4 ||
        fault_target(fault) != use) {
        return len;
    }
    sw->fault = MIGACCEL_FAULT_NONE;    /* once: the retry must be clean */
    COUNTER_ADD(sw->faults_injected, 1);
    if (fault != MIGACCEL_FAULT_DISCARD_TRUNCATE) {
        out[MIGACCEL_BITMAP_HEADER_SIZE] ^= 0xff;
        sw->host->log(MIGACCEL_LOG_WARNING, flipped[use]);
        return len;
    }
    sw->host->log(MIGACCEL_LOG_WARNING, "x-inject-fault=discard-truncate: "
                  "dropped the last 4 bytes of the discard bitmap on purpose");
    return len - 4;
}

static MigAccelBitmapCounters *counters_for(MigAccelSwitchover *sw,
                                            MigAccelBitmapUse use)
{
    switch (use) {
    case MIGACCEL_BITMAP_DISCARD:
        return &sw->discard;
    case MIGACCEL_BITMAP_RECEIVED:
        return &sw->recv;
    case MIGACCEL_BITMAP_PREDISCARD:
        return &sw->prediscard;
    default:
        return NULL;
    }
}

int64_t migaccel_switchover_bitmap_encode(MigAccelSwitchover *sw,
                                          MigAccelBitmapUse use,
                                          const uint64_t *bits, uint64_t nbits,
                                          const uint64_t *summary,
                                          uint32_t summary_shift,
                                          uint8_t *out, uint64_t out_len,
                                          char **errmsg)
{
    MigAccelBitmapCounters *c = counters_for(sw, use);
    uint64_t t0 = migaccel_now_ns();
    ssize_t len;

    if (!c) {
        *errmsg = strdup("no such bitmap use");
        return -EINVAL;
    }
    /*
     * QEMU's 2 MiB summary lets the encoder skip clean chunks without
     * reading them: the cost follows the dirty set, not the RAM size.
     */
    len = summary ? migaccel_bitmap_encode_summary(bits, nbits, summary,
                                                   summary_shift, out, out_len)
                  : migaccel_bitmap_encode(bits, nbits, out, out_len);
    COUNTER_ADD(c->encode_ns, migaccel_now_ns() - t0);
    if (len < 0) {
        g_autofree char *msg = g_strdup_printf(
            "the encoder refused a bitmap of %" PRIu64 " bits into %" PRIu64
            " bytes: %s", nbits, out_len, g_strerror((int)-len));
        /* QEMU frees it with free() */
        *errmsg = strdup(msg);
        return len;
    }
    len = inject_fault(sw, use, out, len);
    COUNTER_ADD(c->blocks_encoded, 1);
    COUNTER_ADD(c->wire_bytes, (uint64_t)len);
    COUNTER_ADD(c->raw_bytes, (nbits + 7) / 8);
    return len;
}

static char *decode_error(int64_t ret)
{
    switch (ret) {
    case -EBADMSG:
        return strdup("checksum mismatch (the bitmap was damaged on the way)");
    case -EINVAL:
        return strdup("malformed or truncated encoding (its header, "
                      "lengths or records do not add up)");
    default:
        return strdup(strerror((int)-ret));
    }
}

int64_t migaccel_switchover_bitmap_decode(MigAccelSwitchover *sw,
                                          MigAccelBitmapUse use,
                                          const uint8_t *in, uint64_t len,
                                          uint64_t *bits, uint64_t nbits,
                                          char **errmsg)
{
    MigAccelBitmapCounters *c = counters_for(sw, use);
    uint64_t t0 = migaccel_now_ns();
    ssize_t ret;

    if (!c || len > SIZE_MAX) {
        *errmsg = strdup("unsupported bitmap use or length");
        return -EINVAL;
    }
    ret = migaccel_bitmap_decode(in, (size_t)len, bits, nbits);
    COUNTER_ADD(c->decode_ns, migaccel_now_ns() - t0);
    if (ret < 0) {
        COUNTER_ADD(c->decode_errors, 1);
        *errmsg = decode_error(ret);
        return ret;
    }
    COUNTER_ADD(c->blocks_decoded, 1);
    COUNTER_ADD(c->wire_bytes, len);
    COUNTER_ADD(c->raw_bytes, (nbits + 7) / 8);
    if (use == MIGACCEL_BITMAP_DISCARD) {
        COUNTER_ADD(sw->discard_pages, (uint64_t)ret);
        COUNTER_SET(sw->discard_format, MIGACCEL_FORMAT_COMPRESSED);
    }
    return ret;
}

bool migaccel_switchover_want_postcopy(MigAccelSwitchover *sw,
                                       uint64_t pending_bytes)
{
    uint64_t passes, before;

    /*
     * The vMotion flow: precopy passes while each leaves at most half of
     * what it had to send (at most precopy-max-passes), then stop, send
     * what is still dirty as a bitmap and let the destination pull it.  A
     * guest that dirties faster than the link pays one pass at most, and
     * a calmer one leaves little or nothing for postcopy.  QEMU still
     * completes by precopy when what is left fits its downtime limit and
     * precopy-downtime-max-ms.
     */
    if (!sw->bitmap_in_force || sw->postcopy_requested ||
        sw->syncs == sw->pass_sync_seen) {
        return false;       /* not in force, done, or in the middle of a pass */
    }
    /* The first call after a sync: what is pending is what the pass left */
    sw->pass_sync_seen = sw->syncs;
    before = COUNTER_GET(sw->precopy_pass_left_bytes);
    COUNTER_SET(sw->precopy_pass_left_bytes_before, before);
    COUNTER_SET(sw->precopy_pass_left_bytes, pending_bytes);
    if (sw->syncs < 2) {
        return false;       /* the first pass starts: what it has to send */
    }
    passes = sw->syncs - 1;
    COUNTER_SET(sw->precopy_passes, passes);
    if (passes < sw->precopy_max_passes && before &&
        pending_bytes <= before / 2) {
        return false;
    }
    sw->postcopy_requested = true;
    return true;
}

/* QEMU's own estimate: what is left over the bandwidth it measured */
static uint64_t expected_downtime_us(uint64_t pending_bytes,
                                     uint64_t bytes_per_ms)
{
    if (!pending_bytes) {
        return 0;
    }
    if (!bytes_per_ms) {
        return UINT64_MAX;
    }
    if (pending_bytes > UINT64_MAX / 1000) {
        return pending_bytes / bytes_per_ms * 1000;
    }
    return pending_bytes * 1000 / bytes_per_ms;
}

bool migaccel_switchover_precopy_may_complete(MigAccelSwitchover *sw,
                                              uint64_t pending_bytes,
                                              uint64_t bytes_per_ms)
{
    uint64_t expected_us = expected_downtime_us(pending_bytes, bytes_per_ms);
    uint64_t max_us = sw->precopy_downtime_max_ms * 1000;
    bool first_offer = !COUNTER_GET(sw->precopy_completion_offers);

    COUNTER_ADD(sw->precopy_completion_offers, 1);
    COUNTER_SET(sw->precopy_completion_expected_us, expected_us);
    /*
     * QEMU offers the completion right after a pass's sync, before it asks
     * want_postcopy(): a completion ends the passes as a switch would.
     */
    if (sw->syncs >= 2 && !sw->postcopy_requested) {
        COUNTER_SET(sw->precopy_passes, sw->syncs - 1);
    }
    /* Declining is safe only while want_postcopy() will switch over */
    if (!sw->bitmap_in_force || expected_us <= max_us) {
        return true;
    }
    COUNTER_ADD(sw->precopy_completion_declined, 1);
    if (first_offer) {
        g_autofree char *expected = expected_us == UINT64_MAX
            ? g_strdup("an unknown downtime (no bandwidth measured yet)")
            : g_strdup_printf("about %" PRIu64 " ms of downtime",
                              (expected_us + 999) / 1000);
        g_autofree char *msg = g_strdup_printf(
            "precopy could complete now with %s, more than "
            "precopy-downtime-max-ms=%" PRIu64 ": switching over with the "
            "bitmap instead", expected, sw->precopy_downtime_max_ms);
        sw->host->log(MIGACCEL_LOG_INFO, msg);
    }
    return false;
}
