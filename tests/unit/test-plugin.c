/*
 * Unit tests of the migaccel plugin: option handling, phase accounting,
 * and the exported ABI driven through dlopen() the way QEMU drives it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

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
                    ==, -ENOTSUP);
    g_assert_nonnull(strstr(msg, "switchover=bitmap is not implemented"));
    g_assert_nonnull(strstr(msg, "accepted: precopy"));
    free(msg);
    msg = NULL;

    g_assert_cmpint(migaccel_option_set(&opts, "wp-granularity", "3M", &msg),
                    ==, -EINVAL);
    g_assert_cmpstr(msg, ==, "invalid value '3M' for wp-granularity "
                    "(accepted: 4K)");
    free(msg);
    msg = NULL;

    g_assert_cmpint(migaccel_option_set(&opts, "colour", "red", &msg), ==,
                    -EINVAL);
    g_assert_cmpstr(msg, ==, "unknown option 'colour'");
    free(msg);

    /* A refused value leaves the one in force */
    g_assert_cmpstr(migaccel_option_get(&opts, MIGACCEL_OPT_SWITCHOVER), ==,
                    "precopy");
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

static void fake_host(MigAccelHost *host)
{
    memset(host, 0, sizeof(*host));
    host->struct_size = sizeof(*host);
    host->api_version = MIGACCEL_API_VERSION;
    host->qemu_version = "7.2.18";
    host->accelerator = MIGACCEL_ACCEL_TCG;
    host->target_page_bits = 12;
    host->log = fake_log;
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
    g_assert_cmpint(plugin.set_option(plugin.opaque, "transport", "io_uring",
                                      &msg), ==, -ENOTSUP);
    g_assert_nonnull(msg);
    free(msg);
    char *v = plugin.get_option(plugin.opaque, "transport");
    g_assert_cmpstr(v, ==, "socket");
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
    host.struct_size = offsetof(MigAccelHost, ramblock_name);
    g_assert_cmpint(install(&host, &plugin), ==, -ENOTSUP);
    g_assert_nonnull(strstr(host_log_text->str, "older than API version 1"));
    g_assert_null(plugin.opaque);
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
    return g_test_run();
}
