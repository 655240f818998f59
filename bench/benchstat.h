/*
 * The C benches' share of the bench library (the shell side is
 * bench/lib.sh, the Python side bench/benchlib.py): the clock they time
 * with and the median of repetitions they report, so that every bench
 * means the same by "median".
 */
#ifndef MIGACCEL_BENCHSTAT_H
#define MIGACCEL_BENCHSTAT_H

#include <stdlib.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds */
static inline double bench_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median of @n values (sorts @v): the middle one, or the mean of the two */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
