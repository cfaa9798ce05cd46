/* Unit tests of the download stage's retry loop and local import (spec 01 §3). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fs.h"
#include "io/json.h"
#include "pipeline/stage.h"
#include "pipeline/stage_download.h"
#include "test.h"
#include "test_support.h"
#include "util/mem.h"

/* Object i fails its first fail_times[i] attempts (-1 = always). */
typedef struct fake {
    int fail_times[4];
    int attempts[4];
} fake;

static int fake_fetch(void *arg, size_t i, kx_err *err)
{
    fake *f = arg;
    int a = f->attempts[i]++;
    if (f->fail_times[i] < 0 || a < f->fail_times[i]) return kx_fail(err, "object %zu attempt %d failed", i, a + 1);
    return 0;
}

static unsigned slept[8];
static int nslept;
static void fake_sleep(unsigned s)
{
    if (nslept < 8) slept[nslept++] = s;
}

TEST(download_retry_rounds_and_waits)
{
    fake f = {{0, 1, 3, -1}, {0}};
    bool failed[4];
    kx_retry_stats rs;
    json_t *errors = json_array();
    nslept = 0;
    kx_download_objects(4, 1, fake_fetch, &f, fake_sleep, errors, failed, &rs);
    size_t nerr = json_array_size(errors);
    json_decref(errors);
    CHECK_EQ_INT(rs.initial_failed, 3);
    CHECK_EQ_INT(rs.rounds, 3);
    CHECK_EQ_INT(rs.recovered, 2);
    CHECK_EQ_INT(rs.final_failed, 1);
    CHECK(!failed[0] && !failed[1] && !failed[2] && failed[3]);
    CHECK_EQ_INT(nslept, 3);
    CHECK(slept[0] == 1 && slept[1] == 2 && slept[2] == 4); /* 2^(r-1) seconds before round r */
    CHECK_EQ_INT(nerr, 1 + 3 + 4);                          /* one entry per failed attempt */
    CHECK_EQ_INT(f.attempts[3], 4);
}

TEST(download_no_retry_when_all_succeed)
{
    fake f = {{0, 0, 0, 0}, {0}};
    bool failed[4];
    kx_retry_stats rs;
    json_t *errors = json_array();
    nslept = 0;
    kx_download_objects(4, 2, fake_fetch, &f, fake_sleep, errors, failed, &rs);
    CHECK_EQ_INT(json_array_size(errors), 0);
    json_decref(errors);
    CHECK_EQ_INT(rs.rounds, 0);
    CHECK_EQ_INT(nslept, 0);
}

TEST(download_local_import_set_and_hard_links)
{
    const char *tmp = kx_test_tmpdir();
    char *src = kx_path_join(tmp, "src"), *vd = kx_path_join(tmp, "art/v");
    char *sub = kx_path_join(src, "sub");
    kx_mkdirs(sub, NULL);
    kx_mkdirs(vd, NULL);
    char *a = kx_path_join(src, "a.csv"), *dot = kx_path_join(src, ".hidden"), *lnk = kx_path_join(src, "l.csv");
    kx_write_file_atomic(a, "hello", 5, NULL);
    kx_write_file_atomic(dot, "x", 1, NULL);
    CHECK(symlink("a.csv", lnk) == 0);
    json_t *stats = NULL;
    int rc = kx_test_download(src, vd, 2, &stats, NULL);
    int64_t files = json_integer_value(json_object_get(stats, "files_count"));
    int64_t size = json_integer_value(json_object_get(stats, "total_size"));
    json_decref(stats);
    char *dst = kx_path_join(vd, "raw_data/web_app_data/a.csv");
    char *dl = kx_path_join(vd, "raw_data/web_app_data/l.csv");
    struct stat s1, s2, s3;
    bool linked = stat(a, &s1) == 0 && stat(dst, &s2) == 0 && s1.st_ino == s2.st_ino;
    bool l_regular = lstat(dl, &s3) == 0 && S_ISREG(s3.st_mode);
    char *manifest = kx_path_join(vd, "etl_metadata/download/manifest.json");
    json_t *m = json_load_file(manifest, 0, NULL);
    const char *sha = json_string_value(json_object_get(json_array_get(json_object_get(m, "files"), 0), "sha256"));
    bool sha_ok = sha && !strcmp(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    json_decref(m);
    char *staging = kx_path_join(vd, "raw_data/.web_app_data.partial");
    bool staging_gone = !kx_exists(staging);
    free(staging);
    free(manifest);
    free(dst);
    free(dl);
    free(a);
    free(dot);
    free(lnk);
    free(sub);
    free(src);
    free(vd);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(files, 2); /* a.csv and l.csv; not .hidden, not sub/ */
    CHECK_EQ_INT(size, 10);
    CHECK(linked);          /* same file system: hard link */
    CHECK(l_regular);       /* a symlink is imported as a file, not as a link */
    CHECK(sha_ok);          /* SHA-256("hello") */
    CHECK(staging_gone);
}

TEST(download_errors_are_clear)
{
    const char *tmp = kx_test_tmpdir();
    kx_config cfg;
    kx_config_init(&cfg);
    kx_log *log = kx_log_new(KX_LOG_OFF);
    kx_stage_ctx ctx = kx_test_stage_ctx(&cfg, tmp, log);
    kx_config_set(&cfg, "RAW_SOURCE", "file:///nonexistent-keyetl-src", "test", NULL);
    int rc1 = kx_stage_download(&ctx);
    kx_stage_trees_free(&ctx);
    bool m1 = strstr(ctx.err.msg, "/nonexistent-keyetl-src does not exist") != NULL;
    kx_config_set(&cfg, "RAW_SOURCE", "s3://bucket/uploads/", "test", NULL);
    int rc2 = kx_stage_download(&ctx);
    kx_stage_trees_free(&ctx);
    bool m2 = strstr(ctx.err.msg, "S3 sources are not supported in this build") != NULL;
    char *log_path = kx_path_join(tmp, "etl_metadata/download/download_log.json");
    bool log_written = kx_exists(log_path);
    free(log_path);
    kx_config_free(&cfg);
    kx_log_free(log);
    CHECK_EQ_INT(rc1, -1);
    CHECK(m1);
    CHECK_EQ_INT(rc2, -1);
    CHECK(m2);
    CHECK(log_written);
}

/* The streamed manifest (entries written directly for plain names, through jansson for
 * others) is byte for byte kx_json_dump of the same document. */
TEST(download_manifest_bytes_equal_json_dump)
{
    const char *tmp = kx_test_tmpdir();
    char *src = kx_path_join(tmp, "msrc"), *vd = kx_path_join(tmp, "mart/v");
    kx_mkdirs(src, NULL);
    kx_mkdirs(vd, NULL);
    static const char *const names[] = {"a.csv", "q\"uote.csv", "back\\slash.txt", "caf\xc3\xa9.csv", "z.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = kx_path_join(src, names[i]);
        kx_write_file_atomic(p, names[i], strlen(names[i]), NULL);
        free(p);
    }
    int rc = kx_test_download(src, vd, 3, NULL, NULL); /* one linking thread, two hashing */
    char *mpath = kx_path_join(vd, "etl_metadata/download/manifest.json");
    kx_buf file = KX_BUF_INIT, dumped = KX_BUF_INIT;
    kx_read_file(mpath, &file, NULL);
    json_t *m = json_load_file(mpath, 0, NULL);
    kx_json_dump(&dumped, m);
    json_t *files = json_object_get(m, "files");
    json_t *q = json_array_get(files, 2); /* byte order: "a.csv" "back\slash.txt" "caf\xc3\xa9.csv" "q\"uote.csv" */
    bool q_ok = !strcmp(json_string_value(json_object_get(q, "name")), "caf\xc3\xa9.csv") &&
                json_integer_value(json_object_get(q, "size")) == 9 && json_object_get(q, "mtime_ns");
    size_t nfiles = json_array_size(files);
    json_decref(m);
    free(mpath);
    free(src);
    free(vd);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(nfiles, 5);
    CHECK(q_ok);
    CHECK(strstr(file.data, "\"name\": \"caf\\u00e9.csv\"") != NULL); /* escaped like every JSON output */
    CHECK(strstr(file.data, "\"name\": \"q\\\"uote.csv\"") != NULL);
    CHECK_EQ_STR(file.data, dumped.data);
    kx_buf_free(&file);
    kx_buf_free(&dumped);
}

/* A source on another file system (/dev/shm when it is one): linking fails with EXDEV and
 * every object is copied by the first pass's copy step, hashed from the copy, recorded
 * without mtime_ns, and nothing counts as a failed attempt. */
TEST(download_copies_across_devices)
{
    struct stat shm, tmpst;
    const char *tmp = kx_test_tmpdir();
    if (stat("/dev/shm", &shm) != 0 || stat(tmp, &tmpst) != 0 || shm.st_dev == tmpst.st_dev ||
        access("/dev/shm", W_OK) != 0) {
        kx_test_skip("no writable /dev/shm on another device");
        return;
    }
    char *src = kx_asprintf("/dev/shm/keyetl-test-%ld", (long)getpid()), *vd = kx_path_join(tmp, "xart/v");
    kx_mkdirs(src, NULL);
    kx_mkdirs(vd, NULL);
    static const char *const names[] = {"a.csv", "b.txt", "c.json"};
    for (size_t i = 0; i < 3; i++) {
        char *p = kx_path_join(src, names[i]);
        kx_write_file_atomic(p, "hello", 5, NULL);
        free(p);
    }
    int rc = kx_test_download(src, vd, 2, NULL, NULL);
    char *mpath = kx_path_join(vd, "etl_metadata/download/manifest.json");
    char *lpath = kx_path_join(vd, "etl_metadata/download/download_log.json");
    char *copy = kx_path_join(vd, "raw_data/web_app_data/b.txt");
    json_t *m = json_load_file(mpath, 0, NULL), *lg = json_load_file(lpath, 0, NULL);
    json_t *b = json_array_get(json_object_get(m, "files"), 1);
    bool b_ok = !strcmp(json_string_value(json_object_get(b, "name")), "b.txt") &&
                !strcmp(json_string_value(json_object_get(b, "sha256")),
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824") &&
                !json_object_get(b, "mtime_ns");
    size_t nerr = json_array_size(json_object_get(lg, "errors"));
    int64_t initial = json_integer_value(json_object_get(json_object_get(lg, "retry_stats"), "initial_gstmp_files"));
    bool copied = kx_is_file(copy);
    json_decref(m);
    json_decref(lg);
    kx_rmtree(src, NULL);
    free(src);
    free(vd);
    free(mpath);
    free(lpath);
    free(copy);
    CHECK_EQ_INT(rc, 0);
    CHECK(b_ok);
    CHECK(copied);
    CHECK_EQ_INT(nerr, 0);
    CHECK_EQ_INT(initial, 0);
}
