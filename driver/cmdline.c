/*
 * The QEMU command line the driver starts each side with: machine, guest,
 * network, accelerator object, serial, QMP, traces, -incoming.
 */
#include <string.h>

#include "driver.h"

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

GPtrArray *build_qemu_argv(const Config *cfg, const char *qmp_path,
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
    for (guint i = 0; incoming && cfg->dst_qemu_args && cfg->dst_qemu_args[i]; i++) {
        add_arg(a, cfg->dst_qemu_args[i]);
    }
    for (guint i = 0; !incoming && cfg->src_qemu_args && cfg->src_qemu_args[i]; i++) {
        add_arg(a, cfg->src_qemu_args[i]);
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
         * measuring the downtime users feel or with --dst-runs: then it runs
         * at once. */
        if (!config_dst_runs(cfg)) {
            add_arg(a, "-S");
        }
    }
    g_ptr_array_add(a, NULL);
    return a;
}
