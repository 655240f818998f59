#include "synctrace.h"

#include <string.h>

#include "util.h"

/* "PID@SEC.USEC:migration_bitmap_sync_end dirty_pages N" */
static gboolean parse_line(const char *line, gboolean *start, guint64 *dirty, gint64 *us)
{
    const char *p;

    if (!drv_trace_line(line, us, &p)) {
        return FALSE;
    }
    *dirty = 0;
    if (g_str_has_prefix(p, "migration_bitmap_sync_start")) {
        *start = TRUE;
    } else if (g_str_has_prefix(p, "migration_bitmap_sync_end")) {
        const char *n = strstr(p, "dirty_pages ");

        *start = FALSE;
        *dirty = n ? g_ascii_strtoull(n + strlen("dirty_pages "), NULL, 10) : 0;
    } else {
        return FALSE;
    }
    return TRUE;
}

gboolean syncs_read(const char *path, SyncStats *out, GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) times = g_array_new(FALSE, FALSE, sizeof(double));
    gint64 open_us = -1;

    memset(out, 0, sizeof(*out));
    if (!g_file_get_contents(path, &text, NULL, error)) {
        return FALSE;
    }
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        gboolean start;
        guint64 dirty;
        gint64 us;

        if (!parse_line(lines[i], &start, &dirty, &us)) {
            continue;
        }
        if (start) {
            open_us = us;
        } else if (open_us >= 0) {
            double ms = (us - open_us) / 1000.0;

            g_array_append_val(times, ms);
            out->total_ms += ms;
            out->max_ms = MAX(out->max_ms, ms);
            out->dirty_pages += dirty;
            open_us = -1;
        }
    }
    out->traced = TRUE;
    out->syncs = times->len;
    if (times->len) {
        g_array_sort(times, drv_cmp_double);
        out->median_ms = g_array_index(times, double, times->len / 2);
    }
    return TRUE;
}

void syncs_add_json(const SyncStats *s, JsonBuilder *b)
{
    json_builder_set_member_name(b, "syncs");
    if (!s->traced) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "count");
    json_builder_add_int_value(b, s->syncs);
    json_builder_set_member_name(b, "total_ms");
    json_builder_add_double_value(b, s->total_ms);
    json_builder_set_member_name(b, "median_ms");
    json_builder_add_double_value(b, s->median_ms);
    json_builder_set_member_name(b, "max_ms");
    json_builder_add_double_value(b, s->max_ms);
    json_builder_set_member_name(b, "dirty_pages");
    json_builder_add_int_value(b, (gint64)s->dirty_pages);
    json_builder_end_object(b);
}
