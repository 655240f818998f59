/*
 * The driver's --trace-cpu sampler (driver/schedtrace.c): parsing of
 * /proc schedstat lines, and a window cut from sampling this very
 * process while one of its threads, named as QEMU names a vCPU, spins.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "schedtrace.h"

static void test_parse(void)
{
    guint64 run, wait;

    g_assert_true(schedtrace_parse("123 456 7\n", &run, &wait));
    g_assert_cmpuint(run, ==, 123);
    g_assert_cmpuint(wait, ==, 456);
    g_assert_true(schedtrace_parse("0 0 0", &run, &wait));
    g_assert_false(schedtrace_parse("", &run, &wait));
    g_assert_false(schedtrace_parse("12", &run, &wait));
    g_assert_false(schedtrace_parse("x 1 2", &run, &wait));
    g_assert_false(schedtrace_parse("1 y 2", &run, &wait));
}

static gint spin_stop;

static gpointer spin(gpointer unused)
{
    (void)unused;
    pthread_setname_np(pthread_self(), "CPU 0/TCG");
    while (!g_atomic_int_get(&spin_stop)) {
    }
    return NULL;
}

/* Until the sampler has completed a round that began after @after_us */
static void wait_round_after(SchedTrace *t, gint64 after_us)
{
    while (schedtrace_last_round_us(t) <= after_us) {
        g_usleep(1000);
    }
}

static void test_window(void)
{
    GThread *spinner = g_thread_new("spin", spin, NULL);
    SchedTrace *t;
    SchedWindow w = { 0 };
    gint64 from, to;
    guint n = 0;
    double ran = 0, waited = 0;

    /* the spinner names itself before the sampler first looks */
    g_usleep(20 * 1000);
    t = schedtrace_start(0, getpid());
    /* By rounds, not by time: valgrind or a busy machine slows the sampler */
    wait_round_after(t, 0);
    from = g_get_real_time();
    g_usleep(4 * SCHEDTRACE_INTERVAL_MS * 1000);
    to = g_get_real_time();
    wait_round_after(t, to);

    /* before sampling began: no window */
    schedtrace_window(t, from - 60 * G_USEC_PER_SEC, to, &w);
    g_assert_false(w.valid);

    schedtrace_window(t, from, to, &w);
    g_assert_true(w.valid);
    g_assert_cmpfloat(w.window_ms, >, 0);
    /* runnable all along: it ran or waited for a CPU, never slept */
    for (guint i = 0; i < w.threads->len; i++) {
        const SchedUse *u = &g_array_index(w.threads, SchedUse, i);

        g_assert_cmpstr(u->side, ==, "dst");
        if (g_str_equal(u->name, "CPU 0/TCG")) {
            n++;
            ran += u->ran_ms;
            waited += u->waited_ms;
        }
    }
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpfloat(ran + waited, >, 0);

    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    schedwindow_add_json(&w, b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);
    g_assert_nonnull(strstr(text, "\"name\":\"CPU 0/TCG\""));
    g_assert_nonnull(strstr(text, "\"side\":\"dst\""));

    schedwindow_clear(&w);
    schedtrace_free(t);
    g_atomic_int_set(&spin_stop, 1);
    g_thread_join(spinner);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/schedtrace/parse", test_parse);
    g_test_add_func("/schedtrace/window", test_window);
    return g_test_run();
}
