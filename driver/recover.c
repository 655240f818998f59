/*
 * postcopy-pause: cut the migration connection in postcopy, check that
 * both sides pause rather than fail, and resume on a new connection.
 */
#include <string.h>

#include "driver.h"

/* How many times the driver tries migrate-recover before it gives up */
#define RECOVER_ATTEMPTS 3
/* Both sides still paused this long after migrate resume=true: it failed */
#define RECOVER_STUCK_S 5.0

static const char *migration_status(Vm *vm, GError **error, JsonNode **keep)
{
    *keep = vm_cmd(vm, "query-migrate", NULL, error);
    return *keep ? qmp_get_string(json_node_get_object(*keep), "status", "?") : NULL;
}

/* Until each side's status is one of @want ("|"-separated), or fail */
static gboolean wait_both_status(Driver *d, const char *want, double timeout_s, GError **error)
{
    g_auto(GStrv) wanted = g_strsplit(want, "|", -1);
    gint64 deadline = drv_now_us() + (gint64)(timeout_s * G_USEC_PER_SEC);

    for (;;) {
        g_autoptr(JsonNode) sn = NULL;
        g_autoptr(JsonNode) dn = NULL;
        const char *src = migration_status(d->src, error, &sn);
        const char *dst = src ? migration_status(d->dst, error, &dn) : NULL;

        if (!src || !dst) {
            return FALSE;
        }
        if (g_strv_contains((const char *const *)wanted, src) &&
            g_strv_contains((const char *const *)wanted, dst)) {
            return TRUE;
        }
        if (status_is_terminal(src) && !g_strv_contains((const char *const *)wanted, src)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: the source ended '%s' while waiting for %s", src, want);
            return FALSE;
        }
        if (drv_now_us() > deadline) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "postcopy-pause: source '%s', destination '%s' after %.0f s; expected %s",
                        src, dst, timeout_s, want);
            return FALSE;
        }
        if (!drv_sleep_ms(50, error)) {
            return FALSE;
        }
    }
}

/*
 * migrate-recover on --dst-recover-uri, or on a free port of the
 * destination; the URI, or NULL
 */
static char *start_recover(Driver *d, GError **error)
{
    g_autoptr(GError) last = NULL;

    if (d->cfg->dst_recover_uri) {
        g_autoptr(JsonObject) args = json_object_new();

        json_object_set_string_member(args, "uri", d->cfg->dst_recover_uri);
        if (!vm_cmd_simple(d->dst, "migrate-recover", args, error)) {
            g_prefix_error(error, "migrate-recover: ");
            return NULL;
        }
        return g_strdup(d->cfg->dst_recover_uri);
    }

    for (int i = 0; i < INCOMING_BIND_ATTEMPTS; i++) {
        g_autoptr(JsonObject) args = json_object_new();
        int port = pick_free_port(error);

        if (port < 0) {
            return NULL;
        }
        g_autofree char *try_uri = g_strdup_printf("tcp:127.0.0.1:%d", port);
        json_object_set_string_member(args, "uri", try_uri);
        g_clear_error(&last);
        if (vm_cmd_simple(d->dst, "migrate-recover", args, &last)) {
            return g_steal_pointer(&try_uri);
        }
    }
    g_propagate_prefixed_error(error, g_steal_pointer(&last), "migrate-recover: ");
    return NULL;
}

/*
 * After migrate resume=true: TRUE with *@resumed once both sides run
 * postcopy again (or completed), TRUE with !*@resumed when the attempt
 * failed and both sides paused again, FALSE on anything else.
 */
static gboolean wait_recover_outcome(Driver *d, gboolean *resumed, GError **error)
{
    gint64 t0 = drv_now_us();
    gboolean left_paused = FALSE;

    for (;;) {
        g_autoptr(JsonNode) sn = NULL;
        g_autoptr(JsonNode) dn = NULL;
        const char *src = migration_status(d->src, error, &sn);
        const char *dst = src ? migration_status(d->dst, error, &dn) : NULL;
        double waited = (drv_now_us() - t0) / 1e6;

        if (!src || !dst) {
            return FALSE;
        }
        if (strcmp(src, "postcopy-paused")) {
            left_paused = TRUE;
        }
        if (g_str_equal(src, "postcopy-active") || g_str_equal(src, "completed")) {
            if (g_str_equal(dst, "postcopy-active") || g_str_equal(dst, "completed")) {
                *resumed = TRUE;
                return TRUE;
            }
        } else if (g_str_equal(src, "postcopy-paused") && g_str_equal(dst, "postcopy-paused") &&
                   (left_paused || waited > RECOVER_STUCK_S)) {
            *resumed = FALSE;
            return TRUE;
        } else if (status_is_terminal(src)) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: the source ended '%s' during the recovery", src);
            return FALSE;
        }
        if (waited > 60) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_TIMEOUT,
                        "postcopy-pause: source '%s', destination '%s' 60 s after "
                        "migrate resume=true", src, dst);
            return FALSE;
        }
        if (!drv_sleep_ms(20, error)) {
            return FALSE;
        }
    }
}

/*
 * Cut the migration connection in postcopy (migrate-pause), check that both
 * sides pause instead of failing, and resume on a new connection; a
 * recovery that fails with both sides paused again is retried, as an
 * operator would.
 */
gboolean postcopy_pause_and_recover(Driver *d, MigAttempt *a, gint64 t0, GError **error)
{
    gboolean resumed = FALSE;
    double at;

    a->action_at_s = (drv_now_us() - t0) / 1e6;
    a->action = g_strdup("migrate-pause in postcopy");
    drv_log("scenario: migrate-pause on the source at %.2f s (%.2f s into postcopy)",
            a->action_at_s, a->action_at_s - a->postcopy_at_s);
    if (!vm_cmd_simple(d->src, "migrate-pause", NULL, error) ||
        !wait_both_status(d, "postcopy-paused", 30, error)) {
        return FALSE;
    }
    drv_log("both sides postcopy-paused after %.2f s",
            (drv_now_us() - t0) / 1e6 - a->action_at_s);
    while (!resumed) {
        g_autoptr(JsonObject) args = json_object_new();
        char *uri;

        if (a->recover_attempts == RECOVER_ATTEMPTS) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "postcopy-pause: %d recoveries failed, both sides paused again "
                        "each time (see the source's log)", RECOVER_ATTEMPTS);
            return FALSE;
        }
        a->recover_attempts++;
        uri = start_recover(d, error);
        if (!uri) {
            return FALSE;
        }
        g_free(d->incoming_uri);
        d->incoming_uri = uri;
        json_object_set_string_member(args, "uri",
                                      d->cfg->src_recover_uri ? d->cfg->src_recover_uri : uri);
        json_object_set_boolean_member(args, "resume", TRUE);
        drv_log("recovery %d: migrate-recover on %s; migrate resume=true%s%s",
                a->recover_attempts, uri, d->cfg->src_recover_uri ? " to " : "",
                d->cfg->src_recover_uri ? d->cfg->src_recover_uri : "");
        if (!vm_cmd_simple(d->src, "migrate", args, error) ||
            !wait_recover_outcome(d, &resumed, error)) {
            return FALSE;
        }
        if (!resumed) {
            drv_log("recovery %d failed: both sides postcopy-paused again",
                    a->recover_attempts);
        }
    }
    at = (drv_now_us() - t0) / 1e6;
    a->recovered_at_s = at;
    a->paused_s = at - a->action_at_s;
    drv_log("postcopy resumed at %.2f s, %.2f s after the pause (%d recover attempt%s)",
            at, a->paused_s, a->recover_attempts, a->recover_attempts == 1 ? "" : "s");
    return TRUE;
}
