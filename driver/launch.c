/*
 * Starting the two QEMUs (or attaching to running ones), talking QMP to
 * them, configuring the migration and waiting for the guest; the run
 * directory their files go to.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "driver.h"

gboolean make_run_dir(Driver *d, GError **error)
{
    struct sockaddr_un sun;
    g_autofree char *probe = NULL;

    if (d->cfg->run_dir) {
        if (g_mkdir_with_parents(d->cfg->run_dir, 0700) < 0) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "cannot create --run-dir %s: %s",
                        d->cfg->run_dir, g_strerror(errno));
            return FALSE;
        }
        d->run_dir = g_canonicalize_filename(d->cfg->run_dir, NULL);
    } else {
        d->run_dir = g_dir_make_tmp("migaccel-XXXXXX", error);
        if (!d->run_dir) {
            return FALSE;
        }
        d->created_run_dir = TRUE;
    }
    /* Unix socket paths are limited to ~107 bytes. */
    probe = g_build_filename(d->run_dir, "dst2-qmp.sock", NULL);
    if (strlen(probe) >= sizeof(sun.sun_path)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE,
                    "run directory path too long for a unix socket: %s", d->run_dir);
        return FALSE;
    }
    drv_log("run dir: %s", d->run_dir);
    return TRUE;
}

void remove_run_dir(const char *dir)
{
    g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
    const char *name;

    while (gd && (name = g_dir_read_name(gd))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_unlink(path);
    }
    g_rmdir(dir);
}

char *run_path(Driver *d, const char *vm_name, const char *suffix)
{
    g_autofree char *base = g_strconcat(vm_name, "-", suffix, NULL);

    return g_build_filename(d->run_dir, base, NULL);
}

Vm *start_vm(Driver *d, const char *name, gboolean incoming, GError **error)
{
    g_autofree char *qmp_path = run_path(d, name, "qmp.sock");
    g_autofree char *serial_path = run_path(d, name, "serial.log");
    g_autofree char *stderr_path = run_path(d, name, "stderr.log");
    g_autofree char *cmd_path = run_path(d, name, "cmdline.txt");
    g_autofree char *trace_path = (incoming ? d->cfg->trace_faults : d->cfg->trace_syncs)
                                  ? run_path(d, name, "trace.log") : NULL;
    g_autoptr(GPtrArray) argv = build_qemu_argv(d->cfg, qmp_path, serial_path, trace_path,
                                                incoming);
    g_autofree char *cmdline = g_strjoinv(" ", (char **)argv->pdata);
    g_autofree char *cmdline_nl = g_strconcat(cmdline, "\n", NULL);
    Vm *vm;

    g_unlink(serial_path);
    if (trace_path) {
        char **latest = incoming ? &d->dst_trace_path : &d->src_trace_path;

        g_unlink(trace_path);
        g_free(*latest);
        *latest = g_strdup(trace_path);
    }
    g_file_set_contents(cmd_path, cmdline_nl, -1, NULL);
    vm = vm_spawn(name, (const char *const *)argv->pdata, qmp_path, serial_path,
                  stderr_path, error);
    if (vm) {
        drv_log("%s: started QEMU pid %d%s (command line in %s)", name, vm->pid,
                incoming ? " (-incoming defer -S)" : "", cmd_path);
    }
    return vm;
}

gboolean connect_vm(Driver *d, Vm *vm, GError **error)
{
    if (!vm_connect_qmp(vm, QMP_CONNECT_TIMEOUT_MS, error)) {
        return FALSE;
    }
    if (!d->report->qemu_version) {
        d->report->qemu_version = g_strdup(qmp_client_get_version(vm->qmp));
    }
    drv_log("%s: QMP connected (QEMU %s)", vm->name, qmp_client_get_version(vm->qmp));
    return TRUE;
}

/* Wraps a QMP failure with the VM's name, or replaces it with the VM's
 * exit status and stderr when the VM died under us. */
static void vm_error(Vm *vm, GError **error)
{
    if (!error || !*error) {
        return;
    }
    if (!vm_alive(vm)) {
        g_autofree char *why = vm_death_report(vm);
        GError *e = g_error_new(DRV_ERROR, DRV_ERROR_FAILED, "%s (%s)", why, (*error)->message);

        g_clear_error(error);
        *error = e;
        return;
    }
    g_prefix_error(error, "%s: ", vm->name);
}

JsonNode *vm_cmd(Vm *vm, const char *command, JsonObject *args, GError **error)
{
    JsonNode *ret = qmp_client_execute(vm->qmp, command, args, QMP_TIMEOUT_MS, error);

    if (!ret) {
        vm_error(vm, error);
    }
    return ret;
}

gboolean vm_cmd_simple(Vm *vm, const char *command, JsonObject *args, GError **error)
{
    g_autoptr(JsonNode) ret = vm_cmd(vm, command, args, error);

    return ret != NULL;
}

gboolean set_capabilities(Vm *vm, const Config *cfg, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *caps = json_array_new();
    JsonObject *ev = json_object_new();

    /* MIGRATION events let other QMP users follow along; we still poll. */
    json_object_set_string_member(ev, "capability", "events");
    json_object_set_boolean_member(ev, "state", TRUE);
    json_array_add_object_element(caps, ev);
    if (cfg->postcopy_after > 0 || cfg->postcopy_after_precopy) {
        JsonObject *pc = json_object_new();

        json_object_set_string_member(pc, "capability", "postcopy-ram");
        json_object_set_boolean_member(pc, "state", TRUE);
        json_array_add_object_element(caps, pc);
    }
    for (guint i = 0; cfg->capabilities && cfg->capabilities[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(cfg->capabilities[i], "=", 2);
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "capability", kv[0]);
        json_object_set_boolean_member(c, "state", g_str_equal(kv[1], "on"));
        json_array_add_object_element(caps, c);
    }
    json_object_set_array_member(args, "capabilities", caps);
    return vm_cmd_simple(vm, "migrate-set-capabilities", args, error);
}

/* --param values: integers and booleans as such, anything else a string. */
static void set_param_value(JsonObject *args, const char *name, const char *value)
{
    gint64 num;

    if (g_ascii_string_to_signed(value, 10, G_MININT64, G_MAXINT64, &num, NULL)) {
        json_object_set_int_member(args, name, num);
    } else if (g_str_equal(value, "true") || g_str_equal(value, "false")) {
        json_object_set_boolean_member(args, name, g_str_equal(value, "true"));
    } else {
        json_object_set_string_member(args, name, value);
    }
}

gboolean set_parameters(Vm *vm, const Config *cfg, gboolean source, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();

    if (source) {
        guint64 bw = cfg->scenario != SCENARIO_NORMAL && cfg->scenario_bandwidth ?
                     cfg->scenario_bandwidth : cfg->max_bandwidth;

        json_object_set_int_member(args, "max-bandwidth", (gint64)bw);
        json_object_set_int_member(args, "downtime-limit", cfg->downtime_limit);
    }
    for (guint i = 0; cfg->params && cfg->params[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(cfg->params[i], "=", 2);

        set_param_value(args, kv[0], kv[1]);
    }
    if (json_object_get_size(args) == 0) {
        return TRUE;
    }
    return vm_cmd_simple(vm, "migrate-set-parameters", args, error);
}

int pick_free_port(GError **error)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0) {
        port = ntohs(sin.sin_port);
    } else {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "cannot find a free TCP port: %s",
                    g_strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

gboolean start_incoming(Driver *d, GError **error)
{
    g_autoptr(GError) last = NULL;

    g_clear_pointer(&d->incoming_uri, g_free);
    if (d->cfg->external) {
        g_autoptr(JsonObject) args = json_object_new();

        d->incoming_uri = g_strdup(d->cfg->dst_uri);
        json_object_set_string_member(args, "uri", d->incoming_uri);
        if (!vm_cmd_simple(d->dst, "migrate-incoming", args, &last)) {
            drv_log("note: %s; assuming the destination already listens on %s",
                    last->message, d->incoming_uri);
        }
        return TRUE;
    }
    /* The port probe can race with other programs: retry on bind errors. */
    for (int i = 0; i < INCOMING_BIND_ATTEMPTS; i++) {
        g_autoptr(JsonObject) args = json_object_new();
        int port = pick_free_port(error);

        if (port < 0) {
            return FALSE;
        }
        g_free(d->incoming_uri);
        d->incoming_uri = g_strdup_printf("tcp:127.0.0.1:%d", port);
        json_object_set_string_member(args, "uri", d->incoming_uri);
        g_clear_error(&last);
        if (vm_cmd_simple(d->dst, "migrate-incoming", args, &last)) {
            drv_log("%s: listening on %s", d->dst->name, d->incoming_uri);
            return TRUE;
        }
        if (!vm_alive(d->dst)) {
            break;
        }
    }
    g_propagate_error(error, g_steal_pointer(&last));
    return FALSE;
}

gboolean configure_pair(Driver *d, GError **error)
{
    return set_capabilities(d->src, d->cfg, error) &&
           set_capabilities(d->dst, d->cfg, error) &&
           set_parameters(d->src, d->cfg, TRUE, error) &&
           set_parameters(d->dst, d->cfg, FALSE, error) &&
           start_incoming(d, error);
}

gboolean start_pair(Driver *d, GError **error)
{
    if (d->cfg->external) {
        d->src = vm_attach("src", d->cfg->src_qmp, d->cfg->src_serial, error);
        if (!d->src) {
            return FALSE;
        }
        d->dst = vm_attach("dst", d->cfg->dst_qmp, d->cfg->dst_serial, error);
        if (!d->dst) {
            return FALSE;
        }
        d->report->qemu_version = g_strdup(qmp_client_get_version(d->src->qmp));
        return TRUE;
    }
    /* Both boot in parallel; only then wait for their sockets. */
    d->src = start_vm(d, "src", FALSE, error);
    if (!d->src) {
        return FALSE;
    }
    /* We know its pid: its vCPU threads' CPU time can be read from /proc. */
    d->report->have_vcpu_cpu = TRUE;
    d->dst = start_vm(d, "dst", TRUE, error);
    if (!d->dst) {
        return FALSE;
    }
    if (!connect_vm(d, d->src, error) || !connect_vm(d, d->dst, error)) {
        if (d->cfg->plugin && strstr((*error)->message, "'migration-accel'")) {
            g_prefix_error(error, "this QEMU has no migration-accel object (use the patched "
                           "build/qemu, or drop --plugin): ");
        }
        return FALSE;
    }
    return TRUE;
}

gboolean check_alive(Vm *vm, GError **error)
{
    g_autofree char *why = NULL;

    if (vm_alive(vm)) {
        return TRUE;
    }
    why = vm_death_report(vm);
    g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "%s", why);
    return FALSE;
}

/* Sleeps while watching both QEMUs, so a crash is reported at once. */
gboolean watch_sleep(Driver *d, guint ms, GError **error)
{
    gint64 end = drv_now_us() + (gint64)ms * 1000;

    while (drv_now_us() < end) {
        if (!check_alive(d->src, error) ||
            (d->dst && !d->dst_expendable && !check_alive(d->dst, error)) ||
            !drv_sleep_ms(MIN(100, MAX(1, (end - drv_now_us()) / 1000)), error)) {
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * A guest that never got ready: where its vCPUs are, for whoever reads the
 * run dir (a boot hang is otherwise only a timeout). Returns the file's
 * path, or why there is none.
 */
static char *save_vcpu_registers(Driver *d, Vm *vm)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *path = g_build_filename(d->run_dir, "src-registers.txt", NULL);

    json_object_set_string_member(args, "command-line", "info registers -a");
    ret = vm->qmp ? qmp_client_execute(vm->qmp, "human-monitor-command", args, 5000, &err)
                  : NULL;
    if (!ret) {
        return g_strdup_printf("not read: %s", err ? err->message : "no QMP connection");
    }
    if (!g_file_set_contents(path, json_node_get_string(ret) ?: "", -1, &err)) {
        return g_strdup_printf("not saved: %s", err->message);
    }
    return g_steal_pointer(&path);
}

gboolean wait_guest_ready(Driver *d, GError **error)
{
    const char *needle = d->cfg->wait_serial;
    const char *log = d->src->serial_path;
    gint64 deadline = drv_now_us() + (gint64)(d->cfg->ready_timeout * G_USEC_PER_SEC);

    if (!log || !needle || !*needle) {
        drv_log("not waiting for the guest (no source serial log or empty --wait-serial)");
        return TRUE;
    }
    drv_log("waiting for \"%s\" on the source serial (%s)", needle, log);
    while (!guestlog_contains(log, 0, needle)) {
        if (drv_now_us() > deadline) {
            g_autofree char *tail = drv_file_tail(log, 10);
            g_autofree char *regs = save_vcpu_registers(d, d->src);

            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "guest did not print \"%s\" within %.0f s (vCPU registers: %s); "
                        "last serial lines:\n%s",
                        needle, d->cfg->ready_timeout, regs,
                        *tail ? tail : "(serial log empty)");
            return FALSE;
        }
        if (!watch_sleep(d, 200, error)) {
            return FALSE;
        }
    }
    drv_log("guest ready");
    /* Attached guests: tell the workload from the boot block by its output. */
    if (d->cfg->external && !guestlog_contains(log, 0, "mig: ")) {
        d->cfg->external_marks = TRUE;
        drv_log("no 'mig:' lines on the source serial: checking boot-block 'B' marks instead");
    }
    return TRUE;
}

/* The source's vCPU threads, or NULL when it was attached (no pid). */
ThreadCpuSnapshot *src_vcpu_snapshot(Driver *d)
{
    return vm_owned(d->src) ? threadcpu_snapshot(d->src->pid, THREADCPU_VCPU_PREFIX) : NULL;
}

/* --baseline-seconds: the same guest, not migrating. Records the source
 * serial offsets and vCPU thread CPU at both ends of the window. */
gboolean run_baseline(Driver *d, GError **error)
{
    Report *r = d->report;
    double secs = d->cfg->baseline_seconds;
    g_autoptr(ThreadCpuSnapshot) cpu0 = NULL;
    g_autoptr(ThreadCpuSnapshot) cpu1 = NULL;

    drv_log("baseline: %.1f s of the guest running without migration", secs);
    d->src_base_start = guestlog_size(d->src->serial_path);
    cpu0 = src_vcpu_snapshot(d);
    if (!watch_sleep(d, (guint)(secs * 1000), error)) {
        return FALSE;
    }
    d->src_base_end = guestlog_size(d->src->serial_path);
    cpu1 = src_vcpu_snapshot(d);
    threadcpu_window_set(&r->vcpu_baseline, cpu0, cpu1);
    if (d->src->serial_path) {
        r->have_baseline = TRUE;
        guestlog_scan(d->src->serial_path, d->src_base_start, d->src_base_end,
                      &r->src_baseline, NULL);
        if (r->src_baseline.have_gap) {
            drv_log("baseline: %u sec lines, max gap %" G_GUINT64_FORMAT " us",
                    r->src_baseline.gap_samples->len, r->src_baseline.max_gap_us);
        } else {
            drv_log("baseline: no 'mig: sec=' lines with gaps in the window");
        }
    }
    return TRUE;
}

gboolean replace_destination(Driver *d, GError **error)
{
    drv_log("%s: %s; starting a fresh destination", d->dst->name,
            vm_alive(d->dst) ? "shutting down" : "already gone");
    g_clear_pointer(&d->dst, vm_free);
    d->dst_expendable = FALSE;
    d->dst = start_vm(d, "dst2", TRUE, error);
    return d->dst && connect_vm(d, d->dst, error) &&
           set_capabilities(d->dst, d->cfg, error) &&
           set_parameters(d->dst, d->cfg, FALSE, error) &&
           set_capabilities(d->src, d->cfg, error) &&
           start_incoming(d, error);
}

/* Both sides' QMP events go to the timeline as they come */
void collect_events(Driver *d)
{
    if (d->src) {
        timeline_collect(d->report->timeline, d->src->qmp, "src");
    }
    if (d->dst) {
        timeline_collect(d->report->timeline, d->dst->qmp, "dst");
    }
}
