#include "threadcpu.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void sample_clear(gpointer p)
{
    g_free(((ThreadCpuSample *)p)->name);
}

static void use_clear(gpointer p)
{
    g_free(((ThreadCpuUse *)p)->name);
}

/* utime + stime from a /proc/.../stat line. The comm field is in
 * parentheses and may hold spaces and ')', so parse after the last ')':
 * field 3 (state) follows, utime and stime are fields 14 and 15. */
static gboolean parse_stat_ticks(char *stat, guint64 *ticks)
{
    char *p = strrchr(stat, ')');
    g_auto(GStrv) f = NULL;
    guint64 ut, st;

    if (!p) {
        return FALSE;
    }
    f = g_strsplit(g_strstrip(p + 1), " ", -1);
    if (g_strv_length(f) < 13 ||
        !g_ascii_string_to_unsigned(f[11], 10, 0, G_MAXUINT64, &ut, NULL) ||
        !g_ascii_string_to_unsigned(f[12], 10, 0, G_MAXUINT64, &st, NULL)) {
        return FALSE;
    }
    *ticks = ut + st;
    return TRUE;
}

ThreadCpuSnapshot *threadcpu_snapshot(GPid pid, const char *prefix)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) gd = NULL;
    ThreadCpuSnapshot *s;
    const char *tid;

    if (pid <= 0) {
        return NULL;
    }
    gd = g_dir_open(dir, 0, NULL);
    if (!gd) {
        return NULL;
    }
    s = g_new0(ThreadCpuSnapshot, 1);
    s->at_us = drv_now_us();
    s->threads = g_array_new(FALSE, TRUE, sizeof(ThreadCpuSample));
    g_array_set_clear_func(s->threads, sample_clear);
    while ((tid = g_dir_read_name(gd))) {
        g_autofree char *comm_path = g_build_filename(dir, tid, "comm", NULL);
        g_autofree char *stat_path = g_build_filename(dir, tid, "stat", NULL);
        g_autofree char *comm = NULL;
        g_autofree char *stat = NULL;
        ThreadCpuSample t = { 0 };

        /* A thread may exit between readdir and the reads: skip it. */
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL) ||
            !g_file_get_contents(stat_path, &stat, NULL, NULL)) {
            continue;
        }
        g_strchomp(comm);
        if (prefix && !g_str_has_prefix(comm, prefix)) {
            continue;
        }
        if (!parse_stat_ticks(stat, &t.ticks)) {
            continue;
        }
        t.tid = atoi(tid);
        t.name = g_steal_pointer(&comm);
        g_array_append_val(s->threads, t);
    }
    return s;
}

void threadcpu_snapshot_free(ThreadCpuSnapshot *s)
{
    if (!s) {
        return;
    }
    g_array_unref(s->threads);
    g_free(s);
}

static gint use_cmp(gconstpointer a, gconstpointer b)
{
    const ThreadCpuUse *x = a, *y = b;

    /* "CPU 2/TCG" before "CPU 10/TCG" */
    return strlen(x->name) != strlen(y->name) ? (int)strlen(x->name) - (int)strlen(y->name)
                                              : strcmp(x->name, y->name);
}

void threadcpu_window_set(ThreadCpuWindow *w, const ThreadCpuSnapshot *start,
                          const ThreadCpuSnapshot *end)
{
    double ms_per_tick = 1000.0 / (double)MAX(1L, sysconf(_SC_CLK_TCK));

    threadcpu_window_clear(w);
    if (!start || !end) {
        return;
    }
    w->valid = TRUE;
    w->wall_ms = (end->at_us - start->at_us) / 1000.0;
    w->threads = g_array_new(FALSE, TRUE, sizeof(ThreadCpuUse));
    g_array_set_clear_func(w->threads, use_clear);
    for (guint i = 0; i < end->threads->len; i++) {
        const ThreadCpuSample *e = &g_array_index(end->threads, ThreadCpuSample, i);
        guint64 before = 0;
        ThreadCpuUse u;

        for (guint j = 0; j < start->threads->len; j++) {
            const ThreadCpuSample *b = &g_array_index(start->threads, ThreadCpuSample, j);

            if (b->tid == e->tid) {
                before = b->ticks;
                break;
            }
        }
        u.name = g_strdup(e->name);
        u.cpu_ms = (e->ticks >= before ? e->ticks - before : 0) * ms_per_tick;
        g_array_append_val(w->threads, u);
    }
    g_array_sort(w->threads, use_cmp);
}

void threadcpu_window_clear(ThreadCpuWindow *w)
{
    g_clear_pointer(&w->threads, g_array_unref);
    w->valid = FALSE;
    w->wall_ms = 0;
}
