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
    /* loading the plugin turns the accelerations on */
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRACE_INSTALL), ==,
                    "loose");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_WP_GRANULARITY), ==,
                    "1G");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_SWITCHOVER), ==,
                    "bitmap");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRANSPORT), ==,
                    "io_uring");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_FIRST_PASS), ==,
                    "populated");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_INJECT_FAULT), ==,
                    "none");
    for (int i = 0; i < MIGACCEL_OPT__MAX; i++) {
        g_assert_false(migaccel_option_set_by_user(&opts, i));
    }
    g_assert_cmpstr(migaccel_option_get(&opts,
                                        MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS),
                    ==, "20");
    g_assert_cmpint(migaccel_option_number(&opts,
                                           MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS),
                    ==, 20);
    g_assert_cmpint(migaccel_option_lookup("transport"), ==,
                    MIGACCEL_OPT_TRANSPORT);
    g_assert_cmpint(migaccel_option_lookup("nope"), ==, -1);
}

/* The option names in the order QEMU shows them (qom-get, its errors) */
static const char *const expected_option_names[] = {
    "trace-install", "wp-granularity", "switchover", "transport",
    "precopy-downtime-max-ms", "first-pass", "precopy-max-passes",
    "postcopy-queue-kb", "x-inject-fault",
};

/*
 * QEMU forwards options opaquely and lists what the plugin's option_names
 * says: that list must hold every option set_option() knows, and only those.
 */
static void assert_option_names(const char *const *names)
{
    size_t n = 0;

    g_assert_nonnull(names);
    for (; names[n]; n++) {
        g_assert_cmpuint(n, <, G_N_ELEMENTS(expected_option_names));
        g_assert_cmpstr(names[n], ==, expected_option_names[n]);
    }
    g_assert_cmpuint(n, ==, G_N_ELEMENTS(expected_option_names));
}

static void test_options_names(void)
{
    const char *const *names = migaccel_option_names();

    assert_option_names(names);
    g_assert_cmpuint(G_N_ELEMENTS(expected_option_names), ==,
                     MIGACCEL_OPT__MAX);
    for (int i = 0; i < MIGACCEL_OPT__MAX; i++) {
        g_assert_cmpint(migaccel_option_lookup(names[i]), ==, i);
        g_assert_cmpstr(migaccel_option_name(i), ==, names[i]);
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
    g_assert_true(migaccel_option_set_by_user(&opts, MIGACCEL_OPT_SWITCHOVER));
    /* each stock behaviour is one option away */
    g_assert_cmpint(migaccel_option_set(&opts, "transport", "socket", &msg),
                    ==, 0);
    g_assert_cmpint(migaccel_option_set(&opts, "trace-install", "stock", &msg),
                    ==, 0);
    g_assert_cmpint(migaccel_option_set(&opts, "wp-granularity", "4K", &msg),
                    ==, 0);
    g_assert_null(msg);
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_WP_GRANULARITY), ==,
                    "4K");

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
    g_assert_cmpstr(msg, ==, "unknown option 'colour' (options: "
                    "trace-install, wp-granularity, switchover, transport, "
                    "precopy-downtime-max-ms, first-pass, precopy-max-passes, "
                    "postcopy-queue-kb, x-inject-fault)");
    free(msg);
    msg = NULL;

    /* A number option: whole decimal numbers within its range only */
    static const char *const bad_numbers[] = {
        "", "-1", "+5", "1.5", "20ms", "2000001", "99999999999999999999",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad_numbers); i++) {
        g_assert_cmpint(migaccel_option_set(&opts, "precopy-downtime-max-ms",
                                            bad_numbers[i], &msg), ==,
                        -EINVAL);
        g_autofree char *want = g_strdup_printf(
            "invalid value '%s' for precopy-downtime-max-ms (accepted: a "
            "whole number from 0 to 2000000)", bad_numbers[i]);
        g_assert_cmpstr(msg, ==, want);
        free(msg);
        msg = NULL;
    }
    g_assert_cmpint(migaccel_option_set(&opts, "precopy-downtime-max-ms", "0",
                                        &msg), ==, 0);
    g_assert_cmpstr(migaccel_option_get(&opts,
                                        MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS),
                    ==, "0");
    g_assert_cmpint(migaccel_option_set(&opts, "precopy-downtime-max-ms",
                                        "2000000", &msg), ==, 0);
    g_assert_cmpint(migaccel_option_number(&opts,
                                           MIGACCEL_OPT_PRECOPY_DOWNTIME_MAX_MS),
                    ==, 2000000);
    g_assert_cmpint(migaccel_option_number(&opts, MIGACCEL_OPT_TRANSPORT), ==,
                    -1);

    /* A refused value leaves the one in force */
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_TRANSPORT), ==,
                    "socket");
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_SWITCHOVER), ==,
                    "bitmap");
}

/* One reported stat: a counter (sink->number) or a named state (->string) */
typedef struct StatValue {
    bool is_string;
    uint64_t number;
    char *string;
} StatValue;

static void stat_value_free(gpointer p)
{
    StatValue *v = p;

    g_free(v->string);
    g_free(v);
}

static void collect_add(GHashTable *table, const char *name, StatValue *v)
{
    /* A name reported twice, even once of each kind, is ambiguous for QEMU */
    g_assert_false(g_hash_table_contains(table, name));
    g_hash_table_insert(table, g_strdup(name), v);
}

static void collect_number(void *opaque, const char *name, uint64_t value)
{
    StatValue *v = g_new0(StatValue, 1);

    v->number = value;
    collect_add(opaque, name, v);
}

static void collect_string(void *opaque, const char *name, const char *value)
{
    StatValue *v = g_new0(StatValue, 1);

    g_assert_nonnull(value);
    v->is_string = true;
    v->string = g_strdup(value);
    collect_add(opaque, name, v);
}

static GHashTable *new_stats_table(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 stat_value_free);
}

static MigAccelStatSink stats_sink(GHashTable *table)
{
    return (MigAccelStatSink) {
        .number = collect_number,
        .string = collect_string,
        .opaque = table,
    };
}

static uint64_t stat_of(GHashTable *table, const char *name)
{
    StatValue *v = g_hash_table_lookup(table, name);

    if (!v) {
        g_error("counter %s missing", name);
    }
    if (v->is_string) {
        g_error("%s is a named state (\"%s\"), not a counter", name,
                v->string);
    }
    return v->number;
}

/* Enums travel as names: a number here would be an ABI break */
static const char *stat_str_of(GHashTable *table, const char *name)
{
    StatValue *v = g_hash_table_lookup(table, name);

    if (!v) {
        g_error("named state %s missing", name);
    }
    if (!v->is_string) {
        g_error("%s is a counter (%" G_GUINT64_FORMAT "), not a named state",
                name, v->number);
    }
    return v->string;
}

static GHashTable *stats_table(MigAccelStats *stats)
{
    GHashTable *t = new_stats_table();
    MigAccelStatSink sink = stats_sink(t);

    migaccel_stats_foreach(stats, &sink);
    return t;
}

/* Everything the plugin reports through its stats hook, as QEMU asks */
static GHashTable *plugin_stats_table(MigAccelPlugin *plugin)
{
    GHashTable *t = new_stats_table();
    MigAccelStatSink sink = stats_sink(t);

    g_assert_nonnull(plugin->stats);
    plugin->stats(plugin->opaque, &sink);
    return t;
}

static uint64_t stat_now(MigAccelPlugin *plugin, const char *name)
{
    g_autoptr(GHashTable) t = plugin_stats_table(plugin);

    return stat_of(t, name);
}

/* The named state @name in force now; free with g_free() */
static char *stat_str_now(MigAccelPlugin *plugin, const char *name)
{
    g_autoptr(GHashTable) t = plugin_stats_table(plugin);

    return g_strdup(stat_str_of(t, name));
}

/* A macro, so that a failure points at the caller's line */
#define assert_stat_str(plugin, name, want)                         \
    do {                                                            \
        g_autofree char *got_ = stat_str_now((plugin), (name));     \
        g_assert_cmpstr(got_, ==, (want));                          \
    } while (0)

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
    /* 5 global counters + 5 per event */
    g_assert_cmpuint(g_hash_table_size(t), ==, 5 + 5 * MIGACCEL_EV__MAX);
    /* The last edges on the host clock, for a timeline; none before one */
    uint64_t sync_begin = stat_of(t, "sync_last_begin_real_us");
    uint64_t sync_end = stat_of(t, "sync_last_end_real_us");
    g_assert_cmpuint(sync_begin, >, 0);
    g_assert_cmpuint(sync_end, >=, sync_begin);
    g_assert_cmpuint(sync_end, <=, migaccel_real_us());
    g_assert_cmpuint(stat_of(t, "dst_complete_last_end_real_us"), ==, 0);

    migaccel_stats_reset_phases(&stats);
    g_autoptr(GHashTable) t2 = stats_table(&stats);
    g_assert_cmpuint(stat_of(t2, "sync_calls"), ==, 0);
    g_assert_cmpuint(stat_of(t2, "sync_last_end_real_us"), ==, 0);
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
    /* dirty summary */
    uint32_t level;
    unsigned level_calls, summary_resets;
    bool summary_refused;
    /* negotiation */
    MigAccelPeer peer;
    uint32_t peer_features;
    bool postcopy_ram;
    bool postcopy_preempt;
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

/* The message a QEMU whose target pages are not 4 KiB gives */
#define FAKE_SUMMARY_REFUSAL "target pages are 64 KiB, not 4 KiB"

static int fake_set_level(uint32_t page_shift, char **errmsg)
{
    /* The plugin only asks for QEMU's three levels */
    g_assert_true(page_shift == 0 || page_shift == 9 || page_shift == 18);
    /* ... and offers an empty place for the message, which it frees */
    g_assert_nonnull(errmsg);
    g_assert_null(*errmsg);
    fake.level_calls++;
    if (page_shift && fake.summary_refused) {
        *errmsg = strdup(FAKE_SUMMARY_REFUSAL);
        return -ENOTSUP;
    }
    fake.level = page_shift;
    return 0;
}

static void fake_summary_stats(MigAccelDirtySummaryStats *stats)
{
    g_assert_cmpuint(stats->struct_size, >=, sizeof(*stats));
    stats->syncs = 3;
    stats->top_regions = 4;
    stats->fine_regions = 5;
    stats->words = 6;
    stats->dirty_words = 2;
    stats->search_regions = 7;
}

static void fake_summary_stats_reset(void)
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

static bool fake_postcopy_preempt(void)
{
    return fake.postcopy_preempt;
}

static const MigAccelMigrationServices fake_migration = {
    .struct_size = sizeof(MigAccelMigrationServices),
    .vm_running = fake_vm_running,
    .postcopy_ram = fake_postcopy_ram,
    .peer = fake_peer,
    .postcopy_preempt = fake_postcopy_preempt,
};

static const MigAccelTrackingServices fake_tracking = {
    .struct_size = sizeof(MigAccelTrackingServices),
    .dirty_tracking = fake_dirty_tracking,
    .vcpu_count = fake_vcpu_count,
    .loose_sync_begin = fake_loose_sync_begin,
    .loose_sync_end = fake_loose_sync_end,
    .vcpu_owes_rearm = fake_vcpu_owes_rearm,
    .vcpu_kick_rearm = fake_vcpu_kick_rearm,
    .settle_stopped_vcpus = fake_settle_stopped_vcpus,
    .vcpu_stats = fake_vcpu_stats,
    .vcpu_stats_reset = fake_vcpu_stats_reset,
};

static const MigAccelSummaryServices fake_summary = {
    .struct_size = sizeof(MigAccelSummaryServices),
    .set_level = fake_set_level,
    .stats = fake_summary_stats,
    .stats_reset = fake_summary_stats_reset,
};

static void fake_host(MigAccelHost *host)
{
    memset(host, 0, sizeof(*host));
    memset(&fake, 0, sizeof(fake));
    host->struct_size = sizeof(*host);
    host->api_version = MIGACCEL_API_VERSION;
    host->qemu_version = "7.2.18";
    host->log = fake_log;
    host->migration = &fake_migration;
    host->tracking = &fake_tracking;
    host->summary = &fake_summary;
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
    char *msg = NULL;
    g_assert_cmpint(install(host, &plugin, &msg), ==, 0);
    g_assert_null(msg);
    return plugin;
}

static void test_tracking_stock(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    /* QEMU's own way, one option away: nothing asked of the host */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "trace-install", "stock",
                                      &msg), ==, 0);
    fake.running = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_once(&plugin);
    send_event(&plugin, MIGACCEL_EV_SRC_ITERATE, MIGACCEL_BEGIN);
    fake.running = false;
    sync_once(&plugin);
    g_assert_cmpuint(fake.stats_resets, ==, 1);
    g_assert_cmpuint(fake.loose_begins + fake.loose_ends + fake.settles, ==, 0);

    g_autoptr(GHashTable) t = plugin_stats_table(&plugin);
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

    g_autoptr(GHashTable) t = plugin_stats_table(&plugin);
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
    char *msg = NULL;
    host_log_text = g_string_new(NULL);
    fake_host(&host);
    g_assert_cmpint(install(&host, &plugin, &msg), ==, 0);
    g_assert_null(msg);
    g_assert_nonnull(plugin.opaque);
    g_assert_true(g_str_has_prefix(plugin.name, "migaccel "));
    assert_option_names(plugin.option_names);
    g_assert_nonnull(plugin.uninstall);
    g_assert_nonnull(plugin.set_option);
    g_assert_nonnull(plugin.get_option);
    g_assert_nonnull(plugin.event);
    g_assert_nonnull(plugin.stats);
    /* Every ops table is offered whole, at the size this header knows */
    g_assert_nonnull(plugin.codec);
    g_assert_cmpuint(plugin.codec->struct_size, ==, sizeof(MigAccelCodecOps));
    g_assert_nonnull(plugin.codec->features);
    g_assert_nonnull(plugin.codec->bound);
    g_assert_nonnull(plugin.codec->encode);
    g_assert_nonnull(plugin.codec->decode);
    g_assert_nonnull(plugin.switchover);
    g_assert_cmpuint(plugin.switchover->struct_size, ==,
                     sizeof(MigAccelSwitchoverOps));
    g_assert_nonnull(plugin.switchover->want_postcopy);
    g_assert_nonnull(plugin.stream);
    g_assert_cmpuint(plugin.stream->struct_size, ==,
                     sizeof(MigAccelStreamOps));
    g_assert_nonnull(plugin.stream->open);
    g_assert_nonnull(plugin.stream->writev);
    g_assert_nonnull(plugin.stream->close);
    g_assert_nonnull(plugin.ram);
    g_assert_cmpuint(plugin.ram->struct_size, ==, sizeof(MigAccelRamOps));
    g_assert_nonnull(plugin.ram->populated);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "tape",
                                      &msg), ==, -EINVAL);
    g_assert_nonnull(msg);
    free(msg);
    msg = NULL;
    /* the default stayed in force */
    char *v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "io_uring");
    free(v);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "socket",
                                      &msg), ==, 0);
    v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "socket");
    free(v);
    g_assert_null(plugin.get_option(plugin.opaque, "nope"));

    MigAccelEventInfo info = { .struct_size = sizeof(info),
                               .event = MIGACCEL_EV_SRC_SETUP,
                               .edge = MIGACCEL_BEGIN };
    plugin.event(plugin.opaque, &info);
    info.edge = MIGACCEL_END;
    plugin.event(plugin.opaque, &info);

    g_autoptr(GHashTable) t = plugin_stats_table(&plugin);
    g_assert_cmpuint(stat_of(t, "api_version"), ==, MIGACCEL_API_VERSION);
    g_assert_cmpuint(stat_of(t, "migrations_started"), ==, 1);
    g_assert_cmpuint(stat_of(t, "src_setup_calls"), ==, 1);
    g_assert_cmpuint(stat_of(t, "hook_calls"), ==, 2);
    g_assert_true(stat_of(t, "io_uring_available") <= 1);
    /* Enums go by name, never as numbers */
    g_assert_cmpstr(stat_str_of(t, "dirty_tracking"), ==, "tcg");
    g_assert_cmpstr(stat_str_of(t, "switchover_mode"), ==, "precopy");
    /* switchover=bitmap by default, without postcopy-ram: a note, counted */
    g_assert_cmpuint(stat_of(t, "switchover_fallbacks"), ==, 1);
    g_assert_nonnull(strstr(host_log_text->str,
                            "switchover=bitmap (the default) needs the "
                            "postcopy-ram capability on both sides"));
    g_assert_cmpstr(stat_str_of(t, "peer_state"), ==, "none");
    g_assert_cmpstr(stat_str_of(t, "discard_format"), ==, "none");
    /* io_uring wanted but no stream opened yet: QEMU sends */
    g_assert_cmpstr(stat_str_of(t, "transport_in_force"), ==, "socket");

    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

/*
 * Install against @host must fail with -ENOTSUP and a malloc()ed message
 * that names @table; nothing is installed and nothing goes to the log,
 * since QEMU reports the message itself.
 */
static void assert_install_refused(migaccel_plugin_install_fn install,
                                   const MigAccelHost *host,
                                   uint32_t plugin_size, const char *table)
{
    MigAccelPlugin plugin = { .struct_size = plugin_size };
    g_autofree char *want = g_strdup_printf("QEMU's %s table is older",
                                            table);
    g_autofree char *version = g_strdup_printf("needs API version %d",
                                               MIGACCEL_API_VERSION);
    char *msg = NULL;

    g_assert_cmpint(install(host, &plugin, &msg), ==, -ENOTSUP);
    g_assert_nonnull(msg);
    g_assert_nonnull(strstr(msg, want));
    g_assert_nonnull(strstr(msg, version));
    free(msg);
    g_assert_null(plugin.opaque);
    g_assert_cmpuint(host_log_text->len, ==, 0);
}

static void test_abi_refuses_old_tables(void)
{
    void *handle = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
    g_assert_nonnull(handle);
    migaccel_plugin_install_fn install =
        (migaccel_plugin_install_fn)dlsym(handle, "migaccel_plugin_install");
    g_assert_nonnull(install);

    MigAccelHost host;
    host_log_text = g_string_new(NULL);
    fake_host(&host);

    /* a host struct without the summary services */
    host.struct_size = offsetof(MigAccelHost, summary);
    assert_install_refused(install, &host, sizeof(MigAccelPlugin), "host");
    host.struct_size = sizeof(host);

    /* each facility's table one member short of what this build knows */
    MigAccelMigrationServices old_migration = fake_migration;
    old_migration.struct_size = offsetof(MigAccelMigrationServices, peer);
    host.migration = &old_migration;
    assert_install_refused(install, &host, sizeof(MigAccelPlugin),
                           "migration services");
    host.migration = &fake_migration;

    MigAccelTrackingServices old_tracking = fake_tracking;
    old_tracking.struct_size = offsetof(MigAccelTrackingServices,
                                        vcpu_stats_reset);
    host.tracking = &old_tracking;
    assert_install_refused(install, &host, sizeof(MigAccelPlugin),
                           "tracking services");
    host.tracking = &fake_tracking;

    MigAccelSummaryServices old_summary = fake_summary;
    old_summary.struct_size = offsetof(MigAccelSummaryServices, stats_reset);
    host.summary = &old_summary;
    assert_install_refused(install, &host, sizeof(MigAccelPlugin),
                           "summary services");
    host.summary = &fake_summary;

    /* a QEMU whose plugin table has no room for the stream ops */
    assert_install_refused(install, &host, offsetof(MigAccelPlugin, stream),
                           "plugin");

    /* the same host, whole again, is accepted */
    MigAccelPlugin plugin = { .struct_size = sizeof(plugin) };
    char *msg = NULL;
    g_assert_cmpint(install(&host, &plugin, &msg), ==, 0);
    g_assert_null(msg);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_abi_unknown_option(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    g_assert_cmpint(plugin.set_option(plugin.opaque, "trace-install", "loose",
                                      &msg), ==, 0);
    g_assert_null(msg);

    /* the user learns which options exist, whatever QEMU knows of them */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "colour", "red", &msg),
                    ==, -EINVAL);
    g_assert_cmpstr(msg, ==, "unknown option 'colour' (options: "
                    "trace-install, wp-granularity, switchover, transport, "
                    "precopy-downtime-max-ms, first-pass, precopy-max-passes, "
                    "postcopy-queue-kb, x-inject-fault)");
    free(msg);
    msg = NULL;
    /* a near miss is no match */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transports", "io_uring",
                                      &msg), ==, -EINVAL);
    g_assert_nonnull(strstr(msg, "unknown option 'transports' (options: "));
    free(msg);
    msg = NULL;
    g_assert_null(plugin.get_option(plugin.opaque, "colour"));

    /* the refusals changed nothing in force */
    char *v = plugin.get_option(plugin.opaque, "trace-install");
    g_assert_cmpstr(v, ==, "loose");
    free(v);
    v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "io_uring");
    free(v);
    g_assert_cmpuint(stat_now(&plugin, "trace_install_loose"), ==, 1);

    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

static void test_wp_granularity(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    /* the default: 1 GiB regions */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level_calls, ==, 1);
    g_assert_cmpuint(fake.level, ==, 18);
    g_assert_cmpuint(fake.summary_resets, ==, 1);

    /* 4K: QEMU's own sync, still set explicitly at setup */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "4K",
                                      &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level_calls, ==, 2);
    g_assert_cmpuint(fake.level, ==, 0);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "1G",
                                      &msg), ==, 0);
    char *v = plugin.get_option(plugin.opaque, "wp-granularity");
    g_assert_cmpstr(v, ==, "1G");
    free(v);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level, ==, 18);
    g_autoptr(GHashTable) t = plugin_stats_table(&plugin);
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
    g_autoptr(GHashTable) t2 = plugin_stats_table(&plugin);
    g_assert_cmpuint(stat_of(t2, "wp_granularity_bytes"), ==, 2u << 20);
    g_assert_cmpuint(stat_of(t2, "wp_granularity_in_force_bytes"), ==, 4096);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "1T",
                                      &msg), ==, -EINVAL);
    free(msg);
    plugin.uninstall(plugin.opaque);
    g_string_free(host_log_text, TRUE);
    dlclose(handle);
}

/*
 * set_level() fails the v6 way, -ENOTSUP with QEMU's reason: the plugin
 * warns with that reason, falls back to 4K, and says so in its counters.
 */
static void test_wp_summary_refused(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    g_assert_cmpint(plugin.set_option(plugin.opaque, "wp-granularity", "1G",
                                      &msg), ==, 0);
    g_assert_null(msg);
    fake.summary_refused = true;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    /* 1G refused, then 4K set explicitly rather than left to chance */
    g_assert_cmpuint(fake.level_calls, ==, 2);
    g_assert_cmpuint(fake.level, ==, 0);
    g_assert_cmpuint(fake.summary_resets, ==, 1);
    g_autofree char *want = g_strdup_printf(
        "%d:wp-granularity=1G: this QEMU cannot summarise its dirty bitmap "
        "at that granularity (" FAKE_SUMMARY_REFUSAL "); syncs read every "
        "page bit as with 4K\n", MIGACCEL_LOG_WARNING);
    g_assert_nonnull(strstr(host_log_text->str, want));

    g_autoptr(GHashTable) t = plugin_stats_table(&plugin);
    g_assert_cmpuint(stat_of(t, "wp_granularity_bytes"), ==, 1u << 30);
    g_assert_cmpuint(stat_of(t, "wp_granularity_in_force_bytes"), ==, 4096);

    /* a later migration on a QEMU that can summarise gets the 1G asked */
    fake.summary_refused = false;
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(fake.level, ==, 18);
    g_assert_cmpuint(stat_now(&plugin, "wp_granularity_in_force_bytes"), ==,
                     1u << 30);

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

static void test_switchover_bitmap(void)
{
    void *handle;
    MigAccelHost host;
    MigAccelPlugin plugin = install_plugin(&handle, &host);
    char *msg = NULL;

    g_assert_nonnull(plugin.switchover);
    g_assert_nonnull(plugin.codec);
    const MigAccelSwitchoverOps *sw = plugin.switchover;
    const MigAccelCodecOps *codec = plugin.codec;
    g_assert_cmpuint(codec->features(plugin.opaque), ==,
                     MIGACCEL_FEAT_CODEC_V1 | MIGACCEL_FEAT_ZERO_UNSENT_V1);

    /* precopy: never asks for postcopy, never holds precopy */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "switchover", "precopy",
                                      &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 3);
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 1 << 30, 1));

    /* bitmap without postcopy-ram: a warning and precopy, never silent */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "switchover", "bitmap",
                                      &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    /* asked for by the user: a warning (level 1) */
    g_assert_nonnull(strstr(host_log_text->str, "1:switchover=bitmap needs "
                            "the postcopy-ram capability"));
    sync_end(&plugin, 3);
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 1 << 30, 1));
    g_assert_cmpuint(stat_now(&plugin, "switchover_fallbacks"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "switchover_bitmap_in_force"), ==, 0);

    /* with postcopy-ram but no postcopy-preempt: a hint, and the stat */
    fake.postcopy_ram = true;
    fake.postcopy_preempt = true;
    g_string_truncate(host_log_text, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_null(strstr(host_log_text->str, "postcopy-preempt"));
    g_assert_cmpuint(stat_now(&plugin, "postcopy_preempt"), ==, 1);
    fake.postcopy_preempt = false;

    /* with postcopy-ram: after the first pass (second sync), once */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_nonnull(strstr(host_log_text->str, "without the postcopy-preempt "
                            "capability"));
    g_assert_cmpuint(stat_now(&plugin, "postcopy_preempt"), ==, 0);
    g_assert_cmpuint(stat_now(&plugin, "switchover_bitmap_in_force"), ==, 1);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    sync_end(&plugin, 2);
    g_assert_true(sw->want_postcopy(plugin.opaque, 1 << 30));
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));

    /*
     * Precopy completion (default precopy-downtime-max-ms=20): 2 MiB at
     * 100 KiB/ms is 20.48 ms, declined once with a log line; 1 MiB is
     * about 10 ms, allowed; nothing left is always allowed.
     */
    g_assert_nonnull(sw->precopy_may_complete);
    g_string_truncate(host_log_text, 0);
    g_assert_false(sw->precopy_may_complete(plugin.opaque, 2 << 20,
                                            100 << 10));
    g_assert_false(sw->precopy_may_complete(plugin.opaque, 2 << 20,
                                            100 << 10));
    g_assert_nonnull(strstr(host_log_text->str, "about 21 ms of downtime, more "
                            "than precopy-downtime-max-ms=20"));
    g_assert_null(strstr(strstr(host_log_text->str, "about 21 ms") + 1,
                         "about 21 ms"));
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_declined"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_expected_us"), ==,
                     20480);
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 1 << 20,
                                           100 << 10));
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 0, 0));
    /* no bandwidth measured yet: unknown downtime, declined */
    g_assert_false(sw->precopy_may_complete(plugin.opaque, 4096, 0));
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_offers"), ==, 5);
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_declined"), ==, 3);
    g_assert_cmpuint(stat_now(&plugin, "precopy_downtime_max_ms"), ==, 20);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-downtime-max-ms",
                                      "300", &msg), ==, 0);
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 2 << 20,
                                           100 << 10));
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-downtime-max-ms",
                                      "0", &msg), ==, 0);
    g_assert_false(sw->precopy_may_complete(plugin.opaque, 4096, 100 << 10));
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 0, 100 << 10));
    /* a new migration starts the counts afresh */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_offers"), ==, 0);
    g_assert_cmpuint(stat_now(&plugin, "precopy_completion_declined"), ==, 0);
    sync_end(&plugin, 2);
    g_assert_true(sw->want_postcopy(plugin.opaque, 1 << 30));
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 1);
    /* QEMU offers the completion after a pass's sync, before want_postcopy */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    sync_end(&plugin, 2);
    g_assert_false(sw->want_postcopy(plugin.opaque, 64 << 20));
    sync_end(&plugin, 3);
    g_assert_true(sw->precopy_may_complete(plugin.opaque, 0, 100 << 10));
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 2);

    /*
     * The default precopy-max-passes=8: a further pass only while the last
     * one left at most half of what it had to send (the first pass: what
     * was pending when it began).
     */
    g_assert_cmpuint(stat_now(&plugin, "precopy_max_passes"), ==, 8);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 0);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 4ull << 30));
    g_assert_false(sw->want_postcopy(plugin.opaque, 3ull << 30));
    sync_end(&plugin, 2);
    /* 1 GiB left of 4: a second pass; its other calls are that pass */
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 29));
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 1);
    sync_end(&plugin, 3);
    /* 600 MiB left of 1 GiB: not halved, switch */
    g_assert_true(sw->want_postcopy(plugin.opaque, 600 << 20));
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "precopy_pass_left_bytes"), ==,
                     600 << 20);
    g_assert_cmpuint(stat_now(&plugin, "precopy_pass_left_bytes_before"), ==,
                     1 << 30);
    g_assert_false(sw->want_postcopy(plugin.opaque, 600 << 20));

    /* a first pass that left more than half: no second pass at all */
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 2ull << 30));
    sync_end(&plugin, 2);
    g_assert_true(sw->want_postcopy(plugin.opaque, (1ull << 30) + 4096));

    /* precopy-max-passes=3: halving every time, the third pass is the last */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-max-passes",
                                      "0", &msg), ==, -EINVAL);
    g_assert_nonnull(strstr(msg, "from 1 to 64"));
    free(msg);
    msg = NULL;
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-max-passes",
                                      "3", &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 4ull << 30));
    sync_end(&plugin, 2);
    g_assert_false(sw->want_postcopy(plugin.opaque, 1 << 30));
    sync_end(&plugin, 3);
    g_assert_false(sw->want_postcopy(plugin.opaque, 512 << 20));
    sync_end(&plugin, 4);
    g_assert_true(sw->want_postcopy(plugin.opaque, 100 << 20));
    g_assert_cmpuint(stat_now(&plugin, "precopy_passes"), ==, 3);
    g_assert_cmpuint(stat_now(&plugin, "precopy_max_passes"), ==, 3);

    /* precopy-max-passes=1: right after the first pass, however it went */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-max-passes",
                                      "1", &msg), ==, 0);
    send_event(&plugin, MIGACCEL_EV_SRC_SETUP, MIGACCEL_BEGIN);
    sync_end(&plugin, 1);
    g_assert_false(sw->want_postcopy(plugin.opaque, 4ull << 30));
    sync_end(&plugin, 2);
    g_assert_true(sw->want_postcopy(plugin.opaque, 4096));
    g_assert_cmpint(plugin.set_option(plugin.opaque, "precopy-max-passes",
                                      "8", &msg), ==, 0);

    /*
     * postcopy-queue-kb: what QEMU may let queue on a postcopy channel,
     * 256 KiB by default; the destination's window gets as much per 100 us
     * of round trip beyond 100 us, the source's unsent bytes never more.
     * 0 leaves the kernel's autotuning.  Each bound is counted.
     */
    g_assert_nonnull(sw->postcopy_queue_bytes);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, false, 0), ==,
                     256 * 1024);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, false, 100), ==,
                     256 * 1024);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, true, 10000), ==,
                     256 * 1024);
    /* a 10 ms link: the window 100 times as much, or the push runs dry */
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, false, 10000),
                     ==, 100 * 256 * 1024);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, false, 150), ==,
                     384 * 1024);
    g_assert_cmpuint(stat_now(&plugin, "postcopy_queue_bounds"), ==, 5);
    g_assert_cmpuint(stat_now(&plugin, "postcopy_queue_bytes"), ==, 384 * 1024);
    g_assert_cmpuint(stat_now(&plugin, "postcopy_queue_rtt_us"), ==, 150);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "postcopy-queue-kb",
                                      "0", &msg), ==, 0);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, false, 10000),
                     ==, 0);
    g_assert_cmpuint(stat_now(&plugin, "postcopy_queue_bounds"), ==, 5);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "postcopy-queue-kb",
                                      "1048577", &msg), ==, -EINVAL);
    g_assert_cmpstr(msg, ==, "invalid value '1048577' for postcopy-queue-kb "
                    "(accepted: a whole number from 0 to 1048576)");
    free(msg);
    msg = NULL;
    g_assert_cmpint(plugin.set_option(plugin.opaque, "postcopy-queue-kb",
                                      "64", &msg), ==, 0);
    g_assert_cmpuint(sw->postcopy_queue_bytes(plugin.opaque, true, 30), ==,
                     64 * 1024);
    g_assert_cmpuint(stat_now(&plugin, "postcopy_queue_bounds"), ==, 6);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "postcopy-queue-kb",
                                      "256", &msg), ==, 0);

    /* the discard goes compressed: encode, decode, counters */
    const uint64_t nbits = 100000;
    uint64_t bits[(100000 + 63) / 64] = { 0 };
    uint64_t back[(100000 + 63) / 64] = { 0 };
    for (uint64_t i = 5000; i < 9000; i++) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
    }
    uint64_t bound = codec->bound(plugin.opaque, nbits);
    g_assert_cmpuint(bound, >, 0);
    uint8_t *enc = g_malloc(bound);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_BEGIN);
    int64_t len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits,
                                nbits, NULL, 0, enc, bound, &msg);
    g_assert_cmpint(len, >, 0);
    g_assert_cmpint(len, <, 100);
    send_event(&plugin, MIGACCEL_EV_POSTCOPY_DISCARD, MIGACCEL_END);
    assert_stat_str(&plugin, "switchover_mode", "bitmap");
    assert_stat_str(&plugin, "discard_format", "compressed");
    g_assert_cmpuint(stat_now(&plugin, "discard_blocks_encoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "discard_wire_bytes"), ==, len);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, 4000);
    g_assert_null(msg);
    g_assert_cmpmem(bits, sizeof(bits), back, sizeof(back));

    /* injected faults: each spoils one message, with its exact error */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "discard-flip", &msg), ==, 0);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    memset(back, 0, sizeof(back));
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, -EBADMSG);
    g_assert_nonnull(strstr(msg, "checksum mismatch"));
    free(msg);
    msg = NULL;
    g_assert_true(memcmp(back, (uint64_t[G_N_ELEMENTS(back)]){ 0 },
                         sizeof(back)) == 0);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, 4000);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "discard-truncate", &msg), ==, 0);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, -EINVAL);
    g_assert_nonnull(strstr(msg, "truncated"));
    free(msg);
    msg = NULL;
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 2);
    g_assert_cmpuint(stat_now(&plugin, "discard_decode_errors"), ==, 2);
    /* prediscard-flip spoils the pre-discard, not the discard after it */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "prediscard-flip", &msg), ==, 0);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, 4000);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_PREDISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, -EBADMSG);
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
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_RECEIVED, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    memset(back, 0, sizeof(back));
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_RECEIVED, enc,
                                  len, back, nbits, &msg), ==, 4000);
    g_assert_cmpmem(bits, sizeof(bits), back, sizeof(back));
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_blocks_encoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_blocks_decoded"), ==, 1);
    g_assert_cmpuint(stat_now(&plugin, "recv_bitmap_wire_bytes"), ==, 2 * len);
    g_assert_cmpuint(stat_now(&plugin, "faults_injected"), ==, 3);
    /* recv-flip spoils the next receive bitmap only, once */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "recv-flip", &msg), ==, 0);
    len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, bits, nbits,
                        NULL, 0, enc, bound, &msg);
    g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_DISCARD, enc,
                                  len, back, nbits, &msg), ==, 4000);
    for (int attempt = 0; attempt < 2; attempt++) {
        len = codec->encode(plugin.opaque, MIGACCEL_BITMAP_RECEIVED, bits,
                            nbits, NULL, 0, enc, bound, &msg);
        memset(back, 0, sizeof(back));
        g_assert_cmpint(codec->decode(plugin.opaque, MIGACCEL_BITMAP_RECEIVED,
                                      enc, len, back, nbits, &msg), ==,
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
    assert_stat_str(&plugin, "discard_format", "stock");
    assert_stat_str(&plugin, "peer_state", "stock");
    assert_stat_str(&plugin, "switchover_mode", "postcopy");
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
    /*
     * io_uring by default, on a channel that is not a socket (TLS, file):
     * QEMU sends, and a note (level 0) says so
     */
    g_assert_false(plugin.stream->open(plugin.opaque, -1, "qio-channel-tls"));
    g_assert_nonnull(strstr(host_log_text->str, "0:transport=io_uring (the "
                            "default): the migration channel is a "
                            "qio-channel-tls"));
    g_assert_cmpuint(stat_now(&plugin, "transport_fallbacks"), ==, 1);

    /* socket: QEMU keeps sending, nothing said */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "socket",
                                      &msg), ==, 0);
    g_string_truncate(host_log_text, 0);
    g_assert_false(plugin.stream->open(plugin.opaque, sv[0], NULL));
    g_assert_cmpuint(stat_now(&plugin, "transport_fallbacks"), ==, 1);
    g_assert_cmpuint(host_log_text->len, ==, 0);

    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "io_uring",
                                      &msg), ==, 0);
    /* asked for: the same fallback is a warning (level 1) */
    g_assert_false(plugin.stream->open(plugin.opaque, -1, "qio-channel-tls"));
    g_assert_nonnull(strstr(host_log_text->str, "1:transport=io_uring: the "
                            "migration channel is a qio-channel-tls"));
    /* no io_uring here (pretended): QEMU sends, and the reason is logged */
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault",
                                      "uring-missing", &msg), ==, 0);
    g_assert_false(plugin.stream->open(plugin.opaque, sv[0], NULL));
    g_assert_cmpuint(stat_now(&plugin, "transport_fallbacks"), ==, 3);
    g_assert_cmpint(plugin.set_option(plugin.opaque, "x-inject-fault", "none",
                                      &msg), ==, 0);

    /* io_uring: the plugin sends QEMU's flushes, in order */
    if (stat_now(&plugin, "io_uring_available")) {
        static const char a[] = "header", b[] = "page-bytes", c[] = "!";
        const MigAccelIov iov[] = { { a, 6 }, { b, 10 }, { c, 1 } };
        char got[18] = { 0 };

        g_assert_true(plugin.stream->open(plugin.opaque, sv[0], NULL));
        g_assert_cmpint(plugin.stream->writev(plugin.opaque, iov, 3, &msg), ==,
                        0);
        g_assert_cmpint(plugin.stream->writev(plugin.opaque, iov + 2, 1, &msg),
                        ==, 0);
        plugin.stream->close(plugin.opaque);
        g_assert_cmpint(read(sv[1], got, sizeof(got)), ==, 18);
        g_assert_cmpmem(got, 18, "headerpage-bytes!!", 18);
        g_assert_cmpuint(stat_now(&plugin, "stream_bytes"), ==, 18);
        g_assert_cmpuint(stat_now(&plugin, "stream_writes"), ==, 2);
        /* the sender's concrete variant, not QEMU's socket writes */
        g_autofree char *in_force = stat_str_now(&plugin,
                                                 "transport_in_force");
        g_assert_cmpstr(in_force, !=, "socket");
        g_assert_true(g_str_has_prefix(in_force, "io_uring-send"));
        g_assert_cmpuint(stat_now(&plugin, "stream_syscalls"), >=, 2);
        /* the peer is gone: the write fails with a reason */
        close(sv[1]);
        g_assert_true(plugin.stream->open(plugin.opaque, sv[0], NULL));
        g_assert_cmpint(plugin.stream->writev(plugin.opaque, iov, 3, &msg), <,
                        0);
        g_assert_nonnull(msg);
        free(msg);
        msg = NULL;
        g_assert_cmpuint(stat_now(&plugin, "stream_write_errors"), ==, 1);
        plugin.stream->close(plugin.opaque);
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
    g_test_add_func("/options/names", test_options_names);
    g_test_add_func("/stats/phases", test_stats_phases);
    g_test_add_func("/stats/end-without-begin", test_stats_end_without_begin);
    g_test_add_func("/abi/install", test_abi_install);
    g_test_add_func("/abi/refuses-old-tables", test_abi_refuses_old_tables);
    g_test_add_func("/abi/unknown-option", test_abi_unknown_option);
    g_test_add_func("/tracking/stock", test_tracking_stock);
    g_test_add_func("/tracking/loose", test_tracking_loose);
    g_test_add_func("/wp/granularity", test_wp_granularity);
    g_test_add_func("/wp/summary-refused", test_wp_summary_refused);
    g_test_add_func("/switchover/bitmap", test_switchover_bitmap);
    g_test_add_func("/stream/transport", test_stream_transport);
    return g_test_run();
}
