#include "report.h"

#include <string.h>

#include "qmp.h"
#include "util.h"

#define MIB (1024.0 * 1024.0)

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

/* ---- text table ----------------------------------------------------------- */

static void row(FILE *out, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void row(FILE *out, const char *name, const char *fmt, ...)
{
    va_list ap;

    fprintf(out, "  %-26s ", name);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

static void row_int(FILE *out, const char *name, JsonObject *qm, const char *key,
                    const char *unit)
{
    if (qmp_lookup(qm, key)) {
        row(out, name, "%" G_GINT64_FORMAT "%s", qmp_get_int(qm, key, 0), unit);
    } else {
        row(out, name, "-");
    }
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

static void print_attempt(FILE *out, MigAttempt *a)
{
    JsonObject *qm = attempt_stats(a);
    gint64 xfer = qmp_get_int(qm, "ram.transferred", -1);

    fprintf(out, "%s:\n", a->label);
    row(out, "status", "%s%s%s", a->status ? a->status : "?",
        a->error_desc ? " - " : "", a->error_desc ? a->error_desc : "");
    if (a->action) {
        row(out, "scenario action", "%s at %.2f s", a->action, a->action_at_s);
    }
    if (a->postcopy_at_s >= 0) {
        row(out, "postcopy", "switched to postcopy at %.2f s", a->postcopy_at_s);
    }
    if (a->last_active && a->final) {
        row(out, "statistics below", "as of the last poll before '%s'", a->status);
    } else if (!a->final) {
        row(out, "statistics below", "as of the last poll (the driver gave up waiting)");
    }
    row_int(out, "total time", qm, "total-time", " ms");
    row_int(out, "downtime", qm, "downtime", " ms");
    row_int(out, "setup time", qm, "setup-time", " ms");
    if (xfer >= 0) {
        g_autofree char *h = drv_format_bytes(xfer);

        row(out, "transferred", "%" G_GINT64_FORMAT " bytes (%s)", xfer, h);
    } else {
        row(out, "transferred", "-");
    }
    row_int(out, "ram.duplicate pages", qm, "ram.duplicate", "");
    row_int(out, "ram.normal pages", qm, "ram.normal", "");
    row_int(out, "dirty-sync-count", qm, "ram.dirty-sync-count", "");
    if (a->expected_downtime_ms >= 0) {
        row(out, "expected downtime", "%" G_GINT64_FORMAT " ms (last seen while active)",
            a->expected_downtime_ms);
    } else {
        row(out, "expected downtime", "-");
    }
    row(out, "throughput", "%.1f MiB/s (QEMU ram.mbps %.1f)", attempt_throughput_mib_s(a),
        qmp_get_double(qm, "ram.mbps", 0));
    row(out, "driver wall time", "%.0f ms", a->wall_s * 1000);
}

static void print_stats_object(FILE *out, const char *side, JsonNode *node, const char *err)
{
    g_autoptr(GList) names = NULL;
    JsonObject *obj;
    int width = 24;

    if (!node) {
        fprintf(out, "  %s: not available: %s\n", side, err ? err : "not queried");
        return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        g_autofree char *txt = qmp_node_to_string(node, FALSE);

        fprintf(out, "  %s: (not an object) %s\n", side, txt);
        return;
    }
    obj = json_node_get_object(node);
    names = g_list_sort(json_object_get_members(obj), (GCompareFunc)g_strcmp0);
    fprintf(out, "  %s:%s\n", side, names ? "" : " (empty)");
    for (GList *l = names; l; l = l->next) {
        width = MAX(width, (int)strlen(l->data));
    }
    for (GList *l = names; l; l = l->next) {
        JsonNode *v = json_object_get_member(obj, l->data);
        g_autofree char *txt = NULL;

        /* Clock readings: the timeline shows them, the JSON keeps them */
        if (g_str_has_suffix(l->data, "_real_us")) {
            continue;
        }
        txt = qmp_node_to_string(v, FALSE);
        fprintf(out, "    %-*s %s\n", width, (const char *)l->data, txt);
    }
}

static void print_guest(FILE *out, Report *r)
{
    gboolean bb = config_is_bootblock(r->cfg);

    fprintf(out, "guest view (serial logs):\n");
    if (!r->have_src_log && !r->have_dst_log) {
        row(out, "serial logs", "not available");
        return;
    }
    if (bb) {
        row(out, "src 'B' marks in migration", "%" G_GUINT64_FORMAT, r->src_during.b_chars);
        row(out, "dst 'B' marks after switch", "%" G_GUINT64_FORMAT, r->dst_after.b_chars);
    } else {
        if (r->src_during.have_gap) {
            row(out, "src max gap in migration", "%" G_GUINT64_FORMAT " us (%u sec lines)",
                r->src_during.max_gap_us, r->src_during.sec_lines);
        } else {
            row(out, "src max gap in migration", "- (no sec lines in the window)");
        }
        if (r->dst_after.have_gap) {
            row(out, "dst max gap after switch", "%" G_GUINT64_FORMAT " us (%u sec lines)",
                r->dst_after.max_gap_us, r->dst_after.sec_lines);
        } else {
            row(out, "dst max gap after switch", "- (no sec lines)");
        }
        row(out, "CORRUPT lines", "src %u, dst %u", r->src_corrupt_total,
            r->dst_after.corrupt_lines);
        row(out, "dst max errors=", "%" G_GUINT64_FORMAT, r->dst_after.max_errors);
        if (r->dst_after.oops_lines) {
            row(out, "dst guest crash", "%s", r->dst_after.first_oops);
        }
        for (guint i = 0; i < r->dst_after.corrupt_samples->len; i++) {
            row(out, i ? "" : "first CORRUPT lines", "%s",
                (char *)g_ptr_array_index(r->dst_after.corrupt_samples, i));
        }
    }
    row(out, "guest check", "%s%s%s",
        r->guest_check == CHECK_OK ? "passed" :
        r->guest_check == CHECK_FAILED ? "FAILED" : "not run",
        r->guest_detail ? ": " : "", r->guest_detail ? r->guest_detail : "");
}

static void print_window(FILE *out, const char *name, const GuestLogStats *gaps,
                         gboolean have_gaps, const ThreadCpuWindow *cpu)
{
    g_autofree char *gap = NULL;

    if (!have_gaps) {
        gap = g_strdup("no serial log");
    } else if (gaps->have_gap) {
        gap = g_strdup_printf("max gap %" G_GUINT64_FORMAT " us (%u sec lines)",
                              gaps->max_gap_us, gaps->gap_samples->len);
    } else {
        gap = g_strdup("max gap - (no sec lines)");
    }
    if (!cpu->valid) {
        row(out, name, "%s", gap);
        return;
    }
    row(out, name, "%.2f s wall; %s", cpu->wall_ms / 1000, gap);
    if (cpu->threads->len == 0) {
        row(out, "", "no 'CPU ...' threads found in /proc");
    }
    for (guint i = 0; i < cpu->threads->len; i++) {
        const ThreadCpuUse *t = &g_array_index(cpu->threads, ThreadCpuUse, i);
        g_autofree char *label = g_strdup_printf("  %s", t->name);

        row(out, label, "%.0f ms CPU (%.1f%% of wall)", t->cpu_ms,
            cpu->wall_ms > 0 ? 100.0 * t->cpu_ms / cpu->wall_ms : 0.0);
    }
}

/* Baseline (not migrating) vs migration: guest write gaps, vCPU CPU. */
static void print_windows(FILE *out, Report *r)
{
    if (!r->have_baseline && !r->vcpu_baseline.valid && !r->vcpu_migration.valid) {
        return;
    }
    fprintf(out, "source: guest write gaps and vCPU thread host CPU:\n");
    if (r->cfg->baseline_seconds > 0) {
        print_window(out, "baseline (not migrating)", &r->src_baseline, r->have_baseline,
                     &r->vcpu_baseline);
    }
    print_window(out, "migration", &r->src_during, r->have_src_log, &r->vcpu_migration);
}

static void print_net(FILE *out, Report *r)
{
    const NetResult *n = &r->net;
    const Config *cfg = r->cfg;
    MigAttempt *final = report_final_attempt(r);
    JsonObject *qm = final ? attempt_stats(final) : NULL;

    fprintf(out, "network (client in netns %s, every %d ms, to %s):\n", cfg->net_client_netns,
            cfg->net_interval_ms, cfg->net_guest_addr);
    if (qm && qmp_lookup(qm, "downtime") && n->switchover_gap_ms >= 0) {
        row(out, "downtime: QEMU / users", "%" G_GINT64_FORMAT " ms / %.0f ms (ping gap at "
            "switchover)", qmp_get_int(qm, "downtime", 0), n->switchover_gap_ms);
    }
    row(out, "pings", "%" G_GUINT64_FORMAT " sent, %" G_GUINT64_FORMAT " lost (%.1f %%)",
        n->pings_sent, n->pings_lost,
        n->pings_sent ? 100.0 * n->pings_lost / n->pings_sent : 0.0);
    row(out, "longest ping gap", "%.0f ms, from %.2f s after migrate", n->longest_gap_ms,
        n->gap_start_s);
    row(out, "tcp echo connection", "%s; %" G_GUINT64_FORMAT " echoes, longest gap %.0f ms%s%s",
        n->tcp_survived ? "survived" : "LOST", n->tcp_echoes, n->tcp_longest_gap_ms,
        n->tcp_error ? ": " : "", n->tcp_error ? n->tcp_error : "");
    row(out, "bridge: guest MAC before", "on the %s", netport_name(n->port_before));
    if (n->moved_to_dst) {
        row(out, "bridge: guest MAC moved", "to the destination tap %+.0f ms from when the "
            "driver saw completion", n->moved_after_complete_ms);
    } else {
        row(out, "bridge: guest MAC moved", "never (on the %s at the end)",
            netport_name(n->port_at_end));
    }
    if (n->have_tap_window) {
        row(out, "tap packets, 1-2 s after", "source %" G_GUINT64_FORMAT ", destination %"
            G_GUINT64_FORMAT, n->src_tap_packets, n->dst_tap_packets);
    }
}

void report_print(Report *r, FILE *out)
{
    const Config *cfg = r->cfg;
    MigAttempt *final = report_final_attempt(r);

    fprintf(out, "\n==================== migaccel-migrate report ====================\n");
    row(out, "scenario", "%s", scenario_name(cfg->scenario));
    if (cfg->external) {
        row(out, "QEMUs", "already running (%s -> %s)", cfg->src_qmp, cfg->dst_qmp);
    } else {
        row(out, "qemu", "%s", cfg->qemu);
        if (cfg->dst_qemu) {
            row(out, "destination qemu", "%s", cfg->dst_qemu);
        }
        row(out, "guest", "%s, %s RAM, %d vCPU, %s", cfg->bootblock ? cfg->bootblock : cfg->kernel,
            cfg->mem, cfg->smp, cfg->accel);
    }
    row(out, "qemu version", "%s", r->qemu_version ? r->qemu_version : "?");
    if (cfg->plugin) {
        row(out, "plugin", "%s", cfg->plugin);
    }
    row(out, "max-bandwidth", "%" G_GUINT64_FORMAT " B/s", cfg->max_bandwidth);
    row(out, "downtime-limit", "%" G_GINT64_FORMAT " ms", cfg->downtime_limit);
    if (cfg->converge_after > 0) {
        row(out, "converge after", "%.1f s (then %" G_GINT64_FORMAT " ms)", cfg->converge_after,
            cfg->converge_downtime_limit);
    }

    for (guint i = 0; i < r->attempts->len; i++) {
        print_attempt(out, g_ptr_array_index(r->attempts, i));
    }
    if (cfg->scenario != SCENARIO_NORMAL) {
        fprintf(out, "scenario checks:\n");
        row(out, "source kept running", "%s%s%s",
            r->src_survived == CHECK_OK ? "yes" :
            r->src_survived == CHECK_FAILED ? "NO" : "not checked",
            r->src_survived_detail ? ": " : "",
            r->src_survived_detail ? r->src_survived_detail : "");
    }
    if (cfg->plugin && final) {
        fprintf(out, "accelerator stats (qom-get /objects/ma0 stats):\n");
        if (!r->accel_queried) {
            fprintf(out, "  not queried (no completed migration)\n");
        } else {
            print_stats_object(out, "src", r->accel_src, r->accel_src_error);
            print_stats_object(out, "dst", r->accel_dst, r->accel_dst_error);
        }
    }
    if (final) {
        print_guest(out, r);
        print_windows(out, r);
    }
    if (r->have_net) {
        print_net(out, r);
    }
    timeline_print(r->timeline, out);
    faults_print(&r->faults, out);
    if (r->syncs.traced) {
        fprintf(out, "syncs (source trace): %u, %.1f ms in all, median %.2f ms, max %.2f ms\n",
                r->syncs.syncs, r->syncs.total_ms, r->syncs.median_ms, r->syncs.max_ms);
    }
    if (r->verify != CHECK_SKIPPED || cfg->verify) {
        g_autofree char *line = report_verify_line(r);

        fprintf(out, "memory:\n  %s\n", line);
        if (r->verify_bytes) {
            g_autofree char *size = drv_format_bytes(r->verify_bytes);

            row(out, "verify time", "%.2f s for %s per side", r->verify_s, size);
        }
    }
    fprintf(out, "timings:\n");
    for (guint i = 0; i < r->timings->len; i++) {
        ReportTiming *t = &g_array_index(r->timings, ReportTiming, i);

        row(out, t->phase, "%.2f s", t->seconds);
    }
    if (report_ok(r)) {
        fprintf(out, "result: PASS\n");
    } else {
        fprintf(out, "result: FAIL\n");
        if (r->fatal) {
            fprintf(out, "  error: %s\n", r->fatal);
        }
        for (guint i = 0; i < r->failures->len; i++) {
            fprintf(out, "  - %s\n", (char *)g_ptr_array_index(r->failures, i));
        }
        if (!r->fatal && !r->failures->len && final) {
            fprintf(out, "  - migration status %s\n", final->status ? final->status : "?");
        }
    }
    if (r->run_dir) {
        fprintf(out, "run dir: %s\n", r->run_dir);
    }
    fflush(out);
}

/* ---- JSON ------------------------------------------------------------------ */

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
    json_builder_set_member_name(b, "warmup_s");
    json_builder_add_double_value(b, cfg->warmup);
    json_builder_set_member_name(b, "post_run_s");
    json_builder_add_double_value(b, cfg->post_run);
    json_builder_end_object(b);
}

static void add_accel(JsonBuilder *b, Report *r)
{
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

static JsonNode *report_to_json(Report *r)
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

gboolean report_write_json(Report *r, const char *path, GError **error)
{
    g_autoptr(JsonNode) root = report_to_json(r);
    g_autofree char *text = qmp_node_to_string(root, TRUE);
    g_autofree char *with_nl = g_strconcat(text, "\n", NULL);

    return g_file_set_contents(path, with_nl, -1, error);
}
