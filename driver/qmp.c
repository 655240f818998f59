#include "qmp.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

G_DEFINE_QUARK(migaccel-qmp-error-quark, qmp_error)

/* Bounded so a long run that never pops events cannot grow without end. */
#define QMP_MAX_QUEUED_EVENTS 1024
#define QMP_WAIT_SLICE_US     100000

struct QmpClient {
    char *path;
    GSocket *sock;
    GString *rbuf;
    GQueue events;           /* JsonObject* */
    gint64 next_id;
    char *version;
    QmpCancelFunc cancel;
    gpointer cancel_data;
};

static gint64 deadline_from_timeout(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

/* Waits until @cond is ready on the socket, honouring the deadline and the
 * cancel callback. */
static gboolean qmp_wait_io(QmpClient *c, GIOCondition cond, gint64 deadline,
                            GError **error)
{
    for (;;) {
        gint64 slice = QMP_WAIT_SLICE_US;
        g_autoptr(GError) local = NULL;

        if (c->cancel && c->cancel(c->cancel_data)) {
            g_set_error(error, QMP_ERROR, QMP_ERROR_CANCELLED,
                        "QMP %s: cancelled", c->path);
            return FALSE;
        }
        if (deadline >= 0) {
            gint64 left = deadline - g_get_monotonic_time();

            if (left <= 0) {
                g_set_error(error, QMP_ERROR, QMP_ERROR_TIMEOUT,
                            "QMP %s: timed out", c->path);
                return FALSE;
            }
            slice = MIN(slice, left);
        }
        if (g_socket_condition_timed_wait(c->sock, cond | G_IO_HUP | G_IO_ERR,
                                          slice, NULL, &local)) {
            return TRUE;
        }
        if (!g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
            g_set_error(error, QMP_ERROR, QMP_ERROR_IO, "QMP %s: %s",
                        c->path, local->message);
            return FALSE;
        }
    }
}

/* One receive (waiting until @deadline unless @nonblock); with @nonblock,
 * nothing available yet is not an error. */
static gboolean qmp_fill(QmpClient *c, gint64 deadline, gboolean nonblock,
                         GError **error)
{
    char buf[65536];
    gssize n;
    g_autoptr(GError) local = NULL;

    if (!nonblock && !qmp_wait_io(c, G_IO_IN, deadline, error)) {
        return FALSE;
    }
    n = g_socket_receive(c->sock, buf, sizeof(buf), NULL, &local);
    if (n < 0) {
        if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            return TRUE;
        }
        g_set_error(error, QMP_ERROR, QMP_ERROR_IO, "QMP %s: %s", c->path,
                    local->message);
        return FALSE;
    }
    if (n == 0) {
        g_set_error(error, QMP_ERROR, QMP_ERROR_CLOSED,
                    "QMP %s: connection closed (QEMU exited?)", c->path);
        return FALSE;
    }
    g_string_append_len(c->rbuf, buf, n);
    return TRUE;
}

/* Next complete message from the buffer, or NULL (no @error) if none. */
static JsonObject *qmp_take_message(QmpClient *c, GError **error)
{
    for (;;) {
        char *nl = memchr(c->rbuf->str, '\n', c->rbuf->len);
        g_autofree char *line = NULL;
        g_autoptr(JsonParser) parser = NULL;
        JsonNode *root;

        if (!nl) {
            return NULL;
        }
        line = g_strndup(c->rbuf->str, nl - c->rbuf->str);
        g_string_erase(c->rbuf, 0, nl - c->rbuf->str + 1);
        g_strstrip(line);
        if (!*line) {
            continue;
        }
        parser = json_parser_new();
        if (!json_parser_load_from_data(parser, line, -1, error)) {
            g_prefix_error(error, "QMP %s: bad JSON: ", c->path);
            return NULL;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            g_set_error(error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                        "QMP %s: message is not an object: %s", c->path, line);
            return NULL;
        }
        return json_object_ref(json_node_get_object(root));
    }
}

static void qmp_queue_event(QmpClient *c, JsonObject *msg)
{
    if (g_queue_get_length(&c->events) >= QMP_MAX_QUEUED_EVENTS) {
        json_object_unref(g_queue_pop_head(&c->events));
    }
    g_queue_push_tail(&c->events, msg);
}

/* Blocks until a non-event message arrives; events are queued. */
static JsonObject *qmp_read_reply(QmpClient *c, gint64 deadline, GError **error)
{
    for (;;) {
        GError *local = NULL;
        JsonObject *msg = qmp_take_message(c, &local);

        if (local) {
            g_propagate_error(error, local);
            return NULL;
        }
        if (!msg) {
            if (!qmp_fill(c, deadline, FALSE, error)) {
                return NULL;
            }
            continue;
        }
        if (json_object_has_member(msg, "event")) {
            qmp_queue_event(c, msg);
            continue;
        }
        return msg;
    }
}

static gboolean qmp_send(QmpClient *c, const char *data, gsize len,
                         gint64 deadline, GError **error)
{
    while (len > 0) {
        g_autoptr(GError) local = NULL;
        gssize n = g_socket_send(c->sock, data, len, NULL, &local);

        if (n < 0) {
            if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                if (!qmp_wait_io(c, G_IO_OUT, deadline, error)) {
                    return FALSE;
                }
                continue;
            }
            g_set_error(error, QMP_ERROR,
                        g_error_matches(local, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE) ||
                        g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)
                        ? QMP_ERROR_CLOSED : QMP_ERROR_IO,
                        "QMP %s: send: %s", c->path, local->message);
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}

static char *qmp_build_request(const char *command, JsonObject *args, gint64 id)
{
    g_autoptr(JsonObject) req = json_object_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    json_object_set_string_member(req, "execute", command);
    if (args) {
        json_object_set_object_member(req, "arguments", json_object_ref(args));
    }
    json_object_set_int_member(req, "id", id);
    json_node_set_object(root, req);
    text = qmp_node_to_string(root, FALSE);
    return g_strconcat(text, "\n", NULL);
}

static void qmp_set_command_error(const char *command, JsonObject *reply,
                                  GError **error)
{
    JsonNode *err = json_object_get_member(reply, "error");
    JsonObject *eo = err && JSON_NODE_HOLDS_OBJECT(err) ? json_node_get_object(err) : NULL;

    g_set_error(error, QMP_ERROR, QMP_ERROR_COMMAND, "%s: %s (%s)", command,
                eo ? qmp_get_string(eo, "desc", "?") : "?",
                eo ? qmp_get_string(eo, "class", "?") : "?");
}

JsonNode *qmp_client_execute(QmpClient *c, const char *command,
                             JsonObject *args, int timeout_ms, GError **error)
{
    gint64 deadline = deadline_from_timeout(timeout_ms);
    gint64 id = ++c->next_id;
    g_autofree char *req = qmp_build_request(command, args, id);

    if (!qmp_send(c, req, strlen(req), deadline, error)) {
        return NULL;
    }
    for (;;) {
        g_autoptr(JsonObject) reply = qmp_read_reply(c, deadline, error);
        JsonNode *ret;

        if (!reply) {
            return NULL;
        }
        /* Replies to commands we gave up on (timeouts) are stale. */
        if (qmp_get_int(reply, "id", -1) != id) {
            continue;
        }
        if (json_object_has_member(reply, "error")) {
            qmp_set_command_error(command, reply, error);
            return NULL;
        }
        ret = json_object_get_member(reply, "return");
        if (!ret) {
            g_set_error(error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                        "%s: reply has neither return nor error", command);
            return NULL;
        }
        return json_node_copy(ret);
    }
}

gboolean qmp_client_execute_simple(QmpClient *c, const char *command,
                                   JsonObject *args, int timeout_ms,
                                   GError **error)
{
    g_autoptr(JsonNode) ret = qmp_client_execute(c, command, args, timeout_ms, error);

    return ret != NULL;
}

gboolean qmp_client_pump(QmpClient *c, GError **error)
{
    for (;;) {
        gsize before = c->rbuf->len;
        GError *local = NULL;
        JsonObject *msg;
        gboolean got_data;

        if (!qmp_fill(c, 0, TRUE, error)) {
            return FALSE;
        }
        got_data = c->rbuf->len != before;
        while ((msg = qmp_take_message(c, &local))) {
            if (json_object_has_member(msg, "event")) {
                qmp_queue_event(c, msg);
            } else {
                json_object_unref(msg);  /* stale reply */
            }
        }
        if (local) {
            g_propagate_error(error, local);
            return FALSE;
        }
        if (!got_data) {
            return TRUE;
        }
    }
}

JsonObject *qmp_client_pop_event(QmpClient *c, const char *name)
{
    for (GList *l = c->events.head; l; l = l->next) {
        JsonObject *ev = l->data;

        if (!name || g_strcmp0(qmp_get_string(ev, "event", NULL), name) == 0) {
            g_queue_delete_link(&c->events, l);
            return ev;
        }
    }
    return NULL;
}

JsonObject *qmp_client_wait_event(QmpClient *c, const char *name,
                                  int timeout_ms, GError **error)
{
    gint64 deadline = deadline_from_timeout(timeout_ms);

    for (;;) {
        JsonObject *ev = qmp_client_pop_event(c, name);
        GError *local = NULL;
        JsonObject *msg;

        if (ev) {
            return ev;
        }
        if (!qmp_fill(c, deadline, FALSE, error)) {
            return NULL;
        }
        while ((msg = qmp_take_message(c, &local))) {
            if (json_object_has_member(msg, "event")) {
                qmp_queue_event(c, msg);
            } else {
                json_object_unref(msg);
            }
        }
        if (local) {
            g_propagate_error(error, local);
            return NULL;
        }
    }
}

QmpClient *qmp_client_connect(const char *socket_path, int timeout_ms,
                              GError **error)
{
    g_autoptr(QmpClient) c = g_new0(QmpClient, 1);
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(JsonObject) greeting = NULL;
    gint64 deadline = deadline_from_timeout(timeout_ms);

    c->path = g_strdup(socket_path);
    c->rbuf = g_string_new(NULL);
    g_queue_init(&c->events);
    c->sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_DEFAULT, error);
    if (!c->sock) {
        return NULL;
    }
    addr = g_unix_socket_address_new(socket_path);
    if (!g_socket_connect(c->sock, addr, NULL, error)) {
        g_prefix_error(error, "QMP %s: ", socket_path);
        return NULL;
    }
    g_socket_set_blocking(c->sock, FALSE);

    greeting = qmp_read_reply(c, deadline, error);
    if (!greeting) {
        return NULL;
    }
    if (!json_object_has_member(greeting, "QMP")) {
        g_set_error(error, QMP_ERROR, QMP_ERROR_PROTOCOL,
                    "QMP %s: no greeting (is this a QMP socket?)", socket_path);
        return NULL;
    }
    c->version = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                                 qmp_get_int(greeting, "QMP.version.qemu.major", 0),
                                 qmp_get_int(greeting, "QMP.version.qemu.minor", 0),
                                 qmp_get_int(greeting, "QMP.version.qemu.micro", 0));
    if (!qmp_client_execute_simple(c, "qmp_capabilities", NULL,
                                   timeout_ms, error)) {
        return NULL;
    }
    return g_steal_pointer(&c);
}

void qmp_client_free(QmpClient *c)
{
    if (!c) {
        return;
    }
    if (c->sock) {
        g_socket_close(c->sock, NULL);
        g_object_unref(c->sock);
    }
    g_queue_clear_full(&c->events, (GDestroyNotify)json_object_unref);
    if (c->rbuf) {
        g_string_free(c->rbuf, TRUE);
    }
    g_free(c->version);
    g_free(c->path);
    g_free(c);
}

void qmp_client_set_cancel_func(QmpClient *c, QmpCancelFunc func,
                                gpointer user_data)
{
    c->cancel = func;
    c->cancel_data = user_data;
}

const char *qmp_client_get_version(QmpClient *c)
{
    return c->version;
}

const char *qmp_client_get_path(QmpClient *c)
{
    return c->path;
}

JsonNode *qmp_lookup(JsonObject *obj, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    JsonNode *node = NULL;

    for (guint i = 0; obj && parts[i]; i++) {
        node = json_object_get_member(obj, parts[i]);
        if (!node) {
            return NULL;
        }
        obj = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        if (!obj && parts[i + 1]) {
            return NULL;
        }
    }
    return node;
}

gint64 qmp_get_int(JsonObject *obj, const char *path, gint64 def)
{
    JsonNode *n = obj ? qmp_lookup(obj, path) : NULL;
    GType type;

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return def;
    }
    type = json_node_get_value_type(n);
    if (type == G_TYPE_INT64) {
        return json_node_get_int(n);
    }
    if (type == G_TYPE_DOUBLE) {
        return (gint64)json_node_get_double(n);
    }
    return def;
}

double qmp_get_double(JsonObject *obj, const char *path, double def)
{
    JsonNode *n = obj ? qmp_lookup(obj, path) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return def;
    }
    if (json_node_get_value_type(n) == G_TYPE_INT64) {
        return (double)json_node_get_int(n);
    }
    if (json_node_get_value_type(n) == G_TYPE_DOUBLE) {
        return json_node_get_double(n);
    }
    return def;
}

const char *qmp_get_string(JsonObject *obj, const char *path, const char *def)
{
    JsonNode *n = obj ? qmp_lookup(obj, path) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return def;
    }
    return json_node_get_string(n);
}

gboolean qmp_get_bool(JsonObject *obj, const char *path, gboolean def)
{
    JsonNode *n = obj ? qmp_lookup(obj, path) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        return def;
    }
    return json_node_get_boolean(n);
}

char *qmp_node_to_string(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_pretty(gen, pretty);
    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}
