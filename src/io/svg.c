/* svg.c — inline SVG charts (see svg.h). */
#include "io/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/text.h"

/* ---- ticks --------------------------------------------------------------------------------------- */

/* Largest magnitude an axis end may have: beyond it a range width or a power of ten
 * overflows. Non-finite ends (no data, or an overflowing value) give the range [0, 1]. */
#define AXIS_MAX 1e300

void kx_svg_nice_ticks(double lo, double hi, int target, kx_svg_ticks *t)
{
    if (!(fabs(lo) <= AXIS_MAX && fabs(hi) <= AXIS_MAX)) { /* also NaN */
        lo = 0;
        hi = 1;
    }
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    if (target < 2) target = 2;
    double raw = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag, step;
    if (norm <= 1.0 + 1e-9) step = mag;
    else if (norm <= 2.0 + 1e-9) step = 2 * mag;
    else if (norm <= 5.0 + 1e-9) step = 5 * mag;
    else step = 10 * mag;
    double first = floor(lo / step + 1e-9) * step, last = ceil(hi / step - 1e-9) * step;
    t->n = 0;
    t->step = step;
    for (double v = first; v <= last + step * 1e-6 && t->n < KX_SVG_MAX_TICKS; v = first + step * t->n) {
        t->v[t->n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
}

void kx_svg_log_ticks(double lo, double hi, kx_svg_ticks *t)
{
    if (!(lo > 0 && lo <= AXIS_MAX)) lo = 1; /* also NaN */
    if (!(hi >= lo && hi <= AXIS_MAX)) hi = lo;
    int d0 = (int)floor(log10(lo) + 1e-9), d1 = (int)ceil(log10(hi) - 1e-9);
    if (d1 <= d0) d1 = d0 + 1;
    bool fine = d1 - d0 <= 2;
    t->n = 0;
    t->step = 0;
    for (int d = d0; d <= d1 && t->n < KX_SVG_MAX_TICKS - 2; d++) {
        double p = pow(10.0, d);
        t->v[t->n++] = p;
        if (fine && d < d1) {
            t->v[t->n++] = 2 * p;
            t->v[t->n++] = 5 * p;
        }
    }
}

void kx_svg_fmt_tick(double v, double step, char out[48])
{
    if (step == 0 || fabs(v - round(v)) < 1e-9 * fmax(1.0, fabs(v))) {
        if (fabs(v) >= 1e15) {
            snprintf(out, 48, "%.3g", v);
            return;
        }
        char digits[32];
        long long iv = llround(v);
        snprintf(digits, sizeof digits, "%lld", iv < 0 ? -iv : iv);
        size_t nd = strlen(digits), o = 0;
        if (iv < 0) out[o++] = '-';
        for (size_t i = 0; i < nd; i++) {
            if (i && (nd - i) % 3 == 0) out[o++] = ',';
            out[o++] = digits[i];
        }
        out[o] = 0;
        return;
    }
    int dec = (int)ceil(-log10(step) - 1e-9);
    if (dec < 1) dec = 1;
    if (dec > 10) dec = 10;
    snprintf(out, 48, "%.*f", dec, v);
}

/* ---- binning --------------------------------------------------------------------------------------- */

void kx_svg_bin_linear(const double *x, size_t n, double lo, double hi, size_t nbins, double *edges, double *counts)
{
    kx_svg_bin_linear_weighted(x, NULL, n, lo, hi, nbins, edges, counts);
}

void kx_svg_bin_log(const double *x, size_t n, double lo, double hi, size_t nbins, double *edges, double *counts)
{
    kx_svg_bin_log_weighted(x, NULL, n, lo, hi, nbins, edges, counts);
}

void kx_svg_bin_linear_weighted(const double *x, const int64_t *weight, size_t n, double lo, double hi, size_t nbins,
                                double *edges, double *counts)
{
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    double w = (hi - lo) / (double)nbins;
    for (size_t i = 0; i <= nbins; i++) edges[i] = lo + w * (double)i;
    edges[nbins] = hi;
    memset(counts, 0, nbins * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (x[i] < lo || x[i] > hi) continue;
        size_t b = (size_t)((x[i] - lo) / w);
        if (b >= nbins) b = nbins - 1;
        counts[b] += weight ? (double)weight[i] : 1.0;
    }
}

void kx_svg_bin_log_weighted(const double *x, const int64_t *weight, size_t n, double lo, double hi, size_t nbins,
                             double *edges, double *counts)
{
    if (!(lo > 0)) lo = 1;
    if (!(hi > lo)) hi = lo * 10;
    double l0 = log10(lo), l1 = log10(hi), w = (l1 - l0) / (double)nbins;
    for (size_t i = 0; i <= nbins; i++) edges[i] = pow(10.0, l0 + w * (double)i);
    edges[0] = lo;
    edges[nbins] = hi;
    memset(counts, 0, nbins * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (x[i] > hi) continue;
        size_t b = 0;
        if (x[i] > lo) {
            b = (size_t)((log10(x[i]) - l0) / w);
            if (b >= nbins) b = nbins - 1;
        }
        counts[b] += weight ? (double)weight[i] : 1.0;
    }
}

/* ---- drawing primitives ------------------------------------------------------------------------------ */

typedef struct frame {
    double px, py, pw, ph; /* plot area */
    double xlo, xhi, ylo, yhi;
    bool xlog, ylog;
} frame;

static double map(double v, double lo, double hi, bool lg)
{
    if (lg) {
        v = v > 0 ? log10(v) : log10(lo);
        lo = log10(lo);
        hi = log10(hi);
    }
    return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

static double fx(const frame *f, double v) { return f->px + f->pw * map(v, f->xlo, f->xhi, f->xlog); }
static double fy(const frame *f, double v) { return f->py + f->ph * (1 - map(v, f->ylo, f->yhi, f->ylog)); }

static void text(kx_buf *o, double x, double y, const char *anchor, const char *cls, const char *s)
{
    kx_buf_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
    kx_html_put(o, s, strlen(s));
    kx_buf_puts(o, "</text>");
}

static void svg_open(kx_buf *o, int w, int h, const char *title)
{
    kx_buf_printf(o,
                  "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" "
                  "width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\"><title>",
                  w, h, w, h);
    kx_html_put(o, title, strlen(title));
    kx_buf_puts(o, "</title><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>");
    text(o, w / 2.0, 20, "middle", "ct", title);
}

static void svg_close(kx_buf *o) { kx_buf_puts(o, "</svg>\n"); }

static frame make_frame(int w, int h)
{
    frame f = {0};
    f.px = 72;
    f.py = 34;
    f.pw = w - f.px - 20;
    f.ph = h - f.py - 56;
    return f;
}

static void ticks_for(double lo, double hi, bool lg, kx_svg_ticks *t, double *alo, double *ahi)
{
    if (lg) kx_svg_log_ticks(lo, hi, t);
    else kx_svg_nice_ticks(lo, hi, 5, t);
    *alo = t->v[0];
    *ahi = t->v[t->n - 1];
}

static void y_axis(kx_buf *o, const frame *f, const kx_svg_ticks *yt, const char *ylabel)
{
    char lab[48];
    for (int i = 0; i < yt->n; i++) {
        double y = fy(f, yt->v[i]);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\" stroke=\"#e3e3e3\"/>",
                      f->px, y, f->px + f->pw, y);
        kx_svg_fmt_tick(yt->v[i], yt->step, lab);
        text(o, f->px - 6, y + 4, "end", "tk", lab);
    }
    kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", f->px, f->py, f->px,
                  f->py + f->ph);
    double cy = f->py + f->ph / 2;
    kx_buf_printf(o, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\" class=\"al\">", cy);
    kx_html_put(o, ylabel, strlen(ylabel));
    kx_buf_puts(o, "</text>");
}

static void x_axis(kx_buf *o, const frame *f, const kx_svg_ticks *xt, const char *xlabel)
{
    char lab[48];
    double yb = f->py + f->ph;
    for (int i = 0; i < xt->n; i++) {
        double x = fx(f, xt->v[i]);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", x, yb, x, yb + 5);
        kx_svg_fmt_tick(xt->v[i], xt->step, lab);
        text(o, x, yb + 18, "middle", "tk", lab);
    }
    kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", f->px, yb,
                  f->px + f->pw, yb);
    text(o, f->px + f->pw / 2, yb + 40, "middle", "al", xlabel);
}

/* A box of text lines in the top-right corner of the plot area. */
static void note_box(kx_buf *o, const frame *f, const char *const *lines, size_t n, const kx_svg_marker *m, size_t nm)
{
    if (!n && !nm) return;
    size_t rows = n + nm, maxlen = 0;
    for (size_t i = 0; i < n; i++) maxlen = strlen(lines[i]) > maxlen ? strlen(lines[i]) : maxlen;
    for (size_t i = 0; i < nm; i++) maxlen = strlen(m[i].label) + 4 > maxlen ? strlen(m[i].label) + 4 : maxlen;
    double bw = 6.6 * (double)maxlen + 14, bh = 15.0 * (double)rows + 8;
    double x = f->px + f->pw - bw - 4, y = f->py + 4;
    kx_buf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" fill-opacity=\"0.88\" "
                     "stroke=\"#999\" rx=\"3\"/>", x, y, bw, bh);
    double ty = y + 16;
    for (size_t i = 0; i < nm; i++, ty += 15) {
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>",
                      x + 6, ty - 4, x + 24, ty - 4, m[i].color, m[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
        text(o, x + 28, ty, "start", "nt", m[i].label);
    }
    for (size_t i = 0; i < n; i++, ty += 15) text(o, x + 6, ty, "start", "nt", lines[i]);
}

/* ---- charts ---------------------------------------------------------------------------------------- */

void kx_svg_histogram(kx_buf *o, const kx_svg_hist *h)
{
    frame f = make_frame(h->width, h->height);
    f.xlog = h->log_x;
    f.ylog = h->log_y;
    double cmax = 0;
    for (size_t i = 0; i < h->nbins; i++) cmax = fmax(cmax, h->counts[i]);
    kx_svg_ticks xt, yt;
    double xlo = h->nbins ? h->edges[0] : 0, xhi = h->nbins ? h->edges[h->nbins] : 1;
    if (h->log_x) {
        kx_svg_log_ticks(xlo, xhi, &xt);
        f.xlo = xlo;
        f.xhi = xhi;
        /* keep only ticks inside the data range on a log axis (decades can be far apart) */
        int k = 0;
        for (int i = 0; i < xt.n; i++)
            if (xt.v[i] >= xlo * (1 - 1e-9) && xt.v[i] <= xhi * (1 + 1e-9)) xt.v[k++] = xt.v[i];
        xt.n = k;
    } else {
        ticks_for(xlo, xhi, false, &xt, &f.xlo, &f.xhi);
    }
    ticks_for(h->log_y ? 1 : 0, cmax > 0 ? cmax : 1, h->log_y, &yt, &f.ylo, &f.yhi);
    if (h->log_y) f.ylo /= 2; /* so that bins of count 1 stay visible above the axis */
    svg_open(o, h->width, h->height, h->title);
    y_axis(o, &f, &yt, h->ylabel);
    const char *color = h->color ? h->color : "#4C72B0";
    for (size_t i = 0; i < h->nbins; i++) {
        if (h->counts[i] <= 0 || (h->log_y && h->counts[i] < f.ylo)) continue;
        double x0 = fx(&f, h->edges[i]), x1 = fx(&f, h->edges[i + 1]);
        double y0 = fy(&f, h->counts[i]), yb = f.py + f.ph;
        kx_buf_printf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"#fff\" "
                         "stroke-width=\"0.5\"/>", x0, y0, fmax(x1 - x0, 0.5), yb - y0, color);
    }
    for (size_t i = 0; i < h->nmarkers; i++) {
        double x = fx(&f, h->markers[i].x);
        if (x < f.px || x > f.px + f.pw) continue;
        kx_buf_printf(o, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>", x,
                      f.py, x, f.py + f.ph, h->markers[i].color, h->markers[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
    }
    x_axis(o, &f, &xt, h->xlabel);
    note_box(o, &f, h->notes, h->nnotes, h->markers, h->nmarkers);
    svg_close(o);
}

void kx_svg_boxplot(kx_buf *o, const char *title, const char *ylabel, const kx_svg_box *b, size_t n, int width,
                    int height)
{
    frame f = make_frame(width, height);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, b[i].whisker_lo);
        hi = fmax(hi, b[i].whisker_hi);
    }
    if (!n) lo = 0, hi = 1;
    kx_svg_ticks yt;
    ticks_for(lo, hi, false, &yt, &f.ylo, &f.yhi);
    svg_open(o, width, height, title);
    y_axis(o, &f, &yt, ylabel);
    double slot = n ? f.pw / (double)n : f.pw;
    for (size_t i = 0; i < n; i++) {
        double cx = f.px + slot * ((double)i + 0.5), bw = fmin(slot * 0.5, 80);
        double yq1 = fy(&f, b[i].q1), yq3 = fy(&f, b[i].q3), ym = fy(&f, b[i].median);
        double ylo = fy(&f, b[i].whisker_lo), yhi = fy(&f, b[i].whisker_hi), ymean = fy(&f, b[i].mean);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", cx, yhi, cx, yq3);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", cx, yq1, cx, ylo);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", cx - bw / 4, yhi,
                      cx + bw / 4, yhi);
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", cx - bw / 4, ylo,
                      cx + bw / 4, ylo);
        kx_buf_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#a6c8e8\" stroke=\"#333\"/>",
                      cx - bw / 2, yq3, bw, fmax(yq1 - yq3, 0.5));
        kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c44e52\" stroke-width=\"2\"/>",
                      cx - bw / 2, ym, cx + bw / 2, ym);
        kx_buf_printf(o, "<path d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"#2ca02c\"/>", cx, ymean - 5);
        text(o, cx, f.py + f.ph + 18, "middle", "tk", b[i].label);
    }
    kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", f.px, f.py + f.ph,
                  f.px + f.pw, f.py + f.ph);
    static const kx_svg_marker legend[] = {{0, "Median", "#c44e52", false}, {0, "Mean (diamond)", "#2ca02c", false}};
    note_box(o, &f, NULL, 0, legend, 2);
    svg_close(o);
}

void kx_svg_bars(kx_buf *o, const char *title, const char *xlabel, const char *ylabel, const char *const *labels,
                 const double *v, size_t n, const char *color, int width, int height)
{
    frame f = make_frame(width, height);
    bool rotate = n > 8;
    if (rotate) f.ph -= 60;
    double hi = 0, lo = 0;
    for (size_t i = 0; i < n; i++) hi = fmax(hi, v[i]), lo = fmin(lo, v[i]);
    kx_svg_ticks yt;
    ticks_for(lo, hi > lo ? hi : lo + 1, false, &yt, &f.ylo, &f.yhi);
    svg_open(o, width, height, title);
    y_axis(o, &f, &yt, ylabel);
    double slot = n ? f.pw / (double)n : f.pw, y0 = fy(&f, 0);
    for (size_t i = 0; i < n; i++) {
        double x = f.px + slot * (double)i + slot * 0.1, y = fy(&f, v[i]);
        kx_buf_printf(o, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>", x,
                      fmin(y, y0), slot * 0.8, fabs(y0 - y), color ? color : "#4C72B0");
        kx_html_put(o, labels[i], strlen(labels[i]));
        kx_buf_printf(o, ": %g</title></rect>", v[i]);
        double lx = f.px + slot * ((double)i + 0.5), ly = f.py + f.ph + 14;
        if (rotate) {
            kx_buf_printf(o, "<text transform=\"translate(%.1f %.1f) rotate(-45)\" text-anchor=\"end\" class=\"tk\">",
                          lx + 3, ly);
            kx_html_put(o, labels[i], strlen(labels[i]));
            kx_buf_puts(o, "</text>");
        } else {
            text(o, lx, ly, "middle", "tk", labels[i]);
        }
    }
    kx_buf_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", f.px, y0, f.px + f.pw, y0);
    text(o, f.px + f.pw / 2, height - 6, "middle", "al", xlabel);
    svg_close(o);
}

void kx_svg_scatter(kx_buf *o, const char *title, const char *xlabel, const char *ylabel, const double *x,
                    const double *y, size_t n, bool log_x, int width, int height)
{
    frame f = make_frame(width, height);
    f.xlog = log_x;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        xlo = fmin(xlo, x[i]), xhi = fmax(xhi, x[i]);
        ylo = fmin(ylo, y[i]), yhi = fmax(yhi, y[i]);
    }
    if (!n) xlo = ylo = 0, xhi = yhi = 1;
    if (log_x && !(xlo > 0)) xlo = 1;
    kx_svg_ticks xt, yt;
    ticks_for(xlo, xhi, log_x, &xt, &f.xlo, &f.xhi);
    ticks_for(ylo, yhi, false, &yt, &f.ylo, &f.yhi);
    svg_open(o, width, height, title);
    y_axis(o, &f, &yt, ylabel);
    for (size_t i = 0; i < n; i++)
        kx_buf_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#4C72B0\" fill-opacity=\"0.6\"/>", fx(&f, x[i]),
                      fy(&f, y[i]));
    x_axis(o, &f, &xt, xlabel);
    svg_close(o);
}
