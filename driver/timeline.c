#include "timeline.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *side;              /* "src", "dst", "net" */
    char *what;              /* "STOP", "RESUME", "MIGRATION completed", ... */
    gint64 real_us;          /* CLOCK_REALTIME */
} TimelineEvent;

struct Timeline {
    GArray *events;          /* TimelineEvent, in arrival order per side */
};

/* What a reader wants to see of the switch, in the order it happens */
static const struct {
    const char *side;
    const char *what;
    const char *label;
} marks[] = {
    { "src", "STOP", "source vCPUs stop" },
    { "src", "MIGRATION device", "source: device state" },
    { "src", "MIGRATION postcopy-active", "source: postcopy started" },
    { "dst", "MIGRATION postcopy-active", "destination: postcopy listening" },
    { "src", "accel postcopy_discard begin", "source: discard sent" },
    { "src", "accel postcopy_discard end", "destination applied the discard" },
    { "dst", "RESUME", "destination vCPUs run" },
    { "dst", "first page fault", "destination: first page fault" },
    { "dst", "first fault served", "destination: its page arrived" },
    { "dst", "MIGRATION completed", "destination: loaded" },
    { "src", "MIGRATION completed", "source: completed" },
    { "net", "last ping reply", "last ping reply before" },
    { "net", "first announce", "destination's first announce" },
    { "net", "first guest frame", "guest's first frame from dst" },
    { "net", "MAC moved", "bridge moved the MAC" },
    { "net", "first ping reply", "first ping reply after" },
};

static void event_clear(gpointer p)
{
    TimelineEvent *e = p;

    g_free(e->side);
    g_free(e->what);
}

Timeline *timeline_new(void)
{
    Timeline *t = g_new0(Timeline, 1);

    t->events = g_array_new(FALSE, TRUE, sizeof(TimelineEvent));
    g_array_set_clear_func(t->events, event_clear);
    return t;
}

void timeline_free(Timeline *t)
{
    if (t) {
        g_array_unref(t->events);
        g_free(t);
    }
}

void timeline_add(Timeline *t, const char *side, const char *what, gint64 real_us)
{
    TimelineEvent e = { g_strdup(side), g_strdup(what), real_us };

    g_array_append_val(t->events, e);
}

void timeline_add_accel(Timeline *t, const char *side, JsonNode *stats)
{
    static const char *const suffixes[] = { "_last_begin_real_us", "_last_end_real_us" };
    static const char *const edges[] = { "begin", "end" };
    g_autoptr(GList) names = NULL;
    JsonObject *obj;

    if (!stats || !JSON_NODE_HOLDS_OBJECT(stats)) {
        return;
    }
    obj = json_node_get_object(stats);
    names = json_object_get_members(obj);
    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;

        for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
            gint64 us = qmp_get_int(obj, name, 0);

            if (us > 0 && g_str_has_suffix(name, suffixes[i])) {
                g_autofree char *phase = g_strndup(name, strlen(name) - strlen(suffixes[i]));
                g_autofree char *what = g_strdup_printf("accel %s %s", phase, edges[i]);

                timeline_add(t, side, what, us);
            }
        }
    }
}

void timeline_collect(Timeline *t, QmpClient *qmp, const char *side)
{
    JsonObject *ev;

    if (!qmp) {
        return;
    }
    qmp_client_pump(qmp, NULL);
    while ((ev = qmp_client_pop_event(qmp, NULL))) {
        const char *name = qmp_get_string(ev, "event", "?");
        gint64 us = qmp_get_int(ev, "timestamp.seconds", 0) * G_USEC_PER_SEC +
                    qmp_get_int(ev, "timestamp.microseconds", 0);
        g_autofree char *what = NULL;

        if (g_str_equal(name, "MIGRATION")) {
            what = g_strdup_printf("MIGRATION %s", qmp_get_string(ev, "data.status", "?"));
        } else {
            what = g_strdup(name);
        }
        timeline_add(t, side, what, us);
        json_object_unref(ev);
    }
}

static const TimelineEvent *find_last(const Timeline *t, const char *side, const char *what,
                                      gint64 before_us)
{
    const TimelineEvent *found = NULL;

    for (guint i = 0; i < t->events->len; i++) {
        const TimelineEvent *e = &g_array_index(t->events, TimelineEvent, i);

        if (g_str_equal(e->side, side) && g_str_equal(e->what, what) &&
            e->real_us <= before_us && (!found || e->real_us >= found->real_us)) {
            found = e;
        }
    }
    return found;
}

gboolean timeline_find_since(const Timeline *t, const char *side, const char *what,
                             gint64 since_us, gint64 *real_us)
{
    const TimelineEvent *found = NULL;

    for (guint i = 0; i < t->events->len; i++) {
        const TimelineEvent *e = &g_array_index(t->events, TimelineEvent, i);

        if (g_str_equal(e->side, side) && g_str_equal(e->what, what) &&
            e->real_us >= since_us && (!found || e->real_us < found->real_us)) {
            found = e;
        }
    }
    if (found) {
        *real_us = found->real_us;
    }
    return found != NULL;
}

/*
 * The source's stop for the switch: its first STOP after the final
 * attempt's setup.  (7.2 announces postcopy-active before it stops the
 * vCPUs, 10.0 after, so the status events cannot bound it.)
 */
static const TimelineEvent *anchor(const Timeline *t)
{
    const TimelineEvent *setup = find_last(t, "src", "MIGRATION setup", G_MAXINT64);
    const TimelineEvent *stop = NULL;

    for (guint i = 0; setup && i < t->events->len; i++) {
        const TimelineEvent *e = &g_array_index(t->events, TimelineEvent, i);

        if (g_str_equal(e->side, "src") && g_str_equal(e->what, "STOP") &&
            e->real_us >= setup->real_us && (!stop || e->real_us < stop->real_us)) {
            stop = e;
        }
    }
    return stop;
}

/* The first @side event named @what of the final attempt */
static const TimelineEvent *first_of_final(const Timeline *t, const char *side,
                                           const char *what)
{
    const TimelineEvent *setup = find_last(t, "src", "MIGRATION setup", G_MAXINT64);
    const TimelineEvent *first = NULL;

    if (!setup) {
        return NULL;
    }
    for (guint i = 0; i < t->events->len; i++) {
        const TimelineEvent *e = &g_array_index(t->events, TimelineEvent, i);

        /* The final attempt's; the probe's marks are only about it */
        if (g_str_equal(e->side, side) && g_str_equal(e->what, what) &&
            (g_str_equal(side, "net") || e->real_us >= setup->real_us) &&
            (!first || e->real_us < first->real_us)) {
            first = e;
        }
    }
    return first;
}

gboolean timeline_mark_ms(const Timeline *t, const char *side, const char *what, double *ms)
{
    const TimelineEvent *a = anchor(t);
    const TimelineEvent *first = a ? first_of_final(t, side, what) : NULL;

    if (!first) {
        return FALSE;
    }
    *ms = (first->real_us - a->real_us) / 1000.0;
    return TRUE;
}

gboolean timeline_mark_real_us(const Timeline *t, const char *side, const char *what,
                               gint64 *real_us)
{
    const TimelineEvent *first = anchor(t) ? first_of_final(t, side, what) : NULL;

    if (first) {
        *real_us = first->real_us;
    }
    return first != NULL;
}


const char *timeline_mark_label(const char *key)
{
    for (size_t i = 0; i < G_N_ELEMENTS(marks); i++) {
        size_t n = strlen(marks[i].side);

        if (!strncmp(key, marks[i].side, n) && key[n] == ' ' && !strcmp(key + n + 1, marks[i].what)) {
            return marks[i].label;
        }
    }
    return key;
}

void timeline_add_json(const Timeline *t, JsonBuilder *b)
{
    const TimelineEvent *a = anchor(t);
    double ms;

    json_builder_set_member_name(b, "timeline");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "anchor_real_us");
    if (a) {
        json_builder_add_int_value(b, a->real_us);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "marks_ms");
    json_builder_begin_object(b);
    for (size_t i = 0; a && i < G_N_ELEMENTS(marks); i++) {
        if (timeline_mark_ms(t, marks[i].side, marks[i].what, &ms)) {
            g_autofree char *key = g_strdup_printf("%s %s", marks[i].side, marks[i].what);

            json_builder_set_member_name(b, key);
            json_builder_add_double_value(b, ms);
        }
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "events");
    json_builder_begin_array(b);
    for (guint i = 0; i < t->events->len; i++) {
        const TimelineEvent *e = &g_array_index(t->events, TimelineEvent, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "side");
        json_builder_add_string_value(b, e->side);
        json_builder_set_member_name(b, "event");
        json_builder_add_string_value(b, e->what);
        json_builder_set_member_name(b, "real_us");
        json_builder_add_int_value(b, e->real_us);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}
