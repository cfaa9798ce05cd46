/* eda analyses (spec 05 §7.1) on a small hand-computed fixture. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/eda.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/eda_inputs.h"
#include "pipeline/eda_report.h"
#include "test.h"
#include "util/mem.h"

#define UA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define UB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void row(kx_user_keypairs *u, const char *k1, const char *k2, double hl, double il, double pl, double rl,
                int valid, int outlier)
{
    kx_keypair *r = kx_user_keypairs_push(u);
    memset(r, 0, sizeof *r);
    r->platform_id = 1, r->video_id = 2, r->session_id = 1;
    r->sequence_id = (int32_t)(u->n - 1);
    r->key1 = k1 ? kx_keytab_intern(&u->keys, k1, strlen(k1)) : KX_KEY_MISSING;
    r->key2 = k2 ? kx_keytab_intern(&u->keys, k2, strlen(k2)) : KX_KEY_MISSING;
    r->hl = hl, r->il = il, r->pl = pl, r->rl = rl;
    r->valid = (uint8_t)valid, r->outlier = (uint8_t)outlier;
    r->error = valid ? KX_KPE_NONE : KX_KPE_K2_RELEASE;
}

/* Fixture described in docs/eda.md (tests section): 8 rows, 7 valid, 2 users. */
static kx_eda *fixture(void)
{
    kx_eda *e = kx_eda_new();
    kx_user_keypairs a, b;
    kx_user_keypairs_init(&a);
    snprintf(a.user_id, sizeof a.user_id, "%s", UA);
    a.device_type = kx_strdup("desktop");
    row(&a, "Key.shift", "a", 100, -50, 50, 20, 1, 0);
    row(&a, "a", "b", 200, -10, 190, -5, 1, 0);
    row(&a, "b", "c", 300, 20, 320, -30, 1, 0);
    row(&a, "c", "d", 6000, 0, 6000, 5990, 1, 1);
    row(&a, "d", "e", NAN, NAN, NAN, NAN, 0, 0);
    row(&a, "a", "b", 500, -10, 490, 10, 1, 0);
    kx_eda_add_user(e, &a);
    kx_user_keypairs_free(&a);
    kx_user_keypairs_init(&b);
    snprintf(b.user_id, sizeof b.user_id, "%s", UB);
    b.device_type = kx_strdup("desktop");
    row(&b, NULL, "x", 7000, -1, 6999, 5, 1, 0);
    row(&b, "x", "y", 6000, 10, 6010, 20, 1, 0);
    kx_eda_add_user(e, &b);
    kx_user_keypairs_free(&b);
    return e;
}

static const kx_eda_meta meta = {"V1", "2025-01-01 00:00:00", "art/V1/keypairs/keypairs.parquet",
                                 "art/V1/cleaned_data/desktop/metadata/metadata.csv", "art/V1/cleaned_data",
                                 "art/V1/eda_reports/data_quality/analysis_results.json"};

static const json_t *at(const json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && o; tok = strtok(NULL, "."))
        o = (tok[0] >= '0' && tok[0] <= '9') ? json_array_get(o, (size_t)atoi(tok)) : json_object_get(o, tok);
    return o;
}
static double num(const json_t *d, const char *p) { return json_number_value(at(d, p)); }
static const char *str(const json_t *d, const char *p) { return json_string_value(at(d, p)); }

TEST(eda_quantile_and_round)
{
    double x[5] = {100, 200, 300, 400, 500};
    CHECK_EQ_DBL(kx_eda_quantile(x, 5, 0.01), 104.0);
    CHECK_EQ_DBL(kx_eda_quantile(x, 5, 0.99), 496.0);
    CHECK_EQ_DBL(kx_eda_quantile(x, 5, 0.25), 200.0);
    CHECK_EQ_DBL(kx_eda_round1(0.25), 0.2);  /* exact binary half: even */
    CHECK_EQ_DBL(kx_eda_round1(0.35), 0.3);  /* 0.34999999999999997 */
    CHECK_EQ_DBL(kx_eda_round1(0.45), 0.5);  /* 0.45000000000000001 */
    CHECK_EQ_DBL(kx_eda_round1(100.0 / 3), 33.3);
    CHECK(kx_eda_is_modifier("Key.shift_r", 11));
    CHECK(!kx_eda_is_modifier("Key.space", 9));
    CHECK_EQ_INT(kx_eda_modifier_count, 21);
}

TEST(eda_summary_timing_and_key_order)
{
    kx_eda *e = fixture();
    json_t *d = kx_eda_results(e, &meta);
    static const char *const keys[] = {"version_id", "timestamp", "summary", "timing_stats", "negative_analysis",
                                       "extreme_hl_analysis", "user_stats", "quality_issues", "recommendations",
                                       "data_paths"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) CHECK_EQ_STR(k, keys[i++]);
    CHECK_EQ_INT(i, 10);
    CHECK_EQ_INT(num(d, "summary.total_keypairs"), 8);
    CHECK_EQ_INT(num(d, "summary.valid_keypairs"), 7);
    CHECK_EQ_INT(num(d, "summary.invalid_keypairs"), 1);
    CHECK_EQ_DBL(num(d, "summary.validity_rate"), 87.5);
    CHECK_EQ_INT(num(d, "summary.unique_users"), 2);
    CHECK_EQ_STR(str(d, "summary.device_types.0"), "desktop");
    /* HL sorted: 100 200 300 500 6000 6000 7000 */
    CHECK_EQ_INT(num(d, "timing_stats.HL.count"), 7);
    CHECK_NEAR(num(d, "timing_stats.HL.mean"), 20100.0 / 7, 1e-12);
    CHECK_EQ_DBL(num(d, "timing_stats.HL.median"), 500.0);
    CHECK_EQ_DBL(num(d, "timing_stats.HL.q25"), 250.0);
    CHECK_EQ_DBL(num(d, "timing_stats.HL.q75"), 6000.0);
    CHECK_NEAR(num(d, "timing_stats.HL.outlier_threshold_low"), 106.0, 1e-12);
    CHECK_NEAR(num(d, "timing_stats.HL.outlier_threshold_high"), 6940.0, 1e-12);
    CHECK_EQ_DBL(num(d, "timing_stats.HL.min"), 100.0);
    CHECK_EQ_DBL(num(d, "timing_stats.HL.max"), 7000.0);
    /* IL sorted: -50 -10 -10 -1 0 10 20 */
    CHECK_EQ_INT(num(d, "timing_stats.IL.negative_count"), 4);
    CHECK_EQ_INT(num(d, "timing_stats.IL.zero_count"), 1);
    CHECK_EQ_DBL(num(d, "timing_stats.IL.median"), -1.0);
    CHECK_EQ_DBL(num(d, "timing_stats.IL.q75"), 5.0);
    CHECK_NEAR(num(d, "timing_stats.IL.outlier_threshold_low"), -47.6, 1e-12);
    CHECK_NEAR(num(d, "timing_stats.IL.outlier_threshold_high"), 19.4, 1e-12);
    CHECK_NEAR(num(d, "timing_stats.IL.mean"), -41.0 / 7, 1e-12);
    CHECK_EQ_INT(num(d, "timing_stats.RL.negative_count"), 2);
    CHECK_EQ_INT(num(d, "timing_stats.PL.negative_count"), 0);
    CHECK(json_is_null(at(d, "quality_issues")));
    CHECK_EQ_STR(str(d, "data_paths.keypairs"), "art/V1/keypairs/keypairs.parquet");
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_std_single_value_is_null)
{
    kx_eda *e = kx_eda_new();
    kx_user_keypairs a;
    kx_user_keypairs_init(&a);
    snprintf(a.user_id, sizeof a.user_id, "%s", UA);
    a.device_type = kx_strdup("mobile");
    row(&a, "a", "b", 100, NAN, NAN, NAN, 1, 0);
    kx_eda_add_user(e, &a);
    kx_user_keypairs_free(&a);
    json_t *d = kx_eda_results(e, &meta);
    CHECK_EQ_INT(num(d, "timing_stats.HL.count"), 1);
    CHECK(json_is_null(at(d, "timing_stats.HL.std")));
    CHECK_EQ_INT(json_object_size(at(d, "timing_stats.IL")), 1);
    CHECK_EQ_INT(num(d, "timing_stats.IL.count"), 0);
    CHECK_EQ_STR(str(d, "recommendations.0"),
                 "**Overall Assessment:** Data quality appears good. No major issues detected.");
    CHECK(at(d, "extreme_hl_analysis.key_distribution") == NULL);
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_negative_analysis)
{
    kx_eda *e = fixture();
    kx_eda_set_consent(e, UA, "2025-08-01T07:49:13.940Z");
    json_t *d = kx_eda_results(e, &meta);
    CHECK_EQ_INT(num(d, "negative_analysis.summary.total_users"), 2);
    CHECK_EQ_INT(num(d, "negative_analysis.summary.users_with_negative_il"), 2);
    CHECK_EQ_INT(num(d, "negative_analysis.summary.users_with_negative_rl"), 1);
    CHECK_EQ_STR(str(d, "negative_analysis.summary.modifier_keys.0"), "Key.alt");
    CHECK_EQ_STR(str(d, "negative_analysis.summary.modifier_keys.20"), "Key.win_r");
    CHECK_EQ_INT(num(d, "negative_analysis.negative_IL.total_count"), 4);
    CHECK_EQ_INT(num(d, "negative_analysis.negative_IL.expected_count"), 1);
    CHECK_EQ_INT(num(d, "negative_analysis.negative_IL.unexpected_count"), 3);
    CHECK_EQ_INT(json_array_size(at(d, "negative_analysis.negative_IL.top_patterns")), 2); /* missing key: no pattern */
    CHECK_EQ_STR(str(d, "negative_analysis.negative_IL.top_patterns.0.pattern"), "a \xe2\x86\x92 b");
    CHECK_EQ_INT(num(d, "negative_analysis.negative_IL.top_patterns.0.count"), 2);
    CHECK_EQ_STR(str(d, "negative_analysis.negative_IL.top_patterns.0.type"), "unexpected");
    CHECK_EQ_STR(str(d, "negative_analysis.negative_IL.top_patterns.1.pattern"), "Key.shift \xe2\x86\x92 a");
    CHECK_EQ_STR(str(d, "negative_analysis.negative_IL.top_patterns.1.type"), "expected");
    CHECK_EQ_INT(num(d, "negative_analysis.negative_RL.total_count"), 2);
    CHECK_EQ_INT(num(d, "negative_analysis.negative_RL.with_negative_IL"), 1);
    CHECK_EQ_INT(num(d, "negative_analysis.negative_RL.standalone"), 1);
    CHECK_EQ_STR(str(d, "negative_analysis.negative_RL.top_patterns.0.pattern"), "a \xe2\x86\x92 b");
    CHECK_EQ_STR(str(d, "negative_analysis.negative_RL.top_patterns.1.pattern"), "b \xe2\x86\x92 c");
    CHECK(at(d, "negative_analysis.negative_RL.top_patterns.0.type") == NULL);
    const json_t *u0 = at(d, "negative_analysis.user_summary.0"), *u1 = at(d, "negative_analysis.user_summary.1");
    static const char *const ukeys[] = {"user_id", "total_keypairs", "negative_il_total", "negative_il_expected",
                                        "negative_il_unexpected", "negative_il_percent", "negative_rl_total",
                                        "negative_rl_percent", "top_il_patterns", "timestamp"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)u0, k, v) CHECK_EQ_STR(k, ukeys[i++]);
    CHECK_EQ_STR(str(u0, "user_id"), UA);
    CHECK_EQ_INT(num(u0, "total_keypairs"), 5);
    CHECK_EQ_INT(num(u0, "negative_il_total"), 3);
    CHECK_EQ_INT(num(u0, "negative_il_expected"), 1);
    CHECK_EQ_INT(num(u0, "negative_il_unexpected"), 2);
    CHECK_EQ_DBL(num(u0, "negative_il_percent"), 60.0);
    CHECK_EQ_INT(num(u0, "negative_rl_total"), 2);
    CHECK_EQ_DBL(num(u0, "negative_rl_percent"), 40.0);
    CHECK_EQ_STR(str(u0, "top_il_patterns"), "a\xe2\x86\x92" "b, Key.shift\xe2\x86\x92" "a");
    CHECK_EQ_STR(str(u0, "timestamp"), "2025-08-01T07:49:13.940Z");
    CHECK_EQ_STR(str(u1, "user_id"), UB);
    CHECK_EQ_DBL(num(u1, "negative_il_percent"), 50.0);
    CHECK_EQ_STR(str(u1, "top_il_patterns"), "");
    CHECK_EQ_STR(str(u1, "timestamp"), "");
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_extreme_hl_ordering_and_ties)
{
    kx_eda *e = fixture();
    json_t *d = kx_eda_results(e, &meta);
    const json_t *x = at(d, "extreme_hl_analysis");
    CHECK_EQ_INT(num(x, "threshold_ms"), 5000);
    CHECK_EQ_INT(num(x, "total_extreme_count"), 3);
    CHECK_NEAR(num(x, "percentage_of_valid"), 300.0 / 7, 1e-12);
    CHECK_EQ_STR(str(x, "extreme_cases.0.user_id"), UB);
    CHECK(json_is_null(at(x, "extreme_cases.0.key")));
    CHECK_EQ_DBL(num(x, "extreme_cases.0.hl_seconds"), 7.0);
    /* tie at 6000: table order (user A's c->d before user B's x->y) */
    CHECK_EQ_STR(str(x, "extreme_cases.1.key"), "c");
    CHECK_EQ_STR(str(x, "extreme_cases.1.next_key"), "d");
    CHECK_EQ_STR(str(x, "extreme_cases.1.device_type"), "desktop");
    CHECK_EQ_INT(num(x, "extreme_cases.1.session_id"), 1);
    CHECK_EQ_INT(num(x, "extreme_cases.1.video_id"), 2);
    CHECK_EQ_STR(str(x, "extreme_cases.2.key"), "x");
    const char *expect_keys[] = {"", "c", "x"};
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)at(x, "key_distribution"), k, v) CHECK_EQ_STR(k, expect_keys[i++]);
    CHECK_NEAR(num(x, "extreme_stats.mean_ms"), 19000.0 / 3, 1e-12);
    CHECK_EQ_DBL(num(x, "extreme_stats.median_ms"), 6000.0);
    CHECK_EQ_DBL(num(x, "extreme_stats.max_seconds"), 7.0);
    CHECK_NEAR(num(x, "extreme_stats.std_ms"), 577.3502691896258, 1e-12);
    CHECK_EQ_INT(num(x, "user_stats.users_with_extreme_hl"), 2);
    CHECK_EQ_DBL(num(x, "user_stats.percentage_users_affected"), 100.0);
    CHECK_EQ_STR(str(x, "users_most_affected.0.user_id"), UB);
    CHECK_EQ_INT(num(x, "users_most_affected.0.count"), 2);
    CHECK_EQ_STR(str(x, "users_most_affected.1.user_id"), UA);
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_user_stats_and_recommendations)
{
    kx_eda *e = fixture();
    json_t *d = kx_eda_results(e, &meta);
    const json_t *a = at(d, "user_stats." UA);
    CHECK_EQ_INT(num(a, "total_keypairs"), 6);
    CHECK_EQ_INT(num(a, "invalid_keypairs"), 1);
    CHECK_NEAR(num(a, "validity_rate"), 500.0 / 6, 1e-12);
    CHECK_EQ_INT(num(a, "outlier_count"), 1);
    CHECK_EQ_DBL(num(a, "outlier_rate"), 20.0);
    CHECK_EQ_STR(str(d, "user_stats.all_users.0.user_id"), UB);
    CHECK_EQ_STR(str(d, "user_stats.all_users.1.user_id"), UA);
    CHECK_EQ_INT(json_array_size(at(d, "recommendations")), 3);
    CHECK_EQ_STR(str(d, "recommendations.0"),
                 "**Data Quality:** Validity rate is 87.5%. Consider reviewing data collection procedures.");
    CHECK_EQ_STR(str(d, "recommendations.1"),
                 "**IL Timing:** 4 negative values detected. Check timestamp synchronization.");
    CHECK_EQ_STR(str(d, "recommendations.2"),
                 "**RL Timing:** 2 negative values detected. Check timestamp synchronization.");
    json_decref(d);
    kx_eda_free(e);
}

static void ev(kx_eda_event *v, size_t *n, const char *key, bool press, double t)
{
    v[(*n)++] = (kx_eda_event){key, key ? (uint32_t)strlen(key) : 0, press, t};
}

TEST(eda_quality_issues)
{
    kx_eda *e = fixture();
    kx_eda_event v[16];
    size_t n = 0;
    ev(v, &n, "a", true, 10);
    ev(v, &n, "Key.shift", true, 5);
    ev(v, &n, "a", true, 20);          /* double press: time replaced */
    ev(v, &n, "b", false, 25);         /* orphan release */
    ev(v, &n, "a", false, 30);
    ev(v, &n, "c", true, 40);
    ev(v, &n, NULL, true, 50);         /* missing key stays down */
    ev(v, &n, "Key.shift", true, 60);  /* ignored */
    ev(v, &n, "Key.ctrl", false, 70);  /* ignored */
    kx_eda_scan_file(e, "u1", "1_1_1_u1.csv", v, n);
    n = 0;
    ev(v, &n, "z", true, 100);
    ev(v, &n, "z", false, 90);         /* sorted first: orphan, then z stays down */
    ev(v, &n, "q", true, 5);
    ev(v, &n, "q", false, 5);          /* tie keeps file order: fine */
    ev(v, &n, "w", false, 7);          /* tie keeps file order: orphan, then down */
    ev(v, &n, "w", true, 7);
    kx_eda_scan_file(e, "u1", "1_1_2_u1.csv", v, n);
    json_t *d = kx_eda_results(e, &meta);
    const json_t *q = at(d, "quality_issues");
    CHECK_EQ_INT(num(q, "total_issues"), 4);
    const char *types[] = {"double_press", "orphan_release"};
    const int counts[] = {1, 3};
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)at(q, "issue_counts"), k, val) {
        CHECK_EQ_STR(k, types[i]);
        CHECK_EQ_INT(json_integer_value(val), counts[i]);
        i++;
    }
    CHECK_EQ_INT(i, 2);
    const json_t *f1 = json_object_get(at(q, "unreleased_keys"), "u1_1_1_1_u1.csv");
    CHECK(f1 != NULL);
    const char *k1[] = {"c", ""};
    const double t1[] = {40, 50};
    i = 0;
    json_object_foreach((json_t *)f1, k, val) {
        CHECK_EQ_STR(k, k1[i]);
        CHECK_EQ_DBL(json_number_value(val), t1[i]);
        i++;
    }
    CHECK_EQ_INT(i, 2);
    const json_t *f2 = json_object_get(at(q, "unreleased_keys"), "u1_1_1_2_u1.csv");
    void *it = json_object_iter((json_t *)f2);
    CHECK_EQ_STR(json_object_iter_key(it), "w");
    CHECK_EQ_STR(json_object_iter_key(json_object_iter_next((json_t *)f2, it)), "z");
    CHECK_EQ_INT(json_array_size(at(d, "recommendations")), 5);
    CHECK_EQ_STR(str(d, "recommendations.1"),
                 "**High Error Rate:** 4 quality issues detected. Investigate data collection synchronization.");
    CHECK_EQ_STR(str(d, "recommendations.2"),
                 "**Unreleased Keys:** Multiple sessions have unreleased keys. May indicate incomplete data capture.");
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_parse_events_adapter)
{
    const char data[] = "\xef\xbb\xbfPress or Release,Key,Time\r\nP,A,100\r\nP,\",123\nR,a,b, 200 \nX,y,1\np,k,1\n"
                        "P,k\n\nP,k,1e\nP,k,inf\nP,,300\r";
    kx_eda_event *v;
    size_t n = kx_eda_parse_events(data, sizeof data - 1, &v);
    CHECK_EQ_INT(n, 4);
    CHECK(v[0].press && v[0].key_len == 1 && v[0].key[0] == 'a' && v[0].time == 100);
    CHECK(v[1].key_len == 1 && v[1].key[0] == '"' && v[1].time == 123);
    CHECK(!v[2].press && v[2].key_len == 3 && !memcmp(v[2].key, "a,b", 3) && v[2].time == 200);
    CHECK(v[3].key == NULL && v[3].key_len == 0 && v[3].time == 300);
    free(v);
}

static void write_file(const char *path, const char *text)
{
    kx_write_file_atomic(path, text, strlen(text), NULL);
}

TEST(eda_raw_file_discovery_and_consent)
{
    const char *t = kx_test_tmpdir();
    char p[512];
    const char *uid1 = "11111111111111111111111111111111", *uid2 = "22222222222222222222222222222222";
    snprintf(p, sizeof p, "%s/desktop/raw_data/batch_0/%s", t, uid2);
    kx_mkdirs(p, NULL);
    snprintf(p, sizeof p, "%s/desktop/raw_data/%s", t, uid1);
    kx_mkdirs(p, NULL);
    snprintf(p, sizeof p, "%s/desktop/raw_data/batch_0/%s/1_1_1_%s.csv", t, uid2, uid2);
    write_file(p, "Press or Release,Key,Time\nP,x,5\n");
    snprintf(p, sizeof p, "%s/desktop/raw_data/%s/2_1_1_%s.csv", t, uid1, uid1);
    write_file(p, "Press or Release,Key,Time\nP,y,7\n");
    snprintf(p, sizeof p, "%s/desktop/raw_data/%s/1_1_1_%s.csv", t, uid1, uid1);
    write_file(p, "Press or Release,Key,Time\nP,z,9\nR,z,10\n");
    snprintf(p, sizeof p, "%s/desktop/raw_data/%s/1_1_1_%s.txt", t, uid1, uid1); /* not a keystroke file */
    write_file(p, "P,q,1\n");
    snprintf(p, sizeof p, "%s/desktop/metadata", t);
    kx_mkdirs(p, NULL);
    snprintf(p, sizeof p, "%s/desktop/metadata/metadata.csv", t);
    write_file(p, "user_id,user_agent,consent_timestamp\r\n11111111111111111111111111111111,\"Mozilla, \"\"x\"\"\","
                  "2025-08-01T07:49:13.940Z\r\n");
    char *devs[] = {"desktop", "mobile"};
    kx_eda *e = kx_eda_new();
    CHECK_EQ_INT(kx_eda_scan_raw_files(e, t, devs, 2, 2, NULL), 3);
    kx_err err;
    CHECK_EQ_INT(kx_eda_load_consent(e, t, devs, 2, NULL, &err), 0);
    json_t *d = kx_eda_results(e, &meta);
    const json_t *un = at(d, "quality_issues.unreleased_keys");
    void *it = json_object_iter((json_t *)un);
    char l1[128], l2[128];
    snprintf(l1, sizeof l1, "%s_2_1_1_%s.csv", uid1, uid1);
    snprintf(l2, sizeof l2, "%s_1_1_1_%s.csv", uid2, uid2);
    CHECK_EQ_STR(json_object_iter_key(it), l1);
    CHECK_EQ_STR(json_object_iter_key(json_object_iter_next((json_t *)un, it)), l2);
    CHECK_EQ_INT(json_object_size(un), 2);
    json_decref(d);
    kx_eda_free(e);
}

static kx_eda *fixture_with_quality(void)
{
    kx_eda *e = fixture();
    kx_eda_event v[2] = {{"<k&>", 4, true, 1.0}};
    kx_eda_scan_file(e, UA, "1_1_1_" UA ".csv", v, 1);
    kx_eda_set_consent(e, UA, "2025-08-01T07:49:13.940Z");
    return e;
}

TEST(eda_report_sections_and_pii)
{
    kx_eda *e = fixture_with_quality();
    json_t *d = kx_eda_results(e, &meta);
    kx_buf h = KX_BUF_INIT;
    kx_eda_report_opts o = {"2025-01-01 00:00:00", false, 0};
    kx_eda_report_html(&h, d, e, &o);
    const char *titles[] = {"Feature Definitions", "Executive Summary", "Data Quality Issues",
                            "Timing Feature Analysis", "User Performance", "Visualizations", "Extreme Hold Latency",
                            "Negative Value Analysis", "Typing Pattern Analysis", "Data Quality Assessment",
                            "Recommendations", "Reproducing This Analysis"};
    for (int i = 0; i < 12; i++) {
        char needle[96];
        snprintf(needle, sizeof needle, "<h2>%d. %s</h2>", i + 1, titles[i]);
        CHECK(strstr(h.data, needle) != NULL);
    }
    CHECK(strstr(h.data, "<title>Keystroke Data Analysis Report</title>"));
    CHECK(strstr(h.data, "Acien"));
    CHECK(strstr(h.data, "<strong>Data Quality:</strong> Validity rate is 87.5%"));
    CHECK(strstr(h.data, "&lt;k&amp;&gt;"));   /* key from a raw file, escaped */
    CHECK(!strstr(h.data, "<k&>"));
    CHECK(strstr(h.data, "<span class=\"grade Good\">Good</span>"));
    CHECK(!strstr(h.data, "2025-08-01T07:49:13.940Z")); /* PII only with INCLUDE_PII */
    CHECK(!strstr(h.data, "http://") && !strstr(h.data, "https://") && !strstr(h.data, "src="));
    CHECK(!strstr(h.data, "<script"));
    kx_buf_reset(&h);
    o.include_pii = true;
    kx_eda_report_html(&h, d, e, &o);
    CHECK(strstr(h.data, "2025-08-01T07:49:13.940Z"));
    CHECK(strstr(h.data, "<th>Consent timestamp</th>"));
    kx_buf_free(&h);
    json_decref(d);
    kx_eda_free(e);
}

TEST(eda_report_optional_sections_absent)
{
    kx_eda *e = kx_eda_new();
    kx_user_keypairs a;
    kx_user_keypairs_init(&a);
    snprintf(a.user_id, sizeof a.user_id, "%s", UA);
    a.device_type = kx_strdup("desktop");
    row(&a, "a", "b", 100, 10, 110, 20, 1, 0);
    row(&a, "b", "c", 120, 15, 135, 25, 1, 0);
    kx_eda_add_user(e, &a);
    kx_user_keypairs_free(&a);
    json_t *d = kx_eda_results(e, &meta);
    kx_buf h = KX_BUF_INIT;
    kx_eda_report_opts o = {"now", false, 0};
    kx_eda_report_html(&h, d, e, &o);
    CHECK(!strstr(h.data, "Data Quality Issues</h2>"));
    CHECK(!strstr(h.data, "Extreme Hold Latency</h2>"));
    CHECK(strstr(h.data, "Excellent"));
    kx_buf_free(&h);
    json_decref(d);
    kx_eda_free(e);
}

/* 10,000 users: the report stays small (tables capped, charts summarised). */
TEST(eda_report_size_many_users)
{
    kx_eda *e = kx_eda_new();
    for (int u = 0; u < 10000; u++) {
        kx_user_keypairs a;
        kx_user_keypairs_init(&a);
        snprintf(a.user_id, sizeof a.user_id, "%032d", u);
        a.device_type = kx_strdup("desktop");
        for (int i = 0; i < 5; i++) row(&a, "a", "b", 80 + (u * 7 + i) % 90, -5 + i, 100, 20, (u + i) % 13 != 0, 0);
        kx_eda_add_user(e, &a);
        kx_user_keypairs_free(&a);
    }
    json_t *d = kx_eda_results(e, &meta);
    CHECK_EQ_INT(json_array_size(at(d, "user_stats.all_users")), 10000);
    kx_buf h = KX_BUF_INIT;
    kx_eda_report_opts o = {"now", false, 0};
    kx_eda_report_html(&h, d, e, &o);
    CHECK(h.len < 3u * 1024 * 1024);
    CHECK(strstr(h.data, "rows not shown"));
    CHECK(strstr(h.data, "Top 10 and Bottom 10 Users by Validity Rate"));
    kx_buf_free(&h);
    json_decref(d);
    kx_eda_free(e);
}
