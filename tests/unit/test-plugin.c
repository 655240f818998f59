/*
 * Unit tests of the migaccel plugin: option handling, phase accounting,
 * and the exported ABI driven through dlopen() the way QEMU drives it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migaccel.h"
#include "options.h"
#include "stats.h"

static const char *plugin_path;

static void test_options_defaults(void)
{
    MigAccelOptions opts;

    migaccel_options_init(&opts);
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRACE_INSTALL), ==,
                    "stock");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_WP_GRANULARITY), ==,
                    "4K");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_SWITCHOVER), ==,
                    "precopy");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRANSPORT), ==,
                    "socket");
    g_assert_cmpint(migaccel_option_lookup("transport"), ==,
                    MIGACCEL_OPT_TRANSPORT);
    g_assert_cmpint(migaccel_option_lookup("nope"), ==, -1);
}

static void test_options_cover_qemu_properties(void)
{
    /* Every option the migration-accel object forwards must be known here */
    static const char *const forwarded[] = { MIGACCEL_OPTIONS };

    g_assert_cmpuint(G_N_ELEMENTS(forwarded), ==, MIGACCEL_OPT__MAX);
    for (size_t i = 0; i < G_N_ELEMENTS(forwarded); i++) {
        g_assert_cmpint(migaccel_option_lookup(forwarded[i]), >=, 0);
    }
}

static void test_options_errors(void)
{
    MigAccelOptions opts;
    char *msg = NULL;

    migaccel_options_init(&opts);
    g_assert_cmpint(migaccel_option_set(&opts, "switchover", "precopy", &msg),
                    ==, 0);
    g_assert_null(msg);

    g_assert_cmpint(migaccel_option_set(&opts, "switchover", "bitmap", &msg),
                    ==, 0);
    g_assert_null(msg);

    g_assert_cmpint(migaccel_option_set(&opts, "transport", "pigeon", &msg),
                    ==, -EINVAL);
    g_assert_cmpstr(msg, ==, "invalid value 'pigeon' for transport "
                    "(accepted: socket, io_uring)");
    free(msg);
    msg = NULL;

    g_assert_cmpint(migaccel_option_set(&opts, "wp-granularity", "3M", &msg),
                    ==, -EINVAL);
    g_assert_cmpstr(msg, ==, "invalid value '3M' for wp-granularity "
                    "(accepted: 4K, 2M, 1G)");
    free(msg);
    msg = NULL;

    g_assert_cmpint(migaccel_option_set(&opts, "colour", "red", &msg), ==,
                    -EINVAL);
    g_assert_cmpstr(msg, ==, "unknown option 'colour'");
    free(msg);

    /* A refused value leaves the one in force */
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRANSPORT), ==,
                    "socket");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_SWITCHOVER), ==,
                    "bitmap");
}

static void collect_stat(const char *name, uint64_t value, void *opaque)
{
    GHashTable *table = opaque;

    g_assert_false(g_hash_table_contains(table, name));
    g_hash_table_insert(table, g_strdup(name), g_memdup2(&value,
                                                         sizeof(value)));
}

static uint64_t stat_of(GHashTable *table, const char *name)
{
    uint64_t *v = g_hash_table_lookup(table, name);

    if (!v) {
        g_error("counter %s missing", name);
    }
    return *v;
}

static GHashTable *stats_table(MigAccelStats *stats)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free);
    migaccel_stats_foreach(stats, collect_stat, t);
    return t;
}

static void edge(MigAccelStats *stats, MigAccelEvent ev, MigAccelEdge e,
                 uint64_t now, uint64_t dirty, int status)
{
    MigAccelEventInfo info = {
        .struct_size = sizeof(info), .event = ev, .edge = e,
        .dirty_pages = dirty, .status = status,
    };
    migaccel_stats_event(stats, &info, now);
}

static void test_stats_phases(void)
{
    MigAccelStats stats = { 0 };

    edge(&stats, MIGACCEL_EV_SYNC, MIGACCEL_BEGIN, 1000, 0, 0);
    edge(&stats, MIGACCEL_EV_SYNC, MIGACCEL_END, 1500, 7, 0);
    edge(&stats, MIGACCEL_EV_SYNC, MIGACCEL_BEGIN, 2000, 0, 0);
    edge(&stats, MIGACCEL_EV_SYNC, MIGACCEL_END, 4000, 3, 0);
    edge(&stats, MIGACCEL_EV_SRC_COMPLETE, MIGACCEL_BEGIN, 5000, 0, 0);
    edge(&stats, MIGACCEL_EV_SRC_COMPLETE, MIGACCEL_END, 5100, 0, -EIO);
    /* An event from a newer QEMU is counted but not timed */
    edge(&stats, (MigAccelEvent)(MIGACCEL_EV__MAX + 3), MIGACCEL_END, 6000, 0,
         0);

    g_autoptr(GHashTable) t = stats_table(&stats);
    g_assert_cmpuint(stat_of(t, "hook_calls"), ==, 7);
    g_assert_cmpuint(stat_of(t, "sync_calls"), ==, 2);
    g_assert_cmpuint(stat_of(t, "sync_ns_total"), ==, 2500);
    g_assert_cmpuint(stat_of(t, "sync_ns_max"), ==, 2000);
    g_assert_cmpuint(stat_of(t, "sync_dirty_pages"), ==, 10);
    g_assert_cmpuint(stat_of(t, "src_complete_calls"), ==, 1);
    g_assert_cmpuint(stat_of(t, "failed_phases"), ==, 1);
    g_assert_cmpuint(stat_of(t, "dst_complete_calls"), ==, 0);
    /* 5 global counters + 3 per event */
    g_assert_cmpuint(g_hash_table_size(t), ==, 5 + 3 * MIGACCEL_EV__MAX);

    migaccel_stats_reset_phases(&stats);
    g_autoptr(GHashTable) t2 = stats_table(&stats);
    g_assert_cmpuint(stat_of(t2, "sync_calls"), ==, 0);
    g_assert_cmpuint(stat_of(t2, "hook_calls"), ==, 7);
}

static void test_stats_end_without_begin(void)
{
    MigAccelStats stats = { 0 };

    /* Loading the plugin mid-phase must not produce a bogus duration */
    edge(&stats, MIGACCEL_EV_SRC_ITERATE, MIGACCEL_END, 9000, 0, 0);
    g_autoptr(GHashTable) t = stats_table(&stats);
    g_assert_cmpuint(stat_of(t, "src_iterate_calls"), ==, 1);
    g_assert_cmpuint(stat_of(t, "src_iterate_ns_total"), ==, 0);
}

/* ---- the exported ABI, loaded like QEMU loads it ---- */

static GString *host_log_text;

static void fake_log(MigAccelLogLevel level, const char *message)
{
    g_string_append_printf(host_log_text, "%d:%s\n", level, message);
}

/* A TCG VM with FAKE_VCPUS vCPUs that records what the plugin asks of it */
#define FAKE_VCPUS 5
static struct {
    bool running;
    bool owes[FAKE_VCPUS];
    unsigned loose_begins, loose_ends, settles, kicks_at_once;
    unsigned kicks[FAKE_VCPUS];
    unsigned stats_resets;
    /* dirty summary (API version 3) */
    uint32_t level;
    unsigned level_calls, summary_resets;
    bool summary_refused;
    /* negotiation (API version 4) */
    MigAccelPeer peer;
    uint32_t peer_features;
    bool postcopy_ram;
} fake;

static MigAccelDirtyTracking fake_dirty_tracking(void)
{
    return MIGACCEL_TRACK_TCG;
}

static bool fake_vm_running(void)
{
    return fake.running;
}

static uint32_t fake_vcpu_count(void)
{
    return FAKE_VCPUS;
}

static bool fake_loose_sync_begin(void)
{
    g_assert_true(fake.running);
    fake.loose_begins++;
    for (int i = 0; i < FAKE_VCPUS; i++) {
        fake.owes[i] = true;
    }
    return true;
}

static void fake_loose_sync_end(void)
{
    fake.loose_ends++;
}

static bool fake_vcpu_owes_rearm(uint32_t index)
{
    g_assert_cmpuint(index, <, FAKE_VCPUS);
    return fake.owes[index];
}

static void fake_vcpu_kick_rearm(uint32_t index)
{
    g_assert_cmpuint(index, <, FAKE_VCPUS);
    g_assert_true(fake.owes[index]);
    fake.kicks[index]++;
    fake.kicks_at_once++;
}

static uint64_t fake_settle_stopped_vcpus(void)
{
    g_assert_false(fake.running);
    fake.settles++;
    return 7;
}

static bool fake_vcpu_stats(uint32_t index, MigAccelVcpuStats *stats)
{
    if (index >= FAKE_VCPUS) {
        return false;
    }
    stats->held_count = 1;
    stats->held_ns_total = 1000 * (index + 1);
    stats->held_ns_max = 100 * (index + 1);
    stats->marked_pages = index;
    return true;
}

static void fake_vcpu_stats_reset(void)
{
    fake.stats_resets++;
}

static bool fake_set_dirty_summary_level(uint32_t page_shift)
{
    g_assert_true(page_shift == 0 || page_shift == 9 || page_shift == 18);
    fake.level_calls++;
    if (page_shift && fake.summary_refused) {
        return false;
    }
    fake.level = page_shift;
    return true;
}

static uint32_t fake_dirty_summary_level(void)
{
    return fake.level;
}

static void fake_dirty_summary_stats(MigAccelDirtySummaryStats *stats)
{
    stats->syncs = 3;
    stats->top_regions = 4;
    stats->fine_regions = 5;
    stats->words = 6;
    stats->dirty_words = 2;
    stats->search_regions = 7;
}

static void fake_dirty_summary_stats_reset(void)
{
    fake.summary_resets++;
}

static MigAccelPeer fake_peer(uint32_t *features)
{
    *features = fake.peer_features;
    return fake.peer;
}

static bool fake_postcopy_ram(void)
{
    return fake.postcopy_ram;
}

static void fake_host(MigAccelHost *host)
{
    memset(host, 0, sizeof(*host));
    memset(&fake, 0, sizeof(fake));
    host->struct_size = sizeof(*host);
    host->api_version = MIGACCEL_API_VERSION;
    host->qemu_version = "7.2.18";
    host->accelerator = MIGACCEL_ACCEL_TCG;
    host->target_page_bits = 12;
    host->log = fake_log;
    host->dirty_tracking = fake_dirty_tracking;
    host->vm_running = fake_vm_running;
    host->vcpu_count = fake_vcpu_count;
    host->loose_sync_begin = fake_loose_sync_begin;
    host->loose_sync_end = fake_loose_sync_end;
    host->vcpu_owes_rearm = fake_vcpu_owes_rearm;
    host->vcpu_kick_rearm = fake_vcpu_kick_rearm;
    host->settle_stopped_vcpus = fake_settle_stopped_vcpus;
    host->vcpu_stats = fake_vcpu_stats;
    host->vcpu_stats_reset = fake_vcpu_stats_reset;
    host->set_dirty_summary_level = fake_set_dirty_summary_level;
    host->dirty_summary_level = fake_dirty_summary_level;
    host->dirty_summary_stats = fake_dirty_summary_stats;
    host->dirty_summary_stats_reset = fake_dirty_summary_stats_reset;
    host->peer = fake_peer;
    host->postcopy_ram = fake_postcopy_ram;
}

static void send_event(MigAccelPlugin *plugin, MigAccelEvent ev,
                       MigAccelEdge edge)
{
    MigAccelEventInfo info = { .struct_size = sizeof(info), .event = ev,
                               .edge = edge };
    plugin->event(plugin->opaque, &info);
}

static void sync_once(MigAccelPlugin *plugin)
{
    send_event(plugin, MIGACCEL_EV_SYNC, MIGACCEL_BEGIN);
    send_event(plugin, MIGACCEL_EV_SYNC, MIGACCEL_END);
}

static MigAccelPlugin install_plugin(void **handle, MigAccelHost *host)
{
    MigAccelPlugin plugin = { .struct_size = sizeof(plugin) };

    *handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    g_assert_nonnull(*handle);
    migaccel_plugin_install_fn install =
        (migaccel_plugin_install_fn)dlsym(*handle, "migaccel_plugin_install");
    host_log_text = g_string_new(NULL);
    fake_host(host);
    g_assert_cmpint(install(host, &plugin), ==, 0);
    return plugin;
}

static void test_tracking_stock(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);

    /* the default: QEMU's own way, nothing asked of the host */
    fake.running = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_once(&plugin);
    send_event(&plugin, MIGACCEL_EV_SRC_ITERATE, MIGACCEL_BEGIN);
    fake.running = false;
    sync_once(&plugin);
    g_assert_cmpuint(fake.stats_resets, ==, 1);
    g_assert_cmpuint(fake.loose_begins + fake.loose_ends + fake.settles, ==, 0);

    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    plugin.stats_foreach(plugin.opaque, collect_stat, t);
    g_assert_cmpuint(stat_of(t, "trace_install_loose"), ==, 0);
    g_assert_cmpuint(stat_of(t, "trace_stock_syncs"), ==, 2);
    g_assert_cmpuint(stat_of(t, "trace_loose_syncs"), ==, 0);
    g_assert_cmpuint(stat_of(t, "vcpu4_held_ns_max"), ==, 500);
    g_assert_cmpuint(stat_of(t, "vcpu_held_ns_max"), ==, 500);
    g_assert_cmpuint(stat_of(t, "vcpu_held_ns_total"), ==, 15000);
    g_assert_cmpuint(stat_of(t, "vcpu_held_count"), ==, FAKE_VCPUS);
    g_assert_cmpuint(stat_of(t, "vcpu_marked_pages"), ==, 10);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_tracking_loose(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    g_assert_cmpint(plugin.set_option(plugin.opaque, "trace-install", "loose",
                                      &msg), ==, 0);
    fake.running = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);

    /* a precopy sync runs loose and kicks at most half of the vCPUs */
    sync_once(&plugin);
    g_assert_cmpuint(fake.loose_begins, ==, 1);
    g_assert_cmpuint(fake.loose_ends, ==, 1);
    g_assert_cmpuint(fake.kicks_at_once, ==, (FAKE_VCPUS + 1) / 2);

    /* vCPU 3 re-armed on its own; the next iteration kicks the others */
    fake.owes[3] = false;
    for (int i = 0; i < FAKE_VCPUS; i++) {
        if (fake.kicks[i]) {
            fake.owes[i] = false;
        }
    }
    fake.kicks_at_once = 0;
    send_event(&plugin, MIGACCEL_EV_SRC_ITERATE, MIGACCEL_BEGIN);
    for (int i = 0; i < FAKE_VCPUS; i++) {
        unsigned want = i == 3 ? 0 : 1;

        g_assert_cmpuint(fake.kicks[i], ==, want);
    }
    for (int i = 0; i < FAKE_VCPUS; i++) {
        fake.owes[i] = false;
    }
    fake.kicks_at_once = 0;
    send_event(&plugin, MIGACCEL_EV_SRC_ITERATE, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.kicks_at_once, ==, 0);

    /* stop-and-copy: settle the stragglers, then the stock sync */
    fake.running = false;
    sync_once(&plugin);
    g_assert_cmpuint(fake.settles, ==, 1);
    g_assert_cmpuint(fake.loose_begins, ==, 1);

    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    plugin.stats_foreach(plugin.opaque, collect_stat, t);
    g_assert_cmpuint(stat_of(t, "trace_install_loose"), ==, 1);
    g_assert_cmpuint(stat_of(t, "trace_loose_syncs"), ==, 1);
    g_assert_cmpuint(stat_of(t, "trace_stock_syncs"), ==, 1);
    g_assert_cmpuint(stat_of(t, "trace_kicks"), ==, FAKE_VCPUS - 1);
    g_assert_cmpuint(stat_of(t, "trace_stopped_settle_pages"), ==, 7);
    char *v = plugin.get_option(plugin.opaque, "trace-install");
    g_assert_cmpstr(v, ==, "loose");
    free(v);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_abi_install(void)
{
    void *handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    g_assert_nonnull(handle);

    const uint32_t *version = dlsym(handle, "migaccel_plugin_version");
    migaccel_plugin_install_fn install =
        (migaccel_plugin_install_fn)dlsym(handle, "migaccel_plugin_install");
    g_assert_nonnull(version);
    g_assert_nonnull(install);
    g_assert_cmpuint(*version, ==, MIGACCEL_API_VERSION);
    /* -fvisibility=hidden: internals must not leak out of the plugin */
    g_assert_null(dlsym(handle, "migaccel_option_set"));
    g_assert_null(dlsym(handle, "migaccel_stats_event"));

    MigAccelHost host;
    MigAccelPlugin plugin = { .struct_size = sizeof(plugin) };
    host_log_text = g_string_new(NULL);
    fake_host(&host);
    g_assert_cmpint(install(&host, &plugin), ==, 0);
    g_assert_nonnull(plugin.opaque);
    g_assert_true(g_str_has_prefix(plugin.name, "migaccel "));
    /* This version keeps stock behaviour: no interceptors */
    g_assert_null(plugin.sync_ramblock);
    g_assert_null(plugin.find_dirty);
    g_assert_null(plugin.clear_chunk);

    char *msg = NULL;
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "tape",
                                      &msg), ==, -EINVAL);
    g_assert_nonnull(msg);
    free(msg);
    char *v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "socket");
    free(v);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "io_uring",
                                      &msg), ==, 0);
    v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "io_uring");
    free(v);
    g_assert_null(plugin.get_option(plugin.opaque, "nope"));

    MigAccelEventInfo info = { .struct_size = sizeof(info),
                               .event = MIGACCEL_EV_SRC_SETUP,
                               .edge = MIGACCEL_BEGIN };
    plugin.event(plugin.opaque, &info);
    info.edge = MIGACCEL_END;
    plugin.event(plugin.opaque, &info);

    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    plugin.stats_foreach(plugin.opaque, collect_stat, t);
    g_assert_cmpuint(stat_of(t, "api_version"), ==, MIGACCEL_API_VERSION);
    g_assert_cmpuint(stat_of(t, "migrations_started"), ==, 1);
    g_assert_cmpuint(stat_of(t, "src_setup_calls"), ==, 1);
    g_assert_cmpuint(stat_of(t, "hook_calls"), ==, 2);
    g_assert_true(stat_of(t, "io_uring_available") <= 1);

    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_abi_refuses_old_tables(void)
{
    void *handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    g_assert_nonnull(handle);
    migaccel_plugin_install_fn install =
        (migaccel_plugin_install_fn)dlsym(handle, "migaccel_plugin_install");

    MigAccelHost host;
    MigAccelPlugin plugin = { .struct_size = sizeof(plugin) };
    host_log_text = g_string_new(NULL);
    fake_host(&host);
    /* a version 1 QEMU: no per-vCPU tracking services */
    host.struct_size = offsetof(MigAccelHost, dirty_tracking);
    g_assert_cmpint(install(&host, &plugin), ==, -ENOTSUP);
    g_assert_nonnull(strstr(host_log_text->str, "older than API version 5"));
    g_assert_null(plugin.opaque);
    /* a version 2 QEMU: no dirty summary */
    host.struct_size = offsetof(MigAccelHost, set_dirty_summary_level);
    g_assert_cmpint(install(&host, &plugin), ==, -ENOTSUP);
    g_assert_null(plugin.opaque);
    /* a version 3 QEMU: no negotiation */
    host.struct_size = offsetof(MigAccelHost, peer);
    g_assert_cmpint(install(&host, &plugin), ==, -ENOTSUP);
    g_assert_null(plugin.opaque);
    /* a version 4 QEMU: no stream hooks in its plugin table */
    host.struct_size = sizeof(host);
    plugin.struct_size = offsetof(MigAccelPlugin, stream_open);
    g_assert_cmpint(install(&host, &plugin), ==, -ENOTSUP);
    g_assert_null(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_wp_granularity(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    /* default 4K: QEMU's own sync, still set explicitly at setup */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level_calls, ==, 1);
    g_assert_cmpuint(fake.level, ==, 0);
    g_assert_cmpuint(fake.summary_resets, ==, 1);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "1G",
                                      &msg), ==, 0);
    char *v = plugin.get_option(plugin.opaque, "wp-granularity");
    g_assert_cmpstr(v, ==, "1G");
    free(v);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level, ==, 18);
    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    plugin.stats_foreach(plugin.opaque, collect_stat, t);
    g_assert_cmpuint(stat_of(t, "wp_granularity_bytes"), ==, 1u << 30);
    g_assert_cmpuint(stat_of(t, "wp_granularity_in_force_bytes"), ==, 1u << 30);
    g_assert_cmpuint(stat_of(t, "wp_top_regions_dirty"), ==, 4);
    g_assert_cmpuint(stat_of(t, "wp_2m_regions_dirty"), ==, 5);
    g_assert_cmpuint(stat_of(t, "wp_words_read"), ==, 6);
    g_assert_cmpuint(stat_of(t, "wp_search_region_reads"), ==, 7);
    /* migration over: later syncs (COLO, dirty rate) read every word */
    send_event(&plugin, MIGACCEL_EV_SRC_CLEANUP, MIGACCEL_END);
    g_assert_cmpuint(fake.level, ==, 0);

    /* a QEMU that cannot summarise: a warning, never a silent 4K */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "2M",
                                      &msg), ==, 0);
    fake.summary_refused = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level, ==, 0);
    g_assert_nonnull(strstr(host_log_text->str, "wp-granularity=2M: this "
                            "QEMU cannot summarise"));
    g_hash_table_remove_all(t);
    plugin.stats_foreach(plugin.opaque, collect_stat, t);
    g_assert_cmpuint(stat_of(t, "wp_granularity_bytes"), ==, 2u << 20);
    g_assert_cmpuint(stat_of(t, "wp_granularity_in_force_bytes"), ==, 4096);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "1T",
                                      &msg), ==, -EINVAL);
    free(msg);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void sync_end(MigAccelPlugin *plugin, uint64_t sync_count)
{
    MigAccelEventInfo info = { .struct_size = sizeof(info),
                               .event = MIGACCEL_EV_SYNC,
                               .edge = MIGACCEL_END,
                               .sync_count = sync_count };
    plugin->event(plugin->opaque, &info);
}

static uint64_t stat_now(MigAccelPlugin *plugin, const char *name)
{
    g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                    g_free, g_free);
    plugin->stats_foreach(plugin->opaque, collect_stat, t);
    return stat_of(t, name);
}

static void test_switchover_bitmap(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    g_assert_nonnull(plugin.want_postcopy);
    g_assert_cmpuint(plugin.features(plugin.opaque), ==,
                     MIGACCEL_FEAT_CODEC_V1);

    /* precopy (default): never asks for postcopy */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 3);
    g_assert_cmpint(plugin.want_postcopy(plugin.opaque, 1 << 30), ==,
                    MIGACCEL_DEFER);

    /* bitmap without postcopy-ram: a warning and precopy, never silent */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "switchover", "bitmap",
                                      &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_nonnull(strstr(host_log_text->str, "switchover=bitmap needs the "
                            "postcopy-ram capability"));
    sync_end(&plugin, 3);
    g_assert_cmpint(plugin.want_postcopy(plugin.opaque, 1 << 30), ==,
                    MIGACCEL_DEFER);
    g_assert_cmpuint(stat_now(&plugin, "switchover_fallbacks"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "switchover_bitmap_in_force"), ==, 0);

    /* with postcopy-ram: after the first pass (second sync), once */
    fake.postcopy_ram = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(stat_now(&plugin, "switchover_bitmap_in_force"), ==, 1);
    sync_end(&plugin, 1);
    g_assert_cmpint(plugin.want_postcopy(plugin.opaque, 1 << 30), ==,
                    MIGACCEL_DEFER);
    sync_end(&plugin, 2);
    g_assert_cmpint(plugin.want_postcopy(plugin.opaque, 1 << 30), ==,
                    MIGACCEL_HANDLED);
    g_assert_cmpint(plugin.want_postcopy(plugin.opaque, 1 << 30), ==,
                    MIGACCEL_DEFER);

    /* the discard goes compressed: encode, decode, counters */
    const uint64_t nbits = 100000;
    uint64_t bits[(100000 + 63) / 64] = { 0 };
    uint64_t back[(100000 + 63) / 64] = { 0 };
    for (uint64_t i = 5000; i < 9000; i++) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
    }
    uint64_t bound = plugin.bitmap_bound(plugin.opaque, nbits);
    g_assert_cmpuint(bound, >, 0);
    uint8_t *enc = g_malloc(bound);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_BEGIN);
    int64_t len = plugin.bitmap_encode(plugin.opaque, NULL,
                                       MIGACCEL_BITMAP_DISCARD, bits, nbits,
                                       NULL, 0, enc, bound);
    g_assert_cmpint(len, >, 0);
    g_assert_cmpint(len, <, 100);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_END);
    g_assert_cmpuint(stat_now(&plugin, "switchover_mode"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "discard_format"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "discard_blocks_encoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "discard_wire_bytes"), ==, len);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, 4000);
    g_assert_null(msg);
    g_assert_cmpmem(bits, sizeof(bits), back, sizeof(back));

    /* injected faults: each spoils one message, with its exact error */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "discard-flip", &msg), ==, 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_DISCARD,
                               bits, nbits, NULL, 0, enc, bound);
    memset(back, 0, sizeof(back));
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, -EBADMSG);
    g_assert_nonnull(strstr(msg, "checksum mismatch"));
    free(msg);
    msg = NULL;
    g_assert_true(memcmp(back, (uint64_t[G_N_ELEMENTS(back)]){ 0 },
                         sizeof(back)) == 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_DISCARD,
                               bits, nbits, NULL, 0, enc, bound);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, 4000);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "discard-truncate", &msg), ==, 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_DISCARD,
                               bits, nbits, NULL, 0, enc, bound);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, -EINVAL);
    g_assert_nonnull(strstr(msg, "truncated"));
    free(msg);
    msg = NULL;
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "discard_decode_errors"), ==, 2);
    /* prediscard-flip spoils the pre-discard, not the discard after it */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "prediscard-flip", &msg), ==, 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_DISCARD,
                               bits, nbits, NULL, 0, enc, bound);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, 4000);
    len = plugin.bitmap_encode(plugin.opaque, NULL,
                               MIGACCEL_BITMAP_PREDISCARD, bits, nbits, NULL,
                               0, enc, bound);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, -EBADMSG);
    free(msg);
    msg = NULL;
    g_assert_cmpuint(stat_now(&plugin, "prediscard_blocks_encoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 3);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "everything", &msg), ==, -EINVAL);
    free(msg);
    msg = NULL;

    /* postcopy recovery: discard faults leave the receive bitmap alone */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "discard-flip", &msg), ==, 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_RECEIVED,
                               bits, nbits, NULL, 0, enc, bound);
    memset(back, 0, sizeof(back));
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_RECEIVED, enc, len,
                                         back, nbits, &msg), ==, 4000);
    g_assert_cmpmem(bits, sizeof(bits), back, sizeof(back));
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_blocks_encoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_blocks_decoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_wire_bytes"), ==, 2 * len);
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 3);
    /* recv-flip spoils the next receive bitmap only, once */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "recv-flip", &msg), ==, 0);
    len = plugin.bitmap_encode(plugin.opaque, NULL, MIGACCEL_BITMAP_DISCARD,
                               bits, nbits, NULL, 0, enc, bound);
    g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                         MIGACCEL_BITMAP_DISCARD, enc, len,
                                         back, nbits, &msg), ==, 4000);
    for (int attempt = 0; attempt < 2; attempt++) {
        len = plugin.bitmap_encode(plugin.opaque, NULL,
                                   MIGACCEL_BITMAP_RECEIVED, bits, nbits,
                                   NULL, 0, enc, bound);
        memset(back, 0, sizeof(back));
        g_assert_cmpint(plugin.bitmap_decode(plugin.opaque, NULL,
                                             MIGACCEL_BITMAP_RECEIVED, enc,
                                             len, back, nbits, &msg), ==,
                        attempt ? 4000 : -EBADMSG);
        if (!attempt) {
            g_assert_nonnull(strstr(msg, "checksum mismatch"));
            free(msg);
            msg = NULL;
        }
    }
    g_assert_cmpmem(bits, sizeof(bits), back, sizeof(back));
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_decode_errors"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 4);
    g_assert_nonnull(strstr(host_log_text->str, "x-inject-fault=recv-flip"));
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault", "none",
                                      &msg), ==, 0);

    /* a stock peer: QEMU sent ranges, the counters and the log say so */
    fake.peer = MIGACCEL_PEER_STOCK;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_BEGIN);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_END);
    g_assert_cmpuint(stat_now(&plugin, "discard_format"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "peer_state"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "switchover_mode"), ==, 1);
    g_assert_nonnull(strstr(host_log_text->str, "the destination has no "
                            "migration accelerator"));

    g_free(enc);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_stream_transport(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    /* socket (default): QEMU keeps sending, nothing said */
    g_assert_cmpint(plugin.stream_open(plugin.opaque, sv[0], NULL), ==,
                    MIGACCEL_DEFER);
    g_assert_cmpuint(stat_now(&plugin, "transport_fallbacks"), ==, 0);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "io_uring",
                                      &msg), ==, 0);
    /* a channel that is not a socket (TLS, file): QEMU sends, and says so */
    g_assert_cmpint(plugin.stream_open(plugin.opaque, -1, "qio-channel-tls"),
                    ==, MIGACCEL_DEFER);
    g_assert_nonnull(strstr(host_log_text->str, "transport=io_uring: the "
                            "migration channel is a qio-channel-tls"));
    /* no io_uring here (pretended): QEMU sends, and the reason is logged */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "uring-missing", &msg), ==, 0);
    g_assert_cmpint(plugin.stream_open(plugin.opaque, sv[0], NULL), ==,
                    MIGACCEL_DEFER);
    g_assert_cmpuint(stat_now(&plugin, "transport_fallbacks"), ==, 2);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault", "none",
                                      &msg), ==, 0);

    /* io_uring: the plugin sends QEMU's flushes, in order */
    if (stat_now(&plugin, "io_uring_available")) {
        static const char a[] = "header", b[] = "page-bytes", c[] = "!";
        const MigAccelIov iov[] = { { a, 6 }, { b, 10 }, { c, 1 } };
        char got[18] = { 0 };

        g_assert_cmpint(plugin.stream_open(plugin.opaque, sv[0], NULL), ==,
                        MIGACCEL_HANDLED);
        g_assert_cmpint(plugin.stream_writev(plugin.opaque, iov, 3, &msg), ==,
                        0);
        g_assert_cmpint(plugin.stream_writev(plugin.opaque, iov + 2, 1, &msg),
                        ==, 0);
        plugin.stream_close(plugin.opaque);
        g_assert_cmpint(read(sv[1], got, sizeof(got)), ==, 18);
        g_assert_cmpmem(got, 18, "headerpage-bytes!!", 18);
        g_assert_cmpuint(stat_now(&plugin, "stream_bytes"), ==, 18);
        g_assert_cmpuint(stat_now(&plugin, "stream_writes"), ==, 2);
        g_assert_cmpuint(stat_now(&plugin, "transport_in_force"), >, 1);
        g_assert_cmpuint(stat_now(&plugin, "stream_syscalls"), >=, 2);
        /* the peer is gone: the write fails with a reason */
        close(sv[1]);
        g_assert_cmpint(plugin.stream_open(plugin.opaque, sv[0], NULL), ==,
                        MIGACCEL_HANDLED);
        g_assert_cmpint(plugin.stream_writev(plugin.opaque, iov, 3, &msg), <,
                        0);
        g_assert_nonnull(msg);
        free(msg);
        msg = NULL;
        g_assert_cmpuint(stat_now(&plugin, "stream_write_errors"), ==, 1);
        plugin.stream_close(plugin.opaque);
    } else {
        g_test_message("io_uring unavailable here: only the fallbacks tested");
        close(sv[1]);
    }
    close(sv[0]);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (argc < 2) {
        g_printerr("usage: %s PATH-TO-libmigaccel.so\n", argv[0]);
        return 2;
    }
    plugin_path = argv[1];
    g_test_add_func("/options/defaults", test_options_defaults);
    g_test_add_func("/options/errors", test_options_errors);
    g_test_add_func("/options/cover-qemu-properties",
                    test_options_cover_qemu_properties);
    g_test_add_func("/stats/phases", test_stats_phases);
    g_test_add_func("/stats/end-without-begin", test_stats_end_without_begin);
    g_test_add_func("/abi/install", test_abi_install);
    g_test_add_func("/abi/refuses-old-tables", test_abi_refuses_old_tables);
    g_test_add_func("/tracking/stock", test_tracking_stock);
    g_test_add_func("/tracking/loose", test_tracking_loose);
    g_test_add_func("/wp/granularity", test_wp_granularity);
    g_test_add_func("/switchover/bitmap", test_switchover_bitmap);
    g_test_add_func("/stream/transport", test_stream_transport);
    return g_test_run();
}
