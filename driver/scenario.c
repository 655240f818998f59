/*
 * The scenarios: what the driver does to a migration under way (cancel
 * it, kill the destination, cut it in postcopy, feed the destination a
 * spoiled stream) and what it checks and retries afterwards. One table
 * (scenarios[]) says it for each.
 */
#include <string.h>

#include "driver.h"

static gboolean act_cancel(Driver *d, MigAttempt *a, gint64 t0, GError **error)
{
    a->action_at_s = (drv_now_us() - t0) / 1e6;
    a->action = g_strdup("migrate_cancel");
    d->dst_expendable = TRUE;
    drv_log("scenario: migrate_cancel at %.2f s", a->action_at_s);
    return vm_cmd_simple(d->src, "migrate_cancel", NULL, error);
}

static gboolean act_kill_dst(Driver *d, MigAttempt *a, gint64 t0, G_GNUC_UNUSED GError **error)
{
    a->action_at_s = (drv_now_us() - t0) / 1e6;
    a->action = g_strdup("SIGKILL destination");
    d->dst_expendable = TRUE;
    drv_log("scenario: SIGKILL to destination QEMU (pid %d) at %.2f s", d->dst->pid,
            a->action_at_s);
    vm_kill(d->dst);
    return TRUE;
}

static const ScenarioSpec scenarios[] = {
    { SCENARIO_NORMAL, "normal", "migration", NULL, FALSE, NULL, NULL },
    { SCENARIO_CANCEL, "cancel", "first attempt (cancel)", act_cancel, FALSE, NULL,
      "cancelled" },
    { SCENARIO_KILL_DST, "kill-dst", "first attempt (kill-dst)", act_kill_dst, FALSE, NULL,
      "failed" },
    { SCENARIO_DST_REJECTS, "dst-rejects", "first attempt (dst-rejects)", NULL, FALSE,
      "a stream the destination must reject", "failed" },
    { SCENARIO_POSTCOPY_PAUSE, "postcopy-pause", "migration (paused, recovered)",
      postcopy_pause_and_recover, TRUE, NULL, NULL },
};

const ScenarioSpec *scenario_spec(Scenario id)
{
    for (size_t i = 0; i < G_N_ELEMENTS(scenarios); i++) {
        if (scenarios[i].id == id) {
            return &scenarios[i];
        }
    }
    g_assert_not_reached();
}

const char *scenario_name(Scenario s)
{
    return scenario_spec(s)->name;
}

gboolean scenario_by_name(const char *name, Scenario *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(scenarios); i++) {
        if (g_str_equal(scenarios[i].name, name)) {
            *out = scenarios[i].id;
            return TRUE;
        }
    }
    return FALSE;
}

/* dst-rejects: the destination must have failed the stream and exited, saying why */
static void check_dst_rejected(Driver *d)
{
    Report *r = d->report;
    g_autoptr(GRegex) re = g_regex_new(d->cfg->expect_dst_error, 0, 0, NULL);
    g_autoptr(GMatchInfo) match = NULL;
    g_autofree char *text = NULL;
    gint64 deadline = drv_now_us() + 10 * G_USEC_PER_SEC;

    while (vm_alive(d->dst) && drv_now_us() < deadline) {
        g_usleep(100 * 1000);
    }
    if (vm_alive(d->dst)) {
        report_fail(r, "dst-rejects: the destination is still running 10 s after the "
                    "migration failed");
        return;
    }
    if (!d->dst->stderr_path ||
        !g_file_get_contents(d->dst->stderr_path, &text, NULL, NULL)) {
        report_fail(r, "dst-rejects: cannot read the destination's stderr");
        return;
    }
    if (!g_regex_match(re, text, 0, &match)) {
        g_autofree char *why = vm_death_report(d->dst);

        report_fail(r, "dst-rejects: the destination's stderr does not match /%s/: %s",
                    d->cfg->expect_dst_error, why);
        return;
    }
    g_autofree char *found = g_match_info_fetch(match, 0);
    drv_log("destination rejected the stream as expected (%s): %s",
            vm_describe_exit(d->dst), found);
}

static void check_scenario_outcome(Driver *d, const ScenarioSpec *spec, MigAttempt *a)
{
    const char *expected = spec->expected_status;

    if (!a->action) {
        report_fail(d->report, "migration ended '%s' after %.2f s, before --after %.2f s: the %s "
                    "scenario was not exercised (use a smaller --after or a lower --max-bandwidth)",
                    a->status, a->wall_s, d->cfg->after, scenario_name(d->cfg->scenario));
    } else if (g_strcmp0(a->status, expected) != 0) {
        report_fail(d->report, "after %s the source reported '%s', expected '%s'",
                    a->action, a->status, expected);
    }
}

/* The source must still be running and its guest still making progress. */
static gboolean check_source_survived(Driver *d, GError **error)
{
    Report *r = d->report;
    gboolean bb = config_is_bootblock(d->cfg);
    g_autoptr(JsonNode) ret = vm_cmd(d->src, "query-status", NULL, error);
    JsonObject *st;
    guint64 before, after = 0;
    gint64 t0;

    if (!ret) {
        return FALSE;
    }
    st = json_node_get_object(ret);
    if (!qmp_get_bool(st, "running", FALSE)) {
        r->src_survived = CHECK_FAILED;
        r->src_survived_detail = g_strdup_printf("query-status: status=%s, running=false",
                                                 qmp_get_string(st, "status", "?"));
        report_fail(r, "source is not running after the failed migration: %s",
                    r->src_survived_detail);
        return TRUE;
    }
    if (!d->src->serial_path) {
        r->src_survived = CHECK_OK;
        r->src_survived_detail = g_strdup("query-status running (no serial log to check)");
        return TRUE;
    }
    before = guestlog_progress(d->src->serial_path, 0, bb);
    t0 = drv_now_us();
    if (!watch_sleep(d, SURVIVE_WINDOW_MS, error)) {
        return FALSE;
    }
    /* A loaded TCG host can delay a line a bit: allow some grace. */
    for (gint64 left = SURVIVE_GRACE_MS; ; left -= 250) {
        after = guestlog_progress(d->src->serial_path, 0, bb);
        if (after > before || left <= 0) {
            break;
        }
        if (!watch_sleep(d, 250, error)) {
            return FALSE;
        }
    }
    if (after > before) {
        r->src_survived = CHECK_OK;
        r->src_survived_detail = g_strdup_printf(
            "status running; %" G_GUINT64_FORMAT " new %s in %.1f s", after - before,
            bb ? "'B' marks" : "'mig: sec=' lines", (drv_now_us() - t0) / 1e6);
        drv_log("source survived: %s", r->src_survived_detail);
    } else {
        r->src_survived = CHECK_FAILED;
        r->src_survived_detail = g_strdup_printf(
            "status running, but no new %s on the source serial for %.1f s",
            bb ? "'B' marks" : "'mig: sec=' lines", (drv_now_us() - t0) / 1e6);
        report_fail(r, "source guest stalled: %s", r->src_survived_detail);
    }
    return TRUE;
}

gboolean scenario_after_first(Driver *d, const ScenarioSpec *spec, MigAttempt *a,
                              gboolean *done, GError **error)
{
    const Config *cfg = d->cfg;
    Report *r = d->report;
    PhaseTimer t;

    *done = TRUE;
    check_scenario_outcome(d, spec, a);
    if (spec->id == SCENARIO_DST_REJECTS && g_strcmp0(a->status, "failed") == 0) {
        check_dst_rejected(d);
    }
    if (g_strcmp0(a->status, "completed") == 0) {
        scan_source_log(d);
        return TRUE;  /* nothing to retry; already reported */
    }
    phase_begin(&t);
    if (!check_source_survived(d, error)) {
        return FALSE;
    }
    phase_end(d, &t, "scenario-checks");
    if (cfg->no_retry || r->src_survived != CHECK_OK) {
        scan_source_log(d);
        return TRUE;
    }
    if (cfg->unload_before_retry) {
        g_autoptr(JsonObject) id = json_object_new();

        /* The retry then runs the patched QEMU's own code with no hooks set */
        json_object_set_string_member(id, "id", "ma0");
        if (!vm_cmd_simple(d->src, "object-del", id, error)) {
            g_prefix_error(error, "unloading the source's accelerator: ");
            return FALSE;
        }
        d->src_plugin_unloaded = TRUE;
        drv_log("src: accelerator unloaded (object-del ma0)");
    }
    phase_begin(&t);
    if (!replace_destination(d, error)) {
        return FALSE;
    }
    phase_end(d, &t, "dst-restart");
    if (cfg->scenario_bandwidth) {
        g_autoptr(JsonObject) bw = json_object_new();

        json_object_set_int_member(bw, "max-bandwidth", (gint64)cfg->max_bandwidth);
        if (!vm_cmd_simple(d->src, "migrate-set-parameters", bw, error)) {
            return FALSE;
        }
    }
    phase_begin(&t);
    a = report_add_attempt(r, "retry");
    if (!run_migration(d, a, scenario_spec(SCENARIO_NORMAL), error)) {
        return FALSE;
    }
    phase_end(d, &t, "retry-migration");
    *done = FALSE;
    return TRUE;
}
