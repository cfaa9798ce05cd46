/* stats.c — see stats.h. */
#include "core/stats.h"

#include "util/sort.h"

#include <math.h>
#include <stdlib.h>

const char *const kx_stat_names[KX_ST_COUNT] = {"median", "mean", "std", "q1", "q3"};

void kx_nsum_add(kx_nsum *s, double x)
{
    double t = s->sum + x;
    /* The low-order bits lost in t are recovered from whichever operand was larger. */
    if (fabs(s->sum) >= fabs(x)) s->comp += (s->sum - t) + x;
    else s->comp += (x - t) + s->sum;
    s->sum = t;
}

double kx_sum(const double *x, size_t n)
{
    kx_nsum s;
    kx_nsum_init(&s);
    for (size_t i = 0; i < n; i++) kx_nsum_add(&s, x[i]);
    return kx_nsum_value(&s);
}

double kx_mean(const double *x, size_t n)
{
    if (n == 0) return NAN;
    return kx_sum(x, n) / (double)n;
}

double kx_std_sample(const double *x, size_t n, double mean)
{
    if (n == 0) return NAN;
    if (n == 1) return 0.0;
    kx_nsum s;
    kx_nsum_init(&s);
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        kx_nsum_add(&s, d * d);
    }
    return sqrt(kx_nsum_value(&s) / (double)(n - 1));
}

double kx_quantile_sorted(const double *sorted, size_t n, double p)
{
    if (n == 0) return NAN;
    double h = (double)(n - 1) * p;
    double lo_f = floor(h);
    size_t lo = (size_t)lo_f;
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    return sorted[lo] + (h - lo_f) * (sorted[hi] - sorted[lo]);
}

double kx_median_sorted(const double *sorted, size_t n)
{
    if (n == 0) return NAN;
    if (n % 2) return sorted[n / 2];
    return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void kx_sort_doubles(double *x, size_t n)
{
    kx_qsort(x, n, sizeof *x, cmp_double);
}

void kx_stats5(double *x, size_t n, double out[KX_ST_COUNT])
{
    kx_sort_doubles(x, n);
    out[KX_ST_MEDIAN] = kx_median_sorted(x, n);
    out[KX_ST_MEAN] = kx_mean(x, n);
    out[KX_ST_STD] = kx_std_sample(x, n, out[KX_ST_MEAN]);
    out[KX_ST_Q1] = kx_quantile_sorted(x, n, 0.25);
    out[KX_ST_Q3] = kx_quantile_sorted(x, n, 0.75);
}
