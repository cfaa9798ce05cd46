/* Runner: modes, stage lists, plan validation, recording, dry run, lock, resume, ids.
 * The stage table is replaced by fake stages (kx_run_opts.defs) that write one file,
 * and can be told to fail or to kill their process. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "pipeline/runner.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/progress.h"
#include "test.h"

static int fake_fail = -1, fake_kill = -1;
static int fake_runs[KX_STAGE_COUNT];
static char fake_base[KX_STAGE_COUNT][256];

static int fake_common(kx_stage_ctx *ctx, int id)
{
    fake_runs[id]++;
    snprintf(fake_base[id], sizeof fake_base[id], "%s", ctx->base_version_id ? ctx->base_version_id : "");
    if (id == fake_kill) _exit(9); /* a killed run: no cleanup, no recording */
    if (id == fake_fail) return kx_fail(&ctx->err, "fake failure in stage %d", id);
    char *dir = kx_path_join(ctx->version_dir, kx_stage_defs[id].output_path);
    char *file = kx_path_join(dir, "out.txt");
    int rc = kx_mkdirs(dir, &ctx->err) || kx_write_file_atomic(file, "hello\n", 6, &ctx->err);
    if (!rc && id == KX_STAGE_CLEAN) { /* a per-user copy tree (one lineage entry) and a table */
        char *u = kx_path_join(dir, "desktop/raw_data/u1");
        char *a = kx_path_join(u, "a.csv"), *b = kx_path_join(u, "bb.csv");
        char *m = kx_path_join(dir, "desktop/metadata");
        char *mf = kx_path_join(m, "metadata.csv");
        rc = kx_mkdirs(u, &ctx->err) || kx_write_file_atomic(a, "abc", 3, &ctx->err) ||
             kx_write_file_atomic(b, "", 0, &ctx->err) || kx_mkdirs(m, &ctx->err) ||
             kx_write_file_atomic(mf, "x\n", 2, &ctx->err);
        free(u);
        free(a);
        free(b);
        free(m);
        free(mf);
    }
    free(dir);
    free(file);
    ctx->stats = json_pack("{s:i}", "rows", id * 10);
    return rc ? -1 : 0;
}

#define FAKE(n) \
    static int fake_##n(kx_stage_ctx *ctx) { return fake_common(ctx, n); }
FAKE(0)
FAKE(1)
FAKE(2)
FAKE(3)
FAKE(4)
FAKE(5)
FAKE(6)

static kx_stage_def fake_defs[KX_STAGE_COUNT];

typedef struct env {
    char root[512];
    char art[600];
    kx_config cfg;
    kx_log *log;
    FILE *out;
} env;

static void env_init(env *e)
{
    snprintf(e->root, sizeof e->root, "%s", kx_test_tmpdir());
    snprintf(e->art, sizeof e->art, "%s/artifacts", e->root);
    kx_config_init(&e->cfg);
    kx_config_set(&e->cfg, "ARTIFACTS_DIR", e->art, "test", NULL);
    char *src = kx_path_join(e->root, "src");
    kx_config_set(&e->cfg, "RAW_SOURCE", src, "test", NULL);
    free(src);
    kx_config_set(&e->cfg, "PARALLEL_WORKERS", "1", "test", NULL);
    e->log = kx_log_new(KX_LOG_OFF);
    e->out = fopen("/dev/null", "w");
    static const kx_stage_fn fns[KX_STAGE_COUNT] = {fake_0, fake_1, fake_2, fake_3, fake_4, fake_5, fake_6};
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        fake_defs[i] = kx_stage_defs[i];
        fake_defs[i].run = fns[i];
        fake_runs[i] = 0;
        fake_base[i][0] = 0;
    }
    fake_fail = fake_kill = -1;
}

static void env_free(env *e)
{
    kx_config_free(&e->cfg);
    kx_log_free(e->log);
    fclose(e->out);
}

static int run_with(env *e, kx_run_mode mode, const char *const *stages, size_t n, const char *vid, bool dry,
                    kx_run_result *res)
{
    kx_run_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.stage_names = stages;
    o.n_stage_names = n;
    o.version_id = vid;
    o.dry_run = dry;
    o.quiet = true;
    o.defs = fake_defs;
    o.out = e->out;
    o.err = e->out;
    return kx_run(&e->cfg, &o, e->log, res);
}

static json_t *get_rec(env *e, const char *vid)
{
    kx_catalog *c = NULL;
    kx_err err;
    json_t *r = NULL;
    if (kx_catalog_open(&e->cfg, KX_CATALOG_READ, &c, &err) == 0) kx_catalog_version_get(c, vid, &r, &err);
    kx_catalog_close(c);
    return r;
}

static char *current_id(env *e)
{
    kx_catalog *c = NULL;
    kx_err err;
    char *id = NULL;
    if (kx_catalog_open(&e->cfg, KX_CATALOG_READ, &c, &err) == 0) kx_catalog_current_get(c, &id, &err);
    kx_catalog_close(c);
    return id;
}

static const char *sstatus(json_t *rec, const char *stage)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(rec, "stages"), stage), "status"));
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* Recursive listing "path size mtime" of a tree, for no-trace comparisons. */
static void listing(const char *dir, const char *rel, kx_buf *out)
{
    char *abs = rel[0] ? kx_path_join(dir, rel) : kx_strdup(dir);
    struct stat st;
    if (lstat(abs, &st) != 0) {
        kx_buf_printf(out, "%s missing\n", rel);
        free(abs);
        return;
    }
    kx_buf_printf(out, "%s %lld %lld.%09ld\n", rel, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                  st.st_mtim.tv_nsec);
    kx_dirlist dl;
    if (S_ISDIR(st.st_mode) && kx_list_dir(abs, &dl, NULL) == 0) {
        for (size_t i = 0; i < dl.n; i++) {
            char *sub = rel[0] ? kx_path_join(rel, dl.items[i].name) : kx_strdup(dl.items[i].name);
            listing(dir, sub, out);
            free(sub);
        }
        kx_dirlist_free(&dl);
    }
    free(abs);
}

TEST(runner_full_run_records_everything)
{
    env e;
    env_init(&e);
    kx_run_result res;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &res), 0);
    json_t *r = get_rec(&e, res.version_id);
    CHECK(r != NULL);
    /* key order of §3.2 */
    const char *order[] = {"id", "created_at", "updated_at", "status", "engine_version", "metadata", "stages",
                           "completed_at", "summary"};
    void *it = json_object_iter(r);
    for (size_t i = 0; i < 9; i++, it = json_object_iter_next(r, it)) CHECK_EQ_STR(json_object_iter_key(it), order[i]);
    CHECK(it == NULL);
    CHECK_EQ_STR(jstr(r, "status"), "completed");
    CHECK_EQ_STR(jstr(r, "engine_version"), KEYETL_VERSION);
    json_t *md = json_object_get(r, "metadata");
    CHECK_EQ_STR(jstr(md, "mode"), "full");
    CHECK(json_is_null(json_object_get(md, "base_version")));
    CHECK_EQ_INT(json_array_size(json_object_get(md, "stages")), 0);
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        json_t *s = json_object_get(json_object_get(r, "stages"), kx_stage_defs[i].record_name);
        CHECK_EQ_STR(jstr(s, "status"), "completed");
        CHECK(json_is_true(json_object_get(s, "completed")));
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(s, "stats"), "rows")), i * 10);
        CHECK(json_object_get(s, "error") == NULL);
    }
    json_t *kp = json_object_get(json_object_get(r, "stages"), "extract_keypairs");
    char *want = kx_asprintf("%s/%s/keypairs", e.art, res.version_id);
    CHECK_EQ_STR(jstr(kp, "output_path"), want);
    free(want);
    json_t *set = json_object_get(kp, "settings");
    CHECK_EQ_INT(json_object_size(set), 5);
    CHECK_EQ_STR(jstr(set, "DEVICE_TYPES"), "desktop");
    CHECK_EQ_DBL(json_real_value(json_object_get(set, "OUTLIER_HL_MAX_MS")), 2000.0);
    json_t *ts = json_object_get(json_object_get(json_object_get(r, "stages"), "extract_top_il_features"), "output_path");
    CHECK(strstr(json_string_value(ts), "statistical_IL_top_10_features") != NULL);
    json_t *sum = json_object_get(r, "summary");
    CHECK_EQ_INT(json_array_size(json_object_get(sum, "stages_run")), 7);
    CHECK_EQ_STR(jstr(sum, "mode"), "full");
    CHECK(json_is_false(json_object_get(sum, "artifacts_uploaded")));
    json_decref(r);
    char *cur = current_id(&e);
    CHECK_EQ_STR(cur, res.version_id);
    free(cur);
    /* the run log with its header */
    char *logs = kx_asprintf("%s/%s/logs", e.art, res.version_id);
    kx_dirlist dl;
    CHECK_EQ_INT(kx_list_dir(logs, &dl, NULL), 0);
    CHECK_EQ_INT(dl.n, 1);
    CHECK(!strncmp(dl.items[0].name, "pipeline_", 9));
    char *lp = kx_path_join(logs, dl.items[0].name);
    kx_buf b = KX_BUF_INIT;
    CHECK_EQ_INT(kx_read_file(lp, &b, NULL), 0);
    CHECK(strstr(b.data, "PIPELINE EXECUTION LOG") != NULL);
    CHECK(strstr(b.data, "| pipeline                  | INFO     | Running stage: clean_data") != NULL);
    CHECK(strstr(b.data, "Completed run_eda in ") != NULL);
    kx_buf_free(&b);
    free(lp);
    kx_dirlist_free(&dl);
    free(logs);
    /* lineage */
    kx_catalog *c = NULL;
    kx_err err;
    json_t *files = NULL;
    CHECK_EQ_INT(kx_catalog_open(&e.cfg, KX_CATALOG_READ, &c, &err), 0);
    CHECK_EQ_INT(kx_catalog_outputs_get(c, res.version_id, &files, &err), 0);
    bool found = false;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) if (!strcmp(jstr(f, "path"), "keypairs/out.txt")) {
        found = true;
        CHECK_EQ_INT(json_integer_value(json_object_get(f, "size")), 6);
        CHECK_EQ_STR(jstr(f, "stage"), "extract_keypairs");
    }
    CHECK(found);
#define TREE_LIST "u1/a.csv\0" "3\nu1/bb.csv\0" "0\n"
    /* copy trees: one entry "<tree>/" with the total size and XXH3 of "path\0size\n" lines */
    char hex[17];
    int seen = 0;
    json_array_foreach(files, i, f) {
        const char *p = jstr(f, "path");
        if (!strcmp(p, "raw_data/web_app_data/")) {
            seen++;
            CHECK_EQ_INT(json_integer_value(json_object_get(f, "size")), 6);
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits("out.txt\0" "6\n", sizeof "out.txt\0" "6\n" - 1));
            CHECK_EQ_STR(jstr(f, "checksum"), hex);
        } else if (!strcmp(p, "cleaned_data/desktop/raw_data/")) {
            seen++;
            CHECK_EQ_INT(json_integer_value(json_object_get(f, "size")), 3);
            snprintf(hex, sizeof hex, "%016llx",
                     (unsigned long long)XXH3_64bits(TREE_LIST, sizeof TREE_LIST - 1));
            CHECK_EQ_STR(jstr(f, "checksum"), hex);
            CHECK_EQ_STR(jstr(f, "stage"), "clean_data");
        } else if (!strcmp(p, "cleaned_data/desktop/metadata/metadata.csv")) {
            seen++; /* other outputs keep per-file content checksums */
            CHECK_EQ_INT(json_integer_value(json_object_get(f, "size")), 2);
        } else {
            CHECK(strncmp(p, "cleaned_data/desktop/raw_data/", 30) != 0);
            CHECK(strncmp(p, "raw_data/web_app_data/", 22) != 0);
        }
    }
    CHECK_EQ_INT(seen, 3);
    json_decref(files);
    kx_catalog_close(c);
    /* incr afterwards: nothing to do, nothing changed */
    json_t *before = get_rec(&e, res.version_id);
    kx_run_result r2;
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &r2), 0);
    json_t *after = get_rec(&e, res.version_id);
    CHECK(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    env_free(&e);
}

TEST(runner_failure_recorded_then_resumed)
{
    env e;
    env_init(&e);
    fake_fail = KX_STAGE_KEYPAIRS;
    kx_run_result res;
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, false, &res), 1);
    json_t *r = get_rec(&e, res.version_id);
    CHECK_EQ_STR(jstr(r, "status"), "failed");
    CHECK_EQ_STR(jstr(r, "failed_stage"), "extract_keypairs");
    CHECK_EQ_STR(jstr(r, "error"), "fake failure in stage 2");
    CHECK_EQ_STR(sstatus(r, "clean_data"), "completed");
    CHECK_EQ_STR(sstatus(r, "extract_keypairs"), "failed");
    CHECK_EQ_STR(jstr(json_object_get(json_object_get(r, "stages"), "extract_keypairs"), "error"),
                 "fake failure in stage 2");
    CHECK(sstatus(r, "extract_features") == NULL);
    CHECK_EQ_INT(fake_runs[KX_STAGE_FEATURES], 0);
    json_decref(r);
    CHECK(current_id(&e) == NULL);
    /* default mode resumes the failed version as incr: only the remaining stages run */
    fake_fail = -1;
    kx_run_result r2;
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, false, &r2), 0);
    CHECK_EQ_STR(r2.version_id, res.version_id);
    CHECK_EQ_INT(fake_runs[KX_STAGE_DOWNLOAD], 1);
    CHECK_EQ_INT(fake_runs[KX_STAGE_KEYPAIRS], 2);
    r = get_rec(&e, res.version_id);
    CHECK_EQ_STR(jstr(r, "status"), "completed");
    CHECK(json_object_get(r, "failed_stage") == NULL && json_object_get(r, "error") == NULL);
    CHECK_EQ_STR(jstr(json_object_get(r, "summary"), "mode"), "incr");
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(r, "summary"), "stages_run")), 5);
    json_decref(r);
    /* the next default run starts a new full version */
    kx_run_result r3;
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, false, &r3), 0);
    CHECK(strcmp(r3.version_id, res.version_id) != 0);
    env_free(&e);
}

TEST(runner_plan_errors_leave_no_trace)
{
    env e;
    env_init(&e);
    kx_run_result res;
    const char *clean[] = {"clean"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, clean, 1, NULL, false, &res), 2);
    CHECK_EQ_STR(res.message, "Missing dependencies for clean: download");
    CHECK(!kx_exists(e.art));
    const char *two[] = {"top_il", "kvc"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, two, 2, NULL, false, &res), 2);
    CHECK_EQ_STR(res.message, "Missing dependencies for kvc: keypairs\nMissing dependencies for top_il: features");
    const char *llm[] = {"download", "llm_check"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, llm, 2, NULL, false, &res), 2);
    CHECK(strstr(res.message, "valid stages: download, clean, keypairs, kvc, features, top_il, eda") != NULL);
    const char *bad[] = {"top_il_features"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, bad, 1, NULL, false, &res), 2);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &res), 2);
    CHECK_EQ_STR(res.message, "No version found. Run with --mode full first.");
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, NULL, 0, NULL, false, &res), 2);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, "bad/id", false, &res), 2);
    kx_config_set(&e.cfg, "RAW_SOURCE", "", "test", NULL);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &res), 2);
    CHECK(strstr(res.message, "no download source") != NULL);
    kx_config_set(&e.cfg, "METADATA_BACKEND", "postgres", "test", NULL);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &res), 2);
    CHECK(strstr(res.message, "not built with PostgreSQL support") != NULL);
    CHECK(!kx_exists(e.art));
    for (int i = 0; i < KX_STAGE_COUNT; i++) CHECK_EQ_INT(fake_runs[i], 0);
    env_free(&e);
}

TEST(runner_dry_run_changes_nothing)
{
    env e;
    env_init(&e);
    kx_run_result res;
    /* no catalog yet: a dry run must not create it (nor the artifacts folder) */
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, true, &res), 0);
    CHECK(!kx_exists(e.art));
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &res), 0);
    kx_buf before = KX_BUF_INIT, after = KX_BUF_INIT;
    listing(e.art, "", &before);
    kx_run_result d;
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, true, &d), 0);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, NULL, 0, NULL, true, &d), 0);
    const char *kp[] = {"keypairs"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, kp, 1, NULL, true, &d), 0);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, res.version_id, true, &d), 0);
    /* same exit codes as a real run */
    const char *clean[] = {"clean"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, clean, 1, NULL, true, &d), 2);
    listing(e.art, "", &after);
    CHECK_EQ_STR(before.data, after.data);
    for (int i = 0; i < KX_STAGE_COUNT; i++) CHECK_EQ_INT(fake_runs[i], 1);
    kx_buf_free(&before);
    kx_buf_free(&after);
    env_free(&e);
}

TEST(runner_killed_run_is_resumed)
{
    env e;
    env_init(&e);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fake_kill = KX_STAGE_CLEAN;
        kx_run_result r;
        run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &r);
        _exit(0); /* not reached */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 9);
    kx_catalog *c = NULL;
    kx_err err;
    json_t *list = NULL;
    CHECK_EQ_INT(kx_catalog_open(&e.cfg, KX_CATALOG_READ, &c, &err), 0);
    CHECK_EQ_INT(kx_catalog_version_list(c, &list, &err), 0);
    CHECK_EQ_INT(json_array_size(list), 1);
    char *vid = kx_strdup(jstr(json_array_get(list, 0), "id"));
    json_decref(list);
    kx_lock_owner lo;
    CHECK_EQ_INT(kx_catalog_lock_get(c, vid, &lo, &err), KX_CAT_OK); /* holder is dead */
    kx_catalog_close(c);
    json_t *r = get_rec(&e, vid);
    CHECK_EQ_STR(jstr(r, "status"), "in_progress");
    CHECK_EQ_STR(sstatus(r, "download_data"), "completed");
    CHECK_EQ_STR(sstatus(r, "clean_data"), "in_progress");
    json_decref(r);
    kx_run_result res;
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, false, &res), 0);
    CHECK_EQ_STR(res.version_id, vid);
    CHECK_EQ_INT(fake_runs[KX_STAGE_DOWNLOAD], 0); /* completed before the kill: not re-run */
    CHECK_EQ_INT(fake_runs[KX_STAGE_CLEAN], 1);
    r = get_rec(&e, vid);
    CHECK_EQ_STR(jstr(r, "status"), "completed");
    json_decref(r);
    free(vid);
    env_free(&e);
}

TEST(runner_locked_version_is_busy)
{
    env e;
    env_init(&e);
    kx_run_result res;
    fake_fail = KX_STAGE_FEATURES;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &res), 1);
    fake_fail = -1;
    kx_catalog *c = NULL;
    kx_err err;
    kx_lock_owner lo;
    CHECK_EQ_INT(kx_catalog_open(&e.cfg, KX_CATALOG_WRITE, &c, &err), 0);
    CHECK_EQ_INT(kx_catalog_lock_acquire(c, res.version_id, &lo, &err), 0);
    json_t *before = get_rec(&e, res.version_id);
    kx_run_result r2;
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &r2), 3);
    CHECK_EQ_INT(run_with(&e, KX_MODE_DEFAULT, NULL, 0, NULL, false, &r2), 3);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, true, &r2), 3); /* dry run: same code */
    json_t *after = get_rec(&e, res.version_id);
    CHECK(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    CHECK_EQ_INT(kx_catalog_lock_release(c, res.version_id, &err), 0);
    kx_catalog_close(c);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &r2), 0);
    env_free(&e);
}

TEST(runner_force_child_and_in_place)
{
    env e;
    env_init(&e);
    kx_run_result a, b, c2;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &a), 0);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, NULL, 0, NULL, false, &b), 0);
    size_t n = strlen(b.version_id);
    CHECK(n > 6 && !strcmp(b.version_id + n - 6, "_force"));
    json_t *r = get_rec(&e, b.version_id);
    json_t *md = json_object_get(r, "metadata");
    CHECK_EQ_STR(jstr(md, "mode"), "force");
    CHECK_EQ_STR(jstr(md, "parent_version"), a.version_id);
    CHECK(json_is_true(json_object_get(md, "is_force_rerun")));
    CHECK_EQ_INT(fake_runs[KX_STAGE_DOWNLOAD], 2);
    json_decref(r);
    char *cur = current_id(&e);
    CHECK_EQ_STR(cur, b.version_id);
    free(cur);
    /* force -s keypairs in place: dependents not in the run become stale */
    const char *kp[] = {"keypairs"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, kp, 1, NULL, false, &c2), 0);
    CHECK_EQ_STR(c2.version_id, b.version_id);
    r = get_rec(&e, b.version_id);
    CHECK_EQ_STR(sstatus(r, "clean_data"), "completed");
    CHECK_EQ_STR(sstatus(r, "extract_keypairs"), "completed");
    CHECK_EQ_STR(sstatus(r, "extract_kvc_features"), "stale");
    CHECK_EQ_STR(sstatus(r, "extract_top_il_features"), "stale");
    CHECK_EQ_STR(sstatus(r, "run_eda"), "stale");
    CHECK(json_is_false(json_object_get(json_object_get(json_object_get(r, "stages"), "run_eda"), "completed")));
    json_decref(r);
    /* incr then runs exactly the stale stages */
    for (int i = 0; i < KX_STAGE_COUNT; i++) fake_runs[i] = 0;
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &c2), 0);
    CHECK_EQ_INT(fake_runs[KX_STAGE_KEYPAIRS], 0);
    CHECK_EQ_INT(fake_runs[KX_STAGE_KVC] + fake_runs[KX_STAGE_FEATURES] + fake_runs[KX_STAGE_TOP_IL] +
                     fake_runs[KX_STAGE_EDA], 4);
    env_free(&e);
}

TEST(runner_version_ids_unique_in_same_second)
{
    env e;
    env_init(&e);
    /* occupy the id of this second (and the next) with folders: creation must move on */
    char id[256];
    kx_make_version_id(id, NULL);
    char *dir = kx_path_join(e.art, id);
    kx_mkdirs(dir, NULL);
    free(dir);
    kx_run_result a, b;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &a), 0);
    CHECK(strcmp(a.version_id, id) != 0);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &b), 0);
    CHECK(strcmp(a.version_id, b.version_id) != 0);
    /* an explicit id that exists as a bare folder is refused, never overwritten */
    char *taken = kx_path_join(e.art, "taken");
    kx_mkdirs(taken, NULL);
    free(taken);
    kx_run_result c;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, "taken", false, &c), 2);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, "my-run.1", false, &c), 0);
    CHECK_EQ_STR(c.version_id, "my-run.1");
    env_free(&e);
}

TEST(runner_incremental_base_selection)
{
    env e;
    env_init(&e);
    kx_run_result a, b, c;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &a), 0);
    CHECK_EQ_STR(fake_base[KX_STAGE_CLEAN], "");
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &b), 0);
    json_t *r = get_rec(&e, b.version_id);
    CHECK_EQ_STR(jstr(json_object_get(r, "metadata"), "base_version"), a.version_id);
    json_decref(r);
    CHECK_EQ_STR(fake_base[KX_STAGE_CLEAN], a.version_id);
    CHECK_EQ_STR(fake_base[KX_STAGE_KEYPAIRS], a.version_id);
    CHECK_EQ_STR(fake_base[KX_STAGE_DOWNLOAD], a.version_id);
    /* the recomputing stages never get a base (05 §6.4) */
    CHECK_EQ_STR(fake_base[KX_STAGE_KVC], "");
    CHECK_EQ_STR(fake_base[KX_STAGE_FEATURES], "");
    CHECK_EQ_STR(fake_base[KX_STAGE_TOP_IL], "");
    CHECK_EQ_STR(fake_base[KX_STAGE_EDA], "");
    /* a clean setting differs: clean may not reuse, keypairs still may */
    kx_config_set(&e.cfg, "CLEAN_MIN_ROWS", "10", "test", NULL);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &c), 0);
    CHECK_EQ_STR(fake_base[KX_STAGE_CLEAN], "");
    CHECK_EQ_STR(fake_base[KX_STAGE_KEYPAIRS], b.version_id);
    /* incr and force never reuse; INCREMENTAL=false neither */
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, NULL, 0, NULL, false, &c), 0);
    CHECK_EQ_STR(fake_base[KX_STAGE_KEYPAIRS], "");
    kx_config_set(&e.cfg, "INCREMENTAL", "false", "test", NULL);
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &c), 0);
    r = get_rec(&e, c.version_id);
    CHECK(json_is_null(json_object_get(json_object_get(r, "metadata"), "base_version")));
    json_decref(r);
    CHECK_EQ_STR(fake_base[KX_STAGE_KEYPAIRS], "");
    env_free(&e);
}

TEST(runner_archived_version_cannot_run)
{
    env e;
    env_init(&e);
    kx_run_result a, b;
    CHECK_EQ_INT(run_with(&e, KX_MODE_FULL, NULL, 0, NULL, false, &a), 0);
    kx_catalog *c = NULL;
    kx_err err;
    CHECK_EQ_INT(kx_catalog_open(&e.cfg, KX_CATALOG_WRITE, &c, &err), 0);
    CHECK_EQ_INT(kx_catalog_version_archive(c, a.version_id, "2030-01-01T00:00:00.000000", &err), 0);
    kx_catalog_close(c);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, a.version_id, false, &b), 2);
    CHECK_EQ_INT(run_with(&e, KX_MODE_INCR, NULL, 0, NULL, false, &b), 2); /* archived is not "newest" */
    const char *kp[] = {"keypairs"};
    CHECK_EQ_INT(run_with(&e, KX_MODE_FORCE, kp, 1, NULL, false, &b), 2); /* no current any more */
    env_free(&e);
}

TEST(runner_names_and_ids)
{
    CHECK(kx_version_id_valid("2025-09-07_00-27-43_lab-pc"));
    CHECK(kx_version_id_valid("a.b_c-1"));
    CHECK(!kx_version_id_valid("-x"));
    CHECK(!kx_version_id_valid("a b"));
    CHECK(!kx_version_id_valid(""));
    char long_id[202];
    memset(long_id, 'a', 201);
    long_id[201] = 0;
    CHECK(!kx_version_id_valid(long_id));
    long_id[200] = 0;
    CHECK(kx_version_id_valid(long_id));
    char id[256], host[128];
    kx_make_version_id(id, "force");
    kx_version_host(host);
    CHECK_EQ_INT(id[4], '-');
    CHECK_EQ_INT(id[10], '_');
    CHECK(strstr(id, host) == id + 20);
    CHECK(!strcmp(id + strlen(id) - 6, "_force"));
    for (const char *p = host; *p; p++) CHECK(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_');
    CHECK_EQ_INT(kx_run_mode_parse("incr"), KX_MODE_INCR);
    CHECK_EQ_INT(kx_run_mode_parse("fast"), -1);
}

TEST(runner_progress_line_format)
{
    char line[200];
    kx_progress_format(line, sizeof line, "keypairs", 120, 1000, 2.0);
    CHECK_EQ_STR(line, "keypairs: 120/1000 users (60.0 users/s, ETA 15s)");
    kx_progress_format(line, sizeof line, "clean", 10, 10, 4.0);
    CHECK_EQ_STR(line, "clean: 10/10 users (2.5 users/s)");
}
