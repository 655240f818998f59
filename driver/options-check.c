/*
 * The driver's options checked together once parsed (options.c): which
 * combinations make sense, which files must exist, the defaults that
 * depend on other options. Errors read as usage errors.
 */
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef MIGACCEL_SOURCE_ROOT
#define MIGACCEL_SOURCE_ROOT ""
#endif

gboolean config_is_bootblock(const Config *cfg)
{
    return cfg->bootblock != NULL || cfg->external_marks;
}

gboolean config_dst_runs(const Config *cfg)
{
    return cfg->dst_runs || config_has_net(cfg);
}

gboolean config_has_net(const Config *cfg)
{
    return cfg->net_client_netns != NULL;
}

static gboolean looks_like_repo(const char *dir)
{
    g_autofree char *opts = g_build_filename(dir, "meson_options.txt", NULL);
    g_autofree char *drv = g_build_filename(dir, "driver", NULL);

    return g_file_test(opts, G_FILE_TEST_IS_REGULAR) &&
           g_file_test(drv, G_FILE_TEST_IS_DIR);
}

/* The repo holds build/qemu and build/guest. Look upwards from the
 * executable (in-tree builds), then at the source root meson recorded
 * (out-of-tree build dirs such as /tmp/drvbuild, or installed copies). */
char *find_repo_dir(void)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = exe ? g_path_get_dirname(exe) : NULL;

    for (int depth = 0; dir && depth < 6; depth++) {
        char *parent;

        if (looks_like_repo(dir)) {
            return g_steal_pointer(&dir);
        }
        parent = g_path_get_dirname(dir);
        if (g_strcmp0(parent, dir) == 0) {
            g_free(parent);
            break;
        }
        g_free(dir);
        dir = parent;
    }
    if (*MIGACCEL_SOURCE_ROOT && looks_like_repo(MIGACCEL_SOURCE_ROOT)) {
        return g_strdup(MIGACCEL_SOURCE_ROOT);
    }
    return NULL;
}

gboolean usage_error(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, DRV_ERROR, DRV_ERROR_USAGE, msg);
    return FALSE;
}

static gboolean check_file(const char *what, const char *path, gboolean exec,
                           GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        return usage_error(error, "%s not found: %s", what, path);
    }
    if (exec && access(path, X_OK) != 0) {
        return usage_error(error, "%s is not executable: %s", what, path);
    }
    return TRUE;
}

/* "name=value" with a non-empty name; @allowed (optional) lists values. */
static gboolean check_pairs(const char *opt, char **pairs,
                            const char *const *allowed, GError **error)
{
    for (guint i = 0; pairs && pairs[i]; i++) {
        const char *eq = strchr(pairs[i], '=');

        if (!eq || eq == pairs[i] || (!allowed && !eq[1])) {
            return usage_error(error, "%s expects NAME=VALUE, got '%s'", opt, pairs[i]);
        }
        if (allowed && !g_strv_contains(allowed, eq + 1)) {
            g_autofree char *list = g_strjoinv("|", (char **)allowed);

            return usage_error(error, "%s %s: value must be %s", opt, pairs[i], list);
        }
    }
    return TRUE;
}

static gboolean parse_scenario(const char *s, Scenario *out, GError **error)
{
    if (!s) {
        *out = SCENARIO_NORMAL;
    } else if (!scenario_by_name(s, out)) {
        return usage_error(error, "--scenario must be normal, cancel, kill-dst, dst-rejects or "
                           "postcopy-pause, not '%s'", s);
    }
    return TRUE;
}

static void apply_guest_defaults(Config *cfg)
{
    cfg->qemu_given = cfg->qemu != NULL;
    if (!cfg->machine) {
        cfg->machine = g_strdup("pc");
    }
    if (!cfg->qemu && cfg->repo_dir) {
        cfg->qemu = g_build_filename(cfg->repo_dir, "build", "qemu",
                                     "qemu-system-x86_64", NULL);
    }
    if (!cfg->kernel && !cfg->bootblock && cfg->repo_dir) {
        cfg->kernel = g_build_filename(cfg->repo_dir, "build", "guest", "vmlinuz", NULL);
        if (!cfg->initrd) {
            cfg->initrd = g_build_filename(cfg->repo_dir, "build", "guest",
                                           "initramfs.cpio.gz", NULL);
        }
    }
    if (!cfg->append && cfg->kernel) {
        cfg->append = g_strdup("console=ttyS0 quiet");
    }
    if (!cfg->wait_serial) {
        cfg->wait_serial = g_strdup(cfg->bootblock ? "A" : "mig: READY");
    }
}

static gboolean validate_external(Config *cfg, GError **error)
{
    cfg->external = cfg->src_qmp || cfg->dst_qmp || cfg->dst_uri;
    if (!cfg->external) {
        if (cfg->src_serial || cfg->dst_serial || cfg->src_uri || cfg->dst_recover_uri ||
            cfg->src_recover_uri) {
            return usage_error(error, "--src-serial, --dst-serial, --src-uri and the "
                               "--*-recover-uri options only apply with --src-qmp/--dst-qmp");
        }
        return TRUE;
    }
    if (!cfg->src_qmp || !cfg->dst_qmp || !cfg->dst_uri) {
        return usage_error(error, "--src-qmp, --dst-qmp and --dst-uri must be given together");
    }
    if (cfg->kernel || cfg->bootblock || cfg->initrd || cfg->plugin || cfg->qemu_args ||
        cfg->dst_qemu_args || cfg->src_qemu_args ||
        cfg->qemu || cfg->dst_qemu || cfg->accel_props) {
        return usage_error(error, "guest options (--qemu, --kernel, --bootblock, --plugin, ...) "
                           "cannot be used with already running QEMUs (--src-qmp)");
    }
    if (cfg->scenario == SCENARIO_KILL_DST || cfg->scenario == SCENARIO_DST_REJECTS) {
        return usage_error(error, "--scenario %s needs a destination started by the driver",
                           scenario_name(cfg->scenario));
    }
    /* The driver cannot know which port of a destination elsewhere is free */
    if (cfg->scenario == SCENARIO_POSTCOPY_PAUSE && !cfg->dst_recover_uri) {
        return usage_error(error, "--scenario postcopy-pause with running QEMUs needs "
                           "--dst-recover-uri");
    }
    if (cfg->scenario != SCENARIO_POSTCOPY_PAUSE &&
        (cfg->dst_recover_uri || cfg->src_recover_uri)) {
        return usage_error(error, "--dst-recover-uri and --src-recover-uri only apply with "
                           "--scenario postcopy-pause");
    }
    /* A retry needs a fresh destination, which we cannot start. */
    cfg->no_retry = TRUE;
    if (cfg->src_serial && !cfg->wait_serial) {
        cfg->wait_serial = g_strdup("mig: READY");
    }
    return TRUE;
}

static gboolean validate_guest(Config *cfg, GError **error)
{
    guint64 mem;

    if (cfg->kernel && cfg->bootblock) {
        return usage_error(error, "--kernel and --bootblock are mutually exclusive");
    }
    if ((cfg->initrd || cfg->append) && cfg->bootblock) {
        return usage_error(error, "--initrd/--append need --kernel, not --bootblock");
    }
    if ((cfg->accel_props || cfg->dst_no_plugin || cfg->src_no_plugin ||
         cfg->unload_before_retry) && !cfg->plugin) {
        return usage_error(error, "--accel-prop, --dst-no-plugin, --src-no-plugin and "
                           "--unload-before-retry need --plugin");
    }
    if (cfg->src_no_plugin && cfg->dst_no_plugin) {
        return usage_error(error, "--src-no-plugin with --dst-no-plugin leaves no side with "
                           "the accelerator: drop --plugin instead");
    }
    if (cfg->unload_before_retry && cfg->src_no_plugin) {
        return usage_error(error, "--unload-before-retry needs the accelerator on the source "
                           "(drop --src-no-plugin)");
    }
    if (!check_pairs("--accel-prop", cfg->accel_props, NULL, error)) {
        return FALSE;
    }
    if (!g_str_equal(cfg->accel, "tcg") && !g_str_equal(cfg->accel, "kvm") &&
        !g_str_has_prefix(cfg->accel, "tcg,") && !g_str_has_prefix(cfg->accel, "kvm,")) {
        return usage_error(error, "--accel must be tcg or kvm, optionally with QEMU "
                           "-accel properties (kvm,dirty-ring-size=4096), not '%s'",
                           cfg->accel);
    }
    if (cfg->smp < 1 || cfg->smp > 288) {
        return usage_error(error, "--smp must be between 1 and 288");
    }
    if (!drv_parse_size(cfg->mem, &mem) || mem < (16u << 20)) {
        return usage_error(error, "--mem '%s': expected a size such as 2G or 2048M (>= 16M)",
                           cfg->mem);
    }
    if (!cfg->qemu) {
        return usage_error(error, "cannot find the migaccel repository from the executable "
                           "path: pass --qemu BIN (and --kernel/--bootblock)");
    }
    if (!check_file("QEMU binary (--qemu)", cfg->qemu, TRUE, error)) {
        if (!cfg->qemu_given) {
            g_prefix_error(error, "the patched QEMU is not built yet (scripts/build-qemu.sh), "
                           "or pass --qemu, e.g. build/qemu-stock/qemu-system-x86_64: ");
        }
        return FALSE;
    }
    if (cfg->dst_qemu && !check_file("destination QEMU binary (--dst-qemu)", cfg->dst_qemu,
                                     TRUE, error)) {
        return FALSE;
    }
    if (cfg->kernel && !check_file("guest kernel (--kernel)", cfg->kernel, FALSE, error)) {
        return FALSE;
    }
    if (cfg->initrd && !check_file("guest initrd (--initrd)", cfg->initrd, FALSE, error)) {
        return FALSE;
    }
    if (cfg->bootblock && !check_file("boot block (--bootblock)", cfg->bootblock, FALSE, error)) {
        return FALSE;
    }
    if (cfg->plugin && !check_file("plugin (--plugin)", cfg->plugin, FALSE, error)) {
        return FALSE;
    }
    return TRUE;
}

static gboolean validate_net(Config *cfg, GError **error)
{
    const char *slash;
    guint64 prefix;

    if (cfg->dst_runs && cfg->verify) {
        return usage_error(error, "--verify compares memory with the destination still paused; "
                           "with --dst-runs it runs from the switch on, so memory is checked "
                           "by the guest's own pattern check instead");
    }
    if (cfg->dst_runs && cfg->scenario != SCENARIO_NORMAL) {
        return usage_error(error, "--dst-runs needs the normal scenario: the others compare "
                           "memory after their retry, with the destination paused");
    }

    if (!cfg->net_client_netns) {
        if (cfg->net_guest_ip || cfg->net_src_tap || cfg->net_dst_tap || cfg->net_mac) {
            return usage_error(error, "--net-guest-ip, --net-src-tap, --net-dst-tap and "
                               "--net-mac need --net-client-netns");
        }
        return TRUE;
    }
    if (!cfg->net_guest_ip || !cfg->net_src_tap || !cfg->net_dst_tap) {
        return usage_error(error, "--net-client-netns needs --net-guest-ip, --net-src-tap "
                           "and --net-dst-tap");
    }
    if (cfg->external || cfg->bootblock) {
        return usage_error(error, "--net-client-netns needs the driver to start the QEMUs "
                           "with the kernel guest (it configures the guest's NIC)");
    }
    if (cfg->verify) {
        return usage_error(error, "--verify compares memory with the destination still paused; "
                           "with --net-client-netns the destination runs at once (that is the "
                           "downtime users feel), so memory is checked by the guest's own "
                           "pattern check instead");
    }
    slash = strchr(cfg->net_guest_ip, '/');
    if (!slash || !g_ascii_string_to_unsigned(slash + 1, 10, 8, 30, &prefix, NULL)) {
        return usage_error(error, "--net-guest-ip '%s': expected ADDR/PREFIX, e.g. 10.213.1.2/24",
                           cfg->net_guest_ip);
    }
    cfg->net_guest_addr = g_strndup(cfg->net_guest_ip, slash - cfg->net_guest_ip);
    if (!cfg->net_mac) {
        cfg->net_mac = g_strdup("52:54:00:13:01:02");
    }
    if (cfg->net_interval_ms < 1 || cfg->net_interval_ms > 1000) {
        return usage_error(error, "--net-interval must be between 1 and 1000 ms");
    }
    /* The tap check looks at the second second after switchover. */
    if (cfg->post_run < 2.5) {
        return usage_error(error, "--net-client-netns needs --post-run of at least 2.5 s");
    }
    return TRUE;
}

gboolean config_validate(Config *cfg, const char *scenario, const char *bandwidth,
                         const char *scenario_bandwidth, GError **error)
{
    static const char *const on_off[] = { "on", "off", NULL };

    if (!parse_scenario(scenario, &cfg->scenario, error)) {
        return FALSE;
    }
    if (!drv_parse_size(bandwidth, &cfg->max_bandwidth) || cfg->max_bandwidth == 0) {
        return usage_error(error, "--max-bandwidth '%s': expected bytes per second (e.g. 4G)",
                           bandwidth);
    }
    if (scenario_bandwidth &&
        (!drv_parse_size(scenario_bandwidth, &cfg->scenario_bandwidth) ||
         cfg->scenario_bandwidth == 0)) {
        return usage_error(error, "--scenario-bandwidth '%s': expected bytes per second",
                           scenario_bandwidth);
    }
    if ((cfg->scenario == SCENARIO_DST_REJECTS) != (cfg->expect_dst_error != NULL)) {
        return usage_error(error, "--scenario dst-rejects and --expect-dst-error go together");
    }
    if (cfg->expect_dst_error) {
        g_autoptr(GRegex) re = g_regex_new(cfg->expect_dst_error, 0, 0, error);

        if (!re) {
            return FALSE;
        }
    }
    if (cfg->unload_before_retry &&
        (cfg->scenario != SCENARIO_CANCEL && cfg->scenario != SCENARIO_KILL_DST &&
         cfg->scenario != SCENARIO_DST_REJECTS)) {
        return usage_error(error, "--unload-before-retry needs a retry: --scenario cancel, "
                           "kill-dst or dst-rejects");
    }
    if (cfg->unload_before_retry && cfg->no_retry) {
        return usage_error(error, "--unload-before-retry and --no-retry contradict each other");
    }
    if (scenario_bandwidth && cfg->scenario == SCENARIO_NORMAL) {
        return usage_error(error, "--scenario-bandwidth needs --scenario cancel or kill-dst");
    }
    if (cfg->downtime_limit < 0 || cfg->converge_downtime_limit < 0) {
        return usage_error(error, "--downtime-limit and --converge-downtime-limit must be >= 0");
    }
    if (cfg->converge_after < 0) {
        return usage_error(error, "--converge-after must be >= 0");
    }
    if (!check_pairs("--capability", cfg->capabilities, on_off, error) ||
        !check_pairs("--param", cfg->params, NULL, error)) {
        return FALSE;
    }
    if (cfg->after <= 0 || cfg->warmup < 0 || cfg->post_run < 0 ||
        cfg->ready_timeout <= 0 || cfg->migrate_timeout < 0) {
        return usage_error(error, "--after and --ready-timeout must be > 0; --warmup, "
                           "--post-run and --migrate-timeout >= 0");
    }
    if (cfg->postcopy_after < 0) {
        return usage_error(error, "--postcopy-after must be >= 0");
    }
    if (cfg->postcopy_after > 0 && cfg->postcopy_after_precopy) {
        return usage_error(error, "--postcopy-after and --postcopy-after-precopy are two "
                           "ways to say when to switch: give one");
    }
    if (cfg->postcopy_after_precopy && cfg->scenario == SCENARIO_KILL_DST) {
        return usage_error(error, "--postcopy-after-precopy cannot be combined with --scenario "
                           "kill-dst: a destination killed in postcopy takes the guest with it");
    }
    if (cfg->postcopy_after > 0 && cfg->scenario == SCENARIO_KILL_DST) {
        return usage_error(error, "--postcopy-after cannot be combined with --scenario kill-dst: "
                           "a destination killed in postcopy takes the guest with it");
    }
    if (cfg->baseline_seconds < 0 || cfg->baseline_seconds > 86400) {
        return usage_error(error, "--baseline-seconds must be between 0 and 86400");
    }
    if (!validate_external(cfg, error) || !validate_net(cfg, error)) {
        return FALSE;
    }
    if (cfg->external) {
        return TRUE;
    }
    apply_guest_defaults(cfg);
    return validate_guest(cfg, error);
}
