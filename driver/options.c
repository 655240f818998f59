/*
 * The driver's command line: the option table, its parsing and the
 * Config it fills. The checks run in options-check.c.
 */
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef MIGACCEL_VERSION
#define MIGACCEL_VERSION "unknown"
#endif

#define DEFAULT_MAX_BANDWIDTH "4294967296"

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
        { "src-qemu-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->src_qemu_args,
          "Extra QEMU argument for the source only, after the --qemu-arg ones "
          "(repeatable)", "ARG" },
        { "dst-qemu-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cfg->dst_qemu_args,
          "Extra QEMU argument for the destination only, after the --qemu-arg ones "
          "(repeatable)", "ARG" },
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
        { "trace-cpu", 0, 0, G_OPTION_ARG_NONE, &cfg->trace_cpu,
          "Sample every thread of both QEMUs every 5 ms (/proc schedstat): the report gives "
          "what the destination's vCPUs ran and how long they waited for a CPU in the first "
          "100 ms after they ran, and what the other threads ran", NULL },
        { "trace-syncs", 0, 0, G_OPTION_ARG_NONE, &cfg->trace_syncs,
          "Have the source trace its dirty-bitmap syncs (QEMU trace events "
          "migration_bitmap_sync_start/_end): the report gives their count and time, "
          "the same way with or without the plugin", NULL },
        { "show-stats", 0, 0, G_OPTION_ARG_NONE, &cfg->show_stats,
          "Print both accelerators' counters in the text report (--json always has them)",
          NULL },
        { "dst-runs", 0, 0, G_OPTION_ARG_NONE, &cfg->dst_runs,
          "Start the destination without -S: its guest runs from the switch on, as a real "
          "migration's does, faulting pages over in postcopy; memory is then checked by the "
          "guest's own pattern check (not with --verify)", NULL },
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
    return config_validate(cfg, scenario, bandwidth, scenario_bandwidth, error);
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
    g_strfreev(cfg->dst_qemu_args);
    g_strfreev(cfg->src_qemu_args);
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
