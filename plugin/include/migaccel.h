/*
 * migaccel: migration accelerator plugin interface
 *
 * Copyright (c) 2026 migaccel developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 *
 * This header is the whole contract between QEMU and a migration
 * accelerator plugin, a shared object loaded with
 *
 *   -object migration-accel,id=ma0,plugin=/path/to/libmigaccel.so,
 *           args=NAME=VALUE,args=NAME=VALUE,...
 *
 * or the equivalent QMP object-add ("args": [ "NAME=VALUE", ... ]).
 * QEMU hands the plugin its options as opaque NAME=VALUE strings, as TCG
 * plugins get argv: a new plugin option needs no QEMU change.  The header
 * uses fixed-width types only, so a plugin is built against this file
 * alone, never against QEMU internals.  The plugin exports two symbols:
 *
 *   MIGACCEL_EXPORT const uint32_t migaccel_plugin_version =
 *       MIGACCEL_API_VERSION;
 *   MIGACCEL_EXPORT int migaccel_plugin_install(const MigAccelHost *host,
 *                                               MigAccelPlugin *plugin,
 *                                               char **errmsg);
 *
 * QEMU refuses a plugin whose migaccel_plugin_version lies outside
 * [MIGACCEL_API_MIN_VERSION, MIGACCEL_API_VERSION].
 *
 * Conventions that hold for every function below:
 *
 * Errors.  A function that can fail returns a negative errno value (0, or
 * a count, on success) and stores a message allocated with malloc() in
 * *errmsg, which the caller frees; the message names what failed, QEMU
 * adds the object's id.  A bool result is an answer (did it, does it),
 * never an error.
 *
 * Tables.  Every table starts with struct_size, the size its writer knows.
 * Members are only ever appended; a reader uses only members that fit in
 * struct_size.  Services are grouped by facility, each group its own
 * table, so a facility grows without moving the others.
 *
 * Threads and locks.  Each hook and service says which threads call it
 * and which locks are held.  "BQL" is QEMU's big lock.  "Migration
 * thread" is the source's outgoing migration thread; "main loop" is
 * QEMU's main thread, which also runs the destination's incoming
 * migration coroutine and, with auto-converge, a timer that syncs the
 * dirty bitmap while the migration thread runs (QEMU 9.1 and later).
 * Unless stated otherwise a hook is never called concurrently with
 * itself, and the plugin's option setter is never called while a
 * migration runs.
 */
#ifndef MIGACCEL_H
#define MIGACCEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Plugins build with -fvisibility=hidden and export just the two symbols */
#define MIGACCEL_EXPORT __attribute__((visibility("default")))

/**
 * MIGACCEL_API_VERSION: the interface version this header describes
 *
 * Bumped whenever a member is appended to a table or an enum gains a
 * value.  A plugin built for version N works with any QEMU that speaks N
 * or later down to MIGACCEL_API_MIN_VERSION.
 */
#define MIGACCEL_API_VERSION 9

/**
 * MIGACCEL_API_MIN_VERSION: the oldest plugin interface QEMU still loads
 *
 * Version 6 is the first stable one: versions 1 to 5 were never released.
 */
#define MIGACCEL_API_MIN_VERSION 6

/**
 * enum MigAccelLogLevel - severity of a message the plugin logs
 * @MIGACCEL_LOG_INFO: informational, printed as a QEMU info message
 * @MIGACCEL_LOG_WARNING: something degraded, printed as a warning
 * @MIGACCEL_LOG_ERROR: an error, printed with error_report()
 */
typedef enum MigAccelLogLevel {
    MIGACCEL_LOG_INFO = 0,
    MIGACCEL_LOG_WARNING = 1,
    MIGACCEL_LOG_ERROR = 2,
} MigAccelLogLevel;

/**
 * enum MigAccelEvent - points in a migration the plugin is told about
 * @MIGACCEL_EV_SRC_SETUP: source RAM setup.  Migration thread, BQL held.
 * @MIGACCEL_EV_DIRTY_LOG_START: dirty tracking is being switched on, the
 *   "trace install".  Migration thread, BQL held.
 * @MIGACCEL_EV_DIRTY_LOG_STOP: dirty tracking is being switched off.
 *   Main loop (migration cleanup), BQL held.
 * @MIGACCEL_EV_SYNC: one dirty bitmap sync.  Migration thread, or main
 *   loop (auto-converge's sync timer, QEMU 9.1 and later), BQL held in
 *   both; two syncs never overlap.
 * @MIGACCEL_EV_SRC_ITERATE: one precopy iteration.  Migration thread, no
 *   BQL.
 * @MIGACCEL_EV_SRC_SWITCHOVER: the source's stop-and-copy phase, from the
 *   moment the guest is stopped until the last byte is queued; this is the
 *   source side of the downtime.  Migration thread, BQL held.
 * @MIGACCEL_EV_SRC_COMPLETE: the final RAM pass, at the end of precopy
 *   or of postcopy.  Migration thread, BQL held.
 * @MIGACCEL_EV_SRC_CLEANUP: the source's RAM state is freed.  Main loop,
 *   BQL held.
 * @MIGACCEL_EV_POSTCOPY_DISCARD: the discard bitmaps are sent at the start
 *   of postcopy.  Migration thread, BQL held, guest stopped.
 * @MIGACCEL_EV_POSTCOPY_RECV_BITMAP_SEND: the destination sends its
 *   receive bitmap of one block during postcopy recovery.  Destination's
 *   postcopy listen thread, no BQL.
 * @MIGACCEL_EV_POSTCOPY_RECV_BITMAP_LOAD: the source loads a receive
 *   bitmap of one block during postcopy recovery.  Source's return-path
 *   thread, no BQL.
 * @MIGACCEL_EV_DST_SETUP: destination RAM setup.  Main loop, BQL held.
 * @MIGACCEL_EV_DST_COMPLETE: the incoming migration finished loading and
 *   the destination is about to run (or stay paused with -S).  Main loop,
 *   BQL held.
 * @MIGACCEL_EV__MAX: number of events, for tables
 */
typedef enum MigAccelEvent {
    MIGACCEL_EV_SRC_SETUP = 0,
    MIGACCEL_EV_DIRTY_LOG_START,
    MIGACCEL_EV_DIRTY_LOG_STOP,
    MIGACCEL_EV_SYNC,
    MIGACCEL_EV_SRC_ITERATE,
    MIGACCEL_EV_SRC_SWITCHOVER,
    MIGACCEL_EV_SRC_COMPLETE,
    MIGACCEL_EV_SRC_CLEANUP,
    MIGACCEL_EV_POSTCOPY_DISCARD,
    MIGACCEL_EV_POSTCOPY_RECV_BITMAP_SEND,
    MIGACCEL_EV_POSTCOPY_RECV_BITMAP_LOAD,
    MIGACCEL_EV_DST_SETUP,
    MIGACCEL_EV_DST_COMPLETE,
    MIGACCEL_EV__MAX
} MigAccelEvent;

/**
 * enum MigAccelEdge - whether an event is beginning or has ended
 * @MIGACCEL_BEGIN: the phase starts
 * @MIGACCEL_END: the phase is over
 *
 * Every event is delivered as a BEGIN and an END on the same thread, so a
 * plugin can time each phase.
 */
typedef enum MigAccelEdge {
    MIGACCEL_BEGIN = 0,
    MIGACCEL_END = 1,
} MigAccelEdge;

/**
 * struct MigAccelEventInfo - what accompanies an event
 * @struct_size: sizeof() as QEMU knows it
 * @event: which event
 * @edge: begin or end
 * @sync_count: number of dirty bitmap syncs so far in this migration
 * @dirty_pages: at the END of %MIGACCEL_EV_SYNC, the pages newly found
 *   dirty by this sync; at other events, the pages still to send
 * @status: at END, 0 on success or a negative errno value
 */
typedef struct MigAccelEventInfo {
    uint32_t struct_size;
    MigAccelEvent event;
    MigAccelEdge edge;
    uint64_t sync_count;
    uint64_t dirty_pages;
    int32_t status;
} MigAccelEventInfo;

/**
 * enum MigAccelDirtyTracking - how the VM's writes are tracked
 * @MIGACCEL_TRACK_NONE: no accelerator-level tracking known
 * @MIGACCEL_TRACK_TCG: TCG's softmmu TLB (TLB_NOTDIRTY entries)
 * @MIGACCEL_TRACK_KVM_BITMAP: KVM dirty bitmap, write-protected when
 *   tracking starts and again at every KVM_GET_DIRTY_LOG
 * @MIGACCEL_TRACK_KVM_BITMAP_MANUAL: KVM dirty bitmap with manual protect
 *   (KVM_CLEAR_DIRTY_LOG re-protects chunk by chunk before sending)
 * @MIGACCEL_TRACK_KVM_BITMAP_INITIALLY_SET: as above, and tracking starts
 *   with every page reported dirty and nothing write-protected
 * @MIGACCEL_TRACK_KVM_RING: per-vCPU KVM dirty rings
 */
typedef enum MigAccelDirtyTracking {
    MIGACCEL_TRACK_NONE = 0,
    MIGACCEL_TRACK_TCG = 1,
    MIGACCEL_TRACK_KVM_BITMAP = 2,
    MIGACCEL_TRACK_KVM_BITMAP_MANUAL = 3,
    MIGACCEL_TRACK_KVM_BITMAP_INITIALLY_SET = 4,
    MIGACCEL_TRACK_KVM_RING = 5,
} MigAccelDirtyTracking;

/**
 * struct MigAccelVcpuStats - dirty tracking work one vCPU was held for
 * @struct_size: set by the caller to sizeof() as it knows it
 * @held_count: times the vCPU did tracking work or waited for it: TCG
 *   re-arms (loose) or run_on_cpu() waits after a sync (stock), dirty
 *   ring kicks (KVM)
 * @held_ns_total: wall-clock time of all of them
 * @held_ns_max: the longest one
 * @marked_pages: pages marked dirty again by loose re-arms for writes
 *   through TLB entries that were still writable
 */
typedef struct MigAccelVcpuStats {
    uint32_t struct_size;
    uint64_t held_count;
    uint64_t held_ns_total;
    uint64_t held_ns_max;
    uint64_t marked_pages;
} MigAccelVcpuStats;

/**
 * struct MigAccelTrackingServices - per-vCPU dirty tracking
 * @struct_size: sizeof() as QEMU knows it
 * @dirty_tracking: how this VM's writes are tracked.  Any thread.
 * @vcpu_count: number of vCPUs; indexes below are 0 .. count - 1.  Any
 *   thread.
 * @loose_sync_begin: call from the %MIGACCEL_EV_SYNC begin event: this
 *   sync does not hold the vCPUs (TCG: each vCPU re-arms its own TLB
 *   later; KVM dirty ring: rings are reaped without kicking the vCPUs).
 *   Returns false, and the sync runs the stock way, if the VM is stopped
 *   or the accelerator has no loose mode.  From the SYNC event only.
 * @loose_sync_end: call from the %MIGACCEL_EV_SYNC end event after a
 *   loose_sync_begin() that returned true.  From the SYNC event only.
 * @vcpu_owes_rearm: TCG: the vCPU has not re-armed its TLB since the
 *   latest loose sync.  From event hooks.
 * @vcpu_kick_rearm: TCG: make the vCPU re-arm at its next TB boundary
 *   (it does so unprompted at its next interrupt or TLB flush).  From
 *   event hooks.
 * @settle_stopped_vcpus: TCG, VM stopped only: re-arm, from the calling
 *   thread, every vCPU that still owes it, so that a stock sync that
 *   follows sees every write; returns the pages marked dirty again.  From
 *   the SYNC event only.
 * @vcpu_stats: copy vCPU @index's figures into @stats; false if no such
 *   vCPU.  Any thread.
 * @vcpu_stats_reset: zero every vCPU's figures.  Any thread.
 */
typedef struct MigAccelTrackingServices {
    uint32_t struct_size;
    MigAccelDirtyTracking (*dirty_tracking)(void);
    uint32_t (*vcpu_count)(void);
    bool (*loose_sync_begin)(void);
    void (*loose_sync_end)(void);
    bool (*vcpu_owes_rearm)(uint32_t index);
    void (*vcpu_kick_rearm)(uint32_t index);
    uint64_t (*settle_stopped_vcpus)(void);
    bool (*vcpu_stats)(uint32_t index, MigAccelVcpuStats *stats);
    void (*vcpu_stats_reset)(void);
} MigAccelTrackingServices;

/**
 * struct MigAccelDirtySummaryStats - what summary-guided syncs visited
 * @struct_size: set by the caller to sizeof() as it knows it
 * @syncs: RAM block syncs that used the summary
 * @top_regions: dirty regions found at the top level (1 GiB or 2 MiB)
 * @fine_regions: dirty 2 MiB regions found inside dirty 1 GiB ones
 * @words: words of the 4 KiB page bitmap read
 * @dirty_words: of those, words that held dirty bits
 * @search_regions: times the page search read a 2 MiB region of a RAM
 *   block's migration bitmap because its summary bit was set (the search
 *   skips the others when the level is not 0)
 */
typedef struct MigAccelDirtySummaryStats {
    uint32_t struct_size;
    uint64_t syncs;
    uint64_t top_regions;
    uint64_t fine_regions;
    uint64_t words;
    uint64_t dirty_words;
    uint64_t search_regions;
} MigAccelDirtySummaryStats;

/**
 * struct MigAccelSummaryServices - the dirty summary
 * @struct_size: sizeof() as QEMU knows it
 * @set_level: how the next syncs read the dirty bits: 0 reads every word
 *   (QEMU's own way), 9 visits only dirty 2 MiB regions, 18 only dirty
 *   1 GiB regions and inside them only dirty 2 MiB regions (page shifts
 *   for 4 KiB pages).  At a level other than 0 the search for the next
 *   page to send also skips 2 MiB regions of a block's migration bitmap
 *   that hold no bit.  Fails with -EINVAL for other values and -ENOTSUP
 *   where target pages are not 4 KiB.  From event hooks (BQL held);
 *   QEMU resets the level to 0 when the plugin is unloaded.
 * @stats: copy the counters of summary-guided syncs.  Any thread.
 * @stats_reset: zero them.  Any thread.
 *
 * QEMU keeps one bit per 2 MiB and one per 1 GiB of guest RAM over its
 * migration dirty bitmap, set along with the page bits wherever the guest
 * (TCG's write path) or KVM (dirty log, dirty ring) reports a write.
 */
typedef struct MigAccelSummaryServices {
    uint32_t struct_size;
    int (*set_level)(uint32_t page_shift, char **errmsg);
    void (*stats)(MigAccelDirtySummaryStats *stats);
    void (*stats_reset)(void);
} MigAccelSummaryServices;

/**
 * enum MigAccelPeer - what the other side of a migration said it is
 * @MIGACCEL_PEER_NONE: not asked: no plugin with features, or no return
 *   path (only postcopy-capable migrations have one)
 * @MIGACCEL_PEER_ASKED: the source asked; no answer yet
 * @MIGACCEL_PEER_STOCK: the peer has no accelerator features in common:
 *   stock formats are used
 * @MIGACCEL_PEER_MIGACCEL: the peer has an accelerator; the common
 *   features are in the features mask
 */
typedef enum MigAccelPeer {
    MIGACCEL_PEER_NONE = 0,
    MIGACCEL_PEER_ASKED = 1,
    MIGACCEL_PEER_STOCK = 2,
    MIGACCEL_PEER_MIGACCEL = 3,
} MigAccelPeer;

/**
 * struct MigAccelMigrationServices - the migration under way
 * @struct_size: sizeof() as QEMU knows it
 * @vm_running: true if the vCPUs run (false during stop-and-copy).  Any
 *   thread.
 * @postcopy_ram: the postcopy-ram capability is on for this migration.
 *   Any thread.
 * @peer: what the other side of the current (or latest) migration is,
 *   with the common features in *@features (0 unless
 *   %MIGACCEL_PEER_MIGACCEL); on the source it is settled when postcopy
 *   starts, on the destination when the source asks.  Any thread.
 * @postcopy_preempt: (version 7) the postcopy-preempt capability is on:
 *   pages the destination asks for in postcopy go on a channel of their
 *   own instead of queueing behind the background push.  Any thread.
 */
typedef struct MigAccelMigrationServices {
    uint32_t struct_size;
    bool (*vm_running)(void);
    bool (*postcopy_ram)(void);
    MigAccelPeer (*peer)(uint32_t *features);
    bool (*postcopy_preempt)(void);
} MigAccelMigrationServices;

/**
 * struct MigAccelHost - what QEMU offers the plugin
 * @struct_size: sizeof() as QEMU knows it
 * @api_version: MIGACCEL_API_VERSION of the loading QEMU
 * @qemu_version: QEMU's version string, such as "10.0.13"
 * @log: print a message prefixed with the object id.  Any thread.
 * @migration: the migration under way
 * @tracking: per-vCPU dirty tracking
 * @summary: the 2 MiB / 1 GiB dirty summary
 *
 * Every table pointer and every function pointer is non-NULL.  The host
 * and its tables stay valid until the plugin's uninstall.
 */
typedef struct MigAccelHost {
    uint32_t struct_size;
    uint32_t api_version;
    const char *qemu_version;
    void (*log)(MigAccelLogLevel level, const char *message);
    const MigAccelMigrationServices *migration;
    const MigAccelTrackingServices *tracking;
    const MigAccelSummaryServices *summary;
} MigAccelHost;

/**
 * struct MigAccelStatSink - receives the plugin's counters
 * @number: one counter: @name is lower case with underscores and stable
 *   across versions
 * @string: one named state, such as "switchover_mode": "bitmap"; enums
 *   travel as their names, never as numbers
 * @opaque: QEMU's pointer, passed back to both
 */
typedef struct MigAccelStatSink {
    void (*number)(void *opaque, const char *name, uint64_t value);
    void (*string)(void *opaque, const char *name, const char *value);
    void *opaque;
} MigAccelStatSink;

/*
 * Wire features a plugin can offer (16 bits are negotiated).
 * CODEC_V1: the plugin encodes and decodes bitmaps with its codec, so
 * postcopy discards go as one compressed bitmap per RAM block.
 */
#define MIGACCEL_FEAT_CODEC_V1 (1u << 0)
/*
 * ZERO_UNSENT_V1 (version 8): as a destination, QEMU reads as zero every
 * page it has not received, having zeroed at RAM setup whatever its own
 * memory held; so a source may leave out pages its host never populated.
 */
#define MIGACCEL_FEAT_ZERO_UNSENT_V1 (1u << 1)
#define MIGACCEL_FEAT_MASK 0xffffu

/**
 * enum MigAccelBitmapUse - what a bitmap passed to the codec stands for
 * @MIGACCEL_BITMAP_DISCARD: pages the destination must discard when
 *   postcopy starts (the source's still-dirty pages)
 * @MIGACCEL_BITMAP_RECEIVED: pages the destination has received, sent
 *   back to the source when a paused postcopy resumes
 * @MIGACCEL_BITMAP_PREDISCARD: pages the destination discards while the
 *   guest still runs on the source, just before postcopy starts; the
 *   %MIGACCEL_BITMAP_DISCARD bitmaps then only hold what was dirtied since
 */
typedef enum MigAccelBitmapUse {
    MIGACCEL_BITMAP_DISCARD = 0,
    MIGACCEL_BITMAP_RECEIVED = 1,
    MIGACCEL_BITMAP_PREDISCARD = 2,
} MigAccelBitmapUse;

/**
 * struct MigAccelCodecOps - the plugin's compressed bitmaps
 * @struct_size: sizeof() as the plugin knows it
 * @features: the %MIGACCEL_FEAT_* bits this plugin supports on the wire,
 *   whatever its options: a destination must be able to decode what a
 *   source asks for.  Any thread.
 * @bound: the largest encoding encode() can produce for a bitmap of
 *   @nbits bits, or 0 if it cannot encode that many
 * @encode: encode @bits[0 .. @nbits) for @use into @out (@out_len bytes,
 *   at least bound()); @summary is NULL or has one bit per
 *   2^@summary_shift bits of @bits, a clear one promising that those
 *   bits are clear.  Returns the length
 * @decode: check the encoding @in[0 .. @len) and OR its bits into @bits,
 *   which has @nbits bits and is left unchanged on error.  Returns the
 *   number of bits in the encoding
 *
 * Source: bound() and encode() run on the migration thread (discard and
 * pre-discard bitmaps) and decode() on the return-path thread (receive
 * bitmaps, no BQL).  Destination: bound() and decode() on the main loop
 * (discard bitmaps, BQL held), bound() and encode() on the postcopy listen
 * thread (receive bitmaps, no BQL).  Calls for different bitmaps may
 * overlap: keep no state between them.
 */
typedef struct MigAccelCodecOps {
    uint32_t struct_size;
    uint32_t (*features)(void *opaque);
    uint64_t (*bound)(void *opaque, uint64_t nbits);
    int64_t (*encode)(void *opaque, MigAccelBitmapUse use,
                      const uint64_t *bits, uint64_t nbits,
                      const uint64_t *summary, uint32_t summary_shift,
                      uint8_t *out, uint64_t out_len, char **errmsg);
    int64_t (*decode)(void *opaque, MigAccelBitmapUse use,
                      const uint8_t *in, uint64_t len, uint64_t *bits,
                      uint64_t nbits, char **errmsg);
} MigAccelCodecOps;

/**
 * struct MigAccelSwitchoverOps - when precopy gives way
 * @struct_size: sizeof() as the plugin knows it
 * @want_postcopy: called before each precopy iteration while postcopy
 *   could start, with @pending_bytes still to send; true switches to
 *   postcopy now, as migrate-start-postcopy would.  Migration thread, no
 *   BQL.
 * @precopy_may_complete: (version 7) called when QEMU would complete by
 *   precopy because the @pending_bytes left fit its downtime limit at the
 *   measured @bytes_per_ms, while postcopy could still start instead;
 *   false keeps precopy iterating until want_postcopy switches over.
 *   Migration thread, no BQL.
 * @postcopy_queue_bytes: (version 9) called when postcopy starts on a TCP
 *   main channel (and again on the new one after a recovery), on the
 *   @source or the destination, with the kernel's round-trip estimate for
 *   it in @rtt_us (0: unknown): the most bytes that channel may hold
 *   queued from then on, or 0 to leave the kernel's buffer autotuning
 *   alone.  A page the destination requests goes out behind whatever is
 *   queued there (unless postcopy-preempt gives it a channel of its own),
 *   so this bounds its wait.  The source keeps at most that much unsent
 *   (TCP_NOTSENT_LOWAT: bytes in flight are not limited), the destination
 *   advertises at most that much (TCP_WINDOW_CLAMP: this does limit what
 *   is in flight, so it must cover the round trip).  Source: migration
 *   thread; destination: the thread loading the stream; the BQL may or
 *   may not be held.
 */
typedef struct MigAccelSwitchoverOps {
    uint32_t struct_size;
    bool (*want_postcopy)(void *opaque, uint64_t pending_bytes);
    bool (*precopy_may_complete)(void *opaque, uint64_t pending_bytes,
                                 uint64_t bytes_per_ms);
    uint64_t (*postcopy_queue_bytes)(void *opaque, bool source,
                                     uint64_t rtt_us);
} MigAccelSwitchoverOps;

/**
 * struct MigAccelIov - one piece of a write to the migration stream
 * @base: first byte
 * @len: number of bytes
 */
typedef struct MigAccelIov {
    const void *base;
    uint64_t len;
} MigAccelIov;

/**
 * struct MigAccelStreamOps - sending the main migration channel
 * @struct_size: sizeof() as the plugin knows it
 * @open: from the switch to postcopy on, QEMU is about to write the main
 *   channel to @fd, a connected stream socket, or cannot offer one (@fd
 *   -1, @why_not says what the channel is instead).  True: from now on
 *   QEMU hands every flush of that channel to writev() and writes nothing
 *   to @fd itself; false: QEMU keeps sending (the plugin logs why, if the
 *   user asked for something else).  Migration thread, BQL held.
 * @writev: send @iov[0 .. @n) in order, all of it, before returning;
 *   after an error the stream is broken, as after a failed write.  Called
 *   by the thread that flushes the main channel: the migration thread, or
 *   the main loop for the last flush at cleanup; never two at once.  Other
 *   channels (postcopy-preempt, multifd) are never handed over.
 * @close: the stream ends (completion, failure, pause); QEMU writes to
 *   @fd itself again if it writes at all.  Never concurrently with
 *   writev().
 */
typedef struct MigAccelStreamOps {
    uint32_t struct_size;
    bool (*open)(void *opaque, int fd, const char *why_not);
    int (*writev)(void *opaque, const MigAccelIov *iov, uint32_t n,
                  char **errmsg);
    void (*close)(void *opaque);
} MigAccelStreamOps;

/**
 * struct MigAccelRamArea - one RAM block's host memory, for populated()
 * @name: the RAM block's id, for messages
 * @host: first byte of the block's mapping
 * @length: bytes mapped for migration (the block's used length)
 * @page_size: the block's host page size: 4 KiB or a huge page size
 * @fd: the file the block maps, or -1 for anonymous memory
 * @fd_offset: where the mapping starts in @fd
 * @shared: the mapping is shared: writes land in @fd, not in private
 *   copies of its pages
 */
typedef struct MigAccelRamArea {
    const char *name;
    void *host;
    uint64_t length;
    uint64_t page_size;
    int32_t fd;
    uint64_t fd_offset;
    bool shared;
} MigAccelRamArea;

/**
 * enum MigAccelPopulatedUse - why QEMU asks which pages are populated
 * @MIGACCEL_POPULATED_SKIP: source, right after dirty logging started:
 *   the first pass leaves out the pages not set.  The plugin's options
 *   may refuse (-ENOTSUP, no message): then every page is sent.
 * @MIGACCEL_POPULATED_ZERO: destination, at RAM setup, before any page
 *   arrives: QEMU zeroes the pages set that hold data, so a page the
 *   source leaves out reads as zero.  Never refused by an option.
 */
typedef enum MigAccelPopulatedUse {
    MIGACCEL_POPULATED_SKIP = 0,
    MIGACCEL_POPULATED_ZERO = 1,
} MigAccelPopulatedUse;

/**
 * struct MigAccelRamOps - what of the guest's RAM the host populated
 *   (version 8)
 * @struct_size: sizeof() as the plugin knows it
 * @populated: set in @bits (@nbits bits, one per 4 KiB of @area, all
 *   clear on entry) every page that may hold data; a page left clear must
 *   read as zero whoever reads it.  Erring towards set is safe, towards
 *   clear loses data.  Returns the number of bits set, -ENOTSUP without a
 *   message when the options refuse @use, or a negative errno value with a
 *   message.  Source: migration thread, BQL held.  Destination: main loop,
 *   BQL held.
 */
typedef struct MigAccelRamOps {
    uint32_t struct_size;
    int64_t (*populated)(void *opaque, MigAccelPopulatedUse use,
                         const MigAccelRamArea *area, uint64_t *bits,
                         uint64_t nbits, char **errmsg);
} MigAccelRamOps;

/**
 * struct MigAccelPlugin - what the plugin provides, filled in by install
 * @struct_size: set by QEMU to sizeof() as QEMU knows it; the plugin must
 *   not write members beyond it
 * @opaque: the plugin's state, passed back to every callback
 * @name: human-readable plugin name and version, such as "migaccel 0.2.0"
 * @option_names: NULL-terminated list of the option names set_option()
 *   accepts; QEMU shows them in qom-get and in its error messages
 * @uninstall: free the plugin's state; called once, after the last hook.
 *   Main loop, BQL held.
 * @set_option: apply option @name = @value.  Called for each option the
 *   user passes (object creation, qom-set), never while a migration runs.
 *   Main loop, BQL held.
 * @get_option: the value in force of option @name, malloc()ed (freed by
 *   QEMU), or NULL if the plugin has no such option.  Main loop, BQL held.
 * @event: notification of a migration event; see #MigAccelEvent for the
 *   thread and locks of each (may be NULL)
 * @stats: report every counter and named state through @sink (may be
 *   NULL).  Main loop (qom-get), BQL held, concurrently with events on
 *   other threads: read counters atomically.
 * @codec: compressed bitmaps (may be NULL: stock formats)
 * @switchover: when to switch to postcopy (may be NULL: QEMU decides)
 * @stream: sending the stream (may be NULL: QEMU sends)
 * @ram: (version 8) which pages the host populated (may be NULL: every
 *   page is sent)
 *
 * The ops tables are the plugin's and must stay valid until uninstall.
 */
typedef struct MigAccelPlugin {
    uint32_t struct_size;
    void *opaque;
    const char *name;
    const char *const *option_names;
    void (*uninstall)(void *opaque);
    int (*set_option)(void *opaque, const char *name, const char *value,
                      char **errmsg);
    char *(*get_option)(void *opaque, const char *name);
    void (*event)(void *opaque, const MigAccelEventInfo *info);
    void (*stats)(void *opaque, const MigAccelStatSink *sink);
    const MigAccelCodecOps *codec;
    const MigAccelSwitchoverOps *switchover;
    const MigAccelStreamOps *stream;
    const MigAccelRamOps *ram;
} MigAccelPlugin;

/**
 * typedef migaccel_plugin_install_fn - the plugin's entry point
 * @host: QEMU's services, valid until uninstall
 * @plugin: to be filled in; pre-zeroed, with @plugin->struct_size set
 * @errmsg: where to store a malloc()ed message on failure
 *
 * Exported by the plugin as "migaccel_plugin_install".  Main loop, BQL
 * held.  Returns 0, or a negative errno value with a message; QEMU then
 * unloads the plugin and fails the object's creation with that message.
 */
typedef int (*migaccel_plugin_install_fn)(const MigAccelHost *host,
                                          MigAccelPlugin *plugin,
                                          char **errmsg);

#endif /* MIGACCEL_H */
