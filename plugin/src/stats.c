#include "stats.h"

#include <stdio.h>
#include <time.h>

static const char *const event_names[MIGACCEL_EV__MAX] = {
    [MIGACCEL_EV_SRC_SETUP] = "src_setup",
    [MIGACCEL_EV_DIRTY_LOG_START] = "dirty_log_start",
    [MIGACCEL_EV_DIRTY_LOG_STOP] = "dirty_log_stop",
    [MIGACCEL_EV_SYNC] = "sync",
    [MIGACCEL_EV_SRC_ITERATE] = "src_iterate",
    [MIGACCEL_EV_SRC_SWITCHOVER] = "src_switchover",
    [MIGACCEL_EV_SRC_COMPLETE] = "src_complete",
    [MIGACCEL_EV_SRC_CLEANUP] = "src_cleanup",
    [MIGACCEL_EV_POSTCOPY_DISCARD] = "postcopy_discard",
    [MIGACCEL_EV_POSTCOPY_RECV_BITMAP_SEND] = "postcopy_recv_bitmap_send",
    [MIGACCEL_EV_POSTCOPY_RECV_BITMAP_LOAD] = "postcopy_recv_bitmap_load",
    [MIGACCEL_EV_DST_SETUP] = "dst_setup",
    [MIGACCEL_EV_DST_COMPLETE] = "dst_complete",
};

uint64_t migaccel_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t migaccel_real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const char *migaccel_event_name(MigAccelEvent event)
{
    if ((unsigned)event >= MIGACCEL_EV__MAX || !event_names[event]) {
        return "unknown";
    }
    return event_names[event];
}

void migaccel_stats_reset_phases(MigAccelStats *stats)
{
    for (int i = 0; i < MIGACCEL_EV__MAX; i++) {
        MigAccelPhaseStats *p = &stats->phase[i];
        atomic_store_explicit(&p->calls, 0, memory_order_relaxed);
        atomic_store_explicit(&p->ns_total, 0, memory_order_relaxed);
        atomic_store_explicit(&p->ns_max, 0, memory_order_relaxed);
        atomic_store_explicit(&p->last_begin_real_us, 0, memory_order_relaxed);
        atomic_store_explicit(&p->last_end_real_us, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&stats->sync_dirty_pages, 0, memory_order_relaxed);
    atomic_store_explicit(&stats->failed_phases, 0, memory_order_relaxed);
}

static void add_relaxed(_Atomic uint64_t *counter, uint64_t value)
{
    atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
}

void migaccel_stats_event(MigAccelStats *stats, const MigAccelEventInfo *info,
                          uint64_t now_ns)
{
    MigAccelPhaseStats *p;

    add_relaxed(&stats->hook_calls, 1);
    if ((unsigned)info->event >= MIGACCEL_EV__MAX) {
        return; /* an event newer than this plugin: counted, not timed */
    }
    p = &stats->phase[info->event];
    if (info->edge == MIGACCEL_BEGIN) {
        atomic_store_explicit(&p->begin_ns, now_ns, memory_order_relaxed);
        atomic_store_explicit(&p->last_begin_real_us, migaccel_real_us(),
                              memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&p->last_end_real_us, migaccel_real_us(), memory_order_relaxed);

    uint64_t begin = atomic_load_explicit(&p->begin_ns, memory_order_relaxed);
    uint64_t elapsed = begin && now_ns > begin ? now_ns - begin : 0;
    atomic_store_explicit(&p->begin_ns, 0, memory_order_relaxed);
    add_relaxed(&p->calls, 1);
    add_relaxed(&p->ns_total, elapsed);
    if (elapsed > atomic_load_explicit(&p->ns_max, memory_order_relaxed)) {
        atomic_store_explicit(&p->ns_max, elapsed, memory_order_relaxed);
    }
    if (info->status < 0) {
        add_relaxed(&stats->failed_phases, 1);
    }
    if (info->event == MIGACCEL_EV_SYNC) {
        add_relaxed(&stats->sync_dirty_pages, info->dirty_pages);
    }
}

static uint64_t load_relaxed(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

void migaccel_stats_foreach(MigAccelStats *stats, const MigAccelStatSink *sink)
{
    char name[96];

    stat_number(sink, "hook_calls", load_relaxed(&stats->hook_calls));
    stat_number(sink, "migrations_started", load_relaxed(&stats->migrations_started));
    stat_number(sink, "incoming_started", load_relaxed(&stats->incoming_started));
    stat_number(sink, "sync_dirty_pages", load_relaxed(&stats->sync_dirty_pages));
    stat_number(sink, "failed_phases", load_relaxed(&stats->failed_phases));
    for (int i = 0; i < MIGACCEL_EV__MAX; i++) {
        MigAccelPhaseStats *p = &stats->phase[i];
        const char *ev = migaccel_event_name((MigAccelEvent)i);

        snprintf(name, sizeof(name), "%s_calls", ev);
        stat_number(sink, name, load_relaxed(&p->calls));
        snprintf(name, sizeof(name), "%s_ns_total", ev);
        stat_number(sink, name, load_relaxed(&p->ns_total));
        snprintf(name, sizeof(name), "%s_ns_max", ev);
        stat_number(sink, name, load_relaxed(&p->ns_max));
        snprintf(name, sizeof(name), "%s_last_begin_real_us", ev);
        stat_number(sink, name, load_relaxed(&p->last_begin_real_us));
        snprintf(name, sizeof(name), "%s_last_end_real_us", ev);
        stat_number(sink, name, load_relaxed(&p->last_end_real_us));
    }
}
