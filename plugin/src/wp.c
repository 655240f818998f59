#include "wp.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* Page shifts of QEMU's summary levels (4 KiB pages) */
enum { SHIFT_4K = 0, SHIFT_2M = 9, SHIFT_1G = 18 };

void migaccel_wp_init(MigAccelWp *wp, const MigAccelHost *host)
{
    memset(wp, 0, sizeof(*wp));
    wp->host = host;
}

int migaccel_wp_set_granularity(MigAccelWp *wp, const char *value)
{
    if (!strcmp(value, "4K")) {
        wp->page_shift = SHIFT_4K;
    } else if (!strcmp(value, "2M")) {
        wp->page_shift = SHIFT_2M;
    } else if (!strcmp(value, "1G")) {
        wp->page_shift = SHIFT_1G;
    } else {
        return -EINVAL;
    }
    return 0;
}

static const char *shift_name(uint32_t shift)
{
    return shift == SHIFT_1G ? "1G" : shift == SHIFT_2M ? "2M" : "4K";
}

/* Level 0 is always accepted */
static void set_level_4k(const MigAccelHost *host)
{
    char *why = NULL;

    host->summary->set_level(SHIFT_4K, &why);
    free(why);
}

void migaccel_wp_event(MigAccelWp *wp, const MigAccelEventInfo *info)
{
    const MigAccelHost *host = wp->host;

    if (info->event == MIGACCEL_EV_SRC_SETUP && info->edge == MIGACCEL_BEGIN) {
        /* Before the first sync: every later sync starts from this level */
        char *why = NULL;

        host->summary->stats_reset();
        if (host->summary->set_level(wp->page_shift, &why) == 0) {
            wp->shift_in_force = wp->page_shift;
            return;
        }
        /* Say so instead of silently tracking at 4 KiB */
        g_autofree char *msg = g_strdup_printf(
            "wp-granularity=%s: this QEMU cannot summarise its dirty bitmap "
            "at that granularity (%s); syncs read every page bit as with 4K",
            shift_name(wp->page_shift), why ? why : "refused");
        free(why);
        host->log(MIGACCEL_LOG_WARNING, msg);
        set_level_4k(host);
        wp->shift_in_force = SHIFT_4K;
        return;
    }
    if (info->event == MIGACCEL_EV_SRC_CLEANUP && info->edge == MIGACCEL_END) {
        /* Syncs outside a migration (COLO, dirty rate) read every word */
        set_level_4k(host);
    }
}

void migaccel_wp_foreach(MigAccelWp *wp, const MigAccelStatSink *sink)
{
    MigAccelDirtySummaryStats st = { .struct_size = sizeof(st) };

    wp->host->summary->stats(&st);
    stat_number(sink, "wp_granularity_bytes", UINT64_C(4096) << wp->page_shift);
    stat_number(sink, "wp_granularity_in_force_bytes",
                UINT64_C(4096) << atomic_load_explicit(&wp->shift_in_force,
                                                       memory_order_relaxed));
    stat_number(sink, "wp_summary_block_syncs", st.syncs);
    stat_number(sink, "wp_top_regions_dirty", st.top_regions);
    stat_number(sink, "wp_2m_regions_dirty", st.fine_regions);
    stat_number(sink, "wp_words_read", st.words);
    stat_number(sink, "wp_dirty_words", st.dirty_words);
    stat_number(sink, "wp_search_region_reads", st.search_regions);
}
