#include "faults.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    guint64 addr;
    gint64 asked_us;
    gint64 served_us;           /* 0: never */
} Request;

/* "PID@SEC.USEC:postcopy_page_req_add new page req 0xADDR total N" */
static gboolean parse_line(const char *line, gboolean *add, guint64 *addr, gint64 *us)
{
    const char *p;

    if (!drv_trace_line(line, us, &p)) {
        return FALSE;
    }
    if (g_str_has_prefix(p, "postcopy_page_req_add ")) {
        *add = TRUE;
    } else if (g_str_has_prefix(p, "postcopy_page_req_del ")) {
        *add = FALSE;
    } else {
        return FALSE;
    }
    p = strstr(p, " req ");
    if (!p) {
        return FALSE;
    }
    p += 5;
    /* glibc prints a null pointer as "(nil)" */
    *addr = g_str_has_prefix(p, "(nil)") ? 0 : g_ascii_strtoull(p, NULL, 16);
    return TRUE;
}

static double quantile(GArray *sorted, double q)
{
    if (!sorted->len) {
        return 0;
    }
    return g_array_index(sorted, double, (guint)((sorted->len - 1) * q + 0.5));
}

gboolean faults_read(const char *path, gint64 window_start_us, FaultStats *out,
                     GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GArray) reqs = g_array_new(FALSE, TRUE, sizeof(Request));
    g_autoptr(GHashTable) open = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(double));
    g_autoptr(GArray) window = g_array_new(FALSE, FALSE, sizeof(double));
    gint64 window_end_us = window_start_us + FAULT_WINDOW_MS * 1000;

    memset(out, 0, sizeof(*out));
    if (!g_file_get_contents(path, &text, NULL, error)) {
        return FALSE;
    }
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        gboolean add;
        guint64 addr;
        gint64 us;

        if (!parse_line(lines[i], &add, &addr, &us)) {
            continue;
        }
        if (add) {
            Request r = { addr, us, 0 };

            g_array_append_val(reqs, r);
            /* index + 1 of the open request for this page */
            g_hash_table_insert(open, g_memdup2(&addr, sizeof(addr)),
                                GUINT_TO_POINTER(reqs->len));
        } else {
            guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(open, &addr));

            if (idx) {
                g_array_index(reqs, Request, idx - 1).served_us = us;
                g_hash_table_remove(open, &addr);
            }
        }
    }
    out->traced = TRUE;
    out->requests = reqs->len;
    for (guint i = 0; i < reqs->len; i++) {
        const Request *r = &g_array_index(reqs, Request, i);
        double ms = (r->served_us - r->asked_us) / 1000.0;

        gboolean in_window = r->asked_us >= window_start_us && r->asked_us < window_end_us;

        if (!out->first_request_real_us) {
            out->first_request_real_us = r->asked_us;
            out->first_resolved_real_us = r->served_us;
        }
        out->window_requests += in_window;
        if (!r->served_us) {
            continue;
        }
        out->resolved++;
        g_array_append_val(all, ms);
        if (in_window) {
            g_array_append_val(window, ms);
        }
    }
    g_array_sort(all, drv_cmp_double);
    g_array_sort(window, drv_cmp_double);
    out->latency_median_ms = quantile(all, 0.5);
    out->latency_p90_ms = quantile(all, 0.9);
    out->latency_max_ms = all->len ? g_array_index(all, double, all->len - 1) : 0;
    out->window_latency_median_ms = quantile(window, 0.5);
    out->window_latency_max_ms =
        window->len ? g_array_index(window, double, window->len - 1) : 0;
    return TRUE;
}

void faults_add_json(const FaultStats *f, JsonBuilder *b)
{
    json_builder_set_member_name(b, "faults");
    if (!f->traced) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
#define NUM(name, v) do { json_builder_set_member_name(b, name); \
                          json_builder_add_double_value(b, v); } while (0)
#define INT(name, v) do { json_builder_set_member_name(b, name); \
                          json_builder_add_int_value(b, v); } while (0)
    INT("requests", f->requests);
    INT("resolved", f->resolved);
    NUM("latency_median_ms", f->latency_median_ms);
    NUM("latency_p90_ms", f->latency_p90_ms);
    NUM("latency_max_ms", f->latency_max_ms);
    INT("window_ms", FAULT_WINDOW_MS);
    INT("window_requests", f->window_requests);
    NUM("window_latency_median_ms", f->window_latency_median_ms);
    NUM("window_latency_max_ms", f->window_latency_max_ms);
#undef NUM
#undef INT
    json_builder_end_object(b);
}
