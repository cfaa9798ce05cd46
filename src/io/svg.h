/* svg.h — small inline-SVG chart writer for the EDA report (spec 05 §7.2).
 *
 * Every function appends one complete <svg> element (with a <title>, axes, nice tick values
 * on a 1-2-5 grid or decades on log axes, axis labels) to a kx_buf. Text is HTML-escaped with
 * kx_html_put; nothing refers to an external resource (no fonts, no images, no scripts), so
 * the charts work in a self-contained HTML file and in print. Sizes are in CSS pixels; the
 * elements carry a viewBox and scale down to the page width.
 */
#ifndef KX_IO_SVG_H
#define KX_IO_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define KX_SVG_MAX_TICKS 40

typedef struct kx_svg_ticks {
    double v[KX_SVG_MAX_TICKS];
    int n;
    double step; /* linear step (0 for log ticks) */
} kx_svg_ticks;

/* Linear ticks on a 1-2-5 grid covering [lo, hi] with about `target` intervals:
 * (0, 987, 5) -> 0, 200, ..., 1000. lo == hi is widened to a unit range. */
void kx_svg_nice_ticks(double lo, double hi, int target, kx_svg_ticks *t);
/* Log ticks for 0 < lo <= hi: the powers of ten from 10^floor(log10 lo) to 10^ceil(log10 hi);
 * when that spans at most two decades, 2x and 5x ticks are added. */
void kx_svg_log_ticks(double lo, double hi, kx_svg_ticks *t);
/* Tick label: integers with thousands separators (12,500), else as many decimals as the
 * step needs (0.25). */
void kx_svg_fmt_tick(double v, double step, char out[48]);

/* Binning helpers. edges gets nbins + 1 values, counts nbins. Linear: equal width from min
 * to max (max in the last bin). Log: log-spaced from the smallest positive value to max,
 * values <= 0 in the first bin. A constant sample gets a unit-wide range. */
void kx_svg_bin_linear(const double *x, size_t n, double lo, double hi, size_t nbins, double *edges, double *counts);
void kx_svg_bin_log(const double *x, size_t n, double lo, double hi, size_t nbins, double *edges, double *counts);
/* The same with x[i] occurring w[i] times (w == NULL: once each). */
void kx_svg_bin_linear_weighted(const double *x, const int64_t *w, size_t n, double lo, double hi, size_t nbins,
                                double *edges, double *counts);
void kx_svg_bin_log_weighted(const double *x, const int64_t *w, size_t n, double lo, double hi, size_t nbins,
                             double *edges, double *counts);

typedef struct kx_svg_marker {
    double x;
    const char *label; /* legend text, e.g. "Median: 105.0 ms" */
    const char *color;
    bool dashed;
} kx_svg_marker;

typedef struct kx_svg_hist {
    const char *title, *xlabel, *ylabel;
    const double *edges; /* nbins + 1 */
    const double *counts;
    size_t nbins;
    bool log_x, log_y;
    const kx_svg_marker *markers;
    size_t nmarkers;
    const char *const *notes; /* lines of the statistics box */
    size_t nnotes;
    const char *color;
    int width, height;
} kx_svg_hist;

void kx_svg_histogram(kx_buf *out, const kx_svg_hist *h);

typedef struct kx_svg_box {
    const char *label;
    double q1, median, q3, whisker_lo, whisker_hi, mean;
} kx_svg_box;

/* Vertical box plot: box q1..q3, median line, mean diamond, whiskers; no outlier points. */
void kx_svg_boxplot(kx_buf *out, const char *title, const char *ylabel, const kx_svg_box *boxes, size_t n,
                    int width, int height);

/* Vertical bars with category labels (rotated when many). y axis starts at 0. */
void kx_svg_bars(kx_buf *out, const char *title, const char *xlabel, const char *ylabel, const char *const *labels,
                 const double *values, size_t n, const char *color, int width, int height);

/* Scatter of (x[i], y[i]). */
void kx_svg_scatter(kx_buf *out, const char *title, const char *xlabel, const char *ylabel, const double *x,
                    const double *y, size_t n, bool log_x, int width, int height);

#endif
