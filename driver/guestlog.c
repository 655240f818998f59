#include "guestlog.h"

#include <string.h>
#include <sys/stat.h>


void guestlog_stats_init(GuestLogStats *st)
{
    memset(st, 0, sizeof(*st));
    st->corrupt_samples = g_ptr_array_new_with_free_func(g_free);
    st->gap_samples = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
}

void guestlog_stats_clear(GuestLogStats *st)
{
    g_clear_pointer(&st->corrupt_samples, g_ptr_array_unref);
    g_clear_pointer(&st->gap_samples, g_ptr_array_unref);
    g_clear_pointer(&st->first_oops, g_free);
}

goffset guestlog_size(const char *path)
{
    struct stat sb;

    if (!path || stat(path, &sb) < 0) {
        return 0;
    }
    return sb.st_size;
}

/* Reads [start, end) of the file; a serial log is small (a line a second). */
static char *read_range(const char *path, goffset start, goffset end,
                        gsize *len_out, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &data, &len, error)) {
        return NULL;
    }
    if (end < 0 || (gsize)end > len) {
        end = len;
    }
    if (start < 0 || start > end) {
        start = end;
    }
    *len_out = end - start;
    return g_strndup(data + start, end - start);
}

/* Value of "key=" in @line as an unsigned number; FALSE if absent. */
static gboolean field_u64(const char *line, const char *key, guint64 *out)
{
    const char *p = strstr(line, key);

    if (!p) {
        return FALSE;
    }
    p += strlen(key);
    if (!g_ascii_isdigit(*p)) {
        return FALSE;
    }
    *out = g_ascii_strtoull(p, NULL, 10);
    return TRUE;
}

static void scan_sec_line(const char *line, GuestLogStats *st)
{
    const char *g = strstr(line, "gaps_us=");
    GArray *gaps;
    guint64 v;

    st->sec_lines++;
    if (field_u64(line, "sec=", &v)) {
        st->last_sec = v;
    }
    if (field_u64(line, "errors=", &v) && v > st->max_errors) {
        st->max_errors = v;
    }
    if (!g) {
        return;
    }
    /* gaps_us=<g0>,<g1>,... one per workload thread */
    gaps = g_array_new(FALSE, FALSE, sizeof(guint64));
    for (const char *p = g + strlen("gaps_us="); g_ascii_isdigit(*p);) {
        char *end = NULL;

        v = g_ascii_strtoull(p, &end, 10);
        if (!st->have_gap || v > st->max_gap_us) {
            st->max_gap_us = v;
        }
        st->have_gap = TRUE;
        g_array_append_val(gaps, v);
        p = end;
        if (*p != ',') {
            break;
        }
        p++;
    }
    if (gaps->len) {
        g_ptr_array_add(st->gap_samples, gaps);
    } else {
        g_array_unref(gaps);
    }
}

/* Signs that the guest kernel itself crashed (e.g. after corrupted RAM). */
static gboolean is_oops_line(const char *line)
{
    static const char *const marks[] = {
        "Kernel panic", "BUG: ", "Oops", "general protection fault",
        "invalid opcode", "double fault", "segfault at", "Segmentation fault",
    };

    for (guint i = 0; i < G_N_ELEMENTS(marks); i++) {
        if (strstr(line, marks[i])) {
            return TRUE;
        }
    }
    return FALSE;
}

static void scan_line(const char *line, GuestLogStats *st)
{
    const char *m = strstr(line, "mig: ");

    if (!m) {
        if (is_oops_line(line) && st->oops_lines++ == 0) {
            st->first_oops = g_strstrip(g_strdup(line));
        }
        return;
    }
    m += strlen("mig: ");
    /* The workload stopping (crash, bad parameters) is a crash sign too. */
    if ((g_str_has_prefix(m, "EXIT") || g_str_has_prefix(m, "ERROR")) &&
        st->oops_lines++ == 0) {
        st->first_oops = g_strstrip(g_strdup(line));
    }
    if (g_str_has_prefix(m, "sec=")) {
        scan_sec_line(m, st);
    } else if (g_str_has_prefix(m, "CORRUPT")) {
        st->corrupt_lines++;
        if (st->corrupt_samples->len < GUESTLOG_MAX_SAMPLES) {
            g_ptr_array_add(st->corrupt_samples, g_strstrip(g_strdup(m - strlen("mig: "))));
        }
    }
}

gboolean guestlog_scan(const char *path, goffset start, goffset end,
                       GuestLogStats *st, GError **error)
{
    gsize len = 0;
    g_autofree char *data = NULL;
    char *p, *nl;

    /* Back up one byte so we can tell whether @start cuts a line. */
    data = read_range(path, start > 0 ? start - 1 : 0, end, &len, error);
    if (!data) {
        return FALSE;
    }
    /* Boot-block marks are single characters: count from @start exactly. */
    for (char *q = data + (start > 0 && len > 0); *q; q++) {
        st->b_chars += (*q == 'B');
    }
    p = data;
    if (start > 0 && len > 0) {
        if (data[0] == '\n') {
            p = data + 1;
        } else {
            nl = strchr(data, '\n');
            p = nl ? nl + 1 : data + len;
        }
    }
    /* Only complete lines: the last one may still be being written. */
    for (; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        scan_line(p, st);
    }
    return TRUE;
}

gboolean guestlog_contains(const char *path, goffset start, const char *needle)
{
    gsize len = 0;
    g_autofree char *data = read_range(path, start, -1, &len, NULL);

    return data && strstr(data, needle);
}

guint64 guestlog_progress(const char *path, goffset start, gboolean bootblock)
{
    GuestLogStats st;
    guint64 n;

    guestlog_stats_init(&st);
    guestlog_scan(path, start, -1, &st, NULL);
    n = bootblock ? st.b_chars : st.sec_lines;
    guestlog_stats_clear(&st);
    return n;
}
