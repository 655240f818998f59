/* Parsing of the guest workload's serial output:
 *   mig: READY threads=N hot_mb=M mbps=R xmc=X
 *   mig: sec=<s> writes=<n> gaps_us=<g0>,<g1>,... errors=<e>
 *   mig: CORRUPT thread=... page=... expected_seq=... found_seq=... offset=...
 * and of the boot-block guest, which prints 'A' once ready, then 'B's. */
#pragma once

#include <glib.h>

#define GUESTLOG_MAX_SAMPLES 5

typedef struct {
    guint sec_lines;
    guint corrupt_lines;
    gboolean have_gap;
    guint64 max_gap_us;
    guint64 max_errors;     /* largest errors= value seen */
    guint64 last_sec;       /* sec= of the last line */
    guint64 b_chars;        /* boot-block progress marks */
    guint oops_lines;       /* crash signs: "BUG:", "Kernel panic", "mig: EXIT", ... */
    char *first_oops;       /* the first of them */
    GPtrArray *corrupt_samples;  /* first few CORRUPT lines (char*) */
    /* One GArray of guint64 per sec line with a gaps_us= field, in log
     * order: that line's gaps (us), one per workload thread. */
    GPtrArray *gap_samples;
} GuestLogStats;

void guestlog_stats_init(GuestLogStats *st);
void guestlog_stats_clear(GuestLogStats *st);

/* Current size of the log (0 if missing). */
goffset guestlog_size(const char *path);

/* Scans [start, end) (end < 0: to EOF). Lines cut by @start are skipped;
 * lines starting before @end are included. */
gboolean guestlog_scan(const char *path, goffset start, goffset end,
                       GuestLogStats *st, GError **error);

/* TRUE if @needle occurs in the log at or after @start. */
gboolean guestlog_contains(const char *path, goffset start, const char *needle);

/* A monotonically growing "guest is alive" counter: sec lines for kernel
 * guests, 'B' characters for the boot block. */
guint64 guestlog_progress(const char *path, goffset start, gboolean bootblock);
