#include "options.h"

#include <errno.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct OptionSpec {
    /* Values this version implements */
    const char *implemented[8];
    /* Index of the default in implemented[] */
    int default_value;
    /* Values that name features later versions implement */
    const char *planned[4];
    /* A number option instead (implemented[] empty): its range and default */
    bool number;
    long min, max, default_number;
} OptionSpec;

/*
 * Loading the plugin turns the accelerations on; each stock behaviour is
 * the option's first value.  switchover=bitmap and transport=io_uring fall
 * back, saying so, where postcopy-ram or io_uring is missing.
 */
static const OptionSpec specs[MIGACCEL_OPT__MAX] = {
    [MIGACCEL_OPT_TRACE_INSTALL] = {
        { "stock", "loose" }, 1, { 0 } },
    [MIGACCEL_OPT_WP_GRANULARITY] = {
        { "4K", "2M", "1G" }, 2, { 0 } },
    [MIGACCEL_OPT_SWITCHOVER] = {
        { "precopy", "bitmap" }, 1, { 0 } },
    [MIGACCEL_OPT_TRANSPORT] = {
        { "socket", "io_uring" }, 1, { 0 } },
    /*
     * With switchover=bitmap, QEMU may still complete by precopy when that
     * is expected to stop the guest at most this long.  20 ms keeps the gap
     * users feel within the bitmap switchover's, and such a completion
     * leaves no postcopy phase: no faulted pages, no guest split across two
     * hosts.  QEMU's own limit (downtime-limit, 300 ms by default) still
     * applies; 0 never completes by precopy while postcopy can start.
     */
    [MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS] = {
        { 0 }, 0, { 0 }, .number = true, .min = 0, .max = 2000000,
        .default_number = 20 },
    /*
     * "populated": the first pass leaves out pages the source's host never
     * populated, when the destination says it reads unsent pages as zero
     */
    [MIGACCEL_OPT_FIRST_PASS] = {
        { "all", "populated" }, 1, { 0 } },
    /*
     * With switchover=bitmap: the most precopy passes before the switch.
     * A further pass is made only while the last one left at most half of
     * what it had to send: each leaves fewer pages for the guest to fault
     * on after the switch, and a guest that dirties faster than the link
     * costs one pass at most.  1 switches right after the first pass.
     */
    [MIGACCEL_OPT_PRECOPY_MAX_PASSES] = {
        { 0 }, 0, { 0 }, .number = true, .min = 1, .max = 64,
        .default_number = 8 },
    /*
     * Once postcopy runs, the most KiB its main TCP channel holds queued
     * (unsent on the source, unread on the destination; 0: the kernel's
     * autotuning, which lets megabytes build up).  A page the guest faults
     * on goes out behind that queue unless postcopy-preempt gives it a
     * channel of its own: 256 KiB is 0.3-0.5 ms at what the destination
     * places, where the autotuned queue measured 4-6 ms per fault.  The
     * destination's window, which also bounds what is in flight, gets as
     * much per 100 us of round trip beyond 100 us: a long link stays busy.
     */
    [MIGACCEL_OPT_POSTCOPY_QUEUE_KB] = {
        { 0 }, 0, { 0 }, .number = true, .min = 0, .max = 1048576,
        .default_number = 256 },
    [MIGACCEL_OPT_INJECT_FAULT] = {
        { "none", "discard-flip", "discard-truncate", "prediscard-flip", "recv-flip",
          "uring-missing", "slow-loose-sync", "no-pagemap-scan" },
        0, { 0 } },
};

static const char *const option_names[MIGACCEL_OPT__MAX + 1] = {
    [MIGACCEL_OPT_TRACE_INSTALL] = "trace-install",
    [MIGACCEL_OPT_WP_GRANULARITY] = "wp-granularity",
    [MIGACCEL_OPT_SWITCHOVER] = "switchover",
    [MIGACCEL_OPT_TRANSPORT] = "transport",
    [MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS] = "precopy-downtime-max-ms",
    [MIGACCEL_OPT_FIRST_PASS] = "first-pass",
    [MIGACCEL_OPT_PRECOPY_MAX_PASSES] = "precopy-max-passes",
    [MIGACCEL_OPT_POSTCOPY_QUEUE_KB] = "postcopy-queue-kb",
    [MIGACCEL_OPT_INJECT_FAULT] = "x-inject-fault",
    [MIGACCEL_OPT__MAX] = NULL,
};

const char *const *migaccel_option_names(void)
{
    return option_names;
}

static void set_number(MigAccelOptions *opts, int opt, long value)
{
    opts->value[opt] = value;
    snprintf(opts->number_text[opt], sizeof(opts->number_text[opt]), "%ld",
             value);
}

void migaccel_options_init(MigAccelOptions *opts)
{
    memset(opts, 0, sizeof(*opts));
    for (int i = 0; i < MIGACCEL_OPT__MAX; i++) {
        if (specs[i].number) {
            set_number(opts, i, specs[i].default_number);
        } else {
            opts->value[i] = specs[i].default_value;
        }
    }
}

static char *message(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* A whole decimal number within the option's range, or -EINVAL */
static int set_number_option(MigAccelOptions *opts, int opt, const char *name,
                             const char *value, char **errmsg)
{
    const OptionSpec *spec = &specs[opt];
    char *end = NULL;
    long n;

    errno = 0;
    n = strtol(value, &end, 10);
    if (!*value || *end || errno || value[0] == '-' || value[0] == '+' ||
        n < spec->min || n > spec->max) {
        *errmsg = message("invalid value '%s' for %s (accepted: a whole "
                          "number from %ld to %ld)", value, name, spec->min,
                          spec->max);
        return -EINVAL;
    }
    set_number(opts, opt, n);
    return 0;
}

int migaccel_option_lookup(const char *name)
{
    for (int i = 0; i < MIGACCEL_OPT__MAX; i++) {
        if (!strcmp(option_names[i], name)) {
            return i;
        }
    }
    return -1;
}

static int index_of(const char *const *list, size_t n, const char *value)
{
    for (size_t i = 0; i < n && list[i]; i++) {
        if (!strcmp(list[i], value)) {
            return (int)i;
        }
    }
    return -1;
}

static char *join_values(const char *const *list, size_t n)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < n && list[i]; i++) {
        g_string_append_printf(s, "%s%s", i ? ", " : "", list[i]);
    }
    /* QEMU frees the message with free(), so hand it a malloc()ed copy */
    char *out = strdup(s->str);
    g_string_free(s, TRUE);
    return out;
}

static char *message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *g = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return strdup(g);
}

int migaccel_option_set(MigAccelOptions *opts, const char *name,
                        const char *value, char **errmsg)
{
    int opt = migaccel_option_lookup(name);

    if (opt < 0) {
        g_autofree char *names = g_strjoinv(", ", (char **)option_names);

        *errmsg = message("unknown option '%s' (options: %s)", name, names);
        return -EINVAL;
    }
    const OptionSpec *spec = &specs[opt];
    if (spec->number) {
        int ret = set_number_option(opts, opt, name, value, errmsg);

        opts->set_by_user[opt] |= ret == 0;
        return ret;
    }
    int idx = index_of(spec->implemented, G_N_ELEMENTS(spec->implemented),
                       value);
    if (idx >= 0) {
        opts->value[opt] = idx;
        opts->set_by_user[opt] = true;
        return 0;
    }

    char *accepted = join_values(spec->implemented,
                                 G_N_ELEMENTS(spec->implemented));
    if (index_of(spec->planned, G_N_ELEMENTS(spec->planned), value) >= 0) {
        *errmsg = message("%s=%s is not implemented in migaccel %s yet "
                          "(accepted: %s)", name, value, MIGACCEL_VERSION,
                          accepted);
        free(accepted);
        return -ENOTSUP;
    }
    *errmsg = message("invalid value '%s' for %s (accepted: %s)", value, name,
                      accepted);
    free(accepted);
    return -EINVAL;
}

const char *migaccel_option_get(const MigAccelOptions *opts, int opt)
{
    if (specs[opt].number) {
        return opts->number_text[opt];
    }
    return specs[opt].implemented[opts->value[opt]];
}

long migaccel_option_number(const MigAccelOptions *opts, int opt)
{
    return specs[opt].number ? opts->value[opt] : -1;
}

bool migaccel_option_set_by_user(const MigAccelOptions *opts, int opt)
{
    return opts->set_by_user[opt];
}

const char *migaccel_option_name(int opt)
{
    return option_names[opt];
}
