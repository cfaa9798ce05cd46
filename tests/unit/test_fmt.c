/* Float formatting (spec 04 §2 table) and CSV/JSON text rules. */
#include <float.h>
#include <stdlib.h>

#include "io/fmt.h"
#include "io/json.h"
#include "io/text.h"
#include "test.h"

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

TEST(fmt_double_powers_of_two_are_shortest)
{
    /* 2^-44 = 5.684341886080802e-14: shortest is 16 digits; printf %.16g rounds wrongly
     * for some powers of two, where the neighbour of the correctly rounded value is the
     * shortest round-trip string. */
    CHECK_EQ_STR(fmt(5.684341886080802e-14), "5.684341886080802e-14");
    CHECK_EQ_STR(fmt(9007199254740992.0 * 2), "1.8014398509481984e+16");
    for (int e = -1074; e < 1024; e += 7) {
        double v = ldexp(1.0, e);
        const char *s = fmt(v);
        CHECK(strtod(s, NULL) == v);
    }
}

TEST(fmt_double_roundtrips_random)
{
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        const char *s = fmt(v);
        CHECK(strtod(s, NULL) == v);
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
    json_t *shape = json_array();
    json_array_append_new(shape, json_integer(183));
    json_array_append_new(shape, json_integer(487));
    json_object_set_new(o, "shape", shape);
    json_t *names = json_array();
    json_array_append_new(names, kx_json_str("HL_\"_median"));
    json_array_append_new(names, kx_json_str("HL_\\_q1"));
    json_array_append_new(names, kx_json_str("HL_\xE2\x80\x93_mean"));
    json_array_append_new(names, kx_json_str("\xF0\x9F\x98\x80/\x7f"));
    json_object_set_new(o, "feature_names", names);
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
