#include "tracking.h"

#include <glib.h>
#include <string.h>

#include "stats.h"

void migaccel_tracking_init(MigAccelTracking *t, const MigAccelHost *host)
{
    memset(t, 0, sizeof(*t));
    t->host = host;
}

void migaccel_tracking_set_loose(MigAccelTracking *t, bool loose)
{
    t->loose = loose;
}

void migaccel_tracking_set_slow_loose_sync(MigAccelTracking *t, bool on)
{
    t->slow_loose_sync = on;
}

/* Kick up to half of the vCPUs that still owe a re-arm, round robin */
static void kick_some(MigAccelTracking *t)
{
    uint32_t n = t->host->tracking->vcpu_count();
    uint32_t budget = (n + 1) / 2;
    uint32_t start = t->kick_from;

    for (uint32_t step = 0; step < n && budget; step++) {
        uint32_t index = (start + step) % n;

        if (t->host->tracking->vcpu_owes_rearm(index)) {
            t->host->tracking->vcpu_kick_rearm(index);
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
    switch (t->host->tracking->dirty_tracking()) {
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
        t->refusal_logged = false;
        host->tracking->vcpu_stats_reset();
        warn_if_degraded(t);
        return;
    }
    if (info->event == MIGACCEL_EV_SYNC && info->edge == MIGACCEL_BEGIN) {
        t->sync_is_loose = false;
        if (t->loose && host->migration->vm_running()) {
            t->sync_is_loose = host->tracking->loose_sync_begin();
            if (t->sync_is_loose && t->slow_loose_sync) {
                g_usleep(MIGACCEL_SLOW_LOOSE_SYNC_US);
            }
            if (!t->sync_is_loose && !t->refusal_logged) {
                /* Once per migration: every later sync is refused alike */
                t->refusal_logged = true;
                host->log(MIGACCEL_LOG_WARNING,
                          "trace-install=loose: this QEMU cannot sync without "
                          "holding the vCPUs; syncs run the stock way");
            }
        } else if (t->loose) {
            /* Stop-and-copy: writes hidden in still-writable TLB entries
             * must be in the bitmap before this last sync reads it. */
            atomic_fetch_add_explicit(&t->stopped_settle_pages,
                                      host->tracking->settle_stopped_vcpus(),
                                      memory_order_relaxed);
        }
        atomic_fetch_add_explicit(t->sync_is_loose ? &t->loose_syncs
                                                   : &t->stock_syncs,
                                  1, memory_order_relaxed);
        return;
    }
    if (info->event == MIGACCEL_EV_SYNC && info->edge == MIGACCEL_END) {
        if (t->sync_is_loose) {
            host->tracking->loose_sync_end();
            t->sync_is_loose = false;
            if (host->tracking->dirty_tracking() == MIGACCEL_TRACK_TCG) {
                kick_some(t);
            }
        }
        return;
    }
    if (info->event == MIGACCEL_EV_SRC_ITERATE && info->edge == MIGACCEL_BEGIN &&
        t->loose && host->tracking->dirty_tracking() == MIGACCEL_TRACK_TCG) {
        kick_some(t);
    }
}

static const char *tracking_name(MigAccelDirtyTracking tracking)
{
    static const char *const names[] = {
        [MIGACCEL_TRACK_NONE] = "none",
        [MIGACCEL_TRACK_TCG] = "tcg",
        [MIGACCEL_TRACK_KVM_BITMAP] = "kvm-bitmap",
        [MIGACCEL_TRACK_KVM_BITMAP_MANUAL] = "kvm-bitmap-manual",
        [MIGACCEL_TRACK_KVM_BITMAP_INITIALLY_SET] = "kvm-bitmap-initially-set",
        [MIGACCEL_TRACK_KVM_RING] = "kvm-ring",
    };

    return (unsigned)tracking < G_N_ELEMENTS(names) ? names[tracking] : "invalid";
}

void migaccel_tracking_foreach(MigAccelTracking *t, const MigAccelStatSink *sink)
{
    const MigAccelHost *host = t->host;
    uint64_t held_total = 0, held_max = 0, held_count = 0, marked = 0;
    uint32_t n = host->tracking->vcpu_count();

    stat_number(sink, "trace_install_loose", t->loose);
    stat_string(sink, "dirty_tracking",
                tracking_name(host->tracking->dirty_tracking()));
    stat_number(sink, "trace_loose_syncs", atomic_load_explicit(&t->loose_syncs, memory_order_relaxed));
    stat_number(sink, "trace_stock_syncs", atomic_load_explicit(&t->stock_syncs, memory_order_relaxed));
    stat_number(sink, "trace_kicks", atomic_load_explicit(&t->kicks, memory_order_relaxed));
    stat_number(sink, "trace_stopped_settle_pages",
       atomic_load_explicit(&t->stopped_settle_pages, memory_order_relaxed));
    for (uint32_t i = 0; i < n; i++) {
        MigAccelVcpuStats v = { .struct_size = sizeof(v) };
        char name[48];

        if (!host->tracking->vcpu_stats(i, &v)) {
            continue;
        }
        held_count += v.held_count;
        held_total += v.held_ns_total;
        held_max = v.held_ns_max > held_max ? v.held_ns_max : held_max;
        marked += v.marked_pages;
        g_snprintf(name, sizeof(name), "vcpu%u_held_count", i);
        stat_number(sink, name, v.held_count);
        g_snprintf(name, sizeof(name), "vcpu%u_held_ns_total", i);
        stat_number(sink, name, v.held_ns_total);
        g_snprintf(name, sizeof(name), "vcpu%u_held_ns_max", i);
        stat_number(sink, name, v.held_ns_max);
        g_snprintf(name, sizeof(name), "vcpu%u_marked_pages", i);
        stat_number(sink, name, v.marked_pages);
    }
    stat_number(sink, "vcpu_held_count", held_count);
    stat_number(sink, "vcpu_held_ns_total", held_total);
    stat_number(sink, "vcpu_held_ns_max", held_max);
    stat_number(sink, "vcpu_marked_pages", marked);
}
