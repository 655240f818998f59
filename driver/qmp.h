/*
 * Minimal synchronous QMP client over a unix socket (GIO + json-glib).
 *
 * Reusable by any migaccel tool: it knows nothing about migration.
 * One client must be used by one thread at a time; separate clients may
 * be used from separate threads concurrently.
 *
 *   g_autoptr(QmpClient) qmp = qmp_client_connect("/run/x/qmp.sock", 5000, &err);
 *   g_autoptr(JsonNode) ret = qmp_client_execute(qmp, "query-status", NULL, 5000, &err);
 *   gboolean running = qmp_get_bool(json_node_get_object(ret), "running", FALSE);
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

typedef enum {
    QMP_ERROR_COMMAND,   /* QEMU answered with {"error": ...} */
    QMP_ERROR_PROTOCOL,  /* malformed or unexpected message */
    QMP_ERROR_CLOSED,    /* peer closed the connection (QEMU exited?) */
    QMP_ERROR_TIMEOUT,
    QMP_ERROR_CANCELLED, /* the cancel callback returned TRUE */
    QMP_ERROR_IO,
} QmpErrorCode;

typedef struct QmpClient QmpClient;

/* Polled about every 100 ms while waiting; TRUE aborts the wait. */
typedef gboolean (*QmpCancelFunc)(gpointer user_data);

/* Connects, reads the greeting and negotiates capabilities (one attempt:
 * callers that wait for QEMU to create the socket retry themselves). */
QmpClient *qmp_client_connect(const char *socket_path, int timeout_ms,
                              GError **error);
void qmp_client_free(QmpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpClient, qmp_client_free)

void qmp_client_set_cancel_func(QmpClient *client, QmpCancelFunc func,
                                gpointer user_data);

/* "7.2.22" etc., from the greeting. */
const char *qmp_client_get_version(QmpClient *client);
const char *qmp_client_get_path(QmpClient *client);

/*
 * Runs @command with optional @args (transfer none) and returns its
 * "return" value (transfer full), or NULL with @error set.
 * Events received meanwhile are queued. @timeout_ms < 0 waits forever.
 */
JsonNode *qmp_client_execute(QmpClient *client, const char *command,
                             JsonObject *args, int timeout_ms, GError **error);
/* Same, discarding the return value. */
gboolean qmp_client_execute_simple(QmpClient *client, const char *command,
                                   JsonObject *args, int timeout_ms,
                                   GError **error);

/* Reads whatever is already available without blocking (queues events). */
gboolean qmp_client_pump(QmpClient *client, GError **error);
/* Removes and returns the first queued event named @name (any if NULL);
 * the whole message object ({"event", "data", "timestamp"}), transfer full. */
JsonObject *qmp_client_pop_event(QmpClient *client, const char *name);
/* Waits for event @name; transfer full, NULL on error/timeout. */
JsonObject *qmp_client_wait_event(QmpClient *client, const char *name,
                                  int timeout_ms, GError **error);

/* Lookups with dotted paths into nested objects: "ram.transferred". */
JsonNode *qmp_lookup(JsonObject *obj, const char *path);
gint64 qmp_get_int(JsonObject *obj, const char *path, gint64 def);
double qmp_get_double(JsonObject *obj, const char *path, double def);
const char *qmp_get_string(JsonObject *obj, const char *path, const char *def);
gboolean qmp_get_bool(JsonObject *obj, const char *path, gboolean def);

char *qmp_node_to_string(JsonNode *node, gboolean pretty);
