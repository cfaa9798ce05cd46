/* test_features.c — selection, aggregation and imputation (spec 03 §1–§6) on hand-built
 * users, and the stage on in-memory sources (edge cases of §2, §4, §7, §9). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/features.h"
#include "io/fs.h"
#include "pipeline/config.h"
#include "pipeline/features_run.h"
#include "test.h"
#include "test_support.h"
#include "test_features_csvsrc.h"

static void add(kx_user_keypairs *u, int p, int s, int v, const char *k1, const char *k2, double hl, double il,
                int valid, int outlier)
{
    kx_keypair *r = kx_user_keypairs_push(u);
    r->platform_id = p;
    r->session_id = s;
    r->video_id = v;
    r->key1 = k1 ? kx_keytab_intern(&u->keys, k1, strlen(k1)) : KX_KEY_MISSING;
    r->key2 = k2 ? kx_keytab_intern(&u->keys, k2, strlen(k2)) : KX_KEY_MISSING;
    r->hl = hl;
    r->il = il;
    r->valid = (uint8_t)valid;
    r->outlier = (uint8_t)outlier;
}

static void user(kx_user_keypairs *u, const char *uid)
{
    kx_user_keypairs_init(u);
    snprintf(u->user_id, sizeof u->user_id, "%s", uid);
}

static void add_n(kx_user_keypairs *u, const char *k1, const char *k2, int n)
{
    for (int i = 0; i < n; i++) add(u, 1, 1, 1, k1, k2, 100, 50, 1, 0);
}

TEST(features_digram_selection_ties)
{
    /* 03 §4 example: I = {he, th}, both 4 rows in V, tie broken bytewise. */
    kx_user_keypairs u1, u2;
    user(&u1, "u1");
    user(&u2, "u2");
    add_n(&u1, "t", "h", 3);
    add_n(&u1, "h", "e", 2);
    add_n(&u1, "Key.space", "t", 1);
    add_n(&u2, "t", "h", 1);
    add_n(&u2, "h", "e", 2);
    add_n(&u2, "i", "n", 4);
    /* invalid rows and a missing key do not count */
    add(&u2, 1, 1, 1, "x", "y", NAN, NAN, 0, 0);
    add(&u2, 1, 1, 1, NULL, "h", 100, 10, 1, 0);
    kx_fsel *fs = kx_fsel_new(false);
    kx_fsel_add_user(fs, &u1);
    kx_fsel_add_user(fs, &u2);
    kx_feat_selection sel;
    kx_fsel_finish(fs, 10, &sel);
    CHECK_EQ_INT(sel.intersection_size, 2);
    CHECK_EQ_INT(sel.n_digrams, 2);
    CHECK_EQ_STR(sel.digrams[0].bytes, "he");
    CHECK_EQ_STR(sel.digrams[1].bytes, "th");
    CHECK_EQ_INT(sel.digram_counts[0], 4);
    CHECK_EQ_INT(sel.digram_counts[1], 4);
    /* unigrams: e h i n t Key.space sorted bytewise ("K" < lower case); x, y invalid only */
    const char *want[] = {"Key.space", "e", "h", "i", "n", "t"};
    CHECK_EQ_INT(sel.n_unigrams, 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_STR(sel.unigrams[i].bytes, want[i]);
    CHECK_EQ_INT(sel.rows_v, 14);
    kx_feat_selection_free(&sel);

    /* K = 1 keeps only the first; the same digram string from two different pairs is one digram. */
    fs = kx_fsel_new(false);
    kx_fsel_add_user(fs, &u1);
    kx_fsel_add_user(fs, &u2);
    kx_fsel_finish(fs, 1, &sel);
    CHECK_EQ_INT(sel.n_digrams, 1);
    CHECK_EQ_STR(sel.digrams[0].bytes, "he");
    kx_feat_selection_free(&sel);
    kx_user_keypairs_free(&u1);
    kx_user_keypairs_free(&u2);

    kx_user_keypairs a, b;
    user(&a, "a");
    user(&b, "b");
    add_n(&a, "ab", "c", 2);
    add_n(&b, "a", "bc", 3);
    fs = kx_fsel_new(false);
    kx_fsel_add_user(fs, &a);
    kx_fsel_add_user(fs, &b);
    kx_fsel_finish(fs, 10, &sel);
    CHECK_EQ_INT(sel.intersection_size, 1);
    CHECK_EQ_STR(sel.digrams[0].bytes, "abc");
    CHECK_EQ_INT(sel.digram_counts[0], 5);
    kx_feat_selection_free(&sel);
    kx_user_keypairs_free(&a);
    kx_user_keypairs_free(&b);
}

TEST(features_row_runs_out_of_order)
{
    /* Long file runs (the run sort path): (2,1,1) x4, (1,1,1) x4, (2,1,1) x4 again, (1,1,1)
     * x4. Groups: platform 1 = rows 4..7 and 12..15, platform 2 = 0..3 and 8..11; the F
     * row order (p, s, v, position) must not depend on the runs' table order. */
    kx_user_keypairs u;
    user(&u, "u");
    for (int r = 0; r < 4; r++) {
        int p = r % 2 ? 1 : 2;
        for (int k = 0; k < 4; k++) add(&u, p, 1, 1, "a", "b", 100.0 * p + 10.0 * r + k, 5, 1, 0);
    }
    kx_fsel *fs = kx_fsel_new(false);
    kx_fsel_add_user(fs, &u);
    kx_feat_selection sel;
    kx_fsel_finish(fs, 10, &sel);
    kx_fuser f;
    kx_features_user(&sel, false, &u, &f);
    const kx_ftable *p = &f.t[KX_FL_PLATFORM];
    CHECK_EQ_INT(p->nrows, 2);
    CHECK_EQ_INT(p->platform[0], 1);
    CHECK_EQ_INT(p->platform[1], 2);
    /* platform 1: HL_a = 110..113, 130..133 -> median 121.5, q1 111.75; platform 2:
     * 200..203, 220..223 -> median 211.5 */
    CHECK_EQ_DBL(p->cols[kx_fcol_unigram(0, KX_ST_MEDIAN)][0], 121.5);
    CHECK_EQ_DBL(p->cols[kx_fcol_unigram(0, KX_ST_Q1)][0], 111.75);
    CHECK_EQ_DBL(p->cols[kx_fcol_unigram(0, KX_ST_MEDIAN)][1], 211.5);
    CHECK_EQ_INT(f.t[KX_FL_VIDEO].nrows, 2);
    kx_fuser_free(&f);
    kx_feat_selection_free(&sel);
    kx_user_keypairs_free(&u);
}

TEST(features_groups_and_outliers)
{
    /* F excludes outliers; a video whose rows are all outliers has no row; statistics
     * follow key1 only; rows sorted by ids. */
    kx_user_keypairs u;
    user(&u, "u");
    add(&u, 2, 1, 1, "a", "b", 100, 10, 1, 0);
    add(&u, 1, 1, 2, "a", "b", 200, 20, 1, 0);
    add(&u, 1, 1, 2, "b", "a", 300, 30, 1, 0);
    add(&u, 1, 1, 3, "a", "b", 999, 99, 1, 1); /* outlier-only video */
    add(&u, 1, 2, 1, "a", "b", 400, 40, 1, 0);
    kx_fsel *fs = kx_fsel_new(false);
    kx_fsel_add_user(fs, &u);
    kx_feat_selection sel;
    kx_fsel_finish(fs, 10, &sel);
    CHECK_EQ_INT(sel.n_unigrams, 2);
    CHECK_EQ_INT(sel.n_digrams, 2); /* ab (4 in V), ba (1) */
    CHECK_EQ_STR(sel.digrams[0].bytes, "ab");
    kx_fuser f;
    kx_features_user(&sel, false, &u, &f);
    CHECK_EQ_INT(f.t[KX_FL_PLATFORM].nrows, 2);
    CHECK_EQ_INT(f.t[KX_FL_SESSION].nrows, 3);
    CHECK_EQ_INT(f.t[KX_FL_VIDEO].nrows, 3); /* (1,1,2), (1,2,1), (2,1,1): no (1,1,3) */
    const kx_ftable *v = &f.t[KX_FL_VIDEO];
    CHECK_EQ_INT(v->platform[0], 1);
    CHECK_EQ_INT(v->video[0], 2);
    CHECK_EQ_INT(v->session[1], 2);
    CHECK_EQ_INT(v->platform[2], 2);
    /* platform 1: HL_a = {200, 400} (999 is an outlier), HL_b = {300}, IL_ab = {20, 40} */
    const kx_ftable *p = &f.t[KX_FL_PLATFORM];
    CHECK_EQ_DBL(p->cols[kx_fcol_unigram(0, KX_ST_MEAN)][0], 300.0);
    CHECK_EQ_DBL(p->cols[kx_fcol_unigram(1, KX_ST_STD)][0], 0.0);
    CHECK_EQ_DBL(p->cols[kx_fcol_digram(&sel, 0, KX_ST_Q3)][0], 35.0);
    /* platform 2 has no ba sample: missing until imputation */
    CHECK(isnan(p->cols[kx_fcol_digram(&sel, 1, KX_ST_MEDIAN)][1]));
    kx_fuser_free(&f);
    /* KEEP_OUTLIERS: the outlier video appears */
    kx_features_user(&sel, true, &u, &f);
    CHECK_EQ_INT(f.t[KX_FL_VIDEO].nrows, 4);
    kx_fuser_free(&f);
    kx_feat_selection_free(&sel);
    kx_user_keypairs_free(&u);
}

/* A one-column platform or session table with the given cells (NaN = missing). */
static void one_col(kx_ftable *t, kx_flevel lvl, const char *const *uids, const int *p, const int *s,
                    const double *x, size_t n)
{
    kx_ftable_init(t, lvl, 1);
    for (size_t i = 0; i < n; i++) {
        size_t r = kx_ftable_add_row(t, uids[i], p[i], s ? s[i] : 0, 0);
        t->cols[0][r] = x[i];
    }
}

TEST(features_imputation_example)
{
    /* 03 §6 example: (u1,p1)=100, (u1,p2)=missing, (u2,p1)=missing, (u3,p1)=300. */
    const char *uids[] = {"u1", "u1", "u2", "u3"};
    int p[] = {1, 2, 1, 1};
    double x[] = {100, NAN, NAN, 300};
    kx_ftable t;
    one_col(&t, KX_FL_PLATFORM, uids, p, NULL, x, 4);
    kx_impute_summary s;
    kx_ftable_impute(&t, &s);
    CHECK_EQ_DBL(t.cols[0][1], 100.0);
    CHECK_EQ_DBL(t.cols[0][2], 166.66666666666666);
    CHECK_EQ_INT(s.total, 2);
    CHECK_EQ_INT(s.by_strategy[KX_IS_USER_MEAN], 1);
    CHECK_EQ_INT(s.by_strategy[KX_IS_GLOBAL_MEAN], 1);
    CHECK_EQ_INT(s.n_strategies, 2);
    CHECK_EQ_INT(s.strategy_order[0], KX_IS_USER_MEAN);
    CHECK_EQ_INT(s.n_details, 2);
    CHECK_EQ_INT(s.details[0].row, 1);
    CHECK_EQ_INT(s.details[1].row, 2);
    CHECK_EQ_INT(s.details[1].strategy, KX_IS_GLOBAL_MEAN);
    CHECK_EQ_INT(s.n_users, 2);
    CHECK_EQ_STR(s.users[0], "u1");
    CHECK_EQ_STR(s.users[1], "u2");
    char level[80];
    kx_ftable_level_text(&t, 1, level);
    CHECK_EQ_STR(level, "p2_s_v");
    kx_impute_summary_free(&s);
    kx_ftable_free(&t);
}

TEST(features_imputation_zero_and_order)
{
    /* Session table, 2 columns: column 0 all missing -> zero for every row; column 1:
     * u2 has a value in one session, so its other session gets the user mean; u1 gets gm.
     * Records: column 0 (rows 0..2 zero), then column 1: user_mean (row 2) before the
     * global mean (row 0), although row 0 comes first. */
    kx_ftable t;
    kx_ftable_init(&t, KX_FL_SESSION, 2);
    const char *uids[] = {"u1", "u2", "u2"};
    int p[] = {1, 1, 1}, s[] = {1, 1, 2};
    double c1[] = {NAN, 10, NAN};
    for (int i = 0; i < 3; i++) {
        size_t r = kx_ftable_add_row(&t, uids[i], p[i], s[i], 0);
        t.cols[0][r] = NAN;
        t.cols[1][r] = c1[i];
    }
    kx_impute_summary sum;
    kx_ftable_impute(&t, &sum);
    for (int i = 0; i < 3; i++) CHECK_EQ_DBL(t.cols[0][i], 0.0);
    CHECK_EQ_DBL(t.cols[1][2], 10.0);
    CHECK_EQ_DBL(t.cols[1][0], 10.0); /* gm of {10, 10} */
    CHECK_EQ_INT(sum.total, 5);
    CHECK_EQ_INT(sum.strategy_order[0], KX_IS_ZERO);
    CHECK_EQ_INT(sum.strategy_order[1], KX_IS_USER_MEAN);
    CHECK_EQ_INT(sum.strategy_order[2], KX_IS_GLOBAL_MEAN);
    CHECK_EQ_INT(sum.by_feature[0], 3);
    CHECK_EQ_INT(sum.by_feature[1], 2);
    CHECK_EQ_INT(sum.details[3].row, 2);
    CHECK_EQ_INT(sum.details[3].strategy, KX_IS_USER_MEAN);
    CHECK_EQ_INT(sum.details[4].row, 0);
    CHECK_EQ_INT(sum.details[4].strategy, KX_IS_GLOBAL_MEAN);
    char level[80];
    kx_ftable_level_text(&t, 2, level);
    CHECK_EQ_STR(level, "p1_s2_v");
    CHECK_EQ_STR(kx_istrategy_reasons[KX_IS_USER_MEAN], "Missing digram in this context");
    kx_impute_summary_free(&sum);
    kx_ftable_free(&t);
}

TEST(features_table_sort)
{
    kx_ftable t;
    kx_ftable_init(&t, KX_FL_SESSION, 1);
    const char *uids[] = {"b", "a", "a", "a"};
    int p[] = {1, 2, 1, 1}, s[] = {1, 1, 10, 2};
    for (int i = 0; i < 4; i++) {
        size_t r = kx_ftable_add_row(&t, uids[i], p[i], s[i], 0);
        t.cols[0][r] = i;
    }
    kx_ftable_sort(&t);
    /* a,1,2 ; a,1,10 (numeric, not text order) ; a,2,1 ; b,1,1 */
    CHECK_EQ_DBL(t.cols[0][0], 3);
    CHECK_EQ_DBL(t.cols[0][1], 2);
    CHECK_EQ_DBL(t.cols[0][2], 1);
    CHECK_EQ_DBL(t.cols[0][3], 0);
    kx_ftable_free(&t);
}

/* ---- the stage on an in-memory source ----------------------------------------------------- */
typedef struct mem_src {
    kx_user_keypairs *users;
    size_t n, pos;
} mem_src;

static int mem_rewind(void *arg, kx_err *err)
{
    (void)err;
    ((mem_src *)arg)->pos = 0;
    return 0;
}

static int mem_next(void *arg, kx_user_keypairs *out, kx_err *err)
{
    (void)err;
    mem_src *m = arg;
    if (m->pos >= m->n) return 0;
    const kx_user_keypairs *u = &m->users[m->pos++];
    snprintf(out->user_id, sizeof out->user_id, "%s", u->user_id);
    for (size_t i = 0; i < u->n; i++) {
        const kx_keypair *r = &u->rows[i];
        const kx_key *k1 = kx_keytab_get(&u->keys, r->key1), *k2 = kx_keytab_get(&u->keys, r->key2);
        add(out, r->platform_id, r->session_id, r->video_id, k1 ? k1->bytes : NULL, k2 ? k2->bytes : NULL, r->hl,
            r->il, r->valid, r->outlier);
    }
    return 1;
}

static int run_stage(kx_user_keypairs *users, size_t n, const char *vdir, int csv_only)
{
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err;
    if (csv_only) kx_config_set(&cfg, "OUTPUT_FORMATS", "csv", "test", &err);
    mem_src m = {users, n, 0};
    kx_user_source src = {&m, mem_rewind, mem_next, "memory", NULL};
    kx_stage_ctx ctx = kx_test_stage_ctx(&cfg, vdir, NULL);
    int rc = kx_features_run(&ctx, &src);
    json_decref(ctx.stats);
    if (rc == 0) {
        kx_stage_ctx c2 = kx_test_stage_ctx(&cfg, vdir, NULL);
        rc = kx_top_il_run(&c2, kx_test_csv_ftable_load);
        json_decref(c2.stats);
    }
    kx_config_free(&cfg);
    return rc;
}

static int file_is(const char *path, const char *want)
{
    kx_buf b = KX_BUF_INIT;
    int ok = kx_read_file(path, &b, NULL) == 0 && b.len == strlen(want) && !memcmp(b.data, want, b.len);
    kx_buf_free(&b);
    return ok;
}

TEST(features_stage_no_valid_rows)
{
    /* Only invalid rows: empty tables with the ID columns, no IL columns, no crash;
     * no digram_selection.json / imputation_tracking.json. */
    kx_user_keypairs u;
    user(&u, "u1");
    add(&u, 1, 1, 1, "a", "b", NAN, NAN, 0, 0);
    const char *vdir = kx_test_tmpdir();
    CHECK_EQ_INT(run_stage(&u, 1, vdir, 1), 0);
    kx_user_keypairs_free(&u);
    char p[512];
    snprintf(p, sizeof p, "%s/statistical_features/statistical_video/features.csv", vdir);
    CHECK(file_is(p, "user_id,platform_id,session_id,video_id\n"));
    snprintf(p, sizeof p, "%s/statistical_IL_top_10_features/statistical_IL_top_10_session/features.csv", vdir);
    CHECK(file_is(p, "user_id,platform_id,session_id\n"));
    snprintf(p, sizeof p, "%s/etl_metadata/statistical_features/digram_selection.json", vdir);
    CHECK(!kx_exists(p));
    snprintf(p, sizeof p, "%s/etl_metadata/statistical_features/imputation_tracking.json", vdir);
    CHECK(!kx_exists(p));
    snprintf(p, sizeof p, "%s/etl_metadata/statistical_IL_top_10_features/selection_report.json", vdir);
    CHECK(kx_exists(p));
    /* no users at all */
    const char *v2 = kx_test_tmpdir();
    CHECK_EQ_INT(run_stage(NULL, 0, v2, 1), 0);
}

TEST(features_stage_small_tables)
{
    /* Two users; u2's only rows are outliers: u2 selects (V) but has no row. Key "q" is
     * typed only as key2, so HL_q is zero-imputed. One common digram (< K). */
    kx_user_keypairs us[2];
    user(&us[0], "u1");
    user(&us[1], "u2");
    add(&us[0], 1, 1, 1, "a", "b", 100, 10, 1, 0);
    add(&us[0], 1, 1, 2, "a", "b", 200, 30, 1, 0);
    add(&us[0], 1, 1, 2, ",", "q", 50, 5, 1, 0);
    add(&us[1], 1, 1, 1, "a", "b", 5, 10, 1, 1);
    const char *vdir = kx_test_tmpdir();
    CHECK_EQ_INT(run_stage(us, 2, vdir, 1), 0);
    kx_user_keypairs_free(&us[0]);
    kx_user_keypairs_free(&us[1]);
    char p[512];
    snprintf(p, sizeof p, "%s/statistical_features/statistical_platform/features.csv", vdir);
    /* unigrams , a b q ; digram ab. HL_, = 50; HL_a {100,200}: median 150 std 70.71..;
     * HL_b, HL_q: no sample anywhere -> 0.0; IL_ab {10,30}. */
    CHECK(file_is(p,
                  "user_id,platform_id,\"HL_,_median\",\"HL_,_mean\",\"HL_,_std\",\"HL_,_q1\",\"HL_,_q3\","
                  "HL_a_median,HL_a_mean,HL_a_std,HL_a_q1,HL_a_q3,HL_b_median,HL_b_mean,HL_b_std,HL_b_q1,HL_b_q3,"
                  "HL_q_median,HL_q_mean,HL_q_std,HL_q_q1,HL_q_q3,IL_ab_median,IL_ab_mean,IL_ab_std,IL_ab_q1,IL_ab_q3\n"
                  "u1,1,50.0,50.0,0.0,50.0,50.0,150.0,150.0,70.71067811865476,125.0,175.0,0.0,0.0,0.0,0.0,0.0,"
                  "0.0,0.0,0.0,0.0,0.0,20.0,20.0,14.142135623730951,15.0,25.0\n"));
    /* video table: video 1 has no "," sample -> user mean over u1's videos (= 50.0) */
    snprintf(p, sizeof p, "%s/statistical_IL_top_10_features/statistical_IL_top_10_video/features.csv", vdir);
    CHECK(file_is(p, "user_id,platform_id,session_id,video_id,IL_ab_median,IL_ab_mean,IL_ab_std,IL_ab_q1,IL_ab_q3\n"
                     "u1,1,1,1,10.0,10.0,0.0,10.0,10.0\n"
                     "u1,1,1,2,30.0,30.0,0.0,30.0,30.0\n"));
    snprintf(p, sizeof p, "%s/etl_metadata/statistical_features/digram_selection.json", vdir);
    CHECK(file_is(p, "{\n  \"method\": \"user_intersection_top_k\",\n  \"k\": 10,\n  \"intersection_size\": 1,\n"
                     "  \"selected_digrams\": [\n    \"ab\"\n  ],\n  \"counts\": [\n    3\n  ]\n}"));
    snprintf(p, sizeof p, "%s/etl_metadata/statistical_features/imputation_tracking.json", vdir);
    json_error_t je;
    json_t *it = json_load_file(p, 0, &je);
    CHECK(it != NULL);
    json_t *vid = json_object_get(it, "statistical_video");
    /* video 1: HL_, missing -> user_mean (5 cells); HL_b, HL_q: zero, 2 rows x 10 cells */
    CHECK_EQ_INT(json_integer_value(json_object_get(vid, "total_imputations")), 25);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(vid, "by_strategy"), "user_mean")), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(vid, "by_strategy"), "zero")), 20);
    json_t *d0 = json_array_get(json_object_get(vid, "details"), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(d0, "level")), "p1_s1_v1");
    CHECK_EQ_STR(json_string_value(json_object_get(d0, "feature")), "HL_,_median");
    CHECK_EQ_DBL(json_real_value(json_object_get(d0, "imputed_value")), 50.0);
    json_decref(it);
}

/* Feeds users to fs through the group interface: key ids made table-wide in `keys`, each
 * user's rows in runs of `run` rows (a group split over several calls). */
static void fsel_by_groups(kx_fsel *fs, kx_keytab *keys, kx_user_keypairs *const *users, size_t n, size_t run)
{
    for (size_t u = 0; u < n; u++) {
        const kx_user_keypairs *x = users[u];
        size_t m = x->n ? x->n : 1;
        int32_t *k1 = malloc(m * sizeof *k1), *k2 = malloc(m * sizeof *k2);
        uint8_t *valid = malloc(m), *outlier = malloc(m);
        for (size_t i = 0; i < x->n; i++) {
            const kx_keypair *r = &x->rows[i];
            const kx_key *a = kx_keytab_get(&x->keys, r->key1), *b = kx_keytab_get(&x->keys, r->key2);
            k1[i] = a ? kx_keytab_intern(keys, a->bytes, a->len) : KX_KEY_MISSING;
            k2[i] = b ? kx_keytab_intern(keys, b->bytes, b->len) : KX_KEY_MISSING;
            valid[i] = r->valid;
            outlier[i] = r->outlier;
        }
        for (size_t i = 0; i < x->n; i += run) {
            size_t len = x->n - i < run ? x->n - i : run;
            kx_fsel_group_rows(fs, len, k1 + i, k2 + i, valid + i, outlier + i);
        }
        kx_fsel_group_end(fs, keys);
        free(k1);
        free(k2);
        free(valid);
        free(outlier);
    }
}

/* The group interface gives the 03 §4 example's selection (same as kx_fsel_add_user above),
 * also when one pair maps to the digram string of another pair ("ab"+"c" = "a"+"bc"). */
TEST(features_selection_by_groups)
{
    kx_user_keypairs u1, u2, u3;
    user(&u1, "u1");
    user(&u2, "u2");
    add_n(&u1, "t", "h", 3);
    add_n(&u1, "h", "e", 2);
    add_n(&u1, "Key.space", "t", 1);
    add(&u1, 1, 1, 1, "ab", "c", 100, 50, 1, 1); /* outlier: in V, not in F */
    add_n(&u2, "t", "h", 1);
    add_n(&u2, "h", "e", 2);
    add_n(&u2, "i", "n", 4);
    add(&u2, 1, 1, 1, "x", "y", NAN, NAN, 0, 0);
    add(&u2, 1, 1, 1, NULL, "h", 100, 10, 1, 0);
    add_n(&u2, "a", "bc", 2);
    user(&u3, "u3"); /* no valid row: not a V user */
    add(&u3, 1, 1, 1, "q", "r", NAN, NAN, 0, 0);
    kx_user_keypairs *all[3] = {&u1, &u2, &u3};
    for (size_t run = 1; run <= 4; run += 3) {
        kx_keytab keys;
        kx_keytab_init(&keys);
        kx_fsel *fs = kx_fsel_new(false);
        fsel_by_groups(fs, &keys, all, 3, run);
        kx_feat_selection sel;
        kx_fsel_finish(fs, 10, &sel);
        CHECK_EQ_INT(sel.users_with_v, 2);
        CHECK_EQ_INT(sel.rows_v, 7 + 10);
        CHECK_EQ_INT(sel.rows_f, 6 + 10);
        CHECK_EQ_INT(sel.intersection_size, 3);
        CHECK_EQ_INT(sel.n_digrams, 3);
        CHECK_EQ_STR(sel.digrams[0].bytes, "he");
        CHECK_EQ_STR(sel.digrams[1].bytes, "th");
        CHECK_EQ_STR(sel.digrams[2].bytes, "abc");
        CHECK_EQ_INT(sel.digram_counts[0], 4);
        CHECK_EQ_INT(sel.digram_counts[1], 4);
        CHECK_EQ_INT(sel.digram_counts[2], 3);
        const char *want[] = {"Key.space", "a", "ab", "bc", "c", "e", "h", "i", "n", "t"};
        CHECK_EQ_INT(sel.n_unigrams, 10);
        for (size_t i = 0; i < 10 && i < sel.n_unigrams; i++) CHECK_EQ_STR(sel.unigrams[i].bytes, want[i]);
        kx_feat_selection_free(&sel);
        kx_keytab_free(&keys);
    }
    kx_user_keypairs_free(&u1);
    kx_user_keypairs_free(&u2);
    kx_user_keypairs_free(&u3);
}
