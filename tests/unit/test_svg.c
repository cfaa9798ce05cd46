/* SVG chart module: tick values, labels, binning, escaping. */
#include <math.h>

#include "io/svg.h"
#include "test.h"

TEST(svg_nice_ticks)
{
    kx_svg_ticks t;
    kx_svg_nice_ticks(0, 987, 5, &t);
    CHECK_EQ_INT(t.n, 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_DBL(t.v[i], 200.0 * i);
    kx_svg_nice_ticks(-47.6, 19.4, 5, &t); /* step 20 */
    CHECK_EQ_DBL(t.step, 20.0);
    CHECK_EQ_DBL(t.v[0], -60.0);
    CHECK_EQ_DBL(t.v[t.n - 1], 20.0);
    CHECK_EQ_INT(t.n, 5);
    kx_svg_nice_ticks(0, 1, 5, &t);
    CHECK_EQ_INT(t.n, 6);
    CHECK_NEAR(t.v[3], 0.6, 1e-12);
    kx_svg_nice_ticks(99.97, 99.97, 5, &t); /* constant: widened, still ascending ticks */
    CHECK(t.n >= 2 && t.v[0] <= 99.97 && t.v[t.n - 1] >= 99.97);
}

TEST(svg_log_ticks)
{
    kx_svg_ticks t;
    kx_svg_log_ticks(3, 7000, &t);
    CHECK_EQ_INT(t.n, 5);
    CHECK_EQ_DBL(t.v[0], 1.0);
    CHECK_EQ_DBL(t.v[4], 10000.0);
    kx_svg_log_ticks(10, 50, &t); /* one decade: 1-2-5 */
    CHECK_EQ_INT(t.n, 4);
    CHECK_EQ_DBL(t.v[1], 20.0);
    CHECK_EQ_DBL(t.v[2], 50.0);
    CHECK_EQ_DBL(t.v[3], 100.0);
}

/* Axis ranges that are not finite (or whose width overflows) still give finite ascending
 * ticks: the chart code reads t.v[0] and t.v[t.n - 1]. */
TEST(svg_ticks_non_finite_ranges)
{
    const double bad[][2] = {{NAN, NAN}, {0, INFINITY}, {-INFINITY, 5}, {-1.7e308, 1.7e308}, {INFINITY, INFINITY}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kx_svg_ticks t;
        kx_svg_nice_ticks(bad[i][0], bad[i][1], 5, &t);
        CHECK(t.n >= 2);
        for (int k = 0; k < t.n; k++) CHECK(isfinite(t.v[k]) && (k == 0 || t.v[k] > t.v[k - 1]));
        kx_svg_log_ticks(bad[i][0], bad[i][1], &t);
        CHECK(t.n >= 2);
        for (int k = 0; k < t.n; k++) CHECK(isfinite(t.v[k]) && t.v[k] > 0 && (k == 0 || t.v[k] > t.v[k - 1]));
    }
}

TEST(svg_tick_labels)
{
    char b[48];
    kx_svg_fmt_tick(12500, 2500, b);
    CHECK_EQ_STR(b, "12,500");
    kx_svg_fmt_tick(-1000, 500, b);
    CHECK_EQ_STR(b, "-1,000");
    kx_svg_fmt_tick(0.25, 0.05, b);
    CHECK_EQ_STR(b, "0.25");
    kx_svg_fmt_tick(0, 0.2, b);
    CHECK_EQ_STR(b, "0");
    kx_svg_fmt_tick(1000, 0, b); /* log tick */
    CHECK_EQ_STR(b, "1,000");
}

TEST(svg_binning)
{
    double x[] = {-5, 0, 1, 2, 3, 4, 10};
    double edges[6], counts[5];
    kx_svg_bin_linear(x, 7, -5, 10, 5, edges, counts); /* width 3 */
    CHECK_EQ_DBL(edges[1], -2.0);
    CHECK_EQ_DBL(counts[0], 1); /* -5 */
    CHECK_EQ_DBL(counts[1], 1); /* 0 in [-2, 1) */
    CHECK_EQ_DBL(counts[2], 3); /* 1, 2, 3 in [1, 4) */
    CHECK_EQ_DBL(counts[3], 1); /* 4 */
    CHECK_EQ_DBL(counts[4], 1); /* max in the last bin */
    double y[] = {-3, 0, 1, 10, 100, 1000};
    double le[4], lc[3];
    kx_svg_bin_log(y, 6, 1, 1000, 3, le, lc);
    CHECK_NEAR(le[1], 10.0, 1e-12);
    CHECK_EQ_DBL(lc[0], 3 + 0); /* -3, 0 and 1 (values <= lo go to the first bin) */
    CHECK_EQ_DBL(lc[1], 1);     /* 10 */
    CHECK_EQ_DBL(lc[2], 2);     /* 100, 1000 */
}

TEST(svg_histogram_escaping_and_structure)
{
    double edges[3] = {0, 500, 987}, counts[2] = {3, 4};
    const char *notes[] = {"n = 7 <all>"};
    kx_svg_marker m[1] = {{250, "Median: 250 & more", "#c44e52", false}};
    kx_svg_hist h = {"HL \"<b>\" & 'x'", "HL (ms)", "Count", edges, counts, 2, false, false, m, 1, notes, 1, NULL, 400, 300};
    kx_buf b = KX_BUF_INIT;
    kx_svg_histogram(&b, &h);
    CHECK(strstr(b.data, "<title>HL &quot;&lt;b&gt;&quot; &amp; &#39;x&#39;</title>"));
    CHECK(!strstr(b.data, "<b>"));
    CHECK(strstr(b.data, "Median: 250 &amp; more"));
    CHECK(strstr(b.data, "n = 7 &lt;all&gt;"));
    CHECK(strstr(b.data, ">1,000</text>")); /* axis 0..1000 */
    CHECK(strstr(b.data, ">HL (ms)</text>"));
    CHECK(!strstr(b.data, "http"));
    CHECK(!strncmp(b.data, "<svg", 4));
    CHECK(strstr(b.data, "</svg>"));
    kx_buf_free(&b);
}
