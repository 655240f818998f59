/*
 * The text report, rendered from the results document (report-json.c):
 * the verdict and the figures that matter first, then the setup, the
 * attempts, the network, the switchover timeline and the timings. The
 * accelerators' raw counters are in the JSON; --show-stats prints them.
 */
#include <string.h>

#include "report.h"
#include "qmp.h"
#include "timeline.h"
#include "util.h"

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

static gboolean has(JsonObject *o, const char *path)
{
    JsonNode *n = o ? qmp_lookup(o, path) : NULL;

    return n && !JSON_NODE_HOLDS_NULL(n);
}

static JsonObject *obj(JsonObject *o, const char *path)
{
    JsonNode *n = o ? qmp_lookup(o, path) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *arr(JsonObject *o, const char *path)
{
    JsonNode *n = o ? qmp_lookup(o, path) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static const char *str(JsonObject *o, const char *path)
{
    return has(o, path) ? qmp_get_string(o, path, NULL) : NULL;
}

static char *bytes_text(gint64 b)
{
    return b < 0 ? g_strdup("-") : drv_format_bytes((guint64)b);
}

/* "completed in 6899 ms; stun 1 ms (QEMU downtime); 2.1 GiB sent; 4 syncs" */
static char *attempt_summary(JsonObject *m)
{
    GString *s = g_string_new(str(m, "status") ? str(m, "status") : "?");
    g_autofree char *sent = bytes_text(has(m, "transferred_bytes")
                                       ? qmp_get_int(m, "transferred_bytes", -1) : -1);

    if (has(m, "total_time_ms")) {
        g_string_append_printf(s, " in %" G_GINT64_FORMAT " ms", qmp_get_int(m, "total_time_ms", 0));
    }
    if (has(m, "downtime_ms")) {
        g_string_append_printf(s, "; stun %" G_GINT64_FORMAT " ms (QEMU downtime)",
                               qmp_get_int(m, "downtime_ms", 0));
    }
    g_string_append_printf(s, "; %s sent", sent);
    if (has(m, "dirty_sync_count")) {
        g_string_append_printf(s, "; %" G_GINT64_FORMAT " syncs",
                               qmp_get_int(m, "dirty_sync_count", 0));
    }
    if (str(m, "error")) {
        g_string_append_printf(s, " - %s", str(m, "error"));
    }
    return g_string_free(s, FALSE);
}

static char *verify_text(JsonObject *v)
{
    const char *result = str(v, "result");

    if (!result || g_str_equal(result, "skipped")) {
        return g_strdup("not verified");
    }
    if (g_str_equal(result, "identical")) {
        return g_strdup_printf("identical (%" G_GINT64_FORMAT " pages)", qmp_get_int(v, "pages", 0));
    }
    if (g_str_equal(result, "mismatch")) {
        return g_strdup_printf("MISMATCH: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                               " pages differ", qmp_get_int(v, "differing_pages", 0),
                               qmp_get_int(v, "pages", 0));
    }
    return g_strdup_printf("ERROR: %s", str(v, "error") ? str(v, "error") : "?");
}

/* What the source's accelerator did, from its stats, in one line */
static void print_accel_summary(FILE *out, JsonObject *doc)
{
    JsonObject *src = obj(doc, "accel_stats.src");
    GString *s;

    if (!has(doc, "config.plugin")) {
        return;
    }
    if (!src) {
        row(out, "accelerator", "no stats: %s", str(doc, "accel_stats.src_error")
            ? str(doc, "accel_stats.src_error") : "not queried (no completed migration)");
        return;
    }
    s = g_string_new(NULL);
    g_string_append_printf(s, "%s switchover", str(src, "switchover_mode") ?
                           str(src, "switchover_mode") : "?");
    if (g_strcmp0(str(src, "switchover_mode"), "bitmap") == 0) {
        gint64 passes = qmp_get_int(src, "precopy_passes", 0);

        g_string_append_printf(s, " after %" G_GINT64_FORMAT " pass%s (%.0f MiB left dirty)",
                               passes, passes == 1 ? "" : "es",
                               qmp_get_int(src, "precopy_pass_left_bytes", 0) / 1048576.0);
    }
    g_string_append_printf(s, "; %" G_GINT64_FORMAT " loose syncs; tracking %s",
                           qmp_get_int(src, "trace_loose_syncs", 0),
                           qmp_get_int(src, "wp_granularity_in_force_bytes", 0) == 1 << 30 ? "1G" :
                           qmp_get_int(src, "wp_granularity_in_force_bytes", 0) == 2 << 20 ? "2M" :
                           "4K");
    if (str(src, "transport_in_force")) {
        g_string_append_printf(s, "; sent by %s", str(src, "transport_in_force"));
    }
    if (qmp_get_int(src, "discard_raw_bytes", 0) > 0) {
        g_string_append_printf(s, "; discard %" G_GINT64_FORMAT " B (raw %" G_GINT64_FORMAT " B)",
                               qmp_get_int(src, "discard_wire_bytes", 0),
                               qmp_get_int(src, "discard_raw_bytes", 0));
    }
    if (qmp_get_int(src, "first_pass_pages_unpopulated", 0) > 0) {
        g_string_append_printf(s, "; first pass left out %.1f GiB never populated",
                               qmp_get_int(src, "first_pass_pages_unpopulated", 0) * 4096.0 /
                               (1 << 30));
    }
    if (qmp_get_int(src, "switchover_fallbacks", 0) > 0 &&
        g_strcmp0(str(src, "switchover_mode"), "precopy") == 0) {
        g_string_append(s, " (switchover=bitmap needs postcopy-ram)");
    }
    row(out, "accelerator", "%s", s->str);
    g_string_free(s, TRUE);
}

static void print_verdict(FILE *out, JsonObject *doc)
{
    JsonObject *m = obj(doc, "migration");
    JsonArray *failures = arr(doc, "failures");
    gboolean pass = g_strcmp0(str(doc, "result"), "pass") == 0;

    fprintf(out, "result: %s\n", pass ? "PASS" : "FAIL");
    if (str(doc, "error")) {
        fprintf(out, "  error: %s\n", str(doc, "error"));
    }
    for (guint i = 0; failures && i < json_array_get_length(failures); i++) {
        fprintf(out, "  - %s\n", json_array_get_string_element(failures, i));
    }
    if (!pass && !str(doc, "error") && !(failures && json_array_get_length(failures)) && m) {
        fprintf(out, "  - migration status %s\n", str(m, "status") ? str(m, "status") : "?");
    }
    if (m) {
        g_autofree char *summary = attempt_summary(m);

        row(out, "migration", "%s", summary);
        if (has(m, "postcopy_started_at_s")) {
            row(out, "postcopy", "from %.2f s after migrate",
                qmp_get_double(m, "postcopy_started_at_s", 0));
        }
    }
    print_accel_summary(out, doc);
    if (has(doc, "verify.result") && !g_str_equal(str(doc, "verify.result"), "skipped")) {
        g_autofree char *v = verify_text(obj(doc, "verify"));

        row(out, "memory", "%s", v);
    }
    if (str(doc, "guest.check") && !g_str_equal(str(doc, "guest.check"), "skipped")) {
        row(out, "guest check", "%s%s%s", str(doc, "guest.check"),
            str(doc, "guest.detail") ? ": " : "", str(doc, "guest.detail") ? str(doc, "guest.detail") : "");
    }
}

static void print_setup(FILE *out, JsonObject *doc)
{
    JsonObject *c = obj(doc, "config");
    JsonArray *props = arr(c, "accel_props");
    JsonArray *caps = arr(c, "capabilities");

    fprintf(out, "setup:\n");
    row(out, "scenario", "%s", str(c, "scenario"));
    row(out, "qemu", "%s (QEMU %s)%s%s", str(c, "qemu") ? str(c, "qemu") : "(attached)",
        str(c, "qemu_version") ? str(c, "qemu_version") : "?",
        str(c, "dst_qemu") ? " -> " : "", str(c, "dst_qemu") ? str(c, "dst_qemu") : "");
    if (!g_str_equal(str(c, "guest") ? str(c, "guest") : "", "external")) {
        row(out, "guest", "%s, %s RAM, %" G_GINT64_FORMAT " vCPU, %s",
            str(c, "bootblock") ? str(c, "bootblock") : str(c, "kernel"), str(c, "mem"),
            qmp_get_int(c, "smp", 0), str(c, "accel"));
    }
    if (str(c, "plugin")) {
        g_autoptr(GString) p = g_string_new(NULL);

        for (guint i = 0; props && i < json_array_get_length(props); i++) {
            g_string_append_printf(p, "%s%s", i ? ", " : "", json_array_get_string_element(props, i));
        }
        row(out, "plugin", "%s (%s)", str(c, "plugin"), p->len ? p->str : "no options: the defaults");
    }
    if (caps && json_array_get_length(caps)) {
        g_autoptr(GString) p = g_string_new(NULL);

        for (guint i = 0; i < json_array_get_length(caps); i++) {
            g_string_append_printf(p, "%s%s", i ? ", " : "", json_array_get_string_element(caps, i));
        }
        row(out, "capabilities", "%s", p->str);
    }
    row(out, "max-bandwidth / downtime", "%" G_GINT64_FORMAT " B/s / %" G_GINT64_FORMAT " ms%s",
        qmp_get_int(c, "max_bandwidth", 0), qmp_get_int(c, "downtime_limit_ms", 0),
        qmp_get_double(c, "converge_after_s", 0) > 0 ? " (raised after --converge-after)" : "");
}

/* Every attempt when there were several (cancel, kill-dst, dst-rejects) */
static void print_attempts(FILE *out, JsonObject *doc)
{
    JsonArray *attempts = arr(doc, "attempts");

    if (!attempts || json_array_get_length(attempts) < 2) {
        return;
    }
    fprintf(out, "attempts:\n");
    for (guint i = 0; i < json_array_get_length(attempts); i++) {
        JsonObject *a = json_array_get_object_element(attempts, i);
        g_autofree char *summary = attempt_summary(a);

        row(out, str(a, "label"), "%s", summary);
        if (str(a, "scenario_action")) {
            row(out, "", "%s at %.2f s", str(a, "scenario_action"),
                qmp_get_double(a, "scenario_action_at_s", 0));
        }
    }
    if (str(doc, "scenario.source_kept_running") &&
        !g_str_equal(str(doc, "scenario.source_kept_running"), "skipped")) {
        row(out, "source kept running", "%s%s%s", str(doc, "scenario.source_kept_running"),
            str(doc, "scenario.detail") ? ": " : "",
            str(doc, "scenario.detail") ? str(doc, "scenario.detail") : "");
    }
}

static void print_net(FILE *out, JsonObject *doc)
{
    JsonObject *n = obj(doc, "network");

    if (!n) {
        return;
    }
    fprintf(out, "network (a ping every %" G_GINT64_FORMAT " ms):\n", qmp_get_int(n, "interval_ms", 0));
    if (has(n, "switchover_gap_ms") && has(doc, "migration.downtime_ms")) {
        row(out, "downtime: QEMU / users", "%" G_GINT64_FORMAT " ms / %.0f ms (ping gap at "
            "switchover)", qmp_get_int(doc, "migration.downtime_ms", 0),
            qmp_get_double(n, "switchover_gap_ms", 0));
    }
    row(out, "pings", "%" G_GINT64_FORMAT " sent, %" G_GINT64_FORMAT " lost; longest gap %.0f ms "
        "from %.2f s", qmp_get_int(n, "pings_sent", 0), qmp_get_int(n, "pings_lost", 0),
        qmp_get_double(n, "longest_gap_ms", 0), qmp_get_double(n, "gap_start_s", 0));
    row(out, "tcp echo connection", "%s; %" G_GINT64_FORMAT " echoes, longest gap %.0f ms%s%s",
        qmp_get_bool(n, "tcp_survived", FALSE) ? "survived" : "LOST",
        qmp_get_int(n, "tcp_echoes", 0), qmp_get_double(n, "tcp_longest_gap_ms", 0),
        str(n, "tcp_error") ? ": " : "", str(n, "tcp_error") ? str(n, "tcp_error") : "");
    if (has(n, "mac_moved_after_complete_ms")) {
        row(out, "bridge: guest MAC moved", "from the %s to the destination tap %+.0f ms from "
            "completion", str(n, "mac_port_before"), qmp_get_double(n, "mac_moved_after_complete_ms", 0));
    } else {
        row(out, "bridge: guest MAC moved", "never (on the %s at the end)", str(n, "mac_port_at_end"));
    }
    if (has(n, "src_tap_packets_1_2s")) {
        row(out, "tap packets, 1-2 s after", "source %" G_GINT64_FORMAT ", destination %"
            G_GINT64_FORMAT, qmp_get_int(n, "src_tap_packets_1_2s", 0),
            qmp_get_int(n, "dst_tap_packets_1_2s", 0));
    }
}

static gint mark_cmp(gconstpointer a, gconstpointer b, gpointer marks)
{
    double x = json_object_get_double_member(marks, *(const char *const *)a);
    double y = json_object_get_double_member(marks, *(const char *const *)b);

    return (x > y) - (x < y);
}

static void print_timeline(FILE *out, JsonObject *doc)
{
    JsonObject *marks = obj(doc, "timeline.marks_ms");
    g_autoptr(GList) keys = marks ? json_object_get_members(marks) : NULL;
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();

    if (!keys) {
        return;
    }
    for (GList *l = keys; l; l = l->next) {
        g_ptr_array_add(sorted, l->data);
    }
    /* In the order things happened: that is the story of the switch */
    g_ptr_array_sort_with_data(sorted, mark_cmp, marks);
    fprintf(out, "switchover timeline (ms from the source's vCPUs stopping, host clock):\n");
    for (guint i = 0; i < sorted->len; i++) {
        const char *key = g_ptr_array_index(sorted, i);

        fprintf(out, "  %-32s %+9.1f\n", timeline_mark_label(key),
                json_object_get_double_member(marks, key));
    }
}

/* Sums of "cpu_after_run" threads of @side: vCPUs (@vcpus 1), the others (0), all (-1) */
static void sum_cpu(JsonArray *threads, const char *side, int vcpus, guint *n,
                    double *ran, double *waited)
{
    *n = 0;
    *ran = *waited = 0;
    for (guint i = 0; threads && i < json_array_get_length(threads); i++) {
        JsonObject *t = json_array_get_object_element(threads, i);

        if (strcmp(qmp_get_string(t, "side", ""), side) ||
            (vcpus >= 0 &&
             g_str_has_prefix(qmp_get_string(t, "name", ""), THREADCPU_VCPU_PREFIX) != vcpus)) {
            continue;
        }
        (*n)++;
        *ran += qmp_get_double(t, "ran_ms", 0);
        *waited += qmp_get_double(t, "waited_ms", 0);
    }
}

/* --trace-cpu: did the guest get the CPU it needed right after the switch? */
static void print_cpu_after_run(FILE *out, JsonObject *doc)
{
    JsonObject *c = obj(doc, "cpu_after_run");
    JsonArray *threads = c ? arr(c, "threads") : NULL;
    double vr, vw, dr, dw, sr, sw;
    guint vn, dn, sn;

    if (!c) {
        return;
    }
    sum_cpu(threads, "dst", 1, &vn, &vr, &vw);
    sum_cpu(threads, "dst", 0, &dn, &dr, &dw);
    sum_cpu(threads, "src", -1, &sn, &sr, &sw);
    fprintf(out, "host CPU in the %.0f ms after the destination ran: its %u vCPU%s ran %.0f ms "
            "and waited %.0f ms for a CPU; its other threads ran %.0f ms, the source's %.0f ms\n",
            qmp_get_double(c, "window_ms", 0), vn, vn == 1 ? "" : "s", vr, vw, dr, sr);
}

static void print_traces(FILE *out, JsonObject *doc)
{
    JsonObject *f = obj(doc, "faults");
    JsonObject *s = obj(doc, "syncs");

    if (f) {
        fprintf(out, "page faults on the destination: %" G_GINT64_FORMAT " in the first %"
                G_GINT64_FORMAT " ms after it ran (served in %.1f ms median, %.1f max); %"
                G_GINT64_FORMAT " in all (%.1f / %.1f / %.1f ms median / p90 / max)%s\n",
                qmp_get_int(f, "window_requests", 0), qmp_get_int(f, "window_ms", 0),
                qmp_get_double(f, "window_latency_median_ms", 0),
                qmp_get_double(f, "window_latency_max_ms", 0), qmp_get_int(f, "requests", 0),
                qmp_get_double(f, "latency_median_ms", 0), qmp_get_double(f, "latency_p90_ms", 0),
                qmp_get_double(f, "latency_max_ms", 0),
                qmp_get_int(f, "resolved", 0) < qmp_get_int(f, "requests", 0)
                ? ", some never resolved" : "");
    }
    print_cpu_after_run(out, doc);
    if (s) {
        fprintf(out, "syncs (source trace): %" G_GINT64_FORMAT ", %.1f ms in all, median %.2f ms, "
                "max %.2f ms\n", qmp_get_int(s, "count", 0), qmp_get_double(s, "total_ms", 0),
                qmp_get_double(s, "median_ms", 0), qmp_get_double(s, "max_ms", 0));
    }
}

/* The guest's own view beyond the verdict: write gaps, vCPU threads */
static void print_guest(FILE *out, JsonObject *doc)
{
    JsonObject *g = obj(doc, "guest");
    JsonObject *w = obj(doc, "src_vcpu_threads.migration");
    JsonArray *samples = arr(g, "corrupt_samples");

    if (!g || !has(doc, "migration")) {
        return;
    }
    fprintf(out, "guest view (serial logs):\n");
    if (has(g, "src_b_marks")) {
        row(out, "'B' marks", "src %" G_GINT64_FORMAT " in migration, dst %" G_GINT64_FORMAT
            " after", qmp_get_int(g, "src_b_marks", 0), qmp_get_int(g, "dst_b_marks", 0));
    } else {
        g_autofree char *src_gap = has(g, "src_max_gap_us")
            ? g_strdup_printf("%" G_GINT64_FORMAT, qmp_get_int(g, "src_max_gap_us", 0)) : g_strdup("-");
        g_autofree char *dst_gap = has(g, "dst_max_gap_us")
            ? g_strdup_printf("%" G_GINT64_FORMAT, qmp_get_int(g, "dst_max_gap_us", 0)) : g_strdup("-");

        row(out, "max write gap", "src %s us in migration, dst %s us after; CORRUPT lines src %"
            G_GINT64_FORMAT ", dst %" G_GINT64_FORMAT, src_gap, dst_gap,
            qmp_get_int(g, "src_corrupt", 0), qmp_get_int(g, "dst_corrupt", 0));
    }
    if (str(g, "dst_crash")) {
        row(out, "dst guest crash", "%s", str(g, "dst_crash"));
    }
    for (guint i = 0; samples && i < json_array_get_length(samples); i++) {
        row(out, i ? "" : "first CORRUPT lines", "%s", json_array_get_string_element(samples, i));
    }
    if (w) {
        JsonArray *threads = arr(w, "threads");
        g_autoptr(GString) t = g_string_new(NULL);
        double wall = qmp_get_double(w, "wall_ms", 0);

        for (guint i = 0; threads && i < json_array_get_length(threads); i++) {
            JsonObject *th = json_array_get_object_element(threads, i);

            g_string_append_printf(t, "%s%s %.0f%%", i ? ", " : "", str(th, "name"),
                                   wall > 0 ? 100.0 * qmp_get_double(th, "cpu_ms", 0) / wall : 0.0);
        }
        row(out, "source vCPU threads", "%s of %.2f s", t->len ? t->str : "none found", wall / 1000);
    }
}

static void print_stats(FILE *out, JsonObject *doc, const char *side)
{
    g_autofree char *path = g_strdup_printf("accel_stats.%s", side);
    JsonObject *o = obj(doc, path);
    g_autoptr(GList) names = o ? g_list_sort(json_object_get_members(o), (GCompareFunc)g_strcmp0)
                               : NULL;

    fprintf(out, "  %s:%s\n", side, o ? "" : " not available");
    for (GList *l = names; l; l = l->next) {
        g_autofree char *txt = NULL;

        /* Clock readings: the timeline shows them, the JSON keeps them */
        if (g_str_has_suffix(l->data, "_real_us")) {
            continue;
        }
        txt = qmp_node_to_string(json_object_get_member(o, l->data), FALSE);
        fprintf(out, "    %-40s %s\n", (const char *)l->data, txt);
    }
}

void report_render_text(JsonObject *doc, gboolean show_stats, FILE *out)
{
    JsonObject *timings = obj(doc, "timings_s");
    g_autoptr(GList) phases = timings ? json_object_get_members(timings) : NULL;
    g_autoptr(GString) t = g_string_new(NULL);

    fprintf(out, "\n==================== migaccel-migrate report ====================\n");
    print_verdict(out, doc);
    print_setup(out, doc);
    print_attempts(out, doc);
    print_net(out, doc);
    print_timeline(out, doc);
    print_traces(out, doc);
    print_guest(out, doc);
    if (show_stats && has(doc, "accel_stats")) {
        fprintf(out, "accelerator stats (qom-get /objects/ma0 stats):\n");
        print_stats(out, doc, "src");
        print_stats(out, doc, "dst");
    } else if (has(doc, "accel_stats")) {
        fprintf(out, "accelerator stats: both sides' counters in the JSON (--json), or --show-stats\n");
    }
    for (GList *l = phases; l; l = l->next) {
        g_string_append_printf(t, "%s%s %.2f s", t->len ? ", " : "", (const char *)l->data,
                               json_object_get_double_member(timings, l->data));
    }
    fprintf(out, "timings: %s\n", t->str);
    if (str(doc, "run_dir")) {
        fprintf(out, "run dir: %s\n", str(doc, "run_dir"));
    }
    fflush(out);
}
