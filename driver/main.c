/*
 * migaccel-migrate: starts (or attaches to) a source and a destination
 * QEMU, live-migrates the guest over QMP while showing progress, optionally
 * does something to the migration (the scenarios), verifies guest RAM page
 * by page and the guest's own view of the migration, and reports.
 * driver.h lists the parts.
 */
#include <locale.h>
#include <stdio.h>

#include "driver.h"

void phase_begin(PhaseTimer *t)
{
    t->start_us = drv_now_us();
}

void phase_end(Driver *d, PhaseTimer *t, const char *name)
{
    report_add_timing(d->report, name, (drv_now_us() - t->start_us) / 1e6);
}

static gboolean finish_migration(Driver *d, GError **error)
{
    Report *r = d->report;
    MigAttempt *a = report_final_attempt(r);
    gboolean verify = d->cfg->verify || d->cfg->scenario != SCENARIO_NORMAL;
    PhaseTimer t;

    scan_source_log(d);
    if (g_strcmp0(a->status, "completed") != 0) {
        report_fail(r, "migration %s%s%s", a->status, a->error_desc ? ": " : "",
                    a->error_desc ? a->error_desc : "");
        return TRUE;
    }
    if (!wait_dst_settled(d, a->postcopy_at_s >= 0, error)) {
        return FALSE;
    }
    query_accel_stats(d);
    r->src_rss_bytes = drv_rss_bytes(d->src->pid);
    r->dst_rss_bytes = drv_rss_bytes(d->dst->pid);
    if (verify) {
        phase_begin(&t);
        if (!verify_memory(d, error)) {
            return FALSE;
        }
        phase_end(d, &t, "verify");
    }
    phase_begin(&t);
    if (!post_run(d, error)) {
        return FALSE;
    }
    phase_end(d, &t, "post-run");
    return TRUE;
}

static gboolean drive(Driver *d, GError **error)
{
    const Config *cfg = d->cfg;
    const NetProbeConfig net_cfg = {
        .client_netns = cfg->net_client_netns,
        .guest_ip = cfg->net_guest_addr,
        .guest_mac = cfg->net_mac,
        .src_tap = cfg->net_src_tap,
        .dst_tap = cfg->net_dst_tap,
        .interval_ms = (guint)cfg->net_interval_ms,
        .tcp_port = NET_ECHO_PORT,
    };
    const ScenarioSpec *spec = scenario_spec(cfg->scenario);
    Report *r = d->report;
    MigAttempt *a;
    PhaseTimer t;

    if (config_has_net(cfg) && !netprobe_check(&net_cfg, error)) {
        return FALSE;
    }
    if (!make_run_dir(d, error)) {
        return FALSE;
    }
    phase_begin(&t);
    if (!start_pair(d, error)) {
        return FALSE;
    }
    phase_end(d, &t, "startup");

    phase_begin(&t);
    if (!wait_guest_ready(d, error)) {
        return FALSE;
    }
    phase_end(d, &t, "guest-ready");
    if (cfg->warmup > 0) {
        drv_log("warming up for %.1f s", cfg->warmup);
        phase_begin(&t);
        if (!watch_sleep(d, (guint)(cfg->warmup * 1000), error)) {
            return FALSE;
        }
        phase_end(d, &t, "warmup");
    }
    if (config_has_net(cfg)) {
        phase_begin(&t);
        d->net = netprobe_start(&net_cfg, NET_READY_TIMEOUT_S, error);
        if (!d->net) {
            return FALSE;
        }
        phase_end(d, &t, "net-ready");
    }
    if (cfg->baseline_seconds > 0) {
        phase_begin(&t);
        if (!run_baseline(d, error)) {
            return FALSE;
        }
        phase_end(d, &t, "baseline");
    }
    if (!configure_pair(d, error)) {
        return FALSE;
    }

    phase_begin(&t);
    if (d->net) {
        netprobe_mark_migration_start(d->net);
    }
    a = report_add_attempt(r, spec->attempt_label);
    if (!run_migration(d, a, spec, error)) {
        return FALSE;
    }
    phase_end(d, &t, "migration");

    if (spec->act_in_postcopy && !a->action) {
        report_fail(r, "postcopy-pause: the migration ended '%s' before it was paused (postcopy "
                    "%s); lower --param max-postcopy-bandwidth or --after", a->status,
                    a->postcopy_at_s >= 0 ? "ran too briefly" : "never started");
    } else if (spec->expected_status) {
        gboolean done;

        if (!scenario_after_first(d, spec, a, &done, error)) {
            return FALSE;
        }
        if (done) {
            return TRUE;
        }
    }
    return finish_migration(d, error);
}

static void cleanup(Driver *d)
{
    PhaseTimer t;

    phase_begin(&t);
    if (d->src && vm_owned(d->src)) {
        drv_log("stopping QEMUs");
    }
    g_clear_pointer(&d->dst, vm_free);
    g_clear_pointer(&d->src, vm_free);
    phase_end(d, &t, "cleanup");
}

int main(int argc, char **argv)
{
    Config cfg = { 0 };
    Driver d = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;
    gboolean keep;
    gint64 t0;
    int rc;

    /* Translated GLib messages, but C number formatting in the report. */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    drv_log_init();
    if (!config_parse(&cfg, &argc, &argv, &error)) {
        g_printerr("migaccel-migrate: %s\nTry 'migaccel-migrate --help'.\n", error->message);
        config_clear(&cfg);
        return 2;
    }
    drv_install_signal_handlers();
    d.cfg = &cfg;
    d.report = report_new(&cfg);
    t0 = drv_now_us();

    if (!drive(&d, &error)) {
        d.report->fatal = g_strdup(error->message);
        drv_log("ERROR: %s", error->message);
        if (d.src && d.report->attempts->len && !d.report->have_src_log) {
            scan_source_log(&d);  /* the guest's view may explain the failure */
        }
    }
    collect_events(&d);
    finish_net(&d);
    cleanup(&d);
    read_fault_trace(&d);
    read_cpu_trace(&d);
    read_sync_trace(&d);
    report_add_timing(d.report, "total", (drv_now_us() - t0) / 1e6);
    rc = exit_code(&d, error);

    /* Keep the logs when something went wrong: they explain why. */
    keep = cfg.keep_dir || (rc == 1 && d.run_dir);
    if (d.run_dir && keep) {
        d.report->run_dir = g_strdup(d.run_dir);
    }
    doc = report_to_json(d.report);
    report_render_text(json_node_get_object(doc), cfg.show_stats, stdout);
    if (cfg.json_path) {
        g_autoptr(GError) jerr = NULL;

        if (!report_write_json(doc, cfg.json_path, &jerr)) {
            g_printerr("migaccel-migrate: cannot write --json file: %s\n", jerr->message);
            rc = rc ? rc : 1;
        }
    }
    if (d.run_dir && d.created_run_dir && !keep) {
        remove_run_dir(d.run_dir);
    }
    g_free(d.run_dir);
    g_free(d.dst_trace_path);
    g_free(d.src_trace_path);
    g_free(d.incoming_uri);
    report_free(d.report);
    config_clear(&cfg);
    return rc;
}
