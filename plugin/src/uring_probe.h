#ifndef MIGACCEL_URING_PROBE_H
#define MIGACCEL_URING_PROBE_H

#include <stdbool.h>

/*
 * Whether this kernel lets us create an io_uring, and which send
 * operations it supports.  Containers and hardened kernels often forbid
 * io_uring (io_uring_disabled sysctl, seccomp), so the transport must
 * know before it relies on it.
 */
typedef struct MigAccelUringProbe {
    bool available;
    bool has_send;
    bool has_send_zc;
    int error;           /* -errno from io_uring_queue_init when unavailable */
} MigAccelUringProbe;

void migaccel_uring_probe(MigAccelUringProbe *out);

#endif
