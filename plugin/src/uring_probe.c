#include "uring_probe.h"

#include <liburing.h>
#include <string.h>

void migaccel_uring_probe(MigAccelUringProbe *out)
{
    struct io_uring ring;
    int ret;

    memset(out, 0, sizeof(*out));
    ret = io_uring_queue_init(4, &ring, 0);
    if (ret < 0) {
        out->error = ret;
        return;
    }
    out->available = true;

    struct io_uring_probe *probe = io_uring_get_probe_ring(&ring);
    if (probe) {
        out->has_send = io_uring_opcode_supported(probe, IORING_OP_SEND);
        out->has_send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
        io_uring_free_probe(probe);
    }
    io_uring_queue_exit(&ring);
}
