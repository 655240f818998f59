/*
 * Coarse write tracking that splits (wp-granularity): which level of
 * QEMU's dirty summary the syncs start from, and what they visited.
 */
#ifndef MIGACCEL_WP_H
#define MIGACCEL_WP_H

#include <stdatomic.h>
#include <stdint.h>

#include "migaccel.h"

typedef struct MigAccelWp {
    const MigAccelHost *host;
    uint32_t page_shift;        /* wanted: 0 (4K), 9 (2M) or 18 (1G) */
    /* What QEMU accepted at setup; read by stats on the main loop */
    _Atomic uint32_t shift_in_force;
} MigAccelWp;

void migaccel_wp_init(MigAccelWp *wp, const MigAccelHost *host);

/* @value is "4K", "2M" or "1G"; returns 0 or -EINVAL */
int migaccel_wp_set_granularity(MigAccelWp *wp, const char *value);

void migaccel_wp_event(MigAccelWp *wp, const MigAccelEventInfo *info);

void migaccel_wp_foreach(MigAccelWp *wp, const MigAccelStatSink *sink);

#endif
