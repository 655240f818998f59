/* Host CPU time of a process's threads from /proc/<pid>/task/<tid>/{comm,stat}:
 * snapshots taken at two points give the CPU each thread used in between. */
#pragma once

#include <glib.h>

typedef struct {
    int tid;
    char *name;          /* comm, e.g. "CPU 0/TCG" */
    guint64 ticks;       /* utime + stime, clock ticks */
} ThreadCpuSample;

typedef struct {
    gint64 at_us;        /* drv_now_us() when taken */
    GArray *threads;     /* ThreadCpuSample, by tid */
} ThreadCpuSnapshot;

typedef struct {
    char *name;
    double cpu_ms;
} ThreadCpuUse;

typedef struct {
    gboolean valid;
    double wall_ms;
    GArray *threads;     /* ThreadCpuUse */
} ThreadCpuWindow;

/* QEMU names its vCPU threads "CPU <n>/TCG", "CPU <n>/KVM". */
#define THREADCPU_VCPU_PREFIX "CPU "

/* Threads of @pid whose comm starts with @prefix (NULL: all). NULL if
 * /proc/<pid>/task cannot be read (process gone). */
ThreadCpuSnapshot *threadcpu_snapshot(GPid pid, const char *prefix);
void threadcpu_snapshot_free(ThreadCpuSnapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ThreadCpuSnapshot, threadcpu_snapshot_free)

/* Fills @w with the CPU each thread of @end used since @start (threads
 * missing from @start started in between and count from 0), sorted by name.
 * Invalid if either snapshot is NULL. */
void threadcpu_window_set(ThreadCpuWindow *w, const ThreadCpuSnapshot *start,
                          const ThreadCpuSnapshot *end);
void threadcpu_window_clear(ThreadCpuWindow *w);
