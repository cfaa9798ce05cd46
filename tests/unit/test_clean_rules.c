/* Unit tests of core/clean_rules: one test per rule of spec 01 §1, §4, §5. */
#include <stdlib.h>
#include <string.h>

#include "core/clean_rules.h"
#include "test.h"
#include "util/mem.h"

#define U "019bfef500435f7b6cb714ea03ffd687"

static int uid_rule(const char *name, char uid[33]) { return kx_clean_extract_uid(name, uid); }

TEST(clean_uid_rule_a_task_name_anywhere)
{
    char uid[33];
    CHECK_EQ_INT(uid_rule("f_" U "_0.csv", uid), 'a');
    CHECK_EQ_STR(uid, U);
    CHECK_EQ_INT(uid_rule("i_" U "_13_raw.txt", uid), 'a');
    /* anywhere: a prefix does not hide rule a */
    CHECK_EQ_INT(uid_rule("copy of t_" U "_17_metadata.json", uid), 'a');
    CHECK_EQ_STR(uid, U);
    /* upper-case hex is not hex; 31 hex chars do not match */
    CHECK_EQ_INT(uid_rule("f_019BFEF500435F7B6CB714EA03FFD687_0.csv", uid), 0);
    CHECK_EQ_INT(uid_rule("f_019bfef500435f7b6cb714ea03ffd68_0.csv", uid), 0);
    /* digits are required after the uid */
    CHECK(uid_rule("f_" U "_x.csv", uid) != 'a');
}

TEST(clean_uid_rule_b_uid_prefix)
{
    char uid[33];
    CHECK_EQ_INT(uid_rule(U "_consent.json", uid), 'b');
    CHECK_EQ_STR(uid, U);
    CHECK_EQ_INT(uid_rule(U "_demographics.json", uid), 'b');
    CHECK_EQ_INT(uid_rule(U "x_consent.json", uid), 0); /* 33 chars before '_' */
}

TEST(clean_uid_rule_c_cleaned_name)
{
    char uid[33];
    CHECK_EQ_INT(uid_rule("1_1_2_" U ".csv", uid), 'c');
    CHECK_EQ_STR(uid, U);
    CHECK_EQ_INT(uid_rule("12_3_45_" U, uid), 'c');
    CHECK_EQ_INT(uid_rule("1_1_" U ".csv", uid), 0); /* only two numbers */
}

TEST(clean_uid_rule_d_short_prefix)
{
    char uid[33];
    CHECK_EQ_INT(uid_rule("deadbeef_" U "_whatever.csv", uid), 'd');
    CHECK_EQ_STR(uid, U);
    CHECK_EQ_INT(uid_rule("deadbee_" U "_whatever.csv", uid), 0); /* 7 hex */
}

TEST(clean_uid_rule_e_timestamp_prefix)
{
    char uid[33];
    CHECK_EQ_INT(uid_rule("2025-08-16T20-23-12-658Z_ab12_" U "_f_0.csv", uid), 'e');
    CHECK_EQ_STR(uid, U);
    /* the [0-9TZ-]+ part may start anywhere */
    CHECK_EQ_INT(uid_rule("x2025Z_0_" U "_data.csv", uid), 'e');
    CHECK_EQ_STR(uid, U);
    /* the character before the first '_' must be in [0-9TZ-] */
    CHECK_EQ_INT(uid_rule("abcx_0_" U "_data.csv", uid), 0);
    CHECK_EQ_INT(uid_rule("stray_upload.bin", uid), 0);
}

TEST(clean_uid_rules_order)
{
    char uid[33];
    /* rule a wins over rule d on a name both match */
    CHECK_EQ_INT(uid_rule("deadbeef_" U "_t_" U "_2.csv", uid), 'a');
}

TEST(clean_gstmp_rule)
{
    CHECK(kx_clean_is_gstmp("i_" U "_13.csv_.gstmp"));
    CHECK(kx_clean_is_gstmp("x.gstmp.csv"));
    CHECK(!kx_clean_is_gstmp("i_" U "_13.csv"));
    CHECK(!kx_clean_is_gstmp("i_" U "_13.gstm"));
}

TEST(clean_timestamp_file_rule)
{
    CHECK(kx_clean_is_timestamp_file("2025-08-16T20-23-12-658Z_ab_" U "_x.csv"));
    CHECK(kx_clean_is_timestamp_file("deadbeef_" U "_x.csv"));
    CHECK(!kx_clean_is_timestamp_file("2025-08-16T20:23:12-658Z_ab.csv")); /* ':' is not '-' */
    CHECK(!kx_clean_is_timestamp_file("2025-08-16T20-23-12-658_ab.csv"));  /* no Z */
    CHECK(!kx_clean_is_timestamp_file("f_" U "_0.csv"));
    CHECK(!kx_clean_is_timestamp_file(U "_consent.json"));
}

TEST(clean_exact_task_names)
{
    kx_task_name t;
    CHECK(kx_clean_parse_task_name("f_" U "_9.csv", &t));
    CHECK_EQ_INT(t.kind, KX_TASK_CSV);
    CHECK_EQ_INT(t.letter, 'f');
    CHECK_EQ_INT(t.seq, 9);
    CHECK_EQ_STR(t.uid, U);
    CHECK(kx_clean_parse_task_name("i_" U "_13_raw.txt", &t));
    CHECK_EQ_INT(t.kind, KX_TASK_RAW_TXT);
    CHECK(kx_clean_parse_task_name("f_" U "_0.csv", &t));
    CHECK_EQ_INT(t.seq, 0);
    CHECK(!kx_clean_parse_task_name("f_" U "_01.csv", &t)); /* leading zero */
    CHECK(!kx_clean_parse_task_name("f_" U "_00.csv", &t));
    CHECK(!kx_clean_parse_task_name("f_" U "_1_metadata.json", &t));
    CHECK(!kx_clean_parse_task_name("x_" U "_1.csv", &t));
    CHECK(!kx_clean_parse_task_name("f_" U "_1.csv.bak", &t));
    CHECK(!kx_clean_parse_task_name("af_" U "_1.csv", &t));
    CHECK(kx_clean_parse_task_name("t_" U "_99999999999999999999.csv", &t));
    CHECK(t.seq > 17);
}

TEST(clean_consistency_rule)
{
    kx_task_name t;
    CHECK(kx_clean_parse_task_name("f_" U "_1.csv", &t));
    CHECK(!kx_clean_task_consistent(&t)); /* seq 1 is instagram */
    CHECK(kx_clean_parse_task_name("t_" U "_20.csv", &t));
    CHECK(!kx_clean_task_consistent(&t)); /* 20 mod 3 = 2 -> t, but seq > 17 */
    CHECK(kx_clean_parse_task_name("t_" U "_17.csv", &t));
    CHECK(kx_clean_task_consistent(&t));
    CHECK(kx_clean_parse_task_name("i_" U "_13_raw.txt", &t));
    CHECK(kx_clean_task_consistent(&t));
}

TEST(clean_seq_mapping_and_names)
{
    int p, v, s;
    kx_clean_seq_ids(0, &p, &v, &s);
    CHECK(p == 1 && v == 1 && s == 1);
    kx_clean_seq_ids(5, &p, &v, &s);
    CHECK(p == 3 && v == 2 && s == 1);
    kx_clean_seq_ids(16, &p, &v, &s);
    CHECK(p == 2 && v == 3 && s == 2);
    kx_task_name t;
    char out[64];
    kx_clean_parse_task_name("f_" U "_9.csv", &t);
    kx_clean_target_name(&t, out);
    CHECK_EQ_STR(out, "1_1_2_" U ".csv");
    kx_clean_parse_task_name("i_" U "_13.csv", &t);
    kx_clean_target_name(&t, out);
    CHECK_EQ_STR(out, "2_2_2_" U ".csv");
    kx_clean_parse_task_name("t_" U "_17.csv", &t);
    kx_clean_target_name(&t, out);
    CHECK_EQ_STR(out, "3_3_2_" U ".csv");
    kx_clean_parse_task_name("t_" U "_17_raw.txt", &t);
    kx_clean_target_name(&t, out);
    CHECK_EQ_STR(out, "3_3_2_" U ".txt");
    kx_clean_expected_csv_name(U, 13, out);
    CHECK_EQ_STR(out, "i_" U "_13.csv");
}

TEST(clean_line_counting_examples)
{
    CHECK_EQ_INT(kx_clean_count_rows("H\nA\n", 4), 1);
    CHECK_EQ_INT(kx_clean_count_rows("H\nA", 3), 1);
    CHECK_EQ_INT(kx_clean_count_rows("", 0), -1);
    CHECK_EQ_INT(kx_clean_count_rows("H\n\n", 3), 1);
    CHECK_EQ_INT(kx_clean_count_rows("H\r\nA\r\n", 6), 1);  /* CRLF counts once */
    CHECK_EQ_INT(kx_clean_count_rows("H\rA\r", 4), 1);      /* lone CR counts */
    CHECK_EQ_INT(kx_clean_count_rows("H\r\rA", 5), 2);      /* two lone CRs + unterminated */
    CHECK_EQ_INT(kx_clean_count_rows("H\n\rA\n", 5), 2);    /* LF then CR: two terminators */
    /* CRLF split across chunks is still one terminator */
    kx_linecount lc;
    kx_linecount_init(&lc);
    kx_linecount_feed(&lc, "H\r", 2);
    kx_linecount_feed(&lc, "\nA", 2);
    CHECK_EQ_INT(kx_linecount_lines(&lc), 2);
}

TEST(clean_is_mobile_truthiness)
{
    const char *truthy[] = {"true", "1", "-2", "0.5", "\"false\"", "\"0\"", "[0]", "{\"a\":0}"};
    const char *falsy[] = {"false", "0", "0.0", "\"\"", "[]", "{}", "null"};
    for (size_t i = 0; i < sizeof truthy / sizeof *truthy; i++) {
        json_t *v = json_loads(truthy[i], JSON_DECODE_ANY, NULL);
        CHECK(v != NULL);
        bool t = kx_json_truthy(v);
        json_decref(v);
        CHECK(t);
    }
    for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++) {
        json_t *v = json_loads(falsy[i], JSON_DECODE_ANY, NULL);
        CHECK(v != NULL);
        bool t = kx_json_truthy(v);
        json_decref(v);
        CHECK(!t);
    }
    CHECK(!kx_json_truthy(NULL));
}

static char *row_of(const char *demo, const char *consent, bool complete, bool ts, bool pii)
{
    json_t *d = demo ? json_loads(demo, 0, NULL) : NULL, *c = consent ? json_loads(consent, 0, NULL) : NULL;
    kx_buf b = KX_BUF_INIT;
    kx_clean_metadata_row(&b, U, complete, d, c, ts, pii);
    json_decref(d);
    json_decref(c);
    return kx_buf_steal(&b);
}

TEST(clean_metadata_default_row)
{
    char *r = row_of(NULL, NULL, false, false, false);
    CHECK_EQ_STR(r, U ",broken,,,,,False,,False,unknown,,0,0,0,0,False,,,,,,,False\n");
    free(r);
    r = row_of(NULL, NULL, false, true, true); /* with PII: one more empty email cell */
    CHECK_EQ_STR(r, U ",broken,,,,,,False,,False,unknown,,0,0,0,0,False,,,,,,,True\n");
    free(r);
    kx_buf h = KX_BUF_INIT;
    kx_clean_metadata_header(&h, false);
    CHECK(strncmp(h.data, "user_id,status,gender,age,", 26) == 0);
    kx_buf_free(&h);
    kx_clean_metadata_header(&h, true);
    CHECK(strncmp(h.data, "user_id,status,email,gender,", 28) == 0);
    kx_buf_free(&h);
}

TEST(clean_metadata_value_rules)
{
    const char *demo = "{\"email\":\"a@b.org\",\"gender\":null,\"age_range\":\"25_34\",\"handedness\":[1,\"x\"],"
                       "\"education\":{\"k\":1},\"consent_email_for_future\":true,\"submission_timestamp\":12.5,"
                       "\"device_info\":{\"isMobile\":true,\"userAgent\":\"A, \\\"B\\\"\",\"screenWidth\":1280,"
                       "\"screenHeight\":800.0,\"windowWidth\":1e20,\"touchCapable\":false,\"deviceType\":\"tablet\"}}";
    const char *consent = "{\"consented\":\"Yes\",\"timestamp\":\"T\",\"userAgent\":\"UA\",\"url\":\"http://x/?a=1\"}";
    char *r = row_of(demo, consent, true, false, true);
    CHECK_EQ_STR(r, U ",complete,a@b.org,,25_34,\"[1,\"\"x\"\"]\",\"{\"\"k\"\":1}\",True,12.5,True,tablet,"
                      "\"A, \"\"B\"\"\",1280,800.0,1e+20,0,False,,,Yes,T,UA,http://x/?a=1,False\n");
    free(r);
    /* is_mobile / device_type at top level win over device_info; "false" string is verbatim */
    r = row_of("{\"is_mobile\":\"false\",\"device_type\":\"desktop\",\"device_info\":{\"isMobile\":true}}", NULL,
               false, false, false);
    CHECK_EQ_STR(r, U ",broken,,,,,False,,false,desktop,,0,0,0,0,False,,,,,,,False\n");
    free(r);
}

TEST(clean_reason_min_rows_text)
{
    const char *names[] = {"f_" U "_0.csv", "t_" U "_5.csv"};
    int64_t rows[] = {1, 289};
    kx_buf b = KX_BUF_INIT;
    kx_clean_reason_min_rows(&b, 290, names, rows, 2);
    CHECK_EQ_STR(b.data, "CSV files with insufficient data (< 290 rows): f_" U "_0.csv (1 rows), t_" U "_5.csv (289 rows)");
    kx_buf_reset(&b);
    kx_clean_reason_min_rows(&b, 10, names + 1, rows + 1, 1);
    CHECK_EQ_STR(b.data, "CSV files with insufficient data (< 10 rows): t_" U "_5.csv (289 rows)");
    kx_buf_free(&b);
}

TEST(clean_reason_incomplete_text)
{
    bool present[18] = {false};
    present[0] = present[3] = present[6] = present[9] = present[12] = present[15] = true; /* facebook 6/6 */
    present[1] = present[4] = present[7] = present[10] = true;                            /* instagram 4/6 */
    kx_buf b = KX_BUF_INIT;
    kx_clean_reason_incomplete(&b, present);
    CHECK_EQ_STR(b.data, "Incomplete platform data (need all 18 files): facebook 6/6 [0, 3, 6, 9, 12, 15]; "
                         "instagram 4/6 [1, 4, 7, 10]; twitter 0/6 []");
    kx_buf_free(&b);
}

TEST(clean_reason_partial_and_timestamp_text)
{
    const char *names[] = {"a.gstmp", "b_.gstmp", "c.gstmp", "d.gstmp"};
    kx_buf b = KX_BUF_INIT;
    kx_clean_reason_partial(&b, names, 4);
    CHECK_EQ_STR(b.data, "Partial downloads present: a.gstmp, b_.gstmp, c.gstmp");
    kx_buf_free(&b);
    CHECK_EQ_STR(KX_REASON_TIMESTAMP, "User has timestamp-prefixed files (broken data from web app error)");
}

TEST(clean_user_checksum_definition)
{
    /* Two files "a" (content "xy") and "b" (empty): the hashed bytes are
     * "a\0" "2\0" "xy" "b\0" "0\0". */
    static const char framed[] = {'a', 0, '2', 0, 'x', 'y', 'b', 0, '0', 0};
    char want[65], got[65];
    kx_sha256 *s = kx_sha256_new();
    kx_sha256_update(s, framed, sizeof framed);
    kx_sha256_final(s, want);
    kx_user_hash *h = kx_user_hash_new();
    kx_user_hash_file_begin(h, "a", 2);
    kx_user_hash_content(h, "x", 1);
    kx_user_hash_content(h, "y", 1);
    kx_user_hash_file_begin(h, "b", 0);
    kx_user_hash_final(h, got);
    CHECK_EQ_STR(got, want);
    /* known vector: SHA-256("abc") */
    s = kx_sha256_new();
    kx_sha256_update(s, "abc", 3);
    kx_sha256_final(s, got);
    CHECK_EQ_STR(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* The byte-at-a-time rule of 01 §5.3, as the reference for the word-at-a-time counter. */
static int64_t lines_reference(const unsigned char *p, size_t n)
{
    int64_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\r' || (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))) t++;
    if (n && p[n - 1] != '\n' && p[n - 1] != '\r') t++;
    return t;
}

TEST(clean_linecount_word_loop_matches_byte_rule)
{
    /* Pseudo-random text over {a, LF, CR, 0x0a+0x80, 0x8a} (bytes that differ from LF only
     * in the top bit or in one low bit must not count), fed in chunks of every size 1..23. */
    static const unsigned char alphabet[] = {'a', '\n', '\n', '\r', 0x8a, 0x0b, 0x09, 'x'};
    unsigned char data[997];
    uint32_t x = 12345;
    for (int with_cr = 0; with_cr < 2; with_cr++) {
        for (size_t i = 0; i < sizeof data; i++) {
            x = x * 1103515245u + 12345u;
            unsigned char c = alphabet[(x >> 16) % sizeof alphabet];
            data[i] = !with_cr && c == '\r' ? 'y' : c;
        }
        for (size_t len = 0; len <= sizeof data; len += 97) {
            for (size_t chunk = 1; chunk < 24; chunk++) {
                kx_linecount lc;
                kx_linecount_init(&lc);
                for (size_t off = 0; off < len; off += chunk)
                    kx_linecount_feed(&lc, data + off, len - off < chunk ? len - off : chunk);
                CHECK_EQ_INT(kx_linecount_lines(&lc), lines_reference(data, len));
            }
        }
    }
}

TEST(clean_linecount_crlf_split_across_lf_only_chunk)
{
    kx_linecount lc;
    kx_linecount_init(&lc);
    kx_linecount_feed(&lc, "a,b\r", 4);         /* CR: one terminator */
    kx_linecount_feed(&lc, "\n1,2\n3,4\n", 9);  /* LF-only chunk: its first LF ends the CRLF */
    CHECK_EQ_INT(kx_linecount_lines(&lc), 3);
    CHECK_EQ_INT(kx_clean_count_rows("h\n1\n2", 5), 2); /* no final terminator: +1 line */
}
