/* eda_report.c — report.html (spec 05 §7.2); see eda_report.h. */
#include "pipeline/eda_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/svg.h"
#include "io/text.h"
#include "util/mem.h"

#define NBINS 50
#define CHART_W 560
#define CHART_H 330

static const char *const section_titles[12] = {
    "Feature Definitions",       "Executive Summary",  "Data Quality Issues",
    "Timing Feature Analysis",   "User Performance",   "Visualizations",
    "Extreme Hold Latency",      "Negative Value Analysis", "Typing Pattern Analysis",
    "Data Quality Assessment",   "Recommendations",    "Reproducing This Analysis",
};

static const char *const feature_long[KX_EDA_NFEAT] = {"Hold Latency", "Inter-key Latency", "Press Latency",
                                                      "Release Latency"};

/* ---- small helpers ------------------------------------------------------------------------------ */

static void esc(kx_buf *o, const char *s) { kx_html_put(o, s ? s : "", s ? strlen(s) : 0); }

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}
static double jnum(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static long long jint(const json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

/* Number with thousands separators and `dec` decimals ("12,345.68"). */
static void put_num(kx_buf *o, double v, int dec)
{
    if (!isfinite(v)) {
        kx_buf_puts(o, "&ndash;");
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*f", dec, fabs(v));
    if (v < 0 && strspn(tmp, "0.") != strlen(tmp)) kx_buf_putc(o, '-');
    size_t intlen = strcspn(tmp, ".");
    for (size_t i = 0; i < strlen(tmp); i++) {
        if (i && i < intlen && (intlen - i) % 3 == 0) kx_buf_putc(o, ',');
        kx_buf_putc(o, tmp[i]);
    }
}
static void put_int(kx_buf *o, long long v) { put_num(o, (double)v, 0); }

/* Right-aligned numeric table cells. */
static void td_num(kx_buf *o, double v, int dec)
{
    kx_buf_puts(o, "<td class=\"n\">");
    put_num(o, v, dec);
    kx_buf_puts(o, "</td>");
}

static void td_int(kx_buf *o, long long v) { td_num(o, (double)v, 0); }

static void th_row(kx_buf *o, const char *const *cols, size_t n)
{
    kx_buf_puts(o, "<tr>");
    for (size_t i = 0; i < n; i++) {
        kx_buf_puts(o, "<th>");
        esc(o, cols[i]);
        kx_buf_puts(o, "</th>");
    }
    kx_buf_puts(o, "</tr>\n");
}

static void section_open(kx_buf *o, int idx)
{
    kx_buf_printf(o, "<section id=\"s%d\"><h2>%d. ", idx + 1, idx + 1);
    esc(o, section_titles[idx]);
    kx_buf_puts(o, "</h2>\n");
}

/* "**bold** rest" -> <strong>bold</strong> rest, everything else escaped. */
static void put_markdown_bold(kx_buf *o, const char *s)
{
    bool open = false;
    while (*s) {
        const char *star = strstr(s, "**");
        if (!star) {
            esc(o, s);
            break;
        }
        kx_html_put(o, s, (size_t)(star - s));
        kx_buf_puts(o, open ? "</strong>" : "<strong>");
        open = !open;
        s = star + 2;
    }
    if (open) kx_buf_puts(o, "</strong>");
}

/* Rows to show of n: all if n <= cap, else the first and last cap/2 (*skip_from, *skip_to). */
static bool capped(size_t n, size_t cap, size_t *skip_from, size_t *skip_to)
{
    if (n <= cap) return false;
    *skip_from = cap / 2;
    *skip_to = n - (cap - cap / 2);
    return true;
}

static void skipped_row(kx_buf *o, size_t ncols, size_t hidden, const char *where)
{
    kx_buf_printf(o, "<tr class=\"skip\"><td colspan=\"%zu\">&hellip; %zu rows not shown (the full list is in ", ncols,
                  hidden);
    esc(o, where);
    kx_buf_puts(o, ") &hellip;</td></tr>\n");
}

/* ---- header and fixed sections ---------------------------------------------------------------------- */

static const char css[] =
    "body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#222;margin:0;"
    "background:#f5f6f8;line-height:1.45}"
    "main{max-width:1200px;margin:0 auto;padding:24px 32px;background:#fff}"
    "h1{font-size:28px;margin:0 0 8px}h2{border-bottom:2px solid #4C72B0;padding-bottom:4px;margin-top:36px}"
    "h3{margin-top:24px}figure{margin:0}figcaption{font-size:13px;color:#555;margin:4px 0 12px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}"
    "th,td{border:1px solid #ccd;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#eef1f7}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.skip td{text-align:center;color:#666;font-style:italic}"
    ".meta{color:#555;font-size:14px}.toc{columns:2;font-size:14px}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{max-width:100%;height:auto;border:1px solid #e3e3e3}"
    "svg .ct{font-size:14px;font-weight:bold}svg .al{font-size:12px}svg .tk{font-size:11px;fill:#333}"
    "svg .nt{font-size:11px}.kpi{display:flex;flex-wrap:wrap;gap:12px}"
    ".kpi div{background:#eef1f7;border-radius:6px;padding:10px 16px;min-width:150px}"
    ".kpi b{display:block;font-size:22px}.grade{font-size:20px;font-weight:bold}"
    ".Excellent{color:#1a7f37}.Good{color:#2f6fb3}.Fair{color:#b26b00}.Poor{color:#c0392b}"
    "code,pre{background:#f0f0f0;border-radius:4px}pre{padding:10px;overflow-x:auto;font-size:13px}"
    "cite{font-style:normal}"
    "@media print{body{background:#fff}main{max-width:none;padding:0}.charts svg{border:none}"
    "section,figure,table,svg{page-break-inside:avoid;break-inside:avoid}h2{page-break-after:avoid}"
    "a{color:inherit;text-decoration:none}}\n";

static void put_header(kx_buf *o, const json_t *doc, const kx_eda_report_opts *opt)
{
    kx_buf_puts(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<title>Keystroke Data Analysis Report</title>\n<style>");
    kx_buf_puts(o, css);
    kx_buf_puts(o, "</style>\n</head>\n<body>\n<main>\n<header>\n<h1>Keystroke Data Analysis Report</h1>\n"
                   "<p class=\"meta\">Generated: ");
    esc(o, opt->generated);
    kx_buf_puts(o, "<br>Version: ");
    esc(o, jstr(doc, "version_id"));
    kx_buf_puts(o, "</p>\n<p class=\"meta\">Data sources:</p>\n<ul class=\"meta\">");
    const json_t *p = json_object_get(doc, "data_paths");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v) {
        kx_buf_puts(o, "<li>");
        esc(o, k);
        kx_buf_puts(o, ": <code>");
        esc(o, json_string_value(v));
        kx_buf_puts(o, "</code></li>");
    }
    kx_buf_puts(o, "</ul>\n<nav><h3>Contents</h3><ol class=\"toc\">\n");
    for (int i = 0; i < 12; i++) {
        kx_buf_printf(o, "<li><a href=\"#s%d\">", i + 1);
        esc(o, section_titles[i]);
        kx_buf_puts(o, "</a></li>\n");
    }
    kx_buf_puts(o, "</ol></nav>\n</header>\n");
}

/* Two overlapping keystrokes on a time axis with the four latencies. */
static void put_feature_diagram(kx_buf *o)
{
    const int p1 = 80, r1 = 380, p2 = 300, r2 = 560;
    kx_buf_puts(o, "<svg class=\"chart diagram\" role=\"img\" viewBox=\"0 0 680 300\" width=\"680\" height=\"300\" "
                   "font-family=\"sans-serif\" font-size=\"12\"><title>Keystroke timing features: HL, IL, PL, RL "
                   "for two overlapping keystrokes</title><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
                   "<defs><marker id=\"arr\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
                   "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#333\"/>"
                   "</marker></defs>");
    kx_buf_printf(o, "<rect x=\"%d\" y=\"60\" width=\"%d\" height=\"34\" fill=\"#a6c8e8\" stroke=\"#2f6fb3\"/>"
                     "<text x=\"%d\" y=\"82\" class=\"al\">key 1 held</text>", p1, r1 - p1, p1 + 8);
    kx_buf_printf(o, "<rect x=\"%d\" y=\"110\" width=\"%d\" height=\"34\" fill=\"#f4c7a1\" stroke=\"#c26a1b\"/>"
                     "<text x=\"%d\" y=\"132\" class=\"al\">key 2 held</text>", p2, r2 - p2, p2 + 8);
    const int xs[4] = {p1, r1, p2, r2};
    const char *names[4] = {"press 1", "release 1", "press 2", "release 2"};
    for (int i = 0; i < 4; i++)
        kx_buf_printf(o, "<line x1=\"%d\" y1=\"40\" x2=\"%d\" y2=\"280\" stroke=\"#999\" stroke-dasharray=\"3 3\"/>"
                         "<text x=\"%d\" y=\"34\" text-anchor=\"middle\" class=\"tk\">%s</text>",
                      xs[i], xs[i], xs[i], names[i]);
    struct { int a, b, y; const char *label; } arrows[4] = {
        {p1, r1, 170, "HL = release 1 \xe2\x88\x92 press 1"},
        {r1, p2, 200, "IL = press 2 \xe2\x88\x92 release 1 (negative here: overlap)"},
        {p1, p2, 230, "PL = press 2 \xe2\x88\x92 press 1"},
        {r1, r2, 260, "RL = release 2 \xe2\x88\x92 release 1"},
    };
    for (int i = 0; i < 4; i++) {
        kx_buf_printf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\" stroke-width=\"1.5\" "
                         "marker-end=\"url(#arr)\"/>", arrows[i].a, arrows[i].y, arrows[i].b, arrows[i].y);
        int lx = (arrows[i].a < arrows[i].b ? arrows[i].a : arrows[i].b);
        kx_buf_printf(o, "<text x=\"%d\" y=\"%d\" class=\"nt\">", lx, arrows[i].y - 5);
        esc(o, arrows[i].label);
        kx_buf_puts(o, "</text>");
    }
    kx_buf_puts(o, "<line x1=\"40\" y1=\"285\" x2=\"640\" y2=\"285\" stroke=\"#333\" marker-end=\"url(#arr)\"/>"
                   "<text x=\"640\" y=\"298\" text-anchor=\"end\" class=\"tk\">time (ms)</text></svg>\n");
}

static void put_definitions(kx_buf *o)
{
    section_open(o, 0);
    kx_buf_puts(o, "<p>Each keypair is two consecutive keystrokes of one keystroke file. All latencies are in "
                   "milliseconds.</p>\n<div class=\"charts\">");
    put_feature_diagram(o);
    kx_buf_puts(o,
                "</div>\n<ul>\n<li><b>HL</b> (Hold Latency): release of key 1 &minus; press of key 1.</li>\n"
                "<li><b>IL</b> (Inter-key Latency): press of key 2 &minus; release of key 1; negative when the keys "
                "overlap.</li>\n<li><b>PL</b> (Press Latency): press of key 2 &minus; press of key 1.</li>\n"
                "<li><b>RL</b> (Release Latency): release of key 2 &minus; release of key 1; may be negative.</li>\n"
                "</ul>\n<p>Reference: <cite>A. Acien, A. Morales, J. V. Monaco, R. Vera-Rodriguez, J. Fierrez, "
                "&ldquo;TypeNet: Deep Learning Keystroke Biometrics,&rdquo; IEEE Transactions on Biometrics, "
                "Behavior, and Identity Science (T-BIOM), vol. 4, no. 1, pp. 57&ndash;70, 2022.</cite></p>\n"
                "</section>\n");
}

static void kpi(kx_buf *o, const char *label, double v, int dec, const char *suffix)
{
    kx_buf_puts(o, "<div><b>");
    put_num(o, v, dec);
    kx_buf_puts(o, suffix);
    kx_buf_puts(o, "</b>");
    esc(o, label);
    kx_buf_puts(o, "</div>");
}

static void put_summary(kx_buf *o, const json_t *doc)
{
    const json_t *s = json_object_get(doc, "summary");
    section_open(o, 1);
    kx_buf_puts(o, "<div class=\"kpi\">");
    kpi(o, "Total keypairs", (double)jint(s, "total_keypairs"), 0, "");
    kpi(o, "Valid keypairs", (double)jint(s, "valid_keypairs"), 0, "");
    kpi(o, "Invalid keypairs", (double)jint(s, "invalid_keypairs"), 0, "");
    kpi(o, "Validity rate", jnum(s, "validity_rate"), 1, "%");
    kpi(o, "Users", (double)jint(s, "unique_users"), 0, "");
    kx_buf_puts(o, "</div>\n<p>Device types: ");
    const json_t *d = json_object_get(s, "device_types");
    for (size_t i = 0; i < json_array_size(d); i++) {
        if (i) kx_buf_puts(o, ", ");
        esc(o, json_string_value(json_array_get(d, i)));
    }
    if (!json_array_size(d)) kx_buf_puts(o, "none");
    kx_buf_puts(o, "</p>\n</section>\n");
}

static void put_quality_issues(kx_buf *o, const json_t *doc, size_t cap)
{
    const json_t *q = json_object_get(doc, "quality_issues");
    if (!json_is_object(q)) return;
    section_open(o, 2);
    kx_buf_puts(o, "<p>Raw keystroke files were scanned event by event (sorted by time; Key.shift, Key.ctrl, "
                   "Key.alt, Key.cmd and Key.caps_lock ignored).</p>\n<p>Total issues: <b>");
    put_int(o, jint(q, "total_issues"));
    kx_buf_puts(o, "</b></p>\n<table><tr><th>Issue type</th><th>Count</th></tr>\n");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(q, "issue_counts"), k, v) {
        kx_buf_puts(o, "<tr><td>");
        esc(o, k);
        kx_buf_puts(o, "</td>");
        td_int(o, (long long)json_integer_value(v));
        kx_buf_puts(o, "</tr>\n");
    }
    kx_buf_puts(o, "</table>\n");
    const json_t *un = json_object_get(q, "unreleased_keys");
    size_t n = json_object_size(un), i = 0, from = 0, to = 0;
    kx_buf_printf(o, "<h3>Unreleased keys</h3>\n<p>%zu file(s) end with keys still pressed.</p>\n", n);
    if (!n) {
        kx_buf_puts(o, "</section>\n");
        return;
    }
    bool cut = capped(n, cap, &from, &to);
    kx_buf_puts(o, "<table><tr><th>User_file</th><th>Keys still down (press time)</th></tr>\n");
    json_object_foreach((json_t *)un, k, v) {
        if (cut && i >= from && i < to) {
            if (i == from) skipped_row(o, 2, to - from, "analysis_results.json");
            i++;
            continue;
        }
        i++;
        kx_buf_puts(o, "<tr><td><code>");
        esc(o, k);
        kx_buf_puts(o, "</code></td><td>");
        const char *kk;
        json_t *t;
        bool first = true;
        json_object_foreach(v, kk, t) {
            if (!first) kx_buf_puts(o, ", ");
            first = false;
            kx_buf_puts(o, "<code>");
            esc(o, *kk ? kk : "(missing key)");
            kx_buf_puts(o, "</code> (");
            put_num(o, json_number_value(t), 0);
            kx_buf_puts(o, ")");
        }
        kx_buf_puts(o, "</td></tr>\n");
    }
    kx_buf_puts(o, "</table>\n</section>\n");
}

static void put_timing_table(kx_buf *o, const json_t *doc)
{
    static const char *const cols[] = {"Feature", "Count", "Mean", "Std", "Min", "Q25", "Median", "Q75", "Max",
                                       "Negative", "Zero", "P1 (low)", "P99 (high)"};
    static const char *const keys[] = {"mean", "std", "min", "q25", "median", "q75", "max"};
    const json_t *t = json_object_get(doc, "timing_stats");
    section_open(o, 3);
    kx_buf_puts(o, "<p>Statistics over valid keypairs with a value, in ms. P1/P99 are the 1st and 99th "
                   "percentiles (outlier thresholds).</p>\n<table>");
    th_row(o, cols, 13);
    for (int f = 0; f < KX_EDA_NFEAT; f++) {
        const json_t *s = json_object_get(t, kx_eda_feature_names[f]);
        kx_buf_printf(o, "<tr><td><b>%s</b> (%s)</td>", kx_eda_feature_names[f], feature_long[f]);
        td_int(o, jint(s, "count"));
        if (!jint(s, "count")) {
            kx_buf_puts(o, "<td colspan=\"11\">no values</td></tr>\n");
            continue;
        }
        for (size_t i = 0; i < 7; i++) {
            const json_t *x = json_object_get(s, keys[i]);
            td_num(o, json_is_number(x) ? json_number_value(x) : NAN, 2);
        }
        td_int(o, jint(s, "negative_count"));
        td_int(o, jint(s, "zero_count"));
        td_num(o, jnum(s, "outlier_threshold_low"), 2);
        td_num(o, jnum(s, "outlier_threshold_high"), 2);
        kx_buf_puts(o, "</tr>\n");
    }
    kx_buf_puts(o, "</table>\n</section>\n");
}

/* ---- charts ------------------------------------------------------------------------------------------- */

typedef struct sample_stats {
    double mean, median, std, q1, q3;
} sample_stats;

/* A feature's values as a multiset: distinct values v[0..n) ascending, c[i] occurrences
 * each, cum[i] = c[0..i] summed (kx_eda_distribution); a sub-range of it has its own cum. */
typedef struct dist {
    const double *v;
    const int64_t *c;
    int64_t *cum;
    size_t n;
    int64_t total;
} dist;

static dist dist_range(const double *v, const int64_t *c, size_t a, size_t b)
{
    dist d = {v + a, c + a, kx_malloc((b > a ? b - a : 1) * sizeof(int64_t)), b - a, 0};
    for (size_t i = 0; i < d.n; i++) d.cum[i] = d.total += d.c[i];
    return d;
}

/* The same for a plain ascending array (one occurrence per element). */
static sample_stats stats_of_sorted(const double *x, size_t n)
{
    sample_stats s = {NAN, NAN, NAN, NAN, NAN};
    if (!n) return s;
    double sum = 0, ss = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    s.mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - s.mean) * (x[i] - s.mean);
    s.std = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
    s.median = kx_eda_quantile(x, n, 0.5);
    s.q1 = kx_eda_quantile(x, n, 0.25);
    s.q3 = kx_eda_quantile(x, n, 0.75);
    return s;
}

static sample_stats stats_of(const dist *d)
{
    sample_stats s = {NAN, NAN, NAN, NAN, NAN};
    if (!d->total) return s;
    double sum = 0, ss = 0;
    for (size_t i = 0; i < d->n; i++) sum += (double)d->c[i] * d->v[i];
    s.mean = sum / (double)d->total;
    for (size_t i = 0; i < d->n; i++) ss += (double)d->c[i] * ((d->v[i] - s.mean) * (d->v[i] - s.mean));
    s.std = d->total > 1 ? sqrt(ss / (double)(d->total - 1)) : NAN;
    s.median = kx_eda_wquantile(d->v, d->cum, d->n, 0.5);
    s.q1 = kx_eda_wquantile(d->v, d->cum, d->n, 0.25);
    s.q3 = kx_eda_wquantile(d->v, d->cum, d->n, 0.75);
    return s;
}

/* First index with x[i] >= v in sorted x. */
static size_t lower_bound(const double *x, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}
/* First index with x[i] > v. */
static size_t upper_bound(const double *x, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x[mid] <= v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Number of values before distinct index i. */
static int64_t rank_of(const dist *d, size_t i) { return i ? d->cum[i - 1] : 0; }

static kx_svg_box box_of(const char *label, const dist *d)
{
    sample_stats s = stats_of(d);
    kx_svg_box b = {label, s.q1, s.median, s.q3, s.q1, s.q3, s.mean};
    if (!d->total) return b;
    double iqr = s.q3 - s.q1;
    /* whiskers: the most extreme values within 1.5 IQR of the box */
    b.whisker_lo = d->v[lower_bound(d->v, d->n, s.q1 - 1.5 * iqr)];
    size_t hi = upper_bound(d->v, d->n, s.q3 + 1.5 * iqr);
    b.whisker_hi = d->v[hi ? hi - 1 : 0];
    return b;
}

static void feature_histogram(kx_buf *o, int f, const dist *d, const char *suffix, long long removed)
{
    char title[160], xlabel[96], lm[64], lmed[64], n1[64], n2[64], n3[64], n4[64];
    snprintf(title, sizeof title, "%s (%s)%s", feature_long[f], kx_eda_feature_names[f], suffix);
    if (!d->total) {
        kx_buf_puts(o, "<p>");
        esc(o, title);
        kx_buf_puts(o, ": no values.</p>");
        return;
    }
    const double *x = d->v;
    size_t n = d->n;
    sample_stats s = stats_of(d);
    bool lg = f == KX_EDA_HL && x[n - 1] > 1000;
    double edges[NBINS + 1], counts[NBINS];
    if (lg) {
        size_t firstpos = upper_bound(x, n, 0);
        kx_svg_bin_log_weighted(x, d->c, n, firstpos < n ? x[firstpos] : 1, x[n - 1], NBINS, edges, counts);
    } else {
        kx_svg_bin_linear_weighted(x, d->c, n, x[0], x[n - 1], NBINS, edges, counts);
    }
    snprintf(xlabel, sizeof xlabel, "%s (ms%s)", kx_eda_feature_names[f], lg ? ", log scale" : "");
    snprintf(lm, sizeof lm, "Mean: %.1f ms", s.mean);
    snprintf(lmed, sizeof lmed, "Median: %.1f ms", s.median);
    kx_svg_marker m[2] = {{s.median, lmed, "#c44e52", false}, {s.mean, lm, "#2ca02c", true}};
    const char *notes[4];
    size_t nn = 0;
    snprintf(n1, sizeof n1, "n = %lld", (long long)d->total);
    notes[nn++] = n1;
    if (isfinite(s.std)) snprintf(n2, sizeof n2, "Std: %.1f ms", s.std);
    else snprintf(n2, sizeof n2, "Std: n/a");
    notes[nn++] = n2;
    if (f == KX_EDA_IL || f == KX_EDA_RL) {
        snprintf(n3, sizeof n3, "Negative: %lld", (long long)rank_of(d, lower_bound(x, n, 0)));
        notes[nn++] = n3;
    }
    if (removed >= 0) {
        snprintf(n4, sizeof n4, "Outliers removed: %lld", removed);
        notes[nn++] = n4;
    }
    kx_svg_hist h = {title, xlabel, "Count", edges, counts, NBINS, lg, false, m, 2, notes, nn, NULL, CHART_W, CHART_H};
    kx_svg_histogram(o, &h);
}

static void charts_ab(kx_buf *o, const kx_eda *e, bool outliers_removed)
{
    kx_svg_box boxes[KX_EDA_NFEAT];
    kx_buf_puts(o, "<div class=\"charts\">");
    for (int f = 0; f < KX_EDA_NFEAT; f++) {
        size_t n;
        const int64_t *c, *cum;
        const double *x = kx_eda_distribution(e, (kx_eda_feature)f, &c, &cum, &n);
        size_t a = 0, b = n;
        long long removed = -1;
        if (outliers_removed && n) {
            double q1 = kx_eda_wquantile(x, cum, n, 0.25), q3 = kx_eda_wquantile(x, cum, n, 0.75), iqr = q3 - q1;
            double lo = (f == KX_EDA_IL || f == KX_EDA_RL) ? q1 - 3 * iqr : 0;
            a = lower_bound(x, n, lo);
            b = upper_bound(x, n, q3 + 3 * iqr);
        }
        dist d = dist_range(x, c, a, b);
        if (outliers_removed && n) removed = (long long)(cum[n - 1] - d.total);
        feature_histogram(o, f, &d, outliers_removed ? " - Outliers Removed" : "", removed);
        boxes[f] = box_of(kx_eda_feature_names[f], &d);
        free(d.cum);
    }
    kx_svg_boxplot(o, outliers_removed ? "Box Plot - Outliers Removed" : "Box Plot - All Valid Data",
                   "Latency (ms)", boxes, KX_EDA_NFEAT, CHART_W, CHART_H);
    kx_buf_puts(o, "</div>\n");
}

static void put_visualizations(kx_buf *o, const kx_eda *e)
{
    section_open(o, 5);
    kx_buf_puts(o, "<h3>Figure A. Timing Feature Distributions - All Valid Data</h3>\n<figure id=\"fig-a\">");
    charts_ab(o, e, false);
    kx_buf_puts(o, "<figcaption>50 equal-width bins from min to max (HL: 50 log-spaced bins when max &gt; 1000 ms, "
                   "values &le; 0 in the first bin); box plot whiskers at the most extreme values within 1.5 IQR, "
                   "outlier points not drawn.</figcaption></figure>\n");
    kx_buf_puts(o, "<h3>Figure B. Timing Feature Distributions - Outliers Removed</h3>\n<figure id=\"fig-b\">");
    charts_ab(o, e, true);
    kx_buf_puts(o, "<figcaption>Data limited to [Q1 &minus; 3&middot;IQR, Q3 + 3&middot;IQR] for IL and RL and "
                   "[0, Q3 + 3&middot;IQR] for HL and PL.</figcaption></figure>\n</section>\n");
}

/* Chart U: user data quality. */
static void chart_u(kx_buf *o, const json_t *all)
{
    size_t n = json_array_size(all);
    double *rate = kx_malloc((n ? n : 1) * sizeof *rate), *cnt = kx_malloc((n ? n : 1) * sizeof *cnt);
    char **labels = kx_malloc((n ? n : 1) * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        const json_t *u = json_array_get(all, i);
        rate[i] = jnum(u, "validity_rate");
        cnt[i] = (double)jint(u, "total_keypairs");
        labels[i] = kx_strndup(jstr(u, "user_id"), 8);
    }
    kx_buf_puts(o, "<h3>Figure U. User Data Quality</h3>\n<figure id=\"fig-u\"><div class=\"charts\">");
    if (n <= 20) {
        kx_svg_bars(o, "Validity Rate by User", "User (first 8 characters of the id)", "Validity rate (%)",
                    (const char *const *)labels, rate, n, "#4C72B0", CHART_W, CHART_H + 40);
        kx_svg_bars(o, "Keypairs by User", "User (first 8 characters of the id)", "Keypairs", (const char *const *)labels,
                    cnt, n, "#DD8452", CHART_W, CHART_H + 40);
    } else {
        double edges[31], counts[30];
        char lm[64], lmed[64];
        /* all_users is sorted by validity descending: the reverse is ascending */
        double *asc = kx_malloc(n * sizeof *asc);
        for (size_t i = 0; i < n; i++) asc[i] = rate[n - 1 - i];
        sample_stats s = stats_of_sorted(asc, n);
        snprintf(lm, sizeof lm, "Mean: %.1f%%", s.mean);
        snprintf(lmed, sizeof lmed, "Median: %.1f%%", s.median);
        kx_svg_marker m[2] = {{s.median, lmed, "#c44e52", false}, {s.mean, lm, "#2ca02c", true}};
        kx_svg_bin_linear(asc, n, asc[0], asc[n - 1], 20, edges, counts);
        kx_svg_hist h1 = {"Distribution of User Validity Rates", "Validity rate (%)", "Users", edges, counts, 20, false,
                          false, m, 2, NULL, 0, NULL, CHART_W, CHART_H};
        kx_svg_histogram(o, &h1);
        double cmin = cnt[0], cmax = cnt[0];
        for (size_t i = 0; i < n; i++) cmin = fmin(cmin, cnt[i]), cmax = fmax(cmax, cnt[i]);
        kx_svg_bin_linear(cnt, n, cmin, cmax, 30, edges, counts);
        kx_svg_hist h2 = {"Distribution of Keypairs per User", "Keypairs per user", "Users (log scale)", edges, counts,
                          30, false, true, NULL, 0, NULL, 0, "#DD8452", CHART_W, CHART_H};
        kx_svg_histogram(o, &h2);
        kx_svg_scatter(o, "Validity Rate vs Keypairs", "Keypairs per user (log scale)", "Validity rate (%)", cnt, rate,
                       n, true, CHART_W, CHART_H);
        /* 10 highest and 10 lowest validity rates, highest first */
        const char *bl[20];
        double bv[20];
        for (size_t i = 0; i < 10; i++) {
            bl[i] = labels[i];
            bv[i] = rate[i];
            bl[10 + i] = labels[n - 10 + i];
            bv[10 + i] = rate[n - 10 + i];
        }
        kx_svg_bars(o, "Top 10 and Bottom 10 Users by Validity Rate", "User (first 8 characters of the id)",
                    "Validity rate (%)", bl, bv, 20, "#55A868", CHART_W, CHART_H + 40);
        free(asc);
    }
    kx_buf_puts(o, "</div></figure>\n");
    for (size_t i = 0; i < n; i++) free(labels[i]);
    free(labels);
    free(rate);
    free(cnt);
}

static void put_users(kx_buf *o, const json_t *doc, size_t cap)
{
    static const char *const cols[] = {"User", "Total keypairs", "Valid", "Invalid", "Validity rate (%)",
                                       "Outliers", "Outlier rate (%)"};
    const json_t *all = json_object_get(json_object_get(doc, "user_stats"), "all_users");
    size_t n = json_array_size(all), from = 0, to = 0;
    section_open(o, 4);
    chart_u(o, all);
    kx_buf_puts(o, "<h3>All users (by validity rate, descending)</h3>\n<table>");
    th_row(o, cols, 7);
    bool cut = capped(n, cap, &from, &to);
    for (size_t i = 0; i < n; i++) {
        if (cut && i >= from && i < to) {
            if (i == from) skipped_row(o, 7, to - from, "analysis_results.json, user_stats.all_users");
            continue;
        }
        const json_t *u = json_array_get(all, i);
        kx_buf_puts(o, "<tr><td><code>");
        esc(o, jstr(u, "user_id"));
        kx_buf_puts(o, "</code></td>");
        td_int(o, jint(u, "total_keypairs"));
        td_int(o, jint(u, "valid_keypairs"));
        td_int(o, jint(u, "invalid_keypairs"));
        td_num(o, jnum(u, "validity_rate"), 1);
        td_int(o, jint(u, "outlier_count"));
        td_num(o, jnum(u, "outlier_rate"), 1);
        kx_buf_puts(o, "</tr>\n");
    }
    kx_buf_puts(o, "</table>\n</section>\n");
}

static void put_extreme(kx_buf *o, const json_t *doc)
{
    const json_t *x = json_object_get(doc, "extreme_hl_analysis");
    if (jint(x, "total_extreme_count") <= 0) return;
    section_open(o, 6);
    const json_t *st = json_object_get(x, "extreme_stats"), *us = json_object_get(x, "user_stats");
    kx_buf_puts(o, "<p>Valid keypairs with a hold latency above ");
    put_int(o, jint(x, "threshold_ms"));
    kx_buf_puts(o, " ms: <b>");
    put_int(o, jint(x, "total_extreme_count"));
    kx_buf_puts(o, "</b> (");
    put_num(o, jnum(x, "percentage_of_valid"), 3);
    kx_buf_puts(o, "% of valid keypairs with HL), in ");
    put_int(o, jint(us, "users_with_extreme_hl"));
    kx_buf_puts(o, " of ");
    put_int(o, jint(us, "total_users"));
    kx_buf_puts(o, " users (");
    put_num(o, jnum(us, "percentage_users_affected"), 1);
    kx_buf_puts(o, "%).</p>\n<table><tr><th>Mean (ms)</th><th>Median (ms)</th><th>Min (ms)</th><th>Max (ms)</th>"
                   "<th>Std (ms)</th></tr>\n<tr>");
    const char *keys[5] = {"mean_ms", "median_ms", "min_ms", "max_ms", "std_ms"};
    for (int i = 0; i < 5; i++) {
        const json_t *v = json_object_get(st, keys[i]);
        kx_buf_puts(o, "<td class=\"n\">");
        put_num(o, json_is_number(v) ? json_number_value(v) : NAN, 1);
        kx_buf_puts(o, "</td>");
    }
    kx_buf_puts(o, "</tr></table>\n<h3>Top 20 cases</h3>\n<table>");
    static const char *const cols[] = {"#", "User", "Key", "HL (ms)", "HL (s)", "Next key", "Device", "Session",
                                       "Video"};
    th_row(o, cols, 9);
    const json_t *cases = json_object_get(x, "extreme_cases");
    for (size_t i = 0; i < json_array_size(cases) && i < 20; i++) {
        const json_t *c = json_array_get(cases, i);
        kx_buf_printf(o, "<tr><td class=\"n\">%zu</td><td><code>", i + 1);
        esc(o, jstr(c, "user_id"));
        kx_buf_puts(o, "</code></td><td><code>");
        esc(o, json_is_string(json_object_get(c, "key")) ? jstr(c, "key") : "(missing)");
        kx_buf_puts(o, "</code></td><td class=\"n\">");
        put_num(o, jnum(c, "hl_ms"), 0);
        kx_buf_puts(o, "</td><td class=\"n\">");
        put_num(o, jnum(c, "hl_seconds"), 1);
        kx_buf_puts(o, "</td><td><code>");
        esc(o, json_is_string(json_object_get(c, "next_key")) ? jstr(c, "next_key") : "(missing)");
        kx_buf_puts(o, "</code></td><td>");
        esc(o, jstr(c, "device_type"));
        kx_buf_printf(o, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n", jint(c, "session_id"),
                      jint(c, "video_id"));
    }
    kx_buf_puts(o, "</table>\n<h3>Keys most often held longer than the threshold</h3>\n<table><tr><th>Key</th>"
                   "<th>Count</th></tr>\n");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(x, "key_distribution"), k, v) {
        kx_buf_puts(o, "<tr><td><code>");
        esc(o, *k ? k : "(missing)");
        kx_buf_puts(o, "</code></td><td class=\"n\">");
        put_int(o, (long long)json_integer_value(v));
        kx_buf_puts(o, "</td></tr>\n");
    }
    kx_buf_puts(o, "</table>\n</section>\n");
}

static void pattern_table(kx_buf *o, const json_t *pats, bool with_type)
{
    kx_buf_puts(o, with_type ? "<table><tr><th>Pattern</th><th>Count</th><th>Type</th></tr>\n"
                             : "<table><tr><th>Pattern</th><th>Count</th></tr>\n");
    for (size_t i = 0; i < json_array_size(pats); i++) {
        const json_t *p = json_array_get(pats, i);
        kx_buf_puts(o, "<tr><td><code>");
        esc(o, jstr(p, "pattern"));
        kx_buf_puts(o, "</code></td><td class=\"n\">");
        put_int(o, jint(p, "count"));
        if (with_type) {
            kx_buf_puts(o, "</td><td>");
            esc(o, jstr(p, "type"));
        }
        kx_buf_puts(o, "</td></tr>\n");
    }
    if (!json_array_size(pats)) kx_buf_printf(o, "<tr><td colspan=\"%d\">none</td></tr>\n", with_type ? 3 : 2);
    kx_buf_puts(o, "</table>\n");
}

static void put_negative(kx_buf *o, const json_t *doc, bool pii, size_t cap)
{
    const json_t *na = json_object_get(doc, "negative_analysis");
    const json_t *s = json_object_get(na, "summary"), *il = json_object_get(na, "negative_IL"),
                 *rl = json_object_get(na, "negative_RL"), *us = json_object_get(na, "user_summary");
    section_open(o, 7);
    kx_buf_puts(o, "<p>Negative IL and RL values arise when keys overlap (the next key is pressed, or released, "
                   "before the previous one is released). ");
    put_int(o, jint(s, "users_with_negative_il"));
    kx_buf_puts(o, " of ");
    put_int(o, jint(s, "total_users"));
    kx_buf_puts(o, " users have negative IL values, ");
    put_int(o, jint(s, "users_with_negative_rl"));
    kx_buf_puts(o, " have negative RL values.</p>\n<h3>8.1 Expected combinations (modifier keys)</h3>\n"
                   "<p>A negative IL is <em>expected</em> when key 1 is a modifier held while the next key is "
                   "pressed. Modifier keys: ");
    const json_t *mods = json_object_get(s, "modifier_keys");
    for (size_t i = 0; i < json_array_size(mods); i++) {
        if (i) kx_buf_puts(o, ", ");
        kx_buf_puts(o, "<code>");
        esc(o, json_string_value(json_array_get(mods, i)));
        kx_buf_puts(o, "</code>");
    }
    kx_buf_puts(o, ".</p>\n<h3>8.2 Negative IL</h3>\n<p>Total: <b>");
    put_int(o, jint(il, "total_count"));
    kx_buf_puts(o, "</b>; expected (modifier first): ");
    put_int(o, jint(il, "expected_count"));
    kx_buf_puts(o, "; unexpected: ");
    put_int(o, jint(il, "unexpected_count"));
    kx_buf_puts(o, ".</p>\n");
    pattern_table(o, json_object_get(il, "top_patterns"), true);
    kx_buf_puts(o, "<h3>8.3 Negative RL</h3>\n<p>Total: <b>");
    put_int(o, jint(rl, "total_count"));
    kx_buf_puts(o, "</b>; with negative IL too: ");
    put_int(o, jint(rl, "with_negative_IL"));
    kx_buf_puts(o, "; standalone: ");
    put_int(o, jint(rl, "standalone"));
    kx_buf_puts(o, ".</p>\n");
    pattern_table(o, json_object_get(rl, "top_patterns"), false);
    kx_buf_puts(o, "<h3>8.4 Per-user negative values</h3>\n<table>");
    static const char *const cols[] = {"User", "Valid keypairs", "Neg. IL", "expected", "unexpected", "Neg. IL %",
                                       "Neg. RL", "Neg. RL %", "Top IL patterns", "Consent timestamp"};
    th_row(o, cols, pii ? 10 : 9);
    size_t n = json_array_size(us), from = 0, to = 0;
    bool cut = capped(n, cap, &from, &to);
    for (size_t i = 0; i < n; i++) {
        if (cut && i >= from && i < to) {
            if (i == from) skipped_row(o, pii ? 10 : 9, to - from, "analysis_results.json, user_summary");
            continue;
        }
        const json_t *u = json_array_get(us, i);
        kx_buf_puts(o, "<tr><td><code>");
        esc(o, jstr(u, "user_id"));
        kx_buf_puts(o, "</code></td>");
        const char *ik[] = {"total_keypairs", "negative_il_total", "negative_il_expected", "negative_il_unexpected"};
        for (int j = 0; j < 4; j++) td_int(o, jint(u, ik[j]));
        td_num(o, jnum(u, "negative_il_percent"), 1);
        td_int(o, jint(u, "negative_rl_total"));
        td_num(o, jnum(u, "negative_rl_percent"), 1);
        kx_buf_puts(o, "<td><code>");
        esc(o, jstr(u, "top_il_patterns"));
        kx_buf_puts(o, "</code></td>");
        if (pii) {
            kx_buf_puts(o, "<td>");
            esc(o, jstr(u, "timestamp"));
            kx_buf_puts(o, "</td>");
        }
        kx_buf_puts(o, "</tr>\n");
    }
    if (!n) kx_buf_printf(o, "<tr><td colspan=\"%d\">no user has negative IL or RL values</td></tr>\n", pii ? 10 : 9);
    kx_buf_puts(o, "</table>\n</section>\n");
}

static void put_fixed_sections(kx_buf *o, const json_t *doc)
{
    section_open(o, 8);
    kx_buf_puts(o,
                "<p>Typing rhythm shows in the four latencies. Hold latencies (HL) are short and stable for "
                "letters (typically 60&ndash;150 ms) and longer for modifiers and space. Press latencies (PL) "
                "reflect typing speed; their spread reflects pauses between words and thinking time. Overlapping "
                "keystrokes (&ldquo;rollover&rdquo;) give negative IL and, less often, negative RL: frequent among "
                "fluent typists and expected with a held modifier (e.g. Shift before a capital letter). Very long "
                "holds (above 5 s) usually mean a key left down while the participant paused, or a missed release "
                "event, rather than real typing behaviour.</p>\n</section>\n");
    const json_t *s = json_object_get(doc, "summary");
    double rate = jnum(s, "validity_rate");
    const char *grade = rate >= 95 ? "Excellent" : rate >= 85 ? "Good" : rate >= 70 ? "Fair" : "Poor";
    section_open(o, 9);
    kx_buf_printf(o, "<p>Validity rate: <b>");
    put_num(o, rate, 1);
    kx_buf_printf(o, "%%</b> &rarr; <span class=\"grade %s\">%s</span></p>\n", grade, grade);
    kx_buf_puts(o, "<p>Scale: Excellent &ge; 95 %, Good &ge; 85 %, Fair &ge; 70 %, otherwise Poor.</p>\n</section>\n");

    section_open(o, 10);
    kx_buf_puts(o, "<ul>\n");
    const json_t *r = json_object_get(doc, "recommendations");
    for (size_t i = 0; i < json_array_size(r); i++) {
        kx_buf_puts(o, "<li>");
        put_markdown_bold(o, json_string_value(json_array_get(r, i)));
        kx_buf_puts(o, "</li>\n");
    }
    kx_buf_puts(o, "</ul>\n</section>\n");

    section_open(o, 11);
    kx_buf_puts(o, "<p>All numbers of this report are in <code>analysis_results.json</code> next to it (the "
                   "<code>summary</code> object alone is in <code>summary_stats.json</code>). To load them:</p>\n"
                   "<pre>import json\nimport pandas as pd\n\n"
                   "with open(\"eda_reports/data_quality/analysis_results.json\") as f:\n"
                   "    results = json.load(f)\nprint(results[\"summary\"])\n"
                   "users = pd.DataFrame(results[\"user_stats\"][\"all_users\"])\n\n"
                   "# the keypairs table the analysis was computed from\n"
                   "keypairs = pd.read_parquet(\"keypairs/keypairs.parquet\")  # or pd.read_csv(\"keypairs/keypairs.csv\")\n"
                   "valid = keypairs[keypairs[\"valid\"]]\n"
                   "print(valid[[\"HL\", \"IL\", \"PL\", \"RL\"]].describe())</pre>\n"
                   "<p>To regenerate the report for this version: <code>keyetl run -s eda --version-id ");
    esc(o, jstr(doc, "version_id"));
    kx_buf_puts(o, "</code> (paths are relative to the version folder).</p>\n</section>\n");
}

void kx_eda_report_html(kx_buf *o, const json_t *doc, const kx_eda *e, const kx_eda_report_opts *opt)
{
    size_t cap = opt->max_table_rows ? opt->max_table_rows : KX_EDA_REPORT_MAX_ROWS;
    put_header(o, doc, opt);
    put_definitions(o);
    put_summary(o, doc);
    put_quality_issues(o, doc, cap);
    put_timing_table(o, doc);
    put_users(o, doc, cap);
    put_visualizations(o, e);
    put_extreme(o, doc);
    put_negative(o, doc, opt->include_pii, cap);
    put_fixed_sections(o, doc);
    kx_buf_puts(o, "</main>\n</body>\n</html>\n");
}
