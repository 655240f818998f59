/* Small helpers shared by the driver modules: errors, logging, time,
 * interruption (SIGINT/SIGTERM) and size parsing. */
#pragma once

#include <glib.h>

#define DRV_ERROR (drv_error_quark())
GQuark drv_error_quark(void);

typedef enum {
    DRV_ERROR_FAILED,
    DRV_ERROR_USAGE,
    DRV_ERROR_INTERRUPTED,
    DRV_ERROR_TIMEOUT,
} DrvErrorCode;

/* Signals only set a flag; every wait loop polls drv_interrupted() so the
 * normal error path (and its cleanup of the QEMUs) runs. */
void drv_install_signal_handlers(void);
gboolean drv_interrupted(void);
int drv_interrupt_signal(void);

gint64 drv_now_us(void);
/* Seconds since drv_log_init(); used in log prefixes and timings. */
double drv_elapsed_s(void);
void drv_log_init(void);
void drv_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* The progress bar owns the last terminal line; drv_log() clears it first. */
void drv_log_set_status_line(gboolean active);
gboolean drv_log_get_status_line(void);

/* Sleeps in short slices; FALSE with DRV_ERROR_INTERRUPTED on a signal. */
gboolean drv_sleep_ms(guint ms, GError **error);

/* "4294967296", "4G", "512M", "64k" (binary multiples). */
gboolean drv_parse_size(const char *str, guint64 *out);
char *drv_format_bytes(guint64 bytes);

/*
 * A line of QEMU's trace log with -msg timestamp=on,
 * "PID@SEC.USEC:event args": its host-clock time and where "event args"
 * starts. FALSE for other lines.
 */
gboolean drv_trace_line(const char *line, gint64 *us, const char **event);
/* Resident memory of process @pid in bytes (VmRSS), or -1 */
gint64 drv_rss_bytes(GPid pid);
/* g_array_sort() order of doubles */
gint drv_cmp_double(gconstpointer a, gconstpointer b);

/* Last @nlines lines of a text file (for QEMU stderr); never NULL. */
char *drv_file_tail(const char *path, guint nlines);
