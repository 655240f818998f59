/* Everything the driver learns during a run (report.c); turned into one
 * JSON document (report-json.c) that --json writes and the text report on
 * stdout is rendered from (report-text.c). */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

#include "guestlog.h"
#include "memverify.h"
#include "netprobe.h"
#include "options.h"
#include "threadcpu.h"
#include "faults.h"
#include "schedtrace.h"
#include "synctrace.h"
#include "timeline.h"

typedef enum {
    CHECK_SKIPPED,
    CHECK_OK,
    CHECK_FAILED,
} CheckState;

/* One query-migrate poll, for the demo's picture (attempts[].samples) */
typedef struct {
    double t_s;              /* since the migrate command, driver clock */
    char status[24];
    gint64 transferred;      /* ram.transferred, bytes */
    gint64 remaining;        /* ram.remaining, bytes */
    gint64 dirty_syncs;      /* ram.dirty-sync-count */
    gint64 dirty_rate;       /* ram.dirty-pages-rate, pages/s */
} MigSample;

typedef struct {
    char *label;             /* "first attempt", "retry", "migration" */
    char *status;            /* last query-migrate status */
    char *error_desc;        /* query-migrate error-desc, if any */
    double wall_s;           /* migrate command .. terminal status, driver clock */
    double action_at_s;      /* when cancel/kill was done; < 0 if not */
    char *action;            /* "migrate_cancel", "SIGKILL destination", NULL */
    double postcopy_at_s;    /* when postcopy started (by us or the source); < 0 if not */
    double recovered_at_s;   /* postcopy-pause: when both sides were active again */
    double paused_s;         /* postcopy-pause: migrate-pause .. resumed */
    int recover_attempts;    /* postcopy-pause: migrate-recover calls made */
    gint64 expected_downtime_ms;  /* last value seen while active; -1 unknown */
    JsonObject *final;       /* last query-migrate reply */
    JsonObject *last_active; /* last reply with RAM stats, if @final has none */
    GArray *samples;         /* MigSample, one per poll */
    gint64 started_real_us;  /* the migrate command, host clock (samples' t = 0) */
} MigAttempt;

typedef struct {
    const Config *cfg;
    char *qemu_version;
    char *run_dir;

    GPtrArray *attempts;     /* MigAttempt*, in order */

    /* cancel / kill-dst */
    CheckState src_survived;
    char *src_survived_detail;

    /* --plugin: qom-get /objects/ma0 stats */
    gboolean accel_queried;
    JsonNode *accel_src;
    JsonNode *accel_dst;
    char *accel_src_error;
    char *accel_dst_error;

    /* guest view from the serial logs */
    gboolean have_src_log;
    gboolean have_dst_log;
    GuestLogStats src_during;   /* during the final migration */
    guint src_corrupt_total;    /* whole source log */
    GuestLogStats dst_after;    /* after switchover (post-run) */
    CheckState guest_check;
    char *guest_detail;

    /* --baseline-seconds: the same guest, not migrating, before migrate */
    gboolean have_baseline;     /* src_baseline was scanned */
    GuestLogStats src_baseline;

    /* host CPU of the source QEMU's vCPU threads (spawned source only):
     * the baseline window and the final migration (migrate .. terminal
     * status, as src_mig_start/src_mig_end) */
    gboolean have_vcpu_cpu;
    ThreadCpuWindow vcpu_baseline;
    ThreadCpuWindow vcpu_migration;

    /* --net-client-netns */
    gboolean have_net;
    NetResult net;
    FaultStats faults;       /* --trace-faults */
    SchedWindow cpu_after_run; /* --trace-cpu */
    SyncStats syncs;         /* --trace-syncs */

    /* QMP events of both sides and the probe's marks, on the host clock */
    Timeline *timeline;

    /* Resident memory of each QEMU once the migration completed (its
     * memory check reads every page, so before it); -1 unknown */
    gint64 src_rss_bytes;
    gint64 dst_rss_bytes;

    /* --verify */
    CheckState verify;
    MemCompare cmp;
    char *verify_error;
    double verify_s;
    guint64 verify_bytes;

    GArray *timings;            /* ReportTiming */

    GPtrArray *failures;        /* char*: why the run failed */
    char *fatal;                /* error that aborted the run */
    gboolean interrupted;
} Report;

typedef struct {
    const char *phase;          /* static string */
    double seconds;
} ReportTiming;

Report *report_new(const Config *cfg);
void report_free(Report *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Report, report_free)

MigAttempt *report_add_attempt(Report *r, const char *label);
MigAttempt *report_final_attempt(Report *r);
void report_add_sample(MigAttempt *a, JsonObject *query_migrate, double t_s);
void report_add_timing(Report *r, const char *phase, double seconds);
void report_fail(Report *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
gboolean report_ok(Report *r);

/* The verify verdict line, e.g. "verify: identical (524288 pages)". */
char *report_verify_line(Report *r);

/* report-json.c: the results document, everything the run found */
JsonNode *report_to_json(Report *r);
gboolean report_write_json(JsonNode *doc, const char *path, GError **error);
/* report-text.c: the text report, rendered from that document */
void report_render_text(JsonObject *doc, gboolean show_stats, FILE *out);
