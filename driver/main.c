/*
 * migaccel-migrate: starts (or attaches to) a source and a destination
 * QEMU, live-migrates the guest over QMP while showing progress, optionally
 * injects a failure (cancel / kill-dst), verifies guest RAM page by page
 * and the guest's own view of the migration, and reports.
 */
#include <errno.h>
#include <locale.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "faults.h"
#include "guestlog.h"
#include "memverify.h"
#include "netprobe.h"
#include "options.h"
#include "progress.h"
#include "qmp.h"
#include "report.h"
#include "threadcpu.h"
#include "util.h"
#include "vm.h"

#define QMP_TIMEOUT_MS          10000
#define QMP_CONNECT_TIMEOUT_MS  30000
#define SHUTDOWN_TIMEOUT_MS     5000
#define POLL_INTERVAL_MS        100
#define SCENARIO_END_TIMEOUT_S  60.0
#define SURVIVE_WINDOW_MS       2000
#define SURVIVE_GRACE_MS        3000
#define DST_SETTLE_TIMEOUT_S    30.0
#define INCOMING_BIND_ATTEMPTS  5
#define COMPLETION_SETTLE_TRIES 100
#define COMPLETION_SETTLE_MS    20
#define NET_ECHO_PORT           7
#define NET_READY_TIMEOUT_S     30.0
/* After switchover the bridge must forward to the destination this soon. */
#define NET_RELEARN_LIMIT_MS    1000.0
/* Unicast to the guest that still reaches the source's tap one second
 * after switchover: a few broadcasts (ARP) are fine, the ping stream not. */
#define NET_STALE_TAP_PACKETS   5

typedef struct {
    Config *cfg;
    Report *report;
    char *run_dir;
    gboolean created_run_dir;
    Vm *src;
    Vm *dst;
    char *incoming_uri;
    /* the destination was cancelled/killed on purpose: its exit is expected */
    gboolean dst_expendable;
    /* serial offsets bracketing the final migration on the source */
    goffset src_mig_start;
    goffset src_mig_end;
    /* serial offsets bracketing the --baseline-seconds window */
    goffset src_base_start;
    goffset src_base_end;
    NetProbe *net;           /* --net-client-netns, from guest ready to the end */
    char *dst_trace_path;    /* --trace-faults: the latest destination's trace */
    char *src_trace_path;    /* --trace-syncs: the source's trace */
    gboolean src_plugin_unloaded; /* --unload-before-retry did its object-del */
} Driver;

typedef struct {
    gint64 start_us;
} PhaseTimer;

static void phase_begin(PhaseTimer *t)
{
    t->start_us = drv_now_us();
}

static void phase_end(Driver *d, PhaseTimer *t, const char *name)
{
    report_add_timing(d->report, name, (drv_now_us() - t->start_us) / 1e6);
}

/* ---- QEMU command line ------------------------------------------------------ */

/* QEMU option values use ',' as separator; a literal comma is ",,". */
static char *opt_escape(const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);

    return g_strjoinv(",,", parts);
}

static void add_arg(GPtrArray *a, const char *arg)
{
    g_ptr_array_add(a, g_strdup(arg));
}

static void add_argf(GPtrArray *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void add_argf(GPtrArray *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(a, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void add_guest_args(GPtrArray *a, const Config *cfg)
{
    if (cfg->bootblock) {
        g_autofree char *img = opt_escape(cfg->bootblock);

        add_arg(a, "-drive");
        add_argf(a, "file=%s,format=raw,snapshot=on", img);
        return;
    }
    add_arg(a, "-kernel");
    add_arg(a, cfg->kernel);
    if (cfg->initrd) {
        add_arg(a, "-initrd");
        add_arg(a, cfg->initrd);
    }
    if (cfg->append && config_has_net(cfg)) {
        add_arg(a, "-append");
        add_argf(a, "%s mig.ip=%s", cfg->append, cfg->net_guest_ip);
    } else if (cfg->append) {
        add_arg(a, "-append");
        add_arg(a, cfg->append);
    }
}

/* One virtio-net NIC, same MAC on both sides, each QEMU on its own tap. */
static void add_net_args(GPtrArray *a, const Config *cfg, gboolean incoming)
{
    g_autofree char *tap = NULL;

    if (!config_has_net(cfg)) {
        return;
    }
    tap = opt_escape(incoming ? cfg->net_dst_tap : cfg->net_src_tap);
    add_arg(a, "-netdev");
    add_argf(a, "tap,id=net0,ifname=%s,script=no,downscript=no", tap);
    add_arg(a, "-device");
    /* romfile=: no PXE ROM; the guest boots from -kernel */
    add_argf(a, "virtio-net-pci,netdev=net0,mac=%s,romfile=", cfg->net_mac);
}

static void add_plugin_args(GPtrArray *a, const Config *cfg, gboolean incoming)
{
    g_autofree char *plugin = NULL;
    GString *obj;

    if (!cfg->plugin || (incoming ? cfg->dst_no_plugin : cfg->src_no_plugin)) {
        return;
    }
    plugin = opt_escape(cfg->plugin);
    obj = g_string_new(NULL);
    g_string_printf(obj, "migration-accel,id=ma0,plugin=%s", plugin);
    /* Plugin options pass through QEMU unread, as args=NAME=VALUE */
    for (guint i = 0; cfg->accel_props && cfg->accel_props[i]; i++) {
        g_string_append_printf(obj, ",args=%s", cfg->accel_props[i]);
    }
    add_arg(a, "-object");
    g_ptr_array_add(a, g_string_free(obj, FALSE));
}

static GPtrArray *build_qemu_argv(const Config *cfg, const char *qmp_path,
                                  const char *serial_path, const char *trace_path,
                                  gboolean incoming)
{
    static const char *const fault_events[] = { FAULT_TRACE_EVENTS, NULL };
    static const char *const sync_events[] = { SYNC_TRACE_EVENTS, NULL };
    const char *const *events = incoming ? fault_events : sync_events;
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *qmp = opt_escape(qmp_path);
    g_autofree char *serial = opt_escape(serial_path);

    add_arg(a, incoming && cfg->dst_qemu ? cfg->dst_qemu : cfg->qemu);
    add_arg(a, "-nodefaults");
    add_arg(a, "-display");
    add_arg(a, "none");
    add_arg(a, "-machine");
    add_arg(a, cfg->machine);
    add_arg(a, "-L");
    add_arg(a, "/usr/share/qemu");
    /* Debian ships bios-256k.bin in the seabios package; a QEMU built from
     * the dfsg source does not find it in /usr/share/qemu alone. */
    if (g_file_test("/usr/share/seabios", G_FILE_TEST_IS_DIR)) {
        add_arg(a, "-L");
        add_arg(a, "/usr/share/seabios");
    }
    add_arg(a, "-m");
    add_arg(a, cfg->mem);
    add_arg(a, "-smp");
    add_argf(a, "%d", cfg->smp);
    /* Name QEMU's threads ("CPU 0/TCG", "live_migration", ...) so the
     * source's vCPU threads can be told apart in /proc for their CPU time. */
    add_arg(a, "-name");
    add_arg(a, "debug-threads=on");
    add_arg(a, "-accel");
    /* Plain "tcg" means multi-threaded TCG; anything else goes as given. */
    add_arg(a, g_str_equal(cfg->accel, "tcg") ? "tcg,thread=multi" : cfg->accel);
    add_arg(a, "-qmp");
    add_argf(a, "unix:%s,server=on,wait=off", qmp);
    add_arg(a, "-serial");
    add_argf(a, "file:%s", serial);
    add_guest_args(a, cfg);
    add_net_args(a, cfg, incoming);
    add_plugin_args(a, cfg, incoming);
    for (guint i = 0; cfg->qemu_args && cfg->qemu_args[i]; i++) {
        add_arg(a, cfg->qemu_args[i]);
    }
    if (trace_path) {
        /* host-clock stamps, to line up with the QMP events' timestamps */
        add_arg(a, "-msg");
        add_arg(a, "timestamp=on");
        for (size_t i = 0; events[i]; i++) {
            add_arg(a, "-trace");
            add_argf(a, "enable=%s", events[i]);
        }
        add_arg(a, "-D");
        add_arg(a, trace_path);
    }
    if (incoming) {
        add_arg(a, "-incoming");
        add_arg(a, "defer");
        /* Paused at switchover so --verify can compare memory, except when
         * measuring the downtime users feel: then it runs at once. */
        if (!config_has_net(cfg)) {
            add_arg(a, "-S");
        }
    }
    g_ptr_array_add(a, NULL);
    return a;
}

/* ---- run directory ---------------------------------------------------------- */

static gboolean make_run_dir(Driver *d, GError **error)
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

static void remove_run_dir(const char *dir)
{
    g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
    const char *name;

    while (gd && (name = g_dir_read_name(gd))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        g_unlink(path);
    }
    g_rmdir(dir);
}

static char *run_path(Driver *d, const char *vm_name, const char *suffix)
{
    g_autofree char *base = g_strconcat(vm_name, "-", suffix, NULL);

    return g_build_filename(d->run_dir, base, NULL);
}

/* ---- starting and configuring QEMUs ----------------------------------------- */

static Vm *start_vm(Driver *d, const char *name, gboolean incoming, GError **error)
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

static gboolean connect_vm(Driver *d, Vm *vm, GError **error)
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

static JsonNode *vm_cmd(Vm *vm, const char *command, JsonObject *args, GError **error)
{
    JsonNode *ret = qmp_client_execute(vm->qmp, command, args, QMP_TIMEOUT_MS, error);

    if (!ret) {
        vm_error(vm, error);
    }
    return ret;
}

static gboolean vm_cmd_simple(Vm *vm, const char *command, JsonObject *args, GError **error)
{
    g_autoptr(JsonNode) ret = vm_cmd(vm, command, args, error);

    return ret != NULL;
}

static gboolean set_capabilities(Vm *vm, const Config *cfg, GError **error)
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

static gboolean set_parameters(Vm *vm, const Config *cfg, gboolean source, GError **error)
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

static int pick_free_port(GError **error)
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

static gboolean start_incoming(Driver *d, GError **error)
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

static gboolean configure_pair(Driver *d, GError **error)
{
    return set_capabilities(d->src, d->cfg, error) &&
           set_capabilities(d->dst, d->cfg, error) &&
           set_parameters(d->src, d->cfg, TRUE, error) &&
           set_parameters(d->dst, d->cfg, FALSE, error) &&
           start_incoming(d, error);
}

static gboolean start_pair(Driver *d, GError **error)
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

static gboolean check_alive(Vm *vm, GError **error)
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
static gboolean watch_sleep(Driver *d, guint ms, GError **error)
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

static gboolean wait_guest_ready(Driver *d, GError **error)
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
static ThreadCpuSnapshot *src_vcpu_snapshot(Driver *d)
{
    return vm_owned(d->src) ? threadcpu_snapshot(d->src->pid, THREADCPU_VCPU_PREFIX) : NULL;
}

/* --baseline-seconds: the same guest, not migrating. Records the source
 * serial offsets and vCPU thread CPU at both ends of the window. */
static gboolean run_baseline(Driver *d, GError **error)
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

/* ---- migration --------------------------------------------------------------- */

static gboolean status_is_terminal(const char *status)
{
    return g_strcmp0(status, "completed") == 0 || g_strcmp0(status, "failed") == 0 ||
           g_strcmp0(status, "cancelled") == 0;
}

static gboolean do_scenario_action(Driver *d, Scenario action, MigAttempt *a,
                                   double elapsed, GError **error)
{
    a->action_at_s = elapsed;
    d->dst_expendable = TRUE;
    if (action == SCENARIO_CANCEL) {
        a->action = g_strdup("migrate_cancel");
        drv_log("scenario: migrate_cancel at %.2f s", elapsed);
        return vm_cmd_simple(d->src, "migrate_cancel", NULL, error);
    }
    a->action = g_strdup("SIGKILL destination");
    drv_log("scenario: SIGKILL to destination QEMU (pid %d) at %.2f s", d->dst->pid, elapsed);
    vm_kill(d->dst);
    return TRUE;
}

static const char *migration_status(Vm *vm, GError **error, JsonNode **keep)
{
    *keep = vm_cmd(vm, "query-migrate", NULL, error);
    return *keep ? qmp_get_string(json_node_get_object(*keep), "status", "?") : NULL;
}

/* Until each side's status is one of @want ("|"-separated), or fail */
static gboolean wait_both_status(Driver *d, const char *want, double timeout_s, GError **error)
{
    g_auto(GStrv) wanted = g_strsplit(want, "|", -1);
    gint64 deadline = drv_now_us() + (gint64)(timeout_s * G_USEC_PER_SEC);

    for (;;) {
        g_autoptr(JsonNode) sn = NULL;
        g_autoptr(JsonNode) dn = NULL;
        const char *src = migration_status(d->src, error, &sn);
        const char *dst = src ? migration_status(d->dst, error, &dn) : NULL;

        if (!src || !dst) {
            return FALSE;
        }
        if (g_strv_contains((const char *const *)wanted, src) &&
            g_strv_contains((const char *const *)wanted, dst)) {
            return TRUE;
        }
        if (status_is_terminal(src) && !g_strv_contains((const char *const *)wanted, src)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: the source ended '%s' while waiting for %s", src, want);
            return FALSE;
        }
        if (drv_now_us() > deadline) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "postcopy-pause: source '%s', destination '%s' after %.0f s; expected %s",
                        src, dst, timeout_s, want);
            return FALSE;
        }
        if (!drv_sleep_ms(50, error)) {
            return FALSE;
        }
    }
}

/* How many times the driver tries migrate-recover before it gives up */
#define RECOVER_ATTEMPTS 3
/* Both sides still paused this long after migrate resume=true: it failed */
#define RECOVER_STUCK_S 5.0

/*
 * migrate-recover on --dst-recover-uri, or on a free port of the
 * destination; the URI, or NULL
 */
static char *start_recover(Driver *d, GError **error)
{
    g_autoptr(GError) last = NULL;

    if (d->cfg->dst_recover_uri) {
        g_autoptr(JsonObject) args = json_object_new();

        json_object_set_string_member(args, "uri", d->cfg->dst_recover_uri);
        if (!vm_cmd_simple(d->dst, "migrate-recover", args, error)) {
            g_prefix_error(error, "migrate-recover: ");
            return NULL;
        }
        return g_strdup(d->cfg->dst_recover_uri);
    }

    for (int i = 0; i < INCOMING_BIND_ATTEMPTS; i++) {
        g_autoptr(JsonObject) args = json_object_new();
        int port = pick_free_port(error);

        if (port < 0) {
            return NULL;
        }
        g_autofree char *try_uri = g_strdup_printf("tcp:127.0.0.1:%d", port);
        json_object_set_string_member(args, "uri", try_uri);
        g_clear_error(&last);
        if (vm_cmd_simple(d->dst, "migrate-recover", args, &last)) {
            return g_steal_pointer(&try_uri);
        }
    }
    g_propagate_prefixed_error(error, g_steal_pointer(&last), "migrate-recover: ");
    return NULL;
}

/*
 * After migrate resume=true: TRUE with *@resumed once both sides run
 * postcopy again (or completed), TRUE with !*@resumed when the attempt
 * failed and both sides paused again, FALSE on anything else.
 */
static gboolean wait_recover_outcome(Driver *d, gboolean *resumed, GError **error)
{
    gint64 t0 = drv_now_us();
    gboolean left_paused = FALSE;

    for (;;) {
        g_autoptr(JsonNode) sn = NULL;
        g_autoptr(JsonNode) dn = NULL;
        const char *src = migration_status(d->src, error, &sn);
        const char *dst = src ? migration_status(d->dst, error, &dn) : NULL;
        double waited = (drv_now_us() - t0) / 1e6;

        if (!src || !dst) {
            return FALSE;
        }
        if (strcmp(src, "postcopy-paused")) {
            left_paused = TRUE;
        }
        if (g_str_equal(src, "postcopy-active") || g_str_equal(src, "completed")) {
            if (g_str_equal(dst, "postcopy-active") || g_str_equal(dst, "completed")) {
                *resumed = TRUE;
                return TRUE;
            }
        } else if (g_str_equal(src, "postcopy-paused") && g_str_equal(dst, "postcopy-paused") &&
                   (left_paused || waited > RECOVER_STUCK_S)) {
            *resumed = FALSE;
            return TRUE;
        } else if (status_is_terminal(src)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: the source ended '%s' during the recovery", src);
            return FALSE;
        }
        if (waited > 60) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "postcopy-pause: source '%s', destination '%s' 60 s after "
                        "migrate resume=true", src, dst);
            return FALSE;
        }
        if (!drv_sleep_ms(20, error)) {
            return FALSE;
        }
    }
}

/*
 * Cut the migration connection in postcopy (migrate-pause), check that both
 * sides pause instead of failing, and resume on a new connection; a
 * recovery that fails with both sides paused again is retried, as an
 * operator would.
 */
static gboolean postcopy_pause_and_recover(Driver *d, MigAttempt *a, gint64 t0, GError **error)
{
    gboolean resumed = FALSE;
    double at;

    a->action_at_s = (drv_now_us() - t0) / 1e6;
    a->action = g_strdup("migrate-pause in postcopy");
    drv_log("scenario: migrate-pause on the source at %.2f s (%.2f s into postcopy)",
            a->action_at_s, a->action_at_s - a->postcopy_at_s);
    if (!vm_cmd_simple(d->src, "migrate-pause", NULL, error) ||
        !wait_both_status(d, "postcopy-paused", 30, error)) {
        return FALSE;
    }
    drv_log("both sides postcopy-paused after %.2f s",
            (drv_now_us() - t0) / 1e6 - a->action_at_s);
    while (!resumed) {
        g_autoptr(JsonObject) args = json_object_new();
        char *uri;

        if (a->recover_attempts == RECOVER_ATTEMPTS) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: %d recoveries failed, both sides paused again "
                        "each time (see the source's log)", RECOVER_ATTEMPTS);
            return FALSE;
        }
        a->recover_attempts++;
        uri = start_recover(d, error);
        if (!uri) {
            return FALSE;
        }
        g_free(d->incoming_uri);
        d->incoming_uri = uri;
        json_object_set_string_member(args, "uri",
                                      d->cfg->src_recover_uri ? d->cfg->src_recover_uri : uri);
        json_object_set_boolean_member(args, "resume", TRUE);
        drv_log("recovery %d: migrate-recover on %s; migrate resume=true%s%s",
                a->recover_attempts, uri, d->cfg->src_recover_uri ? " to " : "",
                d->cfg->src_recover_uri ? d->cfg->src_recover_uri : "");
        if (!vm_cmd_simple(d->src, "migrate", args, error) ||
            !wait_recover_outcome(d, &resumed, error)) {
            return FALSE;
        }
        if (!resumed) {
            drv_log("recovery %d failed: both sides postcopy-paused again",
                    a->recover_attempts);
        }
    }
    at = (drv_now_us() - t0) / 1e6;
    a->recovered_at_s = at;
    a->paused_s = at - a->action_at_s;
    drv_log("postcopy resumed at %.2f s, %.2f s after the pause (%d recover attempt%s)",
            at, a->paused_s, a->recover_attempts, a->recover_attempts == 1 ? "" : "s");
    return TRUE;
}

/* Both sides' QMP events go to the timeline as they come */
static void collect_events(Driver *d)
{
    if (d->src) {
        timeline_collect(d->report->timeline, d->src->qmp, "src");
    }
    if (d->dst) {
        timeline_collect(d->report->timeline, d->dst->qmp, "dst");
    }
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

/*
 * Issues "migrate" and polls query-migrate every POLL_INTERVAL_MS until a
 * terminal status, applying @action (cancel/kill-dst) after --after
 * seconds. Returns FALSE only for driver-level errors; a failed or
 * cancelled migration is recorded in @a.
 */
static gboolean run_migration(Driver *d, MigAttempt *a, Scenario action, GError **error)
{
    const Config *cfg = d->cfg;
    g_autoptr(JsonObject) args = json_object_new();
    Progress progress;
    gboolean acted = (action == SCENARIO_NORMAL || action == SCENARIO_DST_REJECTS);
    gboolean converging = cfg->converge_after <= 0;
    gboolean ok = FALSE;
    const char *uri;
    gint64 t0, real0;
    g_autoptr(ThreadCpuSnapshot) cpu0 = NULL;
    g_autoptr(ThreadCpuSnapshot) cpu1 = NULL;

    threadcpu_window_clear(&d->report->vcpu_migration);
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
    if (action == SCENARIO_DST_REJECTS) {
        /* Armed before migrate (x-inject-fault): the stream itself is the action */
        a->action = g_strdup("a stream the destination must reject");
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
        if (action == SCENARIO_POSTCOPY_PAUSE && !acted && a->postcopy_at_s >= 0 &&
            elapsed - a->postcopy_at_s >= cfg->after && g_str_equal(status, "postcopy-active")) {
            acted = TRUE;
            if (!postcopy_pause_and_recover(d, a, t0, error)) {
                break;
            }
            continue;
        }
        if (!acted && action != SCENARIO_POSTCOPY_PAUSE && elapsed >= cfg->after) {
            acted = TRUE;
            if (!do_scenario_action(d, action, a, elapsed, error)) {
                break;
            }
        }
        if (acted && action != SCENARIO_NORMAL && action != SCENARIO_POSTCOPY_PAUSE &&
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

/* ---- cancel / kill-dst checks --------------------------------------------------- */

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

static void check_scenario_outcome(Driver *d, MigAttempt *a)
{
    const char *expected = d->cfg->scenario == SCENARIO_CANCEL ? "cancelled" : "failed";

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

static gboolean replace_destination(Driver *d, GError **error)
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

/* ---- after a completed migration ---------------------------------------------- */

/* After an incoming migration with -S the destination leaves "inmigrate"
 * for "paused" from a bottom half; dump-guest-memory refuses before. After
 * postcopy it is "paused" from the switch on, while pages still arrive:
 * then its own migration status must say "completed" too. */
static gboolean wait_dst_settled(Driver *d, gboolean postcopy, GError **error)
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

static void query_accel_stats(Driver *d)
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
static gboolean verify_memory(Driver *d, GError **error)
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

static void scan_source_log(Driver *d)
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
static gboolean post_run(Driver *d, GError **error)
{
    Report *r = d->report;
    goffset off = guestlog_size(d->dst->serial_path);
    g_autoptr(JsonNode) st = NULL;
    JsonObject *so;

    if (config_has_net(d->cfg)) {
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

/* ---- top level ------------------------------------------------------------------ */

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
    a = report_add_attempt(r, cfg->scenario == SCENARIO_NORMAL ? "migration" :
                           cfg->scenario == SCENARIO_CANCEL ? "first attempt (cancel)" :
                           cfg->scenario == SCENARIO_KILL_DST ? "first attempt (kill-dst)" :
                           cfg->scenario == SCENARIO_POSTCOPY_PAUSE ? "migration (paused, recovered)" :
                           "first attempt (dst-rejects)");
    if (!run_migration(d, a, cfg->scenario, error)) {
        return FALSE;
    }
    phase_end(d, &t, "migration");

    if (cfg->scenario == SCENARIO_POSTCOPY_PAUSE && !a->action) {
        report_fail(r, "postcopy-pause: the migration ended '%s' before it was paused (postcopy "
                    "%s); lower --param max-postcopy-bandwidth or --after", a->status,
                    a->postcopy_at_s >= 0 ? "ran too briefly" : "never started");
    } else if (cfg->scenario != SCENARIO_NORMAL && cfg->scenario != SCENARIO_POSTCOPY_PAUSE) {
        check_scenario_outcome(d, a);
        if (cfg->scenario == SCENARIO_DST_REJECTS && g_strcmp0(a->status, "failed") == 0) {
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
        if (!run_migration(d, a, SCENARIO_NORMAL, error)) {
            return FALSE;
        }
        phase_end(d, &t, "retry-migration");
    }
    return finish_migration(d, error);
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

static void finish_net(Driver *d)
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
static void read_sync_trace(Driver *d)
{
    g_autoptr(GError) err = NULL;

    if (d->src_trace_path && !syncs_read(d->src_trace_path, &d->report->syncs, &err)) {
        report_fail(d->report, "--trace-syncs: %s", err->message);
    }
}

/* After the destination exited, so its trace is complete */
static void read_fault_trace(Driver *d)
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

static int exit_code(Driver *d, GError *error)
{
    if (drv_interrupted() ||
        (error && (g_error_matches(error, DRV_ERROR, DRV_ERROR_INTERRUPTED) ||
                   g_error_matches(error, QMP_ERROR, QMP_ERROR_CANCELLED)))) {
        return 130;
    }
    return report_ok(d->report) ? 0 : 1;
}

int main(int argc, char **argv)
{
    Config cfg = { 0 };
    Driver d = { 0 };
    g_autoptr(GError) error = NULL;
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
    read_sync_trace(&d);
    report_add_timing(d.report, "total", (drv_now_us() - t0) / 1e6);
    rc = exit_code(&d, error);

    /* Keep the logs when something went wrong: they explain why. */
    keep = cfg.keep_dir || (rc == 1 && d.run_dir);
    if (d.run_dir && keep) {
        d.report->run_dir = g_strdup(d.run_dir);
    }
    report_print(d.report, stdout);
    if (cfg.json_path) {
        g_autoptr(GError) jerr = NULL;

        if (!report_write_json(d.report, cfg.json_path, &jerr)) {
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
