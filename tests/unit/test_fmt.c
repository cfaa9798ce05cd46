/* Float formatting (spec 04 §2 table; Schubfach in src/io/fmt.c cross-checked against the
 * slow printf/strtod reference in test_fmt_ref.c) and CSV/JSON text rules. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/fmt.h"
#include "io/json.h"
#include "io/text.h"
#include "test.h"
#include "test_fmt_ref.h"

static const char *fmt(double v)
{
    static char buf[KX_FMT_DOUBLE_MAX];
    kx_fmt_double(v, buf);
    return buf;
}

TEST(fmt_double_spec_table)
{
    CHECK_EQ_STR(fmt(0.0), "0.0");
    CHECK_EQ_STR(fmt(-0.0), "-0.0");
    CHECK_EQ_STR(fmt(99), "99.0");
    CHECK_EQ_STR(fmt(-56), "-56.0");
    CHECK_EQ_STR(fmt(1735660013225.0), "1735660013225.0");
    CHECK_EQ_STR(fmt(9999999999999998.0), "9999999999999998.0");
    CHECK_EQ_STR(fmt(1e16), "1e+16");
    CHECK_EQ_STR(fmt(1.2345e16), "1.2345e+16");
    CHECK_EQ_STR(fmt(0.0001), "0.0001");
    CHECK_EQ_STR(fmt(0.00001), "1e-05");
    CHECK_EQ_STR(fmt(0.000106), "0.000106");
    CHECK_EQ_STR(fmt(5.6e-5), "5.6e-05");
    CHECK_EQ_STR(fmt(1.5e-7), "1.5e-07");
    CHECK_EQ_STR(fmt(0.1 + 0.2), "0.30000000000000004");
    CHECK_EQ_STR(fmt(500.0 / 3), "166.66666666666666");
    CHECK_EQ_STR(fmt(110.56122448979592), "110.56122448979592");
    CHECK_EQ_STR(fmt(5e-324), "5e-324");
    CHECK_EQ_STR(fmt(DBL_MAX), "1.7976931348623157e+308");
    CHECK_EQ_STR(fmt(34.407847942003), "34.407847942003");
    CHECK_EQ_STR(fmt(255.5), "255.5");
    CHECK_EQ_STR(fmt(1e22), "1e+22");
    CHECK_EQ_STR(fmt(123456789012345680.0), "1.2345678901234568e+17");
}

TEST(fmt_double_edge_values)
{
    CHECK_EQ_STR(fmt(1e23), "1e+23");
    CHECK_EQ_STR(fmt(0.3), "0.3");
    CHECK_EQ_STR(fmt(2.0 / 3), "0.6666666666666666");
    CHECK_EQ_STR(fmt(1.0 / 3), "0.3333333333333333");
    CHECK_EQ_STR(fmt(-1.0 / 3), "-0.3333333333333333");
    CHECK_EQ_STR(fmt(9.999999999999999e-05), "9.999999999999999e-05");
    CHECK_EQ_STR(fmt(nextafter(1e16, 0)), "9999999999999998.0");
    CHECK_EQ_STR(fmt(nextafter(1e16, INFINITY)), "1.0000000000000002e+16");
    CHECK_EQ_STR(fmt(nextafter(0.0001, 1)), "0.00010000000000000002");
    CHECK_EQ_STR(fmt(DBL_MIN), "2.2250738585072014e-308");
    CHECK_EQ_STR(fmt(nextafter(DBL_MIN, 0)), "2.225073858507201e-308"); /* largest subnormal */
    CHECK_EQ_STR(fmt(2 * 5e-324), "1e-323");
    CHECK_EQ_STR(fmt(3 * 5e-324), "1.5e-323");
    CHECK_EQ_STR(fmt(-DBL_MAX), "-1.7976931348623157e+308");
    CHECK_EQ_STR(fmt(ldexp(1, -44)), "5.684341886080802e-14");
    CHECK_EQ_STR(fmt(0.5), "0.5");
    CHECK_EQ_STR(fmt(123.456), "123.456");
    CHECK_EQ_STR(fmt(1e100), "1e+100");
    CHECK_EQ_STR(fmt(1.5e300), "1.5e+300");
    /* 2^53 +- 1 neighbourhood: 9007199254740993 is not a double */
    CHECK_EQ_STR(fmt(9007199254740993.0), "9007199254740992.0");
    CHECK_EQ_STR(fmt(9007199254740994.0), "9007199254740994.0");
    char d[20];
    int e;
    CHECK_EQ_INT(kx_shortest_digits(9007199254740992.0, d, &e), 16);
    CHECK_EQ_STR(d, "9007199254740992");
    CHECK_EQ_INT(e, 15);
    CHECK_EQ_INT(kx_shortest_digits(-2.5e-7, d, &e), 2);
    CHECK_EQ_STR(d, "25");
    CHECK_EQ_INT(e, -7);
}

TEST(fmt_double_interval_edges)
{
    /* v = c * 4 with c even: the interval [v - 2, v + 2] is closed and its upper end
     * 18014398509481990 is a 16-digit decimal: that is the shortest. With c odd
     * (v = ...988) the end ...990 is excluded and 17 digits are needed. */
    CHECK_EQ_STR(fmt(18014398509481992.0), "1.801439850948199e+16");
    CHECK_EQ_STR(fmt(18014398509481988.0), "1.8014398509481988e+16");
    /* Generated: t odd with 5^j | t, midpoint M = t * 2^(q-1) a multiple of 10^j; the two
     * doubles (t -+ 1)/2 * 2^q have M at an interval end (included iff their c is even). */
    char a[32], b[32];
    for (int q = 1; q <= 80; q++) {
        int j = q - 1 < 20 ? q - 1 : 20;
        uint64_t p5 = 1;
        for (int i = 0; i < j; i++) p5 *= 5;
        uint64_t lo = ((uint64_t)1 << 53) / p5 + 1, hi = ((uint64_t)1 << 54) / p5;
        for (uint64_t u = lo; u < hi && u < lo + 40; u++) {
            uint64_t t = p5 * u;
            if (!(t & 1)) continue;
            for (int side = -1; side <= 1; side += 2) {
                double v = ldexp((double)((t + (uint64_t)(side + 1)) / 2), q); /* (t -+ 1) / 2 */
                kx_fmt_double(v, a);
                kx_ref_fmt_double(v, b);
                CHECK_EQ_STR(a, b);
                CHECK(strtod(a, NULL) == v);
            }
        }
    }
}

TEST(fmt_double_all_powers_of_two)
{
    char a[32], b[32];
    for (int e = -1074; e < 1024; e++) {
        double v = ldexp(1.0, e);
        kx_fmt_double(v, a);
        kx_ref_fmt_double(v, b);
        CHECK_EQ_STR(a, b);
        CHECK(strtod(a, NULL) == v);
    }
    CHECK_EQ_STR(fmt(ldexp(1.0, -1074)), "5e-324");
    CHECK_EQ_STR(fmt(ldexp(1.0, 1023)), "8.98846567431158e+307");
    /* the original printf search printed 7.6784476871456305e-239 here (17 digits) */
    CHECK_EQ_STR(fmt(ldexp(1.0, -791)), "7.678447687145631e-239");
}

/* Every binade (each (q, k) pair of the algorithm, regular and c = 2^52 cases) and every
 * subnormal bit length, at its first, second, middle and last significand. */
TEST(fmt_double_every_binade)
{
    char a[32], b[32];
    for (uint64_t be = 0; be < 2047; be++) {
        uint64_t fr[] = {0, 1, 2, 0x8000000000000ULL, 0x5555555555555ULL, 0xfffffffffffffULL};
        for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) {
            uint64_t bits = be << 52 | fr[i];
            double v;
            memcpy(&v, &bits, sizeof v);
            if (v == 0) continue;
            kx_fmt_double(v, a);
            kx_ref_fmt_double(v, b);
            CHECK_EQ_STR(a, b);
        }
    }
    for (int len = 1; len <= 52; len++) {
        for (uint64_t m = (uint64_t)1 << (len - 1); m < ((uint64_t)1 << (len - 1)) + 3; m++) {
            double v;
            memcpy(&v, &m, sizeof v);
            kx_fmt_double(v, a);
            kx_ref_fmt_double(v, b);
            CHECK_EQ_STR(a, b);
            CHECK(strtod(a, NULL) == v);
        }
    }
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

TEST(fmt_double_random_bits_match_reference)
{
    uint64_t x = 88172645463325252ULL;
    char a[32], b[32];
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = xorshift(&x);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) continue;
        kx_fmt_double(v, a);
        kx_ref_fmt_double(v, b);
        CHECK_EQ_STR(a, b);
        CHECK(strtod(a, NULL) == v);
    }
}

/* Typical feature values: n / 10^d in [-5000, 5000] with d = 1..6 decimals; the repr is the
 * decimal itself (trailing zeros dropped) whenever |v| >= 1e-4. */
TEST(fmt_double_random_typical_match_reference)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    char a[32], b[32], c[48];
    for (int i = 0; i < 100000; i++) {
        int dec = 1 + (int)(xorshift(&x) % 6);
        int64_t span = (int64_t)(5000 * p10[dec]);
        int64_t n = (int64_t)(xorshift(&x) % (uint64_t)(2 * span + 1)) - span;
        double v = (double)n / p10[dec];
        kx_fmt_double(v, a);
        kx_ref_fmt_double(v, b);
        CHECK_EQ_STR(a, b);
        CHECK(strtod(a, NULL) == v);
        if (fabs(v) >= 1e-4) {
            int len = snprintf(c, sizeof c, "%.*f", dec, v);
            while (c[len - 1] == '0' && c[len - 2] != '.') c[--len] = '\0';
            CHECK_EQ_STR(a, c);
        }
    }
}

/* Shortest digits API against the reference, including the digit string and exponent. */
TEST(fmt_shortest_digits_match_reference)
{
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = xorshift(&x) & ~((uint64_t)1 << 63);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v) || v == 0) continue;
        char d1[20], d2[20];
        int e1, e2;
        int k1 = kx_shortest_digits(v, d1, &e1);
        int k2 = kx_ref_shortest_digits(v, d2, &e2);
        CHECK_EQ_INT(k1, k2);
        CHECK_EQ_STR(d1, d2);
        CHECK_EQ_INT(e1, e2);
    }
}


TEST(csv_quoting_rules)
{
    kx_buf b = KX_BUF_INIT;
    kx_csv_put_str(&b, "\"", 1);
    kx_buf_putc(&b, '|');
    kx_csv_put_str(&b, ",", 1);
    kx_buf_putc(&b, '|');
    kx_csv_put_str(&b, "HL_\"_median", 11);
    kx_buf_putc(&b, '|');
    kx_csv_put_str(&b, "NA", 2);
    kx_buf_putc(&b, '|');
    kx_csv_put_str(&b, "a b", 3);
    kx_buf_putc(&b, '|');
    kx_csv_put_str(&b, "\xDC", 1);
    CHECK_EQ_STR(b.data, "\"\"\"\"|\",\"|\"HL_\"\"_median\"|NA|a b|\xC3\x9C");
    kx_buf_free(&b);
}

TEST(utf8_fallback_rule)
{
    kx_buf b = KX_BUF_INIT;
    kx_utf8_append_sanitized(&b, "a\xB4" "b\xDF\xE2\x80\x93\xED\xA0\x80", 10);
    /* valid en dash kept; surrogate encoding ED A0 80 is three invalid bytes */
    CHECK_EQ_STR(b.data, "a\xC2\xB4" "b\xC3\x9F\xE2\x80\x93\xC3\xAD\xC2\xA0\xC2\x80");
    kx_buf_free(&b);
}

TEST(json_layout_and_escapes)
{
    json_t *o = json_object();
    json_object_set_new(o, "feature_type", json_string("statistical_platform"));
    json_object_set_new(o, "shape", kx_json_int_pair(183, 487));
    static const char *const names[] = {"HL_\"_median", "HL_\\_q1", "HL_\xE2\x80\x93_mean", "\xF0\x9F\x98\x80/\x7f"};
    json_object_set_new(o, "feature_names", kx_json_str_array(names, 4));
    json_object_set_new(o, "selection_details", json_object());
    json_object_set_new(o, "rate", kx_json_num(99.97376824418616));
    json_object_set_new(o, "nan", kx_json_num(NAN));
    json_object_set_new(o, "units", json_string("ms"));
    kx_buf b = KX_BUF_INIT;
    kx_json_dump(&b, o);
    CHECK_EQ_STR(b.data, "{\n"
                         "  \"feature_type\": \"statistical_platform\",\n"
                         "  \"shape\": [\n    183,\n    487\n  ],\n"
                         "  \"feature_names\": [\n"
                         "    \"HL_\\\"_median\",\n"
                         "    \"HL_\\\\_q1\",\n"
                         "    \"HL_\\u2013_mean\",\n"
                         "    \"\\ud83d\\ude00/\\u007f\"\n"
                         "  ],\n"
                         "  \"selection_details\": {},\n"
                         "  \"rate\": 99.97376824418616,\n"
                         "  \"nan\": null,\n"
                         "  \"units\": \"ms\"\n"
                         "}");
    kx_buf_free(&b);
    json_decref(o);
}
