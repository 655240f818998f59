/*
 * One migration attempt: "migrate", then query-migrate every poll until a
 * terminal status, acting on it as the scenario says and recording what
 * QEMU reported.
 */
#include <unistd.h>

#include "progress.h"
#include "driver.h"

gboolean status_is_terminal(const char *status)
{
    return g_strcmp0(status, "completed") == 0 || g_strcmp0(status, "failed") == 0 ||
           g_strcmp0(status, "cancelled") == 0;
}

static void record_final(MigAttempt *a, JsonObject *qm, double elapsed)
{
    a->final = json_object_ref(qm);
    /* cancelled/failed replies carry no RAM statistics */
    if (qmp_lookup(qm, "ram") && a->last_active) {
        g_clear_pointer(&a->last_active, json_object_unref);
    }
    a->status = g_strdup(qmp_get_string(qm, "status", "?"));
    a->error_desc = g_strdup(qmp_get_string(qm, "error-desc", NULL));
    a->wall_s = elapsed;
}

/*
 * QEMU 7.2 sets "completed" on the migration thread (migration_completion)
 * before it takes the iothread lock to fill in total-time and downtime
 * (migration_calculate_complete): a query-migrate in between answers
 * "completed" with both 0. Asks again until they are set, briefly.
 */
static JsonNode *settled_completion(Driver *d, JsonNode *ret)
{
    for (int i = 0; i < COMPLETION_SETTLE_TRIES; i++) {
        JsonObject *qm = json_node_get_object(ret);
        JsonNode *again;

        if (g_strcmp0(qmp_get_string(qm, "status", NULL), "completed") != 0 ||
            qmp_get_int(qm, "total-time", 0) > 0) {
            break;
        }
        /* On a signal keep this reply: the caller sees the flag soon. */
        if (!drv_sleep_ms(COMPLETION_SETTLE_MS, NULL)) {
            break;
        }
        again = vm_cmd(d->src, "query-migrate", NULL, NULL);
        if (!again) {
            break;
        }
        json_node_unref(ret);
        ret = again;
    }
    return ret;
}

gboolean run_migration(Driver *d, MigAttempt *a, const ScenarioSpec *spec, GError **error)
{
    const Config *cfg = d->cfg;
    g_autoptr(JsonObject) args = json_object_new();
    Progress progress;
    gboolean acted = spec->act == NULL;
    gboolean converging = cfg->converge_after <= 0;
    gboolean ok = FALSE;
    const char *uri;
    gint64 t0, real0;
    g_autoptr(ThreadCpuSnapshot) cpu0 = NULL;
    g_autoptr(ThreadCpuSnapshot) cpu1 = NULL;

    threadcpu_window_clear(&d->report->vcpu_migration);
    if (cfg->trace_cpu) {
        g_clear_pointer(&d->sched, schedtrace_free);
        d->sched = schedtrace_start(vm_owned(d->src) ? d->src->pid : 0,
                                    vm_owned(d->dst) ? d->dst->pid : 0);
    }
    d->src_mig_start = guestlog_size(d->src->serial_path);
    cpu0 = src_vcpu_snapshot(d);
    uri = cfg->src_uri ? cfg->src_uri : d->incoming_uri;
    json_object_set_string_member(args, "uri", uri);
    t0 = drv_now_us();
    real0 = g_get_real_time();
    a->started_real_us = real0;
    if (!vm_cmd_simple(d->src, "migrate", args, error)) {
        return FALSE;
    }
    drv_log("migrate: %s -> %s (%s)", d->src->name, d->dst->name, uri);
    if (spec->armed_action) {
        a->action = g_strdup(spec->armed_action);
        a->action_at_s = 0;
        d->dst_expendable = TRUE;
    }
    progress_init(&progress, isatty(STDERR_FILENO));
    for (;;) {
        g_autoptr(JsonNode) ret = vm_cmd(d->src, "query-migrate", NULL, error);
        double elapsed = (drv_now_us() - t0) / 1e6;
        JsonObject *qm;
        const char *status;

        if (!ret) {
            break;
        }
        ret = settled_completion(d, ret);
        qm = json_node_get_object(ret);
        status = qmp_get_string(qm, "status", "?");
        if (qmp_lookup(qm, "expected-downtime")) {
            a->expected_downtime_ms = qmp_get_int(qm, "expected-downtime", -1);
        }
        if (qmp_lookup(qm, "ram")) {
            g_clear_pointer(&a->last_active, json_object_unref);
            a->last_active = json_object_ref(qm);
        }
        progress_update(&progress, qm, elapsed);
        report_add_sample(a, qm, elapsed);
        if (status_is_terminal(status)) {
            gint64 switched_us;

            /* A postcopy phase shorter than a poll shows only in the events */
            collect_events(d);
            if (a->postcopy_at_s < 0 &&
                timeline_find_since(d->report->timeline, "src", "MIGRATION postcopy-active",
                                    real0, &switched_us)) {
                a->postcopy_at_s = (switched_us - real0) / 1e6;
                drv_log("%.2f s: the source switched to postcopy (from its events)",
                        a->postcopy_at_s);
            }
            record_final(a, qm, elapsed);
            if (d->net && g_str_equal(status, "completed")) {
                netprobe_mark_complete(d->net);
            }
            ok = TRUE;
            break;
        }
        if (!converging && elapsed >= cfg->converge_after) {
            g_autoptr(JsonObject) p = json_object_new();

            converging = TRUE;
            json_object_set_int_member(p, "downtime-limit", cfg->converge_downtime_limit);
            drv_log("%.1f s of precopy: downtime-limit %" G_GINT64_FORMAT " ms so it completes",
                    elapsed, cfg->converge_downtime_limit);
            if (!vm_cmd_simple(d->src, "migrate-set-parameters", p, error)) {
                break;
            }
        }
        if (a->postcopy_at_s < 0 && g_str_equal(status, "postcopy-active")) {
            /* The source switched by itself (the plugin's switchover=bitmap) */
            a->postcopy_at_s = elapsed;
            drv_log("%.2f s: the source switched to postcopy", elapsed);
        }
        if (((cfg->postcopy_after > 0 && elapsed >= cfg->postcopy_after) ||
             (cfg->postcopy_after_precopy && qmp_get_int(qm, "ram.dirty-sync-count", 0) >= 2)) &&
            a->postcopy_at_s < 0 && g_str_equal(status, "active")) {
            a->postcopy_at_s = elapsed;
            drv_log("%.2f s: migrate-start-postcopy", elapsed);
            if (!vm_cmd_simple(d->src, "migrate-start-postcopy", NULL, error)) {
                break;
            }
        }
        if (!acted && (spec->act_in_postcopy
                       ? a->postcopy_at_s >= 0 && elapsed - a->postcopy_at_s >= cfg->after &&
                         g_str_equal(status, "postcopy-active")
                       : elapsed >= cfg->after)) {
            acted = TRUE;
            if (!spec->act(d, a, t0, error)) {
                break;
            }
            if (spec->act_in_postcopy) {
                continue;
            }
        }
        if (a->action && !spec->act_in_postcopy &&
            elapsed - a->action_at_s > SCENARIO_END_TIMEOUT_S) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "migration still '%s' %.0f s after %s", status, SCENARIO_END_TIMEOUT_S,
                        a->action);
            break;
        }
        if (cfg->migrate_timeout > 0 && elapsed > cfg->migrate_timeout) {
            vm_cmd_simple(d->src, "migrate_cancel", NULL, NULL);
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "migration did not finish within %.0f s (status %s, "
                        "dirty-sync-count %" G_GINT64_FORMAT "); cancelled it. "
                        "Raise --max-bandwidth/--downtime-limit or --migrate-timeout",
                        cfg->migrate_timeout, status, qmp_get_int(qm, "ram.dirty-sync-count", 0));
            break;
        }
        collect_events(d);
        if (!drv_sleep_ms(POLL_INTERVAL_MS, error)) {
            break;
        }
    }
    progress_finish(&progress);
    d->src_mig_end = guestlog_size(d->src->serial_path);
    cpu1 = src_vcpu_snapshot(d);
    threadcpu_window_set(&d->report->vcpu_migration, cpu0, cpu1);
    if (!a->status) {
        /* Driver-level error (timeout, QMP failure, signal): keep what we saw. */
        a->status = g_strdup(a->last_active ? qmp_get_string(a->last_active, "status", "unknown")
                                            : "unknown");
        a->wall_s = (drv_now_us() - t0) / 1e6;
    }
    if (ok) {
        drv_log("migration %s after %.2f s%s%s", a->status, a->wall_s,
                a->error_desc ? ": " : "", a->error_desc ? a->error_desc : "");
    }
    return ok;
}
