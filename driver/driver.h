/*
 * migaccel-migrate's parts and the one state they share.
 *
 *   main.c      the run, step by step (drive())
 *   cmdline.c   the QEMU command line of each side
 *   launch.c    starting or attaching the QEMUs, QMP, the guest getting ready
 *   migrate.c   one migration attempt: migrate, poll, act, record
 *   scenario.c  the scenarios table: what is done to a migration and checked after
 *   recover.c   postcopy-pause: pause, recover, resume
 *   verify.c    after completion: destination settled, stats, memory compared
 *   judge.c     the guest's and the network's view, traces, the exit code
 *   report*.c   the results: one JSON document, the text rendered from it
 */
#pragma once

#include <json-glib/json-glib.h>

#include "faults.h"
#include "guestlog.h"
#include "memverify.h"
#include "netprobe.h"
#include "options.h"
#include "qmp.h"
#include "report.h"
#include "synctrace.h"
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

typedef struct ScenarioSpec ScenarioSpec;

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
    SchedTrace *sched;       /* --trace-cpu: the latest attempt's sampler */
    gboolean src_plugin_unloaded; /* --unload-before-retry did its object-del */
} Driver;

/* ---- cmdline.c */
GPtrArray *build_qemu_argv(const Config *cfg, const char *qmp_path, const char *serial_path,
                           const char *trace_path, gboolean incoming);

/* ---- launch.c */
gboolean make_run_dir(Driver *d, GError **error);
void remove_run_dir(const char *dir);
/* RUN_DIR/NAME-SUFFIX */
char *run_path(Driver *d, const char *vm_name, const char *suffix);
Vm *start_vm(Driver *d, const char *name, gboolean incoming, GError **error);
gboolean connect_vm(Driver *d, Vm *vm, GError **error);
/* QMP with the VM's name (or its death) in the error */
JsonNode *vm_cmd(Vm *vm, const char *command, JsonObject *args, GError **error);
gboolean vm_cmd_simple(Vm *vm, const char *command, JsonObject *args, GError **error);
gboolean set_capabilities(Vm *vm, const Config *cfg, GError **error);
gboolean set_parameters(Vm *vm, const Config *cfg, gboolean source, GError **error);
int pick_free_port(GError **error);
gboolean start_incoming(Driver *d, GError **error);
gboolean configure_pair(Driver *d, GError **error);
gboolean start_pair(Driver *d, GError **error);
gboolean check_alive(Vm *vm, GError **error);
/* Sleeps while watching both QEMUs, so a crash is reported at once. */
gboolean watch_sleep(Driver *d, guint ms, GError **error);
gboolean wait_guest_ready(Driver *d, GError **error);
ThreadCpuSnapshot *src_vcpu_snapshot(Driver *d);
gboolean run_baseline(Driver *d, GError **error);
gboolean replace_destination(Driver *d, GError **error);
/* Both sides' QMP events go to the timeline as they come */
void collect_events(Driver *d);

/* ---- migrate.c */
gboolean status_is_terminal(const char *status);
/*
 * Issues "migrate" and polls query-migrate every POLL_INTERVAL_MS until a
 * terminal status, doing what @spec says to the migration under way.
 * FALSE only for driver-level errors; a failed or cancelled migration is
 * recorded in @a.
 */
gboolean run_migration(Driver *d, MigAttempt *a, const ScenarioSpec *spec, GError **error);

/* ---- scenario.c */
struct ScenarioSpec {
    Scenario id;
    const char *name;        /* --scenario NAME */
    /* the first attempt's label in the report */
    const char *attempt_label;
    /*
     * Done to the migration under way, --after seconds after migrate (or,
     * with in_postcopy, after the switch to postcopy); NULL: nothing.
     * @t0: the migrate command, drv_now_us().
     */
    gboolean (*act)(Driver *d, MigAttempt *a, gint64 t0, GError **error);
    gboolean act_in_postcopy;
    /* armed before migrate (x-inject-fault): the stream itself is the action */
    const char *armed_action;
    /* the status the first attempt must end with; NULL: no retry follows */
    const char *expected_status;
};

const ScenarioSpec *scenario_spec(Scenario id);
/*
 * After the first attempt of a scenario that expects it to fail: checks,
 * then the retry to a fresh destination. *@done when nothing follows
 * (no retry, or it completed anyway).
 */
gboolean scenario_after_first(Driver *d, const ScenarioSpec *spec, MigAttempt *a,
                              gboolean *done, GError **error);

/* ---- recover.c */
gboolean postcopy_pause_and_recover(Driver *d, MigAttempt *a, gint64 t0, GError **error);

/* ---- verify.c */
gboolean wait_dst_settled(Driver *d, gboolean postcopy, GError **error);
void query_accel_stats(Driver *d);
gboolean verify_memory(Driver *d, GError **error);

/* ---- judge.c */
void scan_source_log(Driver *d);
gboolean post_run(Driver *d, GError **error);
void finish_net(Driver *d);
void read_sync_trace(Driver *d);
void read_fault_trace(Driver *d);
void read_cpu_trace(Driver *d);
int exit_code(Driver *d, GError *error);

/* ---- main.c */
typedef struct {
    gint64 start_us;
} PhaseTimer;

void phase_begin(PhaseTimer *t);
void phase_end(Driver *d, PhaseTimer *t, const char *name);
