/* Unit tests of the clean stage on small hand-built snapshots (spec 01 §4–§5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clean_rules.h"
#include "io/fs.h"
#include "pipeline/stage.h"
#include "test.h"
#include "util/mem.h"

#define UA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define UB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void put(const char *dir, const char *name, const char *text)
{
    char *p = kx_path_join(dir, name);
    kx_write_file_atomic(p, text, strlen(text), NULL);
    free(p);
}

/* A keystroke file with `rows` data rows (LF after every line unless no_final_lf). */
static void put_csv(const char *dir, const char *name, int rows, bool no_final_lf)
{
    kx_buf b = KX_BUF_INIT;
    kx_buf_puts(&b, "Press or Release,Key,Time\n");
    for (int i = 0; i < rows; i++) kx_buf_printf(&b, "%c,a,%d\n", i % 2 ? 'R' : 'P', 1000 + i);
    if (no_final_lf) b.data[--b.len] = '\0';
    char *p = kx_path_join(dir, name);
    kx_write_file_atomic(p, b.data, b.len, NULL);
    free(p);
    kx_buf_free(&b);
}

/* A complete user: 18 keystroke files of `rows` rows, 18 texts, 3 required JSON files. */
static void put_user(const char *dir, const char *uid, int rows, const char *demographics)
{
    char name[128];
    for (int s = 0; s < 18; s++) {
        snprintf(name, sizeof name, "%c_%s_%d.csv", "fit"[s % 3], uid, s);
        put_csv(dir, name, rows, false);
        snprintf(name, sizeof name, "%c_%s_%d_raw.txt", "fit"[s % 3], uid, s);
        put(dir, name, "typed text");
    }
    snprintf(name, sizeof name, "%s_consent.json", uid);
    put(dir, name, "{\"consented\": \"Yes\"}");
    snprintf(name, sizeof name, "%s_start_time.json", uid);
    put(dir, name, "{}");
    if (demographics) {
        snprintf(name, sizeof name, "%s_demographics.json", uid);
        put(dir, name, demographics);
    }
}

typedef struct run {
    char vdir[512];
    char raw[600];
    kx_config cfg;
    kx_stage_ctx ctx;
    kx_log *log;
} run;

static void run_init(run *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->vdir, sizeof r->vdir, "%s/v", kx_test_tmpdir());
    snprintf(r->raw, sizeof r->raw, "%s/raw_data/web_app_data", r->vdir);
    kx_mkdirs(r->raw, NULL);
    kx_config_init(&r->cfg);
    r->cfg.parallel_workers = 2;
    r->log = kx_log_new(KX_LOG_OFF);
}

/* The lineage summaries the stage hands over (one per copy tree, six in all) must equal
 * what the runner would compute by listing and stat'ing the trees on disk. */
static void check_trees(const run *r)
{
    if (r->ctx.ntrees == 0) return; /* failed run: nothing handed over */
    CHECK_EQ_INT(r->ctx.ntrees, 6);
    for (size_t i = 0; i < r->ctx.ntrees; i++) {
        const kx_tree_lineage *t = &r->ctx.trees[i];
        char *abs = kx_path_join(r->vdir, t->tree);
        uint64_t size = 0, hash = 0;
        CHECK_EQ_INT(kx_tree_summarize(abs, 1, &size, &hash), 0);
        CHECK_EQ_INT(t->size, size);
        CHECK(t->hash == hash);
        free(abs);
    }
}

static int run_clean(run *r)
{
    memset(&r->ctx, 0, sizeof r->ctx);
    r->ctx.cfg = &r->cfg;
    r->ctx.version_id = "v";
    r->ctx.version_dir = r->vdir;
    r->ctx.log = r->log;
    int rc = kx_stage_clean(&r->ctx);
    check_trees(r);
    kx_stage_trees_free(&r->ctx);
    json_decref(r->ctx.stats);
    r->ctx.stats = NULL;
    return rc;
}

static void run_free(run *r)
{
    kx_config_free(&r->cfg);
    kx_log_free(r->log);
}

/* Parsed JSON report of the run (caller decrefs). */
static json_t *report(const run *r, const char *name)
{
    char *p = kx_asprintf("%s/etl_metadata/cleaning/%s", r->vdir, name);
    json_t *v = json_load_file(p, 0, NULL);
    free(p);
    return v;
}

static bool exists_in(const run *r, const char *rel)
{
    char *p = kx_path_join(r->vdir, rel);
    bool e = kx_exists(p);
    free(p);
    return e;
}

static char *slurp(const run *r, const char *rel)
{
    char *p = kx_path_join(r->vdir, rel);
    kx_buf b = KX_BUF_INIT;
    kx_read_file(p, &b, NULL);
    free(p);
    if (!b.data) return kx_strdup("");
    return kx_buf_steal(&b);
}

TEST(clean_stage_min_rows_and_no_final_newline)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 290, "{}");
    put_csv(r.raw, "f_" UA "_0.csv", 290, true); /* exactly 290 rows, no final LF: complete */
    put_user(r.raw, UB, 300, "{}");
    put_csv(r.raw, "t_" UB "_5.csv", 289, false);
    CHECK_EQ_INT(run_clean(&r), 0);
    json_t *br = report(&r, "broken_reasons.json");
    CHECK(br && json_object_size(br) == 1);
    const char *why = json_string_value(json_array_get(json_object_get(br, UB), 0));
    bool ok = why && !strcmp(why, "CSV files with insufficient data (< 290 rows): t_" UB "_5.csv (289 rows)");
    json_decref(br);
    CHECK(ok);
    json_t *st = report(&r, "cleaning_stats.json");
    CHECK(st != NULL);
    int64_t ins = json_integer_value(json_object_get(st, "broken_insufficient_data"));
    int64_t comp = json_integer_value(json_object_get(st, "complete_users"));
    json_decref(st);
    CHECK_EQ_INT(ins, 1);
    CHECK_EQ_INT(comp, 1);
    CHECK(exists_in(&r, "cleaned_data/desktop/raw_data/" UA "/1_1_1_" UA ".csv"));
    CHECK(exists_in(&r, "cleaned_data/desktop/text/" UA "/3_3_2_" UA ".txt"));
    CHECK(exists_in(&r, "cleaned_data/desktop/broken_data/" UB "/3_2_1_" UB ".csv"));
    CHECK(exists_in(&r, "cleaned_data/desktop/broken_data/text/" UB "/3_2_1_" UB ".txt"));
    CHECK(!exists_in(&r, "cleaned_data/desktop/raw_data/" UA "/" UA "_consent.json"));
    char *lst = slurp(&r, "cleaned_data/desktop/metadata/complete_users.txt");
    CHECK_EQ_STR(lst, UA "\n");
    free(lst);
    lst = slurp(&r, "cleaned_data/mobile/metadata/complete_users.txt");
    CHECK_EQ_STR(lst, "");
    free(lst);
    CHECK(exists_in(&r, "cleaned_data/mobile/broken_data/metadata"));
    CHECK(!exists_in(&r, "cleaned_data/mobile/broken_data/metadata/metadata.csv"));
    CHECK(exists_in(&r, "cleaned_data/desktop/broken_data/metadata/metadata.csv"));
    CHECK(!exists_in(&r, "etl_metadata/cleaning/validation_errors.json"));
    run_free(&r);
}

TEST(clean_stage_required_metadata_incomplete_partial)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 300, "{}");
    char *p = kx_path_join(r.raw, UA "_start_time.json");
    remove(p);
    free(p);
    p = kx_path_join(r.raw, "i_" UA "_4.csv");
    remove(p);
    free(p);
    put(r.raw, "i_" UA "_4.csv_.gstmp", "partial");
    put(r.raw, UA "_completion.json", "{}"); /* has no effect */
    CHECK_EQ_INT(run_clean(&r), 0);
    json_t *br = report(&r, "broken_reasons.json");
    json_t *a = json_object_get(br, UA);
    CHECK(a && json_array_size(a) == 3);
    char *r0 = kx_strdup(json_string_value(json_array_get(a, 0)));
    char *r1 = kx_strdup(json_string_value(json_array_get(a, 1)));
    char *r2 = kx_strdup(json_string_value(json_array_get(a, 2)));
    json_decref(br);
    bool ok0 = !strcmp(r0, "Missing required file: " UA "_start_time.json");
    bool ok1 = !strcmp(r1, "Incomplete platform data (need all 18 files): facebook 6/6 [0, 3, 6, 9, 12, 15]; "
                           "instagram 5/6 [1, 7, 10, 13, 16]; twitter 6/6 [2, 5, 8, 11, 14, 17]");
    bool ok2 = !strcmp(r2, "Partial downloads present: i_" UA "_4.csv_.gstmp");
    free(r0);
    free(r1);
    free(r2);
    CHECK(ok0);
    CHECK(ok1);
    CHECK(ok2);
    json_t *st = report(&r, "cleaning_stats.json");
    int64_t total = json_integer_value(json_object_get(st, "total_files"));
    json_decref(st);
    CHECK_EQ_INT(total, 36 + 3 - 2 + 2); /* put_user files - 2 removed + .gstmp + completion */
    run_free(&r);
}

TEST(clean_stage_consistency_and_collision)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 300, "{}");
    put_csv(r.raw, "f_" UA "_1.csv", 5, false);   /* inconsistent: not used, not row-checked */
    put_csv(r.raw, "1_1_1_" UA ".csv", 300, false); /* collides with the renamed f_..._0 */
    put(r.raw, "stray.bin", "x");
    CHECK_EQ_INT(run_clean(&r), 0);
    json_t *st = report(&r, "cleaning_stats.json");
    json_t *di = json_object_get(st, "data_issues");
    CHECK(di && json_array_size(di) == 3);
    char *i0 = kx_strdup(json_string_value(json_array_get(di, 0)));
    char *i1 = kx_strdup(json_string_value(json_array_get(di, 1)));
    char *i2 = kx_strdup(json_string_value(json_array_get(di, 2)));
    int64_t complete = json_integer_value(json_object_get(st, "complete_users"));
    json_decref(st);
    bool ok = !strcmp(i0, "Unknown file: stray.bin") &&
              !strcmp(i1, "Inconsistent platform letter or sequence: f_" UA "_1.csv") &&
              !strcmp(i2, "Name collision, not copied: 1_1_1_" UA ".csv");
    free(i0);
    free(i1);
    free(i2);
    CHECK(ok);
    CHECK_EQ_INT(complete, 1);
    /* the renamed file won: its content is the 300-row f_..._0 file (same bytes) */
    char *got = slurp(&r, "cleaned_data/desktop/raw_data/" UA "/1_1_1_" UA ".csv");
    char *want = slurp(&r, "raw_data/web_app_data/f_" UA "_0.csv");
    CHECK_EQ_STR(got, want);
    free(got);
    free(want);
    CHECK(exists_in(&r, "etl_metadata/cleaning/validation_errors.json"));
    run_free(&r);
}

TEST(clean_stage_routing_and_demographics_errors)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 300, "{\"is_mobile\": \"false\"}"); /* non-empty string: mobile */
    put_user(r.raw, UB, 300, "{not json");
    CHECK_EQ_INT(run_clean(&r), 0);
    json_t *st = report(&r, "cleaning_stats.json");
    int64_t mob = json_integer_value(json_object_get(st, "mobile_users"));
    int64_t desk = json_integer_value(json_object_get(st, "desktop_users"));
    json_t *pe = json_object_get(st, "processing_errors");
    bool pe_ok = pe && json_array_size(pe) == 1 &&
                 !strncmp(json_string_value(json_array_get(pe, 0)), "Demographics read error for " UB ": ", 62);
    json_decref(st);
    CHECK_EQ_INT(mob, 1);
    CHECK_EQ_INT(desk, 0);
    CHECK(pe_ok);
    CHECK(exists_in(&r, "cleaned_data/mobile/raw_data/" UA));
    CHECK(exists_in(&r, "cleaned_data/desktop/raw_data/" UB));
    run_free(&r);
}

TEST(clean_stage_timestamp_files_and_prefixed_demographics)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 300, NULL);
    put_csv(r.raw, "deadbeef_" UA "_f_0.csv", 3, false);
    put(r.raw, "deadbeef_" UA "_demographics.json", "{\"is_mobile\": true}");
    CHECK_EQ_INT(run_clean(&r), 0);
    json_t *br = report(&r, "broken_reasons.json");
    json_t *a = json_object_get(br, UA);
    bool ok = a && json_array_size(a) == 1 && !strcmp(json_string_value(json_array_get(a, 0)), KX_REASON_TIMESTAMP);
    json_decref(br);
    CHECK(ok);
    /* prefixed demographics copy routes the user; timestamp file keeps its name */
    CHECK(exists_in(&r, "cleaned_data/mobile/broken_data/" UA "/deadbeef_" UA "_f_0.csv"));
    CHECK(exists_in(&r, "cleaned_data/mobile/broken_data/" UA "/1_1_1_" UA ".csv"));
    char *meta = slurp(&r, "cleaned_data/mobile/metadata/metadata.csv");
    CHECK(strstr(meta, UA ",broken,") != NULL);
    size_t n = strlen(meta);
    CHECK(n > 6 && !strcmp(meta + n - 6, ",True\n"));
    free(meta);
    run_free(&r);
}

TEST(clean_stage_partitioned_storage_and_rebuild)
{
    run r;
    run_init(&r);
    put_user(r.raw, UA, 300, "{}");
    put_user(r.raw, UB, 300, "{}");
    r.cfg.partitioned_storage = true;
    r.cfg.batch_size = 1;
    CHECK_EQ_INT(run_clean(&r), 0);
    CHECK(exists_in(&r, "cleaned_data/desktop/raw_data/batch_001/" UA "/1_1_1_" UA ".csv"));
    CHECK(exists_in(&r, "cleaned_data/desktop/raw_data/batch_002/" UB "/1_1_1_" UB ".csv"));
    CHECK(exists_in(&r, "cleaned_data/desktop/text/batch_002/" UB));
    /* rebuild from scratch: a removed user leaves nothing behind */
    for (int s = 0; s < 18; s++) {
        char *name = kx_asprintf("%s/%c_%s_%d.csv", r.raw, "fit"[s % 3], UB, s);
        remove(name);
        free(name);
    }
    r.cfg.partitioned_storage = false;
    CHECK_EQ_INT(run_clean(&r), 0);
    CHECK(!exists_in(&r, "cleaned_data/desktop/raw_data/batch_001"));
    CHECK(exists_in(&r, "cleaned_data/desktop/raw_data/" UA));
    CHECK(exists_in(&r, "cleaned_data/desktop/broken_data/" UB));
    CHECK(!exists_in(&r, "cleaned_data/desktop/raw_data/" UB));
    run_free(&r);
}

TEST(clean_stage_missing_input_fails)
{
    run r;
    run_init(&r);
    kx_rmtree(r.raw, NULL);
    CHECK_EQ_INT(run_clean(&r), -1);
    CHECK(strstr(r.ctx.err.msg, "does not exist") != NULL);
    run_free(&r);
}
