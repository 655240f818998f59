#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(migaccel-driver-error-quark, drv_error)

static volatile sig_atomic_t interrupt_signal;
static gint64 log_start_us;
static gboolean status_line_active;

static void on_signal(int sig)
{
    interrupt_signal = sig;
}

void drv_install_signal_handlers(void)
{
    struct sigaction sa = { 0 };

    /* SA_RESETHAND: a second Ctrl-C kills us at once; the QEMUs follow via
     * PR_SET_PDEATHSIG (see vm.c). */
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A QEMU dying mid-write must give EPIPE, not kill the driver. */
    signal(SIGPIPE, SIG_IGN);
}

gboolean drv_interrupted(void)
{
    return interrupt_signal != 0;
}

int drv_interrupt_signal(void)
{
    return interrupt_signal;
}

gint64 drv_now_us(void)
{
    return g_get_monotonic_time();
}

void drv_log_init(void)
{
    log_start_us = drv_now_us();
}

double drv_elapsed_s(void)
{
    return (drv_now_us() - log_start_us) / 1e6;
}

void drv_log_set_status_line(gboolean active)
{
    status_line_active = active;
}

gboolean drv_log_get_status_line(void)
{
    return status_line_active;
}

void drv_log(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (status_line_active) {
        fputs("\r\033[K", stderr);  /* the next progress update redraws it */
        status_line_active = FALSE;
    }
    fprintf(stderr, "[%7.1fs] %s\n", drv_elapsed_s(), msg);
    fflush(stderr);
}

gboolean drv_sleep_ms(guint ms, GError **error)
{
    gint64 end = drv_now_us() + (gint64)ms * 1000;

    for (;;) {
        gint64 left = end - drv_now_us();

        if (drv_interrupted()) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERRUPTED,
                        "interrupted by signal %d", drv_interrupt_signal());
            return FALSE;
        }
        if (left <= 0) {
            return TRUE;
        }
        g_usleep(MIN(left, 50000));
    }
}

gboolean drv_parse_size(const char *str, guint64 *out)
{
    char *end = NULL;
    guint64 val, mult = 1;

    if (!str || !g_ascii_isdigit(*str)) {
        return FALSE;
    }
    errno = 0;
    val = g_ascii_strtoull(str, &end, 10);
    if (errno) {
        return FALSE;
    }
    switch (g_ascii_toupper(*end)) {
    case '\0': break;
    case 'K': mult = 1ULL << 10; end++; break;
    case 'M': mult = 1ULL << 20; end++; break;
    case 'G': mult = 1ULL << 30; end++; break;
    case 'T': mult = 1ULL << 40; end++; break;
    default: return FALSE;
    }
    /* Accept "4G", "4GB", "4GiB". */
    if (mult > 1 && (g_ascii_strcasecmp(end, "b") == 0 ||
                     g_ascii_strcasecmp(end, "ib") == 0)) {
        end += strlen(end);
    }
    if (*end || (val && mult > G_MAXUINT64 / val)) {
        return FALSE;
    }
    *out = val * mult;
    return TRUE;
}

char *drv_format_bytes(guint64 bytes)
{
    if (bytes >= (1ULL << 30)) {
        return g_strdup_printf("%.2f GiB", bytes / (double)(1ULL << 30));
    }
    if (bytes >= (1ULL << 20)) {
        return g_strdup_printf("%.1f MiB", bytes / (double)(1ULL << 20));
    }
    if (bytes >= 1024) {
        return g_strdup_printf("%.1f KiB", bytes / 1024.0);
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT " B", bytes);
}

char *drv_file_tail(const char *path, guint nlines)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    const char *p;
    guint seen = 0;

    if (!path || !g_file_get_contents(path, &data, &len, NULL) || len == 0) {
        return g_strdup("");
    }
    /* Ignore a trailing newline, then walk back @nlines line starts. */
    p = data + len;
    if (p > data && p[-1] == '\n') {
        p--;
    }
    while (p > data) {
        if (p[-1] == '\n' && ++seen == nlines) {
            break;
        }
        p--;
    }
    return g_strchomp(g_strdup(p));
}

gboolean drv_trace_line(const char *line, gint64 *us, const char **event)
{
    const char *at = strchr(line, '@');
    char *end;
    guint64 sec, usec;

    if (!at) {
        return FALSE;
    }
    sec = g_ascii_strtoull(at + 1, &end, 10);
    if (*end != '.') {
        return FALSE;
    }
    usec = g_ascii_strtoull(end + 1, &end, 10);
    if (*end != ':') {
        return FALSE;
    }
    *us = (gint64)(sec * G_USEC_PER_SEC + usec);
    *event = end + 1;
    return TRUE;
}

gint64 drv_rss_bytes(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *line;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL)) {
        return -1;
    }
    line = strstr(text, "\nVmRSS:");
    if (!line) {
        return -1;
    }
    return g_ascii_strtoll(line + 7, NULL, 10) * 1024;
}

gint drv_cmp_double(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}
