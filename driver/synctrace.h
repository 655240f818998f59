/*
 * The source's dirty-bitmap syncs, timed from QEMU's own trace points
 * (migration_bitmap_sync_start / _end, stamped by -msg timestamp=on):
 * stock QEMU without the plugin is measured the same way as ours.
 */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

/* The source's trace events (-trace enable=NAME) that syncs_read() reads */
#define SYNC_TRACE_EVENTS "migration_bitmap_sync_start", "migration_bitmap_sync_end"

typedef struct {
    gboolean traced;            /* the trace was read */
    guint syncs;                /* start/end pairs */
    double total_ms;            /* time inside syncs, all of them */
    double max_ms;
    double median_ms;
    guint64 dirty_pages;        /* pages the syncs found dirty, summed */
} SyncStats;

/* Reads the trace log at @path; FALSE with @error if it cannot be read */
gboolean syncs_read(const char *path, SyncStats *out, GError **error);
/* "syncs": {...} or null */
void syncs_add_json(const SyncStats *s, JsonBuilder *b);
