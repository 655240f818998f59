#include "tracking.h"

#include <glib.h>
#include <string.h>

void migaccel_tracking_init(MigAccelTracking *t, const MigAccelHost *host)
{
    memset(t, 0, sizeof(*t));
    t->host = host;
}

void migaccel_tracking_set_loose(MigAccelTracking *t, bool loose)
{
    t->loose = loose;
}

/* Kick up to half of the vCPUs that still owe a re-arm, round robin */
static void kick_some(MigAccelTracking *t)
{
    uint32_t n = t->host->vcpu_count();
    uint32_t budget = (n + 1) / 2;
    uint32_t start = t->kick_from;

    for (uint32_t step = 0; step < n && budget; step++) {
        uint32_t index = (start + step) % n;

        if (t->host->vcpu_owes_rearm(index)) {
            t->host->vcpu_kick_rearm(index);
            atomic_fetch_add_explicit(&t->kicks, 1, memory_order_relaxed);
            budget--;
            t->kick_from = (index + 1) % n;
        }
    }
}

/* Say so when the accelerator cannot do what trace-install=loose asks */
static void warn_if_degraded(MigAccelTracking *t)
{
    const char *why = NULL;

    if (!t->loose) {
        return;
    }
    switch (t->host->dirty_tracking()) {
    case MIGACCEL_TRACK_KVM_BITMAP:
        why = "this KVM has no manual dirty-log protect: starting dirty "
              "tracking and every sync write-protect all guest memory";
        break;
    case MIGACCEL_TRACK_KVM_BITMAP_MANUAL:
        why = "this KVM has no KVM_DIRTY_LOG_INITIALLY_SET: starting dirty "
              "tracking write-protects all guest memory at once";
        break;
    case MIGACCEL_TRACK_NONE:
        why = "this accelerator has no loose mode";
        break;
    default:
        break;
    }
    if (why) {
        g_autofree char *msg = g_strdup_printf("trace-install=loose: %s", why);
        t->host->log(MIGACCEL_LOG_WARNING, msg);
    }
}

void migaccel_tracking_event(MigAccelTracking *t, const MigAccelEventInfo *info)
{
    const MigAccelHost *host = t->host;

    if (info->event == MIGACCEL_EV_SRC_SETUP && info->edge == MIGACCEL_BEGIN) {
        atomic_store_explicit(&t->loose_syncs, 0, memory_order_relaxed);
        atomic_store_explicit(&t->stock_syncs, 0, memory_order_relaxed);
        atomic_store_explicit(&t->kicks, 0, memory_order_relaxed);
        atomic_store_explicit(&t->stopped_settle_pages, 0, memory_order_relaxed);
        host->vcpu_stats_reset();
        warn_if_degraded(t);
        return;
    }
    if (info->event == MIGACCEL_EV_SYNC && info->edge == MIGACCEL_BEGIN) {
        t->sync_is_loose = false;
        if (t->loose && host->vm_running()) {
            t->sync_is_loose = host->loose_sync_begin();
        } else if (t->loose) {
            /* Stop-and-copy: writes hidden in still-writable TLB entries
             * must be in the bitmap before this last sync reads it. */
            atomic_fetch_add_explicit(&t->stopped_settle_pages,
                                      host->settle_stopped_vcpus(),
                                      memory_order_relaxed);
        }
        atomic_fetch_add_explicit(t->sync_is_loose ? &t->loose_syncs
                                                   : &t->stock_syncs,
                                  1, memory_order_relaxed);
        return;
    }
    if (info->event == MIGACCEL_EV_SYNC && info->edge == MIGACCEL_END) {
        if (t->sync_is_loose) {
            host->loose_sync_end();
            t->sync_is_loose = false;
            if (host->dirty_tracking() == MIGACCEL_TRACK_TCG) {
                kick_some(t);
            }
        }
        return;
    }
    if (info->event == MIGACCEL_EV_SRC_ITERATE && info->edge == MIGACCEL_BEGIN &&
        t->loose && host->dirty_tracking() == MIGACCEL_TRACK_TCG) {
        kick_some(t);
    }
}

void migaccel_tracking_foreach(MigAccelTracking *t, MigAccelStatFn fn,
                               void *opaque)
{
    const MigAccelHost *host = t->host;
    uint64_t held_total = 0, held_max = 0, held_count = 0, marked = 0;
    uint32_t n = host->vcpu_count();

    fn("trace_install_loose", t->loose, opaque);
    fn("dirty_tracking", host->dirty_tracking(), opaque);
    fn("trace_loose_syncs", atomic_load_explicit(&t->loose_syncs, memory_order_relaxed), opaque);
    fn("trace_stock_syncs", atomic_load_explicit(&t->stock_syncs, memory_order_relaxed), opaque);
    fn("trace_kicks", atomic_load_explicit(&t->kicks, memory_order_relaxed), opaque);
    fn("trace_stopped_settle_pages",
       atomic_load_explicit(&t->stopped_settle_pages, memory_order_relaxed), opaque);
    for (uint32_t i = 0; i < n; i++) {
        MigAccelVcpuStats v = { .struct_size = sizeof(v) };
        char name[48];

        if (!host->vcpu_stats(i, &v)) {
            continue;
        }
        held_count += v.held_count;
        held_total += v.held_ns_total;
        held_max = v.held_ns_max > held_max ? v.held_ns_max : held_max;
        marked += v.marked_pages;
        g_snprintf(name, sizeof(name), "vcpu%u_held_count", i);
        fn(name, v.held_count, opaque);
        g_snprintf(name, sizeof(name), "vcpu%u_held_ns_total", i);
        fn(name, v.held_ns_total, opaque);
        g_snprintf(name, sizeof(name), "vcpu%u_held_ns_max", i);
        fn(name, v.held_ns_max, opaque);
        g_snprintf(name, sizeof(name), "vcpu%u_marked_pages", i);
        fn(name, v.marked_pages, opaque);
    }
    fn("vcpu_held_count", held_count, opaque);
    fn("vcpu_held_ns_total", held_total, opaque);
    fn("vcpu_held_ns_max", held_max, opaque);
    fn("vcpu_marked_pages", marked, opaque);
}
