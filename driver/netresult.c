/* What users of the network would have seen, from the probe's records. */
#include "netprobe-priv.h"

/* ---- results -------------------------------------------------------------- */

static gint cmp_i64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

/* Longest interval between consecutive arrivals in [from, to], counting
 * from @from and up to @to so silence at either end counts too. */
static double longest_gap(GArray *times, gint64 from, gint64 to, gint64 *gap_start)
{
    gint64 prev = from, best = 0;

    *gap_start = from;
    g_array_sort(times, cmp_i64);
    for (guint i = 0; i < times->len; i++) {
        gint64 t = g_array_index(times, gint64, i);

        if (t < from || t > to) {
            continue;
        }
        if (t - prev > best) {
            best = t - prev;
            *gap_start = prev;
        }
        prev = t;
    }
    if (to - prev > best) {
        best = to - prev;
        *gap_start = prev;
    }
    return best / 1000.0;
}

/* The longest interval between consecutive (sorted) arrivals that ends
 * within SWITCHOVER_WINDOW of @moved_us: the destination's first answers
 * come right after its announce teaches the bridge. */
static double gap_ending_near(GArray *sorted, gint64 from, gint64 moved_us,
                              gint64 *gap_start, gint64 *gap_end)
{
    gint64 prev = from, best = 0;

    for (guint i = 0; i < sorted->len; i++) {
        gint64 t = g_array_index(sorted, gint64, i);

        if (t < from) {
            continue;
        }
        if (t >= moved_us - SWITCHOVER_BEFORE_US && t <= moved_us + SWITCHOVER_AFTER_US &&
            t - prev > best) {
            best = t - prev;
            *gap_start = prev;
            *gap_end = t;
        }
        prev = t;
    }
    return best / 1000.0;
}

/* Packets the bridge sent into each tap between @t1 and @t2. */
static gboolean tap_window(GArray *bridge, gint64 t1, gint64 t2, guint64 *src, guint64 *dst)
{
    const BridgeSample *a = NULL, *b = NULL;

    for (guint i = 0; i < bridge->len; i++) {
        const BridgeSample *s = &g_array_index(bridge, BridgeSample, i);

        if (s->t_us <= t1) {
            a = s;
        }
        if (s->t_us <= t2) {
            b = s;
        }
    }
    if (!a || !b || b->t_us < t2 - 100000) {
        return FALSE;  /* the window is not covered by samples */
    }
    *src = b->src_tx - a->src_tx;
    *dst = b->dst_tx - a->dst_tx;
    return TRUE;
}

void netprobe_finish(NetProbe *p, NetResult *out)
{
    g_autoptr(GArray) replies = g_array_new(FALSE, FALSE, sizeof(gint64));
    gint64 start, end, gap_start;

    memset(out, 0, sizeof(*out));
    g_mutex_lock(&p->lock);
    p->stop_us = drv_now_us();
    g_mutex_unlock(&p->lock);
    netprobe_stop_thread(p);
    start = p->mig_start_us ? p->mig_start_us : p->stop_us;
    end = p->stop_us;

    for (guint i = 0; i < p->pings->len; i++) {
        const PingRec *r = &g_array_index(p->pings, PingRec, i);

        if (r->sent_us >= start && r->sent_us <= end - LOSS_GRACE_US) {
            out->pings_sent++;
            out->pings_lost += r->reply_us == 0;
        }
        if (r->reply_us) {
            g_array_append_val(replies, r->reply_us);
        }
    }
    out->longest_gap_ms = longest_gap(replies, start, end, &gap_start);
    out->gap_start_s = (gap_start - start) / 1e6;

    out->tcp_survived = !p->tcp_error;
    out->tcp_error = g_strdup(p->tcp_error);
    for (guint i = 0; i < p->echoes->len; i++) {
        gint64 t = g_array_index(p->echoes, gint64, i);

        out->tcp_echoes += t >= start && t <= end;
    }
    out->tcp_longest_gap_ms = longest_gap(p->echoes, start, p->tcp_error ? p->tcp_error_us : end,
                                          &gap_start);
    if (out->tcp_survived && out->tcp_longest_gap_ms > 0 &&
        (p->echoes->len == 0 ||
         g_array_index(p->echoes, gint64, p->echoes->len - 1) < end - LOSS_GRACE_US)) {
        out->tcp_survived = FALSE;
        out->tcp_error = g_strdup("no echo in the last second: the connection is stuck");
    }

    out->port_before = NET_PORT_NONE;
    out->port_at_end = NET_PORT_NONE;
    out->moved_after_complete_ms = 0;
    for (guint i = 0; i < p->bridge->len; i++) {
        const BridgeSample *s = &g_array_index(p->bridge, BridgeSample, i);

        if (s->t_us <= start) {
            out->port_before = s->port;
        }
        if (s->t_us >= start && s->port == NET_PORT_DST && !out->moved_to_dst) {
            out->moved_to_dst = TRUE;
            out->moved_after_complete_ms =
                p->complete_us ? (s->t_us - p->complete_us) / 1000.0 : 0;
        }
        out->port_at_end = s->port;
    }
    out->completed = p->complete_us != 0;
    out->switchover_gap_ms = -1;
    if (out->moved_to_dst) {
        gint64 moved_us = p->complete_us + (gint64)(out->moved_after_complete_ms * 1000);
        gint64 real_minus_mono = g_get_real_time() - drv_now_us();
        gint64 gap_start = 0, gap_end = 0;

        out->switchover_gap_ms = gap_ending_near(replies, start, moved_us, &gap_start, &gap_end);
        out->mac_moved_real_us = moved_us + real_minus_mono;
        if (gap_end) {
            out->gap_last_reply_real_us = gap_start + real_minus_mono;
            out->gap_first_reply_real_us = gap_end + real_minus_mono;
        }
    }
    out->first_announce_real_us = p->first_announce_real_us;
    out->first_guest_frame_real_us = p->first_guest_frame_real_us;
    g_strlcpy(out->first_guest_frame_kind, p->first_guest_frame_kind,
              sizeof(out->first_guest_frame_kind));
    if (p->complete_us) {
        out->have_tap_window = tap_window(p->bridge, p->complete_us + G_USEC_PER_SEC,
                                          p->complete_us + 2 * G_USEC_PER_SEC,
                                          &out->src_tap_packets, &out->dst_tap_packets);
    }
    netprobe_free(p);
}

void netresult_clear(NetResult *r)
{
    g_free(r->tcp_error);
    memset(r, 0, sizeof(*r));
}
