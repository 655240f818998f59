/*
 * How the migration ends (switchover=precopy|bitmap) and the compressed
 * bitmaps QEMU sends through the plugin's codec: the postcopy discard
 * bitmap, negotiated with the peer (QEMU sends the stock ranges to a peer
 * without the codec, and the counters say which form went).
 */
#ifndef MIGACCEL_SWITCHOVER_H
#define MIGACCEL_SWITCHOVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "migaccel.h"

/* x-inject-fault values: corrupt our own next message, for tests */
typedef enum MigAccelFault {
    MIGACCEL_FAULT_NONE = 0,
    MIGACCEL_FAULT_DISCARD_FLIP,        /* payload byte 0 inverted */
    MIGACCEL_FAULT_DISCARD_TRUNCATE,    /* last 4 bytes not sent */
    MIGACCEL_FAULT_PREDISCARD_FLIP,     /* as DISCARD_FLIP, pre-discard */
    MIGACCEL_FAULT_RECV_FLIP,           /* as DISCARD_FLIP, receive bitmap */
} MigAccelFault;

/* switchover_mode counter values */
enum {
    MIGACCEL_SWITCHOVER_PRECOPY = 0,
    MIGACCEL_SWITCHOVER_POSTCOPY_USER = 1,   /* migrate-start-postcopy */
    MIGACCEL_SWITCHOVER_BITMAP = 2,
};

/* discard_format counter values */
enum {
    MIGACCEL_FORMAT_NONE = 0,
    MIGACCEL_FORMAT_STOCK = 1,
    MIGACCEL_FORMAT_COMPRESSED = 2,
};

/* What went through the codec for one use of bitmaps, on this side */
typedef struct MigAccelBitmapCounters {
    _Atomic uint64_t blocks_encoded;
    _Atomic uint64_t blocks_decoded;
    _Atomic uint64_t wire_bytes;
    _Atomic uint64_t raw_bytes;         /* what raw bitmaps would have been */
    _Atomic uint64_t encode_ns;
    _Atomic uint64_t decode_ns;
    _Atomic uint64_t decode_errors;
} MigAccelBitmapCounters;

typedef struct MigAccelSwitchover {
    const MigAccelHost *host;
    bool bitmap_wanted;             /* switchover=bitmap */
    bool mode_set_by_user;          /* not the default */
    /* ... and postcopy-ram is on; read by stats on the main loop */
    _Atomic bool bitmap_in_force;
    MigAccelFault fault;            /* armed fault, consumed once */
    bool postcopy_requested;        /* want_postcopy() said yes */
    uint64_t syncs;                 /* dirty bitmap syncs this migration */
    /* precopy-downtime-max-ms: longest precopy completion allowed */
    uint64_t precopy_downtime_max_ms;
    /* precopy-max-passes: most precopy passes before the switch */
    uint64_t precopy_max_passes;
    uint64_t pass_sync_seen;        /* the sync want_postcopy() last saw */
    /* postcopy-queue-kb: bound on the main channel's postcopy queue */
    uint64_t postcopy_queue_kb;
    /* How often QEMU bounded a postcopy channel's queue, and to what */
    _Atomic uint64_t postcopy_queue_bounds;
    _Atomic uint64_t postcopy_queue_bytes;
    _Atomic uint64_t postcopy_queue_rtt_us;

    /*
     * Passes done before the switch; what the last one left dirty, and
     * what it had to send (the first pass: what was dirty at its start)
     */
    _Atomic uint64_t precopy_passes;
    _Atomic uint64_t precopy_pass_left_bytes;
    _Atomic uint64_t precopy_pass_left_bytes_before;

    /* QEMU offered to complete by precopy; how often we declined */
    _Atomic uint64_t precopy_completion_offers;
    _Atomic uint64_t precopy_completion_declined;
    /* QEMU's expected downtime at its last offer, in microseconds */
    _Atomic uint64_t precopy_completion_expected_us;

    _Atomic uint64_t switchover_mode;
    _Atomic uint64_t switchover_fallbacks;
    _Atomic uint64_t discard_format;
    _Atomic uint64_t discard_pages;
    _Atomic uint64_t faults_injected;
    MigAccelBitmapCounters prediscard;  /* discard before the stop */
    MigAccelBitmapCounters discard;     /* postcopy discard bitmaps */
    MigAccelBitmapCounters recv;        /* receive bitmaps of a recovery */
} MigAccelSwitchover;

void migaccel_switchover_init(MigAccelSwitchover *sw, const MigAccelHost *host);

/* precopy-downtime-max-ms, already checked */
void migaccel_switchover_set_precopy_downtime_max(MigAccelSwitchover *sw,
                                                  uint64_t ms);

/* precopy-max-passes, already checked */
void migaccel_switchover_set_max_passes(MigAccelSwitchover *sw,
                                        uint64_t passes);

/* postcopy-queue-kb holds for round trips up to this; longer ones scale it */
#define MIGACCEL_QUEUE_RTT_US 100

/* postcopy-queue-kb, already checked */
void migaccel_switchover_set_queue_kb(MigAccelSwitchover *sw, uint64_t kb);

/*
 * QEMU starts postcopy on a TCP channel whose round trip is @rtt_us (0:
 * unknown), as the @source or the destination: the bytes it may queue,
 * 0: any
 */
uint64_t migaccel_switchover_postcopy_queue_bytes(MigAccelSwitchover *sw,
                                                  bool source,
                                                  uint64_t rtt_us);

/* @value is "precopy" or "bitmap"; returns 0 or -EINVAL */
int migaccel_switchover_set_mode(MigAccelSwitchover *sw, const char *value,
                                 bool by_user);

/*
 * @value is "none", "discard-flip", "discard-truncate", "prediscard-flip",
 * "recv-flip" (or the stream's "uring-missing"); 0 or -EINVAL
 */
int migaccel_switchover_set_fault(MigAccelSwitchover *sw, const char *value);

void migaccel_switchover_event(MigAccelSwitchover *sw,
                               const MigAccelEventInfo *info);

void migaccel_switchover_foreach(MigAccelSwitchover *sw, const MigAccelStatSink *sink);

/* The plugin's codec and switchover ops (MigAccelCodecOps, ...) */
uint32_t migaccel_switchover_features(MigAccelSwitchover *sw);
uint64_t migaccel_switchover_bitmap_bound(MigAccelSwitchover *sw,
                                          uint64_t nbits);
int64_t migaccel_switchover_bitmap_encode(MigAccelSwitchover *sw,
                                          MigAccelBitmapUse use,
                                          const uint64_t *bits, uint64_t nbits,
                                          const uint64_t *summary,
                                          uint32_t summary_shift,
                                          uint8_t *out, uint64_t out_len,
                                          char **errmsg);
int64_t migaccel_switchover_bitmap_decode(MigAccelSwitchover *sw,
                                          MigAccelBitmapUse use,
                                          const uint8_t *in, uint64_t len,
                                          uint64_t *bits, uint64_t nbits,
                                          char **errmsg);
bool migaccel_switchover_want_postcopy(MigAccelSwitchover *sw,
                                       uint64_t pending_bytes);
/*
 * QEMU would complete by precopy with @pending_bytes left at @bytes_per_ms:
 * allow it only when that stops the guest no longer than
 * precopy-downtime-max-ms, or when the bitmap switchover is not in force.
 */
bool migaccel_switchover_precopy_may_complete(MigAccelSwitchover *sw,
                                              uint64_t pending_bytes,
                                              uint64_t bytes_per_ms);

#endif
