#include "progress.h"

#include <stdio.h>

#include "qmp.h"
#include "util.h"

#define BAR_WIDTH 20
#define MIB (1024.0 * 1024.0)

void progress_init(Progress *p, gboolean tty)
{
    p->tty = tty;
    p->drawn = FALSE;
    p->last_plain_us = 0;
}

static void draw_bar(char *bar, double frac)
{
    int fill = (int)(frac * BAR_WIDTH + 0.5);

    for (int i = 0; i < BAR_WIDTH; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[BAR_WIDTH] = '\0';
}

void progress_update(Progress *p, JsonObject *qm, double elapsed_s)
{
    const char *status = qmp_get_string(qm, "status", "?");
    double xfer = qmp_get_int(qm, "ram.transferred", 0) / MIB;
    double rem = qmp_get_int(qm, "ram.remaining", 0) / MIB;
    double total = qmp_get_int(qm, "ram.total", 0) / MIB;
    gint64 dirty = qmp_get_int(qm, "ram.dirty-pages-rate", 0);
    gint64 iter = qmp_get_int(qm, "ram.dirty-sync-count", 0);
    double frac = total > 0 ? CLAMP((total - rem) / total, 0.0, 1.0) : 0.0;

    if (p->tty) {
        char bar[BAR_WIDTH + 1];

        draw_bar(bar, frac);
        fprintf(stderr, "\r\033[K%-9s [%s] %3.0f%%  xfer %8.1f MiB  rem %8.1f MiB"
                "  dirty %7" G_GINT64_FORMAT " pg/s  iter %" G_GINT64_FORMAT "  %6.1fs",
                status, bar, frac * 100, xfer, rem, dirty, iter, elapsed_s);
        fflush(stderr);
        p->drawn = TRUE;
        drv_log_set_status_line(TRUE);
        return;
    }
    if (drv_now_us() - p->last_plain_us < G_USEC_PER_SEC) {
        return;
    }
    p->last_plain_us = drv_now_us();
    drv_log("migrate: %s xfer=%.1fMiB rem=%.1fMiB dirty=%" G_GINT64_FORMAT
            "pg/s iter=%" G_GINT64_FORMAT " elapsed=%.1fs",
            status, xfer, rem, dirty, iter, elapsed_s);
}

void progress_finish(Progress *p)
{
    if (p->tty && p->drawn && drv_log_get_status_line()) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->drawn = FALSE;
    drv_log_set_status_line(FALSE);
}
