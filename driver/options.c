#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef MIGACCEL_SOURCE_ROOT
#define MIGACCEL_SOURCE_ROOT ""
#endif
#ifndef MIGACCEL_VERSION
#define MIGACCEL_VERSION "unknown"
#endif

#define DEFAULT_MAX_BANDWIDTH "4294967296"

const char *scenario_name(Scenario s)
{
    switch (s) {
    case SCENARIO_CANCEL: return "cancel";
    case SCENARIO_KILL_DST: return "kill-dst";
    case SCENARIO_DST_REJECTS: return "dst-rejects";
    case SCENARIO_POSTCOPY_PAUSE: return "postcopy-pause";
    default: return "normal";
    }
}

gboolean config_is_bootblock(const Config *cfg)
{
    return cfg->bootblock != NULL || cfg->external_marks;
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
static char *find_repo_dir(void)
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

static gboolean usage_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean usage_error(GError **error, const char *fmt, ...)
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
    if (!s || g_str_equal(s, "normal")) {
        *out = SCENARIO_NORMAL;
    } else if (g_str_equal(s, "cancel")) {
        *out = SCENARIO_CANCEL;
    } else if (g_str_equal(s, "kill-dst")) {
        *out = SCENARIO_KILL_DST;
    } else if (g_str_equal(s, "dst-rejects")) {
        *out = SCENARIO_DST_REJECTS;
    } else if (g_str_equal(s, "postcopy-pause")) {
        *out = SCENARIO_POSTCOPY_PAUSE;
    } else {
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

static gboolean validate(Config *cfg, const char *scenario, const char *bandwidth,
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

gboolean config_parse(Config *cfg, int *argc, char ***argv, GError **error)
{
    g_autofree char *scenario = NULL;
    g_autofree char *bandwidth = NULL;
    g_autofree char *scenario_bandwidth = NULL;
    gboolean version = FALSE;
    const GOptionEntry guest_entries[] = {
        { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &cfg->qemu,
          "QEMU binary (default: <repo>/build/qemu/qemu-system-x86_64)", "BIN" },
        { "dst-qemu", 0, 0, G_OPTION_ARG_FILENAME, &cfg->dst_qemu,
          "QEMU binary of the destination, e.g. another distro's (default: --qemu)", "BIN" },
        { "machine", 0, 0, G_OPTION_ARG_STRING, &cfg->machine,
          "Machine type of both QEMUs, e.g. pc-i440fx-7.2 across versions (default: pc)",
          "TYPE" },
        { "plugin", 0, 0, G_OPTION_ARG_FILENAME, &cfg->plugin,
          "Add -object migration-accel,id=ma0,plugin=PATH to both QEMUs", "PATH" },
        { "accel-prop", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->accel_props,
          "A plugin option for the migration-accel object, passed as args=NAME=VALUE (repeatable)", "NAME=VALUE" },
        { "dst-no-plugin", 0, 0, G_OPTION_ARG_NONE, &cfg->dst_no_plugin,
          "Give only the source the accelerator: the destination is a peer without it", NULL },
        { "src-no-plugin", 0, 0, G_OPTION_ARG_NONE, &cfg->src_no_plugin,
          "Give only the destination the accelerator: the source is a peer without it", NULL },
        { "unload-before-retry", 0, 0, G_OPTION_ARG_NONE, &cfg->unload_before_retry,
          "After the scenario's first attempt, unload the source's accelerator (object-del ma0) "
          "and retry without it", NULL },
        { "kernel", 0, 0, G_OPTION_ARG_FILENAME, &cfg->kernel,
          "Guest kernel (default: <repo>/build/guest/vmlinuz)", "FILE" },
        { "initrd", 0, 0, G_OPTION_ARG_FILENAME, &cfg->initrd,
          "Guest initrd (default with the default kernel: <repo>/build/guest/initramfs.cpio.gz)",
          "FILE" },
        { "append", 0, 0, G_OPTION_ARG_STRING, &cfg->append,
          "Guest kernel command line (default: \"console=ttyS0 quiet\")", "CMDLINE" },
        { "bootblock", 0, 0, G_OPTION_ARG_FILENAME, &cfg->bootblock,
          "Boot-block image instead of a kernel (-drive file=IMG,format=raw,snapshot=on)", "IMG" },
        { "mem", 0, 0, G_OPTION_ARG_STRING, &cfg->mem, "Guest RAM (default: 2G)", "SIZE" },
        { "smp", 0, 0, G_OPTION_ARG_INT, &cfg->smp, "vCPUs (default: 2)", "N" },
        { "accel", 0, 0, G_OPTION_ARG_STRING, &cfg->accel,
          "tcg (multi-threaded) or kvm (default: tcg)", "tcg|kvm" },
        { "qemu-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->qemu_args,
          "Extra QEMU argument for both QEMUs (repeatable)", "ARG" },
        { NULL }
    };
    const GOptionEntry external_entries[] = {
        { "src-qmp", 0, 0, G_OPTION_ARG_FILENAME, &cfg->src_qmp,
          "QMP socket of an already running source QEMU", "PATH" },
        { "dst-qmp", 0, 0, G_OPTION_ARG_FILENAME, &cfg->dst_qmp,
          "QMP socket of an already running destination (-incoming defer, -S)", "PATH" },
        { "dst-uri", 0, 0, G_OPTION_ARG_STRING, &cfg->dst_uri,
          "Migration URI of that destination, e.g. tcp:127.0.0.1:4444", "URI" },
        { "src-uri", 0, 0, G_OPTION_ARG_STRING, &cfg->src_uri,
          "URI the source migrates to, if not --dst-uri: e.g. a proxy in front of it", "URI" },
        { "dst-recover-uri", 0, 0, G_OPTION_ARG_STRING, &cfg->dst_recover_uri,
          "postcopy-pause: the URI the destination's migrate-recover listens on", "URI" },
        { "src-recover-uri", 0, 0, G_OPTION_ARG_STRING, &cfg->src_recover_uri,
          "postcopy-pause: where the source resumes to, if not --dst-recover-uri", "URI" },
        { "src-serial", 0, 0, G_OPTION_ARG_FILENAME, &cfg->src_serial,
          "Serial log of the running source (enables the guest checks)", "FILE" },
        { "dst-serial", 0, 0, G_OPTION_ARG_FILENAME, &cfg->dst_serial,
          "Serial log of the running destination", "FILE" },
        { NULL }
    };
    const GOptionEntry main_entries[] = {
        { "wait-serial", 0, 0, G_OPTION_ARG_STRING, &cfg->wait_serial,
          "Wait for STRING on the source serial before migrating "
          "(default: \"mig: READY\", \"A\" with --bootblock)", "STRING" },
        { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->warmup,
          "Seconds to let the guest run after it is ready (default: 2)", "SECONDS" },
        { "baseline-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->baseline_seconds,
          "After the warmup, measure the guest's per-second write gaps and the source's "
          "vCPU thread CPU time for this long without migrating, as a baseline for the "
          "same numbers during migration (default: 0 = off)", "SECONDS" },
        { "ready-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->ready_timeout,
          "Give up waiting for --wait-serial after this long (default: 300)", "SECONDS" },
        { "max-bandwidth", 0, 0, G_OPTION_ARG_STRING, &bandwidth,
          "Migration bandwidth limit, bytes/s, K/M/G suffixes allowed (default: 4G)", "BYTES_PER_S" },
        { "scenario-bandwidth", 0, 0, G_OPTION_ARG_STRING, &scenario_bandwidth,
          "Bandwidth of the interrupted first attempt of a scenario, so it is still running "
          "when interrupted; the retry uses --max-bandwidth", "BYTES_PER_S" },
        { "downtime-limit", 0, 0, G_OPTION_ARG_INT64, &cfg->downtime_limit,
          "Maximum downtime in ms (default: 300)", "MS" },
        { "converge-after", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->converge_after,
          "Keep precopy iterating this long (with a small --downtime-limit), then raise "
          "the limit to --converge-downtime-limit so it completes (default: off)", "SECONDS" },
        { "converge-downtime-limit", 0, 0, G_OPTION_ARG_INT64, &cfg->converge_downtime_limit,
          "Downtime limit set by --converge-after (default: 10000)", "MS" },
        { "postcopy-after", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->postcopy_after,
          "Turn on postcopy-ram on both sides and switch to postcopy (migrate-start-postcopy) "
          "this long after migrate; the destination stays paused until every page has "
          "arrived, so --verify still compares all of memory (default: off)", "SECONDS" },
        { "postcopy-after-precopy", 0, 0, G_OPTION_ARG_NONE, &cfg->postcopy_after_precopy,
          "As --postcopy-after, but switch once the first pass is done (the second "
          "dirty-bitmap sync), as virsh migrate --postcopy-after-precopy does; QEMU still "
          "completes by precopy if what is left fits its downtime limit", NULL },
        { "capability", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->capabilities,
          "Migration capability on both sides (repeatable; 'events' is always on)", "NAME=on|off" },
        { "param", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->params,
          "Extra migrate-set-parameters value on both sides (repeatable)", "NAME=VALUE" },
        { "migrate-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->migrate_timeout,
          "Cancel and fail if a migration takes longer (default: 600, 0 = never)", "SECONDS" },
        { "scenario", 0, 0, G_OPTION_ARG_STRING, &scenario,
          "normal, cancel (migrate_cancel), kill-dst (SIGKILL the destination) or dst-rejects "
          "(the destination must fail the stream, e.g. with the plugin's x-inject-fault; the "
          "source must keep running) or postcopy-pause (--after seconds into postcopy, "
          "migrate-pause the source; both sides must reach postcopy-paused, then migrate-recover "
          "and migrate resume=true must complete) (default: normal)", "NAME" },
        { "expect-dst-error", 0, 0, G_OPTION_ARG_STRING, &cfg->expect_dst_error,
          "dst-rejects: the destination must exit with stderr matching this regex", "REGEX" },
        { "after", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->after,
          "When the scenario acts, seconds after migrate (default: 1.0)", "SECONDS" },
        { "no-retry", 0, 0, G_OPTION_ARG_NONE, &cfg->no_retry,
          "After cancel/kill-dst, do not migrate again to a fresh destination "
          "(by default the retry is always verified as with --verify)", NULL },
        { "trace-faults", 0, 0, G_OPTION_ARG_NONE, &cfg->trace_faults,
          "Have the destination trace its postcopy page requests (QEMU trace events "
          "postcopy_page_req_add/_del, host-clock stamps): the report gives the page faults "
          "the guest waited on, their count and latency, in the first 100 ms after it ran "
          "and in all", NULL },
        { "trace-syncs", 0, 0, G_OPTION_ARG_NONE, &cfg->trace_syncs,
          "Have the source trace its dirty-bitmap syncs (QEMU trace events "
          "migration_bitmap_sync_start/_end): the report gives their count and time, "
          "the same way with or without the plugin", NULL },
        { "verify", 0, 0, G_OPTION_ARG_NONE, &cfg->verify,
          "Compare per-page digests of source and destination RAM after migration", NULL },
        { "post-run", 0, 0, G_OPTION_ARG_DOUBLE, &cfg->post_run,
          "Seconds to run the destination guest and check its output (default: 3)", "SECONDS" },
        { "net-client-netns", 0, 0, G_OPTION_ARG_STRING, &cfg->net_client_netns,
          "Measure the downtime users feel: from this network namespace (/run/netns/NAME) "
          "ping the guest and keep a TCP echo connection busy across the migration; the "
          "guest gets a virtio-net NIC on --net-src-tap/--net-dst-tap and the destination "
          "runs as soon as it has the state (no -S)", "NAME" },
        { "net-guest-ip", 0, 0, G_OPTION_ARG_STRING, &cfg->net_guest_ip,
          "The guest's static address (kernel parameter mig.ip=)", "ADDR/PREFIX" },
        { "net-mac", 0, 0, G_OPTION_ARG_STRING, &cfg->net_mac,
          "The guest NIC's MAC (default: 52:54:00:13:01:02)", "MAC" },
        { "net-src-tap", 0, 0, G_OPTION_ARG_STRING, &cfg->net_src_tap,
          "Tap device of the source QEMU, a port of a bridge in the driver's namespace", "TAP" },
        { "net-dst-tap", 0, 0, G_OPTION_ARG_STRING, &cfg->net_dst_tap,
          "Tap device of the destination QEMU, on the same bridge", "TAP" },
        { "net-interval", 0, 0, G_OPTION_ARG_INT, &cfg->net_interval_ms,
          "Milliseconds between pings and between TCP messages (default: 10)", "MS" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &cfg->json_path,
          "Also write the report as one JSON object to FILE", "FILE" },
        { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &cfg->run_dir,
          "Use (and keep) DIR for sockets and serial/stderr logs", "DIR" },
        { "keep-dir", 0, 0, G_OPTION_ARG_NONE, &cfg->keep_dir,
          "Keep the temporary run directory", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    GOptionGroup *guest = g_option_group_new("guest", "Guest and QEMU options:",
                                             "Show guest and QEMU options", NULL, NULL);
    GOptionGroup *ext = g_option_group_new("external", "Already running QEMUs:",
                                           "Show options for already running QEMUs", NULL, NULL);

    /* String defaults are filled in after parsing: GOption would leak them. */
    cfg->smp = 2;
    cfg->warmup = 2.0;
    cfg->ready_timeout = 300.0;
    cfg->downtime_limit = 300;
    cfg->converge_downtime_limit = 10000;
    cfg->migrate_timeout = 600.0;
    cfg->after = 1.0;
    cfg->post_run = 3.0;
    cfg->net_interval_ms = 10;

    g_option_context_set_summary(ctx,
        "Live-migrates a guest between two QEMUs over QMP and reports on it.\n"
        "By default starts both QEMUs itself; see --help-all for every option.");
    g_option_context_set_description(ctx,
        "Exit status: 0 if the migration completed and all requested checks\n"
        "passed; 1 on failure; 2 on bad options; 130 when interrupted.");
    g_option_context_add_main_entries(ctx, main_entries, NULL);
    g_option_group_add_entries(guest, guest_entries);
    g_option_group_add_entries(ext, external_entries);
    g_option_context_add_group(ctx, guest);
    g_option_context_add_group(ctx, ext);

    if (!g_option_context_parse(ctx, argc, argv, error)) {
        return FALSE;
    }
    if (version) {
        g_print("migaccel-migrate %s\n", MIGACCEL_VERSION);
        exit(0);
    }
    if (*argc > 1) {
        return usage_error(error, "unexpected argument '%s'", (*argv)[1]);
    }
    if (!bandwidth) {
        bandwidth = g_strdup(DEFAULT_MAX_BANDWIDTH);
    }
    if (!cfg->mem) {
        cfg->mem = g_strdup("2G");
    }
    if (!cfg->accel) {
        cfg->accel = g_strdup("tcg");
    }
    cfg->repo_dir = find_repo_dir();
    if (cfg->run_dir) {
        cfg->keep_dir = TRUE;
    }
    return validate(cfg, scenario, bandwidth, scenario_bandwidth, error);
}

void config_clear(Config *cfg)
{
    g_free(cfg->qemu);
    g_free(cfg->dst_qemu);
    g_free(cfg->machine);
    g_free(cfg->plugin);
    g_strfreev(cfg->accel_props);
    g_free(cfg->expect_dst_error);
    g_free(cfg->kernel);
    g_free(cfg->initrd);
    g_free(cfg->append);
    g_free(cfg->bootblock);
    g_free(cfg->mem);
    g_free(cfg->accel);
    g_strfreev(cfg->qemu_args);
    g_free(cfg->src_qmp);
    g_free(cfg->dst_qmp);
    g_free(cfg->dst_uri);
    g_free(cfg->src_uri);
    g_free(cfg->dst_recover_uri);
    g_free(cfg->src_recover_uri);
    g_free(cfg->src_serial);
    g_free(cfg->dst_serial);
    g_free(cfg->wait_serial);
    g_strfreev(cfg->capabilities);
    g_strfreev(cfg->params);
    g_free(cfg->net_client_netns);
    g_free(cfg->net_guest_ip);
    g_free(cfg->net_guest_addr);
    g_free(cfg->net_mac);
    g_free(cfg->net_src_tap);
    g_free(cfg->net_dst_tap);
    g_free(cfg->json_path);
    g_free(cfg->run_dir);
    g_free(cfg->repo_dir);
    memset(cfg, 0, sizeof(*cfg));
}
