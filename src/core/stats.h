/* stats.h — descriptive statistics of one sample (spec 03 §5). Pure functions, no I/O.
 *
 * Sums use Neumaier's compensated summation (an improved Kahan sum that also handles a
 * term larger than the running sum): the result is within a couple of ulps of the exact
 * sum for any order and magnitude mix, which keeps every statistic far inside the
 * contract's 1e-9 relative tolerance whatever the group size. Quantiles use linear
 * interpolation between order statistics (h = (n-1)p), the default of common numeric
 * libraries.
 */
#ifndef KX_CORE_STATS_H
#define KX_CORE_STATS_H

#include <stddef.h>

/* Compensated running sum: add values with kx_nsum_add, read with kx_nsum_value. */
typedef struct kx_nsum {
    double sum;
    double comp; /* accumulated low-order error */
} kx_nsum;

static inline void kx_nsum_init(kx_nsum *s) { s->sum = 0.0; s->comp = 0.0; }
void kx_nsum_add(kx_nsum *s, double x);
static inline double kx_nsum_value(const kx_nsum *s) { return s->sum + s->comp; }

/* Neumaier sum of x[0..n). */
double kx_sum(const double *x, size_t n);
/* sum / n; NaN for n == 0. */
double kx_mean(const double *x, size_t n);
/* Sample standard deviation (divisor n-1) around `mean`; 0.0 for n == 1, NaN for n == 0.
 * Two-pass form (sum of squared deviations), compensated. */
double kx_std_sample(const double *x, size_t n, double mean);
/* Linear-interpolation quantile at p in [0,1] of an ASCENDING sorted sample; NaN if n == 0. */
double kx_quantile_sorted(const double *sorted, size_t n, double p);
/* Median of an ascending sorted sample (middle, or mean of the two middles). */
double kx_median_sorted(const double *sorted, size_t n);

/* The five statistics of 03 §5, in output order. */
enum { KX_ST_MEDIAN = 0, KX_ST_MEAN, KX_ST_STD, KX_ST_Q1, KX_ST_Q3, KX_ST_COUNT };
extern const char *const kx_stat_names[KX_ST_COUNT]; /* "median", "mean", "std", "q1", "q3" */

/* Sorts x in place (ascending) and writes the five statistics into out[KX_ST_COUNT];
 * all NaN when n == 0. */
void kx_stats5(double *x, size_t n, double out[KX_ST_COUNT]);
/* The same five statistics of an already ascending sorted sample (kx_stats5 without the
 * sort: identical results on the same sorted array). */
void kx_stats5_sorted(const double *x, size_t n, double out[KX_ST_COUNT]);
/* Stable merge of the ascending runs a[0..na) and b[0..nb) into out[0..na+nb): on ties the
 * element of a comes first, so merging the stably sorted parts of a sample gives exactly the
 * stable sort of their concatenation. */
void kx_merge_doubles(const double *a, size_t na, const double *b, size_t nb, double *out);

/* Ascending sort of doubles (no NaN expected). */
void kx_sort_doubles(double *x, size_t n);

#endif
