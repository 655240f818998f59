#include "report.h"

#include <string.h>

#include "qmp.h"
#include "util.h"

static void attempt_free(MigAttempt *a)
{
    g_free(a->label);
    g_free(a->status);
    g_free(a->error_desc);
    g_free(a->action);
    if (a->final) {
        json_object_unref(a->final);
    }
    if (a->last_active) {
        json_object_unref(a->last_active);
    }
    g_array_unref(a->samples);
    g_free(a);
}

Report *report_new(const Config *cfg)
{
    Report *r = g_new0(Report, 1);

    r->cfg = cfg;
    r->attempts = g_ptr_array_new_with_free_func((GDestroyNotify)attempt_free);
    r->timings = g_array_new(FALSE, FALSE, sizeof(ReportTiming));
    r->failures = g_ptr_array_new_with_free_func(g_free);
    r->timeline = timeline_new();
    r->src_rss_bytes = -1;
    r->dst_rss_bytes = -1;
    guestlog_stats_init(&r->src_during);
    guestlog_stats_init(&r->dst_after);
    guestlog_stats_init(&r->src_baseline);
    return r;
}

void report_free(Report *r)
{
    if (!r) {
        return;
    }
    g_free(r->qemu_version);
    g_free(r->run_dir);
    g_ptr_array_unref(r->attempts);
    g_free(r->src_survived_detail);
    g_clear_pointer(&r->accel_src, json_node_unref);
    g_clear_pointer(&r->accel_dst, json_node_unref);
    g_free(r->accel_src_error);
    g_free(r->accel_dst_error);
    guestlog_stats_clear(&r->src_during);
    guestlog_stats_clear(&r->dst_after);
    guestlog_stats_clear(&r->src_baseline);
    threadcpu_window_clear(&r->vcpu_baseline);
    threadcpu_window_clear(&r->vcpu_migration);
    schedwindow_clear(&r->cpu_after_run);
    g_free(r->guest_detail);
    netresult_clear(&r->net);
    timeline_free(r->timeline);
    mem_compare_clear(&r->cmp);
    g_free(r->verify_error);
    g_array_unref(r->timings);
    g_ptr_array_unref(r->failures);
    g_free(r->fatal);
    g_free(r);
}

MigAttempt *report_add_attempt(Report *r, const char *label)
{
    MigAttempt *a = g_new0(MigAttempt, 1);

    a->label = g_strdup(label);
    a->action_at_s = -1;
    a->postcopy_at_s = -1;
    a->expected_downtime_ms = -1;
    a->samples = g_array_new(FALSE, TRUE, sizeof(MigSample));
    g_ptr_array_add(r->attempts, a);
    return a;
}

void report_add_sample(MigAttempt *a, JsonObject *qm, double t_s)
{
    MigSample s = {
        .t_s = t_s,
        .transferred = qmp_get_int(qm, "ram.transferred", -1),
        .remaining = qmp_get_int(qm, "ram.remaining", -1),
        .dirty_syncs = qmp_get_int(qm, "ram.dirty-sync-count", -1),
        .dirty_rate = qmp_get_int(qm, "ram.dirty-pages-rate", -1),
    };

    g_strlcpy(s.status, qmp_get_string(qm, "status", "?"), sizeof(s.status));
    g_array_append_val(a->samples, s);
}

/* Compact: one array per poll, the columns named once */
MigAttempt *report_final_attempt(Report *r)
{
    return r->attempts->len ? g_ptr_array_index(r->attempts, r->attempts->len - 1) : NULL;
}

void report_add_timing(Report *r, const char *phase, double seconds)
{
    ReportTiming t = { phase, seconds };

    g_array_append_val(r->timings, t);
}

void report_fail(Report *r, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    drv_log("FAIL: %s", msg);
    g_ptr_array_add(r->failures, msg);
}

gboolean report_ok(Report *r)
{
    MigAttempt *a = report_final_attempt(r);

    if (r->fatal || r->failures->len || !a) {
        return FALSE;
    }
    if (g_strcmp0(a->status, "completed") == 0) {
        return TRUE;
    }
    /* cancel/kill-dst with --no-retry: surviving the failure is the test. */
    return r->cfg->scenario != SCENARIO_NORMAL && r->cfg->no_retry &&
           r->src_survived == CHECK_OK;
}

char *report_verify_line(Report *r)
{
    GString *s;

    switch (r->verify) {
    case CHECK_SKIPPED:
        return g_strdup("verify: not run");
    case CHECK_OK:
        return g_strdup_printf("verify: identical (%" G_GUINT64_FORMAT " pages)", r->cmp.pages);
    default:
        break;
    }
    if (r->verify_error) {
        return g_strdup_printf("verify: ERROR %s", r->verify_error);
    }
    if (r->cmp.layout_error) {
        return g_strdup_printf("verify: MISMATCH RAM layout differs: %s", r->cmp.layout_error);
    }
    s = g_string_new(NULL);
    g_string_printf(s, "verify: MISMATCH %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                    " pages differ", r->cmp.differing, r->cmp.pages);
    if (r->cmp.n_first) {
        g_string_append(s, "; first at");
        for (guint i = 0; i < r->cmp.n_first; i++) {
            g_string_append_printf(s, " 0x%" G_GINT64_MODIFIER "x", r->cmp.first_diffs[i]);
        }
    }
    return g_string_free(s, FALSE);
}
