/*
 * The results document: everything a run found, as one JSON object. The
 * text report (report-text.c) is rendered from it and --json writes it;
 * its keys are the interface benches and tests read.
 */
#include "report.h"

#include <string.h>

#include "qmp.h"
#include "util.h"

#define MIB (1024.0 * 1024.0)

static void add_samples(JsonBuilder *b, MigAttempt *a)
{
    static const char *const columns[] = {
        "t_s", "status", "transferred_bytes", "remaining_bytes", "dirty_sync_count",
        "dirty_pages_rate",
    };

    json_builder_set_member_name(b, "samples_columns");
    json_builder_begin_array(b);
    for (guint i = 0; i < G_N_ELEMENTS(columns); i++) {
        json_builder_add_string_value(b, columns[i]);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "samples");
    json_builder_begin_array(b);
    for (guint i = 0; i < a->samples->len; i++) {
        const MigSample *s = &g_array_index(a->samples, MigSample, i);

        json_builder_begin_array(b);
        json_builder_add_double_value(b, s->t_s);
        json_builder_add_string_value(b, s->status);
        json_builder_add_int_value(b, s->transferred);
        json_builder_add_int_value(b, s->remaining);
        json_builder_add_int_value(b, s->dirty_syncs);
        json_builder_add_int_value(b, s->dirty_rate);
        json_builder_end_array(b);
    }
    json_builder_end_array(b);
}


/* RAM statistics: the final reply, or for cancelled/failed attempts the
 * last reply that still had them. */
static JsonObject *attempt_stats(MigAttempt *a)
{
    return a->last_active ? a->last_active : a->final;
}

static double attempt_throughput_mib_s(MigAttempt *a)
{
    JsonObject *qm = attempt_stats(a);
    gint64 total_ms = qmp_get_int(qm, "total-time", 0);
    gint64 bytes = qmp_get_int(qm, "ram.transferred", 0);

    return total_ms > 0 ? bytes / MIB / (total_ms / 1000.0) : 0.0;
}

static const char *check_name(CheckState s)
{
    return s == CHECK_OK ? "ok" : s == CHECK_FAILED ? "failed" : "skipped";
}

static void add_int_or_null(JsonBuilder *b, const char *name, JsonObject *qm, const char *key)
{
    JsonNode *n = qmp_lookup(qm, key);

    json_builder_set_member_name(b, name);
    if (n && JSON_NODE_HOLDS_VALUE(n)) {
        json_builder_add_int_value(b, qmp_get_int(qm, key, 0));
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_string_or_null(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value) {
        json_builder_add_string_value(b, value);
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_json_object(JsonBuilder *b, const char *name, JsonObject *obj)
{
    json_builder_set_member_name(b, name);
    if (obj) {
        JsonNode *n = json_node_alloc();

        json_node_init_object(n, obj);
        json_builder_add_value(b, n);
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_attempt(JsonBuilder *b, MigAttempt *a)
{
    JsonObject *qm = attempt_stats(a);

    json_builder_begin_object(b);
    add_string_or_null(b, "label", a->label);
    add_string_or_null(b, "status", a->status);
    add_string_or_null(b, "error", a->error_desc);
    add_string_or_null(b, "scenario_action", a->action);
    json_builder_set_member_name(b, "postcopy_started_at_s");
    if (a->postcopy_at_s >= 0) {
        json_builder_add_double_value(b, a->postcopy_at_s);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "scenario_action_at_s");
    if (a->action) {
        json_builder_add_double_value(b, a->action_at_s);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "postcopy_recovered_at_s");
    if (a->recovered_at_s > 0) {
        json_builder_add_double_value(b, a->recovered_at_s);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "postcopy_paused_s");
    if (a->recovered_at_s > 0) {
        json_builder_add_double_value(b, a->paused_s);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "postcopy_recover_attempts");
    json_builder_add_int_value(b, a->recover_attempts);
    add_int_or_null(b, "total_time_ms", qm, "total-time");
    add_int_or_null(b, "downtime_ms", qm, "downtime");
    add_int_or_null(b, "setup_time_ms", qm, "setup-time");
    json_builder_set_member_name(b, "expected_downtime_ms");
    if (a->expected_downtime_ms >= 0) {
        json_builder_add_int_value(b, a->expected_downtime_ms);
    } else {
        json_builder_add_null_value(b);
    }
    add_int_or_null(b, "transferred_bytes", qm, "ram.transferred");
    add_int_or_null(b, "ram_total_bytes", qm, "ram.total");
    add_int_or_null(b, "duplicate_pages", qm, "ram.duplicate");
    add_int_or_null(b, "normal_pages", qm, "ram.normal");
    add_int_or_null(b, "normal_bytes", qm, "ram.normal-bytes");
    add_int_or_null(b, "dirty_sync_count", qm, "ram.dirty-sync-count");
    json_builder_set_member_name(b, "throughput_mib_s");
    json_builder_add_double_value(b, attempt_throughput_mib_s(a));
    json_builder_set_member_name(b, "qemu_mbps");
    json_builder_add_double_value(b, qmp_get_double(qm, "ram.mbps", 0));
    json_builder_set_member_name(b, "driver_wall_ms");
    json_builder_add_int_value(b, (gint64)(a->wall_s * 1000));
    json_builder_set_member_name(b, "stats_from_last_active_poll");
    json_builder_add_boolean_value(b, a->last_active != NULL);
    add_json_object(b, "query_migrate", a->final);
    add_json_object(b, "query_migrate_last_active", a->last_active);
    json_builder_set_member_name(b, "started_real_us");
    json_builder_add_int_value(b, a->started_real_us);
    add_samples(b, a);
    json_builder_end_object(b);
}

static void add_strv(JsonBuilder *b, const char *name, char **v)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; v && v[i]; i++) {
        json_builder_add_string_value(b, v[i]);
    }
    json_builder_end_array(b);
}

static void add_config(JsonBuilder *b, Report *r)
{
    const Config *cfg = r->cfg;

    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    add_string_or_null(b, "qemu", cfg->qemu);
    add_string_or_null(b, "dst_qemu", cfg->dst_qemu);
    add_string_or_null(b, "machine", cfg->machine);
    add_string_or_null(b, "qemu_version", r->qemu_version);
    add_string_or_null(b, "plugin", cfg->plugin);
    add_strv(b, "accel_props", cfg->accel_props);
    add_string_or_null(b, "guest", cfg->external ? "external" :
                       cfg->bootblock ? "bootblock" : "kernel");
    add_string_or_null(b, "kernel", cfg->kernel);
    add_string_or_null(b, "initrd", cfg->initrd);
    add_string_or_null(b, "append", cfg->append);
    add_string_or_null(b, "bootblock", cfg->bootblock);
    add_string_or_null(b, "mem", cfg->mem);
    json_builder_set_member_name(b, "smp");
    json_builder_add_int_value(b, cfg->smp);
    add_string_or_null(b, "accel", cfg->accel);
    add_strv(b, "qemu_args", cfg->qemu_args);
    add_strv(b, "src_qemu_args", cfg->src_qemu_args);
    add_strv(b, "dst_qemu_args", cfg->dst_qemu_args);
    json_builder_set_member_name(b, "max_bandwidth");
    json_builder_add_int_value(b, (gint64)cfg->max_bandwidth);
    json_builder_set_member_name(b, "downtime_limit_ms");
    json_builder_add_int_value(b, cfg->downtime_limit);
    json_builder_set_member_name(b, "converge_after_s");
    json_builder_add_double_value(b, cfg->converge_after);
    add_strv(b, "capabilities", cfg->capabilities);
    add_strv(b, "params", cfg->params);
    add_string_or_null(b, "scenario", scenario_name(cfg->scenario));
    json_builder_set_member_name(b, "after_s");
    json_builder_add_double_value(b, cfg->after);
    /* cancel/kill-dst always verify their retry */
    json_builder_set_member_name(b, "verify");
    json_builder_add_boolean_value(b, cfg->verify || cfg->scenario != SCENARIO_NORMAL);
    json_builder_set_member_name(b, "dst_runs");
    json_builder_add_boolean_value(b, config_dst_runs(cfg));
    json_builder_set_member_name(b, "warmup_s");
    json_builder_add_double_value(b, cfg->warmup);
    json_builder_set_member_name(b, "post_run_s");
    json_builder_add_double_value(b, cfg->post_run);
    json_builder_end_object(b);
}

static void add_rss(JsonBuilder *b, const char *name, gint64 bytes)
{
    json_builder_set_member_name(b, name);
    if (bytes >= 0) {
        json_builder_add_int_value(b, bytes);
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_accel(JsonBuilder *b, Report *r)
{
    /* not accelerator figures, but read at the same moment */
    json_builder_set_member_name(b, "rss_after_migration");
    json_builder_begin_object(b);
    add_rss(b, "src_bytes", r->src_rss_bytes);
    add_rss(b, "dst_bytes", r->dst_rss_bytes);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "accel_stats");
    if (!r->cfg->plugin || !r->accel_queried) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "src");
    json_builder_add_value(b, r->accel_src ? json_node_copy(r->accel_src) : json_node_new(JSON_NODE_NULL));
    json_builder_set_member_name(b, "dst");
    json_builder_add_value(b, r->accel_dst ? json_node_copy(r->accel_dst) : json_node_new(JSON_NODE_NULL));
    add_string_or_null(b, "src_error", r->accel_src_error);
    add_string_or_null(b, "dst_error", r->accel_dst_error);
    json_builder_end_object(b);
}

static void add_gap(JsonBuilder *b, const char *name, const GuestLogStats *st)
{
    json_builder_set_member_name(b, name);
    if (st->have_gap) {
        json_builder_add_int_value(b, st->max_gap_us);
    } else {
        json_builder_add_null_value(b);
    }
}

/* [[g0,g1,...], ...]: one list per sec line, one gap (us) per thread */
static void add_gap_samples(JsonBuilder *b, const char *name, const GuestLogStats *st)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; i < st->gap_samples->len; i++) {
        GArray *gaps = g_ptr_array_index(st->gap_samples, i);

        json_builder_begin_array(b);
        for (guint j = 0; j < gaps->len; j++) {
            json_builder_add_int_value(b, (gint64)g_array_index(gaps, guint64, j));
        }
        json_builder_end_array(b);
    }
    json_builder_end_array(b);
}

static void add_guest(JsonBuilder *b, Report *r)
{
    json_builder_set_member_name(b, "guest");
    json_builder_begin_object(b);
    add_gap(b, "src_max_gap_us", &r->src_during);
    add_gap(b, "dst_max_gap_us", &r->dst_after);
    json_builder_set_member_name(b, "src_sec_lines");
    json_builder_add_int_value(b, r->src_during.sec_lines);
    json_builder_set_member_name(b, "dst_sec_lines");
    json_builder_add_int_value(b, r->dst_after.sec_lines);
    json_builder_set_member_name(b, "src_corrupt");
    json_builder_add_int_value(b, r->src_corrupt_total);
    json_builder_set_member_name(b, "dst_corrupt");
    json_builder_add_int_value(b, r->dst_after.corrupt_lines);
    json_builder_set_member_name(b, "dst_max_errors");
    json_builder_add_int_value(b, r->dst_after.max_errors);
    add_string_or_null(b, "dst_crash", r->dst_after.first_oops);
    /* 'B' marks only mean something for the boot-block guest. */
    json_builder_set_member_name(b, "src_b_marks");
    if (config_is_bootblock(r->cfg)) {
        json_builder_add_int_value(b, r->src_during.b_chars);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "dst_b_marks");
    if (config_is_bootblock(r->cfg)) {
        json_builder_add_int_value(b, r->dst_after.b_chars);
    } else {
        json_builder_add_null_value(b);
    }
    add_string_or_null(b, "check", check_name(r->guest_check));
    add_string_or_null(b, "detail", r->guest_detail);
    json_builder_set_member_name(b, "corrupt_samples");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->dst_after.corrupt_samples->len; i++) {
        json_builder_add_string_value(b, g_ptr_array_index(r->dst_after.corrupt_samples, i));
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "baseline");
    if (r->cfg->baseline_seconds > 0 && r->have_baseline) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "seconds");
        json_builder_add_double_value(b, r->cfg->baseline_seconds);
        add_gap_samples(b, "gap_samples_us", &r->src_baseline);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    if (r->have_src_log) {
        add_gap_samples(b, "migration_gap_samples_us", &r->src_during);
    } else {
        json_builder_set_member_name(b, "migration_gap_samples_us");
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
}

static void add_cpu_window(JsonBuilder *b, const char *name, const ThreadCpuWindow *w)
{
    json_builder_set_member_name(b, name);
    if (!w->valid) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "wall_ms");
    json_builder_add_double_value(b, w->wall_ms);
    json_builder_set_member_name(b, "threads");
    json_builder_begin_array(b);
    for (guint i = 0; i < w->threads->len; i++) {
        const ThreadCpuUse *t = &g_array_index(w->threads, ThreadCpuUse, i);

        json_builder_begin_object(b);
        add_string_or_null(b, "name", t->name);
        json_builder_set_member_name(b, "cpu_ms");
        json_builder_add_double_value(b, t->cpu_ms);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

/* Omitted entirely when the source was attached (no pid to read). */
static void add_vcpu_threads(JsonBuilder *b, Report *r)
{
    if (!r->have_vcpu_cpu) {
        return;
    }
    json_builder_set_member_name(b, "src_vcpu_threads");
    json_builder_begin_object(b);
    add_cpu_window(b, "baseline", &r->vcpu_baseline);
    add_cpu_window(b, "migration", &r->vcpu_migration);
    json_builder_end_object(b);
}

static void add_verify(JsonBuilder *b, Report *r)
{
    const char *result = r->verify == CHECK_SKIPPED ? "skipped" :
                         r->verify == CHECK_OK ? "identical" :
                         r->verify_error ? "error" : "mismatch";

    json_builder_set_member_name(b, "verify");
    json_builder_begin_object(b);
    add_string_or_null(b, "result", result);
    json_builder_set_member_name(b, "pages");
    json_builder_add_int_value(b, r->cmp.pages);
    json_builder_set_member_name(b, "differing_pages");
    json_builder_add_int_value(b, r->cmp.differing);
    json_builder_set_member_name(b, "first_differing");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->cmp.n_first; i++) {
        g_autofree char *hex = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", r->cmp.first_diffs[i]);

        json_builder_add_string_value(b, hex);
    }
    json_builder_end_array(b);
    add_string_or_null(b, "layout_error", r->cmp.layout_error);
    add_string_or_null(b, "error", r->verify_error);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_double_value(b, r->verify_s);
    json_builder_set_member_name(b, "bytes_per_side");
    json_builder_add_int_value(b, r->verify_bytes);
    json_builder_end_object(b);
}

static void add_net(JsonBuilder *b, Report *r)
{
    const NetResult *n = &r->net;

    json_builder_set_member_name(b, "network");
    if (!r->have_net) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "interval_ms");
    json_builder_add_int_value(b, r->cfg->net_interval_ms);
    json_builder_set_member_name(b, "pings_sent");
    json_builder_add_int_value(b, n->pings_sent);
    json_builder_set_member_name(b, "pings_lost");
    json_builder_add_int_value(b, n->pings_lost);
    json_builder_set_member_name(b, "longest_gap_ms");
    json_builder_add_double_value(b, n->longest_gap_ms);
    json_builder_set_member_name(b, "switchover_gap_ms");
    if (n->switchover_gap_ms >= 0) {
        json_builder_add_double_value(b, n->switchover_gap_ms);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "gap_start_s");
    json_builder_add_double_value(b, n->gap_start_s);
    json_builder_set_member_name(b, "tcp_survived");
    json_builder_add_boolean_value(b, n->tcp_survived);
    add_string_or_null(b, "tcp_error", n->tcp_error);
    json_builder_set_member_name(b, "tcp_echoes");
    json_builder_add_int_value(b, n->tcp_echoes);
    json_builder_set_member_name(b, "tcp_longest_gap_ms");
    json_builder_add_double_value(b, n->tcp_longest_gap_ms);
    add_string_or_null(b, "first_guest_frame_kind",
                       n->first_guest_frame_kind[0] ? n->first_guest_frame_kind : NULL);
    add_string_or_null(b, "mac_port_before", netport_name(n->port_before));
    add_string_or_null(b, "mac_port_at_end", netport_name(n->port_at_end));
    json_builder_set_member_name(b, "mac_moved_after_complete_ms");
    if (n->moved_to_dst) {
        json_builder_add_double_value(b, n->moved_after_complete_ms);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "src_tap_packets_1_2s");
    if (n->have_tap_window) {
        json_builder_add_int_value(b, n->src_tap_packets);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "dst_tap_packets_1_2s");
    if (n->have_tap_window) {
        json_builder_add_int_value(b, n->dst_tap_packets);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
}

JsonNode *report_to_json(Report *r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    MigAttempt *final = report_final_attempt(r);

    json_builder_begin_object(b);
    add_string_or_null(b, "tool", "migaccel-migrate");
    add_string_or_null(b, "result", report_ok(r) ? "pass" : "fail");
    add_string_or_null(b, "error", r->fatal);
    json_builder_set_member_name(b, "failures");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->failures->len; i++) {
        json_builder_add_string_value(b, g_ptr_array_index(r->failures, i));
    }
    json_builder_end_array(b);
    add_config(b, r);
    json_builder_set_member_name(b, "migration");
    if (final) {
        add_attempt(b, final);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "attempts");
    json_builder_begin_array(b);
    for (guint i = 0; i < r->attempts->len; i++) {
        add_attempt(b, g_ptr_array_index(r->attempts, i));
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "scenario");
    json_builder_begin_object(b);
    add_string_or_null(b, "name", scenario_name(r->cfg->scenario));
    add_string_or_null(b, "source_kept_running", check_name(r->src_survived));
    add_string_or_null(b, "detail", r->src_survived_detail);
    json_builder_end_object(b);
    add_accel(b, r);
    add_guest(b, r);
    add_vcpu_threads(b, r);
    add_net(b, r);
    timeline_add_json(r->timeline, b);
    faults_add_json(&r->faults, b);
    schedwindow_add_json(&r->cpu_after_run, b);
    syncs_add_json(&r->syncs, b);
    add_verify(b, r);
    json_builder_set_member_name(b, "timings_s");
    json_builder_begin_object(b);
    for (guint i = 0; i < r->timings->len; i++) {
        ReportTiming *t = &g_array_index(r->timings, ReportTiming, i);

        json_builder_set_member_name(b, t->phase);
        json_builder_add_double_value(b, t->seconds);
    }
    json_builder_end_object(b);
    add_string_or_null(b, "run_dir", r->run_dir);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gboolean report_write_json(JsonNode *doc, const char *path, GError **error)
{
    g_autofree char *text = qmp_node_to_string(doc, TRUE);
    g_autofree char *with_nl = g_strconcat(text, "\n", NULL);

    return g_file_set_contents(path, with_nl, -1, error);
}
