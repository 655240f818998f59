/*
 * The accelerator's options, which QEMU passes through opaquely
 * (-object migration-accel,...,args=NAME=VALUE).  Each option has a fixed
 * set of values or, for a number, a range; a value that names a feature
 * this version does not implement yet is refused, never silently replaced
 * by stock behaviour.
 */
#ifndef MIGACCEL_OPTIONS_H
#define MIGACCEL_OPTIONS_H

#include <stdbool.h>

enum {
    MIGACCEL_OPT_TRACE_INSTALL,
    MIGACCEL_OPT_WP_GRANULARITY,
    MIGACCEL_OPT_SWITCHOVER,
    MIGACCEL_OPT_TRANSPORT,
    MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS,
    MIGACCEL_OPT_FIRST_PASS,
    MIGACCEL_OPT_PRECOPY_MAX_PASSES,
    MIGACCEL_OPT_POSTCOPY_QUEUE_KB,
    MIGACCEL_OPT_INJECT_FAULT,      /* tests only: corrupt our messages */
    MIGACCEL_OPT__MAX
};

typedef struct MigAccelOptions {
    /* Index into the option's value list, or the number */
    long value[MIGACCEL_OPT__MAX];
    /* Set by the user, not the default: a fallback from it is a warning */
    bool set_by_user[MIGACCEL_OPT__MAX];
    /* A number option's value as text, for migaccel_option_get() */
    char number_text[MIGACCEL_OPT__MAX][24];
} MigAccelOptions;

void migaccel_options_init(MigAccelOptions *opts);

/* NULL-terminated list of the option names */
const char *const *migaccel_option_names(void);

/* Option index of @name, or -1 */
int migaccel_option_lookup(const char *name);

/*
 * Set option @name to @value.  Returns 0, or -EINVAL / -ENOTSUP with a
 * message for the user in *@errmsg (malloc()ed).
 */
int migaccel_option_set(MigAccelOptions *opts, const char *name,
                        const char *value, char **errmsg);

/* Value in force of option @opt, a string that lives as long as @opts */
const char *migaccel_option_get(const MigAccelOptions *opts, int opt);

/* Value in force of the number option @opt */
long migaccel_option_number(const MigAccelOptions *opts, int opt);

/* True when the user set option @opt rather than leaving its default */
bool migaccel_option_set_by_user(const MigAccelOptions *opts, int opt);

const char *migaccel_option_name(int opt);

#endif
