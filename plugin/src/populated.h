/*
 * Which pages of a RAM block the host populated (first-pass): the source
 * leaves the others out of the first pass, the destination zeroes what its
 * own memory held there before any page arrives.
 */
#ifndef MIGACCEL_POPULATED_H
#define MIGACCEL_POPULATED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "migaccel.h"

/* How the pages of one area were found, for the stats */
typedef enum MigAccelPopulatedMethod {
    MIGACCEL_METHOD_NONE = 0,
    MIGACCEL_METHOD_PAGEMAP_SCAN,
    MIGACCEL_METHOD_PAGEMAP,
    MIGACCEL_METHOD_SEEK_DATA,
    MIGACCEL_METHOD_SEEK_DATA_PAGEMAP_SCAN,
    MIGACCEL_METHOD_SEEK_DATA_PAGEMAP,
    MIGACCEL_METHOD_HUGETLBFS_PAGEMAP_SCAN,
    MIGACCEL_METHOD_HUGETLBFS_PAGEMAP,
    MIGACCEL_METHOD__MAX
} MigAccelPopulatedMethod;

typedef struct MigAccelPopulatedSide {
    _Atomic uint64_t areas;
    _Atomic uint64_t ns;
    _Atomic uint64_t pages_populated;
    _Atomic uint64_t pages_unpopulated;
    /* Methods used, one bit per MigAccelPopulatedMethod */
    _Atomic unsigned methods;
} MigAccelPopulatedSide;

typedef struct MigAccelPopulated {
    bool skip;                  /* first-pass=populated */
    /* PAGEMAP_SCAN (Linux 6.7+): 0 not tried yet, 1 works, -1 missing */
    _Atomic int scan_works;
    MigAccelPopulatedSide side[2];      /* by MigAccelPopulatedUse */
} MigAccelPopulated;

void migaccel_populated_init(MigAccelPopulated *p);

/* @value is "all" or "populated" */
void migaccel_populated_set_mode(MigAccelPopulated *p, const char *value);

/* Tests: use /proc/self/pagemap as on kernels without PAGEMAP_SCAN */
void migaccel_populated_set_no_scan(MigAccelPopulated *p, bool no_scan);

/* The MigAccelRamOps.populated contract */
int64_t migaccel_populated(MigAccelPopulated *p, MigAccelPopulatedUse use,
                           const MigAccelRamArea *area, uint64_t *bits,
                           uint64_t nbits, char **errmsg);

/* A new migration on this side starts counting afresh */
void migaccel_populated_event(MigAccelPopulated *p,
                              const MigAccelEventInfo *info);

void migaccel_populated_foreach(MigAccelPopulated *p,
                                const MigAccelStatSink *sink);

const char *migaccel_populated_method_name(MigAccelPopulatedMethod method);

#endif
