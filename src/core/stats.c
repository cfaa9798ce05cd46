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

/* An introsort on doubles with inline comparisons: per-group sorting was a third of the
 * features stage through qsort's comparator calls. The result must be exactly the array the
 * stable qsort gives: that holds whenever equal values are bit-identical, i.e. without NaN
 * (unordered) and without -0.0 (equal to +0.0 but printed differently, so their relative
 * order could show in a median). Such input, never produced by subtracting integer
 * timestamps, goes through the old stable path. */
#define SORT_SMALL 16

static void insertion_sort(double *x, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = x[i];
        size_t j = i;
        for (; j > 0 && x[j - 1] > v; j--) x[j] = x[j - 1];
        x[j] = v;
    }
}

static void sift_down(double *x, size_t root, size_t n)
{
    double v = x[root];
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && x[child + 1] > x[child]) child++;
        if (!(x[child] > v)) break;
        x[root] = x[child];
    }
    x[root] = v;
}

static void heap_sort(double *x, size_t n)
{
    for (size_t i = n / 2; i-- > 0;) sift_down(x, i, n);
    for (size_t end = n; end-- > 1;) {
        double t = x[0];
        x[0] = x[end];
        x[end] = t;
        sift_down(x, 0, end);
    }
}

static void intro_sort(double *x, size_t n, int depth)
{
    while (n > SORT_SMALL) {
        if (depth-- == 0) {
            heap_sort(x, n);
            return;
        }
        /* median of three as the pivot value; Hoare partition around it */
        double a = x[0], b = x[n / 2], c = x[n - 1];
        double p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (x[i] < p) i++;
            while (x[j] > p) j--;
            if (i >= j) break;
            double t = x[i];
            x[i] = x[j];
            x[j] = t;
            i++;
            j--;
        }
        /* [0, j] <= p <= [j + 1, n): recurse into the smaller side, loop on the larger */
        size_t left = j + 1;
        if (left < n - left) {
            intro_sort(x, left, depth);
            x += left;
            n -= left;
        } else {
            intro_sort(x + left, n - left, depth);
            n = left;
        }
    }
    insertion_sort(x, n);
}

void kx_sort_doubles(double *x, size_t n)
{
    if (n < 2) return;
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]) || (x[i] == 0.0 && signbit(x[i]))) {
            kx_qsort(x, n, sizeof *x, cmp_double);
            return;
        }
    int depth = 0;
    for (size_t m = n; m > 1; m >>= 1) depth += 2;
    intro_sort(x, n, depth);
}

void kx_merge_doubles(const double *a, size_t na, const double *b, size_t nb, double *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) out[k++] = b[j] < a[i] ? b[j++] : a[i++];
    while (i < na) out[k++] = a[i++];
    while (j < nb) out[k++] = b[j++];
}

void kx_stats5(double *x, size_t n, double out[KX_ST_COUNT])
{
    kx_sort_doubles(x, n);
    kx_stats5_sorted(x, n, out);
}

void kx_stats5_sorted(const double *x, size_t n, double out[KX_ST_COUNT])
{
    out[KX_ST_MEDIAN] = kx_median_sorted(x, n);
    out[KX_ST_MEAN] = kx_mean(x, n);
    out[KX_ST_STD] = kx_std_sample(x, n, out[KX_ST_MEAN]);
    out[KX_ST_Q1] = kx_quantile_sorted(x, n, 0.25);
    out[KX_ST_Q3] = kx_quantile_sorted(x, n, 0.75);
}
