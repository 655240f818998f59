/*
 * The switchover on one clock.  Both QEMUs stamp their QMP events with the
 * host's CLOCK_REALTIME, and the network probe's marks are converted to it,
 * so the stop, the destination's start and the first ping reply after the
 * switch line up without guessing at transport delays.
 */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

#include "qmp.h"

typedef struct Timeline Timeline;

Timeline *timeline_new(void);
void timeline_free(Timeline *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Timeline, timeline_free)

/* Takes every queued QMP event of @qmp, recording it as coming from @side. */
void timeline_collect(Timeline *t, QmpClient *qmp, const char *side);
/* A mark of the driver's own at @real_us (CLOCK_REALTIME), e.g. "net". */
void timeline_add(Timeline *t, const char *side, const char *what, gint64 real_us);
/*
 * The accelerator's phases from its stats object (qom-get .../stats):
 * each "<phase>_last_begin_real_us" / "_last_end_real_us" becomes the
 * event "accel <phase> begin" / "end".
 */
void timeline_add_accel(Timeline *t, const char *side, JsonNode *stats);

/*
 * Milliseconds from the source's vCPUs stopping for the switch to the
 * first @side event named @what after it; FALSE if either is missing.
 */
gboolean timeline_mark_ms(const Timeline *t, const char *side, const char *what, double *ms);
/*
 * The first @side event named @what at or after @since_us (CLOCK_REALTIME)
 * in *@real_us; FALSE if there is none.
 */
gboolean timeline_find_since(const Timeline *t, const char *side, const char *what,
                             gint64 since_us, gint64 *real_us);
/* As timeline_mark_ms(), the event's own time (CLOCK_REALTIME) */
gboolean timeline_mark_real_us(const Timeline *t, const char *side, const char *what,
                               gint64 *real_us);
/* The reader's name of a marks_ms key ("src STOP": "source vCPUs stop") */
const char *timeline_mark_label(const char *key);
/* "timeline": {"anchor": ..., "marks_ms": {...}, "events": [...]}. */
void timeline_add_json(const Timeline *t, JsonBuilder *b);
