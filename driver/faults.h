/*
 * The page faults the guest waited on after the switch: the destination
 * traces each postcopy page request it sends (postcopy_page_req_add) and
 * the arrival that resolves it (postcopy_page_req_del), stamped with the
 * host clock (-msg timestamp=on), so the faults line up with the
 * switchover timeline.
 */
#pragma once

#include <stdio.h>

#include <json-glib/json-glib.h>

/* The destination's trace events (-trace enable=NAME) that faults_read() reads */
#define FAULT_TRACE_EVENTS "postcopy_page_req_add", "postcopy_page_req_del"

typedef struct {
    gboolean traced;            /* the trace was read */
    guint requests;             /* page requests in all */
    guint resolved;             /* ... whose page arrived */
    double latency_median_ms;   /* request to arrival, resolved ones */
    double latency_p90_ms;
    double latency_max_ms;
    /* requests made within FAULT_WINDOW_MS of @window_start_us */
    guint window_requests;
    double window_latency_median_ms;
    double window_latency_max_ms;
    gint64 first_request_real_us;   /* 0: none */
    gint64 first_resolved_real_us;  /* arrival of the first request's page */
} FaultStats;

#define FAULT_WINDOW_MS 100

/*
 * Reads the trace log at @path; the window starts at @window_start_us
 * (CLOCK_REALTIME, the destination's vCPUs running).  FALSE with @error
 * if the file cannot be read.
 */
gboolean faults_read(const char *path, gint64 window_start_us, FaultStats *out,
                     GError **error);
/* "faults": {...} or null */
void faults_add_json(const FaultStats *f, JsonBuilder *b);
