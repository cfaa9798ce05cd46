/* Incremental reuse of clean and keypairs (spec 05 §6.4, 02 §7): a snapshot B derived from A
 * (2 new users, 1 removed, 1 changed file) is processed from scratch and incrementally with
 * A's version as base; every output must be the same (04 §8) and the reuse counts right. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/fs.h"
#include "pipeline/stage.h"
#include "pipeline/synth.h"
#include "test.h"
#include "test_support.h"
#include "util/mem.h"

#define SEED 3

/* Hard-links (like download does) every file of src whose name does not contain `skip`
 * and, if `only` is given, contains one of only[0..1]. */
static int link_some(const char *src, const char *dst, const char *skip, char *const *only)
{
    kx_dirlist l;
    if (kx_mkdirs(dst, NULL) != 0 || kx_list_dir(src, &l, NULL) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        if (skip && strstr(l.items[i].name, skip)) continue;
        if (only && !strstr(l.items[i].name, only[0]) && !strstr(l.items[i].name, only[1])) continue;
        char *a = kx_path_join(src, l.items[i].name), *b = kx_path_join(dst, l.items[i].name);
        unlink(b);
        rc = link(a, b);
        free(a);
        free(b);
    }
    kx_dirlist_free(&l);
    return rc;
}

/* Uploads happened before the runs: set every file's mtime one hour back. */
static int link_all(const char *src, const char *dst, const char *skip)
{
    return link_some(src, dst, skip, NULL);
}

static void age_files(const char *dir)
{
    kx_dirlist l;
    if (kx_list_dir(dir, &l, NULL) != 0) return;
    struct timespec ts[2] = {{0, UTIME_OMIT}, {0, 0}};
    clock_gettime(CLOCK_REALTIME, &ts[1]);
    ts[1].tv_sec -= 3600;
    for (size_t i = 0; i < l.n; i++) {
        char *p = kx_path_join(dir, l.items[i].name);
        utimensat(AT_FDCWD, p, ts, 0);
        free(p);
    }
    kx_dirlist_free(&l);
}

/* Replaces dir/name by a new file (new inode) with `line` appended. */
static int append_line(const char *dir, const char *name, const char *line)
{
    char *p = kx_path_join(dir, name);
    kx_buf b = KX_BUF_INIT;
    int rc = kx_read_file(p, &b, NULL);
    if (rc == 0) {
        kx_buf_puts(&b, line);
        unlink(p);
        rc = kx_write_file_atomic(p, b.data, b.len, NULL);
    }
    kx_buf_free(&b);
    free(p);
    return rc;
}

typedef struct inc_run {
    kx_config cfg;
    kx_log *log;
    json_t *clean_stats, *kp_stats;
} inc_run;

/* Output formats of run_stages: each reuse path of keypairs (02 §7) has its own test. */
typedef enum { FMT_CSV, FMT_PARQUET, FMT_BOTH } inc_formats;

/* clean + keypairs on version folder vdir (raw data already there), optionally with a base. */
static int run_stages(inc_run *r, const char *vdir, const char *base, int batch_size, inc_formats fmt)
{
    memset(r, 0, sizeof *r);
    kx_config_init(&r->cfg);
    r->cfg.parallel_workers = 2;
    r->cfg.batch_size = batch_size;
    r->cfg.out_parquet = fmt != FMT_CSV;
    r->cfg.out_csv = fmt != FMT_PARQUET;
    r->log = kx_log_new(KX_LOG_OFF);
    kx_stage_ctx ctx = kx_test_stage_ctx(&r->cfg, vdir, r->log);
    ctx.base_version_id = base ? "base" : NULL;
    ctx.base_version_dir = base;
    int rc = kx_stage_clean(&ctx);
    kx_stage_trees_free(&ctx);
    r->clean_stats = ctx.stats;
    ctx.stats = NULL;
    if (rc == 0) rc = kx_stage_keypairs(&ctx);
    r->kp_stats = ctx.stats;
    if (rc != 0) fprintf(stderr, "stage error: %s\n", ctx.err.msg);
    return rc;
}

static void run_free(inc_run *r)
{
    json_decref(r->clean_stats);
    json_decref(r->kp_stats);
    kx_config_free(&r->cfg);
    kx_log_free(r->log);
}

/* Removes the volatile keys of 04 §8 (recursively). */
static void drop_volatile(json_t *v)
{
    static const char *const keys[] = {"timestamp", "version_id", "input_dir", "output_dir"};
    if (json_is_object(v)) {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) json_object_del(v, keys[k]);
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e) drop_volatile(e);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) drop_volatile(json_array_get(v, i));
    }
}

static bool ends_with(const char *s, const char *t)
{
    size_t n = strlen(s), m = strlen(t);
    return n >= m && !strcmp(s + n - m, t);
}

/* Same tree: same names, byte-identical files, JSON equal without volatile keys. Sets *what
 * to the first difference (static buffer). */
static bool same_tree(const char *a, const char *b, size_t *nfiles, const char **what)
{
    static char msg[1024];
    kx_dirlist la, lb;
    if (kx_list_dir(a, &la, NULL) != 0) {
        snprintf(msg, sizeof msg, "cannot list %s", a);
        *what = msg;
        return false;
    }
    bool same = kx_list_dir(b, &lb, NULL) == 0 && la.n == lb.n;
    if (!same) snprintf(msg, sizeof msg, "entries differ in %s", a);
    for (size_t i = 0; same && i < la.n; i++) {
        char *pa = kx_path_join(a, la.items[i].name), *pb = kx_path_join(b, lb.items[i].name);
        if (strcmp(la.items[i].name, lb.items[i].name) || la.items[i].is_dir != lb.items[i].is_dir) {
            same = false;
            snprintf(msg, sizeof msg, "%s vs %s", pa, pb);
        } else if (la.items[i].is_dir) {
            same = same_tree(pa, pb, nfiles, what);
        } else {
            kx_buf x = KX_BUF_INIT, y = KX_BUF_INIT;
            kx_read_file(pa, &x, NULL);
            kx_read_file(pb, &y, NULL);
            (*nfiles)++;
            if (ends_with(pa, ".json")) {
                json_t *jx = json_loadb(x.data ? x.data : "", x.len, 0, NULL);
                json_t *jy = json_loadb(y.data ? y.data : "", y.len, 0, NULL);
                drop_volatile(jx);
                drop_volatile(jy);
                /* compare the texts: key order matters (error_distribution, 02 §6) */
                char *dx = jx ? json_dumps(jx, JSON_COMPACT) : NULL, *dy = jy ? json_dumps(jy, JSON_COMPACT) : NULL;
                same = dx && dy && !strcmp(dx, dy);
                free(dx);
                free(dy);
                json_decref(jx);
                json_decref(jy);
            } else {
                same = x.len == y.len && (x.len == 0 || !memcmp(x.data, y.data, x.len));
            }
            if (!same) snprintf(msg, sizeof msg, "%s differs from %s", pa, pb);
            kx_buf_free(&x);
            kx_buf_free(&y);
        }
        if (!same && *what == NULL) *what = msg;
        free(pa);
        free(pb);
    }
    if (!same && *what == NULL) *what = msg;
    kx_dirlist_free(&la);
    if (lb.items || lb.n) kx_dirlist_free(&lb);
    return same;
}

static const char *status_of(const char *vdir, const char *uid)
{
    static char st[16];
    char *p = kx_asprintf("%s/etl_metadata/cleaning/user_checksums.json", vdir);
    json_t *v = json_load_file(p, 0, NULL);
    free(p);
    json_t *u = json_object_get(json_object_get(v, "users"), uid);
    const char *s = json_string_value(json_object_get(u, "status"));
    const char *d = json_string_value(json_object_get(u, "device"));
    /* keypairs reads DEVICE_TYPES = desktop only (default) */
    snprintf(st, sizeof st, "%s", !s ? "absent" : strcmp(s, "complete") ? s : d && !strcmp(d, "desktop") ? s : "mobile");
    json_decref(v);
    return st;
}

static long long stat_int(json_t *stats, const char *key)
{
    return (long long)json_integer_value(json_object_get(json_object_get(stats, "incremental"), key));
}

static int synth(const char *dir, int64_t users)
{
    kx_synth_params p;
    kx_synth_defaults(&p);
    p.seed = SEED;
    p.users = users;
    p.workers = 2;
    p.broken_fraction = 0.3;
    kx_synth_summary s;
    return kx_synth_write(&p, dir, &s, NULL);
}

/* A: 12 synthetic users; base = clean + keypairs of A; B = A − 1 user + 2 new users + 1
 * changed file. B from scratch and B with the base must give identical files. */
static void check_incremental_equals_full_run(inc_formats fmt)
{
    const char *tmp = kx_test_tmpdir();
    char *A = kx_path_join(tmp, "A"), *C = kx_path_join(tmp, "C"), *B = kx_path_join(tmp, "B");
    char *base = kx_path_join(tmp, "base"), *full = kx_path_join(tmp, "full"), *incr = kx_path_join(tmp, "incr");
    char *base_raw = kx_path_join(base, "raw_data/web_app_data");
    char *full_raw = kx_path_join(full, "raw_data/web_app_data");
    char *incr_raw = kx_path_join(incr, "raw_data/web_app_data");
    inc_run r0, r1, rf, ri;
    memset(&r0, 0, sizeof r0);
    memset(&r1, 0, sizeof r1);
    memset(&rf, 0, sizeof rf);
    memset(&ri, 0, sizeof ri);
    CHECK(synth(A, 12) == 0 && synth(C, 14) == 0);
    /* Pick users by status after a first clean of A: X (complete, gets a malformed line and
     * an orphan release before the base is built, then stays unchanged), Y (complete,
     * changed in B), R (removed in B). */
    CHECK(link_all(A, base_raw, NULL) == 0);
    CHECK(run_stages(&r0, base, NULL, 100, fmt) == 0);
    char uid[14][33], *X = NULL, *Y = NULL, *R = NULL;
    for (int i = 0; i < 14; i++) kx_synth_uid(SEED, i, uid[i]);
    for (int i = 0; i < 12; i++) {
        bool complete = !strcmp(status_of(base, uid[i]), "complete");
        if (complete && !X) X = uid[i];
        else if (complete && !Y) Y = uid[i];
        else if (!R) R = uid[i];
    }
    CHECK(X && Y && R);
    char name[600];
    snprintf(name, sizeof name, "t_%s_2.csv", X);
    CHECK(append_line(A, name, "R,q,1\nnot a keystroke line\n") == 0);
    age_files(A);
    CHECK(link_all(A, base_raw, NULL) == 0);
    CHECK(run_stages(&r1, base, NULL, 100, fmt) == 0);
    /* B = A − R + users 12 and 13 of C, and Y's file changed (new file, new inode). */
    CHECK(link_all(A, B, R) == 0);
    char *news[2] = {uid[12], uid[13]};
    CHECK(link_some(C, B, NULL, news) == 0);
    snprintf(name, sizeof name, "f_%s_0.csv", Y);
    CHECK(append_line(B, name, "P,z,9999999999999\n") == 0);
    CHECK(link_all(B, full_raw, NULL) == 0 && link_all(B, incr_raw, NULL) == 0);
    CHECK(run_stages(&rf, full, NULL, 100, fmt) == 0);
    CHECK(run_stages(&ri, incr, base, 3, fmt) == 0);

    static const char *const trees[] = {"cleaned_data", "keypairs", "etl_metadata/cleaning", "etl_metadata/keypairs"};
    size_t nfiles = 0;
    for (size_t t = 0; t < 4; t++) {
        char *a = kx_path_join(full, trees[t]), *b = kx_path_join(incr, trees[t]);
        const char *what = NULL;
        bool same = same_tree(a, b, &nfiles, &what);
        free(a);
        free(b);
        if (!same) kx_test_fail(__FILE__, __LINE__, "%s", what);
        CHECK(same);
    }
    CHECK(nfiles > 50);
    /* The base carried malformed and invalid rows of X; the full run has them too. */
    char *mal = kx_path_join(full, "etl_metadata/keypairs/malformed_rows.csv");
    CHECK(kx_exists(mal));
    free(mal);
    /* Counts: 13 users in B; reused = 12 − R − Y; keypairs counts complete desktop users. */
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(ri.clean_stats, "incremental"), "base_version")),
                 "base");
    CHECK_EQ_INT(stat_int(ri.clean_stats, "reused_users"), 10);
    CHECK_EQ_INT(stat_int(ri.clean_stats, "processed_users"), 3);
    int complete_b = 0, complete_new = 0;
    for (int i = 0; i < 14; i++) {
        bool c = !strcmp(status_of(full, uid[i]), "complete");
        complete_b += c;
        complete_new += c && i >= 12;
    }
    CHECK_EQ_INT(stat_int(ri.kp_stats, "reused_users"), complete_b - complete_new - 1);
    CHECK_EQ_INT(stat_int(ri.kp_stats, "processed_users"), complete_new + 1);
    CHECK(json_object_get(rf.clean_stats, "incremental") == NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(ri.kp_stats, "malformed_rows")), 1);

    run_free(&r0);
    run_free(&r1);
    run_free(&rf);
    run_free(&ri);
    free(A), free(B), free(C), free(base), free(full), free(incr), free(base_raw), free(full_raw), free(incr_raw);
}

/* CSV only: table and invalid rows copied as bytes, counters from the sidecar. */
TEST(incremental_equals_full_run_csv) { check_incremental_equals_full_run(FMT_CSV); }
/* Parquet only: rows decoded from the base table and written again. */
TEST(incremental_equals_full_run_parquet) { check_incremental_equals_full_run(FMT_PARQUET); }
/* Both: rows decoded from the base table, written to Parquet and formatted as CSV. */
TEST(incremental_equals_full_run_parquet_and_csv) { check_incremental_equals_full_run(FMT_BOTH); }

TEST(incremental_unusable_base_processes_everything)
{
    const char *tmp = kx_test_tmpdir();
    char *A = kx_path_join(tmp, "A"), *v = kx_path_join(tmp, "v"), *raw = kx_path_join(v, "raw_data/web_app_data");
    char *empty = kx_path_join(tmp, "empty");
    CHECK(synth(A, 4) == 0 && link_all(A, raw, NULL) == 0 && kx_mkdirs(empty, NULL) == 0);
    inc_run r;
    CHECK(run_stages(&r, v, empty, 100, FMT_BOTH) == 0);
    CHECK_EQ_INT(stat_int(r.clean_stats, "reused_users"), 0);
    CHECK_EQ_INT(stat_int(r.clean_stats, "processed_users"), 4);
    CHECK_EQ_INT(stat_int(r.kp_stats, "reused_users"), 0);
    CHECK(stat_int(r.kp_stats, "processed_users") > 0);
    run_free(&r);
    free(A), free(v), free(raw), free(empty);
}
