/* Catalog (SQLite backend): records, pointer, checksums, outputs, lock, concurrency. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "util/mem.h"
#include "test.h"

static json_t *make_rec(const char *id, const char *created, const char *status)
{
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "created_at", json_string(created));
    json_object_set_new(r, "updated_at", json_string(created));
    json_object_set_new(r, "status", json_string(status));
    return r;
}

static kx_catalog *open_db(const char *dir, kx_catalog_mode mode)
{
    char *p = kx_path_join(dir, "sub/catalog.sqlite");
    kx_catalog *c = NULL;
    kx_err err;
    if (kx_catalog_sqlite_open(p, mode, &c, &err) != 0) fprintf(stderr, "%s\n", err.msg);
    free(p);
    return c;
}

TEST(catalog_read_mode_creates_nothing)
{
    const char *d = kx_test_tmpdir();
    kx_catalog *c = open_db(d, KX_CATALOG_READ);
    CHECK(c == NULL);
    char *sub = kx_path_join(d, "sub");
    CHECK(!kx_exists(sub));
    free(sub);
    /* NULL catalog reads as empty */
    json_t *list = NULL, *rec = NULL;
    kx_err err;
    CHECK_EQ_INT(kx_catalog_version_list(NULL, &list, &err), 0);
    CHECK_EQ_INT(json_array_size(list), 0);
    json_decref(list);
    CHECK_EQ_INT(kx_catalog_version_get(NULL, "x", &rec, &err), KX_CAT_NOT_FOUND);
    char *cur = NULL;
    CHECK_EQ_INT(kx_catalog_current_get(NULL, &cur, &err), KX_CAT_NOT_FOUND);
}

TEST(catalog_versions_roundtrip_and_order)
{
    const char *d = kx_test_tmpdir();
    kx_catalog *c = open_db(d, KX_CATALOG_WRITE);
    CHECK(c != NULL);
    kx_err err;
    json_t *a = make_rec("a", "2025-01-01T00:00:00.000000", "completed");
    json_t *b = make_rec("b", "2025-01-02T00:00:00.000000", "failed");
    json_t *b2 = make_rec("c", "2025-01-02T00:00:00.000000", "in_progress");
    CHECK_EQ_INT(kx_catalog_version_create(c, a, &err), 0);
    CHECK_EQ_INT(kx_catalog_version_create(c, b, &err), 0);
    CHECK_EQ_INT(kx_catalog_version_create(c, b2, &err), 0);
    CHECK_EQ_INT(kx_catalog_version_create(c, a, &err), KX_CAT_EXISTS);
    json_t *list = NULL;
    CHECK_EQ_INT(kx_catalog_version_list(c, &list, &err), 0);
    CHECK_EQ_INT(json_array_size(list), 3);
    /* newest first, ties by id descending */
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 0), "id")), "c");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 1), "id")), "b");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(list, 2), "id")), "a");
    json_decref(list);
    json_object_set_new(a, "status", json_string("failed"));
    json_object_set_new(a, "error", json_string("boom"));
    CHECK_EQ_INT(kx_catalog_version_put(c, a, &err), 0);
    json_t *got = NULL;
    CHECK_EQ_INT(kx_catalog_version_get(c, "a", &got, &err), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(got, "error")), "boom");
    /* key order preserved */
    void *it = json_object_iter(got);
    CHECK_EQ_STR(json_object_iter_key(it), "id");
    json_decref(got);
    json_t *missing = make_rec("zz", "x", "failed");
    CHECK_EQ_INT(kx_catalog_version_put(c, missing, &err), KX_CAT_NOT_FOUND);
    json_decref(missing);
    /* pointer, archive, delete */
    char *cur = NULL;
    CHECK_EQ_INT(kx_catalog_current_get(c, &cur, &err), KX_CAT_NOT_FOUND);
    CHECK_EQ_INT(kx_catalog_current_set(c, "b", &err), 0);
    CHECK_EQ_INT(kx_catalog_current_get(c, &cur, &err), 0);
    CHECK_EQ_STR(cur, "b");
    free(cur);
    CHECK_EQ_INT(kx_catalog_version_archive(c, "b", "2025-02-02T00:00:00.000000", &err), 0);
    CHECK_EQ_INT(kx_catalog_current_get(c, &cur, &err), KX_CAT_NOT_FOUND);
    CHECK_EQ_INT(kx_catalog_version_get(c, "b", &got, &err), 0);
    CHECK_EQ_STR(json_string_value(json_object_get(got, "status")), "archived");
    CHECK_EQ_STR(json_string_value(json_object_get(got, "archived_at")), "2025-02-02T00:00:00.000000");
    json_decref(got);
    CHECK_EQ_INT(kx_catalog_current_set(c, "c", &err), 0);
    CHECK_EQ_INT(kx_catalog_version_delete(c, "c", true, &err), 0);
    CHECK_EQ_INT(kx_catalog_current_get(c, &cur, &err), KX_CAT_NOT_FOUND);
    CHECK_EQ_INT(kx_catalog_version_delete(c, "c", true, &err), KX_CAT_NOT_FOUND);
    json_decref(a);
    json_decref(b);
    json_decref(b2);
    kx_catalog_close(c);
    /* read mode sees the data and leaves no side files */
    c = open_db(d, KX_CATALOG_READ);
    CHECK(c != NULL);
    CHECK_EQ_INT(kx_catalog_version_list(c, &list, &err), 0);
    CHECK_EQ_INT(json_array_size(list), 2);
    json_decref(list);
    kx_catalog_close(c);
    char *wal = kx_path_join(d, "sub/catalog.sqlite-wal"), *shm = kx_path_join(d, "sub/catalog.sqlite-shm");
    CHECK(!kx_exists(wal) && !kx_exists(shm));
    free(wal);
    free(shm);
}

TEST(catalog_checksums_and_outputs)
{
    const char *d = kx_test_tmpdir();
    kx_catalog *c = open_db(d, KX_CATALOG_WRITE);
    CHECK(c != NULL);
    kx_err err;
    json_t *users = json_pack("{s:{s:s,s:i},s:{s:s,s:i}}", "u2", "checksum", "bb", "files", 18, "u1", "checksum",
                              "aa", "files", 3);
    CHECK_EQ_INT(kx_catalog_checksums_put(c, "v1", users, &err), 0);
    json_t *got = NULL;
    CHECK_EQ_INT(kx_catalog_checksums_get(c, "v1", &got, &err), 0);
    CHECK_EQ_INT(json_object_size(got), 2);
    CHECK_EQ_STR(json_object_iter_key(json_object_iter(got)), "u1"); /* sorted by uid */
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(got, "u2"), "checksum")), "bb");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(got, "u2"), "files")), 18);
    json_decref(got);
    json_decref(users);
    kx_output_file f[2] = {{"keypairs/keypairs.csv", 10, 0xabcULL}, {"keypairs/a.parquet", 5, 1}};
    CHECK_EQ_INT(kx_catalog_outputs_put(c, "v1", "extract_keypairs", f, 2, &err), 0);
    CHECK_EQ_INT(kx_catalog_outputs_get(c, "v1", &got, &err), 0);
    CHECK_EQ_INT(json_array_size(got), 2);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(got, 0), "path")), "keypairs/a.parquet");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(got, 1), "checksum")), "0000000000000abc");
    json_decref(got);
    kx_catalog_close(c);
}

TEST(catalog_file_xxh3)
{
    const char *d = kx_test_tmpdir();
    char *p = kx_path_join(d, "f");
    kx_err err;
    CHECK_EQ_INT(kx_write_file_atomic(p, "", 0, &err), 0);
    uint64_t h = 0, n = 1;
    CHECK_EQ_INT(kx_file_xxh3(p, &h, &n, &err), 0);
    CHECK_EQ_INT(n, 0);
    CHECK(h == 0x2D06800538D394C2ULL); /* XXH3_64bits of the empty input, seed 0 */
    free(p);
}

TEST(catalog_lock_busy_and_stale_takeover)
{
    const char *d = kx_test_tmpdir();
    kx_catalog *c = open_db(d, KX_CATALOG_WRITE);
    CHECK(c != NULL);
    kx_err err;
    kx_lock_owner o;
    CHECK_EQ_INT(kx_catalog_lock_get(c, "v", &o, &err), KX_CAT_OK);
    CHECK_EQ_INT(kx_catalog_lock_acquire(c, "v", &o, &err), 0);
    CHECK_EQ_INT(kx_catalog_lock_get(c, "v", &o, &err), KX_CAT_BUSY);
    CHECK_EQ_INT(o.pid, getpid());
    /* our own live process holds it: a second claim is busy */
    CHECK_EQ_INT(kx_catalog_lock_acquire(c, "v", &o, &err), KX_CAT_BUSY);
    CHECK_EQ_INT(kx_catalog_lock_release(c, "v", &err), 0);
    CHECK_EQ_INT(kx_catalog_lock_get(c, "v", &o, &err), KX_CAT_OK);
    /* a child takes the lock and exits without releasing: stale, taken over */
    pid_t pid = fork();
    if (pid == 0) {
        kx_catalog *cc = open_db(d, KX_CATALOG_WRITE);
        kx_lock_owner oo;
        kx_err e;
        _exit(cc && kx_catalog_lock_acquire(cc, "v", &oo, &e) == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(kx_catalog_lock_get(c, "v", &o, &err), KX_CAT_OK); /* holder gone */
    CHECK_EQ_INT(kx_catalog_lock_acquire(c, "v", &o, &err), 0);
    CHECK_EQ_INT(kx_catalog_lock_release(c, "v", &err), 0);
    kx_catalog_close(c);
}

/* Two processes hammering one database: every write lands, no corruption, and exactly one
 * of them holds a contested lock at a time. */
TEST(catalog_concurrent_processes)
{
    const char *d = kx_test_tmpdir();
    kx_catalog *c = open_db(d, KX_CATALOG_WRITE);
    CHECK(c != NULL);
    kx_catalog_close(c);
    enum { PER_CHILD = 60 };
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            kx_catalog *cc = open_db(d, KX_CATALOG_WRITE);
            if (!cc) _exit(1);
            kx_err e;
            int bad = 0;
            for (int i = 0; i < PER_CHILD; i++) {
                char id[64];
                snprintf(id, sizeof id, "v%d_%03d", k, i);
                json_t *r = make_rec(id, id, "in_progress");
                bad |= kx_catalog_version_create(cc, r, &e) != 0;
                json_object_set_new(r, "status", json_string("completed"));
                bad |= kx_catalog_version_put(cc, r, &e) != 0;
                bad |= kx_catalog_current_set(cc, id, &e) != 0;
                json_decref(r);
                kx_lock_owner o;
                int lr = kx_catalog_lock_acquire(cc, "shared", &o, &e);
                if (lr == 0) bad |= kx_catalog_lock_release(cc, "shared", &e) != 0;
                else if (lr != KX_CAT_BUSY) bad = 1;
            }
            kx_catalog_close(cc);
            _exit(bad ? 2 : 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st = 0;
        waitpid(kids[k], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    c = open_db(d, KX_CATALOG_WRITE);
    kx_err err;
    json_t *list = NULL;
    CHECK_EQ_INT(kx_catalog_version_list(c, &list, &err), 0);
    CHECK_EQ_INT(json_array_size(list), 2 * PER_CHILD);
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) CHECK_EQ_STR(json_string_value(json_object_get(r, "status")), "completed");
    json_decref(list);
    kx_catalog_close(c);
}
