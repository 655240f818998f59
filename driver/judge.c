/*
 * Judging a run: the guest's own view (serial logs), what users of the
 * network saw, the traces, and the exit code.
 */
#include <string.h>

#include "driver.h"

static void evaluate_guest(Driver *d)
{
    Report *r = d->report;
    const GuestLogStats *dst = &r->dst_after;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    double secs = d->cfg->post_run;

    if (!r->have_dst_log) {
        return;
    }
    if (config_is_bootblock(d->cfg)) {
        if (secs > 0 && dst->b_chars == 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "destination printed no new 'B' marks in %.1f s", secs));
        }
    } else {
        if (secs > 0 && dst->sec_lines == 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "destination printed no 'mig: sec=' lines in %.1f s", secs));
        }
        if (dst->max_errors > 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "destination guest reports errors=%" G_GUINT64_FORMAT, dst->max_errors));
        }
        if (dst->corrupt_lines > 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "destination guest printed %u CORRUPT lines (lost writes)", dst->corrupt_lines));
        }
        if (dst->oops_lines > 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "destination guest crashed: %s", dst->first_oops));
        }
        if (r->src_corrupt_total > 0) {
            g_ptr_array_add(problems, g_strdup_printf(
                "source guest printed %u CORRUPT lines", r->src_corrupt_total));
        }
    }
    if (problems->len == 0) {
        r->guest_check = CHECK_OK;
        r->guest_detail = config_is_bootblock(d->cfg)
            ? g_strdup_printf("%" G_GUINT64_FORMAT " new 'B' marks", dst->b_chars)
            : g_strdup_printf("%u new sec lines, errors=0, no CORRUPT", dst->sec_lines);
        return;
    }
    r->guest_check = CHECK_FAILED;
    g_ptr_array_add(problems, NULL);
    r->guest_detail = g_strjoinv("; ", (char **)problems->pdata);
    for (guint i = 0; problems->pdata[i]; i++) {
        report_fail(r, "guest: %s", (char *)problems->pdata[i]);
    }
}

void scan_source_log(Driver *d)
{
    Report *r = d->report;
    GuestLogStats whole;

    if (!d->src->serial_path) {
        return;
    }
    r->have_src_log = TRUE;
    guestlog_scan(d->src->serial_path, d->src_mig_start, d->src_mig_end, &r->src_during, NULL);
    guestlog_stats_init(&whole);
    guestlog_scan(d->src->serial_path, 0, -1, &whole, NULL);
    r->src_corrupt_total = whole.corrupt_lines;
    guestlog_stats_clear(&whole);
}

/* Resumes the destination and lets the guest prove it still works. */
gboolean post_run(Driver *d, GError **error)
{
    Report *r = d->report;
    goffset off = guestlog_size(d->dst->serial_path);
    g_autoptr(JsonNode) st = NULL;
    JsonObject *so;

    if (config_dst_runs(d->cfg)) {
        drv_log("%s: running since switchover; running for %.1f s", d->dst->name,
                d->cfg->post_run);
    } else {
        if (!vm_cmd_simple(d->dst, "cont", NULL, error)) {
            return FALSE;
        }
        drv_log("%s: resumed; running for %.1f s", d->dst->name, d->cfg->post_run);
    }
    /* A destination that dies now is the guest's failure (e.g. it crashed
     * and powered off), not the driver's: report it with the guest view. */
    d->dst_expendable = TRUE;
    if (!watch_sleep(d, (guint)(d->cfg->post_run * 1000), error)) {
        return FALSE;
    }
    if (!vm_alive(d->dst)) {
        g_autofree char *why = vm_death_report(d->dst);

        report_fail(r, "destination died while running after migration: %s", why);
    } else {
        st = vm_cmd(d->dst, "query-status", NULL, error);
        if (!st) {
            return FALSE;
        }
        so = json_node_get_object(st);
        if (!qmp_get_bool(so, "running", FALSE)) {
            report_fail(r, "destination not running after cont: status %s",
                        qmp_get_string(so, "status", "?"));
        }
    }
    if (d->dst->serial_path) {
        r->have_dst_log = TRUE;
        guestlog_scan(d->dst->serial_path, off, -1, &r->dst_after, NULL);
    }
    evaluate_guest(d);
    if (r->guest_check == CHECK_OK) {
        drv_log("guest check passed: %s", r->guest_detail);
    }
    return TRUE;
}

/* What users would have seen, judged once the probe has stopped. */
static void evaluate_net(Driver *d)
{
    Report *r = d->report;
    const NetResult *n = &r->net;
    guint64 expected_per_s = 1000u / (guint)d->cfg->net_interval_ms;

    if (!n->tcp_survived) {
        report_fail(r, "network: the client's TCP connection did not survive: %s",
                    n->tcp_error ? n->tcp_error : "?");
    }
    if (n->port_before != NET_PORT_SRC) {
        report_fail(r, "network: before migrating, the bridge forwarded the guest's MAC to %s, "
                    "not the source tap", netport_name(n->port_before));
    }
    if (!n->completed) {
        /* Cancelled or failed without a retry: nothing may have moved. */
        if (n->moved_to_dst || n->port_at_end != NET_PORT_SRC) {
            report_fail(r, "network: the guest's MAC moved to %s although the migration "
                        "did not complete", netport_name(n->port_at_end));
        }
        if (n->pings_lost) {
            report_fail(r, "network: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                        " pings lost although the guest never left the source",
                        n->pings_lost, n->pings_sent);
        }
        return;
    }
    if (!n->moved_to_dst || n->moved_after_complete_ms > NET_RELEARN_LIMIT_MS) {
        report_fail(r, "network: the bridge did not forward the guest's MAC to the destination "
                    "tap within %.0f ms of completion (now: %s)", NET_RELEARN_LIMIT_MS,
                    netport_name(n->port_at_end));
    }
    if (!n->have_tap_window) {
        report_fail(r, "network: no tap counters for the second second after switchover");
    } else {
        if (n->src_tap_packets > NET_STALE_TAP_PACKETS) {
            report_fail(r, "network: the source tap was still sent %" G_GUINT64_FORMAT
                        " packets in the second second after switchover",
                        n->src_tap_packets);
        }
        if (n->dst_tap_packets < expected_per_s / 2) {
            report_fail(r, "network: the destination tap got only %" G_GUINT64_FORMAT
                        " packets in the second second after switchover (expected about %"
                        G_GUINT64_FORMAT " or more)", n->dst_tap_packets, expected_per_s);
        }
    }
    if (n->pings_sent && n->pings_lost == n->pings_sent) {
        report_fail(r, "network: every ping since the migration started was lost");
    }
}

void finish_net(Driver *d)
{
    if (!d->net) {
        return;
    }
    netprobe_finish(d->net, &d->report->net);
    d->net = NULL;
    d->report->have_net = TRUE;
    {
        const NetResult *n = &d->report->net;
        const struct { const char *what; gint64 real_us; } marks[] = {
            { "MAC moved", n->mac_moved_real_us },
            { "first announce", n->first_announce_real_us },
            { "first guest frame", n->first_guest_frame_real_us },
            { "last ping reply", n->gap_last_reply_real_us },
            { "first ping reply", n->gap_first_reply_real_us },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(marks); i++) {
            if (marks[i].real_us) {  /* 0: not seen */
                timeline_add(d->report->timeline, "net", marks[i].what, marks[i].real_us);
            }
        }
    }
    evaluate_net(d);
}

/* After the source exited, so its trace is complete */
void read_sync_trace(Driver *d)
{
    g_autoptr(GError) err = NULL;

    if (d->src_trace_path && !syncs_read(d->src_trace_path, &d->report->syncs, &err)) {
        report_fail(d->report, "--trace-syncs: %s", err->message);
    }
}

/* After the destination exited, so its trace is complete */
void read_fault_trace(Driver *d)
{
    g_autoptr(GError) err = NULL;
    gint64 ran_us = 0;

    if (!d->dst_trace_path) {
        return;
    }
    timeline_mark_real_us(d->report->timeline, "dst", "RESUME", &ran_us);
    if (!faults_read(d->dst_trace_path, ran_us, &d->report->faults, &err)) {
        report_fail(d->report, "--trace-faults: %s", err->message);
        return;
    }
    if (d->report->faults.first_request_real_us) {
        timeline_add(d->report->timeline, "dst", "first page fault",
                     d->report->faults.first_request_real_us);
    }
    if (d->report->faults.first_resolved_real_us) {
        timeline_add(d->report->timeline, "dst", "first fault served",
                     d->report->faults.first_resolved_real_us);
    }
}

/* The destination's first FAULT_WINDOW_MS after its vCPUs ran */
void read_cpu_trace(Driver *d)
{
    gint64 ran_us = 0;

    if (!d->sched) {
        return;
    }
    if (timeline_mark_real_us(d->report->timeline, "dst", "RESUME", &ran_us)) {
        schedtrace_window(d->sched, ran_us, ran_us + FAULT_WINDOW_MS * 1000,
                          &d->report->cpu_after_run);
    }
    g_clear_pointer(&d->sched, schedtrace_free);
}

int exit_code(Driver *d, GError *error)
{
    if (drv_interrupted() ||
        (error && (g_error_matches(error, DRV_ERROR, DRV_ERROR_INTERRUPTED) ||
                   g_error_matches(error, QMP_ERROR, QMP_ERROR_CANCELLED)))) {
        return 130;
    }
    return report_ok(d->report) ? 0 : 1;
}
