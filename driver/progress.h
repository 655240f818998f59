/* Live view of a running migration from query-migrate replies: a one-line
 * bar on a terminal, a plain line per second otherwise. */
#pragma once

#include <json-glib/json-glib.h>

typedef struct {
    gboolean tty;
    gboolean drawn;
    gint64 last_plain_us;
} Progress;

void progress_init(Progress *p, gboolean tty);
void progress_update(Progress *p, JsonObject *query_migrate, double elapsed_s);
/* Ends the bar line (if any). */
void progress_finish(Progress *p);
