/*
 * Page-trace installation policy (the trace-install option).
 *
 * stock: every sync re-arms write tracking the way QEMU does it, holding
 *   each vCPU in turn (TCG: run_on_cpu() after every sync; KVM dirty
 *   ring: a synchronous kick of every vCPU).
 * loose: while the VM runs, a sync holds no vCPU.  Under TCG each vCPU
 *   re-arms its own TLB at its next TB boundary; the plugin kicks the
 *   stragglers half at a time so they are never all busy at once.  With
 *   the KVM dirty ring the rings are reaped without a kick.  The final
 *   sync, with the VM stopped, first settles every vCPU that still owes a
 *   re-arm and then runs the stock way.
 */
#ifndef MIGACCEL_TRACKING_H
#define MIGACCEL_TRACKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "migaccel.h"

typedef struct MigAccelTracking {
    const MigAccelHost *host;
    bool loose;                 /* the option */
    bool sync_is_loose;         /* the sync in progress runs loose */
    bool refusal_logged;        /* QEMU refused loose this migration */
    bool slow_loose_sync;       /* x-inject-fault=slow-loose-sync */
    uint32_t kick_from;         /* next vCPU index the plugin may kick */
    _Atomic uint64_t loose_syncs;
    _Atomic uint64_t stock_syncs;
    _Atomic uint64_t kicks;
    _Atomic uint64_t stopped_settle_pages;
} MigAccelTracking;

void migaccel_tracking_init(MigAccelTracking *t, const MigAccelHost *host);

/* Apply the trace-install option; @loose false = stock */
void migaccel_tracking_set_loose(MigAccelTracking *t, bool loose);

/*
 * For tests: hold every loose sync open for MIGACCEL_SLOW_LOOSE_SYNC_US
 * after QEMU started it, so that what vCPUs do while one runs (translate
 * code, write pages) happens often enough to be seen
 */
#define MIGACCEL_SLOW_LOOSE_SYNC_US 20000
void migaccel_tracking_set_slow_loose_sync(MigAccelTracking *t, bool on);

/* Called for every event, on the thread that delivers it */
void migaccel_tracking_event(MigAccelTracking *t, const MigAccelEventInfo *info);

/* Report the counters and the per-vCPU figures */
void migaccel_tracking_foreach(MigAccelTracking *t, const MigAccelStatSink *sink);

#endif
