/*
 * After a completed migration: wait for the destination to settle, read
 * the accelerators' stats and compare guest memory page by page.
 */
#include <string.h>

#include "driver.h"

/* After an incoming migration with -S the destination leaves "inmigrate"
 * for "paused" from a bottom half; dump-guest-memory refuses before. After
 * postcopy it is "paused" from the switch on, while pages still arrive:
 * then its own migration status must say "completed" too. */
gboolean wait_dst_settled(Driver *d, gboolean postcopy, GError **error)
{
    gint64 deadline = drv_now_us() + (gint64)(DST_SETTLE_TIMEOUT_S * G_USEC_PER_SEC);

    for (;;) {
        g_autoptr(JsonNode) ret = vm_cmd(d->dst, "query-status", NULL, error);
        g_autoptr(JsonNode) mig = NULL;
        const char *status, *incoming = "completed";

        if (!ret) {
            return FALSE;
        }
        status = qmp_get_string(json_node_get_object(ret), "status", "?");
        if (postcopy) {
            mig = vm_cmd(d->dst, "query-migrate", NULL, error);
            if (!mig) {
                return FALSE;
            }
            incoming = qmp_get_string(json_node_get_object(mig), "status", "?");
        }
        if (!g_str_equal(status, "inmigrate") && g_str_equal(incoming, "completed")) {
            drv_log("%s: status %s", d->dst->name, status);
            return TRUE;
        }
        if (drv_now_us() > deadline) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "%s still '%s' (incoming migration '%s') %.0f s after the source "
                        "completed", d->dst->name, status, incoming, DST_SETTLE_TIMEOUT_S);
            return FALSE;
        }
        if (!drv_sleep_ms(50, error)) {
            return FALSE;
        }
    }
}

static JsonNode *query_stats(Vm *vm, char **err_out)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) error = NULL;
    JsonNode *ret;

    json_object_set_string_member(args, "path", "/objects/ma0");
    json_object_set_string_member(args, "property", "stats");
    ret = qmp_client_execute(vm->qmp, "qom-get", args, QMP_TIMEOUT_MS, &error);
    if (!ret) {
        *err_out = g_strdup_printf("qom-get /objects/ma0 stats failed on %s: %s%s", vm->name,
                                   error->message,
                                   strstr(error->message, "not found")
                                   ? " (does this QEMU/plugin provide the 'stats' property?)" : "");
    }
    return ret;
}

void query_accel_stats(Driver *d)
{
    Report *r = d->report;

    if (!d->cfg->plugin) {
        return;
    }
    r->accel_queried = TRUE;
    if (d->cfg->src_no_plugin) {
        r->accel_src_error = g_strdup("no accelerator on the source (--src-no-plugin)");
    } else if (d->src_plugin_unloaded) {
        r->accel_src_error = g_strdup("the source's accelerator was unloaded before the retry");
    } else {
        r->accel_src = query_stats(d->src, &r->accel_src_error);
    }
    if (d->cfg->dst_no_plugin) {
        r->accel_dst_error = g_strdup("no accelerator on the destination (--dst-no-plugin)");
    } else {
        r->accel_dst = query_stats(d->dst, &r->accel_dst_error);
    }
    timeline_add_accel(r->timeline, "src", r->accel_src);
    timeline_add_accel(r->timeline, "dst", r->accel_dst);
    if (r->accel_src_error) {
        drv_log("%s", r->accel_src_error);
    }
}

/* One side's memory dump, digested on its own thread */
typedef struct {
    Vm *vm;
    char *fifo;
    MemDigest *digest;
    GError *error;
} DumpJob;

static gpointer dump_job_thread(gpointer data)
{
    DumpJob *job = data;

    job->digest = mem_digest_collect(job->vm->qmp, job->fifo, &job->error);
    return NULL;
}

static void dump_job_clear(DumpJob *job)
{
    g_free(job->fifo);
    g_clear_pointer(&job->digest, mem_digest_free);
    g_clear_error(&job->error);
}

static gboolean verify_fail(Report *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean verify_fail(Report *r, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    r->verify_error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r->verify = CHECK_FAILED;
    line = report_verify_line(r);
    report_fail(r, "%s", line);
    return TRUE;
}

/* Both QEMUs are stopped (source postmigrate, destination paused): digest
 * their RAM concurrently through FIFOs and compare page by page. */
gboolean verify_memory(Driver *d, GError **error)
{
    Report *r = d->report;
    DumpJob jobs[2] = { { .vm = d->src }, { .vm = d->dst } };
    GThread *threads[2];
    g_autofree char *line = NULL;
    g_autoptr(JsonNode) st = vm_cmd(d->src, "query-status", NULL, error);
    gint64 t0 = drv_now_us();

    if (!st) {
        return FALSE;
    }
    if (qmp_get_bool(json_node_get_object(st), "running", FALSE)) {
        return verify_fail(r, "source is running again (status %s); cannot compare",
                           qmp_get_string(json_node_get_object(st), "status", "?"));
    }
    drv_log("verify: digesting guest RAM of source and destination");
    for (int i = 0; i < 2; i++) {
        jobs[i].fifo = run_path(d, jobs[i].vm->name, "mem.fifo");
        threads[i] = g_thread_new("dump", dump_job_thread, &jobs[i]);
    }
    for (int i = 0; i < 2; i++) {
        g_thread_join(threads[i]);
    }
    r->verify_s = (drv_now_us() - t0) / 1e6;
    for (int i = 0; i < 2 && !r->verify_error; i++) {
        if (jobs[i].error) {
            if (g_error_matches(jobs[i].error, QMP_ERROR, QMP_ERROR_CANCELLED) ||
                drv_interrupted()) {
                g_set_error(error, DRV_ERROR, DRV_ERROR_INTERRUPTED, "interrupted during verify");
                dump_job_clear(&jobs[0]);
                dump_job_clear(&jobs[1]);
                return FALSE;
            }
            verify_fail(r, "%s: %s", jobs[i].vm->name, jobs[i].error->message);
        }
    }
    if (!r->verify_error) {
        r->verify_bytes = jobs[0].digest->bytes;
        r->verify = mem_digest_compare(jobs[0].digest, jobs[1].digest, &r->cmp)
                    ? CHECK_OK : CHECK_FAILED;
        line = report_verify_line(r);
        drv_log("%s [%.2f s; src %.2f s, dst %.2f s]", line, r->verify_s,
                jobs[0].digest->elapsed_us / 1e6, jobs[1].digest->elapsed_us / 1e6);
        if (r->verify == CHECK_FAILED) {
            report_fail(r, "%s", line);
        }
    }
    dump_job_clear(&jobs[0]);
    dump_job_clear(&jobs[1]);
    return TRUE;
}
