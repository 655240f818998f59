#include "schedtrace.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * 32 MB, some minutes of two QEMUs: a longer migration's later
 * windows are then reported as not covered, never from stale samples
 */
#define MAX_SAMPLES (1u << 20)

typedef struct {
    gint64 real_us;
    int side;            /* 0 src, 1 dst */
    int tid;
    guint64 run_ns;
    guint64 wait_ns;
} Sample;

struct SchedTrace {
    GPid pid[2];
    GThread *thread;
    gint stop;
    GMutex lock;
    GArray *samples;     /* Sample, in time order */
    GHashTable *names;   /* (side << 24 | tid) -> comm */
    gint64 first_round_us, last_round_us;
};

static const char *const side_names[2] = { "src", "dst" };

gboolean schedtrace_parse(const char *line, guint64 *run_ns, guint64 *wait_ns)
{
    char *end;

    *run_ns = g_ascii_strtoull(line, &end, 10);
    if (end == line || *end != ' ') {
        return FALSE;
    }
    line = end + 1;
    *wait_ns = g_ascii_strtoull(line, &end, 10);
    return end != line && (*end == ' ' || *end == '\n' || *end == '\0');
}

/* Small /proc files: one read() with a stack buffer, no allocation */
static gboolean read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return FALSE;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) {
        return FALSE;
    }
    buf[n] = '\0';
    return TRUE;
}

static void sample_pid(SchedTrace *t, int side, gint64 now, gboolean refresh_names)
{
    char path[64], buf[128];
    struct dirent *e;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid[side]);
    dir = opendir(path);
    if (!dir) {
        return;
    }
    while ((e = readdir(dir))) {
        int tid = atoi(e->d_name);
        gpointer key = GINT_TO_POINTER(side << 24 | tid);
        Sample s = { now, side, tid, 0, 0 };

        if (tid <= 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)t->pid[side], tid);
        if (!read_small(path, buf, sizeof(buf)) ||
            !schedtrace_parse(buf, &s.run_ns, &s.wait_ns)) {
            continue;
        }
        g_mutex_lock(&t->lock);
        if (t->samples->len < MAX_SAMPLES) {
            g_array_append_val(t->samples, s);
        }
        /* QEMU names a thread just after creating it: look again now and then */
        if (refresh_names || !g_hash_table_contains(t->names, key)) {
            snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)t->pid[side], tid);
            if (read_small(path, buf, sizeof(buf))) {
                g_hash_table_insert(t->names, key, g_strdup(g_strchomp(buf)));
            }
        }
        g_mutex_unlock(&t->lock);
    }
    closedir(dir);
}

static gpointer sampler(gpointer opaque)
{
    SchedTrace *t = opaque;

    for (guint round = 0; !g_atomic_int_get(&t->stop); round++) {
        gint64 now = g_get_real_time();

        for (int side = 0; side < 2; side++) {
            if (t->pid[side] > 0) {
                sample_pid(t, side, now, round % 20 == 0);
            }
        }
        g_mutex_lock(&t->lock);
        if (t->samples->len >= MAX_SAMPLES) {
            /* full: this round is incomplete, so it is not one */
            g_mutex_unlock(&t->lock);
            break;
        }
        if (!t->first_round_us) {
            t->first_round_us = now;
        }
        t->last_round_us = now;
        g_mutex_unlock(&t->lock);
        g_usleep(SCHEDTRACE_INTERVAL_MS * 1000);
    }
    return NULL;
}

SchedTrace *schedtrace_start(GPid src_pid, GPid dst_pid)
{
    SchedTrace *t = g_new0(SchedTrace, 1);

    t->pid[0] = src_pid;
    t->pid[1] = dst_pid;
    g_mutex_init(&t->lock);
    t->samples = g_array_new(FALSE, FALSE, sizeof(Sample));
    t->names = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    t->thread = g_thread_new("schedtrace", sampler, t);
    return t;
}

gint64 schedtrace_last_round_us(SchedTrace *t)
{
    gint64 us;

    g_mutex_lock(&t->lock);
    us = t->last_round_us;
    g_mutex_unlock(&t->lock);
    return us;
}

void schedtrace_free(SchedTrace *t)
{
    if (!t) {
        return;
    }
    g_atomic_int_set(&t->stop, 1);
    g_thread_join(t->thread);
    g_array_free(t->samples, TRUE);
    g_hash_table_destroy(t->names);
    g_mutex_clear(&t->lock);
    g_free(t);
}

static void use_clear(gpointer p)
{
    SchedUse *u = p;

    g_free(u->side);
    g_free(u->name);
}

static gint use_cmp(gconstpointer a, gconstpointer b)
{
    const SchedUse *x = a, *y = b;
    int c = strcmp(x->side, y->side);

    return c ? c : strcmp(x->name, y->name);
}

typedef struct {
    gboolean have_start, end_after;
    Sample start, end;
} Span;

void schedtrace_window(SchedTrace *t, gint64 from_real_us, gint64 to_real_us, SchedWindow *w)
{
    g_autoptr(GHashTable) spans = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    GHashTableIter it;
    gpointer key, value;
    gint64 first_used = G_MAXINT64, last_used = 0;

    schedwindow_clear(w);
    g_mutex_lock(&t->lock);
    if (!t->first_round_us || t->first_round_us > from_real_us ||
        t->last_round_us < to_real_us || to_real_us <= from_real_us) {
        g_mutex_unlock(&t->lock);
        return;
    }
    for (guint i = 0; i < t->samples->len; i++) {
        const Sample *s = &g_array_index(t->samples, Sample, i);
        gpointer k = GINT_TO_POINTER(s->side << 24 | s->tid);
        Span *sp;

        sp = g_hash_table_lookup(spans, k);
        if (!sp) {
            sp = g_new0(Span, 1);
            g_hash_table_insert(spans, k, sp);
        }
        if (s->real_us <= from_real_us) {
            sp->start = *s;
            sp->have_start = TRUE;
        }
        /* the first sample at or after the window's end, else the last one */
        if (!sp->end_after) {
            sp->end = *s;
            sp->end_after = s->real_us >= to_real_us;
        }
    }
    w->threads = g_array_new(FALSE, TRUE, sizeof(SchedUse));
    g_array_set_clear_func(w->threads, use_clear);
    g_hash_table_iter_init(&it, spans);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        Span *sp = value;
        const char *name = g_hash_table_lookup(t->names, key);
        SchedUse u;
        gint64 begin_us = sp->have_start ? sp->start.real_us : from_real_us;

        /* a thread gone before the window, or that ran nothing in it */
        if (sp->end.real_us <= from_real_us ||
            (sp->have_start && sp->end.run_ns == sp->start.run_ns &&
             sp->end.wait_ns == sp->start.wait_ns)) {
            continue;
        }
        first_used = MIN(first_used, begin_us);
        last_used = MAX(last_used, sp->end.real_us);
        u.side = g_strdup(side_names[sp->end.side]);
        u.name = g_strdup(name ? name : "?");
        u.ran_ms = (sp->end.run_ns - (sp->have_start ? sp->start.run_ns : 0)) / 1e6;
        u.waited_ms = (sp->end.wait_ns - (sp->have_start ? sp->start.wait_ns : 0)) / 1e6;
        g_array_append_val(w->threads, u);
    }
    g_mutex_unlock(&t->lock);
    g_array_sort(w->threads, use_cmp);
    w->valid = w->threads->len > 0;
    w->window_ms = w->valid ? (last_used - first_used) / 1e3 : 0;
}

void schedwindow_clear(SchedWindow *w)
{
    if (w->threads) {
        g_array_free(w->threads, TRUE);
    }
    memset(w, 0, sizeof(*w));
}

void schedwindow_add_json(const SchedWindow *w, JsonBuilder *b)
{
    json_builder_set_member_name(b, "cpu_after_run");
    if (!w->valid) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "window_ms");
    json_builder_add_double_value(b, w->window_ms);
    json_builder_set_member_name(b, "interval_ms");
    json_builder_add_int_value(b, SCHEDTRACE_INTERVAL_MS);
    json_builder_set_member_name(b, "threads");
    json_builder_begin_array(b);
    for (guint i = 0; i < w->threads->len; i++) {
        const SchedUse *u = &g_array_index(w->threads, SchedUse, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "side");
        json_builder_add_string_value(b, u->side);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, u->name);
        json_builder_set_member_name(b, "ran_ms");
        json_builder_add_double_value(b, u->ran_ms);
        json_builder_set_member_name(b, "waited_ms");
        json_builder_add_double_value(b, u->waited_ms);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}
