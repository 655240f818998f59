/*
 * Counters and per-phase timing of the accelerator.
 *
 * Concurrency: events arrive on the migration thread (source) or the main
 * thread (destination), while QMP reads the counters on the main thread.
 * Each counter is a relaxed atomic, so a reader sees every counter
 * untorn, though not a snapshot consistent across counters.
 */
#ifndef MIGACCEL_STATS_H
#define MIGACCEL_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include "migaccel.h"

typedef struct MigAccelPhaseStats {
    _Atomic uint64_t calls;
    _Atomic uint64_t ns_total;
    _Atomic uint64_t ns_max;
    /* BEGIN timestamp; one thread at a time runs a given phase */
    _Atomic uint64_t begin_ns;
    /*
     * The last BEGIN and END on the host's CLOCK_REALTIME, in µs: the
     * clock of QMP's event timestamps, so a driver can put the phases on
     * one timeline with both QEMUs' events
     */
    _Atomic uint64_t last_begin_real_us;
    _Atomic uint64_t last_end_real_us;
} MigAccelPhaseStats;

typedef struct MigAccelStats {
    MigAccelPhaseStats phase[MIGACCEL_EV__MAX];
    _Atomic uint64_t hook_calls;
    _Atomic uint64_t migrations_started;
    _Atomic uint64_t incoming_started;
    _Atomic uint64_t sync_dirty_pages;
    _Atomic uint64_t failed_phases;
} MigAccelStats;

/* Monotonic clock in nanoseconds */
uint64_t migaccel_now_ns(void);
/* CLOCK_REALTIME in microseconds (QMP's event clock) */
uint64_t migaccel_real_us(void);

/*
 * Relaxed atomic counters: each is read untorn by stats_foreach() on the
 * main thread while the migration thread updates it; no ordering needed.
 */
#define COUNTER_ADD(counter, v) \
    atomic_fetch_add_explicit(&(counter), (v), memory_order_relaxed)
#define COUNTER_SET(counter, v) \
    atomic_store_explicit(&(counter), (v), memory_order_relaxed)
#define COUNTER_GET(counter) \
    atomic_load_explicit(&(counter), memory_order_relaxed)

/* One counter, or one named state (enums go as names), to QEMU's sink */
static inline void stat_number(const MigAccelStatSink *sink, const char *name,
                               uint64_t value)
{
    sink->number(sink->opaque, name, value);
}

static inline void stat_string(const MigAccelStatSink *sink, const char *name,
                               const char *value)
{
    sink->string(sink->opaque, name, value);
}

/* Short stable name of @event, used in counter names ("sync", ...) */
const char *migaccel_event_name(MigAccelEvent event);

void migaccel_stats_reset_phases(MigAccelStats *stats);

/* Account one event edge at time @now_ns */
void migaccel_stats_event(MigAccelStats *stats, const MigAccelEventInfo *info,
                          uint64_t now_ns);

/* Report every counter, in a stable order */
void migaccel_stats_foreach(MigAccelStats *stats, const MigAccelStatSink *sink);

#endif
