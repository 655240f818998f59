/*
 * transport=io_uring: the outgoing migration stream from the switch to
 * postcopy on (bitmaps, device state, pages) goes through the plugin's
 * sender (uring_send.c) instead of QEMU's writes; transport=socket leaves
 * it to QEMU. Where io_uring cannot be had, QEMU keeps sending and the
 * log and the counters say why.
 */
#ifndef MIGACCEL_STREAM_H
#define MIGACCEL_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "migaccel.h"
#include "uring_send.h"

typedef struct MigAccelStream {
    const MigAccelHost *host;
    bool uring_wanted;                  /* transport=io_uring */
    bool transport_set_by_user;         /* not the default */
    unsigned int pretend_missing;       /* tests: MIGACCEL_SENDER_PRETEND_* */
    MigAccelSender *sender;             /* while a stream is open */
    uint8_t *staging;                   /* a flush's pieces, contiguous */
    size_t staging_size;

    _Atomic uint64_t opens;             /* streams the plugin sent */
    _Atomic uint64_t fallbacks;         /* io_uring wanted, QEMU sent */
    _Atomic uint64_t transport_in_force;/* MigAccelTransport + 1; 0: QEMU */
    _Atomic uint64_t bytes;
    _Atomic uint64_t writes;
    _Atomic uint64_t syscalls;          /* io_uring_enter + send + poll */
    _Atomic uint64_t write_errors;
} MigAccelStream;

void migaccel_stream_init(MigAccelStream *st, const MigAccelHost *host);
void migaccel_stream_destroy(MigAccelStream *st);

/* @value is "socket" or "io_uring"; returns 0 or -EINVAL */
int migaccel_stream_set_transport(MigAccelStream *st, const char *value,
                                  bool by_user);

bool migaccel_stream_open(MigAccelStream *st, int fd, const char *why_not);
int migaccel_stream_writev(MigAccelStream *st, const MigAccelIov *iov,
                           uint32_t n, char **errmsg);
void migaccel_stream_close(MigAccelStream *st);

void migaccel_stream_event(MigAccelStream *st, const MigAccelEventInfo *info);
void migaccel_stream_foreach(MigAccelStream *st, const MigAccelStatSink *sink);

#endif
