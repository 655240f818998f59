/* Command-line options of migaccel-migrate. */
#pragma once

#include <glib.h>

typedef enum {
    SCENARIO_NORMAL,
    SCENARIO_CANCEL,
    SCENARIO_KILL_DST,
    SCENARIO_DST_REJECTS,    /* the destination must fail the stream itself */
    SCENARIO_POSTCOPY_PAUSE, /* cut the connection in postcopy, then recover */
} Scenario;

typedef struct {
    /* guest / QEMU */
    char *qemu;
    gboolean qemu_given;
    char *dst_qemu;          /* the destination's QEMU, if not --qemu's */
    char *machine;           /* -machine type of both sides */
    char *plugin;
    char **accel_props;      /* key=value, appended to -object migration-accel */
    gboolean dst_no_plugin;  /* the destination QEMU gets no accelerator */
    gboolean src_no_plugin;  /* the source QEMU gets no accelerator */
    gboolean unload_before_retry; /* object-del the source's accelerator before the retry */
    char *expect_dst_error;  /* dst-rejects: regex its stderr must match */
    char *kernel;
    char *initrd;
    char *append;
    char *bootblock;
    char *mem;
    int smp;
    char *accel;             /* "tcg" | "kvm" */
    char **qemu_args;
    char **dst_qemu_args;
    char **src_qemu_args;

    /* already running QEMUs */
    char *src_qmp;
    char *dst_qmp;
    char *dst_uri;
    char *src_uri;           /* where the source sends, if not dst_uri (a proxy) */
    char *dst_recover_uri;   /* external postcopy-pause: migrate-recover's URI */
    char *src_recover_uri;   /* where the source resumes to, if not that */
    char *src_serial;
    char *dst_serial;
    gboolean external;
    gboolean external_marks; /* attached guest prints 'B' marks, not mig: lines */

    /* readiness */
    char *wait_serial;
    double warmup;
    double ready_timeout;
    double baseline_seconds; /* not-migrating window before migrate; 0 = off */

    /* migration */
    guint64 max_bandwidth;
    guint64 scenario_bandwidth; /* first, interrupted attempt; 0 = max_bandwidth */
    gint64 downtime_limit;
    double converge_after;   /* raise the downtime limit after this long; 0 = off */
    gint64 converge_downtime_limit;
    double postcopy_after;   /* migrate-start-postcopy this long after migrate; 0 = off */
    gboolean postcopy_after_precopy; /* ... once the first pass is done */
    char **capabilities;     /* NAME=on|off */
    char **params;           /* NAME=VALUE */
    double migrate_timeout;

    /* scenario */
    Scenario scenario;
    double after;
    gboolean no_retry;

    /* network (--net-client-netns): user-visible downtime */
    char *net_client_netns;
    char *net_guest_ip;      /* ADDR/PREFIX as given */
    char *net_guest_addr;    /* ADDR alone */
    char *net_mac;
    char *net_src_tap;
    char *net_dst_tap;
    int net_interval_ms;

    /* checks and output */
    gboolean trace_faults;   /* the destination traces its postcopy page requests */
    gboolean trace_syncs;    /* the source traces its dirty-bitmap syncs */
    gboolean trace_cpu;      /* sample both QEMUs' threads' run and wait times */
    gboolean verify;
    gboolean dst_runs;       /* no -S: the destination runs from the switch */
    gboolean show_stats;     /* the accelerators' counters in the text report */
    double post_run;
    char *json_path;
    char *run_dir;
    gboolean keep_dir;

    char *repo_dir;          /* NULL if not found */
} Config;

/* options-check.c: the options taken together, after parsing */
gboolean config_validate(Config *cfg, const char *scenario, const char *bandwidth,
                         const char *scenario_bandwidth, GError **error);
gboolean usage_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The source tree this driver was built from, or NULL */
char *find_repo_dir(void);

/* Parses and validates; on error the message is ready for the user. */
gboolean config_parse(Config *cfg, int *argc, char ***argv, GError **error);
void config_clear(Config *cfg);

/* scenario.c's table: the --scenario names */
const char *scenario_name(Scenario s);
gboolean scenario_by_name(const char *name, Scenario *out);
gboolean config_is_bootblock(const Config *cfg);
gboolean config_has_net(const Config *cfg);
/* The destination runs as soon as it has the state (no -S) */
gboolean config_dst_runs(const Config *cfg);
