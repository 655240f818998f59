/*
 * Where the host's CPU went around the switchover (--trace-cpu): a thread
 * samples every thread of both QEMUs (/proc/<pid>/task/<tid>/schedstat:
 * time run and time waited for a CPU, in ns) every few milliseconds, so
 * a window after the destination's vCPUs ran can be cut out afterwards.
 * A guest that needs 30 ms of CPU to answer but waits as long again for
 * a CPU shows it here, where the fault trace only shows the faults.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define SCHEDTRACE_INTERVAL_MS 5

typedef struct SchedTrace SchedTrace;

/* One thread's share of a window */
typedef struct {
    char *side;          /* "src" or "dst" */
    char *name;          /* comm, e.g. "CPU 0/TCG" */
    double ran_ms;
    double waited_ms;    /* runnable, waiting for a CPU */
} SchedUse;

typedef struct {
    gboolean valid;
    double window_ms;    /* from the first to the last sample used */
    GArray *threads;     /* SchedUse, by side then name */
} SchedWindow;

/* Starts sampling @src_pid and @dst_pid (either may be 0) */
SchedTrace *schedtrace_start(GPid src_pid, GPid dst_pid);
/* CLOCK_REALTIME of the last complete sampling round, 0 before the first */
gint64 schedtrace_last_round_us(SchedTrace *t);
/* Stops sampling and frees everything */
void schedtrace_free(SchedTrace *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SchedTrace, schedtrace_free)

/*
 * What each thread ran and waited between @from_real_us and @to_real_us
 * (CLOCK_REALTIME): its last sample at or before @from_real_us against its
 * last one at or before @to_real_us; a thread born in between counts from
 * its first sample.  Invalid if no sample covers the window.
 */
void schedtrace_window(SchedTrace *t, gint64 from_real_us, gint64 to_real_us,
                       SchedWindow *w);
void schedwindow_clear(SchedWindow *w);

/* "cpu_after_run": {...} or null */
void schedwindow_add_json(const SchedWindow *w, JsonBuilder *b);

/* Parses a schedstat line ("run_ns wait_ns slices"); FALSE if malformed */
gboolean schedtrace_parse(const char *line, guint64 *run_ns, guint64 *wait_ns);
